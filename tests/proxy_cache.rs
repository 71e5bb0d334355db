//! proxy_cache across the process's life, black box: the keys zone survives a HUP reload and
//! the files on disk survive a restart (nginx: the zone is shared memory kept by the master,
//! the cache loader reads the files back); `inactive` removes unused files (checked against
//! nginx 1.22.1 by hand: MISS, HIT 2.5 s later, the file gone ~10 s after start, MISS).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::free_port;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(prefix: &Path, port: u16) -> Running {
    let child = Command::new(env!("CARGO_BIN_EXE_oxresty"))
        .arg("-p")
        .arg(format!("{}/", prefix.display()))
        .args(["-c", "conf/nginx.conf", "-e", "logs/error.log"])
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn oxresty");
    let r = Running(child);
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    r
}

/// `GET path`: (X-Cache, body).
fn get(port: u16, path: &str) -> (String, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (String::new(), String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .lines()
        .find_map(|l| l.strip_prefix("X-Cache: "))
        .unwrap_or("")
        .to_string();
    (status, body.to_string())
}

fn setup(inactive: &str) -> (tempfile::TempDir, u16, u16) {
    let prefix = tempfile::tempdir().expect("tempdir");
    let p = prefix.path();
    for d in ["conf", "logs", "html"] {
        std::fs::create_dir_all(p.join(d)).expect("mkdir");
    }
    let port = free_port();
    let up = free_port();
    let conf = format!(
        "error_log logs/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n  \
         proxy_cache_path cache levels=1:2 keys_zone=z:1m inactive={inactive};\n  \
         server {{ listen 127.0.0.1:{up}; location / {{ return 200 \"$pid $msec $uri\\n\"; }} }}\n  \
         server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_cache z;\n      \
         proxy_cache_valid 1h;\n      add_header X-Cache $upstream_cache_status;\n      \
         proxy_pass http://127.0.0.1:{up};\n    }}\n  }}\n}}\n"
    );
    std::fs::write(p.join("conf/nginx.conf"), conf).expect("conf");
    (prefix, port, up)
}

#[test]
fn cache_survives_reload_and_restart() {
    let (prefix, port, up) = setup("10m");
    let p = prefix.path();
    let mut srv = spawn(p, port);
    let (s1, b1) = get(port, "/a");
    assert_eq!(s1, "MISS", "{b1}");
    let (s2, b2) = get(port, "/a");
    assert_eq!((s2.as_str(), b2.as_str()), ("HIT", b1.as_str()));
    // the file is where nginx puts it: md5 of the default key "http://127.0.0.1:UP/a"
    // (nginx 1.22.1: cache/1/ef/1ae3db991c8297316d0af2b56427bef1 for port 18411), levels 1:2
    // from its end
    let files: Vec<_> = walk(&p.join("cache"));
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0]
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let name = name.unwrap_or_default();
    let md5 = common::sh(
        p,
        &format!("printf '%s' 'http://127.0.0.1:{up}/a' | md5sum"),
    );
    assert_eq!(md5.get(..32), Some(name.as_str()));
    let rel = files[0].strip_prefix(p.join("cache")).expect("under cache");
    let want = format!("{}/{}/{name}", &name[31..], &name[29..31]);
    assert_eq!(rel.to_string_lossy(), want);

    // HUP: the zone and the file stay
    let pid = srv.0.id().to_string();
    let ok = Command::new("kill").args(["-HUP", &pid]).status();
    assert!(ok.is_ok_and(|s| s.success()));
    let t = Instant::now();
    while !std::fs::read_to_string(p.join("logs/error.log"))
        .unwrap_or_default()
        .contains("reconfiguring")
        && t.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let (s3, b3) = get(port, "/a");
    assert_eq!((s3.as_str(), b3.as_str()), ("HIT", b1.as_str()));

    // restart: a new process reads the file back
    drop(srv);
    srv = spawn(p, port);
    let (s4, b4) = get(port, "/a");
    assert_eq!((s4.as_str(), b4.as_str()), ("HIT", b1.as_str()));
    let (s5, _) = get(port, "/b");
    assert_eq!(s5, "MISS");
    drop(srv);
}

#[test]
fn inactive_files_are_removed_by_the_manager() {
    let (prefix, port, _) = setup("1s");
    let p = prefix.path();
    let _srv = spawn(p, port);
    let (s1, _) = get(port, "/a");
    assert_eq!(s1, "MISS");
    assert_eq!(walk(&p.join("cache")).len(), 1);
    // nginx: the manager looks at most every 10 s; until then an inactive node still hits
    std::thread::sleep(Duration::from_millis(2500));
    let (s2, _) = get(port, "/a");
    assert_eq!(s2, "HIT");
    let t = Instant::now();
    while !walk(&p.join("cache")).is_empty() && t.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(walk(&p.join("cache")).is_empty(), "the inactive file stays");
    let (s3, _) = get(port, "/a");
    assert_eq!(s3, "MISS");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if !e.file_name().to_string_lossy().starts_with('.') {
                out.push(path);
            }
        }
    }
    out
}

/// `proxy_cache_lock`, its timeout, and `use_stale updating` with two requests at once
/// (the upstream takes 0.6 s). nginx 1.22.1 on the same config, by hand: /l MISS n=1 then
/// HIT n=1; /t MISS n=1, MISS n=2 (+ "cache lock timeout" at info); /n MISS, MISS;
/// /u MISS, then EXPIRED n=2 with UPDATING n=1 meanwhile.
#[test]
fn lock_and_updating_with_concurrent_requests() {
    let prefix = tempfile::tempdir().expect("tempdir");
    let p = prefix.path();
    for d in ["conf", "logs"] {
        std::fs::create_dir_all(p.join(d)).expect("mkdir");
    }
    let port = free_port();
    let up = free_port();
    let conf = format!(
        "error_log logs/error.log info;\nevents {{}}\nhttp {{\n  access_log off;\n  \
         lua_shared_dict c 1m;\n  proxy_cache_path cache keys_zone=z:1m;\n  \
         server {{ listen 127.0.0.1:{up}; location / {{ content_by_lua_block {{ \
         local n = (ngx.shared.c:incr(ngx.var.uri, 1, 0)) \
         if n == 1 and ngx.var.uri == \"/u\" then ngx.header[\"X-Accel-Expires\"] = \"@1\" \
         else ngx.sleep(0.6) end ngx.say(\"n=\", n) }} }} }}\n  \
         server {{\n    listen 127.0.0.1:{port};\n    add_header X-Cache $upstream_cache_status;\n    \
         proxy_cache z;\n    proxy_cache_valid 1h;\n    \
         location /l {{ proxy_cache_lock on; proxy_pass http://127.0.0.1:{up}; }}\n    \
         location /t {{ proxy_cache_lock on; proxy_cache_lock_timeout 200ms; proxy_pass http://127.0.0.1:{up}; }}\n    \
         location /n {{ proxy_pass http://127.0.0.1:{up}; }}\n    \
         location /u {{ proxy_cache_use_stale updating; proxy_pass http://127.0.0.1:{up}; }}\n  }}\n}}\n"
    );
    std::fs::write(p.join("conf/nginx.conf"), conf).expect("conf");
    let _srv = spawn(p, port);
    let pair = |path: &'static str| {
        let first = std::thread::spawn(move || get(port, path));
        std::thread::sleep(Duration::from_millis(100));
        let second = get(port, path);
        let first = first.join().unwrap_or_default();
        (first, second)
    };
    let s = |(a, b): &(String, String)| format!("{a} {}", b.trim());
    let (a, b) = pair("/l");
    assert_eq!((s(&a), s(&b)), ("MISS n=1".into(), "HIT n=1".into()));
    let (a, b) = pair("/t");
    assert_eq!((s(&a), s(&b)), ("MISS n=1".into(), "MISS n=2".into()));
    let (a, b) = pair("/n");
    assert_eq!((s(&a), s(&b)), ("MISS n=1".into(), "MISS n=2".into()));
    assert_eq!(s(&get(port, "/u")), "MISS n=1");
    let (a, b) = pair("/u");
    assert_eq!(
        (s(&a), s(&b)),
        ("EXPIRED n=2".into(), "UPDATING n=1".into())
    );
    let log = std::fs::read_to_string(p.join("logs/error.log")).unwrap_or_default();
    assert!(
        log.contains("[info]") && log.contains("cache lock timeout"),
        "{log}"
    );
}
