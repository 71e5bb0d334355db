//! `sock:sslhandshake` end to end: TCP cosockets upgraded to TLS against `openssl s_server`
//! backends (a CA-signed certificate and a self-signed one, made by the openssl command
//! here), with and without verification through `lua_ssl_trusted_certificate`, a wrong host
//! name, and a plain-text peer; the reference must give the same answers and log lines.
//! Skipped (with a note) when the openssl command is not installed.

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

fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "oxresty-tls-{}-{name}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn openssl(dir: &Path, args: &[&str]) -> bool {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A CA, a server certificate for `test.example` signed by it, and a self-signed one.
fn certs(dir: &Path) -> bool {
    let subj = |cn: &str| format!("/CN={cn}");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            &subj("Test CA"),
        ],
    ) && openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
            "-subj",
            &subj("test.example"),
        ],
    ) && std::fs::write(dir.join("ext.cnf"), "subjectAltName=DNS:test.example\n").is_ok()
        && openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "srv.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "30",
                "-out",
                "srv.pem",
                "-extfile",
                "ext.cnf",
            ],
        )
        && openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "30",
                "-keyout",
                "self.key",
                "-out",
                "self.pem",
                "-subj",
                &subj("test.example"),
                "-addext",
                "subjectAltName=DNS:test.example",
            ],
        )
}

fn s_server(dir: &Path, cert: &str, key: &str) -> Option<(Proc, u16)> {
    let port = free_port();
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept", &port.to_string()])
        .args(["-cert", cert, "-key", key])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut p = Proc { child, dir: None };
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if p.child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    Some((p, port))
}

const APP: &str = r#"
    lua_ssl_trusted_certificate {CERTS}/ca.pem;
    server {
        listen 127.0.0.1:{PORT};
        default_type text/plain;
        location = /t {
            content_by_lua_block {
                local port = tonumber(ngx.var.arg_port)
                local name = ngx.var.arg_name
                local verify = ngx.var.arg_verify == "1"
                local reuse = ngx.var.arg_reuse
                local sock = ngx.socket.tcp()
                sock:settimeout(3000)
                local ok, err = sock:connect("127.0.0.1", port)
                if not ok then
                    ngx.say("connect: ", err)
                    return
                end
                local sess, err
                if reuse == "false" then
                    sess, err = sock:sslhandshake(false, name, verify)
                else
                    sess, err = sock:sslhandshake(nil, name, verify)
                end
                ngx.say("handshake: ", type(sess), " ", err)
                if not sess then
                    ngx.say("send after failure: ", select(2, sock:send("x")))
                    return
                end
                assert(sock:send("GET / HTTP/1.0\r\n\r\n"))
                local line = sock:receive()
                ngx.say("first line: ", line)
                sock:close()
            }
        }
        location = /plain { return 200 "plain"; }
    }
"#;

fn start(bin: &str, certs: &Path) -> (Proc, u16) {
    let dir = scratch("srv");
    for sub in ["logs", "conf"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let port = free_port();
    let app = APP
        .replace("{PORT}", &port.to_string())
        .replace("{CERTS}", &certs.display().to_string());
    let text = format!(
        "load_module {NDK_MODULE};\nload_module {LUA_MODULE};\nworker_processes 1;\npid logs/nginx.pid;\nerror_log logs/error.log notice;\nevents {{}}\nhttp {{\n    access_log off;\n{app}\n}}\n"
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
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        let exited = p.child.try_wait().ok().flatten().is_some();
        assert!(!exited && Instant::now() < deadline, "{bin} did not start");
        std::thread::sleep(Duration::from_millis(30));
    }
    (p, port)
}

fn get(port: u16, uri: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    write!(s, "GET {uri} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

fn log_of(p: &Proc) -> String {
    p.dir
        .as_ref()
        .and_then(|d| std::fs::read_to_string(d.join("logs/error.log")).ok())
        .unwrap_or_default()
}

#[test]
fn sslhandshake_matches_reference() {
    let certs_dir = scratch("certs");
    if !certs(&certs_dir) {
        eprintln!("note: the openssl command is missing or failed; lua_tls skipped");
        return;
    }
    let Some((_good, gport)) = s_server(&certs_dir, "srv.pem", "srv.key") else {
        eprintln!("note: openssl s_server did not start; lua_tls skipped");
        return;
    };
    let Some((_selfs, sport)) = s_server(&certs_dir, "self.pem", "self.key") else {
        return;
    };
    let (ox, oport) = start(OXRESTY, &certs_dir);
    let cases: Vec<(String, &str)> = vec![
        (
            format!("/t?port={gport}&name=test.example&verify=1"),
            "handshake: cdata nil\nfirst line: HTTP/1.0 200 ok\n",
        ),
        (
            format!("/t?port={gport}&name=test.example&verify=1&reuse=false"),
            "handshake: boolean nil\nfirst line: HTTP/1.0 200 ok\n",
        ),
        (
            format!("/t?port={gport}&verify=0"),
            "handshake: cdata nil\nfirst line: HTTP/1.0 200 ok\n",
        ),
        (
            format!("/t?port={gport}&name=other.example&verify=1"),
            "handshake: nil certificate host mismatch\nsend after failure: closed\n",
        ),
        (
            format!("/t?port={gport}&name=other.example&verify=0"),
            "handshake: cdata nil\nfirst line: HTTP/1.0 200 ok\n",
        ),
        (
            format!("/t?port={sport}&name=test.example&verify=1"),
            "handshake: nil 18: self-signed certificate\nsend after failure: closed\n",
        ),
        (
            format!("/t?port={oport}&name=test.example&verify=0"),
            "handshake: nil handshake failed\nsend after failure: closed\n",
        ),
    ];
    let got: Vec<String> = cases.iter().map(|(u, _)| get(oport, u)).collect();
    for ((uri, want), g) in cases.iter().zip(&got) {
        assert_eq!(g, want, "oxresty answer for {uri}");
    }
    let ox_log = log_of(&ox);
    for line in [
        "lua ssl certificate does not match host \"other.example\"",
        "lua ssl certificate verify error: (18: self-signed certificate)",
    ] {
        assert!(
            ox_log.contains(line),
            "oxresty log lacks {line:?}:\n{ox_log}"
        );
    }
    if Path::new(REFERENCE).exists() && Path::new(LUA_MODULE).exists() {
        let (rf, rport) = start(REFERENCE, &certs_dir);
        for ((uri, _), g) in cases.iter().zip(&got) {
            let uri = uri.replace(&format!("port={oport}"), &format!("port={rport}"));
            let r = get(rport, &uri);
            // lua-resty-core 0.1.25 asserts when a failing handshake completes without
            // yielding (the peer's answer already arrived: a loaded machine), so the
            // reference answers 500 by timing; oxresty always gives the yielding path's answer.
            if r.contains("500 Internal Server Error")
                && log_of(&rf).contains("resty/core/socket.lua:244: assertion failed!")
            {
                eprintln!("note: the reference hit resty.core's sslhandshake assertion for {uri}");
                continue;
            }
            assert_eq!(
                &r,
                g,
                "oxresty and the reference differ for {uri}; reference log:\n{}",
                log_of(&rf)
            );
        }
        let rf_log = log_of(&rf);
        for line in [
            "lua ssl certificate does not match host \"other.example\"",
            "lua ssl certificate verify error: (18: self-signed certificate)",
        ] {
            assert!(
                rf_log.contains(line),
                "reference log lacks {line:?}:\n{rf_log}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&certs_dir);
}
