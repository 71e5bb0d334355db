//! The stream parts oxresty has no run time for yet (`ssl` listens, TLS to upstreams,
//! stream Lua) pass `-t` as the reference's do; at start each is named in an `[error]` line,
//! never dropped silently, while the other stream listens and the http servers of the same
//! configuration serve.

mod common;

use common::{free_port, Server};

const CONF: &str = r#"
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log;
events {}
stream {
    server {
        listen 127.0.0.1:{SSL} ssl;
        ssl_certificate {DIR}/cert.pem;
        ssl_certificate_key {DIR}/key.pem;
        return "x";
    }
    server { listen unix:/tmp/oxresty-stream-unserved-{PID}.sock; return "served\n"; }
    server { listen 127.0.0.1:{LUA}; preread_by_lua_block { ngx.exit(1) } return "lua\n"; }
    server { listen 127.0.0.1:{TLSUP}; proxy_ssl on; proxy_pass 127.0.0.1:1; }
}
http {
    access_log off;
    server { listen 127.0.0.1:{PORT}; location = /t { return 200 "ok\n"; } }
}
"#;

#[test]
fn unserved_stream_listens_are_named_not_dropped_silently() {
    let (ssl, lua, tlsup) = (free_port(), free_port(), free_port());
    let pid = std::process::id().to_string();
    let dir = std::env::temp_dir().join(format!("oxresty-stream-unserved-{pid}"));
    std::fs::create_dir_all(&dir).unwrap();
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=x", "-keyout", "key.pem", "-out", "cert.pem"])
        .current_dir(&dir)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        eprintln!("note: openssl not installed; skipped");
        return;
    }
    let conf = CONF
        .replace("{SSL}", &ssl.to_string())
        .replace("{DIR}", &dir.display().to_string())
        .replace("{LUA}", &lua.to_string())
        .replace("{TLSUP}", &tlsup.to_string())
        .replace("{PID}", &pid);
    let s = Server::start(env!("CARGO_BIN_EXE_oxresty"), &conf, &[]);
    let out = String::from_utf8_lossy(&s.exchange(b"GET /t HTTP/1.0\r\n\r\n")).into_owned();
    assert!(out.ends_with("\r\n\r\nok\n"), "{out}");
    // The unix stream listen is served.
    let path = format!("/tmp/oxresty-stream-unserved-{pid}.sock");
    let mut c = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let mut got = String::new();
    std::io::Read::read_to_string(&mut c, &mut got).unwrap();
    assert_eq!(got, "served\n");
    let log = s.file_when("logs/error.log", |t| t.matches("[error]").count() >= 3);
    let tls_line = format!(
        "stream \"proxy_ssl on\" in {}/conf/nginx.conf:15 is not run: oxresty has no TLS to stream upstreams yet",
        s.dir.display()
    );
    assert!(log.contains(&tls_line), "{tls_line} not in:\n{log}");
    let lua_line = format!(
        "stream \"preread_by_lua_block\" in {}/conf/nginx.conf:14 is not run: oxresty has no stream Lua run time yet",
        s.dir.display()
    );
    assert!(log.contains(&lua_line), "{lua_line} not in:\n{log}");
    let line = format!(
        "stream server \"listen 127.0.0.1:{ssl}\" is not served: oxresty has no run time for its ssl listens yet"
    );
    assert!(log.contains(&line), "{line} not in:\n{log}");
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir_all(&dir);
}
