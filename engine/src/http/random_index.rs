//! ngx_http_random_index_module: `random_index`.

use crate::conf::{cmd, Args, Ctx, Module, Set, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_random_index_module",
    commands: &[cmd(
        "random_index",
        Ctx::HTTP_LOC,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    )],
};
