// SPDX-License-Identifier: GPL-2.0

//! Backend-side abstractions: mapping a frontend's ring page, binding the frontend's event
//! channel, grant copies to and from frontend pages, the guest-RX worker thread, XenStore
//! watches and the guest-RX skb backlog.
//!
//! C headers: [`include/xen/xenbus.h`](srctree/include/xen/xenbus.h),
//! [`include/xen/grant_table.h`](srctree/include/xen/grant_table.h); glue in
//! `backend_helpers.c`.

use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{fence, Ordering};

use kernel::error::to_result;
use kernel::prelude::*;
use kernel::sync::Arc;

use super::bindings;
use super::evtchn::{EventHandler, IrqBinding};
use super::net::SkBuff;
use super::protocol::ring::{header as sring, need_notify};
use super::sring::RingPage;
use super::xenbus::Device;

impl<T: EventHandler> IrqBinding<T> {
    /// Binds the frontend's `remote_port` of `dev` to a local port and that to
    /// `ctx.handle_event()` under the IRQ name `name` (backend side).
    pub fn new_interdomain(
        dev: &Device,
        remote_port: u32,
        name: &CStr,
        ctx: Arc<T>,
    ) -> Result<Self> {
        // SAFETY: `dev` is a live xenbus device (the caller's reference).
        unsafe { Self::bind(dev.as_raw(), remote_port, name, ctx) }
    }
}

/// A frontend's ring page mapped into this domain (`xenbus_map_ring_valloc`).
///
/// # Invariants
///
/// `page` is a page-sized mapping made by `xenbus_map_ring_valloc` for the xenbus device
/// `dev`, which outlives the ring (rings are dropped before the device's remove returns).
pub struct BackRing<const SLOT: usize, const SIZE: u32> {
    page: RingPage<SLOT, SIZE>,
    dev: *mut bindings::xenbus_device,
}

// SAFETY: The mapping is a page pointer; all accesses are volatile copies and callers
// serialise producers and consumers with their own locks.
unsafe impl<const SLOT: usize, const SIZE: u32> Send for BackRing<SLOT, SIZE> {}
// SAFETY: As above; `&BackRing` only permits volatile word and slot copies.
unsafe impl<const SLOT: usize, const SIZE: u32> Sync for BackRing<SLOT, SIZE> {}

impl<const SLOT: usize, const SIZE: u32> BackRing<SLOT, SIZE> {
    /// Maps the ring page the frontend of `dev` granted as `gref`.
    pub fn map(dev: &Device, gref: u32) -> Result<Self> {
        let mut refs = [gref];
        let mut vaddr: *mut c_void = core::ptr::null_mut();
        // SAFETY: `dev` is a live xenbus device; `refs` holds one reference and `vaddr` is
        // a valid out parameter.
        to_result(unsafe {
            bindings::xenbus_map_ring_valloc(dev.as_raw(), refs.as_mut_ptr(), 1, &mut vaddr)
        })?;
        // SAFETY: The mapping succeeded; it is undone only in `drop`.
        let page = unsafe { RingPage::new(vaddr) };
        // INVARIANT: the caller drops the ring before the device goes.
        Ok(Self {
            page,
            dev: dev.as_raw(),
        })
    }

    /// The frontend's request producer, read once; later slot reads are ordered after it.
    pub fn req_prod(&self) -> u32 {
        let v = self.page.read_word(sring::REQ_PROD);
        fence(Ordering::Acquire);
        v
    }

    /// The response producer as the shared page holds it (for the attach check).
    pub fn shared_rsp_prod(&self) -> u32 {
        self.page.read_word(sring::RSP_PROD)
    }

    /// Publishes responses up to `new_prod` (exclusive); tells whether the frontend asked
    /// to be notified about them.
    pub fn push_responses(&self, new_prod: u32) -> bool {
        let old = self.page.read_word(sring::RSP_PROD);
        // Slots before index.
        fence(Ordering::Release);
        self.page.write_word(sring::RSP_PROD, new_prod);
        // Index before reading the peer's event pointer.
        fence(Ordering::SeqCst);
        need_notify(old, new_prod, self.page.read_word(sring::RSP_EVENT))
    }

    /// Asks for an event when the request producer passes `event - 1`, then re-reads the
    /// producer, so requests published meanwhile are not missed.
    pub fn request_event_at(&self, event: u32) -> u32 {
        self.page.write_word(sring::REQ_EVENT, event);
        fence(Ordering::SeqCst);
        self.req_prod()
    }

    /// Copies slot `idx` (free-running index) out of the page.
    pub fn read_slot(&self, idx: u32) -> [u8; SLOT] {
        self.page.read_slot(idx)
    }

    /// Writes slot `idx` (free-running index) into the page.
    pub fn write_slot(&self, idx: u32, bytes: &[u8; SLOT]) {
        self.page.write_slot(idx, bytes)
    }
}

impl<const SLOT: usize, const SIZE: u32> Drop for BackRing<SLOT, SIZE> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the page was mapped for `dev`, which is still live.
        let err = unsafe { bindings::xenbus_unmap_ring_vfree(self.dev, self.page.vaddr()) };
        if err != 0 {
            // The page stays mapped (leaked) rather than freed while in use.
            pr_err!("xen-netif: unmapping a ring failed ({err}); page leaked\n");
        }
    }
}

/// One grant copy between a local frame and a frontend grant (`struct gnttab_copy`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CopyOp {
    /// Local guest frame number.
    pub local_gfn: u64,
    /// The frontend's grant reference.
    pub foreign_ref: u32,
    /// Offset in the local frame.
    pub local_off: u16,
    /// Offset in the frontend's page.
    pub foreign_off: u16,
    /// Bytes to copy.
    pub len: u16,
    /// 1: local to frontend (guest RX); 0: frontend to local (guest TX).
    pub to_foreign: u8,
    /// Result (`GNTST_*`, 0 = okay), set by [`GrantCopier::run`].
    pub status: i16,
}

/// Scratch space for batches of grant copies (`gnttab_batch_copy`).
///
/// # Invariants
///
/// `raw` holds `max` `struct gnttab_copy`.
pub struct GrantCopier {
    raw: KVec<bindings::gnttab_copy>,
    max: usize,
}

impl GrantCopier {
    /// Allocates room for `max` copies per hypercall; `max` must not be 0 (`EINVAL`).
    pub fn new(max: usize) -> Result<Self> {
        if max == 0 {
            return Err(EINVAL);
        }
        // Zeroed, like the `kcalloc` this replaces.
        let raw = KVec::from_elem(bindings::gnttab_copy::default(), max, GFP_KERNEL)?;
        Ok(Self { raw, max })
    }

    /// Runs `ops` with domain `domid` (in hypercalls of at most `max` ops) and sets each
    /// op's `status`.
    pub fn run(&mut self, domid: u16, ops: &mut [CopyOp]) {
        for batch in ops.chunks_mut(self.max) {
            Self::copy(&mut self.raw[..batch.len()], domid, batch);
        }
    }

    /// Fills `g` from `ops` (same length), runs the copies and sets each op's `status`.
    fn copy(g: &mut [bindings::gnttab_copy], domid: u16, ops: &mut [CopyOp]) {
        for (g, op) in g.iter_mut().zip(ops.iter()) {
            // SAFETY: `g` is a valid, exclusive `struct gnttab_copy`; all of its fields are
            // integers, for which all-zero bytes are valid. This clears the padding and the
            // upper bytes of the `u` union as well, like a `memset`.
            unsafe { core::ptr::write_bytes(core::ptr::from_mut(g), 0, 1) };
            let (local, foreign) = if op.to_foreign != 0 {
                g.flags = bindings::GNTCOPY_dest_gref as u16;
                (&mut g.source, &mut g.dest)
            } else {
                g.flags = bindings::GNTCOPY_source_gref as u16;
                (&mut g.dest, &mut g.source)
            };
            local.u.gmfn = op.local_gfn as bindings::xen_pfn_t;
            local.domid = bindings::DOMID_SELF as bindings::domid_t;
            local.offset = op.local_off;
            foreign.u.ref_ = op.foreign_ref;
            foreign.domid = domid;
            foreign.offset = op.foreign_off;
            g.len = op.len;
        }
        if !g.is_empty() {
            // SAFETY: `g` is an exclusive array of `g.len()` initialised `struct
            // gnttab_copy`; `gnttab_batch_copy` issues the copy hypercall on it (retrying
            // ops that got `GNTST_eagain`) and writes the ops' `status`. The hypercall also
            // reads or writes the local frames the ops name: Xen checks that each range
            // stays in one page owned by this domain, nothing more. That those frames are
            // the caller's own buffers (skb data, pages it holds) is today upheld by the
            // drivers' arithmetic, not by this type: `CopyOp` is plain data, so this safe
            // method can be asked to copy any dom0 frame. Making local ranges unforgeable
            // (handed out by skbs and pages with a lifetime) is an open soundness item of
            // the correctness issue ("`GrantCopier::run` accepts arbitrary local frames").
            unsafe { bindings::gnttab_batch_copy(g.as_mut_ptr(), g.len() as u32) };
        }
        for (g, op) in g.iter().zip(ops.iter_mut()) {
            op.status = g.status;
        }
    }
}

/// A wait point a [`WorkerThread`] sleeps on; kicking it is valid from any context.
///
/// # Invariants
///
/// `raw` came from `xnt_worker_new` and is freed (after halting any thread) in `drop`.
pub struct Waker {
    raw: NonNull<bindings::xnt_worker>,
}

// SAFETY: Kicking is an atomic store plus `wake_up`, safe from any context.
unsafe impl Send for Waker {}
// SAFETY: As above.
unsafe impl Sync for Waker {}

impl Waker {
    /// Allocates the wait point.
    pub fn new() -> Result<Self> {
        // SAFETY: Plain allocation.
        let raw = NonNull::new(unsafe { bindings::xnt_worker_new() }).ok_or(ENOMEM)?;
        Ok(Self { raw })
    }

    /// Wakes the thread running on this wait point, if any.
    pub fn kick(&self) {
        // SAFETY: By the type invariant `raw` is valid.
        unsafe { bindings::xnt_worker_kick(self.raw.as_ptr()) };
    }
}

impl Drop for Waker {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `raw` is valid; a thread still running on it holds
        // an `Arc` to the `Waker`'s owner, so none can run when this drop happens.
        unsafe { bindings::xnt_worker_free(self.raw.as_ptr()) };
    }
}

/// The work of a [`WorkerThread`].
pub trait WorkerFn: Send + Sync + 'static {
    /// The wait point the thread sleeps on (owned by `self`).
    fn waker(&self) -> &Waker;
    /// Does the pending work; returns how long to sleep at most before the next call, in
    /// milliseconds (0: until kicked).
    fn run(&self) -> u32;
}

/// A kernel thread calling `T::run` whenever its [`Waker`] is kicked. Dropping it stops the
/// thread (waiting for a running `run` to return).
///
/// # Invariants
///
/// The thread runs on `ctx.waker()` with `Arc::as_ptr(&ctx)` as its context.
pub struct WorkerThread<T: WorkerFn> {
    ctx: Arc<T>,
}

impl<T: WorkerFn> WorkerThread<T> {
    /// Starts the thread named `name` (at most 15 characters are kept).
    pub fn start(ctx: Arc<T>, name: &CStr) -> Result<Self> {
        // SAFETY: The waker is valid while `ctx` lives, and the thread is stopped in `drop`
        // before this value releases `ctx`; `name` is copied by `kthread_run`.
        to_result(unsafe {
            bindings::xnt_worker_run(
                ctx.waker().raw.as_ptr(),
                Some(worker_trampoline::<T>),
                Arc::as_ptr(&ctx).cast(),
                name.as_char_ptr(),
            )
        })?;
        Ok(Self { ctx })
    }
}

impl<T: WorkerFn> Drop for WorkerThread<T> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the thread runs on this waker; halting waits for it
        // to exit, after which `ctx` may be released.
        unsafe { bindings::xnt_worker_halt(self.ctx.waker().raw.as_ptr()) };
    }
}

/// # Safety
///
/// `ctx` is the pointer [`WorkerThread::start`] passed, kept alive by the `WorkerThread`.
unsafe extern "C" fn worker_trampoline<T: WorkerFn>(ctx: *const c_void) -> u32 {
    // SAFETY: Per the function's safety requirement `ctx` points to a live `T`.
    unsafe { &*ctx.cast::<T>() }.run()
}

/// Receives the events of a [`Watch`], in the xenwatch thread.
pub trait WatchHandler: Send + Sync + 'static {
    /// The watched node of `dev` changed (also called once right after registration).
    fn changed(&self, dev: &Device);
}

/// A XenStore watch on `<dir>/<node>`; unregistered on drop (waiting for a running
/// callback, unless dropped from the xenwatch thread itself).
///
/// The watch must be dropped before its device is removed: keep it in the device's data
/// (which the xenbus core drops in `remove`) and drop it at the latest there.
///
/// # Invariants
///
/// `raw` came from `xnt_watch_new` with `Arc::as_ptr(&_ctx)` as its context.
pub struct Watch<T: WatchHandler> {
    raw: NonNull<bindings::xnt_watch>,
    _ctx: Arc<T>,
}

// SAFETY: The watch is owned; unregistering is thread-safe.
unsafe impl<T: WatchHandler> Send for Watch<T> {}
// SAFETY: `&Watch` allows nothing.
unsafe impl<T: WatchHandler> Sync for Watch<T> {}

impl<T: WatchHandler> Watch<T> {
    /// Registers a watch on `dir/node` for `dev`.
    pub fn new(dev: &Device, dir: &CStr, node: &CStr, ctx: Arc<T>) -> Result<Self> {
        let mut err = 0;
        // SAFETY: `dev` is live; the strings are NUL-terminated (the path is copied); the
        // context stays valid while the watch exists because the watch keeps `ctx`.
        let raw = unsafe {
            bindings::xnt_watch_new(
                dev.as_raw(),
                dir.as_char_ptr(),
                node.as_char_ptr(),
                Some(watch_trampoline::<T>),
                Arc::as_ptr(&ctx).cast(),
                &mut err,
            )
        };
        let raw = NonNull::new(raw).ok_or_else(|| Error::from_errno(err))?;
        Ok(Self { raw, _ctx: ctx })
    }
}

impl<T: WatchHandler> Drop for Watch<T> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `raw` is a registered watch; unregistering waits for
        // running callbacks, after which `_ctx` may go.
        unsafe { bindings::xnt_watch_free(self.raw.as_ptr()) };
    }
}

/// # Safety
///
/// `ctx` is the pointer [`Watch::new`] passed, kept alive by the `Watch`.
unsafe extern "C" fn watch_trampoline<T: WatchHandler>(
    ctx: *const c_void,
    dev: *mut bindings::xenbus_device,
) {
    // SAFETY: Per the function's safety requirement `ctx` points to a live `T`.
    let handler = unsafe { &*ctx.cast::<T>() };
    // SAFETY: The watch belongs to `dev`, which is live while the watch is registered.
    let dev = unsafe { Device::from_raw(dev) };
    handler.changed(dev)
}

/// A guest-RX backlog: skbs waiting for frontend buffers, each with an expiry time, and
/// their total length. All operations take the queue's IRQ-safe lock.
///
/// # Invariants
///
/// `raw` came from `xnt_skbq_new` and is freed (with the skbs it holds) in `drop`.
pub struct SkbQueue {
    raw: NonNull<bindings::xnt_skbq>,
}

// SAFETY: The queue has its own lock.
unsafe impl Send for SkbQueue {}
// SAFETY: As above.
unsafe impl Sync for SkbQueue {}

impl SkbQueue {
    /// An empty backlog.
    pub fn new() -> Result<Self> {
        // SAFETY: Plain allocation.
        let raw = NonNull::new(unsafe { bindings::xnt_skbq_new() }).ok_or(ENOMEM)?;
        Ok(Self { raw })
    }

    /// Appends `skb`, to be dropped if still queued after `drain_ms`; returns the
    /// backlog's bytes after it.
    pub fn push(&self, skb: SkBuff, drain_ms: u32) -> u64 {
        // SAFETY: Valid queue; the queue takes over the skb reference.
        unsafe { bindings::xnt_skbq_push(self.raw.as_ptr(), skb.into_raw(), drain_ms) }
    }

    /// Takes the head packet.
    pub fn pop(&self) -> Option<SkBuff> {
        // SAFETY: Valid queue; a returned skb's reference is ours.
        let p = unsafe { bindings::xnt_skbq_pop(self.raw.as_ptr()) };
        // SAFETY: A non-null skb popped from the queue is valid and its reference ours.
        NonNull::new(p).map(|p| unsafe { SkBuff::from_raw(p) })
    }

    /// Length and GSO-ness of the head packet.
    pub fn peek(&self) -> Option<(u32, bool)> {
        let (mut len, mut gso) = (0u32, false);
        // SAFETY: Valid queue; valid out parameters.
        unsafe { bindings::xnt_skbq_peek(self.raw.as_ptr(), &mut len, &mut gso) }
            .then_some((len, gso))
    }

    /// Frees head packets whose time ran out; returns how many.
    pub fn drop_expired(&self) -> u32 {
        // SAFETY: Valid queue.
        unsafe { bindings::xnt_skbq_drop_expired(self.raw.as_ptr()) }
    }

    /// Bytes queued.
    pub fn bytes(&self) -> u64 {
        // SAFETY: Valid queue.
        unsafe { bindings::xnt_skbq_bytes(self.raw.as_ptr()) }
    }

    /// Frees every queued packet.
    pub fn purge(&self) {
        // SAFETY: Valid queue.
        unsafe { bindings::xnt_skbq_purge(self.raw.as_ptr()) }
    }
}

impl Drop for SkbQueue {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `raw` came from `xnt_skbq_new`.
        unsafe { bindings::xnt_skbq_free(self.raw.as_ptr()) };
    }
}

/// Milliseconds of the jiffies clock, for coarse timeouts.
pub fn now_ms() -> u64 {
    // SAFETY: Reads the jiffies counter.
    unsafe { bindings::xnt_jiffies_ms() }
}
