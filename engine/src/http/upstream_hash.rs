//! ngx_http_upstream_hash_module: the `hash` balancer.

use parser::Directive;

use super::upstream;
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_upstream_hash_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[cmd(
    "hash",
    Ctx::HTTP_UPS,
    Args::TAKE12,
    Set::Handler(upstream_hash),
)];

/// nginx: ngx_http_upstream_hash.
fn upstream_hash(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    crate::http::variables::compile_complex_value(cf, &d.args[0])?;
    upstream::set_balancer(cf, upstream::NO_BACKUP_FLAGS);
    if let Some(p) = d.args.get(1) {
        if p.as_slice() != b"consistent" {
            let text = format!("invalid parameter \"{}\"", String::from_utf8_lossy(p));
            return Err(cf.emerg(text).into());
        }
    }
    Ok(())
}
