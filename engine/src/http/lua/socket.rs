//! lua-nginx-module's TCP cosockets on tokio (nginx: ngx_http_lua_socket_tcp.c, and the
//! `setoption`/`sslhandshake` parts of resty.core's socket.lua): `ngx.socket.tcp`,
//! `ngx.socket.stream`, `ngx.socket.connect`, the socket methods, the per-worker connection
//! pools of `setkeepalive`, and the `lua_socket_*`/`resolver` directives at run time.
//!
//! A socket object is a Lua table as in lua-nginx-module: `[1]` the socket's state (a
//! userdata), `[2]`/`[4]`/`[5]` the timeouts set before connecting, `[3]` the pool key.
//! Operations that wait yield the handler's coroutine to tokio. The connections a request
//! (or a timer) opened are closed when it ends, as lua-nginx-module's cleanup does.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use mlua::{Lua, MultiValue, Table, Value};
use parser::Directive;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};

use super::vm::{self, ApiResult, Fail, Phase, Vm};
use crate::http::lower::LocConf;
use crate::log::Level;

// ---------------------------------------------------------------------------------------------
// Configuration.

/// The `lua_socket_*` and `resolver` values in effect for a socket (nginx:
/// ngx_http_lua_loc_conf_t's socket fields).
#[derive(Debug, Clone)]
pub(crate) struct SockConf {
    pub(crate) connect_timeout: Duration,
    pub(crate) send_timeout: Duration,
    pub(crate) read_timeout: Duration,
    pub(crate) keepalive_timeout: Duration,
    pub(crate) buffer_size: usize,
    pub(crate) pool_size: usize,
    pub(crate) log_errors: bool,
    pub(crate) resolver: Option<Arc<Vec<SocketAddr>>>,
    pub(crate) resolver_timeout: Duration,
}

impl SockConf {
    /// lua-nginx-module's defaults (and nginx's `resolver_timeout 30s`).
    pub(crate) fn of(loc: Option<&LocConf>) -> SockConf {
        let sec60 = Duration::from_secs(60);
        let Some(c) = loc else {
            return SockConf {
                connect_timeout: sec60,
                send_timeout: sec60,
                read_timeout: sec60,
                keepalive_timeout: sec60,
                buffer_size: 4096,
                pool_size: 30,
                log_errors: true,
                resolver: None,
                resolver_timeout: Duration::from_secs(30),
            };
        };
        SockConf {
            connect_timeout: c.lua_socket_connect_timeout.unwrap_or(sec60),
            send_timeout: c.lua_socket_send_timeout.unwrap_or(sec60),
            read_timeout: c.lua_socket_read_timeout.unwrap_or(sec60),
            keepalive_timeout: c.lua_socket_keepalive_timeout.unwrap_or(sec60),
            buffer_size: c.lua_socket_buffer_size.unwrap_or(4096).max(1),
            pool_size: c.lua_socket_pool_size.unwrap_or(30),
            log_errors: c.lua_socket_log_errors.unwrap_or(true),
            resolver: c.lua_resolver.clone(),
            resolver_timeout: c.lua_resolver_timeout.unwrap_or(Duration::from_secs(30)),
        }
    }
}

/// Folds a `lua_socket_*`, `resolver` or `resolver_timeout` directive into a level's
/// LocConf; false when `d` is none of them.
pub(crate) fn lower(c: &mut LocConf, d: &Directive) -> bool {
    let a0 = d.args.first().map(Vec::as_slice).unwrap_or_default();
    let msec = |s: &[u8]| {
        crate::conf::values::parse_time(s, false)
            .and_then(|v| u64::try_from(v).ok())
            .map(Duration::from_millis)
    };
    let size = |s: &[u8]| crate::conf::values::parse_size(s).and_then(|v| usize::try_from(v).ok());
    match d.name.as_slice() {
        b"lua_socket_connect_timeout" => c.lua_socket_connect_timeout = msec(a0),
        b"lua_socket_send_timeout" => c.lua_socket_send_timeout = msec(a0),
        b"lua_socket_read_timeout" => c.lua_socket_read_timeout = msec(a0),
        b"lua_socket_keepalive_timeout" => c.lua_socket_keepalive_timeout = msec(a0),
        b"lua_socket_buffer_size" => c.lua_socket_buffer_size = size(a0),
        b"lua_socket_pool_size" => {
            c.lua_socket_pool_size = std::str::from_utf8(a0).ok().and_then(|s| s.parse().ok())
        }
        b"lua_socket_log_errors" => c.lua_socket_log_errors = Some(a0.eq_ignore_ascii_case(b"on")),
        b"lua_max_pending_timers" | b"lua_max_running_timers" => {
            let n = std::str::from_utf8(a0).ok().and_then(|s| s.parse().ok());
            let m = Arc::make_mut(c.lua_main.get_or_insert_with(Default::default));
            if d.name.as_slice() == b"lua_max_pending_timers" {
                m.max_pending_timers = n;
            } else {
                m.max_running_timers = n;
            }
        }
        b"resolver_timeout" => c.lua_resolver_timeout = msec(a0),
        b"lua_ssl_trusted_certificate" => {
            c.lua_ssl_trusted_certificate = Some(String::from_utf8_lossy(a0).into_owned())
        }
        b"resolver" => {
            let mut addrs = Vec::new();
            for a in &d.args {
                if a.starts_with(b"valid=") || a.starts_with(b"ipv6=") {
                    continue;
                }
                let s = String::from_utf8_lossy(a);
                let s = s.trim_start_matches('[');
                if let Ok(sa) = s.parse::<SocketAddr>() {
                    addrs.push(sa);
                } else if let Ok(ip) = s.trim_end_matches(']').parse::<IpAddr>() {
                    addrs.push(SocketAddr::new(ip, 53));
                } else if let Ok(found) = std::net::ToSocketAddrs::to_socket_addrs(&(s, 53)) {
                    // a name: nginx resolves it at configuration time
                    addrs.extend(found);
                }
            }
            c.lua_resolver = Some(Arc::new(addrs));
            c.resolver_valid = Some(crate::http::upstream_resolve::valid_of(d));
        }
        _ => return false,
    }
    true
}

/// A timer's configuration and owner key.
type TimerCtx = (Arc<LocConf>, vm::CtxKey, Rc<str>);
/// Sockets by owner (request or timer key).
type Owned<T> = RefCell<vm::KeyMap<Vec<Weak<RefCell<T>>>>>;

thread_local! {
    /// The configuration and owner key of the timer being run (no request is current).
    static TIMER: RefCell<Option<TimerCtx>> = const { RefCell::new(None) };
    /// Connections by owner (request or timer), closed when the owner ends.
    static OWNED: Owned<Tcp> = RefCell::new(vm::KeyMap::default());
    /// UDP sockets by owner.
    pub(crate) static OWNED_UDP: Owned<super::udp::Udp> = RefCell::new(vm::KeyMap::default());
    /// The per-worker connection pools, by key (nginx: the `socket_pool_key` registry table).
    static POOLS: RefCell<HashMap<Vec<u8>, Pool>> = RefCell::new(HashMap::new());
    static NEXT_ID: Cell<u64> = const { Cell::new(1) };
}

/// Makes a timer's configuration and owner key current while its coroutine is polled.
pub(crate) struct TimerScope(Option<TimerCtx>);

impl TimerScope {
    /// `suffix`: the creating request's `, client: ..., server: ...` for log lines.
    pub(crate) fn enter(loc: Arc<LocConf>, key: vm::CtxKey, suffix: Rc<str>) -> TimerScope {
        TimerScope(TIMER.with(|t| t.borrow_mut().replace((loc, key, suffix))))
    }
}

impl Drop for TimerScope {
    fn drop(&mut self) {
        let prev = self.0.take();
        let _ = TIMER.try_with(|t| *t.borrow_mut() = prev);
    }
}

thread_local! {
    /// The `http` level's merged configuration (for code running without a request or timer:
    /// init_worker_by_lua and the timers it creates).
    static MAIN_LOC: RefCell<Option<Arc<LocConf>>> = const { RefCell::new(None) };
}

/// Records the `http` level's configuration for this worker (before init_worker_by_lua).
pub(crate) fn set_main_loc(loc: Option<Arc<LocConf>>) {
    MAIN_LOC.with(|m| *m.borrow_mut() = loc);
}

/// The location configuration of the current request or timer (else the `http` level's).
pub(crate) fn current_loc() -> Option<Arc<LocConf>> {
    if let Ok(l) = vm::with_req(|r, _| Ok(r.loc.clone())) {
        return Some(l);
    }
    TIMER
        .with(|t| t.borrow().as_ref().map(|(l, _, _)| l.clone()))
        .or_else(|| MAIN_LOC.with(|m| m.borrow().clone()))
}

fn current_conf() -> SockConf {
    SockConf::of(current_loc().as_deref())
}

/// What a timer's log lines end with after `, context: ngx.timer` (nginx:
/// ngx_http_lua_log_timer_error: the creating connection's client and listening address).
pub(crate) fn timer_log_suffix() -> Rc<str> {
    if let Ok(s) = vm::with_req(|r, _| {
        let mut s = String::new();
        if let Some(a) = r.conn.remote {
            s.push_str(&format!(", client: {}", a.ip()));
        }
        if let Some(a) = r.http.addrs.get(r.conn.addr) {
            s.push_str(&format!(", server: {}", a.text));
        }
        Ok(s)
    }) {
        return s.into();
    }
    TIMER
        .with(|t| t.borrow().as_ref().map(|(_, _, s)| s.clone()))
        .unwrap_or_else(|| "".into())
}

/// The owner key of the current request or timer.
pub(crate) fn owner() -> vm::CtxKey {
    if let Ok(k) = vm::with_req(|r, _| Ok(vm::key_of(r))) {
        return k;
    }
    TIMER.with(|t| t.borrow().as_ref().map_or((0, 0, 0), |(_, k, _)| *k))
}

/// Closes the connections the request or timer `key` left open (nginx:
/// ngx_http_lua_socket_tcp_cleanup).
pub(crate) fn owner_done(key: vm::CtxKey) {
    let socks = OWNED
        .try_with(|o| o.borrow_mut().remove(&key))
        .ok()
        .flatten();
    for s in socks.into_iter().flatten() {
        if let Some(s) = s.upgrade() {
            if let Ok(mut t) = s.try_borrow_mut() {
                t.finalize();
            }
        }
    }
    let udps = OWNED_UDP
        .try_with(|o| o.borrow_mut().remove(&key))
        .ok()
        .flatten();
    for s in udps.into_iter().flatten() {
        if let Some(s) = s.upgrade() {
            if let Ok(mut u) = s.try_borrow_mut() {
                u.sock = None;
            }
        }
    }
}

/// A fresh number (fake pointers in log lines, timer keys).
pub(crate) fn next_id() -> u64 {
    NEXT_ID.with(|n| {
        let v = n.get();
        n.set(v + 1);
        v
    })
}

// ---------------------------------------------------------------------------------------------
// Errors, logs, arguments.

/// luaL_where(L, 1) seen from an API function: the calling Lua code's position, none when
/// the caller is a C function (pcall); mlua's async trampoline frames are skipped.
pub(crate) fn where1(lua: &Lua) -> String {
    let mut level = 1;
    loop {
        let Some(d) = lua.inspect_stack(level) else {
            return String::new();
        };
        let src = d.source();
        let short = src.short_src.as_deref().unwrap_or("?").to_string();
        if short == "ngx" || short == "[string \"?\"]" || short.contains("__mlua_async_poll") {
            level += 1;
            continue;
        }
        let line = d.curr_line();
        if line <= 0 {
            return String::new();
        }
        return format!("{short}:{line}: ");
    }
}

pub(crate) fn fail(lua: &Lua, msg: impl std::fmt::Display) -> Fail {
    Fail(format!("{}{msg}", where1(lua)))
}

/// Whether the user's code called the running API function as a method (`sock:send(x)`):
/// the debug names of the frame it called (above the API wrapper's own frames).
fn called_as_method(lua: &Lua) -> bool {
    let mut level = 1;
    let mut method = false;
    while let Some(d) = lua.inspect_stack(level) {
        let src = d.source();
        let short = src.short_src.as_deref().unwrap_or("?");
        if !(short == "ngx" || short == "[string \"?\"]" || short.contains("__mlua_async_poll")) {
            return method;
        }
        method = d.names().name_what == Some("method");
        level += 1;
    }
    false
}

/// nginx: luaL_argerror, which counts a method call's arguments without `self`.
pub(crate) fn argerr_self(lua: &Lua, n: usize, fname: &str, msg: impl std::fmt::Display) -> Fail {
    let n = if n > 1 && called_as_method(lua) {
        n - 1
    } else {
        n
    };
    argerr(lua, n, fname, msg)
}

/// nginx: luaL_argerror.
pub(crate) fn argerr(lua: &Lua, n: usize, fname: &str, msg: impl std::fmt::Display) -> Fail {
    let w = where1(lua);
    let fname = if w.is_empty() { "?" } else { fname };
    Fail(format!("{w}bad argument #{n} to '{fname}' ({msg})"))
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        // LuaJIT's FFI objects, the one type mlua does not name
        Value::Other(_) => "cdata",
        _ => "userdata",
    }
}

pub(crate) fn arg(args: &MultiValue, i: usize) -> Value {
    args.get(i).cloned().unwrap_or(Value::Nil)
}

pub(crate) fn s(lua: &Lua, b: impl AsRef<[u8]>) -> mlua::Result<Value> {
    Ok(Value::String(lua.create_string(b.as_ref())?))
}

pub(crate) fn ret(vals: Vec<Value>) -> ApiResult {
    Ok(MultiValue::from_vec(vals))
}

pub(crate) fn nil_err(lua: &Lua, msg: impl AsRef<[u8]>) -> ApiResult {
    ret(vec![Value::Nil, s(lua, msg)?])
}

/// lua_isnumber: a number or a numeric string.
pub(crate) fn as_num(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => {
            let t = s.to_str().ok()?;
            let t = t.trim();
            if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                return i64::from_str_radix(h, 16).ok().map(|v| v as f64);
            }
            t.parse().ok()
        }
        _ => None,
    }
}

/// luaL_checklstring: a string, or a number as a string.
pub(crate) fn check_str(lua: &Lua, v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(_) | Value::Number(_) => lua
            .coerce_string(v.clone())
            .ok()
            .flatten()
            .map(|s| s.as_bytes().to_vec()),
        _ => None,
    }
}

/// nginx: ngx_http_lua_check_context(L, ctx, NGX_HTTP_LUA_CONTEXT_YIELDABLE).
pub(crate) fn check_yieldable(lua: &Lua) -> Result<(), Fail> {
    match vm::current_phase().or_else(vm::noreq_phase) {
        Some(
            Phase::Rewrite
            | Phase::Access
            | Phase::Content
            | Phase::Timer
            | Phase::SslClientHello
            | Phase::SslCert
            | Phase::SslSessFetch,
        ) => Ok(()),
        Some(Phase::Init) | None => Err(fail(lua, "no request found")),
        Some(p) => Err(fail(
            lua,
            format!("API disabled in the context of {}", p.tag()),
        )),
    }
}

/// An error-log line in the current request's (or timer's) context.
pub(crate) fn log(level: Level, msg: &str) {
    let done = vm::with_req(|r, _| {
        crate::http::errlog::log(r, level, msg);
        Ok(())
    });
    if done.is_err() {
        let suffix = timer_log_suffix();
        let conn = vm::fake_conn_prefix();
        crate::http::errlog::write(level, &format!("{conn}{msg}, context: ngx.timer{suffix}"));
    }
}

/// strerror as lua-nginx-module returns it (lower-cased, for LuaSocket compatibility).
pub(crate) fn err_text(e: &std::io::Error) -> String {
    if e.raw_os_error().is_some() {
        let t = e.to_string();
        t.split(" (os error").next().unwrap_or(&t).to_lowercase()
    } else if e.kind() == std::io::ErrorKind::ConnectionAborted && e.get_ref().is_some() {
        // the raw request socket's "client aborted"
        e.to_string()
    } else {
        "error".into()
    }
}

/// The table-argument flattening of `send` (nginx: ngx_http_lua_copy_str_in_table, strict).
pub(crate) fn flatten(lua: &Lua, t: &Table, out: &mut Vec<u8>, depth: usize) -> Result<(), String> {
    if depth > 100 {
        return Err("table nested too deeply".into());
    }
    let mut max = 0usize;
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair.map_err(|e| e.to_string())?;
        let key = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => return Err("non-array table found".into()),
        };
        if key.floor() != key || key < 1.0 {
            return Err("non-array table found".into());
        }
        max = max.max(key as usize);
    }
    for i in 1..=max {
        let v: Value = t.raw_get(i).map_err(|e| e.to_string())?;
        match &v {
            Value::String(s) => out.extend_from_slice(&s.as_bytes()),
            Value::Integer(_) | Value::Number(_) => {
                out.extend_from_slice(&check_str(lua, &v).unwrap_or_default())
            }
            Value::Table(t) => flatten(lua, t, out, depth + 1)?,
            other => return Err(format!("bad data type {} found", type_name(other))),
        }
    }
    Ok(())
}

/// The bytes `send` writes for its argument, or the luaL_argerror text.
pub(crate) fn send_data(lua: &Lua, v: &Value) -> Result<Vec<u8>, String> {
    match v {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        Value::Integer(_) | Value::Number(_) => Ok(check_str(lua, v).unwrap_or_default()),
        Value::Nil => Ok(b"nil".to_vec()),
        Value::Boolean(b) => Ok(if *b {
            b"true".to_vec()
        } else {
            b"false".to_vec()
        }),
        Value::Table(t) => {
            let mut out = Vec::new();
            flatten(lua, t, &mut out, 0)?;
            Ok(out)
        }
        other => Err(format!(
            "string, number, boolean, nil, or array table expected, got {}",
            type_name(other)
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Streams and pools.

/// A connected stream (TCP, unix, or TLS over either).
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Io for T {}
pub(crate) type BoxIo = Box<dyn Io>;

/// An idle connection in a pool (nginx: ngx_http_lua_socket_pool_item_t).
struct Idle {
    io: BoxIo,
    fd: Option<i32>,
    reused: i64,
    peer: String,
    /// When the keepalive timeout closes it (None: never).
    expires: Option<Instant>,
    tls: bool,
}

/// nginx: ngx_http_lua_socket_pool_t: the idle connections, and the count of connections
/// made through the pool (in use and idle) that `backlog` limits.
struct Pool {
    size: usize,
    idle: VecDeque<Idle>,
    connections: usize,
    backlog: Option<usize>,
    /// Connect operations queued by `backlog` (nginx: wait_connect_op).
    waiters: VecDeque<Rc<tokio::sync::Notify>>,
    /// A task closes the expired idle connections (one per pool, while it has any).
    reaper: bool,
}

impl Pool {
    /// A connection of the pool is gone: one queued connect may go on (nginx:
    /// ngx_http_lua_socket_tcp_resume_conn_op).
    fn release(&mut self) {
        self.connections = self.connections.saturating_sub(1);
        self.wake();
    }

    fn wake(&mut self) {
        if let Some(w) = self.waiters.pop_front() {
            w.notify_one();
        }
    }
}

/// See [`Pool::release`].
fn pool_release(key: &[u8]) {
    let _ = POOLS.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            if let Some(pool) = p.get_mut(key) {
                pool.release();
            }
        }
    });
}

/// Whether an idle connection is still usable: nothing to read and not closed by the peer
/// (nginx: ngx_http_lua_socket_keepalive_close_handler).
fn idle_ok(io: &mut BoxIo) -> bool {
    idle_state(io) == Idle3::Quiet
}

#[derive(PartialEq)]
enum Idle3 {
    Quiet,
    Closed,
    Data,
}

fn idle_state(io: &mut BoxIo) -> Idle3 {
    let mut cx = Context::from_waker(Waker::noop());
    let mut b = [0u8; 1];
    let mut rb = ReadBuf::new(&mut b);
    match Pin::new(io).poll_read(&mut cx, &mut rb) {
        Poll::Pending => Idle3::Quiet,
        Poll::Ready(Ok(())) if !rb.filled().is_empty() => Idle3::Data,
        Poll::Ready(_) => Idle3::Closed,
    }
}

/// nginx: ngx_http_lua_get_keepalive_peer.
fn take_idle(key: &[u8]) -> Option<Idle> {
    POOLS.with(|p| {
        let mut p = p.borrow_mut();
        let pool = p.get_mut(key)?;
        let now = Instant::now();
        while let Some(mut it) = pool.idle.pop_front() {
            if it.expires.is_none_or(|e| e > now) && idle_ok(&mut it.io) {
                return Some(it);
            }
            pool.connections = pool.connections.saturating_sub(1);
        }
        None
    })
}

/// nginx: ngx_http_lua_socket_tcp_create_socket_pool (when absent).
fn ensure_pool(key: &[u8], size: usize, backlog: Option<usize>) {
    POOLS.with(|p| {
        p.borrow_mut().entry(key.to_vec()).or_insert_with(|| Pool {
            size,
            idle: VecDeque::new(),
            connections: 0,
            backlog,
            waiters: VecDeque::new(),
            reaper: false,
        });
    });
}

/// Puts an idle connection into its pool, dropping the least recently used one when the
/// pool is full; it is closed after `timeout` (zero: never).
fn put_idle(key: &[u8], mut it: Idle, timeout: Duration) {
    if !timeout.is_zero() {
        it.expires = Some(Instant::now() + timeout);
    }
    let start_reaper = POOLS.with(|p| {
        let mut p = p.borrow_mut();
        let Some(pool) = p.get_mut(key) else {
            return false;
        };
        if pool.idle.len() >= pool.size && pool.idle.pop_back().is_some() {
            pool.connections = pool.connections.saturating_sub(1);
        }
        let timed = it.expires.is_some();
        pool.idle.push_front(it);
        pool.wake();
        let start = timed && !pool.reaper;
        if start {
            pool.reaper = true;
        }
        start
    });
    if start_reaper {
        tokio::task::spawn_local(reap(key.to_vec()));
    }
}

/// Closes a pool's idle connections when their keepalive timeout expires (nginx: the read
/// timer of ngx_http_lua_socket_keepalive_rev_handler); ends when none is left to watch.
async fn reap(key: Vec<u8>) {
    loop {
        let next = POOLS.try_with(|p| {
            let mut p = p.borrow_mut();
            let pool = p.get_mut(&key)?;
            let now = Instant::now();
            let before = pool.idle.len();
            pool.idle.retain(|i| i.expires.is_none_or(|e| e > now));
            for _ in pool.idle.len()..before {
                pool.release();
            }
            let next = pool.idle.iter().filter_map(|i| i.expires).min();
            if next.is_none() {
                pool.reaper = false;
            }
            next
        });
        match next {
            Ok(Some(at)) => tokio::time::sleep_until(at.into()).await,
            _ => return,
        }
    }
}

/// The state of a TCP cosocket (nginx: ngx_http_lua_socket_tcp_upstream_t).
pub(crate) struct Tcp {
    rd: Option<ReadHalf<BoxIo>>,
    wr: Option<WriteHalf<BoxIo>>,
    fd: Option<i32>,
    /// A connection exists (its halves may be lent to a pending operation).
    connected: bool,
    reading: bool,
    writing: bool,
    connecting: bool,
    read_closed: bool,
    write_closed: bool,
    /// Received bytes not returned yet.
    buf: Vec<u8>,
    reused: i64,
    key: Vec<u8>,
    conf: SockConf,
    connect_timeout: Duration,
    send_timeout: Duration,
    read_timeout: Duration,
    id: u64,
    ft: u32,
    peer: String,
    owner: vm::CtxKey,
    /// Counted in its pool's connections (nginx: u->socket_pool).
    counted: bool,
    /// The stream is TLS (sslhandshake done): its errors are not the plain recv()/send()
    /// ones nginx core logs.
    tls: bool,
    /// TCP_NODELAY is on (nginx: `c->tcp_nodelay == NGX_TCP_NODELAY_SET`).
    nodelay: bool,
}

impl Tcp {
    fn new(conf: SockConf) -> Tcp {
        Tcp {
            rd: None,
            wr: None,
            fd: None,
            connected: false,
            reading: false,
            writing: false,
            connecting: false,
            read_closed: false,
            write_closed: false,
            buf: Vec::new(),
            reused: 0,
            key: Vec::new(),
            connect_timeout: conf.connect_timeout,
            send_timeout: conf.send_timeout,
            read_timeout: conf.read_timeout,
            conf,
            id: next_id(),
            ft: 0,
            peer: String::new(),
            owner: (0, 0, 0),
            counted: false,
            tls: false,
            nodelay: false,
        }
    }

    /// nginx: ngx_http_lua_socket_tcp_finalize.
    fn finalize(&mut self) {
        if self.counted {
            self.counted = false;
            pool_release(&self.key);
        }
        self.rd = None;
        self.wr = None;
        self.fd = None;
        self.connected = false;
        self.buf.clear();
    }

    fn set(&mut self, io: BoxIo, fd: Option<i32>) {
        let (rd, wr) = tokio::io::split(io);
        self.rd = Some(rd);
        self.wr = Some(wr);
        self.fd = fd;
        self.connected = true;
        self.read_closed = false;
        self.write_closed = false;
        self.buf.clear();
        self.ft = 0;
        self.tls = false;
        self.nodelay = false;
        let key = self.owner;
        let me = SELF.with(|s| s.borrow().clone());
        if let Some(me) = me {
            OWNED.with(|o| o.borrow_mut().entry(key).or_default().push(me));
        }
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.connected && !self.read_closed && !self.write_closed
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    pub(crate) fn log_errors(&self) -> bool {
        self.conf.log_errors
    }

    /// The peer's address (the SNI-less server name of a TLS handshake).
    pub(crate) fn peer_ip(&self) -> IpAddr {
        self.peer
            .parse::<SocketAddr>()
            .map(|a| a.ip())
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
    }

    /// Takes a stream back after a TLS handshake: the TLS stream, or None (failed: closed).
    /// sslhandshake made the stream TLS.
    pub(crate) fn set_tls(&mut self) {
        self.tls = true;
    }

    pub(crate) fn give_back(&mut self, io: Option<BoxIo>) {
        match io {
            Some(io) if self.connected => {
                let (rd, wr) = tokio::io::split(io);
                self.rd = Some(rd);
                self.wr = Some(wr);
            }
            _ => self.finalize(),
        }
    }

    /// The whole stream back from its halves (both must be home).
    pub(crate) fn take_io(&mut self) -> Option<BoxIo> {
        match (self.rd.take(), self.wr.take()) {
            (Some(r), Some(w)) => Some(r.unsplit(w)),
            (r, w) => {
                self.rd = r;
                self.wr = w;
                None
            }
        }
    }

    fn closed_log(&self, what: &str) {
        if self.conf.log_errors {
            log(
                Level::Error,
                &format!(
                    "attempt to {what} data on a closed socket: u:{:016X}, c:0000000000000000, ft:{} eof:0",
                    0x7f00_0000_0000u64 + self.id * 0x100,
                    self.ft
                ),
            );
        }
    }
}

thread_local! {
    /// The socket being attached to its owner (see [`Tcp::set`]).
    static SELF: RefCell<Option<Weak<RefCell<Tcp>>>> = const { RefCell::new(None) };
}

/// The userdata at `sock[1]`.
pub(crate) struct TcpUd(pub(crate) Rc<RefCell<Tcp>>);
impl mlua::UserData for TcpUd {}

impl Drop for TcpUd {
    /// nginx: ngx_http_lua_socket_tcp_upstream_destroy: a collected socket that still holds
    /// a connection is finalized (closed, or back to nothing) with its debug line.
    fn drop(&mut self) {
        if let Ok(mut t) = self.0.try_borrow_mut() {
            if t.connected {
                crate::http::errlog::write(Level::Debug, "lua finalize socket");
                t.finalize();
            }
        }
    }
}

/// The socket state of a socket object, if it has one.
pub(crate) fn state_of(obj: &Table) -> Option<Rc<RefCell<Tcp>>> {
    let v: Value = obj.raw_get(1).ok()?;
    let Value::UserData(ud) = v else { return None };
    ud.borrow::<TcpUd>().ok().map(|u| u.0.clone())
}

fn check_obj(lua: &Lua, args: &MultiValue, fname: &str) -> Result<Table, Fail> {
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

/// Marks an operation busy for its duration (nginx: the u->*_waiting flags).
struct Busy {
    st: Rc<RefCell<Tcp>>,
    which: u8,
}

impl Busy {
    fn new(st: &Rc<RefCell<Tcp>>, which: u8) -> Busy {
        let mut t = st.borrow_mut();
        match which {
            0 => t.connecting = true,
            1 => t.reading = true,
            _ => t.writing = true,
        }
        Busy {
            st: st.clone(),
            which,
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Ok(mut t) = self.st.try_borrow_mut() {
            match self.which {
                0 => t.connecting = false,
                1 => t.reading = false,
                _ => t.writing = false,
            }
        }
    }
}

/// nginx: ngx_http_lua_socket_check_busy_* (the error is returned, not raised).
fn busy(t: &Tcp, read: bool, write: bool) -> Option<&'static str> {
    if t.connecting {
        return Some("socket busy connecting");
    }
    if read && t.reading {
        return Some("socket busy reading");
    }
    if write && t.writing {
        return Some("socket busy writing");
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Installation.

/// The error-raising wrapper of this module's API functions: like [`Vm::api_fn`]'s, but
/// keeps the number of results (a method returning nothing returns nothing).
fn wrapper(vm: &Vm) -> mlua::Result<mlua::Function> {
    if let Ok(f) = vm
        .lua
        .named_registry_value::<mlua::Function>("__oxresty_cosocket_wrap")
    {
        return Ok(f);
    }
    let f: mlua::Function = vm
        .lua
        .load(
            "local S, error, select = ...\n\
             local function check(...)\n\
               if (...) == S then error((select(2, ...)), 0) end\n\
               return ...\n\
             end\n\
             return function(raw) return function(...) return check(raw(...)) end end",
        )
        .set_name("=ngx")
        .into_function()?;
    let error: mlua::Function = vm.lua.globals().get("error")?;
    let select: mlua::Function = vm.lua.globals().get("select")?;
    let wrap: mlua::Function = f.call((vm.sentinel.clone(), error, select))?;
    vm.lua
        .set_named_registry_value("__oxresty_cosocket_wrap", wrap.clone())?;
    Ok(wrap)
}

/// A synchronous API function (see [`wrapper`]).
pub(crate) fn api_fn<F>(vm: &Vm, f: F) -> mlua::Result<mlua::Function>
where
    F: Fn(&Lua, MultiValue) -> ApiResult + 'static,
{
    let s = vm.sentinel.clone();
    let raw = vm.lua.create_function(move |lua, args: MultiValue| {
        Ok(match f(lua, args) {
            Ok(v) => v,
            Err(Fail(msg)) => {
                MultiValue::from_vec(vec![s.clone(), Value::String(lua.create_string(msg)?)])
            }
        })
    })?;
    wrapper(vm)?.call(raw)
}

/// An API function that may yield (see [`wrapper`]).
pub(crate) fn api_async<F, Fut>(vm: &Vm, f: F) -> mlua::Result<mlua::Function>
where
    F: Fn(Lua, MultiValue) -> Fut + 'static,
    Fut: std::future::Future<Output = ApiResult> + 'static,
{
    let s = vm.sentinel.clone();
    let f = Rc::new(f);
    let raw = vm.lua.create_async_function(move |lua, args: MultiValue| {
        let s = s.clone();
        let f = f.clone();
        async move {
            Ok(match f(lua.clone(), args).await {
                Ok(v) => v,
                Err(Fail(msg)) => {
                    MultiValue::from_vec(vec![s, Value::String(lua.create_string(msg)?)])
                }
            })
        }
    })?;
    wrapper(vm)?.call(raw)
}

/// `ngx.socket` (nginx: ngx_http_lua_inject_socket_tcp_api and the udp one).
pub(crate) fn install(vm: &Rc<Vm>, ngx: &Table) -> mlua::Result<()> {
    let lua = &vm.lua;
    let methods = lua.create_table()?;
    methods.set("connect", api_async(vm, connect)?)?;
    methods.set("sslhandshake", api_async(vm, super::tls::sslhandshake)?)?;
    methods.set("receive", api_async(vm, receive)?)?;
    methods.set("receiveany", api_async(vm, receiveany)?)?;
    methods.set("receiveuntil", api_fn(vm, receiveuntil_fn(vm))?)?;
    methods.set("send", api_async(vm, send)?)?;
    methods.set("close", api_fn(vm, close)?)?;
    methods.set("settimeout", api_fn(vm, settimeout)?)?;
    methods.set("settimeouts", api_fn(vm, settimeouts)?)?;
    methods.set("getreusedtimes", api_fn(vm, getreusedtimes)?)?;
    methods.set("setkeepalive", api_fn(vm, setkeepalive)?)?;
    methods.set("bind", api_fn(vm, bind)?)?;
    methods.set("setclientcert", api_fn(vm, super::tls::setclientcert)?)?;
    methods.set("setoption", api_fn(vm, |l, a| sockopt(l, a, true))?)?;
    methods.set("getoption", api_fn(vm, |l, a| sockopt(l, a, false))?)?;
    // nginx: the metatable holds the methods and is its own __index
    methods.set("__index", methods.clone())?;
    let mt = methods.clone();
    lua.set_named_registry_value("__tcp_cosocket_mt", methods)?;
    let mt2 = mt.clone();
    let tcp = api_fn(vm, move |l, a| {
        if !a.is_empty() {
            return Err(fail(
                l,
                format!("expecting zero arguments, but got {}", a.len()),
            ));
        }
        check_yieldable(l)?;
        let t = l.create_table()?;
        t.set_metatable(Some(mt2.clone()));
        ret(vec![Value::Table(t)])
    })?;
    let socket = lua.create_table()?;
    socket.set("tcp", tcp.clone())?;
    socket.set("stream", tcp)?;
    let connect: mlua::Function = lua
        .load(
            "local sock = ngx.socket.tcp() local ok, err = sock:connect(...) \
             if ok then return sock else return nil, err end",
        )
        .set_name("=ngx.socket.connect")
        .into_function()?;
    socket.set("connect", connect)?;
    super::udp::install(vm, &socket)?;
    ngx.set("socket", socket)?;
    super::thread::install(vm, ngx)?;
    super::timer::install(vm, ngx)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// connect.

/// Where the socket table keeps the local address of `bind` (nginx: SOCKET_BIND_INDEX).
const BIND_INDEX: i64 = 8;

/// nginx: ngx_http_lua_socket_tcp_bind: `sock:bind(ip)` sets the local address the next
/// `connect` binds to (the port stays the kernel's choice).
fn bind(lua: &Lua, args: MultiValue) -> ApiResult {
    if args.len() != 2 {
        return Err(fail(
            lua,
            format!("expecting 2 arguments, but got {}", args.len()),
        ));
    }
    let obj = check_obj(lua, &args, "bind")?;
    let v = arg(&args, 1);
    let Some(text) = check_str(lua, &v) else {
        return Err(argerr(
            lua,
            2,
            "bind",
            format!("string expected, got {}", type_name(&v)),
        ));
    };
    // nginx: ngx_parse_addr: an IPv4 or IPv6 address, no port
    let Some(ip) = std::str::from_utf8(&text)
        .ok()
        .and_then(|t| t.parse::<IpAddr>().ok())
    else {
        return nil_err(lua, "bad address");
    };
    obj.raw_set(BIND_INDEX, lua.create_string(ip.to_string())?)?;
    log(Level::Debug, &format!("lua tcp socket bind ip: {ip}"));
    ret(vec![Value::Boolean(true)])
}

/// The local address `bind` set on the socket table.
fn bound_ip(obj: &Table) -> Option<IpAddr> {
    match obj.raw_get::<Value>(BIND_INDEX).ok()? {
        Value::String(s) => s.to_str().ok()?.parse().ok(),
        _ => None,
    }
}

/// nginx: ngx_event_connect_peer: the socket, bound to `local` first when `bind` set one
/// (a failed bind(2) is logged at `crit`, and the connect fails with its error).
async fn tcp_connect(
    sa: SocketAddr,
    local: Option<IpAddr>,
) -> std::io::Result<tokio::net::TcpStream> {
    let Some(ip) = local else {
        return tokio::net::TcpStream::connect(sa).await;
    };
    let sock = if sa.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    if let Err(e) = sock.bind(SocketAddr::new(ip, 0)) {
        log(
            Level::Crit,
            &format!("bind({ip}) failed ({})", crate::log::errno_text(&e)),
        );
        return Err(e);
    }
    sock.connect(sa).await
}

/// What `connect` connects to.
enum Target {
    Unix(Vec<u8>),
    Host(Vec<u8>, u16),
}

/// nginx: ngx_http_lua_socket_tcp_connect.
async fn connect(lua: Lua, args: MultiValue) -> ApiResult {
    let mut n = args.len();
    if !(2..=4).contains(&n) {
        return Err(fail(
            &lua,
            format!(
                "ngx.socket connect: expecting 2, 3, or 4 arguments (including the object), but seen {n}"
            ),
        ));
    }
    check_yieldable(&lua)?;
    let obj = check_obj(&lua, &args, "connect")?;
    let local = bound_ip(&obj);
    let host_v = arg(&args, 1);
    let Some(host) = check_str(&lua, &host_v) else {
        return Err(argerr(
            &lua,
            2,
            "connect",
            format!("string expected, got {}", type_name(&host_v)),
        ));
    };
    let conf = current_conf();
    let mut pool_size = 0i64;
    let mut backlog: Option<usize> = None;
    let mut custom_key: Option<Vec<u8>> = None;
    if let Value::Table(opts) = arg(&args, n - 1) {
        let ps: Value = opts.get("pool_size")?;
        if let Some(v) = as_num(&ps) {
            pool_size = v as i64;
            if pool_size <= 0 {
                return Err(argerr(
                    &lua,
                    n,
                    "connect",
                    format!("bad \"pool_size\" option value: {pool_size}"),
                ));
            }
        } else if !ps.is_nil() {
            return Err(argerr(
                &lua,
                n,
                "connect",
                format!("bad \"pool_size\" option type: {}", type_name(&ps)),
            ));
        }
        let bl: Value = opts.get("backlog")?;
        if let Some(v) = as_num(&bl) {
            if v < 0.0 {
                return Err(argerr(
                    &lua,
                    n,
                    "connect",
                    format!("bad \"backlog\" option value: {}", v as i64),
                ));
            }
            if pool_size == 0 {
                pool_size = conf.pool_size as i64;
            }
            backlog = Some(v as usize);
        }
        let pool: Value = opts.get("pool")?;
        match &pool {
            Value::String(_) | Value::Integer(_) | Value::Number(_) => {
                custom_key = check_str(&lua, &pool)
            }
            Value::Nil => {}
            other => {
                return Err(argerr(
                    &lua,
                    n,
                    "connect",
                    format!("bad \"pool\" option type: {}", type_name(other)),
                ))
            }
        }
        n -= 1;
    }
    if n == 4 {
        n -= 1;
    }
    let port_v = arg(&args, 2);
    let target;
    let key;
    if n == 3 && as_num(&port_v).is_some() {
        let port = as_num(&port_v).unwrap_or(0.0) as i64;
        if !(0..=65535).contains(&port) {
            return nil_err(&lua, format!("bad port number: {port}"));
        }
        let mut k = host.clone();
        k.push(b':');
        k.extend_from_slice(port.to_string().as_bytes());
        key = k;
        target = if host.len() >= 5 && host[..5].eq_ignore_ascii_case(b"unix:") {
            Target::Unix(host[5..].to_vec())
        } else {
            Target::Host(host.clone(), port as u16)
        };
    } else if host.len() >= 5 && host[..5].eq_ignore_ascii_case(b"unix:") {
        key = host.clone();
        target = Target::Unix(host[5..].to_vec());
    } else {
        return nil_err(&lua, "missing the port number");
    }
    let key = custom_key.unwrap_or(key);
    obj.raw_set(3, lua.create_string(&key)?)?;

    // the socket state, made on first connect (nginx: u in the socket table)
    let st = match state_of(&obj) {
        Some(st) => {
            {
                let mut t = st.borrow_mut();
                if let Some(e) = busy(&t, true, true) {
                    return nil_err(&lua, e);
                }
                if t.connected {
                    // nginx: "lua tcp socket reconnect without shutting down"
                    t.finalize();
                }
                t.conf = conf.clone();
            }
            st
        }
        None => {
            let st = Rc::new(RefCell::new(Tcp::new(conf.clone())));
            let ud = lua.create_userdata(TcpUd(st.clone()))?;
            obj.raw_set(1, ud)?;
            st
        }
    };
    {
        let mut t = st.borrow_mut();
        let tm = |i: i64, d: Duration| match obj.raw_get::<Value>(i).ok().as_ref().and_then(as_num)
        {
            Some(v) if v > 0.0 => Duration::from_millis(v as u64),
            _ => d,
        };
        t.connect_timeout = tm(2, conf.connect_timeout);
        t.send_timeout = tm(4, conf.send_timeout);
        t.read_timeout = tm(5, conf.read_timeout);
        t.key = key.clone();
        t.owner = owner();
        t.reused = 0;
        t.ft = 0;
    }
    if pool_size > 0 {
        ensure_pool(&key, pool_size as usize, backlog);
    }

    // a kept-alive connection for this key
    if let Some(it) = take_idle(&key) {
        reuse(&st, it);
        return ret(vec![Value::Integer(1)]);
    }

    // nginx: the pool counts its connections; `backlog` queues connects beyond its size
    let queued = POOLS.with(|p| {
        let mut p = p.borrow_mut();
        let pool = p.get_mut(&key)?;
        pool.connections += 1;
        let (size, backlog) = (pool.size, pool.backlog?);
        if pool.connections > size + backlog {
            pool.connections -= 1;
            return Some(Err(()));
        }
        if pool.connections > size {
            let w = Rc::new(tokio::sync::Notify::new());
            pool.waiters.push_back(w.clone());
            return Some(Ok(w));
        }
        None
    });
    let pooled = POOLS.with(|p| p.borrow().contains_key(&key));
    st.borrow_mut().counted = pooled;
    match queued {
        Some(Err(())) => {
            st.borrow_mut().counted = false;
            return nil_err(&lua, "too many waiting connect operations");
        }
        Some(Ok(w)) => {
            let ct = st.borrow().connect_timeout;
            let _busy = Busy::new(&st, 0);
            if tokio::time::timeout(ct, w.notified()).await.is_err() {
                POOLS.with(|p| {
                    if let Some(pool) = p.borrow_mut().get_mut(&key) {
                        pool.waiters.retain(|x| !Rc::ptr_eq(x, &w));
                        pool.connections = pool.connections.saturating_sub(1);
                    }
                });
                st.borrow_mut().counted = false;
                if conf.log_errors {
                    let shown = match &target {
                        Target::Unix(p) => format!("unix:{}", String::from_utf8_lossy(p)),
                        Target::Host(h, port) => format!("{}:{port}", String::from_utf8_lossy(h)),
                    };
                    log(
                        Level::Error,
                        &format!(
                            "lua tcp socket queued connect timed out, when trying to connect to {shown}"
                        ),
                    );
                }
                return nil_err(&lua, "timeout");
            }
            if let Some(it) = take_idle(&key) {
                // the connection counted for us is the idle one we take
                POOLS.with(|p| {
                    if let Some(pool) = p.borrow_mut().get_mut(&key) {
                        pool.connections = pool.connections.saturating_sub(1);
                    }
                });
                reuse(&st, it);
                return ret(vec![Value::Integer(1)]);
            }
        }
        None => {}
    }

    let _busy = Busy::new(&st, 0);
    let connect_timeout = st.borrow().connect_timeout;
    let res: Result<(BoxIo, Option<i32>, String), String> = match target {
        Target::Unix(path) => {
            let p = std::path::PathBuf::from(
                <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(path.clone()),
            );
            let shown = format!("unix:{}", String::from_utf8_lossy(&path));
            // nginx: ngx_event_connect_peer numbers the connection
            crate::worker::next_conn_id();
            match tokio::time::timeout(connect_timeout, tokio::net::UnixStream::connect(&p)).await {
                Ok(Ok(s)) => {
                    let fd = std::os::fd::AsRawFd::as_raw_fd(&s);
                    Ok((Box::new(s) as BoxIo, Some(fd), shown))
                }
                Ok(Err(e)) => {
                    // nginx: ngx_event_connect_peer's own log line
                    let level = match e.raw_os_error() {
                        Some(libc::ECONNREFUSED | libc::EAGAIN | libc::ECONNRESET) => Level::Error,
                        _ => Level::Crit,
                    };
                    log(
                        level,
                        &format!(
                            "connect() to {shown} failed ({})",
                            crate::log::errno_text(&e)
                        ),
                    );
                    Err(err_text(&e))
                }
                Err(_) => {
                    if conf.log_errors {
                        log(
                            Level::Error,
                            &format!(
                                "lua tcp socket connect timed out, when connecting to {shown}:0"
                            ),
                        );
                    }
                    Err("timeout".into())
                }
            }
        }
        Target::Host(h, port) => {
            let hs = String::from_utf8_lossy(&h).into_owned();
            let ip = match hs
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            {
                Ok(ip) => Ok(ip),
                Err(_) => match &conf.resolver {
                    None => {
                        return nil_err(&lua, format!("no resolver defined to resolve \"{hs}\""));
                    }
                    Some(servers) => {
                        match super::udp::resolve(servers, &hs, conf.resolver_timeout).await {
                            Ok(ip) => Ok(ip),
                            Err(e) => Err(e),
                        }
                    }
                },
            };
            match ip {
                Err(e) => return ret(vec![Value::Nil, s(&lua, e)?]),
                Ok(ip) => {
                    let sa = SocketAddr::new(ip, port);
                    let shown = sa.to_string();
                    crate::worker::next_conn_id();
                    match tokio::time::timeout(connect_timeout, tcp_connect(sa, local)).await {
                        Ok(Ok(s)) => {
                            let fd = std::os::fd::AsRawFd::as_raw_fd(&s);
                            Ok((Box::new(s) as BoxIo, Some(fd), shown))
                        }
                        Ok(Err(e)) => {
                            if conf.log_errors {
                                log(
                                    Level::Error,
                                    &format!("connect() failed ({})", crate::log::errno_text(&e)),
                                );
                            }
                            Err(err_text(&e))
                        }
                        Err(_) => {
                            if conf.log_errors {
                                log(
                                    Level::Error,
                                    &format!(
                                        "lua tcp socket connect timed out, when connecting to {shown}"
                                    ),
                                );
                            }
                            Err("timeout".into())
                        }
                    }
                }
            }
        }
    };
    drop(_busy);
    match res {
        Ok((io, fd, shown)) => {
            let weak = Rc::downgrade(&st);
            SELF.with(|s| *s.borrow_mut() = Some(weak));
            let mut t = st.borrow_mut();
            t.set(io, fd);
            SELF.with(|s| *s.borrow_mut() = None);
            t.peer = shown;
            ret(vec![Value::Integer(1)])
        }
        Err(e) => {
            let mut t = st.borrow_mut();
            if t.counted {
                t.counted = false;
                pool_release(&key);
            }
            nil_err(&lua, e)
        }
    }
}

/// Attaches a pooled connection to a socket (nginx: ngx_http_lua_get_keepalive_peer).
fn reuse(st: &Rc<RefCell<Tcp>>, it: Idle) {
    let weak = Rc::downgrade(st);
    SELF.with(|s| *s.borrow_mut() = Some(weak));
    let mut t = st.borrow_mut();
    t.set(it.io, it.fd);
    SELF.with(|s| *s.borrow_mut() = None);
    t.reused = it.reused + 1;
    t.peer = it.peer;
    t.tls = it.tls;
    t.counted = true;
    t.nodelay = true;
}

// ---------------------------------------------------------------------------------------------
// Reading.

/// The receive patterns (nginx: the input filters).
enum Pat {
    Line,
    All,
    Bytes(usize),
    Any(usize),
}

/// A read failure with the bytes read so far.
struct ReadErr {
    err: String,
    partial: Vec<u8>,
    /// The system error (errno and text) behind `err`, for nginx core's log line.
    os: Option<String>,
}

/// Reads more into `buf`: Ok(false) at EOF.
async fn fill(
    rd: &mut ReadHalf<BoxIo>,
    buf: &mut Vec<u8>,
    size: usize,
    deadline: Instant,
) -> Result<bool, Result<std::io::Error, ()>> {
    let start = buf.len();
    buf.resize(start + size, 0);
    let r = tokio::time::timeout_at(deadline.into(), rd.read(&mut buf[start..])).await;
    match r {
        Ok(Ok(n)) => {
            buf.truncate(start + n);
            Ok(n > 0)
        }
        Ok(Err(e)) => {
            buf.truncate(start);
            Err(Ok(e))
        }
        Err(_) => {
            buf.truncate(start);
            Err(Err(()))
        }
    }
}

/// Runs a read operation with the socket's read half lent to it.
async fn with_reader<F, Fut, T>(
    lua: &Lua,
    st: &Rc<RefCell<Tcp>>,
    f: F,
) -> Result<Result<T, ReadErr>, ApiResult>
where
    F: FnOnce(ReadHalf<BoxIo>, Vec<u8>, usize, Duration) -> Fut,
    Fut: std::future::Future<Output = (ReadHalf<BoxIo>, Vec<u8>, Result<T, ReadErr>)>,
{
    let (rd, buf, size, timeout) = {
        let mut t = st.borrow_mut();
        if !t.connected || t.read_closed {
            t.closed_log("receive");
            return Err(nil_err(lua, "closed"));
        }
        if let Some(e) = busy(&t, true, false) {
            return Err(nil_err(lua, e));
        }
        let Some(rd) = t.rd.take() else {
            return Err(nil_err(lua, "socket busy reading"));
        };
        (
            rd,
            std::mem::take(&mut t.buf),
            t.conf.buffer_size,
            t.read_timeout,
        )
    };
    let _busy = Busy::new(st, 1);
    let (rd, buf, res) = f(rd, buf, size, timeout).await;
    let mut t = st.borrow_mut();
    if t.connected {
        t.rd = Some(rd);
        t.buf = buf;
    }
    if let Err(e) = &res {
        if e.err == "timeout" {
            t.ft = 2;
            if t.conf.log_errors {
                log(Level::Error, "lua tcp socket read timed out");
            }
        } else {
            // nginx: ngx_http_lua_socket_handle_read_error finalizes the read side only:
            // the connection stays for sending (and `close`) until closed
            t.ft = 4;
            t.read_closed = true;
            if let (Some(os), false) = (&e.os, t.tls) {
                // nginx core's line (ngx_unix_recv), whatever lua_socket_log_errors
                log(Level::Error, &format!("recv() failed ({os})"));
            }
        }
    }
    Ok(res)
}

fn read_err(e: Result<std::io::Error, ()>, partial: Vec<u8>) -> ReadErr {
    ReadErr {
        os: e
            .as_ref()
            .ok()
            .filter(|e| e.raw_os_error().is_some())
            .map(crate::log::errno_text),
        err: match e {
            Ok(e) => err_text(&e),
            Err(()) => "timeout".into(),
        },
        partial,
    }
}

/// Reads one pattern (nginx: ngx_http_lua_socket_tcp_read with the input filters).
async fn read_pat(
    mut rd: ReadHalf<BoxIo>,
    mut buf: Vec<u8>,
    size: usize,
    timeout: Duration,
    pat: Pat,
) -> (ReadHalf<BoxIo>, Vec<u8>, Result<Vec<u8>, ReadErr>) {
    let deadline = Instant::now() + timeout;
    loop {
        match pat {
            Pat::Line => {
                if let Some(i) = buf.iter().position(|&c| c == b'\n') {
                    let line: Vec<u8> = buf[..i].iter().copied().filter(|&c| c != b'\r').collect();
                    buf.drain(..=i);
                    return (rd, buf, Ok(line));
                }
            }
            Pat::Bytes(n) => {
                if buf.len() >= n {
                    let out: Vec<u8> = buf.drain(..n).collect();
                    return (rd, buf, Ok(out));
                }
            }
            Pat::Any(max) => {
                if !buf.is_empty() {
                    let k = max.min(buf.len());
                    let out: Vec<u8> = buf.drain(..k).collect();
                    return (rd, buf, Ok(out));
                }
            }
            Pat::All => {}
        }
        let want = match pat {
            Pat::Bytes(n) => size.max(n - buf.len()).min(size.max(1)),
            Pat::Any(max) => max.min(size).max(1),
            _ => size,
        };
        match fill(&mut rd, &mut buf, want, deadline).await {
            Ok(true) => {}
            Ok(false) => {
                let partial = std::mem::take(&mut buf);
                return match pat {
                    Pat::All => (rd, buf, Ok(partial)),
                    Pat::Line => {
                        let p = partial.into_iter().filter(|&c| c != b'\r').collect();
                        (
                            rd,
                            buf,
                            Err(ReadErr {
                                err: "closed".into(),
                                os: None,
                                partial: p,
                            }),
                        )
                    }
                    _ => (
                        rd,
                        buf,
                        Err(ReadErr {
                            err: "closed".into(),
                            os: None,
                            partial,
                        }),
                    ),
                };
            }
            Err(e) => {
                let partial = std::mem::take(&mut buf);
                let partial = match pat {
                    Pat::Line => partial.into_iter().filter(|&c| c != b'\r').collect(),
                    _ => partial,
                };
                return (rd, buf, Err(read_err(e, partial)));
            }
        }
    }
}

fn read_result(lua: &Lua, res: Result<Vec<u8>, ReadErr>) -> ApiResult {
    match res {
        Ok(d) => ret(vec![s(lua, d)?]),
        Err(e) => ret(vec![Value::Nil, s(lua, e.err)?, s(lua, e.partial)?]),
    }
}

/// nginx: ngx_http_lua_socket_tcp_receive.
async fn receive(lua: Lua, args: MultiValue) -> ApiResult {
    let n = args.len();
    if n != 1 && n != 2 {
        return Err(fail(
            &lua,
            format!("expecting 1 or 2 arguments (including the object), but got {n}"),
        ));
    }
    let obj = check_obj(&lua, &args, "receive")?;
    let Some(st) = state_of(&obj) else {
        closed_log_none("receive");
        return nil_err(&lua, "closed");
    };
    {
        let t = st.borrow();
        if !t.connected || t.read_closed {
            t.closed_log("receive");
            return nil_err(&lua, "closed");
        }
    }
    let pat = if n > 1 {
        let v = arg(&args, 1);
        match &v {
            Value::Integer(_) | Value::Number(_) => {
                let b = as_num(&v).unwrap_or(0.0) as i64;
                if b < 0 {
                    return Err(argerr(&lua, 2, "receive", "bad pattern argument"));
                }
                if b == 0 {
                    return ret(vec![s(&lua, "")?]);
                }
                Pat::Bytes(b as usize)
            }
            Value::String(p) => {
                if let Some(b) = as_num(&v) {
                    let b = b as i64;
                    if b < 0 {
                        return Err(argerr(&lua, 2, "receive", "bad pattern argument"));
                    }
                    if b == 0 {
                        return ret(vec![s(&lua, "")?]);
                    }
                    Pat::Bytes(b as usize)
                } else {
                    let p = p.as_bytes().to_vec();
                    if p.len() != 2 || p[0] != b'*' {
                        return Err(argerr(
                            &lua,
                            2,
                            "receive",
                            format!("bad pattern argument: {}", String::from_utf8_lossy(&p)),
                        ));
                    }
                    match p[1] {
                        b'l' => Pat::Line,
                        b'a' => Pat::All,
                        _ => return Err(argerr(&lua, 2, "receive", "bad pattern argument")),
                    }
                }
            }
            _ => return Err(argerr(&lua, 2, "receive", "bad pattern argument")),
        }
    } else {
        Pat::Line
    };
    let res = match with_reader(&lua, &st, |rd, buf, size, tm| {
        read_pat(rd, buf, size, tm, pat)
    })
    .await
    {
        Ok(r) => r,
        Err(early) => return early,
    };
    read_result(&lua, res)
}

fn closed_log_none(what: &str) {
    if current_conf().log_errors {
        log(
            Level::Error,
            &format!(
                "attempt to {what} data on a closed socket: u:0000000000000000, c:0000000000000000, ft:0 eof:0"
            ),
        );
    }
}

/// nginx: ngx_http_lua_socket_tcp_receiveany.
async fn receiveany(lua: Lua, args: MultiValue) -> ApiResult {
    let n = args.len();
    if n != 2 {
        return Err(fail(
            &lua,
            format!("expecting 2 arguments (including the object), but got {n}"),
        ));
    }
    let obj = check_obj(&lua, &args, "receiveany")?;
    let Some(st) = state_of(&obj) else {
        closed_log_none("receive");
        return nil_err(&lua, "closed");
    };
    {
        let t = st.borrow();
        if !t.connected || t.read_closed {
            t.closed_log("receive");
            return nil_err(&lua, "closed");
        }
    }
    let v = arg(&args, 1);
    let max = match as_num(&v) {
        Some(m) if m as i64 > 0 => m as i64 as usize,
        _ => return Err(argerr(&lua, 2, "receiveany", "bad max argument")),
    };
    let res = match with_reader(&lua, &st, |rd, buf, size, tm| {
        read_pat(rd, buf, size, tm, Pat::Any(max))
    })
    .await
    {
        Ok(r) => r,
        Err(early) => return early,
    };
    read_result(&lua, res)
}

/// The compiled pattern of a `receiveuntil` iterator (nginx:
/// ngx_http_lua_socket_compiled_pattern_t): the pattern, `inclusive`, and the match state
/// kept between calls (-1: the pattern was found by a sized read, the next call says so).
struct Until {
    pat: Vec<u8>,
    inclusive: bool,
    state: Cell<i64>,
}

impl Until {
    /// The longest proper suffix of `pat[..s] + c` that is a prefix of `pat` (0 if none):
    /// nginx's "recovering" DFA edges.
    fn recover(&self, s: usize, c: u8) -> usize {
        let mut seen = self.pat[..s].to_vec();
        seen.push(c);
        for k in (1..seen.len()).rev() {
            if self.pat.len() > k && seen[seen.len() - k..] == self.pat[..k] {
                return k;
            }
        }
        0
    }
}

/// nginx: ngx_http_lua_socket_read_until over the buffered bytes: Some(out) when the
/// pattern was found or the size reached, None when more input is needed (the consumed
/// bytes are moved to `out` or kept in the match state).
fn until_step(
    u: &Until,
    buf: &mut Vec<u8>,
    out: &mut Vec<u8>,
    rest: &mut usize,
    sized: bool,
) -> bool {
    let pat = &u.pat;
    let mut state = u.state.get().max(0) as usize;
    let mut i = 0;
    while i < buf.len() {
        let c = buf[i];
        if c == pat[state] {
            i += 1;
            state += 1;
            if state == pat.len() {
                buf.drain(..i);
                u.state.set(if sized { -1 } else { 0 });
                if u.inclusive {
                    out.extend_from_slice(pat);
                }
                return true;
            }
            continue;
        }
        if state == 0 {
            out.push(c);
            i += 1;
            if sized {
                *rest -= 1;
                if *rest == 0 {
                    u.state.set(0);
                    buf.drain(..i);
                    return true;
                }
            }
            continue;
        }
        let ns = if state >= 1 { u.recover(state, c) } else { 0 };
        if ns == 0 || state < 2 {
            // not matched: the partial match is data; `c` is looked at again from state 0
            out.extend_from_slice(&pat[..state]);
            if sized {
                if *rest <= state {
                    *rest = 0;
                    u.state.set(0);
                    buf.drain(..i);
                    return true;
                }
                *rest -= state;
            }
            state = 0;
            continue;
        }
        let pending = state + 1 - ns;
        out.extend_from_slice(&pat[..pending]);
        i += 1;
        state = ns;
        if sized {
            if *rest <= pending {
                *rest = 0;
                u.state.set(state as i64);
                buf.drain(..i);
                return true;
            }
            *rest -= pending;
        }
    }
    buf.clear();
    u.state.set(state as i64);
    false
}

/// `sock:receiveuntil(pattern, opts?)` (nginx: ngx_http_lua_socket_tcp_receiveuntil).
fn receiveuntil_fn(vm: &Rc<Vm>) -> impl Fn(&Lua, MultiValue) -> ApiResult + 'static {
    let vm = Rc::downgrade(vm);
    move |lua, args| {
        let n = args.len();
        if n != 2 && n != 3 {
            return Err(fail(
                lua,
                format!("expecting 2 or 3 arguments (including the object), but got {n}"),
            ));
        }
        let obj = check_obj(lua, &args, "receiveuntil")?;
        let mut inclusive = false;
        if n == 3 {
            let Value::Table(o) = arg(&args, 2) else {
                let v = arg(&args, 2);
                return Err(argerr(
                    lua,
                    3,
                    "receiveuntil",
                    format!("table expected, got {}", type_name(&v)),
                ));
            };
            let v: Value = o.get("inclusive")?;
            match v {
                Value::Boolean(b) => inclusive = b,
                Value::Nil => {}
                other => {
                    return Err(fail(
                        lua,
                        format!("bad \"inclusive\" option value type: {}", type_name(&other)),
                    ))
                }
            }
        }
        let pv = arg(&args, 1);
        let Some(pat) = check_str(lua, &pv) else {
            return Err(argerr(
                lua,
                2,
                "receiveuntil",
                format!("string expected, got {}", type_name(&pv)),
            ));
        };
        if pat.is_empty() {
            return nil_err(lua, "pattern is empty");
        }
        let Some(vm) = vm.upgrade() else {
            return nil_err(lua, "no VM");
        };
        let u = Rc::new(Until {
            pat,
            inclusive,
            state: Cell::new(0),
        });
        let it = api_async(&vm, move |lua, a| {
            let u = u.clone();
            let obj = obj.clone();
            async move { until_iter(lua, a, obj, u).await }
        })?;
        ret(vec![Value::Function(it)])
    }
}

/// The iterator `receiveuntil` returns (nginx: ngx_http_lua_socket_receiveuntil_iterator).
async fn until_iter(lua: Lua, args: MultiValue, obj: Table, u: Rc<Until>) -> ApiResult {
    let n = args.len();
    if n > 1 {
        return Err(fail(
            &lua,
            format!("expecting 0 or 1 arguments, but seen {n}"),
        ));
    }
    let mut bytes = 0usize;
    if n == 1 {
        let v = arg(&args, 0);
        let Some(b) = as_num(&v) else {
            return Err(argerr(
                &lua,
                1,
                "?",
                format!("number expected, got {}", type_name(&v)),
            ));
        };
        bytes = (b as i64).max(0) as usize;
    }
    let Some(st) = state_of(&obj) else {
        return nil_err(&lua, "closed");
    };
    {
        let t = st.borrow();
        if !t.connected || t.read_closed {
            return nil_err(&lua, "closed");
        }
    }
    if u.state.get() == -1 {
        u.state.set(0);
        return ret(vec![Value::Nil, Value::Nil, Value::Nil]);
    }
    let sized = bytes > 0;
    let res = match with_reader(&lua, &st, |mut rd, mut buf, size, tm| {
        let u = u.clone();
        async move {
            let deadline = Instant::now() + tm;
            let mut out = Vec::new();
            let mut rest = bytes;
            loop {
                if !buf.is_empty() && until_step(&u, &mut buf, &mut out, &mut rest, sized) {
                    return (rd, buf, Ok(out));
                }
                match fill(&mut rd, &mut buf, size, deadline).await {
                    Ok(true) => {}
                    Ok(false) => {
                        return (
                            rd,
                            buf,
                            Err(ReadErr {
                                err: "closed".into(),
                                os: None,
                                partial: out,
                            }),
                        );
                    }
                    Err(e) => return (rd, buf, Err(read_err(e, out))),
                }
            }
        }
    })
    .await
    {
        Ok(r) => r,
        Err(early) => return early,
    };
    read_result(&lua, res)
}

// ---------------------------------------------------------------------------------------------
// Writing, closing, timeouts, keepalive.

/// nginx: ngx_http_lua_socket_tcp_send.
async fn send(lua: Lua, args: MultiValue) -> ApiResult {
    let n = args.len();
    if n != 2 {
        return Err(fail(
            &lua,
            format!("expecting 2 arguments (including the object), but got {n}"),
        ));
    }
    let obj = check_obj(&lua, &args, "send")?;
    let Some(st) = state_of(&obj) else {
        closed_log_none("send");
        return nil_err(&lua, "closed");
    };
    {
        let t = st.borrow();
        if !t.connected || t.write_closed {
            t.closed_log("send");
            return nil_err(&lua, "closed");
        }
    }
    let data = match send_data(&lua, &arg(&args, 1)) {
        Ok(d) => d,
        Err(m) => return Err(argerr_self(&lua, 2, "send", m)),
    };
    let (mut wr, timeout) = {
        let mut t = st.borrow_mut();
        if let Some(e) = busy(&t, false, true) {
            return nil_err(&lua, e);
        }
        if data.is_empty() {
            return ret(vec![Value::Integer(0)]);
        }
        let Some(wr) = t.wr.take() else {
            return nil_err(&lua, "socket busy writing");
        };
        if !t.nodelay {
            // nginx: `tcp_nodelay on` (the default) before the first send
            t.nodelay = true;
            if let Some(fd) = t.fd {
                let one: libc::c_int = 1;
                // SAFETY: fd is this socket's open descriptor; the value is a c_int.
                unsafe {
                    libc::setsockopt(
                        fd,
                        libc::IPPROTO_TCP,
                        libc::TCP_NODELAY,
                        std::ptr::addr_of!(one).cast(),
                        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                    );
                }
            }
            if crate::http::errlog::wants(Level::Debug) {
                log(Level::Debug, "lua socket tcp_nodelay");
            }
        }
        (wr, t.send_timeout)
    };
    let _busy = Busy::new(&st, 2);
    let res = tokio::time::timeout(timeout, async {
        wr.write_all(&data).await?;
        wr.flush().await
    })
    .await;
    let mut t = st.borrow_mut();
    if t.connected {
        t.wr = Some(wr);
    }
    match res {
        Ok(Ok(())) => ret(vec![Value::Integer(data.len() as i64)]),
        Ok(Err(e)) => {
            if e.raw_os_error().is_some() && !t.tls {
                // nginx core's line (ngx_unix_send), whatever lua_socket_log_errors
                log(
                    Level::Error,
                    &format!("send() failed ({})", crate::log::errno_text(&e)),
                );
            }
            // nginx: ngx_http_lua_socket_tcp_finalize_write_part: the connection stays
            // (for `close`, and reading) until closed
            t.ft = 1;
            t.write_closed = true;
            nil_err(&lua, err_text(&e))
        }
        Err(_) => {
            t.ft = 2;
            if t.conf.log_errors {
                log(Level::Error, "lua tcp socket write timed out");
            }
            t.write_closed = true;
            nil_err(&lua, "timeout")
        }
    }
}

/// nginx: ngx_http_lua_socket_tcp_close.
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
    let mut t = st.borrow_mut();
    if !t.connected || (t.read_closed && t.write_closed) {
        return nil_err(lua, "closed");
    }
    if let Some(e) = busy(&t, true, true) {
        return nil_err(lua, e);
    }
    t.finalize();
    ret(vec![Value::Integer(1)])
}

fn timeout_arg(v: &Value) -> Option<i64> {
    let t = as_num(v).unwrap_or(0.0) as i64;
    if t >> 31 != 0 {
        None
    } else {
        Some(t)
    }
}

/// nginx: ngx_http_lua_socket_tcp_settimeout.
fn settimeout(lua: &Lua, args: MultiValue) -> ApiResult {
    let n = args.len();
    if n != 2 {
        return Err(fail(
            lua,
            format!(
                "ngx.socket settimeout: expecting 2 arguments (including the object) but seen {n}"
            ),
        ));
    }
    let Some(t) = timeout_arg(&arg(&args, 1)) else {
        return Err(fail(lua, "bad timeout value"));
    };
    let obj = check_obj(lua, &args, "settimeout")?;
    for i in [2, 4, 5] {
        obj.raw_set(i, t)?;
    }
    if let Some(st) = state_of(&obj) {
        let mut s = st.borrow_mut();
        let c = s.conf.clone();
        let d = |v: i64, def: Duration| {
            if v > 0 {
                Duration::from_millis(v as u64)
            } else {
                def
            }
        };
        s.connect_timeout = d(t, c.connect_timeout);
        s.send_timeout = d(t, c.send_timeout);
        s.read_timeout = d(t, c.read_timeout);
    }
    ret(vec![])
}

/// nginx: ngx_http_lua_socket_tcp_settimeouts.
fn settimeouts(lua: &Lua, args: MultiValue) -> ApiResult {
    let n = args.len();
    if n != 4 {
        return Err(fail(
            lua,
            format!(
                "ngx.socket settimeout: expecting 4 arguments (including the object) but seen {n}"
            ),
        ));
    }
    let mut v = [0i64; 3];
    for (k, slot) in v.iter_mut().enumerate() {
        let Some(t) = timeout_arg(&arg(&args, k + 1)) else {
            return Err(fail(lua, "bad timeout value"));
        };
        *slot = t;
    }
    let obj = check_obj(lua, &args, "settimeouts")?;
    obj.raw_set(2, v[0])?;
    obj.raw_set(4, v[1])?;
    obj.raw_set(5, v[2])?;
    if let Some(st) = state_of(&obj) {
        let mut s = st.borrow_mut();
        let c = s.conf.clone();
        let d = |v: i64, def: Duration| {
            if v > 0 {
                Duration::from_millis(v as u64)
            } else {
                def
            }
        };
        s.connect_timeout = d(v[0], c.connect_timeout);
        s.send_timeout = d(v[1], c.send_timeout);
        s.read_timeout = d(v[2], c.read_timeout);
    }
    ret(vec![])
}

/// nginx: ngx_http_lua_socket_tcp_getreusedtimes.
fn getreusedtimes(lua: &Lua, args: MultiValue) -> ApiResult {
    let n = args.len();
    if n != 1 {
        return Err(fail(
            lua,
            format!("expecting 1 argument (including the object), but got {n}"),
        ));
    }
    let obj = check_obj(lua, &args, "getreusedtimes")?;
    match state_of(&obj) {
        Some(st) => {
            let t = st.borrow();
            if !t.connected || (t.read_closed && t.write_closed) {
                return nil_err(lua, "closed");
            }
            ret(vec![Value::Integer(t.reused)])
        }
        None => nil_err(lua, "closed"),
    }
}

/// nginx: ngx_http_lua_socket_tcp_setkeepalive.
fn setkeepalive(lua: &Lua, args: MultiValue) -> ApiResult {
    let n = args.len();
    if !(1..=3).contains(&n) {
        return Err(fail(
            lua,
            format!("expecting 1 to 3 arguments (including the object), but got {n}"),
        ));
    }
    let obj = check_obj(lua, &args, "setkeepalive")?;
    let Some(st) = state_of(&obj) else {
        return nil_err(lua, "closed");
    };
    let mut t = st.borrow_mut();
    if !t.connected || t.read_closed || t.write_closed {
        return nil_err(lua, "closed");
    }
    if let Some(e) = busy(&t, true, true) {
        return nil_err(lua, e);
    }
    if !t.buf.is_empty() {
        return nil_err(lua, "unread data in buffer");
    }
    if t.ft & 2 != 0 {
        return nil_err(lua, "invalid connection");
    }
    let key = match obj.raw_get::<Value>(3)? {
        Value::String(k) => k.as_bytes().to_vec(),
        _ => return nil_err(lua, "key not found"),
    };
    let conf = current_conf();
    let exists = POOLS.with(|p| p.borrow().contains_key(&key));
    if !exists {
        let size = match arg(&args, 2) {
            Value::Nil => conf.pool_size as i64,
            v => match as_num(&v) {
                Some(x) => x as i64,
                None => {
                    return Err(argerr(
                        lua,
                        3,
                        "setkeepalive",
                        format!("number expected, got {}", type_name(&v)),
                    ))
                }
            },
        };
        if size <= 0 {
            return Err(argerr(
                lua,
                n,
                "setkeepalive",
                format!("bad \"pool_size\" option value: {size}"),
            ));
        }
        ensure_pool(&key, size as usize, None);
    }
    let timeout = match arg(&args, 1) {
        Value::Nil => conf.keepalive_timeout,
        v => match as_num(&v) {
            Some(x) => Duration::from_millis(x.max(0.0) as u64),
            None => {
                return Err(argerr(
                    lua,
                    2,
                    "setkeepalive",
                    format!("number expected, got {}", type_name(&v)),
                ))
            }
        },
    };
    let fd = t.fd;
    let reused = t.reused;
    let peer = t.peer.clone();
    let tls = t.tls;
    let Some(mut io) = t.take_io() else {
        return nil_err(lua, "socket busy");
    };
    // the connection stays counted in the pool while idle (nginx counts a socket that was
    // not counted yet here)
    if !t.counted {
        POOLS.with(|p| {
            if let Some(pool) = p.borrow_mut().get_mut(&key) {
                pool.connections += 1;
            }
        });
    }
    t.counted = false;
    t.finalize();
    if super::timer::worker_exiting() {
        pool_release(&key);
        return ret(vec![Value::Integer(1)]);
    }
    match idle_state(&mut io) {
        Idle3::Quiet => {}
        // nginx: the read event saw the peer's FIN (c->read->eof)
        Idle3::Closed => {
            pool_release(&key);
            return nil_err(lua, "closed");
        }
        Idle3::Data => {
            pool_release(&key);
            return nil_err(lua, "connection in dubious state");
        }
    }
    put_idle(
        &key,
        Idle {
            io,
            fd,
            reused,
            peer,
            expires: None,
            tls,
        },
        timeout,
    );
    ret(vec![Value::Integer(1)])
}

/// resty.core's `setoption`/`getoption` (nginx: ngx_http_lua_ffi_socket_tcp_setoption).
fn sockopt(lua: &Lua, args: MultiValue, set: bool) -> ApiResult {
    // resty.core's get_tcp_socket raises this at its line 81
    const NEVER: &str =
        "/usr/share/lua/5.1/resty/core/socket.lua:81: socket is never created nor connected";
    let Value::Table(obj) = arg(&args, 0) else {
        return Err(Fail(NEVER.into()));
    };
    let Some(st) = state_of(&obj) else {
        return Err(Fail(NEVER.into()));
    };
    let opt = arg(&args, 1);
    if opt.is_nil() {
        return nil_err(lua, "missing the \"option\" argument");
    }
    let value = arg(&args, 2);
    if set && value.is_nil() {
        return nil_err(lua, "missing the \"value\" argument");
    }
    let name = check_str(lua, &opt).unwrap_or_default();
    let (level, o) = match name.as_slice() {
        b"keepalive" => (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
        b"reuseaddr" => (libc::SOL_SOCKET, libc::SO_REUSEADDR),
        b"tcp-nodelay" => (libc::IPPROTO_TCP, libc::TCP_NODELAY),
        b"sndbuf" => (libc::SOL_SOCKET, libc::SO_SNDBUF),
        b"rcvbuf" => (libc::SOL_SOCKET, libc::SO_RCVBUF),
        _ => {
            let t = match &opt {
                Value::String(s) => s.to_string_lossy(),
                v => String::from_utf8_lossy(&check_str(lua, v).unwrap_or_default()).into_owned(),
            };
            return nil_err(lua, format!("unsupported option {t}"));
        }
    };
    let t = st.borrow();
    let Some(fd) = t.fd.filter(|_| t.connected) else {
        return nil_err(lua, "closed");
    };
    if set {
        let v: libc::c_int = as_num(&value).map_or(0, |x| x as libc::c_int);
        // SAFETY: `fd` is the socket this object owns (connected); the value is a c_int.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                level,
                o,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return nil_err(lua, err_text(&std::io::Error::last_os_error()));
        }
        ret(vec![Value::Boolean(true)])
    } else {
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: as above; `v` and `len` are valid for writing.
        let rc = unsafe {
            libc::getsockopt(fd, level, o, (&mut v as *mut libc::c_int).cast(), &mut len)
        };
        if rc != 0 {
            return nil_err(lua, err_text(&std::io::Error::last_os_error()));
        }
        ret(vec![Value::Integer(i64::from(v))])
    }
}

// ---------------------------------------------------------------------------------------------
// ngx.req.socket.

/// The request body as a read-only stream: what `ngx.req.socket()` reads (nginx: the
/// downstream connection with `u->body_downstream`, bounded by the body's length).
struct BodyIo {
    body: crate::http::h1::ReqBody,
    /// The current frame's bytes not read yet.
    cur: bytes::Bytes,
}

impl AsyncRead for BodyIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        use hyper::body::Body;
        loop {
            if !self.cur.is_empty() {
                let n = buf.remaining().min(self.cur.len());
                let chunk = self.cur.split_to(n);
                buf.put_slice(&chunk);
                return Poll::Ready(Ok(()));
            }
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                // The end of the body reads as the end of the stream: "closed".
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        e,
                    )))
                }
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.cur = data;
                    }
                }
            }
        }
    }
}

impl AsyncWrite for BodyIo {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The raw request socket's stream: the connection (see [`crate::http::h1::RawConn`]);
/// with `lua_check_client_abort on`, the client's close reads as "client aborted".
struct RawIo {
    conn: crate::http::h1::RawConn,
    check_abort: bool,
}

impl AsyncRead for RawIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let abort = self.check_abort;
        match Pin::new(&mut self.conn).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if abort && buf.filled().len() == before => {
                // nginx: NGX_HTTP_LUA_SOCKET_FT_CLIENTABORT
                Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "client aborted",
                )))
            }
            r => r,
        }
    }
}

impl AsyncWrite for RawIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.conn).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.conn).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.conn).poll_shutdown(cx)
    }
}

/// The status of a request whose head the raw socket's handler wrote itself (nginx:
/// `r->headers_out.status` as `ngx.status` set it, else 0).
pub(crate) fn raw_status(r: &crate::http::request::Request) -> u16 {
    vm::find_ctx(vm::key_of(r))
        .and_then(|c| c.try_borrow().ok().map(|c| c.status))
        .unwrap_or(0)
}

/// nginx: the raw branch of ngx_http_lua_req_socket: the whole connection, full duplex. The
/// response head is not sent for the handler (it writes raw bytes), output calls fail from
/// now on, and the connection closes when the request ends.
fn raw_req_socket(lua: &Lua, mt: &Table) -> ApiResult {
    let state = vm::with_req(|r, c| {
        let Some((conn, gen)) = c.raw_conn.clone() else {
            return Ok(Err("no raw connection"));
        };
        if c.incoming.is_none() && c.body.is_none() && conn.body_pending(gen) {
            return Ok(Err("pending request body reading in some other thread"));
        }
        if c.buffering {
            return Ok(Err("http 1.0 buffering"));
        }
        // nginx: "pending data to write" is a congested connection's; here the raw writes
        // wait for the connection to write what it was handed. Output still held back
        // (postpone_output) is never sent.
        // nginx: r->header_sent = 1: nothing sends the head for the handler now
        c.headers_sent = true;
        if c.raw_socket {
            return Ok(Err("duplicate call"));
        }
        c.raw_socket = true;
        c.out.clear();
        c.out_marks.clear();
        conn.acquire();
        if let Some(s) = c.stream.as_ref().filter(|s| super::stream::started(s)) {
            super::stream::detach(s);
        }
        Ok(Ok((
            conn,
            r.loc.lua_check_client_abort == Some(true),
            r.conn.requests > 1,
        )))
    })?;
    let (conn, check_abort, nodelay) = match state {
        Ok(v) => v,
        Err(e) => return nil_err(lua, e),
    };
    let obj = lua.create_table()?;
    obj.set_metatable(Some(mt.clone()));
    let st = Rc::new(RefCell::new(Tcp::new(current_conf())));
    {
        let weak = Rc::downgrade(&st);
        SELF.with(|s| *s.borrow_mut() = Some(weak));
        let mut t = st.borrow_mut();
        t.owner = owner();
        t.set(Box::new(RawIo { conn, check_abort }), None);
        // nginx sets TCP_NODELAY on a connection going keep-alive
        t.nodelay = nodelay;
        SELF.with(|s| *s.borrow_mut() = None);
    }
    obj.raw_set(1, lua.create_userdata(TcpUd(st))?)?;
    ret(vec![Value::Table(obj)])
}

/// The methods of request sockets (nginx: req_socket_metatable_key's table).
pub(crate) fn install_req_socket(vm: &Rc<Vm>, req: &Table) -> mlua::Result<()> {
    let lua = &vm.lua;
    let methods = lua.create_table()?;
    methods.set("receive", api_async(vm, receive)?)?;
    methods.set("receiveany", api_async(vm, receiveany)?)?;
    methods.set("receiveuntil", api_fn(vm, receiveuntil_fn(vm))?)?;
    methods.set("settimeout", api_fn(vm, settimeout)?)?;
    methods.set("settimeouts", api_fn(vm, settimeouts)?)?;
    // nginx: raw_req_socket_metatable_key's table: the same and `send`
    let raw_methods = lua.create_table()?;
    for pair in methods.pairs::<Value, Value>() {
        let (k, v) = pair?;
        raw_methods.set(k, v)?;
    }
    raw_methods.set("send", api_async(vm, send)?)?;
    // nginx: each metatable holds the methods and is its own __index
    methods.set("__index", methods.clone())?;
    let mt = methods;
    raw_methods.set("__index", raw_methods.clone())?;
    let raw_mt = raw_methods;
    req.set(
        "socket",
        api_fn(vm, move |l, a| req_socket(l, a, &mt, &raw_mt))?,
    )?;
    Ok(())
}

/// nginx: ngx_http_lua_req_socket. Only the body form: `ngx.req.socket(true)` (the raw,
/// full-duplex connection) is refused with an error value rather than half-working.
fn req_socket(lua: &Lua, args: MultiValue, mt: &Table, raw_mt: &Table) -> ApiResult {
    if args.len() > 1 {
        return Err(fail(
            lua,
            format!("expecting zero arguments, but got {}", args.len()),
        ));
    }
    let raw = !matches!(arg(&args, 0), Value::Nil | Value::Boolean(false));
    let (sub, h2, chunked, length) = vm::with_req(|r, _| {
        let chunked = r
            .headers
            .get_all(hyper::header::TRANSFER_ENCODING)
            .iter()
            .any(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
        let length = r
            .headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(-1);
        Ok((
            r.sub != 0,
            r.version == hyper::Version::HTTP_2,
            chunked,
            length,
        ))
    })?;
    if sub {
        return Err(fail(
            lua,
            "attempt to read the request body in a subrequest",
        ));
    }
    if h2 {
        return Err(fail(lua, "http v2 not supported yet"));
    }
    if !raw && chunked {
        return nil_err(lua, "chunked request bodies not supported yet");
    }
    super::api::check_phase(
        lua,
        &[
            Phase::ServerRewrite,
            Phase::Rewrite,
            Phase::Access,
            Phase::Content,
        ],
    )?;
    if raw {
        return raw_req_socket(lua, raw_mt);
    }
    let body = vm::with_req(|_, c| {
        if c.body.is_some() {
            return Ok(Err("request body already exists"));
        }
        if length <= 0 {
            return Ok(Err("no body"));
        }
        let b = c.incoming.take().ok_or("request body already exists");
        c.body_socket |= b.is_ok();
        Ok(b)
    })?;
    let body = match body {
        Ok(b) => b,
        Err(e) => return nil_err(lua, e),
    };
    let obj = lua.create_table()?;
    obj.set_metatable(Some(mt.clone()));
    let st = Rc::new(RefCell::new(Tcp::new(current_conf())));
    {
        let weak = Rc::downgrade(&st);
        SELF.with(|s| *s.borrow_mut() = Some(weak));
        let mut t = st.borrow_mut();
        t.owner = owner();
        t.set(
            Box::new(BodyIo {
                body,
                cur: bytes::Bytes::new(),
            }),
            None,
        );
        SELF.with(|s| *s.borrow_mut() = None);
    }
    obj.raw_set(1, lua.create_userdata(TcpUd(st))?)?;
    ret(vec![Value::Table(obj)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pat: &str, input: &[&str], size: usize) -> Vec<String> {
        let u = Until {
            pat: pat.as_bytes().to_vec(),
            inclusive: false,
            state: Cell::new(0),
        };
        let mut outs = Vec::new();
        let mut buf = Vec::new();
        let mut out = Vec::new();
        let mut rest = size;
        for chunk in input {
            buf.extend_from_slice(chunk.as_bytes());
            while !buf.is_empty() && until_step(&u, &mut buf, &mut out, &mut rest, size > 0) {
                outs.push(String::from_utf8_lossy(&out).into_owned());
                out.clear();
                rest = size;
                if u.state.get() == -1 {
                    u.state.set(0);
                }
            }
        }
        outs
    }

    #[test]
    fn until_finds_patterns_across_reads() {
        assert_eq!(
            run("--abc", &["hello--a", "bcworld--abc"], 0),
            ["hello", "world"]
        );
        assert_eq!(run("aab", &["aaab"], 0), ["a"]);
        // the leftmost match wins, as in the reference (lua_socket_tcp.t TEST 21)
        assert_eq!(run("abab", &["abababx", "abab"], 0), ["", "abx"]);
    }

    #[test]
    fn until_sized_chunks() {
        assert_eq!(run("--", &["abcdefg--"], 3), ["abc", "def", "g"]);
    }
}
