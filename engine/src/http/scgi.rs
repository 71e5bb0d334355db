//! ngx_http_scgi_module: `scgi_pass` and the `scgi_*` directives.

use parser::Directive;

use super::upstream::{self};
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_scgi_module",
    commands: COMMANDS,
};

/// nginx's module tag for shared zones.
#[allow(dead_code)]
const TAG: &str = "ngx_http_scgi_module";

static COMMANDS: &[Command] = &[
    cmd(
        "scgi_pass",
        Ctx::HTTP_LOC.or(Ctx::HTTP_LIF),
        Args::TAKE1,
        Set::Handler(scgi_pass),
    ),
    cmd(
        "scgi_store",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(scgi_store),
    ),
    cmd(
        "scgi_store_access",
        Ctx::HTTP_MSL,
        Args::TAKE123,
        Set::Slot(Slot::Access),
    ),
    cmd(
        "scgi_buffering",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "scgi_request_buffering",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "scgi_ignore_client_abort",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "scgi_bind",
        Ctx::HTTP_MSL,
        Args::TAKE12,
        Set::Handler(super::upstream::bind_slot),
    ),
    cmd(
        "scgi_socket_keepalive",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "scgi_connect_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "scgi_send_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "scgi_buffer_size",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "scgi_pass_request_headers",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "scgi_pass_request_body",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "scgi_intercept_errors",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "scgi_read_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "scgi_buffers",
        Ctx::HTTP_MSL,
        Args::TAKE2,
        Set::Slot(Slot::Bufs),
    ),
    cmd(
        "scgi_busy_buffers_size",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "scgi_force_ranges",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "scgi_limit_rate",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "scgi_cache",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(scgi_cache),
    ),
    cmd(
        "scgi_cache_key",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(scgi_cache_key),
    ),
    cmd(
        "scgi_cache_path",
        Ctx::HTTP_MAIN,
        Args::TWOMORE,
        Set::Handler(cache_path),
    ),
    cmd(
        "scgi_cache_bypass",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Handler(super::upstream::predicate_slot),
    ),
    cmd(
        "scgi_no_cache",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Handler(super::upstream::predicate_slot),
    ),
    cmd(
        "scgi_cache_valid",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Handler(super::upstream::cache_valid_slot),
    ),
    cmd(
        "scgi_cache_min_uses",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "scgi_cache_max_range_offset",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Off),
    ),
    cmd(
        "scgi_cache_use_stale",
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
        "scgi_cache_methods",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Slot(Slot::Bitmask(&["GET", "HEAD", "POST"])),
    ),
    cmd(
        "scgi_cache_lock",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "scgi_cache_lock_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "scgi_cache_lock_age",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "scgi_cache_revalidate",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "scgi_cache_background_update",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "scgi_temp_path",
        Ctx::HTTP_MSL,
        Args::TAKE1234,
        Set::Slot(Slot::Path),
    ),
    cmd(
        "scgi_max_temp_file_size",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "scgi_temp_file_write_size",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "scgi_next_upstream",
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
        "scgi_next_upstream_tries",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "scgi_next_upstream_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "scgi_param",
        Ctx::HTTP_MSL,
        Args::TAKE23,
        Set::Handler(super::upstream::param_slot),
    ),
    cmd(
        "scgi_pass_header",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::StrArray),
    ),
    cmd(
        "scgi_hide_header",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::StrArray),
    ),
    cmd(
        "scgi_ignore_headers",
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
];

/// nginx: ngx_http_scgi_pass.
fn scgi_pass(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if upstream::pass_start::<{ upstream::SCGI }>(cf, d)? {
        return Ok(());
    }
    let url = &d.args[0];
    #[allow(unused_mut)]
    let mut add = 0;
    let o = upstream::UrlOpts {
        default_port: 0,
        uri_part: false,
        no_resolve: true,
        listen: false,
    };
    upstream::upstream_add_url(cf, d, &url[add..], o)?;
    Ok(())
}

/// nginx: ngx_http_scgi_store.
fn scgi_store(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream::store::<{ upstream::SCGI }>(cf, d, "scgi_cache")
}

/// nginx: ngx_http_scgi_cache.
fn scgi_cache(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream::cache::<{ upstream::SCGI }>(cf, d, "scgi_store", TAG)
}

/// nginx: ngx_http_scgi_cache_key.
fn scgi_cache_key(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream::cache_key(cf, d)
}

/// nginx: ngx_http_file_cache_set_slot for `scgi_cache_path`.
fn cache_path(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream::file_cache_path(cf, d, TAG)
}
