//! The content phase for files: ngx_http_static_module, ngx_http_index_module,
//! ngx_http_autoindex_module, ngx_http_gzip_static_module and the precontent phase's
//! ngx_http_try_files_module. Conditional requests and ranges are header filters (see
//! response.rs); this file supplies the file and its validators.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use hyper::header::HeaderValue;
use hyper::Method;
use parser::Directive;

use super::lower::{LocConf, LocKind, TryFiles};
use super::request::{Next, Request};
use super::response::{FileBody, Reply};

/// `if_modified_since off|exact|before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ims {
    Off,
    Exact,
    Before,
}

/// Folds `if_modified_since`, `max_ranges`, `sendfile` and `sendfile_max_chunk` (core module
/// directives) into a level.
pub(crate) fn lower(c: &mut LocConf, d: &Directive) {
    let a = d.args.first().map(Vec::as_slice).unwrap_or_default();
    match d.name.as_slice() {
        b"sendfile" => c.sendfile = Some(a.eq_ignore_ascii_case(b"on")),
        b"sendfile_max_chunk" => c.sendfile_max_chunk = crate::conf::values::parse_size(a),
        b"if_modified_since" => {
            c.if_modified_since = Some(match a {
                b"off" => Ims::Off,
                b"before" => Ims::Before,
                _ => Ims::Exact,
            })
        }
        b"max_ranges" => {
            c.max_ranges = Some(
                crate::conf::values::atoi(a)
                    .and_then(|n| u64::try_from(n).ok())
                    .filter(|_| a != b"-1"),
            )
        }
        _ => {}
    }
}

/// Bytes as a path.
pub(crate) fn os_path(b: &[u8]) -> PathBuf {
    PathBuf::from(std::ffi::OsStr::from_bytes(b))
}

/// Bytes as a borrowed path.
pub(crate) fn path_of(b: &[u8]) -> &Path {
    Path::new(std::ffi::OsStr::from_bytes(b))
}

/// The evaluated `root`/`alias` made absolute against the prefix, and whether it is an alias;
/// `extra`: room for what the caller appends.
fn root_of(r: &Request, extra: usize) -> Option<(Vec<u8>, bool)> {
    use crate::http::variables::Part;
    let root = r.loc.root.as_ref()?;
    // A root without variables is used as written, without an evaluation's copy.
    let evaluated;
    let value: &[u8] = match root.value.parts.as_slice() {
        [] => b"",
        [Part::Lit(l)] => l,
        _ => {
            evaluated = r.eval(&root.value);
            &evaluated
        }
    };
    let prefix = r.http.prefix.as_os_str().as_bytes();
    let mut base = Vec::with_capacity(prefix.len() + 1 + value.len() + extra);
    if !value.starts_with(b"/") {
        base.extend_from_slice(prefix);
        if !base.ends_with(b"/") {
            base.push(b'/');
        }
    }
    base.extend_from_slice(value);
    Some((base, root.alias))
}

/// The part of the location's name an alias replaces (`None`: a regex location's alias is the
/// whole path).
fn alias_len(r: &Request) -> Option<usize> {
    match r.location.as_ref().map(|l| (&l.kind, l.name.len())) {
        Some((LocKind::Regex(_), _)) => None,
        Some((_, n)) => Some(n),
        None => Some(0),
    }
}

/// nginx: ngx_http_map_uri_to_path: `root` + URI, or the `alias` in place of the location's
/// prefix (a regex location's alias is the whole path).
pub(crate) fn map_uri_to_path(r: &Request, uri: &[u8]) -> Vec<u8> {
    let Some((mut base, alias)) = root_of(r, uri.len()) else {
        return uri.to_vec();
    };
    if !alias {
        base.extend_from_slice(uri);
        return base;
    }
    if let Some(n) = alias_len(r) {
        base.extend_from_slice(uri.get(n..).unwrap_or_default());
    }
    base
}

/// The document root (`$document_root`): the evaluated `root` or `alias`.
pub(crate) fn document_root(r: &Request) -> Vec<u8> {
    map_uri_to_path(r, b"")
}

pub(crate) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An error-log line with nginx's ` (errno: text)` suffix.
fn log_err(r: &Request, level: crate::log::Level, msg: &str, e: &std::io::Error) {
    crate::http::errlog::log(r, level, &format!("{msg} ({})", crate::log::errno_text(e)));
}

/// nginx: ngx_http_try_files_handler.
pub(crate) async fn try_files(r: &mut Request, tf: &TryFiles) -> Next {
    for f in &tf.files {
        let name = r.eval(f);
        let (name, test_dir) = match name.strip_suffix(b"/") {
            Some(n) if !n.is_empty() => (n.to_vec(), true),
            _ => (name, false),
        };
        let Some((mut path, alias)) = root_of(r, name.len()) else {
            continue;
        };
        let alias = alias.then(|| alias_len(r));
        match alias {
            // A prefix location's alias replaces the location's part of the name.
            Some(Some(n)) if name.len() >= n && name[..n] == r.uri[..n.min(r.uri.len())] => {
                path.extend_from_slice(&name[n..])
            }
            _ => path.extend_from_slice(&name),
        }
        // nginx stats in the worker (ngx_open_cached_file without a cache): a page-cache
        // stat costs less than a trip to tokio's blocking pool.
        let meta = match std::fs::metadata(path_of(&path)) {
            Ok(m) => m,
            Err(e) => {
                let quiet = e.kind() == std::io::ErrorKind::NotFound
                    || matches!(e.raw_os_error(), Some(libc::ENOTDIR | libc::ENAMETOOLONG));
                if !quiet {
                    log_err(
                        r,
                        crate::log::Level::Crit,
                        &format!("stat() \"{}\" failed", lossy(&path)),
                        &e,
                    );
                }
                continue;
            }
        };
        if meta.is_dir() != test_dir {
            continue;
        }
        let mut uri = match alias {
            // nginx: a regex location's alias leaves the whole path as the URI.
            Some(None) if !test_dir => path,
            Some(None) => b"/".to_vec(),
            _ => name,
        };
        if test_dir && !uri.ends_with(b"/") {
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
    // nginx: ngx_http_split_args: no `?` means no arguments.
    let (path, args) = match last.iter().position(|&c| c == b'?') {
        Some(i) => (last[..i].to_vec(), last[i + 1..].to_vec()),
        None => (last, Vec::new()),
    };
    r.uri = path;
    r.args = args;
    Next::Relocate
}

/// The content phase: the location's handler (stub_status, empty_gif), else random_index,
/// index, autoindex, dav,
/// gzip_static and static, in nginx's order (nginx: ngx_http_core_content_phase).
pub(crate) async fn content(r: &mut Request) -> Reply {
    if r.loc.stub_status {
        return crate::http::stub_status::handler(r);
    }
    if r.loc.empty_gif {
        return crate::http::empty_gif::handler(r);
    }
    if r.loc.flv {
        if let Some(reply) = crate::http::flv::handler(r) {
            return reply;
        }
    }
    if r.loc.mp4 {
        if let Some(reply) = crate::http::mp4::handler(r) {
            return reply;
        }
    }
    // nginx: index and autoindex decline other methods than GET, HEAD and POST, so the dav
    // handler that follows them sees its methods first.
    if let Some(reply) = crate::http::dav::content(r).await {
        return reply;
    }
    if r.uri.ends_with(b"/") {
        if let Some(reply) = crate::http::random_index::handler(r).await {
            return reply;
        }
        if let Some(reply) = index(r).await {
            return reply;
        }
        if let Some(reply) = autoindex(r).await {
            return reply;
        }
        if !matches!(r.method, Method::GET | Method::HEAD | Method::POST) {
            return Reply::status(405);
        }
        // nginx: no content handler for a directory.
        let path = map_uri_to_path(r, &r.uri.clone());
        crate::http::errlog::request_error(
            r,
            &format!("directory index of \"{}\" is forbidden", lossy(&path)),
        );
        return Reply::status(403);
    }
    if let Some(reply) = gzip_static(r).await {
        return reply;
    }
    static_handler(r).await
}

/// nginx: the status and error-log line for a file that can't be opened.
pub(crate) fn open_failed(r: &Request, path: &[u8], e: &std::io::Error) -> Reply {
    use crate::log::Level;
    let (status, level) = match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG) => (404, Level::Error),
        Some(libc::EACCES) => (403, Level::Error),
        _ => (500, Level::Crit),
    };
    if status != 404 || r.loc.log_not_found != Some(false) {
        log_err(r, level, &format!("open() \"{}\" failed", lossy(path)), e);
    }
    Reply::status(status)
}

/// nginx: ngx_http_index_handler (`None`: declined).
async fn index(r: &mut Request) -> Option<Reply> {
    use crate::log::Level;
    if !matches!(r.method, Method::GET | Method::HEAD | Method::POST) {
        return None;
    }
    let dir = map_uri_to_path(r, &r.uri.clone());
    let files = r.loc.index.clone().unwrap_or_default();
    let mut dir_tested = false;
    for f in &files {
        let name = r.eval(f);
        if name.starts_with(b"/") {
            let args = r.args.clone();
            return Some(Box::pin(r.internal_redirect(name, Some(args))).await);
        }
        let mut path = dir.clone();
        path.extend_from_slice(&name);
        match std::fs::metadata(path_of(&path)) {
            Ok(_) => {
                let mut uri = r.uri.clone();
                uri.extend_from_slice(&name);
                let args = r.args.clone();
                return Some(Box::pin(r.internal_redirect(uri, Some(args))).await);
            }
            Err(e) => {
                let errno = e.raw_os_error().unwrap_or(0);
                if matches!(errno, libc::ENOTDIR | libc::ENAMETOOLONG | libc::EACCES) {
                    return Some(index_error(r, &path, &e));
                }
                if !dir_tested {
                    // nginx: ngx_http_index_test_dir: the directory itself.
                    let d = dir.strip_suffix(b"/").unwrap_or(&dir);
                    let d = if d.is_empty() { &dir[..] } else { d };
                    match std::fs::metadata(path_of(d)) {
                        Ok(m) if m.is_dir() => {}
                        Ok(_) => {
                            crate::http::errlog::log(
                                r,
                                Level::Alert,
                                &format!("\"{}\" is not a directory", lossy(d)),
                            );
                            return Some(Reply::status(500));
                        }
                        Err(de) if de.raw_os_error() == Some(libc::ENOENT) => {
                            return Some(index_error(r, d, &de));
                        }
                        Err(de) if de.raw_os_error() == Some(libc::EACCES) => {}
                        Err(de) => {
                            log_err(
                                r,
                                Level::Crit,
                                &format!("stat() \"{}\" failed", lossy(d)),
                                &de,
                            );
                            return Some(Reply::status(500));
                        }
                    }
                    dir_tested = true;
                }
                if errno == libc::ENOENT {
                    continue;
                }
                log_err(
                    r,
                    Level::Crit,
                    &format!("stat() \"{}\" failed", lossy(&path)),
                    &e,
                );
                return Some(Reply::status(500));
            }
        }
    }
    None
}

/// nginx: ngx_http_index_error.
fn index_error(r: &Request, file: &[u8], e: &std::io::Error) -> Reply {
    if e.raw_os_error() == Some(libc::EACCES) {
        log_err(
            r,
            crate::log::Level::Error,
            &format!("\"{}\" is forbidden", lossy(file)),
            e,
        );
        return Reply::status(403);
    }
    if r.loc.log_not_found != Some(false) {
        log_err(
            r,
            crate::log::Level::Error,
            &format!("\"{}\" is not found", lossy(file)),
            e,
        );
    }
    Reply::status(404)
}

/// One directory entry of an autoindex listing.
struct Entry {
    name: Vec<u8>,
    dir: bool,
    file: bool,
    mtime: i64,
    size: u64,
}

/// nginx: ngx_http_autoindex_handler (`None`: declined).
async fn autoindex(r: &mut Request) -> Option<Reply> {
    use crate::http::autoindex::Format;
    use crate::log::Level;
    if !matches!(r.method, Method::GET | Method::HEAD) || r.loc.autoindex != Some(true) {
        return None;
    }
    let mut path = map_uri_to_path(r, &r.uri.clone());
    if path.len() > 1 {
        path.pop();
    }
    let format = match r.loc.autoindex_format.unwrap_or(Format::Html) {
        Format::Jsonp => {
            let cb = r.variable(b"arg_callback").unwrap_or_default();
            if cb.is_empty() {
                Format::Json
            } else {
                Format::Jsonp
            }
        }
        f => f,
    };
    let mut rd = match tokio::fs::read_dir(os_path(&path)).await {
        Ok(d) => d,
        Err(e) => {
            let (status, level) = match e.raw_os_error() {
                Some(libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG) => (404, Level::Error),
                Some(libc::EACCES) => (403, Level::Error),
                _ => (500, Level::Crit),
            };
            log_err(
                r,
                level,
                &format!("opendir() \"{}\" failed", lossy(&path)),
                &e,
            );
            return Some(Reply::status(status));
        }
    };
    let mut entries = Vec::new();
    while let Ok(Some(de)) = rd.next_entry().await {
        let name = de.file_name().as_bytes().to_vec();
        if name.starts_with(b".") {
            continue;
        }
        let meta = match tokio::fs::metadata(de.path()).await {
            Ok(m) => m,
            Err(_) => match tokio::fs::symlink_metadata(de.path()).await {
                Ok(m) => m,
                Err(_) => continue,
            },
        };
        entries.push(Entry {
            name,
            dir: meta.is_dir(),
            file: meta.is_file(),
            mtime: meta.mtime(),
            size: meta.len(),
        });
    }
    // nginx: ngx_http_autoindex_cmp_entries: directories first, then by name.
    entries.sort_by(|a, b| b.dir.cmp(&a.dir).then_with(|| a.name.cmp(&b.name)));
    let (ctype, body): (&str, Vec<u8>) = match format {
        Format::Json => ("application/json", autoindex_json(&entries, None)),
        Format::Jsonp => {
            let cb = r.variable(b"arg_callback").unwrap_or_default();
            (
                "application/javascript",
                autoindex_json(&entries, Some(&cb)),
            )
        }
        Format::Xml => ("text/xml; charset=utf-8", autoindex_xml(&entries)),
        Format::Html => {
            let utf8 = crate::http::charset::destination(r, b"text/html")
                .is_some_and(|c| c.eq_ignore_ascii_case(b"utf-8"));
            let localtime = r.loc.autoindex_localtime == Some(true);
            let exact = r.loc.autoindex_exact_size != Some(false);
            let html = autoindex_html(&r.uri, &entries, utf8, localtime, exact);
            ("text/html", html)
        }
    };
    let mut reply = Reply::status(200);
    reply
        .headers
        .insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    // nginx sends listings without a length (chunked).
    reply.body = Some(super::response::full(body));
    reply.length = None;
    Some(reply)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Seconds since the epoch as (year, month 1-12, day, hour, min, sec) (nginx: ngx_gmtime).
pub(crate) fn gmtime(t: i64) -> (i64, usize, i64, i64, i64, i64) {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        usize::try_from(m).unwrap_or(1),
        d,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
    )
}

/// The local time zone's offset from UTC in seconds at `t` (nginx: `tp->gmtoff`).
fn gmtoff(t: i64) -> i64 {
    let tt: libc::time_t = t;
    // SAFETY: localtime_r writes only the tm given to it.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&tt, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff
    }
}

/// nginx: ngx_escape_html.
fn escape_html(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        match c {
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'&' => out.extend_from_slice(b"&amp;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// nginx: ngx_escape_uri with NGX_ESCAPE_URI_COMPONENT.
fn escape_uri_component(s: &[u8]) -> Vec<u8> {
    const TABLE: [u32; 8] = [
        0xffff_ffff,
        0xfc00_9fff,
        0x7800_0001,
        0xb800_0001,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
    ];
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        if TABLE[usize::from(c >> 5)] & (1 << (c & 0x1f)) != 0 {
            out.extend_from_slice(format!("%{c:02X}").as_bytes());
        } else {
            out.push(c);
        }
    }
    out
}

/// nginx: ngx_escape_json.
fn escape_json(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        match c {
            b'\\' | b'"' => {
                out.push(b'\\');
                out.push(c);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c if c < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c).as_bytes()),
            _ => out.push(c),
        }
    }
    out
}

/// Characters of a UTF-8 name (nginx: ngx_utf8_length; invalid bytes count as one).
fn utf8_chars(s: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let n = match s[i] {
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => 1,
        };
        let n = n.min(s.len() - i);
        out.push(&s[i..i + n]);
        i += n;
    }
    out
}

/// nginx: ngx_http_autoindex_html, byte for byte.
fn autoindex_html(
    uri: &[u8],
    entries: &[Entry],
    utf8: bool,
    localtime: bool,
    exact: bool,
) -> Vec<u8> {
    const NAME_LEN: usize = 50;
    let mut b = b"<html>\r\n<head><title>Index of ".to_vec();
    let u = escape_html(uri);
    b.extend_from_slice(&u);
    b.extend_from_slice(b"</title></head>\r\n<body>\r\n<h1>Index of ");
    b.extend_from_slice(&u);
    b.extend_from_slice(b"</h1><hr><pre><a href=\"../\">../</a>\r\n");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let off = if localtime { gmtoff(now) } else { 0 };
    for e in entries {
        b.extend_from_slice(b"<a href=\"");
        b.extend_from_slice(&escape_uri_component(&e.name));
        if e.dir {
            b.push(b'/');
        }
        b.extend_from_slice(b"\">");
        let chars = if utf8 {
            utf8_chars(&e.name)
        } else {
            e.name.chunks(1).collect()
        };
        let mut len = chars.len();
        if len > NAME_LEN {
            let shown: Vec<u8> = chars[..NAME_LEN - 3].concat();
            b.extend_from_slice(&escape_html(&shown));
            b.extend_from_slice(b"..&gt;</a>");
        } else {
            b.extend_from_slice(&escape_html(&e.name));
            if e.dir && NAME_LEN > len {
                b.push(b'/');
                len += 1;
            }
            b.extend_from_slice(b"</a>");
            b.extend(std::iter::repeat_n(b' ', NAME_LEN.saturating_sub(len)));
        }
        b.push(b' ');
        let (y, m, d, hh, mm, _) = gmtime(e.mtime + off);
        b.extend_from_slice(
            format!("{d:02}-{}-{y} {hh:02}:{mm:02} ", MONTHS[m.clamp(1, 12) - 1]).as_bytes(),
        );
        if exact {
            if e.dir {
                b.extend_from_slice(b"                  -");
            } else {
                b.extend_from_slice(format!("{:>19}", e.size).as_bytes());
            }
        } else if e.dir {
            b.extend_from_slice(b"      -");
        } else {
            b.extend_from_slice(human_size(e.size).as_bytes());
        }
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(b"</pre><hr></body>\r\n</html>\r\n");
    b
}

/// nginx's `autoindex_exact_size off` sizes.
fn human_size(length: u64) -> String {
    const G: u64 = 1024 * 1024 * 1024;
    const M: u64 = 1024 * 1024;
    let (size, scale) = if length > G - 1 {
        (length / G + u64::from(length % G > G / 2 - 1), 'G')
    } else if length > M - 1 {
        (length / M + u64::from(length % M > M / 2 - 1), 'M')
    } else if length > 9999 {
        (length / 1024 + u64::from(length % 1024 > 511), 'K')
    } else {
        return format!(" {length:>6}");
    };
    format!("{size:>6}{scale}")
}

/// nginx: ngx_http_autoindex_json.
fn autoindex_json(entries: &[Entry], callback: Option<&[u8]>) -> Vec<u8> {
    let mut b = Vec::new();
    if let Some(cb) = callback {
        b.extend_from_slice(b"/* callback */\r\n");
        b.extend_from_slice(cb);
        b.push(b'(');
    }
    b.push(b'[');
    for e in entries {
        b.extend_from_slice(b"\r\n{ \"name\":\"");
        b.extend_from_slice(&escape_json(&e.name));
        b.extend_from_slice(b"\", \"type\":\"");
        b.extend_from_slice(if e.dir {
            b"directory"
        } else if e.file {
            b"file"
        } else {
            b"other"
        });
        b.extend_from_slice(b"\", \"mtime\":\"");
        b.extend_from_slice(crate::http::headers::http_time(e.mtime).as_bytes());
        if e.file {
            b.extend_from_slice(format!("\", \"size\":{}", e.size).as_bytes());
        } else {
            b.push(b'"');
        }
        b.extend_from_slice(b" },");
    }
    if !entries.is_empty() {
        b.pop();
    }
    b.extend_from_slice(b"\r\n]");
    if callback.is_some() {
        b.extend_from_slice(b");");
    }
    b
}

/// nginx: ngx_http_autoindex_xml.
fn autoindex_xml(entries: &[Entry]) -> Vec<u8> {
    let mut b = b"<?xml version=\"1.0\"?>\r\n<list>\r\n".to_vec();
    for e in entries {
        let t: &[u8] = if e.dir {
            b"directory"
        } else if e.file {
            b"file"
        } else {
            b"other"
        };
        b.push(b'<');
        b.extend_from_slice(t);
        let (y, m, d, hh, mm, ss) = gmtime(e.mtime);
        b.extend_from_slice(
            format!(" mtime=\"{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z\"").as_bytes(),
        );
        if e.file {
            b.extend_from_slice(format!(" size=\"{}\"", e.size).as_bytes());
        }
        b.push(b'>');
        b.extend_from_slice(&escape_html(&e.name));
        b.extend_from_slice(b"</");
        b.extend_from_slice(t);
        b.extend_from_slice(b">\r\n");
    }
    b.extend_from_slice(b"</list>\r\n");
    b
}

/// nginx: ngx_http_gzip_static_handler (`None`: declined).
async fn gzip_static(r: &mut Request) -> Option<Reply> {
    use crate::http::gzip_static::Mode;
    if !matches!(r.method, Method::GET | Method::HEAD) {
        return None;
    }
    let mode = r.loc.gzip_static.unwrap_or(Mode::Off);
    if mode == Mode::Off {
        return None;
    }
    let ok = mode == Mode::Always || crate::http::gzip::gzip_ok(r, None, false);
    if r.loc.gzip_vary != Some(true) && !ok {
        return None;
    }
    let mut path = map_uri_to_path(r, &r.uri);
    let original = path.clone();
    path.extend_from_slice(b".gz");
    let file = match std::fs::File::open(path_of(&path)) {
        Ok(f) => f,
        Err(e) => {
            if !matches!(
                e.raw_os_error(),
                Some(libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG)
            ) {
                let level = if e.raw_os_error() == Some(libc::EACCES) {
                    crate::log::Level::Error
                } else {
                    crate::log::Level::Crit
                };
                log_err(r, level, &format!("open() \"{}\" failed", lossy(&path)), &e);
            }
            return None;
        }
    };
    let meta = fstat(&file).ok()?;
    if mode == Mode::On {
        r.vars
            .insert(crate::http::response::GZIP_VARY.to_vec(), b"1".to_vec());
        if !ok {
            return None;
        }
    }
    if meta.is_dir() {
        return None;
    }
    if !meta.is_file() {
        crate::http::errlog::log(
            r,
            crate::log::Level::Crit,
            &format!("\"{}\" is not a regular file", lossy(&path)),
        );
        return Some(Reply::status(404));
    }
    let mut reply = file_reply(r, &original, file, &meta);
    reply.allow_ranges = false;
    reply.headers.append(
        hyper::header::CONTENT_ENCODING,
        HeaderValue::from_static("gzip"),
    );
    Some(reply)
}

/// What the handlers need of an open file's fstat(2).
pub(crate) struct Stat {
    mode: libc::mode_t,
    pub(crate) size: u64,
    pub(crate) mtime: i64,
}

impl Stat {
    fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }
    pub(crate) fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }
}

/// nginx: ngx_fd_info: fstat(2) (std's metadata is a statx of every field, dearer).
pub(crate) fn fstat(file: &std::fs::File) -> std::io::Result<Stat> {
    use std::os::fd::AsRawFd;
    // SAFETY: a zeroed stat is a valid value for fstat to fill; the descriptor is open.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above; `st` outlives the call.
    if unsafe { libc::fstat(file.as_raw_fd(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Stat {
        mode: st.st_mode,
        size: u64::try_from(st.st_size).unwrap_or(0),
        mtime: st.st_mtime,
    })
}

/// nginx: ngx_http_static_handler.
async fn static_handler(r: &mut Request) -> Reply {
    if !matches!(r.method, Method::GET | Method::HEAD | Method::POST) {
        return Reply::status(405);
    }
    let path = map_uri_to_path(r, &r.uri);
    let file = match std::fs::File::open(path_of(&path)) {
        Ok(f) => f,
        Err(e) => return open_failed(r, &path, &e),
    };
    let meta = match fstat(&file) {
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
    if !meta.is_file() {
        crate::http::errlog::log(
            r,
            crate::log::Level::Crit,
            &format!("\"{}\" is not a regular file", lossy(&path)),
        );
        return Reply::status(404);
    }
    if r.method == Method::POST {
        return Reply::status(405);
    }
    file_reply(r, &path, file, &meta)
}

/// A 200 for a file: type, length, Last-Modified, ETag; ranges allowed (nginx: the
/// static handler's headers, ngx_http_set_etag, ngx_http_set_content_type).
pub(crate) fn file_reply(r: &Request, path: &[u8], file: std::fs::File, meta: &Stat) -> Reply {
    let (size, mtime) = (meta.size, meta.mtime);
    let mut reply = Reply::status(200);
    if let Some(v) = content_type(r, path) {
        reply.headers.insert(hyper::header::CONTENT_TYPE, v);
    }
    if let Some(v) = last_modified(mtime) {
        reply.headers.insert(hyper::header::LAST_MODIFIED, v);
    }
    if r.loc.etag != Some(false) {
        if let Some(v) = etag(mtime, size) {
            reply.headers.insert(hyper::header::ETAG, v);
        }
    }
    reply.length = Some(size);
    reply.allow_ranges = true;
    reply.file = Some(FileBody { file, size });
    reply
}

/// nginx: ngx_http_set_etag: `"mtime-size"` in hex.
pub(crate) fn etag(mtime: i64, size: u64) -> Option<HeaderValue> {
    fn hex(out: &mut Vec<u8>, mut v: u64) {
        let start = out.len();
        loop {
            out.push(b"0123456789abcdef"[(v & 0xf) as usize]);
            v >>= 4;
            if v == 0 {
                break;
            }
        }
        out[start..].reverse();
    }
    let mut b = Vec::with_capacity(36);
    b.push(b'"');
    if mtime < 0 {
        // as nginx's %xT of a negative time: the two's complement
        hex(&mut b, mtime as u64);
    } else {
        hex(&mut b, mtime.unsigned_abs());
    }
    b.push(b'-');
    hex(&mut b, size);
    b.push(b'"');
    HeaderValue::from_maybe_shared(bytes::Bytes::from(b)).ok()
}

thread_local! {
    /// The last `Last-Modified` value made, by its time (files served again and again
    /// have the same one).
    static LAST_MODIFIED: std::cell::RefCell<Option<(i64, HeaderValue)>> =
        const { std::cell::RefCell::new(None) };
    /// The last type found by extension, with the `types` table it came from.
    static TYPE: std::cell::RefCell<Option<TypeHit>> = const { std::cell::RefCell::new(None) };
}

struct TypeHit {
    types: std::sync::Arc<std::collections::HashMap<Vec<u8>, Vec<u8>>>,
    ext: Vec<u8>,
    value: HeaderValue,
}

/// The `Last-Modified` value of `mtime` (nginx: ngx_http_time).
fn last_modified(mtime: i64) -> Option<HeaderValue> {
    LAST_MODIFIED.with(|c| {
        let mut c = c.borrow_mut();
        if let Some((t, v)) = c.as_ref() {
            if *t == mtime {
                return Some(v.clone());
            }
        }
        let v = HeaderValue::from_str(&crate::http::headers::http_time(mtime)).ok()?;
        *c = Some((mtime, v.clone()));
        Some(v)
    })
}

/// nginx: ngx_http_set_content_type: the extension's type, or `default_type`.
fn content_type(r: &Request, path: &[u8]) -> Option<HeaderValue> {
    let name = path.rsplit(|&c| c == b'/').next().unwrap_or(path);
    if let (Some(dot), Some(types)) = (name.iter().rposition(|&c| c == b'.'), &r.loc.types) {
        let ext = &name[dot + 1..];
        let hit = TYPE.with(|c| {
            c.borrow()
                .as_ref()
                .filter(|h| {
                    std::sync::Arc::ptr_eq(&h.types, types) && h.ext.eq_ignore_ascii_case(ext)
                })
                .map(|h| h.value.clone())
        });
        if hit.is_some() {
            return hit;
        }
        let ext = ext.to_ascii_lowercase();
        if let Some(t) = types.get(&ext) {
            let value = HeaderValue::from_bytes(t).ok()?;
            TYPE.with(|c| {
                *c.borrow_mut() = Some(TypeHit {
                    types: types.clone(),
                    ext,
                    value: value.clone(),
                })
            });
            return Some(value);
        }
    }
    match &r.loc.default_type {
        Some(t) => HeaderValue::from_bytes(t).ok(),
        None => Some(HeaderValue::from_static("text/plain")),
    }
}

#[cfg(test)]
mod tests {
    use super::{autoindex_html, autoindex_json, autoindex_xml, gmtime, human_size, Entry};

    fn e(name: &str, dir: bool, mtime: i64, size: u64) -> Entry {
        Entry {
            name: name.as_bytes().to_vec(),
            dir,
            file: !dir,
            mtime,
            size,
        }
    }

    #[test]
    fn dates() {
        assert_eq!(gmtime(0), (1970, 1, 1, 0, 0, 0));
        // 2009-01-01 12:00:00
        assert_eq!(gmtime(1_230_811_200), (2009, 1, 1, 12, 0, 0));
        assert_eq!(gmtime(951_782_400), (2000, 2, 29, 0, 0, 0));
    }

    #[test]
    fn listing_html_as_nginx() {
        let entries = [
            e("sub", true, 1_230_811_200, 4096),
            e("a.txt", false, 1_230_811_200, 6),
        ];
        let h = autoindex_html(b"/list/", &entries, false, false, true);
        assert_eq!(
            String::from_utf8_lossy(&h),
            "<html>\r\n<head><title>Index of /list/</title></head>\r\n<body>\r\n<h1>Index of /list/</h1><hr><pre><a href=\"../\">../</a>\r\n\
<a href=\"sub/\">sub/</a>                                               01-Jan-2009 12:00                   -\r\n\
<a href=\"a.txt\">a.txt</a>                                              01-Jan-2009 12:00                   6\r\n\
</pre><hr></body>\r\n</html>\r\n"
        );
        let long = "x".repeat(60);
        let h = autoindex_html(b"/", &[e(&long, false, 0, 20000)], false, false, false);
        let s = String::from_utf8_lossy(&h);
        assert!(s.contains(&format!(
            ">{}..&gt;</a> 01-Jan-1970 00:00     20K\r\n",
            "x".repeat(47)
        )));
        assert!(
            autoindex_html(b"/", &[e("a b&", false, 0, 1)], false, false, true)
                .windows(22)
                .any(|w| w == b"<a href=\"a%20b%26\">a b")
        );
    }

    #[test]
    fn listing_json_xml() {
        let entries = [e("a.txt", false, 1_230_811_200, 6)];
        assert_eq!(
            String::from_utf8_lossy(&autoindex_json(&entries, None)),
            "[\r\n{ \"name\":\"a.txt\", \"type\":\"file\", \"mtime\":\"Thu, 01 Jan 2009 12:00:00 GMT\", \"size\":6 }\r\n]"
        );
        assert_eq!(
            String::from_utf8_lossy(&autoindex_json(&[], None)),
            "[\r\n]"
        );
        assert_eq!(
            String::from_utf8_lossy(&autoindex_xml(&entries)),
            "<?xml version=\"1.0\"?>\r\n<list>\r\n<file mtime=\"2009-01-01T12:00:00Z\" size=\"6\">a.txt</file>\r\n</list>\r\n"
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(9999), "   9999");
        assert_eq!(human_size(10000), "    10K");
        assert_eq!(human_size(1024 * 1024), "     1M");
        assert_eq!(human_size(3 * 1024 * 1024 * 1024 / 2), "     2G");
    }
}
