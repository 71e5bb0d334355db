//! ngx_http_upstream_module: `upstream {}` blocks, their `server`s, the upstreams `proxy_pass`
//! and its siblings create implicitly, and the setters the proxy-like modules share
//! (nginx: ngx_http_upstream.c, ngx_http_upstream_round_robin.c's init, ngx_inet.c's URL
//! parsing, ngx_http_file_cache.c's `*_cache_path`/`*_cache_valid`, ngx_http_script.c's
//! complex-value slots, ngx_cycle.c's shared memory zones and ngx_file.c's paths).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use parser::{Body, Directive};

use crate::conf::dispatch::Failed;
use crate::conf::values::{atoi, parse_offset, parse_size, parse_time};
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult};
use crate::http::variables::{compile_complex_value, ComplexValue};
use crate::log::Level;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_upstream_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[
    cmd(
        "upstream",
        Ctx::HTTP_MAIN,
        Args::BLOCK.or(Args::TAKE1),
        Set::Handler(upstream),
    ),
    cmd(
        "server",
        Ctx::HTTP_UPS,
        Args::ONEMORE,
        Set::Handler(upstream_server),
    ),
];

/// Variables ngx_http_upstream_module defines (nginx: ngx_http_upstream_vars).
pub(crate) const VARIABLES: &[&str] = &[
    "upstream_addr",
    "upstream_status",
    "upstream_connect_time",
    "upstream_header_time",
    "upstream_response_time",
    "upstream_response_length",
    "upstream_bytes_received",
    "upstream_bytes_sent",
    "upstream_cache_status",
    "upstream_cache_last_modified",
    "upstream_cache_etag",
];

/// Prefix variables of ngx_http_upstream_module.
pub(crate) const VARIABLE_PREFIXES: &[&str] =
    &["upstream_http_", "upstream_trailer_", "upstream_cookie_"];

/// nginx: NGX_HTTP_UPSTREAM_* flags of ngx_http_upstream_srv_conf_t.
pub(crate) const CREATE: u32 = 0x0001;
pub(crate) const WEIGHT: u32 = 0x0002;
pub(crate) const MAX_FAILS: u32 = 0x0004;
pub(crate) const FAIL_TIMEOUT: u32 = 0x0008;
pub(crate) const DOWN: u32 = 0x0010;
pub(crate) const BACKUP: u32 = 0x0020;
pub(crate) const MAX_CONNS: u32 = 0x0100;

/// The flags of a plain `upstream {}` (round robin).
const DEFAULT_FLAGS: u32 = CREATE | WEIGHT | MAX_CONNS | MAX_FAILS | FAIL_TIMEOUT | DOWN | BACKUP;

/// The flags hash, ip_hash and random set (no `backup`).
pub(crate) const NO_BACKUP_FLAGS: u32 =
    CREATE | WEIGHT | MAX_CONNS | MAX_FAILS | FAIL_TIMEOUT | DOWN;

// ---------------------------------------------------------------------------------------------
// URLs (nginx: ngx_parse_url and friends in ngx_inet.c)

/// How a URL is to be read (nginx: the input fields of ngx_url_t).
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct UrlOpts {
    pub(crate) default_port: u16,
    /// A URI may follow the host (`proxy_pass http://h/uri`).
    pub(crate) uri_part: bool,
    /// Don't resolve host names (they are resolved later, or at run time).
    pub(crate) no_resolve: bool,
    /// `listen`: a bare port, `*:port` and port ranges are allowed.
    pub(crate) listen: bool,
}

/// A parsed URL (nginx: the output fields of ngx_url_t).
#[derive(Clone, Default, Debug)]
pub(crate) struct Url {
    pub(crate) host: Vec<u8>,
    pub(crate) port: u16,
    pub(crate) no_port: bool,
    pub(crate) uri: Vec<u8>,
    /// A unix domain socket path (`unix:`).
    pub(crate) unix: Option<Vec<u8>>,
    /// Addresses known now (literal addresses, resolved names).
    pub(crate) addrs: Vec<SocketAddr>,
    pub(crate) wildcard: bool,
    pub(crate) last_port: u16,
}

impl Url {
    /// nginx: `u->naddrs`.
    pub(crate) fn naddrs(&self) -> usize {
        if self.unix.is_some() {
            1
        } else {
            self.addrs.len()
        }
    }
}

/// nginx: ngx_parse_url. The error is nginx's `u->err` (`None`: failed without a text).
pub(crate) fn parse_url(url: &[u8], o: UrlOpts) -> Result<Url, &'static str> {
    if url.len() >= 5 && url[..5].eq_ignore_ascii_case(b"unix:") {
        return parse_unix_url(url, o);
    }
    if url.first() == Some(&b'[') {
        return parse_inet6_url(url, o);
    }
    parse_inet_url(url, o)
}

fn find(s: &[u8], c: u8) -> Option<usize> {
    s.iter().position(|&b| b == c)
}

/// nginx: ngx_parse_unix_domain_url.
fn parse_unix_url(url: &[u8], o: UrlOpts) -> Result<Url, &'static str> {
    let mut u = Url::default();
    let mut path = &url[5..];
    if o.uri_part {
        if let Some(i) = find(path, b':') {
            u.uri = path[i + 1..].to_vec();
            path = &path[..i];
        }
    }
    if path.is_empty() {
        return Err("no path in the unix domain socket");
    }
    // sun_path holds 108 bytes including the terminating zero.
    if path.len() + 1 > 108 {
        return Err("too long path in the unix domain socket");
    }
    u.host = path.to_vec();
    u.unix = Some(path.to_vec());
    Ok(u)
}

/// nginx: ngx_inet_addr (dotted IPv4, empty octets read as 0).
pub(crate) fn inet_addr(s: &[u8]) -> Option<Ipv4Addr> {
    let (mut addr, mut octet, mut n) = (0u32, 0u32, 0);
    for &c in s {
        if c.is_ascii_digit() {
            octet = octet * 10 + u32::from(c - b'0');
            if octet > 255 {
                return None;
            }
        } else if c == b'.' {
            addr = (addr << 8).wrapping_add(octet);
            octet = 0;
            n += 1;
        } else {
            return None;
        }
    }
    (n == 3).then(|| Ipv4Addr::from((addr << 8).wrapping_add(octet)))
}

/// nginx: ngx_inet6_addr.
pub(crate) fn inet6_addr(s: &[u8]) -> Option<Ipv6Addr> {
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Reads a port (and a `-last` range for `listen`) the way ngx_parse_inet_url does.
fn read_port(u: &mut Url, port: &[u8], o: UrlOpts) -> Result<(), &'static str> {
    let mut p = port;
    if o.listen {
        if let Some(d) = find(port, b'-') {
            match atoi(&port[d + 1..]) {
                Some(n) if (1..=65535).contains(&n) => u.last_port = n as u16,
                _ => return Err("invalid port"),
            }
            p = &port[..d];
        }
    }
    let n = match atoi(p) {
        Some(n) if (1..=65535).contains(&n) => n as u16,
        _ => return Err("invalid port"),
    };
    if u.last_port != 0 && n > u.last_port {
        return Err("invalid port range");
    }
    u.port = n;
    Ok(())
}

/// nginx: ngx_parse_inet_url.
fn parse_inet_url(url: &[u8], o: UrlOpts) -> Result<Url, &'static str> {
    let mut u = Url::default();
    let mut last = url.len();
    let mut port = find(url, b':');
    let mut uri = find(url, b'/');
    if let Some(a) = find(url, b'?') {
        if uri.is_none_or(|x| a < x) {
            uri = Some(a);
        }
    }
    if let Some(ui) = uri {
        if o.listen || !o.uri_part {
            return Err("invalid host");
        }
        u.uri = url[ui..].to_vec();
        last = ui;
        if port.is_some_and(|p| ui < p) {
            port = None;
        }
    }
    if let Some(p) = port {
        read_port(&mut u, &url[p + 1..last], o)?;
        last = p;
    } else {
        if uri.is_none() && o.listen {
            // a bare port
            let (digits, range) = match find(url, b'-') {
                Some(d) => (&url[..d], Some(&url[d + 1..])),
                None => (url, None),
            };
            let range_ok = match range {
                None => Some(Ok(0)),
                Some(r) => match atoi(r) {
                    None => None,
                    Some(n) if (1..=65535).contains(&n) => Some(Ok(n as u16)),
                    Some(_) => Some(Err("invalid port")),
                },
            };
            if let (Some(range_ok), Some(n)) = (range_ok, atoi(digits)) {
                let last_port = range_ok?;
                if !(1..=65535).contains(&n) {
                    return Err("invalid port");
                }
                if last_port != 0 && n > i64::from(last_port) {
                    return Err("invalid port range");
                }
                u.port = n as u16;
                u.last_port = last_port;
                u.wildcard = true;
                u.addrs = vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), u.port)];
                return Ok(u);
            }
        }
        u.no_port = true;
        u.port = o.default_port;
        u.last_port = 0;
    }
    let host = &url[..last];
    if host.is_empty() {
        return Err("no host");
    }
    u.host = host.to_vec();
    if o.listen && host == b"*" {
        u.wildcard = true;
        u.addrs = vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), u.port)];
        return Ok(u);
    }
    if let Some(a) = inet_addr(host) {
        u.wildcard = a.is_unspecified();
        u.addrs = vec![SocketAddr::new(IpAddr::V4(a), u.port)];
        return Ok(u);
    }
    if o.no_resolve {
        return Ok(u);
    }
    u.addrs = resolve_host(host, u.port)?;
    u.wildcard = u.addrs.first().is_some_and(|a| a.ip().is_unspecified());
    Ok(u)
}

/// nginx: ngx_parse_inet6_url.
fn parse_inet6_url(url: &[u8], o: UrlOpts) -> Result<Url, &'static str> {
    let mut u = Url::default();
    let Some(close) = find(url, b']') else {
        return Err("invalid host");
    };
    let mut last = url.len();
    let port_at = close + 1;
    if let Some(ui) = find(&url[port_at..], b'/').map(|i| i + port_at) {
        if o.listen || !o.uri_part {
            return Err("invalid host");
        }
        u.uri = url[ui..].to_vec();
        last = ui;
    }
    if port_at < last {
        if url[port_at] != b':' {
            return Err("invalid host");
        }
        read_port(&mut u, &url[port_at + 1..last], o)?;
    } else {
        u.no_port = true;
        u.port = o.default_port;
    }
    let inner = &url[1..close];
    if inner.is_empty() {
        return Err("no host");
    }
    u.host = url[..=close].to_vec();
    let Some(a) = inet6_addr(inner) else {
        return Err("invalid IPv6 address");
    };
    u.wildcard = a.is_unspecified();
    u.addrs = vec![SocketAddr::new(IpAddr::V6(a), u.port)];
    Ok(u)
}

/// nginx: ngx_inet_resolve_host (getaddrinfo).
pub(crate) fn resolve_host(host: &[u8], port: u16) -> Result<Vec<SocketAddr>, &'static str> {
    let name = std::str::from_utf8(host).map_err(|_| "host not found")?;
    if name.contains('\0') {
        return Err("host not found");
    }
    let mut addrs: Vec<SocketAddr> = match (name, port).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(_) => return Err("host not found"),
    };
    if addrs.is_empty() {
        return Err("host not found");
    }
    // nginx lists IPv4 addresses first, without duplicates.
    addrs.dedup();
    addrs.sort_by_key(|a| a.is_ipv6());
    Ok(addrs)
}

/// nginx: ngx_parse_addr_port (an address with an optional port, no names).
pub(crate) fn parse_addr_port(s: &[u8]) -> Option<IpAddr> {
    let parse_addr = |t: &[u8]| -> Option<IpAddr> {
        inet_addr(t)
            .map(IpAddr::V4)
            .or_else(|| inet6_addr(t).map(IpAddr::V6))
    };
    if let Some(a) = parse_addr(s) {
        return Some(a);
    }
    let (addr, port) = if s.first() == Some(&b'[') {
        let close = find(s, b']')?;
        if close + 1 >= s.len() || s[close + 1] != b':' {
            return None;
        }
        (&s[1..close], &s[close + 2..])
    } else {
        let c = find(s, b':')?;
        (&s[..c], &s[c + 1..])
    };
    match atoi(port) {
        Some(p) if (1..=65535).contains(&p) => parse_addr(addr),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Upstreams

/// One `server` of an upstream (nginx: ngx_http_upstream_server_t).
#[derive(Clone, Debug, Default)]
pub(crate) struct Server {
    pub(crate) name: Vec<u8>,
    pub(crate) naddrs: usize,
    pub(crate) weight: i64,
    pub(crate) backup: bool,
    pub(crate) down: bool,
}

/// An upstream, explicit or implicit (nginx: ngx_http_upstream_srv_conf_t).
#[derive(Clone, Debug, Default)]
pub(crate) struct Upstream {
    pub(crate) host: Vec<u8>,
    pub(crate) port: u16,
    pub(crate) no_port: bool,
    pub(crate) flags: u32,
    /// Where it was created.
    pub(crate) file: usize,
    pub(crate) line: usize,
    /// `None` for an implicit upstream without a literal address.
    pub(crate) servers: Option<Vec<Server>>,
    /// A balancer directive was seen (nginx: `peer.init_upstream` set).
    pub(crate) balancer: bool,
    /// `keepalive` was seen.
    pub(crate) keepalive: bool,
}

/// The upstreams of one `http` block (nginx: ngx_http_upstream_main_conf_t).
#[derive(Default, Debug)]
pub(crate) struct UpstreamMain {
    pub(crate) upstreams: Vec<Upstream>,
    /// The `upstream {}` block being parsed.
    pub(crate) current: Option<usize>,
}

/// `path:line` of a directive (nginx's `%s:%ui` of a conf file name and line).
pub(crate) fn file_line(cf: &Cf<'_>, file: usize, line: usize) -> String {
    match cf.conf.files.get(file) {
        Some(f) => format!("{}:{}", f.path.display(), line),
        None => format!(":{line}"),
    }
}

/// The upstreams of the enclosing `http` or `stream` block.
fn umcf<'c>(cf: &'c mut Cf<'_>) -> Option<&'c mut UpstreamMain> {
    cf.enclosing(Ctx::HTTP_MAIN.or(Ctx::STREAM_MAIN))
        .map(|f| f.get::<UpstreamMain>())
}

/// The directive is in a `stream` block (ngx_stream_upstream.c's variants).
fn in_stream(cf: &Cf<'_>) -> bool {
    cf.ctx()
        .has(Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV).or(Ctx::STREAM_UPS))
}

/// The `upstream {}` being parsed (for `server`, balancers, `keepalive`, `zone`).
pub(crate) fn current<'c>(cf: &'c mut Cf<'_>) -> Option<&'c mut Upstream> {
    let m = umcf(cf)?;
    let i = m.current?;
    m.upstreams.get_mut(i)
}

/// Sets the balancing method of the current upstream (nginx: the `uscf->peer.init_upstream`
/// and `uscf->flags` assignments of each balancer's directive).
pub(crate) fn set_balancer(cf: &mut Cf<'_>, flags: u32) {
    let redefined = current(cf).is_some_and(|u| u.balancer);
    if redefined {
        cf.conf_log(Level::Warn, "load balancing method redefined");
    }
    if let Some(u) = current(cf) {
        u.balancer = true;
        u.flags = flags;
    }
}

/// nginx: ngx_http_upstream_add. `url` is already parsed unless `flags` has [`CREATE`].
/// Returns the upstream's index.
pub(crate) fn upstream_add(
    cf: &mut Cf<'_>,
    d: &Directive,
    u: &Url,
    flags: u32,
) -> Result<usize, Failed> {
    let stream = in_stream(cf);
    let Some(m) = umcf(cf) else { return Ok(0) };
    let mut err: Option<(bool, String)> = None;
    let mut found = None;
    for (i, us) in m.upstreams.iter_mut().enumerate() {
        if !us.host.eq_ignore_ascii_case(&u.host) {
            continue;
        }
        let host = String::from_utf8_lossy(&u.host).into_owned();
        if flags & CREATE != 0 && us.flags & CREATE != 0 {
            err = Some((true, format!("duplicate upstream \"{host}\"")));
            break;
        }
        if us.flags & CREATE != 0 && !u.no_port {
            err = Some((
                true,
                format!("upstream \"{host}\" may not have port {}", u.port),
            ));
            break;
        }
        if flags & CREATE != 0 && !us.no_port {
            err = Some((
                false,
                format!("upstream \"{host}\" may not have port {}", us.port),
            ));
            found = Some(i);
            break;
        }
        if stream {
            // nginx: ngx_stream_upstream_add compares ports as they are
            if us.port != u.port {
                continue;
            }
        } else if us.port != 0 && u.port != 0 && us.port != u.port {
            continue;
        }
        if flags & CREATE != 0 {
            us.flags = flags;
            if !stream {
                us.port = 0;
            }
        }
        return Ok(i);
    }
    if let Some((at_directive, text)) = err {
        if at_directive {
            return Err(cf.emerg(text));
        }
        // nginx: ngx_log_error with the implicit upstream's own file:line
        let (file, line) = found
            .and_then(|i| umcf(cf).and_then(|m| m.upstreams.get(i)))
            .map(|us| (us.file, us.line))
            .unwrap_or((d.file, d.line));
        let text = format!("{text} in {}", file_line(cf, file, line));
        cf.log(Level::Emerg, text);
        return Err(Failed);
    }
    let servers = (u.naddrs() == 1 && (u.port != 0 || u.unix.is_some())).then(|| {
        vec![Server {
            name: Vec::new(),
            naddrs: 1,
            weight: 0,
            backup: false,
            down: false,
        }]
    });
    let us = Upstream {
        host: u.host.clone(),
        port: u.port,
        no_port: u.no_port,
        flags,
        file: d.file,
        line: d.line,
        servers,
        balancer: false,
        keepalive: false,
    };
    let Some(m) = umcf(cf) else { return Ok(0) };
    m.upstreams.push(us);
    Ok(m.upstreams.len() - 1)
}

/// Creates the implicit upstream of `proxy_pass`-like directives (nginx: ngx_http_upstream_add
/// without NGX_HTTP_UPSTREAM_CREATE, which parses the URL first).
pub(crate) fn upstream_add_url(
    cf: &mut Cf<'_>,
    d: &Directive,
    url: &[u8],
    o: UrlOpts,
) -> Result<Url, Failed> {
    let u = match parse_url(url, o) {
        Ok(u) => u,
        Err(e) => {
            return Err(cf.emerg(format!(
                "{e} in upstream \"{}\"",
                String::from_utf8_lossy(url)
            )))
        }
    };
    upstream_add(cf, d, &u, 0)?;
    Ok(u)
}

/// nginx: ngx_http_upstream (the `upstream` block).
fn upstream(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream_block(cf, d, Ctx::HTTP_UPS)
}

/// nginx: ngx_http_upstream / ngx_stream_upstream (`ctx`: the level inside).
pub(crate) fn upstream_block(cf: &mut Cf<'_>, d: &Directive, ctx: Ctx) -> SetResult {
    let Body::Block(block) = &d.body else {
        return Ok(());
    };
    let u = Url {
        host: d.args[0].clone(),
        no_port: true,
        ..Url::default()
    };
    let idx = upstream_add(cf, d, &u, DEFAULT_FLAGS)?;
    if let Some(m) = umcf(cf) {
        m.current = Some(idx);
        if let Some(us) = m.upstreams.get_mut(idx) {
            us.servers = Some(Vec::new());
            us.file = d.file;
            us.line = d.line;
        }
    }
    // SAFETY of lifetimes: the block lives in the configuration tree `cf` walks.
    let block: &parser::Block = block;
    let r = walk_block(cf, block, ctx);
    if let Some(m) = umcf(cf) {
        m.current = None;
    }
    r?;
    let empty = current_servers(cf, idx) == 0;
    if empty {
        cf.set_at(d.file, crate::conf::dispatch::block_end_line(d));
        return Err(cf.emerg("no servers are inside upstream").into());
    }
    Ok(())
}

fn current_servers(cf: &mut Cf<'_>, idx: usize) -> usize {
    umcf(cf)
        .and_then(|m| m.upstreams.get(idx))
        .and_then(|u| u.servers.as_ref())
        .map_or(0, Vec::len)
}

/// Walks a block of the tree `cf` reads (the tree outlives the walk).
fn walk_block(cf: &mut Cf<'_>, block: &parser::Block, ctx: Ctx) -> Result<(), Failed> {
    // `Cf::block` wants the tree's lifetime: find the same block in `cf.conf` by address.
    let conf = cf.conf;
    let found = find_block(&conf.directives, block);
    match found {
        Some(b) => cf.block(b, ctx).map(drop),
        None => Ok(()),
    }
}

/// The block at `target`'s address inside `list`, with the tree's lifetime.
pub(crate) fn find_block<'a>(
    list: &'a [Directive],
    target: &parser::Block,
) -> Option<&'a parser::Block> {
    for d in list {
        if let Body::Block(b) = &d.body {
            if std::ptr::eq(b, target) {
                return Some(b);
            }
            if let Some(x) = find_block(&b.directives, target) {
                return Some(x);
            }
        }
    }
    None
}

/// nginx: ngx_http_upstream_server / ngx_stream_upstream_server.
pub(crate) fn upstream_server(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let stream = in_stream(cf);
    let flags = current(cf).map_or(DEFAULT_FLAGS, |u| u.flags);
    let mut server = Server {
        weight: 1,
        ..Server::default()
    };
    for a in &d.args[1..] {
        let show = String::from_utf8_lossy(a).into_owned();
        let (need, ok) = if let Some(v) = a.strip_prefix(b"weight=") {
            let w = atoi(v);
            server.weight = w.unwrap_or(0);
            (WEIGHT, matches!(w, Some(n) if n > 0))
        } else if let Some(v) = a.strip_prefix(b"max_conns=") {
            (MAX_CONNS, atoi(v).is_some())
        } else if let Some(v) = a.strip_prefix(b"max_fails=") {
            (MAX_FAILS, atoi(v).is_some())
        } else if let Some(v) = a.strip_prefix(b"fail_timeout=") {
            (FAIL_TIMEOUT, parse_time(v, true).is_some())
        } else if a.as_slice() == b"backup" {
            server.backup = true;
            (BACKUP, true)
        } else if a.as_slice() == b"down" {
            server.down = true;
            (DOWN, true)
        } else {
            return Err(cf.emerg(format!("invalid parameter \"{show}\"")).into());
        };
        if flags & need == 0 {
            return Err(cf
                .emerg(format!(
                    "balancing method does not support parameter \"{show}\""
                ))
                .into());
        }
        if !ok {
            return Err(cf.emerg(format!("invalid parameter \"{show}\"")).into());
        }
    }
    let o = UrlOpts {
        default_port: if stream { 0 } else { 80 },
        ..UrlOpts::default()
    };
    let u = match parse_url(&d.args[0], o) {
        Ok(u) => u,
        Err(e) => {
            return Err(cf
                .emerg(format!(
                    "{e} in upstream \"{}\"",
                    String::from_utf8_lossy(&d.args[0])
                ))
                .into())
        }
    };
    if stream && u.no_port {
        return Err(cf
            .emerg(format!(
                "no port in upstream \"{}\"",
                String::from_utf8_lossy(&d.args[0])
            ))
            .into());
    }
    server.name = d.args[0].clone();
    server.naddrs = u.naddrs();
    if let Some(us) = current(cf) {
        us.servers.get_or_insert_with(Vec::new).push(server);
    }
    Ok(())
}

/// nginx: ngx_http_upstream_init_main_conf, i.e. each upstream's `init_upstream`
/// (ngx_http_upstream_init_round_robin and the balancers that wrap it), at the end of `http`.
pub(crate) fn init_main_conf(
    cf: &mut Cf<'_>,
    http: &mut crate::conf::dispatch::Frame,
) -> Result<(), Failed> {
    let upstreams = std::mem::take(&mut http.get::<UpstreamMain>().upstreams);
    let r = init_upstreams(cf, &upstreams);
    http.get::<UpstreamMain>().upstreams = upstreams;
    r
}

fn init_upstreams(cf: &mut Cf<'_>, upstreams: &[Upstream]) -> Result<(), Failed> {
    for us in upstreams {
        let host = String::from_utf8_lossy(&us.host).into_owned();
        let at = file_line(cf, us.file, us.line);
        if let Some(servers) = &us.servers {
            let n: usize = servers.iter().filter(|s| !s.backup).map(|s| s.naddrs).sum();
            if n == 0 {
                cf.log(
                    Level::Emerg,
                    format!("no servers in upstream \"{host}\" in {at}"),
                );
                return Err(Failed);
            }
            continue;
        }
        // an upstream implicitly defined by proxy_pass, etc.
        if us.port == 0 {
            cf.log(
                Level::Emerg,
                format!("no port in upstream \"{host}\" in {at}"),
            );
            return Err(Failed);
        }
        if let Err(e) = resolve_host(&us.host, us.port) {
            cf.log(Level::Emerg, format!("{e} in upstream \"{host}\" in {at}"));
            return Err(Failed);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Where a proxy-like `*_pass` is (nginx: clcf->name, clcf->named, clcf->regex, clcf->noname).

/// What the enclosing `location` is; the http core module keeps one in each location level.
#[derive(Default, Clone, Debug)]
pub(crate) struct LocationKind {
    /// `location @name`.
    pub(crate) named: bool,
    /// `location ~ re` / `location ~* re`.
    pub(crate) regex: bool,
}

/// nginx: `clcf->named || clcf->regex || clcf->noname` for the current level (`if` and
/// `limit_except` levels are `noname`).
pub(crate) fn location_without_uri(cf: &mut Cf<'_>) -> bool {
    if cf.ctx().has(Ctx::HTTP_LIF.or(Ctx::HTTP_LMT)) {
        return true;
    }
    if !cf.ctx().has(Ctx::HTTP_LOC) {
        return false;
    }
    let k = cf.frame().get::<LocationKind>();
    k.named || k.regex
}

// ---------------------------------------------------------------------------------------------
// The `*_pass`, `*_store` and `*_cache` state of one level, per module (`M` is the module).

/// Module ids for [`PassState`].
pub(crate) const PROXY: u8 = 0;
pub(crate) const FASTCGI: u8 = 1;
pub(crate) const UWSGI: u8 = 2;
pub(crate) const SCGI: u8 = 3;
pub(crate) const GRPC: u8 = 4;
pub(crate) const MEMCACHED: u8 = 5;

/// A conf field that is unset, off or on (nginx: NGX_CONF_UNSET, 0, 1).
#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Tri {
    #[default]
    Unset,
    Off,
    On,
}

/// One level's `*_pass`/`*_store`/`*_cache` of module `M` (nginx: `upstream.upstream`,
/// `*_lengths`, `upstream.store`, `upstream.cache` of the module's loc conf).
#[derive(Default, Debug)]
pub(crate) struct PassState<const M: u8> {
    /// `*_pass` was set.
    pub(crate) pass: bool,
    /// ... with variables.
    pub(crate) vars: bool,
    pub(crate) store: Tri,
    pub(crate) cache: Tri,
}

/// The start of every `*_pass` handler: `is duplicate`, then a URL with variables is compiled
/// as a script. Returns true when the URL had variables (nothing more to do).
pub(crate) fn pass_start<const M: u8>(
    cf: &mut Cf<'_>,
    d: &Directive,
) -> Result<bool, Option<String>> {
    if cf.frame().get::<PassState<M>>().pass {
        return Err(Some("is duplicate".into()));
    }
    cf.frame().get::<PassState<M>>().pass = true;
    let url = &d.args[0];
    if crate::http::variables::script_variables_count(url) == 0 {
        return Ok(false);
    }
    compile_complex_value(cf, url)?;
    cf.frame().get::<PassState<M>>().vars = true;
    Ok(true)
}

/// nginx: ngx_http_proxy_store and its siblings.
pub(crate) fn store<const M: u8>(cf: &mut Cf<'_>, d: &Directive, cache_name: &str) -> SetResult {
    let st = cf.frame().get::<PassState<M>>();
    if st.store != Tri::Unset {
        return Err(Some("is duplicate".into()));
    }
    let v = &d.args[0];
    if v.as_slice() == b"off" {
        st.store = Tri::Off;
        return Ok(());
    }
    if st.cache == Tri::On {
        return Err(Some(format!("is incompatible with \"{cache_name}\"")));
    }
    st.store = Tri::On;
    if v.as_slice() == b"on" {
        return Ok(());
    }
    compile_complex_value(cf, v)?;
    Ok(())
}

/// nginx: ngx_http_proxy_cache and its siblings (`tag`: the module owning the zones).
pub(crate) fn cache<const M: u8>(
    cf: &mut Cf<'_>,
    d: &Directive,
    store_name: &str,
    tag: &'static str,
) -> SetResult {
    let st = cf.frame().get::<PassState<M>>();
    if st.cache != Tri::Unset {
        return Err(Some("is duplicate".into()));
    }
    let v = &d.args[0];
    if v.as_slice() == b"off" {
        st.cache = Tri::Off;
        return Ok(());
    }
    if st.store == Tri::On {
        return Err(Some(format!("is incompatible with \"{store_name}\"")));
    }
    st.cache = Tri::On;
    let cv = compile_complex_value(cf, v)?;
    if !cv.is_static() {
        return Ok(());
    }
    shared_memory_add(cf, v, 0, tag)?;
    let name = crate::modules::MODULES
        .iter()
        .flat_map(|m| m.commands.iter())
        .find(|c| c.name.as_bytes() == d.name.as_slice())
        .map_or("", |c| c.name);
    cache_ref(cf, name, v, tag);
    Ok(())
}

/// nginx: the `*_cache_key` handlers (`is duplicate`, then a complex value).
pub(crate) fn cache_key(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    complex_value_slot(cf, d)
}

/// nginx: the `*_ssl_password_file` handlers (ngx_ssl_read_password_file reads the file now).
pub(crate) fn ssl_password_file(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if seen(cf, d) {
        return Err(Some("is duplicate".into()));
    }
    read_password_file(cf, &d.args[0])
}

/// nginx: ngx_ssl_read_password_file's failures.
pub(crate) fn read_password_file(cf: &mut Cf<'_>, name: &[u8]) -> SetResult {
    use std::io::Read;
    let path = crate::cycle::full_name(&cf.conf_prefix, name);
    let mut f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            return Err(cf
                .emerg(format!(
                    "open() \"{}\" failed ({})",
                    path.display(),
                    crate::log::errno_text(&e)
                ))
                .into())
        }
    };
    let mut buf = Vec::new();
    if let Err(e) = f.read_to_end(&mut buf) {
        return Err(cf
            .emerg(format!(
                "read() \"{}\" failed ({})",
                path.display(),
                crate::log::errno_text(&e)
            ))
            .into());
    }
    Ok(())
}

/// nginx: the `*_send_lowat` post handler on Linux (no SO_SNDLOWAT): a size, then a warning.
pub(crate) fn send_lowat(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if seen(cf, d) {
        return Err(Some("is duplicate".into()));
    }
    if parse_size(&d.args[0]).is_none() {
        return Err(Some("invalid value".into()));
    }
    let name = String::from_utf8_lossy(&d.name).into_owned();
    cf.conf_log(Level::Warn, format!("\"{name}\" is not supported, ignored"));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Setters shared by proxy, fastcgi, uwsgi, scgi, grpc and memcached.

/// nginx: ngx_http_set_complex_value_slot.
pub(crate) fn complex_value_slot(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    complex_value_once(cf, d).map(drop)
}

/// nginx: ngx_http_set_complex_value_zero_slot.
pub(crate) fn complex_value_zero_slot(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    complex_value_once(cf, d).map(drop)
}

fn complex_value_once(cf: &mut Cf<'_>, d: &Directive) -> Result<ComplexValue, Option<String>> {
    if seen(cf, d) {
        return Err(Some("is duplicate".into()));
    }
    Ok(compile_complex_value(cf, &d.args[0])?)
}

/// The per-level "already set" bookkeeping of a directive (nginx: a conf field not UNSET).
pub(crate) fn seen(cf: &mut Cf<'_>, d: &Directive) -> bool {
    let name = crate::modules::MODULES
        .iter()
        .flat_map(|m| m.commands.iter())
        .find(|c| c.name.as_bytes() == d.name.as_slice())
        .map(|c| c.name);
    match name {
        Some(n) => cf.seen(n),
        None => false,
    }
}

/// nginx: ngx_http_set_predicate_slot.
pub(crate) fn predicate_slot(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    for a in &d.args {
        compile_complex_value(cf, a)?;
    }
    Ok(())
}

/// nginx: ngx_http_upstream_bind_set_slot.
pub(crate) fn bind_slot(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if seen(cf, d) {
        return Err(Some("is duplicate".into()));
    }
    let v = &d.args[0];
    if d.args.len() == 1 && v.as_slice() == b"off" {
        return Ok(());
    }
    let cv = compile_complex_value(cf, v)?;
    if cv.is_static() && parse_addr_port(v).is_none() {
        return Err(cf
            .emerg(format!(
                "invalid address \"{}\"",
                String::from_utf8_lossy(v)
            ))
            .into());
    }
    if let Some(p) = d.args.get(1) {
        if p.as_slice() != b"transparent" {
            return Err(cf
                .emerg(format!(
                    "invalid parameter \"{}\"",
                    String::from_utf8_lossy(p)
                ))
                .into());
        }
    }
    Ok(())
}

/// nginx: ngx_http_upstream_param_set_slot (`fastcgi_param`, `scgi_param`, `uwsgi_param`).
pub(crate) fn param_slot(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if let Some(p) = d.args.get(2) {
        if p.as_slice() != b"if_not_empty" {
            return Err(cf
                .emerg(format!(
                    "invalid parameter \"{}\"",
                    String::from_utf8_lossy(p)
                ))
                .into());
        }
    }
    Ok(())
}

/// nginx: ngx_http_file_cache_valid_set_slot.
pub(crate) fn cache_valid_slot(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let n = d.args.len() - 1;
    let time = &d.args[n];
    if parse_time(time, true).is_none() {
        return Err(cf
            .emerg(format!(
                "invalid time value \"{}\"",
                String::from_utf8_lossy(time)
            ))
            .into());
    }
    for a in &d.args[..n] {
        if a.as_slice() == b"any" {
            continue;
        }
        if !matches!(atoi(a), Some(s) if (100..=599).contains(&s)) {
            return Err(cf
                .emerg(format!("invalid status \"{}\"", String::from_utf8_lossy(a)))
                .into());
        }
    }
    Ok(())
}

/// The cache zones `*_cache` refer to, checked when `http` ends.
#[derive(Default, Debug)]
pub(crate) struct CacheRefs {
    /// (directive name, zone name, module tag) in order of appearance.
    pub(crate) refs: Vec<(&'static str, Vec<u8>, &'static str)>,
}

/// Records a `*_cache zone` reference for the check nginx does at merge time.
pub(crate) fn cache_ref(cf: &mut Cf<'_>, directive: &'static str, zone: &[u8], tag: &'static str) {
    if let Some(f) = cf.enclosing(Ctx::HTTP_MAIN) {
        f.get::<CacheRefs>()
            .refs
            .push((directive, zone.to_vec(), tag));
    }
}

/// nginx: the `"proxy_cache" zone "x" is unknown` check of each proxy-like module's
/// merge_loc_conf; reported at the end of `http` (where nginx merges).
pub(crate) fn check_cache_refs(
    cf: &mut Cf<'_>,
    http: &mut crate::conf::dispatch::Frame,
) -> Result<(), Failed> {
    let refs = std::mem::take(&mut http.get::<CacheRefs>().refs);
    for (directive, zone, tag) in refs {
        let known = cf
            .main()
            .get::<SharedMemory>()
            .zones
            .iter()
            .any(|z| z.name == zone && z.tag == tag && z.data);
        if !known {
            return Err(cf.emerg(format!(
                "\"{directive}\" zone \"{}\" is unknown",
                String::from_utf8_lossy(&zone)
            )));
        }
    }
    Ok(())
}

/// nginx: ngx_http_file_cache_set_slot (`proxy_cache_path` & co); `tag` is the module.
pub(crate) fn file_cache_path(cf: &mut Cf<'_>, d: &Directive, tag: &'static str) -> SetResult {
    let show = |a: &[u8]| String::from_utf8_lossy(a).into_owned();
    let mut path = d.args[0].clone();
    if path.last() == Some(&b'/') {
        path.pop();
    }
    let full = crate::cycle::full_name(&cf.prefix, &path);
    let mut levels = [0usize; 3];
    let mut name: Vec<u8> = Vec::new();
    let mut size = 0u64;
    for a in &d.args[1..] {
        let bad = |cf: &mut Cf<'_>, what: &str| -> SetResult {
            Err(cf.emerg(format!("{what} \"{}\"", show(a))).into())
        };
        if let Some(v) = a.strip_prefix(b"levels=") {
            levels = [0; 3];
            let mut len = 0;
            let mut i = 0;
            let mut n = 0;
            let mut ok = true;
            while n < 3 && i < v.len() {
                if v[i] > b'0' && v[i] < b'3' {
                    levels[n] = usize::from(v[i] - b'0');
                    len += levels[n] + 1;
                    i += 1;
                    if i == v.len() {
                        break;
                    }
                    let c = v[i];
                    i += 1;
                    if c == b':' && n < 2 && i < v.len() {
                        n += 1;
                        continue;
                    }
                }
                ok = false;
                break;
            }
            if ok && len < 10 + 3 {
                continue;
            }
            return Err(cf
                .emerg(format!("invalid \"levels\" \"{}\"", show(a)))
                .into());
        }
        if let Some(v) = a.strip_prefix(b"use_temp_path=") {
            if v != b"on" && v != b"off" {
                return Err(cf
                    .emerg(format!(
                        "invalid use_temp_path value \"{}\", it must be \"on\" or \"off\"",
                        show(a)
                    ))
                    .into());
            }
            continue;
        }
        if let Some(v) = a.strip_prefix(b"keys_zone=") {
            let Some(c) = find(v, b':') else {
                return bad(cf, "invalid keys zone size");
            };
            name = v[..c].to_vec();
            match parse_size(&v[c + 1..]) {
                None => return bad(cf, "invalid keys zone size"),
                Some(s) if s < 2 * 4096 => {
                    return Err(cf
                        .emerg(format!("keys zone \"{}\" is too small", show(a)))
                        .into());
                }
                Some(s) => size = s,
            }
            continue;
        }
        type Check = (&'static [u8], &'static str, fn(&[u8]) -> bool);
        const CHECKS: &[Check] = &[
            (b"inactive=", "invalid inactive value", |v| {
                parse_time(v, true).is_some()
            }),
            (b"max_size=", "invalid max_size value", |v| {
                parse_offset(v).is_some()
            }),
            (b"min_free=", "invalid min_free value", |v| {
                parse_offset(v).is_some()
            }),
            (b"loader_files=", "invalid loader_files value", |v| {
                atoi(v).is_some()
            }),
            (b"loader_sleep=", "invalid loader_sleep value", |v| {
                parse_time(v, false).is_some()
            }),
            (
                b"loader_threshold=",
                "invalid loader_threshold value",
                |v| parse_time(v, false).is_some(),
            ),
            (b"manager_files=", "invalid manager_files value", |v| {
                atoi(v).is_some()
            }),
            (b"manager_sleep=", "invalid manager_sleep value", |v| {
                parse_time(v, false).is_some()
            }),
            (
                b"manager_threshold=",
                "invalid manager_threshold value",
                |v| parse_time(v, false).is_some(),
            ),
        ];
        if let Some((p, what, ok)) = CHECKS.iter().find(|(p, _, _)| a.starts_with(p)) {
            if ok(&a[p.len()..]) {
                continue;
            }
            return bad(cf, what);
        }
        return bad(cf, "invalid parameter");
    }
    if name.is_empty() || size == 0 {
        return Err(cf
            .emerg(format!(
                "\"{}\" must have \"keys_zone\" parameter",
                show(&d.name)
            ))
            .into());
    }
    add_path(cf, d, &full, levels)?;
    let zone = shared_memory_add(cf, &name, size, tag)?;
    let dup = {
        let z = &mut cf.main().get::<SharedMemory>().zones[zone];
        std::mem::replace(&mut z.data, true)
    };
    if dup {
        return Err(cf
            .emerg(format!("duplicate zone \"{}\"", show(&name)))
            .into());
    }
    Ok(())
}

/// Paths modules create (nginx: `cycle->paths`).
#[derive(Default, Debug)]
pub(crate) struct Paths {
    pub(crate) paths: Vec<PathEntry>,
}

#[derive(Debug, Clone)]
pub(crate) struct PathEntry {
    pub(crate) name: std::path::PathBuf,
    /// Read by the cache manager once proxy_cache runs (issue 5).
    #[allow(dead_code)]
    pub(crate) levels: [usize; 3],
    pub(crate) file: usize,
    pub(crate) line: usize,
}

/// nginx: ngx_add_path for a cache path (each cache path has its own owner: the same name
/// twice is an error).
fn add_path(
    cf: &mut Cf<'_>,
    d: &Directive,
    name: &std::path::Path,
    levels: [usize; 3],
) -> Result<(), Failed> {
    let prev = cf
        .main()
        .get::<Paths>()
        .paths
        .iter()
        .find(|p| p.name == name)
        .cloned();
    if let Some(p) = prev {
        let at = file_line(cf, p.file, p.line);
        return Err(cf.emerg(format!(
            "the same path name \"{}\" used in {at} and",
            p.name.display()
        )));
    }
    cf.main().get::<Paths>().paths.push(PathEntry {
        name: name.to_path_buf(),
        levels,
        file: d.file,
        line: d.line,
    });
    Ok(())
}

/// Shared memory zones (nginx: `cycle->shared_memory`).
#[derive(Default, Debug)]
pub(crate) struct SharedMemory {
    pub(crate) zones: Vec<Zone>,
}

#[derive(Debug, Clone)]
pub(crate) struct Zone {
    pub(crate) name: Vec<u8>,
    pub(crate) size: u64,
    /// The owning module (nginx: `shm_zone->tag`).
    pub(crate) tag: &'static str,
    /// Its owner claimed it (nginx: `shm_zone->data` set).
    pub(crate) data: bool,
}

/// nginx: ngx_shared_memory_add. Returns the zone's index.
pub(crate) fn shared_memory_add(
    cf: &mut Cf<'_>,
    name: &[u8],
    size: u64,
    tag: &'static str,
) -> Result<usize, Failed> {
    let zones = &mut cf.main().get::<SharedMemory>().zones;
    if let Some(i) = zones.iter().position(|z| z.name == name) {
        let z = &mut zones[i];
        let show = String::from_utf8_lossy(name).into_owned();
        if z.tag != tag {
            return Err(cf.emerg(format!(
                "the shared memory zone \"{show}\" is already declared for a different use"
            )));
        }
        if z.size == 0 {
            z.size = size;
        }
        if size != 0 && size != z.size {
            let old = z.size;
            return Err(cf.emerg(format!(
                "the size {size} of shared memory zone \"{show}\" conflicts with already declared size {old}"
            )));
        }
        return Ok(i);
    }
    zones.push(Zone {
        name: name.to_vec(),
        size,
        tag,
        data: false,
    });
    Ok(zones.len() - 1)
}

/// nginx: the `zero size shared memory zone "x"` check of ngx_init_cycle (after "syntax is
/// ok"): the text to log, if any.
pub(crate) fn check_shared_memory(main: &mut crate::conf::dispatch::Frame) -> Option<String> {
    main.get::<SharedMemory>()
        .zones
        .iter()
        .find(|z| z.size == 0)
        .map(|z| {
            format!(
                "zero size shared memory zone \"{}\"",
                String::from_utf8_lossy(&z.name)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(port: u16) -> UrlOpts {
        UrlOpts {
            default_port: port,
            uri_part: true,
            no_resolve: true,
            listen: false,
        }
    }

    #[test]
    fn urls() {
        let u = parse_url(b"127.0.0.1:8080/x", o(80)).unwrap_or_default();
        assert_eq!(u.port, 8080);
        assert_eq!(u.uri, b"/x");
        assert_eq!(u.naddrs(), 1);
        let u = parse_url(b"backend", o(80)).unwrap_or_default();
        assert!(u.no_port);
        assert_eq!(u.port, 80);
        assert_eq!(u.naddrs(), 0);
        assert_eq!(parse_url(b"h:0", o(80)).err(), Some("invalid port"));
        assert_eq!(parse_url(b":80", o(80)).err(), Some("no host"));
        assert_eq!(
            parse_url(b"unix:", o(80)).err(),
            Some("no path in the unix domain socket")
        );
        let u = parse_url(b"unix:/tmp/s:/uri", o(80)).unwrap_or_default();
        assert_eq!(u.unix.as_deref(), Some(&b"/tmp/s"[..]));
        assert_eq!(u.uri, b"/uri");
        assert_eq!(parse_url(b"[::1", o(80)).err(), Some("invalid host"));
        assert_eq!(
            parse_url(b"[zz]:1", o(80)).err(),
            Some("invalid IPv6 address")
        );
        let nouri = UrlOpts {
            uri_part: false,
            ..o(80)
        };
        assert_eq!(parse_url(b"h/x", nouri).err(), Some("invalid host"));
        let listen = UrlOpts {
            listen: true,
            ..o(80)
        };
        let u = parse_url(b"8080", listen).unwrap_or_default();
        assert!(u.wildcard);
        assert_eq!(u.port, 8080);
        assert_eq!(parse_url(b"70000", listen).err(), Some("invalid port"));
    }

    #[test]
    fn addr_port() {
        assert!(parse_addr_port(b"127.0.0.1").is_some());
        assert!(parse_addr_port(b"127.0.0.1:80").is_some());
        assert!(parse_addr_port(b"[::1]:80").is_some());
        assert!(parse_addr_port(b"::1").is_some());
        assert!(parse_addr_port(b"localhost").is_none());
        assert!(parse_addr_port(b"1.2.3.4:0").is_none());
        assert_eq!(inet_addr(b"1..2.3"), Some(Ipv4Addr::new(1, 0, 2, 3)));
    }
}
