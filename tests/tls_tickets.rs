//! TLS session tickets under `ssl_session_ticket_key`, differential: the reference
//! (/usr/sbin/nginx) and oxresty run the same configurations, `openssl s_client -sess_out`
//! takes a session from one server and `-sess_in` offers it to another (or to the same one
//! after a reload), and both must say the same "New"/"Reused" for TLSv1.2 and TLSv1.3:
//! the same key file resumes across processes, another key does not, a second key only
//! decrypts, 48-byte keys work, key files survive a reload (random keys do not),
//! `ssl_session_tickets off` and `ssl_session_timeout` are respected. The ticket bytes
//! differ between the two servers, of course. Without the reference or openssl, the test
//! says so and passes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::{have, sh, Server};

const OXRESTY: &str = env!("CARGO_BIN_EXE_oxresty");

/// A certificate and ticket key files (k1, k3: 80 bytes; k2: 48 bytes).
fn make_keys(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("oxresty-tickets-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let script = r#"set -e
openssl req -x509 -newkey rsa:2048 -nodes -keyout a.key -out a.crt -days 30 -subj "/CN=a.test" 2>/dev/null
openssl rand 80 > k1.key; openssl rand 48 > k2.key; openssl rand 80 > k3.key
printf 'GET / HTTP/1.0\r\n\r\n' > get.txt
echo ok"#;
    assert_eq!(
        sh(&dir, script).trim(),
        "ok",
        "openssl could not make the keys"
    );
    dir
}

/// A server with `extra` directives (KEYS is the key directory) answering `body`.
fn conf(keys: &Path, extra: &str, body: &str) -> String {
    format!(
        r#"worker_processes 1;
error_log logs/error.log info;
pid logs/nginx.pid;
events {{}}
http {{
    access_log off;
    ssl_protocols TLSv1.2 TLSv1.3;
    server {{
        listen 127.0.0.1:{{PORT}} ssl;
        ssl_certificate {k}/a.crt;
        ssl_certificate_key {k}/a.key;
        {extra}
        location / {{ return 200 "{body} $ssl_session_reused\n"; }}
    }}
}}
"#,
        k = keys.display(),
        extra = extra.replace("KEYS", &keys.display().to_string()),
    )
}

/// Takes a session from port `from` (into `sess`), then offers it to port `to`: the
/// second handshake's verdict ("New, TLSv1.2" / "Reused, TLSv1.3") and the response's
/// `$ssl_session_reused`.
fn resume(keys: &Path, from: u16, to: u16, proto: &str, sess: &str, take: bool) -> String {
    let out = if take {
        format!("rm -f {sess}; timeout 10 openssl s_client -connect 127.0.0.1:{from} {proto} -ign_eof -sess_out {sess} < get.txt > /dev/null 2>&1; ")
    } else {
        String::new()
    };
    let script = format!(
        "{out}[ -s {sess} ] || echo no-session; timeout 10 openssl s_client -connect 127.0.0.1:{to} {proto} -ign_eof -sess_in {sess} < get.txt 2>/dev/null | grep -E '^(New|Reused),|^(gen|srv)' | sed 's/, Cipher is .*//'"
    );
    sh(keys, &script).trim().replace('\n', " | ")
}

/// Waits until the server answers with `body` (after a reload, the new workers do).
fn wait_body(keys: &Path, port: u16, body: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let out = sh(
            keys,
            &format!("timeout 5 curl -sk https://127.0.0.1:{port}/"),
        );
        if out.starts_with(body) {
            // let the old worker finish closing its listeners
            std::thread::sleep(Duration::from_millis(300));
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no {body:?} from port {port} after the reload");
}

fn hup(s: &Server) {
    let _ = Command::new("kill")
        .args(["-HUP", &s.child.id().to_string()])
        .status();
}

/// Every verdict, for one implementation.
fn verdicts(bin: &str, keys: &Path) -> Vec<(String, String)> {
    let k = |f: &str| format!("ssl_session_ticket_key KEYS/{f};");
    let start = |extra: &str, body: &str| Server::start(bin, &conf(keys, extra, body), &[]);
    let a = start(&k("k1.key"), "srv");
    let b = start(&k("k1.key"), "srv");
    let c = start(&k("k3.key"), "srv");
    let d = start(&format!("{} {}", k("k3.key"), k("k1.key")), "srv");
    let e1 = start(&k("k2.key"), "srv");
    let e2 = start(&k("k2.key"), "srv");
    let off = start(&format!("{} ssl_session_tickets off;", k("k1.key")), "srv");
    let short = start(&format!("{} ssl_session_timeout 1s;", k("k1.key")), "srv");
    let mut out = Vec::new();
    let who = if bin == OXRESTY { "ox" } else { "ref" };
    for proto in ["-tls1_2", "-tls1_3"] {
        let sess = format!("{who}{proto}.sess");
        let mut add = |name: &str, v: String| out.push((format!("{proto} {name}"), v));
        add(
            "same key, other process",
            resume(keys, a.port, b.port, proto, &sess, true),
        );
        add(
            "other key",
            resume(keys, a.port, c.port, proto, &sess, true),
        );
        add(
            "old key second",
            resume(keys, a.port, d.port, proto, &sess, true),
        );
        add(
            "48-byte key",
            resume(keys, e1.port, e2.port, proto, &sess, true),
        );
        add(
            "tickets off",
            resume(keys, a.port, off.port, proto, &sess, true),
        );
        add(
            "same process",
            resume(keys, short.port, short.port, proto, &sess, true),
        );
        std::thread::sleep(Duration::from_millis(2100));
        add(
            "after ssl_session_timeout",
            resume(keys, short.port, short.port, proto, &sess, false),
        );
    }
    // Reloads: the key file's tickets still resume; random keys are new ones.
    let r1 = start(&k("k1.key"), "gen1");
    let r2 = start("", "gen1");
    for (proto, n) in [("-tls1_2", 2), ("-tls1_3", 3)] {
        let sess1 = format!("{who}{proto}.r1.sess");
        let sess2 = format!("{who}{proto}.r2.sess");
        resume(keys, r1.port, r1.port, proto, &sess1, true);
        resume(keys, r2.port, r2.port, proto, &sess2, true);
        for (s, extra) in [(&r1, k("k1.key")), (&r2, String::new())] {
            let text =
                conf(keys, &extra, &format!("gen{n}")).replace("{PORT}", &s.port.to_string());
            std::fs::write(s.dir.join("conf/nginx.conf"), text).expect("conf");
            hup(s);
            wait_body(keys, s.port, &format!("gen{n}"));
        }
        out.push((
            format!("{proto} key file, after reload"),
            resume(keys, r1.port, r1.port, proto, &sess1, false),
        ));
        out.push((
            format!("{proto} no key file, after reload"),
            resume(keys, r2.port, r2.port, proto, &sess2, false),
        ));
    }
    out
}

#[test]
fn ticket_keys_match_the_reference() {
    if !have("openssl") || !have("curl") || !Path::new(common::REFERENCE).exists() {
        eprintln!("skipped: needs openssl, curl and {}", common::REFERENCE);
        return;
    }
    let keys = make_keys("run");
    let ours = verdicts(OXRESTY, &keys);
    let theirs = verdicts(common::REFERENCE, &keys);
    let _ = std::fs::remove_dir_all(&keys);
    let mut diffs = Vec::new();
    for ((name, o), (_, r)) in ours.iter().zip(theirs.iter()) {
        eprintln!("{name}: oxresty [{o}] reference [{r}]");
        // the body's generation differs after a reload only by timing; compare verdicts
        if o != r {
            diffs.push(format!("{name}:\n  oxresty:   {o}\n  reference: {r}"));
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    // the cases really test something: both verdicts occur
    let all: String = ours.iter().map(|(_, v)| v.as_str()).collect();
    assert!(
        all.contains("Reused, TLSv1.3") && all.contains("New, TLSv1.2"),
        "{ours:?}"
    );
}

/// `-t` on a bad key file says what nginx says (nginx: ngx_ssl_session_ticket_keys).
#[test]
fn ticket_key_errors_at_t_match_the_reference() {
    if !have("openssl") || !Path::new(common::REFERENCE).exists() {
        eprintln!("skipped: needs openssl and {}", common::REFERENCE);
        return;
    }
    let keys = make_keys("t");
    std::fs::write(keys.join("bad.key"), [7u8; 50]).expect("bad key");
    std::fs::create_dir_all(keys.join("dir.key")).expect("dir key");
    let cases = [
        "ssl_session_ticket_key KEYS/bad.key;",
        "ssl_session_ticket_key KEYS/k1.key; ssl_session_ticket_key KEYS/missing.key;",
        "ssl_session_ticket_key KEYS/dir.key;",
        // checked even when tickets are off
        "ssl_session_tickets off; ssl_session_ticket_key KEYS/bad.key;",
        "ssl_session_ticket_key KEYS/k2.key; ssl_session_ticket_key KEYS/k1.key;",
    ];
    for extra in cases {
        let text = conf(&keys, extra, "x").replace("{PORT}", "19999");
        std::fs::write(keys.join("nginx.conf"), &text).expect("conf");
        let run = |bin: &str| {
            let out = Command::new(bin)
                .arg("-p")
                .arg(format!("{}/", keys.display()))
                .args(["-c", "nginx.conf", "-e", "/dev/null", "-t"])
                .output()
                .expect("runs");
            (
                String::from_utf8_lossy(&out.stderr).into_owned(),
                out.status.code(),
            )
        };
        assert_eq!(run(OXRESTY), run(common::REFERENCE), "{extra}");
    }
    let _ = std::fs::remove_dir_all(&keys);
}
