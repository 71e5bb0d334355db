//! A file response's body: the file whole or in ranges, with the multipart framing between
//! them (nginx: the output of ngx_http_range_body_filter over a file buffer).
//!
//! Two ways out, as nginx's copy and write filters: an HTTP/1.x connection takes the parts
//! from the body's [`FileSend`] handle (found in the response's extensions) and sends them
//! itself, with sendfile(2) on a plain socket when `sendfile on` (nginx:
//! ngx_linux_sendfile_chain), else reading the file into its own output buffer (nginx: the
//! copy filter's `output_buffers`, then one write of the head and the first piece). Anything
//! else (HTTP/2, the sub or gzip filters, subrequests) polls the body's frames: the file read
//! in pieces of [`READ_CHUNK`] bytes.

use std::collections::VecDeque;
use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::Frame;

/// A piece of a file response: bytes, or `len` bytes of the file from `start`.
pub(crate) enum Part {
    Bytes(Bytes),
    File(u64, u64),
}

/// Bytes read from the file at a time when it is read (nginx 1.22 reads into
/// `output_buffers 2 32k`; larger reads cost fewer system calls for the same copy).
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// The parts still to send and their file.
struct Queue {
    file: Arc<File>,
    parts: VecDeque<Part>,
}

/// The body of a file response (`http_body::Body`).
pub(crate) struct FileParts {
    q: Arc<Mutex<Queue>>,
}

/// The handle an HTTP/1.x connection finds in the response's extensions to send the file
/// body itself.
#[derive(Clone)]
pub(crate) struct FileSend {
    q: Arc<Mutex<Queue>>,
    /// `sendfile on`.
    pub(crate) sendfile: bool,
    /// `sendfile_max_chunk` (0: none): bytes sent before the connection lets others run.
    pub(crate) max_chunk: u64,
}

/// The body of `parts` of `file`, and its handle for the connection.
pub(crate) fn body(
    file: File,
    parts: Vec<Part>,
    sendfile: bool,
    max_chunk: u64,
) -> (FileParts, FileSend) {
    let q = Arc::new(Mutex::new(Queue {
        file: Arc::new(file),
        parts: parts.into(),
    }));
    let send = FileSend {
        q: q.clone(),
        sendfile,
        max_chunk,
    };
    (FileParts { q }, send)
}

impl FileSend {
    /// Takes the parts (the body has nothing left to give after this).
    pub(crate) fn take(&self) -> Option<(Arc<File>, VecDeque<Part>)> {
        let mut q = self.q.lock().ok()?;
        let parts = std::mem::take(&mut q.parts);
        Some((q.file.clone(), parts))
    }
}

/// pread(2) of up to `n` bytes at `pos` appended to `buf` (no zero-filling first).
pub(crate) fn pread_append(
    file: &File,
    buf: &mut Vec<u8>,
    n: usize,
    pos: u64,
) -> std::io::Result<usize> {
    let off = libc::off_t::try_from(pos).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    buf.reserve(n);
    let len = buf.len();
    loop {
        // SAFETY: the spare capacity holds at least `n` bytes after the reserve; pread
        // writes at most `n` bytes there and the length grows by what it wrote.
        let got =
            unsafe { libc::pread(file.as_raw_fd(), buf.as_mut_ptr().add(len).cast(), n, off) };
        if got < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let got = got as usize;
        if got == 0 {
            // nginx: "file was truncated" (ngx_read_file got less than the buffer).
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        // SAFETY: pread initialized `got` bytes after `len`.
        unsafe { buf.set_len(len + got) };
        return Ok(got);
    }
}

impl hyper::body::Body for FileParts {
    type Data = Bytes;
    type Error = std::io::Error;

    /// Reads the file in the worker, as nginx does without `aio`: a page-cache read costs
    /// less than a trip to a blocking-pool thread.
    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let Ok(mut q) = self.q.lock() else {
            return Poll::Ready(None);
        };
        loop {
            match q.parts.pop_front() {
                None => return Poll::Ready(None),
                Some(Part::Bytes(b)) => return Poll::Ready(Some(Ok(Frame::data(b)))),
                Some(Part::File(_, 0)) => continue,
                Some(Part::File(pos, left)) => {
                    let n = usize::try_from(left).map_or(READ_CHUNK, |l| l.min(READ_CHUNK));
                    let mut buf = Vec::new();
                    return match pread_append(&q.file, &mut buf, n, pos) {
                        Ok(got) => {
                            let got = got as u64;
                            if left > got {
                                q.parts.push_front(Part::File(pos + got, left - got));
                            }
                            Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))))
                        }
                        Err(e) => {
                            q.parts.clear();
                            Poll::Ready(Some(Err(e)))
                        }
                    };
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.q.lock().map_or(true, |q| q.parts.is_empty())
    }
}

/// A socket sendfile(2) can write to: tokio's TCP and unix streams (not TLS).
trait Sock {
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>>;
    fn attempt(&self, f: impl FnOnce() -> std::io::Result<usize>) -> std::io::Result<usize>;
    fn fd(&self) -> RawFd;
}

impl Sock for tokio::net::TcpStream {
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_write_ready(cx)
    }
    fn attempt(&self, f: impl FnOnce() -> std::io::Result<usize>) -> std::io::Result<usize> {
        self.try_io(tokio::io::Interest::WRITABLE, f)
    }
    fn fd(&self) -> RawFd {
        self.as_raw_fd()
    }
}

impl Sock for tokio::net::UnixStream {
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_write_ready(cx)
    }
    fn attempt(&self, f: impl FnOnce() -> std::io::Result<usize>) -> std::io::Result<usize> {
        self.try_io(tokio::io::Interest::WRITABLE, f)
    }
    fn fd(&self) -> RawFd {
        self.as_raw_fd()
    }
}

/// Whether `stream` is a socket [`poll_sendfile`] can write to.
pub(crate) fn is_plain(stream: &dyn std::any::Any) -> bool {
    stream.is::<tokio::net::TcpStream>() || stream.is::<tokio::net::UnixStream>()
}

/// One sendfile(2) of up to `len` bytes of `file` from `off` to `stream` when it is a plain
/// socket (`None`: it is not): the bytes sent, `Ok(0)` if the file ended early.
pub(crate) fn poll_sendfile(
    stream: &dyn std::any::Any,
    cx: &mut Context<'_>,
    file: &File,
    off: u64,
    len: usize,
) -> Option<Poll<std::io::Result<usize>>> {
    if let Some(s) = stream.downcast_ref::<tokio::net::TcpStream>() {
        return Some(poll_op(s, cx, file, off, len));
    }
    if let Some(s) = stream.downcast_ref::<tokio::net::UnixStream>() {
        return Some(poll_op(s, cx, file, off, len));
    }
    None
}

fn poll_op<S: Sock>(
    s: &S,
    cx: &mut Context<'_>,
    file: &File,
    off: u64,
    len: usize,
) -> Poll<std::io::Result<usize>> {
    let Ok(off) = libc::off_t::try_from(off) else {
        return Poll::Ready(Err(std::io::ErrorKind::InvalidInput.into()));
    };
    loop {
        match s.poll_ready(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => {}
        }
        let fd = s.fd();
        let r = s.attempt(|| loop {
            let mut at = off;
            // SAFETY: both descriptors are open for the call; `at` is an offset variable
            // the kernel updates.
            let n = unsafe { libc::sendfile(fd, file.as_raw_fd(), &mut at, len) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        });
        match r {
            // try_io cleared the readiness: the next poll_ready waits for it.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            r => return Poll::Ready(r),
        }
    }
}
