//! ngx_http_mirror_module: `mirror`, `mirror_request_body`.

use parser::Directive;

use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_mirror_module",
    commands: &[
        cmd("mirror", Ctx::HTTP_MSL, Args::TAKE1, Set::Handler(mirror)),
        cmd(
            "mirror_request_body",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
    ],
};

/// One level's `mirror` state (nginx: `mlcf->mirror`: unset, off, or a list).
#[derive(Default, PartialEq)]
enum Mirror {
    #[default]
    Unset,
    Off,
    Uris,
}

/// nginx: ngx_http_mirror
fn mirror(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let state = cf.frame().get::<Mirror>();
    if d.args.first().is_some_and(|v| v == b"off") {
        if *state != Mirror::Unset {
            return Err(Some("is duplicate".into()));
        }
        *state = Mirror::Off;
        return Ok(());
    }
    if *state == Mirror::Off {
        return Err(Some("is duplicate".into()));
    }
    *state = Mirror::Uris;
    Ok(())
}

// ---- runtime: lowering and the precontent phase ----

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::http::lower::LocConf;
use crate::http::request::Request;
use crate::http::response::Reply;

/// Some level has `mirror`: request bodies are kept for it.
static USED: AtomicBool = AtomicBool::new(false);

pub(crate) fn used() -> bool {
    USED.load(Ordering::Relaxed)
}

/// Folds `mirror` and `mirror_request_body` into a level (nginx: ngx_http_mirror and the
/// flag slot; `mirror` URIs of one level add up).
pub(crate) fn lower(c: &mut LocConf, d: &Directive) {
    let arg = d.args.first().map(Vec::as_slice).unwrap_or_default();
    if d.name == b"mirror_request_body" {
        c.mirror_request_body = Some(arg.eq_ignore_ascii_case(b"on"));
        return;
    }
    if arg == b"off" {
        c.mirror = Some(None);
        return;
    }
    USED.store(true, Ordering::Relaxed);
    let mut list: Vec<Vec<u8>> = match c.mirror.take() {
        Some(Some(l)) => l.as_ref().clone(),
        _ => Vec::new(),
    };
    list.push(arg.to_vec());
    c.mirror = Some(Some(Arc::new(list)));
}

/// The background subrequests of one main request.
type Tasks = Vec<tokio::task::JoinHandle<()>>;

thread_local! {
    /// The background subrequests of main requests still running, by request (nginx:
    /// `r->main->count`: the main request is finalized, and logged, after them).
    static BACKGROUND: RefCell<HashMap<(u64, u64), Tasks>> =
        RefCell::new(HashMap::new());
}

thread_local! {
    /// Background subrequests running, by connection, and the connection's tasks waiting
    /// for them to end.
    static CONN_BG: crate::http::conn_wait::ConnWaits = Default::default();
}

/// Counts a background subrequest of connection `id` while it lives.
struct ConnBusy(u64);

impl ConnBusy {
    fn new(id: u64) -> ConnBusy {
        let _ = CONN_BG.try_with(|m| m.add(id, 1));
        ConnBusy(id)
    }
}

impl Drop for ConnBusy {
    fn drop(&mut self) {
        let _ = CONN_BG.try_with(|m| m.add(self.0, -1));
    }
}

/// Whether connection `id` must wait for background subrequests before it reads its next
/// request or closes (nginx: the request is finalized, its connection kept alive or closed,
/// only after its mirror subrequests); the task is woken when they end.
pub(crate) fn conn_wait(id: u64, cx: &mut std::task::Context<'_>) -> bool {
    if !used() {
        return false;
    }
    CONN_BG.try_with(|m| m.wait(id, cx)).unwrap_or(false)
}

/// The request body, read once for the whole request (nginx:
/// ngx_http_read_client_request_body); the proxy module and Lua find it read.
async fn read_body(r: &Request) -> Vec<u8> {
    let ctx = crate::http::lua::vm::ctx_of(r);
    let (done, incoming) = {
        let mut c = ctx.borrow_mut();
        (c.body.clone(), c.incoming.take())
    };
    let data = match (done, incoming) {
        (Some(d), _) => d,
        (None, Some(b)) => http_body_util::BodyExt::collect(b)
            .await
            .map(|b| b.to_bytes().to_vec())
            .unwrap_or_default(),
        (None, None) => Vec::new(),
    };
    ctx.borrow_mut().body = Some(data.clone());
    data
}

/// nginx: ngx_http_mirror_handler (precontent phase): one background subrequest per
/// `mirror` URI, with the request's arguments, method, headers and (with
/// `mirror_request_body on`, read first) body. The request goes on without waiting.
pub(crate) async fn handler(r: &mut Request) -> Option<Reply> {
    if r.sub != 0 {
        return None;
    }
    let uris = r.loc.mirror.clone().flatten()?;
    // They run as tasks of the worker's LocalSet.
    tokio::task::try_id()?;
    let with_body = r.loc.mirror_request_body != Some(false);
    let has_body = r.headers.contains_key(hyper::header::CONTENT_LENGTH)
        || r.headers.contains_key(hyper::header::TRANSFER_ENCODING);
    let body = if with_body && has_body {
        Some(read_body(r).await)
    } else {
        None
    };
    for uri in uris.iter() {
        let sub = crate::http::lua::subrequest::next_sub();
        let mut sr = r.subrequest(
            sub,
            uri.clone(),
            r.args.clone(),
            r.method.clone(),
            r.vars.clone(),
        );
        if body.is_none() {
            // nginx: the subrequest has no body; a chunked one has no length either.
            sr.headers.remove(hyper::header::TRANSFER_ENCODING);
        }
        crate::http::lua::vm::ctx_of(&sr).borrow_mut().body =
            Some(body.clone().unwrap_or_default());
        let busy = ConnBusy::new(r.conn.id);
        let task = tokio::task::spawn_local(async move {
            let _ = run_header_only(sr).await;
            drop(busy);
        });
        BACKGROUND.with(|b| {
            let mut b = b.borrow_mut();
            // Requests that ended without a log phase (a dropped connection) leave theirs.
            b.retain(|_, v| v.iter().any(|h| !h.is_finished()));
            b.entry((r.conn.id, r.conn.requests))
                .or_default()
                .push(task)
        });
    }
    None
}

/// Runs `fut` as a background subrequest of `r` (the cache's background update, file_cache.rs):
/// the connection's next request and the main request's log phase wait for it as for mirrors.
pub(crate) fn spawn_background(r: &Request, fut: impl std::future::Future<Output = ()> + 'static) {
    USED.store(true, Ordering::Relaxed);
    let busy = ConnBusy::new(r.conn.id);
    let task = tokio::task::spawn_local(async move {
        fut.await;
        drop(busy);
    });
    BACKGROUND.with(|b| {
        let mut b = b.borrow_mut();
        b.retain(|_, v| v.iter().any(|h| !h.is_finished()));
        b.entry((r.conn.id, r.conn.requests))
            .or_default()
            .push(task)
    });
}

/// The main request's background subrequests still running: its log phase waits for them.
pub(crate) fn background(r: &Request) -> Option<Tasks> {
    if !used() || r.sub != 0 {
        return None;
    }
    BACKGROUND
        .try_with(|b| b.borrow_mut().remove(&(r.conn.id, r.conn.requests)))
        .ok()
        .flatten()
}

/// Runs a header-only subrequest (nginx: `sr->header_only`): its phases, error pages and
/// header filters, its response body left unread; then, with `log_subrequest on`, its
/// access log line (nginx: ngx_http_log_request of a finalized subrequest).
pub(crate) async fn run_header_only(mut sr: Request) -> (Request, Reply) {
    let key = crate::http::lua::vm::key_of(&sr);
    let reply = sr.run_subrequest().await;
    let reply = crate::http::lua::header_filter(&mut sr, reply).await;
    sr.status = reply.status;
    sr.sent = Some(crate::http::log_phase::Sent {
        headers: reply
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect(),
        head_len: 0,
    });
    if sr.loc.log_subrequest == Some(true) {
        crate::http::access_log::log(&sr);
    }
    crate::http::lua::vm::drop_key(key);
    (sr, reply)
}
