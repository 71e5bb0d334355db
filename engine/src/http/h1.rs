//! The HTTP/1.x server connection (nginx: ngx_http_request.c's connection handling, the
//! request body reader of ngx_http_request_body.c, ngx_http_header_filter and the chunked
//! filter on the way out). HTTP/2 stays with hyper (engine/src/worker.rs `serve_h2`).
//!
//! One task per connection runs nginx's cycle: read a head with nginx's parser
//! ([`crate::http::head`]), run the request (engine/src/worker.rs `handle`) with a
//! [`ReqBody`] that reads the body from the same connection on demand (100-continue when
//! first read), write the head and body (one write for a head and a small body), then
//! discard what is left of the body and wait for the next head (keep-alive, pipelined
//! requests from the read-ahead bytes), or close (lingering close).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use hyper::body::{Body as _, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::http::head::{self, Chunked, Framing, Head, Limits, Linger, Parsed};

/// A request body as the handlers see it (`http_body::Body` of `Bytes`).
pub(crate) enum ReqBody {
    /// HTTP/2 streams: hyper's body.
    Hyper(hyper::body::Incoming),
    /// HTTP/1.x: read from the connection by [`serve`]'s reader.
    H1(H1Body),
}

impl hyper::body::Body for ReqBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            ReqBody::Hyper(b) => match Pin::new(b).poll_frame(cx) {
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(std::io::Error::other(e)))),
                Poll::Ready(Some(Ok(f))) => Poll::Ready(Some(Ok(f))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
            ReqBody::H1(b) => {
                if b.done {
                    return Poll::Ready(None);
                }
                let r = b.src.borrow_mut().poll_body(b.gen, cx);
                match r {
                    Poll::Ready(Some(Ok(d))) => Poll::Ready(Some(Ok(Frame::data(d)))),
                    Poll::Ready(Some(Err(e))) => {
                        b.done = true;
                        Poll::Ready(Some(Err(e)))
                    }
                    Poll::Ready(None) => {
                        b.done = true;
                        Poll::Ready(None)
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Hyper(b) => b.is_end_stream(),
            ReqBody::H1(b) => b.done || b.src.borrow().body_done(b.gen),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Hyper(b) => b.size_hint(),
            ReqBody::H1(b) => match b.src.borrow().body_left(b.gen) {
                Some(n) => SizeHint::with_exact(n),
                None => SizeHint::default(),
            },
        }
    }
}

/// An HTTP/1.x request body: the connection's reader, for the request `gen` only (a body
/// kept past its request reads as ended, never the next request's bytes).
pub(crate) struct H1Body {
    src: Rc<RefCell<dyn Source>>,
    gen: u64,
    done: bool,
}

/// What an [`H1Body`] reads from (the connection, whatever its stream type).
trait Source {
    fn poll_body(&mut self, gen: u64, cx: &mut Context<'_>)
        -> Poll<Option<std::io::Result<Bytes>>>;
    fn body_done(&self, gen: u64) -> bool;
    /// The bytes left of a `Content-Length` body.
    fn body_left(&self, gen: u64) -> Option<u64>;
    /// `ngx.req.socket(true)`: the connection is the handler's from now on (no keep-alive).
    fn raw_acquire(&mut self);
    /// Raw reads: the bytes read ahead (the unread body, pipelined bytes), then the socket.
    fn poll_raw_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>>;
    /// Raw writes: once the connection wrote what it had of the answer.
    fn poll_raw_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>>;
    fn poll_raw_flush(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>>;
    /// `lua_check_client_abort`: ready once the client closed (or reset) the connection
    /// while request `gen`'s handler runs (with the system error of a reset).
    fn poll_client_closed(&mut self, gen: u64, cx: &mut Context<'_>) -> Poll<Option<String>>;
}

/// The connection as `ngx.req.socket(true)` sees it (nginx: the raw downstream socket).
#[derive(Clone)]
pub(crate) struct RawConn(Rc<RefCell<dyn Source>>);

impl RawConn {
    /// Marks the connection as the handler's: it closes after the request.
    pub(crate) fn acquire(&self) {
        if let Ok(mut c) = self.0.try_borrow_mut() {
            c.raw_acquire();
        }
    }

    /// nginx: ngx_http_lua_check_broken_connection (see [`Source::poll_client_closed`]).
    pub(crate) fn poll_closed(&self, gen: u64, cx: &mut Context<'_>) -> Poll<Option<String>> {
        match self.0.try_borrow_mut() {
            Ok(mut c) => c.poll_client_closed(gen, cx),
            Err(_) => Poll::Pending,
        }
    }

    /// Whether the request body is still being read (nginx: `r->request_body->rest`).
    pub(crate) fn body_pending(&self, gen: u64) -> bool {
        self.0.try_borrow().is_ok_and(|c| !c.body_done(gen))
    }
}

impl AsyncRead for RawConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.0.try_borrow_mut() {
            Ok(mut c) => c.poll_raw_read(cx, buf),
            Err(_) => Poll::Ready(Err(std::io::ErrorKind::WouldBlock.into())),
        }
    }
}

impl AsyncWrite for RawConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.0.try_borrow_mut() {
            Ok(mut c) => c.poll_raw_write(cx, buf),
            Err(_) => Poll::Ready(Err(std::io::ErrorKind::WouldBlock.into())),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.0.try_borrow_mut() {
            Ok(mut c) => c.poll_raw_flush(cx),
            Err(_) => Poll::Ready(Err(std::io::ErrorKind::WouldBlock.into())),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // the connection closes when the request ends
        Poll::Ready(Ok(()))
    }
}

impl ReqBody {
    /// The HTTP/1.x connection of the body, for `ngx.req.socket(true)`, and its request.
    pub(crate) fn raw_conn(&self) -> Option<(RawConn, u64)> {
        match self {
            ReqBody::H1(b) => Some((RawConn(b.src.clone()), b.gen)),
            ReqBody::Hyper(_) => None,
        }
    }
}

/// The raw socket's claim on the connection (see [`RawConn`]).
#[derive(Default)]
struct RawState {
    /// `ngx.req.socket(true)` took the connection.
    on: bool,
    /// The connection is writing the answer's head and body: raw writes wait.
    writing: bool,
    /// The request's handler runs: the client's side may be watched.
    watch: bool,
    /// Bytes the raw socket wrote (nginx counts them in `c->sent`).
    sent: u64,
    waker: Option<std::task::Waker>,
}

/// Where the request body is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum BodyState {
    Done,
    Length(u64),
    Chunked(Chunked, u64),
}

/// How a body read failed (the connection cannot go on).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Failed {
    No,
    /// nginx: "client sent invalid chunked body": the answer goes out, then the close.
    BadChunk,
    /// The client closed, timed out or the socket failed: nothing more is written.
    Io,
}

/// The connection's timeouts and lingering rules (the last request's location's).
#[derive(Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) keepalive: Duration,
    pub(crate) header: Duration,
    pub(crate) body: Duration,
    pub(crate) send: Duration,
    pub(crate) linger: Linger,
    pub(crate) linger_time: Duration,
    pub(crate) linger_timeout: Duration,
    pub(crate) reset: bool,
}

impl Timeouts {
    pub(crate) fn of(c: &crate::http::lower::LocConf) -> Timeouts {
        let s = Duration::from_secs;
        Timeouts {
            keepalive: c.keepalive_timeout.unwrap_or(s(75)),
            header: c.client_header_timeout.unwrap_or(s(60)),
            body: c.client_body_timeout.unwrap_or(s(60)),
            send: c.send_timeout.unwrap_or(s(60)),
            linger: c.lingering_close.unwrap_or(Linger::On),
            linger_time: c.lingering_time.unwrap_or(s(30)),
            linger_timeout: c.lingering_timeout.unwrap_or(s(5)),
            reset: c.reset_timedout_connection.unwrap_or(false),
        }
    }
}

/// The connection: the stream, the bytes read ahead, the body being read and the timers.
struct Io<S> {
    /// `None` once handed to a tunnel.
    io: Option<S>,
    /// The connection's number.
    id: u64,
    fd: Option<std::os::fd::RawFd>,
    inbuf: BytesMut,
    eof: bool,
    /// The request whose body [`BodyState`] is.
    gen: u64,
    body: BodyState,
    /// `HTTP/1.1 100 Continue` is due when the body is first read, and how much of it
    /// went out.
    expect: Option<usize>,
    failed: Failed,
    shared: Rc<RefCell<crate::worker::Shared>>,
    timeouts: Timeouts,
    body_sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    body_timer: bool,
    send_sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    /// A write waited `send_timeout` in vain.
    send_timed_out: bool,
    /// The answer being written is rate-limited (`limit_rate`).
    rate: Option<Rate>,
    raw: RawState,
}

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

impl<S: AsyncRead + AsyncWrite + Unpin> Io<S> {
    /// Reads more bytes into `inbuf`: `Ready(Ok(0))` is the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        let Some(io) = self.io.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        if self.inbuf.capacity() - self.inbuf.len() < 2048 {
            self.inbuf.reserve(16384);
        }
        let spare = self.inbuf.spare_capacity_mut();
        let mut rb = ReadBuf::uninit(spare);
        match Pin::new(io).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => {
                let n = rb.filled().len();
                // SAFETY: the read initialized `n` bytes of the spare capacity.
                unsafe { self.inbuf.set_len(self.inbuf.len() + n) };
                if n == 0 {
                    self.eof = true;
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Writes `buf[*pos..]`, with `send_timeout` while the socket does not take bytes.
    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
        pos: &mut usize,
    ) -> Poll<std::io::Result<()>> {
        while *pos < buf.len() {
            let Some(io) = self.io.as_mut() else {
                return Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()));
            };
            match Pin::new(io).poll_write(cx, &buf[*pos..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => {
                    self.send_sleep = None;
                    *pos += n;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return self.send_pending(cx),
            }
        }
        let Some(io) = self.io.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        match Pin::new(io).poll_flush(cx) {
            Poll::Pending => self.send_pending(cx),
            Poll::Ready(r) => {
                self.send_sleep = None;
                Poll::Ready(r)
            }
        }
    }

    /// nginx: `send_timeout` runs while a write waits.
    fn send_pending(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.send_sleep.is_none() {
            self.send_sleep = Some(Box::pin(tokio::time::sleep(self.timeouts.send)));
        }
        if let Some(s) = self.send_sleep.as_mut() {
            if s.as_mut().poll(cx).is_ready() {
                self.send_timed_out = true;
                return Poll::Ready(Err(self.timed_out()));
            }
        }
        Poll::Pending
    }

    /// nginx: `reset_timedout_connection`: an RST instead of a FIN.
    fn timed_out(&self) -> std::io::Error {
        if self.timeouts.reset {
            if let Some(fd) = self.fd {
                let l = libc::linger {
                    l_onoff: 1,
                    l_linger: 0,
                };
                // SAFETY: fd is this connection's open socket; the option value is a
                // properly sized linger struct.
                unsafe {
                    libc::setsockopt(
                        fd,
                        libc::SOL_SOCKET,
                        libc::SO_LINGER,
                        std::ptr::addr_of!(l).cast(),
                        std::mem::size_of::<libc::linger>() as libc::socklen_t,
                    );
                }
            }
        }
        std::io::Error::new(std::io::ErrorKind::TimedOut, "client timed out")
    }

    /// The next piece of the body from the bytes read ahead, if any.
    fn take_body(&mut self) -> Option<std::io::Result<Option<Bytes>>> {
        loop {
            match self.body {
                BodyState::Done => return Some(Ok(None)),
                BodyState::Length(left) => {
                    if self.inbuf.is_empty() {
                        return None;
                    }
                    let n = self
                        .inbuf
                        .len()
                        .min(usize::try_from(left).unwrap_or(usize::MAX));
                    let left = left - n as u64;
                    self.body = if left == 0 {
                        BodyState::Done
                    } else {
                        BodyState::Length(left)
                    };
                    return Some(Ok(Some(self.inbuf.split_to(n).freeze())));
                }
                BodyState::Chunked(mut c, mut size) => {
                    if self.inbuf.is_empty() {
                        return None;
                    }
                    if let Chunked::Data(left) = c {
                        let n = self
                            .inbuf
                            .len()
                            .min(usize::try_from(left).unwrap_or(usize::MAX));
                        c.feed(&self.inbuf[..n], &mut size);
                        self.body = BodyState::Chunked(c, size);
                        return Some(Ok(Some(self.inbuf.split_to(n).freeze())));
                    }
                    // The framing between data: a byte at a time (sizes, CRLFs, trailers).
                    let mut i = 0;
                    while i < self.inbuf.len() && !matches!(c, Chunked::Data(_)) {
                        let used = c.feed(&self.inbuf[i..i + 1], &mut size);
                        if matches!(c, Chunked::Done | Chunked::Bad) {
                            i += used;
                            break;
                        }
                        i += 1;
                    }
                    self.inbuf.advance(i);
                    match c {
                        Chunked::Done => self.body = BodyState::Done,
                        Chunked::Bad => {
                            self.body = BodyState::Done;
                            self.failed = Failed::BadChunk;
                            self.shared.borrow_mut().body_error =
                                Some((400, "client sent invalid chunked body"));
                            return Some(Err(std::io::Error::new(
                                std::io::ErrorKind::InvalidData,
                                "client sent invalid chunked body",
                            )));
                        }
                        c => self.body = BodyState::Chunked(c, size),
                    }
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + 'static> Io<S> {
    /// One sendfile(2) of `len` bytes of `file` from `off` to a plain socket
    /// (engine/src/http/file_body.rs), with `send_timeout` while the socket takes nothing.
    fn poll_sendfile(
        &mut self,
        cx: &mut Context<'_>,
        file: &std::fs::File,
        off: u64,
        len: usize,
    ) -> Poll<std::io::Result<usize>> {
        let Some(s) = self.io.as_ref() else {
            return Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()));
        };
        match crate::http::file_body::poll_sendfile(s, cx, file, off, len) {
            None => Poll::Ready(Err(std::io::ErrorKind::Unsupported.into())),
            Some(Poll::Ready(r)) => {
                self.send_sleep = None;
                Poll::Ready(r)
            }
            Some(Poll::Pending) => match self.send_pending(cx) {
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                _ => Poll::Pending,
            },
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Source for Io<S> {
    fn poll_body(
        &mut self,
        gen: u64,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::io::Result<Bytes>>> {
        if gen != self.gen {
            return Poll::Ready(None);
        }
        // nginx: ngx_http_test_expect, when the body is first read.
        if let Some(mut pos) = self.expect {
            match self.poll_send(cx, CONTINUE, &mut pos) {
                Poll::Ready(Ok(())) => self.expect = None,
                Poll::Ready(Err(e)) => {
                    self.expect = None;
                    self.failed = Failed::Io;
                    self.body = BodyState::Done;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Pending => {
                    self.expect = Some(pos);
                    return Poll::Pending;
                }
            }
        }
        loop {
            match self.take_body() {
                Some(Ok(Some(d))) if d.is_empty() => continue,
                Some(Ok(Some(d))) => return Poll::Ready(Some(Ok(d))),
                Some(Ok(None)) => return Poll::Ready(None),
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => {}
            }
            if self.eof {
                self.failed = Failed::Io;
                self.body = BodyState::Done;
                return Poll::Ready(Some(Err(std::io::ErrorKind::UnexpectedEof.into())));
            }
            match self.poll_fill(cx) {
                Poll::Ready(Ok(_)) => {
                    // nginx: client_body_timeout runs between two reads.
                    self.body_timer = false;
                }
                Poll::Ready(Err(e)) => {
                    self.failed = Failed::Io;
                    self.body = BodyState::Done;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Pending => {
                    if !self.body_timer {
                        self.body_timer = true;
                        let at = tokio::time::Instant::now() + self.timeouts.body;
                        match self.body_sleep.as_mut() {
                            Some(s) => s.as_mut().reset(at),
                            None => self.body_sleep = Some(Box::pin(tokio::time::sleep_until(at))),
                        }
                    }
                    if let Some(s) = self.body_sleep.as_mut() {
                        if s.as_mut().poll(cx).is_ready() {
                            self.failed = Failed::Io;
                            self.body = BodyState::Done;
                            return Poll::Ready(Some(Err(self.timed_out())));
                        }
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    fn body_done(&self, gen: u64) -> bool {
        gen != self.gen || self.body == BodyState::Done
    }

    fn body_left(&self, gen: u64) -> Option<u64> {
        match self.body {
            _ if gen != self.gen => Some(0),
            BodyState::Done => Some(0),
            BodyState::Length(n) => Some(n),
            BodyState::Chunked(..) => None,
        }
    }

    fn raw_acquire(&mut self) {
        self.raw.on = true;
        // nginx: the body not read yet is the raw socket's to read.
        self.body = BodyState::Done;
        self.expect = None;
    }

    fn poll_raw_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.inbuf.is_empty() {
            let n = buf.remaining().min(self.inbuf.len());
            buf.put_slice(&self.inbuf[..n]);
            self.inbuf.advance(n);
            return Poll::Ready(Ok(()));
        }
        if self.eof {
            return Poll::Ready(Ok(()));
        }
        let Some(io) = self.io.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let before = buf.filled().len();
        let r = Pin::new(io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            if buf.filled().len() == before {
                self.eof = true;
            }
        }
        r
    }

    fn poll_raw_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if self.raw.writing {
            self.raw.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let r = match self.io.as_mut() {
            Some(io) => Pin::new(io).poll_write(cx, buf),
            None => Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into())),
        };
        if let Poll::Ready(Ok(n)) = r {
            self.raw.sent += n as u64;
        }
        r
    }

    fn poll_client_closed(&mut self, gen: u64, cx: &mut Context<'_>) -> Poll<Option<String>> {
        // nginx peeks at the socket; here the bytes read meanwhile (the body not read yet, a
        // pipelined request) stay read ahead for whoever reads them next.
        if gen != self.gen || !self.raw.watch {
            return Poll::Pending;
        }
        loop {
            if self.eof {
                return Poll::Ready(None);
            }
            if self.inbuf.len() >= 65536 {
                return Poll::Pending;
            }
            match self.poll_fill(cx) {
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => {
                    self.eof = true;
                    self.failed = Failed::Io;
                    return Poll::Ready(
                        e.raw_os_error()
                            .is_some()
                            .then(|| crate::log::errno_text(&e)),
                    );
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn poll_raw_flush(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.io.as_mut() {
            Some(io) if !self.raw.writing => Pin::new(io).poll_flush(cx),
            _ => Poll::Ready(Ok(())),
        }
    }
}

/// What the request handler tells the writer about its answer (boxed where it is passed:
/// it goes up through two async fns).
pub(crate) struct Answer {
    pub(crate) resp: crate::http::response::Response<crate::http::log_phase::Logged>,
    /// The connection closes after this answer.
    pub(crate) close: bool,
    /// The status line has no reason phrase (`HTTP/1.1 404`, an upstream's bare status).
    pub(crate) bare_status: bool,
    /// nginx's special response (no `100 Continue` before it: the body is discarded).
    pub(crate) special: bool,
    /// A `HEAD` request: the head only.
    pub(crate) head_only: bool,
}

/// What the connection loop needs from the worker.
pub(crate) struct Ctx {
    pub(crate) id: u64,
    pub(crate) fd: Option<std::os::fd::RawFd>,
    pub(crate) limits: Limits,
    pub(crate) timeouts: Timeouts,
    pub(crate) shared: Rc<RefCell<crate::worker::Shared>>,
    pub(crate) who: crate::worker::Who,
}

/// The events of waiting for a head.
enum HeadEvent {
    Head(Box<Head>),
    /// The connection ends (closed by the client, idle keep-alive timeout, graceful stop).
    Close,
    /// `client_header_timeout` or a socket error: the connection is dropped.
    Drop,
}

/// The timer of a head wait: set at `sleep.deadline()`, due at `deadline` (never earlier).
struct HeadSleep {
    sleep: Pin<Box<tokio::time::Sleep>>,
    deadline: tokio::time::Instant,
    /// The task `sleep` wakes, since it was set: until it goes off or is set again, polling
    /// it for the same task changes nothing.
    waker: Option<std::task::Waker>,
}

/// Which timer runs while a head is awaited.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HeadTimer {
    None,
    Header,
    Keepalive,
}

/// One HTTP/1.x connection, until it closes or becomes a tunnel. `run` answers one request:
/// it gets the head and the body.
pub(crate) async fn serve<S, F, Fut>(stream: S, ctx: Ctx, mut run: F)
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
    F: FnMut(Box<Head>, ReqBody) -> Fut,
    Fut: Future<Output = Option<Box<Answer>>>,
{
    let io = Rc::new(RefCell::new(Io {
        io: Some(stream),
        id: ctx.id,
        fd: ctx.fd,
        inbuf: BytesMut::with_capacity(4096),
        eof: false,
        gen: 0,
        body: BodyState::Done,
        expect: None,
        failed: Failed::No,
        shared: ctx.shared.clone(),
        timeouts: ctx.timeouts,
        body_sleep: None,
        body_timer: false,
        send_sleep: None,
        send_timed_out: false,
        rate: None,
        raw: RawState::default(),
    }));
    let shared = ctx.shared.clone();
    let mut head_sleep: Option<HeadSleep> = None;
    let mut out: Vec<u8> = Vec::with_capacity(1024);
    loop {
        // nginx: the next request (pipelined too) waits until the last one's streaming Lua
        // handler ends (after ngx.eof).
        crate::http::lua::stream::conn_idle(ctx.id).await;
        // nginx: the next request waits until the last one's mirror subrequests end.
        if io.borrow().inbuf.is_empty() {
            mirrors(ctx.id).await;
        }
        // nginx: a request whose bytes came with the previous one's is pipelined.
        let pipelined = shared.borrow().served > 0 && !io.borrow().inbuf.is_empty();
        let h = {
            let mut timer = HeadTimer::None;
            std::future::poll_fn(|cx| {
                // nginx on a graceful stop: an idle keep-alive connection closes; one that
                // has not sent its first request yet is not idle and gets it answered.
                {
                    let sh = shared.borrow();
                    if sh.exiting && sh.served > 0 && io.borrow().inbuf.is_empty() {
                        return Poll::Ready(HeadEvent::Close);
                    }
                }
                let p = poll_head(&io, &ctx, &mut timer, &mut head_sleep, cx);
                if p.is_pending() {
                    // the graceful stop wakes the task through this (worker.rs Conns::drain)
                    let mut sh = shared.borrow_mut();
                    if !sh
                        .exit_waker
                        .as_ref()
                        .is_some_and(|w| w.will_wake(cx.waker()))
                    {
                        sh.exit_waker = Some(cx.waker().clone());
                    }
                }
                p
            })
            .await
        };
        let h = match h {
            HeadEvent::Head(mut h) => {
                if pipelined {
                    head::pipelined(&mut h);
                }
                h
            }
            HeadEvent::Close => {
                close_conn(&io, false).await;
                return;
            }
            HeadEvent::Drop => return,
        };
        // The body's state for this request.
        let req = {
            let mut c = io.borrow_mut();
            c.gen += 1;
            c.raw.watch = true;
            c.failed = Failed::No;
            c.body_timer = false;
            c.body = if h.error.is_some() || h.version == 9 {
                BodyState::Done
            } else {
                match h.framing() {
                    Framing::None | Framing::Length(0) => BodyState::Done,
                    Framing::Length(n) => BodyState::Length(n),
                    Framing::Chunked => BodyState::Chunked(Chunked::new(), 0),
                }
            };
            c.expect = (h.error.is_none()
                && h.version >= 1001
                && h.header(b"expect")
                    .is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue")))
            .then_some(0);
            let body = H1Body {
                src: io.clone(),
                gen: c.gen,
                done: false,
            };
            ReqBody::H1(body)
        };
        let refused = h.error.is_some();
        let http09 = h.version == 9;
        shared.borrow_mut().busy += 1;
        let answer = run(h, req).await;
        let Some(answer) = answer else {
            // nginx: closed without an answer (`return 444`, no server for the request).
            finished(&shared);
            return;
        };
        {
            let (t, rate) = {
                let mut sh = shared.borrow_mut();
                (sh.timeouts, sh.limit_rate.take())
            };
            let mut c = io.borrow_mut();
            c.timeouts = t;
            c.rate = rate.map(|(limit, after, start)| Rate {
                limit,
                after,
                start,
                sent: 0,
                next: None,
            });
        }
        if io.borrow().failed == Failed::Io {
            finished(&shared);
            return;
        }
        let Answer {
            resp,
            mut close,
            bare_status,
            special,
            head_only,
        } = *answer;
        let crate::http::response::Response {
            status,
            reason,
            headers,
            names,
            mut body,
            file,
        } = resp;
        if io.borrow().raw.on {
            io.borrow_mut().raw.watch = false;
            // nginx: `ngx.req.socket(true)` took the connection: the handler wrote what it
            // wanted, no head goes out, and the connection closes (lingering).
            let sent = io.borrow().raw.sent;
            body.raw_sent(sent, false);
            drop(body);
            finished(&shared);
            close_conn(&io, true).await;
            return;
        }
        out.clear();
        {
            let mut c = io.borrow_mut();
            if c.expect.is_some() {
                if !special && c.expect == Some(0) {
                    // nginx: the handler discarded the body (ngx_http_discard_request_body
                    // tests the expectation too).
                    out.extend_from_slice(CONTINUE);
                }
                c.expect = None;
            }
        }
        let bodyless = matches!(status, 204 | 304) || status < 200 || head_only;
        let (mut te, mut length) = (false, false);
        for (n, _) in &headers {
            te |= *n == hyper::header::TRANSFER_ENCODING;
            length |= *n == hyper::header::CONTENT_LENGTH;
        }
        let chunked = te && !bodyless;
        if !bodyless && !chunked && !length {
            // The close delimits the body (HTTP/1.0).
            close = true;
        }
        if !http09 {
            let reason = match (bare_status, &reason) {
                (true, _) => None,
                (false, Some(p)) => Some(p.as_slice()),
                (false, None) => Some(
                    crate::http::response::reason(status)
                        .unwrap_or("")
                        .as_bytes(),
                ),
            };
            write_head(&mut out, status, reason, &headers, &names);
        }
        drop(headers);
        let file = file.as_ref().filter(|_| !bodyless && !chunked);
        io.borrow_mut().raw.writing = true;
        let ok = write_body(&io, &mut out, &mut body, chunked, bodyless, file).await;
        if !ok && io.borrow().send_timed_out {
            body.timed_out();
        }
        let raw = {
            let mut c = io.borrow_mut();
            c.raw.writing = false;
            if let Some(w) = c.raw.waker.take() {
                w.wake();
            }
            c.raw.on
        };
        if (ok && bodyless) || raw {
            // nginx finalizes the request when the Lua handler ends: a streamed handler
            // still running (after a 101 head, or holding the raw socket) keeps the
            // connection until then.
            if let Some(w) = body.lua_running() {
                let mut w = std::pin::pin!(w);
                // a header-only answer's body is drained meanwhile (its flush marks tell
                // `ngx.flush(true)` the head went out)
                let mut open = !raw;
                std::future::poll_fn(|cx| {
                    if w.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(());
                    }
                    while open {
                        match Pin::new(&mut body).poll_frame(cx) {
                            Poll::Ready(Some(Ok(_))) => {}
                            Poll::Ready(_) => open = false,
                            Poll::Pending => break,
                        }
                    }
                    Poll::Pending
                })
                .await;
            }
        }
        io.borrow_mut().raw.watch = false;
        let (raw, sent) = {
            let c = io.borrow();
            (c.raw.on, c.raw.sent)
        };
        if raw {
            body.raw_sent(sent, true);
        }
        drop(body);
        finished(&shared);
        if io.borrow().raw.on {
            close_conn(&io, true).await;
            return;
        }
        if !ok {
            return;
        }
        if status == 101 && shared.borrow().tunnel {
            // nginx: ngx_http_upstream_upgrade: the connection is the tunnel's now.
            let (stream, rest) = {
                let mut c = io.borrow_mut();
                let rest = c.inbuf.split().freeze();
                (c.io.take(), rest)
            };
            if let Some(s) = stream {
                crate::http::proxy_run::tunnel_client(ctx.id, Box::new(s), rest);
            }
            return;
        }
        if refused || http09 || io.borrow().failed != Failed::No || shared.borrow().exiting {
            close = true;
        }
        let pending = io.borrow().body != BodyState::Done;
        if close {
            close_conn(&io, pending).await;
            return;
        }
        if pending && !discard(&io).await {
            close_conn(&io, false).await;
            return;
        }
    }
}

/// A request is done: the connection counts it.
fn finished(shared: &Rc<RefCell<crate::worker::Shared>>) {
    let mut sh = shared.borrow_mut();
    sh.busy = sh.busy.saturating_sub(1);
    sh.served += 1;
}

/// Waits for the next complete head, with nginx's `client_header_timeout` (from the
/// connection's start, or from a head's first byte) and `keepalive_timeout` (between
/// requests).
fn poll_head<S: AsyncRead + AsyncWrite + Unpin>(
    io: &Rc<RefCell<Io<S>>>,
    ctx: &Ctx,
    timer: &mut HeadTimer,
    sleep: &mut Option<HeadSleep>,
    cx: &mut Context<'_>,
) -> Poll<HeadEvent> {
    let mut c = io.borrow_mut();
    let c = &mut *c;
    loop {
        if !c.inbuf.is_empty() {
            if let Parsed::Done(mut h, used) = head::parse(&c.inbuf, &ctx.limits) {
                let used = used.min(c.inbuf.len());
                if crate::http::lua::used() {
                    // nginx: the head from the request line on (empty lines before it are
                    // not part of it)
                    let raw = h.headers.buf();
                    let end = used.min(raw.len());
                    let from = raw[..end]
                        .iter()
                        .position(|&b| b != b'\r' && b != b'\n')
                        .unwrap_or(end);
                    h.raw = Some(raw.slice(from..end));
                }
                c.inbuf.advance(used);
                return Poll::Ready(HeadEvent::Head(h));
            }
        }
        if c.eof {
            let served = ctx.shared.borrow().served;
            ctx.who.closed(&c.inbuf, served > 0);
            c.inbuf.clear();
            return Poll::Ready(HeadEvent::Close);
        }
        let was_empty = c.inbuf.is_empty();
        match c.poll_fill(cx) {
            Poll::Ready(Ok(n)) => {
                if n > 0 && was_empty {
                    // nginx: a new request's head runs on client_header_timeout.
                    *timer = HeadTimer::None;
                }
            }
            Poll::Ready(Err(_)) => return Poll::Ready(HeadEvent::Drop),
            Poll::Pending => {
                let served = ctx.shared.borrow().served;
                let want = if !c.inbuf.is_empty() || served == 0 {
                    HeadTimer::Header
                } else {
                    HeadTimer::Keepalive
                };
                if want != *timer {
                    *timer = want;
                    let d = match want {
                        HeadTimer::Keepalive => c.timeouts.keepalive,
                        _ => c.timeouts.header,
                    };
                    let at = tokio::time::Instant::now() + d;
                    // The timer's allocation is reused from one request to the next, and
                    // it is moved only to an earlier time: set for a later one, it goes off
                    // early and is set again then (moving it later at every request of a
                    // busy connection would change the timer wheel each time).
                    match sleep.as_mut() {
                        Some(s) => {
                            s.deadline = at;
                            if s.sleep.deadline() > at {
                                s.sleep.as_mut().reset(at);
                                s.waker = None;
                            }
                        }
                        None => {
                            *sleep = Some(HeadSleep {
                                sleep: Box::pin(tokio::time::sleep_until(at)),
                                deadline: at,
                                waker: None,
                            })
                        }
                    }
                }
                if let Some(s) = sleep.as_mut() {
                    if !s.sleep.is_elapsed()
                        && s.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker()))
                    {
                        return Poll::Pending;
                    }
                    s.waker = None;
                    let mut expired = false;
                    while s.sleep.as_mut().poll(cx).is_ready() {
                        if tokio::time::Instant::now() >= s.deadline {
                            expired = true;
                            break;
                        }
                        let at = s.deadline;
                        s.sleep.as_mut().reset(at);
                    }
                    if !expired {
                        s.waker = Some(cx.waker().clone());
                    }
                    if expired {
                        if *timer == HeadTimer::Header {
                            ctx.who.header_timeout(&c.inbuf);
                            let _ = c.timed_out();
                            return Poll::Ready(HeadEvent::Drop);
                        }
                        // nginx closes an idle keep-alive connection quietly.
                        return Poll::Ready(HeadEvent::Close);
                    }
                }
                return Poll::Pending;
            }
        }
    }
}

/// nginx: ngx_http_status_line and the header lines of ngx_http_header_filter (`reason`
/// `None`: a bare status line, `HTTP/1.1 404`).
fn write_head(
    out: &mut Vec<u8>,
    status: u16,
    reason: Option<&[u8]>,
    headers: &crate::http::response::Headers,
    names: &crate::http::response::Names,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(&[
        b'0' + (status / 100 % 10) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ]);
    if let Some(reason) = reason {
        out.push(b' ');
        out.extend_from_slice(reason);
    }
    out.extend_from_slice(b"\r\n");
    let names = (!names.0.is_empty()).then_some(names);
    for (n, v) in headers {
        crate::http::response::write_name(out, n, names);
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Bytes a data frame is copied into the head's buffer up to (larger ones go on their own).
const COALESCE: usize = 16384;

/// Writes `out` (the head) and the body: chunked, or as is; one write for the head and
/// whatever the body has ready at once.
async fn write_body<S: AsyncRead + AsyncWrite + Unpin + 'static>(
    io: &Rc<RefCell<Io<S>>>,
    out: &mut Vec<u8>,
    body: &mut crate::http::log_phase::Logged,
    chunked: bool,
    bodyless: bool,
    file: Option<&crate::http::file_body::FileSend>,
) -> bool {
    enum Ev {
        Frame(Option<std::io::Result<Frame<Bytes>>>),
        Flush,
    }
    if let Some(f) = file {
        if !send_file(io, out, body, f).await {
            return false;
        }
    }
    let mut ended = bodyless;
    loop {
        if !ended && body.is_end_stream() {
            ended = true;
        }
        let ev = if ended {
            Ev::Frame(None)
        } else {
            std::future::poll_fn(|cx| match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(f) => Poll::Ready(Ev::Frame(f)),
                Poll::Pending if out.is_empty() => Poll::Pending,
                Poll::Pending => Poll::Ready(Ev::Flush),
            })
            .await
        };
        match ev {
            Ev::Flush => {
                if !send(io, out).await {
                    return false;
                }
                out.clear();
            }
            Ev::Frame(None) => {
                if chunked {
                    out.extend_from_slice(b"0\r\n\r\n");
                }
                let ok = out.is_empty() || send(io, out).await;
                out.clear();
                return ok;
            }
            Ev::Frame(Some(Err(_))) => {
                // nginx had sent what came before the failure; the connection is cut after
                if !out.is_empty() {
                    let _ = send(io, out).await;
                    out.clear();
                }
                return false;
            }
            Ev::Frame(Some(Ok(f))) => {
                let Ok(d) = f.into_data() else { continue };
                if d.is_empty() {
                    continue;
                }
                if chunked {
                    out.extend_from_slice(format!("{:x}\r\n", d.len()).as_bytes());
                }
                if d.len() <= COALESCE {
                    out.extend_from_slice(&d);
                } else {
                    if !out.is_empty() && !send(io, out).await {
                        return false;
                    }
                    out.clear();
                    if !send(io, &d).await {
                        return false;
                    }
                }
                if chunked {
                    out.extend_from_slice(b"\r\n");
                }
                if out.len() >= 4 * COALESCE {
                    if !send(io, out).await {
                        return false;
                    }
                    out.clear();
                }
            }
        }
    }
}

/// Sends a file body itself (engine/src/http/file_body.rs), the head in `out` first: with
/// `sendfile on` on a plain socket, the head written and the file sent with sendfile(2)
/// (nginx: ngx_linux_sendfile_chain); otherwise the file read into `out` after the head in
/// large pieces, each written whole (nginx: the copy filter's buffers and one writev). What
/// is left in `out` is the caller's to write. False: the connection failed (as nginx, a file
/// that shrank while being sent closes the connection).
async fn send_file<S: AsyncRead + AsyncWrite + Unpin + 'static>(
    io: &Rc<RefCell<Io<S>>>,
    out: &mut Vec<u8>,
    body: &mut crate::http::log_phase::Logged,
    f: &crate::http::file_body::FileSend,
) -> bool {
    use crate::http::file_body::{is_plain, pread_append, Part, READ_CHUNK};
    let Some((file, parts)) = f.take() else {
        return true;
    };
    let plain = f.sendfile && io.borrow().io.as_ref().is_some_and(|s| is_plain(s));
    let limit = if f.max_chunk == 0 {
        u64::MAX
    } else {
        f.max_chunk
    };
    // Bytes sent since the connection last let the others run.
    let mut burst = 0u64;
    for part in parts {
        let (mut pos, end) = match part {
            Part::Bytes(b) => {
                body.sent_outside(b.len() as u64);
                out.extend_from_slice(&b);
                continue;
            }
            Part::File(pos, len) => (pos, pos.saturating_add(len)),
        };
        while pos < end {
            // nginx: sendfile_max_chunk: the write event is posted for the next cycle.
            if burst >= limit {
                burst = 0;
                tokio::task::yield_now().await;
            }
            let mut n = (end - pos).min(limit - burst);
            let limited = io.borrow().rate.is_some();
            if limited && plain {
                // the head first, under the limit too
                if !out.is_empty() {
                    if !send(io, out).await {
                        return false;
                    }
                    out.clear();
                }
                if let Some(budget) = rate_budget(io).await {
                    n = n.min(budget);
                }
            }
            let got = if plain {
                // The head (and any multipart framing) first, as nginx's writev: sent with
                // MSG_MORE to go out with the file's first bytes, it cost more kernel time
                // per request on loopback than a segment of its own.
                if !out.is_empty() {
                    if !send(io, out).await {
                        return false;
                    }
                    out.clear();
                }
                let n = usize::try_from(n).map_or(1 << 30, |n| n.min(1 << 30));
                match std::future::poll_fn(|cx| io.borrow_mut().poll_sendfile(cx, &file, pos, n))
                    .await
                {
                    Ok(k) if k > 0 => k,
                    _ => return false,
                }
            } else {
                let n = usize::try_from(n).map_or(READ_CHUNK, |n| n.min(READ_CHUNK));
                let Ok(k) = pread_append(&file, out, n, pos) else {
                    return false;
                };
                if out.len() >= READ_CHUNK {
                    if !send(io, out).await {
                        return false;
                    }
                    out.clear();
                }
                k
            } as u64;
            if limited && plain {
                rate_sent(io, got);
            }
            body.sent_outside(got);
            pos += got;
            burst = burst.saturating_add(got);
        }
    }
    // The read buffer is not kept with an idle connection (nginx frees its output buffers
    // with the request).
    if out.capacity() > 2 * COALESCE {
        if !out.is_empty() && !send(io, out).await {
            return false;
        }
        *out = Vec::with_capacity(1024);
    }
    true
}

/// Writes all of `buf` (with `send_timeout`).
async fn send<S: AsyncRead + AsyncWrite + Unpin>(io: &Rc<RefCell<Io<S>>>, buf: &[u8]) -> bool {
    if io.borrow().rate.is_some() {
        return send_limited(io, buf).await;
    }
    let mut pos = 0;
    std::future::poll_fn(|cx| io.borrow_mut().poll_send(cx, buf, &mut pos))
        .await
        .is_ok()
}

/// An answer's `limit_rate` state (nginx: r->limit_rate, r->limit_rate_after, r->start_sec
/// and c->sent as ngx_http_write_filter uses them).
#[derive(Clone, Copy)]
struct Rate {
    /// Bytes per second.
    limit: u64,
    /// Bytes sent before the limit applies.
    after: u64,
    /// The request's start, in Unix seconds.
    start: u64,
    /// Bytes of this answer written so far (head included).
    sent: u64,
    /// The write event is delayed until then.
    next: Option<tokio::time::Instant>,
}

/// nginx: ngx_http_write_filter's limit: how many bytes may go now, after waiting out the
/// delay of the last write and, when over budget, until the budget is positive again.
async fn rate_budget<S>(io: &Rc<RefCell<Io<S>>>) -> Option<u64> {
    loop {
        let r = io.borrow().rate?;
        if let Some(t) = r.next {
            tokio::time::sleep_until(t).await;
            if let Some(r) = io.borrow_mut().rate.as_mut() {
                r.next = None;
            }
            continue;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let allowed = i128::from(r.limit) * i128::from(now.saturating_sub(r.start) + 1);
        let budget = allowed - (i128::from(r.sent) - i128::from(r.after));
        if budget > 0 {
            return Some(u64::try_from(budget).unwrap_or(u64::MAX));
        }
        let ms = u64::try_from(-budget * 1000 / i128::from(r.limit) + 1).unwrap_or(1000);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// Counts `n` bytes written under `limit_rate`; the next write waits the time they take at
/// the rate (once past `limit_rate_after`).
fn rate_sent<S>(io: &Rc<RefCell<Io<S>>>, n: u64) {
    if let Some(r) = io.borrow_mut().rate.as_mut() {
        let before = r.sent.saturating_sub(r.after);
        r.sent += n;
        let now = r.sent.saturating_sub(r.after);
        let ms = (now - before) * 1000 / r.limit;
        if ms > 0 {
            r.next = Some(tokio::time::Instant::now() + Duration::from_millis(ms));
        }
    }
}

/// [`send`] under `limit_rate`: in pieces of what the budget allows.
async fn send_limited<S: AsyncRead + AsyncWrite + Unpin>(
    io: &Rc<RefCell<Io<S>>>,
    buf: &[u8],
) -> bool {
    let mut off = 0;
    while off < buf.len() {
        let Some(budget) = rate_budget(io).await else {
            break;
        };
        let n = (buf.len() - off).min(usize::try_from(budget).unwrap_or(usize::MAX));
        let piece = &buf[off..off + n];
        let mut pos = 0;
        if std::future::poll_fn(|cx| io.borrow_mut().poll_send(cx, piece, &mut pos))
            .await
            .is_err()
        {
            return false;
        }
        rate_sent(io, n as u64);
        off += n;
    }
    if off < buf.len() {
        let rest = &buf[off..];
        let mut pos = 0;
        return std::future::poll_fn(|cx| io.borrow_mut().poll_send(cx, rest, &mut pos))
            .await
            .is_ok();
    }
    true
}

/// nginx: the discarded body handler after the answer: what is left of the body is read
/// and dropped (`lingering_timeout` between reads, `lingering_time` in all) so that the
/// connection can go on; false: it could not, the connection closes.
async fn discard<S: AsyncRead + AsyncWrite + Unpin>(io: &Rc<RefCell<Io<S>>>) -> bool {
    let t = io.borrow().timeouts;
    let until = tokio::time::Instant::now() + t.linger_time;
    loop {
        let step = std::future::poll_fn(|cx| {
            let mut c = io.borrow_mut();
            loop {
                match c.take_body() {
                    Some(Ok(Some(_))) => continue,
                    Some(Ok(None)) => return Poll::Ready(Some(true)),
                    Some(Err(_)) => return Poll::Ready(Some(false)),
                    None => {}
                }
                if c.eof {
                    return Poll::Ready(Some(false));
                }
                match c.poll_fill(cx) {
                    Poll::Ready(Ok(_)) => return Poll::Ready(None),
                    Poll::Ready(Err(_)) => return Poll::Ready(Some(false)),
                    Poll::Pending => return Poll::Pending,
                }
            }
        });
        let deadline = until.min(tokio::time::Instant::now() + t.linger_timeout);
        match tokio::time::timeout_at(deadline, step).await {
            Ok(Some(done)) => return done,
            Ok(None) => continue,
            Err(_) => return false,
        }
    }
}

/// nginx: ngx_http_set_lingering_close: after the FIN, what the client still sends is read
/// and dropped (for `lingering_time`, `lingering_timeout` between reads) so that an unread
/// request body does not turn the close into a reset that loses the answer.
async fn close_conn<S: AsyncRead + AsyncWrite + Unpin>(io: &Rc<RefCell<Io<S>>>, pending: bool) {
    let (t, buffered, id) = {
        let c = io.borrow();
        (c.timeouts, !c.inbuf.is_empty(), c.id)
    };
    // nginx: the connection closes after its last request's mirror subrequests end, and
    // after its streaming Lua handler.
    mirrors(id).await;
    crate::http::lua::stream::conn_idle(id).await;
    let Some(mut s) = io.borrow_mut().io.take() else {
        return;
    };
    let mut active = match t.linger {
        Linger::Off => false,
        Linger::Always => true,
        Linger::On => pending || buffered,
    };
    if t.linger == Linger::On && !active {
        // Bytes already waiting in the socket.
        let waiting = std::future::poll_fn(|cx| {
            let mut tmp = [0u8; 4096];
            let mut rb = ReadBuf::new(&mut tmp);
            match Pin::new(&mut s).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => Poll::Ready(!rb.filled().is_empty()),
                _ => Poll::Ready(false),
            }
        })
        .await;
        active = waiting;
    }
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if !active {
        let _ = tokio::time::timeout(t.send, s.shutdown()).await;
        return;
    }
    if tokio::time::timeout(t.send, s.shutdown()).await.is_err() {
        return;
    }
    let until = tokio::time::Instant::now() + t.linger_time;
    let mut tmp = vec![0u8; 8192];
    loop {
        let deadline = until.min(tokio::time::Instant::now() + t.linger_timeout);
        match tokio::time::timeout_at(deadline, s.read(&mut tmp)).await {
            Ok(Ok(n)) if n > 0 => continue,
            _ => return,
        }
    }
}

/// Waits until the connection's last request's mirror subrequests are done.
async fn mirrors(id: u64) {
    std::future::poll_fn(|cx| {
        if crate::http::mirror::conn_wait(id, cx) {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await
}
