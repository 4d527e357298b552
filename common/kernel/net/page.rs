// SPDX-License-Identifier: GPL-2.0

//! Pages: the owned order-0 [`Page`] that receive buffers and grants use, and [`PageRef`], a
//! counted reference to a page someone else allocated.

use core::ptr::NonNull;

use kernel::prelude::*;

use super::super::bindings;
use super::super::protocol::netif::PAGE_SIZE as XEN_PAGE_SIZE;

/// An owned page (order 0).
pub struct Page(pub(super) NonNull<bindings::page>);

// SAFETY: A page reference can be freed from any context.
unsafe impl Send for Page {}

impl Page {
    /// Allocates a page without sleeping; `None` under memory pressure.
    pub fn alloc_atomic() -> Option<Self> {
        // SAFETY: Plain allocation.
        NonNull::new(unsafe { bindings::xnt_page_alloc() }).map(Page)
    }

    /// Allocates a zeroed page without sleeping; `None` under memory pressure.
    ///
    /// For every page granted to a peer: a grant lets the peer read the whole page, and a
    /// page fresh from the allocator holds whatever this domain kept there before
    /// (XSA-403, CVE-2022-33740).
    pub fn alloc_zeroed_atomic() -> Option<Self> {
        // SAFETY: Plain allocation.
        NonNull::new(unsafe { bindings::xnt_page_alloc_zeroed() }).map(Page)
    }

    /// The page's guest frame number, for granting it.
    pub fn gfn(&self) -> u64 {
        // SAFETY: Valid page.
        unsafe { bindings::xnt_page_gfn(self.0.as_ptr()) as u64 }
    }

    /// Copies `out.len()` bytes from `offset` into the page (its first Xen page) to `out`
    /// (for data a grant copy put there); `EINVAL` if that range leaves the page.
    ///
    /// `&mut self`: nothing else reads or writes the page meanwhile. A grant-copy
    /// destination made of the page (the backend's `LocalDst`) borrows it mutably until
    /// its copies ran, and a granted page is owned by its grant, which lends it out shared
    /// only.
    pub fn read(&mut self, offset: usize, out: &mut [u8]) -> Result {
        let end = offset.checked_add(out.len()).ok_or(EINVAL)?;
        if end > XEN_PAGE_SIZE {
            return Err(EINVAL);
        }
        // SAFETY: An owned, allocated page; `kmap_local_page` maps it for this task until
        // the `kunmap_local` below (a plain address computation without highmem).
        let addr = unsafe { bindings::kmap_local_page(self.0.as_ptr()) };
        // SAFETY: `addr` maps the whole page and `offset..end` lies inside it (checked
        // above); `out` is a distinct, writable buffer of that length; no one writes the
        // page meanwhile (`&mut self`, see above).
        unsafe {
            core::ptr::copy_nonoverlapping(
                addr.cast::<u8>().add(offset),
                out.as_mut_ptr(),
                out.len(),
            )
        };
        // SAFETY: `addr` came from `kmap_local_page` above, the last mapping this task
        // made, and is unmapped once.
        unsafe { bindings::kunmap_local(addr) };
        Ok(())
    }

    /// The page, for mapping it; ownership stays with `self`.
    pub(crate) fn as_raw(&self) -> *mut bindings::page {
        self.0.as_ptr()
    }

    /// Gives up ownership: the caller takes over the page's only reference, which
    /// `put_page` releases (for an order-0 page from `alloc_page`, as this one, the same as
    /// `__free_page`).
    pub(crate) fn into_raw(self) -> NonNull<bindings::page> {
        core::mem::ManuallyDrop::new(self).0
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        // SAFETY: We own this page reference, to an order-0 page (`__free_page`).
        unsafe { bindings::__free_pages(self.0.as_ptr(), 0) };
    }
}

/// A reference (`get_page`) to a page that something else allocated, such as a fragment
/// page of an skb; dropping it gives the reference back (`put_page`), which frees the page
/// (its folio) when it was the last one.
///
/// # Invariants
///
/// `self.0` is a page whose reference count includes one reference owned by `self`.
pub struct PageRef(NonNull<bindings::page>);

// SAFETY: A page reference can be given back from any context.
unsafe impl Send for PageRef {}

impl PageRef {
    /// # Safety
    ///
    /// `page` is a live, per-page reference-counted page (not slab memory) and the caller
    /// hands over one reference to it, taken with `get_page`.
    pub(crate) unsafe fn from_raw(page: NonNull<bindings::page>) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Self(page)
    }

    /// Gives up ownership: the caller takes over the reference, which `put_page` releases.
    pub(crate) fn into_raw(self) -> NonNull<bindings::page> {
        core::mem::ManuallyDrop::new(self).0
    }
}

impl Drop for PageRef {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we own one reference to this page.
        unsafe { bindings::xnt_put_page(self.0.as_ptr()) };
    }
}
