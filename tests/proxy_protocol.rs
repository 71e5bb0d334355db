//! `listen ... proxy_protocol`: the PROXY header (v1 text, v2 binary) a load balancer sends
//! before the first request, its `$proxy_protocol_*` variables, `real_ip_header
//! proxy_protocol`, and the lines nginx logs for broken headers. Checked against the
//! expected answers and lines, and against the reference (/usr/sbin/nginx) when installed.

mod common;

use common::{Server, REFERENCE};

const CONF: &str = r#"
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log info;
events {}
http {
    log_format t '$uri a=$remote_addr p=$remote_port ra=$realip_remote_addr pa=$proxy_protocol_addr';
    access_log logs/access.log t;
    server {
        listen 127.0.0.1:{PORT} proxy_protocol;
        location = /r {
            return 200 "pa=$proxy_protocol_addr pp=$proxy_protocol_port sa=$proxy_protocol_server_addr sp=$proxy_protocol_server_port\n";
        }
        location /ri {
            set_real_ip_from 127.0.0.1;
            real_ip_header proxy_protocol;
            root html;
            try_files /f =404;
        }
    }
}
"#;

const V2: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

fn v2(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
    let mut h = V2.to_vec();
    h.push(ver_cmd);
    h.push(fam);
    h.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    h.extend_from_slice(body);
    h
}

/// What a connection sends, and the body nginx answers (`None`: closed without an answer).
fn cases() -> Vec<(Vec<u8>, Option<&'static str>)> {
    let get = |h: &[u8], uri: &str| {
        let mut v = h.to_vec();
        v.extend_from_slice(format!("GET {uri} HTTP/1.0\r\n\r\n").as_bytes());
        v
    };
    let in4 = [1, 2, 3, 4, 5, 6, 7, 8, 0x04, 0x57, 0x08, 0xae];
    let mut in6 = [0u8; 36];
    in6[15] = 1;
    in6[16..20].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    in6[31] = 2;
    in6[32..].copy_from_slice(&[0x04, 0x57, 0x08, 0xae]);
    let mut too_long = v2(0x21, 0x11, &in4);
    too_long[15] = 200;
    let mut tlv = in4.to_vec();
    tlv.extend_from_slice(&[1, 0, 1, b'A']);
    vec![
        (
            get(b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n", "/r"),
            Some("pa=1.2.3.4 pp=1111 sa=5.6.7.8 sp=2222\n"),
        ),
        (
            get(b"PROXY TCP6 ::1 2001:db8::2 1111 2222\r\n", "/r"),
            Some("pa=::1 pp=1111 sa=2001:db8::2 sp=2222\n"),
        ),
        (
            get(b"PROXY UNKNOWN whatever\r\n", "/r"),
            Some("pa= pp= sa= sp=\n"),
        ),
        // Only the characters of a v1 address are checked; port 0 prints nothing.
        (
            get(b"PROXY TCP4 abc 5.6.7.8 0 2\r\n", "/r"),
            Some("pa=abc pp= sa=5.6.7.8 sp=2\n"),
        ),
        (
            get(&v2(0x21, 0x11, &in4), "/r"),
            Some("pa=1.2.3.4 pp=1111 sa=5.6.7.8 sp=2222\n"),
        ),
        (
            get(&v2(0x21, 0x21, &in6), "/r"),
            Some("pa=::1 pp=1111 sa=2001:db8::2 sp=2222\n"),
        ),
        (
            get(&v2(0x21, 0x11, &tlv), "/r"),
            Some("pa=1.2.3.4 pp=1111 sa=5.6.7.8 sp=2222\n"),
        ),
        // LOCAL: a health check of the balancer itself, no addresses.
        (get(&v2(0x20, 0x11, &in4), "/r"), Some("pa= pp= sa= sp=\n")),
        (
            get(b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n", "/ri"),
            Some("f\n"),
        ),
        (
            get(b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 2222\r\n", "/r"),
            None,
        ),
        (get(b"", "/r"), None),
        (get(b"PROXY TCP4 1.2.3.x 5.6.7.8 1 2\r\n", "/r"), None),
        (get(&v2(0x31, 0x11, &in4), "/r"), None),
        (get(&too_long, "/r"), None),
    ]
}

const LOG: &[&str] = &[
    "[error] broken header: \"PROXY TCP4 1.2.3.4 5.6.7.8 99999 2222",
    "[error] broken header: \"GET /r HTTP/1.0",
    "[error] broken header: \"PROXY TCP4 1.2.3.x 5.6.7.8 1 2",
    "[error] unknown PROXY protocol version: 3 while reading PROXY protocol, client: 127.0.0.1, server: 127.0.0.1:PORT",
    "[error] header is too large while reading PROXY protocol, client: 127.0.0.1, server: 127.0.0.1:PORT",
];

struct Run {
    answers: Vec<Option<String>>,
    keepalive: String,
    errors: Vec<String>,
    access: Vec<String>,
}

fn run(bin: &str) -> Run {
    use std::io::{Read, Write};
    let s = Server::start(bin, CONF, &[("html/f", "f\n")]);
    let answers = cases()
        .iter()
        .map(|(sent, _)| {
            let out = s.exchange(sent);
            let text = String::from_utf8_lossy(&out).into_owned();
            text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
        })
        .collect();
    // The header is read once: keep-alive requests after it keep its addresses.
    let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    c.write_all(b"PROXY TCP4 9.9.9.9 5.6.7.8 1 2\r\nGET /r HTTP/1.1\r\nHost: a\r\n\r\nGET /r HTTP/1.0\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    // nginx logs the last request when its lingering close ends: when the client closes.
    drop(c);
    let keepalive = String::from_utf8_lossy(&out)
        .split(['\r', '\n'])
        .filter(|l| l.starts_with("pa="))
        .collect::<Vec<_>>()
        .join("|");
    let log = s.file_when("logs/error.log", |t| {
        t.lines()
            .filter(|l| l.contains("[error]") && !l.contains("broken header"))
            .count()
            >= 2
            && t.matches("broken header").count() >= 3
    });
    let errors = log
        .lines()
        .filter(|l| l.contains("[error]"))
        .filter_map(|l| {
            let (_, rest) = l.split_once(" [error] ")?;
            let (_, msg) = rest.split_once(' ')?;
            let msg = msg.split_once(' ').map(|(_, m)| m).unwrap_or(msg);
            Some(format!(
                "[error] {}",
                msg.replace(&format!(":{}", s.port), ":PORT")
            ))
        })
        .collect();
    let access = s.file_when("logs/access.log", |t| t.lines().count() >= 11);
    let access = access
        .lines()
        .map(|l| {
            // The client's own port varies: name it.
            l.split(' ')
                .map(|w| {
                    if w.starts_with("p=") && w.len() > 2 && w != "p=1111" {
                        "p=N"
                    } else {
                        w
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    Run {
        answers,
        keepalive,
        errors,
        access,
    }
}

#[test]
fn proxy_protocol_headers_as_nginx_reads_them() {
    let want: Vec<Option<String>> = cases().iter().map(|(_, a)| a.map(str::to_string)).collect();
    let ox = run(env!("CARGO_BIN_EXE_oxresty"));
    assert_eq!(ox.answers, want);
    assert_eq!(
        ox.keepalive,
        "pa=9.9.9.9 pp=1 sa=5.6.7.8 sp=2|pa=9.9.9.9 pp=1 sa=5.6.7.8 sp=2"
    );
    assert_eq!(ox.errors, LOG);
    // realip: the PROXY source address and port are the client's.
    assert!(
        ox.access
            .contains(&"/f a=1.2.3.4 p=1111 ra=127.0.0.1 pa=1.2.3.4".to_string()),
        "{:?}",
        ox.access
    );
    if std::path::Path::new(REFERENCE).exists() {
        let rf = run(REFERENCE);
        assert_eq!(rf.answers, want, "the reference disagrees");
        assert_eq!(ox.keepalive, rf.keepalive);
        assert_eq!(ox.errors, rf.errors);
        assert_eq!(ox.access, rf.access);
    }
}

const TLS_CONF: &str = r#"
worker_processes 1;
pid logs/nginx.pid;
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:{PORT} ssl proxy_protocol;
        # Relative names: the configuration's directory (conf/), as nginx resolves them.
        ssl_certificate c.pem;
        ssl_certificate_key k.pem;
        location = /r { return 200 "pa=$proxy_protocol_addr sa=$proxy_protocol_server_addr https=$https\n"; }
    }
}
"#;

/// `listen ... ssl proxy_protocol`: the header comes before the TLS handshake (curl sends
/// it with `--haproxy-protocol`).
#[test]
fn proxy_protocol_before_tls() {
    let ok = |c: &mut std::process::Command| c.output().is_ok_and(|o| o.status.success());
    let tmp = std::env::temp_dir().join(format!("oxresty-pp-tls-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&tmp);
    let made = ok(std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-keyout", "k.pem", "-out", "c.pem", "-subj", "/CN=a"])
        .current_dir(&tmp));
    let read = |n: &str| std::fs::read_to_string(tmp.join(n)).unwrap_or_default();
    let (cert, key) = (read("c.pem"), read("k.pem"));
    let _ = std::fs::remove_dir_all(&tmp);
    if !made || !ok(std::process::Command::new("curl").arg("--version")) {
        eprintln!("note: openssl or curl missing; proxy_protocol_before_tls skipped");
        return;
    }
    let files = [("conf/c.pem", cert.as_str()), ("conf/k.pem", key.as_str())];
    let get = |bin: &str| {
        let s = Server::start(bin, TLS_CONF, &files);
        let out = std::process::Command::new("curl")
            .args(["-sk", "--max-time", "10", "--haproxy-protocol"])
            .arg(format!("https://127.0.0.1:{}/r", s.port))
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        out
    };
    let want = "pa=127.0.0.1 sa=127.0.0.1 https=on\n";
    assert_eq!(get(env!("CARGO_BIN_EXE_oxresty")), want);
    if std::path::Path::new(REFERENCE).exists() {
        assert_eq!(get(REFERENCE), want, "the reference disagrees");
    }
}
