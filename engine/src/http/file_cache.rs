//! `proxy_cache` / `fastcgi_cache` at run time (nginx: ngx_http_file_cache.c and the cache
//! parts of ngx_http_upstream.c: ngx_http_upstream_cache, _cache_send, _test_next's stale and
//! revalidation branches, send_response's cacheability, process_cache_control & co).
//!
//! Zones (`*_cache_path ... keys_zone=NAME:SIZE`) are process-wide, like `ngx.shared` dicts:
//! a reload keeps them (and their nodes), a restart rebuilds them from the files on disk (the
//! cache loader, run in a thread when a zone is first created).
//!
//! Files are at nginx's paths: the md5 of the key in hex, `levels` directories taken from the
//! end of that name (`levels=1:2`: `PATH/c/29/b7f54b2df7773722d382f4809d65029c`), so scripts
//! that compute paths (purges) keep working. The file's content is OUR format, not nginx's
//! binary header: the body first (so the range filter and sendfile serve it straight from the
//! file), then a metadata block (key, validity, status, headers), its length (8 bytes, LE)
//! and the magic `OXRCACHE`. Files are written to a temporary name in the same directory and
//! renamed into place.
//!
//! Differences from nginx, on purpose or not yet done:
//! - a cacheable response is stored whole before it goes to the client (nginx sends it while
//!   writing the file): the first byte waits for the last one;
//! - `Vary` other than `*` is not looked at: one response per key (nginx keeps a variant per
//!   set of request header values);
//! - the stored headers are the ones after proxy_hide_header / proxy_redirect /
//!   proxy_cookie_* (nginx stores the upstream's and processes them again on each hit);
//! - `use_temp_path` is not needed: temporary files are always next to the final one;
//! - sizes for `max_size` are the files' bytes (nginx counts file system blocks);
//! - `min_free`, `loader_*` and `manager_*` parameters are accepted and not used (the loader
//!   reads everything at once in a thread; the manager looks every 10 s at most, as
//!   nginx's defaults).

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::{HeaderName, HeaderValue};
use parser::Directive;

use super::lower::LocConf;
use super::request::Request;
use super::response::{FileBody, Reply};
use super::variables::ComplexValue;
use crate::conf::values::{atoi, parse_offset, parse_time};

/// Which module's cache a level's settings are (`proxy_*` or `fastcgi_*`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Module {
    Proxy,
    Fastcgi,
}

use super::proxy_run::{
    arg, cv, ft_bit, msecs, FT_403, FT_404, FT_429, FT_500, FT_502, FT_503, FT_504, FT_ERROR,
    FT_INVALID_HEADER, FT_TIMEOUT, FT_UPDATING,
};

// nginx: NGX_HTTP_UPSTREAM_IGN_*.
const IGN_XA_EXPIRES: u32 = 0x4;
const IGN_EXPIRES: u32 = 0x8;
const IGN_CACHE_CONTROL: u32 = 0x10;
const IGN_SET_COOKIE: u32 = 0x40;
const IGN_VARY: u32 = 0x200;

// Method bits of `*_cache_methods` (GET and HEAD are always in).
const M_GET: u32 = 0x2;
const M_HEAD: u32 = 0x4;
const M_POST: u32 = 0x8;

/// One level's `*_cache*` settings (nginx: the `upstream.cache*` fields of a module's loc
/// conf). `None`: not set at this level.
#[derive(Debug, Clone, Default)]
pub(crate) struct CacheConf {
    /// `Some(None)`: `*_cache off`.
    zone: Option<Option<ComplexValue>>,
    key: Option<ComplexValue>,
    /// (status, seconds); status 0 is `any`.
    valid: Option<Arc<Vec<(u16, i64)>>>,
    bypass: Option<Arc<Vec<ComplexValue>>>,
    no_cache: Option<Arc<Vec<ComplexValue>>>,
    methods: Option<u32>,
    min_uses: Option<u64>,
    use_stale: Option<u32>,
    lock: Option<bool>,
    lock_timeout: Option<Duration>,
    lock_age: Option<Duration>,
    revalidate: Option<bool>,
    convert_head: Option<bool>,
    background_update: Option<bool>,
    ignore: Option<u32>,
    max_range_offset: Option<u64>,
    buffering: Option<bool>,
}

/// Folds one `*_cache*` directive into a level (called from `Lowering::apply`). Returns
/// false for directives it does not own; `*_ignore_headers` and `*_buffering` are read and
/// left to the module too.
pub(crate) fn lower(c: &mut LocConf, d: &Directive, prefix: &Path) -> bool {
    let (module, rest) = if let Some(rest) = d.name.strip_prefix(b"proxy_") {
        (Module::Proxy, rest)
    } else if let Some(rest) = d.name.strip_prefix(b"fastcgi_") {
        (Module::Fastcgi, rest)
    } else {
        return false;
    };
    if rest == b"cache_path" {
        path(d, prefix);
        return true;
    }
    // only this module's directives make a level's cache settings
    let ours = rest.starts_with(b"cache")
        || matches!(rest, b"no_cache" | b"ignore_headers" | b"buffering");
    if !ours {
        return false;
    }
    let slot = match module {
        Module::Proxy => &mut c.proxy_cache,
        Module::Fastcgi => &mut c.fastcgi_cache,
    };
    let cc = Arc::make_mut(slot.get_or_insert_with(Default::default));
    let on = arg(d, 0).eq_ignore_ascii_case(b"on");
    match rest {
        b"cache" => {
            cc.zone = Some(if arg(d, 0) == b"off" {
                None
            } else {
                Some(cv(arg(d, 0)))
            })
        }
        b"cache_key" => cc.key = Some(cv(arg(d, 0))),
        b"cache_valid" => {
            let mut v = cc.valid.as_deref().cloned().unwrap_or_default();
            let n = d.args.len().saturating_sub(1);
            let secs = parse_time(arg(d, n), true).unwrap_or(0);
            if n == 0 {
                v.extend([(200, secs), (301, secs), (302, secs)]);
            }
            for a in &d.args[..n] {
                if a.as_slice() == b"any" {
                    v.push((0, secs));
                } else if let Some(s) = atoi(a).and_then(|s| u16::try_from(s).ok()) {
                    v.push((s, secs));
                }
            }
            cc.valid = Some(Arc::new(v));
        }
        b"cache_bypass" | b"no_cache" => {
            let slot = if rest == b"no_cache" {
                &mut cc.no_cache
            } else {
                &mut cc.bypass
            };
            let mut v = slot.as_deref().cloned().unwrap_or_default();
            v.extend(d.args.iter().map(|a| cv(a)));
            *slot = Some(Arc::new(v));
        }
        b"cache_methods" => {
            let mut m = M_GET | M_HEAD;
            for a in &d.args {
                m |= match a.as_slice() {
                    b"POST" => M_POST,
                    _ => 0,
                };
            }
            cc.methods = Some(m);
        }
        b"cache_min_uses" => cc.min_uses = atoi(arg(d, 0)).and_then(|n| u64::try_from(n).ok()),
        b"cache_use_stale" => {
            let m = d.args.iter().fold(0, |m, a| m | ft_bit(a));
            cc.use_stale = Some(m);
        }
        b"cache_lock" => cc.lock = Some(on),
        b"cache_lock_timeout" => cc.lock_timeout = msecs(arg(d, 0)),
        b"cache_lock_age" => cc.lock_age = msecs(arg(d, 0)),
        b"cache_revalidate" => cc.revalidate = Some(on),
        b"cache_convert_head" => cc.convert_head = Some(on),
        b"cache_background_update" => cc.background_update = Some(on),
        b"cache_max_range_offset" => cc.max_range_offset = parse_offset(arg(d, 0)),
        b"ignore_headers" => {
            let mut m = 0;
            for a in &d.args {
                m |= match a.to_ascii_lowercase().as_slice() {
                    b"x-accel-expires" => IGN_XA_EXPIRES,
                    b"expires" => IGN_EXPIRES,
                    b"cache-control" => IGN_CACHE_CONTROL,
                    b"set-cookie" => IGN_SET_COOKIE,
                    b"vary" => IGN_VARY,
                    _ => 0,
                };
            }
            cc.ignore = Some(m);
            return false;
        }
        b"buffering" => {
            cc.buffering = Some(on);
            return false;
        }
        _ => return false,
    }
    true
}

/// nginx: the cache fields of ngx_http_proxy_merge_loc_conf / fastcgi's.
pub(crate) fn merge(c: &mut LocConf, parent: &LocConf) {
    merge_one(&mut c.proxy_cache, &parent.proxy_cache);
    merge_one(&mut c.fastcgi_cache, &parent.fastcgi_cache);
}

fn merge_one(own: &mut Option<Arc<CacheConf>>, parent: &Option<Arc<CacheConf>>) {
    let Some(pp) = parent else { return };
    let Some(own) = own.as_mut() else {
        *own = Some(pp.clone());
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
        zone,
        key,
        valid,
        bypass,
        no_cache,
        methods,
        min_uses,
        use_stale,
        lock,
        lock_timeout,
        lock_age,
        revalidate,
        convert_head,
        background_update,
        ignore,
        max_range_offset,
        buffering
    );
}

// ---------------------------------------------------------------------------------------------
// Zones

/// A keys zone: the nodes of one cache path (nginx: ngx_http_file_cache_t + its shared
/// `sh`), process-wide.
pub(crate) struct Zone {
    name: Vec<u8>,
    st: Mutex<ZoneState>,
}

struct ZoneState {
    path: PathBuf,
    levels: [usize; 3],
    inactive: i64,
    max_size: u64,
    nodes: HashMap<[u8; 16], Node>,
    /// Bytes of the files the nodes say exist.
    size: u64,
    /// The LRU clock (a node's `seq` is its last use).
    seq: u64,
}

/// nginx: ngx_http_file_cache_node_t.
#[derive(Default)]
struct Node {
    uses: u64,
    exists: bool,
    size: u64,
    /// The time after which an unused node goes (nginx: `expire`).
    expire: i64,
    seq: u64,
    updating: bool,
    lock_time: Option<Instant>,
    /// A cached upstream failure (502/504) and until when (nginx: `error`, `valid_sec`).
    error: u16,
    valid_sec: i64,
    /// Requests that have the node open (nginx: `count`; the manager leaves them alone).
    count: u32,
}

static ZONES: Mutex<Vec<Arc<Zone>>> = Mutex::new(Vec::new());

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `*_cache_path PATH levels= keys_zone= inactive= max_size= ...`: the zone, created once per
/// process (then loaded from disk) and updated in place by a reload.
fn path(d: &Directive, prefix: &Path) {
    let mut p = d.args.first().cloned().unwrap_or_default();
    if p.len() > 1 && p.last() == Some(&b'/') {
        p.pop();
    }
    let full = crate::cycle::full_name(prefix, &p);
    let mut levels = [0usize; 3];
    let mut name = Vec::new();
    let mut inactive = 600;
    let mut max_size = 0u64;
    for a in d.args.iter().skip(1) {
        if let Some(v) = a.strip_prefix(b"levels=") {
            for (i, l) in v.split(|&c| c == b':').take(3).enumerate() {
                levels[i] = atoi(l).and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
            }
        } else if let Some(v) = a.strip_prefix(b"keys_zone=") {
            name = v.split(|&c| c == b':').next().unwrap_or_default().to_vec();
        } else if let Some(v) = a.strip_prefix(b"inactive=") {
            inactive = parse_time(v, true).unwrap_or(600);
        } else if let Some(v) = a.strip_prefix(b"max_size=") {
            max_size = parse_offset(v).unwrap_or(0);
        }
    }
    let Ok(mut zones) = ZONES.lock() else { return };
    if let Some(z) = zones.iter().find(|z| z.name == name) {
        if let Ok(mut st) = z.st.lock() {
            let moved = st.path != full || st.levels != levels;
            st.path = full;
            st.levels = levels;
            st.inactive = inactive;
            st.max_size = max_size;
            if moved {
                st.nodes.clear();
                st.size = 0;
                drop(st);
                spawn_loader(z.clone());
            }
        }
        return;
    }
    let _ = std::fs::create_dir_all(&full);
    let z = Arc::new(Zone {
        name,
        st: Mutex::new(ZoneState {
            path: full,
            levels,
            inactive,
            max_size,
            nodes: HashMap::new(),
            size: 0,
            seq: 0,
        }),
    });
    zones.push(z.clone());
    spawn_loader(z.clone());
    spawn_manager(z);
}

/// nginx: the cache manager process, as a thread per zone (for the process's life).
fn spawn_manager(z: Arc<Zone>) {
    let _ = std::thread::Builder::new()
        .name("cache manager".into())
        .spawn(move || loop {
            let next = match z.st.lock() {
                Ok(mut st) => st.manager(),
                Err(_) => return,
            };
            std::thread::sleep(next);
        });
}

/// nginx: the cache loader (ngx_http_file_cache_loader): the files under the path become
/// nodes (their size counts toward `max_size`). Files that are not ours are left alone.
fn spawn_loader(z: Arc<Zone>) {
    let _ = std::thread::Builder::new()
        .name("cache loader".into())
        .spawn(move || {
            let root = match z.st.lock() {
                Ok(st) => st.path.clone(),
                Err(_) => return,
            };
            let mut stack = vec![(root, 0usize)];
            let mut found = Vec::new();
            while let Some((dir, depth)) = stack.pop() {
                let Ok(rd) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for e in rd.flatten() {
                    let Ok(ft) = e.file_type() else { continue };
                    if ft.is_dir() && depth < 3 {
                        stack.push((e.path(), depth + 1));
                    } else if ft.is_file() {
                        let name = e.file_name();
                        let Some(key) = name.to_str().and_then(unhex) else {
                            continue;
                        };
                        let size = e.metadata().map_or(0, |m| m.len());
                        found.push((key, size));
                    }
                }
            }
            let Ok(mut st) = z.st.lock() else { return };
            let t = now();
            for (key, size) in found {
                if st.nodes.contains_key(&key) {
                    continue;
                }
                st.seq += 1;
                let node = Node {
                    uses: 1,
                    exists: true,
                    size,
                    expire: t + st.inactive,
                    seq: st.seq,
                    ..Default::default()
                };
                st.size += size;
                st.nodes.insert(key, node);
            }
        });
}

fn unhex(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn hex(k: &[u8; 16]) -> String {
    k.iter().map(|b| format!("{b:02x}")).collect()
}

/// nginx: ngx_create_hashed_filename: the levels' directories from the end of the name.
fn file_name(st: &ZoneState, key: &[u8; 16]) -> PathBuf {
    let name = hex(key);
    let mut p = st.path.clone();
    let mut end = name.len();
    for &l in st.levels.iter().take_while(|&&l| l > 0) {
        p.push(&name[end - l..end]);
        end -= l;
    }
    p.push(&name);
    p
}

impl ZoneState {
    /// nginx: ngx_http_file_cache_manager: nodes unused for `inactive` go with their files
    /// (ngx_http_file_cache_expire, the least recently used first), then the least
    /// recently used ones while the files reach `max_size` (_forced_expire). Returns the time
    /// until the next look (at most 10 s, as nginx).
    fn manager(&mut self) -> Duration {
        let t = now();
        let wait = loop {
            let Some((k, expire, count)) = self
                .nodes
                .iter()
                .min_by_key(|(_, n)| n.seq)
                .map(|(k, n)| (*k, n.expire, n.count))
            else {
                break 10;
            };
            if expire > t {
                break (expire - t).min(10);
            }
            if count == 0 {
                self.delete(&k);
                continue;
            }
            // nginx: a long locked entry goes back to the head of the queue
            self.seq += 1;
            let (seq, inactive) = (self.seq, self.inactive);
            if let Some(n) = self.nodes.get_mut(&k) {
                n.seq = seq;
                n.expire = t + inactive;
            }
        };
        while self.max_size > 0 && self.size >= self.max_size {
            let victim = self
                .nodes
                .iter()
                .filter(|(_, n)| n.count == 0)
                .min_by_key(|(_, n)| n.seq)
                .map(|(k, _)| *k);
            match victim {
                Some(k) => self.delete(&k),
                None => break,
            }
        }
        Duration::from_secs(wait.max(1) as u64)
    }

    fn delete(&mut self, k: &[u8; 16]) {
        if let Some(n) = self.nodes.remove(k) {
            if n.exists {
                self.size = self.size.saturating_sub(n.size);
                let _ = std::fs::remove_file(file_name(self, k));
            }
        }
    }
}

fn zone_by_name(name: &[u8]) -> Option<Arc<Zone>> {
    ZONES.lock().ok()?.iter().find(|z| z.name == name).cloned()
}

// ---------------------------------------------------------------------------------------------
// Cache files

/// A cached response's metadata (nginx: ngx_http_file_cache_header_t + the stored header).
#[derive(Clone, Default)]
pub(crate) struct Meta {
    key: Vec<u8>,
    valid_sec: i64,
    updating_sec: i64,
    error_sec: i64,
    date: i64,
    last_modified: i64,
    etag: Vec<u8>,
    status: u16,
    status_line: Vec<u8>,
    names: Vec<Vec<u8>>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Accept-Ranges came from the upstream (nginx: ranges are then served from the file).
    ranges: bool,
    /// Served without Content-Length (nginx: FastCGI responses that had none).
    chunked: bool,
}

const MAGIC: &[u8; 8] = b"OXRCACHE";

fn put(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

impl Meta {
    fn encode(&self) -> Vec<u8> {
        let mut o = Vec::new();
        put(&mut o, b"1");
        put(&mut o, &self.key);
        for n in [
            self.valid_sec,
            self.updating_sec,
            self.error_sec,
            self.date,
            self.last_modified,
        ] {
            put(&mut o, n.to_string().as_bytes());
        }
        put(&mut o, &self.etag);
        put(&mut o, self.status.to_string().as_bytes());
        put(&mut o, &self.status_line);
        put(&mut o, if self.ranges { b"1" } else { b"0" });
        put(&mut o, if self.chunked { b"1" } else { b"0" });
        put(&mut o, self.names.len().to_string().as_bytes());
        for n in &self.names {
            put(&mut o, n);
        }
        put(&mut o, self.headers.len().to_string().as_bytes());
        for (n, v) in &self.headers {
            put(&mut o, n);
            put(&mut o, v);
        }
        let len = o.len() as u64;
        o.extend_from_slice(&len.to_le_bytes());
        o.extend_from_slice(MAGIC);
        o
    }

    fn decode(b: &[u8]) -> Option<Meta> {
        let mut pos = 0;
        let mut next = || -> Option<&[u8]> {
            let n = u32::from_le_bytes(b.get(pos..pos + 4)?.try_into().ok()?) as usize;
            let v = b.get(pos + 4..pos + 4 + n)?;
            pos += 4 + n;
            Some(v)
        };
        let num = |v: &[u8]| -> Option<i64> { std::str::from_utf8(v).ok()?.parse().ok() };
        if next()? != b"1" {
            return None;
        }
        let mut m = Meta {
            key: next()?.to_vec(),
            ..Default::default()
        };
        m.valid_sec = num(next()?)?;
        m.updating_sec = num(next()?)?;
        m.error_sec = num(next()?)?;
        m.date = num(next()?)?;
        m.last_modified = num(next()?)?;
        m.etag = next()?.to_vec();
        m.status = u16::try_from(num(next()?)?).ok()?;
        m.status_line = next()?.to_vec();
        m.ranges = next()? == b"1";
        m.chunked = next()? == b"1";
        let n = usize::try_from(num(next()?)?).ok()?;
        for _ in 0..n {
            m.names.push(next()?.to_vec());
        }
        let n = usize::try_from(num(next()?)?).ok()?;
        for _ in 0..n {
            let k = next()?.to_vec();
            let v = next()?.to_vec();
            m.headers.push((k, v));
        }
        Some(m)
    }
}

/// An open cache file: its metadata and where the body ends.
struct Cached {
    file: std::fs::File,
    body_len: u64,
    meta: Meta,
}

enum ReadErr {
    Missing,
    Bad(String),
}

/// nginx: ngx_http_file_cache_read's checks on our format.
fn read_file(path: &Path) -> Result<Cached, ReadErr> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ReadErr::Missing),
        Err(e) => {
            return Err(ReadErr::Bad(format!(
                "open() \"{}\" failed{}",
                path.display(),
                crate::http::proxy_run::errno_text(&e)
            )))
        }
    };
    let small = || ReadErr::Bad(format!("cache file \"{}\" is too small", path.display()));
    let len = f.metadata().map_err(|_| small())?.len();
    if len < 16 {
        return Err(small());
    }
    let mut tail = [0u8; 16];
    f.seek(SeekFrom::Start(len - 16)).map_err(|_| small())?;
    f.read_exact(&mut tail).map_err(|_| small())?;
    if &tail[8..] != MAGIC {
        return Err(ReadErr::Bad(format!(
            "cache file \"{}\" version mismatch",
            path.display()
        )));
    }
    let mlen = u64::from_le_bytes(tail[..8].try_into().unwrap_or_default());
    if mlen + 16 > len {
        return Err(small());
    }
    let body_len = len - 16 - mlen;
    let mut mb = vec![0u8; mlen as usize];
    f.seek(SeekFrom::Start(body_len)).map_err(|_| small())?;
    f.read_exact(&mut mb).map_err(|_| small())?;
    let meta = Meta::decode(&mb).ok_or_else(small)?;
    let _ = f.seek(SeekFrom::Start(0));
    Ok(Cached {
        file: f,
        body_len,
        meta,
    })
}

// ---------------------------------------------------------------------------------------------
// Run time

/// What `begin` decided.
pub(crate) enum Begin {
    /// No cache for this request: go to the upstream as usual.
    Off,
    /// The answer (from the cache, or an error).
    Answer(Reply),
    /// Go to the upstream; then [`finish`].
    Fetch(Box<Pending>),
}

/// nginx's `u->cache_status`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Miss,
    Bypass,
    Expired,
    Stale,
    Updating,
    Revalidated,
    Hit,
}

impl Status {
    fn text(self) -> &'static [u8] {
        match self {
            Status::Miss => b"MISS",
            Status::Bypass => b"BYPASS",
            Status::Expired => b"EXPIRED",
            Status::Stale => b"STALE",
            Status::Updating => b"UPDATING",
            Status::Revalidated => b"REVALIDATED",
            Status::Hit => b"HIT",
        }
    }
}

/// A request going to the upstream with a cache (nginx: `r->cache` + `u->cacheable`).
pub(crate) struct Pending {
    zone: Arc<Zone>,
    key: [u8; 16],
    key_text: Vec<u8>,
    cacheable: bool,
    status: Status,
    /// The expired response, for `*_cache_use_stale` and revalidation.
    stale: Option<Cached>,
    /// This request holds the node's `updating` (lock or expired entry).
    updating: bool,
    /// This request counts in the node's `count`.
    counted: bool,
    conf: Arc<CacheConf>,
    module: Module,
    /// HEAD went to the upstream as GET.
    pub(crate) converted_head: bool,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Ok(mut st) = self.zone.st.lock() {
            if let Some(n) = st.nodes.get_mut(&self.key) {
                if self.updating {
                    n.updating = false;
                }
                if self.counted {
                    n.count = n.count.saturating_sub(1);
                }
            }
        }
    }
}

/// Private `r.vars` keys (no configuration can name them).
const ON: &[u8] = b" cache on";
const HDR: &[u8] = b" cache hdr";
/// Set while a request with a cache goes to the upstream; the upstream's answer replaces it
/// with [`ANSWERED`].
const PENDING: &[u8] = b" cache pending";
const ANSWERED: &[u8] = b" cache answered";

fn conf_of(r: &Request, m: Module) -> Option<Arc<CacheConf>> {
    match m {
        Module::Proxy => r.loc.proxy_cache.clone(),
        Module::Fastcgi => r.loc.fastcgi_cache.clone(),
    }
}

fn set_status(r: &mut Request, s: Status) {
    r.vars
        .insert(b"upstream_cache_status".to_vec(), s.text().to_vec());
}

/// nginx: ngx_http_test_predicates: a non-empty value other than "0" says no.
fn predicates(r: &Request, list: &Option<Arc<Vec<ComplexValue>>>) -> bool {
    list.as_ref().is_some_and(|l| {
        l.iter().any(|v| {
            let v = r.eval(v);
            !v.is_empty() && v != b"0"
        })
    })
}

fn method_bit(m: &hyper::Method) -> u32 {
    match m.as_str() {
        "GET" => M_GET,
        "HEAD" => M_HEAD,
        "POST" => M_POST,
        _ => 0,
    }
}

/// nginx: ngx_http_upstream_cache (+ ngx_http_file_cache_open, _exists, _read, _lock): the
/// cache's verdict before going to the upstream.
pub(crate) async fn begin(r: &mut Request, m: Module, default_key: Option<Vec<u8>>) -> Begin {
    let Some(cc) = conf_of(r, m) else {
        return Begin::Off;
    };
    let Some(Some(zone_cv)) = &cc.zone else {
        return Begin::Off;
    };
    if cc.methods.unwrap_or(M_GET | M_HEAD) & method_bit(&r.method) == 0 {
        return Begin::Off;
    }
    // nginx: ngx_http_upstream_cache_get
    let name = r.eval(zone_cv);
    if name.is_empty() || name == b"off" {
        return Begin::Off;
    }
    let Some(zone) = zone_by_name(&name) else {
        crate::http::errlog::request_error(
            r,
            &format!("cache \"{}\" not found", String::from_utf8_lossy(&name)),
        );
        return Begin::Answer(Reply::status(500));
    };
    let converted_head = r.method == hyper::Method::HEAD && cc.convert_head != Some(false);
    // nginx: ngx_http_proxy_create_key / ngx_http_file_cache_create_key
    // (the proxy's default key is the URL's start and the URI sent, not the documented
    // `$scheme$proxy_host$request_uri`)
    let key_text = match &cc.key {
        Some(k) => r.eval(k),
        None => default_key.unwrap_or_default(),
    };
    let key: [u8; 16] = {
        use md5::Digest;
        md5::Md5::digest(&key_text).into()
    };
    let mut p = Box::new(Pending {
        zone,
        key,
        key_text,
        cacheable: true,
        status: Status::Miss,
        stale: None,
        updating: false,
        counted: false,
        conf: cc.clone(),
        module: m,
        converted_head,
    });
    let mut ign = cc.ignore.unwrap_or(0);
    if predicates(r, &cc.bypass) {
        set_status(r, Status::Bypass);
        p.status = Status::Bypass;
        r.vars.insert(ON.to_vec(), ign.to_string().into_bytes());
        return Begin::Fetch(p);
    }
    let min_uses = cc.min_uses.unwrap_or(1).max(1);
    let lock = cc.lock == Some(true);
    let mut lock_timeout = cc.lock_timeout.unwrap_or(Duration::from_secs(5));
    let lock_age = cc.lock_age.unwrap_or(Duration::from_secs(5));
    let use_stale = cc.use_stale.unwrap_or(0);
    let mut wait_until: Option<Instant> = None;
    let mut first = true;
    loop {
        // nginx: ngx_http_file_cache_exists
        enum Ex {
            Ok(bool),
            Again,
            Declined,
            Error(u16),
        }
        let (ex, path) = {
            let Ok(mut st) = p.zone.st.lock() else {
                return Begin::Off;
            };
            let t = now();
            let inactive = st.inactive;
            st.seq += 1;
            let seq = st.seq;
            let path = file_name(&st, &key);
            let n = st.nodes.entry(key).or_default();
            let fresh = n.expire == 0 && n.uses == 0;
            let ex = if fresh {
                n.uses = 1;
                Ex::Declined
            } else {
                if first {
                    n.uses += 1;
                }
                if n.error != 0 && n.valid_sec >= t {
                    Ex::Error(n.error)
                } else if n.error != 0 {
                    n.error = 0;
                    n.exists = false;
                    n.valid_sec = 0;
                    Ex::Declined
                } else if n.exists || n.uses >= min_uses {
                    Ex::Ok(n.exists)
                } else {
                    Ex::Again
                }
            };
            if first {
                n.count += 1;
                p.counted = true;
            }
            n.expire = t + inactive;
            n.seq = seq;
            (ex, path)
        };
        first = false;
        let (test, rv_scarce) = match ex {
            Ex::Error(s) => {
                set_status(r, Status::Hit);
                p.status = Status::Hit;
                return Begin::Answer(Reply::status(s));
            }
            Ex::Again => (false, true),
            Ex::Ok(exists) => (exists, false),
            // nginx tests the file when the zone is cold; our zone is "cold" for every key
            // it does not know (a file written by an earlier process)
            Ex::Declined => (true, min_uses > 1),
        };
        if matches!(ex, Ex::Again) {
            p.cacheable = false;
            break;
        }
        if test {
            match read_file(&path) {
                Err(ReadErr::Missing) => {}
                Err(ReadErr::Bad(msg)) => {
                    crate::http::errlog::log(r, crate::log::Level::Crit, &msg);
                }
                Ok(c) if c.meta.key != p.key_text => {
                    crate::http::errlog::log(
                        r,
                        crate::log::Level::Crit,
                        &format!("cache file \"{}\" has md5 collision", path.display()),
                    );
                }
                Ok(c) => {
                    let t = now();
                    // nginx: ngx_http_file_cache_read's end: a cold node now exists; an
                    // expired response is UPDATING (another request refreshes it) or STALE
                    let (valid, other_updating) = {
                        let Ok(mut st) = p.zone.st.lock() else {
                            return Begin::Off;
                        };
                        let mut grow = 0;
                        let mut other = false;
                        let valid = c.meta.valid_sec >= t;
                        if let Some(n) = st.nodes.get_mut(&key) {
                            if !n.exists {
                                n.uses = 1;
                                n.exists = true;
                                n.size = file_size(&path).unwrap_or(c.body_len);
                                grow = n.size;
                            }
                            if !valid {
                                if n.updating {
                                    other = true;
                                } else {
                                    n.updating = true;
                                    n.lock_time = Some(Instant::now() + lock_age);
                                    p.updating = true;
                                }
                            }
                        }
                        st.size += grow;
                        (valid, other)
                    };
                    if valid {
                        set_status(r, Status::Hit);
                        p.status = Status::Hit;
                        return Begin::Answer(serve(r, c));
                    }
                    let stale_updating = c.meta.valid_sec + c.meta.updating_sec >= t;
                    let may_stale =
                        (use_stale & FT_UPDATING != 0 || stale_updating) && !is_background(r);
                    if other_updating && may_stale {
                        set_status(r, Status::Updating);
                        p.status = Status::Updating;
                        return Begin::Answer(serve(r, c));
                    }
                    if !other_updating && may_stale && cc.background_update == Some(true) {
                        // nginx: ngx_http_upstream_cache_background_update: the stale
                        // response now, the refresh by a background request
                        set_status(r, Status::Stale);
                        p.status = Status::Stale;
                        let reply = serve(r, c);
                        drop(p);
                        background(r, m);
                        return Begin::Answer(reply);
                    }
                    // nginx: NGX_HTTP_CACHE_STALE: to the upstream, the old response kept
                    set_status(r, Status::Expired);
                    p.status = Status::Expired;
                    p.stale = Some(c);
                    break;
                }
            }
        }
        if rv_scarce {
            p.cacheable = false;
            break;
        }
        // nginx: ngx_http_file_cache_lock
        if !lock {
            break;
        }
        let wait = {
            let Ok(mut st) = p.zone.st.lock() else {
                return Begin::Off;
            };
            let now_i = Instant::now();
            match st.nodes.get_mut(&key) {
                Some(n) if !n.updating || n.lock_time.is_none_or(|lt| lt <= now_i) => {
                    n.updating = true;
                    n.lock_time = Some(now_i + lock_age);
                    p.updating = true;
                    None
                }
                Some(n) => n.lock_time,
                None => None,
            }
        };
        let Some(lock_time) = wait else { break };
        if lock_timeout.is_zero() {
            p.cacheable = false;
            break;
        }
        let until = *wait_until.get_or_insert_with(|| Instant::now() + lock_timeout);
        // nginx: ngx_http_file_cache_lock_wait: a timer of at most 500ms, then look again
        loop {
            let now_i = Instant::now();
            if now_i >= until {
                crate::http::errlog::log(r, crate::log::Level::Info, "cache lock timeout");
                // nginx: c->lock_timeout = 0: the next look does not wait
                lock_timeout = Duration::ZERO;
                break;
            }
            let step = (until - now_i).min(Duration::from_millis(500)).min(
                lock_time
                    .saturating_duration_since(now_i)
                    .max(Duration::from_millis(1)),
            );
            tokio::time::sleep(step).await;
            let still = p.zone.st.lock().ok().is_some_and(|st| {
                st.nodes.get(&key).is_some_and(|n| {
                    n.updating && n.lock_time.is_some_and(|lt| lt > Instant::now())
                })
            });
            if !still {
                break;
            }
        }
    }
    if p.status == Status::Miss {
        set_status(r, Status::Miss);
    }
    // nginx: ngx_http_upstream_cache_check_range
    if let (Some(max), Some(range)) = (cc.max_range_offset, r.headers.get(hyper::header::RANGE)) {
        let v = range.as_bytes();
        if v.len() > 6 && v[..6].eq_ignore_ascii_case(b"bytes=") {
            let digits: Vec<u8> = v[6..]
                .iter()
                .skip_while(|c| **c == b' ')
                .take_while(|c| c.is_ascii_digit())
                .copied()
                .collect();
            if let Some(off) = atoi(&digits) {
                if off as u64 > max {
                    p.cacheable = false;
                }
            }
        }
    }
    if p.cacheable {
        ign = cc.ignore.unwrap_or(0);
        r.vars.insert(ON.to_vec(), ign.to_string().into_bytes());
    } else {
        r.vars.remove(ON);
    }
    Begin::Fetch(p)
}

fn file_size(p: &Path) -> Option<u64> {
    std::fs::metadata(p).ok().map(|m| m.len())
}

/// The upstream request's headers when the response may be cached (nginx:
/// ngx_http_proxy_cache_headers): `None` when the cache is not used; otherwise the client
/// headers not to pass (conditionals, ranges) and the revalidation headers to send.
pub(crate) fn upstream_request_headers(r: &Request) -> Option<Vec<(&'static str, Vec<u8>)>> {
    if !r.vars.contains_key(ON) {
        return None;
    }
    let mut out = vec![
        ("If-Modified-Since", Vec::new()),
        ("If-Unmodified-Since", Vec::new()),
        ("If-None-Match", Vec::new()),
        ("If-Match", Vec::new()),
        ("Range", Vec::new()),
        ("If-Range", Vec::new()),
    ];
    if let Some(v) = r.vars.get(b"upstream_cache_last_modified".as_slice()) {
        out[0].1 = v.clone();
    }
    if let Some(v) = r.vars.get(b"upstream_cache_etag".as_slice()) {
        out[2].1 = v.clone();
    }
    Some(out)
}

/// The names of [`upstream_request_headers`]' list.
pub(crate) const UPSTREAM_HEADERS: [&str; 6] = [
    "If-Modified-Since",
    "If-Unmodified-Since",
    "If-None-Match",
    "If-Match",
    "Range",
    "If-Range",
];

/// What the upstream's headers say about caching (nginx: ngx_http_upstream_process_*
/// handlers for Set-Cookie, Cache-Control, Expires, X-Accel-Expires, Vary), in their order.
/// Called with the upstream's response headers before they are processed.
pub(crate) fn upstream_response_headers(r: &mut Request, headers: &[(Vec<u8>, Vec<u8>)]) {
    if r.vars.remove(PENDING).is_some() {
        r.vars.insert(ANSWERED.to_vec(), Vec::new());
    }
    let Some(ign) = r.vars.get(ON) else {
        return;
    };
    let ign: u32 = std::str::from_utf8(ign)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let t = now();
    let mut cacheable = true;
    let mut valid = 0i64;
    let mut updating = 0i64;
    let mut error = 0i64;
    let mut xae = false;
    let find = |h: &[u8], n: &[u8]| -> Option<usize> {
        let h = h.to_ascii_lowercase();
        h.windows(n.len()).position(|w| w == n)
    };
    // nginx: the digits after `name=` up to `,` `;` ` `; anything else makes it uncacheable
    let number = |v: &[u8], at: usize| -> Option<i64> {
        let mut n = 0i64;
        for &c in &v[at..] {
            if c == b',' || c == b';' || c == b' ' {
                break;
            }
            if c.is_ascii_digit() {
                n = n.saturating_mul(10).saturating_add(i64::from(c - b'0'));
                continue;
            }
            return None;
        }
        Some(n)
    };
    for (name, v) in headers {
        let ln = name.to_ascii_lowercase();
        match ln.as_slice() {
            b"set-cookie" if ign & IGN_SET_COOKIE == 0 => cacheable = false,
            b"cache-control" => {
                if ign & IGN_CACHE_CONTROL != 0 || (valid != 0 && xae) {
                    continue;
                }
                if find(v, b"no-cache").is_some()
                    || find(v, b"no-store").is_some()
                    || find(v, b"private").is_some()
                {
                    cacheable = false;
                    continue;
                }
                let at = find(v, b"s-maxage=")
                    .map(|p| p + 9)
                    .or_else(|| find(v, b"max-age=").map(|p| p + 8));
                if let Some(at) = at {
                    match number(v, at) {
                        Some(n) if n > 0 => valid = t + n,
                        _ => {
                            cacheable = false;
                            continue;
                        }
                    }
                }
                if let Some(p) = find(v, b"stale-while-revalidate=") {
                    match number(v, p + 23) {
                        Some(n) => {
                            updating = n;
                            error = n;
                        }
                        None => {
                            cacheable = false;
                            continue;
                        }
                    }
                }
                if let Some(p) = find(v, b"stale-if-error=") {
                    match number(v, p + 15) {
                        Some(n) => error = n,
                        None => {
                            cacheable = false;
                            continue;
                        }
                    }
                }
            }
            b"expires" => {
                if ign & IGN_EXPIRES != 0 || valid != 0 {
                    continue;
                }
                match crate::http::response::parse_http_time(v) {
                    Some(e) if e >= t => valid = e,
                    _ => cacheable = false,
                }
            }
            b"x-accel-expires" => {
                xae = true;
                if ign & IGN_XA_EXPIRES != 0 {
                    continue;
                }
                if let Some(at) = v.strip_prefix(b"@") {
                    if let Some(n) = atoi(at) {
                        valid = n;
                    }
                } else {
                    match atoi(v) {
                        Some(0) => cacheable = false,
                        Some(n) => valid = t + n,
                        None => {}
                    }
                }
            }
            b"vary" if ign & IGN_VARY == 0 && v.trim_ascii() == b"*" => cacheable = false,
            _ => {}
        }
    }
    r.vars.insert(
        HDR.to_vec(),
        format!("{} {valid} {updating} {error}", u8::from(cacheable)).into_bytes(),
    );
}

/// A response served from a cache file (nginx: ngx_http_upstream_cache_send).
fn serve(r: &mut Request, c: Cached) -> Reply {
    r.vars.remove(ON);
    let m = &c.meta;
    let mut reply = Reply::status(m.status);
    reply.raw_location = true;
    if !m.status_line.is_empty() {
        reply.status_line = Some(m.status_line.clone());
    }
    for (n, v) in &m.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(n), HeaderValue::from_bytes(v)) {
            reply.headers.append(n, v);
        }
    }
    reply.names.0 = m.names.clone();
    let mut hv = Vec::new();
    for (n, v) in &m.headers {
        hv.push((n.clone(), v.clone()));
    }
    crate::http::proxy_run::upstream_http_vars(r, &hv);
    reply.allow_ranges = m.ranges;
    reply.length = Some(c.body_len);
    if m.chunked {
        reply.length = None;
        reply.allow_ranges = false;
        if r.method != hyper::Method::HEAD {
            let mut f = c.file;
            let mut data = Vec::new();
            let _ = f.read_to_end(&mut data);
            data.truncate(c.body_len as usize);
            reply.body = Some(crate::http::response::full(Bytes::from(data)));
        } else {
            reply.body = Some(crate::http::response::empty());
        }
        return reply;
    }
    if r.method == hyper::Method::HEAD || c.body_len == 0 {
        reply.body = Some(crate::http::response::empty());
    } else {
        reply.file = Some(FileBody {
            file: c.file,
            size: c.body_len,
        });
    }
    reply
}

/// nginx: ngx_http_upstream_cache_background_update: runs the request again in the
/// background with the cache refreshing (the client has the stale response already).
fn background(r: &mut Request, m: Module) {
    if tokio::task::try_id().is_none() {
        return;
    }
    // nginx: a clone subrequest (NGX_HTTP_SUBREQUEST_CLONE | _BACKGROUND): the same
    // location's content handler, the same variables; its answer goes nowhere.
    let sub = crate::http::lua::subrequest::next_sub();
    let mut sr = r.subrequest(
        sub,
        r.uri.clone(),
        r.args.clone(),
        r.method.clone(),
        r.vars.clone(),
    );
    sr.loc = r.loc.clone();
    sr.location = r.location.clone();
    sr.valid_unparsed_uri = r.valid_unparsed_uri;
    sr.internal = r.internal;
    sr.vars.insert(BACKGROUND.to_vec(), Vec::new());
    crate::http::mirror::spawn_background(r, async move {
        let reply = match m {
            Module::Proxy => crate::http::proxy_run::content(&mut sr).await,
            Module::Fastcgi => crate::http::fastcgi_run::content(&mut sr).await,
        };
        if let Some(body) = reply.and_then(|mut r| r.body.take()) {
            let _ = body.collect().await;
        }
    });
}

/// Marks a background update (nginx: `r->background`): it never serves stale itself.
const BACKGROUND: &[u8] = b" cache background";

/// The upstream failed (no response): how, for `*_cache_use_stale` (nginx: the ft_type of
/// ngx_http_upstream_next).
fn failure_kind(answered: bool, reply: &Reply) -> Option<u32> {
    if answered || reply.body.is_some() {
        return None;
    }
    match reply.status {
        502 => Some(FT_ERROR | FT_INVALID_HEADER),
        504 => Some(FT_TIMEOUT),
        _ => None,
    }
}

fn status_mask(s: u16) -> u32 {
    match s {
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

/// nginx: ngx_http_file_cache_valid.
fn valid_for(list: &Option<Arc<Vec<(u16, i64)>>>, status: u16) -> i64 {
    let Some(l) = list else { return 0 };
    for &(s, t) in l.iter() {
        if s == 0 || s == status {
            return t;
        }
    }
    0
}

/// After the upstream answered (or failed): stale answers, revalidation, and storing a
/// cacheable response (nginx: ngx_http_upstream_test_next's cache branches,
/// ngx_http_upstream_next's use_stale, ngx_http_upstream_send_response's caching,
/// ngx_http_upstream_finalize_request's cached errors).
pub(crate) async fn finish(r: &mut Request, mut p: Box<Pending>, mut reply: Reply) -> Reply {
    let hdr = r.vars.remove(HDR);
    r.vars.remove(ON);
    r.vars.remove(PENDING);
    let answered = r.vars.remove(ANSWERED).is_some();
    let (mut cacheable, valid_hdr, updating_sec, error_sec) = match &hdr {
        Some(h) => {
            let s = String::from_utf8_lossy(h);
            let v: Vec<i64> = s.split(' ').filter_map(|x| x.parse().ok()).collect();
            (
                v.first() == Some(&1),
                v.get(1).copied().unwrap_or(0),
                v.get(2).copied().unwrap_or(0),
                v.get(3).copied().unwrap_or(0),
            )
        }
        None => (p.cacheable, 0, 0, 0),
    };
    cacheable &= p.cacheable;
    let use_stale = p.conf.use_stale.unwrap_or(0);
    let t = now();
    // stale on failures and on statuses
    if p.status == Status::Expired {
        if let Some(stale) = p.stale.take() {
            let stale_error = stale.meta.valid_sec + stale.meta.error_sec >= t;
            let kind = match failure_kind(answered, &reply) {
                Some(k) => k,
                None if answered => status_mask(reply.status),
                None => 0,
            };
            let failed = failure_kind(answered, &reply).is_some();
            if kind != 0 && (use_stale & kind != 0 || (failed && stale_error)) {
                set_status(r, Status::Stale);
                p.status = Status::Stale;
                return serve(r, stale);
            }
            if reply.status == 304 && answered && p.conf.revalidate == Some(true) {
                // nginx: the cached response, its validity renewed by the 304's headers
                set_status(r, Status::Revalidated);
                let mut valid = valid_hdr;
                let (mut upd, mut err) = (updating_sec, error_sec);
                if valid == 0 {
                    valid = stale.meta.valid_sec;
                    upd = stale.meta.updating_sec;
                    err = stale.meta.error_sec;
                }
                if valid == 0 {
                    let v = valid_for(&p.conf.valid, 304);
                    if v != 0 {
                        valid = t + v;
                    }
                }
                if valid != 0 {
                    let mut meta = stale.meta.clone();
                    meta.valid_sec = valid;
                    meta.updating_sec = upd;
                    meta.error_sec = err;
                    meta.date = t;
                    let path = p.zone.st.lock().ok().map(|st| file_name(&st, &p.key));
                    if let Some(path) = path {
                        update_meta(&path, stale.body_len, &meta);
                    }
                }
                return serve(r, stale);
            }
        }
    }
    if let Some(_kind) = failure_kind(answered, &reply) {
        // nginx: ngx_http_upstream_finalize_request: a 502/504 with a validity is
        // remembered in the node
        if p.cacheable && !predicates(r, &p.conf.no_cache) {
            let v = valid_for(&p.conf.valid, reply.status);
            if v != 0 {
                if let Ok(mut st) = p.zone.st.lock() {
                    if let Some(n) = st.nodes.get_mut(&p.key) {
                        n.error = reply.status;
                        n.valid_sec = t + v;
                    }
                }
            }
        }
        return reply;
    }
    if !answered
        || r.vars
            .contains_key(b"upstream_http_x_accel_redirect".as_slice())
    {
        return reply;
    }
    if predicates(r, &p.conf.no_cache) {
        cacheable = false;
    }
    if p.conf.buffering == Some(false) {
        cacheable = false;
    }
    // nginx: r->disable_not_modified = !u->cacheable (the headers allowed caching)
    reply.no_not_modified = !cacheable;
    let mut valid = valid_hdr;
    if cacheable && valid == 0 {
        let v = valid_for(&p.conf.valid, reply.status);
        if v != 0 {
            valid = t + v;
        }
    }
    if !cacheable || valid == 0 {
        return reply;
    }
    // cacheable: Accept-Ranges says the cached body may be served in ranges
    let ranges = reply.headers.contains_key(hyper::header::ACCEPT_RANGES);
    reply.headers.remove(hyper::header::ACCEPT_RANGES);
    let (last_modified, etag) = if reply.status == 200 || reply.status == 206 {
        (
            reply
                .headers
                .get(hyper::header::LAST_MODIFIED)
                .and_then(|v| crate::http::response::parse_http_time(v.as_bytes()))
                .unwrap_or(-1),
            reply
                .headers
                .get(hyper::header::ETAG)
                .map(|v| v.as_bytes().to_vec())
                .unwrap_or_default(),
        )
    } else {
        (-1, Vec::new())
    };
    let mut headers = Vec::new();
    for (n, v) in reply.headers.iter() {
        headers.push((n.as_str().as_bytes().to_vec(), v.as_bytes().to_vec()));
    }
    let meta = Meta {
        key: p.key_text.clone(),
        valid_sec: valid,
        updating_sec,
        error_sec,
        date: t,
        last_modified,
        etag,
        status: reply.status,
        status_line: reply.status_line.clone().unwrap_or_default(),
        names: reply.names.0.clone(),
        headers,
        ranges,
        chunked: p.module == Module::Fastcgi && reply.length.is_none(),
    };
    let Some(body) = reply.body.take() else {
        return reply;
    };
    match store(&p, body, &meta).await {
        Ok((file, body_len)) => {
            let length_known = reply.length.is_some() || r.method == hyper::Method::HEAD;
            let mut out = serve(
                r,
                Cached {
                    file,
                    body_len,
                    meta,
                },
            );
            set_status(r, p.status);
            if !length_known && !p.converted_head {
                // the upstream's body had no length: sent as it came (chunked)
                out.length = None;
                if let Some(f) = out.file.take() {
                    let mut f = f.file;
                    let mut data = Vec::new();
                    let _ = f.read_to_end(&mut data);
                    data.truncate(body_len as usize);
                    out.body = Some(crate::http::response::full(Bytes::from(data)));
                }
                out.allow_ranges = false;
            }
            out
        }
        Err((data, complete)) => {
            let mut out = reply;
            out.body = Some(crate::http::response::full(Bytes::from(data)));
            if !complete {
                // the upstream's body broke: what came, then the connection closes
                out.length = None;
                out.close = true;
            }
            out
        }
    }
}

/// Writes the body and the metadata to a temporary file next to the final one, then renames
/// it into place and updates the node. Returns the file (at its start) and the body's length,
/// or the bytes read when the upstream's body failed.
async fn store(
    p: &Pending,
    mut body: crate::http::response::Body,
    meta: &Meta,
) -> Result<(std::fs::File, u64), (Vec<u8>, bool)> {
    let path = match p.zone.st.lock() {
        Ok(st) => file_name(&st, &p.key),
        Err(_) => return Err((Vec::new(), false)),
    };
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{}.{}.{n}.tmp", hex(&p.key), std::process::id()));
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .ok();
    let mut len = 0u64;
    // the body when the file cannot take it (then it is not cached)
    let mut kept = Vec::new();
    let mut failed = false;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            failed = true;
            break;
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if let Some(f) = file.as_mut() {
            if f.write_all(&data).is_err() {
                kept = std::fs::read(&tmp).unwrap_or_default();
                kept.truncate(len as usize);
                file = None;
                let _ = std::fs::remove_file(&tmp);
            }
        }
        if file.is_none() {
            kept.extend_from_slice(&data);
        }
        len += data.len() as u64;
    }
    if failed {
        if file.is_some() {
            kept = std::fs::read(&tmp).unwrap_or_default();
            kept.truncate(len as usize);
        }
        let _ = std::fs::remove_file(&tmp);
        return Err((kept, false));
    }
    let Some(mut f) = file else {
        return Err((kept, true));
    };
    if f.write_all(&meta.encode()).is_err() || std::fs::rename(&tmp, &path).is_err() {
        kept = std::fs::read(&tmp).unwrap_or_default();
        kept.truncate(len as usize);
        let _ = std::fs::remove_file(&tmp);
        return Err((kept, true));
    }
    let size = f.metadata().map_or(len, |m| m.len());
    if let Ok(mut st) = p.zone.st.lock() {
        let old = st
            .nodes
            .get(&p.key)
            .filter(|n| n.exists)
            .map_or(0, |n| n.size);
        st.size = st.size.saturating_sub(old) + size;
        let t = now();
        st.seq += 1;
        let seq = st.seq;
        let inactive = st.inactive;
        let n = st.nodes.entry(p.key).or_default();
        n.exists = true;
        n.size = size;
        n.error = 0;
        n.valid_sec = meta.valid_sec;
        n.expire = t + inactive;
        n.seq = seq;
        if n.uses == 0 {
            n.uses = 1;
        }
    }
    let _ = f.seek(SeekFrom::Start(0));
    Ok((f, len))
}

/// nginx: ngx_http_file_cache_update_header: new validity for a revalidated response,
/// written as a new file renamed over the old one.
fn update_meta(path: &Path, body_len: u64, meta: &Meta) {
    let Ok(mut src) = std::fs::File::open(path) else {
        return;
    };
    let tmp = path.with_extension("upd.tmp");
    let Ok(mut dst) = std::fs::File::create(&tmp) else {
        return;
    };
    let mut left = body_len;
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 {
        let want = buf.len().min(left as usize);
        match src.read(&mut buf[..want]) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if dst.write_all(&buf[..n]).is_err() {
                    let _ = std::fs::remove_file(&tmp);
                    return;
                }
                left -= n as u64;
            }
        }
    }
    if left == 0 && dst.write_all(&meta.encode()).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    } else {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// `$upstream_cache_last_modified` / `$upstream_cache_etag` for a revalidation (nginx:
/// only with `*_cache_revalidate` and an expired response that had them).
fn revalidation_vars(r: &mut Request, p: &Pending) {
    r.vars.remove(b"upstream_cache_last_modified".as_slice());
    r.vars.remove(b"upstream_cache_etag".as_slice());
    if p.conf.revalidate != Some(true) || p.status != Status::Expired {
        return;
    }
    let Some(s) = &p.stale else { return };
    if s.meta.last_modified != -1 {
        let t = std::time::UNIX_EPOCH + Duration::from_secs(s.meta.last_modified.max(0) as u64);
        r.vars.insert(
            b"upstream_cache_last_modified".to_vec(),
            httpdate::fmt_http_date(t).into_bytes(),
        );
    }
    if !s.meta.etag.is_empty() {
        r.vars
            .insert(b"upstream_cache_etag".to_vec(), s.meta.etag.clone());
    }
}

impl Pending {
    /// Before the upstream request: HEAD as GET, the revalidation variables.
    pub(crate) fn prepare(&self, r: &mut Request) {
        r.vars.remove(ANSWERED);
        r.vars.insert(PENDING.to_vec(), Vec::new());
        if self.converted_head {
            r.method = hyper::Method::GET;
        }
        revalidation_vars(r, self);
    }

    /// After it: the request's own method back.
    pub(crate) fn restore(&self, r: &mut Request) {
        if self.converted_head {
            r.method = hyper::Method::HEAD;
        }
    }
}

/// A background update's request (see [`background`]) answers nothing stale.
pub(crate) fn is_background(r: &Request) -> bool {
    r.vars.contains_key(BACKGROUND)
}
