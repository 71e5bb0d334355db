//! ngx_stream_access_module: `allow` and `deny`.

use parser::Directive;

#[allow(unused_imports)]
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};
use crate::log::Level;

pub(crate) static MODULE: Module = Module {
    name: "ngx_stream_access_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[
    cmd(
        "allow",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Handler(access_rule),
    ),
    cmd(
        "deny",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Handler(access_rule),
    ),
];

/// nginx: ngx_stream_access_rule (ngx_ptocidr).
fn access_rule(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let v = &d.args[0];
    if v.as_slice() == b"all" || v.as_slice() == b"unix:" {
        return Ok(());
    }
    match cidr(v) {
        None => {
            let text = format!("invalid parameter \"{}\"", String::from_utf8_lossy(v));
            Err(cf.emerg(text).into())
        }
        Some(true) => {
            let text = format!(
                "low address bits of {} are meaningless",
                String::from_utf8_lossy(v)
            );
            cf.conf_log(Level::Warn, text);
            Ok(())
        }
        Some(false) => Ok(()),
    }
}

/// nginx: ngx_ptocidr: `None` invalid, `Some(true)` when host bits are set (NGX_DONE).
pub(crate) fn cidr(v: &[u8]) -> Option<bool> {
    use crate::http::upstream::{inet6_addr, inet_addr};
    let (addr, bits) = match v.iter().position(|&c| c == b'/') {
        Some(i) => (&v[..i], Some(&v[i + 1..])),
        None => (v, None),
    };
    if let Some(a) = inet_addr(addr) {
        let Some(b) = bits else { return Some(false) };
        let n = crate::conf::values::atoi(b).filter(|&n| n <= 32)?;
        let mask = if n == 0 { 0 } else { u32::MAX << (32 - n) };
        return Some(u32::from(a) & !mask != 0);
    }
    let a = inet6_addr(addr)?;
    let Some(b) = bits else { return Some(false) };
    let n = crate::conf::values::atoi(b).filter(|&n| n <= 128)?;
    let mask = if n == 0 { 0 } else { u128::MAX << (128 - n) };
    Some(u128::from(a) & !mask != 0)
}
