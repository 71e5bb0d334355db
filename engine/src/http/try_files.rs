//! ngx_http_try_files_module: `try_files`.

use parser::Directive;

use crate::conf::values::atoi;
use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult};
use crate::http::variables;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_try_files_module",
    commands: &[cmd(
        "try_files",
        Ctx::HTTP_SRV.or(Ctx::HTTP_LOC),
        Args::TWOMORE,
        Set::Handler(try_files),
    )],
};

/// nginx: ngx_http_try_files
fn try_files(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if cf.seen("try_files") {
        return Err(Some("is duplicate".into()));
    }
    let n = d.args.len();
    for (i, v) in d.args.iter().enumerate() {
        // A trailing "/" (not on the last one) tests for a directory.
        let name = match v.split_last() {
            Some((b'/', rest)) if i + 1 < n => rest,
            _ => v.as_slice(),
        };
        if variables::script_variables_count(name) > 0 {
            variables::compile_complex_value(cf, name)?;
        }
    }
    let Some(last) = d.args.last() else {
        return Ok(());
    };
    if last.first() == Some(&b'=') {
        // nginx counts a terminating NUL in names without variables.
        let (digits, shown) = if variables::script_variables_count(last) == 0 {
            (&last[1..], last.as_slice())
        } else {
            let cut = &last[..last.len() - 1];
            (cut.get(1..).unwrap_or_default(), cut)
        };
        if !matches!(atoi(digits), Some(c) if c <= 999) {
            return Err(cf
                .emerg(format!(
                    "invalid code \"{}\"",
                    String::from_utf8_lossy(shown)
                ))
                .into());
        }
    }
    Ok(())
}
