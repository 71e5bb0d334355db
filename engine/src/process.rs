//! What the process model needs from a configuration: the main context's values, and
//! starting workers for it (nginx: ngx_master_process_cycle's start of worker processes).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parser::Directive;

use crate::conf::values::{atoi, parse_time};
use crate::cycle::full_name;
use crate::log::Level;
use crate::worker::{Listeners, Workers};
use crate::Parsed;

/// The main context (nginx: ngx_core_conf_t and the main `error_log`).
#[derive(Debug, Clone)]
pub struct MainConf {
    /// `daemon` (on by default).
    pub daemon: bool,
    /// `worker_processes`: worker threads (`auto`: one per core).
    pub worker_processes: usize,
    /// `worker_shutdown_timeout`.
    pub shutdown_timeout: Option<Duration>,
    /// Main-level `error_log` files and levels (empty: the `-e` log at `error`).
    pub error_logs: Vec<(PathBuf, Level)>,
    /// The pid file.
    pub pid: PathBuf,
}

fn main_directives(p: &Parsed) -> impl Iterator<Item = &Directive> {
    p.params
        .iter()
        .flat_map(|c| c.directives.iter())
        .chain(p.conf.directives.iter())
}

pub(crate) fn main_conf(p: &Parsed) -> MainConf {
    let prefix = &p.state.prefix;
    let mut m = MainConf {
        daemon: true,
        worker_processes: 1,
        shutdown_timeout: None,
        error_logs: Vec::new(),
        pid: p.pid_path(),
    };
    let arg = |d: &Directive, i: usize| d.args.get(i).cloned().unwrap_or_default();
    for d in main_directives(p) {
        match d.name.as_slice() {
            b"daemon" => m.daemon = arg(d, 0).eq_ignore_ascii_case(b"on"),
            b"worker_processes" => {
                let v = arg(d, 0);
                m.worker_processes = if v == b"auto" {
                    std::thread::available_parallelism().map_or(1, |n| n.get())
                } else {
                    atoi(&v).and_then(|n| usize::try_from(n).ok()).unwrap_or(1)
                };
            }
            b"worker_shutdown_timeout" => {
                m.shutdown_timeout = parse_time(&arg(d, 0), false)
                    .and_then(|ms| u64::try_from(ms).ok())
                    .map(Duration::from_millis);
            }
            b"error_log" => {
                let path = arg(d, 0);
                let level = d
                    .args
                    .get(1)
                    .and_then(|l| Level::from_name(l))
                    .unwrap_or(Level::Error);
                if path != b"stderr"
                    && !path.starts_with(b"syslog:")
                    && !path.starts_with(b"memory:")
                {
                    m.error_logs.push((full_name(prefix, &path), level));
                }
            }
            _ => {}
        }
    }
    if m.error_logs.is_empty() {
        if let Some(path) = &p.state.default_error_log {
            m.error_logs.push((path.clone(), Level::Error));
        }
    }
    m
}

/// See [`crate::init_lua`].
pub(crate) fn init_lua(p: &Parsed, first: bool) -> Result<(), (String, bool)> {
    const INIT: [&[u8]; 3] = [b"init_by_lua", b"init_by_lua_block", b"init_by_lua_file"];
    let Some(d) = p.conf.directives.iter().find(|d| d.name == b"http") else {
        return Ok(());
    };
    let has_init = crate::http::upstream_rr::children(d)
        .iter()
        .any(|c| INIT.contains(&c.name.as_slice()));
    if !has_init {
        return Ok(());
    }
    crate::http::lua::set_conf_files(&p.conf.files);
    let http = crate::http::lower::lower(d, &p.state.prefix, &p.state.conf_prefix);
    if first {
        // nginx: the first cycle's init code logs through the startup log (`-e` or the
        // compiled-in path), at notice
        let path = p
            .state
            .default_error_log
            .clone()
            .unwrap_or_else(|| "/dev/stderr".into());
        crate::http::errlog::install(vec![crate::http::errlog::ErrorLog::open(
            path,
            Level::Notice,
        )]);
    }
    let res = crate::http::lua::init_in_master(&http);
    if first {
        crate::http::errlog::install(Vec::new());
    }
    res
}

/// Lowers the configuration, opens what it listens on (keeping `listeners` that are still
/// wanted) and starts its workers. Returns nginx's error text when a socket can't be bound.
pub fn start(p: &Parsed, listeners: &mut Listeners) -> Result<Workers, String> {
    let main = main_conf(p);
    crate::http::errlog::install(
        main.error_logs
            .iter()
            .map(|(path, level)| crate::http::errlog::ErrorLog::open(path.clone(), *level))
            .collect(),
    );
    crate::http::lua::set_conf_files(&p.conf.files);
    crate::http::lua::worker_thread::set_thread_pools(&p.conf.directives);
    let http = p
        .conf
        .directives
        .iter()
        .find(|d| d.name == b"http")
        .map(|d| crate::http::lower::lower(d, &p.state.prefix, &p.state.conf_prefix))
        .unwrap_or_else(|| crate::http::lower::empty(&p.state.prefix));
    let http = Arc::new(http);
    let mut unserved = Vec::new();
    let stream = p
        .conf
        .directives
        .iter()
        .find(|d| d.name == b"stream")
        .map(|d| crate::stream::run::lower(d, &p.state.prefix, &p.conf.files, &mut unserved))
        .unwrap_or_default();
    let stream = Arc::new(stream);
    unserved_stream_listens(&unserved);
    listeners.sync(&http, &stream)?;
    crate::http::access_log::open_all(&http, &stream.log_paths);
    Workers::start(
        http,
        stream,
        listeners,
        main.worker_processes,
        main.shutdown_timeout,
    )
    .map_err(|e| {
        format!(
            "could not start worker threads ({})",
            crate::log::errno_text(&e)
        )
    })
}

/// What oxresty does not serve yet in the stream block (`ssl` listens, stream Lua) is named in an `[error]` line at start (seen at the default log
/// level), never dropped silently.
fn unserved_stream_listens(texts: &[String]) {
    for text in texts {
        crate::http::errlog::write(Level::Error, text);
    }
}

/// nginx: USR1: reopen every log file.
pub fn reopen_logs() {
    crate::http::errlog::reopen();
    crate::http::access_log::reopen();
}
