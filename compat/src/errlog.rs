//! The error log as nginx has it before the configuration takes over: opened at startup from
//! `-e` or the compiled-in path, written in nginx's line format, echoed to stderr.
//!
//! nginx: ngx_log_init, ngx_log_error_core, ngx_log_stderr, ngx_time_init (the cached
//! `ngx_cached_err_log_time`).

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use engine::Level;

/// nginx: NGX_MAX_ERROR_STR, the most a log line may hold (the newline included).
const MAX_ERROR_STR: usize = 2048;

/// nginx: NGX_FILE_DEFAULT_ACCESS.
const FILE_DEFAULT_ACCESS: u32 = 0o644;

/// nginx's startup log (`ngx_log` with `ngx_log_file`).
pub struct ErrorLog {
    /// `None`: the log is stderr.
    file: Option<File>,
    /// The startup log's path (`-e` made absolute), `None` for stderr.
    pub(crate) path: Option<Vec<u8>>,
    /// Messages more verbose than this are not written to the file (nginx: `log->log_level`).
    level: Level,
    /// `YYYY/MM/DD HH:MM:SS`: taken once at startup, as nginx's cached time is.
    time: String,
    /// `PID#TID` (nginx: ngx_log_pid, ngx_log_tid).
    pid_tid: String,
}

impl ErrorLog {
    /// Opens the error log: `error_log` (`-e`; empty means stderr) or the default, resolved
    /// against `prefix` (`-p`) or the compiled-in prefix. On failure nginx says so on stderr and
    /// logs to stderr instead.
    ///
    /// nginx: ngx_log_init
    pub fn init(prefix: Option<&[u8]>, error_log: Option<&[u8]>) -> ErrorLog {
        let mut log = ErrorLog {
            file: None,
            path: None,
            level: Level::Notice,
            time: engine::log_time(),
            pid_tid: engine::pid_tid(),
        };
        let name = error_log.unwrap_or(crate::version::DEFAULT_ERROR_LOG_PATH.as_bytes());
        if name.is_empty() {
            return log;
        }
        let mut path = Vec::new();
        if name[0] != b'/' {
            let prefix = prefix.unwrap_or(crate::version::DEFAULT_PREFIX.as_bytes());
            if !prefix.is_empty() {
                path.extend_from_slice(prefix);
                if !prefix.ends_with(b"/") {
                    path.push(b'/');
                }
            }
        }
        path.extend_from_slice(name);
        log.path = Some(path.clone());
        match std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(FILE_DEFAULT_ACCESS)
            .open(crate::os_path(&path))
        {
            Ok(f) => log.file = Some(f),
            Err(e) => {
                let mut msg = b"[alert] could not open error log file: open() \"".to_vec();
                msg.extend_from_slice(&path);
                msg.extend_from_slice(b"\" failed");
                msg.extend_from_slice(errno_text(&e).as_bytes());
                log_stderr(&msg);
            }
        }
        log
    }

    /// nginx: `cycle->log->log_level = NGX_LOG_INFO` under `-t` (ngx_process_options).
    pub fn set_level(&mut self, level: Level) {
        self.level = level;
    }

    /// Logs one message: to the log file if its level passes, and for `warn` and worse also to
    /// stderr as `nginx: [level] text`, unless the log itself is stderr.
    ///
    /// nginx: ngx_log_error_core (with `ngx_use_stderr` set, as it is until serving starts)
    pub fn error(&self, level: Level, text: &[u8]) {
        let name = level.name();
        let mut line = format!("{} [{name}] {}: ", self.time, self.pid_tid).into_bytes();
        let msg_at = line.len();
        line.extend_from_slice(text);
        line.truncate(MAX_ERROR_STR - 1);
        line.push(b'\n');

        let mut wrote_stderr = false;
        if level <= self.level {
            match &self.file {
                Some(f) => {
                    let mut f: &File = f;
                    let _ = f.write_all(&line);
                }
                None => {
                    let _ = std::io::stderr().lock().write_all(&line);
                    wrote_stderr = true;
                }
            }
        }
        if level > Level::Warn || wrote_stderr {
            return;
        }
        let mut out = format!("nginx: [{name}] ").into_bytes();
        out.extend_from_slice(line.get(msg_at.min(line.len())..).unwrap_or_default());
        let _ = std::io::stderr().lock().write_all(&out);
    }

    /// [`ErrorLog::error`] for the engine's messages.
    pub fn msgs(&self, msgs: &[engine::LogMsg]) {
        for m in msgs {
            self.error(m.level, m.text.as_bytes());
        }
    }
}

/// `nginx: ` + text on stderr, in one write.
///
/// nginx: ngx_log_stderr
pub fn log_stderr(text: &[u8]) {
    let mut out = b"nginx: ".to_vec();
    out.extend_from_slice(text);
    out.truncate(MAX_ERROR_STR - 1);
    out.push(b'\n');
    let _ = std::io::stderr().lock().write_all(&out);
}

/// nginx: ngx_log_errno: ` (2: No such file or directory)`.
pub fn errno_text(e: &std::io::Error) -> String {
    let code = e.raw_os_error().unwrap_or(0);
    let text = std::io::Error::from_raw_os_error(code).to_string();
    // std renders "No such file or directory (os error 2)": keep the strerror part.
    let text = match text.rfind(" (os error ") {
        Some(at) => &text[..at],
        None => &text,
    };
    format!(" ({code}: {text})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno() {
        let e = std::io::Error::from_raw_os_error(2);
        assert_eq!(errno_text(&e), " (2: No such file or directory)");
    }

    #[test]
    fn time_format() {
        let t = engine::log_time();
        assert_eq!(t.len(), 19);
        assert_eq!(&t[4..5], "/");
        assert_eq!(&t[10..11], " ");
    }
}
