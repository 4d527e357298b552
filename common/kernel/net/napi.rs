// SPDX-License-Identifier: GPL-2.0

//! NAPI contexts: the owned [`Napi`] (attached once, from a [`NapiBuilder`]), its
//! [`NapiPoller`], the poll-scoped [`NapiPoll`] token and the shared [`NapiHandle`].
//!
//! # Lifetimes
//!
//! The glue's `struct xnt_napi` (the `napi_struct`, the poller's context pointer and the
//! refill timer) is reference counted on the Rust side (`NapiInner` in an [`Arc`]) and
//! freed only when the last reference goes, so no handle can reach freed memory. Before
//! that, the context is *deleted* once, by whichever comes first: dropping its [`Napi`] (or
//! a [`NapiBuilder`] never attached), or dropping the [`NetDevice`] it was added to (which
//! deletes its remaining contexts first, before unregistering and freeing the device).
//! Deleting disables the context if it is enabled (waiting for a running poll), shuts its
//! timer down (`timer_shutdown_sync`: a later `mod_timer` does nothing) and removes it from
//! the device (`netif_napi_del`). After that, every [`NapiHandle`] operation is a no-op:
//! scheduling a disabled context only sets its `MISSED` bit (`NAPI_STATE_SCHED` stays set
//! once `napi_disable` set it), and enable / disable look at the state first, under the
//! mutex deletion holds while the device is still allocated.
//!
//! The operations that are valid only inside the context's own poll (`napi_complete_done`,
//! `napi_alloc_skb`, `napi_gro_receive`) are on [`NapiPoll`], which only the poll
//! trampoline creates and which cannot leave the poll (borrowed, neither `Send` nor
//! `Clone`; `complete_done` consumes it).
//!
//! C header: [`include/linux/netdevice.h`](srctree/include/linux/netdevice.h)

use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

use kernel::prelude::*;
use kernel::sync::{new_mutex, Arc, Mutex};

use super::super::bindings;
use super::super::sync::BhDisabled;
use super::{NetDevice, NetDriver, SkBuff};

/// Polls for a NAPI context (softirq context).
pub trait NapiPoller: Send + Sync + 'static {
    /// Does up to `budget` units of work and returns how many were done; when less than
    /// the budget, it must have completed the context with [`NapiPoll::complete_done`].
    /// Runs with bottom halves off (`bh`): in the `NET_RX` softirq, a threaded or
    /// busy-polling NAPI's `local_bh_disable` section, or netpoll with hard IRQs off.
    fn poll(&self, napi: NapiPoll<'_>, budget: i32, bh: &BhDisabled) -> i32;
}

/// Where a NAPI context is in its life; see the [module documentation](self).
#[derive(Clone, Copy, PartialEq, Eq)]
enum NapiState {
    /// Added to its device, not enabled (as `netif_napi_add` leaves it, or after
    /// `napi_disable`): `NAPI_STATE_SCHED` is set, nothing polls it.
    Disabled,
    /// `napi_enable` ran; polls may run.
    Enabled,
    /// Disabled, timer shut down, `netif_napi_del` ran. Final.
    Deleted,
}

/// The shared part of a NAPI context: the glue's allocation and its state.
///
/// # Invariants
///
/// `ptr` came from `xnt_napi_new` and is freed only in `drop`, and only if `deleted` is
/// set. `state` is the context's [`NapiState`]; while it is not `Deleted` the context is on
/// its device's list and the device is allocated: [`NetDevice`] deletes the contexts added
/// to it (through this mutex) before freeing the device. `deleted` is set, under the mutex,
/// exactly when `state` becomes `Deleted`.
#[pin_data(PinnedDrop)]
pub(super) struct NapiInner {
    ptr: NonNull<bindings::napi_struct>,
    #[pin]
    state: Mutex<NapiState>,
    deleted: AtomicBool,
}

// SAFETY: The `napi_struct` is reached only through the NAPI API, which synchronises itself
// (atomic state bits, the timer base lock) for the operations any context may call
// (schedule, timer); enable, disable and delete are serialised by `state`.
unsafe impl Send for NapiInner {}
// SAFETY: As above.
unsafe impl Sync for NapiInner {}

impl NapiInner {
    /// `napi_enable` if the context is disabled (not enabled, not deleted). Process context.
    fn enable(&self) {
        let mut st = self.state.lock();
        if *st == NapiState::Disabled {
            // SAFETY: `ptr` is valid (type invariant). Not deleted, so the device is
            // allocated and stays so while we hold `state` (deletion takes it before the
            // device is freed). The context is disabled, as `napi_enable` requires; it
            // takes the device's instance lock and may sleep (process context, no spinlock
            // held: `state` is a mutex).
            unsafe { bindings::napi_enable(self.ptr.as_ptr()) };
            *st = NapiState::Enabled;
        }
    }

    /// `napi_disable` if the context is enabled: waits for a running poll. Process context.
    fn disable(&self) {
        let mut st = self.state.lock();
        if *st == NapiState::Enabled {
            // SAFETY: As in `enable`; the context is enabled, so this is not a second
            // `napi_disable` (which would wait forever for `NAPI_STATE_SCHED` to clear).
            unsafe { bindings::napi_disable(self.ptr.as_ptr()) };
            *st = NapiState::Disabled;
        }
    }

    /// Deletes the context unless it is deleted already: disables it if enabled, shuts the
    /// timer down, `netif_napi_del`. Process context; the device must still be allocated
    /// (callers: [`Napi`]'s drop, before the device can be freed, see [`NetDevice`];
    /// `NetDevice`'s drop, before it frees the device).
    pub(super) fn delete(&self) {
        let mut st = self.state.lock();
        match *st {
            NapiState::Deleted => return,
            NapiState::Enabled => {
                // SAFETY: As in `disable`.
                unsafe { bindings::napi_disable(self.ptr.as_ptr()) };
            }
            NapiState::Disabled => {}
        }
        // SAFETY: `ptr` is valid, the device allocated (as in `enable`), the context
        // disabled and not deleted yet; no poll runs any more (`napi_disable` waited for
        // it and `NAPI_STATE_SCHED` stays set), so the poller's context may go after this.
        unsafe { bindings::xnt_napi_del(self.ptr.as_ptr()) };
        *st = NapiState::Deleted;
        self.deleted.store(true, Ordering::Release);
    }
}

#[pinned_drop]
impl PinnedDrop for NapiInner {
    fn drop(self: Pin<&mut Self>) {
        // The last reference: the `Napi` (or builder) and the `NetDevice` each delete the
        // context before releasing theirs, so `deleted` is set. Should it not be (it
        // cannot), leaking the context is safer than freeing a listed one.
        if self.deleted.load(Ordering::Acquire) {
            // SAFETY: Deleted (off the device's list, timer shut down, no poll running)
            // and this is the last reference, so nothing uses `ptr` any more. `kfree` is
            // fine in any context.
            unsafe { bindings::xnt_napi_free(self.ptr.as_ptr()) };
        }
    }
}

/// An owned NAPI context on a [`NetDevice`] with its poller, deleted on drop.
///
/// Made by [`NapiBuilder::attach`], which consumes the builder: the poller is set once
/// and never replaced, so a poll never sees another poller than the one it started with.
///
/// # Invariants
///
/// `inner` is on the device's list of contexts. When `ctx` is set (always, outside a
/// [`NapiBuilder`]) the glue's context pointer is `Arc::as_ptr(ctx)`, and it stays set
/// until `drop` deleted the context.
pub struct Napi<P: NapiPoller> {
    inner: Arc<NapiInner>,
    ctx: Option<Arc<P>>,
}

/// A NAPI context added to its device but without its poller yet: hands out
/// [`NapiHandle`]s (for the poller's own structure) and becomes a [`Napi`] by
/// [`NapiBuilder::attach`]. Deleted on drop if never attached.
pub struct NapiBuilder<P: NapiPoller>(Napi<P>);

impl<P: NapiPoller> Napi<P> {
    /// A handle for scheduling, enabling and disabling the context.
    pub fn handle(&self) -> NapiHandle {
        NapiHandle(self.inner.clone())
    }
}

impl<P: NapiPoller> NapiBuilder<P> {
    /// Adds a NAPI context to `dev`, disabled and without a poller. The device keeps a
    /// reference and deletes the context when it is dropped, if the `Napi` has not.
    /// Process context.
    pub fn new<T: NetDriver>(dev: &mut NetDevice<T>) -> Result<Self> {
        // SAFETY: `dev` is a valid, allocated device. It is freed only by
        // `NetDevice::drop`, which deletes this context first: it is on `dev.napis` below,
        // or deleted here on failure.
        let p = unsafe { bindings::xnt_napi_new(dev.ptr.as_ptr(), Some(napi_trampoline::<P>)) };
        let ptr = NonNull::new(p).ok_or(ENOMEM)?;
        let inner = match Arc::pin_init(
            pin_init!(NapiInner {
                ptr,
                state <- new_mutex!(NapiState::Disabled),
                deleted: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        ) {
            Ok(inner) => inner,
            Err(e) => {
                // SAFETY: `ptr` was just added to the live `dev`, never enabled, and
                // nothing else knows it: delete it and free it, once.
                unsafe {
                    bindings::xnt_napi_del(ptr.as_ptr());
                    bindings::xnt_napi_free(ptr.as_ptr());
                }
                return Err(e);
            }
        };
        // From here `Napi::drop` deletes it if the push fails.
        let napi = Napi { inner, ctx: None };
        dev.napis.push(napi.inner.clone(), GFP_KERNEL)?;
        Ok(Self(napi))
    }

    /// A handle for scheduling, enabling and disabling the context (it may be enabled
    /// before [`Self::attach`]: until then a poll completes at once with no work).
    pub fn handle(&self) -> NapiHandle {
        self.0.handle()
    }

    /// Sets the poller, once: consumes the builder.
    pub fn attach(self, ctx: Arc<P>) -> Napi<P> {
        let mut napi = self.0;
        // SAFETY: Valid context (`Napi` invariant); the glue publishes the pointer with
        // release ordering, and it stays valid while polls can run: the `Napi` keeps the
        // `Arc` until its drop deleted the context, and is never re-attached.
        unsafe { bindings::xnt_napi_set_ctx(napi.inner.ptr.as_ptr(), Arc::as_ptr(&ctx).cast()) };
        napi.ctx = Some(ctx);
        napi
    }
}

impl<P: NapiPoller> Drop for Napi<P> {
    fn drop(&mut self) {
        // Before `ctx` is released (fields drop after this): no poll runs after `delete`.
        // The device is still allocated or has deleted the context already (see
        // `NapiInner::delete`). Process context.
        self.inner.delete();
    }
}

/// A shared handle on a [`Napi`] for scheduling, enabling and disabling it.
///
/// It keeps the context's memory alive, so every operation is sound at any time; once the
/// context was deleted (its `Napi` or its device dropped) they do nothing.
#[derive(Clone)]
pub struct NapiHandle(Arc<NapiInner>);

impl NapiHandle {
    /// `napi_enable`, unless the context is enabled already or deleted.
    ///
    /// Process context only, not atomic (no spinlock held, not from an interrupt, a
    /// softirq or any NAPI poll): it takes a mutex and the device's instance lock, and may
    /// sleep. `might_sleep()` checks this (with `CONFIG_DEBUG_ATOMIC_SLEEP`).
    #[track_caller]
    pub fn enable(&self) {
        kernel::task::might_sleep();
        self.0.enable();
    }

    /// `napi_disable`, unless the context is disabled already or deleted: waits for a
    /// running poll.
    ///
    /// Process context only, not atomic (no spinlock held, not from an interrupt, a
    /// softirq or any NAPI poll): it takes a mutex and the device's instance lock, and may
    /// sleep. Called from the context's own poll it would wait for that poll to end, for
    /// ever. `might_sleep()` checks this (with `CONFIG_DEBUG_ATOMIC_SLEEP`; a poll runs
    /// with bottom halves off).
    #[track_caller]
    pub fn disable(&self) {
        kernel::task::might_sleep();
        self.0.disable();
    }

    /// `napi_schedule`. Any context (hard IRQ, softirq, timer, process); does nothing on a
    /// disabled or deleted context.
    pub fn schedule(&self) {
        // SAFETY: `ptr` is valid while the `Arc` is held (`NapiInner` invariant).
        // `napi_schedule_prep` only updates the state bits atomically; it queues the
        // context only if it was enabled and not scheduled, and an enabled context is on a
        // live device with its poller attached or the glue's null-context check.
        // `xnt_napi_schedule` disables bottom halves around it in process context.
        unsafe { bindings::xnt_napi_schedule(self.0.ptr.as_ptr()) };
    }

    /// Schedules the context `ms` milliseconds from now, from its own timer (`mod_timer`;
    /// a later call moves the expiry). The timer is part of the context: deleting the
    /// context shuts it down first (`timer_shutdown_sync`), after which this does nothing.
    /// Any context.
    pub fn schedule_after(&self, ms: u32) {
        // SAFETY: `ptr` is valid while the `Arc` is held; the timer was set up with the
        // context and `mod_timer` on a shut-down timer is silently ignored. The expiry only
        // calls `napi_schedule` (see `schedule`).
        unsafe { bindings::xnt_napi_schedule_after(self.0.ptr.as_ptr(), ms) };
    }

    /// Stops the timer of [`NapiHandle::schedule_after`] and waits for a running expiry
    /// (`timer_delete_sync`; the expiry takes no lock, it only calls `napi_schedule`).
    /// Process context.
    pub fn cancel_timer(&self) {
        // SAFETY: `ptr` is valid while the `Arc` is held; the timer was set up with the
        // context (`timer_delete_sync` on a shut-down timer returns at once).
        unsafe { bindings::xnt_napi_cancel_timer(self.0.ptr.as_ptr()) };
    }
}

/// The operations valid only inside one poll of a NAPI context: created by the poll
/// trampoline for one [`NapiPoller::poll`] call and unable to leave it (it borrows the
/// call, is neither `Send` nor `Clone`, and [`NapiPoll::complete_done`] consumes it, as
/// the context may be polled elsewhere once it completed).
///
/// # Invariants
///
/// `ptr` is the context being polled on this CPU, for `'a`.
pub struct NapiPoll<'a> {
    ptr: NonNull<bindings::napi_struct>,
    _p: PhantomData<(&'a bindings::napi_struct, *const ())>,
}

impl NapiPoll<'_> {
    /// `napi_complete_done`: ends this poll's ownership of the context; `false` if it must
    /// keep polling (the core polls it again).
    pub fn complete_done(self, work: i32) -> bool {
        // SAFETY: The context is being polled by us (type invariant), not completed yet
        // (this consumes the token).
        unsafe { bindings::napi_complete_done(self.ptr.as_ptr(), work) }
    }

    /// Allocates a receive skb with `len` bytes of linear room (`napi_alloc_skb`, from the
    /// per-CPU NAPI cache).
    pub fn alloc_skb(&self, len: u32) -> Option<SkBuff> {
        // SAFETY: In the context's poll (type invariant), with bottom halves off.
        NonNull::new(unsafe { bindings::napi_alloc_skb(self.ptr.as_ptr(), len) }).map(SkBuff)
    }

    /// Hands a received packet to GRO and the stack (`napi_gro_receive`).
    ///
    /// `EBUSY`, with the skb dropped (freed as a drop), if it is not exclusive
    /// ([`SkBuff::is_exclusive`]; a fresh skb never is): GRO may steal its fragments and
    /// free its head whatever its reference count, under another owner's feet.
    pub fn gro_receive(&self, skb: SkBuff) -> Result {
        if !skb.is_exclusive() {
            return Err(EBUSY);
        }
        let skb = core::mem::ManuallyDrop::new(skb);
        // SAFETY: In the context's poll (type invariant), which owns its GRO state; the
        // stack takes over our skb reference, the only one, to an skb whose data no clone
        // shares (checked above).
        unsafe { bindings::xnt_napi_gro_receive(self.ptr.as_ptr(), skb.raw()) };
        Ok(())
    }
}

/// # Safety
///
/// `ctx` is the pointer set by [`NapiBuilder::attach`], `napi` the context it was set on,
/// being polled; the `Napi` keeps `ctx` alive while polls can run (it deletes the context
/// before releasing it).
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
    // INVARIANT: `ptr` is being polled here, until `poll` returns (the token's lifetime).
    poller.poll(
        NapiPoll {
            ptr,
            _p: PhantomData,
        },
        budget,
        bh,
    )
}
