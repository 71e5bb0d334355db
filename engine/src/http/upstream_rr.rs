//! Upstreams at run time: peers, nginx's balancers (smooth weighted round robin with backup
//! servers and passive health, least_conn, ip_hash, hash), the connections to peers and the
//! idle keep-alive pool shared by every worker thread (nginx: ngx_http_upstream_round_robin.c,
//! ngx_http_upstream_least_conn_module.c, ngx_http_upstream_ip_hash_module.c,
//! ngx_http_upstream_hash_module.c, ngx_http_upstream_keepalive_module.c, ngx_event_connect.c).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use parser::{Body, Directive};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::conf::values::{atoi, parse_time};
use crate::http::variables::ComplexValue;

/// Where a peer listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum PeerAddr {
    Inet(SocketAddr),
    Unix(Vec<u8>),
}

/// One peer of an upstream (nginx: ngx_http_upstream_rr_peer_t, the configured part).
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) addr: PeerAddr,
    /// nginx: `peer->name` (`127.0.0.1:80`, `unix:/path`).
    pub(crate) name: String,
    /// The `server` directive's address as written (hash keys for `consistent`).
    pub(crate) server: Vec<u8>,
    pub(crate) weight: i64,
    pub(crate) max_fails: u64,
    pub(crate) fail_timeout: Duration,
    pub(crate) max_conns: u64,
    pub(crate) down: bool,
}

/// A peer's changing state (nginx: the other fields of ngx_http_upstream_rr_peer_t).
#[derive(Debug, Default, Clone)]
struct PeerState {
    current_weight: i64,
    effective_weight: i64,
    conns: u64,
    fails: u64,
    accessed: Option<Instant>,
    checked: Option<Instant>,
}

/// The balancing method of an upstream.
#[derive(Debug, Clone, Default)]
pub(crate) enum Method {
    #[default]
    RoundRobin,
    LeastConn,
    IpHash,
    Hash {
        key: ComplexValue,
        consistent: bool,
    },
    Random {
        two: bool,
    },
}

/// `keepalive N` and its companions.
#[derive(Debug, Clone)]
pub(crate) struct Keepalive {
    pub(crate) max: usize,
    pub(crate) requests: u64,
    pub(crate) time: Duration,
    pub(crate) timeout: Duration,
}

/// An upstream at run time (nginx: ngx_http_upstream_srv_conf_t with its peers).
#[derive(Debug)]
pub(crate) struct Upstream {
    pub(crate) name: Vec<u8>,
    pub(crate) primary: Vec<Peer>,
    pub(crate) backup: Vec<Peer>,
    pub(crate) method: Method,
    pub(crate) keepalive: Option<Keepalive>,
    /// `balancer_by_lua*`: Lua picks the peer of every try.
    pub(crate) balancer: Option<Arc<crate::http::lua::directives::LuaHandler>>,
    state: Mutex<(Vec<PeerState>, Vec<PeerState>)>,
    /// A key of this upstream's idle connections in the pool.
    id: u64,
}

static IDS: AtomicU64 = AtomicU64::new(1);

impl Upstream {
    pub(crate) fn new(
        name: Vec<u8>,
        primary: Vec<Peer>,
        backup: Vec<Peer>,
        method: Method,
        keepalive: Option<Keepalive>,
    ) -> Upstream {
        let init = |ps: &[Peer]| {
            ps.iter()
                .map(|p| PeerState {
                    effective_weight: p.weight,
                    ..Default::default()
                })
                .collect::<Vec<_>>()
        };
        let state = Mutex::new((init(&primary), init(&backup)));
        Upstream {
            name,
            primary,
            backup,
            method,
            keepalive,
            balancer: None,
            state,
            id: IDS.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// nginx: ngx_http_upstream_tries: how many peers a request may try.
    pub(crate) fn tries(&self) -> usize {
        self.primary.len() + self.backup.len()
    }

    fn peer(&self, p: PeerRef) -> Option<&Peer> {
        if p.backup {
            self.backup.get(p.index)
        } else {
            self.primary.get(p.index)
        }
    }
}

/// A chosen peer: in the backup list or not, and its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PeerRef {
    pub(crate) backup: bool,
    pub(crate) index: usize,
}

/// One request's view of an upstream (nginx: ngx_http_upstream_rr_peer_data_t).
pub(crate) struct Picker {
    pub(crate) up: Arc<Upstream>,
    tried: Vec<bool>,
    tried_backup: Vec<bool>,
    /// ip_hash's running hash.
    hash: Option<u32>,
    hash_tries: usize,
    /// `hash`'s key, running sum and rehash count.
    key: Vec<u8>,
    acc: u32,
    rehash: u32,
}

impl Picker {
    pub(crate) fn new(up: Arc<Upstream>, key: Option<Vec<u8>>) -> Picker {
        let hash = key.as_ref().map(|_| 89);
        Picker {
            key: key.unwrap_or_default(),
            acc: 0,
            rehash: 0,
            tried: vec![false; up.primary.len()],
            tried_backup: vec![false; up.backup.len()],
            up,
            hash,
            hash_tries: 0,
        }
    }

    /// nginx: ngx_http_upstream_get_round_robin_peer and the other methods' get handlers;
    /// `None` is NGX_BUSY ("no live upstreams").
    pub(crate) fn get(&mut self, ip: Option<&[u8]>) -> Option<(PeerRef, &Peer)> {
        let up = self.up.clone();
        let now = Instant::now();
        let Ok(mut st) = up.state.lock() else {
            return None;
        };
        let (prim, back) = &mut *st;
        // nginx: a single peer is not balanced, only checked.
        if up.primary.len() == 1 && up.backup.is_empty() {
            let p = &up.primary[0];
            let s = &mut prim[0];
            if p.down || (p.max_conns > 0 && s.conns >= p.max_conns) {
                return None;
            }
            s.conns += 1;
            self.tried[0] = true;
            drop(st);
            return Some((
                PeerRef {
                    backup: false,
                    index: 0,
                },
                &self.up.primary[0],
            ));
        }
        let got = match &up.method {
            Method::IpHash => self.ip_hash(ip, &up.primary, prim, now),
            Method::Hash { consistent, .. } if self.hash.is_some() => {
                if *consistent {
                    self.chash(&up.primary, prim, now)
                } else {
                    self.hash_pick(&up.primary, prim, now)
                }
            }
            Method::LeastConn => least_conn(&up.primary, prim, &self.tried, now),
            Method::Random { two } => random(&up.primary, prim, &self.tried, now, *two),
            _ => rr(&up.primary, prim, &self.tried, now),
        };
        let got = match got {
            Some(i) => Some(PeerRef {
                backup: false,
                index: i,
            }),
            None if !up.backup.is_empty() => {
                rr(&up.backup, back, &self.tried_backup, now).map(|i| PeerRef {
                    backup: true,
                    index: i,
                })
            }
            None => None,
        };
        let Some(pr) = got else {
            // nginx: all peers failed, mark them as live for quick recovery.
            for s in prim.iter_mut().chain(back.iter_mut()) {
                s.fails = 0;
            }
            return None;
        };
        let (s, tried) = if pr.backup {
            (&mut back[pr.index], &mut self.tried_backup[pr.index])
        } else {
            (&mut prim[pr.index], &mut self.tried[pr.index])
        };
        s.conns += 1;
        *tried = true;
        drop(st);
        let peer = self.up.peer(pr)?;
        Some((pr, peer))
    }

    fn ip_hash(
        &mut self,
        ip: Option<&[u8]>,
        peers: &[Peer],
        st: &mut [PeerState],
        now: Instant,
    ) -> Option<usize> {
        // nginx: ngx_http_upstream_get_ip_hash_peer: the first three octets of IPv4, all of
        // IPv6; after 20 tries falls back to round robin.
        let ip = ip.unwrap_or_default();
        let mut hash = self.hash.unwrap_or(89);
        let total: i64 = peers.iter().map(|p| p.weight).sum();
        if total <= 0 {
            return None;
        }
        for _ in 0..20 {
            for &b in ip {
                hash = (hash.wrapping_mul(113).wrapping_add(b as u32)) % 6271;
            }
            let mut w = (hash as i64) % total;
            let mut i = 0;
            while i < peers.len() && w >= peers[i].weight {
                w -= peers[i].weight;
                i += 1;
            }
            if i < peers.len() && !self.tried[i] && usable(&peers[i], &st[i], now) {
                self.hash = Some(hash);
                touch(&peers[i], &mut st[i], now);
                return Some(i);
            }
        }
        rr(peers, st, &self.tried, now)
    }

    fn hash_pick(&mut self, peers: &[Peer], st: &mut [PeerState], now: Instant) -> Option<usize> {
        // nginx: ngx_http_upstream_get_hash_peer (Cache::Memcached's
        // `((crc32([REHASH] KEY) >> 16) & 0x7fff) + PREV_HASH`).
        let total: i64 = peers.iter().map(|p| p.weight).sum();
        if total <= 0 {
            return None;
        }
        let key = self.key.clone();
        loop {
            let mut crc = 0xffff_ffff;
            if self.rehash > 0 {
                crc = crc32_update(crc, self.rehash.to_string().as_bytes());
            }
            crc = crc32_update(crc, &key) ^ 0xffff_ffff;
            self.acc = self.acc.wrapping_add((crc >> 16) & 0x7fff);
            self.rehash += 1;
            let mut w = (self.acc as i64) % total;
            let mut i = 0;
            while i < peers.len() && w >= peers[i].weight {
                w -= peers[i].weight;
                i += 1;
            }
            if i < peers.len() && !self.tried[i] && usable(&peers[i], &st[i], now) {
                touch(&peers[i], &mut st[i], now);
                return Some(i);
            }
            self.hash_tries += 1;
            if self.hash_tries > 20 {
                return rr(peers, st, &self.tried, now);
            }
        }
    }

    fn chash(&mut self, peers: &[Peer], st: &mut [PeerState], now: Instant) -> Option<usize> {
        // nginx: ngx_http_upstream_init_chash_peer's points (Cache::Memcached::Fast's
        // `crc32(HOST \0 PORT PREV_HASH)`, 160 per weight unit), then
        // ngx_http_upstream_get_chash_peer from the first point at or after the key's crc32.
        let mut points: Vec<(u32, usize)> = Vec::new();
        for (i, p) in peers.iter().enumerate() {
            let (host, port) = split_server(&p.server);
            let mut base = crc32_update(0xffff_ffff, host);
            base = crc32_update(base, b"\0");
            base = crc32_update(base, port);
            let mut prev: u32 = 0;
            for _ in 0..(160 * p.weight.max(0)) {
                let h = crc32_update(base, &prev.to_le_bytes()) ^ 0xffff_ffff;
                points.push((h, i));
                prev = h;
            }
        }
        points.sort_by_key(|p| p.0);
        points.dedup_by_key(|p| p.0);
        if points.is_empty() {
            return None;
        }
        let hash = crc32(&self.key);
        let start = points.partition_point(|p| p.0 < hash);
        for k in 0..points.len().min(21) {
            let server = &peers[points[(start + k) % points.len()].1].server;
            let mut best: Option<usize> = None;
            let mut total = 0;
            for (i, p) in peers.iter().enumerate() {
                if self.tried[i] || !usable(p, &st[i], now) || &p.server != server {
                    continue;
                }
                st[i].current_weight += st[i].effective_weight;
                total += st[i].effective_weight;
                if st[i].effective_weight < p.weight {
                    st[i].effective_weight += 1;
                }
                if best.is_none_or(|b| st[i].current_weight > st[b].current_weight) {
                    best = Some(i);
                }
            }
            if let Some(b) = best {
                st[b].current_weight -= total;
                touch(&peers[b], &mut st[b], now);
                return Some(b);
            }
        }
        None
    }

    /// nginx: ngx_http_upstream_free_round_robin_peer: a failure counts against the peer;
    /// true when it made the peer unavailable ("upstream server temporarily disabled").
    pub(crate) fn free(&mut self, pr: PeerRef, failed: bool) -> bool {
        let mut disabled = false;
        let up = self.up.clone();
        let Ok(mut st) = up.state.lock() else {
            return false;
        };
        let (prim, back) = &mut *st;
        let (peer, s) = if pr.backup {
            (up.backup.get(pr.index), back.get_mut(pr.index))
        } else {
            (up.primary.get(pr.index), prim.get_mut(pr.index))
        };
        let (Some(peer), Some(s)) = (peer, s) else {
            return false;
        };
        s.conns = s.conns.saturating_sub(1);
        if up.primary.len() == 1 && up.backup.is_empty() {
            return false;
        }
        let now = Instant::now();
        if failed {
            s.fails += 1;
            s.accessed = Some(now);
            s.checked = Some(now);
            if peer.max_fails > 0 {
                s.effective_weight -= peer.weight / peer.max_fails as i64;
                disabled = s.fails >= peer.max_fails;
            }
            if s.effective_weight < 0 {
                s.effective_weight = 0;
            }
        } else if s.accessed < s.checked {
            s.fails = 0;
        }
        disabled
    }
}

/// A `server` address as host and port (nginx: the split in ngx_http_upstream_init_chash).
fn split_server(s: &[u8]) -> (&[u8], &[u8]) {
    if s.len() >= 5 && s[..5].eq_ignore_ascii_case(b"unix:") {
        return (&s[5..], b"");
    }
    let digits = s.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    if digits < s.len() && s[s.len() - digits - 1] == b':' {
        return (&s[..s.len() - digits - 1], &s[s.len() - digits..]);
    }
    (s, b"")
}

/// The peer may be chosen now (nginx: the `down`, `max_fails` and `max_conns` checks).
fn usable(p: &Peer, s: &PeerState, now: Instant) -> bool {
    if p.down {
        return false;
    }
    if p.max_fails > 0 && s.fails >= p.max_fails {
        if let Some(c) = s.checked {
            if now.duration_since(c) <= p.fail_timeout {
                return false;
            }
        }
    }
    !(p.max_conns > 0 && s.conns >= p.max_conns)
}

fn touch(p: &Peer, s: &mut PeerState, now: Instant) {
    if s.checked
        .is_none_or(|c| now.duration_since(c) > p.fail_timeout)
    {
        s.checked = Some(now);
    }
}

/// nginx: ngx_http_upstream_get_peer: smooth weighted round robin.
fn rr(peers: &[Peer], st: &mut [PeerState], tried: &[bool], now: Instant) -> Option<usize> {
    let mut best: Option<usize> = None;
    let mut total = 0;
    for (i, p) in peers.iter().enumerate() {
        if tried.get(i).copied().unwrap_or(true) || !usable(p, &st[i], now) {
            continue;
        }
        st[i].current_weight += st[i].effective_weight;
        total += st[i].effective_weight;
        if st[i].effective_weight < p.weight {
            st[i].effective_weight += 1;
        }
        if best.is_none_or(|b| st[i].current_weight > st[b].current_weight) {
            best = Some(i);
        }
    }
    let b = best?;
    st[b].current_weight -= total;
    touch(&peers[b], &mut st[b], now);
    Some(b)
}

/// A random number (xorshift; nginx uses ngx_random()).
pub(crate) fn rand() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static SEED: Cell<u64> = Cell::new(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(88172645463325252, |d| d.as_nanos() as u64 | 1),
        );
    }
    SEED.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        x
    })
}

/// nginx: ngx_http_upstream_get_random_peer / _random2_peer: a peer drawn by weight; with
/// `two`, the one of two draws with fewer connections.
fn random(
    peers: &[Peer],
    st: &mut [PeerState],
    tried: &[bool],
    now: Instant,
    two: bool,
) -> Option<usize> {
    let ok: Vec<usize> = (0..peers.len())
        .filter(|&i| !tried.get(i).copied().unwrap_or(true) && usable(&peers[i], &st[i], now))
        .collect();
    let total: i64 = ok.iter().map(|&i| peers[i].weight).sum();
    if total <= 0 {
        return None;
    }
    let draw = || {
        let mut w = (rand() % total as u64) as i64;
        for &i in &ok {
            w -= peers[i].weight;
            if w < 0 {
                return i;
            }
        }
        ok[0]
    };
    let mut pick = draw();
    if two && ok.len() > 1 {
        let other = draw();
        if st[other].conns * (peers[pick].weight as u64)
            < st[pick].conns * (peers[other].weight as u64)
        {
            pick = other;
        }
    }
    touch(&peers[pick], &mut st[pick], now);
    Some(pick)
}

/// nginx: ngx_http_upstream_get_least_conn_peer: fewest connections per weight, ties by
/// round robin among them.
fn least_conn(peers: &[Peer], st: &mut [PeerState], tried: &[bool], now: Instant) -> Option<usize> {
    let mut best: Option<usize> = None;
    let mut many = false;
    for (i, p) in peers.iter().enumerate() {
        if tried.get(i).copied().unwrap_or(true) || !usable(p, &st[i], now) {
            continue;
        }
        match best {
            None => best = Some(i),
            Some(b) => {
                let (a, bb) = (
                    st[i].conns as i128 * peers[b].weight as i128,
                    st[b].conns as i128 * p.weight as i128,
                );
                if a < bb {
                    best = Some(i);
                    many = false;
                } else if a == bb {
                    many = true;
                }
            }
        }
    }
    let b = best?;
    if !many {
        touch(&peers[b], &mut st[b], now);
        return Some(b);
    }
    // Round robin among the peers with the least connections.
    let mut total = 0;
    let mut chosen: Option<usize> = None;
    for (i, p) in peers.iter().enumerate().skip(b) {
        if tried.get(i).copied().unwrap_or(true) || !usable(p, &st[i], now) {
            continue;
        }
        if st[i].conns as i128 * peers[b].weight as i128 != st[b].conns as i128 * p.weight as i128 {
            continue;
        }
        st[i].current_weight += st[i].effective_weight;
        total += st[i].effective_weight;
        if st[i].effective_weight < p.weight {
            st[i].effective_weight += 1;
        }
        if chosen.is_none_or(|c| st[i].current_weight > st[c].current_weight) {
            chosen = Some(i);
        }
    }
    let c = chosen?;
    st[c].current_weight -= total;
    touch(&peers[c], &mut st[c], now);
    Some(c)
}

/// CRC-32 (nginx: ngx_crc32_long), for `hash`.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    crc32_update(0xffff_ffff, data) ^ 0xffff_ffff
}

fn crc32_update(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    crc
}

// ---------------------------------------------------------------------------------------------
// Lowering `upstream {}` blocks

fn arg(d: &Directive, i: usize) -> &[u8] {
    d.args.get(i).map(Vec::as_slice).unwrap_or_default()
}

pub(crate) fn children(d: &Directive) -> &[Directive] {
    match &d.body {
        Body::Block(b) => &b.directives,
        _ => &[],
    }
}

/// Peers of one address (every address a name resolves to).
fn peers_of(url: &[u8], default_port: u16) -> Vec<(PeerAddr, String)> {
    let o = crate::http::upstream::UrlOpts {
        default_port,
        uri_part: false,
        no_resolve: false,
        listen: false,
    };
    let Ok(u) = crate::http::upstream::parse_url(url, o) else {
        return Vec::new();
    };
    if let Some(path) = u.unix {
        let name = format!("unix:{}", String::from_utf8_lossy(&path));
        return vec![(PeerAddr::Unix(path), name)];
    }
    let addrs = if u.addrs.is_empty() {
        crate::http::upstream::resolve_host(&u.host, u.port).unwrap_or_default()
    } else {
        u.addrs
    };
    addrs
        .into_iter()
        .map(|a| (PeerAddr::Inet(a), a.to_string()))
        .collect()
}

/// An `upstream name {}` block at run time.
pub(crate) fn lower_block(d: &Directive) -> Upstream {
    let mut primary = Vec::new();
    let mut backup = Vec::new();
    let mut method = Method::RoundRobin;
    let mut keepalive: Option<Keepalive> = None;
    let mut balancer = None;
    let mut ka_requests = 1000;
    let mut ka_time = Duration::from_secs(3600);
    let mut ka_timeout = Duration::from_secs(60);
    for c in children(d) {
        match c.name.as_slice() {
            b"server" => {
                let mut weight = 1;
                let mut max_fails = 1;
                let mut fail_timeout = Duration::from_secs(10);
                let mut max_conns = 0;
                let (mut is_backup, mut down) = (false, false);
                for a in c.args.iter().skip(1) {
                    if let Some(v) = a.strip_prefix(b"weight=") {
                        weight = atoi(v).unwrap_or(1);
                    } else if let Some(v) = a.strip_prefix(b"max_fails=") {
                        max_fails = atoi(v).and_then(|n| u64::try_from(n).ok()).unwrap_or(1);
                    } else if let Some(v) = a.strip_prefix(b"fail_timeout=") {
                        fail_timeout = parse_time(v, true)
                            .and_then(|n| u64::try_from(n).ok())
                            .map_or(fail_timeout, Duration::from_secs);
                    } else if let Some(v) = a.strip_prefix(b"max_conns=") {
                        max_conns = atoi(v).and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
                    } else if a == b"backup" {
                        is_backup = true;
                    } else if a == b"down" {
                        down = true;
                    }
                }
                for (addr, name) in peers_of(arg(c, 0), 80) {
                    let p = Peer {
                        addr,
                        name,
                        server: arg(c, 0).to_vec(),
                        weight,
                        max_fails,
                        fail_timeout,
                        max_conns,
                        down,
                    };
                    if is_backup {
                        backup.push(p);
                    } else {
                        primary.push(p);
                    }
                }
            }
            b"balancer_by_lua_block" | b"balancer_by_lua_file" => {
                use crate::http::lua::directives::{handler, Form};
                let (form, code) = match &c.body {
                    Body::Lua(lb) => (Form::Block, lb.code.clone()),
                    _ => (Form::File, arg(c, 0).to_vec()),
                };
                balancer = Some(Arc::new(handler(c, "balancer_by_lua", form, &code)));
                crate::http::lua::mark_used();
            }
            b"least_conn" => method = Method::LeastConn,
            b"ip_hash" => method = Method::IpHash,
            b"random" => {
                method = Method::Random {
                    two: !c.args.is_empty(),
                }
            }
            b"hash" => {
                method = Method::Hash {
                    key: crate::http::variables::parse_complex_value(arg(c, 0)).unwrap_or_default(),
                    consistent: arg(c, 1) == b"consistent",
                }
            }
            b"keepalive" => {
                keepalive = Some(Keepalive {
                    max: atoi(arg(c, 0))
                        .and_then(|n| usize::try_from(n).ok())
                        .unwrap_or(1),
                    requests: 1000,
                    time: ka_time,
                    timeout: ka_timeout,
                })
            }
            b"keepalive_requests" => {
                ka_requests = atoi(arg(c, 0))
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(1000)
            }
            b"keepalive_time" => {
                ka_time = parse_time(arg(c, 0), false)
                    .and_then(|n| u64::try_from(n).ok())
                    .map_or(ka_time, Duration::from_millis)
            }
            b"keepalive_timeout" => {
                ka_timeout = parse_time(arg(c, 0), false)
                    .and_then(|n| u64::try_from(n).ok())
                    .map_or(ka_timeout, Duration::from_millis)
            }
            _ => {}
        }
    }
    if let Some(k) = keepalive.as_mut() {
        k.requests = ka_requests;
        k.time = ka_time;
        k.timeout = ka_timeout;
    }
    let mut up = Upstream::new(arg(d, 0).to_vec(), primary, backup, method, keepalive);
    up.balancer = balancer;
    up
}

/// The implicit upstream of a `proxy_pass` address (resolved now, as nginx does).
pub(crate) fn implicit(host: &[u8], url: &[u8], default_port: u16) -> Upstream {
    let primary = peers_of(url, default_port)
        .into_iter()
        .map(|(addr, name)| Peer {
            addr,
            name,
            server: url.to_vec(),
            weight: 1,
            max_fails: 1,
            fail_timeout: Duration::from_secs(10),
            max_conns: 0,
            down: false,
        })
        .collect();
    Upstream::new(host.to_vec(), primary, Vec::new(), Method::RoundRobin, None)
}

/// nginx: ngx_http_upstream_connect's `*_socket_keepalive on`: SO_KEEPALIVE on a new
/// connection's TCP socket (under TLS too).
pub(crate) fn set_keepalive(s: &Stream) {
    match s {
        Stream::Tcp(t) => {
            let _ = socket2::SockRef::from(t).set_keepalive(true);
        }
        Stream::Tls(t) => set_keepalive(t.get_ref().0),
        _ => {}
    }
}

/// nginx: ngx_http_upstream_create_round_robin_peer: the peers of a name the resolver
/// answered at request time (every address, weight 1, max_fails 1, fail_timeout 10s).
pub(crate) fn resolved(host: &[u8], addrs: &[std::net::SocketAddr]) -> Upstream {
    let primary = addrs
        .iter()
        .map(|a| Peer {
            addr: PeerAddr::Inet(*a),
            name: a.to_string(),
            server: host.to_vec(),
            weight: 1,
            max_fails: 1,
            fail_timeout: Duration::from_secs(10),
            max_conns: 0,
            down: false,
        })
        .collect();
    Upstream::new(host.to_vec(), primary, Vec::new(), Method::RoundRobin, None)
}

// ---------------------------------------------------------------------------------------------
// Connections

/// A connection to a peer.
pub(crate) enum Stream {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
    /// TLS over a TCP or unix connection (`proxy_pass https://`, http/proxy_ssl.rs).
    Tls(Box<tokio_rustls::client::TlsStream<Stream>>),
    /// The socket under a TLS session while the connection waits in the idle pool (a std
    /// socket, not tied to a worker's reactor); unusable until taken back.
    Parked(Option<IdleSock>),
}

fn parked() -> std::io::Error {
    std::io::Error::from_raw_os_error(libc::ENOTCONN)
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Parked(_) => Poll::Ready(Err(parked())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Parked(_) => Poll::Ready(Err(parked())),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Parked(_) => Poll::Ready(Err(parked())),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Parked(_) => Poll::Ready(Err(parked())),
        }
    }
}

/// A connection and how it has been used (for keep-alive limits).
pub(crate) struct UpConn {
    pub(crate) stream: Stream,
    pub(crate) requests: u64,
    pub(crate) created: Instant,
    /// Taken from the idle pool.
    pub(crate) reused: bool,
}

/// nginx: ngx_event_connect_peer; the error is the errno nginx logs.
pub(crate) async fn connect(addr: &PeerAddr) -> std::io::Result<UpConn> {
    // nginx numbers every new upstream connection from the same counter as clients'
    crate::worker::next_conn_id();
    let stream = match addr {
        PeerAddr::Inet(a) => {
            let s = tokio::net::TcpStream::connect(a).await?;
            let _ = s.set_nodelay(true);
            Stream::Tcp(s)
        }
        PeerAddr::Unix(p) => {
            use std::os::unix::ffi::OsStrExt;
            let path = std::path::Path::new(std::ffi::OsStr::from_bytes(p));
            Stream::Unix(tokio::net::UnixStream::connect(path).await?)
        }
    };
    Ok(UpConn {
        stream,
        requests: 0,
        created: Instant::now(),
        reused: false,
    })
}

/// nginx: the `bind()` of ngx_event_connect_peer for `proxy_bind`: a socket bound to the
/// local address (port 0: any port, chosen at connect), `transparent` as IP_TRANSPARENT.
pub(crate) fn bind_socket(
    local: std::net::SocketAddr,
    transparent: bool,
) -> std::io::Result<tokio::net::TcpSocket> {
    let sock = if local.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    if transparent {
        let one: libc::c_int = 1;
        let (level, opt) = if local.is_ipv4() {
            (libc::SOL_IP, libc::IP_TRANSPARENT)
        } else {
            (libc::SOL_IPV6, libc::IPV6_TRANSPARENT)
        };
        // SAFETY: the option value is a c_int that outlives the call; the fd is the socket's.
        let rc = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&sock),
                level,
                opt,
                std::ptr::addr_of!(one).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    sock.bind(local)?;
    Ok(sock)
}

/// Connects a socket [`bind_socket`] made.
pub(crate) async fn connect_bound(
    sock: tokio::net::TcpSocket,
    addr: std::net::SocketAddr,
) -> std::io::Result<UpConn> {
    crate::worker::next_conn_id();
    let s = sock.connect(addr).await?;
    let _ = s.set_nodelay(true);
    Ok(UpConn {
        stream: Stream::Tcp(s),
        requests: 0,
        created: Instant::now(),
        reused: false,
    })
}

/// An idle connection in the pool (std sockets: any worker thread may take it).
struct Idle {
    sock: IdleSock,
    since: Instant,
    created: Instant,
    requests: u64,
}

pub(crate) enum IdleSock {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
    /// A TLS connection whose socket is parked (`Stream::Parked`) under its session.
    Tls(Box<tokio_rustls::client::TlsStream<Stream>>),
}

impl IdleSock {
    /// The descriptor the liveness check peeks at.
    fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        match self {
            IdleSock::Tcp(s) => Some(s.as_raw_fd()),
            IdleSock::Unix(s) => Some(s.as_raw_fd()),
            IdleSock::Tls(t) => match t.get_ref().0 {
                Stream::Parked(Some(inner)) => inner.raw_fd(),
                _ => None,
            },
        }
    }
}

/// A plain connection as a std socket for the pool (TLS: its socket parked in place).
fn park(s: Stream) -> Option<IdleSock> {
    match s {
        Stream::Tcp(s) => s.into_std().ok().map(IdleSock::Tcp),
        Stream::Unix(s) => s.into_std().ok().map(IdleSock::Unix),
        Stream::Tls(mut t) => {
            let io = t.get_mut().0;
            let inner = park(std::mem::replace(io, Stream::Parked(None)))?;
            if matches!(inner, IdleSock::Tls(_)) {
                return None;
            }
            *io = Stream::Parked(Some(inner));
            Some(IdleSock::Tls(t))
        }
        Stream::Parked(_) => None,
    }
}

/// A pooled connection back on this worker's reactor.
fn unpark(s: IdleSock) -> Option<Stream> {
    match s {
        IdleSock::Tcp(s) => tokio::net::TcpStream::from_std(s).ok().map(Stream::Tcp),
        IdleSock::Unix(s) => tokio::net::UnixStream::from_std(s).ok().map(Stream::Unix),
        IdleSock::Tls(mut t) => {
            let io = t.get_mut().0;
            let Stream::Parked(inner) = std::mem::replace(io, Stream::Parked(None)) else {
                return None;
            };
            *io = unpark(inner?)?;
            Some(Stream::Tls(t))
        }
    }
}

type PoolKey = (u64, PeerAddr);

/// The idle keep-alive connections of every upstream, shared by all worker threads
/// (nginx keeps one cache per worker: ngx_http_upstream_keepalive_srv_conf_t's cache).
static POOL: Mutex<Option<HashMap<PoolKey, Vec<Idle>>>> = Mutex::new(None);

/// Reuse counters: connections taken from the pool, and new connections made.
pub(crate) static REUSED: AtomicU64 = AtomicU64::new(0);
pub(crate) static CONNECTED: AtomicU64 = AtomicU64::new(0);

/// nginx: ngx_http_upstream_get_keepalive_peer: an idle connection to `addr`, if any.
#[allow(dead_code)]
pub(crate) fn take_idle(up: &Upstream, addr: &PeerAddr) -> Option<UpConn> {
    take_idle_kind(up, addr, false)
}

/// An idle connection to `addr` with TLS (`tls`) or without.
pub(crate) fn take_idle_kind(up: &Upstream, addr: &PeerAddr, tls: bool) -> Option<UpConn> {
    let ka = up.keepalive.as_ref()?;
    loop {
        let idle = {
            let mut pool = POOL.lock().ok()?;
            let list = pool.as_mut()?.get_mut(&(up.id, addr.clone()))?;
            let i = list
                .iter()
                .rposition(|c| matches!(c.sock, IdleSock::Tls(_)) == tls)?;
            list.remove(i)
        };
        if idle.since.elapsed() > ka.timeout || idle.created.elapsed() > ka.time {
            continue;
        }
        // A closed or talking idle connection is useless (nginx: ngx_http_upstream_keepalive
        // _close_handler).
        let mut b = [0u8; 1];
        let alive = match idle.sock.raw_fd() {
            Some(fd) => {
                // SAFETY: recv with MSG_PEEK on a valid, owned descriptor and a 1-byte buffer.
                let n = unsafe {
                    libc::recv(
                        fd,
                        b.as_mut_ptr().cast(),
                        1,
                        libc::MSG_PEEK | libc::MSG_DONTWAIT,
                    )
                };
                n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock
            }
            None => false,
        };
        if !alive {
            continue;
        }
        let Some(stream) = unpark(idle.sock) else {
            continue;
        };
        REUSED.fetch_add(1, Ordering::Relaxed);
        return Some(UpConn {
            stream,
            requests: idle.requests,
            created: idle.created,
            reused: true,
        });
    }
}

/// nginx: ngx_http_upstream_free_keepalive_peer: a connection whose response was read whole
/// goes back to the pool (the oldest is closed when it is full).
pub(crate) fn put_idle(up: &Upstream, addr: &PeerAddr, c: UpConn) {
    let Some(ka) = up.keepalive.as_ref() else {
        return;
    };
    if c.requests >= ka.requests || c.created.elapsed() > ka.time {
        return;
    }
    let Some(sock) = park(c.stream) else {
        return;
    };
    let Ok(mut pool) = POOL.lock() else {
        return;
    };
    let list = pool
        .get_or_insert_with(HashMap::new)
        .entry((up.id, addr.clone()))
        .or_default();
    // nginx caches `keepalive N` per worker; the shared pool holds N per worker thread.
    let max = ka.max
        * crate::http::lua::WORKER_COUNT
            .load(Ordering::Relaxed)
            .max(1);
    if list.len() >= max {
        list.remove(0);
    }
    list.push(Idle {
        sock,
        since: Instant::now(),
        created: c.created,
        requests: c.requests,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(w: i64) -> Peer {
        Peer {
            addr: PeerAddr::Unix(b"/x".to_vec()),
            name: String::new(),
            server: Vec::new(),
            weight: w,
            max_fails: 1,
            fail_timeout: Duration::from_secs(10),
            max_conns: 0,
            down: false,
        }
    }

    #[test]
    fn smooth_weighted_round_robin() {
        // nginx's documented order for weights 5, 1, 1: a a b a c a a.
        let up = Arc::new(Upstream::new(
            b"u".to_vec(),
            vec![peer(5), peer(1), peer(1)],
            Vec::new(),
            Method::RoundRobin,
            None,
        ));
        let mut order = Vec::new();
        for _ in 0..7 {
            let mut p = Picker::new(up.clone(), None);
            let (pr, _) = p.get(None).expect("peer");
            order.push(pr.index);
            let _ = p.free(pr, false);
        }
        assert_eq!(order, vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn ketama_points_as_nginx() {
        // The reference's choices for these keys with the same three servers.
        let mut peers = vec![peer(1), peer(2), peer(1)];
        peers[0].server = b"unix:/tmp/ch/a.sock".to_vec();
        peers[1].server = b"unix:/tmp/ch/b.sock".to_vec();
        peers[2].server = b"127.0.0.1:18411".to_vec();
        let method = Method::Hash {
            key: ComplexValue::default(),
            consistent: true,
        };
        let up = Arc::new(Upstream::new(
            b"u".to_vec(),
            peers,
            Vec::new(),
            method,
            None,
        ));
        let keys = [
            "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "x", "y", "z", "foo", "bar", "baz",
        ];
        let got: String = keys
            .iter()
            .map(|k| {
                let mut p = Picker::new(up.clone(), Some(k.as_bytes().to_vec()));
                let (pr, _) = p.get(None).expect("peer");
                let _ = p.free(pr, false);
                (b'a' + pr.index as u8) as char
            })
            .collect();
        assert_eq!(got, "bcbbacacbcbbbbab");
    }

    #[test]
    fn crc() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }
}
