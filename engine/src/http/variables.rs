//! http variables at configuration time: which exist, which directives use, and complex values
//! (nginx: ngx_http_variables.c and ngx_http_script.c).
//!
//! Modules define variables (`set`, `map`, named captures...) and use them (`$var` in complex
//! values); at the end of `http` every used name must exist (`unknown "x" variable`).

use std::collections::HashMap;

use crate::conf::dispatch::Failed;
use crate::conf::{Cf, Ctx};
use crate::log::Level;

/// Built-in variables of the modules oxresty builds, each module's own list (nginx: each
/// module's `preconfiguration` adds them).
const BUILTIN: &[&[&str]] = &[
    super::core::VARIABLES,
    super::upstream::VARIABLES,
    super::browser::VARIABLES,
    super::fastcgi::VARIABLES,
    super::grpc::VARIABLES,
    super::limit_conn::VARIABLES,
    super::limit_req::VARIABLES,
    super::proxy::VARIABLES,
    super::realip::VARIABLES,
    super::ssi::VARIABLES,
    super::ssl::VARIABLES,
    super::stub_status::VARIABLES,
    super::v2::VARIABLES,
    super::gzip::VARIABLES,
    super::secure_link::VARIABLES,
    super::userid::VARIABLES,
    super::referer::VARIABLES,
    super::slice::VARIABLES,
    super::echo::VARIABLES,
];

/// Prefix variables (`$http_x_foo`...): any name starting with one of these exists.
const PREFIXES: &[&[&str]] = &[
    super::core::VARIABLE_PREFIXES,
    super::upstream::VARIABLE_PREFIXES,
];

/// The variables of one `http` block while it is parsed (nginx: `cmcf->variables_keys` and
/// `cmcf->variables`).
#[derive(Default, Debug)]
pub(crate) struct HttpVariables {
    /// Variables modules defined, by lower-case name: changeable or not.
    defined: HashMap<Vec<u8>, bool>,
    /// Names directives use, in index order.
    used: Vec<Vec<u8>>,
}

/// One piece of a complex value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Lit(Vec<u8>),
    Var(Vec<u8>),
    /// `$1`..`$9`.
    Capture(u8),
}

/// A value with variables, compiled once (nginx: ngx_http_complex_value_t).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ComplexValue {
    pub(crate) parts: Vec<Part>,
}

impl ComplexValue {
    /// The value has no variables and no captures.
    pub(crate) fn is_static(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }
}

fn vars<'c>(cf: &'c mut Cf<'_>) -> Option<&'c mut HttpVariables> {
    cf.enclosing(Ctx::HTTP_MAIN)
        .map(|f| f.get::<HttpVariables>())
}

/// Built-in variables a configuration may redefine (`NGX_HTTP_VAR_CHANGEABLE`).
const BUILTIN_CHANGEABLE: &[&str] = &[
    "args",
    "limit_rate",
    "msie",
    "modern_browser",
    "ancient_browser",
    "proxy_internal_body_length",
    "proxy_internal_chunked",
    "uid_reset",
];

/// nginx: ngx_http_add_variable: redefining a variable is an error unless it is changeable.
pub(crate) fn add_variable(cf: &mut Cf<'_>, name: &[u8], changeable: bool) -> Result<(), Failed> {
    if name.is_empty() {
        return Err(cf.emerg("invalid variable name \"$\""));
    }
    let key = name.to_ascii_lowercase();
    let Some(v) = vars(cf) else { return Ok(()) };
    let existing = match v.defined.get(&key) {
        Some(&c) => Some(c),
        None if is_builtin(&key) => Some(BUILTIN_CHANGEABLE.iter().any(|b| b.as_bytes() == key)),
        None => None,
    };
    match existing {
        Some(true) => Ok(()),
        None => {
            v.defined.insert(key, changeable);
            Ok(())
        }
        Some(false) => Err(cf.emerg(format!(
            "the duplicate \"{}\" variable",
            String::from_utf8_lossy(name)
        ))),
    }
}

fn is_builtin(key: &[u8]) -> bool {
    BUILTIN
        .iter()
        .flat_map(|m| m.iter())
        .any(|b| b.as_bytes() == key)
}

/// nginx: ngx_http_get_variable_index.
pub(crate) fn get_variable_index(cf: &mut Cf<'_>, name: &[u8]) -> Result<(), Failed> {
    if name.is_empty() {
        return Err(cf.emerg("invalid variable name \"$\""));
    }
    let key = name.to_ascii_lowercase();
    if let Some(v) = vars(cf) {
        if !v.used.contains(&key) {
            v.used.push(key);
        }
    }
    Ok(())
}

/// nginx: ngx_http_script_variables_count.
pub(crate) fn script_variables_count(value: &[u8]) -> usize {
    value.iter().filter(|&&c| c == b'$').count()
}

/// nginx: ngx_http_compile_complex_value (ngx_http_script_compile's variable syntax).
pub(crate) fn compile_complex_value(cf: &mut Cf<'_>, value: &[u8]) -> Result<ComplexValue, Failed> {
    let parts = split(value).map_err(|text| cf.emerg(text))?;
    for p in &parts {
        if let Part::Var(name) = p {
            get_variable_index(cf, name)?;
        }
    }
    Ok(ComplexValue { parts })
}

/// A value's pieces without a configuration (the lowering pass and the runtime).
pub(crate) fn parse_complex_value(s: &[u8]) -> Result<ComplexValue, String> {
    split(s).map(|parts| ComplexValue { parts })
}

/// Splits a value into literals, variables and captures, with nginx's errors.
fn split(s: &[u8]) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'$' {
            let start = i;
            while i < s.len() && s[i] != b'$' {
                i += 1;
            }
            parts.push(Part::Lit(s[start..i].to_vec()));
            continue;
        }
        i += 1;
        let Some(&c) = s.get(i) else {
            return Err("invalid variable name".into());
        };
        if (b'1'..=b'9').contains(&c) {
            parts.push(Part::Capture(c - b'0'));
            i += 1;
            continue;
        }
        let bracket = c == b'{';
        if bracket {
            i += 1;
            if i == s.len() {
                return Err("invalid variable name".into());
            }
        }
        let start = i;
        let mut closed = !bracket;
        while i < s.len() {
            let ch = s[i];
            if ch == b'}' && bracket {
                closed = true;
                break;
            }
            if ch.is_ascii_alphanumeric() || ch == b'_' {
                i += 1;
                continue;
            }
            break;
        }
        let name = &s[start..i];
        if !closed {
            return Err(format!(
                "the closing bracket in \"{}\" variable is missing",
                String::from_utf8_lossy(name)
            ));
        }
        if bracket {
            i += 1;
        }
        if name.is_empty() {
            return Err("invalid variable name".into());
        }
        if name.starts_with(b"sent_http_") {
            SENT_HTTP.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        parts.push(Part::Var(name.to_vec()));
    }
    Ok(parts)
}

/// Some value of the configuration reads `$sent_http_*` (a log format, a map's source...).
static SENT_HTTP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the response head must be kept for the log phase's `$sent_http_*`.
pub(crate) fn sent_http_used() -> bool {
    SENT_HTTP.load(std::sync::atomic::Ordering::Relaxed)
}

/// A `name value` directive whose value nginx compiles as a script when it merges the level
/// (`proxy_set_header`, `grpc_set_header`): the value's variables are used.
pub(crate) fn keyval_complex(cf: &mut Cf<'_>, d: &parser::Directive) -> crate::conf::SetResult {
    if let Some(value) = d.args.get(1) {
        compile_complex_value(cf, value)?;
    }
    Ok(())
}

/// nginx: ngx_http_variables_init_vars, at the end of `http`: every used name must exist.
pub(crate) fn init_vars(cf: &mut Cf<'_>, vars: &HttpVariables) -> Result<(), Failed> {
    for name in &vars.used {
        let known = vars.defined.contains_key(name)
            || is_builtin(name)
            || PREFIXES
                .iter()
                .flat_map(|m| m.iter())
                .any(|p| name.starts_with(p.as_bytes()));
        if !known {
            cf.log(
                Level::Emerg,
                format!("unknown \"{}\" variable", String::from_utf8_lossy(name)),
            );
            return Err(Failed);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{split, Part};

    #[test]
    fn complex_value_syntax() {
        let lit = |s: &str| Part::Lit(s.as_bytes().to_vec());
        let var = |s: &str| Part::Var(s.as_bytes().to_vec());
        assert_eq!(
            split(b"$scheme://${host}x$1/$uri"),
            Ok(vec![
                var("scheme"),
                lit("://"),
                var("host"),
                lit("x"),
                Part::Capture(1),
                lit("/"),
                var("uri")
            ])
        );
        assert_eq!(split(b"a$"), Err("invalid variable name".into()));
        assert_eq!(split(b"$-"), Err("invalid variable name".into()));
        assert_eq!(split(b"${}"), Err("invalid variable name".into()));
        assert_eq!(
            split(b"${host"),
            Err("the closing bracket in \"host\" variable is missing".into())
        );
        assert_eq!(split(b"$0"), Ok(vec![var("0")]));
    }
}
