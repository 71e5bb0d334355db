//! ngx_http_addition_filter_module.

use parser::Directive;

use http_body_util::BodyExt;

use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};
use crate::http::gzip::types_slot;
use crate::http::request::Request;
use crate::http::response::{Body, Reply};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_addition_filter_module",
    commands: &[
        cmd(
            "add_before_body",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Str),
        ),
        cmd(
            "add_after_body",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Str),
        ),
        cmd(
            "addition_types",
            Ctx::HTTP_MSL,
            Args::ONEMORE,
            Set::Handler(addition_types),
        ),
    ],
};

fn addition_types(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    types_slot(cf, d, "addition_types")
}

// ---- runtime ----

/// `add_before_body`, `add_after_body`, `addition_types` (merged per field).
#[derive(Debug, Clone, Default)]
pub(crate) struct AddConf {
    pub(crate) before: Option<Vec<u8>>,
    pub(crate) after: Option<Vec<u8>>,
    pub(crate) types: Option<std::sync::Arc<crate::http::gzip::TypeList>>,
}

/// nginx: ngx_http_addition_merge_conf.
pub(crate) fn merge(c: &mut AddConf, p: &AddConf) {
    if c.before.is_none() {
        c.before = p.before.clone();
    }
    if c.after.is_none() {
        c.after = p.after.clone();
    }
    if c.types.is_none() {
        c.types = p.types.clone();
    }
}

/// Folds the addition directives into a level.
pub(crate) fn lower(c: &mut crate::http::lower::LocConf, d: &Directive) -> bool {
    let a = d.args.first().cloned().unwrap_or_default();
    match d.name.as_slice() {
        b"add_before_body" => c.addition.before = Some(a),
        b"add_after_body" => c.addition.after = Some(a),
        b"addition_types" => {
            c.addition.types = Some(std::sync::Arc::new(crate::http::gzip::TypeList::from_args(
                &d.args,
            )))
        }
        _ => return false,
    }
    true
}

/// nginx: ngx_http_addition_header_filter and ngx_http_addition_body_filter: a main
/// request's 200 of a listed type (`addition_types`, default text/html) gets the bodies of
/// the `add_before_body` / `add_after_body` subrequests around its own; its length and
/// Accept-Ranges go, its ETag becomes weak. A HEAD answer (nginx: `header_only`, the body
/// filter is skipped) gets the header changes only.
///
/// Runs between the content phase's reply and `response::build` (engine/src/worker.rs).
/// Both subrequests run here, before the main body is sent (nginx starts the second one
/// when the main body ended): the bytes sent are the same. Their bodies go into
/// the request (see [`around`]), and response::build puts them around the main body after
/// the sub filter and before gzip, where nginx's postpone filter joins them.
pub(crate) async fn filter(r: &Request, mut reply: Reply) -> Reply {
    let conf = &r.loc.addition;
    let before_uri = conf.before.as_ref().filter(|u| !u.is_empty());
    let after_uri = conf.after.as_ref().filter(|u| !u.is_empty());
    if r.sub != 0 || reply.status != 200 || (before_uri.is_none() && after_uri.is_none()) {
        return reply;
    }
    let ct: Vec<u8> = match reply.headers.get(hyper::header::CONTENT_TYPE) {
        Some(v) => v.as_bytes().to_vec(),
        None if reply.default_type => r.loc.default_type.clone().unwrap_or(b"text/plain".to_vec()),
        None => return reply,
    };
    let matches = match &conf.types {
        Some(t) => t.matches(&ct),
        None => crate::http::gzip::TypeList::of(&["text/html"]).matches(&ct),
    };
    if !matches {
        return reply;
    }
    reply.length = None;
    reply.allow_ranges = false;
    reply.headers.remove(hyper::header::ACCEPT_RANGES);
    weak_etag(&mut reply.headers);
    if r.method == hyper::Method::HEAD {
        return reply;
    }
    let mut before = Vec::new();
    if let Some(uri) = before_uri {
        before = sub_body(r, uri).await;
    }
    let mut after = Vec::new();
    if let Some(uri) = after_uri {
        after = sub_body(r, uri).await;
    }
    r.lazy.borrow_mut().insert(BEFORE.to_vec(), Some(before));
    r.lazy.borrow_mut().insert(AFTER.to_vec(), Some(after));
    reply
}

/// A GET subrequest's body, its error page included (nginx: ngx_http_subrequest with the
/// URI as written, no arguments; its output goes into the parent's).
async fn sub_body(r: &Request, uri: &[u8]) -> Vec<u8> {
    crate::http::lua::subrequest::echo_sub(r, hyper::Method::GET, uri.to_vec(), Vec::new(), None)
        .await
}

/// nginx: ngx_http_weak_etag on a reply's headers.
fn weak_etag(h: &mut hyper::HeaderMap) {
    let Some(v) = h.get(hyper::header::ETAG).map(|v| v.as_bytes().to_vec()) else {
        return;
    };
    if v.len() > 2 && v.starts_with(b"W/") {
        return;
    }
    if !v.starts_with(b"\"") {
        h.remove(hyper::header::ETAG);
        return;
    }
    match hyper::header::HeaderValue::from_bytes(&[b"W/".as_slice(), &v].concat()) {
        Ok(w) => {
            h.insert(hyper::header::ETAG, w);
        }
        Err(_) => {
            h.remove(hyper::header::ETAG);
        }
    }
}

/// Where [`filter`] leaves the subrequests' bodies for [`around`] (names no variable can
/// have).
const BEFORE: &[u8] = b" addition before";
const AFTER: &[u8] = b" addition after";

/// The main body between the subrequests' bodies, when [`filter`] ran them
/// (response::build, after the sub filter and before gzip).
pub(crate) fn around(r: &Request, main: Body) -> Result<Body, Body> {
    if r.loc.addition.before.is_none() && r.loc.addition.after.is_none() {
        return Err(main);
    }
    let (before, after) = {
        let mut lazy = r.lazy.borrow_mut();
        match (lazy.remove(BEFORE), lazy.remove(AFTER)) {
            (Some(Some(b)), Some(Some(a))) => (b, a),
            _ => return Err(main),
        }
    };
    let mut parts = std::collections::VecDeque::with_capacity(3);
    if !before.is_empty() {
        parts.push_back(crate::http::response::full(before));
    }
    parts.push_back(main);
    if !after.is_empty() {
        parts.push_back(crate::http::response::full(after));
    }
    Ok(Chain { parts }.boxed())
}

/// Bodies sent one after another.
struct Chain {
    parts: std::collections::VecDeque<Body>,
}

impl hyper::body::Body for Chain {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, std::io::Error>>> {
        use std::task::Poll;
        loop {
            let Some(first) = self.parts.front_mut() else {
                return Poll::Ready(None);
            };
            match std::pin::Pin::new(first).poll_frame(cx) {
                Poll::Ready(None) => {
                    self.parts.pop_front();
                }
                Poll::Ready(Some(Ok(f))) if f.data_ref().is_some_and(|d| d.is_empty()) => {}
                other => return other,
            }
        }
    }
}
