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

// ---- run time -------------------------------------------------------------------------------

use std::sync::Arc;

use hyper::header::{HeaderMap, HeaderName, HeaderValue};

use crate::http::lower::LocConf;
use crate::http::request::Request;
use crate::http::response::Reply;
use crate::http::variables::ComplexValue;

/// A lowered command: the directive's options and its headers with compiled values.
#[derive(Debug)]
pub(crate) struct MoreRun {
    pub(crate) clear: bool,
    pub(crate) replace_only: bool,
    pub(crate) types: Vec<Vec<u8>>,
    pub(crate) statuses: Vec<u64>,
    /// (lowercase key, wildcard, value).
    pub(crate) headers: Vec<(Vec<u8>, bool, ComplexValue)>,
    /// The header names of `headers` as written in the directive.
    pub(crate) spelled: Vec<Vec<u8>>,
}

/// Folds a headers-more directive into the level's conf; `false` when `d` is not one. The
/// arguments were validated by [`parse_directive`].
pub(crate) fn lower(c: &mut LocConf, d: &Directive) -> bool {
    let (is_input, clear) = match d.name.as_slice() {
        b"more_set_headers" => (false, false),
        b"more_clear_headers" => (false, true),
        b"more_set_input_headers" => (true, false),
        b"more_clear_input_headers" => (true, true),
        _ => return false,
    };
    let mut run = MoreRun {
        clear,
        replace_only: false,
        types: Vec::new(),
        statuses: Vec::new(),
        headers: Vec::new(),
        spelled: Vec::new(),
    };
    let mut i = 0;
    while i < d.args.len() {
        let a = &d.args[i];
        i += 1;
        match a.as_slice() {
            [] => {}
            b"-t" | b"-s" => {
                let v = d.args.get(i).cloned().unwrap_or_default();
                i += 1;
                if a == b"-t" {
                    run.types.extend(parse_types(&v));
                } else {
                    run.statuses.extend(
                        v.split(|&c| is_space(c))
                            .filter_map(|s| std::str::from_utf8(s).ok()?.parse::<u64>().ok()),
                    );
                }
            }
            b"-r" => run.replace_only = true,
            _ => {
                let key_end = a
                    .iter()
                    .position(|&c| c == b':' || is_space(c))
                    .unwrap_or(a.len());
                run.spelled.push(a[..key_end].to_vec());
                let key = a[..key_end].to_ascii_lowercase();
                let rest = &a[key_end..];
                let start = rest
                    .iter()
                    .position(|&c| c != b':' && !is_space(c))
                    .unwrap_or(rest.len());
                let value = if clear { &[][..] } else { &rest[start..] };
                let wildcard = key.last() == Some(&b'*');
                let key = if wildcard {
                    key[..key.len() - 1].to_vec()
                } else {
                    key
                };
                run.headers.push((
                    key,
                    wildcard,
                    variables::parse_complex_value(value).unwrap_or_default(),
                ));
            }
        }
    }
    let list = if is_input {
        &mut c.more_input
    } else {
        &mut c.more_output
    };
    list.push(Arc::new(run));
    true
}

/// nginx: the module's merge_loc_conf: a level without commands takes its parent's; one
/// with commands runs the parent's first.
pub(crate) fn merge(c: &mut LocConf, parent: &LocConf) {
    for (own, up) in [
        (&mut c.more_output, &parent.more_output),
        (&mut c.more_input, &parent.more_input),
    ] {
        if !up.is_empty() {
            let mut all = up.clone();
            all.append(own);
            *own = all;
        }
    }
}

fn type_matches(types: &[Vec<u8>], ct: Option<&[u8]>) -> bool {
    if types.is_empty() {
        return true;
    }
    let Some(ct) = ct else { return false };
    let base = ct.split(|&c| c == b';').next().unwrap_or(ct);
    let base = base.trim_ascii();
    types.iter().any(|t| t.eq_ignore_ascii_case(base))
}

/// nginx: ngx_http_set_header_helper / the clear handlers on a header list: the first match is
/// replaced in place, the others removed; no match adds the header.
fn set_in(headers: &mut HeaderMap, key: &[u8], wildcard: bool, value: &[u8], replace_only: bool) {
    // A list keeps the order (HeaderMap's removal reorders its entries).
    let mut list: Vec<(HeaderName, HeaderValue)> = headers
        .iter()
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    let hit = |n: &HeaderName| {
        let n = n.as_str().as_bytes();
        if wildcard {
            n.starts_with(key)
        } else {
            n == key
        }
    };
    let value = HeaderValue::from_bytes(value)
        .ok()
        .filter(|_| !value.is_empty() && !wildcard);
    let first = list.iter().position(|(n, _)| hit(n));
    match (&value, first) {
        (Some(v), Some(i)) => {
            list[i].1 = v.clone();
            let mut seen = 0;
            list.retain(|(n, _)| {
                if !hit(n) {
                    return true;
                }
                seen += 1;
                seen == 1
            });
        }
        (Some(v), None) if !replace_only => {
            if let Ok(n) = HeaderName::from_bytes(key) {
                list.push((n, v.clone()));
            }
        }
        (Some(_), None) => {}
        (None, _) => list.retain(|(n, _)| !hit(n)),
    }
    rebuild(headers, list);
}

fn rebuild(headers: &mut HeaderMap, list: Vec<(HeaderName, HeaderValue)>) {
    headers.clear();
    for (n, v) in list {
        headers.append(n, v);
    }
}

/// Headers the wire header filter writes itself, out of headers-more's reach.
fn protected(key: &[u8]) -> bool {
    matches!(key, b"connection" | b"transfer-encoding" | b"keep-alive")
}

/// Headers the wire filter writes from `headers_out` fields unless a list entry replaces them.
fn moved(key: &[u8]) -> bool {
    matches!(
        key,
        b"server" | b"date" | b"content-length" | b"last-modified" | b"location"
    )
}

/// nginx: ngx_http_headers_more_filter (more_set_headers / more_clear_headers), on the
/// response head about to be written.
pub(crate) fn output_filter(r: &Request, status: u16, headers: &mut HeaderMap) {
    let had_length = headers.contains_key(hyper::header::CONTENT_LENGTH);
    for cmd in &r.loc.more_output {
        if !cmd.statuses.is_empty() && !cmd.statuses.contains(&u64::from(status)) {
            continue;
        }
        if !type_matches(
            &cmd.types,
            headers
                .get(hyper::header::CONTENT_TYPE)
                .map(|v| v.as_bytes()),
        ) {
            continue;
        }
        for (key, wildcard, value) in &cmd.headers {
            let value = if cmd.clear { Vec::new() } else { r.eval(value) };
            if protected(key) {
                if !value.is_empty() {
                    if let (Ok(n), Ok(v)) =
                        (HeaderName::from_bytes(key), HeaderValue::from_bytes(&value))
                    {
                        headers.append(n, v);
                    }
                }
                continue;
            }
            if !*wildcard && !value.is_empty() && moved(key) {
                // nginx: these become entries of the headers list, written in its order
                // (the reference sends a replaced Server after the other headers).
                if let (Ok(n), Ok(v)) =
                    (HeaderName::from_bytes(key), HeaderValue::from_bytes(&value))
                {
                    let mut list: Vec<(HeaderName, HeaderValue)> = headers
                        .iter()
                        .filter(|(k, _)| **k != n)
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    list.push((n, v));
                    rebuild(headers, list);
                }
                continue;
            }
            set_in(headers, key, *wildcard, &value, false);
        }
    }
    // nginx: a cleared Content-Length leaves the length unknown: the chunked filter (after
    // this one) announces chunks where Transfer-Encoding goes, before Connection.
    let bodyless = r.method == hyper::Method::HEAD || matches!(status, 204 | 304) || status < 200;
    if had_length
        && !headers.contains_key(hyper::header::CONTENT_LENGTH)
        && !bodyless
        && r.version == hyper::Version::HTTP_11
        && !headers.contains_key(hyper::header::TRANSFER_ENCODING)
    {
        let mut list = Vec::new();
        for (n, v) in headers.iter() {
            if n == hyper::header::CONNECTION {
                list.push((
                    hyper::header::TRANSFER_ENCODING,
                    HeaderValue::from_static("chunked"),
                ));
            }
            list.push((n.clone(), v.clone()));
        }
        rebuild(headers, list);
    }
}

/// nginx: ngx_http_headers_more_filter where the reference's chain runs it: above
/// header_filter_by_lua* (Debian's module order puts headers-more's header filter first), so
/// Lua sees what more_set_headers set, and what Lua sets stays (a Lua value wins over
/// more_set_headers', more_clear_headers does not remove a header Lua adds). It runs on the
/// reply, just before Lua's filter, only where a location has both; elsewhere `build` runs
/// [`output_filter`] on the final head (the same result without Lua in between). The
/// headers nginx's header filter writes from `r->headers_out` fields are set here in the
/// reply's fields: `Content-Type` and `Location` (made absolute in their place),
/// `Content-Length` (the length), a cleared `Server` / `Date` (none written).
pub(crate) fn reply_filter(r: &Request, reply: &mut Reply) {
    if reply.more_done || r.loc.more_output.is_empty() || r.loc.lua_header_filter.is_none() {
        return;
    }
    reply.more_done = true;
    let status = reply.status;
    if header_filter_ran(r) {
        // Lua's filter ran when the handler sent its head, after [`list_filter`]; only the
        // header filter's own Server and Date are still to be cleared.
        for cmd in &r.loc.more_output {
            if !cmd.clear || !cmd.statuses.is_empty() && !cmd.statuses.contains(&u64::from(status))
            {
                continue;
            }
            for (key, wildcard, _) in &cmd.headers {
                let hits = |n: &[u8]| {
                    if *wildcard {
                        n.starts_with(key)
                    } else {
                        n == key
                    }
                };
                reply.no_server |= hits(b"server");
                reply.no_date |= hits(b"date");
            }
        }
        return;
    }
    // nginx builds a special response's page (text/html) before the header filters run.
    let special = reply.body.is_none() && reply.file.is_none() && status >= 300 && status != 304;
    apply(r, reply, special);
}

/// header_filter_by_lua* ran already, when the Lua handler sent its head.
fn header_filter_ran(r: &Request) -> bool {
    use crate::http::lua::vm;
    vm::find_ctx(vm::key_of(r)).is_some_and(|c| c.borrow().header_filtered.is_some())
}

/// [`reply_filter`] for a Lua handler's head sent as it streams (`ngx.say`, `ngx.send_headers`):
/// on its status and `ngx.header` list, before header_filter_by_lua* runs on them.
pub(crate) fn list_filter(r: &Request, status: u16, list: &mut Vec<(String, Vec<u8>)>) {
    if r.loc.more_output.is_empty() {
        return;
    }
    let mut reply = Reply::status(status);
    for (n, v) in list.drain(..) {
        if n.eq_ignore_ascii_case("content-length") {
            reply.length = std::str::from_utf8(&v).ok().and_then(|v| v.parse().ok());
        } else if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_bytes(&v),
        ) {
            reply.names.note(n.as_bytes());
            reply.headers.append(name, value);
        }
    }
    reply.default_type = !reply.headers.contains_key(hyper::header::CONTENT_TYPE);
    apply(r, &mut reply, false);
    for (n, v) in reply.headers.iter() {
        let name = match reply.names.get(n.as_str()) {
            Some(s) => String::from_utf8_lossy(s).into_owned(),
            None => n.as_str().to_string(),
        };
        list.push((name, v.as_bytes().to_vec()));
    }
    if let Some(len) = reply.length {
        list.push(("Content-Length".into(), len.to_string().into_bytes()));
    }
}

/// headers-more's commands on a reply (see [`reply_filter`]).
fn apply(r: &Request, reply: &mut Reply, special: bool) {
    let status = reply.status;
    for cmd in &r.loc.more_output {
        if !cmd.statuses.is_empty() && !cmd.statuses.contains(&u64::from(status)) {
            continue;
        }
        let ct: Option<Vec<u8>> = if special {
            Some(b"text/html".to_vec())
        } else if let Some(v) = reply.headers.get(hyper::header::CONTENT_TYPE) {
            Some(v.as_bytes().to_vec())
        } else if reply.default_type {
            Some(
                r.loc
                    .default_type
                    .clone()
                    .unwrap_or_else(|| b"text/plain".to_vec()),
            )
        } else {
            None
        };
        if !type_matches(&cmd.types, ct.as_deref()) {
            continue;
        }
        for (i, (key, wildcard, value)) in cmd.headers.iter().enumerate() {
            let value = if cmd.clear { Vec::new() } else { r.eval(value) };
            if !cmd.clear && !*wildcard {
                // nginx sends the name as the directive wrote it
                // (kept even when it is the capitalized form: header_filter_by_lua* notes
                // the names it hands back as it got them, lower-case)
                if let Some(name) = cmd.spelled.get(i) {
                    if reply.names.get(&lossy(name)).is_none() {
                        reply.names.0.push(name.clone());
                    }
                }
            }
            reply_set(reply, key, *wildcard, &value);
        }
    }
}

/// One header of a command on the reply (see [`reply_filter`]).
fn reply_set(reply: &mut Reply, key: &[u8], wildcard: bool, value: &[u8]) {
    let hits = |name: &[u8]| match wildcard {
        true => name.starts_with(key),
        false => name == key,
    };
    let set = !wildcard && !value.is_empty();
    if protected(key) {
        if set {
            if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(key), HeaderValue::from_bytes(value)) {
                reply.headers.append(n, v);
            }
        }
        return;
    }
    // The range filter's Accept-Ranges comes later in the chain: `build` handles it.
    if hits(b"accept-ranges") {
        return;
    }
    if set && key == b"content-length" {
        if let Some(n) = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()) {
            reply.length = Some(n);
        }
        return;
    }
    if !set {
        if hits(b"content-length") {
            reply.length = None;
        }
        if hits(b"server") {
            reply.no_server = true;
        }
        if hits(b"date") {
            reply.no_date = true;
        }
        if hits(b"content-type") {
            reply.default_type = false;
        }
    } else {
        match key {
            b"server" => reply.no_server = false,
            b"date" => reply.no_date = false,
            b"content-type" => reply.default_type = false,
            b"location" => reply.raw_location = false,
            _ => {}
        }
    }
    set_in(&mut reply.headers, key, wildcard, value, false);
}

/// nginx: ngx_http_headers_more_handler (more_set_input_headers / more_clear_input_headers,
/// at the end of the rewrite phase).
pub(crate) fn input_rewrite(r: &mut Request) {
    let cmds = r.loc.more_input.clone();
    for cmd in &cmds {
        let ct = r.headers.get(hyper::header::CONTENT_TYPE);
        if !type_matches(&cmd.types, ct.map(|v| v.as_bytes())) {
            continue;
        }
        for (key, wildcard, value) in &cmd.headers {
            let value = if cmd.clear { Vec::new() } else { r.eval(value) };
            set_in(&mut r.headers, key, *wildcard, &value, cmd.replace_only);
        }
    }
}
