//! ngx_http_slice_filter_module: `slice`.

use crate::conf::{cmd, Args, Ctx, Module, Set, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_slice_filter_module",
    commands: &[cmd(
        "slice",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    )],
};

/// Variables this module defines.
pub(crate) const VARIABLES: &[&str] = &["slice_range"];

// ---------------------------------------------------------------------------------------------
// Run time (nginx: ngx_http_slice_filter_module's header and body filters, `$slice_range`).
//
// The main request's first upstream response is the slice `$slice_range` named; it becomes a
// 200 for the whole resource (Content-Range gone), whose body is that slice, then the
// following slices, each fetched by a clone subrequest of the same location (with the
// cache). The client's Range is cut here from the slices (nginx's range filter does it on
// the 200 it sees; single range only, as `r->single_range`), since the body is a stream.

use bytes::Bytes;
use http_body_util::BodyExt;

use super::lower::LocConf;
use super::request::Request;
use super::response::Reply;
use parser::Directive;

/// `slice size` into a level (0: off).
pub(crate) fn lower(c: &mut LocConf, d: &Directive) {
    let v = d.args.first().map(Vec::as_slice).unwrap_or_default();
    c.slice = Some(crate::conf::values::parse_size(v).unwrap_or(0));
}

/// Where the slice state of the main request is kept (`r.lazy`; no variable has the name).
const CTX: &[u8] = b" slice ctx";

/// nginx: ngx_http_slice_range_variable: `bytes=S-E` of the slice the client's range starts
/// in; evaluating it switches the slice filter on for the request.
pub(crate) fn range_variable(r: &Request) -> Option<Vec<u8>> {
    if let Some(v) = r.lazy.borrow().get(CTX) {
        return v.clone();
    }
    if r.sub != 0 {
        return None;
    }
    let size = r.loc.slice.unwrap_or(0);
    if size == 0 {
        return None;
    }
    let start = size * (get_start(r) / size);
    let v = format!("bytes={start}-{}", start + size - 1).into_bytes();
    r.lazy.borrow_mut().insert(CTX.to_vec(), Some(v.clone()));
    Some(v)
}

/// nginx: ngx_http_slice_get_start: the client's single range's start (0 with If-Range,
/// several ranges, a suffix range or anything else).
fn get_start(r: &Request) -> u64 {
    if r.headers.contains_key(hyper::header::IF_RANGE) {
        return 0;
    }
    let Some(h) = r.headers.get(hyper::header::RANGE).map(|v| v.as_bytes()) else {
        return 0;
    };
    if h.len() < 7 || !h[..6].eq_ignore_ascii_case(b"bytes=") {
        return 0;
    }
    let p = &h[6..];
    if p.contains(&b',') {
        return 0;
    }
    let p: Vec<u8> = p.iter().skip_while(|&&c| c == b' ').copied().collect();
    if p.first() == Some(&b'-') {
        return 0;
    }
    let mut start = 0u64;
    for &c in p.iter().take_while(|c| c.is_ascii_digit()) {
        match start
            .checked_mul(10)
            .and_then(|s| s.checked_add(u64::from(c - b'0')))
        {
            Some(s) if s <= i64::MAX as u64 => start = s,
            _ => return 0,
        }
    }
    start
}

/// nginx: ngx_http_slice_parse_content_range: (start, end exclusive, complete length or
/// None for `*`).
fn parse_content_range(v: &[u8]) -> Option<(u64, u64, Option<u64>)> {
    let rest = v.strip_prefix(b"bytes ")?;
    if v.len() < 7 {
        return None;
    }
    let mut p = rest;
    let skip = |p: &mut &[u8]| {
        while p.first() == Some(&b' ') {
            *p = &p[1..];
        }
    };
    let num = |p: &mut &[u8]| -> Option<u64> {
        if !p.first()?.is_ascii_digit() {
            return None;
        }
        let mut n = 0u64;
        while let Some(&c) = p.first().filter(|c| c.is_ascii_digit()) {
            n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            if n > i64::MAX as u64 {
                return None;
            }
            *p = &p[1..];
        }
        Some(n)
    };
    skip(&mut p);
    let start = num(&mut p)?;
    skip(&mut p);
    p = p.strip_prefix(b"-")?;
    skip(&mut p);
    let end = num(&mut p)? + 1;
    skip(&mut p);
    p = p.strip_prefix(b"/")?;
    skip(&mut p);
    let complete = if let Some(rest) = p.strip_prefix(b"*") {
        p = rest;
        None
    } else {
        Some(num(&mut p)?)
    };
    skip(&mut p);
    if !p.is_empty() {
        return None;
    }
    Some((start, end, complete))
}

/// A slice response's checks (nginx: ngx_http_slice_header_filter's errors): the range it
/// covers and the resource's length.
fn check(
    r: &Request,
    reply: &Reply,
    etag: &mut Option<Vec<u8>>,
    expect_start: u64,
    size: u64,
) -> Result<(u64, u64, u64), ()> {
    if reply.status != 206 {
        crate::http::errlog::request_error(
            r,
            &format!("unexpected status code {} in slice response", reply.status),
        );
        return Err(());
    }
    let h = reply
        .headers
        .get(hyper::header::ETAG)
        .map(|v| v.as_bytes().to_vec());
    if let Some(e) = etag.as_ref() {
        if h.as_ref() != Some(e) {
            crate::http::errlog::request_error(r, "etag mismatch in slice response");
            return Err(());
        }
    }
    if h.is_some() {
        *etag = h;
    }
    let cr = reply
        .headers
        .get(hyper::header::CONTENT_RANGE)
        .and_then(|v| parse_content_range(v.as_bytes()));
    let Some((start, end, complete)) = cr else {
        crate::http::errlog::request_error(r, "invalid range in slice response");
        return Err(());
    };
    let Some(complete) = complete else {
        crate::http::errlog::request_error(r, "no complete length in slice response");
        return Err(());
    };
    let want_end = (start + size).min(complete);
    if start != expect_start || end != want_end {
        crate::http::errlog::request_error(
            r,
            &format!("unexpected range in slice response: {start}-{end}"),
        );
        return Err(());
    }
    Ok((start, end, complete))
}

/// A reply's body bytes (a cached response's file or the upstream's stream).
async fn body_bytes(mut reply: Reply) -> Result<Vec<u8>, ()> {
    if let Some(f) = reply.file.take() {
        use std::io::Read;
        let mut data = Vec::new();
        let mut file = f.file;
        file.read_to_end(&mut data).map_err(|_| ())?;
        data.truncate(f.size as usize);
        return Ok(data);
    }
    match reply.body.take() {
        Some(b) => b
            .collect()
            .await
            .map(|c| c.to_bytes().to_vec())
            .map_err(|_| ()),
        None => Ok(Vec::new()),
    }
}

/// The client's single range over `complete` bytes: `Ok(None)` whole, `Ok(Some((a, b)))`
/// bytes a..b, `Err(())` unsatisfiable (416).
fn client_range(r: &Request, reply: &Reply, complete: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(range) = r.headers.get(hyper::header::RANGE).map(|v| v.as_bytes()) else {
        return Ok(None);
    };
    if range.len() < 7 || !range[..6].eq_ignore_ascii_case(b"bytes=") {
        return Ok(None);
    }
    if let Some(ir) = r.headers.get(hyper::header::IF_RANGE).map(|v| v.as_bytes()) {
        let etag = reply.headers.get(hyper::header::ETAG).map(|v| v.as_bytes());
        let lm = reply
            .headers
            .get(hyper::header::LAST_MODIFIED)
            .map(|v| v.as_bytes());
        if Some(ir) != etag && Some(ir) != lm {
            return Ok(None);
        }
    }
    match crate::http::response::parse_ranges(&range[6..], complete, Some(1)) {
        crate::http::response::RangeParse::Ranges(v) => match v.as_slice() {
            [(s, e)] => Ok(Some((*s, *e))),
            _ => Ok(None),
        },
        crate::http::response::RangeParse::NotSatisfiable => Err(()),
        _ => Ok(None),
    }
}

/// nginx: the slice filters around the location's content (proxy_pass with its cache):
/// `fetch` answers one request.
pub(crate) async fn main(r: &mut Request) -> Option<Reply> {
    let first = crate::http::proxy_run::fetch(r).await?;
    let Some(Some(range)) = r.lazy.borrow().get(CTX).cloned() else {
        return Some(first);
    };
    let size = r.loc.slice.unwrap_or(0);
    if first.status != 206 || size == 0 {
        // nginx: a main request's non-206 answer passes unchanged
        return Some(first);
    }
    let start0 = std::str::from_utf8(&range)
        .ok()
        .and_then(|s| s.strip_prefix("bytes="))
        .and_then(|s| s.split('-').next())
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    let mut etag = None;
    let Ok((start, end, complete)) = check(r, &first, &mut etag, start0, size) else {
        let mut reply = Reply::status(502);
        reply.drop = true;
        return Some(reply);
    };
    let mut reply = Reply::status(200);
    reply.raw_location = first.raw_location;
    reply.names = Default::default();
    for (n, v) in first.headers.iter() {
        if n == hyper::header::CONTENT_RANGE || n == hyper::header::ACCEPT_RANGES {
            continue;
        }
        reply.headers.append(n.clone(), v.clone());
    }
    reply.names.0 = first.names.0.clone();
    // the client's range over the whole resource
    let (want_a, want_b) = match client_range(r, &first, complete) {
        Err(()) => {
            let mut e = Reply::status(416);
            if let Ok(v) = hyper::header::HeaderValue::from_str(&format!("bytes */{complete}")) {
                e.headers.insert(hyper::header::CONTENT_RANGE, v);
            }
            return Some(e);
        }
        Ok(Some((a, b))) => {
            reply.status = 206;
            if let Ok(v) = hyper::header::HeaderValue::from_str(&format!(
                "bytes {a}-{}/{complete}",
                b.saturating_sub(1)
            )) {
                reply.headers.insert(hyper::header::CONTENT_RANGE, v);
            }
            reply.length = Some(b - a);
            (a, b)
        }
        Ok(None) => {
            reply.headers.insert(
                hyper::header::ACCEPT_RANGES,
                hyper::header::HeaderValue::from_static("bytes"),
            );
            reply.length = Some(complete);
            (0, complete)
        }
    };
    if r.method == hyper::Method::HEAD {
        reply.body = Some(crate::http::response::empty());
        return Some(reply);
    }
    // nginx: the next slice: skip the ones before the client's range
    let mut next = end;
    if next + size <= want_a {
        next = size * (want_a / size);
    }
    let first_data = body_bytes(first).await;
    let Ok(first_data) = first_data else {
        let mut reply = Reply::status(502);
        reply.drop = true;
        return Some(reply);
    };
    let base = r.subrequest(
        0,
        r.uri.clone(),
        r.args.clone(),
        r.method.clone(),
        r.vars.clone(),
    );
    let mut sl = Slicer {
        base,
        loc: r.loc.clone(),
        location: r.location.clone(),
        valid_unparsed: r.valid_unparsed_uri,
        internal: r.internal,
        next,
        size,
        etag,
        want: (want_a, want_b.min(complete)),
    };
    // nginx: the head and the first bytes wait in the write filter until postpone_output
    // (1460) bytes are there: a slice failing before that leaves the client nothing
    let mut pre = sl.cut(&first_data, start).to_vec();
    while pre.len() < 1460 && sl.more() {
        match sl.next_part().await {
            Ok(b) => pre.extend_from_slice(&b),
            Err(()) => {
                let mut reply = Reply::status(502);
                reply.drop = true;
                return Some(reply);
            }
        }
    }
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_local(async move {
        if !pre.is_empty() && tx.send(Ok(Bytes::from(pre))).await.is_err() {
            return;
        }
        while sl.more() {
            match sl.next_part().await {
                Ok(b) => {
                    if !b.is_empty() && tx.send(Ok(b)).await.is_err() {
                        return;
                    }
                }
                Err(()) => {
                    let _ = tx.send(Err(std::io::Error::other("slice failed"))).await;
                    return;
                }
            }
        }
    });
    reply.body = Some(crate::http::proxy_run::ChanBody { rx, first: None }.boxed());
    Some(reply)
}

/// The slices after the first (nginx: the body filter's clone subrequests).
struct Slicer {
    base: Request,
    loc: std::sync::Arc<LocConf>,
    location: Option<std::sync::Arc<super::lower::Location>>,
    valid_unparsed: bool,
    internal: bool,
    /// The next slice's start.
    next: u64,
    size: u64,
    etag: Option<Vec<u8>>,
    /// The bytes the client gets.
    want: (u64, u64),
}

impl Slicer {
    fn more(&self) -> bool {
        self.next < self.want.1
    }

    /// The part of `data` (the resource's bytes from `at`) the client wants.
    fn cut(&self, data: &[u8], at: u64) -> Bytes {
        let a = self.want.0.max(at);
        let b = self.want.1.min(at + data.len() as u64);
        if a >= b {
            return Bytes::new();
        }
        Bytes::copy_from_slice(&data[(a - at) as usize..(b - at) as usize])
    }

    /// Fetches the next slice (a subrequest through the location's cache), checked.
    async fn next_part(&mut self) -> Result<Bytes, ()> {
        let b = &self.base;
        let sub = crate::http::lua::subrequest::next_sub();
        let mut sr = b.subrequest(
            sub,
            b.uri.clone(),
            b.args.clone(),
            b.method.clone(),
            b.vars.clone(),
        );
        sr.loc = self.loc.clone();
        sr.location = self.location.clone();
        sr.valid_unparsed_uri = self.valid_unparsed;
        sr.internal = self.internal;
        sr.request_uri = b.request_uri.clone();
        let next = self.next;
        sr.vars.insert(
            b"slice_range".to_vec(),
            format!("bytes={next}-{}", next + self.size - 1).into_bytes(),
        );
        let reply = crate::http::proxy_run::fetch(&mut sr).await.ok_or(())?;
        let (s, e, _) = check(&sr, &reply, &mut self.etag, next, self.size)?;
        let data = body_bytes(reply).await?;
        self.next = e;
        Ok(self.cut(&data, s))
    }
}
