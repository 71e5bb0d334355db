//! ngx_http_lua_module 0.10.23: the directive table (nginx: ngx_http_lua_cmds in
//! ngx_http_lua_module.c) and its setters (ngx_http_lua_directive.c and the `*by.c` files).
//!
//! Lua code is not compiled at configuration time: under `-t` lua-nginx-module never creates
//! its VM (ngx_http_lua_init returns early), so even `init_by_lua*` is only stored here.
//!
//! `*_by_lua_block` bodies come from the parser as [`Body::Lua`]. nginx hands the code to the
//! same setter as `*_by_lua`, but from inside its own block parser: the current line is then
//! the closing `}`'s, and a string the setter returns is logged bare (`is duplicate`, without
//! the `"name" directive` prefix).

use parser::{Body, Directive};

use crate::conf::dispatch::Failed;
use crate::conf::values::{atoi, parse_size};
use crate::conf::{cmd, slot, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};
use crate::http::{ndk, variables};
use crate::log::Level;

/// http main, server, location, `if` in location.
const MSL_LIF: Ctx = Ctx::HTTP_MSL.or(Ctx::HTTP_LIF);
/// server, `if` in server, location, `if` in location.
const SRV_SIF_LOC_LIF: Ctx = Ctx::HTTP_SRV
    .or(Ctx::HTTP_SIF)
    .or(Ctx::HTTP_LOC)
    .or(Ctx::HTTP_LIF);
/// location, `if` in location.
const LOC_LIF: Ctx = Ctx::HTTP_LOC.or(Ctx::HTTP_LIF);
/// http main and server.
const MAIN_SRV: Ctx = Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV);
/// `*_by_lua_block { ... }`.
const BLOCK: Args = Args::BLOCK.or(Args::NOARGS);

const fn h(
    name: &'static str,
    ctx: Ctx,
    args: Args,
    f: fn(&mut Cf<'_>, &Directive) -> SetResult,
) -> Command {
    cmd(name, ctx, args, Set::Handler(f))
}

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_lua_module",
    commands: &[
        h(
            "lua_load_resty_core",
            Ctx::HTTP_MAIN,
            Args::FLAG,
            load_resty_core,
        ),
        cmd(
            "lua_thread_cache_max_entries",
            Ctx::HTTP_MAIN,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
        cmd(
            "lua_max_running_timers",
            Ctx::HTTP_MAIN,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
        cmd(
            "lua_max_pending_timers",
            Ctx::HTTP_MAIN,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
        h("lua_shared_dict", Ctx::HTTP_MAIN, Args::TAKE2, shared_dict),
        h(
            "lua_capture_error_log",
            Ctx::HTTP_MAIN,
            Args::TAKE1,
            capture_error_log,
        ),
        cmd(
            "lua_sa_restart",
            Ctx::HTTP_MAIN,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "lua_regex_cache_max_entries",
            Ctx::HTTP_MAIN,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
        cmd(
            "lua_regex_match_limit",
            Ctx::HTTP_MAIN,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
        h(
            "lua_package_cpath",
            Ctx::HTTP_MAIN,
            Args::TAKE1,
            package_cpath,
        ),
        h(
            "lua_package_path",
            Ctx::HTTP_MAIN,
            Args::TAKE1,
            package_path,
        ),
        h("lua_code_cache", MSL_LIF, Args::FLAG, code_cache),
        cmd(
            "lua_need_request_body",
            MSL_LIF,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "lua_transform_underscores_in_response_headers",
            MSL_LIF,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "lua_socket_log_errors",
            MSL_LIF,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        h(
            "init_by_lua_block",
            Ctx::HTTP_MAIN,
            BLOCK,
            init_by_lua_block,
        ),
        h("init_by_lua", Ctx::HTTP_MAIN, Args::TAKE1, init_by_lua),
        h(
            "init_by_lua_file",
            Ctx::HTTP_MAIN,
            Args::TAKE1,
            init_by_lua_file,
        ),
        h(
            "init_worker_by_lua_block",
            Ctx::HTTP_MAIN,
            BLOCK,
            init_worker_by_lua_block,
        ),
        h(
            "init_worker_by_lua",
            Ctx::HTTP_MAIN,
            Args::TAKE1,
            init_worker_by_lua,
        ),
        h(
            "init_worker_by_lua_file",
            Ctx::HTTP_MAIN,
            Args::TAKE1,
            init_worker_by_lua_file,
        ),
        h(
            "exit_worker_by_lua_block",
            Ctx::HTTP_MAIN,
            BLOCK,
            exit_worker_by_lua_block,
        ),
        h(
            "exit_worker_by_lua_file",
            Ctx::HTTP_MAIN,
            Args::TAKE1,
            exit_worker_by_lua_file,
        ),
        h(
            "set_by_lua_block",
            SRV_SIF_LOC_LIF,
            Args::TAKE1.or(Args::BLOCK),
            set_by_lua_block,
        ),
        h("set_by_lua", SRV_SIF_LOC_LIF, Args::TWOMORE, set_by_lua),
        h(
            "set_by_lua_file",
            SRV_SIF_LOC_LIF,
            Args::TWOMORE,
            set_by_lua_file,
        ),
        h(
            "server_rewrite_by_lua_block",
            MAIN_SRV,
            BLOCK,
            server_rewrite_by_lua_block,
        ),
        h(
            "server_rewrite_by_lua_file",
            MAIN_SRV,
            Args::TAKE1,
            server_rewrite_by_lua_file,
        ),
        h("rewrite_by_lua", MSL_LIF, Args::TAKE1, rewrite_by_lua),
        h("rewrite_by_lua_block", MSL_LIF, BLOCK, rewrite_by_lua_block),
        h("access_by_lua", MSL_LIF, Args::TAKE1, access_by_lua),
        h("access_by_lua_block", MSL_LIF, BLOCK, access_by_lua_block),
        h("content_by_lua", LOC_LIF, Args::TAKE1, content_by_lua),
        h("content_by_lua_block", LOC_LIF, BLOCK, content_by_lua_block),
        h("log_by_lua", MSL_LIF, Args::TAKE1, log_by_lua),
        h("log_by_lua_block", MSL_LIF, BLOCK, log_by_lua_block),
        h(
            "rewrite_by_lua_file",
            MSL_LIF,
            Args::TAKE1,
            rewrite_by_lua_file,
        ),
        cmd(
            "rewrite_by_lua_no_postpone",
            Ctx::HTTP_MAIN,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        h(
            "access_by_lua_file",
            MSL_LIF,
            Args::TAKE1,
            access_by_lua_file,
        ),
        cmd(
            "access_by_lua_no_postpone",
            Ctx::HTTP_MAIN,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        h(
            "content_by_lua_file",
            LOC_LIF,
            Args::TAKE1,
            content_by_lua_file,
        ),
        h("log_by_lua_file", MSL_LIF, Args::TAKE1, log_by_lua_file),
        h(
            "header_filter_by_lua",
            MSL_LIF,
            Args::TAKE1,
            header_filter_by_lua,
        ),
        h(
            "header_filter_by_lua_block",
            MSL_LIF,
            BLOCK,
            header_filter_by_lua_block,
        ),
        h(
            "header_filter_by_lua_file",
            MSL_LIF,
            Args::TAKE1,
            header_filter_by_lua_file,
        ),
        h(
            "body_filter_by_lua",
            MSL_LIF,
            Args::TAKE1,
            body_filter_by_lua,
        ),
        h(
            "body_filter_by_lua_block",
            MSL_LIF,
            BLOCK,
            body_filter_by_lua_block,
        ),
        h(
            "body_filter_by_lua_file",
            MSL_LIF,
            Args::TAKE1,
            body_filter_by_lua_file,
        ),
        h(
            "balancer_by_lua_block",
            Ctx::HTTP_UPS,
            BLOCK,
            balancer_by_lua_block,
        ),
        h(
            "balancer_by_lua_file",
            Ctx::HTTP_UPS,
            Args::TAKE1,
            balancer_by_lua_file,
        ),
        cmd(
            "lua_socket_keepalive_timeout",
            MSL_LIF,
            Args::TAKE1,
            Set::Slot(Slot::Msec),
        ),
        cmd(
            "lua_socket_connect_timeout",
            MSL_LIF,
            Args::TAKE1,
            Set::Slot(Slot::Msec),
        ),
        cmd(
            "lua_socket_send_timeout",
            MSL_LIF,
            Args::TAKE1,
            Set::Slot(Slot::Msec),
        ),
        h(
            "lua_socket_send_lowat",
            MSL_LIF,
            Args::TAKE1,
            socket_send_lowat,
        ),
        cmd(
            "lua_socket_buffer_size",
            MSL_LIF,
            Args::TAKE1,
            Set::Slot(Slot::Size),
        ),
        cmd(
            "lua_socket_pool_size",
            MSL_LIF,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
        cmd(
            "lua_socket_read_timeout",
            MSL_LIF,
            Args::TAKE1,
            Set::Slot(Slot::Msec),
        ),
        cmd(
            "lua_http10_buffering",
            MSL_LIF,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "lua_check_client_abort",
            MSL_LIF,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "lua_use_default_type",
            MSL_LIF,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "lua_ssl_protocols",
            Ctx::HTTP_MSL,
            Args::ONEMORE,
            Set::Slot(Slot::Bitmask(SSL_PROTOCOLS)),
        ),
        cmd(
            "lua_ssl_ciphers",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Str),
        ),
        h(
            "ssl_client_hello_by_lua_block",
            MAIN_SRV,
            BLOCK,
            ssl_client_hello_by_lua_block,
        ),
        h(
            "ssl_client_hello_by_lua_file",
            MAIN_SRV,
            Args::TAKE1,
            ssl_client_hello_by_lua_file,
        ),
        h(
            "ssl_certificate_by_lua_block",
            MAIN_SRV,
            BLOCK,
            ssl_certificate_by_lua_block,
        ),
        h(
            "ssl_certificate_by_lua_file",
            MAIN_SRV,
            Args::TAKE1,
            ssl_certificate_by_lua_file,
        ),
        h(
            "ssl_session_store_by_lua_block",
            Ctx::HTTP_MAIN,
            BLOCK,
            ssl_session_store_by_lua_block,
        ),
        h(
            "ssl_session_store_by_lua_file",
            Ctx::HTTP_MAIN,
            Args::TAKE1,
            ssl_session_store_by_lua_file,
        ),
        h(
            "ssl_session_fetch_by_lua_block",
            Ctx::HTTP_MAIN,
            BLOCK,
            ssl_session_fetch_by_lua_block,
        ),
        h(
            "ssl_session_fetch_by_lua_file",
            Ctx::HTTP_MAIN,
            Args::TAKE1,
            ssl_session_fetch_by_lua_file,
        ),
        cmd(
            "lua_ssl_verify_depth",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
        cmd(
            "lua_ssl_trusted_certificate",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Str),
        ),
        cmd(
            "lua_ssl_crl",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Str),
        ),
        // nginx: its post handler only refuses builds without SSL_CONF_FLAG_FILE (OpenSSL 3 has it)
        cmd(
            "lua_ssl_conf_command",
            Ctx::HTTP_MSL,
            Args::TAKE2,
            Set::Slot(Slot::KeyVal),
        ),
        h("lua_malloc_trim", Ctx::HTTP_MAIN, Args::TAKE1, malloc_trim),
        cmd(
            "lua_worker_thread_vm_pool_size",
            Ctx::HTTP_MAIN,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
    ],
};

/// nginx: ngx_http_lua_ssl_protocols
pub(crate) const SSL_PROTOCOLS: &[&str] =
    &["SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"];

/// The shared-memory tag of lua-nginx-module's dicts (nginx: `&ngx_http_lua_module`).
pub(crate) const SHM_TAG: &str = "ngx_http_lua_module";

/// Smallest `lua_shared_dict` size the directive accepts (nginx: `size <= 8191` is refused).
const SHDICT_MIN_SIZE: u64 = 8192;

// ---------------------------------------------------------------------------------------------
// Configuration types.

/// Where a phase's Lua code comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LuaSrc {
    /// `*_by_lua_block { code }` or `*_by_lua "code"`: the code, and the file and line nginx
    /// names its chunk after (`=content_by_lua(nginx.conf:12)`).
    Inline {
        code: Vec<u8>,
        file: usize,
        line: usize,
    },
    /// `*_by_lua_file path` (may hold variables for the request phases).
    File(Vec<u8>),
}

/// A phase handler: the directive's tag (`content_by_lua`...) and its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LuaHandler {
    pub(crate) tag: &'static str,
    pub(crate) src: LuaSrc,
}

/// One `lua_shared_dict name size`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SharedDict {
    pub(crate) name: Vec<u8>,
    pub(crate) size: u64,
}

/// lua-nginx-module's `http` level (nginx: ngx_http_lua_main_conf_t).
#[derive(Default, Debug)]
pub(crate) struct LuaMain {
    pub(crate) init: Option<LuaHandler>,
    pub(crate) init_worker: Option<LuaHandler>,
    pub(crate) exit_worker: Option<LuaHandler>,
    /// `lua_package_path` / `lua_package_cpath` (an empty value counts as unset, as in nginx).
    pub(crate) lua_path: Vec<u8>,
    pub(crate) lua_cpath: Vec<u8>,
}

/// Every `lua_shared_dict`, kept in the main level so the cycle can create the zones
/// (nginx: lmcf->shdict_zones).
#[derive(Default, Debug)]
pub(crate) struct SharedDicts {
    pub(crate) dicts: Vec<SharedDict>,
}

/// lua-nginx-module's per-server handlers, one per level (nginx: ngx_http_lua_srv_conf_t).
#[derive(Default, Debug)]
pub(crate) struct LuaSrv {
    pub(crate) server_rewrite: Option<LuaHandler>,
    pub(crate) ssl_client_hello: Option<LuaHandler>,
    pub(crate) ssl_cert: Option<LuaHandler>,
    pub(crate) ssl_sess_store: Option<LuaHandler>,
    pub(crate) ssl_sess_fetch: Option<LuaHandler>,
    pub(crate) balancer: Option<LuaHandler>,
}

/// lua-nginx-module's per-location handlers, one per level (nginx: ngx_http_lua_loc_conf_t).
#[derive(Default, Debug)]
pub(crate) struct LuaLoc {
    pub(crate) rewrite: Option<LuaHandler>,
    pub(crate) access: Option<LuaHandler>,
    pub(crate) content: Option<LuaHandler>,
    pub(crate) log: Option<LuaHandler>,
    pub(crate) header_filter: Option<LuaHandler>,
    pub(crate) body_filter: Option<LuaHandler>,
}

/// An `upstream {}` level's load-balancing method is set (nginx: `uscf->peer.init_upstream`
/// is not NULL): `balancer_by_lua*` warns `load balancing method redefined` when it is.
/// The upstream modules (hash, ip_hash, least_conn, random, keepalive) share this flag.
#[derive(Default, Debug)]
pub(crate) struct UpstreamPeerInit {
    pub(crate) set: bool,
}

/// nginx: ngx_http_lua_shared_memory_add over the cycle's zones: `Ok(true)` when this dict
/// claims the zone, `Ok(false)` when a dict of that name already did (`zone->data` set).
pub(crate) fn shared_memory_add(
    cf: &mut Cf<'_>,
    name: &[u8],
    size: u64,
    tag: &'static str,
) -> Result<bool, Failed> {
    let i = crate::http::upstream::shared_memory_add(cf, name, size, tag)?;
    let zones = &mut cf.main().get::<crate::http::upstream::SharedMemory>().zones;
    Ok(zones
        .get_mut(i)
        .is_some_and(|z| !std::mem::replace(&mut z.data, true)))
}

// ---------------------------------------------------------------------------------------------
// Helpers.

pub(crate) fn lossy(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

pub(crate) fn arg(d: &Directive, i: usize) -> &[u8] {
    d.args.get(i).map(Vec::as_slice).unwrap_or_default()
}

/// How a directive gives its code.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    Block,
    Inline,
    File,
}

/// The code or path argument of a `*_by_lua*` directive (nginx: `value[1]`, or the block's
/// text that ngx_http_lua_conf_lua_block_parse appends to the arguments).
pub(crate) fn source(d: &Directive, form: Form) -> Option<&[u8]> {
    match form {
        Form::Block => match &d.body {
            Body::Lua(lb) => Some(&lb.code),
            _ => None,
        },
        // set_by_lua's code/path is its second argument
        Form::Inline | Form::File => d.args.last().map(Vec::as_slice),
    }
}

/// nginx: ngx_http_lua_conf_lua_block_parse around a setter: the setter runs at the closing
/// `}`'s line and a string it returns is logged as is. A block the parser could not finish is
/// left alone: the enclosing level reports the syntax error.
pub(crate) fn with_block(
    cf: &mut Cf<'_>,
    d: &Directive,
    form: Form,
    set: impl FnOnce(&mut Cf<'_>) -> SetResult,
) -> SetResult {
    if form != Form::Block {
        return set(cf);
    }
    let Body::Lua(lb) = &d.body else {
        return Ok(());
    };
    if !lb.complete {
        return Ok(());
    }
    cf.set_at(d.file, lb.end_line);
    match set(cf) {
        Err(Some(text)) => Err(cf.emerg(text).into()),
        r => r,
    }
}

/// `[error] invalid location config: no runnable Lua code` (nginx logs it at NGX_LOG_ERR).
fn no_runnable_code(cf: &mut Cf<'_>) -> SetResult {
    cf.conf_log(
        Level::Error,
        "invalid location config: no runnable Lua code",
    );
    Err(None)
}

/// The handler a directive stores: inline code keeps the line nginx names the chunk after.
pub(crate) fn handler(d: &Directive, tag: &'static str, form: Form, code: &[u8]) -> LuaHandler {
    let line = match &d.body {
        Body::Lua(lb) => lb.start_line,
        _ => d.line,
    };
    let src = match form {
        Form::File => LuaSrc::File(code.to_vec()),
        Form::Block | Form::Inline => LuaSrc::Inline {
            code: code.to_vec(),
            file: d.file,
            line,
        },
    };
    LuaHandler { tag, src }
}

// ---------------------------------------------------------------------------------------------
// Request phases: rewrite, access, content, log, header_filter, body_filter.

#[derive(Clone, Copy)]
enum LocPhase {
    Rewrite,
    Access,
    Content,
    Log,
    HeaderFilter,
    BodyFilter,
}

impl LocPhase {
    fn tag(self) -> &'static str {
        match self {
            LocPhase::Rewrite => "rewrite_by_lua",
            LocPhase::Access => "access_by_lua",
            LocPhase::Content => "content_by_lua",
            LocPhase::Log => "log_by_lua",
            LocPhase::HeaderFilter => "header_filter_by_lua",
            LocPhase::BodyFilter => "body_filter_by_lua",
        }
    }

    fn slot(self, conf: &mut LuaLoc) -> &mut Option<LuaHandler> {
        match self {
            LocPhase::Rewrite => &mut conf.rewrite,
            LocPhase::Access => &mut conf.access,
            LocPhase::Content => &mut conf.content,
            LocPhase::Log => &mut conf.log,
            LocPhase::HeaderFilter => &mut conf.header_filter,
            LocPhase::BodyFilter => &mut conf.body_filter,
        }
    }
}

/// nginx: ngx_http_lua_{rewrite,access,content,log,header_filter,body_filter}_by_lua (and
/// their `_block` wrappers): one handler per level, code required, a file path is a complex
/// value.
fn loc_phase(cf: &mut Cf<'_>, d: &Directive, phase: LocPhase, form: Form) -> SetResult {
    with_block(cf, d, form, |cf| {
        if phase.slot(cf.frame().get::<LuaLoc>()).is_some() {
            return Err(Some("is duplicate".into()));
        }
        let code = source(d, form).unwrap_or_default();
        if code.is_empty() {
            return no_runnable_code(cf);
        }
        if form == Form::File {
            variables::compile_complex_value(cf, code)?;
        }
        let hd = handler(d, phase.tag(), form, code);
        *phase.slot(cf.frame().get::<LuaLoc>()) = Some(hd);
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Server-level handlers: server_rewrite, ssl_*, balancer.

#[derive(Clone, Copy, PartialEq, Eq)]
enum SrvPhase {
    ServerRewrite,
    SslClientHello,
    SslCert,
    SslSessStore,
    SslSessFetch,
    Balancer,
}

impl SrvPhase {
    fn tag(self) -> &'static str {
        match self {
            SrvPhase::ServerRewrite => "server_rewrite_by_lua",
            SrvPhase::SslClientHello => "ssl_client_hello_by_lua",
            SrvPhase::SslCert => "ssl_certificate_by_lua",
            SrvPhase::SslSessStore => "ssl_session_store_by_lua",
            SrvPhase::SslSessFetch => "ssl_session_fetch_by_lua",
            SrvPhase::Balancer => "balancer_by_lua",
        }
    }

    fn slot(self, conf: &mut LuaSrv) -> &mut Option<LuaHandler> {
        match self {
            SrvPhase::ServerRewrite => &mut conf.server_rewrite,
            SrvPhase::SslClientHello => &mut conf.ssl_client_hello,
            SrvPhase::SslCert => &mut conf.ssl_cert,
            SrvPhase::SslSessStore => &mut conf.ssl_sess_store,
            SrvPhase::SslSessFetch => &mut conf.ssl_sess_fetch,
            SrvPhase::Balancer => &mut conf.balancer,
        }
    }
}

/// nginx: ngx_http_lua_server_rewrite_by_lua, ngx_http_lua_ssl_*_by_lua,
/// ngx_http_lua_balancer_by_lua: one handler per level; only server_rewrite requires code and
/// compiles its file path as a complex value; balancer replaces the upstream's method.
fn srv_phase(cf: &mut Cf<'_>, d: &Directive, phase: SrvPhase, form: Form) -> SetResult {
    with_block(cf, d, form, |cf| {
        if phase.slot(cf.frame().get::<LuaSrv>()).is_some() {
            return Err(Some("is duplicate".into()));
        }
        let code = source(d, form).unwrap_or_default();
        if phase == SrvPhase::ServerRewrite {
            if code.is_empty() {
                return no_runnable_code(cf);
            }
            if form == Form::File {
                variables::compile_complex_value(cf, code)?;
            }
        }
        let hd = handler(d, phase.tag(), form, code);
        *phase.slot(cf.frame().get::<LuaSrv>()) = Some(hd);
        if matches!(phase, SrvPhase::SslCert | SrvPhase::SslClientHello) {
            // for ssl_merge_check, when `http` ends
            if cf.ctx().has(crate::conf::Ctx::HTTP_SRV) {
                if let Some(s) = cf
                    .enclosing(crate::conf::Ctx::HTTP_MAIN)
                    .and_then(|f| f.get::<crate::http::core::CoreMain>().servers.last_mut())
                {
                    s.lua_ssl = true;
                }
            } else {
                cf.frame().get::<LuaSslHttp>().set = true;
            }
        }
        if phase == SrvPhase::Balancer {
            let peer = cf.frame().get::<UpstreamPeerInit>();
            let redefined = peer.set;
            peer.set = true;
            if redefined {
                cf.conf_log(Level::Warn, "load balancing method redefined");
            }
        }
        Ok(())
    })
}

/// `ssl_client_hello_by_lua*` or `ssl_certificate_by_lua*` at the `http` level.
#[derive(Default, Debug)]
pub(crate) struct LuaSslHttp {
    pub(crate) set: bool,
}

/// nginx: ngx_http_lua_merge_srv_conf's check: a server with a Lua TLS hook (its own or
/// the `http` level's) must be an SSL server.
pub(crate) fn ssl_merge_check(
    cf: &mut Cf<'_>,
    http: &mut crate::http::Frame,
) -> Result<(), Failed> {
    let http_level = http.get::<LuaSslHttp>().set;
    let bad = http
        .get::<crate::http::core::CoreMain>()
        .servers
        .iter()
        .any(|s| (s.lua_ssl || http_level) && !s.ssl.has_ctx());
    if bad {
        cf.log(Level::Emerg, "no ssl configured for the server".into());
        return Err(Failed);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// http-level handlers: init, init_worker, exit_worker.

#[derive(Clone, Copy, PartialEq, Eq)]
enum MainPhase {
    Init,
    InitWorker,
    ExitWorker,
}

/// nginx: ngx_http_lua_init_by_lua, ngx_http_lua_init_worker_by_lua,
/// ngx_http_lua_exit_worker_by_lua: once per `http`; only init requires code.
fn main_phase(cf: &mut Cf<'_>, d: &Directive, phase: MainPhase, form: Form) -> SetResult {
    with_block(cf, d, form, |cf| {
        let taken = {
            let m = cf.frame().get::<LuaMain>();
            match phase {
                MainPhase::Init => m.init.is_some(),
                MainPhase::InitWorker => m.init_worker.is_some(),
                MainPhase::ExitWorker => m.exit_worker.is_some(),
            }
        };
        if taken {
            return Err(Some("is duplicate".into()));
        }
        let code = source(d, form).unwrap_or_default();
        if phase == MainPhase::Init && code.is_empty() {
            return no_runnable_code(cf);
        }
        let tag = match phase {
            MainPhase::Init => "init_by_lua",
            MainPhase::InitWorker => "init_worker_by_lua",
            MainPhase::ExitWorker => "exit_worker_by_lua",
        };
        let hd = Some(handler(d, tag, form, code));
        let m = cf.frame().get::<LuaMain>();
        match phase {
            MainPhase::Init => m.init = hd,
            MainPhase::InitWorker => m.init_worker = hd,
            MainPhase::ExitWorker => m.exit_worker = hd,
        }
        Ok(())
    })
}

/// nginx: ngx_http_lua_set_by_lua / ngx_http_lua_set_by_lua_file (through ngx_devel_kit's
/// ndk_set_var_multi_value_core): `$var` is defined, the extra arguments (and a file path)
/// are compiled; the code itself may be empty.
fn set_by(cf: &mut Cf<'_>, d: &Directive, form: Form) -> SetResult {
    with_block(cf, d, form, |cf| {
        let Some((var, rest)) = d.args.split_first() else {
            return Ok(());
        };
        let values = match form {
            Form::Block => &[][..],
            // the inline code is not a value
            Form::Inline => rest.get(1..).unwrap_or_default(),
            Form::File => {
                // the path is compiled first, then again as the first NDK value
                variables::compile_complex_value(cf, arg(d, 1))?;
                rest
            }
        };
        ndk::set_var_values(cf, var, values)
    })
}

macro_rules! setters {
    ($($name:ident => $body:expr;)*) => {
        $(
            #[doc = concat!("nginx: ngx_http_lua_", stringify!($name))]
            fn $name(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
                let f: fn(&mut Cf<'_>, &Directive) -> SetResult = $body;
                f(cf, d)
            }
        )*
    };
}

setters! {
    init_by_lua_block => |cf, d| main_phase(cf, d, MainPhase::Init, Form::Block);
    init_by_lua => |cf, d| main_phase(cf, d, MainPhase::Init, Form::Inline);
    init_by_lua_file => |cf, d| main_phase(cf, d, MainPhase::Init, Form::File);
    init_worker_by_lua_block => |cf, d| main_phase(cf, d, MainPhase::InitWorker, Form::Block);
    init_worker_by_lua => |cf, d| main_phase(cf, d, MainPhase::InitWorker, Form::Inline);
    init_worker_by_lua_file => |cf, d| main_phase(cf, d, MainPhase::InitWorker, Form::File);
    exit_worker_by_lua_block => |cf, d| main_phase(cf, d, MainPhase::ExitWorker, Form::Block);
    exit_worker_by_lua_file => |cf, d| main_phase(cf, d, MainPhase::ExitWorker, Form::File);
    set_by_lua_block => |cf, d| set_by(cf, d, Form::Block);
    set_by_lua => |cf, d| set_by(cf, d, Form::Inline);
    set_by_lua_file => |cf, d| set_by(cf, d, Form::File);
    server_rewrite_by_lua_block => |cf, d| srv_phase(cf, d, SrvPhase::ServerRewrite, Form::Block);
    server_rewrite_by_lua_file => |cf, d| srv_phase(cf, d, SrvPhase::ServerRewrite, Form::File);
    rewrite_by_lua => |cf, d| loc_phase(cf, d, LocPhase::Rewrite, Form::Inline);
    rewrite_by_lua_block => |cf, d| loc_phase(cf, d, LocPhase::Rewrite, Form::Block);
    rewrite_by_lua_file => |cf, d| loc_phase(cf, d, LocPhase::Rewrite, Form::File);
    access_by_lua => |cf, d| loc_phase(cf, d, LocPhase::Access, Form::Inline);
    access_by_lua_block => |cf, d| loc_phase(cf, d, LocPhase::Access, Form::Block);
    access_by_lua_file => |cf, d| loc_phase(cf, d, LocPhase::Access, Form::File);
    content_by_lua => |cf, d| loc_phase(cf, d, LocPhase::Content, Form::Inline);
    content_by_lua_block => |cf, d| loc_phase(cf, d, LocPhase::Content, Form::Block);
    content_by_lua_file => |cf, d| loc_phase(cf, d, LocPhase::Content, Form::File);
    log_by_lua => |cf, d| loc_phase(cf, d, LocPhase::Log, Form::Inline);
    log_by_lua_block => |cf, d| loc_phase(cf, d, LocPhase::Log, Form::Block);
    log_by_lua_file => |cf, d| loc_phase(cf, d, LocPhase::Log, Form::File);
    header_filter_by_lua => |cf, d| loc_phase(cf, d, LocPhase::HeaderFilter, Form::Inline);
    header_filter_by_lua_block => |cf, d| loc_phase(cf, d, LocPhase::HeaderFilter, Form::Block);
    header_filter_by_lua_file => |cf, d| loc_phase(cf, d, LocPhase::HeaderFilter, Form::File);
    body_filter_by_lua => |cf, d| loc_phase(cf, d, LocPhase::BodyFilter, Form::Inline);
    body_filter_by_lua_block => |cf, d| loc_phase(cf, d, LocPhase::BodyFilter, Form::Block);
    body_filter_by_lua_file => |cf, d| loc_phase(cf, d, LocPhase::BodyFilter, Form::File);
    balancer_by_lua_block => |cf, d| srv_phase(cf, d, SrvPhase::Balancer, Form::Block);
    balancer_by_lua_file => |cf, d| srv_phase(cf, d, SrvPhase::Balancer, Form::File);
    ssl_client_hello_by_lua_block => |cf, d| srv_phase(cf, d, SrvPhase::SslClientHello, Form::Block);
    ssl_client_hello_by_lua_file => |cf, d| srv_phase(cf, d, SrvPhase::SslClientHello, Form::File);
    ssl_certificate_by_lua_block => |cf, d| srv_phase(cf, d, SrvPhase::SslCert, Form::Block);
    ssl_certificate_by_lua_file => |cf, d| srv_phase(cf, d, SrvPhase::SslCert, Form::File);
    ssl_session_store_by_lua_block => |cf, d| srv_phase(cf, d, SrvPhase::SslSessStore, Form::Block);
    ssl_session_store_by_lua_file => |cf, d| srv_phase(cf, d, SrvPhase::SslSessStore, Form::File);
    ssl_session_fetch_by_lua_block => |cf, d| srv_phase(cf, d, SrvPhase::SslSessFetch, Form::Block);
    ssl_session_fetch_by_lua_file => |cf, d| srv_phase(cf, d, SrvPhase::SslSessFetch, Form::File);
}

// ---------------------------------------------------------------------------------------------
// Other setters.

/// nginx: ngx_http_lua_load_resty_core (its value is not even checked).
fn load_resty_core(cf: &mut Cf<'_>, _d: &Directive) -> SetResult {
    cf.conf_log(
        Level::Warn,
        "lua_load_resty_core is deprecated (the lua-resty-core library is required since \
         ngx_lua v0.10.16)",
    );
    Ok(())
}

/// nginx: ngx_http_lua_shared_dict
fn shared_dict(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let dict = declare_shared_dict(cf, d, SHM_TAG)?;
    cf.main().get::<SharedDicts>().dicts.push(dict);
    Ok(())
}

/// The checks and zone of a `lua_shared_dict` (http and stream alike: nginx:
/// ngx_http_lua_shared_dict, ngx_stream_lua_shared_dict), owned by the module `tag`.
pub(crate) fn declare_shared_dict(
    cf: &mut Cf<'_>,
    d: &Directive,
    tag: &'static str,
) -> Result<SharedDict, Option<String>> {
    let (name, size_arg) = (arg(d, 0), arg(d, 1));
    if name.is_empty() {
        return Err(cf
            .emerg(format!("invalid lua shared dict name \"{}\"", lossy(name)))
            .into());
    }
    let size = match parse_size(size_arg) {
        Some(s) if s >= SHDICT_MIN_SIZE => s,
        _ => {
            return Err(cf
                .emerg(format!(
                    "invalid lua shared dict size \"{}\"",
                    lossy(size_arg)
                ))
                .into())
        }
    };
    if !shared_memory_add(cf, name, size, tag)? {
        return Err(cf
            .emerg(format!(
                "lua_shared_dict \"{}\" is already defined as \"{}\"",
                lossy(name),
                lossy(name)
            ))
            .into());
    }
    Ok(SharedDict {
        name: name.to_vec(),
        size,
    })
}

/// nginx: ngx_http_lua_capture_error_log, as built without OpenResty's nginx patch.
fn capture_error_log(_cf: &mut Cf<'_>, _d: &Directive) -> SetResult {
    Err(Some(
        "not found: missing the capture error log patch for nginx".into(),
    ))
}

/// nginx: ngx_http_lua_package_cpath
fn package_cpath(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let m = cf.frame().get::<LuaMain>();
    if !m.lua_cpath.is_empty() {
        return Err(Some("is duplicate".into()));
    }
    m.lua_cpath = arg(d, 0).to_vec();
    Ok(())
}

/// nginx: ngx_http_lua_package_path
fn package_path(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let m = cf.frame().get::<LuaMain>();
    if !m.lua_path.is_empty() {
        return Err(Some("is duplicate".into()));
    }
    m.lua_path = arg(d, 0).to_vec();
    Ok(())
}

/// nginx: ngx_http_lua_code_cache: a flag slot, and an alert when it is off.
fn code_cache(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let row = cmd("lua_code_cache", MSL_LIF, Args::FLAG, Set::NoOp);
    slot::set(cf, &row, Slot::Flag, d)?;
    if arg(d, 0).eq_ignore_ascii_case(b"off") {
        cf.conf_log(
            Level::Alert,
            "lua_code_cache is off; this will hurt performance",
        );
    }
    Ok(())
}

/// nginx: ngx_conf_set_size_slot + ngx_http_lua_lowat_check (Linux has no SO_SNDLOWAT).
fn socket_send_lowat(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let row = cmd("lua_socket_send_lowat", MSL_LIF, Args::TAKE1, Set::NoOp);
    slot::set(cf, &row, Slot::Size, d)?;
    cf.conf_log(Level::Warn, "\"lua_send_lowat\" is not supported, ignored");
    Ok(())
}

/// nginx: ngx_http_lua_malloc_trim (glibc has malloc_trim).
fn malloc_trim(_cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    match atoi(arg(d, 0)) {
        Some(_) => Ok(()),
        None => Err(Some("invalid number in the 1st argument".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::{shared_memory_add, Cf};

    fn conf() -> parser::Conf {
        parser::Conf {
            files: Vec::new(),
            directives: Vec::new(),
            error: None,
        }
    }

    #[test]
    fn shared_memory_zones() {
        let c = conf();
        let mut cf = Cf::new(&c, "/p/".into(), "/p/conf/".into());
        assert_eq!(shared_memory_add(&mut cf, b"a", 10240, "lua"), Ok(true));
        assert_eq!(shared_memory_add(&mut cf, b"a", 10240, "lua"), Ok(false));
        assert!(shared_memory_add(&mut cf, b"a", 20480, "lua").is_err());
        assert!(shared_memory_add(&mut cf, b"a", 10240, "limit_req").is_err());
        // a zone referenced before its size is known takes the first size given
        assert_eq!(shared_memory_add(&mut cf, b"z", 0, "lua"), Ok(true));
        assert_eq!(shared_memory_add(&mut cf, b"z", 8192, "lua"), Ok(false));
        let texts: Vec<_> = cf.messages.iter().map(|m| m.text.clone()).collect();
        assert_eq!(
            texts,
            [
                "the size 20480 of shared memory zone \"a\" conflicts with already declared size 10240",
                "the shared memory zone \"a\" is already declared for a different use",
            ]
        );
    }
}
