//! `ssl_session_fetch_by_lua*` / `ssl_session_store_by_lua*` with `ngx.ssl.session`,
//! differential: the reference (/usr/sbin/nginx with the lua module) and oxresty serve the
//! same configuration; `openssl s_client -sess_out` then `-sess_in` must give the same
//! "New"/"Reused" verdicts, the hooks must run the same number of times and see the same
//! values (read back through a shared dict), with a session cache of Lua's own (a shared
//! dict): TLS 1.2 by session id resumes through the hooks, TLS 1.2 tickets and TLS 1.3 skip
//! them, `ssl_session_tickets off`, a builtin cache answering first, a fetch hook that sets
//! nothing or fails after setting, a store hook that tries to sleep ("API disabled"), and
//! the API in an ordinary request. The serialized sessions differ (rustls's encoding, not
//! OpenSSL's DER). Plus the one difference: a fetch hook that yields resumes on oxresty
//! (as with OpenResty's OpenSSL) where the reference's stock OpenSSL logs "cannot yield".
//! Skipped (with a note) without openssl, curl or the reference.

use std::path::{Path, PathBuf};

mod common;
use common::{have, sh, Server};

const OXRESTY: &str = env!("CARGO_BIN_EXE_oxresty");
const LUA_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_lua_module.so";
const NDK_MODULE: &str = "/usr/lib/nginx/modules/ndk_http_module.so";

fn make_cert(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("oxresty-sslsess-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let script = r#"set -e
openssl req -x509 -newkey rsa:2048 -nodes -keyout a.key -out a.crt -days 30 -subj "/CN=a.test" 2>/dev/null
chmod a+r a.key
printf 'GET / HTTP/1.0\r\n\r\n' > get.txt
echo ok"#;
    assert_eq!(
        sh(&dir, script).trim(),
        "ok",
        "openssl could not make a certificate"
    );
    dir
}

const HOOKS: &str = r#"
    lua_shared_dict d 1m;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_store_by_lua_block {
        local s = require "ngx.ssl.session"
        local d = ngx.shared.d
        local id, err = s.get_session_id()
        local ser, err2 = s.get_serialized_session()
        d:incr("stores", 1, 0)
        d:set("store_info", table.concat({tostring(id and #id), tostring(err),
            tostring(ser ~= nil), tostring(err2), ngx.get_phase(), type(ngx.ctx)}, ","))
        if id then d:set(id, ser) end
        if d:get("store_sleep") then ngx.sleep(0.01) end
    }
    ssl_session_fetch_by_lua_block {
        local s = require "ngx.ssl.session"
        local d = ngx.shared.d
        local id, err = s.get_session_id()
        d:incr("fetches", 1, 0)
        local pre, pre_err = s.get_serialized_session()
        local gok, gerr = s.set_serialized_session("garbage")
        local ser = id and d:get(id)
        d:set("fetch_info", table.concat({tostring(id and #id), tostring(err),
            tostring(ser ~= nil), tostring(pre), tostring(pre_err), tostring(gok),
            tostring(gerr), ngx.get_phase()}, ","))
        if d:get("fetch_sleep") then ngx.sleep(0.01) end
        if ser and not d:get("fetch_drop") then
            local ok, err = s.set_serialized_session(ser)
            d:set("set_info", tostring(ok) .. "," .. tostring(err))
        end
        if d:get("fetch_error") then error("fetch failed on purpose") end
    }
"#;

fn conf(dir: &Path, extra: &str) -> String {
    format!(
        r#"load_module {NDK_MODULE};
load_module {LUA_MODULE};
worker_processes 1;
error_log logs/error.log info;
pid logs/nginx.pid;
events {{}}
http {{
    access_log off;
{HOOKS}
    server {{
        listen 127.0.0.1:{{PORT}} ssl;
        ssl_certificate {d}/a.crt;
        ssl_certificate_key {d}/a.key;
        {extra}
        location / {{ return 200 "$ssl_protocol $ssl_session_reused\n"; }}
        location /set {{ content_by_lua_block {{ ngx.shared.d:flush_all(); if ngx.var.arg_k then ngx.shared.d:set(ngx.var.arg_k, 1) end ngx.say("ok") }} }}
        location /info {{ content_by_lua_block {{
            local d = ngx.shared.d
            ngx.print("stores=", d:get("stores"), " fetches=", d:get("fetches"), " store[", d:get("store_info"), "] fetch[", d:get("fetch_info"), "] set[", d:get("set_info"), "]")
        }} }}
        location /api {{ content_by_lua_block {{
            local s = require "ngx.ssl.session"
            local a, b = s.get_session_id()
            local c, e = s.get_serialized_session()
            local f, g = s.set_serialized_session("x")
            local ok, h = pcall(s.set_serialized_session)
            ngx.print(tostring(a), ",", tostring(b), ",", tostring(c), ",", tostring(e), ",", tostring(f), ",", tostring(g), ",", tostring(ok), ",", h and h:gsub("^.-: ", "") or "")
        }} }}
    }}
}}
"#,
        d = dir.display()
    )
}

/// One case: reset the dict (setting `flag`), take a session, offer it again; the two
/// verdicts and what the hooks left.
fn case(dir: &Path, port: u16, flag: &str, args: &str) -> String {
    let script = format!(
        "timeout 10 curl -sk 'https://127.0.0.1:{port}/set?k={flag}' > /dev/null
rm -f s.sess
timeout 10 openssl s_client -connect 127.0.0.1:{port} {args} -ign_eof -sess_out s.sess < get.txt 2>/dev/null | grep -E '^(New|Reused),|^TLS' | sed 's/, Cipher is .*//'
timeout 10 openssl s_client -connect 127.0.0.1:{port} {args} -ign_eof -sess_in s.sess < get.txt 2>/dev/null | grep -E '^(New|Reused),|^TLS' | sed 's/, Cipher is .*//'
timeout 10 curl -sk --tlsv1.3 https://127.0.0.1:{port}/info"
    );
    sh(dir, &script).trim().replace('\n', " | ")
}

/// The `[error]`/`[crit]` lines of a log, without time, pid and connection number.
fn errors(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("[error]") || l.contains("[crit]") || l.contains("[alert]"))
        .map(|l| l.split_once(" *").map_or(l, |x| x.1))
        .map(|l| l.split_once(' ').map_or(l, |x| x.1).to_string())
        .collect()
}

fn verdicts(bin: &str, dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let srv = Server::start(bin, &conf(dir, ""), &[]);
    let p = srv.port;
    let cases = [
        ("tls1.2 by session id", "none", "-tls1_2 -no_ticket"),
        ("tls1.2 with tickets", "none", "-tls1_2"),
        ("tls1.3", "none", "-tls1_3"),
        ("fetch sets nothing", "fetch_drop", "-tls1_2 -no_ticket"),
        (
            "fetch fails after setting",
            "fetch_error",
            "-tls1_2 -no_ticket",
        ),
        ("store tries to sleep", "store_sleep", "-tls1_2 -no_ticket"),
    ];
    for (name, flag, args) in cases {
        out.push((name.to_string(), case(dir, p, flag, args)));
    }
    out.push((
        "api in a request".into(),
        sh(
            dir,
            &format!("timeout 10 curl -sk https://127.0.0.1:{p}/api"),
        ),
    ));
    let log = std::fs::read_to_string(srv.dir.join("logs/error.log")).unwrap_or_default();
    out.push(("error lines".into(), errors(&log).join("\n")));
    drop(srv);
    let off = Server::start(bin, &conf(dir, "ssl_session_tickets off;"), &[]);
    out.push((
        "tickets off, client offers them".into(),
        case(dir, off.port, "none", "-tls1_2"),
    ));
    drop(off);
    let off = Server::start(bin, &conf(dir, "ssl_session_cache off;"), &[]);
    out.push((
        "ssl_session_cache off".into(),
        case(dir, off.port, "none", "-tls1_2 -no_ticket"),
    ));
    drop(off);
    let builtin = Server::start(bin, &conf(dir, "ssl_session_cache builtin:100;"), &[]);
    out.push((
        "builtin cache answers first".into(),
        case(dir, builtin.port, "none", "-tls1_2 -no_ticket"),
    ));
    out
}

#[test]
fn session_hooks_match_the_reference() {
    if !have("openssl") || !have("curl") || !Path::new(common::REFERENCE).exists() {
        eprintln!("skipped: needs openssl, curl and {}", common::REFERENCE);
        return;
    }
    let dir = make_cert("cmp");
    let ours = verdicts(OXRESTY, &dir);
    let theirs = verdicts(common::REFERENCE, &dir);
    let mut diffs = Vec::new();
    for ((name, o), (_, r)) in ours.iter().zip(theirs.iter()) {
        eprintln!("{name}:\n  oxresty   [{o}]\n  reference [{r}]");
        if o != r {
            diffs.push(format!("{name}:\n  oxresty:   {o}\n  reference: {r}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    let first = &ours[0].1;
    assert!(
        first.contains("Reused, TLSv1.2") && first.contains("stores=1 fetches=1"),
        "{first}"
    );
}

/// The fetch hook may yield on oxresty (OpenResty's behaviour); the reference's stock
/// OpenSSL cannot wait for it and resumes nothing.
#[test]
fn fetch_hook_may_yield() {
    if !have("openssl") || !have("curl") {
        eprintln!("skipped: needs openssl and curl");
        return;
    }
    let dir = make_cert("yield");
    let srv = Server::start(OXRESTY, &conf(&dir, ""), &[]);
    let got = case(&dir, srv.port, "fetch_sleep", "-tls1_2 -no_ticket");
    assert!(
        got.starts_with("New, TLSv1.2 | TLSv1.2 . | Reused, TLSv1.2 | TLSv1.2 r"),
        "{got}"
    );
    if Path::new(common::REFERENCE).exists() {
        let r = Server::start(common::REFERENCE, &conf(&dir, ""), &[]);
        let theirs = case(&dir, r.port, "fetch_sleep", "-tls1_2 -no_ticket");
        assert!(!theirs.contains("Reused"), "{theirs}");
        let log = r.file_when("logs/error.log", |t| t.contains("cannot yield"));
        assert!(
            log.contains(
                "lua: cannot yield in sess get cb: missing async sess get cb support in OpenSSL"
            ),
            "{log}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
