//! ngx_http_sub_filter_module: `sub_filter` and friends.

use parser::Directive;

use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};
use crate::http::gzip::types_slot;
use crate::http::variables;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_sub_filter_module",
    commands: &[
        cmd(
            "sub_filter",
            Ctx::HTTP_MSL,
            Args::TAKE2,
            Set::Handler(sub_filter),
        ),
        cmd(
            "sub_filter_types",
            Ctx::HTTP_MSL,
            Args::ONEMORE,
            Set::Handler(sub_filter_types),
        ),
        cmd(
            "sub_filter_once",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "sub_filter_last_modified",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
    ],
};

/// One level's `sub_filter` pairs (nginx: `slcf->pairs`).
#[derive(Default)]
struct Pairs(usize);

/// nginx: ngx_http_sub_filter
fn sub_filter(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let (Some(search), Some(replace)) = (d.args.first(), d.args.get(1)) else {
        return Ok(());
    };
    if search.is_empty() {
        return Err(cf.emerg("empty search pattern").into());
    }
    let pairs = cf.frame().get::<Pairs>();
    if pairs.0 == 255 {
        return Err(cf.emerg("number of search patterns exceeds 255").into());
    }
    pairs.0 += 1;
    // nginx lower-cases the pattern before compiling it.
    variables::compile_complex_value(cf, &search.to_ascii_lowercase())?;
    variables::compile_complex_value(cf, replace)?;
    Ok(())
}

fn sub_filter_types(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    types_slot(cf, d, "sub_filter_types")
}
