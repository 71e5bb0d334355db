//! ngx_http_addition_filter_module.

use parser::Directive;

use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};
use crate::http::gzip::types_slot;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_addition_filter_module",
    commands: &[
        cmd(
            "add_before_body",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Str),
        ),
        cmd(
            "add_after_body",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Str),
        ),
        cmd(
            "addition_types",
            Ctx::HTTP_MSL,
            Args::ONEMORE,
            Set::Handler(addition_types),
        ),
    ],
};

fn addition_types(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    types_slot(cf, d, "addition_types")
}

// ---- runtime ----

/// `add_before_body`, `add_after_body`, `addition_types` (merged per field).
#[derive(Debug, Clone, Default)]
pub(crate) struct AddConf {
    pub(crate) before: Option<Vec<u8>>,
    pub(crate) after: Option<Vec<u8>>,
    pub(crate) types: Option<std::sync::Arc<crate::http::gzip::TypeList>>,
}

/// nginx: ngx_http_addition_merge_conf.
pub(crate) fn merge(c: &mut AddConf, p: &AddConf) {
    if c.before.is_none() {
        c.before = p.before.clone();
    }
    if c.after.is_none() {
        c.after = p.after.clone();
    }
    if c.types.is_none() {
        c.types = p.types.clone();
    }
}

/// Folds the addition directives into a level.
pub(crate) fn lower(c: &mut crate::http::lower::LocConf, d: &Directive) -> bool {
    let a = d.args.first().cloned().unwrap_or_default();
    match d.name.as_slice() {
        b"add_before_body" => c.addition.before = Some(a),
        b"add_after_body" => c.addition.after = Some(a),
        b"addition_types" => {
            c.addition.types = Some(std::sync::Arc::new(crate::http::gzip::TypeList::from_args(
                &d.args,
            )))
        }
        _ => return false,
    }
    true
}
