//! ngx_stream_core_module: `server`, `listen` and the stream core settings.

use parser::Directive;

#[allow(unused_imports)]
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};
use crate::http::upstream::{parse_url, UrlOpts};
use crate::log::Level;

pub(crate) static MODULE: Module = Module {
    name: "ngx_stream_core_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[
    cmd(
        "variables_hash_max_size",
        Ctx::STREAM_MAIN,
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "variables_hash_bucket_size",
        Ctx::STREAM_MAIN,
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "server",
        Ctx::STREAM_MAIN,
        Args::BLOCK.or(Args::NOARGS),
        Set::Handler(server),
    ),
    cmd(
        "listen",
        Ctx::STREAM_SRV,
        Args::ONEMORE,
        Set::Handler(listen),
    ),
    cmd(
        "error_log",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::ONEMORE,
        Set::Handler(error_log),
    ),
    cmd(
        "resolver",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::ONEMORE,
        Set::Handler(resolver),
    ),
    cmd(
        "resolver_timeout",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "proxy_protocol_timeout",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "tcp_nodelay",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "preread_buffer_size",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "preread_timeout",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
];

fn invalid(cf: &mut Cf<'_>, what: &str, v: &[u8]) -> SetResult {
    let text = format!("{what} \"{}\"", String::from_utf8_lossy(v));
    Err(cf.emerg(text).into())
}

/// Whether the server being parsed has a `listen` (nginx: `cscf->listen`).
#[derive(Default)]
struct ServerListen(bool);

/// The server has a content handler (nginx: `cscf->handler`): `proxy_pass`, `return`,
/// `content_by_lua*` set it with [`set_handler`].
#[derive(Default)]
struct Handler(bool);

/// Marks the current stream server as having a content handler.
pub(crate) fn set_handler(cf: &mut Cf<'_>) {
    if let Some(f) = cf.enclosing(Ctx::STREAM_SRV) {
        f.get::<Handler>().0 = true;
    }
}

/// Every stream server: where, and whether it has a handler.
#[derive(Default)]
struct Servers(Vec<(usize, usize, bool)>);

/// nginx: ngx_stream_core_merge_srv_conf's `no handler for server` check, when `stream` ends.
pub(crate) fn merge_servers(
    cf: &mut Cf<'_>,
    stream: &mut crate::conf::dispatch::Frame,
) -> Result<(), crate::conf::dispatch::Failed> {
    let servers = stream.take::<Servers>().0;
    for (file, line, handler) in servers {
        if !handler {
            let at = crate::http::upstream::file_line(cf, file, line);
            cf.log(Level::Emerg, format!("no handler for server in {at}"));
            return Err(crate::conf::dispatch::Failed);
        }
    }
    Ok(())
}

/// Every stream `listen` address so far, for duplicates (nginx: `cmcf->listen`).
#[derive(Default)]
struct Listens(Vec<(std::net::SocketAddr, bool)>);

/// nginx: ngx_stream_core_server.
fn server(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let parser::Body::Block(b) = &d.body else {
        return Ok(());
    };
    let conf = cf.conf;
    let Some(b) = crate::http::upstream::find_block(&conf.directives, b) else {
        return Ok(());
    };
    let mut frame = cf.block(b, Ctx::STREAM_SRV)?;
    let handler = frame.get::<Handler>().0;
    if let Some(f) = cf.enclosing(Ctx::STREAM_MAIN) {
        f.get::<Servers>().0.push((d.file, d.line, handler));
    }
    if !frame.get::<ServerListen>().0 {
        let at = crate::http::upstream::file_line(cf, d.file, d.line);
        cf.log(
            Level::Emerg,
            format!("no \"listen\" is defined for server in {at}"),
        );
        return Err(None);
    }
    Ok(())
}

/// nginx: ngx_stream_core_listen.
fn listen(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    cf.frame().get::<ServerListen>().0 = true;
    let url = &d.args[0];
    let o = UrlOpts {
        listen: true,
        ..UrlOpts::default()
    };
    let u = match parse_url(url, o) {
        Ok(u) => u,
        Err(e) => {
            let text = format!(
                "{e} in \"{}\" of the \"listen\" directive",
                String::from_utf8_lossy(url)
            );
            return Err(cf.emerg(text).into());
        }
    };
    let (mut udp, mut backlog, mut ssl, mut keepalive, mut pp, mut fastopen) =
        (false, false, false, false, false, false);
    let mut ipv6only = true;
    let mut backlog_n = 511;
    for a in &d.args[1..] {
        let v = a.as_slice();
        if v == b"udp" {
            udp = true;
        } else if v == b"bind" || v == b"reuseport" {
        } else if let Some(n) = v.strip_prefix(b"fastopen=") {
            fastopen = true;
            if crate::conf::values::atoi(n).is_none() {
                return invalid(cf, "invalid fastopen", v);
            }
        } else if let Some(n) = v.strip_prefix(b"backlog=") {
            match crate::conf::values::atoi(n) {
                Some(n) if n > 0 => backlog_n = i32::try_from(n).unwrap_or(i32::MAX),
                _ => return invalid(cf, "invalid backlog", v),
            }
            backlog = true;
        } else if let Some(n) = v.strip_prefix(b"rcvbuf=") {
            if crate::conf::values::parse_size(n).is_none() {
                return invalid(cf, "invalid rcvbuf", v);
            }
        } else if let Some(n) = v.strip_prefix(b"sndbuf=") {
            if crate::conf::values::parse_size(n).is_none() {
                return invalid(cf, "invalid sndbuf", v);
            }
        } else if let Some(f) = v.strip_prefix(b"ipv6only=o") {
            match f {
                b"n" => ipv6only = true,
                b"ff" => ipv6only = false,
                _ => return invalid(cf, "invalid ipv6only flags", &v[9..]),
            }
        } else if v == b"ssl" {
            ssl = true;
            let ssl_at = (d.file, d.line);
            cf.frame().get::<super::ssl::StreamSslConf>().listen = Some(ssl_at);
        } else if let Some(k) = v.strip_prefix(b"so_keepalive=") {
            keepalive = true;
            if k != b"on" && k != b"off" && !so_keepalive_ok(k) {
                let text = format!(
                    "invalid so_keepalive value: \"{}\"",
                    String::from_utf8_lossy(k)
                );
                return Err(cf.emerg(text).into());
            }
        } else if v == b"proxy_protocol" {
            pp = true;
        } else {
            let text = format!("the invalid \"{}\" parameter", String::from_utf8_lossy(v));
            return Err(cf.emerg(text).into());
        }
    }
    if udp {
        for (set, p) in [
            (backlog, "backlog"),
            (ssl, "ssl"),
            (keepalive, "so_keepalive"),
            (pp, "proxy_protocol"),
            (fastopen, "fastopen"),
        ] {
            if set {
                return Err(Some(format!(
                    "\"{p}\" parameter is incompatible with \"udp\""
                )));
            }
        }
    }
    let addrs: Vec<std::net::SocketAddr> = u.addrs.clone();
    for a in &addrs {
        let dup = cf
            .enclosing(Ctx::STREAM_MAIN)
            .map(|f| {
                f.get::<Listens>()
                    .0
                    .iter()
                    .any(|(x, x_udp)| x == a && *x_udp == udp)
            })
            .unwrap_or(false);
        if dup {
            let text = format!("duplicate \"{a}\" address and port pair");
            return Err(cf.emerg(text).into());
        }
        if let Some(f) = cf.enclosing(Ctx::STREAM_MAIN) {
            f.get::<Listens>().0.push((*a, udp));
        }
        let ls = crate::cycle::Listening {
            addr: crate::cycle::ListenAddr::Inet(*a),
            text: a.to_string(),
            ipv6only,
            backlog: backlog_n,
            udp,
        };
        cf.main()
            .get::<crate::cycle::CycleConf>()
            .listening
            .push(ls);
    }
    if let Some(p) = &u.unix {
        use std::os::unix::ffi::OsStrExt;
        let path = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(p));
        let ls = crate::cycle::Listening {
            addr: crate::cycle::ListenAddr::Unix(path),
            text: format!("unix:{}", String::from_utf8_lossy(p)),
            ipv6only,
            backlog: backlog_n,
            udp,
        };
        cf.main()
            .get::<crate::cycle::CycleConf>()
            .listening
            .push(ls);
    }
    Ok(())
}

/// `so_keepalive=idle:intvl:cnt` (nginx: the NGX_HAVE_KEEPALIVE_TUNABLE branch).
fn so_keepalive_ok(k: &[u8]) -> bool {
    let mut parts = k.splitn(3, |&c| c == b':');
    let idle = parts.next().unwrap_or_default();
    let intvl = parts.next().unwrap_or_default();
    let cnt = parts.next().unwrap_or_default();
    let t = |s: &[u8]| s.is_empty() || crate::conf::values::parse_time(s, true).is_some();
    let c = cnt.is_empty() || crate::conf::values::atoi(cnt).is_some();
    let nonzero = [idle, intvl]
        .iter()
        .any(|s| crate::conf::values::parse_time(s, true).is_some_and(|n| n > 0))
        || crate::conf::values::atoi(cnt).is_some_and(|n| n > 0);
    t(idle) && t(intvl) && c && nonzero
}

/// nginx: ngx_stream_core_error_log (ngx_log_set_log): the file is opened at startup.
fn error_log(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let v = &d.args[0];
    if v.as_slice() != b"stderr" && !v.starts_with(b"syslog:") && !v.starts_with(b"memory:") {
        let path = crate::cycle::full_name(&cf.prefix, v);
        cf.main()
            .get::<crate::cycle::CycleConf>()
            .open_files
            .push(path);
    }
    if let Some(level) = d.args.get(1) {
        if Level::from_name(level).is_none() {
            let text = format!("invalid log level \"{}\"", String::from_utf8_lossy(level));
            return Err(cf.emerg(text).into());
        }
    }
    Ok(())
}

/// nginx: ngx_stream_core_resolver (addresses resolved at run time).
fn resolver(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if crate::http::upstream::seen(cf, d) {
        return Err(Some("is duplicate".into()));
    }
    Ok(())
}
