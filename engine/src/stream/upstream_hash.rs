//! ngx_stream_upstream_hash_module: the stream `hash` balancer.

use parser::Directive;

#[allow(unused_imports)]
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_stream_upstream_hash_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[cmd(
    "hash",
    Ctx::STREAM_UPS,
    Args::TAKE12,
    Set::Handler(upstream_hash),
)];

fn invalid(cf: &mut Cf<'_>, what: &str, v: &[u8]) -> SetResult {
    let text = format!("{what} \"{}\"", String::from_utf8_lossy(v));
    Err(cf.emerg(text).into())
}

/// nginx: ngx_stream_upstream_hash.
fn upstream_hash(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    super::compile_complex_value(cf, &d.args[0])?;
    crate::http::upstream::set_balancer(cf, crate::http::upstream::NO_BACKUP_FLAGS);
    if let Some(p) = d.args.get(1) {
        if p.as_slice() != b"consistent" {
            return invalid(cf, "invalid parameter", p);
        }
    }
    Ok(())
}
