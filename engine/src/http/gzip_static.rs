//! ngx_http_gzip_static_module.

use crate::conf::{cmd, Args, Ctx, Module, Set, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_gzip_static_module",
    commands: &[cmd(
        "gzip_static",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Enum(&["off", "on", "always"])),
    )],
};
