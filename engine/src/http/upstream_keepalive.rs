//! ngx_http_upstream_keepalive_module: `keepalive` connections to upstreams.

use parser::Directive;

use super::upstream;
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_upstream_keepalive_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[
    cmd(
        "keepalive",
        Ctx::HTTP_UPS,
        Args::TAKE1,
        Set::Handler(upstream_keepalive),
    ),
    cmd(
        "keepalive_time",
        Ctx::HTTP_UPS,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "keepalive_timeout",
        Ctx::HTTP_UPS,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "keepalive_requests",
        Ctx::HTTP_UPS,
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
];

/// nginx: ngx_http_upstream_keepalive.
fn upstream_keepalive(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if upstream::current(cf).is_some_and(|u| u.keepalive) {
        return Err(Some("is duplicate".into()));
    }
    let v = &d.args[0];
    if !matches!(crate::conf::values::atoi(v), Some(n) if n > 0) {
        let text = format!(
            "invalid value \"{}\" in \"{}\" directive",
            String::from_utf8_lossy(v),
            String::from_utf8_lossy(&d.name)
        );
        return Err(cf.emerg(text).into());
    }
    if let Some(u) = upstream::current(cf) {
        u.keepalive = true;
    }
    Ok(())
}
