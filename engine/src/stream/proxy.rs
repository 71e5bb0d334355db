//! ngx_stream_proxy_module: stream `proxy_pass` and the `proxy_*` directives.

use parser::Directive;

#[allow(unused_imports)]
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};
use crate::log::Level;

pub(crate) static MODULE: Module = Module {
    name: "ngx_stream_proxy_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[
    cmd(
        "proxy_pass",
        Ctx::STREAM_SRV,
        Args::TAKE1,
        Set::Handler(proxy_pass),
    ),
    cmd(
        "proxy_bind",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE12,
        Set::Handler(proxy_bind),
    ),
    cmd(
        "proxy_socket_keepalive",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_connect_timeout",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "proxy_timeout",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "proxy_buffer_size",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "proxy_downstream_buffer",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Handler(deprecated_buffer),
    ),
    cmd(
        "proxy_upstream_buffer",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Handler(deprecated_buffer),
    ),
    cmd(
        "proxy_upload_rate",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Handler(super::complex_value_size_slot),
    ),
    cmd(
        "proxy_download_rate",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Handler(super::complex_value_size_slot),
    ),
    cmd(
        "proxy_requests",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "proxy_responses",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "proxy_next_upstream",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_next_upstream_tries",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "proxy_next_upstream_timeout",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "proxy_protocol",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_half_close",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_ssl",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_ssl_session_reuse",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_ssl_protocols",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::ONEMORE,
        Set::Slot(Slot::Bitmask(&[
            "SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3",
        ])),
    ),
    cmd(
        "proxy_ssl_ciphers",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "proxy_ssl_name",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Handler(super::complex_value_slot),
    ),
    cmd(
        "proxy_ssl_server_name",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_ssl_verify",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_ssl_verify_depth",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "proxy_ssl_trusted_certificate",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "proxy_ssl_crl",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "proxy_ssl_certificate",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Handler(super::complex_value_zero_slot),
    ),
    cmd(
        "proxy_ssl_certificate_key",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Handler(super::complex_value_zero_slot),
    ),
    cmd(
        "proxy_ssl_password_file",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Handler(proxy_ssl_password_file),
    ),
    cmd(
        "proxy_ssl_conf_command",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE2,
        Set::Slot(Slot::KeyVal),
    ),
];

/// nginx: ngx_stream_proxy_pass.
fn proxy_pass(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if crate::http::upstream::seen(cf, d) {
        return Err(Some("is duplicate".into()));
    }
    super::core::set_handler(cf);
    let url = &d.args[0];
    let cv = super::compile_complex_value(cf, url)?;
    if !cv.is_static() {
        return Ok(());
    }
    let o = crate::http::upstream::UrlOpts {
        no_resolve: true,
        ..Default::default()
    };
    crate::http::upstream::upstream_add_url(cf, d, url, o)?;
    Ok(())
}

/// nginx: ngx_stream_proxy_bind.
fn proxy_bind(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if crate::http::upstream::seen(cf, d) {
        return Err(Some("is duplicate".into()));
    }
    let v = &d.args[0];
    if d.args.len() == 1 && v.as_slice() == b"off" {
        return Ok(());
    }
    let cv = super::compile_complex_value(cf, v)?;
    if cv.is_static() && crate::http::upstream::parse_addr_port(v).is_none() {
        let text = format!("invalid address \"{}\"", String::from_utf8_lossy(v));
        return Err(cf.emerg(text).into());
    }
    if let Some(p) = d.args.get(1) {
        if p.as_slice() != b"transparent" {
            let text = format!("invalid parameter \"{}\"", String::from_utf8_lossy(p));
            return Err(cf.emerg(text).into());
        }
    }
    Ok(())
}

/// nginx: ngx_stream_proxy_ssl_password_file.
fn proxy_ssl_password_file(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    crate::http::upstream::ssl_password_file(cf, d)
}

/// nginx: ngx_conf_set_size_slot with ngx_conf_deprecated (`proxy_downstream_buffer`,
/// `proxy_upstream_buffer` set `proxy_buffer_size`).
fn deprecated_buffer(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    // the three directives share one field
    if cf.seen("proxy_buffer_size") {
        return Err(Some("is duplicate".into()));
    }
    if crate::conf::values::parse_size(&d.args[0]).is_none() {
        return Err(Some("invalid value".into()));
    }
    let text = format!(
        "the \"{}\" directive is deprecated, use the \"proxy_buffer_size\" directive instead",
        String::from_utf8_lossy(&d.name)
    );
    cf.conf_log(Level::Warn, text);
    Ok(())
}

// ---- Run time: the content handler of a session (engine/src/stream/run.rs runs the phases). ----

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::run::{info, Pass, Session, Tried, UdpClient};
use crate::http::upstream_rr::{PeerAddr, Picker, Upstream};
use crate::http::variables::ComplexValue;

/// A connection to a peer.
enum Peer {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

/// The upstream of a `proxy_pass` with variables: an `upstream` block's name or an
/// address; names need a `resolver` as in nginx, and are then looked up by the system
/// (nginx: ngx_stream_proxy_eval and the handler's upstream search).
fn resolve_pass(s: &Session<'_>, v: &ComplexValue) -> Option<Arc<Upstream>> {
    let name = s.eval(v);
    let fail = |msg: String| {
        crate::http::errlog::write(
            Level::Error,
            &format!("{}{}", s.context(&msg, None), bytes_context(s, None, 0, 0)),
        );
        None
    };
    let opts = crate::http::upstream::UrlOpts {
        no_resolve: true,
        ..Default::default()
    };
    let u = match crate::http::upstream::parse_url(&name, opts) {
        Ok(u) => u,
        Err(e) => {
            return fail(format!(
                "{e} in upstream \"{}\"",
                String::from_utf8_lossy(&name)
            ))
        }
    };
    if u.no_port && u.unix.is_none() {
        if let Some(up) = s.conf.upstreams.get(&u.host) {
            return Some(up.clone());
        }
    }
    if u.no_port && u.unix.is_none() {
        return fail(format!(
            "no port in upstream \"{}\"",
            String::from_utf8_lossy(&u.host)
        ));
    }
    if u.addrs.is_empty() && u.unix.is_none() && !s.server.resolver {
        return fail(format!(
            "no resolver defined to resolve {}",
            String::from_utf8_lossy(&u.host)
        ));
    }
    Some(Arc::new(crate::http::upstream_rr::implicit(
        &name, &name, 0,
    )))
}

/// How connecting to one peer failed.
enum ConnectError {
    Io(std::io::Error),
    TimedOut,
    /// Logged already; the session ends with 500 (nginx: ngx_event_connect_peer's NGX_ERROR).
    Fatal,
}

/// nginx: ngx_stream_proxy_handler's upstream choice, ngx_stream_proxy_connect and
/// ngx_stream_proxy_next_upstream: peers in the balancer's order until one connects, with
/// nginx's log lines; `None` has set the session's status.
async fn connect_upstream<P, F, Fut>(
    s: &Session<'_>,
    pass: &Pass,
    mut connect: F,
) -> Option<(P, String, Instant)>
where
    F: FnMut(PeerAddr, String) -> Fut,
    Fut: std::future::Future<Output = Result<P, ConnectError>>,
{
    let conf = &s.server.proxy;
    let up = match pass {
        Pass::Upstream(up) => up.clone(),
        Pass::Value(v) => match resolve_pass(s, v) {
            Some(up) => up,
            None => {
                s.status.set(500);
                return None;
            }
        },
    };
    let key = match &up.method {
        crate::http::upstream_rr::Method::Hash { key, .. } => Some(s.eval(key)),
        _ => None,
    };
    let mut picker = Picker::new(up.clone(), key);
    let mut tries = up.tries();
    if conf.next_upstream_tries > 0 {
        tries = tries.min(conf.next_upstream_tries);
    }
    let started = Instant::now();
    let log = |level, msg: &str, name: Option<&str>| {
        crate::http::errlog::write(
            level,
            &format!(
                "{}{}",
                s.context(msg, Some("connecting to upstream")),
                bytes_context(s, name, 0, 0)
            ),
        );
    };
    loop {
        let Some((pr, peer)) = picker.get(None) else {
            log(Level::Error, "no live upstreams", None);
            s.status.set(502);
            return None;
        };
        let (addr, name) = (peer.addr.clone(), peer.name.clone());
        tries = tries.saturating_sub(1);
        s.upstream.borrow_mut().tries.push(Tried {
            addr: name.clone(),
            connect: None,
            first_byte: None,
            session: None,
            sent: 0,
            received: 0,
        });
        let t0 = Instant::now();
        let r = match tokio::time::timeout(conf.connect_timeout, connect(addr, name.clone())).await
        {
            Ok(r) => r,
            Err(_) => Err(ConnectError::TimedOut),
        };
        let err = match r {
            Ok(p) => {
                picker.free(pr, false);
                if let Some(t) = s.upstream.borrow_mut().tries.last_mut() {
                    t.connect = Some(t0.elapsed());
                }
                return Some((p, name, t0));
            }
            Err(ConnectError::Fatal) => {
                picker.free(pr, false);
                s.status.set(500);
                return None;
            }
            Err(ConnectError::Io(e)) => {
                format!("connect() failed ({})", crate::log::errno_text(&e))
            }
            Err(ConnectError::TimedOut) => {
                "upstream timed out (110: Connection timed out)".to_string()
            }
        };
        log(Level::Error, &err, Some(&name));
        if picker.free(pr, true) {
            log(
                Level::Warn,
                "upstream server temporarily disabled",
                Some(&name),
            );
        }
        let timed_out = !conf.next_upstream_timeout.is_zero()
            && started.elapsed() >= conf.next_upstream_timeout;
        if tries == 0 || !conf.next_upstream || timed_out {
            s.status.set(502);
            return None;
        }
    }
}

/// nginx: ngx_stream_proxy_handler through ngx_stream_proxy_finalize.
pub(super) async fn proxy<S>(s: &Session<'_>, pass: &Pass, client: S, prebuf: Vec<u8>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let conf = &s.server.proxy;
    let tcp = |addr: PeerAddr, name: String| async move {
        let bound = match (&conf.bind, &addr) {
            (Some((value, transparent)), PeerAddr::Inet(_)) => match local_addr(s, value) {
                Some((text, sa)) => match crate::http::upstream_rr::bind_socket(sa, *transparent) {
                    Ok(sock) => Some(sock),
                    Err(e) => {
                        let msg = format!("bind({text}) failed ({})", crate::log::errno_text(&e));
                        crate::http::errlog::write(
                            Level::Crit,
                            &format!(
                                "{}{}",
                                s.context(&msg, Some("connecting to upstream")),
                                bytes_context(s, Some(&name), 0, 0)
                            ),
                        );
                        return Err(ConnectError::Fatal);
                    }
                },
                None => None,
            },
            _ => None,
        };
        connect(&addr, bound).await.map_err(ConnectError::Io)
    };
    let Some((peer, name, t0)) = connect_upstream(s, pass, tcp).await else {
        return;
    };
    if let (true, Peer::Tcp(t)) = (conf.socket_keepalive, &peer) {
        let _ = socket2::SockRef::from(t).set_keepalive(true);
    }
    let local = match &peer {
        Peer::Tcp(t) => t.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        Peer::Unix(_) => "unix:".to_string(),
    };
    info(&format!("*{} proxy {local} connected to {name}", s.id));
    match peer {
        Peer::Tcp(t) => pump(s, client, t, &name, t0, prebuf).await,
        Peer::Unix(u) => pump(s, client, u, &name, t0, prebuf).await,
    }
}

/// nginx: ngx_stream_proxy_set_local: the address `proxy_bind` names for this session; an
/// empty value binds nothing, a bad one is logged and binds nothing.
fn local_addr(s: &Session<'_>, value: &ComplexValue) -> Option<(String, SocketAddr)> {
    let v = s.eval(value);
    if v.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(&v).into_owned();
    let parsed = text.parse::<SocketAddr>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 0))
    });
    if parsed.is_none() {
        crate::http::errlog::write(
            Level::Error,
            &s.context(&format!("invalid local address \"{text}\""), None),
        );
    }
    parsed.map(|sa| (text, sa))
}

async fn connect(addr: &PeerAddr, bound: Option<tokio::net::TcpSocket>) -> std::io::Result<Peer> {
    // nginx: ngx_event_connect_peer numbers the connection
    crate::worker::next_conn_id();
    match addr {
        PeerAddr::Inet(a) => {
            let t = match bound {
                Some(sock) => sock.connect(*a).await?,
                None => tokio::net::TcpStream::connect(a).await?,
            };
            let _ = t.set_nodelay(true);
            Ok(Peer::Tcp(t))
        }
        PeerAddr::Unix(p) => {
            use std::os::unix::ffi::OsStrExt;
            let path = std::path::Path::new(std::ffi::OsStr::from_bytes(p));
            Ok(Peer::Unix(tokio::net::UnixStream::connect(path).await?))
        }
    }
}

/// nginx: ngx_stream_proxy_log_error's part: `, upstream: "..", bytes from/to client:..`.
fn bytes_context(s: &Session<'_>, upstream: Option<&str>, up_rx: u64, up_tx: u64) -> String {
    let mut out = String::new();
    if let Some(u) = upstream {
        out.push_str(&format!(", upstream: \"{u}\""));
    }
    out.push_str(&format!(
        ", bytes from/to client:{}/{}, bytes from/to upstream:{}/{}",
        s.received.get(),
        s.sent.get(),
        up_rx,
        up_tx
    ));
    out
}

/// How one direction of the proxied session ended.
enum End {
    Eof,
    Failed(std::io::Error),
}

/// nginx: the rate limit of ngx_stream_proxy_process: what a direction limited to `rate`
/// bytes per second may read now (waiting first while it is ahead of its allowance).
async fn throttle(rate: u64, start: Instant, received: u64, size: usize) -> usize {
    if rate == 0 {
        return size;
    }
    loop {
        let allowed = rate.saturating_mul(start.elapsed().as_secs() + 1);
        if allowed > received {
            let limit = usize::try_from(allowed - received).unwrap_or(usize::MAX);
            return size.min(limit).max(1);
        }
        let ms = (received - allowed).saturating_mul(1000) / rate + 1;
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// The pause after a limited read of `n` bytes (nginx: the read event's delay).
async fn pace(rate: u64, n: usize) {
    let ms = (n as u64)
        .saturating_mul(1000)
        .checked_div(rate)
        .unwrap_or(0);
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// nginx: ngx_stream_proxy_send_proxy_protocol's v1 header.
fn proxy_protocol_header(s: &Session<'_>) -> Vec<u8> {
    match (s.remote, s.local) {
        (Some(r), Some(l)) if r.is_ipv4() == l.is_ipv4() => format!(
            "PROXY {} {} {} {} {}\r\n",
            if r.is_ipv4() { "TCP4" } else { "TCP6" },
            r.ip(),
            l.ip(),
            r.port(),
            l.port()
        )
        .into_bytes(),
        _ => b"PROXY UNKNOWN\r\n".to_vec(),
    }
}

/// nginx: ngx_stream_proxy_process: bytes both ways until a side ends (both, with
/// `proxy_half_close on`) or nothing moves for `proxy_timeout`.
async fn pump<C, U>(s: &Session<'_>, client: C, peer: U, name: &str, t0: Instant, prebuf: Vec<u8>)
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let conf = &s.server.proxy;
    let (mut cr, cw) = tokio::io::split(client);
    let (mut ur, mut uw) = tokio::io::split(peer);
    let up_rx = Cell::new(0u64);
    let up_tx = Cell::new(0u64);
    let last = Cell::new(Instant::now());
    let first_byte: Cell<Option<Duration>> = Cell::new(None);
    // The PROXY header, then what preread read (not counted as received from the client,
    // as in nginx).
    let mut first = Vec::new();
    if conf.proxy_protocol {
        first = proxy_protocol_header(s);
    }
    first.extend_from_slice(&prebuf);
    if !first.is_empty() && uw.write_all(&first).await.is_ok() {
        up_tx.set(first.len() as u64);
    }
    let size = conf.buffer_size;
    let rate_of = |v: &Option<ComplexValue>| {
        v.as_ref()
            .and_then(|v| crate::conf::values::parse_size(&s.eval(v)))
            .unwrap_or(0)
    };
    let (upload_rate, download_rate) = (rate_of(&conf.upload_rate), rate_of(&conf.download_rate));
    let start = Instant::now();
    // Each direction owns its write half and gives it back for a half close.
    let from_client = async {
        let mut uw = uw;
        let mut buf = vec![0u8; size];
        loop {
            let room = throttle(upload_rate, start, s.received.get(), size).await;
            let n = match cr.read(&mut buf[..room]).await {
                Ok(0) => return (End::Eof, uw),
                Ok(n) => n,
                Err(e) => return (End::Failed(e), uw),
            };
            s.received.set(s.received.get() + n as u64);
            last.set(Instant::now());
            if let Err(e) = uw.write_all(&buf[..n]).await {
                return (End::Failed(e), uw);
            }
            up_tx.set(up_tx.get() + n as u64);
            last.set(Instant::now());
            pace(upload_rate, n).await;
        }
    };
    let from_upstream = async {
        let mut cw = cw;
        let mut buf = vec![0u8; size];
        loop {
            let room = throttle(download_rate, start, up_rx.get(), size).await;
            let n = match ur.read(&mut buf[..room]).await {
                Ok(0) => return (End::Eof, cw),
                Ok(n) => n,
                Err(e) => return (End::Failed(e), cw),
            };
            if first_byte.get().is_none() {
                first_byte.set(Some(t0.elapsed()));
            }
            up_rx.set(up_rx.get() + n as u64);
            last.set(Instant::now());
            if let Err(e) = cw.write_all(&buf[..n]).await {
                return (End::Failed(e), cw);
            }
            s.sent.set(s.sent.get() + n as u64);
            last.set(Instant::now());
            pace(download_rate, n).await;
        }
    };
    let idle = async {
        loop {
            let due = last.get() + conf.timeout;
            if Instant::now() >= due {
                return;
            }
            tokio::time::sleep_until(due.into()).await;
        }
    };
    tokio::pin!(from_client, from_upstream, idle);
    let (mut client_done, mut upstream_done) = (false, false);
    let outcome = loop {
        tokio::select! {
            (e, mut uw) = &mut from_client, if !client_done => {
                client_done = true;
                if conf.half_close && matches!(e, End::Eof) && !upstream_done {
                    let _ = uw.shutdown().await;
                    continue;
                }
                break Some(("client", e));
            }
            (e, mut cw) = &mut from_upstream, if !upstream_done => {
                upstream_done = true;
                if conf.half_close && matches!(e, End::Eof) && !client_done {
                    let _ = cw.shutdown().await;
                    continue;
                }
                break Some(("upstream", e));
            }
            _ = &mut idle => break None,
        }
    };
    if let Some(t) = s.upstream.borrow_mut().tries.last_mut() {
        t.first_byte = first_byte.get();
        t.session = Some(t0.elapsed());
        t.sent = up_tx.get();
        t.received = up_rx.get();
    }
    let counts = |s: &Session<'_>| {
        format!(
            ", bytes from/to client:{}/{}, bytes from/to upstream:{}/{}",
            s.received.get(),
            s.sent.get(),
            up_rx.get(),
            up_tx.get()
        )
    };
    match outcome {
        None => {
            let text = s.context(
                "connection timed out (110: Connection timed out)",
                Some("proxying connection"),
            );
            info(&format!("{text}, upstream: \"{name}\"{}", counts(s)));
        }
        Some((side, End::Failed(e))) => {
            let (what, action) = if side == "client" {
                ("recv() failed", "proxying and reading from client")
            } else {
                ("recv() failed", "proxying and reading from upstream")
            };
            let text = s.context(
                &format!("{what} ({})", crate::log::errno_text(&e)),
                Some(action),
            );
            info(&format!("{text}, upstream: \"{name}\"{}", counts(s)));
            info(&format!("*{} {side} disconnected{}", s.id, counts(s)));
        }
        Some((side, End::Eof)) => {
            info(&format!("*{} {side} disconnected{}", s.id, counts(s)));
        }
    }
}

/// nginx: ngx_stream_proxy_handler and ngx_stream_proxy_process for datagrams: each client
/// datagram is a request, each upstream datagram a response; the session ends when
/// `proxy_responses` answers came for every request, or after `proxy_timeout` of silence.
pub(super) async fn udp_proxy(
    s: &Session<'_>,
    pass: &Pass,
    sock: &tokio::net::UdpSocket,
    first: Vec<u8>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
    client: &UdpClient,
) {
    let conf = &s.server.proxy;
    let udp = |addr: PeerAddr, _name: String| async move {
        let PeerAddr::Inet(a) = addr else {
            return Err(ConnectError::Io(std::io::Error::from_raw_os_error(
                libc::EPROTOTYPE,
            )));
        };
        let any: SocketAddr = if a.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        crate::worker::next_conn_id();
        let u = tokio::net::UdpSocket::bind(any)
            .await
            .map_err(ConnectError::Io)?;
        u.connect(a).await.map_err(ConnectError::Io)?;
        Ok(u)
    };
    let Some((peer, name, t0)) = connect_upstream(s, pass, udp).await else {
        return;
    };
    let local = peer.local_addr().map(|a| a.to_string()).unwrap_or_default();
    info(&format!("*{} udp proxy {local} connected to {name}", s.id));
    let (mut requests, mut responses) = (0u64, 0u64);
    let (mut up_rx, mut up_tx) = (0u64, 0u64);
    let mut first_byte = None;
    if let Ok(n) = peer.send(&first).await {
        up_tx += n as u64;
    }
    requests += 1;
    let mut buf = vec![0u8; 65535];
    let counts = |requests: u64, responses: u64, up_rx: u64, up_tx: u64| {
        format!(
            ", packets from/to client:{requests}/{responses}, bytes from/to client:{}/{}, bytes from/to upstream:{up_rx}/{up_tx}",
            s.received.get(),
            s.sent.get()
        )
    };
    loop {
        // nginx: ngx_stream_proxy_test_finalize for datagrams
        if conf.requests == 0 || requests >= conf.requests {
            if conf.requests > 0 {
                client.release();
            }
            if conf.responses.is_some_and(|r| responses >= r * requests) {
                info(&format!(
                    "*{} udp done{}",
                    s.id,
                    counts(requests, responses, up_rx, up_tx)
                ));
                break;
            }
        }
        tokio::select! {
            d = rx.recv() => {
                let Some(d) = d else { continue };
                s.received.set(s.received.get() + d.len() as u64);
                requests += 1;
                if let Ok(n) = peer.send(&d).await {
                    up_tx += n as u64;
                }
            }
            r = peer.recv(&mut buf) => {
                let n = match r {
                    Ok(n) => n,
                    Err(e) => {
                        // nginx: a failed read is an end of input, sent on as an empty datagram
                        let text = s.context(
                            &format!("recv() failed ({})", crate::log::errno_text(&e)),
                            Some("proxying and reading from upstream"),
                        );
                        crate::http::errlog::write(
                            Level::Error,
                            &format!("{text}{}", bytes_context(s, Some(&name), up_rx, up_tx)),
                        );
                        0
                    }
                };
                if first_byte.is_none() {
                    first_byte = Some(t0.elapsed());
                }
                responses += 1;
                up_rx += n as u64;
                if let Ok(sent) = sock.send_to(&buf[..n], client.addr).await {
                    s.sent.set(s.sent.get() + sent as u64);
                }
            }
            _ = tokio::time::sleep(conf.timeout) => {
                if conf.responses.is_none_or(|r| responses >= r * requests) {
                    info(&format!(
                        "*{} udp timed out{}",
                        s.id,
                        counts(requests, responses, up_rx, up_tx)
                    ));
                } else {
                    let text = s.context(
                        "upstream timed out (110: Connection timed out)",
                        Some("proxying connection"),
                    );
                    crate::http::errlog::write(
                        Level::Error,
                        &format!("{text}{}", bytes_context(s, Some(&name), up_rx, up_tx)),
                    );
                    s.status.set(502);
                }
                break;
            }
        }
    }
    if let Some(t) = s.upstream.borrow_mut().tries.last_mut() {
        t.first_byte = first_byte;
        t.session = Some(t0.elapsed());
        t.sent = up_tx;
        t.received = up_rx;
    }
}
