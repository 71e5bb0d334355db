//! ngx_stream_realip_module: `set_real_ip_from`.

use parser::Directive;

#[allow(unused_imports)]
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};
use crate::log::Level;

pub(crate) static MODULE: Module = Module {
    name: "ngx_stream_realip_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[cmd(
    "set_real_ip_from",
    Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
    Args::TAKE1,
    Set::Handler(realip_from),
)];

/// Variables ngx_stream_realip_module defines.
pub(crate) const VARIABLES: &[&str] = &["realip_remote_addr", "realip_remote_port"];

/// nginx: ngx_stream_realip_from.
fn realip_from(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let v = &d.args[0];
    if v.as_slice() == b"unix:" {
        return Ok(());
    }
    match super::access::cidr(v) {
        Some(true) => {
            let text = format!(
                "low address bits of {} are meaningless",
                String::from_utf8_lossy(v)
            );
            cf.conf_log(Level::Warn, text);
            Ok(())
        }
        Some(false) => Ok(()),
        None => {
            // nginx resolves a name (ngx_inet_resolve_host)
            match crate::http::upstream::resolve_host(v, 0) {
                Ok(_) => Ok(()),
                Err(e) => {
                    let text =
                        format!("{e} in set_real_ip_from \"{}\"", String::from_utf8_lossy(v));
                    Err(cf.emerg(text).into())
                }
            }
        }
    }
}
