// SPDX-License-Identifier: GPL-2.0

//! Grant references as owned values: a private pool of references, granting a frame to
//! another domain, ending that access again, and a deferred end for frames the peer still
//! uses.
//!
//! # Ownership
//!
//! A reference moves through three owned, non-`Copy` states, and each frame granted stays
//! allocated for as long as the peer may access it:
//!
//! * [`ClaimedRef`]: taken from a [`GrantPool`] with [`GrantPool::claim`]; grants nothing.
//!   It goes back with [`GrantPool::release`], or to the grant table's free list when
//!   dropped.
//! * [`Granted<F>`]: made by [`GrantPool::grant`], which consumes a `ClaimedRef` and the
//!   owner `F` of the frame ([`Page`], or [`SkbChunk`] for a chunk of an skb: a
//!   [`GrantFrame`]). Its only ways out are [`Granted::end_access`] (or
//!   [`GrantPool::take_back`]), which give back the `ClaimedRef` and `F` once the peer has
//!   let go and otherwise give the `Granted` back, and the deferred end,
//!   [`Granted::end_deferred`], which dropping a `Granted` does too.
//! * Deferred: the reference plus a [`FrameOwner`] (what keeps the frame allocated) on the
//!   module's deferred-end list (`DeferredEnds`, run by a [`GrantingDriver`]), retried
//!   every second from a delayed work until the peer lets go; then the owner is freed and
//!   the reference goes back to the grant table. Entries still in use when the module unloads go to the grant-table
//!   code's own deferred list (`gnttab_end_foreign_access`, which takes over the page
//!   reference and outlives the module) if their owner is a page; an skb owner (a slab
//!   head, which only the skb keeps) is leaked with one log line: freeing it would let the
//!   peer access reused memory.
//!
//! So safe code can neither release a reference twice nor release one still granted (a
//! `Granted` is not a `ClaimedRef`), nor free a frame still granted (the `Granted` owns it
//! and gives it back only with the access ended), nor grant a frame it does not keep
//! allocated ([`GrantFrame`] is an `unsafe` trait, implemented here only). What a
//! reference number is on the wire stays available as `raw()`.
//!
//! The ring pages of [`super::sring::FrontRing`] are granted by `xenbus_setup_ring()` and
//! owned by the ring, whose drop alone ends the access (`xenbus_teardown_ring()`; the
//! grant-table code keeps a page the peer still maps); the ring hands out only the number.
//!
//! C header: [`include/xen/grant_table.h`](srctree/include/xen/grant_table.h)

use core::mem::ManuallyDrop;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

use kernel::error::to_result;
use kernel::prelude::*;
use kernel::types::Opaque;

use super::bindings;
use super::net::{Page, PageRef, SkBuff, SkbChunk};
use super::xenbus;

/// A claimed grant reference that grants nothing: the only value that can be granted.
///
/// Dropping it gives the reference back to the grant table's free list
/// (`gnttab_free_grant_reference`), not to the pool it came from.
///
/// # Invariants
///
/// `self.0` is a grant reference this value owns (claimed from a pool, or whose access was
/// ended), in no pool and free list, and its grant entry permits no access.
pub struct ClaimedRef(bindings::grant_ref_t);

impl ClaimedRef {
    /// The reference number.
    pub fn raw(&self) -> u32 {
        self.0
    }
}

impl Drop for ClaimedRef {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we own the reference and it grants nothing, so it
        // can go back to the free list; nothing uses the number after this.
        unsafe { bindings::gnttab_free_grant_reference(self.0) };
    }
}

/// What keeps a granted frame allocated once its grant moved to the deferred-end list: a
/// page, a page reference, or an skb. Dropping it frees that.
pub struct FrameOwner(Owner);

enum Owner {
    /// The granted page itself.
    Page(Page),
    /// A reference to the page of the granted frame.
    PageRef(PageRef),
    /// An skb whose slab head holds the granted frame.
    Skb(#[expect(dead_code, reason = "held only to be dropped")] SkBuff),
}

impl FrameOwner {
    /// The reference to the granted frame's page that this owner amounts to, for the
    /// grant-table code's deferred list (`put_page` releases it); `self` back for an skb,
    /// which no page reference stands for.
    fn into_page(self) -> Result<NonNull<bindings::page>, Self> {
        match self.0 {
            Owner::Page(page) => Ok(page.into_raw()),
            Owner::PageRef(page) => Ok(page.into_raw()),
            owner @ Owner::Skb(_) => Err(Self(owner)),
        }
    }
}

/// The owner of a frame that can be granted: it names the frame and keeps it allocated.
///
/// # Safety
///
/// For as long as a value lives, [`gfn`](Self::gfn) returns the same frame and that frame
/// stays allocated and is not given to another user; the [`FrameOwner`] that
/// [`into_owner`](Self::into_owner) returns keeps it so until it is dropped.
pub unsafe trait GrantFrame: Sized + Send + 'static {
    /// The guest frame number to grant.
    fn gfn(&self) -> u64;

    /// What keeps the frame allocated while its access is ended later (can be less than
    /// `self`: a page reference instead of a whole skb).
    fn into_owner(self) -> FrameOwner;
}

// SAFETY: An owned page stays allocated until dropped; its frame number does not change.
unsafe impl GrantFrame for Page {
    fn gfn(&self) -> u64 {
        Page::gfn(self)
    }

    fn into_owner(self) -> FrameOwner {
        FrameOwner(Owner::Page(self))
    }
}

// SAFETY: By the invariant of `SkbChunk`, `gfn` is a frame of the skb's data, recorded
// when the value was made and kept allocated by the skb reference it holds. The owner is a
// reference to the page of that very frame (`SkbChunk::page_ref`), or the skb itself when
// the frame is a slab head only the skb keeps allocated.
unsafe impl GrantFrame for SkbChunk {
    fn gfn(&self) -> u64 {
        SkbChunk::gfn(self)
    }

    /// Like C `xennet_release_tx_bufs`: a page reference keeps the page, and the skb (with
    /// its socket charge) is freed now; a slab head keeps its skb, whose socket charge is
    /// given back now (`skb_orphan`).
    fn into_owner(self) -> FrameOwner {
        match self.page_ref() {
            Some(page) => FrameOwner(Owner::PageRef(page)),
            None => {
                let mut skb = self.into_skb();
                skb.orphan();
                FrameOwner(Owner::Skb(skb))
            }
        }
    }
}

/// A reference granting the peer access to the frame of `F`, which it owns.
///
/// Dropping it is the deferred end ([`Granted::end_deferred`]): the access ends now if the
/// peer has let go, else later, and the frame is freed only then.
///
/// # Invariants
///
/// `r` is a reference this value owns, in no pool or free list, whose grant entry grants
/// (or granted: the peer may still use it) the peer access to `frame.gfn()`; `frame` is
/// taken out only together with `r`, by `into_parts` or `drop`.
pub struct Granted<F: GrantFrame> {
    r: bindings::grant_ref_t,
    frame: ManuallyDrop<F>,
}

impl<F: GrantFrame> Granted<F> {
    /// The reference number, as the wire carries it.
    pub fn raw(&self) -> u32 {
        self.r
    }

    /// The owner of the granted frame.
    pub fn frame(&self) -> &F {
        &self.frame
    }

    fn into_parts(self) -> (bindings::grant_ref_t, F) {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, so `frame` is taken out once.
        let frame = unsafe { ManuallyDrop::take(&mut this.frame) };
        (this.r, frame)
    }

    /// Ends the peer's access and gives back the reference and the frame's owner; gives
    /// `self` back while the peer still uses the frame (the grant-table code logs
    /// "g.e. ... still in use").
    pub fn end_access(self) -> Result<(ClaimedRef, F), Self> {
        // SAFETY: By the type invariant we own `self.r`; ending access only touches its
        // entry.
        if unsafe { bindings::gnttab_end_foreign_access_ref(self.r) } == 0 {
            return Err(self);
        }
        let (r, frame) = self.into_parts();
        // INVARIANT: The access has ended, so `r` grants nothing.
        Ok((ClaimedRef(r), frame))
    }

    /// Ends the peer's access now if it has let go (freeing the frame's owner and the
    /// reference), and otherwise hands both to the module's deferred-end list (which a
    /// [`GrantingDriver`] runs), which ends the access once the peer lets go.
    ///
    /// May be called in any context.
    pub fn end_deferred(self) {
        let (r, frame) = self.into_parts();
        // SAFETY: By the type invariant we own `r`, which grants the frame `frame` keeps.
        unsafe { defer(r, frame.into_owner()) };
    }
}

impl Granted<Page> {
    /// Copies `bytes` into the granted page at `offset`; `EINVAL` if they do not fit in the
    /// page. For a page granted read-only that carries data to the peer (a control-ring
    /// request's key or table): the peer may read the page meanwhile and then sees old or
    /// new bytes, never anything outside the page, which it may read whole anyway.
    ///
    /// `&mut self`: no other writer in this domain (the page is reached only through its
    /// `Granted`, which does not hand out `&mut Page`: that would let the page be swapped
    /// for another while granted).
    pub fn write(&mut self, offset: usize, bytes: &[u8]) -> Result {
        let end = offset.checked_add(bytes.len()).ok_or(EINVAL)?;
        if end > kernel::page::PAGE_SIZE {
            return Err(EINVAL);
        }
        let page = self.frame.as_raw();
        // SAFETY: `page` is the owned, allocated order-0 page of this grant
        // (`Granted` invariant), mapped here for the copy and unmapped below.
        let vaddr = unsafe { bindings::kmap_local_page(page) };
        let dst = vaddr.cast::<u8>();
        for (i, &b) in bytes.iter().enumerate() {
            // SAFETY: `offset + i < end <= PAGE_SIZE`, inside the mapped page. Volatile: the
            // peer domain may read the page concurrently (it cannot write a read-only
            // grant; with a writable one it could, and a plain write would then race).
            unsafe { dst.add(offset + i).write_volatile(b) };
        }
        // SAFETY: `vaddr` came from `kmap_local_page` above, on this CPU, and is the last
        // local mapping taken.
        unsafe { bindings::kunmap_local(vaddr) };
        Ok(())
    }
}

impl<F: GrantFrame> Drop for Granted<F> {
    fn drop(&mut self) {
        // SAFETY: `self` is being dropped, so `frame` is taken out once.
        let frame = unsafe { ManuallyDrop::take(&mut self.frame) };
        // SAFETY: By the type invariant we own `self.r`, which grants the frame `frame`
        // keeps; nothing uses `self.r` after this.
        unsafe { defer(self.r, frame.into_owner()) };
    }
}

/// A block of grant references reserved with `gnttab_alloc_grant_references()`.
///
/// Claimed references are handed out by [`GrantPool::claim`] and come back with
/// [`GrantPool::release`] (or [`GrantPool::take_back`]); dropping the pool frees the
/// references that are still in it.
pub struct GrantPool {
    head: bindings::grant_ref_t,
    domid: u16,
}

// SAFETY: The pool head is a plain number; the grant-table code locks its own state.
unsafe impl Send for GrantPool {}

impl GrantPool {
    /// Reserves `count` references for granting frames to domain `domid`.
    pub fn new(count: u16, domid: u16) -> Result<Self> {
        let mut head: bindings::grant_ref_t = 0;
        // SAFETY: `head` is a valid location for the call to store the pool head in.
        to_result(unsafe { bindings::gnttab_alloc_grant_references(count, &mut head) })?;
        Ok(Self { head, domid })
    }

    /// Takes one reference out of the pool; `None` when it is empty.
    pub fn claim(&mut self) -> Option<ClaimedRef> {
        // SAFETY: `self.head` is a pool head returned by `gnttab_alloc_grant_references`.
        let r = unsafe { bindings::gnttab_claim_grant_reference(&mut self.head) };
        // INVARIANT: A reference claimed from the pool is ours and grants nothing.
        u32::try_from(r).ok().map(ClaimedRef)
    }

    /// Puts a reference back into the pool.
    pub fn release(&mut self, r: ClaimedRef) {
        let r = ManuallyDrop::new(r);
        // SAFETY: By the invariant of `ClaimedRef` we own `r.0` and it grants nothing; the
        // pool takes it over (it is not dropped).
        unsafe { bindings::gnttab_release_grant_reference(&mut self.head, r.0) };
    }

    /// Grants the pool's peer access to the frame of `frame` through `r`, read-only if
    /// `readonly`; the returned value owns both until the access has ended.
    pub fn grant<F: GrantFrame>(&self, r: ClaimedRef, frame: F, readonly: bool) -> Granted<F> {
        let r = ManuallyDrop::new(r).0;
        // SAFETY: By the invariant of `ClaimedRef` we own `r`, so no other user writes its
        // grant entry; the frame stays allocated while `frame` lives (`GrantFrame`), which
        // the returned `Granted` keeps until the access has ended.
        unsafe {
            bindings::gnttab_grant_foreign_access_ref(
                r,
                self.domid,
                frame.gfn() as kernel::ffi::c_ulong,
                i32::from(readonly),
            )
        };
        // INVARIANT: `r` grants `frame.gfn()` and is owned by the new value alone.
        Granted {
            r,
            frame: ManuallyDrop::new(frame),
        }
    }

    /// Ends the peer's access through `g` and puts its reference back into the pool,
    /// giving back the frame's owner; gives `g` back while the peer still uses the frame.
    pub fn take_back<F: GrantFrame>(&mut self, g: Granted<F>) -> Result<F, Granted<F>> {
        let (r, frame) = g.end_access()?;
        self.release(r);
        Ok(frame)
    }
}

impl Drop for GrantPool {
    fn drop(&mut self) {
        // SAFETY: `self.head` is a pool head; references still in it are unused.
        unsafe { bindings::gnttab_free_grant_references(self.head) };
    }
}

/// Delayed-work runs between two "still in use" log lines (C `grant-table.c` logs an entry
/// after 60 retries, one a second).
const PASSES_PER_LOG: u32 = 60;
/// Retry period of the deferred-end list, in milliseconds (C: `HZ`).
const RETRY_MS: u32 = 1000;

/// A reference whose access could not be ended yet, with what keeps its frame allocated.
struct Entry {
    r: bindings::grant_ref_t,
    owner: FrameOwner,
    next: Option<KBox<Entry>>,
}

/// The deferred-end list of this module.
struct DeferredState {
    /// Between `DeferredEnds::start` and its drop: entries may be added and the work
    /// may be queued.
    running: bool,
    head: Option<KBox<Entry>>,
    /// Consecutive work runs that left entries pending.
    passes: u32,
}

kernel::sync::global_lock! {
    // SAFETY: `DeferredEnds::start` initialises the lock once per module load (`LIST_INIT`)
    // and sets `LIST_READY` after; no one takes it before seeing `LIST_READY`.
    //
    // Taken in process context (device teardown, module exit), softirq (NAPI), with hard
    // IRQs off (netpoll runs NAPI so) and in the workqueue: an IRQ-disabling lock.
    unsafe(uninit) static DEFERRED: SpinLockIrq<DeferredState> = DeferredState {
        running: false,
        head: None,
        passes: 0,
    };
}

/// `LIST_INIT`: the lock and work initialisation has started; `LIST_READY`: it is done.
static LIST_INIT: AtomicBool = AtomicBool::new(false);
static LIST_READY: AtomicBool = AtomicBool::new(false);

/// The delayed work that retries the deferred ends.
struct RetryWork(Opaque<bindings::delayed_work>);

// SAFETY: The `delayed_work` is initialised once before `LIST_READY` and then only used
// through the workqueue API, which synchronises itself.
unsafe impl Sync for RetryWork {}

static RETRY_WORK: RetryWork = RetryWork(Opaque::uninit());

/// The module's deferred-end list: grant references whose access could not be ended when
/// their owner gave them up, each with what keeps its frame allocated, retried every second
/// from a delayed work (as `grant-table.c`'s deferred list with its timer).
///
/// The list is module-global (each driver module has its own, as it compiles
/// `common/kernel` into itself): an entry outlives the device that made it (the point is
/// that a device can go while its peer still maps its buffers), but must not outlive the
/// module's code, which runs the retries. Only a [`GrantingDriver`] runs it: the list
/// starts before the driver registers and stops after it unregistered, so only once every
/// device has gone. Entries still in use then whose owner is a page (or page reference)
/// go to the grant-table code's own deferred list (`gnttab_end_foreign_access`: built into
/// the kernel, it outlives the module, and takes over the page reference); those an skb
/// keeps (a slab head) are leaked, with one log line.
///
/// Grants given up while the list is not running (before `start`, after the stop) or
/// when memory for an entry is short are ended at once when the peer has let go, and
/// otherwise handed over or leaked the same way.
///
/// Dropping the value stops the list (process context: it waits for a running retry).
struct DeferredEnds(());

impl DeferredEnds {
    /// Starts the module's deferred-end list; `EBUSY` if it runs already.
    ///
    /// # Safety
    ///
    /// The returned value is dropped before the module's code goes (module exit): its drop
    /// alone stops the delayed work, which runs this module's code. A value forgotten
    /// (`mem::forget`) or leaked would leave the work queued after an unload.
    unsafe fn start() -> Result<Self> {
        if !LIST_INIT.swap(true, Ordering::AcqRel) {
            // SAFETY: Called once per module load (`LIST_INIT`), before any use
            // (`LIST_READY` is set only after).
            unsafe { DEFERRED.init() };
            // SAFETY: `RETRY_WORK` is a static `delayed_work`, initialised here once (as
            // above) while nothing can queue it (`running` is false).
            unsafe { bindings::xnt_init_delayed_work(RETRY_WORK.0.get(), Some(retry_work)) };
            LIST_READY.store(true, Ordering::Release);
        } else if !LIST_READY.load(Ordering::Acquire) {
            return Err(EBUSY);
        }
        let mut st = DEFERRED.lock();
        if st.running {
            return Err(EBUSY);
        }
        st.running = true;
        st.passes = 0;
        Ok(Self(()))
    }
}

impl Drop for DeferredEnds {
    fn drop(&mut self) {
        DEFERRED.lock().running = false;
        // Nothing queues the work once `running` is false (tested under the lock), so after
        // this the work is neither pending nor running.
        // SAFETY: `RETRY_WORK` was initialised by `start` (this value exists).
        unsafe { bindings::cancel_delayed_work_sync(RETRY_WORK.0.get()) };
        let mut list = DEFERRED.lock().head.take();
        let mut leaked = 0u32;
        while let Some(mut e) = list {
            list = e.next.take();
            let Entry { r, owner, .. } = KBox::into_inner(e);
            // SAFETY: The entry owns its granted reference and gives it up on success.
            if unsafe { try_end(r) } {
                drop(owner);
                continue;
            }
            // SAFETY: The entry owns `r`, a granted reference whose frame `owner` keeps
            // allocated, and gives both up.
            if let Err(owner) = unsafe { end_by_kernel(r, owner) } {
                // The peer may still write the frame: leak the owner and the reference.
                core::mem::forget(owner);
                leaked += 1;
            }
        }
        if leaked != 0 {
            pr_notice!(
                "{leaked} grant reference(s) still in use by the peer at unload: their memory is leaked\n"
            );
        }
    }
}

/// The xenbus registration of a driver that grants frames to its peer, with the module's
/// deferred-end list running around it: the list starts before the driver registers and
/// stops after it has unregistered (which removes every device, so every grant the
/// devices gave up has reached the list by then). Dropping it unregisters the driver, then
/// stops the list (process context).
///
/// A driver that grants keeps this, instead of a [`xenbus::Registration`], in its module
/// state. Without one, grants given up while the peer still uses them are handed to the
/// grant-table code at once (or leaked, for a slab head), as after an unload.
///
/// The list's delayed work runs this module's code, so the list must stop before the module
/// goes; tying it to the registration adds no obligation of its own: the registration must
/// be dropped before the module goes anyway (while registered, the xenbus core calls the
/// driver's callbacks, module code), and the module's exit does so by dropping the module
/// state. There is no other way to start the list, so a driver cannot leave it running
/// past an unload without leaving its driver registered too.
pub struct GrantingDriver<T: xenbus::Driver> {
    // Dropped in this order: the driver (and with it every device) first.
    _driver: xenbus::Registration<T>,
    _deferred: DeferredEnds,
}

impl<T: xenbus::Driver> GrantingDriver<T> {
    /// Starts the module's deferred-end list, then registers `T` with the xenbus core
    /// ([`xenbus::Registration::new`]); `EBUSY` if the list runs already (one such
    /// registration per module).
    pub fn register(module: &'static ThisModule, module_name: &'static CStr) -> Result<Self> {
        // SAFETY: The value is kept in `Self`, after the registration; a `Self` must be
        // dropped before the module goes, as the registration in it must (see the type's
        // documentation), and the value is dropped with it.
        let deferred = unsafe { DeferredEnds::start() }?;
        let driver = xenbus::Registration::new(module, module_name)?;
        Ok(Self {
            _driver: driver,
            _deferred: deferred,
        })
    }
}

/// Ends the access through `r` if the peer has let go and frees `r` (to the grant table's
/// free list); `false`, and nothing changed, while the peer still uses it. Logs nothing:
/// `gnttab_try_end_foreign_access` is `gnttab_end_foreign_access_ref` without its
/// "g.e. still in use" line (which a retry each second would repeat) plus the
/// `gnttab_free_grant_reference`, as `grant-table.c`'s own deferred list does.
///
/// # Safety
///
/// The caller owns `r`, a granted reference, and gives it up if this returns `true`.
unsafe fn try_end(r: bindings::grant_ref_t) -> bool {
    // SAFETY: Guaranteed by the caller.
    unsafe { bindings::gnttab_try_end_foreign_access(r) != 0 }
}

/// Hands `r` and the page `owner` stands for to the grant-table code's own deferred list
/// (`gnttab_end_foreign_access`), which ends the access now or, from its own timer, once
/// the peer lets go, and then frees `r` and releases the page reference. That list is part
/// of the kernel, so it outlives this module. Gives `owner` back (and nothing changed) if
/// it is an skb, which no page reference stands for. Any context.
///
/// # Safety
///
/// The caller owns `r`, a granted reference whose frame `owner` keeps allocated, and gives
/// both up if this returns `Ok`.
unsafe fn end_by_kernel(r: bindings::grant_ref_t, owner: FrameOwner) -> Result<(), FrameOwner> {
    let page = owner.into_page()?;
    // SAFETY: We own `r`, which grants the frame of `page` (the caller's guarantee), and
    // one reference to `page` (`into_page`), a page counted per page (an owned `Page`, or
    // a `PageRef`, made only for such a page); `gnttab_end_foreign_access` takes over both
    // (it frees `r` and puts the page once the access has ended, or leaks both if it cannot
    // defer them), and neither is used here again. It may be called in any context (it
    // allocates with `GFP_ATOMIC` in atomic context or with IRQs off).
    unsafe { bindings::gnttab_end_foreign_access(r, page.as_ptr()) };
    Ok(())
}

/// Gives up a reference the peer may still access, and the owner of its frame, when this
/// module's list cannot take them: [`end_by_kernel`] for a page, else both are leaked
/// with a log line.
///
/// # Safety
///
/// The caller owns `r`, a granted reference whose frame `owner` keeps allocated, and gives
/// both up.
unsafe fn hand_over_or_leak(r: bindings::grant_ref_t, owner: FrameOwner, why: &str) {
    // SAFETY: Guaranteed by the caller.
    if let Err(owner) = unsafe { end_by_kernel(r, owner) } {
        core::mem::forget(owner);
        pr_notice!(
            "grant reference {r:#x} still in use by the peer, {why}: its memory is leaked\n"
        );
    }
}

/// Ends the access through `r` now if the peer has let go, then frees `owner`; else puts
/// both on the deferred-end list (or leaks them if the list does not run or memory is
/// short). Any context.
///
/// # Safety
///
/// The caller owns `r`, a granted reference whose frame `owner` keeps allocated, and gives
/// both up.
unsafe fn defer(r: bindings::grant_ref_t, owner: FrameOwner) {
    // SAFETY: Guaranteed by the caller.
    if unsafe { try_end(r) } {
        drop(owner);
        return;
    }
    if !LIST_READY.load(Ordering::Acquire) {
        // SAFETY: Guaranteed by the caller.
        unsafe { hand_over_or_leak(r, owner, "no deferred-end list") };
        return;
    }
    // Allocated before the owner moves in: a failed `KBox::new` would drop it.
    let Ok(slot) = KBox::<Entry>::new_uninit(GFP_ATOMIC) else {
        // SAFETY: Guaranteed by the caller.
        unsafe { hand_over_or_leak(r, owner, "no memory for its deferred end") };
        return;
    };
    let mut st = DEFERRED.lock();
    if !st.running {
        drop(st);
        drop(slot);
        // SAFETY: Guaranteed by the caller.
        unsafe { hand_over_or_leak(r, owner, "deferred-end list stopped") };
        return;
    }
    let next = st.head.take();
    st.head = Some(KBox::write(slot, Entry { r, owner, next }));
    // Under the lock, so that a stop cannot slip in between the test and the queueing.
    // SAFETY: `RETRY_WORK` was initialised before `LIST_READY` was set.
    unsafe { bindings::xnt_schedule_delayed_work(RETRY_WORK.0.get(), retry_delay()) };
}

fn retry_delay() -> kernel::time::Jiffies {
    kernel::time::msecs_to_jiffies(RETRY_MS)
}

/// The delayed work: one pass over the deferred-end list.
///
/// # Safety
///
/// Called by the workqueue for `RETRY_WORK` only.
unsafe extern "C" fn retry_work(_work: *mut bindings::work_struct) {
    retry_pass();
}

/// Retries every entry once: those the peer has let go are ended and freed (outside the
/// lock), the others go back; queues the next pass while entries remain and the list runs.
fn retry_pass() {
    let mut list = DEFERRED.lock().head.take();
    let mut pending: Option<KBox<Entry>> = None;
    let mut still = 0u32;
    while let Some(mut e) = list {
        list = e.next.take();
        // SAFETY: The entry owns its granted reference and gives it up on success.
        if unsafe { try_end(e.r) } {
            // Frees the owner (page, page reference or skb).
            drop(e);
        } else {
            e.next = pending;
            pending = Some(e);
            still += 1;
        }
    }
    let mut st = DEFERRED.lock();
    while let Some(mut e) = pending {
        pending = e.next.take();
        e.next = st.head.take();
        st.head = Some(e);
    }
    st.passes = if still == 0 {
        0
    } else {
        st.passes.wrapping_add(1)
    };
    let log = still != 0 && st.passes % PASSES_PER_LOG == 0;
    if st.running && st.head.is_some() {
        // SAFETY: `RETRY_WORK` was initialised before the list ran.
        unsafe { bindings::xnt_schedule_delayed_work(RETRY_WORK.0.get(), retry_delay()) };
    }
    drop(st);
    if log {
        pr_info!("{still} grant reference(s) still in use by the peer; retrying every second\n");
    }
}
