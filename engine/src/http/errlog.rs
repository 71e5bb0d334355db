//! The error log at run time: nginx's line format with the request context
//! (nginx: ngx_log_error_core with ngx_http_log_error's handler).

use std::io::Write;
use std::sync::{Arc, Mutex, RwLock};

use super::request::Request;
use crate::log::Level;

/// One configured error log (nginx: an `error_log` file of the main level, or of an http,
/// server or location level).
#[derive(Debug)]
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
    let levels: Vec<Arc<ErrorLog>> = LEVEL_LOGS
        .lock()
        .map(|all| all.iter().filter_map(std::sync::Weak::upgrade).collect())
        .unwrap_or_default();
    for l in levels {
        if let Ok(mut f) = l.file.lock() {
            *f = open(&l.path);
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
    if let Ok(logs) = LOGS.read() {
        write_to(&logs, level, text);
    }
}

pub(crate) fn write_to(logs: &[Arc<ErrorLog>], level: Level, text: &str) {
    let mut line = None;
    for l in logs.iter().filter(|l| level <= l.level) {
        let line = line.get_or_insert_with(|| {
            format!(
                "{} [{}] {}: {}\n",
                crate::log::log_time(),
                level.name(),
                crate::log::pid_tid(),
                text
            )
        });
        if let Ok(mut f) = l.file.lock() {
            if let Some(f) = f.as_mut() {
                let _ = f.write_all(line.as_bytes());
            }
        }
    }
}

/// Writes a line of the request's context at `level` to the logs of its location (nginx:
/// the connection's log, which ngx_http_update_location_config points at the location's
/// `error_log`), else to the main logs.
pub(crate) fn log(r: &Request, level: Level, msg: &str) {
    if wants_for(r, level) {
        write_for(r, level, &with_context(r, msg));
    }
}

/// Writes a line already in the request's context (see [`log`]) to its location's logs.
pub(crate) fn write_for(r: &Request, level: Level, text: &str) {
    match &r.loc.error_log {
        Some(logs) => write_to(logs, level, text),
        None => write(level, text),
    }
}

/// nginx: ngx_http_log_error: `*CONN msg, client: ..., server: ..., request: "...", host: "..."`.
pub(crate) fn request_error(r: &Request, msg: &str) {
    log(r, Level::Error, msg);
}

/// Whether a line at `level` of the request's context would be written anywhere.
pub(crate) fn wants_for(r: &Request, level: Level) -> bool {
    match &r.loc.error_log {
        Some(logs) => logs.iter().any(|l| level <= l.level),
        None => wants(level),
    }
}

/// The `error_log` files of http, server and location levels, for USR1's reopen.
static LEVEL_LOGS: Mutex<Vec<std::sync::Weak<ErrorLog>>> = Mutex::new(Vec::new());

/// nginx: ngx_http_core_error_log (ngx_log_set_log): one more log of this level. `stderr`
/// is the process's stderr; `syslog:` and `memory:` logs are not written by oxresty (the
/// level's lines then stay with the enclosing level's logs).
pub(crate) fn lower(
    c: &mut crate::http::lower::LocConf,
    d: &parser::Directive,
    prefix: &std::path::Path,
) {
    use std::os::unix::ffi::OsStrExt;
    let Some(name) = d.args.first() else { return };
    if name.starts_with(b"syslog:") || name.starts_with(b"memory:") {
        return;
    }
    let level = d
        .args
        .get(1)
        .and_then(|l| Level::from_name(l))
        .unwrap_or(Level::Error);
    let path = if name.as_slice() == b"stderr" {
        std::path::PathBuf::from("/dev/stderr")
    } else {
        let p = std::path::Path::new(std::ffi::OsStr::from_bytes(name));
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            prefix.join(p)
        }
    };
    let log = Arc::new(ErrorLog::open(path, level));
    if let Ok(mut all) = LEVEL_LOGS.lock() {
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(&log));
    }
    let logs = c.error_log.get_or_insert_with(Default::default);
    Arc::make_mut(logs).push(log);
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
