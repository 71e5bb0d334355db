//! The process lifecycle, black box: reloads under load, graceful quit with a request in
//! flight, log reopening, a bad configuration on reload, and nginx's notices (texts measured
//! on nginx 1.22.1 at `error_log ... notice`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::free_port;

/// A running oxresty, killed when dropped.
struct Server {
    child: Child,
    prefix: tempfile::TempDir,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn conf(port: u16, extra_main: &str) -> String {
    format!(
        "worker_processes 2;\nerror_log logs/error.log notice;\n{extra_main}\nevents {{}}\nhttp {{\n  \
         access_log logs/access.log;\n  server {{\n    listen 127.0.0.1:{port};\n    \
         location / {{ root html; }}\n  }}\n}}\n"
    )
}

fn start(extra_main: &str) -> Server {
    let prefix = tempfile::tempdir().expect("tempdir");
    let p = prefix.path();
    for d in ["conf", "logs", "html"] {
        std::fs::create_dir_all(p.join(d)).expect("mkdir");
    }
    let port = free_port();
    std::fs::write(p.join("conf/nginx.conf"), conf(port, extra_main)).expect("conf");
    std::fs::write(p.join("html/index.html"), "hello\n").expect("index");
    let big: Vec<u8> = (0..16u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(p.join("html/big.bin"), big).expect("big");
    let child = Command::new(env!("CARGO_BIN_EXE_oxresty"))
        .arg("-p")
        .arg(format!("{}/", p.display()))
        .args([
            "-c",
            "conf/nginx.conf",
            "-e",
            "logs/error.log",
            "-g",
            "daemon off;",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn oxresty");
    let s = Server {
        child,
        prefix,
        port,
    };
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    s
}

impl Server {
    fn path(&self, rel: &str) -> PathBuf {
        self.prefix.path().join(rel)
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{sig}");
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.path("logs/error.log")).unwrap_or_default()
    }

    /// Waits (bounded) until the error log contains `text`.
    fn wait_log(&self, text: &str) -> bool {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if self.error_log().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Waits (bounded) for the process to exit; its exit status.
    fn wait_exit(&mut self) -> Option<std::process::ExitStatus> {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// One `GET path` on a new connection; the status, or None when the request failed.
fn get(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

#[test]
fn reload_under_load_loses_no_request() {
    let srv = start("");
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let port = srv.port;
    let client = {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        std::thread::spawn(move || {
            let t = Instant::now();
            while !stop.load(Ordering::Relaxed) && t.elapsed() < Duration::from_secs(60) {
                match get(port, "/") {
                    Some(200) => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        })
    };
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(250));
        srv.signal("HUP");
    }
    std::thread::sleep(Duration::from_millis(250));
    stop.store(true, Ordering::Relaxed);
    let _ = client.join();
    assert_eq!(failed.load(Ordering::Relaxed), 0, "failed requests");
    assert!(ok.load(Ordering::Relaxed) > 10, "too few requests");
    let log = srv.error_log();
    assert_eq!(log.matches("reconfiguring\n").count(), 10, "{log}");
    assert!(log.contains("signal 1 (SIGHUP) received from "), "{log}");
    assert!(log.contains(": gracefully shutting down\n"), "{log}");
    assert!(log.contains(": start worker processes\n"), "{log}");
}

#[test]
fn graceful_quit_finishes_the_request_in_flight() {
    let mut srv = start("");
    let mut s = TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let mut got = vec![0u8; 64 * 1024];
    let n = s.read(&mut got).expect("first bytes");
    assert!(n > 0);
    got.truncate(n);
    srv.signal("QUIT");
    assert!(srv.wait_log("signal 3 (SIGQUIT) received from "));
    // A slow reader: the rest arrives although the server is shutting down.
    std::thread::sleep(Duration::from_millis(500));
    let mut rest = Vec::new();
    let t = Instant::now();
    let mut buf = vec![0u8; 256 * 1024];
    while t.elapsed() < Duration::from_secs(30) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => rest.extend_from_slice(&buf[..n]),
        }
    }
    got.extend_from_slice(&rest);
    let head_end = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    let head = String::from_utf8_lossy(&got[..head_end]).to_string();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert_eq!(got.len() - head_end, 16 << 20, "the whole body arrives");
    assert!(
        srv.wait_exit().is_some(),
        "the server exits after the request"
    );
    assert!(!srv.path("logs/nginx.pid").exists(), "pid file removed");
    let log = srv.error_log();
    assert!(log.contains(": gracefully shutting down\n"), "{log}");
    assert!(log.ends_with(": exit\n"), "{log}");
}

/// nginx on QUIT: ngx_close_idle_connections closes a keep-alive connection waiting for its
/// next request at once (not after keepalive_timeout), and the worker exits.
#[test]
fn graceful_quit_closes_an_idle_keepalive_connection() {
    let mut srv = start("");
    let mut s = TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(b"hello\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => panic!("the answer: {}", String::from_utf8_lossy(&got)),
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    assert!(String::from_utf8_lossy(&got).contains("Connection: keep-alive\r\n"));
    srv.signal("QUIT");
    let t = Instant::now();
    let end = s.read(&mut buf);
    assert!(matches!(end, Ok(0)), "closed by the server: {end:?}");
    assert!(t.elapsed() < Duration::from_secs(10), "closed at once");
    assert!(srv.wait_exit().is_some(), "the server exits");
}

#[test]
fn usr1_reopens_logs() {
    let srv = start("");
    assert_eq!(get(srv.port, "/"), Some(200));
    let log = srv.path("logs/access.log");
    let old = srv.path("logs/access.log.1");
    std::fs::rename(&log, &old).expect("rename");
    srv.signal("USR1");
    assert!(srv.wait_log("signal 10 (SIGUSR1) received from "));
    assert!(srv.wait_log(": reopening logs\n"));
    assert_eq!(get(srv.port, "/index.html"), Some(200));
    let t = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("GET /index.html")
    {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "no line in the new log"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let old_text = std::fs::read_to_string(&old).unwrap_or_default();
    assert!(old_text.contains("\"GET / HTTP/1.1\" 200"), "{old_text}");
    assert!(!old_text.contains("index.html"), "{old_text}");
}

#[test]
fn bad_config_on_reload_keeps_serving() {
    let srv = start("");
    let conf = srv.path("conf/nginx.conf");
    let mut text = std::fs::read_to_string(&conf).expect("conf");
    text.push_str("foo;\n");
    std::fs::write(&conf, &text).expect("conf");
    srv.signal("HUP");
    assert!(srv.wait_log("[emerg] "));
    let log = srv.error_log();
    let want = format!(
        ": unknown directive \"foo\" in {}:{}",
        conf.display(),
        text.lines().count()
    );
    let line = log
        .lines()
        .find(|l| l.contains("[emerg]"))
        .unwrap_or_default();
    assert!(line.ends_with(&want), "{log}");
    assert_eq!(
        get(srv.port, "/"),
        Some(200),
        "the old configuration serves"
    );
}

#[test]
fn term_stops_at_once() {
    let mut srv = start("");
    let mut s = TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");
    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let mut first = [0u8; 1024];
    let _ = s.read(&mut first);
    srv.signal("TERM");
    assert!(
        srv.wait_exit().is_some(),
        "TERM exits with a download pending"
    );
    let log = srv.error_log();
    assert!(log.contains("signal 15 (SIGTERM) received from "), "{log}");
    assert!(log.contains(", exiting\n"), "{log}");
    assert!(log.ends_with(": exit\n"), "{log}");
}
