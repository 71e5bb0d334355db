//! `ssl_stapling on` with `ssl_stapling_file`: the file's OCSP response is stapled (TLS 1.2
//! and 1.3), no issuer is needed, and an unreadable file fails `-t` with nginx's text.
//! The PKI and the OCSP response are made by the openssl command; compared with the
//! reference when installed. Skipped (with a note) without openssl.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{Server, REFERENCE};

fn sh(dir: &Path, script: &str) -> bool {
    Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

const PKI: &str = r#"
set -e
openssl req -x509 -newkey rsa:2048 -nodes -days 3 -keyout ca.key -out ca.pem -subj "/CN=Test CA"
openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=a.test
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out srv.pem
serial=$(openssl x509 -in srv.pem -noout -serial | cut -d= -f2)
printf 'V\t%s\t\t%s\tunknown\t/CN=a.test\n' "$(date -u -d '+2 days' +%y%m%d%H%M%SZ)" "$serial" > index.txt
openssl ocsp -issuer ca.pem -cert srv.pem -reqout req.der -no_nonce
openssl ocsp -index index.txt -rsigner ca.pem -rkey ca.key -CA ca.pem -reqin req.der -respout resp.der -ndays 1
"#;

const CONF: &str = r#"
worker_processes 1;
pid logs/nginx.pid;
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:{PORT} ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate srv.pem;
        ssl_certificate_key srv.key;
        ssl_stapling on;
        ssl_stapling_file {FILE};
        return 200 "ok\n";
    }
}
"#;

/// What `openssl s_client -status` says of the stapled response.
fn status(port: u16, version: &str) -> String {
    let out = Command::new("sh")
        .args([
            "-c",
            &format!("echo | timeout 10 openssl s_client -connect 127.0.0.1:{port} -servername a.test -status {version} 2>/dev/null | grep -E 'OCSP response:|OCSP Response Status|Cert Status'"),
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.lines().map(str::trim).collect::<Vec<_>>().join(" | ")
}

fn run(bin: &str, pki: &Path) -> Vec<String> {
    let read = |n: &str| std::fs::read_to_string(pki.join(n)).unwrap_or_default();
    let (cert, key) = (read("srv.pem"), read("srv.key"));
    // Relative certificate names (the configuration's directory); the binary response by
    // its absolute name.
    let conf = CONF.replace("{FILE}", &pki.join("resp.der").display().to_string());
    let s = Server::start(
        bin,
        &conf,
        &[("conf/srv.pem", &cert), ("conf/srv.key", &key)],
    );
    vec![status(s.port, "-tls1_2"), status(s.port, "-tls1_3")]
}

/// `-t` with a stapling file that is not there: nginx's emerg line, the test failed.
fn missing(bin: &str, pki: &Path) -> String {
    let conf = CONF
        .replace("{FILE}", "nosuch.der")
        .replace(
            "ssl_certificate srv.pem",
            &format!("ssl_certificate {}", pki.join("srv.pem").display()),
        )
        .replace(
            "ssl_certificate_key srv.key",
            &format!("ssl_certificate_key {}", pki.join("srv.key").display()),
        )
        .replace("{PORT}", "1");
    let prefix = pki.join(format!("t-{}", bin.len()));
    let _ = std::fs::create_dir_all(prefix.join("conf"));
    let _ = std::fs::create_dir_all(prefix.join("logs"));
    std::fs::write(prefix.join("conf/nginx.conf"), conf).unwrap();
    let out = Command::new(bin)
        .arg("-t")
        .arg("-p")
        .arg(format!("{}/", prefix.display()))
        .args(["-c", "conf/nginx.conf", "-e", "logs/error.log"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .unwrap_or_default();
    out.lines()
        .find(|l| l.starts_with("nginx: [emerg]"))
        .unwrap_or_default()
        .replace(&prefix.display().to_string(), "PREFIX")
}

#[test]
fn stapling_file_is_stapled() {
    let dir = std::env::temp_dir().join(format!("oxresty-ocsp-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    if !sh(&dir, PKI) {
        eprintln!("note: openssl could not make the PKI; ocsp_stapling skipped");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let want = "OCSP response: | OCSP Response Status: successful (0x0) | Cert Status: good";
    let t_want = "nginx: [emerg] BIO_new_file(\"PREFIX/conf/nosuch.der\") failed (SSL: error:80000002:system library::No such file or directory:calling fopen(PREFIX/conf/nosuch.der, rb) error:10000080:BIO routines::no such file)";
    let ox = env!("CARGO_BIN_EXE_oxresty");
    assert_eq!(run(ox, &dir), [want, want]);
    assert_eq!(missing(ox, &dir), t_want);
    if Path::new(REFERENCE).exists() {
        assert_eq!(
            run(REFERENCE, &dir),
            [want, want],
            "the reference disagrees"
        );
        assert_eq!(missing(REFERENCE, &dir), t_want, "the reference disagrees");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
