//! lua-nginx-module's UDP cosockets (nginx: ngx_http_lua_socket_udp.c): `ngx.socket.udp`,
//! `setpeername`, `send`, `receive`, `settimeout`, `close`; and the small DNS client the
//! cosockets use to resolve host names through `resolver` (nginx: ngx_resolver.c, A records).

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use mlua::{Lua, MultiValue, Table, Value};

use super::socket::{
    api_async, api_fn, arg, argerr, as_num, check_str, check_yieldable, err_text, fail, log,
    nil_err, owner, ret, s, send_data, type_name, SockConf, OWNED_UDP,
};
use super::vm::{ApiResult, Vm};
use crate::log::Level;

/// nginx: UDP_MAX_DATAGRAM_SIZE.
const MAX_DATAGRAM: usize = 65536;

/// A connected datagram socket.
pub(crate) enum Dgram {
    Inet(tokio::net::UdpSocket),
    Unix(tokio::net::UnixDatagram),
}

impl Dgram {
    async fn send(&self, b: &[u8]) -> std::io::Result<usize> {
        match self {
            Dgram::Inet(s) => s.send(b).await,
            Dgram::Unix(s) => s.send(b).await,
        }
    }

    async fn recv(&self, b: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Dgram::Inet(s) => s.recv(b).await,
            Dgram::Unix(s) => s.recv(b).await,
        }
    }
}

/// nginx: ngx_http_lua_socket_udp_upstream_t.
pub(crate) struct Udp {
    pub(crate) sock: Option<Rc<Dgram>>,
    waiting: bool,
    read_timeout: Duration,
    conf: SockConf,
}

struct UdpUd(Rc<RefCell<Udp>>);
impl mlua::UserData for UdpUd {}

fn state_of(obj: &Table) -> Option<Rc<RefCell<Udp>>> {
    let v: Value = obj.raw_get(1).ok()?;
    let Value::UserData(ud) = v else { return None };
    ud.borrow::<UdpUd>().ok().map(|u| u.0.clone())
}

fn check_obj(lua: &Lua, args: &MultiValue, fname: &str) -> Result<Table, super::vm::Fail> {
    match arg(args, 0) {
        Value::Table(t) => Ok(t),
        other => Err(argerr(
            lua,
            1,
            fname,
            format!("table expected, got {}", type_name(&other)),
        )),
    }
}

/// Installs `ngx.socket.udp` into the `ngx.socket` table.
pub(crate) fn install(vm: &Rc<Vm>, socket: &Table) -> mlua::Result<()> {
    let lua = &vm.lua;
    let methods = lua.create_table()?;
    methods.set("setpeername", api_async(vm, setpeername)?)?;
    methods.set("send", api_async(vm, send)?)?;
    methods.set("receive", api_async(vm, receive)?)?;
    methods.set("settimeout", api_fn(vm, settimeout)?)?;
    methods.set("close", api_fn(vm, close)?)?;
    // nginx: the metatable holds the methods and is its own __index
    methods.set("__index", methods.clone())?;
    let mt = methods;
    let udp = api_fn(vm, move |l, a| {
        if !a.is_empty() {
            return Err(fail(
                l,
                format!("expecting zero arguments, but got {}", a.len()),
            ));
        }
        check_yieldable(l)?;
        let t = l.create_table()?;
        t.set_metatable(Some(mt.clone()));
        ret(vec![Value::Table(t)])
    })?;
    socket.set("udp", udp)?;
    Ok(())
}

/// nginx: ngx_http_lua_socket_udp_setpeername.
async fn setpeername(lua: Lua, args: MultiValue) -> ApiResult {
    let n = args.len();
    if n != 2 && n != 3 {
        return Err(fail(
            &lua,
            format!(
                "ngx.socket.udp setpeername: expecting 2 or 3 arguments (including the object), but seen {n}"
            ),
        ));
    }
    check_yieldable(&lua)?;
    let obj = check_obj(&lua, &args, "setpeername")?;
    let hv = arg(&args, 1);
    let Some(host) = check_str(&lua, &hv) else {
        return Err(argerr(
            &lua,
            2,
            "setpeername",
            format!("string expected, got {}", type_name(&hv)),
        ));
    };
    let mut port = 0i64;
    if n == 3 {
        let pv = arg(&args, 2);
        let Some(p) = as_num(&pv) else {
            return Err(argerr(
                &lua,
                3,
                "setpeername",
                format!("number expected, got {}", type_name(&pv)),
            ));
        };
        port = p as i64;
        if !(0..=65535).contains(&port) {
            return nil_err(&lua, format!("bad port number: {port}"));
        }
    }
    let conf = SockConf::of(super::socket::current_loc().as_deref());
    let st = match state_of(&obj) {
        Some(st) => {
            let mut u = st.borrow_mut();
            if u.waiting {
                return nil_err(&lua, "socket busy");
            }
            u.sock = None;
            u.conf = conf.clone();
            drop(u);
            st
        }
        None => {
            let st = Rc::new(RefCell::new(Udp {
                sock: None,
                waiting: false,
                read_timeout: conf.read_timeout,
                conf: conf.clone(),
            }));
            obj.raw_set(1, lua.create_userdata(UdpUd(st.clone()))?)?;
            st
        }
    };
    {
        let mut u = st.borrow_mut();
        u.read_timeout = match obj.raw_get::<Value>(2).ok().as_ref().and_then(as_num) {
            Some(v) if v > 0.0 => Duration::from_millis(v as u64),
            _ => conf.read_timeout,
        };
    }
    let res: Result<Dgram, String> = if host.len() >= 5 && host[..5].eq_ignore_ascii_case(b"unix:")
    {
        let path = std::path::PathBuf::from(
            <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(host[5..].to_vec()),
        );
        crate::worker::next_conn_id();
        match tokio::net::UnixDatagram::unbound().and_then(|d| d.connect(&path).map(|_| d)) {
            Ok(d) => Ok(Dgram::Unix(d)),
            Err(e) => {
                log(
                    Level::Crit,
                    &format!(
                        "connect() to unix:{} failed ({})",
                        path.display(),
                        crate::log::errno_text(&e)
                    ),
                );
                Err(err_text(&e))
            }
        }
    } else {
        let hs = String::from_utf8_lossy(&host).into_owned();
        let ip = match hs
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            Ok(ip) => ip,
            Err(_) => match &conf.resolver {
                None => {
                    return nil_err(&lua, format!("no resolver defined to resolve \"{hs}\""));
                }
                Some(servers) => match resolve(servers, &hs, conf.resolver_timeout).await {
                    Ok(ip) => ip,
                    Err(e) => return nil_err(&lua, e),
                },
            },
        };
        let peer = SocketAddr::new(ip, port as u16);
        let bind: SocketAddr = if ip.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        // nginx: the UDP cosocket's connection is numbered like any other
        crate::worker::next_conn_id();
        match tokio::net::UdpSocket::bind(bind).await {
            Ok(sock) => match sock.connect(peer).await {
                Ok(()) => Ok(Dgram::Inet(sock)),
                Err(e) => Err(err_text(&e)),
            },
            Err(e) => Err(err_text(&e)),
        }
    };
    match res {
        Ok(d) => {
            st.borrow_mut().sock = Some(Rc::new(d));
            let key = owner();
            OWNED_UDP.with(|o| {
                o.borrow_mut()
                    .entry(key)
                    .or_default()
                    .push(Rc::downgrade(&st))
            });
            ret(vec![Value::Integer(1)])
        }
        Err(e) => nil_err(&lua, e),
    }
}

/// nginx: ngx_http_lua_socket_udp_send.
async fn send(lua: Lua, args: MultiValue) -> ApiResult {
    let n = args.len();
    if n != 2 {
        return Err(fail(
            &lua,
            format!("expecting 2 arguments (including the object), but got {n}"),
        ));
    }
    let obj = check_obj(&lua, &args, "send")?;
    let st = state_of(&obj);
    let sock = st.as_ref().and_then(|s| s.borrow().sock.clone());
    let (Some(st), Some(sock)) = (st, sock) else {
        if SockConf::of(super::socket::current_loc().as_deref()).log_errors {
            log(
                Level::Error,
                "attempt to send data on a closed socket: u:0000000000000000, c:0000000000000000",
            );
        }
        return nil_err(&lua, "closed");
    };
    if st.borrow().waiting {
        return nil_err(&lua, "socket busy");
    }
    let data = match send_data(&lua, &arg(&args, 1)) {
        Ok(d) => d,
        Err(m) => return Err(super::socket::argerr_self(&lua, 2, "send", m)),
    };
    match sock.send(&data).await {
        Ok(k) if k == data.len() => ret(vec![Value::Integer(1)]),
        Ok(_) => nil_err(&lua, "partial write"),
        Err(e) => {
            // nginx core's own line (ngx_unix_send on the UDP connection), always logged
            log(
                Level::Error,
                &format!("send() failed ({})", crate::log::errno_text(&e)),
            );
            nil_err(&lua, err_text(&e))
        }
    }
}

/// nginx: ngx_http_lua_socket_udp_receive.
async fn receive(lua: Lua, args: MultiValue) -> ApiResult {
    let n = args.len();
    if n != 1 && n != 2 {
        return Err(fail(
            &lua,
            format!("expecting 1 or 2 arguments (including the object), but got {n}"),
        ));
    }
    let obj = check_obj(&lua, &args, "receive")?;
    let st = state_of(&obj);
    let sock = st.as_ref().and_then(|s| s.borrow().sock.clone());
    let (Some(st), Some(sock)) = (st, sock) else {
        if SockConf::of(super::socket::current_loc().as_deref()).log_errors {
            log(
                Level::Error,
                "attempt to receive data on a closed socket: u:0000000000000000, c:0000000000000000",
            );
        }
        return nil_err(&lua, "closed");
    };
    let size = match arg(&args, 1) {
        Value::Nil => MAX_DATAGRAM,
        v => match as_num(&v) {
            Some(x) => (x.max(0.0) as usize).min(MAX_DATAGRAM),
            None => {
                return Err(argerr(
                    &lua,
                    2,
                    "receive",
                    format!("number expected, got {}", type_name(&v)),
                ))
            }
        },
    };
    let (timeout, log_errors) = {
        let mut u = st.borrow_mut();
        if u.waiting {
            return nil_err(&lua, "socket busy");
        }
        u.waiting = true;
        (u.read_timeout, u.conf.log_errors)
    };
    let mut buf = vec![0u8; size.max(1)];
    let res = tokio::time::timeout(timeout, sock.recv(&mut buf)).await;
    st.borrow_mut().waiting = false;
    match res {
        Ok(Ok(k)) => {
            buf.truncate(k.min(size));
            ret(vec![s(&lua, buf)?])
        }
        Ok(Err(e)) => {
            // nginx core's own line (ngx_udp_unix_recv), whatever lua_socket_log_errors
            log(
                Level::Error,
                &format!("recv() failed ({})", crate::log::errno_text(&e)),
            );
            nil_err(&lua, err_text(&e))
        }
        Err(_) => {
            if log_errors {
                log(Level::Error, "lua udp socket read timed out");
            }
            nil_err(&lua, "timeout")
        }
    }
}

/// nginx: ngx_http_lua_socket_udp_settimeout.
fn settimeout(lua: &Lua, args: MultiValue) -> ApiResult {
    let n = args.len();
    if n != 2 {
        return Err(fail(
            lua,
            format!(
                "ngx.socket settimeout: expecting at least 2 arguments (including the object) but seen {n}"
            ),
        ));
    }
    let t = as_num(&arg(&args, 1)).unwrap_or(0.0) as i64;
    let obj = check_obj(lua, &args, "settimeout")?;
    obj.raw_set(2, t)?;
    if let Some(st) = state_of(&obj) {
        let mut u = st.borrow_mut();
        u.read_timeout = if t > 0 {
            Duration::from_millis(t as u64)
        } else {
            u.conf.read_timeout
        };
    }
    ret(vec![])
}

/// nginx: ngx_http_lua_socket_udp_close.
fn close(lua: &Lua, args: MultiValue) -> ApiResult {
    let n = args.len();
    if n != 1 {
        return Err(fail(
            lua,
            format!("expecting 1 argument (including the object) but seen {n}"),
        ));
    }
    let obj = check_obj(lua, &args, "close")?;
    let Some(st) = state_of(&obj) else {
        return nil_err(lua, "closed");
    };
    let mut u = st.borrow_mut();
    if u.sock.is_none() {
        return nil_err(lua, "closed");
    }
    if u.waiting {
        return nil_err(lua, "socket busy");
    }
    u.sock = None;
    ret(vec![Value::Integer(1)])
}

// ---------------------------------------------------------------------------------------------
// The resolver.

/// nginx: ngx_resolver_strerror.
fn resolver_strerror(code: u32) -> &'static str {
    match code {
        1 => "Format error",
        2 => "Server failure",
        3 => "Host not found",
        4 => "Unimplemented",
        5 => "Operation refused",
        110 => "Operation timed out",
        _ => "Unknown error",
    }
}

/// Resolves `host` to an address through the `resolver` servers (nginx: ngx_resolve_name,
/// A records; the first address): Err is lua-nginx-module's text.
pub(crate) async fn resolve(
    servers: &[SocketAddr],
    host: &str,
    timeout: Duration,
) -> Result<IpAddr, String> {
    let bad = |code: u32| {
        format!(
            "{host} could not be resolved ({code}: {})",
            resolver_strerror(code)
        )
    };
    let Some(server) = servers.first() else {
        return Err(bad(110));
    };
    let id: u16 = (super::socket::next_id() as u16) ^ (std::process::id() as u16);
    let mut q = Vec::with_capacity(32 + host.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in host.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(bad(1));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let bind: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let attempt = async {
        let sock = tokio::net::UdpSocket::bind(bind)
            .await
            .map_err(|_| 110u32)?;
        sock.connect(server).await.map_err(|_| 110u32)?;
        let mut buf = vec![0u8; 4096];
        // nginx resends every 5 seconds until resolver_timeout
        loop {
            sock.send(&q).await.map_err(|_| 110u32)?;
            let got = tokio::time::timeout(Duration::from_secs(5), sock.recv(&mut buf)).await;
            let Ok(Ok(n)) = got else { continue };
            let r = &buf[..n];
            if r.len() < 12 || r[0..2] != id.to_be_bytes() {
                continue;
            }
            let rcode = u32::from(r[3] & 0x0f);
            if rcode != 0 {
                return Err(rcode);
            }
            return parse_a(r).ok_or(3u32);
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(ip)) => Ok(ip),
        Ok(Err(code)) => Err(bad(code)),
        Err(_) => Err(bad(110)),
    }
}

/// Skips a (possibly compressed) name in a DNS message.
fn skip_name(r: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let l = *r.get(i)? as usize;
        if l == 0 {
            return Some(i + 1);
        }
        if l & 0xc0 == 0xc0 {
            return Some(i + 2);
        }
        i += 1 + l;
    }
}

/// The first A record of a DNS answer.
fn parse_a(r: &[u8]) -> Option<IpAddr> {
    let qd = u16::from_be_bytes([r[4], r[5]]) as usize;
    let an = u16::from_be_bytes([r[6], r[7]]) as usize;
    let mut i = 12;
    for _ in 0..qd {
        i = skip_name(r, i)? + 4;
    }
    for _ in 0..an {
        i = skip_name(r, i)?;
        let typ = u16::from_be_bytes([*r.get(i)?, *r.get(i + 1)?]);
        let len = u16::from_be_bytes([*r.get(i + 8)?, *r.get(i + 9)?]) as usize;
        let data = r.get(i + 10..i + 10 + len)?;
        if typ == 1 && len == 4 {
            return Some(IpAddr::V4(Ipv4Addr::new(
                data[0], data[1], data[2], data[3],
            )));
        }
        i += 10 + len;
    }
    None
}
