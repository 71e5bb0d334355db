//! ngx_http_gunzip_filter_module.

use crate::conf::{cmd, Args, Ctx, Module, Set, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_gunzip_filter_module",
    commands: &[
        cmd("gunzip", Ctx::HTTP_MSL, Args::FLAG, Set::Slot(Slot::Flag)),
        cmd(
            "gunzip_buffers",
            Ctx::HTTP_MSL,
            Args::TAKE2,
            Set::Slot(Slot::Bufs),
        ),
    ],
};

// ---- runtime: the header and body filters ----

/// Folds `gunzip` into a level (`gunzip_buffers` only sizes nginx's output buffers: the
/// decompressed bytes are the same).
pub(crate) fn lower(c: &mut crate::http::lower::LocConf, d: &parser::Directive) -> bool {
    match d.name.as_slice() {
        b"gunzip" => {
            let on = d
                .args
                .first()
                .is_some_and(|a| a.eq_ignore_ascii_case(b"on"));
            c.gunzip = Some(on);
            true
        }
        b"gunzip_buffers" => true,
        _ => false,
    }
}

/// nginx: ngx_http_gunzip_header_filter's test: the response is `Content-Encoding: gzip`
/// (exactly four letters, any case), `gunzip on`, and the client may not have it compressed
/// (ngx_http_gzip_ok, which a subrequest never passes). `Some(())` means decompress; the
/// caller sets `r->gzip_vary` whenever the encoding is gzip (`vary` is set to true).
pub(crate) fn wanted(
    r: &crate::http::request::Request,
    list: &[(hyper::header::HeaderName, hyper::header::HeaderValue)],
    last_modified: bool,
    vary: &mut bool,
) -> bool {
    if r.loc.gunzip != Some(true) {
        return false;
    }
    // nginx: r->headers_out.content_encoding is the last Content-Encoding line.
    let Some(ce) = list
        .iter()
        .rev()
        .find(|(n, _)| n == hyper::header::CONTENT_ENCODING)
    else {
        return false;
    };
    if !ce.1.as_bytes().eq_ignore_ascii_case(b"gzip") {
        return false;
    }
    *vary = true;
    r.sub != 0 || !crate::http::gzip::gzip_ok(r, Some(list), last_modified)
}

/// Where the body filter's error lines go: the request's logs and its context around the
/// message (the body runs after the request's phases, without the request).
pub(crate) struct Logger {
    logs: Option<std::sync::Arc<Vec<std::sync::Arc<crate::http::errlog::ErrorLog>>>>,
    before: String,
    after: String,
}

impl Logger {
    pub(crate) fn new(r: &crate::http::request::Request) -> Logger {
        let line = crate::http::errlog::with_context(r, "\u{0}");
        let (before, after) = line.split_once('\u{0}').unwrap_or((&line, ""));
        Logger {
            logs: r.loc.error_log.clone(),
            before: before.to_string(),
            after: after.to_string(),
        }
    }

    pub(crate) fn error(&self, msg: &str) {
        let level = crate::log::Level::Error;
        let text = format!("{}{msg}{}", self.before, self.after);
        match &self.logs {
            Some(logs) => crate::http::errlog::write_to(logs, level, &text),
            None => {
                if crate::http::errlog::wants(level) {
                    crate::http::errlog::write(level, &text)
                }
            }
        }
    }
}

/// zlib's codes in nginx's log lines.
const Z_NO_FLUSH: i32 = 0;
const Z_FINISH: i32 = 4;
const Z_DATA_ERROR: i32 = -3;
const Z_BUF_ERROR: i32 = -5;

/// The gunzip body filter (nginx: ngx_http_gunzip_body_filter): the gzip members of the
/// body inflated one after another; a broken stream ends the response with nginx's error
/// line (`inflate() failed: FLUSH, -3`, or `inflate() returned -5 on response end` for a
/// truncated one), which closes the connection.
pub(crate) struct GunzipBody {
    inner: crate::http::response::Body,
    dec: flate2::Decompress,
    /// Bytes of the current member's gzip header still being gathered (the raw deflate
    /// stream starts after it).
    header: Vec<u8>,
    /// In the deflate data of a member (its header was read).
    in_member: bool,
    /// The 8-byte trailer still to skip after a member ended.
    trailer: usize,
    /// A member's header was read (an empty body is a truncated stream to zlib).
    started: bool,
    /// The body is a file's: its last piece is nginx's `last_buf` buffer (inflated with
    /// Z_FINISH); other bodies end with an empty one (their data goes with Z_NO_FLUSH).
    file: bool,
    done: bool,
    log: Logger,
}

impl GunzipBody {
    pub(crate) fn new(inner: crate::http::response::Body, log: Logger, file: bool) -> GunzipBody {
        GunzipBody {
            inner,
            dec: flate2::Decompress::new(false),
            header: Vec::new(),
            in_member: false,
            trailer: 0,
            started: false,
            file,
            done: false,
            log,
        }
    }

    /// Inflates `data` (`last`: the body's end follows) into `out`; `Err` is nginx's
    /// error line.
    fn feed(&mut self, mut data: &[u8], last: bool, out: &mut Vec<u8>) -> Result<(), String> {
        let flush = if last { Z_FINISH } else { Z_NO_FLUSH };
        let failed = || format!("inflate() failed: {flush}, {Z_DATA_ERROR}");
        loop {
            if self.trailer > 0 {
                let n = self.trailer.min(data.len());
                self.trailer -= n;
                data = &data[n..];
                if self.trailer > 0 {
                    break;
                }
                // nginx: Z_STREAM_END with input left: inflateReset, the next member.
            }
            if data.is_empty() {
                break;
            }
            if !self.in_member {
                self.header.extend_from_slice(data);
                data = &[];
                match gzip_header_len(&self.header) {
                    HeaderLen::Bad => return Err(failed()),
                    HeaderLen::Short => break,
                    HeaderLen::Len(n) => {
                        let rest = self.header.split_off(n);
                        self.header.clear();
                        self.in_member = true;
                        self.started = true;
                        self.dec.reset(false);
                        // The rest is inflated below: keep it until the loop comes back.
                        self.feed_member(&rest, out).map_err(|_| failed())?;
                        continue;
                    }
                }
            }
            let used = self.feed_member(data, out).map_err(|_| failed())?;
            data = &data[used..];
        }
        if last && (!self.started || self.in_member || !self.header.is_empty() || self.trailer > 0)
        {
            return Err(format!("inflate() returned {Z_BUF_ERROR} on response end"));
        }
        Ok(())
    }

    /// Inflates the current member's deflate data; returns the bytes of `data` used. At the
    /// member's end the trailer is skipped and what follows starts a new member.
    fn feed_member(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<usize, ()> {
        let mut pos = 0;
        loop {
            out.reserve(32 * 1024);
            let before_in = self.dec.total_in();
            let status = self
                .dec
                .decompress_vec(&data[pos..], out, flate2::FlushDecompress::None)
                .map_err(|_| ())?;
            pos += usize::try_from(self.dec.total_in() - before_in).unwrap_or(0);
            if status == flate2::Status::StreamEnd {
                self.in_member = false;
                self.trailer = 8;
                let n = self.trailer.min(data.len() - pos);
                self.trailer -= n;
                pos += n;
                if pos < data.len() {
                    // Another member follows: its header goes through `feed`.
                    let rest = data[pos..].to_vec();
                    self.header.extend_from_slice(&rest);
                    pos = data.len();
                    match gzip_header_len(&self.header) {
                        HeaderLen::Bad => return Err(()),
                        HeaderLen::Short => {}
                        HeaderLen::Len(n) => {
                            let rest = self.header.split_off(n);
                            self.header.clear();
                            self.in_member = true;
                            self.started = true;
                            self.dec.reset(false);
                            self.feed_member(&rest, out)?;
                        }
                    }
                }
                return Ok(pos);
            }
            if pos >= data.len() && out.len() < out.capacity() {
                return Ok(pos);
            }
        }
    }
}

enum HeaderLen {
    Short,
    Bad,
    Len(usize),
}

/// The length of the gzip member header at the start of `b` (RFC 1952: magic, method 8,
/// flags, mtime, xfl, os, then the optional extra field, name, comment and header CRC).
fn gzip_header_len(b: &[u8]) -> HeaderLen {
    if b.len() < 10 {
        let magic = [0x1f, 0x8b, 8];
        return match b.iter().zip(magic.iter()).all(|(x, y)| x == y) {
            true => HeaderLen::Short,
            false => HeaderLen::Bad,
        };
    }
    if b[..3] != [0x1f, 0x8b, 8] || b[3] & 0xe0 != 0 {
        return HeaderLen::Bad;
    }
    let flags = b[3];
    let mut n = 10;
    if flags & 4 != 0 {
        let Some(x) = b.get(n..n + 2) else {
            return HeaderLen::Short;
        };
        n += 2 + usize::from(u16::from_le_bytes([x[0], x[1]]));
    }
    for bit in [8u8, 16] {
        if flags & bit != 0 {
            match b.get(n..).and_then(|t| t.iter().position(|&c| c == 0)) {
                Some(z) => n += z + 1,
                None => return HeaderLen::Short,
            }
        }
    }
    if flags & 2 != 0 {
        n += 2;
    }
    if b.len() < n {
        return HeaderLen::Short;
    }
    HeaderLen::Len(n)
}

impl hyper::body::Body for GunzipBody {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, std::io::Error>>> {
        use std::task::Poll;
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            let (data, last) = match std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(d) => (d, self.file && self.inner.is_end_stream()),
                    Err(_) => continue,
                },
                Poll::Ready(None) => (bytes::Bytes::new(), true),
            };
            let mut out = Vec::new();
            let this = &mut *self;
            if let Err(msg) = this.feed(&data, last, &mut out) {
                this.done = true;
                this.log.error(&msg);
                return Poll::Ready(Some(Err(std::io::Error::other(msg))));
            }
            if last {
                this.done = true;
            }
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(hyper::body::Frame::data(out.into()))));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gz(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        let _ = e.write_all(data);
        e.finish().unwrap_or_default()
    }

    fn body() -> GunzipBody {
        GunzipBody {
            inner: crate::http::response::empty(),
            dec: flate2::Decompress::new(false),
            header: Vec::new(),
            in_member: false,
            trailer: 0,
            started: false,
            file: true,
            done: false,
            log: Logger {
                logs: None,
                before: String::new(),
                after: String::new(),
            },
        }
    }

    #[test]
    fn members_in_pieces() {
        let mut all = gz(b"hello ");
        all.extend(gz(&b"world ".repeat(5000)));
        for step in [1, 3, 7, 100, all.len()] {
            let mut b = body();
            let mut out = Vec::new();
            let chunks: Vec<&[u8]> = all.chunks(step).collect();
            for (i, c) in chunks.iter().enumerate() {
                assert!(
                    b.feed(c, i + 1 == chunks.len(), &mut out).is_ok(),
                    "step {step}"
                );
            }
            let mut want = b"hello ".to_vec();
            want.extend(b"world ".repeat(5000));
            assert_eq!(out, want, "step {step}");
        }
    }

    #[test]
    fn broken_streams() {
        let all = gz(b"hello world");
        let mut out = Vec::new();
        assert_eq!(
            body().feed(&all[..all.len() - 4], true, &mut out),
            Err("inflate() returned -5 on response end".into())
        );
        assert_eq!(
            body().feed(b"", true, &mut out),
            Err("inflate() returned -5 on response end".into())
        );
        assert_eq!(
            body().feed(b"not gzip at all", true, &mut out),
            Err("inflate() failed: 4, -3".into())
        );
    }
}
