//! `proxy_pass` at run time: the content handler that sends the request to an upstream and
//! streams its response back (nginx: ngx_http_proxy_module.c's handler, create_request,
//! process_status_line/process_header, and ngx_http_upstream.c's connect, next-upstream,
//! header processing and response forwarding).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use parser::Directive;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::lower::LocConf;
use super::request::Request;
use super::response::Reply;
use super::upstream_rr::{self, Picker, UpConn, Upstream};
use super::variables::ComplexValue;
use crate::conf::values::{atoi, parse_size, parse_time};

// ---------------------------------------------------------------------------------------------
// Configuration

/// `proxy_pass`'s URL (nginx: `plcf->url`, `plcf->vars`, `plcf->proxy_lengths`).
#[derive(Debug)]
pub(crate) struct Pass {
    /// The argument as written (the default `proxy_redirect` pattern).
    url: Vec<u8>,
    /// The URL has variables: evaluated per request.
    dynamic: Option<ComplexValue>,
    target: Option<Target>,
}

/// A parsed proxy URL (nginx: ngx_http_proxy_vars_t plus the upstream found for it).
#[derive(Debug, Clone)]
struct Target {
    /// `$proxy_host`.
    host_header: Vec<u8>,
    /// `$proxy_port`.
    port: Vec<u8>,
    /// The URI part (nginx: `vars.uri`).
    uri: Vec<u8>,
    /// The host the upstream is looked up by.
    host: Vec<u8>,
    no_port: bool,
    /// The text before the URI in `upstream:` of log lines.
    schema: &'static str,
    implicit: Option<Arc<Upstream>>,
    /// A literal address (variables URLs need no resolver for it).
    literal: bool,
    /// The URL before its URI, the default cache key's start (nginx: `vars.key_start`).
    key_start: Vec<u8>,
}

/// A `proxy_redirect` rule.
#[derive(Debug, Clone)]
enum Redirect {
    Default,
    Plain(ComplexValue, ComplexValue),
    Regex(crate::regex::Regex, ComplexValue),
}

/// `proxy_set_header` lines of a level.
type SetHeaders = Vec<(Vec<u8>, ComplexValue)>;

/// The proxy settings of a level (nginx: ngx_http_proxy_loc_conf_t's run-time fields).
#[derive(Debug, Clone, Default)]
pub(crate) struct ProxyConf {
    pass: Option<Arc<Pass>>,
    pub(crate) upstreams: Option<Arc<HashMap<Vec<u8>, Arc<Upstream>>>>,
    set_headers: Option<Arc<SetHeaders>>,
    http_11: Option<bool>,
    pass_request_headers: Option<bool>,
    pass_request_body: Option<bool>,
    set_body: Option<Option<ComplexValue>>,
    method: Option<ComplexValue>,
    hide: Option<Arc<Vec<Vec<u8>>>>,
    pass_headers: Option<Arc<Vec<Vec<u8>>>>,
    ignore_xa: Option<bool>,
    /// `Some(None)`: `proxy_redirect off`.
    redirects: Option<Option<Arc<Vec<Redirect>>>>,
    intercept_errors: Option<bool>,
    buffering: Option<bool>,
    buffer_size: Option<usize>,
    buffers: Option<(usize, usize)>,
    connect_timeout: Option<Duration>,
    send_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    next_upstream: Option<u32>,
    next_tries: Option<usize>,
    next_timeout: Option<Duration>,
    /// `proxy_cookie_domain` / `proxy_cookie_path` (`Some(None)`: off).
    cookie_domains: Option<Option<Arc<Vec<Redirect>>>>,
    cookie_paths: Option<Option<Arc<Vec<Redirect>>>>,
    /// The headers sent: `set_headers` then the defaults (built on first use).
    merged: std::sync::OnceLock<Arc<SetHeaders>>,
    /// `proxy_ssl_*` (http/proxy_ssl.rs).
    ssl: super::proxy_ssl::SslLevel,
    /// `proxy_bind address [transparent]` (`Some(None)`: off).
    bind: Option<Option<(ComplexValue, bool)>>,
    /// `proxy_request_buffering`.
    request_buffering: Option<bool>,
    /// `proxy_limit_rate` (bytes per second; 0: none).
    limit_rate: Option<u64>,
    /// `proxy_ignore_headers X-Accel-Buffering`.
    ignore_xa_buffering: Option<bool>,
    /// `proxy_socket_keepalive`.
    socket_keepalive: Option<bool>,
}

// nginx: NGX_HTTP_UPSTREAM_FT_* bits.
pub(crate) const FT_ERROR: u32 = 0x2;
pub(crate) const FT_TIMEOUT: u32 = 0x4;
pub(crate) const FT_INVALID_HEADER: u32 = 0x8;
pub(crate) const FT_500: u32 = 0x10;
pub(crate) const FT_502: u32 = 0x20;
pub(crate) const FT_503: u32 = 0x40;
pub(crate) const FT_504: u32 = 0x80;
pub(crate) const FT_403: u32 = 0x100;
pub(crate) const FT_404: u32 = 0x200;
pub(crate) const FT_429: u32 = 0x400;
pub(crate) const FT_UPDATING: u32 = 0x800;
pub(crate) const FT_NON_IDEMPOTENT: u32 = 0x10000;

/// nginx: ngx_http_proxy_next_upstream_masks (and fastcgi's, and the `*_cache_use_stale`
/// ones): the bit of one argument; each directive's parse pass took only its own names.
pub(crate) fn ft_bit(name: &[u8]) -> u32 {
    match name {
        b"error" => FT_ERROR,
        b"timeout" => FT_TIMEOUT,
        b"invalid_header" => FT_INVALID_HEADER,
        b"updating" => FT_UPDATING,
        b"http_500" => FT_500,
        b"http_502" => FT_502,
        b"http_503" => FT_503,
        b"http_504" => FT_504,
        b"http_403" => FT_403,
        b"http_404" => FT_404,
        b"http_429" => FT_429,
        b"non_idempotent" => FT_NON_IDEMPOTENT,
        _ => 0,
    }
}

/// Some level has `proxy_pass`: request bodies are kept for it.
static USED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn used() -> bool {
    USED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Another upstream module (fastcgi_pass) needs request bodies kept too.
pub(crate) fn mark_used() {
    USED.store(true, std::sync::atomic::Ordering::Relaxed);
}

pub(crate) fn arg(d: &Directive, i: usize) -> &[u8] {
    d.args.get(i).map(Vec::as_slice).unwrap_or_default()
}

pub(crate) fn cv(s: &[u8]) -> ComplexValue {
    crate::http::variables::parse_complex_value(s).unwrap_or_default()
}

pub(crate) fn msecs(s: &[u8]) -> Option<Duration> {
    parse_time(s, false)
        .and_then(|n| u64::try_from(n).ok())
        .map(Duration::from_millis)
}

fn conf(c: &mut LocConf) -> &mut ProxyConf {
    Arc::make_mut(c.proxy.get_or_insert_with(Default::default))
}

/// Folds one proxy or upstream directive into a level (called from `Lowering::apply`).
pub(crate) fn lower(c: &mut LocConf, d: &Directive) -> bool {
    let on = || arg(d, 0).eq_ignore_ascii_case(b"on");
    match d.name.as_slice() {
        b"upstream" => {
            let up = Arc::new(upstream_rr::lower_block(d));
            super::proxy_ssl::register_peers(&up);
            let p = conf(c);
            let mut map = p.upstreams.as_deref().cloned().unwrap_or_default();
            map.insert(arg(d, 0).to_ascii_lowercase(), up);
            p.upstreams = Some(Arc::new(map));
        }
        b"proxy_pass" => {
            USED.store(true, std::sync::atomic::Ordering::Relaxed);
            let url = arg(d, 0).to_vec();
            let value = cv(&url);
            let pass = if value.is_static() {
                let target = parse_target(&url, true);
                if let Some(up) = target.as_ref().and_then(|t| t.implicit.as_ref()) {
                    super::proxy_ssl::register_peers(up);
                }
                Pass {
                    target,
                    url,
                    dynamic: None,
                }
            } else {
                Pass {
                    url,
                    dynamic: Some(value),
                    target: None,
                }
            };
            conf(c).pass = Some(Arc::new(pass));
        }
        b"proxy_set_header" => {
            let p = conf(c);
            let mut v = p.set_headers.as_deref().cloned().unwrap_or_default();
            v.push((arg(d, 0).to_vec(), cv(arg(d, 1))));
            p.set_headers = Some(Arc::new(v));
        }
        b"proxy_http_version" => conf(c).http_11 = Some(arg(d, 0) == b"1.1"),
        b"proxy_pass_request_headers" => conf(c).pass_request_headers = Some(on()),
        b"proxy_pass_request_body" => conf(c).pass_request_body = Some(on()),
        b"proxy_set_body" => conf(c).set_body = Some(Some(cv(arg(d, 0)))),
        b"proxy_method" => conf(c).method = Some(cv(arg(d, 0))),
        b"proxy_bind" => {
            conf(c).bind = Some(if arg(d, 0) == b"off" {
                None
            } else {
                Some((cv(arg(d, 0)), arg(d, 1) == b"transparent"))
            })
        }
        b"proxy_hide_header" | b"proxy_pass_header" => {
            let p = conf(c);
            let slot = if d.name == b"proxy_hide_header" {
                &mut p.hide
            } else {
                &mut p.pass_headers
            };
            let mut v = slot.as_deref().cloned().unwrap_or_default();
            v.push(arg(d, 0).to_ascii_lowercase());
            *slot = Some(Arc::new(v));
        }
        b"proxy_ignore_headers" => {
            let has = |h: &[u8]| d.args.iter().any(|a| a.eq_ignore_ascii_case(h));
            let p = conf(c);
            p.ignore_xa = Some(has(b"X-Accel-Redirect"));
            p.ignore_xa_buffering = Some(has(b"X-Accel-Buffering"));
        }
        b"proxy_redirect" => {
            let p = conf(c);
            let a0 = arg(d, 0);
            if d.args.len() == 1 && a0 == b"off" {
                p.redirects = Some(None);
                return true;
            }
            let mut v = match &p.redirects {
                Some(Some(v)) => v.as_ref().clone(),
                _ => Vec::new(),
            };
            if d.args.len() == 1 && a0 == b"default" {
                v.push(Redirect::Default);
            } else if let Some(re) = a0.strip_prefix(b"~") {
                let (re, ci) = match re.strip_prefix(b"*") {
                    Some(r) => (r, true),
                    None => (re, false),
                };
                if let Ok(re) = crate::regex::build(re, ci) {
                    v.push(Redirect::Regex(re, cv(arg(d, 1))));
                }
            } else {
                v.push(Redirect::Plain(cv(a0), cv(arg(d, 1))));
            }
            p.redirects = Some(Some(Arc::new(v)));
        }
        b"proxy_cookie_domain" | b"proxy_cookie_path" => {
            let p = conf(c);
            let slot = if d.name == b"proxy_cookie_domain" {
                &mut p.cookie_domains
            } else {
                &mut p.cookie_paths
            };
            let a0 = arg(d, 0);
            if d.args.len() == 1 && a0 == b"off" {
                *slot = Some(None);
                return true;
            }
            let mut v = match slot {
                Some(Some(v)) => v.as_ref().clone(),
                _ => Vec::new(),
            };
            if let Some(re) = a0.strip_prefix(b"~") {
                let (re, ci) = match re.strip_prefix(b"*") {
                    Some(r) => (r, true),
                    None => (re, false),
                };
                if let Ok(re) = crate::regex::build(re, ci) {
                    v.push(Redirect::Regex(re, cv(arg(d, 1))));
                }
            } else {
                v.push(Redirect::Plain(cv(a0), cv(arg(d, 1))));
            }
            *slot = Some(Some(Arc::new(v)));
        }
        b"proxy_intercept_errors" => conf(c).intercept_errors = Some(on()),
        b"proxy_request_buffering" => conf(c).request_buffering = Some(on()),
        b"proxy_socket_keepalive" => conf(c).socket_keepalive = Some(on()),
        b"proxy_limit_rate" => conf(c).limit_rate = parse_size(arg(d, 0)),
        b"proxy_buffering" => conf(c).buffering = Some(on()),
        b"proxy_buffer_size" => {
            conf(c).buffer_size = parse_size(arg(d, 0)).and_then(|n| usize::try_from(n).ok())
        }
        b"proxy_buffers" => {
            let n = atoi(arg(d, 0)).and_then(|n| usize::try_from(n).ok());
            let s = parse_size(arg(d, 1)).and_then(|n| usize::try_from(n).ok());
            if let (Some(n), Some(s)) = (n, s) {
                conf(c).buffers = Some((n, s));
            }
        }
        b"proxy_connect_timeout" => conf(c).connect_timeout = msecs(arg(d, 0)),
        b"proxy_send_timeout" => conf(c).send_timeout = msecs(arg(d, 0)),
        b"proxy_read_timeout" => conf(c).read_timeout = msecs(arg(d, 0)),
        b"proxy_next_upstream_tries" => {
            conf(c).next_tries = atoi(arg(d, 0)).and_then(|n| usize::try_from(n).ok())
        }
        b"proxy_next_upstream_timeout" => conf(c).next_timeout = msecs(arg(d, 0)),
        n if n.starts_with(b"proxy_ssl_") => return conf(c).ssl.lower(d),
        b"proxy_next_upstream" => {
            let m = d.args.iter().fold(0, |m, a| m | ft_bit(a));
            conf(c).next_upstream = Some(m);
        }
        _ => return false,
    }
    true
}

/// nginx: ngx_http_proxy_merge_loc_conf: what a level did not set comes from its parent;
/// `proxy_pass` is the level's own (an `if` block's is found through its location).
pub(crate) fn merge(c: &mut LocConf, parent: &LocConf) {
    let Some(pp) = parent.proxy.as_ref() else {
        return;
    };
    let Some(own) = c.proxy.as_mut() else {
        if pp.pass.is_none() {
            c.proxy = Some(pp.clone());
        } else {
            let mut p = pp.as_ref().clone();
            p.pass = None;
            c.proxy = Some(Arc::new(p));
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
        upstreams,
        set_headers,
        http_11,
        pass_request_headers,
        pass_request_body,
        set_body,
        method,
        bind,
        hide,
        pass_headers,
        ignore_xa,
        redirects,
        cookie_domains,
        cookie_paths,
        intercept_errors,
        buffering,
        buffer_size,
        buffers,
        connect_timeout,
        send_timeout,
        read_timeout,
        next_upstream,
        next_tries,
        next_timeout,
        request_buffering,
        limit_rate,
        ignore_xa_buffering,
        socket_keepalive
    );
    p.ssl.inherit(&pp.ssl);
}

/// nginx: ngx_http_upstream_set_local: the address `proxy_bind` names for this request
/// (its text, the address, `transparent`); an empty value binds nothing, a bad one is
/// logged and binds nothing.
fn local_addr(r: &Request, pc: &ProxyConf) -> Option<(String, std::net::SocketAddr, bool)> {
    let Some(Some((value, transparent))) = &pc.bind else {
        return None;
    };
    let v = r.eval(value);
    if v.is_empty() {
        return None;
    }
    let text = lossy(&v);
    let parsed = text.parse::<std::net::SocketAddr>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| std::net::SocketAddr::new(ip, 0))
    });
    match parsed {
        Some(sa) => Some((text, sa, *transparent)),
        None => {
            crate::http::errlog::request_error(r, &format!("invalid local address \"{text}\""));
            None
        }
    }
}

/// nginx: ngx_http_proxy_pass's / ngx_http_proxy_eval's URL parsing and ngx_http_proxy_set_vars.
fn parse_target(url: &[u8], resolve: bool) -> Option<Target> {
    let (add, default_port, schema) = if url.len() >= 7 && url[..7].eq_ignore_ascii_case(b"http://")
    {
        (7, 80, "http://")
    } else if url.len() >= 8 && url[..8].eq_ignore_ascii_case(b"https://") {
        (8, 443, "https://")
    } else {
        return None;
    };
    let rest = &url[add..];
    let o = crate::http::upstream::UrlOpts {
        default_port,
        uri_part: true,
        no_resolve: true,
        listen: false,
    };
    let u = crate::http::upstream::parse_url(rest, o).ok()?;
    let mut uri = u.uri.clone();
    if uri.first() == Some(&b'?') {
        // nginx: ngx_http_proxy_eval: "http://host?args" sends "/?args".
        uri.insert(0, b'/');
    }
    let (host_header, port) = if u.unix.is_some() {
        (b"localhost".to_vec(), Vec::new())
    } else if u.no_port {
        (u.host.clone(), default_port.to_string().into_bytes())
    } else {
        let p = u.port.to_string();
        (
            [u.host.as_slice(), b":", p.as_bytes()].concat(),
            p.into_bytes(),
        )
    };
    let literal = u.unix.is_some() || !u.addrs.is_empty() || parse_ip(&u.host);
    let addr_text = match &u.unix {
        Some(p) => [b"unix:".as_slice(), p].concat(),
        None => {
            let p = if u.no_port { default_port } else { u.port };
            [u.host.as_slice(), b":", p.to_string().as_bytes()].concat()
        }
    };
    let implicit = if resolve || literal {
        Some(Arc::new(upstream_rr::implicit(
            &u.host,
            &addr_text,
            default_port,
        )))
    } else {
        None
    };
    // nginx: ngx_http_proxy_set_vars: the schema and host header, or for a unix socket the
    // URL up to the path and one byte more (the `:` before a URI, else the string's end)
    let key_start = match &u.unix {
        Some(path) => {
            let n = add + 5 + path.len();
            let mut k = url.get(..n).unwrap_or(url).to_vec();
            k.push(url.get(n).copied().unwrap_or(0));
            k
        }
        None => [schema.as_bytes(), host_header.as_slice()].concat(),
    };
    Some(Target {
        host_header,
        port,
        uri,
        host: u.host.to_ascii_lowercase(),
        no_port: u.no_port,
        schema,
        implicit,
        literal,
        key_start,
    })
}

fn parse_ip(h: &[u8]) -> bool {
    std::str::from_utf8(h)
        .ok()
        .map(|s| s.trim_start_matches('[').trim_end_matches(']'))
        .is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok())
}

// ---------------------------------------------------------------------------------------------
// The content handler

/// The location has `proxy_pass` (nginx: `clcf->auto_redirect` of ngx_http_proxy_pass).
pub(crate) fn auto_redirect(c: &LocConf) -> bool {
    c.proxy.as_ref().is_some_and(|p| p.pass.is_some())
}

/// The location's `proxy_pass` (an `if` block uses its location's).
fn pass_of(r: &Request) -> Option<Arc<Pass>> {
    if let Some(p) = r.loc.proxy.as_ref().and_then(|p| p.pass.clone()) {
        return Some(p);
    }
    let l = r.location.as_ref()?;
    if Arc::ptr_eq(&l.conf, &r.loc) {
        return None;
    }
    l.conf.proxy.as_ref().and_then(|p| p.pass.clone())
}

/// Why a try failed (nginx: NGX_HTTP_UPSTREAM_FT_*), and the status it answers with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fail {
    Error,
    Timeout,
    InvalidHeader,
}

/// nginx: ngx_http_proxy_handler + ngx_http_upstream_init_request: `None` when the location
/// does not proxy.
pub(crate) async fn content(r: &mut Request) -> Option<Reply> {
    if r.sub == 0 && r.loc.slice.is_some_and(|s| s > 0) && pass_of(r).is_some() {
        // nginx: the slice filter around the upstream's answers (http/slice.rs)
        return super::slice::main(r).await;
    }
    fetch(r).await
}

/// One upstream answer, through the cache when there is one (`None`: the location does not
/// proxy).
pub(crate) async fn fetch(r: &mut Request) -> Option<Reply> {
    let pass = pass_of(r)?;
    let pc = r.loc.proxy.clone().unwrap_or_default();
    if r.loc.proxy_cache.is_some() {
        // `$proxy_host` / `$proxy_port` for the cache key (nginx: set by the handler)
        let mut key = None;
        if let Ok((t, _)) = find_upstream(r, &pc, &pass) {
            r.vars.insert(b"proxy_host".to_vec(), t.host_header.clone());
            r.vars.insert(b"proxy_port".to_vec(), t.port.clone());
            key = Some(default_cache_key(r, &t, pass.dynamic.is_some()));
        }
        use super::file_cache::{begin, finish, Begin, Module};
        match begin(r, Module::Proxy, key).await {
            Begin::Off => {}
            Begin::Answer(reply) => return Some(reply),
            Begin::Fetch(p) => {
                p.prepare(r);
                let reply = proxy(r, &pass, &pc).await;
                p.restore(r);
                return Some(finish(r, p, reply).await);
            }
        }
    }
    Some(proxy(r, &pass, &pc).await)
}

/// nginx: ngx_http_read_client_request_body for an upstream module, buffered: the whole body,
/// or the answer when it cannot be read: 413 for a chunked body over `client_max_body_size`
/// (ngx_http_request_body_chunked_filter), 408 when `client_body_timeout` passes, 400 (no
/// answer) when the client goes away.
pub(crate) async fn request_body_checked(r: &mut Request) -> Result<Vec<u8>, Reply> {
    let ctx = crate::http::lua::vm::ctx_of(r);
    let (done, incoming) = {
        let mut c = ctx.borrow_mut();
        (c.body.clone(), c.incoming.take())
    };
    if let Some(d) = done {
        return Ok(d);
    }
    let Some(mut body) = incoming else {
        ctx.borrow_mut().body = Some(Vec::new());
        return Ok(Vec::new());
    };
    let chunked = !r.headers.contains_key(hyper::header::CONTENT_LENGTH);
    let max = r.loc.client_max_body_size.unwrap_or(1 << 20);
    let timeout = r.loc.client_body_timeout.unwrap_or(Duration::from_secs(60));
    let mut data = Vec::new();
    loop {
        let frame = match tokio::time::timeout(timeout, body.frame()).await {
            Err(_) => Err(StreamErr::Client(408, None)),
            Ok(None) => break,
            Ok(Some(Err(e))) => Err(client_body_err(&e)),
            Ok(Some(Ok(f))) => Ok(f),
        };
        let frame = match frame {
            Ok(f) => f,
            Err(StreamErr::Client(status, line)) => {
                if let Some((level, m)) = line {
                    let m = m.replace(" while sending request to upstream", "");
                    crate::http::errlog::log(r, level, &m);
                }
                let mut reply = Reply::status(status);
                reply.drop = status == 400;
                reply.close = true;
                return Err(reply);
            }
            Err(StreamErr::Upstream(..)) => break,
        };
        let Ok(d) = frame.into_data() else {
            continue;
        };
        if chunked && max > 0 && (data.len() + d.len()) as u64 > max {
            crate::http::errlog::request_error(
                r,
                &format!(
                    "client intended to send too large chunked body: {}+{} bytes",
                    data.len(),
                    d.len()
                ),
            );
            let mut reply = Reply::status(413);
            reply.close = true;
            return Err(reply);
        }
        data.extend_from_slice(&d);
    }
    ctx.borrow_mut().body = Some(data.clone());
    Ok(data)
}

pub(crate) fn lossy(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

/// nginx's `(errno: text)`.
pub(crate) fn errno_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let t = std::io::Error::from_raw_os_error(code).to_string();
            let t = t.split(" (os error").next().unwrap_or_default().to_string();
            format!(" ({code}: {t})")
        }
        None => String::new(),
    }
}

/// An error-log line with nginx's upstream context (ngx_http_log_error: `upstream: "..."`
/// before `host:`).
pub(crate) fn upstream_log(r: &Request, level: crate::log::Level, msg: &str, upstream: &str) {
    let mut line = crate::http::errlog::with_context(r, msg);
    let up = format!(", upstream: \"{upstream}\"");
    match line.find(", host: \"") {
        Some(i) if r.headers.contains_key(hyper::header::HOST) => line.insert_str(i, &up),
        _ => line.push_str(&up),
    }
    crate::http::errlog::write_for(r, level, &line);
}

/// Per-try values of the `$upstream_*` variables (nginx: ngx_http_upstream_state_t).
#[derive(Default)]
pub(crate) struct TryState {
    pub(crate) addr: String,
    pub(crate) status: String,
    pub(crate) response_time: Option<Duration>,
    pub(crate) connect_time: Option<Duration>,
    pub(crate) header_time: Option<Duration>,
    pub(crate) bytes: u64,
    /// `$upstream_response_length`: the body bytes read (taken when the response ends).
    pub(crate) response_length: u64,
    /// `$upstream_bytes_sent`.
    pub(crate) sent: u64,
}

fn secs(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!("{}.{:03}", d.as_secs(), d.subsec_millis()),
        None => "-".into(),
    }
}

pub(crate) fn set_states(r: &mut Request, states: &[TryState]) {
    let join =
        |f: &dyn Fn(&TryState) -> String| states.iter().map(f).collect::<Vec<_>>().join(", ");
    let vals = [
        ("upstream_addr", join(&|s| s.addr.clone())),
        ("upstream_status", join(&|s| s.status.clone())),
        ("upstream_response_time", join(&|s| secs(s.response_time))),
        ("upstream_connect_time", join(&|s| secs(s.connect_time))),
        ("upstream_header_time", join(&|s| secs(s.header_time))),
        ("upstream_bytes_received", join(&|s| s.bytes.to_string())),
        (
            "upstream_response_length",
            join(&|s| s.response_length.to_string()),
        ),
        ("upstream_bytes_sent", join(&|s| s.sent.to_string())),
    ];
    for (k, v) in vals {
        r.vars.insert(k.as_bytes().to_vec(), v.into_bytes());
    }
}

/// What the answering try still counts after its head (nginx takes these figures in
/// ngx_http_upstream_finalize_request): the read side's bytes, the body's end.
#[derive(Default)]
pub(crate) struct Live {
    /// Bytes read after the head.
    pub(crate) body: u64,
    /// Of those, the ones read with the head.
    pub(crate) with_head: u64,
    /// When the response was read whole (or given up).
    pub(crate) done: Option<Instant>,
}

/// The `$upstream_*` states of a request whose answering try is still being read; the log
/// phase folds the try's final figures in ([`finish_states`]).
pub(crate) struct Tail {
    states: Vec<TryState>,
    /// When the answering try started.
    t0: Instant,
    /// Request bytes it sent.
    sent: u64,
    live: Arc<std::sync::Mutex<Live>>,
}

impl Tail {
    /// A tail for `states` (the last one answering), its body counted by `live`.
    pub(crate) fn new(
        states: Vec<TryState>,
        t0: Instant,
        sent: u64,
    ) -> (Box<Tail>, Arc<std::sync::Mutex<Live>>) {
        let live = Arc::new(std::sync::Mutex::new(Live::default()));
        let tail = Box::new(Tail {
            states,
            t0,
            sent,
            live: live.clone(),
        });
        (tail, live)
    }
}

/// Counts `n` body bytes read into `live`.
pub(crate) fn count_body(live: &std::sync::Mutex<Live>, n: usize) {
    if let Ok(mut l) = live.lock() {
        l.body += n as u64;
    }
}

/// The body is read whole (or given up).
pub(crate) fn body_done(live: &std::sync::Mutex<Live>) {
    if let Ok(mut l) = live.lock() {
        l.done.get_or_insert_with(Instant::now);
    }
}

/// Notes the body's end however the reading of it ends.
pub(crate) struct BodyDone(pub(crate) Arc<std::sync::Mutex<Live>>);

impl Drop for BodyDone {
    fn drop(&mut self) {
        body_done(&self.0);
    }
}

/// nginx: ngx_http_upstream_finalize_request: the answering try's `$upstream_response_time`,
/// `$upstream_bytes_received`, `$upstream_bytes_sent` and `$upstream_response_length` as the
/// response ended (called by the log phase).
pub(crate) fn finish_states(r: &mut Request) {
    let Some(tail) = r.upstream_tail.take() else {
        return;
    };
    let Tail {
        mut states,
        t0,
        sent,
        live,
    } = *tail;
    if let (Some(last), Ok(l)) = (states.last_mut(), live.lock()) {
        last.response_time = Some(l.done.unwrap_or_else(Instant::now).duration_since(t0));
        // the head's read counted what came with it
        last.bytes += l.body.saturating_sub(l.with_head);
        last.response_length = l.body;
        last.sent = sent;
    }
    set_states(r, &states);
}

/// A parsed upstream response head.
struct RespHead {
    status: u16,
    /// The status line after the version: code and reason as sent (nginx:
    /// `u->headers_in.status_line`, which becomes the response's).
    status_line: Vec<u8>,
    http11: bool,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Bytes of the body already read with the head.
    rest: Vec<u8>,
    head_len: usize,
}

enum HeadErr {
    Io(std::io::Error),
    Timeout,
    Closed,
    Invalid(&'static str),
    TooBig,
}

/// nginx: ngx_http_proxy_process_status_line + ngx_http_proxy_process_header.
async fn read_head<R: tokio::io::AsyncRead + Unpin>(
    rd: &mut R,
    size: usize,
    timeout: Duration,
) -> Result<RespHead, HeadErr> {
    let mut buf: Vec<u8> = Vec::with_capacity(size.min(64 * 1024));
    let mut tmp = vec![0u8; size.clamp(1024, 16384)];
    loop {
        if buf.len() >= size {
            return Err(HeadErr::TooBig);
        }
        let room = size.saturating_sub(buf.len()).clamp(1, tmp.len());
        let n = match tokio::time::timeout(timeout, rd.read(&mut tmp[..room])).await {
            Err(_) => return Err(HeadErr::Timeout),
            Ok(Err(e)) => return Err(HeadErr::Io(e)),
            Ok(Ok(0)) => return Err(HeadErr::Closed),
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(&tmp[..n]);
        let mut hs = [httparse::EMPTY_HEADER; 100];
        let mut resp = httparse::Response::new(&mut hs);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let status = resp.code.unwrap_or(0);
                if !(100..=999).contains(&status) {
                    return Err(HeadErr::Invalid("upstream sent no valid HTTP/1.0 header"));
                }
                let http11 = resp.version == Some(1);
                let headers = resp
                    .headers
                    .iter()
                    .map(|h| (h.name.as_bytes().to_vec(), h.value.to_vec()))
                    .collect();
                let mut status_line = status.to_string().into_bytes();
                if let Some(reason) = resp.reason.filter(|r| !r.is_empty()) {
                    status_line.push(b' ');
                    status_line.extend_from_slice(reason.as_bytes());
                }
                return Ok(RespHead {
                    status,
                    status_line,
                    http11,
                    headers,
                    rest: buf[len..].to_vec(),
                    head_len: len,
                });
            }
            Ok(httparse::Status::Partial) => {}
            Err(httparse::Error::Version) | Err(httparse::Error::Status) => {
                return Err(HeadErr::Invalid("upstream sent no valid HTTP/1.0 header"));
            }
            Err(_) => return Err(HeadErr::Invalid("upstream sent invalid header")),
        }
    }
}

/// The log line and failure kind of a response head that could not be read.
fn head_fail(e: HeadErr) -> (Fail, String) {
    match e {
        HeadErr::Timeout => (
            Fail::Timeout,
            "upstream timed out (110: Connection timed out) while reading response header from upstream".to_string(),
        ),
        HeadErr::Closed => (
            Fail::Error,
            "upstream prematurely closed connection while reading response header from upstream".to_string(),
        ),
        HeadErr::Io(e) => (
            Fail::Error,
            format!("recv() failed{} while reading response header from upstream", errno_text(&e)),
        ),
        HeadErr::Invalid(m) => (
            Fail::InvalidHeader,
            format!("{m} while reading response header from upstream"),
        ),
        HeadErr::TooBig => (
            Fail::InvalidHeader,
            "upstream sent too big header while reading response header from upstream".to_string(),
        ),
    }
}

/// The client body of a `proxy_request_buffering off` request still arriving (nginx:
/// `r->request_body_no_buffering` with `r->reading_body`).
pub(crate) struct Streamed<B> {
    /// What had arrived before the upstream request was made.
    pub(crate) pre: Vec<u8>,
    pub(crate) body: B,
    /// The client's body is chunked: so is the upstream's (`proxy_http_version 1.1`).
    pub(crate) chunked: bool,
}

/// nginx: ngx_http_read_client_request_body with `request_body_no_buffering`: what of the
/// body has already arrived is read; `Err(Ok(data))` when that is the whole body (nginx then
/// treats the request as buffered: a chunked body goes with `Content-Length`, retries are
/// allowed); `Err(Err(reply))`: a chunked body already over `client_max_body_size` (413).
pub(crate) async fn body_ready<B>(
    r: &Request,
    mut body: B,
) -> Result<(Vec<u8>, B), Result<Vec<u8>, Reply>>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
{
    let chunked = !r.headers.contains_key(hyper::header::CONTENT_LENGTH);
    let max = r.loc.client_max_body_size.unwrap_or(1 << 20);
    let mut pre = Vec::new();
    let mut idle = 0;
    loop {
        let polled = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(std::pin::Pin::new(&mut body).poll_frame(cx))
        })
        .await;
        match polled {
            std::task::Poll::Ready(Some(Ok(f))) => {
                if let Ok(d) = f.into_data() {
                    // nginx: ngx_http_request_body_chunked_filter checks each chunk's size
                    if chunked && max > 0 && (pre.len() + d.len()) as u64 > max {
                        crate::http::errlog::request_error(
                            r,
                            &format!(
                                "client intended to send too large chunked body: {}+{} bytes",
                                pre.len(),
                                d.len()
                            ),
                        );
                        let mut reply = Reply::status(413);
                        reply.close = true;
                        return Err(Err(reply));
                    }
                    pre.extend_from_slice(&d);
                }
                idle = 0;
            }
            std::task::Poll::Ready(_) => return Err(Ok(pre)),
            std::task::Poll::Pending => {
                // The connection moves what the socket already holds into the body first.
                idle += 1;
                if idle > 2 {
                    return Ok((pre, body));
                }
                tokio::task::yield_now().await;
            }
        }
    }
}

/// How a streamed request failed.
pub(crate) enum StreamErr {
    /// On the upstream's side, as a buffered request's send or head read fails.
    Upstream(Fail, String),
    /// The client's body: the status nginx finalizes with (408 timeout, 400 closed, 413 too
    /// large) and the line it logs (with the upstream context).
    Client(u16, Option<(crate::log::Level, String)>),
}

/// The status and log line of a client body that could not be read (a timeout of the
/// connection's `client_body_timeout` or a closed connection).
fn client_body_err(e: &(dyn std::error::Error + 'static)) -> StreamErr {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return StreamErr::Client(408, None);
            }
        }
        cur = err.source();
    }
    StreamErr::Client(
        400,
        Some((
            crate::log::Level::Info,
            "client prematurely closed connection while sending request to upstream".into(),
        )),
    )
}

/// Body bytes as they go upstream: as they are, or as one chunk (nginx:
/// ngx_http_proxy_body_output_filter).
fn encode_body(out: &mut Vec<u8>, data: &[u8], chunked: bool) {
    if data.is_empty() {
        return;
    }
    if chunked {
        out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(data);
    }
}

/// The timeouts of a streamed exchange.
pub(crate) struct StreamTimeouts {
    pub(crate) send: Duration,
    pub(crate) body: Duration,
    pub(crate) read: Duration,
}

/// nginx: ngx_http_upstream_send_request_body with `request_body_no_buffering`: `head`
/// and what came of the body at once, then the body as the client sends it, each piece
/// framed by `encode`, and `end` after the last; `sent` counts the bytes written.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn send_streamed<W, B>(
    wr: &mut W,
    head: &[u8],
    s: &mut Streamed<B>,
    t: &StreamTimeouts,
    max: u64,
    encode: fn(&mut Vec<u8>, &[u8]),
    end: &[u8],
    sent: &std::cell::Cell<u64>,
) -> Result<(), StreamErr>
where
    W: tokio::io::AsyncWrite + Unpin,
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error + 'static,
{
    async fn put<W: tokio::io::AsyncWrite + Unpin>(
        wr: &mut W,
        b: &[u8],
        timeout: Duration,
        sent: &std::cell::Cell<u64>,
    ) -> Result<(), StreamErr> {
        let res = tokio::time::timeout(timeout, async {
            wr.write_all(b).await?;
            wr.flush().await
        })
        .await;
        match res {
            Ok(Ok(())) => {
                sent.set(sent.get() + b.len() as u64);
                Ok(())
            }
            Ok(Err(e)) => Err(StreamErr::Upstream(
                Fail::Error,
                format!(
                    "writev() failed{} while sending request to upstream",
                    errno_text(&e)
                ),
            )),
            Err(_) => Err(StreamErr::Upstream(
                Fail::Timeout,
                "upstream timed out (110: Connection timed out) while sending request to upstream"
                    .into(),
            )),
        }
    }
    let pre = std::mem::take(&mut s.pre);
    let mut received = pre.len() as u64;
    let mut first = head.to_vec();
    encode(&mut first, &pre);
    put(wr, &first, t.send, sent).await?;
    loop {
        let frame = match tokio::time::timeout(t.body, s.body.frame()).await {
            Err(_) => return Err(StreamErr::Client(408, None)),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(client_body_err(&e)),
            Ok(Some(Ok(f))) => f,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        // nginx: ngx_http_request_body_chunked_filter checks each chunk's size.
        if s.chunked && max > 0 && received + data.len() as u64 > max {
            return Err(StreamErr::Client(
                413,
                Some((
                    crate::log::Level::Error,
                    format!(
                        "client intended to send too large chunked body: {received}+{} bytes while sending request to upstream",
                        data.len()
                    ),
                )),
            ));
        }
        received += data.len() as u64;
        let mut out = Vec::with_capacity(data.len() + 16);
        encode(&mut out, &data);
        put(wr, &out, t.send, sent).await?;
    }
    if !end.is_empty() {
        put(wr, end, t.send, sent).await?;
    }
    Ok(())
}

/// nginx: ngx_http_upstream_send_request_body with `request_body_no_buffering`: the request
/// head and what came of the body go at once, then the body as the client sends it, while
/// the response head is read (its read timeout starts once the body is sent; a head that
/// comes first ends the sending). Returns the head, the bytes sent, and whether all went.
async fn stream_exchange<B>(
    conn: &mut UpConn,
    head: &[u8],
    s: &mut Streamed<B>,
    t: &StreamTimeouts,
    max: u64,
    size: usize,
) -> (Result<RespHead, StreamErr>, u64, bool)
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error + 'static,
{
    let sent = std::cell::Cell::new(0u64);
    let (mut rd, mut wr) = tokio::io::split(&mut conn.stream);
    let encode: fn(&mut Vec<u8>, &[u8]) = if s.chunked {
        |out, d| encode_body(out, d, true)
    } else {
        |out, d| encode_body(out, d, false)
    };
    let end: &[u8] = if s.chunked { b"0\r\n\r\n" } else { b"" };
    let send = send_streamed(&mut wr, head, s, t, max, encode, end, &sent);
    // While the body goes, the head is read without a timer of its own.
    let recv = read_head(&mut rd, size, Duration::from_secs(86400 * 365));
    tokio::pin!(send);
    tokio::pin!(recv);
    let mut all = false;
    loop {
        tokio::select! {
            biased;
            h = &mut recv => {
                return (h.map_err(|e| {
                    let (f, m) = head_fail(e);
                    StreamErr::Upstream(f, m)
                }), sent.get(), all);
            }
            res = &mut send, if !all => match res {
                Ok(()) => all = true,
                Err(e) => return (Err(e), sent.get(), false),
            },
            _ = tokio::time::sleep(t.read), if all => {
                let (f, m) = head_fail(HeadErr::Timeout);
                return (Err(StreamErr::Upstream(f, m)), sent.get(), true);
            }
        }
    }
}

/// nginx: ngx_escape_uri with NGX_ESCAPE_URI.
pub(crate) fn escape_uri(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        // nginx's `uri` table: controls, space, `"#%<>?\\^`{|}`, DEL and non-ASCII.
        let esc = c <= 0x20
            || c >= 0x7f
            || matches!(
                c,
                b'"' | b'#' | b'%' | b'<' | b'>' | b'?' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
            );
        if esc {
            out.extend_from_slice(format!("%{c:02X}").as_bytes());
        } else {
            out.push(c);
        }
    }
    out
}

/// The default headers of ngx_http_proxy_headers.
const DEFAULT_HEADERS: &[(&str, &str)] = &[
    ("Host", "$proxy_host"),
    ("Connection", "close"),
    ("Content-Length", "$proxy_internal_body_length"),
    ("Transfer-Encoding", "$proxy_internal_chunked"),
    ("TE", ""),
    ("Keep-Alive", ""),
    ("Expect", ""),
    ("Upgrade", ""),
];

/// The client's headers as sent (names' case and order kept), after header rewrites
/// (more_set_input_headers, ngx.req.set_header) applied to `r.headers`.
pub(crate) fn client_headers(r: &Request) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut seen: HashMap<HeaderName, usize> = HashMap::new();
    for (n, v) in r.headers.lines() {
        let Ok(name) = HeaderName::from_bytes(n) else {
            continue;
        };
        let k = seen.entry(name.clone()).or_default();
        let current: Vec<_> = r.headers.values(&name).collect();
        if let Some(cv) = current.get(*k) {
            out.push((n.to_vec(), cv.as_bytes().to_vec()));
            let _ = v;
            *k += 1;
        }
    }
    for name in r.headers.keys() {
        let used = seen.get(name).copied().unwrap_or(0);
        for v in r.headers.get_all(name).iter().skip(used) {
            let written = r
                .set_names
                .iter()
                .find(|n| n.eq_ignore_ascii_case(name.as_str().as_bytes()));
            let n = match written {
                Some(n) => n.clone(),
                None => title_case(name.as_str()),
            };
            out.push((n, v.as_bytes().to_vec()));
        }
    }
    out
}

fn title_case(n: &str) -> Vec<u8> {
    let mut up = true;
    n.bytes()
        .map(|c| {
            let o = if up { c.to_ascii_uppercase() } else { c };
            up = c == b'-';
            o
        })
        .collect()
}

/// The URI sent upstream (nginx: the URI part of ngx_http_proxy_create_request, also the
/// default cache key's end in ngx_http_proxy_create_key).
fn upstream_uri(r: &Request, t: &Target, dynamic: bool) -> Vec<u8> {
    let mut uri = Vec::new();
    if dynamic && !t.uri.is_empty() {
        uri.extend_from_slice(&t.uri);
    } else if t.uri.is_empty() && r.valid_unparsed_uri {
        uri.extend_from_slice(&r.request_uri);
    } else {
        let loc_len = match (&r.location, r.valid_location && !t.uri.is_empty()) {
            (Some(l), true) => l.name.len().min(r.uri.len()),
            _ => 0,
        };
        if r.valid_location {
            uri.extend_from_slice(&t.uri);
        }
        let tail = &r.uri[loc_len..];
        if r.quoted_uri || r.internal {
            uri.extend_from_slice(&escape_uri(tail));
        } else {
            uri.extend_from_slice(tail);
        }
        if !r.args.is_empty() {
            uri.push(b'?');
            uri.extend_from_slice(&r.args);
        }
    }
    uri
}

/// nginx: ngx_http_proxy_create_key without `proxy_cache_key`: the URL's start and the URI.
fn default_cache_key(r: &Request, t: &Target, dynamic: bool) -> Vec<u8> {
    [t.key_start.as_slice(), &upstream_uri(r, t, dynamic)].concat()
}

/// nginx: ngx_http_proxy_create_request: the request line, the configured headers, the
/// client's headers, and the body. Also returns the URI sent (for log lines).
fn create_request(
    r: &Request,
    pc: &ProxyConf,
    t: &Target,
    dynamic: bool,
    body: &[u8],
) -> Option<(Vec<u8>, Vec<u8>)> {
    let method = match &pc.method {
        Some(m) => r.eval(m),
        None => r.method.as_str().as_bytes().to_vec(),
    };
    let uri = upstream_uri(r, t, dynamic);
    if uri.is_empty() {
        crate::http::errlog::request_error(r, "zero length URI to proxy");
        return None;
    }
    let mut out = Vec::with_capacity(512 + body.len());
    out.extend_from_slice(&method);
    out.push(b' ');
    out.extend_from_slice(&uri);
    out.extend_from_slice(if pc.http_11 == Some(true) {
        b" HTTP/1.1\r\n"
    } else {
        b" HTTP/1.0\r\n"
    });
    // nginx: ngx_http_proxy_init_headers: the configured headers, then the defaults not
    // configured; a header whose value is empty is not sent.
    let merged = pc.merged.get_or_init(|| {
        let mut merged: SetHeaders = pc.set_headers.as_deref().cloned().unwrap_or_default();
        for (n, v) in DEFAULT_HEADERS {
            if !merged
                .iter()
                .any(|(m, _)| m.eq_ignore_ascii_case(n.as_bytes()))
            {
                merged.push((n.as_bytes().to_vec(), cv(v.as_bytes())));
            }
        }
        Arc::new(merged)
    });
    let merged = merged.as_slice();
    for (n, v) in merged {
        let v = r.eval(v);
        if v.is_empty() {
            continue;
        }
        out.extend_from_slice(n);
        out.extend_from_slice(b": ");
        out.extend_from_slice(&v);
        out.extend_from_slice(b"\r\n");
    }
    // nginx: ngx_http_proxy_cache_headers when the response may be cached: no client
    // conditionals or ranges, the revalidation's own
    let cache = super::file_cache::upstream_request_headers(r);
    for (n, v) in cache.iter().flatten() {
        if v.is_empty()
            || merged
                .iter()
                .any(|(m, _)| m.eq_ignore_ascii_case(n.as_bytes()))
        {
            continue;
        }
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    if pc.pass_request_headers != Some(false) {
        for (n, v) in client_headers(r) {
            if merged.iter().any(|(m, _)| m.eq_ignore_ascii_case(&n)) {
                continue;
            }
            if cache.is_some()
                && super::file_cache::UPSTREAM_HEADERS
                    .iter()
                    .any(|m| m.as_bytes().eq_ignore_ascii_case(&n))
            {
                continue;
            }
            out.extend_from_slice(&n);
            out.extend_from_slice(b": ");
            out.extend_from_slice(&v);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    match &pc.set_body {
        Some(Some(b)) => out.extend_from_slice(&r.eval(b)),
        _ if pc.pass_request_body != Some(false) => out.extend_from_slice(body),
        _ => {}
    }
    Some((out, uri))
}

/// The upstream and target of this request (nginx: ngx_http_proxy_eval for URLs with
/// variables, then the upstream lookup of ngx_http_upstream_init_request); `None`: a name
/// for the resolver.
fn find_upstream(
    r: &Request,
    pc: &ProxyConf,
    pass: &Pass,
) -> Result<(Target, Option<Arc<Upstream>>), u16> {
    let t = match &pass.dynamic {
        Some(v) => {
            let url = r.eval(v);
            match parse_target(&url, false) {
                Some(t) => t,
                None => {
                    crate::http::errlog::request_error(
                        r,
                        &format!("invalid URL prefix in \"{}\"", lossy(&url)),
                    );
                    return Err(500);
                }
            }
        }
        None => pass.target.clone().ok_or(500u16)?,
    };
    // nginx: an upstream{} of that name (with a matching port, or none given) comes first.
    if let Some(ups) = &pc.upstreams {
        if let Some(u) = ups.get(&t.host) {
            if t.no_port || pass.dynamic.is_none() {
                return Ok((t, Some(u.clone())));
            }
        }
    }
    match &t.implicit {
        Some(u) if t.literal || pass.dynamic.is_none() => {
            let u = u.clone();
            Ok((t, Some(u)))
        }
        _ => Ok((t, None)),
    }
}

/// nginx: ngx_http_upstream_init_request's ngx_resolve_name for a URL with variables and
/// ngx_http_upstream_resolve_handler: the name through the `resolver` (http/upstream_resolve.rs),
/// every address it answers a peer of the request's own round robin; 502 with nginx's line
/// when there is no resolver or no answer.
pub(crate) async fn resolve_peers(
    r: &Request,
    host: &[u8],
    port: u16,
) -> Result<Arc<Upstream>, u16> {
    let name = lossy(host);
    let Some(servers) = r.loc.lua_resolver.clone() else {
        crate::http::errlog::request_error(r, &format!("no resolver defined to resolve {name}"));
        return Err(502);
    };
    let timeout = r
        .loc
        .lua_resolver_timeout
        .unwrap_or(Duration::from_secs(30));
    let valid = r.loc.resolver_valid.flatten();
    match crate::http::upstream_resolve::resolve(&servers, &name, timeout, valid).await {
        Ok(ips) => {
            let addrs: Vec<std::net::SocketAddr> = ips
                .into_iter()
                .map(|ip| std::net::SocketAddr::new(ip, port))
                .collect();
            Ok(Arc::new(upstream_rr::resolved(host, &addrs)))
        }
        Err(msg) => {
            crate::http::errlog::request_error(r, &msg);
            Err(502)
        }
    }
}

async fn resolve_upstream(r: &Request, t: &Target) -> Result<Arc<Upstream>, u16> {
    let default_port = if t.schema == "https://" { 443 } else { 80 };
    let port = if t.no_port {
        default_port
    } else {
        std::str::from_utf8(&t.port)
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(default_port)
    };
    resolve_peers(r, &t.host, port).await
}

/// A failed try counts against its peer (nginx logs when that disables it).
pub(crate) fn fail_peer(
    r: &Request,
    picker: &mut Picker,
    pref: Option<upstream_rr::PeerRef>,
    up_text: &str,
) {
    fail_peer_at(r, picker, pref, up_text, "connecting to upstream");
}

/// [`fail_peer`] with the log line's action (nginx: `r->connection->log->action`).
pub(crate) fn fail_peer_at(
    r: &Request,
    picker: &mut Picker,
    pref: Option<upstream_rr::PeerRef>,
    up_text: &str,
    action: &str,
) {
    let Some(pref) = pref else {
        return;
    };
    if picker.free(pref, true) {
        upstream_log(
            r,
            crate::log::Level::Warn,
            &format!("upstream server temporarily disabled while {action}"),
            up_text,
        );
    }
}

/// TLS over a new connection (`proxy_pass https://`, http/proxy_ssl.rs).
async fn tls_connect(
    r: &Request,
    pc: &ProxyConf,
    mut c: UpConn,
    t: &Target,
    peer: &upstream_rr::PeerAddr,
    session: Option<super::proxy_ssl::PeerKey>,
    timeout: Duration,
) -> Result<UpConn, super::proxy_ssl::HsFail> {
    let stream = std::mem::replace(&mut c.stream, upstream_rr::Stream::Parked(None));
    c.stream =
        super::proxy_ssl::handshake(r, &pc.ssl, stream, &t.host_header, peer, session, timeout)
            .await?;
    Ok(c)
}

/// A try that did not fail gives its peer back.
pub(crate) fn free_ok(picker: &mut Picker, pref: Option<upstream_rr::PeerRef>) {
    if let Some(pref) = pref {
        let _ = picker.free(pref, false);
    }
}

/// The upstream statuses `proxy_next_upstream` may retry on.
pub(crate) fn status_ft(status: u16) -> u32 {
    match status {
        500 => FT_500,
        502 => FT_502,
        503 => FT_503,
        504 => FT_504,
        403 => FT_403,
        404 => FT_404,
        429 => FT_429,
        _ => 0,
    }
}

/// nginx: ngx_http_proxy_handler's `request_body_no_buffering` test: the body goes as it
/// arrives with `proxy_request_buffering off`, unless `proxy_set_body` replaces it, it is not
/// passed, it is chunked for an HTTP/1.0 upstream, or it was read already (by Lua, or for a
/// subrequest).
pub(crate) fn unbuffered_body(
    r: &Request,
    buffering: Option<bool>,
    passed: bool,
    chunked_ok: bool,
) -> bool {
    let chunked = !r.headers.contains_key(hyper::header::CONTENT_LENGTH)
        && r.headers.contains_key(hyper::header::TRANSFER_ENCODING);
    buffering == Some(false)
        && passed
        && (!chunked || chunked_ok)
        && r.sub == 0
        && crate::http::lua::vm::ctx_of(r).borrow().body.is_none()
}

async fn proxy(r: &mut Request, pass: &Pass, pc: &ProxyConf) -> Reply {
    let has_body = r.headers.contains_key(hyper::header::CONTENT_LENGTH)
        || r.headers.contains_key(hyper::header::TRANSFER_ENCODING);
    let mut streamed = None;
    let body = if has_body && (pc.pass_request_body != Some(false) || pc.set_body.is_some()) {
        let passed = pc.set_body.is_none() && pc.pass_request_body != Some(false);
        let incoming = if unbuffered_body(r, pc.request_buffering, passed, pc.http_11 == Some(true))
        {
            crate::http::lua::vm::ctx_of(r).borrow_mut().incoming.take()
        } else {
            None
        };
        match incoming {
            Some(b) => match body_ready(r, b).await {
                Ok((pre, body)) => {
                    streamed = Some(Streamed {
                        pre,
                        body,
                        chunked: !r.headers.contains_key(hyper::header::CONTENT_LENGTH),
                    });
                    Vec::new()
                }
                Err(Ok(all)) => {
                    crate::http::lua::vm::ctx_of(r).borrow_mut().body = Some(all.clone());
                    all
                }
                Err(Err(reply)) => return reply,
            },
            None => match request_body_checked(r).await {
                Ok(b) => b,
                Err(reply) => return reply,
            },
        }
    } else {
        Vec::new()
    };
    let streaming = streamed.is_some();
    let (t, up) = match find_upstream(r, pc, pass) {
        Ok((t, Some(up))) => (t, up),
        Ok((t, None)) => match resolve_upstream(r, &t).await {
            Ok(up) => (t, up),
            Err(s) => return Reply::status(s),
        },
        Err(s) => return Reply::status(s),
    };
    // Variables the request's headers and body may use.
    r.vars.insert(b"proxy_host".to_vec(), t.host_header.clone());
    r.vars.insert(b"proxy_port".to_vec(), t.port.clone());
    let body_len = match &pc.set_body {
        Some(Some(b)) => Some(r.eval(b).len()),
        _ if r.headers.contains_key(hyper::header::CONTENT_LENGTH) => r
            .headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok()),
        _ if streamed.as_ref().is_some_and(|s| s.chunked) => None,
        _ if r.headers.contains_key(hyper::header::TRANSFER_ENCODING) => Some(body.len()),
        _ => None,
    };
    if streamed.as_ref().is_some_and(|s| s.chunked) {
        r.vars
            .insert(b"proxy_internal_chunked".to_vec(), b"chunked".to_vec());
    } else {
        r.vars.remove(b"proxy_internal_chunked".as_slice());
    }
    match body_len {
        Some(n) => {
            r.vars.insert(
                b"proxy_internal_body_length".to_vec(),
                n.to_string().into_bytes(),
            );
        }
        None => {
            r.vars.remove(b"proxy_internal_body_length".as_slice());
        }
    }
    let xff = {
        let remote = r
            .conn
            .remote
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        let prev: Vec<&[u8]> = r
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        if prev.is_empty() {
            remote.into_bytes()
        } else {
            let mut v = prev.join(b", ".as_slice());
            v.extend_from_slice(b", ");
            v.extend_from_slice(remote.as_bytes());
            v
        }
    };
    r.vars.insert(b"proxy_add_x_forwarded_for".to_vec(), xff);
    let Some((mut req_bytes, mut uri)) = create_request(r, pc, &t, pass.dynamic.is_some(), &body)
    else {
        return Reply::status(500);
    };
    let mut connect_timeout = pc.connect_timeout.unwrap_or(Duration::from_secs(60));
    let mut send_timeout = pc.send_timeout.unwrap_or(Duration::from_secs(60));
    let mut read_timeout = pc.read_timeout.unwrap_or(Duration::from_secs(60));
    let balancer = up.balancer.clone();
    let mut last_failure: Option<String> = None;
    let next = pc.next_upstream.unwrap_or(FT_ERROR | FT_TIMEOUT);
    let mut tries_left = match pc.next_tries {
        Some(n) if n > 0 => n.min(up.tries()),
        _ => up.tries(),
    };
    let started = Instant::now();
    let local = local_addr(r, pc);
    let next_timeout = pc.next_timeout.filter(|d| !d.is_zero());
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
    let buffer_size = pc.buffer_size.unwrap_or(4096).max(1024);
    loop {
        let (pref, peer_addr, peer_name) = if let Some(h) = &balancer {
            // balancer_by_lua*: Lua picks this try's peer.
            let Some(choice) = crate::http::lua::balancer::run(r, h, last_failure.take()).await
            else {
                return Reply::status(500);
            };
            if choice.recreate {
                // nginx: u->create_request again, with the variables as Lua left them
                match create_request(r, pc, &t, pass.dynamic.is_some(), &body) {
                    Some((b, u)) => (req_bytes, uri) = (b, u),
                    None => return Reply::status(500),
                }
            }
            let Some(peer) = choice.peer else {
                upstream_log(
                    r,
                    crate::log::Level::Error,
                    "lua balancer: no peer set while connecting to upstream",
                    &format!("{}{}{}", t.schema, lossy(&up.name), lossy(&uri)),
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
                let upname = format!("{}{}", t.schema, lossy(&up.name));
                upstream_log(
                    r,
                    crate::log::Level::Error,
                    "no live upstreams while connecting to upstream",
                    &format!("{upname}{}", lossy(&uri)),
                );
                states.push(TryState {
                    addr: upname,
                    status: "502".into(),
                    ..Default::default()
                });
                set_states(r, &states);
                return Reply::status(502);
            };
            (Some(pref), peer.addr.clone(), peer.name.clone())
        };
        let sep = if matches!(peer_addr, upstream_rr::PeerAddr::Unix(_)) {
            ":"
        } else {
            ""
        };
        let up_text = format!("{}{}{}{}", t.schema, peer_name, sep, lossy(&uri));
        // nginx logs timeouts after freeing the peer: no `:` after a unix socket's name.
        let up_text_timeout = format!("{}{}{}", t.schema, peer_name, lossy(&uri));
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
        // connect (an idle keep-alive connection first)
        let https = t.schema == "https://";
        let mut action = "connecting to upstream";
        let local = match &peer_addr {
            upstream_rr::PeerAddr::Inet(_) => local.clone(),
            upstream_rr::PeerAddr::Unix(_) => None,
        };
        let bound = match (&local, &peer_addr) {
            (Some((text, sa, transparent)), upstream_rr::PeerAddr::Inet(_)) => {
                match upstream_rr::bind_socket(*sa, *transparent) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        // nginx: ngx_event_connect_peer fails: the request ends with 500
                        let msg = format!(
                            "bind({text}) failed{} while connecting to upstream",
                            errno_text(&e)
                        );
                        upstream_log(r, crate::log::Level::Crit, &msg, &up_text);
                        free_ok(&mut picker, pref);
                        set_states(r, &states);
                        return Reply::status(500);
                    }
                }
            }
            _ => None,
        };
        let target = peer_addr.clone();
        let connecting = async move {
            match (bound, &target) {
                (Some(s), upstream_rr::PeerAddr::Inet(a)) => {
                    upstream_rr::connect_bound(s, *a).await
                }
                _ => upstream_rr::connect(&target).await,
            }
        };
        let conn = match upstream_rr::take_idle_kind(&up, &peer_addr, https) {
            Some(c) => Ok(c),
            None => match tokio::time::timeout(connect_timeout, connecting).await {
                Ok(Ok(c)) if https => {
                    upstream_rr::CONNECTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    // nginx: the connect timer goes on through the handshake
                    let left = connect_timeout.saturating_sub(t0.elapsed());
                    // nginx: a URL with variables gets peers of its own, without a saved
                    // session, unless it names a configured upstream (sessions of other
                    // addresses would grow without bound)
                    let own_peers = pass.dynamic.is_some()
                        && t.implicit.as_ref().is_some_and(|i| Arc::ptr_eq(i, &up));
                    let session = pref
                        .map(|_| (up.name.clone(), peer_addr.clone()))
                        .filter(|k| !own_peers || super::proxy_ssl::known_peer(k));
                    match tls_connect(r, pc, c, &t, &peer_addr, session, left).await {
                        Ok(c) => Ok(c),
                        Err(super::proxy_ssl::HsFail::Internal(msg)) => {
                            if let Some(m) = msg {
                                let m = format!("{m} while connecting to upstream");
                                upstream_log(r, crate::log::Level::Error, &m, &up_text);
                            }
                            free_ok(&mut picker, pref);
                            set_states(r, &states);
                            return Reply::status(500);
                        }
                        Err(super::proxy_ssl::HsFail::Timeout) => {
                            action = "SSL handshaking to upstream";
                            Err(Fail::Timeout)
                        }
                        Err(super::proxy_ssl::HsFail::Error(level, msg)) => {
                            action = "SSL handshaking to upstream";
                            let msg = format!("{msg} while SSL handshaking to upstream");
                            upstream_log(r, level, &msg, &up_text);
                            Err(Fail::Error)
                        }
                    }
                }
                Ok(Ok(c)) => {
                    upstream_rr::CONNECTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    Ok(c)
                }
                Ok(Err(e)) => {
                    let msg = match &peer_addr {
                        upstream_rr::PeerAddr::Unix(_) => format!(
                            "connect() to {peer_name} failed{} while connecting to upstream",
                            errno_text(&e)
                        ),
                        _ => format!(
                            "connect() failed{} while connecting to upstream",
                            errno_text(&e)
                        ),
                    };
                    upstream_log(r, crate::log::Level::Error, &msg, &up_text);
                    Err(Fail::Error)
                }
                // logged below, after the peer is freed (nginx: ngx_http_upstream_next)
                Err(_) => Err(Fail::Timeout),
            },
        };
        let mut conn = match conn {
            Ok(c) => c,
            Err(f) => {
                st.status = if f == Fail::Timeout { "504" } else { "502" }.into();
                st.response_time = Some(t0.elapsed());
                st.connect_time = None;
                states.push(st);
                fail_peer_at(r, &mut picker, pref, &up_text, action);
                if f == Fail::Timeout {
                    let msg =
                        format!("upstream timed out (110: Connection timed out) while {action}");
                    upstream_log(r, crate::log::Level::Error, &msg, &up_text_timeout);
                }
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
                set_states(r, &states);
                return Reply::status(if f == Fail::Timeout { 504 } else { 502 });
            }
        };
        st.connect_time = Some(t0.elapsed());
        let reused = conn.reused;
        if pc.socket_keepalive == Some(true) && !reused {
            upstream_rr::set_keepalive(&conn.stream);
        }
        let mut all_sent = true;
        let head = if let Some(s) = streamed.as_mut() {
            let timeouts = StreamTimeouts {
                send: send_timeout,
                body: r.loc.client_body_timeout.unwrap_or(Duration::from_secs(60)),
                read: read_timeout,
            };
            let max = r.loc.client_max_body_size.unwrap_or(1 << 20);
            let (res, n, all) =
                stream_exchange(&mut conn, &req_bytes, s, &timeouts, max, buffer_size).await;
            st.sent = n;
            all_sent = all;
            match res {
                Ok(h) => Some(Ok(h)),
                Err(StreamErr::Upstream(f, m)) => Some(Err((f, m))),
                Err(StreamErr::Client(status, line)) => {
                    // nginx: the request ends with the client's error; the upstream's
                    // state has no status
                    if let Some((level, m)) = line {
                        upstream_log(r, level, &m, &up_text);
                    }
                    free_ok(&mut picker, pref);
                    st.status = "-".into();
                    st.response_time = Some(t0.elapsed());
                    states.push(st);
                    set_states(r, &states);
                    let mut reply = Reply::status(status);
                    // a client that went away gets nothing
                    reply.drop = status == 400;
                    reply.close = true;
                    return reply;
                }
            }
        } else {
            None
        };
        // send
        let sent = match head {
            Some(_) => Ok(Ok(())),
            None => {
                let res = tokio::time::timeout(send_timeout, async {
                    conn.stream.write_all(&req_bytes).await?;
                    conn.stream.flush().await
                })
                .await;
                if matches!(res, Ok(Ok(()))) {
                    st.sent = req_bytes.len() as u64;
                }
                res
            }
        };
        let send_fail = match sent {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some((
                Fail::Error,
                format!(
                    "writev() failed{} while sending request to upstream",
                    errno_text(&e)
                ),
            )),
            Err(_) => Some((
                Fail::Timeout,
                "upstream timed out (110: Connection timed out) while sending request to upstream"
                    .to_string(),
            )),
        };
        let head = match (send_fail, head) {
            (Some(f), _) => Err(f),
            (None, Some(h)) => h,
            (None, None) => read_head(&mut conn.stream, buffer_size, read_timeout)
                .await
                .map_err(head_fail),
        };
        let head = match head {
            Ok(h) => h,
            Err((f, msg)) => {
                // nginx: a kept-alive connection the peer closed is retried silently.
                if reused && f == Fail::Error && !streaming {
                    tries_left += 1;
                    free_ok(&mut picker, pref);
                    continue;
                }
                let text = if f == Fail::Timeout {
                    &up_text_timeout
                } else {
                    &up_text
                };
                upstream_log(r, crate::log::Level::Error, &msg, text);
                st.status = if f == Fail::Timeout { "504" } else { "502" }.into();
                st.response_time = Some(t0.elapsed());
                states.push(st);
                fail_peer(r, &mut picker, pref, &up_text);
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
                set_states(r, &states);
                return Reply::status(if f == Fail::Timeout { 504 } else { 502 });
            }
        };
        st.header_time = Some(t0.elapsed());
        st.status = head.status.to_string();
        st.bytes = (head.head_len + head.rest.len()) as u64;
        let ft = status_ft(head.status);
        if ft != 0 && can_retry(ft, true) {
            st.response_time = Some(t0.elapsed());
            states.push(st);
            // nginx: ngx_http_upstream_next: 403 and 404 do not count as failures.
            if ft == FT_403 || ft == FT_404 {
                free_ok(&mut picker, pref);
                last_failure = Some(format!("next {}", head.status));
            } else {
                fail_peer(r, &mut picker, pref, &up_text);
                last_failure = Some(format!(
                    "failed {}",
                    states.last().map_or("502", |s| s.status.as_str())
                ));
            }
            continue;
        }
        free_ok(&mut picker, pref);
        st.response_time = Some(t0.elapsed());
        // nginx: the answering try's bytes sent count at the end
        let sent_n = std::mem::take(&mut st.sent);
        states.push(st);
        set_states(r, &states);
        let (tail, live) = Tail::new(states, t0, sent_n);
        r.upstream_tail = Some(tail);
        conn.requests += 1;
        return respond(
            r,
            pc,
            pass,
            &t,
            up,
            (peer_addr, all_sent),
            conn,
            head,
            read_timeout,
            &up_text,
            live,
        )
        .await;
    }
}

/// How the upstream body ends.
#[derive(Clone, Copy)]
enum Framing {
    Length(u64),
    Chunked,
    Close,
    None,
}

/// The first value of an upstream response header, by name.
pub(crate) fn header_of(headers: &[(Vec<u8>, Vec<u8>)], name: &str) -> Option<Vec<u8>> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| v.clone())
}

/// `$upstream_http_*` from the upstream's response headers (nginx 1.22:
/// ngx_http_variable_unknown_header gives the first header of the name).
pub(crate) fn upstream_http_vars(r: &mut Request, headers: &[(Vec<u8>, Vec<u8>)]) {
    let mut seen = std::collections::HashSet::new();
    for (n, v) in headers {
        let mut k = b"upstream_http_".to_vec();
        k.extend(n.iter().map(|c| {
            if *c == b'-' {
                b'_'
            } else {
                c.to_ascii_lowercase()
            }
        }));
        if seen.insert(k.clone()) {
            r.vars.insert(k, v.clone());
        }
    }
}

/// nginx: ngx_http_upstream_intercept_errors: with `*_intercept_errors on`, an error_page
/// for the status answers instead (a 401 keeps the upstream's WWW-Authenticate).
pub(crate) fn intercept_errors(
    r: &Request,
    on: Option<bool>,
    status: u16,
    headers: &[(Vec<u8>, Vec<u8>)],
) -> Option<Reply> {
    if on != Some(true) || status < 300 {
        return None;
    }
    let has_page = r
        .loc
        .error_pages
        .as_ref()
        .is_some_and(|p| p.iter().any(|p| p.status == status));
    if !has_page {
        return None;
    }
    let mut reply = Reply::status(status);
    if status == 401 {
        if let Some(v) = header_of(headers, "www-authenticate") {
            if let Ok(v) = HeaderValue::from_bytes(&v) {
                reply.headers.insert(hyper::header::WWW_AUTHENTICATE, v);
            }
        }
    }
    Some(reply)
}

/// nginx: ngx_http_upstream_process_headers' X-Accel-Redirect: an internal redirect (or a
/// named location) instead of the response, as GET unless HEAD.
pub(crate) async fn accel_redirect(r: &mut Request, uri: Vec<u8>) -> Reply {
    if uri.starts_with(b"@") {
        return Box::pin(r.named_location(&uri)).await;
    }
    let (path, args) = match uri.iter().position(|&c| c == b'?') {
        Some(i) => (uri[..i].to_vec(), Some(uri[i + 1..].to_vec())),
        None => (uri, Some(Vec::new())),
    };
    if r.method != hyper::Method::HEAD {
        r.method = hyper::Method::GET;
    }
    Box::pin(r.internal_redirect(path, args)).await
}

/// nginx: ngx_http_upstream_process_headers + ngx_http_upstream_send_response: the
/// response head for the client, then the body streamed.
#[allow(clippy::too_many_arguments)]
async fn respond(
    r: &mut Request,
    pc: &ProxyConf,
    pass: &Pass,
    t: &Target,
    up: Arc<Upstream>,
    (addr, all_sent): (upstream_rr::PeerAddr, bool),
    conn: UpConn,
    head: RespHead,
    read_timeout: Duration,
    up_text: &str,
    live: Arc<std::sync::Mutex<Live>>,
) -> Reply {
    upstream_http_vars(r, &head.headers);
    super::file_cache::upstream_response_headers(r, &head.headers);
    let find = |name: &str| header_of(&head.headers, name);
    let status = head.status;
    count_body(&live, head.rest.len());
    if let Ok(mut l) = live.lock() {
        l.with_head = head.rest.len() as u64;
    }
    if let Some(reply) = intercept_errors(r, pc.intercept_errors, status, &head.headers) {
        body_done(&live);
        return reply;
    }
    if pc.ignore_xa != Some(true) {
        if let Some(uri) = find("x-accel-redirect") {
            drop(conn);
            body_done(&live);
            return accel_redirect(r, uri).await;
        }
    }
    // nginx: ngx_http_proxy_hide_headers, plus proxy_hide_header, minus proxy_pass_header.
    let hidden = |ln: &[u8]| {
        let default = matches!(
            ln,
            b"date"
                | b"server"
                | b"x-pad"
                | b"x-accel-expires"
                | b"x-accel-redirect"
                | b"x-accel-limit-rate"
                | b"x-accel-buffering"
                | b"x-accel-charset"
        );
        let own = pc.hide.as_ref().is_some_and(|h| h.iter().any(|x| x == ln));
        let passed = pc
            .pass_headers
            .as_ref()
            .is_some_and(|p| p.iter().any(|x| x == ln));
        (default || own) && !passed
    };
    let mut reply = Reply::status(status);
    reply.raw_location = true;
    reply.status_line = Some(head.status_line.clone());
    // nginx: ngx_http_upstream_process_headers; the cache turns it back on when it stores
    reply.no_not_modified = true;
    let mut framing = Framing::Close;
    // a connection whose request body did not all go cannot serve another request
    let mut keepalive = head.http11 && all_sent;
    let mut chunked = false;
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
            b"transfer-encoding" => {
                chunked = v.to_ascii_lowercase().ends_with(b"chunked");
                continue;
            }
            b"connection" => {
                if v.to_ascii_lowercase().windows(5).any(|w| w == b"close") {
                    keepalive = false;
                }
                continue;
            }
            b"keep-alive" => continue,
            _ => {}
        }
        if hidden(&ln) {
            continue;
        }
        let mut v = v.clone();
        if ln == b"set-cookie" {
            if let Some(nv) = rewrite_cookie(r, pc, &v) {
                v = nv;
            }
        }
        if ln == b"location" || ln == b"refresh" {
            let (nv, matched) = rewrite_redirect(r, pc, pass, t, &ln, v);
            v = nv;
            if v.is_empty() {
                continue;
            }
            // nginx: a rewritten Location becomes `r->headers_out.location` (made absolute).
            if matched && ln == b"location" {
                reply.raw_location = false;
            }
        }
        reply.names.note(n);
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(n), HeaderValue::from_bytes(&v)) {
            reply.headers.append(n, v);
        }
    }
    // nginx: ngx_http_upstream_upgrade: a 101 to a request that asked for it becomes a
    // tunnel between the client and the upstream connection.
    if status == 101 && r.upgrade {
        let rest = head.rest;
        body_done(&live);
        let ctx = upstream_ctx(r, up_text);
        let (tx, rx) = tokio::sync::oneshot::channel();
        TUNNELS.with(|t| t.borrow_mut().insert(r.conn.id, tx));
        tokio::task::spawn_local(tunnel(rx, conn, rest, read_timeout, ctx));
        reply.body = Some(
            http_body_util::Empty::new()
                .map_err(|never| match never {})
                .boxed(),
        );
        return reply;
    }
    let head_req = r.method == hyper::Method::HEAD;
    if head_req || status == 204 || status == 304 || (100..200).contains(&status) {
        framing = Framing::None;
    } else if chunked {
        framing = Framing::Chunked;
    } else if let Some(n) = length {
        framing = Framing::Length(n);
    } else {
        keepalive = false;
    }
    if !chunked {
        reply.length = length;
    }
    if let Framing::Length(0) = framing {
        framing = Framing::None;
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(
        pc.buffers.map_or(8, |b| b.0).max(1),
    );
    let chunk = pc
        .buffers
        .map_or(4096, |b| b.1)
        .max(pc.buffer_size.unwrap_or(4096));
    let rest = head.rest;
    // The whole body came with the head: no pump needed.
    if let Framing::Length(n) = framing {
        if rest.len() as u64 == n {
            body_done(&live);
            if keepalive {
                upstream_rr::put_idle(&up, &addr, conn);
            }
            reply.body = Some(
                http_body_util::Full::new(Bytes::from(rest))
                    .map_err(|never| match never {})
                    .boxed(),
            );
            return reply;
        }
    }
    if let Framing::None = framing {
        body_done(&live);
        if keepalive && rest.is_empty() {
            upstream_rr::put_idle(&up, &addr, conn);
        }
        reply.body = Some(http_body_util::BodyExt::boxed(
            http_body_util::Empty::new().map_err(|never| match never {}),
        ));
        if head_req {
            reply.length = length;
        }
        return reply;
    }
    let ctx = upstream_ctx(r, up_text);
    // nginx: X-Accel-Buffering from the upstream decides, unless ignored
    let mut buffered = pc.buffering != Some(false);
    if pc.ignore_xa_buffering != Some(true) {
        match find("x-accel-buffering").map(|v| v.to_ascii_lowercase()) {
            Some(v) if v == b"no" => buffered = false,
            Some(v) if v == b"yes" => buffered = true,
            _ => {}
        }
    }
    let unit = pc.buffers.map_or(4096, |b| b.1).max(1);
    let first = pc.buffer_size.unwrap_or(4096).saturating_sub(head.head_len);
    let out = Out {
        tx,
        pending: Vec::new(),
        unit: buffered.then_some((if first == 0 { unit } else { first }, unit)),
    };
    let rate = if buffered {
        pc.limit_rate.unwrap_or(0)
    } else {
        0
    };
    // nginx: the head waits in the write filter (postpone_output) for the first body output
    // when buffering; unbuffered, it goes at once, with what came along with it
    let wait_first = buffered || !rest.is_empty();
    tokio::task::spawn_local(pump(
        conn,
        rest,
        framing,
        read_timeout,
        chunk,
        up,
        addr,
        keepalive,
        ctx,
        live,
        out,
        rate,
    ));
    let mut rx = rx;
    let first = if wait_first { rx.recv().await } else { None };
    reply.body = Some(http_body_util::BodyExt::boxed(ChanBody { rx, first }));
    reply
}

use http_body_util::BodyExt as _;

/// A client connection handed over after its 101 (by the worker's connection task).
pub(crate) type ClientIo = Box<dyn Io>;

pub(crate) trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Io for T {}

type TunnelSlot = tokio::sync::oneshot::Sender<(ClientIo, Bytes)>;

thread_local! {
    /// Tunnels waiting for their client connection, by connection id.
    static TUNNELS: std::cell::RefCell<HashMap<u64, TunnelSlot>> =
        std::cell::RefCell::new(HashMap::new());
}

/// The worker hands a connection that answered 101 to the tunnel waiting for it.
pub(crate) fn tunnel_client(id: u64, io: ClientIo, read_buf: Bytes) {
    let slot = TUNNELS.with(|t| t.borrow_mut().remove(&id));
    if let Some(tx) = slot {
        let _ = tx.send((io, read_buf));
    }
}

/// Copies bytes both ways until either side closes or nothing moves for `idle` (nginx:
/// ngx_http_upstream_process_upgraded with proxy_read_timeout).
async fn tunnel(
    rx: tokio::sync::oneshot::Receiver<(ClientIo, Bytes)>,
    mut up: UpConn,
    rest: Vec<u8>,
    idle: Duration,
    ctx: (String, String),
) {
    let Ok((mut client, early)) = rx.await else {
        return;
    };
    if !rest.is_empty() && client.write_all(&rest).await.is_err() {
        return;
    }
    if !early.is_empty() && up.stream.write_all(&early).await.is_err() {
        return;
    }
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut ur, mut uw) = tokio::io::split(&mut up.stream);
    let mut a = vec![0u8; 16384];
    let mut b = vec![0u8; 16384];
    loop {
        tokio::select! {
            n = tokio::time::timeout(idle, cr.read(&mut a)) => match n {
                Ok(Ok(n)) if n > 0 => {
                    if uw.write_all(&a[..n]).await.is_err() {
                        return;
                    }
                }
                Err(_) => break,
                _ => {
                    let _ = uw.shutdown().await;
                    return;
                }
            },
            n = tokio::time::timeout(idle, ur.read(&mut b)) => match n {
                Ok(Ok(n)) if n > 0 => {
                    if cw.write_all(&b[..n]).await.is_err() {
                        return;
                    }
                    let _ = cw.flush().await;
                }
                Err(_) => break,
                _ => {
                    let _ = cw.shutdown().await;
                    return;
                }
            },
        }
    }
    crate::http::errlog::write(
        crate::log::Level::Error,
        &format!(
            "{}upstream timed out (110: Connection timed out) while proxying upgraded connection{}",
            ctx.0, ctx.1
        ),
    );
}

/// The log line halves around the message (for errors after the handler returned).
pub(crate) fn upstream_ctx(r: &Request, up_text: &str) -> (String, String) {
    let line = crate::http::errlog::with_context(r, "\u{0}");
    let (a, b) = line.split_once('\u{0}').unwrap_or((&line, ""));
    let mut b = b.to_string();
    let up = format!(", upstream: \"{up_text}\"");
    match b.find(", host: \"") {
        Some(i) if r.headers.contains_key(hyper::header::HOST) => b.insert_str(i, &up),
        _ => b.push_str(&up),
    }
    (a.to_string(), b)
}

/// nginx: ngx_http_proxy_rewrite_redirect: the first matching `proxy_redirect` rule; true
/// when one matched.
fn rewrite_redirect(
    r: &Request,
    pc: &ProxyConf,
    pass: &Pass,
    t: &Target,
    name: &[u8],
    value: Vec<u8>,
) -> (Vec<u8>, bool) {
    let rules: Vec<Redirect> = match &pc.redirects {
        Some(None) => return (value, false),
        Some(Some(v)) => v.as_ref().clone(),
        None if pass.dynamic.is_none() => vec![Redirect::Default],
        None => return (value, false),
    };
    let prefix = if name == b"refresh" {
        match find_sub(&value.to_ascii_lowercase(), b"url=") {
            Some(i) => i + 4,
            None => return (value, false),
        }
    } else {
        0
    };
    let loc_name = r
        .location
        .as_ref()
        .map(|l| l.name.clone())
        .unwrap_or_default();
    for rule in rules {
        let (pattern, replacement) = match rule {
            Redirect::Default => {
                if pass.dynamic.is_some() {
                    continue;
                }
                if t.uri.is_empty() {
                    ([pass.url.as_slice(), b"/"].concat(), b"/".to_vec())
                } else {
                    (pass.url.clone(), loc_name.clone())
                }
            }
            Redirect::Plain(p, rep) => (r.eval(&p), r.eval(&rep)),
            Redirect::Regex(re, rep) => {
                let subject = value[prefix..].to_vec();
                if let Ok(Some(caps)) = re.re.captures(&subject) {
                    let offsets: Vec<Option<(usize, usize)>> = (0..caps.len())
                        .map(|i| caps.get(i).map(|m| (m.start(), m.end())))
                        .collect();
                    *r.captures.borrow_mut() = Some((subject.clone(), offsets));
                    let rep = r.eval(&rep);
                    let mut out = value[..prefix].to_vec();
                    out.extend_from_slice(&rep);
                    return (out, true);
                }
                continue;
            }
        };
        let rest = &value[prefix..];
        if pattern.len() <= rest.len() && rest.starts_with(&pattern) {
            let mut out = value[..prefix].to_vec();
            out.extend_from_slice(&replacement);
            out.extend_from_slice(&rest[pattern.len()..]);
            return (out, true);
        }
    }
    (value, false)
}

/// nginx: ngx_http_proxy_rewrite_cookie: `domain=` and `path=` attributes rewritten by the
/// first matching rule; a rewritten cookie is re-joined with `; `. `None`: unchanged.
fn rewrite_cookie(r: &Request, pc: &ProxyConf, v: &[u8]) -> Option<Vec<u8>> {
    let domains = pc.cookie_domains.clone().flatten();
    let paths = pc.cookie_paths.clone().flatten();
    if domains.is_none() && paths.is_none() {
        return None;
    }
    // nginx: ngx_http_proxy_parse_cookie: `;`-separated, spaces trimmed, `key[=value]`.
    let trim = |s: &[u8]| -> Vec<u8> {
        let a = s
            .iter()
            .position(|c| !c.is_ascii_whitespace())
            .unwrap_or(s.len());
        let b = s
            .iter()
            .rposition(|c| !c.is_ascii_whitespace())
            .map_or(a, |i| i + 1);
        s[a..b.max(a)].to_vec()
    };
    let mut attrs: Vec<(Vec<u8>, Option<Vec<u8>>)> = v
        .split(|&c| c == b';')
        .map(|part| {
            let part = trim(part);
            match part.iter().position(|&c| c == b'=') {
                Some(i) => (trim(&part[..i]), Some(trim(&part[i + 1..]))),
                None => (part, None),
            }
        })
        .collect();
    attrs.first()?.1.as_ref()?;
    let mut changed = false;
    for (k, val) in attrs.iter_mut().skip(1) {
        let Some(value) = val.as_mut() else { continue };
        let (rules, domain) = if k.eq_ignore_ascii_case(b"domain") {
            (domains.as_ref(), true)
        } else if k.eq_ignore_ascii_case(b"path") {
            (paths.as_ref(), false)
        } else {
            continue;
        };
        let Some(rules) = rules else { continue };
        for rule in rules.iter() {
            let out = match rule {
                Redirect::Plain(p, rep) => {
                    let p = r.eval(p);
                    if domain {
                        // nginx: ngx_http_proxy_rewrite_domain_handler: a leading dot of the
                        // value (and the pattern) is ignored; the whole value must match.
                        let p = p.strip_prefix(b".").unwrap_or(&p);
                        let vv = value.strip_prefix(b".").unwrap_or(value);
                        if vv.eq_ignore_ascii_case(p) {
                            let mut o = if value.starts_with(b".") {
                                b".".to_vec()
                            } else {
                                Vec::new()
                            };
                            o.extend_from_slice(&r.eval(rep));
                            Some(o)
                        } else {
                            None
                        }
                    } else if value.starts_with(&p) {
                        let mut o = r.eval(rep);
                        o.extend_from_slice(&value[p.len()..]);
                        Some(o)
                    } else {
                        None
                    }
                }
                Redirect::Regex(re, rep) => match re.re.captures(value) {
                    Ok(Some(caps)) => {
                        let offsets: Vec<Option<(usize, usize)>> = (0..caps.len())
                            .map(|i| caps.get(i).map(|m| (m.start(), m.end())))
                            .collect();
                        *r.captures.borrow_mut() = Some((value.clone(), offsets));
                        Some(r.eval(rep))
                    }
                    _ => None,
                },
                Redirect::Default => None,
            };
            if let Some(o) = out {
                *value = o;
                changed = true;
                break;
            }
        }
    }
    if !changed {
        return None;
    }
    let mut out = Vec::new();
    for (i, (k, val)) in attrs.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b"; ");
        }
        out.extend_from_slice(k);
        if let Some(val) = val {
            out.push(b'=');
            out.extend_from_slice(val);
        }
    }
    Some(out)
}

fn find_sub(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// The response body for hyper: chunks the pump task read from the upstream.
pub(crate) struct ChanBody {
    pub(crate) rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    /// A piece taken before the response head went (it goes first).
    pub(crate) first: Option<Result<Bytes, std::io::Error>>,
}

impl hyper::body::Body for ChanBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        if let Some(first) = self.first.take() {
            return std::task::Poll::Ready(Some(first.map(hyper::body::Frame::data)));
        }
        match self.rx.poll_recv(cx) {
            std::task::Poll::Ready(Some(Ok(b))) => {
                std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(b))))
            }
            std::task::Poll::Ready(Some(Err(e))) => std::task::Poll::Ready(Some(Err(e))),
            std::task::Poll::Ready(None) => std::task::Poll::Ready(None),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

/// Hands the body's pieces to the client: each at once with `proxy_buffering off`; in whole
/// buffers otherwise (nginx's event pipe sends a buffer once it is full, the part-filled
/// last one when the upstream is done; the first is what the header's buffer has left).
struct Out {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    pending: Vec<u8>,
    /// Buffered: the size of the buffer being filled, then of the others.
    unit: Option<(usize, usize)>,
}

impl Out {
    /// false when the client is gone.
    async fn push(&mut self, b: Bytes) -> bool {
        let Some((mut unit, next)) = self.unit else {
            return self.tx.send(Ok(b)).await.is_ok();
        };
        self.pending.extend_from_slice(&b);
        let mut n = 0;
        while self.pending.len() - n >= unit {
            n += unit;
            unit = next;
        }
        self.unit = Some((unit, next));
        if n == 0 {
            return true;
        }
        let rest = self.pending.split_off(n);
        let full = std::mem::replace(&mut self.pending, rest);
        self.tx.send(Ok(Bytes::from(full))).await.is_ok()
    }

    /// The held part goes (the upstream is done).
    async fn flush(&mut self) {
        if !self.pending.is_empty() {
            let b = Bytes::from(std::mem::take(&mut self.pending));
            let _ = self.tx.send(Ok(b)).await;
        }
    }

    /// What was read goes, then the body fails (the client's connection is cut).
    async fn fail(&mut self) {
        self.flush().await;
        let _ = self
            .tx
            .send(Err(std::io::Error::other("upstream body")))
            .await;
    }
}

/// Reads the upstream body and hands it on in bounded pieces (nginx: the event pipe, or
/// ngx_http_upstream_process_non_buffered_request with `proxy_buffering off`); a connection
/// whose body was read whole goes back to the keep-alive pool.
#[allow(clippy::too_many_arguments)]
async fn pump(
    mut conn: UpConn,
    mut buf: Vec<u8>,
    framing: Framing,
    timeout: Duration,
    chunk: usize,
    up: Arc<Upstream>,
    addr: upstream_rr::PeerAddr,
    keepalive: bool,
    ctx: (String, String),
    live: Arc<std::sync::Mutex<Live>>,
    mut out: Out,
    rate: u64,
) {
    let done = BodyDone(live);
    // nginx: proxy_limit_rate: each read is followed by a pause for its size.
    let mut owed = buf.len() as u64;
    let log = |msg: &str| {
        crate::http::errlog::write(
            crate::log::Level::Error,
            &format!("{}{msg}{}", ctx.0, ctx.1),
        );
    };
    let mut tmp = vec![0u8; chunk.clamp(1024, 1 << 20)];
    // nginx: unbuffered, the body that came with the head is sent at once and the upstream
    // read that follows in the same pass logs "while sending to client"; once a read has to
    // wait, the upstream's read events log "while reading upstream".
    let mut action = if out.unit.is_none() && !buf.is_empty() {
        "sending to client"
    } else {
        "reading upstream"
    };
    // Reads more into `buf`; Ok(false) at the end of the stream.
    macro_rules! fill {
        () => {{
            if rate > 0 && owed > 0 {
                tokio::time::sleep(Duration::from_millis(owed * 1000 / rate)).await;
            }
            let now = if action == "reading upstream" {
                None
            } else {
                futures_util::FutureExt::now_or_never(conn.stream.read(&mut tmp))
            };
            let got = match now {
                Some(r) => Ok(r),
                None => {
                    action = "reading upstream";
                    tokio::time::timeout(timeout, conn.stream.read(&mut tmp)).await
                }
            };
            match got {
                Err(_) => {
                    log("upstream timed out (110: Connection timed out) while reading upstream");
                    out.fail().await;
                    return;
                }
                Ok(Err(e)) => {
                    log(&format!("recv() failed{} while {action}", errno_text(&e)));
                    out.fail().await;
                    return;
                }
                Ok(Ok(0)) => false,
                Ok(Ok(n)) => {
                    buf.extend_from_slice(&tmp[..n]);
                    count_body(&done.0, n);
                    owed = n as u64;
                    true
                }
            }
        }};
    }
    match framing {
        Framing::None => {}
        Framing::Close => loop {
            if !buf.is_empty() {
                let b = Bytes::from(std::mem::take(&mut buf));
                if !out.push(b).await {
                    return;
                }
            }
            if !fill!() {
                out.flush().await;
                return;
            }
        },
        Framing::Length(mut left) => {
            while left > 0 {
                if buf.is_empty() && !fill!() {
                    log(&format!(
                        "upstream prematurely closed connection while {action}"
                    ));
                    out.fail().await;
                    return;
                }
                let take = (buf.len() as u64).min(left) as usize;
                let rest = buf.split_off(take);
                let b = Bytes::from(std::mem::replace(&mut buf, rest));
                left -= take as u64;
                if !out.push(b).await {
                    return;
                }
            }
            out.flush().await;
            if keepalive && buf.is_empty() {
                upstream_rr::put_idle(&up, &addr, conn);
            }
        }
        Framing::Chunked => {
            // nginx: ngx_http_parse_chunked.
            loop {
                let line_end = loop {
                    if let Some(i) = find_sub(&buf, b"\r\n") {
                        break i;
                    }
                    if buf.len() > 4096 || !fill!() {
                        log(&format!(
                            "upstream prematurely closed connection while {action}"
                        ));
                        out.fail().await;
                        return;
                    }
                };
                let size_text: Vec<u8> = buf[..line_end]
                    .iter()
                    .take_while(|c| c.is_ascii_hexdigit())
                    .copied()
                    .collect();
                let Some(size) = std::str::from_utf8(&size_text)
                    .ok()
                    .and_then(|s| u64::from_str_radix(s, 16).ok())
                else {
                    log("upstream sent invalid chunked response while reading upstream");
                    out.fail().await;
                    return;
                };
                buf.drain(..line_end + 2);
                if size == 0 {
                    // trailers up to the empty line
                    loop {
                        if let Some(i) = find_sub(&buf, b"\r\n") {
                            let empty = i == 0;
                            buf.drain(..i + 2);
                            if empty {
                                break;
                            }
                            continue;
                        }
                        if !fill!() {
                            out.flush().await;
                            return;
                        }
                    }
                    out.flush().await;
                    if keepalive && buf.is_empty() {
                        upstream_rr::put_idle(&up, &addr, conn);
                    }
                    return;
                }
                let mut left = size;
                while left > 0 {
                    if buf.is_empty() && !fill!() {
                        log(&format!(
                            "upstream prematurely closed connection while {action}"
                        ));
                        out.fail().await;
                        return;
                    }
                    let take = (buf.len() as u64).min(left) as usize;
                    let rest = buf.split_off(take);
                    let b = Bytes::from(std::mem::replace(&mut buf, rest));
                    left -= take as u64;
                    if !out.push(b).await {
                        return;
                    }
                }
                while buf.len() < 2 {
                    if !fill!() {
                        log(&format!(
                            "upstream prematurely closed connection while {action}"
                        ));
                        out.fail().await;
                        return;
                    }
                }
                buf.drain(..2);
            }
        }
    }
}
