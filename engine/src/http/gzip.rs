//! ngx_http_gzip_filter_module.
//!
//! Also home of setters several http modules share: [`types_slot`] (nginx: ngx_http_types_slot),
//! [`num_bounds`] (ngx_conf_set_num_slot + ngx_conf_check_num_bounds), [`size_post`]
//! (ngx_conf_set_size_slot + a post handler) and [`complex_value_slot`]
//! (ngx_http_set_complex_value_slot).

use std::collections::{HashMap, HashSet};

use parser::Directive;

use crate::conf::values::{atoi, parse_size};
use crate::conf::{cmd, slot, Args, Cf, Ctx, Module, Set, SetResult, Slot};
use crate::http::variables;
use crate::log::Level;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_gzip_filter_module",
    commands: &[
        cmd(
            "gzip",
            Ctx::HTTP_MSL.or(Ctx::HTTP_LIF),
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "gzip_buffers",
            Ctx::HTTP_MSL,
            Args::TAKE2,
            Set::Slot(Slot::Bufs),
        ),
        cmd(
            "gzip_types",
            Ctx::HTTP_MSL,
            Args::ONEMORE,
            Set::Handler(gzip_types),
        ),
        cmd(
            "gzip_comp_level",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Handler(gzip_comp_level),
        ),
        cmd(
            "gzip_window",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Handler(gzip_window),
        ),
        cmd(
            "gzip_hash",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Handler(gzip_hash),
        ),
        cmd(
            "postpone_gzipping",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Size),
        ),
        cmd(
            "gzip_no_buffer",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "gzip_min_length",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Size),
        ),
    ],
};

/// Variables this module defines.
pub(crate) const VARIABLES: &[&str] = &["gzip_ratio"];

fn gzip_types(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    types_slot(cf, d, "gzip_types")
}

fn gzip_comp_level(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    num_bounds(cf, d, "gzip_comp_level", 1, Some(9))
}

/// nginx: ngx_http_gzip_window
fn gzip_window(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    size_post(cf, d, "gzip_window", |n| {
        let ok = (9..=15).any(|b| n == 1 << b);
        (!ok).then_some("must be 512, 1k, 2k, 4k, 8k, 16k, or 32k")
    })
}

/// nginx: ngx_http_gzip_hash
fn gzip_hash(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    size_post(cf, d, "gzip_hash", |n| {
        let ok = (9..=17).any(|b| n == 1 << b);
        (!ok).then_some("must be 512, 1k, 2k, 4k, 8k, 16k, 32k, 64k, or 128k")
    })
}

fn arg0(d: &Directive) -> &[u8] {
    d.args.first().map(Vec::as_slice).unwrap_or_default()
}

/// nginx: ngx_conf_set_num_slot with an ngx_conf_check_num_bounds post handler
/// (`high` None is nginx's `-1`: no upper bound).
pub(crate) fn num_bounds(
    cf: &mut Cf<'_>,
    d: &Directive,
    name: &'static str,
    low: i64,
    high: Option<i64>,
) -> SetResult {
    let row = cmd(name, Ctx::ANY, Args::TAKE1, Set::Slot(Slot::Num));
    slot::set(cf, &row, Slot::Num, d)?;
    let n = atoi(arg0(d)).unwrap_or(0);
    match high {
        None if n < low => Err(cf
            .emerg(format!("value must be equal to or greater than {low}"))
            .into()),
        Some(high) if n < low || n > high => Err(cf
            .emerg(format!("value must be between {low} and {high}"))
            .into()),
        _ => Ok(()),
    }
}

/// nginx: ngx_conf_set_size_slot with a post handler returning an error text.
pub(crate) fn size_post(
    cf: &mut Cf<'_>,
    d: &Directive,
    name: &'static str,
    post: impl Fn(u64) -> Option<&'static str>,
) -> SetResult {
    let row = cmd(name, Ctx::ANY, Args::TAKE1, Set::Slot(Slot::Size));
    slot::set(cf, &row, Slot::Size, d)?;
    match post(parse_size(arg0(d)).unwrap_or(0)) {
        Some(text) => Err(Some(text.to_string())),
        None => Ok(()),
    }
}

/// nginx: ngx_http_set_complex_value_slot (`is duplicate` per level, then the value compiled).
pub(crate) fn complex_value_slot(cf: &mut Cf<'_>, d: &Directive, name: &'static str) -> SetResult {
    if cf.seen(name) {
        return Err(Some("is duplicate".into()));
    }
    variables::compile_complex_value(cf, arg0(d))?;
    Ok(())
}

/// One level's MIME type lists (nginx: the `types_keys` arrays of ngx_http_types_slot users).
#[derive(Default)]
struct TypesLists {
    /// By directive: `None` after `*`, else the types given so far (lower-cased).
    lists: HashMap<&'static str, Option<HashSet<Vec<u8>>>>,
}

/// nginx: ngx_http_types_slot (the default type is `text/html` for every user of it):
/// `duplicate MIME type "x"` warnings; `*` ends the list.
pub(crate) fn types_slot(cf: &mut Cf<'_>, d: &Directive, name: &'static str) -> SetResult {
    let mut warnings = Vec::new();
    {
        let state = cf.frame().get::<TypesLists>();
        let entry = state
            .lists
            .entry(name)
            .or_insert_with(|| Some(HashSet::from([b"text/html".to_vec()])));
        let Some(types) = entry.as_mut() else {
            return Ok(());
        };
        let mut star = false;
        for v in &d.args {
            if v == b"*" {
                star = true;
                break;
            }
            let lower = v.to_ascii_lowercase();
            if types.contains(&lower) {
                warnings.push(format!(
                    "duplicate MIME type \"{}\"",
                    String::from_utf8_lossy(&lower)
                ));
                continue;
            }
            types.insert(lower);
        }
        if star {
            *entry = None;
        }
    }
    for w in warnings {
        cf.conf_log(Level::Warn, w);
    }
    Ok(())
}

// ---- runtime: lowering, type lists and the gzip body filter ----

/// A MIME type list of ngx_http_types_slot users (`gzip_types`, `charset_types`, ...).
#[derive(Debug, Clone, Default)]
pub(crate) struct TypeList {
    /// `*`: every type.
    pub(crate) any: bool,
    pub(crate) types: HashSet<Vec<u8>>,
}

impl TypeList {
    /// An explicit list: `text/html` is always in it (nginx: ngx_http_types_slot).
    pub(crate) fn from_args(args: &[Vec<u8>]) -> TypeList {
        let mut t = TypeList::default();
        t.types.insert(b"text/html".to_vec());
        for a in args {
            if a == b"*" {
                t.any = true;
            }
            t.types.insert(a.to_ascii_lowercase());
        }
        t
    }

    /// A default list.
    pub(crate) fn of(types: &[&str]) -> TypeList {
        TypeList {
            any: false,
            types: types.iter().map(|t| t.as_bytes().to_vec()).collect(),
        }
    }

    /// nginx: ngx_http_test_content_type: the type without parameters, case-insensitively.
    pub(crate) fn matches(&self, content_type: &[u8]) -> bool {
        if self.any {
            return true;
        }
        let end = content_type
            .iter()
            .position(|&c| c == b';')
            .unwrap_or(content_type.len());
        let t = content_type[..end].trim_ascii().to_ascii_lowercase();
        self.types.contains(&t)
    }
}

/// `gzip_proxied` flags (nginx: NGX_HTTP_GZIP_PROXIED_*).
pub(crate) mod proxied {
    pub(crate) const OFF: u32 = 0x0002;
    pub(crate) const EXPIRED: u32 = 0x0004;
    pub(crate) const NO_CACHE: u32 = 0x0008;
    pub(crate) const NO_STORE: u32 = 0x0010;
    pub(crate) const PRIVATE: u32 = 0x0020;
    pub(crate) const NO_LM: u32 = 0x0040;
    pub(crate) const NO_ETAG: u32 = 0x0080;
    pub(crate) const AUTH: u32 = 0x0100;
    pub(crate) const ANY: u32 = 0x0200;
}

/// Folds the gzip directives (and the core module's gzip_* ones) into a level.
pub(crate) fn lower(c: &mut crate::http::lower::LocConf, d: &Directive) {
    let a = arg0(d);
    match d.name.as_slice() {
        b"gzip" => c.gzip = Some(a.eq_ignore_ascii_case(b"on")),
        b"gzip_types" => c.gzip_types = Some(std::sync::Arc::new(TypeList::from_args(&d.args))),
        b"gzip_min_length" => c.gzip_min_length = parse_size(a),
        b"gzip_comp_level" => c.gzip_comp_level = atoi(a).and_then(|n| u32::try_from(n).ok()),
        b"gzip_vary" => c.gzip_vary = Some(a.eq_ignore_ascii_case(b"on")),
        b"gzip_http_version" => c.gzip_http_10 = Some(a == b"1.0"),
        b"gzip_disable" => {
            // nginx: ngx_http_gzip_disable: `msie6` is a flag, `degradation` is accepted,
            // the rest are regexes appended to the level's list.
            let mut list = c
                .gzip_disable
                .take()
                .map(|v| v.as_ref().clone())
                .unwrap_or_default();
            for v in &d.args {
                match v.as_slice() {
                    b"msie6" => c.gzip_disable_msie6 = Some(true),
                    b"degradation" => {}
                    re => {
                        if let Ok(re) = crate::regex::build(re, true) {
                            list.push(re);
                        }
                    }
                }
            }
            // Any gzip_disable starts the level's own list: the parent's regexes are not
            // inherited, even for `gzip_disable msie6;` alone (measured on the reference).
            c.gzip_disable = Some(std::sync::Arc::new(list));
        }
        b"gzip_proxied" => {
            let mut bits = 0;
            for v in &d.args {
                bits |= match v.as_slice() {
                    b"off" => proxied::OFF,
                    b"expired" => proxied::EXPIRED,
                    b"no-cache" => proxied::NO_CACHE,
                    b"no-store" => proxied::NO_STORE,
                    b"private" => proxied::PRIVATE,
                    b"no_last_modified" => proxied::NO_LM,
                    b"no_etag" => proxied::NO_ETAG,
                    b"auth" => proxied::AUTH,
                    b"any" => proxied::ANY,
                    _ => 0,
                };
            }
            c.gzip_proxied = Some(bits);
        }
        _ => {}
    }
}

/// nginx: ngx_http_gzip_accept_encoding: `gzip` listed with a non-zero quality.
pub(crate) fn accepts_gzip(ae: &[u8]) -> bool {
    if ae.len() < 4 {
        return false;
    }
    if ae.starts_with(b"gzip,") {
        return true;
    }
    for item in ae.split(|&c| c == b',') {
        let mut parts = item.split(|&c| c == b';');
        let name = parts.next().unwrap_or_default().trim_ascii();
        if !name.eq_ignore_ascii_case(b"gzip") {
            continue;
        }
        for p in parts {
            let p = p.trim_ascii();
            if let Some(q) = p.strip_prefix(b"q=").or_else(|| p.strip_prefix(b"Q=")) {
                let zero = q.iter().all(|&c| c == b'0' || c == b'.');
                return !zero;
            }
        }
        return true;
    }
    false
}

/// nginx: ngx_http_gzip_ok: the client takes gzip and the proxy rules allow it. `headers` are
/// the response's headers so far (`None` before the handler made any).
pub(crate) fn gzip_ok(
    r: &crate::http::request::Request,
    headers: Option<&[(hyper::header::HeaderName, hyper::header::HeaderValue)]>,
    last_modified: bool,
) -> bool {
    client_and_proxy_ok(r, headers, last_modified) && !disabled_for_agent(r)
}

/// nginx: ngx_http_gzip_ok's `gzip_disable` regexes against User-Agent (at its `ok:` label).
fn disabled_for_agent(r: &crate::http::request::Request) -> bool {
    let (Some(list), Some(ua)) = (
        r.loc.gzip_disable.as_ref(),
        r.headers.get(hyper::header::USER_AGENT),
    ) else {
        return false;
    };
    list.iter()
        .any(|re| re.re.is_match(ua.as_bytes()).unwrap_or(false))
}

/// nginx: r->headers_in.msie6 (ngx_http_process_user_agent): MSIE 4 and 5, and 6 without SV1,
/// but not Opera.
fn is_msie6(r: &crate::http::request::Request) -> bool {
    let Some(ua) = r
        .headers
        .get(hyper::header::USER_AGENT)
        .map(|v| v.as_bytes())
    else {
        return false;
    };
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    if find(ua, b"Opera").is_some() {
        return false;
    }
    let Some(m) = find(ua, b"MSIE ") else {
        return false;
    };
    if m + 7 >= ua.len() || ua[m + 6] != b'.' {
        return false;
    }
    match ua[m + 5] {
        b'4' | b'5' => true,
        b'6' => find(&ua[(m + 8).min(ua.len())..], b"SV1").is_none(),
        _ => false,
    }
}

fn client_and_proxy_ok(
    r: &crate::http::request::Request,
    headers: Option<&[(hyper::header::HeaderName, hyper::header::HeaderValue)]>,
    last_modified: bool,
) -> bool {
    let Some(ae) = r.headers.get(hyper::header::ACCEPT_ENCODING) else {
        return false;
    };
    if !accepts_gzip(ae.as_bytes()) {
        return false;
    }
    let min = if r.loc.gzip_http_10 == Some(true) {
        hyper::Version::HTTP_10
    } else {
        hyper::Version::HTTP_11
    };
    if r.loc.gzip_disable_msie6.unwrap_or(false) && is_msie6(r) {
        return false;
    }
    if r.version < min {
        return false;
    }
    if !r.headers.contains_key(hyper::header::VIA) {
        return true;
    }
    let p = r.loc.gzip_proxied.unwrap_or(proxied::OFF);
    if p & proxied::OFF != 0 {
        return false;
    }
    if p & proxied::ANY != 0 {
        return true;
    }
    if r.headers.contains_key(hyper::header::AUTHORIZATION) && p & proxied::AUTH != 0 {
        return true;
    }
    let headers = headers.unwrap_or_default();
    fn get<'a>(
        headers: &'a [(hyper::header::HeaderName, hyper::header::HeaderValue)],
        n: &'a hyper::header::HeaderName,
    ) -> impl Iterator<Item = &'a [u8]> + 'a {
        headers
            .iter()
            .filter(move |(k, _)| k == n)
            .map(|(_, v)| v.as_bytes())
    }
    if let Some(e) = get(headers, &hyper::header::EXPIRES).next() {
        if p & proxied::EXPIRED == 0 {
            return false;
        }
        let Some(exp) = crate::http::response::parse_http_time(e) else {
            return false;
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
        return exp < now;
    }
    let cc: Vec<&[u8]> = get(headers, &hyper::header::CACHE_CONTROL).collect();
    if !cc.is_empty() {
        let has = |word: &[u8]| {
            cc.iter().any(|v| {
                v.split(|&c| c == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(word))
            })
        };
        return (p & proxied::NO_CACHE != 0 && has(b"no-cache"))
            || (p & proxied::NO_STORE != 0 && has(b"no-store"))
            || (p & proxied::PRIVATE != 0 && has(b"private"));
    }
    if p & proxied::NO_LM != 0 && last_modified {
        return false;
    }
    if p & proxied::NO_ETAG != 0 && get(headers, &hyper::header::ETAG).next().is_some() {
        return false;
    }
    true
}

/// The gzip body filter: compresses the frames of `inner` (nginx: ngx_http_gzip_body_filter,
/// whose output is a complete gzip stream).
pub(crate) struct GzipBody {
    inner: crate::http::response::Body,
    enc: Option<flate2::write::GzEncoder<Vec<u8>>>,
}

impl GzipBody {
    pub(crate) fn new(inner: crate::http::response::Body, level: u32) -> GzipBody {
        GzipBody {
            inner,
            // nginx writes the Unix OS byte (3) in its gzip header.
            enc: Some(
                flate2::GzBuilder::new()
                    .operating_system(3)
                    .write(Vec::new(), flate2::Compression::new(level.clamp(1, 9))),
            ),
        }
    }
}

impl hyper::body::Body for GzipBody {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, std::io::Error>>> {
        use std::io::Write;
        use std::task::Poll;
        loop {
            if self.enc.is_none() {
                return Poll::Ready(None);
            }
            match std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    let Some(enc) = self.enc.as_mut() else {
                        return Poll::Ready(None);
                    };
                    enc.write_all(&data)?;
                    // Like nginx's gzip buffers: output goes out in pieces of 8k or more.
                    if enc.get_ref().len() >= 8192 {
                        let out = std::mem::take(enc.get_mut());
                        return Poll::Ready(Some(Ok(hyper::body::Frame::data(out.into()))));
                    }
                }
                Poll::Ready(None) => {
                    let Some(enc) = self.enc.take() else {
                        return Poll::Ready(None);
                    };
                    let out = enc.finish()?;
                    return Poll::Ready(Some(Ok(hyper::body::Frame::data(out.into()))));
                }
            }
        }
    }
}

#[cfg(test)]
mod runtime_tests {
    use super::{accepts_gzip, TypeList};

    #[test]
    fn accept_encoding() {
        assert!(accepts_gzip(b"gzip, deflate"));
        assert!(accepts_gzip(b"deflate, gzip"));
        assert!(accepts_gzip(b"br;q=1, gzip;q=0.5"));
        assert!(!accepts_gzip(b"gzip;q=0"));
        assert!(!accepts_gzip(b"deflate"));
        assert!(!accepts_gzip(b"gzi"));
    }

    #[test]
    fn type_lists() {
        let t = TypeList::from_args(&[b"text/plain".to_vec()]);
        assert!(t.matches(b"text/html"));
        assert!(t.matches(b"Text/Plain; charset=utf-8"));
        assert!(!t.matches(b"image/png"));
        assert!(TypeList::from_args(&[b"*".to_vec()]).matches(b"image/png"));
    }
}
