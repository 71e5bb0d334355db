//! ngx_http_proxy_module: `proxy_pass` and the `proxy_*` directives.

use parser::Directive;

use super::upstream::{self, PassState, UrlOpts, PROXY};
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};
use crate::http::variables::compile_complex_value;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_proxy_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[
    cmd(
        "proxy_pass",
        Ctx::HTTP_LOC.or(Ctx::HTTP_LIF).or(Ctx::HTTP_LMT),
        Args::TAKE1,
        Set::Handler(proxy_pass),
    ),
    cmd(
        "proxy_redirect",
        Ctx::HTTP_MSL,
        Args::TAKE12,
        Set::Handler(proxy_redirect),
    ),
    cmd(
        "proxy_cookie_domain",
        Ctx::HTTP_MSL,
        Args::TAKE12,
        Set::Handler(proxy_cookie_domain),
    ),
    cmd(
        "proxy_cookie_path",
        Ctx::HTTP_MSL,
        Args::TAKE12,
        Set::Handler(proxy_cookie_path),
    ),
    cmd(
        "proxy_cookie_flags",
        Ctx::HTTP_MSL,
        Args::TAKE1234,
        Set::Handler(proxy_cookie_flags),
    ),
    cmd(
        "proxy_store",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(proxy_store),
    ),
    cmd(
        "proxy_store_access",
        Ctx::HTTP_MSL,
        Args::TAKE123,
        Set::Slot(Slot::Access),
    ),
    cmd(
        "proxy_buffering",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_request_buffering",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_ignore_client_abort",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_bind",
        Ctx::HTTP_MSL,
        Args::TAKE12,
        Set::Handler(super::upstream::bind_slot),
    ),
    cmd(
        "proxy_socket_keepalive",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_connect_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "proxy_send_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "proxy_send_lowat",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(send_lowat),
    ),
    cmd(
        "proxy_intercept_errors",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_set_header",
        Ctx::HTTP_MSL,
        Args::TAKE2,
        Set::Handler(crate::http::variables::keyval_complex),
    ),
    cmd(
        "proxy_headers_hash_max_size",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "proxy_headers_hash_bucket_size",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "proxy_set_body",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "proxy_method",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(super::upstream::complex_value_slot),
    ),
    cmd(
        "proxy_pass_request_headers",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_pass_request_body",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_buffer_size",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "proxy_read_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "proxy_buffers",
        Ctx::HTTP_MSL,
        Args::TAKE2,
        Set::Slot(Slot::Bufs),
    ),
    cmd(
        "proxy_busy_buffers_size",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "proxy_force_ranges",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_limit_rate",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "proxy_cache",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(proxy_cache),
    ),
    cmd(
        "proxy_cache_key",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(proxy_cache_key),
    ),
    cmd(
        "proxy_cache_path",
        Ctx::HTTP_MAIN,
        Args::TWOMORE,
        Set::Handler(cache_path),
    ),
    cmd(
        "proxy_cache_bypass",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Handler(super::upstream::predicate_slot),
    ),
    cmd(
        "proxy_no_cache",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Handler(super::upstream::predicate_slot),
    ),
    cmd(
        "proxy_cache_valid",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Handler(super::upstream::cache_valid_slot),
    ),
    cmd(
        "proxy_cache_min_uses",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "proxy_cache_max_range_offset",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Off),
    ),
    cmd(
        "proxy_cache_use_stale",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Slot(Slot::Bitmask(&[
            "error",
            "timeout",
            "invalid_header",
            "non_idempotent",
            "http_500",
            "http_502",
            "http_503",
            "http_504",
            "http_403",
            "http_404",
            "http_429",
            "updating",
            "off",
        ])),
    ),
    cmd(
        "proxy_cache_methods",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Slot(Slot::Bitmask(&["GET", "HEAD", "POST"])),
    ),
    cmd(
        "proxy_cache_lock",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_cache_lock_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "proxy_cache_lock_age",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "proxy_cache_revalidate",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_cache_convert_head",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_cache_background_update",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_temp_path",
        Ctx::HTTP_MSL,
        Args::TAKE1234,
        Set::Slot(Slot::Path),
    ),
    cmd(
        "proxy_max_temp_file_size",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "proxy_temp_file_write_size",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "proxy_next_upstream",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Slot(Slot::Bitmask(&[
            "error",
            "timeout",
            "invalid_header",
            "non_idempotent",
            "http_500",
            "http_502",
            "http_503",
            "http_504",
            "http_403",
            "http_404",
            "http_429",
            "updating",
            "off",
        ])),
    ),
    cmd(
        "proxy_next_upstream_tries",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "proxy_next_upstream_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "proxy_pass_header",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::StrArray),
    ),
    cmd(
        "proxy_hide_header",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::StrArray),
    ),
    cmd(
        "proxy_ignore_headers",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Slot(Slot::Bitmask(&[
            "X-Accel-Redirect",
            "X-Accel-Expires",
            "X-Accel-Limit-Rate",
            "X-Accel-Buffering",
            "X-Accel-Charset",
            "Expires",
            "Cache-Control",
            "Set-Cookie",
            "Vary",
        ])),
    ),
    cmd(
        "proxy_http_version",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Enum(&["1.0", "1.1"])),
    ),
    cmd(
        "proxy_ssl_session_reuse",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_ssl_protocols",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Slot(Slot::Bitmask(&[
            "SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3",
        ])),
    ),
    cmd(
        "proxy_ssl_ciphers",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "proxy_ssl_name",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(super::upstream::complex_value_slot),
    ),
    cmd(
        "proxy_ssl_server_name",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_ssl_verify",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Handler(ssl_setting),
    ),
    cmd(
        "proxy_ssl_verify_depth",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "proxy_ssl_trusted_certificate",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(ssl_setting),
    ),
    cmd(
        "proxy_ssl_crl",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(ssl_setting),
    ),
    cmd(
        "proxy_ssl_certificate",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(ssl_setting),
    ),
    cmd(
        "proxy_ssl_certificate_key",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(ssl_setting),
    ),
    cmd(
        "proxy_ssl_password_file",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(proxy_ssl_password_file),
    ),
    cmd(
        "proxy_ssl_conf_command",
        Ctx::HTTP_MSL,
        Args::TAKE2,
        Set::Slot(Slot::KeyVal),
    ),
];

/// Variables ngx_http_proxy_module defines (nginx: ngx_http_proxy_vars).
pub(crate) const VARIABLES: &[&str] = &[
    "proxy_host",
    "proxy_port",
    "proxy_add_x_forwarded_for",
    "proxy_add_via",
    "proxy_internal_body_length",
    "proxy_internal_chunked",
];

/// nginx's module tag for shared zones.
const TAG: &str = "ngx_http_proxy_module";

/// One level's proxy state besides [`PassState`] (nginx: fields of ngx_http_proxy_loc_conf_t).
#[derive(Default, Debug)]
struct ProxyLoc {
    /// `proxy_pass` with a URL (nginx: `plcf->url`).
    url: bool,
    /// `proxy_redirect off` was given (nginx: `plcf->redirect == 0`).
    redirect_off: bool,
    /// Rewrites were given (nginx: `plcf->redirects`).
    redirects: bool,
    cookie_domains: upstream::Tri,
    cookie_paths: upstream::Tri,
    cookie_flags: upstream::Tri,
}

/// nginx: ngx_http_proxy_pass.
fn proxy_pass(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if upstream::pass_start::<PROXY>(cf, d)? {
        // nginx: a URL with variables may be https (`plcf->ssl = 1`)
        mark_ssl(cf);
        return Ok(());
    }
    let url = &d.args[0];
    let (add, port) = if url.len() >= 7 && url[..7].eq_ignore_ascii_case(b"http://") {
        (7, 80)
    } else if url.len() >= 8 && url[..8].eq_ignore_ascii_case(b"https://") {
        (8, 443)
    } else {
        return Err(cf.emerg("invalid URL prefix").into());
    };
    let o = UrlOpts {
        default_port: port,
        uri_part: true,
        no_resolve: true,
        listen: false,
    };
    let u = upstream::upstream_add_url(cf, d, &url[add..], o)?;
    if upstream::location_without_uri(cf) && !u.uri.is_empty() {
        return Err(cf
            .emerg(
                "\"proxy_pass\" cannot have URI part in location given by regular expression, \
                 or inside named location, or inside \"if\" statement, \
                 or inside \"limit_except\" block",
            )
            .into());
    }
    cf.frame().get::<ProxyLoc>().url = true;
    if add == 8 {
        mark_ssl(cf);
    }
    Ok(())
}

/// A `~regex` or `~*regex` pattern, or a complex value (nginx: the pattern half of
/// ngx_http_proxy_redirect and ngx_http_proxy_cookie_path).
fn rewrite_pattern(cf: &mut Cf<'_>, v: &[u8], tilde_star: bool) -> Result<(), Option<String>> {
    if let Some(re) = v.strip_prefix(b"~") {
        if tilde_star {
            if let Some(re) = re.strip_prefix(b"*") {
                crate::regex::compile(cf, re, true)?;
                return Ok(());
            }
            crate::regex::compile(cf, re, false)?;
        } else {
            crate::regex::compile(cf, re, true)?;
        }
        return Ok(());
    }
    compile_complex_value(cf, v)?;
    Ok(())
}

/// nginx: ngx_http_proxy_redirect.
fn proxy_redirect(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let has_vars = cf.frame().get::<PassState<PROXY>>().vars;
    let st = cf.frame().get::<ProxyLoc>();
    if st.redirect_off {
        return Err(Some("is duplicate".into()));
    }
    let v = &d.args[0];
    if d.args.len() == 1 {
        if v.as_slice() == b"off" {
            if st.redirects {
                return Err(Some("is duplicate".into()));
            }
            st.redirect_off = true;
            return Ok(());
        }
        if v.as_slice() != b"default" {
            let text = format!("invalid parameter \"{}\"", String::from_utf8_lossy(v));
            return Err(cf.emerg(text).into());
        }
    }
    st.redirects = true;
    if d.args.len() == 1 {
        let url = st.url;
        if has_vars {
            return Err(cf
                .emerg(
                    "\"proxy_redirect default\" cannot be used with \"proxy_pass\" \
                     directive with variables",
                )
                .into());
        }
        if !url {
            return Err(cf
                .emerg("\"proxy_redirect default\" should be placed after the \"proxy_pass\" directive")
                .into());
        }
        return Ok(());
    }
    rewrite_pattern(cf, v, true)?;
    compile_complex_value(cf, &d.args[1])?;
    Ok(())
}

/// The `off` / duplicate logic of the cookie rewrites; returns false when done.
fn cookie_start(
    cf: &mut Cf<'_>,
    d: &Directive,
    field: fn(&mut ProxyLoc) -> &mut upstream::Tri,
) -> Result<bool, Option<String>> {
    let st = field(cf.frame().get::<ProxyLoc>());
    if *st == upstream::Tri::Off {
        return Err(Some("is duplicate".into()));
    }
    if d.args.len() == 1 {
        if d.args[0].as_slice() == b"off" {
            if *st != upstream::Tri::Unset {
                return Err(Some("is duplicate".into()));
            }
            *st = upstream::Tri::Off;
            return Ok(false);
        }
        let text = format!(
            "invalid parameter \"{}\"",
            String::from_utf8_lossy(&d.args[0])
        );
        return Err(cf.emerg(text).into());
    }
    *st = upstream::Tri::On;
    Ok(true)
}

/// nginx: ngx_http_proxy_cookie_domain.
fn proxy_cookie_domain(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if !cookie_start(cf, d, |p| &mut p.cookie_domains)? {
        return Ok(());
    }
    let v = &d.args[0];
    if let Some(re) = v.strip_prefix(b"~") {
        crate::regex::compile(cf, re, true)?;
        compile_complex_value(cf, &d.args[1])?;
    } else {
        let pat = v.strip_prefix(b".").unwrap_or(v);
        compile_complex_value(cf, pat)?;
        let r = &d.args[1];
        compile_complex_value(cf, r.strip_prefix(b".").unwrap_or(r))?;
    }
    Ok(())
}

/// nginx: ngx_http_proxy_cookie_path.
fn proxy_cookie_path(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if !cookie_start(cf, d, |p| &mut p.cookie_paths)? {
        return Ok(());
    }
    rewrite_pattern(cf, &d.args[0], true)?;
    compile_complex_value(cf, &d.args[1])?;
    Ok(())
}

/// nginx: ngx_http_proxy_cookie_flags.
fn proxy_cookie_flags(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if !cookie_start(cf, d, |p| &mut p.cookie_flags)? {
        return Ok(());
    }
    let v = &d.args[0];
    if let Some(re) = v.strip_prefix(b"~") {
        crate::regex::compile(cf, re, true)?;
    } else {
        compile_complex_value(cf, v)?;
    }
    for f in &d.args[1..] {
        compile_complex_value(cf, f)?;
    }
    Ok(())
}

/// nginx: ngx_http_proxy_store.
fn proxy_store(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream::store::<PROXY>(cf, d, "proxy_cache")
}

/// nginx: ngx_http_proxy_cache.
fn proxy_cache(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream::cache::<PROXY>(cf, d, "proxy_store", TAG)
}

/// nginx: ngx_http_proxy_cache_key.
fn proxy_cache_key(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream::cache_key(cf, d)
}

/// nginx: ngx_http_file_cache_set_slot for `proxy_cache_path`.
fn cache_path(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream::file_cache_path(cf, d, TAG)
}

/// nginx: ngx_http_proxy_ssl_password_file.
fn proxy_ssl_password_file(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream::ssl_password_file(cf, d)
}

/// nginx: ngx_http_proxy_lowat_check.
fn send_lowat(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream::send_lowat(cf, d)
}

// ---------------------------------------------------------------------------------------------
// The `proxy_ssl_*` checks of ngx_http_proxy_merge_loc_conf (ngx_http_proxy_set_ssl)

/// One level's `proxy_ssl_*` settings the merge checks, and its parent level.
#[derive(Default, Debug)]
struct SslRec {
    parent: Option<usize>,
    /// `proxy_pass https://...` or with variables here (nginx: `plcf->ssl`).
    ssl: bool,
    verify: Option<bool>,
    trusted: Option<Vec<u8>>,
    crl: Option<Vec<u8>>,
    /// (value, has variables)
    certificate: Option<(Vec<u8>, bool)>,
    certificate_key: Option<(Vec<u8>, bool)>,
}

/// Every level with `proxy_ssl_*` or an https `proxy_pass`, and their ancestors, in the
/// order first seen (kept in the `http` level).
#[derive(Default, Debug)]
struct SslRecs {
    levels: Vec<SslRec>,
}

/// A level's index in [`SslRecs`].
#[derive(Default, Debug)]
struct SslRecId(Option<usize>);

/// The record of the current level (records for its enclosing levels made on the way).
fn ssl_rec<'c>(cf: &'c mut Cf<'_>) -> Option<&'c mut SslRec> {
    let frames = cf.frames_mut();
    if frames.len() < 2 {
        return None;
    }
    // frames[1] is the `http` level
    let mut parent = None;
    for i in 1..frames.len() {
        let id = match frames[i].get::<SslRecId>().0 {
            Some(id) => id,
            None => {
                let levels = &mut frames[1].get::<SslRecs>().levels;
                levels.push(SslRec {
                    parent,
                    ..Default::default()
                });
                let id = levels.len() - 1;
                frames[i].get::<SslRecId>().0 = Some(id);
                id
            }
        };
        parent = Some(id);
    }
    let id = parent?;
    frames[1].get::<SslRecs>().levels.get_mut(id)
}

/// This level proxies with TLS (nginx: `plcf->ssl = 1`).
fn mark_ssl(cf: &mut Cf<'_>) {
    if let Some(rec) = ssl_rec(cf) {
        rec.ssl = true;
    }
}

/// The `proxy_ssl_*` directives the merge checks: nginx's setter, then the value recorded.
fn ssl_setting(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let name = d.name.as_slice();
    let slot = match name {
        b"proxy_ssl_verify" => Some(Slot::Flag),
        b"proxy_ssl_trusted_certificate" | b"proxy_ssl_crl" => Some(Slot::Str),
        _ => None,
    };
    match slot {
        Some(slot) => {
            let Some(row) = COMMANDS.iter().find(|c| c.name.as_bytes() == name) else {
                return Err(None);
            };
            crate::conf::slot::set(cf, row, slot, d)?;
        }
        None => upstream::complex_value_zero_slot(cf, d)?,
    }
    let v = d.args[0].clone();
    let vars = crate::http::variables::parse_complex_value(&v).is_ok_and(|c| !c.is_static());
    if let Some(rec) = ssl_rec(cf) {
        match name {
            b"proxy_ssl_verify" => rec.verify = Some(v.eq_ignore_ascii_case(b"on")),
            b"proxy_ssl_trusted_certificate" => rec.trusted = Some(v),
            b"proxy_ssl_crl" => rec.crl = Some(v),
            b"proxy_ssl_certificate" => rec.certificate = Some((v, vars)),
            _ => rec.certificate_key = Some((v, vars)),
        }
    }
    Ok(())
}

/// OpenSSL's text for a file X509_LOOKUP_load_file could not open (OpenSSL 3).
fn lookup_open_error(path: &std::path::Path, e: &std::io::Error) -> String {
    format!(
        "{} error:05880002:x509 certificate routines::system lib",
        crate::http::ssl::bio_error(path, e)
            .trim_start_matches("BIO_new_file() failed (SSL: ")
            .trim_end_matches(')')
    )
}

/// nginx: ngx_http_proxy_set_ssl's checks for every level that proxies with TLS, with the
/// level's settings merged from its parents. Run where nginx merges (end of `http`).
pub(crate) fn ssl_merge_check(
    cf: &mut Cf<'_>,
    http: &mut crate::conf::dispatch::Frame,
) -> Result<(), crate::conf::dispatch::Failed> {
    use crate::conf::dispatch::Failed;
    use crate::log::Level;
    let recs = http.take::<SslRecs>();
    let levels = &recs.levels;
    // the first value set on the way up
    fn up<T: Clone>(
        levels: &[SslRec],
        mut i: usize,
        f: impl Fn(&SslRec) -> &Option<T>,
    ) -> Option<T> {
        loop {
            let rec = levels.get(i)?;
            if let Some(v) = f(rec) {
                return Some(v.clone());
            }
            i = rec.parent?;
        }
    }
    for (i, rec) in levels.iter().enumerate() {
        if !rec.ssl {
            continue;
        }
        let fail = |cf: &mut Cf<'_>, text: String| {
            cf.log(Level::Emerg, text);
            Err(Failed)
        };
        let cert = up(levels, i, |r| &r.certificate);
        if let Some((cert, cert_vars)) = cert {
            let Some((key, key_vars)) = up(levels, i, |r| &r.certificate_key) else {
                return fail(
                    cf,
                    format!(
                        "no \"proxy_ssl_certificate_key\" is defined for certificate \"{}\"",
                        String::from_utf8_lossy(&cert)
                    ),
                );
            };
            if !cert_vars && !key_vars {
                if let Err(e) = crate::http::ssl::load_certificate(cf, &cert) {
                    return fail(cf, e);
                }
                if let Err(e) = crate::http::ssl::load_key(cf, &key) {
                    return fail(cf, e);
                }
                if let Err(e) = crate::http::ssl::keys_match(cf, &[cert.as_slice()], &key) {
                    return fail(cf, e);
                }
            }
        }
        if up(levels, i, |r| &r.verify) == Some(true) {
            let trusted = up(levels, i, |r| &r.trusted).unwrap_or_default();
            if trusted.is_empty() {
                return fail(
                    cf,
                    "no proxy_ssl_trusted_certificate for proxy_ssl_verify".into(),
                );
            }
            let path = crate::cycle::full_name(&cf.conf_prefix, &trusted);
            match std::fs::read(&path) {
                Err(e) => {
                    let text = format!(
                        "SSL_CTX_load_verify_locations(\"{}\") failed (SSL: {})",
                        path.display(),
                        lookup_open_error(&path, &e)
                    );
                    return fail(cf, text);
                }
                Ok(pem) if !pem_has_cert_or_crl(&pem) => {
                    let text = format!(
                        "SSL_CTX_load_verify_locations(\"{}\") failed (SSL: error:05800088:x509 certificate routines::no certificate or crl found)",
                        path.display()
                    );
                    return fail(cf, text);
                }
                Ok(_) => {}
            }
            let crl = up(levels, i, |r| &r.crl).unwrap_or_default();
            if !crl.is_empty() {
                let path = crate::cycle::full_name(&cf.conf_prefix, &crl);
                match std::fs::read(&path) {
                    Err(e) => {
                        let text = format!(
                            "X509_LOOKUP_load_file(\"{}\") failed (SSL: {})",
                            path.display(),
                            lookup_open_error(&path, &e)
                        );
                        return fail(cf, text);
                    }
                    Ok(pem) if !pem_has_cert_or_crl(&pem) => {
                        let text = format!(
                            "X509_LOOKUP_load_file(\"{}\") failed (SSL: error:05800088:x509 certificate routines::no certificate or crl found)",
                            path.display()
                        );
                        return fail(cf, text);
                    }
                    Ok(_) => {}
                }
            }
        }
    }
    Ok(())
}

/// The PEM text holds a certificate or a CRL (what X509_load_cert_crl_file accepts).
fn pem_has_cert_or_crl(pem: &[u8]) -> bool {
    let has = |label: &[u8]| pem.windows(label.len()).any(|w| w == label);
    has(b"-----BEGIN CERTIFICATE-----")
        || has(b"-----BEGIN TRUSTED CERTIFICATE-----")
        || has(b"-----BEGIN X509 CERTIFICATE-----")
        || has(b"-----BEGIN X509 CRL-----")
}
