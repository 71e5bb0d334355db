//! ngx_http_referer_module: `valid_referers`, `referer_hash_*`.

use parser::Directive;

use crate::conf::dispatch::{Failed, Frame};
use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};
use crate::http::map::{AddKey, HashKeys};
use crate::log::Level;

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
