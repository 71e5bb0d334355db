//! ngx_stream_limit_conn_module: stream `limit_conn`.

use parser::Directive;

#[allow(unused_imports)]
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_stream_limit_conn_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[
    cmd(
        "limit_conn_zone",
        Ctx::STREAM_MAIN,
        Args::TAKE2,
        Set::Handler(limit_conn_zone),
    ),
    cmd(
        "limit_conn",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE2,
        Set::Handler(limit_conn),
    ),
    cmd(
        "limit_conn_log_level",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Enum(&["info", "notice", "warn", "error"])),
    ),
    cmd(
        "limit_conn_dry_run",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
];

fn invalid(cf: &mut Cf<'_>, what: &str, v: &[u8]) -> SetResult {
    let text = format!("{what} \"{}\"", String::from_utf8_lossy(v));
    Err(cf.emerg(text).into())
}

/// Variables ngx_stream_limit_conn_module defines.
pub(crate) const VARIABLES: &[&str] = &["limit_conn_status"];

/// nginx: ngx_stream_limit_conn_zone.
fn limit_conn_zone(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    super::compile_complex_value(cf, &d.args[0])?;
    let mut zone: Option<(Vec<u8>, u64)> = None;
    for a in &d.args[1..] {
        if let Some(z) = a.strip_prefix(b"zone=") {
            let Some(c) = z.iter().position(|&c| c == b':') else {
                return invalid(cf, "invalid zone size", a);
            };
            let Some(size) = crate::conf::values::parse_size(&z[c + 1..]) else {
                return invalid(cf, "invalid zone size", a);
            };
            if size < 8 * 4096 {
                let text = format!("zone \"{}\" is too small", String::from_utf8_lossy(a));
                return Err(cf.emerg(text).into());
            }
            zone = Some((z[..c].to_vec(), size));
            continue;
        }
        return invalid(cf, "invalid parameter", a);
    }
    let Some((name, size)) = zone else {
        let text = format!(
            "\"{}\" must have \"zone\" parameter",
            String::from_utf8_lossy(&d.name)
        );
        return Err(cf.emerg(text).into());
    };
    crate::http::upstream::shared_memory_add(cf, &name, size, "ngx_stream_limit_conn_module")?;
    Ok(())
}

/// nginx: ngx_stream_limit_conn.
fn limit_conn(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    crate::http::upstream::shared_memory_add(cf, &d.args[0], 0, "ngx_stream_limit_conn_module")?;
    let n = &d.args[1];
    match crate::conf::values::atoi(n) {
        Some(v) if v > 0 => {
            if v > 65535 {
                return Err(cf.emerg("connection limit must be less 65536").into());
            }
            Ok(())
        }
        _ => invalid(cf, "invalid number of connections", n),
    }
}
