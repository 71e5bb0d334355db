//! Static file bodies on every way out: sendfile(2) (`sendfile on`, HTTP/1.x on a plain
//! socket, `sendfile_max_chunk`), reads into the connection's buffer (`sendfile off`), and
//! the paths that must see the bytes (gzip, sub_filter, TLS, HTTP/2). A binary file of 3 MB
//! must arrive byte for byte on keep-alive connections, whole, in ranges (multipart too),
//! pipelined, with HEAD and 304 in between; the responses and the access log's `$status`
//! and `$body_bytes_sent` are compared with the reference's when it is installed.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Server, REFERENCE};

const CONF: &str = r#"
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    log_format f '$request $status $body_bytes_sent';
    access_log logs/access.log f;
    default_type application/octet-stream;
    types { text/plain txt; }
    server {
        listen 127.0.0.1:{PORT};
        root html;
        location /on/ { alias html/; sendfile on; }
        location /chunk/ { alias html/; sendfile on; sendfile_max_chunk 64k; }
        location /off/ { alias html/; sendfile off; }
        location /gz/ {
            alias html/;
            sendfile on;
            gzip on;
            gzip_types text/plain application/octet-stream;
            gzip_min_length 1;
        }
        location /sub/ {
            alias html/;
            sendfile on;
            sub_filter_types text/plain;
            sub_filter 'needle' 'NEEDLE';
        }
        location /slow/ { alias html/; sendfile on; send_timeout 1s; }
    }
}
"#;

/// The big file: 3 MB of deterministic pseudo-random bytes (not text).
fn big() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..3_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A text file for the filters: a needle in every line.
fn text() -> String {
    (0..20000)
        .map(|i| format!("line {i} with a needle in it\n"))
        .collect()
}

/// Starts `bin` with the files in place, all with the same modification time (the ETag
/// and Last-Modified of both servers agree).
fn start(bin: &str) -> Server {
    let s = Server::start(bin, CONF, &[("html/t.txt", &text())]);
    std::fs::write(s.dir.join("html/big.bin"), big()).unwrap();
    let when = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for f in ["html/big.bin", "html/t.txt"] {
        let file = std::fs::File::options()
            .write(true)
            .open(s.dir.join(f))
            .unwrap();
        file.set_modified(when).unwrap();
    }
    s
}

/// One response read from a connection: the head as text and the body (Content-Length,
/// chunked, or none for HEAD, 304 and the like).
struct Resp {
    head: String,
    body: Vec<u8>,
}

impl Resp {
    fn status(&self) -> &str {
        self.head.get(9..12).unwrap_or("")
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// A reader of responses from one connection.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn new(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Conn { s, buf: Vec::new() }
    }

    fn send(&mut self, raw: &str) {
        self.s.write_all(raw.as_bytes()).unwrap();
    }

    fn fill(&mut self) -> bool {
        let mut tmp = vec![0u8; 1 << 16];
        match self.s.read(&mut tmp) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(
                self.fill(),
                "connection ended {} bytes short",
                n - self.buf.len()
            );
        }
        self.buf.drain(..n).collect()
    }

    fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let l = self.take(i + 2);
                return String::from_utf8_lossy(&l[..i]).into_owned();
            }
            assert!(self.fill(), "connection ended in a line");
        }
    }

    /// The next response; `bodyless`: the request was HEAD.
    fn response(&mut self, bodyless: bool) -> Resp {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            assert!(self.fill(), "connection ended in a head");
        };
        let head = String::from_utf8_lossy(&self.take(end + 4)).into_owned();
        let mut r = Resp {
            head,
            body: Vec::new(),
        };
        let st = r.status().to_string();
        if bodyless || st == "304" || st == "204" {
            return r;
        }
        if r.header("transfer-encoding") == Some("chunked") {
            loop {
                let size = usize::from_str_radix(self.line().trim(), 16).unwrap();
                if size == 0 {
                    assert_eq!(self.line(), "");
                    break;
                }
                let d = self.take(size);
                r.body.extend_from_slice(&d);
                assert_eq!(self.line(), "");
            }
        } else if let Some(n) = r.header("content-length") {
            let n: usize = n.parse().unwrap();
            r.body = self.take(n);
        }
        r
    }
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n")
}

/// The head without Date, and the multipart boundary made constant.
fn normal_head(r: &Resp) -> String {
    let boundary = r
        .header("content-type")
        .and_then(|t| t.split_once("boundary="))
        .map(|(_, b)| b.to_string());
    let mut h: String = r
        .head
        .lines()
        .filter(|l| !l.starts_with("Date:"))
        .map(|l| format!("{l}\n"))
        .collect();
    if let Some(b) = boundary {
        h = h.replace(&b, "BOUNDARY");
    }
    h
}

fn normal_body(r: &Resp) -> Vec<u8> {
    let boundary = r
        .header("content-type")
        .and_then(|t| t.split_once("boundary="))
        .map(|(_, b)| b.to_string());
    match boundary {
        Some(b) => {
            let mut out = Vec::new();
            let mut rest = &r.body[..];
            while let Some(i) = rest.windows(b.len()).position(|w| w == b.as_bytes()) {
                out.extend_from_slice(&rest[..i]);
                out.extend_from_slice(b"BOUNDARY");
                rest = &rest[i + b.len()..];
            }
            out.extend_from_slice(rest);
            out
        }
        None => r.body.clone(),
    }
}

/// The exchanges on one keep-alive connection for location `loc`, each response checked
/// against the file, and returned (normalised) for the comparison with the reference.
fn keepalive_exchanges(port: u16, loc: &str) -> Vec<(String, Vec<u8>)> {
    let file = big();
    let big = format!("{loc}big.bin");
    let mut c = Conn::new(port);
    let mut out = Vec::new();
    let mut keep = |r: &Resp| out.push((normal_head(r), normal_body(r)));

    c.send(&get(&big, ""));
    let r = c.response(false);
    assert_eq!(r.status(), "200", "{loc}: {}", r.head);
    assert!(r.body == file, "{loc}: whole file differs");
    keep(&r);
    let etag = r.header("etag").unwrap_or_default().to_string();

    c.send(&get(&big, "Range: bytes=100-200000\r\n"));
    let r = c.response(false);
    assert_eq!(r.status(), "206", "{loc}: {}", r.head);
    assert!(r.body == file[100..=200000], "{loc}: range differs");
    keep(&r);

    c.send(&get(&big, "Range: bytes=-70000\r\n"));
    let r = c.response(false);
    assert!(r.body == file[file.len() - 70000..], "{loc}: suffix range");
    keep(&r);

    c.send(&get(&big, "Range: bytes=0-10,2000000-2100000\r\n"));
    let r = c.response(false);
    assert_eq!(r.status(), "206", "{loc}: {}", r.head);
    let body = normal_body(&r);
    let at = body
        .windows(11)
        .position(|w| w == &file[..11])
        .expect("first part");
    assert!(at > 0);
    assert!(
        body.windows(100_001)
            .any(|w| w == &file[2_000_000..=2_100_000]),
        "{loc}: second part"
    );
    keep(&r);

    c.send(&format!("HEAD {big} HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    let r = c.response(true);
    assert_eq!(r.header("content-length"), Some("3000000"));
    keep(&r);

    c.send(&get(&big, &format!("If-None-Match: {etag}\r\n")));
    let r = c.response(false);
    assert_eq!(r.status(), "304", "{loc}: {}", r.head);
    keep(&r);

    c.send(&get(
        &big,
        "If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n",
    ));
    let r = c.response(false);
    assert_eq!(r.status(), "304", "{loc}: {}", r.head);
    keep(&r);

    // Two requests in one write: the second's answer follows the whole first body.
    c.send(&format!(
        "{}{}",
        get(&big, ""),
        get(&format!("{loc}t.txt"), "")
    ));
    let r = c.response(false);
    assert!(r.body == file, "{loc}: pipelined file differs");
    keep(&r);
    let r = c.response(false);
    assert!(r.body == text().as_bytes(), "{loc}: text after the file");
    keep(&r);

    // HTTP/1.0: the body, then the close.
    let mut c = Conn::new(port);
    c.send(&format!("GET {big} HTTP/1.0\r\n\r\n"));
    let r = c.response(false);
    assert!(r.body == file, "{loc}: HTTP/1.0 body differs");
    assert!(!c.fill(), "{loc}: HTTP/1.0 connection stays open");
    keep(&r);
    out
}

/// The access log's lines, once `n` are there.
fn log_lines(s: &Server, n: usize) -> String {
    s.file_when("logs/access.log", |t| t.lines().count() >= n)
}

fn exchanges(port: u16) -> Vec<(String, Vec<u8>)> {
    let mut all = Vec::new();
    for loc in ["/on/", "/chunk/", "/off/"] {
        all.extend(keepalive_exchanges(port, loc));
    }
    all
}

#[test]
fn file_bodies_with_and_without_sendfile() {
    let ox = start(env!("CARGO_BIN_EXE_oxresty"));
    let got = exchanges(ox.port);
    let log = log_lines(&ox, 30);
    // $status is the status sent (the range filter's 206, the 304s), $body_bytes_sent what
    // went out after the head.
    let first: Vec<&str> = log.lines().take(10).collect();
    assert_eq!(
        first,
        [
            "GET /on/big.bin HTTP/1.1 200 3000000",
            "GET /on/big.bin HTTP/1.1 206 199901",
            "GET /on/big.bin HTTP/1.1 206 70000",
            first.get(3).copied().unwrap_or_default(),
            "HEAD /on/big.bin HTTP/1.1 200 0",
            "GET /on/big.bin HTTP/1.1 304 0",
            "GET /on/big.bin HTTP/1.1 304 0",
            "GET /on/big.bin HTTP/1.1 200 3000000",
            &format!("GET /on/t.txt HTTP/1.1 200 {}", text().len()),
            "GET /on/big.bin HTTP/1.0 200 3000000",
        ]
    );
    assert!(first[3].starts_with("GET /on/big.bin HTTP/1.1 206 "));
    if !Path::new(REFERENCE).exists() {
        eprintln!("skipped the comparison: no reference at {REFERENCE}");
        return;
    }
    let reference = start(REFERENCE);
    let want = exchanges(reference.port);
    assert_eq!(got.len(), want.len());
    for (i, ((gh, gb), (wh, wb))) in got.iter().zip(&want).enumerate() {
        assert_eq!(gh, wh, "response {i}: head");
        assert!(gb == wb, "response {i}: body differs from the reference's");
    }
    assert_eq!(log, log_lines(&reference, 30), "access log");
}

/// `gzip -dc` of `b`.
fn gunzip(b: &[u8]) -> Vec<u8> {
    use std::process::{Command, Stdio};
    let mut c = Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip");
    let mut stdin = c.stdin.take().expect("stdin");
    let data = b.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = c.wait_with_output().expect("gzip output");
    let _ = writer.join();
    assert!(out.status.success(), "not a valid gzip stream");
    out.stdout
}

#[test]
fn filters_see_the_file_bytes() {
    let ox = start(env!("CARGO_BIN_EXE_oxresty"));
    let mut c = Conn::new(ox.port);
    // gzip: the compressed body, chunked, from a file with sendfile on.
    c.send(&get("/gz/big.bin", "Accept-Encoding: gzip\r\n"));
    let r = c.response(false);
    assert_eq!(r.header("content-encoding"), Some("gzip"), "{}", r.head);
    assert!(gunzip(&r.body) == big(), "gunzipped body differs");
    // sub_filter: the text replaced.
    c.send(&get("/sub/t.txt", ""));
    let r = c.response(false);
    assert!(
        r.body == text().replacen("needle", "NEEDLE", 1).as_bytes(),
        "sub_filter's body differs: {}",
        String::from_utf8_lossy(&r.body[..r.body.len().min(200)])
    );
    // And the plain file after them on the same connection.
    c.send(&get("/on/big.bin", ""));
    assert!(c.response(false).body == big());
}

#[test]
fn a_slow_reader_does_not_stall_the_worker() {
    let ox = start(env!("CARGO_BIN_EXE_oxresty"));
    // A client that does not read yet: sendfile fills the socket and waits for it.
    let mut slow = Conn::new(ox.port);
    slow.send(&get("/chunk/big.bin", ""));
    std::thread::sleep(Duration::from_millis(300));
    // Meanwhile the one worker answers others.
    let t = Instant::now();
    let mut other = Conn::new(ox.port);
    other.send(&get("/on/t.txt", ""));
    assert!(other.response(false).body == text().as_bytes());
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // Then the slow reader gets all of it.
    let r = slow.response(false);
    assert!(r.body == big(), "slow reader's body differs");
}

#[test]
fn send_timeout_while_sendfile_waits() {
    let ox = start(env!("CARGO_BIN_EXE_oxresty"));
    // 256 MB (sparse): more than the socket buffers hold.
    let f = std::fs::File::create(ox.dir.join("html/huge.bin")).unwrap();
    f.set_len(256 << 20).unwrap();
    let mut c = Conn::new(ox.port);
    c.send(&get("/slow/huge.bin", ""));
    std::thread::sleep(Duration::from_millis(2500));
    // send_timeout 1s passed without progress: the server closed the connection.
    let t = Instant::now();
    let mut got = 0usize;
    while c.fill() {
        got += c.buf.len();
        c.buf.clear();
        assert!(t.elapsed() < Duration::from_secs(10), "still sending");
    }
    assert!(got < 256 << 20, "the whole file arrived: {got}");
    // The log line counts what went out before the timeout.
    let log = log_lines(&ox, 1);
    let sent: u64 = log
        .lines()
        .find_map(|l| l.strip_prefix("GET /slow/huge.bin HTTP/1.1 200 "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("access log: {log}"));
    assert!(sent > 0 && sent < 256 << 20, "access log: {log}");
}

/// TLS and HTTP/2 must see the file's bytes too (sendfile only serves plain sockets):
/// `curl` fetches the file whole, in a range and whole again on one connection, over
/// HTTP/1.1 and HTTP/2 on TLS.
#[test]
fn tls_and_http2_bodies() {
    use std::process::Command;
    let have = |c: &str, arg: &str| {
        Command::new(c)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !have("curl", "--version") || !have("openssl", "version") {
        eprintln!("skipped: no curl or openssl");
        return;
    }
    let tmp = std::env::temp_dir().join(format!("oxresty-sendfile-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(tmp.join("key.pem"))
        .arg("-out")
        .arg(tmp.join("cert.pem"))
        .output()
        .unwrap();
    assert!(made.status.success(), "openssl");
    let cert = std::fs::read_to_string(tmp.join("cert.pem")).unwrap();
    let key = std::fs::read_to_string(tmp.join("key.pem")).unwrap();
    let conf = CONF.replace(
        "        listen 127.0.0.1:{PORT};\n",
        "        listen 127.0.0.1:{PORT} ssl http2;\n        ssl_certificate cert.pem;\n        ssl_certificate_key key.pem;\n",
    );
    let ox = Server::start(
        env!("CARGO_BIN_EXE_oxresty"),
        &conf,
        &[("conf/cert.pem", &cert), ("conf/key.pem", &key)],
    );
    let file = big();
    std::fs::write(ox.dir.join("html/big.bin"), &file).unwrap();
    for (proto, loc) in [
        ("--http1.1", "/on/"),
        ("--http1.1", "/off/"),
        ("--http2", "/on/"),
        ("--http2", "/chunk/"),
    ] {
        let url = format!("https://127.0.0.1:{}{loc}big.bin", ox.port);
        let out = |n: &str| tmp.join(format!("{n}.out"));
        let opts = [
            "-sk",
            "--max-time",
            "20",
            proto,
            "-w",
            "%{http_version} %{num_connects}\n",
        ];
        // `--next`: the range is the second transfer's only (same connection).
        let got = Command::new("curl")
            .args(opts)
            .arg("-o")
            .arg(out("a"))
            .arg(&url)
            .arg("--next")
            .args(opts)
            .args(["-r", "100-200000", "-o"])
            .arg(out("b"))
            .arg(&url)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&got.stdout).into_owned();
        let want_version = if proto == "--http2" { "2" } else { "1.1" };
        assert_eq!(
            text,
            format!("{want_version} 1\n{want_version} 0\n"),
            "{proto} {loc}: one connection"
        );
        assert!(
            std::fs::read(out("a")).unwrap() == file,
            "{proto} {loc}: body"
        );
        assert!(
            std::fs::read(out("b")).unwrap() == file[100..=200000],
            "{proto} {loc}: range"
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
