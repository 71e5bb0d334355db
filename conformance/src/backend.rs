//! Test::Nginx::Socket's mock backends: `--- tcp_listen` (with `tcp_query`, `tcp_query_len`,
//! `tcp_reply`, `tcp_reply_delay`, `tcp_no_close`, `tcp_shutdown`) and `--- udp_listen`
//! (with `udp_query`, `udp_reply`, `udp_reply_delay`), run in threads next to the server
//! under test for the duration of a block. Every wait is bounded.
//!
//! The TCP server accepts connections one after another; for each it reads the query (up to
//! `tcp_query_len` bytes, else the length of `tcp_query`, else nothing), waits
//! `tcp_reply_delay`, writes the `tcp_reply` (a string, or each element of a list), then closes
//! the connection unless `tcp_no_close` is given (then it is kept open until the block ends).
//! The queries received are returned for the `tcp_query` check.

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The TCP backend of a block.
#[derive(Debug, Clone, Default)]
pub struct TcpSpec {
    /// A port on 127.0.0.1, or a unix socket path.
    pub listen: String,
    pub query: Option<Vec<u8>>,
    pub query_len: Option<usize>,
    pub reply: Vec<Vec<u8>>,
    pub reply_delay: Option<Duration>,
    pub no_close: bool,
    /// Shut the writing side down right after accepting (`--- tcp_shutdown: 1`).
    pub shutdown: bool,
}

/// The UDP backend of a block.
#[derive(Debug, Clone, Default)]
pub struct UdpSpec {
    /// A port on 127.0.0.1.
    pub listen: String,
    pub reply: Vec<Vec<u8>>,
    pub reply_delay: Option<Duration>,
}

/// Running backends.
pub struct Backends {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    tcp_seen: Arc<Mutex<Vec<Vec<u8>>>>,
    udp_seen: Arc<Mutex<Vec<Vec<u8>>>>,
}

trait Conn: Read + Write + Send {
    fn set_timeout(&self, d: Duration);
    fn shut_write(&self);
}

impl Conn for std::net::TcpStream {
    fn set_timeout(&self, d: Duration) {
        let _ = self.set_read_timeout(Some(d));
        let _ = self.set_write_timeout(Some(d));
    }
    fn shut_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

impl Conn for std::os::unix::net::UnixStream {
    fn set_timeout(&self, d: Duration) {
        let _ = self.set_read_timeout(Some(d));
        let _ = self.set_write_timeout(Some(d));
    }
    fn shut_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    fn accept(&self) -> Option<Box<dyn Conn>> {
        match self {
            Listener::Tcp(l) => l.accept().ok().map(|(s, _)| {
                let _ = s.set_nonblocking(false);
                Box::new(s) as Box<dyn Conn>
            }),
            Listener::Unix(l) => l.accept().ok().map(|(s, _)| {
                let _ = s.set_nonblocking(false);
                Box::new(s) as Box<dyn Conn>
            }),
        }
    }
}

/// One connection: read the query, reply, close (see the module docs).
fn serve_conn(
    mut c: Box<dyn Conn>,
    spec: &TcpSpec,
    seen: &Mutex<Vec<Vec<u8>>>,
    stop: &AtomicBool,
) -> Option<Box<dyn Conn>> {
    c.set_timeout(Duration::from_millis(100));
    if spec.shutdown {
        c.shut_write();
    }
    let want = spec
        .query_len
        .or(spec.query.as_ref().map(Vec::len))
        .unwrap_or(0);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut b = [0u8; 4096];
    while got.len() < want && Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
        match c.read(&mut b) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&b[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    if want > 0 {
        if let Ok(mut s) = seen.lock() {
            s.push(got);
        }
    }
    if let Some(d) = spec.reply_delay {
        std::thread::sleep(d.min(Duration::from_secs(5)));
    }
    c.set_timeout(Duration::from_secs(3));
    for part in &spec.reply {
        if c.write_all(part).is_err() {
            break;
        }
        let _ = c.flush();
    }
    if spec.no_close {
        Some(c)
    } else {
        None
    }
}

/// Starts the block's backends (before the server under test).
pub fn start(tcp: Option<TcpSpec>, udp: Option<UdpSpec>) -> Result<Backends, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let tcp_seen = Arc::new(Mutex::new(Vec::new()));
    let udp_seen = Arc::new(Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    if let Some(spec) = tcp {
        let l = if let Ok(port) = spec.listen.trim().parse::<u16>() {
            let l = TcpListener::bind(("127.0.0.1", port))
                .map_err(|e| format!("tcp_listen {port}: {e}"))?;
            l.set_nonblocking(true).map_err(|e| e.to_string())?;
            Listener::Tcp(l)
        } else {
            let path = spec.listen.trim().trim_start_matches("unix:").to_string();
            let _ = std::fs::remove_file(&path);
            let l = UnixListener::bind(&path).map_err(|e| format!("tcp_listen {path}: {e}"))?;
            l.set_nonblocking(true).map_err(|e| e.to_string())?;
            Listener::Unix(l)
        };
        let stop = stop.clone();
        let seen = tcp_seen.clone();
        threads.push(std::thread::spawn(move || {
            let mut kept = Vec::new();
            let end = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::SeqCst) && Instant::now() < end {
                match l.accept() {
                    Some(c) => {
                        if let Some(c) = serve_conn(c, &spec, &seen, &stop) {
                            kept.push(c);
                        }
                    }
                    None => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            drop(kept);
        }));
    }
    if let Some(spec) = udp {
        let port: u16 = spec
            .listen
            .trim()
            .parse()
            .map_err(|_| format!("bad udp_listen `{}`", spec.listen))?;
        let sock =
            UdpSocket::bind(("127.0.0.1", port)).map_err(|e| format!("udp_listen {port}: {e}"))?;
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .map_err(|e| e.to_string())?;
        let stop = stop.clone();
        let seen = udp_seen.clone();
        threads.push(std::thread::spawn(move || {
            let mut b = vec![0u8; 65536];
            let end = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::SeqCst) && Instant::now() < end {
                let Ok((n, from)) = sock.recv_from(&mut b) else {
                    continue;
                };
                if let Ok(mut s) = seen.lock() {
                    s.push(b[..n].to_vec());
                }
                if let Some(d) = spec.reply_delay {
                    std::thread::sleep(d.min(Duration::from_secs(5)));
                }
                for part in &spec.reply {
                    let _ = sock.send_to(part, from);
                }
            }
        }));
    }
    Ok(Backends {
        stop,
        threads,
        tcp_seen,
        udp_seen,
    })
}

impl Drop for Backends {
    /// A block that ends early (the server did not start) stops its backends too.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Backends {
    /// Stops the backends; the queries they received (TCP, UDP).
    pub fn finish(mut self) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let tcp = self.tcp_seen.lock().map(|v| v.clone()).unwrap_or_default();
        let udp = self.udp_seen.lock().map(|v| v.clone()).unwrap_or_default();
        (tcp, udp)
    }
}
