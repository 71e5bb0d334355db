//! ngx_http_browser_module: `modern_browser`, `ancient_browser` and their values.

use parser::Directive;

use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_browser_module",
    commands: &[
        cmd(
            "modern_browser",
            Ctx::HTTP_MSL,
            Args::TAKE12,
            Set::Handler(modern_browser),
        ),
        // nginx: ngx_http_ancient_browser only collects the words.
        cmd("ancient_browser", Ctx::HTTP_MSL, Args::ONEMORE, Set::NoOp),
        // nginx: the value setters only store their argument (repeatable, no checks).
        cmd(
            "modern_browser_value",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::NoOp,
        ),
        cmd(
            "ancient_browser_value",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::NoOp,
        ),
    ],
};

/// Variables this module defines.
pub(crate) const VARIABLES: &[&str] = &["msie", "modern_browser", "ancient_browser"];

/// nginx: ngx_http_modern_browser_masks
const BROWSERS: &[&str] = &["opera", "msie", "gecko", "safari", "konqueror"];

/// nginx: ngx_http_modern_browser
fn modern_browser(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let Some(name) = d.args.first() else {
        return Ok(());
    };
    let Some(version) = d.args.get(1) else {
        // nginx fails without a message unless the word is "unlisted".
        return if name == b"unlisted" {
            Ok(())
        } else {
            Err(None)
        };
    };
    if !BROWSERS
        .iter()
        .any(|b| b.as_bytes().eq_ignore_ascii_case(name))
    {
        return Err(cf
            .emerg(format!(
                "unknown browser name \"{}\"",
                String::from_utf8_lossy(name)
            ))
            .into());
    }
    if !version.iter().all(|&c| c.is_ascii_digit() || c == b'.') {
        return Err(cf
            .emerg(format!(
                "invalid browser version \"{}\"",
                String::from_utf8_lossy(version)
            ))
            .into());
    }
    Ok(())
}
