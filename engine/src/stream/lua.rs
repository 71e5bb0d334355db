//! ngx_stream_lua_module (stream-lua-nginx-module 0.0.13): the directive table (nginx:
//! ngx_stream_lua_cmds in ngx_stream_lua_module.c) and its setters
//! (ngx_stream_lua_directive.c and the `*by.c` files).
//!
//! Same design as the http module ([`crate::http::lua::directives`]): code is stored, never
//! compiled at configuration time; `*_by_lua_block` errors are logged at the closing `}`.

use parser::Directive;

use crate::conf::values::atoi;
use crate::conf::{cmd, slot, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};
use crate::http::lua::directives::{
    arg, handler, lossy, source, with_block, Form, LuaHandler, SharedDict, SSL_PROTOCOLS,
};
use crate::log::Level;

/// stream main and server.
const MAIN_SRV: Ctx = Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV);
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
    name: "ngx_stream_lua_module",
    commands: &[
        h(
            "lua_load_resty_core",
            Ctx::STREAM_MAIN,
            Args::FLAG,
            load_resty_core,
        ),
        cmd(
            "lua_max_running_timers",
            Ctx::STREAM_MAIN,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
        cmd(
            "lua_max_pending_timers",
            Ctx::STREAM_MAIN,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
        h(
            "lua_shared_dict",
            Ctx::STREAM_MAIN,
            Args::TAKE2,
            shared_dict,
        ),
        cmd(
            "lua_sa_restart",
            Ctx::STREAM_MAIN,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        h(
            "lua_capture_error_log",
            Ctx::STREAM_MAIN,
            Args::TAKE1,
            capture_error_log,
        ),
        cmd(
            "lua_regex_cache_max_entries",
            Ctx::STREAM_MAIN,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
        cmd(
            "lua_regex_match_limit",
            Ctx::STREAM_MAIN,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
        h(
            "lua_package_cpath",
            Ctx::STREAM_MAIN,
            Args::TAKE1,
            package_cpath,
        ),
        h(
            "lua_package_path",
            Ctx::STREAM_MAIN,
            Args::TAKE1,
            package_path,
        ),
        h("lua_code_cache", MAIN_SRV, Args::FLAG, code_cache),
        cmd(
            "lua_socket_log_errors",
            MAIN_SRV,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        h(
            "init_by_lua_block",
            Ctx::STREAM_MAIN,
            BLOCK,
            init_by_lua_block,
        ),
        h("init_by_lua", Ctx::STREAM_MAIN, Args::TAKE1, init_by_lua),
        h(
            "init_by_lua_file",
            Ctx::STREAM_MAIN,
            Args::TAKE1,
            init_by_lua_file,
        ),
        h(
            "init_worker_by_lua_block",
            Ctx::STREAM_MAIN,
            BLOCK,
            init_worker_by_lua_block,
        ),
        h(
            "init_worker_by_lua",
            Ctx::STREAM_MAIN,
            Args::TAKE1,
            init_worker_by_lua,
        ),
        h(
            "init_worker_by_lua_file",
            Ctx::STREAM_MAIN,
            Args::TAKE1,
            init_worker_by_lua_file,
        ),
        h(
            "preread_by_lua_file",
            MAIN_SRV,
            Args::TAKE1,
            preread_by_lua_file,
        ),
        h(
            "preread_by_lua_block",
            MAIN_SRV,
            BLOCK,
            preread_by_lua_block,
        ),
        h(
            "content_by_lua",
            Ctx::STREAM_SRV,
            Args::TAKE1,
            content_by_lua,
        ),
        h(
            "content_by_lua_block",
            Ctx::STREAM_SRV,
            BLOCK,
            content_by_lua_block,
        ),
        h(
            "content_by_lua_file",
            Ctx::STREAM_SRV,
            Args::TAKE1,
            content_by_lua_file,
        ),
        h("log_by_lua_block", MAIN_SRV, BLOCK, log_by_lua_block),
        h("log_by_lua_file", MAIN_SRV, Args::TAKE1, log_by_lua_file),
        cmd(
            "preread_by_lua_no_postpone",
            Ctx::STREAM_MAIN,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        h(
            "balancer_by_lua_block",
            Ctx::STREAM_UPS,
            BLOCK,
            balancer_by_lua_block,
        ),
        h(
            "balancer_by_lua_file",
            Ctx::STREAM_UPS,
            Args::TAKE1,
            balancer_by_lua_file,
        ),
        cmd(
            "lua_socket_keepalive_timeout",
            MAIN_SRV,
            Args::TAKE1,
            Set::Slot(Slot::Msec),
        ),
        cmd(
            "lua_socket_connect_timeout",
            MAIN_SRV,
            Args::TAKE1,
            Set::Slot(Slot::Msec),
        ),
        cmd(
            "lua_socket_send_timeout",
            MAIN_SRV,
            Args::TAKE1,
            Set::Slot(Slot::Msec),
        ),
        h(
            "lua_socket_send_lowat",
            MAIN_SRV,
            Args::TAKE1,
            socket_send_lowat,
        ),
        cmd(
            "lua_socket_buffer_size",
            MAIN_SRV,
            Args::TAKE1,
            Set::Slot(Slot::Size),
        ),
        cmd(
            "lua_socket_pool_size",
            MAIN_SRV,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
        cmd(
            "lua_socket_read_timeout",
            MAIN_SRV,
            Args::TAKE1,
            Set::Slot(Slot::Msec),
        ),
        cmd(
            "lua_check_client_abort",
            MAIN_SRV,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "lua_ssl_protocols",
            MAIN_SRV,
            Args::ONEMORE,
            Set::Slot(Slot::Bitmask(SSL_PROTOCOLS)),
        ),
        cmd(
            "lua_ssl_ciphers",
            MAIN_SRV,
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
        cmd(
            "lua_ssl_verify_depth",
            MAIN_SRV,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
        cmd(
            "lua_ssl_trusted_certificate",
            MAIN_SRV,
            Args::TAKE1,
            Set::Slot(Slot::Str),
        ),
        cmd("lua_ssl_crl", MAIN_SRV, Args::TAKE1, Set::Slot(Slot::Str)),
        cmd(
            "lua_ssl_conf_command",
            MAIN_SRV,
            Args::TAKE2,
            Set::Slot(Slot::KeyVal),
        ),
        h(
            "lua_malloc_trim",
            Ctx::STREAM_MAIN,
            Args::TAKE1,
            malloc_trim,
        ),
        h(
            "lua_add_variable",
            Ctx::STREAM_MAIN,
            Args::TAKE1,
            add_variable,
        ),
    ],
};

/// The shared-memory tag of stream-lua's dicts (nginx: `&ngx_stream_lua_module`).
pub(crate) const SHM_TAG: &str = "ngx_stream_lua_module";

/// stream-lua's `stream` level (nginx: ngx_stream_lua_main_conf_t).
#[derive(Default, Debug)]
pub(crate) struct StreamLuaMain {
    pub(crate) init: Option<LuaHandler>,
    pub(crate) init_worker: Option<LuaHandler>,
    pub(crate) lua_path: Vec<u8>,
    pub(crate) lua_cpath: Vec<u8>,
    /// `lua_add_variable $name` names.
    pub(crate) variables: Vec<Vec<u8>>,
}

/// Every stream `lua_shared_dict`, kept in the main level (nginx: lmcf->shdict_zones).
#[derive(Default, Debug)]
pub(crate) struct StreamSharedDicts {
    pub(crate) dicts: Vec<SharedDict>,
}

/// stream-lua's per-server handlers, one per level (nginx: ngx_stream_lua_srv_conf_t and
/// ngx_stream_lua_loc_conf_t).
#[derive(Default, Debug)]
pub(crate) struct StreamLuaSrv {
    pub(crate) preread: Option<LuaHandler>,
    pub(crate) content: Option<LuaHandler>,
    pub(crate) log: Option<LuaHandler>,
    pub(crate) ssl_client_hello: Option<LuaHandler>,
    pub(crate) ssl_cert: Option<LuaHandler>,
    pub(crate) balancer: Option<LuaHandler>,
}

/// A stream `upstream {}` level's load-balancing method is set (nginx:
/// `uscf->peer.init_upstream`); shared with the stream upstream modules.
#[derive(Default, Debug)]
pub(crate) struct StreamUpstreamPeerInit {
    pub(crate) set: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Init,
    InitWorker,
    Preread,
    Content,
    Log,
    SslClientHello,
    SslCert,
    Balancer,
}

impl Phase {
    fn tag(self) -> &'static str {
        match self {
            Phase::Init => "init_by_lua",
            Phase::InitWorker => "init_worker_by_lua",
            Phase::Preread => "preread_by_lua",
            Phase::Content => "content_by_lua",
            Phase::Log => "log_by_lua",
            Phase::SslClientHello => "ssl_client_hello_by_lua",
            Phase::SslCert => "ssl_certificate_by_lua",
            Phase::Balancer => "balancer_by_lua",
        }
    }

    /// The text logged when the code is empty (`None`: empty code is accepted).
    fn no_code(self) -> Option<&'static str> {
        match self {
            Phase::Preread => Some("invalid server config: no runnable Lua code"),
            Phase::Content | Phase::Log | Phase::Init => {
                Some("invalid location config: no runnable Lua code")
            }
            _ => None,
        }
    }
}

/// The level's handler slot of `phase`.
fn slot_of<'c>(cf: &'c mut Cf<'_>, phase: Phase) -> &'c mut Option<LuaHandler> {
    match phase {
        Phase::Init => &mut cf.frame().get::<StreamLuaMain>().init,
        Phase::InitWorker => &mut cf.frame().get::<StreamLuaMain>().init_worker,
        Phase::Preread => &mut cf.frame().get::<StreamLuaSrv>().preread,
        Phase::Content => &mut cf.frame().get::<StreamLuaSrv>().content,
        Phase::Log => &mut cf.frame().get::<StreamLuaSrv>().log,
        Phase::SslClientHello => &mut cf.frame().get::<StreamLuaSrv>().ssl_client_hello,
        Phase::SslCert => &mut cf.frame().get::<StreamLuaSrv>().ssl_cert,
        Phase::Balancer => &mut cf.frame().get::<StreamLuaSrv>().balancer,
    }
}

/// nginx: ngx_stream_lua_{init,init_worker,preread,content,log,ssl_*,balancer}_by_lua:
/// one handler per level; preread, content, log and init require code.
fn phase(cf: &mut Cf<'_>, d: &Directive, phase: Phase, form: Form) -> SetResult {
    with_block(cf, d, form, |cf| {
        if slot_of(cf, phase).is_some() {
            return Err(Some("is duplicate".into()));
        }
        let code = source(d, form).unwrap_or_default();
        if let Some(text) = phase.no_code() {
            if code.is_empty() {
                cf.conf_log(Level::Error, text);
                return Err(None);
            }
        }
        *slot_of(cf, phase) = Some(handler(d, phase.tag(), form, code));
        if phase == Phase::Balancer {
            let peer = cf.frame().get::<StreamUpstreamPeerInit>();
            let redefined = peer.set;
            peer.set = true;
            if redefined {
                cf.conf_log(Level::Warn, "load balancing method redefined");
            }
        }
        Ok(())
    })
}

macro_rules! setters {
    ($($name:ident => $body:expr;)*) => {
        $(
            #[doc = concat!("nginx: ngx_stream_lua_", stringify!($name))]
            fn $name(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
                let f: fn(&mut Cf<'_>, &Directive) -> SetResult = $body;
                f(cf, d)
            }
        )*
    };
}

setters! {
    init_by_lua_block => |cf, d| phase(cf, d, Phase::Init, Form::Block);
    init_by_lua => |cf, d| phase(cf, d, Phase::Init, Form::Inline);
    init_by_lua_file => |cf, d| phase(cf, d, Phase::Init, Form::File);
    init_worker_by_lua_block => |cf, d| phase(cf, d, Phase::InitWorker, Form::Block);
    init_worker_by_lua => |cf, d| phase(cf, d, Phase::InitWorker, Form::Inline);
    init_worker_by_lua_file => |cf, d| phase(cf, d, Phase::InitWorker, Form::File);
    preread_by_lua_file => |cf, d| phase(cf, d, Phase::Preread, Form::File);
    preread_by_lua_block => |cf, d| phase(cf, d, Phase::Preread, Form::Block);
    content_by_lua => |cf, d| phase(cf, d, Phase::Content, Form::Inline);
    content_by_lua_block => |cf, d| phase(cf, d, Phase::Content, Form::Block);
    content_by_lua_file => |cf, d| phase(cf, d, Phase::Content, Form::File);
    log_by_lua_block => |cf, d| phase(cf, d, Phase::Log, Form::Block);
    log_by_lua_file => |cf, d| phase(cf, d, Phase::Log, Form::File);
    balancer_by_lua_block => |cf, d| phase(cf, d, Phase::Balancer, Form::Block);
    balancer_by_lua_file => |cf, d| phase(cf, d, Phase::Balancer, Form::File);
    ssl_client_hello_by_lua_block => |cf, d| phase(cf, d, Phase::SslClientHello, Form::Block);
    ssl_client_hello_by_lua_file => |cf, d| phase(cf, d, Phase::SslClientHello, Form::File);
    ssl_certificate_by_lua_block => |cf, d| phase(cf, d, Phase::SslCert, Form::Block);
    ssl_certificate_by_lua_file => |cf, d| phase(cf, d, Phase::SslCert, Form::File);
}

/// nginx: ngx_stream_lua_load_resty_core
fn load_resty_core(cf: &mut Cf<'_>, _d: &Directive) -> SetResult {
    cf.conf_log(
        Level::Warn,
        "lua_load_resty_core is deprecated (the lua-resty-core library is required since \
         ngx_stream_lua v0.0.8)",
    );
    Ok(())
}

/// nginx: ngx_stream_lua_shared_dict
fn shared_dict(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let dict = crate::http::lua::directives::declare_shared_dict(cf, d, SHM_TAG)?;
    cf.main().get::<StreamSharedDicts>().dicts.push(dict);
    Ok(())
}

/// nginx: ngx_stream_lua_capture_error_log, without OpenResty's nginx patch.
fn capture_error_log(_cf: &mut Cf<'_>, _d: &Directive) -> SetResult {
    Err(Some(
        "not found: missing the capture error log patch for nginx".into(),
    ))
}

/// nginx: ngx_stream_lua_package_cpath
fn package_cpath(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let m = cf.frame().get::<StreamLuaMain>();
    if !m.lua_cpath.is_empty() {
        return Err(Some("is duplicate".into()));
    }
    m.lua_cpath = arg(d, 0).to_vec();
    Ok(())
}

/// nginx: ngx_stream_lua_package_path
fn package_path(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let m = cf.frame().get::<StreamLuaMain>();
    if !m.lua_path.is_empty() {
        return Err(Some("is duplicate".into()));
    }
    m.lua_path = arg(d, 0).to_vec();
    Ok(())
}

/// nginx: ngx_stream_lua_code_cache
fn code_cache(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let row = cmd("lua_code_cache", MAIN_SRV, Args::FLAG, Set::NoOp);
    slot::set(cf, &row, Slot::Flag, d)?;
    if arg(d, 0).eq_ignore_ascii_case(b"off") {
        cf.conf_log(
            Level::Alert,
            "stream lua_code_cache is off; this will hurt performance",
        );
    }
    Ok(())
}

/// nginx: ngx_conf_set_size_slot + ngx_stream_lua_lowat_check (Linux has no SO_SNDLOWAT).
fn socket_send_lowat(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let row = cmd("lua_socket_send_lowat", MAIN_SRV, Args::TAKE1, Set::NoOp);
    slot::set(cf, &row, Slot::Size, d)?;
    cf.conf_log(Level::Warn, "\"lua_send_lowat\" is not supported, ignored");
    Ok(())
}

/// nginx: ngx_stream_lua_malloc_trim
fn malloc_trim(_cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    match atoi(arg(d, 0)) {
        Some(_) => Ok(()),
        None => Err(Some("invalid number in the 1st argument".into())),
    }
}

/// nginx: ngx_stream_lua_add_variable: `$name` becomes a changeable stream variable.
fn add_variable(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let var = arg(d, 0);
    let Some(name) = var.strip_prefix(b"$") else {
        return Err(cf
            .emerg(format!("invalid variable name \"{}\"", lossy(var)))
            .into());
    };
    if name.is_empty() {
        // nginx: ngx_stream_add_variable's own check
        return Err(cf.emerg("invalid variable name \"$\"").into());
    }
    cf.frame()
        .get::<StreamLuaMain>()
        .variables
        .push(name.to_vec());
    Ok(())
}
