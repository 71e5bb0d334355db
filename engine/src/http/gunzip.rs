//! ngx_http_gunzip_filter_module.

use crate::conf::{cmd, Args, Ctx, Module, Set, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_gunzip_filter_module",
    commands: &[
        cmd("gunzip", Ctx::HTTP_MSL, Args::FLAG, Set::Slot(Slot::Flag)),
        cmd(
            "gunzip_buffers",
            Ctx::HTTP_MSL,
            Args::TAKE2,
            Set::Slot(Slot::Bufs),
        ),
    ],
};
