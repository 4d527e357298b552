// SPDX-License-Identifier: GPL-2.0

//! Socket buffers: the owned [`SkBuff`], its per-page [`Chunk`]s ([`SkbChunk`]: an skb
//! reference as the owner of one of them), and its [`Gso`] and [`ChecksumState`].
//!
//! C header: [`include/linux/skbuff.h`](srctree/include/linux/skbuff.h)

use core::ops::ControlFlow;
use core::ptr::NonNull;

use kernel::error::to_result;
use kernel::page::{PAGE_MASK, PAGE_SHIFT, PAGE_SIZE};
use kernel::prelude::*;

use super::super::bindings;
use super::super::protocol::ctrl::Flow;
use super::super::protocol::netif::PAGE_SIZE as XEN_PAGE_SIZE;
use super::super::protocol::pages::page_chunks;
use super::{NetDevRef, Page, PageRef};

/// The state of `skb->ip_summed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumState {
    /// No checksum information.
    None,
    /// The checksum was verified.
    Unnecessary,
    /// A full checksum is in `skb->csum`.
    Complete,
    /// The checksum still has to be filled in (offload).
    Partial,
}

/// GSO kinds as the netif protocol knows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gso {
    /// TCP over IPv4, with the MSS.
    TcpV4(u16),
    /// TCP over IPv6, with the MSS.
    TcpV6(u16),
    /// A GSO type the protocol cannot carry.
    Other,
}

/// An owned reference to a socket buffer; dropping it frees the skb as a drop
/// (`dev_kfree_skb_any`); [`SkBuff::consume`] frees it as successfully used.
pub struct SkBuff(pub(super) NonNull<bindings::sk_buff>);

// SAFETY: An skb reference can be passed between contexts; freeing works from any context.
unsafe impl Send for SkBuff {}

/// One Xen page worth of packet data: frame number, offset and length.
#[derive(Clone, Copy, Debug, Default)]
pub struct Chunk {
    /// Guest frame number of the page.
    pub gfn: u64,
    /// Offset of the data inside the page.
    pub offset: u16,
    /// Length of the data (at most the rest of the page).
    pub len: u16,
}

/// A reference to an skb as the owner of one of its [`Chunk`]s: the frame of chunk
/// [`index`](Self::index) stays allocated while this value lives. Made by
/// [`SkBuff::into_chunk`]; what a TX grant owns.
///
/// # Invariants
///
/// `pfn` was, when the value was made, the frame of chunk `index` of `skb` (as
/// [`SkBuff::chunks`] splits it), and `gfn` is its guest frame number. It stays allocated
/// while `skb` lives: an skb reference keeps the skb's head and fragment pages, and while
/// more than one reference exists (this one is never the only one for long: it was made
/// from a [`SkBuff::new_ref`]) no [`SkBuff`] method replaces the head or drops a fragment:
/// each such method (`linearize`, `finish_rx`, `add_page_frag`, `put_from_page`,
/// `put_chunks`, `NapiPoll::gro_receive`) first checks that its reference is the only one
/// (`skb_shared`) and fails otherwise. The C functions behind them must not be called on a
/// shared skb: `pskb_expand_head` BUGs on one, and `__pskb_pull_tail` on a shared, uncloned
/// skb would `skb_frag_unref` fragment pages another owner still uses. With only this one
/// reference, nothing else can call them. (Moving `skb->data` within the head, `skb_pull`,
/// frees nothing: hence the recorded frame rather than a later lookup by index.)
pub struct SkbChunk {
    skb: SkBuff,
    index: u8,
    pfn: usize,
    gfn: u64,
}

impl SkbChunk {
    /// Which chunk of the skb this is.
    pub fn index(&self) -> usize {
        usize::from(self.index)
    }

    /// The guest frame number of the chunk's page.
    pub fn gfn(&self) -> u64 {
        self.gfn
    }

    /// The skb.
    pub fn skb(&self) -> &SkBuff {
        &self.skb
    }

    /// Gives the skb reference back.
    pub fn into_skb(self) -> SkBuff {
        self.skb
    }

    /// Takes a reference (`get_page`) to the chunk's page, so that the memory outlives the
    /// skb; `None` if that memory is not reference-counted per page (a slab or
    /// large-kmalloc head, which only the skb keeps allocated).
    pub(crate) fn page_ref(&self) -> Option<PageRef> {
        // SAFETY: By the type invariant `pfn` is an allocated frame of the skb's data, so
        // it has a `struct page`.
        let page = unsafe { bindings::xnt_pfn_to_page(self.pfn) };
        // SAFETY: `page` is live (above); testing its folio's type only reads it.
        if !unsafe { bindings::xnt_page_refcounted(page) } {
            return None;
        }
        // SAFETY: `page` is live and held by the skb (above), and reference-counted per
        // page (tested above), so `get_page` takes a reference of our own.
        unsafe { bindings::xnt_get_page(page) };
        let page = NonNull::new(page)?;
        // SAFETY: `page` is live, counted per page, and the reference taken above is ours.
        Some(unsafe { PageRef::from_raw(page) })
    }
}

/// The most chunks one [`SkBuff::put_chunks`] call describes.
#[cfg(xnt_backend)]
pub(crate) const MAX_PUT_CHUNKS: usize = 4;

/// `offset_in_page(p)`.
fn offset_in_page(p: *const core::ffi::c_void) -> u32 {
    (p as usize & !PAGE_MASK) as u32
}

// The chunk arithmetic of `protocol::pages` (`page_chunks`, used by
// `SkBuff::chunk_count`) is in Xen pages; the walk below splits at kernel pages.
const _: () = assert!(PAGE_SIZE == XEN_PAGE_SIZE);

/// Calls `emit` with one chunk per page of the `len` bytes that start `offset` bytes after
/// the start of frame `pfn` (`offset` may lie beyond that first page), as many as
/// [`page_chunks`]`(offset, len)`; stops at, and returns, the first error of `emit`.
fn add_chunks(pfn: usize, offset: u32, len: u32, emit: &mut impl FnMut(Chunk) -> Result) -> Result {
    let mut pfn = pfn.wrapping_add((offset >> PAGE_SHIFT) as usize);
    let mut offset = offset & !(PAGE_MASK as u32);
    let mut len = len;
    while len != 0 {
        let l = len.min(PAGE_SIZE as u32 - offset);
        // SAFETY: `xen_page_to_gfn(pfn_to_page(pfn))` only computes with frame numbers (on
        // PV a bounds-checked p2m lookup); `pfn` is a frame of the caller's data.
        let gfn = unsafe { bindings::xnt_pfn_to_gfn(pfn) };
        emit(Chunk {
            gfn: gfn as u64,
            offset: offset as u16,
            len: l as u16,
        })?;
        len -= l;
        offset = 0;
        pfn = pfn.wrapping_add(1);
    }
    Ok(())
}

/// An `emit` for [`add_chunks`] that stores the chunks in `out`, counting them in `n`;
/// `E2BIG` when `out` has no room left for the next one.
fn store_in<'a>(out: &'a mut [Chunk], n: &'a mut usize) -> impl FnMut(Chunk) -> Result + 'a {
    move |chunk| {
        let slot = out.get_mut(*n).ok_or(E2BIG)?;
        *slot = chunk;
        *n += 1;
        Ok(())
    }
}

/// The frame of chunk `*index` of the `len` bytes `offset` bytes after frame `pfn`, split
/// per page as [`add_chunks`] splits them; when the range has fewer chunks, `None` with
/// its chunk count taken off `*index`.
fn nth_chunk_pfn(pfn: usize, offset: u32, len: u32, index: &mut usize) -> Option<usize> {
    let mut pfn = pfn.wrapping_add((offset >> PAGE_SHIFT) as usize);
    let mut offset = offset & !(PAGE_MASK as u32);
    let mut len = len;
    while len != 0 {
        if *index == 0 {
            return Some(pfn);
        }
        *index -= 1;
        len -= len.min(PAGE_SIZE as u32 - offset);
        offset = 0;
        pfn = pfn.wrapping_add(1);
    }
    None
}

/// A field of a bindgen union emulation (`__BindgenUnionField<T>`, a zero-sized marker at
/// the start of the union) as a pointer to its type `T`. `T` is inferred from the field, so
/// the caller names no anonymous bindgen type (`sk_buff__bindgen_ty_4__bindgen_ty_2`, ...),
/// whose number a kernel update may give to another type.
const fn union_field<T>(p: *mut kernel::bindings::__BindgenUnionField<T>) -> *mut T {
    p.cast()
}

/// `&skb->protocol`. The field is in the skb's `headers` struct group, a union of an
/// anonymous struct and the struct `headers` with the same members, which bindgen emits as
/// a union emulation (`__bindgen_anon_4`, a struct of `__BindgenUnionField`s).
///
/// # Safety
///
/// `skb` points to an `sk_buff` (not necessarily initialised: nothing is read).
const unsafe fn protocol_ptr(skb: *mut bindings::sk_buff) -> *mut bindings::__be16 {
    // SAFETY: `skb` points to an `sk_buff` (the caller's requirement); this only computes
    // the address of one of its fields, reading nothing. `union_field` gives the `headers`
    // member's address with its own type, which has `protocol`.
    unsafe { &raw mut (*union_field(&raw mut (*skb).__bindgen_anon_4.headers)).protocol }
}

// `skb->protocol` is where C has it (see `common/kernel/layout.rs` for the other fields).
const _: () = {
    let mut skb = core::mem::MaybeUninit::<bindings::sk_buff>::uninit();
    let base = skb.as_mut_ptr();
    // SAFETY: `base` points to an (uninitialised) `sk_buff`; `protocol_ptr` reads nothing,
    // and its result is a field address inside the same object.
    let offset = unsafe { protocol_ptr(base).byte_offset_from(base) };
    assert!(
        offset as usize == bindings::XNT_OFF_SKB_PROTOCOL as usize,
        "`sk_buff.protocol` is not at C's offset"
    );
};

/// The members of the skb's `headers` struct group as bindgen generates the group's named
/// struct (a kernel update that renumbers the anonymous types fails [`headers_ptr`]'s
/// type check rather than picking another struct).
type SkbHeaders = bindings::sk_buff__bindgen_ty_4__bindgen_ty_2;

/// `&skb->headers`: the `headers` member of the group's bindgen union emulation (see
/// [`protocol_ptr`]), where `hash` and the `l4_hash` / `sw_hash` bit fields are.
///
/// # Safety
///
/// `skb` points to an `sk_buff` (not necessarily initialised: nothing is read).
const unsafe fn headers_ptr(skb: *mut bindings::sk_buff) -> *mut SkbHeaders {
    // SAFETY: As in `protocol_ptr`: the address of a member, nothing read.
    unsafe { union_field(&raw mut (*skb).__bindgen_anon_4.headers) }
}

// `skb->hash` is where C has it.
const _: () = {
    let mut skb = core::mem::MaybeUninit::<bindings::sk_buff>::uninit();
    let base = skb.as_mut_ptr();
    // SAFETY: As for `protocol` above: addresses inside one (uninitialised) `sk_buff`.
    let offset = unsafe { (&raw mut (*headers_ptr(base)).hash).byte_offset_from(base) };
    assert!(
        offset as usize == bindings::XNT_OFF_SKB_HASH as usize,
        "`sk_buff.hash` is not at C's offset"
    );
};

/// `ETH_P_IP`, as [`SkBuff::protocol`] gives it.
pub const ETH_P_IP: u16 = bindings::ETH_P_IP as u16;
/// `ETH_P_IPV6`, as [`SkBuff::protocol`] gives it.
pub const ETH_P_IPV6: u16 = bindings::ETH_P_IPV6 as u16;

impl SkBuff {
    pub(super) fn raw(&self) -> *mut bindings::sk_buff {
        self.0.as_ptr()
    }

    /// Total packet length.
    pub fn len(&self) -> u32 {
        // SAFETY: By the type invariant the skb is valid; `len` is a plain field.
        unsafe { (*self.raw()).len }
    }

    /// Whether the packet is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The TX queue the stack picked.
    pub fn queue_mapping(&self) -> u16 {
        // SAFETY: Valid skb; `queue_mapping` is a plain field (`skb_get_queue_mapping`).
        unsafe { (*self.raw()).queue_mapping }
    }

    /// The flow hash (computed on demand, `skb_get_hash`).
    pub fn flow_hash(&self) -> u32 {
        // SAFETY: Valid skb; computing the hash only updates the skb's hash fields.
        unsafe { bindings::xnt_skb_hash(self.raw()) }
    }

    /// The packet's protocol (`skb->protocol`) in host order: an `ETH_P_*` value such as
    /// [`ETH_P_IP`].
    pub fn protocol(&self) -> u16 {
        // SAFETY: Valid skb; `protocol_ptr` is the address of the plain field.
        u16::from_be(unsafe { protocol_ptr(self.raw()).read() })
    }

    /// The hash software set on the skb (`skb->sw_hash`): its value (`skb->hash`, C's
    /// `skb_get_hash_raw`) and whether it covers the transport ports (`skb->l4_hash`);
    /// `None` without one (none at all, or a hardware hash).
    pub fn sw_hash(&self) -> Option<(u32, bool)> {
        // SAFETY: Valid skb; `headers_ptr` is the address of its `headers` group.
        let h = unsafe { headers_ptr(self.raw()) };
        // SAFETY: `h` points into the valid skb; the bit fields are read with bindgen's raw
        // accessors (no reference to the struct is made) and `hash` is a plain field.
        let (sw, l4, hash) = unsafe {
            (
                SkbHeaders::sw_hash_raw(h),
                SkbHeaders::l4_hash_raw(h),
                (*h).hash,
            )
        };
        (sw != 0).then_some((hash, l4 != 0))
    }

    /// Sets a software hash (`__skb_set_sw_hash`): `hash`, covering the transport ports if
    /// `l4` (the kernel's `PKT_HASH_TYPE_L4`, else `L3`). `EBUSY`, with nothing changed,
    /// if another reference to the skb exists ([`Self::is_shared`]): its holder could be
    /// reading the fields.
    pub fn set_sw_hash(&mut self, hash: u32, l4: bool) -> Result {
        self.write_hash(hash, l4, true)
    }

    /// `__skb_set_hash(skb, hash, sw, l4)`: the hash fields of an unshared skb (`EBUSY`,
    /// with nothing changed, for a shared one), for [`Self::set_sw_hash`] and
    /// [`Self::set_hash`].
    fn write_hash(&mut self, hash: u32, l4: bool, sw: bool) -> Result {
        if self.is_shared() {
            return Err(EBUSY);
        }
        // SAFETY: Valid skb; `headers_ptr` is the address of its `headers` group.
        let h = unsafe { headers_ptr(self.raw()) };
        // SAFETY: `h` points into the valid skb, which has no other reference (checked
        // above; `&mut self` excludes other users of this one), so nothing else accesses
        // its hash fields; bindgen's raw accessors write the bit fields without a
        // reference to the struct, and `hash` is a plain field.
        unsafe {
            SkbHeaders::set_l4_hash_raw(h, u8::from(l4));
            SkbHeaders::set_sw_hash_raw(h, u8::from(sw));
            (*h).hash = hash;
        }
        Ok(())
    }

    /// Clears the skb's hash (`skb_clear_hash`): no hash, software or hardware. `EBUSY`,
    /// with nothing changed, for a shared skb, as [`Self::set_sw_hash`].
    pub fn clear_hash(&mut self) -> Result {
        if self.is_shared() {
            return Err(EBUSY);
        }
        // SAFETY: Valid skb; `headers_ptr` is the address of its `headers` group.
        let h = unsafe { headers_ptr(self.raw()) };
        // SAFETY: As in `set_sw_hash`: no other reference, bit fields written raw.
        unsafe {
            (*h).hash = 0;
            SkbHeaders::set_sw_hash_raw(h, 0);
            SkbHeaders::set_l4_hash_raw(h, 0);
        }
        Ok(())
    }

    /// The header fields a receive-side-scaling hash of the packet covers, as the flow
    /// dissector finds them (C `skb_flow_dissect_flow_keys(skb, &flow, 0)` in
    /// `xenvif_set_skb_hash`): the addresses, and the TCP ports of a TCP packet that is not
    /// an IP fragment. `None` unless `skb->protocol` is IPv4 or IPv6, the dissector
    /// succeeds, and the addresses it found are of that family (C would hash an
    /// encapsulated IPv6 packet's addresses as if they were IPv4 ones; such a packet is not
    /// hashed here, so a hash's type always matches the protocol a `HASH` extra names).
    /// Any context (the dissector takes its own RCU read lock).
    pub fn flow(&self) -> Option<Flow> {
        let ipv4 = match self.protocol() {
            ETH_P_IP => true,
            ETH_P_IPV6 => false,
            _ => return None,
        };
        // Zeroed, as the C inline's `memset`.
        let mut keys = bindings::flow_keys::default();
        // SAFETY: `self` is a valid skb, which `__skb_flow_dissect` only reads (its headers
        // through `skb_header_pointer`, copying what is not linear); with no `net` it takes
        // the skb's device's or socket's, under the RCU read lock it takes itself.
        // `flow_keys_dissector` is the kernel's exported dissector for `struct flow_keys`,
        // set up at boot and only read; `keys` is a zeroed `struct flow_keys` (the target
        // that dissector's key offsets are for), live for the call. No `data`, so the
        // protocol, offsets and length come from the skb; no flags. This is the body of the
        // static inline `skb_flow_dissect_flow_keys`.
        let found = unsafe {
            bindings::__skb_flow_dissect(
                core::ptr::null(),
                self.raw(),
                &raw mut bindings::flow_keys_dissector,
                (&raw mut keys).cast(),
                core::ptr::null(),
                0,
                0,
                0,
                0,
            )
        };
        if !found {
            return None;
        }
        let fragment =
            keys.control.flags & bindings::flow_dissector_ctrl_flags_FLOW_DIS_IS_FRAGMENT != 0;
        let tcp_ports = if u32::from(keys.basic.ip_proto) == bindings::IPPROTO_TCP && !fragment {
            // SAFETY: The members of the ports union (bindgen's emulation: `as_ref` views
            // the union's bytes as the member) are plain integers over the same 4 bytes,
            // `src` then `dst`, each in network order.
            let p = unsafe { *keys.ports.__bindgen_anon_1.ports.as_ref() }.to_ne_bytes();
            Some((
                u16::from_be_bytes([p[0], p[1]]),
                u16::from_be_bytes([p[2], p[3]]),
            ))
        } else {
            None
        };
        let addr_type = u32::from(keys.control.addr_type);
        if ipv4 && addr_type == bindings::flow_dissector_key_id_FLOW_DISSECTOR_KEY_IPV4_ADDRS {
            // SAFETY: The addresses union's members (as for the ports) are plain integers;
            // the dissector filled this one (`addr_type`).
            let a = unsafe { keys.addrs.__bindgen_anon_1.v4addrs.as_ref() };
            Some(Flow::V4 {
                src: a.src.to_ne_bytes(),
                dst: a.dst.to_ne_bytes(),
                tcp_ports,
            })
        } else if !ipv4
            && addr_type == bindings::flow_dissector_key_id_FLOW_DISSECTOR_KEY_IPV6_ADDRS
        {
            // SAFETY: As above, for the IPv6 member; `in6_addr` is a union of byte, word
            // and double-word arrays over the same 16 bytes.
            let (src, dst) = unsafe {
                let a = keys.addrs.__bindgen_anon_1.v6addrs.as_ref();
                (a.src.in6_u.u6_addr8, a.dst.in6_u.u6_addr8)
            };
            Some(Flow::V6 {
                src,
                dst,
                tcp_ports,
            })
        } else {
            None
        }
    }

    /// Splits the packet data into per-page chunks in `out[..n]` and returns `n`; `E2BIG`
    /// if there are more than `out.len()` (`out` then holds the first ones). The caller's
    /// array is the only limit: size it for the packets the path sees (see
    /// [`crate::xen::protocol::pages::max_chunks`]), or ask [`Self::chunk_count`] first.
    pub fn chunks(&self, out: &mut [Chunk]) -> Result<usize> {
        let mut n = 0;
        self.for_each_chunk(&mut store_in(out, &mut n))?;
        Ok(n)
    }

    /// Calls `f` with each piece of the packet data, in order: the linear area, then each
    /// fragment, as (first frame, offset from that frame's start, length); stops at the
    /// first `Break` and returns it. The one walk over the skb's layout that
    /// [`Self::for_each_chunk`], [`Self::chunk_count`] and `chunk_pfn` split per page.
    ///
    /// `EINVAL` (warned once), before `f` is called at all, if the skb claims more fragments
    /// than `frags` holds (`nr_frags > MAX_SKB_FRAGS`): a corrupt skb, not walked.
    fn try_for_each_piece<B>(
        &self,
        mut f: impl FnMut(usize, u32, u32) -> ControlFlow<B>,
    ) -> Result<ControlFlow<B>> {
        let skb = self.raw();
        // SAFETY: Valid skb.
        let nr_frags = u32::from(unsafe { (*skb_shinfo(skb)).nr_frags });
        if nr_frags > bindings::MAX_SKB_FRAGS {
            kernel::pr_warn_once!("skb with {} fragments (corrupt nr_frags)\n", nr_frags);
            return Err(EINVAL);
        }
        // SAFETY: Valid skb; `data` is a plain field.
        let (data, headlen) = unsafe { ((*skb).data.cast(), skb_headlen(skb)) };
        // SAFETY: `data` points into the skb's linear area, which is in the kernel's direct
        // map (`virt_to_page` is valid for it).
        let pfn = unsafe { bindings::xnt_virt_to_pfn(data) };
        if let ControlFlow::Break(b) = f(pfn, offset_in_page(data), headlen) {
            return Ok(ControlFlow::Break(b));
        }
        for i in 0..nr_frags {
            // SAFETY: Valid skb; `i` is below its `nr_frags`, checked above to be at most
            // `MAX_SKB_FRAGS` (the length of `frags`), so `frags[i]` is a fragment: in
            // bounds for the C read too.
            let (pfn, piece) = unsafe { (bindings::xnt_skb_frag_pfn(skb, i), skb_frag(skb, i)) };
            let Some((off, size)) = piece else {
                return Err(EINVAL);
            };
            if let ControlFlow::Break(b) = f(pfn, off, size) {
                return Ok(ControlFlow::Break(b));
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    /// Calls `emit` with each per-page chunk of the packet data, in order: the linear area,
    /// then each fragment (the walk of [`Self::chunks`]); stops at, and returns, the first
    /// error of `emit`. `EINVAL` for a corrupt skb (see `try_for_each_piece`).
    pub(crate) fn for_each_chunk(&self, emit: &mut impl FnMut(Chunk) -> Result) -> Result {
        match self.try_for_each_piece(|pfn, off, len| match add_chunks(pfn, off, len, emit) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        })? {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(e) => Err(e),
        }
    }

    /// How many chunks [`Self::chunks`] splits the packet into, from the offsets and lengths
    /// alone (no array, no grant-frame lookups): lets a caller choose its path before the
    /// walk. `EINVAL` for a corrupt skb (see `try_for_each_piece`).
    pub fn chunk_count(&self) -> Result<usize> {
        let mut n = 0;
        let _ = self.try_for_each_piece::<()>(|_, off, len| {
            n += page_chunks(off, len) as usize;
            ControlFlow::Continue(())
        })?;
        Ok(n)
    }

    /// The frame holding chunk `index` of [`Self::chunks`]; `None` if there is no such chunk
    /// (or the skb is corrupt, see `try_for_each_piece`).
    fn chunk_pfn(&self, index: usize) -> Option<usize> {
        let mut index = index;
        match self.try_for_each_piece(|pfn, off, len| {
            match nth_chunk_pfn(pfn, off, len, &mut index) {
                Some(found) => ControlFlow::Break(found),
                None => ControlFlow::Continue(()),
            }
        }) {
            Ok(ControlFlow::Break(found)) => Some(found),
            Ok(ControlFlow::Continue(())) | Err(_) => None,
        }
    }

    /// Turns this skb reference into the owner of chunk `index` of [`Self::chunks`], for
    /// granting that chunk's frame ([`crate::xen::grant::GrantPool::grant`]); gives the
    /// reference back if the skb has no such chunk.
    pub fn into_chunk(self, index: usize) -> Result<SkbChunk, SkBuff> {
        let (Some(pfn), Ok(index)) = (self.chunk_pfn(index), u8::try_from(index)) else {
            return Err(self);
        };
        // SAFETY: As in `add_chunks`: `pfn` is a frame of this skb's data.
        let gfn = unsafe { bindings::xnt_pfn_to_gfn(pfn) } as u64;
        // INVARIANT: `pfn` is the frame of chunk `index` of `self`, just found, and `gfn`
        // its guest frame number.
        Ok(SkbChunk {
            skb: self,
            index,
            pfn,
            gfn,
        })
    }

    /// Extends the linear data by `len` bytes (`skb_put`) and describes the new, not yet
    /// written area per Xen page in `out`, for a grant copy to fill; returns the chunks.
    #[cfg(xnt_backend)]
    ///
    /// `EBUSY` if the skb or its data is shared ([`Self::is_exclusive`]; a fresh skb never
    /// is): the new area would be another owner's tailroom.
    pub fn put_chunks(&mut self, len: u32, out: &mut [Chunk]) -> Result<usize> {
        let max = out.len().min(MAX_PUT_CHUNKS);
        let mut n = 0;
        if !self.is_exclusive() {
            return Err(EBUSY);
        }
        // SAFETY: Valid skb.
        if len > unsafe { skb_tailroom(self.raw()) } {
            return Err(ENOSPC);
        }
        // SAFETY: Valid skb, exclusively ours with its data (checked above), with at least
        // `len` bytes of tailroom (checked above), so `skb_put` does not overrun.
        let start = unsafe { bindings::skb_put(self.raw(), len) };
        // SAFETY: `start` points into the skb's linear area, which is in the kernel's
        // direct map (`virt_to_page` is valid for it).
        let pfn = unsafe { bindings::xnt_virt_to_pfn(start) };
        add_chunks(
            pfn,
            offset_in_page(start),
            len,
            &mut store_in(&mut out[..max], &mut n),
        )?;
        Ok(n)
    }

    /// Whether this is the only reference to the skb (no [`SkBuff::new_ref`] elsewhere)
    /// and its data is not shared with a clone (`!skb_shared && !skb_cloned`): then
    /// `&mut self` is exclusive access to the skb's data too.
    ///
    /// Neither can change behind `&mut self`: only a holder of a reference can take
    /// another, and no clone is made of an skb this crate holds.
    pub fn is_exclusive(&self) -> bool {
        // SAFETY: Valid skb; reads its reference counts.
        unsafe { bindings::xnt_skb_exclusive(self.raw()) }
    }

    /// Whether another reference to the skb exists (`skb_shared`): another owner (the
    /// stack, or a [`SkBuff::new_ref`] such as an [`SkbChunk`]) may still use its head and
    /// fragment pages.
    pub fn is_shared(&self) -> bool {
        // SAFETY: Valid skb; reads its reference count.
        unsafe { bindings::xnt_skb_shared(self.raw()) }
    }

    #[cfg(xnt_backend)]
    pub(crate) fn into_raw(self) -> *mut bindings::sk_buff {
        core::mem::ManuallyDrop::new(self).0.as_ptr()
    }

    /// # Safety
    ///
    /// `raw` is a valid skb whose reference the caller hands over.
    #[cfg(xnt_backend)]
    pub(crate) unsafe fn from_raw(raw: NonNull<bindings::sk_buff>) -> Self {
        SkBuff(raw)
    }

    /// Pulls all data into the linear area (`skb_linearize`).
    ///
    /// `EBUSY`, with nothing changed, if another reference to the skb exists
    /// ([`Self::is_shared`]): the pull may replace the head (`pskb_expand_head`, which
    /// BUGs on a shared skb) and drops the references of the fragments it pulled
    /// (`skb_frag_unref`), whose pages another owner may still use. Use a private copy
    /// ([`Self::copy`]) then. A cloned skb (whose data another skb shares) is fine: the
    /// pull first gives this skb a head of its own (`pskb_expand_head` of a cloned skb
    /// takes its own fragment references), and the clone keeps the old one.
    pub fn linearize(&mut self) -> Result {
        if self.is_shared() {
            return Err(EBUSY);
        }
        // SAFETY: Valid skb whose only reference is ours (checked above; no other can
        // appear while we hold `&mut self`), so no other owner uses the head or fragment
        // pages this may replace or release.
        to_result(unsafe { bindings::xnt_skb_linearize(self.raw()) })
    }

    /// The packet as one linear skb, for a path that needs its data in one place: made
    /// linear in place when this is its only reference, else (another owner holds it, e.g.
    /// pktgen's `clone_skb`, so its head and fragments must not change under them) a
    /// private linear copy (`skb_copy`), this reference then counting as used (`consume`).
    /// `None` when memory is short; the packet is then freed as a drop. Any context
    /// (atomic allocations).
    pub fn into_linear(mut self) -> Option<SkBuff> {
        if self.is_shared() {
            let copy = self.copy()?;
            self.consume();
            return Some(copy);
        }
        self.linearize().ok()?;
        Some(self)
    }

    /// A fresh, linear copy of the packet (`skb_copy`), if memory allows: a private skb
    /// (one reference, data of its own) even when this one is shared or cloned.
    pub fn copy(&self) -> Option<SkBuff> {
        // SAFETY: Valid skb; `GFP_ATOMIC` suits every context.
        NonNull::new(unsafe { bindings::skb_copy(self.raw(), bindings::GFP_ATOMIC) }).map(SkBuff)
    }

    /// A linear copy of the packet in fresh, zeroed memory of whole pages (C netfront's
    /// `bounce_skb`, XSA-403), for granting to a backend that must see nothing but this
    /// packet: the head is page-aligned and its size rounded up to whole pages, so the
    /// pages its data lies in hold only the copy, zeroes and the new skb's own shared info.
    /// The copy has the same headroom and header fields (`skb_copy_header`: protocol,
    /// queue, checksum and GSO state, ...) but no socket. `None` if memory is short (the
    /// allocation is atomic), the head came back unaligned or the copy failed. Any
    /// context.
    pub fn bounce_zeroed(&self) -> Option<SkBuff> {
        let skb = self.raw();
        // SAFETY: Valid skb.
        let (headroom, end_offset, len, headlen) = unsafe {
            (
                skb_headroom(skb),
                skb_end_offset(skb),
                (*skb).len,
                skb_headlen(skb),
            )
        };
        // `skb->data_len`: the bytes in fragments.
        let data_len = len.checked_sub(headlen)?;
        // `ALIGN(skb_end_offset(skb) + skb->data_len, XEN_PAGE_SIZE)` (`common/kernel/mod.rs`
        // asserts `PAGE_SIZE == XEN_PAGE_SIZE`).
        let size = end_offset
            .checked_add(data_len)?
            .checked_next_multiple_of(PAGE_SIZE as u32)?;
        // The copy starts `headroom` bytes before the data: the whole range must fit the
        // `int` of `skb_copy_bits`.
        let copy_len = i32::try_from(headroom.checked_add(len)?).ok()?;
        // SAFETY: Plain allocation (`alloc_skb`: no flags, any node); `GFP_ATOMIC` suits
        // every caller's context and `__GFP_ZERO` zeroes the whole head.
        let raw = unsafe {
            bindings::__alloc_skb(
                size,
                bindings::GFP_ATOMIC | bindings::__GFP_ZERO,
                0,
                bindings::NUMA_NO_NODE,
            )
        };
        // Owned from here: dropping it frees the new skb.
        let new = SkBuff(NonNull::new(raw)?);
        let n = new.raw();
        // SAFETY: `n` is a valid skb, ours alone; `head` is a plain field.
        let (head, room) = unsafe { ((*n).head.cast(), skb_end_offset(n)) };
        if offset_in_page(head) != 0 {
            kernel::pr_warn_once!("misaligned skb allocated\n");
            return None;
        }
        // `size >= end_offset + data_len >= headroom + len` (the data lies between the
        // head and the end); checked anyway, as `skb_reserve` and `skb_put` trust it.
        if room < headroom.checked_add(len)? {
            return None;
        }
        // SAFETY: `n` is a fresh, empty skb, ours alone, with `room >= headroom + len`
        // bytes of linear space (checked above): reserving `headroom` and then putting
        // `len` stays inside it.
        unsafe {
            bindings::xnt_skb_reserve(n, headroom);
            bindings::skb_put(n, len);
        }
        // SAFETY: `skb` is valid and `headroom` bytes of headroom precede its data, so the
        // source range `-headroom .. len` lies in the skb (`skb_copy_bits` accepts negative
        // offsets into the headroom, as `skb_copy` uses it); the destination, the new
        // head, has `room >= headroom + len` bytes (checked above).
        let r = unsafe { bindings::skb_copy_bits(skb, -(headroom as i32), head, copy_len) };
        if r != 0 {
            return None;
        }
        // SAFETY: Both skbs are valid; `n` is ours alone and has the same headroom and
        // length as `skb`, so the header offsets copied over stay inside its data.
        unsafe { bindings::skb_copy_header(n, skb) };
        Some(new)
    }

    /// The packet's GSO request, if any.
    pub fn gso(&self) -> Option<Gso> {
        // SAFETY: Valid skb; plain fields of its shared info.
        let (size, ty) = unsafe {
            let sh = skb_shinfo(self.raw());
            ((*sh).gso_size, (*sh).gso_type)
        };
        // `skb_is_gso`: a GSO size.
        if size == 0 {
            None
        } else if ty & bindings::SKB_GSO_TCPV4 as u32 != 0 {
            Some(Gso::TcpV4(size))
        } else if ty & bindings::SKB_GSO_TCPV6 as u32 != 0 {
            Some(Gso::TcpV6(size))
        } else {
            Some(Gso::Other)
        }
    }

    /// The checksum state.
    pub fn checksum(&self) -> ChecksumState {
        // SAFETY: Valid skb.
        match unsafe { bindings::xnt_skb_ip_summed(self.raw()) } as u32 {
            bindings::XNT_CSUM_UNNECESSARY => ChecksumState::Unnecessary,
            bindings::XNT_CSUM_COMPLETE => ChecksumState::Complete,
            bindings::XNT_CSUM_PARTIAL => ChecksumState::Partial,
            _ => ChecksumState::None,
        }
    }

    /// Another reference to the same skb (`skb_get`).
    ///
    /// While it (or this one) lives, neither is exclusive: the methods that would replace
    /// the head or add or drop fragments fail on both ([`Self::linearize`],
    /// [`Self::finish_rx`], [`Self::add_page_frag`], [`Self::put_from_page`], GRO).
    pub fn new_ref(&self) -> SkBuff {
        // SAFETY: Valid skb; `skb_get` takes a reference and returns the same pointer.
        SkBuff(unsafe { NonNull::new_unchecked(bindings::xnt_skb_get(self.raw())) })
    }

    /// Releases the skb's socket charge now (`skb_orphan`: runs its destructor, such as
    /// `tcp_wfree`, and detaches it from its socket), for an skb that must stay allocated
    /// long after it left the stack.
    pub fn orphan(&mut self) {
        // SAFETY: Valid skb. The destructor runs once (`skb_orphan` clears it); none of the
        // Rust methods read the fields it changes, and the stack reads `skb->sk` of a
        // transmitted skb only with `READ_ONCE` (`skb_fclone_busy`).
        unsafe { bindings::xnt_skb_orphan(self.raw()) };
    }

    /// Frees this reference as successfully transmitted or consumed.
    pub fn consume(self) {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: We own this reference and give it up exactly once.
        unsafe { bindings::xnt_skb_consume(this.raw()) };
    }

    /// Appends `len` bytes from `page` at `offset` to the linear area (nothing, with a
    /// warning, if the range is outside the page or exceeds the tailroom).
    ///
    /// `EBUSY`, with nothing changed, if the skb or its data is shared
    /// ([`Self::is_exclusive`]; a fresh skb never is).
    pub fn put_from_page(&mut self, page: &Page, offset: u32, len: u32) -> Result {
        if !self.is_exclusive() {
            return Err(EBUSY);
        }
        // SAFETY: Valid skb, exclusively ours with its data (checked above), and a valid
        // page; the glue checks bounds and tailroom.
        unsafe { bindings::xnt_skb_put_from_page(self.raw(), page.0.as_ptr(), offset, len) };
        Ok(())
    }

    /// Attaches `len` bytes of `page` at `offset` as the next fragment; gives the page
    /// back if the skb has no fragment slot left, the range is outside the page, or the
    /// skb or its data is shared ([`Self::is_exclusive`]; a fresh skb never is).
    pub fn add_page_frag(&mut self, page: Page, offset: u32, len: u32) -> Result<(), Page> {
        if !self.is_exclusive() {
            return Err(page);
        }
        // SAFETY: Valid skb, exclusively ours with its data (checked above), so no other
        // owner reads the fragment array this writes; a valid page, whose reference the
        // skb takes over on success.
        let r =
            unsafe { bindings::xnt_skb_add_page_frag(self.raw(), page.0.as_ptr(), offset, len) };
        if r == 0 {
            core::mem::forget(page);
            Ok(())
        } else {
            Err(page)
        }
    }

    /// Finishes a received packet: GSO metadata (marked dodgy), protocol, checksum state
    /// (`skb_checksum_setup` for a partial checksum). Returns whether a GSO packet without
    /// a partial checksum had to be fixed up.
    ///
    /// `EBUSY`, with nothing changed, if the skb or its data is shared
    /// ([`Self::is_exclusive`]; a fresh skb never is): pulling headers may replace the
    /// head and drop fragments, and the checksum set-up writes the packet. `ENODEV`, with
    /// nothing changed, once the device is gone (its [`NetDevice`](super::NetDevice) dropped).
    pub fn finish_rx(
        &mut self,
        dev: &NetDevRef,
        csum: ChecksumState,
        gso: Option<Gso>,
    ) -> Result<bool> {
        if !self.is_exclusive() {
            return Err(EBUSY);
        }
        // The device stays allocated while `live` does (an RCU read-side section: nothing
        // below sleeps; `skb_checksum_setup` pulls with `GFP_ATOMIC`).
        let live = dev.live().ok_or(ENODEV)?;
        let skb = self.raw();
        // SAFETY: Valid skb, exclusively ours with its data (checked above), so no other
        // owner uses the head or fragments the pull may replace or release.
        if !unsafe { bindings::xnt_skb_may_pull(skb, bindings::ETH_HLEN) } {
            return Err(EINVAL);
        }
        let gso_type = match gso {
            Some(Gso::TcpV4(s)) => Some((bindings::SKB_GSO_TCPV4, s)),
            Some(Gso::TcpV6(s)) => Some((bindings::SKB_GSO_TCPV6, s)),
            _ => None,
        };
        if let Some((t, size)) = gso_type {
            // SAFETY: Valid skb, exclusively ours: nothing else accesses its shared info's
            // plain fields.
            unsafe {
                let sh = skb_shinfo(skb);
                (*sh).gso_size = size;
                (*sh).gso_type = (t | bindings::SKB_GSO_DODGY) as u32;
                (*sh).gso_segs = 0;
            }
        }
        // SAFETY: Valid skb, exclusively ours, with `ETH_HLEN` bytes of linear data (pulled
        // above); `live` is an allocated device. `protocol_ptr` is the address of the plain
        // field `skb->protocol` (`skb->protocol = eth_type_trans(skb, dev)`), which nothing
        // else accesses while the skb is exclusively ours.
        unsafe { protocol_ptr(skb).write(bindings::eth_type_trans(skb, live.raw())) };
        // SAFETY: Valid skb, exclusively ours.
        unsafe { bindings::xnt_skb_reset_network_header(skb) };
        match csum {
            // SAFETY: Valid skb, exclusively ours.
            ChecksumState::Partial => unsafe {
                bindings::xnt_skb_set_ip_summed(skb, bindings::CHECKSUM_PARTIAL)
            },
            // SAFETY: Valid skb, exclusively ours.
            ChecksumState::Unnecessary => unsafe {
                bindings::xnt_skb_set_ip_summed(skb, bindings::CHECKSUM_UNNECESSARY)
            },
            _ => {}
        }
        // A GSO packet needs a partial checksum: set one up from the headers.
        let mut fixup = false;
        let mut recalculate = false;
        if self.checksum() != ChecksumState::Partial && self.gso().is_some() {
            fixup = true;
            // SAFETY: Valid skb, exclusively ours.
            unsafe { bindings::xnt_skb_set_ip_summed(skb, bindings::CHECKSUM_PARTIAL) };
            recalculate = true;
        }
        if self.checksum() != ChecksumState::Partial {
            return Ok(fixup);
        }
        // SAFETY: Valid skb, exclusively ours, with a partial checksum.
        to_result(unsafe { bindings::skb_checksum_setup(skb, recalculate) })?;
        Ok(fixup)
    }

    /// Records the flow hash a peer computed for a received packet (`skb_set_hash`): an L4
    /// hash (`PKT_HASH_TYPE_L4`, it covers the ports) if `l4`, else an L3 one. RPS/RFS
    /// and the stack use it instead of computing their own. `EBUSY`, with nothing
    /// changed, if another reference to the skb exists ([`Self::is_shared`]).
    pub fn set_hash(&mut self, hash: u32, l4: bool) -> Result {
        self.write_hash(hash, l4, false)
    }
}

impl Drop for SkBuff {
    fn drop(&mut self) {
        // SAFETY: We own this reference and give it up exactly once.
        unsafe { bindings::xnt_skb_free(self.raw()) };
    }
}

// The static inline skb accessors whose bodies are plain field reads, on the kernel
// crate's `sk_buff` and `skb_shared_info` (the offsets are checked in `layout.rs`).

/// `skb_headlen`: the bytes in the linear area (`len - data_len`, wrapping as in C).
///
/// # Safety
///
/// `skb` points to a live skb.
unsafe fn skb_headlen(skb: *mut bindings::sk_buff) -> u32 {
    // SAFETY: A live skb (the caller's requirement); plain fields.
    unsafe { (*skb).len.wrapping_sub((*skb).data_len) }
}

/// `skb_headroom`: the bytes between `head` and `data`.
///
/// # Safety
///
/// `skb` points to a live skb.
unsafe fn skb_headroom(skb: *mut bindings::sk_buff) -> u32 {
    // SAFETY: A live skb (the caller's requirement); plain fields.
    let (data, head) = unsafe { ((*skb).data, (*skb).head) };
    data.addr().wrapping_sub(head.addr()) as u32
}

/// `skb_end_offset`: `end`, which is an offset from `head` on 64-bit kernels
/// (`NET_SKBUFF_DATA_USES_OFFSET`; where it is a pointer, this does not compile).
///
/// # Safety
///
/// `skb` points to a live skb.
unsafe fn skb_end_offset(skb: *mut bindings::sk_buff) -> u32 {
    // SAFETY: A live skb (the caller's requirement); a plain field.
    unsafe { (*skb).end }
}

/// `skb_tailroom`: the bytes between `tail` and `end` (both offsets from `head` on 64-bit
/// kernels, see [`skb_end_offset`]), none if the skb has fragments (`skb_is_nonlinear`).
///
/// # Safety
///
/// `skb` points to a live skb.
#[cfg(xnt_backend)]
unsafe fn skb_tailroom(skb: *mut bindings::sk_buff) -> u32 {
    // SAFETY: A live skb (the caller's requirement); plain fields.
    let (data_len, tail, end): (u32, u32, u32) =
        unsafe { ((*skb).data_len, (*skb).tail, (*skb).end) };
    if data_len != 0 {
        0
    } else {
        end.wrapping_sub(tail)
    }
}

/// `skb_shinfo`: the shared info, `end` bytes past `head`.
///
/// # Safety
///
/// `skb` points to a live skb.
unsafe fn skb_shinfo(skb: *mut bindings::sk_buff) -> *mut bindings::skb_shared_info {
    // SAFETY: A live skb (the caller's requirement); a plain field.
    let head = unsafe { (*skb).head };
    // SAFETY: As above.
    head.wrapping_add(unsafe { skb_end_offset(skb) } as usize)
        .cast()
}

/// `skb_frag_off` and `skb_frag_size` of fragment `i`; `None` (no panic) if `i` is not an
/// index of `frags`.
///
/// # Safety
///
/// `skb` points to a live skb with more than `i` fragments.
unsafe fn skb_frag(skb: *mut bindings::sk_buff, i: u32) -> Option<(u32, u32)> {
    // SAFETY: A live skb (the caller's requirement): its shared info is valid, and no one
    // writes its fragment array while the skb's owner walks it.
    let frags = unsafe { &(*skb_shinfo(skb)).frags };
    let frag = frags.get(usize::try_from(i).ok()?)?;
    Some((frag.offset, frag.len))
}
