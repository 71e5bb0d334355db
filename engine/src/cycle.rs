//! Configuration loading in nginx's order (nginx: ngx_init_cycle): `-g`, the main file, then,
//! after "syntax is ok", core module init, the pid file, log files and listening sockets.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::conf::Cf;
use crate::log::{errno_text, Level, LogMsg};
use crate::{LoadOptions, Parsed};

/// What the modules ask of the cycle (nginx: the `ngx_cycle_t` fields filled while parsing).
#[derive(Default, Debug)]
pub(crate) struct CycleConf {
    /// nginx's prefix (`-p`).
    pub(crate) prefix: PathBuf,
    /// The main configuration file's directory (nginx: `cycle->conf_prefix`): where
    /// relative certificate, key and password file names resolve.
    pub(crate) conf_prefix: PathBuf,
    /// `pid` (nginx's default is `logs/nginx.pid` under the prefix, as OpenResty builds it).
    pub(crate) pid: Option<PathBuf>,
    /// The `-e` log (`None`: stderr), opened when no main-level `error_log` is configured.
    pub(crate) default_error_log: Option<PathBuf>,
    /// A main-level `error_log` was configured (nginx: `cycle->new_log.file`).
    pub(crate) error_log: bool,
    /// Whether an `events` block was seen (nginx: ngx_event_init_conf's check).
    pub(crate) events: bool,
    /// Files modules open for writing: logs (nginx: `cycle->open_files`).
    pub(crate) open_files: Vec<PathBuf>,
    /// Sockets to listen on (nginx: `cycle->listening`), after wildcard merging.
    pub(crate) listening: Vec<Listening>,
    /// What the core modules' `init_conf` said (logged after "syntax is ok").
    pub(crate) init_conf: Vec<LogMsg>,
    /// Directories nginx creates at startup: cache paths (nginx: `cycle->paths`).
    pub(crate) paths: Vec<PathBuf>,
    /// A shared memory zone nobody sized (nginx: ngx_init_cycle's `zero size` check).
    pub(crate) shm_error: Option<String>,
}

/// One listening socket (nginx: ngx_listening_t).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listening {
    pub(crate) addr: ListenAddr,
    /// As nginx prints it: `0.0.0.0:80`, `[::]:443`, `unix:/run/x.sock`.
    pub(crate) text: String,
    pub(crate) ipv6only: bool,
    pub(crate) backlog: i32,
    pub(crate) udp: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListenAddr {
    Inet(SocketAddr),
    Unix(PathBuf),
}

/// Resolves `path` against `prefix` unless absolute (nginx: ngx_conf_full_name / ngx_get_full_name).
pub(crate) fn full_name(prefix: &Path, path: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let p = Path::new(std::ffi::OsStr::from_bytes(path));
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        prefix.join(p)
    }
}

pub(crate) fn parse(opts: &LoadOptions, log: &mut Vec<LogMsg>) -> Result<Parsed, ()> {
    let conf_prefix = opts
        .conf_file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| opts.prefix.clone());
    let popts = parser::Options {
        conf_prefix: conf_prefix.clone(),
    };
    let params = opts
        .params
        .as_ref()
        .map(|p| parser::parse_params(p, &popts));
    let empty = parser::Conf {
        files: Vec::new(),
        directives: Vec::new(),
        error: None,
    };
    let mut cf = Cf::new(
        params.as_ref().unwrap_or(&empty),
        opts.prefix.clone(),
        conf_prefix.clone(),
    );
    let mut result = Ok(());
    if let Some(p) = &params {
        result = cf.directives(&p.directives, p.error.is_none());
    }
    let mut main = None;
    if result.is_ok() {
        let conf = parser::parse_file(&opts.conf_file, &popts);
        main = Some(conf);
    }
    if let Some(conf) = &main {
        cf.conf = conf;
        result = cf.directives(&conf.directives, conf.error.is_none());
    }
    let (mut frame, messages) = cf.finish();
    let init_conf = crate::core::init_conf(&mut frame);
    let shm_error = crate::http::upstream::check_shared_memory(&mut frame);
    let paths = frame.take::<crate::http::upstream::Paths>().paths;
    let mut state = frame.take::<CycleConf>();
    state.prefix = opts.prefix.clone();
    state.conf_prefix = conf_prefix;
    state.init_conf = init_conf;
    state.shm_error = shm_error;
    state.paths = paths.into_iter().map(|p| p.name).collect();
    state.default_error_log = opts.error_log.clone();
    log.extend(messages);
    match (result, main) {
        (Ok(()), Some(conf)) => Ok(Parsed {
            conf,
            params,
            state,
        }),
        _ => Err(()),
    }
}

/// The pid file's path: `pid`, or OpenResty's default `logs/nginx.pid` under the prefix.
pub(crate) fn pid_path(cycle: &CycleConf) -> PathBuf {
    cycle
        .pid
        .clone()
        .unwrap_or_else(|| cycle.prefix.join("logs/nginx.pid"))
}

/// nginx: the core modules' init_conf (all the signaller runs).
pub(crate) fn init_conf(parsed: &Parsed, log: &mut Vec<LogMsg>) -> Result<(), ()> {
    let cycle = &parsed.state;
    let failed = cycle.init_conf.iter().any(|m| m.level == Level::Emerg);
    log.extend(cycle.init_conf.iter().cloned());
    // nginx: ngx_event_init_conf
    if failed || !cycle.events {
        if !failed {
            log.push(LogMsg {
                level: Level::Emerg,
                text: "no \"events\" section in configuration".into(),
            });
        }
        return Err(());
    }
    Ok(())
}

pub(crate) fn init(parsed: &Parsed, log: &mut Vec<LogMsg>) -> Result<(), ()> {
    let emerg = |log: &mut Vec<LogMsg>, text: String| {
        log.push(LogMsg {
            level: Level::Emerg,
            text,
        });
        Err(())
    };
    init_conf(parsed, log)?;
    let cycle = &parsed.state;
    // nginx: ngx_create_pidfile under -t: created (not truncated), nothing written.
    let pid = pid_path(cycle);
    {
        if let Err(e) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&pid)
        {
            return emerg(
                log,
                format!("open() \"{}\" failed ({})", pid.display(), errno_text(&e)),
            );
        }
    }
    // nginx: ngx_create_paths
    for path in &cycle.paths {
        if let Err(e) = std::fs::create_dir(path) {
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                return emerg(
                    log,
                    format!("mkdir() \"{}\" failed ({})", path.display(), errno_text(&e)),
                );
            }
        }
    }
    // nginx: ngx_log_open_default: without a main-level error_log, the -e log is the log.
    let default_log = match &cycle.default_error_log {
        Some(path) if !cycle.error_log => Some(path),
        _ => None,
    };
    for file in default_log.into_iter().chain(&cycle.open_files) {
        if let Err(e) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
        {
            return emerg(
                log,
                format!("open() \"{}\" failed ({})", file.display(), errno_text(&e)),
            );
        }
    }
    // nginx: the shared memory zones of ngx_init_cycle
    if let Some(text) = &cycle.shm_error {
        return emerg(log, text.clone());
    }
    // nginx: ngx_open_listening_sockets under -t: "address in use" is not an error.
    for ls in &cycle.listening {
        if let Err(e) = test_bind(ls) {
            if e.raw_os_error() == Some(98) {
                continue;
            }
            return emerg(
                log,
                format!("bind() to {} failed ({})", ls.text, errno_text(&e)),
            );
        }
    }
    Ok(())
}

fn test_bind(ls: &Listening) -> std::io::Result<()> {
    match &ls.addr {
        ListenAddr::Inet(a) if ls.udp => std::net::UdpSocket::bind(a).map(drop),
        ListenAddr::Inet(a) => std::net::TcpListener::bind(a).map(drop),
        ListenAddr::Unix(p) => {
            // nginx deletes the socket file it made under -t.
            let r = std::os::unix::net::UnixListener::bind(p).map(drop);
            if r.is_ok() {
                let _ = std::fs::remove_file(p);
            }
            r
        }
    }
}
