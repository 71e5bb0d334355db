//! ngx_http_autoindex_module.

use crate::conf::{cmd, Args, Ctx, Module, Set, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_autoindex_module",
    commands: &[
        cmd(
            "autoindex",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "autoindex_format",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Enum(&["html", "xml", "json", "jsonp"])),
        ),
        cmd(
            "autoindex_localtime",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "autoindex_exact_size",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
    ],
};

// ---- runtime ----

use parser::Directive;

/// `autoindex_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Html,
    Json,
    Jsonp,
    Xml,
}

/// Folds the autoindex_* directives into a level.
pub(crate) fn lower(c: &mut crate::http::lower::LocConf, d: &Directive) {
    let a = d.args.first().map(Vec::as_slice).unwrap_or_default();
    let on = a.eq_ignore_ascii_case(b"on");
    match d.name.as_slice() {
        b"autoindex_format" => {
            c.autoindex_format = Some(match a {
                b"json" => Format::Json,
                b"jsonp" => Format::Jsonp,
                b"xml" => Format::Xml,
                _ => Format::Html,
            })
        }
        b"autoindex_localtime" => c.autoindex_localtime = Some(on),
        b"autoindex_exact_size" => c.autoindex_exact_size = Some(on),
        _ => {}
    }
}
