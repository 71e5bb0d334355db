//! ngx_http_upstream_zone_module: upstream groups in shared memory.

use parser::Directive;

use super::upstream;
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_upstream_zone_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[cmd(
    "zone",
    Ctx::HTTP_UPS,
    Args::TAKE12,
    Set::Handler(upstream_zone),
)];

/// nginx: ngx_http_upstream_zone.
fn upstream_zone(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    zone(cf, d, "ngx_http_upstream_module")
}

/// nginx: ngx_http_upstream_zone / ngx_stream_upstream_zone (`tag`: the upstream module).
pub(crate) fn zone(cf: &mut Cf<'_>, d: &Directive, tag: &'static str) -> SetResult {
    let name = &d.args[0];
    let show = |a: &[u8]| String::from_utf8_lossy(a).into_owned();
    if name.is_empty() {
        return Err(cf
            .emerg(format!("invalid zone name \"{}\"", show(name)))
            .into());
    }
    let mut size = 0;
    if let Some(s) = d.args.get(1) {
        match crate::conf::values::parse_size(s) {
            None => {
                return Err(cf
                    .emerg(format!("invalid zone size \"{}\"", show(s)))
                    .into())
            }
            Some(n) if n < 8 * 4096 => {
                return Err(cf
                    .emerg(format!("zone \"{}\" is too small", show(name)))
                    .into())
            }
            Some(n) => size = n,
        }
    }
    let z = upstream::shared_memory_add(cf, name, size, tag)?;
    // nginx: the upstream zone's `shm_zone->data` is the upstream main conf
    if let Some(zone) = cf.main().get::<upstream::SharedMemory>().zones.get_mut(z) {
        zone.data = true;
    }
    Ok(())
}
