//! Content handlers oxresty does not run yet never fall through silently: a `uwsgi_pass`
//! location answers 502 (it must not serve the source as a static file), with an
//! error-log line saying why. (`auth_request` and `fastcgi_pass`, which failed closed here,
//! now run.)

mod common;

use common::Server;

const CONF: &str = r#"
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log;
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:{PORT};
        server_name localhost;
        root html;
        location ~ \.php$ { uwsgi_pass 127.0.0.1:9000; }
        location /private/ { auth_request /auth; }
        location /public/ { auth_request /auth; location /public/open/ { auth_request off; } }
        location = /auth { return 204; }
    }
}
"#;

fn status_and_body(raw: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(raw).into_owned();
    let status = text.lines().next().unwrap_or_default().to_string();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn unsupported_handlers_do_not_fall_through() {
    let s = Server::start(
        env!("CARGO_BIN_EXE_oxresty"),
        CONF,
        &[
            (
                "conf/fastcgi_params",
                "fastcgi_param QUERY_STRING $query_string;\n",
            ),
            ("html/index.php", "<?php $secret = 'db-password'; ?>\n"),
            ("html/private/f.txt", "private\n"),
            ("html/public/open/f.txt", "open\n"),
        ],
    );
    let (status, body) =
        status_and_body(&s.exchange(b"GET /index.php HTTP/1.0\r\nHost: localhost\r\n\r\n"));
    assert_eq!(status, "HTTP/1.1 502 Bad Gateway");
    assert!(!body.contains("db-password"), "{body}");
    let (status, body) =
        status_and_body(&s.exchange(b"GET /private/f.txt HTTP/1.0\r\nHost: localhost\r\n\r\n"));
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "private\n")
    );
    let (status, body) =
        status_and_body(&s.exchange(b"GET /public/open/f.txt HTTP/1.0\r\nHost: localhost\r\n\r\n"));
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "open\n")
    );
    let log = s.file_when("logs/error.log", |t| t.contains("uwsgi_pass"));
    assert!(
        log.contains("\"uwsgi_pass\" is not supported by oxresty yet, client: 127.0.0.1, server: localhost, request: \"GET /index.php HTTP/1.0\", host: \"localhost\""),
        "{log}"
    );
}
