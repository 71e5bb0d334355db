//! ngx_http_grpc_module: `grpc_pass` and the `grpc_*` directives.

use parser::Directive;

use super::upstream::{self};
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_grpc_module",
    commands: COMMANDS,
};

/// nginx's module tag for shared zones.
#[allow(dead_code)]
const TAG: &str = "ngx_http_grpc_module";

static COMMANDS: &[Command] = &[
    cmd(
        "grpc_pass",
        Ctx::HTTP_LOC.or(Ctx::HTTP_LIF),
        Args::TAKE1,
        Set::Handler(grpc_pass),
    ),
    cmd(
        "grpc_bind",
        Ctx::HTTP_MSL,
        Args::TAKE12,
        Set::Handler(super::upstream::bind_slot),
    ),
    cmd(
        "grpc_socket_keepalive",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "grpc_connect_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "grpc_send_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "grpc_intercept_errors",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "grpc_buffer_size",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "grpc_read_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "grpc_next_upstream",
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
            "off",
        ])),
    ),
    cmd(
        "grpc_next_upstream_tries",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "grpc_next_upstream_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "grpc_set_header",
        Ctx::HTTP_MSL,
        Args::TAKE2,
        Set::Handler(crate::http::variables::keyval_complex),
    ),
    cmd(
        "grpc_pass_header",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::StrArray),
    ),
    cmd(
        "grpc_hide_header",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::StrArray),
    ),
    cmd(
        "grpc_ignore_headers",
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
        "grpc_ssl_session_reuse",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "grpc_ssl_protocols",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Slot(Slot::Bitmask(&[
            "SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3",
        ])),
    ),
    cmd(
        "grpc_ssl_ciphers",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "grpc_ssl_name",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(super::upstream::complex_value_slot),
    ),
    cmd(
        "grpc_ssl_server_name",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "grpc_ssl_verify",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "grpc_ssl_verify_depth",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "grpc_ssl_trusted_certificate",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "grpc_ssl_crl",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "grpc_ssl_certificate",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(super::upstream::complex_value_zero_slot),
    ),
    cmd(
        "grpc_ssl_certificate_key",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(super::upstream::complex_value_zero_slot),
    ),
    cmd(
        "grpc_ssl_password_file",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(grpc_ssl_password_file),
    ),
    cmd(
        "grpc_ssl_conf_command",
        Ctx::HTTP_MSL,
        Args::TAKE2,
        Set::Slot(Slot::KeyVal),
    ),
];

/// Variables ngx_http_grpc_module defines.
pub(crate) const VARIABLES: &[&str] = &["grpc_internal_trailers"];

/// nginx: ngx_http_grpc_pass.
fn grpc_pass(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if upstream::pass_start::<{ upstream::GRPC }>(cf, d)? {
        return Ok(());
    }
    let url = &d.args[0];
    #[allow(unused_mut)]
    let mut add = 0;
    if url.len() >= 7 && url[..7].eq_ignore_ascii_case(b"grpc://") {
        add = 7;
    }
    if url.len() >= 8 && url[..8].eq_ignore_ascii_case(b"grpcs://") {
        add = 8;
    }
    let o = upstream::UrlOpts {
        default_port: 0,
        uri_part: false,
        no_resolve: true,
        listen: false,
    };
    upstream::upstream_add_url(cf, d, &url[add..], o)?;
    Ok(())
}

/// nginx: ngx_http_grpc_ssl_password_file.
fn grpc_ssl_password_file(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream::ssl_password_file(cf, d)
}
