//! ngx_http_flv_module: `flv`.

use crate::conf::{cmd, Args, Ctx, Module, Set};
use crate::http::response::Reply;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_flv_module",
    // nginx: ngx_http_flv only installs the location's content handler.
    commands: &[cmd("flv", Ctx::HTTP_LOC, Args::NOARGS, Set::NoOp)],
};

// ---- runtime: the content handler ----

/// nginx: ngx_flv_header, sent before the bytes from `start`.
const FLV_HEADER: &[u8] = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00";

/// nginx: ngx_http_flv_handler (`None`: declined, the content phase goes on): the file, or
/// with `?start=N` (0 < N < size) the FLV header and the file from byte N.
pub(crate) fn handler(r: &mut crate::http::request::Request) -> Option<Reply> {
    use crate::http::static_file::{etag, file_reply, fstat, map_uri_to_path, open_failed};
    if !matches!(r.method, hyper::Method::GET | hyper::Method::HEAD) {
        return Some(Reply::status(405));
    }
    if r.uri.ends_with(b"/") {
        return None;
    }
    let path = map_uri_to_path(r, &r.uri);
    let file = match std::fs::File::open(crate::http::static_file::path_of(&path)) {
        Ok(f) => f,
        Err(e) => return Some(open_failed(r, &path, &e)),
    };
    let meta = match fstat(&file) {
        Ok(m) => m,
        Err(e) => return Some(open_failed(r, &path, &e)),
    };
    if !meta.is_file() {
        return None;
    }
    let size = meta.size;
    let mut start = 0;
    if !r.args.is_empty() {
        if let Some(v) = crate::http::vars_runtime::arg(&r.args, b"start") {
            // nginx: ngx_atoof; a bad value or one past the end is 0.
            start = atoof(&v).filter(|&s| s < size).unwrap_or(0);
        }
    }
    let mut reply = file_reply(r, &path, file, &meta);
    if start == 0 {
        return Some(reply);
    }
    let len = FLV_HEADER.len() as u64 + size - start;
    reply.length = Some(len);
    // nginx: ngx_http_set_etag with the answer's length.
    if reply.headers.contains_key(hyper::header::ETAG) {
        match etag(meta.mtime, len) {
            Some(v) => {
                reply.headers.insert(hyper::header::ETAG, v);
            }
            None => {
                reply.headers.remove(hyper::header::ETAG);
            }
        }
    }
    // The range filter cuts files only: a seek answer is sent whole.
    reply.allow_ranges = false;
    if let Some(f) = reply.file.take() {
        use crate::http::file_body::Part;
        let parts = vec![
            Part::Bytes(bytes::Bytes::from_static(FLV_HEADER)),
            Part::File(start, size - start),
        ];
        let (body, _) = crate::http::file_body::body(f.file, parts, false, 0);
        reply.body = Some(http_body_util::BodyExt::boxed(body));
    }
    Some(reply)
}

/// nginx: ngx_atoof: decimal digits only (`None`: NGX_ERROR, also for an empty value).
fn atoof(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}
