//! ngx_stream_return_module: stream `return`.

use parser::Directive;

#[allow(unused_imports)]
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_stream_return_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[cmd(
    "return",
    Ctx::STREAM_SRV,
    Args::TAKE1,
    Set::Handler(stream_return),
)];

/// nginx: ngx_stream_return.
fn stream_return(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if crate::http::upstream::seen(cf, d) {
        return Err(Some("is duplicate".into()));
    }
    super::core::set_handler(cf);
    super::compile_complex_value(cf, &d.args[0])?;
    Ok(())
}
