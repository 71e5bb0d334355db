//! ngx_http_limit_req_module: `limit_req_zone`, `limit_req` and friends.

use std::collections::HashMap;

use parser::Directive;

use crate::conf::values::{atoi, parse_size};
use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};
use crate::http::gzip::num_bounds;
use crate::http::upstream::shared_memory_add;
use crate::http::variables;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_limit_req_module",
    commands: &[
        cmd(
            "limit_req_zone",
            Ctx::HTTP_MAIN,
            Args::TAKE3,
            Set::Handler(limit_req_zone),
        ),
        cmd(
            "limit_req",
            Ctx::HTTP_MSL,
            Args::TAKE123,
            Set::Handler(limit_req),
        ),
        cmd(
            "limit_req_log_level",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Enum(&["info", "notice", "warn", "error"])),
        ),
        cmd(
            "limit_req_status",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Handler(limit_req_status),
        ),
        cmd(
            "limit_req_dry_run",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
    ],
};

/// Variables this module defines.
pub(crate) const VARIABLES: &[&str] = &["limit_req_status"];

/// nginx's `&ngx_http_limit_req_module` as a shared memory tag.
const TAG: &str = "ngx_http_limit_req_module";

/// nginx's page size (ngx_pagesize): zones smaller than 8 pages are refused.
pub(crate) const PAGESIZE: u64 = 4096;

fn lossy(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

/// Keys zones are bound to, by zone index (nginx: `shm_zone->data`'s `ctx->key.value`), for
/// one module tag.
#[derive(Default)]
pub(crate) struct BoundKeys {
    by_tag: HashMap<(&'static str, usize), Vec<u8>>,
}

/// One level's zones in use (nginx: `lrcf->limits`), by module tag.
#[derive(Default)]
struct Limits {
    zones: Vec<(&'static str, usize)>,
}

/// nginx: the zone-declaring directives of limit_req and limit_conn (they differ only in
/// `rate=`).
pub(crate) fn zone_directive(
    cf: &mut Cf<'_>,
    d: &Directive,
    name: &'static str,
    tag: &'static str,
    with_rate: bool,
) -> SetResult {
    let Some(key) = d.args.first() else {
        return Ok(());
    };
    variables::compile_complex_value(cf, key)?;
    let mut zone: Option<(&[u8], u64)> = None;
    for v in &d.args[1..] {
        if let Some(rest) = v.strip_prefix(b"zone=") {
            let Some(colon) = rest.iter().position(|&c| c == b':') else {
                return Err(cf
                    .emerg(format!("invalid zone size \"{}\"", lossy(v)))
                    .into());
            };
            let Some(size) = parse_size(&rest[colon + 1..]) else {
                return Err(cf
                    .emerg(format!("invalid zone size \"{}\"", lossy(v)))
                    .into());
            };
            if size < 8 * PAGESIZE {
                return Err(cf
                    .emerg(format!("zone \"{}\" is too small", lossy(v)))
                    .into());
            }
            zone = Some((&rest[..colon], size));
            continue;
        }
        if with_rate && v.starts_with(b"rate=") {
            let mut len = v.len();
            if v.ends_with(b"r/s") || v.ends_with(b"r/m") {
                len -= 3;
            }
            if !matches!(v.get(5..len).and_then(atoi), Some(n) if n > 0) {
                return Err(cf.emerg(format!("invalid rate \"{}\"", lossy(v))).into());
            }
            continue;
        }
        return Err(cf
            .emerg(format!("invalid parameter \"{}\"", lossy(v)))
            .into());
    }
    let Some((zone_name, size)) = zone.filter(|(n, _)| !n.is_empty()) else {
        return Err(cf
            .emerg(format!("\"{name}\" must have \"zone\" parameter"))
            .into());
    };
    let i = shared_memory_add(cf, zone_name, size, tag)?;
    let bound = &mut cf.main().get::<BoundKeys>().by_tag;
    if let Some(old) = bound.get(&(tag, i)) {
        let text = format!(
            "{name} \"{}\" is already bound to key \"{}\"",
            lossy(zone_name),
            lossy(old)
        );
        return Err(cf.emerg(text).into());
    }
    bound.insert((tag, i), key.clone());
    Ok(())
}

/// nginx: ngx_http_limit_req_zone
fn limit_req_zone(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    zone_directive(cf, d, "limit_req_zone", TAG, true)
}

/// Records that this level uses zone `i` of `tag`: false if it already did (`is duplicate`).
pub(crate) fn use_zone(cf: &mut Cf<'_>, tag: &'static str, i: usize) -> bool {
    let limits = &mut cf.frame().get::<Limits>().zones;
    if limits.contains(&(tag, i)) {
        return false;
    }
    limits.push((tag, i));
    true
}

/// nginx: ngx_http_limit_req
fn limit_req(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let mut zone = None;
    for v in &d.args {
        if let Some(name) = v.strip_prefix(b"zone=") {
            zone = Some(shared_memory_add(cf, name, 0, TAG)?);
            continue;
        }
        if let Some(n) = v.strip_prefix(b"burst=") {
            if !matches!(atoi(n), Some(n) if n > 0) {
                return Err(cf
                    .emerg(format!("invalid burst value \"{}\"", lossy(v)))
                    .into());
            }
            continue;
        }
        if let Some(n) = v.strip_prefix(b"delay=") {
            if !matches!(atoi(n), Some(n) if n > 0) {
                return Err(cf
                    .emerg(format!("invalid delay value \"{}\"", lossy(v)))
                    .into());
            }
            continue;
        }
        if v == b"nodelay" {
            continue;
        }
        return Err(cf
            .emerg(format!("invalid parameter \"{}\"", lossy(v)))
            .into());
    }
    let Some(i) = zone else {
        return Err(cf
            .emerg("\"limit_req\" must have \"zone\" parameter")
            .into());
    };
    if !use_zone(cf, TAG, i) {
        return Err(Some("is duplicate".into()));
    }
    Ok(())
}

fn limit_req_status(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    num_bounds(cf, d, "limit_req_status", 400, Some(599))
}

// ---------------------------------------------------------------------------------------------
// Lowering and run time (nginx: ngx_http_limit_req_handler and its shared memory zone).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::http::lower::LocConf;
use crate::http::request::Request;
use crate::http::response::Reply;
use crate::http::variables::ComplexValue;
use crate::log::Level;

/// A `limit_req_zone` or `limit_conn_zone` declaration (nginx: the zone's ctx and size).
#[derive(Debug, Clone)]
pub(crate) struct Zone {
    /// The module owning the zone ([`TAG`] or limit_conn's).
    pub(crate) tag: &'static str,
    pub(crate) name: Vec<u8>,
    pub(crate) key: ComplexValue,
    /// The key as written (a zone reused by a reload with another key is started afresh).
    pub(crate) key_text: Vec<u8>,
    /// Requests per 1000 seconds (nginx: `ctx->rate`, `rate * 1000 / scale`); 0 for limit_conn.
    pub(crate) rate: u64,
    pub(crate) size: u64,
}

/// One `limit_req` (nginx: ngx_http_limit_req_limit_t): burst and delay in thousandths.
#[derive(Debug, Clone)]
pub(crate) struct Limit {
    pub(crate) zone: Vec<u8>,
    pub(crate) burst: u64,
    pub(crate) delay: u64,
}

/// The per-request state of limit_req and limit_conn (nginx: `r->main->limit_req_status`,
/// `limit_conn_status` and the limit_conn pool cleanups).
#[derive(Default)]
pub(crate) struct RequestLimits {
    pub(crate) req_status: u8,
    pub(crate) conn_status: u8,
    /// Counted limit_conn entries, released when the request is freed.
    pub(crate) conns: Vec<crate::http::limit_conn::Counted>,
}

/// `$limit_req_status` values (nginx: ngx_http_limit_req_status).
const STATUS: [&str; 5] = [
    "PASSED",
    "DELAYED",
    "REJECTED",
    "DELAYED_DRY_RUN",
    "REJECTED_DRY_RUN",
];
const PASSED: u8 = 1;
const DELAYED: u8 = 2;
const REJECTED: u8 = 3;
const DELAYED_DRY_RUN: u8 = 4;
const REJECTED_DRY_RUN: u8 = 5;

/// nginx: ngx_http_limit_req_status_variable.
pub(crate) fn status_variable(r: &Request) -> Option<Vec<u8>> {
    let i = usize::from(r.limits.req_status).checked_sub(1)?;
    STATUS.get(i).map(|s| s.as_bytes().to_vec())
}

/// A `*_log_level` value.
pub(crate) fn log_level(v: &[u8]) -> Level {
    match v {
        b"info" => Level::Info,
        b"notice" => Level::Notice,
        b"warn" => Level::Warn,
        _ => Level::Error,
    }
}

/// Folds the directives of limit_req and limit_conn into a level's conf (called from
/// `Lowering::apply`); false for other directives.
pub(crate) fn apply(c: &mut LocConf, d: &Directive) -> bool {
    let arg = |i: usize| d.args.get(i).map(Vec::as_slice).unwrap_or_default();
    match d.name.as_slice() {
        b"limit_req_zone" => zone(c, d, TAG, true),
        b"limit_req" => {
            let mut limit = Limit {
                zone: Vec::new(),
                burst: 0,
                delay: 0,
            };
            for v in &d.args {
                let num = |n: &[u8]| atoi(n).and_then(|n| u64::try_from(n).ok());
                if let Some(name) = v.strip_prefix(b"zone=") {
                    limit.zone = name.to_vec();
                } else if let Some(n) = v.strip_prefix(b"burst=").and_then(num) {
                    limit.burst = n.saturating_mul(1000);
                } else if let Some(n) = v.strip_prefix(b"delay=").and_then(num) {
                    limit.delay = n.saturating_mul(1000);
                } else if v == b"nodelay" {
                    // nginx: NGX_MAX_INT_T_VALUE / 1000, times 1000.
                    limit.delay = i64::MAX as u64 / 1000 * 1000;
                }
            }
            Arc::make_mut(c.limit_reqs.get_or_insert_with(Default::default)).push(limit);
        }
        b"limit_req_log_level" => c.limit_req_log_level = Some(log_level(arg(0))),
        b"limit_req_status" => c.limit_req_status = atoi(arg(0)).and_then(|n| n.try_into().ok()),
        b"limit_req_dry_run" => c.limit_req_dry_run = Some(arg(0).eq_ignore_ascii_case(b"on")),
        b"limit_conn_zone" => zone(c, d, crate::http::limit_conn::TAG, false),
        _ => return crate::http::limit_conn::apply(c, d),
    }
    true
}

/// A zone declaration (validated by [`zone_directive`]).
fn zone(c: &mut LocConf, d: &Directive, tag: &'static str, with_rate: bool) {
    if let Some(z) = zone_of(d, tag, with_rate) {
        Arc::make_mut(c.limit_zones.get_or_insert_with(Default::default)).push(z);
    }
}

/// The zone a checked `limit_req_zone`/`limit_conn_zone` (http's or stream's) declares.
pub(crate) fn zone_of(d: &Directive, tag: &'static str, with_rate: bool) -> Option<Zone> {
    let key_text = d.args.first()?;
    let mut z = Zone {
        tag,
        name: Vec::new(),
        key: variables::parse_complex_value(key_text).unwrap_or_default(),
        key_text: key_text.clone(),
        rate: 1000,
        size: 0,
    };
    for v in &d.args[1..] {
        if let Some(rest) = v.strip_prefix(b"zone=") {
            if let Some(colon) = rest.iter().position(|&c| c == b':') {
                z.name = rest[..colon].to_vec();
                z.size = parse_size(&rest[colon + 1..]).unwrap_or(0);
            }
        } else if with_rate && v.starts_with(b"rate=") {
            // nginx: ngx_http_limit_req_zone: `rate * 1000 / scale`.
            let (digits, scale) = if let Some(n) = v.strip_suffix(b"r/s") {
                (n, 1)
            } else if let Some(n) = v.strip_suffix(b"r/m") {
                (n, 60)
            } else {
                (v.as_slice(), 1)
            };
            let rate = digits
                .get(5..)
                .and_then(atoi)
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(1);
            z.rate = (rate.saturating_mul(1000) / scale).max(1);
        }
    }
    Some(z)
}

/// The declaration of zone `name` of module `tag` as the request's level sees it.
pub(crate) fn find_zone(r: &Request, tag: &str, name: &[u8]) -> Option<Zone> {
    r.loc
        .limit_zones
        .as_ref()?
        .iter()
        .find(|z| z.tag == tag && z.name == name)
        .cloned()
}

/// nginx's ngx_current_msec: milliseconds of a monotonic clock (far from zero, as nginx's,
/// so that a node's `last` of 0 is long ago).
pub(crate) fn now_msec() -> i64 {
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    let start = START.get_or_init(std::time::Instant::now);
    i64::try_from(start.elapsed().as_millis()).unwrap_or(i64::MAX / 2) + 1_000_000_000
}

/// How many bytes of slab slots a zone of `size` bytes holds (nginx: ngx_slab_init: pages
/// of 4096 bytes, each with a 24-byte descriptor, after the pool header; two pages taken by
/// the zone's own structures). An approximation of nginx's slab allocator.
pub(crate) fn zone_capacity(size: u64) -> u64 {
    let pages = size.saturating_sub(512) / (PAGESIZE + 24);
    pages.saturating_sub(2) * PAGESIZE
}

/// The slab slot a node of `n` bytes takes (nginx: ngx_slab_alloc_locked rounds to a power of
/// two, at least 8; more than half a page takes whole pages).
pub(crate) fn slot_size(n: u64) -> u64 {
    if n > PAGESIZE / 2 {
        n.div_ceil(PAGESIZE) * PAGESIZE
    } else {
        n.next_power_of_two().max(8)
    }
}

/// A limit_req zone's state (nginx: ngx_http_limit_req_shctx_t, its rbtree and LRU queue).
#[derive(Default)]
struct ReqShm {
    size: u64,
    key_text: Vec<u8>,
    nodes: HashMap<Vec<u8>, Node>,
    /// Least recently used first (nginx: the queue's tail); values are keys.
    lru: BTreeMap<u64, Vec<u8>>,
    seq: u64,
    used: u64,
}

/// nginx: ngx_http_limit_req_node_t.
struct Node {
    excess: i64,
    last: i64,
    count: u64,
    seq: u64,
}

/// The zones, process-wide like nginx's shared memory: every worker thread sees them and a
/// reload keeps them (a zone declared with another size or key starts afresh).
fn req_zone(z: &Zone) -> Arc<Mutex<ReqShm>> {
    type Registry = Mutex<HashMap<Vec<u8>, Arc<Mutex<ReqShm>>>>;
    static ZONES: OnceLock<Registry> = OnceLock::new();
    let mut zones = ZONES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let shm = zones.entry(z.name.clone()).or_default().clone();
    drop(zones);
    {
        let mut s = shm.lock().unwrap_or_else(|e| e.into_inner());
        if s.size != z.size || s.key_text != z.key_text {
            *s = ReqShm {
                size: z.size,
                key_text: z.key_text.clone(),
                ..Default::default()
            };
        }
    }
    shm
}

/// The result of a lookup (nginx: NGX_OK, NGX_AGAIN, NGX_BUSY, NGX_ERROR).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rc {
    Declined,
    Ok,
    Again,
    Busy,
    Error,
}

/// nginx: `lr->excess - ctx->rate * ms / 1000 + 1000` with ms from `last`, clamped.
fn excess_now(node: &Node, rate: u64, now: i64) -> (i64, i64) {
    let mut ms = now - node.last;
    if ms < -60000 {
        ms = 1;
    } else if ms < 0 {
        ms = 0;
    }
    let rate = i64::try_from(rate).unwrap_or(i64::MAX);
    let excess = node.excess - rate.saturating_mul(ms) / 1000 + 1000;
    (excess.max(0), ms)
}

impl ReqShm {
    fn touch(&mut self, key: &[u8]) {
        self.seq += 1;
        let seq = self.seq;
        if let Some(n) = self.nodes.get_mut(key) {
            self.lru.remove(&n.seq);
            n.seq = seq;
            self.lru.insert(seq, key.to_vec());
        }
    }

    fn remove(&mut self, key: &[u8]) {
        if let Some(n) = self.nodes.remove(key) {
            self.lru.remove(&n.seq);
            self.used = self.used.saturating_sub(slot_size(80 + key.len() as u64));
        }
    }

    /// nginx: ngx_http_limit_req_lookup.
    fn lookup(&mut self, z: &Zone, l: &Limit, key: &[u8], ep: &mut i64, account: bool) -> Rc {
        let now = now_msec();
        if let Some(node) = self.nodes.get(key) {
            let (excess, ms) = excess_now(node, z.rate, now);
            self.touch(key);
            *ep = excess;
            if excess as u64 > l.burst {
                return Rc::Busy;
            }
            let Some(node) = self.nodes.get_mut(key) else {
                return Rc::Error;
            };
            if account {
                node.excess = excess;
                if ms != 0 {
                    node.last = now;
                }
                return Rc::Ok;
            }
            node.count += 1;
            return Rc::Again;
        }
        *ep = 0;
        // nginx: the node is 80 bytes (rbtree node head, then the limit_req node) + the key.
        let need = slot_size(80 + key.len() as u64);
        let cap = zone_capacity(self.size);
        self.expire(z.rate, 1, now);
        if self.used + need > cap {
            self.expire(z.rate, 0, now);
            if self.used + need > cap {
                crate::http::errlog::write(
                    Level::Alert,
                    &format!(
                        "could not allocate node in limit_req zone \"{}\"",
                        lossy(&z.name)
                    ),
                );
                return Rc::Error;
            }
        }
        self.used += need;
        self.seq += 1;
        let (last, count) = if account { (now, 0) } else { (0, 1) };
        self.nodes.insert(
            key.to_vec(),
            Node {
                excess: 0,
                last,
                count,
                seq: self.seq,
            },
        );
        self.lru.insert(self.seq, key.to_vec());
        if account {
            Rc::Ok
        } else {
            Rc::Again
        }
    }

    /// nginx: ngx_http_limit_req_expire: `n == 0` removes the oldest entry by force, then
    /// up to two idle entries (a minute old and fully drained) go.
    fn expire(&mut self, rate: u64, mut n: u32, now: i64) {
        while n < 3 {
            let Some((_, key)) = self.lru.first_key_value() else {
                return;
            };
            let key = key.clone();
            let Some(node) = self.nodes.get(&key) else {
                self.lru.pop_first();
                continue;
            };
            if node.count != 0 {
                return;
            }
            let forced = n == 0;
            n += 1;
            if !forced {
                let ms = (now - node.last).abs();
                if ms < 60000 {
                    return;
                }
                let rate = i64::try_from(rate).unwrap_or(i64::MAX);
                if node.excess - rate.saturating_mul(ms) / 1000 > 0 {
                    return;
                }
            }
            self.remove(&key);
        }
    }
}

fn lock(shm: &Mutex<ReqShm>) -> std::sync::MutexGuard<'_, ReqShm> {
    shm.lock().unwrap_or_else(|e| e.into_inner())
}

/// The preaccess phase: limit_req, then limit_conn (nginx runs the handlers in that
/// order); `Some` answers the request.
pub(crate) async fn preaccess(r: &mut Request) -> Option<Reply> {
    if let Some(reply) = handler(r).await {
        return Some(reply);
    }
    crate::http::limit_conn::handler(r)
}

/// A node counted by a non-final limit: the limit's index, its zone, the zone state, the key.
type Held = (usize, Zone, Arc<Mutex<ReqShm>>, Vec<u8>);

/// nginx: ngx_http_limit_req_handler (with ngx_http_limit_req_account and _unlock).
async fn handler(r: &mut Request) -> Option<Reply> {
    if r.limits.req_status != 0 {
        return None;
    }
    let limits = r.loc.limit_reqs.clone()?;
    let dry_run = r.loc.limit_req_dry_run == Some(true);
    let mut excess: i64 = 0;
    let mut rc = Rc::Declined;
    // The nodes counted by non-final limits (nginx: `ctx->node`), by limit index.
    let mut held: Vec<Held> = Vec::new();
    let mut n = 0;
    let mut at = 0;
    while n < limits.len() {
        let limit = &limits[n];
        at = n;
        let Some(z) = find_zone(r, TAG, &limit.zone) else {
            n += 1;
            continue;
        };
        let key = r.eval(&z.key);
        if key.is_empty() {
            n += 1;
            continue;
        }
        if key.len() > 65535 {
            crate::http::errlog::request_error(
                r,
                &format!(
                    "the value of the \"{}\" key is more than 65535 bytes: \"{}\"",
                    lossy(&z.key_text),
                    lossy(&key)
                ),
            );
            n += 1;
            continue;
        }
        let shm = req_zone(&z);
        rc = lock(&shm).lookup(&z, limit, &key, &mut excess, n == limits.len() - 1);
        if rc != Rc::Again {
            break;
        }
        held.push((n, z, shm, key));
        n += 1;
    }
    if rc == Rc::Declined {
        return None;
    }
    if matches!(rc, Rc::Busy | Rc::Error) {
        let name = limits.get(at).map(|l| lossy(&l.zone)).unwrap_or_default();
        if rc == Rc::Busy {
            let level = r.loc.limit_req_log_level.unwrap_or(Level::Error);
            let text = format!(
                "limiting requests{}, excess: {}.{:03} by zone \"{name}\"",
                if dry_run { ", dry run" } else { "" },
                excess / 1000,
                excess % 1000
            );
            crate::http::errlog::log(r, level, &text);
        }
        // nginx: ngx_http_limit_req_unlock.
        for (_, _, shm, key) in held.iter().rev() {
            if let Some(node) = lock(shm).nodes.get_mut(key) {
                node.count = node.count.saturating_sub(1);
            }
        }
        if dry_run {
            r.limits.req_status = REJECTED_DRY_RUN;
            return None;
        }
        r.limits.req_status = REJECTED;
        return Some(Reply::status(r.loc.limit_req_status.unwrap_or(503)));
    }
    if rc == Rc::Again {
        excess = 0;
    }
    // nginx: ngx_http_limit_req_account.
    let rate_of = |i: usize| {
        limits
            .get(i)
            .and_then(|l| find_zone(r, TAG, &l.zone))
            .map_or(1, |z| z.rate.max(1))
    };
    let mut which = at;
    let delay_of = |excess: i64, i: usize| {
        let d = limits.get(i).map_or(0, |l| l.delay);
        if excess as u64 <= d {
            0
        } else {
            (excess as u64 - d).saturating_mul(1000) / rate_of(i)
        }
    };
    let mut max_delay = delay_of(excess, which);
    for (i, z, shm, key) in held.iter().rev() {
        let mut s = lock(shm);
        let now = now_msec();
        let Some(node) = s.nodes.get_mut(key) else {
            continue;
        };
        let (e, ms) = excess_now(node, z.rate, now);
        if ms != 0 {
            node.last = now;
        }
        node.excess = e;
        node.count = node.count.saturating_sub(1);
        drop(s);
        let delay = delay_of(e, *i);
        if delay > max_delay {
            max_delay = delay;
            excess = e;
            which = *i;
        }
    }
    if max_delay == 0 {
        r.limits.req_status = PASSED;
        return None;
    }
    let level = match r.loc.limit_req_log_level.unwrap_or(Level::Error) {
        Level::Info => Level::Info,
        Level::Notice => Level::Info,
        Level::Warn => Level::Notice,
        _ => Level::Warn,
    };
    let name = limits
        .get(which)
        .map(|l| lossy(&l.zone))
        .unwrap_or_default();
    let text = format!(
        "delaying request{}, excess: {}.{:03}, by zone \"{name}\"",
        if dry_run { ", dry run" } else { "" },
        excess / 1000,
        excess % 1000
    );
    crate::http::errlog::log(r, level, &text);
    if dry_run {
        r.limits.req_status = DELAYED_DRY_RUN;
        return None;
    }
    r.limits.req_status = DELAYED;
    tokio::time::sleep(std::time::Duration::from_millis(max_delay)).await;
    None
}
