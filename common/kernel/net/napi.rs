// SPDX-License-Identifier: GPL-2.0

//! NAPI contexts: the owned [`Napi`], its [`NapiPoller`], and the [`NapiRef`] handle.

use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::prelude::*;
use kernel::sync::Arc;

use super::super::bindings;
use super::super::sync::BhDisabled;
use super::{NetDevice, NetDriver, SkBuff};

/// Polls for a NAPI context (softirq context).
pub trait NapiPoller: Send + Sync + 'static {
    /// Does up to `budget` units of work and returns how many were done; when less than
    /// the budget, it must have completed the context with [`NapiRef::complete_done`].
    /// Runs with bottom halves off (`bh`): in the `NET_RX` softirq, a threaded or
    /// busy-polling NAPI's `local_bh_disable` section, or netpoll with hard IRQs off.
    fn poll(&self, napi: NapiRef, budget: i32, bh: &BhDisabled) -> i32;
}

/// An owned NAPI context on a [`NetDevice`], deleted on drop.
///
/// # Invariants
///
/// `ptr` came from `xnt_napi_new`; when `ctx` is set the glue's context pointer is
/// `Arc::as_ptr(ctx)`.
pub struct Napi<P: NapiPoller> {
    ptr: NonNull<bindings::napi_struct>,
    ctx: Option<Arc<P>>,
}

// SAFETY: Owned; the NAPI core synchronises polling.
unsafe impl<P: NapiPoller> Send for Napi<P> {}
// SAFETY: `&Napi` only hands out `NapiRef`.
unsafe impl<P: NapiPoller> Sync for Napi<P> {}

impl<P: NapiPoller> Napi<P> {
    /// Adds a NAPI context to `dev`; it polls nothing until [`Self::attach`].
    pub fn new<T: NetDriver>(dev: &NetDevice<T>) -> Result<Self> {
        // SAFETY: `dev` is a valid device that outlives this context (its owner deletes
        // NAPI contexts before freeing it).
        let p = unsafe { bindings::xnt_napi_new(dev.ptr.as_ptr(), Some(napi_trampoline::<P>)) };
        Ok(Self {
            ptr: NonNull::new(p).ok_or(ENOMEM)?,
            ctx: None,
        })
    }

    /// Sets the poller.
    pub fn attach(&mut self, ctx: Arc<P>) {
        // SAFETY: Valid context; the pointer stays valid while `self` holds the `Arc`.
        unsafe { bindings::xnt_napi_set_ctx(self.ptr.as_ptr(), Arc::as_ptr(&ctx).cast()) };
        self.ctx = Some(ctx);
    }

    /// A handle for scheduling and receiving.
    pub fn handle(&self) -> NapiRef {
        NapiRef {
            ptr: self.ptr,
            _p: PhantomData,
        }
    }
}

impl<P: NapiPoller> Drop for Napi<P> {
    fn drop(&mut self) {
        // SAFETY: Valid context, deleted once; `netif_napi_del` waits for a running poll.
        unsafe { bindings::xnt_napi_delete(self.ptr.as_ptr()) };
    }
}

/// A copyable handle for a [`Napi`]; must not be used after the `Napi` was dropped.
#[derive(Clone, Copy)]
pub struct NapiRef {
    ptr: NonNull<bindings::napi_struct>,
    _p: PhantomData<*const ()>,
}

// SAFETY: NAPI operations are callable from any context the NAPI core allows.
unsafe impl Send for NapiRef {}
// SAFETY: As above.
unsafe impl Sync for NapiRef {}

impl NapiRef {
    /// `napi_enable`.
    pub fn enable(self) {
        // SAFETY: Valid context (type documentation).
        unsafe { bindings::xnt_napi_enable(self.ptr.as_ptr()) };
    }

    /// `napi_disable`: waits for a running poll.
    pub fn disable(self) {
        // SAFETY: Valid context.
        unsafe { bindings::xnt_napi_disable(self.ptr.as_ptr()) };
    }

    /// `napi_schedule`.
    pub fn schedule(self) {
        // SAFETY: Valid context.
        unsafe { bindings::xnt_napi_schedule(self.ptr.as_ptr()) };
    }

    /// Schedules the context `ms` milliseconds from now, from its own timer (`mod_timer`;
    /// a later call moves the expiry). The timer is part of the context: deleting the
    /// [`Napi`] stops it first (`timer_delete_sync`), so it never outlives the context.
    /// Any context.
    pub fn schedule_after(self, ms: u32) {
        // SAFETY: Valid context (type documentation); the timer was set up with it.
        unsafe { bindings::xnt_napi_schedule_after(self.ptr.as_ptr(), ms) };
    }

    /// Stops the timer of [`NapiRef::schedule_after`] and waits for a running expiry
    /// (`timer_delete_sync`; the expiry takes no lock, it only calls `napi_schedule`).
    /// Process context.
    pub fn cancel_timer(self) {
        // SAFETY: Valid context (type documentation); the timer was set up with it.
        unsafe { bindings::xnt_napi_cancel_timer(self.ptr.as_ptr()) };
    }

    /// `napi_complete_done`; `false` if the context must keep polling.
    pub fn complete_done(self, work: i32) -> bool {
        // SAFETY: Valid context, called from its poll function.
        unsafe { bindings::xnt_napi_complete_done(self.ptr.as_ptr(), work) }
    }

    /// Allocates a receive skb with `len` bytes of linear room.
    pub fn alloc_skb(self, len: u32) -> Option<SkBuff> {
        // SAFETY: Valid context, called from its poll function.
        NonNull::new(unsafe { bindings::xnt_napi_alloc_skb(self.ptr.as_ptr(), len) }).map(SkBuff)
    }

    /// Hands a received packet to GRO and the stack.
    pub fn gro_receive(self, skb: SkBuff) {
        let skb = core::mem::ManuallyDrop::new(skb);
        // SAFETY: Valid context; the stack takes over our skb reference.
        unsafe { bindings::xnt_napi_gro_receive(self.ptr.as_ptr(), skb.raw()) };
    }
}

/// # Safety
///
/// `ctx` is the pointer set by [`Napi::attach`]; the `Napi` keeps it alive while polls run.
unsafe extern "C" fn napi_trampoline<P: NapiPoller>(
    ctx: *const c_void,
    napi: *mut bindings::napi_struct,
    budget: i32,
) -> i32 {
    // SAFETY: Per the safety requirement `ctx` points to a live `P`.
    let poller = unsafe { &*ctx.cast::<P>() };
    let Some(ptr) = NonNull::new(napi) else {
        return 0;
    };
    // SAFETY: NAPI polls run in the `NET_RX` softirq, in `local_bh_disable` sections
    // (threaded NAPI, busy polling) or under netpoll with hard IRQs off, never in hard-IRQ
    // context; the token does not outlive this call.
    let bh = unsafe { BhDisabled::assume() };
    poller.poll(
        NapiRef {
            ptr,
            _p: PhantomData,
        },
        budget,
        bh,
    )
}
