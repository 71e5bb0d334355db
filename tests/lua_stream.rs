//! Streamed Lua output on the wire, black-box: what a client reads and when, from oxresty and
//! (when installed) the reference. A handler that prints, flushes and sleeps must show its
//! first chunk before the sleep ends; chunk boundaries and the cut body of a failed handler
//! are compared byte for byte (the Date header aside).

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
         pid logs/nginx.pid;\nerror_log logs/error.log notice;\nevents {{}}\nhttp {{\n\
         access_log off;\nserver {{\nlisten 127.0.0.1:{{PORT}};\n{}\n}}\n}}\n",
        r#"
location /flush { content_by_lua_block { ngx.say("one") ngx.flush(true) ngx.sleep(1) ngx.say("two") } }
location /noflush { content_by_lua_block { ngx.say("one") ngx.sleep(0.6) ngx.say("two") } }
location /big { content_by_lua_block { ngx.print(string.rep("a", 1500)) ngx.sleep(1) ngx.say("two") } }
location /ppf { content_by_lua_block { ngx.print("a") ngx.print("b") ngx.flush(true) ngx.print("c") ngx.sleep(0.05) ngx.print("d") } }
location /err { content_by_lua_block { ngx.say("one") ngx.flush(true) ngx.sleep(0.1) error("boom") } }
location /exit { content_by_lua_block { ngx.say("one") ngx.flush(true) ngx.sleep(0.1) ngx.exit(ngx.ERROR) } }
location /eof { content_by_lua_block { ngx.say("one") ngx.eof() ngx.sleep(0.3) } }
"#
    )
}

/// What a client read: each piece with the time it came, until the server closed.
struct Read_ {
    pieces: Vec<(Duration, Vec<u8>)>,
}

impl Read_ {
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

    /// The body's bytes on the wire (after the head).
    fn body(&self) -> Vec<u8> {
        let all = self.all();
        match all.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(i) => all[i + 4..].to_vec(),
            None => Vec::new(),
        }
    }

    /// The head without its Date line.
    fn head(&self) -> String {
        let all = self.all();
        let end = all
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(all.len());
        String::from_utf8_lossy(&all[..end])
            .lines()
            .filter(|l| !l.starts_with("Date:"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn get(port: u16, path: &str, version: &str) -> Read_ {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let start = Instant::now();
    s.write_all(
        format!("GET {path} HTTP/{version}\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut pieces = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => pieces.push((start.elapsed(), buf[..n].to_vec())),
        }
        if start.elapsed() > Duration::from_secs(10) {
            break;
        }
    }
    Read_ { pieces }
}

#[test]
fn first_chunk_arrives_before_the_sleep_ends() {
    for bin in binaries() {
        let server = Server::start(bin, &conf(), &[]);
        // ngx.flush(true): the head and the first chunk now, the rest after the sleep.
        let r = get(server.port, "/flush", "1.1");
        let first = r.when(b"4\r\none\n\r\n").expect("first chunk");
        let last = r.when(b"4\r\ntwo\n\r\n0\r\n\r\n").expect("last chunk");
        assert!(
            first < Duration::from_millis(700),
            "{bin}: first chunk at {first:?}"
        );
        assert!(last >= Duration::from_millis(900), "{bin}: end at {last:?}");
        assert!(r.head().contains("Transfer-Encoding: chunked"), "{bin}");
        // postpone_output: 1500 bytes go out without a flush.
        let r = get(server.port, "/big", "1.1");
        let first = r.when(b"aaaa").expect("first chunk");
        assert!(
            first < Duration::from_millis(700),
            "{bin}: big chunk at {first:?}"
        );
        // Without a flush, a small print waits for the handler's end.
        let r = get(server.port, "/noflush", "1.1");
        let first = r.when(b"one").expect("body");
        assert!(
            first >= Duration::from_millis(500),
            "{bin}: held print at {first:?}"
        );
        assert_eq!(r.body(), b"4\r\none\n\r\n4\r\ntwo\n\r\n0\r\n\r\n", "{bin}");
        // HTTP/1.0: held whole (lua_http10_buffering), with a length, flush or not.
        let r = get(server.port, "/flush", "1.0");
        assert!(
            r.head().contains("Content-Length: 8"),
            "{bin}: {}",
            r.head()
        );
        assert_eq!(r.body(), b"one\ntwo\n", "{bin}");
    }
}

#[test]
fn chunks_and_cut_bodies_match_the_reference() {
    let mut seen: Vec<(&str, Vec<Vec<u8>>)> = Vec::new();
    for bin in binaries() {
        let server = Server::start(bin, &conf(), &[]);
        let mut bodies = Vec::new();
        // one chunk per print; the flush sends what came before it
        let r = get(server.port, "/ppf", "1.1");
        assert_eq!(
            r.body(),
            b"1\r\na\r\n1\r\nb\r\n1\r\nc\r\n1\r\nd\r\n0\r\n\r\n",
            "{bin}"
        );
        bodies.push(r.body());
        // a Lua error or ngx.exit(ngx.ERROR) after the head: the body is cut, no last chunk
        for path in ["/err", "/exit"] {
            let r = get(server.port, path, "1.1");
            assert_eq!(r.body(), b"4\r\none\n\r\n", "{bin} {path}");
            bodies.push(r.body());
        }
        // ngx.eof: the body ends with its last chunk while the handler sleeps on
        let r = get(server.port, "/eof", "1.1");
        let end = r.when(b"0\r\n\r\n").expect("last chunk");
        assert!(end < Duration::from_millis(250), "{bin}: eof at {end:?}");
        bodies.push(r.body());
        seen.push((bin, bodies));
    }
    if let [(_, ox), (_, reference)] = seen.as_slice() {
        assert_eq!(ox, reference);
    }
}
