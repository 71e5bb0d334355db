//! The `*N` of error-log lines: nginx numbers every connection from one counter, accepted
//! client connections and the connections it opens itself (upstream peers, cosockets, the
//! fake connections of timers and init_worker_by_lua*). The same requests against oxresty
//! and the reference must log the same numbers.

use std::path::Path;
use std::time::Duration;

mod common;
use common::{Server, REFERENCE};

const OXRESTY: &str = env!("CARGO_BIN_EXE_oxresty");

fn conf(lua: bool) -> String {
    let modules = if lua {
        "load_module /usr/lib/nginx/modules/ndk_http_module.so;\n\
         load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;\n"
    } else {
        ""
    };
    let lua_loc = if lua {
        r#"
        location /s {
            content_by_lua_block {
                local s = ngx.socket.tcp()
                assert(s:connect("127.0.0.1", ngx.var.server_port))
                s:close()
                local u = ngx.socket.udp()
                assert(u:setpeername("127.0.0.1", 9))
                u:close()
                ngx.timer.at(0, function() end)
                ngx.say("ok")
            }
        }"#
    } else {
        ""
    };
    format!(
        r#"{modules}worker_processes 1;
error_log logs/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    server {{
        listen 127.0.0.1:{{PORT}};
        root html;
        location /p {{ proxy_pass http://127.0.0.1:{{PORT}}/b; }}
        location = /b {{ return 200 "b\n"; }}{lua_loc}
    }}
}}
"#
    )
}

/// Runs the requests and returns the numbers of the `open() ... failed` lines, in order.
fn numbers(bin: &str, lua: bool, paths: &[&str]) -> Vec<u64> {
    let s = Server::start(bin, &conf(lua), &[]);
    let mut missing = 0;
    for p in paths {
        let out = s.exchange(format!("GET {p} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes());
        assert!(!out.is_empty(), "{bin}: no answer to {p}");
        if p.starts_with("/missing") {
            missing += 1;
        }
        // the timer of /s runs after the answer; let it take its number first
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = s.file_when("logs/error.log", |t| {
        t.matches("open() \"").count() >= missing
    });
    log.lines()
        .filter(|l| l.contains("open() \""))
        .filter_map(|l| {
            let at = l.find(": *")? + 3;
            l[at..].split(' ').next()?.parse().ok()
        })
        .collect()
}

#[test]
fn upstream_connections_take_numbers() {
    // *1 the start-up probe; *2 the client, *3 the upstream connection, *4 its accept;
    // then *5 the client asking for a missing file.
    let paths = ["/p", "/missing1", "/p", "/missing2"];
    let ours = numbers(OXRESTY, false, &paths);
    assert_eq!(ours, vec![5, 9]);
    if Path::new(REFERENCE).exists() {
        assert_eq!(numbers(REFERENCE, false, &paths), ours);
    }
}

#[test]
fn cosockets_and_timers_take_numbers() {
    if !Path::new("/usr/lib/nginx/modules/ngx_http_lua_module.so").exists() {
        eprintln!("skipped: the reference's lua module (for load_module) is not installed");
        return;
    }
    // *2 the client of /s, *3 its TCP cosocket, *4 that connection's accept, *5 the UDP
    // cosocket, *6 the timer; then *7 the client asking for a missing file.
    let paths = ["/s", "/missing"];
    let ours = numbers(OXRESTY, true, &paths);
    assert_eq!(ours, vec![7]);
    if Path::new(REFERENCE).exists() {
        assert_eq!(numbers(REFERENCE, true, &paths), ours);
    }
}
