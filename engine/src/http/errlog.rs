//! The error log at run time: nginx's line format with the request context
//! (nginx: ngx_log_error_core with ngx_http_log_error's handler).

use std::io::Write;
use std::sync::{Arc, Mutex, RwLock};

use super::request::Request;
use crate::log::Level;

/// One configured error log (nginx: the main-level `error_log` files).
pub(crate) struct ErrorLog {
    pub(crate) path: std::path::PathBuf,
    pub(crate) level: Level,
    file: Mutex<Option<std::fs::File>>,
}

static LOGS: RwLock<Vec<Arc<ErrorLog>>> = RwLock::new(Vec::new());

impl ErrorLog {
    pub(crate) fn open(path: std::path::PathBuf, level: Level) -> ErrorLog {
        let file = open(&path);
        ErrorLog {
            path,
            level,
            file: Mutex::new(file),
        }
    }
}

fn open(path: &std::path::Path) -> Option<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ok()
}

/// Installs the error logs workers write to.
pub(crate) fn install(logs: Vec<ErrorLog>) {
    if let Ok(mut l) = LOGS.write() {
        *l = logs.into_iter().map(Arc::new).collect();
    }
}

/// nginx: the USR1 log reopen for error logs.
pub(crate) fn reopen() {
    if let Ok(logs) = LOGS.read() {
        for l in logs.iter() {
            if let Ok(mut f) = l.file.lock() {
                *f = open(&l.path);
            }
        }
    }
}

/// Some error log takes lines of `level` (to skip building debug lines nobody keeps).
pub(crate) fn wants(level: Level) -> bool {
    LOGS.read()
        .map(|logs| logs.iter().any(|l| level <= l.level))
        .unwrap_or(false)
}

/// Writes `text` at `level` to every error log that wants it.
pub(crate) fn write(level: Level, text: &str) {
    let line = format!(
        "{} [{}] {}: {}\n",
        crate::log::log_time(),
        level.name(),
        crate::log::pid_tid(),
        text
    );
    if let Ok(logs) = LOGS.read() {
        for l in logs.iter().filter(|l| level <= l.level) {
            if let Ok(mut f) = l.file.lock() {
                if let Some(f) = f.as_mut() {
                    let _ = f.write_all(line.as_bytes());
                }
            }
        }
    }
}

/// nginx: ngx_http_log_error: `*CONN msg, client: ..., server: ..., request: "...", host: "..."`.
pub(crate) fn request_error(r: &Request, msg: &str) {
    write(Level::Error, &with_context(r, msg));
}

pub(crate) fn with_context(r: &Request, msg: &str) -> String {
    let mut s = line_context(r, msg);
    if let Some(h) = r.headers.get(hyper::header::HOST) {
        s.push_str(&format!(
            ", host: \"{}\"",
            String::from_utf8_lossy(h.as_bytes())
        ));
    }
    s
}

/// The context while the request line is read: no headers yet, so no `host:`.
pub(crate) fn line_context(r: &Request, msg: &str) -> String {
    if let Some(ctx) = r.vars.get(crate::http::lua::ssl::CONTEXT) {
        return crate::http::lua::ssl::log_context(r, ctx, msg);
    }
    let mut s = format!("*{} {msg}", r.conn.id);
    if let Some(a) = r.conn.remote {
        s.push_str(&format!(", client: {}", a.ip()));
    }
    s.push_str(&format!(
        ", server: {}",
        String::from_utf8_lossy(&r.server.name)
    ));
    s.push_str(&format!(
        ", request: \"{}\"",
        String::from_utf8_lossy(&super::vars_runtime::request_line(r))
    ));
    // nginx: ngx_http_log_error_handler names the subrequest being run.
    if r.sub != 0 {
        s.push_str(&format!(
            ", subrequest: \"{}\"",
            String::from_utf8_lossy(&r.uri)
        ));
    }
    s
}
