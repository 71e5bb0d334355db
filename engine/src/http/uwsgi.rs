//! ngx_http_uwsgi_module: `uwsgi_pass` and the `uwsgi_*` directives.

use parser::Directive;

use super::upstream::{self};
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_uwsgi_module",
    commands: COMMANDS,
};

/// nginx's module tag for shared zones.
#[allow(dead_code)]
const TAG: &str = "ngx_http_uwsgi_module";

static COMMANDS: &[Command] = &[
    cmd(
        "uwsgi_pass",
        Ctx::HTTP_LOC.or(Ctx::HTTP_LIF),
        Args::TAKE1,
        Set::Handler(uwsgi_pass),
    ),
    cmd(
        "uwsgi_modifier1",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(modifier),
    ),
    cmd(
        "uwsgi_modifier2",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(modifier),
    ),
    cmd(
        "uwsgi_store",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(uwsgi_store),
    ),
    cmd(
        "uwsgi_store_access",
        Ctx::HTTP_MSL,
        Args::TAKE123,
        Set::Slot(Slot::Access),
    ),
    cmd(
        "uwsgi_buffering",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "uwsgi_request_buffering",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "uwsgi_ignore_client_abort",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "uwsgi_bind",
        Ctx::HTTP_MSL,
        Args::TAKE12,
        Set::Handler(super::upstream::bind_slot),
    ),
    cmd(
        "uwsgi_socket_keepalive",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "uwsgi_connect_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "uwsgi_send_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "uwsgi_buffer_size",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "uwsgi_pass_request_headers",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "uwsgi_pass_request_body",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "uwsgi_intercept_errors",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "uwsgi_read_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "uwsgi_buffers",
        Ctx::HTTP_MSL,
        Args::TAKE2,
        Set::Slot(Slot::Bufs),
    ),
    cmd(
        "uwsgi_busy_buffers_size",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "uwsgi_force_ranges",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "uwsgi_limit_rate",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "uwsgi_cache",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(uwsgi_cache),
    ),
    cmd(
        "uwsgi_cache_key",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(uwsgi_cache_key),
    ),
    cmd(
        "uwsgi_cache_path",
        Ctx::HTTP_MAIN,
        Args::TWOMORE,
        Set::Handler(cache_path),
    ),
    cmd(
        "uwsgi_cache_bypass",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Handler(super::upstream::predicate_slot),
    ),
    cmd(
        "uwsgi_no_cache",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Handler(super::upstream::predicate_slot),
    ),
    cmd(
        "uwsgi_cache_valid",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Handler(super::upstream::cache_valid_slot),
    ),
    cmd(
        "uwsgi_cache_min_uses",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "uwsgi_cache_max_range_offset",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Off),
    ),
    cmd(
        "uwsgi_cache_use_stale",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Slot(Slot::Bitmask(&[
            "error",
            "timeout",
            "invalid_header",
            "non_idempotent",
            "http_500",
            "http_503",
            "http_403",
            "http_404",
            "http_429",
            "updating",
            "off",
        ])),
    ),
    cmd(
        "uwsgi_cache_methods",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Slot(Slot::Bitmask(&["GET", "HEAD", "POST"])),
    ),
    cmd(
        "uwsgi_cache_lock",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "uwsgi_cache_lock_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "uwsgi_cache_lock_age",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "uwsgi_cache_revalidate",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "uwsgi_cache_background_update",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "uwsgi_temp_path",
        Ctx::HTTP_MSL,
        Args::TAKE1234,
        Set::Slot(Slot::Path),
    ),
    cmd(
        "uwsgi_max_temp_file_size",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "uwsgi_temp_file_write_size",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "uwsgi_next_upstream",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Slot(Slot::Bitmask(&[
            "error",
            "timeout",
            "invalid_header",
            "non_idempotent",
            "http_500",
            "http_503",
            "http_403",
            "http_404",
            "http_429",
            "updating",
            "off",
        ])),
    ),
    cmd(
        "uwsgi_next_upstream_tries",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "uwsgi_next_upstream_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "uwsgi_param",
        Ctx::HTTP_MSL,
        Args::TAKE23,
        Set::Handler(super::upstream::param_slot),
    ),
    cmd(
        "uwsgi_string",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "uwsgi_pass_header",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::StrArray),
    ),
    cmd(
        "uwsgi_hide_header",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::StrArray),
    ),
    cmd(
        "uwsgi_ignore_headers",
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
        "uwsgi_ssl_session_reuse",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "uwsgi_ssl_protocols",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Slot(Slot::Bitmask(&[
            "SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3",
        ])),
    ),
    cmd(
        "uwsgi_ssl_ciphers",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "uwsgi_ssl_name",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(super::upstream::complex_value_slot),
    ),
    cmd(
        "uwsgi_ssl_server_name",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "uwsgi_ssl_verify",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "uwsgi_ssl_verify_depth",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "uwsgi_ssl_trusted_certificate",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "uwsgi_ssl_crl",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "uwsgi_ssl_certificate",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(super::upstream::complex_value_zero_slot),
    ),
    cmd(
        "uwsgi_ssl_certificate_key",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(super::upstream::complex_value_zero_slot),
    ),
    cmd(
        "uwsgi_ssl_password_file",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(uwsgi_ssl_password_file),
    ),
    cmd(
        "uwsgi_ssl_conf_command",
        Ctx::HTTP_MSL,
        Args::TAKE2,
        Set::Slot(Slot::KeyVal),
    ),
];

/// nginx: ngx_http_uwsgi_pass.
fn uwsgi_pass(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if upstream::pass_start::<{ upstream::UWSGI }>(cf, d)? {
        return Ok(());
    }
    let url = &d.args[0];
    #[allow(unused_mut)]
    let mut add = 0;
    if url.len() >= 8 && url[..8].eq_ignore_ascii_case(b"uwsgi://") {
        add = 8;
    }
    if url.len() >= 9 && url[..9].eq_ignore_ascii_case(b"suwsgi://") {
        add = 9;
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

/// nginx: ngx_conf_set_num_slot with ngx_http_uwsgi_modifier_bounds (0..255).
fn modifier(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if upstream::seen(cf, d) {
        return Err(Some("is duplicate".into()));
    }
    let Some(n) = crate::conf::values::atoi(&d.args[0]) else {
        return Err(Some("invalid number".into()));
    };
    if !(0..=255).contains(&n) {
        return Err(cf.emerg("value must be between 0 and 255").into());
    }
    Ok(())
}

/// nginx: ngx_http_uwsgi_store.
fn uwsgi_store(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream::store::<{ upstream::UWSGI }>(cf, d, "uwsgi_cache")
}

/// nginx: ngx_http_uwsgi_cache.
fn uwsgi_cache(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream::cache::<{ upstream::UWSGI }>(cf, d, "uwsgi_store", TAG)
}

/// nginx: ngx_http_uwsgi_cache_key.
fn uwsgi_cache_key(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream::cache_key(cf, d)
}

/// nginx: ngx_http_file_cache_set_slot for `uwsgi_cache_path`.
fn cache_path(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream::file_cache_path(cf, d, TAG)
}

/// nginx: ngx_http_uwsgi_ssl_password_file.
fn uwsgi_ssl_password_file(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream::ssl_password_file(cf, d)
}
