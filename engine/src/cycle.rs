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
    /// `pid` (nginx's default is `logs/nginx.pid` under the prefix, as OpenResty builds it).
    pub(crate) pid: Option<PathBuf>,
    /// Whether an `events` block was seen (nginx: ngx_event_init_conf's check).
    pub(crate) events: bool,
    /// Files modules open for writing: logs (nginx: `cycle->open_files`).
    pub(crate) open_files: Vec<PathBuf>,
    /// Sockets to listen on (nginx: `cycle->listening`), after wildcard merging.
    pub(crate) listening: Vec<Listening>,
    /// What the core modules' `init_conf` said (logged after "syntax is ok").
    pub(crate) init_conf: Vec<LogMsg>,
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
    let params = opts.params.as_ref().map(|p| parser::parse_params(p, &popts));
    let empty = parser::Conf {
        files: Vec::new(),
        directives: Vec::new(),
        error: None,
    };
    let mut cf = Cf::new(params.as_ref().unwrap_or(&empty), opts.prefix.clone(), conf_prefix);
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
    let mut state = frame.take::<CycleConf>();
    state.prefix = opts.prefix.clone();
    state.init_conf = init_conf;
    log.extend(messages);
    match (result, main) {
        (Ok(()), Some(conf)) => Ok(Parsed {
            conf,
            state,
        }),
        _ => Err(()),
    }
}

pub(crate) fn init(parsed: &Parsed, log: &mut Vec<LogMsg>) -> Result<(), ()> {
    let emerg = |log: &mut Vec<LogMsg>, text: String| {
        log.push(LogMsg {
            level: Level::Emerg,
            text,
        });
        Err(())
    };
    let cycle = &parsed.state;
    // nginx: the core modules' init_conf, in module order.
    let failed = cycle.init_conf.iter().any(|m| m.level == Level::Emerg);
    log.extend(cycle.init_conf.iter().cloned());
    if failed {
        return Err(());
    }
    // nginx: ngx_event_init_conf
    if !cycle.events {
        return emerg(log, "no \"events\" section in configuration".into());
    }
    // nginx: ngx_create_pidfile under -t: created (not truncated), nothing written.
    let pid = cycle
        .pid
        .clone()
        .unwrap_or_else(|| cycle.prefix.join("logs/nginx.pid"));
    {
        if let Err(e) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&pid)
        {
            return emerg(log, format!(
                "open() \"{}\" failed ({})",
                pid.display(),
                errno_text(&e)
            ));
        }
    }
    for file in &cycle.open_files {
        if let Err(e) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
        {
            return emerg(log, format!(
                "open() \"{}\" failed ({})",
                file.display(),
                errno_text(&e)
            ));
        }
    }
    // nginx: ngx_open_listening_sockets under -t: "address in use" is not an error.
    for ls in &cycle.listening {
        if let Err(e) = test_bind(ls) {
            if e.raw_os_error() == Some(98) {
                continue;
            }
            return emerg(log, format!("bind() to {} failed ({})", ls.text, errno_text(&e)));
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
