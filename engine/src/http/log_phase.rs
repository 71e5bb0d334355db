//! The log phase: runs once the response has been sent (or the client went away), so
//! `$body_bytes_sent`, `$bytes_sent` and `$request_time` count what was really sent, as in
//! nginx's ngx_http_log_request at request finalization.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};

use super::request::Request;
use super::response::Body;

/// The response head as sent: `$sent_http_*` and the head's part of `$bytes_sent`.
pub(crate) struct Sent {
    pub(crate) headers: super::response::Headers,
    /// Bytes of the status line and headers, blank line included.
    pub(crate) head_len: u64,
}

/// A response body that counts what it hands to the connection and runs the log phase
/// (log_by_lua*, then access_log) when it is dropped.
pub(crate) struct Logged {
    inner: Body,
    pending: Option<Pending>,
}

/// What the log phase needs once the body is done.
struct Pending {
    /// Boxed: a streaming Lua content handler keeps the request's address (lua/stream.rs).
    r: Box<Request>,
    /// Keeps the request's Lua context alive until log_by_lua* has run.
    guard: crate::http::lua::phases::BodyGuard,
    chunked: bool,
    body: u64,
    framing: u64,
    /// The last chunk's framing is counted (hyper ends the body without another poll when
    /// the body says it is at its end).
    ended: bool,
}

impl Logged {
    /// `chunked`: the body goes out in HTTP/1.1 chunks (their framing counts in `$bytes_sent`).
    pub(crate) fn new(
        inner: Body,
        r: impl Into<Box<Request>>,
        guard: crate::http::lua::phases::BodyGuard,
        chunked: bool,
    ) -> Logged {
        let r = r.into();
        // a streaming Lua content handler goes on once its request is here
        crate::http::lua::stream::settled(&r);
        Logged {
            inner,
            pending: Some(Pending {
                r,
                guard,
                chunked,
                body: 0,
                framing: 0,
                ended: false,
            }),
        }
    }

    /// `ngx.req.socket(true)` wrote `sent` bytes: they count as the body's (nginx: `c->sent`
    /// less the head's size); `head`: whether the head went out before (if not, `$status` is
    /// what `ngx.status` set, 0 when nothing did).
    pub(crate) fn raw_sent(&mut self, sent: u64, head: bool) {
        let Some(p) = self.pending.as_mut() else {
            return;
        };
        p.body += sent;
        if !head {
            if let Some(s) = p.r.sent.as_mut() {
                s.head_len = 0;
            }
            p.r.status = crate::http::lua::socket::raw_status(&p.r);
        }
    }

    /// While the request's streamed Lua content handler still runs: a future that ends with
    /// it (the connection waits for it after a header-only answer or a raw request socket).
    pub(crate) fn lua_running(&self) -> Option<impl std::future::Future<Output = ()>> {
        crate::http::lua::stream::running(&self.pending.as_ref()?.r)
    }
}

impl Logged {
    /// The connection's write waited `send_timeout` in vain (nginx: ngx_http_writer, or Lua's
    /// write event handler, logs "client timed out"; a streaming Lua handler's waiting
    /// `ngx.flush(true)` returns "timeout").
    pub(crate) fn timed_out(&mut self) {
        let Some(p) = self.pending.as_ref() else {
            return;
        };
        crate::http::lua::stream::log_timed_out(&p.r);
        if crate::http::lua::used() {
            crate::http::lua::stream::timed_out(&p.r);
        }
    }
}

impl Logged {
    /// Body bytes the connection sent itself, not through `poll_frame` (a file body sent
    /// by h1.rs, engine/src/http/file_body.rs).
    pub(crate) fn sent_outside(&mut self, n: u64) {
        if let Some(p) = self.pending.as_mut() {
            p.body += n;
        }
    }
}

/// The head's size on the wire: `HTTP/1.1 200 OK\r\n`, each `Name: value\r\n`, `\r\n`.
pub(crate) fn head_len(reason_len: usize, headers: &super::response::Headers) -> u64 {
    let mut n = "HTTP/1.1 000 \r\n".len() + reason_len + 2;
    for (name, value) in headers {
        n += name.as_str().len() + 2 + value.len() + 2;
    }
    n as u64
}

impl hyper::body::Body for Logged {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Some(p) = this.pending.as_mut() {
            match &polled {
                Poll::Ready(Some(Ok(f))) => {
                    if let Some(d) = f.data_ref() {
                        let n = d.len() as u64;
                        p.body += n;
                        if p.chunked && n > 0 {
                            // the size in hex, CRLF after it and after the data
                            let hex_digits = u64::from(64 - n.leading_zeros()).div_ceil(4);
                            p.framing += hex_digits + 4;
                        }
                    }
                }
                Poll::Ready(None) if p.chunked && !p.ended => {
                    p.framing += 5;
                    p.ended = true;
                }
                _ => {}
            }
            if p.chunked
                && !p.ended
                && matches!(polled, Poll::Ready(Some(Ok(_))))
                && this.inner.is_end_stream()
            {
                // the last chunk: "0" CRLF CRLF
                p.framing += 5;
                p.ended = true;
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let Some(p) = self.pending.take() else {
            return;
        };
        let Pending {
            mut r,
            guard,
            body,
            framing,
            ..
        } = p;
        // nginx: $body_bytes_sent is what went out after the head, chunk framing included.
        r.body_bytes_sent = body + framing;
        // nginx: the upstream's figures as the response ended ($upstream_response_length...).
        crate::http::proxy_run::finish_states(&mut r);
        // A streaming Lua content handler still running (after ngx.eof, or the client went
        // away): the request is finalized, and logged, when it ends.
        if let Some(done) = crate::http::lua::stream::running(&r) {
            if tokio::task::try_id().is_some() {
                tokio::task::spawn_local(async move {
                    done.await;
                    if r.loc.lua_log.is_some() {
                        crate::http::lua::log(&mut r).await;
                    }
                    crate::http::access_log::log(&r);
                    drop(guard);
                });
                return;
            }
        }
        // nginx: a request with background subrequests (mirror) is finalized, and logged,
        // after them. (nginx also holds the connection until then; oxresty does not: the
        // next request or the close does not wait for a slow mirror.)
        if let Some(subs) = crate::http::mirror::background(&r) {
            if tokio::task::try_id().is_some() {
                tokio::task::spawn_local(async move {
                    for s in subs {
                        let _ = s.await;
                    }
                    if crate::http::lua::used() && r.loc.lua_log.is_some() {
                        crate::http::lua::log(&mut r).await;
                    }
                    crate::http::access_log::log(&r);
                    drop(guard);
                });
                return;
            }
        }
        // Without log_by_lua* the request ends here, before the connection reads its next
        // request (a pipelined one must not see this request's cosockets still open).
        if !crate::http::lua::used() || r.loc.lua_log.is_none() {
            crate::http::access_log::log(&r);
            if crate::http::lua::used() {
                crate::http::lua::vm::drop_ctx(&r);
            }
            drop(guard);
            return;
        }
        // log_by_lua* may yield: it runs as its own task on the worker, when there is one.
        if tokio::task::try_id().is_none() {
            crate::http::access_log::log(&r);
            return;
        }
        tokio::task::spawn_local(async move {
            crate::http::lua::log(&mut r).await;
            crate::http::access_log::log(&r);
            drop(guard);
        });
    }
}
