//! ngx_http_stub_status_module: `stub_status` (an argument is accepted and ignored).

use crate::conf::{cmd, Args, Ctx, Module, Set};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_stub_status_module",
    // nginx: ngx_http_set_stub_status only installs the location's content handler.
    commands: &[cmd(
        "stub_status",
        Ctx::HTTP_SRV.or(Ctx::HTTP_LOC),
        Args::NOARGS.or(Args::TAKE1),
        Set::NoOp,
    )],
};

/// Variables this module defines.
pub(crate) const VARIABLES: &[&str] = &[
    "connections_active",
    "connections_reading",
    "connections_writing",
    "connections_waiting",
];

// ---- runtime: the process-wide counters and the handler ----

use std::sync::atomic::{AtomicU64, Ordering};

use crate::http::request::Request;
use crate::http::response::Reply;

/// nginx: ngx_stat_accepted, ngx_stat_handled, ngx_stat_active, ngx_stat_requests,
/// ngx_stat_reading, ngx_stat_writing.
pub(crate) static ACCEPTED: AtomicU64 = AtomicU64::new(0);
pub(crate) static HANDLED: AtomicU64 = AtomicU64::new(0);
pub(crate) static ACTIVE: AtomicU64 = AtomicU64::new(0);
pub(crate) static REQUESTS: AtomicU64 = AtomicU64::new(0);
pub(crate) static READING: AtomicU64 = AtomicU64::new(0);
pub(crate) static WRITING: AtomicU64 = AtomicU64::new(0);

/// An accepted connection: counted while it lives.
pub(crate) struct ConnGuard;

impl ConnGuard {
    pub(crate) fn new() -> ConnGuard {
        ACCEPTED.fetch_add(1, Ordering::Relaxed);
        HANDLED.fetch_add(1, Ordering::Relaxed);
        ACTIVE.fetch_add(1, Ordering::Relaxed);
        ConnGuard
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        ACTIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A request being processed (nginx counts it as writing until it is finalized).
pub(crate) struct RequestGuard;

impl RequestGuard {
    pub(crate) fn new() -> RequestGuard {
        REQUESTS.fetch_add(1, Ordering::Relaxed);
        WRITING.fetch_add(1, Ordering::Relaxed);
        RequestGuard
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        WRITING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The `$connections_*` values (nginx: ngx_http_stub_status_variable).
pub(crate) fn variable(name: &[u8]) -> Option<Vec<u8>> {
    let (active, reading, writing) = (
        ACTIVE.load(Ordering::Relaxed),
        READING.load(Ordering::Relaxed),
        WRITING.load(Ordering::Relaxed),
    );
    let v = match name {
        b"connections_active" => active,
        b"connections_reading" => reading,
        b"connections_writing" => writing,
        b"connections_waiting" => active.saturating_sub(reading + writing),
        _ => return None,
    };
    Some(v.to_string().into_bytes())
}

/// nginx: ngx_http_stub_status_handler.
pub(crate) fn handler(r: &Request) -> Reply {
    if !matches!(r.method, hyper::Method::GET | hyper::Method::HEAD) {
        return Reply::status(405);
    }
    let text = status_text(
        ACTIVE.load(Ordering::Relaxed),
        ACCEPTED.load(Ordering::Relaxed),
        HANDLED.load(Ordering::Relaxed),
        REQUESTS.load(Ordering::Relaxed),
        READING.load(Ordering::Relaxed),
        WRITING.load(Ordering::Relaxed),
    );
    let mut reply = Reply::status(200);
    reply.headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    reply.length = Some(text.len() as u64);
    reply.body = Some(crate::http::response::full(text));
    reply
}

/// The page, byte for byte.
fn status_text(ac: u64, ap: u64, hn: u64, rq: u64, rd: u64, wr: u64) -> String {
    let wa = ac.saturating_sub(rd + wr);
    format!(
        "Active connections: {ac} \nserver accepts handled requests\n {ap} {hn} {rq} \nReading: {rd} Writing: {wr} Waiting: {wa} \n"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn page_format() {
        assert_eq!(
            super::status_text(2, 10, 10, 31, 0, 1),
            "Active connections: 2 \nserver accepts handled requests\n 10 10 31 \nReading: 0 Writing: 1 Waiting: 1 \n"
        );
    }
}
