//! X.509 v1 client certificates (what `openssl x509 -req` makes without extensions),
//! differential: nginx (OpenSSL) accepts them, webpki refuses them; oxresty checks them
//! itself (issuer among the trusted certificates, signature, validity). The reference
//! (/usr/sbin/nginx) and oxresty serve the same `ssl_verify_client optional` server; curl
//! presents v1 certificates issued by a v3 CA and by a v1 CA, an expired one, one signed by
//! an impostor CA of the same name, a self-signed one; status, `$ssl_client_verify` and the
//! error log's verify error must be the same. Skipped (with a note) without openssl, curl or
//! the reference.

use std::path::{Path, PathBuf};

mod common;
use common::{have, sh, Server};

const OXRESTY: &str = env!("CARGO_BIN_EXE_oxresty");

fn make_pki() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("oxresty-v1certs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let script = r#"set -e
openssl req -x509 -newkey rsa:2048 -nodes -keyout srv.key -out srv.crt -days 30 -subj "/CN=srv.test" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj "/CN=Test CA" 2>/dev/null
openssl genrsa -out ca1.key 2048 2>/dev/null
openssl req -new -key ca1.key -out ca1.csr -subj "/CN=V1 CA" 2>/dev/null
openssl x509 -req -in ca1.csr -signkey ca1.key -out ca1.crt -days 30 2>/dev/null
cat ca.crt ca1.crt > cas.crt
openssl req -newkey rsa:2048 -nodes -keyout c.key -out c.csr -subj "/CN=v1 client" 2>/dev/null
openssl x509 -req -in c.csr -CA ca.crt -CAkey ca.key -set_serial 5 -out v1.crt -days 30 2>/dev/null
openssl x509 -req -in c.csr -CA ca1.crt -CAkey ca1.key -set_serial 6 -out v1v1.crt -days 30 2>/dev/null
openssl x509 -req -in c.csr -CA ca.crt -CAkey ca.key -set_serial 7 -out expired.crt -days -1 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout x.key -out x.crt -days 3 -subj "/CN=Test CA" 2>/dev/null
openssl x509 -req -in c.csr -CA x.crt -CAkey x.key -set_serial 8 -out forged.crt -days 30 2>/dev/null
openssl x509 -req -in c.csr -signkey c.key -out self.crt -days 30 2>/dev/null
openssl x509 -in v1.crt -noout -text | grep -q "Version: 1"
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
        r#"worker_processes 1;
error_log logs/error.log info;
pid logs/nginx.pid;
events {{}}
http {{
    access_log off;
    server {{
        listen 127.0.0.1:{{PORT}} ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate {d}/srv.crt;
        ssl_certificate_key {d}/srv.key;
        ssl_verify_client optional;
        ssl_client_certificate {d}/cas.crt;
        error_page 495 = /why;
        location / {{ return 200 "$ssl_client_verify|$ssl_client_s_dn|$ssl_client_i_dn\n"; }}
        location /why {{ return 200 "495 $ssl_client_verify\n"; }}
    }}
}}
"#
    )
}

fn cases(bin: &str, dir: &Path) -> Vec<(String, String)> {
    let srv = Server::start(bin, &conf(dir), &[]);
    let p = srv.port;
    let mut out = Vec::new();
    for name in ["v1", "v1v1", "expired", "forged", "self"] {
        for proto in ["--tlsv1.2 --tls-max 1.2", "--tlsv1.3"] {
            let got = sh(
                dir,
                &format!("timeout 10 curl -sk {proto} --cert {name}.crt --key c.key -w '%{{http_code}}' https://127.0.0.1:{p}/"),
            );
            out.push((format!("{name} {proto}"), got.replace('\n', "|")));
        }
    }
    let log = srv.file_when("logs/error.log", |t| t.contains("verify error"));
    let mut reasons: Vec<String> = log
        .lines()
        .filter_map(|l| l.split_once("client SSL certificate verify error: "))
        .map(|(_, r)| r.split(" while ").next().unwrap_or("").to_string())
        .collect();
    reasons.sort();
    out.push(("verify errors logged".into(), reasons.join("; ")));
    out
}

#[test]
fn v1_client_certificates_match_the_reference() {
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
    assert!(ours[0].1.starts_with("SUCCESS|CN=v1 client"), "{ours:?}");
}
