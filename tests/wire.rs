//! Request heads and connections on the wire, black box: malformed and oversized requests get
//! nginx's status codes, keep-alive and pipelining behave as nginx's. Each case states the
//! reference's answer (measured on nginx 1.22.1); when /usr/sbin/nginx is installed the same
//! bytes are also sent to it live and the answers compared.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::free_port;

const NGINX: &str = "/usr/sbin/nginx";

/// A running server (oxresty or the reference), killed when dropped.
struct Server {
    child: Child,
    _prefix: tempfile::TempDir,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const CONF: &str = "worker_processes 1;
error_log logs/error.log info;
pid logs/nginx.pid;
events {}
http {
    access_log off;
    client_header_timeout 1s;
    server {
        listen 127.0.0.1:PORT;
        location / { root html; }
        location /ka { keepalive_timeout 75 60; root html; }
        location /ka0 { keepalive_timeout 0; root html; }
        location /kr { keepalive_requests 2; root html; }
        location /small { client_max_body_size 10; root html; }
        location /r/ { return 204; }
        location /kt { keepalive_timeout 1s; return 204; }
    }
    server {
        listen 127.0.0.1:PORT2;
        client_header_buffer_size 128;
        large_client_header_buffers 2 512;
        underscores_in_headers on;
        ignore_invalid_headers off;
        location / { return 200 \"[$http_x_under][$http_x_y]\"; }
    }
}
";

fn start(bin: &str) -> Option<(Server, u16)> {
    let prefix = tempfile::tempdir().ok()?;
    let p = prefix.path();
    for d in [
        "conf",
        "logs",
        "html",
        "html/ka",
        "html/ka0",
        "html/kr",
        "html/small",
    ] {
        std::fs::create_dir_all(p.join(d)).ok()?;
    }
    for f in [
        "index.html",
        "ka/index.html",
        "ka0/index.html",
        "kr/index.html",
    ] {
        std::fs::write(p.join("html").join(f), "hello\n").ok()?;
    }
    let (port, port2) = (free_port(), free_port());
    let conf = CONF
        .replace("PORT2", &port2.to_string())
        .replace("PORT", &port.to_string());
    std::fs::write(p.join("conf/nginx.conf"), conf).ok()?;
    let child = Command::new(bin)
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
        .ok()?;
    let s = Server {
        child,
        _prefix: prefix,
        port,
    };
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err()
        || TcpStream::connect(("127.0.0.1", port2)).is_err()
    {
        if t.elapsed() > Duration::from_secs(10) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some((s, port2))
}

/// Sends `req` and reads until the server closes or is quiet for `quiet`.
fn exchange(port: u16, req: &[u8], quiet: Duration) -> (Vec<u8>, bool) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (Vec::new(), false);
    };
    let _ = s.set_read_timeout(Some(quiet));
    let _ = s.write_all(req);
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    let t = Instant::now();
    let mut closed = false;
    while t.elapsed() < Duration::from_secs(10) {
        match s.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                closed = true;
                break;
            }
            Err(_) => break,
        }
    }
    (out, closed)
}

/// The status codes of every response in `out`, in order.
fn statuses(out: &[u8]) -> Vec<u16> {
    let text = String::from_utf8_lossy(out);
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

fn header<'a>(out: &'a [u8], name: &str) -> Option<&'a str> {
    let text = std::str::from_utf8(out).ok()?;
    let head = &text[..text.find("\r\n\r\n")?];
    head.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
}

/// (request, statuses nginx answers with, whether nginx closes the connection).
fn cases() -> Vec<(Vec<u8>, Vec<u16>, bool)> {
    let long = |n: usize| {
        let path = "/abcdefghi".repeat(n / 10);
        format!("GET /r{path} HTTP/1.1\r\nHost: x\r\n\r\n")
    };
    let hdr = |n: usize| format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n", "a".repeat(n));
    let many = |k: usize| {
        let mut s = "GET / HTTP/1.1\r\nHost: x\r\n".to_string();
        for i in 0..k {
            s.push_str(&format!("X{i}: {}\r\n", "a".repeat(7000)));
        }
        s + "\r\n"
    };
    let c = |r: &str, st: &[u16], close: bool| (r.as_bytes().to_vec(), st.to_vec(), close);
    vec![
        c("GET / HTTP/1.1\r\n\r\n", &[400], true),
        c("GET / HTTP/1.0\r\n\r\n", &[200], true),
        c("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &[200], false),
        c("GET http://x/ HTTP/1.1\r\n\r\n", &[400], true),
        c("GET http://x/ HTTP/1.1\r\nHost: y\r\n\r\n", &[200], false),
        c("GET https://x:443/index.html HTTP/1.1\r\n\r\n", &[400], true),
        c(
            "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            &[400],
            true,
        ),
        c("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", &[501], true),
        c("GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", &[400], true),
        c("GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", &[400], true),
        c("GET / HTTP/1.1\r\nHost: x\r\n: y\r\n\r\n", &[400], true),
        c("GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", &[200], false),
        c("GET / HTTP/1.1\r\nHost: x\r\nX_Under: y\r\n\r\n", &[200], false),
        c("GET / HTTP/1.1\r\nHost: x\r\nX: \x01\r\n\r\n", &[200], false),
        c("GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", &[400], true),
        c("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", &[400], true),
        c("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", &[400], true),
        c("GET / HTTP/1.1\r\nHost: \r\n\r\n", &[400], true),
        c(
            "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
            &[400],
            true,
        ),
        c("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", &[400], true),
        c("garbage\r\n\r\n", &[400], true),
        c("get / HTTP/1.1\r\nHost: x\r\n\r\n", &[400], true),
        c("GET x HTTP/1.1\r\nHost: x\r\n\r\n", &[400], true),
        c("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", &[400], true),
        c("GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n", &[400], true),
        c("GET / HTTP/2.0\r\nHost: x\r\n\r\n", &[505], true),
        c("GET / HTTP/1.2\r\nHost: x\r\n\r\n", &[200], false),
        c("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", &[400], true),
        c("CONNECT x:80 HTTP/1.1\r\nHost: x\r\n\r\n", &[400], true),
        c("TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", &[405], true),
        c("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", &[200], false),
        c("GET / HTTP/1.1\nHost: x\n\n", &[200], false),
        (long(8000).into_bytes(), vec![204], false),
        (long(8180).into_bytes(), vec![414], true),
        (long(8170).into_bytes(), vec![204], false),
        (hdr(8185).into_bytes(), vec![200], false),
        (hdr(8200).into_bytes(), vec![400], true),
        (many(4).into_bytes(), vec![200], false),
        (many(5).into_bytes(), vec![400], true),
        c(
            "POST /small/ HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
            &[413],
            true,
        ),
        c("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &[200], true),
        c(
            "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            &[200, 404, 200],
            true,
        ),
        c(
            "GET /kr/ HTTP/1.1\r\nHost: x\r\n\r\nGET /kr/ HTTP/1.1\r\nHost: x\r\n\r\nGET /kr/ HTTP/1.1\r\nHost: x\r\n\r\n",
            &[200, 200],
            true,
        ),
        c("GET /ka0/ HTTP/1.1\r\nHost: x\r\n\r\n", &[200], true),
    ]
}

/// The small-buffer server: its own limits and header rules.
fn small_cases() -> Vec<(Vec<u8>, Vec<u16>, bool)> {
    let c = |r: String, st: &[u16], close: bool| (r.into_bytes(), st.to_vec(), close);
    vec![
        c(
            format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(400)),
            &[200],
            false,
        ),
        c(
            format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(600)),
            &[414],
            true,
        ),
        c(
            format!(
                "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
                "a".repeat(480)
            ),
            &[200],
            false,
        ),
        c(
            format!(
                "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
                "a".repeat(520)
            ),
            &[400],
            true,
        ),
        c(
            "GET / HTTP/1.1\r\nHost: x\r\nX_Under: u\r\nX@Y: v\r\n\r\n".to_string(),
            &[200],
            false,
        ),
    ]
}

fn check(port: u16, cases: &[(Vec<u8>, Vec<u16>, bool)], who: &str) {
    for (req, want, close) in cases {
        let (out, closed) = exchange(port, req, Duration::from_millis(300));
        let shown = String::from_utf8_lossy(&req[..req.len().min(80)]).to_string();
        assert_eq!(&statuses(&out), want, "{who}: {shown:?}");
        assert_eq!(closed, *close, "{who}: connection closed? {shown:?}");
    }
}

#[test]
fn heads_get_nginx_statuses() {
    let Some((ox, ox2)) = start(env!("CARGO_BIN_EXE_oxresty")) else {
        panic!("oxresty did not start");
    };
    check(ox.port, &cases(), "oxresty");
    check(ox2, &small_cases(), "oxresty");
    if std::path::Path::new(NGINX).exists() {
        let Some((ngx, ngx2)) = start(NGINX) else {
            panic!("nginx did not start");
        };
        check(ngx.port, &cases(), "nginx");
        check(ngx2, &small_cases(), "nginx");
    }
}

#[test]
fn keepalive_header_and_pages() {
    let Some((ox, _)) = start(env!("CARGO_BIN_EXE_oxresty")) else {
        panic!("oxresty did not start");
    };
    let mut servers = vec![("oxresty", ox)];
    if std::path::Path::new(NGINX).exists() {
        if let Some((ngx, _)) = start(NGINX) {
            servers.push(("nginx", ngx));
        }
    }
    for (who, s) in &servers {
        let (out, _) = exchange(
            s.port,
            b"GET /ka/ HTTP/1.1\r\nHost: x\r\n\r\n",
            Duration::from_millis(200),
        );
        assert_eq!(header(&out, "Keep-Alive"), Some("timeout=60"), "{who}");
        let (out, _) = exchange(
            s.port,
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            Duration::from_millis(200),
        );
        assert_eq!(header(&out, "Keep-Alive"), None, "{who}");
        // 494 is sent as 400 with its own page.
        let req = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
            "a".repeat(9000)
        );
        let (out, _) = exchange(s.port, req.as_bytes(), Duration::from_millis(300));
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{who}: {text}"
        );
        assert!(
            text.contains("<center>Request Header Or Cookie Too Large</center>"),
            "{who}: {text}"
        );
        let (out, _) = exchange(
            s.port,
            b"GET / HTTP/3.0\r\n\r\n",
            Duration::from_millis(300),
        );
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.contains("<title>505 HTTP Version Not Supported</title>"),
            "{who}: {text}"
        );
        // HTTP/0.9: the body alone.
        let (out, closed) = exchange(s.port, b"GET /\r\n", Duration::from_millis(300));
        assert_eq!(out, b"hello\n", "{who}");
        assert!(closed, "{who}");
    }
}

#[test]
fn header_timeout_closes_without_answer() {
    let Some((ox, _)) = start(env!("CARGO_BIN_EXE_oxresty")) else {
        panic!("oxresty did not start");
    };
    let mut servers = vec![("oxresty", ox)];
    if std::path::Path::new(NGINX).exists() {
        if let Some((ngx, _)) = start(NGINX) {
            servers.push(("nginx", ngx));
        }
    }
    for (who, s) in &servers {
        for partial in [&b""[..], b"GET / HTTP/1.1\r\n"] {
            let t = Instant::now();
            let (out, closed) = exchange(s.port, partial, Duration::from_secs(4));
            let took = t.elapsed();
            assert!(out.is_empty(), "{who}: {out:?}");
            assert!(closed, "{who}");
            assert!(
                took >= Duration::from_millis(800) && took < Duration::from_secs(3),
                "{who}: closed after {took:?}"
            );
        }
    }
}

/// keepalive_timeout runs from the end of the last request: a second request half-way
/// through the first wait moves the close to a full period after it.
#[test]
fn keepalive_timeout_from_the_last_request() {
    let Some((ox, _)) = start(env!("CARGO_BIN_EXE_oxresty")) else {
        panic!("oxresty did not start");
    };
    let mut servers = vec![("oxresty", ox)];
    if std::path::Path::new(NGINX).exists() {
        if let Some((ngx, _)) = start(NGINX) {
            servers.push(("nginx", ngx));
        }
    }
    for (who, srv) in &servers {
        let mut s = TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = [0u8; 1024];
        for _ in 0..2 {
            s.write_all(b"GET /kt HTTP/1.1\r\nHost: x\r\n\r\n")
                .expect("send");
            let mut got = Vec::new();
            while !got.ends_with(b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => panic!("{who}: {}", String::from_utf8_lossy(&got)),
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            assert!(got.starts_with(b"HTTP/1.1 204"), "{who}");
            std::thread::sleep(Duration::from_millis(600));
        }
        let t = Instant::now();
        let end = s.read(&mut buf);
        let took = t.elapsed() + Duration::from_millis(600);
        assert!(matches!(end, Ok(0)), "{who}: {end:?}");
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(3),
            "{who}: closed {took:?} after the second answer"
        );
    }
}
