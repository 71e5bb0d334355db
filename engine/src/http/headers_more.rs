//! ngx_http_headers_more_filter_module 0.34: `more_set_headers`, `more_clear_headers`,
//! `more_set_input_headers`, `more_clear_input_headers`.
//!
//! The module logs its argument errors with `ngx_log_error` on the cycle's log: `[error]`
//! without ` in FILE:LINE`.

use parser::Directive;

use crate::conf::dispatch::Failed;
use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult};
use crate::http::variables;
use crate::log::Level;

/// http main, server, location, `if` in location.
const MSL_LIF: Ctx = Ctx::HTTP_MSL.or(Ctx::HTTP_LIF);

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_headers_more_filter_module",
    commands: &[
        cmd(
            "more_set_headers",
            MSL_LIF,
            Args::ONEMORE,
            Set::Handler(set_headers),
        ),
        cmd(
            "more_clear_headers",
            MSL_LIF,
            Args::ONEMORE,
            Set::Handler(clear_headers),
        ),
        cmd(
            "more_set_input_headers",
            MSL_LIF,
            Args::ONEMORE,
            Set::Handler(set_input_headers),
        ),
        cmd(
            "more_clear_input_headers",
            MSL_LIF,
            Args::ONEMORE,
            Set::Handler(clear_input_headers),
        ),
    ],
};

/// One header argument (nginx: ngx_http_headers_more_header_val_t).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderVal {
    pub(crate) key: Vec<u8>,
    /// Empty for `more_clear_*` and for `Key:` without a value.
    pub(crate) value: Vec<u8>,
    /// The key ends in `*`.
    pub(crate) wildcard: bool,
    /// `-r` (input headers only).
    pub(crate) replace: bool,
}

/// One directive (nginx: ngx_http_headers_more_cmd_t).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct HeadersMoreCmd {
    pub(crate) is_input: bool,
    pub(crate) clear: bool,
    pub(crate) headers: Vec<HeaderVal>,
    /// `-t` content types.
    pub(crate) types: Vec<Vec<u8>>,
    /// `-s` status codes (output headers only).
    pub(crate) statuses: Vec<u64>,
}

/// A level's commands, in order (nginx: ngx_http_headers_more_loc_conf_t.cmds).
#[derive(Default, Debug)]
pub(crate) struct HeadersMoreLoc {
    pub(crate) cmds: Vec<HeadersMoreCmd>,
}

fn lossy(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

/// C's isspace().
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `[error] TEXT`, as the module logs on `cf->log`.
fn error(cf: &mut Cf<'_>, text: String) -> Failed {
    cf.log(Level::Error, text);
    Failed
}

/// nginx: ngx_http_headers_more_set_headers
fn set_headers(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    parse_directive(cf, d, false, false)
}

/// nginx: ngx_http_headers_more_clear_headers
fn clear_headers(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    parse_directive(cf, d, false, true)
}

/// nginx: ngx_http_headers_more_set_input_headers
fn set_input_headers(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    parse_directive(cf, d, true, false)
}

/// nginx: ngx_http_headers_more_clear_input_headers
fn clear_input_headers(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    parse_directive(cf, d, true, true)
}

/// nginx: ngx_http_headers_more_parse_directive (headers_out.c and headers_in.c): options
/// `-t types` and `-s statuses` (output) or `-t types` and `-r` (input), then headers.
fn parse_directive(cf: &mut Cf<'_>, d: &Directive, is_input: bool, clear: bool) -> SetResult {
    let name = lossy(&d.name);
    let mut cmd = HeadersMoreCmd {
        is_input,
        clear,
        ..Default::default()
    };
    let mut replace = false;
    let mut i = 0;
    while i < d.args.len() {
        let arg = &d.args[i];
        i += 1;
        if arg.is_empty() {
            continue;
        }
        if arg[0] != b'-' {
            let hv = parse_header(cf, &name, arg, clear)?;
            cmd.headers.push(hv);
            continue;
        }
        let option = if arg.len() == 2 { arg[1] } else { 0 };
        match option {
            b't' | b's' if !is_input || option == b't' => {
                let Some(value) = d.args.get(i) else {
                    return Err(error(
                        cf,
                        format!("{name}: option -{} takes an argument.", option as char),
                    )
                    .into());
                };
                i += 1;
                if option == b't' {
                    cmd.types.extend(parse_types(value));
                } else {
                    cmd.statuses.extend(parse_statuses(cf, &name, value)?);
                }
            }
            b'r' if is_input => replace = true,
            _ => {
                return Err(error(
                    cf,
                    format!("{name}: invalid option name: \"{}\"", lossy(arg)),
                )
                .into())
            }
        }
    }
    for h in &mut cmd.headers {
        h.replace = replace;
    }
    cf.frame().get::<HeadersMoreLoc>().cmds.push(cmd);
    Ok(())
}

/// nginx: ngx_http_headers_more_parse_header: `Key: value`, `Key:`, `Key value`...
fn parse_header(cf: &mut Cf<'_>, name: &str, raw: &[u8], clear: bool) -> Result<HeaderVal, Failed> {
    let mut key: Option<(usize, usize)> = None;
    let mut value: Option<(usize, usize)> = None;
    let mut end_of_key = false;
    for (i, &c) in raw.iter().enumerate() {
        match (key, end_of_key, value) {
            (None, _, _) => {
                // nginx takes the key from the start of the argument, leading blanks included
                if !is_space(c) {
                    key = Some((0, 1));
                }
            }
            (Some((s, n)), false, _) => {
                if c == b':' || is_space(c) {
                    end_of_key = true;
                } else {
                    key = Some((s, n + 1));
                }
            }
            (Some(_), true, None) => {
                if c != b':' && !is_space(c) {
                    value = Some((i, 1));
                }
            }
            (Some(_), true, Some((s, n))) => value = Some((s, n + 1)),
        }
    }
    let Some((ks, kn)) = key else {
        return Err(error(
            cf,
            format!(
                "{name}: no key found in the header argument: {}",
                lossy(raw)
            ),
        ));
    };
    let key = raw[ks..ks + kn].to_vec();
    let wildcard = key.last() == Some(&b'*');
    if wildcard && key.len() < 2 {
        return Err(error(
            cf,
            format!("{name}: wildcard key too short: {}", lossy(raw)),
        ));
    }
    let value = match value {
        Some((s, n)) if !clear => raw[s..s + n].to_vec(),
        _ => Vec::new(),
    };
    if !value.is_empty() {
        // nginx compiles the value with its trailing NUL
        let mut v = value.clone();
        v.push(0);
        variables::compile_complex_value(cf, &v)?;
    }
    Ok(HeaderVal {
        key,
        value,
        wildcard,
        replace: false,
    })
}

/// nginx: ngx_http_headers_more_parse_statuses: blank-separated decimal codes.
fn parse_statuses(cf: &mut Cf<'_>, name: &str, value: &[u8]) -> Result<Vec<u64>, Failed> {
    let mut out = Vec::new();
    let mut cur: Option<u64> = None;
    for &c in value {
        if is_space(c) {
            if let Some(s) = cur.take() {
                out.push(s);
            }
            continue;
        }
        if !c.is_ascii_digit() {
            return Err(error(
                cf,
                format!(
                    "{name}: invalid digit \"{}\" found in the status code list \"{}\"",
                    c as char,
                    lossy(value)
                ),
            ));
        }
        let s = cur.unwrap_or(0);
        cur = Some(s.wrapping_mul(10).wrapping_add(u64::from(c - b'0')));
    }
    out.extend(cur);
    Ok(out)
}

/// nginx: ngx_http_headers_more_parse_types: blank- or `;`-separated types.
fn parse_types(value: &[u8]) -> Vec<Vec<u8>> {
    value
        .split(|&c| is_space(c) || c == b';')
        .filter(|t| !t.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{is_space, parse_types};

    #[test]
    fn types() {
        assert_eq!(
            parse_types(b" text/html;text/plain  a"),
            vec![b"text/html".to_vec(), b"text/plain".to_vec(), b"a".to_vec()]
        );
        assert!(is_space(b'\t') && !is_space(b':'));
    }
}

#[cfg(test)]
mod header_tests {
    use super::{parse_header, parse_statuses};
    use crate::conf::Cf;

    #[test]
    fn headers() {
        let c = parser::Conf {
            files: Vec::new(),
            directives: Vec::new(),
            error: None,
        };
        let mut cf = Cf::new(&c, "/p/".into(), "/p/conf/".into());
        let h = parse_header(&mut cf, "more_set_headers", b"X-Foo:  bar baz ", false).unwrap();
        assert_eq!(
            (h.key.as_slice(), h.value.as_slice()),
            (&b"X-Foo"[..], &b"bar baz "[..])
        );
        // nginx counts the key from the argument's first byte: leading blanks shift it
        let h = parse_header(&mut cf, "more_set_headers", b" AB: c", false).unwrap();
        assert_eq!(h.key, b" A");
        let h = parse_header(&mut cf, "more_clear_headers", b"X-*: y", true).unwrap();
        assert!(h.wildcard && h.value.is_empty());
        assert!(parse_header(&mut cf, "more_set_headers", b"  ", false).is_err());
        assert_eq!(
            parse_statuses(&mut cf, "more_set_headers", b" 200  301 ").unwrap(),
            vec![200, 301]
        );
        assert!(parse_statuses(&mut cf, "more_set_headers", b"2x").is_err());
    }
}
