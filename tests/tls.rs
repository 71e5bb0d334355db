//! TLS and HTTP/2, differential: the reference (/usr/sbin/nginx with the lua module) and
//! oxresty serve the same configuration, and the same client invocations (`curl`,
//! `openssl s_client`, `nghttp`) must print the same things: SNI selection, protocol and
//! cipher negotiation, certificate choice (RSA/ECDSA), client certificates, session
//! resumption, `ssl_reject_handshake`, plain HTTP on an HTTPS port, and HTTP/2 (ALPN and
//! h2c) requests through every phase. The certificates are made by the test with the
//! `openssl` CLI. Without the reference or the clients, the test says so and passes.
//!
//! Plus an oxresty-only test: abusive HTTP/2 connections (rapid reset, CONTINUATION flood)
//! are closed while another client keeps being served.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod common;
use common::{free_port, have, sh};

const OXRESTY: &str = env!("CARGO_BIN_EXE_oxresty");
const REFERENCE: &str = "/usr/sbin/nginx";
const LUA_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_lua_module.so";
const NDK_MODULE: &str = "/usr/lib/nginx/modules/ndk_http_module.so";

/// Test certificates: a CA; `a.test` (RSA and ECDSA), `b.test` + `*.b.test` (RSA), both
/// signed by the CA; a client certificate signed by the CA; a self-signed client
/// certificate; a client certificate from another CA.
fn make_pki(dir: &Path) {
    let script = r#"set -e
subj() { printf "$1"; }
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj "/O=Oxresty Test/CN=Test CA" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca2.key -out ca2.crt -days 30 -subj "/CN=Other CA" 2>/dev/null
for n in a b; do
  openssl req -newkey rsa:2048 -nodes -keyout $n.key -out $n.csr -subj "/CN=$n.test" 2>/dev/null
  printf "subjectAltName=DNS:$n.test,DNS:*.$n.test\n" > $n.ext
  openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -set_serial 0x1$n -out $n.crt -days 30 -extfile $n.ext 2>/dev/null
done
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout a-ec.key -out a-ec.csr -subj "/CN=a.test" 2>/dev/null
openssl x509 -req -in a-ec.csr -CA ca.crt -CAkey ca.key -set_serial 0x20 -out a-ec.crt -days 30 -extfile a.ext 2>/dev/null
printf "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n" > client.ext
openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj "/C=US/O=Test, Inc./OU=Unit+One/CN=client one" 2>/dev/null
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -set_serial 0x0abc -out client.crt -days 30 -extfile client.ext 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout other.key -out other.csr -subj "/CN=other client" 2>/dev/null
openssl x509 -req -in other.csr -CA ca2.crt -CAkey ca2.key -set_serial 77 -out other.crt -days 30 -extfile client.ext 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout self.key -out self.crt -days 30 -subj "/CN=selfie" 2>/dev/null
for n in a b; do cp $n.crt $n.test.crt; cp $n.key $n.test.key; done
printf '[ ca ]\ndefault_ca = CA_default\n[ CA_default ]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 30\n' > ca.cnf
touch index.txt; echo 01 > crlnumber
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -set_serial 0x0bad -out revoked.crt -days 30 -extfile client.ext 2>/dev/null
openssl ca -config ca.cnf -keyfile ca.key -cert ca.crt -revoke revoked.crt > /dev/null 2>&1
openssl ca -config ca.cnf -keyfile ca.key -cert ca.crt -gencrl -out ca.crl > /dev/null 2>&1
openssl ca -config ca.cnf -keyfile ca2.key -cert ca2.crt -gencrl -out ca2.crl > /dev/null 2>&1
cp client.key revoked.key
printf 'GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n' > get.txt
echo ok
"#;
    assert_eq!(
        sh(dir, script).trim(),
        "ok",
        "openssl could not make the test PKI"
    );
}

const CONF: &str = r#"
worker_processes 1;
error_log logs/error.log info;
pid logs/nginx.pid;
events {}
http {
    access_log off;
    # oxresty's default (nginx >= 1.23.4's); the reference 1.22 would leave TLSv1.3 off.
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate CERTS/b.crt;
    ssl_certificate_key CERTS/b.key;

    # P1: SNI, certificates, client verification, plain HTTP, 497.
    server {
        listen 127.0.0.1:P1 ssl default_server;
        server_name a.test;
        ssl_certificate CERTS/a.crt;
        ssl_certificate_key CERTS/a.key;
        ssl_certificate CERTS/a-ec.crt;
        ssl_certificate_key CERTS/a-ec.key;
        ssl_session_cache shared:SSL:1m;
        location / { return 200 "a|$scheme|$https|$ssl_protocol|$ssl_cipher|$ssl_server_name|$ssl_session_reused|$ssl_client_verify|$ssl_alpn_protocol|$server_protocol|$host|$server_name|$server_port\n"; }
        location /redir { return 302 /target; }
        location /rel { rewrite ^ /target? redirect; }
        location /dir { root html; }
        location /vars { return 200 "[$ssl_client_s_dn][$ssl_client_serial][$ssl_client_raw_cert]\n"; }
    }
    server {
        listen 127.0.0.1:P1 ssl;
        server_name b.test;
        ssl_verify_client optional;
        ssl_client_certificate CERTS/ca.crt;
        location / { return 200 "b|$ssl_client_verify|$ssl_client_s_dn|$ssl_client_i_dn|$ssl_client_serial|$ssl_client_fingerprint|$ssl_server_name\n"; }
        location /raw { return 200 "$ssl_client_raw_cert|$ssl_client_escaped_cert"; }
    }
    server {
        listen 127.0.0.1:P1 ssl;
        server_name on.b.test;
        ssl_verify_client on;
        ssl_client_certificate CERTS/ca.crt;
        location / { return 200 "on|$ssl_client_verify|$ssl_client_s_dn\n"; }
        location /ep { error_page 495 496 = /fallback; return 200 "ep|$ssl_client_verify\n"; }
        location /fallback { return 200 "fallback $status\n"; }
    }
    server {
        listen 127.0.0.1:P1 ssl;
        server_name noca.b.test;
        ssl_verify_client optional_no_ca;
        ssl_client_certificate CERTS/ca.crt;
        location / { return 200 "noca|$ssl_client_verify|$ssl_client_s_dn\n"; }
    }
    server {
        listen 127.0.0.1:P1 ssl;
        server_name t.b.test;
        ssl_verify_client optional;
        ssl_client_certificate CERTS/ca.crt;
        ssl_trusted_certificate CERTS/ca2.crt;
        location / { return 200 "t|$ssl_client_verify|$ssl_client_s_dn|$ssl_client_i_dn\n"; }
    }
    server {
        listen 127.0.0.1:P1 ssl;
        server_name crl.b.test;
        ssl_verify_client optional;
        ssl_client_certificate CERTS/ca.crt;
        ssl_crl CERTS/ca.crl;
        error_page 495 = /why;
        location / { return 200 "crl|$ssl_client_verify|$ssl_client_serial\n"; }
        location /why { return 200 "why|$ssl_client_verify|$ssl_client_serial\n"; }
    }
    server {
        listen 127.0.0.1:P1 ssl;
        server_name nocrl.b.test;
        ssl_verify_client optional;
        ssl_client_certificate CERTS/ca.crt;
        ssl_crl CERTS/ca2.crl;
        error_page 495 = /why;
        location / { return 200 "nocrl|$ssl_client_verify\n"; }
        location /why { return 200 "why|$ssl_client_verify\n"; }
    }
    server {
        listen 127.0.0.1:P1 ssl;
        server_name rej.b.test;
        ssl_reject_handshake on;
    }
    server {
        listen 127.0.0.1:P1 ssl;
        server_name p.b.test;
        error_page 497 https://$host:$server_port$request_uri;
        location / { return 200 "p|$scheme\n"; }
    }
    server {
        listen 127.0.0.1:P1 ssl;
        server_name q.b.test;
        error_page 497 = /plain;
        location /plain { return 200 "plain ok $scheme $https.\n"; }
    }

    # P2: HTTP/2 over TLS (ALPN), every phase.
    server {
        listen 127.0.0.1:P2 ssl http2;
        server_name a.test;
        http2_max_concurrent_streams 32;
        ssl_certificate CERTS/a.crt;
        ssl_certificate_key CERTS/a.key;
        location / { return 200 "h2|$server_protocol|$request|$http_host|$host|$scheme|$https|$ssl_alpn_protocol|$ssl_protocol\n"; }
        location /rw { rewrite ^/rw(.*)$ /dst$1 last; }
        location /dst { return 200 "dst $uri $args $request_uri\n"; }
        location /deny { deny all; }
        location /set { set $v "val"; if ($arg_a = 1) { return 418; } return 200 "set $v\n"; }
        location /lua {
            rewrite_by_lua_block { ngx.ctx.r = "rw" }
            access_by_lua_block { if ngx.var.arg_k ~= "1" then return ngx.exit(401) end }
            content_by_lua_block {
                ngx.say("lua ", ngx.ctx.r, " ", ngx.var.server_protocol, " ", ngx.req.get_method(), " ", ngx.var.https, " ", ngx.var.scheme, " ", tostring(ngx.req.get_headers()["x-a"]), " ", ngx.req.http_version())
            }
        }
        location /body { content_by_lua_block { ngx.req.read_body(); ngx.say("got ", ngx.req.get_body_data()) } }
        location /big { content_by_lua_block { ngx.print(string.rep("0123456789", 20000)) } }
        location /hdr { add_header X-Foo bar; add_header X-Many "a b"; return 200 "hdr\n"; }
        location /missing { root html; error_page 404 = /e404; }
        location /e404 { return 200 "e404 $request_uri\n"; }
        location /plain404 { root html; }
        location /redir { return 301 /elsewhere; }
        location /exit { content_by_lua_block { ngx.status = 202; ngx.header["X-Lua"] = "yes"; ngx.say("exit"); return ngx.exit(202) } }
        location /cookie { return 200 "c=$cookie_a ua=$http_user_agent\n"; }
        location /raw { content_by_lua_block { local ok, err = pcall(ngx.req.raw_header); ngx.say(ok, " ", err) } }
        location /hdrs { content_by_lua_block { local h = ngx.req.get_headers(); ngx.say(h.host, " ", h["user-agent"], " ", h.accept, " ", ngx.var.http_host, " ", ngx.var.request_uri, " ", ngx.var.uri, " ", ngx.var.args) } }
        location /ctx { set $x 1; rewrite_by_lua_block { ngx.var.x = "2" } content_by_lua_block { ngx.header["X-Rw"] = ngx.var.x; ngx.print("ctx ", ngx.var.x, "\n") } }
    }

    # P3: TLSv1.3 only, with a server order.
    server {
        listen 127.0.0.1:P3 ssl;
        server_name a.test;
        ssl_certificate CERTS/a.crt;
        ssl_certificate_key CERTS/a.key;
        ssl_protocols TLSv1.3;
        location / { return 200 "p3|$ssl_protocol|$ssl_cipher|$ssl_session_reused\n"; }
    }

    # P4: TLSv1.2, restricted ciphers in the server's order, no tickets, no cache.
    server {
        listen 127.0.0.1:P4 ssl;
        server_name a.test;
        ssl_certificate CERTS/a.crt;
        ssl_certificate_key CERTS/a.key;
        ssl_protocols TLSv1.2;
        ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384;
        ssl_prefer_server_ciphers on;
        ssl_session_tickets off;
        location / { return 200 "p4|$ssl_protocol|$ssl_cipher|$ssl_session_reused\n"; }
    }

    # P5: HTTP/2 with prior knowledge on a plain port.
    server {
        listen 127.0.0.1:P5 http2;
        server_name a.test;
        location / { return 200 "h2c|$server_protocol|$scheme|$https|$host\n"; }
        location /lua { content_by_lua_block { ngx.say("h2c lua ", ngx.var.server_protocol) } }
    }

    # P6: the default server rejects handshakes; a.test does not.
    server {
        listen 127.0.0.1:P6 ssl default_server;
        server_name _;
        ssl_reject_handshake on;
    }
    server {
        listen 127.0.0.1:P6 ssl;
        server_name a.test;
        ssl_certificate CERTS/a.crt;
        ssl_certificate_key CERTS/a.key;
        location / { return 200 "p6|$ssl_server_name\n"; }
    }

    # P7: TLSv1.2+1.3, tickets (default), a curve, a session cache; h2.
    server {
        listen 127.0.0.1:P7 ssl http2;
        server_name a.test;
        ssl_certificate CERTS/a-ec.crt;
        ssl_certificate_key CERTS/a-ec.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ecdh_curve secp384r1;
        ssl_session_cache builtin:1000;
        keepalive_requests 3;
        location / { return 200 "p7|$ssl_protocol|$ssl_cipher|$ssl_session_reused|$server_protocol\n"; }
        location /curve { return 200 "p7|$ssl_curve\n"; }
    }

    # P8: certificates named after the SNI name (loaded at each handshake).
    server {
        listen 127.0.0.1:P8 ssl;
        server_name a.test b.test;
        ssl_certificate CERTS/$ssl_server_name.crt;
        ssl_certificate_key CERTS/${ssl_server_name}.key;
        location / { return 200 "p8|$ssl_server_name|$host\n"; }
    }
}
"#;

const PORTS: [&str; 8] = ["P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8"];

/// A running server (oxresty or the reference) with its ports; killed when dropped.
struct Server {
    child: Child,
    dir: PathBuf,
    ports: Vec<u16>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(bin: &str, certs: &Path, lua: bool) -> Server {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "oxresty-tls-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["logs", "conf", "html/dir"] {
        std::fs::create_dir_all(dir.join(sub)).expect("prefix");
    }
    let ports: Vec<u16> = PORTS.iter().map(|_| free_port()).collect();
    let mut text = CONF.replace("CERTS", &certs.display().to_string());
    for (i, p) in PORTS.iter().enumerate() {
        text = text.replace(&format!(":{p} "), &format!(":{} ", ports[i]));
    }
    if lua {
        text = format!("load_module {NDK_MODULE};\nload_module {LUA_MODULE};\n{text}");
    }
    std::fs::write(dir.join("conf/nginx.conf"), text).expect("conf");
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
        .expect("server starts");
    let mut server = Server { child, dir, ports };
    let deadline = Instant::now() + Duration::from_secs(15);
    while server
        .ports
        .iter()
        .any(|&p| TcpStream::connect(("127.0.0.1", p)).is_err())
    {
        let exited = server.child.try_wait().ok().flatten().is_some();
        if exited || Instant::now() > deadline {
            let log = std::fs::read_to_string(server.dir.join("logs/error.log"));
            panic!("{bin} did not start: {log:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// Runs a client invocation against `s` (`$P1`.. are its ports, `$SESS` a scratch file)
/// and returns what it printed, with the ports named and dates removed.
fn run(s: &Server, certs: &Path, who: &str, cmd: &str) -> String {
    let mut env = String::new();
    for (i, p) in PORTS.iter().enumerate() {
        env.push_str(&format!("{p}={}; ", s.ports[i]));
    }
    env.push_str(&format!("SESS={}/{who}.sess; ", certs.display()));
    let mut out = sh(certs, &format!("{env}{cmd}"));
    for (i, p) in PORTS.iter().enumerate() {
        out = out.replace(&s.ports[i].to_string(), p);
    }
    out.lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            !l.starts_with("date:") && !l.contains("session-id") && !l.starts_with("last-modified")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// curl against the test PKI, resolving `host` to the loopback.
fn curl(host: &str, port: &str, args: &str, path: &str) -> String {
    format!(
        "timeout 10 curl -s --cacert ca.crt --resolve {host}:${port}:127.0.0.1 {args} https://{host}:${port}{path}"
    )
}

/// `openssl s_client -brief`'s negotiated-parameter lines (or the alert that ended it).
fn s_client(port: &str, args: &str) -> String {
    format!(
        "timeout 10 openssl s_client -connect 127.0.0.1:${port} -CAfile ca.crt -brief {args} < get.txt 2>&1 | grep -E '^(Protocol version|Ciphersuite|Peer certificate|Verification|Server Temp Key|Peer signature type|Hash used|Signature type)|alert|Reused|New,' | sed 's/^.*:error:[0-9A-F]*:/error:/; s/:[^:]*:[0-9]*:SSL alert number/ SSL alert number/'"
    )
}

/// The compared cases: (name, client invocation).
fn cases() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = Vec::new();
    let mut add = |n: &str, c: String| v.push((n.to_string(), c));
    let w = "-w '|%{http_code} %{http_version} %{ssl_verify_result}\\n'";
    let wi = "-i -w '|%{http_code} %{http_version}\\n'";

    // SNI selects the server's certificate; Host selects the server.
    add("sni a", curl("a.test", "P1", w, "/"));
    add("sni b", curl("b.test", "P1", w, "/"));
    add("sni wildcard", curl("x.b.test", "P1", w, "/"));
    add("sni p", curl("p.b.test", "P1", w, "/"));
    add("sni unknown name: default cert", "timeout 10 curl -s -k --resolve zz.test:$P1:127.0.0.1 -w '|%{http_code}\\n' https://zz.test:$P1/".into());
    add(
        "no sni: default cert",
        "timeout 10 curl -s -k -w '|%{http_code}\\n' https://127.0.0.1:$P1/".into(),
    );
    add(
        "sni a host b",
        curl("a.test", "P1", &format!("-H 'Host: b.test' {w}"), "/"),
    );
    add(
        "sni b host a",
        curl("b.test", "P1", &format!("-H 'Host: a.test' {w}"), "/"),
    );
    add(
        "sni b host unknown",
        curl("b.test", "P1", &format!("-H 'Host: nope' {w}"), "/"),
    );
    add(
        "sni a host on.b (421)",
        curl("a.test", "P1", &format!("-H 'Host: on.b.test' {wi}"), "/"),
    );
    add(
        "sni on.b host a (421)",
        curl("on.b.test", "P1", &format!("-H 'Host: a.test' {wi}"), "/"),
    );
    add(
        "sni on.b host a with cert (421)",
        curl(
            "on.b.test",
            "P1",
            &format!("--cert client.crt --key client.key -H 'Host: a.test' {wi}"),
            "/",
        ),
    );
    add("cert subject a", s_client("P1", "-servername a.test"));
    add("cert subject b", s_client("P1", "-servername b.test"));
    add(
        "cert subject wildcard",
        s_client("P1", "-servername q.b.test"),
    );
    add("cert no sni", s_client("P1", "-noservername"));
    add(
        "cert ecdsa chosen",
        s_client(
            "P1",
            "-servername a.test -sigalgs ECDSA+SHA256:RSA-PSS+SHA256",
        ),
    );
    add(
        "cert rsa chosen",
        s_client(
            "P1",
            "-servername a.test -sigalgs RSA-PSS+SHA256:ECDSA+SHA256",
        ),
    );
    add(
        "cert rsa only client",
        s_client("P1", "-servername a.test -sigalgs RSA+SHA256"),
    );
    add(
        "cert tls12 ecdsa suite",
        s_client(
            "P1",
            "-servername a.test -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256",
        ),
    );
    add(
        "cert tls12 rsa suite",
        s_client(
            "P1",
            "-servername a.test -tls1_2 -cipher ECDHE-RSA-AES256-GCM-SHA384",
        ),
    );
    add(
        "cert chacha",
        s_client(
            "P1",
            "-servername a.test -tls1_2 -cipher ECDHE-RSA-CHACHA20-POLY1305",
        ),
    );

    // Protocols and ciphers.
    add(
        "default protocols: tls1.3 refused",
        s_client("P1", "-servername a.test -tls1_3"),
    );
    add("default protocols: tls1.2", curl("a.test", "P1", w, "/"));
    add(
        "tls1.1 refused",
        format!(
            "{} ; echo rc=$?",
            curl("a.test", "P1", "--tlsv1.1 --tls-max 1.1 -o /dev/null", "/")
        ),
    );
    add("p3 tls1.3", curl("a.test", "P3", w, "/"));
    add(
        "p3 tls1.2 refused",
        format!(
            "{} ; echo rc=$?",
            curl("a.test", "P3", "--tls-max 1.2 -o /dev/null", "/")
        ),
    );
    add("p3 s_client", s_client("P3", "-servername a.test"));
    add(
        "p3 aes128",
        s_client(
            "P3",
            "-servername a.test -ciphersuites TLS_AES_128_GCM_SHA256",
        ),
    );
    add(
        "p3 chacha",
        s_client(
            "P3",
            "-servername a.test -ciphersuites TLS_CHACHA20_POLY1305_SHA256",
        ),
    );
    add(
        "p3 client order",
        s_client(
            "P3",
            "-servername a.test -ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384",
        ),
    );
    add("p4 server order", curl("a.test", "P4", w, "/"));
    add(
        "p4 server order s_client",
        s_client(
            "P4",
            "-servername a.test -cipher ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256",
        ),
    );
    add(
        "p4 only aes256",
        s_client(
            "P4",
            "-servername a.test -cipher ECDHE-RSA-AES256-GCM-SHA384",
        ),
    );
    add(
        "p4 no common cipher",
        s_client(
            "P4",
            "-servername a.test -cipher ECDHE-RSA-CHACHA20-POLY1305",
        ),
    );
    add(
        "p4 tls1.3 refused",
        s_client("P4", "-servername a.test -tls1_3"),
    );
    add("p7 tls1.3", s_client("P7", "-servername a.test"));
    add("p7 tls1.2", s_client("P7", "-servername a.test -tls1_2"));
    add("p7 curve", curl("a.test", "P7", w, "/curve"));
    add(
        "p7 curve tls1.2",
        curl("a.test", "P7", &format!("--tls-max 1.2 {w}"), "/curve"),
    );
    add(
        "p7 curve refused",
        s_client("P7", "-servername a.test -groups X25519"),
    );

    // Session resumption (a second connection in the same curl run reuses the session).
    let two = |host: &str, port: &str, args: &str| {
        format!(
            "timeout 10 curl -s --cacert ca.crt --resolve {host}:${port}:127.0.0.1 {args} -H 'Connection: close' https://{host}:${port}/ https://{host}:${port}/"
        )
    };
    add("resume p1 tls1.2 cache", two("a.test", "P1", ""));
    add("resume p3 tls1.3 tickets", two("a.test", "P3", ""));
    add("resume p4 none", two("a.test", "P4", ""));
    add("resume p7 tls1.3", two("a.test", "P7", "--http1.1"));
    add(
        "resume p7 tls1.2",
        two("a.test", "P7", "--http1.1 --tls-max 1.2"),
    );
    // A session that cannot be resumed is not written by s_client (rustls gives it no id):
    // the second connection is then a new one, as with the reference's unused id.
    let resume = |port: &str, args: &str| {
        format!(
            "rm -f $SESS; timeout 10 openssl s_client -connect 127.0.0.1:${port} -CAfile ca.crt -servername a.test {args} -ign_eof -sess_out $SESS < get.txt > /dev/null 2>&1; IN=; [ -s $SESS ] && IN=\"-sess_in $SESS\"; timeout 10 openssl s_client -connect 127.0.0.1:${port} -CAfile ca.crt -servername a.test {args} -ign_eof $IN < get.txt 2>/dev/null | grep -E '^(New|Reused),|^p[0-9]|^a\\|'"
        )
    };
    add("s_client resume p1", resume("P1", ""));
    add("s_client resume p1 no ticket", resume("P1", "-no_ticket"));
    add("s_client resume p3", resume("P3", ""));
    add("s_client resume p4", resume("P4", ""));
    add("s_client resume p7 tls1.2", resume("P7", "-tls1_2"));
    add("s_client resume p7 tls1.3", resume("P7", "-tls1_3"));

    // Client certificates.
    add("optional none", curl("b.test", "P1", w, "/"));
    add(
        "optional good",
        curl(
            "b.test",
            "P1",
            &format!("--cert client.crt --key client.key {w}"),
            "/",
        ),
    );
    add(
        "optional self-signed",
        curl(
            "b.test",
            "P1",
            &format!("--cert self.crt --key self.key {wi}"),
            "/",
        ),
    );
    add(
        "optional other ca",
        curl(
            "b.test",
            "P1",
            &format!("--cert other.crt --key other.key {wi}"),
            "/",
        ),
    );
    add(
        "optional raw cert",
        curl("b.test", "P1", "--cert client.crt --key client.key", "/raw"),
    );
    add("on none", curl("on.b.test", "P1", wi, "/"));
    add(
        "on good",
        curl(
            "on.b.test",
            "P1",
            &format!("--cert client.crt --key client.key {w}"),
            "/",
        ),
    );
    add(
        "on self-signed",
        curl(
            "on.b.test",
            "P1",
            &format!("--cert self.crt --key self.key {wi}"),
            "/",
        ),
    );
    add(
        "on other ca",
        curl(
            "on.b.test",
            "P1",
            &format!("--cert other.crt --key other.key {wi}"),
            "/",
        ),
    );
    add("on error_page none", curl("on.b.test", "P1", wi, "/ep"));
    add(
        "on error_page self-signed",
        curl(
            "on.b.test",
            "P1",
            &format!("--cert self.crt --key self.key {wi}"),
            "/ep",
        ),
    );
    add("noca none", curl("noca.b.test", "P1", w, "/"));
    add(
        "noca good",
        curl(
            "noca.b.test",
            "P1",
            &format!("--cert client.crt --key client.key {w}"),
            "/",
        ),
    );
    add(
        "noca self-signed",
        curl(
            "noca.b.test",
            "P1",
            &format!("--cert self.crt --key self.key {w}"),
            "/",
        ),
    );
    add(
        "noca other ca",
        curl(
            "noca.b.test",
            "P1",
            &format!("--cert other.crt --key other.key {w}"),
            "/",
        ),
    );
    add(
        "no verify ignores cert",
        curl(
            "a.test",
            "P1",
            &format!("--cert client.crt --key client.key {w}"),
            "/vars",
        ),
    );
    add("ca names requested", "timeout 10 openssl s_client -connect 127.0.0.1:$P1 -servername b.test -CAfile ca.crt < get.txt 2>/dev/null | grep -A1 'Acceptable client certificate CA names'".into());
    add("no ca names without verify", "timeout 10 openssl s_client -connect 127.0.0.1:$P1 -servername a.test -CAfile ca.crt < get.txt 2>/dev/null | grep -c 'Acceptable client certificate CA names'".into());
    add(
        "client cert h2",
        curl(
            "b.test",
            "P1",
            &format!("--http2 --cert client.crt --key client.key {w}"),
            "/",
        ),
    );

    // ssl_reject_handshake.
    add(
        "reject by sni",
        format!(
            "{} ; echo rc=$?",
            curl("rej.b.test", "P1", "-o /dev/null", "/")
        ),
    );
    add("reject s_client", s_client("P1", "-servername rej.b.test"));
    add(
        "p6 default rejects no sni",
        "timeout 10 curl -s -k -o /dev/null https://127.0.0.1:$P6/ ; echo rc=$?".to_string(),
    );
    add(
        "p6 default rejects unknown",
        format!(
            "{} ; echo rc=$?",
            curl("zz.test", "P6", "-k -o /dev/null", "/")
        ),
    );
    add("p6 named accepted", curl("a.test", "P6", w, "/"));
    add("p6 s_client unknown", s_client("P6", "-servername zz.test"));

    // Plain HTTP on the HTTPS port.
    add(
        "plain http",
        "timeout 10 curl -s -i http://127.0.0.1:$P1/ | tr -d '\\r'".into(),
    );
    add(
        "plain http a",
        "timeout 10 curl -s -i -H 'Host: a.test' http://127.0.0.1:$P1/x | tr -d '\\r'".into(),
    );
    add(
        "plain http 497 redirect",
        "timeout 10 curl -s -i -H 'Host: p.b.test' http://127.0.0.1:$P1/path?q=1 | tr -d '\\r'"
            .into(),
    );
    add(
        "plain http 497 internal",
        "timeout 10 curl -s -i -H 'Host: q.b.test' http://127.0.0.1:$P1/x | tr -d '\\r'".into(),
    );
    add("plain http keepalive closes", "timeout 10 curl -s -o /dev/null -w '%{http_code} %{num_connects}\\n' http://127.0.0.1:$P1/ http://127.0.0.1:$P1/".into());
    add(
        "plain http/1.0",
        "timeout 10 curl -s -i --http1.0 -H 'Host:' http://127.0.0.1:$P1/ | tr -d '\\r'".into(),
    );

    // Redirects and pages over TLS.
    add(
        "redirect absolute https",
        curl("a.test", "P1", wi, "/redir"),
    );
    add("rewrite redirect https", curl("a.test", "P1", wi, "/rel"));
    add("dir redirect https", curl("a.test", "P1", wi, "/dir"));
    add("404 over tls", curl("a.test", "P1", wi, "/dir/nothing"));
    add("keepalive over tls", "timeout 10 curl -s --cacert ca.crt --resolve a.test:$P1:127.0.0.1 https://a.test:$P1/ https://a.test:$P1/ -w '%{num_connects}\\n'".into());
    add(
        "http/1.0 over tls",
        curl("a.test", "P1", &format!("--http1.0 {w}"), "/"),
    );
    add(
        "alpn http/1.1 on h1 port",
        curl("a.test", "P1", &format!("--http2 {w}"), "/"),
    );

    // HTTP/2 over TLS through every phase.
    for (name, args, path) in [
        ("h2 root", "", "/"),
        ("h2 query", "", "/?a=1&b=2"),
        ("h2 rewrite", "", "/rw/x?y=1"),
        ("h2 deny", "-i", "/deny"),
        ("h2 set", "", "/set"),
        ("h2 if return", "-i", "/set?a=1"),
        ("h2 lua", "-H 'X-A: hello'", "/lua?k=1"),
        ("h2 lua access denied", "-i", "/lua?k=0"),
        ("h2 body", "-d 'payload=1'", "/body"),
        ("h2 headers", "-i", "/hdr"),
        ("h2 error_page", "-i", "/missing/x"),
        ("h2 default 404", "-i", "/plain404/x"),
        ("h2 redirect", "-i", "/redir"),
        ("h2 lua exit", "-i", "/exit"),
        ("h2 cookie", "-H 'Cookie: a=1; b=2' -A agent/1", "/cookie"),
        ("h2 head", "-I", "/"),
        ("h2 lua raw_header", "", "/raw"),
        ("h2 lua headers", "-A ua/1", "/hdrs?q=1"),
        ("h2 lua var and header", "-i", "/ctx"),
        ("h2 host header", "-H 'Host: other.test'", "/"),
    ] {
        add(
            name,
            curl(
                "a.test",
                "P2",
                &format!("--http2 {args} -w '|%{{http_code}} %{{http_version}}\\n'"),
                path,
            ),
        );
    }
    add(
        "h2 big body",
        format!("{} | md5sum", curl("a.test", "P2", "--http2", "/big")),
    );
    add(
        "h2 big body size",
        curl(
            "a.test",
            "P2",
            "--http2 -o /dev/null -w '%{size_download} %{http_version}\\n'",
            "/big",
        ),
    );
    add("h2 many streams", "timeout 20 curl -s --cacert ca.crt --resolve a.test:$P2:127.0.0.1 --http2 -w '%{http_version} %{num_connects}\\n' https://a.test:$P2/[1-5] | sort | uniq -c".into());
    add("h2 parallel", "timeout 20 curl -s --cacert ca.crt --resolve a.test:$P2:127.0.0.1 --http2 --parallel -w '%{http_version}\\n' https://a.test:$P2/set https://a.test:$P2/dst https://a.test:$P2/ | sort".into());
    add(
        "h1.1 on h2 port",
        curl(
            "a.test",
            "P2",
            "--http1.1 -w '|%{http_code} %{http_version}\\n'",
            "/lua?k=1",
        ),
    );
    add("h2 alpn s_client", "timeout 10 openssl s_client -connect 127.0.0.1:$P2 -servername a.test -CAfile ca.crt -alpn h2,http/1.1 < /dev/null 2>&1 | grep -aE '^ALPN'".into());
    add("h2 alpn only http/1.1", "timeout 10 openssl s_client -connect 127.0.0.1:$P2 -servername a.test -CAfile ca.crt -alpn http/1.1 < /dev/null 2>&1 | grep -aE '^ALPN|^No ALPN'".into());
    add("h1 port alpn h2 only", "timeout 10 openssl s_client -connect 127.0.0.1:$P1 -servername a.test -CAfile ca.crt -alpn h2 < /dev/null 2>&1 | grep -E '^ALPN|^No ALPN|alert' | sed 's/^.*:error:[0-9A-F]*:/error:/; s/:[^:]*:[0-9]*:SSL alert number/ SSL alert number/'".into());
    add("nghttp h2", "timeout 10 nghttp -n -s https://127.0.0.1:$P2/ 2>&1 | grep -c 'Request'; timeout 10 nghttp https://127.0.0.1:$P2/set".into());
    add("nghttp headers", "timeout 10 nghttp -v https://127.0.0.1:$P2/hdr 2>&1 | grep -E '^ *\\[[ 0-9.]*\\] recv \\(stream_id=[0-9]*\\) (:status|x-|content-|server)' | sed 's/^.*recv/recv/'".into());
    add(
        "p7 h2 ecdsa",
        curl("a.test", "P7", "--http2 -w '|%{http_version}\\n'", "/"),
    );

    // h2c with prior knowledge.
    add("h2c root", "timeout 10 curl -s --http2-prior-knowledge -H 'Host: a.test' -w '|%{http_code} %{http_version}\\n' http://127.0.0.1:$P5/".into());
    add("h2c lua", "timeout 10 curl -s --http2-prior-knowledge -w '|%{http_code} %{http_version}\\n' http://127.0.0.1:$P5/lua".into());
    add(
        "h2c nghttp",
        "timeout 10 nghttp http://127.0.0.1:$P5/".into(),
    );
    add("h2c http/1.1 refused", "timeout 10 curl -s --http1.1 http://127.0.0.1:$P5/ -o /dev/null -w '%{http_code}\\n'; echo rc=$?".into());
    v
}

/// Every case prints the same on oxresty as on the reference.
#[test]
fn tls_and_h2_match_the_reference() {
    let lua = Path::new(LUA_MODULE).exists() && Path::new(NDK_MODULE).exists();
    if !Path::new(REFERENCE).exists() || !lua {
        eprintln!("skipped: the reference (with its lua module) is not installed");
        return;
    }
    for c in ["openssl", "curl", "nghttp", "timeout", "md5sum"] {
        if !have(c) {
            eprintln!("skipped: {c} is not installed (scripts/setup-debian.sh)");
            return;
        }
    }
    let certs = tempfile::tempdir().expect("tempdir");
    make_pki(certs.path());
    let reference = start(REFERENCE, certs.path(), true);
    let ox = start(OXRESTY, certs.path(), true);
    let cases = cases();
    assert!(cases.len() >= 80, "{} cases", cases.len());
    let mut failed = Vec::new();
    for (name, cmd) in &cases {
        let want = run(&reference, certs.path(), "ref", cmd);
        let got = run(&ox, certs.path(), "ox", cmd);
        if want.trim().is_empty() {
            failed.push(format!(
                "{name}: the reference printed nothing\n  cmd: {cmd}"
            ));
        } else if want != got {
            failed.push(format!(
                "{name}\n  cmd: {cmd}\n  reference: {want:?}\n  oxresty:   {got:?}"
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} cases differ:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
}

/// An HTTP/2 frame: 9-byte header and payload.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Reads frames until a GOAWAY or the end of the connection; true if either came within
/// `limit`.
fn ends_with_goaway_or_close(mut s: TcpStream, limit: Duration) -> bool {
    use std::io::Read;
    let deadline = Instant::now() + limit;
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = Vec::new();
    let mut tmp = [0u8; 65536];
    while Instant::now() < deadline {
        match s.read(&mut tmp) {
            Ok(0) => return true,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return true,
        }
        // Walk the complete frames received so far.
        let mut at = 0;
        while buf.len() >= at + 9 {
            let len = (usize::from(buf[at]) << 16)
                | (usize::from(buf[at + 1]) << 8)
                | usize::from(buf[at + 2]);
            if buf[at + 3] == 7 {
                return true;
            }
            if buf.len() < at + 9 + len {
                break;
            }
            at += 9 + len;
        }
        buf.drain(..at);
    }
    false
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Rapid reset (HEADERS + RST_STREAM over and over) and a CONTINUATION flood each end in a
/// GOAWAY or a close, a PING/SETTINGS flood is answered within bounded memory, the worker's
/// memory stays bounded, another client is served meanwhile; an idle connection is closed
/// after `keepalive_timeout`.
#[test]
fn h2_floods_are_cut_off() {
    if !have("curl") {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for sub in ["logs", "conf"] {
        std::fs::create_dir_all(dir.path().join(sub)).expect("prefix");
    }
    let port = free_port();
    let conf = format!(
        "worker_processes 1;\nerror_log logs/error.log info;\npid logs/nginx.pid;\nevents {{}}\nhttp {{ access_log off; keepalive_timeout 1s; server {{ listen 127.0.0.1:{port} http2; location / {{ return 200 \"ok\\n\"; }} }} }}\n"
    );
    std::fs::write(dir.path().join("conf/nginx.conf"), conf).expect("conf");
    let mut child = Command::new(OXRESTY)
        .arg("-p")
        .arg(format!("{}/", dir.path().display()))
        .args(["-c", "conf/nginx.conf", "-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("oxresty starts");
    struct Kill<'a>(&'a mut Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let pid = child.id();
    let _kill = Kill(&mut child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "oxresty did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let served = || {
        sh(
            dir.path(),
            &format!("timeout 10 curl -s --http2-prior-knowledge http://127.0.0.1:{port}/ -w '%{{http_version}}'"),
        )
    };
    assert_eq!(served(), "ok\n2");
    let before = rss_kb(pid);
    let preface = [
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
        frame(4, 0, 0, &[]),
    ]
    .concat();
    let attack = |payload: Vec<u8>, limit: u64| {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let mut w = s.try_clone().expect("clone");
        let _ = w.set_write_timeout(Some(Duration::from_secs(5)));
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let _ = w.write_all(&payload);
        });
        let t = Instant::now();
        let ended = ends_with_goaway_or_close(s, Duration::from_secs(limit));
        eprintln!("attack ended={ended} after {:?}", t.elapsed());
        let _ = writer.join();
        ended
    };

    // Rapid reset: 100000 streams opened and cancelled at once.
    let mut rr = preface.clone();
    for i in 0..100_000u32 {
        let id = 2 * i + 1;
        rr.extend(frame(1, 0x5, id, &[0x82, 0x86, 0x84]));
        rr.extend(frame(3, 0, id, &8u32.to_be_bytes()));
    }
    assert!(attack(rr, 30), "rapid reset: the connection was not closed");
    assert_eq!(
        served(),
        "ok\n2",
        "another client is served after a rapid reset"
    );

    // CONTINUATION flood: one header block that never ends (64 MB of CONTINUATION frames).
    let mut cf = preface.clone();
    cf.extend(frame(1, 0x1, 1, &[0x82, 0x86, 0x84]));
    let mut field = vec![0x00, 0x03, b'x', b'-', b'a', 0x7f, 0x81, 0x7f];
    field.extend(std::iter::repeat_n(b'v', 255));
    let block: Vec<u8> = field.iter().copied().cycle().take(16000).collect();
    for _ in 0..4096 {
        cf.extend(frame(9, 0, 1, &block));
    }
    assert!(
        attack(cf, 30),
        "CONTINUATION flood: the connection was not closed"
    );
    assert_eq!(
        served(),
        "ok\n2",
        "another client is served after a CONTINUATION flood"
    );

    // PING and SETTINGS floods.
    let mut pf = preface.clone();
    for i in 0..200_000u64 {
        pf.extend(frame(6, 0, 0, &i.to_be_bytes()));
        pf.extend(frame(4, 0, 0, &[0, 3, 0, 0, 0, 100]));
    }
    let _ = attack(pf, 3);
    assert_eq!(
        served(),
        "ok\n2",
        "another client is served after a PING/SETTINGS flood"
    );

    // An idle HTTP/2 connection is closed after keepalive_timeout (1s here).
    let mut idle = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    {
        use std::io::Write;
        idle.write_all(&preface).expect("preface");
    }
    let t = Instant::now();
    assert!(ends_with_goaway_or_close(idle, Duration::from_secs(10)));
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "closed too early"
    );

    let after = rss_kb(pid);
    assert!(
        after < before + 64 * 1024,
        "memory grew from {before} kB to {after} kB"
    );
}

/// `-t` on certificate problems prints what the reference prints.
#[test]
fn certificate_problems_at_t_match_the_reference() {
    if !Path::new(REFERENCE).exists() || !have("openssl") {
        eprintln!("skipped: the reference or openssl is not installed");
        return;
    }
    let certs = tempfile::tempdir().expect("tempdir");
    make_pki(certs.path());
    let c = certs.path().display().to_string();
    std::fs::write(certs.path().join("garbage.pem"), "not a certificate\n").expect("write");
    let cases = [
        ("key mismatch", format!("ssl_certificate {c}/a.crt; ssl_certificate_key {c}/b.key;")),
        ("ecdsa key mismatch", format!("ssl_certificate {c}/a-ec.crt; ssl_certificate_key {c}/a.key;")),
        ("second pair mismatch", format!("ssl_certificate {c}/a.crt; ssl_certificate_key {c}/a.key; ssl_certificate {c}/a-ec.crt; ssl_certificate_key {c}/b.key;")),
        ("matching pairs", format!("ssl_certificate {c}/a.crt; ssl_certificate_key {c}/a.key; ssl_certificate {c}/a-ec.crt; ssl_certificate_key {c}/a-ec.key;")),
        ("missing certificate file", format!("ssl_certificate {c}/none.crt; ssl_certificate_key {c}/a.key;")),
        ("missing key file", format!("ssl_certificate {c}/a.crt; ssl_certificate_key {c}/none.key;")),
        ("garbage certificate", format!("ssl_certificate {c}/garbage.pem; ssl_certificate_key {c}/a.key;")),
        ("garbage key", format!("ssl_certificate {c}/a.crt; ssl_certificate_key {c}/garbage.pem;")),
        ("no key", format!("ssl_certificate {c}/a.crt;")),
        ("no certificate", String::new()),
        ("verify without ca", format!("ssl_certificate {c}/a.crt; ssl_certificate_key {c}/a.key; ssl_verify_client on;")),
    ];
    let normalize = |out: &[u8]| -> String {
        String::from_utf8_lossy(out)
            .lines()
            .map(|l| {
                // "YYYY/MM/DD HH:MM:SS [level] pid#tid: text" -> "[level] text"
                match (l.get(20..), l.find("]"), l.find(": ")) {
                    (Some(_), Some(b), Some(colon)) if l.starts_with("20") && colon > b => {
                        format!("{} {}", &l[20..=b], &l[colon + 2..])
                    }
                    _ => l.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut failed = Vec::new();
    for (name, ssl) in &cases {
        let mut outs = Vec::new();
        for bin in [REFERENCE, OXRESTY] {
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::create_dir_all(dir.path().join("conf")).expect("conf");
            std::fs::create_dir_all(dir.path().join("logs")).expect("logs");
            let conf = format!(
                "events {{}}\nhttp {{\n    server {{\n        listen 127.0.0.1:{} ssl;\n        {ssl}\n    }}\n}}\n",
                free_port()
            );
            std::fs::write(dir.path().join("conf/nginx.conf"), conf).expect("conf");
            let out = Command::new(bin)
                .arg("-t")
                .arg("-p")
                .arg(format!("{}/", dir.path().display()))
                .args(["-c", "conf/nginx.conf", "-e", "logs/error.log"])
                .output()
                .expect("runs");
            let text = normalize(&out.stderr).replace(&dir.path().display().to_string(), "PREFIX");
            outs.push((text, out.status.code()));
        }
        if outs[0] != outs[1] {
            failed.push(format!(
                "{name}:\n  reference: {:?}\n  oxresty:   {:?}",
                outs[0], outs[1]
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// `ssl_ciphers`/`ssl_ecdh_curve` entries rustls has no equivalent for are reported with a
/// `[warn]` at startup, never refused, and the rest is served.
#[test]
fn unsupported_ciphers_warn_at_startup() {
    if !have("openssl") || !have("curl") {
        eprintln!("skipped: openssl or curl is not installed");
        return;
    }
    let certs = tempfile::tempdir().expect("tempdir");
    make_pki(certs.path());
    let dir = tempfile::tempdir().expect("tempdir");
    for sub in ["logs", "conf"] {
        std::fs::create_dir_all(dir.path().join(sub)).expect("prefix");
    }
    let port = free_port();
    let c = certs.path().display();
    let conf = format!(
        "events {{}}\npid logs/nginx.pid;\nhttp {{ access_log off; server {{ listen 127.0.0.1:{port} ssl; server_name a.test; ssl_certificate {c}/a.crt; ssl_certificate_key {c}/a.key; ssl_ciphers \"DHE-RSA-AES256-SHA:CAMELLIA:ECDHE-RSA-AES128-GCM-SHA256:!aNULL\"; ssl_protocols TLSv1.2; ssl_ecdh_curve X448:prime256v1; location / {{ return 200 \"$ssl_cipher $ssl_curve\\n\"; }} }} }}\n"
    );
    std::fs::write(dir.path().join("conf/nginx.conf"), conf).expect("conf");
    let mut child = Command::new(OXRESTY)
        .arg("-p")
        .arg(format!("{}/", dir.path().display()))
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
        .stderr(Stdio::piped())
        .spawn()
        .expect("oxresty starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = sh(
        certs.path(),
        &format!("timeout 10 curl -s --cacert ca.crt --resolve a.test:{port}:127.0.0.1 https://a.test:{port}/"),
    );
    let _ = child.kill();
    let out = child.wait_with_output().expect("exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(got, "ECDHE-RSA-AES128-GCM-SHA256 prime256v1\n");
    assert!(
        stderr.contains(
            "nginx: [warn] ssl_ciphers: \"DHE-RSA-AES256-SHA\" is not supported by rustls, ignored"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "nginx: [warn] ssl_ciphers: \"CAMELLIA\" selects no cipher suite rustls has, ignored"
        ),
        "{stderr}"
    );
    assert!(
        stderr
            .contains("nginx: [warn] ssl_ecdh_curve: \"X448\" is not supported by rustls, ignored"),
        "{stderr}"
    );
}

/// The project's decision: TLSv1.3 is on by default (nginx >= 1.23.4's `TLSv1.2 TLSv1.3`),
/// where the reference 1.22 offers at most TLSv1.2 without `ssl_protocols`.
#[test]
fn tls13_is_on_by_default() {
    if !have("openssl") || !have("curl") {
        eprintln!("skipped: openssl or curl is not installed");
        return;
    }
    let certs = tempfile::tempdir().expect("tempdir");
    make_pki(certs.path());
    let c = certs.path().display().to_string();
    let answer = |bin: &str| {
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["logs", "conf"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("prefix");
        }
        let port = free_port();
        let conf = format!(
            "events {{}}\npid logs/nginx.pid;\nhttp {{ access_log off; server {{ listen 127.0.0.1:{port} ssl; server_name a.test; ssl_certificate {c}/a.crt; ssl_certificate_key {c}/a.key; location / {{ return 200 \"$ssl_protocol\\n\"; }} }} }}\n"
        );
        std::fs::write(dir.path().join("conf/nginx.conf"), conf).expect("conf");
        let mut child = Command::new(bin)
            .arg("-p")
            .arg(format!("{}/", dir.path().display()))
            .args(["-c", "conf/nginx.conf", "-e", "logs/error.log"])
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("server starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let got = sh(
            certs.path(),
            &format!("timeout 10 curl -s --cacert ca.crt --resolve a.test:{port}:127.0.0.1 https://a.test:{port}/"),
        );
        let _ = child.kill();
        let _ = child.wait();
        got
    };
    assert_eq!(answer(OXRESTY), "TLSv1.3\n");
    if Path::new(REFERENCE).exists() {
        assert_eq!(
            answer(REFERENCE),
            "TLSv1.2\n",
            "the reference 1.22's default"
        );
    }
}
