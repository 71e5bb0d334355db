//! ngx_stream_upstream_zone_module: stream upstream groups in shared memory.

use parser::Directive;

#[allow(unused_imports)]
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_stream_upstream_zone_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[cmd(
    "zone",
    Ctx::STREAM_UPS,
    Args::TAKE12,
    Set::Handler(upstream_zone),
)];

/// nginx: ngx_stream_upstream_zone.
fn upstream_zone(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    crate::http::upstream_zone::zone(cf, d, "ngx_stream_upstream_module")
}
