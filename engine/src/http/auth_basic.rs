//! ngx_http_auth_basic_module: `auth_basic`, `auth_basic_user_file`.

use parser::Directive;

use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult};
use crate::http::gzip::complex_value_slot;

const CTX: Ctx = Ctx::HTTP_MSL.or(Ctx::HTTP_LMT);

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_auth_basic_module",
    commands: &[
        cmd("auth_basic", CTX, Args::TAKE1, Set::Handler(auth_basic)),
        cmd(
            "auth_basic_user_file",
            CTX,
            Args::TAKE1,
            Set::Handler(auth_basic_user_file),
        ),
    ],
};

fn auth_basic(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    complex_value_slot(cf, d, "auth_basic")
}

/// nginx: ngx_http_auth_basic_user_file (a complex value, resolved against the conf prefix).
fn auth_basic_user_file(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    complex_value_slot(cf, d, "auth_basic_user_file")
}
