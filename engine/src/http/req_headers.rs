//! A request's header lines (nginx: `r->headers_in.headers`, the list of lines as received).
//!
//! The lines are slices of the head's bytes, kept as sent (names' case and order): no copy
//! and no hashing per header while a request is read. Lookups by name (`get`,
//! `contains_key`, `values`) scan the lines case-insensitively, without allocating. The
//! first use of hyper's `HeaderMap` interface (iteration, or any change: `more_set_input_headers`,
//! `ngx.req.set_header`, a subrequest's `Content-Length`) builds the map from the lines once;
//! from then on the map is what lookups read, and the lines stay as received (the proxy and
//! `echo_client_request_headers` read those).

use std::borrow::Borrow;
use std::cell::OnceCell;
use std::ops::{Deref, DerefMut};

use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};

/// A header value (as hyper's `HeaderValue` shows one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HVal<'a>(&'a [u8]);

/// A value that is not visible ASCII (see [`HVal::to_str`]).
#[derive(Debug)]
pub(crate) struct NotVisible;

impl<'a> HVal<'a> {
    pub(crate) fn as_bytes(self) -> &'a [u8] {
        self.0
    }

    /// The value as text when it is visible ASCII (hyper's `HeaderValue::to_str`).
    pub(crate) fn to_str(self) -> Result<&'a str, NotVisible> {
        if self.0.iter().all(|&c| c == b'\t' || (32..127).contains(&c)) {
            std::str::from_utf8(self.0).map_err(|_| NotVisible)
        } else {
            Err(NotVisible)
        }
    }
}

/// hyper's `HeaderValue` acceptance of a value's bytes.
fn value_ok(v: &[u8]) -> bool {
    v.iter().all(|&c| c == b'\t' || (c >= 32 && c != 127))
}

/// The request's header lines (positions of name and value in `buf`), and hyper's map of
/// them once something needs it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReqHeaders {
    buf: Bytes,
    lines: Vec<[usize; 4]>,
    /// The [`known`] bits of the lines' names: a lookup of a name whose bit is not set ends
    /// at once.
    known: u64,
    /// (Boxed: a request without changes never builds it.)
    map: OnceCell<Box<HeaderMap>>,
}

/// A name's bit in [`ReqHeaders::known`]: from its length and first and last bytes, case
/// folded (names equal case-insensitively have the same bit).
/// (`const`: the head parser's bits of the names it tests are constants.)
#[inline]
pub(crate) const fn known(n: &[u8]) -> u64 {
    let (Some(&a), Some(&z)) = (n.first(), n.last()) else {
        return 1;
    };
    let h = n.len() * 31 + (a | 0x20) as usize * 7 + (z | 0x20) as usize;
    1 << (h & 63)
}

impl ReqHeaders {
    /// The lines at `lines` (name start and end, value start and end) of `buf`.
    pub(crate) fn new(buf: Bytes, lines: Vec<[usize; 4]>) -> ReqHeaders {
        let lines: Vec<[usize; 4]> = lines
            .into_iter()
            .filter(|&[ns, ne, vs, ve]| ns <= ne && ne <= buf.len() && vs <= ve && ve <= buf.len())
            .collect();
        let known = lines
            .iter()
            .fold(0, |k, &[ns, ne, _, _]| k | known(&buf[ns..ne]));
        ReqHeaders {
            buf,
            lines,
            known,
            map: OnceCell::new(),
        }
    }

    /// [`ReqHeaders::new`] when the parser has the [`known`] bits of the lines' names
    /// already (it folds them in while it reads the names).
    #[inline]
    pub(crate) fn with_known(buf: Bytes, lines: Vec<[usize; 4]>, known: u64) -> ReqHeaders {
        // (The parser's lines are all within the head; `new` drops any other.)
        let inside = |&[ns, ne, vs, ve]: &[usize; 4]| {
            ns <= ne && ne <= buf.len() && vs <= ve && ve <= buf.len()
        };
        if !lines.iter().all(inside) {
            return ReqHeaders::new(buf, lines);
        }
        debug_assert_eq!(
            known,
            lines
                .iter()
                .fold(0, |k, &[ns, ne, _, _]| k | self::known(&buf[ns..ne]))
        );
        ReqHeaders {
            buf,
            lines,
            known,
            map: OnceCell::new(),
        }
    }

    /// Lines from (name, value) pairs (HTTP/2).
    pub(crate) fn from_pairs<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> ReqHeaders {
        let mut buf = Vec::new();
        let mut lines = Vec::new();
        for (n, v) in pairs {
            let ns = buf.len();
            buf.extend_from_slice(n);
            let vs = buf.len();
            buf.extend_from_slice(v);
            lines.push([ns, vs, vs, buf.len()]);
        }
        let known = lines
            .iter()
            .fold(0, |k, &[ns, ne, _, _]| k | known(&buf[ns..ne]));
        ReqHeaders {
            buf: Bytes::from(buf),
            lines,
            known,
            map: OnceCell::new(),
        }
    }

    /// The bytes the lines are in (an HTTP/1.x head's bytes as received).
    pub(crate) fn buf(&self) -> &Bytes {
        &self.buf
    }

    fn pair(&self, l: &[usize; 4]) -> (&[u8], &[u8]) {
        let [ns, ne, vs, ve] = *l;
        (&self.buf[ns..ne], &self.buf[vs..ve])
    }

    /// The lines as received (names' case and order kept), changes not applied.
    pub(crate) fn lines(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.lines.iter().map(|l| self.pair(l))
    }

    /// The first line named `name` as received (compared case-insensitively).
    /// (Inlined: the test of a constant name's bit is a constant mask.)
    #[inline]
    pub(crate) fn line(&self, name: &[u8]) -> Option<&[u8]> {
        if self.absent(name) {
            return None;
        }
        self.find_line(name)
    }

    fn find_line(&self, name: &[u8]) -> Option<&[u8]> {
        self.lines()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The first value of `name` (as hyper's `HeaderMap::get`).
    #[inline]
    pub(crate) fn get<K: Borrow<HeaderName>>(&self, name: K) -> Option<HVal<'_>> {
        let name = name.borrow();
        match self.map.get() {
            Some(m) => m.get(name).map(|v| HVal(v.as_bytes())),
            None => self.first(name.as_str().as_bytes()),
        }
    }

    /// Whether a line may be named one of `names` (lower case): `false` only when none
    /// is and no change built the map.
    pub(crate) fn may_have(&self, names: &[&[u8]]) -> bool {
        self.map.get().is_some() || names.iter().any(|n| !self.absent(n))
    }

    /// A name no line has (when its bit is set, a line may have it).
    #[inline]
    fn absent(&self, name: &[u8]) -> bool {
        self.known & known(name) == 0
    }

    /// The first line named `name` (lower case) whose value hyper accepts.
    #[inline]
    fn first(&self, name: &[u8]) -> Option<HVal<'_>> {
        if self.absent(name) {
            return None;
        }
        self.find_first(name)
    }

    fn find_first(&self, name: &[u8]) -> Option<HVal<'_>> {
        for &[ns, ne, vs, ve] in &self.lines {
            if ne - ns == name.len() && self.buf[ns..ne].eq_ignore_ascii_case(name) {
                let v = &self.buf[vs..ve];
                if value_ok(v) {
                    return Some(HVal(v));
                }
            }
        }
        None
    }

    /// Whether `name` has a value (as hyper's `HeaderMap::contains_key`).
    pub(crate) fn contains_key<K: Borrow<HeaderName>>(&self, name: K) -> bool {
        self.get(name).is_some()
    }

    /// The values of `name` in order (as hyper's `HeaderMap::get_all`).
    pub(crate) fn values<'a>(&'a self, name: &HeaderName) -> Values<'a> {
        Values(match self.map.get() {
            Some(m) => Iter::Map(m.get_all(name).iter()),
            None if self.absent(name.as_str().as_bytes()) => {
                Iter::Lines(self, self.lines[..0].iter(), name.clone())
            }
            None => Iter::Lines(self, self.lines.iter(), name.clone()),
        })
    }

    /// hyper's map of the headers (built on first use): the lines whose name and value
    /// hyper's types accept.
    pub(crate) fn map(&self) -> &HeaderMap {
        self.map.get_or_init(|| {
            let mut map = Box::new(HeaderMap::with_capacity(self.lines.len()));
            for &[ns, ne, vs, ve] in &self.lines {
                if let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(&self.buf[ns..ne]),
                    HeaderValue::from_maybe_shared(self.buf.slice(vs..ve)),
                ) {
                    map.append(n, v);
                }
            }
            map
        })
    }
}

/// The values of one name (see [`ReqHeaders::values`]).
pub(crate) struct Values<'a>(Iter<'a>);

enum Iter<'a> {
    Map(hyper::header::ValueIter<'a, HeaderValue>),
    /// A line counts when its name is the name (compared case-insensitively with hyper's
    /// lower-case name, so the name is one hyper accepts) and hyper accepts its value.
    Lines(&'a ReqHeaders, std::slice::Iter<'a, [usize; 4]>, HeaderName),
}

impl<'a> Iterator for Values<'a> {
    type Item = HVal<'a>;

    fn next(&mut self) -> Option<HVal<'a>> {
        match &mut self.0 {
            Iter::Map(i) => i.next().map(|v| HVal(v.as_bytes())),
            Iter::Lines(h, i, name) => {
                let h: &'a ReqHeaders = h;
                let name = name.as_str().as_bytes();
                i.find_map(|l| {
                    let (n, v) = h.pair(l);
                    (n.len() == name.len() && n.eq_ignore_ascii_case(name) && value_ok(v))
                        .then_some(HVal(v))
                })
            }
        }
    }
}

impl Deref for ReqHeaders {
    type Target = HeaderMap;

    fn deref(&self) -> &HeaderMap {
        self.map()
    }
}

impl DerefMut for ReqHeaders {
    fn deref_mut(&mut self) -> &mut HeaderMap {
        self.map();
        match self.map.get_mut() {
            Some(m) => m,
            None => unreachable!("the map was built above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(lines: &[(&str, &[u8])]) -> ReqHeaders {
        ReqHeaders::from_pairs(lines.iter().map(|(n, v)| (n.as_bytes(), *v)))
    }

    #[test]
    fn lookups_match_hyper_map() {
        let lines: &[(&str, &[u8])] = &[
            ("Host", b"x"),
            ("X-A", b"1"),
            ("x-b", b"ctl\x01"),
            ("X-a", b"2"),
            ("Bad@Name", b"v"),
            ("Accept", "caf\u{e9}".as_bytes()),
        ];
        let h = of(lines);
        let fresh = of(lines);
        let m = fresh.map();
        for n in ["host", "x-a", "x-b", "bad@name", "accept", "none"] {
            let Ok(hn) = HeaderName::from_bytes(n.as_bytes()) else {
                continue;
            };
            assert_eq!(
                h.get(&hn).map(|v| v.as_bytes()),
                m.get(&hn).map(|v| v.as_bytes()),
                "{n}"
            );
            assert_eq!(h.contains_key(&hn), m.contains_key(&hn), "{n}");
            let a: Vec<_> = h.values(&hn).map(|v| v.as_bytes()).collect();
            let b: Vec<_> = m.get_all(&hn).iter().map(|v| v.as_bytes()).collect();
            assert_eq!(a, b, "{n}");
        }
        assert_eq!(m.len(), 4);
        assert_eq!(h.lines().count(), 6);
        assert_eq!(h.line(b"x-b"), Some(&b"ctl\x01"[..]));
        for v in [&b"a b"[..], b"caf\xc3\xa9", b"x\ty", b""] {
            assert_eq!(
                HVal(v).to_str().ok(),
                HeaderValue::from_bytes(v)
                    .ok()
                    .and_then(|h| h.to_str().ok().map(str::to_owned))
                    .as_deref()
            );
        }
    }

    #[test]
    fn known_bits() {
        for n in [
            &b"Host"[..],
            b"if-unmodified-since",
            b"X-Forwarded-For",
            b"a",
            b"",
        ] {
            assert_eq!(known(n), known(&n.to_ascii_lowercase()));
            assert_eq!(known(n).count_ones(), 1);
        }
        let h = of(&[("HOST", b"x"), ("Accept", b"y")]);
        assert_eq!(h.line(b"host"), Some(&b"x"[..]));
        assert_eq!(h.line(b"range"), None);
        assert_eq!(h.line(b"accept"), Some(&b"y"[..]));
        assert!(h.absent(b"range"));
        assert!(!h.absent(b"host"));
    }

    #[test]
    fn changes_go_to_the_map_and_lines_stay() {
        let mut h = of(&[("Host", b"x"), ("X-A", b"1")]);
        h.remove(hyper::header::HOST);
        h.append(
            HeaderName::from_static("x-c"),
            HeaderValue::from_static("3"),
        );
        assert!(!h.contains_key(hyper::header::HOST));
        assert_eq!(
            h.get(HeaderName::from_static("x-c")).map(|v| v.as_bytes()),
            Some(&b"3"[..])
        );
        assert_eq!(h.lines().count(), 2);
        let c = h.clone();
        assert_eq!(c.len(), 2);
    }
}
