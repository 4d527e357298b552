// SPDX-License-Identifier: GPL-2.0

//! Guest RX: packets for the frontend, from the stack into its RX ring (the C driver's
//! `rx.c`).
//!
//! `ndo_start_xmit` queues skbs on the queue's backlog; the queue's worker thread
//! grant-copies them into the buffers the frontend posted, drops packets that waited
//! longer than the drain timeout, and turns the carrier off when the guest stalls. The
//! worker also acts as guest TX's credit timer.

use core::sync::atomic::Ordering;

use kernel::prelude::*;

use crate::fe;
use crate::interface::Queue;
use crate::xen::backend::{now_ms, CopyBatch, GrantCopier, LocalSrc, Waker, WorkerFn};
use crate::xen::evtchn::{EoiHandle, Notifier};
use crate::xen::net::{bump, ChecksumState, Gso, SkBuff};
use crate::xen::protocol::backend::rx_slots_needed;
use crate::xen::protocol::flags::{Checksum, RxFlags};
use crate::xen::protocol::netif::{
    Extra, ExtraInfo, GsoType, RxRequest, RxResponse, Status, MAX_TX_SIZE, NR_SLOTS_MIN, PAGE_SIZE,
};
use crate::xen::protocol::pages::max_chunks;
use crate::xen::protocol::ring::{self, published};
use crate::{RxRing, MAX_PACKET_OPS, RX_COPY_OPS, RX_DRAIN_TIMEOUT_MSECS, RX_STALL_TIMEOUT_MSECS};

/// Guest-RX backlog cap per queue (`XENVIF_RX_QUEUE_BYTES`: half a ring of pages).
const RX_QUEUE_BYTES: u64 = (ring::RX_RING_SIZE as u64 / 2) * PAGE_SIZE as u64;
/// Packets per guest-RX pass (`RX_BATCH_SIZE`).
const RX_BATCH: u32 = 64;
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
const MAX_RX_CHUNKS: usize = max_chunks(MAX_TX_SIZE as u32, 1 + RX_SKB_FRAGS) as usize;
const _: () = assert!(MAX_RX_CHUNKS == 51);
/// How often a queue waiting for buffers of a frontend without `feature-rx-notify` looks
/// for new ones (ms).
const RX_POLL_NO_NOTIFY_MS: u32 = 30;
/// Drain timeout of a queue whose frontend lacks `feature-rx-notify` (ms), as C.
const RX_DRAIN_NO_NOTIFY_MS: u32 = 30;
/// How often a worker with packets still queued wakes to re-check the drain timeout while
/// the frontend stays silent (ms).
const RX_DRAIN_CHECK_MS: u32 = 1000;
/// Data slots one guest-RX packet may fill: every frontend accepts `NR_SLOTS_MIN` per
/// packet (`XEN_NETIF_NR_SLOTS_MIN`; netfront rejects more), so a longer chain is dropped.
const MAX_RX_DATA_SLOTS: usize = NR_SLOTS_MIN;
// `rx_complete` marks failed data slots in a `u32` bitmask.
const _: () = assert!(MAX_RX_DATA_SLOTS <= 32);
// A packet's copies fit one copier batch: each chunk is one copy, split once more at each
// boundary between the frontend's buffers (review of the 51-chunk limit: a larger
// `RX_SKB_FRAGS` must raise `MAX_PACKET_OPS` too, or such packets would be dropped).
const _: () = assert!(MAX_RX_CHUNKS + MAX_RX_DATA_SLOTS - 1 <= MAX_PACKET_OPS);

/// One queue's guest-RX side while connected (worker thread only).
pub(crate) struct RxConn {
    pub(crate) ring: RxRing,
    pub(crate) req_cons: u32,
    pub(crate) rsp_prod_pvt: u32,
    pub(crate) copier: GrantCopier,
    pub(crate) notifier: Notifier,
    /// The RX channel's EOI in split mode.
    pub(crate) eoi: Option<EoiHandle>,
    pub(crate) eoi_seen_prod: u32,
    /// When (ms) the queue last made progress: delivered a packet, connected, or became
    /// ready after a stall (C: `last_rx_time`).
    pub(crate) last_progress: u64,
    /// Slots the head packet needs (C: `rx_slots_needed`); 1 when the backlog is empty
    /// (C: 0, ready at once; here one posted buffer), so that a stalled queue becomes
    /// ready when the frontend posts that many buffers (or a packet is delivered).
    pub(crate) slots_needed: u32,
    /// The packets of the batch being built; empty between batches.
    pub(crate) scratch: RxScratch,
}

impl Queue {
    // ---- guest RX (backend -> frontend), worker thread ----

    /// Queues `skb` for the guest (from `ndo_start_xmit`).
    pub(crate) fn rx_enqueue(&self, skb: SkBuff) {
        if !self.rx_ready.load(Ordering::Acquire) || self.shared.is_disabled() {
            bump(&self.stats.tx_dropped, 1);
            return;
        }
        // Without `feature-rx-notify` the frontend never says it posted buffers: packets
        // wait at most as long as the buffer poll (C's `read_xenbus_vif_flags()` sets
        // `drain_timeout` to 30 ms then).
        let drain_ms = if self.shared.fe_has(fe::RX_NOTIFY) {
            RX_DRAIN_TIMEOUT_MSECS.get()
        } else {
            RX_DRAIN_NO_NOTIFY_MS
        };
        let bytes = self.backlog.push(skb, drain_ms);
        if bytes >= RX_QUEUE_BYTES {
            // XSA-392: a guest that posts no buffers must not make dom0 hoard memory.
            self.shared.netdev.tx_stop(self.index);
        }
        self.waker.kick();
    }

    /// One pass of the worker: drains the backlog into the frontend's buffers.
    fn rx_run(&self) -> u32 {
        if self.shared.is_disabled() {
            if !self.shared.disable_reported.swap(true, Ordering::AcqRel) {
                self.shared.carrier_off_disabled();
                pr_info!("{}: Disabled for further use\n", self.name());
            }
            self.backlog.purge();
            return 0;
        }
        // Counted in `rx_dropped`, as C's `xenvif_rx_queue_drop_expired()` does
        // (`dev->stats.rx_dropped`), although these are packets the vif failed to send: a
        // refusal at `ndo_start_xmit` is `tx_dropped` in both drivers. Packets freed by a
        // purge (disconnect, disabled vif) are counted nowhere, as C's
        // `xenvif_rx_queue_purge()`.
        let expired = self.backlog.drop_expired();
        if expired > 0 {
            bump(&self.stats.rx_dropped, u64::from(expired));
        }
        let mut guard = self.rx.lock();
        let Some(c) = &mut *guard else {
            self.backlog.purge();
            return 0;
        };
        let mut sent = 0u32;
        let mut short = false;
        while sent < RX_BATCH {
            let (n, end) = self.rx_batch(c, RX_BATCH - sent);
            sent += n;
            match end {
                RxEnd::Full if n > 0 => {}
                RxEnd::Full | RxEnd::Done => break,
                RxEnd::Short => {
                    short = true;
                    break;
                }
                RxEnd::Fatal => return 0,
            }
        }
        if c.rsp_prod_pvt != c.ring.shared_rsp_prod() && c.ring.push_responses(c.rsp_prod_pvt) {
            c.notifier.notify();
        }
        if self.backlog.bytes() < RX_QUEUE_BYTES && self.shared.netdev.tx_stopped(self.index) {
            self.shared.netdev.tx_wake(self.index);
        }
        self.rx_stall_check(c, short, sent);
        if let Some(eoi) = c.eoi {
            if self.rx_eoi_pending.swap(false, Ordering::AcqRel) {
                let prod = c.ring.req_prod();
                eoi.eoi(prod == c.eoi_seen_prod);
                c.eoi_seen_prod = prod;
            }
        }
        if sent == RX_BATCH {
            // More may be queued: come back at once.
            self.waker.kick();
        }
        if self.backlog.peek().is_none() {
            0
        } else if short && !self.shared.fe_has(fe::RX_NOTIFY) {
            // A frontend without `feature-rx-notify` never signals new buffers: poll for
            // them (C uses 30 ms then too).
            RX_POLL_NO_NOTIFY_MS
        } else {
            // Re-check the drain timeout even if the frontend stays silent.
            RX_DRAIN_CHECK_MS
        }
    }

    /// Stall detection (with `feature-rx-notify`; without it C sets `stall_timeout` to 0),
    /// as C's `xenvif_rx_queue_stalled()` / `xenvif_rx_queue_ready()` and
    /// `xenvif_queue_carrier_off()` / `xenvif_queue_carrier_on()`:
    ///
    /// - a queue stalls when it lacks the buffers its head packet needs and has delivered
    ///   no packet for the stall timeout (a slow guest that keeps taking packets is not
    ///   stalled; a backlog that empties in between, by the drain timeout, does not restart
    ///   the clock either, as C's `last_rx_time` is reset only by a delivery);
    /// - a stalled queue becomes ready when the frontend posts the buffers the last head
    ///   packet needed, or a packet was delivered (a backlog emptied by the drain timeout is
    ///   no recovery: it would only turn the carrier back on for the next packets to pile
    ///   up);
    /// - the carrier goes off when the first queue of the vif stalls and comes back only
    ///   when no queue is stalled (`Shared::stalled_queues`, C's `stalled_queues`), and
    ///   never while the vif is disabled.
    ///
    /// Worker thread only (process context); `stalled` is this queue's, written only here
    /// and in `drop_connection` (worker stopped).
    fn rx_stall_check(&self, c: &mut RxConn, short: bool, sent: u32) {
        // `rx_stall_timeout_msecs` = 0 turns stall detection off, as C's `stall_timeout`
        // = 0 does (`if (vif->stall_timeout)` in `xenvif_kthread_guest_rx()`); it cannot
        // change while loaded (0444), so no queue is stalled then.
        let timeout = RX_STALL_TIMEOUT_MSECS.get();
        if !self.shared.fe_has(fe::RX_NOTIFY) || timeout == 0 {
            return;
        }
        let now = now_ms();
        if sent > 0 {
            // C: `xenvif_rx_skb()` sets `last_rx_time`.
            c.last_progress = now;
        }
        let sh = &self.shared;
        if !self.stalled.load(Ordering::Relaxed) {
            if !short || now.saturating_sub(c.last_progress) < u64::from(timeout) {
                return;
            }
            self.stalled.store(true, Ordering::Relaxed);
            if sh.rx_stalled() {
                pr_warn!("{}: Guest Rx stalled\n", self.name());
            }
            return;
        }
        // Stalled: ask for an event once the buffers exist (the backlog may be empty, so
        // `rx_run` may not have asked), then look at what the frontend posted.
        let needed = c.slots_needed.max(1);
        let prod = c.ring.request_event_at(c.req_cons.wrapping_add(needed));
        let posted = published(prod, c.req_cons, ring::RX_RING_SIZE).unwrap_or(0);
        if sent == 0 && posted < needed {
            return;
        }
        self.stalled.store(false, Ordering::Relaxed);
        // C: `xenvif_queue_carrier_on()` resets `last_rx_time`.
        c.last_progress = now;
        if sh.rx_ready() {
            pr_info!("{}: Guest Rx ready\n", self.name());
        }
    }

    /// One batch of up to `budget` packets from the backlog (fewer when the batch is full:
    /// `RX_BATCH` packets, or no room for another packet's `MAX_PACKET_OPS` copies), as C's
    /// `xenvif_rx_action()` with its copy batch (`xenvif_rx_copy_add()` /
    /// `xenvif_rx_copy_flush()`): phase 1 (`rx_build`) takes each packet's buffers and adds
    /// its copies to the batch, phase 2 runs the batch (in hypercalls of up to
    /// `COPY_BATCH` copies), phase 3 (`rx_complete`) writes each packet's responses in
    /// order. Returns the packets taken from the backlog and why the batch ended.
    fn rx_batch(&self, c: &mut RxConn, budget: u32) -> (u32, RxEnd) {
        // ---- Phase 1: gather.
        let mut batch = c.copier.batch();
        let mut free = &mut c.scratch.pending[..];
        // Packets taken from the backlog, and how many of them are in `pending`.
        let mut n = 0u32;
        let mut held = 0usize;
        let mut end = RxEnd::Done;
        while n < budget {
            if batch.len() + MAX_PACKET_OPS > RX_COPY_OPS || free.is_empty() {
                end = RxEnd::Full;
                break;
            }
            let Some((len, gso)) = self.backlog.peek() else {
                // Nothing waits: a stalled queue becomes ready again as soon as the frontend
                // posts one buffer (C sets `rx_slots_needed` to 0 when its queue empties).
                // Keeping the last packet's count could keep the carrier off for good: with
                // the carrier off no packet comes to lower it.
                c.slots_needed = 1;
                break;
            };
            let gso_ok = gso && (self.shared.fe_has(fe::GSO_V4) || self.shared.fe_has(fe::GSO_V6));
            let needed = rx_slots_needed(len, gso_ok);
            c.slots_needed = needed;
            let prod = c.ring.req_prod();
            let avail = match published(prod, c.req_cons, ring::RX_RING_SIZE) {
                Ok(n) => n,
                Err(e) => {
                    self.fatal(format_args!(
                        "Impossible number of RX requests: req_prod {} req_cons {}",
                        e.prod, e.cons
                    ));
                    end = RxEnd::Fatal;
                    break;
                }
            };
            if avail < needed {
                // Ask for an event once enough buffers exist, then look again.
                let prod = c.ring.request_event_at(c.req_cons.wrapping_add(needed));
                if prod.wrapping_sub(c.req_cons) < needed {
                    end = RxEnd::Short;
                    break;
                }
                continue;
            }
            let Some(skb) = self.backlog.pop() else {
                break;
            };
            n += 1;
            let Some(skb) = self.rx_prepare(skb) else {
                continue;
            };
            let Some((slot, rest)) = core::mem::take(&mut free).split_first_mut() else {
                // (Checked above.)
                bump(&self.stats.tx_dropped, 1);
                break;
            };
            free = rest;
            held += 1;
            let p = slot.insert(RxPending::new(skb, c.req_cons));
            let used = self.rx_build(&c.ring, p, &mut batch, &mut c.scratch.op_slot);
            c.req_cons = c.req_cons.wrapping_add(used);
            c.rsp_prod_pvt = c.rsp_prod_pvt.wrapping_add(used);
        }

        // ---- Phase 2: all the batch's copies.
        let run = batch.run(self.shared.domid);
        if run.ops() > 0 {
            self.copies.count_rx(&run);
        }

        // ---- Phase 3: responses and counters, in order. Each packet's copies follow the
        // previous one's in the batch (and in `op_slot`).
        let mut statuses = run.statuses();
        let mut first_op = 0usize;
        for slot in c.scratch.pending.iter_mut().take(held) {
            let Some(p) = slot.take() else {
                continue;
            };
            let ops = first_op..first_op + p.ops;
            first_op = ops.end;
            let slots = c.scratch.op_slot.get(ops).unwrap_or(&[]);
            let mut own = statuses.by_ref().take(p.ops);
            self.rx_complete(&c.ring, p, own.by_ref().zip(slots.iter().copied()));
            // The next packet's statuses start after all of this one's, read or not.
            own.for_each(|_| {});
        }
        (n, end)
    }

    /// Makes `skb` fit the copy sources `rx_build` keeps: `None` (counted in `tx_dropped`)
    /// if it cannot.
    fn rx_prepare(&self, skb: SkBuff) -> Option<SkBuff> {
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
    /// slots and GSO extra); 0 if it is dropped (`p.dropped`, none of its copies stays in
    /// the batch, no slot is used).
    fn rx_build<'l>(
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
        *csum = match skb.checksum() {
            ChecksumState::Partial => Checksum::Partial,
            ChecksumState::Unnecessary => Checksum::Unnecessary,
            _ => Checksum::None,
        };

        // Data slots: one request (a whole page) per started 4 KiB, filled from offset 0;
        // the GSO extra takes the slot right after the first data slot.
        *data_slots = len.div_ceil(PAGE_SIZE as u32).max(1);
        if *data_slots as usize > MAX_RX_DATA_SLOTS {
            *dropped = true;
            return 0;
        }
        let mut grefs: [u32; MAX_RX_DATA_SLOTS] = [0; MAX_RX_DATA_SLOTS];
        for k in 0..*data_slots {
            let req = RxRequest::from_le_bytes(&ring.read_slot(rx_slot_of(*first_idx, *gso, k)));
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
        *data_slots + u32::from(gso.is_some())
    }

    /// Phase 3 for one packet: writes its responses (a data slot whose copy failed gets
    /// `RSP_ERROR`) and the GSO extra, counts it and frees the skb. `copies` are the
    /// statuses of its copies with the data slot each filled, in the order `rx_build`
    /// added them.
    fn rx_complete(&self, ring: &RxRing, p: RxPending, copies: impl Iterator<Item = (i16, u8)>) {
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
        for k in 0..data_slots {
            let mut flags = if k == 0 {
                RxFlags::from_checksum(p.csum)
            } else {
                RxFlags::EMPTY
            };
            if k + 1 < data_slots {
                flags = flags | RxFlags::MORE_DATA;
            }
            if k == 0 && p.gso.is_some() {
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
            ring.write_slot(rx_slot_of(p.first_idx, p.gso, k), &rsp.to_le_bytes());
        }
        if let Some((size, gso_type)) = p.gso {
            let extra = ExtraInfo::encode(&Extra::Gso { size, gso_type }, false);
            ring.write_slot(p.first_idx.wrapping_add(1), &extra.to_le_bytes());
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

/// The ring index of data slot `k` of a packet whose first slot is `first_idx`: the GSO
/// extra, if any, takes the slot right after the first data slot.
fn rx_slot_of(first_idx: u32, gso: Option<(u16, GsoType)>, k: u32) -> u32 {
    if k == 0 || gso.is_none() {
        first_idx.wrapping_add(k)
    } else {
        first_idx.wrapping_add(k + 1)
    }
}

/// Why `rx_batch` ended.
#[derive(Clone, Copy)]
enum RxEnd {
    /// The backlog is empty, or the budget is used.
    Done,
    /// The batch is full: another may follow.
    Full,
    /// The frontend has not posted the buffers the head packet needs.
    Short,
    /// The frontend broke the ring: the vif is being disabled.
    Fatal,
}

/// Room for one batch of guest-RX packets, allocated at connect.
pub(crate) struct RxScratch {
    /// The batch's packets in order (`RX_BATCH` entries, all `None` between batches).
    pending: KVVec<Option<RxPending>>,
    /// For each copy in the batch (`RX_COPY_OPS`), the data slot of its packet it fills.
    op_slot: KVec<u8>,
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
struct RxPending {
    /// The packet, which the batch's copies read.
    skb: SkBuff,
    /// Given up in phase 1 (counted in `tx_dropped`): no copy, no slot used.
    dropped: bool,
    len: u32,
    /// The ring index of its first slot.
    first_idx: u32,
    data_slots: u32,
    gso: Option<(u16, GsoType)>,
    csum: Checksum,
    /// Per data slot: the request's id and the bytes copied into its buffer.
    ids: [u16; MAX_RX_DATA_SLOTS],
    fill: [u16; MAX_RX_DATA_SLOTS],
    /// How many copies of the batch are this packet's; they follow the copies of the
    /// packets before it.
    ops: usize,
}

impl RxPending {
    fn new(skb: SkBuff, first_idx: u32) -> Self {
        Self {
            skb,
            dropped: false,
            len: 0,
            first_idx,
            data_slots: 0,
            gso: None,
            csum: Checksum::None,
            ids: [0; MAX_RX_DATA_SLOTS],
            fill: [0; MAX_RX_DATA_SLOTS],
            ops: 0,
        }
    }
}

impl WorkerFn for Queue {
    fn waker(&self) -> &Waker {
        &self.waker
    }

    fn run(&self) -> u32 {
        let mut timeout = self.rx_run();
        let at = self.credit_wake_at.load(Ordering::Acquire);
        if at != 0 {
            let now = now_ms();
            if now >= at {
                // Only the wake time read: NAPI may have cleared it (credit again) and
                // set a new one meanwhile, which must stay.
                let _ = self.credit_wake_at.compare_exchange(
                    at,
                    0,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
                self.napi.schedule();
            } else {
                let wait = (at - now).min(u64::from(u32::MAX)) as u32;
                timeout = if timeout == 0 {
                    wait
                } else {
                    timeout.min(wait)
                };
            }
        }
        timeout
    }
}
