//! ngx_stream_split_clients_module: stream `split_clients`.

use parser::Directive;

#[allow(unused_imports)]
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_stream_split_clients_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[cmd(
    "split_clients",
    Ctx::STREAM_MAIN,
    Args::BLOCK.or(Args::TAKE2),
    Set::Handler(split_clients_block),
)];

fn invalid(cf: &mut Cf<'_>, what: &str, v: &[u8]) -> SetResult {
    let text = format!("{what} \"{}\"", String::from_utf8_lossy(v));
    Err(cf.emerg(text).into())
}

/// nginx: ngx_conf_split_clients_block.
fn split_clients_block(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    super::compile_complex_value(cf, &d.args[0])?;
    let name = &d.args[1];
    let Some(var) = name.strip_prefix(b"$") else {
        return invalid(cf, "invalid variable name", name);
    };
    super::add_variable(cf, var, false)?;
    let parser::Body::Block(b) = &d.body else {
        return Ok(());
    };
    let conf = cf.conf;
    let Some(b) = crate::http::upstream::find_block(&conf.directives, b) else {
        return Ok(());
    };
    let mut sum: u64 = 0;
    cf.data_block(b, Ctx::STREAM_MAIN, |cf, line| {
        if line.args.len() != 1 {
            let text = format!(
                "invalid number of arguments in \"{}\" directive",
                String::from_utf8_lossy(&line.name)
            );
            return Err(cf.emerg(text));
        }
        let p = &line.name;
        if p.as_slice() == b"*" {
            return Ok(());
        }
        let parsed = p
            .strip_suffix(b"%")
            .and_then(|n| {
                let (int, frac) = match n.iter().position(|&c| c == b'.') {
                    Some(i) => (&n[..i], &n[i + 1..]),
                    None => (n, &b""[..]),
                };
                let i = crate::conf::values::atoi(int)?;
                let f = if frac.is_empty() {
                    0
                } else if frac.len() <= 2 {
                    crate::conf::values::atoi(frac)? * if frac.len() == 1 { 10 } else { 1 }
                } else {
                    return None;
                };
                Some((i * 100 + f) as u64)
            })
            .filter(|&v| v > 0);
        let Some(v) = parsed else {
            let text = format!("invalid percent value \"{}\"", String::from_utf8_lossy(p));
            return Err(cf.emerg(text));
        };
        sum += v;
        if sum > 10000 {
            return Err(cf.emerg("percent total is greater than 100%"));
        }
        Ok(())
    })?;
    Ok(())
}
