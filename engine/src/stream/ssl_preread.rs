//! ngx_stream_ssl_preread_module: `ssl_preread`.

#[allow(unused_imports)]
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_stream_ssl_preread_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[cmd(
    "ssl_preread",
    Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
    Args::FLAG,
    Set::Slot(Slot::Flag),
)];

/// Variables ngx_stream_ssl_preread_module defines.
pub(crate) const VARIABLES: &[&str] = &[
    "ssl_preread_protocol",
    "ssl_preread_server_name",
    "ssl_preread_alpn_protocols",
];
