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
/// in that domain), its answers' TTL `ttl` seconds.
fn dnsmasq(hosts: &Path, ttl: u32) -> Option<(Dns, u16)> {
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
        .arg(format!("--local-ttl={ttl}"))
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
    let Some((_dns, dport)) = dnsmasq(&hosts, 0) else {
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

const CONF_CACHE: &str = r#"
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log;
events {}
http {
    access_log off;
    server {
        listen 127.0.0.2:{PORT};
        location / { return 200 "from 127.0.0.2\n"; }
    }
    server {
        listen 127.0.0.3:{PORT};
        location / { return 200 "from 127.0.0.3\n"; }
    }
    server {
        listen 127.0.0.1:{PORT};
        location /r/ {
            resolver 127.0.0.1:{DNS} ipv6=off;
            proxy_pass http://$arg_h:{PORT}/;
        }
        location /v/ {
            resolver 127.0.0.1:{DNS} ipv6=off valid=30s;
            proxy_pass http://$arg_h:{PORT}/;
        }
        location /dead/ {
            resolver 127.0.0.1:{DEAD} ipv6=off;
            resolver_timeout 1s;
            proxy_pass http://$arg_h:{PORT}/;
        }
    }
}
"#;

const HOSTS: &str =
    "127.0.0.4 multi.example.test\n127.0.0.2 multi.example.test\n127.0.0.2 ttl.example.test\n";

/// The answers to the cache sequence: every address of a name is tried (127.0.0.4 refuses;
/// dnsmasq rotates its answers, so the dead one often comes first),
/// a changed record is seen once the TTL (2 s) passed but not within `valid=30s`, and a
/// resolver that never answers ends with 502 after resolver_timeout.
fn run_cache(bin: &str, dns: &Dns, dport: u16, dead: u16, hosts: &Path) -> (Vec<String>, String) {
    std::fs::write(hosts, HOSTS).unwrap();
    let _ = Command::new("kill")
        .args(["-HUP", &dns.0.id().to_string()])
        .status();
    std::thread::sleep(Duration::from_millis(300));
    let conf = CONF_CACHE
        .replace("{DNS}", &dport.to_string())
        .replace("{DEAD}", &dead.to_string());
    let s = Server::start(bin, &conf, &[]);
    let ask = |uri: &str| answer(&s, uri).trim_end().to_string();
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(ask("/r/?h=multi.example.test"));
    }
    got.push(ask("/r/?h=ttl.example.test"));
    got.push(ask("/v/?h=ttl.example.test"));
    std::fs::write(hosts, HOSTS.replace("127.0.0.2 ttl", "127.0.0.3 ttl")).unwrap();
    let _ = Command::new("kill")
        .args(["-HUP", &dns.0.id().to_string()])
        .status();
    std::thread::sleep(Duration::from_millis(300));
    got.push(ask("/r/?h=ttl.example.test"));
    got.push(ask("/v/?h=ttl.example.test"));
    std::thread::sleep(Duration::from_millis(4000));
    got.push(ask("/r/?h=ttl.example.test"));
    got.push(ask("/v/?h=ttl.example.test"));
    let t0 = Instant::now();
    got.push(ask("/dead/?h=late.example.test"));
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(8),
        "{bin}: the dead resolver answered after {waited:?}"
    );
    let log = s.file_when("logs/error.log", |t| t.contains("late.example.test"));
    (got, log)
}

#[test]
fn resolver_answers_are_all_used_and_cached_for_their_ttl() {
    let dir = std::env::temp_dir().join(format!("oxresty-resolver-c-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, HOSTS).unwrap();
    let Some((dns, dport)) = dnsmasq(&hosts, 2) else {
        return;
    };
    // A resolver that never answers.
    let dead = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    let from = |n: u8| format!("HTTP/1.1 200 OK from 127.0.0.{n}");
    let want = vec![
        from(2),
        from(2),
        from(2),
        from(2),
        from(2),
        from(2),
        from(2),
        from(2),
        from(3),
        from(2),
        "HTTP/1.1 502 Bad Gateway".to_string(),
    ];
    let ox = run_cache(
        env!("CARGO_BIN_EXE_oxresty"),
        &dns,
        dport,
        dead_port,
        &hosts,
    );
    assert_eq!(ox.0, want, "oxresty answers");
    let line = "late.example.test could not be resolved (110: Operation timed out)";
    assert!(ox.1.contains(line), "{line} not in {}", ox.1);
    if Path::new(REFERENCE).exists() {
        let rf = run_cache(REFERENCE, &dns, dport, dead_port, &hosts);
        assert_eq!(rf.0, want, "the reference disagrees");
        assert!(rf
            .1
            .contains("late.example.test could not be resolved (110: Operation timed out)"));
    }
    drop(dead);
    let _ = std::fs::remove_dir_all(&dir);
}
