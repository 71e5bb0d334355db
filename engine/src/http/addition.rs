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
