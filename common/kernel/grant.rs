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
//! * Deferred: the reference plus a [`FrameOwner`] (what keeps the frame allocated) handed
//!   to the grant-table code (`gnttab_end_foreign_access`), which ends the access once the
//!   peer lets go and then drops the page reference.
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

use kernel::error::to_result;
use kernel::prelude::*;

use super::bindings;
use super::net::{Page, PageRef, SkBuff, SkbChunk};

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

/// What keeps a granted frame allocated once its grant is ended later: a page, a page
/// reference, or an skb. Dropping it frees that.
pub struct FrameOwner(Owner);

enum Owner {
    Page(Page),
    PageRef(PageRef),
    Skb(SkBuff),
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
    /// reference), and otherwise hands both to the grant-table code, which ends the access
    /// once the peer lets go.
    ///
    /// May be called in any context.
    pub fn end_deferred(self) {
        let (r, frame) = self.into_parts();
        // SAFETY: By the type invariant we own `r`, which grants the frame `frame` keeps.
        unsafe { defer(r, frame.into_owner()) };
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

/// Hands a granted reference and the owner of its frame to the grant-table code, which ends
/// the access now or, while the peer still uses the frame, later, and then drops the page
/// reference (`gnttab_end_foreign_access`). Any context.
///
/// A slab head's skb is leaked (its socket charge was given back): its memory cannot be
/// held apart from the skb, so the grant-table code gets no page.
///
/// # Safety
///
/// The caller owns `r`, a granted reference whose frame `owner` keeps allocated, and gives
/// both up.
unsafe fn defer(r: bindings::grant_ref_t, owner: FrameOwner) {
    let page = match owner.0 {
        Owner::Page(page) => page.into_raw(),
        Owner::PageRef(page) => page.into_raw(),
        Owner::Skb(skb) => {
            core::mem::forget(skb);
            core::ptr::null_mut()
        }
    };
    // SAFETY: The caller gives up `r`; ownership of it and of the page reference (if any)
    // passes to the grant-table code, which frees them once the peer's access has ended.
    unsafe { bindings::gnttab_end_foreign_access(r, page) };
}
