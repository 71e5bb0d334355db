//! Variable values at run time (nginx: the get handlers of ngx_http_variables.c).

use std::os::unix::ffi::OsStrExt;

use super::request::Request;

/// `$request`: the request line as received.
pub(crate) fn request_line(r: &Request) -> Vec<u8> {
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

/// A request header's values joined as nginx joins them (`,` for most, `; ` for cookies).
fn header(r: &Request, name: &[u8]) -> Option<Vec<u8>> {
    let name: Vec<u8> = name
        .iter()
        .map(|&c| if c == b'_' { b'-' } else { c })
        .collect();
    let hn = hyper::header::HeaderName::from_bytes(&name).ok()?;
    let mut values = r.headers.get_all(&hn).iter();
    let first = values.next()?.as_bytes().to_vec();
    let sep: &[u8] = if hn == hyper::header::COOKIE {
        b"; "
    } else {
        b", "
    };
    let mut out = first;
    for v in values {
        out.extend_from_slice(sep);
        out.extend_from_slice(v.as_bytes());
    }
    Some(out)
}

/// `$arg_NAME` (nginx: ngx_http_arg, case-insensitive names).
fn arg(r: &Request, name: &[u8]) -> Option<Vec<u8>> {
    for pair in r.args.split(|&c| c == b'&') {
        let (k, v) = match pair.iter().position(|&c| c == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        if k.eq_ignore_ascii_case(name) {
            return Some(v.to_vec());
        }
    }
    None
}

/// `$cookie_NAME` (nginx: ngx_http_parse_multi_header_lines over Cookie).
fn cookie(r: &Request, name: &[u8]) -> Option<Vec<u8>> {
    for h in r.headers.get_all(hyper::header::COOKIE) {
        for c in h.as_bytes().split(|&c| c == b';' || c == b',') {
            let c = c.trim_ascii();
            if let Some(i) = c.iter().position(|&ch| ch == b'=') {
                if c[..i].eq_ignore_ascii_case(name) {
                    return Some(c[i + 1..].to_vec());
                }
            }
        }
    }
    None
}

/// The value of a built-in variable; `None` when it is not found for this request.
pub(crate) fn get(r: &Request, name: &[u8]) -> Option<Vec<u8>> {
    if let Some(h) = name.strip_prefix(b"http_") {
        return header(r, h);
    }
    if let Some(a) = name.strip_prefix(b"arg_") {
        return arg(r, a);
    }
    if let Some(c) = name.strip_prefix(b"cookie_") {
        return cookie(r, c);
    }
    let s = |v: &str| Some(v.as_bytes().to_vec());
    match name {
        b"uri" | b"document_uri" => Some(r.uri.clone()),
        b"request_uri" => Some(r.request_uri.clone()),
        b"args" | b"query_string" => Some(r.args.clone()),
        b"is_args" => s(if r.args.is_empty() { "" } else { "?" }),
        b"request_method" => s(r.method.as_str()),
        b"request" => Some(request_line(r)),
        b"server_protocol" => s(protocol(r)),
        b"scheme" => s("http"),
        b"https" => s(""),
        b"host" => Some(r.host()),
        b"hostname" => Some(hostname()),
        b"server_name" => Some(r.server.name.clone()),
        b"remote_addr" => r.conn.remote.map(|a| a.ip().to_string().into_bytes()),
        b"remote_port" => r.conn.remote.map(|a| a.port().to_string().into_bytes()),
        b"binary_remote_addr" => r.conn.remote.map(|a| match a.ip() {
            std::net::IpAddr::V4(v) => v.octets().to_vec(),
            std::net::IpAddr::V6(v) => v.octets().to_vec(),
        }),
        b"server_addr" => r.conn.local.map(|a| a.ip().to_string().into_bytes()),
        b"server_port" => r.conn.local.map(|a| a.port().to_string().into_bytes()),
        b"content_type" => header(r, b"content-type"),
        b"content_length" => header(r, b"content-length"),
        b"document_root" => Some(super::static_file::document_root(r)),
        b"realpath_root" => {
            let root = super::static_file::document_root(r);
            std::fs::canonicalize(super::static_file::os_path(&root))
                .ok()
                .map(|p| p.as_os_str().as_bytes().to_vec())
        }
        b"request_filename" => Some(super::static_file::map_uri_to_path(r, &r.uri)),
        b"connection" => Some(r.conn.id.to_string().into_bytes()),
        b"connection_requests" => Some(r.conn.requests.to_string().into_bytes()),
        b"pid" => Some(std::process::id().to_string().into_bytes()),
        b"nginx_version" => s("1.22.1"),
        b"msec" => Some(crate::log::msec().into_bytes()),
        b"time_local" => Some(crate::log::time_local().into_bytes()),
        b"time_iso8601" => Some(crate::log::time_iso8601().into_bytes()),
        b"status" => Some(format!("{:03}", r.status).into_bytes()),
        b"body_bytes_sent" => Some(r.body_bytes_sent.to_string().into_bytes()),
        b"request_time" => {
            let d = r.start.elapsed().unwrap_or_default();
            Some(format!("{}.{:03}", d.as_secs(), d.subsec_millis()).into_bytes())
        }
        b"remote_user" => None,
        b"request_id" => Some(request_id(r)),
        _ => None,
    }
}

/// `$hostname` (nginx: gethostname at startup).
fn hostname() -> Vec<u8> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return b"localhost".to_vec();
    }
    let end = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    buf[..end].to_vec()
}

/// `$request_id`: 32 hex digits, random per request.
fn request_id(r: &Request) -> Vec<u8> {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::with_capacity(32);
    for i in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(r.conn.id ^ i);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.into_bytes()
}
