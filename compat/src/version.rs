//! What `-v`, `-V` and `-h` print, and the compiled-in defaults (nginx: ngx_show_version_info,
//! NGX_PREFIX, NGX_CONF_PATH, NGX_ERROR_LOG_PATH, NGX_PID_PATH, NGX_CONFIGURE).

/// The nginx version oxresty emulates.
pub const NGINX_VERSION: &str = "1.22.1";

/// The lua-nginx-module version oxresty emulates (what `ngx.config.ngx_lua_version` reports).
pub const NGX_LUA_VERSION: &str = "0.10.23";

/// The version line `-v`, `-V` and `-h` print (nginx: `"nginx version: " NGINX_VER_BUILD`).
///
/// Why this exact shape:
/// * OpenResty prints `nginx version: openresty/1.21.4.1`; tools that tell OpenResty from
///   plain nginx look for `openresty/` right after `nginx version: `.
/// * Test::Nginx reads the version with `(?:nginx|openresty)[^/]*/(\d+)\.(\d+)\.(\d+)`: it gets
///   1.22.1, the nginx version whose behaviour oxresty reproduces.
/// * Kong reads it with `^nginx.-openresty.-([%d%.]+)`: it gets `1.22.1` too (the capture stops
///   at the space).
/// * oxresty's own version follows in parentheses, after everything those patterns read.
pub const VERSION_LINE: &str = concat!(
    "nginx version: openresty/1.22.1 (oxresty/",
    env!("CARGO_PKG_VERSION"),
    ")"
);

/// nginx: NGX_PREFIX (OpenResty's default installation prefix, not Debian's).
pub const DEFAULT_PREFIX: &str = "/usr/local/openresty/nginx/";
/// nginx: NGX_CONF_PATH, relative to the prefix.
pub const DEFAULT_CONF_PATH: &str = "conf/nginx.conf";
/// nginx: NGX_ERROR_LOG_PATH, relative to the prefix.
pub const DEFAULT_ERROR_LOG_PATH: &str = "logs/error.log";
/// nginx: NGX_PID_PATH, relative to the prefix.
pub const DEFAULT_PID_PATH: &str = "logs/nginx.pid";

/// The compiler, as nginx's `built by gcc 12.2.0 (Debian 12.2.0-14)` (recorded by build.rs).
const COMPILER: &str = env!("OXRESTY_RUSTC_VERSION");

/// The modules oxresty builds in, as the `./configure` arguments that would build them into
/// nginx/OpenResty; `-V` prints them after `configure arguments:`.
///
/// This table MUST match engine/src/modules.rs: each row names the engine module(s) that make
/// the claim true (a unit test checks they are listed there). Modules nginx builds by default
/// (rewrite, proxy, gzip, map, ...) need no flag, as in a real `nginx -V`. Modules nginx only
/// builds on request (`--with-mail`, `--with-http_perl_module`, xslt, image_filter, geoip,
/// google_perftools) are simply absent: `--without-` flags exist only for default modules.
///
/// Third-party modules are written the way OpenResty's bundle configures them
/// (`--add-module=../ngx_lua-0.10.23`), so scripts written against real OpenResty find both
/// the module names and their versions.
pub const CONFIGURE_ARGS: &[(&str, &[&str])] = &[
    ("--with-threads", &["crate::core::THREAD_POOL"]),
    ("--with-pcre-jit", &["crate::core::REGEX"]),
    ("--with-http_ssl_module", &["crate::http::ssl::MODULE"]),
    ("--with-http_v2_module", &["crate::http::v2::MODULE"]),
    (
        "--with-http_realip_module",
        &["crate::http::realip::MODULE"],
    ),
    (
        "--with-http_addition_module",
        &["crate::http::addition::MODULE"],
    ),
    ("--with-http_sub_module", &["crate::http::sub::MODULE"]),
    ("--with-http_dav_module", &["crate::http::dav::MODULE"]),
    ("--with-http_flv_module", &["crate::http::flv::MODULE"]),
    ("--with-http_mp4_module", &["crate::http::mp4::MODULE"]),
    (
        "--with-http_gunzip_module",
        &["crate::http::gunzip::MODULE"],
    ),
    (
        "--with-http_gzip_static_module",
        &["crate::http::gzip_static::MODULE"],
    ),
    (
        "--with-http_auth_request_module",
        &["crate::http::auth_request::MODULE"],
    ),
    (
        "--with-http_random_index_module",
        &["crate::http::random_index::MODULE"],
    ),
    (
        "--with-http_secure_link_module",
        &["crate::http::secure_link::MODULE"],
    ),
    ("--with-http_slice_module", &["crate::http::slice::MODULE"]),
    (
        "--with-http_stub_status_module",
        &["crate::http::stub_status::MODULE"],
    ),
    (
        "--with-stream",
        &["crate::stream::MODULE", "crate::stream::core::MODULE"],
    ),
    ("--with-stream_ssl_module", &["crate::stream::ssl::MODULE"]),
    (
        "--with-stream_ssl_preread_module",
        &["crate::stream::ssl_preread::MODULE"],
    ),
    (
        "--with-stream_realip_module",
        &["crate::stream::realip::MODULE"],
    ),
    (
        "--add-module=../ngx_devel_kit-0.3.2",
        &["crate::http::ndk::MODULE"],
    ),
    (
        "--add-module=../echo-nginx-module-0.63",
        &["crate::http::echo::MODULE"],
    ),
    (
        "--add-module=../headers-more-nginx-module-0.34",
        &["crate::http::headers_more::MODULE"],
    ),
    (
        "--add-module=../set-misc-nginx-module-0.33",
        &["crate::http::set_misc::MODULE"],
    ),
    (
        "--add-module=../ngx_lua-0.10.23",
        &["crate::http::lua::directives::MODULE"],
    ),
    (
        "--add-module=../ngx_stream_lua-0.0.13",
        &["crate::stream::lua::MODULE"],
    ),
];

/// What nginx writes to stderr for `-v`, `-V`, `-h` (any combination).
///
/// nginx: ngx_show_version_info
pub fn show_version_info(help: bool, configure: bool) -> String {
    let mut out = format!("{VERSION_LINE}\n");
    if help {
        out.push_str(&format!(
            "Usage: nginx [-?hvVtTq] [-s signal] [-p prefix]\n\
             \x20            [-e filename] [-c filename] [-g directives]\n\
             \n\
             Options:\n\
             \x20 -?,-h         : this help\n\
             \x20 -v            : show version and exit\n\
             \x20 -V            : show version and configure options then exit\n\
             \x20 -t            : test configuration and exit\n\
             \x20 -T            : test configuration, dump it and exit\n\
             \x20 -q            : suppress non-error messages during configuration testing\n\
             \x20 -s signal     : send signal to a master process: stop, quit, reopen, reload\n\
             \x20 -p prefix     : set prefix path (default: {DEFAULT_PREFIX})\n\
             \x20 -e filename   : set error log file (default: {DEFAULT_ERROR_LOG_PATH})\n\
             \x20 -c filename   : set configuration file (default: {DEFAULT_CONF_PATH})\n\
             \x20 -g directives : set global directives out of configuration file\n\
             \n"
        ));
    }
    if configure {
        // No "built with OpenSSL ..." / "TLS SNI support" lines: oxresty links no OpenSSL, and
        // nginx prints them only when it does (NGX_SSL).
        out.push_str(&format!("built by {COMPILER}\n"));
        out.push_str("configure arguments: --prefix=");
        out.push_str(DEFAULT_PREFIX.trim_end_matches('/'));
        for (arg, _) in CONFIGURE_ARGS {
            out.push(' ');
            out.push_str(arg);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_line_satisfies_known_parsers() {
        // Test::Nginx: (?:nginx|openresty)[^/]*/(\d+)\.(\d+)\.(\d+)
        let after = VERSION_LINE.split_once('/').map(|(_, v)| v).unwrap_or("");
        assert!(after.starts_with("1.22.1 "));
        assert!(VERSION_LINE.starts_with("nginx version: openresty/"));
        assert!(VERSION_LINE.contains(NGINX_VERSION));
        assert!(VERSION_LINE.ends_with(&format!("(oxresty/{})", env!("CARGO_PKG_VERSION"))));
    }

    #[test]
    fn configure_args_match_engine_modules() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../engine/src/modules.rs");
        let Ok(table) = std::fs::read_to_string(path) else {
            panic!("cannot read {path}");
        };
        for (arg, modules) in CONFIGURE_ARGS {
            for m in *modules {
                assert!(
                    table.contains(&format!("&{m},")),
                    "{arg}: {m} is not in engine/src/modules.rs"
                );
            }
        }
        assert!(CONFIGURE_ARGS
            .iter()
            .any(|(a, _)| a.contains(&format!("ngx_lua-{NGX_LUA_VERSION}"))));
    }

    #[test]
    fn help_text() {
        let h = show_version_info(true, false);
        assert!(h.contains("\n             [-e filename] [-c filename] [-g directives]\n\n"));
        assert!(h.contains(
            "  -p prefix     : set prefix path (default: /usr/local/openresty/nginx/)\n"
        ));
        assert!(h.ends_with("out of configuration file\n\n"));
    }
}
