// SPDX-License-Identifier: GPL-2.0

//! Guest TX: packets the frontend sends, from its TX ring into the stack (the TX half of
//! the C driver's `netback.c`).
//!
//! Runs in the queue's NAPI poll: requests are copied out of the ring once, validated by
//! `common/src/protocol/backend.rs`, grant-copied into a new skb and handed to GRO. The
//! copies of a poll's packets run together, in one batch (one hypercall) for up to
//! `TX_BATCH_PACKETS` packets, as C's `xenvif_tx_action()` does. The `rate` key's credit
//! shaping is applied here too.

use core::sync::atomic::Ordering;

use kernel::prelude::*;

use crate::interface::Queue;
use crate::xen::backend::{now_ms, CopyBatch, GrantCopier, LocalDst};
use crate::xen::evtchn::{EoiHandle, Notifier};
use crate::xen::net::{bump, ChecksumState, Gso, NapiPoll, NapiPoller, Page, SkBuff};
use crate::xen::protocol::backend::{
    parse_tx_packet, Credit, TxDrop, TxPacket, TxParse, TX_COPY_LEN,
};
use crate::xen::protocol::flags::Checksum;
use crate::xen::protocol::netif::{GsoType, Status, TxResponse, NR_SLOTS_MIN, PAGE_SIZE};
use crate::xen::protocol::ring::{self, unconsumed_requests};
use crate::xen::sync::BhDisabled;
use crate::{TxRing, MAX_PACKET_OPS, TX_BATCH_PACKETS, TX_COPY_OPS};

/// Packets up to this length are copied whole into the skb's linear area.
const TX_LINEAR_MAX: u32 = 1600;
/// Pages a guest-TX packet's non-linear part can take (64 KiB).
const MAX_TX_PAGES: usize = 17;
/// Pages a batch may allocate (`GFP_ATOMIC`) for its packets' non-linear parts before any
/// of them is delivered: C's `MAX_PENDING_REQS`, the most pending slots (and so pages) its
/// `xenvif_tx_action()` holds. A batch ends before a packet that could pass it.
const MAX_PENDING_REQS: usize = ring::TX_RING_SIZE as usize;
// A batch always has room for one packet's pages.
const _: () = assert!(MAX_TX_PAGES <= MAX_PENDING_REQS);

/// The linear part of the skb for a packet of `total` bytes.
fn tx_linear_len(total: u32) -> u32 {
    if total <= TX_LINEAR_MAX {
        total
    } else {
        TX_COPY_LEN as u32
    }
}

/// One queue's guest-TX side while connected (NAPI context only).
pub(crate) struct TxConn {
    pub(crate) ring: TxRing,
    pub(crate) req_cons: u32,
    pub(crate) rsp_prod_pvt: u32,
    pub(crate) copier: GrantCopier,
    pub(crate) notifier: Notifier,
    pub(crate) eoi: EoiHandle,
    /// The request producer when the last EOI was sent: an event that brought no new
    /// requests is spurious.
    pub(crate) eoi_seen_prod: u32,
    /// Credit shaping (`rate`), per queue as in C.
    pub(crate) credit: Credit,
    pub(crate) credit_gen: u32,
    /// The packets of the batch being built; empty between polls.
    pub(crate) scratch: TxScratch,
}

/// Room for one batch of guest-TX packets, allocated at connect so that a poll allocates
/// nothing but the packets' skbs and pages.
pub(crate) struct TxScratch {
    /// The batch's packets in ring order (`TX_BATCH_PACKETS` entries, all `None` between
    /// polls): C's `tx_queue` with the `pending_tx_info` of its packets.
    pending: KVVec<Option<TxPending>>,
    /// For each copy in the batch (`TX_COPY_OPS`), the id of the request it reads: a
    /// failed copy answers that slot `RSP_ERROR`.
    src_ids: KVec<u16>,
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
enum TxVerdict {
    /// Refused by `parse_tx_packet`: every slot is answered `RSP_ERROR` (`rx_errors`).
    Malformed(TxDrop),
    /// A multicast control request: acknowledged, nothing else.
    Control,
    /// No skb, page or copy room for it: dropped (`rx_dropped`), answered `RSP_ERROR`.
    NoRoom,
    /// Its copies are in the batch: checked, answered, then handed to GRO.
    Copy,
}

/// The parts of a queue's [`TxConn`] that phase 1 (`tx_gather`) reads or advances: all
/// but the copier, which the batch holds, and the scratch packets, which it fills.
struct TxCursor<'a> {
    ring: &'a TxRing,
    req_cons: &'a mut u32,
    /// As it was before the batch: its responses are written in phase 3.
    rsp_prod_pvt: u32,
    credit: &'a mut Credit,
    credit_gen: &'a mut u32,
    /// `TxScratch::src_ids`.
    src_ids: &'a mut [u16],
}

/// A packet between phase 1 (`tx_build`) and phase 3 (`tx_submit`) of a batch.
struct TxPending {
    pkt: TxPacket,
    verdict: TxVerdict,
    /// The skb the batch's copies fill (`Copy`), its linear part first ...
    skb: Option<SkBuff>,
    /// ... then these pages, the non-linear part, in order.
    pages: [Option<Page>; MAX_TX_PAGES],
    /// How many copies of the batch are this packet's; they follow the copies of the
    /// packets before it.
    ops: usize,
}

impl TxPending {
    fn new(pkt: TxPacket, verdict: TxVerdict) -> Self {
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
    // ---- guest TX (frontend -> backend), NAPI context ----

    /// Processes up to `budget` packets; returns (packets, more work may be pending).
    ///
    /// The packets go in batches (`tx_batch`), each with one grant-copy batch for all of
    /// its packets, as C's `xenvif_tx_action()`; the responses are pushed (and the frontend
    /// notified) once, at the end.
    pub(crate) fn tx_poll(&self, napi: &NapiPoll<'_>, budget: i32, bh: &BhDisabled) -> i32 {
        let mut guard = self.tx.lock_with(bh);
        let Some(c) = &mut *guard else {
            return 0;
        };
        let mut done = 0i32;
        while done < budget {
            let (n, more) = self.tx_batch(napi, c, budget - done);
            done += n;
            if !more || n == 0 {
                break;
            }
        }
        if c.rsp_prod_pvt != c.ring.shared_rsp_prod() && c.ring.push_responses(c.rsp_prod_pvt) {
            c.notifier.notify();
        }
        done
    }

    /// One batch of up to `budget` packets (fewer when the batch is full: `TX_BATCH_PACKETS`
    /// packets, no room for another packet's `MAX_PACKET_OPS` copies, or its pages could
    /// pass `MAX_PENDING_REQS`). Returns the packets (ring entries) consumed and whether to
    /// go on: `false` when the ring is empty, credit ran out or the vif is disabled.
    ///
    /// Phase 1 (`tx_gather`, C's `xenvif_tx_build_gops()`): each packet is parsed, charged
    /// and given an skb and pages, and its copies join the batch; nothing is answered yet.
    /// Phase 2 (`gnttab_batch_copy()`): the batch runs. Phase 3 (`xenvif_tx_submit()`):
    /// each packet, in ring order, is answered and handed to the stack, or dropped, exactly
    /// as if it had been copied on its own.
    fn tx_batch(&self, napi: &NapiPoll<'_>, c: &mut TxConn, budget: i32) -> (i32, bool) {
        let TxConn {
            ring,
            req_cons,
            rsp_prod_pvt,
            copier,
            credit,
            credit_gen,
            scratch: TxScratch { pending, src_ids },
            ..
        } = c;

        // ---- Phase 1: gather (out of line, so that its temporaries are not on the stack
        // under GRO in phase 3).
        let mut batch = copier.batch();
        let cursor = TxCursor {
            ring,
            req_cons,
            rsp_prod_pvt: *rsp_prod_pvt,
            credit,
            credit_gen,
            src_ids,
        };
        let (n, more) = self.tx_gather(napi, cursor, pending, &mut batch, budget);

        // ---- Phase 2: all the batch's copies, in hypercalls of up to `TX_COPY_OPS`.
        let run = batch.run(self.shared.domid);
        if run.ops() > 0 {
            self.copies.count_tx(&run);
        }

        // ---- Phase 3: answer and deliver, in ring order. Each `Copy` packet's copies
        // follow the previous one's in the batch (and in `src_ids`). Each packet is handled
        // where it lies in the scratch array, and emptied there.
        let mut statuses = run.statuses();
        let mut first_op = 0usize;
        for slot in pending.iter_mut().take(n as usize) {
            let Some(p) = slot.as_mut() else {
                continue;
            };
            let ops = first_op..first_op + p.ops;
            first_op = ops.end;
            let ids = src_ids.get(ops).unwrap_or(&[]);
            let mut own = statuses.by_ref().take(p.ops);
            let copies = own.by_ref().zip(ids.iter().copied());
            self.tx_submit(napi, ring, rsp_prod_pvt, p, copies);
            // The next packet's statuses start after all of this one's, read or not.
            own.for_each(|_| {});
            // Frees what the packet still holds (the pages of a dropped packet).
            *slot = None;
        }
        (n, more)
    }

    /// Phase 1 of a batch: reads up to `budget` packets off the ring into `pending` (in
    /// ring order, from its first entry), charges them, and adds the copies of those to
    /// copy to `batch`. Returns the packets (ring entries) consumed and whether to go on
    /// (see `tx_batch`).
    ///
    /// Never inlined: the parse's and `tx_build`'s temporaries (a `TxParse`, the
    /// destination array) live in this frame, which is gone before phase 3 hands the
    /// packets to GRO, under which the whole receive path runs.
    #[inline(never)]
    fn tx_gather<'l>(
        &self,
        napi: &NapiPoll<'_>,
        cur: TxCursor<'_>,
        pending: &'l mut [Option<TxPending>],
        batch: &mut CopyBatch<'_, 'l>,
        budget: i32,
    ) -> (i32, bool) {
        let mut free = pending;
        // Pages allocated for the batch's packets so far.
        let mut pages = 0usize;
        let mut n = 0i32;
        let mut more = true;
        while n < budget {
            if batch.len() + MAX_PACKET_OPS > TX_COPY_OPS || pages + MAX_TX_PAGES > MAX_PENDING_REQS
            {
                break;
            }
            let Some((slot, rest)) = core::mem::take(&mut free).split_first_mut() else {
                break;
            };
            free = rest;
            if self.shared.is_disabled() {
                more = false;
                break;
            }
            // The response room is counted from `rsp_prod_pvt` as it was before the batch:
            // the responses owed for the packets gathered so far take room too, as in C's
            // `XEN_RING_NR_UNCONSUMED_REQUESTS`, so that a batch never owes more than a
            // ring of responses. A correct frontend never has more than a ring of requests
            // past the responses it has seen, so for it the room never limits.
            let req_prod = cur.ring.req_prod();
            let avail = match unconsumed_requests(
                req_prod,
                *cur.req_cons,
                cur.rsp_prod_pvt,
                ring::TX_RING_SIZE,
            ) {
                Ok(n) => n,
                Err(e) => {
                    self.fatal(format_args!(
                        "Impossible number of requests: req_prod {} req_cons {}",
                        e.prod, e.cons
                    ));
                    more = false;
                    break;
                }
            };
            if avail == 0 {
                more = false;
                break;
            }
            let cons = *cur.req_cons;
            let ring_ref = cur.ring;
            let verdict = parse_tx_packet(
                avail,
                |i| ring_ref.read_slot(cons.wrapping_add(i)),
                self.shared.fatal_slots,
            );
            let (pkt, verdict) = match verdict {
                TxParse::Fatal(f) => {
                    self.fatal(format_args!("bad TX request: {f:?}"));
                    more = false;
                    break;
                }
                TxParse::Drop(pkt, why) => {
                    // Charged like a good packet: C's `xenvif_tx_build_gops()` takes the
                    // first request's `size` off the credit before it counts the slots or
                    // checks the length (rows 8, 9, 11 are found after that).
                    if !self.tx_take_credit(cur.credit, cur.credit_gen, pkt.len()) {
                        more = false;
                        break;
                    }
                    (pkt, TxVerdict::Malformed(why))
                }
                TxParse::Packet(pkt) => {
                    // Multicast control requests are charged too (their announced size), as
                    // C's `xenvif_tx_build_gops()` checks the credit before it looks at
                    // the extras.
                    if !self.tx_take_credit(cur.credit, cur.credit_gen, pkt.len()) {
                        more = false;
                        break;
                    }
                    if pkt.mcast.is_some() {
                        // No multicast filter: the request is acknowledged, nothing else.
                        (pkt, TxVerdict::Control)
                    } else {
                        (pkt, TxVerdict::Copy)
                    }
                }
            };
            *cur.req_cons = cons.wrapping_add(pkt.consumed);
            let p = slot.insert(TxPending::new(pkt, verdict));
            if let TxVerdict::Copy = verdict {
                // Pages are counted even if the packet became `NoRoom`: it holds them
                // until phase 3.
                pages += Self::tx_build(napi, p, batch, cur.src_ids);
            }
            // Every request (or chain) consumed counts against the budget, packet or not
            // (dropped, multicast control): a frontend that keeps the ring full of requests
            // that make no packet must not keep this softirq polling without end.
            n += 1;
        }
        (n, more)
    }

    /// Charges `size` bytes (the first request's `size`) to the queue's credit. Without
    /// enough credit the packet stays on the ring until the next window (row 24): the
    /// worker is asked to reschedule NAPI then, and `false` is returned.
    fn tx_take_credit(&self, credit: &mut Credit, credit_gen: &mut u32, size: u32) -> bool {
        self.apply_rate(credit, credit_gen);
        if let Err(at) = credit.charge(size, now_ms()) {
            self.credit_wake_at.store(at.max(1), Ordering::Release);
            self.waker.kick();
            return false;
        }
        // Credit again (a new window, or a new `rate` whose watch scheduled us): the wait
        // is over. A stale wake time would keep `tx_complete` from rescheduling for
        // requests that arrive before it passes (C tests its credit timer only when the
        // credit is short, `tx_credit_exceeded()`).
        if self.credit_wake_at.load(Ordering::Relaxed) != 0 {
            self.credit_wake_at.store(0, Ordering::Release);
        }
        true
    }

    /// Takes a changed `rate` into this queue's credit.
    fn apply_rate(&self, credit: &mut Credit, credit_gen: &mut u32) {
        let gen = self.shared.rate_gen.load(Ordering::Acquire);
        if gen == *credit_gen {
            return;
        }
        *credit_gen = gen;
        let bytes = self.shared.rate_bytes.load(Ordering::Relaxed);
        let usec = self.shared.rate_usec.load(Ordering::Relaxed);
        if bytes == u64::MAX {
            *credit = Credit::unlimited();
        } else if credit.is_limited() {
            credit.set_rate(bytes, usec);
        } else {
            *credit = Credit::new(bytes, usec, now_ms());
        }
    }

    /// Writes the responses of one packet at `*rsp_prod_pvt`: the first request, `RSP_NULL`
    /// for each extra, then each further slot; further slots whose id is in `failed` get
    /// `RSP_ERROR`.
    fn tx_respond(
        ring: &TxRing,
        rsp_prod_pvt: &mut u32,
        pkt: &TxPacket,
        first: Status,
        failed: &[u16],
    ) {
        let mut put = |id: u16, status: Status| {
            let rsp = TxResponse {
                id,
                status: status as i16,
            };
            ring.write_slot(*rsp_prod_pvt, &rsp.to_slot());
            *rsp_prod_pvt = rsp_prod_pvt.wrapping_add(1);
        };
        put(pkt.first.id, first);
        for _ in 0..pkt.extra_slots {
            put(0, Status::Null);
        }
        for &id in pkt.further_ids() {
            let st = if first == Status::Error || failed.contains(&id) {
                Status::Error
            } else {
                Status::Okay
            };
            put(id, st);
        }
    }

    /// Phase 1 for a packet to copy (C's `xenvif_tx_build_gops()` for one packet): gives
    /// `p` a new skb and the pages for its non-linear part and adds its copies to `batch`,
    /// each with the id of the request it reads in `src_ids` (indexed like the batch).
    /// Without an skb, a page or room for the copies, `p` becomes `NoRoom` and none of its
    /// copies stays in the batch. Returns the pages it gave `p` (`NoRoom` or not).
    fn tx_build<'l>(
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
    fn tx_submit(
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
    fn tx_deliver(
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

    /// NAPI finished: sends the pending late EOI of the TX (or shared) channel and re-arms
    /// the request event; returns whether requests arrived meanwhile.
    pub(crate) fn tx_complete(&self, bh: &BhDisabled) -> bool {
        let mut guard = self.tx.lock_with(bh);
        let Some(c) = &mut *guard else {
            return false;
        };
        if self.shared.is_disabled() {
            // No EOI: the channel of a disabled vif stays quiet.
            return false;
        }
        let prod = c.ring.request_event_at(c.req_cons.wrapping_add(1));
        // While waiting for credit the worker reschedules NAPI; do not spin here.
        let more = prod != c.req_cons && self.credit_wake_at.load(Ordering::Acquire) == 0;
        if self.tx_eoi_pending.swap(false, Ordering::AcqRel) {
            let spurious = prod == c.eoi_seen_prod && !self.shared_channel.load(Ordering::Relaxed);
            c.eoi_seen_prod = prod;
            c.eoi.eoi(spurious);
        }
        more
    }
}

impl NapiPoller for Queue {
    fn poll(&self, napi: NapiPoll<'_>, budget: i32, bh: &BhDisabled) -> i32 {
        let done = self.tx_poll(&napi, budget, bh);
        if done < budget && napi.complete_done(done) && self.tx_complete(bh) {
            self.napi.schedule();
        }
        done
    }
}
