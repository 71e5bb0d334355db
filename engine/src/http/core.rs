//! ngx_http_core_module: `server`, `location`, `listen`, `server_name`, `root`/`alias`,
//! `types`, `limit_except`, `error_page`... and, at the end of `http`, the server merges,
//! location trees, server names and listening sockets (nginx: ngx_http_core_module.c and the
//! parts of ngx_http.c it drives).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use parser::{Body, Directive};

use crate::conf::dispatch::{Failed, Frame};
use crate::conf::values::{atoi, parse_offset, parse_size, parse_time};
use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};
use crate::cycle::{CycleConf, ListenAddr, Listening};
use crate::log::Level;

const M: Ctx = Ctx::HTTP_MAIN;
const MS: Ctx = Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV);
const MSL: Ctx = Ctx::HTTP_MSL;
const MSLI: Ctx = Ctx::HTTP_MSL.or(Ctx::HTTP_LIF);

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_core_module",
    commands: &[
        cmd(
            "variables_hash_max_size",
            M,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
        cmd(
            "variables_hash_bucket_size",
            M,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
        cmd(
            "server_names_hash_max_size",
            M,
            Args::TAKE1,
            Set::Handler(names_hash_max_size),
        ),
        cmd(
            "server_names_hash_bucket_size",
            M,
            Args::TAKE1,
            Set::Handler(names_hash_bucket_size),
        ),
        cmd(
            "server",
            M,
            Args::BLOCK.or(Args::NOARGS),
            Set::Handler(server_block),
        ),
        cmd(
            "connection_pool_size",
            MS,
            Args::TAKE1,
            Set::Handler(connection_pool_size),
        ),
        cmd(
            "request_pool_size",
            MS,
            Args::TAKE1,
            Set::Handler(request_pool_size),
        ),
        cmd(
            "client_header_timeout",
            MS,
            Args::TAKE1,
            Set::Slot(Slot::Msec),
        ),
        cmd(
            "client_header_buffer_size",
            MS,
            Args::TAKE1,
            Set::Slot(Slot::Size),
        ),
        cmd(
            "large_client_header_buffers",
            MS,
            Args::TAKE2,
            Set::Handler(large_client_header_buffers),
        ),
        cmd(
            "ignore_invalid_headers",
            MS,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd("merge_slashes", MS, Args::FLAG, Set::Slot(Slot::Flag)),
        cmd(
            "underscores_in_headers",
            MS,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "location",
            Ctx::HTTP_SRV.or(Ctx::HTTP_LOC),
            Args::BLOCK.or(Args::TAKE12),
            Set::Handler(location_block),
        ),
        cmd("listen", Ctx::HTTP_SRV, Args::ONEMORE, Set::Handler(listen)),
        cmd(
            "server_name",
            Ctx::HTTP_SRV,
            Args::ONEMORE,
            Set::Handler(server_name),
        ),
        cmd(
            "types_hash_max_size",
            MSL,
            Args::TAKE1,
            Set::Handler(types_hash_max_size),
        ),
        cmd(
            "types_hash_bucket_size",
            MSL,
            Args::TAKE1,
            Set::Handler(types_hash_bucket_size),
        ),
        cmd(
            "types",
            MSL,
            Args::BLOCK.or(Args::NOARGS),
            Set::Handler(types_block),
        ),
        cmd("default_type", MSL, Args::TAKE1, Set::Slot(Slot::Str)),
        cmd("root", MSLI, Args::TAKE1, Set::Handler(root)),
        cmd("alias", Ctx::HTTP_LOC, Args::TAKE1, Set::Handler(root)),
        cmd(
            "limit_except",
            Ctx::HTTP_LOC,
            Args::BLOCK.or(Args::ONEMORE),
            Set::Handler(limit_except),
        ),
        cmd(
            "client_max_body_size",
            MSL,
            Args::TAKE1,
            Set::Slot(Slot::Off),
        ),
        cmd(
            "client_body_buffer_size",
            MSL,
            Args::TAKE1,
            Set::Slot(Slot::Size),
        ),
        cmd(
            "client_body_timeout",
            MSL,
            Args::TAKE1,
            Set::Slot(Slot::Msec),
        ),
        cmd(
            "client_body_temp_path",
            MSL,
            Args::TAKE1234,
            Set::Slot(Slot::Path),
        ),
        cmd(
            "client_body_in_file_only",
            MSL,
            Args::TAKE1,
            Set::Slot(Slot::Enum(&["off", "on", "clean"])),
        ),
        cmd(
            "client_body_in_single_buffer",
            MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd("sendfile", MSLI, Args::FLAG, Set::Slot(Slot::Flag)),
        cmd(
            "sendfile_max_chunk",
            MSL,
            Args::TAKE1,
            Set::Slot(Slot::Size),
        ),
        cmd(
            "subrequest_output_buffer_size",
            MSL,
            Args::TAKE1,
            Set::Slot(Slot::Size),
        ),
        cmd("aio", MSL, Args::TAKE1, Set::Handler(set_aio)),
        cmd("aio_write", MSL, Args::FLAG, Set::Slot(Slot::Flag)),
        cmd("read_ahead", MSL, Args::TAKE1, Set::Slot(Slot::Size)),
        cmd("directio", MSL, Args::TAKE1, Set::Handler(directio)),
        cmd("directio_alignment", MSL, Args::TAKE1, Set::Slot(Slot::Off)),
        cmd("tcp_nopush", MSL, Args::FLAG, Set::Slot(Slot::Flag)),
        cmd("tcp_nodelay", MSL, Args::FLAG, Set::Slot(Slot::Flag)),
        cmd("send_timeout", MSL, Args::TAKE1, Set::Slot(Slot::Msec)),
        cmd("send_lowat", MSL, Args::TAKE1, Set::Handler(send_lowat)),
        cmd("postpone_output", MSL, Args::TAKE1, Set::Slot(Slot::Size)),
        cmd(
            "limit_rate",
            MSLI,
            Args::TAKE1,
            Set::Handler(complex_value_size),
        ),
        cmd(
            "limit_rate_after",
            MSLI,
            Args::TAKE1,
            Set::Handler(complex_value_size),
        ),
        cmd("keepalive_time", MSL, Args::TAKE1, Set::Slot(Slot::Msec)),
        cmd(
            "keepalive_timeout",
            MSL,
            Args::TAKE12,
            Set::Handler(keepalive),
        ),
        cmd("keepalive_requests", MSL, Args::TAKE1, Set::Slot(Slot::Num)),
        cmd(
            "keepalive_disable",
            MSL,
            Args::TAKE12,
            Set::Slot(Slot::Bitmask(&["none", "msie6", "safari"])),
        ),
        cmd(
            "satisfy",
            MSL,
            Args::TAKE1,
            Set::Slot(Slot::Enum(&["all", "any"])),
        ),
        cmd("auth_delay", MSL, Args::TAKE1, Set::Slot(Slot::Msec)),
        cmd(
            "internal",
            Ctx::HTTP_LOC,
            Args::NOARGS,
            Set::Handler(internal),
        ),
        cmd(
            "lingering_close",
            MSL,
            Args::TAKE1,
            Set::Slot(Slot::Enum(&["off", "on", "always"])),
        ),
        cmd("lingering_time", MSL, Args::TAKE1, Set::Slot(Slot::Msec)),
        cmd("lingering_timeout", MSL, Args::TAKE1, Set::Slot(Slot::Msec)),
        cmd(
            "reset_timedout_connection",
            MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd("absolute_redirect", MSL, Args::FLAG, Set::Slot(Slot::Flag)),
        cmd(
            "server_name_in_redirect",
            MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd("port_in_redirect", MSL, Args::FLAG, Set::Slot(Slot::Flag)),
        cmd("msie_padding", MSL, Args::FLAG, Set::Slot(Slot::Flag)),
        cmd("msie_refresh", MSL, Args::FLAG, Set::Slot(Slot::Flag)),
        cmd("log_not_found", MSL, Args::FLAG, Set::Slot(Slot::Flag)),
        cmd("log_subrequest", MSL, Args::FLAG, Set::Slot(Slot::Flag)),
        cmd(
            "recursive_error_pages",
            MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "server_tokens",
            MSL,
            Args::TAKE1,
            Set::Slot(Slot::Enum(&["off", "on", "build"])),
        ),
        cmd(
            "if_modified_since",
            MSL,
            Args::TAKE1,
            Set::Slot(Slot::Enum(&["off", "exact", "before"])),
        ),
        cmd("max_ranges", MSL, Args::TAKE1, Set::Slot(Slot::Num)),
        cmd(
            "chunked_transfer_encoding",
            MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd("etag", MSL, Args::FLAG, Set::Slot(Slot::Flag)),
        cmd("error_page", MSLI, Args::TWOMORE, Set::Handler(error_page)),
        cmd("post_action", MSLI, Args::TAKE1, Set::Slot(Slot::Str)),
        cmd("error_log", MSL, Args::ONEMORE, Set::Handler(error_log)),
        cmd(
            "open_file_cache",
            MSL,
            Args::TAKE12,
            Set::Handler(open_file_cache),
        ),
        cmd(
            "open_file_cache_valid",
            MSL,
            Args::TAKE1,
            Set::Slot(Slot::Sec),
        ),
        cmd(
            "open_file_cache_min_uses",
            MSL,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
        cmd(
            "open_file_cache_errors",
            MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "open_file_cache_events",
            MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd("resolver", MSL, Args::ONEMORE, Set::Handler(resolver)),
        cmd("resolver_timeout", MSL, Args::TAKE1, Set::Slot(Slot::Msec)),
        cmd("gzip_vary", MSL, Args::FLAG, Set::Slot(Slot::Flag)),
        cmd(
            "gzip_http_version",
            MSL,
            Args::TAKE1,
            Set::Slot(Slot::Enum(&["1.0", "1.1"])),
        ),
        cmd(
            "gzip_proxied",
            MSL,
            Args::ONEMORE,
            Set::Slot(Slot::Bitmask(&[
                "off",
                "expired",
                "no-cache",
                "no-store",
                "private",
                "no_last_modified",
                "no_etag",
                "auth",
                "any",
            ])),
        ),
        cmd(
            "gzip_disable",
            MSL,
            Args::ONEMORE,
            Set::Handler(gzip_disable),
        ),
        cmd(
            "disable_symlinks",
            MSL,
            Args::TAKE12,
            Set::Handler(disable_symlinks),
        ),
    ],
};

/// Variables ngx_http_core_module defines (nginx: ngx_http_core_variables).
pub(crate) const VARIABLES: &[&str] = &[
    "http_host",
    "http_user_agent",
    "http_referer",
    "http_via",
    "http_x_forwarded_for",
    "http_cookie",
    "content_length",
    "content_type",
    "host",
    "binary_remote_addr",
    "remote_addr",
    "remote_port",
    "proxy_protocol_addr",
    "proxy_protocol_port",
    "proxy_protocol_server_addr",
    "proxy_protocol_server_port",
    "server_addr",
    "server_port",
    "server_protocol",
    "scheme",
    "https",
    "request_uri",
    "uri",
    "document_uri",
    "request",
    "document_root",
    "realpath_root",
    "query_string",
    "args",
    "is_args",
    "request_filename",
    "server_name",
    "request_method",
    "remote_user",
    "bytes_sent",
    "body_bytes_sent",
    "pipe",
    "request_completion",
    "request_body",
    "request_body_file",
    "request_length",
    "request_time",
    "request_id",
    "status",
    "sent_http_content_type",
    "sent_http_content_length",
    "sent_http_location",
    "sent_http_last_modified",
    "sent_http_connection",
    "sent_http_keep_alive",
    "sent_http_transfer_encoding",
    "sent_http_cache_control",
    "sent_http_link",
    "limit_rate",
    "connection",
    "connection_requests",
    "connection_time",
    "nginx_version",
    "hostname",
    "pid",
    "msec",
    "time_iso8601",
    "time_local",
    "tcpinfo_rtt",
    "tcpinfo_rttvar",
    "tcpinfo_snd_cwnd",
    "tcpinfo_rcv_space",
];

/// Prefix variables of ngx_http_core_module: `$http_*`, `$sent_http_*`, `$cookie_*`...
pub(crate) const VARIABLE_PREFIXES: &[&str] =
    &["http_", "sent_http_", "sent_trailer_", "cookie_", "arg_"];

// ---------------------------------------------------------------------------------------------
// Configuration state
// ---------------------------------------------------------------------------------------------

/// The core module's main conf, in the `http` level (nginx: ngx_http_core_main_conf_t).
#[derive(Default, Debug)]
pub(crate) struct CoreMain {
    /// Every `server{}` in order (nginx: `cmcf->servers`).
    pub(crate) servers: Vec<Server>,
    /// Listen ports in order of appearance (nginx: `cmcf->ports`).
    pub(crate) ports: Vec<ConfPort>,
    pub(crate) server_names_hash_max_size: Option<i64>,
    pub(crate) server_names_hash_bucket_size: Option<i64>,
}

/// One `server{}` (nginx: ngx_http_core_srv_conf_t, the parts checked).
/// `file`/`line` are for ngx_http_ssl_module's `no "ssl_certificate" is defined` check.
#[allow(dead_code)]
#[derive(Default, Debug)]
pub(crate) struct Server {
    /// Where the `server` directive is (nginx: `cscf->file_name`, `cscf->line`).
    pub(crate) file: String,
    pub(crate) line: usize,
    pub(crate) names: Vec<ServerName>,
    /// A regex server name has captures.
    pub(crate) captures: bool,
    pub(crate) srv: SrvLevel,
    /// The server level's location conf (its `locations` are the server's locations).
    pub(crate) loc: LocNode,
    /// ngx_http_ssl_module's server conf, merged at the end of `http`.
    pub(crate) ssl: crate::http::ssl::SslConf,
    /// `ssl_client_hello_by_lua*` or `ssl_certificate_by_lua*` in this server (they need
    /// the server's SSL context: engine/src/http/lua/directives.rs).
    pub(crate) lua_ssl: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct ServerName {
    /// Lower-cased name, or the regex source without `~`.
    pub(crate) name: Vec<u8>,
    pub(crate) regex: bool,
}

/// Server-level values (in `http` and `server` levels).
#[derive(Default, Debug, Clone)]
pub(crate) struct SrvLevel {
    pub(crate) listen: bool,
    pub(crate) connection_pool_size: Option<u64>,
    pub(crate) large_client_header_buffers: Option<u64>,
    pub(crate) names: Vec<ServerName>,
    pub(crate) captures: bool,
}

/// Location-level values (in `http`, `server`, `location`, `if` and `limit_except` levels).
#[derive(Default, Debug)]
pub(crate) struct LocLevel {
    /// `Some(true)` after `alias`, `Some(false)` after `root`.
    root: Option<bool>,
    /// Locations defined in this level (nginx: `clcf->locations`).
    pub(crate) locations: Vec<LocNode>,
    /// `types {}` of this level: extension and content type (`None`: no `types` here).
    pub(crate) types: Option<Vec<(Vec<u8>, Vec<u8>)>>,
    types_hash_max_size: Option<i64>,
    types_hash_bucket_size: Option<i64>,
    limit_except: bool,
}

impl LocLevel {
    /// The level's values the end-of-`http` merge needs, as a tree node.
    fn into_node(self, node: LocNode) -> LocNode {
        LocNode {
            children: self.locations,
            types: self
                .types
                .map(|t| t.into_iter().map(|(ext, _)| ext).collect()),
            types_hash_max_size: self.types_hash_max_size,
            types_hash_bucket_size: self.types_hash_bucket_size,
            ..node
        }
    }
}

/// A location as the location trees see it (nginx: ngx_http_location_queue_t).
#[derive(Debug, Clone, Default)]
pub(crate) struct LocNode {
    pub(crate) name: Vec<u8>,
    pub(crate) exact: bool,
    pub(crate) regex: bool,
    pub(crate) named: bool,
    /// `limit_except`'s unnamed location.
    pub(crate) noname: bool,
    pub(crate) file: String,
    pub(crate) line: usize,
    pub(crate) children: Vec<LocNode>,
    /// Extensions of this level's `types` (nginx: `clcf->types`).
    pub(crate) types: Option<Vec<Vec<u8>>>,
    types_hash_max_size: Option<i64>,
    types_hash_bucket_size: Option<i64>,
    /// Merge state: the types hash of this level was built (nginx: `types_hash.buckets`).
    types_built: bool,
}

/// The locations being parsed, innermost last (in the main level).
#[derive(Default, Debug)]
struct LocStack(Vec<LocNode>);

/// Listen options (nginx: ngx_http_listen_opt_t).
#[allow(dead_code)]
#[derive(Debug, Clone)]
pub(crate) struct ListenOpt {
    pub(crate) addr: ListenAddr,
    pub(crate) text: String,
    pub(crate) set: bool,
    pub(crate) bind: bool,
    pub(crate) wildcard: bool,
    pub(crate) default_server: bool,
    pub(crate) ssl: bool,
    pub(crate) http2: bool,
    pub(crate) proxy_protocol: bool,
    pub(crate) backlog: i32,
    pub(crate) ipv6only: bool,
    /// Where the `listen` is.
    pub(crate) file: String,
    pub(crate) line: usize,
}

/// One port of one address family (nginx: ngx_http_conf_port_t).
#[derive(Debug, Clone)]
pub(crate) struct ConfPort {
    family: u8,
    port: u16,
    pub(crate) addrs: Vec<ConfAddr>,
}

/// One address of a port (nginx: ngx_http_conf_addr_t).
#[derive(Debug, Clone)]
pub(crate) struct ConfAddr {
    pub(crate) opt: ListenOpt,
    /// Indices into [`CoreMain::servers`].
    pub(crate) servers: Vec<usize>,
    pub(crate) default_server: usize,
}

fn lossy(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

fn arg(d: &Directive, i: usize) -> &[u8] {
    d.args.get(i).map(Vec::as_slice).unwrap_or_default()
}

fn file_name(cf: &Cf<'_>, d: &Directive) -> String {
    cf.conf
        .files
        .get(d.file)
        .map(|f| f.path.display().to_string())
        .unwrap_or_default()
}

fn core_main<'c>(cf: &'c mut Cf<'_>) -> Option<&'c mut CoreMain> {
    cf.enclosing(Ctx::HTTP_MAIN).map(|f| f.get::<CoreMain>())
}

/// The `name` row's generic slot checks for a value nginx keeps: `is duplicate` per level.
fn once(cf: &mut Cf<'_>, name: &'static str) -> SetResult {
    if cf.seen(name) {
        return Err(Some("is duplicate".into()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Slots with post handlers and values kept
// ---------------------------------------------------------------------------------------------

fn num_value(cf: &mut Cf<'_>, d: &Directive, name: &'static str) -> Result<i64, Option<String>> {
    once(cf, name)?;
    atoi(arg(d, 0)).ok_or_else(|| Some("invalid number".to_string()))
}

fn types_hash_max_size(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let n = num_value(cf, d, "types_hash_max_size")?;
    cf.frame().get::<LocLevel>().types_hash_max_size = Some(n);
    Ok(())
}

fn types_hash_bucket_size(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let n = num_value(cf, d, "types_hash_bucket_size")?;
    cf.frame().get::<LocLevel>().types_hash_bucket_size = Some(n);
    Ok(())
}

fn names_hash_max_size(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let n = num_value(cf, d, "server_names_hash_max_size")?;
    cf.frame().get::<CoreMain>().server_names_hash_max_size = Some(n);
    Ok(())
}

fn names_hash_bucket_size(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let n = num_value(cf, d, "server_names_hash_bucket_size")?;
    cf.frame().get::<CoreMain>().server_names_hash_bucket_size = Some(n);
    Ok(())
}

/// nginx: ngx_conf_set_size_slot + ngx_http_core_pool_size
fn pool_size(cf: &mut Cf<'_>, d: &Directive, name: &'static str) -> Result<u64, Option<String>> {
    once(cf, name)?;
    let Some(n) = parse_size(arg(d, 0)) else {
        return Err(Some("invalid value".into()));
    };
    // NGX_MIN_POOL_SIZE and NGX_POOL_ALIGNMENT on x86_64.
    if n < 112 {
        return Err(cf.emerg("the pool size must be no less than 112").into());
    }
    if n % 16 != 0 {
        return Err(cf.emerg("the pool size must be a multiple of 16").into());
    }
    Ok(n)
}

fn connection_pool_size(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let n = pool_size(cf, d, "connection_pool_size")?;
    cf.frame().get::<SrvLevel>().connection_pool_size = Some(n);
    Ok(())
}

fn request_pool_size(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    pool_size(cf, d, "request_pool_size")?;
    Ok(())
}

/// nginx: ngx_conf_set_bufs_slot (the size is checked against `connection_pool_size`).
fn large_client_header_buffers(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    once(cf, "large_client_header_buffers")?;
    let num_ok = matches!(atoi(arg(d, 0)), Some(n) if n > 0);
    let size = parse_size(arg(d, 1));
    match size {
        Some(s) if num_ok && s > 0 => {
            cf.frame().get::<SrvLevel>().large_client_header_buffers = Some(s);
            Ok(())
        }
        _ => Err(Some("invalid value".into())),
    }
}

/// nginx: ngx_conf_set_size_slot + ngx_http_core_lowat_check (no SO_SNDLOWAT on Linux).
fn send_lowat(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    once(cf, "send_lowat")?;
    if parse_size(arg(d, 0)).is_none() {
        return Err(Some("invalid value".into()));
    }
    cf.conf_log(Level::Warn, "\"send_lowat\" is not supported, ignored");
    Ok(())
}

/// nginx: ngx_http_set_complex_value_size_slot (`limit_rate`, `limit_rate_after`).
fn complex_value_size(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let name: &'static str = if d.name == b"limit_rate" {
        "limit_rate"
    } else {
        "limit_rate_after"
    };
    once(cf, name)?;
    let cv = crate::http::variables::compile_complex_value(cf, arg(d, 0))?;
    if cv.is_static() && parse_size(arg(d, 0)).is_none() {
        return Err(Some("invalid value".into()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// server {}
// ---------------------------------------------------------------------------------------------

extern "C" {
    fn getuid() -> u32;
}

/// nginx: ngx_http_core_server
fn server_block<'a>(cf: &mut Cf<'a>, d: &'a Directive) -> SetResult {
    let Body::Block(block) = &d.body else {
        return Err(None);
    };
    let file = file_name(cf, d);
    let idx = {
        let Some(main) = core_main(cf) else {
            return Err(None);
        };
        main.servers.push(Server {
            file,
            line: d.line,
            ..Server::default()
        });
        main.servers.len() - 1
    };
    let mut frame = cf.block(block, Ctx::HTTP_SRV)?;
    crate::http::log::merge_server(cf, &mut frame);
    let ssl = frame.take::<crate::http::ssl::SslConf>();
    let srv = frame.take::<SrvLevel>();
    let loc = frame.take::<LocLevel>();
    let listen = srv.listen;
    if let Some(main) = core_main(cf) {
        if let Some(s) = main.servers.get_mut(idx) {
            s.names = srv.names.clone();
            s.captures = srv.captures;
            s.srv = srv;
            s.ssl = ssl;
            s.loc = loc.into_node(LocNode::default());
        }
    }
    if !listen {
        // SAFETY: getuid has no preconditions and cannot fail.
        let port = if unsafe { getuid() } == 0 { 80 } else { 8000 };
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
        let opt = ListenOpt {
            addr: ListenAddr::Inet(addr),
            text: format!("0.0.0.0:{port}"),
            set: false,
            bind: false,
            wildcard: true,
            default_server: false,
            ssl: false,
            http2: false,
            proxy_protocol: false,
            backlog: 511,
            ipv6only: true,
            file: file_name(cf, d),
            line: d.line,
        };
        add_listen(cf, idx, opt)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// location {}
// ---------------------------------------------------------------------------------------------

/// nginx: ngx_http_core_location
fn location_block<'a>(cf: &mut Cf<'a>, d: &'a Directive) -> SetResult {
    let Body::Block(block) = &d.body else {
        return Err(None);
    };
    let mut node = LocNode {
        file: file_name(cf, d),
        line: d.line,
        ..LocNode::default()
    };
    if d.args.len() == 2 {
        let m = arg(d, 0);
        let name = arg(d, 1);
        match m {
            b"=" => {
                node.name = name.to_vec();
                node.exact = true;
            }
            b"^~" => node.name = name.to_vec(),
            b"~" | b"~*" => {
                crate::regex::compile(cf, name, m == b"~*")?;
                node.name = name.to_vec();
                node.regex = true;
            }
            _ => {
                return Err(cf
                    .emerg(format!("invalid location modifier \"{}\"", lossy(m)))
                    .into());
            }
        }
    } else {
        let name = arg(d, 0);
        if let Some(n) = name.strip_prefix(b"=") {
            node.name = n.to_vec();
            node.exact = true;
        } else if let Some(n) = name.strip_prefix(b"^~") {
            node.name = n.to_vec();
        } else if let Some(n) = name.strip_prefix(b"~") {
            let (n, caseless) = match n.strip_prefix(b"*") {
                Some(n) => (n, true),
                None => (n, false),
            };
            crate::regex::compile(cf, n, caseless)?;
            node.name = n.to_vec();
            node.regex = true;
        } else {
            node.name = name.to_vec();
            node.named = name.first() == Some(&b'@');
        }
    }

    if cf.ctx() == Ctx::HTTP_LOC {
        let parent = cf
            .main()
            .get::<LocStack>()
            .0
            .last()
            .cloned()
            .unwrap_or_default();
        let (n, p) = (lossy(&node.name), lossy(&parent.name));
        if parent.exact {
            return Err(cf
                .emerg(format!(
                    "location \"{n}\" cannot be inside the exact location \"{p}\""
                ))
                .into());
        }
        if parent.named {
            return Err(cf
                .emerg(format!(
                    "location \"{n}\" cannot be inside the named location \"{p}\""
                ))
                .into());
        }
        if node.named {
            return Err(cf
                .emerg(format!(
                    "named location \"{n}\" can be on the server level only"
                ))
                .into());
        }
        // ngx_filename_cmp over the parent's length, the child's NUL included.
        let len = parent.name.len();
        let mut child = node.name.clone();
        child.push(0);
        let prefix_ok = child.len() >= len && child[..len] == parent.name[..];
        if !node.regex && !prefix_ok {
            return Err(cf
                .emerg(format!("location \"{n}\" is outside location \"{p}\""))
                .into());
        }
    }

    cf.main().get::<LocStack>().0.push(node.clone());
    // proxy_pass and its siblings refuse a URI part in regex and named locations.
    let mut level = Frame::new(Ctx::HTTP_LOC);
    *level.get::<crate::http::upstream::LocationKind>() = crate::http::upstream::LocationKind {
        named: node.named,
        regex: node.regex,
    };
    let r = cf.block_in(block, level);
    cf.main().get::<LocStack>().0.pop();
    let mut frame = r?;
    let node = frame.take::<LocLevel>().into_node(node);
    cf.frame().get::<LocLevel>().locations.push(node);
    Ok(())
}

/// nginx: ngx_http_core_limit_except
fn limit_except<'a>(cf: &mut Cf<'a>, d: &'a Directive) -> SetResult {
    const METHODS: &[&str] = &[
        "GET",
        "HEAD",
        "POST",
        "PUT",
        "DELETE",
        "MKCOL",
        "COPY",
        "MOVE",
        "OPTIONS",
        "PROPFIND",
        "PROPPATCH",
        "LOCK",
        "UNLOCK",
        "PATCH",
    ];
    let Body::Block(block) = &d.body else {
        return Err(None);
    };
    if cf.frame().get::<LocLevel>().limit_except {
        return Err(Some("is duplicate".into()));
    }
    cf.frame().get::<LocLevel>().limit_except = true;
    for a in &d.args {
        if !METHODS.iter().any(|m| m.as_bytes().eq_ignore_ascii_case(a)) {
            return Err(cf.emerg(format!("invalid method \"{}\"", lossy(a))).into());
        }
    }
    let name = cf.main().get::<LocStack>().0.last().map(|l| l.name.clone());
    let node = LocNode {
        name: name.unwrap_or_default(),
        noname: true,
        file: file_name(cf, d),
        line: d.line,
        ..LocNode::default()
    };
    cf.frame().get::<LocLevel>().locations.push(node);
    cf.block(block, Ctx::HTTP_LMT)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// types {}, root, alias
// ---------------------------------------------------------------------------------------------

/// nginx: ngx_http_core_types / ngx_http_core_type
fn types_block<'a>(cf: &mut Cf<'a>, d: &'a Directive) -> SetResult {
    let Body::Block(block) = &d.body else {
        return Err(None);
    };
    let mut types = cf
        .frame()
        .get::<LocLevel>()
        .types
        .take()
        .unwrap_or_default();
    let ctx = cf.ctx();
    let r = cf.data_block(block, ctx, |cf, line| {
        let content_type = &line.name;
        for ext in &line.args {
            let ext = ext.to_ascii_lowercase();
            if let Some(t) = types.iter_mut().find(|(e, _)| *e == ext) {
                let old = std::mem::replace(&mut t.1, content_type.clone());
                cf.conf_log(
                    Level::Warn,
                    format!(
                        "duplicate extension \"{}\", content type: \"{}\", previous content \
                         type: \"{}\"",
                        lossy(&ext),
                        lossy(content_type),
                        lossy(&old)
                    ),
                );
                continue;
            }
            types.push((ext, content_type.clone()));
        }
        Ok(())
    });
    cf.frame().get::<LocLevel>().types = Some(types);
    r?;
    Ok(())
}

/// nginx: ngx_http_core_root (`root` and `alias`)
fn root(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let alias = d.name == b"alias";
    let name = if alias { "alias" } else { "root" };
    if let Some(prev_alias) = cf.frame().get::<LocLevel>().root {
        if prev_alias == alias {
            return Err(Some("is duplicate".into()));
        }
        let earlier = if prev_alias { "alias" } else { "root" };
        return Err(cf
            .emerg(format!(
                "\"{name}\" directive is duplicate, \"{earlier}\" directive was specified earlier"
            ))
            .into());
    }
    let (named, regex) = cf
        .main()
        .get::<LocStack>()
        .0
        .last()
        .map_or((false, false), |l| (l.named, l.regex));
    let in_loc = cf.ctx() == Ctx::HTTP_LOC;
    if alias && in_loc && named {
        return Err(cf
            .emerg("the \"alias\" directive cannot be used inside the named location")
            .into());
    }
    let v = arg(d, 0);
    let contains = |pat: &[u8]| v.windows(pat.len()).any(|w| w == pat);
    if contains(b"$document_root") || contains(b"${document_root}") {
        return Err(cf
            .emerg(format!(
                "the $document_root variable cannot be used in the \"{name}\" directive"
            ))
            .into());
    }
    if contains(b"$realpath_root") || contains(b"${realpath_root}") {
        return Err(cf
            .emerg(format!(
                "the $realpath_root variable cannot be used in the \"{name}\" directive"
            ))
            .into());
    }
    cf.frame().get::<LocLevel>().root = Some(alias);
    let n = crate::http::variables::script_variables_count(v);
    if n > 0 || (alias && in_loc && regex) {
        crate::http::variables::compile_complex_value(cf, v)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Other handlers
// ---------------------------------------------------------------------------------------------

/// nginx: ngx_http_core_set_aio (Linux build: file AIO and threads).
fn set_aio(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    once(cf, "aio")?;
    let v = arg(d, 0);
    if v == b"off" || v == b"on" {
        return Ok(());
    }
    if v.starts_with(b"threads") && (v.len() == 7 || v[7] == b'=') {
        if v.len() >= 8 {
            let name = &v[8..];
            let cv = crate::http::variables::compile_complex_value(cf, name)?;
            if cv.is_static() {
                crate::core::thread_pool_add(cf, d, Some(name));
            }
        } else {
            crate::core::thread_pool_add(cf, d, None);
        }
        return Ok(());
    }
    Err(Some("invalid value".into()))
}

/// nginx: ngx_http_core_directio
fn directio(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    once(cf, "directio")?;
    let v = arg(d, 0);
    if v == b"off" || parse_offset(v).is_some() {
        return Ok(());
    }
    Err(Some("invalid value".into()))
}

/// nginx: ngx_http_core_error_page
fn error_page(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let nelts = d.args.len() + 1;
    let i = nelts - 2;
    let vi = arg(d, i - 1);
    let n = if vi.first() == Some(&b'=') {
        if i == 1 {
            return Err(cf.emerg(format!("invalid value \"{}\"", lossy(vi))).into());
        }
        if vi.len() > 1 && atoi(&vi[1..]).is_none() {
            return Err(cf.emerg(format!("invalid value \"{}\"", lossy(vi))).into());
        }
        2
    } else {
        1
    };
    let uri = arg(d, nelts - 2);
    crate::http::variables::compile_complex_value(cf, uri)?;
    for code in &d.args[..nelts - 1 - n] {
        let status = atoi(code);
        match status {
            None | Some(499) => {
                return Err(cf
                    .emerg(format!("invalid value \"{}\"", lossy(code)))
                    .into());
            }
            Some(s) if !(300..=599).contains(&s) => {
                return Err(cf
                    .emerg(format!(
                        "value \"{}\" must be between 300 and 599",
                        lossy(code)
                    ))
                    .into());
            }
            _ => {}
        }
    }
    Ok(())
}

/// nginx: ngx_http_core_open_file_cache
fn open_file_cache(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    once(cf, "open_file_cache")?;
    let mut max = 0;
    let mut off = false;
    for a in &d.args {
        let ok = if let Some(v) = a.strip_prefix(b"max=") {
            match atoi(v) {
                Some(n) if n > 0 => {
                    max = n;
                    true
                }
                _ => false,
            }
        } else if let Some(v) = a.strip_prefix(b"inactive=") {
            parse_time(v, true).is_some()
        } else if a == b"off" {
            off = true;
            true
        } else {
            false
        };
        if !ok {
            return Err(cf
                .emerg(format!(
                    "invalid \"open_file_cache\" parameter \"{}\"",
                    lossy(a)
                ))
                .into());
        }
    }
    if off {
        return Ok(());
    }
    if max == 0 {
        return Err(cf
            .emerg("\"open_file_cache\" must have the \"max\" parameter")
            .into());
    }
    Ok(())
}

/// nginx: ngx_http_core_error_log
fn error_log(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    crate::core::set_log(cf, d)?;
    Ok(())
}

/// nginx: ngx_http_core_keepalive
fn keepalive(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    once(cf, "keepalive_timeout")?;
    if parse_time(arg(d, 0), false).is_none() {
        return Err(Some("invalid value".into()));
    }
    if d.args.len() == 2 && parse_time(arg(d, 1), true).is_none() {
        return Err(Some("invalid value".into()));
    }
    Ok(())
}

/// nginx: ngx_http_core_internal
fn internal(cf: &mut Cf<'_>, _d: &Directive) -> SetResult {
    once(cf, "internal")
}

/// nginx: ngx_http_core_resolver
fn resolver(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    once(cf, "resolver")?;
    resolver_create(cf, &d.args)?;
    Ok(())
}

/// nginx: ngx_resolver_create's parsing of the `resolver` arguments (shared with stream and
/// lua's resolvers).
pub(crate) fn resolver_create(cf: &mut Cf<'_>, args: &[Vec<u8>]) -> Result<(), Failed> {
    let mut servers = 0;
    for a in args {
        if let Some(v) = a.strip_prefix(b"valid=") {
            if parse_time(v, true).is_none() {
                return Err(cf.emerg(format!("invalid parameter: {}", lossy(a))));
            }
            continue;
        }
        if let Some(v) = a.strip_prefix(b"ipv6=") {
            if v != b"on" && v != b"off" {
                return Err(cf.emerg(format!("invalid parameter: {}", lossy(a))));
            }
            continue;
        }
        let opts = UrlOpts {
            default_port: 53,
            ..UrlOpts::default()
        };
        match parse_url(a, &opts) {
            Ok(u) => servers += u.addrs.len(),
            Err(e) => return Err(cf.emerg(format!("{e} in resolver \"{}\"", lossy(a)))),
        }
    }
    if !args.is_empty() && servers == 0 {
        return Err(cf.emerg("no name servers defined"));
    }
    Ok(())
}

/// nginx: ngx_http_gzip_disable
fn gzip_disable(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    for a in &d.args {
        if a == b"msie6" || a == b"degradation" {
            continue;
        }
        if let Err(text) = crate::regex::build(a, true) {
            return Err(cf.emerg(text).into());
        }
    }
    Ok(())
}

/// nginx: ngx_http_disable_symlinks
fn disable_symlinks(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    once(cf, "disable_symlinks")?;
    let mut mode: Option<&[u8]> = None;
    let mut from = false;
    for a in &d.args {
        match a.as_slice() {
            b"off" | b"if_not_owner" | b"on" => mode = Some(a),
            _ => {
                if let Some(v) = a.strip_prefix(b"from=") {
                    crate::http::variables::compile_complex_value(cf, v)?;
                    from = true;
                    continue;
                }
                return Err(cf
                    .emerg(format!("invalid parameter \"{}\"", lossy(a)))
                    .into());
            }
        }
    }
    let Some(mode) = mode else {
        return Err(cf
            .emerg("\"disable_symlinks\" must have \"off\", \"on\" or \"if_not_owner\" parameter")
            .into());
    };
    if d.args.len() == 1 {
        return Ok(());
    }
    if !from {
        return Err(cf
            .emerg(format!(
                "duplicate parameters \"{} {}\"",
                lossy(arg(d, 0)),
                lossy(arg(d, 1))
            ))
            .into());
    }
    if mode == b"off" {
        return Err(cf
            .emerg("\"from=\" cannot be used with \"off\" parameter")
            .into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// server_name
// ---------------------------------------------------------------------------------------------

fn hostname() -> Vec<u8> {
    std::fs::read("/proc/sys/kernel/hostname")
        .map(|mut h| {
            while h.last().is_some_and(|c| c.is_ascii_whitespace()) {
                h.pop();
            }
            h.to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// nginx: ngx_http_core_server_name
fn server_name(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    for v in &d.args {
        let ch = v.first().copied().unwrap_or(0);
        if (ch == b'*' && (v.len() < 3 || v[1] != b'.')) || (ch == b'.' && v.len() < 2) {
            return Err(cf
                .emerg(format!("server name \"{}\" is invalid", lossy(v)))
                .into());
        }
        if v.contains(&b'/') {
            cf.conf_log(
                Level::Warn,
                format!("server name \"{}\" has suspicious symbols", lossy(v)),
            );
        }
        if ch != b'~' {
            let name = if v.eq_ignore_ascii_case(b"$hostname") {
                hostname()
            } else {
                v.to_ascii_lowercase()
            };
            cf.frame()
                .get::<SrvLevel>()
                .names
                .push(ServerName { name, regex: false });
            continue;
        }
        if v.len() == 1 {
            return Err(cf
                .emerg(format!("empty regex in server name \"{}\"", lossy(v)))
                .into());
        }
        let pat = &v[1..];
        let caseless = pat.iter().any(u8::is_ascii_uppercase);
        let re = crate::regex::compile(cf, pat, caseless)?;
        let srv = cf.frame().get::<SrvLevel>();
        srv.captures = re.captures > 0;
        srv.names.push(ServerName {
            name: pat.to_vec(),
            regex: true,
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// listen
// ---------------------------------------------------------------------------------------------

/// What [`parse_url`] is asked to do (nginx: the input fields of ngx_url_t).
#[derive(Default, Debug, Clone)]
pub(crate) struct UrlOpts {
    pub(crate) default_port: u16,
    pub(crate) listen: bool,
    pub(crate) uri_part: bool,
    pub(crate) no_resolve: bool,
}

/// A parsed url (nginx: the output fields of ngx_url_t).
#[derive(Default, Debug, Clone)]
pub(crate) struct Url {
    pub(crate) host: Vec<u8>,
    pub(crate) port: u16,
    pub(crate) no_port: bool,
    pub(crate) uri: Vec<u8>,
    pub(crate) wildcard: bool,
    /// Addresses with their text (`127.0.0.1:80`, `[::1]:53`, `unix:/path`).
    pub(crate) addrs: Vec<(ListenAddr, String)>,
}

/// nginx: ngx_parse_url. The error is nginx's `u.err` text ("invalid port", "host not
/// found", ...).
pub(crate) fn parse_url(url: &[u8], opts: &UrlOpts) -> Result<Url, &'static str> {
    if url.len() >= 5 && url[..5].eq_ignore_ascii_case(b"unix:") {
        return parse_unix_url(url, opts);
    }
    if url.first() == Some(&b'[') {
        return parse_inet6_url(url, opts);
    }
    parse_inet_url(url, opts)
}

fn parse_unix_url(url: &[u8], opts: &UrlOpts) -> Result<Url, &'static str> {
    let mut path = &url[5..];
    let mut u = Url::default();
    if opts.uri_part {
        if let Some(i) = path.iter().position(|&c| c == b':') {
            u.uri = path[i + 1..].to_vec();
            path = &path[..i];
        }
    }
    if path.is_empty() {
        return Err("no path in the unix domain socket");
    }
    if path.len() + 1 > 108 {
        return Err("too long path in the unix domain socket");
    }
    u.host = path.to_vec();
    let text = format!("unix:{}", lossy(path));
    use std::os::unix::ffi::OsStrExt;
    let p = PathBuf::from(std::ffi::OsStr::from_bytes(path));
    u.addrs.push((ListenAddr::Unix(p), text));
    Ok(u)
}

fn port_in(s: &[u8]) -> Option<u16> {
    match atoi(s) {
        Some(n) if (1..=65535).contains(&n) => Some(n as u16),
        _ => None,
    }
}

fn inet_text(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) => format!("{}:{}", v.ip(), v.port()),
        SocketAddr::V6(v) => format!("[{}]:{}", v.ip(), v.port()),
    }
}

fn add_addr(u: &mut Url, ip: IpAddr, last_port: u16) {
    let last = if last_port == 0 { u.port } else { last_port };
    for p in u.port..=last {
        let sa = SocketAddr::new(ip, p);
        let text = inet_text(&sa);
        u.addrs.push((ListenAddr::Inet(sa), text));
    }
}

/// nginx: ngx_inet_addr (dotted quad, octets up to 255, empty octets allowed).
pub(crate) fn inet_addr(s: &[u8]) -> Option<Ipv4Addr> {
    let (mut addr, mut octet, mut n) = (0u32, 0u32, 0);
    for &c in s {
        if c.is_ascii_digit() {
            octet = octet * 10 + u32::from(c - b'0');
            if octet > 255 {
                return None;
            }
            continue;
        }
        if c == b'.' {
            addr = (addr << 8) + octet;
            octet = 0;
            n += 1;
            continue;
        }
        return None;
    }
    if n == 3 {
        addr = (addr << 8) + octet;
        return Some(Ipv4Addr::from(addr));
    }
    None
}

fn parse_inet_url(url: &[u8], opts: &UrlOpts) -> Result<Url, &'static str> {
    let mut u = Url::default();
    let mut last = url.len();
    let find = |c: u8| url.iter().position(|&x| x == c);
    let mut port = find(b':');
    let mut uri = find(b'/');
    if let Some(a) = find(b'?') {
        if uri.is_none_or(|x| a < x) {
            uri = Some(a);
        }
    }
    if let Some(ui) = uri {
        if opts.listen || !opts.uri_part {
            return Err("invalid host");
        }
        u.uri = url[ui..].to_vec();
        last = ui;
        if port.is_some_and(|p| ui < p) {
            port = None;
        }
    }
    let mut last_port = 0u16;
    if let Some(pi) = port {
        let ps = &url[pi + 1..last];
        let mut pnum = ps;
        if opts.listen {
            if let Some(di) = ps.iter().position(|&c| c == b'-') {
                last_port = port_in(&ps[di + 1..]).ok_or("invalid port")?;
                pnum = &ps[..di];
            }
        }
        let n = port_in(pnum).ok_or("invalid port")?;
        if last_port != 0 && n > last_port {
            return Err("invalid port range");
        }
        u.port = n;
        last = pi;
    } else {
        let mut port_only = None;
        if uri.is_none() && opts.listen {
            // test value as port only
            let hs = &url[..last];
            let mut pnum = hs;
            let mut err = None;
            let mut numeric_dash = true;
            if let Some(di) = hs.iter().position(|&c| c == b'-') {
                match atoi(&hs[di + 1..]) {
                    None => numeric_dash = false,
                    Some(n) if !(1..=65535).contains(&n) => err = Some("invalid port"),
                    Some(n) => last_port = n as u16,
                }
                pnum = &hs[..di];
            }
            if numeric_dash {
                if let Some(n) = atoi(pnum) {
                    if let Some(e) = err {
                        return Err(e);
                    }
                    if !(1..=65535).contains(&n) {
                        return Err("invalid port");
                    }
                    if last_port != 0 && n as u16 > last_port {
                        return Err("invalid port range");
                    }
                    port_only = Some(n as u16);
                }
            }
        }
        if let Some(p) = port_only {
            u.port = p;
            u.wildcard = true;
            add_addr(&mut u, IpAddr::V4(Ipv4Addr::UNSPECIFIED), last_port);
            return Ok(u);
        }
        last_port = 0;
        u.no_port = true;
        u.port = opts.default_port;
    }
    let host = &url[..last];
    if host.is_empty() {
        return Err("no host");
    }
    u.host = host.to_vec();
    if opts.listen && host == b"*" {
        u.wildcard = true;
        add_addr(&mut u, IpAddr::V4(Ipv4Addr::UNSPECIFIED), last_port);
        return Ok(u);
    }
    if let Some(a) = inet_addr(host) {
        u.wildcard = a.is_unspecified();
        add_addr(&mut u, IpAddr::V4(a), last_port);
        return Ok(u);
    }
    if opts.no_resolve {
        return Ok(u);
    }
    let ips = resolve_host(host).ok_or("host not found")?;
    for ip in &ips {
        add_addr(&mut u, *ip, last_port);
    }
    u.wildcard = ips.first().is_some_and(IpAddr::is_unspecified);
    Ok(u)
}

fn parse_inet6_url(url: &[u8], opts: &UrlOpts) -> Result<Url, &'static str> {
    let mut u = Url::default();
    let host_start = 1;
    let mut last = url.len();
    let Some(p) = url[host_start..].iter().position(|&c| c == b']') else {
        return Err("invalid host");
    };
    let p = p + host_start;
    let port_start = p + 1;
    if let Some(ui) = url[port_start..].iter().position(|&c| c == b'/') {
        let ui = ui + port_start;
        if opts.listen || !opts.uri_part {
            return Err("invalid host");
        }
        u.uri = url[ui..].to_vec();
        last = ui;
    }
    let mut last_port = 0u16;
    if port_start < last {
        if url[port_start] != b':' {
            return Err("invalid host");
        }
        let ps = &url[port_start + 1..last];
        let mut pnum = ps;
        if opts.listen {
            if let Some(di) = ps.iter().position(|&c| c == b'-') {
                last_port = port_in(&ps[di + 1..]).ok_or("invalid port")?;
                pnum = &ps[..di];
            }
        }
        let n = port_in(pnum).ok_or("invalid port")?;
        if last_port != 0 && n > last_port {
            return Err("invalid port range");
        }
        u.port = n;
    } else {
        u.no_port = true;
        u.port = opts.default_port;
    }
    let h = &url[host_start..p];
    if h.is_empty() {
        return Err("no host");
    }
    u.host = url[..=p].to_vec();
    let a: Ipv6Addr = std::str::from_utf8(h)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or("invalid IPv6 address")?;
    u.wildcard = a.is_unspecified();
    add_addr(&mut u, IpAddr::V6(a), last_port);
    Ok(u)
}

/// glibc's `struct addrinfo`.
#[repr(C)]
struct AddrInfo {
    ai_flags: i32,
    ai_family: i32,
    ai_socktype: i32,
    ai_protocol: i32,
    ai_addrlen: u32,
    ai_addr: *const u8,
    ai_canonname: *const u8,
    ai_next: *const AddrInfo,
}

extern "C" {
    fn getaddrinfo(
        node: *const std::ffi::c_char,
        service: *const std::ffi::c_char,
        hints: *const AddrInfo,
        res: *mut *const AddrInfo,
    ) -> i32;
    fn freeaddrinfo(res: *const AddrInfo);
}

/// nginx: ngx_inet_resolve_host (getaddrinfo with AF_UNSPEC, SOCK_STREAM, AI_ADDRCONFIG).
pub(crate) fn resolve_host(host: &[u8]) -> Option<Vec<IpAddr>> {
    const AF_INET: i32 = 2;
    const AF_INET6: i32 = 10;
    let c = std::ffi::CString::new(host).ok()?;
    let hints = AddrInfo {
        ai_flags: 0x20, // AI_ADDRCONFIG
        ai_family: 0,
        ai_socktype: 1, // SOCK_STREAM
        ai_protocol: 0,
        ai_addrlen: 0,
        ai_addr: std::ptr::null(),
        ai_canonname: std::ptr::null(),
        ai_next: std::ptr::null(),
    };
    let mut res: *const AddrInfo = std::ptr::null();
    // SAFETY: valid C string and hints; `res` is freed below.
    let rc = unsafe { getaddrinfo(c.as_ptr(), std::ptr::null(), &hints, &mut res) };
    if rc != 0 {
        return None;
    }
    let mut out = Vec::new();
    let mut p = res;
    while !p.is_null() {
        // SAFETY: `p` walks the list getaddrinfo returned; each ai_addr holds ai_addrlen bytes.
        let ai = unsafe { &*p };
        if !ai.ai_addr.is_null() {
            // SAFETY: as above, the sockaddr bytes are readable for ai_addrlen.
            let sa = unsafe { std::slice::from_raw_parts(ai.ai_addr, ai.ai_addrlen as usize) };
            if ai.ai_family == AF_INET && sa.len() >= 8 {
                out.push(IpAddr::V4(Ipv4Addr::new(sa[4], sa[5], sa[6], sa[7])));
            } else if ai.ai_family == AF_INET6 && sa.len() >= 24 {
                let mut b = [0u8; 16];
                b.copy_from_slice(&sa[8..24]);
                out.push(IpAddr::V6(Ipv6Addr::from(b)));
            }
        }
        p = ai.ai_next;
    }
    // SAFETY: `res` came from a successful getaddrinfo.
    unsafe { freeaddrinfo(res) };
    (!out.is_empty()).then_some(out)
}

/// nginx: ngx_ptocidr: `Some(true)` valid, `Some(false)` valid with meaningless low bits,
/// `None` not an address.
pub(crate) fn ptocidr(s: &[u8]) -> Option<bool> {
    let (addr, mask) = match s.iter().position(|&c| c == b'/') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (bits, max): (u128, u32) = if let Some(a) = inet_addr(addr) {
        (u128::from(u32::from(a)), 32)
    } else {
        let a: Ipv6Addr = std::str::from_utf8(addr).ok()?.parse().ok()?;
        (u128::from(a), 128)
    };
    let Some(mask) = mask else {
        return Some(true);
    };
    let n = atoi(mask)?;
    if n > i64::from(max) {
        return None;
    }
    let host_bits = max - n as u32;
    let low = if host_bits >= 128 {
        bits
    } else {
        bits & ((1u128 << host_bits) - 1)
    };
    Some(low == 0)
}

/// nginx: ngx_http_core_listen
fn listen(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    cf.frame().get::<SrvLevel>().listen = true;
    let url = arg(d, 0);
    let opts = UrlOpts {
        default_port: 80,
        listen: true,
        ..UrlOpts::default()
    };
    let u = match parse_url(url, &opts) {
        Ok(u) => u,
        Err(e) => {
            return Err(cf
                .emerg(format!(
                    "{e} in \"{}\" of the \"listen\" directive",
                    lossy(url)
                ))
                .into())
        }
    };
    let mut opt = ListenOpt {
        addr: ListenAddr::Unix(PathBuf::new()),
        text: String::new(),
        set: false,
        bind: false,
        wildcard: false,
        default_server: false,
        ssl: false,
        http2: false,
        proxy_protocol: false,
        backlog: 511,
        ipv6only: true,
        file: file_name(cf, d),
        line: d.line,
    };
    for v in d.args.iter().skip(1) {
        let v = v.as_slice();
        let bad = |cf: &mut Cf<'_>, what: &str| -> SetResult {
            Err(cf.emerg(format!("invalid {what} \"{}\"", lossy(v))).into())
        };
        if v == b"default_server" || v == b"default" {
            opt.default_server = true;
        } else if v == b"bind" {
            opt.set = true;
            opt.bind = true;
        } else if let Some(n) = v.strip_prefix(b"fastopen=") {
            opt.set = true;
            opt.bind = true;
            if atoi(n).is_none() {
                return bad(cf, "fastopen");
            }
        } else if let Some(n) = v.strip_prefix(b"backlog=") {
            opt.set = true;
            opt.bind = true;
            match atoi(n) {
                Some(b) if b != 0 => opt.backlog = i32::try_from(b).unwrap_or(i32::MAX),
                _ => return bad(cf, "backlog"),
            }
        } else if let Some(n) = v.strip_prefix(b"rcvbuf=") {
            opt.set = true;
            opt.bind = true;
            if parse_size(n).is_none() {
                return bad(cf, "rcvbuf");
            }
        } else if let Some(n) = v.strip_prefix(b"sndbuf=") {
            opt.set = true;
            opt.bind = true;
            if parse_size(n).is_none() {
                return bad(cf, "sndbuf");
            }
        } else if v.starts_with(b"accept_filter=") {
            cf.conf_log(
                Level::Emerg,
                format!(
                    "accept filters \"{}\" are not supported on this platform, ignored",
                    lossy(v)
                ),
            );
        } else if v == b"deferred" {
            opt.set = true;
            opt.bind = true;
        } else if v.starts_with(b"ipv6only=o") {
            match &v[10..] {
                b"n" => opt.ipv6only = true,
                b"ff" => opt.ipv6only = false,
                _ => {
                    return Err(cf
                        .emerg(format!("invalid ipv6only flags \"{}\"", lossy(&v[9..])))
                        .into())
                }
            }
            opt.set = true;
            opt.bind = true;
        } else if v == b"reuseport" {
            opt.set = true;
            opt.bind = true;
        } else if v == b"ssl" {
            opt.ssl = true;
        } else if v == b"http2" {
            opt.http2 = true;
        } else if let Some(ka) = v.strip_prefix(b"so_keepalive=") {
            if ka != b"on" && ka != b"off" && !so_keepalive_ok(ka) {
                return Err(cf
                    .emerg(format!("invalid so_keepalive value: \"{}\"", lossy(ka)))
                    .into());
            }
            opt.set = true;
            opt.bind = true;
        } else if v == b"proxy_protocol" {
            opt.proxy_protocol = true;
        } else {
            return Err(cf
                .emerg(format!("invalid parameter \"{}\"", lossy(v)))
                .into());
        }
    }
    let idx = core_main(cf).map_or(0, |m| m.servers.len().saturating_sub(1));
    for (addr, text) in u.addrs {
        let mut o = opt.clone();
        o.wildcard = match &addr {
            ListenAddr::Inet(a) => a.ip().is_unspecified(),
            ListenAddr::Unix(_) => false,
        };
        o.addr = addr;
        o.text = text;
        add_listen(cf, idx, o)?;
    }
    Ok(())
}

/// The `idle:intvl:cnt` form of `so_keepalive=` (NGX_HAVE_KEEPALIVE_TUNABLE).
fn so_keepalive_ok(s: &[u8]) -> bool {
    let mut parts = s.splitn(3, |&c| c == b':');
    let idle = parts.next().unwrap_or_default();
    let intvl = parts.next().unwrap_or_default();
    let cnt = parts.next().unwrap_or_default();
    let mut any = false;
    if !idle.is_empty() {
        match parse_time(idle, true) {
            Some(n) => any |= n != 0,
            None => return false,
        }
    }
    if !intvl.is_empty() {
        match parse_time(intvl, true) {
            Some(n) => any |= n != 0,
            None => return false,
        }
    }
    if !cnt.is_empty() {
        match atoi(cnt) {
            Some(n) => any |= n != 0,
            None => return false,
        }
    }
    any
}

fn family_port(a: &ListenAddr) -> (u8, u16) {
    match a {
        ListenAddr::Inet(SocketAddr::V4(v)) => (4, v.port()),
        ListenAddr::Inet(SocketAddr::V6(v)) => (6, v.port()),
        ListenAddr::Unix(_) => (1, 0),
    }
}

fn same_addr(a: &ListenAddr, b: &ListenAddr) -> bool {
    match (a, b) {
        (ListenAddr::Inet(x), ListenAddr::Inet(y)) => x.ip() == y.ip(),
        (ListenAddr::Unix(x), ListenAddr::Unix(y)) => x == y,
        _ => false,
    }
}

/// nginx: ngx_http_add_listen / ngx_http_add_addresses / ngx_http_add_server
fn add_listen(cf: &mut Cf<'_>, server: usize, opt: ListenOpt) -> Result<(), Failed> {
    let (family, port) = family_port(&opt.addr);
    let Some(main) = core_main(cf) else {
        return Ok(());
    };
    let pi = match main
        .ports
        .iter()
        .position(|p| p.family == family && p.port == port)
    {
        Some(i) => i,
        None => {
            main.ports.push(ConfPort {
                family,
                port,
                addrs: Vec::new(),
            });
            main.ports.len() - 1
        }
    };
    let addrs = &mut main.ports[pi].addrs;
    let Some(a) = addrs.iter_mut().find(|a| same_addr(&a.opt.addr, &opt.addr)) else {
        addrs.push(ConfAddr {
            opt,
            servers: vec![server],
            default_server: server,
        });
        return Ok(());
    };
    // nginx: ngx_http_add_server
    if a.servers.contains(&server) {
        let text = format!("a duplicate listen {}", a.opt.text);
        return Err(cf.emerg(text));
    }
    a.servers.push(server);
    let mut default_server = a.opt.default_server;
    let proxy_protocol = opt.proxy_protocol || a.opt.proxy_protocol;
    let ssl = opt.ssl || a.opt.ssl;
    let http2 = opt.http2 || a.opt.http2;
    if opt.set {
        if a.opt.set {
            let text = format!("duplicate listen options for {}", a.opt.text);
            return Err(cf.emerg(text));
        }
        a.opt = opt.clone();
    }
    if opt.default_server {
        if default_server {
            let text = format!("a duplicate default server for {}", a.opt.text);
            return Err(cf.emerg(text));
        }
        default_server = true;
        a.default_server = server;
    }
    a.opt.default_server = default_server;
    a.opt.proxy_protocol = proxy_protocol;
    a.opt.ssl = ssl;
    a.opt.http2 = http2;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The end of http {}
// ---------------------------------------------------------------------------------------------

/// nginx: ngx_http_core_module's `init_main_conf` and its server merges
/// (ngx_http_core_merge_srv_conf's check, ngx_http_core_merge_loc_conf's types hashes).
/// First of `INIT_MAIN_CONF`.
pub(crate) fn merge_servers(cf: &mut Cf<'_>, http: &mut Frame) -> Result<(), Failed> {
    let top = http.get::<SrvLevel>().clone();
    let mut http_loc = http.get::<LocLevel>().clone_types();
    let mut servers = std::mem::take(&mut http.get::<CoreMain>().servers);
    let mut r = Ok(());
    for s in &mut servers {
        let pool = s
            .srv
            .connection_pool_size
            .or(top.connection_pool_size)
            .unwrap_or(512);
        let large = s
            .srv
            .large_client_header_buffers
            .or(top.large_client_header_buffers)
            .unwrap_or(8192);
        if large < pool {
            r = Err(cf.emerg(
                "the \"large_client_header_buffers\" size must be equal to or greater than \
                 \"connection_pool_size\"",
            ));
            break;
        }
        if merge_loc(cf, &mut http_loc, &mut s.loc).is_err() {
            r = Err(Failed);
            break;
        }
    }
    http.get::<CoreMain>().servers = servers;
    r
}

impl LocLevel {
    fn clone_types(&self) -> LocNode {
        LocNode {
            types: self
                .types
                .as_ref()
                .map(|t| t.iter().map(|(ext, _)| ext.clone()).collect()),
            types_hash_max_size: self.types_hash_max_size,
            types_hash_bucket_size: self.types_hash_bucket_size,
            ..LocNode::default()
        }
    }
}

/// nginx: ngx_http_core_merge_loc_conf (its types hashes) and ngx_http_merge_locations.
fn merge_loc(cf: &mut Cf<'_>, prev: &mut LocNode, conf: &mut LocNode) -> Result<(), ()> {
    let max = conf
        .types_hash_max_size
        .or(prev.types_hash_max_size)
        .unwrap_or(1024);
    let bucket = conf
        .types_hash_bucket_size
        .or(prev.types_hash_bucket_size)
        .unwrap_or(64);
    conf.types_hash_max_size = Some(max);
    let bucket = (bucket + 63) & !63;
    conf.types_hash_bucket_size = Some(bucket);
    if let (Some(types), false) = (&prev.types, prev.types_built) {
        hash_init(cf, "types_hash", types, max, bucket)?;
        prev.types_built = true;
    }
    if conf.types.is_none() {
        conf.types.clone_from(&prev.types);
        conf.types_built = prev.types_built;
    }
    if conf.types.is_none() {
        conf.types = Some(vec![b"html".to_vec(), b"gif".to_vec(), b"jpg".to_vec()]);
    }
    if !conf.types_built {
        if let Some(types) = &conf.types {
            hash_init(cf, "types_hash", types, max, bucket)?;
        }
        conf.types_built = true;
    }
    let mut children = std::mem::take(&mut conf.children);
    let mut r = Ok(());
    for child in &mut children {
        if merge_loc(cf, conf, child).is_err() {
            r = Err(());
            break;
        }
    }
    conf.children = children;
    r
}

/// nginx: the location trees of ngx_http_block (ngx_http_init_locations and
/// ngx_http_init_static_location_trees: `duplicate location`). Last of `INIT_MAIN_CONF`,
/// after every module's merges.
pub(crate) fn init_locations(cf: &mut Cf<'_>, http: &mut Frame) -> Result<(), Failed> {
    let servers = std::mem::take(&mut http.get::<CoreMain>().servers);
    let mut r = Ok(());
    for s in &servers {
        if let Err(text) = static_location_trees(&s.loc.children) {
            cf.log(Level::Emerg, text);
            r = Err(Failed);
            break;
        }
    }
    http.get::<CoreMain>().servers = servers;
    r
}

/// nginx: ngx_http_init_static_location_trees + ngx_http_join_exact_locations
fn static_location_trees(locations: &[LocNode]) -> Result<(), String> {
    // Only static locations stay in the queue: regex, named and limit_except's are split off.
    let mut stat: Vec<&LocNode> = locations
        .iter()
        .filter(|l| !l.regex && !l.named && !l.noname)
        .collect();
    // ngx_http_cmp_locations: by name, an exact match before the same inclusive one (stable).
    stat.sort_by(|a, b| a.name.cmp(&b.name).then(b.exact.cmp(&a.exact)));
    for l in &stat {
        static_location_trees(&l.children)?;
    }
    let mut i = 0;
    let mut merged: Vec<(bool, bool)> = stat.iter().map(|l| (l.exact, !l.exact)).collect();
    while i + 1 < stat.len() {
        let (q, x) = (stat[i], stat[i + 1]);
        if q.name == x.name {
            let (qe, qi) = merged[i];
            let (xe, xi) = merged[i + 1];
            if (qe && xe) || (qi && xi) {
                return Err(format!(
                    "duplicate location \"{}\" in {}:{}",
                    lossy(&x.name),
                    x.file,
                    x.line
                ));
            }
            merged[i] = (qe || xe, qi || xi);
            stat.remove(i + 1);
            merged.remove(i + 1);
            continue;
        }
        i += 1;
    }
    Ok(())
}

/// Convenience: the core module's whole end-of-`http` work in nginx's order, for a caller
/// that has no other module hooks between them. Prefer the individual hooks:
/// [`merge_servers`] (first of INIT_MAIN_CONF), [`init_locations`] (last of INIT_MAIN_CONF)
/// and [`optimize_servers`] (OPTIMIZE_SERVERS, after variables).
#[allow(dead_code)]
pub(crate) fn postconfiguration(cf: &mut Cf<'_>, http: &mut Frame) -> Result<(), Failed> {
    merge_servers(cf, http)?;
    init_locations(cf, http)?;
    optimize_servers(cf, http)
}

/// nginx: ngx_http_optimize_servers: server names per address, then listening sockets
/// (wildcard merging) into the cycle.
pub(crate) fn optimize_servers(cf: &mut Cf<'_>, http: &mut Frame) -> Result<(), Failed> {
    let main = std::mem::take(http.get::<CoreMain>());
    let max_size = main.server_names_hash_max_size.unwrap_or(512);
    let bucket = main.server_names_hash_bucket_size.unwrap_or(64);
    // ngx_align(bucket, ngx_cacheline_size)
    let bucket = (bucket + 63) & !63;
    let mut r = Ok(());
    let mut listening = Vec::new();
    'ports: for port in &main.ports {
        let mut addrs = port.addrs.clone();
        // ngx_http_cmp_conf_addrs: explicit binds first, the wildcard last.
        addrs.sort_by_key(|a| (a.opt.wildcard, !a.opt.bind));
        for a in &addrs {
            let captures = main
                .servers
                .get(a.default_server)
                .is_some_and(|s| s.captures);
            if a.servers.len() > 1 || captures {
                if let Err(()) = server_names(cf, &main, a, max_size, bucket) {
                    r = Err(Failed);
                    break 'ports;
                }
            }
        }
        // nginx: ngx_http_init_listening
        let bind_wildcard = addrs.last().is_some_and(|a| a.opt.wildcard);
        let n = addrs.len();
        for (i, a) in addrs.iter().enumerate() {
            let bind = a.opt.bind || (bind_wildcard && i == n - 1);
            if bind_wildcard && !bind {
                continue;
            }
            listening.push(Listening {
                addr: a.opt.addr.clone(),
                text: a.opt.text.clone(),
                ipv6only: a.opt.ipv6only,
                backlog: a.opt.backlog,
                udp: false,
            });
        }
    }
    cf.main().get::<CycleConf>().listening.extend(listening);
    *http.get::<CoreMain>() = main;
    r
}

/// nginx: ngx_hash_key
fn hash_key(s: &[u8]) -> u64 {
    s.iter()
        .fold(0u64, |k, &c| k.wrapping_mul(31).wrapping_add(u64::from(c)))
}

/// nginx: NGX_HASH_ELT_SIZE
fn elt_size(len: usize) -> u64 {
    8 + ((len as u64 + 2 + 7) & !7)
}

/// nginx: ngx_http_server_names (ngx_hash_add_key's conflicts and ngx_hash_init's checks).
fn server_names(
    cf: &mut Cf<'_>,
    main: &CoreMain,
    a: &ConfAddr,
    max_size: i64,
    bucket: i64,
) -> Result<(), ()> {
    let mut exact: Vec<Vec<u8>> = Vec::new();
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut head: Vec<Vec<u8>> = Vec::new();
    let mut tail: Vec<Vec<u8>> = Vec::new();
    for &s in &a.servers {
        let Some(server) = main.servers.get(s) else {
            continue;
        };
        let mut names = server.names.clone();
        if names.is_empty() {
            names.push(ServerName {
                name: Vec::new(),
                regex: false,
            });
        }
        for n in &names {
            if n.regex {
                continue;
            }
            let key = &n.name;
            let shown = lossy(key);
            let stars = key.iter().filter(|&&c| c == b'*').count();
            let invalid = stars > 1 || key.windows(2).any(|w| w == b"..") || key.contains(&0);
            let busy = if invalid {
                None
            } else if key.len() > 1 && key[0] == b'.' {
                let k = key[1..].to_vec();
                let mut busy = exact.contains(&k);
                if !busy {
                    exact.push(k.clone());
                    busy = head.contains(&k);
                    if !busy {
                        head.push(k);
                    }
                }
                Some(busy)
            } else if key.len() > 2 && key.starts_with(b"*.") {
                let k = key[2..].to_vec();
                let busy = head.contains(&k);
                if !busy {
                    head.push(k);
                }
                Some(busy)
            } else if key.len() > 2 && key.ends_with(b".*") {
                let k = key[..key.len() - 1].to_vec();
                let busy = tail.contains(&k);
                if !busy {
                    tail.push(k);
                }
                Some(busy)
            } else if stars > 0 {
                None
            } else {
                let busy = exact.contains(key);
                if !busy {
                    exact.push(key.clone());
                    keys.push(key.clone());
                }
                Some(busy)
            };
            match busy {
                None => {
                    cf.log(
                        Level::Emerg,
                        format!(
                            "invalid server name or wildcard \"{shown}\" on {}",
                            a.opt.text
                        ),
                    );
                    return Err(());
                }
                Some(true) => cf.log(
                    Level::Warn,
                    format!(
                        "conflicting server name \"{shown}\" on {}, ignored",
                        a.opt.text
                    ),
                ),
                Some(false) => {}
            }
        }
    }
    if !keys.is_empty() {
        hash_init(cf, "server_names_hash", &keys, max_size, bucket)?;
    }
    Ok(())
}

/// nginx: ngx_hash_init's checks (`server_names_hash`, `types_hash`).
fn hash_init(
    cf: &mut Cf<'_>,
    name: &str,
    keys: &[Vec<u8>],
    max_size: i64,
    bucket: i64,
) -> Result<(), ()> {
    if max_size == 0 {
        cf.log(
            Level::Emerg,
            format!("could not build {name}, you should increase {name}_max_size: {max_size}"),
        );
        return Err(());
    }
    if bucket > 65536 - 64 {
        cf.log(
            Level::Emerg,
            format!("could not build {name}, too large {name}_bucket_size: {bucket}"),
        );
        return Err(());
    }
    let bucket_u = bucket as u64;
    for k in keys {
        if bucket_u < elt_size(k.len()) + 8 {
            cf.log(
                Level::Emerg,
                format!("could not build {name}, you should increase {name}_bucket_size: {bucket}"),
            );
            return Err(());
        }
    }
    let max = max_size as u64;
    let bsize = bucket_u - 8;
    let nelts = keys.len() as u64;
    let mut start = nelts / (bsize / 16);
    if start == 0 {
        start = 1;
    }
    if max > 10000 && nelts > 0 && max / nelts < 100 {
        start = max - 1000;
    }
    let hashes: Vec<u64> = keys.iter().map(|k| hash_key(k)).collect();
    let mut found = false;
    let mut size = start;
    while size <= max {
        let mut test = vec![0u64; size as usize];
        let mut ok = true;
        for (k, h) in keys.iter().zip(&hashes) {
            let slot = (h % size) as usize;
            let len = test[slot] + elt_size(k.len());
            if len > bsize {
                ok = false;
                break;
            }
            test[slot] = len;
        }
        if ok {
            found = true;
            break;
        }
        size += 1;
    }
    if !found {
        cf.log(
            Level::Warn,
            format!(
                "could not build optimal {name}, you should increase either \
                 {name}_max_size: {max_size} or {name}_bucket_size: {bucket}; \
                 ignoring {name}_bucket_size"
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, exact: bool, line: usize) -> LocNode {
        LocNode {
            name: name.as_bytes().to_vec(),
            exact,
            file: "f".into(),
            line,
            ..LocNode::default()
        }
    }

    #[test]
    fn duplicate_locations() {
        let ok = [
            node("/a", true, 1),
            node("/a", false, 2),
            node("/b", false, 3),
        ];
        assert!(static_location_trees(&ok).is_ok());
        let dup = [
            node("/a", false, 1),
            node("/b", false, 2),
            node("/a", false, 3),
        ];
        assert_eq!(
            static_location_trees(&dup),
            Err("duplicate location \"/a\" in f:3".into())
        );
        let dup = [
            node("/a", true, 1),
            node("/a", false, 2),
            node("/a", true, 5),
        ];
        assert_eq!(
            static_location_trees(&dup),
            Err("duplicate location \"/a\" in f:5".into())
        );
    }

    #[test]
    fn urls() {
        let l = UrlOpts {
            default_port: 80,
            listen: true,
            ..UrlOpts::default()
        };
        let u = parse_url(b"8080", &l).ok();
        assert_eq!(u.map(|u| u.addrs[0].1.clone()), Some("0.0.0.0:8080".into()));
        let u = parse_url(b"[::]:443", &l).ok();
        assert_eq!(
            u.map(|u| (u.wildcard, u.addrs[0].1.clone())),
            Some((true, "[::]:443".into()))
        );
        assert_eq!(parse_url(b"1.2.3.4:0", &l).err(), Some("invalid port"));
        assert_eq!(parse_url(b"80-70", &l).err(), Some("invalid port range"));
        assert_eq!(
            parse_url(b"unix:", &l).err(),
            Some("no path in the unix domain socket")
        );
        assert_eq!(parse_url(b":80", &l).err(), Some("no host"));
        assert_eq!(parse_url(b"a/b", &l).err(), Some("invalid host"));
        assert_eq!(inet_addr(b"1..2.3"), Some(Ipv4Addr::new(1, 0, 2, 3)));
        assert_eq!(ptocidr(b"1.2.3.4/8"), Some(false));
        assert_eq!(ptocidr(b"10.0.0.0/8"), Some(true));
    }
}
