//! ngx_http_limit_conn_module: `limit_conn_zone`, `limit_conn` and friends.

use parser::Directive;

use crate::conf::values::atoi;
use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};
use crate::http::gzip::num_bounds;
use crate::http::limit_req::{use_zone, zone_directive};
use crate::http::upstream::shared_memory_add;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_limit_conn_module",
    commands: &[
        cmd(
            "limit_conn_zone",
            Ctx::HTTP_MAIN,
            Args::TAKE2,
            Set::Handler(limit_conn_zone),
        ),
        cmd(
            "limit_conn",
            Ctx::HTTP_MSL,
            Args::TAKE2,
            Set::Handler(limit_conn),
        ),
        cmd(
            "limit_conn_log_level",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Enum(&["info", "notice", "warn", "error"])),
        ),
        cmd(
            "limit_conn_status",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Handler(limit_conn_status),
        ),
        cmd(
            "limit_conn_dry_run",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
    ],
};

/// Variables this module defines.
pub(crate) const VARIABLES: &[&str] = &["limit_conn_status"];

/// nginx's `&ngx_http_limit_conn_module` as a shared memory tag.
const TAG: &str = "ngx_http_limit_conn_module";

/// nginx: ngx_http_limit_conn_zone
fn limit_conn_zone(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    zone_directive(cf, d, "limit_conn_zone", TAG, false)
}

/// nginx: ngx_http_limit_conn
fn limit_conn(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let (Some(name), Some(n)) = (d.args.first(), d.args.get(1)) else {
        return Ok(());
    };
    let i = shared_memory_add(cf, name, 0, TAG)?;
    if !use_zone(cf, TAG, i) {
        return Err(Some("is duplicate".into()));
    }
    match atoi(n) {
        Some(n) if n > 65535 => Err(cf.emerg("connection limit must be less 65536").into()),
        Some(n) if n > 0 => Ok(()),
        _ => Err(cf
            .emerg(format!(
                "invalid number of connections \"{}\"",
                String::from_utf8_lossy(n)
            ))
            .into()),
    }
}

fn limit_conn_status(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    num_bounds(cf, d, "limit_conn_status", 400, Some(599))
}
