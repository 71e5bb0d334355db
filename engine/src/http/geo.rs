//! ngx_http_geo_module: `geo [$address] $variable { ... }`.
//!
//! Also home of nginx's address parsers that other modules share: [`inet_addr`],
//! [`inet6_addr`] and [`ptocidr`] (nginx: ngx_inet.c).

use std::collections::HashMap;

use parser::{Body, Directive};

use crate::conf::dispatch::Failed;
use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult};
use crate::http::map::data_lines;
use crate::http::variables;
use crate::log::Level;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_geo_module",
    commands: &[cmd(
        "geo",
        Ctx::HTTP_MAIN,
        Args::BLOCK.or(Args::TAKE12),
        Set::Handler(geo_block),
    )],
};

fn lossy(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

/// nginx: ngx_inet_addr (host order; `None` is INADDR_NONE, so "255.255.255.255" is `None`).
pub(crate) fn inet_addr(text: &[u8]) -> Option<u32> {
    let (mut addr, mut octet, mut n) = (0u32, 0u32, 0);
    for &c in text {
        if c.is_ascii_digit() {
            octet = octet * 10 + u32::from(c - b'0');
            if octet > 255 {
                return None;
            }
            continue;
        }
        if c == b'.' {
            addr = (addr << 8).wrapping_add(octet);
            octet = 0;
            n += 1;
            continue;
        }
        return None;
    }
    if n == 3 {
        let a = (addr << 8).wrapping_add(octet);
        (a != u32::MAX).then_some(a)
    } else {
        None
    }
}

/// nginx: ngx_inet6_addr
pub(crate) fn inet6_addr(text: &[u8]) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    let mut p = text;
    if p.is_empty() {
        return None;
    }
    let mut zero: Option<usize> = None;
    let mut digit: Option<&[u8]> = None;
    let (mut a, mut nibbles, mut word, mut n) = (0usize, 0, 0u32, 8);
    if p[0] == b':' {
        p = &p[1..];
    }
    let mut i = 0;
    while i < p.len() {
        let c = p[i];
        i += 1;
        if c == b':' {
            if nibbles > 0 {
                digit = Some(&p[i..]);
                *out.get_mut(a)? = (word >> 8) as u8;
                *out.get_mut(a + 1)? = word as u8;
                a += 2;
                n -= 1;
                if n > 0 {
                    nibbles = 0;
                    word = 0;
                    continue;
                }
            } else if zero.is_none() {
                digit = Some(&p[i..]);
                zero = Some(a);
                continue;
            }
            return None;
        }
        if c == b'.' && nibbles > 0 {
            let d = digit?;
            if n < 2 {
                return None;
            }
            word = inet_addr(d)?;
            *out.get_mut(a)? = (word >> 24) as u8;
            *out.get_mut(a + 1)? = (word >> 16) as u8;
            a += 2;
            n -= 1;
            break;
        }
        nibbles += 1;
        if nibbles > 4 {
            return None;
        }
        let v = match c {
            b'0'..=b'9' => c - b'0',
            _ => match c | 0x20 {
                x @ b'a'..=b'f' => x - b'a' + 10,
                _ => return None,
            },
        };
        word = word * 16 + u32::from(v);
    }
    if nibbles == 0 && zero.is_none() {
        return None;
    }
    *out.get_mut(a)? = (word >> 8) as u8;
    *out.get_mut(a + 1)? = word as u8;
    a += 2;
    n -= 1;
    if n > 0 {
        let z = zero?;
        let shift = n * 2;
        // Move [z, a) to the end, zero the gap.
        let moved: Vec<u8> = out[z..a].to_vec();
        let dst = z + shift;
        out.get_mut(dst..dst + moved.len())?.copy_from_slice(&moved);
        for b in out.iter_mut().skip(z).take(shift) {
            *b = 0;
        }
        Some(out)
    } else if zero.is_none() {
        Some(out)
    } else {
        None
    }
}

/// A parsed network (nginx: ngx_cidr_t).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Cidr {
    V4 { addr: u32, mask: u32 },
    V6 { addr: [u8; 16], mask: [u8; 16] },
}

/// nginx: ngx_ptocidr: `Err(())` is NGX_ERROR; `Ok((cidr, true))` is NGX_DONE (low address
/// bits were set and are cleared).
#[allow(clippy::result_unit_err)]
pub(crate) fn ptocidr(text: &[u8]) -> Result<(Cidr, bool), ()> {
    let slash = text.iter().position(|&c| c == b'/');
    let addr = &text[..slash.unwrap_or(text.len())];
    let shift_text = slash.map(|s| &text[s + 1..]);
    if let Some(a) = inet_addr(addr) {
        let Some(st) = shift_text else {
            return Ok((
                Cidr::V4 {
                    addr: a,
                    mask: u32::MAX,
                },
                false,
            ));
        };
        let shift = crate::conf::values::atoi(st).ok_or(())?;
        if shift > 32 {
            return Err(());
        }
        let mask = if shift == 0 {
            0
        } else {
            u32::MAX << (32 - shift)
        };
        return Ok((
            Cidr::V4 {
                addr: a & mask,
                mask,
            },
            a != a & mask,
        ));
    }
    let mut a6 = inet6_addr(addr).ok_or(())?;
    let Some(st) = shift_text else {
        return Ok((
            Cidr::V6 {
                addr: a6,
                mask: [0xff; 16],
            },
            false,
        ));
    };
    let mut shift = crate::conf::values::atoi(st).ok_or(())?;
    if shift > 128 {
        return Err(());
    }
    let mut mask = [0u8; 16];
    let mut done = false;
    for i in 0..16 {
        let s = shift.min(8);
        shift -= s;
        mask[i] = (0xffu32 << (8 - s)) as u8;
        if a6[i] != a6[i] & mask[i] {
            done = true;
            a6[i] &= mask[i];
        }
    }
    Ok((Cidr::V6 { addr: a6, mask }, done))
}

/// The state of one `geo` block while its lines are read (nginx: ngx_http_geo_conf_ctx_t).
#[derive(Default)]
struct GeoCtx {
    ranges: bool,
    /// The radix trees exist (a network line was read).
    tree: bool,
    /// Networks with a value (nginx's radix trees, exact nodes only).
    nets: HashMap<Cidr, Vec<u8>>,
    /// Ranges mode: per high 16 bits, sorted `(start, end, value)` of the low 16 bits.
    low: HashMap<u32, Vec<(u32, u32, Vec<u8>)>>,
    default_value: Option<Vec<u8>>,
}

/// nginx: ngx_http_geo_block
fn geo_block<'a>(cf: &mut Cf<'a>, d: &'a Directive) -> SetResult {
    let Some(first) = d.args.first() else {
        return Ok(());
    };
    let Some(mut name) = first.strip_prefix(b"$") else {
        return Err(cf
            .emerg(format!("invalid variable name \"{}\"", lossy(first)))
            .into());
    };
    if let Some(second) = d.args.get(1) {
        variables::get_variable_index(cf, name)?;
        let Some(n) = second.strip_prefix(b"$") else {
            return Err(cf
                .emerg(format!("invalid variable name \"{}\"", lossy(second)))
                .into());
        };
        name = n;
    }
    variables::add_variable(cf, name, true)?;
    let Body::Block(block) = &d.body else {
        return Ok(());
    };
    let mut ctx = GeoCtx::default();
    data_lines(cf, block, |cf, value| geo_line(cf, &mut ctx, value))?;
    Ok(())
}

/// nginx: ngx_http_geo
fn geo_line(cf: &mut Cf<'_>, ctx: &mut GeoCtx, value: &[&[u8]]) -> Result<(), Failed> {
    if value.len() == 1 {
        if value[0] == b"ranges" {
            if ctx.tree {
                return Err(cf.emerg(
                    "the \"ranges\" directive must be the first directive inside \"geo\" block",
                ));
            }
            ctx.ranges = true;
            return Ok(());
        }
        if value[0] == b"proxy_recursive" {
            return Ok(());
        }
    }
    if value.len() != 2 {
        return Err(cf.emerg("invalid number of the geo parameters"));
    }
    if value[0] == b"proxy" {
        geo_cidr_value(cf, value[1])?;
        return Ok(());
    }
    if ctx.ranges {
        geo_range(cf, ctx, value)
    } else {
        geo_cidr(cf, ctx, value)
    }
}

/// nginx: ngx_http_geo_range
fn geo_range(cf: &mut Cf<'_>, ctx: &mut GeoCtx, value: &[&[u8]]) -> Result<(), Failed> {
    if value[0] == b"default" {
        if let Some(old) = &ctx.default_value {
            let text = format!(
                "duplicate default geo range value: \"{}\", old value: \"{}\"",
                lossy(value[1]),
                lossy(old)
            );
            cf.conf_log(Level::Warn, text);
        }
        ctx.default_value = Some(value[1].to_vec());
        return Ok(());
    }
    let (net, del) = if value[0] == b"delete" {
        (value[1], true)
    } else {
        (value[0], false)
    };
    let parsed = net.iter().position(|&c| c == b'-').and_then(|dash| {
        let start = inet_addr(&net[..dash])?;
        let end = inet_addr(&net[dash + 1..])?;
        (start <= end).then_some((start, end))
    });
    let Some((start, end)) = parsed else {
        return Err(cf.emerg(format!("invalid range \"{}\"", lossy(net))));
    };
    if del {
        if geo_delete_range(ctx, start, end) {
            cf.conf_log(
                Level::Warn,
                format!("no address range \"{}\" to delete", lossy(net)),
            );
        }
        return Ok(());
    }
    geo_add_range(cf, ctx, net, value[1], start, end)
}

/// The high-16-bit pieces of a range: `(h, s, e)` (nginx's loop in ngx_http_geo_add_range).
fn range_pieces(start: u32, end: u32) -> Vec<(u32, u32, u32)> {
    let mut out = Vec::new();
    let mut n = u64::from(start);
    let end64 = u64::from(end);
    while n <= end64 {
        let h = (n >> 16) as u32;
        let s = if n == u64::from(start) {
            (n & 0xffff) as u32
        } else {
            0
        };
        let e = if (n | 0xffff) > end64 {
            end & 0xffff
        } else {
            0xffff
        };
        out.push((h, s, e));
        if h == 0xffff {
            break;
        }
        n = (n + 0x10000) & 0xffff_0000;
    }
    out
}

/// nginx: ngx_http_geo_add_range
fn geo_add_range(
    cf: &mut Cf<'_>,
    ctx: &mut GeoCtx,
    net: &[u8],
    value: &[u8],
    start: u32,
    end: u32,
) -> Result<(), Failed> {
    for (h, s, e) in range_pieces(start, end) {
        let a = ctx.low.entry(h).or_default();
        let mut i = a.len();
        let mut placed = false;
        while i > 0 {
            i -= 1;
            let (rs, re) = (a[i].0, a[i].1);
            if e < rs {
                continue;
            }
            if s > re {
                a.insert(i + 1, (s, e, value.to_vec()));
            } else if s == rs && e == re {
                let text = format!(
                    "duplicate range \"{}\", value: \"{}\", old value: \"{}\"",
                    lossy(net),
                    lossy(value),
                    lossy(&a[i].2)
                );
                a[i].2 = value.to_vec();
                cf.conf_log(Level::Warn, text);
            } else if s > rs && e < re {
                let old = a[i].clone();
                a.insert(i + 1, (e + 1, old.1, old.2));
                a.insert(i + 1, (s, e, value.to_vec()));
                a[i].1 = s - 1;
            } else if s == rs && e < re {
                a.insert(i, (s, e, value.to_vec()));
                a[i + 1].0 = e + 1;
            } else if s > rs && e == re {
                a.insert(i + 1, (s, e, value.to_vec()));
                a[i].1 = s - 1;
            } else {
                return Err(cf.emerg(format!(
                    "range \"{}\" overlaps \"{}.{}.{}.{}-{}.{}.{}.{}\"",
                    lossy(net),
                    h >> 8,
                    h & 0xff,
                    rs >> 8,
                    rs & 0xff,
                    h >> 8,
                    h & 0xff,
                    re >> 8,
                    re & 0xff
                )));
            }
            placed = true;
            break;
        }
        if !placed {
            a.insert(0, (s, e, value.to_vec()));
        }
    }
    Ok(())
}

/// nginx: ngx_http_geo_delete_range: true when some piece was not there (warn).
fn geo_delete_range(ctx: &mut GeoCtx, start: u32, end: u32) -> bool {
    let mut warn = false;
    for (h, s, e) in range_pieces(start, end) {
        match ctx.low.get_mut(&h) {
            Some(a) if !a.is_empty() => match a.iter().position(|r| r.0 == s && r.1 == e) {
                Some(i) => {
                    a.remove(i);
                }
                None => warn = true,
            },
            _ => warn = true,
        }
    }
    warn
}

/// nginx: ngx_http_geo_cidr
fn geo_cidr(cf: &mut Cf<'_>, ctx: &mut GeoCtx, value: &[&[u8]]) -> Result<(), Failed> {
    ctx.tree = true;
    if value[0] == b"default" {
        geo_cidr_add(cf, ctx, Cidr::V4 { addr: 0, mask: 0 }, value[1], value[0]);
        geo_cidr_add(
            cf,
            ctx,
            Cidr::V6 {
                addr: [0; 16],
                mask: [0; 16],
            },
            value[1],
            value[0],
        );
        return Ok(());
    }
    let (net, del) = if value[0] == b"delete" {
        (value[1], true)
    } else {
        (value[0], false)
    };
    let cidr = geo_cidr_value(cf, net)?;
    if del {
        if ctx.nets.remove(&cidr).is_none() {
            cf.conf_log(
                Level::Warn,
                format!("no network \"{}\" to delete", lossy(net)),
            );
        }
        return Ok(());
    }
    geo_cidr_add(cf, ctx, cidr, value[1], net);
    Ok(())
}

/// nginx: ngx_http_geo_cidr_add: a network already there is replaced, with a warning that
/// shows the value the radix tree finds for its address (the longest matching prefix).
fn geo_cidr_add(cf: &mut Cf<'_>, ctx: &mut GeoCtx, cidr: Cidr, value: &[u8], net: &[u8]) {
    if ctx.nets.contains_key(&cidr) {
        let old = radix_find(&ctx.nets, &cidr).unwrap_or_default();
        cf.conf_log(
            Level::Warn,
            format!(
                "duplicate network \"{}\", value: \"{}\", old value: \"{}\"",
                lossy(net),
                lossy(value),
                lossy(&old)
            ),
        );
    }
    ctx.nets.insert(cidr, value.to_vec());
}

/// nginx: ngx_radix32tree_find / ngx_radix128tree_find: the value of the longest prefix that
/// contains `cidr`'s address.
fn radix_find(nets: &HashMap<Cidr, Vec<u8>>, cidr: &Cidr) -> Option<Vec<u8>> {
    let mut best: Option<(u32, &Vec<u8>)> = None;
    for (net, value) in nets {
        let bits = match (net, cidr) {
            (Cidr::V4 { addr, mask }, Cidr::V4 { addr: a, .. }) if a & mask == *addr => {
                mask.count_ones()
            }
            (Cidr::V6 { addr, mask }, Cidr::V6 { addr: a, .. })
                if (0..16).all(|i| a[i] & mask[i] == addr[i]) =>
            {
                mask.iter().map(|m| m.count_ones()).sum()
            }
            _ => continue,
        };
        if best.is_none_or(|(b, _)| bits > b) {
            best = Some((bits, value));
        }
    }
    best.map(|(_, v)| v.clone())
}

/// nginx: ngx_http_geo_cidr_value
fn geo_cidr_value(cf: &mut Cf<'_>, net: &[u8]) -> Result<Cidr, Failed> {
    if net == b"255.255.255.255" {
        return Ok(Cidr::V4 {
            addr: u32::MAX,
            mask: u32::MAX,
        });
    }
    match ptocidr(net) {
        Err(()) => Err(cf.emerg(format!("invalid network \"{}\"", lossy(net)))),
        Ok((cidr, done)) => {
            if done {
                cf.conf_log(
                    Level::Warn,
                    format!("low address bits of {} are meaningless", lossy(net)),
                );
            }
            Ok(cidr)
        }
    }
}

// ---- Run time (issue 3): the geo variable, evaluated lazily per request. ----

/// A `geo` block at run time (nginx: ngx_http_geo_ctx_t).
#[derive(Debug)]
pub(crate) struct GeoRt {
    /// The address variable (`None`: the client address).
    source: Option<Vec<u8>>,
    proxies: Vec<Cidr>,
    proxy_recursive: bool,
    kind: GeoKind,
}

/// `ranges` mode: per high 16 bits of the address, sorted `(start, end, value)` of the low.
type LowRanges = HashMap<u32, Vec<(u32, u32, Vec<u8>)>>;

#[derive(Debug)]
enum GeoKind {
    /// Networks, most specific first (nginx's radix trees).
    Cidr(Vec<(Cidr, Vec<u8>)>),
    /// `ranges`: per high 16 bits, the low 16-bit ranges.
    Ranges { low: LowRanges, default: Vec<u8> },
}

fn mask_bits(c: &Cidr) -> u32 {
    match c {
        Cidr::V4 { mask, .. } => mask.count_ones(),
        Cidr::V6 { mask, .. } => mask.iter().map(|m| m.count_ones()).sum(),
    }
}

/// nginx: ngx_http_geo_cidr_value without the warnings.
fn rt_cidr(net: &[u8]) -> Option<Cidr> {
    if net == b"255.255.255.255" {
        return Some(Cidr::V4 {
            addr: u32::MAX,
            mask: u32::MAX,
        });
    }
    ptocidr(net).ok().map(|(c, _)| c)
}

/// nginx: ngx_http_geo_add_range for a checked configuration.
fn rt_add_range(low: &mut LowRanges, start: u32, end: u32, v: &[u8]) {
    for (h, s, e) in range_pieces(start, end) {
        let a = low.entry(h).or_default();
        let mut i = a.len();
        let mut placed = false;
        while i > 0 {
            i -= 1;
            let (rs, re) = (a[i].0, a[i].1);
            if e < rs {
                continue;
            }
            if s > re {
                a.insert(i + 1, (s, e, v.to_vec()));
            } else if s == rs && e == re {
                a[i].2 = v.to_vec();
            } else if s > rs && e < re {
                let old = a[i].clone();
                a.insert(i + 1, (e + 1, old.1, old.2));
                a.insert(i + 1, (s, e, v.to_vec()));
                a[i].1 = s - 1;
            } else if s == rs && e < re {
                a.insert(i, (s, e, v.to_vec()));
                a[i + 1].0 = e + 1;
            } else if s > rs && e == re {
                a.insert(i + 1, (s, e, v.to_vec()));
                a[i].1 = s - 1;
            }
            placed = true;
            break;
        }
        if !placed {
            a.insert(0, (s, e, v.to_vec()));
        }
    }
}

/// The geo of a (checked) `geo [$address] $name { ... }`: its variable's name and runtime
/// form (nginx: ngx_http_geo_block and ngx_http_geo).
pub(crate) fn lower(d: &Directive) -> Option<(Vec<u8>, GeoRt)> {
    let (source, name) = match (d.args.first(), d.args.get(1)) {
        (Some(a), Some(n)) => (
            Some(a.strip_prefix(b"$")?.to_ascii_lowercase()),
            n.strip_prefix(b"$")?,
        ),
        (Some(n), None) => (None, n.strip_prefix(b"$")?),
        _ => return None,
    };
    let Body::Block(block) = &d.body else {
        return None;
    };
    let mut ranges = false;
    let mut proxies = Vec::new();
    let mut proxy_recursive = false;
    let mut nets: HashMap<Cidr, Vec<u8>> = HashMap::new();
    let mut low: LowRanges = HashMap::new();
    let mut default: Option<Vec<u8>> = None;
    for line in &block.directives {
        let key = line.name.as_slice();
        match (key, line.args.as_slice()) {
            (b"ranges", []) => ranges = true,
            (b"proxy_recursive", []) => proxy_recursive = true,
            (b"proxy", [net]) => proxies.extend(rt_cidr(net)),
            (b"include", [_]) => {}
            (b"default", [v]) if ranges => default = Some(v.clone()),
            (b"default", [v]) => {
                nets.insert(Cidr::V4 { addr: 0, mask: 0 }, v.clone());
                let zero = Cidr::V6 {
                    addr: [0; 16],
                    mask: [0; 16],
                };
                nets.insert(zero, v.clone());
            }
            (b"delete", [net]) if ranges => {
                let r = net.iter().position(|&c| c == b'-').and_then(|dash| {
                    Some((inet_addr(&net[..dash])?, inet_addr(&net[dash + 1..])?))
                });
                if let Some((s, e)) = r {
                    for (h, ps, pe) in range_pieces(s, e) {
                        if let Some(a) = low.get_mut(&h) {
                            a.retain(|r| !(r.0 == ps && r.1 == pe));
                        }
                    }
                }
            }
            (b"delete", [net]) => {
                if let Some(c) = rt_cidr(net) {
                    nets.remove(&c);
                }
            }
            (net, [v]) if ranges => {
                let r = net.iter().position(|&c| c == b'-').and_then(|dash| {
                    Some((inet_addr(&net[..dash])?, inet_addr(&net[dash + 1..])?))
                });
                if let Some((s, e)) = r.filter(|(s, e)| s <= e) {
                    rt_add_range(&mut low, s, e, v);
                }
            }
            (net, [v]) => {
                if let Some(c) = rt_cidr(net) {
                    nets.insert(c, v.clone());
                }
            }
            _ => {}
        }
    }
    let kind = if ranges {
        GeoKind::Ranges {
            low,
            default: default.unwrap_or_default(),
        }
    } else {
        let mut list: Vec<(Cidr, Vec<u8>)> = nets.into_iter().collect();
        list.sort_by_key(|(c, _)| std::cmp::Reverse(mask_bits(c)));
        GeoKind::Cidr(list)
    };
    Some((
        name.to_vec(),
        GeoRt {
            source,
            proxies,
            proxy_recursive,
            kind,
        },
    ))
}

/// nginx: ngx_parse_addr (an IPv4 or IPv6 address, no port).
fn parse_addr(text: &[u8]) -> Option<std::net::IpAddr> {
    if let Some(a) = inet_addr(text) {
        return Some(std::net::IpAddr::V4(a.into()));
    }
    inet6_addr(text).map(|a| std::net::IpAddr::V6(a.into()))
}

/// nginx: ngx_parse_addr_port (`addr`, `addr:port`, `[v6]:port`).
pub(crate) fn parse_addr_port(text: &[u8]) -> Option<std::net::IpAddr> {
    if let Some(rest) = text.strip_prefix(b"[") {
        let end = rest.iter().position(|&c| c == b']')?;
        return inet6_addr(&rest[..end]).map(|a| std::net::IpAddr::V6(a.into()));
    }
    if let Some(a) = parse_addr(text) {
        return Some(a);
    }
    let colon = text.iter().rposition(|&c| c == b':')?;
    inet_addr(&text[..colon]).map(|a| std::net::IpAddr::V4(a.into()))
}

pub(crate) fn cidr_match(ip: &std::net::IpAddr, c: &Cidr) -> bool {
    match (ip, c) {
        (std::net::IpAddr::V4(v4), Cidr::V4 { addr, mask }) => u32::from(*v4) & mask == *addr,
        (std::net::IpAddr::V6(v6), Cidr::V6 { addr, mask }) => {
            let o = v6.octets();
            (0..16).all(|i| o[i] & mask[i] == addr[i])
        }
        _ => false,
    }
}

impl GeoRt {
    /// nginx: ngx_http_geo_addr: the address the geo looks up (`None`: INADDR_NONE).
    fn addr(&self, r: &crate::http::request::Request) -> Option<std::net::IpAddr> {
        let mut addr = match &self.source {
            None => r.conn.remote?.ip(),
            Some(var) => parse_addr(&r.variable(var)?)?,
        };
        if !self.proxies.is_empty() {
            let xff: Vec<&[u8]> = r
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .map(|h| h.as_bytes())
                .collect();
            let trusted = |a: Option<std::net::SocketAddr>| {
                a.is_some_and(|a| self.proxies.iter().any(|c| cidr_match(&a.ip(), c)))
            };
            let start = Some(std::net::SocketAddr::new(addr, 0));
            let recursive = self.proxy_recursive;
            if let Some(a) =
                crate::http::realip::forwarded_addr(start, &xff, true, &trusted, recursive)
            {
                addr = a.ip();
            }
        }
        Some(addr)
    }

    /// nginx: ngx_http_geo_cidr_variable / ngx_http_geo_range_variable.
    pub(crate) fn value(&self, r: &crate::http::request::Request) -> Vec<u8> {
        self.lookup(self.addr(r))
    }

    /// A stream session's value (nginx: ngx_stream_geo_addr: the client address or the
    /// source variable's; stream's geo has no `proxy`).
    pub(crate) fn value_stream(
        &self,
        remote: Option<std::net::IpAddr>,
        var: impl Fn(&[u8]) -> Option<Vec<u8>>,
    ) -> Vec<u8> {
        let addr = match &self.source {
            None => remote,
            Some(v) => var(v).and_then(|t| parse_addr(&t)),
        };
        self.lookup(addr)
    }

    fn lookup(&self, addr: Option<std::net::IpAddr>) -> Vec<u8> {
        let addr = addr.map(|a| match a {
            std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => std::net::IpAddr::V4(v4),
                None => std::net::IpAddr::V6(v6),
            },
            a => a,
        });
        match &self.kind {
            GeoKind::Cidr(nets) => {
                let ip = addr.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::BROADCAST));
                nets.iter()
                    .find(|(c, _)| cidr_match(&ip, c))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            }
            GeoKind::Ranges { low, default } => {
                let inaddr = match addr {
                    Some(std::net::IpAddr::V4(v4)) => u32::from(v4),
                    _ => u32::MAX,
                };
                low.get(&(inaddr >> 16))
                    .and_then(|a| {
                        let n = inaddr & 0xffff;
                        a.iter().find(|(s, e, _)| n >= *s && n <= *e)
                    })
                    .map_or_else(|| default.clone(), |(_, _, v)| v.clone())
            }
        }
    }
}

#[cfg(test)]
mod rt_tests {
    use super::*;

    /// The first directive of `text`, parsed as a configuration file.
    fn directive(text: &str) -> parser::Directive {
        let path = std::env::temp_dir().join(format!(
            "oxresty-rt-{}-{:?}.conf",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::write(&path, text);
        let opts = parser::Options {
            conf_prefix: "/".into(),
        };
        let conf = parser::parse_file(&path, &opts);
        let _ = std::fs::remove_file(&path);
        conf.directives
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{text}"))
    }

    fn v4(s: &str) -> std::net::IpAddr {
        s.parse()
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn cidr_longest_prefix_and_delete() {
        let d = directive(
            "geo $arg_ip $g { default none; 10.0.0.0/8 ten; 10.1.0.0/16 ten1; \
             20.0.0.0/8 twenty; delete 20.0.0.0/8; proxy 127.0.0.1; proxy_recursive; }",
        );
        let (name, g) = lower(&d).unwrap_or_else(|| panic!());
        assert_eq!(name, b"g");
        assert_eq!(g.source.as_deref(), Some(&b"arg_ip"[..]));
        assert!(g.proxy_recursive && g.proxies.len() == 1);
        let GeoKind::Cidr(nets) = &g.kind else {
            panic!("not cidr")
        };
        let find = |ip: &str| {
            nets.iter()
                .find(|(c, _)| cidr_match(&v4(ip), c))
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        };
        assert_eq!(find("10.1.2.3").as_deref(), Some("ten1"));
        assert_eq!(find("10.2.2.3").as_deref(), Some("ten"));
        assert_eq!(find("20.0.0.1").as_deref(), Some("none"));
        assert_eq!(find("::1").as_deref(), Some("none"));
    }

    #[test]
    fn ranges_split_and_delete() {
        let mut low = HashMap::new();
        rt_add_range(&mut low, 0x0a00_0000, 0x0a00_00ff, b"a");
        rt_add_range(&mut low, 0x0a00_0010, 0x0a00_0020, b"b");
        let a = &low[&0x0a00];
        let got: Vec<(u32, u32, &[u8])> = a.iter().map(|r| (r.0, r.1, r.2.as_slice())).collect();
        assert_eq!(
            got,
            vec![(0, 0x0f, &b"a"[..]), (0x10, 0x20, b"b"), (0x21, 0xff, b"a")]
        );
    }

    #[test]
    fn forwarded_for() {
        let proxies = [Cidr::V4 {
            addr: 0x7f00_0000,
            mask: 0xff00_0000,
        }];
        let trusted = |a: Option<std::net::SocketAddr>| {
            a.is_some_and(|a| proxies.iter().any(|c| cidr_match(&a.ip(), c)))
        };
        let from = |ip: &str| Some(std::net::SocketAddr::new(v4(ip), 0));
        let forwarded = |start: &str, xff: &[u8], recursive: bool| {
            crate::http::realip::forwarded_addr(from(start), &[xff], true, &trusted, recursive)
                .map(|a| a.ip())
        };
        assert_eq!(
            forwarded("127.0.0.1", b"1.1.1.1, 127.0.0.2", false),
            Some(v4("127.0.0.2"))
        );
        assert_eq!(
            forwarded("127.0.0.1", b"1.1.1.1, 127.0.0.2", true),
            Some(v4("1.1.1.1"))
        );
        assert_eq!(forwarded("8.8.8.8", b"1.1.1.1", true), None);
        assert_eq!(parse_addr_port(b"1.2.3.4:80"), Some(v4("1.2.3.4")));
        assert_eq!(parse_addr_port(b"[::1]:80"), Some(v4("::1")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(inet_addr(b"10.0.0.1"), Some(0x0a00_0001));
        assert_eq!(inet_addr(b"255.255.255.255"), None);
        assert_eq!(inet_addr(b"1.2.3"), None);
        assert_eq!(inet_addr(b"1.2.3.256"), None);
        assert_eq!(inet6_addr(b"::1").map(|a| a[15]), Some(1));
        assert_eq!(inet6_addr(b"::"), Some([0; 16]));
        assert!(inet6_addr(b"1::2::3").is_none());
        assert!(inet6_addr(b"12345::").is_none());
        let a = inet6_addr(b"::ffff:1.2.3.4").unwrap_or_default();
        assert_eq!(&a[10..], &[0xff, 0xff, 1, 2, 3, 4]);
        assert_eq!(inet6_addr(b"2001:db8::"), {
            let mut x = [0u8; 16];
            x[0] = 0x20;
            x[1] = 0x01;
            x[2] = 0x0d;
            x[3] = 0xb8;
            Some(x)
        });
        assert_eq!(
            ptocidr(b"10.0.0.1/8"),
            Ok((
                Cidr::V4 {
                    addr: 0x0a00_0000,
                    mask: 0xff00_0000
                },
                true
            ))
        );
        assert_eq!(ptocidr(b"10.0.0.0/33"), Err(()));
        assert!(ptocidr(b"::1/129").is_err());
        assert!(matches!(ptocidr(b"::1/64"), Ok((_, true))));
        assert!(ptocidr(b"x").is_err());
    }

    #[test]
    fn pieces() {
        assert_eq!(
            range_pieces(0x0001_fff0, 0x0002_0010),
            vec![(1, 0xfff0, 0xffff), (2, 0, 0x10)]
        );
        assert_eq!(
            range_pieces(0xffff_0000, 0xffff_ffff),
            vec![(0xffff, 0, 0xffff)]
        );
    }
}
