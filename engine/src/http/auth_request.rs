//! ngx_http_auth_request_module: `auth_request`, `auth_request_set`.

use parser::Directive;

use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult};
use crate::http::variables;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_auth_request_module",
    commands: &[
        cmd(
            "auth_request",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Handler(auth_request),
        ),
        cmd(
            "auth_request_set",
            Ctx::HTTP_MSL,
            Args::TAKE2,
            Set::Handler(auth_request_set),
        ),
    ],
};

/// nginx: ngx_http_auth_request
fn auth_request(cf: &mut Cf<'_>, _d: &Directive) -> SetResult {
    if cf.seen("auth_request") {
        return Err(Some("is duplicate".into()));
    }
    Ok(())
}

/// nginx: ngx_http_auth_request_set
fn auth_request_set(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let (Some(name), Some(value)) = (d.args.first(), d.args.get(1)) else {
        return Ok(());
    };
    let Some(var) = name.strip_prefix(b"$") else {
        return Err(cf
            .emerg(format!(
                "invalid variable name \"{}\"",
                String::from_utf8_lossy(name)
            ))
            .into());
    };
    variables::add_variable(cf, var, true)?;
    variables::get_variable_index(cf, var)?;
    variables::compile_complex_value(cf, value)?;
    Ok(())
}
