//! Static content, header filters, output filters and the access phase, black-box: oxresty
//! and the reference (/usr/sbin/nginx, when installed) serve the same configuration from
//! copies of one prefix on two free ports; a table of raw requests goes to both and the
//! status, selected headers and bodies must agree (and match the table's expectations, so
//! the oxresty half still checks something where the reference is absent).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

mod common;
use common::free_port;

const OXRESTY: &str = env!("CARGO_BIN_EXE_oxresty");
const REFERENCE: &str = "/usr/sbin/nginx";

/// A running server, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    prefix: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The htpasswd lines (made with `openssl passwd`): {PLAIN}, {SHA}, $apr1$, crypt MD5.
const HTPASSWD: &str = "# users\nalice:{PLAIN}wonder\nbob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\ncarol:$apr1$abcdefgh$FBwExRW4dCc8aL.OvjpIE1\ndan:$1$xyz$Qia9Wq6FxQkYcwNWMk/RM0\n";

const CONF: &str = r#"
worker_processes 1;
events { worker_connections 64; }
http {
    types { text/html html; text/plain txt; application/json json; image/png png; }
    default_type application/octet-stream;
    access_log off;
    server {
        listen 127.0.0.1:PORT;
        server_name localhost;
        location /h/ { alias html/; add_header X-A 1; add_header X-B 2 always; expires 1h; }
        location /inh/ {
            root html;
            add_header X-Outer 1;
            location /inh/in/ { add_header X-Inner 1; }
        }
        location /g/ { alias html/; gzip on; gzip_types text/plain; gzip_min_length 1; gzip_vary on; }
        location /c/ { alias html/; charset utf-8; }
        location /ai/ { alias html/dir/; autoindex on; }
        location /aj/ { alias html/dir/; autoindex on; autoindex_format json; }
        location /ax/ { alias html/dir/; autoindex on; autoindex_format xml; }
        location /gs/ { alias html/; gzip_static on; gzip_vary on; }
        location = /st { stub_status; }
        location /deny/ { alias html/; deny 127.0.0.1; allow all; }
        location /allow/ { alias html/; allow 127.0.0.0/8; deny all; }
        location /auth/ { alias html/; auth_basic "Sec"; auth_basic_user_file htpasswd; }
        location /any/ { alias html/; satisfy any; deny all; auth_basic "Sec"; auth_basic_user_file htpasswd; }
        location /sub/ { alias html/; sub_filter hello bye; sub_filter_types text/plain; }
        location /ims/ { alias html/; if_modified_since before; }
        location /mr/ { alias html/; max_ranges 0; }
        location /ex/ { alias html/; expires epoch; }
        location /exm/ { alias html/; expires max; }
        location /noetag/ { alias html/; etag off; }
        location /tf/ { try_files $uri $uri/ /h/a.txt; }
        location /tfc/ { try_files /nope =418; }
        location /tfn/ { try_files /nope @fallback; }
        location @fallback { return 200 "named $uri\n"; }
        location ~ ^/re/(.+)$ { alias html/$1; }
        location /int/ { internal; }
        location /idx/ { alias html/dir/; index none.html f.txt; }
        location /abs/ { alias html/; index /h/a.txt; }
    }
}
"#;

/// A prefix with the configuration for `port` and the files served (fixed mtimes).
fn make_prefix(tag: &str, port: u16) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "oxresty-static-{}-{tag}-{port}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    for d in ["logs", "conf", "html/dir/sub", "html/inh/in"] {
        std::fs::create_dir_all(dir.join(d)).expect("mkdir");
    }
    std::fs::write(
        dir.join("conf/nginx.conf"),
        CONF.replace("PORT", &port.to_string()),
    )
    .expect("conf");
    std::fs::write(dir.join("conf/htpasswd"), HTPASSWD).expect("htpasswd");
    let files: &[(&str, &[u8])] = &[
        ("html/a.txt", b"hello world\n"),
        ("html/r.txt", b"0123456789\n"),
        ("html/index.html", b"<p>hi</p>\n"),
        ("html/dir/f.txt", b"x"),
        ("html/dir/b&c.html", b"<b>"),
        ("html/inh/x.txt", b"outer\n"),
        ("html/inh/in/y.txt", b"inner\n"),
        // "hello world\n" gzipped.
        (
            "html/a.txt.gz",
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xcbH\xcd\xc9\xc9W(\xcf/\xcaI\xe1\x02\x00-;\x08\xaf\x0c\x00\x00\x00",
        ),
    ];
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_836_800); // 2020-01-01
    for (rel, content) in files {
        let p = dir.join(rel);
        std::fs::write(&p, content).expect("write");
        let f = std::fs::File::options().write(true).open(&p).expect("open");
        f.set_modified(mtime).expect("mtime");
    }
    for d in ["html/dir/sub", "html/dir"] {
        if let Ok(f) = std::fs::File::open(dir.join(d)) {
            let _ = f.set_modified(mtime);
        }
    }
    dir
}

/// Starts `bin` on a fresh prefix; waits (bounded) until it accepts connections.
fn start(bin: &str, tag: &str) -> Server {
    let port = free_port();
    let prefix = make_prefix(tag, port);
    let child = Command::new(bin)
        .arg("-p")
        .arg(format!("{}/", prefix.display()))
        .args([
            "-c",
            "conf/nginx.conf",
            "-e",
            "logs/error.log",
            "-g",
            "daemon off;",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn server");
    let server = Server {
        child,
        port,
        prefix,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{bin} did not start on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// One response: status, headers (lower-case names, in order) and the de-chunked body.
#[derive(Debug, Clone, PartialEq)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `req` (one request, `Connection: close` added) and reads until the server closes.
fn send(port: u16, req: &str) -> Resp {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let req = req.replacen("\r\n", "\r\nConnection: close\r\n", 1);
    s.write_all(req.as_bytes()).expect("send");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse(&raw, req.starts_with("HEAD "))
}

fn parse(raw: &[u8], head: bool) -> Resp {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let text = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v == "chunked");
    if chunked && !head {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(nl) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(&String::from_utf8_lossy(&rest[..nl]), 16)
                .expect("chunk size");
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[nl + 2..nl + 2 + size]);
            rest = &rest[nl + 2 + size + 2..];
        }
        body = out;
    }
    Resp {
        status,
        headers,
        body,
    }
}

/// One request of the table: what to send, the expected status, the headers whose values
/// must agree with the reference, and whether the bodies must agree.
struct Case {
    req: &'static str,
    status: u16,
    headers: &'static [&'static str],
    body: bool,
}

const H: &[&str] = &[
    "content-type",
    "content-length",
    "last-modified",
    "etag",
    "accept-ranges",
    "content-range",
    "cache-control",
    "content-encoding",
    "vary",
    "transfer-encoding",
    "www-authenticate",
    "x-a",
    "x-b",
    "x-outer",
    "x-inner",
];

fn cases() -> Vec<Case> {
    let c = |req, status, body| Case {
        req,
        status,
        headers: H,
        body,
    };
    vec![
        c("GET /h/a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 200, true),
        c("HEAD /h/a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 200, true),
        c("GET /h/nope HTTP/1.1\r\nHost: x\r\n\r\n", 404, true),
        c("POST /h/a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405, true),
        c("DELETE /h/a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 405, true),
        c("GET /h/dir HTTP/1.1\r\nHost: x\r\n\r\n", 301, true),
        c("GET /h/dir?a=1 HTTP/1.1\r\nHost: x\r\n\r\n", 301, true),
        c("GET /h/dir/ HTTP/1.1\r\nHost: x\r\n\r\n", 403, true),
        // add_header inheritance: a level with its own add_header drops the parent's.
        c("GET /inh/x.txt HTTP/1.1\r\nHost: x\r\n\r\n", 200, true),
        c("GET /inh/in/y.txt HTTP/1.1\r\nHost: x\r\n\r\n", 200, true),
        // Conditional requests.
        c(
            "GET /h/a.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Wed, 01 Jan 2020 00:00:00 GMT\r\n\r\n",
            304,
            true,
        ),
        c(
            "GET /h/a.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Wed, 01 Jan 2020 00:00:01 GMT\r\n\r\n",
            200,
            true,
        ),
        c(
            "GET /ims/a.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Wed, 01 Jan 2020 00:00:01 GMT\r\n\r\n",
            304,
            true,
        ),
        c(
            "GET /h/a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: W/\"5e0be100-c\", \"x\"\r\n\r\n",
            304,
            true,
        ),
        c("GET /h/a.txt HTTP/1.1\r\nHost: x\r\nIf-Match: \"x\"\r\n\r\n", 412, true),
        c(
            "GET /h/a.txt HTTP/1.1\r\nHost: x\r\nIf-Unmodified-Since: Tue, 31 Dec 2019 00:00:00 GMT\r\n\r\n",
            412,
            true,
        ),
        c("GET /noetag/a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 200, true),
        // Ranges.
        c("GET /h/r.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n", 206, true),
        c("GET /h/r.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=-3\r\n\r\n", 206, true),
        c("GET /h/r.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=5-100\r\n\r\n", 206, true),
        c("GET /h/r.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=50-\r\n\r\n", 416, true),
        c("GET /h/r.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1,0-20\r\n\r\n", 200, true),
        c(
            "GET /h/r.txt HTTP/1.1\r\nHost: x\r\nIf-Range: \"zz\"\r\nRange: bytes=0-1\r\n\r\n",
            200,
            true,
        ),
        c(
            "GET /h/r.txt HTTP/1.1\r\nHost: x\r\nIf-Range: Wed, 01 Jan 2020 00:00:00 GMT\r\nRange: bytes=0-1\r\n\r\n",
            206,
            true,
        ),
        c("GET /mr/r.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n", 200, true),
        c("HEAD /h/r.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n", 206, true),
        // Expires.
        c("GET /ex/a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 200, true),
        c("GET /exm/a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 200, true),
        // Charset.
        c("GET /c/a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 200, true),
        c("GET /c/nope HTTP/1.1\r\nHost: x\r\n\r\n", 404, true),
        // try_files, index, internal, regex alias.
        c("GET /tf/a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 200, true),
        c("GET /tf/zzz HTTP/1.1\r\nHost: x\r\n\r\n", 200, true),
        c("GET /tfc/x HTTP/1.1\r\nHost: x\r\n\r\n", 418, false),
        c("GET /tfn/x HTTP/1.1\r\nHost: x\r\n\r\n", 200, true),
        c("GET /re/a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 200, true),
        c("GET /int/x HTTP/1.1\r\nHost: x\r\n\r\n", 404, true),
        c("GET /idx/ HTTP/1.1\r\nHost: x\r\n\r\n", 200, true),
        c("GET /abs/ HTTP/1.1\r\nHost: x\r\n\r\n", 200, true),
        // autoindex.
        c("GET /ai/ HTTP/1.1\r\nHost: x\r\n\r\n", 200, true),
        c("GET /aj/ HTTP/1.1\r\nHost: x\r\n\r\n", 200, true),
        c("GET /ax/ HTTP/1.1\r\nHost: x\r\n\r\n", 200, true),
        // gzip (bodies differ in deflate bytes: compared after gunzip below).
        c(
            "GET /g/a.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, deflate\r\n\r\n",
            200,
            false,
        ),
        c(
            "GET /g/a.txt HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n",
            200,
            true,
        ),
        c(
            "GET /g/a.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip;q=0\r\n\r\n",
            200,
            true,
        ),
        c(
            "GET /gs/a.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",
            200,
            true,
        ),
        c("GET /gs/a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 200, true),
        // sub_filter.
        c("GET /sub/a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 200, true),
        // Access phase.
        c("GET /deny/a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 403, true),
        c("GET /allow/a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 200, true),
        c("GET /auth/a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 401, true),
        c(
            "GET /auth/a.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWxpY2U6d29uZGVy\r\n\r\n",
            200,
            true,
        ),
        c(
            "GET /auth/a.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWxpY2U6d29uZGVz\r\n\r\n",
            401,
            true,
        ),
        c(
            "GET /auth/a.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ZWRlOng=\r\n\r\n",
            401,
            true,
        ),
        c(
            "GET /auth/a.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Basic Ym9iOnNlY3JldA==\r\n\r\n",
            200,
            true,
        ),
        c(
            "GET /auth/a.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Basic Y2Fyb2w6cGFzc3dvcmQ=\r\n\r\n",
            200,
            true,
        ),
        c(
            "GET /auth/a.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ZGFuOnNlY3JldA==\r\n\r\n",
            200,
            true,
        ),
        c("GET /any/a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 401, true),
        c(
            "GET /any/a.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Basic Ym9iOnNlY3JldA==\r\n\r\n",
            200,
            true,
        ),
    ]
}

/// Removes what legitimately differs: the port in Location and the multipart boundary.
fn normalise(mut r: Resp, port: u16) -> Resp {
    let p = format!(":{port}");
    for (_, v) in r.headers.iter_mut() {
        *v = v.replace(&p, ":PORT");
        if let Some(i) = v.find("boundary=") {
            v.truncate(i + 9);
        }
    }
    let text = String::from_utf8_lossy(&r.body).into_owned();
    if text.contains("\r\n--0000") {
        let re: String = text
            .split("\r\n")
            .map(|l| if l.starts_with("--0000") { "--B" } else { l })
            .collect::<Vec<_>>()
            .join("\r\n");
        r.body = re.into_bytes();
    }
    r
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut c = Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip");
    c.stdin.take().expect("stdin").write_all(b).expect("write");
    let out = c.wait_with_output().expect("gzip output");
    assert!(out.status.success(), "not a valid gzip stream");
    out.stdout
}

fn error_log(prefix: &Path) -> String {
    std::fs::read_to_string(prefix.join("logs/error.log")).unwrap_or_default()
}

#[test]
fn static_headers_filters_access_match_reference() {
    let ox = start(OXRESTY, "ox");
    let reference = Path::new(REFERENCE)
        .exists()
        .then(|| start(REFERENCE, "ref"));
    let mut failures = Vec::new();
    for case in cases() {
        let got = normalise(send(ox.port, case.req), ox.port);
        if got.status != case.status {
            failures.push(format!(
                "{:?}: status {} (expected {})",
                case.req, got.status, case.status
            ));
        }
        let Some(reference) = &reference else {
            continue;
        };
        let want = normalise(send(reference.port, case.req), reference.port);
        if want.status != got.status {
            failures.push(format!(
                "{:?}: status {} vs reference {}",
                case.req, got.status, want.status
            ));
        }
        for h in case.headers {
            if want.header(h) != got.header(h) {
                failures.push(format!(
                    "{:?}: {h}: {:?} vs reference {:?}",
                    case.req,
                    got.header(h),
                    want.header(h)
                ));
            }
        }
        if case.body && want.body != got.body {
            failures.push(format!(
                "{:?}: body {:?} vs reference {:?}",
                case.req,
                String::from_utf8_lossy(&got.body),
                String::from_utf8_lossy(&want.body)
            ));
        }
        if !case.body && got.header("content-encoding") == Some("gzip") {
            assert_eq!(gunzip(&got.body), gunzip(&want.body), "{:?}", case.req);
        }
    }
    // Header order as nginx emits it (names only).
    if let Some(reference) = &reference {
        for req in [
            "GET /h/a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /g/a.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",
        ] {
            let names = |r: Resp| r.headers.into_iter().map(|(n, _)| n).collect::<Vec<_>>();
            let a = names(send(ox.port, req));
            let b = names(send(reference.port, req));
            if a != b {
                failures.push(format!("{req:?}: header order {a:?} vs reference {b:?}"));
            }
        }
    }
    // The error-log lines of the access phase and the static handler.
    let log = error_log(&ox.prefix);
    for line in [
        "access forbidden by rule, client: 127.0.0.1",
        "user \"alice\": password mismatch",
        "user \"ede\" was not found in \"",
        "/html/nope\" failed (2: No such file or directory)",
        "directory index of \"",
    ] {
        if !log.contains(line) {
            failures.push(format!("error.log lacks {line:?}"));
        }
    }
    // stub_status: its format, and counters that move.
    let st = send(ox.port, "GET /st HTTP/1.1\r\nHost: x\r\n\r\n");
    let text = String::from_utf8_lossy(&st.body).into_owned();
    let lines: Vec<&str> = text.split('\n').collect();
    if !(lines.len() == 5
        && lines[0].starts_with("Active connections: ")
        && lines[1] == "server accepts handled requests"
        && lines[3].starts_with("Reading: ")
        && lines[3].ends_with(" ")
        && lines[2].split(' ').filter(|s| !s.is_empty()).count() == 3)
    {
        failures.push(format!("stub_status page {text:?}"));
    }
    let _ = std::fs::remove_dir_all(&ox.prefix);
    if let Some(r) = &reference {
        let _ = std::fs::remove_dir_all(&r.prefix);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
