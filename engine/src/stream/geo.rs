//! ngx_stream_geo_module: stream `geo`.

use parser::Directive;

#[allow(unused_imports)]
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_stream_geo_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[cmd(
    "geo",
    Ctx::STREAM_MAIN,
    Args::BLOCK.or(Args::TAKE12),
    Set::Handler(geo_block),
)];

fn invalid(cf: &mut Cf<'_>, what: &str, v: &[u8]) -> SetResult {
    let text = format!("{what} \"{}\"", String::from_utf8_lossy(v));
    Err(cf.emerg(text).into())
}

/// nginx: ngx_stream_geo_block (entries: `network value`, `default`, `ranges`, `include`).
fn geo_block(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let (src, name) = if d.args.len() == 2 {
        (Some(&d.args[0]), &d.args[1])
    } else {
        (None, &d.args[0])
    };
    let Some(var) = name.strip_prefix(b"$") else {
        return invalid(cf, "invalid variable name", name);
    };
    super::add_variable(cf, var, false)?;
    if let Some(s) = src {
        super::compile_complex_value(cf, s)?;
    }
    let parser::Body::Block(b) = &d.body else {
        return Ok(());
    };
    let conf = cf.conf;
    let Some(b) = crate::http::upstream::find_block(&conf.directives, b) else {
        return Ok(());
    };
    cf.data_block(b, Ctx::STREAM_MAIN, |cf, line| {
        let n = line.args.len() + 1;
        if n == 1 && line.name.as_slice() == b"ranges" {
            return Ok(());
        }
        if n != 2 {
            return Err(cf.emerg("invalid number of the geo parameters"));
        }
        Ok(())
    })?;
    Ok(())
}
