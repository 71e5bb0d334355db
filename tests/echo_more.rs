//! The echo module's and headers-more's run time, black-box: each case's expected answer is
//! asserted for oxresty, and the same requests go to the reference (/usr/sbin/nginx with the
//! Debian echo and headers-more modules) when it is installed; the reference half is skipped
//! otherwise. Bodies are compared de-chunked (the reference sends one chunk per `echo`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::free_port;

const OXRESTY: &str = env!("CARGO_BIN_EXE_oxresty");
const REFERENCE: &str = "/usr/sbin/nginx";
const MODULES: &[&str] = &[
    "/usr/lib/nginx/modules/ndk_http_module.so",
    "/usr/lib/nginx/modules/ngx_http_echo_module.so",
    "/usr/lib/nginx/modules/ngx_http_headers_more_filter_module.so",
];

const CONF: &str = r#"
events {}
http {
  default_type text/plain;
  more_set_headers 'X-Top: top';
  server {
    listen PORT;
    location /e { echo hello world; echo -n a; echo -- -n b; echo; echo_duplicate 3 ab; echo "$echo_request_uri"; }
    location /s { echo_status 404; echo nf; }
    location /ba { echo_before_body before; echo_after_body after; echo mid; }
    location /x { echo_exec /e a=1; }
    location /m { more_set_headers 'Server: my' 'X-A: 1'; more_clear_headers 'Content-Type'; echo m; }
    location /m2 { more_set_headers -s 404 'x-nf: yes'; more_set_headers -s 200 'X-No: no'; return 404; }
    location /in { more_set_input_headers 'X-Foo: bar'; more_clear_input_headers 'User-Agent'; echo "$http_x_foo|$http_user_agent"; }
    location /html.html { echo hi; }
    location /f.txt { root html; more_clear_headers 'Content-Length' 'X-T*' 'Last-Modified' 'ETag' 'Accept-Ranges'; }
    location /ba404 { echo_before_body before; echo_after_body after; }
    location /inr { more_set_input_headers -r 'X-Foo: bar' 'User-Agent: new'; echo "[$http_x_foo][$http_user_agent]"; }
    location /inset { set $v hello; more_set_input_headers 'X-V: $v'; echo "[$http_x_v]"; }
    location /ex { echo_exec @named; }
    location @named { echo named $uri; }
    location /vars { echo "$echo_request_method $echo_client_request_method [$echo_response_status]"; }
  }
}
"#;

struct Server {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(bin: &str, port: u16) -> Server {
    let dir = std::env::temp_dir().join(format!("oxresty-echo-{}-{port}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::create_dir_all(dir.join("conf")).unwrap();
    let mut conf = String::new();
    for m in MODULES {
        conf.push_str(&format!("load_module {m};\n"));
    }
    conf.push_str(&CONF.replace("PORT", &port.to_string()));
    std::fs::write(dir.join("conf/nginx.conf"), conf).unwrap();
    std::fs::create_dir_all(dir.join("html")).unwrap();
    std::fs::write(dir.join("html/f.txt"), "static\n").unwrap();
    let child = Command::new(bin)
        .arg("-p")
        .arg(format!("{}/", dir.display()))
        .args([
            "-c",
            "conf/nginx.conf",
            "-e",
            "logs/error.log",
            "-g",
            "daemon off;",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{bin} did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, dir, port }
}

/// The answer's head lines (without Date) and its de-chunked body.
fn get(port: u16, raw: &str) -> (Vec<String>, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let head: Vec<String> = head
        .split("\r\n")
        .filter(|l| !l.starts_with("Date:"))
        .map(str::to_owned)
        .collect();
    let body = if head.iter().any(|l| l == "Transfer-Encoding: chunked") {
        let mut b = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size, 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            b.push_str(&tail[..n]);
            rest = &tail[n + 2..];
        }
        b
    } else {
        body.to_owned()
    };
    (head, body)
}

fn req(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: ua\r\nConnection: close\r\n\r\n")
}

/// (request, expected head lines, expected body).
fn cases() -> Vec<(String, Vec<&'static str>, &'static str)> {
    let ok = |extra: &[&'static str]| {
        let mut h = vec![
            "HTTP/1.1 200 OK",
            "Server: nginx/1.22.1",
            "Content-Type: text/plain",
            "Transfer-Encoding: chunked",
            "Connection: close",
            "X-Top: top",
        ];
        h.extend_from_slice(extra);
        h
    };
    vec![
        (req("/e?q=1"), ok(&[]), "hello world\na-n b\n\nababab/e\n"),
        (req("/x"), ok(&[]), "hello world\na-n b\n\nababab/e\n"),
        (req("/ba"), ok(&[]), "before\nmid\nafter\n"),
        (req("/in"), ok(&[]), "bar|\n"),
        (
            req("/s"),
            vec![
                "HTTP/1.1 404 Not Found",
                "Server: nginx/1.22.1",
                "Content-Type: text/plain",
                "Transfer-Encoding: chunked",
                "Connection: close",
                "X-Top: top",
            ],
            "nf\n",
        ),
        (
            req("/html.html"),
            vec![
                "HTTP/1.1 200 OK",
                "Server: nginx/1.22.1",
                "Content-Type: text/html",
                "Transfer-Encoding: chunked",
                "Connection: close",
                "X-Top: top",
            ],
            "hi\n",
        ),
        (req("/inr"), ok(&[]), "[][new]\n"),
        (req("/inset"), ok(&[]), "[hello]\n"),
        (req("/ex"), ok(&[]), "named /ex\n"),
        (req("/vars"), ok(&[]), "GET GET []\n"),
        (
            req("/f.txt"),
            vec![
                "HTTP/1.1 200 OK",
                "Server: nginx/1.22.1",
                "Content-Type: text/plain",
                "Transfer-Encoding: chunked",
                "Connection: close",
            ],
            "static\n",
        ),
        (
            req("/ba404"),
            vec![
                "HTTP/1.1 404 Not Found",
                "Server: nginx/1.22.1",
                "Content-Type: text/html",
                "Transfer-Encoding: chunked",
                "Connection: close",
                "X-Top: top",
            ],
            "before\n<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n\
             <center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n\
             </body>\r\n</html>\r\nafter\n",
        ),
        (
            req("/m"),
            vec![
                "HTTP/1.1 200 OK",
                "Transfer-Encoding: chunked",
                "Connection: close",
                "X-Top: top",
                "Server: my",
                "X-A: 1",
            ],
            "m\n",
        ),
    ]
}

fn check(bin: &str, port: u16) {
    let server = start(bin, port);
    for (raw, head, body) in cases() {
        let (h, b) = get(server.port, &raw);
        assert_eq!(h, head, "{bin}: {raw}");
        assert_eq!(b, body, "{bin}: {raw}");
    }
    // -s 404 applies to the error page only, -s 200 not at all (header names compared
    // case-insensitively: the case on the wire is hyper's).
    let (h, _) = get(server.port, &req("/m2"));
    let lower: Vec<String> = h.iter().map(|l| l.to_ascii_lowercase()).collect();
    assert!(lower.contains(&"x-nf: yes".to_owned()), "{bin}: {h:?}");
    assert!(!lower.iter().any(|l| l.starts_with("x-no")), "{bin}: {h:?}");
}

#[test]
fn oxresty_echo_and_headers_more() {
    check(OXRESTY, free_port());
}

#[test]
fn reference_echo_and_headers_more() {
    if !Path::new(REFERENCE).exists() || !MODULES.iter().all(|m| Path::new(m).exists()) {
        return;
    }
    check(REFERENCE, free_port() + 50);
}
