//! ngx_stream_upstream_module: stream `upstream {}` blocks and their `server`s.

use parser::Directive;

#[allow(unused_imports)]
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_stream_upstream_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[
    cmd(
        "upstream",
        Ctx::STREAM_MAIN,
        Args::BLOCK.or(Args::TAKE1),
        Set::Handler(upstream),
    ),
    cmd(
        "server",
        Ctx::STREAM_UPS,
        Args::ONEMORE,
        Set::Handler(upstream_server),
    ),
];

/// Variables ngx_stream_upstream_module defines (listed in [`super::VARIABLES`]).
pub(crate) const VARIABLES: &[&str] = &[
    "upstream_addr",
    "upstream_bytes_sent",
    "upstream_connect_time",
    "upstream_first_byte_time",
    "upstream_session_time",
    "upstream_bytes_received",
];

/// nginx: ngx_stream_upstream.
fn upstream(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    crate::http::upstream::upstream_block(cf, d, Ctx::STREAM_UPS)
}

/// nginx: ngx_stream_upstream_server.
fn upstream_server(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    crate::http::upstream::upstream_server(cf, d)
}

/// nginx: ngx_stream_upstream_init_main_conf (the round-robin init of each upstream).
pub(crate) fn init_main_conf(
    cf: &mut Cf<'_>,
    stream: &mut crate::conf::dispatch::Frame,
) -> Result<(), crate::conf::dispatch::Failed> {
    crate::http::upstream::init_main_conf(cf, stream)
}
