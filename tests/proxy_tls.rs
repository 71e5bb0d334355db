//! `proxy_pass https://` and the `proxy_ssl_*` directives, differential: a backend (the
//! reference nginx, TLS server blocks that print `$ssl_server_name`, `$ssl_protocol`,
//! `$ssl_session_reused`, `$ssl_client_s_dn`...) is proxied to by the reference and by
//! oxresty with the same front configuration; every request must give the same status, body
//! and error-log lines on both, and the value the case expects. The certificates are made by
//! the test with the `openssl` command. Plus `-t` on bad `proxy_ssl_*` files and settings.
//! Without the reference or openssl, the tests say so and pass.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod common;
use common::{free_port, have};

const OXRESTY: &str = env!("CARGO_BIN_EXE_oxresty");
const REFERENCE: &str = "/usr/sbin/nginx";
const LUA_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_lua_module.so";
const NDK_MODULE: &str = "/usr/lib/nginx/modules/ndk_http_module.so";

/// A CA; `a.test` (+ `*.a.test`) and `b.test` signed by it; another CA; a client
/// certificate; a self-signed `a.test`; `c.test` under an intermediate CA; `r.test`,
/// revoked in `ca.crl`. Keys readable by the reference's workers.
fn make_pki(dir: &Path) -> bool {
    let script = r#"set -e
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj "/O=Oxresty Test/CN=Test CA" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca2.key -out ca2.crt -days 30 -subj "/CN=Other CA" 2>/dev/null
for n in a b; do
  openssl req -newkey rsa:2048 -nodes -keyout $n.key -out $n.csr -subj "/CN=$n.test" 2>/dev/null
  printf "subjectAltName=DNS:$n.test,DNS:*.$n.test\n" > $n.ext
  openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -set_serial 0x1$n -out $n.crt -days 30 -extfile $n.ext 2>/dev/null
done
printf "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n" > client.ext
openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj "/C=US/O=Test, Inc./CN=client one" 2>/dev/null
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -set_serial 0x0abc -out client.crt -days 30 -extfile client.ext 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout self.key -out self.crt -days 30 -subj "/CN=a.test" 2>/dev/null
printf "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n" > ca.ext
openssl req -newkey rsa:2048 -nodes -keyout inter.key -out inter.csr -subj "/CN=Inter CA" 2>/dev/null
openssl x509 -req -in inter.csr -CA ca.crt -CAkey ca.key -set_serial 0x77 -out inter.crt -days 30 -extfile ca.ext 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout c.key -out c.csr -subj "/CN=c.test" 2>/dev/null
printf "subjectAltName=DNS:c.test\n" > c.ext
openssl x509 -req -in c.csr -CA inter.crt -CAkey inter.key -set_serial 0x1c -out c.crt -days 30 -extfile c.ext 2>/dev/null
cat c.crt inter.crt > c-chain.crt
openssl req -newkey rsa:2048 -nodes -keyout r.key -out r.csr -subj "/CN=r.test" 2>/dev/null
printf "subjectAltName=DNS:r.test\n" > r.ext
openssl x509 -req -in r.csr -CA ca.crt -CAkey ca.key -set_serial 0x0bad -out r.crt -days 30 -extfile r.ext 2>/dev/null
printf '[ ca ]\ndefault_ca = CA_default\n[ CA_default ]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 30\n' > ca.cnf
touch index.txt; echo 01 > crlnumber
openssl ca -config ca.cnf -keyfile ca.key -cert ca.crt -revoke r.crt > /dev/null 2>&1
openssl ca -config ca.cnf -keyfile ca.key -cert ca.crt -gencrl -out ca.crl > /dev/null 2>&1
chmod 644 *.key
chmod 755 .
echo ok
"#;
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output();
    out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "ok")
}

/// A running server; killed (and its prefix removed) when dropped.
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

fn start(bin: &str, conf: &str, wait_ports: &[u16], port: u16) -> Server {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "oxresty-ptls-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["logs", "conf"] {
        std::fs::create_dir_all(dir.join(sub)).expect("prefix");
    }
    std::fs::write(dir.join("conf/nginx.conf"), conf).expect("conf");
    let child = Command::new(bin)
        .arg("-p")
        .arg(format!("{}/", dir.display()))
        .args(["-c", "conf/nginx.conf", "-e", "logs/error.log"])
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    let mut s = Server { child, dir, port };
    let deadline = Instant::now() + Duration::from_secs(15);
    while wait_ports
        .iter()
        .any(|&p| TcpStream::connect(("127.0.0.1", p)).is_err())
    {
        let exited = s.child.try_wait().ok().flatten().is_some();
        if exited || Instant::now() > deadline {
            let log = std::fs::read_to_string(s.dir.join("logs/error.log"));
            panic!("{bin} did not start: {log:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    s
}

/// `GET path` on a new connection: (status, body).
fn get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(15)));
    let req = format!("GET {path} HTTP/1.0\r\nHost: front\r\n\r\n");
    let _ = s.write_all(req.as_bytes());
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    // error pages differ only by the server's name
    let body = match (body.find("<title>"), body.find("</title>")) {
        (Some(a), Some(b)) if body.starts_with("<html>") && a + 7 <= b => {
            body[a + 7..b].to_string()
        }
        _ => body,
    };
    (status, body)
}

/// The error log's `[error]`/`[warn]`/`[crit]` lines as `[level] text`, ports named.
fn log_lines(s: &Server, ports: &[(u16, &str)]) -> Vec<String> {
    let text = std::fs::read_to_string(s.dir.join("logs/error.log")).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains("[error]") || l.contains("[warn]") || l.contains("[crit]"))
        .map(|l| {
            let level_at = l.find('[').unwrap_or(0);
            let level_end = l[level_at..].find(']').map_or(0, |i| level_at + i + 1);
            // after "pid#tid: *N "
            let rest = &l[level_end..];
            let rest = rest.split_once(": ").map_or(rest, |(_, r)| r);
            let rest = match rest.strip_prefix('*') {
                Some(r) => r.split_once(' ').map_or(r, |(_, t)| t),
                None => rest,
            };
            let mut line = format!("{} {rest}", &l[level_at..level_end]);
            for (p, name) in ports {
                line = line.replace(&p.to_string(), name);
            }
            line
        })
        .collect()
}

const BACKEND: &str = r#"
worker_processes 1;
error_log logs/error.log info;
pid logs/nginx.pid;
events {}
http {
    access_log off;
    ssl_session_cache shared:B:1m;
    ssl_protocols TLSv1.2 TLSv1.3;
    server {
        listen 127.0.0.1:BA ssl;
        ssl_certificate CERTS/a.crt;
        ssl_certificate_key CERTS/a.key;
        ssl_verify_client optional;
        ssl_client_certificate CERTS/ca.crt;
        location / { return 200 "A sni=[$ssl_server_name] proto=$ssl_protocol reused=$ssl_session_reused dn=[$ssl_client_s_dn] verify=$ssl_client_verify host=$host uri=$request_uri conn=$connection_requests\n"; }
    }
    server {
        listen 127.0.0.1:BS ssl;
        ssl_certificate CERTS/self.crt;
        ssl_certificate_key CERTS/self.key;
        location / { return 200 "SELF sni=[$ssl_server_name]\n"; }
    }
    server {
        listen 127.0.0.1:BP;
        location / { return 200 "PLAIN\n"; }
    }
    server {
        listen 127.0.0.1:BB ssl;
        listen 127.0.0.1:BN ssl;
        ssl_certificate CERTS/b.crt;
        ssl_certificate_key CERTS/b.key;
        location / { return 200 "B sni=[$ssl_server_name] proto=$ssl_protocol reused=$ssl_session_reused cipher=$ssl_cipher\n"; }
    }
    server {
        listen 127.0.0.1:BQ ssl;
        ssl_certificate CERTS/b.crt;
        ssl_certificate_key CERTS/b.key;
        location / { return 200 "Q reused=$ssl_session_reused\n"; }
    }
    server {
        listen 127.0.0.1:BX ssl;
        ssl_protocols TLSv1.3;
        ssl_certificate CERTS/a.crt;
        ssl_certificate_key CERTS/a.key;
        location / { return 200 "X\n"; }
    }
    server {
        listen 127.0.0.1:BY ssl;
        ssl_protocols TLSv1.2;
        ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256;
        ssl_certificate CERTS/a.crt;
        ssl_certificate_key CERTS/a.key;
        location / { return 200 "Y\n"; }
    }
    server {
        listen 127.0.0.1:BC ssl;
        ssl_certificate CERTS/c-chain.crt;
        ssl_certificate_key CERTS/c.key;
        location / { return 200 "C\n"; }
    }
    server {
        listen 127.0.0.1:BR ssl;
        ssl_certificate CERTS/r.crt;
        ssl_certificate_key CERTS/r.key;
        location / { return 200 "R\n"; }
    }
}
"#;

const FRONT: &str = r#"
worker_processes 1;
error_log logs/error.log info;
pid logs/nginx.pid;
events {}
http {
    access_log off;
    proxy_ssl_session_reuse off;
    upstream ups { server 127.0.0.1:BA; }
    upstream ka { server 127.0.0.1:BA; keepalive 4; }
    upstream two { server 127.0.0.1:BT; server 127.0.0.1:BA; }
    upstream twov { server 127.0.0.1:BS; server 127.0.0.1:BA; }
    upstream twov2 { server 127.0.0.1:BS; server 127.0.0.1:BA; }
    upstream same { server 127.0.0.1:BQ; }
    LUA_UPSTREAM
    server {
        listen 127.0.0.1:FRONT;
        proxy_ssl_trusted_certificate CERTS/ca.crt;
        location /plain { proxy_pass https://127.0.0.1:BA/; }
        location /sni { proxy_ssl_server_name on; proxy_ssl_name a.test; proxy_pass https://127.0.0.1:BA/; }
        location /sniport { proxy_ssl_server_name on; proxy_ssl_name b.test:443; proxy_pass https://127.0.0.1:BA/; }
        location /snivar { proxy_ssl_server_name on; proxy_ssl_name $arg_n; proxy_pass https://127.0.0.1:BA/; }
        location /snihost { proxy_ssl_server_name on; proxy_pass https://localhost:BA/; }
        location /snioff { proxy_ssl_name a.test; proxy_pass https://127.0.0.1:BA/; }
        location /ups { proxy_ssl_server_name on; proxy_pass https://ups/; }
        location /v { proxy_ssl_verify on; proxy_ssl_name a.test; proxy_pass https://127.0.0.1:BA/; }
        location /vwild { proxy_ssl_verify on; proxy_ssl_name x.a.test; proxy_pass https://127.0.0.1:BA/; }
        location /vbad { proxy_ssl_verify on; proxy_ssl_name c.test; proxy_pass https://127.0.0.1:BA/; }
        location /vip { proxy_ssl_verify on; proxy_pass https://127.0.0.1:BA/; }
        location /vself { proxy_ssl_verify on; proxy_ssl_name a.test; proxy_pass https://127.0.0.1:BS/; }
        location /vca2 { proxy_ssl_verify on; proxy_ssl_trusted_certificate CERTS/ca2.crt; proxy_ssl_name a.test; proxy_pass https://127.0.0.1:BA/; }
        location /vnext { proxy_ssl_verify on; proxy_ssl_name a.test; proxy_pass https://twov/; }
        location /vnonext { proxy_next_upstream off; proxy_ssl_verify on; proxy_ssl_name a.test; proxy_pass https://twov2/; }
        location /cert { proxy_ssl_certificate CERTS/client.crt; proxy_ssl_certificate_key CERTS/client.key; proxy_pass https://127.0.0.1:BA/; }
        location /certvar { proxy_ssl_certificate CERTS/$arg_c.crt; proxy_ssl_certificate_key CERTS/$arg_c.key; proxy_pass https://127.0.0.1:BA/; }
        location /ka { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass https://ka/; }
        location /two { proxy_connect_timeout 1s; proxy_pass https://two/; }
        location /silent { proxy_connect_timeout 1s; proxy_pass https://127.0.0.1:BT/; }
        location /toplain { proxy_pass https://127.0.0.1:BP/; }
        location /reuse { proxy_ssl_session_reuse on; proxy_pass https://127.0.0.1:BB/; }
        location /noreuse { proxy_pass https://127.0.0.1:BB/; }
        location /t13 { proxy_ssl_protocols TLSv1.3; proxy_pass https://127.0.0.1:BB/; }
        location /ciph { proxy_ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256; proxy_pass https://127.0.0.1:BB/; }
        location /ciph2 { proxy_ssl_ciphers 'ECDHE+CHACHA20'; proxy_pass https://127.0.0.1:BB/; }
        location /var { set $u 127.0.0.1:BB; proxy_pass https://$u/; }
        location /varreuse { proxy_ssl_session_reuse on; set $u 127.0.0.1:BB; proxy_pass https://$u/; }
        location /varnew { proxy_ssl_session_reuse on; set $u 127.0.0.1:BN; proxy_pass https://$u/; }
        location /sq1 { proxy_ssl_session_reuse on; proxy_pass https://same/; }
        location /sq2 { proxy_ssl_session_reuse on; proxy_ssl_verify on; proxy_ssl_name b.test; proxy_pass https://same/; }
        location /d0 { proxy_ssl_verify on; proxy_ssl_verify_depth 0; proxy_ssl_name c.test; proxy_pass https://127.0.0.1:BC/; }
        location /d1 { proxy_ssl_verify on; proxy_ssl_name c.test; proxy_pass https://127.0.0.1:BC/; }
        location /a0 { proxy_ssl_verify on; proxy_ssl_verify_depth 0; proxy_ssl_name a.test; proxy_pass https://127.0.0.1:BA/; }
        location /crl { proxy_ssl_verify on; proxy_ssl_crl CERTS/ca.crl; proxy_ssl_name r.test; proxy_pass https://127.0.0.1:BR/; }
        location /crlok { proxy_ssl_verify on; proxy_ssl_crl CERTS/ca.crl; proxy_ssl_name a.test; proxy_pass https://127.0.0.1:BA/; }
        location /nocrl { proxy_ssl_verify on; proxy_ssl_name r.test; proxy_pass https://127.0.0.1:BR/; }
        location /p13 { proxy_pass https://127.0.0.1:BX/; }
        location /nociph { proxy_ssl_ciphers ECDHE-RSA-AES256-GCM-SHA384; proxy_pass https://127.0.0.1:BY/; }
        LUA_LOCATIONS
    }
}
"#;

const LUA_UPSTREAM: &str = r#"upstream lb { server 0.0.0.1; balancer_by_lua_block { local b = require "ngx.balancer"; assert(b.set_current_peer("127.0.0.1", tonumber(ngx.var.arg_p))) } keepalive 2; }"#;
const LUA_LOCATIONS: &str = r#"location /lb { proxy_ssl_session_reuse on; proxy_ssl_server_name on; proxy_pass https://lb/; }
        location /lbka { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass https://lb/; }"#;

/// (request, expected status, text the body contains, text some log line contains)
type Case = (String, u16, &'static str, &'static str);

fn cases(ba: u16, bb: u16, bs: u16, lua: bool) -> Vec<Case> {
    let mut v: Vec<Case> = Vec::new();
    let mut add = |p: &str, status: u16, body: &'static str, log: &'static str| {
        v.push((p.to_string(), status, body, log))
    };
    // no SNI by default, TLSv1.2 (nginx 1.22's proxy_ssl_protocols), no client certificate
    add(
        "/plain",
        200,
        "A sni=[] proto=TLSv1.2 reused=. dn=[] verify=NONE host=127.0.0.1",
        "",
    );
    add("/sni", 200, "A sni=[a.test]", "");
    add("/sniport", 200, "A sni=[b.test]", "");
    add("/snivar?n=x.a.test:99", 200, "A sni=[x.a.test]", "");
    add("/snivar?n=127.0.0.1", 200, "A sni=[]", "");
    add("/snihost", 200, "A sni=[localhost] proto=TLSv1.2", "");
    add("/snioff", 200, "A sni=[]", "");
    add("/ups", 200, "A sni=[ups]", "");
    add("/v", 200, "A sni=[] proto=TLSv1.2", "");
    add("/vwild", 200, "A sni=[]", "");
    add(
        "/vbad",
        502,
        "502 Bad Gateway",
        "[error] upstream SSL certificate does not match \"c.test\" while SSL handshaking to upstream",
    );
    add(
        "/vip",
        502,
        "502 Bad Gateway",
        "[error] upstream SSL certificate does not match \"127.0.0.1\" while SSL handshaking",
    );
    add(
        "/vself",
        502,
        "502 Bad Gateway",
        "[error] upstream SSL certificate verify error: (18:self-signed certificate) while SSL handshaking to upstream",
    );
    add(
        "/vca2",
        502,
        "502 Bad Gateway",
        "upstream SSL certificate verify error: (21:unable to verify the first certificate)",
    );
    // a failed verification is an error for proxy_next_upstream
    add(
        "/vnext",
        200,
        "A sni=[] proto=TLSv1.2",
        "[warn] upstream server temporarily disabled while SSL handshaking to upstream",
    );
    add("/vnonext", 502, "502 Bad Gateway", "");
    add(
        "/cert",
        200,
        "dn=[CN=client one,O=Test\\, Inc.,C=US] verify=SUCCESS",
        "",
    );
    add(
        "/certvar?c=client",
        200,
        "dn=[CN=client one,O=Test\\, Inc.,C=US] verify=SUCCESS",
        "",
    );
    add(
        "/certvar?c=none",
        500,
        "500 Internal Server Error",
        "cannot load certificate \"CERTS/none.crt\": BIO_new_file() failed",
    );
    // TLS connections kept alive
    add("/ka", 200, "host=ka uri=/ conn=1", "");
    add("/ka", 200, "host=ka uri=/ conn=2", "");
    add("/ka", 200, "host=ka uri=/ conn=3", "");
    add(
        "/silent",
        504,
        "504 Gateway Time-out",
        "[error] upstream timed out (110: Connection timed out) while SSL handshaking to upstream",
    );
    add("/two", 200, "A sni=[]", "");
    add(
        "/toplain",
        502,
        "502 Bad Gateway",
        "SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number) while SSL handshaking to upstream",
    );
    add("/reuse", 200, "B sni=[] proto=TLSv1.2 reused=.", "");
    add("/reuse", 200, "B sni=[] proto=TLSv1.2 reused=r", "");
    add("/reuse", 200, "reused=r", "");
    add("/noreuse", 200, "reused=.", "");
    add("/noreuse", 200, "reused=.", "");
    add(
        "/t13",
        200,
        "proto=TLSv1.3 reused=. cipher=TLS_AES_256_GCM_SHA384",
        "",
    );
    add("/ciph", 200, "cipher=ECDHE-RSA-AES128-GCM-SHA256", "");
    add("/ciph2", 200, "cipher=ECDHE-RSA-CHACHA20-POLY1305", "");
    add("/var", 200, "B sni=[] proto=TLSv1.2", "");
    // a URL with variables shares the session of the configured peer it names...
    add("/varreuse", 200, "B sni=[] proto=TLSv1.2 reused=r", "");
    // ... and keeps none for other addresses
    add("/varnew", 200, "B sni=[] proto=TLSv1.2 reused=.", "");
    add("/varnew", 200, "B sni=[] proto=TLSv1.2 reused=.", "");
    // one session per peer, whatever the location: the second location resumes the first
    // one's session, which carries its verification result (no trusted certificate then)
    add("/sq1", 200, "Q reused=.", "");
    add(
        "/sq2",
        502,
        "502 Bad Gateway",
        "upstream SSL certificate verify error: (20:unable to get local issuer certificate)",
    );
    // proxy_ssl_verify_depth: intermediates allowed between the certificate and the CA
    add(
        "/d0",
        502,
        "502 Bad Gateway",
        "verify error: (20:unable to get local issuer certificate)",
    );
    add("/d1", 200, "C", "");
    add("/a0", 200, "A sni=[]", "");
    // proxy_ssl_crl
    add(
        "/crl",
        502,
        "502 Bad Gateway",
        "upstream SSL certificate verify error: (23:certificate revoked)",
    );
    add("/crlok", 200, "A sni=[]", "");
    add("/nocrl", 200, "R", "");
    // handshake failures: the alert the upstream sent, in OpenSSL's words
    add(
        "/p13",
        502,
        "502 Bad Gateway",
        "[error] SSL_do_handshake() failed (SSL: error:0A00042E:SSL routines::tlsv1 alert protocol version:SSL alert number 70) while SSL handshaking to upstream",
    );
    add(
        "/nociph",
        502,
        "502 Bad Gateway",
        "[error] SSL_do_handshake() failed (SSL: error:0A000410:SSL routines::sslv3 alert handshake failure:SSL alert number 40) while SSL handshaking to upstream",
    );
    if lua {
        // balancer_by_lua peers: TLS, SNI from the upstream's name, no session kept
        let p = |port: u16, path: &str| format!("{path}?p={port}");
        v.push((p(bb, "/lb"), 200, "B sni=[lb] proto=TLSv1.2 reused=.", ""));
        v.push((p(bb, "/lb"), 200, "B sni=[lb] proto=TLSv1.2 reused=.", ""));
        v.push((p(bs, "/lb"), 200, "SELF sni=[lb]", ""));
        v.push((p(ba, "/lbka"), 200, "host=lb", ""));
        // the balancer's peer kept alive over TLS
        v.push((p(ba, "/lbka"), 200, "conn=2", ""));
    }
    v
}

/// Every request gives the same status, body and log lines through oxresty as through the
/// reference, and what the case expects.
#[test]
fn upstream_tls_matches_the_reference() {
    if !Path::new(REFERENCE).exists() || !have("openssl") {
        eprintln!("skipped: the reference or openssl is not installed (scripts/setup-debian.sh)");
        return;
    }
    let lua = Path::new(LUA_MODULE).exists() && Path::new(NDK_MODULE).exists();
    let certs = tempfile::tempdir().expect("tempdir");
    if !make_pki(certs.path()) {
        eprintln!("skipped: openssl could not make the test certificates");
        return;
    }
    let c = certs.path().display().to_string();
    let (ba, bs, bp, bb, bq) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let (bc, br, bn) = (free_port(), free_port(), free_port());
    let (bx, by) = (free_port(), free_port());
    // a peer that accepts (the kernel does) and never answers: handshake timeouts
    let silent = TcpListener::bind("127.0.0.1:0").expect("listener");
    let bt = silent.local_addr().expect("addr").port();
    let subst = |t: &str| {
        t.replace("CERTS", &c)
            .replace("BA", &ba.to_string())
            .replace("BS", &bs.to_string())
            .replace("BP", &bp.to_string())
            .replace("BB", &bb.to_string())
            .replace("BQ", &bq.to_string())
            .replace("BT", &bt.to_string())
            .replace("BC", &bc.to_string())
            .replace("BR", &br.to_string())
            .replace("BN", &bn.to_string())
            .replace("BX", &bx.to_string())
            .replace("BY", &by.to_string())
    };
    let backend = start(REFERENCE, &subst(BACKEND), &[ba, bs, bp, bb, bq], ba);
    let front = |bin: &str| {
        let port = free_port();
        let mut conf = subst(FRONT).replace("FRONT", &port.to_string());
        if lua {
            conf = conf
                .replace("LUA_UPSTREAM", LUA_UPSTREAM)
                .replace("LUA_LOCATIONS", LUA_LOCATIONS);
            conf = format!("load_module {NDK_MODULE};\nload_module {LUA_MODULE};\n{conf}");
        } else {
            conf = conf
                .replace("LUA_UPSTREAM", "")
                .replace("LUA_LOCATIONS", "");
        }
        start(bin, &conf, &[port], port)
    };
    let cases = cases(ba, bb, bs, lua);
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let names = [
        (ba, "BA"),
        (bs, "BS"),
        (bp, "BP"),
        (bb, "BB"),
        (bq, "BQ"),
        (bt, "BT"),
        (bc, "BC"),
        (br, "BR"),
        (bn, "BN"),
        (bx, "BX"),
        (by, "BY"),
    ];
    let mut results = Vec::new();
    for bin in [REFERENCE, OXRESTY] {
        let s = front(bin);
        let mut got = Vec::new();
        for (path, _, _, _) in &cases {
            got.push(get(s.port, path));
        }
        let mut ports = names.to_vec();
        ports.push((s.port, "FRONT"));
        let logs: Vec<String> = log_lines(&s, &ports)
            .into_iter()
            .map(|l| l.replace(&c, "CERTS"))
            .collect();
        results.push((got, logs));
    }
    drop(backend);
    drop(silent);
    let (want, want_logs) = &results[0];
    let (got, got_logs) = &results[1];
    let mut failed = Vec::new();
    for (i, (path, status, body, log)) in cases.iter().enumerate() {
        if want[i] != got[i] {
            failed.push(format!(
                "{path}: reference {:?}, oxresty {:?}",
                want[i], got[i]
            ));
            continue;
        }
        if want[i].0 != *status || !want[i].1.contains(body) {
            failed.push(format!(
                "{path}: both gave {:?}, expected {status} with {body:?}",
                want[i]
            ));
        }
        let req = format!("request: \"GET {path} HTTP/1.0\"");
        if !log.is_empty() && !got_logs.iter().any(|l| l.contains(log) && l.contains(&req)) {
            failed.push(format!("{path}: no log line with {log:?}"));
        }
    }
    if want_logs != got_logs {
        failed.push(format!(
            "error logs differ:\n  reference: {want_logs:#?}\n  oxresty:   {got_logs:#?}"
        ));
    }
    assert!(
        failed.is_empty(),
        "{} problems in {} cases:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
}

/// `-t` reports bad `proxy_ssl_*` settings of the levels proxying with TLS as the reference
/// does (nginx: ngx_http_proxy_set_ssl at merge time).
#[test]
fn proxy_ssl_problems_at_t_match_the_reference() {
    if !Path::new(REFERENCE).exists() || !have("openssl") {
        eprintln!("skipped: the reference or openssl is not installed");
        return;
    }
    let certs = tempfile::tempdir().expect("tempdir");
    if !make_pki(certs.path()) {
        eprintln!("skipped: openssl could not make the test certificates");
        return;
    }
    let c = certs.path().display().to_string();
    let https = "proxy_pass https://127.0.0.1:1;";
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "missing certificate",
            format!("location / {{ proxy_ssl_certificate {c}/none.crt; proxy_ssl_certificate_key {c}/a.key; {https} }}"),
            "cannot load certificate \"CERTS/none.crt\": BIO_new_file() failed",
        ),
        (
            "no key",
            format!("location / {{ proxy_ssl_certificate {c}/a.crt; {https} }}"),
            "no \"proxy_ssl_certificate_key\" is defined for certificate \"CERTS/a.crt\"",
        ),
        (
            "missing key at the http level, proxy_pass with variables",
            format!("location / {{ set $x 1; proxy_pass http://127.0.0.1:$x; }} }} proxy_ssl_certificate {c}/a.crt; proxy_ssl_certificate_key {c}/none.key; server {{"),
            "cannot load certificate key \"CERTS/none.key\": BIO_new_file() failed",
        ),
        (
            "key is not a key",
            format!("location / {{ proxy_ssl_certificate {c}/a.crt; proxy_ssl_certificate_key {c}/a.crt; {https} }}"),
            "PEM_read_bio_PrivateKey() failed",
        ),
        (
            "certificate is not a certificate",
            format!("location / {{ proxy_ssl_certificate {c}/a.key; proxy_ssl_certificate_key {c}/a.key; {https} }}"),
            "PEM_read_bio_X509_AUX() failed",
        ),
        (
            "key mismatch",
            format!("location / {{ proxy_ssl_certificate {c}/a.crt; proxy_ssl_certificate_key {c}/b.key; {https} }}"),
            "key values mismatch",
        ),
        (
            "verify without trusted certificates",
            format!("location / {{ {https} }} proxy_ssl_verify on;"),
            "no proxy_ssl_trusted_certificate for proxy_ssl_verify",
        ),
        (
            "missing trusted certificate (relative to the conf directory)",
            format!("location / {{ proxy_ssl_verify on; proxy_ssl_trusted_certificate none.crt; {https} }}"),
            "SSL_CTX_load_verify_locations(\"PREFIX/conf/none.crt\") failed",
        ),
        (
            "missing crl",
            format!("location / {{ proxy_ssl_verify on; proxy_ssl_trusted_certificate {c}/ca.crt; proxy_ssl_crl {c}/none.crl; {https} }}"),
            "X509_LOOKUP_load_file(\"CERTS/none.crl\") failed",
        ),
        (
            "plain http: not checked",
            format!("location / {{ proxy_ssl_certificate {c}/none.crt; proxy_pass http://127.0.0.1:1; }}"),
            "test is successful",
        ),
        (
            "certificate with variables: not loaded",
            format!("location / {{ proxy_ssl_certificate {c}/$host.crt; proxy_ssl_certificate_key {c}/none.key; {https} }}"),
            "test is successful",
        ),
        (
            "merged from enclosing levels",
            format!("proxy_ssl_certificate {c}/a.crt; location / {{ proxy_ssl_certificate_key {c}/a.key; location /x {{ {https} }} }}"),
            "test is successful",
        ),
    ];
    let mut failed = Vec::new();
    for (name, server, expect) in &cases {
        let mut outs = Vec::new();
        for bin in [REFERENCE, OXRESTY] {
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::create_dir_all(dir.path().join("conf")).expect("conf");
            std::fs::create_dir_all(dir.path().join("logs")).expect("logs");
            let conf =
                format!("events {{}}\nhttp {{\n    server {{\n        {server}\n    }}\n}}\n");
            std::fs::write(dir.path().join("conf/nginx.conf"), conf).expect("conf");
            let out = Command::new(bin)
                .arg("-t")
                .arg("-p")
                .arg(format!("{}/", dir.path().display()))
                .args(["-c", "conf/nginx.conf", "-e", "logs/error.log"])
                .output()
                .expect("runs");
            let text = String::from_utf8_lossy(&out.stderr)
                .replace(&dir.path().display().to_string(), "PREFIX")
                .replace(&c, "CERTS");
            outs.push((text, out.status.code()));
        }
        if outs[0] != outs[1] {
            failed.push(format!(
                "{name}:\n  reference: {:?}\n  oxresty:   {:?}",
                outs[0], outs[1]
            ));
        } else if !outs[0].0.contains(expect) {
            failed.push(format!(
                "{name}: both printed {:?}, expected {expect:?}",
                outs[0].0
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// Saved upstream sessions belong to a configuration: after a reload the first connection
/// has a full handshake again (nginx: the new cycle's peers have no session).
#[test]
fn sessions_do_not_survive_a_reload() {
    if !Path::new(REFERENCE).exists() || !have("openssl") {
        eprintln!("skipped: the reference or openssl is not installed");
        return;
    }
    let certs = tempfile::tempdir().expect("tempdir");
    if !make_pki(certs.path()) {
        eprintln!("skipped: openssl could not make the test certificates");
        return;
    }
    let c = certs.path().display().to_string();
    let bb = free_port();
    let backend = format!(
        "error_log logs/error.log info;\npid logs/nginx.pid;\nevents {{}}\nhttp {{\n    access_log off;\n    ssl_session_cache shared:B:1m;\n    server {{\n        listen 127.0.0.1:{bb} ssl;\n        ssl_certificate {c}/b.crt;\n        ssl_certificate_key {c}/b.key;\n        location / {{ return 200 \"reused=$ssl_session_reused\\n\"; }}\n    }}\n}}\n"
    );
    let _backend = start(REFERENCE, &backend, &[bb], bb);
    let mut results = Vec::new();
    for bin in [REFERENCE, OXRESTY] {
        let port = free_port();
        let conf = format!(
            "error_log logs/error.log info;\npid logs/nginx.pid;\nevents {{}}\nhttp {{\n    access_log off;\n    server {{\n        listen 127.0.0.1:{port};\n        location / {{ proxy_pass https://127.0.0.1:{bb}/; }}\n    }}\n}}\n"
        );
        let s = start(bin, &conf, &[port], port);
        let mut got = vec![get(port, "/").1, get(port, "/").1];
        let _ = Command::new("kill")
            .arg("-HUP")
            .arg(s.child.id().to_string())
            .status();
        std::thread::sleep(Duration::from_millis(2500));
        got.push(get(port, "/").1);
        got.push(get(port, "/").1);
        results.push(got);
    }
    let want: Vec<String> = ["reused=.\n", "reused=r\n", "reused=.\n", "reused=r\n"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(results[0], want, "the reference");
    assert_eq!(results[1], want, "oxresty");
}
