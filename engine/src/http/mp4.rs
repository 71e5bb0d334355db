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

// ---- runtime ----

/// `mp4_buffer_size`, `mp4_max_buffer_size`, `mp4_start_key_frame` (merged per field).
#[derive(Debug, Clone, Default)]
pub(crate) struct Mp4Conf {
    pub(crate) buffer_size: Option<u64>,
    pub(crate) max_buffer_size: Option<u64>,
    pub(crate) start_key_frame: Option<bool>,
}

/// nginx: ngx_http_mp4_merge_conf.
pub(crate) fn merge(c: &mut Mp4Conf, p: &Mp4Conf) {
    if c.buffer_size.is_none() {
        c.buffer_size = p.buffer_size;
    }
    if c.max_buffer_size.is_none() {
        c.max_buffer_size = p.max_buffer_size;
    }
    if c.start_key_frame.is_none() {
        c.start_key_frame = p.start_key_frame;
    }
}

/// Folds the mp4 directives into a level.
pub(crate) fn lower(c: &mut crate::http::lower::LocConf, d: &parser::Directive) -> bool {
    let a = d.args.first().map(Vec::as_slice).unwrap_or_default();
    match d.name.as_slice() {
        b"mp4" => c.mp4 = true,
        b"mp4_buffer_size" => c.mp4_conf.buffer_size = crate::conf::values::parse_size(a),
        b"mp4_max_buffer_size" => c.mp4_conf.max_buffer_size = crate::conf::values::parse_size(a),
        b"mp4_start_key_frame" => c.mp4_conf.start_key_frame = Some(a.eq_ignore_ascii_case(b"on")),
        _ => return false,
    }
    true
}
