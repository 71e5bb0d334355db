//! ngx_stream_proxy_module: stream `proxy_pass` and the `proxy_*` directives.

use parser::Directive;

#[allow(unused_imports)]
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};
use crate::log::Level;

pub(crate) static MODULE: Module = Module {
    name: "ngx_stream_proxy_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[
    cmd(
        "proxy_pass",
        Ctx::STREAM_SRV,
        Args::TAKE1,
        Set::Handler(proxy_pass),
    ),
    cmd(
        "proxy_bind",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE12,
        Set::Handler(proxy_bind),
    ),
    cmd(
        "proxy_socket_keepalive",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_connect_timeout",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "proxy_timeout",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "proxy_buffer_size",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "proxy_downstream_buffer",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Handler(deprecated_buffer),
    ),
    cmd(
        "proxy_upstream_buffer",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Handler(deprecated_buffer),
    ),
    cmd(
        "proxy_upload_rate",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Handler(super::complex_value_size_slot),
    ),
    cmd(
        "proxy_download_rate",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Handler(super::complex_value_size_slot),
    ),
    cmd(
        "proxy_requests",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "proxy_responses",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "proxy_next_upstream",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_next_upstream_tries",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "proxy_next_upstream_timeout",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "proxy_protocol",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_half_close",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_ssl",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_ssl_session_reuse",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_ssl_protocols",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::ONEMORE,
        Set::Slot(Slot::Bitmask(&[
            "SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3",
        ])),
    ),
    cmd(
        "proxy_ssl_ciphers",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "proxy_ssl_name",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Handler(super::complex_value_slot),
    ),
    cmd(
        "proxy_ssl_server_name",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_ssl_verify",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "proxy_ssl_verify_depth",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "proxy_ssl_trusted_certificate",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "proxy_ssl_crl",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "proxy_ssl_certificate",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Handler(super::complex_value_zero_slot),
    ),
    cmd(
        "proxy_ssl_certificate_key",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Handler(super::complex_value_zero_slot),
    ),
    cmd(
        "proxy_ssl_password_file",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Handler(proxy_ssl_password_file),
    ),
    cmd(
        "proxy_ssl_conf_command",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE2,
        Set::Slot(Slot::KeyVal),
    ),
];

/// nginx: ngx_stream_proxy_pass.
fn proxy_pass(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if crate::http::upstream::seen(cf, d) {
        return Err(Some("is duplicate".into()));
    }
    super::core::set_handler(cf);
    let url = &d.args[0];
    let cv = super::compile_complex_value(cf, url)?;
    if !cv.is_static() {
        return Ok(());
    }
    let o = crate::http::upstream::UrlOpts {
        no_resolve: true,
        ..Default::default()
    };
    crate::http::upstream::upstream_add_url(cf, d, url, o)?;
    Ok(())
}

/// nginx: ngx_stream_proxy_bind.
fn proxy_bind(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if crate::http::upstream::seen(cf, d) {
        return Err(Some("is duplicate".into()));
    }
    let v = &d.args[0];
    if d.args.len() == 1 && v.as_slice() == b"off" {
        return Ok(());
    }
    let cv = super::compile_complex_value(cf, v)?;
    if cv.is_static() && crate::http::upstream::parse_addr_port(v).is_none() {
        let text = format!("invalid address \"{}\"", String::from_utf8_lossy(v));
        return Err(cf.emerg(text).into());
    }
    if let Some(p) = d.args.get(1) {
        if p.as_slice() != b"transparent" {
            let text = format!("invalid parameter \"{}\"", String::from_utf8_lossy(p));
            return Err(cf.emerg(text).into());
        }
    }
    Ok(())
}

/// nginx: ngx_stream_proxy_ssl_password_file.
fn proxy_ssl_password_file(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    crate::http::upstream::ssl_password_file(cf, d)
}

/// nginx: ngx_conf_set_size_slot with ngx_conf_deprecated (`proxy_downstream_buffer`,
/// `proxy_upstream_buffer` set `proxy_buffer_size`).
fn deprecated_buffer(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    // the three directives share one field
    if cf.seen("proxy_buffer_size") {
        return Err(Some("is duplicate".into()));
    }
    if crate::conf::values::parse_size(&d.args[0]).is_none() {
        return Err(Some("invalid value".into()));
    }
    let text = format!(
        "the \"{}\" directive is deprecated, use the \"proxy_buffer_size\" directive instead",
        String::from_utf8_lossy(&d.name)
    );
    cf.conf_log(Level::Warn, text);
    Ok(())
}
