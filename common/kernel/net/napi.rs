// SPDX-License-Identifier: GPL-2.0

//! NAPI contexts: the owned [`Napi`] (attached once, from a [`NapiBuilder`]), its
//! [`NapiPoller`], the poll-scoped [`NapiPoll`] token and the shared [`NapiHandle`].
//!
//! # Lifetimes
//!
//! The boxed [`NapiRaw`] (the `napi_struct`, the refill timer and the poller's context
//! pointer) is reference counted (`NapiInner` in an [`Arc`]) and freed only when the last
//! reference goes, so no handle can reach freed memory. Before
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
//! callback `napi_poll::<P>` creates and which cannot leave the poll (borrowed, neither `Send` nor
//! `Clone`; `complete_done` consumes it).
//!
//! C header: [`include/linux/netdevice.h`](srctree/include/linux/netdevice.h)

use core::ffi::{c_int, c_void};
use core::marker::PhantomData;
use core::mem::offset_of;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use kernel::prelude::*;
use kernel::sync::{new_mutex, static_lock_class, Arc, Mutex};
use kernel::time::msecs_to_jiffies;
use kernel::types::Opaque;

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

/// The C side of a NAPI context, boxed at a fixed address: what the NAPI core and the
/// timer callbacks reach (through `container_of!`).
#[repr(C)]
struct NapiRaw {
    napi: Opaque<bindings::napi_struct>,
    /// Schedules the context later (netfront's `rx_refill_timer`); dies with it.
    timer: Opaque<bindings::timer_list>,
    /// The poller, a `P` of the [`Napi<P>`]; null until [`NapiBuilder::attach`].
    ctx: AtomicPtr<c_void>,
}

impl NapiRaw {
    /// Allocates a context, sets its timer up and adds it to `dev`, disabled, with
    /// [`napi_poll::<P>`] as poll function. Process context.
    ///
    /// # Safety
    ///
    /// `dev` is a live, allocated device that deletes the context (see [`Self::delete`])
    /// before it is freed.
    unsafe fn new<P: NapiPoller>(dev: *mut bindings::net_device) -> Result<NonNull<Self>> {
        let raw = KBox::new(
            NapiRaw {
                napi: Opaque::zeroed(),
                timer: Opaque::zeroed(),
                ctx: AtomicPtr::new(ptr::null_mut()),
            },
            GFP_KERNEL,
        )?;
        let raw = NonNull::from(KBox::leak(raw));
        // SAFETY: `raw` is a fresh allocation that stays put until `free`; the timer is
        // zeroed and not set up yet (`timer_setup` expands to this call, with a static
        // lockdep class).
        unsafe {
            bindings::timer_init_key(
                Self::timer(raw),
                Some(napi_timer_fn),
                0,
                c"&n->timer".as_char_ptr(),
                static_lock_class!().as_ptr(),
            )
        };
        // SAFETY: `dev` is live (the caller's requirement); the zeroed `napi_struct` is
        // not on any list, and stays put until `free`, which runs only after `delete`.
        unsafe { bindings::xnt_netif_napi_add(dev, Self::napi(raw), Some(napi_poll::<P>)) };
        Ok(raw)
    }

    /// The address of the `napi_struct` of `raw` (pointer arithmetic only, so sound for
    /// any pointer; `Opaque` is `repr(transparent)`).
    fn napi(raw: NonNull<Self>) -> *mut bindings::napi_struct {
        raw.as_ptr()
            .wrapping_byte_add(offset_of!(Self, napi))
            .cast()
    }

    /// The address of the `timer_list` of `raw` (as [`Self::napi`]).
    fn timer(raw: NonNull<Self>) -> *mut bindings::timer_list {
        raw.as_ptr()
            .wrapping_byte_add(offset_of!(Self, timer))
            .cast()
    }

    /// Deletes the context: shuts the timer down and removes the context from its device.
    ///
    /// # Safety
    ///
    /// `raw` came from [`Self::new`] and was not deleted yet; its device is still
    /// allocated and the context disabled. Process context.
    unsafe fn delete(raw: NonNull<Self>) {
        // SAFETY: The timer was set up in `new`. The timer first (it schedules this
        // context), for good: `mod_timer` does nothing after `timer_shutdown_sync`, which
        // also waits for a running expiry.
        unsafe { bindings::timer_shutdown_sync(Self::timer(raw)) };
        // SAFETY: The context is on its live device's list and disabled (the caller's
        // requirement).
        unsafe { bindings::xnt_netif_napi_del(Self::napi(raw)) };
    }

    /// Frees the allocation.
    ///
    /// # Safety
    ///
    /// `raw` came from [`Self::new`], was deleted, and nothing uses it any more.
    unsafe fn free(raw: NonNull<Self>) {
        // SAFETY: `raw` came from `KBox::leak` in `new`; off the device's list, timer
        // shut down, unused (the caller's requirement). `kfree` is fine in any context.
        drop(unsafe { KBox::from_raw(raw.as_ptr()) });
    }
}

/// The shared part of a NAPI context: the boxed [`NapiRaw`] and its state.
///
/// # Invariants
///
/// `ptr` came from [`NapiRaw::new`] and is freed only in `drop`, and only if `deleted` is
/// set. `state` is the context's [`NapiState`]; while it is not `Deleted` the context is on
/// its device's list and the device is allocated: [`NetDevice`] deletes the contexts added
/// to it (through this mutex) before freeing the device. `deleted` is set, under the mutex,
/// exactly when `state` becomes `Deleted`.
#[pin_data(PinnedDrop)]
pub(super) struct NapiInner {
    ptr: NonNull<NapiRaw>,
    #[pin]
    state: Mutex<NapiState>,
    deleted: AtomicBool,
}

// SAFETY: The `NapiRaw` is reached only through the NAPI and timer API, which synchronise
// themselves (atomic state bits, the timer base lock) for the operations any context may
// call (schedule, timer), and its atomic `ctx`; enable, disable and delete are serialised
// by `state`.
unsafe impl Send for NapiInner {}
// SAFETY: As above.
unsafe impl Sync for NapiInner {}

impl NapiInner {
    /// The context's `napi_struct`.
    fn napi(&self) -> *mut bindings::napi_struct {
        NapiRaw::napi(self.ptr)
    }

    /// `napi_enable` if the context is disabled (not enabled, not deleted). Process context.
    fn enable(&self) {
        let mut st = self.state.lock();
        if *st == NapiState::Disabled {
            // SAFETY: `ptr` is valid (type invariant). Not deleted, so the device is
            // allocated and stays so while we hold `state` (deletion takes it before the
            // device is freed). The context is disabled, as `napi_enable` requires; it
            // takes the device's instance lock and may sleep (process context, no spinlock
            // held: `state` is a mutex).
            unsafe { bindings::napi_enable(self.napi()) };
            *st = NapiState::Enabled;
        }
    }

    /// `napi_disable` if the context is enabled: waits for a running poll. Process context.
    fn disable(&self) {
        let mut st = self.state.lock();
        if *st == NapiState::Enabled {
            // SAFETY: As in `enable`; the context is enabled, so this is not a second
            // `napi_disable` (which would wait forever for `NAPI_STATE_SCHED` to clear).
            unsafe { bindings::napi_disable(self.napi()) };
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
                unsafe { bindings::napi_disable(self.napi()) };
            }
            NapiState::Disabled => {}
        }
        // SAFETY: `ptr` came from `NapiRaw::new`, the device is allocated (as in
        // `enable`), the context disabled and not deleted yet; no poll runs any more
        // (`napi_disable` waited for it and `NAPI_STATE_SCHED` stays set), so the
        // poller's context may go after this.
        unsafe { NapiRaw::delete(self.ptr) };
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
            // and this is the last reference, so nothing uses `ptr` any more.
            unsafe { NapiRaw::free(self.ptr) };
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
/// [`NapiBuilder`]) the [`NapiRaw`]'s `ctx` is `Arc::as_ptr(ctx)`, and it stays set
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
        let ptr = unsafe { NapiRaw::new::<P>(dev.ptr.as_ptr()) }?;
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
                    NapiRaw::delete(ptr);
                    NapiRaw::free(ptr);
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
        // SAFETY: `ptr` is live while the `Arc` is held (`NapiInner` invariant).
        let raw = unsafe { napi.inner.ptr.as_ref() };
        // Release: pairs with the acquire in `napi_poll`, so a poll that sees the pointer
        // sees the poller initialised. It stays valid while polls can run: the `Napi`
        // keeps the `Arc` until its drop deleted the context, and is never re-attached.
        raw.ctx
            .store(Arc::as_ptr(&ctx).cast_mut().cast(), Ordering::Release);
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
        // live device with its poller attached or `napi_poll`'s null-context check.
        // `xnt_napi_schedule` disables bottom halves around it in process context.
        unsafe { bindings::xnt_napi_schedule(self.0.napi()) };
    }

    /// Schedules the context `ms` milliseconds from now, from its own timer (`mod_timer`;
    /// a later call moves the expiry). The timer is part of the context: deleting the
    /// context shuts it down first (`timer_shutdown_sync`), after which this does nothing.
    /// Any context.
    pub fn schedule_after(&self, ms: u32) {
        // SAFETY: `jiffies` is the kernel's tick counter, always readable; `volatile` in
        // C, so read as such.
        let now = unsafe { ptr::read_volatile(&raw const bindings::jiffies) };
        // SAFETY: `ptr` is valid while the `Arc` is held; the timer was set up with the
        // context and `mod_timer` on a shut-down timer is silently ignored. The expiry only
        // calls `napi_schedule` (see `schedule`).
        unsafe {
            bindings::mod_timer(
                NapiRaw::timer(self.0.ptr),
                now.wrapping_add(msecs_to_jiffies(ms)),
            )
        };
    }

    /// Stops the timer of [`NapiHandle::schedule_after`] and waits for a running expiry
    /// (`timer_delete_sync`; the expiry takes no lock, it only calls `napi_schedule`).
    /// Process context.
    pub fn cancel_timer(&self) {
        // SAFETY: `ptr` is valid while the `Arc` is held; the timer was set up with the
        // context (`timer_delete_sync` on a shut-down timer returns at once).
        unsafe { bindings::timer_delete_sync(NapiRaw::timer(self.0.ptr)) };
    }
}

/// The operations valid only inside one poll of a NAPI context: created by the poll
/// callback `napi_poll::<P>` for one [`NapiPoller::poll`] call and unable to leave it (it
/// borrows the call, is neither `Send` nor `Clone`, and [`NapiPoll::complete_done`] consumes
/// it, as the context may be polled elsewhere once it completed).
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

/// The poll function of a context made by [`NapiRaw::new::<P>`] (NAPI poll context).
///
/// # Safety
///
/// `napi` is the `napi` field of a live [`NapiRaw`] from `NapiRaw::new::<P>`, being
/// polled; its `ctx` is null or the `P` set by [`NapiBuilder::attach`], which the `Napi`
/// keeps alive while polls can run (it deletes the context before releasing it).
unsafe extern "C" fn napi_poll<P: NapiPoller>(
    napi: *mut bindings::napi_struct,
    budget: c_int,
) -> c_int {
    let Some(ptr) = NonNull::new(napi) else {
        return 0;
    };
    // SAFETY: Per the safety requirement `napi` is the `napi` field of a live `NapiRaw`
    // (`Opaque` is `repr(transparent)`).
    let raw = unsafe {
        kernel::container_of!(napi.cast::<Opaque<bindings::napi_struct>>(), NapiRaw, napi)
    };
    // SAFETY: `raw` is live (see above). Acquire: pairs with the release in `attach`.
    let ctx = unsafe { (*raw).ctx.load(Ordering::Acquire) };
    if ctx.is_null() {
        // Enabled before `attach`: completes at once with no work.
        // SAFETY: The context is being polled by us (the safety requirement).
        unsafe { bindings::napi_complete_done(napi, 0) };
        return 0;
    }
    // SAFETY: Per the safety requirement a non-null `ctx` points to a live `P`.
    let poller = unsafe { &*ctx.cast_const().cast::<P>() };
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

/// The expiry of a [`NapiRaw`]'s timer (timer softirq): schedules the context.
///
/// # Safety
///
/// `timer` is the `timer` field of a live [`NapiRaw`], set up by [`NapiRaw::new`]; the
/// allocation is freed only after `timer_shutdown_sync` waited for this expiry.
unsafe extern "C" fn napi_timer_fn(timer: *mut bindings::timer_list) {
    // SAFETY: Per the safety requirement `timer` is the `timer` field of a live `NapiRaw`
    // (`Opaque` is `repr(transparent)`).
    let raw = unsafe {
        kernel::container_of!(timer.cast::<Opaque<bindings::timer_list>>(), NapiRaw, timer)
    };
    let napi = raw.wrapping_byte_add(offset_of!(NapiRaw, napi)).cast();
    // SAFETY: `napi` is the live `NapiRaw`'s context: it was added before the timer could
    // be armed (`mod_timer` needs a `NapiHandle`) and is deleted only after the timer was
    // shut down. Not in task context, so this is `napi_schedule` (see
    // `NapiHandle::schedule`).
    unsafe { bindings::xnt_napi_schedule(napi) };
}
