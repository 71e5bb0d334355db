//! Light threads (nginx: ngx_http_lua_uthread.c): `ngx.thread.spawn`, `wait`, `kill`.
//!
//! A handler's entry coroutine runs under a [`Driver`], which also polls the user threads it
//! (or they) spawned: all of them are futures of the same tokio task, so they share the
//! request. `spawn` runs the new thread at once until it first yields, as lua-nginx-module
//! does; the phase handler ends when the entry thread and every user thread are done, an
//! error in the entry thread or `ngx.exit` in any thread ends them all.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use mlua::{Lua, MultiValue, Thread, Value};

use super::socket::{api_async, api_fn, arg, fail, ret, s, type_name};
use super::vm::{self, ApiResult, SharedCtx, Vm};
use crate::http::request::Request;
use crate::log::Level;

type Fut = Pin<Box<dyn Future<Output = mlua::Result<MultiValue>>>>;

/// A user thread (nginx: ngx_http_lua_co_ctx_t with is_uthread).
struct Child {
    co: Thread,
    parent: Thread,
    fut: RefCell<Option<Fut>>,
    /// Its results once it ended (a zombie until waited for).
    done: RefCell<Option<Result<MultiValue, Option<String>>>>,
    /// Waited for or killed: dead.
    dead: Cell<bool>,
}

thread_local! {
    /// User threads by driver.
    static CHILDREN: RefCell<HashMap<u64, Vec<Rc<Child>>>> = RefCell::new(HashMap::new());
    /// The driver being polled.
    static DRIVER: Cell<Option<u64>> = const { Cell::new(None) };
}

/// What a driven coroutine runs for: a request (its pointer and Lua context), or a timer.
pub(crate) enum Owner {
    Req(*mut Request, SharedCtx),
    Timer,
}

/// Polls an entry coroutine (its future yields `None` when `ngx.exit` ended it) and the user
/// threads spawned under it.
pub(crate) struct Driver<F> {
    entry: Pin<Box<F>>,
    owner: Owner,
    key: u64,
    result: Option<Option<mlua::Result<MultiValue>>>,
    abort: Abort,
}

/// `lua_check_client_abort`: the client's side watched while the handler runs.
enum Abort {
    /// Not decided yet (at the first poll).
    Unknown,
    Off,
    Armed(crate::http::h1::RawConn, u64),
    Fired,
}

/// Runs `entry` and its user threads to their end (see the module docs).
pub(crate) fn drive<F>(entry: F, owner: Owner) -> Driver<F>
where
    F: Future<Output = Option<mlua::Result<MultiValue>>>,
{
    Driver {
        entry: Box::pin(entry),
        owner,
        key: super::socket::next_id(),
        result: None,
        abort: Abort::Unknown,
    }
}

/// Whether the handler of the current request watches its client (nginx: the rewrite,
/// access and content handlers set ngx_http_lua_rd_check_broken_connection).
fn abort_state() -> Abort {
    vm::with_req(|r, c| {
        let on = r.loc.lua_check_client_abort == Some(true)
            && r.sub == 0
            && matches!(
                c.phase,
                vm::Phase::Rewrite
                    | vm::Phase::ServerRewrite
                    | vm::Phase::Access
                    | vm::Phase::Content
            );
        Ok(match c.raw_conn.clone() {
            Some((conn, gen)) if on => Abort::Armed(conn, gen),
            _ => Abort::Off,
        })
    })
    .unwrap_or(Abort::Off)
}

/// nginx: ngx_http_lua_rd_check_broken_connection: the client went away. The `ngx.on_abort`
/// callback runs as a user thread; without one the request ends with 499.
fn client_aborted(key: u64, ctx: &SharedCtx, os: Option<String>, cx: &mut Context<'_>) {
    let msg = match os {
        Some(e) => format!("client prematurely closed connection ({e})"),
        None => "client prematurely closed connection".to_string(),
    };
    super::socket::log(Level::Info, &msg);
    let cb = ctx
        .try_borrow_mut()
        .ok()
        .and_then(|mut c| c.on_abort.take());
    let Some(f) = cb else {
        if let Ok(mut c) = ctx.try_borrow_mut() {
            c.exit = Some(499);
        }
        return;
    };
    let Some(vm) = vm::get() else {
        return;
    };
    let Ok(co) = vm.lua.create_thread(f) else {
        return;
    };
    let fut: Fut = Box::pin(co.clone().into_async::<MultiValue>(()));
    let child = Rc::new(Child {
        co,
        parent: vm.lua.current_thread(),
        fut: RefCell::new(Some(fut)),
        done: RefCell::new(None),
        dead: Cell::new(false),
    });
    CHILDREN.with(|c| c.borrow_mut().entry(key).or_default().push(child.clone()));
    poll_child(&child, cx);
}

impl<F> Driver<F> {
    fn exited(&self) -> bool {
        match &self.owner {
            Owner::Req(_, ctx) => ctx
                .try_borrow()
                .map(|c| c.exit.is_some() || c.exec.is_some())
                .unwrap_or(false),
            Owner::Timer => false,
        }
    }
}

impl<F> Drop for Driver<F> {
    fn drop(&mut self) {
        let key = self.key;
        let _ = CHILDREN.try_with(|c| c.borrow_mut().remove(&key));
    }
}

/// Makes a driver current (for `spawn`) while it is polled.
struct DriverScope(Option<u64>);

impl DriverScope {
    fn enter(key: u64) -> DriverScope {
        DriverScope(DRIVER.with(|d| d.replace(Some(key))))
    }
}

impl Drop for DriverScope {
    fn drop(&mut self) {
        let prev = self.0;
        let _ = DRIVER.try_with(|d| d.set(prev));
    }
}

/// Polls one user thread; true when it ended now.
fn poll_child(c: &Rc<Child>, cx: &mut Context<'_>) -> bool {
    let Ok(mut slot) = c.fut.try_borrow_mut() else {
        return false;
    };
    let Some(fut) = slot.as_mut() else {
        return false;
    };
    match fut.as_mut().poll(cx) {
        Poll::Pending => false,
        Poll::Ready(res) => {
            *slot = None;
            drop(slot);
            let res = res.map_err(|e| {
                let text = vm::error_text(&e);
                let head = text.split("\nstack traceback:").next().unwrap_or("");
                // nginx: ngx_http_lua_run_thread's "lua user thread aborted" (a non-string
                // error value reads "unknown reason")
                let string_err = !head.is_empty() && !head.starts_with("table: ");
                let tb = vm::with_traceback(&text);
                let msg = if string_err {
                    format!("lua user thread aborted: runtime error: {tb}")
                } else {
                    let rest = tb.split_once('\n').map_or("", |(_, r)| r);
                    format!("lua user thread aborted: runtime error: unknown reason\n{rest}")
                };
                super::socket::log(Level::Error, &msg);
                if !string_err {
                    return None;
                }
                // wait() gets the message without its position
                Some(strip_position(head).to_string())
            });
            *c.done.borrow_mut() = Some(res);
            true
        }
    }
}

/// `msg` without a leading `chunk:line: `.
fn strip_position(msg: &str) -> &str {
    let b = msg.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c != b':' {
            continue;
        }
        let digits = b[i + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
        let j = i + 1 + digits;
        if digits > 0 && b.get(j) == Some(&b':') && b.get(j + 1) == Some(&b' ') {
            return &msg[j + 2..];
        }
    }
    msg
}

/// Polls every live user thread of `key`; true when one ended.
fn poll_children(key: u64, cx: &mut Context<'_>) -> bool {
    let list: Vec<Rc<Child>> = CHILDREN.with(|c| c.borrow().get(&key).cloned().unwrap_or_default());
    let mut ended = false;
    for c in &list {
        if poll_child(c, cx) {
            ended = true;
        }
    }
    ended
}

fn live_children(key: u64) -> bool {
    CHILDREN.with(|c| {
        c.borrow().get(&key).is_some_and(|l| {
            l.iter()
                .any(|c| c.fut.try_borrow().map_or(true, |f| f.is_some()))
        })
    })
}

impl<F> Future for Driver<F>
where
    F: Future<Output = Option<mlua::Result<MultiValue>>>,
{
    type Output = Option<mlua::Result<MultiValue>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let _d = DriverScope::enter(self.key);
        if let Owner::Req(r, ctx) = &self.owner {
            if matches!(self.abort, Abort::Unknown | Abort::Armed(..)) {
                let (r, ctx) = (*r, ctx.clone());
                let _scope = vm::Scope::enter(r, ctx.clone());
                if matches!(self.abort, Abort::Unknown) {
                    self.abort = abort_state();
                }
                let fired = match &self.abort {
                    Abort::Armed(conn, gen) => match conn.poll_closed(*gen, cx) {
                        Poll::Ready(os) => Some(os),
                        Poll::Pending => None,
                    },
                    _ => None,
                };
                if let Some(os) = fired {
                    self.abort = Abort::Fired;
                    client_aborted(self.key, &ctx, os, cx);
                }
            }
        }
        if self.result.is_none() {
            if let Poll::Ready(v) = self.entry.as_mut().poll(cx) {
                self.result = Some(v);
            }
        }
        if matches!(self.result, Some(None)) || self.exited() {
            return Poll::Ready(None);
        }
        if matches!(self.result, Some(Some(Err(_)))) {
            return Poll::Ready(self.result.take().flatten());
        }
        let ended = {
            let _scope = match &self.owner {
                Owner::Req(r, ctx) => Some(vm::Scope::enter(*r, ctx.clone())),
                Owner::Timer => None,
            };
            poll_children(self.key, cx)
        };
        if self.exited() {
            return Poll::Ready(None);
        }
        if ended {
            // a waiting parent may go on now
            cx.waker().wake_by_ref();
        }
        if self.result.is_some() && !live_children(self.key) {
            return Poll::Ready(self.result.take().flatten());
        }
        Poll::Pending
    }
}

// ---------------------------------------------------------------------------------------------
// The API.

fn find(key: u64, co: &Thread) -> Option<Rc<Child>> {
    CHILDREN.with(|c| {
        c.borrow()
            .get(&key)
            .and_then(|l| l.iter().find(|c| &c.co == co).cloned())
    })
}

/// `ngx.thread.spawn(func, ...)` (nginx: ngx_http_lua_uthread_spawn).
async fn spawn(lua: Lua, args: MultiValue) -> ApiResult {
    super::socket::check_yieldable(&lua)?;
    let Some(key) = DRIVER.with(|d| d.get()) else {
        return Err(fail(&lua, "no request ctx found"));
    };
    let f = match arg(&args, 0) {
        Value::Function(f) => f,
        v => {
            return Err(super::socket::argerr(
                &lua,
                1,
                "spawn",
                format!("function expected, got {}", type_name(&v)),
            ))
        }
    };
    let rest: Vec<Value> = args.iter().skip(1).cloned().collect();
    let co = lua.create_thread(f)?;
    let parent = lua.current_thread();
    let fut: Fut = Box::pin(
        co.clone()
            .into_async::<MultiValue>(MultiValue::from_vec(rest)),
    );
    let child = Rc::new(Child {
        co: co.clone(),
        parent,
        fut: RefCell::new(Some(fut)),
        done: RefCell::new(None),
        dead: Cell::new(false),
    });
    CHILDREN.with(|c| c.borrow_mut().entry(key).or_default().push(child.clone()));
    // run it until it yields (nginx: the new thread runs first)
    std::future::poll_fn(|cx| {
        poll_child(&child, cx);
        Poll::Ready(())
    })
    .await;
    // nginx: ngx.exit or ngx.exec in the new thread ends the request's threads: the parent
    // does not run on after spawn.
    let ended = super::vm::with_req(|_, c| Ok(c.exit.is_some() || c.exec.is_some()));
    if matches!(ended, Ok(true)) {
        std::future::pending::<()>().await;
    }
    ret(vec![Value::Thread(co)])
}

/// `ngx.thread.wait(t1, t2, ...)` (nginx: ngx_http_lua_uthread_wait).
async fn wait(lua: Lua, args: MultiValue) -> ApiResult {
    super::socket::check_yieldable(&lua)?;
    let Some(key) = DRIVER.with(|d| d.get()) else {
        return Err(fail(&lua, "no request ctx found"));
    };
    if args.is_empty() {
        return Err(fail(&lua, "at least one coroutine should be specified"));
    }
    let me = lua.current_thread();
    let mut kids = Vec::new();
    for (i, a) in args.iter().enumerate() {
        let Value::Thread(t) = a else {
            return Err(super::socket::argerr(
                &lua,
                i + 1,
                "wait",
                "lua thread expected",
            ));
        };
        let Some(c) = find(key, t) else {
            return Err(fail(
                &lua,
                "attempt to wait on a coroutine that is not a user thread",
            ));
        };
        if c.parent != me {
            return Err(fail(
                &lua,
                "only the parent coroutine can wait on the thread",
            ));
        }
        kids.push(c);
    }
    let n = kids.len();
    let picked = std::future::poll_fn(|_cx| {
        for (i, c) in kids.iter().enumerate() {
            if c.dead.get() {
                if i + 1 < n {
                    continue;
                }
                return Poll::Ready(None);
            }
            if c.done.borrow().is_some() {
                return Poll::Ready(Some(c.clone()));
            }
        }
        Poll::Pending
    })
    .await;
    let Some(c) = picked else {
        return ret(vec![Value::Nil, s(&lua, "already waited or killed")?]);
    };
    c.dead.set(true);
    let res = c.done.borrow_mut().take();
    match res {
        Some(Ok(vals)) => {
            let mut out = vec![Value::Boolean(true)];
            out.extend(vals);
            ret(out)
        }
        Some(Err(Some(msg))) => ret(vec![Value::Boolean(false), s(&lua, msg)?]),
        Some(Err(None)) => ret(vec![Value::Boolean(false)]),
        None => ret(vec![Value::Nil, s(&lua, "already waited or killed")?]),
    }
}

/// `ngx.thread.kill(t)` (nginx: ngx_http_lua_uthread_kill).
fn kill(lua: &Lua, args: MultiValue) -> ApiResult {
    super::socket::check_yieldable(lua)?;
    let Some(key) = DRIVER.with(|d| d.get()) else {
        return Err(fail(lua, "no request ctx found"));
    };
    let Value::Thread(t) = arg(&args, 0) else {
        return Err(super::socket::argerr(lua, 1, "kill", "lua thread expected"));
    };
    let Some(c) = find(key, &t) else {
        return ret(vec![Value::Nil, s(lua, "not user thread")?]);
    };
    if c.parent != lua.current_thread() {
        return ret(vec![Value::Nil, s(lua, "killer not parent")?]);
    }
    if c.dead.get() {
        return ret(vec![Value::Nil, s(lua, "already waited or killed")?]);
    }
    if c.done.borrow().is_some() {
        return ret(vec![Value::Nil, s(lua, "already terminated")?]);
    }
    c.dead.set(true);
    if let Ok(mut f) = c.fut.try_borrow_mut() {
        *f = None;
    }
    ret(vec![Value::Integer(1)])
}

/// `coroutine.resume` and `coroutine.wrap` that let a user coroutine wait on I/O (nginx:
/// lua-nginx-module's coroutine API wrappers, ngx_http_lua_coroutine.c): when the resumed
/// coroutine is suspended by an async API function (mlua's "pending" yield), the resumer
/// suspends too, up to the handler's coroutine that tokio polls, and resumes it again when
/// woken; ordinary yields pass through as in plain Lua.
const COROUTINE_LUA: &str = r##"
local PENDING = ...
local co_resume, co_yield, co_status, co_create = coroutine.resume, coroutine.yield,
    coroutine.status, coroutine.create
local select, error = select, error
local function pass(co, ok, ...)
    if ok and select("#", ...) == 1 and (...) == PENDING and co_status(co) == "suspended" then
        co_yield(PENDING)
        return pass(co, co_resume(co))
    end
    return ok, ...
end
coroutine.resume = function(co, ...)
    return pass(co, co_resume(co, ...))
end
local function unwrap(ok, ...)
    if not ok then
        error((...), 0)
    end
    return ...
end
coroutine.wrap = function(f)
    local co = co_create(f)
    return function(...)
        return unwrap(pass(co, co_resume(co, ...)))
    end
end
"##;

/// Installs `ngx.thread` and the coroutine wrappers.
pub(crate) fn install(vm: &Rc<Vm>, ngx: &mlua::Table) -> mlua::Result<()> {
    let t = vm.lua.create_table()?;
    t.set("spawn", api_async(vm, spawn)?)?;
    t.set("wait", api_async(vm, wait)?)?;
    t.set("kill", api_fn(vm, kill)?)?;
    ngx.set("thread", t)?;
    vm.lua
        .load(COROUTINE_LUA)
        .set_name("=coroutine")
        .call::<()>(Value::LightUserData(Lua::poll_pending()))?;
    Ok(())
}
