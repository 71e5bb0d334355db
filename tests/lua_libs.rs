//! Unmodified lua-resty-* libraries on oxresty as on the reference (issue 4): each test runs
//! a small application of one library, the same config and the same requests against
//! oxresty and (when installed) the reference with Debian's ngx_lua, and compares what both
//! answer; oxresty's answers are also checked against the transcript the reference gives.
//!
//! Libraries Debian packages (scripts/setup-debian.sh installs them) are used from
//! /usr/share/lua/5.1: lua-resty-lrucache (`resty.lrucache`, `resty.lrucache.pureffi`),
//! lua-nginx-string (`nginx.string`, `nginx.sha1`, ...: lua-resty-string, FFI to libcrypto),
//! lua-nginx-memcached, lua-nginx-websocket (its client), lua-nginx-cookie. The others are
//! vendored unmodified under tests/fixtures/lualib with their licenses: lua-resty-lock,
//! lua-resty-limit-traffic, lua-resty-http. A test whose package or backend is missing is
//! skipped with a printed note. `LUA_LIBS_DUMP=DIR` writes both transcripts
//! there (NAME.ox, NAME.ref).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

mod common;
use common::free_port;

const OXRESTY: &str = env!("CARGO_BIN_EXE_oxresty");
const REFERENCE: &str = "/usr/sbin/nginx";
const LUA_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_lua_module.so";
const NDK_MODULE: &str = "/usr/lib/nginx/modules/ndk_http_module.so";
const DEBIAN_LUA: &str = "/usr/share/lua/5.1";

fn have_reference() -> bool {
    Path::new(REFERENCE).exists() && Path::new(LUA_MODULE).exists()
}

/// Whether Debian's package providing `module` (a path under /usr/share/lua/5.1) is there;
/// prints a note naming the package when not.
fn have_module(module: &str, package: &str, test: &str) -> bool {
    let ok = Path::new(DEBIAN_LUA).join(module).exists();
    if !ok {
        eprintln!("note: Debian's {package} is not installed; {test} skipped");
    }
    ok
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
        if exited || Instant::now() > deadline {
            let log = p
                .dir
                .as_ref()
                .and_then(|d| std::fs::read_to_string(d.join("logs/error.log")).ok());
            panic!("{what} did not start on {port}: {log:?}");
        }
        std::thread::sleep(Duration::from_millis(30));
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let path = e.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(e.file_name()));
        } else {
            std::fs::copy(&path, to.join(e.file_name())).unwrap();
        }
    }
}

/// A server on a fresh prefix: the vendored libraries in `lualib/` (on the package path),
/// `http` inside the http block, where `{PORT}` is the port the test talks to and
/// `{PORT2}` a second port of the same config (a backend server block), `{DEAD}` a port
/// nothing listens on, and `vars` further placeholders.
struct Server {
    p: Proc,
    port: u16,
}

impl Server {
    /// The error log's lines containing `needle`, without their time, pid and connection.
    fn log_lines(&self, needle: &str) -> String {
        let dir = self.p.dir.as_ref().map(|d| d.join("logs/error.log"));
        let text = dir
            .and_then(|d| std::fs::read_to_string(d).ok())
            .unwrap_or_default();
        text.lines()
            .filter(|l| l.contains(needle))
            .map(|l| {
                let l = l.split_once(" [").map_or(l, |(_, r)| r);
                let (level, rest) = l.split_once("] ").unwrap_or(("", l));
                // pid#tid: *connection
                let rest = rest.split_once(": ").map_or(rest, |(_, r)| r);
                let rest = match rest.strip_prefix('*') {
                    Some(r) => r.split_once(' ').map_or(r, |(_, m)| m),
                    None => rest,
                };
                let rest = rest.split_once(", client:").map_or(rest, |(m, _)| m);
                format!("[{level}] {rest}\n")
            })
            .collect()
    }
}

fn start(bin: &str, http: &str, vars: &[(&str, String)]) -> Server {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "oxresty-lualibs-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["logs", "conf"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lualib");
    copy_tree(&fixtures, &dir.join("lualib"));
    // lua-resty-http requires `resty.string` (lua-resty-string), which Debian ships as
    // `nginx.string`: the name an OpenResty install has, pointing at Debian's module.
    std::fs::write(
        dir.join("lualib/resty/string.lua"),
        "return require \"nginx.string\"\n",
    )
    .unwrap();
    let port = free_port();
    let mut text = http
        .replace("{PORT}", &port.to_string())
        .replace("{PORT2}", &free_port().to_string())
        .replace("{DEAD}", &free_port().to_string());
    for (k, v) in vars {
        text = text.replace(k, v);
    }
    let conf = format!(
        "load_module {NDK_MODULE};\nload_module {LUA_MODULE};\nworker_processes 1;\npid logs/nginx.pid;\nerror_log logs/error.log notice;\nevents {{}}\nhttp {{\n    access_log off;\n    lua_package_path \"$prefix/lualib/?.lua;;\";\n{text}\n}}\n"
    );
    std::fs::write(dir.join("conf/nginx.conf"), conf).unwrap();
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
    Server { p, port }
}

/// A response: status, headers (name as sent, value) and de-chunked body.
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Sends one request (`extra` header lines, optional body) and reads the response.
fn request(port: u16, method: &str, uri: &str, extra: &[&str], body: Option<&str>) -> Resp {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {uri} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for h in extra {
        req.push_str(h);
        req.push_str("\r\n");
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v == "chunked");
    let body = if chunked {
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
    Resp {
        status,
        headers,
        body,
    }
}

fn get(port: u16, uri: &str) -> Resp {
    request(port, "GET", uri, &[], None)
}

/// `n` GETs of `uri` sent at once (each on its own connection); their responses.
fn concurrent(port: u16, uri: &str, n: usize) -> Vec<Resp> {
    let barrier = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (b, uri) = (barrier.clone(), uri.to_string());
            std::thread::spawn(move || {
                b.wait();
                get(port, &uri)
            })
        })
        .collect();
    threads.into_iter().filter_map(|t| t.join().ok()).collect()
}

/// Runs `scenario` (which records a transcript) against oxresty, checks oxresty's
/// transcript against `expected` (the reference's), then runs it against the reference
/// and compares the two.
fn differential(
    name: &str,
    http: &str,
    vars: &[(&str, String)],
    expected: &str,
    scenario: impl Fn(u16) -> String,
) {
    differential_with(name, http, vars, expected, |s| scenario(s.port))
}

/// [`differential`] with the scenario given the server (for its error log).
fn differential_with(
    name: &str,
    http: &str,
    vars: &[(&str, String)],
    expected: &str,
    scenario: impl Fn(&Server) -> String,
) {
    let ox = {
        let s = start(OXRESTY, http, vars);
        scenario(&s)
    };
    let rf = have_reference().then(|| {
        let s = start(REFERENCE, http, vars);
        scenario(&s)
    });
    if let Some(dir) = std::env::var_os("LUA_LIBS_DUMP") {
        let dir = PathBuf::from(dir);
        let _ = std::fs::write(dir.join(format!("{name}.ox")), &ox);
        let _ = std::fs::write(dir.join(format!("{name}.ref")), rf.as_deref().unwrap_or(""));
    }
    assert_eq!(ox, expected, "oxresty's transcript for {name}");
    if let Some(rf) = rf {
        assert_eq!(ox, rf, "oxresty and the reference differ for {name}");
    }
}

/// The transcript line(s) of one GET: the URI, the status, the body.
fn show(port: u16, uri: &str) -> String {
    let r = get(port, uri);
    format!("GET {uri} -> {}\n{}", r.status, r.body)
}

// ---------------------------------------------------------------------------------------
// lua-resty-lrucache: resty.lrucache and resty.lrucache.pureffi.

const LRUCACHE: &str = r#"
    init_by_lua_block {
        local lrucache = require "resty.lrucache"
        local pureffi = require "resty.lrucache.pureffi"
        caches = { plain = assert(lrucache.new(3)), pureffi = assert(pureffi.new(3)) }
    }
    server {
        listen 127.0.0.1:{PORT};
        default_type text/plain;
        location = /lru {
            content_by_lua_block {
                local c = caches[ngx.var.arg_kind]
                local function show(k)
                    local v, stale = c:get(k)
                    local function s(x) return type(x) == "table" and "{n=" .. x.n .. "}" or tostring(x) end
                    ngx.say(k, "=", s(v), " stale=", s(stale))
                end
                c:flush_all()
                c:set("a", 1)
                c:set("b", {n = 2})
                c:set("c", "three", 0.1)
                show("a"); show("b"); show("c")
                c:set("d", 4) -- evicts the least recently used: "a"
                show("a"); show("d")
                ngx.sleep(0.15)
                show("c")
                c:delete("b")
                show("b")
                ngx.say("count=", c.count and c:count() or "n/a", " capacity=", c.capacity and c:capacity() or "n/a")
                ngx.say("keys=", table.concat(c.get_keys and c:get_keys() or {}, ","))
                c:flush_all()
                show("d")
                for i = 1, 100 do c:set("k" .. i, i) end
                show("k1"); show("k98"); show("k100")
                c:set("keep", ngx.var.arg_kind)
            }
        }
        location = /lru/next {
            content_by_lua_block {
                -- the worker's cache outlives the request that filled it
                local c = caches[ngx.var.arg_kind]
                ngx.say("keep=", c:get("keep"), " k99=", c:get("k99"), " k97=", c:get("k97"))
            }
        }
    }
"#;

const LRUCACHE_EXPECTED: &str = "GET /lru?kind=plain -> 200
a=1 stale=nil
b={n=2} stale=nil
c=three stale=nil
a=nil stale=nil
d=4 stale=nil
c=nil stale=three
b=nil stale=nil
count=2 capacity=3
keys=c,d
d=nil stale=nil
k1=nil stale=nil
k98=98 stale=nil
k100=100 stale=nil
GET /lru/next?kind=plain -> 200
keep=plain k99=nil k97=nil
GET /lru?kind=pureffi -> 200
a=1 stale=nil
b={n=2} stale=nil
c=three stale=nil
a=nil stale=nil
d=4 stale=nil
c=nil stale=three
b=nil stale=nil
count=2 capacity=3
keys=c,d
d=nil stale=nil
k1=nil stale=nil
k98=98 stale=nil
k100=100 stale=nil
GET /lru/next?kind=pureffi -> 200
keep=pureffi k99=nil k97=nil
";

#[test]
fn lrucache_matches_reference() {
    if !have_module("resty/lrucache.lua", "lua-resty-lrucache", "lrucache") {
        return;
    }
    differential("lrucache", LRUCACHE, &[], LRUCACHE_EXPECTED, |port| {
        let mut t = String::new();
        for kind in ["plain", "pureffi"] {
            t += &show(port, &format!("/lru?kind={kind}"));
            t += &show(port, &format!("/lru/next?kind={kind}"));
        }
        t
    });
}

// ---------------------------------------------------------------------------------------
// lua-resty-string (Debian's lua-nginx-string): FFI to libcrypto and to nginx's own
// ngx_hex_dump / ngx_atoi, found through ffi.C.

const STRING: &str = r#"
    server {
        listen 127.0.0.1:{PORT};
        default_type text/plain;
        location = /str {
            content_by_lua_block {
                local str = require "nginx.string"
                local sha1 = require "nginx.sha1"
                local md5 = require "nginx.md5"
                local sha224 = require "nginx.sha224"
                local sha256 = require "nginx.sha256"
                local sha384 = require "nginx.sha384"
                local sha512 = require "nginx.sha512"
                local random = require "nginx.random"
                local aes = require "nginx.aes"
                ngx.say("hex: ", str.to_hex("\0\1abc\255"), " [", str.to_hex(""), "]")
                ngx.say("atoi: ", str.atoi("12345"), " ", str.atoi("12a"), " ", str.atoi(""))
                local s = sha1:new(); s:update("hello "); s:update("world")
                ngx.say("sha1: ", str.to_hex(s:final()))
                s:reset(); s:update("abc")
                ngx.say("sha1 reset: ", str.to_hex(s:final()))
                local m = md5:new(); m:update("hello world")
                ngx.say("md5: ", str.to_hex(m:final()), " ngx.md5: ", ngx.md5("hello world"))
                for _, m in ipairs({ {"sha224", sha224}, {"sha256", sha256}, {"sha384", sha384}, {"sha512", sha512} }) do
                    local h = m[2]:new(); h:update("abc")
                    ngx.say(m[1], ": ", #h:final())
                end
                local h = sha256:new(); h:update("abc")
                ngx.say("sha256: ", str.to_hex(h:final()))
                local r = random.bytes(16)
                ngx.say("random: ", #r, " ", #random.bytes(8, true), " differ: ", r ~= random.bytes(16))
                local a = aes:new("secret-key", "salt1234", aes.cipher(256, "cbc"), aes.hash.sha256, 3)
                local enc = a:encrypt("plain text message")
                ngx.say("aes256: ", ngx.encode_base64(enc), " -> ", a:decrypt(enc))
                local a2 = aes:new("k", nil, aes.cipher(128, "ecb"), aes.hash.md5)
                ngx.say("aes128: ", str.to_hex(a2:encrypt("x")))
                ngx.say("bad salt: ", aes:new("k", "short"))
            }
        }
        location = /ffi {
            content_by_lua_block {
                -- what the nginx binary offers ffi.C directly
                local ffi = require "ffi"
                ffi.cdef[[
                    unsigned char *ngx_hex_dump(unsigned char *dst, const unsigned char *src, size_t len);
                    intptr_t ngx_atoi(const unsigned char *line, size_t n);
                    unsigned long OpenSSL_version_num(void);
                    unsigned long zlibCompileFlags(void);
                ]]
                local buf = ffi.new("unsigned char[8]")
                ffi.C.ngx_hex_dump(buf, "\18\52\86\120", 4)
                ngx.say(ffi.string(buf, 8), " ", tonumber(ffi.C.ngx_atoi("9223372036854775807", 19)))
                ngx.say("openssl 3: ", tonumber(ffi.C.OpenSSL_version_num()) >= 0x30000000)
                ngx.say("zlib: ", (pcall(function() return ffi.C.zlibCompileFlags end)))
                ngx.say("cdata: ", pcall(ngx.say, ffi.new("int", 1)))
            }
        }
    }
"#;

const STRING_EXPECTED: &str = "GET /str -> 200
hex: 0001616263ff []
atoi: 12345 -1 -1
sha1: 2aae6c35c94fcfb415dbe95f408b9ce91ee846ed
sha1 reset: a9993e364706816aba3e25717850c26c9cd0d89d
md5: 5eb63bbbe01eeed093cb22bb8f5acdc3 ngx.md5: 5eb63bbbe01eeed093cb22bb8f5acdc3
sha224: 28
sha256: 32
sha384: 48
sha512: 64
sha256: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
random: 16 8 differ: true
aes256: LpTzV0u209GdHQX3My+fdmW2xP/SrsfjtqKOKbGOgI0= -> plain text message
aes128: 2a6b87be9b88478f67cc97e1fc44215f
bad salt: nilsalt must be 8 characters or nil
GET /ffi -> 200
12345678 9.2233720368548e+18
openssl 3: true
zlib: true
cdata: falsebad argument #1 to '?' (string, number, boolean, nil, ngx.null, or array table expected, but got cdata)
";

#[test]
fn resty_string_matches_reference() {
    if !have_module("nginx/string.lua", "lua-nginx-string", "resty.string") {
        return;
    }
    differential("resty.string", STRING, &[], STRING_EXPECTED, |port| {
        let t = show(port, "/str");
        t + &show(port, "/ffi")
    });
}

// ---------------------------------------------------------------------------------------
// lua-resty-lock (vendored): a shared-dict cache filled once under concurrent misses.

const LOCK: &str = r#"
    lua_shared_dict cache 1m;
    lua_shared_dict locks 1m;
    server {
        listen 127.0.0.1:{PORT};
        default_type text/plain;
        location = /fill {
            content_by_lua_block {
                local resty_lock = require "resty.lock"
                local cache = ngx.shared.cache
                local key = ngx.var.arg_key
                local v = cache:get(key)
                if v then ngx.say("hit ", v) return end
                local lock, err = resty_lock:new("locks", {timeout = 5, step = 0.01})
                if not lock then ngx.say("new failed: ", err) return end
                local elapsed, err = lock:lock(key)
                if not elapsed then ngx.say("lock failed: ", err) return end
                v = cache:get(key)
                if v then
                    lock:unlock()
                    ngx.say("hit after wait ", v, " waited ", elapsed > 0)
                    return
                end
                ngx.sleep(0.3) -- the slow backend
                cache:incr("backend_calls", 1, 0)
                cache:set(key, "value-of-" .. key, 10)
                ngx.say("filled ", lock:unlock())
            }
        }
        location = /calls {
            content_by_lua_block { ngx.say(ngx.shared.cache:get("backend_calls")) }
        }
        location = /api {
            content_by_lua_block {
                local resty_lock = require "resty.lock"
                ngx.say(resty_lock:new("nosuchdict"))
                local a = resty_lock:new("locks", {timeout = 0.05, exptime = 5})
                local b = resty_lock:new("locks", {timeout = 0})
                local c = resty_lock:new("locks", {timeout = 0.05, step = 0.01})
                ngx.say("a: ", a:lock("k"))
                ngx.say("a again: ", a:lock("k"))
                ngx.say("b: ", b:lock("k"))
                ngx.say("c: ", c:lock("k"))
                ngx.say("expire: ", a:expire(1))
                ngx.say("unlock: ", a:unlock())
                ngx.say("unlock again: ", a:unlock())
                ngx.say("expire unlocked: ", a:expire(1))
                ngx.say("b now: ", b:lock("k"))
                ngx.say("b unlock: ", b:unlock())
                local d = resty_lock:new("locks", {exptime = 0.05})
                ngx.say("d: ", d:lock("k2"))
                ngx.sleep(0.1)
                ngx.say("b after expiry: ", b:lock("k2"), " ", b:unlock())
                ngx.say("d unlock after expiry: ", d:unlock())
            }
        }
    }
"#;

const LOCK_EXPECTED: &str = "6 concurrent misses:
filled 1
hit after wait value-of-x waited true
hit after wait value-of-x waited true
hit after wait value-of-x waited true
hit after wait value-of-x waited true
hit after wait value-of-x waited true
GET /calls -> 200
1
GET /fill?key=x -> 200
hit value-of-x
GET /api -> 200
nildictionary not found
a: 0
a again: nillocked
b: niltimeout
c: niltimeout
expire: true
unlock: 1
unlock again: nilunlocked
expire unlocked: nilunlocked
b now: 0
b unlock: 1
d: 0
b after expiry: 0 1
d unlock after expiry: 1
";

#[test]
fn lock_matches_reference() {
    differential("lock", LOCK, &[], LOCK_EXPECTED, |port| {
        let mut bodies: Vec<String> = concurrent(port, "/fill?key=x", 6)
            .into_iter()
            .map(|r| format!("{} {}", r.status, r.body))
            .collect();
        bodies.sort();
        let mut t = String::from("6 concurrent misses:\n");
        for b in bodies {
            t += b.strip_prefix("200 ").unwrap_or(&b);
        }
        t + &show(port, "/calls") + &show(port, "/fill?key=x") + &show(port, "/api")
    });
}

// ---------------------------------------------------------------------------------------
// lua-resty-limit-traffic (vendored): limit.req, limit.conn, limit.count, limit.traffic.

const LIMIT: &str = r#"
    lua_shared_dict req_store 1m;
    lua_shared_dict conn_store 1m;
    lua_shared_dict count_store 1m;
    lua_shared_dict unit 1m;
    server {
        listen 127.0.0.1:{PORT};
        default_type text/plain;
        location = /req {
            access_by_lua_block {
                local limit_req = require "resty.limit.req"
                -- one request per 10 s, a burst of 2, not delayed
                local lim, err = limit_req.new("req_store", 0.1, 2)
                if not lim then ngx.log(ngx.ERR, err) return ngx.exit(500) end
                local delay, err = lim:incoming(ngx.var.binary_remote_addr, true)
                if not delay then
                    if err == "rejected" then return ngx.exit(503) end
                    return ngx.exit(500)
                end
            }
            content_by_lua_block { ngx.say("served") }
        }
        location = /conn {
            access_by_lua_block {
                local limit_conn = require "resty.limit.conn"
                local lim, err = limit_conn.new("conn_store", 2, 1, 0.5)
                local key = "client"
                local delay, err = lim:incoming(key, true)
                if not delay then
                    if err == "rejected" then return ngx.exit(503) end
                    return ngx.exit(500)
                end
                if lim:is_committed() then
                    local ctx = ngx.ctx
                    ctx.limit_conn = lim
                    ctx.limit_conn_key = key
                end
                if delay >= 0.001 then ngx.sleep(delay) end
            }
            content_by_lua_block { ngx.sleep(0.8) ngx.say("served") }
            log_by_lua_block {
                local ctx = ngx.ctx
                local lim = ctx.limit_conn
                if lim then
                    local conn, err = lim:leaving(ctx.limit_conn_key, 0.8)
                    if not conn then ngx.log(ngx.ERR, "leaving: ", err) end
                end
            }
        }
        location = /conn_left {
            content_by_lua_block { ngx.say(ngx.shared.conn_store:get("client")) }
        }
        location = /count {
            access_by_lua_block {
                local limit_count = require "resty.limit.count"
                local lim, err = limit_count.new("count_store", 3, 60)
                local delay, err = lim:incoming("k", true)
                ngx.header["X-RateLimit-Limit"] = "3"
                if not delay then
                    if err == "rejected" then
                        ngx.header["X-RateLimit-Remaining"] = 0
                        return ngx.exit(503)
                    end
                    return ngx.exit(500)
                end
                ngx.header["X-RateLimit-Remaining"] = err
            }
            content_by_lua_block { ngx.say("served") }
        }
        location = /unit {
            content_by_lua_block {
                -- ngx.now() stands still within the request: exact delays
                local limit_req = require "resty.limit.req"
                local limit_conn = require "resty.limit.conn"
                local limit_count = require "resty.limit.count"
                local limit_traffic = require "resty.limit.traffic"
                ngx.shared.unit:flush_all()
                local r = limit_req.new("unit", 200, 100)
                for i = 1, 5 do
                    local d, e = r:incoming("r", true)
                    ngx.say("req ", i, ": ", d, " ", e)
                end
                ngx.say("uncommit: ", r:uncommit("r"))
                r:set_rate(1) r:set_burst(0)
                ngx.say("after set_rate: ", r:incoming("r", false))
                local c = limit_conn.new("unit", 1, 1, 0.5)
                for i = 1, 3 do ngx.say("conn ", i, ": ", c:incoming("c", true)) end
                ngx.say("leaving: ", c:leaving("c", 0.2))
                ngx.say("uncommit: ", c:uncommit("c"))
                c:set_conn(5) c:set_burst(0)
                ngx.say("conn more: ", c:incoming("c", true))
                local n = limit_count.new("unit", 2, 10)
                for i = 1, 3 do ngx.say("count ", i, ": ", n:incoming("n", true)) end
                ngx.say("count uncommit: ", n:uncommit("n"))
                local lr = limit_req.new("unit", 100, 50)
                local lc = limit_count.new("unit", 3, 10)
                local states = {}
                for i = 1, 4 do
                    local delay, err = limit_traffic.combine({lr, lc}, {"tr", "tc"}, states)
                    ngx.say("combine ", i, ": ", delay, " ", err, " states ", states[1], ",", states[2])
                end
                ngx.say(limit_req.new("nosuch", 1, 1))
                ngx.say(limit_count.new("nosuch", 1, 1))
                ngx.say(limit_conn.new("nosuch", 1, 1, 1))
            }
        }
    }
"#;

const LIMIT_EXPECTED: &str = "GET /unit -> 200
req 1: 0 0
req 2: 0.005 1
req 3: 0.01 2
req 4: 0.015 3
req 5: 0.02 4
uncommit: true
after set_rate: nilrejected
conn 1: 01
conn 2: 0.52
conn 3: nilrejected
leaving: 1
uncommit: 0
conn more: 01
count 1: 01
count 2: 00
count 3: nilrejected
count uncommit: 0
combine 1: 0 nil states 0,2
combine 2: 0.01 nil states 1,1
combine 3: 0.02 nil states 2,0
combine 4: nil rejected states 2,0
nilshared dict not found
nilshared dict not found
nilshared dict not found
/req x8: 200 200 200 503 503 503 503 503
/count x5: 200:2 200:1 200:0 503:0 503:0
/conn x6 at once: 200 200 200 503 503 503
GET /conn_left -> 200
0
";

#[test]
fn limit_traffic_matches_reference() {
    differential("limit-traffic", LIMIT, &[], LIMIT_EXPECTED, |port| {
        let mut t = show(port, "/unit");
        let req: Vec<String> = (0..8)
            .map(|_| get(port, "/req").status.to_string())
            .collect();
        t += &format!("/req x8: {}\n", req.join(" "));
        let count: Vec<String> = (0..5)
            .map(|_| {
                let r = get(port, "/count");
                let left = r.header("X-RateLimit-Remaining").join(",");
                format!("{}:{left}", r.status)
            })
            .collect();
        t += &format!("/count x5: {}\n", count.join(" "));
        let mut conn: Vec<u16> = concurrent(port, "/conn", 6)
            .iter()
            .map(|r| r.status)
            .collect();
        conn.sort();
        let conn: Vec<String> = conn.iter().map(|s| s.to_string()).collect();
        t += &format!("/conn x6 at once: {}\n", conn.join(" "));
        // the log phase of the last request may still run after its response
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut left = show(port, "/conn_left");
        while !left.ends_with("\n0\n") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            left = show(port, "/conn_left");
        }
        t + &left
    });
}

// ---------------------------------------------------------------------------------------
// lua-resty-memcached (Debian's lua-nginx-memcached) against a real memcached.

const MEMCACHED_BIN: &str = "/usr/bin/memcached";

/// memcached on a free port (as `nobody` when run as root, which memcached refuses).
fn memcached() -> Option<(Proc, u16)> {
    if !Path::new(MEMCACHED_BIN).exists() {
        eprintln!("note: {MEMCACHED_BIN} (Debian's memcached) is not installed; memcached skipped");
        return None;
    }
    let port = free_port();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false);
    let mut cmd = Command::new(MEMCACHED_BIN);
    cmd.args(["-p", &port.to_string(), "-l", "127.0.0.1", "-U", "0"]);
    if root {
        cmd.args(["-u", "nobody"]);
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut p = Proc { child, dir: None };
    wait_port(&mut p, port, "memcached");
    Some((p, port))
}

const MEMCACHED: &str = r#"
    init_by_lua_block {
        local memcached = require "nginx.memcached"
        function with_memc(f)
            local memc = memcached:new()
            memc:set_timeout(1000)
            local ok, err = memc:connect("127.0.0.1", {MEMC})
            if not ok then ngx.say("failed to connect: ", err) return end
            f(memc)
            local ok, err = memc:set_keepalive(10000, 10)
            if not ok then ngx.say("failed to set keepalive: ", err) end
        end
    }
    server {
        listen 127.0.0.1:{PORT};
        default_type text/plain;
        location = /flush {
            content_by_lua_block { with_memc(function(m) ngx.say("flush: ", m:flush_all()) end) }
        }
        location = /store {
            content_by_lua_block {
                with_memc(function(memc)
                    ngx.say("set: ", memc:set("dog", "an animal", 0, 7))
                    ngx.say("get: ", memc:get("dog"))
                    ngx.say("add existing: ", memc:add("dog", "x"))
                    ngx.say("add new: ", memc:add("cat", "meow"))
                    ngx.say("replace: ", memc:replace("cat", "purr"))
                    ngx.say("replace missing: ", memc:replace("cow", "moo"))
                    ngx.say("append: ", memc:append("cat", "!"))
                    ngx.say("prepend: ", memc:prepend("cat", "<"))
                    ngx.say("cat: ", memc:get("cat"))
                    ngx.say("table value: ", memc:set("t", {"a", {"b", "c"}}), " ", memc:get("t"))
                end)
            }
        }
        location = /multi {
            content_by_lua_block {
                with_memc(function(memc)
                    local res, err = memc:get({"dog", "cat", "none"})
                    ngx.say("multi: ", res.dog[1], " ", res.dog[2], " ", res.cat[1], " ", tostring(res.none), " ", err)
                    local res = memc:gets({"dog"})
                    ngx.say("multi gets: ", res.dog[1], " ", res.dog[2], " ", type(res.dog[3]))
                end)
            }
        }
        location = /cas {
            content_by_lua_block {
                with_memc(function(memc)
                    local v, flags, cas = memc:gets("dog")
                    ngx.say("gets: ", v, " ", flags, " ", type(cas))
                    ngx.say("cas ok: ", memc:cas("dog", "cas value", cas))
                    ngx.say("cas stale: ", memc:cas("dog", "other", cas))
                    ngx.say("after: ", memc:get("dog"))
                end)
            }
        }
        location = /counters {
            content_by_lua_block {
                with_memc(function(memc)
                    ngx.say("set: ", memc:set("n", 10))
                    ngx.say("incr: ", memc:incr("n", 5))
                    ngx.say("decr: ", memc:decr("n", 30))
                    ngx.say("incr bad: ", memc:incr("cat", 1))
                    ngx.say("incr missing: ", memc:incr("nothing", 1))
                end)
            }
        }
        location = /misc {
            content_by_lua_block {
                with_memc(function(memc)
                    ngx.say("touch: ", memc:touch("dog", 100), " ", memc:touch("nothing", 1))
                    ngx.say("delete: ", memc:delete("dog"), " ", memc:delete("dog"))
                    ngx.say("get missing: ", memc:get("dog"))
                    ngx.say("version: ", type(memc:version()))
                    local stats = memc:stats()
                    ngx.say("stats: ", type(stats), " ", #stats > 10)
                    ngx.say("verbosity: ", memc:verbosity(1))
                    local big = string.rep("0123456789", 20000)
                    ngx.say("big: ", memc:set("big", big), " ", memc:get("big") == big)
                    ngx.say("reused: ", memc:get_reused_times() > 0)
                    ngx.say("expiry: ", memc:set("short", "x", 1))
                end)
            }
        }
        location = /errors {
            content_by_lua_block {
                local memcached = require "nginx.memcached"
                local memc = memcached:new()
                memc:set_timeout(300)
                ngx.say("dead: ", memc:connect("127.0.0.1", {DEAD}))
                ngx.say("not connected: ", memc:get("x"))
                local memc = memcached:new()
                ngx.say("unconnected close: ", memc:close())
                local memc = memcached:new({ key_transform = { function(k) return k end, function(k) return k end } })
                memc:connect("127.0.0.1", {MEMC})
                ngx.say("bad key: ", memc:get("a b"))
                ngx.say("quit: ", memc:quit())
                ngx.say("after quit: ", memc:get("x"))
            }
        }
    }
"#;

const MEMCACHED_EXPECTED: &str = "GET /flush -> 200
flush: 1
GET /store -> 200
set: 1
get: an animal7
add existing: nilNOT_STORED
add new: 1
replace: 1
replace missing: nilNOT_STORED
append: 1
prepend: 1
cat: <purr!0
table value: 1 abc0
GET /multi -> 200
multi: an animal 7 <purr! nil nil
multi gets: an animal 7 string
GET /cas -> 200
gets: an animal 7 string
cas ok: 1
cas stale: nilEXISTS
after: cas value0
GET /counters -> 200
set: 1
incr: 15
decr: 0
incr bad: nilCLIENT_ERROR cannot increment or decrement non-numeric value
incr missing: nilNOT_FOUND
GET /misc -> 200
touch: 1 nilNOT_FOUND
delete: 1 nilNOT_FOUND
get missing: nilnilnil
version: string
stats: table true
verbosity: 1
big: 1 true
reused: true
expiry: 1
GET /errors -> 200
dead: nilconnection refused
not connected: nilnilclosed
unconnected close: nilclosed
bad key: nilnilnil
quit: 1
after quit: nilnilclosed
";

#[test]
fn memcached_matches_reference() {
    if !have_module("nginx/memcached.lua", "lua-nginx-memcached", "memcached") {
        return;
    }
    let Some((_memc, mport)) = memcached() else {
        return;
    };
    let vars = [("{MEMC}", mport.to_string())];
    differential("memcached", MEMCACHED, &vars, MEMCACHED_EXPECTED, |port| {
        [
            "/flush",
            "/store",
            "/multi",
            "/cas",
            "/counters",
            "/misc",
            "/errors",
        ]
        .iter()
        .map(|u| show(port, u))
        .collect()
    });
}

// ---------------------------------------------------------------------------------------
// lua-resty-http (vendored): request_uri, the streaming body reader, keepalive, pipelining,
// proxying, TLS; against backend server blocks of the same config.

const HTTP: &str = r#"
    server {
        listen 127.0.0.1:{PORT2};
        listen 127.0.0.1:{PORT3} ssl;
        ssl_certificate {CERT};
        ssl_certificate_key {KEY};
        default_type text/plain;
        location = /echo {
            content_by_lua_block {
                ngx.req.read_body()
                ngx.header["X-Method"] = ngx.req.get_method()
                ngx.header["X-Got-Header"] = ngx.var.http_x_test
                ngx.say("method=", ngx.req.get_method(), " args=", ngx.var.args, " body=", ngx.req.get_body_data())
                ngx.say("ua=", ngx.var.http_user_agent, " ct=", ngx.var.http_content_type, " cl=", ngx.var.http_content_length, " te=", ngx.var.http_transfer_encoding, " https=", ngx.var.https)
            }
        }
        location = /chunked {
            content_by_lua_block {
                for i = 1, 5 do
                    ngx.print(string.rep(tostring(i), 1000 * i))
                    ngx.flush(true)
                end
            }
        }
        location = /fixed { return 200 "0123456789abcdefghij"; }
        location = /missing { return 404; }
        location = /redirect { return 302 /fixed; }
        location /proxied {
            content_by_lua_block {
                ngx.req.read_body()
                ngx.header["X-Backend"] = "yes"
                ngx.header["Set-Cookie"] = {"a=1", "b=2"}
                ngx.say(ngx.req.get_method(), " ", ngx.var.request_uri, " body=", ngx.req.get_body_data(), " cl=", ngx.var.http_content_length)
            }
        }
    }
    server {
        listen 127.0.0.1:{PORT};
        default_type text/plain;
        location = /uri {
            content_by_lua_block {
                local http = require "resty.http"
                local httpc = http.new()
                local res, err = httpc:request_uri("http://127.0.0.1:{PORT2}/echo?a=1&b=2", {
                    method = "POST", body = "hello=world",
                    headers = { ["Content-Type"] = "application/x-www-form-urlencoded", ["X-Test"] = "yes" },
                })
                if not res then ngx.say("failed: ", err) return end
                ngx.say(res.status, " ", res.reason, " ", res.headers["x-method"], " ", res.headers["X-Got-Header"], " ", res.headers["Content-Type"])
                ngx.print(res.body)
                local res = httpc:request_uri("http://127.0.0.1:{PORT2}/echo", { query = { x = "y z" } })
                ngx.print(res.body)
                local res = httpc:request_uri("http://127.0.0.1:{PORT2}/missing")
                ngx.say(res.status, " ", #res.body)
                local res = httpc:request_uri("http://127.0.0.1:{PORT2}/redirect")
                ngx.say(res.status, " ", res.headers["Location"]:match("/fixed$"))
                local res = httpc:request_uri("http://127.0.0.1:{PORT2}/chunked")
                ngx.say(res.status, " ", #res.body, " ", res.headers["Transfer-Encoding"])
                local res = httpc:request_uri("http://127.0.0.1:{PORT2}/fixed", { method = "HEAD" })
                ngx.say("head ", res.status, " ", res.headers["Content-Length"], " [", res.body, "]")
                local res, err = httpc:request_uri("http://127.0.0.1:{DEAD}/")
                ngx.say("dead: ", res, " ", err)
                local res, err = httpc:request_uri("ftp://x/")
                ngx.say("bad: ", res, " ", err)
                local slow = http.new()
                slow:set_timeout(100)
                local res, err = slow:request_uri("http://127.0.0.1:{PORT2}/echo", { keepalive = false })
                ngx.say("no keepalive: ", res.status)
            }
        }
        location = /stream {
            content_by_lua_block {
                local http = require "resty.http"
                local httpc = http.new()
                httpc:set_timeouts(1000, 1000, 1000)
                local ok, err = httpc:connect({ scheme = "http", host = "127.0.0.1", port = {PORT2} })
                if not ok then ngx.say("connect failed: ", err) return end
                for round = 1, 2 do
                    local res, err = httpc:request({ path = "/chunked", headers = { Host = "backend" } })
                    if not res then ngx.say("request failed: ", err) return end
                    ngx.say("status ", res.status, " has_body ", res.has_body, " reused ", httpc:get_reused_times())
                    local total, n = 0, 0
                    repeat
                        local chunk, err = res.body_reader(4096)
                        if err then ngx.say("read err: ", err) break end
                        if chunk then total = total + #chunk n = n + 1 end
                    until not chunk
                    ngx.say("read ", total, " in more than 4 pieces: ", n > 4)
                    local res, err = httpc:request({ path = "/fixed" })
                    if not res then ngx.say("request failed: ", err) return end
                    local parts = {}
                    repeat
                        local chunk = res.body_reader(7)
                        if chunk then parts[#parts + 1] = chunk end
                    until not chunk
                    ngx.say(table.concat(parts, "|"))
                end
                ngx.say("keepalive: ", httpc:set_keepalive())
                local again = http.new()
                again:connect({ scheme = "http", host = "127.0.0.1", port = {PORT2} })
                ngx.say("reused from pool: ", again:get_reused_times())
                local res, err = again:request({ path = "/echo", method = "PUT",
                    headers = { ["Transfer-Encoding"] = "chunked" },
                    body = coroutine.wrap(function()
                        -- the body function yields the chunked encoding itself
                        coroutine.yield("6\r\npart1,\r\n")
                        coroutine.yield("5\r\npart2\r\n")
                        coroutine.yield("0\r\n\r\n")
                    end) })
                ngx.print(res and res:read_body() or err)
                local res, err = again:request({ path = "/echo", method = "PUT",
                    body = function() return nil end })
                ngx.say("function body without length: ", res, " ", err)
                local res, err = again:request({ path = "/echo", method = "PUT", body = "abc" })
                ngx.print(res and res:read_body() or err)
                local responses = again:request_pipeline({ { path = "/fixed" }, { path = "/missing" }, { path = "/echo?p=1" } })
                for i, r in ipairs(responses) do ngx.say(i, " ", r.status, " ", #(r:read_body() or "")) end
                again:close()
                local p = httpc:parse_uri("https://example.com/x?y")
                ngx.say(p[1], " ", p[2], " ", p[3], " ", p[4], " ", p[5])
            }
        }
        location /p/ {
            content_by_lua_block {
                local http = require "resty.http"
                local httpc = http.new()
                local ok, err = httpc:connect("127.0.0.1", {PORT2})
                if not ok then ngx.say("connect: ", err) return end
                ngx.req.read_body()
                local res, err = httpc:request({
                    method = ngx.req.get_method(),
                    path = "/proxied" .. ngx.var.uri:sub(3),
                    query = ngx.var.args,
                    body = ngx.req.get_body_data(),
                    headers = { ["X-Forwarded-For"] = ngx.var.remote_addr },
                })
                if not res then ngx.say("request: ", err) return end
                httpc:proxy_response(res)
                httpc:set_keepalive()
            }
        }
        location = /reader {
            content_by_lua_block {
                local http = require "resty.http"
                local reader, err = http.new():get_client_body_reader(4)
                ngx.say("reader: ", type(reader), " ", err)
                if reader then
                    repeat
                        local chunk, err = reader()
                        if chunk then ngx.say("chunk: ", chunk) end
                        if err then ngx.say("err: ", err) end
                    until not chunk
                end
            }
        }
        location = /tls/trusted {
            # the self-signed certificate trusted as it is; its name only in the CN
            lua_ssl_trusted_certificate {CERT};
            content_by_lua_block {
                local http = require "resty.http"
                local httpc = http.new()
                for _, name in ipairs({"localhost", "LocalHost", "other.test", "sub.localhost"}) do
                    local res, err = httpc:request_uri("https://127.0.0.1:{PORT3}/fixed", { ssl_server_name = name })
                    ngx.say(name, ": ", res and res.body, " ", err)
                end
                local res, err = httpc:request_uri("https://127.0.0.1:{PORT3}/fixed")
                ngx.say("by address: ", res and res.body, " ", err)
            }
        }
        location = /tls {
            content_by_lua_block {
                local http = require "resty.http"
                local httpc = http.new()
                local res, err = httpc:request_uri("https://127.0.0.1:{PORT3}/echo", { ssl_verify = false, ssl_server_name = "localhost" })
                ngx.print(res and res.status .. " " .. res.body or err .. "\n")
                local res, err = httpc:request_uri("https://127.0.0.1:{PORT3}/echo", { ssl_verify = true, ssl_server_name = "localhost" })
                ngx.say(res, " ", err)
                local ok, err = httpc:connect({ scheme = "https", host = "127.0.0.1", port = {PORT3}, ssl_server_name = "example.org", ssl_verify = false })
                ngx.say("connect: ", ok, " ", err)
                local res = httpc:request({ path = "/fixed", headers = { Host = "example.org" } })
                ngx.say(res.status, " ", res:read_body())
                ngx.say("keepalive: ", httpc:set_keepalive())
                httpc:connect({ scheme = "https", host = "127.0.0.1", port = {PORT3}, ssl_server_name = "example.org", ssl_verify = false })
                ngx.say("reused: ", httpc:get_reused_times())
                local res = httpc:request({ path = "/fixed" })
                ngx.say(res.status, " ", res:read_body())
            }
        }
    }
"#;

const HTTP_EXPECTED: &str = r#"GET /uri -> 200
200 OK POST yes text/plain
method=POST args=a=1&b=2 body=hello=world
ua=lua-resty-http/0.17.2 (Lua) ngx_lua/10023 ct=application/x-www-form-urlencoded cl=11 te=nil https=
method=GET args=x=y%20z body=nil
ua=lua-resty-http/0.17.2 (Lua) ngx_lua/10023 ct=nil cl=nil te=nil https=
404 153
302 /fixed
200 15000 chunked
head 200 20 []
dead: nil connection refused
bad: nil bad uri: ftp://x/
no keepalive: 200
GET /stream -> 200
status 200 has_body true reused 0
read 15000 in more than 4 pieces: true
0123456|789abcd|efghij
status 200 has_body true reused 0
read 15000 in more than 4 pieces: true
0123456|789abcd|efghij
keepalive: 1
reused from pool: 1
method=PUT args=nil body=part1,part2
ua=lua-resty-http/0.17.2 (Lua) ngx_lua/10023 ct=nil cl=nil te=chunked https=
function body without length: nil Request body is a function but a length or chunked encoding is not specified
method=PUT args=nil body=abc
ua=lua-resty-http/0.17.2 (Lua) ngx_lua/10023 ct=nil cl=3 te=nil https=
1 200 20
2 404 153
3 200 102
https example.com 443 /x?y nil
POST /p/x?y=1 -> 200 x-backend=["yes"] set-cookie=["a=1", "b=2"]
POST /proxied/x?y=1 body=posted data cl=11
GET /p/get -> 200 x-backend=["yes"] set-cookie=["a=1", "b=2"]
GET /proxied/get body=nil cl=nil
POST /reader -> 200 x-backend=[] set-cookie=[]
reader: function nil
chunk: abcd
chunk: efgh
chunk: ij
GET /reader -> 200 x-backend=[] set-cookie=[]
reader: nil nil
GET /tls -> 200
200 method=GET args=nil body=nil
ua=lua-resty-http/0.17.2 (Lua) ngx_lua/10023 ct=nil cl=nil te=nil https=on
nil 18: self-signed certificate
connect: true nil
200 0123456789abcdefghij
keepalive: 1
reused: 1
200 0123456789abcdefghij
GET /tls/trusted -> 200
localhost: 0123456789abcdefghij nil
LocalHost: 0123456789abcdefghij nil
other.test: nil certificate host mismatch
sub.localhost: nil certificate host mismatch
by address: nil certificate host mismatch
"#;

/// A self-signed certificate for `localhost` made by the openssl command, in `dir`.
fn certificate(dir: &Path, test: &str) -> Option<(String, String)> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-subj", "/CN=localhost"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("note: the openssl command failed or is missing; {test} skipped");
        return None;
    }
    Some((
        cert.to_string_lossy().into_owned(),
        key.to_string_lossy().into_owned(),
    ))
}

#[test]
fn resty_http_matches_reference() {
    // lua-resty-http requires resty.string (Debian's lua-nginx-string)
    if !have_module("nginx/string.lua", "lua-nginx-string", "lua-resty-http") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("oxresty-lualibs-pki-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let Some((cert, key)) = certificate(&dir, "lua-resty-http") else {
        let _ = std::fs::remove_dir_all(&dir);
        return;
    };
    let vars = [
        ("{PORT3}", free_port().to_string()),
        ("{CERT}", cert),
        ("{KEY}", key),
    ];
    differential("lua-resty-http", HTTP, &vars, HTTP_EXPECTED, |port| {
        let mut t = show(port, "/uri") + &show(port, "/stream");
        for (method, uri, body, extra) in [
            ("POST", "/p/x?y=1", Some("posted data"), &[][..]),
            ("GET", "/p/get", None, &[][..]),
            ("POST", "/reader", Some("abcdefghij"), &[][..]),
            ("GET", "/reader", None, &[][..]),
        ] {
            let r = request(port, method, uri, extra, body);
            t += &format!(
                "{method} {uri} -> {} x-backend={:?} set-cookie={:?}\n{}",
                r.status,
                r.header("X-Backend"),
                r.header("Set-Cookie"),
                r.body
            );
        }
        t + &show(port, "/tls") + &show(port, "/tls/trusted")
    });
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------
// lua-resty-websocket's client (Debian's lua-nginx-websocket) against a mock echo server.

/// A WebSocket echo server on a free port, serving connections until the test ends: it
/// answers the handshake, echoes data frames (unmasked, same opcode and FIN), answers a
/// ping with a pong and a close with a close. A text frame "handshake?" is answered with
/// the handshake request's lines (the key left out), sorted.
fn ws_mock() -> u16 {
    let port = free_port();
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || ws_serve(conn));
        }
    });
    port
}

fn read_n(s: &mut TcpStream, n: usize) -> Option<Vec<u8>> {
    let mut b = vec![0; n];
    s.read_exact(&mut b).ok()?;
    Some(b)
}

fn ws_serve(mut s: TcpStream) -> Option<()> {
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.extend(read_n(&mut s, 1)?);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines: Vec<&str> = head
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("sec-websocket-key"))
        .collect();
    lines.sort();
    let handshake = lines.join("\n");
    // (the client does not check Sec-WebSocket-Accept)
    s.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n")
        .ok()?;
    loop {
        let h = read_n(&mut s, 2)?;
        let (fin, mut op) = (h[0] & 0x80, h[0] & 0x0f);
        let mut len = u64::from(h[1] & 0x7f);
        if len == 126 {
            let b = read_n(&mut s, 2)?;
            len = u64::from(u16::from_be_bytes([b[0], b[1]]));
        } else if len == 127 {
            let b = read_n(&mut s, 8)?;
            len = u64::from_be_bytes(b.try_into().ok()?);
        }
        let mask = if h[1] & 0x80 != 0 {
            read_n(&mut s, 4)?
        } else {
            vec![0; 4]
        };
        let mut data = read_n(&mut s, usize::try_from(len).ok()?)?;
        for (i, b) in data.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
        if op == 0x9 {
            op = 0xa;
        }
        if op == 0x1 && data == b"handshake?" {
            data = handshake.clone().into_bytes();
        }
        let mut out = vec![fin | op];
        match data.len() {
            n if n < 126 => out.push(n as u8),
            n if n < 65536 => {
                out.push(126);
                out.extend((n as u16).to_be_bytes());
            }
            n => {
                out.push(127);
                out.extend((n as u64).to_be_bytes());
            }
        }
        out.extend(&data);
        s.write_all(&out).ok()?;
        if op == 0x8 {
            return Some(());
        }
    }
}

const WEBSOCKET: &str = r#"
    server {
        # wss:// : TLS in front of the mock, proxied with the upgrade
        listen 127.0.0.1:{PORT2} ssl;
        ssl_certificate {CERT};
        ssl_certificate_key {KEY};
        location / {
            proxy_pass http://127.0.0.1:{WS};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
        }
    }
    server {
        listen 127.0.0.1:{PORT};
        default_type text/plain;
        location = /ws {
            content_by_lua_block {
                local client = require "nginx.websocket.client"
                local wb, err = client:new({ timeout = 2000, max_payload_len = 200000 })
                local ok, err = wb:connect("ws://127.0.0.1:{WS}/echo?x=1", { protocols = {"chat", "superchat"}, origin = "http://origin.test" })
                if not ok then ngx.say("failed to connect: ", err) return end
                wb:send_text("handshake?")
                ngx.say(wb:recv_frame())
                ngx.say("send_text: ", wb:send_text("hello"))
                local data, typ, err = wb:recv_frame()
                ngx.say("got: ", data, " ", typ, " ", err)
                wb:send_binary("\0\1\2")
                local data, typ = wb:recv_frame() ngx.say("binary: ", #data, " ", typ)
                wb:send_ping("pp")
                local data, typ = wb:recv_frame() ngx.say("pong: ", data, " ", typ)
                local big = string.rep("z", 70000)
                wb:send_text(big)
                local data, typ = wb:recv_frame() ngx.say("big: ", #data, " ", typ, " ", data == big)
                wb:send_frame(false, 0x1, "frag1")
                local data, typ, err = wb:recv_frame() ngx.say("fragment: ", data, " ", typ, " ", err)
                wb:send_frame(true, 0x0, "frag2")
                local data, typ, err = wb:recv_frame() ngx.say("continuation: ", data, " ", typ, " ", err)
                ngx.say("close: ", wb:send_close(1000, "bye"))
                local data, typ, err = wb:recv_frame() ngx.say("close reply: ", data, " ", typ, " ", err)
                ngx.say("after close: ", wb:send_text("x"))
                local wb2 = client:new({ timeout = 300 })
                ngx.say("dead: ", wb2:connect("ws://127.0.0.1:{DEAD}/"))
                ngx.say("bad uri: ", wb2:connect("http://127.0.0.1/"))
                local wb3 = client:new({ max_payload_len = 10 })
                wb3:connect("ws://127.0.0.1:{WS}/again")
                wb3:send_text(string.rep("y", 20))
                ngx.say("too long: ", wb3:recv_frame())
                local wb4 = client:new()
                wb4:connect("ws://127.0.0.1:{WS}/pool")
                ngx.say("keepalive: ", wb4:set_keepalive(1000, 2))
                local wb5 = client:new()
                ngx.say("from pool: ", wb5:connect("ws://127.0.0.1:{WS}/pool"))
                wb5:send_text("still open")
                ngx.say(wb5:recv_frame())
            }
        }
        location = /wss {
            content_by_lua_block {
                local client = require "nginx.websocket.client"
                local wb = client:new({ timeout = 2000 })
                local ok, err = wb:connect("wss://127.0.0.1:{PORT2}/tls", { ssl_verify = false, server_name = "localhost" })
                if not ok then ngx.say("failed to connect: ", err) return end
                wb:send_text("handshake?")
                local data = wb:recv_frame()
                ngx.say((data:gsub("Host: [^\n]*", "Host: H")))
                wb:send_text("over tls")
                ngx.say(wb:recv_frame())
                ngx.say(wb:send_close())
                ngx.say(wb:recv_frame())
                local wb = client:new({ timeout = 2000 })
                ngx.say(wb:connect("wss://127.0.0.1:{PORT2}/tls", { ssl_verify = true, server_name = "localhost" }))
            }
        }
    }
"#;

const WEBSOCKET_EXPECTED: &str = "GET /ws -> 200
Connection: Upgrade
GET /echo?x=1 HTTP/1.1
Host: 127.0.0.1:WS
Origin: http://origin.test
Sec-WebSocket-Protocol: chat,superchat
Sec-WebSocket-Version: 13
Upgrade: websockettextnil
send_text: 11nil
got: hello text nil
binary: 3 binary
pong: pp pong
big: 70000 text true
fragment: frag1 text again
continuation: frag2 continuation nil
close: 11nil
close reply: bye close 1000
after close: nilalready closed
dead: nilfailed to connect: connection refused
bad uri: nilbad websocket uri
too long: nilnilfatal error already happened
keepalive: 1
from pool: 1
still opentextnil
GET /wss -> 200
Connection: upgrade
GET /tls HTTP/1.1
Host: H
Sec-WebSocket-Version: 13
Upgrade: websocket
over tlstextnil
6nil
closenil
nilssl handshake failed: 18: self-signed certificate
";

#[test]
fn websocket_client_matches_reference() {
    if !have_module(
        "nginx/websocket/client.lua",
        "lua-nginx-websocket",
        "websocket client",
    ) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("oxresty-lualibs-wss-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let Some((cert, key)) = certificate(&dir, "websocket client") else {
        let _ = std::fs::remove_dir_all(&dir);
        return;
    };
    let ws = ws_mock().to_string();
    let vars = [("{WS}", ws.clone()), ("{CERT}", cert), ("{KEY}", key)];
    differential(
        "websocket client",
        WEBSOCKET,
        &vars,
        WEBSOCKET_EXPECTED,
        |port| (show(port, "/ws") + &show(port, "/wss")).replace(&ws, "WS"),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------
// lua-resty-websocket's server (resty.websocket.server over `ngx.req.socket(true)`): an echo
// server, talked to by the library's client and by raw bytes from the test.

const WEBSOCKET_SERVER: &str = r#"
    server {
        listen 127.0.0.1:{PORT};
        default_type text/plain;
        location = /echo {
            content_by_lua_block {
                local server = require "nginx.websocket.server"
                local wb, err = server:new({ timeout = 3000, max_payload_len = 100000 })
                if not wb then
                    ngx.log(ngx.NOTICE, "server: failed to new: ", err)
                    return ngx.exit(400)
                end
                while true do
                    local data, typ, err = wb:recv_frame()
                    if not data then
                        ngx.log(ngx.NOTICE, "server: recv failed: ", err)
                        return
                    end
                    if typ == "close" then
                        local bytes, err = wb:send_close(1000, "bye " .. data)
                        ngx.log(ngx.NOTICE, "server: closed: ", err, " ", bytes)
                        return
                    elseif typ == "ping" then
                        wb:send_pong(data)
                    elseif typ == "text" then
                        wb:send_text("echo: " .. data)
                    elseif typ == "binary" then
                        wb:send_binary(data)
                    end
                end
            }
        }
        location = /ws {
            content_by_lua_block {
                local client = require "nginx.websocket.client"
                local wb = client:new({ timeout = 3000, max_payload_len = 100000 })
                local ok, err = wb:connect("ws://127.0.0.1:{PORT}/echo")
                if not ok then ngx.say("failed to connect: ", err) return end
                ngx.say("send_text: ", wb:send_text("hello"))
                ngx.say("got: ", wb:recv_frame())
                wb:send_binary("\0\1\2")
                local data, typ = wb:recv_frame() ngx.say("binary: ", #data, " ", typ)
                wb:send_ping("pp")
                ngx.say("pong: ", wb:recv_frame())
                local big = string.rep("z", 70000)
                wb:send_text(big)
                local data, typ = wb:recv_frame() ngx.say("big: ", #data, " ", typ, " ", data == "echo: " .. big)
                ngx.say("close: ", wb:send_close(1000, "done"))
                ngx.say("close reply: ", wb:recv_frame())
                local data, typ, err = wb:recv_frame()
                ngx.say("after close: ", data, " ", typ, " ", err)
            }
        }
    }
"#;

/// A client frame: FIN, `op`, masked with a fixed key.
fn ws_frame(op: u8, data: &[u8]) -> Vec<u8> {
    let mask = [0x11u8, 0x22, 0x33, 0x44];
    let mut out = vec![0x80 | op, 0x80 | data.len() as u8];
    out.extend(mask);
    out.extend(data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// The raw exchange: the handshake with a first frame in the same packet, a ping, a text
/// frame, a close; the answer's head (without Date) and the frames in hex, then whether the
/// server closed the connection.
fn ws_raw(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut req = b"GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n\r\n".to_vec();
    req.extend(ws_frame(0x1, b"first"));
    s.write_all(&req).unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        match read_n(&mut s, 1) {
            Some(b) => head.extend(b),
            None => break,
        }
    }
    let mut out: String = String::from_utf8_lossy(&head)
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.starts_with("Date:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let frame = |s: &mut TcpStream| -> String {
        let Some(h) = read_n(s, 2) else {
            return "no frame\n".into();
        };
        let body = read_n(s, usize::from(h[1] & 0x7f)).unwrap_or_default();
        format!("{:02x}{:02x} {}\n", h[0], h[1], body.escape_ascii())
    };
    out += &frame(&mut s);
    s.write_all(&ws_frame(0x9, b"ping!")).unwrap();
    out += &frame(&mut s);
    s.write_all(&ws_frame(0x1, b"second")).unwrap();
    out += &frame(&mut s);
    let mut close = vec![0x03, 0xe8];
    close.extend(b"end");
    s.write_all(&ws_frame(0x8, &close)).unwrap();
    out += &frame(&mut s);
    let mut rest = Vec::new();
    let closed = s.read_to_end(&mut rest).is_ok();
    out += &format!("closed: {closed} after {} more bytes\n", rest.len());
    out
}

const WEBSOCKET_SERVER_EXPECTED: &str = r#"GET /ws -> 200
send_text: 11nil
got: echo: hellotextnil
binary: 3 binary
pong: pppongnil
big: 70006 text true
close: 12nil
close reply: bye doneclose1000
after close: nil nil failed to receive the first 2 bytes: closed
HTTP/1.1 101 Switching Protocols
Server: nginx/1.22.1
Connection: upgrade
Sec-WebSocket-Protocol: chat
Upgrade: websocket
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
810b echo: first
8a05 ping!
810c echo: second
8809 \x03\xe8bye end
closed: true after 0 more bytes
GET /echo -> 400
<html>
<head><title>400 Bad Request</title></head>
<body>
<center><h1>400 Bad Request</h1></center>
<hr><center>nginx/1.22.1</center>
</body>
</html>
[notice] [lua] content_by_lua(nginx.conf:15):16: server: closed: nil 12
[notice] [lua] content_by_lua(nginx.conf:15):16: server: closed: nil 11
[notice] [lua] content_by_lua(nginx.conf:15):5: server: failed to new: bad "upgrade" request header: nil
"#;

#[test]
fn websocket_server_matches_reference() {
    if !have_module(
        "nginx/websocket/server.lua",
        "lua-nginx-websocket",
        "websocket server",
    ) {
        return;
    }
    differential_with(
        "websocket server",
        WEBSOCKET_SERVER,
        &[],
        WEBSOCKET_SERVER_EXPECTED,
        |s| {
            let mut t = show(s.port, "/ws");
            t += &ws_raw(s.port);
            t += &show(s.port, "/echo").replace('\r', "");
            std::thread::sleep(Duration::from_millis(200));
            t + &s.log_lines("server: ")
        },
    );
}

// ---------------------------------------------------------------------------------------
// lua-resty-cookie (Debian's lua-nginx-cookie).

const COOKIE: &str = r#"
    server {
        listen 127.0.0.1:{PORT};
        default_type text/plain;
        location = /cookie {
            content_by_lua_block {
                local ck = require "nginx.cookie"
                local cookie, err = ck:new()
                if not cookie then ngx.say(err) return end
                local ok1, err1 = cookie:set({ key = "Name", value = "Bob", path = "/", domain = "example.com", secure = true, httponly = true, expires = "Wed, 09 Jun 2021 10:18:14 GMT", max_age = 50, samesite = "Strict", extension = "a4334aebaec" })
                local ok2, err2 = cookie:set({ key = "k2", value = "v2" })
                local ok3, err3 = cookie:set({ key = "k3" })
                local all, err = cookie:get_all()
                local keys = {}
                for k, v in pairs(all or {}) do keys[#keys + 1] = k .. "=" .. v end
                table.sort(keys)
                ngx.say("all: ", table.concat(keys, ";"), " ", err)
                ngx.say("one: ", cookie:get("b"), " missing: ", cookie:get("zz"))
                ngx.say("set: ", ok1, err1, " ", ok2, err2, " ", ok3, err3)
            }
        }
    }
"#;

const COOKIE_EXPECTED: &str = r#"Some("Cookie: a=1; b=two; c=") -> 200 set-cookie=["Name=Bob; Expires=Wed, 09 Jun 2021 10:18:14 GMT; Max-Age=50; Domain=example.com; Path=/; Secure; HttpOnly; a4334aebaec", "k2=v2"]
all: a=1;b=two;c= nil
one: two missing: nil
set: truenil truenil nilmissing cookie field "key" or "value"
Some("Cookie: b=x;b=y") -> 200 set-cookie=["Name=Bob; Expires=Wed, 09 Jun 2021 10:18:14 GMT; Max-Age=50; Domain=example.com; Path=/; Secure; HttpOnly; a4334aebaec", "k2=v2"]
all: b=y nil
one: y missing: nil
set: truenil truenil nilmissing cookie field "key" or "value"
None -> 200 set-cookie=["Name=Bob; Expires=Wed, 09 Jun 2021 10:18:14 GMT; Max-Age=50; Domain=example.com; Path=/; Secure; HttpOnly; a4334aebaec", "k2=v2"]
all:  no cookie found in the current request
one: nil missing: nilno cookie found in the current request
set: truenil truenil nilmissing cookie field "key" or "value"
"#;

#[test]
fn cookie_matches_reference() {
    if !have_module("nginx/cookie.lua", "lua-nginx-cookie", "cookie") {
        return;
    }
    differential("cookie", COOKIE, &[], COOKIE_EXPECTED, |port| {
        let mut t = String::new();
        for cookies in [
            Some("Cookie: a=1; b=two; c="),
            Some("Cookie: b=x;b=y"),
            None,
        ] {
            let extra: Vec<&str> = cookies.into_iter().collect();
            let r = request(port, "GET", "/cookie", &extra, None);
            t += &format!(
                "{:?} -> {} set-cookie={:?}\n{}",
                cookies,
                r.status,
                r.header("Set-Cookie"),
                r.body
            );
        }
        t
    });
}

// ---------------------------------------------------------------------------------------
// Cosocket errors the libraries above meet: a peer that resets the connection. nginx
// finalizes only the read side on a read error (sending goes on, and fails with the
// system's error), and nginx core logs the system errors whatever lua_socket_log_errors.

/// A TCP server on a free port that resets each connection: it waits until the client's
/// first bytes are there, then closes without reading them (the kernel answers with RST).
fn resetting_peer() -> u16 {
    let port = free_port();
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut b = [0u8; 1];
                let _ = conn.peek(&mut b);
                std::thread::sleep(Duration::from_millis(50));
                drop(conn);
            });
        }
    });
    port
}

const RESET: &str = r#"
    server {
        listen 127.0.0.1:{PORT};
        default_type text/plain;
        location = /t {
            lua_socket_log_errors off;
            content_by_lua_block {
                local s = ngx.socket.tcp()
                s:settimeout(2000)
                ngx.say("connect: ", s:connect("127.0.0.1", {RST}))
                ngx.say("send: ", s:send("hello\n"))
                ngx.say("receive: ", s:receive())
                ngx.say("receive again: ", s:receive())
                ngx.say("send after: ", s:send("again\n"))
                ngx.say("send again: ", s:send("again\n"))
                ngx.say("close: ", s:close())
                local s = ngx.socket.tcp()
                s:settimeout(2000)
                s:connect("127.0.0.1", {RST})
                s:send("hello\n")
                ngx.sleep(0.2)
                ngx.say("send to a reset peer: ", s:send("again\n"))
                ngx.say("close: ", s:close())
            }
        }
    }
"#;

const RESET_EXPECTED: &str = "GET /t -> 200
connect: 1
send: 6
receive: nilconnection reset by peer
receive again: nilclosed
send after: nilbroken pipe
send again: nilclosed
close: nilclosed
send to a reset peer: nilconnection reset by peer
close: 1
[error] recv() failed (104: Connection reset by peer)
[error] send() failed (32: Broken pipe)
[error] send() failed (104: Connection reset by peer)
";

#[test]
fn cosocket_reset_matches_reference() {
    let vars = [("{RST}", resetting_peer().to_string())];
    differential_with("cosocket reset", RESET, &vars, RESET_EXPECTED, |s| {
        show(s.port, "/t") + &s.log_lines("failed (")
    });
}
