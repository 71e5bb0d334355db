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
