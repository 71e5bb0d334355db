//! The `resolver` for upstream names known only at request time (`proxy_pass` /
//! `fastcgi_pass` with variables): A queries to the configured servers, every address of the
//! answer, a per-worker cache kept for the answer's TTL or the resolver's `valid=` time, and
//! nginx's texts when resolution fails (nginx: ngx_resolver.c's ngx_resolve_name, the name
//! cache, ngx_resolver_export's rotation of cached answers, ngx_resolver_strerror).

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// nginx: ngx_resolver_strerror.
pub(crate) fn strerror(code: u32) -> &'static str {
    match code {
        1 => "Format error",
        2 => "Server failure",
        3 => "Host not found",
        4 => "Unimplemented",
        5 => "Operation refused",
        110 => "Operation timed out",
        _ => "Unknown error",
    }
}

/// `valid=time` of a `resolver` directive (nginx: ngx_resolver_create's `r->valid`).
pub(crate) fn valid_of(d: &parser::Directive) -> Option<Duration> {
    d.args.iter().find_map(|a| {
        let v = a.strip_prefix(b"valid=")?;
        // nginx: `valid=0` leaves the answers' TTLs
        crate::conf::values::parse_time(v, true)
            .and_then(|n| u64::try_from(n).ok())
            .filter(|&n| n > 0)
            .map(Duration::from_secs)
    })
}

/// A resolver (its servers and `valid=`) and a lower-cased name.
type CacheKey = (Vec<SocketAddr>, Option<Duration>, String);

/// A cached answer (nginx: ngx_resolver_node_t with `valid`).
struct Entry {
    addrs: Vec<IpAddr>,
    until: Instant,
}

thread_local! {
    /// The worker's name cache, by resolver (servers, `valid=`) and lower-cased name.
    static CACHE: RefCell<HashMap<CacheKey, Entry>> =
        RefCell::new(HashMap::new());
    /// Rotation of cached answers (nginx: ngx_random() in ngx_resolver_export).
    static ROTATE: std::cell::Cell<u64> = const { std::cell::Cell::new(0x2545_f491_4f6c_dd1d) };
}

fn next_random() -> u64 {
    ROTATE.with(|c| {
        // xorshift64
        let mut x = c.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c.set(x);
        x
    })
}

/// nginx: ngx_resolve_name: the addresses of `host` (a cached answer first, its addresses
/// rotated by a random offset as nginx exports cached answers); `Err` is nginx's log text
/// (`NAME could not be resolved (3: Host not found)`). `valid`: the resolver's `valid=`
/// (in place of the answer's TTL).
pub(crate) async fn resolve(
    servers: &[SocketAddr],
    host: &str,
    timeout: Duration,
    valid: Option<Duration>,
) -> Result<Vec<IpAddr>, String> {
    let key = (servers.to_vec(), valid, host.to_ascii_lowercase());
    let cached = CACHE.with(|c| {
        let mut c = c.borrow_mut();
        match c.get(&key) {
            Some(e) if e.until > Instant::now() => Some(e.addrs.clone()),
            Some(_) => {
                c.remove(&key);
                None
            }
            None => None,
        }
    });
    if let Some(mut addrs) = cached {
        if addrs.len() > 1 {
            let k = (next_random() % addrs.len() as u64) as usize;
            addrs.rotate_left(k);
        }
        return Ok(addrs);
    }
    let bad = |code: u32| format!("{host} could not be resolved ({code}: {})", strerror(code));
    match query(servers, host, timeout).await {
        Ok((addrs, ttl)) => {
            let keep = valid.unwrap_or(Duration::from_secs(u64::from(ttl)));
            if !keep.is_zero() {
                // Bounded: a worker resolving endless names keeps the newest.
                CACHE.with(|c| {
                    let mut c = c.borrow_mut();
                    if c.len() >= 4096 {
                        let now = Instant::now();
                        c.retain(|_, e| e.until > now);
                        if c.len() >= 4096 {
                            c.clear();
                        }
                    }
                    c.insert(
                        key,
                        Entry {
                            addrs: addrs.clone(),
                            until: Instant::now() + keep,
                        },
                    );
                });
            }
            Ok(addrs)
        }
        Err(code) => Err(bad(code)),
    }
}

/// One A query, resent every 5 seconds (to the next server) until `timeout`: the answer's
/// addresses and their smallest TTL, or nginx's error code (the rcode, 3 for an answer
/// without addresses, 110 on timeout).
async fn query(
    servers: &[SocketAddr],
    host: &str,
    timeout: Duration,
) -> Result<(Vec<IpAddr>, u32), u32> {
    if servers.is_empty() {
        return Err(110);
    }
    let id = (next_random() & 0xffff) as u16;
    let mut q = Vec::with_capacity(32 + host.len());
    q.extend_from_slice(&id.to_be_bytes());
    // recursion desired, one question
    q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in host.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(1);
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let attempt = async {
        let mut buf = vec![0u8; 4096];
        let mut i = 0usize;
        loop {
            let Some(server) = servers.get(i % servers.len()) else {
                return Err(110);
            };
            i += 1;
            let bind: SocketAddr = if server.is_ipv4() {
                (Ipv4Addr::UNSPECIFIED, 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let Ok(sock) = tokio::net::UdpSocket::bind(bind).await else {
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            };
            if sock.connect(server).await.is_err() || sock.send(&q).await.is_err() {
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            loop {
                let got = tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await;
                let n = match got {
                    Ok(Ok(n)) => n,
                    Ok(Err(_)) => {
                        tokio::time::sleep_until(deadline).await;
                        break;
                    }
                    Err(_) => break,
                };
                let r = &buf[..n];
                if r.len() < 12 || r[0..2] != id.to_be_bytes() {
                    continue;
                }
                let rcode = u32::from(r[3] & 0x0f);
                if rcode != 0 {
                    return Err(rcode);
                }
                return match parse_answer(r) {
                    Some((addrs, ttl)) if !addrs.is_empty() => Ok((addrs, ttl)),
                    _ => Err(3),
                };
            }
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(res) => res,
        Err(_) => Err(110),
    }
}

/// Skips a (possibly compressed) name in a DNS message.
fn skip_name(r: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let l = *r.get(i)? as usize;
        if l == 0 {
            return Some(i + 1);
        }
        if l & 0xc0 == 0xc0 {
            return Some(i + 2);
        }
        i += 1 + l;
    }
}

/// Every A record of an answer (CNAMEs before them are followed as the server did) and the
/// smallest TTL among them.
fn parse_answer(r: &[u8]) -> Option<(Vec<IpAddr>, u32)> {
    let qd = u16::from_be_bytes([*r.get(4)?, *r.get(5)?]) as usize;
    let an = u16::from_be_bytes([*r.get(6)?, *r.get(7)?]) as usize;
    let mut i = 12;
    for _ in 0..qd {
        i = skip_name(r, i)? + 4;
    }
    let mut addrs = Vec::new();
    let mut ttl = u32::MAX;
    for _ in 0..an {
        i = skip_name(r, i)?;
        let rr = r.get(i..i + 10)?;
        let typ = u16::from_be_bytes([rr[0], rr[1]]);
        let class = u16::from_be_bytes([rr[2], rr[3]]);
        let t = u32::from_be_bytes([rr[4], rr[5], rr[6], rr[7]]);
        let len = u16::from_be_bytes([rr[8], rr[9]]) as usize;
        i += 10;
        let data = r.get(i..i + len)?;
        if typ == 1 && class == 1 && len == 4 {
            addrs.push(IpAddr::V4(Ipv4Addr::new(
                data[0], data[1], data[2], data[3],
            )));
            ttl = ttl.min(t);
        }
        i += len;
    }
    if ttl == u32::MAX {
        ttl = 0;
    }
    Some((addrs, ttl))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_give_every_address_and_the_smallest_ttl() {
        // id, flags, 1 question, 2 answers; "a.b" A IN; two A records (ttl 30 and 7)
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
        m.extend_from_slice(&[1, b'a', 1, b'b', 0, 0, 1, 0, 1]);
        for (ip, ttl) in [([10, 0, 0, 1], 30u32), ([10, 0, 0, 2], 7)] {
            m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
            m.extend_from_slice(&ttl.to_be_bytes());
            m.extend_from_slice(&[0, 4]);
            m.extend_from_slice(&ip);
        }
        let (addrs, ttl) = parse_answer(&m).unwrap_or_default();
        assert_eq!(
            addrs,
            vec![
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))
            ]
        );
        assert_eq!(ttl, 7);
        // truncated: no panic
        assert!(parse_answer(&m[..m.len() - 3]).is_none());
    }

    #[test]
    fn error_texts_are_nginx_ones() {
        assert_eq!(strerror(3), "Host not found");
        assert_eq!(strerror(110), "Operation timed out");
    }
}
