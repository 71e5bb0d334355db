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

// ---- runtime: lowering and the header filter ----

/// What `expires` says (nginx: ngx_http_expires_t with its time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExpiresKind {
    Off,
    Epoch,
    Max,
    /// From the access time.
    Access,
    /// From the file's modification time.
    Modified,
    /// `@time`: the next such time of day.
    Daily,
}

/// `expires [modified] time|epoch|max|off` (a value with variables is parsed per request).
#[derive(Debug, Clone)]
pub(crate) struct Expires {
    pub(crate) kind: ExpiresKind,
    pub(crate) time: i64,
    pub(crate) value: Option<variables::ComplexValue>,
}

/// nginx: ngx_http_parse_expires, returning the kind and time.
pub(crate) fn expires_value(value: &[u8], modified: bool) -> Option<(ExpiresKind, i64)> {
    if !modified {
        match value {
            b"epoch" => return Some((ExpiresKind::Epoch, 0)),
            b"max" => return Some((ExpiresKind::Max, 0)),
            b"off" => return Some((ExpiresKind::Off, 0)),
            _ => {}
        }
    }
    let mut kind = if modified {
        ExpiresKind::Modified
    } else {
        ExpiresKind::Access
    };
    let mut minus = false;
    let v = match value.first() {
        Some(b'@') => {
            if modified {
                return None;
            }
            kind = ExpiresKind::Daily;
            &value[1..]
        }
        Some(b'+') => &value[1..],
        Some(b'-') => {
            minus = true;
            &value[1..]
        }
        _ => value,
    };
    let t = parse_time(v, true)?;
    if kind == ExpiresKind::Daily && t > 24 * 60 * 60 {
        return None;
    }
    Some((kind, if minus { -t } else { t }))
}

/// Folds `expires` / `add_trailer` into a level (the lowering pass).
pub(crate) fn lower(c: &mut crate::http::lower::LocConf, d: &Directive) {
    let arg = |i: usize| d.args.get(i).map(Vec::as_slice).unwrap_or_default();
    match d.name.as_slice() {
        b"expires" => {
            let (modified, value) = if d.args.len() == 2 {
                (true, arg(1))
            } else {
                (false, arg(0))
            };
            let cv = variables::parse_complex_value(value).unwrap_or_default();
            let dynamic = !cv.is_static();
            c.expires = Some(if dynamic {
                Expires {
                    kind: if modified {
                        ExpiresKind::Modified
                    } else {
                        ExpiresKind::Access
                    },
                    time: 0,
                    value: Some(cv),
                }
            } else {
                let (kind, time) = expires_value(value, modified).unwrap_or((ExpiresKind::Off, 0));
                Expires {
                    kind,
                    time,
                    value: None,
                }
            });
        }
        b"add_trailer" => {
            c.add_trailers
                .get_or_insert_with(Vec::new)
                .push(crate::http::lower::AddHeader {
                    name: arg(0).to_vec(),
                    value: variables::parse_complex_value(arg(1)).unwrap_or_default(),
                    always: arg(2) == b"always",
                })
        }
        _ => {}
    }
}

/// The statuses `add_header` (without `always`) and `expires` apply to.
pub(crate) fn safe_status(status: u16) -> bool {
    matches!(
        status,
        200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
    )
}

/// nginx: ngx_next_time: the next moment (local time) at `when` seconds after midnight.
fn next_time(now: i64, when: i64) -> i64 {
    let t: libc::time_t = now;
    // SAFETY: localtime_r and mktime only read and write the tm given to them.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return now;
        }
        let when = i32::try_from(when).unwrap_or(0);
        tm.tm_hour = when / 3600;
        tm.tm_min = when % 3600 / 60;
        tm.tm_sec = when % 60;
        tm.tm_isdst = -1;
        let mut next = libc::mktime(&mut tm);
        if next == -1 {
            return now;
        }
        if next > now {
            return next;
        }
        tm.tm_mday += 1;
        tm.tm_isdst = -1;
        next = libc::mktime(&mut tm);
        if next == -1 {
            return now;
        }
        next
    }
}

/// nginx: ngx_http_set_expires: the `Expires` and `Cache-Control` values for a response
/// (`None`: nothing to set). `last_modified` is the response's, `now` the current time.
pub(crate) fn expires_headers(
    e: &Expires,
    value: Option<&[u8]>,
    last_modified: Option<i64>,
    now: i64,
) -> Option<(String, String)> {
    let (kind, time) = match value {
        Some(v) => expires_value(v, e.kind == ExpiresKind::Modified)?,
        None => (e.kind, e.time),
    };
    match kind {
        ExpiresKind::Off => return None,
        ExpiresKind::Epoch => {
            return Some(("Thu, 01 Jan 1970 00:00:01 GMT".into(), "no-cache".into()))
        }
        ExpiresKind::Max => {
            return Some((
                "Thu, 31 Dec 2037 23:55:55 GMT".into(),
                "max-age=315360000".into(),
            ))
        }
        _ => {}
    }
    if time == 0 && kind != ExpiresKind::Daily {
        return Some((http_time(now), "max-age=0".into()));
    }
    let (at, max_age) = match (kind, last_modified) {
        (ExpiresKind::Daily, _) => {
            let at = next_time(now, time);
            (at, at - now)
        }
        (ExpiresKind::Access, _) | (_, None) => (now + time, time),
        (_, Some(lm)) => (lm + time, lm + time - now),
    };
    let cc = if time < 0 || max_age < 0 {
        "no-cache".to_string()
    } else {
        format!("max-age={max_age}")
    };
    Some((http_time(at), cc))
}

/// nginx: ngx_http_time (negative times clamp at the epoch).
pub(crate) fn http_time(t: i64) -> String {
    let secs = u64::try_from(t).unwrap_or(0);
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
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

    #[test]
    fn expires_headers_as_nginx() {
        use super::{expires_headers, expires_value, Expires, ExpiresKind};
        let e = |v: &[u8], m: bool| {
            let (kind, time) = expires_value(v, m).unwrap_or((ExpiresKind::Off, 0));
            Expires {
                kind,
                time,
                value: None,
            }
        };
        let now = 1_000_000;
        let h = |x: Expires, lm| expires_headers(&x, None, lm, now);
        assert_eq!(
            h(e(b"1h", false), None),
            Some((super::http_time(now + 3600), "max-age=3600".into()))
        );
        assert_eq!(
            h(e(b"-1h", false), None),
            Some((super::http_time(now - 3600), "no-cache".into()))
        );
        assert_eq!(
            h(e(b"epoch", false), None).map(|x| x.1),
            Some("no-cache".into())
        );
        assert_eq!(
            h(e(b"max", false), None),
            Some((
                "Thu, 31 Dec 2037 23:55:55 GMT".into(),
                "max-age=315360000".into()
            ))
        );
        assert_eq!(h(e(b"off", false), None), None);
        assert_eq!(
            h(e(b"0", false), None),
            Some((super::http_time(now), "max-age=0".into()))
        );
        // modified: from the file's time; in the past gives no-cache.
        assert_eq!(
            h(e(b"1h", true), Some(now - 600)),
            Some((super::http_time(now + 3000), "max-age=3000".into()))
        );
        assert_eq!(
            h(e(b"1h", true), Some(now - 7200)).map(|x| x.1),
            Some("no-cache".into())
        );
        let d = h(e(b"@0s", false), None).map(|x| x.1).unwrap_or_default();
        assert!(d.starts_with("max-age="));
    }
}
