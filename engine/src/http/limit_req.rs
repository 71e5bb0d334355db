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
