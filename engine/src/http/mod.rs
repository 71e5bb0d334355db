//! ngx_http_module: the `http` block, and the http modules, one file each.

pub(crate) mod access;
pub(crate) mod access_log;
pub(crate) mod addition;
pub(crate) mod auth_basic;
pub(crate) mod auth_request;
pub(crate) mod autoindex;
pub(crate) mod browser;
pub(crate) mod charset;
pub(crate) mod conn_wait;
pub(crate) mod core;
pub(crate) mod dav;
pub(crate) mod echo;
pub(crate) mod empty_gif;
pub(crate) mod errlog;
pub(crate) mod fastcgi;
pub(crate) mod fastcgi_run;
pub(crate) mod file_body;
pub(crate) mod file_cache;
pub(crate) mod flv;
pub(crate) mod geo;
pub(crate) mod grpc;
pub(crate) mod gunzip;
pub(crate) mod gzip;
pub(crate) mod gzip_static;
pub(crate) mod h1;
pub(crate) mod head;
pub(crate) mod headers;
pub(crate) mod headers_more;
pub(crate) mod index;
pub(crate) mod limit_conn;
pub(crate) mod limit_req;
pub(crate) mod log;
pub(crate) mod log_phase;
pub(crate) mod lower;
pub(crate) mod lua;
pub(crate) mod map;
pub(crate) mod memcached;
pub(crate) mod mirror;
pub(crate) mod mp4;
pub(crate) mod ndk;
pub(crate) mod proxy;
pub(crate) mod proxy_protocol;
pub(crate) mod proxy_run;
pub(crate) mod proxy_ssl;
pub(crate) mod random_index;
pub(crate) mod realip;
pub(crate) mod referer;
pub(crate) mod req_headers;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod rewrite;
pub(crate) mod scgi;
pub(crate) mod secure_link;
pub(crate) mod set_misc;
pub(crate) mod slice;
pub(crate) mod split_clients;
pub(crate) mod ssi;
pub(crate) mod ssl;
pub(crate) mod static_file;
pub(crate) mod stub_status;
pub(crate) mod sub;
pub(crate) mod try_files;
pub(crate) mod upstream;
pub(crate) mod upstream_hash;
pub(crate) mod upstream_ip_hash;
pub(crate) mod upstream_keepalive;
pub(crate) mod upstream_least_conn;
pub(crate) mod upstream_random;
pub(crate) mod upstream_resolve;
pub(crate) mod upstream_rr;
pub(crate) mod upstream_zone;
pub(crate) mod userid;
pub(crate) mod uwsgi;
pub(crate) mod v2;
pub(crate) mod variables;
pub(crate) mod vars_runtime;

use parser::{Body, Directive};

use crate::conf::dispatch::{Failed, Frame};
use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_module",
    commands: &[cmd(
        "http",
        Ctx::MAIN,
        Args::BLOCK.or(Args::NOARGS),
        Set::Handler(http_block),
    )],
};

/// A step nginx runs when the `http` block ends, given the block's level.
type Hook = fn(&mut Cf<'_>, &mut Frame) -> Result<(), Failed>;

/// Modules' `init_main_conf` and server merges, in module order, then the location trees.
const INIT_MAIN_CONF: &[Hook] = &[
    core::merge_servers,
    upstream::check_cache_refs,
    |cf, http| {
        log::merge_http(cf, http);
        Ok(())
    },
    upstream::init_main_conf,
    referer::merge_check,
    ssl_merge_servers,
    lua::directives::ssl_merge_check,
    proxy::ssl_merge_check,
    core::init_locations,
];

/// Modules' `postconfiguration`, in module order.
const POSTCONFIGURATION: &[Hook] = &[ssl_init];

/// Server and listen optimisation (nginx: ngx_http_optimize_servers).
const OPTIMIZE_SERVERS: &[Hook] = &[core::optimize_servers];

/// nginx: ngx_http_block.
fn http_block<'a>(cf: &mut Cf<'a>, d: &'a Directive) -> SetResult {
    if cf.seen("http") {
        return Err(Some("is duplicate".into()));
    }
    let Body::Block(block) = &d.body else {
        return Err(None);
    };
    crate::core::mark_modules_used(cf);
    let mut http = cf.block(block, Ctx::HTTP_MAIN)?;
    // nginx reports what the end of the block finds at its closing brace.
    cf.set_at(d.file, crate::conf::dispatch::block_end_line(d));
    for hook in INIT_MAIN_CONF {
        hook(cf, &mut http)?;
    }
    for hook in POSTCONFIGURATION {
        hook(cf, &mut http)?;
    }
    let vars = http.take::<variables::HttpVariables>();
    variables::init_vars(cf, &vars)?;
    for hook in OPTIMIZE_SERVERS {
        hook(cf, &mut http)?;
    }
    Ok(())
}

/// nginx: ngx_http_merge_servers for ngx_http_ssl_module: every server's ssl conf with the
/// http level's.
fn ssl_merge_servers(cf: &mut Cf<'_>, http: &mut Frame) -> Result<(), Failed> {
    let parent = http.take::<ssl::SslConf>();
    for server in &mut http.get::<core::CoreMain>().servers {
        ssl::merge_srv_conf(cf, &parent, &mut server.ssl)?;
    }
    Ok(())
}

/// nginx: ngx_http_ssl_init: every `listen ... ssl` address needs a certificate.
fn ssl_init(cf: &mut Cf<'_>, http: &mut Frame) -> Result<(), Failed> {
    let main = http.get::<core::CoreMain>();
    let servers = &main.servers;
    let addrs: Vec<ssl::SslAddr<'_>> = main
        .ports
        .iter()
        .flat_map(|p| &p.addrs)
        .filter(|a| a.opt.ssl)
        .map(|a| ssl::SslAddr {
            servers: std::iter::once(a.default_server)
                .chain(a.servers.iter().copied())
                .filter_map(|i| servers.get(i))
                .map(|s| (&s.ssl, s.file.as_str(), s.line))
                .collect(),
        })
        .collect();
    ssl::postconfiguration(cf, &addrs)
}
