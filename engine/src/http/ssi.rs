//! ngx_http_ssi_filter_module.

use parser::Directive;

use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};
use crate::http::gzip::types_slot;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_ssi_filter_module",
    commands: &[
        cmd(
            "ssi",
            Ctx::HTTP_MSL.or(Ctx::HTTP_LIF),
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "ssi_silent_errors",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "ssi_ignore_recycled_buffers",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "ssi_min_file_chunk",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Size),
        ),
        cmd(
            "ssi_value_length",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Size),
        ),
        cmd(
            "ssi_types",
            Ctx::HTTP_MSL,
            Args::ONEMORE,
            Set::Handler(ssi_types),
        ),
        cmd(
            "ssi_last_modified",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
    ],
};

/// Variables this module defines.
pub(crate) const VARIABLES: &[&str] = &["date_local", "date_gmt"];

fn ssi_types(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    types_slot(cf, d, "ssi_types")
}
