//! ngx_http_referer_module: `valid_referers`, `referer_hash_*`.

use parser::Directive;

use crate::conf::dispatch::{Failed, Frame};
use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};
use crate::http::map::{AddKey, HashKeys};
use crate::log::Level;
use std::sync::Arc;

const CTX: Ctx = Ctx::HTTP_SRV.or(Ctx::HTTP_LOC);

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_referer_module",
    commands: &[
        cmd(
            "valid_referers",
            CTX,
            Args::ONEMORE,
            Set::Handler(valid_referers),
        ),
        cmd(
            "referer_hash_max_size",
            CTX,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
        cmd(
            "referer_hash_bucket_size",
            CTX,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
    ],
};

/// Variables this module defines.
pub(crate) const VARIABLES: &[&str] = &["invalid_referer"];

fn lossy(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

/// One level's `valid_referers` (nginx: ngx_http_referer_conf_t's keys and flags).
#[derive(Default)]
struct RefererLevel {
    keys: HashKeys,
    /// Index of this level in [`RefererLevels`], once `valid_referers` was seen here.
    index: Option<usize>,
}

/// What the merge check needs of each level with `valid_referers`, in document order.
#[derive(Default)]
struct RefererLevels {
    /// `(none or blocked given, some host key given or server_names)`.
    levels: Vec<(bool, bool)>,
}

/// nginx: ngx_http_valid_referers
fn valid_referers(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let (mut none_blocked, mut keyed) = (false, false);
    for v in &d.args {
        if v.is_empty() {
            return Err(cf.emerg(format!("invalid referer \"{}\"", lossy(v))).into());
        }
        if v == b"none" || v == b"blocked" {
            none_blocked = true;
            continue;
        }
        if v == b"server_names" {
            // The server's names become keys at merge time.
            keyed = true;
            continue;
        }
        if let Some(re) = v.strip_prefix(b"~") {
            if re.is_empty() {
                return Err(cf.emerg(format!("empty regex in \"{}\"", lossy(v))).into());
            }
            // nginx: ngx_regex_compile (caseless, no named-capture variables)
            if let Err(text) = crate::regex::build(re, true) {
                return Err(cf.emerg(text).into());
            }
            continue;
        }
        let host = match v.iter().position(|&c| c == b'/') {
            Some(slash) => &v[..slash],
            None => v.as_slice(),
        };
        match cf.frame().get::<RefererLevel>().keys.add(host, true) {
            (AddKey::Ok, _) => keyed = true,
            (AddKey::Declined, k) => {
                return Err(cf
                    .emerg(format!("invalid hostname or wildcard \"{}\"", lossy(&k)))
                    .into())
            }
            (AddKey::Busy, k) => {
                return Err(cf
                    .emerg(format!("conflicting parameter \"{}\"", lossy(&k)))
                    .into())
            }
        }
    }
    let index = cf.frame().get::<RefererLevel>().index;
    let Some(http) = cf.enclosing(Ctx::HTTP_MAIN) else {
        return Ok(());
    };
    let levels = &mut http.get::<RefererLevels>().levels;
    let i = match index {
        Some(i) => i,
        None => {
            levels.push((false, false));
            levels.len() - 1
        }
    };
    if let Some(l) = levels.get_mut(i) {
        l.0 |= none_blocked;
        l.1 |= keyed;
    }
    cf.frame().get::<RefererLevel>().index = Some(i);
    Ok(())
}

/// nginx: ngx_http_referer_merge_conf's check, run when the `http` block's levels are merged
/// (after the whole block was read): `none`/`blocked` need some valid referer at that level.
/// Call with the finished `http` level.
pub(crate) fn merge_check(cf: &mut Cf<'_>, http: &mut Frame) -> Result<(), Failed> {
    let bad = http
        .get::<RefererLevels>()
        .levels
        .iter()
        .any(|&(none_blocked, keyed)| none_blocked && !keyed);
    if bad {
        cf.log(
            Level::Emerg,
            "the \"none\" or \"blocked\" referers are specified in the \"valid_referers\" \
             directive without any valid referer"
                .into(),
        );
        return Err(Failed);
    }
    Ok(())
}

// ---- Run time: `$invalid_referer`. ----

/// One level's `valid_referers` at run time (nginx: ngx_http_referer_conf_t with its hash).
#[derive(Debug, Clone, Default)]
pub(crate) struct RefererRt {
    /// `none`: no Referer is valid.
    no_referer: bool,
    /// `blocked`: a Referer without `http://` or `https://` is valid.
    blocked: bool,
    /// `server_names`: the server's names count as hosts.
    server_names: bool,
    /// Host keys with the URI prefix that must follow (None: any).
    hosts: crate::http::map::HostTable<Option<Vec<u8>>>,
    /// `~regex`, caseless, on the Referer without its scheme.
    regexes: Vec<crate::regex::Regex>,
}

/// Folds one `valid_referers` directive into its level (nginx: ngx_http_valid_referers).
pub(crate) fn lower(c: &mut crate::http::lower::LocConf, d: &Directive) {
    let rt = Arc::make_mut(c.referers.get_or_insert_with(Default::default));
    for v in &d.args {
        match v.as_slice() {
            b"none" => rt.no_referer = true,
            b"blocked" => rt.blocked = true,
            b"server_names" => rt.server_names = true,
            _ => {
                if let Some(re) = v.strip_prefix(b"~") {
                    if let Ok(re) = crate::regex::build(re, true) {
                        rt.regexes.push(re);
                    }
                    continue;
                }
                let (host, uri) = match v.iter().position(|&c| c == b'/') {
                    Some(slash) => (&v[..slash], Some(v[slash..].to_vec())),
                    None => (v.as_slice(), None),
                };
                rt.hosts.add(&host.to_ascii_lowercase(), uri, true);
            }
        }
    }
}

/// `$invalid_referer`: "1" when the request's Referer is not valid for its location, else
/// empty (nginx: ngx_http_referer_variable).
pub(crate) fn invalid(r: &crate::http::request::Request) -> bool {
    let Some(rt) = r.loc.referers.as_deref() else {
        return false;
    };
    let Some(referer) = r.headers.get(hyper::header::REFERER).map(|v| v.as_bytes()) else {
        return !rt.no_referer;
    };
    let rest = if referer.len() >= "http://i.ru".len() {
        let lower = referer[..8.min(referer.len())].to_ascii_lowercase();
        if lower.starts_with(b"http://") {
            Some(&referer[7..])
        } else if lower.starts_with(b"https://") {
            Some(&referer[8..])
        } else {
            None
        }
    } else {
        None
    };
    let Some(rest) = rest else {
        return !rt.blocked;
    };
    let end = rest
        .iter()
        .position(|&c| c == b'/' || c == b':')
        .unwrap_or(rest.len());
    if end > 256 {
        return true;
    }
    let host = rest[..end].to_ascii_lowercase();
    let by_server_name = rt.server_names && server_name_uri(r, &host);
    if let Some(uri) = rt.hosts.find(&host).or(by_server_name.then_some(&None)) {
        let Some(uri) = uri else {
            return false;
        };
        let path = rest[end..]
            .iter()
            .position(|&c| c == b'/')
            .map_or(&[][..], |i| &rest[end + i..]);
        return !path.starts_with(uri);
    }
    !rt.regexes
        .iter()
        .any(|re| re.re.is_match(rest).unwrap_or(false))
}

/// `server_names`: whether `host` is one of the server's names (its regex names included).
fn server_name_uri(r: &crate::http::request::Request, host: &[u8]) -> bool {
    use crate::http::lower::ServerName;
    r.server.names.iter().any(|n| match n {
        ServerName::Exact(e) => e.eq_ignore_ascii_case(host),
        ServerName::Head { suffix, dot } => {
            (host.len() > suffix.len() && host.ends_with(suffix)) || (*dot && host == &suffix[1..])
        }
        ServerName::Tail(t) => host.len() > t.len() && host.starts_with(t),
        ServerName::Regex(re) => re.re.is_match(host).unwrap_or(false),
    })
}
