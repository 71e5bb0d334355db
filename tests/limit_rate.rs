//! `limit_rate`, `limit_rate_after` and `$limit_rate`: the answer is written no faster than
//! the rate allows (nginx: ngx_http_write_filter's budget of rate x (seconds since the
//! request started + 1), past `limit_rate_after`), whatever the write path (sendfile, read
//! buffers, TLS-free HTTP/1.x). The bytes are those of the file.

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

mod common;
use common::{Server, REFERENCE};

const OXRESTY: &str = env!("CARGO_BIN_EXE_oxresty");

const CONF: &str = r#"worker_processes 1;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    server {
        listen 127.0.0.1:{PORT};
        root html;
        location /plain { alias html/f.bin; }
        location /rate { alias html/f.bin; limit_rate 40k; }
        location /sendfile { alias html/f.bin; sendfile on; limit_rate 40k; }
        location /after { alias html/f.bin; limit_rate 20k; limit_rate_after 100k; }
        location /var { alias html/f.bin; set $limit_rate 40k; }
        location /off { alias html/f.bin; limit_rate 40k; set $limit_rate 0; }
    }
}
"#;

/// Fetches `path` on a new connection: the body and how long it took.
fn fetch(port: u16, path: &str) -> (Vec<u8>, Duration) {
    let t0 = Instant::now();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let at = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    (out[at..].to_vec(), t0.elapsed())
}

fn check(bin: &str) {
    // 120000 ASCII bytes (the test server writes files from text): at 40k/s the budget is 40960 bytes in the request's first second and
    // 40960 more each second, so the answer takes more than 1.9 s.
    let data: Vec<u8> = (0..120_000u32).map(|i| (i * 7 % 127) as u8).collect();
    let text: String = data.iter().map(|&b| char::from(b)).collect();
    let s = Server::start(bin, CONF, &[("html/f.bin", &text)]);
    let (body, t) = fetch(s.port, "/plain");
    assert_eq!(body, data, "{bin} /plain");
    assert!(t < Duration::from_millis(900), "{bin} /plain took {t:?}");
    for path in ["/rate", "/sendfile", "/var"] {
        let (body, t) = fetch(s.port, path);
        assert_eq!(body, data, "{bin} {path}");
        assert!(t > Duration::from_millis(1400), "{bin} {path} took {t:?}");
        assert!(t < Duration::from_secs(6), "{bin} {path} took {t:?}");
    }
    // 100k free, then 20k at 20k/s: within the first second's budget
    let (body, t) = fetch(s.port, "/after");
    assert_eq!(body, data, "{bin} /after");
    assert!(t < Duration::from_millis(1900), "{bin} /after took {t:?}");
    let (body, t) = fetch(s.port, "/off");
    assert_eq!(body, data, "{bin} /off");
    assert!(t < Duration::from_millis(900), "{bin} /off took {t:?}");
}

#[test]
fn limit_rate_paces_answers() {
    check(OXRESTY);
    if Path::new(REFERENCE).exists() {
        check(REFERENCE);
    }
}
