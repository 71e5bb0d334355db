//! ngx_stream_set_module: stream `set`.

use parser::Directive;

#[allow(unused_imports)]
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_stream_set_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[cmd("set", Ctx::STREAM_SRV, Args::TAKE2, Set::Handler(set))];

fn invalid(cf: &mut Cf<'_>, what: &str, v: &[u8]) -> SetResult {
    let text = format!("{what} \"{}\"", String::from_utf8_lossy(v));
    Err(cf.emerg(text).into())
}

/// nginx: ngx_stream_set.
fn set(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let name = &d.args[0];
    let Some(var) = name.strip_prefix(b"$") else {
        return invalid(cf, "invalid variable name", name);
    };
    super::add_variable(cf, var, true)?;
    super::get_variable_index(cf, var)?;
    super::compile_complex_value(cf, &d.args[1])?;
    Ok(())
}
