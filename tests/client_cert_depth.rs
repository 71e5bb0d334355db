//! `ssl_verify_depth`: how many intermediates may stand between a client's certificate and
//! a trusted one (nginx's default 1); beyond it the result is OpenSSL's code 20, as the
//! reference measures. PKI made by the openssl command, requests by curl; compared with the
//! reference when installed. Skipped (with a note) without openssl or curl.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{Server, REFERENCE};

const PKI: &str = r#"
set -e
openssl req -x509 -newkey rsa:2048 -nodes -days 3 -keyout ca.key -out ca.pem -subj "/CN=Root CA" -addext basicConstraints=critical,CA:TRUE
openssl req -newkey rsa:2048 -nodes -keyout int.key -out int.csr -subj "/CN=Int CA"
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n' > ca.ext
openssl x509 -req -in int.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out int.pem -extfile ca.ext
openssl req -newkey rsa:2048 -nodes -keyout cl.key -out cl.csr -subj /CN=client
printf 'basicConstraints=CA:FALSE\n' > ee.ext
openssl x509 -req -in cl.csr -CA int.pem -CAkey int.key -CAcreateserial -days 2 -out cl.pem -extfile ee.ext
cat cl.pem int.pem > chain.pem
openssl req -x509 -newkey rsa:2048 -nodes -days 3 -keyout srv.key -out srv.pem -subj /CN=srv
"#;

fn conf(depth: Option<u32>) -> String {
    let depth = depth
        .map(|d| format!("ssl_verify_depth {d};"))
        .unwrap_or_default();
    format!(
        "worker_processes 1;\npid logs/nginx.pid;\nevents {{}}\nhttp {{\n    access_log off;\n    server {{\n        listen 127.0.0.1:{{PORT}} ssl;\n        ssl_certificate srv.pem;\n        ssl_certificate_key srv.key;\n        ssl_client_certificate ca.pem;\n        ssl_verify_client optional_no_ca;\n        {depth}\n        return 200 \"$ssl_client_verify\\n\";\n    }}\n}}\n"
    )
}

fn verify(bin: &str, pki: &Path, depth: Option<u32>) -> String {
    let read = |n: &str| std::fs::read_to_string(pki.join(n)).unwrap_or_default();
    let files: Vec<(String, String)> = ["srv.pem", "srv.key", "ca.pem"]
        .iter()
        .map(|n| (format!("conf/{n}"), read(n)))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let s = Server::start(bin, &conf(depth), &refs);
    Command::new("curl")
        .args(["-sk", "--max-time", "10", "--cert"])
        .arg(pki.join("chain.pem"))
        .arg("--key")
        .arg(pki.join("cl.key"))
        .arg(format!("https://127.0.0.1:{}/", s.port))
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

#[test]
fn verify_depth_counts_intermediates() {
    let dir = std::env::temp_dir().join(format!("oxresty-depth-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let made = Command::new("sh")
        .args(["-c", PKI])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !made || Command::new("curl").arg("--version").output().is_err() {
        eprintln!("note: openssl or curl missing; client_cert_depth skipped");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let cases = [
        (None, "SUCCESS\n"),
        (Some(1), "SUCCESS\n"),
        (Some(2), "SUCCESS\n"),
        (Some(0), "FAILED:unable to get local issuer certificate\n"),
    ];
    for (depth, want) in cases {
        assert_eq!(
            verify(env!("CARGO_BIN_EXE_oxresty"), &dir, depth),
            want,
            "depth {depth:?}"
        );
        if Path::new(REFERENCE).exists() {
            assert_eq!(
                verify(REFERENCE, &dir, depth),
                want,
                "the reference, depth {depth:?}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
