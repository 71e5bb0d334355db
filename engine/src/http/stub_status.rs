//! ngx_http_stub_status_module: `stub_status` (an argument is accepted and ignored).

use crate::conf::{cmd, Args, Ctx, Module, Set};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_stub_status_module",
    // nginx: ngx_http_set_stub_status only installs the location's content handler.
    commands: &[cmd(
        "stub_status",
        Ctx::HTTP_SRV.or(Ctx::HTTP_LOC),
        Args::NOARGS.or(Args::TAKE1),
        Set::NoOp,
    )],
};

/// Variables this module defines.
pub(crate) const VARIABLES: &[&str] = &[
    "connections_active",
    "connections_reading",
    "connections_writing",
    "connections_waiting",
];
