//! One LuaJIT VM per worker thread (nginx: ngx_http_lua_init_vm, one `lua_State` per worker
//! process), its code cache, and the coroutine each phase handler runs in.
//!
//! The VM is created lazily on the worker thread, after the configuration is frozen, and
//! `init_by_lua*` runs in it first. Handlers are compiled once (keyed by the handler's
//! address in the frozen configuration, or by the file's path for `*_by_lua_file`).
//!
//! While a handler's coroutine is polled, the request it serves is "current" (a thread-local
//! pointer set around each poll): the `ngx.*` API reaches the request through [`with_req`].

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use mlua::{Function, Lua, LuaOptions, MultiValue, StdLib, Value};

use super::directives::{LuaHandler, LuaSrc};
use super::LuaConf;
use crate::http::request::Request;

/// The package path lua-nginx-module starts with on Debian (its LUA_DEFAULT_PATH, then
/// LuaJIT's own default path).
pub(crate) const DEFAULT_PATH: &str = "/usr/share/lua/5.1/?.lua;;./?.lua;/usr/share/luajit-2.1.0-beta3/?.lua;/usr/local/share/lua/5.1/?.lua;/usr/local/share/lua/5.1/?/init.lua;/usr/share/lua/5.1/?.lua;/usr/share/lua/5.1/?/init.lua";
pub(crate) const DEFAULT_CPATH: &str = "./?.so;/usr/local/lib/lua/5.1/?.so;/usr/lib/x86_64-linux-gnu/lua/5.1/?.so;/usr/local/lib/lua/5.1/loadall.so";

/// A phase (nginx: NGX_HTTP_LUA_CONTEXT_*), with its `ngx.get_phase()` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Init,
    InitWorker,
    ExitWorker,
    Set,
    ServerRewrite,
    Rewrite,
    Access,
    Content,
    Log,
    HeaderFilter,
    BodyFilter,
    Timer,
    Balancer,
    /// `ssl_client_hello_by_lua*` (engine/src/http/lua/ssl.rs).
    SslClientHello,
    /// `ssl_certificate_by_lua*` (engine/src/http/lua/ssl.rs).
    SslCert,
    /// `ssl_session_fetch_by_lua*` (engine/src/http/lua/ssl.rs).
    SslSessFetch,
    /// `ssl_session_store_by_lua*` (engine/src/http/lua/ssl.rs; may not yield).
    SslSessStore,
}

impl Phase {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Phase::Init => "init",
            Phase::InitWorker => "init_worker",
            Phase::ExitWorker => "exit_worker",
            Phase::Set => "set",
            Phase::ServerRewrite => "server_rewrite",
            Phase::Rewrite => "rewrite",
            Phase::Access => "access",
            Phase::Content => "content",
            Phase::Log => "log",
            Phase::HeaderFilter => "header_filter",
            Phase::BodyFilter => "body_filter",
            Phase::Timer => "timer",
            Phase::Balancer => "balancer",
            Phase::SslClientHello => "ssl_client_hello",
            Phase::SslCert => "ssl_cert",
            Phase::SslSessFetch => "ssl_session_fetch",
            Phase::SslSessStore => "ssl_session_store",
        }
    }

    /// The `*_by_lua*` tag of the phase in "API disabled" messages.
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Phase::Init => "init_by_lua*",
            Phase::InitWorker => "init_worker_by_lua*",
            Phase::ExitWorker => "exit_worker_by_lua*",
            Phase::Set => "set_by_lua*",
            Phase::ServerRewrite => "server_rewrite_by_lua*",
            Phase::Rewrite => "rewrite_by_lua*",
            Phase::Access => "access_by_lua*",
            Phase::Content => "content_by_lua*",
            Phase::Log => "log_by_lua*",
            Phase::HeaderFilter => "header_filter_by_lua*",
            Phase::BodyFilter => "body_filter_by_lua*",
            Phase::Timer => "ngx.timer",
            Phase::Balancer => "balancer_by_lua*",
            Phase::SslClientHello => "ssl_client_hello_by_lua*",
            Phase::SslCert => "ssl_certificate_by_lua*",
            Phase::SslSessFetch => "ssl_session_fetch_by_lua*",
            Phase::SslSessStore => "ssl_session_store_by_lua*",
        }
    }
}

/// What lua-nginx-module keeps per request (nginx: ngx_http_lua_ctx_t, the parts used).
pub(crate) struct ReqCtx {
    pub(crate) phase: Phase,
    /// `ngx.status` as set (nginx: `r->headers_out.status`).
    pub(crate) status: u16,
    /// Response headers set through `ngx.header`, in order; lower-case names are compared.
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    /// The response body produced so far.
    pub(crate) out: Vec<u8>,
    /// Where each output call's bytes end in `out`: nginx sends each as its own buffer
    /// (its own chunk, its own body filter call).
    pub(crate) out_marks: Vec<usize>,
    pub(crate) headers_sent: bool,
    /// `ngx.flush`/`ngx.eof` pushed the output out.
    pub(crate) flushed: bool,
    /// Body bytes produced in all.
    pub(crate) out_total: usize,
    pub(crate) eof: bool,
    /// `ngx.exit(code)` / `ngx.redirect` ended the handler.
    pub(crate) exit: Option<i64>,
    /// `ngx.exec(uri, args)` ended the handler.
    pub(crate) exec: Option<(Vec<u8>, Vec<u8>)>,
    /// `ngx.ctx`.
    pub(crate) ctx: Option<mlua::Table>,
    /// The request body once read (`ngx.req.read_body`).
    pub(crate) body: Option<Vec<u8>>,
    /// The body as received, not read yet.
    pub(crate) incoming: Option<crate::http::h1::ReqBody>,
    /// `ngx.req.socket()` took the body (nginx: `r->request_body` exists, empty): the body
    /// may be rebuilt with `init_body`/`set_body_data`.
    pub(crate) body_socket: bool,
    /// `ngx.arg` of set_by_lua and body_filter_by_lua.
    pub(crate) args: Vec<Vec<u8>>,
    /// The status a failed code load answers with (404 for a missing file).
    pub(crate) fail_status: Option<u16>,
    /// The body's file, when it is in one (`ngx.req.get_body_file`).
    pub(crate) body_file: Option<super::body::BodyFile>,
    /// A body being built by `ngx.req.init_body`/`append_body`, and its buffer size.
    pub(crate) new_body: Option<(Vec<u8>, u64)>,
    /// Variables Lua set to nil (they read as "not found").
    pub(crate) nil_vars: std::collections::HashSet<Vec<u8>>,
    /// `ngx.arg` of body_filter_by_lua: `{chunk, eof}`, read back after the handler.
    pub(crate) arg_table: Option<mlua::Table>,
    /// `ngx.header.content_type = nil`: no default type is added later.
    pub(crate) type_cleared: bool,
    /// A subrequest's `ngx.req.raw_header`: the main request's method and headers.
    pub(crate) raw_parent: Option<(hyper::Method, hyper::HeaderMap)>,
    /// The not-modified filter refused the response when its headers went out (412).
    pub(crate) precondition_failed: bool,
    /// The streamed response body of the content handler (stream.rs), made by the first
    /// `ngx.flush` or when the head goes out before the handler ends.
    pub(crate) stream: Option<super::stream::Stream>,
    /// `ngx.flush` calls not yet handed on: how many output pieces (`out_marks`) came
    /// before each, and its number.
    pub(crate) flush_marks: Vec<(usize, u64)>,
    /// The number of the last `ngx.flush`.
    pub(crate) flush_seq: u64,
    /// nginx: `ctx->buffering`: an HTTP/1.0 answer without a length is held whole
    /// (`lua_http10_buffering`), so that it gets a Content-Length.
    pub(crate) buffering: bool,
    /// `ngx.on_abort` registered a callback.
    pub(crate) on_abort: Option<mlua::Function>,
    /// `headers` went into a reply Lua built; otherwise they join the reply of the content
    /// handler that answers (nginx: they are in `r->headers_out` already).
    pub(crate) headers_used: bool,
    /// The HTTP/1.x connection and the request's number on it (for `ngx.req.socket(true)`).
    pub(crate) raw_conn: Option<(crate::http::h1::RawConn, u64)>,
    /// nginx: `ctx->acquired_raw_req_socket`.
    pub(crate) raw_socket: bool,
    /// nginx: `ctx->no_abort`: subrequests pending (`ngx.location.capture*` calls waiting).
    pub(crate) no_abort: u32,
    /// header_filter_by_lua* ran when the handler sent its head (nginx runs the header
    /// filters inside ngx_http_send_header): `Some(ok)`, and it does not run again.
    pub(crate) header_filtered: Option<bool>,
    /// body_filter_by_lua* set `ngx.arg[2]` to false on the body's last piece: no last
    /// buffer left the filter (a capture of it is truncated).
    pub(crate) last_cleared: bool,
    /// `ngx.exit(code)` in the header filter [`header_filtered`](Self::header_filtered) ran.
    pub(crate) header_exit: Option<i64>,
}

impl ReqCtx {
    pub(crate) fn new() -> ReqCtx {
        ReqCtx {
            phase: Phase::Content,
            status: 0,
            headers: Vec::new(),
            out: Vec::new(),
            out_marks: Vec::new(),
            headers_sent: false,
            flushed: false,
            out_total: 0,
            eof: false,
            exit: None,
            exec: None,
            ctx: None,
            body: None,
            incoming: None,
            body_socket: false,
            args: Vec::new(),
            fail_status: None,
            body_file: None,
            new_body: None,
            nil_vars: Default::default(),
            arg_table: None,
            type_cleared: false,
            raw_parent: None,
            precondition_failed: false,
            stream: None,
            flush_marks: Vec::new(),
            flush_seq: 0,
            buffering: false,
            on_abort: None,
            headers_used: false,
            raw_conn: None,
            raw_socket: false,
            no_abort: 0,
            header_filtered: None,
            last_cleared: false,
            header_exit: None,
        }
    }
}

/// A request's context, shared by its phases and the API.
pub(crate) type SharedCtx = Rc<RefCell<ReqCtx>>;

/// The request being served and its context.
type Current = (*mut Request, SharedCtx);

/// The per-worker VM.
pub(crate) struct Vm {
    pub(crate) lua: Lua,
    pub(crate) conf: Arc<LuaConf>,
    pub(crate) prefix: std::path::PathBuf,
    /// Compiled handlers by their address in the frozen configuration.
    cache: RefCell<HashMap<usize, Function>>,
    /// Compiled `*_by_lua_file` code by path.
    files: RefCell<HashMap<std::path::PathBuf, Function>>,
    /// The `error` function and the wrapper factory of the API (see [`Vm::api_fn`]).
    pub(crate) wrap: Function,
    pub(crate) sentinel: Value,
}

thread_local! {
    static VM: RefCell<Option<Rc<Vm>>> = const { RefCell::new(None) };
    /// The request whose handler is being polled, and its context.
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
    /// Contexts of the requests in flight on this thread, by (connection, request number).
    static CTXS: RefCell<KeyMap<SharedCtx>> = RefCell::new(KeyMap::default());
    /// The phase of code running without a request (init, init_worker, timers).
    static NOREQ_PHASE: Cell<Option<Phase>> = const { Cell::new(None) };
    /// A finished entry coroutine is cached for the next handler (only logged here).
    static THREAD_CACHED: Cell<bool> = const { Cell::new(false) };
    /// This worker's number (nginx: ngx_worker).
    pub(crate) static WORKER_ID: Cell<usize> = const { Cell::new(0) };
    /// The fake connection's number of the code running without a request (0: none).
    static NOREQ_CONN: Cell<u64> = const { Cell::new(0) };
    /// A worker's replay of the master's `init_by_lua*` is running.
    static INIT_REPLAY: Cell<bool> = const { Cell::new(false) };
}

/// The VM of this thread, if one exists.
pub(crate) fn get() -> Option<Rc<Vm>> {
    VM.with(|v| v.borrow().clone())
}

/// Creates this thread's VM for `conf` (once): nginx's ngx_http_lua_init_vm then
/// `init_by_lua*`.
pub(crate) fn create(conf: Arc<LuaConf>, prefix: &std::path::Path) -> Option<Rc<Vm>> {
    if let Some(vm) = get() {
        return Some(vm);
    }
    let vm = new_vm(conf, prefix)?;
    VM.with(|v| *v.borrow_mut() = Some(vm.clone()));
    if let Err(e) = vm.setup() {
        crate::http::errlog::write(
            crate::log::Level::Alert,
            &format!("failed to initialize Lua VM: {e}"),
        );
    }
    // The master already ran init_by_lua* for this cycle (see [`init_in_master`]); a worker
    // runs it again only to build its own VM's state, without logging twice.
    INIT_REPLAY.with(|q| q.set(true));
    let res = vm.run_init();
    INIT_REPLAY.with(|q| q.set(false));
    if let Err(text) = res {
        crate::http::errlog::write(crate::log::Level::Error, &text);
    }
    Some(vm)
}

/// This thread's VM for `conf`, replacing the one it had, without `init_by_lua*` (a
/// `ngx.run_worker_thread` pool thread's: nginx makes it with luaL_newstate and the API).
pub(crate) fn create_bare(conf: Arc<LuaConf>, prefix: &std::path::Path) -> Option<Rc<Vm>> {
    let vm = new_vm(conf, prefix)?;
    VM.with(|v| *v.borrow_mut() = Some(vm.clone()));
    vm.setup().ok()?;
    Some(vm)
}

/// A VM not yet set up (nginx: ngx_http_lua_new_state).
fn new_vm(conf: Arc<LuaConf>, prefix: &std::path::Path) -> Option<Rc<Vm>> {
    // SAFETY: all standard libraries (debug, ffi) as lua-nginx-module opens them; no C
    // module is loaded by us.
    let lua = unsafe { Lua::unsafe_new_with(StdLib::ALL, LuaOptions::default()) };
    let (wrap, sentinel) = match wrapper(&lua) {
        Ok(w) => w,
        Err(e) => {
            crate::http::errlog::write(
                crate::log::Level::Alert,
                &format!("failed to initialize Lua VM: {e}"),
            );
            return None;
        }
    };
    Some(Rc::new(Vm {
        lua,
        conf,
        prefix: prefix.to_path_buf(),
        cache: RefCell::new(HashMap::new()),
        files: RefCell::new(HashMap::new()),
        wrap,
        sentinel,
    }))
}

/// nginx: ngx_http_lua_init's `init_by_lua*` run, once per cycle in the master before any
/// worker starts: a VM of the calling thread runs the code and is dropped. Returns the
/// `init_by_lua error: ...` text that stops the cycle (start-up, or a reload that keeps the
/// old configuration).
pub(crate) fn init_in_master(conf: Arc<LuaConf>, prefix: &std::path::Path) -> Result<(), String> {
    if conf.init.is_none() || get().is_some() {
        return Ok(());
    }
    let Some(vm) = new_vm(conf, prefix) else {
        return Ok(());
    };
    VM.with(|v| *v.borrow_mut() = Some(vm.clone()));
    let res = match vm.setup() {
        Ok(()) => vm.run_init(),
        Err(e) => Err(format!("failed to initialize Lua VM: {e}")),
    };
    VM.with(|v| v.borrow_mut().take());
    res
}

/// Whether the `init_by_lua*` being run is a worker's replay of the master's run.
pub(crate) fn init_is_replay() -> bool {
    INIT_REPLAY.with(|q| q.get())
}

/// lua-nginx-module's init traceback: LuaJIT's frames without the frame of our message
/// handler (`[C]: in ?` ahead of the first real frame).
pub(crate) fn init_traceback(msg: &str) -> String {
    msg.replacen(
        "\nstack traceback:\n\t[C]: in ?\n",
        "\nstack traceback:\n",
        1,
    )
}

/// Warns when code running for a request writes a global (lua-nginx-module's `_G` guard).
const GLOBAL_GUARD: &str = "local ngx_log = ngx.log\n\
local ngx_WARN = ngx.WARN\n\
local tostring = tostring\n\
local ngx_get_phase = ngx.get_phase\n\
local traceback = require 'debug'.traceback\n\
local function newindex(table, key, value)\n\
rawset(table, key, value)\n\
local phase = ngx_get_phase()\n\
if phase == 'init_worker' or phase == 'init' then\n\
return\n\
end\n\
ngx_log(ngx_WARN, 'writing a global Lua variable (\\'', tostring(key), '\\') which may lead to race conditions between concurrent requests, so prefer the use of \\'local\\' variables', traceback('', 2))\n\
end\n\
setmetatable(_G, { __newindex = newindex })\n";

/// The wrapper factory: API functions return `(SENTINEL, msg)` to raise `msg` as a plain Lua
/// string error (as luaL_error does), since errors from Rust callbacks are userdata.
fn wrapper(lua: &Lua) -> mlua::Result<(Function, Value)> {
    let sentinel = Value::Table(lua.create_table()?);
    let f: Function = lua
        .load(
            "local S, error = ...\n\
             local function check(a, ...)\n\
               if a == S then error((...), 0) end\n\
               return a, ...\n\
             end\n\
             return function(raw) return function(...) return check(raw(...)) end end",
        )
        .set_name("=ngx")
        .into_function()?;
    let error: Function = lua.globals().get("error")?;
    let wrap: Function = f.call((sentinel.clone(), error))?;
    Ok((wrap, sentinel))
}

/// An API failure: a Lua error with this text (position already added).
pub(crate) struct Fail(pub(crate) String);

pub(crate) type ApiResult = Result<MultiValue, Fail>;

impl From<mlua::Error> for Fail {
    fn from(e: mlua::Error) -> Fail {
        Fail(e.to_string())
    }
}

impl Vm {
    /// Calls `f` (not in a coroutine) with LuaJIT's traceback appended to an error, as
    /// lua-nginx-module's ngx_http_lua_traceback handler does for set_by_lua* and the like.
    pub(crate) fn traced_call(&self, f: Function) -> mlua::Result<Value> {
        let runner: Function = self
            .lua
            .load(
                "local f = ... \
                 return xpcall(f, function(m) \
                   if m == nil then return nil end \
                   return debug.traceback(tostring(m), 1) end)",
            )
            .set_name("=traced")
            .into_function()?;
        let (ok, v): (bool, Value) = runner.call(f)?;
        if ok {
            return Ok(v);
        }
        let msg = match &v {
            Value::String(s) => s.to_string_lossy(),
            _ => String::new(),
        };
        // drop the frames of the runner itself
        let mut lines: Vec<&str> = msg
            .lines()
            .filter(|l| !l.trim_start().starts_with("traced:"))
            .collect();
        if let Some(i) = lines
            .iter()
            .position(|l| l.contains("in function 'xpcall'") || l.contains("[builtin#"))
        {
            lines.truncate(i);
        }
        Err(mlua::Error::RuntimeError(lines.join("\n")))
    }

    /// Wraps a Rust API function so that `Err(Fail)` raises a string error.
    pub(crate) fn api_fn<F>(&self, f: F) -> mlua::Result<Function>
    where
        F: Fn(&Lua, MultiValue) -> ApiResult + 'static,
    {
        let s = self.sentinel.clone();
        let raw = self.lua.create_function(move |lua, args: MultiValue| {
            Ok(match f(lua, args) {
                Ok(v) => v,
                Err(Fail(msg)) => {
                    MultiValue::from_vec(vec![s.clone(), Value::String(lua.create_string(msg)?)])
                }
            })
        })?;
        self.wrap.call(raw)
    }

    /// The same for an async API function (may yield the handler's coroutine).
    pub(crate) fn api_async<F, Fut>(&self, f: F) -> mlua::Result<Function>
    where
        F: Fn(Lua, MultiValue) -> Fut + 'static,
        Fut: Future<Output = ApiResult> + 'static,
    {
        let s = self.sentinel.clone();
        let f = Rc::new(f);
        let raw = self
            .lua
            .create_async_function(move |lua, args: MultiValue| {
                let s = s.clone();
                let f = f.clone();
                async move {
                    Ok(match f(lua.clone(), args).await {
                        Ok(v) => v,
                        Err(Fail(msg)) => {
                            MultiValue::from_vec(vec![s, Value::String(lua.create_string(msg)?)])
                        }
                    })
                }
            })?;
        self.wrap.call(raw)
    }

    /// nginx: ngx_http_lua_init_vm: package paths, the `ngx` table, stand-in modules, then
    /// `init_by_lua*`.
    fn setup(self: &Rc<Self>) -> mlua::Result<()> {
        let lua = &self.lua;
        let package: mlua::Table = lua.globals().get("package")?;
        let prefix = self.prefix.to_string_lossy().into_owned();
        package.set(
            "path",
            set_path(&self.conf.package_path, DEFAULT_PATH, &prefix),
        )?;
        package.set(
            "cpath",
            set_path(&self.conf.package_cpath, DEFAULT_CPATH, &prefix),
        )?;
        // nginx's linked libraries and exported functions, for `ffi.C` (cexports.rs).
        super::cexports::load_libraries();
        super::api::install(self)?;
        super::balancer::install(self)?;
        super::ssl::install(self)?;
        // Built-in cjson / cjson.safe (package.preload wins over a cjson.so on cpath).
        super::cjson::install(&self.lua)?;
        // nginx: ngx_http_lua_inject_global_write_guard (OpenResty's LuaJIT, as Debian's
        // build uses): request handlers writing a global get a warning.
        lua.load(GLOBAL_GUARD).set_name("=_G write guard").exec()?;
        Ok(())
    }

    /// nginx: ngx_http_lua_init_by_inline / ngx_http_lua_init_by_file: runs `init_by_lua*`;
    /// the error is lua-nginx-module's `init_by_lua error: ...` text.
    fn run_init(self: &Rc<Self>) -> Result<(), String> {
        let Some(h) = self.conf.init.clone() else {
            return Ok(());
        };
        let tag = match h.src {
            super::directives::LuaSrc::File(_) => "init_by_lua_file",
            super::directives::LuaSrc::Inline { .. } => "init_by_lua",
        };
        self.compile(&h, None)
            .and_then(|f| {
                let _g = Scope::enter_none(Phase::Init);
                f.call::<()>(())
            })
            .map_err(|e| format!("{tag} error: {}", init_traceback(&error_text(&e))))
    }

    /// Compiles (once) a handler's code (nginx: ngx_http_lua_cache_loadbuffer /
    /// ngx_http_lua_cache_loadfile). `file` is the evaluated path of a `*_by_lua_file`.
    pub(crate) fn compile(
        &self,
        h: &Arc<LuaHandler>,
        file: Option<&[u8]>,
    ) -> mlua::Result<Function> {
        match &h.src {
            LuaSrc::Inline { code, file, line } => {
                let key = Arc::as_ptr(h) as usize;
                if let Some(f) = self.cache.borrow().get(&key) {
                    return Ok(f.clone());
                }
                let name = super::chunk_name(h.tag, *file, *line);
                let f = self
                    .lua
                    .load(code.as_slice())
                    .set_name(name)
                    .into_function()?;
                self.cache.borrow_mut().insert(key, f.clone());
                Ok(f)
            }
            LuaSrc::File(p) => {
                let p = file.unwrap_or(p);
                let path = crate::cycle::full_name(&self.prefix, p);
                if let Some(f) = self.files.borrow().get(&path) {
                    return Ok(f.clone());
                }
                let code = std::fs::read(&path).map_err(|e| {
                    mlua::Error::RuntimeError(format!(
                        "cannot open {}: {}",
                        path.display(),
                        crate::log::errno_text(&e)
                    ))
                })?;
                let name = format!("@{}", path.display());
                let f = self.lua.load(code).set_name(name).into_function()?;
                self.files.borrow_mut().insert(path, f.clone());
                Ok(f)
            }
        }
    }
}

/// nginx: ngx_http_lua_set_path: `;;` stands for the default path, `$prefix` and
/// `${prefix}` for the prefix.
pub(crate) fn set_path(conf: &[u8], default: &str, prefix: &str) -> String {
    if conf.is_empty() {
        return default.to_string();
    }
    let s = String::from_utf8_lossy(conf).into_owned();
    let s = s.replace(";;", ";\u{1};");
    let s = s.replace("${prefix}", prefix).replace("$prefix", prefix);
    s.replace('\u{1}', default)
}

/// The text of an error as lua-nginx-module logs it (a Lua error's message).
pub(crate) fn error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => error_text(cause),
        mlua::Error::RuntimeError(s) => s.clone(),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::MemoryError(s) => s.clone(),
        other => other.to_string(),
    }
}

/// lua-nginx-module's traceback (`coroutine 0:` then the frames) from LuaJIT's: the API
/// wrapper's frames read as the C function they wrap, as in lua-nginx-module.
pub(crate) fn with_traceback(msg: &str) -> String {
    let Some(i) = msg.find("\nstack traceback:\n") else {
        return format!("{msg}\nstack traceback:\ncoroutine 0:");
    };
    let (head, tb) = msg.split_at(i);
    let lines: Vec<&str> = tb
        .lines()
        .skip(2)
        .take_while(|l| !l.starts_with("stack traceback:"))
        .collect();
    let mut out = format!("{head}\nstack traceback:\ncoroutine 0:");
    let mut k = 0;
    while k < lines.len() {
        let l = lines[k];
        let next = lines.get(k + 1).copied().unwrap_or("");
        if l.trim() == "[C]: in function 'error'" && next.trim_start().starts_with("ngx:") {
            k += 1;
            continue;
        }
        if let Some(rest) = l.trim_start().strip_prefix("ngx:") {
            let f = rest.split_once(": ").map_or("", |(_, f)| f);
            out.push_str(&format!("\n\t[C]: {f}"));
        } else if l.trim_start().starts_with("[C]: in function 'xpcall'") && k + 1 == lines.len() {
        } else {
            out.push_str(&format!("\n\t{}", l.trim_start()));
        }
        k += 1;
    }
    out
}

/// Makes a request current for the API while its handler is polled.
pub(crate) struct Scope {
    prev: Option<Current>,
    prev_phase: Option<Phase>,
    prev_conn: u64,
}

impl Scope {
    pub(crate) fn enter(r: *mut Request, ctx: Rc<RefCell<ReqCtx>>) -> Scope {
        let prev = CURRENT.with(|c| c.borrow_mut().replace((r, ctx)));
        let prev_phase = NOREQ_PHASE.with(|p| p.replace(None));
        let prev_conn = NOREQ_CONN.with(|c| c.replace(0));
        super::api::time_wakeup();
        Scope {
            prev,
            prev_phase,
            prev_conn,
        }
    }

    /// No request (init phases): the API answers "no request found".
    pub(crate) fn enter_none(phase: Phase) -> Scope {
        Scope::enter_fake(phase, 0)
    }

    /// No request, on lua-nginx-module's fake connection number `conn` (timers,
    /// init_worker: their log lines carry `*N`); 0 is none.
    pub(crate) fn enter_fake(phase: Phase, conn: u64) -> Scope {
        let prev = CURRENT.with(|c| c.borrow_mut().take());
        let prev_phase = NOREQ_PHASE.with(|p| p.replace(Some(phase)));
        let prev_conn = NOREQ_CONN.with(|c| c.replace(conn));
        super::api::time_wakeup();
        Scope {
            prev,
            prev_phase,
            prev_conn,
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let prev = self.prev.take();
        CURRENT.with(|c| *c.borrow_mut() = prev);
        let phase = self.prev_phase;
        NOREQ_PHASE.with(|p| p.set(phase));
        let conn = self.prev_conn;
        NOREQ_CONN.with(|c| c.set(conn));
    }
}

/// `*N ` for a line logged by code running on a fake connection (see
/// [`Scope::enter_fake`]), else empty.
pub(crate) fn fake_conn_prefix() -> String {
    match NOREQ_CONN.with(|c| c.get()) {
        0 => String::new(),
        n => format!("*{n} "),
    }
}

/// Runs `f` on the current request and its context (nginx: ngx_http_lua_get_req).
pub(crate) fn with_req<R>(
    f: impl FnOnce(&mut Request, &mut ReqCtx) -> Result<R, Fail>,
) -> Result<R, Fail> {
    let cur = CURRENT.with(|c| c.borrow().clone());
    let Some((p, ctx)) = cur else {
        return Err(Fail("no request found".into()));
    };
    // SAFETY: `p` is set only while the phase function that owns `&mut Request` awaits the
    // handler (see [`run`]), on this thread, and no other reference to the request is used
    // meanwhile; API functions never nest `with_req`.
    let r = unsafe { &mut *p };
    let Ok(mut c) = ctx.try_borrow_mut() else {
        return Err(Fail("request ctx busy".into()));
    };
    f(r, &mut c)
}

/// The request whose handler is being polled, and its context.
pub(crate) fn current() -> Option<(*mut Request, SharedCtx)> {
    CURRENT.with(|c| c.borrow().clone())
}

/// The current phase, `None` outside a request.
pub(crate) fn current_phase() -> Option<Phase> {
    CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .and_then(|(_, ctx)| ctx.try_borrow().ok().map(|c| c.phase))
    })
}

/// The phase of code running without a request.
pub(crate) fn noreq_phase() -> Option<Phase> {
    NOREQ_PHASE.with(|p| p.get())
}

/// A request's key among the contexts: connection, request number, subrequest number.
pub(crate) type CtxKey = (u64, u64, u64);

/// A per-thread map by [`CtxKey`]. Its keys are this process's own counters (nothing a
/// client chooses), so a multiply-rotate mix replaces SipHash, which cost more than the
/// lookups themselves (a few per request).
pub(crate) type KeyMap<V> = HashMap<CtxKey, V, std::hash::BuildHasherDefault<KeyHasher>>;

/// The hasher of [`KeyMap`] (the integers' mix of rustc's FxHasher).
#[derive(Default, Clone, Copy)]
pub(crate) struct KeyHasher(u64);

impl KeyHasher {
    fn add(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.add(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
}

pub(crate) fn key_of(r: &Request) -> CtxKey {
    (r.conn.id, r.conn.requests, r.sub)
}

/// The request's lua context, created on first use.
pub(crate) fn ctx_of(r: &Request) -> Rc<RefCell<ReqCtx>> {
    let key = key_of(r);
    CTXS.with(|m| {
        m.borrow_mut()
            .entry(key)
            .or_insert_with(|| Rc::new(RefCell::new(ReqCtx::new())))
            .clone()
    })
}

/// The request's lua context, if it has one.
pub(crate) fn find_ctx(key: CtxKey) -> Option<SharedCtx> {
    CTXS.try_with(|m| m.borrow().get(&key).cloned())
        .ok()
        .flatten()
}

/// Forgets the request's context (after the log phase).
pub(crate) fn drop_ctx(r: &Request) {
    drop_key(key_of(r));
}

pub(crate) fn drop_key(key: CtxKey) {
    // Without Lua in the configuration no cosocket exists (and most requests have no
    // context): nothing to look up.
    if super::used() {
        super::socket::owner_done(key);
    }
    let gone = CTXS
        .try_with(|m| {
            let mut m = m.borrow_mut();
            if m.is_empty() {
                return None;
            }
            m.remove(&key)
        })
        .ok()
        .flatten();
    if let Some(ctx) = gone {
        if ctx.try_borrow().is_ok_and(|c| c.ctx.is_some()) {
            // nginx: ngx_http_lua_ngx_ctx_cleanup.
            crate::http::errlog::write(
                crate::log::Level::Debug,
                &format!("lua release ngx.ctx at ref {}", key.2 + 1),
            );
        }
    }
}

/// How a handler's coroutine ended.
pub(crate) enum Outcome {
    /// It returned.
    Returned,
    /// `ngx.exit`/`ngx.redirect`/`ngx.exec` ended it.
    Exited,
    /// A Lua error (logged already).
    Failed,
}

/// Polls a handler's coroutine with the request current; stops polling when the handler
/// called `ngx.exit` (which yields for good).
struct Polled<F> {
    fut: Pin<Box<F>>,
    r: *mut Request,
    ctx: Rc<RefCell<ReqCtx>>,
}

impl<F: Future<Output = mlua::Result<MultiValue>>> Future for Polled<F> {
    type Output = Option<mlua::Result<MultiValue>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let _scope = Scope::enter(self.r, self.ctx.clone());
        let res = self.fut.as_mut().poll(cx);
        match res {
            Poll::Ready(v) => Poll::Ready(Some(v)),
            Poll::Pending => {
                let exited = self
                    .ctx
                    .try_borrow()
                    .map(|c| c.exit.is_some() || c.exec.is_some())
                    .unwrap_or(false);
                if exited {
                    Poll::Ready(None)
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

/// A future polled with no request current and `phase` as the phase (ngx.timer callbacks).
pub(crate) struct NoRequest<F> {
    phase: Phase,
    fut: Pin<Box<F>>,
}

impl<F: Future> NoRequest<F> {
    pub(crate) fn new(phase: Phase, fut: F) -> Self {
        NoRequest {
            phase,
            fut: Box::pin(fut),
        }
    }
}

impl<F: Future> Future for NoRequest<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _scope = Scope::enter_none(self.phase);
        self.fut.as_mut().poll(cx)
    }
}

/// Runs a handler in a new coroutine for the request (nginx: ngx_http_lua_run_thread).
pub(crate) async fn run(
    vm: &Rc<Vm>,
    r: &mut Request,
    h: &Arc<LuaHandler>,
    phase: Phase,
    args: MultiValue,
) -> Outcome {
    let mut started = match start(vm, r, h, phase, args) {
        Ok(s) => s,
        Err(out) => return out,
    };
    let res = started.fut.as_mut().await;
    finish(r, h, phase, started.debug, res)
}

/// A handler's coroutine (and its user threads) ready to be polled: `None` when `ngx.exit`
/// ended it, else how it returned. It keeps the request's address: the request must stay
/// where it is until the future is done or dropped.
pub(crate) type Driven = Pin<Box<dyn Future<Output = Option<mlua::Result<MultiValue>>>>>;

/// See [`start`].
pub(crate) struct Started {
    pub(crate) fut: Driven,
    pub(crate) debug: bool,
}

/// Compiles the handler and makes its coroutine ([`run`] without the polling, for the
/// content phase, which may hand the coroutine to a streaming task).
pub(crate) fn start(
    vm: &Rc<Vm>,
    r: &mut Request,
    h: &Arc<LuaHandler>,
    phase: Phase,
    args: MultiValue,
) -> Result<Started, Outcome> {
    let ctx = ctx_of(r);
    ctx.borrow_mut().phase = phase;
    let file = match &h.src {
        LuaSrc::File(p) => {
            let cv = crate::http::variables::parse_complex_value(p).unwrap_or_default();
            Some(r.eval(&cv))
        }
        LuaSrc::Inline { .. } => None,
    };
    let f = match vm.compile(h, file.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            // nginx: ngx_http_lua_cache_loadbuffer / ngx_http_lua_cache_loadfile.
            let text = error_text(&e);
            let (msg, status) = match (&h.src, file) {
                (LuaSrc::File(_), Some(p)) => {
                    let path = crate::cycle::full_name(&vm.prefix, &p);
                    let status = if !text.starts_with("cannot open ") {
                        500
                    } else if text.contains("No such file or directory") {
                        404
                    } else {
                        503
                    };
                    (
                        format!(
                            "failed to load external Lua file \"{}\": {text}",
                            path.display()
                        ),
                        status,
                    )
                }
                _ => (format!("failed to load inlined Lua code: {text}"), 500),
            };
            crate::http::errlog::request_error(r, &msg);
            ctx.borrow_mut().fail_status = Some(status);
            return Err(Outcome::Failed);
        }
    };
    let thread = match vm.lua.create_thread(f) {
        Ok(t) => t,
        Err(e) => {
            crate::http::errlog::request_error(r, &format!("lua error: {e}"));
            return Err(Outcome::Failed);
        }
    };
    let entry = matches!(
        phase,
        Phase::ServerRewrite | Phase::Rewrite | Phase::Access | Phase::Content
    );
    let debug = entry && crate::http::errlog::wants_for(r, crate::log::Level::Debug);
    if debug && THREAD_CACHED.with(|c| c.replace(false)) {
        // nginx: ngx_http_lua_new_thread takes the VM's cached coroutine.
        crate::http::errlog::log(r, crate::log::Level::Debug, "lua reusing cached lua thread");
    }
    let fut = thread.into_async::<MultiValue>(args);
    let polled = Polled {
        fut: Box::pin(fut),
        r: r as *mut Request,
        ctx: ctx.clone(),
    };
    // light threads (thread.rs) run beside the entry thread
    let driven = super::thread::drive(
        polled,
        super::thread::Owner::Req(r as *mut Request, ctx.clone()),
    );
    Ok(Started {
        fut: Box::pin(driven),
        debug,
    })
}

/// How the coroutine [`start`] made ended: logs a failure as nginx does.
pub(crate) fn finish(
    r: &mut Request,
    h: &Arc<LuaHandler>,
    phase: Phase,
    debug: bool,
    res: Option<mlua::Result<MultiValue>>,
) -> Outcome {
    match res {
        None => Outcome::Exited,
        Some(Ok(_)) => {
            if debug {
                // nginx: ngx_http_lua_finalize_threads keeps a finished entry coroutine.
                crate::http::errlog::log(
                    r,
                    crate::log::Level::Debug,
                    "lua caching unused lua thread",
                );
                THREAD_CACHED.with(|c| c.set(true));
            }
            Outcome::Returned
        }
        Some(Err(e)) => {
            let text = error_text(&e);
            let msg = match phase {
                // nginx runs these without a coroutine (ngx_http_lua_header_filter_by_chunk,
                // ngx_http_lua_log_by_chunk): "failed to run ...*: msg" with LuaJIT's traceback.
                // (ngx_http_lua_ssl_sess_store_by_chunk too, as "session_store_by_lua*").
                Phase::HeaderFilter | Phase::BodyFilter | Phase::Log | Phase::SslSessStore => {
                    let head = text.split("\nstack traceback:").next().unwrap_or("");
                    let tag = h.tag.strip_prefix("ssl_").unwrap_or(h.tag);
                    let tag = if phase == Phase::SslSessStore {
                        tag
                    } else {
                        h.tag
                    };
                    if head.is_empty() || head == "nil" {
                        format!("failed to run {tag}*: unknown reason")
                    } else {
                        format!(
                            "failed to run {tag}*: {}",
                            with_traceback(&text).replacen("\ncoroutine 0:", "", 1)
                        )
                    }
                }
                _ => {
                    let head = text.split("\nstack traceback:").next().unwrap_or("");
                    if head.is_empty() || head == "nil" {
                        // nginx: ngx_http_lua_run_thread with a nil error object.
                        format!(
                            "lua entry thread aborted: runtime error: unknown reason{}",
                            with_traceback(&text).get(head.len()..).unwrap_or("")
                        )
                    } else {
                        format!(
                            "lua entry thread aborted: runtime error: {}",
                            with_traceback(&text)
                        )
                    }
                }
            };
            let msg = if phase == Phase::Log {
                format!("{msg} while logging request")
            } else {
                msg
            };
            crate::http::errlog::request_error(r, &msg);
            Outcome::Failed
        }
    }
}
