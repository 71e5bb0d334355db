//! `ngx.run_worker_thread(pool, module, func, ...)` (nginx: ngx_http_lua_worker_thread.c):
//! runs `require(module)[func](...)` in a Lua VM of its own on a thread of the named
//! `thread_pool`, while the calling coroutine waits; answers `true, results...` or
//! `false, err`. Arguments and results cross as copies (nil, booleans, numbers, strings and
//! tables of them, nginx: ngx_http_lua_xcopy).
//!
//! The pools are OS threads of the process (oxresty's workers are threads of one process:
//! they share them), made at first use with the `threads=` count of the `thread_pool`
//! directive; each pool thread keeps its VMs, one per configuration, with the whole `ngx` API
//! (the request-bound parts answer "no request found", as nginx's thread VM has no request).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex, RwLock};

use mlua::{Lua, MultiValue, Value};

use super::socket::{arg, check_yieldable, ret};
use super::vm::{self, ApiResult, Vm};
use super::LuaConf;

/// nginx: LUA_COPY_MAX_DEPTH.
const MAX_DEPTH: usize = 100;

/// nginx: `lua_worker_thread_vm_pool_size`'s default.
const DEFAULT_VM_POOL_SIZE: usize = 100;

/// A value copied between VMs.
enum Val {
    Nil,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(Vec<u8>),
    Light(usize),
    Table(Vec<(Val, Val)>),
}

/// nginx: ngx_http_lua_xcopy: the copy of `v`, or the error text.
fn to_val(v: &Value, allow_nil: bool, depth: usize) -> Result<Val, &'static str> {
    Ok(match v {
        Value::Nil if allow_nil => Val::Nil,
        Value::Nil => return Err("unsupported Lua type: LUA_TNIL"),
        Value::Boolean(b) => Val::Bool(*b),
        Value::Integer(i) => Val::Int(*i),
        Value::Number(n) => Val::Num(*n),
        Value::String(s) => Val::Str(s.as_bytes().to_vec()),
        Value::LightUserData(p) => Val::Light(p.0 as usize),
        Value::Table(t) => {
            if depth >= MAX_DEPTH {
                return Err("suspicious circular references, table depth exceed max depth: 100");
            }
            let mut out = Vec::new();
            for pair in t.clone().pairs::<Value, Value>() {
                let (k, v) = pair.map_err(|_| "unsupoorted Lua type")?;
                out.push((to_val(&k, false, depth + 1)?, to_val(&v, false, depth + 1)?));
            }
            Val::Table(out)
        }
        Value::Function(_) => return Err("unsupported Lua type: LUA_TFUNCTION"),
        Value::Thread(_) => return Err("unsupported Lua type: LUA_TTHREAD"),
        _ => return Err("unsupported Lua type: LUA_TUSERDATA"),
    })
}

fn from_val(lua: &Lua, v: Val) -> mlua::Result<Value> {
    Ok(match v {
        Val::Nil => Value::Nil,
        Val::Bool(b) => Value::Boolean(b),
        Val::Int(i) => Value::Integer(i),
        Val::Num(n) => Value::Number(n),
        Val::Str(s) => Value::String(lua.create_string(s)?),
        Val::Light(p) => Value::LightUserData(mlua::LightUserData(p as *mut std::ffi::c_void)),
        Val::Table(pairs) => {
            let t = lua.create_table()?;
            for (k, v) in pairs {
                t.raw_set(from_val(lua, k)?, from_val(lua, v)?)?;
            }
            Value::Table(t)
        }
    })
}

/// One call for a pool thread.
struct Job {
    conf: Arc<LuaConf>,
    prefix: std::path::PathBuf,
    module: Vec<u8>,
    func: Vec<u8>,
    args: Vec<Val>,
    done: tokio::sync::oneshot::Sender<Result<Vec<Val>, String>>,
}

/// The `thread_pool` directives of the configuration: name and thread count.
static CONFIGURED: RwLock<Vec<(Vec<u8>, usize)>> = RwLock::new(Vec::new());

/// The pools whose threads run, by name.
static POOLS: Mutex<Vec<(Vec<u8>, mpsc::Sender<Job>)>> = Mutex::new(Vec::new());

/// Records the main level's `thread_pool` directives (called before lowering).
/// nginx: ngx_thread_pool_init_conf gives `default` 32 threads.
pub(crate) fn set_thread_pools(directives: &[parser::Directive]) {
    let mut pools = Vec::new();
    for d in directives.iter().filter(|d| d.name == b"thread_pool") {
        let Some(name) = d.args.first() else { continue };
        let threads = d
            .args
            .iter()
            .skip(1)
            .find_map(|a| a.strip_prefix(b"threads="))
            .and_then(|v| std::str::from_utf8(v).ok()?.parse::<usize>().ok())
            .unwrap_or(32);
        pools.push((name.clone(), threads.clamp(1, 1024)));
    }
    if let Ok(mut c) = CONFIGURED.write() {
        *c = pools;
    }
}

/// The queue of the pool `name`, its threads started at first use; `None`: no such pool.
fn pool(name: &[u8]) -> Option<mpsc::Sender<Job>> {
    let threads = CONFIGURED
        .read()
        .ok()?
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| *t)?;
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, tx)) = pools.iter().find(|(n, _)| n == name) {
        return Some(tx.clone());
    }
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..threads {
        let rx = rx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("lua-pool-{}-{i}", String::from_utf8_lossy(name)))
            .spawn(move || pool_thread(&rx));
        if spawned.is_err() && i == 0 {
            return None;
        }
    }
    pools.push((name.to_vec(), tx.clone()));
    Some(tx)
}

thread_local! {
    /// A pool thread's VM, and the configuration it was made for.
    static THREAD_VM: RefCell<Option<(usize, Rc<Vm>)>> = const { RefCell::new(None) };
}

/// A pool thread: runs the jobs of its queue, one at a time.
fn pool_thread(rx: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let job = {
            let rx = rx.lock().unwrap_or_else(|e| e.into_inner());
            rx.recv()
        };
        let Ok(job) = job else { return };
        let Job {
            conf,
            prefix,
            module,
            func,
            args,
            done,
        } = job;
        let res = run_job(&conf, &prefix, &module, &func, args);
        let _ = done.send(res);
    }
}

/// The pool thread's VM for `conf` (nginx: ngx_http_lua_get_task_ctx makes a new state with
/// the caller's package.path and cpath).
fn thread_vm(conf: &Arc<LuaConf>, prefix: &std::path::Path) -> Option<Rc<Vm>> {
    let key = Arc::as_ptr(conf) as usize;
    let kept = THREAD_VM.with(|m| match &*m.borrow() {
        Some((k, vm)) if *k == key => Some(vm.clone()),
        _ => None,
    });
    if kept.is_some() {
        return kept;
    }
    // a new configuration (a reload): a new VM
    let vm = vm::create_bare(conf.clone(), prefix)?;
    THREAD_VM.with(|m| *m.borrow_mut() = Some((key, vm.clone())));
    Some(vm)
}

/// nginx: the require and the lua_pcall of ngx_http_lua_run_worker_thread and
/// ngx_http_lua_worker_thread_handler.
fn run_job(
    conf: &Arc<LuaConf>,
    prefix: &std::path::Path,
    module: &[u8],
    func: &[u8],
    args: Vec<Val>,
) -> Result<Vec<Val>, String> {
    let Some(vm) = thread_vm(conf, prefix) else {
        return Err("no available Lua vm".into());
    };
    let lua = &vm.lua;
    let text = |e: mlua::Error| {
        let t = vm::error_text(&e);
        t.split("\nstack traceback:")
            .next()
            .unwrap_or("")
            .to_string()
    };
    let require: mlua::Function = lua.globals().get("require").map_err(text)?;
    let m: Value = require
        .call(lua.create_string(module).map_err(text)?)
        .map_err(text)?;
    let Value::Table(m) = m else {
        return Err("invalid lua module".into());
    };
    let f = match m.get::<Value>(lua.create_string(func).map_err(text)?) {
        Ok(Value::Function(f)) => f,
        _ => return Err("invalid function".into()),
    };
    let mut a = MultiValue::new();
    for v in args {
        a.push_back(from_val(lua, v).map_err(text)?);
    }
    let res: MultiValue = f.call(a).map_err(text)?;
    let mut out = Vec::with_capacity(res.len());
    for v in res.iter() {
        out.push(to_val(v, true, 1).map_err(|e| format!("{e} in the return value"))?);
    }
    Ok(out)
}

thread_local! {
    /// Calls of this worker waiting for a pool thread (nginx: worker_thread_vm_count, the
    /// VMs made, each busy with one call at a time).
    static IN_USE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts a call's VM while it runs.
struct InUse;

impl Drop for InUse {
    fn drop(&mut self) {
        IN_USE.with(|n| n.set(n.get().saturating_sub(1)));
    }
}

/// `false, msg`.
fn refused(lua: &Lua, msg: &str) -> ApiResult {
    ret(vec![
        Value::Boolean(false),
        Value::String(lua.create_string(msg)?),
    ])
}

/// nginx: ngx_http_lua_run_worker_thread.
pub(crate) async fn run_worker_thread(lua: Lua, args: MultiValue) -> ApiResult {
    check_yieldable(&lua)?;
    if args.len() < 3 {
        return refused(&lua, "expecting at least 3 arguments");
    }
    let Some(name) = super::api::to_bytes(&lua, &arg(&args, 0)) else {
        return refused(&lua, "threadpool should be a string");
    };
    let Some(tx) = pool(&name) else {
        return refused(
            &lua,
            &format!("thread pool {} not found", String::from_utf8_lossy(&name)),
        );
    };
    let Some(module) = super::api::to_bytes(&lua, &arg(&args, 1)) else {
        return refused(&lua, "module name should be a string");
    };
    let Some(func) = super::api::to_bytes(&lua, &arg(&args, 2)) else {
        return refused(&lua, "function name should be a string");
    };
    let (conf, prefix) = vm::with_req(|r, _| {
        Ok((
            r.loc.lua_main.clone().unwrap_or_default(),
            r.http.prefix.clone(),
        ))
    })?;
    let limit = conf
        .worker_thread_vm_pool_size
        .unwrap_or(DEFAULT_VM_POOL_SIZE);
    if IN_USE.with(|n| n.get()) >= limit {
        return refused(&lua, "no available Lua vm");
    }
    let mut copied = Vec::new();
    for v in args.iter().skip(3) {
        match to_val(v, true, 1) {
            Ok(v) => copied.push(v),
            Err(e) => return refused(&lua, &format!("{e} in the argument")),
        }
    }
    IN_USE.with(|n| n.set(n.get() + 1));
    let _in_use = InUse;
    let (done, wait) = tokio::sync::oneshot::channel();
    let job = Job {
        conf,
        prefix: prefix.to_path_buf(),
        module,
        func,
        args: copied,
        done,
    };
    if tx.send(job).is_err() {
        return refused(&lua, "no memory");
    }
    match wait.await {
        Ok(Ok(results)) => {
            let mut out = vec![Value::Boolean(true)];
            for v in results {
                out.push(from_val(&lua, v)?);
            }
            ret(out)
        }
        Ok(Err(e)) => refused(&lua, &e),
        Err(_) => refused(&lua, "no memory"),
    }
}
