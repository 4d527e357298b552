// SPDX-License-Identifier: GPL-2.0

//! A wait queue a task sleeps on, with a bounded timeout, until a condition holds; woken
//! from any context, hard interrupts included (`wait_event_timeout` / `wake_up`).
//!
//! The kernel crate's `CondVar` does not fit a waker in hard-IRQ context: its condition
//! is read under a lock the waker would have to take too. Here the condition is read after
//! the task queued itself and set its state (`prepare_to_wait_event`, a full barrier), as
//! `___wait_event` does, so a wake-up after that read is not lost, and the waker takes only
//! the queue's own IRQ-safe lock.
//!
//! C header: [`include/linux/wait.h`](srctree/include/linux/wait.h)

use kernel::ffi::{c_int, c_long};

use kernel::prelude::*;
use kernel::types::Opaque;

use super::bindings;

/// A wait queue head (`wait_queue_head_t`). Create it with [`WaitQueue::new`] inside a
/// pinned allocation (for example `Arc::pin_init`).
#[pin_data]
pub struct WaitQueue {
    #[pin]
    wq: Opaque<bindings::wait_queue_head>,
}

// SAFETY: The head is used only through the wait-queue functions, which take its own lock
// (IRQ-safe) and may be called from any CPU.
unsafe impl Send for WaitQueue {}
// SAFETY: As above: `&WaitQueue` permits only those functions.
unsafe impl Sync for WaitQueue {}

impl WaitQueue {
    /// The initialiser of an empty wait queue (one lockdep class for all of them).
    pub fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes; the name and lock class key are static.
            wq <- Opaque::ffi_init(|slot| unsafe {
                bindings::__init_waitqueue_head(
                    slot,
                    c"xnt-wait".as_char_ptr(),
                    kernel::static_lock_class!().as_ptr(),
                )
            }),
        })
    }

    /// Wakes every task waiting (`wake_up_all`). Any context, hard IRQ included: the
    /// queue's lock is taken with IRQs saved.
    pub fn wake_all(&self) {
        // SAFETY: `wq` was initialised by `new` and lives as long as `self`; `__wake_up`
        // takes no pointer beyond it (the key is null).
        unsafe {
            bindings::__wake_up(
                self.wq.get(),
                bindings::TASK_NORMAL,
                0,
                core::ptr::null_mut(),
            )
        };
    }

    /// Sleeps until `cond()` holds or `budget` is spent (`wait_event_timeout`:
    /// uninterruptible, so a signal cannot cut a wait whose end the caller depends on; the
    /// budget bounds it), and takes the time slept off `budget`, so that one budget can
    /// bound a series of waits. Returns `cond()`'s last value.
    ///
    /// Process context, no spinlock held, may sleep. `cond` runs in the task's context,
    /// between queueing and sleeping (it must not sleep itself).
    pub fn wait_timeout(&self, budget: &mut WaitBudget, mut cond: impl FnMut() -> bool) -> bool {
        kernel::task::might_sleep();
        if cond() {
            return true;
        }
        let entry = Opaque::<bindings::wait_queue_entry>::uninit();
        // SAFETY: `entry` is a local that is not moved until `finish_wait` below has
        // unlinked it; `init_wait_entry` initialises it (autoremove wake function).
        unsafe { bindings::init_wait_entry(entry.get(), 0) };
        let mut remaining = budget.0;
        let done = loop {
            // SAFETY: `wq` is initialised and lives as long as `self`; `entry` is
            // initialised and stays in place until `finish_wait`. Uninterruptible: the
            // call returns 0.
            unsafe {
                bindings::prepare_to_wait_event(
                    self.wq.get(),
                    entry.get(),
                    bindings::TASK_UNINTERRUPTIBLE as c_int,
                )
            };
            // The condition is read after `prepare_to_wait_event` queued us and set the
            // task state (a full barrier), so a wake-up after this read wakes us.
            if cond() {
                break true;
            }
            if remaining <= 0 {
                break false;
            }
            // SAFETY: Process context, no spinlock held (the caller's requirement).
            remaining = unsafe { bindings::schedule_timeout(remaining) };
        };
        // SAFETY: As above; unlinks `entry` if a wake-up has not, and sets the task
        // running.
        unsafe { bindings::finish_wait(self.wq.get(), entry.get()) };
        budget.0 = remaining.max(0);
        done
    }
}

/// Time a series of [`WaitQueue::wait_timeout`] calls may sleep in all (in jiffies).
#[derive(Clone, Copy, Debug)]
pub struct WaitBudget(c_long);

impl WaitBudget {
    /// `ms` milliseconds (rounded up to whole jiffies, as `msecs_to_jiffies`).
    pub fn from_ms(ms: u32) -> Self {
        Self(kernel::time::msecs_to_jiffies(ms) as c_long)
    }

    /// Whether nothing is left: a wait now only checks its condition once.
    pub fn is_spent(&self) -> bool {
        self.0 <= 0
    }
}
