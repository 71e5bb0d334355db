//! lua-nginx-module at run time (the `*_by_lua*` phases and the `ngx.*` API), black-box.
//!
//! Each table runs oxresty on a configuration and checks every request's status, headers and
//! body against the expected values; when the reference (/usr/sbin/nginx with Debian's
//! ngx_http_lua_module) is installed, it serves the same configuration and must give the same
//! answers, and error-log lines are checked in both logs.

use std::collections::BTreeMap;
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

fn have_reference() -> bool {
    Path::new(REFERENCE).exists()
        && Path::new(LUA_MODULE).exists()
        && Path::new(NDK_MODULE).exists()
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

/// Starts `bin` on a fresh prefix; `{PORT}` in `http` is the port. `main` goes before
/// `events {}` (after the load_module lines).
fn start(bin: &str, name: &str, main: &str, http: &str, files: &[(&str, &str)]) -> Server {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "oxresty-lua-{}-{name}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["logs", "conf", "html"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for (rel, content) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    let port = free_port();
    let text = format!(
        "load_module {NDK_MODULE};\nload_module {LUA_MODULE};\n{}\npid logs/nginx.pid;\nerror_log logs/error.log notice;\nevents {{}}\nhttp {{\n    access_log off;\n{}\n}}\n",
        if main.is_empty() { "worker_processes 1;" } else { main },
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

/// What a request got: status, the compared headers (lower-case names) and the body
/// (de-chunked). `status` 0: the connection closed without an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

/// Headers compared: the framing, the type, Location, and the test's own `x-*`/`foo`.
fn compared(name: &str) -> bool {
    matches!(
        name,
        "content-type" | "content-length" | "transfer-encoding" | "location" | "foo"
    ) || name.starts_with("x-")
}

fn dechunk(mut b: &str) -> String {
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
}

fn send(port: u16, raw: &str) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut headers = BTreeMap::new();
    for l in head.lines().skip(1) {
        if let Some((n, v)) = l.split_once(": ") {
            let n = n.to_ascii_lowercase();
            if compared(&n) {
                let v = v.replace(&port.to_string(), "PORT");
                headers
                    .entry(n)
                    .and_modify(|e: &mut String| {
                        e.push_str(", ");
                        e.push_str(&v);
                    })
                    .or_insert(v);
            }
        }
    }
    let chunked = headers.get("transfer-encoding").map(String::as_str) == Some("chunked");
    Answer {
        status,
        headers,
        body: if chunked {
            dechunk(body)
        } else {
            body.to_string()
        },
    }
}

fn get(uri: &str) -> String {
    format!("GET {uri} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
}

fn post(uri: &str, body: &str) -> String {
    format!(
        "POST {uri} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// One row: request, expected status, body (`None`: only compared with the reference).
type Row<'a> = (String, u16, Option<&'a str>);

/// Runs the table on oxresty and, when installed, on the reference; returns both error logs.
fn check(
    name: &str,
    main: &str,
    http: &str,
    files: &[(&str, &str)],
    rows: &[Row<'_>],
) -> (String, String) {
    let ox = start(OXRESTY, name, main, http, files);
    let got: Vec<Answer> = rows.iter().map(|r| send(ox.port, &r.0)).collect();
    for (row, a) in rows.iter().zip(&got) {
        assert_eq!(a.status, row.1, "oxresty status for {:?}: {a:?}", row.0);
        if let Some(b) = row.2 {
            assert_eq!(a.body, b, "oxresty body for {:?}", row.0);
        }
    }
    std::thread::sleep(Duration::from_millis(150));
    let ox_log = std::fs::read_to_string(ox.dir.join("logs/error.log")).unwrap_or_default();
    let mut ref_log = String::new();
    if have_reference() {
        let rf = start(REFERENCE, name, main, http, files);
        for (row, a) in rows.iter().zip(&got) {
            let r = send(rf.port, &row.0);
            assert_eq!(&r, a, "reference and oxresty differ for {:?}", row.0);
        }
        std::thread::sleep(Duration::from_millis(150));
        ref_log = std::fs::read_to_string(rf.dir.join("logs/error.log")).unwrap_or_default();
    }
    (ox_log, ref_log)
}

/// Both logs (the reference's when it ran) have a line containing `text`.
fn logged(logs: &(String, String), text: &str) {
    assert!(
        logs.0.contains(text),
        "oxresty log lacks {text:?}:\n{}",
        logs.0
    );
    if have_reference() {
        assert!(
            logs.1.contains(text),
            "reference log lacks {text:?}:\n{}",
            logs.1
        );
    }
}

fn row(req: String, status: u16, body: Option<&str>) -> Row<'_> {
    (req, status, body)
}

#[test]
fn output_and_chunk_names() {
    let http = r#"
    server {
        listen 127.0.0.1:{PORT};
        server_name localhost;
        location = /say {
            content_by_lua_block {
                ngx.say("a", 1, {"x", {"y", 2}}, 2.5, nil, true, false, ngx.null)
                ngx.print(3.14159, " ", 1e20, " ", -0.5, "\n")
                ngx.say()
            }
        }
        location = /src {
            content_by_lua_block
            {
                ngx.say(debug.getinfo(1).source)
            }
        }
        location = /inline {
            content_by_lua 'ngx.say(debug.getinfo(1).source, " ", ngx.config.nginx_version, " ", ngx.config.ngx_lua_version, " ", ngx.config.subsystem)';
        }
        location = /x.html { content_by_lua_block { ngx.say("h") } }
        location = /empty { content_by_lua_block { } }
        location = /badarg { content_by_lua_block { ngx.say(function() end) } }
        location = /pcall {
            content_by_lua_block {
                local ok, e = pcall(ngx.say, {a = 1})
                ngx.say(ok, " ", e)
            }
        }
        location = /boom { content_by_lua_block { error("boom") } }
        location = /eof { content_by_lua_block { ngx.say("a") ngx.eof() ngx.say(ngx.say("b")) } }
        location = /path { content_by_lua_block { ngx.say(package.path) ngx.say(package.cpath) } }
    }
    "#;
    let logs = check(
        "output",
        "",
        http,
        &[],
        &[
            row(
                get("/say"),
                200,
                Some("a1xy22.5niltruefalsenull\n3.14159 1e+20 -0.5\n\n"),
            ),
            row(get("/src"), 200, Some("=content_by_lua(nginx.conf:22)\n")),
            row(
                get("/inline"),
                200,
                Some("=content_by_lua(nginx.conf:27) 1022001 10023 http\n"),
            ),
            row(get("/x.html"), 200, Some("h\n")),
            row(get("/empty"), 200, Some("")),
            row(get("/badarg"), 500, None),
            row(
                get("/pcall"),
                200,
                Some("false bad argument #1 to '?' (non-array table found)\n"),
            ),
            row(get("/boom"), 500, None),
            row(get("/eof"), 200, Some("a\n")),
            row(get("/path"), 200, None),
        ],
    );
    logged(&logs, "lua entry thread aborted: runtime error: content_by_lua(nginx.conf:31):1: bad argument #1 to 'say' (string, number, boolean, nil, ngx.null, or array table expected, but got function)\nstack traceback:\ncoroutine 0:\n\t[C]: in function 'say'\n\tcontent_by_lua(nginx.conf:31):1: in main chunk, client: 127.0.0.1");
    logged(&logs, "runtime error: content_by_lua(nginx.conf:38):1: boom\nstack traceback:\ncoroutine 0:\n\t[C]: in function 'error'\n\tcontent_by_lua(nginx.conf:38):1: in main chunk");
}

#[test]
fn exit_status_headers() {
    let http = r#"
    server {
        listen 127.0.0.1:{PORT};
        server_name localhost;
        location = /e200 { content_by_lua_block { ngx.header.foo = "bar" ngx.exit(200) } }
        location = /e201 { content_by_lua_block { ngx.exit(201) } }
        location = /e204 { content_by_lua_block { ngx.exit(204) } }
        location = /e404 { content_by_lua_block { ngx.header.foo = "bar" ngx.exit(404) } }
        location = /eerr { content_by_lua_block { ngx.exit(ngx.ERROR) } }
        location = /eok { content_by_lua_block { ngx.say("x") ngx.exit(ngx.OK) ngx.say("y") } }
        location = /late { content_by_lua_block { ngx.say("x") ngx.exit(503) } }
        location = /pexit { content_by_lua_block { pcall(ngx.exit, 403) ngx.say("not here") } }
        location = /st {
            content_by_lua_block {
                ngx.say(ngx.status)
                ngx.status = 201
                ngx.say(ngx.status, " ", tostring(ngx.headers_sent))
            }
        }
        location = /st2 { content_by_lua_block { ngx.status = 202 ngx.say(ngx.status) } }
        location = /hdr {
            content_by_lua_block {
                ngx.header.content_type = "text/html"
                ngx.header["X-Multi"] = {"a", "b"}
                ngx.header.x_foo = 3
                ngx.header.x_gone = "1"
                ngx.header.x_gone = nil
                ngx.say(ngx.header.x_foo, " ", type(ngx.header["x-multi"]), " ", tostring(ngx.header.x_gone))
            }
        }
        location = /clen { content_by_lua_block { ngx.header.content_length = 3 ngx.print("abc") } }
        location = /redir { content_by_lua_block { ngx.redirect("http://example.com/a", 301) } }
        location = /redir302 { content_by_lua_block { ngx.redirect("http://example.com/b") } }
        location = /badredir { content_by_lua_block { ngx.redirect("/x", 200) } }
        location = /exec { content_by_lua_block { ngx.exec("/target", "a=1&b=2") } }
        location = /exec2 { content_by_lua_block { ngx.exec("/target?c=3", {d = 4}) } }
        location = /target { content_by_lua_block { ngx.say(ngx.var.uri, " ", ngx.var.args, " ", tostring(ngx.req.is_internal())) } }
        location = /named { content_by_lua_block { ngx.exec("@n") } }
        location @n { content_by_lua_block { ngx.say("named ", ngx.var.uri) } }
    }
    "#;
    let logs = check(
        "exit",
        "",
        http,
        &[],
        &[
            row(get("/e200"), 200, Some("")),
            row(get("/e201"), 201, Some("")),
            row(get("/e204"), 204, Some("")),
            row(get("/e404"), 404, None),
            row(get("/eerr"), 0, Some("")),
            row(get("/eok"), 200, Some("x\n")),
            row(get("/pexit"), 403, None),
            row(get("/st"), 200, Some("0\n200 true\n")),
            row(get("/st2"), 202, Some("202\n")),
            row(get("/hdr"), 200, Some("3 table nil\n")),
            row(get("/clen"), 200, Some("abc")),
            row(get("/redir"), 301, None),
            row(get("/redir302"), 302, None),
            row(get("/badredir"), 500, None),
            row(get("/exec"), 200, Some("/target a=1&b=2 true\n")),
            row(get("/exec2"), 200, Some("/target c=3&d=4 true\n")),
            row(get("/named"), 200, Some("named /named\n")),
        ],
    );
    logged(
        &logs,
        "attempt to set ngx.status after sending out response headers",
    );
    logged(&logs, "only ngx.HTTP_MOVED_TEMPORARILY, ngx.HTTP_MOVED_PERMANENTLY, ngx.HTTP_PERMANENT_REDIRECT, ngx.HTTP_SEE_OTHER, and ngx.HTTP_TEMPORARY_REDIRECT are allowed");
}

#[test]
fn variables_requests_encodings() {
    let http = r#"
    server {
        listen 127.0.0.1:{PORT};
        server_name localhost;
        location = /var {
            set $foo 1;
            content_by_lua_block {
                ngx.say(ngx.var.foo, " ", ngx.var.uri, " ", ngx.var.arg_a, " ", tostring(ngx.var.nonexist))
                ngx.var.foo = "x"
                ngx.var.args = "q=1"
                ngx.say(ngx.var.foo, " ", ngx.var.args)
                ngx.say(pcall(function() ngx.var.uri = "y" end))
                ngx.say(pcall(function() ngx.var.nope = "y" end))
            }
        }
        location ~ ^/cap/(\w+) { content_by_lua_block { ngx.say(ngx.var[1], " ", tostring(ngx.var[2])) } }
        location = /args {
            content_by_lua_block {
                local a = ngx.req.get_uri_args()
                local ks = {}
                for k in pairs(a) do ks[#ks + 1] = k end
                table.sort(ks)
                for _, k in ipairs(ks) do
                    local v = a[k]
                    if type(v) == "table" then v = table.concat(v, ",") end
                    ngx.say(k, "=", tostring(v))
                end
                ngx.say(ngx.req.get_method(), " ", ngx.req.http_version())
                local b, err = ngx.req.get_uri_args(2)
                ngx.say(err)
            }
        }
        location = /hdrs {
            content_by_lua_block {
                local h = ngx.req.get_headers()
                ngx.say(h.x_foo, " ", h["X-Foo"], " ", h.host)
                ngx.req.set_header("X-Foo", "z")
                ngx.req.clear_header("X-Bar")
                ngx.say(ngx.var.http_x_foo, " ", tostring(ngx.var.http_x_bar))
            }
        }
        location = /post {
            content_by_lua_block {
                ngx.req.read_body()
                local a = ngx.req.get_post_args()
                ngx.say(a.x, " ", a.y, " ", ngx.req.get_body_data())
            }
        }
        location = /enc {
            content_by_lua_block {
                ngx.say(ngx.escape_uri("a b/c?&=~"), " ", ngx.escape_uri("a b/c?#", 0))
                ngx.say(ngx.unescape_uri("a%20b+c%zz"), " ", ngx.escape_uri(nil), "|", ngx.escape_uri(12))
                ngx.say(ngx.encode_base64("hello"), " ", ngx.encode_base64("hi", true), " ", ngx.decode_base64("aGVsbG8="), " ", tostring(ngx.decode_base64("a")))
                ngx.say(ngx.md5("x"), " ", #ngx.md5_bin("x"), " ", #ngx.sha1_bin("x"))
                ngx.say(ngx.crc32_short("hello"), " ", ngx.crc32_long("hello"))
                ngx.say(ngx.encode_base64(ngx.hmac_sha1("key", "The quick brown fox jumps over the lazy dog")))
                ngx.say(ngx.quote_sql_str("a'b\n\"c\\"))
                ngx.say(ngx.encode_args({a = "x y"}), " ", ngx.encode_args({b = true}), " ", ngx.encode_args({c = {1, 2}}))
                local d = ngx.decode_args("a=1&b&a=2&c=%20")
                ngx.say(table.concat(d.a, ","), " ", tostring(d.b), " [", d.c, "]")
                ngx.say(ngx.http_time(1290079655), " ", ngx.cookie_time(1290079655), " ", ngx.parse_http_time("Thu, 18 Nov 2010 11:27:35 GMT"))
                ngx.say(tostring(ngx.parse_http_time("junk")))
                ngx.say(ngx.HTTP_OK, ngx.HTTP_NOT_FOUND, ngx.HTTP_GET, ngx.HTTP_POST, ngx.ERR, ngx.WARN, ngx.OK, ngx.ERROR)
                ngx.say(type(ngx.now()), " ", type(ngx.time()), " ", #ngx.today(), " ", #ngx.localtime(), " ", #ngx.utctime())
                ngx.say(ngx.worker.count(), " ", ngx.worker.id(), " ", type(ngx.worker.pid()), " ", ngx.get_phase())
            }
        }
    }
    "#;
    let logs = check(
        "vars",
        "",
        http,
        &[],
        &[
            row(get("/var?a=5"), 200, Some("1 /var 5 nil\nx q=1\nfalsecontent_by_lua(nginx.conf:15):6: variable \"uri\" not changeable\nfalsecontent_by_lua(nginx.conf:15):7: variable \"nope\" not found for writing; maybe it is a built-in variable that is not changeable or you forgot to use \"set $nope '';\" in the config file to define it first\n")),
            row(get("/cap/abc"), 200, Some("abc nil\n")),
            row(get("/args?b=1&a&c=&b=2&d=%20x"), 200, Some("a=true\nb=1,2\nc=\nd= x\nGET 1.1\ntruncated\n")),
            row(
                "GET /hdrs HTTP/1.1\r\nHost: localhost\r\nX-Foo: y\r\nX-Bar: 1\r\nConnection: close\r\n\r\n".into(),
                200,
                Some("y y localhost\nz nil\n"),
            ),
            row(post("/post", "x=1&y=a%20b"), 200, Some("1 a b x=1&y=a%20b\n")),
            row(get("/enc"), 200, None),
        ],
    );
    let _ = logs;
}

#[test]
fn phases() {
    let http = r#"
    lua_package_path "$prefix/lib/?.lua;;";
    init_by_lua_block { answer = 42 }
    init_worker_by_lua_block { ngx.log(ngx.NOTICE, "init worker ", ngx.get_phase()) }
    server {
        listen 127.0.0.1:{PORT};
        server_name localhost;
        location = /set {
            set $a 3;
            set_by_lua $res 'return ngx.arg[1] + ngx.arg[2]' $a 4;
            set_by_lua_block $g { return answer }
            return 200 "res=$res g=$g\n";
        }
        location = /seterr { set_by_lua $res 'error("Bad")'; return 200 "x"; }
        location = /rw {
            set $v 1;
            rewrite_by_lua_block { ngx.ctx.seen = ngx.var.v ngx.var.v = "2" }
            content_by_lua_block { ngx.say(ngx.ctx.seen, " ", ngx.var.v, " ", ngx.get_phase()) }
        }
        location = /rwsay { rewrite_by_lua_block { ngx.say("from rewrite") } content_by_lua_block { ngx.say("c") } }
        location = /acc {
            access_by_lua_block { if ngx.var.arg_deny then ngx.exit(403) end ngx.ctx.p = ngx.get_phase() }
            content_by_lua_block { ngx.say("ok ", ngx.ctx.p) }
        }
        location = /accret { access_by_lua_block { ngx.exit(ngx.OK) } return 200 "ret\n"; }
        location = /hf {
            header_filter_by_lua_block { ngx.header.foo = "bar" ngx.header.content_length = nil ngx.status = 201 }
            return 200 "hello\n";
        }
        location = /log { log_by_lua_block { ngx.log(ngx.ERR, "logged ", ngx.status, " ", ngx.var.uri) } return 204; }
        location = /mod { content_by_lua_block { local m = require "mymod" ngx.say(m.hi(), " ", answer) } }
        location = /file { content_by_lua_file lib/handler.lua; }
        location = /sleep {
            content_by_lua_block {
                local t = ngx.now()
                ngx.say("a")
                ngx.sleep(0.2)
                ngx.say("b ", ngx.now() - t >= 0.15)
            }
        }
        location = /nosleep { log_by_lua_block { ngx.sleep(1) } return 200 "x\n"; }
        location = /core { content_by_lua_block { require "resty.core" local base = require "resty.core.base" ngx.say(type(base)) } }
    }
    "#;
    let files = [
        (
            "lib/mymod.lua",
            "local _M = {}\nfunction _M.hi() return 'hi' end\nreturn _M\n",
        ),
        ("lib/handler.lua", "ngx.say('from file ', ngx.var.uri)\n"),
    ];
    let logs = check(
        "phases",
        "",
        http,
        &files,
        &[
            row(get("/set"), 200, Some("res=7 g=42\n")),
            row(get("/seterr"), 500, None),
            row(get("/rw"), 200, Some("1 2 content\n")),
            row(get("/rwsay"), 200, Some("from rewrite\n")),
            row(get("/acc"), 200, Some("ok access\n")),
            row(get("/acc?deny=1"), 403, None),
            row(get("/accret"), 200, Some("ret\n")),
            row(get("/hf"), 201, Some("hello\n")),
            row(get("/log"), 204, Some("")),
            row(get("/mod"), 200, Some("hi 42\n")),
            row(get("/file"), 200, Some("from file /file\n")),
            row(get("/sleep"), 200, Some("a\nb true\n")),
            row(get("/nosleep"), 200, Some("x\n")),
            row(get("/core"), 200, Some("table\n")),
        ],
    );
    logged(&logs, "[lua] init_worker_by_lua(nginx.conf:12):1: init worker init_worker, context: init_worker_by_lua*");
    logged(&logs, "failed to run set_by_lua*: set_by_lua(nginx.conf:22):1: Bad\nstack traceback:\n\t[C]: in function 'error'\n\tset_by_lua(nginx.conf:22):1: in main chunk, client: 127.0.0.1");
    logged(&logs, "[lua] log_by_lua(nginx.conf:38):1: logged 204 /log while logging request, client: 127.0.0.1");
    logged(&logs, "API disabled in the context of log_by_lua*");
}

#[test]
fn shared_dict() {
    let http = r#"
    lua_shared_dict dogs 1m;
    server {
        listen 127.0.0.1:{PORT};
        server_name localhost;
        location = /put { content_by_lua_block { ngx.shared.dogs:set("kept", ngx.var.arg_v) ngx.say("ok") } }
        location = /take { content_by_lua_block { ngx.say(ngx.shared.dogs:get("kept")) } }
        location = /shd {
            content_by_lua_block {
                local d = ngx.shared.dogs
                ngx.say(d:set("a", 1))
                ngx.say(d:add("a", 2))
                ngx.say(d:replace("zz", 2))
                ngx.say(d:incr("a", 5))
                ngx.say(d:incr("b", 1))
                ngx.say(d:incr("b", 1, 10))
                ngx.say(d:get("a"), " ", d:get("b"), " ", d:get("nope"))
                ngx.say(d:set("f", "x", 0, 7))
                ngx.say(d:get("f"))
                ngx.say(d:set("t", true, 100))
                ngx.say(d:ttl("a"), " ", d:ttl("t") > 99)
                ngx.say(d:ttl("zz"))
                ngx.say(d:expire("a", 10), " ", d:ttl("a"))
                ngx.say(d:capacity())
                ngx.say(d:get(nil))
                ngx.say(d:set("", 1))
                ngx.say(pcall(d.get, nil, "a"))
                d:delete("a")
                ngx.say(d:get("a"))
                ngx.say(d:lpush("l", 1), d:rpush("l", "2"), d:llen("l"), d:lpop("l"), d:rpop("l"), d:llen("l"))
                ngx.say(d:incr("f", 1))
                ngx.say(d:safe_add("b", 1))
                d:flush_all()
                ngx.say(d:get("b"), " ", #d:get_keys())
                ngx.say(d:set("x", 1, 0.001))
                ngx.sleep(0.01)
                ngx.say(d:get("x"))
            }
        }
    }
    "#;
    check(
        "shdict",
        "worker_processes 2;",
        http,
        &[],
        &[
            row(get("/shd"), 200, Some("truenilfalse\nfalseexistsfalse\nfalsenot foundfalse\n6\nnilnot found\n11nilfalse\n6 11 nil\ntruenilfalse\nx7\ntruenilfalse\n0 true\nnilnot found\ntrue 10\n1048576\nnilnil key\nnilempty key\nfalsebad \"zone\" argument\nnil\n122120\nnilnot a number\nfalseexistsfalse\nnil 0\ntruenilfalse\nnil\n")),
            row(get("/put?v=hello"), 200, Some("ok\n")),
            row(get("/take"), 200, Some("hello\n")),
            row(get("/take"), 200, Some("hello\n")),
        ],
    );
}

#[test]
fn ngx_re() {
    let http = r#"
    server {
        listen 127.0.0.1:{PORT};
        server_name localhost;
        location = /re {
            content_by_lua_block {
                local m = ngx.re.match("hello, 1234 world 56", "([0-9]+)(x)?")
                ngx.say(m[0], " ", m[1], " ", tostring(m[2]))
                m = ngx.re.match("hello", "(?<first>h)(?<x>z)?", "i")
                ngx.say(m.first, " ", tostring(m.x), " ", m[1])
                ngx.say(tostring(ngx.re.match("abc", "d")))
                ngx.say(ngx.re.match("abc", "("))
                local ctx = {pos = 2}
                m = ngx.re.match("abcabc", "a", "", ctx)
                ngx.say(m[0], " ", ctx.pos)
                ngx.say(ngx.re.find("hello 123", "[0-9]+"))
                ngx.say(ngx.re.find("hello 123", "([a-z]+) ([0-9]+)", "jo", nil, 2))
                ngx.say(tostring(ngx.re.match("abc", "b", "a")), " ", ngx.re.match("bc", "b", "a")[0])
                for m in ngx.re.gmatch("a1b22c333", "[0-9]+") do ngx.print(m[0], ",") end
                ngx.say()
                local it = ngx.re.gmatch("abc", "x*")
                local n = 0
                while it() do n = n + 1 end
                ngx.say(n)
                ngx.say(ngx.re.sub("hello world", "o", "0"))
                ngx.say(ngx.re.gsub("hello world", "o", "[$0]"))
                ngx.say(ngx.re.gsub("abc", "x*", "-"))
                ngx.say(ngx.re.gsub("aaa", "a*", "-"))
                ngx.say(ngx.re.gsub("hello world", "(o)(.)", "${2}$1$$"))
                ngx.say(ngx.re.gsub("hello world", "o", function(m) return m[0]:upper() end))
                ngx.say(ngx.re.gsub("hello", "l", "$x"))
                ngx.say(ngx.re.gsub("hello", "l", "${1"))
                ngx.say(ngx.re.match("ÀB", ".", "u")[0])
                ngx.say(ngx.re.gsub("a b", " ", "$2"))
                ngx.say(ngx.re.match("\xff", ".", "u"))
            }
        }
    }
    "#;
    let logs = check(
        "re",
        "",
        http,
        &[],
        &[row(
            get("/re"),
            200,
            Some("1234 1234 false\nh false h\nnil\nnilpcre_compile() failed: missing ) in \"(\"\na 5\n79\n79\nnil b\n1,22,333,\n4\nhell0 world1\nhell[o] w[o]rld2\n-a-b-c-4\n--2\nhell o$wro$ld2\nhellO wOrld2\nnilnilfailed to compile the replacement template\nnilnilfailed to compile the replacement template\nÀ\nab1\nnilpcre_exec() failed: -10\n"),
        )],
    );
    logged(
        &logs,
        "attempt to use named capturing variable \"x\" (named captures not supported yet)",
    );
    logged(&logs, "the closing bracket in \"1\" variable is missing");
}

/// exit_worker_by_lua* runs when a worker exits (here on QUIT): its ngx.log line and its
/// error are logged as lua-nginx-module logs them.
#[test]
fn exit_worker_by_lua_runs_on_quit() {
    let conf = r#"
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
worker_processes 1;
pid logs/nginx.pid;
events {}
error_log logs/error.log warn;
http {
    access_log off;
    exit_worker_by_lua_block { ngx.log(ngx.WARN, "bye from ", ngx.worker.id(), " ", ngx.get_phase()) error("boom") }
    server { listen 127.0.0.1:{PORT}; location / { return 200 "x\n"; } }
}
"#;
    let run = |bin: &str| {
        let mut s = common::Server::start(bin, conf, &[]);
        let _ = s.exchange(b"GET / HTTP/1.0\r\n\r\n");
        // SAFETY: kill(2) on the server's pid with SIGQUIT.
        unsafe { libc_kill(s.child.id() as i32, 3) };
        let _ = s.child.wait();
        let log = std::fs::read_to_string(s.dir.join("logs/error.log")).unwrap_or_default();
        let mut lines: Vec<String> = log
            .lines()
            .filter(|l| l.contains("[lua]") || l.contains("exit_worker_by_lua error"))
            .filter_map(|l| l.split_once(": ").map(|(_, m)| m.to_string()))
            .collect();
        lines.sort();
        lines
    };
    let want = vec![
        "[lua] exit_worker_by_lua(nginx.conf:10):1: bye from 0 exit_worker".to_string(),
        "exit_worker_by_lua error: exit_worker_by_lua(nginx.conf:10):1: boom".to_string(),
    ];
    assert_eq!(run(env!("CARGO_BIN_EXE_oxresty")), want);
    if std::path::Path::new(common::REFERENCE).exists()
        && std::path::Path::new("/usr/lib/nginx/modules/ngx_http_lua_module.so").exists()
    {
        assert_eq!(run(common::REFERENCE), want, "the reference disagrees");
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
