//! ngx_http_upstream_random_module: the `random` balancer.

use parser::Directive;

use super::upstream;
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_upstream_random_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[cmd(
    "random",
    Ctx::HTTP_UPS,
    Args::NOARGS.or(Args::TAKE12),
    Set::Handler(upstream_random),
)];

/// nginx: ngx_http_upstream_random.
fn upstream_random(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream::set_balancer(cf, upstream::NO_BACKUP_FLAGS);
    let invalid = |cf: &mut Cf<'_>, p: &[u8]| -> SetResult {
        let text = format!("invalid parameter \"{}\"", String::from_utf8_lossy(p));
        Err(cf.emerg(text).into())
    };
    if let Some(p) = d.args.first() {
        if p.as_slice() != b"two" {
            return invalid(cf, p);
        }
    }
    if let Some(p) = d.args.get(1) {
        if p.as_slice() != b"least_conn" {
            return invalid(cf, p);
        }
    }
    Ok(())
}
