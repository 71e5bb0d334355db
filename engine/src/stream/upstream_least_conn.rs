//! ngx_stream_upstream_least_conn_module: the stream `least_conn` balancer.

use parser::Directive;

#[allow(unused_imports)]
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_stream_upstream_least_conn_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[cmd(
    "least_conn",
    Ctx::STREAM_UPS,
    Args::NOARGS,
    Set::Handler(upstream_least_conn),
)];

/// nginx: ngx_stream_upstream_least_conn.
fn upstream_least_conn(cf: &mut Cf<'_>, _d: &Directive) -> SetResult {
    use crate::http::upstream::{set_balancer, BACKUP, NO_BACKUP_FLAGS};
    set_balancer(cf, NO_BACKUP_FLAGS | BACKUP);
    Ok(())
}
