//! The status line on the wire: nginx's reason phrases, `NNN ` (an empty reason) for codes
//! its table lacks, and a proxied upstream's own status line passed through. Checked byte
//! for byte against the expected lines, and against the reference when installed.

mod common;

use std::io::{Read, Write};

use common::{free_port, Server, REFERENCE};

const CONF: &str = r#"
worker_processes 1;
pid logs/nginx.pid;
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:{PORT};
        location /r203 { return 203 "x"; }
        location /r226 { return 226 "x"; }
        location /r299 { return 299 "x"; }
        location /r306 { return 306; }
        location /r418 { return 418; }
        location /r599 { return 599; }
        location /r404 { return 404; }
        location /up/ { proxy_pass http://127.0.0.1:{UP}/; }
    }
}
"#;

/// What the mock upstream answers for each path.
fn upstream_answer(path: &str) -> &'static [u8] {
    match path {
        "/fine" => b"HTTP/1.1 200 Fine Thanks\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
        "/nope" => b"HTTP/1.1 404 Nope\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno",
        "/bare" => b"HTTP/1.1 299\r\nContent-Length: 2\r\nConnection: close\r\n\r\nxx",
        _ => b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    }
}

/// A mock upstream answering `n` connections.
fn mock(port: u16, n: usize) -> std::thread::JoinHandle<()> {
    let l = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        for _ in 0..n {
            let Ok((mut c, _)) = l.accept() else { return };
            let mut buf = [0u8; 4096];
            let got = c.read(&mut buf).unwrap_or(0);
            let text = String::from_utf8_lossy(&buf[..got]).into_owned();
            let path = text.split(' ').nth(1).unwrap_or("/").to_string();
            let _ = c.write_all(upstream_answer(&path));
        }
    })
}

const CASES: &[(&str, &str)] = &[
    ("/r203", "HTTP/1.1 203 \r\n"),
    ("/r226", "HTTP/1.1 226 \r\n"),
    ("/r299", "HTTP/1.1 299 \r\n"),
    ("/r306", "HTTP/1.1 306 \r\n"),
    ("/r418", "HTTP/1.1 418 \r\n"),
    ("/r599", "HTTP/1.1 599 \r\n"),
    ("/r404", "HTTP/1.1 404 Not Found\r\n"),
    ("/up/fine", "HTTP/1.1 200 Fine Thanks\r\n"),
    ("/up/nope", "HTTP/1.1 404 Nope\r\n"),
    ("/up/bare", "HTTP/1.1 299\r\n"),
    ("/up/ok10", "HTTP/1.1 200 OK\r\n"),
];

fn lines(bin: &str) -> Vec<String> {
    let up = free_port();
    let upstream = mock(
        up,
        CASES.iter().filter(|(p, _)| p.starts_with("/up/")).count(),
    );
    let s = Server::start(bin, &CONF.replace("{UP}", &up.to_string()), &[]);
    let got = CASES
        .iter()
        .map(|(path, _)| {
            let raw = s.exchange(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes());
            let end = raw
                .windows(2)
                .position(|w| w == b"\r\n")
                .map_or(raw.len(), |i| i + 2);
            String::from_utf8_lossy(&raw[..end]).into_owned()
        })
        .collect();
    let _ = upstream.join();
    got
}

#[test]
fn status_lines_as_nginx_writes_them() {
    let want: Vec<&str> = CASES.iter().map(|(_, l)| *l).collect();
    assert_eq!(lines(env!("CARGO_BIN_EXE_oxresty")), want);
    if std::path::Path::new(REFERENCE).exists() {
        assert_eq!(lines(REFERENCE), want, "the reference disagrees");
    }
}
