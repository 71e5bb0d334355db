//! ngx_http_echo_module 0.63: `echo` and friends, content handler and body filter commands.
//!
//! Every command's arguments are compiled as scripts when they hold variables; the commands are
//! kept per location in order for the runtime.

use parser::Directive;

use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};
use crate::http::variables;

/// location, `if` in location.
const LOC_LIF: Ctx = Ctx::HTTP_LOC.or(Ctx::HTTP_LIF);

const fn echo_cmd(name: &'static str, args: Args) -> Command {
    cmd(name, LOC_LIF, args, Set::Handler(echo))
}

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_echo_module",
    commands: &[
        echo_cmd("echo", Args::ANY),
        echo_cmd("echo_request_body", Args::NOARGS),
        echo_cmd("echo_sleep", Args::TAKE1),
        echo_cmd("echo_flush", Args::NOARGS),
        echo_cmd("echo_blocking_sleep", Args::TAKE1),
        echo_cmd("echo_reset_timer", Args::NOARGS),
        echo_cmd("echo_before_body", Args::ANY),
        echo_cmd("echo_after_body", Args::ANY),
        echo_cmd("echo_location_async", Args::TAKE12),
        echo_cmd("echo_location", Args::TAKE12),
        echo_cmd("echo_subrequest_async", Args::TWOMORE),
        echo_cmd("echo_subrequest", Args::TWOMORE),
        echo_cmd("echo_duplicate", Args::TWOMORE),
        echo_cmd("echo_read_request_body", Args::NOARGS),
        echo_cmd("echo_foreach_split", Args::TWOMORE),
        echo_cmd("echo_end", Args::NOARGS),
        echo_cmd("echo_abort_parent", Args::NOARGS),
        echo_cmd("echo_exec", Args::TAKE12),
        cmd("echo_status", LOC_LIF, Args::TAKE1, Set::Slot(Slot::Num)),
    ],
};

/// Variables the module defines (nginx: ngx_http_echo_variables).
#[allow(dead_code)] // to be wired into crate::http::variables
pub(crate) const VARIABLES: &[&str] = &[
    "echo_timer_elapsed",
    "echo_request_method",
    "echo_cacheable_request_uri",
    "echo_request_uri",
    "echo_client_request_method",
    "echo_request_body",
    "echo_client_request_headers",
    "echo_it",
    "echo_incr",
    "echo_response_status",
];

/// One echo command: its name and raw arguments, in configuration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EchoCmd {
    pub(crate) name: Vec<u8>,
    pub(crate) args: Vec<Vec<u8>>,
}

/// A location's echo commands (nginx: ngx_http_echo_loc_conf_t).
#[derive(Default, Debug)]
pub(crate) struct EchoLoc {
    /// Content handler commands (`echo`, `echo_location`...).
    pub(crate) handler_cmds: Vec<EchoCmd>,
    /// `echo_before_body`.
    pub(crate) before_body_cmds: Vec<EchoCmd>,
    /// `echo_after_body`.
    pub(crate) after_body_cmds: Vec<EchoCmd>,
}

/// nginx: ngx_http_echo_helper (every command's setter goes through it).
fn echo(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    for arg in &d.args {
        if variables::script_variables_count(arg) > 0 {
            variables::compile_complex_value(cf, arg)?;
        }
    }
    let c = EchoCmd {
        name: d.name.clone(),
        args: d.args.clone(),
    };
    let conf = cf.frame().get::<EchoLoc>();
    match d.name.as_slice() {
        b"echo_before_body" => conf.before_body_cmds.push(c),
        b"echo_after_body" => conf.after_body_cmds.push(c),
        _ => conf.handler_cmds.push(c),
    }
    Ok(())
}

// ---- run time -------------------------------------------------------------------------------

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;

use crate::http::lower::LocConf;
use crate::http::request::Request;
use crate::http::response::{Body, Reply};
use crate::http::variables::ComplexValue;

/// A lowered echo command: its name and compiled arguments.
#[derive(Debug, Clone)]
pub(crate) struct EchoRun {
    pub(crate) name: Vec<u8>,
    /// Raw arguments (options are recognised on the raw text, as the module does).
    pub(crate) raw: Vec<Vec<u8>>,
    pub(crate) args: Vec<ComplexValue>,
}

/// Keys of the per-request echo state in `Request::vars` (a NUL cannot start a variable name).
const TIMER_KEY: &[u8] = b"\0echo_timer";
const BODY_KEY: &[u8] = b"\0echo_body";
const INCR_KEY: &[u8] = b"\0echo_incr";

/// Folds an echo directive into the level's conf; `false` when `d` is not one.
pub(crate) fn lower(c: &mut LocConf, d: &Directive) -> bool {
    let name = d.name.as_slice();
    if !MODULE.commands.iter().any(|m| m.name.as_bytes() == name) {
        return false;
    }
    if name == b"echo_status" {
        c.echo_status = d
            .args
            .first()
            .and_then(|a| std::str::from_utf8(a).ok())
            .and_then(|a| a.parse().ok());
        return true;
    }
    let run = EchoRun {
        name: d.name.clone(),
        raw: d.args.clone(),
        args: d
            .args
            .iter()
            .map(|a| variables::parse_complex_value(a).unwrap_or_default())
            .collect(),
    };
    match name {
        b"echo_before_body" => {
            Arc::make_mut(c.echo_before.get_or_insert_with(Default::default)).push(run)
        }
        b"echo_after_body" => {
            Arc::make_mut(c.echo_after.get_or_insert_with(Default::default)).push(run)
        }
        _ => c.echo_handler.push(run),
    }
    true
}

/// nginx: ngx_http_echo_eval_cmd_args: leading `-x` arguments are options (`--` ends them).
fn eval_args(r: &Request, cmd: &EchoRun) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut opts = Vec::new();
    let mut out = Vec::new();
    let mut expecting = true;
    for (raw, cv) in cmd.raw.iter().zip(&cmd.args) {
        if expecting {
            if raw.len() <= 1 || raw[0] != b'-' {
                expecting = false;
            } else if raw == b"--" {
                expecting = false;
                continue;
            } else {
                opts.push(raw[1..].to_vec());
                continue;
            }
        }
        out.push(r.eval(cv));
    }
    (opts, out)
}

/// nginx: ngx_http_echo_exec_echo: the arguments joined by spaces, a newline unless `-n`.
fn echo_text(opts: &[Vec<u8>], args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = args.join(&b' ');
    if !opts.iter().any(|o| o == b"n") {
        out.push(b'\n');
    }
    out
}

/// nginx: ngx_http_set_content_type (the URI's extension, else `default_type`).
fn content_type(r: &Request) -> Vec<u8> {
    let name = r.uri.rsplit(|&c| c == b'/').next().unwrap_or(&r.uri);
    if let Some(dot) = name.iter().rposition(|&c| c == b'.') {
        let ext = name[dot + 1..].to_ascii_lowercase();
        if let Some(t) = r.loc.types.as_ref().and_then(|t| t.get(&ext)) {
            return t.clone();
        }
    }
    r.loc
        .default_type
        .clone()
        .unwrap_or_else(|| b"text/plain".to_vec())
}

/// The location's echo content commands (an `if` block's conf, else the location's).
fn handler_cmds(r: &Request) -> Option<Vec<EchoRun>> {
    if !r.loc.echo_handler.is_empty() {
        return Some(r.loc.echo_handler.clone());
    }
    let l = r.location.as_ref()?;
    (!l.conf.echo_handler.is_empty()).then(|| l.conf.echo_handler.clone())
}

/// The request body read so far: Lua's view of it when Lua is in use (ngx.req.set_body_data
/// may have replaced it), else what echo_read_request_body read.
fn request_body(r: &Request) -> Option<Vec<u8>> {
    if crate::http::lua::used() {
        let ctx = crate::http::lua::vm::ctx_of(r);
        let body = ctx.try_borrow().ok().and_then(|c| c.body.clone());
        if let Some(b) = body {
            return Some(b);
        }
    }
    r.vars.get(BODY_KEY).cloned()
}

/// Reads the request body once (kept for `$echo_request_body`).
async fn read_body(r: &mut Request) {
    if r.vars.contains_key(BODY_KEY) {
        return;
    }
    // The body is kept in the Lua request context (engine/src/http/lua/phases.rs stash_body,
    // only when the configuration uses Lua); a body ngx.req.read_body read is reused.
    let ctx = crate::http::lua::vm::ctx_of(r);
    let (done, incoming) = {
        let mut c = ctx.borrow_mut();
        (c.body.clone(), c.incoming.take())
    };
    let mut data = match (done, incoming) {
        (Some(d), _) => d,
        (None, Some(b)) => b
            .collect()
            .await
            .map(|b| b.to_bytes().to_vec())
            .unwrap_or_default(),
        (None, None) => Vec::new(),
    };
    // nginx reads `Content-Length` bytes: a rewritten, smaller length cuts the body
    // (lua-nginx-module t/028-req-header.t "rewrite content length").
    let len = r
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if let Some(n) = len {
        data.truncate(n);
    }
    ctx.borrow_mut().body = Some(data.clone());
    r.vars.insert(BODY_KEY.to_vec(), data);
}

fn seconds(s: &[u8]) -> Option<f64> {
    let v: f64 = std::str::from_utf8(s).ok()?.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v)
}

/// nginx: ngx_http_echo_handler and ngx_http_echo_run_cmds: `None` when the location has no
/// echo content commands.
pub(crate) async fn content(r: &mut Request) -> Option<Reply> {
    let cmds = handler_cmds(r)?;
    // One piece per command's output: the reference sends each as its own chunk.
    let mut body: Vec<Bytes> = Vec::new();
    let mut push = |b: Vec<u8>| {
        if !b.is_empty() {
            body.push(Bytes::from(b));
        }
    };
    for cmd in &cmds {
        let (opts, args) = eval_args(r, cmd);
        match cmd.name.as_slice() {
            b"echo" => push(echo_text(&opts, &args)),
            b"echo_duplicate" => {
                let n = args
                    .first()
                    .and_then(|a| std::str::from_utf8(a).ok())
                    .and_then(|a| a.trim().parse::<usize>().ok());
                let Some(n) = n else {
                    crate::http::errlog::request_error(
                        r,
                        &format!(
                            "invalid size specified: \"{}\"",
                            String::from_utf8_lossy(args.first().map_or(&[][..], |a| a))
                        ),
                    );
                    return Some(Reply::status(500));
                };
                let s = args.get(1).map_or(&[][..], |a| a);
                push(s.repeat(n.min(64 << 20)));
            }
            b"echo_end" => break,
            b"echo_flush" => {}
            b"echo_sleep" | b"echo_blocking_sleep" => {
                let Some(secs) = args.first().and_then(|a| seconds(a)) else {
                    crate::http::errlog::request_error(
                        r,
                        &format!(
                            "invalid sleep duration \"{}\"",
                            String::from_utf8_lossy(args.first().map_or(&[][..], |a| a))
                        ),
                    );
                    return Some(Reply::status(500));
                };
                tokio::time::sleep(std::time::Duration::from_secs_f64(secs.min(86400.0))).await;
            }
            b"echo_reset_timer" => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis());
                r.vars
                    .insert(TIMER_KEY.to_vec(), now.to_string().into_bytes());
            }
            b"echo_read_request_body" => read_body(r).await,
            b"echo_request_body" => {
                if let Some(b) = request_body(r) {
                    push(b);
                }
            }
            b"echo_exec" => {
                let uri = args.first().cloned().unwrap_or_default();
                if uri.starts_with(b"@") {
                    return Some(Box::pin(r.named_location(&uri)).await);
                }
                let (path, mut qs) = match uri.iter().position(|&c| c == b'?') {
                    Some(i) => (uri[..i].to_vec(), Some(uri[i + 1..].to_vec())),
                    None => (uri, None),
                };
                if let Some(a) = args.get(1) {
                    qs = Some(a.clone());
                }
                return Some(Box::pin(r.internal_redirect(path, qs)).await);
            }
            b"echo_abort_parent" => {}
            b"echo_location" | b"echo_location_async" => {
                let uri = args.first().cloned().unwrap_or_default();
                let (path, mut qs) = match uri.iter().position(|&c| c == b'?') {
                    Some(i) => (uri[..i].to_vec(), uri[i + 1..].to_vec()),
                    None => (uri, Vec::new()),
                };
                if let Some(a) = args.get(1) {
                    qs = a.clone();
                }
                let out =
                    crate::http::lua::subrequest::echo_sub(r, hyper::Method::GET, path, qs, None)
                        .await;
                push(out);
            }
            b"echo_subrequest" | b"echo_subrequest_async" => {
                // echo_subrequest METHOD URI [-q ARGS] [-b BODY] [-f FILE]
                let method = args
                    .first()
                    .and_then(|m| hyper::Method::from_bytes(&m.to_ascii_uppercase()).ok())
                    .unwrap_or(hyper::Method::GET);
                let uri = args.get(1).cloned().unwrap_or_default();
                let (path, mut qs) = match uri.iter().position(|&c| c == b'?') {
                    Some(i) => (uri[..i].to_vec(), uri[i + 1..].to_vec()),
                    None => (uri, Vec::new()),
                };
                let mut body = None;
                let mut i = 2;
                while i + 1 < args.len() {
                    match args[i].as_slice() {
                        b"-q" => qs = args[i + 1].clone(),
                        b"-b" => body = Some(args[i + 1].clone()),
                        b"-f" => {
                            let p = crate::cycle::full_name(&r.http.prefix, &args[i + 1]);
                            body = std::fs::read(p).ok();
                        }
                        _ => {}
                    }
                    i += 2;
                }
                let out = crate::http::lua::subrequest::echo_sub(r, method, path, qs, body).await;
                push(out);
            }
            other => {
                crate::http::errlog::request_error(
                    r,
                    &format!(
                        "{} is not supported yet by oxresty",
                        String::from_utf8_lossy(other)
                    ),
                );
                return Some(Reply::status(500));
            }
        }
    }
    let status = r.loc.echo_status.unwrap_or(200);
    let mut reply = Reply::status(status);
    if let Ok(v) = hyper::header::HeaderValue::from_bytes(&content_type(r)) {
        reply.headers.insert(hyper::header::CONTENT_TYPE, v);
    }
    reply.body = Some(
        Pieces {
            pieces: body.into(),
        }
        .boxed(),
    );
    Some(reply)
}

/// The `$echo_*` variables (nginx: ngx_http_echo_variables); `None` for other names.
pub(crate) fn variable(r: &Request, name: &[u8]) -> Option<Vec<u8>> {
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    };
    Some(match name {
        b"echo_timer_elapsed" => {
            let start = r
                .vars
                .get(TIMER_KEY)
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.parse::<u128>().ok())
                .unwrap_or_else(|| {
                    r.start
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis())
                });
            let ms = now_ms().saturating_sub(start);
            format!("{}.{:03}", ms / 1000, ms % 1000).into_bytes()
        }
        b"echo_request_method" | b"echo_client_request_method" => {
            r.method.as_str().as_bytes().to_vec()
        }
        // The reference answers `/e` for `GET /e?q=1`: the URI without its arguments.
        b"echo_request_uri" | b"echo_cacheable_request_uri" => r.uri.clone(),
        b"echo_request_body" => request_body(r)?,
        // nginx: the header buffer as received, lines it ignored included (kept when Lua is
        // in use; otherwise rebuilt from the lines).
        b"echo_client_request_headers" if r.raw_head.is_some() => {
            r.raw_head.as_ref().map(|h| h.to_vec()).unwrap_or_default()
        }
        b"echo_client_request_headers" => {
            let mut out = crate::http::vars_runtime::request_line(r);
            out.extend_from_slice(b"\r\n");
            // nginx: the header buffer as received (names' case and order kept).
            for (n, v) in r.headers.lines() {
                out.extend_from_slice(n);
                out.extend_from_slice(b": ");
                out.extend_from_slice(v);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"\r\n");
            out
        }
        b"echo_incr" => {
            // nginx: a counter per main request; a shared reference cannot bump it, so it
            // reads as 1 here.
            r.vars
                .get(INCR_KEY)
                .cloned()
                .unwrap_or_else(|| b"1".to_vec())
        }
        // Not found until a status was sent (the reference interpolates it as empty).
        b"echo_response_status" if r.status == 0 => return None,
        b"echo_response_status" => r.status.to_string().into_bytes(),
        _ => return None,
    })
}

/// The `echo_before_body` and `echo_after_body` texts of the location (nginx:
/// ngx_http_echo_header_filter / ngx_http_echo_body_filter); `None` without them.
pub(crate) fn filter_texts(r: &Request) -> Option<(Vec<u8>, Vec<u8>)> {
    if r.loc.echo_before.is_none() && r.loc.echo_after.is_none() {
        return None;
    }
    let run = |cmds: &Option<Arc<Vec<EchoRun>>>| {
        let mut out = Vec::new();
        for cmd in cmds.iter().flat_map(|c| c.iter()) {
            let (opts, args) = eval_args(r, cmd);
            out.extend(echo_text(&opts, &args));
        }
        out
    };
    Some((run(&r.loc.echo_before), run(&r.loc.echo_after)))
}

/// A body with text before and after it.
pub(crate) fn wrap(body: Body, before: Vec<u8>, after: Vec<u8>) -> Body {
    Wrapped {
        before: (!before.is_empty()).then(|| Bytes::from(before)),
        inner: Some(body),
        after: (!after.is_empty()).then(|| Bytes::from(after)),
    }
    .boxed()
}

/// A body sent as these pieces, one chunk each.
struct Pieces {
    pieces: std::collections::VecDeque<Bytes>,
}

impl hyper::body::Body for Pieces {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(
            self.pieces
                .pop_front()
                .map(|b| Ok(hyper::body::Frame::data(b))),
        )
    }
}

struct Wrapped {
    before: Option<Bytes>,
    inner: Option<Body>,
    after: Option<Bytes>,
}

impl hyper::body::Body for Wrapped {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        if let Some(b) = self.before.take() {
            return Poll::Ready(Some(Ok(hyper::body::Frame::data(b))));
        }
        if let Some(inner) = self.inner.as_mut() {
            match Pin::new(inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(f))) if f.is_data() => return Poll::Ready(Some(Ok(f))),
                Poll::Ready(Some(Ok(_))) => {
                    // Trailers are dropped: the after-body text follows the data.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => self.inner = None,
            }
        }
        match self.after.take() {
            Some(a) => Poll::Ready(Some(Ok(hyper::body::Frame::data(a)))),
            None => Poll::Ready(None),
        }
    }
}
