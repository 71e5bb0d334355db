//! `proxy_pass` with a host name in variables: the name goes through `resolver` (a real
//! dnsmasq started here) at request time, as nginx's ngx_http_upstream_resolve_handler does;
//! no resolver and unknown names are checked against the expected answers and log lines,
//! and against the reference when installed. Skipped (with a note)
//! when dnsmasq is not installed.

mod common;

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, Server, REFERENCE};

const DNSMASQ: &str = "/usr/sbin/dnsmasq";

struct Dns(Child);

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn dns_answers(port: u16) -> bool {
    let Ok(s) = UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let q =
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05probe\x07invalid\x00\x00\x01\x00\x01";
    if s.send_to(q, ("127.0.0.1", port)).is_err() {
        return false;
    }
    let mut b = [0u8; 512];
    s.recv(&mut b).is_ok()
}

/// dnsmasq on a free port answering `.example.test` names from `hosts` (NXDOMAIN for others
/// in that domain).
fn dnsmasq(hosts: &Path) -> Option<(Dns, u16)> {
    if !Path::new(DNSMASQ).exists() {
        eprintln!("note: {DNSMASQ} is not installed; proxy_resolver skipped");
        return None;
    }
    let port = loop {
        let p = free_port();
        if UdpSocket::bind(("127.0.0.1", p)).is_ok() {
            break p;
        }
    };
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let child = Command::new(DNSMASQ)
        .arg("--no-daemon")
        .arg(format!("--port={port}"))
        .args(["--listen-address=127.0.0.1", "--bind-interfaces"])
        .args([
            "--no-resolv",
            "--no-hosts",
            "--pid-file=",
            "--local=/example.test/",
        ])
        .arg(format!("--user={user}"))
        .arg(format!("--addn-hosts={}", hosts.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut d = Dns(child);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !dns_answers(port) {
        if d.0.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
            eprintln!("note: dnsmasq could not start; proxy_resolver skipped");
            return None;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    Some((d, port))
}

const CONF: &str = r#"
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log;
events {}
http {
    access_log off;
    server {
        listen 127.0.0.2:{PORT};
        location / { return 200 "from 127.0.0.2 host=$http_host\n"; }
    }
    server {
        listen 127.0.0.3:{PORT};
        location / { return 200 "from 127.0.0.3 host=$http_host\n"; }
    }
    server {
        listen 127.0.0.1:{PORT};
        location /none/ { proxy_pass http://$arg_h:{PORT}/; }
        location /r/ {
            resolver 127.0.0.1:{DNS} ipv6=off;
            resolver_timeout 3s;
            proxy_pass http://$arg_h:{PORT}/;
            add_header X-Up $upstream_addr;
        }
    }
}
"#;

fn answer(s: &Server, uri: &str) -> String {
    let raw = s.exchange(format!("GET {uri} HTTP/1.0\r\nHost: front\r\n\r\n").as_bytes());
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.lines().next().unwrap_or_default().to_string();
    let up = text
        .lines()
        .find_map(|l| l.strip_prefix("X-Up: "))
        .map(|v| format!(" up={}", v.split(':').next().unwrap_or_default()))
        .unwrap_or_default();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    let body = if body.starts_with("<html>") {
        String::new()
    } else {
        body
    };
    format!("{status}{up} {body}")
}

fn run(bin: &str, dns: u16) -> (Vec<String>, String) {
    let conf = CONF.replace("{DNS}", &dns.to_string());
    let s = Server::start(bin, &conf, &[]);
    let got = [
        "/none/?h=svc.example.test",
        "/r/?h=svc.example.test",
        "/r/?h=nosuch.example.test",
        "/r/?h=127.0.0.3",
    ]
    .iter()
    .map(|u| answer(&s, u).replace(&format!(":{}", s.port), ":PORT"))
    .collect();
    let log = s.file_when("logs/error.log", |t| t.matches("[error]").count() >= 2);
    let lines = log
        .lines()
        .filter_map(|l| l.split_once(" [error] "))
        .filter_map(|(_, rest)| rest.split_once(": *"))
        .filter_map(|(_, rest)| rest.split_once(' ').map(|(_, m)| m.to_string()))
        .map(|l| l.replace(&format!(":{}", s.port), ":PORT"))
        .collect::<Vec<_>>()
        .join("\n");
    (got, lines)
}

#[test]
fn proxy_pass_names_go_through_the_resolver() {
    let dir = std::env::temp_dir().join(format!("oxresty-resolver-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, "127.0.0.2 svc.example.test\n").unwrap();
    let Some((_dns, dport)) = dnsmasq(&hosts) else {
        return;
    };
    let want = [
        "HTTP/1.1 502 Bad Gateway ",
        "HTTP/1.1 200 OK up=127.0.0.2 from 127.0.0.2 host=svc.example.test:PORT\n",
        "HTTP/1.1 502 Bad Gateway ",
        "HTTP/1.1 200 OK up=127.0.0.3 from 127.0.0.3 host=127.0.0.3:PORT\n",
    ];
    let ox = run(env!("CARGO_BIN_EXE_oxresty"), dport);
    assert_eq!(ox.0, want, "oxresty answers");
    for line in [
        "no resolver defined to resolve svc.example.test",
        "nosuch.example.test could not be resolved (3: Host not found)",
    ] {
        assert!(ox.1.contains(line), "{line} not in {}", ox.1);
    }
    if Path::new(REFERENCE).exists() {
        let rf = run(REFERENCE, dport);
        assert_eq!(rf.0, want, "the reference disagrees");
        assert_eq!(ox.1, rf.1, "error lines differ");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
