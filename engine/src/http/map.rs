//! ngx_http_map_module: `map $source $variable { ... }`.
//!
//! Also home of two helpers other data blocks share: [`data_lines`] (nginx: ngx_conf_parse
//! with `cf->handler`, keeping the enclosing level) and [`HashKeys`] / [`hash_init`]
//! (nginx: ngx_hash_add_key and ngx_hash_init's checks).

use std::collections::HashSet;

use parser::{Block, Body, Directive};

use crate::conf::dispatch::Failed;
use crate::conf::{cmd, slot, Args, Cf, Ctx, Module, Set, SetResult, Slot};
use crate::http::variables;
use crate::log::Level;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_map_module",
    commands: &[
        cmd(
            "map",
            Ctx::HTTP_MAIN,
            Args::BLOCK.or(Args::TAKE2),
            Set::Handler(map_block),
        ),
        cmd(
            "map_hash_max_size",
            Ctx::HTTP_MAIN,
            Args::TAKE1,
            Set::Handler(map_hash_max_size),
        ),
        cmd(
            "map_hash_bucket_size",
            Ctx::HTTP_MAIN,
            Args::TAKE1,
            Set::Handler(map_hash_bucket_size),
        ),
    ],
};

/// nginx's cache line size on x86-64 (ngx_cacheline_size).
pub(crate) const CACHELINE: u64 = 64;

/// The `http` level's map settings (nginx: ngx_http_map_conf_t).
#[derive(Default, Debug)]
struct MapConf {
    hash_max_size: Option<u64>,
    hash_bucket_size: Option<u64>,
}

fn lossy(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

fn num_slot(cf: &mut Cf<'_>, d: &Directive, row: usize) -> Result<u64, Option<String>> {
    let Some(row) = MODULE.commands.get(row) else {
        return Err(None);
    };
    slot::set(cf, row, Slot::Num, d)?;
    let v = d.args.first().map(Vec::as_slice).unwrap_or_default();
    Ok(crate::conf::values::atoi(v).map_or(0, |n| n as u64))
}

fn map_hash_max_size(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let n = num_slot(cf, d, 1)?;
    cf.frame().get::<MapConf>().hash_max_size = Some(n);
    Ok(())
}

fn map_hash_bucket_size(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let n = num_slot(cf, d, 2)?;
    cf.frame().get::<MapConf>().hash_bucket_size = Some(n);
    Ok(())
}

/// nginx: ngx_conf_parse with `cf->handler` set (the lines of `map`, `geo`, `types`-like
/// blocks): each line goes to `line` as `[name, args...]` while the current level stays the
/// enclosing one (nginx keeps `cf->ctx`), a nested `{` is `unexpected "{"`, and a block the
/// parser could not finish ends in its syntax error.
pub(crate) fn data_lines<'a>(
    cf: &mut Cf<'a>,
    block: &'a Block,
    mut line: impl FnMut(&mut Cf<'a>, &[&'a [u8]]) -> Result<(), Failed>,
) -> Result<(), Failed> {
    for d in &block.directives {
        cf.set_at(d.file, d.line);
        if !matches!(d.body, Body::None) {
            return Err(cf.emerg("unexpected \"{\""));
        }
        let mut words: Vec<&'a [u8]> = Vec::with_capacity(d.args.len() + 1);
        words.push(&d.name);
        words.extend(d.args.iter().map(Vec::as_slice));
        line(cf, &words)?;
    }
    cf.directives(&[], block.complete)
}

/// nginx: ngx_http_map_block
fn map_block<'a>(cf: &mut Cf<'a>, d: &'a Directive) -> SetResult {
    let (Some(source), Some(name)) = (d.args.first(), d.args.get(1)) else {
        return Ok(());
    };
    let conf = cf.frame().get::<MapConf>();
    let max_size = conf.hash_max_size.unwrap_or(2048);
    let bucket_size = conf
        .hash_bucket_size
        .map_or(CACHELINE, |b| align(b, CACHELINE));
    // nginx fixes unset sizes in the main conf here: a later setting is a duplicate.
    cf.seen("map_hash_max_size");
    cf.seen("map_hash_bucket_size");
    variables::compile_complex_value(cf, source)?;
    let Some(var) = name.strip_prefix(b"$") else {
        return Err(cf
            .emerg(format!("invalid variable name \"{}\"", lossy(name)))
            .into());
    };
    variables::add_variable(cf, var, true)?;
    let Body::Block(block) = &d.body else {
        return Ok(());
    };

    let mut keys = HashKeys::default();
    let mut hostnames = false;
    let mut has_default = false;
    let mut values: HashSet<&[u8]> = HashSet::new();
    data_lines(cf, block, |cf, value| {
        if value.len() == 1 && value[0] == b"hostnames" {
            hostnames = true;
            return Ok(());
        }
        if value.len() == 1 && value[0] == b"volatile" {
            return Ok(());
        }
        if value.len() != 2 {
            return Err(cf.emerg("invalid number of the map parameters"));
        }
        if values.insert(value[1]) {
            variables::compile_complex_value(cf, value[1])?;
        }
        let key = value[0];
        if key == b"default" {
            if has_default {
                return Err(cf.emerg("duplicate default map parameter"));
            }
            has_default = true;
            return Ok(());
        }
        if let Some(re) = key.strip_prefix(b"~") {
            let (re, caseless) = match re.strip_prefix(b"*") {
                Some(r) => (r, true),
                None => (re, false),
            };
            crate::regex::compile(cf, re, caseless)?;
            return Ok(());
        }
        let key = key.strip_prefix(b"\\").unwrap_or(key);
        match keys.add(key, hostnames) {
            (AddKey::Ok, _) => Ok(()),
            (AddKey::Declined, k) => {
                Err(cf.emerg(format!("invalid hostname or wildcard \"{}\"", lossy(&k))))
            }
            (AddKey::Busy, k) => Err(cf.emerg(format!("conflicting parameter \"{}\"", lossy(&k)))),
        }
    })?;
    hash_init(cf, "map_hash", max_size, bucket_size, &keys.exact_keys)?;
    Ok(())
}

pub(crate) const fn align(n: u64, a: u64) -> u64 {
    (n + (a - 1)) & !(a - 1)
}

/// What ngx_hash_add_key answers.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AddKey {
    Ok,
    /// NGX_DECLINED: an invalid wildcard.
    Declined,
    /// NGX_BUSY: the key is already there.
    Busy,
}

/// nginx: ngx_hash_keys_arrays_t: exact keys and wildcard keys, for conflict checks.
#[derive(Default, Debug)]
pub(crate) struct HashKeys {
    exact: HashSet<Vec<u8>>,
    /// Exact keys in insertion order (what ngx_hash_init gets).
    pub(crate) exact_keys: Vec<Vec<u8>>,
    head: HashSet<Vec<u8>>,
    tail: HashSet<Vec<u8>>,
}

impl HashKeys {
    /// nginx: ngx_hash_add_key (keys are lower-cased; `wildcard`: NGX_HASH_WILDCARD_KEY).
    /// Also returns the key as nginx leaves it (lower-cased in place where it hashed it), which
    /// is what its error messages show.
    pub(crate) fn add(&mut self, key: &[u8], wildcard: bool) -> (AddKey, Vec<u8>) {
        let len = key.len();
        let mut skip = None;
        let mut last = len;
        if wildcard {
            let mut n = 0;
            for (i, &c) in key.iter().enumerate() {
                if c == b'*' {
                    n += 1;
                    if n > 1 {
                        return (AddKey::Declined, key.to_vec());
                    }
                }
                if (c == b'.' && key.get(i + 1) == Some(&b'.')) || c == 0 {
                    return (AddKey::Declined, key.to_vec());
                }
            }
            if len > 1 && key[0] == b'.' {
                skip = Some(1);
            } else if len > 2 && key[0] == b'*' && key[1] == b'.' {
                skip = Some(2);
            } else if len > 2 && key[len - 2] == b'.' && key[len - 1] == b'*' {
                skip = Some(0);
                last -= 2;
            } else if n > 0 {
                return (AddKey::Declined, key.to_vec());
            }
        }
        let mut shown = key.to_vec();
        let from = skip.unwrap_or(0);
        shown[from..last].make_ascii_lowercase();
        let lower = &shown;
        let Some(skip) = skip else {
            let k = lower[..last].to_vec();
            if !self.exact.insert(k.clone()) {
                return (AddKey::Busy, shown);
            }
            self.exact_keys.push(k);
            return (AddKey::Ok, shown);
        };
        if skip == 1 {
            let k = lower[1..last].to_vec();
            if self.exact.contains(&k) {
                return (AddKey::Busy, shown);
            }
            self.exact.insert(k);
        }
        let fresh = if skip > 0 {
            self.head.insert(lower[skip..last].to_vec())
        } else {
            // "www.example.*" is kept as "www.example." for the conflict check.
            self.tail.insert(lower[..last + 1].to_vec())
        };
        if fresh {
            (AddKey::Ok, shown)
        } else {
            (AddKey::Busy, shown)
        }
    }
}

/// nginx: ngx_hash_key
pub(crate) fn hash_key(data: &[u8]) -> u64 {
    data.iter()
        .fold(0u64, |k, &c| k.wrapping_mul(31).wrapping_add(u64::from(c)))
}

/// nginx: NGX_HASH_ELT_SIZE
fn elt_size(key: &[u8]) -> u64 {
    8 + align(key.len() as u64 + 2, 8)
}

/// nginx: ngx_hash_init's checks for an exact hash named `name` (`map_hash`,
/// `referer_hash`...): errors and the "could not build optimal" warning, logged without a
/// location as nginx logs them.
pub(crate) fn hash_init(
    cf: &mut Cf<'_>,
    name: &str,
    max_size: u64,
    bucket_size: u64,
    keys: &[Vec<u8>],
) -> Result<(), Failed> {
    if keys.is_empty() {
        return Ok(());
    }
    if max_size == 0 {
        cf.log(
            Level::Emerg,
            format!("could not build {name}, you should increase {name}_max_size: {max_size}"),
        );
        return Err(Failed);
    }
    if bucket_size > 65536 - CACHELINE {
        cf.log(
            Level::Emerg,
            format!("could not build {name}, too large {name}_bucket_size: {bucket_size}"),
        );
        return Err(Failed);
    }
    if keys.iter().any(|k| bucket_size < elt_size(k) + 8) {
        cf.log(
            Level::Emerg,
            format!(
                "could not build {name}, you should increase {name}_bucket_size: {bucket_size}"
            ),
        );
        return Err(Failed);
    }
    let hashes: Vec<(u64, u64)> = keys.iter().map(|k| (hash_key(k), elt_size(k))).collect();
    let nelts = keys.len() as u64;
    let bsize = bucket_size - 8;
    let mut start = nelts / (bsize / 16);
    if start == 0 {
        start = 1;
    }
    if max_size > 10000 && max_size / nelts < 100 {
        start = max_size - 1000;
    }
    let mut found = None;
    let mut test = Vec::new();
    for size in start..=max_size {
        test.clear();
        test.resize(size as usize, 0u64);
        let fits = hashes.iter().all(|&(h, e)| {
            let slot = &mut test[(h % size) as usize];
            let len = *slot + e;
            if len > bsize {
                return false;
            }
            *slot = len;
            true
        });
        if fits {
            found = Some(size);
            break;
        }
    }
    let size = match found {
        Some(s) => s,
        None => {
            cf.log(
                Level::Warn,
                format!(
                    "could not build optimal {name}, you should increase either \
                     {name}_max_size: {max_size} or {name}_bucket_size: {bucket_size}; \
                     ignoring {name}_bucket_size"
                ),
            );
            max_size
        }
    };
    let mut test = vec![8u64; size as usize];
    for &(h, e) in &hashes {
        let slot = &mut test[(h % size) as usize];
        *slot += e;
        if *slot > 65536 - CACHELINE {
            cf.log(
                Level::Emerg,
                format!("could not build {name}, you should increase {name}_max_size: {max_size}"),
            );
            return Err(Failed);
        }
    }
    Ok(())
}

// ---- Run time (issue 3): the map's variable, evaluated lazily per request. ----

/// Host names with wildcards and their values, as nginx's combined hash finds them (nginx:
/// ngx_hash_find_combined over an exact hash and the `*.x` / `.x` and `x.*` wildcard
/// hashes); keys lower-cased.
#[derive(Debug, Clone)]
pub(crate) struct HostTable<V> {
    exact: std::collections::HashMap<Vec<u8>, V>,
    /// `*.example.com` / `.example.com` as `.example.com`.
    head: Vec<(Vec<u8>, V)>,
    /// `www.example.*` as `www.example.`.
    tail: Vec<(Vec<u8>, V)>,
}

impl<V> Default for HostTable<V> {
    fn default() -> Self {
        HostTable {
            exact: std::collections::HashMap::new(),
            head: Vec::new(),
            tail: Vec::new(),
        }
    }
}

impl<V: Clone> HostTable<V> {
    /// Adds `key` (lower-cased); `wildcard`: `*.x`, `.x` (also `x` itself) and `x.*` are
    /// patterns, else every key is exact. The first value of a key wins.
    pub(crate) fn add(&mut self, key: &[u8], v: V, wildcard: bool) {
        if wildcard {
            if let Some(rest) = key.strip_prefix(b"*.") {
                let mut k = b".".to_vec();
                k.extend_from_slice(rest);
                self.head.push((k, v));
                return;
            }
            if key.len() > 1 && key.starts_with(b".") {
                self.exact.entry(key[1..].to_vec()).or_insert(v.clone());
                self.head.push((key.to_vec(), v));
                return;
            }
            if let Some(h) = key.strip_suffix(b"*").filter(|h| h.ends_with(b".")) {
                self.tail.push((h.to_vec(), v));
                return;
            }
        }
        self.exact.entry(key.to_vec()).or_insert(v);
    }
}

impl<V> HostTable<V> {
    /// The value of `host` (lower-cased): exact, then the longest `*.x`, then the longest
    /// `x.*`.
    pub(crate) fn find(&self, host: &[u8]) -> Option<&V> {
        if let Some(v) = self.exact.get(host) {
            return Some(v);
        }
        let head = self
            .head
            .iter()
            .filter(|(k, _)| host.ends_with(k))
            .max_by_key(|(k, _)| k.len());
        if let Some((_, v)) = head {
            return Some(v);
        }
        self.tail
            .iter()
            .filter(|(k, _)| host.len() > k.len() && host.starts_with(k))
            .max_by_key(|(k, _)| k.len())
            .map(|(_, v)| v)
    }
}

/// A `map` block at run time (nginx: ngx_http_map_ctx_t).
#[derive(Debug)]
pub(crate) struct MapRt {
    source: variables::ComplexValue,
    hostnames: bool,
    /// `volatile`: evaluated at every use.
    pub(crate) volatile: bool,
    /// The keys (wildcards only with `hostnames`).
    keys: HostTable<variables::ComplexValue>,
    regexes: Vec<(crate::regex::Regex, variables::ComplexValue)>,
    default: Option<variables::ComplexValue>,
}

/// The map of a (checked) `map $source $name { ... }`: its variable's name and runtime form
/// (nginx: ngx_http_map_block and ngx_http_map with the hash built).
pub(crate) fn lower(d: &Directive) -> Option<(Vec<u8>, MapRt)> {
    let cv = |s: &[u8]| variables::parse_complex_value(s).unwrap_or_default();
    let source = cv(d.args.first()?);
    let name = d.args.get(1)?.strip_prefix(b"$")?.to_vec();
    let Body::Block(block) = &d.body else {
        return None;
    };
    let mut m = MapRt {
        source,
        hostnames: false,
        volatile: false,
        keys: HostTable::default(),
        regexes: Vec::new(),
        default: None,
    };
    for line in &block.directives {
        let key = line.name.as_slice();
        if line.args.is_empty() {
            match key {
                b"hostnames" => m.hostnames = true,
                b"volatile" => m.volatile = true,
                _ => {}
            }
            continue;
        }
        let Some(value) = line.args.first().filter(|_| line.args.len() == 1) else {
            continue;
        };
        let value = cv(value);
        if key == b"default" {
            m.default.get_or_insert(value);
            continue;
        }
        if let Some(re) = key.strip_prefix(b"~") {
            let (re, caseless) = match re.strip_prefix(b"*") {
                Some(r) => (r, true),
                None => (re, false),
            };
            if let Ok(re) = crate::regex::build(re, caseless) {
                m.regexes.push((re, value));
            }
            continue;
        }
        let key = key.strip_prefix(b"\\").unwrap_or(key).to_ascii_lowercase();
        m.keys.add(&key, value, m.hostnames);
    }
    Some((name, m))
}

/// What a map is evaluated in: an http request or a stream session.
pub(crate) trait MapScope {
    /// The value expanded with this scope's variables and captures.
    fn eval(&self, v: &variables::ComplexValue) -> Vec<u8>;
    /// Matches `re`, keeping its captures for the values evaluated next.
    fn regex_match(&self, re: &crate::regex::Regex, subject: &[u8]) -> bool;
}

impl MapScope for crate::http::request::Request {
    fn eval(&self, v: &variables::ComplexValue) -> Vec<u8> {
        crate::http::request::Request::eval(self, v)
    }
    fn regex_match(&self, re: &crate::regex::Regex, subject: &[u8]) -> bool {
        crate::http::request::Request::regex_match(self, re, subject)
    }
}

impl MapRt {
    /// nginx: ngx_http_map_variable with ngx_http_map_find: exact key, then the wildcards
    /// (longest first), then the regexes in order (their captures feed the value).
    pub(crate) fn value<S: MapScope + ?Sized>(&self, r: &S) -> Vec<u8> {
        let mut val = r.eval(&self.source);
        if self.hostnames && val.last() == Some(&b'.') {
            val.pop();
        }
        if let Some(v) = self.keys.find(&val.to_ascii_lowercase()) {
            return r.eval(v);
        }
        if !val.is_empty() {
            for (re, v) in &self.regexes {
                if r.regex_match(re, &val) {
                    return r.eval(v);
                }
            }
        }
        self.default.as_ref().map(|v| r.eval(v)).unwrap_or_default()
    }
}

#[cfg(test)]
mod rt_tests {
    use super::lower;

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

    #[test]
    fn keys_by_kind() {
        let d = directive(
            "map $host $m { hostnames; volatile; default d; Exact e; \\default x; \
             *.a.com w; .b.com dot; www.c.* t; ~^r(\\d)$ r$1; }",
        );
        let (name, m) = lower(&d).unwrap_or_else(|| panic!());
        assert_eq!(name, b"m");
        assert!(m.hostnames && m.volatile);
        assert!(m.default.is_some());
        let mut exact: Vec<&[u8]> = m.keys.exact.keys().map(Vec::as_slice).collect();
        exact.sort();
        assert_eq!(exact, vec![&b"b.com"[..], b"default", b"exact"]);
        let head: Vec<&[u8]> = m.keys.head.iter().map(|(k, _)| k.as_slice()).collect();
        assert_eq!(head, vec![&b".a.com"[..], b".b.com"]);
        assert_eq!(m.keys.tail[0].0, b"www.c.");
        assert_eq!(m.regexes.len(), 1);
        // Without `hostnames`, wildcards are plain keys.
        let d = directive("map $host $m { *.a.com w; }");
        let (_, m) = lower(&d).unwrap_or_else(|| panic!());
        assert!(m.keys.exact.contains_key(&b"*.a.com"[..]) && m.keys.head.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::{AddKey, HashKeys};

    #[test]
    fn hash_keys() {
        let mut k = HashKeys::default();
        assert_eq!(k.add(b"Foo", false).0, AddKey::Ok);
        assert_eq!(k.add(b"foo", false).0, AddKey::Busy);
        assert_eq!(k.add(b"*.x.com", false).0, AddKey::Ok);
        let mut h = HashKeys::default();
        assert_eq!(h.add(b"x.com", true).0, AddKey::Ok);
        assert_eq!(h.add(b".x.com", true).0, AddKey::Busy);
        assert_eq!(h.add(b"*.y.com", true).0, AddKey::Ok);
        assert_eq!(h.add(b".y.com", true).0, AddKey::Busy);
        assert_eq!(h.add(b"www.y.*", true).0, AddKey::Ok);
        assert_eq!(h.add(b"www.*.com", true).0, AddKey::Declined);
        assert_eq!(h.add(b"a..b", true).0, AddKey::Declined);
        assert_eq!(h.add(b"**", true).0, AddKey::Declined);
    }
}
