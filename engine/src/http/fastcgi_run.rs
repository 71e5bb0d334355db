//! `fastcgi_pass` at run time (nginx: ngx_http_fastcgi_module.c's handler, create_request,
//! process_record/process_header and input filter, over ngx_http_upstream.c's connect,
//! next-upstream and response forwarding). The upstream layer (peers, `upstream{}` blocks,
//! balancers, the keep-alive pool, `$upstream_*`) is proxy_run.rs's and upstream_rr.rs's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use parser::Directive;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::lower::LocConf;
use super::proxy_run::{
    self as pr, arg, cv, msecs, TryState, FT_403, FT_404, FT_ERROR, FT_INVALID_HEADER,
    FT_NON_IDEMPOTENT, FT_TIMEOUT,
};
use super::request::Request;
use super::response::Reply;
use super::upstream_rr::{self, Picker, UpConn, Upstream};
use super::variables::ComplexValue;
use crate::conf::values::{atoi, parse_size};
use crate::log::Level;

// ---------------------------------------------------------------------------------------------
// Configuration

/// `fastcgi_pass`'s address (nginx: `flcf->upstream.upstream` or `flcf->fastcgi_lengths`).
#[derive(Debug)]
pub(crate) struct Pass {
    dynamic: Option<ComplexValue>,
    /// The host an `upstream{}` block is looked up by (lowercase).
    host: Vec<u8>,
    implicit: Option<Arc<Upstream>>,
}

/// One `fastcgi_param` (nginx: ngx_http_upstream_param_t).
#[derive(Debug, Clone)]
struct Param {
    key: Vec<u8>,
    value: ComplexValue,
    /// The value is the empty string (an `HTTP_*` param that only blocks its header).
    empty_literal: bool,
    skip_empty: bool,
}

/// The fastcgi settings of a level (nginx: ngx_http_fastcgi_loc_conf_t's run-time fields).
#[derive(Debug, Clone, Default)]
pub(crate) struct FcgiConf {
    pass: Option<Arc<Pass>>,
    /// The level's `fastcgi_param` list: a level with any replaces its parent's.
    params: Option<Arc<Vec<Param>>>,
    index: Option<Vec<u8>>,
    split: Option<Arc<crate::regex::Regex>>,
    pass_request_headers: Option<bool>,
    pass_request_body: Option<bool>,
    intercept_errors: Option<bool>,
    keep_conn: Option<bool>,
    buffer_size: Option<usize>,
    buffers: Option<(usize, usize)>,
    hide: Option<Arc<Vec<Vec<u8>>>>,
    pass_headers: Option<Arc<Vec<Vec<u8>>>>,
    ignore_xa: Option<bool>,
    catch_stderr: Option<Arc<Vec<Vec<u8>>>>,
    connect_timeout: Option<Duration>,
    send_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    next_upstream: Option<u32>,
    next_tries: Option<usize>,
    next_timeout: Option<Duration>,
    /// `fastcgi_request_buffering`.
    request_buffering: Option<bool>,
    /// `fastcgi_socket_keepalive`.
    socket_keepalive: Option<bool>,
}

fn conf(c: &mut LocConf) -> &mut FcgiConf {
    Arc::make_mut(c.fastcgi.get_or_insert_with(Default::default))
}

fn push_list(slot: &mut Option<Arc<Vec<Vec<u8>>>>, v: Vec<u8>) {
    let mut l = slot.as_deref().cloned().unwrap_or_default();
    l.push(v);
    *slot = Some(Arc::new(l));
}

/// nginx: ngx_http_fastcgi_pass's address (no variables): the implicit upstream of a literal
/// address, resolved now.
fn static_pass(url: &[u8]) -> Pass {
    let o = crate::http::upstream::UrlOpts {
        default_port: 0,
        uri_part: false,
        no_resolve: true,
        listen: false,
    };
    let Ok(u) = crate::http::upstream::parse_url(url, o) else {
        return Pass {
            dynamic: None,
            host: url.to_ascii_lowercase(),
            implicit: None,
        };
    };
    let implicit = if u.unix.is_some() || !u.no_port {
        Some(Arc::new(upstream_rr::implicit(&u.host, url, 0)))
    } else {
        None
    };
    Pass {
        dynamic: None,
        host: u.host.to_ascii_lowercase(),
        implicit,
    }
}

/// Folds one fastcgi directive into a level (called from `Lowering::apply`).
pub(crate) fn lower(c: &mut LocConf, d: &Directive) -> bool {
    let on = || arg(d, 0).eq_ignore_ascii_case(b"on");
    match d.name.as_slice() {
        b"fastcgi_pass" => {
            pr::mark_used();
            let url = arg(d, 0);
            let value = cv(url);
            let pass = if value.is_static() {
                static_pass(url)
            } else {
                Pass {
                    dynamic: Some(value),
                    host: Vec::new(),
                    implicit: None,
                }
            };
            conf(c).pass = Some(Arc::new(pass));
        }
        b"fastcgi_param" => {
            let p = conf(c);
            let mut v = p.params.as_deref().cloned().unwrap_or_default();
            v.push(Param {
                key: arg(d, 0).to_vec(),
                value: cv(arg(d, 1)),
                empty_literal: arg(d, 1).is_empty(),
                skip_empty: arg(d, 2) == b"if_not_empty",
            });
            p.params = Some(Arc::new(v));
        }
        b"fastcgi_index" => conf(c).index = Some(arg(d, 0).to_vec()),
        b"fastcgi_split_path_info" => {
            if let Ok(re) = crate::regex::build(arg(d, 0), false) {
                conf(c).split = Some(Arc::new(re));
            }
        }
        b"fastcgi_pass_request_headers" => conf(c).pass_request_headers = Some(on()),
        b"fastcgi_pass_request_body" => conf(c).pass_request_body = Some(on()),
        b"fastcgi_request_buffering" => conf(c).request_buffering = Some(on()),
        b"fastcgi_socket_keepalive" => conf(c).socket_keepalive = Some(on()),
        b"fastcgi_intercept_errors" => conf(c).intercept_errors = Some(on()),
        b"fastcgi_keep_conn" => conf(c).keep_conn = Some(on()),
        b"fastcgi_buffer_size" => {
            conf(c).buffer_size = parse_size(arg(d, 0)).and_then(|n| usize::try_from(n).ok())
        }
        b"fastcgi_buffers" => {
            let n = atoi(arg(d, 0)).and_then(|n| usize::try_from(n).ok());
            let s = parse_size(arg(d, 1)).and_then(|n| usize::try_from(n).ok());
            if let (Some(n), Some(s)) = (n, s) {
                conf(c).buffers = Some((n, s));
            }
        }
        b"fastcgi_hide_header" => push_list(&mut conf(c).hide, arg(d, 0).to_ascii_lowercase()),
        b"fastcgi_pass_header" => {
            push_list(&mut conf(c).pass_headers, arg(d, 0).to_ascii_lowercase())
        }
        b"fastcgi_catch_stderr" => push_list(&mut conf(c).catch_stderr, arg(d, 0).to_vec()),
        b"fastcgi_ignore_headers" => {
            conf(c).ignore_xa = Some(
                d.args
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(b"X-Accel-Redirect")),
            )
        }
        b"fastcgi_connect_timeout" => conf(c).connect_timeout = msecs(arg(d, 0)),
        b"fastcgi_send_timeout" => conf(c).send_timeout = msecs(arg(d, 0)),
        b"fastcgi_read_timeout" => conf(c).read_timeout = msecs(arg(d, 0)),
        b"fastcgi_next_upstream_tries" => {
            conf(c).next_tries = atoi(arg(d, 0)).and_then(|n| usize::try_from(n).ok())
        }
        b"fastcgi_next_upstream_timeout" => conf(c).next_timeout = msecs(arg(d, 0)),
        b"fastcgi_next_upstream" => {
            let m = d.args.iter().fold(0, |m, a| m | pr::ft_bit(a));
            conf(c).next_upstream = Some(m);
        }
        _ => return false,
    }
    true
}

/// nginx: ngx_http_fastcgi_merge_loc_conf: what a level did not set comes from its parent;
/// `fastcgi_pass` is the level's own (an `if` block's is found through its location).
pub(crate) fn merge(c: &mut LocConf, parent: &LocConf) {
    let Some(pp) = parent.fastcgi.as_ref() else {
        return;
    };
    let Some(own) = c.fastcgi.as_mut() else {
        if pp.pass.is_none() {
            c.fastcgi = Some(pp.clone());
        } else {
            let mut p = pp.as_ref().clone();
            p.pass = None;
            c.fastcgi = Some(Arc::new(p));
        }
        return;
    };
    let p = Arc::make_mut(own);
    macro_rules! inherit {
        ($($f:ident),*) => {$(
            if p.$f.is_none() {
                p.$f = pp.$f.clone();
            }
        )*};
    }
    inherit!(
        params,
        index,
        split,
        pass_request_headers,
        pass_request_body,
        intercept_errors,
        keep_conn,
        buffer_size,
        buffers,
        hide,
        pass_headers,
        ignore_xa,
        catch_stderr,
        connect_timeout,
        send_timeout,
        read_timeout,
        next_upstream,
        next_tries,
        next_timeout,
        request_buffering,
        socket_keepalive
    );
}

/// The location has `fastcgi_pass` (nginx: `clcf->auto_redirect` of ngx_http_fastcgi_pass).
pub(crate) fn auto_redirect(c: &LocConf) -> bool {
    c.fastcgi.as_ref().is_some_and(|p| p.pass.is_some())
}

// ---------------------------------------------------------------------------------------------
// $fastcgi_script_name, $fastcgi_path_info

/// nginx: ngx_http_fastcgi_split: the URI cut by `fastcgi_split_path_info`.
fn split(r: &Request) -> (Vec<u8>, Vec<u8>) {
    let re = r.loc.fastcgi.as_ref().and_then(|f| f.split.clone());
    let Some(re) = re else {
        return (r.uri.clone(), Vec::new());
    };
    match re.re.captures(&r.uri) {
        Ok(Some(caps)) => {
            let part = |i| {
                caps.get(i)
                    .map(|m| m.as_bytes().to_vec())
                    .unwrap_or_default()
            };
            (part(1), part(2))
        }
        _ => (r.uri.clone(), Vec::new()),
    }
}

/// nginx: ngx_http_fastcgi_script_name_variable / ngx_http_fastcgi_path_info_variable.
pub(crate) fn variable(r: &Request, name: &[u8]) -> Option<Vec<u8>> {
    let (mut script, info) = split(r);
    if name == b"fastcgi_path_info" {
        return Some(info);
    }
    if script.last() == Some(&b'/') {
        if let Some(i) = r.loc.fastcgi.as_ref().and_then(|f| f.index.as_ref()) {
            script.extend_from_slice(i);
        }
    }
    Some(script)
}

// ---------------------------------------------------------------------------------------------
// The request

const BEGIN_REQUEST: u8 = 1;
const END_REQUEST: u8 = 3;
const PARAMS: u8 = 4;
const STDIN: u8 = 5;
const STDOUT: u8 = 6;
const STDERR: u8 = 7;

fn record_header(out: &mut Vec<u8>, typ: u8, len: usize, padding: usize) {
    out.extend_from_slice(&[1, typ, 0, 1, (len >> 8) as u8, len as u8, padding as u8, 0]);
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    if n > 127 {
        out.extend_from_slice(&[
            ((n >> 24) & 0x7f) as u8 | 0x80,
            (n >> 16) as u8,
            (n >> 8) as u8,
            n as u8,
        ]);
    } else {
        out.push(n as u8);
    }
}

/// nginx: ngx_http_fastcgi_create_request: BEGIN_REQUEST, one PARAMS record (the configured
/// params, then the client's headers as `HTTP_*`), an empty PARAMS record, the body in STDIN
/// records of up to 32 KiB each padded to 8 bytes, and an empty STDIN record.
fn create_request(r: &Request, fc: &FcgiConf, body: Option<&[u8]>) -> Result<Vec<u8>, ()> {
    let mut params = Vec::with_capacity(1024);
    let mut blocked: Vec<Vec<u8>> = Vec::new();
    if let Some(list) = &fc.params {
        for p in list.iter() {
            if p.key.len() > 5 && p.key.starts_with(b"HTTP_") {
                blocked.push(p.key[5..].to_ascii_lowercase());
                if p.empty_literal {
                    continue;
                }
            }
            let v = r.eval(&p.value);
            if p.skip_empty && v.is_empty() {
                continue;
            }
            // nginx writes the name's length as one byte.
            params.push(p.key.len() as u8);
            put_len(&mut params, v.len());
            params.extend_from_slice(&p.key);
            params.extend_from_slice(&v);
        }
    }
    if fc.pass_request_headers != Some(false) {
        for (n, v) in pr::client_headers(r) {
            let low: Vec<u8> = n
                .iter()
                .map(|&c| {
                    if c == b'-' {
                        b'_'
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect();
            if blocked.contains(&low) {
                continue;
            }
            // nginx: ngx_http_fastcgi_hide_cache_headers when the response may be cached
            if super::file_cache::upstream_request_headers(r).is_some()
                && super::file_cache::UPSTREAM_HEADERS
                    .iter()
                    .any(|m| m.as_bytes().eq_ignore_ascii_case(&n))
            {
                continue;
            }
            put_len(&mut params, 5 + n.len());
            put_len(&mut params, v.len());
            params.extend_from_slice(b"HTTP_");
            params.extend(n.iter().map(|&c| {
                if c == b'-' {
                    b'_'
                } else {
                    c.to_ascii_uppercase()
                }
            }));
            params.extend_from_slice(&v);
        }
    }
    if params.len() > 65535 {
        crate::http::errlog::log(
            r,
            Level::Alert,
            &format!("fastcgi request record is too big: {}", params.len()),
        );
        return Err(());
    }
    let keep = u8::from(fc.keep_conn == Some(true));
    let body_len = body.map_or(0, <[u8]>::len);
    let mut out = Vec::with_capacity(64 + params.len() + body_len + body_len / 4096);
    record_header(&mut out, BEGIN_REQUEST, 8, 0);
    out.extend_from_slice(&[0, 1, keep, 0, 0, 0, 0, 0]);
    let padding = (8 - params.len() % 8) % 8;
    record_header(&mut out, PARAMS, params.len(), padding);
    out.extend_from_slice(&params);
    out.resize(out.len() + padding, 0);
    record_header(&mut out, PARAMS, 0, 0);
    if let Some(body) = body {
        for chunk in body.chunks(32 * 1024) {
            let padding = (8 - chunk.len() % 8) % 8;
            record_header(&mut out, STDIN, chunk.len(), padding);
            out.extend_from_slice(chunk);
            out.resize(out.len() + padding, 0);
        }
    }
    record_header(&mut out, STDIN, 0, 0);
    Ok(out)
}

/// The empty STDIN record that ends a request's body.
const EMPTY_STDIN: [u8; 8] = [1, STDIN, 0, 1, 0, 0, 0, 0];

/// Body bytes as STDIN records of up to 32 KiB each, padded to 8 bytes (nginx:
/// ngx_http_fastcgi_body_output_filter).
fn stdin_records(out: &mut Vec<u8>, data: &[u8]) {
    for chunk in data.chunks(32 * 1024) {
        let padding = (8 - chunk.len() % 8) % 8;
        record_header(out, STDIN, chunk.len(), padding);
        out.extend_from_slice(chunk);
        out.resize(out.len() + padding, 0);
    }
}

// ---------------------------------------------------------------------------------------------
// Records

/// Why reading failed.
enum RecErr {
    Io(std::io::Error),
    Timeout,
    Closed,
    /// nginx's text of a malformed record (logged as its own line).
    Invalid(String),
    /// The head did not fit `fastcgi_buffer_size`.
    TooBig,
}

/// Reads FastCGI records from an upstream connection (nginx: ngx_http_fastcgi_process_record).
struct Records {
    conn: UpConn,
    buf: Vec<u8>,
    pos: usize,
    /// Bytes read from the upstream (`$upstream_bytes_received`).
    received: u64,
    /// While the head is read: nginx's `u->buffer` (`fastcgi_buffer_size`), and how much of
    /// it is filled since it was last emptied.
    limit: Option<usize>,
    window: usize,
    /// The answering try's body count (`$upstream_response_length`).
    live: Option<Arc<std::sync::Mutex<pr::Live>>>,
    /// The whole request went (the connection may serve another).
    reusable: bool,
}

impl Records {
    /// Reads more; Ok(false) at the end of the stream.
    async fn fill(&mut self, timeout: Duration) -> Result<bool, RecErr> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        let mut tmp = [0u8; 16384];
        let max = match self.limit {
            Some(l) if self.window >= l => return Err(RecErr::TooBig),
            Some(l) => (l - self.window).min(tmp.len()),
            None => tmp.len(),
        };
        match tokio::time::timeout(timeout, self.conn.stream.read(&mut tmp[..max])).await {
            Err(_) => Err(RecErr::Timeout),
            Ok(Err(e)) => Err(RecErr::Io(e)),
            Ok(Ok(0)) => Ok(false),
            Ok(Ok(n)) => {
                self.received += n as u64;
                if let Some(l) = &self.live {
                    pr::count_body(l, n);
                }
                self.window += n;
                self.buf.extend_from_slice(&tmp[..n]);
                Ok(true)
            }
        }
    }

    fn avail(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next record's header: (type, content length, padding).
    async fn header(&mut self, timeout: Duration) -> Result<(u8, usize, usize), RecErr> {
        while self.avail() < 8 {
            // nginx checks the bytes as they come.
            self.check(self.avail())?;
            if !self.fill(timeout).await? {
                return Err(RecErr::Closed);
            }
        }
        self.check(8)?;
        let h = &self.buf[self.pos..self.pos + 8];
        let len = (usize::from(h[4]) << 8) | usize::from(h[5]);
        let out = (h[1], len, usize::from(h[6]));
        self.pos += 8;
        Ok(out)
    }

    fn check(&self, n: usize) -> Result<(), RecErr> {
        let h = &self.buf[self.pos..self.pos + n.min(8)];
        if let Some(&v) = h.first() {
            if v != 1 {
                return Err(RecErr::Invalid(format!(
                    "upstream sent unsupported FastCGI protocol version: {v}"
                )));
            }
        }
        if let Some(&t) = h.get(1) {
            if !matches!(t, STDOUT | STDERR | END_REQUEST) {
                return Err(RecErr::Invalid(format!(
                    "upstream sent invalid FastCGI record type: {t}"
                )));
            }
        }
        if let Some(&b) = h.get(2) {
            if b != 0 {
                return Err(RecErr::Invalid(format!(
                    "upstream sent unexpected FastCGI request id high byte: {b}"
                )));
            }
        }
        if let Some(&b) = h.get(3) {
            if b != 1 {
                return Err(RecErr::Invalid(format!(
                    "upstream sent unexpected FastCGI request id low byte: {b}"
                )));
            }
        }
        Ok(())
    }

    /// Up to `max` bytes of the current record's content (reading when none are buffered).
    async fn data(&mut self, max: usize, timeout: Duration) -> Result<Vec<u8>, RecErr> {
        if self.avail() == 0 && !self.fill(timeout).await? {
            return Err(RecErr::Closed);
        }
        let n = self.avail().min(max);
        let out = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        Ok(out)
    }

    /// Skips `n` bytes (padding).
    async fn skip(&mut self, mut n: usize, timeout: Duration) -> Result<(), RecErr> {
        while n > 0 {
            if self.avail() == 0 && !self.fill(timeout).await? {
                return Err(RecErr::Closed);
            }
            let k = self.avail().min(n);
            self.pos += k;
            n -= k;
        }
        Ok(())
    }
}

/// Writes an upstream error line as nginx does: `ctx` around `msg`, the whole line cut at
/// NGX_MAX_ERROR_STR (2048 bytes with its time, level, pid and newline).
fn log_capped(level: Level, ctx: &(String, String), msg: &str) {
    let mut line = format!("{}{msg}{}", ctx.0, ctx.1);
    let prefix =
        crate::log::log_time().len() + level.name().len() + 4 + crate::log::pid_tid().len() + 2;
    let max = 2047usize.saturating_sub(prefix);
    if line.len() > max {
        let mut cut = max;
        while cut > 0 && !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
    }
    crate::http::errlog::write(level, &line);
}

/// nginx's stderr text: trailing LF, CR, `.` and spaces dropped.
fn stderr_text(msg: &[u8]) -> String {
    let mut end = msg.len();
    while end > 1 && matches!(msg[end - 1], b'\n' | b'\r' | b'.' | b' ') {
        end -= 1;
    }
    String::from_utf8_lossy(&msg[..end]).into_owned()
}

/// A parsed response head.
struct Head {
    status: u16,
    status_line: Option<Vec<u8>>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Body bytes of the last STDOUT record read with the head.
    rest: Vec<u8>,
    /// What is left of the current STDOUT record after `rest`, and its padding.
    left: usize,
    padding: usize,
}

/// Header-phase failures: the kind for next_upstream and the log line.
type HeadFail = (Fail, String);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fail {
    Error,
    Timeout,
    InvalidHeader,
}

/// nginx: ngx_http_parse_header_line over the STDOUT bytes: Some((headers, consumed)) once
/// the empty line came; Err(text) for an invalid line.
#[allow(clippy::type_complexity)]
fn parse_headers(b: &[u8]) -> Result<Option<(Vec<(Vec<u8>, Vec<u8>)>, usize)>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let Some(nl) = b[pos..].iter().position(|&c| c == b'\n') else {
            return Ok(None);
        };
        let mut line = &b[pos..pos + nl];
        let next = pos + nl + 1;
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        if line.is_empty() {
            return Ok(Some((out, next)));
        }
        let (name, value) = match line.iter().position(|&c| c == b':') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &line[line.len()..]),
        };
        if let Some(bad) = name.iter().position(|&c| c <= 0x20 || c == 0x7f) {
            if bad > 0 || name.is_empty() {
                let shown = String::from_utf8_lossy(&name[..bad]);
                return Err(format!(
                    "upstream sent invalid header: \"{shown}\\x{:02X}...\"",
                    name[bad]
                ));
            }
        }
        let trim = |s: &[u8]| {
            let a = s
                .iter()
                .position(|&c| c != b' ' && c != b'\t')
                .unwrap_or(s.len());
            let e = s
                .iter()
                .rposition(|&c| c != b' ' && c != b'\t')
                .map_or(a, |i| i + 1);
            s[a..e.max(a)].to_vec()
        };
        out.push((name.to_vec(), trim(value)));
        pos = next;
    }
}

/// nginx: ngx_http_fastcgi_process_header: records up to the end of the response head;
/// stderr records are logged, later ones wait for the body.
async fn read_head(
    r: &Request,
    rec: &mut Records,
    fc: &FcgiConf,
    size: usize,
    timeout: Duration,
    up_text: &str,
) -> Result<Head, HeadFail> {
    let closed = |e: RecErr, what: &str| -> HeadFail {
        match e {
            RecErr::Timeout => (
                Fail::Timeout,
                "upstream timed out (110: Connection timed out) while reading response header from upstream".into(),
            ),
            RecErr::Closed => (
                Fail::Error,
                format!("upstream prematurely closed connection while reading {what} from upstream"),
            ),
            RecErr::Io(e) => (
                Fail::Error,
                format!(
                    "recv() failed{} while reading response header from upstream",
                    pr::errno_text(&e)
                ),
            ),
            RecErr::Invalid(m) => (
                Fail::InvalidHeader,
                format!("{m} while reading response header from upstream"),
            ),
            RecErr::TooBig => (
                Fail::InvalidHeader,
                "upstream sent too big header while reading response header from upstream"
                    .into(),
            ),
        }
    };
    let mut text: Vec<u8> = Vec::new();
    rec.limit = Some(size);
    let mut stdout_seen = false;
    loop {
        let (typ, len, padding) = rec
            .header(timeout)
            .await
            .map_err(|e| closed(e, "response header"))?;
        if typ != STDOUT && typ != STDERR {
            return Err((
                Fail::InvalidHeader,
                format!("upstream sent unexpected FastCGI record: {typ} while reading response header from upstream"),
            ));
        }
        if typ == STDOUT && len == 0 {
            return Err((
                Fail::InvalidHeader,
                "upstream prematurely closed FastCGI stdout while reading response header from upstream".into(),
            ));
        }
        if typ == STDERR {
            let mut left = len;
            while left > 0 {
                let part = rec
                    .data(left, timeout)
                    .await
                    .map_err(|e| closed(e, "response header"))?;
                left -= part.len();
                let msg = stderr_text(&part);
                log_capped(
                    Level::Error,
                    &pr::upstream_ctx(r, up_text),
                    &format!("FastCGI sent in stderr: \"{msg}\" while reading response header from upstream"),
                );
                // nginx: stderr before any output does not fill the buffer (large_stderr).
                if !stdout_seen && rec.avail() == 0 {
                    rec.window = 0;
                }
                if let Some(pats) = &fc.catch_stderr {
                    if pats.iter().any(|p| find_sub(&part, p).is_some()) {
                        return Err((Fail::InvalidHeader, String::new()));
                    }
                }
            }
            rec.skip(padding, timeout)
                .await
                .map_err(|e| closed(e, "response header"))?;
            continue;
        }
        stdout_seen = true;
        let mut left = len;
        while left > 0 {
            let part = rec
                .data(left, timeout)
                .await
                .map_err(|e| closed(e, "response header"))?;
            left -= part.len();
            text.extend_from_slice(&part);
            match parse_headers(&text) {
                Err(m) => {
                    return Err((
                        Fail::InvalidHeader,
                        format!("{m} while reading response header from upstream"),
                    ))
                }
                Ok(None) => {}
                Ok(Some((headers, consumed))) => {
                    let rest = text[consumed..].to_vec();
                    let mut status = 200;
                    let mut status_line = None;
                    let find = |n: &[u8]| {
                        headers
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(n))
                            .map(|(_, v)| v.clone())
                    };
                    if let Some(s) = find(b"status") {
                        let code = s
                            .get(..3)
                            .filter(|d| d.iter().all(u8::is_ascii_digit))
                            .and_then(|d| std::str::from_utf8(d).ok())
                            .and_then(|d| d.parse::<u16>().ok());
                        match code {
                            Some(c) => {
                                status = c;
                                status_line = Some(s);
                            }
                            None => {
                                return Err((
                                    Fail::InvalidHeader,
                                    format!(
                                        "upstream sent invalid status \"{}\" while reading response header from upstream",
                                        String::from_utf8_lossy(&s)
                                    ),
                                ))
                            }
                        }
                    } else if find(b"location").is_some() {
                        status = 302;
                    }
                    rec.limit = None;
                    return Ok(Head {
                        status,
                        status_line,
                        headers,
                        rest,
                        left,
                        padding,
                    });
                }
            }
        }
        rec.skip(padding, timeout)
            .await
            .map_err(|e| closed(e, "response header"))?;
    }
}

fn find_sub(h: &[u8], n: &[u8]) -> Option<usize> {
    if n.is_empty() {
        return Some(0);
    }
    h.windows(n.len()).position(|w| w == n)
}

// ---------------------------------------------------------------------------------------------
// The content handler

/// The location's `fastcgi_pass` (an `if` block uses its location's).
fn pass_of(r: &Request) -> Option<Arc<Pass>> {
    if let Some(p) = r.loc.fastcgi.as_ref().and_then(|p| p.pass.clone()) {
        return Some(p);
    }
    let l = r.location.as_ref()?;
    if Arc::ptr_eq(&l.conf, &r.loc) {
        return None;
    }
    l.conf.fastcgi.as_ref().and_then(|p| p.pass.clone())
}

/// nginx: ngx_http_fastcgi_handler + ngx_http_upstream_init_request: `None` when the
/// location does not pass to FastCGI.
pub(crate) async fn content(r: &mut Request) -> Option<Reply> {
    let pass = pass_of(r)?;
    let fc = r.loc.fastcgi.clone().unwrap_or_default();
    if r.loc.fastcgi_cache.is_some() {
        use super::file_cache::{begin, finish, Begin, Module};
        match begin(r, Module::Fastcgi, None).await {
            Begin::Off => {}
            Begin::Answer(reply) => return Some(reply),
            Begin::Fetch(p) => {
                p.prepare(r);
                let reply = fastcgi(r, &pass, &fc).await;
                p.restore(r);
                return Some(finish(r, p, reply).await);
            }
        }
    }
    Some(fastcgi(r, &pass, &fc).await)
}

/// The upstream of this request (nginx: ngx_http_fastcgi_eval, then the lookup of
/// ngx_http_upstream_init_request).
/// An upstream, or the name and port the resolver gives peers for.
type Found = Result<Arc<Upstream>, (Vec<u8>, u16)>;

/// The upstream of this request (Err: the status to answer with).
fn find_upstream(r: &Request, pass: &Pass) -> Result<Found, u16> {
    let ups = r.loc.proxy.as_ref().and_then(|p| p.upstreams.clone());
    let Some(v) = &pass.dynamic else {
        if let Some(u) = ups.as_ref().and_then(|m| m.get(&pass.host)) {
            return Ok(Ok(u.clone()));
        }
        return pass.implicit.clone().map(Ok).ok_or(502);
    };
    let url = r.eval(v);
    let o = crate::http::upstream::UrlOpts {
        default_port: 0,
        uri_part: false,
        no_resolve: true,
        listen: false,
    };
    let u = match crate::http::upstream::parse_url(&url, o) {
        Ok(u) => u,
        Err(e) => {
            crate::http::errlog::request_error(
                r,
                &format!("{e} in upstream \"{}\"", pr::lossy(&url)),
            );
            return Err(500);
        }
    };
    if u.no_port && u.unix.is_none() {
        if let Some(up) = ups
            .as_ref()
            .and_then(|m| m.get(&u.host.to_ascii_lowercase()))
        {
            return Ok(Ok(up.clone()));
        }
    }
    let literal = u.unix.is_some()
        || !u.addrs.is_empty()
        || std::str::from_utf8(&u.host)
            .ok()
            .map(|s| s.trim_start_matches('[').trim_end_matches(']'))
            .is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok());
    if literal && (u.unix.is_some() || !u.no_port) {
        return Ok(Ok(Arc::new(upstream_rr::implicit(&u.host, &url, 0))));
    }
    Ok(Err((u.host.to_ascii_lowercase(), u.port)))
}

async fn fastcgi(r: &mut Request, pass: &Pass, fc: &FcgiConf) -> Reply {
    let has_body = r.headers.contains_key(hyper::header::CONTENT_LENGTH)
        || r.headers.contains_key(hyper::header::TRANSFER_ENCODING);
    // nginx: ngx_http_fastcgi_handler: `fastcgi_request_buffering off` sends the body as it
    // arrives (FastCGI frames it, so chunked bodies too).
    let passed = fc.pass_request_body != Some(false);
    let mut streamed = None;
    let incoming = if has_body && pr::unbuffered_body(r, fc.request_buffering, passed, true) {
        crate::http::lua::vm::ctx_of(r).borrow_mut().incoming.take()
    } else {
        None
    };
    if let Some(b) = incoming {
        match pr::body_ready(r, b).await {
            Ok((pre, body)) => {
                streamed = Some(pr::Streamed {
                    pre,
                    body,
                    chunked: !r.headers.contains_key(hyper::header::CONTENT_LENGTH),
                });
            }
            Err(Ok(all)) => {
                crate::http::lua::vm::ctx_of(r).borrow_mut().body = Some(all);
            }
            Err(Err(reply)) => return reply,
        }
    }
    let body = if streamed.is_some() {
        None
    } else if has_body && passed {
        let b = match pr::request_body_checked(r).await {
            Ok(b) => b,
            Err(reply) => return reply,
        };
        if !r.headers.contains_key(hyper::header::CONTENT_LENGTH) {
            // nginx: a chunked body read whole sets `content_length_n` ($content_length).
            r.vars
                .insert(b"content_length".to_vec(), b.len().to_string().into_bytes());
        }
        Some(b)
    } else if fc.pass_request_body != Some(false) {
        Some(Vec::new())
    } else {
        None
    };
    let up = match find_upstream(r, pass) {
        Ok(Ok(u)) => u,
        Ok(Err((host, port))) => match pr::resolve_peers(r, &host, port).await {
            Ok(u) => u,
            Err(s) => return Reply::status(s),
        },
        Err(s) => return Reply::status(s),
    };
    let Ok(mut req_bytes) = create_request(r, fc, body.as_deref()) else {
        return Reply::status(500);
    };
    let streaming = streamed.is_some();
    if streaming {
        // the empty STDIN record goes after the streamed body
        req_bytes.truncate(req_bytes.len().saturating_sub(8));
    }
    let schema = "fastcgi://";
    let mut connect_timeout = fc.connect_timeout.unwrap_or(Duration::from_secs(60));
    let mut send_timeout = fc.send_timeout.unwrap_or(Duration::from_secs(60));
    let mut read_timeout = fc.read_timeout.unwrap_or(Duration::from_secs(60));
    let balancer = up.balancer.clone();
    let mut last_failure: Option<String> = None;
    let next = fc.next_upstream.unwrap_or(FT_ERROR | FT_TIMEOUT);
    let mut tries_left = match fc.next_tries {
        Some(n) if n > 0 => n.min(up.tries()),
        _ => up.tries(),
    };
    let started = Instant::now();
    let next_timeout = fc.next_timeout.filter(|d| !d.is_zero());
    let idempotent = !matches!(r.method.as_str(), "POST" | "LOCK" | "PATCH");
    let ip = r.conn.remote.map(|a| match a.ip() {
        std::net::IpAddr::V4(v) => v.octets()[..3].to_vec(),
        std::net::IpAddr::V6(v) => v.octets().to_vec(),
    });
    let hash_key = match &up.method {
        upstream_rr::Method::Hash { key, .. } => Some(r.eval(key)),
        upstream_rr::Method::IpHash => Some(Vec::new()),
        _ => None,
    };
    let mut picker = Picker::new(up.clone(), hash_key);
    let mut states: Vec<TryState> = Vec::new();
    let buffer_size = fc.buffer_size.unwrap_or(4096).max(64);
    loop {
        let (pref, peer_addr, peer_name) = if let Some(h) = &balancer {
            let Some(choice) = crate::http::lua::balancer::run(r, h, last_failure.take()).await
            else {
                return Reply::status(500);
            };
            let Some(peer) = choice.peer else {
                pr::upstream_log(
                    r,
                    Level::Error,
                    "lua balancer: no peer set while connecting to upstream",
                    &format!("{schema}{}", pr::lossy(&up.name)),
                );
                return Reply::status(500);
            };
            tries_left += choice.more_tries;
            if let Some([c, s, rd]) = choice.timeouts {
                connect_timeout = c.unwrap_or(connect_timeout);
                send_timeout = s.unwrap_or(send_timeout);
                read_timeout = rd.unwrap_or(read_timeout);
            }
            let addr = match peer.strip_prefix("unix:") {
                Some(p) => upstream_rr::PeerAddr::Unix(p.as_bytes().to_vec()),
                None => match peer.parse() {
                    Ok(a) => upstream_rr::PeerAddr::Inet(a),
                    Err(_) => return Reply::status(500),
                },
            };
            (None, addr, peer)
        } else {
            let Some((pref, peer)) = picker.get(ip.as_deref()) else {
                let upname = format!("{schema}{}", pr::lossy(&up.name));
                pr::upstream_log(
                    r,
                    Level::Error,
                    "no live upstreams while connecting to upstream",
                    &upname,
                );
                states.push(TryState {
                    addr: upname,
                    status: "502".into(),
                    ..Default::default()
                });
                pr::set_states(r, &states);
                return Reply::status(502);
            };
            (Some(pref), peer.addr.clone(), peer.name.clone())
        };
        let sep = if matches!(peer_addr, upstream_rr::PeerAddr::Unix(_)) {
            ":"
        } else {
            ""
        };
        let up_text = format!("{schema}{peer_name}{sep}");
        // nginx logs timeouts after freeing the peer: no `:` after a unix socket's name.
        let up_text_timeout = format!("{schema}{peer_name}");
        let mut st = TryState {
            addr: peer_name.clone(),
            ..Default::default()
        };
        let t0 = Instant::now();
        tries_left = tries_left.saturating_sub(1);
        let can_retry = |kind: u32, sent: bool| {
            tries_left > 0
                && next & kind != 0
                && (!sent || idempotent || next & FT_NON_IDEMPOTENT != 0)
                // nginx: a body sent as it came cannot be sent again
                && !(sent && streaming)
                && next_timeout.is_none_or(|d| started.elapsed() < d)
        };
        let conn = match upstream_rr::take_idle(&up, &peer_addr) {
            Some(c) => Ok(c),
            None => match tokio::time::timeout(connect_timeout, upstream_rr::connect(&peer_addr))
                .await
            {
                Ok(Ok(c)) => {
                    upstream_rr::CONNECTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    Ok(c)
                }
                Ok(Err(e)) => {
                    let msg = match &peer_addr {
                        upstream_rr::PeerAddr::Unix(_) => format!(
                            "connect() to {peer_name} failed{} while connecting to upstream",
                            pr::errno_text(&e)
                        ),
                        _ => format!(
                            "connect() failed{} while connecting to upstream",
                            pr::errno_text(&e)
                        ),
                    };
                    pr::upstream_log(r, Level::Error, &msg, &up_text);
                    Err(Fail::Error)
                }
                Err(_) => {
                    pr::upstream_log(
                        r,
                        Level::Error,
                        "upstream timed out (110: Connection timed out) while connecting to upstream",
                        &up_text_timeout,
                    );
                    Err(Fail::Timeout)
                }
            },
        };
        let mut conn = match conn {
            Ok(c) => c,
            Err(f) => {
                st.status = if f == Fail::Timeout { "504" } else { "502" }.into();
                st.response_time = Some(t0.elapsed());
                states.push(st);
                pr::fail_peer(r, &mut picker, pref, &up_text);
                last_failure = Some(format!(
                    "failed {}",
                    states.last().map_or("502", |s| s.status.as_str())
                ));
                let kind = if f == Fail::Timeout {
                    FT_TIMEOUT
                } else {
                    FT_ERROR
                };
                if can_retry(kind, false) {
                    continue;
                }
                pr::set_states(r, &states);
                return Reply::status(if f == Fail::Timeout { 504 } else { 502 });
            }
        };
        st.connect_time = Some(t0.elapsed());
        let reused = conn.reused;
        let mut all_sent = true;
        let mut early = Vec::new();
        if fc.socket_keepalive == Some(true) && !reused {
            upstream_rr::set_keepalive(&conn.stream);
        }
        let sent = if let Some(s) = streamed.as_mut() {
            let timeouts = pr::StreamTimeouts {
                send: send_timeout,
                body: r.loc.client_body_timeout.unwrap_or(Duration::from_secs(60)),
                read: read_timeout,
            };
            let max = r.loc.client_max_body_size.unwrap_or(1 << 20);
            let n = std::cell::Cell::new(0);
            // nginx reads the response while the body goes: an answer that starts first ends
            // the sending (what came is read as the head's start)
            let res = {
                let (mut rd, mut wr) = tokio::io::split(&mut conn.stream);
                let send = pr::send_streamed(
                    &mut wr,
                    &req_bytes,
                    s,
                    &timeouts,
                    max,
                    stdin_records,
                    &EMPTY_STDIN,
                    &n,
                );
                tokio::pin!(send);
                let mut tmp = vec![0u8; 4096];
                tokio::select! {
                    res = &mut send => res,
                    got = rd.read(&mut tmp) => {
                        all_sent = false;
                        if let Ok(k) = got {
                            early.extend_from_slice(&tmp[..k]);
                        }
                        Ok(())
                    }
                }
            };
            st.sent = n.get();
            match res {
                Ok(()) => Ok(Ok(())),
                Err(pr::StreamErr::Upstream(pr::Fail::Timeout, _)) => Err(()),
                Err(pr::StreamErr::Upstream(_, m)) => Ok(Err(m)),
                Err(pr::StreamErr::Client(status, line)) => {
                    if let Some((level, m)) = line {
                        pr::upstream_log(r, level, &m, &up_text);
                    }
                    pr::free_ok(&mut picker, pref);
                    st.status = "-".into();
                    st.response_time = Some(t0.elapsed());
                    states.push(st);
                    pr::set_states(r, &states);
                    let mut reply = Reply::status(status);
                    reply.drop = status == 400;
                    reply.close = true;
                    return reply;
                }
            }
        } else {
            let res = tokio::time::timeout(send_timeout, async {
                conn.stream.write_all(&req_bytes).await?;
                conn.stream.flush().await
            })
            .await;
            if matches!(res, Ok(Ok(()))) {
                st.sent = req_bytes.len() as u64;
            }
            match res {
                Ok(Ok(())) => Ok(Ok(())),
                Ok(Err(e)) => Ok(Err(format!(
                    "writev() failed{} while sending request to upstream",
                    pr::errno_text(&e)
                ))),
                Err(_) => Err(()),
            }
        };
        let send_fail: Option<HeadFail> = match sent {
            Ok(Ok(())) => None,
            Ok(Err(m)) => Some((Fail::Error, m)),
            Err(()) => Some((
                Fail::Timeout,
                "upstream timed out (110: Connection timed out) while sending request to upstream"
                    .to_string(),
            )),
        };
        let mut rec = Records {
            conn,
            received: early.len() as u64,
            window: early.len(),
            buf: early,
            pos: 0,
            limit: None,
            live: None,
            reusable: all_sent,
        };
        let head = match send_fail {
            Some(f) => Err(f),
            None => read_head(r, &mut rec, fc, buffer_size, read_timeout, &up_text).await,
        };
        let head = match head {
            Ok(h) => h,
            Err((f, msg)) => {
                if reused && f == Fail::Error && !streaming {
                    tries_left += 1;
                    pr::free_ok(&mut picker, pref);
                    continue;
                }
                if !msg.is_empty() {
                    let text = if f == Fail::Timeout {
                        &up_text_timeout
                    } else {
                        &up_text
                    };
                    pr::upstream_log(r, Level::Error, &msg, text);
                }
                st.status = if f == Fail::Timeout { "504" } else { "502" }.into();
                st.response_time = Some(t0.elapsed());
                st.bytes = rec.received;
                states.push(st);
                let action = if msg.contains("while sending request") {
                    "sending request to upstream"
                } else {
                    "reading response header from upstream"
                };
                pr::fail_peer_at(r, &mut picker, pref, &up_text, action);
                last_failure = Some(format!(
                    "failed {}",
                    states.last().map_or("502", |s| s.status.as_str())
                ));
                let kind = match f {
                    Fail::Timeout => FT_TIMEOUT,
                    Fail::Error => FT_ERROR,
                    Fail::InvalidHeader => FT_INVALID_HEADER,
                };
                if can_retry(kind, true) {
                    continue;
                }
                pr::set_states(r, &states);
                return Reply::status(if f == Fail::Timeout { 504 } else { 502 });
            }
        };
        st.header_time = Some(t0.elapsed());
        st.status = head.status.to_string();
        st.bytes = rec.received;
        let ft = pr::status_ft(head.status);
        if ft != 0 && can_retry(ft, true) {
            st.response_time = Some(t0.elapsed());
            states.push(st);
            if ft == FT_403 || ft == FT_404 {
                pr::free_ok(&mut picker, pref);
                last_failure = Some(format!("next {}", head.status));
            } else {
                pr::fail_peer_at(
                    r,
                    &mut picker,
                    pref,
                    &up_text,
                    "reading response header from upstream",
                );
                last_failure = Some(format!(
                    "failed {}",
                    states.last().map_or("502", |s| s.status.as_str())
                ));
            }
            continue;
        }
        pr::free_ok(&mut picker, pref);
        st.response_time = Some(t0.elapsed());
        // nginx: the answering try's bytes sent and body count at the end
        let sent_n = std::mem::take(&mut st.sent);
        states.push(st);
        pr::set_states(r, &states);
        let (tail, live) = pr::Tail::new(states, t0, sent_n);
        r.upstream_tail = Some(tail);
        // nginx counts what followed the header in its buffer
        let pre = (head.rest.len() + rec.buf.len().saturating_sub(rec.pos)) as u64;
        if let Ok(mut l) = live.lock() {
            l.body = pre;
            l.with_head = pre;
        }
        rec.live = Some(live);
        rec.conn.requests += 1;
        return respond(r, fc, up, peer_addr, rec, head, read_timeout, &up_text).await;
    }
}

/// nginx: ngx_http_upstream_process_headers + ngx_http_upstream_send_response with the
/// fastcgi input filter: the response head for the client, then the body streamed.
#[allow(clippy::too_many_arguments)]
async fn respond(
    r: &mut Request,
    fc: &FcgiConf,
    up: Arc<Upstream>,
    addr: upstream_rr::PeerAddr,
    rec: Records,
    head: Head,
    read_timeout: Duration,
    up_text: &str,
) -> Reply {
    super::proxy_run::upstream_http_vars(r, &head.headers);
    super::file_cache::upstream_response_headers(r, &head.headers);
    let find = |name: &str| super::proxy_run::header_of(&head.headers, name);
    let status = head.status;
    if let Some(reply) =
        super::proxy_run::intercept_errors(r, fc.intercept_errors, status, &head.headers)
    {
        return reply;
    }
    if fc.ignore_xa != Some(true) {
        if let Some(uri) = find("x-accel-redirect") {
            drop(rec);
            return super::proxy_run::accel_redirect(r, uri).await;
        }
    }
    // nginx: ngx_http_fastcgi_hide_headers, plus fastcgi_hide_header, minus
    // fastcgi_pass_header.
    let hidden = |ln: &[u8]| {
        let default = matches!(
            ln,
            b"status"
                | b"x-accel-expires"
                | b"x-accel-redirect"
                | b"x-accel-limit-rate"
                | b"x-accel-buffering"
                | b"x-accel-charset"
        );
        let own = fc.hide.as_ref().is_some_and(|h| h.iter().any(|x| x == ln));
        let passed = fc
            .pass_headers
            .as_ref()
            .is_some_and(|p| p.iter().any(|x| x == ln));
        (default || own) && !passed
    };
    let mut reply = Reply::status(status);
    reply.status_line = head.status_line.clone();
    // nginx: ngx_http_upstream_rewrite_location: a relative Location is not made
    // `r->headers_out.location`, so the header filter leaves every one as sent, in order.
    reply.raw_location = true;
    // nginx: ngx_http_upstream_process_headers; the cache turns it back on when it stores
    reply.no_not_modified = true;
    let mut length: Option<u64> = None;
    for (n, v) in &head.headers {
        let ln = n.to_ascii_lowercase();
        match ln.as_slice() {
            b"content-length" => {
                length = std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                continue;
            }
            b"transfer-encoding" | b"connection" | b"keep-alive" => continue,
            _ => {}
        }
        if hidden(&ln) {
            continue;
        }
        reply.names.note(n);
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(n), HeaderValue::from_bytes(v)) {
            reply.headers.append(n, v);
        }
    }
    reply.length = length;
    let keep = fc.keep_conn == Some(true);
    let head_req = r.method == hyper::Method::HEAD;
    // nginx: ngx_http_fastcgi_input_filter_init: what is left of the body to pass on.
    let rest: Option<u64> = if status == 204 || status == 304 {
        Some(0)
    } else {
        length
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(
        fc.buffers.map_or(8, |b| b.0).max(1),
    );
    let ctx = pr::upstream_ctx(r, up_text);
    tokio::task::spawn_local(pump(
        rec,
        head.rest,
        head.left,
        head.padding,
        rest,
        tx,
        read_timeout,
        up,
        addr,
        keep,
        ctx,
        head_req,
    ));
    reply.body = Some(http_body_util::BodyExt::boxed(pr::ChanBody {
        rx,
        first: None,
    }));
    reply
}

/// Ends the client's response with an error once what was passed on was written (hyper
/// drops its unflushed output when a body fails; nginx sends what it has, then closes).
async fn fail_after_flush(tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>) {
    for _ in 0..200 {
        if tx.capacity() == tx.max_capacity() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let _ = tx.send(Err(std::io::Error::other("upstream body"))).await;
}

/// Reads the rest of the response's records and hands the STDOUT data on (nginx:
/// ngx_http_fastcgi_input_filter / ngx_http_fastcgi_non_buffered_filter); a connection kept
/// with `fastcgi_keep_conn` whose END_REQUEST was read exactly goes back to the pool.
#[allow(clippy::too_many_arguments)]
async fn pump(
    mut rec: Records,
    first: Vec<u8>,
    mut left: usize,
    mut padding: usize,
    mut rest: Option<u64>,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    timeout: Duration,
    up: Arc<Upstream>,
    addr: upstream_rr::PeerAddr,
    keep: bool,
    ctx: (String, String),
    head_req: bool,
) {
    let _done = rec.live.clone().map(pr::BodyDone);
    let log = |level: Level, msg: &str| log_capped(level, &ctx, msg);
    let mut done = false;
    // Passes STDOUT data on, cut at the response's Content-Length; false when the client is
    // gone or the length was reached with more data.
    macro_rules! emit {
        ($data:expr) => {{
            let mut data: Vec<u8> = $data;
            let mut more = true;
            if !data.is_empty() {
                if let Some(n) = rest.as_mut() {
                    if *n == 0 || data.len() as u64 > *n {
                        log(
                            Level::Warn,
                            "upstream sent more data than specified in \"Content-Length\" header while reading upstream",
                        );
                        data.truncate(*n as usize);
                        *n = 0;
                        more = false;
                        done = true;
                    } else {
                        *n -= data.len() as u64;
                    }
                }
                if !head_req && !data.is_empty() && tx.send(Ok(Bytes::from(data))).await.is_err() {
                    return;
                }
            }
            more
        }};
    }
    macro_rules! io {
        ($e:expr) => {
            match $e {
                Ok(v) => v,
                Err(RecErr::Closed) | Err(RecErr::TooBig) => {
                    // nginx: the end of the stream ends the response.
                    return;
                }
                Err(RecErr::Timeout) => {
                    log(
                        Level::Error,
                        "upstream timed out (110: Connection timed out) while reading upstream",
                    );
                    fail_after_flush(&tx).await;
                    return;
                }
                Err(RecErr::Io(e)) => {
                    log(
                        Level::Error,
                        &format!("recv() failed{} while reading upstream", pr::errno_text(&e)),
                    );
                    fail_after_flush(&tx).await;
                    return;
                }
                Err(RecErr::Invalid(m)) => {
                    log(Level::Error, &format!("{m} while reading upstream"));
                    fail_after_flush(&tx).await;
                    return;
                }
            }
        };
    }
    if !emit!(first) {
        return;
    }
    // The rest of the STDOUT record the head ended in.
    while left > 0 {
        let part = io!(rec.data(left, timeout).await);
        left -= part.len();
        if !emit!(part) {
            return;
        }
    }
    io!(rec.skip(padding, timeout).await);
    loop {
        let (typ, len, pad) = io!(rec.header(timeout).await);
        padding = pad;
        match typ {
            STDOUT if len == 0 => {
                if rest.is_some_and(|n| n > 0) {
                    log(
                        Level::Error,
                        "upstream prematurely closed FastCGI stdout while reading upstream",
                    );
                    fail_after_flush(&tx).await;
                    return;
                }
                io!(rec.skip(padding, timeout).await);
            }
            STDOUT => {
                let mut left = len;
                while left > 0 {
                    let part = io!(rec.data(left, timeout).await);
                    left -= part.len();
                    if !emit!(part) {
                        return;
                    }
                }
                io!(rec.skip(padding, timeout).await);
            }
            STDERR => {
                let mut left = len;
                while left > 0 {
                    let part = io!(rec.data(left, timeout).await);
                    left -= part.len();
                    log(
                        Level::Error,
                        &format!(
                            "FastCGI sent in stderr: \"{}\" while reading upstream",
                            stderr_text(&part)
                        ),
                    );
                }
                io!(rec.skip(padding, timeout).await);
            }
            _ => {
                // END_REQUEST
                if rest.is_some_and(|n| n > 0) && !head_req {
                    log(
                        Level::Error,
                        "upstream prematurely closed FastCGI request while reading upstream",
                    );
                    fail_after_flush(&tx).await;
                    return;
                }
                io!(rec.skip(len + padding, timeout).await);
                if keep && rec.reusable && rec.avail() == 0 {
                    upstream_rr::put_idle(&up, &addr, rec.conn);
                }
                return;
            }
        }
        if done {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_trims_like_nginx() {
        assert_eq!(stderr_text(b"oops...\r\n \n"), "oops");
        assert_eq!(stderr_text(b"."), ".");
        assert_eq!(stderr_text(b"a. b"), "a. b");
    }

    #[test]
    fn header_lines() {
        let (h, n) = parse_headers(b"A: 1\nB:  two \r\nNoColon\r\n\r\nbody")
            .ok()
            .flatten()
            .unwrap_or_default();
        assert_eq!(n, 26);
        assert_eq!(
            h,
            vec![
                (b"A".to_vec(), b"1".to_vec()),
                (b"B".to_vec(), b"two".to_vec()),
                (b"NoColon".to_vec(), Vec::new()),
            ]
        );
        assert!(matches!(parse_headers(b"A: 1\r\nB: 2"), Ok(None)));
        assert_eq!(
            parse_headers(b"Bad Name: 1\r\n\r\n")
                .err()
                .unwrap_or_default(),
            "upstream sent invalid header: \"Bad\\x20...\""
        );
    }

    #[test]
    fn param_lengths() {
        let mut v = Vec::new();
        put_len(&mut v, 127);
        put_len(&mut v, 200);
        assert_eq!(v, vec![127, 0x80, 0, 0, 200]);
    }
}
