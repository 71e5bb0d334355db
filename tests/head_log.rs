//! The info-level lines nginx logs for refused or partly ignored request heads: the action
//! ("while reading client request line/headers"), the request line as sent, the offending
//! header. Checked against the expected lines, and against the reference when installed.

mod common;

use common::{Server, REFERENCE};

const CONF: &str = r#"
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log info;
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:{PORT};
        server_name localhost;
        location = /t { return 200 "ok\n"; }
    }
}
"#;

/// A request (one per connection) and the line nginx logs for it (without time and pids).
const CASES: &[(&str, &str)] = &[
    (
        "GET /../etc/passwd HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        "client sent invalid request while reading client request line, client: 127.0.0.1, server: localhost, request: \"GET /../etc/passwd HTTP/1.1\"",
    ),
    (
        "GET /t HTTP/1.1\r\nHost: localhost\r\nX@Bad: 1\r\nX-Ok: fine\r\nConnection: close\r\n\r\n",
        "client sent invalid header line: \"X@Bad: 1\" while reading client request headers, client: 127.0.0.1, server: localhost, request: \"GET /t HTTP/1.1\", host: \"localhost\"",
    ),
    (
        "GET /t HTTP/1.1\r\nConnection: close\r\n\r\n",
        "client sent HTTP/1.1 request without \"Host\" header while reading client request headers, client: 127.0.0.1, server: localhost, request: \"GET /t HTTP/1.1\"",
    ),
    (
        "get /t HTTP/1.1\r\nHost: x\r\n\r\n",
        "client sent invalid method while reading client request line, client: 127.0.0.1, server: localhost, request: \"get /t HTTP/1.1\"",
    ),
    (
        "GET /t HTTP/1.x\r\nHost: x\r\n\r\n",
        "client sent invalid request while reading client request line, client: 127.0.0.1, server: localhost, request: \"GET /t HTTP/1.x\"",
    ),
    (
        "GET /t HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        "client sent duplicate host header: \"Host: y\", previous value: \"Host: x\" while reading client request headers, client: 127.0.0.1, server: localhost, request: \"GET /t HTTP/1.1\", host: \"x\"",
    ),
    (
        "GET /t HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        "client sent invalid \"Content-Length\" header while reading client request headers, client: 127.0.0.1, server: localhost, request: \"GET /t HTTP/1.1\", host: \"x\"",
    ),
    (
        "GET /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        "client sent unknown \"Transfer-Encoding\": \"gzip\" while reading client request headers, client: 127.0.0.1, server: localhost, request: \"GET /t HTTP/1.1\", host: \"x\"",
    ),
    (
        "GET /t HTTP/1.1\r\nHost: x/y\r\n\r\n",
        "client sent invalid host header while reading client request headers, client: 127.0.0.1, server: localhost, request: \"GET /t HTTP/1.1\", host: \"x/y\"",
    ),
    (
        "GET /t HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time while reading client request headers, client: 127.0.0.1, server: localhost, request: \"GET /t HTTP/1.1\", host: \"x\"",
    ),
    (
        "GET /t HTTP/1.1\r\nHost: x\r\nBad\x01Name: 1\r\n\r\n",
        "client sent invalid header line: \"Bad\\x01...\" while reading client request headers, client: 127.0.0.1, server: localhost, request: \"GET /t HTTP/1.1\", host: \"x\"",
    ),
    (
        "GET http://a/b/../../.. HTTP/1.1\r\nHost: x\r\n\r\n",
        "client sent invalid request while reading client request line, client: 127.0.0.1, server: localhost, request: \"GET http://a/b/../../.. HTTP/1.1\"",
    ),
    (
        "GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n",
        "client sent invalid request while reading client request line, client: 127.0.0.1, server: localhost, request: \"GET /%zz HTTP/1.1\"",
    ),
];

fn lines(bin: &str) -> Vec<String> {
    let s = Server::start(bin, CONF, &[]);
    for (req, _) in CASES {
        let _ = s.exchange(req.as_bytes());
    }
    let log = s.file_when("logs/error.log", |t| {
        t.lines().filter(|l| l.contains("client sent")).count() >= CASES.len()
    });
    log.lines()
        .filter(|l| l.contains("client sent"))
        .filter_map(|l| l.split_once(" *").map(|(_, rest)| rest))
        .filter_map(|l| l.split_once(' ').map(|(_, rest)| rest.to_string()))
        .collect()
}

#[test]
fn refused_heads_are_logged_as_nginx_does() {
    let want: Vec<&str> = CASES.iter().map(|(_, l)| *l).collect();
    assert_eq!(lines(env!("CARGO_BIN_EXE_oxresty")), want);
    if std::path::Path::new(REFERENCE).exists() {
        assert_eq!(lines(REFERENCE), want, "the reference disagrees");
    }
}

const TIMEOUT_CONF: &str = r#"
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log info;
events {}
http {
    access_log off;
    client_header_timeout 1s;
    server {
        listen 127.0.0.1:{PORT};
        location = /t { return 200 "ok\n"; }
    }
}
"#;

/// What each connection sends before going quiet, and the line nginx logs when
/// client_header_timeout expires (`PORT`: the listening port).
const TIMEOUTS: &[(&str, &str)] = &[
    ("", "client timed out (110: Connection timed out) while waiting for request, client: 127.0.0.1, server: 127.0.0.1:PORT"),
    ("GET / HTT", "client timed out (110: Connection timed out) while reading client request line, client: 127.0.0.1, server: , request: \"GET / HTT\""),
    ("GET / HTTP/1.1\r\nHost: x\r\nX-A: partial", "client timed out (110: Connection timed out) while reading client request headers, client: 127.0.0.1, server: , request: \"GET / HTTP/1.1\", host: \"x\""),
    // An empty line made the request: its line is being read, not yet started.
    ("\r\n", "client timed out (110: Connection timed out) while reading client request line, client: 127.0.0.1, server: "),
];

fn timeout_lines(bin: &str) -> Vec<String> {
    use std::io::{Read, Write};
    let s = Server::start(bin, TIMEOUT_CONF, &[]);
    let clients: Vec<_> = TIMEOUTS
        .iter()
        .map(|(sent, _)| {
            let port = s.port;
            let sent = sent.to_string();
            std::thread::spawn(move || {
                let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                    .unwrap();
                c.write_all(sent.as_bytes()).unwrap();
                let mut out = Vec::new();
                let _ = c.read_to_end(&mut out);
                out
            })
        })
        .collect();
    for c in clients {
        // Nothing is answered: the connection is just closed.
        assert_eq!(c.join().unwrap(), b"");
    }
    let log = s.file_when("logs/error.log", |t| {
        t.lines().filter(|l| l.contains("timed out")).count() >= TIMEOUTS.len()
    });
    let mut lines: Vec<String> = log
        .lines()
        .filter(|l| l.contains("timed out"))
        .filter_map(|l| l.split_once(" *").map(|(_, rest)| rest))
        .filter_map(|l| l.split_once(' ').map(|(_, rest)| rest.to_string()))
        .map(|l| l.replace(&format!(":{}", s.port), ":PORT"))
        .collect();
    lines.sort();
    lines
}

#[test]
fn header_timeouts_are_logged_as_nginx_does() {
    let mut want: Vec<String> = TIMEOUTS.iter().map(|(_, l)| l.to_string()).collect();
    want.sort();
    assert_eq!(timeout_lines(env!("CARGO_BIN_EXE_oxresty")), want);
    if std::path::Path::new(REFERENCE).exists() {
        assert_eq!(timeout_lines(REFERENCE), want, "the reference disagrees");
    }
}

/// What each connection sends before the client closes it (`None`: a whole request first,
/// answered, then the close), and the line nginx logs at `info`.
const CLOSES: &[(Option<&str>, &str, &str)] = &[
    (None, "", "client closed connection while waiting for request, client: 127.0.0.1, server: 127.0.0.1:PORT"),
    (Some("GET /t HTTP/1.1\r\nHost: x\r\n\r\n"), "", "client 127.0.0.1 closed keepalive connection"),
    (None, "GET /t HT", "client prematurely closed connection while reading client request line, client: 127.0.0.1, server: localhost, request: \"GET /t HT\""),
    (None, "GET /t HTTP/1.1\r\nHost: x\r\nX-A: b", "client prematurely closed connection while reading client request headers, client: 127.0.0.1, server: localhost, request: \"GET /t HTTP/1.1\", host: \"x\""),
    (None, "\r\n", "client prematurely closed connection while reading client request line, client: 127.0.0.1, server: localhost"),
];

fn close_lines(bin: &str) -> Vec<String> {
    use std::io::{Read, Write};
    let s = Server::start(bin, CONF, &[]);
    for (request, partial, _) in CLOSES {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        if let Some(r) = request {
            c.write_all(r.as_bytes()).unwrap();
            let mut got = [0u8; 512];
            let n = c.read(&mut got).unwrap_or(0);
            assert!(got[..n].starts_with(b"HTTP/1.1 200"), "{bin}: no answer");
        }
        c.write_all(partial.as_bytes()).unwrap();
        // Let the server read what was sent before the end of input arrives.
        std::thread::sleep(std::time::Duration::from_millis(100));
        drop(c);
    }
    // Server::start's readiness probe was a connection closed before its request, too.
    let log = s.file_when("logs/error.log", |t| {
        t.lines().filter(|l| l.contains("closed")).count() > CLOSES.len()
    });
    let mut lines: Vec<String> = log
        .lines()
        .filter(|l| l.contains("closed"))
        .skip(1)
        .filter_map(|l| l.split_once(" *").map(|(_, rest)| rest))
        .filter_map(|l| l.split_once(' ').map(|(_, rest)| rest.to_string()))
        .map(|l| l.replace(&format!(":{}", s.port), ":PORT"))
        .collect();
    lines.sort();
    lines
}

#[test]
fn client_closes_are_logged_as_nginx_does() {
    let mut want: Vec<String> = CLOSES.iter().map(|(_, _, l)| l.to_string()).collect();
    want.sort();
    assert_eq!(close_lines(env!("CARGO_BIN_EXE_oxresty")), want);
    if std::path::Path::new(REFERENCE).exists() {
        assert_eq!(close_lines(REFERENCE), want, "the reference disagrees");
    }
}
