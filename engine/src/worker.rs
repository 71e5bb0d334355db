//! Workers: `worker_processes N` threads, each a current-thread tokio runtime serving every
//! listening socket (nginx: ngx_worker_process_cycle), and the listening sockets they share,
//! kept open across reloads so no connection is refused while workers change.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;

use crate::cycle::ListenAddr;
use crate::http::lower::Http;
use crate::http::request::{Conn, Request};
use crate::http::response;

/// Open listening sockets by address (nginx: `cycle->listening`), inherited across reloads.
#[derive(Default)]
pub struct Listeners {
    tcp: HashMap<std::net::SocketAddr, std::net::TcpListener>,
    unix: HashMap<std::path::PathBuf, std::os::unix::net::UnixListener>,
}

impl Listeners {
    /// nginx: ngx_open_listening_sockets: binds what `http` needs and is not open yet, closes
    /// what it no longer needs. Returns nginx's error text on failure.
    pub(crate) fn sync(&mut self, http: &Http) -> Result<(), String> {
        let mut tcp = HashMap::new();
        let mut unix = HashMap::new();
        for a in &http.addrs {
            match &a.addr {
                ListenAddr::Inet(sa) => {
                    let l = match self.tcp.remove(sa) {
                        Some(l) => l,
                        None => bind_tcp(*sa, a.backlog).map_err(|e| {
                            format!(
                                "bind() to {} failed ({})",
                                a.text,
                                crate::log::errno_text(&e)
                            )
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
                                    a.text,
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
        Ok(())
    }
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
}

/// Connection numbers, process-wide (nginx: `ngx_connection_counter`).
static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

impl Workers {
    /// Starts `n` workers on `listeners` for `http`.
    pub(crate) fn start(
        http: Arc<Http>,
        listeners: &Listeners,
        n: usize,
        shutdown_timeout: Option<Duration>,
    ) -> std::io::Result<Workers> {
        let (stop, rx) = watch::channel(Stop::Running);
        let mut threads = Vec::new();
        for i in 0..n.max(1) {
            let mut tcp = Vec::new();
            for (idx, a) in http.addrs.iter().enumerate() {
                match &a.addr {
                    ListenAddr::Inet(sa) => {
                        if let Some(l) = listeners.tcp.get(sa) {
                            tcp.push((idx, Sock::Tcp(l.try_clone()?)));
                        }
                    }
                    ListenAddr::Unix(p) => {
                        if let Some(l) = listeners.unix.get(p) {
                            tcp.push((idx, Sock::Unix(l.try_clone()?)));
                        }
                    }
                }
            }
            let http = http.clone();
            let rx = rx.clone();
            let t = std::thread::Builder::new()
                .name(format!("oxresty-worker-{i}"))
                .spawn(move || worker(http, tcp, rx, shutdown_timeout))?;
            threads.push(t);
        }
        Ok(Workers { threads, stop })
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
}

/// nginx: ngx_worker_process_cycle, as a thread.
fn worker(
    http: Arc<Http>,
    socks: Vec<(usize, Sock)>,
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
        let graceful = Rc::new(hyper_util::server::graceful::GracefulShutdown::new());
        let mut accepts = Vec::new();
        for (idx, s) in socks {
            let http = http.clone();
            let graceful = graceful.clone();
            let mut rx = rx.clone();
            accepts.push(tokio::task::spawn_local(async move {
                match s {
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
                                    serve(&http, &graceful, stream, idx, Some(remote), local);
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
                                    let Ok((stream, _)) = a else { continue };
                                    serve(&http, &graceful, stream, idx, None, None);
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
        for a in accepts {
            a.abort();
        }
        if *rx.borrow() == Stop::Fast {
            return;
        }
        let Ok(graceful) = Rc::try_unwrap(graceful) else {
            return;
        };
        let drain = graceful.shutdown();
        match shutdown_timeout {
            Some(t) => {
                let _ = tokio::time::timeout(t, drain).await;
            }
            None => drain.await,
        }
    });
}

/// One connection: HTTP/1.x through hyper, each request through the phases.
fn serve<S>(
    http: &Arc<Http>,
    graceful: &hyper_util::server::graceful::GracefulShutdown,
    stream: S,
    addr: usize,
    remote: Option<std::net::SocketAddr>,
    local: Option<std::net::SocketAddr>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    let id = CONNECTIONS.fetch_add(1, Ordering::Relaxed) + 1;
    let server = http
        .addrs
        .get(addr)
        .and_then(|a| http.servers.get(a.default_server))
        .map(|s| s.conf.clone());
    let timeout = server
        .as_ref()
        .and_then(|c| c.keepalive_timeout)
        .unwrap_or(Duration::from_secs(75));
    let requests = Rc::new(Cell::new(0u64));
    let http2 = http.clone();
    let svc = service_fn(move |req| {
        let http = http2.clone();
        let requests = requests.clone();
        async move {
            requests.set(requests.get() + 1);
            let conn = Conn {
                id,
                remote,
                local,
                requests: requests.get(),
                addr,
            };
            handle(http, conn, req).await
        }
    });
    let mut b = http1::Builder::new();
    b.timer(TokioTimer::new())
        .keep_alive(true)
        .title_case_headers(true)
        .header_read_timeout(timeout);
    let conn = b.serve_connection(TokioIo::new(stream), svc);
    let conn = graceful.watch(conn);
    tokio::task::spawn_local(async move {
        let _ = conn.await;
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
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<response::Body>, CloseConnection> {
    let Some(mut r) = Request::new(http, conn, &req) else {
        return Err(CloseConnection);
    };
    let reply = r.run().await;
    if reply.drop {
        return Err(CloseConnection);
    }
    r.status = reply.status;
    let max = r.loc.keepalive_requests.unwrap_or(1000);
    let client_close = req
        .headers()
        .get(hyper::header::CONNECTION)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    let http10_keepalive = req
        .headers()
        .get(hyper::header::CONNECTION)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"keep-alive"));
    let keepalive = !client_close
        && r.conn.requests < max
        && r.loc.keepalive_timeout != Some(Duration::ZERO)
        && (r.version == hyper::Version::HTTP_11 || http10_keepalive);
    let resp = response::build(&r, reply, keepalive);
    r.body_bytes_sent = resp
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .filter(|_| r.method != hyper::Method::HEAD)
        .unwrap_or(0);
    crate::http::access_log::log(&r);
    Ok(resp)
}
