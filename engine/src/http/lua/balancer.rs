//! `balancer_by_lua*` and `ngx.balancer` (nginx: lua-nginx-module's ngx_http_lua_balancer.c,
//! lua-resty-core's ngx/balancer.lua): the upstream's peer is chosen by Lua on every try, the
//! `server 0.0.0.1` pattern of Kong, APISIX and ingress-nginx.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use mlua::{MultiValue, Value};

use super::directives::LuaHandler;
use super::vm::{self, ApiResult, Fail, Phase, Vm};
use crate::http::request::Request;

/// Where the API leaves its results for the proxy (hidden request variables).
const PEER: &[u8] = b"\0balancer_peer";
const MORE_TRIES: &[u8] = b"\0balancer_more_tries";
const LAST_FAILURE: &[u8] = b"\0balancer_last_failure";
const TIMEOUTS: &[u8] = b"\0balancer_timeouts";
const RECREATE: &[u8] = b"\0balancer_recreate";

/// The peer and settings one run of the balancer chose.
pub(crate) struct Choice {
    /// `host:port` or `unix:/path`.
    pub(crate) peer: Option<String>,
    /// Tries added by `set_more_tries`.
    pub(crate) more_tries: usize,
    /// `set_timeouts`: connect, send, read.
    pub(crate) timeouts: Option<[Option<Duration>; 3]>,
    /// `recreate_request`: the upstream request is built again for this try.
    pub(crate) recreate: bool,
}

/// Installs `require "ngx.balancer"`.
pub(crate) fn install(vm: &Rc<Vm>) -> mlua::Result<()> {
    let lua = &vm.lua;
    let t = lua.create_table()?;
    t.set("set_current_peer", vm.api_fn(set_current_peer)?)?;
    t.set("set_more_tries", vm.api_fn(set_more_tries)?)?;
    t.set("get_last_failure", vm.api_fn(get_last_failure)?)?;
    t.set("set_timeouts", vm.api_fn(set_timeouts)?)?;
    t.set("recreate_request", vm.api_fn(recreate_request)?)?;
    let package: mlua::Table = lua.globals().get("package")?;
    let preload: mlua::Table = package.get("preload")?;
    preload.set(
        "ngx.balancer",
        lua.create_function(move |_, ()| Ok(t.clone()))?,
    )?;
    Ok(())
}

fn in_balancer() -> Result<(), Fail> {
    if vm::current_phase() != Some(Phase::Balancer) {
        return Err(Fail("API disabled in the current context".into()));
    }
    Ok(())
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_string_lossy().to_string()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn arg(args: &MultiValue, i: usize) -> Value {
    args.get(i).cloned().unwrap_or(Value::Nil)
}

fn fail(lua: &mlua::Lua, msg: &str) -> ApiResult {
    Ok(MultiValue::from_vec(vec![
        Value::Nil,
        Value::String(lua.create_string(msg)?),
    ]))
}

/// lua-resty-core: `balancer.set_current_peer(addr, port)`: an IP address (or `unix:`
/// path); names are refused as lua-nginx-module does without a resolver.
fn set_current_peer(lua: &mlua::Lua, args: MultiValue) -> ApiResult {
    in_balancer()?;
    let Some(addr) = text(&arg(&args, 0)) else {
        return Err(Fail("bad argument #1 to 'set_current_peer'".into()));
    };
    let peer = if addr.starts_with("unix:") {
        addr
    } else {
        let port = text(&arg(&args, 1));
        let joined = match port {
            Some(p) => match addr.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V6(v6)) => format!("[{v6}]:{p}"),
                _ => format!("{addr}:{p}"),
            },
            None => addr,
        };
        if joined.parse::<std::net::SocketAddr>().is_err() {
            return fail(lua, "no host allowed");
        }
        joined
    };
    vm::with_req(|r, _| {
        r.vars.insert(PEER.to_vec(), peer.into_bytes());
        Ok(())
    })?;
    Ok(MultiValue::from_vec(vec![Value::Boolean(true)]))
}

/// `balancer.set_more_tries(count)`.
fn set_more_tries(_lua: &mlua::Lua, args: MultiValue) -> ApiResult {
    in_balancer()?;
    let n = match arg(&args, 0) {
        Value::Integer(i) => i.max(0) as usize,
        Value::Number(f) => f.max(0.0) as usize,
        _ => return Err(Fail("bad argument #1 to 'set_more_tries'".into())),
    };
    vm::with_req(|r, _| {
        r.vars
            .insert(MORE_TRIES.to_vec(), n.to_string().into_bytes());
        Ok(())
    })?;
    Ok(MultiValue::from_vec(vec![Value::Boolean(true)]))
}

/// `balancer.recreate_request()` (nginx: ngx_http_lua_ffi_balancer_recreate_request): the
/// request sent upstream is built again (its headers re-evaluated) before this try.
fn recreate_request(lua: &mlua::Lua, _args: MultiValue) -> ApiResult {
    if vm::current_phase() != Some(Phase::Balancer) {
        // nginx checks for an upstream (there is one once the request was proxied) first.
        let proxied = vm::with_req(|r, _| Ok(r.vars.contains_key(b"upstream_addr".as_slice())))
            .unwrap_or(false);
        let err = if proxied {
            "API disabled in the current context"
        } else {
            "no upstream found"
        };
        let err = lua.create_string(err)?;
        return Ok(MultiValue::from_vec(vec![Value::Nil, Value::String(err)]));
    }
    vm::with_req(|r, _| {
        r.vars.insert(RECREATE.to_vec(), b"1".to_vec());
        Ok(())
    })?;
    Ok(MultiValue::from_vec(vec![Value::Boolean(true)]))
}

/// `balancer.get_last_failure()`: `"failed"` or `"next"` and the status of the previous try,
/// nothing on the first.
fn get_last_failure(lua: &mlua::Lua, _args: MultiValue) -> ApiResult {
    in_balancer()?;
    let last = vm::with_req(|r, _| Ok(r.vars.get(LAST_FAILURE).cloned()))?;
    let Some(last) = last else {
        return Ok(MultiValue::new());
    };
    let text = String::from_utf8_lossy(&last).to_string();
    let (state, status) = text.split_once(' ').unwrap_or((&text, "0"));
    Ok(MultiValue::from_vec(vec![
        Value::String(lua.create_string(state)?),
        Value::Integer(status.parse().unwrap_or(0)),
    ]))
}

/// `balancer.set_timeouts(connect, send, read)` in seconds (nil keeps the configured one).
fn set_timeouts(_lua: &mlua::Lua, args: MultiValue) -> ApiResult {
    in_balancer()?;
    let mut out = Vec::new();
    for i in 0..3 {
        let v = match arg(&args, i) {
            Value::Integer(n) => format!("{}", n * 1000),
            Value::Number(f) => format!("{}", (f * 1000.0) as i64),
            _ => "-".to_string(),
        };
        out.push(v);
    }
    vm::with_req(|r, _| {
        r.vars.insert(TIMEOUTS.to_vec(), out.join(" ").into_bytes());
        Ok(())
    })?;
    Ok(MultiValue::from_vec(vec![Value::Boolean(true)]))
}

/// Runs the upstream's balancer for one try (nginx: ngx_http_lua_balancer_get_peer);
/// `failure` is the previous try's (`"failed 502"`). `None` when the handler failed.
pub(crate) async fn run(
    r: &mut Request,
    h: &Arc<LuaHandler>,
    failure: Option<String>,
) -> Option<Choice> {
    let vm = match vm::get() {
        Some(vm) => vm,
        None => vm::create(r.loc.lua_main.clone().unwrap_or_default(), &r.http.prefix)?,
    };
    r.vars.remove(PEER);
    r.vars.remove(MORE_TRIES);
    r.vars.remove(RECREATE);
    match failure {
        Some(f) => r.vars.insert(LAST_FAILURE.to_vec(), f.into_bytes()),
        None => r.vars.remove(LAST_FAILURE),
    };
    let out = vm::run(&vm, r, h, Phase::Balancer, MultiValue::new()).await;
    if !matches!(out, vm::Outcome::Returned) {
        return None;
    }
    let peer = r
        .vars
        .get(PEER)
        .map(|p| String::from_utf8_lossy(p).to_string());
    let more_tries = r
        .vars
        .get(MORE_TRIES)
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
        .unwrap_or(0);
    let timeouts = r.vars.get(TIMEOUTS).map(|v| {
        let s = String::from_utf8_lossy(v).to_string();
        let mut t = [None; 3];
        for (i, part) in s.split(' ').enumerate().take(3) {
            t[i] = part.parse::<u64>().ok().map(Duration::from_millis);
        }
        t
    });
    let recreate = r.vars.remove(RECREATE).is_some();
    Some(Choice {
        peer,
        more_tries,
        recreate,
        timeouts,
    })
}
