//! `fastcgi_pass` against a real PHP-FPM, black-box: the test starts php-fpm itself (its own
//! pool configuration in a temporary prefix, one pool on a TCP port and one on a unix socket,
//! `-F -n -y`), serves a few PHP scripts through oxresty and, when installed, through the
//! reference (/usr/sbin/nginx) on the same configuration, and compares status lines, headers,
//! bodies and error-log lines. Skipped with a note when php-fpm is not installed
//! (scripts/setup-debian.sh installs it).

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, Server, REFERENCE};

/// The part of Debian's /etc/nginx/fastcgi_params the test uses (copied into the prefix).
const FASTCGI_PARAMS: &str = "
fastcgi_param  QUERY_STRING       $query_string;
fastcgi_param  REQUEST_METHOD     $request_method;
fastcgi_param  CONTENT_TYPE       $content_type;
fastcgi_param  CONTENT_LENGTH     $content_length;

fastcgi_param  SCRIPT_NAME        $fastcgi_script_name;
fastcgi_param  REQUEST_URI        $request_uri;
fastcgi_param  DOCUMENT_URI       $document_uri;
fastcgi_param  DOCUMENT_ROOT      $document_root;
fastcgi_param  SERVER_PROTOCOL    $server_protocol;
fastcgi_param  REQUEST_SCHEME     $scheme;
fastcgi_param  HTTPS              $https if_not_empty;

fastcgi_param  GATEWAY_INTERFACE  CGI/1.1;
fastcgi_param  SERVER_SOFTWARE    nginx/$nginx_version;

fastcgi_param  REMOTE_ADDR        $remote_addr;
fastcgi_param  SERVER_ADDR        $server_addr;
fastcgi_param  SERVER_NAME        $server_name;

fastcgi_param  REDIRECT_STATUS    200;
";

const ENV_PHP: &str = r#"<?php
foreach (['SCRIPT_NAME', 'SCRIPT_FILENAME', 'PATH_INFO', 'REQUEST_METHOD', 'QUERY_STRING',
          'CONTENT_TYPE', 'CONTENT_LENGTH', 'REQUEST_URI', 'DOCUMENT_URI', 'SERVER_PROTOCOL',
          'GATEWAY_INTERFACE', 'SERVER_SOFTWARE', 'HTTP_HOST', 'HTTP_X_CUSTOM',
          'HTTP_USER_AGENT', 'HTTPS', 'POOL'] as $k) {
    echo $k, '=', $_SERVER[$k] ?? '(unset)', "\n";
}
"#;

const POST_PHP: &str = r#"<?php
$raw = file_get_contents('php://input');
echo "len=", strlen($raw), " md5=", md5($raw), "\n";
echo "form=", json_encode($_POST), "\n";
"#;

const HEADERS_PHP: &str = r#"<?php
header('X-Powered-By: test');
header('X-One: 1');
header('Set-Cookie: a=1; path=/', false);
header('Set-Cookie: b=2', false);
header('Content-Type: application/json');
http_response_code(201);
echo json_encode(['ok' => true]), "\n";
"#;

const CODE_PHP: &str = r#"<?php
http_response_code((int)($_GET['c'] ?? 200));
echo "code body\n";
"#;

const REDIRECT_PHP: &str = r#"<?php
header('Location: ' . ($_GET['to'] ?? '/landing'));
"#;

const STDERR_PHP: &str = r#"<?php
error_log("something went wrong...");
echo "after stderr\n";
"#;

const BIG_PHP: &str = r#"<?php
for ($i = 0; $i < 2000; $i++) { echo str_repeat(chr(97 + $i % 26), 99), "\n"; flush(); }
"#;

/// A php-fpm master on its own prefix; killed when dropped.
struct Fpm {
    child: Child,
    dir: PathBuf,
}

impl Drop for Fpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn php_fpm_binary() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/sbin")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("php-fpm"))
        })
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Starts php-fpm with a TCP pool and a unix-socket pool serving `dir/www`.
fn start_fpm(bin: &Path, dir: &Path, port: u16) -> Fpm {
    let sock = dir.join("fpm.sock");
    let conf = format!(
        "[global]\nerror_log = {d}/fpm.log\npid = {d}/fpm.pid\n\
         [tcp]\nlisten = 127.0.0.1:{port}\npm = static\npm.max_children = 6\n\
         clear_env = yes\nenv[POOL] = tcp\n\
         [unix]\nlisten = {sock}\nlisten.mode = 0666\npm = static\npm.max_children = 1\n\
         clear_env = yes\nenv[POOL] = unix\n",
        d = dir.display(),
        sock = sock.display()
    );
    std::fs::write(dir.join("fpm.conf"), conf).unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("-F").arg("-n").arg("-y").arg(dir.join("fpm.conf"));
    if is_root() {
        cmd.arg("-R");
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut fpm = Fpm {
        child,
        dir: dir.to_path_buf(),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() || !sock.exists() {
        let exited = fpm.child.try_wait().ok().flatten().is_some();
        if exited || Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("fpm.log"));
            panic!("php-fpm did not start: {log:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    fpm
}

fn conf(www: &Path, fpm_port: u16, sock: &Path) -> String {
    format!(
        r#"
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log;
events {{}}
http {{
    access_log logs/access.log;
    upstream php {{ server 127.0.0.1:{fpm_port}; keepalive 2; }}
    server {{
        listen 127.0.0.1:{{PORT}};
        server_name localhost;
        root {www};
        location ~ [^/]\.php(/|$) {{
            fastcgi_split_path_info ^(.+?\.php)(/.*)$;
            include fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
            fastcgi_param PATH_INFO $fastcgi_path_info;
            fastcgi_pass 127.0.0.1:{fpm_port};
        }}
        location /unix/ {{
            include fastcgi_params;
            fastcgi_param SCRIPT_FILENAME {www}/env.php;
            fastcgi_pass unix:{sock};
        }}
        location /kept/ {{
            include fastcgi_params;
            fastcgi_param SCRIPT_FILENAME {www}/env.php;
            fastcgi_keep_conn on;
            fastcgi_pass php;
        }}
        location /dir/ {{
            include fastcgi_params;
            fastcgi_index env.php;
            fastcgi_param SCRIPT_FILENAME {www}$fastcgi_script_name;
            fastcgi_pass 127.0.0.1:{fpm_port};
        }}
        location /intercepted/ {{
            include fastcgi_params;
            fastcgi_param SCRIPT_FILENAME {www}/code.php;
            fastcgi_intercept_errors on;
            error_page 404 = /nf;
            fastcgi_pass 127.0.0.1:{fpm_port};
        }}
        location = /nf {{ return 200 "intercepted 404\n"; }}
        location /hidden/ {{
            include fastcgi_params;
            fastcgi_param SCRIPT_FILENAME {www}/headers.php;
            fastcgi_hide_header X-One;
            fastcgi_pass 127.0.0.1:{fpm_port};
        }}
    }}
}}
"#,
        www = www.display(),
        sock = sock.display()
    )
}

/// Sends `raw` and reads the whole answer (the requests say `Connection: close`).
fn exchange(port: u16, raw: &[u8]) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// The status line, the headers but `Date` in order, and the body (chunked decoded).
fn parse(raw: &[u8]) -> (String, Vec<String>, Vec<u8>) {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw.get(split + 4..).unwrap_or_default().to_vec();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default().to_string();
    let headers: Vec<String> = lines
        .filter(|l| !l.starts_with("Date:"))
        .map(str::to_string)
        .collect();
    if headers
        .iter()
        .any(|h| h.eq_ignore_ascii_case("transfer-encoding: chunked"))
    {
        let mut out = Vec::new();
        let mut rest = body.as_slice();
        while let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
            let n =
                usize::from_str_radix(String::from_utf8_lossy(&rest[..i]).trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            let start = i + 2;
            out.extend_from_slice(&rest[start..(start + n).min(rest.len())]);
            rest = rest.get(start + n + 2..).unwrap_or_default();
        }
        body = out;
    }
    (status, headers, body)
}

/// Error-log lines without the time, pid and connection number.
fn log_lines(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("logs/error.log")).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains("[error]") || l.contains("[warn]"))
        .map(|l| match l.find("*") {
            Some(i) => {
                let rest = &l[i..];
                rest.split_once(' ')
                    .map_or(rest.to_string(), |(_, m)| m.to_string())
            }
            None => l.to_string(),
        })
        .collect()
}

fn get(path: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra}\r\n")
        .into_bytes()
}

#[test]
fn php_fpm_through_fastcgi_pass() {
    let Some(fpm_bin) = php_fpm_binary() else {
        eprintln!("fastcgi_php: skipped: no /usr/sbin/php-fpm* (scripts/setup-debian.sh installs php-fpm)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("oxresty-fpm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let www = dir.join("www");
    std::fs::create_dir_all(www.join("dir")).unwrap();
    for (name, text) in [
        ("env.php", ENV_PHP),
        ("dir/env.php", ENV_PHP),
        ("post.php", POST_PHP),
        ("headers.php", HEADERS_PHP),
        ("code.php", CODE_PHP),
        ("redirect.php", REDIRECT_PHP),
        ("stderr.php", STDERR_PHP),
        ("big.php", BIG_PHP),
    ] {
        std::fs::write(www.join(name), text).unwrap();
    }
    let fpm_port = free_port();
    let _fpm = start_fpm(&fpm_bin, &dir, fpm_port);
    let conf = conf(&www, fpm_port, &dir.join("fpm.sock"));
    let files = [("conf/fastcgi_params", FASTCGI_PARAMS)];
    let ox = Server::start(env!("CARGO_BIN_EXE_oxresty"), &conf, &files);
    let reference = Path::new(REFERENCE)
        .exists()
        .then(|| Server::start(REFERENCE, &conf, &files));
    if reference.is_none() {
        eprintln!("fastcgi_php: no reference at {REFERENCE}: oxresty's answers checked alone");
    }

    let post_body = "name=ox&list%5B%5D=1&list%5B%5D=2";
    let big_body = "z".repeat(100_000);
    let requests: Vec<(Vec<u8>, &str)> = vec![
        (
            get("/env.php/extra/info?a=1&b=2", "X-Custom: yes\r\nUser-Agent: t/1\r\n"),
            "SCRIPT_NAME=/env.php\nSCRIPT_FILENAME=",
        ),
        (
            format!(
                "POST /post.php HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{post_body}",
                post_body.len()
            )
            .into_bytes(),
            "form={\"name\":\"ox\",\"list\":[\"1\",\"2\"]}",
        ),
        (
            format!(
                "PUT /post.php HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{big_body}",
                big_body.len()
            )
            .into_bytes(),
            "len=100000 md5=",
        ),
        (
            b"POST /post.php HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n".to_vec(),
            "len=11 md5=5eb63bbbe01eeed093cb22bb8f5acdc3",
        ),
        (get("/headers.php", ""), "{\"ok\":true}"),
        (get("/code.php?c=404", ""), "code body"),
        (get("/code.php?c=503", ""), "code body"),
        (get("/redirect.php", ""), ""),
        (get("/redirect.php?to=http://example.com/x", ""), ""),
        (get("/stderr.php", ""), "after stderr"),
        (get("/missing.php", ""), "File not found."),
        (get("/big.php", ""), "aaaa"),
        (get("/unix/x?q=1", ""), "POOL=unix"),
        (get("/kept/a", ""), "POOL=tcp"),
        (get("/kept/b", ""), "POOL=tcp"),
        (get("/dir/", ""), "SCRIPT_NAME=/dir/env.php"),
        (get("/intercepted/x?c=404", ""), "intercepted 404"),
        (get("/hidden/", ""), "{\"ok\":true}"),
        (
            b"HEAD /env.php HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".to_vec(),
            "",
        ),
    ];
    for (raw, want) in &requests {
        let (status, headers, body) = parse(&exchange(ox.port, raw));
        let line = String::from_utf8_lossy(raw.split(|&c| c == b'\r').next().unwrap_or_default())
            .into_owned();
        assert!(
            String::from_utf8_lossy(&body).contains(want),
            "{line}: oxresty answered {status} {headers:?} {:?}",
            String::from_utf8_lossy(&body)
        );
        if let Some(reference) = &reference {
            let (rs, rh, rb) = parse(&exchange(reference.port, raw));
            assert_eq!(
                (&status, &headers),
                (&rs, &rh),
                "{line}: head differs from the reference"
            );
            assert_eq!(
                String::from_utf8_lossy(&body),
                String::from_utf8_lossy(&rb),
                "{line}: body differs from the reference"
            );
        }
    }
    // Answers oxresty must give whatever the reference says.
    let (status, headers, _) = parse(&exchange(ox.port, &get("/code.php?c=404", "")));
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    assert!(headers
        .iter()
        .any(|h| h == "Content-Type: text/html; charset=UTF-8"));
    let (status, headers, _) = parse(&exchange(ox.port, &get("/redirect.php", "")));
    assert_eq!(status, "HTTP/1.1 302 Found");
    assert!(
        headers.iter().any(|h| h == "Location: /landing"),
        "{headers:?}"
    );
    let (status, headers, _) = parse(&exchange(ox.port, &get("/headers.php", "")));
    assert_eq!(status, "HTTP/1.1 201 Created");
    assert!(
        headers.iter().any(|h| h == "Set-Cookie: b=2"),
        "{headers:?}"
    );
    let (_, headers, _) = parse(&exchange(ox.port, &get("/hidden/", "")));
    assert!(
        !headers.iter().any(|h| h.starts_with("X-One")),
        "{headers:?}"
    );

    // fastcgi_keep_conn + keepalive: oxresty's connection to php-fpm stays open for reuse.
    if let Ok(out) = Command::new("ss")
        .args(["-Htnp", "state", "established"])
        .arg(format!("( dport = :{fpm_port} )"))
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.lines().any(|l| l.contains("oxresty")),
            "no kept connection from oxresty to php-fpm: {text}"
        );
    }

    // The error logs: PHP's stderr as nginx logs it, and nothing else differing.
    std::thread::sleep(Duration::from_millis(300));
    let ox_log = log_lines(&ox.dir);
    assert!(
        ox_log.iter().any(|l| l.starts_with("FastCGI sent in stderr: \"PHP message: something went wrong\" while reading response header from upstream, client: 127.0.0.1, server: localhost, request: \"GET /stderr.php HTTP/1.1\", upstream: \"fastcgi://127.0.0.1:")),
        "{ox_log:?}"
    );
    assert!(
        ox_log
            .iter()
            .any(|l| l.starts_with("FastCGI sent in stderr: \"Primary script unknown\"")),
        "{ox_log:?}"
    );
    if let Some(reference) = &reference {
        assert_eq!(ox_log, log_lines(&reference.dir));
    }
}
