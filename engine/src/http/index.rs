//! ngx_http_index_module: `index`.

use parser::Directive;

use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult};
use crate::http::variables;
use crate::log::Level;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_index_module",
    commands: &[cmd(
        "index",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Handler(index_set_index),
    )],
};

/// nginx: ngx_http_index_set_index
fn index_set_index(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let n = d.args.len();
    for (i, v) in d.args.iter().enumerate() {
        if v.first() == Some(&b'/') && i != n - 1 {
            cf.conf_log(
                Level::Warn,
                "only the last index in \"index\" directive should be absolute",
            );
        }
        if v.is_empty() {
            // nginx names the first index here, whichever is empty.
            let first = String::from_utf8_lossy(&d.args[0]).into_owned();
            return Err(cf
                .emerg(format!(
                    "index \"{first}\" in \"index\" directive is invalid"
                ))
                .into());
        }
        if variables::script_variables_count(v) > 0 {
            variables::compile_complex_value(cf, v)?;
        }
    }
    Ok(())
}
