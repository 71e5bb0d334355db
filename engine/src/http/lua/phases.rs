//! The hooks the request phases call (nginx: ngx_http_lua_rewrite_handler,
//! ngx_http_lua_access_handler, ngx_http_lua_content_handler, ngx_http_lua_log_handler,
//! ngx_http_lua_init_worker).

use std::rc::Rc;
use std::sync::Arc;

use hyper::header::{HeaderName, HeaderValue};
use mlua::MultiValue;

use super::vm::{self, Outcome, Phase, ReqCtx, Vm};
use super::LuaConf;
use crate::http::lower::Http;
use crate::http::request::{Next, Request};
use crate::http::response::{full, Reply};

/// nginx: ngx_http_lua_module's NGX_OK / NGX_ERROR / NGX_DECLINED as `ngx.exit` codes.
const NGX_OK: i64 = 0;
const NGX_DECLINED: i64 = -5;

/// This thread's VM, made on first use for the request's configuration.
fn vm_for(r: &Request) -> Option<Rc<Vm>> {
    if let Some(vm) = vm::get() {
        return Some(vm);
    }
    let conf = r.loc.lua_main.clone().unwrap_or_default();
    vm::create(conf, &r.http.prefix)
}

/// The `http` level's Lua values (any server's merged conf carries them).
fn main_conf(http: &Http) -> Arc<LuaConf> {
    http.servers
        .first()
        .and_then(|s| s.conf.lua_main.clone())
        .unwrap_or_default()
}

/// nginx: ngx_http_lua_init's `init_by_lua*`, run once per cycle by the master before the
/// workers start (see [`vm::init_in_master`]). The error is the text that stops the cycle
/// and whether nginx writes it bare (`lua_shared_dict`s defer the run to shared-memory init).
pub(crate) fn init_in_master(http: &Http) -> Result<(), (String, bool)> {
    let conf = main_conf(http);
    let bare = !conf.dicts.is_empty();
    vm::init_in_master(conf, &http.prefix).map_err(|t| (t, bare))
}

/// nginx: ngx_http_lua_init_worker, on the worker thread before it serves: the VM (and
/// `init_by_lua*`), then `init_worker_by_lua*`.
pub(crate) fn init_worker(http: &Http) {
    let id = std::thread::current()
        .name()
        .and_then(|n| n.rsplit('-').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    vm::WORKER_ID.with(|w| w.set(id));
    // the cosockets of init_worker's timers use the http level's lua_socket_* values
    super::socket::set_main_loc(http.servers.first().map(|s| s.conf.clone()));
    let conf = main_conf(http);
    if !super::used()
        && conf.init.is_none()
        && conf.init_worker.is_none()
        && conf.exit_worker.is_none()
    {
        return;
    }
    let Some(vm) = vm::create(conf.clone(), &http.prefix) else {
        return;
    };
    if let Some(h) = &conf.init_worker {
        // nginx: a fake connection with its own number; the error goes to the cycle's log
        let _scope = vm::Scope::enter_fake(Phase::InitWorker, crate::worker::next_conn_id());
        let res = vm.compile(h, None).and_then(|f| f.call::<()>(()));
        if let Err(e) = res {
            let tag = match h.src {
                super::directives::LuaSrc::Inline { .. } => "init_worker_by_lua",
                _ => "init_worker_by_lua_file",
            };
            // nginx: ngx_http_lua_report
            crate::http::errlog::write(
                crate::log::Level::Error,
                &format!("{tag} error: {}", vm::init_traceback(&vm::error_text(&e))),
            );
        }
    }
}

/// nginx: ngx_http_lua_exit_worker, when the worker thread exits (graceful or fast).
pub(crate) fn exit_worker(http: &Http) {
    let conf = main_conf(http);
    let (Some(h), Some(vm)) = (conf.exit_worker.as_ref(), vm::get()) else {
        return;
    };
    // nginx: a fake connection (numbered, logging to the cycle's log)
    crate::worker::next_conn_id();
    let _scope = vm::Scope::enter_none(Phase::ExitWorker);
    if let Err(e) = vm.compile(h, None).and_then(|f| f.call::<()>(())) {
        let tag = match h.src {
            super::directives::LuaSrc::Inline { .. } => "exit_worker_by_lua",
            _ => "exit_worker_by_lua_file",
        };
        // nginx: ngx_http_lua_report
        crate::http::errlog::write(
            crate::log::Level::Error,
            &format!("{tag} error: {}", vm::init_traceback(&vm::error_text(&e))),
        );
    }
}

/// Keeps the request body for `ngx.req.read_body` when Lua is in use; the guard forgets the
/// request's Lua context when the request ends, however it ends.
pub(crate) fn stash_body(r: &Request, body: crate::http::h1::ReqBody) -> BodyGuard {
    let key = vm::key_of(r);
    if !super::used()
        && !crate::http::proxy_run::used()
        && !crate::http::mirror::used()
        && !crate::http::dav::used()
    {
        return BodyGuard {
            _req: Some(body),
            key,
        };
    }
    let conn = body.raw_conn();
    let ctx = vm::ctx_of(r);
    let mut c = ctx.borrow_mut();
    c.raw_conn = conn;
    c.incoming = Some(body);
    drop(c);
    BodyGuard { _req: None, key }
}

/// See [`stash_body`].
pub(crate) struct BodyGuard {
    _req: Option<crate::http::h1::ReqBody>,
    key: vm::CtxKey,
}

impl Drop for BodyGuard {
    fn drop(&mut self) {
        vm::drop_key(self.key);
    }
}

/// The response the handler produced so far (nginx: the headers ngx.header/ngx.status set,
/// and the body ngx.say/ngx.print sent).
fn output(r: &Request, c: &mut ReqCtx) -> Reply {
    if c.precondition_failed {
        return Reply::status(412);
    }
    let mut reply = head(r, c);
    if let Some(len) = reply.length {
        // nginx sends no more than the Content-Length the handler set.
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if c.out.len() > len {
            c.out.truncate(len);
        }
    }
    let out = bytes::Bytes::from(std::mem::take(&mut c.out));
    let mut pieces = Vec::new();
    let mut from = 0;
    for end in std::mem::take(&mut c.out_marks) {
        let end = end.min(out.len());
        if end > from {
            pieces.push(out.slice(from..end));
            from = end;
        }
    }
    if from < out.len() {
        pieces.push(out.slice(from..));
    }
    // HTTP/1.0 without a length (lua_http10_buffering off): close-delimited, as the body's
    // size is not told.
    let close_delimited = reply.length.is_none() && r.version == hyper::Version::HTTP_10;
    reply.body = Some(if pieces.len() > 1 || close_delimited {
        http_body_util::BodyExt::boxed(Pieces(pieces.into(), !close_delimited))
    } else {
        full(out)
    });
    reply
}

/// The response's status and headers as the handler set them (no body yet).
fn head(r: &Request, c: &mut ReqCtx) -> Reply {
    let status = match (c.status, r.err_status, r.out_status) {
        // an error page's handler answers with the error's status unless it sets one, or
        // the page is `=` (no code: nginx's err_status is zero) and no earlier Lua handler
        // set one (nginx: r->headers_out.status)
        (0, 0, 0) => 200,
        (0, 0, s) => s,
        (0, s, _) => s,
        (s, _, _) => s,
    };
    let mut reply = Reply::status(status);
    if status == 101 {
        // nginx: ngx.status = 101 sets the status line (the core has no 101 line)
        reply.status_line = Some(b"101 Switching Protocols".to_vec());
    }
    reply.raw_location = true;
    let mut has_type = false;
    c.headers_used = true;
    for (name, value) in &c.headers {
        let lname = name.to_ascii_lowercase();
        if lname == "content-length" {
            reply.length = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            continue;
        }
        if lname == "content-type" {
            has_type = true;
        }
        reply.names.note(name.as_bytes());
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            reply.headers.append(n, v);
        }
    }
    if reply.length.is_none()
        && (c.buffering || !c.headers_sent)
        && r.loc.lua_http10_buffering != Some(false)
        && r.version == hyper::Version::HTTP_10
        && r.method != hyper::Method::HEAD
    {
        // nginx: lua_http10_buffering: an HTTP/1.0 answer is buffered and gets a length.
        reply.length = Some(c.out.len() as u64);
    }
    if !has_type
        && (status != 204 || r.sub != 0)
        && status != 304
        && !c.type_cleared
        && r.loc.lua_use_default_type != Some(false)
        && !c.headers_sent
    {
        // nginx: ngx_http_set_content_type: the URI's extension, else default_type.
        match content_type_of(r) {
            Some(t) => {
                if let Ok(v) = HeaderValue::from_bytes(&t) {
                    reply.headers.insert(hyper::header::CONTENT_TYPE, v);
                }
            }
            None => reply.default_type = true,
        }
    }
    reply
}

/// A body sent as the pieces the handler printed (nginx: one buffer per output call, so one
/// chunk each on a chunked response); whether its size is told.
struct Pieces(std::collections::VecDeque<bytes::Bytes>, bool);

impl hyper::body::Body for Pieces {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, std::io::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(hyper::body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        // a close-delimited body is not known to be empty before it is read
        self.1 && self.0.is_empty()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        if !self.1 {
            return hyper::body::SizeHint::default();
        }
        let n: usize = self.0.iter().map(bytes::Bytes::len).sum();
        hyper::body::SizeHint::with_exact(n as u64)
    }
}

/// A handler failed: 500 before the headers went out; after, the connection closes (with
/// what the write filter had already sent: nothing while under `postpone_output`).
fn failed(r: &Request, c: &mut ReqCtx) -> Reply {
    if let Some(status) = c.fail_status.take() {
        return Reply::status(status);
    }
    if !c.headers_sent {
        return Reply::status(500);
    }
    cut(r, c)
}

/// The request is terminated after its head was made: the connection closes, after what the
/// write filter had sent already (nothing while under `postpone_output`).
fn cut(r: &Request, c: &mut ReqCtx) -> Reply {
    let mut reply = output(r, c);
    reply.close = true;
    if !c.flushed && c.out_total < POSTPONE_OUTPUT {
        reply.drop = true;
    }
    reply
}

/// nginx: `postpone_output 1460`.
const POSTPONE_OUTPUT: usize = 1460;

/// The type `types {}` gives the URI's extension (nginx: `r->exten`).
pub(crate) fn content_type_of(r: &Request) -> Option<Vec<u8>> {
    let uri = &r.uri;
    let slash = uri.iter().rposition(|&c| c == b'/').map_or(0, |i| i + 1);
    let name = &uri[slash..];
    let dot = name.iter().rposition(|&c| c == b'.')?;
    let ext = name[dot + 1..].to_ascii_lowercase();
    r.loc.types.as_ref()?.get(&ext).cloned()
}

/// A reply for `ngx.exit(code)` before the headers were sent (nginx:
/// ngx_http_lua_handle_exit then ngx_http_finalize_request).
fn exit_reply(r: &Request, c: &mut ReqCtx, code: i64) -> Reply {
    if c.headers_sent && super::stream::exit_terminates(code) {
        // nginx: the request is terminated: what the write filter held is lost.
        return cut(r, c);
    }
    if c.headers_sent {
        return output(r, c);
    }
    if code < 0 {
        // NGX_ERROR and the like: the request is terminated without an answer.
        let mut reply = Reply::status(500);
        reply.drop = true;
        return reply;
    }
    let code = u16::try_from(code).unwrap_or(500);
    if code >= 300 {
        let mut reply = Reply::status(code);
        reply.raw_location = true;
        c.headers_used = true;
        for (name, value) in &c.headers {
            reply.names.note(name.as_bytes());
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value),
            ) {
                reply.headers.append(n, v);
            }
        }
        return reply;
    }
    c.status = code;
    let mut reply = output(r, c);
    if code == 204 {
        reply.body = None;
        reply.default_type = false;
        reply.headers.remove(hyper::header::CONTENT_TYPE);
    }
    reply
}

/// nginx: ngx_http_lua_handle_exec: an internal redirect (or a named location); the Lua
/// context starts anew (nginx clears the module ctx), keeping the request body.
async fn exec_to(
    r: &mut Request,
    ctx: &std::rc::Rc<std::cell::RefCell<ReqCtx>>,
    uri: Vec<u8>,
    args: Vec<u8>,
) -> Reply {
    {
        let mut c = ctx.borrow_mut();
        let fresh = ReqCtx {
            body: c.body.take(),
            incoming: c.incoming.take(),
            ..ReqCtx::new()
        };
        *c = fresh;
    }
    if uri.starts_with(b"@") {
        return r.named_location(&uri).await;
    }
    r.internal_redirect(uri, Some(args)).await
}

/// After a rewrite or access handler: go on, or answer.
async fn early(r: &mut Request, out: Outcome) -> Next {
    match early_reply(r, out).await {
        Next::Done(reply) => Next::Done(log_dropped(r, reply).await),
        next => next,
    }
}

/// A request that ends without an answer (`ngx.exit(ngx.ERROR)`) still runs its log phase in
/// nginx: the worker skips it for a dropped connection, so Lua's log handler runs here.
async fn log_dropped(r: &mut Request, reply: Reply) -> Reply {
    if reply.drop && r.loc.lua_log.is_some() {
        log(r).await;
    }
    reply
}

async fn early_reply(r: &mut Request, out: Outcome) -> Next {
    let ctx = vm::ctx_of(r);
    let exec = ctx.borrow_mut().exec.take();
    if let Some((uri, args)) = exec {
        return Next::Done(exec_to(r, &ctx, uri, args).await);
    }
    let mut c = ctx.borrow_mut();
    match out {
        Outcome::Failed => Next::Done(failed(r, &mut c)),
        Outcome::Exited => {
            let code = c.exit.take().unwrap_or(NGX_OK);
            // nginx: ngx_http_lua_rewrite_by_chunk / access_by_chunk go on to the next
            // phase on NGX_OK and NGX_DECLINED.
            if (code == NGX_OK || code == NGX_DECLINED) && !c.headers_sent {
                return Next::Continue;
            }
            Next::Done(exit_reply(r, &mut c, code))
        }
        Outcome::Returned => {
            if c.headers_sent && (!c.buffering || c.eof) {
                return Next::Done(output(r, &mut c));
            }
            // nginx: an HTTP/1.0 answer held whole has not sent its head (r->header_sent):
            // the request goes on, and the content handler's output joins what is held.
            Next::Continue
        }
    }
}

/// nginx: `lua_need_request_body on`: the body is read before the handler runs.
async fn need_body(r: &Request) {
    if r.loc.lua_need_request_body != Some(true) {
        return;
    }
    let ctx = vm::ctx_of(r);
    let incoming = {
        let mut c = ctx.borrow_mut();
        if c.body.is_some() {
            return;
        }
        c.incoming.take()
    };
    let data = match incoming {
        Some(b) => http_body_util::BodyExt::collect(b)
            .await
            .map(|b| b.to_bytes().to_vec())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    super::body::store(r, &mut ctx.borrow_mut(), data);
}

/// nginx: ngx_http_lua_server_rewrite_handler (after the server-level rewrite script).
pub(crate) async fn server_rewrite(r: &mut Request) -> Next {
    let Some(h) = r.server.conf.lua_server_rewrite.clone() else {
        return Next::Continue;
    };
    let Some(vm) = vm_for(r) else {
        return Next::Continue;
    };
    match run_early(&vm, r, &h, Phase::ServerRewrite).await {
        Ok(out) => early(r, out).await,
        Err(reply) => Next::Done(reply),
    }
}

/// nginx: ngx_http_lua_rewrite_handler (after the rewrite module's script).
pub(crate) async fn rewrite(r: &mut Request) -> Next {
    let Some(h) = r.loc.lua_rewrite.clone() else {
        return Next::Continue;
    };
    let Some(vm) = vm_for(r) else {
        return Next::Continue;
    };
    need_body(r).await;
    match run_early(&vm, r, &h, Phase::Rewrite).await {
        Ok(out) => early(r, out).await,
        Err(reply) => Next::Done(reply),
    }
}

/// nginx: ngx_http_lua_access_handler.
///
/// `satisfy_any`: under `satisfy any`, an `ngx.exit` with NGX_DECLINED, 403 or 401 (nothing
/// sent yet) is the handler's verdict for ngx_http_core_access_phase, given back as
/// `Err(code)` (0 for DECLINED); everything else, as without it, in `Ok`.
pub(crate) async fn access(r: &mut Request, satisfy_any: bool) -> Result<Next, u16> {
    let Some(h) = r.loc.lua_access.clone() else {
        return Ok(Next::Continue);
    };
    let Some(vm) = vm_for(r) else {
        return Ok(Next::Continue);
    };
    need_body(r).await;
    let out = match run_early(&vm, r, &h, Phase::Access).await {
        Ok(out) => out,
        Err(reply) => return Ok(Next::Done(reply)),
    };
    if satisfy_any && matches!(out, Outcome::Exited) {
        let ctx = vm::ctx_of(r);
        let mut c = ctx.borrow_mut();
        let verdict = match c.exit {
            _ if c.headers_sent || c.exec.is_some() => None,
            Some(NGX_DECLINED) => Some(0),
            Some(code @ (401 | 403)) => u16::try_from(code).ok(),
            _ => None,
        };
        if let Some(v) = verdict {
            c.exit = None;
            return Err(v);
        }
    }
    Ok(early(r, out).await)
}

/// nginx: ngx_http_lua_content_handler: `None` when the location has no Lua content.
pub(crate) async fn content(r: &mut Request) -> Option<Reply> {
    let h = r
        .loc
        .lua_content
        .clone()
        .or_else(|| r.location.as_ref().and_then(|l| l.conf.lua_content.clone()))?;
    let vm = vm_for(r)?;
    need_body(r).await;
    let ctx = vm::ctx_of(r);
    let out = match run_early(&vm, r, &h, Phase::Content).await {
        Ok(out) => out,
        Err(streaming) => return Some(streaming),
    };
    let exec = ctx.borrow_mut().exec.take();
    if let Some((uri, args)) = exec {
        return Some(exec_to(r, &ctx, uri, args).await);
    }
    let reply = {
        let mut c = ctx.borrow_mut();
        content_reply(r, &mut c, out)
    };
    Some(log_dropped(r, reply).await)
}

/// Whether the content handler's output may be streamed: the main request's content
/// handler, with its head out, not held whole for HTTP/1.0 (nor refused, nor a HEAD's).
pub(crate) fn can_stream(r: &Request, c: &ReqCtx) -> bool {
    !c.buffering && may_stream(r, c)
}

fn may_stream(r: &Request, c: &ReqCtx) -> bool {
    // nginx sends the output of rewrite and access handlers as they make it, as the content
    // handler's (ngx_http_lua_send_chain_link in any phase).
    matches!(
        c.phase,
        Phase::Content | Phase::Rewrite | Phase::Access | Phase::ServerRewrite
    ) && r.sub == 0
        && c.headers_sent
        && !c.precondition_failed
        && r.method != hyper::Method::HEAD
        && c.exit.is_none()
        && c.exec.is_none()
}

/// The handler waits with output nginx would have sent by now: a flush, `ngx.eof`, or
/// `postpone_output` bytes with the head.
fn wants_stream(r: &Request, ctx: &std::rc::Rc<std::cell::RefCell<ReqCtx>>) -> bool {
    let Ok(c) = ctx.try_borrow() else {
        return false;
    };
    if !may_stream(r, &c) {
        return false;
    }
    if c.buffering {
        // nginx sends a held HTTP/1.0 answer whole at ngx.eof, the handler going on.
        return c.eof;
    }
    if !c.flush_marks.is_empty() || c.eof {
        return true;
    }
    let chunked = chunked(r, &c);
    super::stream::head_estimate(r, &c, chunked) + super::stream::pending_size(&c, chunked)
        >= super::stream::POSTPONE_OUTPUT
}

/// The streamed body goes out in chunks: HTTP/1.1 without a Content-Length.
fn chunked(r: &Request, c: &ReqCtx) -> bool {
    r.version != hyper::Version::HTTP_10
        && !c
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
}

/// The head goes out now and the body follows as the handler makes it: a task of the
/// worker polls the handler on (stream.rs).
fn begin_stream(
    r: &mut Request,
    ctx: &std::rc::Rc<std::cell::RefCell<ReqCtx>>,
    started: vm::Started,
    h: Arc<super::directives::LuaHandler>,
    phase: Phase,
) -> Reply {
    let (mut reply, s) = {
        let mut c = ctx.borrow_mut();
        let s = c.stream.get_or_insert_with(super::stream::new).clone();
        let reply = head(r, &mut c);
        let chunked = chunked(r, &c);
        super::stream::begin(
            &s,
            r as *const Request,
            chunked,
            super::stream::head_estimate(r, &c, chunked),
            phase,
        );
        (reply, s)
    };
    reply.body = Some(http_body_util::BodyExt::boxed(super::stream::LuaBody::new(
        s.clone(),
    )));
    tokio::task::spawn_local(super::stream::drive(
        started,
        s,
        ctx.clone(),
        r as *mut Request,
        h,
        phase,
    ));
    reply
}

/// Runs a rewrite, access or content handler: its [`Outcome`], or the answer when its output
/// began to stream (nginx sends a handler's output as it is made; after a rewrite/access
/// handler streamed, the request ends with it and the content phase is skipped).
async fn run_early(
    vm: &Rc<Vm>,
    r: &mut Request,
    h: &Arc<super::directives::LuaHandler>,
    phase: Phase,
) -> Result<Outcome, Reply> {
    let ctx = vm::ctx_of(r);
    let mut started = match vm::start(vm, r, h, phase, MultiValue::new()) {
        Ok(s) => s,
        Err(out) => return Ok(out),
    };
    let mut fut = started.fut.as_mut();
    let streams = tokio::task::try_id().is_some();
    let res = std::future::poll_fn(|cx| match fut.as_mut().poll(cx) {
        std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
        std::task::Poll::Pending if streams && wants_stream(r, &ctx) => {
            std::task::Poll::Ready(None)
        }
        std::task::Poll::Pending => std::task::Poll::Pending,
    })
    .await;
    match res {
        Some(res) => Ok(vm::finish(r, h, phase, started.debug, res)),
        None => Err(begin_stream(r, &ctx, started, h.clone(), phase)),
    }
}

/// The content handler's answer.
fn content_reply(r: &Request, c: &mut ReqCtx, out: Outcome) -> Reply {
    match out {
        Outcome::Failed => failed(r, c),
        Outcome::Exited => {
            let code = c.exit.take().unwrap_or(NGX_OK);
            if code == NGX_OK {
                output(r, c)
            } else {
                exit_reply(r, c, code)
            }
        }
        Outcome::Returned => output(r, c),
    }
}

/// nginx: ngx_http_lua_log_handler; forgets the request's Lua context afterwards.
pub(crate) async fn log(r: &mut Request) {
    if let Some(h) = r.loc.lua_log.clone() {
        if let Some(vm) = vm_for(r) {
            let _ = vm::run(&vm, r, &h, Phase::Log, MultiValue::new()).await;
        }
    }
    vm::drop_ctx(r);
}

/// nginx: ngx_http_lua_set_by_chunk: runs the code synchronously with `ngx.arg` set and
/// stores what it returns in the variable; `Some(500)` when it failed.
pub(crate) fn run_set(r: &mut Request, x: &super::SetByLua) -> Option<Reply> {
    let vm = vm_for(r)?;
    let args: Vec<Vec<u8>> = x.args.iter().map(|a| r.eval(a)).collect();
    let ctx = vm::ctx_of(r);
    let prev = {
        let mut c = ctx.borrow_mut();
        c.args = args;
        std::mem::replace(&mut c.phase, Phase::Set)
    };
    let file = match &x.handler.src {
        super::directives::LuaSrc::File(p) => {
            let cv = crate::http::variables::parse_complex_value(p).unwrap_or_default();
            Some(r.eval(&cv))
        }
        super::directives::LuaSrc::Inline { .. } => None,
    };
    let f = match vm.compile(&x.handler, file.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            let text = vm::error_text(&e);
            let msg = match &file {
                Some(p) => format!(
                    "failed to load external Lua file \"{}\": {text}",
                    crate::cycle::full_name(&vm.prefix, p).display()
                ),
                None => format!("failed to load inlined Lua code: {text}"),
            };
            crate::http::errlog::request_error(r, &msg);
            let mut c = ctx.borrow_mut();
            c.phase = prev;
            c.args.clear();
            return Some(Reply::status(500));
        }
    };
    let res = {
        let _scope = vm::Scope::enter(r as *mut Request, ctx.clone());
        vm.traced_call(f)
    };
    {
        let mut c = ctx.borrow_mut();
        c.phase = prev;
        c.args.clear();
    }
    match res {
        Ok(v) => {
            let val = match &v {
                mlua::Value::String(s) => s.as_bytes().to_vec(),
                mlua::Value::Integer(_) | mlua::Value::Number(_) => vm
                    .lua
                    .coerce_string(v.clone())
                    .ok()
                    .flatten()
                    .map(|s| s.as_bytes().to_vec())
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            r.vars.insert(x.var.clone(), val);
            None
        }
        Err(e) => {
            let mut msg = vm::error_text(&e);
            if msg.is_empty() || msg == "nil" || msg.starts_with("nil\n") {
                msg = "unknown reason".into();
            }
            crate::http::errlog::request_error(r, &format!("failed to run set_by_lua*: {msg}"));
            Some(Reply::status(500))
        }
    }
}

/// nginx: ngx_http_lua_header_filter: the handler sees and changes the response's status
/// and headers (`ngx.header`, `ngx.status`) before they are sent.
pub(crate) async fn header_filter(r: &mut Request, mut reply: Reply) -> Reply {
    let ctx = vm::find_ctx(vm::key_of(r));
    if let Some(ctx) = &ctx {
        earlier_headers(&mut ctx.borrow_mut(), &mut reply);
    }
    let eof = ctx.as_ref().map(|c| c.borrow().eof);
    let reply = header_filter_lua(r, reply).await;
    if let Some(ctx) = ctx {
        let mut c = ctx.borrow_mut();
        if c.stream.as_ref().is_some_and(super::stream::started) {
            // The content handler goes on streaming: its head is out, and its body goes
            // through body_filter_by_lua* as it is made (stream.rs).
            c.headers_sent = true;
            c.eof = eof.unwrap_or(c.eof);
            return reply;
        }
    }
    body_filter(r, reply).await
}

/// Headers that `ngx.header` set in an earlier phase (rewrite, access) join the answer of a
/// content handler that is not Lua's: nginx keeps them in `r->headers_out`, where the
/// handler's own Content-Length wins and a Content-Type already set is kept.
fn earlier_headers(c: &mut ReqCtx, reply: &mut Reply) {
    if c.headers_used || c.headers.is_empty() {
        return;
    }
    c.headers_used = true;
    let mut headers = hyper::HeaderMap::new();
    for (name, value) in &c.headers {
        if name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) else {
            continue;
        };
        if n == hyper::header::CONTENT_TYPE {
            reply.default_type = false;
            reply.headers.remove(&n);
        }
        reply.names.note(name.as_bytes());
        headers.append(n, v);
    }
    // a name of None continues the previous one (HeaderMap::drain)
    let mut last = None;
    for (n, v) in reply.headers.drain() {
        if n.is_some() {
            last = n;
        }
        if let Some(n) = &last {
            headers.append(n.clone(), v);
        }
    }
    reply.headers = headers;
}

/// Runs `body_filter_by_lua*` on one piece of a streamed body (`last`: the body's end);
/// what it leaves in `ngx.arg[1]`, or `None` when it failed.
pub(crate) async fn filter_piece(
    r: &mut Request,
    ctx: &std::rc::Rc<std::cell::RefCell<ReqCtx>>,
    h: &Arc<super::directives::LuaHandler>,
    piece: &[u8],
    last: bool,
) -> Option<Vec<u8>> {
    let vm = vm_for(r)?;
    let t = arg_table(&vm, piece, last).ok()?;
    let (prev, eof) = {
        let mut c = ctx.borrow_mut();
        c.arg_table = Some(t.clone());
        (c.phase, c.eof)
    };
    let res = vm::run(&vm, r, h, Phase::BodyFilter, MultiValue::new()).await;
    {
        let mut c = ctx.borrow_mut();
        c.arg_table = None;
        c.phase = prev;
        c.eof = eof;
    }
    if let Outcome::Failed = res {
        return None;
    }
    Some(arg_out(&vm, &t))
}

/// The body filter's `ngx.arg[1]` after it ran: a string, a number, or a table of them
/// (nested tables too, as ngx_http_lua_copy_str_in_table walks them).
fn arg_out(vm: &Vm, t: &mlua::Table) -> Vec<u8> {
    fn add(vm: &Vm, v: mlua::Value, out: &mut Vec<u8>, depth: usize) {
        match v {
            mlua::Value::String(s) => out.extend_from_slice(&s.as_bytes()),
            mlua::Value::Table(list) if depth < 64 => {
                for v in list.sequence_values::<mlua::Value>().flatten() {
                    add(vm, v, out, depth + 1);
                }
            }
            v @ (mlua::Value::Integer(_) | mlua::Value::Number(_)) => {
                if let Some(b) = vm.lua.coerce_string(v).ok().flatten() {
                    out.extend_from_slice(&b.as_bytes());
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = t.raw_get::<mlua::Value>(1) {
        add(vm, v, &mut out, 0);
    }
    out
}

/// The body filter's `ngx.arg` for `piece`: a cleared `ngx.arg[1]` reads as the empty
/// string, as the buffers it left are (nginx: ngx_http_lua_body_filter_param_get).
fn arg_table(vm: &Vm, piece: &[u8], last: bool) -> mlua::Result<mlua::Table> {
    let lua = &vm.lua;
    let mt = match lua.named_registry_value::<Option<mlua::Table>>("oxresty.arg_mt")? {
        Some(mt) => mt,
        None => {
            let mt = lua.create_table()?;
            mt.set(
                "__index",
                lua.load("return function(_, k) if k == 1 then return '' end end")
                    .set_name("=ngx.arg")
                    .call::<mlua::Function>(())?,
            )?;
            lua.set_named_registry_value("oxresty.arg_mt", &mt)?;
            mt
        }
    };
    let t = lua.create_table()?;
    t.raw_set(1, lua.create_string(piece)?)?;
    t.raw_set(2, last)?;
    t.set_metatable(Some(mt));
    Ok(t)
}

/// nginx: ngx_http_lua_body_filter: the handler sees each piece of the body as `ngx.arg[1]`
/// and the end of the body as `ngx.arg[2]`, and may replace them. The body is gathered
/// first: Lua and echo output as its pieces, then an empty last piece; a file or a
/// `return` text as one last piece. A special response's page is shown to the handler but
/// not changed.
async fn body_filter(r: &mut Request, mut reply: Reply) -> Reply {
    let Some(h) = r.loc.lua_body_filter.clone() else {
        return reply;
    };
    let Some(vm) = vm_for(r) else {
        return reply;
    };
    let special = reply.body.is_none() && reply.file.is_none();
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    let mut eof_apart = true;
    if let Some(f) = reply.file.take() {
        use std::io::Read;
        let mut data = Vec::new();
        let mut file = f.file;
        let _ = file.read_to_end(&mut data);
        pieces.push(data);
        eof_apart = false;
    } else if let Some(mut b) = reply.body.take() {
        use http_body_util::BodyExt;
        while let Some(frame) = b.frame().await {
            match frame {
                Ok(f) => {
                    if let Ok(d) = f.into_data() {
                        if !d.is_empty() {
                            pieces.push(d.to_vec());
                        }
                    }
                }
                Err(_) => break,
            }
        }
        eof_apart = !reply.default_type;
    } else if reply.status >= 300 {
        let tokens = r
            .loc
            .server_tokens
            .unwrap_or(crate::http::lower::ServerTokens::On);
        pieces.push(crate::http::response::special_page(reply.status, tokens).unwrap_or_default());
        eof_apart = false;
    }
    if eof_apart || pieces.is_empty() {
        pieces.push(Vec::new());
    }
    let ctx = vm::ctx_of(r);
    {
        let mut c = ctx.borrow_mut();
        c.status = reply.status;
        c.headers_sent = true;
    }
    let n = pieces.len();
    let mut out = Vec::new();
    let mut failed_run = false;
    for (i, piece) in pieces.into_iter().enumerate() {
        let last = i + 1 == n;
        let Ok(t) = arg_table(&vm, &piece, last) else {
            break;
        };
        ctx.borrow_mut().arg_table = Some(t.clone());
        let res = vm::run(&vm, r, &h, Phase::BodyFilter, MultiValue::new()).await;
        ctx.borrow_mut().arg_table = None;
        if let Outcome::Failed = res {
            failed_run = true;
            break;
        }
        out.extend_from_slice(&arg_out(&vm, &t));
        // nginx: ngx_http_lua_body_filter_param_set takes ngx.arg[2] as a boolean (any
        // value but nil and false is true): true ends the body here, false on the last
        // piece takes its end away.
        let eof = !matches!(
            t.raw_get::<mlua::Value>(2),
            Ok(mlua::Value::Nil | mlua::Value::Boolean(false)) | Err(_)
        );
        if !last && eof {
            break;
        }
        if last && !eof {
            ctx.borrow_mut().last_cleared = true;
        }
    }
    if special {
        return reply;
    }
    if failed_run {
        reply.close = true;
    }
    // The body's length is only known again as a whole.
    if reply.length.is_some_and(|l| l != out.len() as u64) {
        reply.length = None;
    }
    if reply.length.is_some() || r.version == hyper::Version::HTTP_10 {
        reply.length = Some(out.len() as u64);
    }
    reply.allow_ranges = false;
    reply.body = Some(full(out));
    reply
}

/// nginx: ngx_http_send_header runs the header filters when a Lua handler first sends its
/// head (`ngx.send_headers`, the first `ngx.say`/`print`/`eof`): header_filter_by_lua*
/// runs then, inside that call, on `ngx.status` and `ngx.header` as they are, and not again
/// when the handler ends. `false` when it failed (the call answers "nginx output filter
/// error" and the request ends without an answer).
pub(crate) fn header_filter_now() -> bool {
    let Some((p, ctx)) = vm::current() else {
        return true;
    };
    // SAFETY: `p` is the request whose handler is being polled (vm::with_req); the handler
    // is inside an API call, and no other reference to the request is used meanwhile.
    let r = unsafe { &mut *p };
    let Some(h) = r.loc.lua_header_filter.clone() else {
        return true;
    };
    let phase = {
        let c = ctx.borrow();
        if let Some(ok) = c.header_filtered {
            return ok;
        }
        if c.buffering {
            // nginx: an HTTP/1.0 answer held for its length sends its head (and runs the
            // header filters) only when it ends (ngx_http_lua_send_http10_headers)
            return true;
        }
        c.phase
    };
    if !matches!(
        phase,
        Phase::ServerRewrite | Phase::Rewrite | Phase::Access | Phase::Content
    ) {
        return true;
    }
    let Some(vm) = vm_for(r) else {
        return true;
    };
    {
        let mut c = ctx.borrow_mut();
        c.header_filtered = Some(true);
        c.headers_sent = false;
        if c.status == 0 {
            // nginx: ngx_http_lua_send_header_if_needed sets 200.
            c.status = 200;
        }
        // headers-more's header filter runs before Lua's (engine/src/http/headers_more.rs).
        let c = &mut *c;
        crate::http::headers_more::list_filter(r, c.status, &mut c.headers);
    }
    use std::future::Future;
    // The header filter runs without a coroutine in nginx: it cannot yield, so its future
    // is ready at the first poll.
    let ok = {
        let mut fut = std::pin::pin!(vm::run(&vm, r, &h, Phase::HeaderFilter, MultiValue::new()));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(Outcome::Failed) => false,
            std::task::Poll::Ready(_) => true,
            std::task::Poll::Pending => false,
        }
    };
    let mut c = ctx.borrow_mut();
    c.phase = phase;
    c.headers_sent = true;
    // ngx.exit in the filter: the answer becomes that status's when the handler's ends
    // (nginx: ngx_http_filter_finalize_request; the handler's output goes nowhere).
    c.header_exit = c.exit.take().filter(|&code| code != NGX_OK);
    c.header_filtered = Some(ok);
    ok
}

/// ngx.exit(code) in header_filter_by_lua* (nginx: ngx_http_filter_finalize_request): a
/// clean answer with that status instead of the handler's.
async fn filter_exit(r: &mut Request, code: i64) -> Reply {
    // nginx: ngx_http_filter_finalize_request: a clean answer with that status.
    if code < 0 {
        let mut reply = Reply::status(500);
        reply.drop = true;
        return reply;
    }
    let code = u16::try_from(code).unwrap_or(500);
    let mut reply = Reply::status(code);
    if code < 300 {
        reply.body = Some(full(Vec::new()));
        reply.length = Some(0);
        return reply;
    }
    // nginx: the special response handler runs, error_page included; an error page's
    // answer comes through the header filters of its own location.
    let before = Arc::as_ptr(&r.loc);
    let reply = Box::pin(r.filter_finalize(reply)).await;
    if !std::ptr::eq(before, Arc::as_ptr(&r.loc)) && r.loc.lua_header_filter.is_some() {
        // (an internal redirect: the new location's filter runs afresh)
        vm::ctx_of(r).borrow_mut().header_filtered = None;
        return Box::pin(header_filter_lua(r, reply)).await;
    }
    reply
}

/// nginx: ngx_http_lua_header_filter.
async fn header_filter_lua(r: &mut Request, mut reply: Reply) -> Reply {
    let Some(h) = r.loc.lua_header_filter.clone() else {
        return reply;
    };
    let Some(vm) = vm_for(r) else {
        return reply;
    };
    let ctx = vm::ctx_of(r);
    let filtered = ctx.borrow().header_filtered;
    match filtered {
        // it ran when the handler sent its head
        Some(true) => {
            let exit = ctx.borrow_mut().header_exit.take();
            return match exit {
                Some(code) => filter_exit(r, code).await,
                None => reply,
            };
        }
        Some(false) => {
            let mut reply = Reply::status(500);
            reply.drop = true;
            return reply;
        }
        None => {}
    }
    {
        let mut c = ctx.borrow_mut();
        c.status = reply.status;
        c.headers_sent = false;
        c.eof = false;
        c.headers = reply
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
            .collect();
        if let Some(len) = reply.length {
            c.headers
                .push(("Content-Length".into(), len.to_string().into_bytes()));
        }
        if reply.default_type && !reply.headers.contains_key(hyper::header::CONTENT_TYPE) {
            if let Some(t) = &r.loc.default_type {
                c.headers.push(("Content-Type".into(), t.clone()));
            }
        }
    }
    let out = vm::run(&vm, r, &h, Phase::HeaderFilter, MultiValue::new()).await;
    if let Outcome::Failed = out {
        // nginx: the header filter returns NGX_ERROR: the connection closes unanswered.
        let mut reply = Reply::status(500);
        reply.drop = true;
        return reply;
    }
    let exit = ctx.borrow_mut().exit.take().filter(|&code| code != NGX_OK);
    if let Some(code) = exit {
        return filter_exit(r, code).await;
    }
    let mut c = ctx.borrow_mut();
    if c.status != reply.status
        && reply.body.is_none()
        && reply.file.is_none()
        && reply.status >= 300
        && reply.status != 304
    {
        // nginx has built the special response's page already: it keeps it under the new
        // status.
        let tokens = r
            .loc
            .server_tokens
            .unwrap_or(crate::http::lower::ServerTokens::On);
        if let Some(page) = crate::http::response::special_page(reply.status, tokens) {
            reply.length = Some(page.len() as u64);
            reply.body = Some(full(page));
            c.headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
            c.headers
                .push(("Content-Type".into(), b"text/html".to_vec()));
            c.headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("content-length"));
        }
    }
    reply.status = c.status;
    let mut headers = hyper::HeaderMap::new();
    for (name, value) in &c.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            // nginx sends a header's name as the filter spelled it (`ngx.header.match`)
            reply.names.note(name.as_bytes());
            headers.append(n, v);
        }
    }
    reply.length = headers
        .remove(hyper::header::CONTENT_LENGTH)
        .and_then(|cl| cl.to_str().ok().and_then(|v| v.parse().ok()));
    reply.default_type = reply.default_type && !headers.contains_key(hyper::header::CONTENT_TYPE);
    reply.headers = headers;
    reply
}
