//! ngx_http_slice_filter_module: `slice`.

use crate::conf::{cmd, Args, Ctx, Module, Set, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_slice_filter_module",
    commands: &[cmd(
        "slice",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    )],
};

/// Variables this module defines.
pub(crate) const VARIABLES: &[&str] = &["slice_range"];
