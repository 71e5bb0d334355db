//! The request URI as nginx checks and normalizes it (ngx_http_process_request_uri,
//! ngx_http_parse_complex_uri) as soon as the request line is read, before any header:
//! a refused URI wins over a bad header and is answered without waiting for the headers.
//! Checked against the expected answers and log lines, and against the reference when
//! installed.

mod common;

use common::{Server, REFERENCE};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

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
        location / { return 200 "uri=$uri args=$args\n"; }
    }
}
"#;

/// A request (one per connection), the start of the answer, and the line nginx logs for it
/// (without time and pids).
const REFUSED: &[(&str, &str, &str)] = &[
    // The URI is refused before the Transfer-Encoding nginx does not know (501).
    (
        "GET /../x HTTP/1.1\r\nTransfer-Encoding: gzip\r\nHost: x\r\n\r\n",
        "HTTP/1.1 400 ",
        "client sent invalid request while reading client request line, client: 127.0.0.1, server: localhost, request: \"GET /../x HTTP/1.1\"",
    ),
    // ... and before the Host header's check.
    (
        "GET /../x HTTP/1.1\r\nHost: a/b\r\n\r\n",
        "HTTP/1.1 400 ",
        "client sent invalid request while reading client request line, client: 127.0.0.1, server: localhost, request: \"GET /../x HTTP/1.1\"",
    ),
    // ... and before the request line's host.
    (
        "GET http://a..b/../x HTTP/1.1\r\nHost: x\r\n\r\n",
        "HTTP/1.1 400 ",
        "client sent invalid request while reading client request line, client: 127.0.0.1, server: localhost, request: \"GET http://a..b/../x HTTP/1.1\"",
    ),
    // The HTTP/0.9 method is checked first (by the request line's parser; an HTTP/0.9
    // answer has no status line).
    (
        "POST http://a..b/../x\r\n",
        "<html>",
        "client sent invalid method in HTTP/0.9 request while reading client request line, client: 127.0.0.1, server: localhost, request: \"POST http://a..b/../x\"",
    ),
        (
        "GET /a/../../x\r\n",
        "<html>",
        "client sent invalid request while reading client request line, client: 127.0.0.1, server: localhost, request: \"GET /a/../../x\"",
    ),
    (
        "GET /a%00 HTTP/1.0\r\nX@Bad: 1\r\n\r\n",
        "HTTP/1.1 400 ",
        "client sent invalid request while reading client request line, client: 127.0.0.1, server: localhost, request: \"GET /a%00 HTTP/1.0\"",
    ),
    // Decoded `%2F` and `%2E` are slashes and dots.
    (
        "GET /x/%2e%2e%2F.. HTTP/1.1\r\nHost: x\r\nContent-Length: z\r\n\r\n",
        "HTTP/1.1 400 ",
        "client sent invalid request while reading client request line, client: 127.0.0.1, server: localhost, request: \"GET /x/%2e%2e%2F.. HTTP/1.1\"",
    ),
    (
        "GET /a%?x HTTP/1.1\r\nHost: x\r\n\r\n",
        "HTTP/1.1 400 ",
        "client sent invalid request while reading client request line, client: 127.0.0.1, server: localhost, request: \"GET /a%?x HTTP/1.1\"",
    ),
];

fn refused(bin: &str) -> (Vec<String>, Vec<String>) {
    let s = Server::start(bin, CONF, &[]);
    let mut answers = Vec::new();
    for (req, start, _) in REFUSED {
        let out = s.exchange(req.as_bytes());
        let out = String::from_utf8_lossy(&out);
        answers.push(if out.starts_with(start) {
            start.to_string()
        } else {
            format!("{req:?}: {out}")
        });
    }
    let log = s.file_when("logs/error.log", |t| {
        t.lines().filter(|l| l.contains("client sent")).count() >= REFUSED.len()
    });
    let lines = log
        .lines()
        .filter(|l| l.contains("client sent"))
        .filter_map(|l| l.split_once(" *").map(|(_, rest)| rest))
        .filter_map(|l| l.split_once(' ').map(|(_, rest)| rest.to_string()))
        .collect();
    (answers, lines)
}

#[test]
fn a_bad_uri_is_refused_before_the_headers() {
    let want = (
        REFUSED.iter().map(|(_, a, _)| a.to_string()).collect(),
        REFUSED.iter().map(|(_, _, l)| l.to_string()).collect(),
    );
    assert_eq!(refused(env!("CARGO_BIN_EXE_oxresty")), want);
    if std::path::Path::new(REFERENCE).exists() {
        assert_eq!(refused(REFERENCE), want, "the reference disagrees");
    }
}

/// The request line alone, the connection left open: the answer comes at once (not when
/// the headers end or client_header_timeout expires), and the connection is closed.
fn request_line_alone(bin: &str) -> (String, bool) {
    let s = Server::start(bin, CONF, &[]);
    let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    c.write_all(b"GET /../x HTTP/1.1\r\n").unwrap();
    let t = Instant::now();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out);
    let status = out.lines().next().unwrap_or_default().to_string();
    (status, t.elapsed() < Duration::from_secs(2))
}

#[test]
fn a_bad_request_line_is_answered_at_once() {
    let want = ("HTTP/1.1 400 Bad Request".to_string(), true);
    assert_eq!(request_line_alone(env!("CARGO_BIN_EXE_oxresty")), want);
    if std::path::Path::new(REFERENCE).exists() {
        assert_eq!(
            request_line_alone(REFERENCE),
            want,
            "the reference disagrees"
        );
    }
}

/// Targets nginx accepts: the `$uri` and `$args` it makes of them.
const ACCEPTED: &[(&str, &str)] = &[
    ("/a?b#c", "uri=/a args=b"),
    ("/a#x?y", "uri=/a args="),
    ("/a/./b#c?d", "uri=/a/b args="),
    ("http://h?x", "uri=/ args=x"),
    ("http://h:8?x#y", "uri=/ args=x"),
    ("/a/b/..?x/../..", "uri=/a/ args=x/../.."),
    ("/a%2F%2Fb//c", "uri=/a/b/c args="),
    ("/a%2e%2E/b", "uri=/a../b args="),
    ("/%3F%23%25?q", "uri=/?#% args=q"),
    ("/a/.%2E/", "uri=/ args="),
    ("/a/b/%2E.?x", "uri=/a/ args=x"),
];

fn accepted(bin: &str) -> Vec<String> {
    let s = Server::start(bin, CONF, &[]);
    ACCEPTED
        .iter()
        .map(|(target, _)| {
            let out = s.exchange(format!("GET {target} HTTP/1.0\r\n\r\n").as_bytes());
            let out = String::from_utf8_lossy(&out);
            out.lines().last().unwrap_or_default().to_string()
        })
        .collect()
}

#[test]
fn uris_and_args_as_nginx_makes_them() {
    let want: Vec<String> = ACCEPTED.iter().map(|(_, w)| w.to_string()).collect();
    assert_eq!(accepted(env!("CARGO_BIN_EXE_oxresty")), want);
    if std::path::Path::new(REFERENCE).exists() {
        assert_eq!(accepted(REFERENCE), want, "the reference disagrees");
    }
}

/// Pipelined requests: the bad second one is refused (logged as a pipelined request line)
/// and the connection closed (the third is not served).
fn pipelined(bin: &str) -> Vec<String> {
    let s = Server::start(bin, CONF, &[]);
    let out = s.exchange(
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b/../../c HTTP/1.1\r\nHost: x\r\n\r\nGET /d HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let mut got: Vec<String> = String::from_utf8_lossy(&out)
        .lines()
        .filter(|l| l.starts_with("HTTP/") || l.starts_with("uri="))
        .map(str::to_string)
        .collect();
    // nginx's log context says the request line was a pipelined one.
    let log = s.file_when("logs/error.log", |t| t.contains("client sent"));
    got.extend(
        log.lines()
            .filter(|l| l.contains("client sent"))
            .filter_map(|l| l.split_once(" *").map(|(_, rest)| rest))
            .filter_map(|l| l.split_once(' ').map(|(_, rest)| rest.to_string())),
    );
    got
}

#[test]
fn a_bad_pipelined_request_ends_the_connection() {
    let want = [
        "HTTP/1.1 200 OK",
        "uri=/a args=",
        "HTTP/1.1 400 Bad Request",
        "client sent invalid request while reading client pipelined request line, client: 127.0.0.1, server: localhost, request: \"GET /b/../../c HTTP/1.1\"",
    ];
    assert_eq!(pipelined(env!("CARGO_BIN_EXE_oxresty")), want);
    if std::path::Path::new(REFERENCE).exists() {
        assert_eq!(pipelined(REFERENCE), want, "the reference disagrees");
    }
}
