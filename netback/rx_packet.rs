// SPDX-License-Identifier: GPL-2.0

//! Guest RX, one packet: the copies from its skb into the frontend's buffers and its
//! responses (C's `xenvif_rx_skb()` with `xenvif_rx_data_slot()` / `xenvif_rx_extra_slot()`
//! for one packet).
//!
//! `rx.rs` runs the worker's pass over the backlog and the pass's copy batch; this file
//! gives each packet of the batch its slots and copies (phase 1, `rx_prepare`,
//! `rx_build`) and, once the batch has run, writes its responses (phase 3,
//! `rx_complete`).

use kernel::prelude::*;

use crate::fe;
use crate::interface::Queue;
use crate::rx::RX_BATCH;
use crate::xen::backend::{CopyBatch, LocalSrc};
use crate::xen::net::{bump, ChecksumState, Gso, SkBuff, ETH_P_IP};
use crate::xen::protocol::ctrl::{FlowHash, HashType};
use crate::xen::protocol::flags::{Checksum, RxFlags};
use crate::xen::protocol::netif::{
    Extra, ExtraInfo, GsoType, RxRequest, RxResponse, Status, MAX_TX_SIZE, NR_SLOTS_MIN, PAGE_SIZE,
};
use crate::xen::protocol::pages::max_chunks;
use crate::{RxRing, MAX_PACKET_OPS, RX_COPY_OPS};

/// Fragments per skb that [`MAX_RX_CHUNKS`] is sized for: `CONFIG_MAX_SKB_FRAGS`' default
/// and minimum (`net/Kconfig`: 17, range 17 to 45).
const RX_SKB_FRAGS: u32 = 17;
/// The most per-page chunks ([`SkBuff::chunks`]) a packet for the guest is copied from as
/// it is; one with more is linearised first (an extra copy). Sized so that this never
/// happens on a kernel with the default fragment count: an skb handed to the vif's
/// `ndo_start_xmit` carries at most `MAX_TX_SIZE` (65535) bytes (a GSO skb stays below
/// the vif's `gso_max_size`, which its `tso_max_size`, `MAX_TX_SIZE - MAX_TCP_HEADER`
/// (`net_helpers.c`), caps, else the core segments it, `gso_features_check()`; any other
/// frame is at most the
/// vif's largest MTU, `MAX_TX_SIZE - VLAN_ETH_HLEN`, plus a VLAN-tagged Ethernet header),
/// in its head and up to [`RX_SKB_FRAGS`] fragments, each starting anywhere in a page:
/// `max_chunks(65535, 18)` = 51. `rx_build` keeps that many copy sources on the worker
/// thread's stack, 24 bytes each (1224 bytes).
pub(crate) const MAX_RX_CHUNKS: usize = max_chunks(MAX_TX_SIZE as u32, 1 + RX_SKB_FRAGS) as usize;
const _: () = assert!(MAX_RX_CHUNKS == 51);
/// Data slots one guest-RX packet may fill: every frontend accepts `NR_SLOTS_MIN` per
/// packet (`XEN_NETIF_NR_SLOTS_MIN`; netfront rejects more), so a longer chain is dropped.
pub(crate) const MAX_RX_DATA_SLOTS: usize = NR_SLOTS_MIN;
// `rx_complete` marks failed data slots in a `u32` bitmask.
const _: () = assert!(MAX_RX_DATA_SLOTS <= 32);
// A packet's copies fit one copier batch: each chunk is one copy, split once more at each
// boundary between the frontend's buffers (review of the 51-chunk limit: a larger
// `RX_SKB_FRAGS` must raise `MAX_PACKET_OPS` too, or such packets would be dropped).
const _: () = assert!(MAX_RX_CHUNKS + MAX_RX_DATA_SLOTS - 1 <= MAX_PACKET_OPS);

impl Queue {
    // ---- guest RX: one packet's copies and responses (worker thread) ----

    /// Makes `skb` fit the copy sources `rx_build` keeps: `None` (counted in `tx_dropped`)
    /// if it cannot.
    pub(crate) fn rx_prepare(&self, skb: SkBuff) -> Option<SkBuff> {
        match skb.chunk_count() {
            Ok(n) if n <= MAX_RX_CHUNKS => return Some(skb),
            Ok(_) => {}
            // A corrupt skb (warned): not walked, not linearized; dropped.
            Err(_) => {
                bump(&self.stats.tx_dropped, 1);
                return None;
            }
        }
        // More chunks than `srcs` in `rx_build` holds: an skb beyond what `MAX_RX_CHUNKS`
        // is sized for (more fragments than the default, or longer). C copies any number
        // of chunks (`xenvif_rx_next_chunk`) and never changes the skb; here it is made
        // linear first. An skb with another reference (the vif clears
        // `IFF_TX_SKB_SHARING`, so pktgen does not send one, but another owner may still
        // hold it) must not be linearized in place: it goes as a private linear copy
        // (`skb_copy`), and the original counts as used, as C delivers such a packet too.
        let linear = skb.into_linear();
        if linear.is_none() {
            bump(&self.stats.tx_dropped, 1);
        }
        linear
    }

    /// Phase 1 for one packet: reads the frontend's buffers for it (from `p.first_idx`)
    /// and adds its copies to `batch`, each with the index of the data slot it fills in
    /// `op_slot` (indexed like the batch). Returns the ring slots the packet takes (data
    /// slots and extras); 0 if it is dropped (`p.dropped`, none of its copies stays in the
    /// batch, no slot is used).
    pub(crate) fn rx_build<'l>(
        &self,
        ring: &RxRing,
        p: &'l mut RxPending,
        batch: &mut CopyBatch<'_, 'l>,
        op_slot: &mut [u8],
    ) -> u32 {
        let RxPending {
            skb,
            dropped,
            len,
            first_idx,
            data_slots,
            gso,
            hash,
            csum,
            ids,
            fill,
            ops,
        } = p;
        let skb: &'l SkBuff = skb;
        *len = skb.len();
        // The packet per page, as copy sources that borrow the (now final) skb. At most
        // `MAX_RX_CHUNKS` (51) of them, each split at most once more per frontend page
        // boundary (15 for 64 KiB): 66 ops, within `MAX_PACKET_OPS`.
        let mut srcs: [Option<LocalSrc<'l>>; MAX_RX_CHUNKS] = [None; MAX_RX_CHUNKS];
        let n = match skb.local_srcs(&mut srcs) {
            Ok(n) => n,
            Err(_) => {
                *dropped = true;
                return 0;
            }
        };
        *gso = skb.gso().and_then(|g| match g {
            Gso::TcpV4(s) if self.shared.fe_has(fe::GSO_V4) => Some((s, GsoType::TcpV4)),
            Gso::TcpV6(s) if self.shared.fe_has(fe::GSO_V6) => Some((s, GsoType::TcpV6)),
            _ => None,
        });
        // C `rx.c`: a software hash (only `ndo_select_queue`'s Toeplitz hash survives
        // `ndo_start_xmit`, `hash.rs`) goes to the frontend as a `HASH` extra, typed by the
        // packet's protocol and whether the hash covered the ports.
        *hash = skb.sw_hash().map(|(value, l4)| {
            FlowHash::extra(HashType::for_packet(skb.protocol() == ETH_P_IP, l4), value)
        });
        *csum = match skb.checksum() {
            ChecksumState::Partial => Checksum::Partial,
            ChecksumState::Unnecessary => Checksum::Unnecessary,
            _ => Checksum::None,
        };

        // Data slots: one request (a whole page) per started 4 KiB, filled from offset 0;
        // the extras (GSO, then HASH) take the slots right after the first data slot.
        *data_slots = len.div_ceil(PAGE_SIZE as u32).max(1);
        if *data_slots as usize > MAX_RX_DATA_SLOTS {
            *dropped = true;
            return 0;
        }
        let mut grefs: [u32; MAX_RX_DATA_SLOTS] = [0; MAX_RX_DATA_SLOTS];
        for k in 0..*data_slots {
            let slot = rx_slot_of(*first_idx, extras(*gso, *hash), k);
            let req = RxRequest::from_le_bytes(&ring.read_slot(slot));
            ids[k as usize] = req.id;
            grefs[k as usize] = req.gref;
        }
        let start = batch.len();
        let mut k = 0usize;
        for ch in srcs[..n].iter().flatten() {
            let mut off = 0u16;
            let mut left = ch.len();
            while left > 0 {
                if fill[k] as usize == PAGE_SIZE {
                    k += 1;
                }
                if k >= *data_slots as usize || batch.len() - start >= MAX_PACKET_OPS {
                    batch.truncate(start);
                    *dropped = true;
                    return 0;
                }
                let Some(slot) = op_slot.get_mut(batch.len()) else {
                    batch.truncate(start);
                    *dropped = true;
                    return 0;
                };
                *slot = k as u8;
                let room = PAGE_SIZE as u16 - fill[k];
                let l = left.min(room);
                let pushed = match ch.sub(off, l) {
                    Some(local) => batch.copy_to_foreign(local, grefs[k], fill[k], GFP_KERNEL),
                    None => Err(EINVAL),
                };
                if pushed.is_err() {
                    batch.truncate(start);
                    *dropped = true;
                    return 0;
                }
                fill[k] += l;
                off += l;
                left -= l;
            }
        }
        *ops = batch.len() - start;
        *data_slots + extras(*gso, *hash)
    }

    /// Phase 3 for one packet: writes its responses (a data slot whose copy failed gets
    /// `RSP_ERROR`) and its extras, counts it and frees the skb. `copies` are the
    /// statuses of its copies with the data slot each filled, in the order `rx_build`
    /// added them.
    pub(crate) fn rx_complete(
        &self,
        ring: &RxRing,
        p: RxPending,
        copies: impl Iterator<Item = (i16, u8)>,
    ) {
        if p.dropped {
            bump(&self.stats.tx_dropped, 1);
            return;
        }
        let mut bad: u32 = 0;
        let mut bad_status: i16 = 0;
        for (status, s) in copies {
            if status != 0 {
                bad |= 1 << s;
                bad_status = Status::Error as i16;
            }
        }

        let data_slots = p.data_slots;
        let n_extras = extras(p.gso, p.hash);
        for k in 0..data_slots {
            let mut flags = if k == 0 {
                RxFlags::from_checksum(p.csum)
            } else {
                RxFlags::EMPTY
            };
            if k + 1 < data_slots {
                flags = flags | RxFlags::MORE_DATA;
            }
            if k == 0 && n_extras > 0 {
                flags = flags | RxFlags::EXTRA_INFO;
            }
            let status = if bad & (1 << k) != 0 {
                bad_status
            } else {
                p.fill[k as usize] as i16
            };
            let rsp = RxResponse {
                id: p.ids[k as usize],
                offset: 0,
                flags: flags.bits(),
                status,
            };
            ring.write_slot(rx_slot_of(p.first_idx, n_extras, k), &rsp.to_le_bytes());
        }
        // The extras in C's order, each but the last with `EXTRA_FLAG_MORE`.
        let gso = p.gso.map(|(size, gso_type)| Extra::Gso { size, gso_type });
        let mut idx = p.first_idx;
        for (e, more) in [(gso, p.hash.is_some()), (p.hash, false)] {
            if let Some(e) = e {
                idx = idx.wrapping_add(1);
                ring.write_slot(idx, &ExtraInfo::encode(&e, more).to_le_bytes());
            }
        }
        if p.hash.is_some() {
            bump(&self.hashes.rx_extras, 1);
        }
        if bad != 0 {
            bump(&self.stats.tx_errors, 1);
        } else {
            bump(&self.stats.tx_packets, 1);
            bump(&self.stats.tx_bytes, u64::from(p.len));
        }
        p.skb.consume();
    }
}

/// The ring index of data slot `k` of a packet whose first slot is `first_idx` and that
/// has `extras` extras: they take the slots right after the first data slot.
pub(crate) fn rx_slot_of(first_idx: u32, extras: u32, k: u32) -> u32 {
    if k == 0 {
        first_idx
    } else {
        first_idx.wrapping_add(k + extras)
    }
}

/// How many extras a packet with the GSO extra `gso` and the `HASH` extra `hash` gets.
fn extras(gso: Option<(u16, GsoType)>, hash: Option<Extra>) -> u32 {
    u32::from(gso.is_some()) + u32::from(hash.is_some())
}

/// Room for one batch of guest-RX packets, allocated at connect.
pub(crate) struct RxScratch {
    /// The batch's packets in order (`RX_BATCH` entries, all `None` between batches).
    pub(crate) pending: KVVec<Option<RxPending>>,
    /// For each copy in the batch (`RX_COPY_OPS`), the data slot of its packet it fills.
    pub(crate) op_slot: KVec<u8>,
}

impl RxScratch {
    /// Allocates the scratch space (process context, at connect).
    pub(crate) fn new() -> Result<Self> {
        let mut pending = KVVec::with_capacity(RX_BATCH as usize, GFP_KERNEL)?;
        for _ in 0..RX_BATCH {
            pending.push(None, GFP_KERNEL)?;
        }
        let op_slot = KVec::from_elem(0u8, RX_COPY_OPS, GFP_KERNEL)?;
        Ok(Self { pending, op_slot })
    }
}

/// A packet between phase 1 (`rx_build`) and phase 3 (`rx_complete`) of a batch.
pub(crate) struct RxPending {
    /// The packet, which the batch's copies read.
    skb: SkBuff,
    /// Given up in phase 1 (counted in `tx_dropped`): no copy, no slot used.
    dropped: bool,
    len: u32,
    /// The ring index of its first slot.
    first_idx: u32,
    data_slots: u32,
    gso: Option<(u16, GsoType)>,
    /// The `HASH` extra, for a packet with a software hash.
    hash: Option<Extra>,
    csum: Checksum,
    /// Per data slot: the request's id and the bytes copied into its buffer.
    ids: [u16; MAX_RX_DATA_SLOTS],
    fill: [u16; MAX_RX_DATA_SLOTS],
    /// How many copies of the batch are this packet's; they follow the copies of the
    /// packets before it.
    pub(crate) ops: usize,
}

impl RxPending {
    pub(crate) fn new(skb: SkBuff, first_idx: u32) -> Self {
        Self {
            skb,
            dropped: false,
            len: 0,
            first_idx,
            data_slots: 0,
            gso: None,
            hash: None,
            csum: Checksum::None,
            ids: [0; MAX_RX_DATA_SLOTS],
            fill: [0; MAX_RX_DATA_SLOTS],
            ops: 0,
        }
    }
}
