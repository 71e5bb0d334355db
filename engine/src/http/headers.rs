//! ngx_http_headers_filter_module: `expires`, `add_header`, `add_trailer`.

use parser::Directive;

use crate::conf::values::parse_time;
use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult};
use crate::http::variables;

const CTX: Ctx = Ctx::HTTP_MSL.or(Ctx::HTTP_LIF);

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_headers_filter_module",
    commands: &[
        cmd("expires", CTX, Args::TAKE12, Set::Handler(headers_expires)),
        cmd("add_header", CTX, Args::TAKE23, Set::Handler(headers_add)),
        cmd("add_trailer", CTX, Args::TAKE23, Set::Handler(headers_add)),
    ],
};

/// nginx: ngx_http_headers_expires
fn headers_expires(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if cf.seen("expires") {
        return Err(Some("is duplicate".into()));
    }
    let (modified, value) = match (d.args.first(), d.args.get(1)) {
        (Some(v), None) => (false, v),
        (Some(m), Some(v)) => {
            if m != b"modified" {
                return Err(Some("invalid value".into()));
            }
            (true, v)
        }
        _ => return Ok(()),
    };
    let cv = variables::compile_complex_value(cf, value)?;
    if !cv.is_static() {
        return Ok(());
    }
    parse_expires(value, modified).map_err(|e| Some(e.to_string()))
}

/// nginx: ngx_http_parse_expires (the error text on failure).
pub(crate) fn parse_expires(value: &[u8], modified: bool) -> Result<(), &'static str> {
    if !modified && matches!(value, b"epoch" | b"max" | b"off") {
        return Ok(());
    }
    let mut daily = false;
    let v = match value.first() {
        Some(b'@') => {
            if modified {
                return Err("daily time cannot be used with \"modified\" parameter");
            }
            daily = true;
            &value[1..]
        }
        Some(b'+' | b'-') => &value[1..],
        _ => value,
    };
    let t = parse_time(v, true).ok_or("invalid value")?;
    if daily && t > 24 * 60 * 60 {
        return Err("daily time value must be less than 24 hours");
    }
    Ok(())
}

/// nginx: ngx_http_headers_add
fn headers_add(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let Some(value) = d.args.get(1) else {
        return Ok(());
    };
    if !value.is_empty() {
        variables::compile_complex_value(cf, value)?;
    }
    match d.args.get(2) {
        None => Ok(()),
        Some(a) if a == b"always" => Ok(()),
        Some(a) => Err(cf
            .emerg(format!(
                "invalid parameter \"{}\"",
                String::from_utf8_lossy(a)
            ))
            .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_expires;

    #[test]
    fn expires() {
        assert_eq!(parse_expires(b"max", false), Ok(()));
        assert_eq!(parse_expires(b"max", true), Err("invalid value"));
        assert_eq!(parse_expires(b"-1h", false), Ok(()));
        assert_eq!(parse_expires(b"@15h30m", false), Ok(()));
        assert_eq!(
            parse_expires(b"@25h", false),
            Err("daily time value must be less than 24 hours")
        );
        assert_eq!(
            parse_expires(b"@1h", true),
            Err("daily time cannot be used with \"modified\" parameter")
        );
        assert_eq!(parse_expires(b"1x", false), Err("invalid value"));
    }
}
