//! Lua output from the rewrite and access phases, the connection after `ngx.eof()`, and
//! `send_timeout` while a handler writes, on the wire: what a client reads and when, from
//! oxresty and (when installed) the reference, compared byte for byte (the Date header aside).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

mod common;
use common::{Server, REFERENCE};

const OXRESTY: &str = env!("CARGO_BIN_EXE_oxresty");
const LUA_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_lua_module.so";
const NDK_MODULE: &str = "/usr/lib/nginx/modules/ndk_http_module.so";

fn binaries() -> Vec<&'static str> {
    let mut b = vec![OXRESTY];
    if Path::new(REFERENCE).exists() && Path::new(LUA_MODULE).exists() {
        b.push(REFERENCE);
    }
    b
}

fn conf() -> String {
    format!(
        "load_module {NDK_MODULE};\nload_module {LUA_MODULE};\nworker_processes 1;\n\
         pid logs/nginx.pid;\nerror_log logs/error.log info;\nevents {{}}\nhttp {{\n\
         log_format t '$status $request_time \"$request\"';\n\
         access_log logs/t.log t;\nserver {{\nlisten 127.0.0.1:{{PORT}};\n{}\n}}\n}}\n",
        r#"
location /rflush { rewrite_by_lua_block { ngx.say("one") ngx.flush() ngx.sleep(0.6) ngx.say("two") } content_by_lua_block { ngx.say("content") } }
location /aflush { access_by_lua_block { ngx.say("one") ngx.flush(true) ngx.sleep(0.6) ngx.say("two") } content_by_lua_block { ngx.say("content") } }
location /rerror { rewrite_by_lua_block { ngx.say("one") ngx.flush(true) error("boom") } }
location /rexit { rewrite_by_lua_block { ngx.say("one") ngx.flush(true) ngx.exit(ngx.ERROR) } }
location /aexit { access_by_lua_block { ngx.say("one") ngx.flush(true) ngx.exit(444) } }
location /rexit404 { rewrite_by_lua_block { ngx.say("one") ngx.flush(true) ngx.exit(404) } content_by_lua_block { ngx.say("content") } }
location /ceof { content_by_lua_block { ngx.say("one") ngx.eof() ngx.sleep(1) } }
location /reof { rewrite_by_lua_block { ngx.say("one") ngx.eof() ngx.sleep(1) } content_by_lua_block { ngx.say("content") } }
location /next { return 200 "next\n"; }
location /timeout {
    send_timeout 1s;
    content_by_lua_block {
        local s = string.rep("a", 1024 * 1024)
        for i = 1, 32 do
            ngx.print(s)
            local ok, err = ngx.flush(true)
            if not ok then ngx.log(ngx.ERR, "flush failed: ", err) return end
        end
    }
}
"#
    )
}

/// What a client read: each piece with the time it came, until the server closed or `limit`.
struct Got {
    pieces: Vec<(Duration, Vec<u8>)>,
}

impl Got {
    fn all(&self) -> Vec<u8> {
        self.pieces.iter().flat_map(|(_, b)| b.clone()).collect()
    }

    /// When the bytes read so far first contained `needle`.
    fn when(&self, needle: &[u8]) -> Option<Duration> {
        let mut seen = Vec::new();
        for (t, b) in &self.pieces {
            seen.extend_from_slice(b);
            if seen.windows(needle.len()).any(|w| w == needle) {
                return Some(*t);
            }
        }
        None
    }

    /// Everything read, without the Date lines.
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.all())
            .split("\r\n")
            .filter(|l| !l.starts_with("Date:"))
            .collect::<Vec<_>>()
            .join("\r\n")
    }
}

fn send(port: u16, raw: &str, limit: Duration) -> Got {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let start = Instant::now();
    s.write_all(raw.as_bytes()).unwrap();
    let mut pieces = Vec::new();
    let mut buf = [0u8; 65536];
    while start.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => pieces.push((start.elapsed(), buf[..n].to_vec())),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    Got { pieces }
}

fn get(port: u16, path: &str) -> Got {
    send(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        Duration::from_secs(5),
    )
}

#[test]
fn rewrite_and_access_output_goes_out_as_it_is_made() {
    for bin in binaries() {
        let server = Server::start(bin, &conf(), &[]);
        for path in ["/rflush", "/aflush"] {
            let r = get(server.port, path);
            let first = r.when(b"4\r\none\n\r\n").expect("first chunk");
            let last = r.when(b"4\r\ntwo\n\r\n0\r\n\r\n").expect("last chunk");
            assert!(
                first < Duration::from_millis(400),
                "{bin} {path}: first chunk at {first:?}"
            );
            assert!(
                last >= Duration::from_millis(550),
                "{bin} {path}: last chunk at {last:?}"
            );
            // the content phase does not run after a rewrite/access handler sent its head
            assert!(!r.text().contains("content"), "{bin} {path}");
        }
    }
}

#[test]
fn rewrite_and_access_ends_match_the_reference() {
    let mut seen: Vec<Vec<String>> = Vec::new();
    for bin in binaries() {
        let server = Server::start(bin, &conf(), &[]);
        let mut texts = Vec::new();
        // an error or ngx.exit(ngx.ERROR / 444) after the head: the body is cut, the
        // connection closes (its head said keep-alive)
        for path in ["/rerror", "/rexit", "/aexit"] {
            let r = send(
                server.port,
                &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"),
                Duration::from_secs(3),
            );
            let text = r.text();
            assert!(
                text.ends_with("\r\n\r\n4\r\none\n\r\n"),
                "{bin} {path}: {text:?}"
            );
            assert!(text.contains("Connection: keep-alive"), "{bin} {path}");
            texts.push(text);
        }
        // ngx.exit(404) after the head: the body ends (nginx: "attempt to set status 404")
        let r = get(server.port, "/rexit404");
        assert!(r.text().ends_with("4\r\none\n\r\n0\r\n\r\n"), "{bin}");
        texts.push(r.text());
        seen.push(texts);
    }
    if let [ox, reference] = seen.as_slice() {
        assert_eq!(ox, reference);
    }
}

#[test]
fn the_connection_waits_for_the_handler_after_eof() {
    for bin in binaries() {
        let server = Server::start(bin, &conf(), &[]);
        for path in ["/ceof", "/reof"] {
            // pipelined: the second answer comes once the first handler ended
            let r = send(
                server.port,
                &format!(
                    "GET {path} HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\
                     Connection: close\r\n\r\n"
                ),
                Duration::from_secs(5),
            );
            let eof = r.when(b"4\r\none\n\r\n0\r\n\r\n").expect("first answer");
            let next = r.when(b"next\n").expect("second answer");
            assert!(
                eof < Duration::from_millis(500),
                "{bin} {path}: eof at {eof:?}"
            );
            assert!(
                next >= Duration::from_millis(900),
                "{bin} {path}: next answer at {next:?}"
            );
            // HTTP/1.0: the answer at once, the close when the handler ends
            let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let start = Instant::now();
            s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
                .unwrap();
            let mut all = Vec::new();
            let _ = s.read_to_end(&mut all);
            let closed_at = start.elapsed();
            assert!(all.ends_with(b"\r\n\r\none\n"), "{bin} {path}: {all:?}");
            assert!(
                closed_at >= Duration::from_millis(900),
                "{bin} {path}: closed at {closed_at:?}"
            );
        }
    }
}

#[test]
fn send_timeout_while_flushing() {
    for bin in binaries() {
        let server = Server::start(bin, &conf(), &[]);
        let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        s.write_all(b"GET /timeout HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        // the client reads nothing: the first flush(true) waits send_timeout, then fails;
        // the request ends after another send_timeout, logged with the status sent
        let log = server.file_when("logs/t.log", |t| t.contains("/timeout"));
        drop(s);
        let line = log.lines().find(|l| l.contains("/timeout")).unwrap_or("");
        let mut f = line.split(' ');
        assert_eq!(f.next(), Some("200"), "{bin}: {log:?}");
        let took: f64 = f.next().and_then(|t| t.parse().ok()).unwrap_or(0.0);
        assert!((1.9..3.5).contains(&took), "{bin}: request_time {took}");
        let errors = std::fs::read_to_string(server.dir.join("logs/error.log")).unwrap();
        let timed_out = errors
            .lines()
            .filter(|l| {
                l.contains("[info]")
                    && l.contains("client timed out (110: Connection timed out), client: 127.0.0.1")
            })
            .count();
        assert_eq!(timed_out, 2, "{bin}: {errors}");
        assert!(errors.contains("flush failed: timeout"), "{bin}: {errors}");
    }
}
