//! ngx_stream_map_module: stream `map`.

use parser::Directive;

#[allow(unused_imports)]
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_stream_map_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[
    cmd(
        "map",
        Ctx::STREAM_MAIN,
        Args::BLOCK.or(Args::TAKE2),
        Set::Handler(map_block),
    ),
    cmd(
        "map_hash_max_size",
        Ctx::STREAM_MAIN,
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "map_hash_bucket_size",
        Ctx::STREAM_MAIN,
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
];

fn invalid(cf: &mut Cf<'_>, what: &str, v: &[u8]) -> SetResult {
    let text = format!("{what} \"{}\"", String::from_utf8_lossy(v));
    Err(cf.emerg(text).into())
}

/// nginx: ngx_stream_map_block.
fn map_block(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
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
    let mut default = false;
    cf.data_block(b, Ctx::STREAM_MAIN, |cf, line| {
        let n = line.args.len() + 1;
        if n == 1 && (line.name.as_slice() == b"hostnames" || line.name.as_slice() == b"volatile") {
            return Ok(());
        }
        if n != 2 {
            return Err(cf.emerg("invalid number of the map parameters"));
        }
        if line.name.as_slice() == b"default" {
            if default {
                return Err(cf.emerg("duplicate default map parameter"));
            }
            default = true;
        }
        let v = &line.args[0];
        if v.first() == Some(&b'$') || v.contains(&b'$') {
            super::compile_complex_value(cf, v)?;
        }
        if let Some(re) = line.name.strip_prefix(b"~") {
            let (re, caseless) = match re.strip_prefix(b"*") {
                Some(r) => (r, true),
                None => (re, false),
            };
            let compiled = crate::regex::build(re, caseless).map_err(|t| cf.emerg(t))?;
            for n in &compiled.names {
                super::add_variable(cf, n.as_bytes(), true)?;
            }
        }
        Ok(())
    })?;
    Ok(())
}
