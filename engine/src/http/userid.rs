//! ngx_http_userid_filter_module.

use parser::Directive;

use crate::conf::values::parse_time;
use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_userid_filter_module",
    commands: &[
        cmd(
            "userid",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Enum(&["off", "log", "v1", "on"])),
        ),
        cmd(
            "userid_service",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
        cmd(
            "userid_name",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Str),
        ),
        // The post handlers of domain, path and p3p only rewrite the value.
        cmd(
            "userid_domain",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Str),
        ),
        cmd(
            "userid_path",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Str),
        ),
        cmd(
            "userid_expires",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Handler(userid_expires),
        ),
        cmd(
            "userid_flags",
            Ctx::HTTP_MSL,
            Args::TAKE123,
            Set::Slot(Slot::Bitmask(&[
                "off",
                "secure",
                "httponly",
                "samesite=strict",
                "samesite=lax",
                "samesite=none",
            ])),
        ),
        cmd(
            "userid_p3p",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Str),
        ),
        cmd(
            "userid_mark",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Handler(userid_mark),
        ),
    ],
};

/// Variables this module defines.
pub(crate) const VARIABLES: &[&str] = &["uid_got", "uid_set", "uid_reset"];

/// nginx: ngx_http_userid_expires
fn userid_expires(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if cf.seen("userid_expires") {
        return Err(Some("is duplicate".into()));
    }
    let v = d.args.first().map(Vec::as_slice).unwrap_or_default();
    if v == b"max" || v == b"off" || parse_time(v, true).is_some() {
        Ok(())
    } else {
        Err(Some("invalid value".into()))
    }
}

/// nginx: ngx_http_userid_mark
fn userid_mark(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if cf.seen("userid_mark") {
        return Err(Some("is duplicate".into()));
    }
    let v = d.args.first().map(Vec::as_slice).unwrap_or_default();
    let ok = v == b"off" || matches!(v, [c] if c.is_ascii_alphanumeric() || *c == b'=');
    if ok {
        Ok(())
    } else {
        Err(Some(
            "value must be \"off\" or a single letter, digit or \"=\"".into(),
        ))
    }
}
