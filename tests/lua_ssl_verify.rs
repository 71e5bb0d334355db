//! `ngx.ssl.verify_client(ca_certs, depth)` in `ssl_certificate_by_lua*`, differential: the
//! reference (/usr/sbin/nginx with the lua module) and oxresty serve the same
//! configuration; curl with and without client certificates must see the same
//! `$ssl_client_verify` (the handshake goes on whatever the result, and the request is not
//! refused: no `ssl_verify_client` in the server), the same values from `verify_client`
//! itself, and its error outside the hook. Skipped (with a note) without openssl, curl or
//! the reference.

use std::path::{Path, PathBuf};

mod common;
use common::{have, sh, Server};

const OXRESTY: &str = env!("CARGO_BIN_EXE_oxresty");
const LUA_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_lua_module.so";
const NDK_MODULE: &str = "/usr/lib/nginx/modules/ndk_http_module.so";

/// A CA, a server certificate, a client certificate from the CA, one from another CA, a
/// self-signed one.
fn make_pki() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("oxresty-sslverify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let script = r#"set -e
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj "/CN=Test CA" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca2.key -out ca2.crt -days 30 -subj "/CN=Other CA" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout srv.key -out srv.crt -days 30 -subj "/CN=srv.test" 2>/dev/null
printf "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n" > client.ext
openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj "/CN=client one" 2>/dev/null
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -set_serial 10 -out client.crt -days 30 -extfile client.ext 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout other.key -out other.csr -subj "/CN=other client" 2>/dev/null
openssl x509 -req -in other.csr -CA ca2.crt -CAkey ca2.key -set_serial 11 -out other.crt -days 30 -extfile client.ext 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout self.key -out self.crt -days 30 -subj "/CN=selfie" 2>/dev/null
chmod a+r *.key
echo ok"#;
    assert_eq!(
        sh(&dir, script).trim(),
        "ok",
        "openssl could not make the PKI"
    );
    dir
}

fn conf(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"load_module {NDK_MODULE};
load_module {LUA_MODULE};
worker_processes 1;
error_log logs/error.log info;
pid logs/nginx.pid;
events {{}}
http {{
    access_log off;
    lua_shared_dict d 1m;
    ssl_protocols TLSv1.2 TLSv1.3;
    server {{
        listen 127.0.0.1:{{PORT}} ssl;
        ssl_certificate {d}/srv.crt;
        ssl_certificate_key {d}/srv.key;
        ssl_certificate_by_lua_block {{
            local ssl = require "ngx.ssl"
            local name = ssl.server_name() or ""
            local f = io.open("{d}/ca.crt")
            local ca = ssl.parse_pem_cert(f:read("*a"))
            f:close()
            local ok, err
            if name == "ca.test" then
                ok, err = ssl.verify_client(ca)
            elseif name == "depth.test" then
                ok, err = ssl.verify_client(ca, 3)
            elseif name == "nil.test" then
                ok, err = ssl.verify_client()
            else
                return
            end
            ngx.shared.d:set(name, tostring(ok) .. "," .. tostring(err))
        }}
        location / {{ return 200 "$ssl_client_verify|$ssl_client_s_dn\n"; }}
        location /hook {{ content_by_lua_block {{ ngx.print(ngx.shared.d:get(ngx.var.arg_n)) }} }}
        location /api {{ content_by_lua_block {{ ngx.print(require("ngx.ssl").verify_client()) }} }}
    }}
}}
"#
    )
}

fn cases(bin: &str, dir: &Path) -> Vec<(String, String)> {
    let srv = Server::start(bin, &conf(dir), &[]);
    let p = srv.port;
    let mut out = Vec::new();
    for name in ["ca.test", "depth.test", "nil.test", "none.test"] {
        for (who, args) in [
            ("no cert", ""),
            ("client", "--cert client.crt --key client.key"),
            ("other CA", "--cert other.crt --key other.key"),
            ("self-signed", "--cert self.crt --key self.key"),
        ] {
            let got = sh(
                dir,
                &format!("timeout 10 curl -sk {args} --resolve {name}:{p}:127.0.0.1 -w '|%{{http_code}}' https://{name}:{p}/"),
            );
            out.push((format!("{name} {who}"), got.trim().to_string()));
        }
        let hook = sh(
            dir,
            &format!("timeout 10 curl -sk https://127.0.0.1:{p}/hook?n={name}"),
        );
        out.push((format!("{name} verify_client returned"), hook));
    }
    out.push((
        "outside the hook".into(),
        sh(
            dir,
            &format!("timeout 10 curl -sk https://127.0.0.1:{p}/api"),
        ),
    ));
    out
}

#[test]
fn verify_client_matches_the_reference() {
    if !have("openssl") || !have("curl") || !Path::new(common::REFERENCE).exists() {
        eprintln!("skipped: needs openssl, curl and {}", common::REFERENCE);
        return;
    }
    let dir = make_pki();
    let ours = cases(OXRESTY, &dir);
    let theirs = cases(common::REFERENCE, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    let mut diffs = Vec::new();
    for ((name, o), (_, r)) in ours.iter().zip(theirs.iter()) {
        eprintln!("{name}: oxresty [{o}] reference [{r}]");
        if o != r {
            diffs.push(format!("{name}:\n  oxresty:   {o}\n  reference: {r}"));
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    assert!(
        ours.iter()
            .any(|(_, v)| v.starts_with("SUCCESS|CN=client one")),
        "{ours:?}"
    );
}
