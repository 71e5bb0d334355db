//! `proxy_request_buffering off` end to end: a client sends its body slowly and the backend
//! must see the request head (and the first pieces) before the client has finished, while
//! with buffering on it sees nothing until the whole body is in; the access log's
//! `$upstream_response_length`, `$upstream_bytes_sent` and `$upstream_bytes_received` are
//! the final figures. Runs on oxresty and, when installed, on the reference. Bounds are
//! generous: this checks order, not speed.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Server, REFERENCE};

/// What a backend connection received: when the request head was complete, when the body
/// was, and the bytes.
struct Seen {
    head_at: Instant,
    end_at: Instant,
    bytes: Vec<u8>,
}

/// A backend answering each request (after its whole body, Content-Length or chunked) with
/// `ok\n`; reports what it saw.
fn backend() -> (u16, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
            let mut buf = Vec::new();
            let mut tmp = [0u8; 4096];
            let mut head_at = None;
            loop {
                let n = match c.read(&mut tmp) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&tmp[..n]);
                let Some(h) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                head_at.get_or_insert_with(Instant::now);
                let head = String::from_utf8_lossy(&buf[..h]).to_ascii_lowercase();
                let body = &buf[h + 4..];
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok());
                let done = match len {
                    Some(n) => body.len() >= n,
                    None if head.contains("chunked") => body.ends_with(b"0\r\n\r\n"),
                    None => true,
                };
                if done {
                    break;
                }
            }
            let end_at = Instant::now();
            let _ = c.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n",
            );
            let _ = tx.send(Seen {
                head_at: head_at.unwrap_or(end_at),
                end_at,
                bytes: buf,
            });
        }
    });
    (port, rx)
}

const CONF: &str = r#"
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log;
events {}
http {
    log_format up '$request_uri $status $upstream_response_length $upstream_bytes_sent $upstream_bytes_received';
    access_log logs/access.log up;
    server {
        listen 127.0.0.1:{PORT};
        location /off {
            proxy_request_buffering off;
            proxy_http_version 1.1;
            proxy_pass http://127.0.0.1:{BACKEND};
        }
        location /on {
            proxy_http_version 1.1;
            proxy_pass http://127.0.0.1:{BACKEND};
        }
    }
}
"#;

/// Sends a POST to `path` with its body in three pieces 300 ms apart (chunked or with a
/// length); returns the answer and when the last piece went.
fn slow_post(port: u16, path: &str, chunked: bool) -> (String, Instant) {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let framing = if chunked {
        "Transfer-Encoding: chunked"
    } else {
        "Content-Length: 15"
    };
    c.write_all(
        format!("POST {path} HTTP/1.1\r\nHost: x\r\n{framing}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    for part in ["aaaaa", "bbbbb", "ccccc"] {
        std::thread::sleep(Duration::from_millis(300));
        let piece = if chunked {
            format!("5\r\n{part}\r\n")
        } else {
            part.to_string()
        };
        c.write_all(piece.as_bytes()).unwrap();
    }
    if chunked {
        std::thread::sleep(Duration::from_millis(300));
        c.write_all(b"0\r\n\r\n").unwrap();
    }
    let last = Instant::now();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    (String::from_utf8_lossy(&out).into_owned(), last)
}

/// For /off and /on, chunked and not: whether the backend had the head before the client's
/// last piece, the bytes it got (the Host line's port masked), and the access log.
fn run(bin: &str) -> (Vec<(String, bool, String)>, String, u16) {
    let (bport, seen) = backend();
    let conf = CONF.replace("{BACKEND}", &bport.to_string());
    let s = Server::start(bin, &conf, &[]);
    let mut out = Vec::new();
    for path in ["/off", "/on"] {
        for chunked in [true, false] {
            let (answer, last) = slow_post(s.port, path, chunked);
            assert!(answer.ends_with("\r\n\r\nok\n"), "{bin} {path}: {answer}");
            let got = seen
                .recv_timeout(Duration::from_secs(10))
                .expect("the backend saw no request");
            // The head came at least 300 ms before the client's last piece (two more pieces
            // were still to come), or only after it.
            let early = got.head_at + Duration::from_millis(300) < last;
            assert!(got.end_at + Duration::from_millis(5) >= got.head_at);
            let bytes = String::from_utf8_lossy(&got.bytes).replace(&format!(":{bport}"), ":B");
            out.push((format!("{path} chunked={chunked}"), early, bytes));
        }
    }
    let log = s.file_when("logs/access.log", |t| t.lines().count() >= 4);
    (out, log, bport)
}

/// The access log lines for what the backend got: the response was 57 bytes of head and 3 of
/// body; the request bytes are as received (the masked port back to its digits).
fn log_for(want: &[(String, bool, String)], bport: u16) -> String {
    let port_len = bport.to_string().len();
    want.iter()
        .map(|(what, _, bytes)| {
            let path = what.split(' ').next().unwrap_or_default();
            format!("{path} 200 3 {} 60\n", bytes.len() - 1 + port_len)
        })
        .collect()
}

#[test]
fn unbuffered_bodies_reach_the_backend_as_they_arrive() {
    let ox = run(env!("CARGO_BIN_EXE_oxresty"));
    let head =
        |te: &str| format!("HTTP/1.1\r\nHost: 127.0.0.1:B\r\nConnection: close\r\n{te}\r\n\r\n");
    let want = vec![
        (
            "/off chunked=true".to_string(),
            true,
            format!(
                "POST /off {}5\r\naaaaa\r\n5\r\nbbbbb\r\n5\r\nccccc\r\n0\r\n\r\n",
                head("Transfer-Encoding: chunked")
            ),
        ),
        (
            "/off chunked=false".to_string(),
            true,
            format!("POST /off {}aaaaabbbbbccccc", head("Content-Length: 15")),
        ),
        (
            "/on chunked=true".to_string(),
            false,
            format!("POST /on {}aaaaabbbbbccccc", head("Content-Length: 15")),
        ),
        (
            "/on chunked=false".to_string(),
            false,
            format!("POST /on {}aaaaabbbbbccccc", head("Content-Length: 15")),
        ),
    ];
    assert_eq!(ox.0, want, "oxresty");
    assert_eq!(ox.1, log_for(&want, ox.2), "oxresty's access log");
    if Path::new(REFERENCE).exists() {
        let rf = run(REFERENCE);
        assert_eq!(rf.0, want, "the reference disagrees");
        assert_eq!(rf.1, log_for(&want, rf.2), "the reference's access log");
    }
}

/// An upstream that sends its head with the first part of the body, then the rest after
/// 500 ms: `/small` 3+3 bytes, `/big` 10000+10000.
fn slow_upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            std::thread::spawn(move || {
                let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = [0u8; 4096];
                let n = c.read(&mut buf).unwrap_or(0);
                let big = String::from_utf8_lossy(&buf[..n]).contains("/big ");
                let (len, a, b) = if big {
                    (20000, vec![b'x'; 10000], vec![b'y'; 10000])
                } else {
                    (6, b"aaa".to_vec(), b"bbb".to_vec())
                };
                let mut first =
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n").into_bytes();
                first.extend_from_slice(&a);
                let _ = c.write_all(&first);
                std::thread::sleep(Duration::from_millis(500));
                let _ = c.write_all(&b);
                std::thread::sleep(Duration::from_millis(200));
            });
        }
    });
    port
}

const CONF_OUT: &str = r#"
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log;
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:{PORT};
        location /on/ { proxy_pass http://127.0.0.1:{BACKEND}/; }
        location /off/ { proxy_buffering off; proxy_pass http://127.0.0.1:{BACKEND}/; }
        location /rate/ { proxy_limit_rate 10000; proxy_pass http://127.0.0.1:{BACKEND}/; }
    }
}
"#;

/// What a client sees of `path` within the first 250 ms: whether the head came, and how many
/// body bytes; then the body's total and whether it took over 1.4 s.
fn arrivals(port: u16, path: &str) -> (bool, usize, usize, bool) {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t0 = Instant::now();
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut all = Vec::new();
    let mut early = 0;
    let mut tmp = [0u8; 65536];
    loop {
        let n = match c.read(&mut tmp) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        all.extend_from_slice(&tmp[..n]);
        if t0.elapsed() < Duration::from_millis(250) {
            early = all.len();
        }
    }
    let slow = t0.elapsed() > Duration::from_millis(1400);
    let head = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(all.len(), |i| i + 4);
    let head_early = early >= head;
    (
        head_early,
        early.saturating_sub(head),
        all.len() - head,
        slow,
    )
}

fn run_out(bin: &str) -> Vec<(String, (bool, usize, usize, bool))> {
    let bport = slow_upstream();
    let conf = CONF_OUT.replace("{BACKEND}", &bport.to_string());
    let s = Server::start(bin, &conf, &[]);
    [
        "/on/small",
        "/off/small",
        "/on/big",
        "/off/big",
        "/rate/big",
    ]
    .iter()
    .map(|p| (p.to_string(), arrivals(s.port, p)))
    .collect()
}

#[test]
fn buffered_responses_go_in_whole_buffers() {
    // (head within 250 ms, body bytes within 250 ms, body bytes, took over 1.4 s)
    let want = vec![
        // buffering on: the head waits with the part-filled buffer for the upstream's end
        ("/on/small".to_string(), (false, 0, 6, false)),
        // off: the head and what came with it at once
        ("/off/small".to_string(), (true, 3, 6, false)),
        // on: the full buffers go (the header's 4k less the 42-byte upstream head, one 4k)
        ("/on/big".to_string(), (true, 8150, 20000, false)),
        ("/off/big".to_string(), (true, 10000, 20000, false)),
        // proxy_limit_rate 10000: a pause after each 4k read
        ("/rate/big".to_string(), (true, 4054, 20000, true)),
    ];
    let ox = run_out(env!("CARGO_BIN_EXE_oxresty"));
    assert_eq!(ox, want, "oxresty");
    if Path::new(REFERENCE).exists() {
        assert_eq!(run_out(REFERENCE), want, "the reference disagrees");
    }
}

/// The timer field (`tr`) of the established connection to `port` in /proc/net/tcp: 2 while
/// a keep-alive timer runs (SO_KEEPALIVE), 0 without; None when there is no such connection.
fn timer_to(port: u16) -> Option<u8> {
    let text = std::fs::read_to_string("/proc/net/tcp").ok()?;
    text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let rem_port = f.get(2)?.rsplit(':').next()?;
        if u16::from_str_radix(rem_port, 16).ok()? != port || *f.get(3)? != "01" {
            return None;
        }
        u8::from_str_radix(f.get(5)?.split(':').next()?, 16).ok()
    })
}

/// For `proxy_socket_keepalive on` and the default: the upstream connection's timer while
/// the backend holds it.
fn run_keepalive(bin: &str) -> Vec<Option<u8>> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let bport = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            std::thread::sleep(Duration::from_millis(1000));
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
        }
    });
    let conf = format!(
        "worker_processes 1;\npid logs/nginx.pid;\nerror_log logs/error.log;\nevents {{}}\nhttp {{\n access_log off;\n server {{\n  listen 127.0.0.1:{{PORT}};\n  location /ka {{ proxy_socket_keepalive on; proxy_pass http://127.0.0.1:{bport}; }}\n  location /no {{ proxy_pass http://127.0.0.1:{bport}; }}\n }}\n}}\n"
    );
    let s = Server::start(bin, &conf, &[]);
    let mut out = Vec::new();
    for path in ["/ka", "/no"] {
        let port = s.port;
        let client = std::thread::spawn(move || {
            let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let _ = c.write_all(
                format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            );
            let mut v = Vec::new();
            let _ = c.read_to_end(&mut v);
        });
        let deadline = Instant::now() + Duration::from_millis(800);
        let mut seen = None;
        while seen.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            seen = timer_to(bport);
        }
        out.push(seen);
        let _ = client.join();
    }
    out
}

#[test]
fn socket_keepalive_sets_so_keepalive_upstream() {
    if !Path::new("/proc/net/tcp").exists() {
        eprintln!("note: no /proc/net/tcp; skipped");
        return;
    }
    let want = vec![Some(2), Some(0)];
    assert_eq!(
        run_keepalive(env!("CARGO_BIN_EXE_oxresty")),
        want,
        "oxresty"
    );
    if Path::new(REFERENCE).exists() {
        assert_eq!(run_keepalive(REFERENCE), want, "the reference disagrees");
    }
}
