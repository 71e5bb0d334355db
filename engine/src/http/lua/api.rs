//! The `ngx.*` API in Rust (nginx: lua-nginx-module's ngx_http_lua_inject_* functions and
//! the resty.core FFI functions with their Lua wrappers). Errors are raised as Lua strings
//! with the caller's position, as luaL_error does.

use std::rc::Rc;
use std::sync::Arc;

use hyper::header::{HeaderName, HeaderValue};
use mlua::{LightUserData, Lua, MultiValue, Table, Value};

use super::shdict::{self, Dict, IncrResult, Mode, SetResult, Val};
use super::util;
use super::vm::{self, with_req, ApiResult, Fail, Phase, Vm};
use crate::http::request::Request;
use crate::log::Level;

type LResult<T> = mlua::Result<T>;

// ---------------------------------------------------------------------------------------------
// Helpers.

/// `short_src:line: ` of the Lua code that called the API function (nginx: luaL_where(L, 1)
/// from the C function; here level 2 because of the wrapper).
pub(crate) fn where_(lua: &Lua, level: usize) -> String {
    // Skip the API's own Lua frames: the error wrapper (`=ngx`) and mlua's async poller.
    let mut level = level.saturating_sub(1);
    loop {
        let Some(d) = lua.inspect_stack(level) else {
            return String::new();
        };
        let src = d.source();
        let short = src.short_src.as_deref().unwrap_or("?").to_string();
        if short == "ngx" || short.contains("__mlua_async_poll") || short == "[string \"?\"]" {
            level += 1;
            continue;
        }
        let line = d.curr_line();
        if line <= 0 || level == 0 {
            return String::new();
        }
        return format!("{short}:{line}: ");
    }
}

/// The log prefix's position: `short_src:line: ` and, for a named Lua function,
/// `name(): ` (nginx: ngx_http_lua_log_wrapper's lua_getinfo "Snl").
fn log_where(lua: &Lua) -> String {
    let mut level = 1;
    loop {
        let Some(d) = lua.inspect_stack(level) else {
            return String::new();
        };
        let src = d.source();
        let short = src.short_src.as_deref().unwrap_or("?").to_string();
        if short == "ngx" || short.contains("__mlua_async_poll") || short == "[string \"?\"]" {
            level += 1;
            continue;
        }
        let line = d.curr_line();
        if line <= 0 {
            return String::new();
        }
        // nginx: ngx_http_lua_log_wrapper logs the source's base name.
        let base = short.rsplit(['/', '\\']).next().unwrap_or(&short);
        let mut out = format!("{base}:{line}: ");
        let names = d.names();
        if let Some(name) = names.name.as_deref() {
            if !names.name_what.unwrap_or("").is_empty() && src.what == "Lua" {
                out.push_str(&format!("{name}(): "));
            }
        }
        return out;
    }
}

/// resty.core's `error(msg, 3)`: the position of the frame above the API's caller (none
/// when the caller is the handler's main chunk).
fn where_above(lua: &Lua) -> String {
    let mut level = 1;
    let mut seen_caller = false;
    loop {
        let Some(d) = lua.inspect_stack(level) else {
            return String::new();
        };
        let src = d.source();
        let short = src.short_src.as_deref().unwrap_or("?").to_string();
        level += 1;
        if short == "ngx" || short.contains("__mlua_async_poll") || short == "[string \"?\"]" {
            continue;
        }
        if !seen_caller {
            seen_caller = true;
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
    Fail(format!("{}{msg}", where_(lua, 2)))
}

/// nginx: luaL_argerror: the function's name is only known when Lua code called it.
fn argerr(lua: &Lua, n: usize, fname: &str, msg: impl std::fmt::Display) -> Fail {
    let fname = if where_(lua, 2).is_empty() {
        "?"
    } else {
        fname
    };
    fail(lua, format!("bad argument #{n} to '{fname}' ({msg})"))
}

fn ok(vals: Vec<Value>) -> ApiResult {
    Ok(MultiValue::from_vec(vals))
}

fn none() -> ApiResult {
    Ok(MultiValue::new())
}

fn s(lua: &Lua, b: impl AsRef<[u8]>) -> LResult<Value> {
    Ok(Value::String(lua.create_string(b.as_ref())?))
}

fn nil_err(lua: &Lua, msg: &str) -> ApiResult {
    ok(vec![Value::Nil, s(lua, msg)?])
}

pub(crate) fn arg(args: &MultiValue, i: usize) -> Value {
    args.get(i).cloned().unwrap_or(Value::Nil)
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::LightUserData(_) => "userdata",
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

/// A string or number as bytes (nginx: lua_tolstring).
pub(crate) fn to_bytes(lua: &Lua, v: &Value) -> Option<Vec<u8>> {
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

/// resty.core's string coercion: nil is "", others `tostring`.
fn str_arg(lua: &Lua, v: &Value) -> Vec<u8> {
    match v {
        Value::Nil => Vec::new(),
        other => to_bytes(lua, other).unwrap_or_else(|| tostring(lua, other)),
    }
}

fn tostring(lua: &Lua, v: &Value) -> Vec<u8> {
    let f: LResult<mlua::Function> = lua.globals().get("tostring");
    f.and_then(|f| f.call::<mlua::String>(v.clone()))
        .map(|s| s.as_bytes().to_vec())
        .unwrap_or_default()
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => s.to_str().ok().and_then(|s| s.trim().parse().ok()),
        _ => None,
    }
}

pub(crate) fn check_phase(lua: &Lua, allowed: &[Phase]) -> Result<(), Fail> {
    match vm::current_phase().or_else(vm::noreq_phase) {
        Some(p) if allowed.contains(&p) => Ok(()),
        Some(p) => Err(fail(
            lua,
            format!("API disabled in the context of {}", p.tag()),
        )),
        None => Err(fail(lua, "no request found")),
    }
}

const REQ_PHASES: &[Phase] = &[
    Phase::Set,
    Phase::ServerRewrite,
    Phase::Rewrite,
    Phase::Access,
    Phase::Content,
    Phase::Log,
    Phase::HeaderFilter,
    Phase::BodyFilter,
];
const OUTPUT_PHASES: &[Phase] = &[
    Phase::ServerRewrite,
    Phase::Rewrite,
    Phase::Access,
    Phase::Content,
];

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Output: ngx.say, ngx.print, ngx.flush, ngx.eof, ngx.send_headers.

/// nginx: ngx_http_lua_copy_str_in_table / calc_strlen_in_table (not strict).
fn write_table(
    lua: &Lua,
    t: &Table,
    out: &mut Vec<u8>,
    argn: usize,
    fname: &str,
) -> Result<(), Fail> {
    let mut max = 0usize;
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair?;
        let key = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => return Err(argerr(lua, argn, fname, "non-array table found")),
        };
        if key.floor() != key || key < 1.0 {
            return Err(argerr(lua, argn, fname, "non-array table found"));
        }
        max = max.max(key as usize);
    }
    for i in 1..=max {
        let v: Value = t.raw_get(i)?;
        match &v {
            Value::Nil => out.extend_from_slice(b"nil"),
            Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Table(inner) => write_table(lua, inner, out, argn, fname)?,
            Value::LightUserData(u) if u.0.is_null() => out.extend_from_slice(b"null"),
            Value::String(_) | Value::Integer(_) | Value::Number(_) => {
                out.extend_from_slice(&to_bytes(lua, &v).unwrap_or_default())
            }
            other => {
                return Err(argerr(
                    lua,
                    argn,
                    fname,
                    format!("bad data type {} found", type_name(other)),
                ))
            }
        }
    }
    Ok(())
}

/// nginx: ngx_http_lua_ngx_echo.
fn echo(lua: &Lua, args: MultiValue, newline: bool) -> ApiResult {
    let fname = if newline { "say" } else { "print" };
    check_phase(lua, OUTPUT_PHASES)?;
    let state = with_req(|r, c| {
        Ok(if c.raw_socket {
            Some("raw request socket acquired")
        } else if r.method == hyper::Method::HEAD && c.headers_sent {
            Some("header only")
        } else if c.eof {
            Some("seen eof")
        } else {
            None
        })
    })?;
    if let Some(e) = state {
        return nil_err(lua, e);
    }
    let mut buf = Vec::new();
    for (i, v) in args.iter().enumerate() {
        match v {
            Value::Nil => buf.extend_from_slice(b"nil"),
            Value::Boolean(b) => buf.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::String(_) | Value::Integer(_) | Value::Number(_) => {
                buf.extend_from_slice(&to_bytes(lua, v).unwrap_or_default())
            }
            Value::Table(t) => write_table(lua, t, &mut buf, i + 1, fname)?,
            Value::LightUserData(u) if u.0.is_null() => buf.extend_from_slice(b"null"),
            Value::LightUserData(_) => {}
            other => {
                return Err(argerr(
                    lua,
                    i + 1,
                    fname,
                    format!(
                    "string, number, boolean, nil, ngx.null, or array table expected, but got {}",
                    type_name(other)
                ),
                ))
            }
        }
    }
    if newline {
        buf.push(b'\n');
    }
    let refused = with_req(|r, c| {
        start_buffering(r, c);
        send_header(r, c);
        // After the client went away, nginx's write fails once a write is due: at a
        // flush, or when postpone_output bytes wait.
        let broken = c.stream.as_ref().is_some_and(super::stream::broken)
            && buf.len() >= super::stream::POSTPONE_OUTPUT;
        Ok(c.precondition_failed || broken)
    })?;
    if refused || !super::phases::header_filter_now() {
        return nil_err(lua, "nginx output filter error");
    }
    with_req(|r, c| {
        if c.buffering {
            debug(r, "lua buffering output bufs for the HTTP 1.0 request");
        }
        c.out_total += buf.len();
        if r.method != hyper::Method::HEAD {
            c.out.extend_from_slice(&buf);
            if !buf.is_empty() {
                c.out_marks.push(c.out.len());
            }
        }
        Ok(())
    })?;
    ok(vec![Value::Integer(1)])
}

/// nginx: ngx_http_lua_send_header_if_needed: the headers go out with the type
/// ngx_http_set_content_type gives (unless `lua_use_default_type off`).
pub(crate) fn send_header(r: &Request, c: &mut vm::ReqCtx) {
    if c.headers_sent {
        return;
    }
    c.headers_sent = true;
    // nginx: ngx_http_not_modified_filter's If-Unmodified-Since test on a 200 answer.
    if c.status == 0 || c.status == 200 {
        if let Some(ius) = r
            .headers
            .get(hyper::header::IF_UNMODIFIED_SINCE)
            .and_then(|v| crate::http::response::parse_http_time(v.as_bytes()))
        {
            let lm = c
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("last-modified"))
                .and_then(|(_, v)| crate::http::response::parse_http_time(v));
            if lm.is_none_or(|lm| ius < lm) {
                c.precondition_failed = true;
                return;
            }
        }
    }
    let has_type = c
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    if !has_type
        && !c.type_cleared
        && r.loc.lua_use_default_type != Some(false)
        && (c.status != 204 || r.sub != 0)
        && c.status != 304
    {
        if let Some(t) = super::phases::content_type_of(r).or_else(|| r.loc.default_type.clone()) {
            c.headers.push(("Content-Type".into(), t));
        }
    }
}

/// nginx: ngx_http_lua_send_chain_link: the first output of an HTTP/1.0 request without a
/// Content-Length is held whole (`lua_http10_buffering on`, the default) so that it gets one.
fn start_buffering(r: &Request, c: &mut vm::ReqCtx) {
    if !c.buffering
        && !c.headers_sent
        && r.loc.lua_http10_buffering != Some(false)
        && r.version == hyper::Version::HTTP_10
        && !c
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        c.buffering = true;
    }
}

/// A debug line of the request (nginx: ngx_log_debug on the connection's log).
fn debug(r: &Request, msg: &str) {
    if crate::http::errlog::wants_for(r, Level::Debug) {
        crate::http::errlog::log(r, Level::Debug, msg);
    }
}

/// nginx: ngx_http_lua_ngx_flush: `ngx.flush(wait?)` hands what was printed to the
/// connection; with `wait` true it returns once the connection took it.
async fn flush(lua: Lua, args: MultiValue) -> ApiResult {
    if args.len() > 1 {
        return Err(fail(
            &lua,
            format!(
                "attempt to pass {} arguments, but accepted 0 or 1",
                args.len()
            ),
        ));
    }
    let main = with_req(|r, _| Ok(r.sub == 0))?;
    let wait = match arg(&args, 0) {
        _ if !main || args.is_empty() => false,
        Value::Boolean(b) => b,
        v => {
            return Err(argerr(
                &lua,
                1,
                "flush",
                format!("boolean expected, got {}", type_name(&v)),
            ))
        }
    };
    check_phase(&lua, OUTPUT_PHASES)?;
    let state = with_req(|r, c| {
        if c.raw_socket {
            return Ok(Err("raw request socket acquired"));
        }
        if r.method == hyper::Method::HEAD && c.headers_sent {
            return Ok(Err("header only"));
        }
        if c.eof {
            return Ok(Err("seen eof"));
        }
        if c.buffering {
            debug(r, "lua http 1.0 buffering makes ngx.flush() a no-op");
            return Ok(Err("buffering"));
        }
        if !c.headers_sent || (c.out_total == 0 && !wait) {
            return Ok(Err("nothing to flush"));
        }
        if c.stream.as_ref().is_some_and(super::stream::broken) {
            return Ok(Err("nginx output filter error"));
        }
        c.flushed = true;
        c.flush_seq += 1;
        let seq = c.flush_seq;
        c.flush_marks.push((c.out_marks.len(), seq));
        let stream = c.stream.get_or_insert_with(super::stream::new).clone();
        let wait = wait && super::phases::can_stream(r, c);
        Ok(Ok(wait.then_some((stream, seq))))
    })?;
    match state {
        Err(e) => nil_err(&lua, e),
        Ok(Some((stream, seq))) => {
            if let Err(e) = super::stream::flushed(stream, seq).await {
                return nil_err(&lua, e);
            }
            ok(vec![Value::Integer(1)])
        }
        Ok(None) => ok(vec![Value::Integer(1)]),
    }
}

fn eof(lua: &Lua, args: MultiValue) -> ApiResult {
    if !args.is_empty() {
        return Err(fail(lua, "no argument is expected"));
    }
    check_phase(lua, OUTPUT_PHASES)?;
    if with_req(|_, c| Ok(c.raw_socket))? {
        return nil_err(lua, "raw request socket acquired");
    }
    let seen = with_req(|r, c| {
        if c.stream.as_ref().is_some_and(super::stream::broken) {
            return Ok(None);
        }
        let seen = c.eof;
        start_buffering(r, c);
        c.eof = true;
        c.flushed = true;
        send_header(r, c);
        Ok(Some(seen))
    })?;
    if seen.is_some() && !super::phases::header_filter_now() {
        return nil_err(lua, "nginx output filter error");
    }
    match seen {
        None => return nil_err(lua, "nginx output filter error"),
        Some(true) => return nil_err(lua, "seen eof"),
        Some(false) => {}
    }
    ok(vec![Value::Integer(1)])
}

/// nginx: ngx_http_lua_on_abort: registers the callback run when the client goes away (as
/// a user thread, by the handler's driver: lua/thread.rs `client_aborted`).
fn on_abort(lua: &Lua, args: MultiValue) -> ApiResult {
    check_phase(lua, OUTPUT_PHASES)?;
    let state = with_req(|r, c| {
        if c.on_abort.is_some() {
            return Ok(Some("duplicate call"));
        }
        if r.loc.lua_check_client_abort != Some(true) {
            return Ok(Some("lua_check_client_abort is off"));
        }
        Ok(None)
    })?;
    if let Some(e) = state {
        return nil_err(lua, e);
    }
    let f = match arg(&args, 0) {
        Value::Function(f) if f.info().what != "C" => f,
        _ => return Err(argerr(lua, 1, "on_abort", "Lua function expected")),
    };
    with_req(|_, c| {
        c.on_abort = Some(f);
        Ok(())
    })?;
    ok(vec![Value::Integer(1)])
}

fn send_headers(lua: &Lua, _args: MultiValue) -> ApiResult {
    check_phase(lua, OUTPUT_PHASES)?;
    with_req(|r, c| {
        send_header(r, c);
        Ok(())
    })?;
    if !super::phases::header_filter_now() {
        return nil_err(lua, "nginx output filter error");
    }
    ok(vec![Value::Integer(1)])
}

/// nginx: NGX_HTTP_LUA_CONTEXT_* of the running code.
fn raw_phase() -> i64 {
    match vm::current_phase().or_else(vm::noreq_phase) {
        Some(Phase::Set) => 0x0001,
        Some(Phase::Rewrite) => 0x0002,
        Some(Phase::Access) => 0x0004,
        Some(Phase::Content) => 0x0008,
        Some(Phase::Log) => 0x0010,
        Some(Phase::HeaderFilter) => 0x0020,
        Some(Phase::BodyFilter) => 0x0040,
        Some(Phase::Timer) => 0x0080,
        Some(Phase::InitWorker) => 0x0100,
        Some(Phase::Balancer) => 0x0200,
        Some(Phase::SslCert) => 0x0400,
        Some(Phase::SslSessStore) => 0x0800,
        Some(Phase::SslSessFetch) => 0x1000,
        Some(Phase::ExitWorker) => 0x2000,
        Some(Phase::SslClientHello) => 0x4000,
        Some(Phase::ServerRewrite) => 0x8000,
        Some(Phase::Init) | None => 0,
    }
}

/// `ngx.arg[k]` (resty.core param.lua's get_param): set_by_lua's arguments (an empty one is
/// nil), body_filter_by_lua's chunk and eof.
fn arg_get(lua: &Lua, k: &Value) -> ApiResult {
    match vm::current_phase() {
        Some(Phase::Set) => {
            let i = num(k).filter(|n| *n >= 1.0).map(|n| n as usize);
            let v = with_req(|_, c| Ok(i.and_then(|i| c.args.get(i - 1).cloned())))?;
            match v {
                Some(v) if !v.is_empty() => ok(vec![s(lua, v)?]),
                _ => ok(vec![Value::Nil]),
            }
        }
        Some(Phase::BodyFilter) => match with_req(|_, c| Ok(c.arg_table.clone()))? {
            Some(t) => ok(vec![t.get::<Value>(k.clone())?]),
            None => ok(vec![Value::Nil]),
        },
        Some(_) => Err(fail(lua, "API disabled in the current context")),
        None => Err(fail(lua, "no request found")),
    }
}

/// `ngx.arg[k] = v` (nginx: ngx_http_lua_param_set): body_filter_by_lua's only.
fn arg_set(lua: &Lua, k: &Value, v: &Value) -> ApiResult {
    check_phase(lua, &[Phase::BodyFilter])?;
    if let Some(t) = with_req(|_, c| Ok(c.arg_table.clone()))? {
        t.raw_set(k.clone(), v.clone())?;
    }
    none()
}

// ---------------------------------------------------------------------------------------------
// ngx.exit, ngx.redirect, ngx.exec (they end the handler: the coroutine never resumes).

async fn exit(lua: Lua, args: MultiValue) -> ApiResult {
    // nginx: ngx_http_lua_ffi_exit also ends the TLS hooks (the code decides the handshake).
    if !matches!(
        vm::current_phase().or_else(vm::noreq_phase),
        Some(
            Phase::SslCert
                | Phase::SslClientHello
                | Phase::SslSessFetch
                | Phase::SslSessStore
                | Phase::Timer
        )
    ) {
        check_phase(&lua, REQ_PHASES)?;
    }
    let v = arg(&args, 0);
    let Some(code) = num(&v) else {
        return Err(argerr(
            &lua,
            1,
            "exit",
            format!("number expected, got {}", type_name(&v)),
        ));
    };
    let code = code as i64;
    if code == -2 || code == -4 {
        return Err(fail(
            &lua,
            "bad argument to 'ngx.exit': does not accept NGX_AGAIN or NGX_DONE",
        ));
    }
    if vm::current_phase().is_none() && vm::noreq_phase() == Some(Phase::Timer) {
        // nginx: ngx_http_lua_ffi_exit in a timer ends its threads (the code is not used)
        super::thread::exit_driver();
        std::future::pending::<()>().await;
    }
    let phase = vm::current_phase();
    if matches!(phase, Some(Phase::Log | Phase::Set | Phase::BodyFilter)) {
        return Err(fail(
            &lua,
            format!(
                "API disabled in the context of {}",
                phase.map_or("?", |p| p.tag())
            ),
        ));
    }
    let pending = with_req(|_, c| Ok(c.no_abort > 0))?;
    if pending && !matches!(code, -1 | 408 | 444 | 499) {
        // nginx: ngx_http_lua_ffi_exit with ctx->no_abort
        return Err(fail(&lua, "attempt to abort with pending subrequests"));
    }
    with_req(|r, c| {
        let sent = if c.status == 0 { 200 } else { c.status };
        if c.headers_sent
            && code >= 300
            && !matches!(code, 408 | 499 | 444)
            && code != i64::from(sent)
        {
            crate::http::errlog::request_error(
                r,
                &format!(
                    "attempt to set status {code} via ngx.exit after sending out the response status {sent}"
                ),
            );
        }
        c.exit = Some(code);
        // nginx: ngx_http_lua_handle_exit
        if !c.headers_sent && r.out_status == 0 && code >= 200 {
            r.out_status = u16::try_from(code).unwrap_or(0);
        }
        Ok(())
    })?;
    std::future::pending::<()>().await;
    none()
}

async fn redirect(lua: Lua, args: MultiValue) -> ApiResult {
    if args.is_empty() || args.len() > 2 {
        return Err(fail(&lua, "expecting one or two arguments"));
    }
    check_phase(
        &lua,
        &[
            Phase::ServerRewrite,
            Phase::Rewrite,
            Phase::Access,
            Phase::Content,
        ],
    )?;
    let uri = to_bytes(&lua, &arg(&args, 0)).unwrap_or_default();
    if let Some(&b) = uri.iter().find(|&&c| (c < 0x20 && c != 9) || c == 0x7f) {
        // nginx: ngx_http_lua_check_unsafe_uri_bytes.
        return Err(fail(
            &lua,
            format!(
                "unsafe byte \"0x{b:02x}\" in redirect uri \"{}\"",
                escape_log(&uri)
            ),
        ));
    }
    let status = match args.len() {
        0 | 1 => 302,
        _ => num(&arg(&args, 1)).map_or(0, |n| n as i64),
    };
    if !matches!(status, 301 | 302 | 303 | 307 | 308) {
        return Err(fail(&lua, "only ngx.HTTP_MOVED_TEMPORARILY, ngx.HTTP_MOVED_PERMANENTLY, ngx.HTTP_PERMANENT_REDIRECT, ngx.HTTP_SEE_OTHER, and ngx.HTTP_TEMPORARY_REDIRECT are allowed"));
    }
    if with_req(|_, c| Ok(c.no_abort > 0))? {
        // nginx: the request cannot end while ngx.location.capture* waits (ctx->no_abort)
        return Err(fail(&lua, "attempt to abort with pending subrequests"));
    }
    let sent = with_req(|_, c| Ok(c.headers_sent))?;
    if sent {
        return Err(fail(
            &lua,
            "attempt to call ngx.redirect after sending out the headers",
        ));
    }
    with_req(|r, c| {
        c.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("location"));
        c.headers.push(("Location".into(), uri));
        c.exit = Some(status);
        r.out_status = u16::try_from(status).unwrap_or(0);
        Ok(())
    })?;
    std::future::pending::<()>().await;
    none()
}

async fn exec(lua: Lua, args: MultiValue) -> ApiResult {
    if args.is_empty() || args.len() > 2 {
        return Err(fail(&lua, "expecting one or two arguments"));
    }
    check_phase(
        &lua,
        &[
            Phase::ServerRewrite,
            Phase::Rewrite,
            Phase::Access,
            Phase::Content,
        ],
    )?;
    let mut uri = to_bytes(&lua, &arg(&args, 0)).unwrap_or_default();
    let mut qs = match arg(&args, 1) {
        Value::Table(t) => encode_args_table(&lua, &t)?,
        Value::Nil => Vec::new(),
        v => to_bytes(&lua, &v).unwrap_or_default(),
    };
    if let Some(i) = uri.iter().position(|&c| c == b'?') {
        let mut a = uri[i + 1..].to_vec();
        uri.truncate(i);
        if !qs.is_empty() {
            a.push(b'&');
            a.extend_from_slice(&qs);
        }
        qs = a;
    }
    if uri.is_empty() {
        return Err(fail(&lua, "The uri argument is empty"));
    }
    if unsafe_uri(&uri) {
        with_req(|r, _| {
            crate::http::errlog::request_error(
                r,
                &format!("unsafe URI \"{}\" was detected", lossy(&uri)),
            );
            Ok(())
        })?;
        return Err(fail(&lua, "unsafe uri"));
    }
    if with_req(|_, c| Ok(c.no_abort > 0))? {
        // nginx: the request cannot end while ngx.location.capture* waits (ctx->no_abort)
        return Err(fail(&lua, "attempt to abort with pending subrequests"));
    }
    let sent = with_req(|_, c| Ok(c.headers_sent))?;
    if sent {
        return Err(fail(
            &lua,
            "attempt to call ngx.exec after sending out response headers",
        ));
    }
    with_req(|_, c| {
        c.exec = Some((uri, qs));
        Ok(())
    })?;
    std::future::pending::<()>().await;
    none()
}

async fn sleep(lua: Lua, args: MultiValue) -> ApiResult {
    check_phase(
        &lua,
        &[
            Phase::ServerRewrite,
            Phase::Rewrite,
            Phase::Access,
            Phase::Content,
            Phase::Timer,
            Phase::SslClientHello,
            Phase::SslCert,
            Phase::SslSessFetch,
        ],
    )?;
    let v = arg(&args, 0);
    let Some(secs) = num(&v) else {
        return Err(argerr(
            &lua,
            1,
            "sleep",
            format!("number expected, got {}", type_name(&v)),
        ));
    };
    if secs < 0.0 {
        return Err(fail(&lua, format!("invalid sleep duration \"{secs}\"")));
    }
    tokio::time::sleep(std::time::Duration::from_secs_f64(secs.min(1e9))).await;
    none()
}

// ---------------------------------------------------------------------------------------------
// ngx.log and print.

/// nginx: ngx_http_lua_log_wrapper.
fn log_wrapper(lua: &Lua, level: Level, args: MultiValue, first: usize, fname: &str) -> ApiResult {
    let mut msg = Vec::new();
    for (i, v) in args.iter().enumerate() {
        match v {
            Value::Nil => msg.extend_from_slice(b"nil"),
            Value::Boolean(b) => msg.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::String(_) | Value::Integer(_) | Value::Number(_) => {
                msg.extend_from_slice(&to_bytes(lua, v).unwrap_or_default())
            }
            Value::LightUserData(u) if u.0.is_null() => msg.extend_from_slice(b"null"),
            Value::Table(t) => {
                let has = t
                    .metatable()
                    .and_then(|m| m.get::<Value>("__tostring").ok())
                    .is_some_and(|f| !f.is_nil());
                if !has {
                    return Err(argerr(
                        lua,
                        i + first,
                        fname,
                        "expected table to have __tostring metamethod",
                    ));
                }
                msg.extend_from_slice(&tostring(lua, v));
            }
            other => {
                return Err(argerr(
                    lua,
                    i + first,
                    fname,
                    format!(
                        "string, number, boolean, or nil expected, got {}",
                        type_name(other)
                    ),
                ))
            }
        }
    }
    let mut text = format!("[lua] {}{}", log_where(lua), lossy(&msg));
    if vm::current_phase() == Some(Phase::Log) {
        text.push_str(" while logging request");
    }
    let logged = with_req(|r, _| {
        crate::http::errlog::log(r, level, &text);
        Ok(())
    });
    if logged.is_err() {
        let ctx = match vm::noreq_phase() {
            Some(Phase::Init) if vm::init_is_replay() => return none(),
            Some(Phase::InitWorker) => ", context: init_worker_by_lua*".into(),
            // lua-nginx-module names no context in init and exit_worker.
            Some(Phase::Init | Phase::ExitWorker) => String::new(),
            _ => format!(", context: ngx.timer{}", super::socket::timer_log_suffix()),
        };
        let conn = vm::fake_conn_prefix();
        crate::http::errlog::write(level, &format!("{conn}{text}{ctx}"));
    }
    none()
}

fn level_of(n: i64) -> Option<Level> {
    Some(match n {
        0 => Level::Stderr,
        1 => Level::Emerg,
        2 => Level::Alert,
        3 => Level::Crit,
        4 => Level::Error,
        5 => Level::Warn,
        6 => Level::Notice,
        7 => Level::Info,
        8 => Level::Debug,
        _ => return None,
    })
}

fn ngx_log(lua: &Lua, args: MultiValue) -> ApiResult {
    let v = arg(&args, 0);
    let Some(n) = num(&v).filter(|_| !matches!(v, Value::String(_))) else {
        return Err(argerr(
            lua,
            1,
            "log",
            format!("number expected, got {}", type_name(&v)),
        ));
    };
    let Some(level) = level_of(n as i64) else {
        return Err(argerr(
            lua,
            1,
            "log",
            format!("bad log level: {}", n as i64),
        ));
    };
    let rest = MultiValue::from_vec(args.iter().skip(1).cloned().collect());
    log_wrapper(lua, level, rest, 1, "log")
}

// ---------------------------------------------------------------------------------------------
// ngx.status, ngx.header, ngx.var, ngx.ctx (through metatables).

fn status_get(lua: &Lua) -> ApiResult {
    let st = with_req(|r, c| {
        Ok(match c.phase {
            Phase::Log => r.status,
            _ if c.status != 0 => c.status,
            // nginx: the error an error page answers (zero for `error_page ... =`), else
            // what an earlier handler set
            _ if r.err_status != 0 => r.err_status,
            _ if r.out_status != 0 => r.out_status,
            _ if c.headers_sent => 200,
            // resty.core's ngx.status: an HTTP/0.9 request reads 9.
            _ if r.version == hyper::Version::HTTP_09 => 9,
            _ => 0,
        })
    })?;
    let _ = lua;
    ok(vec![Value::Integer(i64::from(st))])
}

fn status_set(lua: &Lua, v: &Value) -> ApiResult {
    let Some(n) = num(v) else {
        return Err(fail(lua, "attempt to set ngx.status to a non-number value"));
    };
    with_req(|r, c| {
        if c.headers_sent {
            crate::http::errlog::request_error(
                r,
                "attempt to set ngx.status after sending out response headers",
            );
            return Ok(());
        }
        c.status = u16::try_from(n as i64).unwrap_or(0);
        // nginx: ngx_http_lua_ffi_set_resp_status
        r.out_status = c.status;
        r.err_status = 0;
        Ok(())
    })?;
    none()
}

/// nginx: ngx_http_lua_copy_escaped_header: control bytes (and, in names, separators) as
/// `%XX` (ngx_http_lua_escape_uri's header_name / header_value tables).
pub(crate) fn escape_header(v: &[u8], name: bool) -> Vec<u8> {
    const NAME: [u32; 8] = [
        0xffff_ffff,
        0xfc00_9305,
        0x3800_0001,
        0xa800_0000,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
    ];
    const VALUE: [u32; 8] = [0xffff_fdff, 0, 0, 0x8000_0000, 0, 0, 0, 0];
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let table = if name { &NAME } else { &VALUE };
    let mut out = Vec::with_capacity(v.len());
    for &c in v {
        if table[usize::from(c >> 5)] & (1 << (c & 0x1f)) != 0 {
            out.push(b'%');
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 15)]);
        } else {
            out.push(c);
        }
    }
    out
}

/// `foo_bar` -> `foo-bar` unless `lua_transform_underscores_in_response_headers off`.
fn header_key(k: &[u8]) -> String {
    let transform =
        with_req(|r, _| Ok(r.loc.lua_transform_underscores != Some(false))).unwrap_or(true);
    if transform {
        lossy(k).replace('_', "-")
    } else {
        lossy(k)
    }
}

fn header_get(lua: &Lua, key: &Value) -> ApiResult {
    check_fake(lua)?;
    let Some(k) = to_bytes(lua, key) else {
        return ok(vec![Value::Nil]);
    };
    let name = header_key(&k);
    let vals = with_req(|r, c| {
        let mut vals = c
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>();
        if vals.is_empty()
            && c.phase == Phase::Log
            && name.eq_ignore_ascii_case("content-type")
            && !c.type_cleared
        {
            // The response went out with the type nginx gave it.
            if let Some(t) =
                super::phases::content_type_of(r).or_else(|| r.loc.default_type.clone())
            {
                vals.push(t);
            }
        }
        Ok(vals)
    })?;
    match vals.len() {
        0 => ok(vec![Value::Nil]),
        1 => ok(vec![s(lua, &vals[0])?]),
        _ => {
            let t = lua.create_table()?;
            for (i, v) in vals.iter().enumerate() {
                t.raw_set(i + 1, lua.create_string(v)?)?;
            }
            ok(vec![Value::Table(t)])
        }
    }
}

fn header_set(lua: &Lua, key: &Value, val: &Value) -> ApiResult {
    check_fake(lua)?;
    let Some(k) = to_bytes(lua, key) else {
        return none();
    };
    let name = header_key(&k);
    let mut vals = Vec::new();
    match val {
        Value::Nil => {}
        Value::Table(t) => {
            for v in t.clone().sequence_values::<Value>() {
                let v = v?;
                vals.push(to_bytes(lua, &v).unwrap_or_else(|| tostring(lua, &v)));
            }
        }
        v => vals.push(to_bytes(lua, v).unwrap_or_else(|| tostring(lua, v))),
    }
    let name = lossy(&escape_header(name.as_bytes(), true));
    let vals: Vec<Vec<u8>> = vals.iter().map(|v| escape_header(v, false)).collect();
    if HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(fail(lua, format!("invalid header name \"{name}\"")));
    }
    if let Some(bad) = vals.iter().find(|v| HeaderValue::from_bytes(v).is_err()) {
        return Err(fail(
            lua,
            format!("invalid header value \"{}\"", lossy(bad)),
        ));
    }
    if name.eq_ignore_ascii_case("content-length")
        && vals
            .last()
            .is_some_and(|v| v.is_empty() || !v.iter().all(u8::is_ascii_digit))
    {
        return Err(fail(lua, "failed to set header"));
    }
    with_req(|r, c| {
        if c.headers_sent {
            crate::http::errlog::request_error(
                r,
                "attempt to set ngx.header.HEADER after sending out response headers",
            );
            return Ok(());
        }
        c.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        if name.eq_ignore_ascii_case("content-type") {
            c.type_cleared = vals.is_empty();
        }
        let single = name.eq_ignore_ascii_case("content-type")
            || name.eq_ignore_ascii_case("content-length");
        if single {
            // nginx: a single-valued header keeps the last value of a table.
            if let Some(v) = vals.into_iter().last() {
                c.headers.push((name.clone(), v));
            }
        } else {
            for v in vals {
                c.headers.push((name.clone(), v));
            }
        }
        Ok(())
    })?;
    none()
}

/// nginx: ngx_http_lua_check_fake_request: the TLS hooks have no request to read.
fn check_fake(lua: &Lua) -> Result<(), Fail> {
    match vm::current_phase() {
        Some(
            Phase::SslCert | Phase::SslClientHello | Phase::SslSessFetch | Phase::SslSessStore,
        ) => Err(fail(lua, "API disabled in the current context")),
        _ => Ok(()),
    }
}

fn var_get(lua: &Lua, key: &Value) -> ApiResult {
    check_fake(lua)?;
    if let Some(n) = match key {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    } {
        // nginx: ngx_http_lua_ffi_var_get: captures are numbered from 1
        if n < 1.0 {
            return ok(vec![Value::Nil]);
        }
        let v = with_req(|r, _| {
            let caps = r.captures.borrow();
            let Some((subject, groups)) = caps.as_ref() else {
                return Ok(None);
            };
            Ok(groups
                .get(n as usize)
                .copied()
                .flatten()
                .and_then(|(a, b)| subject.get(a..b).map(<[u8]>::to_vec)))
        })?;
        return match v {
            Some(v) => ok(vec![s(lua, v)?]),
            None => ok(vec![Value::Nil]),
        };
    }
    let Value::String(ks) = key else {
        return Err(fail(lua, "bad variable name"));
    };
    let k = ks.as_bytes().to_vec();
    let name = k.to_ascii_lowercase();
    let v = with_req(|r, c| {
        if let Some(h) = name.strip_prefix(b"sent_http_") {
            return Ok(sent_header(r, c, h));
        }
        if (name == b"args" || name == b"query_string")
            && r.args.is_empty()
            && (c.nil_vars.contains(&name) || r.sub != 0 || !r.request_uri.contains(&b'?'))
        {
            // nginx: ngx_http_variable_request: no `?` at all is "not found".
            return Ok(None);
        }
        if c.nil_vars.contains(&name) {
            return Ok(None);
        }
        if name == b"request_body" && !r.vars.contains_key(&name) {
            // nginx: ngx_http_variable_request_body: the body read into memory.
            if c.body_file.is_some() {
                return Ok(None);
            }
            return Ok(c.body.clone().filter(|b| !b.is_empty()));
        }
        if name == b"echo_request_body" {
            return Ok(c.body.clone());
        }
        if name == b"request_body_file" {
            return Ok(c
                .body_file
                .as_ref()
                .map(|f| f.path.to_string_lossy().as_bytes().to_vec()));
        }
        let v = r.variable(&k);
        if v.is_none() && r.http.set_vars.contains(&name) {
            // nginx: ngx_http_rewrite_var: an uninitialized `set` variable is empty.
            return Ok(Some(Vec::new()));
        }
        Ok(v)
    })?;
    match v {
        Some(v) => ok(vec![s(lua, v)?]),
        None => ok(vec![Value::Nil]),
    }
}

/// `$sent_http_NAME` while Lua builds the response (nginx: ngx_http_variable_headers for
/// Cache-Control and Link, ngx_http_variable_unknown_header_out for the others).
fn sent_header(r: &Request, c: &vm::ReqCtx, h: &[u8]) -> Option<Vec<u8>> {
    let want = String::from_utf8_lossy(h).replace('_', "-");
    let vals: Vec<&Vec<u8>> = c
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(&want))
        .map(|(_, v)| v)
        .collect();
    if vals.is_empty() {
        if want == "content-type" && c.headers_sent {
            return r.loc.default_type.clone();
        }
        if c.headers_sent {
            // The headers went out through the headers filter: add_header's values.
            let status = if c.status == 0 { 200 } else { c.status };
            let applies = matches!(
                status,
                200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
            );
            let added: Vec<Vec<u8>> = r
                .loc
                .add_headers
                .iter()
                .flatten()
                .filter(|a| (applies || a.always) && a.name.eq_ignore_ascii_case(want.as_bytes()))
                .map(|a| r.eval(&a.value))
                .collect();
            if !added.is_empty() {
                return Some(added.join(&b", "[..]));
            }
        }
        return None;
    }
    if want == "cache-control" || want == "link" {
        return Some(
            vals.iter()
                .map(|v| v.as_slice())
                .collect::<Vec<_>>()
                .join(&b", "[..]),
        );
    }
    vals.first().map(|v| (*v).clone())
}

fn var_set(lua: &Lua, key: &Value, val: &Value) -> ApiResult {
    check_fake(lua)?;
    let Value::String(ks) = key else {
        return Err(fail(lua, "bad variable name"));
    };
    let k = ks.as_bytes().to_vec();
    if matches!(val, Value::Nil) {
        // nginx: a variable set to nil is "not found" afterwards.
        let name = k.to_ascii_lowercase();
        let done = with_req(|r, c| {
            if name == b"args" {
                r.args.clear();
                // nginx: ngx_http_variable_set_args
                r.valid_unparsed_uri = false;
                c.nil_vars.insert(name.clone());
                return Ok(true);
            }
            if r.http.set_vars.contains(&name) || r.vars.contains_key(&name) {
                r.vars.remove(&name);
                c.nil_vars.insert(name.clone());
                return Ok(true);
            }
            Ok(false)
        })?;
        if done {
            return none();
        }
    }
    let name = k.to_ascii_lowercase();
    let value = match val {
        Value::Nil => Vec::new(),
        v => match to_bytes(lua, v) {
            Some(b) => b,
            None => return Err(fail(lua, format!("bad value type: {}", type_name(v)))),
        },
    };
    let res = with_req(|r, c| {
        c.nil_vars.remove(&name);
        if name == b"args" {
            r.args = value;
            // nginx: ngx_http_variable_set_args: the URI is rebuilt for a proxy
            r.valid_unparsed_uri = false;
            return Ok(true);
        }
        if r.http.set_vars.contains(&name) || r.vars.contains_key(&name) {
            r.vars.insert(name.clone(), value);
            return Ok(true);
        }
        Ok(false)
    })?;
    if !res {
        let n = lossy(&name);
        let prefixed = [&b"arg_"[..], b"http_", b"cookie_", b"sent_http_"]
            .iter()
            .any(|p| name.starts_with(p));
        let known = !prefixed
            && with_req(|r, _| {
                Ok(r.http.lazy_vars.contains_key(&name)
                    || crate::http::vars_runtime::get(r, &name).is_some())
            })?;
        if known {
            return Err(fail(lua, format!("variable \"{n}\" not changeable")));
        }
        return Err(fail(
            lua,
            format!("variable \"{n}\" not found for writing; maybe it is a built-in variable that is not changeable or you forgot to use \"set ${n} '';\" in the config file to define it first"),
        ));
    }
    none()
}

fn ctx_get(lua: &Lua) -> ApiResult {
    let existing = with_req(|_, c| Ok(c.ctx.clone()))?;
    let t = match existing {
        Some(t) => t,
        None => {
            let t = lua.create_table()?;
            // the TLS hooks' ctx (engine/src/http/lua/ssl.rs)
            super::ssl::init_ctx(lua, &t)?;
            let t2 = t.clone();
            with_req(move |_, c| {
                c.ctx = Some(t2);
                Ok(())
            })?;
            t
        }
    };
    ok(vec![Value::Table(t)])
}

fn ctx_set(lua: &Lua, v: &Value) -> ApiResult {
    let Value::Table(t) = v else {
        return Err(fail(lua, "ctx should be a table while getting a nil"));
    };
    let t = t.clone();
    with_req(move |_, c| {
        c.ctx = Some(t);
        Ok(())
    })?;
    none()
}

// ---------------------------------------------------------------------------------------------
// ngx.req.*

fn args_table(lua: &Lua, pairs: Vec<(Vec<u8>, Option<Vec<u8>>)>, max: usize) -> ApiResult {
    let t = lua.create_table()?;
    let truncated = max > 0 && pairs.len() > max;
    for (k, v) in pairs
        .into_iter()
        .take(if max == 0 { usize::MAX } else { max })
    {
        let key = lua.create_string(&k)?;
        let val = match v {
            Some(v) => Value::String(lua.create_string(&v)?),
            None => Value::Boolean(true),
        };
        match t.raw_get::<Value>(key.clone())? {
            Value::Nil => t.raw_set(key, val)?,
            Value::Table(list) => list.raw_push(val)?,
            old => {
                let list = lua.create_table()?;
                list.raw_push(old)?;
                list.raw_push(val)?;
                t.raw_set(key, list)?;
            }
        }
    }
    if truncated {
        return ok(vec![Value::Table(t), s(lua, "truncated")?]);
    }
    ok(vec![Value::Table(t)])
}

fn max_arg(v: &Value) -> usize {
    num(v).map_or(100, |n| if n < 0.0 { 0 } else { n as usize })
}

/// nginx: ngx_http_lua_escape_args: control bytes, space and DEL of a string argument as
/// `%XX` (the rest, `&`, `=` and 8-bit bytes included, as given).
fn escape_args(s: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(s.len());
    for &b in s {
        if b <= 0x20 || b == 0x7f {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
        } else {
            out.push(b);
        }
    }
    out
}

/// nginx: ngx_http_lua_ngx_req_set_uri_args.
fn set_uri_args(l: &Lua, a: MultiValue) -> ApiResult {
    let v = match arg(&a, 0) {
        Value::Table(t) => encode_args_table(l, &t)?,
        Value::String(s) => escape_args(&s.as_bytes()),
        v @ (Value::Integer(_) | Value::Number(_)) => to_bytes(l, &v).unwrap_or_default(),
        v => {
            return Err(argerr(
                l,
                1,
                "set_uri_args",
                format!(
                    "string, number, or table expected, but got {}",
                    type_name(&v)
                ),
            ))
        }
    };
    with_req(|r, _| {
        r.args = v;
        // nginx: proxy_pass without a URI then sends the changed URI, not the client's
        r.valid_unparsed_uri = false;
        Ok(())
    })?;
    none()
}

/// nginx: ngx_http_parse_unsafe_uri: a NUL byte or a `..` path segment.
fn unsafe_uri(uri: &[u8]) -> bool {
    uri.contains(&0) || uri.split(|&c| c == b'/').any(|seg| seg == b"..")
}

/// nginx: ngx_http_lua_escape_log: control and 8-bit bytes as `\xXX` in a logged string.
fn escape_log(b: &[u8]) -> String {
    let mut out = String::new();
    for &c in b {
        if !(0x20..0x7f).contains(&c) || c == b'"' || c == b'\\' {
            out.push_str(&format!("\\x{c:02X}"));
        } else {
            out.push(c as char);
        }
    }
    out
}

/// nginx: ngx_http_lua_ngx_req_set_uri; true when it jumps.
fn set_uri(l: &Lua, a: MultiValue) -> Result<bool, Fail> {
    let n = a.len();
    if !(1..=3).contains(&n) {
        return Err(fail(
            l,
            format!("expecting 1, 2 or 3 arguments but seen {n}"),
        ));
    }
    let v = arg(&a, 0);
    let Some(uri) = to_bytes(l, &v) else {
        return Err(argerr(
            l,
            1,
            "set_uri",
            format!("string expected, got {}", type_name(&v)),
        ));
    };
    if uri.is_empty() {
        return Err(fail(l, "attempt to use zero-length uri"));
    }
    let binary = match arg(&a, 2) {
        Value::Nil if n < 3 => false,
        Value::Boolean(b) => b,
        v => {
            return Err(argerr(
                l,
                3,
                "set_uri",
                format!("boolean expected, got {}", type_name(&v)),
            ))
        }
    };
    if !binary {
        if let Some(&b) = uri.iter().find(|&&c| (c < 0x20 && c != 9) || c == 0x7f) {
            return Err(fail(
                l,
                format!(
                    "unsafe byte \"0x{b:02x}\" in uri \"{}\" (maybe you want to set the 'binary' argument?)",
                    escape_log(&uri)
                ),
            ));
        }
    }
    let jump = match arg(&a, 1) {
        Value::Nil if n < 2 => false,
        Value::Boolean(b) => b,
        v => {
            return Err(argerr(
                l,
                2,
                "set_uri",
                format!("boolean expected, got {}", type_name(&v)),
            ))
        }
    };
    if jump {
        check_phase(l, &[Phase::ServerRewrite, Phase::Rewrite])?;
    }
    with_req(|r, c| {
        r.internal = true;
        r.valid_unparsed_uri = false;
        if jump {
            crate::http::errlog::log(
                r,
                Level::Debug,
                &format!("lua set uri jump to \"{}\"", lossy(&uri)),
            );
            c.exec = Some((uri, r.args.clone()));
        } else {
            r.uri = uri;
        }
        Ok(())
    })?;
    Ok(jump)
}

/// Decoded `key=value` pairs (`None`: a key without `=`).
type ArgPairs = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// nginx: ngx_http_lua_parse_args: pairs split on `&` (an empty key is dropped but still
/// counts), at most `max` of them before the rest is cut off as "truncated".
fn parse_args_max(s: &[u8], max: usize) -> (ArgPairs, bool) {
    let parts: Vec<&[u8]> = s.split(|&c| c == b'&').collect();
    let truncated = max > 0 && parts.len() > max;
    let mut out = Vec::new();
    for part in parts.iter().take(if truncated { max } else { usize::MAX }) {
        out.extend(util::parse_args(part));
    }
    if truncated {
        crate::http::errlog::write(Level::Debug, &format!("lua hit query args limit {max}"));
    }
    (out, truncated)
}

fn args_result(lua: &Lua, s: &[u8], max: usize) -> ApiResult {
    let (pairs, truncated) = parse_args_max(s, max);
    let mut res = args_table(lua, pairs, 0)?.into_vec();
    if truncated {
        res.push(self::s(lua, "truncated")?);
    }
    Ok(MultiValue::from_vec(res))
}

fn get_uri_args(lua: &Lua, args: MultiValue) -> ApiResult {
    let a = with_req(|r, _| Ok(r.args.clone()))?;
    args_result(lua, &a, max_arg(&arg(&args, 0)))
}

fn get_post_args(lua: &Lua, args: MultiValue) -> ApiResult {
    let body = with_req(|_, c| {
        if c.body_file.is_some() {
            return Ok(Err(()));
        }
        Ok(Ok(c.body.clone()))
    })?;
    let body = match body {
        Err(()) => return nil_err(lua, "request body in temp file not supported"),
        Ok(b) => b,
    };
    let Some(body) = body else {
        return Err(fail(
            lua,
            "no request body found; maybe you should turn on lua_need_request_body?",
        ));
    };
    args_result(lua, &body, max_arg(&arg(&args, 0)))
}

fn decode_args(lua: &Lua, args: MultiValue) -> ApiResult {
    let a = str_arg(lua, &arg(&args, 0));
    args_result(lua, &a, max_arg(&arg(&args, 1)))
}

pub(crate) fn encode_args_table(lua: &Lua, t: &Table) -> Result<Vec<u8>, Fail> {
    let mut out = Vec::new();
    let mut push = |k: &[u8], v: Option<&[u8]>| {
        if !out.is_empty() {
            out.push(b'&');
        }
        out.extend_from_slice(&util::escape_uri(k));
        if let Some(v) = v {
            out.push(b'=');
            out.extend_from_slice(&util::escape_uri(v));
        }
    };
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, v) = pair?;
        // nginx: ngx_http_lua_process_args_option takes string keys only
        let Value::String(key) = &k else {
            return Err(fail(
                lua,
                "attempt to use a non-string key in the \"args\" option table",
            ));
        };
        let key = key.as_bytes().to_vec();
        match &v {
            Value::Boolean(true) => push(&key, None),
            Value::Boolean(false) => {}
            // A shared dict object (a userdata in OpenResty).
            Value::Table(list) if list.metatable().is_some() => {
                return Err(fail(lua, "attempt to use userdata as query arg value"));
            }
            Value::Table(list) => {
                for item in list.clone().sequence_values::<Value>() {
                    let item = item?;
                    match &item {
                        Value::Boolean(true) => push(&key, None),
                        Value::Boolean(false) => {}
                        other => match to_bytes(lua, other) {
                            Some(b) => push(&key, Some(&b)),
                            None => {
                                return Err(fail(
                                    lua,
                                    format!(
                                        "attempt to use {} as query arg value",
                                        type_name(other)
                                    ),
                                ))
                            }
                        },
                    }
                }
            }
            other => match to_bytes(lua, other) {
                Some(b) => push(&key, Some(&b)),
                None => {
                    return Err(fail(
                        lua,
                        format!("attempt to use {} as query arg value", type_name(other)),
                    ))
                }
            },
        }
    }
    Ok(out)
}

fn encode_args(lua: &Lua, args: MultiValue) -> ApiResult {
    let Value::Table(t) = arg(&args, 0) else {
        return Err(argerr(
            lua,
            1,
            "encode_args",
            format!("table expected, got {}", type_name(&arg(&args, 0))),
        ));
    };
    let out = encode_args_table(lua, &t)?;
    ok(vec![s(lua, out)?])
}

fn get_headers(lua: &Lua, args: MultiValue) -> ApiResult {
    let max = max_arg(&arg(&args, 0));
    let raw = matches!(arg(&args, 1), Value::Boolean(true));
    let hs = with_req(|r, _| {
        Ok(r.headers
            .iter()
            .map(|(n, v)| {
                // The names as received are not kept: raw mode shows them title-cased.
                let name = if raw {
                    title_case(n.as_str()).into_bytes()
                } else {
                    n.as_str().as_bytes().to_vec()
                };
                (name, v.as_bytes().to_vec())
            })
            .collect::<Vec<_>>())
    })?;
    if max > 0 && hs.len() > max {
        crate::http::errlog::write(
            Level::Debug,
            &format!("lua exceeding request header limit {} > {max}", hs.len()),
        );
    }
    let pairs = hs.into_iter().map(|(k, v)| (k, Some(v))).collect();
    let res = args_table_raw(lua, pairs, max)?;
    if !raw {
        if let Some(Value::Table(t)) = res.front() {
            let mt = lua.create_table()?;
            let idx = lua.create_function(|_, (t, k): (Table, mlua::String)| {
                let key = String::from_utf8_lossy(&k.as_bytes())
                    .to_ascii_lowercase()
                    .replace('_', "-");
                t.raw_get::<Value>(key)
            })?;
            mt.set("__index", idx)?;
            t.set_metatable(Some(mt));
        }
    }
    Ok(res)
}

/// Like [`args_table`] but without unescaping (headers).
/// The connection's fate as nginx decides it before the response (nginx: `r->keepalive`).
fn keepalive(r: &Request) -> bool {
    let conn = r
        .headers
        .get(hyper::header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    let asked = match conn.as_deref() {
        Some(v) if v.contains("close") => false,
        Some(v) if v.contains("keep-alive") => true,
        _ => r.version != hyper::Version::HTTP_10 && r.version != hyper::Version::HTTP_09,
    };
    asked
        && r.conn.requests < r.loc.keepalive_requests.unwrap_or(1000)
        && r.loc.keepalive_timeout != Some(std::time::Duration::ZERO)
}

/// nginx: ngx_http_lua_ngx_resp_get_headers: the built-in headers first (content-type,
/// content-length, connection, transfer-encoding), then the header list, at most `max`.
fn resp_get_headers(l: &Lua, a: MultiValue) -> ApiResult {
    let max = max_arg(&arg(&a, 0));
    let raw = arg(&a, 1).as_boolean().unwrap_or(false);
    let (hs, builtins) = with_req(|r, c| {
        let mut builtins: Vec<(&'static str, Vec<u8>)> = Vec::new();
        let mut rest = Vec::new();
        let mut has_length = false;
        for (k, v) in &c.headers {
            if k.eq_ignore_ascii_case("content-type") {
                builtins.insert(0, ("content-type", v.clone()));
            } else if k.eq_ignore_ascii_case("content-length") {
                has_length = true;
                builtins.push(("content-length", v.clone()));
            } else {
                rest.push((k.clone(), v.clone()));
            }
        }
        let connection: &[u8] = if c.status == 101 {
            b"upgrade"
        } else if keepalive(r) {
            b"keep-alive"
        } else {
            b"close"
        };
        builtins.push(("connection", connection.to_vec()));
        let filtering = matches!(c.phase, Phase::HeaderFilter | Phase::BodyFilter);
        if filtering && !has_length && r.version == hyper::Version::HTTP_11 {
            builtins.push(("transfer-encoding", b"chunked".to_vec()));
        }
        Ok((rest, builtins))
    })?;
    let t = l.create_table()?;
    for (k, v) in &builtins {
        t.raw_set(*k, l.create_string(v)?)?;
    }
    let extra = builtins.len();
    let mut count = hs.len();
    let mut truncated = false;
    if max > 0 && count + extra > max {
        truncated = true;
        let _ = with_req(|r, _| {
            crate::http::errlog::log(
                r,
                Level::Debug,
                &format!(
                    "lua exceeding response header limit {} > {max}",
                    count + extra
                ),
            );
            Ok(())
        });
        count = max.saturating_sub(extra);
    }
    for (k, v) in hs.into_iter().take(count) {
        let key = if raw { k } else { k.to_ascii_lowercase() };
        let key = l.create_string(&key)?;
        let val = Value::String(l.create_string(&v)?);
        match t.raw_get::<Value>(key.clone())? {
            Value::Nil => t.raw_set(key, val)?,
            Value::Table(list) => list.raw_push(val)?,
            old => {
                let list = l.create_table()?;
                list.raw_push(old)?;
                list.raw_push(val)?;
                t.raw_set(key, list)?;
            }
        }
    }
    if !raw {
        let mt = l.create_table()?;
        let idx = l.create_function(|_, (t, k): (Table, mlua::String)| {
            let key = String::from_utf8_lossy(&k.as_bytes())
                .to_ascii_lowercase()
                .replace('_', "-");
            t.raw_get::<Value>(key)
        })?;
        mt.set("__index", idx)?;
        t.set_metatable(Some(mt));
    }
    if truncated {
        return ok(vec![Value::Table(t), s(l, "truncated")?]);
    }
    ok(vec![Value::Table(t)])
}

fn args_table_raw(lua: &Lua, pairs: Vec<(Vec<u8>, Option<Vec<u8>>)>, max: usize) -> ApiResult {
    args_table(lua, pairs, max)
}

fn set_header(lua: &Lua, args: MultiValue) -> ApiResult {
    let Some(name) = to_bytes(lua, &arg(&args, 0)) else {
        return Err(argerr(lua, 1, "set_header", "string expected"));
    };
    let mut vals = Vec::new();
    match arg(&args, 1) {
        Value::Nil => {}
        Value::Table(t) => {
            for v in t.sequence_values::<Value>() {
                let v = v?;
                vals.push(to_bytes(lua, &v).unwrap_or_else(|| tostring(lua, &v)));
            }
        }
        v => vals.push(to_bytes(lua, &v).unwrap_or_else(|| tostring(lua, &v))),
    }
    // nginx: ngx_http_lua_copy_escaped_header for the name and each value.
    let name = escape_header(&name, true);
    let vals: Vec<Vec<u8>> = vals.iter().map(|v| escape_header(v, false)).collect();
    let Ok(hn) = HeaderName::from_bytes(&name) else {
        return Err(fail(
            lua,
            format!("invalid header name \"{}\"", lossy(&name)),
        ));
    };
    with_req(|r, _| {
        // nginx: ngx_http_lua_ffi_req_set_header: an HTTP/0.9 request has no headers to set.
        if r.version == hyper::Version::HTTP_09 {
            return Ok(());
        }
        r.headers.remove(&hn);
        r.set_names.retain(|n| !n.eq_ignore_ascii_case(&name));
        if !vals.is_empty() {
            r.set_names.push(name.clone());
        }
        if hn == hyper::header::HOST {
            r.reset_host(vals.first().map(Vec::as_slice));
        }
        for v in vals {
            if let Ok(v) = HeaderValue::from_bytes(&v) {
                r.headers.append(hn.clone(), v);
            }
        }
        Ok(())
    })?;
    none()
}

fn clear_header(lua: &Lua, args: MultiValue) -> ApiResult {
    set_header(lua, MultiValue::from_vec(vec![arg(&args, 0), Value::Nil]))
}

async fn read_body(lua: Lua, _args: MultiValue) -> ApiResult {
    check_phase(
        &lua,
        &[
            Phase::ServerRewrite,
            Phase::Rewrite,
            Phase::Access,
            Phase::Content,
        ],
    )?;
    let incoming = with_req(|_, c| {
        Ok(if c.body.is_some() {
            None
        } else {
            c.incoming.take()
        })
    })?;
    let Some(body) = incoming else {
        with_req(|_, c| {
            c.body.get_or_insert_with(Vec::new);
            Ok(())
        })?;
        return none();
    };
    let timeout = with_req(|r, _| {
        Ok(r.loc
            .client_body_timeout
            .unwrap_or(std::time::Duration::from_secs(60)))
    })?;
    let got = tokio::time::timeout(timeout, http_body_util::BodyExt::collect(body)).await;
    let data = match got {
        Ok(Ok(b)) => b.to_bytes().to_vec(),
        _ => {
            // nginx: ngx_http_read_client_request_body fails (timeout, client gone): the
            // request ends with 408 and no answer.
            with_req(|r, c| {
                if got.is_err() {
                    crate::http::errlog::log(r, Level::Info, "client timed out (110: Connection timed out) while reading client request body");
                }
                c.exit = Some(408);
                Ok(())
            })?;
            std::future::pending::<()>().await;
            return none();
        }
    };
    with_req(move |r, c| {
        super::body::store(r, c, data);
        Ok(())
    })?;
    none()
}

fn raw_header(lua: &Lua, args: MultiValue) -> ApiResult {
    // lua-nginx-module: no raw header on an HTTP/2 stream.
    if with_req(|r, _| Ok(r.version == hyper::Version::HTTP_2))? {
        return Err(fail(lua, "http2 requests not supported yet"));
    }
    let no_line = arg(&args, 0).as_boolean().unwrap_or(false);
    let text = with_req(|r, c| {
        // nginx: the bytes the client sent (ngx_http_lua_req_raw_header)
        if let (Some(raw), None) = (&r.raw_head, &c.raw_parent) {
            let from = if no_line {
                raw.iter()
                    .position(|&b| b == b'\n')
                    .map_or(raw.len(), |i| i + 1)
            } else {
                0
            };
            return Ok(raw[from..].to_vec());
        }
        let mut out = Vec::new();
        let (method, headers) = c
            .raw_parent
            .clone()
            .unwrap_or_else(|| (r.method.clone(), r.headers.map().clone()));
        if !no_line {
            let line = crate::http::vars_runtime::request_line(r);
            // The request line as the main request sent it.
            let rest = line
                .iter()
                .position(|&b| b == b' ')
                .map_or(&line[..], |i| &line[i..]);
            out.extend_from_slice(method.as_str().as_bytes());
            out.extend_from_slice(rest);
            out.extend_from_slice(b"\r\n");
        }
        for (n, v) in headers.iter() {
            out.extend_from_slice(title_case(n.as_str()).as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        Ok(out)
    })?;
    ok(vec![s(lua, text)?])
}

fn title_case(n: &str) -> String {
    let mut up = true;
    n.chars()
        .map(|c| {
            let o = if up { c.to_ascii_uppercase() } else { c };
            up = c == '-';
            o
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// ngx.shared.DICT

fn dict_key(lua: &Lua, v: &Value) -> Result<Result<Vec<u8>, &'static str>, Fail> {
    match v {
        Value::Nil => Ok(Err("nil key")),
        other => {
            let k = to_bytes(lua, other).unwrap_or_else(|| tostring(lua, other));
            if k.is_empty() {
                return Ok(Err("empty key"));
            }
            if k.len() > 65535 {
                return Ok(Err("key too long"));
            }
            Ok(Ok(k))
        }
    }
}

fn val_to_lua(lua: &Lua, v: Val) -> LResult<Value> {
    Ok(match v {
        Val::Str(b) => Value::String(lua.create_string(&b)?),
        Val::Num(n) => Value::Number(n),
        Val::Bool(b) => Value::Boolean(b),
        Val::List(_) => Value::Nil,
    })
}

fn lua_to_val(v: &Value) -> Option<Option<Val>> {
    Some(match v {
        Value::Nil => None,
        Value::String(s) => Some(Val::Str(s.as_bytes().to_vec())),
        Value::Integer(i) => Some(Val::Num(*i as f64)),
        Value::Number(n) => Some(Val::Num(*n)),
        Value::Boolean(b) => Some(Val::Bool(*b)),
        _ => return None,
    })
}

fn check_zone(lua: &Lua, args: &MultiValue) -> Result<(), Fail> {
    match args.front() {
        // A dict object: its name at [1] and the methods' metatable.
        Some(Value::Table(t))
            if t.metatable().is_some() && matches!(t.raw_get::<Value>(1), Ok(Value::String(_))) =>
        {
            Ok(())
        }
        _ => Err(fail(lua, "bad \"zone\" argument")),
    }
}

fn dict_method(vm: &Rc<Vm>, dict: &Arc<Dict>, name: &'static str) -> LResult<mlua::Function> {
    let d = dict.clone();
    vm.api_fn(move |lua, args| {
        check_zone(lua, &args)?;
        let a = |i| arg(&args, i);
        let key = || dict_key(lua, &a(1));
        match name {
            "get" | "get_stale" => {
                let k = match key()? {
                    Ok(k) => k,
                    Err(e) => return nil_err(lua, e),
                };
                match d.get(&k, name == "get_stale") {
                    None => ok(vec![Value::Nil]),
                    Some((Val::List(_), _, _)) => nil_err(lua, "value is a list"),
                    Some((v, flags, stale)) => {
                        let mut out = vec![val_to_lua(lua, v)?];
                        if flags != 0 || name == "get_stale" {
                            out.push(if flags != 0 {
                                Value::Integer(i64::from(flags))
                            } else {
                                Value::Nil
                            });
                        }
                        if name == "get_stale" {
                            out.push(Value::Boolean(stale));
                        }
                        ok(out)
                    }
                }
            }
            "set" | "safe_set" | "add" | "safe_add" | "replace" | "delete" => {
                let k = match key()? {
                    Ok(k) => k,
                    Err(e) => return nil_err(lua, e),
                };
                let mode = match name {
                    "safe_set" => Mode::SafeSet,
                    "add" => Mode::Add,
                    "safe_add" => Mode::SafeAdd,
                    "replace" => Mode::Replace,
                    _ => Mode::Set,
                };
                let val = if name == "delete" {
                    None
                } else {
                    match lua_to_val(&a(2)) {
                        Some(v) => v,
                        None => {
                            return ok(vec![
                                Value::Nil,
                                s(lua, "bad value type")?,
                                Value::Boolean(false),
                            ])
                        }
                    }
                };
                if val.is_none() && matches!(mode, Mode::Add | Mode::SafeAdd | Mode::Replace) {
                    // resty.core's shdict_store.
                    return ok(vec![
                        Value::Boolean(false),
                        s(lua, "attempt to add or replace nil values")?,
                    ]);
                }
                let exptime = if name == "delete" {
                    0.0
                } else {
                    num(&a(3)).unwrap_or(0.0)
                };
                if exptime < 0.0 {
                    return Err(argerr(lua, 3, name, "bad \"exptime\" argument"));
                }
                let flags = if name == "delete" {
                    0
                } else {
                    num(&a(4)).unwrap_or(0.0) as u32
                };
                let r = d.store(mode, &k, val, exptime, flags);
                if name == "delete" {
                    return ok(vec![Value::Boolean(true)]);
                }
                match r {
                    SetResult::Ok(forcible) => ok(vec![
                        Value::Boolean(true),
                        Value::Nil,
                        Value::Boolean(forcible),
                    ]),
                    SetResult::Exists => ok(vec![
                        Value::Boolean(false),
                        s(lua, "exists")?,
                        Value::Boolean(false),
                    ]),
                    SetResult::NotFound => ok(vec![
                        Value::Boolean(false),
                        s(lua, "not found")?,
                        Value::Boolean(false),
                    ]),
                    SetResult::NoMemory(forcible) => ok(vec![
                        Value::Boolean(false),
                        s(lua, "no memory")?,
                        Value::Boolean(forcible),
                    ]),
                }
            }
            "incr" => {
                let k = match key()? {
                    Ok(k) => k,
                    Err(e) => return nil_err(lua, e),
                };
                let Some(by) = num(&a(2)) else {
                    return nil_err(lua, "value not a number");
                };
                let init = match a(3) {
                    Value::Nil => None,
                    v => match num(&v) {
                        Some(n) => Some(n),
                        None => {
                            return Err(fail(
                                lua,
                                format!("bad init arg: number expected, got {}", type_name(&v)),
                            ))
                        }
                    },
                };
                let ttl = num(&a(4)).unwrap_or(0.0);
                match d.incr(&k, by, init, ttl) {
                    IncrResult::Ok(n, forcible) => {
                        if init.is_some() {
                            ok(vec![Value::Number(n), Value::Nil, Value::Boolean(forcible)])
                        } else {
                            ok(vec![Value::Number(n)])
                        }
                    }
                    IncrResult::NotFound => nil_err(lua, "not found"),
                    IncrResult::NotANumber => nil_err(lua, "not a number"),
                    IncrResult::NoMemory => nil_err(lua, "no memory"),
                }
            }
            "flush_all" => {
                d.flush_all();
                none()
            }
            "flush_expired" => {
                let n = d.flush_expired(num(&a(1)).unwrap_or(0.0) as usize);
                ok(vec![Value::Integer(n as i64)])
            }
            "get_keys" => {
                let max = num(&a(1)).map_or(1024, |n| n as usize);
                let t = lua.create_table()?;
                for (i, k) in d.keys(max).into_iter().enumerate() {
                    t.raw_set(i + 1, lua.create_string(&k)?)?;
                }
                ok(vec![Value::Table(t)])
            }
            "ttl" => {
                let k = match key()? {
                    Ok(k) => k,
                    Err(e) => return nil_err(lua, e),
                };
                match d.ttl(&k) {
                    Some(t) => ok(vec![Value::Number(t)]),
                    None => nil_err(lua, "not found"),
                }
            }
            "expire" => {
                let k = match key()? {
                    Ok(k) => k,
                    Err(e) => return nil_err(lua, e),
                };
                let Some(t) = num(&a(2)) else {
                    return Err(argerr(lua, 2, "expire", "bad \"exptime\" argument"));
                };
                if d.expire(&k, t) {
                    ok(vec![Value::Boolean(true)])
                } else {
                    nil_err(lua, "not found")
                }
            }
            "capacity" => ok(vec![Value::Number(d.size as f64)]),
            "free_space" => ok(vec![Value::Number(d.free_space() as f64)]),
            "lpush" | "rpush" => {
                let k = match key()? {
                    Ok(k) => k,
                    Err(e) => return nil_err(lua, e),
                };
                let v = match lua_to_val(&a(2)) {
                    Some(Some(v @ (Val::Str(_) | Val::Num(_)))) => v,
                    _ => return nil_err(lua, "bad value type"),
                };
                match d.push(&k, v, name == "lpush") {
                    Ok(n) => ok(vec![Value::Integer(n as i64)]),
                    Err(shdict::PushError::NotAList) => nil_err(lua, "value not a list"),
                    Err(shdict::PushError::NoMemoryForList) => ok(vec![
                        Value::Boolean(false),
                        Value::String(lua.create_string("no memory")?),
                    ]),
                    Err(shdict::PushError::NoMemory) => nil_err(lua, "no memory"),
                }
            }
            "lpop" | "rpop" => {
                let k = match key()? {
                    Ok(k) => k,
                    Err(e) => return nil_err(lua, e),
                };
                match d.pop(&k, name == "lpop") {
                    Ok(Some(v)) => ok(vec![val_to_lua(lua, v)?]),
                    Ok(None) => ok(vec![Value::Nil]),
                    Err(e) => nil_err(lua, e),
                }
            }
            "llen" => {
                let k = match key()? {
                    Ok(k) => k,
                    Err(e) => return nil_err(lua, e),
                };
                match d.llen(&k) {
                    Ok(n) => ok(vec![Value::Integer(n as i64)]),
                    Err(e) => nil_err(lua, e),
                }
            }
            _ => none(),
        }
    })
}

const DICT_METHODS: &[&str] = &[
    "get",
    "get_stale",
    "set",
    "safe_set",
    "add",
    "safe_add",
    "replace",
    "delete",
    "incr",
    "flush_all",
    "flush_expired",
    "get_keys",
    "ttl",
    "expire",
    "capacity",
    "free_space",
    "lpush",
    "rpush",
    "lpop",
    "rpop",
    "llen",
];

// ---------------------------------------------------------------------------------------------
// Installing the `ngx` table.

const HTTP_CONSTS: &[(&str, i64)] = &[
    ("HTTP_GET", 2),
    ("HTTP_HEAD", 4),
    ("HTTP_POST", 8),
    ("HTTP_PUT", 16),
    ("HTTP_DELETE", 32),
    ("HTTP_MKCOL", 64),
    ("HTTP_COPY", 128),
    ("HTTP_MOVE", 256),
    ("HTTP_OPTIONS", 512),
    ("HTTP_PROPFIND", 1024),
    ("HTTP_PROPPATCH", 2048),
    ("HTTP_LOCK", 4096),
    ("HTTP_UNLOCK", 8192),
    ("HTTP_PATCH", 16384),
    ("HTTP_TRACE", 32768),
    ("HTTP_CONTINUE", 100),
    ("HTTP_SWITCHING_PROTOCOLS", 101),
    ("HTTP_OK", 200),
    ("HTTP_CREATED", 201),
    ("HTTP_ACCEPTED", 202),
    ("HTTP_NO_CONTENT", 204),
    ("HTTP_PARTIAL_CONTENT", 206),
    ("HTTP_SPECIAL_RESPONSE", 300),
    ("HTTP_MOVED_PERMANENTLY", 301),
    ("HTTP_MOVED_TEMPORARILY", 302),
    ("HTTP_SEE_OTHER", 303),
    ("HTTP_NOT_MODIFIED", 304),
    ("HTTP_TEMPORARY_REDIRECT", 307),
    ("HTTP_PERMANENT_REDIRECT", 308),
    ("HTTP_BAD_REQUEST", 400),
    ("HTTP_UNAUTHORIZED", 401),
    ("HTTP_PAYMENT_REQUIRED", 402),
    ("HTTP_FORBIDDEN", 403),
    ("HTTP_NOT_FOUND", 404),
    ("HTTP_NOT_ALLOWED", 405),
    ("HTTP_NOT_ACCEPTABLE", 406),
    ("HTTP_REQUEST_TIMEOUT", 408),
    ("HTTP_CONFLICT", 409),
    ("HTTP_GONE", 410),
    ("HTTP_UPGRADE_REQUIRED", 426),
    ("HTTP_TOO_MANY_REQUESTS", 429),
    ("HTTP_CLOSE", 444),
    ("HTTP_ILLEGAL", 451),
    ("HTTP_INTERNAL_SERVER_ERROR", 500),
    ("HTTP_NOT_IMPLEMENTED", 501),
    ("HTTP_METHOD_NOT_IMPLEMENTED", 501),
    ("HTTP_BAD_GATEWAY", 502),
    ("HTTP_SERVICE_UNAVAILABLE", 503),
    ("HTTP_GATEWAY_TIMEOUT", 504),
    ("HTTP_VERSION_NOT_SUPPORTED", 505),
    ("HTTP_INSUFFICIENT_STORAGE", 507),
    ("OK", 0),
    ("ERROR", -1),
    ("AGAIN", -2),
    ("DONE", -4),
    ("DECLINED", -5),
    ("STDERR", 0),
    ("EMERG", 1),
    ("ALERT", 2),
    ("CRIT", 3),
    ("ERR", 4),
    ("WARN", 5),
    ("NOTICE", 6),
    ("INFO", 7),
    ("DEBUG", 8),
];

thread_local! {
    /// The worker's cached time (nginx: ngx_cached_time, what `ngx.now`/`ngx.time` read):
    /// taken when Lua code first asks after the event loop woke it (see [`time_wakeup`]),
    /// so it stands still while Lua code runs without yielding, as in nginx.
    static CACHED_TIME: std::cell::Cell<Option<std::time::Duration>> =
        const { std::cell::Cell::new(None) };
}

/// The event loop resumed Lua code: the cached time is taken anew on its next use (nginx
/// updates it after each wait for events).
pub(crate) fn time_wakeup() {
    CACHED_TIME.with(|c| c.set(None));
}

/// nginx: ngx_time_update.
fn time_update() -> std::time::Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    CACHED_TIME.with(|c| c.set(Some(now)));
    now
}

fn cached_time() -> std::time::Duration {
    CACHED_TIME.with(|c| c.get()).unwrap_or_else(time_update)
}

fn now_f64() -> f64 {
    (cached_time().as_millis() as f64) / 1000.0
}

fn now_secs() -> i64 {
    cached_time().as_secs() as i64
}

/// Registers a plain API function `name` in table `t`.
fn reg<F>(vm: &Rc<Vm>, t: &Table, name: &str, f: F) -> LResult<()>
where
    F: Fn(&Lua, MultiValue) -> ApiResult + 'static,
{
    t.set(name, vm.api_fn(f)?)
}

/// A string function of one argument (nil -> "", others tostring).
fn str_fn(vm: &Rc<Vm>, t: &Table, name: &str, f: fn(&[u8]) -> Vec<u8>) -> LResult<()> {
    reg(vm, t, name, move |lua, args| {
        let a = str_arg(lua, &arg(&args, 0));
        ok(vec![s(lua, f(&a))?])
    })
}

/// The C side of resty.core.ndk for the `ndk` stand-in: `(name)` -> whether the directive
/// is an ndk_set_var_value one; `(name, arg)` -> `true, value` or `false, rc`.
fn ndk_set_var(lua: &Lua, args: MultiValue) -> ApiResult {
    let name = str_arg(lua, &arg(&args, 0));
    if args.len() < 2 {
        return ok(vec![Value::Boolean(
            crate::http::set_misc::is_ndk_value_directive(&name),
        )]);
    }
    let a = str_arg(lua, &arg(&args, 1));
    match with_req(|r, _| Ok(crate::http::set_misc::ndk_set_var(r, &name, &a)))? {
        Some(Some(v)) => ok(vec![Value::Boolean(true), s(lua, v)?]),
        _ => ok(vec![Value::Boolean(false), Value::Integer(-1)]),
    }
}

/// nginx: ngx_http_lua_inject_ngx_api and resty.core's additions.
pub(crate) fn install(vm: &Rc<Vm>) -> LResult<()> {
    let lua = &vm.lua;
    let ngx = lua.create_table()?;
    for (name, v) in HTTP_CONSTS {
        ngx.set(*name, *v)?;
    }
    ngx.set(
        "null",
        Value::LightUserData(LightUserData(std::ptr::null_mut())),
    )?;
    reg(vm, &ngx, "say", |l, a| echo(l, a, true))?;
    reg(vm, &ngx, "print", |l, a| echo(l, a, false))?;
    ngx.set("flush", vm.api_async(flush)?)?;
    reg(vm, &ngx, "on_abort", on_abort)?;
    reg(vm, &ngx, "eof", eof)?;
    reg(vm, &ngx, "send_headers", send_headers)?;
    ngx.set("exit", vm.api_async(exit)?)?;
    ngx.set("redirect", vm.api_async(redirect)?)?;
    ngx.set("exec", vm.api_async(exec)?)?;
    ngx.set("sleep", vm.api_async(sleep)?)?;
    ngx.set(
        "run_worker_thread",
        vm.api_async(super::worker_thread::run_worker_thread)?,
    )?;
    reg(vm, &ngx, "log", ngx_log)?;
    let print = vm.api_fn(|l, a| log_wrapper(l, Level::Notice, a, 1, "print"))?;
    lua.globals().set("print", print)?;
    // nginx: ngx.arg is a table whose metatable reads the phase's arguments (resty.core
    // param.lua's get_param) and sets the body filter's (ngx_http_lua_param_set).
    let arg_t = lua.create_table()?;
    let amt = lua.create_table()?;
    amt.set("__index", vm.api_fn(|l, a| arg_get(l, &arg(&a, 1)))?)?;
    amt.set(
        "__newindex",
        vm.api_fn(|l, a| arg_set(l, &arg(&a, 1), &arg(&a, 2)))?,
    )?;
    arg_t.set_metatable(Some(amt));
    ngx.raw_set("arg", arg_t)?;
    // lua-nginx-module's raw phase context (ngx._phase_ctx, resty.core's ngx.get_raw_phase):
    // the NGX_HTTP_LUA_CONTEXT_* bit of the running code.
    reg(vm, &ngx, "_phase_ctx", |_, _| {
        ok(vec![Value::Integer(raw_phase())])
    })?;
    reg(vm, &ngx, "get_raw_phase", |_, _| {
        ok(vec![Value::Integer(raw_phase())])
    })?;
    reg(vm, &ngx, "get_phase", |l, _| {
        let p = vm::current_phase()
            .or_else(vm::noreq_phase)
            .unwrap_or(Phase::Init);
        ok(vec![s(l, p.name())?])
    })?;
    // time
    reg(vm, &ngx, "now", |_, _| ok(vec![Value::Number(now_f64())]))?;
    reg(vm, &ngx, "time", |_, _| {
        ok(vec![Value::Number(now_secs() as f64)])
    })?;
    reg(vm, &ngx, "update_time", |_, _| {
        time_update();
        none()
    })?;
    reg(vm, &ngx, "today", |l, _| {
        let (y, m, d, ..) = util::localtime(now_secs());
        ok(vec![s(l, format!("{y:04}-{m:02}-{d:02}"))?])
    })?;
    reg(vm, &ngx, "localtime", |l, _| {
        let (y, m, d, h, mi, se) = util::localtime(now_secs());
        ok(vec![s(
            l,
            format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{se:02}"),
        )?])
    })?;
    reg(vm, &ngx, "utctime", |l, _| {
        let (y, m, d, h, mi, se) = crate::http::static_file::gmtime(now_secs());
        ok(vec![s(
            l,
            format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{se:02}"),
        )?])
    })?;
    reg(vm, &ngx, "http_time", |l, a| {
        let v = arg(&a, 0);
        let Some(t) = num(&v) else {
            return Err(argerr(
                l,
                1,
                "http_time",
                format!("number expected, got {}", type_name(&v)),
            ));
        };
        ok(vec![s(l, util::http_time(t as i64))?])
    })?;
    reg(vm, &ngx, "cookie_time", |l, a| {
        let v = arg(&a, 0);
        let Some(t) = num(&v) else {
            return Err(argerr(
                l,
                1,
                "cookie_time",
                format!("number expected, got {}", type_name(&v)),
            ));
        };
        ok(vec![s(l, util::cookie_time(t as i64))?])
    })?;
    reg(vm, &ngx, "parse_http_time", |l, a| {
        let v = str_arg(l, &arg(&a, 0));
        match util::parse_http_time(&v) {
            Some(t) => ok(vec![Value::Number(t as f64)]),
            None => ok(vec![Value::Nil]),
        }
    })?;
    // encodings
    reg(vm, &ngx, "escape_uri", |l, a| {
        let v = str_arg(l, &arg(&a, 0));
        // resty.core's ngx.escape_uri checks `type`.
        let kind = match arg(&a, 1) {
            Value::Nil => 2,
            t => match num(&t) {
                Some(n) if (0.0..=6.0).contains(&n) => n as usize,
                Some(n) => {
                    return Err(Fail(format!("{}\"type\" {n} out of range", where_above(l))))
                }
                None => return Err(Fail(format!("{}\"type\" is not a number", where_above(l)))),
            },
        };
        ok(vec![s(l, util::escape_uri_type(&v, kind))?])
    })?;
    str_fn(vm, &ngx, "unescape_uri", util::unescape_uri)?;
    reg(vm, &ngx, "encode_args", encode_args)?;
    reg(vm, &ngx, "decode_args", decode_args)?;
    reg(vm, &ngx, "encode_base64", |l, a| {
        let v = str_arg(l, &arg(&a, 0));
        let no_pad = match arg(&a, 1) {
            Value::Nil => false,
            Value::Boolean(b) => b,
            other => {
                return Err(fail(
                    l,
                    format!(
                        "bad no_padding: boolean expected, got {}",
                        type_name(&other)
                    ),
                ))
            }
        };
        ok(vec![s(l, util::encode_base64(&v, no_pad))?])
    })?;
    reg(vm, &ngx, "decode_base64", |l, a| {
        let Value::String(b) = arg(&a, 0) else {
            return Err(fail(l, "string argument only"));
        };
        let b = b.as_bytes().to_vec();
        match util::decode_base64(&b) {
            Some(d) => ok(vec![s(l, d)?]),
            None => ok(vec![Value::Nil]),
        }
    })?;
    str_fn(vm, &ngx, "md5", |b| {
        use md5::Digest;
        util::hex(&md5::Md5::digest(b))
    })?;
    str_fn(vm, &ngx, "md5_bin", |b| {
        use md5::Digest;
        md5::Md5::digest(b).to_vec()
    })?;
    str_fn(vm, &ngx, "sha1_bin", |b| {
        use sha1::Digest;
        sha1::Sha1::digest(b).to_vec()
    })?;
    reg(vm, &ngx, "crc32_short", |l, a| {
        ok(vec![Value::Number(f64::from(util::crc32(&str_arg(
            l,
            &arg(&a, 0),
        ))))])
    })?;
    reg(vm, &ngx, "crc32_long", |l, a| {
        ok(vec![Value::Number(f64::from(util::crc32(&str_arg(
            l,
            &arg(&a, 0),
        ))))])
    })?;
    reg(vm, &ngx, "hmac_sha1", |l, a| {
        let k = str_arg(l, &arg(&a, 0));
        let d = str_arg(l, &arg(&a, 1));
        ok(vec![s(l, util::hmac_sha1(&k, &d))?])
    })?;
    str_fn(vm, &ngx, "quote_sql_str", util::quote_sql_str)?;

    // ngx.req
    let req = lua.create_table()?;
    reg(vm, &req, "set_method", |l, a| {
        // resty.core's ngx.req.set_method (ngx_http_lua_ffi_req_set_method).
        let v = arg(&a, 0);
        let Some(n) = num(&v).filter(|_| matches!(v, Value::Integer(_) | Value::Number(_))) else {
            return Err(fail(l, "bad method number"));
        };
        let Some(m) = super::subrequest::method_of(n as i64) else {
            return Err(fail(l, format!("unsupported HTTP method: {}", n as i64)));
        };
        with_req(|r, _| {
            r.method = m;
            Ok(())
        })?;
        none()
    })?;
    reg(vm, &req, "get_method", |l, _| {
        let m = with_req(|r, _| Ok(r.method.as_str().to_string()))?;
        ok(vec![s(l, m)?])
    })?;
    reg(vm, &req, "get_uri_args", get_uri_args)?;
    reg(vm, &req, "get_post_args", get_post_args)?;
    reg(vm, &req, "get_headers", get_headers)?;
    reg(vm, &req, "set_header", set_header)?;
    reg(vm, &req, "clear_header", clear_header)?;
    req.set("read_body", vm.api_async(read_body)?)?;
    reg(vm, &req, "get_body_data", super::body::get_body_data)?;
    reg(vm, &req, "get_body_file", super::body::get_body_file)?;
    reg(vm, &req, "set_body_data", super::body::set_body_data)?;
    reg(vm, &req, "set_body_file", super::body::set_body_file)?;
    reg(vm, &req, "init_body", super::body::init_body)?;
    reg(vm, &req, "append_body", super::body::append_body)?;
    reg(vm, &req, "finish_body", super::body::finish_body)?;
    reg(vm, &req, "discard_body", |_, _| {
        let _ = with_req(|_, c| {
            c.incoming = None;
            Ok(())
        });
        none()
    })?;
    reg(vm, &req, "raw_header", raw_header)?;
    super::socket::install_req_socket(vm, &req)?;
    reg(vm, &req, "http_version", |_, _| {
        let v = with_req(|r, _| {
            Ok(match r.version {
                hyper::Version::HTTP_09 => 0.9,
                hyper::Version::HTTP_10 => 1.0,
                hyper::Version::HTTP_2 => 2.0,
                _ => 1.1,
            })
        })?;
        ok(vec![Value::Number(v)])
    })?;
    reg(vm, &req, "start_time", |_, _| {
        let t = with_req(|r, _| {
            Ok(r.start
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| (d.as_millis() as f64) / 1000.0)
                .unwrap_or(0.0))
        })?;
        ok(vec![Value::Number(t)])
    })?;
    reg(vm, &req, "is_internal", |_, _| {
        let i = with_req(|r, _| Ok(r.internal))?;
        ok(vec![Value::Boolean(i)])
    })?;
    reg(vm, &req, "set_uri_args", set_uri_args)?;
    req.set(
        "set_uri",
        vm.api_async(|l, a| async move {
            let jumped = set_uri(&l, a)?;
            if jumped {
                // nginx: lua_yield: the handler ends here (even inside pcall).
                std::future::pending::<()>().await;
            }
            none()
        })?,
    )?;
    ngx.set("req", req)?;

    // ngx.resp
    let resp = lua.create_table()?;
    reg(vm, &resp, "get_headers", resp_get_headers)?;
    ngx.set("resp", resp)?;

    // ngx.config, ngx.worker
    let config = lua.create_table()?;
    config.set("subsystem", "http")?;
    config.set("nginx_version", 1_022_001)?;
    config.set("ngx_lua_version", 10023)?;
    // Debian's nginx is built --with-debug.
    config.set("debug", true)?;
    let mut prefix = vm.prefix.to_string_lossy().into_owned();
    if !prefix.ends_with('/') {
        prefix.push('/');
    }
    let p2 = prefix.clone();
    reg(vm, &config, "prefix", move |l, _| ok(vec![s(l, &p2)?]))?;
    reg(vm, &config, "nginx_configure", |l, _| ok(vec![s(l, "")?]))?;
    ngx.set("config", config)?;
    let worker = lua.create_table()?;
    reg(vm, &worker, "id", |_, _| {
        ok(vec![Value::Integer(vm::WORKER_ID.with(|w| w.get()) as i64)])
    })?;
    reg(vm, &worker, "count", |_, _| {
        ok(vec![Value::Integer(
            super::WORKER_COUNT.load(std::sync::atomic::Ordering::Relaxed) as i64,
        )])
    })?;
    reg(vm, &worker, "pid", |_, _| {
        ok(vec![Value::Integer(i64::from(std::process::id()))])
    })?;
    // nginx: ngx_http_lua_ffi_worker_pids lists the worker processes' pids. oxresty's
    // workers are threads of one process, all answering `ngx.worker.pid()` with its pid: the
    // list has `ngx.worker.count()` entries, each that pid, so that what callers rely on holds
    // (`#pids == ngx.worker.count()`, `ngx.worker.pid()` is in it).
    reg(vm, &worker, "pids", |lua, _| {
        if matches!(
            vm::current_phase().or_else(vm::noreq_phase),
            Some(Phase::Init | Phase::InitWorker)
        ) {
            return nil_err(lua, "API disabled in the current context");
        }
        let n = super::WORKER_COUNT
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(1);
        let pid = i64::from(std::process::id());
        let t = lua.create_table()?;
        for i in 1..=n {
            t.raw_set(i, pid)?;
        }
        ok(vec![Value::Table(t)])
    })?;
    reg(vm, &worker, "exiting", |_, _| {
        ok(vec![Value::Boolean(false)])
    })?;
    ngx.set("worker", worker)?;

    // ngx.shared
    let shared = lua.create_table()?;
    for (name, size) in &vm.conf.dicts {
        let d = shdict::get_or_create(name, *size);
        let obj = lua.create_table()?;
        obj.raw_set(1, lua.create_string(name)?)?;
        let methods = lua.create_table()?;
        for m in DICT_METHODS {
            methods.set(*m, dict_method(vm, &d, m)?)?;
        }
        // nginx: the metatable holds the methods and is its own __index
        methods.set("__index", methods.clone())?;
        obj.set_metatable(Some(methods));
        shared.set(lua.create_string(name)?, obj)?;
    }
    ngx.set("shared", shared)?;

    // ngx.header, ngx.var
    let header = lua.create_table()?;
    let hmt = lua.create_table()?;
    hmt.set("__index", vm.api_fn(|l, a| header_get(l, &arg(&a, 1)))?)?;
    hmt.set(
        "__newindex",
        vm.api_fn(|l, a| header_set(l, &arg(&a, 1), &arg(&a, 2)))?,
    )?;
    header.set_metatable(Some(hmt));
    ngx.set("header", header)?;
    let var = lua.create_table()?;
    let vmt = lua.create_table()?;
    vmt.set("__index", vm.api_fn(|l, a| var_get(l, &arg(&a, 1)))?)?;
    vmt.set(
        "__newindex",
        vm.api_fn(|l, a| var_set(l, &arg(&a, 1), &arg(&a, 2)))?,
    )?;
    var.set_metatable(Some(vmt));
    ngx.set("var", var)?;

    // ngx.status, ngx.ctx, ngx.headers_sent, ngx.is_subrequest through ngx's metatable.
    let nmt = lua.create_table()?;
    nmt.set(
        "__index",
        vm.api_fn(|l, a| {
            let k = to_bytes(l, &arg(&a, 1)).unwrap_or_default();
            match k.as_slice() {
                b"status" => status_get(l),
                b"ctx" => ctx_get(l),
                b"headers_sent" => {
                    let sent = with_req(|_, c| Ok(c.headers_sent))?;
                    ok(vec![Value::Boolean(sent)])
                }
                b"is_subrequest" => {
                    let sub = with_req(|r, _| Ok(r.sub != 0))?;
                    ok(vec![Value::Boolean(sub)])
                }
                b"arg" => {
                    if let Some(t) = with_req(|_, c| Ok(c.arg_table.clone()))? {
                        return ok(vec![Value::Table(t)]);
                    }
                    let args = with_req(|_, c| Ok(c.args.clone()))?;
                    let t = l.create_table()?;
                    for (i, a) in args.iter().enumerate() {
                        t.raw_set(i + 1, l.create_string(a)?)?;
                    }
                    ok(vec![Value::Table(t)])
                }
                _ => ok(vec![Value::Nil]),
            }
        })?,
    )?;
    nmt.set(
        "__newindex",
        vm.api_fn(|l, a| {
            let k = to_bytes(l, &arg(&a, 1)).unwrap_or_default();
            match k.as_slice() {
                b"status" => status_set(l, &arg(&a, 2)),
                b"ctx" => ctx_set(l, &arg(&a, 2)),
                _ => {
                    if let Value::Table(t) = arg(&a, 0) {
                        t.raw_set(arg(&a, 1), arg(&a, 2))?;
                    }
                    none()
                }
            }
        })?,
    )?;
    ngx.set_metatable(Some(nmt));

    // ngx.timer.at
    let timer = lua.create_table()?;
    let vm2 = Rc::downgrade(vm);
    reg(vm, &timer, "at", move |l, a| {
        let delay = num(&arg(&a, 0)).unwrap_or(0.0).max(0.0);
        let Value::Function(f) = arg(&a, 1) else {
            return Err(argerr(l, 2, "at", "function expected"));
        };
        let rest: Vec<Value> = a.iter().skip(2).cloned().collect();
        let Some(_vm) = vm2.upgrade() else {
            return nil_err(l, "no VM");
        };
        let thread = l.create_thread(f)?;
        tokio::task::spawn_local(async move {
            tokio::time::sleep(std::time::Duration::from_secs_f64(delay.min(1e9))).await;
            let mut args = vec![Value::Boolean(false)];
            args.extend(rest);
            let fut = thread.into_async::<MultiValue>(MultiValue::from_vec(args));
            let res = vm::NoRequest::new(Phase::Timer, fut).await;
            if let Err(e) = res {
                crate::http::errlog::write(
                    Level::Error,
                    &format!(
                        "lua entry thread aborted: runtime error: {}, context: ngx.timer",
                        vm::error_text(&e)
                    ),
                );
            }
        });
        ok(vec![Value::Integer(1)])
    })?;
    reg(vm, &timer, "running_count", |_, _| {
        ok(vec![Value::Integer(0)])
    })?;
    reg(vm, &timer, "pending_count", |_, _| {
        ok(vec![Value::Integer(0)])
    })?;
    ngx.set("timer", timer)?;

    // ngx.location
    let location = lua.create_table()?;
    location.set("capture", vm.api_async(super::subrequest::capture_one)?)?;
    location.set(
        "capture_multi",
        vm.api_async(super::subrequest::capture_multi)?,
    )?;
    ngx.set("location", location)?;

    super::regex::install(vm, &ngx)?;
    lua.globals().set("ngx", ngx.clone())?;
    let package: Table = lua.globals().get("package")?;
    let loaded: Table = package.get("loaded")?;
    loaded.set("ngx", ngx)?;
    // Stand-ins for resty.core's modules (the FFI they use has no C side here).
    lua.load(STANDINS)
        .set_name("=resty.core")
        .call::<()>(vm.api_fn(ndk_set_var)?)?;
    // Cosockets, light threads, timers, semaphores (socket.rs, thread.rs, timer.rs).
    super::socket::install(vm, &lua.globals().get::<Table>("ngx")?)?;
    Ok(())
}

/// `require "resty.core"` and friends succeed; `ngx.re` is not provided yet.
const STANDINS: &str = r#"
local ndk_call = ...
local preload = package.preload
preload["resty.core"] = function() return { version = 10023 } end
preload["resty.core.base"] = function()
  return {
    version = 10023, FFI_OK = 0, FFI_NO_REQ_CTX = -100, FFI_BAD_CONTEXT = -101,
    FFI_ERROR = -1, FFI_AGAIN = -2, FFI_BUSY = -3, FFI_DONE = -4, FFI_DECLINED = -5,
    FFI_ABORT = -6,
    new_tab = function(narr, nrec) return {} end,
    clear_tab = function(t) for k in pairs(t) do t[k] = nil end end,
    set_string_buf_size = function() end,
    get_string_buf_size = function() return 4096 end,
    ref_in_table = function(tb, key) local n = #tb + 1 tb[n] = key return n end,
  }
end
for _, m in ipairs{"resty.core.var", "resty.core.ctx", "resty.core.hash", "resty.core.uri",
    "resty.core.shdict", "resty.core.time", "resty.core.misc", "resty.core.request",
    "resty.core.response", "resty.core.worker", "resty.core.exit", "resty.core.base64",
    "resty.core.phase", "resty.core.ndk", "resty.core.utils"} do
  preload[m] = function() return {} end
end
preload["ndk"] = function()
  -- resty.core.ndk: ndk.set_var.DIRECTIVE(value) runs an ndk_set_var_value filter
  -- (set-misc's, engine/src/http/set_misc.rs).
  local function get(_, name)
    if type(name) ~= "string" then name = tostring(name) end
    if not ndk_call(name) then
      error('ndk.set_var: directive "' .. name
            .. '" not found or does not use ndk_set_var_value', 2)
    end
    return function(arg)
      if type(arg) ~= "string" then arg = tostring(arg) end
      local ok, v = ndk_call(name, arg)
      if not ok then
        error("calling directive " .. name .. " failed with code " .. v, 2)
      end
      return v
    end
  end
  local function set() error("not allowed", 2) end
  return { set_var = setmetatable({}, { __index = get, __newindex = set }) }
end
ndk = require "ndk"
preload["ngx.re"] = function()
  -- resty.core's ngx.re: split on ngx.re.find; opt is accepted.
  local find, sub = ngx.re.find, string.sub
  local function split(subj, regex, opts, ctx, max, res)
    if max == nil then max = 0 end
    res = res or {}
    local n, pos, len = 0, 1, #subj
    if max == 1 then res[1] = subj; res[2] = nil; return res end
    ctx = ctx or {}
    ctx.pos = 1
    while pos <= len + 1 do
      local from, to, err = find(subj, regex, opts, ctx)
      if err then return nil, err end
      if not from then break end
      if to < from then
        if from > len then break end
        ctx.pos = from + 1
        if from == pos then
          -- an empty match at the piece's start splits off one character
          n = n + 1; res[n] = sub(subj, pos, from); pos = from + 1
        else
          n = n + 1; res[n] = sub(subj, pos, from - 1); pos = from
        end
      else
        n = n + 1; res[n] = sub(subj, pos, from - 1); pos = to + 1
        ctx.pos = pos
      end
      if max > 0 and n == max - 1 then break end
    end
    n = n + 1; res[n] = sub(subj, pos)
    local i = n + 1
    while res[i] ~= nil do res[i] = nil; i = i + 1 end
    return res
  end
  return { split = split, opt = function() end }
end
preload["table.new"] = function() return function(narr, nrec) return {} end end
preload["table.clear"] = function() return function(t) for k in pairs(t) do t[k] = nil end end end
"#;
