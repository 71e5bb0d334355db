//! The `stream` block served: `return`, `proxy_pass` to addresses, upstream blocks and
//! values with variables, `allow`/`deny`, `map`/`set`, `proxy_timeout`, `proxy_half_close`,
//! `proxy_protocol`, and the access and error logs, compared with the reference (nginx with
//! its ngx_stream_module) on the same configuration and the same bytes.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::{free_port, Server, REFERENCE};

const STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

fn have_reference() -> bool {
    std::path::Path::new(REFERENCE).exists() && std::path::Path::new(STREAM_MODULE).exists()
}

/// Test backends: one that accepts and never answers, one that echoes until EOF, and a
/// udp one that answers `echo:` + each datagram (`two`: one more, `silent`: none).
struct Backends {
    silent: u16,
    echo: u16,
    udp: u16,
}

fn backends() -> Backends {
    let silent = TcpListener::bind(("127.0.0.1", free_port())).unwrap();
    let echo = TcpListener::bind(("127.0.0.1", free_port())).unwrap();
    let udp = std::net::UdpSocket::bind(("127.0.0.1", free_port())).unwrap();
    let b = Backends {
        silent: silent.local_addr().unwrap().port(),
        echo: echo.local_addr().unwrap().port(),
        udp: udp.local_addr().unwrap().port(),
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = udp.recv_from(&mut buf) {
            let d = &buf[..n];
            if d == b"silent" {
                continue;
            }
            let _ = udp.send_to(&[b"echo:", d].concat(), from);
            if d == b"two" {
                let _ = udp.send_to(b"second", from);
            }
        }
    });
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in silent.incoming().flatten() {
            held.push(c);
        }
    });
    std::thread::spawn(move || {
        for mut c in echo.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 || c.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = c.shutdown(Shutdown::Write);
                std::thread::sleep(Duration::from_millis(300));
            });
        }
    });
    b
}

const CONF: &str = r#"
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log info;
events {}
stream {
    log_format basic '$remote_addr [$status] $protocol $bytes_sent $bytes_received up=$upstream_addr ubs=$upstream_bytes_sent ubr=$upstream_bytes_received m=$m';
    map $server_port $m { default none; {P1} one; ~^(\d+)$ port$1; }
    upstream two { server 127.0.0.1:1; server 127.0.0.1:{PORT}; }
    access_log logs/stream.log basic;
    server { listen 127.0.0.1:{PORT}; return "backend $m\n"; }
    geo $geo_v { default other; 127.0.0.0/8 local; }
    geo $remote_addr $geo_r { ranges; default other; 127.0.0.0-127.0.0.255 low; }
    split_clients "y${remote_addr}" $bucket { 10% a; 20% b; * c; }
    server {
        listen 127.0.0.1:{P1};
        set $greet hello;
        return "$greet $remote_addr $m $geo_v $geo_r $bucket\n";
    }
    server { listen 127.0.0.1:{P2}; proxy_pass 127.0.0.1:{PORT}; }
    server { listen 127.0.0.1:{P3}; proxy_pass two; }
    server { listen 127.0.0.1:{P4}; deny 127.0.0.1; return "no"; }
    server { listen 127.0.0.1:{P5}; proxy_pass 127.0.0.1:1; }
    server { listen 127.0.0.1:{P6}; set $u two; proxy_pass $u; }
    server { listen 127.0.0.1:{P7}; set $u nosuch; proxy_pass $u; }
    server { listen 127.0.0.1:{P8}; proxy_pass 127.0.0.1:{SILENT}; proxy_timeout 1s; }
    server { listen 127.0.0.1:{P9}; proxy_pass 127.0.0.1:{ECHO}; }
    server { listen 127.0.0.1:{P10}; proxy_pass 127.0.0.1:{ECHO}; proxy_half_close on; }
    server { listen 127.0.0.1:{P11}; proxy_pass 127.0.0.1:{ECHO}; proxy_protocol on; }
    server {
        listen 127.0.0.1:{P12};
        ssl_preread on;
        return "sni=$ssl_preread_server_name proto=$ssl_preread_protocol alpn=$ssl_preread_alpn_protocols\n";
    }
    map $ssl_preread_server_name $by_name { echo.test 127.0.0.1:{ECHO}; default 127.0.0.1:{PORT}; }
    server { listen 127.0.0.1:{P13}; ssl_preread on; proxy_pass $by_name; }
    limit_conn_zone $binary_remote_addr zone=one_each:1m;
    server {
        listen 127.0.0.1:{P14};
        limit_conn one_each 1;
        proxy_pass 127.0.0.1:{SILENT};
        access_log logs/limit.log basic;
    }
    server {
        listen 127.0.0.1:{P15} proxy_protocol;
        set_real_ip_from 127.0.0.1;
        return "pp=$proxy_protocol_addr:$proxy_protocol_port $proxy_protocol_server_addr:$proxy_protocol_server_port remote=$remote_addr:$remote_port real=$realip_remote_addr\n";
    }
    server { listen 127.0.0.1:{P16} udp; return "hi $remote_addr $protocol\n"; }
    server { listen 127.0.0.1:{P17} udp; proxy_pass 127.0.0.1:{UDP}; proxy_responses 1; }
    server { listen 127.0.0.1:{P18} udp; proxy_pass 127.0.0.1:1; proxy_responses 1; }
    server {
        listen 127.0.0.1:{P19} udp;
        proxy_pass 127.0.0.1:{UDP};
        proxy_responses 1;
        proxy_timeout 1s;
    }
    server { listen 127.0.0.1:{P20} udp; proxy_pass 127.0.0.1:{UDP}; proxy_timeout 1s; }
}
"#;

/// Reads until the server closes, or `want` bytes arrived (then closes itself).
fn read_some(s: &mut TcpStream, want: Option<usize>) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
        if want.is_some_and(|w| out.len() >= w) {
            break;
        }
    }
    out
}

/// What one binary did with the session set: the bytes each client saw, the access log
/// and the session lines of the error log, with ports and numbers made comparable.
fn run(bin: &str, reference: bool) -> (Vec<String>, Vec<String>, Vec<String>, Duration) {
    let b = backends();
    let ports: Vec<u16> = (0..21).map(|_| free_port()).collect();
    let mut conf = CONF
        .replace("{SILENT}", &b.silent.to_string())
        .replace("{ECHO}", &b.echo.to_string())
        .replace("{UDP}", &b.udp.to_string());
    // Highest first: {P1} is a prefix of {P10}..{P20}.
    for i in (1..21).rev() {
        conf = conf.replace(&format!("{{P{i}}}"), &ports[i].to_string());
    }
    if reference {
        conf = format!("load_module {STREAM_MODULE};\n{conf}");
    }
    let srv = Server::start(bin, &conf, &[]);
    let mut names: Vec<(String, String)> = vec![
        (srv.port.to_string(), "PORT".into()),
        (b.silent.to_string(), "SILENT".into()),
        (b.echo.to_string(), "ECHO".into()),
        (b.udp.to_string(), "UDP".into()),
    ];
    for (i, p) in ports.iter().enumerate().skip(1) {
        names.push((p.to_string(), format!("P{i}")));
    }
    let norm = |line: &str| {
        let mut l = line.to_string();
        for (port, name) in &names {
            l = l.replace(&format!(":{port}"), &format!(":{name}"));
            l = l.replace(&format!(" {port}"), &format!(" {name}"));
            l = l.replace(&format!("port{port}"), &format!("port{name}"));
        }
        l
    };
    let connect = |i: usize| TcpStream::connect(("127.0.0.1", ports[i])).unwrap();
    let mut seen = Vec::new();
    // return, proxy_pass, upstream retry, deny, dead upstream, upstream by value, bad value
    for i in 1..=7 {
        // Nothing is sent: whether bytes sent now are read before the session ends is a race.
        let mut s = connect(i);
        seen.push(String::from_utf8_lossy(&read_some(&mut s, None)).into_owned());
    }
    // proxy_timeout: a silent upstream, closed after 1 s
    let t0 = Instant::now();
    let mut s = connect(8);
    seen.push(String::from_utf8_lossy(&read_some(&mut s, None)).into_owned());
    let idle = t0.elapsed();
    // the client closes first
    let mut s = connect(9);
    s.write_all(b"abc").unwrap();
    seen.push(String::from_utf8_lossy(&read_some(&mut s, Some(3))).into_owned());
    drop(s);
    std::thread::sleep(Duration::from_millis(200));
    // proxy_half_close: the client's EOF goes on to the upstream, whose answer still comes
    let mut s = connect(10);
    s.write_all(b"abc").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    seen.push(String::from_utf8_lossy(&read_some(&mut s, None)).into_owned());
    // proxy_protocol: the upstream sees the PROXY header first
    let mut s = connect(11);
    let client_port = s.local_addr().unwrap().port();
    s.write_all(b"abc").unwrap();
    let echoed = read_some(
        &mut s,
        Some(b"PROXY TCP4 127.0.0.1 127.0.0.1 1 1\r\nabc".len() + 8),
    );
    let echoed = String::from_utf8_lossy(&echoed).replace(&client_port.to_string(), "CPORT");
    seen.push(echoed);
    drop(s);
    // ssl_preread: the ClientHello's name, version and ALPN list; not TLS at all
    let hello = client_hello("echo.test", &["h2", "http/1.1"]);
    for bytes in [hello.clone(), b"GET / HTTP/1.0\r\n\r\n".to_vec()] {
        let mut s = connect(12);
        s.write_all(&bytes).unwrap();
        seen.push(String::from_utf8_lossy(&read_some(&mut s, None)).into_owned());
    }
    // SNI routing: the ClientHello reaches the upstream the name picked
    let mut s = connect(13);
    s.write_all(&hello).unwrap();
    let back = read_some(&mut s, Some(hello.len()));
    seen.push(format!(
        "routed back {} bytes, same: {}",
        back.len(),
        back == hello
    ));
    drop(s);
    // limit_conn: a second session from the same address while the first lasts
    let first = connect(14);
    std::thread::sleep(Duration::from_millis(300));
    let mut second = connect(14);
    seen.push(format!("refused: {:?}", read_some(&mut second, None)));
    drop(first);
    // listen ... proxy_protocol: the header's addresses, realip; a broken header
    for header in [
        &b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n"[..],
        b"GARBAGE!",
    ] {
        let mut s = connect(15);
        s.write_all(header).unwrap();
        seen.push(String::from_utf8_lossy(&read_some(&mut s, None)).into_owned());
    }
    // udp: return; a reply per request; an unreachable upstream (an empty datagram back);
    // a silent upstream (502 after proxy_timeout); no proxy_responses (ends on its timeout)
    for (i, datagrams, wait) in [
        (16, &["a"][..], 300),
        (17, &["a"], 300),
        (18, &["a"], 300),
        (19, &["silent"], 1300),
        (20, &["a", "two"], 1300),
    ] {
        let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        c.connect(("127.0.0.1", ports[i])).unwrap();
        for d in datagrams {
            c.send(d.as_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
        c.set_read_timeout(Some(Duration::from_millis(wait)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        while let Ok(n) = c.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        seen.push(format!("udp {got:?}"));
    }
    let log = srv.file_when("logs/stream.log", |t| t.lines().count() >= 25);
    let limit = srv.file_when("logs/limit.log", |t| t.lines().count() >= 2);
    let log = log + &limit;
    let errors = srv.file_when("logs/error.log", |t| {
        t.matches(" disconnected").count() >= 8
    });
    let mut access: Vec<String> = log.lines().map(norm).collect();
    access.sort();
    // Session lines, without time, pid, connection numbers and client ports.
    let mut lines: Vec<String> = errors
        .lines()
        .filter(|l| l.contains(": *"))
        .filter_map(|l| {
            let level = l.split('[').nth(1)?.split(']').next()?;
            let text = l.split(": *").nth(1)?;
            let text = text.split_once(' ')?.1;
            let mut t = norm(text);
            // Ephemeral ports of the client and of the proxy's own side.
            while let Some(i) = t.find("127.0.0.1:") {
                let rest = &t[i + 10..];
                let end = rest
                    .find(|c: char| !c.is_ascii_alphanumeric())
                    .unwrap_or(rest.len());
                if rest[..end].chars().all(|c| c.is_ascii_digit()) && end > 0 {
                    t = format!("{}127.0.0.1#EPH{}", &t[..i], &rest[end..]);
                } else {
                    t = format!("{}127.0.0.1#{}", &t[..i], rest);
                }
            }
            Some(format!(
                "[{level}] {}",
                t.replace("127.0.0.1#", "127.0.0.1:")
            ))
        })
        .collect();
    lines.sort();
    let seen = seen.iter().map(|s| norm(s)).collect();
    (seen, access, lines, idle)
}

/// A TLS 1.3 ClientHello record naming `host` and offering `alpn`.
fn client_hello(host: &str, alpn: &[&str]) -> Vec<u8> {
    let ext = |t: u16, d: Vec<u8>| {
        let mut e = t.to_be_bytes().to_vec();
        e.extend_from_slice(&(d.len() as u16).to_be_bytes());
        e.extend_from_slice(&d);
        e
    };
    let mut sni = ((host.len() + 3) as u16).to_be_bytes().to_vec();
    sni.push(0);
    sni.extend_from_slice(&(host.len() as u16).to_be_bytes());
    sni.extend_from_slice(host.as_bytes());
    let mut protos = Vec::new();
    for p in alpn {
        protos.push(p.len() as u8);
        protos.extend_from_slice(p.as_bytes());
    }
    let mut al = (protos.len() as u16).to_be_bytes().to_vec();
    al.extend_from_slice(&protos);
    let mut exts = ext(0, sni);
    exts.extend(ext(16, al));
    exts.extend(ext(43, vec![2, 3, 4]));
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 2, 0x13, 0x01, 1, 0]);
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut hs = vec![1, 0];
    hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 3, 1];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

#[test]
fn stream_sessions_match_the_reference() {
    let (seen, access, lines, idle) = run(env!("CARGO_BIN_EXE_oxresty"), false);
    let expect_seen = [
        "hello 127.0.0.1 one local low b\n",
        "backend portPORT\n",
        "backend portPORT\n",
        "",
        "",
        "backend portPORT\n",
        "",
        "",
        "abc",
        "abc",
        "PROXY TCP4 127.0.0.1 127.0.0.1 CPORT P11\r\nabc",
        "sni=echo.test proto=TLSv1.3 alpn=h2,http/1.1\n",
        "sni= proto= alpn=\n",
        "routed back 95 bytes, same: true",
        "refused: []",
        "pp=1.2.3.4:1111 5.6.7.8:2222 remote=1.2.3.4:1111 real=127.0.0.1\n",
        "",
        "udp [\"hi 127.0.0.1 UDP\\n\"]",
        "udp [\"echo:a\"]",
        "udp [\"\"]",
        "udp []",
        "udp [\"echo:a\", \"echo:two\", \"second\"]",
    ];
    assert_eq!(seen, expect_seen, "client bytes");
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_secs(5),
        "proxy_timeout 1s closed after {idle:?}"
    );
    for want in [
        "127.0.0.1 [403] TCP 0 0 up=- ubs=- ubr=- m=portP4",
        "127.0.0.1 [502] TCP 0 0 up=127.0.0.1:1 ubs=0 ubr=0 m=portP5",
        "127.0.0.1 [500] TCP 0 0 up=- ubs=- ubr=- m=portP7",
        "127.0.0.1 [503] TCP 0 0 up=- ubs=- ubr=- m=portP14",
        "127.0.0.1 [200] UDP 17 1 up=- ubs=- ubr=- m=portP16",
        "127.0.0.1 [200] UDP 6 1 up=127.0.0.1:UDP ubs=1 ubr=6 m=portP17",
        "127.0.0.1 [200] UDP 0 1 up=127.0.0.1:1 ubs=1 ubr=0 m=portP18",
        "127.0.0.1 [502] UDP 0 6 up=127.0.0.1:UDP ubs=6 ubr=0 m=portP19",
        "127.0.0.1 [200] UDP 20 4 up=127.0.0.1:UDP ubs=4 ubr=20 m=portP20",
        "127.0.0.1 [400] TCP 0 0 up=- ubs=- ubr=- m=portP15",
        "1.2.3.4 [200] TCP 64 0 up=- ubs=- ubr=- m=portP15",
        "127.0.0.1 [200] TCP 18 0 up=127.0.0.1:1, 127.0.0.1:PORT ubs=0, 0 ubr=0, 18 m=portP3",
    ] {
        assert!(
            access.iter().any(|l| l == want),
            "{want} not in {access:#?}"
        );
    }
    for want in [
        "[error] access forbidden by rule while initializing session, client: 127.0.0.1, server: 127.0.0.1:P4",
        "[error] no port in upstream \"nosuch\", client: 127.0.0.1, server: 127.0.0.1:P7, bytes from/to client:0/0, bytes from/to upstream:0/0",
        "[info] connection timed out (110: Connection timed out) while proxying connection, client: 127.0.0.1, server: 127.0.0.1:P8, upstream: \"127.0.0.1:SILENT\", bytes from/to client:0/0, bytes from/to upstream:0/0",
        "[error] limiting connections by zone \"one_each\" while initializing session, client: 127.0.0.1, server: 127.0.0.1:P14",
        "[error] broken header: \"GARBAGE!\" while reading PROXY protocol, client: 127.0.0.1, server: 127.0.0.1:P15",
        "[info] udp done, packets from/to client:1/1, bytes from/to client:1/6, bytes from/to upstream:6/1",
        "[error] recv() failed (111: Connection refused) while proxying and reading from upstream, udp client: 127.0.0.1, server: 127.0.0.1:P18, upstream: \"127.0.0.1:EPH\", bytes from/to client:1/0, bytes from/to upstream:0/1",
        "[error] upstream timed out (110: Connection timed out) while proxying connection, udp client: 127.0.0.1, server: 127.0.0.1:P19, upstream: \"127.0.0.1:UDP\", bytes from/to client:6/0, bytes from/to upstream:0/6",
        "[info] udp timed out, packets from/to client:2/3, bytes from/to client:4/20, bytes from/to upstream:20/4",
        "[info] client disconnected, bytes from/to client:3/3, bytes from/to upstream:3/3",
        "[info] upstream disconnected, bytes from/to client:3/3, bytes from/to upstream:3/3",
    ] {
        assert!(lines.iter().any(|l| l == want), "{want} not in {lines:#?}");
    }
    if !have_reference() {
        eprintln!("note: {REFERENCE} with {STREAM_MODULE} not installed; compared with the recorded behaviour only");
        return;
    }
    let (r_seen, r_access, r_lines, _) = run(REFERENCE, true);
    assert_eq!(seen, r_seen, "client bytes: oxresty vs reference");
    assert_eq!(access, r_access, "access log: oxresty vs reference");
    assert_eq!(lines, r_lines, "error log: oxresty vs reference");
}

/// `proxy_bind` (the upstream sees the bound address) and `proxy_download_rate` (3000
/// bytes at 1000 bytes/s take about two seconds), on both servers.
#[test]
fn stream_bind_and_rate_match_the_reference() {
    // A backend that answers with the address it sees, and one that sends 3000 bytes.
    let who = TcpListener::bind(("127.0.0.1", free_port())).unwrap();
    let bulk = TcpListener::bind(("127.0.0.1", free_port())).unwrap();
    let (who_port, bulk_port) = (
        who.local_addr().unwrap().port(),
        bulk.local_addr().unwrap().port(),
    );
    std::thread::spawn(move || {
        for mut c in who.incoming().flatten() {
            let ip = c
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default();
            let _ = c.write_all(ip.as_bytes());
        }
    });
    std::thread::spawn(move || {
        for mut c in bulk.incoming().flatten() {
            let _ = c.write_all(&[b'x'; 3000]);
        }
    });
    let run = |bin: &str, reference: bool| {
        let (p1, p2) = (free_port(), free_port());
        let mut conf = format!(
            "worker_processes 1;\npid logs/nginx.pid;\nerror_log logs/error.log info;\nevents {{}}\n\
             stream {{\n\
             server {{ listen 127.0.0.1:{p1}; proxy_bind 127.0.0.2; proxy_pass 127.0.0.1:{who_port}; }}\n\
             server {{ listen 127.0.0.1:{p2}; proxy_download_rate 1000; proxy_pass 127.0.0.1:{bulk_port}; }}\n\
             }}\nhttp {{ access_log off; server {{ listen 127.0.0.1:{{PORT}}; return 200; }} }}\n"
        );
        if reference {
            conf = format!("load_module {STREAM_MODULE};\n{conf}");
        }
        let _srv = Server::start(bin, &conf, &[]);
        let mut c = TcpStream::connect(("127.0.0.1", p1)).unwrap();
        let seen = String::from_utf8_lossy(&read_some(&mut c, None)).into_owned();
        let t0 = Instant::now();
        let mut c = TcpStream::connect(("127.0.0.1", p2)).unwrap();
        let n = read_some(&mut c, None).len();
        (seen, n, t0.elapsed())
    };
    let (seen, n, took) = run(env!("CARGO_BIN_EXE_oxresty"), false);
    assert_eq!((seen.as_str(), n), ("127.0.0.2", 3000));
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(5),
        "3000 bytes at 1000/s took {took:?}"
    );
    if have_reference() {
        let (r_seen, r_n, r_took) = run(REFERENCE, true);
        assert_eq!((seen, n), (r_seen, r_n));
        assert!(
            r_took >= Duration::from_millis(1500) && r_took < Duration::from_secs(5),
            "reference: {r_took:?}"
        );
    }
}
