//! The request head as nginx reads it (nginx: ngx_http_parse_request_line,
//! ngx_http_parse_header_line, ngx_http_process_request_line/_headers/_header and
//! ngx_http_alloc_large_header_buffer), and the connection directives' values.
//!
//! Why a parser of our own: hyper (httparse) accepts heads nginx refuses (no `Host` on
//! HTTP/1.1, `Content-Length` with `Transfer-Encoding`, duplicate unique headers, lower-case
//! methods, `HTTP/2.0` versions) and refuses heads nginx serves (header lines without a
//! colon, control bytes in values, `HTTP/1.2`, names nginx ignores). The HTTP/1.x connection
//! (engine/src/http/h1.rs) reads every head with this module (nginx's state machines and
//! buffer model, byte for byte) and answers nginx's status for a refused head.

use std::time::Duration;

use parser::Directive;

use super::lower::LocConf;
use crate::conf::values::{atoi, parse_size, parse_time};

/// The server-level limits of head reading (nginx: ngx_http_core_srv_conf_t).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// `client_header_buffer_size`.
    pub(crate) buffer: usize,
    /// `large_client_header_buffers number size`.
    pub(crate) large_num: usize,
    pub(crate) large_size: usize,
    /// `underscores_in_headers`.
    pub(crate) underscores: bool,
    /// `ignore_invalid_headers`.
    pub(crate) ignore_invalid: bool,
    /// `merge_slashes` (nginx normalizes the URI with the default server's setting, before
    /// the virtual server is known).
    pub(crate) merge_slashes: bool,
}

impl Limits {
    pub(crate) fn of(c: &LocConf) -> Limits {
        let (large_num, large_size) = c.large_client_header_buffers.unwrap_or((4, 8192));
        Limits {
            buffer: c.client_header_buffer_size.unwrap_or(1024).max(1),
            large_num,
            large_size: large_size.max(1),
            underscores: c.underscores_in_headers.unwrap_or(false),
            ignore_invalid: c.ignore_invalid_headers.unwrap_or(true),
            merge_slashes: c.merge_slashes.unwrap_or(true),
        }
    }
}

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// A request head as nginx parsed it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Head {
    /// The request line without its line end (nginx: `r->request_line`).
    pub(crate) line: bytes::Bytes,
    pub(crate) method: bytes::Bytes,
    /// The target as sent, without `scheme://host` (nginx: `r->unparsed_uri`).
    pub(crate) target: bytes::Bytes,
    /// Where `line`, `method` and `target` are in the parsed bytes, while the head is
    /// parsed (they become slices of one copy of the head).
    pub(crate) at: [Option<(usize, usize)>; 3],
    /// The host of an absolute-URI target, validated (nginx: `r->headers_in.server`).
    pub(crate) line_host: Option<Vec<u8>>,
    /// nginx: `r->http_version` (major * 1000 + minor; 9 for HTTP/0.9).
    pub(crate) version: u32,
    /// Header lines kept (invalid ones nginx ignores are left out), as sent, in the head's
    /// bytes (from the buffer's start to the empty line).
    pub(crate) headers: crate::http::req_headers::ReqHeaders,
    /// The header lines' name and value positions while the head is parsed.
    pub(crate) spans: Vec<[usize; 4]>,
    /// The `spans` names' bits (see [`known`]): lookups of names no line has end at once.
    pub(crate) known: u64,
    /// The validated `Host` header (nginx: ngx_http_validate_host), when the head has one
    /// nginx accepted.
    pub(crate) host: Option<Vec<u8>>,
    pub(crate) framing: Option<Framing>,
    /// The status nginx answers a refused head with (494 = "Request Header Or Cookie Too
    /// Large"), and the info-level text it logs.
    pub(crate) error: Option<(u16, String)>,
    /// Info-level lines nginx logs for a head it still accepts (ignored header lines).
    pub(crate) notes: Vec<String>,
    /// The URI (`%XX` decoded, `.` and `..` resolved, `//` merged) and the arguments, as
    /// nginx makes them from the target once the request line is read (see [`parse_uri`]).
    pub(crate) uri: Option<(Vec<u8>, Vec<u8>)>,
    /// The request line was complete: errors are "while reading client request headers".
    pub(crate) in_headers: bool,
    /// The head's bytes as received, from the request line to the empty line (kept when
    /// Lua may ask for them: `ngx.req.raw_header()`).
    pub(crate) raw: Option<bytes::Bytes>,
}

impl Head {
    pub(crate) fn framing(&self) -> Framing {
        self.framing.unwrap_or(Framing::None)
    }

    /// A header's first value (names compared case-insensitively).
    #[inline]
    pub(crate) fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers.line(name)
    }

    /// nginx: ngx_http_process_connection: `close` or `keep-alive` in `Connection`.
    pub(crate) fn connection(&self) -> Option<bool> {
        let v = self.header(b"connection")?.to_ascii_lowercase();
        let has = |w: &[u8]| v.windows(w.len()).any(|x| x == w);
        if has(b"close") {
            Some(false)
        } else if has(b"keep-alive") {
            Some(true)
        } else {
            None
        }
    }
}

/// What [`parse`] found in the bytes so far.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// More bytes are needed.
    Again,
    /// A complete head (or nginx's refusal of it) and the bytes it used.
    Done(Box<Head>, usize),
}

/// Where the request-line parser is (nginx: ngx_http_parse_request_line's states).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Rl {
    Start,
    Method,
    SpacesBeforeUri,
    Schema,
    SchemaSlash,
    SchemaSlashSlash,
    HostStart,
    Host,
    HostIpLiteral,
    Port,
    Uri,
    Http09,
    /// `H`, `HT`, `HTT`, `HTTP` of the version seen.
    Http1,
    Http2,
    Http3,
    Http4,
    FirstMajor,
    Major,
    FirstMinor,
    Minor,
    SpacesAfterDigit,
    AlmostDone,
}

/// Where the header-line parser is (nginx: ngx_http_parse_header_line's states).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Hl {
    Start,
    Name,
    SpaceBeforeValue,
    Value,
    SpaceAfterValue,
    AlmostDone,
    HeaderAlmostDone,
}

/// nginx's header buffers: the first `client_header_buffer_size` one, then up to
/// `large_client_header_buffers` ones into which the current line is moved when a buffer
/// fills up (nginx: ngx_http_alloc_large_header_buffer).
struct Buffers {
    start: usize,
    cap: usize,
    large: usize,
}

/// Parses a request head from `buf` (which starts where the request starts) as nginx does.
///
/// nginx: ngx_http_process_request_line + ngx_http_process_request_headers +
/// ngx_http_process_request_header.
pub(crate) fn parse(buf: &[u8], lim: &Limits) -> Parsed {
    let parsed = match fast_head(buf, lim) {
        Some(done) => done,
        None => parse_head(buf, lim),
    };
    finish(buf, parsed)
}

/// The error's log context and the one copy of the head that [`Head`]'s fields slice.
fn finish(buf: &[u8], parsed: Parsed) -> Parsed {
    let Parsed::Done(mut h, used) = parsed else {
        return parsed;
    };
    if let Some((_, msg)) = h.error.as_mut() {
        // nginx's log context: the action, and the request line as far as it was sent
        // (ngx_http_log_error_handler).
        msg.push_str(if h.in_headers {
            " while reading client request headers"
        } else {
            " while reading client request line"
        });
        if h.at[0].is_none() {
            let start = buf
                .iter()
                .position(|&c| c != b'\r' && c != b'\n')
                .unwrap_or(buf.len());
            let end = buf[start..]
                .iter()
                .position(|&c| c == b'\r' || c == b'\n')
                .map_or(buf.len(), |e| start + e);
            h.at[0] = Some((start, end));
        }
    }
    for n in h.notes.iter_mut() {
        n.push_str(" while reading client request headers");
    }
    // The request line's parts and the header lines are slices of one copy of the head
    // (an error's request line may go on past the bytes used).
    let end =
        h.at.iter()
            .flatten()
            .map(|&(_, e)| e)
            .fold(used, usize::max)
            .min(buf.len());
    let bytes = bytes::Bytes::copy_from_slice(&buf[..end]);
    let [line, method, target] = h.at;
    let slice = |at: Option<(usize, usize)>| {
        at.filter(|&(s, e)| s <= e && e <= end)
            .map(|(s, e)| bytes.slice(s..e))
    };
    if let Some(l) = slice(line) {
        h.line = l;
    }
    if let Some(m) = slice(method) {
        h.method = m;
    }
    if let Some(t) = slice(target) {
        h.target = t;
    }
    h.headers = crate::http::req_headers::ReqHeaders::with_known(
        bytes,
        std::mem::take(&mut h.spans),
        h.known,
    );
    Parsed::Done(h, used)
}

/// The log context of a request-line error of a pipelined request (one whose bytes were
/// read with the previous request's; nginx: ngx_http_set_keepalive's action "reading client
/// pipelined request line").
pub(crate) fn pipelined(h: &mut Head) {
    if let Some((_, msg)) = h.error.as_mut().filter(|_| !h.in_headers) {
        if let Some(at) = msg.rfind(" while reading client request line") {
            msg.insert_str(at + " while reading client ".len(), "pipelined ");
        }
    }
}

/// A refused head: nginx's status and its info-level text.
fn fail(mut h: Box<Head>, status: u16, msg: &str, used: usize) -> Parsed {
    h.error = Some((status, msg.to_string()));
    Parsed::Done(h, used)
}

/// nginx's state machines over any head (the reference [`fast_head`] agrees with).
fn parse_head(buf: &[u8], lim: &Limits) -> Parsed {
    // (Boxed from the start: the head is filled where it stays.)
    let mut h = Box::<Head>::default();
    let mut bufs = Buffers {
        start: 0,
        cap: lim.buffer,
        large: 0,
    };

    // The request line.
    let mut st = Rl::Start;
    let mut request_start = 0;
    let mut method_end = 0;
    let mut uri_start = 0;
    let mut uri_end = 0;
    let mut host_start = 0;
    let mut host_end = None;
    let request_end;
    let (mut major, mut minor) = (0u32, 0u32);
    let mut p = 0;
    loop {
        if p >= bufs.start + bufs.cap {
            // nginx: the buffer is full and the line incomplete.
            if st == Rl::Start {
                bufs.start = p;
            } else {
                if p - request_start >= lim.large_size || bufs.large >= lim.large_num {
                    h.at[0] = Some((request_start, p));
                    return fail(h, 414, "client sent too long URI", p);
                }
                bufs.large += 1;
                bufs.start = request_start;
                bufs.cap = lim.large_size;
                if p >= bufs.start + bufs.cap {
                    continue;
                }
            }
        }
        let Some(&ch) = buf.get(p) else {
            return Parsed::Again;
        };
        let lc = ch | 0x20;
        let bad = |h: Box<Head>, p: usize| fail(h, 400, "client sent invalid request", p + 1);
        match st {
            Rl::Start => {
                request_start = p;
                if ch == b'\r' || ch == b'\n' {
                    p += 1;
                    continue;
                }
                if !(ch.is_ascii_uppercase() || ch == b'_' || ch == b'-') {
                    return fail(h, 400, "client sent invalid method", p + 1);
                }
                st = Rl::Method;
            }
            Rl::Method => {
                if ch == b' ' {
                    method_end = p;
                    st = Rl::SpacesBeforeUri;
                } else if !(ch.is_ascii_uppercase() || ch == b'_' || ch == b'-') {
                    return fail(h, 400, "client sent invalid method", p + 1);
                }
            }
            Rl::SpacesBeforeUri => {
                if ch == b'/' {
                    uri_start = p;
                    st = Rl::Uri;
                } else if lc.is_ascii_lowercase() {
                    st = Rl::Schema;
                } else if ch != b' ' {
                    return bad(h, p);
                }
            }
            Rl::Schema => {
                if ch == b':' {
                    st = Rl::SchemaSlash;
                } else if !(lc.is_ascii_lowercase()
                    || ch.is_ascii_digit()
                    || matches!(ch, b'+' | b'-' | b'.'))
                {
                    return bad(h, p);
                }
            }
            Rl::SchemaSlash | Rl::SchemaSlashSlash => {
                if ch != b'/' {
                    return bad(h, p);
                }
                st = if st == Rl::SchemaSlash {
                    Rl::SchemaSlashSlash
                } else {
                    Rl::HostStart
                };
            }
            Rl::HostStart | Rl::Host => {
                if st == Rl::HostStart {
                    host_start = p;
                    if ch == b'[' {
                        st = Rl::HostIpLiteral;
                        p += 1;
                        continue;
                    }
                    st = Rl::Host;
                }
                if lc.is_ascii_lowercase() || ch.is_ascii_digit() || ch == b'.' || ch == b'-' {
                    p += 1;
                    continue;
                }
                host_end = Some(p);
                match host_end_char(ch) {
                    Some(next) => {
                        if next == Rl::Uri {
                            uri_start = p;
                        }
                        st = next;
                    }
                    None => return bad(h, p),
                }
            }
            Rl::HostIpLiteral => {
                if ch == b']' {
                    host_end = Some(p + 1);
                    // nginx: sw_host_end on the next byte.
                    let Some(&n) = buf.get(p + 1) else {
                        return Parsed::Again;
                    };
                    p += 1;
                    match host_end_char(n) {
                        Some(next) => {
                            if next == Rl::Uri {
                                uri_start = p;
                            }
                            st = next;
                        }
                        None => return bad(h, p),
                    }
                } else if !(ch.is_ascii_alphanumeric() || b":-._~!$&'()*+,;=".contains(&ch)) {
                    return bad(h, p);
                }
            }
            Rl::Port => {
                if ch == b'/' || ch == b'?' {
                    uri_start = p;
                    st = Rl::Uri;
                } else if ch == b' ' {
                    st = Rl::Http09;
                } else if !ch.is_ascii_digit() {
                    return bad(h, p);
                }
            }
            Rl::Uri => match ch {
                b' ' => {
                    uri_end = p;
                    st = Rl::Http09;
                }
                b'\r' => {
                    uri_end = p;
                    minor = 9;
                    st = Rl::AlmostDone;
                }
                b'\n' => {
                    uri_end = p;
                    minor = 9;
                    request_end = p;
                    p += 1;
                    break;
                }
                _ if ch < 0x20 || ch == 0x7f => return bad(h, p),
                _ => {
                    // The bytes of a path change nothing: a run of them is skipped at once
                    // (within the current buffer, whose end is checked above).
                    let end = buf.len().min(bufs.start + bufs.cap);
                    while p + 1 < end && buf[p + 1] > 0x20 && buf[p + 1] != 0x7f {
                        p += 1;
                    }
                }
            },
            Rl::Http09 => match ch {
                b' ' => {}
                b'\r' => {
                    minor = 9;
                    st = Rl::AlmostDone;
                }
                b'\n' => {
                    minor = 9;
                    request_end = p;
                    p += 1;
                    break;
                }
                b'H' => st = Rl::Http1,
                _ => return bad(h, p),
            },
            Rl::Http1 | Rl::Http2 | Rl::Http3 | Rl::Http4 => {
                let (want, next) = match st {
                    Rl::Http1 => (b'T', Rl::Http2),
                    Rl::Http2 => (b'T', Rl::Http3),
                    Rl::Http3 => (b'P', Rl::Http4),
                    _ => (b'/', Rl::FirstMajor),
                };
                if ch != want {
                    return bad(h, p);
                }
                st = next;
            }
            Rl::FirstMajor | Rl::Major => {
                if st == Rl::Major && ch == b'.' {
                    st = Rl::FirstMinor;
                } else {
                    let lo = if st == Rl::FirstMajor { b'1' } else { b'0' };
                    if ch < lo || ch > b'9' {
                        return bad(h, p);
                    }
                    major = major * 10 + u32::from(ch - b'0');
                    if major > 1 {
                        h.at[0] = Some((request_start, p + 1));
                        return fail(h, 505, "client sent invalid version", p + 1);
                    }
                    st = Rl::Major;
                }
            }
            Rl::FirstMinor => {
                if !ch.is_ascii_digit() {
                    return bad(h, p);
                }
                minor = u32::from(ch - b'0');
                st = Rl::Minor;
            }
            Rl::Minor => match ch {
                b'\r' => st = Rl::AlmostDone,
                b'\n' => {
                    request_end = p;
                    p += 1;
                    break;
                }
                b' ' => st = Rl::SpacesAfterDigit,
                b'0'..=b'9' if minor <= 99 => minor = minor * 10 + u32::from(ch - b'0'),
                _ => return bad(h, p),
            },
            Rl::SpacesAfterDigit => match ch {
                b' ' => {}
                b'\r' => st = Rl::AlmostDone,
                b'\n' => {
                    request_end = p;
                    p += 1;
                    break;
                }
                _ => return bad(h, p),
            },
            Rl::AlmostDone => {
                request_end = p - 1;
                if ch != b'\n' {
                    return bad(h, p);
                }
                p += 1;
                break;
            }
        }
        p += 1;
    }
    h.at[0] = Some((request_start, request_end));
    h.at[1] = Some((request_start, method_end));
    let method = &buf[request_start..method_end];
    h.version = major * 1000 + minor;
    if uri_start == 0 {
        // `scheme://host[:port]` without a path: nginx uses "/".
        h.target = bytes::Bytes::from_static(b"/");
    } else {
        if uri_end == 0 {
            uri_end = p;
        }
        h.at[2] = Some((uri_start, uri_end));
    }
    // nginx: the parser refuses another method than GET in HTTP/0.9 first, then
    // ngx_http_process_request_uri checks the URI, before the request line's host and any
    // header.
    if h.version == 9 && method != b"GET" {
        return fail(h, 400, "client sent invalid method in HTTP/0.9 request", p);
    }
    let target = if uri_start == 0 {
        &b"/"[..]
    } else {
        &buf[uri_start..uri_end]
    };
    match parse_uri(target, lim.merge_slashes) {
        Some(uri) => h.uri = Some(uri),
        None => return fail(h, 400, "client sent invalid request", p),
    }
    if let Some(end) = host_end {
        match host_of(&buf[host_start..end]) {
            Some(host) => h.line_host = Some(host),
            _ => return fail(h, 400, "client sent invalid host in request line", p),
        }
    }
    if h.version == 9 {
        return Parsed::Done(h, p);
    }

    // The header lines.
    h.in_headers = true;
    let mut hs = Hl::Start;
    let mut name_start = p;
    let mut name_end = p;
    let mut value_start = p;
    let mut value_end = p;
    let mut invalid = false;
    let mut seen_host = false;
    loop {
        if p >= bufs.start + bufs.cap {
            let line = hs != Hl::Start;
            if (line && p - name_start >= lim.large_size) || bufs.large >= lim.large_num {
                return fail(h, 494, "client sent too long header line", p);
            }
            bufs.large += 1;
            bufs.start = if line { name_start } else { p };
            bufs.cap = lim.large_size;
            if p >= bufs.start + bufs.cap {
                continue;
            }
        }
        let Some(&ch) = buf.get(p) else {
            return Parsed::Again;
        };
        // The line's start is `name_start` wherever this is called (the start state sets
        // it first). Positions are passed, not captured: a captured `p` would live in
        // memory for the whole loop.
        let invalid_line = |h: Box<Head>, line_start: usize, p: usize| {
            let msg = format!(
                "client sent invalid header line: \"{}\\x{:02x}...\"",
                String::from_utf8_lossy(&buf[line_start.min(p)..p]),
                buf.get(p).copied().unwrap_or(0)
            );
            fail(h, 400, &msg, p + 1)
        };
        let mut line_done = false;
        match hs {
            Hl::Start => {
                name_start = p;
                invalid = false;
                match ch {
                    b'\r' => hs = Hl::HeaderAlmostDone,
                    b'\n' => {
                        p += 1;
                        break;
                    }
                    _ => {
                        hs = Hl::Name;
                        if header_char(ch) {
                        } else if ch == b'_' {
                            invalid |= !lim.underscores;
                        } else if ch <= 0x20 || ch == 0x7f || ch == b':' {
                            return invalid_line(h, name_start, p);
                        } else {
                            invalid = true;
                        }
                    }
                }
            }
            Hl::Name => {
                if header_char(ch) {
                    // A run of plain name bytes at once (within the current buffer).
                    let end = buf.len().min(bufs.start + bufs.cap);
                    while p + 1 < end && header_char(buf[p + 1]) {
                        p += 1;
                    }
                } else if ch == b'_' {
                    invalid |= !lim.underscores;
                } else if ch == b':' {
                    name_end = p;
                    hs = Hl::SpaceBeforeValue;
                } else if ch == b'\r' || ch == b'\n' {
                    name_end = p;
                    value_start = p;
                    value_end = p;
                    if ch == b'\r' {
                        hs = Hl::AlmostDone;
                    } else {
                        line_done = true;
                    }
                } else if ch <= 0x20 || ch == 0x7f {
                    return invalid_line(h, name_start, p);
                } else {
                    invalid = true;
                }
            }
            Hl::SpaceBeforeValue => match ch {
                b' ' => {}
                b'\r' | b'\n' => {
                    value_start = p;
                    value_end = p;
                    if ch == b'\r' {
                        hs = Hl::AlmostDone;
                    } else {
                        line_done = true;
                    }
                }
                0 => return invalid_line(h, name_start, p),
                _ => {
                    value_start = p;
                    hs = Hl::Value;
                }
            },
            Hl::Value => match ch {
                b' ' => {
                    value_end = p;
                    hs = Hl::SpaceAfterValue;
                }
                b'\r' => {
                    value_end = p;
                    hs = Hl::AlmostDone;
                }
                b'\n' => {
                    value_end = p;
                    line_done = true;
                }
                0 => return invalid_line(h, name_start, p),
                _ => {
                    // A run of plain value bytes at once (within the current buffer).
                    let end = buf.len().min(bufs.start + bufs.cap);
                    while p + 1 < end && !VALUE_STOP[usize::from(buf[p + 1])] {
                        p += 1;
                    }
                }
            },
            Hl::SpaceAfterValue => match ch {
                b' ' => {}
                b'\r' => hs = Hl::AlmostDone,
                b'\n' => line_done = true,
                0 => return invalid_line(h, name_start, p),
                _ => hs = Hl::Value,
            },
            Hl::AlmostDone => match ch {
                b'\n' => line_done = true,
                b'\r' => {}
                _ => return invalid_line(h, name_start, p),
            },
            Hl::HeaderAlmostDone => {
                if ch != b'\n' {
                    return invalid_line(h, name_start, p);
                }
                p += 1;
                break;
            }
        }
        p += 1;
        if !line_done {
            continue;
        }
        hs = Hl::Start;
        if invalid && lim.ignore_invalid {
            h.notes.push(format!(
                "client sent invalid header line: \"{}\"",
                String::from_utf8_lossy(&buf[name_start..value_end.max(name_start)])
            ));
            continue;
        }
        let name = &buf[name_start..name_end];
        let value = &buf[value_start..value_end];
        let span = [name_start, name_end, value_start, value_end];
        // nginx's text for a second Host or unique header: the new line, then the first.
        let previous = |h: &Head| {
            h.spans
                .iter()
                .map(|&[ns, ne, vs, ve]| (&buf[ns..ne], &buf[vs..ve]))
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(n, v)| {
                    format!(
                        "\"{}: {}\", previous value: \"{}: {}\"",
                        String::from_utf8_lossy(name),
                        String::from_utf8_lossy(value),
                        String::from_utf8_lossy(n),
                        String::from_utf8_lossy(v)
                    )
                })
        };
        if name.eq_ignore_ascii_case(b"host") {
            if seen_host {
                let prev = previous(&h).unwrap_or_default();
                return fail(
                    h,
                    400,
                    &format!("client sent duplicate host header: {prev}"),
                    p,
                );
            }
            seen_host = true;
            match host_of(value) {
                Some(host) => h.host = Some(host),
                _ => {
                    // nginx's log context shows the refused Host.
                    h.spans.push(span);
                    h.known |= known(name);
                    return fail(h, 400, "client sent invalid host header", p);
                }
            }
        } else if unique(name) {
            if let Some(prev) = previous(&h) {
                return fail(
                    h,
                    400,
                    &format!("client sent duplicate header line: {prev}"),
                    p,
                );
            }
        }
        h.spans.push(span);
        h.known |= known(name);
    }

    request_header(h, buf, p, seen_host, method)
}

/// The common head in one pass: `METHOD /target HTTP/1.x` and `Name: value` lines with
/// CRLF line ends and single spaces between the request line's parts, all within
/// `client_header_buffer_size`, no name nginx ignores and no line it refuses. `None`:
/// anything else, left to [`parse_head`]'s state machines (which read the heads this one
/// takes to the same [`Head`]).
fn fast_head(buf: &[u8], lim: &Limits) -> Option<Parsed> {
    let b = &buf[..buf.len().min(lim.buffer)];
    // (Runs are found with `position`, which the compiler turns into loops without bounds
    // checks; a run that reaches the end of the bytes is an incomplete head: `None`.)
    let method_end = b.iter().position(|&c| !METHOD_CHAR[usize::from(c)])?;
    if method_end == 0 || b.get(method_end..method_end + 2)? != b" /" {
        return None;
    }
    let uri_start = method_end + 1;
    let uri_end = uri_start
        + 1
        + b[uri_start + 1..]
            .iter()
            .position(|&c| c <= 0x20 || c == 0x7f)?;
    let v = b.get(uri_end..uri_end + 11)?;
    if &v[..8] != b" HTTP/1." || !v[8].is_ascii_digit() || &v[9..] != b"\r\n" {
        return None;
    }
    let mut h = Box::<Head>::default();
    h.version = 1000 + u32::from(v[8] - b'0');
    h.at = [
        Some((0, uri_end + 9)),
        Some((0, method_end)),
        Some((uri_start, uri_end)),
    ];
    // A URI nginx refuses is left to the state machines (refused before any header).
    h.uri = Some(parse_uri(&b[uri_start..uri_end], lim.merge_slashes)?);
    h.in_headers = true;
    h.spans = Vec::with_capacity(8);
    let mut p = uri_end + 11;
    let mut seen_host = false;
    loop {
        let rest = b.get(p..)?;
        let name_len = rest.iter().position(|&c| !HEADER_CHAR[usize::from(c)])?;
        if name_len == 0 {
            // The empty line that ends the head.
            if rest.get(..2)? != b"\r\n" {
                return None;
            }
            p += 2;
            break;
        }
        if rest[name_len] != b':' {
            return None;
        }
        let (ns, ne) = (p, p + name_len);
        p = ne + 1;
        p += b[p..].iter().position(|&c| c != b' ')?;
        let vs = p;
        p += b[p..].iter().position(|&c| VALUE_END[usize::from(c)])?;
        if b[p] != b'\r' || *b.get(p + 1)? != b'\n' {
            return None;
        }
        let mut ve = p;
        while ve > vs && b[ve - 1] == b' ' {
            ve -= 1;
        }
        p += 2;
        let name = &b[ns..ne];
        let bit = known(name);
        if bit & HOST_BIT != 0 && name.eq_ignore_ascii_case(b"host") {
            if seen_host {
                return None;
            }
            seen_host = true;
            h.host = Some(host_of(&b[vs..ve])?);
        } else if bit & h.known & UNIQUE_BITS != 0
            && unique(name)
            && h.spans
                .iter()
                .any(|&[s, e, _, _]| b[s..e].eq_ignore_ascii_case(name))
        {
            return None;
        }
        h.spans.push([ns, ne, vs, ve]);
        h.known |= bit;
    }
    Some(request_header(h, buf, p, seen_host, &b[..method_end]))
}

/// nginx: ngx_http_process_request_uri and ngx_http_parse_complex_uri: the URI of a
/// target (`%XX` decoded, `//` merged with `merge_slashes`, `.` and `..` resolved, cut at the
/// first `?` or `#`) and its arguments (after the `?`, up to a `#`); `None` where nginx
/// answers 400 ("client sent invalid request"): `..` above the root, a bad or `%00` escape.
/// A target starting with `?` is an absolute URI's empty path: the URI is `/`.
pub(crate) fn parse_uri(target: &[u8], merge_slashes: bool) -> Option<(Vec<u8>, Vec<u8>)> {
    // nginx parses the URI only when the request line's parser saw something to do
    // (`complex_uri`, `quoted_uri`, `empty_path_in_uri`): a `#`, or before the `?` a `%`,
    // `/.` or `//`. Otherwise the URI is the path as sent.
    let q = target.iter().position(|&c| c == b'?');
    let path = &target[..q.unwrap_or(target.len())];
    let complex = q == Some(0)
        || path.contains(&b'%')
        || path
            .windows(2)
            .any(|w| w[0] == b'/' && (w[1] == b'.' || w[1] == b'/'))
        || target.contains(&b'#');
    if !complex {
        let args = q.map_or_else(Vec::new, |q| target[q + 1..].to_vec());
        return Some((path.to_vec(), args));
    }
    complex_uri(target, merge_slashes)
}

/// nginx: ngx_http_parse_complex_uri's states.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cu {
    Usual,
    Slash,
    Dot,
    DotDot,
    Quoted,
    QuotedSecond,
}

/// nginx: ngx_http_parse_complex_uri (without its Win32 parts): escapes are decoded as the
/// path is read, a decoded byte counting as the byte itself (`%2F` is a `/`, `%2E` a `.`)
/// but for `%`, `#` and `?`, which stay data.
fn complex_uri(target: &[u8], merge_slashes: bool) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut u: Vec<u8> = Vec::with_capacity(target.len() + 1);
    if target.first() == Some(&b'?') {
        u.push(b'/');
    }
    // `..`: back to the `/` before the previous segment (the last bytes are `/..`).
    let up = |u: &mut Vec<u8>| -> Option<()> {
        let mut i = u.len().checked_sub(4)?;
        loop {
            if u[i] == b'/' {
                u.truncate(i + 1);
                return Some(());
            }
            i = i.checked_sub(1)?;
        }
    };
    let mut st = Cu::Usual;
    let mut quoted_st = Cu::Usual;
    let mut decoded = 0u8;
    let mut args_at = None;
    let mut p = 0;
    let Some(&first) = target.first() else {
        return Some((b"/".to_vec(), Vec::new()));
    };
    let mut ch = first;
    p += 1;
    // `ch` is the byte at `p - 1` (or a decoded one); the loop ends past the last byte.
    let next = |p: &mut usize| {
        let c = target.get(*p).copied().unwrap_or(b' ');
        *p += 1;
        c
    };
    let mut hash = false;
    'parse: while p <= target.len() {
        match st {
            Cu::Usual | Cu::Slash | Cu::Dot | Cu::DotDot => {
                let special = matches!(ch, b'/' | b'%' | b'?' | b'#' | b'.');
                if !special {
                    st = Cu::Usual;
                    u.push(ch);
                    ch = next(&mut p);
                    continue;
                }
                match (st, ch) {
                    (_, b'%') => {
                        quoted_st = st;
                        st = Cu::Quoted;
                    }
                    (Cu::Usual, b'/') => {
                        st = Cu::Slash;
                        u.push(ch);
                    }
                    (Cu::Usual, b'.') => u.push(ch),
                    (Cu::Slash, b'/') => {
                        if !merge_slashes {
                            u.push(ch);
                        }
                    }
                    (Cu::Slash, b'.') => {
                        st = Cu::Dot;
                        u.push(ch);
                    }
                    (Cu::Dot, b'/') => {
                        st = Cu::Slash;
                        u.pop();
                    }
                    (Cu::Dot, b'.') => {
                        st = Cu::DotDot;
                        u.push(ch);
                    }
                    (Cu::DotDot, b'/') => {
                        up(&mut u)?;
                        st = Cu::Slash;
                    }
                    (Cu::DotDot, b'.') => {
                        st = Cu::Usual;
                        u.push(ch);
                    }
                    // `?` and `#`: the end of the path.
                    (_, c) => {
                        match st {
                            Cu::Dot => {
                                u.pop();
                            }
                            Cu::DotDot => up(&mut u)?,
                            _ => {}
                        }
                        if c == b'?' {
                            args_at = Some(p);
                        } else {
                            hash = true;
                        }
                        break 'parse;
                    }
                }
                ch = next(&mut p);
            }
            Cu::Quoted => {
                decoded = (ch as char).to_digit(16)? as u8;
                st = Cu::QuotedSecond;
                ch = next(&mut p);
            }
            Cu::QuotedSecond => {
                let d = (ch as char).to_digit(16)?;
                ch = (decoded << 4) | d as u8;
                // (nginx tests `%` and `#` after a decimal second digit, `?` after a hex one:
                // the same bytes.)
                if matches!(ch, b'%' | b'#' | b'?') {
                    st = Cu::Usual;
                    u.push(ch);
                    ch = next(&mut p);
                } else if ch == 0 {
                    return None;
                } else {
                    st = quoted_st;
                }
            }
        }
    }
    if !hash && args_at.is_none() {
        match st {
            Cu::Quoted | Cu::QuotedSecond => return None,
            Cu::Dot => {
                u.pop();
            }
            Cu::DotDot => up(&mut u)?,
            _ => {}
        }
    }
    // nginx: the arguments end at a `#`.
    let args = args_at.map_or_else(Vec::new, |a| {
        let rest = &target[a..];
        rest[..rest.iter().position(|&c| c == b'#').unwrap_or(rest.len())].to_vec()
    });
    Some((u, args))
}

/// nginx: ngx_http_process_request_header: the checks of a head read to its end.
fn request_header(
    mut h: Box<Head>,
    buf: &[u8],
    p: usize,
    seen_host: bool,
    method: &[u8],
) -> Parsed {
    if !seen_host && h.version > 1000 {
        return fail(
            h,
            400,
            "client sent HTTP/1.1 request without \"Host\" header",
            p,
        );
    }
    let mut framing = Framing::None;
    let line = |h: &Head, name: &[u8]| {
        if h.known & known(name) == 0 {
            return None;
        }
        h.spans
            .iter()
            .find(|&&[ns, ne, _, _]| buf[ns..ne].eq_ignore_ascii_case(name))
            .map(|&[_, _, vs, ve]| &buf[vs..ve])
    };
    if let Some(cl) = line(&h, b"content-length") {
        match atoof(cl) {
            Some(n) => framing = Framing::Length(n),
            None => return fail(h, 400, "client sent invalid \"Content-Length\" header", p),
        }
    }
    if let Some(te) = line(&h, b"transfer-encoding") {
        if h.version < 1001 {
            return fail(
                h,
                400,
                "client sent HTTP/1.0 request with \"Transfer-Encoding\" header",
                p,
            );
        }
        if !te.eq_ignore_ascii_case(b"chunked") {
            let msg = format!(
                "client sent unknown \"Transfer-Encoding\": \"{}\"",
                String::from_utf8_lossy(te)
            );
            return fail(h, 501, &msg, p);
        }
        if framing != Framing::None {
            return fail(
                h,
                400,
                "client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time",
                p,
            );
        }
        framing = Framing::Chunked;
    }
    h.framing = Some(framing);
    if method == b"CONNECT" || method == b"TRACE" {
        let msg = format!("client sent {} method", String::from_utf8_lossy(method));
        return fail(h, 405, &msg, p);
    }
    Parsed::Done(h, p)
}

/// nginx: sw_host_end: what may follow a request line's host.
fn host_end_char(ch: u8) -> Option<Rl> {
    match ch {
        b':' => Some(Rl::Port),
        b'/' | b'?' => Some(Rl::Uri),
        b' ' => Some(Rl::Http09),
        _ => None,
    }
}

/// nginx: the `lowcase` table of ngx_http_parse_header_line (letters, digits, `-`).
fn header_char(ch: u8) -> bool {
    HEADER_CHAR[usize::from(ch)]
}

/// [`header_char`] as a table (a name's bytes are tested one by one).
const HEADER_CHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'-';
        c += 1;
    }
    t
};

/// A method's bytes (nginx: ngx_http_parse_request_line's `sw_method`).
const METHOD_CHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_uppercase() || b == b'_' || b == b'-';
        c += 1;
    }
    t
};

/// The bytes that end a header value in [`fast_head`] (CR, LF, NUL).
const VALUE_END: [bool; 256] = {
    let mut t = [false; 256];
    t[b'\r' as usize] = true;
    t[b'\n' as usize] = true;
    t[0] = true;
    t
};

use crate::http::req_headers::known;

/// `Host`'s [`known`] bit.
const HOST_BIT: u64 = known(b"host");

/// The [`known`] bits of the [`UNIQUE`] names.
const UNIQUE_BITS: u64 = {
    let mut bits = 0;
    let mut i = 0;
    while i < UNIQUE.len() {
        bits |= known(UNIQUE[i]);
        i += 1;
    }
    bits
};

/// The bytes that end a run of plain value bytes (space, CR, LF, NUL).
const VALUE_STOP: [bool; 256] = {
    let mut t = [false; 256];
    t[b' ' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'\n' as usize] = true;
    t[0] = true;
    t
};

/// nginx: ngx_http_validate_host: the host part (up to `:`, or `[...]`), lower-cased, a
/// trailing dot removed; `None` for control bytes, spaces, `/`, `..` anywhere in the value,
/// or an empty host or one that starts with a dot. One pass over the value, and one copy.
/// (The same as [`validate_host`] of a value that passes those byte checks.)
///
/// [`validate_host`]: crate::http::request::validate_host
fn host_of(h: &[u8]) -> Option<Vec<u8>> {
    let literal = h.first() == Some(&b'[');
    let mut end = None;
    let mut prev = 0;
    for (i, &c) in h.iter().enumerate() {
        if HOST_STOP[usize::from(c)] {
            if c <= 0x20 || c == 0x7f || c == b'/' || (c == b'.' && prev == b'.') {
                return None;
            }
            if end.is_none() {
                if literal && c == b']' {
                    end = Some(i + 1);
                } else if !literal && c == b':' {
                    end = Some(i);
                }
            }
        }
        prev = c;
    }
    let end = match end {
        Some(e) => e,
        None if literal => return None,
        None => h.len(),
    };
    crate::http::request::host_part(h, end)
}

/// The bytes [`host_of`] looks at twice: control bytes, space, DEL, `/`, `.`, `:`, `]`.
const HOST_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b <= 0x20 || b == 0x7f || matches!(b, b'/' | b'.' | b':' | b']');
        c += 1;
    }
    t
};

/// The headers nginx refuses twice (ngx_http_process_unique_header_line, and `Host`).
const UNIQUE: &[&[u8]] = &[
    b"if-modified-since",
    b"if-unmodified-since",
    b"if-match",
    b"if-none-match",
    b"content-length",
    b"content-range",
    b"if-range",
    b"transfer-encoding",
    b"expect",
    b"authorization",
];

/// One of [`UNIQUE`] (a first, cheap test on the length).
fn unique(name: &[u8]) -> bool {
    matches!(name.len(), 6 | 8 | 13 | 14 | 17 | 19)
        && UNIQUE.iter().any(|u| u.eq_ignore_ascii_case(name))
}

/// nginx: ngx_atoof: digits only, no overflow.
pub(crate) fn atoof(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    (n <= i64::MAX as u64).then_some(n)
}

/// The target in bytes hyper's `Uri` accepts: bytes outside RFC 3986's set are
/// percent-encoded (the decoded path is the same; the raw target travels in [`Head`]).
pub(crate) fn push_target(out: &mut Vec<u8>, target: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &c in target {
        if uri_byte(c) {
            out.push(c);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(c >> 4)], HEX[usize::from(c & 15)]]);
        }
    }
}

/// The length of what [`push_target`] writes for `target`.
pub(crate) fn target_len(target: &[u8]) -> usize {
    target
        .iter()
        .map(|&c| if uri_byte(c) { 1 } else { 3 })
        .sum()
}

/// A byte [`push_target`] keeps as it is.
fn uri_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'/'
                | b'?'
                | b'%'
        )
}

/// Where a chunked body is (to find where the next request starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunked {
    Size {
        digits: bool,
        ext: bool,
        cr: bool,
    },
    Data(u64),
    DataCr,
    DataLf,
    /// After the last chunk: trailer lines until an empty one.
    Trailer {
        empty: bool,
        cr: bool,
    },
    Done,
    Bad,
}

impl Chunked {
    pub(crate) fn new() -> Chunked {
        Chunked::Size {
            digits: false,
            ext: false,
            cr: false,
        }
    }

    /// Advances over `buf`; returns how many bytes belong to the body (all of `buf`
    /// unless the body ends inside it).
    pub(crate) fn feed(&mut self, buf: &[u8], size: &mut u64) -> usize {
        let mut i = 0;
        while i < buf.len() {
            if matches!(self, Chunked::Done | Chunked::Bad) {
                return i;
            }
            if let Chunked::Data(left) = *self {
                let n = (buf.len() - i).min(usize::try_from(left).unwrap_or(usize::MAX));
                i += n;
                let left = left - n as u64;
                *self = if left == 0 {
                    Chunked::DataCr
                } else {
                    Chunked::Data(left)
                };
                continue;
            }
            let ch = buf[i];
            i += 1;
            *self = match *self {
                Chunked::Size { digits, ext, cr } => {
                    if cr {
                        if ch != b'\n' || !digits {
                            Chunked::Bad
                        } else if *size == 0 {
                            Chunked::Trailer {
                                empty: true,
                                cr: false,
                            }
                        } else {
                            Chunked::Data(std::mem::take(size))
                        }
                    } else if ch == b'\r' {
                        Chunked::Size {
                            digits,
                            ext,
                            cr: true,
                        }
                    } else if ext {
                        Chunked::Size { digits, ext, cr }
                    } else if let Some(d) = (ch as char).to_digit(16) {
                        match size.checked_mul(16) {
                            Some(s) if *size >> 59 == 0 => {
                                *size = s + u64::from(d);
                                Chunked::Size {
                                    digits: true,
                                    ext,
                                    cr,
                                }
                            }
                            _ => Chunked::Bad,
                        }
                    } else if ch == b';' || ch == b' ' || ch == b'\t' {
                        Chunked::Size {
                            digits,
                            ext: true,
                            cr,
                        }
                    } else {
                        Chunked::Bad
                    }
                }
                Chunked::DataCr => {
                    if ch == b'\r' {
                        Chunked::DataLf
                    } else {
                        Chunked::Bad
                    }
                }
                Chunked::DataLf => {
                    if ch == b'\n' {
                        Chunked::new()
                    } else {
                        Chunked::Bad
                    }
                }
                Chunked::Trailer { empty, .. } => match ch {
                    b'\n' => {
                        if empty {
                            Chunked::Done
                        } else {
                            Chunked::Trailer {
                                empty: true,
                                cr: false,
                            }
                        }
                    }
                    b'\r' => Chunked::Trailer { empty, cr: true },
                    _ => Chunked::Trailer {
                        empty: false,
                        cr: false,
                    },
                },
                other => other,
            };
        }
        i
    }
}

/// The connection directives' values (nginx: ngx_http_core_module's `keepalive_timeout`,
/// `client_header_*`, `large_client_header_buffers`, `*_timeout`, `lingering_*`, ...),
/// folded into a level's [`LocConf`]. Returns false for other directives.
pub(crate) fn apply(c: &mut LocConf, d: &Directive) -> bool {
    let arg = |i: usize| d.args.get(i).map(Vec::as_slice).unwrap_or_default();
    let msecs = |i: usize| {
        parse_time(arg(i), false)
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_millis)
    };
    let flag = || arg(0).eq_ignore_ascii_case(b"on");
    let size = |s: &[u8]| parse_size(s).and_then(|n| usize::try_from(n).ok());
    match d.name.as_slice() {
        b"client_header_timeout" => c.client_header_timeout = msecs(0),
        b"client_body_timeout" => c.client_body_timeout = msecs(0),
        b"send_timeout" => c.send_timeout = msecs(0),
        b"lingering_timeout" => c.lingering_timeout = msecs(0),
        b"lingering_time" => c.lingering_time = msecs(0),
        b"lingering_close" => {
            c.lingering_close = Some(match arg(0) {
                b"off" => Linger::Off,
                b"always" => Linger::Always,
                _ => Linger::On,
            })
        }
        b"reset_timedout_connection" => c.reset_timedout_connection = Some(flag()),
        b"client_header_buffer_size" => c.client_header_buffer_size = size(arg(0)),
        b"large_client_header_buffers" => {
            if let (Some(n), Some(s)) = (atoi(arg(0)), size(arg(1))) {
                c.large_client_header_buffers = usize::try_from(n).ok().map(|n| (n, s));
            }
        }
        b"underscores_in_headers" => c.underscores_in_headers = Some(flag()),
        b"ignore_invalid_headers" => c.ignore_invalid_headers = Some(flag()),
        _ => return false,
    }
    true
}

/// `keepalive_timeout`'s header timeout (zero: no `Keep-Alive` header).
pub(crate) fn keepalive_header(d: &Directive) -> Duration {
    d.args
        .get(1)
        .and_then(|a| parse_time(a, true))
        .and_then(|s| u64::try_from(s).ok())
        .map_or(Duration::ZERO, Duration::from_secs)
}

/// `lingering_close off|on|always`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Linger {
    Off,
    On,
    Always,
}

/// nginx: the client_max_body_size check of ngx_http_core_find_config_phase: a declared
/// body larger than the location allows is answered 413 before any content handler.
pub(crate) fn body_too_large(r: &super::request::Request) -> Option<super::response::Reply> {
    let max = r.loc.client_max_body_size.unwrap_or(1 << 20);
    let len = r
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| atoof(v.as_bytes()))?;
    if max == 0 || len <= max {
        return None;
    }
    crate::http::errlog::request_error(
        r,
        &format!("client intended to send too large body: {len} bytes"),
    );
    let mut reply = super::response::Reply::status(413);
    reply.close = true;
    Some(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim() -> Limits {
        Limits {
            buffer: 1024,
            large_num: 4,
            large_size: 8192,
            underscores: false,
            ignore_invalid: true,
            merge_slashes: true,
        }
    }

    fn status(req: &str) -> Option<u16> {
        match parse(req.as_bytes(), &lim()) {
            Parsed::Done(h, _) => Some(h.error.map_or(0, |e| e.0)),
            Parsed::Again => None,
        }
    }

    #[test]
    fn statuses_measured_against_nginx() {
        for (req, want) in [
            ("GET / HTTP/1.1\r\n\r\n", Some(400)),
            ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", Some(0)),
            ("GET / HTTP/1.0\r\n\r\n", Some(0)),
            ("GET / HTTP/1.2\r\nHost: x\r\n\r\n", Some(0)),
            ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", Some(505)),
            ("get / HTTP/1.1\r\nHost: x\r\n\r\n", Some(400)),
            ("GET x HTTP/1.1\r\nHost: x\r\n\r\n", Some(400)),
            ("GET http://x/ HTTP/1.1\r\n\r\n", Some(400)),
            ("GET http://x/ HTTP/1.1\r\nHost: y\r\n\r\n", Some(0)),
            ("CONNECT x:80 HTTP/1.1\r\nHost: x\r\n\r\n", Some(400)),
            ("GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", Some(0)),
            ("GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", Some(400)),
            ("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", Some(400)),
            ("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", Some(400)),
            ("GET / HTTP/1.1\r\nHost: \r\n\r\n", Some(400)),
            (
                "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
                Some(501),
            ),
            (
                "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                Some(400),
            ),
            (
                "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
                Some(400),
            ),
            ("GET / HTTP/1.1\r\nHost: x\r\n", None),
            ("GET /\r\n", Some(0)),
            ("garbage\r\n", Some(400)),
            // The URI is checked once the request line is read, before any header line.
            ("GET /../x HTTP/1.1\r\n", Some(400)),
            ("GET /%zz HTTP/1.0\r\nHost: x\r\nX-A: b", Some(400)),
            (
                "GET /../x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
                Some(400),
            ),
            ("GET /a/../x HTTP/1.1\r\n", None),
            ("GET /a?/../.. HTTP/1.1\r\nHost: x\r\n\r\n", Some(0)),
            ("GET /../x\r\n", Some(400)),
            ("GET http://x/../y HTTP/1.1\r\n", Some(400)),
        ] {
            assert_eq!(status(req), want, "{req:?}");
        }
    }

    #[test]
    fn uris_measured_against_nginx() {
        // target, merge_slashes, nginx's `$uri` and `$args` (None: 400).
        for (target, merge, want) in [
            ("/a?b#c", true, Some(("/a", "b"))),
            ("/a#x?y", true, Some(("/a", ""))),
            ("/a/./b#c?d", true, Some(("/a/b", ""))),
            ("?x", true, Some(("/", "x"))),
            ("?x#y", true, Some(("/", "x"))),
            ("/a/b/..?x/../..", true, Some(("/a/", "x/../.."))),
            ("/a%2F%2Fb", true, Some(("/a/b", ""))),
            ("/a%2e%2E/b", true, Some(("/a../b", ""))),
            ("/%3F%23%25?q", true, Some(("/?#%", "q"))),
            ("/a/%2e%2e", true, Some(("/", ""))),
            ("/a/.%2E/", true, Some(("/", ""))),
            ("/a/b/%2E.?x", true, Some(("/a/", "x"))),
            ("/a//..", true, Some(("/", ""))),
            ("/a/.", true, Some(("/a/", ""))),
            ("/a/..", true, Some(("/", ""))),
            ("/a+b?c+d", true, Some(("/a+b", "c+d"))),
            ("/a%00", true, None),
            ("/a%", true, None),
            ("/a%4", true, None),
            ("/a%?x", true, None),
            ("/x/%2e%2e%2F..", true, None),
            ("/a%2F..%2F..", true, None),
            ("/%2e%2e/", true, None),
            ("/a/..%00", true, None),
            ("/../x", true, None),
            ("//..", true, None),
            ("//..", false, Some(("/", ""))),
            ("/a//../..", false, Some(("/", ""))),
            ("/a%2F%2F..", false, Some(("/a/", ""))),
            ("//a//b", false, Some(("//a//b", ""))),
            ("/%2F..", false, Some(("/", ""))),
            ("/%2F../..", false, None),
        ] {
            let got = parse_uri(target.as_bytes(), merge);
            let got = got.as_ref().map(|(u, a)| {
                (
                    String::from_utf8_lossy(u).into_owned(),
                    String::from_utf8_lossy(a).into_owned(),
                )
            });
            let want = want.map(|(u, a)| (u.to_string(), a.to_string()));
            assert_eq!(got, want, "{target} merge_slashes {merge}");
        }
    }

    #[test]
    fn buffer_model() {
        let line = |n: usize| format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(n));
        assert_eq!(status(&line(8000)), Some(0));
        assert_eq!(status(&line(8180)), Some(414));
        let hdr = |n: usize| format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n", "a".repeat(n));
        assert_eq!(status(&hdr(8185)), Some(0));
        assert_eq!(status(&hdr(8200)), Some(494));
        let many = |k: usize| {
            let mut s = "GET / HTTP/1.1\r\nHost: x\r\n".to_string();
            for i in 0..k {
                s.push_str(&format!("X{i}: {}\r\n", "a".repeat(7000)));
            }
            s + "\r\n"
        };
        assert_eq!(status(&many(4)), Some(0));
        assert_eq!(status(&many(5)), Some(494));
    }

    /// The two checks [`host_of`] does in one pass, as they were: nginx's byte refusals
    /// (`..`, control bytes, spaces, `/`), then request.rs's validate_host.
    fn host_oracle(h: &[u8]) -> Option<Vec<u8>> {
        let mut prev = 0;
        for &c in h {
            if c <= 0x20 || c == 0x7f || c == b'/' || (c == b'.' && prev == b'.') {
                return None;
            }
            prev = c;
        }
        crate::http::request::validate_host(h)
    }

    #[test]
    fn host_of_matches_validate_host() {
        const BYTES: &[u8] = b"aZ09.-:[]/ \t\x00\x7f\x80_";
        let mut r = Rng(0x5eed);
        for _ in 0..20000 {
            let n = r.below(9);
            let v: Vec<u8> = (0..n).map(|_| BYTES[r.below(BYTES.len())]).collect();
            assert_eq!(
                host_of(&v),
                host_oracle(&v),
                "{:?}",
                String::from_utf8_lossy(&v)
            );
        }
        for v in [
            &b"Example.COM:8080"[..],
            b"example.com.",
            b"[::1]:80",
            b"[::1",
            b"",
        ] {
            assert_eq!(host_of(v), host_oracle(v));
        }
    }

    /// A small deterministic PRNG (xorshift64*) for the differential test.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        /// True one time in `n`.
        fn one_in(&mut self, n: usize) -> bool {
            self.below(n) == 0
        }

        fn pick<'a>(&mut self, xs: &[&'a [u8]]) -> &'a [u8] {
            xs[self.below(xs.len())]
        }
    }

    /// The parts of a request head: mostly the usual ones, now and then an unusual one.
    fn gen_head(r: &mut Rng) -> Vec<u8> {
        // How often a part is unusual, per head: a head of only usual parts is common.
        let rate = [5, 20, 100][r.below(3)];
        let odd = |r: &mut Rng| r.one_in(rate);
        let mut h = Vec::new();
        if r.one_in(30) {
            h.extend_from_slice(r.pick(&[b"\r\n", b"\n", b"\r\n\r\n"]));
        }
        h.extend_from_slice(if odd(r) {
            r.pick(&[
                b"get",
                b"G-ET",
                b"_X",
                b"M1",
                b"",
                b"CONNECT",
                b"TRACE",
                b"GE T",
                b"G\x00T",
                b"PATCH",
                b"OPTIONS",
                b"PROPFIND",
                b"-",
                b"GET\t",
            ])
        } else {
            r.pick(&[b"GET", b"GET", b"GET", b"POST", b"HEAD", b"PUT", b"DELETE"])
        });
        h.extend_from_slice(if odd(r) {
            r.pick(&[b"  ", b"\t", b"", b"\r\n", b" \r"])
        } else {
            b" "
        });
        if odd(r) {
            h.extend_from_slice(r.pick(&[
                b"http://x",
                b"http://x/",
                b"http://Host.Example:8080/p?q",
                b"HTTP://h.",
                b"http://a..b/",
                b"http://[::1]:80/",
                b"http://[::1",
                b"http://[::1]x/",
                b"https://x?y",
                b"h+t.t-p://x/",
                b"http:/x/",
                b"http:x",
                b"http://x:8a/",
                b"http://x y/",
                b"http://.x/",
                b"http://x_y/",
                b"http://x:/",
                b"x",
                b"*",
                b"%2F",
            ]));
        } else {
            h.push(b'/');
        }
        for _ in 0..r.below(4) {
            h.extend_from_slice(if odd(r) {
                r.pick(&[
                    b".",
                    b"..",
                    b"/",
                    b"//",
                    b"%41",
                    b"%zz",
                    b"%",
                    b"#frag",
                    b"?a=b",
                    b"?",
                    b"a b",
                    b"\x00",
                    b"\x7f",
                    b"\x80\xff",
                    b"~u",
                    b"\t",
                    b"\x01",
                    b"\r",
                    b"\n",
                    b"caf\xc3\xa9",
                    b"/./",
                    b"/../",
                    b"%00",
                    b"%2F",
                    b"%2e%2E",
                    b"%3F",
                    b"%23",
                    b"%25",
                ])
            } else {
                r.pick(&[b"r", b"index.html", b"a/b", b"x?y=1", b"img/1.png", b"/"])
            });
        }
        if r.one_in(40) {
            let n = r.below(9000);
            h.extend(std::iter::repeat_n(b'a', n));
        }
        h.extend_from_slice(if odd(r) {
            r.pick(&[
                b" HTTP/1.0",
                b" HTTP/1.2",
                b" HTTP/2.0",
                b" HTTP/0.9",
                b" HTTP/1.10",
                b" HTTP/1.",
                b" http/1.1",
                b" HTTP/1.1 ",
                b"",
                b" HTTP/11.1",
                b" HTTP/1.1x",
                b" HTTP/01.1",
                b"  HTTP/1.1",
                b" HTTP/1.999",
                b" HTTP/1.1000",
                b" HTTP/3",
                b" H",
                b" HTTP/1.1\t",
                b" HTTP/",
                b" HTTP/9.1",
                b" HTTP/1.1  ",
            ])
        } else {
            r.pick(&[b" HTTP/1.1", b" HTTP/1.1", b" HTTP/1.0"])
        });
        let eol = |r: &mut Rng| -> &'static [u8] {
            if r.one_in(rate * 2) {
                r.pick(&[b"\n", b"\r", b"\r\r\n", b"", b"\r\n ", b"\r\n\t", b"\n\r"])
            } else {
                b"\r\n"
            }
        };
        h.extend_from_slice(eol(r));
        let mut host = !r.one_in(rate);
        for _ in 0..r.below(8) {
            let name: &[u8] = if host {
                host = false;
                if odd(r) {
                    r.pick(&[b"HOST", b"host", b"Hos", b"Host ", b"Ho_st", b"Host\t"])
                } else {
                    b"Host"
                }
            } else if odd(r) {
                r.pick(&[
                    b"X_Under",
                    b"X.Dot",
                    b"Bad Name",
                    b"X@",
                    b"",
                    b"\xff",
                    b"X\x00",
                    b"Content-length",
                    b"CONTENT-LENGTH",
                    b"Transfer-Encoding",
                    b"transfer-encoding",
                    b"Host",
                    b"If-None-Match",
                    b"Authorization",
                    b"Expect",
                    b"If-Range",
                    b"Content-Range",
                    b"If-Match",
                    b"If-Modified-Since",
                    b"If-Unmodified-Since",
                    b" X",
                    b"\tX",
                    b"_",
                    b"-",
                    b"X\x7f",
                    b"X/Y",
                    b"Connection",
                    b"\r",
                    b"\n",
                ])
            } else {
                r.pick(&[
                    b"User-Agent",
                    b"Accept",
                    b"Accept-Encoding",
                    b"Cookie",
                    b"X-Forwarded-For",
                    b"Content-Length",
                    b"Connection",
                    b"accept-language",
                    b"X-A",
                    b"Referer",
                    b"Content-Type",
                ])
            };
            h.extend_from_slice(name);
            h.extend_from_slice(if odd(r) {
                r.pick(&[b":", b":  ", b": \t", b":\t", b"", b" :", b" : ", b"::"])
            } else {
                b": "
            });
            h.extend_from_slice(if odd(r) {
                r.pick(&[
                    b"",
                    b"a b",
                    b"a  ",
                    b"  ",
                    b"\tx",
                    b"x\t",
                    b"\x00",
                    b"a\x00",
                    b"\x01",
                    b"\x7f",
                    b"caf\xc3\xa9",
                    b"chunked",
                    b"gzip",
                    b"CHUNKED",
                    b"chunked ",
                    b"gzip, chunked",
                    b"5",
                    b"-1",
                    b"0",
                    b"abc",
                    b" 5",
                    b"99999999999999999999",
                    b"9223372036854775807",
                    b"9223372036854775808",
                    b"close",
                    b"keep-alive",
                    b"a\rb",
                    b"[::1]",
                    b"[::1]:80",
                    b"[::1",
                    b"a/b",
                    b"..",
                    b".x",
                    b"x.",
                    b"x..",
                    b"a..b",
                    b"X.Example:8080",
                    b"x:",
                    b":80",
                    b"x\x7f",
                    b"x y",
                    b"100-continue",
                    b"x\r",
                ])
            } else {
                r.pick(&[
                    b"localhost",
                    b"x",
                    b"*/*",
                    b"cg",
                    b"a=b; c=d",
                    b"10",
                    b"gzip, br",
                ])
            });
            if r.one_in(40) {
                let n = r.below(9000);
                h.extend(std::iter::repeat_n(b'v', n));
            }
            if r.one_in(25) {
                h.extend_from_slice(r.pick(&[b" ", b"  ", b"\t", b" \t "]));
            }
            h.extend_from_slice(eol(r));
        }
        h.extend_from_slice(eol(r));
        if r.one_in(5) {
            h.extend_from_slice(r.pick(&[b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"hello", b"\r\n"]));
        }
        h
    }

    /// One to three byte changes (overwrite, insert, delete) of a head.
    fn mutate(r: &mut Rng, h: &mut Vec<u8>) {
        const BYTES: &[u8] = b" \t\r\n\x00:_.A/a?#%\x7f\x80\xff-5H";
        for _ in 0..=r.below(3) {
            if h.is_empty() {
                return;
            }
            let at = r.below(h.len());
            let c = BYTES[r.below(BYTES.len())];
            match r.below(3) {
                0 => h[at] = c,
                1 => h.insert(at, c),
                _ => {
                    h.remove(at);
                }
            }
        }
    }

    /// The whole result of a parse, every field (Head's Debug shows them all).
    fn outcome(p: Parsed) -> String {
        match p {
            Parsed::Again => "Again".to_string(),
            Parsed::Done(h, used) => format!("{used} {h:?}"),
        }
    }

    /// fast_head against nginx's state machines: the full parse with the fast path and
    /// without it come to the same result on every generated head.
    #[test]
    fn fast_head_matches_state_machines() {
        let mut fast = 0;
        let mut cases = 0;
        for seed in [0x9e37_79b9_7f4a_7c15_u64, 7, 0x0123_4567_89ab_cdef, 2026] {
            let mut r = Rng(seed);
            for _ in 0..2500 {
                let mut buf = if r.one_in(2) {
                    gen_head(&mut r)
                } else {
                    // A usual head, then a few bytes changed.
                    let mut h = b"GET /r HTTP/1.1\r\nHost: localhost\r\nUser-Agent: cg\r\nAccept: */*\r\n\r\n".to_vec();
                    mutate(&mut r, &mut h);
                    h
                };
                if r.one_in(8) {
                    let n = r.below(buf.len() + 1);
                    buf.truncate(n);
                }
                let lim = Limits {
                    buffer: if r.one_in(5) {
                        [16, 32, 64, 100, 256, 4096][r.below(6)]
                    } else {
                        1024
                    },
                    large_num: 1 + r.below(4),
                    large_size: [64, 256, 1024, 8192][r.below(4)],
                    underscores: r.one_in(4),
                    ignore_invalid: !r.one_in(4),
                    merge_slashes: !r.one_in(4),
                };
                let with = outcome(parse(&buf, &lim));
                let without = outcome(finish(&buf, parse_head(&buf, &lim)));
                assert_eq!(
                    with,
                    without,
                    "head {:?} limits {lim:?}",
                    String::from_utf8_lossy(&buf)
                );
                cases += 1;
                fast += usize::from(fast_head(&buf, &lim).is_some());
            }
        }
        // The generator reaches the fast path often enough for the test to mean something.
        assert!(fast * 5 > cases, "fast path taken {fast} times of {cases}");
    }

    #[test]
    fn chunked_end() {
        let body = b"5\r\nhello\r\n0\r\n\r\nGET";
        let mut c = Chunked::new();
        let mut size = 0;
        assert_eq!(c.feed(body, &mut size), body.len() - 3);
        assert_eq!(c, Chunked::Done);
    }
}
