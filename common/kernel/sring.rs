// SPDX-License-Identifier: GPL-2.0

//! Shared netif ring pages: [`RingPage`] (volatile access to the four producer/event
//! indices and the slots, for both ends) and the frontend's [`FrontRing`] (allocation and
//! granting through `xenbus_setup_ring()`). The backend's `BackRing` is in `backend.rs`.
//!
//! The page is shared with the peer domain, which may write any of it at any time. Every
//! access is therefore a single volatile copy into or out of a plain value; callers parse
//! and validate the copied bytes (see [`super::protocol`]) and never look at the page twice
//! for the same slot.
//!
//! Ordering against the peer follows the C ring macros of
//! [`include/xen/interface/io/ring.h`](srctree/include/xen/interface/io/ring.h): the index
//! and slot copies are volatile (C's `READ_ONCE`/`WRITE_ONCE` and plain accesses to the
//! `volatile`-free shared struct), and the barriers between them are the kernel memory
//! model's ([`virt_rmb`], [`virt_wmb`], [`virt_mb`] below), not Rust's `fence`, which
//! orders atomics only and says nothing about volatile accesses or another domain.

use core::ffi::c_void;

use kernel::error::to_result;
use kernel::prelude::*;
use kernel::sync::barrier::{mb, smp_mb, Full, Read, Write};

use super::bindings;
use super::protocol::ring::{
    header as sring, need_notify, slot_offset, RING_HEADER_SIZE, RING_PAGE_SIZE,
};
use super::xenbus::Device;

// The `virt_*` barriers of `asm-generic/barrier.h` order memory against another domain,
// which runs on another physical CPU even when this kernel is built without `CONFIG_SMP`:
// they are the `__smp_*` barriers unconditionally. The kernel crate has no `virt_*`
// variant; its `smp_mb` is the `__smp_*` barrier with `CONFIG_SMP` (exactly `virt_*`), and
// only a compiler barrier without it, so a UP build uses the mandatory `mb` family
// instead, which orders at least as strongly as `__smp_*` on every architecture (x86:
// `mfence`/`lfence`/`sfence` for `lock addl`/compiler barrier/compiler barrier).

/// `virt_rmb()`: the peer's writes read before it are seen before the reads after it.
#[inline]
pub(crate) fn virt_rmb() {
    if cfg!(CONFIG_SMP) {
        smp_mb(Read)
    } else {
        mb(Read)
    }
}

/// `virt_wmb()`: the peer sees the writes before it before the writes after it.
#[inline]
pub(crate) fn virt_wmb() {
    if cfg!(CONFIG_SMP) {
        smp_mb(Write)
    } else {
        mb(Write)
    }
}

/// `virt_mb()`: every access before it is ordered before every access after it (in
/// particular a store before a later load, which the two above do not order).
#[inline]
pub(crate) fn virt_mb() {
    if cfg!(CONFIG_SMP) {
        smp_mb(Full)
    } else {
        mb(Full)
    }
}

/// Volatile access to a mapped, page-sized ring shared with the peer: the four header
/// indices and the slots. Owned by [`FrontRing`] and by the backend's `BackRing`.
///
/// # Invariants
///
/// `vaddr` points to a valid, page-aligned page for as long as the owner keeps it mapped;
/// `SIZE` slots of `SLOT` bytes fit behind the 64-byte header.
pub(crate) struct RingPage<const SLOT: usize, const SIZE: u32> {
    vaddr: *mut c_void,
}

impl<const SLOT: usize, const SIZE: u32> RingPage<SLOT, SIZE> {
    /// # Safety
    ///
    /// `vaddr` must point to a valid page that stays valid while the `RingPage` is used.
    pub(crate) unsafe fn new(vaddr: *mut c_void) -> Self {
        const {
            assert!(SIZE.is_power_of_two());
            assert!(RING_HEADER_SIZE + SIZE as usize * SLOT <= RING_PAGE_SIZE);
        }
        Self { vaddr }
    }

    pub(crate) fn vaddr(&self) -> *mut c_void {
        self.vaddr
    }

    fn word_ptr(&self, offset: usize) -> *mut u32 {
        // The offsets are the constants of `sring`, all inside the header and 4-aligned.
        self.vaddr.cast::<u8>().wrapping_add(offset).cast::<u32>()
    }

    /// Reads a header index (one of the `sring` offsets).
    pub(crate) fn read_word(&self, offset: usize) -> u32 {
        // SAFETY: By the type invariant the page is valid; `offset` is a 4-aligned header
        // field. The peer may write it concurrently, hence the volatile read.
        unsafe { core::ptr::read_volatile(self.word_ptr(offset)) }
    }

    /// Writes a header index (one of the `sring` offsets).
    pub(crate) fn write_word(&self, offset: usize, value: u32) {
        // SAFETY: As in `read_word`.
        unsafe { core::ptr::write_volatile(self.word_ptr(offset), value) }
    }

    /// Copies slot `idx` (free-running index) out of the page.
    pub(crate) fn read_slot(&self, idx: u32) -> [u8; SLOT] {
        let off = slot_offset(idx, SIZE, SLOT);
        // SAFETY: `slot_offset` masks the index with `SIZE - 1`, and `SIZE` slots of `SLOT`
        // bytes fit behind the header (type invariant), so the read stays inside the page.
        // `[u8; SLOT]` has no alignment requirement.
        unsafe { core::ptr::read_volatile(self.vaddr.cast::<u8>().add(off).cast::<[u8; SLOT]>()) }
    }

    /// Writes slot `idx` (free-running index) into the page.
    pub(crate) fn write_slot(&self, idx: u32, bytes: &[u8; SLOT]) {
        let off = slot_offset(idx, SIZE, SLOT);
        // SAFETY: As in `read_slot`.
        unsafe {
            core::ptr::write_volatile(
                self.vaddr.cast::<u8>().add(off).cast::<[u8; SLOT]>(),
                *bytes,
            )
        }
    }
}

/// A one-page ring shared with the backend, owned by the frontend.
///
/// `SLOT` is the slot size in bytes and `SIZE` the number of slots.
///
/// # Invariants
///
/// `page` is a page-sized, page-aligned allocation made by `xenbus_setup_ring()` and
/// granted to the peer as `gref`; it stays valid until `drop`.
pub struct FrontRing<const SLOT: usize, const SIZE: u32> {
    page: RingPage<SLOT, SIZE>,
    gref: bindings::grant_ref_t,
}

// SAFETY: The ring is a page plus a grant number; all accesses are volatile copies, and
// callers serialise producers/consumers with their own locks.
unsafe impl<const SLOT: usize, const SIZE: u32> Send for FrontRing<SLOT, SIZE> {}
// SAFETY: As above; `&FrontRing` only permits volatile word and slot copies.
unsafe impl<const SLOT: usize, const SIZE: u32> Sync for FrontRing<SLOT, SIZE> {}

impl<const SLOT: usize, const SIZE: u32> FrontRing<SLOT, SIZE> {
    /// Allocates a zeroed ring page, grants it to the other end of `dev` and initialises
    /// the indices as `SHARED_RING_INIT` does.
    pub fn new(dev: &Device) -> Result<Self> {
        let mut vaddr: *mut c_void = core::ptr::null_mut();
        let mut gref: bindings::grant_ref_t = 0;
        // SAFETY: `dev` is a live xenbus device; `vaddr` and `gref` are valid out
        // parameters for one page.
        to_result(unsafe {
            bindings::xenbus_setup_ring(
                dev.as_raw(),
                bindings::GFP_KERNEL,
                &mut vaddr,
                1,
                &mut gref,
            )
        })?;
        // SAFETY: `xenbus_setup_ring` succeeded, so `vaddr` is a granted, zeroed page,
        // freed only in `drop`.
        let page = unsafe { RingPage::new(vaddr) };
        // INVARIANT: as above.
        let ring = Self { page, gref };
        ring.page.write_word(sring::REQ_EVENT, 1);
        ring.page.write_word(sring::RSP_EVENT, 1);
        Ok(ring)
    }

    /// The number of the grant reference the peer maps the ring page with, for XenStore.
    ///
    /// Only the number: the reference is owned by the ring, and only its drop ends the
    /// access (see [`super::grant`]).
    pub fn gref(&self) -> u32 {
        self.gref
    }

    /// The peer's response producer index, read once; later slot reads are ordered after it
    /// (`rp = READ_ONCE(sring->rsp_prod); virt_rmb();` as the C netfront's consumers do).
    pub fn rsp_prod(&self) -> u32 {
        let v = self.page.read_word(sring::RSP_PROD);
        virt_rmb();
        v
    }

    /// Publishes requests up to `new_prod` (exclusive) and tells whether the peer asked to
    /// be notified about them (`RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`).
    pub fn push_requests(&self, new_prod: u32) -> bool {
        let old = self.page.read_word(sring::REQ_PROD);
        // The backend sees the requests before the updated producer index.
        virt_wmb();
        self.page.write_word(sring::REQ_PROD, new_prod);
        // The backend sees the new requests before we check `req_event`.
        virt_mb();
        need_notify(old, new_prod, self.page.read_word(sring::REQ_EVENT))
    }

    /// Asks the peer for an event when the response producer passes `cons`, then re-reads
    /// the producer: a value different from `cons` means more work arrived meanwhile
    /// (`RING_FINAL_CHECK_FOR_RESPONSES` after its first check found nothing).
    pub fn final_check_responses(&self, cons: u32) -> bool {
        self.page.write_word(sring::RSP_EVENT, cons.wrapping_add(1));
        virt_mb();
        self.rsp_prod() != cons
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

impl<const SLOT: usize, const SIZE: u32> Drop for FrontRing<SLOT, SIZE> {
    fn drop(&mut self) {
        let mut vaddr = self.page.vaddr();
        // SAFETY: By the type invariant the page and `gref` came from `xenbus_setup_ring`
        // for one page, and nothing else ends or frees them (`gref()` gives out only the
        // number). Teardown ends the grant; while the peer still maps the page,
        // `gnttab_end_foreign_access(gref, NULL)` takes a page reference of its own and
        // keeps the page (an `alloc_pages_exact` page, counted per page) until the peer lets
        // go, so `free_pages_exact` here does not free it under the peer.
        unsafe { bindings::xenbus_teardown_ring(&mut vaddr, 1, &mut self.gref) };
    }
}
