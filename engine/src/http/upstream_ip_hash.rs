//! ngx_http_upstream_ip_hash_module: the `ip_hash` balancer.

use parser::Directive;

use super::upstream;
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_upstream_ip_hash_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[cmd(
    "ip_hash",
    Ctx::HTTP_UPS,
    Args::NOARGS,
    Set::Handler(upstream_ip_hash),
)];

/// nginx: ngx_http_upstream_ip_hash.
fn upstream_ip_hash(cf: &mut Cf<'_>, _d: &Directive) -> SetResult {
    upstream::set_balancer(cf, upstream::NO_BACKUP_FLAGS);
    Ok(())
}
