//! nginx's log levels and the messages configuration loading produces.

use std::fmt;

/// nginx's error-log levels, most severe first (nginx: `err_levels`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash)]
pub enum Level {
    Stderr,
    Emerg,
    Alert,
    Crit,
    Error,
    Warn,
    Notice,
    Info,
    Debug,
}

impl Level {
    /// The word nginx prints between brackets: `[emerg]`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Stderr => "",
            Level::Emerg => "emerg",
            Level::Alert => "alert",
            Level::Crit => "crit",
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Notice => "notice",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }

    /// nginx: the level names `error_log` accepts.
    pub fn from_name(s: &[u8]) -> Option<Level> {
        [
            Level::Emerg,
            Level::Alert,
            Level::Crit,
            Level::Error,
            Level::Warn,
            Level::Notice,
            Level::Info,
            Level::Debug,
        ]
        .into_iter()
        .find(|l| l.name().as_bytes() == s)
    }
}

/// One message, fully worded (`unknown directive "foo" in /etc/nginx/nginx.conf:3`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LogMsg {
    pub level: Level,
    pub text: String,
}

impl fmt::Display for LogMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.level.name(), self.text)
    }
}

/// The text nginx appends for an errno (nginx: ngx_log_errno): ` (2: No such file or directory)`.
pub(crate) fn errno_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let s = e.to_string();
            // std renders "No such file or directory (os error 2)": keep the strerror part.
            let msg = s.split(" (os error").next().unwrap_or(&s);
            format!("{code}: {msg}")
        }
        None => e.to_string(),
    }
}
