// SPDX-License-Identifier: GPL-2.0

//! Grant references: a private pool of references, granting a frame to another domain and
//! ending that access again.
//!
//! C header: [`include/xen/grant_table.h`](srctree/include/xen/grant_table.h)

use kernel::error::to_result;
use kernel::prelude::*;

use super::bindings;
use super::net::{Page, SkBuff};

/// A grant reference number, as written into rings and XenStore.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrantRef(u32);

impl GrantRef {
    /// The reference as the wire carries it.
    pub const fn raw(self) -> u32 {
        self.0
    }

    pub(crate) const fn from_raw(raw: u32) -> Self {
        Self(raw)
    }
}

/// A block of grant references reserved with `gnttab_alloc_grant_references()`.
///
/// Claimed references are handed out by [`GrantPool::claim`] and must be given back with
/// [`GrantPool::release`] once the peer's access has ended; dropping the pool frees the
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
    pub fn claim(&mut self) -> Option<GrantRef> {
        // SAFETY: `self.head` is a pool head returned by `gnttab_alloc_grant_references`.
        let r = unsafe { bindings::gnttab_claim_grant_reference(&mut self.head) };
        u32::try_from(r).ok().map(GrantRef)
    }

    /// Puts back a reference whose access has ended (or was never granted).
    pub fn release(&mut self, r: GrantRef) {
        // SAFETY: `r` was claimed from this pool and no access through it is active.
        unsafe { bindings::gnttab_release_grant_reference(&mut self.head, r.0) };
    }

    /// Grants the pool's peer access to frame `gfn` through `r`.
    pub fn grant(&self, r: GrantRef, gfn: u64, readonly: bool) {
        // SAFETY: `r` is a claimed reference of this pool, so no other user writes its
        // grant entry; the frame stays allocated until the access has ended (the caller
        // keeps the page or skb that owns it).
        unsafe {
            bindings::gnttab_grant_foreign_access_ref(
                r.0,
                self.domid,
                gfn as kernel::ffi::c_ulong,
                i32::from(readonly),
            )
        };
    }

    /// Ends the peer's access through `r`; `false` while the peer still uses the frame.
    pub fn end_access(&self, r: GrantRef) -> bool {
        // SAFETY: `r` is a reference of this pool; ending access only touches its entry.
        unsafe { bindings::gnttab_end_foreign_access_ref(r.0) != 0 }
    }

    /// Ends the peer's access through `r` and puts `r` back into the pool; `false` (and
    /// `r` still granted) while the peer uses the frame, in which case the caller hands
    /// it to [`GrantPool::end_access_deferred`] and must not reuse the frame.
    pub fn take_back(&mut self, r: GrantRef) -> bool {
        if !self.end_access(r) {
            return false;
        }
        self.release(r);
        true
    }

    /// Hands a reference whose access could not be ended, and the page behind it, to the
    /// grant-table code, which frees both once the peer lets go.
    pub fn end_access_deferred(&self, r: GrantRef, page: Option<Page>) {
        let raw = page.map_or(core::ptr::null_mut(), Page::into_raw);
        // SAFETY: `r` is a granted reference of this pool; ownership of the reference and of
        // the page (if any) passes to the grant-table code, which frees them later.
        unsafe { bindings::gnttab_end_foreign_access(r.0, raw) };
    }

    /// Hands a reference whose access could not be ended to the grant-table code together
    /// with a reference to the page under chunk `chunk` of `skb` (the chunk `r` grants, see
    /// [`SkBuff::chunks`]), so that the page stays allocated until the peer lets go while
    /// `skb` itself can be freed now (C `xennet_release_tx_bufs`: `get_page`, then
    /// `gnttab_end_foreign_access(ref, page)`).
    ///
    /// Returns `false`, and hands over `r` without a page, when that memory cannot be held
    /// apart from the skb (a slab head): the caller then keeps `skb` if the frame must stay
    /// allocated.
    pub fn end_access_deferred_skb(&self, r: GrantRef, skb: &SkBuff, chunk: usize) -> bool {
        let page = skb.chunk_page_ref(chunk);
        let raw = page.map_or(core::ptr::null_mut(), |p| p.as_ptr());
        // SAFETY: `r` is a granted reference of this pool; ownership of the reference, and of
        // the page reference `chunk_page_ref` took (if any), passes to the grant-table code,
        // which drops them (`put_page`) once the peer's access has ended.
        unsafe { bindings::gnttab_end_foreign_access(r.0, raw) };
        page.is_some()
    }
}

impl Drop for GrantPool {
    fn drop(&mut self) {
        // SAFETY: `self.head` is a pool head; references still in it are unused.
        unsafe { bindings::gnttab_free_grant_references(self.head) };
    }
}
