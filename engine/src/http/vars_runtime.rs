//! Variable values at run time (nginx: the get handlers of ngx_http_variables.c), and the
//! variables of `map`, `geo` and `split_clients` blocks, evaluated lazily per request.

use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use parser::{Body, Directive};

use super::request::Request;

/// A variable computed on first use from a block of the `http` level (nginx: the get
/// handlers ngx_http_map_variable, ngx_http_geo_*_variable, ngx_http_split_clients_variable).
#[derive(Debug)]
pub(crate) enum Lazy {
    Map(super::map::MapRt),
    Geo(super::geo::GeoRt),
    Split(super::split_clients::SplitRt),
}

impl Lazy {
    /// The value is kept for the rest of the request (not `volatile`).
    pub(crate) fn cacheable(&self) -> bool {
        match self {
            Lazy::Map(m) => !m.volatile,
            _ => true,
        }
    }
}

/// nginx's `ngx_http_variable_depth`: nested variable evaluations allowed.
pub(crate) const MAX_DEPTH: u8 = 100;

/// The `http` level's lazy variables (map, geo, split_clients) by name.
pub(crate) type LazyVars = HashMap<Vec<u8>, Arc<Lazy>>;

/// Builds the `http` level's lazy variables and the names only `set` defines.
pub(crate) fn lower(http: &Directive) -> (LazyVars, std::collections::HashSet<Vec<u8>>) {
    let mut lazy = HashMap::new();
    let ds: &[Directive] = match &http.body {
        Body::Block(b) => &b.directives,
        _ => &[],
    };
    for d in ds {
        let v = match d.name.as_slice() {
            b"map" => super::map::lower(d).map(|(n, m)| (n, Lazy::Map(m))),
            b"geo" => super::geo::lower(d).map(|(n, g)| (n, Lazy::Geo(g))),
            b"split_clients" => super::split_clients::lower(d).map(|(n, s)| (n, Lazy::Split(s))),
            _ => None,
        };
        if let Some((name, v)) = v {
            lazy.insert(name.to_ascii_lowercase(), Arc::new(v));
        }
    }
    let mut set = HashSet::new();
    collect_set(ds, &mut set);
    set.retain(|n| !lazy.contains_key(n));
    (lazy, set)
}

/// Every `set $name` (and set-misc's `set_xxx $name`) of the tree.
fn collect_set(ds: &[Directive], out: &mut HashSet<Vec<u8>>) {
    for d in ds {
        if d.name == b"set" || crate::http::set_misc::sets_variable(&d.name) {
            if let Some(n) = d.args.first().and_then(|a| a.strip_prefix(b"$")) {
                out.insert(n.to_ascii_lowercase());
            }
        }
        if matches!(
            d.name.as_slice(),
            b"server" | b"location" | b"if" | b"limit_except"
        ) {
            if let Body::Block(b) = &d.body {
                collect_set(&b.directives, out);
            }
        }
    }
}

/// Evaluates a lazy variable for `r`.
pub(crate) fn evaluate(r: &Request, v: &Lazy) -> Option<Vec<u8>> {
    match v {
        Lazy::Map(m) => Some(m.value(r)),
        Lazy::Geo(g) => Some(g.value(r)),
        Lazy::Split(s) => Some(s.value(r)),
    }
}

/// `$request`: the request line as received.
pub(crate) fn request_line(r: &Request) -> Vec<u8> {
    if let Some(l) = &r.raw_line {
        return l.to_vec();
    }
    let mut s = r.method.as_str().as_bytes().to_vec();
    s.push(b' ');
    s.extend_from_slice(&r.request_uri);
    s.push(b' ');
    s.extend_from_slice(protocol(r).as_bytes());
    s
}

fn protocol(r: &Request) -> &'static str {
    match r.version {
        hyper::Version::HTTP_09 => "HTTP/0.9",
        hyper::Version::HTTP_10 => "HTTP/1.0",
        hyper::Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    }
}

/// nginx: ngx_http_variable_unknown_header: `_` in the name matches `-`, case-insensitive.
fn header_name(name: &[u8]) -> Option<hyper::header::HeaderName> {
    let name: Vec<u8> = name
        .iter()
        .map(|&c| if c == b'_' { b'-' } else { c })
        .collect();
    hyper::header::HeaderName::from_bytes(&name).ok()
}

/// `$http_NAME` (nginx 1.22: the first header of that name; `Cookie` joined with `; ` and
/// `X-Forwarded-For` with `, `, as ngx_http_variable_cookies / _headers).
fn header(r: &Request, name: &[u8]) -> Option<Vec<u8>> {
    let hn = header_name(name)?;
    let mut values = r.headers.values(&hn);
    let first = values.next()?.as_bytes().to_vec();
    let sep: &[u8] = match name {
        b"cookie" => b"; ",
        b"x_forwarded_for" => b", ",
        _ => return Some(first),
    };
    let mut out = first;
    for v in values {
        out.extend_from_slice(sep);
        out.extend_from_slice(v.as_bytes());
    }
    Some(out)
}

/// `$arg_NAME` (nginx: ngx_http_arg: `name=` at the start or after `&`, case-insensitive).
pub(crate) fn arg(args: &[u8], name: &[u8]) -> Option<Vec<u8>> {
    if name.is_empty() {
        return None;
    }
    let mut i = 0;
    while i + name.len() < args.len() {
        let hit = args[i..i + name.len()].eq_ignore_ascii_case(name);
        if hit && (i == 0 || args[i - 1] == b'&') && args[i + name.len()] == b'=' {
            let start = i + name.len() + 1;
            let end = args[start..]
                .iter()
                .position(|&c| c == b'&')
                .map_or(args.len(), |e| start + e);
            return Some(args[start..end].to_vec());
        }
        i += 1;
    }
    None
}

/// `$cookie_NAME` (nginx 1.22: ngx_http_parse_multi_header_lines over the Cookie headers:
/// pairs end at `;` or `,`, a value at `;`).
pub(crate) fn cookie<'a>(headers: impl Iterator<Item = &'a [u8]>, name: &[u8]) -> Option<Vec<u8>> {
    for h in headers {
        let mut s = 0;
        let end = h.len();
        while s < end {
            let matched = h
                .get(s..s + name.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(name));
            if matched {
                let mut p = s + name.len();
                while p < end && h[p] == b' ' {
                    p += 1;
                }
                if p < end && h[p] == b'=' {
                    p += 1;
                    while p < end && h[p] == b' ' {
                        p += 1;
                    }
                    let v = p;
                    while p < end && h[p] != b';' {
                        p += 1;
                    }
                    return Some(h[v..p].to_vec());
                }
            }
            while s < end {
                let c = h[s];
                s += 1;
                if c == b';' || c == b',' {
                    break;
                }
            }
            while s < end && h[s] == b' ' {
                s += 1;
            }
        }
    }
    None
}

/// `$request_length` before the body: the request line and header lines as received.
fn request_length(r: &Request) -> usize {
    let mut n = request_line(r).len() + 2;
    for (name, value) in r.headers.iter() {
        n += name.as_str().len() + 2 + value.as_bytes().len() + 2;
    }
    n + 2
}

/// The value of a built-in variable; `None` when it is not found for this request.
pub(crate) fn get(r: &Request, name: &[u8]) -> Option<Vec<u8>> {
    if let Some(h) = name.strip_prefix(b"http_") {
        return header(r, h);
    }
    if let Some(a) = name.strip_prefix(b"arg_") {
        return arg(&r.args, a);
    }
    if let Some(c) = name.strip_prefix(b"cookie_") {
        let hs = r
            .headers
            .get_all(hyper::header::COOKIE)
            .iter()
            .map(|h| h.as_bytes());
        return cookie(hs, c);
    }
    if name.starts_with(b"date_") {
        if let Some(v) = super::ssi::date_variable(name) {
            return Some(v);
        }
    }
    if name.starts_with(b"ssl_") && super::ssl::VARIABLES.iter().any(|v| v.as_bytes() == name) {
        return super::ssl::variable(r, name);
    }
    if let Some(h) = name.strip_prefix(b"sent_http_") {
        // Known once the response head is sent (the log phase).
        let sent = r.sent.as_ref()?;
        let h: Vec<u8> = h
            .iter()
            .map(|&c| {
                if c == b'_' {
                    b'-'
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        match h.as_slice() {
            // Written by the header filter itself, not in nginx's headers_out list.
            b"server" | b"date" => return None,
            // nginx logs after ngx_http_set_keepalive cleared r->keepalive.
            b"connection" => {
                let v: &[u8] = if r.status == 101 {
                    b"upgrade"
                } else {
                    b"close"
                };
                return Some(v.to_vec());
            }
            _ => {}
        }
        let name = hyper::header::HeaderName::from_bytes(&h).ok()?;
        let mut values = sent
            .headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v);
        let first = values.next()?.as_bytes().to_vec();
        // nginx joins repeated Cache-Control and Link values; the others give the first.
        let sep: &[u8] = match h.as_slice() {
            b"cache-control" | b"link" => b", ",
            _ => return Some(first),
        };
        let mut out = first;
        for v in values {
            out.extend_from_slice(sep);
            out.extend_from_slice(v.as_bytes());
        }
        return Some(out);
    }
    let s = |v: &str| Some(v.as_bytes().to_vec());
    match name {
        b"uri" | b"document_uri" => Some(r.uri.clone()),
        b"slice_range" => crate::http::slice::range_variable(r),
        b"request_uri" => Some(r.request_uri.to_vec()),
        b"args" | b"query_string" => Some(r.args.clone()),
        b"is_args" => s(if r.args.is_empty() { "" } else { "?" }),
        // nginx: the main request's method, in a subrequest too (ngx_http_variable_request_method).
        b"request_method" if r.sub != 0 && r.raw_line.is_some() => r
            .raw_line
            .as_ref()
            .and_then(|l| l.split(|&c| c == b' ').next())
            .map(<[u8]>::to_vec),
        b"request_method" => s(r.method.as_str()),
        b"request" => Some(request_line(r)),
        b"server_protocol" => s(protocol(r)),
        b"scheme" => s(if super::ssl::is_tls(r) {
            "https"
        } else {
            "http"
        }),
        b"https" => s(if super::ssl::is_tls(r) { "on" } else { "" }),
        b"host" => Some(r.host()),
        b"hostname" => Some(hostname()),
        b"server_name" => Some(r.server.name.clone()),
        b"invalid_referer" => Some(if crate::http::referer::invalid(r) {
            b"1".to_vec()
        } else {
            Vec::new()
        }),
        b"remote_addr" => r.conn.remote.map(|a| a.ip().to_string().into_bytes()),
        // nginx prints no port 0 (a realip address without one).
        b"remote_port" => r.conn.remote.map(|a| a.port()).map(|p| {
            if p == 0 {
                Vec::new()
            } else {
                p.to_string().into_bytes()
            }
        }),
        // nginx: ngx_http_variable_proxy_protocol_addr / _port (a port 0 prints nothing).
        b"proxy_protocol_addr" => r
            .conn
            .proxy
            .as_ref()
            .map(|p| p.src_addr.clone().into_bytes()),
        b"proxy_protocol_server_addr" => r
            .conn
            .proxy
            .as_ref()
            .map(|p| p.dst_addr.clone().into_bytes()),
        b"proxy_protocol_port" | b"proxy_protocol_server_port" => r.conn.proxy.as_ref().map(|p| {
            let port = if name == b"proxy_protocol_port" {
                p.src_port
            } else {
                p.dst_port
            };
            if port == 0 {
                Vec::new()
            } else {
                port.to_string().into_bytes()
            }
        }),
        b"realip_remote_addr" => match r.realip {
            Some(orig) => orig.map(|a| a.ip().to_string().into_bytes()),
            None => r.conn.remote.map(|a| a.ip().to_string().into_bytes()),
        },
        b"realip_remote_port" => match r.realip {
            Some(orig) => orig.map(|a| a.port().to_string().into_bytes()),
            None => r.conn.remote.map(|a| a.port().to_string().into_bytes()),
        },
        b"binary_remote_addr" => r.conn.remote.map(|a| match a.ip() {
            std::net::IpAddr::V4(v) => v.octets().to_vec(),
            std::net::IpAddr::V6(v) => v.octets().to_vec(),
        }),
        b"server_addr" => r.conn.local.map(|a| a.ip().to_string().into_bytes()),
        b"server_port" => r.conn.local.map(|a| a.port().to_string().into_bytes()),
        b"content_type" => header(r, b"content_type"),
        b"content_length" => header(r, b"content_length").or_else(|| {
            // nginx: a discarded chunked body leaves content_length_n at 0.
            let chunked = r
                .headers
                .get(hyper::header::TRANSFER_ENCODING)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
            (chunked && r.discarded).then(|| b"0".to_vec())
        }),
        b"document_root" => Some(super::static_file::document_root(r)),
        b"realpath_root" => {
            let root = super::static_file::document_root(r);
            match std::fs::canonicalize(super::static_file::os_path(&root)) {
                Ok(p) => Some(p.as_os_str().as_bytes().to_vec()),
                Err(e) => {
                    let msg = format!(
                        "realpath() \"{}\" failed ({})",
                        String::from_utf8_lossy(&root),
                        crate::log::errno_text(&e)
                    );
                    super::errlog::log(r, crate::log::Level::Crit, &msg);
                    None
                }
            }
        }
        b"request_filename" => Some(super::static_file::map_uri_to_path(r, &r.uri)),
        b"connection" => Some(r.conn.id.to_string().into_bytes()),
        b"connection_requests" => Some(r.conn.requests.to_string().into_bytes()),
        b"pid" => Some(std::process::id().to_string().into_bytes()),
        b"secure_link" => crate::http::secure_link::variable(r),
        b"secure_link_expires" => crate::http::secure_link::expires(r),
        b"uid_got" | b"uid_set" | b"uid_reset" => crate::http::userid::variable(r, name),
        b"nginx_version" => s("1.22.1"),
        b"msec" => Some(crate::log::msec().into_bytes()),
        b"time_local" => Some(crate::log::time_local().into_bytes()),
        b"time_iso8601" => Some(crate::log::time_iso8601().into_bytes()),
        b"status" => Some(format!("{:03}", r.status_var()).into_bytes()),
        b"limit_req_status" => super::limit_req::status_variable(r),
        b"limit_conn_status" => super::limit_conn::status_variable(r),
        b"body_bytes_sent" => Some(r.body_bytes_sent.to_string().into_bytes()),
        b"bytes_sent" => Some(
            (r.sent.as_ref().map_or(0, |s| s.head_len) + r.body_bytes_sent)
                .to_string()
                .into_bytes(),
        ),
        b"request_length" => Some(request_length(r).to_string().into_bytes()),
        b"request_time" => {
            let d = r.start.elapsed().unwrap_or_default();
            Some(format!("{}.{:03}", d.as_secs(), d.subsec_millis()).into_bytes())
        }
        b"limit_rate" => s("0"),
        b"fastcgi_script_name" | b"fastcgi_path_info" => super::fastcgi_run::variable(r, name),
        b"remote_user" => super::auth_basic::remote_user(r),
        b"connections_active"
        | b"connections_reading"
        | b"connections_writing"
        | b"connections_waiting" => super::stub_status::variable(name),
        _ => None,
    }
}

/// `$hostname` (nginx: gethostname at startup).
pub(crate) fn hostname() -> Vec<u8> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return b"localhost".to_vec();
    }
    let end = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    buf[..end].to_vec()
}

/// `$request_id`: 32 hex digits, random (the caller keeps it for the request).
pub(crate) fn request_id(r: &Request) -> Vec<u8> {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::with_capacity(32);
    for i in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(r.conn.id ^ i);
        h.write_u128(
            r.start
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.into_bytes()
}

/// nginx: ngx_murmur_hash2.
pub(crate) fn murmur_hash2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// nginx: ngx_escape_uri with NGX_ESCAPE_ARGS (captures copied into arguments or redirects
/// when the request URI was quoted).
pub(crate) fn escape_args(s: &[u8]) -> Vec<u8> {
    const ARGS: [u32; 8] = [
        0xffff_ffff,
        0xd800_086d,
        0x5000_0000,
        0xb800_0001,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
    ];
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        if ARGS[usize::from(c >> 5)] & (1 << (c & 0x1f)) != 0 {
            out.push(b'%');
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 0xf)]);
        } else {
            out.push(c);
        }
    }
    out
}

/// nginx: ngx_unescape_uri with NGX_UNESCAPE_REDIRECT (a rewrite's redirect target):
/// `%XX` decoded only to printable characters after `%`, up to the first `?`.
pub(crate) fn unescape_redirect(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    while i < s.len() {
        let c = s[i];
        i += 1;
        if c == b'?' {
            out.push(c);
            out.extend_from_slice(&s[i..]);
            return out;
        }
        if c != b'%' {
            out.push(c);
            continue;
        }
        // sw_quoted
        let Some(&c1) = s.get(i) else { break };
        i += 1;
        let Some(hi) = hex(c1) else {
            out.push(c1);
            continue;
        };
        // sw_quoted_second
        let Some(&c2) = s.get(i) else { break };
        i += 1;
        let Some(lo) = hex(c2) else { continue };
        let ch = (hi << 4) | lo;
        if !c2.is_ascii_digit() && ch == b'?' {
            out.push(ch);
            out.extend_from_slice(&s[i..]);
            return out;
        }
        if ch > b'%' && ch < 0x7f {
            out.push(ch);
        } else {
            out.extend_from_slice(&[b'%', c1, c2]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args() {
        assert_eq!(arg(b"a=1&b=x%20y&a=2", b"a"), Some(b"1".to_vec()));
        assert_eq!(arg(b"a=1&b=x%20y&a=2", b"b"), Some(b"x%20y".to_vec()));
        assert_eq!(arg(b"xa=1&a=2", b"a"), Some(b"2".to_vec()));
        assert_eq!(arg(b"CASE=lower", b"case"), Some(b"lower".to_vec()));
        assert_eq!(arg(b"a&b=1", b"a"), None);
        assert_eq!(arg(b"a=", b"a"), Some(Vec::new()));
        assert_eq!(arg(b"", b"a"), None);
    }

    #[test]
    fn cookies() {
        let h: Vec<&[u8]> = vec![b"theme=dark; session=abc123", b"x = 1,y=2"];
        let get = |n: &[u8]| cookie(h.iter().copied(), n);
        assert_eq!(get(b"session"), Some(b"abc123".to_vec()));
        assert_eq!(get(b"theme"), Some(b"dark".to_vec()));
        assert_eq!(get(b"x"), Some(b"1,y=2".to_vec()));
        assert_eq!(get(b"y"), Some(b"2".to_vec()));
        assert_eq!(get(b"none"), None);
    }

    #[test]
    fn murmur() {
        // Values of nginx's ngx_murmur_hash2.
        assert_eq!(murmur_hash2(b""), 0);
        assert_eq!(murmur_hash2(b"a"), 0x92685f5e);
        assert_eq!(murmur_hash2(b"abcd"), 0x2687_3021);
        assert_eq!(murmur_hash2(b"127.0.0.1"), 0xb613_1d91);
        assert_eq!(murmur_hash2(b"hello world"), 0x44a8_1419);
    }

    #[test]
    fn escapes() {
        assert_eq!(escape_args(b"a b&c=d/e?"), b"a%20b%26c=d/e%3F".to_vec());
        assert_eq!(unescape_redirect(b"/a%41%20b"), b"/aA%20b".to_vec());
        assert_eq!(unescape_redirect(b"/x?%41"), b"/x?%41".to_vec());
        assert_eq!(unescape_redirect(b"/%3f%41"), b"/?%41".to_vec());
        assert_eq!(unescape_redirect(b"/%zz"), b"/zz".to_vec());
    }
}
