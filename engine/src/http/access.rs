//! ngx_http_access_module: `allow`, `deny`.

use parser::Directive;

use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult};
use crate::http::geo::ptocidr;
use crate::log::Level;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_access_module",
    commands: &[
        cmd(
            "allow",
            Ctx::HTTP_MSL.or(Ctx::HTTP_LMT),
            Args::TAKE1,
            Set::Handler(access_rule),
        ),
        cmd(
            "deny",
            Ctx::HTTP_MSL.or(Ctx::HTTP_LMT),
            Args::TAKE1,
            Set::Handler(access_rule),
        ),
    ],
};

/// nginx: ngx_http_access_rule
fn access_rule(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let Some(v) = d.args.first() else {
        return Ok(());
    };
    if v == b"all" || v == b"unix:" {
        return Ok(());
    }
    let shown = String::from_utf8_lossy(v);
    match ptocidr(v) {
        Err(()) => Err(cf.emerg(format!("invalid parameter \"{shown}\"")).into()),
        Ok((_, true)) => {
            cf.conf_log(
                Level::Warn,
                format!("low address bits of {shown} are meaningless"),
            );
            Ok(())
        }
        Ok(_) => Ok(()),
    }
}
