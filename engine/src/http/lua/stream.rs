//! Streamed output of `content_by_lua*` (nginx: the handler's output calls go through the
//! output filters as they are made, ngx_http_lua_send_chain_link, and the write filter sends
//! them once `postpone_output` bytes wait or a flush asks, ngx_http_write_filter).
//!
//! The content handler's coroutine first runs inside the content phase (phases.rs). When it
//! waits with output nginx would have sent by then (`ngx.flush`, `ngx.eof`, more than
//! `postpone_output` bytes), the content phase answers with the head and a [`LuaBody`], and a
//! task of the worker ([`drive`]) polls the coroutine on: its output calls append to the
//! request's Lua context (`out`, `out_marks`, `flush_marks`), the task hands that on
//! (through `body_filter_by_lua*`) to the body, and the connection takes it from there.
//!
//! The coroutine keeps the request's address: the worker keeps the request boxed, the task
//! polls the coroutine only once the log phase's body holds that box ([`settled`]), and the
//! log phase waits for the handler's end ([`running`]).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

use super::directives::LuaHandler;
use super::vm::{self, Outcome, Phase, ReqCtx, SharedCtx};
use crate::http::request::Request;

/// nginx: `postpone_output 1460` (the default; the directive is not lowered).
pub(crate) const POSTPONE_OUTPUT: usize = 1460;

/// The state the handler's side and the connection's side share.
pub(crate) type Stream = Arc<Mutex<State>>;

/// One output piece, or a flush of what came before it.
enum Item {
    Data(Bytes),
    Flush(u64),
}

/// See [`Stream`].
#[derive(Default)]
pub(crate) struct State {
    /// Handed to the connection's side, not taken yet.
    queue: VecDeque<Item>,
    /// Produced, held back until `postpone_output` bytes wait or a flush comes.
    held: Vec<Item>,
    held_size: usize,
    /// The body ends after the queue (the handler ended, or called `ngx.eof`).
    done: bool,
    /// The body fails after the queue: the connection closes without the body's end.
    failed: bool,
    /// The number of the last flush the connection took.
    flushed: u64,
    body_waker: Option<Waker>,
    flush_wakers: Vec<Waker>,
    /// The body was dropped: the response ended, or the client went away.
    gone: bool,
    /// The stream began: the head went to the connection.
    started: bool,
    /// The request's address when the stream began.
    req: usize,
    /// Whether the log phase's body holds the request at that address (`None`: not yet).
    settled: Option<bool>,
    task_waker: Option<Waker>,
    /// The handler ended: the log phase may run.
    handler_done: bool,
    done_wakers: Vec<Waker>,
    /// Chunked encoding: each piece costs its framing (the write filter counts it).
    chunked: bool,
    /// The phase of the streaming handler (content, or rewrite/access: nginx sends their
    /// output as it is made too).
    phase: Option<Phase>,
    /// The connection's `send_timeout` passed while the handler ran (nginx: c->timedout).
    timed_out: bool,
    /// The connection the request came on (it waits for the handler's end).
    conn: Option<u64>,
}

pub(crate) fn new() -> Stream {
    Arc::new(Mutex::new(State::default()))
}

fn lock(s: &Stream) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Marks the stream as begun by the handler of `phase` for the request at `req`; `held` is
/// the head's size (counted by the write filter's postpone test).
pub(crate) fn begin(s: &Stream, req: *const Request, chunked: bool, held: usize, phase: Phase) {
    let mut st = lock(s);
    st.started = true;
    st.req = req as usize;
    st.chunked = chunked;
    st.held_size = held;
    st.phase = Some(phase);
    // SAFETY: `req` is the live request the caller holds.
    let id = unsafe { (*req).conn.id };
    st.conn = Some(id);
    conn_busy(id, 1);
}

/// Whether the head of a streamed answer went out.
pub(crate) fn started(s: &Stream) -> bool {
    lock(s).started
}

/// The head's size on the wire, as the write filter counts it before the first send: the
/// status line, Server, Date, the handler's headers, the framing header, Connection.
pub(crate) fn head_estimate(r: &Request, c: &ReqCtx, chunked: bool) -> usize {
    let status = if c.status == 0 { 200 } else { c.status };
    let reason = hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map_or(0, str::len);
    let close = r.version == hyper::Version::HTTP_10
        || r.headers
            .get(hyper::header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    let connection = if close {
        "Connection: close\r\n".len()
    } else {
        "Connection: keep-alive\r\n".len()
    };
    let mut n = "HTTP/1.1 200 \r\n".len()
        + reason
        + "Server: nginx/1.22.1\r\n".len()
        + "Date: Sun, 29 Nov 2026 00:00:00 GMT\r\n".len()
        + connection
        + 2;
    for (name, value) in &c.headers {
        n += name.len() + 4 + value.len();
    }
    if chunked {
        n += "Transfer-Encoding: chunked\r\n".len();
    }
    n
}

/// The framing a chunk of `n` bytes costs: its size in hex, CRLF after it and after the data.
fn framing(n: usize) -> usize {
    let hex = (usize::BITS - n.leading_zeros()).div_ceil(4) as usize;
    hex.max(1) + 4
}

/// What the handler's output waiting in the context would count for the postpone test.
pub(crate) fn pending_size(c: &ReqCtx, chunked: bool) -> usize {
    let mut n = c.out.len();
    if chunked {
        let mut from = 0;
        for &end in &c.out_marks {
            n += framing(end.saturating_sub(from));
            from = end;
        }
    }
    n
}

/// The client went away while the body was being sent (nginx: the write failed, and the
/// output calls fail from then on).
pub(crate) fn broken(s: &Stream) -> bool {
    let st = lock(s);
    st.gone && !st.done
}

/// Waits until the connection took flush `seq` (nginx: ngx.flush(true) waits until the
/// connection's buffers are written); the error when the connection went away or
/// `send_timeout` passed (nginx: "timeout", c->timedout).
pub(crate) async fn flushed(s: Stream, seq: u64) -> Result<(), &'static str> {
    std::future::poll_fn(|cx| {
        let mut st = lock(&s);
        if st.timed_out {
            return Poll::Ready(Err("timeout"));
        }
        if st.flushed >= seq {
            return Poll::Ready(Ok(()));
        }
        if st.gone && !st.done {
            return Poll::Ready(Err("nginx output filter error"));
        }
        if st.failed || st.done {
            return Poll::Ready(Ok(()));
        }
        st.flush_wakers.push(cx.waker().clone());
        Poll::Pending
    })
    .await
}

/// The body the connection reads: what the handler produced, as it is released.
pub(crate) struct LuaBody {
    s: Stream,
    errored: bool,
}

impl LuaBody {
    pub(crate) fn new(s: Stream) -> LuaBody {
        LuaBody { s, errored: false }
    }
}

impl hyper::body::Body for LuaBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        if self.errored {
            return Poll::Ready(None);
        }
        let s = self.s.clone();
        let mut st = lock(&s);
        loop {
            match st.queue.pop_front() {
                Some(Item::Data(b)) => return Poll::Ready(Some(Ok(hyper::body::Frame::data(b)))),
                Some(Item::Flush(seq)) => {
                    st.flushed = st.flushed.max(seq);
                    for w in st.flush_wakers.drain(..) {
                        w.wake();
                    }
                }
                None => break,
            }
        }
        if st.failed {
            drop(st);
            self.errored = true;
            // nginx closes the connection: the body is cut (no last chunk).
            return Poll::Ready(Some(Err(std::io::Error::other(
                "the Lua handler failed after the headers were sent",
            ))));
        }
        if st.done {
            return Poll::Ready(None);
        }
        st.body_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        let st = lock(&self.s);
        st.done && !st.failed && st.queue.is_empty()
    }
}

impl Drop for LuaBody {
    fn drop(&mut self) {
        let mut st = lock(&self.s);
        st.gone = true;
        for w in st.flush_wakers.drain(..) {
            w.wake();
        }
        if let Some(w) = st.task_waker.take() {
            w.wake();
        }
    }
}

/// The log phase's body holds the request now (nginx has no such step: its request never
/// moves): the streaming task may poll the handler on, if the request is where it began.
pub(crate) fn settled(r: &Request) {
    let Some(s) = stream_of(r) else {
        return;
    };
    let mut st = lock(&s);
    if st.started && st.settled.is_none() {
        st.settled = Some(st.req == r as *const Request as usize);
        if let Some(w) = st.task_waker.take() {
            w.wake();
        }
    }
}

fn stream_of(r: &Request) -> Option<Stream> {
    if !super::used() {
        return None;
    }
    let ctx = vm::find_ctx(vm::key_of(r))?;
    let c = ctx.try_borrow().ok()?;
    c.stream.clone()
}

/// While the streamed handler still runs (after `ngx.eof`, or the client went away): a
/// future that ends with it. The log phase waits for it (nginx finalizes the request when
/// the handler ends).
pub(crate) fn running(r: &Request) -> Option<impl Future<Output = ()>> {
    let s = stream_of(r)?;
    {
        let st = lock(&s);
        if !st.started || st.handler_done || st.settled != Some(true) {
            return None;
        }
    }
    Some(std::future::poll_fn(move |cx| {
        let mut st = lock(&s);
        if st.handler_done {
            return Poll::Ready(());
        }
        st.done_wakers.push(cx.waker().clone());
        Poll::Pending
    }))
}

/// Takes the output pieces and flushes the handler made since the last call, in order.
fn take_items(c: &mut ReqCtx) -> Vec<Item> {
    let out = Bytes::from(std::mem::take(&mut c.out));
    let marks = std::mem::take(&mut c.out_marks);
    let flushes = std::mem::take(&mut c.flush_marks);
    let mut items = Vec::with_capacity(marks.len() + flushes.len() + 1);
    let mut flushes = flushes.into_iter().peekable();
    let mut from = 0;
    for (i, end) in marks.into_iter().enumerate() {
        while let Some((_, seq)) = flushes.next_if(|&(at, _)| at <= i) {
            items.push(Item::Flush(seq));
        }
        let end = end.min(out.len());
        if end > from {
            items.push(Item::Data(out.slice(from..end)));
            from = end;
        }
    }
    if from < out.len() {
        items.push(Item::Data(out.slice(from..)));
    }
    items.extend(flushes.map(|(_, seq)| Item::Flush(seq)));
    items
}

/// Whether the handler made output or flushed since the last [`pump`].
fn has_output(ctx: &SharedCtx, s: &Stream) -> bool {
    let Ok(c) = ctx.try_borrow() else {
        return false;
    };
    !c.out_marks.is_empty()
        || !c.out.is_empty()
        || !c.flush_marks.is_empty()
        || (c.eof && !lock(s).done)
}

/// Hands the handler's new output on: through `body_filter_by_lua*`, then held or released
/// as the write filter would (`end`: the body ends after it).
async fn pump(rp: *mut Request, ctx: &SharedCtx, s: &Stream, end: bool, phase: Phase) {
    let (items, end) = {
        let mut c = ctx.borrow_mut();
        (take_items(&mut c), end || c.eof)
    };
    if lock(s).done {
        return;
    }
    // SAFETY: the request is boxed by the worker and held by the log phase's body, which
    // waits for this task's end ([`running`]); the handler's coroutine is not polled while
    // this reference is used.
    let r = unsafe { &mut *rp };
    let items = match r.loc.lua_body_filter.clone() {
        Some(h) => {
            let mut filtered = Vec::with_capacity(items.len() + 1);
            let mut failed = false;
            for item in items {
                let (data, flush) = match item {
                    Item::Data(b) => (b, None),
                    // nginx: a flush is an empty buffer through the body filters
                    Item::Flush(seq) => (Bytes::new(), Some(seq)),
                };
                match super::phases::filter_piece(r, ctx, &h, &data, false).await {
                    Some(out) if !out.is_empty() => filtered.push(Item::Data(out.into())),
                    Some(_) => {}
                    None => {
                        failed = true;
                        break;
                    }
                }
                if let Some(seq) = flush {
                    filtered.push(Item::Flush(seq));
                }
            }
            if end && !failed {
                // nginx: the last buffer of the body, empty, with ngx.arg[2] true.
                match super::phases::filter_piece(r, ctx, &h, b"", true).await {
                    Some(out) if !out.is_empty() => filtered.push(Item::Data(out.into())),
                    Some(_) => {}
                    None => failed = true,
                }
            }
            ctx.borrow_mut().phase = phase;
            if failed {
                fail(s);
                return;
            }
            filtered
        }
        None => items,
    };
    push(s, items, end);
}

/// Appends pieces; releases what is held when a flush came, the body ends, or the write
/// filter's `postpone_output` is reached.
fn push(s: &Stream, items: Vec<Item>, end: bool) {
    let mut st = lock(s);
    if st.gone {
        // the client went away: the output goes nowhere
        st.done = st.done || end;
        return;
    }
    for item in items {
        let flush = match &item {
            Item::Data(b) => {
                st.held_size += b.len();
                if st.chunked {
                    st.held_size += framing(b.len());
                }
                false
            }
            Item::Flush(_) => true,
        };
        st.held.push(item);
        if flush || st.held_size >= POSTPONE_OUTPUT {
            // the write filter sends all it holds
            let held = std::mem::take(&mut st.held);
            st.queue.extend(held);
            st.held_size = 0;
        }
    }
    if end {
        let held = std::mem::take(&mut st.held);
        st.queue.extend(held);
        st.held_size = 0;
    }
    if end {
        st.done = true;
    }
    if let Some(w) = st.body_waker.take() {
        w.wake();
    }
}

/// The handler failed after its head went out: what was held is lost and the connection
/// closes (nginx: ngx_http_terminate_request).
fn fail(s: &Stream) {
    let mut st = lock(s);
    st.held.clear();
    st.failed = true;
    st.done = true;
    if let Some(w) = st.body_waker.take() {
        w.wake();
    }
    for w in st.flush_wakers.drain(..) {
        w.wake();
    }
}

/// `ngx.req.socket(true)` took the connection: the body ends here, cut (no last chunk),
/// and the handler writes raw bytes from now on.
pub(crate) fn detach(s: &Stream) {
    fail(s);
}

/// The streaming task: polls the handler's coroutine on and hands its output to the body,
/// then ends the body as the handler ended (nginx: the last buffer goes out when a content
/// handler ends, and when a rewrite/access handler that sent its head ends: the request is
/// done then, ngx_http_lua_rewrite_by_chunk returning NGX_HTTP_OK).
pub(crate) async fn drive(
    mut started: vm::Started,
    s: Stream,
    ctx: SharedCtx,
    rp: *mut Request,
    h: Arc<LuaHandler>,
    phase: Phase,
) {
    let _running = Running::new();
    let settled = std::future::poll_fn(|cx| {
        let mut st = lock(&s);
        match st.settled {
            Some(v) => Poll::Ready(v),
            None if st.gone => Poll::Ready(false),
            None => {
                st.task_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await;
    if !settled {
        // The request is gone or moved: the handler cannot go on.
        drop(started);
        fail(&s);
        end_handler(&s);
        return;
    }
    ctx.borrow_mut().phase = phase;
    let res = loop {
        pump(rp, &ctx, &s, false, phase).await;
        let mut fut = started.fut.as_mut();
        let res = std::future::poll_fn(|cx| match fut.as_mut().poll(cx) {
            Poll::Ready(v) => Poll::Ready(Some(v)),
            Poll::Pending if has_output(&ctx, &s) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        })
        .await;
        if let Some(res) = res {
            break res;
        }
    };
    // SAFETY: as in [`pump`]; the coroutine is done.
    let out = vm::finish(unsafe { &mut *rp }, &h, phase, started.debug, res);
    let abort = match out {
        Outcome::Failed => true,
        Outcome::Exited => {
            // nginx: ngx.exit(ngx.ERROR), 408, 444 or 499 after the head: the request is
            // terminated (ngx_http_lua_handle_exit returns the code, finalize terminates).
            let code = ctx.borrow_mut().exit.take().unwrap_or(0);
            exit_terminates(code)
        }
        Outcome::Returned => false,
    };
    if abort {
        fail(&s);
    } else {
        pump(rp, &ctx, &s, true, phase).await;
    }
    let timed_out = lock(&s).timed_out;
    if timed_out {
        // nginx: the last buffer waits in the writer for another `send_timeout`, which
        // logs "client timed out" again and terminates the request.
        // SAFETY: as in [`pump`]; the coroutine is done.
        let r = unsafe { &*rp };
        let t = r
            .loc
            .send_timeout
            .unwrap_or(std::time::Duration::from_secs(60));
        tokio::time::sleep(t).await;
        log_timed_out(r);
    }
    end_handler(&s);
}

/// Whether `ngx.exit(code)` after the head terminates the request (the connection closes
/// without the body's end).
pub(crate) fn exit_terminates(code: i64) -> bool {
    code < 0 || matches!(code, 408 | 444 | 499)
}

/// nginx: ngx_http_writer / ngx_http_lua_content_wev_handler on a write timeout.
pub(crate) fn log_timed_out(r: &Request) {
    crate::http::errlog::write(
        crate::log::Level::Info,
        &crate::http::errlog::with_context(r, "client timed out (110: Connection timed out)"),
    );
}

/// The connection's write timed out (`send_timeout`): a waiting `ngx.flush(true)` returns
/// "timeout"; true when the request's streaming handler still runs.
pub(crate) fn timed_out(r: &Request) -> bool {
    let Some(s) = stream_of(r) else {
        return false;
    };
    let mut st = lock(&s);
    if !st.started || st.handler_done {
        return false;
    }
    st.timed_out = true;
    for w in st.flush_wakers.drain(..) {
        w.wake();
    }
    true
}

thread_local! {
    /// Streaming handlers running, by connection, and the connection tasks waiting for
    /// them to end.
    static CONN_RUNNING: crate::http::conn_wait::ConnWaits = Default::default();
}

/// Counts a streaming handler of connection `id` in (`1`) or out (`-1`).
fn conn_busy(id: u64, delta: isize) {
    let _ = CONN_RUNNING.try_with(|m| m.add(id, delta));
}

/// Whether connection `id` must wait before it reads its next request or closes: a
/// streaming handler of its last request still runs (after `ngx.eof`; nginx finalizes the
/// request, and keeps the connection alive or closes it, when the handler ends). The task is
/// woken when it ends.
pub(crate) fn conn_wait(id: u64, cx: &mut Context<'_>) -> bool {
    if !super::used() {
        return false;
    }
    CONN_RUNNING.try_with(|m| m.wait(id, cx)).unwrap_or(false)
}

/// Waits until connection `id` has no streaming handler running.
pub(crate) async fn conn_idle(id: u64) {
    std::future::poll_fn(|cx| {
        if conn_wait(id, cx) {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await
}

thread_local! {
    /// Streaming handlers running on this worker.
    static RUNNING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts a streaming handler as running while it lives.
struct Running;

impl Running {
    fn new() -> Running {
        RUNNING.with(|n| n.set(n.get() + 1));
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = RUNNING.try_with(|n| n.set(n.get().saturating_sub(1)));
    }
}

/// A graceful shutdown waits for the streaming handlers still running after their
/// connection is done (nginx: a worker exits once its requests are finalized).
pub(crate) async fn drained() {
    while RUNNING.with(|n| n.get()) > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// The handler ended: wakes the log phase and the connection waiting for it.
fn end_handler(s: &Stream) {
    let conn = {
        let mut st = lock(s);
        st.handler_done = true;
        for w in st.done_wakers.drain(..) {
            w.wake();
        }
        st.conn.take()
    };
    if let Some(id) = conn {
        conn_busy(id, -1);
    }
}
