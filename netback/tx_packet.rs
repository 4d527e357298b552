// SPDX-License-Identifier: GPL-2.0

//! Guest TX, one packet: its skb and pages, its grant copies and its delivery to the stack
//! (C's `xenvif_tx_build_gops()` and `xenvif_tx_submit()` for one packet).
//!
//! `tx.rs` walks the ring and runs a poll's batch; this file gives each packet of the
//! batch its destinations and copies (phase 1, `tx_build`) and, once the batch has run,
//! answers it and hands it to GRO (phase 3, `tx_submit`, `tx_deliver`).

use kernel::prelude::*;

use crate::interface::Queue;
use crate::xen::backend::{CopyBatch, LocalDst};
use crate::xen::net::{bump, ChecksumState, Gso, NapiPoll, Page, SkBuff};
use crate::xen::protocol::backend::{TxDrop, TxPacket, TX_COPY_LEN};
use crate::xen::protocol::flags::Checksum;
use crate::xen::protocol::netif::{GsoType, Status, NR_SLOTS_MIN, PAGE_SIZE};
use crate::{TxRing, MAX_PACKET_OPS, TX_BATCH_PACKETS, TX_COPY_OPS};

/// Packets up to this length are copied whole into the skb's linear area.
const TX_LINEAR_MAX: u32 = 1600;
/// Pages a guest-TX packet's non-linear part can take (64 KiB).
pub(crate) const MAX_TX_PAGES: usize = 17;
/// The linear part of the skb for a packet of `total` bytes.
pub(crate) fn tx_linear_len(total: u32) -> u32 {
    if total <= TX_LINEAR_MAX {
        total
    } else {
        TX_COPY_LEN as u32
    }
}

/// Room for one batch of guest-TX packets, allocated at connect so that a poll allocates
/// nothing but the packets' skbs and pages.
pub(crate) struct TxScratch {
    /// The batch's packets in ring order (`TX_BATCH_PACKETS` entries, all `None` between
    /// polls): C's `tx_queue` with the `pending_tx_info` of its packets.
    pub(crate) pending: KVVec<Option<TxPending>>,
    /// For each copy in the batch (`TX_COPY_OPS`), the id of the request it reads: a
    /// failed copy answers that slot `RSP_ERROR`.
    pub(crate) src_ids: KVec<u16>,
}

impl TxScratch {
    /// Allocates the scratch space (process context, at connect).
    pub(crate) fn new() -> Result<Self> {
        let mut pending = KVVec::with_capacity(TX_BATCH_PACKETS, GFP_KERNEL)?;
        for _ in 0..TX_BATCH_PACKETS {
            pending.push(None, GFP_KERNEL)?;
        }
        let src_ids = KVec::from_elem(0u16, TX_COPY_OPS, GFP_KERNEL)?;
        Ok(Self { pending, src_ids })
    }
}

/// What phase 3 does with a packet of the batch.
#[derive(Clone, Copy)]
pub(crate) enum TxVerdict {
    /// Refused by `parse_tx_packet`: every slot is answered `RSP_ERROR` (`rx_errors`).
    Malformed(TxDrop),
    /// A multicast control request: acknowledged, nothing else.
    Control,
    /// No skb, page or copy room for it: dropped (`rx_dropped`), answered `RSP_ERROR`.
    NoRoom,
    /// Its copies are in the batch: checked, answered, then handed to GRO.
    Copy,
}

/// A packet between phase 1 (`tx_build`) and phase 3 (`tx_submit`) of a batch.
pub(crate) struct TxPending {
    pub(crate) pkt: TxPacket,
    pub(crate) verdict: TxVerdict,
    /// The skb the batch's copies fill (`Copy`), its linear part first ...
    pub(crate) skb: Option<SkBuff>,
    /// ... then these pages, the non-linear part, in order.
    pub(crate) pages: [Option<Page>; MAX_TX_PAGES],
    /// How many copies of the batch are this packet's; they follow the copies of the
    /// packets before it.
    pub(crate) ops: usize,
}

impl TxPending {
    pub(crate) fn new(pkt: TxPacket, verdict: TxVerdict) -> Self {
        Self {
            pkt,
            verdict,
            skb: None,
            pages: [const { None }; MAX_TX_PAGES],
            ops: 0,
        }
    }
}

impl Queue {
    // ---- guest TX: one packet's skb, copies and delivery (NAPI context) ----

    /// Phase 1 for a packet to copy (C's `xenvif_tx_build_gops()` for one packet): gives
    /// `p` a new skb and the pages for its non-linear part and adds its copies to `batch`,
    /// each with the id of the request it reads in `src_ids` (indexed like the batch).
    /// Without an skb, a page or room for the copies, `p` becomes `NoRoom` and none of its
    /// copies stays in the batch. Returns the pages it gave `p` (`NoRoom` or not).
    pub(crate) fn tx_build<'l>(
        napi: &NapiPoll<'_>,
        p: &'l mut TxPending,
        batch: &mut CopyBatch<'_, 'l>,
        src_ids: &mut [u16],
    ) -> usize {
        let TxPending {
            pkt,
            verdict,
            skb,
            pages,
            ops,
        } = p;
        let total = pkt.len();
        let linear = tx_linear_len(total);
        let Some(new_skb) = napi.alloc_skb(linear) else {
            *verdict = TxVerdict::NoRoom;
            return 0;
        };
        let skb = skb.insert(new_skb);
        // Destinations: the linear area, then whole pages for the rest.
        let mut dst: [Option<LocalDst<'l>>; 4 + MAX_TX_PAGES] = [None; 4 + MAX_TX_PAGES];
        let mut ndst = match skb.put_local(linear, &mut dst[..4]) {
            Ok(n) => n,
            Err(_) => {
                *verdict = TxVerdict::NoRoom;
                return 0;
            }
        };
        let mut rest = total - linear;
        let mut npages = 0usize;
        while rest > 0 {
            let Some(page) = Page::alloc_atomic() else {
                *verdict = TxVerdict::NoRoom;
                return npages;
            };
            let len = rest.min(PAGE_SIZE as u32);
            pages[npages] = Some(page);
            npages += 1;
            rest -= len;
        }
        let mut rest = total - linear;
        for page in pages.iter_mut().take(npages).flatten() {
            let len = rest.min(PAGE_SIZE as u32);
            dst[ndst] = page.local_dst().sub(0, len as u16);
            ndst += 1;
            rest -= len;
        }

        // Sources: the first slot's own data, then each further slot. Each op records
        // which source it reads, so a failed copy answers the right slot.
        let start = batch.len();
        let first = (
            pkt.first.gref,
            pkt.first.offset,
            pkt.first_len,
            pkt.first.id,
        );
        let frags = pkt.frags();
        let mut di = 0usize;
        let mut doff = 0u16;
        let mut overflow = false;
        for (gref, off, len, id) in Iterator::chain(
            core::iter::once(first),
            frags.iter().map(|f| (f.gref, f.offset, f.len, f.id)),
        ) {
            let mut soff = off;
            let mut left = len;
            while left > 0 && di < ndst {
                let Some(d) = dst[di] else {
                    overflow = true;
                    break;
                };
                let dlen = d.len();
                let n = left.min(dlen - doff);
                if batch.len() - start >= MAX_PACKET_OPS {
                    overflow = true;
                    break;
                }
                let Some(src_id) = src_ids.get_mut(batch.len()) else {
                    overflow = true;
                    break;
                };
                *src_id = id;
                let pushed = match d.sub(doff, n) {
                    Some(local) => batch.copy_from_foreign(local, gref, soff, GFP_ATOMIC),
                    None => Err(EINVAL),
                };
                if pushed.is_err() {
                    overflow = true;
                    break;
                }
                soff += n;
                left -= n;
                doff += n;
                if doff == dlen {
                    di += 1;
                    doff = 0;
                }
            }
        }
        if overflow {
            batch.truncate(start);
            *verdict = TxVerdict::NoRoom;
            return npages;
        }
        *ops = batch.len() - start;
        npages
    }

    /// Phase 3 for one packet (C's `xenvif_tx_submit()` for one packet): answers it and,
    /// if it was copied whole, hands it to the stack. `copies` are its copies' statuses
    /// with the ids of the requests they read, in the order `tx_build` added them. The skb
    /// and the pages are taken out of `p` where it lies, not moved with it.
    pub(crate) fn tx_submit(
        &self,
        napi: &NapiPoll<'_>,
        ring: &TxRing,
        rsp_prod_pvt: &mut u32,
        p: &mut TxPending,
        copies: impl Iterator<Item = (i16, u16)>,
    ) {
        match (p.verdict, p.skb.take()) {
            (TxVerdict::Malformed(why), _) => {
                if self.note_problem() {
                    pr_warn!(
                        "{}: queue {}: dropping packet: {:?}\n",
                        self.name(),
                        self.index,
                        why
                    );
                }
                Self::tx_respond(ring, rsp_prod_pvt, &p.pkt, Status::Error, &[]);
                bump(&self.stats.rx_errors, 1);
            }
            (TxVerdict::Control, _) => {
                Self::tx_respond(ring, rsp_prod_pvt, &p.pkt, Status::Okay, &[]);
            }
            (TxVerdict::Copy, Some(skb)) => {
                self.tx_deliver(napi, ring, rsp_prod_pvt, &p.pkt, skb, &mut p.pages, copies);
            }
            // (`Copy` always has its skb.)
            (TxVerdict::NoRoom | TxVerdict::Copy, _) => {
                bump(&self.stats.rx_dropped, 1);
                Self::tx_respond(ring, rsp_prod_pvt, &p.pkt, Status::Error, &[]);
            }
        }
    }

    /// Answers a packet whose copies ran and, if they all succeeded, hands it to GRO: a
    /// failed copy answers `RSP_ERROR` for the first request (if its own data failed) or
    /// for the further slots whose data failed (`rx_errors`). The pages given to the skb
    /// are taken out of `pages`; those left are the caller's to free.
    #[expect(clippy::too_many_arguments, reason = "the ring and one packet's parts")]
    pub(crate) fn tx_deliver(
        &self,
        napi: &NapiPoll<'_>,
        ring: &TxRing,
        rsp_prod_pvt: &mut u32,
        pkt: &TxPacket,
        mut skb: SkBuff,
        pages: &mut [Option<Page>; MAX_TX_PAGES],
        copies: impl Iterator<Item = (i16, u16)>,
    ) {
        let total = pkt.len();
        let linear = tx_linear_len(total);
        // Ids of the further slots whose copy failed, each once: they all carry data, so
        // there are at most as many as `pkt.frags()`, and a packet that parsed has at most
        // `NR_SLOTS_MIN` further slots (more are dropped by `parse_tx_packet`).
        let mut failed: [u16; NR_SLOTS_MIN] = [0; NR_SLOTS_MIN];
        let mut nfailed = 0usize;
        let mut first_failed = false;
        for (status, id) in copies {
            if status != 0 {
                if id == pkt.first.id {
                    first_failed = true;
                } else if nfailed < failed.len() && !failed[..nfailed].contains(&id) {
                    failed[nfailed] = id;
                    nfailed += 1;
                }
            }
        }
        if first_failed || nfailed > 0 {
            if self.note_problem() {
                pr_warn!(
                    "{}: queue {}: grant copy from the frontend failed\n",
                    self.name(),
                    self.index
                );
            }
            Self::tx_respond(
                ring,
                rsp_prod_pvt,
                pkt,
                if first_failed {
                    Status::Error
                } else {
                    Status::Okay
                },
                &failed[..nfailed],
            );
            bump(&self.stats.rx_errors, 1);
            return;
        }
        Self::tx_respond(ring, rsp_prod_pvt, pkt, Status::Okay, &[]);

        let mut rest = total - linear;
        for slot in pages.iter_mut() {
            let len = rest.min(PAGE_SIZE as u32);
            rest -= len;
            if let Some(page) = slot.take() {
                if skb.add_page_frag(page, 0, len).is_err() {
                    bump(&self.stats.rx_dropped, 1);
                    return;
                }
            }
        }
        let csum = match pkt.first.flags().checksum() {
            Checksum::Partial => ChecksumState::Partial,
            Checksum::Unnecessary => ChecksumState::Unnecessary,
            Checksum::None => ChecksumState::None,
        };
        let gso = pkt.gso.map(|(size, t)| match t {
            GsoType::TcpV4 => Gso::TcpV4(size),
            GsoType::TcpV6 => Gso::TcpV6(size),
        });
        match skb.finish_rx(&self.shared.netdev, csum, gso) {
            Ok(fixup) => {
                if fixup {
                    bump(&self.shared.rx_gso_checksum_fixup, 1);
                }
                if pkt.gso.is_some() {
                    bump(&self.shared.rx_gso_packets, 1);
                }
                // GRO refuses (and frees) only an skb that is not exclusive, which a
                // fresh one always is.
                if napi.gro_receive(skb).is_ok() {
                    bump(&self.stats.rx_packets, 1);
                    bump(&self.stats.rx_bytes, u64::from(total));
                } else {
                    bump(&self.stats.rx_dropped, 1);
                }
            }
            Err(_) => {
                // Rows 13 and 15: no usable transport header / checksum setup failed.
                if self.note_problem() {
                    pr_warn!(
                        "{}: queue {}: dropping packet: bad headers\n",
                        self.name(),
                        self.index
                    );
                }
                bump(&self.stats.rx_errors, 1);
            }
        }
    }
}
