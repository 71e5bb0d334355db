//! ngx_http_mp4_module.

use crate::conf::{cmd, Args, Ctx, Module, Set, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_mp4_module",
    commands: &[
        // nginx: ngx_http_mp4 only installs the location's content handler.
        cmd("mp4", Ctx::HTTP_LOC, Args::NOARGS, Set::NoOp),
        cmd(
            "mp4_buffer_size",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Size),
        ),
        cmd(
            "mp4_max_buffer_size",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Size),
        ),
        cmd(
            "mp4_start_key_frame",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
    ],
};
