//! The classic "whole app in OpenResty + Redis" shape, end to end: a small Lua application
//! (routes in content_by_lua) talks to a real `redis-server` through an unmodified
//! lua-resty-redis (tests/fixtures/lualib/resty/redis.lua) over the TCP cosockets, with its
//! connection pool; the same application on the reference must give the same answers.
//! Skipped (with a note) when redis-server is not installed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod common;
use common::free_port;

const OXRESTY: &str = env!("CARGO_BIN_EXE_oxresty");
const REFERENCE: &str = "/usr/sbin/nginx";
const LUA_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_lua_module.so";
const NDK_MODULE: &str = "/usr/lib/nginx/modules/ndk_http_module.so";
const REDIS: &str = "/usr/bin/redis-server";

fn have_reference() -> bool {
    Path::new(REFERENCE).exists() && Path::new(LUA_MODULE).exists()
}

/// A child process killed when dropped (and its directory removed).
struct Proc {
    child: Child,
    dir: Option<PathBuf>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn wait_port(p: &mut Proc, port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        let exited = p.child.try_wait().ok().flatten().is_some();
        assert!(
            !exited && Instant::now() < deadline,
            "{what} did not start on {port}"
        );
        std::thread::sleep(Duration::from_millis(30));
    }
}

/// redis-server on a free port, no persistence.
fn redis() -> Option<(Proc, u16)> {
    if !Path::new(REDIS).exists() {
        eprintln!("note: {REDIS} is not installed; lua_redis skipped");
        return None;
    }
    let port = free_port();
    let child = Command::new(REDIS)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut p = Proc { child, dir: None };
    wait_port(&mut p, port, "redis-server");
    Some((p, port))
}

/// The application: every route in content_by_lua, Redis through resty.redis.
const APP: &str = r#"
    lua_package_path "$prefix/lualib/?.lua;;";
    init_by_lua_block {
        local redis = require "resty.redis"
        function with_redis(f)
            local red = redis:new()
            red:set_timeouts(1000, 1000, 1000)
            local ok, err = red:connect("127.0.0.1", {REDIS})
            if not ok then
                ngx.say("failed to connect: ", err)
                return
            end
            f(red)
            local ok, err = red:set_keepalive(10000, 10)
            if not ok then
                ngx.say("failed to set keepalive: ", err)
            end
        end
    }
    server {
        listen 127.0.0.1:{PORT};
        default_type text/plain;
        location = /flush {
            content_by_lua_block {
                with_redis(function(red) ngx.say(red:flushall()) end)
            }
        }
        location = /incr {
            content_by_lua_block {
                with_redis(function(red)
                    local n, err = red:incr("counter")
                    ngx.say("counter=", n, " ", type(n))
                end)
            }
        }
        location = /session/set {
            content_by_lua_block {
                with_redis(function(red)
                    local id, user = ngx.var.arg_id, ngx.var.arg_user
                    ngx.say(red:set("session:" .. id, user, "EX", 60))
                end)
            }
        }
        location = /session/get {
            content_by_lua_block {
                with_redis(function(red)
                    local key = "session:" .. ngx.var.arg_id
                    local user, err = red:get(key)
                    if user == ngx.null then
                        ngx.status = 404
                        ngx.say("no session")
                        return
                    end
                    local ttl = red:ttl(key)
                    ngx.say("user=", user, " ttl ok: ", ttl > 0 and ttl <= 60)
                end)
            }
        }
        location = /session/expire {
            content_by_lua_block {
                with_redis(function(red)
                    ngx.say(red:pexpire("session:" .. ngx.var.arg_id, 50))
                    ngx.sleep(0.2)
                    local v = red:get("session:" .. ngx.var.arg_id)
                    ngx.say("after expiry: ", v == ngx.null and "null" or v)
                end)
            }
        }
        location = /list {
            content_by_lua_block {
                with_redis(function(red)
                    red:del("items")
                    ngx.say(red:rpush("items", "apple", "banana", 3, "cherry"))
                    local items = red:lrange("items", 0, -1)
                    local cjson = require "cjson"
                    ngx.say(cjson.encode(items), " ", cjson.encode({count = #items}))
                end)
            }
        }
        location = /has_cjson {
            content_by_lua_block { local ok = pcall(require, "cjson") ngx.say(ok) }
        }
        location = /pipeline {
            content_by_lua_block {
                with_redis(function(red)
                    red:init_pipeline()
                    red:set("p:a", "1")
                    red:set("p:b", "two")
                    red:incrby("p:a", 41)
                    red:get("p:a")
                    red:get("p:b")
                    red:get("p:nothing")
                    local res, err = red:commit_pipeline()
                    for i, r in ipairs(res) do
                        if r == ngx.null then r = "null" end
                        if type(r) == "table" then r = "err:" .. tostring(r[2]) end
                        ngx.say(i, ": ", r)
                    end
                end)
            }
        }
        location = /missing {
            content_by_lua_block {
                with_redis(function(red)
                    local v, err = red:get("no:such:key")
                    ngx.say(v == ngx.null, " ", type(v), " ", err)
                    local h = red:hgetall("no:such:hash")
                    ngx.say("hash entries: ", #h)
                end)
            }
        }
        location = /hash {
            content_by_lua_block {
                with_redis(function(red)
                    ngx.say(red:hmset("h", "name", "ox", "kind", "resty"))
                    local res = red:array_to_hash(red:hgetall("h"))
                    ngx.say(res.name, " ", res.kind)
                end)
            }
        }
        location = /error {
            content_by_lua_block {
                with_redis(function(red)
                    red:set("notnum", "abc")
                    local res, err = red:incr("notnum")
                    ngx.say(res, " ", err)
                    local res, err = red:hget("notnum", "x")
                    ngx.say(res, " ", err)
                end)
                local redis = require "resty.redis"
                local red = redis:new()
                red:set_timeout(500)
                ngx.say(red:connect("127.0.0.1", {DEAD}))
                ngx.say(red:get("x"))
            }
        }
        location = /reused {
            content_by_lua_block {
                with_redis(function(red)
                    ngx.say(red:get_reused_times() > 0)
                end)
            }
        }
    }
"#;

fn start(bin: &str, app: &str, lualib: &Path) -> (Proc, u16) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "oxresty-redis-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["logs", "conf", "lualib/resty"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::copy(
        lualib.join("resty/redis.lua"),
        dir.join("lualib/resty/redis.lua"),
    )
    .unwrap();
    let port = free_port();
    let text = format!(
        "load_module {NDK_MODULE};\nload_module {LUA_MODULE};\nworker_processes 1;\npid logs/nginx.pid;\nerror_log logs/error.log notice;\nevents {{}}\nhttp {{\n    access_log off;\n{}\n}}\n",
        app.replace("{PORT}", &port.to_string())
    );
    std::fs::write(dir.join("conf/nginx.conf"), text).unwrap();
    let mut prefix = dir.clone().into_os_string();
    prefix.push("/");
    let child = Command::new(bin)
        .arg("-p")
        .arg(&prefix)
        .args(["-c", "conf/nginx.conf", "-e", "logs/error.log"])
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut p = Proc {
        child,
        dir: Some(dir),
    };
    wait_port(&mut p, port, bin);
    (p, port)
}

/// Status and body (de-chunked) of a GET.
fn get(port: u16, uri: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {uri} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if head.contains("Transfer-Encoding: chunked") {
        let mut b = body;
        let mut out = String::new();
        while let Some((size, rest)) = b.split_once("\r\n") {
            let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
                break;
            };
            if n == 0 || rest.len() < n {
                break;
            }
            out.push_str(&rest[..n]);
            b = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
        }
        out
    } else {
        body.to_string()
    };
    (status, body)
}

/// The routes in order, with what oxresty must answer (the reference must answer the same).
fn routes() -> Vec<(&'static str, u16, &'static str)> {
    vec![
        ("/flush", 200, "OKnil\n"),
        ("/incr", 200, "counter=1 number\n"),
        ("/incr", 200, "counter=2 number\n"),
        ("/incr", 200, "counter=3 number\n"),
        ("/session/set?id=s1&user=alice", 200, "OKnil\n"),
        ("/session/get?id=s1", 200, "user=alice ttl ok: true\n"),
        ("/session/get?id=nope", 404, "no session\n"),
        ("/session/expire?id=s1", 200, "1nil\nafter expiry: null\n"),
        ("/session/get?id=s1", 404, "no session\n"),
        (
            "/list",
            200,
            "4nil\n[\"apple\",\"banana\",\"3\",\"cherry\"] {\"count\":4}\n",
        ),
        (
            "/pipeline",
            200,
            "1: OK\n2: OK\n3: 42\n4: 42\n5: two\n6: null\n",
        ),
        ("/missing", 200, "true userdata nil\nhash entries: 0\n"),
        ("/hash", 200, "OKnil\nox resty\n"),
        (
            "/error",
            200,
            "false ERR value is not an integer or out of range\nfalse WRONGTYPE Operation against a key holding the wrong kind of value\nnilconnection refused\nnilclosed\n",
        ),
        ("/reused", 200, "true\n"),
    ]
}

fn run_app(bin: &str, redis_port: u16, lualib: &Path) -> Vec<(u16, String)> {
    let app = APP
        .replace("{REDIS}", &redis_port.to_string())
        .replace("{DEAD}", &free_port().to_string());
    let (_server, port) = start(bin, &app, lualib);
    // The reference loads Debian's lua-cjson C module (scripts/setup-debian.sh installs
    // it); oxresty has cjson built in (engine/src/http/lua/cjson.rs).
    let has_cjson = get(port, "/has_cjson").1.starts_with("true");
    let cjson_installed = Path::new("/usr/lib/x86_64-linux-gnu/lua/5.1/cjson.so").exists();
    assert!(has_cjson || !cjson_installed, "{bin} cannot load cjson");
    routes()
        .iter()
        .map(|(uri, _, _)| {
            if *uri == "/list" && !has_cjson {
                eprintln!("note: lua-cjson is not installed; /list not compared");
                return (0, String::new());
            }
            get(port, uri)
        })
        .collect()
}

#[test]
fn redis_app_matches_reference() {
    let Some((_redis, rport)) = redis() else {
        return;
    };
    let lualib = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lualib");
    let ox = run_app(OXRESTY, rport, &lualib);
    if std::env::var_os("LUA_REDIS_DUMP").is_some() {
        let rf = run_app(REFERENCE, rport, &lualib);
        for ((uri, _, _), (o, r)) in routes().iter().zip(ox.iter().zip(&rf)) {
            eprintln!("{uri}\n  ox:  {o:?}\n  ref: {r:?}");
        }
    }
    for ((uri, status, body), got) in routes().iter().zip(&ox) {
        if got.0 == 0 {
            continue;
        }
        assert_eq!(
            (got.0, got.1.as_str()),
            (*status, *body),
            "oxresty answer for {uri}"
        );
    }
    if have_reference() {
        let rf = run_app(REFERENCE, rport, &lualib);
        for ((uri, _, _), (o, r)) in routes().iter().zip(ox.iter().zip(&rf)) {
            if o.0 == 0 {
                continue;
            }
            assert_eq!(o, r, "oxresty and the reference differ for {uri}");
        }
    }
}
