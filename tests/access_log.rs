//! The log phase runs after the response is sent: `$sent_http_*`, `$bytes_sent` and
//! `$body_bytes_sent` (chunk framing included) as nginx logs them. Each case is checked
//! against the expected line, and against the reference (/usr/sbin/nginx) when installed.

mod common;

use common::{Server, REFERENCE};

const ECHO: &str = "/usr/lib/nginx/modules/ngx_http_echo_module.so";

fn conf(echo: bool) -> String {
    let (load, loc) = if echo {
        (
            format!("load_module {ECHO};"),
            "location = /e { echo hello; echo world; }",
        )
    } else {
        (String::new(), "")
    };
    format!(
        r#"{load}
worker_processes 1;
pid logs/nginx.pid;
events {{}}
http {{
    log_format t 'srv=[$sent_http_server] date=[$sent_http_date] ct=[$sent_http_content_type] cl=[$sent_http_content_length] cc=[$sent_http_cache_control] link=[$sent_http_link] conn=[$sent_http_connection] te=[$sent_http_transfer_encoding] x=[$sent_http_x_foo] loc=[$sent_http_location] bs=$bytes_sent bbs=$body_bytes_sent';
    access_log logs/access.log t;
    server {{
        listen 127.0.0.1:{{PORT}};
        server_name localhost;
        location = /a {{
            add_header X-Foo bar; add_header X-Foo baz;
            add_header Cache-Control a; add_header Cache-Control b;
            add_header Link l1; add_header Link l2;
            return 200 "hi\n";
        }}
        location = /r {{ return 302 /x; }}
        location / {{ root html; }}
        {loc}
    }}
}}
"#
    )
}

/// The requests, one per connection, and the access-log lines nginx writes for them.
fn cases(echo: bool) -> Vec<(&'static str, &'static str)> {
    let mut v = vec![
        (
            "GET /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            "srv=[-] date=[-] ct=[text/plain] cl=[3] cc=[a, b] link=[l1, l2] conn=[close] te=[-] x=[bar] loc=[-] bs=225 bbs=3",
        ),
        (
            // Free ports have five digits: the Location length is stable.
            "GET /r HTTP/1.0\r\nHost: localhost\r\n\r\n",
            "srv=[-] date=[-] ct=[text/html] cl=[145] cc=[-] link=[-] conn=[close] te=[-] x=[-] loc=[http://localhost:PORT/x] bs=339 bbs=145",
        ),
        (
            "HEAD /a HTTP/1.0\r\n\r\n",
            "srv=[-] date=[-] ct=[text/plain] cl=[3] cc=[a, b] link=[l1, l2] conn=[close] te=[-] x=[bar] loc=[-] bs=222 bbs=0",
        ),
    ];
    if echo {
        v.push((
            "GET /e HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            "srv=[-] date=[-] ct=[text/plain] cl=[-] cc=[-] link=[-] conn=[close] te=[chunked] x=[-] loc=[-] bs=178 bbs=27",
        ));
        v.push((
            "GET /e HTTP/1.0\r\n\r\n",
            "srv=[-] date=[-] ct=[text/plain] cl=[-] cc=[-] link=[-] conn=[close] te=[-] x=[-] loc=[-] bs=135 bbs=12",
        ));
    }
    v
}

fn lines(bin: &str, echo: bool) -> (Vec<String>, u16) {
    let s = Server::start(bin, &conf(echo), &[]);
    let cases = cases(echo);
    for (req, _) in &cases {
        let _ = s.exchange(req.as_bytes());
    }
    let n = cases.len();
    let log = s.file_when("logs/access.log", |t| t.lines().count() >= n);
    (log.lines().map(String::from).collect(), s.port)
}

#[test]
fn sent_headers_and_byte_counts() {
    let echo = std::path::Path::new(ECHO).exists();
    let (got, port) = lines(env!("CARGO_BIN_EXE_oxresty"), echo);
    let want: Vec<String> = cases(echo)
        .iter()
        .map(|(_, l)| l.replace("PORT", &port.to_string()))
        .collect();
    assert_eq!(got, want);
    if std::path::Path::new(REFERENCE).exists() {
        let (reference, rport) = lines(REFERENCE, echo);
        let reference: Vec<String> = reference
            .iter()
            .map(|l| l.replace(&rport.to_string(), &port.to_string()))
            .collect();
        assert_eq!(got, reference, "differs from the reference");
    }
}

/// `$sent_http_*` read through a `map` in the log format (the format names no
/// `$sent_http_*` itself): the response head is still kept for the log phase.
#[test]
fn sent_headers_through_a_map() {
    let conf = r#"
worker_processes 1;
pid logs/nginx.pid;
events {}
http {
    map $sent_http_content_type $kind { default other; ~^text/ text; }
    log_format t 'kind=$kind';
    access_log logs/access.log t;
    server {
        listen 127.0.0.1:{PORT};
        location = /t { return 200 "x\n"; }
        location = /j { default_type application/json; return 200 "{}\n"; }
    }
}
"#;
    let lines = |bin: &str| {
        let s = Server::start(bin, conf, &[]);
        let _ = s.exchange(b"GET /t HTTP/1.0\r\n\r\n");
        let _ = s.exchange(b"GET /j HTTP/1.0\r\n\r\n");
        s.file_when("logs/access.log", |t| t.lines().count() >= 2)
    };
    assert_eq!(
        lines(env!("CARGO_BIN_EXE_oxresty")),
        "kind=text\nkind=other\n"
    );
    if std::path::Path::new(REFERENCE).exists() {
        assert_eq!(lines(REFERENCE), "kind=text\nkind=other\n", "the reference");
    }
}
