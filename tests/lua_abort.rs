//! The client's side while a Lua handler runs (issue 4): the raw request socket's and the
//! client abort's access-log figures and error-log lines, against the reference
//! (/usr/sbin/nginx with Debian's ngx_lua) when installed.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Server, REFERENCE};

const LUA_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_lua_module.so";
const NDK_MODULE: &str = "/usr/lib/nginx/modules/ndk_http_module.so";

const CONF: &str = r#"load_module NDK;
load_module LUA;
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log info;
events {}
http {
    log_format t '$request_uri $status $body_bytes_sent $bytes_sent';
    access_log logs/access.log t;
    server {
        listen 127.0.0.1:{PORT};
        location = /444 { return 444; }
        location = /x499 { content_by_lua_block { ngx.exit(499) } }
        location = /raw {
            content_by_lua_block {
                local sock = assert(ngx.req.socket(true))
                sock:send("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
            }
        }
        location = /raw101 {
            content_by_lua_block {
                ngx.status = 101
                ngx.header["Upgrade"] = "x"
                ngx.send_headers()
                ngx.flush(true)
                local sock = assert(ngx.req.socket(true))
                sock:send("after")
            }
        }
        location = /abort {
            lua_check_client_abort on;
            content_by_lua_block { ngx.sleep(0.5) ngx.say("x") }
        }
        location = /abort2 {
            lua_check_client_abort on;
            content_by_lua_block { ngx.say("first") ngx.flush(true) ngx.sleep(0.5) ngx.say("x") }
        }
    }
}
"#;

/// One request; `hold`: the client closes after that long without reading (with unread
/// bytes in its socket, the close is a reset).
fn go(port: u16, uri: &str, hold: Option<Duration>) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("GET {uri} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    if let Some(d) = hold {
        std::thread::sleep(d);
        return String::new();
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out)
        .split("\r\n")
        .filter(|l| !l.starts_with("Date:"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn transcript(bin: &str) -> String {
    let conf = CONF.replace("NDK", NDK_MODULE).replace("LUA", LUA_MODULE);
    let s = Server::start(bin, &conf, &[]);
    let mut t = String::new();
    for uri in ["/raw", "/raw101", "/444", "/x499"] {
        t += &format!("{uri}: {}\n", go(s.port, uri, None));
    }
    let hold = Some(Duration::from_millis(200));
    go(s.port, "/abort", hold);
    go(s.port, "/abort2", hold);
    let log = s.file_when("logs/access.log", |t| t.lines().count() >= 6);
    t += &log;
    std::thread::sleep(Duration::from_millis(100));
    let errors = std::fs::read_to_string(s.dir.join("logs/error.log")).unwrap_or_default();
    for l in errors.lines().filter(|l| l.contains("prematurely")) {
        // without the time, pid and connection number
        let l = l.split_once(": *").map_or(l, |(_, r)| r);
        t += l.split_once(' ').map_or(l, |(_, r)| r);
        t.push('\n');
    }
    t
}

const EXPECTED: &str = "/raw: HTTP/1.1 200 OK
Content-Length: 3

ok

/raw101: HTTP/1.1 101 Switching Protocols
Server: nginx/1.22.1
Content-Type: text/plain
Connection: upgrade
Upgrade: x

after
/444: 
/x499: 
/raw 000 41 41
/raw101 101 5 159
/444 444 0 0
/x499 499 0 0
/abort 499 0 0
/abort2 200 11 167
client prematurely closed connection, client: 127.0.0.1, server: , request: \"GET /abort HTTP/1.1\", host: \"x\"
client prematurely closed connection (104: Connection reset by peer), client: 127.0.0.1, server: , request: \"GET /abort2 HTTP/1.1\", host: \"x\"
";

#[test]
fn raw_socket_and_client_abort_logs() {
    if !std::path::Path::new(LUA_MODULE).exists() {
        eprintln!("note: Debian's ngx_lua is not installed; lua_abort skipped");
        return;
    }
    let ox = transcript(env!("CARGO_BIN_EXE_oxresty"));
    assert_eq!(ox, EXPECTED, "oxresty");
    if std::path::Path::new(REFERENCE).exists() {
        assert_eq!(transcript(REFERENCE), ox, "reference vs oxresty");
    }
}
