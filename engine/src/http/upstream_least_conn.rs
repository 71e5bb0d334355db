//! ngx_http_upstream_least_conn_module: the `least_conn` balancer.

use parser::Directive;

use super::upstream;
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_upstream_least_conn_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[cmd(
    "least_conn",
    Ctx::HTTP_UPS,
    Args::NOARGS,
    Set::Handler(upstream_least_conn),
)];

/// nginx: ngx_http_upstream_least_conn (keeps `backup`).
fn upstream_least_conn(cf: &mut Cf<'_>, _d: &Directive) -> SetResult {
    upstream::set_balancer(cf, upstream::NO_BACKUP_FLAGS | upstream::BACKUP);
    Ok(())
}
