//! ngx_http_realip_module: `set_real_ip_from`, `real_ip_header`, `real_ip_recursive`.

use parser::Directive;

use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};
use crate::http::geo::ptocidr;
use crate::log::Level;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_realip_module",
    commands: &[
        cmd(
            "set_real_ip_from",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Handler(realip_from),
        ),
        cmd(
            "real_ip_header",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Handler(realip),
        ),
        cmd(
            "real_ip_recursive",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
    ],
};

/// Variables this module defines.
pub(crate) const VARIABLES: &[&str] = &["realip_remote_addr", "realip_remote_port"];

/// nginx: ngx_http_realip_from
fn realip_from(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let Some(v) = d.args.first() else {
        return Ok(());
    };
    if v == b"unix:" {
        return Ok(());
    }
    let shown = String::from_utf8_lossy(v).into_owned();
    match ptocidr(v) {
        Ok((_, true)) => {
            cf.conf_log(
                Level::Warn,
                format!("low address bits of {shown} are meaningless"),
            );
            Ok(())
        }
        Ok(_) => Ok(()),
        // nginx: ngx_inet_resolve_host
        Err(()) => match crate::http::upstream::resolve_host(v, 0) {
            Ok(_) => Ok(()),
            Err(e) => Err(cf
                .emerg(format!("{e} in set_real_ip_from \"{shown}\""))
                .into()),
        },
    }
}

/// nginx: ngx_http_realip
fn realip(cf: &mut Cf<'_>, _d: &Directive) -> SetResult {
    if cf.seen("real_ip_header") {
        return Err(Some("is duplicate".into()));
    }
    Ok(())
}

/// A trusted proxy address (`set_real_ip_from`).
#[derive(Debug, Clone)]
pub(crate) enum From {
    Cidr(crate::http::geo::Cidr),
    /// `unix:`: connections on unix-domain sockets.
    Unix,
}

/// Where the client address comes from (`real_ip_header`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Header {
    XRealIp,
    XForwardedFor,
    ProxyProtocol,
    /// Any other header, by lower-case name.
    Other(Vec<u8>),
}

/// Folds this module's directives into a level (the lowering pass).
pub(crate) fn lower(c: &mut crate::http::lower::LocConf, d: &Directive) {
    let arg = d.args.first().map(Vec::as_slice).unwrap_or_default();
    match d.name.as_slice() {
        b"set_real_ip_from" => {
            let mut from = c
                .realip_from
                .take()
                .map(|v| v.as_ref().clone())
                .unwrap_or_default();
            if arg == b"unix:" {
                from.push(From::Unix);
            } else if let Ok((cidr, _)) = ptocidr(arg) {
                from.push(From::Cidr(cidr));
            } else if let Ok(addrs) = crate::http::upstream::resolve_host(arg, 0) {
                // nginx: a name stands for each of its addresses.
                for a in addrs {
                    let text = a.ip().to_string();
                    if let Ok((cidr, _)) = ptocidr(text.as_bytes()) {
                        from.push(From::Cidr(cidr));
                    }
                }
            }
            c.realip_from = Some(std::sync::Arc::new(from));
        }
        b"real_ip_header" => {
            c.realip_header = Some(match arg {
                b"X-Real-IP" => Header::XRealIp,
                b"X-Forwarded-For" => Header::XForwardedFor,
                b"proxy_protocol" => Header::ProxyProtocol,
                other => Header::Other(other.to_ascii_lowercase()),
            });
        }
        b"real_ip_recursive" => {
            c.realip_recursive = Some(arg.eq_ignore_ascii_case(b"on"));
        }
        _ => {}
    }
}

/// nginx: ngx_http_realip_handler, run at post-read (with the server's settings) and again
/// at preaccess (with the location's) unless the address was already replaced.
pub(crate) fn handler(r: &mut crate::http::request::Request) {
    if r.realip.is_some() {
        return;
    }
    let Some(from) = r.loc.realip_from.clone() else {
        return;
    };
    let recursive = r.loc.realip_recursive.unwrap_or(false);
    let header = r.loc.realip_header.clone().unwrap_or(Header::XRealIp);
    let values: Vec<Vec<u8>> = match &header {
        Header::XRealIp => r
            .headers
            .get(hyper::header::HeaderName::from_static("x-real-ip"))
            .map(|v| vec![v.as_bytes().to_vec()])
            .unwrap_or_default(),
        Header::XForwardedFor => r
            .headers
            .values(&hyper::header::HeaderName::from_static("x-forwarded-for"))
            .map(|v| v.as_bytes().to_vec())
            .collect(),
        Header::ProxyProtocol => r
            .conn
            .proxy
            .as_ref()
            .map(|p| vec![p.src_addr.clone().into_bytes()])
            .unwrap_or_default(),
        Header::Other(name) => hyper::header::HeaderName::from_bytes(name)
            .ok()
            .and_then(|n| r.headers.get(n))
            .map(|v| vec![v.as_bytes().to_vec()])
            .unwrap_or_default(),
    };
    if values.is_empty() {
        return;
    }
    let values: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
    let xfwd = header == Header::XForwardedFor;
    let is_trusted = |a: Option<std::net::SocketAddr>| trusted(a, &from);
    // A unix-domain client (no address) is trusted only with `set_real_ip_from unix:`.
    let original = r.conn.remote;
    if let Some(mut a) = forwarded_addr(original, &values, xfwd, &is_trusted, recursive) {
        // nginx: the PROXY header's source port comes with its address.
        if let (Header::ProxyProtocol, Some(p)) = (&header, &r.conn.proxy) {
            a.set_port(p.src_port);
        }
        r.realip = Some(original);
        r.conn.remote = Some(a);
    }
}

/// nginx: ngx_http_get_forwarded_addr: the client address the trusted proxies name, if any
/// (`None`: declined, the address stays). X-Forwarded-For headers (`xfwd`) are walked from
/// the last one; of another header only the first value counts. Also geo's `proxy`.
pub(crate) fn forwarded_addr(
    start: Option<std::net::SocketAddr>,
    values: &[&[u8]],
    xfwd: bool,
    trusted: &dyn Fn(Option<std::net::SocketAddr>) -> bool,
    recursive: bool,
) -> Option<std::net::SocketAddr> {
    let mut addr = start;
    let mut found = false;
    let mut rc = Rc::Declined;
    let list: Vec<&[u8]> = if xfwd {
        values.iter().rev().copied().collect()
    } else {
        values.iter().take(1).copied().collect()
    };
    for v in list {
        rc = forwarded_internal(&mut addr, v, trusted, recursive);
        if !xfwd || !recursive {
            break;
        }
        if rc == Rc::Declined && found {
            rc = Rc::Done;
            break;
        }
        if rc != Rc::Ok {
            break;
        }
        found = true;
    }
    match rc {
        Rc::Declined => None,
        Rc::Ok | Rc::Done => addr,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rc {
    Ok,
    Done,
    Declined,
}

fn trusted(addr: Option<std::net::SocketAddr>, from: &[From]) -> bool {
    from.iter().any(|f| match (f, addr) {
        (From::Unix, None) => true,
        (From::Cidr(c), Some(a)) => {
            let ip = match a.ip() {
                std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                    Some(v4) => std::net::IpAddr::V4(v4),
                    None => std::net::IpAddr::V6(v6),
                },
                ip => ip,
            };
            crate::http::geo::cidr_match(&ip, c)
        }
        _ => false,
    })
}

/// nginx: ngx_http_get_forwarded_addr_internal over one header value.
fn forwarded_internal(
    addr: &mut Option<std::net::SocketAddr>,
    xff: &[u8],
    trusted: &dyn Fn(Option<std::net::SocketAddr>) -> bool,
    recursive: bool,
) -> Rc {
    let mut found = false;
    let mut len = xff.len();
    loop {
        if !trusted(*addr) {
            return if found { Rc::Done } else { Rc::Declined };
        }
        let mut p = len.saturating_sub(1);
        while p > 0 && (xff[p] == b' ' || xff[p] == b',') {
            p -= 1;
            len -= 1;
        }
        while p > 0 {
            if xff[p] == b' ' || xff[p] == b',' {
                p += 1;
                break;
            }
            p -= 1;
        }
        let Some(a) = xff.get(p..len).and_then(addr_port) else {
            return if found { Rc::Done } else { Rc::Declined };
        };
        *addr = Some(a);
        found = true;
        len = p.saturating_sub(1);
        if !(recursive && p > 0) {
            return Rc::Ok;
        }
    }
}

/// nginx: ngx_parse_addr_port with the port kept (0 when there is none).
fn addr_port(text: &[u8]) -> Option<std::net::SocketAddr> {
    let ip = crate::http::geo::parse_addr_port(text)?;
    let port = if let Some(rest) = text.strip_prefix(b"[") {
        let end = rest.iter().position(|&c| c == b']')?;
        rest[end + 1..].strip_prefix(b":")
    } else if ip.is_ipv4() {
        text.iter()
            .rposition(|&c| c == b':')
            .map(|i| &text[i + 1..])
    } else {
        None
    };
    let port = match port {
        Some(p) => std::str::from_utf8(p).ok()?.parse().ok()?,
        None => 0,
    };
    Some(std::net::SocketAddr::new(ip, port))
}
