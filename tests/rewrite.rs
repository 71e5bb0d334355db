//! The rewrite module, variables, map, geo and split_clients at run time, black-box.
//!
//! Each table runs oxresty on a configuration and checks every request's status, `Location`
//! and body against the expected values; when the reference (/usr/sbin/nginx) is installed,
//! it serves the same configuration and must give the same answers.

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

/// Starts `bin` on a fresh prefix with `files`; `{PORT}` in the configuration is the port.
fn start(bin: &str, name: &str, conf: &str, files: &[(&str, &str)]) -> Server {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "oxresty-rewrite-{}-{name}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["logs", "conf", "html"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for (rel, content) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    let port = free_port();
    let text = format!(
        "worker_processes 1;\npid logs/nginx.pid;\nerror_log logs/error.log notice;\nevents {{}}\nhttp {{\n    access_log off;\n{}\n}}\n",
        conf.replace("{PORT}", &port.to_string())
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
    let server = Server { child, port, dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut server = server;
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

/// What a request got: status, `Location` (the port shown as `PORT`) and body.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
}

/// Sends `raw` and reads the response until the server closes (requests say
/// `Connection: close`).
fn send(port: u16, raw: &str) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let location = head
        .lines()
        .find_map(|l| l.strip_prefix("Location: "))
        .map(|l| l.replace(&port.to_string(), "PORT"));
    Answer {
        status,
        location,
        body: body.to_string(),
    }
}

fn get(uri: &str, headers: &str) -> String {
    format!("GET {uri} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n")
}

/// One row: request, expected status, `Location`, body (`None`: not checked here, but still
/// compared with the reference).
type Row<'a> = (String, u16, Option<&'a str>, Option<&'a str>);

/// Runs the table on oxresty and, when installed, on the reference.
fn check(name: &str, conf: &str, files: &[(&str, &str)], rows: &[Row<'_>]) -> (String, String) {
    let ox = start(OXRESTY, name, conf, files);
    let got: Vec<Answer> = rows.iter().map(|r| send(ox.port, &r.0)).collect();
    for (row, a) in rows.iter().zip(&got) {
        assert_eq!(a.status, row.1, "oxresty status for {:?}: {a:?}", row.0);
        assert_eq!(
            a.location.as_deref(),
            row.2,
            "oxresty Location for {:?}",
            row.0
        );
        if let Some(b) = row.3 {
            assert_eq!(a.body, b, "oxresty body for {:?}", row.0);
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    let ox_log = std::fs::read_to_string(ox.dir.join("logs/error.log")).unwrap_or_default();
    let mut ref_log = String::new();
    if Path::new(REFERENCE).exists() {
        let rf = start(REFERENCE, name, conf, files);
        for (row, a) in rows.iter().zip(&got) {
            let r = send(rf.port, &row.0);
            assert_eq!(&r, a, "reference and oxresty differ for {:?}", row.0);
        }
        std::thread::sleep(Duration::from_millis(100));
        ref_log = std::fs::read_to_string(rf.dir.join("logs/error.log")).unwrap_or_default();
    }
    (ox_log, ref_log)
}

/// Both logs (the reference's when it ran) have a line containing `text`.
fn logged(logs: &(String, String), text: &str) {
    assert!(
        logs.0.contains(text),
        "oxresty log lacks {text:?}:\n{}",
        logs.0
    );
    if Path::new(REFERENCE).exists() {
        assert!(
            logs.1.contains(text),
            "reference log lacks {text:?}:\n{}",
            logs.1
        );
    }
}

#[test]
fn return_and_rewrite() {
    let conf = r#"
    server {
        listen 127.0.0.1:{PORT};
        server_name localhost;
        rewrite ^/srv/(.*)$ /dst/$1 last;
        if ($http_x_block) { return 403; }
        location = /code { return 204; }
        location = /text { return 418 "teapot $request_method\n"; }
        location = /url { return http://example.com/only; }
        location = /rel { return 301 /new; }
        location = /r307 { return 307 /x; }
        location = /r308 { return 308 /y; }
        location = /r301bare { return 301; }
        location = /r200bare { return 200; }
        location = /r404 { return 404; }
        location = /r444 { return 444; }
        location /old/ { rewrite ^/old/(.*)$ /new/$1 last; return 200 "not reached\n"; }
        location /new/ { return 200 "new: $uri [$args]\n"; }
        location /brk/ { rewrite ^/brk/(.*)$ /real/$1 break; }
        location /rd/ { rewrite ^/rd/(.*)$ /target/$1 redirect; }
        location /pm/ { rewrite ^/pm/(.*)$ /target/$1 permanent; }
        location /ext/ { rewrite ^ http://other.test/dest; }
        location /extq/ { rewrite ^/extq/(.*)$ http://other.test/d?x=$1; }
        location /add/ { rewrite ^/add/(.*)$ /new/$1?n=1 last; }
        location /drop/ { rewrite ^/drop/(.*)$ /new/$1? last; }
        location /dst/ { return 200 "dst $uri\n"; }
        location /chain/ {
            rewrite ^/chain/(\d)(.*)$ /chain/$2 last;
            return 200 "end $uri\n";
        }
        location /cont/ {
            rewrite ^/cont/(.*)$ /mid/$1;
            rewrite ^/mid/(.*)$ /new/$1;
            return 200 "cont $uri\n";
        }
        location /nolast/ { rewrite ^/nolast/(.*)$ /new/$1; }
        location /named/ {
            rewrite "^/named/(?<user>\w+)/(\d+)$" /new/$user-$2 last;
        }
        location ~ ^/cap/(.*)$ {
            set $c $1;
            rewrite ^ /other;
            return 200 "captured $c uri $uri\n";
        }
        location /q/ { rewrite ^/q/(.*)$ /new/?v=$1 last; }
        location /empty/ { rewrite ^ $arg_none last; }
    }
    "#;
    let files = [("html/real/f.txt", "real file\n")];
    let h = |u: &str| get(u, "");
    let rows: Vec<Row> = vec![
        (h("/code"), 204, None, Some("")),
        (h("/text"), 418, None, Some("teapot GET\n")),
        (h("/url"), 302, Some("http://example.com/only"), None),
        (h("/rel"), 301, Some("http://localhost:PORT/new"), None),
        (h("/r307"), 307, Some("http://localhost:PORT/x"), None),
        (h("/r308"), 308, Some("http://localhost:PORT/y"), None),
        (h("/r301bare"), 301, Some(""), None),
        (h("/r200bare"), 200, None, Some("")),
        (h("/r404"), 404, None, None),
        (h("/r444"), 0, None, Some("")),
        (
            h("/old/page?a=1"),
            200,
            None,
            Some("new: /new/page [a=1]\n"),
        ),
        (h("/brk/f.txt"), 200, None, Some("real file\n")),
        (h("/brk/none"), 404, None, None),
        (
            h("/rd/abc?q=1"),
            302,
            Some("http://localhost:PORT/target/abc?q=1"),
            None,
        ),
        (
            h("/pm/abc"),
            301,
            Some("http://localhost:PORT/target/abc"),
            None,
        ),
        (
            h("/ext/abc?z=9"),
            302,
            Some("http://other.test/dest?z=9"),
            None,
        ),
        (
            h("/extq/a%20b?z=9"),
            302,
            Some("http://other.test/d?x=a%20b&z=9"),
            None,
        ),
        (
            h("/extq/a+b?z=9"),
            302,
            Some("http://other.test/d?x=a%2Bb&z=9"),
            None,
        ),
        (
            h("/add/abc?old=2"),
            200,
            None,
            Some("new: /new/abc [n=1&old=2]\n"),
        ),
        (h("/drop/abc?old=2"), 200, None, Some("new: /new/abc []\n")),
        (h("/srv/zz"), 200, None, Some("dst /dst/zz\n")),
        (
            get("/srv/zz", "X-Block: 1\r\n"),
            200,
            None,
            Some("dst /dst/zz\n"),
        ),
        (get("/zz", "X-Block: 1\r\n"), 403, None, None),
        (h("/chain/123456789"), 200, None, Some("end /chain/\n")),
        (h("/chain/1234567890"), 200, None, Some("end /chain/\n")),
        (h("/chain/12345678901"), 500, None, None),
        (h("/cont/x"), 200, None, Some("cont /new/x\n")),
        (h("/nolast/y"), 200, None, Some("new: /new/y []\n")),
        (h("/named/bob/42"), 200, None, Some("new: /new/bob-42 []\n")),
        (h("/cap/zz"), 200, None, Some("captured zz uri /other\n")),
        (h("/q/a%26b"), 200, None, Some("new: /new/ [v=a%26b]\n")),
        (h("/q/plain"), 200, None, Some("new: /new/ [v=plain]\n")),
        (h("/empty/x"), 500, None, None),
    ];
    let logs = check("rw", conf, &files, &rows);
    logged(
        &logs,
        "rewrite or internal redirection cycle while processing \"/chain/\"",
    );
    logged(&logs, "the rewritten URI has a zero length");
}

#[test]
fn if_conditions() {
    let conf = r#"
    server {
        listen 127.0.0.1:{PORT};
        server_name localhost;
        location = /var {
            set $e "";
            set $z "0";
            set $one "1";
            set $r "";
            if ($e) { set $r "${r}e"; }
            if ($z) { set $r "${r}z"; }
            if ($one) { set $r "${r}one"; }
            return 200 "[$r]\n";
        }
        location = /eq {
            set $r "";
            if ($arg_a = "x") { set $r "${r}eq"; }
            if ($arg_a != "y") { set $r "${r}ne"; }
            if ( $arg_a = x ) { set $r "${r}sp"; }
            return 200 "$r\n";
        }
        location = /re {
            if ($arg_v ~ ^(\d+)-(\d+)$) {
                return 200 "from $1 to $2\n";
            }
            return 200 "no match [$1]\n";
        }
        location = /ops {
            set $r "";
            if ($http_x_a ~* ^abc$) { set $r "${r}ci"; }
            if ($http_x_a !~ ^abc$) { set $r "${r}nomatch"; }
            if ($http_x_a !~* ^zzz$) { set $r "${r}notzzz"; }
            if ($http_x_a ~ "^(?<word>[A-Z]+)$") { set $r "${r}-$word"; }
            return 200 "$r\n";
        }
        location /chk/ {
            set $r "";
            if (-f $request_filename) { set $r "${r}f"; }
            if (!-f $request_filename) { set $r "${r}!f"; }
            if (-d $request_filename) { set $r "${r}d"; }
            if (-e $request_filename) { set $r "${r}e"; }
            if (!-e $request_filename) { set $r "${r}!e"; }
            if (-x $request_filename) { set $r "${r}x"; }
            if (!-x $request_filename) { set $r "${r}!x"; }
            if (!-d $request_filename) { set $r "${r}!d"; }
            return 200 "[$r]\n";
        }
        location = /ifconf {
            if ($arg_h) { add_header X-If yes; }
            return 200 "ok\n";
        }
        location = /ifreturn {
            if ($request_method = POST) { return 405; }
            return 200 "ok\n";
        }
        location = /brk {
            set $v "before";
            break;
            set $v "after";
            return 200 "$v\n";
        }
        location /ifroot/ {
            if ($arg_alt) { root html/alt; }
        }
        location = /order {
            set $a 1;
            if ($a) { set $a "${a}2"; }
            set $a "${a}3";
            if ($a = 123) { return 200 "order $a\n"; }
            return 200 "wrong $a\n";
        }
    }
    "#;
    let files = [
        ("html/chk/yes.txt", "y\n"),
        ("html/chk/sub/f.txt", "y\n"),
        ("html/ifroot/a.txt", "main\n"),
        ("html/alt/ifroot/a.txt", "alt\n"),
    ];
    let h = |u: &str| get(u, "");
    let rows: Vec<Row> = vec![
        (h("/var"), 200, None, Some("[one]\n")),
        (h("/eq?a=x"), 200, None, Some("eqnesp\n")),
        (h("/eq?a=y"), 200, None, Some("\n")),
        (h("/re?v=10-20"), 200, None, Some("from 10 to 20\n")),
        (h("/re?v=x"), 200, None, Some("no match []\n")),
        (
            get("/ops", "X-A: ABC\r\n"),
            200,
            None,
            Some("cinomatchnotzzz-ABC\n"),
        ),
        (h("/chk/yes.txt"), 200, None, Some("[fe!x!d]\n")),
        (h("/chk/sub"), 200, None, Some("[!fdex]\n")),
        (h("/chk/none"), 200, None, Some("[!f!e!x!d]\n")),
        (h("/ifconf?h=1"), 200, None, Some("ok\n")),
        (
            "POST /ifreturn HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
                .to_string(),
            405,
            None,
            None,
        ),
        (h("/ifreturn"), 200, None, Some("ok\n")),
        (h("/brk"), 404, None, None),
        (h("/ifroot/a.txt"), 200, None, Some("main\n")),
        (h("/ifroot/a.txt?alt=1"), 200, None, Some("alt\n")),
        (h("/order"), 200, None, Some("order 123\n")),
    ];
    check("if", conf, &files, &rows);
}

#[test]
fn logs_of_the_rewrite_module() {
    let conf = r#"
    server {
        listen 127.0.0.1:{PORT};
        server_name localhost;
        location /rl/ {
            rewrite_log on;
            rewrite ^/nomatch /y;
            rewrite ^/rl/(.*)$ /x/$1 last;
        }
        location /x/ { return 200 "$uri\n"; }
        location = /uninit {
            if ($arg_x) { set $foo "x"; }
            return 200 "[$foo]\n";
        }
        location = /nowarn {
            uninitialized_variable_warn off;
            return 200 "[$bar]\n";
        }
        location = /setbar { set $bar 1; return 200 "$bar\n"; }
    }
    "#;
    let h = |u: &str| get(u, "");
    let rows: Vec<Row> = vec![
        (h("/rl/q"), 200, None, Some("/x/q\n")),
        (h("/uninit"), 200, None, Some("[]\n")),
        (h("/nowarn"), 200, None, Some("[]\n")),
    ];
    let logs = check("log", conf, &[], &rows);
    logged(&logs, "[notice]");
    logged(&logs, "\"^/nomatch\" does not match \"/rl/q\"");
    logged(&logs, "\"^/rl/(.*)$\" matches \"/rl/q\"");
    logged(&logs, "rewritten data: \"/x/q\", args: \"\"");
    logged(&logs, "[warn]");
    logged(&logs, "using uninitialized \"foo\" variable");
    assert!(!logs.0.contains("\"bar\""), "{}", logs.0);
}

#[test]
fn core_variables() {
    let conf = r#"
    server {
        listen 127.0.0.1:{PORT};
        server_name localhost;
        location /v/ { return 200 "$uri|$request_uri|$args|$is_args|$query_string|$document_uri\n"; }
        location /a/ { return 200 "$arg_a|$arg_b|$arg_missing|$arg_CASE\n"; }
        location /h/ { return 200 "$http_user_agent|$http_x_rep|$http_cookie|$http_x_forwarded_for\n"; }
        location /c/ { return 200 "$cookie_session|$cookie_theme|$cookie_none\n"; }
        location /host/ { return 200 "$host|$http_host|$server_name\n"; }
        location /m/ { return 200 "$request_method $scheme $server_protocol $request\n"; }
        location /n/ { return 200 "$nginx_version [$https] $limit_rate $status $server_addr\n"; }
        location /len/ { return 200 "$request_length $content_length $content_type\n"; }
        location /set/ { set $args "replaced=1"; return 200 "$args $arg_replaced $is_args\n"; }
        location /root/ { root /tmp; return 200 "$document_root $request_filename $realpath_root\n"; }
        location /al/ { alias /tmp/; return 200 "$document_root|$request_filename\n"; }
        location /id/ { return 200 "$request_id $request_id\n"; }
        location /br/ { set $name "world"; return 200 "hello_${name}_suffix\n"; }
    }
    "#;
    let h = |u: &str| get(u, "");
    let rows: Vec<Row> = vec![
        (
            h("/v/a%20b?x=1&y=%32"),
            200,
            None,
            Some("/v/a b|/v/a%20b?x=1&y=%32|x=1&y=%32|?|x=1&y=%32|/v/a b\n"),
        ),
        (h("/v/x"), 200, None, Some("/v/x|/v/x||||/v/x\n")),
        (
            h("/a/?a=1&b=x%20y&a=2&case=lower"),
            200,
            None,
            Some("1|x%20y||lower\n"),
        ),
        (h("/a/?a&b=2"), 200, None, Some("|2||\n")),
        (
            get(
                "/h/",
                "User-Agent: t/1.0\r\nX-Rep: one\r\nX-Rep: two\r\nCookie: a=1\r\nCookie: b=2\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n",
            ),
            200,
            None,
            Some("t/1.0|one|a=1; b=2|1.1.1.1, 2.2.2.2\n"),
        ),
        (
            get("/c/", "Cookie: theme=dark; session=abc123\r\n"),
            200,
            None,
            Some("abc123|dark|\n"),
        ),
        (
            "GET /host/ HTTP/1.1\r\nHost: LocalHost.:8080\r\nConnection: close\r\n\r\n".into(),
            200,
            None,
            Some("localhost|LocalHost.:8080|localhost\n"),
        ),
        (
            "GET /host/ HTTP/1.0\r\n\r\n".into(),
            200,
            None,
            Some("localhost||localhost\n"),
        ),
        (
            h("/m/?q=1"),
            200,
            None,
            Some("GET http HTTP/1.1 GET /m/?q=1 HTTP/1.1\n"),
        ),
        (h("/n/"), 200, None, Some("1.22.1 [] 0 200 127.0.0.1\n")),
        (h("/len/"), 200, None, Some("58  \n")),
        (
            "POST /len/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc".into(),
            200,
            None,
            None,
        ),
        (h("/set/?orig=1"), 200, None, Some("replaced=1 1 ?\n")),
        (h("/root/x.html"), 200, None, Some("/tmp /tmp/root/x.html /tmp\n")),
        (h("/al/x.txt"), 200, None, Some("/tmp/|/tmp/x.txt\n")),
        (h("/br/"), 200, None, Some("hello_world_suffix\n")),
    ];
    check("vars", conf, &[], &rows);
    // $request_id: 32 hex digits, the same within a request.
    let ox = start(OXRESTY, "id", conf, &[]);
    let a = send(ox.port, &get("/id/", ""));
    let ids: Vec<&str> = a.body.trim_end().split(' ').collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[0].len(), 32);
    assert!(ids[0].bytes().all(|c| c.is_ascii_hexdigit()));
    let b = send(ox.port, &get("/id/", ""));
    assert_ne!(a.body, b.body);
}

#[test]
fn map_geo_split_clients() {
    let conf = r#"
    map $arg_k $m {
        default      dflt;
        exact        EXACT;
        \default     escaped;
        ~^re(\d+)$   re-$1;
        ~*^CI(?<tail>.*)$ ci-$tail;
        var          "v:$uri";
    }
    map $http_host $hm {
        hostnames;
        default          none;
        example.com      exact;
        *.example.com    wild;
        .example.org     dot;
        www.example.*    tail;
    }
    map $arg_k $nodefault {
        a 1;
    }
    map $uri $cached {
        default $uri;
    }
    map $uri $vol {
        volatile;
        default $uri;
    }
    geo $g {
        default        none;
        127.0.0.0/8    loop;
        127.0.0.1/32   one;
        10.0.0.0/8     ten;
        delete         10.0.0.0/8;
    }
    geo $arg_ip $gv {
        default        none;
        192.168.0.0/16 lan;
        192.168.1.0/24 lan1;
        ::1            six;
    }
    geo $arg_ip $gr {
        ranges;
        default                   no;
        10.0.0.0-10.0.0.255       ten;
        10.0.0.10-10.0.0.20       inner;
        10.0.1.0-10.0.1.255       del;
        delete                    10.0.1.0-10.0.1.255;
    }
    geo $gp {
        proxy          127.0.0.0/8;
        default        none;
        1.2.3.0/24     fwd;
    }
    split_clients "$arg_k" $s {
        10%    a;
        20.5%  b;
        *      c;
    }
    split_clients "$arg_k" $s2 {
        50%    x;
    }
    server {
        listen 127.0.0.1:{PORT};
        server_name localhost;
        location = /map { return 200 "$m|$nodefault|$1\n"; }
        location = /host { return 200 "$hm\n"; }
        location = /cache {
            set $first $cached;
            rewrite ^ /cache2;
            return 200 "$cached $vol\n";
        }
        location = /geo { return 200 "$g|$gv|$gr|$gp\n"; }
        location = /split { return 200 "$s|$s2\n"; }
    }
    "#;
    let h = |u: &str| get(u, "");
    let host =
        |hst: &str| format!("GET /host HTTP/1.1\r\nHost: {hst}\r\nConnection: close\r\n\r\n");
    let rows: Vec<Row> = vec![
        (h("/map?k=exact"), 200, None, Some("EXACT||\n")),
        (h("/map?k=EXACT"), 200, None, Some("EXACT||\n")),
        (h("/map?k=default"), 200, None, Some("escaped||\n")),
        (h("/map?k=re42"), 200, None, Some("re-42||42\n")),
        (h("/map?k=cixyz"), 200, None, Some("ci-xyz||xyz\n")),
        (h("/map?k=var"), 200, None, Some("v:/map||\n")),
        (h("/map?k=zzz"), 200, None, Some("dflt||\n")),
        (h("/map?k=a"), 200, None, Some("dflt|1|\n")),
        (h("/map"), 200, None, Some("dflt||\n")),
        (host("example.com"), 200, None, Some("exact\n")),
        (host("a.b.example.com"), 200, None, Some("wild\n")),
        (host("example.org"), 200, None, Some("dot\n")),
        (host("x.example.org"), 200, None, Some("dot\n")),
        (host("www.example.net"), 200, None, Some("tail\n")),
        (host("other.net"), 200, None, Some("none\n")),
        (h("/cache"), 200, None, Some("/cache /cache2\n")),
        (h("/geo"), 200, None, Some("one|none|no|none\n")),
        (
            h("/geo?ip=192.168.1.7"),
            200,
            None,
            Some("one|lan1|no|none\n"),
        ),
        (
            h("/geo?ip=192.168.2.7"),
            200,
            None,
            Some("one|lan|no|none\n"),
        ),
        (h("/geo?ip=::1"), 200, None, Some("one|six|no|none\n")),
        (h("/geo?ip=bogus"), 200, None, Some("one|none|no|none\n")),
        (
            h("/geo?ip=10.0.0.5"),
            200,
            None,
            Some("one|none|ten|none\n"),
        ),
        (
            h("/geo?ip=10.0.0.15"),
            200,
            None,
            Some("one|none|inner|none\n"),
        ),
        (
            h("/geo?ip=10.0.0.25"),
            200,
            None,
            Some("one|none|ten|none\n"),
        ),
        (h("/geo?ip=10.0.1.5"), 200, None, Some("one|none|no|none\n")),
        (
            get("/geo", "X-Forwarded-For: 9.9.9.9, 1.2.3.4\r\n"),
            200,
            None,
            Some("one|none|no|fwd\n"),
        ),
        (h("/split?k=1"), 200, None, None),
        (h("/split?k=2"), 200, None, None),
        (h("/split?k=abc"), 200, None, None),
        (h("/split?k=hello"), 200, None, None),
        (h("/split?k=127.0.0.1"), 200, None, None),
        (h("/split"), 200, None, None),
    ];
    check("map", conf, &[], &rows);
}
