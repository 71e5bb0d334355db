//! ngx_http_flv_module: `flv`.

use crate::conf::{cmd, Args, Ctx, Module, Set};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_flv_module",
    // nginx: ngx_http_flv only installs the location's content handler.
    commands: &[cmd("flv", Ctx::HTTP_LOC, Args::NOARGS, Set::NoOp)],
};
