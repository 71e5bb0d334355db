//! `ngx.timer.at`/`every`/`running_count`/`pending_count` (nginx: ngx_http_lua_timer.c),
//! `ngx.worker.exiting`, and `ngx.semaphore` (nginx: ngx_http_lua_semaphore.c with resty.core's
//! ngx/semaphore.lua around it).
//!
//! A timer is a task on the worker's LocalSet: it sleeps, then runs its callback in a new
//! coroutine with `premature = false`; when the worker shuts down gracefully, the pending
//! timers run at once with `premature = true` ([`shutdown`]). Callbacks run without a
//! request (phase `timer`), with the configuration of the location that created them (for the
//! cosockets), their own light threads, and their sockets closed when they end.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use mlua::{Function, Lua, MultiValue, Table, Value};

use super::socket::{api_async, api_fn, arg, argerr, as_num, fail, ret, s, type_name};
use super::vm::{self, ApiResult, Phase, Vm};
use crate::http::lower::LocConf;
use crate::log::Level;

thread_local! {
    /// The worker is shutting down (nginx: ngx_exiting).
    static EXITING: Cell<bool> = const { Cell::new(false) };
    static PENDING: Cell<usize> = const { Cell::new(0) };
    static RUNNING: Cell<usize> = const { Cell::new(0) };
    /// Tells the sleeping timers the worker exits.
    static EXIT: RefCell<Option<tokio::sync::watch::Sender<bool>>> = const { RefCell::new(None) };
    static LIMITS: Cell<(usize, usize)> = const { Cell::new((1024, 256)) };
}

/// Whether this worker is exiting (`ngx.worker.exiting()`, premature timers).
pub(crate) fn worker_exiting() -> bool {
    EXITING.with(|e| e.get())
}

fn exit_rx() -> tokio::sync::watch::Receiver<bool> {
    EXIT.with(|e| {
        e.borrow_mut()
            .get_or_insert_with(|| tokio::sync::watch::channel(false).0)
            .subscribe()
    })
}

/// nginx: ngx_http_lua_abort_pending_timers, at the start of a graceful shutdown: the pending
/// timers run now with `premature` set; waits (bounded) for the running callbacks.
pub(crate) async fn shutdown() {
    EXITING.with(|e| e.set(true));
    EXIT.with(|e| {
        if let Some(tx) = e.borrow().as_ref() {
            let _ = tx.send(true);
        }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while (PENDING.with(|p| p.get()) > 0 || RUNNING.with(|r| r.get()) > 0)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The `lua_max_pending_timers` / `lua_max_running_timers` values of the worker.
pub(crate) fn set_limits(pending: usize, running: usize) {
    LIMITS.with(|l| l.set((pending, running)));
}

/// A scheduled callback.
struct Timer {
    f: Function,
    args: Vec<Value>,
    every: Option<Duration>,
    loc: Option<Arc<LocConf>>,
    /// The creator's `, client: ..., server: ...` for log lines.
    suffix: Rc<str>,
}

fn schedule(delay: Duration, t: Rc<Timer>) {
    PENDING.with(|p| p.set(p.get() + 1));
    let mut rx = exit_rx();
    tokio::task::spawn_local(async move {
        let premature = if *rx.borrow() {
            true
        } else {
            tokio::select! {
                _ = tokio::time::sleep(delay) => false,
                _ = rx.wait_for(|v| *v) => true,
            }
        };
        PENDING.with(|p| p.set(p.get().saturating_sub(1)));
        if let (Some(every), false) = (t.every, premature) {
            schedule(every, t.clone());
        }
        let max_running = LIMITS.with(|l| l.get().1);
        if RUNNING.with(|r| r.get()) >= max_running {
            crate::http::errlog::write(
                Level::Alert,
                &format!("{max_running} lua_max_running_timers are not enough"),
            );
            return;
        }
        RUNNING.with(|r| r.set(r.get() + 1));
        run(&t, premature).await;
        RUNNING.with(|r| r.set(r.get().saturating_sub(1)));
    });
}

/// nginx: ngx_http_lua_timer_handler: the callback in a new coroutine.
async fn run(t: &Timer, premature: bool) {
    let Some(vm) = vm::get() else { return };
    let co = match vm.lua.create_thread(t.f.clone()) {
        Ok(c) => c,
        Err(e) => {
            crate::http::errlog::write(Level::Error, &format!("lua error: {e}"));
            return;
        }
    };
    let mut args = vec![Value::Boolean(premature)];
    args.extend(t.args.iter().cloned());
    let key = (u64::MAX, super::socket::next_id(), 0);
    // nginx: ngx_http_lua_timer_handler's fake connection, numbered when the timer fires
    let conn = crate::worker::next_conn_id();
    let loc = t
        .loc
        .clone()
        .unwrap_or_else(|| Arc::new(LocConf::default()));
    let fut = co.into_async::<MultiValue>(MultiValue::from_vec(args));
    let entry = Scoped {
        fut: Box::pin(fut),
        loc: loc.clone(),
        key,
        suffix: t.suffix.clone(),
        conn,
    };
    let driven = super::thread::drive(entry, super::thread::Owner::Timer);
    let res = Scoped {
        fut: Box::pin(driven),
        loc,
        key,
        suffix: t.suffix.clone(),
        conn,
    }
    .await;
    super::socket::owner_done(key);
    if let Some(Err(e)) = res {
        crate::http::errlog::write(
            Level::Error,
            &format!(
                "*{conn} lua entry thread aborted: runtime error: {}, context: ngx.timer{}",
                vm::with_traceback(&vm::error_text(&e)),
                t.suffix
            ),
        );
    }
}

/// Polls a timer's future with no request current, phase `timer`, and the timer's
/// configuration and socket owner key.
struct Scoped<F> {
    fut: std::pin::Pin<Box<F>>,
    loc: Arc<LocConf>,
    key: vm::CtxKey,
    suffix: Rc<str>,
    /// The fake connection's number.
    conn: u64,
}

impl<F, T> std::future::Future for Scoped<F>
where
    F: std::future::Future<Output = T>,
    T: IntoOpt,
{
    type Output = T::Out;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let _s = vm::Scope::enter_fake(Phase::Timer, self.conn);
        let _t = super::socket::TimerScope::enter(self.loc.clone(), self.key, self.suffix.clone());
        self.fut.as_mut().poll(cx).map(IntoOpt::into_opt)
    }
}

/// The entry future's result as the driver wants it (`None`: ended by `ngx.exit`).
trait IntoOpt {
    type Out;
    fn into_opt(self) -> Self::Out;
}

impl IntoOpt for mlua::Result<MultiValue> {
    type Out = Option<mlua::Result<MultiValue>>;
    fn into_opt(self) -> Self::Out {
        Some(self)
    }
}

impl IntoOpt for Option<mlua::Result<MultiValue>> {
    type Out = Option<mlua::Result<MultiValue>>;
    fn into_opt(self) -> Self::Out {
        self
    }
}

/// nginx: ngx_http_lua_ngx_timer_helper (`at` and `every`).
fn timer_helper(lua: &Lua, args: MultiValue, every: bool) -> ApiResult {
    let name = if every { "every" } else { "at" };
    if args.len() < 2 {
        return Err(fail(
            lua,
            format!("expecting at least 2 arguments but got {}", args.len()),
        ));
    }
    let dv = arg(&args, 0);
    let Some(delay) = as_num(&dv) else {
        return Err(argerr(
            lua,
            1,
            name,
            format!("number expected, got {}", type_name(&dv)),
        ));
    };
    let ms = (delay * 1000.0).max(0.0) as u64;
    if every && ms == 0 {
        return Err(fail(lua, "delay cannot be zero"));
    }
    // luaL_argcheck(lua_isfunction && !lua_iscfunction): the API's functions count as C
    let f = match arg(&args, 1) {
        Value::Function(f)
            if f.info().what != "C" && f.info().source.as_deref() != Some("=ngx") =>
        {
            f
        }
        _ => return Err(argerr(lua, 2, name, "Lua function expected")),
    };
    match vm::current_phase().or_else(vm::noreq_phase) {
        None | Some(Phase::Init) => return Err(fail(lua, "no request")),
        _ => {}
    }
    if worker_exiting() && ms > 0 {
        return ret(vec![Value::Nil, s(lua, "process exiting")?]);
    }
    if PENDING.with(|p| p.get()) >= LIMITS.with(|l| l.get().0) {
        return ret(vec![Value::Nil, s(lua, "too many pending timers")?]);
    }
    let t = Rc::new(Timer {
        f,
        args: args.iter().skip(2).cloned().collect(),
        every: every.then(|| Duration::from_millis(ms)),
        loc: super::socket::current_loc(),
        suffix: super::socket::timer_log_suffix(),
    });
    schedule(Duration::from_millis(ms), t);
    ret(vec![Value::Integer(1)])
}

// ---------------------------------------------------------------------------------------------
// ngx.semaphore.

/// nginx: ngx_http_lua_sema_t: resources and the FIFO of waiters.
struct Sema {
    sem: tokio::sync::Semaphore,
    waiting: Cell<i64>,
}

struct SemaUd(Rc<Sema>);
impl mlua::UserData for SemaUd {}

fn sema_of(v: &Value) -> Option<Rc<Sema>> {
    let Value::UserData(ud) = v else { return None };
    ud.borrow::<SemaUd>().ok().map(|s| s.0.clone())
}

/// resty.core's ngx/semaphore.lua over the native primitives (same checks, same texts).
const SEMAPHORE_LUA: &str = r#"
local new, wait, post, count = ...
local type, tonumber, setmetatable, error = type, tonumber, setmetatable, error
local _M = { version = 10023 }
local mt = { __index = _M }
function _M.new(n)
    n = tonumber(n) or 0
    if n < 0 then
        error("no negative number", 2)
    end
    return setmetatable({ sem = new(n) }, mt)
end
function _M.wait(self, seconds)
    if type(self) ~= "table" or type(self.sem) ~= "userdata" then
        error("not a semaphore instance", 2)
    end
    local milliseconds = tonumber(seconds) * 1000
    if milliseconds < 0 then
        error("no negative number", 2)
    end
    local ret, ok, err = wait(self.sem, milliseconds)
    if ret == "ok" then
        return true
    end
    if ret == "declined" then
        return nil, "timeout"
    end
    if ret == "error" then
        return nil, ok
    end
    return ok, err
end
function _M.post(self, n)
    if type(self) ~= "table" or type(self.sem) ~= "userdata" then
        error("not a semaphore instance", 2)
    end
    local num = n and tonumber(n) or 1
    if num < 1 then
        error("positive number required", 2)
    end
    post(self.sem, num)
    return true
end
function _M.count(self)
    if type(self) ~= "table" or type(self.sem) ~= "userdata" then
        error("not a semaphore instance", 2)
    end
    return count(self.sem)
end
return _M
"#;

/// nginx: ngx_http_lua_ffi_sema_wait.
async fn sema_wait(lua: Lua, args: MultiValue) -> ApiResult {
    let Some(sem) = sema_of(&arg(&args, 0)) else {
        return Err(fail(&lua, "not a semaphore instance"));
    };
    let ms = as_num(&arg(&args, 1)).unwrap_or(0.0).max(0.0) as u64;
    match vm::current_phase().or_else(vm::noreq_phase) {
        Some(
            Phase::Rewrite
            | Phase::Access
            | Phase::Content
            | Phase::Timer
            | Phase::SslClientHello
            | Phase::SslCert
            | Phase::SslSessFetch,
        ) => {}
        Some(Phase::Init) | None => return Err(fail(&lua, "no request found")),
        Some(p) => {
            return ret(vec![
                s(&lua, "error")?,
                s(&lua, format!("API disabled in the context of {}", p.tag()))?,
            ])
        }
    }
    if sem.waiting.get() == 0 {
        if let Ok(p) = sem.sem.try_acquire() {
            p.forget();
            return ret(vec![s(&lua, "ok")?]);
        }
    }
    if ms == 0 {
        return ret(vec![s(&lua, "declined")?]);
    }
    sem.waiting.set(sem.waiting.get() + 1);
    let got = tokio::time::timeout(Duration::from_millis(ms), sem.sem.acquire()).await;
    sem.waiting.set(sem.waiting.get() - 1);
    match got {
        // resumed by post or by the timer (nginx: ngx_http_lua_sema_handler)
        Ok(Ok(p)) => {
            p.forget();
            ret(vec![s(&lua, "waited")?, Value::Boolean(true), Value::Nil])
        }
        _ => ret(vec![
            s(&lua, "waited")?,
            Value::Boolean(false),
            s(&lua, "timeout")?,
        ]),
    }
}

// ---------------------------------------------------------------------------------------------
// Installation.

/// Installs `ngx.timer.*`, `ngx.worker.exiting` and the `ngx.semaphore` module.
pub(crate) fn install(vm: &Rc<Vm>, ngx: &Table) -> mlua::Result<()> {
    let lua = &vm.lua;
    let limits = &vm.conf;
    set_limits(
        limits.max_pending_timers.unwrap_or(1024),
        limits.max_running_timers.unwrap_or(256),
    );
    let timer = lua.create_table()?;
    timer.set("at", api_fn(vm, |l, a| timer_helper(l, a, false))?)?;
    timer.set("every", api_fn(vm, |l, a| timer_helper(l, a, true))?)?;
    timer.set(
        "running_count",
        api_fn(vm, |_, _| {
            ret(vec![Value::Integer(RUNNING.with(|r| r.get()) as i64)])
        })?,
    )?;
    timer.set(
        "pending_count",
        api_fn(vm, |_, _| {
            ret(vec![Value::Integer(PENDING.with(|p| p.get()) as i64)])
        })?,
    )?;
    ngx.set("timer", timer)?;
    if let Ok(Value::Table(w)) = ngx.get::<Value>("worker") {
        w.set(
            "exiting",
            api_fn(vm, |_, _| ret(vec![Value::Boolean(worker_exiting())]))?,
        )?;
    }

    let new = api_fn(vm, |l, a| {
        let n = as_num(&arg(&a, 0)).unwrap_or(0.0).max(0.0) as usize;
        let sem = Sema {
            sem: tokio::sync::Semaphore::new(n.min(tokio::sync::Semaphore::MAX_PERMITS)),
            waiting: Cell::new(0),
        };
        ret(vec![Value::UserData(
            l.create_userdata(SemaUd(Rc::new(sem)))?,
        )])
    })?;
    let wait = api_async(vm, sema_wait)?;
    let post = api_fn(vm, |l, a| {
        let Some(sem) = sema_of(&arg(&a, 0)) else {
            return Err(fail(l, "not a semaphore instance"));
        };
        let n = as_num(&arg(&a, 1)).unwrap_or(1.0).max(0.0) as usize;
        sem.sem
            .add_permits(n.min(tokio::sync::Semaphore::MAX_PERMITS - sem.sem.available_permits()));
        ret(vec![])
    })?;
    let count = api_fn(vm, |l, a| {
        let Some(sem) = sema_of(&arg(&a, 0)) else {
            return Err(fail(l, "not a semaphore instance"));
        };
        let n = sem.sem.available_permits() as i64 - sem.waiting.get();
        ret(vec![Value::Integer(n)])
    })?;
    let loader: Function = lua
        .load(SEMAPHORE_LUA)
        .set_name("@/usr/share/lua/5.1/ngx/semaphore.lua")
        .into_function()?;
    let module: Value = loader.call((new, wait, post, count))?;
    let package: Table = lua.globals().get("package")?;
    let loaded: Table = package.get("loaded")?;
    let preload: Table = package.get("preload")?;
    loaded.set("ngx.semaphore", Value::Nil)?;
    let m2 = module.clone();
    preload.set(
        "ngx.semaphore",
        lua.create_function(move |_, ()| Ok(m2.clone()))?,
    )?;
    Ok(())
}
