//! ngx_http_mirror_module's timing, against the reference: the response goes out without
//! waiting for a slow mirror, but the request is finalized after it, so the connection is
//! closed (or reads its next request) only when the mirror subrequest ends.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Server, REFERENCE};

const LUA_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_lua_module.so";
const NDK_MODULE: &str = "/usr/lib/nginx/modules/ndk_http_module.so";

const CONF: &str = r#"
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log;
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:{PORT};
        location = /t { mirror /m; root html; }
        location /c { mirror /m; content_by_lua_block { ngx.say("chunked") } }
        location = /m { internal; proxy_pass http://127.0.0.1:{PORT}/slow; }
        location = /slow { content_by_lua_block { ngx.sleep(0.6) ngx.say("late") } }
    }
}
"#;

/// Whether `buf` holds one whole response (Content-Length or chunked).
fn complete(buf: &[u8]) -> bool {
    let text = String::from_utf8_lossy(buf).to_ascii_lowercase();
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    if head.contains("transfer-encoding: chunked") {
        return body.ends_with("0\r\n\r\n");
    }
    head.lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .is_some_and(|n| body.len() >= n)
}

/// Sends `raw` on `s`, returns the seconds until a whole response is read.
fn response_time(s: &mut std::net::TcpStream, raw: &str) -> f64 {
    let t0 = Instant::now();
    s.write_all(raw.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    while !complete(&buf) {
        let n = s.read(&mut tmp).unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    assert!(complete(&buf), "{}", String::from_utf8_lossy(&buf));
    t0.elapsed().as_secs_f64()
}

/// (response, end of connection) times of a `Connection: close` request, and the time of
/// a second keep-alive request after a first one.
fn timings(bin: &str, path: &str) -> (f64, f64, f64) {
    let server = Server::start(bin, CONF, &[("html/t", "static\n")]);
    let connect = || {
        let s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    };
    let mut s = connect();
    let t0 = Instant::now();
    let first = response_time(
        &mut s,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    );
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    let eof = t0.elapsed().as_secs_f64();
    let mut s = connect();
    response_time(&mut s, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
    let second = response_time(&mut s, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
    (first, eof, second)
}

#[test]
fn the_connection_waits_for_mirrors_the_response_does_not() {
    if !Path::new(LUA_MODULE).exists() || !Path::new(NDK_MODULE).exists() {
        eprintln!("skipped: no lua module for the reference's configuration");
        return;
    }
    let mut bins = vec![env!("CARGO_BIN_EXE_oxresty")];
    if Path::new(REFERENCE).exists() {
        bins.push(REFERENCE);
    }
    for bin in bins {
        for path in ["/t", "/c"] {
            let (first, eof, second) = timings(bin, path);
            assert!(
                first < 0.4,
                "{bin} {path}: the response waited ({first:.2}s)"
            );
            assert!(
                eof >= 0.5,
                "{bin} {path}: closed before the mirror ended ({eof:.2}s)"
            );
            assert!(
                second >= 0.5,
                "{bin} {path}: the next request did not wait for the mirror ({second:.2}s)"
            );
        }
    }
}
