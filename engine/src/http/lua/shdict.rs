//! `ngx.shared.DICT` (nginx: ngx_http_lua_shdict.c and resty.core.shdict): process-wide
//! dictionaries shared by every worker thread, kept across reloads (a registry by name;
//! a dict whose size changed is made anew, as nginx makes a new zone).
//!
//! Memory is accounted roughly as nginx's slab would: each entry costs its key, its value
//! and a node header; when full, `set` evicts the least recently used entries (and says
//! `forcible`), `safe_set`/`safe_add` answer "no memory".

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A stored value (nginx: SHDICT_TSTRING, TNUMBER, TBOOLEAN, TLIST).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Str(Vec<u8>),
    Num(f64),
    Bool(bool),
    List(std::collections::VecDeque<Val>),
}

impl Val {
    fn size(&self) -> usize {
        match self {
            Val::Str(s) => s.len(),
            Val::Num(_) => 8,
            Val::Bool(_) => 1,
            Val::List(l) => l.iter().map(|v| v.size() + 16).sum(),
        }
    }
}

#[derive(Debug)]
struct Entry {
    val: Val,
    flags: u32,
    expires: Option<Instant>,
    /// Last use, for LRU eviction.
    used: u64,
}

/// Per-entry overhead (nginx: ngx_http_lua_shdict_node_t + rbtree/queue links, rounded).
const NODE: usize = 64;

#[derive(Debug)]
pub(crate) struct Dict {
    pub(crate) name: Vec<u8>,
    pub(crate) size: u64,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<Vec<u8>, Entry>,
    used_bytes: usize,
    clock: u64,
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

fn expired(e: &Entry, now: Instant) -> bool {
    e.expires.is_some_and(|t| t <= now)
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

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Set,
    SafeSet,
    Add,
    SafeAdd,
    Replace,
}

impl Dict {
    fn new(name: &[u8], size: u64) -> Dict {
        Dict {
            name: name.to_vec(),
            size,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn capacity_bytes(&self) -> usize {
        // nginx: the slab pool's own pages are not usable.
        usize::try_from(self.size)
            .unwrap_or(usize::MAX)
            .saturating_sub(8192)
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
        g.clock += 1;
        let clock = g.clock;
        let now = Instant::now();
        let e = g.map.get_mut(key)?;
        let is_stale = expired(e, now);
        if is_stale && !stale {
            return None;
        }
        e.used = clock;
        Some((e.val.clone(), e.flags, is_stale))
    }

    /// Makes room for `need` more bytes: expired entries first, then (unless `safe`) the least
    /// recently used ones. Returns (fits, evicted a live entry).
    fn make_room(g: &mut Inner, cap: usize, need: usize, safe: bool, keep: &[u8]) -> (bool, bool) {
        if g.used_bytes + need <= cap {
            return (true, false);
        }
        let now = Instant::now();
        let dead: Vec<Vec<u8>> = g
            .map
            .iter()
            .filter(|(_, e)| expired(e, now))
            .map(|(k, _)| k.clone())
            .collect();
        for k in dead {
            if let Some(e) = g.map.remove(&k) {
                g.used_bytes = g.used_bytes.saturating_sub(NODE + k.len() + e.val.size());
            }
        }
        let mut forcible = false;
        while g.used_bytes + need > cap {
            if safe {
                return (false, forcible);
            }
            let victim = g
                .map
                .iter()
                .filter(|(k, _)| k.as_slice() != keep)
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone());
            let Some(k) = victim else {
                return (false, forcible);
            };
            if let Some(e) = g.map.remove(&k) {
                g.used_bytes = g.used_bytes.saturating_sub(NODE + k.len() + e.val.size());
            }
            forcible = true;
        }
        (true, forcible)
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
        let cap = self.capacity_bytes();
        let mut g = self.lock();
        g.clock += 1;
        let clock = g.clock;
        let now = Instant::now();
        let live = g.map.get(key).is_some_and(|e| !expired(e, now));
        match mode {
            Mode::Add | Mode::SafeAdd if live => return SetResult::Exists,
            Mode::Replace if !live => return SetResult::NotFound,
            _ => {}
        }
        if let Some(old) = g.map.remove(key) {
            g.used_bytes = g
                .used_bytes
                .saturating_sub(NODE + key.len() + old.val.size());
        }
        let Some(val) = val else {
            return SetResult::Ok(false);
        };
        let need = NODE + key.len() + val.size();
        let safe = matches!(mode, Mode::SafeSet | Mode::SafeAdd);
        let (fits, forcible) = Self::make_room(&mut g, cap, need, safe, key);
        if !fits {
            return SetResult::NoMemory(forcible);
        }
        g.used_bytes += need;
        g.map.insert(
            key.to_vec(),
            Entry {
                val,
                flags,
                expires: expiry(exptime, now),
                used: clock,
            },
        );
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
        let cap = self.capacity_bytes();
        let mut g = self.lock();
        g.clock += 1;
        let clock = g.clock;
        let now = Instant::now();
        let live = g.map.get(key).filter(|e| !expired(e, now)).is_some();
        if live {
            let Some(e) = g.map.get_mut(key) else {
                return IncrResult::NotFound;
            };
            let Val::Num(n) = e.val else {
                return IncrResult::NotANumber;
            };
            e.val = Val::Num(n + by);
            e.used = clock;
            return IncrResult::Ok(n + by, false);
        }
        let Some(init) = init else {
            return IncrResult::NotFound;
        };
        if let Some(old) = g.map.remove(key) {
            g.used_bytes = g
                .used_bytes
                .saturating_sub(NODE + key.len() + old.val.size());
        }
        let need = NODE + key.len() + 8;
        let (fits, forcible) = Self::make_room(&mut g, cap, need, false, key);
        if !fits {
            return IncrResult::NoMemory;
        }
        g.used_bytes += need;
        g.map.insert(
            key.to_vec(),
            Entry {
                val: Val::Num(init + by),
                flags: 0,
                expires: expiry(init_ttl, now),
                used: clock,
            },
        );
        IncrResult::Ok(init + by, forcible)
    }

    pub(crate) fn flush_all(&self) {
        if replay() {
            return;
        }
        let mut g = self.lock();
        for e in g.map.values_mut() {
            e.expires = Some(Instant::now() - Duration::from_millis(1));
        }
    }

    /// nginx: ngx_http_lua_shdict_flush_expired: how many were freed.
    pub(crate) fn flush_expired(&self, max: usize) -> usize {
        if replay() {
            return 0;
        }
        let mut g = self.lock();
        let now = Instant::now();
        let dead: Vec<Vec<u8>> = g
            .map
            .iter()
            .filter(|(_, e)| expired(e, now))
            .map(|(k, _)| k.clone())
            .take(if max == 0 { usize::MAX } else { max })
            .collect();
        for k in &dead {
            if let Some(e) = g.map.remove(k) {
                g.used_bytes = g.used_bytes.saturating_sub(NODE + k.len() + e.val.size());
            }
        }
        dead.len()
    }

    pub(crate) fn keys(&self, max: usize) -> Vec<Vec<u8>> {
        let g = self.lock();
        let now = Instant::now();
        let mut v: Vec<(&Vec<u8>, u64)> = g
            .map
            .iter()
            .filter(|(_, e)| !expired(e, now))
            .map(|(k, e)| (k, e.used))
            .collect();
        v.sort_by_key(|(_, u)| std::cmp::Reverse(*u));
        v.into_iter()
            .take(if max == 0 { usize::MAX } else { max })
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Seconds left (0: no expiry); `None` when missing.
    pub(crate) fn ttl(&self, key: &[u8]) -> Option<f64> {
        let g = self.lock();
        let now = Instant::now();
        let e = g.map.get(key).filter(|e| !expired(e, now))?;
        Some(e.expires.map_or(0.0, |t| {
            ((t.duration_since(now).as_micros() + 500) / 1000) as f64 / 1000.0
        }))
    }

    pub(crate) fn expire(&self, key: &[u8], exptime: f64) -> bool {
        if replay() {
            return self.ttl(key).is_some();
        }
        let mut g = self.lock();
        let now = Instant::now();
        match g.map.get_mut(key).filter(|e| !expired(e, now)) {
            Some(e) => {
                e.expires = expiry(exptime, now);
                true
            }
            None => false,
        }
    }

    pub(crate) fn free_space(&self) -> usize {
        let g = self.lock();
        self.capacity_bytes().saturating_sub(g.used_bytes) / 4096 * 4096
    }

    /// nginx: ngx_http_lua_shdict_push_helper: list length, or an error text.
    pub(crate) fn push(&self, key: &[u8], val: Val, left: bool) -> Result<usize, &'static str> {
        if replay() {
            return self.llen(key);
        }
        let cap = self.capacity_bytes();
        let mut g = self.lock();
        g.clock += 1;
        let clock = g.clock;
        let now = Instant::now();
        let need = val.size() + 16;
        let is_live_list = match g.map.get(key) {
            Some(e) if !expired(e, now) => match e.val {
                Val::List(_) => true,
                _ => return Err("value not a list"),
            },
            _ => false,
        };
        let extra = if is_live_list {
            need
        } else {
            need + NODE + key.len()
        };
        let (fits, _) = Self::make_room(&mut g, cap, extra, false, key);
        if !fits {
            return Err("no memory");
        }
        if !is_live_list {
            if let Some(old) = g.map.remove(key) {
                g.used_bytes = g
                    .used_bytes
                    .saturating_sub(NODE + key.len() + old.val.size());
            }
            g.map.insert(
                key.to_vec(),
                Entry {
                    val: Val::List(Default::default()),
                    flags: 0,
                    expires: None,
                    used: clock,
                },
            );
        }
        g.used_bytes += extra;
        let Some(Entry {
            val: Val::List(l), ..
        }) = g.map.get_mut(key)
        else {
            return Err("value not a list");
        };
        if left {
            l.push_front(val);
        } else {
            l.push_back(val);
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
        let Some(e) = g.map.get_mut(key).filter(|e| !expired(e, now)) else {
            return Ok(None);
        };
        let Val::List(l) = &mut e.val else {
            return Err("value not a list");
        };
        let v = if left { l.pop_front() } else { l.pop_back() };
        let empty = l.is_empty();
        let freed = v.as_ref().map_or(0, |v| v.size() + 16);
        g.used_bytes = g.used_bytes.saturating_sub(freed);
        if empty {
            g.map.remove(key);
            g.used_bytes = g.used_bytes.saturating_sub(NODE + key.len());
        }
        Ok(v)
    }

    pub(crate) fn llen(&self, key: &[u8]) -> Result<usize, &'static str> {
        let g = self.lock();
        let now = Instant::now();
        match g.map.get(key).filter(|e| !expired(e, now)) {
            None => Ok(0),
            Some(Entry {
                val: Val::List(l), ..
            }) => Ok(l.len()),
            Some(_) => Err("value not a list"),
        }
    }
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
