//! Workers: `worker_processes N` threads, each a current-thread tokio runtime serving every
//! listening socket (nginx: ngx_worker_process_cycle), and the listening sockets they share,
//! kept open across reloads so no connection is refused while workers change.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;

use crate::cycle::ListenAddr;
use crate::http::h1::Timeouts;
use crate::http::head::{Head, Limits};
use crate::http::lower::{Http, LocConf};
use crate::http::request::{Conn, Request};
use crate::http::response::{self, Reply};

/// Open listening sockets by address (nginx: `cycle->listening`), inherited across reloads.
#[derive(Default)]
pub struct Listeners {
    tcp: HashMap<std::net::SocketAddr, std::net::TcpListener>,
    unix: HashMap<std::path::PathBuf, std::os::unix::net::UnixListener>,
    /// Stream `udp` listens.
    udp: HashMap<std::net::SocketAddr, std::net::UdpSocket>,
}

impl Listeners {
    /// nginx: ngx_open_listening_sockets: binds what `http` and `stream` need and is not
    /// open yet, closes what they no longer need. Returns nginx's error text on failure.
    pub(crate) fn sync(
        &mut self,
        http: &Http,
        stream: &crate::stream::run::StreamConf,
    ) -> Result<(), String> {
        let mut tcp = HashMap::new();
        let mut unix = HashMap::new();
        let mut udp = HashMap::new();
        for l in stream.listens.iter().filter(|l| l.udp) {
            let ListenAddr::Inet(sa) = &l.addr else {
                continue;
            };
            let sock = match self.udp.remove(sa) {
                Some(u) => u,
                None => bind_udp(*sa).map_err(|e| {
                    format!(
                        "bind() to {} failed ({})",
                        l.text,
                        crate::log::errno_text(&e)
                    )
                })?,
            };
            udp.insert(*sa, sock);
        }
        let wanted = http
            .addrs
            .iter()
            .map(|a| (&a.addr, &a.text, a.backlog))
            .chain(
                stream
                    .listens
                    .iter()
                    .filter(|l| !l.udp)
                    .map(|l| (&l.addr, &l.text, l.backlog)),
            );
        for (addr, text, backlog) in wanted {
            match addr {
                ListenAddr::Inet(sa) => {
                    let l = match self.tcp.remove(sa) {
                        Some(l) => l,
                        None => bind_tcp(*sa, backlog).map_err(|e| {
                            format!("bind() to {} failed ({})", text, crate::log::errno_text(&e))
                        })?,
                    };
                    tcp.insert(*sa, l);
                }
                ListenAddr::Unix(p) => {
                    let l = match self.unix.remove(p) {
                        Some(l) => l,
                        None => {
                            let _ = std::fs::remove_file(p);
                            let l = std::os::unix::net::UnixListener::bind(p).map_err(|e| {
                                format!(
                                    "bind() to {} failed ({})",
                                    text,
                                    crate::log::errno_text(&e)
                                )
                            })?;
                            l.set_nonblocking(true).map_err(|e| {
                                format!("ioctl(FIONBIO) failed ({})", crate::log::errno_text(&e))
                            })?;
                            l
                        }
                    };
                    unix.insert(p.clone(), l);
                }
            }
        }
        for p in self.unix.keys() {
            let _ = std::fs::remove_file(p);
        }
        self.tcp = tcp;
        self.unix = unix;
        self.udp = udp;
        Ok(())
    }
}

impl Listeners {
    /// A worker's handle on the open socket of `addr` (`udp`: a stream udp listen).
    fn sock(&self, addr: &ListenAddr, udp: bool) -> std::io::Result<Option<Sock>> {
        Ok(match addr {
            ListenAddr::Inet(sa) if udp => match self.udp.get(sa) {
                Some(u) => Some(Sock::Udp(u.try_clone()?)),
                None => None,
            },
            ListenAddr::Inet(sa) => match self.tcp.get(sa) {
                Some(l) => Some(Sock::Tcp(l.try_clone()?)),
                None => None,
            },
            ListenAddr::Unix(p) => match self.unix.get(p) {
                Some(l) => Some(Sock::Unix(l.try_clone()?)),
                None => None,
            },
        })
    }
}

fn bind_udp(sa: std::net::SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::for_address(sa), Type::DGRAM, None)?;
    s.set_reuse_address(true)?;
    if sa.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.bind(&sa.into())?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

fn bind_tcp(sa: std::net::SocketAddr, backlog: i32) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::for_address(sa), Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    if sa.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.bind(&sa.into())?;
    s.listen(backlog)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// How workers stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Running,
    /// QUIT or reload: stop accepting, finish in-flight requests, close idle connections.
    Graceful,
    /// TERM/INT: drop everything now.
    Fast,
}

/// Running workers of one configuration.
pub struct Workers {
    threads: Vec<std::thread::JoinHandle<()>>,
    stop: watch::Sender<Stop>,
    /// The workers' thread ids (what nginx logs as worker process pids).
    ids: Vec<i64>,
}

/// Connection numbers, process-wide (nginx: `ngx_connection_counter`).
static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// A new connection number (the fake connections of the Lua TLS hooks take one too).
pub(crate) fn next_conn_id() -> u64 {
    CONNECTIONS.fetch_add(1, Ordering::Relaxed) + 1
}

impl Workers {
    /// Starts `n` workers on `listeners` for `http`.
    pub(crate) fn start(
        http: Arc<Http>,
        stream: Arc<crate::stream::run::StreamConf>,
        listeners: &Listeners,
        n: usize,
        shutdown_timeout: Option<Duration>,
    ) -> std::io::Result<Workers> {
        let (stop, rx) = watch::channel(Stop::Running);
        let mut threads = Vec::new();
        let (id_tx, id_rx) = std::sync::mpsc::channel();
        crate::http::lua::WORKER_COUNT.store(n.max(1), Ordering::Relaxed);
        for i in 0..n.max(1) {
            let mut tcp = Vec::new();
            for (idx, a) in http.addrs.iter().enumerate() {
                if let Some(sock) = listeners.sock(&a.addr, false)? {
                    tcp.push((idx, sock));
                }
            }
            let mut stream_socks = Vec::new();
            for (idx, l) in stream.listens.iter().enumerate() {
                if let Some(sock) = listeners.sock(&l.addr, l.udp)? {
                    stream_socks.push((idx, sock));
                }
            }
            let stream = (stream.clone(), stream_socks);
            let http = http.clone();
            let rx = rx.clone();
            let id_tx = id_tx.clone();
            let t = std::thread::Builder::new()
                .name(format!("oxresty-worker-{i}"))
                .spawn(move || {
                    // SAFETY: gettid takes no arguments and cannot fail.
                    let _ = id_tx.send(unsafe { libc::syscall(libc::SYS_gettid) });
                    worker(http, tcp, stream, rx, shutdown_timeout)
                })?;
            threads.push(t);
        }
        drop(id_tx);
        let ids = threads.iter().filter_map(|_| id_rx.recv().ok()).collect();
        Ok(Workers { threads, stop, ids })
    }

    /// The workers' thread ids, in start order.
    pub fn ids(&self) -> &[i64] {
        &self.ids
    }

    /// Tells the workers to stop (they finish on their own).
    pub fn stop(&self, how: Stop) {
        let _ = self.stop.send(how);
    }

    /// Waits until every worker has exited.
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

enum Sock {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
    /// A stream `udp` listen.
    Udp(std::net::UdpSocket),
}

/// A worker's stream block and its listening sockets (by listen index).
type StreamSocks = (Arc<crate::stream::run::StreamConf>, Vec<(usize, Sock)>);

/// The accept loop of one stream listen (nginx: ngx_event_accept, then
/// ngx_stream_init_connection).
async fn accept_stream(
    (conf, idx, sock): (Arc<crate::stream::run::StreamConf>, usize, Sock),
    sessions: Rc<crate::stream::run::Sessions>,
    mut rx: watch::Receiver<Stop>,
) {
    use crate::stream::run::session;
    let accept = async move {
        match sock {
            Sock::Udp(u) => {
                if let Ok(u) = tokio::net::UdpSocket::from_std(u) {
                    crate::stream::run::serve_udp(conf, idx, u, sessions).await;
                }
            }
            Sock::Tcp(l) => {
                let Ok(l) = tokio::net::TcpListener::from_std(l) else {
                    return;
                };
                loop {
                    let Ok((stream, remote)) = l.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let local = stream.local_addr().ok();
                    let f = session(
                        conf.clone(),
                        idx,
                        stream,
                        Some(remote),
                        local,
                        sessions.clone(),
                    );
                    tokio::task::spawn_local(f);
                }
            }
            Sock::Unix(l) => {
                let Ok(l) = tokio::net::UnixListener::from_std(l) else {
                    return;
                };
                loop {
                    let Ok((stream, _)) = l.accept().await else {
                        continue;
                    };
                    let f = session(conf.clone(), idx, stream, None, None, sessions.clone());
                    tokio::task::spawn_local(f);
                }
            }
        }
    };
    let stopped = async {
        while *rx.borrow() == Stop::Running {
            if rx.changed().await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        _ = accept => {}
        _ = stopped => {}
    }
}

/// nginx: ngx_worker_process_cycle, as a thread.
fn worker(
    http: Arc<Http>,
    socks: Vec<(usize, Sock)>,
    stream: StreamSocks,
    rx: watch::Receiver<Stop>,
    shutdown_timeout: Option<Duration>,
) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        crate::http::errlog::write(crate::log::Level::Alert, "could not start a worker runtime");
        return;
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        // lua-nginx-module: the worker's VM, init_by_lua* and init_worker_by_lua*.
        crate::http::lua::init_worker(&http);
        let graceful = Rc::new(Conns::default());
        let mut accepts = Vec::new();
        let sessions = Rc::new(crate::stream::run::Sessions::default());
        let (stream_conf, stream_socks) = stream;
        for (idx, s) in stream_socks {
            let f = accept_stream((stream_conf.clone(), idx, s), sessions.clone(), rx.clone());
            accepts.push(tokio::task::spawn_local(f));
        }
        for (idx, s) in socks {
            let http = http.clone();
            let graceful = graceful.clone();
            let mut rx = rx.clone();
            accepts.push(tokio::task::spawn_local(async move {
                match s {
                    // http has no udp listens.
                    Sock::Udp(_) => {}
                    Sock::Tcp(l) => {
                        let Ok(l) = tokio::net::TcpListener::from_std(l) else {
                            return;
                        };
                        loop {
                            tokio::select! {
                                a = l.accept() => {
                                    let Ok((stream, remote)) = a else { continue };
                                    let _ = stream.set_nodelay(true);
                                    let local = stream.local_addr().ok();
                                    let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
                                    let proxied = http.addrs.get(idx).is_some_and(|a| a.proxy_protocol);
                                    let tls = http.addrs.get(idx).and_then(|a| a.tls.clone());
                                    let (http, graceful) = (http.clone(), graceful.clone());
                                    let c = Accepted { http, graceful, fd, addr: idx, remote, local, proxy: None };
                                    if proxied {
                                        tokio::task::spawn_local(accept_proxied(c, tls, stream));
                                    } else {
                                        match tls {
                                            None => serve(&c.http, &c.graceful, stream, Some(fd), idx, Some(remote), local, None, None),
                                            Some(t) => {
                                                tokio::task::spawn_local(accept_tls(c, t, stream));
                                            }
                                        }
                                    }
                                }
                                _ = rx.changed() => {
                                    if *rx.borrow() != Stop::Running { return; }
                                }
                            }
                        }
                    }
                    Sock::Unix(l) => {
                        let Ok(l) = tokio::net::UnixListener::from_std(l) else {
                            return;
                        };
                        loop {
                            tokio::select! {
                                a = l.accept() => {
                                    let Ok((mut stream, _)) = a else { continue };
                                    if http.addrs.get(idx).is_some_and(|a| a.proxy_protocol) {
                                        let (http, graceful) = (http.clone(), graceful.clone());
                                        tokio::task::spawn_local(async move {
                                            if let Some(pp) = read_proxy_header(&http, idx, None, &mut stream, false).await {
                                                serve(&http, &graceful, stream, None, idx, None, None, None, pp);
                                            }
                                        });
                                    } else {
                                        serve(&http, &graceful, stream, None, idx, None, None, None, None);
                                    }
                                }
                                _ = rx.changed() => {
                                    if *rx.borrow() != Stop::Running { return; }
                                }
                            }
                        }
                    }
                }
            }));
        }
        let mut rx = rx;
        while *rx.borrow() == Stop::Running {
            if rx.changed().await.is_err() {
                break;
            }
        }
        for a in &accepts {
            a.abort();
        }
        // The accept loops hold the shutdown watcher until they are gone.
        for a in accepts {
            let _ = a.await;
        }
        let notice = |t: &str| crate::http::errlog::write(crate::log::Level::Notice, t);
        if *rx.borrow() == Stop::Fast {
            notice("exiting");
            crate::http::lua::exit_worker(&http);
            notice("exit");
            return;
        }
        // nginx: ngx_worker_process_cycle's ngx_quit branch.
        notice("gracefully shutting down");
        // lua-nginx-module: pending timers run now, premature.
        crate::http::lua::timer::shutdown().await;
        // nginx: a stopping worker waits for its stream sessions too (they are never idle).
        let drain = async {
            graceful.drain().await;
            sessions.drain().await;
            // streaming Lua handlers that outlive their connection (ngx.eof)
            crate::http::lua::stream::drained().await;
        };
        let fast = async {
            let mut rx = rx.clone();
            while *rx.borrow() != Stop::Fast {
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        notice("exiting");
        match shutdown_timeout {
            Some(t) => {
                tokio::select! {
                    _ = tokio::time::timeout(t, drain) => {}
                    _ = fast => {}
                }
            }
            None => {
                tokio::select! {
                    _ = drain => {}
                    _ = fast => {}
                }
            }
        }
        crate::http::lua::exit_worker(&http);
        notice("exit");
    });
}

/// What a connection and its requests share: the values of the last request's location
/// that rule the connection between requests, and its graceful stop.
pub(crate) struct Shared {
    /// Requests whose response is not finished.
    pub(crate) busy: usize,
    /// Requests answered on this connection.
    pub(crate) served: u64,
    pub(crate) timeouts: Timeouts,
    /// The worker is shutting down gracefully: no keep-alive, idle connections close.
    pub(crate) exiting: bool,
    /// Tells the connection's task that `exiting` was set (HTTP/2).
    pub(crate) exit: Rc<tokio::sync::Notify>,
    /// The HTTP/1.x connection's task while it waits for a head, woken when `exiting` is set.
    pub(crate) exit_waker: Option<std::task::Waker>,
    /// A 101 answered: the connection becomes a proxied tunnel.
    pub(crate) tunnel: bool,
    /// The request body could not be read: nginx's status for it, and its log line.
    pub(crate) body_error: Option<(u16, &'static str)>,
    /// Where the connection's own lines go (nginx: `c->log`): the default server's
    /// `error_log`, then the last request's location's.
    pub(crate) error_log: Option<Arc<Vec<Arc<crate::http::errlog::ErrorLog>>>>,
    /// The answer's `limit_rate` (bytes/s), `limit_rate_after` and the request's start
    /// second, for the connection's writes (nginx: ngx_http_write_filter).
    pub(crate) limit_rate: Option<(u64, u64, u64)>,
}

impl Shared {
    /// A new connection's state, with the address's default server's timeouts.
    fn new(timeouts: Timeouts) -> Shared {
        Shared {
            busy: 0,
            served: 0,
            timeouts,
            exiting: false,
            body_error: None,
            exit: Rc::new(tokio::sync::Notify::new()),
            exit_waker: None,
            tunnel: false,
            error_log: None,
            limit_rate: None,
        }
    }
}

/// A worker's connections, for its graceful shutdown (nginx: ngx_close_idle_connections,
/// then waiting for the busy ones).
#[derive(Default)]
struct Conns {
    list: RefCell<Vec<std::rc::Weak<RefCell<Shared>>>>,
    live: Cell<usize>,
}

impl Conns {
    fn add(&self, shared: &Rc<RefCell<Shared>>) {
        let mut list = self.list.borrow_mut();
        list.retain(|w| w.strong_count() > 0);
        list.push(Rc::downgrade(shared));
        self.live.set(self.live.get() + 1);
    }

    /// Marks every connection exiting (see the connection task in [`serve`]), then waits
    /// until none is left.
    async fn drain(&self) {
        for w in self.list.borrow().iter() {
            if let Some(sh) = w.upgrade() {
                let mut sh = sh.borrow_mut();
                sh.exiting = true;
                sh.exit.notify_one();
                if let Some(w) = sh.exit_waker.take() {
                    w.wake();
                }
            }
        }
        while self.live.get() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// nginx: the `limit_rate` of ngx_http_write_filter: `$limit_rate` as set, else the
/// location's `limit_rate`; with `limit_rate_after` and the request's start second.
fn limit_rate(r: &crate::http::request::Request) -> Option<(u64, u64, u64)> {
    use crate::conf::values::parse_size;
    let rate = match r.vars.get(&b"limit_rate"[..]) {
        Some(v) => parse_size(v),
        None => r
            .loc
            .limit_rate
            .as_ref()
            .and_then(|v| parse_size(&r.eval(v))),
    }
    .filter(|&n| n > 0)?;
    let after = r
        .loc
        .limit_rate_after
        .as_ref()
        .and_then(|v| parse_size(&r.eval(v)))
        .unwrap_or(0);
    let start = r
        .start
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Some((rate, after, start))
}

/// A connection's identity in nginx's log context before a request exists.
pub(crate) struct Who {
    id: u64,
    remote: Option<std::net::SocketAddr>,
    http: Arc<Http>,
    /// The listening address's index in [`Http::addrs`].
    addr: usize,
    /// The connection's state (its current error log).
    shared: Rc<RefCell<Shared>>,
}

impl Who {
    /// nginx: ngx_log_error on `c->log`.
    fn log(&self, msg: &str) {
        let logs = self.shared.borrow().error_log.clone();
        match logs {
            Some(l) => crate::http::errlog::write_to(&l, crate::log::Level::Info, msg),
            None => crate::http::errlog::write(crate::log::Level::Info, msg),
        }
    }

    /// nginx: the "client timed out" line of ngx_http_wait_request_handler,
    /// ngx_http_process_request_line and ngx_http_process_request_headers when
    /// client_header_timeout expires; `head` is what was read. `server:` is the listening
    /// address before a request exists, then the default server's name.
    pub(crate) fn header_timeout(&self, head: &[u8]) {
        let a = self.http.addrs.get(self.addr);
        let listen = a.map(|a| a.text.as_str()).unwrap_or_default();
        let server = a
            .and_then(|a| self.http.servers.get(a.default_server))
            .map(|s| String::from_utf8_lossy(&s.name).into_owned())
            .unwrap_or_default();
        self.log_header_timeout(head, listen, &server);
    }

    /// nginx: the lines of a client closing between or inside request heads: "client
    /// closed connection" (ngx_http_wait_request_handler), "client prematurely closed
    /// connection" (ngx_http_read_request_header), "client ... closed keepalive connection"
    /// (ngx_http_keepalive_handler, without context).
    pub(crate) fn closed(&self, head: &[u8], served: bool) {
        if head.is_empty() && served {
            let client = self.remote.map(|a| a.ip().to_string()).unwrap_or_default();
            let msg = format!("*{} client {client} closed keepalive connection", self.id);
            self.log(&msg);
            return;
        }
        let a = self.http.addrs.get(self.addr);
        let listen = a.map(|a| a.text.as_str()).unwrap_or_default();
        let server = a
            .and_then(|a| self.http.servers.get(a.default_server))
            .map(|s| String::from_utf8_lossy(&s.name).into_owned())
            .unwrap_or_default();
        let what = if head.is_empty() {
            "client closed connection"
        } else {
            "client prematurely closed connection"
        };
        self.log_head_line(what, head, listen, &server);
    }

    fn log_header_timeout(&self, head: &[u8], listen: &str, server: &str) {
        self.log_head_line(
            "client timed out (110: Connection timed out)",
            head,
            listen,
            server,
        );
    }

    /// `what` in the context of a connection whose request head is `head` so far.
    fn log_head_line(&self, what: &str, head: &[u8], listen: &str, server: &str) {
        let client = self
            .remote
            .map(|a| format!(", client: {}", a.ip()))
            .unwrap_or_default();
        let start = head
            .iter()
            .position(|&c| c != b'\r' && c != b'\n')
            .unwrap_or(head.len());
        let read_any = !head.is_empty();
        let head = &head[start..];
        let msg = if !read_any {
            format!(
                "*{} {what} while waiting for request{client}, server: {listen}",
                self.id
            )
        } else if head.is_empty() {
            // Only empty lines: the request exists, its line has not started.
            format!(
                "*{} {what} while reading client request line{client}, server: {server}",
                self.id
            )
        } else {
            let line_end = head.iter().position(|&c| c == b'\r' || c == b'\n');
            let line = &head[..line_end.unwrap_or(head.len())];
            let action = if line_end.is_some() {
                "reading client request headers"
            } else {
                "reading client request line"
            };
            let mut msg = format!(
                "*{} {what} while {action}{client}, server: {server}, request: \"{}\"",
                self.id,
                String::from_utf8_lossy(line)
            );
            // A Host line already read completely is part of the context.
            let lines: Vec<&[u8]> = head.split(|&c| c == b'\n').collect();
            let complete = &lines[..lines.len().saturating_sub(1)];
            let host = complete.iter().skip(1).find_map(|l| {
                let l = l.strip_suffix(b"\r").unwrap_or(l);
                let colon = l.iter().position(|&c| c == b':')?;
                l[..colon]
                    .eq_ignore_ascii_case(b"host")
                    .then(|| l[colon + 1..].trim_ascii().to_vec())
            });
            if let Some(h) = host {
                msg.push_str(&format!(", host: \"{}\"", String::from_utf8_lossy(&h)));
            }
            msg
        };
        self.log(&msg);
    }
}

/// An HTTP/2 response body that tells the connection when it is finished (dropped by hyper).
struct Tracked {
    inner: crate::http::log_phase::Logged,
    shared: Rc<RefCell<Shared>>,
    /// HTTP/2 without `Content-Length`: the size is not told (hyper would add one).
    no_length: bool,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        finished(&self.shared);
    }
}

/// A request's response is done: the keep-alive timer may start.
fn finished(shared: &Rc<RefCell<Shared>>) {
    let mut sh = shared.borrow_mut();
    sh.busy = sh.busy.saturating_sub(1);
    sh.served += 1;
}

impl hyper::body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        if self.no_length {
            return hyper::body::SizeHint::default();
        }
        self.inner.size_hint()
    }
}

/// One HTTP/1.x connection (engine/src/http/h1.rs), each request through the phases.
#[allow(clippy::too_many_arguments)]
fn serve<S>(
    http: &Arc<Http>,
    graceful: &Rc<Conns>,
    stream: S,
    fd: Option<std::os::fd::RawFd>,
    addr: usize,
    remote: Option<std::net::SocketAddr>,
    local: Option<std::net::SocketAddr>,
    tls: Option<Rc<crate::http::ssl::TlsInfo>>,
    proxy: Option<Arc<crate::http::proxy_protocol::ProxyProtocol>>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    let id = CONNECTIONS.fetch_add(1, Ordering::Relaxed) + 1;
    let tls_conn = tls.is_some();
    if let Some(t) = tls {
        crate::http::ssl::register(id, t);
    }
    let server = http
        .addrs
        .get(addr)
        .and_then(|a| http.servers.get(a.default_server))
        .map(|s| s.conf.clone());
    let (limits, timeouts) = match &server {
        Some(c) => (Limits::of(c), Timeouts::of(c)),
        None => (
            Limits::of(&LocConf::default()),
            Timeouts::of(&LocConf::default()),
        ),
    };
    let shared = Rc::new(RefCell::new(Shared::new(timeouts)));
    shared.borrow_mut().error_log = server.as_ref().and_then(|c| c.error_log.clone());
    graceful.add(&shared);
    let conns = graceful.clone();
    let ctx = crate::http::h1::Ctx {
        id,
        fd,
        limits,
        timeouts,
        shared: shared.clone(),
        who: Who {
            id,
            remote,
            http: http.clone(),
            addr,
            shared: shared.clone(),
        },
    };
    let http = http.clone();
    // stub_status: counted from accept until the connection ends.
    let counted = crate::http::stub_status::ConnGuard::new();
    tokio::task::spawn_local(async move {
        let _counted = counted;
        let mut requests = 0u64;
        crate::http::h1::serve(stream, ctx, |head, req| {
            requests += 1;
            let conn = Conn {
                id,
                remote,
                local,
                requests,
                addr,
                proxy: proxy.clone(),
            };
            let (http, shared) = (http.clone(), shared.clone());
            async move { handle(http, conn, req, head, &shared).await.ok() }
        })
        .await;
        // nginx: the connection closes after its last request's mirror subrequests end.
        std::future::poll_fn(|cx| {
            if crate::http::mirror::conn_wait(id, cx) {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
        if tls_conn {
            crate::http::ssl::unregister(id);
        }
        conns.live.set(conns.live.get().saturating_sub(1));
    });
}

/// A connection just accepted on an `ssl` or `http2` address.
struct Accepted {
    http: Arc<Http>,
    graceful: Rc<Conns>,
    fd: std::os::fd::RawFd,
    addr: usize,
    remote: std::net::SocketAddr,
    local: Option<std::net::SocketAddr>,
    /// The PROXY protocol header read before TLS (`listen ... proxy_protocol`).
    proxy: Option<Arc<crate::http::proxy_protocol::ProxyProtocol>>,
}

/// nginx: ngx_http_ssl_handshake: the first byte tells TLS from plain HTTP (answered 497
/// by the request), the ClientHello's SNI name picks the server's certificate and client
/// verification (nginx: ngx_http_ssl_servername), then ALPN picks HTTP/2 or HTTP/1.x.
/// On a plain `http2` address the connection is HTTP/2 with prior knowledge (nginx 1.22:
/// ngx_http_v2_init straight away).
async fn accept_tls(
    c: Accepted,
    t: Arc<crate::http::ssl::TlsAddr>,
    mut stream: tokio::net::TcpStream,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let conf = c
        .http
        .addrs
        .get(c.addr)
        .and_then(|a| c.http.servers.get(a.default_server))
        .map(|s| s.conf.clone())
        .unwrap_or_default();
    let timeout = Timeouts::of(&conf).header;
    if !t.ssl {
        serve_h2(&c, stream, None, &t);
        return;
    }
    let mut first = [0u8; 1];
    match tokio::time::timeout(timeout, stream.peek(&mut first)).await {
        Ok(Ok(1)) => {}
        _ => return,
    }
    if first[0] != 0x16 && first[0] & 0x80 == 0 {
        let info = Rc::new(crate::http::ssl::plain_info());
        serve(
            &c.http,
            &c.graceful,
            stream,
            Some(c.fd),
            c.addr,
            Some(c.remote),
            c.local,
            Some(info),
            c.proxy.clone(),
        );
        return;
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut acceptor = rustls::server::Acceptor::default();
    let mut buf = vec![0u8; 16384];
    // The ClientHello's records as read, for the Lua TLS hooks (engine/src/http/lua/ssl.rs).
    let mut raw = Vec::new();
    let accepted = loop {
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return,
        };
        if raw.len() < 65536 {
            raw.extend_from_slice(&buf[..n]);
        }
        let mut rd = &buf[..n];
        while !rd.is_empty() {
            match acceptor.read_tls(&mut rd) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
        match acceptor.accept() {
            Ok(Some(a)) => break a,
            Ok(None) => continue,
            Err((_, mut alert)) => {
                let mut out = Vec::new();
                let _ = alert.write_all(&mut out);
                let _ = tokio::time::timeout_at(deadline, stream.write_all(&out)).await;
                return;
            }
        }
    };
    let sni = accepted.client_hello().server_name().map(str::to_string);
    // ssl_client_hello_by_lua*, ssl_certificate_by_lua*
    let peer = crate::http::lua::ssl::Peer {
        addr: c.addr,
        remote: c.remote,
        local: c.local,
        proxy: c.proxy.clone(),
    };
    let decided =
        crate::http::lua::ssl::hooks(&c.http, &t, &peer, &raw, sni.as_deref(), deadline).await;
    drop(raw);
    let mut lua_ctx = None;
    let mut after = None;
    let choice = match decided {
        None => t.choose(&c.http, sni.as_deref()),
        Some(crate::http::lua::ssl::Decision::Accept(cfg, h, ctx, store)) => {
            lua_ctx = ctx;
            after = store;
            crate::http::ssl::Handshake::Accept(cfg, h)
        }
        Some(crate::http::lua::ssl::Decision::Alert(alert)) => {
            let _ = tokio::time::timeout_at(deadline, stream.write_all(alert)).await;
            return;
        }
        Some(crate::http::lua::ssl::Decision::Close) => return,
    };
    let (cfg, sni_host) = match choice {
        crate::http::ssl::Handshake::Reject => {
            let alert = crate::http::ssl::REJECT_ALERT;
            let _ = tokio::time::timeout_at(deadline, stream.write_all(alert)).await;
            return;
        }
        crate::http::ssl::Handshake::Accept(cfg, sni_host) => (cfg, sni_host),
    };
    let start = tokio_rustls::StartHandshake::from_parts(accepted, stream);
    let tls = match tokio::time::timeout_at(deadline, start.into_stream(cfg)).await {
        Ok(Ok(s)) => s,
        _ => return,
    };
    let mut info = t.info(&c.http, tls.get_ref().1, sni_host);
    info.lua_ctx = lua_ctx;
    // ngx.ssl.verify_client, ssl_session_store_by_lua*: before any request.
    if let Some(a) = after {
        crate::http::lua::ssl::after_handshake(&c.http, &peer, a, tls.get_ref().1, &mut info).await;
    }
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let info = Rc::new(info);
    if h2 {
        serve_h2(&c, tls, Some(info), &t);
    } else {
        serve(
            &c.http,
            &c.graceful,
            tls,
            Some(c.fd),
            c.addr,
            Some(c.remote),
            c.local,
            Some(info),
            c.proxy.clone(),
        );
    }
}

/// A connection on a `proxy_protocol` address: its PROXY header first, then TLS or HTTP.
async fn accept_proxied(
    mut c: Accepted,
    tls: Option<Arc<crate::http::ssl::TlsAddr>>,
    mut stream: tokio::net::TcpStream,
) {
    let ssl = tls.as_ref().is_some_and(|t| t.ssl);
    let Some(pp) = read_proxy_header(&c.http, c.addr, Some(c.remote), &mut stream, ssl).await
    else {
        return;
    };
    c.proxy = pp;
    match tls {
        Some(t) => accept_tls(c, t, stream).await,
        None => serve(
            &c.http,
            &c.graceful,
            stream,
            Some(c.fd),
            c.addr,
            Some(c.remote),
            c.local,
            None,
            c.proxy.clone(),
        ),
    }
}

/// Reads a connection's PROXY header within the default server's `client_header_timeout`;
/// `None`: the connection is closed (after nginx's log line, in its context "while
/// reading PROXY protocol").
async fn read_proxy_header<S: crate::http::proxy_protocol::Peek>(
    http: &Arc<Http>,
    addr: usize,
    remote: Option<std::net::SocketAddr>,
    stream: &mut S,
    tls: bool,
) -> Option<Option<Arc<crate::http::proxy_protocol::ProxyProtocol>>> {
    use crate::http::proxy_protocol::{read, Outcome};
    let a = http.addrs.get(addr);
    let conf = a
        .and_then(|a| http.servers.get(a.default_server))
        .map(|s| s.conf.clone())
        .unwrap_or_default();
    let timeout = Timeouts::of(&conf).header;
    let buffer = Limits::of(&conf).buffer;
    match read(stream, tls, buffer, timeout).await {
        Outcome::Read(pp) => Some(pp.map(Arc::new)),
        Outcome::Close(line) => {
            // The connection had its number (nginx counts it at accept).
            let id = CONNECTIONS.fetch_add(1, Ordering::Relaxed) + 1;
            if let Some((level, msg)) = line {
                let client = remote
                    .map(|r| format!(", client: {}", r.ip()))
                    .unwrap_or_default();
                let listen = a.map(|a| a.text.as_str()).unwrap_or_default();
                crate::http::errlog::write(
                    level,
                    &format!("*{id} {msg} while reading PROXY protocol{client}, server: {listen}"),
                );
            }
            None
        }
    }
}

/// Runs hyper's HTTP/2 streams on the worker's thread.
#[derive(Clone, Copy)]
struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: Future + 'static,
{
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

/// The head nginx would have for an HTTP/2 request (nginx: ngx_http_v2_construct_request_line
/// and `:authority` as `Host`).
fn h2_head(req: &hyper::Request<hyper::body::Incoming>) -> Head {
    let method = req.method().as_str().as_bytes().to_vec();
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().as_bytes().to_vec())
        .unwrap_or_else(|| b"/".to_vec());
    let mut line = method.clone();
    line.push(b' ');
    line.extend_from_slice(&target);
    line.extend_from_slice(b" HTTP/2.0");
    let authority = req
        .uri()
        .authority()
        .filter(|_| req.headers().get(hyper::header::HOST).is_none())
        .map(|a| (&b"host"[..], a.as_str().as_bytes()));
    let headers = crate::http::req_headers::ReqHeaders::from_pairs(
        authority.into_iter().chain(
            req.headers()
                .iter()
                .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes())),
        ),
    );
    Head {
        line: line.into(),
        method: method.into(),
        target: target.into(),
        // The request's host is the URI's (`:authority`) before `Host`.
        line_host: req.uri().host().map(|h| h.as_bytes().to_vec()),
        version: 2000,
        headers,
        in_headers: true,
        ..Head::default()
    }
}

/// HTTP/2 has no connection-specific headers: they are left out here, keeping the order of
/// the others (hyper's own removal would reorder them).
fn h2_headers(headers: &mut hyper::HeaderMap) {
    let old = std::mem::take(headers);
    for (n, v) in old.iter() {
        if !matches!(
            n.as_str(),
            "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "upgrade"
        ) {
            headers.append(n.clone(), v.clone());
        }
    }
}

/// One HTTP/2 connection: hyper's h2 server with nginx's `http2_*` limits and protection
/// against abusive clients (rapid reset: `max_pending_accept_reset_streams` and
/// `max_local_error_reset_streams`; CONTINUATION floods: `max_header_list_size`; h2 itself
/// bounds SETTINGS and PING replies), each stream through the phases as HTTP/1.x requests.
fn serve_h2<S>(
    c: &Accepted,
    stream: S,
    tls: Option<Rc<crate::http::ssl::TlsInfo>>,
    t: &crate::http::ssl::TlsAddr,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    let id = CONNECTIONS.fetch_add(1, Ordering::Relaxed) + 1;
    let tls_conn = tls.is_some();
    if let Some(i) = tls {
        crate::http::ssl::register(id, i);
    }
    let conf = c
        .http
        .addrs
        .get(c.addr)
        .and_then(|a| c.http.servers.get(a.default_server))
        .map(|s| s.conf.clone())
        .unwrap_or_default();
    let shared = Rc::new(RefCell::new(Shared::new(Timeouts::of(&conf))));
    let requests = Rc::new(Cell::new(0u64));
    let max_requests = conf.keepalive_requests.unwrap_or(1000);
    let (http, addr, remote, local) = (c.http.clone(), c.addr, Some(c.remote), c.local);
    let proxy = c.proxy.clone();
    let shared2 = shared.clone();
    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let http = http.clone();
        let requests = requests.clone();
        let shared = shared.clone();
        let proxy = proxy.clone();
        async move {
            requests.set(requests.get() + 1);
            let conn = Conn {
                id,
                remote,
                local,
                requests: requests.get(),
                addr,
                proxy: proxy.clone(),
            };
            let head = h2_head(&req);
            // nginx >= 1.19.7: `keepalive_requests` streams, then GOAWAY (the connection's
            // own settings are the default server's).
            if requests.get() >= max_requests {
                shared.borrow().exit.notify_one();
            }
            shared.borrow_mut().busy += 1;
            let req = crate::http::h1::ReqBody::Hyper(req.into_body());
            match handle(http, conn, req, Box::new(head), &shared).await {
                Ok(answer) => {
                    let mut resp = answer.resp.into_hyper();
                    h2_headers(resp.headers_mut());
                    let no_length = !resp.headers().contains_key(hyper::header::CONTENT_LENGTH);
                    Ok(resp.map(|inner| Tracked {
                        inner,
                        shared: shared.clone(),
                        no_length,
                    }))
                }
                Err(e) => {
                    finished(&shared);
                    Err(e)
                }
            }
        }
    });
    let h = t.h2;
    let mut b = hyper::server::conn::http2::Builder::new(LocalExec);
    b.timer(TokioTimer::new())
        .max_concurrent_streams(h.max_concurrent_streams)
        .max_header_list_size(h.max_header_list_size)
        .initial_stream_window_size(h.initial_stream_window)
        .initial_connection_window_size(h.recv_buffer.max(65535))
        .max_send_buf_size(usize::try_from(h.chunk_size).unwrap_or(8192).max(1024))
        .max_pending_accept_reset_streams(Some(20))
        .max_local_error_reset_streams(Some(1024));
    let conn = b.serve_connection(TokioIo::new(stream), svc);
    c.graceful.add(&shared2);
    let conns = c.graceful.clone();
    let counted = crate::http::stub_status::ConnGuard::new();
    let exit = shared2.borrow().exit.clone();
    tokio::task::spawn_local(async move {
        let _counted = counted;
        let mut conn = std::pin::pin!(conn);
        let mut asked = false;
        // nginx >= 1.19.7: an HTTP/2 connection without streams for `keepalive_timeout`
        // is closed (GOAWAY); checked every half period.
        let idle = shared2.borrow().timeouts.keepalive;
        let tick = (idle / 2).max(Duration::from_millis(100));
        let mut last = (0u64, tokio::time::Instant::now());
        loop {
            tokio::select! {
                _ = conn.as_mut() => break,
                _ = exit.notified(), if !asked => {
                    conn.as_mut().graceful_shutdown();
                    asked = true;
                }
                _ = tokio::time::sleep(tick), if !asked => {
                    let (busy, served) = {
                        let sh = shared2.borrow();
                        (sh.busy, sh.served)
                    };
                    let now = tokio::time::Instant::now();
                    if busy > 0 || served != last.0 {
                        last = (served, now);
                    } else if now.duration_since(last.1) >= idle {
                        conn.as_mut().graceful_shutdown();
                        asked = true;
                    }
                }
            }
        }
        if tls_conn {
            crate::http::ssl::unregister(id);
        }
        conns.live.set(conns.live.get().saturating_sub(1));
    });
}

/// The error hyper closes a connection with when nginx would close without answering.
#[derive(Debug)]
struct CloseConnection;

impl std::fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed without a response")
    }
}

impl std::error::Error for CloseConnection {}

async fn handle(
    http: Arc<Http>,
    conn: Conn,
    req: crate::http::h1::ReqBody,
    mut head: Box<Head>,
    shared: &Rc<RefCell<Shared>>,
) -> Result<Box<crate::http::h1::Answer>, CloseConnection> {
    let _counted = crate::http::stub_status::RequestGuard::new();
    let connection = head.connection();
    let Some(mut r) = Request::new(http, conn, &mut head) else {
        return Err(CloseConnection);
    };
    // lua-nginx-module keeps the body for ngx.req.read_body.
    let guard = crate::http::lua::stash_body(&r, req);
    for note in &head.notes {
        crate::http::errlog::log(&r, crate::log::Level::Info, note);
    }
    let reply = match &head.error {
        Some((status, msg)) => {
            crate::http::errlog::log(&r, crate::log::Level::Info, msg);
            r.refused(*status).await
        }
        None => r.run().await,
    };
    // nginx: a body that cannot be read finalizes the request with its status.
    let body_error = shared.borrow_mut().body_error.take();
    let reply = match body_error {
        Some((status, msg)) => {
            crate::http::errlog::request_error(&r, msg);
            let mut reply = Reply::status(status);
            reply.close = true;
            reply
        }
        None => reply,
    };
    // lua-nginx-module: header_filter_by_lua* sees the response head first.
    // (Without any Lua handler in the configuration it returns the reply as is.)
    let reply = if crate::http::lua::used() {
        // headers-more's filter runs above Lua's (engine/src/http/headers_more.rs).
        let mut reply = reply;
        crate::http::headers_more::reply_filter(&r, &mut reply);
        crate::http::lua::header_filter(&mut r, reply).await
    } else {
        reply
    };
    // ngx_http_ssi_filter_module's body filter (async: `include` runs subrequests).
    let reply = match r.loc.ssi {
        Some(true) => crate::http::ssi::filter(&mut r, reply).await,
        _ => reply,
    };
    // add_before_body / add_after_body: subrequests around the body (http/addition.rs).
    let reply = match r.loc.addition.before.is_some() || r.loc.addition.after.is_some() {
        true => crate::http::addition::filter(&r, reply).await,
        false => reply,
    };
    {
        let mut sh = shared.borrow_mut();
        sh.timeouts = Timeouts::of(&r.loc);
        sh.error_log = r.loc.error_log.clone();
        sh.limit_rate = limit_rate(&r);
    }
    if reply.drop {
        // nginx: a terminated request (444, 499: the client went away) is logged too
        r.status = reply.status;
        if r.loc.lua_log.is_some() {
            crate::http::lua::log(&mut r).await;
        }
        crate::http::access_log::log(&r);
        drop(guard);
        return Err(CloseConnection);
    }
    r.status = reply.status;
    if reply.status == 101 {
        shared.borrow_mut().tunnel = true;
    }
    let max = r.loc.keepalive_requests.unwrap_or(1000);
    let keepalive = match connection {
        Some(k) => k,
        None => head.version > 1000,
    } && r.conn.requests < max
        && !shared.borrow().exiting
        && r.loc.keepalive_timeout != Some(Duration::ZERO);
    let close_after = reply.close || !keepalive;
    let bare_status = reply.status_line.as_ref().is_some_and(|l| l.len() <= 3) && head.version != 9;
    // nginx's special response: no body of the handler's and a status from 300 on.
    let special = reply.body.is_none() && reply.file.is_none() && reply.status >= 300;
    let mut resp = response::build(&r, reply, keepalive);
    // nginx: $status is what the header filters left (206 of the range filter, 304, 416).
    if !(494..=497).contains(&r.status) {
        r.status = resp.status;
    }
    let close_after = close_after
        || resp
            .header(&hyper::header::CONNECTION)
            .is_some_and(|v| v.as_bytes() == b"close");
    let ka_header = r.loc.keepalive_header.unwrap_or_default();
    if keepalive && !close_after && !ka_header.is_zero() {
        // nginx: `Keep-Alive: timeout=N` right after `Connection: keep-alive`.
        if let Ok(v) =
            hyper::header::HeaderValue::from_str(&format!("timeout={}", ka_header.as_secs()))
        {
            let mut i = 0;
            while i < resp.headers.len() {
                if resp.headers[i].0 == hyper::header::CONNECTION {
                    i += 1;
                    resp.headers.insert(
                        i,
                        (
                            hyper::header::HeaderName::from_static("keep-alive"),
                            v.clone(),
                        ),
                    );
                }
                i += 1;
            }
        }
    }
    // The log phase runs when the body is done (engine/src/http/log_phase.rs).
    let status = resp.status;
    let reason_len = if bare_status {
        0
    } else {
        resp.reason
            .as_ref()
            .map(Vec::len)
            .or_else(|| response::reason(status).map(str::len))
            .unwrap_or(0)
    };
    let head_only = r.method == hyper::Method::HEAD;
    let chunked = head.version > 1000
        && resp.has(&hyper::header::TRANSFER_ENCODING)
        && !head_only
        && !matches!(status, 204 | 304)
        && status >= 200;
    // The head is copied only when something may read `$sent_http_*` (the configuration or
    // Lua's ngx.var).
    let keep_headers = crate::http::lua::used() || crate::http::variables::sent_http_used();
    r.sent = Some(crate::http::log_phase::Sent {
        head_len: if head.version == 9 {
            0
        } else {
            crate::http::log_phase::head_len(reason_len, &resp.headers)
        },
        headers: if keep_headers {
            resp.headers.clone()
        } else {
            Vec::new()
        },
    });
    let resp = resp.map(move |body| crate::http::log_phase::Logged::new(body, r, guard, chunked));
    Ok(Box::new(crate::http::h1::Answer {
        resp,
        close: close_after,
        bare_status,
        special,
        head_only,
    }))
}
