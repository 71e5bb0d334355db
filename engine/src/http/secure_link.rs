//! ngx_http_secure_link_module.

use parser::Directive;

use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};
use crate::http::gzip::complex_value_slot;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_secure_link_module",
    commands: &[
        cmd(
            "secure_link",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Handler(secure_link),
        ),
        cmd(
            "secure_link_md5",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Handler(secure_link_md5),
        ),
        cmd(
            "secure_link_secret",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Str),
        ),
    ],
};

/// Variables this module defines.
pub(crate) const VARIABLES: &[&str] = &["secure_link", "secure_link_expires"];

fn secure_link(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    complex_value_slot(cf, d, "secure_link")
}

fn secure_link_md5(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    complex_value_slot(cf, d, "secure_link_md5")
}
