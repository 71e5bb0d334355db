//! Building the response: status lines with nginx's reason phrases, the header filter's
//! headers, and the default error pages byte for byte (nginx: ngx_http_header_filter_module.c,
//! ngx_http_special_response.c).

use std::borrow::Cow;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

use hyper::header::{HeaderMap, HeaderName, HeaderValue};

use super::lower::ServerTokens;
use super::request::Request;

/// The body type every response uses.
pub(crate) type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

pub(crate) fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

pub(crate) fn empty() -> Body {
    full(Bytes::new())
}

/// What a phase answered: a status, headers and maybe a body (`None`: nginx's special
/// response for the status, unless an error page takes over). Boxed: it goes by value
/// through every phase's and filter's async fn, where a move of the fields is a memcpy.
pub(crate) struct Reply(Box<ReplyParts>);

impl std::ops::Deref for Reply {
    type Target = ReplyParts;
    fn deref(&self) -> &ReplyParts {
        &self.0
    }
}

impl std::ops::DerefMut for Reply {
    fn deref_mut(&mut self) -> &mut ReplyParts {
        &mut self.0
    }
}

/// A [`Reply`]'s fields.
pub(crate) struct ReplyParts {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Body>,
    /// `Content-Length` when the body's length is known.
    pub(crate) length: Option<u64>,
    /// The connection must close after this reply.
    pub(crate) close: bool,
    /// nginx's `return 444`: close without answering.
    pub(crate) drop: bool,
    /// The body is text whose type is the location's `default_type` (`return code text`).
    pub(crate) default_type: bool,
    /// The body may be served in ranges (nginx: `r->allow_ranges`).
    pub(crate) allow_ranges: bool,
    /// The body is this file (ranges are cut from it by the range filter).
    pub(crate) file: Option<FileBody>,
    /// `Location` stays as set: an upstream's header (nginx: ngx_http_upstream_rewrite_location
    /// leaves `r->headers_out.location` unset), or lua-nginx-module's ngx.redirect and
    /// ngx.header.location, which the header filter does not make absolute.
    pub(crate) raw_location: bool,
    /// An upstream's own status line (nginx: `r->headers_out.status_line`, FastCGI's
    /// `Status:` header): its text after the code is the reason phrase sent.
    pub(crate) status_line: Option<Vec<u8>>,
    /// The headers' names as written (add them with [`Names::note`] beside `headers`).
    pub(crate) names: Names,
    /// An upstream's answer not cached: no 304 or 412 of our own (nginx:
    /// `r->disable_not_modified`, set from `!u->cacheable`).
    pub(crate) no_not_modified: bool,
    /// headers-more ran on this reply already (before header_filter_by_lua*,
    /// engine/src/http/headers_more.rs `reply_filter`): `build` does not run it again.
    pub(crate) more_done: bool,
    /// more_clear_headers cleared `Server` / `Date`: the header filter writes none.
    pub(crate) no_server: bool,
    pub(crate) no_date: bool,
}

/// An open file answered whole or in ranges.
pub(crate) struct FileBody {
    pub(crate) file: std::fs::File,
    pub(crate) size: u64,
}

impl Reply {
    pub(crate) fn status(status: u16) -> Reply {
        Reply(Box::new(ReplyParts {
            status,
            headers: HeaderMap::new(),
            body: None,
            length: None,
            close: false,
            drop: false,
            default_type: false,
            allow_ranges: false,
            file: None,
            raw_location: false,
            status_line: None,
            names: Names::default(),
            no_not_modified: false,
            more_done: false,
            no_server: false,
            no_date: false,
        }))
    }

    /// nginx: ngx_http_rewrite_return / ngx_http_send_response: redirects take the text as
    /// `Location`, other codes as the body.
    pub(crate) fn ret(status: u16, text: Option<impl Into<Bytes>>) -> Reply {
        let mut r = Reply::status(status);
        if status == 444 {
            r.drop = true;
            return r;
        }
        let Some(text) = text else { return r };
        let text: Bytes = text.into();
        if matches!(status, 301 | 302 | 303 | 307 | 308) {
            if let Ok(v) = HeaderValue::from_maybe_shared(text) {
                r.headers.insert(hyper::header::LOCATION, v);
            }
            return r;
        }
        r.length = Some(text.len() as u64);
        r.body = Some(full(text));
        r.default_type = true;
        r
    }
}

/// nginx: ngx_http_status_lines' reason phrases.
pub(crate) fn reason(status: u16) -> Option<&'static str> {
    Some(match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Time-out",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        415 => "Unsupported Media Type",
        416 => "Requested Range Not Satisfiable",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => return None,
    })
}

/// The error page's title where it differs from the status line (nginx's page texts).
fn page_title(status: u16) -> Option<&'static str> {
    match status {
        302 => Some("Found"),
        401 => Some("Authorization Required"),
        _ => reason(status),
    }
}

/// nginx: ngx_http_special_response_handler's body for `status` (`None`: no body).
pub(crate) fn special_page(status: u16, tokens: ServerTokens) -> Option<Vec<u8>> {
    let tail: &[u8] = match tokens {
        ServerTokens::On | ServerTokens::Build => {
            b"<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"
        }
        ServerTokens::Off => b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
    };
    let extra = match status {
        494 => Some("Request Header Or Cookie Too Large"),
        495 => Some("The SSL certificate error"),
        496 => Some("No required SSL certificate was sent"),
        497 => Some("The plain HTTP request was sent to HTTPS port"),
        _ => None,
    };
    let mut page = Vec::new();
    if let Some(e) = extra {
        page.extend_from_slice(
            format!(
                "<html>\r\n<head><title>400 {e}</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>{e}</center>\r\n"
            )
            .as_bytes(),
        );
    } else {
        let title = page_title(status)?;
        if status < 301 || status == 304 {
            return None;
        }
        page.extend_from_slice(
            format!(
                "<html>\r\n<head><title>{status} {title}</title></head>\r\n<body>\r\n<center><h1>{status} {title}</h1></center>\r\n"
            )
            .as_bytes(),
        );
    }
    page.extend_from_slice(tail);
    Some(page)
}

/// nginx's `Server` header value (made at compile time: `HeaderValue::from_static` checks
/// its bytes when it runs).
pub(crate) fn server_header(tokens: ServerTokens) -> HeaderValue {
    match tokens {
        ServerTokens::Off => const { HeaderValue::from_static("nginx") },
        _ => const { HeaderValue::from_static("nginx/1.22.1") },
    }
}

/// Evaluated `sub_filter` (search, replacement) pairs.
type SubPairs = Vec<(Vec<u8>, Vec<u8>)>;

/// The response headers as nginx's `r->headers_out` holds them while the header filters run.
struct Out<'a> {
    status: u16,
    /// Borrowed from the location's `default_type` where it is that.
    content_type: Option<Cow<'a, [u8]>>,
    /// The charset the charset filter announces (nginx: `headers_out.charset`).
    charset: Option<Vec<u8>>,
    length: Option<u64>,
    last_modified: Option<HeaderValue>,
    location: Option<HeaderValue>,
    /// The other headers in the order they were added (nginx: the `headers_out.headers` list).
    list: Vec<(HeaderName, HeaderValue)>,
    body: Option<Body>,
    file: Option<FileBody>,
    allow_ranges: bool,
    /// Ranges the range filter cut (end exclusive), and the multipart boundary if several.
    ranges: Vec<(u64, u64)>,
    boundary: Option<(String, Vec<u8>)>,
    /// The sub_filter pairs to apply to the body, and `sub_filter_once`.
    subs: Option<(SubPairs, bool)>,
    /// The gzip level when the gzip filter compresses the body.
    gzip: Option<u32>,
    /// nginx: `r->gzip_vary`.
    gzip_vary: bool,
    close: bool,
    names: Names,
    /// The lines of `list` from here on were added by header filters that run after
    /// headers-more's (add_header, expires, gzip): more_set_headers and more_clear_headers
    /// don't see them, as headers-more's filter runs first in nginx's chain.
    more_end: Option<usize>,
    /// The reply's `more_done`, `no_server`, `no_date`.
    more_done: bool,
    no_server: bool,
    no_date: bool,
    /// The gunzip filter decompresses the body (engine/src/http/gunzip.rs).
    gunzip: Option<crate::http::gunzip::Logger>,
}

impl Out<'_> {
    fn get(&self, name: &HeaderName) -> Option<&HeaderValue> {
        self.list.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    fn remove(&mut self, name: &HeaderName) {
        self.list.retain(|(n, _)| n != name);
    }

    /// nginx: `last_modified_time` (`None` is -1).
    fn last_modified_time(&self) -> Option<i64> {
        let v = self.last_modified.as_ref()?.to_str().ok()?;
        parse_http_time(v.as_bytes())
    }

    /// nginx: ngx_http_weak_etag.
    fn weak_etag(&mut self) {
        let Some(i) = self.list.iter().position(|(n, _)| n == hyper::header::ETAG) else {
            return;
        };
        let v = self.list[i].1.as_bytes().to_vec();
        if v.len() > 2 && v.starts_with(b"W/") {
            return;
        }
        if !v.starts_with(b"\"") {
            self.list.remove(i);
            return;
        }
        let mut w = b"W/".to_vec();
        w.extend_from_slice(&v);
        match HeaderValue::from_bytes(&w) {
            Ok(h) => self.list[i].1 = h,
            Err(_) => {
                self.list.remove(i);
            }
        }
    }

    fn push(&mut self, name: HeaderName, value: &[u8]) {
        if let Ok(v) = HeaderValue::from_bytes(value) {
            self.list.push((name, v));
        }
    }
}

/// nginx: ngx_parse_http_time (RFC 1123, RFC 850 and asctime dates; `None` is NGX_ERROR).
pub(crate) fn parse_http_time(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    let t = httpdate::parse_http_date(s.trim()).ok()?;
    t.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
}

/// Multipart boundaries (nginx: ngx_next_temp_number(0), one counter per process).
static BOUNDARY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The request-side marker of nginx's `r->gzip_vary` (a name no configuration can use).
pub(crate) const GZIP_VARY: &[u8] = b" gzip_vary";

/// nginx: ngx_http_not_modified_header_filter. `Err(412)` fails a precondition.
fn not_modified(r: &Request, out: &mut Out) -> Result<(), u16> {
    use crate::http::static_file::Ims;
    // (Most requests have none of the four: one test of the lines' name bits.)
    if !r.headers.may_have(&[
        b"if-unmodified-since",
        b"if-match",
        b"if-modified-since",
        b"if-none-match",
    ]) {
        return Ok(());
    }
    let h = |n: hyper::header::HeaderName| r.headers.get(n).map(|v| v.as_bytes().to_vec());
    let ius = h(hyper::header::IF_UNMODIFIED_SINCE);
    let im = h(hyper::header::IF_MATCH);
    let ims = h(hyper::header::IF_MODIFIED_SINCE);
    let inm = h(hyper::header::IF_NONE_MATCH);
    if ius.is_none() && im.is_none() && ims.is_none() && inm.is_none() {
        return Ok(());
    }
    // The time is parsed back only for a request that compares it.
    let dated = ius.is_some() || ims.is_some();
    let lm = if dated {
        out.last_modified_time()
    } else {
        None
    };
    if let Some(ius) = ius {
        let ok = matches!((lm, parse_http_time(&ius)), (Some(lm), Some(t)) if t >= lm);
        if !ok {
            return Err(412);
        }
    }
    if let Some(im) = im {
        if !test_if_match(out, &im, false) {
            return Err(412);
        }
    }
    if ims.is_none() && inm.is_none() {
        return Ok(());
    }
    if let Some(ims) = ims {
        let mode = r.loc.if_modified_since.unwrap_or(Ims::Exact);
        let modified = match lm {
            None => true,
            Some(_) if mode == Ims::Off => true,
            Some(lm) => {
                let t = parse_http_time(&ims).unwrap_or(-1);
                t != lm && (mode == Ims::Exact || t < lm)
            }
        };
        if modified {
            return Ok(());
        }
    }
    if let Some(inm) = inm {
        if !test_if_match(out, &inm, true) {
            return Ok(());
        }
    }
    out.status = 304;
    out.content_type = None;
    out.length = None;
    out.remove(&hyper::header::ACCEPT_RANGES);
    out.remove(&hyper::header::CONTENT_ENCODING);
    out.body = None;
    out.file = None;
    Ok(())
}

/// nginx: ngx_http_test_if_match.
fn test_if_match(out: &Out, list: &[u8], weak: bool) -> bool {
    if list == b"*" {
        return true;
    }
    let Some(etag) = out.get(&hyper::header::ETAG) else {
        return false;
    };
    let mut etag = etag.as_bytes();
    if weak && etag.len() > 2 && etag.starts_with(b"W/") {
        etag = &etag[2..];
    }
    let mut i = 0;
    while i < list.len() {
        if weak && list.len() - i > 2 && list[i..].starts_with(b"W/") {
            i += 2;
        }
        if etag.len() > list.len() - i {
            return false;
        }
        if list[i..].starts_with(etag) {
            let mut j = i + etag.len();
            while j < list.len() && (list[j] == b' ' || list[j] == b'\t') {
                j += 1;
            }
            if j == list.len() || list[j] == b',' {
                return true;
            }
        }
        while i < list.len() && list[i] != b',' {
            i += 1;
        }
        while i < list.len() && matches!(list[i], b' ' | b'\t' | b',') {
            i += 1;
        }
    }
    false
}

/// nginx: ngx_http_headers_filter: `expires` and `add_header`.
fn headers_filter(r: &Request, out: &mut Out) {
    let safe = crate::http::headers::safe_status(out.status);
    if safe {
        if let Some(e) = &r.loc.expires {
            let value = e.value.as_ref().map(|v| r.eval(v));
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
            let lm = out.last_modified_time();
            if let Some((exp, cc)) =
                crate::http::headers::expires_headers(e, value.as_deref(), lm, now)
            {
                let expires = HeaderName::from_static("expires");
                let cache = hyper::header::CACHE_CONTROL;
                match out.list.iter().position(|(n, _)| *n == expires) {
                    Some(i) => {
                        if let Ok(v) = HeaderValue::from_str(&exp) {
                            out.list[i].1 = v;
                        }
                    }
                    None => out.push(expires, exp.as_bytes()),
                }
                match out.list.iter().position(|(n, _)| *n == cache) {
                    Some(i) => {
                        if let Ok(v) = HeaderValue::from_str(&cc) {
                            out.list[i].1 = v;
                        }
                        // Further Cache-Control lines are dropped.
                        let mut seen = false;
                        out.list.retain(|(n, _)| {
                            if *n != cache {
                                return true;
                            }
                            let keep = !seen;
                            seen = true;
                            keep
                        });
                    }
                    None => out.push(cache, cc.as_bytes()),
                }
            }
        }
    }
    let Some(add) = r.loc.add_headers.as_ref() else {
        return;
    };
    for h in add.iter().filter(|h| h.always || safe) {
        let value = r.eval(&h.value);
        let Ok(name) = HeaderName::from_bytes(&h.name) else {
            continue;
        };
        // nginx: Last-Modified and ETag replace the response's own (an empty value removes it).
        if name == hyper::header::LAST_MODIFIED {
            out.last_modified = HeaderValue::from_bytes(&value)
                .ok()
                .filter(|_| !value.is_empty());
            continue;
        }
        if name == hyper::header::ETAG {
            match out.list.iter().position(|(n, _)| *n == name) {
                Some(i) if value.is_empty() => {
                    out.list.remove(i);
                }
                Some(i) => {
                    if let Ok(v) = HeaderValue::from_bytes(&value) {
                        out.list[i].1 = v;
                    }
                }
                None if value.is_empty() => {}
                None => out.push(name, &value),
            }
            out.names.note(&h.name);
            continue;
        }
        if value.is_empty() {
            continue;
        }
        out.push(name, &value);
        out.names.note(&h.name);
    }
}

/// nginx: ngx_http_sub_header_filter.
fn sub_filter(r: &Request, out: &mut Out) {
    let Some(pairs) = r.loc.sub_filters.as_ref().filter(|p| !p.is_empty()) else {
        return;
    };
    if out.length == Some(0) {
        return;
    }
    let types =
        r.loc.sub_filter_types.clone().unwrap_or_else(|| {
            std::sync::Arc::new(crate::http::gzip::TypeList::of(&["text/html"]))
        });
    let Some(ct) = &out.content_type else { return };
    if !types.matches(ct) {
        return;
    }
    out.subs = Some((
        pairs
            .iter()
            .map(|p| (r.eval(&p.search).to_ascii_lowercase(), r.eval(&p.replace)))
            .collect(),
        r.loc.sub_filter_once != Some(false),
    ));
    if r.vars.contains_key(crate::http::ssi::SUB_DONE) {
        // engine/src/http/ssi.rs substituted before SSI ran, as nginx's filter order does.
        out.subs = None;
    }
    out.length = None;
    if r.loc.sub_filter_last_modified == Some(true) {
        out.weak_etag();
    } else {
        out.last_modified = None;
        out.remove(&hyper::header::ETAG);
    }
}

/// nginx: ngx_http_ssi_header_filter for the main request (engine/src/http/ssi.rs ran the
/// body's commands): no Content-Length, Accept-Ranges; Last-Modified and ETag go, or the
/// ETag turns weak with `ssi_last_modified on`.
fn ssi_filter(r: &Request, out: &mut Out) {
    if r.sub != 0 || !crate::http::ssi::applies(r, out.length, out.content_type.as_deref()) {
        return;
    }
    out.length = None;
    out.allow_ranges = false;
    out.remove(&hyper::header::ACCEPT_RANGES);
    if r.loc.ssi_last_modified == Some(true) {
        out.weak_etag();
    } else {
        out.last_modified = None;
        out.remove(&hyper::header::ETAG);
    }
}

/// nginx: ngx_http_gzip_header_filter.
fn gzip_filter(r: &Request, out: &mut Out) {
    if r.loc.gzip != Some(true)
        || !matches!(out.status, 200 | 403 | 404)
        || out
            .get(&hyper::header::CONTENT_ENCODING)
            .is_some_and(|v| !v.is_empty())
        || out
            .length
            .is_some_and(|l| l < r.loc.gzip_min_length.unwrap_or(20))
    {
        return;
    }
    let Some(ct) = &out.content_type else { return };
    let ok_type = match &r.loc.gzip_types {
        Some(t) => t.matches(ct),
        None => crate::http::gzip::TypeList::of(&["text/html"]).matches(ct),
    };
    if !ok_type {
        return;
    }
    out.gzip_vary = true;
    if !crate::http::gzip::gzip_ok(r, Some(out.list.as_slice()), out.last_modified.is_some()) {
        return;
    }
    out.push(hyper::header::CONTENT_ENCODING, b"gzip");
    out.gzip = Some(r.loc.gzip_comp_level.unwrap_or(1));
    out.length = None;
    out.remove(&hyper::header::ACCEPT_RANGES);
    out.weak_etag();
}

/// nginx: ngx_http_range_header_filter. `Err(416)` when no range can be satisfied.
fn range_filter(r: &Request, out: &mut Out) -> Result<(), u16> {
    let Some(size) = out.length else {
        return Ok(());
    };
    if out.status != 200 || !out.allow_ranges || r.version == hyper::Version::HTTP_09 {
        return Ok(());
    }
    let max = r.loc.max_ranges.unwrap_or(None);
    if max == Some(0) {
        return Ok(());
    }
    let accept = |out: &mut Out| {
        out.push(hyper::header::ACCEPT_RANGES, b"bytes");
        Ok(())
    };
    let Some(range) = r.headers.get(hyper::header::RANGE).map(|v| v.as_bytes()) else {
        return accept(out);
    };
    if range.len() < 7 || !range[..6].eq_ignore_ascii_case(b"bytes=") {
        return accept(out);
    }
    if let Some(ir) = r.headers.get(hyper::header::IF_RANGE).map(|v| v.as_bytes()) {
        if ir.len() >= 2 && ir.ends_with(b"\"") {
            match out.get(&hyper::header::ETAG) {
                Some(etag) if etag.as_bytes() == ir => {}
                _ => return accept(out),
            }
        } else {
            match out.last_modified_time() {
                Some(lm) if parse_http_time(ir) == Some(lm) => {}
                _ => return accept(out),
            }
        }
    }
    match parse_ranges(&range[6..], size, max) {
        RangeParse::Declined => accept(out),
        RangeParse::NotSatisfiable => {
            out.push(
                hyper::header::CONTENT_RANGE,
                format!("bytes */{size}").as_bytes(),
            );
            out.length = None;
            Err(416)
        }
        RangeParse::Ranges(ranges) => {
            out.status = 206;
            if let [(s, e)] = ranges[..] {
                out.push(
                    hyper::header::CONTENT_RANGE,
                    format!("bytes {s}-{}/{size}", e - 1).as_bytes(),
                );
                out.length = Some(e - s);
            } else {
                let n = BOUNDARY.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                let boundary = format!("{n:020}");
                let mut head = format!("\r\n--{boundary}\r\n").into_bytes();
                if let Some(ct) = &out.content_type {
                    head.extend_from_slice(b"Content-Type: ");
                    head.extend_from_slice(ct);
                    if let Some(cs) = &out.charset {
                        head.extend_from_slice(b"; charset=");
                        head.extend_from_slice(cs);
                    }
                    head.extend_from_slice(b"\r\n");
                }
                head.extend_from_slice(b"Content-Range: bytes ");
                out.content_type = Some(Cow::Owned(
                    format!("multipart/byteranges; boundary={boundary}").into_bytes(),
                ));
                out.charset = None;
                let mut len = (4 + 20 + 4) as u64;
                for (s, e) in &ranges {
                    let cr = format!("{s}-{}/{size}\r\n\r\n", e - 1);
                    len += head.len() as u64 + cr.len() as u64 + (e - s);
                }
                out.length = Some(len);
                out.boundary = Some((boundary, head));
            }
            out.ranges = ranges;
            Ok(())
        }
    }
}

/// What a `Range` header asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RangeParse {
    /// Serve the whole body.
    Declined,
    NotSatisfiable,
    /// `(start, end)` pairs, end exclusive.
    Ranges(Vec<(u64, u64)>),
}

/// nginx: ngx_http_range_parse (`spec` after `bytes=`; `max` is `max_ranges`).
pub(crate) fn parse_ranges(spec: &[u8], size: u64, max: Option<u64>) -> RangeParse {
    let mut p = 0;
    let at = |p: usize| spec.get(p).copied().unwrap_or(0);
    let mut ranges = Vec::new();
    let mut total: u64 = 0;
    let mut left = max;
    const CUTOFF: u64 = (i64::MAX / 10) as u64;
    const CUTLIM: u64 = (i64::MAX % 10) as u64;
    let num = |p: &mut usize, v: &mut u64| -> bool {
        while at(*p).is_ascii_digit() {
            let d = u64::from(at(*p) - b'0');
            if *v >= CUTOFF && (*v > CUTOFF || d > CUTLIM) {
                return false;
            }
            *v = *v * 10 + d;
            *p += 1;
        }
        true
    };
    loop {
        let mut start = 0u64;
        let mut end = 0u64;
        let mut suffix = false;
        while at(p) == b' ' {
            p += 1;
        }
        let mut found = false;
        if at(p) != b'-' {
            if !at(p).is_ascii_digit() || !num(&mut p, &mut start) {
                return RangeParse::NotSatisfiable;
            }
            while at(p) == b' ' {
                p += 1;
            }
            if at(p) != b'-' {
                return RangeParse::NotSatisfiable;
            }
            p += 1;
            while at(p) == b' ' {
                p += 1;
            }
            if at(p) == b',' || p >= spec.len() {
                end = size;
                found = true;
            }
        } else {
            suffix = true;
            p += 1;
        }
        if !found {
            if !at(p).is_ascii_digit() || !num(&mut p, &mut end) {
                return RangeParse::NotSatisfiable;
            }
            while at(p) == b' ' {
                p += 1;
            }
            if at(p) != b',' && p < spec.len() {
                return RangeParse::NotSatisfiable;
            }
            if suffix {
                start = size.saturating_sub(end);
                end = size.saturating_sub(1);
            }
            end = if end >= size { size } else { end + 1 };
        }
        if start < end {
            ranges.push((start, end));
            total = total.saturating_add(end - start);
            match left {
                Some(0) => return RangeParse::Declined,
                Some(n) => left = Some(n - 1),
                None => {}
            }
        } else if start == 0 {
            return RangeParse::Declined;
        }
        if at(p) != b',' || p >= spec.len() {
            break;
        }
        p += 1;
    }
    if ranges.is_empty() {
        return RangeParse::NotSatisfiable;
    }
    if total > size {
        return RangeParse::Declined;
    }
    RangeParse::Ranges(ranges)
}

/// A special response's page and headers (nginx: ngx_http_special_response_handler): the
/// handler's headers stay, but not Accept-Ranges, Last-Modified or ETag.
fn special(out: &mut Out, tokens: ServerTokens, msie_padding: bool) {
    let status = out.status;
    out.remove(&hyper::header::ACCEPT_RANGES);
    out.remove(&hyper::header::ETAG);
    out.last_modified = None;
    out.file = None;
    out.allow_ranges = false;
    out.charset = None;
    if let Some(mut page) = special_page(status, tokens) {
        if msie_padding && status >= 400 {
            page.extend_from_slice(MSIE_PADDING.repeat(6).as_bytes());
        }
        out.length = Some(page.len() as u64);
        out.body = Some(full(page));
        out.content_type = Some(Cow::Borrowed(b"text/html"));
    } else {
        out.length = Some(0);
        out.content_type = None;
    }
    if matches!(status, 400 | 413 | 414 | 494 | 495 | 496 | 497 | 500 | 501) {
        out.close = true;
    }
}

/// nginx: ngx_http_msie_padding, six times.
const MSIE_PADDING: &str = "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n";

/// Whether error pages get the padding (nginx: `msie_padding` for a request whose first
/// `User-Agent` is MSIE's or Chrome's, as ngx_http_process_user_agent tells them, HTTP/1.0+).
fn msie_padding(r: &Request) -> bool {
    if r.loc.msie_padding == Some(false) || r.version == hyper::Version::HTTP_09 {
        return false;
    }
    let Some(ua) = r.headers.get(hyper::header::USER_AGENT) else {
        return false;
    };
    let ua = ua.as_bytes();
    let find = |n: &[u8]| ua.windows(n.len()).position(|w| w == n);
    let msie = find(b"MSIE ").is_some_and(|i| i + 7 < ua.len());
    if find(b"Opera").is_some() {
        return false;
    }
    msie || find(b"Gecko/").is_none() && find(b"Chrome/").is_some()
}

/// nginx: ngx_http_userid_filter (its Set-Cookie and P3P lines) and
/// ngx_http_gunzip_header_filter.
fn userid_gunzip_filters(r: &Request, out: &mut Out) {
    for (name, value) in crate::http::userid::filter(r) {
        if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
            out.names.note(name.as_bytes());
            out.push(n, &value);
        }
    }
    let lm = out.last_modified.is_some();
    if crate::http::gunzip::wanted(r, &out.list, lm, &mut out.gzip_vary) {
        out.remove(&hyper::header::CONTENT_ENCODING);
        out.length = None;
        out.remove(&hyper::header::ACCEPT_RANGES);
        out.allow_ranges = false;
        out.weak_etag();
        out.gunzip = Some(crate::http::gunzip::Logger::new(r));
    }
}

/// The filters after the headers filter: userid, gunzip, sub, charset, gzip (nginx's header
/// filter order).
fn late_filters(r: &Request, out: &mut Out) {
    userid_gunzip_filters(r, out);
    sub_filter(r, out);
    if let Some(ct) = &out.content_type {
        out.charset = crate::http::charset::destination(r, ct);
    }
    ssi_filter(r, out);
    gzip_filter(r, out);
}

/// nginx: the header filter chain and ngx_http_header_filter: turns a reply into the response
/// hyper writes, headers in nginx's order.
pub(crate) fn build(r: &Request, mut reply: Reply, keepalive: bool) -> Response {
    let (status_line, reply_status) = (reply.status_line.clone(), reply.status);
    let tokens = r.loc.server_tokens.unwrap_or(ServerTokens::On);
    // (An empty map is not searched: most answers of nginx's own modules have no headers.)
    let listed = !reply.headers.is_empty();
    let raw_location = if reply.raw_location && listed {
        reply.headers.get(hyper::header::LOCATION).cloned()
    } else {
        None
    };
    let mut out = Out {
        status: reply.status,
        content_type: None,
        charset: None,
        length: reply.length,
        last_modified: match listed {
            true => reply.headers.get(hyper::header::LAST_MODIFIED).cloned(),
            false => None,
        },
        location: match reply.raw_location || !listed {
            true => None,
            false => reply.headers.get(hyper::header::LOCATION).cloned(),
        },
        list: Vec::new(),
        body: reply.body.take(),
        file: reply.file.take(),
        allow_ranges: reply.allow_ranges,
        ranges: Vec::new(),
        boundary: None,
        subs: None,
        gzip: None,
        gzip_vary: r.vars.contains_key(GZIP_VARY),
        close: reply.close,
        names: std::mem::take(&mut reply.names),
        more_end: None,
        more_done: reply.more_done,
        no_server: reply.no_server,
        no_date: reply.no_date,
        gunzip: None,
    };
    if reply.default_type {
        out.content_type = Some(Cow::Borrowed(
            r.loc.default_type.as_deref().unwrap_or(b"text/plain"),
        ));
    }
    if let Some(ct) = reply
        .headers
        .get(hyper::header::CONTENT_TYPE)
        .filter(|_| listed)
    {
        out.content_type = Some(Cow::Owned(ct.as_bytes().to_vec()));
    }
    // (Standard names: compared as enum values.)
    static PLACED: [HeaderName; 4] = [
        hyper::header::CONTENT_TYPE,
        hyper::header::LAST_MODIFIED,
        hyper::header::LOCATION,
        hyper::header::CONTENT_LENGTH,
    ];
    for (name, value) in reply.headers.iter() {
        if !PLACED.contains(name) || (reply.raw_location && name == hyper::header::LOCATION) {
            out.list.push((name.clone(), value.clone()));
        }
    }
    let has_body = out.body.is_some() || out.file.is_some();
    let mut special_status = None;
    if has_body || out.status < 300 || out.status == 304 {
        if out.status == 200 && !reply.no_not_modified {
            if let Err(s) = not_modified(r, &mut out) {
                // nginx: ngx_http_filter_finalize_request: a clean special response.
                out.list.clear();
                out.location = None;
                special_status = Some(s);
            }
        }
        if special_status.is_none() {
            out.more_end = Some(out.list.len());
            headers_filter(r, &mut out);
            late_filters(r, &mut out);
            if let Err(s) = range_filter(r, &mut out) {
                special_status = Some(s);
            }
        }
    } else {
        special_status = Some(out.status);
    }
    if let Some(s) = special_status {
        out.status = s;
        out.body = None;
        special(&mut out, tokens, msie_padding(r));
        out.more_end = Some(out.list.len());
        headers_filter(r, &mut out);
        late_filters(r, &mut out);
    }
    let mut resp = header_filter(r, &mut out, keepalive, tokens);
    if let Some(line) = status_line.filter(|_| resp.status == reply_status) {
        let text = line.get(3..).unwrap_or_default();
        let text = text.strip_prefix(b" ").unwrap_or(text);
        if let Ok(p) = hyper::ext::ReasonPhrase::try_from(text.to_vec()) {
            resp.reason = Some(p.as_bytes().to_vec());
        }
    }
    if let Some(loc) = raw_location {
        // The first Location line gets the value as set, the others go (HeaderMap's insert).
        let mut first = true;
        resp.headers.retain_mut(|(n, v)| {
            if *n != hyper::header::LOCATION {
                return true;
            }
            if first {
                first = false;
                *v = loc.clone();
                return true;
            }
            false
        });
    }
    resp
}

/// The response's header lines in the order they go out.
pub(crate) type Headers = Vec<(HeaderName, HeaderValue)>;

/// The first value of `name` in `headers`.
pub(crate) fn header<'a>(headers: &'a Headers, name: &HeaderName) -> Option<&'a HeaderValue> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

/// A response as the header filter leaves it (nginx: what ngx_http_header_filter writes):
/// the status, the header lines in wire order and the body.
pub(crate) struct Response<B = Body> {
    /// 100-999 (anything else went out as 500).
    pub(crate) status: u16,
    /// An upstream's own reason phrase (`None`: nginx's, [`reason`]).
    pub(crate) reason: Option<Vec<u8>>,
    pub(crate) headers: Headers,
    /// The header names as written where they were set.
    pub(crate) names: Names,
    pub(crate) body: B,
    /// The file body's handle for an HTTP/1.x connection (engine/src/http/file_body.rs).
    pub(crate) file: Option<crate::http::file_body::FileSend>,
}

impl<B> Response<B> {
    pub(crate) fn map<C>(self, f: impl FnOnce(B) -> C) -> Response<C> {
        Response {
            status: self.status,
            reason: self.reason,
            headers: self.headers,
            names: self.names,
            body: f(self.body),
            file: self.file,
        }
    }

    /// The first value of `name`.
    pub(crate) fn header(&self, name: &HeaderName) -> Option<&HeaderValue> {
        header(&self.headers, name)
    }

    pub(crate) fn has(&self, name: &HeaderName) -> bool {
        self.headers.iter().any(|(n, _)| n == name)
    }

    /// hyper's response (HTTP/2): the header lines as a `HeaderMap`.
    pub(crate) fn into_hyper(self) -> hyper::Response<B> {
        let mut resp = hyper::Response::new(self.body);
        *resp.status_mut() = hyper::StatusCode::from_u16(self.status)
            .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
        let headers = resp.headers_mut();
        for (n, v) in self.headers {
            headers.append(n, v);
        }
        resp
    }
}

/// nginx: ngx_http_header_filter and the chunked filter: the wire headers and the body.
/// (`out` by reference: the filters' state is not moved again.)
fn header_filter(r: &Request, out: &mut Out, keepalive: bool, tokens: ServerTokens) -> Response {
    // nginx's codes without a wire form (494-497) answer 400.
    let status = if (494..=497).contains(&out.status) {
        400
    } else {
        out.status
    };
    let head = r.method == hyper::Method::HEAD;
    // echo_before_body / echo_after_body: the body grows, its length is unknown (nginx:
    // ngx_http_echo_header_filter clears Content-Length).
    let echo_texts = crate::http::echo::filter_texts(r);
    if echo_texts.is_some() {
        out.length = None;
    }
    // nginx: a 204 has no type, length or date; Last-Modified only goes with 200, 206, 304.
    if status == 204 {
        out.content_type = None;
        out.last_modified = None;
        out.length = None;
    }
    if !matches!(status, 200 | 206 | 304) {
        out.last_modified = None;
    }
    let mut headers: Headers = Vec::with_capacity(out.list.len() + 8);
    // nginx: a Server or Date passed from an upstream (proxy_pass_header) replaces its own.
    let listed = |n: &HeaderName| out.list.iter().any(|(l, _)| l == n);
    if !listed(&hyper::header::SERVER) && !out.no_server {
        headers.push((hyper::header::SERVER, server_header(tokens)));
    }
    if !listed(&hyper::header::DATE) && !out.no_date {
        if let Some(v) = date_now() {
            headers.push((hyper::header::DATE, v));
        }
    }
    if let Some(ct) = &out.content_type {
        let v = match &out.charset {
            Some(cs) => recent_type(&[ct, b"; charset=", cs]),
            None => recent_type(&[ct]),
        };
        if let Some(v) = v {
            headers.push((hyper::header::CONTENT_TYPE, v));
        }
    }
    if let Some(len) = out.length {
        if status != 304 && status != 204 {
            headers.push((hyper::header::CONTENT_LENGTH, recent_length(len)));
        }
    }
    if let Some(lm) = out.last_modified.take() {
        headers.push((hyper::header::LAST_MODIFIED, lm));
    }
    // nginx: only a relative Location (made absolute) has its own place; any other stays
    // in the header list, after Connection.
    let mut listed_location = None;
    if let Some(loc) = out.location.take() {
        if loc.as_bytes().starts_with(b"/") && r.loc.absolute_redirect != Some(false) {
            headers.push((hyper::header::LOCATION, absolute_location(r, loc)));
        } else {
            listed_location = Some(loc);
        }
    }
    // nginx: ngx_http_chunked_header_filter.
    let mut close = out.close || !keepalive;
    let bodyless = head || matches!(status, 204 | 304) || status < 200;
    if out.length.is_none() && !bodyless {
        if r.version == hyper::Version::HTTP_11 {
            headers.push((
                hyper::header::TRANSFER_ENCODING,
                const { HeaderValue::from_static("chunked") },
            ));
        } else {
            close = true;
        }
    }
    // nginx: ngx_http_header_filter: a 101 says `Connection: upgrade`.
    let conn_value = match (status, close) {
        (101, _) => const { HeaderValue::from_static("upgrade") },
        (_, true) => const { HeaderValue::from_static("close") },
        _ => const { HeaderValue::from_static("keep-alive") },
    };
    headers.push((hyper::header::CONNECTION, conn_value));
    // nginx writes gzip's Vary itself, after Connection: headers-more can't clear it.
    let gzip_vary = out.gzip_vary && r.loc.gzip_vary == Some(true);
    let more = !r.loc.more_output.is_empty() && !out.more_done;
    if gzip_vary && !more {
        headers.push((
            hyper::header::VARY,
            const { HeaderValue::from_static("Accept-Encoding") },
        ));
    }
    if let Some(loc) = listed_location {
        headers.push((hyper::header::LOCATION, loc));
    }
    // more_set_headers / more_clear_headers (engine/src/http/headers_more.rs), on a
    // HeaderMap (only when configured: its lines grouped by name as the map keeps them),
    // before the lines of the header filters that run after it.
    if more {
        let mut later = out
            .more_end
            .filter(|&i| i <= out.list.len())
            .map_or_else(Vec::new, |i| out.list.split_off(i));
        headers.append(&mut out.list);
        more_accept_ranges(r, status, &headers, &mut later);
        let mut map = hyper::HeaderMap::with_capacity(headers.len());
        for (n, v) in headers.drain(..) {
            map.append(n, v);
        }
        crate::http::headers_more::output_filter(r, status, &mut map);
        headers.extend(map.iter().map(|(n, v)| (n.clone(), v.clone())));
        if gzip_vary {
            let at = headers
                .iter()
                .position(|(n, _)| *n == hyper::header::CONNECTION)
                .map_or(headers.len(), |i| i + 1);
            headers.insert(
                at,
                (
                    hyper::header::VARY,
                    const { HeaderValue::from_static("Accept-Encoding") },
                ),
            );
        }
        headers.extend(later);
    } else if out.more_done {
        // headers-more ran on the reply; only the range filter's Accept-Ranges (later in
        // the chain) is still to be seen.
        let mut later = out
            .more_end
            .filter(|&i| i <= out.list.len())
            .map_or_else(Vec::new, |i| out.list.split_off(i));
        more_accept_ranges(r, status, &headers, &mut later);
        headers.append(&mut out.list);
        headers.extend(later);
    } else {
        headers.append(&mut out.list);
    }
    let (body, file) = if head || status == 304 || status == 204 {
        (empty(), None)
    } else {
        match echo_texts {
            Some((before, after)) => {
                let (body, _) = out_body(r, out);
                (crate::http::echo::wrap(body, before, after), None)
            }
            None => out_body(r, out),
        }
    };
    // nginx: a code without a line in its table goes out as "NNN " (an empty reason): the
    // writers fall back to [`reason`] (or nothing) when no reason is set.
    let status = if (100..1000).contains(&status) {
        status
    } else {
        500
    };
    Response {
        status,
        reason: None,
        headers,
        names: std::mem::take(&mut out.names),
        body,
        file,
    }
}

/// headers-more on the range filter's `Accept-Ranges`, which comes later in the chain: a
/// cleared one turns ranges off (headers-more's set handler clears `r->allow_ranges`), a set
/// one replaces it.
fn more_accept_ranges(r: &Request, status: u16, headers: &Headers, later: &mut Headers) {
    let ar = hyper::header::ACCEPT_RANGES;
    let Some(i) = later.iter().position(|(n, _)| *n == ar) else {
        return;
    };
    let mut m = hyper::HeaderMap::new();
    if let Some((_, ct)) = headers
        .iter()
        .find(|(n, _)| *n == hyper::header::CONTENT_TYPE)
    {
        m.insert(hyper::header::CONTENT_TYPE, ct.clone());
    }
    m.insert(ar.clone(), later[i].1.clone());
    crate::http::headers_more::output_filter(r, status, &mut m);
    match m.get(&ar) {
        Some(v) => later[i].1 = v.clone(),
        None => {
            later.remove(i);
        }
    }
}

thread_local! {
    /// The `Date` value of the current second (nginx: ngx_cached_http_time).
    static DATE: std::cell::RefCell<Option<(u64, HeaderValue)>> = const { std::cell::RefCell::new(None) };
    /// The last `Content-Type` and `Content-Length` values made (answers in a row tend to
    /// repeat them; a clone shares the bytes instead of allocating them again).
    static RECENT_TYPE: std::cell::RefCell<Option<(Vec<u8>, HeaderValue)>> = const { std::cell::RefCell::new(None) };
    static RECENT_LENGTH: std::cell::RefCell<Option<(u64, HeaderValue)>> = const { std::cell::RefCell::new(None) };
}

/// The header value of `parts` joined (`None`: not a valid value).
fn recent_type(parts: &[&[u8]]) -> Option<HeaderValue> {
    RECENT_TYPE.with(|c| {
        let mut c = c.borrow_mut();
        if let Some((k, v)) = c.as_ref() {
            let mut rest = k.as_slice();
            let same = parts.iter().all(|p| match rest.strip_prefix(*p) {
                Some(t) => {
                    rest = t;
                    true
                }
                None => false,
            }) && rest.is_empty();
            if same {
                return Some(v.clone());
            }
        }
        let k = parts.concat();
        let v = HeaderValue::from_bytes(&k).ok()?;
        *c = Some((k, v.clone()));
        Some(v)
    })
}

/// The `Content-Length` value of `len`.
fn recent_length(len: u64) -> HeaderValue {
    RECENT_LENGTH.with(|c| {
        let mut c = c.borrow_mut();
        if let Some((n, v)) = c.as_ref() {
            if *n == len {
                return v.clone();
            }
        }
        let v = HeaderValue::from(len);
        *c = Some((len, v.clone()));
        v
    })
}

/// The `Date` header value for now, formatted once per second per worker thread.
fn date_now() -> Option<HeaderValue> {
    // SAFETY: time(2) with a null pointer only returns the seconds (the vDSO's cheap clock,
    // read at every response).
    let secs = unsafe { libc::time(std::ptr::null_mut()) };
    let secs = u64::try_from(secs).unwrap_or(0);
    DATE.with(|c| {
        let mut c = c.borrow_mut();
        if let Some((s, v)) = c.as_ref() {
            if *s == secs {
                return Some(v.clone());
            }
        }
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        let v = HeaderValue::from_str(&httpdate::fmt_http_date(now)).ok()?;
        *c = Some((secs, v.clone()));
        Some(v)
    })
}

/// The body after the range, sub and gzip body filters, and the file's handle for the
/// connection when the body is the file's bytes unchanged (engine/src/http/file_body.rs).
fn out_body(r: &Request, out: &mut Out) -> (Body, Option<crate::http::file_body::FileSend>) {
    use crate::http::file_body::Part;
    let is_file = out.file.is_some();
    let (mut body, mut send) = match out.file.take() {
        Some(f) => {
            let mut parts = Vec::new();
            match (&out.boundary, out.ranges.as_slice()) {
                (_, []) => parts.push(Part::File(0, f.size)),
                (None, [(s, e), ..]) => parts.push(Part::File(*s, e - s)),
                (Some((boundary, head)), ranges) => {
                    for (s, e) in ranges {
                        let mut h = head.clone();
                        h.extend_from_slice(format!("{s}-{}/{}\r\n\r\n", e - 1, f.size).as_bytes());
                        parts.push(Part::Bytes(h.into()));
                        parts.push(Part::File(*s, e - s));
                    }
                    parts.push(Part::Bytes(
                        format!("\r\n--{boundary}--\r\n").into_bytes().into(),
                    ));
                }
            }
            let (body, send) = crate::http::file_body::body(
                f.file,
                parts,
                r.loc.sendfile == Some(true),
                r.loc.sendfile_max_chunk.unwrap_or(2 * 1024 * 1024),
            );
            (body.boxed(), Some(send))
        }
        None => (out.body.take().unwrap_or_else(empty), None),
    };
    if let Some(log) = out.gunzip.take() {
        body = crate::http::gunzip::GunzipBody::new(body, log, is_file).boxed();
        send = None;
    }
    if let Some((subs, once)) = out.subs.take() {
        body = buffered(body, move |b| crate::http::sub::substitute(&b, &subs, once));
        send = None;
    }
    // add_before_body / add_after_body: below sub_filter, above gzip (nginx's postpone
    // filter, where subrequest output joins the main body).
    body = match crate::http::addition::around(r, body) {
        Ok(b) => {
            send = None;
            b
        }
        Err(b) => b,
    };
    if let Some(level) = out.gzip {
        body = crate::http::gzip::GzipBody::new(body, level).boxed();
        send = None;
    }
    (body, send)
}

/// The whole of `body` passed through `f` once it has all arrived (for the sub filter).
fn buffered(body: Body, f: impl FnOnce(Vec<u8>) -> Vec<u8> + Send + Sync + 'static) -> Body {
    Buffered {
        inner: body,
        data: Vec::new(),
        f: Some(Box::new(f)),
    }
    .boxed()
}

type Transform = Box<dyn FnOnce(Vec<u8>) -> Vec<u8> + Send + Sync>;

struct Buffered {
    inner: Body,
    data: Vec<u8>,
    f: Option<Transform>,
}

impl hyper::body::Body for Buffered {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        use std::task::Poll;
        loop {
            if self.f.is_none() {
                return Poll::Ready(None);
            }
            match std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(d) = frame.into_data() {
                        self.data.extend_from_slice(&d);
                    }
                }
                Poll::Ready(None) => {
                    let data = std::mem::take(&mut self.data);
                    let Some(f) = self.f.take() else {
                        return Poll::Ready(None);
                    };
                    return Poll::Ready(Some(Ok(hyper::body::Frame::data(f(data).into()))));
                }
            }
        }
    }
}

/// nginx: the header filter makes a relative `Location` absolute (`absolute_redirect on`).
fn absolute_location(r: &Request, loc: HeaderValue) -> HeaderValue {
    let bytes = loc.as_bytes();
    if !bytes.starts_with(b"/") || r.loc.absolute_redirect == Some(false) {
        return loc;
    }
    let host = if r.loc.server_name_in_redirect == Some(true) {
        r.server.name.clone()
    } else {
        r.host()
    };
    let tls = crate::http::ssl::is_tls(r);
    let default_port = if tls { 443 } else { 80 };
    let port = r.conn.local.map_or(default_port, |a| a.port());
    let mut s = if tls {
        b"https://".to_vec()
    } else {
        b"http://".to_vec()
    };
    s.extend_from_slice(&host);
    if port != default_port && r.loc.port_in_redirect != Some(false) {
        s.extend_from_slice(format!(":{port}").as_bytes());
    }
    s.extend_from_slice(bytes);
    HeaderValue::from_bytes(&s).unwrap_or(loc)
}

#[cfg(test)]
mod tests {
    use super::{special_page, ServerTokens};

    #[test]
    fn error_pages_as_nginx() {
        let p = special_page(404, ServerTokens::On).unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&p),
            "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"
        );
        let p = special_page(302, ServerTokens::Off).unwrap_or_default();
        assert!(String::from_utf8_lossy(&p).contains("<title>302 Found</title>"));
        assert!(special_page(200, ServerTokens::On).is_none());
        let p = special_page(494, ServerTokens::On).unwrap_or_default();
        assert!(String::from_utf8_lossy(&p)
            .contains("<center>Request Header Or Cookie Too Large</center>"));
    }
}

/// Header names as written where they were set (add_header, ngx.header, an upstream's
/// head), carried beside the `HeaderMap` (which keeps them lower-case) so that HTTP/1.x
/// sends them as nginx does.
#[derive(Clone, Default, Debug)]
pub(crate) struct Names(pub(crate) Vec<Vec<u8>>);

impl Names {
    /// Remembers `name`'s spelling when it is not the one [`write_name`] would use (the
    /// first spelling of a name counts).
    pub(crate) fn note(&mut self, name: &[u8]) {
        let mut up = true;
        let plain = builtin(&name.to_ascii_lowercase()).is_none()
            && name.iter().all(|&c| {
                let want = if up {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                };
                up = c == b'-';
                c == want
            });
        if !plain && !self.0.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            self.0.push(name.to_vec());
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|n| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(Vec::as_slice)
    }
}

/// Writes a header name as nginx does: as it was set (`names`), nginx's own spelling of
/// the headers its modules add, else capitalized at each word.
pub(crate) fn write_name(out: &mut Vec<u8>, name: &HeaderName, names: Option<&Names>) {
    use hyper::header as h;
    // The header filter writes these itself, with its own spelling (the capitalized one).
    // (Standard names compare as enum values, no string comparison.)
    static OWN: [(HeaderName, &[u8]); 7] = [
        (h::SERVER, b"Server"),
        (h::DATE, b"Date"),
        (h::CONTENT_TYPE, b"Content-Type"),
        (h::CONTENT_LENGTH, b"Content-Length"),
        (h::CONNECTION, b"Connection"),
        (h::LAST_MODIFIED, b"Last-Modified"),
        (h::TRANSFER_ENCODING, b"Transfer-Encoding"),
    ];
    if let Some((_, b)) = OWN.iter().find(|(n, _)| n == name) {
        out.extend_from_slice(b);
        return;
    }
    let n = name.as_str();
    if n == "keep-alive" {
        out.extend_from_slice(b"Keep-Alive");
        return;
    }
    if let Some(w) = names.and_then(|m| m.get(n)) {
        out.extend_from_slice(w);
        return;
    }
    if let Some(b) = builtin(n.as_bytes()) {
        out.extend_from_slice(b);
        return;
    }
    let start = out.len();
    out.extend_from_slice(n.as_bytes());
    let mut up = true;
    for c in &mut out[start..] {
        let was = *c;
        if up {
            c.make_ascii_uppercase();
        }
        up = was == b'-';
    }
}

/// nginx's spelling of the headers its modules add where capitalizing each word differs.
fn builtin(lower: &[u8]) -> Option<&'static [u8]> {
    match lower {
        b"etag" => Some(b"ETag"),
        b"www-authenticate" => Some(b"WWW-Authenticate"),
        _ => None,
    }
}
