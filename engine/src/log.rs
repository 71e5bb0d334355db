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

/// Broken-down local time (nginx: ngx_localtime) and the UTC offset in minutes.
fn local_tm(secs: i64) -> (libc::tm, i64) {
    // SAFETY: localtime_r only writes the zero-initialised tm it is given.
    let tm = unsafe {
        let t: libc::time_t = secs;
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        tm
    };
    let off = tm.tm_gmtoff / 60;
    (tm, off)
}

fn unix_now() -> (i64, u32) {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (i64::try_from(d.as_secs()).unwrap_or(0), d.subsec_millis())
}

/// The error log's time: `2026/11/28 16:40:00` (nginx: ngx_cached_err_log_time).
pub fn log_time() -> String {
    let (tm, _) = local_tm(unix_now().0);
    format!(
        "{:4}/{:02}/{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `$time_local`: `28/Nov/2026:16:40:00 +0000` (nginx: ngx_cached_http_log_time).
pub(crate) fn time_local() -> String {
    let (tm, off) = local_tm(unix_now().0);
    let month = usize::try_from(tm.tm_mon)
        .ok()
        .and_then(|m| MONTHS.get(m))
        .unwrap_or(&"Jan");
    format!(
        "{:02}/{}/{:4}:{:02}:{:02}:{:02} {}{:02}{:02}",
        tm.tm_mday,
        month,
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        if off < 0 { '-' } else { '+' },
        off.abs() / 60,
        off.abs() % 60
    )
}

/// `$time_iso8601`: `2026-11-28T16:40:00+00:00` (nginx: ngx_cached_http_log_iso8601).
pub(crate) fn time_iso8601() -> String {
    let (tm, off) = local_tm(unix_now().0);
    format!(
        "{:4}-{:02}-{:02}T{:02}:{:02}:{:02}{}{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        if off < 0 { '-' } else { '+' },
        off.abs() / 60,
        off.abs() % 60
    )
}

/// `$msec`: seconds with milliseconds.
pub(crate) fn msec() -> String {
    let (s, ms) = unix_now();
    format!("{s}.{ms:03}")
}

/// nginx: `%P#` NGX_TID_T_FMT: the pid and this thread's id.
pub fn pid_tid() -> String {
    // SAFETY: gettid takes no arguments and cannot fail.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    format!("{}#{tid}", std::process::id())
}
