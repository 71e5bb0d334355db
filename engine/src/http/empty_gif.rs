//! ngx_http_empty_gif_module: `empty_gif`.

use crate::conf::{cmd, Args, Ctx, Module, Set};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_empty_gif_module",
    // nginx: ngx_http_empty_gif only installs the location's content handler.
    commands: &[cmd("empty_gif", Ctx::HTTP_LOC, Args::NOARGS, Set::NoOp)],
};
