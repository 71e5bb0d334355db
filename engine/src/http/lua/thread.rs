//! Light threads (nginx: ngx_http_lua_uthread.c): `ngx.thread.spawn`, `wait`, `kill`.
//!
//! A handler's entry coroutine runs under a [`Driver`], which also polls the user threads it
//! (or they) spawned: all of them are futures of the same tokio task, so they share the
//! request. `spawn` runs the new thread at once until it first yields, as lua-nginx-module
//! does; the phase handler ends when the entry thread and every user thread are done, an
//! error in the entry thread or `ngx.exit` in any thread ends them all.
//!
//! The order threads go on in is lua-nginx-module's: `spawn` posts its caller before the new
//! thread runs, `coroutine.yield` in a thread posts the thread when others are posted, and
//! the driver resumes posted threads first come, first served once the running one waits
//! (nginx: ctx->posted_threads, ngx_http_lua_run_posted_threads).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
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

/// A driver's coroutine that tokio's task polls directly: the entry thread or a user thread.
#[derive(Clone)]
enum Top {
    Entry,
    Child(Rc<Child>),
}

/// A posted thread: its gate opens when the driver resumes it.
type Posted = (Rc<Cell<bool>>, Top);

thread_local! {
    /// User threads by driver.
    static CHILDREN: RefCell<HashMap<u64, Vec<Rc<Child>>>> = RefCell::new(HashMap::new());
    /// The driver being polled.
    static DRIVER: Cell<Option<u64>> = const { Cell::new(None) };
    /// nginx: ctx->posted_threads, by driver.
    static POSTED: RefCell<HashMap<u64, VecDeque<Posted>>> = RefCell::new(HashMap::new());
    /// The thread being polled.
    static TOP: RefCell<Option<Top>> = const { RefCell::new(None) };
    /// Counts the polls of drivers (see [`next_round`]).
    static ROUND: Cell<u64> = const { Cell::new(0) };
    /// Timer drivers whose threads `ngx.exit` ended.
    static EXITED: RefCell<std::collections::HashSet<u64>> = RefCell::new(Default::default());
}

/// `ngx.exit` in a timer: the driver being polled ends its threads.
pub(crate) fn exit_driver() {
    if let Some(key) = DRIVER.with(|d| d.get()) {
        EXITED.with(|e| e.borrow_mut().insert(key));
    }
}

/// Waits until a driver is polled again: what was posted or woken meanwhile runs first
/// (nginx: a subrequest runs as a posted request, after the handler yielded).
pub(crate) async fn next_round() {
    let start = ROUND.with(|r| r.get());
    std::future::poll_fn(|cx| {
        if ROUND.with(|r| r.get()) != start {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

/// Makes `top` the thread being polled until dropped.
struct TopScope(Option<Top>);

impl TopScope {
    fn enter(top: Top) -> TopScope {
        TopScope(TOP.with(|t| t.replace(Some(top))))
    }
}

impl Drop for TopScope {
    fn drop(&mut self) {
        let prev = self.0.take();
        let _ = TOP.try_with(|t| *t.borrow_mut() = prev);
    }
}

/// nginx: ngx_http_lua_post_thread: the running thread goes on once the driver resumes it;
/// the returned gate opens then.
fn post(key: u64) -> Rc<Cell<bool>> {
    let gate = Rc::new(Cell::new(false));
    let top = TOP.with(|t| t.borrow().clone()).unwrap_or(Top::Entry);
    POSTED.with(|p| {
        p.borrow_mut()
            .entry(key)
            .or_default()
            .push_back((gate.clone(), top))
    });
    gate
}

/// Waits until the driver resumes the posted thread.
async fn gate(g: Rc<Cell<bool>>) {
    std::future::poll_fn(|_| match g.get() {
        true => Poll::Ready(()),
        false => Poll::Pending,
    })
    .await
}

fn next_posted(key: u64) -> Option<Posted> {
    POSTED.with(|p| p.borrow_mut().get_mut(&key).and_then(|q| q.pop_front()))
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
            Owner::Timer => EXITED.with(|e| e.borrow().contains(&self.key)),
        }
    }
}

impl<F> Drop for Driver<F> {
    fn drop(&mut self) {
        let key = self.key;
        let _ = CHILDREN.try_with(|c| c.borrow_mut().remove(&key));
        let _ = POSTED.try_with(|p| p.borrow_mut().remove(&key));
        let _ = EXITED.try_with(|e| e.borrow_mut().remove(&key));
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
    let _top = TopScope::enter(Top::Child(c.clone()));
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

impl<F> Driver<F>
where
    F: Future<Output = Option<mlua::Result<MultiValue>>>,
{
    /// Polls the entry thread unless it ended.
    fn poll_entry(&mut self, cx: &mut Context<'_>) {
        if self.result.is_none() {
            let _top = TopScope::enter(Top::Entry);
            if let Poll::Ready(v) = self.entry.as_mut().poll(cx) {
                self.result = Some(v);
            }
        }
    }
}

impl<F> Future for Driver<F>
where
    F: Future<Output = Option<mlua::Result<MultiValue>>>,
{
    type Output = Option<mlua::Result<MultiValue>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        ROUND.with(|r| r.set(r.get().wrapping_add(1)));
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
        self.poll_entry(cx);
        if matches!(self.result, Some(None)) || self.exited() {
            return Poll::Ready(None);
        }
        if matches!(self.result, Some(Some(Err(_)))) {
            return Poll::Ready(self.result.take().flatten());
        }
        let mut ended = {
            let _scope = match &self.owner {
                Owner::Req(r, ctx) => Some(vm::Scope::enter(*r, ctx.clone())),
                Owner::Timer => None,
            };
            poll_children(self.key, cx)
        };
        // nginx: ngx_http_lua_run_posted_threads.
        while let Some((g, top)) = next_posted(self.key) {
            g.set(true);
            match top {
                Top::Entry => self.poll_entry(cx),
                Top::Child(c) => {
                    let _scope = match &self.owner {
                        Owner::Req(r, ctx) => Some(vm::Scope::enter(*r, ctx.clone())),
                        Owner::Timer => None,
                    };
                    ended |= poll_child(&c, cx);
                }
            }
            if matches!(self.result, Some(None)) || self.exited() {
                return Poll::Ready(None);
            }
            if matches!(self.result, Some(Some(Err(_)))) {
                return Poll::Ready(self.result.take().flatten());
            }
        }
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
    // the caller goes on after the threads posted before it (nginx: ngx_http_lua_uthread_spawn
    // posts it), and the new thread runs first, until it yields
    let me = post(key);
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
    gate(me).await;
    ret(vec![Value::Thread(co)])
}

/// `coroutine.yield()` in a light thread (nginx: ngx_http_lua_coroutine_yield for a thread,
/// in ngx_http_lua_run_thread): the thread goes on at once unless other threads are posted,
/// else after them; the yield's arguments are dropped. Answers false outside a driver (a
/// plain yield then).
async fn thread_yield(_lua: Lua, _args: MultiValue) -> ApiResult {
    let Some(key) = DRIVER.with(|d| d.get()) else {
        return ret(vec![Value::Boolean(false)]);
    };
    let busy = POSTED.with(|p| p.borrow().get(&key).is_some_and(|q| !q.is_empty()));
    if busy {
        gate(post(key)).await;
    }
    ret(vec![Value::Boolean(true)])
}

/// nginx: the `co_status` of a light thread for `coroutine.status`: "zombie" once it ended
/// and its parent has not waited for it, "running" while alive (also while it waits on I/O);
/// nil for anything else.
fn thread_status(lua: &Lua, args: MultiValue) -> ApiResult {
    let (Some(key), Value::Thread(t)) = (DRIVER.with(|d| d.get()), arg(&args, 0)) else {
        return ret(vec![Value::Nil]);
    };
    let Some(c) = find(key, &t) else {
        return ret(vec![Value::Nil]);
    };
    let st = if c.dead.get() {
        "dead"
    } else if c.done.borrow().is_some() {
        "zombie"
    } else {
        "running"
    };
    ret(vec![s(lua, st)?])
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

thread_local! {
    /// Coroutines waiting for `ngx.location.capture*` subrequests, by address, with how many
    /// waits (nginx: `coctx->pending_subreqs`).
    static PENDING_SUBREQS: RefCell<HashMap<usize, u32>> = RefCell::new(HashMap::new());
}

/// Counts a capture's wait of coroutine `co` (`start`), or its end.
pub(crate) fn subreqs_pending(co: usize, start: bool) {
    PENDING_SUBREQS.with(|p| {
        let mut p = p.borrow_mut();
        if start {
            *p.entry(co).or_insert(0) += 1;
        } else if let Some(n) = p.get_mut(&co) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                p.remove(&co);
            }
        }
    });
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
    let co = t.to_pointer() as usize;
    if PENDING_SUBREQS.with(|p| p.borrow().contains_key(&co)) {
        return ret(vec![Value::Nil, s(lua, "pending subrequests")?]);
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
local PENDING, thread_yield, thread_status = ...
local co_resume, co_yield, co_status, co_create, co_running = coroutine.resume,
    coroutine.yield, coroutine.status, coroutine.create, coroutine.running
local coroutine_wrap_std = coroutine.wrap
local select, error, setmetatable = select, error, setmetatable
-- coroutines made by coroutine.create/wrap (the others are light threads)
local user_co = setmetatable({}, { __mode = "k" })
-- a coroutine waiting on I/O, and the one that resumed it
local io_wait = setmetatable({}, { __mode = "k" })
local io_parent = setmetatable({}, { __mode = "k" })
local function pass(co, ok, ...)
    if ok and select("#", ...) == 1 and (...) == PENDING and co_status(co) == "suspended" then
        local me = co_running()
        io_wait[co], io_parent[me] = true, true
        co_yield(PENDING)
        io_wait[co], io_parent[me] = nil, nil
        return pass(co, co_resume(co))
    end
    return ok, ...
end
coroutine.create = function(f)
    local co = co_create(f)
    user_co[co] = true
    return co
end
coroutine.resume = function(co, ...)
    -- nginx: ngx_http_lua_coroutine_resume names the status it cannot resume
    if user_co[co] then
        local st = coroutine.status(co)
        if st ~= "suspended" then
            return false, "cannot resume " .. st .. " coroutine"
        end
    end
    return pass(co, co_resume(co, ...))
end
coroutine.yield = function(...)
    local me = co_running()
    -- (mlua's async functions yield PENDING through this too)
    if (...) ~= PENDING and me and not user_co[me] and thread_yield() then
        return
    end
    return co_yield(...)
end
-- nginx: ngx_http_lua_coroutine_status reports the request's view of a coroutine
coroutine.status = function(co)
    local st = co_status(co)
    if st == "suspended" or st == "normal" then
        if io_parent[co] then
            return "normal"
        end
        if io_wait[co] then
            return "running"
        end
        if not user_co[co] then
            return thread_status(co) or "running"
        end
    elseif st == "dead" and not user_co[co] then
        return thread_status(co) or st
    end
    return st
end
local function unwrap(ok, ...)
    if not ok then
        error((...), 0)
    end
    return ...
end
coroutine.wrap = function(f)
    local co = co_create(f)
    user_co[co] = true
    return function(...)
        return unwrap(pass(co, co_resume(co, ...)))
    end
end
-- nginx: ngx_http_lua_inject_coroutine_api keeps the standard functions as `_name` and its
-- own as `__name`; LuaJIT's 5.2 extra is not in lua-nginx-module's table
for _, k in ipairs({ "create", "resume", "status", "wrap", "yield" }) do
    coroutine["__" .. k] = coroutine[k]
end
coroutine._create, coroutine._resume, coroutine._status, coroutine._wrap, coroutine._yield =
    co_create, co_resume, co_status, coroutine_wrap_std, co_yield
coroutine.isyieldable = nil
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
        .call::<()>((
            Value::LightUserData(Lua::poll_pending()),
            api_async(vm, thread_yield)?,
            api_fn(vm, thread_status)?,
        ))?;
    Ok(())
}
