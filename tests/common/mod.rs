//! What the black-box tests share.

use std::net::TcpListener;
use std::sync::Mutex;

/// A loopback port no other server of this test process was given. Taken below the
/// kernel's ephemeral range (32768 and up by default), so that outgoing connections (which
/// take their local ports from that range) cannot grab it between this check and the
/// server's bind; then the system's choice as a fallback.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    // Spread test processes apart: each starts at its own offset in 20000..32000.
    let base = 20000 + (std::process::id() % 600) * 20;
    for _ in 0..2000 {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Ok(port) = u16::try_from(20000 + (base - 20000 + n) % 12000) else {
            continue;
        };
        if TcpListener::bind(("127.0.0.1", port)).is_err()
            || std::net::UdpSocket::bind(("127.0.0.1", port)).is_err()
        {
            continue;
        }
        if let Ok(mut given) = GIVEN.lock() {
            if !given.contains(&port) {
                given.push(port);
                return port;
            }
        }
    }
    for _ in 0..100 {
        let Ok(port) = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
        else {
            continue;
        };
        if let Ok(mut given) = GIVEN.lock() {
            if !given.contains(&port) {
                given.push(port);
                return port;
            }
        }
    }
    panic!("no free port");
}

/// The reference binary the differential tests compare against, when installed.
#[allow(dead_code)]
pub const REFERENCE: &str = "/usr/sbin/nginx";

/// A server running on its own prefix directory; killed (and the prefix removed) on drop.
#[allow(dead_code)]
pub struct Server {
    pub child: std::process::Child,
    pub port: u16,
    pub dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[allow(dead_code)]
impl Server {
    /// Starts `bin` with `-g "daemon off;"` on a fresh prefix holding `files` and
    /// conf/nginx.conf = `conf`, where `{PORT}` is a free port; waits until it listens.
    pub fn start(bin: &str, conf: &str, files: &[(&str, &str)]) -> Server {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::time::{Duration, Instant};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "oxresty-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["logs", "conf", "html"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let port = free_port();
        std::fs::write(
            dir.join("conf/nginx.conf"),
            conf.replace("{PORT}", &port.to_string()),
        )
        .unwrap();
        let mut prefix = dir.clone().into_os_string();
        prefix.push("/");
        let child = std::process::Command::new(bin)
            .arg("-p")
            .arg(&prefix)
            .args(["-c", "conf/nginx.conf", "-e", "logs/error.log"])
            .args(["-g", "daemon off;"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut server = Server { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = server.child.try_wait().ok().flatten().is_some();
            if exited || Instant::now() > deadline {
                let log = std::fs::read_to_string(server.dir.join("logs/error.log"));
                panic!("{bin} did not start on {port}: {log:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// Sends `raw` on a new connection and reads until the server closes it.
    pub fn exchange(&self, raw: &[u8]) -> Vec<u8> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        s.write_all(raw).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    }

    /// A file of the prefix, waiting up to 5 s until `ready` accepts its text.
    pub fn file_when(&self, name: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
            if ready(&text) || std::time::Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// Whether `cmd` is on the PATH (tests needing openssl, curl, nghttp... skip without it).
#[allow(dead_code)]
pub fn have(cmd: &str) -> bool {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `script` with `sh` in `dir`; its stdout.
#[allow(dead_code)]
pub fn sh(dir: &std::path::Path, script: &str) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("sh runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
