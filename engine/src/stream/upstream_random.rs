//! ngx_stream_upstream_random_module: the stream `random` balancer.

use parser::Directive;

#[allow(unused_imports)]
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_stream_upstream_random_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[cmd(
    "random",
    Ctx::STREAM_UPS,
    Args::NOARGS.or(Args::TAKE12),
    Set::Handler(upstream_random),
)];

fn invalid(cf: &mut Cf<'_>, what: &str, v: &[u8]) -> SetResult {
    let text = format!("{what} \"{}\"", String::from_utf8_lossy(v));
    Err(cf.emerg(text).into())
}

/// nginx: ngx_stream_upstream_random.
fn upstream_random(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    crate::http::upstream::set_balancer(cf, crate::http::upstream::NO_BACKUP_FLAGS);
    if let Some(p) = d.args.first() {
        if p.as_slice() != b"two" {
            return invalid(cf, "invalid parameter", p);
        }
    }
    if let Some(p) = d.args.get(1) {
        if p.as_slice() != b"least_conn" {
            return invalid(cf, "invalid parameter", p);
        }
    }
    Ok(())
}
