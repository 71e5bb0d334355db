//! ngx_http_fastcgi_module: `fastcgi_pass` and the `fastcgi_*` directives.

use parser::Directive;

use super::upstream::{self};
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_fastcgi_module",
    commands: COMMANDS,
};

/// nginx's module tag for shared zones.
#[allow(dead_code)]
const TAG: &str = "ngx_http_fastcgi_module";

static COMMANDS: &[Command] = &[
    cmd(
        "fastcgi_pass",
        Ctx::HTTP_LOC.or(Ctx::HTTP_LIF),
        Args::TAKE1,
        Set::Handler(fastcgi_pass),
    ),
    cmd(
        "fastcgi_index",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "fastcgi_split_path_info",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(fastcgi_split_path_info),
    ),
    cmd(
        "fastcgi_store",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(fastcgi_store),
    ),
    cmd(
        "fastcgi_store_access",
        Ctx::HTTP_MSL,
        Args::TAKE123,
        Set::Slot(Slot::Access),
    ),
    cmd(
        "fastcgi_buffering",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "fastcgi_request_buffering",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "fastcgi_ignore_client_abort",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "fastcgi_bind",
        Ctx::HTTP_MSL,
        Args::TAKE12,
        Set::Handler(super::upstream::bind_slot),
    ),
    cmd(
        "fastcgi_socket_keepalive",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "fastcgi_connect_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "fastcgi_send_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "fastcgi_send_lowat",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(send_lowat),
    ),
    cmd(
        "fastcgi_buffer_size",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "fastcgi_pass_request_headers",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "fastcgi_pass_request_body",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "fastcgi_intercept_errors",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "fastcgi_read_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "fastcgi_buffers",
        Ctx::HTTP_MSL,
        Args::TAKE2,
        Set::Slot(Slot::Bufs),
    ),
    cmd(
        "fastcgi_busy_buffers_size",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "fastcgi_force_ranges",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "fastcgi_limit_rate",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "fastcgi_cache",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(fastcgi_cache),
    ),
    cmd(
        "fastcgi_cache_key",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(fastcgi_cache_key),
    ),
    cmd(
        "fastcgi_cache_path",
        Ctx::HTTP_MAIN,
        Args::TWOMORE,
        Set::Handler(cache_path),
    ),
    cmd(
        "fastcgi_cache_bypass",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Handler(super::upstream::predicate_slot),
    ),
    cmd(
        "fastcgi_no_cache",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Handler(super::upstream::predicate_slot),
    ),
    cmd(
        "fastcgi_cache_valid",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Handler(super::upstream::cache_valid_slot),
    ),
    cmd(
        "fastcgi_cache_min_uses",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "fastcgi_cache_max_range_offset",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Off),
    ),
    cmd(
        "fastcgi_cache_use_stale",
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
        "fastcgi_cache_methods",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Slot(Slot::Bitmask(&["GET", "HEAD", "POST"])),
    ),
    cmd(
        "fastcgi_cache_lock",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "fastcgi_cache_lock_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "fastcgi_cache_lock_age",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "fastcgi_cache_revalidate",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "fastcgi_cache_background_update",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "fastcgi_temp_path",
        Ctx::HTTP_MSL,
        Args::TAKE1234,
        Set::Slot(Slot::Path),
    ),
    cmd(
        "fastcgi_max_temp_file_size",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "fastcgi_temp_file_write_size",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "fastcgi_next_upstream",
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
        "fastcgi_next_upstream_tries",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "fastcgi_next_upstream_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "fastcgi_param",
        Ctx::HTTP_MSL,
        Args::TAKE23,
        Set::Handler(super::upstream::param_slot),
    ),
    cmd(
        "fastcgi_pass_header",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::StrArray),
    ),
    cmd(
        "fastcgi_hide_header",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::StrArray),
    ),
    cmd(
        "fastcgi_ignore_headers",
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
        "fastcgi_catch_stderr",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::StrArray),
    ),
    cmd(
        "fastcgi_keep_conn",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
];

/// Variables ngx_http_fastcgi_module defines.
pub(crate) const VARIABLES: &[&str] = &["fastcgi_script_name", "fastcgi_path_info"];

/// nginx: ngx_http_fastcgi_pass.
fn fastcgi_pass(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if upstream::pass_start::<{ upstream::FASTCGI }>(cf, d)? {
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

/// nginx: ngx_http_fastcgi_split_path_info (ngx_regex_compile: no variables for names).
fn fastcgi_split_path_info(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let v = &d.args[0];
    let re = match crate::regex::build(v, false) {
        Ok(re) => re,
        Err(text) => return Err(cf.emerg(text).into()),
    };
    if re.captures != 2 {
        let text = format!(
            "pattern \"{}\" must have 2 captures",
            String::from_utf8_lossy(v)
        );
        return Err(cf.emerg(text).into());
    }
    Ok(())
}

/// nginx: ngx_http_fastcgi_lowat_check.
fn send_lowat(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream::send_lowat(cf, d)
}

/// nginx: ngx_http_fastcgi_store.
fn fastcgi_store(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream::store::<{ upstream::FASTCGI }>(cf, d, "fastcgi_cache")
}

/// nginx: ngx_http_fastcgi_cache.
fn fastcgi_cache(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream::cache::<{ upstream::FASTCGI }>(cf, d, "fastcgi_store", TAG)
}

/// nginx: ngx_http_fastcgi_cache_key.
fn fastcgi_cache_key(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream::cache_key(cf, d)
}

/// nginx: ngx_http_file_cache_set_slot for `fastcgi_cache_path`.
fn cache_path(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream::file_cache_path(cf, d, TAG)
}
