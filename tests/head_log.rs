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
