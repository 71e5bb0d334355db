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

// ---- runtime ----

/// `gzip_static off|on|always`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Off,
    On,
    Always,
}

/// Folds `gzip_static` into a level.
pub(crate) fn lower(c: &mut crate::http::lower::LocConf, d: &parser::Directive) {
    c.gzip_static = Some(match d.args.first().map(Vec::as_slice) {
        Some(b"on") => Mode::On,
        Some(b"always") => Mode::Always,
        _ => Mode::Off,
    });
}
