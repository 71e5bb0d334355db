//! `error_log` at the http, server and location levels: a request's lines go to the logs of
//! its location (inherited from the server and http levels), filtered by their levels, and
//! the connection's own lines follow the last request's location; USR1 reopens them.

use std::path::Path;
use std::time::Duration;

mod common;
use common::{Server, REFERENCE};

const OXRESTY: &str = env!("CARGO_BIN_EXE_oxresty");

const CONF: &str = r#"worker_processes 1;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    error_log logs/http.log info;
    server {
        listen 127.0.0.1:{PORT};
        error_log logs/server.log warn;
        error_log logs/server_all.log info;
        root html;
        location /loc {
            error_log logs/loc.log error;
        }
        location /quiet {
            error_log logs/quiet.log crit;
        }
    }
    server {
        listen 127.0.0.1:{PORT};
        server_name other;
        root html;
    }
}
"#;

/// The messages of each log after the requests, without time and pid.
fn run(bin: &str) -> Vec<(String, Vec<String>)> {
    let s = Server::start(bin, CONF, &[]);
    for (path, host) in [
        ("/x", "a"),
        ("/loc/y", "a"),
        ("/quiet/z", "a"),
        ("/w", "other"),
    ] {
        let out = s.exchange(format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes());
        assert!(out.starts_with(b"HTTP/1.1 404"), "{bin} {path}");
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut out = Vec::new();
    for name in [
        "error.log",
        "http.log",
        "server.log",
        "server_all.log",
        "loc.log",
        "quiet.log",
    ] {
        let text = std::fs::read_to_string(s.dir.join("logs").join(name)).unwrap_or_default();
        let lines = text
            .lines()
            .filter(|l| !l.contains("[notice]"))
            .filter_map(|l| l.split_once(": *").map(|(_, m)| m.to_string()))
            .map(|l| {
                l.replace(&s.dir.display().to_string(), "PREFIX")
                    .replace(&s.port.to_string(), "PORT")
            })
            .collect();
        out.push((name.to_string(), lines));
    }
    out
}

#[test]
fn request_lines_follow_the_location() {
    let ours = run(OXRESTY);
    let lines = |name: &str| {
        ours.iter()
            .find(|(n, _)| n == name)
            .map(|(_, l)| l.clone())
            .unwrap_or_default()
    };
    let one = |name: &str, what: &str| {
        let l = lines(name);
        assert_eq!(l.len(), 1, "{name}: {l:?}");
        assert!(l[0].contains(what), "{name}: {l:?}");
    };
    one("server.log", "open() \"");
    one("loc.log", "/loc/y\" failed");
    assert!(lines("quiet.log").is_empty());
    // the other server inherits the http level's log
    assert!(
        lines("http.log")
            .iter()
            .any(|l| l.contains("html/w\" failed")),
        "{:?}",
        lines("http.log")
    );
    // the main log has no request lines
    assert!(
        !lines("error.log").iter().any(|l| l.contains("failed")),
        "{:?}",
        lines("error.log")
    );
    if Path::new(REFERENCE).exists() {
        assert_eq!(run(REFERENCE), ours);
    }
}

#[test]
fn usr1_reopens_level_logs() {
    let s = Server::start(OXRESTY, CONF, &[]);
    let logs = s.dir.join("logs");
    s.exchange(b"GET /loc/a HTTP/1.0\r\nHost: a\r\n\r\n");
    std::fs::rename(logs.join("loc.log"), logs.join("loc.log.1")).unwrap();
    let pid = s.child.id() as i32;
    // SAFETY: signalling our own child process.
    unsafe { libc_kill(pid, 10) };
    let reopened = s.file_when("logs/loc.log", |_| logs.join("loc.log").exists());
    assert!(reopened.is_empty());
    s.exchange(b"GET /loc/b HTTP/1.0\r\nHost: a\r\n\r\n");
    let text = s.file_when("logs/loc.log", |t| t.contains("/loc/b"));
    assert!(text.contains("/loc/b\" failed"), "{text}");
    let old = std::fs::read_to_string(logs.join("loc.log.1")).unwrap_or_default();
    assert!(
        old.contains("/loc/a\" failed") && !old.contains("/loc/b"),
        "{old}"
    );
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
