//! The content phase for files: ngx_http_static_module, ngx_http_index_module and the
//! precontent phase's ngx_http_try_files_module, with conditional and range requests
//! (ngx_http_not_modified_filter_module, ngx_http_range_filter_module).

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::SystemTime;

use futures_util::TryStreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::HeaderValue;
use hyper::Method;

use super::lower::{LocKind, TryFiles};
use super::request::{Next, Request};
use super::response::Reply;

/// Bytes as a path.
pub(crate) fn os_path(b: &[u8]) -> PathBuf {
    PathBuf::from(std::ffi::OsStr::from_bytes(b))
}

/// nginx: ngx_http_map_uri_to_path: `root` + URI, or the `alias` in place of the location's
/// prefix (a regex location's alias is the whole path).
pub(crate) fn map_uri_to_path(r: &Request, uri: &[u8]) -> Vec<u8> {
    let Some(root) = r.loc.root.clone() else {
        return uri.to_vec();
    };
    let mut base = r.eval(&root.value);
    if !base.starts_with(b"/") {
        let prefix = r.http.prefix.as_os_str().as_bytes();
        let mut p = prefix.to_vec();
        if !p.ends_with(b"/") {
            p.push(b'/');
        }
        p.extend_from_slice(&base);
        base = p;
    }
    if !root.alias {
        base.extend_from_slice(uri);
        return base;
    }
    match r.location.as_ref().map(|l| (&l.kind, l.name.len())) {
        Some((LocKind::Regex(_), _)) => base,
        Some((_, n)) => {
            base.extend_from_slice(uri.get(n..).unwrap_or_default());
            base
        }
        None => base,
    }
}

/// The document root (`$document_root`): the evaluated `root` or `alias`.
pub(crate) fn document_root(r: &Request) -> Vec<u8> {
    map_uri_to_path(r, b"")
}

/// nginx: ngx_http_try_files_handler.
pub(crate) async fn try_files(r: &mut Request, tf: &TryFiles) -> Next {
    for f in &tf.files {
        let name = r.eval(f);
        let (name, dir) = match name.strip_suffix(b"/") {
            Some(n) if !n.is_empty() => (n.to_vec(), true),
            _ => (name, false),
        };
        let path = map_uri_to_path(r, &name);
        let Ok(meta) = tokio::fs::metadata(os_path(&path)).await else {
            continue;
        };
        if meta.is_dir() != dir {
            continue;
        }
        let mut uri = name;
        if dir {
            uri.push(b'/');
        }
        r.uri = uri;
        return Next::Continue;
    }
    let last = r.eval(&tf.last);
    if let Some(code) = last.strip_prefix(b"=") {
        let code = crate::conf::values::atoi(code)
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(500);
        return Next::Done(Reply::status(code));
    }
    if last.starts_with(b"@") {
        return Next::Done(Box::pin(r.named_location(&last)).await);
    }
    let (path, args) = match last.iter().position(|&c| c == b'?') {
        Some(i) => (last[..i].to_vec(), Some(last[i + 1..].to_vec())),
        None => (last, None),
    };
    r.uri = path;
    if let Some(a) = args {
        r.args = a;
    }
    Next::Relocate
}

/// The content phase: index for directories, then the static file (nginx: ngx_http_index_handler,
/// ngx_http_static_handler).
pub(crate) async fn content(r: &mut Request) -> Reply {
    if r.uri.ends_with(b"/") {
        return index(r).await;
    }
    if !matches!(r.method, Method::GET | Method::HEAD | Method::POST) {
        return Reply::status(405);
    }
    let path = map_uri_to_path(r, &r.uri.clone());
    let meta = match tokio::fs::metadata(os_path(&path)).await {
        Ok(m) => m,
        Err(e) => return open_failed(r, &path, &e),
    };
    if meta.is_dir() {
        // nginx: a directory without its slash is redirected to it.
        let mut loc = r.uri.clone();
        loc.push(b'/');
        if !r.args.is_empty() {
            loc.push(b'?');
            loc.extend_from_slice(&r.args);
        }
        return Reply::ret(301, Some(loc));
    }
    if r.method == Method::POST {
        return Reply::status(405);
    }
    serve_file(r, &path, &meta).await
}

/// nginx: the status and error-log line for a file that can't be opened.
fn open_failed(r: &Request, path: &[u8], e: &std::io::Error) -> Reply {
    let status = match e.kind() {
        std::io::ErrorKind::NotFound => 404,
        std::io::ErrorKind::PermissionDenied => 403,
        _ => 500,
    };
    let enotdir = e.raw_os_error() == Some(libc::ENOTDIR);
    let status = if enotdir { 404 } else { status };
    if status != 404 || r.loc.log_not_found != Some(false) {
        crate::http::errlog::request_error(
            r,
            &format!(
                "open() \"{}\" failed ({})",
                String::from_utf8_lossy(path),
                crate::log::errno_text(e)
            ),
        );
    }
    Reply::status(status)
}

/// nginx: ngx_http_index_handler.
async fn index(r: &mut Request) -> Reply {
    let dir = map_uri_to_path(r, &r.uri.clone());
    let files = r.loc.index.clone().unwrap_or_default();
    for f in &files {
        let name = r.eval(f);
        if name.starts_with(b"/") {
            return Box::pin(r.internal_redirect(name, None)).await;
        }
        let mut path = dir.clone();
        path.extend_from_slice(&name);
        match tokio::fs::metadata(os_path(&path)).await {
            Ok(_) => {
                let mut uri = r.uri.clone();
                uri.extend_from_slice(&name);
                return Box::pin(r.internal_redirect(uri, None)).await;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return open_failed(r, &path, &e),
        }
    }
    match tokio::fs::metadata(os_path(&dir)).await {
        Err(e) => {
            crate::http::errlog::request_error(
                r,
                &format!(
                    "\"{}\" is not found ({})",
                    String::from_utf8_lossy(&dir),
                    crate::log::errno_text(&e)
                ),
            );
            Reply::status(404)
        }
        Ok(_) if r.loc.autoindex == Some(true) => Reply::status(403),
        Ok(_) => {
            crate::http::errlog::request_error(
                r,
                &format!(
                    "directory index of \"{}\" is forbidden",
                    String::from_utf8_lossy(&dir)
                ),
            );
            Reply::status(403)
        }
    }
}

/// nginx: ngx_http_static_handler's response, with ETag/Last-Modified, 304 and ranges.
async fn serve_file(r: &mut Request, path: &[u8], meta: &std::fs::Metadata) -> Reply {
    let size = meta.len();
    let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let secs = mtime
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let last_modified =
        httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs));
    let etag = format!("\"{secs:x}-{size:x}\"");
    let mut reply = Reply::status(200);
    reply.headers.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_bytes(&content_type(r, path))
            .unwrap_or(HeaderValue::from_static("text/plain")),
    );
    if let Ok(v) = HeaderValue::from_str(&last_modified) {
        reply.headers.insert(hyper::header::LAST_MODIFIED, v);
    }
    if r.loc.etag != Some(false) {
        if let Ok(v) = HeaderValue::from_str(&etag) {
            reply.headers.insert(hyper::header::ETAG, v);
        }
    }
    // nginx: ngx_http_not_modified_filter (`if_modified_since exact`).
    let inm = r
        .headers
        .get(hyper::header::IF_NONE_MATCH)
        .map(|v| v.as_bytes().to_vec());
    let ims = r
        .headers
        .get(hyper::header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    let not_modified = match (&inm, ims) {
        (Some(tags), _) => {
            tags == b"*"
                || tags
                    .split(|&c| c == b',')
                    .any(|t| t.trim_ascii() == etag.as_bytes())
        }
        (None, Some(t)) => t == SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs),
        _ => false,
    };
    if not_modified {
        let mut nm = Reply::status(304);
        nm.headers = reply.headers;
        nm.headers.remove(hyper::header::CONTENT_TYPE);
        nm.body = Some(super::response::empty());
        return nm;
    }
    reply.headers.insert(
        hyper::header::ACCEPT_RANGES,
        HeaderValue::from_static("bytes"),
    );
    let file = match tokio::fs::File::open(os_path(path)).await {
        Ok(f) => f,
        Err(e) => return open_failed(r, path, &e),
    };
    // nginx: ngx_http_range_header_filter, single ranges.
    let range = r
        .headers
        .get(hyper::header::RANGE)
        .map(|v| v.as_bytes().to_vec());
    let mut start = 0;
    let mut len = size;
    if let Some(range) = range {
        match parse_range(&range, size) {
            Some(Ok((s, e))) => {
                start = s;
                len = e - s + 1;
                reply.status = 206;
                if let Ok(v) = HeaderValue::from_str(&format!("bytes {s}-{e}/{size}")) {
                    reply.headers.insert(hyper::header::CONTENT_RANGE, v);
                }
            }
            Some(Err(())) => {
                let mut bad = Reply::status(416);
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    bad.headers.insert(hyper::header::CONTENT_RANGE, v);
                }
                return bad;
            }
            None => {}
        }
    }
    reply.length = Some(len);
    reply.body = Some(file_body(file, start, len).await);
    reply
}

/// A file's bytes `start..start+len` as a streamed body.
async fn file_body(mut file: tokio::fs::File, start: u64, len: u64) -> super::response::Body {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    if start > 0 && file.seek(std::io::SeekFrom::Start(start)).await.is_err() {
        return super::response::empty();
    }
    let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), 64 * 1024);
    StreamBody::new(stream.map_ok(Frame::data)).boxed()
}

/// One `bytes=a-b` range: `None` to ignore the header, `Some(Err)` for 416.
fn parse_range(h: &[u8], size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = h.strip_prefix(b"bytes=")?;
    if spec.contains(&b',') {
        return None;
    }
    let dash = spec.iter().position(|&c| c == b'-')?;
    let (a, b) = (spec[..dash].trim_ascii(), spec[dash + 1..].trim_ascii());
    let num = |s: &[u8]| crate::conf::values::atoi(s).and_then(|n| u64::try_from(n).ok());
    if a.is_empty() {
        let suffix = num(b)?;
        if suffix == 0 || size == 0 {
            return Some(Err(()));
        }
        let s = size.saturating_sub(suffix);
        return Some(Ok((s, size - 1)));
    }
    let s = num(a)?;
    if s >= size {
        return Some(Err(()));
    }
    let e = if b.is_empty() {
        size - 1
    } else {
        num(b)?.min(size - 1)
    };
    if e < s {
        return None;
    }
    Some(Ok((s, e)))
}

/// nginx: ngx_http_set_content_type: the extension's type, or `default_type`.
fn content_type(r: &Request, path: &[u8]) -> Vec<u8> {
    let name = path.rsplit(|&c| c == b'/').next().unwrap_or(path);
    if let Some(dot) = name.iter().rposition(|&c| c == b'.') {
        let ext = name[dot + 1..].to_ascii_lowercase();
        if let Some(t) = r.loc.types.as_ref().and_then(|t| t.get(&ext)) {
            return t.clone();
        }
    }
    r.loc
        .default_type
        .clone()
        .unwrap_or_else(|| b"text/plain".to_vec())
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(b"bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(parse_range(b"bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range(b"bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range(b"bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range(b"bytes=0-9,20-29", 100), None);
        assert_eq!(parse_range(b"items=0-9", 100), None);
    }
}
