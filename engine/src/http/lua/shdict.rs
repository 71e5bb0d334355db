//! `ngx.shared.DICT` (nginx: ngx_http_lua_shdict.c and resty.core.shdict): process-wide
//! dictionaries shared by every worker thread, kept across reloads (a registry by name;
//! a dict whose size changed is made anew, as nginx makes a new zone).
//!
//! Room is nginx's: a model of the zone's slab allocator (slab.rs) takes a node of nginx's
//! size for each entry and list item, so `set` evicts the least recently used entries (and
//! says `forcible`) and `safe_set`/`safe_add`/`lpush` answer "no memory" exactly when the
//! reference does, and `free_space()` reads the same.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::slab::{Alloc, Slab};

/// A stored value (nginx: SHDICT_TSTRING, TNUMBER, TBOOLEAN, TLIST).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Str(Vec<u8>),
    Num(f64),
    Bool(bool),
    List(std::collections::VecDeque<Val>),
}

#[derive(Debug)]
struct Entry {
    /// A list's items are in `val`; their slab chunks in `items`, in the same order.
    val: Val,
    flags: u32,
    expires: Option<Instant>,
    /// Position in the LRU queue (`Inner::lru`).
    seq: u64,
    /// The node's place in the zone (nginx: the rbtree node's slab chunk).
    node: Alloc,
    items: std::collections::VecDeque<Alloc>,
}

/// Bytes of a dict node before its key (nginx: offsetof(ngx_rbtree_node_t, color) +
/// offsetof(ngx_http_lua_shdict_node_t, data)).
const NODE: usize = 68;
/// Bytes of a list item before its value (nginx: offsetof(ngx_http_lua_shdict_list_node_t,
/// data)).
const LIST_NODE: usize = 21;

/// The value's bytes as nginx stores them.
fn val_len(v: &Val) -> usize {
    match v {
        Val::Str(s) => s.len(),
        Val::Num(_) => 8,
        Val::Bool(_) => 1,
        Val::List(_) => 16,
    }
}

#[derive(Debug)]
pub(crate) struct Dict {
    pub(crate) name: Vec<u8>,
    pub(crate) size: u64,
    inner: Mutex<Inner>,
    /// A time before every expiry (`flush_all` marks entries expired with it).
    epoch: Instant,
}

#[derive(Debug)]
struct Inner {
    map: HashMap<Arc<[u8]>, Entry>,
    /// The LRU queue by position: the last is the most recently used (nginx: `lru_queue`,
    /// whose head is the most recent).
    lru: BTreeMap<u64, Arc<[u8]>>,
    seq: u64,
    slab: Slab,
}

static REGISTRY: Mutex<Vec<Arc<Dict>>> = Mutex::new(Vec::new());

/// The dict `name` of `size` bytes, shared by all workers and kept across reloads.
pub(crate) fn get_or_create(name: &[u8], size: u64) -> Arc<Dict> {
    let Ok(mut reg) = REGISTRY.lock() else {
        return Arc::new(Dict::new(name, size));
    };
    if let Some(d) = reg.iter().find(|d| d.name == name && d.size == size) {
        return d.clone();
    }
    reg.retain(|d| d.name != name);
    let d = Arc::new(Dict::new(name, size));
    reg.push(d.clone());
    d
}

/// A worker's replay of `init_by_lua*` (see `vm::init_in_master`): in nginx the workers
/// inherit the master's dicts, so the replay reads them and writes nothing; writes answer
/// as the master's run saw them.
fn replay() -> bool {
    super::vm::init_is_replay()
}

/// What `set`-like operations did.
pub(crate) enum SetResult {
    /// Stored; `true` when valid items were evicted to make room.
    Ok(bool),
    /// `add` on an existing key / `replace` on a missing one.
    Exists,
    NotFound,
    /// No room; `true` when valid items were evicted trying.
    NoMemory(bool),
}

pub(crate) enum IncrResult {
    Ok(f64, bool),
    NotFound,
    NotANumber,
    NoMemory,
}

/// Why `lpush`/`rpush` failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PushError {
    NotAList,
    /// No room for a new list's node (Lua sees `false, "no memory"`).
    NoMemoryForList,
    /// No room for the item (Lua sees `nil, "no memory"`).
    NoMemory,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Set,
    SafeSet,
    Add,
    SafeAdd,
    Replace,
}

/// What a keyed lookup found (nginx: ngx_http_lua_shdict_lookup's NGX_OK / NGX_DONE).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Found {
    Live,
    Expired,
}

impl Inner {
    /// nginx: ngx_http_lua_shdict_lookup: finds `key` and moves it to the head of the LRU
    /// queue, expired or not.
    fn lookup(&mut self, key: &[u8], now: Instant) -> Option<Found> {
        self.lookup_entry(key, now).map(|(found, _)| found)
    }

    /// [`Inner::lookup`] that also hands out the entry (one hash of the key).
    fn lookup_entry(&mut self, key: &[u8], now: Instant) -> Option<(Found, &mut Entry)> {
        let Inner { map, lru, seq, .. } = self;
        let e = map.get_mut(key)?;
        // already at the head: nothing moves
        if e.seq != *seq {
            *seq += 1;
            let k = lru.remove(&e.seq)?;
            e.seq = *seq;
            lru.insert(*seq, k);
        }
        let found = if e.expires.is_some_and(|t| t < now) {
            Found::Expired
        } else {
            Found::Live
        };
        Some((found, e))
    }

    /// Removes `key` and gives its chunks back, list items first.
    fn remove(&mut self, key: &[u8]) {
        let Some(e) = self.map.remove(key) else {
            return;
        };
        self.lru.remove(&e.seq);
        for a in e.items {
            self.slab.free(a);
        }
        self.slab.free(e.node);
    }

    /// nginx: ngx_http_lua_shdict_expire: with `n == 1` frees up to two expired entries at
    /// the LRU tail; with `n == 0` the tail entry whatever its age, then up to two expired.
    fn expire(&mut self, mut n: u32, now: Instant) -> usize {
        let mut freed = 0;
        while n < 3 {
            let Some((_, key)) = self.lru.first_key_value() else {
                return freed;
            };
            let key = key.clone();
            if n != 0 {
                let Some(e) = self.map.get(&*key) else {
                    return freed;
                };
                if e.expires.is_none_or(|t| t > now) {
                    return freed;
                }
            }
            n += 1;
            self.remove(&key);
            freed += 1;
        }
        freed
    }

    /// A node of `size` bytes, evicting the least recently used entries when the zone is
    /// full (nginx: the 30 tries of ngx_http_lua_ffi_shdict_store). `.1`: something live
    /// may have been evicted.
    fn alloc_forcibly(&mut self, size: usize, now: Instant) -> (Option<Alloc>, bool) {
        if let Some(a) = self.slab.alloc(size) {
            return (Some(a), false);
        }
        let mut forcible = false;
        for _ in 0..30 {
            if self.expire(0, now) == 0 {
                break;
            }
            forcible = true;
            if let Some(a) = self.slab.alloc(size) {
                return (Some(a), true);
            }
        }
        (None, forcible)
    }

    fn insert(&mut self, key: &[u8], val: Val, flags: u32, expires: Option<Instant>, node: Alloc) {
        self.seq += 1;
        let k: Arc<[u8]> = Arc::from(key);
        self.lru.insert(self.seq, k.clone());
        self.map.insert(
            k,
            Entry {
                val,
                flags,
                expires,
                seq: self.seq,
                node,
                items: Default::default(),
            },
        );
    }
}

impl Dict {
    fn new(name: &[u8], size: u64) -> Dict {
        let mut slab = Slab::new(usize::try_from(size).unwrap_or(usize::MAX));
        // nginx: ngx_http_lua_shdict_init_zone's own allocations (the tree and queue
        // heads, the zone's log text).
        let _ = slab.alloc(80);
        let _ = slab.alloc(27 + name.len());
        Dict {
            name: name.to_vec(),
            size,
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                lru: BTreeMap::new(),
                seq: 0,
                slab,
            }),
            epoch: Instant::now(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// nginx: ngx_http_lua_ffi_shdict_get: value, flags, stale.
    pub(crate) fn get(&self, key: &[u8], stale: bool) -> Option<(Val, u32, bool)> {
        let mut g = self.lock();
        let now = Instant::now();
        if !replay() && !stale {
            g.expire(1, now);
        }
        let (found, e) = g.lookup_entry(key, now)?;
        if found == Found::Expired && !stale {
            return None;
        }
        let val = match &e.val {
            Val::List(_) => Val::List(Default::default()),
            v => v.clone(),
        };
        Some((val, e.flags, found == Found::Expired))
    }

    /// nginx: ngx_http_lua_ffi_shdict_store. `val` None deletes.
    pub(crate) fn store(
        &self,
        mode: Mode,
        key: &[u8],
        val: Option<Val>,
        exptime: f64,
        flags: u32,
    ) -> SetResult {
        if replay() {
            return SetResult::Ok(false);
        }
        let mut g = self.lock();
        let now = Instant::now();
        g.expire(1, now);
        let found = g.lookup(key, now);
        match (mode, found) {
            (Mode::Replace, None | Some(Found::Expired)) => return SetResult::NotFound,
            (Mode::Add | Mode::SafeAdd, Some(Found::Live)) => return SetResult::Exists,
            _ => {}
        }
        if found.is_some() {
            // nginx reuses the node when the new value has the old one's size
            if let (Some(v), Some(e)) = (&val, g.map.get_mut(key)) {
                if !matches!(e.val, Val::List(_)) && val_len(v) == val_len(&e.val) {
                    e.val = v.clone();
                    e.flags = flags;
                    e.expires = expiry(exptime, now);
                    return SetResult::Ok(false);
                }
            }
            g.remove(key);
        }
        let Some(val) = val else {
            return SetResult::Ok(false);
        };
        let size = NODE + key.len() + val_len(&val);
        let (node, forcible) = if matches!(mode, Mode::SafeSet | Mode::SafeAdd) {
            (g.slab.alloc(size), false)
        } else {
            g.alloc_forcibly(size, now)
        };
        let Some(node) = node else {
            return SetResult::NoMemory(forcible);
        };
        g.insert(key, val, flags, expiry(exptime, now), node);
        SetResult::Ok(forcible)
    }

    /// nginx: ngx_http_lua_ffi_shdict_incr.
    pub(crate) fn incr(&self, key: &[u8], by: f64, init: Option<f64>, init_ttl: f64) -> IncrResult {
        if replay() {
            // what the master's run returned, as long as nothing changed it since
            return match self.get(key, false) {
                Some((Val::Num(n), _, _)) => IncrResult::Ok(n, false),
                _ => IncrResult::Ok(init.unwrap_or(0.0) + by, false),
            };
        }
        let mut g = self.lock();
        let now = Instant::now();
        g.expire(1, now);
        let found = match g.lookup_entry(key, now) {
            Some((Found::Live, e)) => {
                let Val::Num(n) = e.val else {
                    return IncrResult::NotANumber;
                };
                e.val = Val::Num(n + by);
                return IncrResult::Ok(n + by, false);
            }
            other => other.map(|(f, _)| f),
        };
        let Some(init) = init else {
            return IncrResult::NotFound;
        };
        let num = by + init;
        if found == Some(Found::Expired) {
            if let Some(e) = g.map.get_mut(key) {
                if !matches!(e.val, Val::List(_)) && val_len(&e.val) == 8 {
                    e.val = Val::Num(num);
                    e.flags = 0;
                    e.expires = expiry(init_ttl, now);
                    return IncrResult::Ok(num, false);
                }
            }
            g.remove(key);
        }
        let (node, forcible) = g.alloc_forcibly(NODE + key.len() + 8, now);
        let Some(node) = node else {
            return IncrResult::NoMemory;
        };
        g.insert(key, Val::Num(num), 0, expiry(init_ttl, now), node);
        IncrResult::Ok(num, forcible)
    }

    /// nginx: ngx_http_lua_ffi_shdict_flush_all: every entry expires; three are freed now,
    /// the others as later operations meet them.
    pub(crate) fn flush_all(&self) {
        if replay() {
            return;
        }
        let mut g = self.lock();
        let past = Some(self.epoch);
        for e in g.map.values_mut() {
            e.expires = past;
        }
        g.expire(0, Instant::now());
    }

    /// nginx: ngx_http_lua_shdict_flush_expired: how many were freed (oldest first, at most
    /// `max` unless 0).
    pub(crate) fn flush_expired(&self, max: usize) -> usize {
        if replay() {
            return 0;
        }
        let mut g = self.lock();
        let now = Instant::now();
        let dead: Vec<Arc<[u8]>> = g
            .lru
            .values()
            .filter(|k| {
                g.map
                    .get(&***k)
                    .is_some_and(|e| e.expires.is_some_and(|t| t <= now))
            })
            .take(if max == 0 { usize::MAX } else { max })
            .cloned()
            .collect();
        for k in &dead {
            g.remove(k);
        }
        dead.len()
    }

    /// nginx: ngx_http_lua_shdict_get_keys: live keys, least recently used first.
    pub(crate) fn keys(&self, max: usize) -> Vec<Vec<u8>> {
        let g = self.lock();
        let now = Instant::now();
        g.lru
            .values()
            .filter(|k| {
                g.map
                    .get(&***k)
                    .is_some_and(|e| e.expires.is_none_or(|t| t > now))
            })
            .take(if max == 0 { usize::MAX } else { max })
            .map(|k| k.to_vec())
            .collect()
    }

    /// nginx: ngx_http_lua_ffi_shdict_get_ttl: seconds left (0: no expiry; negative once
    /// expired but not yet freed); `None` when missing.
    pub(crate) fn ttl(&self, key: &[u8]) -> Option<f64> {
        let g = self.lock();
        let now = Instant::now();
        let e = g.map.get(key)?;
        Some(e.expires.map_or(0.0, |t| {
            let ms = |d: Duration| ((d.as_micros() + 500) / 1000) as f64;
            if t >= now {
                ms(t - now) / 1000.0
            } else {
                -ms(now - t) / 1000.0
            }
        }))
    }

    /// nginx: ngx_http_lua_ffi_shdict_set_expire (an expired entry not yet freed counts).
    pub(crate) fn expire(&self, key: &[u8], exptime: f64) -> bool {
        if replay() {
            return self.ttl(key).is_some();
        }
        let mut g = self.lock();
        let now = Instant::now();
        match g.map.get_mut(key) {
            Some(e) => {
                e.expires = expiry(exptime, now);
                true
            }
            None => false,
        }
    }

    /// nginx: ngx_http_lua_ffi_shdict_free_space: bytes in free pages.
    pub(crate) fn free_space(&self) -> usize {
        self.lock().slab.free_bytes()
    }

    /// nginx: ngx_http_lua_shdict_push_helper: the list's length.
    pub(crate) fn push(&self, key: &[u8], val: Val, left: bool) -> Result<usize, PushError> {
        if replay() {
            return self.llen(key).map_err(|_| PushError::NotAList);
        }
        let mut g = self.lock();
        let now = Instant::now();
        g.expire(1, now);
        match g.lookup(key, now) {
            Some(found) => {
                let Some(e) = g.map.get_mut(key) else {
                    return Err(PushError::NoMemory);
                };
                let is_list = matches!(e.val, Val::List(_));
                if found == Found::Live && !is_list {
                    return Err(PushError::NotAList);
                }
                if found == Found::Expired {
                    if is_list {
                        // nginx reuses the expired list's node, emptied
                        e.expires = None;
                        e.val = Val::List(Default::default());
                        let items = std::mem::take(&mut e.items);
                        for a in items {
                            g.slab.free(a);
                        }
                    } else {
                        g.remove(key);
                        new_list(&mut g, key)?;
                    }
                }
            }
            None => new_list(&mut g, key)?,
        }
        let item = g.slab.alloc(LIST_NODE + val_len(&val));
        let Some(e) = g.map.get_mut(key) else {
            return Err(PushError::NoMemory);
        };
        let (Some(item), Val::List(l)) = (item, &mut e.val) else {
            if matches!(&e.val, Val::List(l) if l.is_empty()) {
                g.remove(key);
            }
            return Err(PushError::NoMemory);
        };
        if left {
            l.push_front(val);
            e.items.push_front(item);
        } else {
            l.push_back(val);
            e.items.push_back(item);
        }
        Ok(l.len())
    }

    /// nginx: ngx_http_lua_shdict_pop_helper.
    pub(crate) fn pop(&self, key: &[u8], left: bool) -> Result<Option<Val>, &'static str> {
        if replay() {
            return self.llen(key).map(|_| None);
        }
        let mut g = self.lock();
        let now = Instant::now();
        g.expire(1, now);
        if g.lookup(key, now) != Some(Found::Live) {
            return Ok(None);
        }
        let Some(e) = g.map.get_mut(key) else {
            return Ok(None);
        };
        let Val::List(l) = &mut e.val else {
            return Err("value not a list");
        };
        let (v, a) = if left {
            (l.pop_front(), e.items.pop_front())
        } else {
            (l.pop_back(), e.items.pop_back())
        };
        let empty = l.is_empty();
        if let Some(a) = a {
            g.slab.free(a);
        }
        if empty {
            g.remove(key);
        }
        Ok(v)
    }

    /// nginx: ngx_http_lua_shdict_llen.
    pub(crate) fn llen(&self, key: &[u8]) -> Result<usize, &'static str> {
        let mut g = self.lock();
        let now = Instant::now();
        if !replay() {
            g.expire(1, now);
        }
        if g.lookup(key, now) != Some(Found::Live) {
            return Ok(0);
        }
        match g.map.get(key) {
            Some(Entry {
                val: Val::List(l), ..
            }) => Ok(l.len()),
            Some(_) => Err("value not a list"),
            None => Ok(0),
        }
    }
}

/// A new, empty list's node (nginx: the `init_list` step of the push helper; no eviction).
fn new_list(g: &mut Inner, key: &[u8]) -> Result<(), PushError> {
    let size = (NODE + key.len() + 16).div_ceil(8) * 8;
    let Some(node) = g.slab.alloc(size) else {
        return Err(PushError::NoMemoryForList);
    };
    g.insert(key, Val::List(Default::default()), 0, None, node);
    Ok(())
}

fn expiry(exptime: f64, now: Instant) -> Option<Instant> {
    (exptime > 0.0).then(|| now + Duration::from_secs_f64(exptime.min(1e9)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_and_incr() {
        let d = Dict::new(b"t", 1 << 20);
        assert!(matches!(
            d.store(Mode::Set, b"a", Some(Val::Num(1.0)), 0.0, 0),
            SetResult::Ok(false)
        ));
        assert!(matches!(
            d.store(Mode::Add, b"a", Some(Val::Num(1.0)), 0.0, 0),
            SetResult::Exists
        ));
        assert!(matches!(d.incr(b"a", 2.0, None, 0.0), IncrResult::Ok(n, _) if n == 3.0));
        assert!(matches!(d.incr(b"b", 2.0, None, 0.0), IncrResult::NotFound));
        assert!(matches!(d.incr(b"b", 2.0, Some(5.0), 0.0), IncrResult::Ok(n, _) if n == 7.0));
        d.flush_all();
        assert!(d.get(b"a", false).is_none());
        assert_eq!(d.push(b"l", Val::Num(1.0), true), Ok(1));
        assert_eq!(d.llen(b"l"), Ok(1));
    }

    #[test]
    fn evicts_when_full() {
        let d = Dict::new(b"t", 8192 + 1000);
        let mut forced = false;
        for i in 0..100 {
            if let SetResult::Ok(f) = d.store(
                Mode::Set,
                format!("k{i}").as_bytes(),
                Some(Val::Str(vec![0; 50])),
                0.0,
                0,
            ) {
                forced |= f;
            }
        }
        assert!(forced);
        assert!(matches!(
            d.store(Mode::SafeSet, b"x", Some(Val::Str(vec![0; 50])), 0.0, 0),
            SetResult::NoMemory(_)
        ));
    }
}
