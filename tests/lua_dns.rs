//! DNS end to end: an unmodified lua-resty-dns (tests/fixtures/lualib/resty/dns/resolver.lua)
//! queries A and SRV records from a real `dnsmasq` through the UDP cosocket, and a TCP
//! cosocket connects to a host name through the `resolver` directive; the reference must give
//! the same answers. Then the records file changes and dnsmasq gets SIGHUP: the running
//! server sees the new records without a reload. Skipped (with a note) when dnsmasq is not
//! installed or cannot start.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod common;
use common::free_port;

const OXRESTY: &str = env!("CARGO_BIN_EXE_oxresty");
const REFERENCE: &str = "/usr/sbin/nginx";
const LUA_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_lua_module.so";
const NDK_MODULE: &str = "/usr/lib/nginx/modules/ndk_http_module.so";
const DNSMASQ: &str = "/usr/sbin/dnsmasq";

fn have_reference() -> bool {
    Path::new(REFERENCE).exists() && Path::new(LUA_MODULE).exists()
}

struct Proc {
    child: Child,
    dir: Option<PathBuf>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "oxresty-dns-{}-{name}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A free UDP port on 127.0.0.1 (the TCP picker's port, checked free for UDP too).
fn free_udp_port() -> u16 {
    loop {
        let p = free_port();
        if UdpSocket::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

/// Whether a DNS server answers on `port` (a query for `probe.invalid`).
fn dns_answers(port: u16) -> bool {
    let Ok(s) = UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let q =
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05probe\x07invalid\x00\x00\x01\x00\x01";
    if s.send_to(q, ("127.0.0.1", port)).is_err() {
        return false;
    }
    let mut b = [0u8; 512];
    s.recv(&mut b).is_ok()
}

const HOSTS_1: &str =
    "10.1.2.3 web.example.test\n10.1.2.4 web.example.test\n127.0.0.1 back.example.test\n";
const HOSTS_2: &str = "10.9.9.9 web.example.test\n127.0.0.1 back.example.test\n";

/// dnsmasq, unprivileged, on a free port, answering from a hosts file and one SRV record.
fn dnsmasq(hosts: &Path) -> Option<(Proc, u16)> {
    if !Path::new(DNSMASQ).exists() {
        eprintln!("note: {DNSMASQ} is not installed; lua_dns skipped");
        return None;
    }
    let port = free_udp_port();
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let child = Command::new(DNSMASQ)
        .arg("--no-daemon")
        .arg(format!("--port={port}"))
        .args(["--listen-address=127.0.0.1", "--bind-interfaces"])
        .args([
            "--no-resolv",
            "--no-hosts",
            "--pid-file=",
            "--local=/example.test/",
        ])
        .arg(format!("--user={user}"))
        .arg(format!("--addn-hosts={}", hosts.display()))
        .arg("--srv-host=_http._tcp.example.test,web.example.test,8080,10,5")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut p = Proc { child, dir: None };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !dns_answers(port) {
        if p.child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
            eprintln!("note: dnsmasq could not start; lua_dns skipped");
            return None;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    Some((p, port))
}

const APP: &str = r#"
    lua_package_path "$prefix/lualib/?.lua;;";
    resolver 127.0.0.1:{DNS};
    resolver_timeout 2s;
    server {
        listen 127.0.0.1:{PORT};
        default_type text/plain;
        location = /a {
            content_by_lua_block {
                local resolver = require "resty.dns.resolver"
                local r, err = resolver:new{
                    nameservers = { {"127.0.0.1", {DNS}} },
                    retrans = 2,
                    timeout = 1000,
                }
                if not r then
                    ngx.say("failed to instantiate the resolver: ", err)
                    return
                end
                local answers, err = r:query(ngx.var.arg_name, { qtype = r.TYPE_A })
                if not answers then
                    ngx.say("failed to query: ", err)
                    return
                end
                if answers.errcode then
                    ngx.say("server error: ", answers.errcode, ": ", answers.errstr)
                    return
                end
                local addrs = {}
                for i, ans in ipairs(answers) do
                    addrs[#addrs + 1] = ans.name .. " " .. ans.address .. " type " .. ans.type
                end
                table.sort(addrs)
                ngx.say(#answers, " answers")
                for _, a in ipairs(addrs) do ngx.say(a) end
            }
        }
        location = /srv {
            content_by_lua_block {
                local resolver = require "resty.dns.resolver"
                local r = resolver:new{ nameservers = { {"127.0.0.1", {DNS}} } }
                local answers, err = r:query("_http._tcp.example.test", { qtype = r.TYPE_SRV })
                if not answers then
                    ngx.say("failed to query: ", err)
                    return
                end
                for i, ans in ipairs(answers) do
                    ngx.say(ans.name, " -> ", ans.target, ":", ans.port,
                            " priority ", ans.priority, " weight ", ans.weight)
                end
            }
        }
        location = /connect {
            content_by_lua_block {
                local sock = ngx.socket.tcp()
                local ok, err = sock:connect("back.example.test", {PORT})
                ngx.say("connect: ", ok, " ", err)
                if not ok then return end
                sock:send("GET /hello HTTP/1.0\r\nHost: x\r\n\r\n")
                ngx.say(sock:receive())
                local ok, err = sock:connect("nosuch.example.test", {PORT})
                ngx.say("missing: ", ok, " ", err)
            }
        }
        location = /hello { return 200 "hello"; }
    }
"#;

fn start(bin: &str, dns: u16, lualib: &Path) -> (Proc, u16) {
    start_app(bin, APP, dns, lualib)
}

/// Starts `bin` on `app` (an http block's content; `{PORT}` the listening port, `{DNS}`
/// dnsmasq's) with lua-resty-dns on the prefix's lualib.
fn start_app(bin: &str, app: &str, dns: u16, lualib: &Path) -> (Proc, u16) {
    let dir = scratch("srv");
    for sub in ["logs", "conf", "lualib/resty/dns"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::copy(
        lualib.join("resty/dns/resolver.lua"),
        dir.join("lualib/resty/dns/resolver.lua"),
    )
    .unwrap();
    let port = free_port();
    let app = app
        .replace("{PORT}", &port.to_string())
        .replace("{DNS}", &dns.to_string());
    let text = format!(
        "load_module {NDK_MODULE};\nload_module {LUA_MODULE};\nworker_processes 1;\npid logs/nginx.pid;\nerror_log logs/error.log notice;\nevents {{}}\nhttp {{\n    access_log off;\n{app}\n}}\n"
    );
    std::fs::write(dir.join("conf/nginx.conf"), text).unwrap();
    let mut prefix = dir.clone().into_os_string();
    prefix.push("/");
    let child = Command::new(bin)
        .arg("-p")
        .arg(&prefix)
        .args(["-c", "conf/nginx.conf", "-e", "logs/error.log"])
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut p = Proc {
        child,
        dir: Some(dir),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        let exited = p.child.try_wait().ok().flatten().is_some();
        assert!(!exited && Instant::now() < deadline, "{bin} did not start");
        std::thread::sleep(Duration::from_millis(30));
    }
    (p, port)
}

fn get(port: u16, uri: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    write!(s, "GET {uri} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    format!("{} | {body}", head.lines().next().unwrap_or(""))
}

const QUERIES: &[&str] = &[
    "/a?name=web.example.test",
    "/a?name=back.example.test",
    "/a?name=missing.example.test",
    "/srv",
    "/connect",
];

#[test]
fn dns_through_cosockets_matches_reference() {
    let dir = scratch("hosts");
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, HOSTS_1).unwrap();
    let Some((dns, dport)) = dnsmasq(&hosts) else {
        return;
    };
    let lualib = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lualib");
    let (_ox, oport) = start(OXRESTY, dport, &lualib);
    let ox: Vec<String> = QUERIES.iter().map(|q| get(oport, q)).collect();
    assert_eq!(
        ox[0],
        "HTTP/1.1 200 OK | 2 answers\nweb.example.test 10.1.2.3 type 1\nweb.example.test 10.1.2.4 type 1\n"
    );
    assert_eq!(
        ox[1],
        "HTTP/1.1 200 OK | 1 answers\nback.example.test 127.0.0.1 type 1\n"
    );
    assert_eq!(ox[2], "HTTP/1.1 200 OK | server error: 3: name error\n");
    assert_eq!(
        ox[3],
        "HTTP/1.1 200 OK | _http._tcp.example.test -> web.example.test:8080 priority 10 weight 5\n"
    );
    assert_eq!(
        ox[4],
        "HTTP/1.1 200 OK | connect: 1 nil\nHTTP/1.1 200 OK\nmissing: nil nosuch.example.test could not be resolved (3: Host not found)\n"
    );
    if have_reference() {
        let (_rf, rport) = start(REFERENCE, dport, &lualib);
        for (q, o) in QUERIES.iter().zip(&ox) {
            assert_eq!(
                &get(rport, q),
                o,
                "oxresty and the reference differ for {q}"
            );
        }
    }

    // New records, SIGHUP to dnsmasq: the running oxresty sees them.
    std::fs::write(&hosts, HOSTS_2).unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &dns.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    let want = "HTTP/1.1 200 OK | 1 answers\nweb.example.test 10.9.9.9 type 1\n";
    let mut got = String::new();
    while Instant::now() < deadline {
        got = get(oport, QUERIES[0]);
        if got == want {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(got, want, "the new records after SIGHUP");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The Consul-DNS pattern in one config: a timer resolves the service's A records with
/// lua-resty-dns every 200 ms into a shared dict, and `balancer_by_lua` sends each request
/// to a resolved address (the `server 0.0.0.1` placeholder upstream). When the records change
/// (dnsmasq re-reads its hosts file on SIGHUP), traffic moves without reloading oxresty.
const BALANCER_APP: &str = r#"
    lua_package_path "$prefix/lualib/?.lua;;";
    lua_shared_dict peers 1m;
    init_worker_by_lua_block {
        local function refresh(premature)
            if premature then return end
            local resolver = require "resty.dns.resolver"
            local r, err = resolver:new{ nameservers = { {"127.0.0.1", {DNS}} }, timeout = 500, retrans = 2 }
            if not r then return end
            local answers = r:query("app.example.test", { qtype = r.TYPE_A })
            if type(answers) ~= "table" or answers.errcode then return end
            local ips = {}
            for _, a in ipairs(answers) do
                if a.address then ips[#ips + 1] = a.address end
            end
            if #ips > 0 then ngx.shared.peers:set("app", table.concat(ips, ",")) end
        end
        ngx.timer.at(0, refresh)
        ngx.timer.every(0.2, refresh)
    }
    upstream app {
        server 0.0.0.1;
        balancer_by_lua_block {
            local balancer = require "ngx.balancer"
            local ips = ngx.shared.peers:get("app")
            if not ips then return ngx.exit(503) end
            local ip = ips:match("^[^,]+")
            local ok, err = balancer.set_current_peer(ip, {BACKEND})
            if not ok then ngx.log(ngx.ERR, "set_current_peer: ", err) return ngx.exit(500) end
        }
    }
    server {
        listen 127.0.0.1:{PORT};
        location / { proxy_pass http://app; }
    }
    server { listen 127.0.0.1:{BACKEND}; location / { return 200 "backend one\n"; } }
    server { listen 127.0.0.2:{BACKEND}; location / { return 200 "backend two\n"; } }
"#;

/// GETs `/` until the answer is `want` (the resolver timer runs every 200 ms).
fn get_until(port: u16, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut got = String::new();
    while Instant::now() < deadline {
        got = get(port, "/");
        if got == want {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    got
}

#[test]
fn dns_discovered_balancer_follows_record_changes() {
    let dir = scratch("bhosts");
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, "127.0.0.1 app.example.test\n").unwrap();
    let Some((dns, dport)) = dnsmasq(&hosts) else {
        return;
    };
    let lualib = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lualib");
    let one = "HTTP/1.1 200 OK | backend one\n";
    let two = "HTTP/1.1 200 OK | backend two\n";
    let mut servers = vec![];
    for bin in [OXRESTY, REFERENCE] {
        if bin == REFERENCE && !have_reference() {
            continue;
        }
        let app = BALANCER_APP.replace("{BACKEND}", &free_port().to_string());
        let (p, port) = start_app(bin, &app, dport, &lualib);
        assert_eq!(get_until(port, one), one, "{bin}: first records");
        servers.push((p, port, bin));
    }
    // The service moves: new records, SIGHUP to dnsmasq, no reload of the servers.
    std::fs::write(&hosts, "127.0.0.2 app.example.test\n").unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &dns.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    for (_p, port, bin) in &servers {
        assert_eq!(
            get_until(*port, two),
            two,
            "{bin}: after the records changed"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
