//! `ngx.location.capture` and `ngx.location.capture_multi` (nginx:
//! ngx_http_lua_subrequest.c): each query becomes an nginx subrequest (a [`Request`] of its
//! own, internal, run through the same phases) whose response is captured into a Lua table
//! `{status, header, body, truncated}` instead of being sent.

use std::collections::HashMap;

use http_body_util::BodyExt;
use hyper::Method;
use mlua::{Lua, MultiValue, Table, Value};

use super::api::{arg, encode_args_table, fail, to_bytes, type_name};
use super::vm::{self, with_req, ApiResult, Fail, Phase};
use crate::http::request::Request;
use crate::http::response::Reply;

/// Subrequest numbers of this thread.
static NEXT_SUB: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A new subrequest number (for the mirror and auth_request subrequests too).
pub(crate) fn next_sub() -> u64 {
    NEXT_SUB.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// One query's options (nginx: the `options` table of ngx.location.capture).
struct Query {
    uri: Vec<u8>,
    args: Vec<u8>,
    method: Method,
    body: Option<Vec<u8>>,
    always_forward_body: bool,
    ctx: Option<Table>,
    vars: Vec<(Vec<u8>, Vec<u8>)>,
    share_all_vars: bool,
    copy_all_vars: bool,
}

/// nginx: the NGX_HTTP_* method numbers of `options.method`.
pub(crate) fn method_of(n: i64) -> Option<Method> {
    let m = match n {
        2 => "GET",
        4 => "HEAD",
        8 => "POST",
        16 => "PUT",
        32 => "DELETE",
        64 => "MKCOL",
        128 => "COPY",
        256 => "MOVE",
        512 => "OPTIONS",
        1024 => "PROPFIND",
        2048 => "PROPPATCH",
        4096 => "LOCK",
        8192 => "UNLOCK",
        16384 => "PATCH",
        32768 => "TRACE",
        _ => return None,
    };
    Method::from_bytes(m.as_bytes()).ok()
}

fn flag(lua: &Lua, opts: &Table, name: &str) -> Result<bool, Fail> {
    match opts.get::<Value>(name)? {
        Value::Nil => Ok(false),
        Value::Boolean(b) => Ok(b),
        _ => Err(fail(lua, format!("Bad {name} option value"))),
    }
}

/// Reads one query's uri and options (nginx: the argument loop of
/// ngx_http_lua_ngx_location_capture_multi).
fn query(lua: &Lua, uri: &Value, opts: &Value) -> Result<Query, Fail> {
    let Some(uri) = to_bytes(lua, uri) else {
        return Err(fail(
            lua,
            format!(
                "bad argument #1 to '?' (string expected, got {})",
                type_name(uri)
            ),
        ));
    };
    let (path, mut args) = match uri.iter().position(|&c| c == b'?') {
        Some(i) => (uri[..i].to_vec(), uri[i + 1..].to_vec()),
        None => (uri.clone(), Vec::new()),
    };
    if path.is_empty() {
        return Err(fail(lua, "bad argument #1 to '?' (uri is empty)"));
    }
    let mut q = Query {
        uri: path,
        args: Vec::new(),
        method: Method::GET,
        body: None,
        always_forward_body: false,
        ctx: None,
        vars: Vec::new(),
        share_all_vars: false,
        copy_all_vars: false,
    };
    let opts = match opts {
        Value::Nil => None,
        Value::Table(t) => Some(t.clone()),
        other => {
            return Err(fail(
                lua,
                format!(
                    "expecting table as the 2nd argument for subrequest 1, but got {}",
                    type_name(other)
                ),
            ))
        }
    };
    if let Some(o) = opts {
        match o.get::<Value>("args")? {
            Value::Nil => {}
            Value::Table(t) => {
                let extra = encode_args_table(lua, &t)?;
                append_args(&mut args, &extra);
            }
            v @ (Value::String(_) | Value::Integer(_) | Value::Number(_)) => {
                let extra = to_bytes(lua, &v).unwrap_or_default();
                append_args(&mut args, &extra);
            }
            _ => return Err(fail(lua, "Bad args option value")),
        }
        match o.get::<Value>("vars")? {
            Value::Nil => {}
            Value::Table(t) => {
                for pair in t.pairs::<Value, Value>() {
                    let (k, v) = pair?;
                    let Value::String(k) = k else {
                        return Err(fail(
                            lua,
                            "attempt to use a non-string key in the \"vars\" option table",
                        ));
                    };
                    let Some(v) = to_bytes(lua, &v) else {
                        return Err(fail(
                            lua,
                            format!("attempt to use bad variable value type {}", type_name(&v)),
                        ));
                    };
                    q.vars.push((k.as_bytes().to_ascii_lowercase(), v));
                }
            }
            _ => return Err(fail(lua, "Bad vars option value")),
        }
        q.share_all_vars = flag(lua, &o, "share_all_vars")?;
        q.copy_all_vars = flag(lua, &o, "copy_all_vars")?;
        q.always_forward_body = !matches!(
            o.get::<Value>("always_forward_body")?,
            Value::Nil | Value::Boolean(false)
        );
        match o.get::<Value>("method")? {
            Value::Nil => {}
            v => {
                let m = match v {
                    Value::Integer(i) => Some(i),
                    Value::Number(n) => Some(n as i64),
                    _ => None,
                };
                match m.and_then(method_of) {
                    Some(m) => q.method = m,
                    None => return Err(fail(lua, "Bad http request method")),
                }
            }
        }
        match o.get::<Value>("ctx")? {
            Value::Nil => {}
            Value::Table(t) => q.ctx = Some(t),
            other => {
                return Err(fail(
                    lua,
                    format!(
                        "Bad ctx option value type {}, expected a Lua table",
                        type_name(&other)
                    ),
                ))
            }
        }
        match o.get::<Value>("body")? {
            Value::Nil => {}
            v @ (Value::String(_) | Value::Integer(_) | Value::Number(_)) => {
                q.body = to_bytes(lua, &v);
            }
            _ => return Err(fail(lua, "Bad http request body")),
        }
    }
    q.args = args;
    Ok(q)
}

fn append_args(args: &mut Vec<u8>, extra: &[u8]) {
    if extra.is_empty() {
        return;
    }
    if !args.is_empty() {
        args.push(b'&');
    }
    args.extend_from_slice(extra);
}

/// What a subrequest answered.
struct Captured {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    /// The body did not reach its end (nginx: NGX_HTTP_LUA_SUBREQ_TRUNCATED).
    truncated: bool,
}

/// Makes the subrequest for `q` from the current request (nginx: ngx_http_subrequest and
/// ngx_http_lua_adjust_subrequest).
fn make(q: &Query) -> Result<Request, Fail> {
    with_req(|r, c| {
        let sub = NEXT_SUB.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let vars = if q.share_all_vars || q.copy_all_vars {
            r.vars.clone()
        } else {
            HashMap::new()
        };
        let mut sr = r.subrequest(sub, q.uri.clone(), q.args.clone(), q.method.clone(), vars);
        // nginx: ngx_http_lua_subrequest_add_extra_vars: declared variables and changeable
        // built-ins only; anything else fails the capture.
        for (k, v) in &q.vars {
            if k == b"args" {
                sr.args = v.clone();
                continue;
            }
            if r.http.set_vars.contains(k) || r.vars.contains_key(k) {
                sr.vars.insert(k.clone(), v.clone());
                continue;
            }
            let prefixed = [&b"arg_"[..], b"http_", b"cookie_", b"sent_http_"]
                .iter()
                .any(|p| k.starts_with(p));
            let builtin = !prefixed
                && (r.http.lazy_vars.contains_key(k)
                    || crate::http::vars_runtime::get(r, k).is_some());
            let n = String::from_utf8_lossy(k);
            let msg = match builtin {
                true => format!("variable \"{n}\" not changeable"),
                false => format!(
                    "variable \"{n}\" cannot be assigned a value (maybe you forgot to define it first?) "
                ),
            };
            crate::http::errlog::request_error(r, &msg);
            return Err(Fail("failed to adjust the subrequest: -1".into()));
        }
        // The request body: the option's, else the parent's (read already) unless a
        // GET-like subrequest of a request with a body.
        let parent_len = r
            .headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(-1);
        let body = match &q.body {
            Some(b) => Some(b.clone()),
            None if !q.always_forward_body
                && q.method != Method::PUT
                && q.method != Method::POST
                && parent_len > 0 =>
            {
                None
            }
            None => c.body.clone(),
        };
        if let Some(b) = &q.body {
            if let Ok(v) = hyper::header::HeaderValue::from_str(&b.len().to_string()) {
                sr.headers.insert(hyper::header::CONTENT_LENGTH, v);
            }
        } else if body.is_none() {
            sr.headers.remove(hyper::header::CONTENT_LENGTH);
        }
        let sctx = vm::ctx_of(&sr);
        {
            let mut sc = sctx.borrow_mut();
            sc.body = Some(body.unwrap_or_default());
            sc.ctx = q.ctx.clone();
            // nginx: a subrequest's raw header is the main request's.
            sc.raw_parent = Some(
                c.raw_parent
                    .clone()
                    .unwrap_or_else(|| (r.method.clone(), r.headers.map().clone())),
            );
        }
        Ok(sr)
    })
}

/// nginx: ngx_http_echo_exec_echo_location / echo_subrequest: a subrequest of `r` whose
/// body (an error's page included) is returned; `body` replaces the parent's request body.
pub(crate) async fn echo_sub(
    r: &Request,
    method: Method,
    uri: Vec<u8>,
    args: Vec<u8>,
    body: Option<Vec<u8>>,
) -> Vec<u8> {
    let sub = NEXT_SUB.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut sr = r.subrequest(sub, uri, args, method, HashMap::new());
    if super::used() {
        let parent = vm::ctx_of(r).borrow().body.clone();
        if let Some(b) = &body {
            if let Ok(v) = hyper::header::HeaderValue::from_str(&b.len().to_string()) {
                sr.headers.insert(hyper::header::CONTENT_LENGTH, v);
            }
        }
        let sctx = vm::ctx_of(&sr);
        sctx.borrow_mut().body = Some(body.or(parent).unwrap_or_default());
    }
    let (_, cap) = Box::pin(run_one(sr, false, true)).await;
    cap.body
}

/// nginx: ngx_http_subrequest for ngx_http_ssi_filter_module's `include`: a GET subrequest
/// of `r` sharing its variables; returns it with its status, its Content-Type and its body
/// (an error's page included).
pub(crate) async fn ssi_sub(
    r: &Request,
    uri: Vec<u8>,
    args: Vec<u8>,
) -> (Request, u16, Option<Vec<u8>>, Vec<u8>) {
    let sub = NEXT_SUB.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let sr = r.subrequest(sub, uri, args, Method::GET, r.vars.clone());
    if super::used() {
        let parent = vm::ctx_of(r).borrow().body.clone();
        vm::ctx_of(&sr).borrow_mut().body = Some(parent.unwrap_or_default());
    }
    let (sr, cap) = Box::pin(run_one(sr, false, false)).await;
    let ct = cap
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.clone());
    (sr, cap.status, ct, cap.body)
}

/// Runs a subrequest and collects its response (`lua`: for ngx.location.capture*, whose
/// post-subrequest handler takes an error before its page or `error_page` is made; `ssi`:
/// through its location's SSI filter, for echo_location; ngx.location.capture's capture
/// filter sits above SSI in nginx's chain, and ssi.rs's own includes run SSI themselves).
async fn run_one(mut sr: Request, lua: bool, ssi: bool) -> (Request, Captured) {
    let reply = match lua {
        true => sr.run_capture().await,
        false => sr.run_subrequest().await,
    };
    // The subrequest's response goes through the output filters (header_filter_by_lua,
    // body_filter_by_lua) too.
    let reply = Box::pin(super::phases::header_filter(&mut sr, reply)).await;
    let reply = match ssi {
        true => Box::pin(crate::http::ssi::filter(&mut sr, reply)).await,
        false => reply,
    };
    let key = vm::key_of(&sr);
    let (lua_headers, eof) = {
        let ctx = vm::ctx_of(&sr);
        let c = ctx.borrow();
        (c.headers.clone(), c.eof)
    };
    // a body filter that took the last piece's end away: no end came
    let last_cleared = vm::find_ctx(key).is_some_and(|c| c.borrow().last_cleared);
    vm::drop_key(key);
    let mut cap = capture(&sr, reply, lua_headers, lua, eof).await;
    cap.truncated |= lua && last_cleared;
    // nginx: a finalized subrequest is logged with `log_subrequest on`.
    if sr.loc.log_subrequest == Some(true) {
        sr.status = cap.status;
        crate::http::access_log::log(&sr);
    }
    (sr, cap)
}

/// The response as lua-nginx-module's post-subrequest handler sees it: the special page of
/// an error, the header list (names as set), Content-Type and Content-Length.
async fn capture(
    sr: &Request,
    mut reply: Reply,
    lua_headers: Vec<(String, Vec<u8>)>,
    lua: bool,
    eof: bool,
) -> Captured {
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    let status = reply.status;
    let mut body = Vec::new();
    let lua_named: HashMap<String, &String> = lua_headers
        .iter()
        .map(|(n, _)| (n.to_ascii_lowercase(), n))
        .collect();
    // (a proxied answer's names as the upstream spelled them)
    let names = std::mem::take(&mut reply.names);
    let name_of = |n: &hyper::header::HeaderName| match lua_named.get(n.as_str()) {
        Some(orig) => (*orig).clone(),
        None => match names.get(n.as_str()) {
            Some(spelled) => String::from_utf8_lossy(spelled).into_owned(),
            None => title_case(n.as_str()),
        },
    };
    let bodyless = reply.body.is_none() && reply.file.is_none();
    if lua && bodyless && (status >= 300 && status != 304 || matches!(status, 201 | 204)) {
        // nginx: ngx_http_lua_post_subrequest runs before ngx_http_special_response_handler:
        // the status and the headers set so far, the default type, no body, truncated.
        for (n, v) in &reply.headers {
            if n != hyper::header::CONTENT_TYPE && n != hyper::header::CONTENT_LENGTH {
                headers.push((name_of(n), v.as_bytes().to_vec()));
            }
        }
        if let Some(len) = reply.length {
            headers.push(("Content-Length".into(), len.to_string().into_bytes()));
        }
        if let Some(t) = &sr.loc.default_type {
            headers.push(("Content-Type".into(), t.clone()));
        }
        return Captured {
            status,
            headers,
            body,
            truncated: true,
        };
    }
    if bodyless && status >= 300 && status != 304 {
        // nginx: ngx_http_special_response_handler for the subrequest.
        let tokens = sr
            .loc
            .server_tokens
            .unwrap_or(crate::http::lower::ServerTokens::On);
        if let Some(page) = crate::http::response::special_page(status, tokens) {
            body = page;
            headers.push(("Content-Type".into(), b"text/html".to_vec()));
            headers.push(("Content-Length".into(), body.len().to_string().into_bytes()));
        }
        for (n, v) in &reply.headers {
            if n == hyper::header::LOCATION {
                headers.push(("Location".into(), v.as_bytes().to_vec()));
            }
        }
        return Captured {
            status,
            headers,
            body,
            truncated: false,
        };
    }
    // nginx: no last buffer went through the subrequest's body filter (a header-only
    // answer, or a handler that failed after its output)
    let truncated = lua && (bodyless || ((reply.drop || reply.close) && !eof));
    if let Some(f) = reply.file.take() {
        use std::io::Read;
        let mut file = f.file;
        let _ = file.read_to_end(&mut body);
    } else if let Some(b) = reply.body.take() {
        if let Ok(c) = b.collect().await {
            body = c.to_bytes().to_vec();
        }
    }
    if sr.method == hyper::Method::HEAD {
        // nginx: the header filter sends no body for HEAD (ngx_http_header_filter sets
        // r->header_only)
        body.clear();
    }
    let mut have_type = false;
    for (n, v) in &reply.headers {
        let name = name_of(n);
        if n == hyper::header::CONTENT_TYPE {
            have_type = true;
        }
        headers.push((name, v.as_bytes().to_vec()));
    }
    // (a 204 loses its type on the wire only; a capture sees it)
    if !have_type && reply.default_type && (status != 204 || lua) {
        if let Some(t) = &sr.loc.default_type {
            headers.push(("Content-Type".into(), t.clone()));
        }
    }
    if let Some(len) = reply.length {
        headers.push(("Content-Length".into(), len.to_string().into_bytes()));
    }
    Captured {
        status,
        headers,
        body,
        truncated,
    }
}

/// A header name as nginx's modules write it.
fn title_case(n: &str) -> String {
    match n {
        "etag" => return "ETag".into(),
        "www-authenticate" => return "WWW-Authenticate".into(),
        _ => {}
    }
    let mut up = true;
    n.chars()
        .map(|c| {
            let o = if up { c.to_ascii_uppercase() } else { c };
            up = c == '-';
            o
        })
        .collect()
}

/// The result table `{status, header, body, truncated}`.
fn result(lua: &Lua, c: &Captured) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.set("status", i64::from(c.status))?;
    t.set("truncated", c.truncated)?;
    t.set("body", lua.create_string(&c.body)?)?;
    let h = lua.create_table()?;
    for (name, value) in &c.headers {
        let key = lua.create_string(name)?;
        let v = lua.create_string(value)?;
        match h.raw_get::<Value>(key.clone())? {
            Value::Nil => h.raw_set(key, v)?,
            Value::Table(list) => list.raw_set(list.raw_len() + 1, v)?,
            old => {
                let list = lua.create_table()?;
                list.raw_set(1, old)?;
                list.raw_set(2, v)?;
                h.raw_set(key, list)?;
            }
        }
    }
    t.set("header", h)?;
    Ok(Value::Table(t))
}

/// Runs the queries one after another and builds their results; `share_all_vars` queries
/// hand their variables back to the parent.
async fn run_all(lua: &Lua, queries: Vec<Query>) -> ApiResult {
    let mut subs = Vec::new();
    for q in &queries {
        subs.push(make(q)?);
    }
    let mut out = Vec::new();
    for (q, sr) in queries.iter().zip(subs) {
        let (sr, cap) = Box::pin(run_one(sr, true, false)).await;
        if q.share_all_vars {
            let vars = sr.vars;
            with_req(|r, _| {
                r.vars.extend(vars);
                Ok(())
            })?;
        }
        out.push(result(lua, &cap)?);
    }
    Ok(MultiValue::from_vec(out))
}

fn check(lua: &Lua) -> Result<(), Fail> {
    match vm::current_phase() {
        Some(Phase::ServerRewrite | Phase::Rewrite | Phase::Access | Phase::Content) => Ok(()),
        Some(p) => Err(fail(
            lua,
            format!("API disabled in the context of {}", p.tag()),
        )),
        None => Err(fail(lua, "no request found")),
    }
}

/// nginx: `ctx->no_abort` while a capture waits for its subrequests (ngx.exit refuses to
/// abort the request then), and the waiting coroutine's `pending_subreqs` (ngx.thread.kill
/// refuses to kill it then).
struct NoAbort(Option<vm::CtxKey>, usize);

impl NoAbort {
    fn new(lua: &Lua) -> NoAbort {
        let co = lua.current_thread().to_pointer() as usize;
        super::thread::subreqs_pending(co, true);
        NoAbort(
            vm::with_req(|r, c| {
                c.no_abort += 1;
                Ok(vm::key_of(r))
            })
            .ok(),
            co,
        )
    }
}

impl Drop for NoAbort {
    fn drop(&mut self) {
        super::thread::subreqs_pending(self.1, false);
        if let Some(ctx) = self.0.and_then(vm::find_ctx) {
            if let Ok(mut c) = ctx.try_borrow_mut() {
                c.no_abort = c.no_abort.saturating_sub(1);
            }
        }
    }
}

/// nginx: ngx_http_lua_ngx_location_capture.
pub(crate) async fn capture_one(lua: Lua, args: MultiValue) -> ApiResult {
    let n = args.len();
    if n != 1 && n != 2 {
        return Err(fail(&lua, "expecting one or two arguments"));
    }
    check(&lua)?;
    let q = query(&lua, &arg(&args, 0), &arg(&args, 1))?;
    let _pending = NoAbort::new(&lua);
    super::thread::next_round().await;
    run_all(&lua, vec![q]).await
}

/// nginx: ngx_http_lua_ngx_location_capture_multi.
pub(crate) async fn capture_multi(lua: Lua, args: MultiValue) -> ApiResult {
    if args.len() != 1 {
        return Err(fail(
            &lua,
            format!("only one argument is expected, but got {}", args.len()),
        ));
    }
    check(&lua)?;
    let Value::Table(list) = arg(&args, 0) else {
        return Err(fail(
            &lua,
            format!(
                "bad argument #1 to '?' (table expected, got {})",
                type_name(&arg(&args, 0))
            ),
        ));
    };
    let n = list.raw_len();
    if n == 0 {
        return Err(fail(&lua, "at least one subrequest should be specified"));
    }
    let mut queries = Vec::new();
    for i in 1..=n {
        let Value::Table(q) = list.raw_get::<Value>(i)? else {
            return Err(fail(
                &lua,
                format!("the query argument {i} is not a table, but {}", "other"),
            ));
        };
        let uri = q.raw_get::<Value>(1)?;
        let opts = q.raw_get::<Value>(2)?;
        queries.push(query(&lua, &uri, &opts)?);
    }
    let _pending = NoAbort::new(&lua);
    super::thread::next_round().await;
    run_all(&lua, queries).await
}
