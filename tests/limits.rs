//! limit_req and limit_conn at run time, black-box.
//!
//! Each scenario runs oxresty on a configuration, sends its requests and checks the statuses,
//! bodies, the access log and the modules' error-log lines; when the reference
//! (/usr/sbin/nginx) is installed, it serves the same configuration and must give the same
//! answers and lines (the excess figures, which depend on timing, compared without digits).

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
const LUA: &str = "/usr/lib/nginx/modules/ngx_http_lua_module.so";

/// A running server on its own prefix; killed when dropped.
struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts `bin` on a fresh prefix (html/l/f.txt is "limited\n"); `{PORT}` in `http` is the
/// port; `main` goes before the events block.
fn start(bin: &str, name: &str, main: &str, http: &str) -> Server {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "oxresty-limits-{}-{name}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["logs", "conf", "html/l"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(dir.join("html/l/f.txt"), "limited\n").unwrap();
    let port = free_port();
    let text = format!(
        "{main}\nworker_processes 1;\npid logs/nginx.pid;\nerror_log logs/error.log notice;\nevents {{}}\nhttp {{\n    log_format x '$uri $status $limit_req_status $limit_conn_status';\n    access_log logs/x.log x;\n{}\n}}\n",
        http.replace("{PORT}", &port.to_string())
    );
    std::fs::write(dir.join("conf/nginx.conf"), text).unwrap();
    let mut p = dir.clone().into_os_string();
    p.push("/");
    let child = Command::new(bin)
        .arg("-p")
        .arg(&p)
        .args(["-c", "conf/nginx.conf", "-e", "logs/error.log"])
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server { child, port, dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        let exited = server.child.try_wait().ok().flatten().is_some();
        if exited || Instant::now() > deadline {
            let log = std::fs::read_to_string(server.dir.join("logs/error.log"));
            panic!("{bin} did not start on {port}: {log:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// Status, body and how long the answer took.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: String,
    took: Duration,
}

fn get(port: u16, uri: &str) -> Answer {
    let t = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // HTTP/1.0: bodies unchunked (hyper writes chunk sizes in upper case, nginx in lower).
    let req = format!("GET {uri} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Answer {
        status,
        body: body.to_string(),
        took: t.elapsed(),
    }
}

/// The limit modules' error-log lines, from the level on, digits of figures and the port
/// taken out.
fn limit_lines(dir: &Path, port: u16) -> Vec<String> {
    let log = std::fs::read_to_string(dir.join("logs/error.log")).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("limiting ") || l.contains("delaying "))
        .map(|l| {
            let l = l.split_once(" [").map_or(l, |(_, rest)| rest);
            let (level, rest) = l.split_once("] ").unwrap_or(("", l));
            let rest = rest.split_once(": *").map_or(rest, |(_, r)| r);
            let rest = rest.split_once(' ').map_or(rest, |(_, r)| r);
            let rest = rest.replace(&port.to_string(), "PORT");
            let masked: String = rest
                .chars()
                .map(|c| if c.is_ascii_digit() { '9' } else { c })
                .collect();
            format!("[{level}] {masked}")
        })
        .collect()
}

fn access_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("logs/x.log")).unwrap_or_default()
}

/// What a scenario gave: answers (status and body), access log, limit lines.
type Outcome = (Vec<(u16, String)>, String, Vec<String>);

/// Runs `scenario` against a server of `bin`, then waits for the logs.
fn run(
    bin: &str,
    name: &str,
    main: &str,
    http: &str,
    scenario: fn(u16) -> Vec<Answer>,
) -> (Outcome, Vec<Answer>) {
    let s = start(bin, name, main, http);
    let answers = scenario(s.port);
    std::thread::sleep(Duration::from_millis(300));
    let out = (
        answers.iter().map(|a| (a.status, a.body.clone())).collect(),
        access_log(&s.dir),
        limit_lines(&s.dir, s.port),
    );
    (out, answers)
}

/// Runs on oxresty, checks with `expect`, and compares with the reference when installed.
fn check(
    name: &str,
    main: &str,
    http: &str,
    scenario: fn(u16) -> Vec<Answer>,
    expect: fn(&Outcome, &[Answer]),
) {
    let (ox, answers) = run(OXRESTY, name, main, http, scenario);
    expect(&ox, &answers);
    if Path::new(REFERENCE).exists() && (main.is_empty() || Path::new(LUA).exists()) {
        let (rf, answers) = run(REFERENCE, name, main, http, scenario);
        expect(&rf, &answers);
        assert_eq!(ox, rf, "oxresty vs reference");
    }
}

const REQ_CONF: &str = r#"
    limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
    limit_req_zone $binary_remote_addr zone=fast:1m rate=2r/s;
    limit_req_zone $uri zone=two:64k rate=10r/m;
    server {
        listen 127.0.0.1:{PORT};
        server_name localhost;
        location /l/ { limit_req zone=one; }
        location /n/ { alias html/l/; limit_req zone=one burst=2 nodelay; }
        location /s/ { alias html/l/; limit_req zone=one; limit_req_status 429; error_page 429 = @e; }
        location /dry/ { alias html/l/; limit_req zone=one; limit_req_dry_run on; limit_req_log_level warn; }
        location /m/ { alias html/l/; limit_req zone=fast burst=5 nodelay; limit_req zone=two burst=1 nodelay; }
        location /r/ { limit_req zone=one; return 200 "rewrite phase first\n"; }
        location @e { return 200 "err $status $limit_req_status\n"; }
    }
"#;

#[test]
fn limit_req_rejects_and_logs() {
    check(
        "req",
        "",
        REQ_CONF,
        |port| {
            let mut a = Vec::new();
            for uri in ["/l/f.txt", "/l/f.txt"] {
                a.push(get(port, uri));
            }
            for _ in 0..4 {
                a.push(get(port, "/n/f.txt"));
            }
            for _ in 0..2 {
                a.push(get(port, "/dry/f.txt"));
            }
            a.push(get(port, "/s/f.txt"));
            a.push(get(port, "/r/x"));
            for _ in 0..3 {
                a.push(get(port, "/m/f.txt"));
            }
            a
        },
        |(answers, access, lines), _| {
            let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
            assert_eq!(
                statuses,
                [200, 503, 200, 200, 503, 503, 200, 200, 200, 200, 200, 200, 503]
            );
            assert_eq!(answers[8].1, "err 200 REJECTED\n");
            assert_eq!(answers[9].1, "rewrite phase first\n");
            assert!(
                access.starts_with("/l/f.txt 200 PASSED -\n/l/f.txt 503 REJECTED -\n"),
                "{access}"
            );
            assert!(
                access.contains("/dry/f.txt 200 REJECTED_DRY_RUN -\n"),
                "{access}"
            );
            assert!(access.contains("/m/f.txt 503 REJECTED -\n"), "{access}");
            let first = "[error] limiting requests, excess: 9.999 by zone \"one\", client: 999.9.9.9, server: localhost, request: \"GET /l/f.txt HTTP/9.9\", host: \"localhost\"";
            assert_eq!(lines.first().map(String::as_str), Some(first));
            assert!(
                lines.iter().any(|l| l.starts_with(
                    "[warn] limiting requests, dry run, excess: 9.999 by zone \"one\""
                )),
                "{lines:?}"
            );
            assert!(
                lines.iter().any(|l| l.contains("by zone \"two\"")),
                "{lines:?}"
            );
        },
    );
}

#[test]
fn limit_req_delays_within_burst() {
    check(
        "delay",
        "",
        r#"
    limit_req_zone $binary_remote_addr zone=one:1m rate=2r/s;
    server {
        listen 127.0.0.1:{PORT};
        server_name localhost;
        location /d/ { alias html/l/; limit_req zone=one burst=3 delay=1; }
    }
"#,
        |port| (0..4).map(|_| get(port, "/d/f.txt")).collect(),
        |(answers, access, lines), timed| {
            assert!(answers.iter().all(|a| a == &(200, "limited\n".to_string())));
            // The first two pass at once (the second within delay=1), the others wait ~0.5 s.
            assert!(timed[0].took < Duration::from_millis(300), "{timed:?}");
            assert!(timed[1].took < Duration::from_millis(300), "{timed:?}");
            assert!(timed[2].took > Duration::from_millis(350), "{timed:?}");
            assert!(access.contains("/d/f.txt 200 DELAYED -\n"), "{access}");
            assert_eq!(lines.len(), 2, "{lines:?}");
            assert!(
                lines[0].starts_with(
                    "[warn] delaying request, excess: 9.999, by zone \"one\", client: "
                ),
                "{lines:?}"
            );
        },
    );
}

#[test]
fn limit_conn_counts_concurrent_requests() {
    let main =
        format!("load_module /usr/lib/nginx/modules/ndk_http_module.so;\nload_module {LUA};");
    let main: &'static str = Box::leak(main.into_boxed_str());
    check(
        "conn",
        main,
        r#"
    limit_conn_zone $binary_remote_addr zone=c:1m;
    server {
        listen 127.0.0.1:{PORT};
        server_name localhost;
        location /c/ { limit_conn c 1; limit_conn_log_level notice; limit_conn_status 429;
                       content_by_lua_block { ngx.sleep(0.5) ngx.say("c ", ngx.var.limit_conn_status) } }
        location /cd/ { limit_conn c 1; limit_conn_dry_run on;
                        content_by_lua_block { ngx.sleep(0.5) ngx.say("cd ", ngx.var.limit_conn_status) } }
    }
"#,
        |port| {
            let mut a = Vec::new();
            for uri in ["/c/x", "/cd/x"] {
                let slow = std::thread::spawn(move || get(port, uri));
                std::thread::sleep(Duration::from_millis(150));
                a.push(get(port, uri));
                a.push(slow.join().unwrap());
                // Once the first is done the key is free again.
                a.push(get(port, uri));
            }
            a
        },
        |(answers, _access, lines), _| {
            let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
            assert_eq!(statuses, [429, 200, 200, 200, 200, 200]);
            assert_eq!(answers[1].1, "c PASSED\n");
            assert_eq!(answers[3].1, "cd REJECTED_DRY_RUN\n");
            assert_eq!(lines.len(), 2, "{lines:?}");
            assert!(
                lines[0].starts_with("[notice] limiting connections by zone \"c\", client: "),
                "{lines:?}"
            );
            assert!(
                lines[1]
                    .starts_with("[error] limiting connections, dry run, by zone \"c\", client: "),
                "{lines:?}"
            );
        },
    );
}
