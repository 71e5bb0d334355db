//! ngx_http_dav_module.

use crate::conf::{cmd, Args, Ctx, Module, Set, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_dav_module",
    commands: &[
        cmd(
            "dav_methods",
            Ctx::HTTP_MSL,
            Args::ONEMORE,
            Set::Slot(Slot::Bitmask(&[
                "off", "put", "delete", "mkcol", "copy", "move",
            ])),
        ),
        cmd(
            "create_full_put_path",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "min_delete_depth",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
        cmd(
            "dav_access",
            Ctx::HTTP_MSL,
            Args::TAKE123,
            Set::Slot(Slot::Access),
        ),
    ],
};
