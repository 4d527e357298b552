// SPDX-License-Identifier: GPL-2.0

//! A one-shot timer that schedules a NAPI context when it fires (C: a `timer_list` whose
//! callback calls `napi_schedule`, such as netfront's `rx_refill_timer`), over the kernel
//! crate's intrusive [`HrTimer`] in an [`Arc`].
//!
//! C header: [`include/linux/hrtimer.h`](srctree/include/linux/hrtimer.h)

use kernel::impl_has_hr_timer;
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};
use kernel::time::hrtimer::{
    ArcHrTimerHandle, HrTimer, HrTimerCallback, HrTimerCallbackContext, HrTimerPointer,
    HrTimerRestart, RelativeMode,
};
use kernel::time::{Delta, Monotonic};

use super::net::NapiRef;

/// The timer and what it schedules.
#[pin_data]
struct Inner {
    #[pin]
    timer: HrTimer<Inner>,
    napi: NapiRef,
}

impl HrTimerCallback for Inner {
    type Pointer<'a> = Arc<Self>;

    // Hard-IRQ context (softirq on PREEMPT_RT), where `napi_schedule` is allowed.
    fn run(this: ArcBorrow<'_, Self>, _ctx: HrTimerCallbackContext<'_, Self>) -> HrTimerRestart {
        this.napi.schedule();
        HrTimerRestart::NoRestart
    }
}

impl_has_hr_timer! {
    impl HasHrTimer<Self> for Inner {
        mode: RelativeMode<Monotonic>, field: self.timer
    }
}

/// A one-shot timer that runs `napi_schedule` on a NAPI context when it expires.
///
/// Dropping it (or [`NapiTimer::cancel`]) stops the timer and waits for a running
/// callback, like `timer_delete_sync`; its owner drops it before the [`super::net::Napi`]
/// it schedules (the rule of every [`NapiRef`]). Neither may happen in hard-IRQ context.
pub struct NapiTimer {
    inner: Arc<Inner>,
    armed: Option<ArcHrTimerHandle<Inner>>,
}

impl NapiTimer {
    /// A stopped timer for `napi` (allocates; process context).
    pub fn new(napi: NapiRef) -> Result<Self> {
        let inner = Arc::pin_init(
            pin_init!(Inner {
                timer <- HrTimer::new(),
                napi,
            }),
            GFP_KERNEL,
        )?;
        Ok(Self { inner, armed: None })
    }

    /// (Re)arms the timer to fire once, `ms` milliseconds from now (`mod_timer`). Does not
    /// allocate; may wait for a callback running on another CPU.
    pub fn arm(&mut self, ms: i64) {
        // Stop the old start first: dropping its handle after the new start would cancel
        // the new one (both handles stand for the same timer).
        self.armed = None;
        self.armed = Some(self.inner.clone().start(Delta::from_millis(ms)));
    }

    /// Stops the timer and waits for a running callback (`timer_delete_sync`).
    pub fn cancel(&mut self) {
        self.armed = None;
    }
}
