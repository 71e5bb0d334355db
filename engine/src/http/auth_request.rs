//! ngx_http_auth_request_module: `auth_request`, `auth_request_set`.

use parser::Directive;

use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult};
use crate::http::variables;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_auth_request_module",
    commands: &[
        cmd(
            "auth_request",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Handler(auth_request),
        ),
        cmd(
            "auth_request_set",
            Ctx::HTTP_MSL,
            Args::TAKE2,
            Set::Handler(auth_request_set),
        ),
    ],
};

/// nginx: ngx_http_auth_request
fn auth_request(cf: &mut Cf<'_>, _d: &Directive) -> SetResult {
    if cf.seen("auth_request") {
        return Err(Some("is duplicate".into()));
    }
    Ok(())
}

/// nginx: ngx_http_auth_request_set
fn auth_request_set(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let (Some(name), Some(value)) = (d.args.first(), d.args.get(1)) else {
        return Ok(());
    };
    let Some(var) = name.strip_prefix(b"$") else {
        return Err(cf
            .emerg(format!(
                "invalid variable name \"{}\"",
                String::from_utf8_lossy(name)
            ))
            .into());
    };
    variables::add_variable(cf, var, true)?;
    variables::get_variable_index(cf, var)?;
    variables::compile_complex_value(cf, value)?;
    Ok(())
}

// ---- runtime: lowering and the access handler ----

use std::sync::Arc;

use crate::http::access::Verdict;
use crate::http::lower::LocConf;
use crate::http::request::Request;

/// `auth_request_set` pairs: the variable (lower-cased) and its value.
pub(crate) type Sets = Vec<(Vec<u8>, crate::http::variables::ComplexValue)>;

/// Folds `auth_request` and `auth_request_set` into a level.
pub(crate) fn lower(c: &mut LocConf, d: &Directive) {
    let arg = |i: usize| d.args.get(i).map(Vec::as_slice).unwrap_or_default();
    if d.name == b"auth_request" {
        c.auth_request = Some(Some(arg(0).to_vec()).filter(|u| u != b"off"));
        return;
    }
    let name = arg(0).strip_prefix(b"$").unwrap_or_default();
    let value = crate::http::variables::parse_complex_value(arg(1)).unwrap_or_default();
    let mut list = c
        .auth_request_set
        .take()
        .map(|l| l.as_ref().clone())
        .unwrap_or_default();
    list.push((name.to_ascii_lowercase(), value));
    c.auth_request_set = Some(Arc::new(list));
}

/// nginx: ngx_http_auth_request_handler (access phase): a GET subrequest to the URI with
/// the request's headers and no body, its response discarded; then the `auth_request_set`
/// values evaluated in the subrequest; a 2xx answer allows, 401 and 403 deny (a 401 with
/// the subrequest's `WWW-Authenticate`), anything else is an error (500). Also returns the
/// `WWW-Authenticate` value to send.
pub(crate) async fn handler(r: &mut Request) -> (Verdict, Option<Vec<u8>>) {
    if r.sub != 0 {
        return (Verdict::Declined, None);
    }
    let Some(uri) = r.loc.auth_request.clone().flatten() else {
        return (Verdict::Declined, None);
    };
    let sub = crate::http::lua::subrequest::next_sub();
    let mut sr = r.subrequest(sub, uri, Vec::new(), hyper::Method::GET, r.vars.clone());
    // nginx: a fake, empty request body ("to avoid attempts to read it").
    crate::http::lua::vm::ctx_of(&sr).borrow_mut().body = Some(Vec::new());
    sr.discarded = r.discarded;
    let (sr, reply) = crate::http::mirror::run_header_only(sr).await;
    let status = reply.status;
    let upstream = sr.vars.contains_key(b"upstream_addr".as_slice());
    // nginx: the subrequest shares the request's variables (`set` in it is seen after).
    for (k, v) in &sr.vars {
        if !k.starts_with(b"upstream_") && !k.starts_with(b"proxy_") {
            r.vars.insert(k.clone(), v.clone());
        }
    }
    // nginx: ngx_http_auth_request_set_variables, in the subrequest's context.
    if let Some(sets) = r.loc.auth_request_set.clone() {
        for (name, value) in sets.iter() {
            let v = sr.eval(value);
            // nginx: a variable's set handler runs too ($args sets the arguments).
            if name == b"args" {
                r.args = v;
            } else {
                r.vars.insert(name.clone(), v);
            }
        }
    }
    match status {
        403 => (Verdict::Status(403), None),
        401 => {
            // nginx: the subrequest's own WWW-Authenticate (auth_basic, Lua), else the
            // upstream's first one (hidden from the response or not).
            let h = reply
                .headers
                .get(hyper::header::WWW_AUTHENTICATE)
                .filter(|_| !upstream)
                .map(|v| v.as_bytes().to_vec())
                .or_else(|| {
                    sr.vars
                        .get(b"upstream_http_www_authenticate".as_slice())
                        .cloned()
                });
            (Verdict::Status(401), h)
        }
        200..=299 => (Verdict::Ok, None),
        s => {
            // nginx: the connection's log action is still the upstream's last one when the
            // subrequest was proxied.
            let action = if upstream {
                " while sending to client"
            } else {
                ""
            };
            crate::http::errlog::request_error(
                r,
                &format!("auth request unexpected status: {s}{action}"),
            );
            (Verdict::Status(500), None)
        }
    }
}
