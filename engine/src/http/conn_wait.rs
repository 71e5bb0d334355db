//! What a connection waits for before it reads its next request or closes: nginx finalizes
//! a request, and keeps its connection alive or closes it, only when the request's last
//! work ended (a streaming Lua handler after `ngx.eof`, background mirror subrequests).

use std::cell::RefCell;
use std::collections::HashMap;
use std::task::{Context, Waker};

/// Per connection: how much work still runs, and the tasks waiting for it to end.
#[derive(Default)]
pub(crate) struct ConnWaits(RefCell<HashMap<u64, (usize, Vec<Waker>)>>);

impl ConnWaits {
    /// Counts work of connection `id` in (`1`) or out (`-1`); the waiters are woken when none
    /// is left.
    pub(crate) fn add(&self, id: u64, delta: isize) {
        let wakers = {
            let mut m = self.0.borrow_mut();
            let e = m.entry(id).or_default();
            e.0 = e.0.saturating_add_signed(delta);
            if e.0 > 0 {
                return;
            }
            m.remove(&id).map(|(_, w)| w).unwrap_or_default()
        };
        for w in wakers {
            w.wake();
        }
    }

    /// Whether connection `id` must wait; the task is woken when it may go on.
    pub(crate) fn wait(&self, id: u64, cx: &mut Context<'_>) -> bool {
        let mut m = self.0.borrow_mut();
        match m.get_mut(&id) {
            Some((n, wakers)) if *n > 0 => {
                if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    wakers.push(cx.waker().clone());
                }
                true
            }
            _ => false,
        }
    }
}
