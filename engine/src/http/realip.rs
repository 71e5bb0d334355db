//! ngx_http_realip_module: `set_real_ip_from`, `real_ip_header`, `real_ip_recursive`.

use parser::Directive;

use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};
use crate::http::geo::ptocidr;
use crate::log::Level;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_realip_module",
    commands: &[
        cmd(
            "set_real_ip_from",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Handler(realip_from),
        ),
        cmd(
            "real_ip_header",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Handler(realip),
        ),
        cmd(
            "real_ip_recursive",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
    ],
};

/// Variables this module defines.
pub(crate) const VARIABLES: &[&str] = &["realip_remote_addr", "realip_remote_port"];

/// nginx: ngx_http_realip_from
fn realip_from(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let Some(v) = d.args.first() else {
        return Ok(());
    };
    if v == b"unix:" {
        return Ok(());
    }
    let shown = String::from_utf8_lossy(v).into_owned();
    match ptocidr(v) {
        Ok((_, true)) => {
            cf.conf_log(
                Level::Warn,
                format!("low address bits of {shown} are meaningless"),
            );
            Ok(())
        }
        Ok(_) => Ok(()),
        // nginx: ngx_inet_resolve_host
        Err(()) => match crate::http::upstream::resolve_host(v, 0) {
            Ok(_) => Ok(()),
            Err(e) => Err(cf
                .emerg(format!("{e} in set_real_ip_from \"{shown}\""))
                .into()),
        },
    }
}

/// nginx: ngx_http_realip
fn realip(cf: &mut Cf<'_>, _d: &Directive) -> SetResult {
    if cf.seen("real_ip_header") {
        return Err(Some("is duplicate".into()));
    }
    Ok(())
}
