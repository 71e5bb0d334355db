//! `stream {}` passes `-t` as the reference's does, but oxresty has no stream run time yet:
//! at start each stream `listen` is named in an `[error]` line, and the http servers of the
//! same configuration still serve.

mod common;

use common::Server;

const CONF: &str = r#"
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log;
events {}
stream {
    upstream backends { server 127.0.0.1:1; }
    server { listen 127.0.0.1:7; proxy_pass backends; }
    server { listen unix:/tmp/oxresty-stream-unserved.sock; return "x"; }
}
http {
    access_log off;
    server { listen 127.0.0.1:{PORT}; location = /t { return 200 "ok\n"; } }
}
"#;

#[test]
fn stream_listens_are_named_not_dropped_silently() {
    let s = Server::start(env!("CARGO_BIN_EXE_oxresty"), CONF, &[]);
    let out = String::from_utf8_lossy(&s.exchange(b"GET /t HTTP/1.0\r\n\r\n")).into_owned();
    assert!(out.ends_with("\r\n\r\nok\n"), "{out}");
    let log = s.file_when("logs/error.log", |t| t.matches("[error]").count() >= 2);
    for listen in [
        "127.0.0.1:7".to_string(),
        "unix:/tmp/oxresty-stream-unserved.sock".to_string(),
    ] {
        let line = format!(
            "stream server \"listen {listen}\" is not served: oxresty has no stream run time yet"
        );
        assert!(log.contains(&line), "{line} not in:\n{log}");
    }
}
