//! The lowering pass: the checked directive tree -> the frozen http configuration workers run.
//!
//! The parse pass (the directive table, nginx's `ngx_conf_parse`) has already refused every bad
//! configuration with nginx's texts; this pass walks the same tree once more and builds typed,
//! merged values (nginx: the `merge_*_conf` steps and the location trees of `ngx_http_block`).
//! A directive this pass does not know yet keeps nginx's default.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parser::{Body, Directive};

use crate::conf::values::{atoi, parse_offset, parse_time};
use crate::cycle::{full_name, ListenAddr};
use crate::http::variables::{ComplexValue, Part};
use crate::regex::Regex;

/// The frozen `http {}` (nginx: the merged `ngx_http_conf_ctx_t` tree and `cmcf->ports`).
#[derive(Debug)]
pub(crate) struct Http {
    /// nginx's prefix: relative `root`s resolve against it.
    pub(crate) prefix: PathBuf,
    /// The configuration's directory (nginx: `cycle->conf_prefix`): relative certificate,
    /// key and password file names resolve against it.
    pub(crate) conf_prefix: PathBuf,
    /// Listening addresses, each with its servers (nginx: ngx_http_conf_addr_t).
    pub(crate) addrs: Vec<Addr>,
    pub(crate) servers: Vec<Arc<Server>>,
    /// Variables of `map`, `geo` and `split_clients` blocks, by lower-case name.
    pub(crate) lazy_vars: HashMap<Vec<u8>, Arc<crate::http::vars_runtime::Lazy>>,
    /// Variables only `set` defines (nginx: their get handler warns "using uninitialized").
    pub(crate) set_vars: std::collections::HashSet<Vec<u8>>,
}

/// One listening address and the servers on it.
#[derive(Debug)]
pub(crate) struct Addr {
    pub(crate) addr: ListenAddr,
    pub(crate) text: String,
    pub(crate) backlog: i32,
    /// Index of the default server in [`Http::servers`].
    pub(crate) default_server: usize,
    /// Every server listening here, in configuration order.
    pub(crate) servers: Vec<usize>,
    /// `listen ... ssl` on any of this address's listens (nginx ORs them).
    pub(crate) ssl: bool,
    /// `listen ... http2` on any of this address's listens.
    pub(crate) http2: bool,
    /// The TLS and HTTP/2 settings of an `ssl` or `http2` address (engine/src/http/ssl.rs).
    pub(crate) tls: Option<Arc<crate::http::ssl::TlsAddr>>,
    /// `listen ... proxy_protocol` on any of this address's listens: connections start
    /// with a PROXY header.
    pub(crate) proxy_protocol: bool,
}

/// A server name (nginx: ngx_http_server_name_t).
#[derive(Debug)]
pub(crate) enum ServerName {
    Exact(Vec<u8>),
    /// `*.example.com` (stored `.example.com`) or `.example.com` (also matches `example.com`).
    Head {
        suffix: Vec<u8>,
        dot: bool,
    },
    /// `www.example.*` (stored `www.example.`).
    Tail(Vec<u8>),
    Regex(Regex),
}

/// One `server {}` (nginx: ngx_http_core_srv_conf_t with its locations).
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) names: Vec<ServerName>,
    /// The first name: `$server_name`.
    pub(crate) name: Vec<u8>,
    /// The server level's merged location conf (used when no location matches).
    pub(crate) conf: Arc<LocConf>,
    /// The rewrite module's server-level script (server-rewrite phase).
    pub(crate) script: Arc<Script>,
    pub(crate) locations: Locations,
    pub(crate) named: HashMap<Vec<u8>, Arc<Location>>,
}

/// The locations of one level (nginx: `static_locations` and `regex_locations`).
#[derive(Debug, Default)]
pub(crate) struct Locations {
    /// Exact and prefix locations.
    pub(crate) statics: Vec<Arc<Location>>,
    /// Regex locations, in configuration order.
    pub(crate) regexes: Vec<Arc<Location>>,
}

#[derive(Debug)]
pub(crate) enum LocKind {
    Exact,
    /// `^~` sets `noregex`.
    Prefix {
        noregex: bool,
    },
    Regex(Regex),
    Named,
}

/// One `location {}` (nginx: ngx_http_core_loc_conf_t).
#[derive(Debug)]
pub(crate) struct Location {
    pub(crate) name: Vec<u8>,
    pub(crate) kind: LocKind,
    pub(crate) conf: Arc<LocConf>,
    pub(crate) script: Arc<Script>,
    pub(crate) locations: Locations,
}

/// `root` or `alias` (nginx: `clcf->root`, `clcf->alias`).
#[derive(Debug, Clone)]
pub(crate) struct Root {
    pub(crate) value: ComplexValue,
    pub(crate) alias: bool,
}

/// `error_page codes [=[code]] uri` (nginx: ngx_http_err_page_t).
#[derive(Debug, Clone)]
pub(crate) struct ErrorPage {
    pub(crate) status: u16,
    /// `=code` (Some(Some)), `=` alone (Some(None): the target's status).
    pub(crate) overwrite: Option<Option<u16>>,
    pub(crate) uri: ComplexValue,
}

/// `add_header name value [always]`.
#[derive(Debug, Clone)]
pub(crate) struct AddHeader {
    pub(crate) name: Vec<u8>,
    pub(crate) value: ComplexValue,
    pub(crate) always: bool,
}

/// `try_files file ... uri|=code`.
#[derive(Debug, Clone)]
pub(crate) struct TryFiles {
    pub(crate) files: Vec<ComplexValue>,
    pub(crate) last: ComplexValue,
}

/// What a location's directives say, merged with the enclosing levels (nginx: the location
/// confs of every module after `merge_loc_conf`). `None` means "not set here" until merged.
#[derive(Debug, Clone, Default)]
pub(crate) struct LocConf {
    pub(crate) root: Option<Root>,
    pub(crate) index: Option<Vec<ComplexValue>>,
    pub(crate) default_type: Option<Vec<u8>>,
    pub(crate) types: Option<Arc<HashMap<Vec<u8>, Vec<u8>>>>,
    pub(crate) error_pages: Option<Vec<ErrorPage>>,
    pub(crate) recursive_error_pages: Option<bool>,
    pub(crate) keepalive_timeout: Option<Duration>,
    pub(crate) keepalive_requests: Option<u64>,
    pub(crate) server_tokens: Option<ServerTokens>,
    pub(crate) try_files: Option<TryFiles>,
    pub(crate) add_headers: Option<Vec<AddHeader>>,
    pub(crate) etag: Option<bool>,
    pub(crate) absolute_redirect: Option<bool>,
    /// `merge_slashes` (server level; the address's default server decides, as in nginx).
    pub(crate) merge_slashes: Option<bool>,
    /// A content handler directive oxresty does not run yet (`fastcgi_pass`, ...): its
    /// location answers 502 instead of falling through to static files (which would serve
    /// e.g. PHP sources).
    pub(crate) unsupported_handler: Option<&'static str>,
    /// realip: `set_real_ip_from`, `real_ip_header`, `real_ip_recursive`.
    pub(crate) realip_from: Option<Arc<Vec<crate::http::realip::From>>>,
    pub(crate) realip_header: Option<crate::http::realip::Header>,
    pub(crate) realip_recursive: Option<bool>,
    pub(crate) port_in_redirect: Option<bool>,
    pub(crate) server_name_in_redirect: Option<bool>,
    pub(crate) log_not_found: Option<bool>,
    pub(crate) autoindex: Option<bool>,
    pub(crate) client_max_body_size: Option<u64>,
    pub(crate) access_log: Option<Vec<AccessLog>>,
    /// `internal` (not inherited).
    pub(crate) internal: bool,
    // Static content, header filters, output filters, access phase (issue 3).
    pub(crate) expires: Option<crate::http::headers::Expires>,
    pub(crate) add_trailers: Option<Vec<AddHeader>>,
    /// `charset name|off` (`Some(None)`: off).
    pub(crate) charset: Option<Option<ComplexValue>>,
    pub(crate) source_charset: Option<Vec<u8>>,
    pub(crate) override_charset: Option<bool>,
    pub(crate) charset_types: Option<Arc<crate::http::gzip::TypeList>>,
    pub(crate) if_modified_since: Option<crate::http::static_file::Ims>,
    /// `max_ranges N` (`Some(None)`: unlimited).
    pub(crate) max_ranges: Option<Option<u64>>,
    pub(crate) autoindex_format: Option<crate::http::autoindex::Format>,
    pub(crate) autoindex_localtime: Option<bool>,
    pub(crate) autoindex_exact_size: Option<bool>,
    pub(crate) gzip: Option<bool>,
    pub(crate) gzip_types: Option<Arc<crate::http::gzip::TypeList>>,
    pub(crate) gzip_min_length: Option<u64>,
    pub(crate) gzip_comp_level: Option<u32>,
    pub(crate) gzip_vary: Option<bool>,
    pub(crate) gzip_proxied: Option<u32>,
    /// `gzip_http_version 1.0` (true) or `1.1` (false, the default).
    pub(crate) gzip_http_10: Option<bool>,
    /// `gzip_disable` regexes (matched against User-Agent) and its `msie6` flag.
    pub(crate) gzip_disable: Option<Arc<Vec<crate::regex::Regex>>>,
    pub(crate) gzip_disable_msie6: Option<bool>,
    pub(crate) gzip_static: Option<crate::http::gzip_static::Mode>,
    pub(crate) sub_filters: Option<Vec<crate::http::sub::Pair>>,
    pub(crate) sub_filter_once: Option<bool>,
    pub(crate) sub_filter_types: Option<Arc<crate::http::gzip::TypeList>>,
    pub(crate) sub_filter_last_modified: Option<bool>,
    pub(crate) access_rules: Option<Vec<crate::http::access::Rule>>,
    /// `auth_basic realm|off` (`Some(None)`: off).
    pub(crate) auth_basic: Option<Option<ComplexValue>>,
    pub(crate) auth_basic_user_file: Option<ComplexValue>,
    /// `satisfy any` (true) or `all`.
    pub(crate) satisfy_any: Option<bool>,
    /// `stub_status` in this location (a content handler: not inherited).
    pub(crate) stub_status: bool,
    // The rewrite module (issue 3).
    pub(crate) rewrite_log: Option<bool>,
    pub(crate) uninitialized_variable_warn: Option<bool>,
    // Connections and request heads (issue 3, engine/src/http/head.rs).
    /// `keepalive_timeout`'s second argument (zero: no `Keep-Alive` header).
    pub(crate) keepalive_header: Option<Duration>,
    pub(crate) client_header_timeout: Option<Duration>,
    pub(crate) client_body_timeout: Option<Duration>,
    pub(crate) send_timeout: Option<Duration>,
    pub(crate) lingering_close: Option<crate::http::head::Linger>,
    pub(crate) lingering_time: Option<Duration>,
    pub(crate) lingering_timeout: Option<Duration>,
    pub(crate) reset_timedout_connection: Option<bool>,
    pub(crate) client_header_buffer_size: Option<usize>,
    /// `large_client_header_buffers number size`.
    pub(crate) large_client_header_buffers: Option<(usize, usize)>,
    pub(crate) underscores_in_headers: Option<bool>,
    pub(crate) ignore_invalid_headers: Option<bool>,
    // lua-nginx-module (issue 4, engine/src/http/lua/).
    pub(crate) lua_rewrite: Option<Arc<crate::http::lua::directives::LuaHandler>>,
    pub(crate) lua_access: Option<Arc<crate::http::lua::directives::LuaHandler>>,
    /// `content_by_lua*` (a content handler: not inherited).
    pub(crate) lua_content: Option<Arc<crate::http::lua::directives::LuaHandler>>,
    pub(crate) lua_log: Option<Arc<crate::http::lua::directives::LuaHandler>>,
    pub(crate) lua_header_filter: Option<Arc<crate::http::lua::directives::LuaHandler>>,
    pub(crate) lua_body_filter: Option<Arc<crate::http::lua::directives::LuaHandler>>,
    /// The `http` level's Lua values (init handlers, package paths, shared dicts).
    pub(crate) lua_main: Option<Arc<crate::http::lua::LuaConf>>,
    /// `lua_need_request_body on|off`.
    pub(crate) lua_need_request_body: Option<bool>,
    // limit_req and limit_conn (engine/src/http/limit_req.rs, limit_conn.rs).
    /// The `http` level's `limit_req_zone`s and `limit_conn_zone`s.
    pub(crate) limit_zones: Option<Arc<Vec<crate::http::limit_req::Zone>>>,
    pub(crate) limit_reqs: Option<Arc<Vec<crate::http::limit_req::Limit>>>,
    pub(crate) limit_req_log_level: Option<crate::log::Level>,
    pub(crate) limit_req_status: Option<u16>,
    pub(crate) limit_req_dry_run: Option<bool>,
    pub(crate) limit_conns: Option<Arc<Vec<crate::http::limit_conn::ConnLimit>>>,
    pub(crate) limit_conn_log_level: Option<crate::log::Level>,
    pub(crate) limit_conn_status: Option<u16>,
    pub(crate) limit_conn_dry_run: Option<bool>,
    /// `msie_padding on|off` (error pages for MSIE and Chrome).
    pub(crate) msie_padding: Option<bool>,
    // echo and headers-more (engine/src/http/echo.rs, headers_more.rs).
    /// The echo content commands (a content handler: not inherited).
    pub(crate) echo_handler: Vec<crate::http::echo::EchoRun>,
    pub(crate) echo_before: Option<Arc<Vec<crate::http::echo::EchoRun>>>,
    pub(crate) echo_after: Option<Arc<Vec<crate::http::echo::EchoRun>>>,
    pub(crate) echo_status: Option<u16>,
    /// more_set_headers / more_clear_headers (parent's first, see headers_more::merge).
    pub(crate) more_output: Vec<Arc<crate::http::headers_more::MoreRun>>,
    /// more_set_input_headers / more_clear_input_headers.
    pub(crate) more_input: Vec<Arc<crate::http::headers_more::MoreRun>>,
    // Lua cosockets (engine/src/http/lua/socket.rs): lua_socket_* and `resolver`.
    pub(crate) lua_socket_connect_timeout: Option<Duration>,
    pub(crate) lua_socket_send_timeout: Option<Duration>,
    pub(crate) lua_socket_read_timeout: Option<Duration>,
    pub(crate) lua_socket_keepalive_timeout: Option<Duration>,
    pub(crate) lua_socket_buffer_size: Option<usize>,
    pub(crate) lua_socket_pool_size: Option<usize>,
    pub(crate) lua_socket_log_errors: Option<bool>,
    /// `resolver` addresses (names resolved at configuration time).
    pub(crate) lua_resolver: Option<Arc<Vec<std::net::SocketAddr>>>,
    pub(crate) lua_resolver_timeout: Option<Duration>,
    // proxy_pass and upstreams (engine/src/http/proxy_run.rs, merged there).
    pub(crate) proxy: Option<Arc<crate::http::proxy_run::ProxyConf>>,
    /// `lua_ssl_trusted_certificate` (for `sslhandshake` with verification).
    pub(crate) lua_ssl_trusted_certificate: Option<String>,
    // The request body as Lua sees it (engine/src/http/lua/mod.rs lowers these).
    /// `client_body_in_file_only off|on|clean` as 0, 1, 2.
    pub(crate) client_body_in_file_only: Option<u8>,
    pub(crate) client_body_buffer_size: Option<u64>,
    /// `lua_transform_underscores_in_response_headers on|off`.
    pub(crate) lua_transform_underscores: Option<bool>,
    /// `lua_use_default_type on|off`.
    pub(crate) lua_use_default_type: Option<bool>,
    /// `server_rewrite_by_lua*` (http or server level).
    pub(crate) lua_server_rewrite: Option<Arc<crate::http::lua::directives::LuaHandler>>,
    // mirror and auth_request (engine/src/http/mirror.rs, auth_request.rs).
    /// `mirror uri ...` (`Some(None)`: off).
    pub(crate) mirror: Option<Option<Arc<Vec<Vec<u8>>>>>,
    pub(crate) mirror_request_body: Option<bool>,
    /// `auth_request uri` (`Some(None)`: off).
    pub(crate) auth_request: Option<Option<Vec<u8>>>,
    /// `auth_request_set $var value` (variable names lower-cased).
    pub(crate) auth_request_set: Option<Arc<crate::http::auth_request::Sets>>,
    pub(crate) log_subrequest: Option<bool>,
    /// `ssl_client_hello_by_lua*` (http or server level; engine/src/http/lua/ssl.rs).
    pub(crate) lua_ssl_client_hello: Option<Arc<crate::http::lua::directives::LuaHandler>>,
    /// `ssl_certificate_by_lua*` (http or server level; engine/src/http/lua/ssl.rs).
    pub(crate) lua_ssl_cert: Option<Arc<crate::http::lua::directives::LuaHandler>>,
    // fastcgi_pass (engine/src/http/fastcgi_run.rs, merged there).
    pub(crate) fastcgi: Option<Arc<crate::http::fastcgi_run::FcgiConf>>,
    /// `ssl_session_fetch_by_lua*` (http level; engine/src/http/lua/ssl.rs).
    pub(crate) lua_ssl_sess_fetch: Option<Arc<crate::http::lua::directives::LuaHandler>>,
    /// `ssl_session_store_by_lua*` (http level; engine/src/http/lua/ssl.rs).
    pub(crate) lua_ssl_sess_store: Option<Arc<crate::http::lua::directives::LuaHandler>>,
    /// `lua_http10_buffering` (engine/src/http/lua/api.rs).
    pub(crate) lua_http10_buffering: Option<bool>,
    /// `lua_check_client_abort` (engine/src/http/lua/api.rs, ngx.on_abort).
    pub(crate) lua_check_client_abort: Option<bool>,
    /// `resolver ... valid=time` (`Some(None)`: a resolver without it; upstream_resolve.rs).
    pub(crate) resolver_valid: Option<Option<std::time::Duration>>,
    /// `error_log` at this level (nginx: clcf->error_log): the request's lines go there
    /// instead of the main logs.
    pub(crate) error_log: Option<Arc<Vec<Arc<crate::http::errlog::ErrorLog>>>>,
    /// `valid_referers` (nginx: the referer module's hash and regexes).
    pub(crate) referers: Option<Arc<crate::http::referer::RefererRt>>,
    /// `sendfile on|off` (engine/src/http/file_body.rs).
    pub(crate) sendfile: Option<bool>,
    /// `sendfile_max_chunk size` (0: no limit).
    pub(crate) sendfile_max_chunk: Option<u64>,
    /// `limit_rate` / `limit_rate_after` (sizes, possibly with variables).
    pub(crate) limit_rate: Option<ComplexValue>,
    pub(crate) limit_rate_after: Option<ComplexValue>,
    /// `dav_methods`, `dav_access`, `create_full_put_path`, `min_delete_depth`
    /// (engine/src/http/dav.rs).
    pub(crate) dav_methods: Option<u8>,
    pub(crate) dav_access: Option<u32>,
    pub(crate) create_full_put_path: Option<bool>,
    pub(crate) min_delete_depth: Option<u64>,
    /// `empty_gif` in this location (a content handler: not inherited).
    pub(crate) empty_gif: bool,
    /// `random_index on|off`.
    pub(crate) random_index: Option<bool>,
    /// `secure_link`, `secure_link_md5`, `secure_link_secret` (engine/src/http/secure_link.rs;
    /// merged as nginx does, see [`LocConf::merge`]).
    pub(crate) secure_link: Option<ComplexValue>,
    pub(crate) secure_link_md5: Option<ComplexValue>,
    pub(crate) secure_link_secret: Option<Vec<u8>>,
    /// set_misc (engine/src/http/set_misc.rs): `set_base32_padding`, `set_base32_alphabet`.
    pub(crate) base32_padding: Option<bool>,
    pub(crate) base32_alphabet: Option<Arc<crate::http::set_misc::Base32Alphabet>>,
    /// set_misc: this level's `set_rotate` counter (not inherited: each level has its own).
    pub(crate) set_rotate: Arc<crate::http::set_misc::Rotate>,
    /// The http block's ndk `upstream_list`s (set_misc's `set_hashed_upstream`).
    pub(crate) upstream_lists: Option<Arc<Vec<crate::http::ndk::UpstreamList>>>,
    /// ngx_http_ssi_filter_module (engine/src/http/ssi.rs): `ssi`, `ssi_silent_errors`,
    /// `ssi_value_length`, `ssi_types`, `ssi_last_modified`.
    pub(crate) ssi: Option<bool>,
    pub(crate) ssi_silent_errors: Option<bool>,
    pub(crate) ssi_value_length: Option<usize>,
    pub(crate) ssi_types: Option<Arc<crate::http::gzip::TypeList>>,
    pub(crate) ssi_last_modified: Option<bool>,
    /// `gunzip on|off` (engine/src/http/gunzip.rs).
    pub(crate) gunzip: Option<bool>,
    /// `flv` / `mp4` in this location (content handlers: not inherited).
    pub(crate) flv: bool,
    pub(crate) mp4: bool,
    /// `mp4_*` sizes (engine/src/http/mp4.rs).
    pub(crate) mp4_conf: crate::http::mp4::Mp4Conf,
    /// `userid*` (engine/src/http/userid.rs; merged per field).
    pub(crate) userid: crate::http::userid::UidConf,
    /// `add_before_body`, `add_after_body`, `addition_types` (engine/src/http/addition.rs).
    pub(crate) addition: crate::http::addition::AddConf,
    /// `proxy_cache*` / `fastcgi_cache*` (engine/src/http/file_cache.rs; merged there).
    pub(crate) proxy_cache: Option<Arc<crate::http::file_cache::CacheConf>>,
    pub(crate) fastcgi_cache: Option<Arc<crate::http::file_cache::CacheConf>>,
    /// `slice size` (0: off; engine/src/http/slice.rs).
    pub(crate) slice: Option<u64>,
}

/// `server_tokens on|off|build`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerTokens {
    On,
    Off,
    Build,
}

/// `access_log path [format]` (`off` is an empty list).
#[derive(Debug, Clone)]
pub(crate) struct AccessLog {
    pub(crate) path: PathBuf,
    pub(crate) format: Arc<LogFormat>,
}

/// A `log_format`: literal and variable pieces.
#[derive(Debug)]
pub(crate) struct LogFormat {
    pub(crate) parts: Vec<Part>,
    pub(crate) escape: Escape,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escape {
    Default,
    Json,
    None,
}

/// One instruction of the rewrite module (nginx: the `ngx_http_script_*_code` sequence).
#[derive(Debug)]
pub(crate) enum Code {
    /// `set_by_lua* $var code [args]` (lua-nginx-module, engine/src/http/lua/).
    SetByLua(Arc<crate::http::lua::SetByLua>),
    Return {
        status: u16,
        text: Option<ComplexValue>,
        /// `text` when it is one literal (answered without a copy).
        lit: Option<bytes::Bytes>,
    },
    Rewrite(Box<Rewrite>),
    Set {
        name: Vec<u8>,
        value: ComplexValue,
    },
    /// A set-misc directive (`set_md5`, `set_escape_uri`, ...; engine/src/http/set_misc.rs).
    SetMisc(Arc<crate::http::set_misc::SetMisc>),
    /// `if (cond) { ... }`: the block's codes run inline, then the codes after it.
    If {
        cond: Cond,
        /// The block's location conf (`None` for a server-level `if`, as nginx).
        conf: Option<Arc<LocConf>>,
        script: Arc<Script>,
    },
    Break,
}

/// `rewrite regex replacement [flag]` (nginx: ngx_http_script_regex_code_t and its end code).
#[derive(Debug)]
pub(crate) struct Rewrite {
    pub(crate) regex: Regex,
    /// The pattern as written (the `rewrite_log` lines).
    pub(crate) pattern: Vec<u8>,
    /// The replacement; for internal rewrites only the part before its first literal `?`.
    pub(crate) uri: ComplexValue,
    /// An internal rewrite's arguments (after the first literal `?`).
    pub(crate) args: Option<ComplexValue>,
    /// The replacement has a literal `?` (nginx: `sc.args`).
    pub(crate) question: bool,
    /// No trailing `?`: the request's arguments are appended.
    pub(crate) add_args: bool,
    /// A redirect's status (301 or 302), `None` for an internal rewrite.
    pub(crate) redirect: Option<u16>,
    pub(crate) flag: RewriteFlag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RewriteFlag {
    None,
    Last,
    Break,
    Redirect,
    Permanent,
}

/// An `if` condition (nginx: the codes ngx_http_rewrite_if_condition emits).
#[derive(Debug)]
pub(crate) enum Cond {
    /// `($var)`: true unless empty or "0".
    Var(Vec<u8>),
    Eq {
        var: Vec<u8>,
        to: ComplexValue,
        negate: bool,
    },
    Match {
        var: Vec<u8>,
        regex: Regex,
        pattern: Vec<u8>,
        negate: bool,
    },
    File {
        path: ComplexValue,
        test: FileTest,
        negate: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileTest {
    File,
    Dir,
    Exists,
    Exec,
}

/// A level's rewrite instructions.
pub(crate) type Script = Vec<Code>;

impl LocConf {
    /// nginx: the modules' `merge_loc_conf`: what this level did not set comes from `parent`.
    fn merge(&mut self, parent: &LocConf) {
        macro_rules! inherit {
            ($($f:ident),*) => {$(
                if self.$f.is_none() {
                    self.$f = parent.$f.clone();
                }
            )*};
        }
        inherit!(
            root,
            index,
            default_type,
            types,
            error_pages,
            recursive_error_pages,
            keepalive_timeout,
            keepalive_requests,
            server_tokens,
            add_headers,
            etag,
            absolute_redirect,
            merge_slashes,
            realip_from,
            realip_header,
            realip_recursive,
            port_in_redirect,
            server_name_in_redirect,
            log_not_found,
            autoindex,
            client_max_body_size,
            access_log,
            expires,
            add_trailers,
            charset,
            source_charset,
            override_charset,
            charset_types,
            if_modified_since,
            max_ranges,
            autoindex_format,
            autoindex_localtime,
            autoindex_exact_size,
            gzip,
            gzip_types,
            gzip_min_length,
            gzip_comp_level,
            gzip_vary,
            gzip_proxied,
            gzip_http_10,
            gzip_disable,
            gzip_disable_msie6,
            gzip_static,
            sub_filters,
            sub_filter_once,
            sub_filter_types,
            sub_filter_last_modified,
            access_rules,
            auth_basic,
            auth_basic_user_file,
            satisfy_any,
            rewrite_log,
            uninitialized_variable_warn,
            keepalive_header,
            client_header_timeout,
            client_body_timeout,
            send_timeout,
            lingering_close,
            lingering_time,
            lingering_timeout,
            reset_timedout_connection,
            client_header_buffer_size,
            large_client_header_buffers,
            underscores_in_headers,
            ignore_invalid_headers,
            lua_rewrite,
            lua_access,
            lua_log,
            lua_header_filter,
            lua_body_filter,
            lua_main,
            lua_need_request_body,
            limit_zones,
            limit_reqs,
            limit_req_log_level,
            limit_req_status,
            limit_req_dry_run,
            limit_conns,
            limit_conn_log_level,
            limit_conn_status,
            limit_conn_dry_run,
            msie_padding,
            echo_before,
            echo_after,
            echo_status,
            lua_socket_connect_timeout,
            lua_socket_send_timeout,
            lua_socket_read_timeout,
            lua_socket_keepalive_timeout,
            lua_socket_buffer_size,
            lua_socket_pool_size,
            lua_socket_log_errors,
            lua_resolver,
            lua_resolver_timeout,
            lua_ssl_trusted_certificate,
            client_body_in_file_only,
            client_body_buffer_size,
            lua_transform_underscores,
            lua_use_default_type,
            lua_server_rewrite,
            mirror,
            mirror_request_body,
            auth_request,
            auth_request_set,
            log_subrequest,
            lua_ssl_client_hello,
            lua_ssl_cert,
            lua_ssl_sess_fetch,
            lua_ssl_sess_store,
            lua_http10_buffering,
            lua_check_client_abort,
            resolver_valid,
            error_log,
            referers,
            sendfile,
            sendfile_max_chunk,
            limit_rate,
            limit_rate_after,
            dav_methods,
            dav_access,
            create_full_put_path,
            min_delete_depth,
            random_index,
            base32_padding,
            base32_alphabet,
            upstream_lists,
            ssi,
            ssi_silent_errors,
            ssi_value_length,
            ssi_types,
            ssi_last_modified,
            gunzip,
            slice
        );
        // nginx: ngx_http_secure_link_merge_conf: a level's secret excludes the inherited
        // hash expressions; the secret is inherited only by a level without them.
        if self.secure_link_secret.is_none() {
            if self.secure_link.is_none() {
                self.secure_link = parent.secure_link.clone();
            }
            if self.secure_link_md5.is_none() {
                self.secure_link_md5 = parent.secure_link_md5.clone();
            }
            if self.secure_link.is_none() && self.secure_link_md5.is_none() {
                self.secure_link_secret = parent.secure_link_secret.clone();
            }
        }
        crate::http::headers_more::merge(self, parent);
        crate::http::proxy_run::merge(self, parent);
        crate::http::fastcgi_run::merge(self, parent);
        crate::http::userid::merge(&mut self.userid, &parent.userid);
        crate::http::addition::merge(&mut self.addition, &parent.addition);
        crate::http::mp4::merge(&mut self.mp4_conf, &parent.mp4_conf);
        crate::http::file_cache::merge(self, parent);
    }
}

/// What the lowering pass needs from outside the tree.
pub(crate) struct Lowering<'c> {
    pub(crate) prefix: &'c std::path::Path,
    pub(crate) formats: HashMap<Vec<u8>, Arc<LogFormat>>,
}

fn arg(d: &Directive, i: usize) -> &[u8] {
    d.args.get(i).map(Vec::as_slice).unwrap_or_default()
}

fn children(d: &Directive) -> &[Directive] {
    match &d.body {
        Body::Block(b) => &b.directives,
        _ => &[],
    }
}

/// A complex value from a directive argument (already checked by the parse pass).
fn cv(s: &[u8]) -> ComplexValue {
    crate::http::variables::parse_complex_value(s).unwrap_or_default()
}

fn flag(d: &Directive) -> bool {
    arg(d, 0).eq_ignore_ascii_case(b"on")
}

/// nginx: the default `combined` log format.
const COMBINED: &[u8] = b"$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\"";

/// nginx: ngx_http_block's end, for the runtime: builds the frozen http configuration.
pub(crate) fn lower(
    http: &Directive,
    prefix: &std::path::Path,
    conf_prefix: &std::path::Path,
) -> Http {
    // a new configuration has new peers, without saved TLS sessions (nginx: a new cycle)
    crate::http::proxy_ssl::reset_sessions();
    let mut lw = Lowering {
        prefix,
        formats: HashMap::new(),
    };
    lw.formats.insert(
        b"combined".to_vec(),
        Arc::new(LogFormat {
            parts: cv(COMBINED).parts,
            escape: Escape::Default,
        }),
    );
    let mut conf = LocConf::default();
    for d in children(http) {
        if d.name == b"log_format" {
            lw.log_format(d);
        }
    }
    for d in children(http) {
        lw.apply(&mut conf, d);
    }
    crate::http::set_misc::lower_http(&mut conf, children(http));
    // nginx's defaults at the http level (ngx_http_core_merge_loc_conf's NGX_CONF_UNSET).
    let defaults = LocConf {
        root: Some(Root {
            value: cv(b"html"),
            alias: false,
        }),
        index: Some(vec![cv(b"index.html")]),
        default_type: Some(b"text/plain".to_vec()),
        types: Some(Arc::new(default_types())),
        keepalive_timeout: Some(Duration::from_secs(75)),
        keepalive_requests: Some(1000),
        server_tokens: Some(ServerTokens::On),
        etag: Some(true),
        absolute_redirect: Some(true),
        port_in_redirect: Some(true),
        server_name_in_redirect: Some(false),
        log_not_found: Some(true),
        autoindex: Some(false),
        recursive_error_pages: Some(false),
        client_max_body_size: Some(1 << 20),
        access_log: Some(vec![AccessLog {
            path: full_name(prefix, b"logs/access.log"),
            format: lw.formats[b"combined".as_slice()].clone(),
        }]),
        ..LocConf::default()
    };
    conf.merge(&defaults);
    let conf = Arc::new(conf);

    let mut servers = Vec::new();
    let mut listens: Vec<(Listen, usize)> = Vec::new();
    for d in children(http).iter().filter(|d| d.name == b"server") {
        let idx = servers.len();
        let (server, ls) = lw.server(d, &conf);
        servers.push(Arc::new(server));
        for l in ls {
            listens.push((l, idx));
        }
        if !children(d).iter().any(|c| c.name == b"listen") {
            // nginx: a server without listen listens on *:80 (8000 when not root).
            let port = if unsafe { libc::geteuid() } == 0 {
                80
            } else {
                8000
            };
            listens.push((
                Listen {
                    addr: ListenAddr::Inet(SocketAddr::new(
                        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                        port,
                    )),
                    text: format!("0.0.0.0:{port}"),
                    default_server: false,
                    backlog: 511,
                    ssl: false,
                    http2: false,
                    proxy_protocol: false,
                },
                idx,
            ));
        }
    }
    let mut addrs: Vec<Addr> = Vec::new();
    for (l, idx) in listens {
        match addrs.iter_mut().find(|a| a.addr == l.addr) {
            Some(a) => {
                if !a.servers.contains(&idx) {
                    a.servers.push(idx);
                }
                if l.default_server {
                    a.default_server = idx;
                }
                a.ssl |= l.ssl;
                a.http2 |= l.http2;
                a.proxy_protocol |= l.proxy_protocol;
            }
            None => addrs.push(Addr {
                addr: l.addr,
                text: l.text,
                backlog: l.backlog,
                default_server: idx,
                servers: vec![idx],
                ssl: l.ssl,
                http2: l.http2,
                tls: None,
                proxy_protocol: l.proxy_protocol,
            }),
        }
    }
    // nginx: certificate and key file names are relative to the configuration's directory.
    crate::http::ssl::lower(http, conf_prefix, &mut addrs);
    let (lazy_vars, set_vars) = crate::http::vars_runtime::lower(http);
    Http {
        prefix: prefix.to_path_buf(),
        conf_prefix: conf_prefix.to_path_buf(),
        addrs,
        servers,
        lazy_vars,
        set_vars,
    }
}

/// No `http` block: nothing to serve.
pub(crate) fn empty(prefix: &std::path::Path) -> Http {
    Http {
        prefix: prefix.to_path_buf(),
        conf_prefix: prefix.join("conf"),
        addrs: Vec::new(),
        servers: Vec::new(),
        lazy_vars: HashMap::new(),
        set_vars: std::collections::HashSet::new(),
    }
}

/// One `listen` of a server.
struct Listen {
    addr: ListenAddr,
    text: String,
    default_server: bool,
    backlog: i32,
    ssl: bool,
    http2: bool,
    proxy_protocol: bool,
}

/// nginx: ngx_http_core_listen's address forms (already validated by the parse pass).
fn listen(d: &Directive) -> Vec<Listen> {
    let a = arg(d, 0);
    let mut default_server = false;
    let mut backlog = 511;
    let (mut ssl, mut http2, mut proxy_protocol) = (false, false, false);
    for p in d.args.iter().skip(1) {
        if p == b"default_server" || p == b"default" {
            default_server = true;
        } else if p == b"ssl" {
            ssl = true;
        } else if p == b"http2" {
            http2 = true;
        } else if p == b"proxy_protocol" {
            proxy_protocol = true;
        } else if let Some(v) = p.strip_prefix(b"backlog=") {
            backlog = atoi(v).and_then(|n| i32::try_from(n).ok()).unwrap_or(511);
        }
    }
    let mk = |addr: ListenAddr, text: String| Listen {
        addr,
        text,
        default_server,
        backlog,
        ssl,
        http2,
        proxy_protocol,
    };
    if let Some(path) = a.strip_prefix(b"unix:") {
        let p = PathBuf::from(String::from_utf8_lossy(path).into_owned());
        return vec![mk(
            ListenAddr::Unix(p),
            String::from_utf8_lossy(a).into_owned(),
        )];
    }
    if let Some(rest) = a.strip_prefix(b"[") {
        let Some(end) = rest.iter().position(|&c| c == b']') else {
            return Vec::new();
        };
        let ip: Option<Ipv6Addr> = std::str::from_utf8(&rest[..end])
            .ok()
            .and_then(|s| s.parse().ok());
        let port = rest
            .get(end + 1..)
            .and_then(|p| p.strip_prefix(b":"))
            .and_then(atoi)
            .unwrap_or(80);
        let (Some(ip), Ok(port)) = (ip, u16::try_from(port)) else {
            return Vec::new();
        };
        let sa = SocketAddr::new(IpAddr::V6(ip), port);
        return vec![mk(ListenAddr::Inet(sa), format!("[{ip}]:{port}"))];
    }
    let (host, port) = match a.iter().rposition(|&c| c == b':') {
        Some(i) => (&a[..i], atoi(&a[i + 1..])),
        None if atoi(a).is_some() => (&b""[..], atoi(a)),
        None => (a, Some(80)),
    };
    let Some(port) = port.and_then(|p| u16::try_from(p).ok()) else {
        return Vec::new();
    };
    let ips: Vec<IpAddr> = if host.is_empty() || host == b"*" {
        vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)]
    } else {
        crate::http::core::resolve_host(host).unwrap_or_default()
    };
    ips.into_iter()
        .map(|ip| {
            let sa = SocketAddr::new(ip, port);
            mk(ListenAddr::Inet(sa), sa.to_string())
        })
        .collect()
}

impl Lowering<'_> {
    fn log_format(&mut self, d: &Directive) {
        let mut escape = Escape::Default;
        let mut rest = d.args.iter().skip(1).peekable();
        if let Some(e) = rest.peek().and_then(|a| a.strip_prefix(b"escape=")) {
            escape = match e {
                b"json" => Escape::Json,
                b"none" => Escape::None,
                _ => Escape::Default,
            };
            rest.next();
        }
        let text: Vec<u8> = rest.flat_map(|a| a.iter().copied()).collect();
        self.formats.insert(
            arg(d, 0).to_vec(),
            Arc::new(LogFormat {
                parts: cv(&text).parts,
                escape,
            }),
        );
    }

    /// Folds one directive of a level into that level's conf (nginx: the setters, for the
    /// values the runtime uses).
    fn apply(&self, c: &mut LocConf, d: &Directive) {
        match d.name.as_slice() {
            b"root" | b"alias" => {
                c.root = Some(Root {
                    value: cv(arg(d, 0)),
                    alias: d.name == b"alias",
                })
            }
            b"index" => c.index = Some(d.args.iter().map(|a| cv(a)).collect()),
            b"default_type" => c.default_type = Some(arg(d, 0).to_vec()),
            b"types" => {
                let mut map = HashMap::new();
                for t in children(d) {
                    for ext in &t.args {
                        map.insert(ext.to_ascii_lowercase(), t.name.clone());
                    }
                }
                c.types = Some(Arc::new(map));
            }
            b"error_log" => crate::http::errlog::lower(c, d, self.prefix),
            b"valid_referers" => crate::http::referer::lower(c, d),
            b"dav_methods" | b"dav_access" | b"create_full_put_path" | b"min_delete_depth" => {
                crate::http::dav::lower(c, d)
            }
            b"error_page" => {
                let pages = c.error_pages.get_or_insert_with(Vec::new);
                let uri = cv(d.args.last().map(Vec::as_slice).unwrap_or_default());
                let mut overwrite = None;
                for a in &d.args[..d.args.len().saturating_sub(1)] {
                    if let Some(o) = a.strip_prefix(b"=") {
                        overwrite = Some(atoi(o).and_then(|n| u16::try_from(n).ok()));
                        continue;
                    }
                    if let Some(status) = atoi(a).and_then(|n| u16::try_from(n).ok()) {
                        pages.push(ErrorPage {
                            status,
                            overwrite: None,
                            uri: uri.clone(),
                        });
                    }
                }
                if overwrite.is_some() {
                    for p in pages.iter_mut().filter(|p| p.overwrite.is_none()) {
                        p.overwrite = overwrite;
                    }
                }
            }
            b"recursive_error_pages" => c.recursive_error_pages = Some(flag(d)),
            b"keepalive_timeout" => {
                c.keepalive_timeout = parse_time(arg(d, 0), true)
                    .and_then(|s| u64::try_from(s).ok())
                    .map(Duration::from_secs);
                c.keepalive_header = Some(crate::http::head::keepalive_header(d));
            }
            _ if crate::http::head::apply(c, d) => {}
            b"keepalive_requests" => {
                c.keepalive_requests = atoi(arg(d, 0)).and_then(|n| u64::try_from(n).ok())
            }
            b"server_tokens" => {
                c.server_tokens = Some(match arg(d, 0) {
                    b"off" => ServerTokens::Off,
                    b"build" => ServerTokens::Build,
                    _ => ServerTokens::On,
                })
            }
            b"try_files" => {
                let mut files: Vec<ComplexValue> = d.args.iter().map(|a| cv(a)).collect();
                if let Some(last) = files.pop() {
                    c.try_files = Some(TryFiles { files, last });
                }
            }
            b"add_header" => c.add_headers.get_or_insert_with(Vec::new).push(AddHeader {
                name: arg(d, 0).to_vec(),
                value: cv(arg(d, 1)),
                always: arg(d, 2) == b"always",
            }),
            b"etag" => c.etag = Some(flag(d)),
            b"absolute_redirect" => c.absolute_redirect = Some(flag(d)),
            b"merge_slashes" => c.merge_slashes = Some(flag(d)),
            b"set_real_ip_from" | b"real_ip_header" | b"real_ip_recursive" => {
                crate::http::realip::lower(c, d)
            }
            b"port_in_redirect" => c.port_in_redirect = Some(flag(d)),
            b"server_name_in_redirect" => c.server_name_in_redirect = Some(flag(d)),
            b"log_not_found" => c.log_not_found = Some(flag(d)),
            b"autoindex" => c.autoindex = Some(flag(d)),
            b"client_max_body_size" => c.client_max_body_size = parse_offset(arg(d, 0)),
            b"internal" => c.internal = true,
            b"uwsgi_pass" => c.unsupported_handler = Some("uwsgi_pass"),
            b"scgi_pass" => c.unsupported_handler = Some("scgi_pass"),
            b"grpc_pass" => c.unsupported_handler = Some("grpc_pass"),
            b"memcached_pass" => c.unsupported_handler = Some("memcached_pass"),
            b"mirror" | b"mirror_request_body" => crate::http::mirror::lower(c, d),
            b"auth_request" | b"auth_request_set" => crate::http::auth_request::lower(c, d),
            b"log_subrequest" => c.log_subrequest = Some(flag(d)),
            _ if crate::http::lua::lower(c, d) => {}
            _ if crate::http::limit_req::apply(c, d) => {}
            _ if crate::http::echo::lower(c, d) => {}
            _ if crate::http::headers_more::lower(c, d) => {}
            b"slice" => crate::http::slice::lower(c, d),
            _ if crate::http::file_cache::lower(c, d, self.prefix) => {}
            _ if crate::http::proxy_run::lower(c, d) => {}
            _ if crate::http::fastcgi_run::lower(c, d) => {}
            b"msie_padding" => c.msie_padding = Some(flag(d)),
            b"stub_status" => c.stub_status = true,
            b"empty_gif" => c.empty_gif = true,
            b"random_index" => crate::http::random_index::lower(c, d),
            b"secure_link" => c.secure_link = Some(cv(arg(d, 0))),
            b"secure_link_md5" => c.secure_link_md5 = Some(cv(arg(d, 0))),
            b"secure_link_secret" => c.secure_link_secret = Some(arg(d, 0).to_vec()),
            _ if crate::http::set_misc::apply(c, d) => {}
            b"flv" => c.flv = true,
            _ if crate::http::gunzip::lower(c, d) => {}
            _ if crate::http::userid::lower(c, d) => {}
            _ if crate::http::addition::lower(c, d) => {}
            _ if crate::http::mp4::lower(c, d) => {}
            b"rewrite_log" => c.rewrite_log = Some(flag(d)),
            b"uninitialized_variable_warn" => c.uninitialized_variable_warn = Some(flag(d)),
            b"expires" | b"add_trailer" => crate::http::headers::lower(c, d),
            b"charset" | b"source_charset" | b"override_charset" | b"charset_types" => {
                crate::http::charset::lower(c, d)
            }
            b"limit_rate" => c.limit_rate = Some(cv(arg(d, 0))),
            b"limit_rate_after" => c.limit_rate_after = Some(cv(arg(d, 0))),
            b"if_modified_since" | b"max_ranges" | b"sendfile" | b"sendfile_max_chunk" => {
                crate::http::static_file::lower(c, d)
            }
            b"autoindex_format" | b"autoindex_localtime" | b"autoindex_exact_size" => {
                crate::http::autoindex::lower(c, d)
            }
            b"gzip" | b"gzip_types" | b"gzip_min_length" | b"gzip_comp_level" | b"gzip_vary"
            | b"gzip_proxied" | b"gzip_http_version" | b"gzip_disable" => {
                crate::http::gzip::lower(c, d)
            }
            b"gzip_static" => crate::http::gzip_static::lower(c, d),
            b"sub_filter"
            | b"sub_filter_once"
            | b"sub_filter_types"
            | b"sub_filter_last_modified" => crate::http::sub::lower(c, d),
            b"ssi" | b"ssi_silent_errors" | b"ssi_value_length" | b"ssi_types"
            | b"ssi_last_modified" => crate::http::ssi::lower(c, d),
            b"allow" | b"deny" => crate::http::access::lower(c, d),
            b"auth_basic" | b"auth_basic_user_file" | b"satisfy" => {
                crate::http::auth_basic::lower(c, d)
            }
            b"access_log" => {
                let logs = c.access_log.get_or_insert_with(Vec::new);
                let path = arg(d, 0);
                if path != b"off" && !path.starts_with(b"syslog:") {
                    let name = if d.args.len() > 1 {
                        arg(d, 1)
                    } else {
                        b"combined"
                    };
                    if let Some(format) = self.formats.get(name) {
                        logs.push(AccessLog {
                            path: full_name(self.prefix, path),
                            format: format.clone(),
                        });
                    }
                }
            }
            _ => {}
        }
    }

    /// Folds a level's directives, then inherits from `parent`.
    fn level(&self, ds: &[Directive], parent: &LocConf) -> LocConf {
        let mut c = LocConf::default();
        for d in ds {
            self.apply(&mut c, d);
        }
        c.merge(parent);
        c
    }

    fn server(&self, d: &Directive, http: &Arc<LocConf>) -> (Server, Vec<Listen>) {
        let ds = children(d);
        let conf = Arc::new(self.level(ds, http));
        let mut names = Vec::new();
        let mut first = None;
        let mut listens = Vec::new();
        for c in ds {
            match c.name.as_slice() {
                b"listen" => listens.extend(listen(c)),
                b"server_name" => {
                    for n in &c.args {
                        if first.is_none() {
                            first = Some(n.clone());
                        }
                        if let Some(name) = server_name(n) {
                            names.push(name);
                        }
                    }
                }
                _ => {}
            }
        }
        let script = Arc::new(self.server_script(ds, &conf));
        let mut named = HashMap::new();
        let locations = self.locations(ds, &conf, &mut named);
        let server = Server {
            names,
            name: first.unwrap_or_default(),
            conf,
            script,
            locations,
            named,
        };
        (server, listens)
    }

    fn locations(
        &self,
        ds: &[Directive],
        parent: &Arc<LocConf>,
        named: &mut HashMap<Vec<u8>, Arc<Location>>,
    ) -> Locations {
        let mut out = Locations::default();
        for d in ds.iter().filter(|d| d.name == b"location") {
            let (kind, name) = match (d.args.len(), arg(d, 0)) {
                (2, b"=") => (LocKind::Exact, arg(d, 1)),
                (2, b"^~") => (LocKind::Prefix { noregex: true }, arg(d, 1)),
                (2, m @ (b"~" | b"~*")) => match crate::regex::build(arg(d, 1), m == b"~*") {
                    Ok(re) => (LocKind::Regex(re), arg(d, 1)),
                    Err(_) => continue,
                },
                (1, n) if n.starts_with(b"@") => (LocKind::Named, n),
                (1, n) if n.starts_with(b"=") => (LocKind::Exact, &n[1..]),
                (1, n) if n.starts_with(b"^~") => (LocKind::Prefix { noregex: true }, &n[2..]),
                (1, n) if n.starts_with(b"~*") => match crate::regex::build(&n[2..], true) {
                    Ok(re) => (LocKind::Regex(re), &n[2..]),
                    Err(_) => continue,
                },
                (1, n) if n.starts_with(b"~") => match crate::regex::build(&n[1..], false) {
                    Ok(re) => (LocKind::Regex(re), &n[1..]),
                    Err(_) => continue,
                },
                (_, n) => (LocKind::Prefix { noregex: false }, n),
            };
            let inner = children(d);
            let mut conf = self.level(inner, parent);
            conf.internal = inner.iter().any(|c| c.name == b"internal");
            let conf = Arc::new(conf);
            let script = Arc::new(self.script(inner, &conf));
            let locations = self.locations(inner, &conf, named);
            let loc = Arc::new(Location {
                name: name.to_vec(),
                kind,
                conf,
                script,
                locations,
            });
            match loc.kind {
                LocKind::Named => {
                    named.entry(loc.name.clone()).or_insert(loc);
                }
                LocKind::Regex(_) => out.regexes.push(loc),
                _ => out.statics.push(loc),
            }
        }
        out
    }

    /// The rewrite module's instructions of one location level, in order.
    fn script(&self, ds: &[Directive], conf: &Arc<LocConf>) -> Script {
        self.script_at(ds, conf, false)
    }

    /// The rewrite module's instructions of a server level (its `if`s keep the conf).
    fn server_script(&self, ds: &[Directive], conf: &Arc<LocConf>) -> Script {
        self.script_at(ds, conf, true)
    }

    /// nginx: the setters of ngx_http_rewrite_module compiling `ds` into codes.
    fn script_at(&self, ds: &[Directive], conf: &Arc<LocConf>, server: bool) -> Script {
        let mut s = Vec::new();
        for d in ds {
            match d.name.as_slice() {
                b"return" => {
                    let (status, text) = match atoi(arg(d, 0)) {
                        Some(code) => (
                            u16::try_from(code).unwrap_or(500),
                            (d.args.len() > 1).then(|| cv(arg(d, 1))),
                        ),
                        None => (302, Some(cv(arg(d, 0)))),
                    };
                    let lit = match text.as_ref().map(|t| &t.parts[..]) {
                        Some([Part::Lit(l)]) => Some(bytes::Bytes::copy_from_slice(l)),
                        _ => None,
                    };
                    s.push(Code::Return { status, text, lit });
                }
                b"rewrite" => {
                    if let Some(rw) = rewrite(d) {
                        s.push(Code::Rewrite(Box::new(rw)));
                    }
                }
                b"set" => s.push(Code::Set {
                    name: arg(d, 0).strip_prefix(b"$").unwrap_or_default().to_vec(),
                    value: cv(arg(d, 1)),
                }),
                b"break" => s.push(Code::Break),
                b"set_by_lua" | b"set_by_lua_block" | b"set_by_lua_file" => {
                    if let Some(x) = crate::http::lua::set_by_lua(d) {
                        s.push(Code::SetByLua(x));
                    }
                }
                b"if" => {
                    let Some(cond) = condition(&d.args) else {
                        continue;
                    };
                    let inner = children(d);
                    let mut c = self.level(inner, conf);
                    c.internal = false;
                    let c = Arc::new(c);
                    let script = Arc::new(self.script_at(inner, &c, server));
                    s.push(Code::If {
                        cond,
                        conf: (!server).then_some(c),
                        script,
                    });
                }
                _ => {
                    if let Some(x) = crate::http::set_misc::lower(d, conf) {
                        s.push(Code::SetMisc(x));
                    }
                }
            }
        }
        s
    }
}

/// nginx: ngx_http_rewrite: the regex, the replacement split at its first literal `?`
/// (internal rewrites), the redirect status and whether the request's arguments are added.
fn rewrite(d: &Directive) -> Option<Rewrite> {
    let pattern = arg(d, 0);
    let regex = crate::regex::build(pattern, false).ok()?;
    let mut value = arg(d, 1);
    let add_args = match value.strip_suffix(b"?") {
        Some(v) => {
            value = v;
            false
        }
        None => true,
    };
    let mut redirect = (value.starts_with(b"http://")
        || value.starts_with(b"https://")
        || value.starts_with(b"$scheme"))
    .then_some(302);
    let flag = match arg(d, 2) {
        b"last" => RewriteFlag::Last,
        b"break" => RewriteFlag::Break,
        b"redirect" => RewriteFlag::Redirect,
        b"permanent" => RewriteFlag::Permanent,
        _ => RewriteFlag::None,
    };
    match flag {
        RewriteFlag::Redirect => redirect = Some(302),
        RewriteFlag::Permanent => redirect = Some(301),
        _ => {}
    }
    let parts = cv(value).parts;
    let question = parts
        .iter()
        .any(|p| matches!(p, Part::Lit(l) if l.contains(&b'?')));
    let (uri, args) = if redirect.is_none() && question {
        split_args(parts)
    } else {
        (ComplexValue { parts }, None)
    };
    Some(Rewrite {
        regex,
        pattern: pattern.to_vec(),
        uri,
        args,
        question,
        add_args,
        redirect,
        flag,
    })
}

/// Splits a replacement at its first literal `?` (nginx: ngx_http_script_add_args_code).
fn split_args(parts: Vec<Part>) -> (ComplexValue, Option<ComplexValue>) {
    let mut uri = Vec::new();
    let mut args: Option<Vec<Part>> = None;
    for p in parts {
        if let Some(a) = args.as_mut() {
            a.push(p);
            continue;
        }
        match p {
            Part::Lit(l) if l.contains(&b'?') => {
                let i = l.iter().position(|&c| c == b'?').unwrap_or(l.len());
                if i > 0 {
                    uri.push(Part::Lit(l[..i].to_vec()));
                }
                let rest = l.get(i + 1..).unwrap_or_default();
                let mut a = Vec::new();
                if !rest.is_empty() {
                    a.push(Part::Lit(rest.to_vec()));
                }
                args = Some(a);
            }
            p => uri.push(p),
        }
    }
    (
        ComplexValue { parts: uri },
        args.map(|parts| ComplexValue { parts }),
    )
}

/// nginx: ngx_http_server_names' forms.
fn server_name(n: &[u8]) -> Option<ServerName> {
    if let Some(re) = n.strip_prefix(b"~") {
        return crate::regex::build(re, false).ok().map(ServerName::Regex);
    }
    let n = n.to_ascii_lowercase();
    if let Some(rest) = n.strip_prefix(b"*.") {
        let mut suffix = b".".to_vec();
        suffix.extend_from_slice(rest);
        return Some(ServerName::Head { suffix, dot: false });
    }
    if n.starts_with(b".") {
        return Some(ServerName::Head {
            suffix: n,
            dot: true,
        });
    }
    if let Some(head) = n.strip_suffix(b"*") {
        return Some(ServerName::Tail(head.to_vec()));
    }
    Some(ServerName::Exact(n))
}

/// nginx: ngx_http_rewrite_if_condition, for the runtime (already validated): the same
/// argument walk (`cur`/`last` after taking off the parentheses).
fn condition(args: &[Vec<u8>]) -> Option<Cond> {
    let mut value: Vec<Vec<u8>> = args.to_vec();
    let first = value.first()?.clone();
    let cur = if first.len() == 1 {
        1
    } else {
        value[0] = first.get(1..)?.to_vec();
        0
    };
    let mut last = value.len() - 1;
    let lv = value[last].clone();
    if lv.len() == 1 {
        last = last.checked_sub(1)?;
    } else {
        value[last] = lv[..lv.len() - 1].to_vec();
    }
    let p = value.get(cur)?.clone();
    if p.len() > 1 && p[0] == b'$' {
        let var = p[1..].to_vec();
        if cur == last {
            return Some(Cond::Var(var));
        }
        let op = value.get(cur + 1)?.as_slice();
        let rhs = value.get(last)?;
        return match op {
            b"=" | b"!=" => Some(Cond::Eq {
                var,
                to: cv(rhs),
                negate: op == b"!=",
            }),
            b"~" | b"~*" | b"!~" | b"!~*" => Some(Cond::Match {
                var,
                regex: crate::regex::build(rhs, op.ends_with(b"*")).ok()?,
                pattern: rhs.clone(),
                negate: op.starts_with(b"!"),
            }),
            _ => None,
        };
    }
    let (negate, op) = match p.strip_prefix(b"!") {
        Some(o) => (true, o),
        None => (false, p.as_slice()),
    };
    let test = match op {
        b"-f" => FileTest::File,
        b"-d" => FileTest::Dir,
        b"-e" => FileTest::Exists,
        b"-x" => FileTest::Exec,
        _ => return None,
    };
    Some(Cond::File {
        path: cv(value.get(last)?),
        test,
        negate,
    })
}

/// nginx's built-in types when no `types` block is configured (ngx_http_core_default_types).
fn default_types() -> HashMap<Vec<u8>, Vec<u8>> {
    [
        ("html", "text/html"),
        ("gif", "image/gif"),
        ("jpg", "image/jpeg"),
    ]
    .into_iter()
    .map(|(e, t)| (e.as_bytes().to_vec(), t.as_bytes().to_vec()))
    .collect()
}

#[cfg(test)]
mod rewrite_tests {
    use super::{condition, rewrite, Cond, FileTest, Part, RewriteFlag};

    fn args(s: &str) -> Vec<Vec<u8>> {
        s.split(' ').map(|a| a.as_bytes().to_vec()).collect()
    }

    /// The first directive of `text`, parsed as a configuration file.
    fn directive(text: &str) -> parser::Directive {
        let path = std::env::temp_dir().join(format!(
            "oxresty-rt-{}-{:?}.conf",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::write(&path, text);
        let opts = parser::Options {
            conf_prefix: "/".into(),
        };
        let conf = parser::parse_file(&path, &opts);
        let _ = std::fs::remove_file(&path);
        conf.directives
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{text}"))
    }

    #[test]
    fn conditions() {
        assert!(matches!(condition(&args("($a)")), Some(Cond::Var(v)) if v == b"a"));
        assert!(matches!(condition(&args("( $a )")), Some(Cond::Var(v)) if v == b"a"));
        assert!(matches!(
            condition(&args("( $a != x )")),
            Some(Cond::Eq { negate: true, .. })
        ));
        assert!(matches!(
            condition(&args("($a ~* ^(x)$)")),
            Some(Cond::Match { negate: false, pattern, .. }) if pattern == b"^(x)$"
        ));
        assert!(matches!(
            condition(&args("(!-x /a)")),
            Some(Cond::File {
                test: FileTest::Exec,
                negate: true,
                ..
            })
        ));
        assert!(condition(&args("(-q /a)")).is_none());
    }

    #[test]
    fn rewrites() {
        let lit = |s: &str| Part::Lit(s.as_bytes().to_vec());
        let rw =
            rewrite(&directive("rewrite ^/(.*)$ /a/$1?x=1?y last;")).unwrap_or_else(|| panic!());
        assert_eq!(rw.uri.parts, vec![lit("/a/"), Part::Capture(1)]);
        assert_eq!(rw.args.map(|a| a.parts), Some(vec![lit("x=1?y")]));
        assert!(rw.question && rw.add_args && rw.redirect.is_none());
        assert_eq!(rw.flag, RewriteFlag::Last);
        let rw = rewrite(&directive("rewrite ^ /b?;")).unwrap_or_else(|| panic!());
        assert!(!rw.add_args && !rw.question && rw.args.is_none());
        let rw =
            rewrite(&directive("rewrite ^ http://h/x?a=$1 break;")).unwrap_or_else(|| panic!());
        assert_eq!(rw.redirect, Some(302));
        assert!(rw.question && rw.args.is_none());
        let rw =
            rewrite(&directive("rewrite ^ $scheme://h permanent;")).unwrap_or_else(|| panic!());
        assert_eq!(rw.redirect, Some(301));
        let rw = rewrite(&directive("rewrite ^ /x redirect;")).unwrap_or_else(|| panic!());
        assert_eq!(rw.redirect, Some(302));
    }
}
