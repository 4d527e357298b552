// SPDX-License-Identifier: GPL-2.0

//! Backend-side abstractions: mapping a frontend's ring page, binding the frontend's event
//! channel, grant copies to and from frontend pages, the guest-RX worker thread, XenStore
//! watches and the guest-RX skb backlog.
//!
//! C headers: [`include/xen/xenbus.h`](srctree/include/xen/xenbus.h),
//! [`include/xen/grant_table.h`](srctree/include/xen/grant_table.h); glue in
//! `backend_helpers.c`.

use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

use kernel::alloc::Flags;
use kernel::error::{from_err_ptr, to_result};
use kernel::ffi::{c_char, c_int, c_long, c_ulong, c_void};
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Full, Relaxed, Release};
use kernel::sync::{new_spinlock_irq, Arc, SpinLockIrq};
use kernel::task::MAX_SCHEDULE_TIMEOUT;
use kernel::time::msecs_to_jiffies;
use kernel::types::Opaque;

use super::bindings;
use super::evtchn::{EventHandler, IrqBinding};
use super::net::skb::MAX_PUT_CHUNKS;
use super::net::{Chunk, Page, SkBuff};
use super::protocol::netif::PAGE_SIZE as XEN_PAGE_SIZE;
use super::protocol::ring::{header as sring, need_notify};
use super::sring::{virt_mb, virt_rmb, virt_wmb, RingPage};
use super::xenbus::{Device, DeviceRef};

impl<T: EventHandler> IrqBinding<T> {
    /// Binds the frontend's `remote_port` of `dev` to a local port and that to
    /// `ctx.handle_event()` under the IRQ name `name` (backend side).
    pub fn new_interdomain(
        dev: &Device,
        remote_port: u32,
        name: &CStr,
        ctx: Arc<T>,
    ) -> Result<Self> {
        // SAFETY: `dev` is a live xenbus device (the caller's reference), and the binding
        // keeps it allocated with the counted reference passed along.
        unsafe {
            Self::bind(
                dev.as_raw(),
                Some(dev.as_dev().into()),
                remote_port,
                name,
                ctx,
            )
        }
    }
}

/// A frontend's ring page mapped into this domain (`xenbus_map_ring_valloc`).
///
/// The ring holds a reference to its xenbus device, so unmapping it is sound whenever it is
/// dropped, even after the device was removed (which the drivers do not do: they drop the
/// rings on disconnect, at the latest in `remove`).
///
/// # Invariants
///
/// `page` is a page-sized mapping made by `xenbus_map_ring_valloc` for the xenbus device
/// `dev`, which `dev` keeps allocated.
pub struct BackRing<const SLOT: usize, const SIZE: u32> {
    page: RingPage<SLOT, SIZE>,
    dev: DeviceRef,
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
        // INVARIANT: mapped for `dev` above; the `DeviceRef` keeps it allocated.
        Ok(Self {
            page,
            dev: DeviceRef::new(dev),
        })
    }

    /// The frontend's request producer, read once; later slot reads are ordered after it
    /// (`req_prod = sring->req_prod; rmb();` before `RING_COPY_REQUEST` in the C
    /// netback, with the ring's `virt_rmb`).
    pub fn req_prod(&self) -> u32 {
        let v = self.page.read_word(sring::REQ_PROD);
        virt_rmb();
        v
    }

    /// The response producer as the shared page holds it (for the attach check).
    pub fn shared_rsp_prod(&self) -> u32 {
        self.page.read_word(sring::RSP_PROD)
    }

    /// Publishes responses up to `new_prod` (exclusive); tells whether the frontend asked
    /// to be notified about them (`RING_PUSH_RESPONSES_AND_CHECK_NOTIFY`).
    pub fn push_responses(&self, new_prod: u32) -> bool {
        let old = self.page.read_word(sring::RSP_PROD);
        // The frontend sees the responses before the updated producer index.
        virt_wmb();
        self.page.write_word(sring::RSP_PROD, new_prod);
        // The frontend sees the new responses before we check `rsp_event`.
        virt_mb();
        need_notify(old, new_prod, self.page.read_word(sring::RSP_EVENT))
    }

    /// Asks for an event when the request producer passes `event - 1`, then re-reads the
    /// producer, so requests published meanwhile are not missed (the event write and
    /// `virt_mb` of `RING_FINAL_CHECK_FOR_REQUESTS`, then a re-read as [`Self::req_prod`]).
    pub fn request_event_at(&self, event: u32) -> u32 {
        self.page.write_word(sring::REQ_EVENT, event);
        virt_mb();
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
        // SAFETY: By the type invariant the page was mapped for `dev`, which is allocated.
        // `xenbus_unmap_ring_vfree` finds the mapping on the xenbus core's global list of
        // mapped rings and uses the device only to report errors (`dev_err`, the `error`
        // node under its `nodename`), so an unbound device is fine.
        let err =
            unsafe { bindings::xenbus_unmap_ring_vfree(self.dev.as_raw(), self.page.vaddr()) };
        if err != 0 {
            // The page stays mapped (leaked) rather than freed while in use.
            pr_err!("xen-netif: unmapping a ring failed ({err}); page leaked\n");
        }
    }
}

/// Part of one local page that a grant copy may read: packet data the caller holds (shared)
/// for `'a`, to be copied to the frontend. Made only from a borrowed skb
/// ([`SkBuff::local_srcs`]) and narrowed with [`LocalSrc::sub`], so a batch cannot be
/// pointed at other dom0 memory.
///
/// # Invariants
///
/// The `len` bytes at `off` in frame `gfn` lie in one page and are memory of this domain
/// that stays allocated and readable for `'a` (part of an skb borrowed for `'a`).
#[derive(Clone, Copy)]
pub struct LocalSrc<'a> {
    gfn: u64,
    off: u16,
    len: u16,
    _held: PhantomData<&'a [u8]>,
}

/// Part of one local page that a grant copy may write: memory the caller holds exclusively
/// for `'a`, to be filled from the frontend. Made only from an skb's newly put area
/// ([`SkBuff::put_local`]) or an owned [`Page`] ([`Page::local_dst`]), and narrowed with
/// [`LocalDst::sub`].
///
/// # Invariants
///
/// The `len` bytes at `off` in frame `gfn` lie in one page and are memory of this domain
/// that stays allocated for `'a` and that nothing else uses meanwhile (part of an skb or
/// page borrowed mutably for `'a`).
#[derive(Clone, Copy)]
pub struct LocalDst<'a> {
    gfn: u64,
    off: u16,
    len: u16,
    _held: PhantomData<&'a mut [u8]>,
}

macro_rules! local_range_methods {
    ($t:ident) => {
        impl<'a> $t<'a> {
            /// Length in bytes.
            pub fn len(&self) -> u16 {
                self.len
            }

            /// Whether the range is empty.
            pub fn is_empty(&self) -> bool {
                self.len == 0
            }

            /// The `len` bytes `off` bytes into this range; `None` if they do not fit in it.
            pub fn sub(self, off: u16, len: u16) -> Option<Self> {
                if u32::from(off) + u32::from(len) > u32::from(self.len) {
                    return None;
                }
                // INVARIANT: a part of `self`'s range, held as long.
                Some(Self {
                    gfn: self.gfn,
                    off: self.off + off,
                    len,
                    _held: PhantomData,
                })
            }
        }
    };
}
local_range_methods!(LocalSrc);
local_range_methods!(LocalDst);

impl SkBuff {
    /// Extends the linear data by `len` bytes (`skb_put`, see [`SkBuff::put_chunks`]) and
    /// describes the new area per page in `out[..n]` as grant-copy destinations; returns
    /// `n`. `E2BIG` if more than `out.len()` (or 4) pages; `EBUSY` if the skb or its data
    /// is shared (a fresh skb never is).
    pub fn put_local<'a>(
        &'a mut self,
        len: u32,
        out: &mut [Option<LocalDst<'a>>],
    ) -> Result<usize> {
        // With the only reference, no other owner can appear while `self` is borrowed.
        if !self.is_exclusive() {
            return Err(EBUSY);
        }
        let mut chunks = [Chunk::default(); MAX_PUT_CHUNKS];
        let max = out.len().min(MAX_PUT_CHUNKS);
        let n = self.put_chunks(len, &mut chunks[..max])?;
        for (o, ch) in out.iter_mut().zip(&chunks[..n]) {
            // INVARIANT: `put_chunks` just added this area to the linear data of the skb,
            // whose only reference (and unshared data, checked above) the caller lends us
            // mutably for `'a`; the chunks are its pages, each within one page.
            *o = Some(LocalDst {
                gfn: ch.gfn,
                off: ch.offset,
                len: ch.len,
                _held: PhantomData,
            });
        }
        Ok(n)
    }

    /// The packet data per page (see [`SkBuff::chunks`]) in `out[..n]` as grant-copy
    /// sources; returns `n`. `E2BIG` if more than `out.len()` chunks
    /// ([`SkBuff::chunk_count`]); `out` then holds the first ones.
    pub fn local_srcs<'a>(&'a self, out: &mut [Option<LocalSrc<'a>>]) -> Result<usize> {
        let mut n = 0;
        self.for_each_chunk(&mut |ch: Chunk| {
            let slot = out.get_mut(n).ok_or(E2BIG)?;
            // INVARIANT: the chunks are the skb's linear data and fragments, each within one
            // page; the skb (holding its fragments' pages) is borrowed for `'a`.
            *slot = Some(LocalSrc {
                gfn: ch.gfn,
                off: ch.offset,
                len: ch.len,
                _held: PhantomData,
            });
            n += 1;
            Ok(())
        })?;
        Ok(n)
    }
}

impl Page {
    /// The page (its first Xen page, 4 KiB) as a grant-copy destination.
    pub fn local_dst(&mut self) -> LocalDst<'_> {
        // INVARIANT: a `Page` is an owned page from the allocator that no one else uses,
        // borrowed mutably for the result's lifetime; the range is one Xen page.
        LocalDst {
            gfn: self.gfn(),
            off: 0,
            len: XEN_PAGE_SIZE as u16,
            _held: PhantomData,
        }
    }
}

/// One grant copy between a local range and a frontend grant, as a batch holds it.
#[derive(Clone, Copy)]
struct CopyOp {
    local_gfn: u64,
    foreign_ref: u32,
    local_off: u16,
    foreign_off: u16,
    len: u16,
    /// Local to frontend (guest RX); otherwise frontend to local (guest TX).
    to_foreign: bool,
    /// Result (`GNTST_*`, 0 = okay), set by [`CopyBatch::run`].
    status: i16,
}

/// Scratch space for batches of grant copies (`gnttab_batch_copy`).
///
/// The local side of every copy is a [`LocalSrc`] or [`LocalDst`], memory the caller
/// provably holds while the copies run: a [`CopyBatch`] borrows it until
/// [`CopyBatch::run`].
///
/// # Invariants
///
/// `raw` holds `max` `struct gnttab_copy`; `max` is not 0.
///
/// `raw` and `ops` are `kvmalloc`ed (a batch of 512 copies takes 20 KiB and 12 KiB, which
/// `kmalloc` would need physically contiguous): the hypercall takes the array by its
/// virtual address, and C's own `tx_copy_ops` live in the `vzalloc`ed queue array.
pub struct GrantCopier {
    raw: KVVec<bindings::gnttab_copy>,
    max: usize,
    ops: KVVec<CopyOp>,
}

impl GrantCopier {
    /// Allocates room for `max` copies per hypercall and `ops` copies per batch (more
    /// allocate when pushed); `max` must not be 0 (`EINVAL`).
    pub fn new(max: usize, ops: usize) -> Result<Self> {
        if max == 0 {
            return Err(EINVAL);
        }
        // Zeroed, like the `kcalloc` this replaces.
        let raw = KVVec::from_elem(bindings::gnttab_copy::default(), max, GFP_KERNEL)?;
        let ops = KVVec::with_capacity(ops, GFP_KERNEL)?;
        Ok(Self { raw, max, ops })
    }

    /// Starts an empty batch, whose local ranges are borrowed for `'l`.
    pub fn batch<'l>(&mut self) -> CopyBatch<'_, 'l> {
        // Ops of an earlier batch (not run, or run) never run again.
        self.ops.clear();
        CopyBatch {
            copier: self,
            _local: PhantomData,
        }
    }

    /// Fills `g` from `ops` (same length), runs the copies and sets each op's `status`;
    /// returns whether it issued the hypercall (not for no ops).
    fn copy(g: &mut [bindings::gnttab_copy], domid: u16, ops: &mut [CopyOp]) -> bool {
        for (g, op) in g.iter_mut().zip(ops.iter()) {
            // SAFETY: `g` is a valid, exclusive `struct gnttab_copy`; all of its fields are
            // integers, for which all-zero bytes are valid. This clears the padding and the
            // upper bytes of the `u` union as well, like a `memset`.
            unsafe { core::ptr::write_bytes(core::ptr::from_mut(g), 0, 1) };
            let (local, foreign) = if op.to_foreign {
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
        let issued = !g.is_empty();
        if issued {
            // SAFETY: `g` is an exclusive array of `g.len()` initialised `struct
            // gnttab_copy`; `gnttab_batch_copy` issues the copy hypercall on it (retrying
            // ops that got `GNTST_eagain`) and writes the ops' `status`. The array may be
            // `vmalloc`ed (no physical contiguity needed): hypercall arguments are virtual
            // addresses of the calling domain, which Xen reads through that domain's page
            // tables (PV) or translates page by page (HVM, PVH, Arm); C passes its
            // `vzalloc`ed `tx_copy_ops` the same way. The hypercall also reads or writes
            // the local ranges the ops name, each of which came from a `LocalSrc` (read:
            // memory held for the batch's `'l`) or a `LocalDst` (written: memory held
            // exclusively for `'l`); `CopyBatch::run` runs inside `'l`, so that memory is
            // the caller's for the whole call. The foreign side is checked by Xen against
            // the frontend's grants.
            unsafe { bindings::gnttab_batch_copy(g.as_mut_ptr(), g.len() as u32) };
        }
        for (g, op) in g.iter().zip(ops.iter_mut()) {
            op.status = g.status;
        }
        issued
    }
}

/// A batch of grant copies being built; the local memory it names is borrowed for `'l`,
/// so it stays the caller's until [`CopyBatch::run`] has returned.
pub struct CopyBatch<'c, 'l> {
    copier: &'c mut GrantCopier,
    _local: PhantomData<&'l mut [u8]>,
}

impl<'c, 'l> CopyBatch<'c, 'l> {
    /// Copies in the batch so far.
    pub fn len(&self) -> usize {
        self.copier.ops.len()
    }

    /// Whether the batch has no copy yet.
    pub fn is_empty(&self) -> bool {
        self.copier.ops.is_empty()
    }

    /// Takes back the copies added after the first `len` (none if the batch has no more):
    /// they will not run. For a packet given up while its copies were being added to a
    /// batch that holds other packets' copies too.
    pub fn truncate(&mut self, len: usize) {
        // Fewer copies only: what remains still names memory borrowed for `'l`.
        self.copier.ops.truncate(len);
    }

    /// Adds a copy of `dst.len()` bytes from offset `foreign_off` of the frontend's grant
    /// `foreign_ref` into `dst` (guest TX).
    pub fn copy_from_foreign(
        &mut self,
        dst: LocalDst<'l>,
        foreign_ref: u32,
        foreign_off: u16,
        flags: Flags,
    ) -> Result {
        self.push(
            dst.gfn,
            dst.off,
            dst.len,
            foreign_ref,
            foreign_off,
            false,
            flags,
        )
    }

    /// Adds a copy of `src` to offset `foreign_off` of the frontend's grant `foreign_ref`
    /// (guest RX).
    pub fn copy_to_foreign(
        &mut self,
        src: LocalSrc<'l>,
        foreign_ref: u32,
        foreign_off: u16,
        flags: Flags,
    ) -> Result {
        self.push(
            src.gfn,
            src.off,
            src.len,
            foreign_ref,
            foreign_off,
            true,
            flags,
        )
    }

    #[expect(clippy::too_many_arguments, reason = "the fields of one copy")]
    fn push(
        &mut self,
        local_gfn: u64,
        local_off: u16,
        len: u16,
        foreign_ref: u32,
        foreign_off: u16,
        to_foreign: bool,
        flags: Flags,
    ) -> Result {
        let op = CopyOp {
            local_gfn,
            foreign_ref,
            local_off,
            foreign_off,
            len,
            to_foreign,
            status: 0,
        };
        self.copier.ops.push(op, flags)?;
        Ok(())
    }

    /// Runs the copies with domain `domid`, in hypercalls of at most the copier's `max`
    /// ops (none for an empty batch), and returns what they did: their statuses and how
    /// many hypercalls and copies that took.
    pub fn run(self, domid: u16) -> CopyRun<'c> {
        let c: &'c mut GrantCopier = self.copier;
        let mut hypercalls = 0;
        for batch in c.ops.chunks_mut(c.max) {
            if GrantCopier::copy(&mut c.raw[..batch.len()], domid, batch) {
                hypercalls += 1;
            }
        }
        CopyRun {
            ops: &c.ops,
            hypercalls,
        }
    }
}

/// What [`CopyBatch::run`] did: the copies' results, and the hypercalls they took.
pub struct CopyRun<'c> {
    ops: &'c [CopyOp],
    hypercalls: u32,
}

impl<'c> CopyRun<'c> {
    /// The copies' statuses (`GNTST_*`, 0 = okay), in the order they were added.
    pub fn statuses(&self) -> impl Iterator<Item = i16> + 'c {
        self.ops.iter().map(|op| op.status)
    }

    /// How many copies ran (the batch's [`CopyBatch::len`]).
    pub fn ops(&self) -> usize {
        self.ops.len()
    }

    /// How many `GNTTABOP_copy` hypercalls carried them: one per `gnttab_batch_copy`
    /// call, which the batch makes per `max` ops (the copier's limit). Not counted are the
    /// one-op hypercalls with which `gnttab_batch_copy` itself retries a copy that got
    /// `GNTST_eagain` (a frontend page that Xen's memory paging or sharing must bring back
    /// first), which it does not report.
    pub fn hypercalls(&self) -> u32 {
        self.hypercalls
    }
}

/// The state a [`Waker`] owns: a wait queue head and the kick flag (the C `struct
/// xnt_worker` without the thread, which [`WorkerThread`] owns).
#[pin_data]
struct WaitPoint {
    #[pin]
    wq: Opaque<bindings::wait_queue_head>,
    /// 1 when kicked since the thread last consumed a kick (`atomic_t`).
    kicked: Atomic<i32>,
    /// 1 while a [`WorkerThread`] runs on this wait point (at most one may).
    busy: Atomic<i32>,
}

// SAFETY: The wait queue head is used only through the wait-queue functions, which take
// its own lock (IRQ-safe) and may be called from any CPU; the rest are atomics.
unsafe impl Send for WaitPoint {}
// SAFETY: As above: `&WaitPoint` permits only those functions and atomic accesses.
unsafe impl Sync for WaitPoint {}

impl WaitPoint {
    /// The thread's wake-up condition (`wait_event`'s `condition`); worker thread only.
    fn ready(&self) -> bool {
        self.kicked.load(Relaxed) != 0 || should_stop()
    }

    /// `wait_event_interruptible_timeout(wq, ready(), timeout)`, step by step as
    /// `___wait_event` does it (the result is not needed).
    fn wait(&self, timeout: c_long) {
        // `___wait_cond_timeout` with a non-zero timeout: the condition alone.
        if self.ready() {
            return;
        }
        let entry = Opaque::<bindings::wait_queue_entry>::uninit();
        // SAFETY: `entry` is a local that is not moved until `finish_wait` below has
        // unlinked it; `init_wait_entry` initialises it (autoremove wake function).
        unsafe { bindings::init_wait_entry(entry.get(), 0) };
        let mut remaining = timeout;
        loop {
            // SAFETY: `wq` was initialised in `Waker::new` and lives as long as `self`;
            // `entry` is initialised and stays in place until `finish_wait`.
            let intr = unsafe {
                bindings::prepare_to_wait_event(
                    self.wq.get(),
                    entry.get(),
                    bindings::TASK_INTERRUPTIBLE as c_int,
                )
            };
            // The condition is read after `prepare_to_wait_event` queued us and set the
            // task state (a full barrier), so a kick after this read wakes us.
            if self.ready() || remaining == 0 {
                break;
            }
            if intr != 0 {
                break;
            }
            // SAFETY: Process context (a kthread), no lock held.
            remaining = unsafe { bindings::schedule_timeout(remaining) };
        }
        // SAFETY: As above. After a pending signal `prepare_to_wait_event` unlinked the
        // entry already; `finish_wait` then only sets the task running, as the C macro's
        // `__out` path leaves it.
        unsafe { bindings::finish_wait(self.wq.get(), entry.get()) };
    }
}

/// A wait point a [`WorkerThread`] sleeps on; kicking it is valid from any context.
pub struct Waker {
    inner: Pin<KBox<WaitPoint>>,
}

impl Waker {
    /// Allocates the wait point.
    pub fn new() -> Result<Self> {
        let inner = KBox::pin_init(
            pin_init!(WaitPoint {
                // SAFETY: `slot` is valid for writes; the name and lock class key are
                // static.
                wq <- Opaque::ffi_init(|slot| unsafe {
                    bindings::__init_waitqueue_head(
                        slot,
                        c"&w->wq".as_char_ptr(),
                        kernel::static_lock_class!().as_ptr(),
                    )
                }),
                kicked: Atomic::new(0),
                busy: Atomic::new(0),
            }),
            GFP_KERNEL,
        )?;
        Ok(Self { inner })
    }

    /// Wakes the thread running on this wait point, if any.
    pub fn kick(&self) {
        // Release: the caller's work (queued skb, flags) is visible before the kick.
        self.inner.kicked.store(1, Release);
        // SAFETY: `wq` is initialised; `__wake_up` (`wake_up`) takes the queue's lock with
        // IRQs saved, so any context may call it.
        unsafe {
            bindings::__wake_up(
                self.inner.wq.get(),
                bindings::TASK_NORMAL,
                1,
                core::ptr::null_mut(),
            )
        };
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

/// What the kernel thread uses: the context and the wait point read from it once.
///
/// # Invariants
///
/// `wait` points into the [`Waker`] that `ctx.waker()` returned, which lives as long as
/// `*ctx`, hence as long as this value.
struct Thread<T: WorkerFn> {
    ctx: Arc<T>,
    wait: NonNull<WaitPoint>,
}

impl<T: WorkerFn> Thread<T> {
    fn wait_point(&self) -> &WaitPoint {
        // SAFETY: By the type invariant `wait` is valid while `self` is.
        unsafe { self.wait.as_ref() }
    }
}

/// A kernel thread calling `T::run` whenever its [`Waker`] is kicked. Dropping it stops the
/// thread (waiting for a running `run` to return).
///
/// # Invariants
///
/// `thread` came from `KBox::into_raw` and `task` is the kthread running
/// `worker_thread::<T>` on it; the thread returns only after `kthread_stop(task)`, which
/// only `drop` calls, before it frees `thread`.
pub struct WorkerThread<T: WorkerFn> {
    thread: NonNull<Thread<T>>,
    task: NonNull<bindings::task_struct>,
}

// SAFETY: `thread` is an owned box of `Arc<T>` (`T: Send + Sync`) and a pointer to a
// `WaitPoint` (atomics and a wait queue, all thread-safe); `task` is used only by `drop`,
// and `kthread_stop` may be called from any process context.
unsafe impl<T: WorkerFn> Send for WorkerThread<T> {}
// SAFETY: `&WorkerThread` gives access to nothing.
unsafe impl<T: WorkerFn> Sync for WorkerThread<T> {}

impl<T: WorkerFn> WorkerThread<T> {
    /// Starts the thread named `name` (at most 15 characters are kept). `EBUSY` if a
    /// thread runs on `ctx.waker()` already.
    pub fn start(ctx: Arc<T>, name: &CStr) -> Result<Self> {
        // The only call of `T::waker` for this thread.
        let wait = NonNull::from(&*ctx.waker().inner);
        // INVARIANT: `waker()` returns a reference valid as long as the `&T` it was called
        // on. The box keeps `*ctx` alive and shared (no `&mut T` can exist while the box's
        // `Arc` does), so that borrow could be held for the box's whole life, and the
        // `Waker` stays where it is that long.
        let thread = KBox::new(Thread { ctx, wait }, GFP_KERNEL)?;
        let wp = thread.wait_point();
        if wp.busy.cmpxchg(0, 1, Relaxed).is_err() {
            return Err(EBUSY);
        }
        wp.kicked.store(0, Relaxed);
        let thread = NonNull::from(KBox::leak(thread));
        // SAFETY: `worker_thread::<T>` matches `thread`'s type; `thread` stays valid until
        // `drop` has stopped the thread (or below, if creation failed: then the thread
        // function never runs). The format is a NUL-terminated `"%s"` taking the
        // NUL-terminated `name`, which `kthread_create_on_node` copies.
        let task = from_err_ptr(unsafe {
            bindings::kthread_create_on_node(
                Some(worker_thread::<T>),
                thread.as_ptr().cast(),
                bindings::NUMA_NO_NODE,
                c"%s".as_char_ptr(),
                name.as_char_ptr(),
            )
        });
        let task = match task.ok().and_then(NonNull::new) {
            Some(task) => task,
            None => {
                // SAFETY: `thread` came from `KBox::leak` above and no thread uses it.
                let thread = unsafe { KBox::from_raw(thread.as_ptr()) };
                thread.wait_point().busy.store(0, Release);
                return Err(task.err().unwrap_or(ENOMEM));
            }
        };
        // SAFETY: `task` is the new, not yet started kthread (`kthread_run`).
        unsafe { bindings::wake_up_process(task.as_ptr()) };
        // INVARIANT: `task` runs `worker_thread::<T>` on `thread`, leaked from a `KBox`.
        Ok(Self { thread, task })
    }
}

impl<T: WorkerFn> Drop for WorkerThread<T> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the thread has not returned (it returns only after
        // `kthread_stop`), so `task` is live; `kthread_stop` takes its own reference, wakes
        // the thread and waits until it has returned.
        unsafe { bindings::kthread_stop(self.task.as_ptr()) };
        // SAFETY: By the type invariant `thread` came from `KBox::into_raw`/`leak`, and the
        // thread using it has exited.
        let thread = unsafe { KBox::from_raw(self.thread.as_ptr()) };
        thread.wait_point().busy.store(0, Release);
        // Drops the thread's `Arc<T>`.
        drop(thread);
    }
}

/// `kthread_should_stop()`; called only by the worker thread (`worker_thread`,
/// `WaitPoint::ready`), which is a kthread.
fn should_stop() -> bool {
    // SAFETY: Reads the current kthread's stop flag; every caller runs in the worker
    // kthread (`to_kthread(current)` is valid there).
    unsafe { bindings::kthread_should_stop() }
}

/// The worker thread: sleeps until kicked or until the timeout `T::run` returned last
/// expires, then consumes the kick and calls `T::run`; returns once `kthread_stop` is
/// called (and only then).
///
/// # Safety
///
/// `data` is the `Thread<T>` of a [`WorkerThread`], valid until `kthread_stop` returns.
unsafe extern "C" fn worker_thread<T: WorkerFn>(data: *mut c_void) -> c_int {
    // SAFETY: Per the function's safety requirement; this function returns before
    // `kthread_stop` does, so the reference does not outlive the box.
    let thread = unsafe { &*data.cast::<Thread<T>>() };
    let wp = thread.wait_point();
    let mut timeout = MAX_SCHEDULE_TIMEOUT;
    while !should_stop() {
        wp.wait(timeout);
        if should_stop() {
            break;
        }
        // Full barrier (`atomic_xchg`): the clear is ordered before everything `run` reads,
        // so a kick whose data `run` may miss sets `kicked` again after it.
        wp.kicked.xchg(0, Full);
        let ms = thread.ctx.run();
        timeout = if ms != 0 {
            // At most `MAX_JIFFY_OFFSET`, which fits.
            msecs_to_jiffies(ms) as c_long
        } else {
            MAX_SCHEDULE_TIMEOUT
        };
        // SAFETY: Process context, no lock held.
        unsafe { bindings::xnt_cond_resched() };
    }
    0
}

/// Receives the events of a [`Watch`], in the xenwatch thread.
pub trait WatchHandler: Send + Sync + 'static {
    /// The watched node of `dev` changed (also called once right after registration).
    ///
    /// `dev` is a counted reference, not a [`Device`]: the watch may outlive the device's
    /// binding, so the callback gets only what is sound on a removed device.
    fn changed(&self, dev: &DeviceRef);
}

/// What a watch's callback reaches: the handler and the watched device.
struct WatchCtx<T> {
    handler: Arc<T>,
    dev: DeviceRef,
}

/// The registration of a [`Watch`]: C's `struct xenbus_watch`, which the xenbus core links
/// into its list and hands to [`watch_fired`], and the context the callback reaches.
#[repr(C)]
struct WatchReg<T> {
    watch: Opaque<bindings::xenbus_watch>,
    ctx: Arc<WatchCtx<T>>,
}

/// A XenStore watch on `<dir>/<node>`; unregistered on drop (waiting for a running
/// callback, unless dropped from the xenwatch thread itself).
///
/// Sound wherever it is dropped:
///
/// * The watch holds a reference to its device ([`DeviceRef`]), so the device the callback
///   gets is allocated for as long as the watch is registered (and during the callback).
/// * Dropped from another thread, `unregister_xenbus_watch()` waits for a running callback
///   (it takes `xenwatch_mutex`, which the xenwatch thread holds around every callback) and
///   cancels pending events; the registration is freed after that.
/// * Dropped from the xenwatch thread, it does not wait (the C API skips the mutex there,
///   as C drivers unregister their watches from their callbacks). Inside another watch's
///   callback, ours is not running (the xenwatch thread runs one callback at a time).
///   Inside its own callback, the handler and device the callback uses are kept alive by
///   a reference the callback took before calling the handler, and neither
///   [`watch_fired`] nor `xenwatch_thread` touches the freed registration after the
///   handler returns. So a handler may drop (or cause the drop of) its own watch.
///
/// # Invariants
///
/// `reg` came from `KBox::into_raw`, and its `watch` is registered with [`watch_fired`]
/// as callback and `node` a `kmalloc`ed path; both are released only in `drop`, after
/// unregistering.
pub struct Watch<T: WatchHandler> {
    reg: NonNull<WatchReg<T>>,
}

// SAFETY: The watch owns a registration, which may be unregistered from any thread, and a
// reference to a `WatchCtx<T>` (an `Arc<T>` with `T: Send + Sync`, and a `DeviceRef`).
unsafe impl<T: WatchHandler> Send for Watch<T> {}
// SAFETY: `&Watch` allows nothing.
unsafe impl<T: WatchHandler> Sync for Watch<T> {}

impl<T: WatchHandler> Watch<T> {
    /// Registers a watch on `dir/node` for `dev`.
    pub fn new(dev: &Device, dir: &CStr, node: &CStr, handler: Arc<T>) -> Result<Self> {
        let ctx = WatchCtx {
            handler,
            dev: DeviceRef::new(dev),
        };
        let reg = WatchReg {
            watch: Opaque::zeroed(),
            ctx: Arc::new(ctx, GFP_KERNEL)?,
        };
        let reg = KBox::into_raw(KBox::new(reg, GFP_KERNEL)?);
        // SAFETY: `dev` is live; the format takes the two NUL-terminated strings (the path
        // is copied into a `kmalloc`ed `node`). `reg` is a live, zeroed, unregistered
        // `xenbus_watch` inside an allocation that stays put until `drop` unregisters it.
        let ret = unsafe {
            bindings::xenbus_watch_pathfmt(
                dev.as_raw(),
                Opaque::cast_into(&raw const (*reg).watch),
                None,
                Some(watch_fired::<T>),
                c"%s/%s".as_char_ptr(),
                dir.as_char_ptr(),
                node.as_char_ptr(),
            )
        };
        if ret != 0 {
            // SAFETY: `reg` came from `KBox::into_raw` above; the watch is not registered
            // (the path, if any, was freed on the error), so nothing else uses it.
            drop(unsafe { KBox::from_raw(reg) });
            return Err(Error::from_errno(ret));
        }
        // SAFETY: `KBox::into_raw` gives a non-null pointer.
        let reg = unsafe { NonNull::new_unchecked(reg) };
        // INVARIANT: `reg` came from `KBox::into_raw` and was registered above.
        Ok(Self { reg })
    }
}

impl<T: WatchHandler> Drop for Watch<T> {
    fn drop(&mut self) {
        let reg = self.reg.as_ptr();
        // SAFETY: By the type invariant `reg` is live and its watch registered.
        let watch = unsafe { Opaque::cast_into(&raw const (*reg).watch) };
        // SAFETY: `watch` is registered. Unregistering waits for a running callback unless
        // this is the xenwatch thread (see the type's documentation for that case) and
        // cancels pending events; the xenbus core does not touch it after.
        unsafe { bindings::unregister_xenbus_watch(watch) };
        // SAFETY: By the type invariant `node` is the `kmalloc`ed path, no longer used now
        // that the watch is unregistered.
        unsafe { bindings::kfree((*watch).node.cast()) };
        // SAFETY: By the type invariant `reg` came from `KBox::into_raw` and is released
        // only here; no new callback can start now. A callback of this watch further up
        // this thread's stack holds its own reference to the context.
        drop(unsafe { KBox::from_raw(reg) });
    }
}

/// The callback of a [`Watch`]'s `xenbus_watch`, in the xenwatch thread.
///
/// # Safety
///
/// `watch` is the `watch` field of a [`WatchReg<T>`] registered by a [`Watch`], which
/// frees it only after unregistering it.
unsafe extern "C" fn watch_fired<T: WatchHandler>(
    watch: *mut bindings::xenbus_watch,
    _path: *const c_char,
    _token: *const c_char,
) {
    // SAFETY: Per the function's safety requirement `watch` is the `watch` field of a
    // `WatchReg<T>`; `Opaque<U>` is `repr(transparent)` over `U`.
    let reg = unsafe {
        kernel::container_of!(
            watch.cast::<Opaque<bindings::xenbus_watch>>(),
            WatchReg<T>,
            watch
        )
    };
    // SAFETY: The registration is live: the watch is registered (this callback runs), a
    // `drop` on another thread waits for this callback before freeing it, and a `drop` on
    // this thread can only happen inside `changed` below, after this reference was taken
    // (the last use of `reg`).
    let ctx = unsafe { (*reg).ctx.clone() };
    ctx.handler.changed(&ctx.dev);
}

/// The list of a [`SkbQueue`]: an `sk_buff_head` whose own `lock` is unused (the
/// [`SpinLockIrq`] around this value serialises it).
///
/// # Invariants
///
/// `head` is an initialised list of skbs whose references it owns, each with its expiry
/// time (jiffies) in `cb` (see [`set_expires`]).
#[pin_data]
struct SkbList {
    #[pin]
    head: Opaque<bindings::sk_buff_head>,
}

// SAFETY: The list owns references of skbs, which may be freed on any CPU
// (`dev_kfree_skb_any`); it is only reached through the lock around it.
unsafe impl Send for SkbList {}

impl SkbList {
    fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes; `skb_queue_head_init` initialises the
            // whole `sk_buff_head` (an empty list and its unused lock).
            head <- Opaque::ffi_init(|slot| unsafe { bindings::xnt_skb_queue_head_init(slot) }),
        })
    }

    /// The head skb, still queued (`skb_peek`).
    fn peek(&self) -> Option<NonNull<bindings::sk_buff>> {
        // `skb_peek`: the first skb, unless the list (its own sentinel) is empty.
        let head = self.head.get();
        // SAFETY: By the type invariant `head` is an initialised list; the caller holds the
        // lock (`&self` comes from the guard). `next` is a plain field.
        let next = unsafe { (*head).__bindgen_anon_1.__bindgen_anon_1.next };
        NonNull::new(next).filter(|n| n.as_ptr().cast() != head)
    }

    /// Unlinks the head skb (`__skb_dequeue`); its reference is the caller's.
    fn dequeue(&self) -> Option<SkBuff> {
        // SAFETY: As in `peek`.
        let p = NonNull::new(unsafe { bindings::xnt_skb_dequeue(self.head.get()) })?;
        // SAFETY: By the type invariant the list owned this reference; unlinked, it is ours.
        Some(unsafe { SkBuff::from_raw(p) })
    }
}

/// The jiffies counter (`jiffies`).
fn jiffies() -> c_ulong {
    // SAFETY: `jiffies` is a kernel variable that lives forever; the timer code updates it
    // with single word stores, read here once as C's `volatile` declaration does.
    unsafe { core::ptr::read_volatile(&raw const bindings::jiffies) }
}

/// Stores `expires` in the `cb` of `skb` (the C backlog's `XNT_SKB_CB(skb)->expires`).
///
/// # Safety
///
/// `skb` is valid, its reference is the caller's and its `cb` is the driver's to use (it
/// came to `ndo_start_xmit`).
unsafe fn set_expires(skb: NonNull<bindings::sk_buff>, expires: c_ulong) {
    // SAFETY: Per the function's safety requirement `skb` is valid and nobody else uses its
    // `cb`; `cb` is 48 bytes, the first `size_of::<c_ulong>()` of which are written
    // (unaligned, so `cb`'s alignment does not matter).
    unsafe { core::ptr::write_unaligned((&raw mut (*skb.as_ptr()).cb).cast::<c_ulong>(), expires) }
}

/// The expiry time a queued `skb` got in [`SkbQueue::push`].
///
/// # Safety
///
/// `skb` is on a [`SkbList`] whose lock the caller holds.
unsafe fn expires(skb: NonNull<bindings::sk_buff>) -> c_ulong {
    // SAFETY: Per the function's safety requirement `skb` is valid (the list holds a
    // reference and cannot drop it meanwhile); by the `SkbList` invariant its `cb` starts
    // with the value `set_expires` wrote.
    unsafe { core::ptr::read_unaligned((&raw const (*skb.as_ptr()).cb).cast::<c_ulong>()) }
}

/// What the guest-RX worker needs to know of the head packet of a [`SkbQueue`] before it
/// takes it: the ring slots it will fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadInfo {
    /// `skb->len`.
    pub len: u32,
    /// It is a GSO packet.
    pub gso: bool,
    /// It carries a software hash ([`SkBuff::sw_hash`]).
    pub hash: bool,
}

/// The [`HeadInfo`] of the queued `skb`.
///
/// # Safety
///
/// `skb` is on a [`SkbList`] whose lock the caller holds.
unsafe fn head_info(skb: NonNull<bindings::sk_buff>) -> HeadInfo {
    // SAFETY: Per the function's safety requirement `skb` is valid (the list's reference
    // cannot go while the caller holds the lock and the list does not free skbs). The
    // `SkBuff` is never dropped (`ManuallyDrop`), so the list keeps its reference, and only
    // its read-only methods are used.
    let skb = ManuallyDrop::new(unsafe { SkBuff::from_raw(skb) });
    HeadInfo {
        len: skb.len(),
        gso: skb.gso().is_some(),
        hash: skb.sw_hash().is_some(),
    }
}

#[pin_data]
struct SkbQueueInner {
    /// Taken with IRQs off (`spin_lock_irq_disable`, which saves and restores the IRQ
    /// state like `spin_lock_irqsave`).
    #[pin]
    list: SpinLockIrq<SkbList>,
    /// Sum of the queued skbs' `len`; changed only under `list`'s lock, read without it.
    bytes: AtomicU64,
}

/// A guest-RX backlog: skbs waiting for frontend buffers, each with an expiry time, and
/// their total length. All operations take the queue's IRQ-safe lock.
pub struct SkbQueue {
    inner: Pin<KBox<SkbQueueInner>>,
}

impl SkbQueue {
    /// An empty backlog.
    pub fn new() -> Result<Self> {
        let inner = KBox::pin_init(
            pin_init!(SkbQueueInner {
                list <- new_spinlock_irq!(SkbList::new(), "SkbQueue::list"),
                bytes: AtomicU64::new(0),
            }),
            GFP_KERNEL,
        )?;
        Ok(Self { inner })
    }

    /// Appends `skb`, to be dropped if still queued after `drain_ms`; returns the
    /// backlog's bytes after it.
    pub fn push(&self, skb: SkBuff, drain_ms: u32) -> u64 {
        let len = skb.len();
        let raw = skb.into_raw();
        // SAFETY: `into_raw` returns the skb's (non-null) pointer.
        let raw = unsafe { NonNull::new_unchecked(raw) };
        // SAFETY: `raw` was an owned `SkBuff`: its reference is ours, and layers that hand
        // an skb on are done with its `cb` (`ndo_start_xmit` owns it, as the C backlog did).
        unsafe { set_expires(raw, jiffies().wrapping_add(msecs_to_jiffies(drain_ms))) };
        let list = self.inner.list.lock();
        // SAFETY: The list is initialised and locked; it takes over the reference of `raw`,
        // which is on no list (it was an owned `SkBuff`) and carries its expiry (the
        // invariant of `SkbList`).
        unsafe { bindings::xnt_skb_queue_tail(list.head.get(), raw.as_ptr()) };
        let bytes = self
            .inner
            .bytes
            .load(Ordering::Relaxed)
            .wrapping_add(u64::from(len));
        self.inner.bytes.store(bytes, Ordering::Relaxed);
        drop(list);
        bytes
    }

    /// Takes the head packet.
    pub fn pop(&self) -> Option<SkBuff> {
        let list = self.inner.list.lock();
        let skb = list.dequeue()?;
        self.sub_bytes(skb.len());
        drop(list);
        Some(skb)
    }

    /// What the head packet will need ([`HeadInfo`]).
    pub fn peek(&self) -> Option<HeadInfo> {
        let list = self.inner.list.lock();
        // SAFETY: `p` is on `list`, whose lock the guard holds until after the call.
        list.peek().map(|p| unsafe { head_info(p) })
    }

    /// Frees head packets whose time ran out; returns how many.
    pub fn drop_expired(&self) -> u32 {
        let mut n = 0;
        loop {
            let list = self.inner.list.lock();
            let Some(head) = list.peek() else {
                return n;
            };
            // `time_before(jiffies, expires)`.
            // SAFETY: `head` is on `list`, whose lock is held.
            if (jiffies().wrapping_sub(unsafe { expires(head) }) as c_long) < 0 {
                return n;
            }
            let Some(skb) = list.dequeue() else {
                return n;
            };
            self.sub_bytes(skb.len());
            drop(list);
            // Freed outside the lock (`dev_kfree_skb_any`).
            drop(skb);
            n += 1;
        }
    }

    /// Bytes queued.
    pub fn bytes(&self) -> u64 {
        self.inner.bytes.load(Ordering::Relaxed)
    }

    /// Frees every queued packet.
    pub fn purge(&self) {
        while let Some(skb) = self.pop() {
            drop(skb);
        }
    }

    /// Takes `len` off the byte count; the caller holds the list's lock.
    fn sub_bytes(&self, len: u32) {
        let bytes = self
            .inner
            .bytes
            .load(Ordering::Relaxed)
            .wrapping_sub(u64::from(len));
        self.inner.bytes.store(bytes, Ordering::Relaxed);
    }
}

impl Drop for SkbQueue {
    fn drop(&mut self) {
        self.purge();
    }
}

/// Milliseconds of the jiffies clock, for coarse timeouts.
pub fn now_ms() -> u64 {
    // `get_jiffies_64()` is a plain read of `jiffies` on 64-bit kernels only.
    const _: () = assert!(size_of::<c_ulong>() == size_of::<u64>());
    // SAFETY: A pure conversion, any context.
    unsafe { bindings::jiffies64_to_msecs(jiffies() as u64) }
}
