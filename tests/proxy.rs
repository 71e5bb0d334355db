//! The reverse proxy end to end, black-box: (a) an API gateway (`access_by_lua_block` checks a
//! bearer token against a `lua_shared_dict` before `proxy_pass` to an upstream of two backends
//! that count their hits), (b) a WebSocket echo through the proxy. Each runs on oxresty and,
//! when installed, on the reference (/usr/sbin/nginx), which must give the same answers.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::free_port;

const OXRESTY: &str = env!("CARGO_BIN_EXE_oxresty");
const REFERENCE: &str = "/usr/sbin/nginx";
const LUA_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_lua_module.so";
const NDK_MODULE: &str = "/usr/lib/nginx/modules/ndk_http_module.so";

fn have_reference() -> bool {
    Path::new(REFERENCE).exists() && Path::new(LUA_MODULE).exists()
}

/// A running server on its own prefix; killed when dropped.
struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts `bin` with `http` as the http block's body (`{PORT}` is the server's port).
fn start(bin: &str, name: &str, http: &str) -> Server {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "oxresty-proxy-{}-{name}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["logs", "conf", "html"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let port = free_port();
    let text = format!(
        "load_module {NDK_MODULE};\nload_module {LUA_MODULE};\nworker_processes 1;\npid logs/nginx.pid;\nevents {{}}\nhttp {{\n    access_log off;\n{}\n}}\n",
        http.replace("{PORT}", &port.to_string())
    );
    std::fs::write(dir.join("conf/nginx.conf"), text).unwrap();
    let mut p = dir.clone().into_os_string();
    p.push("/");
    let child = Command::new(bin)
        .arg("-p")
        .arg(&p)
        .args(["-c", "conf/nginx.conf", "-e", "logs/error.log"])
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server { child, port, dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        let exited = server.child.try_wait().ok().flatten().is_some();
        if exited || Instant::now() > deadline {
            let log = std::fs::read_to_string(server.dir.join("logs/error.log"));
            panic!("{bin} did not start on {port}: {log:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// A one-request-per-connection HTTP backend that answers `NAME user=X-User` and counts hits.
struct Backend {
    port: u16,
    hits: Arc<AtomicUsize>,
}

fn backend(name: &'static str) -> Backend {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut tmp = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut tmp) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                }
            }
            h.fetch_add(1, Ordering::SeqCst);
            let text = String::from_utf8_lossy(&buf).to_string();
            let user = text
                .lines()
                .find_map(|l| l.strip_prefix("X-User: "))
                .unwrap_or("-")
                .to_string();
            let body = format!("{name} user={user}\n");
            let _ = c.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    Backend { port, hits }
}

/// One request; the status and the (Content-Length) body.
fn get(port: u16, path: &str, token: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: gw\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (status, body)
}

const GATEWAY: &str = r#"
    lua_shared_dict tokens 1m;
    init_by_lua_block {
        ngx.shared.tokens:set("alice-token", "alice")
        ngx.shared.tokens:set("bob-token", "bob")
    }
    upstream apps {
        server 127.0.0.1:{A};
        server 127.0.0.1:{B};
    }
    server {
        listen {PORT};
        location /api/ {
            access_by_lua_block {
                local h = ngx.var.http_authorization or ""
                local token = h:match("^Bearer%s+(.+)$")
                local user = token and ngx.shared.tokens:get(token)
                if not user then
                    ngx.header["WWW-Authenticate"] = 'Bearer realm="api"'
                    return ngx.exit(ngx.HTTP_UNAUTHORIZED)
                end
                ngx.req.set_header("X-User", user)
                ngx.req.clear_header("Authorization")
            }
            proxy_pass http://apps/;
        }
    }
"#;

/// The gateway's answers and the backends' hit counts on one server binary.
fn run_gateway(bin: &str) -> (Vec<(u16, String)>, usize, usize) {
    let a = backend("app-a");
    let b = backend("app-b");
    let conf = GATEWAY
        .replace("{A}", &a.port.to_string())
        .replace("{B}", &b.port.to_string());
    let s = start(bin, "gw", &conf);
    let mut answers = Vec::new();
    for (path, token) in [
        ("/api/x", Some("alice-token")),
        ("/api/x", Some("bad")),
        ("/api/y", Some("bob-token")),
        ("/api/z", None),
        ("/api/x", Some("alice-token")),
        ("/api/x", Some("")),
        ("/api/w", Some("bob-token")),
    ] {
        let (status, body) = get(s.port, path, token);
        // The error page names the server: keep only the title line of a 401.
        let body = if status == 401 {
            body.lines()
                .find(|l| l.contains("<title>"))
                .unwrap_or_default()
                .to_string()
        } else {
            body
        };
        answers.push((status, body));
    }
    (
        answers,
        a.hits.load(Ordering::SeqCst),
        b.hits.load(Ordering::SeqCst),
    )
}

#[test]
fn api_gateway_checks_tokens_before_proxying() {
    let (answers, a, b) = run_gateway(OXRESTY);
    let ok: Vec<&(u16, String)> = answers.iter().filter(|x| x.0 == 200).collect();
    assert_eq!(ok.len(), 4, "{answers:?}");
    assert_eq!(answers[0], (200, "app-a user=alice\n".into()));
    assert_eq!(answers[2], (200, "app-b user=bob\n".into()));
    assert_eq!(answers[4], (200, "app-a user=alice\n".into()));
    assert_eq!(answers[6], (200, "app-b user=bob\n".into()));
    for i in [1, 3, 5] {
        assert_eq!(answers[i].0, 401, "{answers:?}");
        assert!(answers[i].1.contains("401 Authorization Required"));
    }
    // Bad tokens never reach the backends; good ones are balanced round robin.
    assert_eq!((a, b), (2, 2));
    if have_reference() {
        assert_eq!(run_gateway(REFERENCE), (answers, a, b));
    }
}

/// A WebSocket echo backend: answers the upgrade with 101, then echoes each (masked) client
/// frame back unmasked; a close frame is echoed and ends the connection.
fn ws_backend() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            std::thread::spawn(move || {
                let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                let end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match c.read(&mut tmp) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    }
                };
                buf.drain(..end);
                let _ = c.write_all(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
                );
                loop {
                    while buf.len() < 6 || buf.len() < 6 + (buf[1] & 0x7f) as usize {
                        match c.read(&mut tmp) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&tmp[..n]),
                        }
                    }
                    let len = (buf[1] & 0x7f) as usize;
                    let op = buf[0] & 0x0f;
                    let mask = [buf[2], buf[3], buf[4], buf[5]];
                    let payload: Vec<u8> = buf[6..6 + len]
                        .iter()
                        .enumerate()
                        .map(|(i, b)| b ^ mask[i % 4])
                        .collect();
                    buf.drain(..6 + len);
                    let mut frame = vec![0x80 | op, len as u8];
                    frame.extend_from_slice(&payload);
                    if c.write_all(&frame).is_err() || op == 8 {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// Upgrades through the proxy and exchanges frames; returns the 101 head's status line and
/// the echoed payloads.
fn ws_session(port: u16) -> (String, Vec<String>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: ws\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut tmp).unwrap();
        assert!(n > 0, "closed before the 101");
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    buf.drain(..end);
    let status = head.lines().next().unwrap_or_default().to_string();
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\nconnection: upgrade\r\n"),
        "{head}"
    );
    let mut echoed = Vec::new();
    for (op, msg) in [
        (1u8, "hello"),
        (1, "through the proxy"),
        (2, "\u{1}\u{2}"),
        (8, ""),
    ] {
        let mask = [7u8, 9, 11, 13];
        let mut frame = vec![0x80 | op, 0x80 | msg.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(msg.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        s.write_all(&frame).unwrap();
        while buf.len() < 2 || buf.len() < 2 + (buf[1] & 0x7f) as usize {
            let n = s.read(&mut tmp).unwrap();
            assert!(n > 0, "closed in the middle of a frame");
            buf.extend_from_slice(&tmp[..n]);
        }
        let len = (buf[1] & 0x7f) as usize;
        assert_eq!(buf[0] & 0x0f, op);
        echoed.push(String::from_utf8_lossy(&buf[2..2 + len]).to_string());
        buf.drain(..2 + len);
    }
    (status, echoed)
}

const WS: &str = r#"
    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      close;
    }
    server {
        listen {PORT};
        location /ws {
            proxy_pass http://127.0.0.1:{BACK};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 5s;
        }
    }
"#;

#[test]
fn websocket_echo_through_the_proxy() {
    let back = ws_backend();
    let conf = WS.replace("{BACK}", &back.to_string());
    let s = start(OXRESTY, "ws", &conf);
    let got = ws_session(s.port);
    assert_eq!(got.0, "HTTP/1.1 101 Switching Protocols");
    assert_eq!(got.1, vec!["hello", "through the proxy", "\u{1}\u{2}", ""]);
    if have_reference() {
        let r = start(REFERENCE, "ws-ref", &conf);
        assert_eq!(ws_session(r.port), got);
    }
}
