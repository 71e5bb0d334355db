//! `ngx.timer.*` (nginx: ngx_http_lua_timer.c): timers on the worker's LocalSet.

use std::cell::Cell;

thread_local! {
    /// The worker is shutting down (nginx: ngx_exiting).
    static EXITING: Cell<bool> = const { Cell::new(false) };
}

/// Whether this worker is exiting (`ngx.worker.exiting()`, premature timers).
pub(crate) fn worker_exiting() -> bool {
    EXITING.with(|e| e.get())
}
