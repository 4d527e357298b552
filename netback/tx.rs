// SPDX-License-Identifier: GPL-2.0

//! Guest TX: packets the frontend sends, from its TX ring into the stack (the TX half of
//! the C driver's `netback.c`).
//!
//! Runs in the queue's NAPI poll: requests are copied out of the ring once, validated by
//! `common/src/protocol/backend.rs`, grant-copied into a new skb and handed to GRO. The
//! copies of a poll's packets run together, in one batch (one hypercall) for up to
//! `TX_BATCH_PACKETS` packets, as C's `xenvif_tx_action()` does. The `rate` key's credit
//! shaping is applied here too. This file walks the ring and runs the batch; each packet's
//! skb, copies and delivery are in `tx_packet.rs`.

use core::sync::atomic::Ordering;

use crate::interface::Queue;
use crate::tx_packet::{TxPending, TxScratch, TxVerdict, MAX_TX_PAGES};
use crate::xen::backend::{now_ms, CopyBatch, GrantCopier};
use crate::xen::evtchn::{EoiHandle, Notifier};
use crate::xen::net::{NapiPoll, NapiPoller};
use crate::xen::protocol::backend::{parse_tx_packet, Credit, TxPacket, TxParse};
use crate::xen::protocol::netif::{Status, TxResponse};
use crate::xen::protocol::ring::{self, unconsumed_requests};
use crate::xen::sync::BhDisabled;
use crate::{TxRing, MAX_PACKET_OPS, TX_COPY_OPS};

/// Pages a batch may allocate (`GFP_ATOMIC`) for its packets' non-linear parts before any
/// of them is delivered: C's `MAX_PENDING_REQS`, the most pending slots (and so pages) its
/// `xenvif_tx_action()` holds. A batch ends before a packet that could pass it.
const MAX_PENDING_REQS: usize = ring::TX_RING_SIZE as usize;
// A batch always has room for one packet's pages.
const _: () = assert!(MAX_TX_PAGES <= MAX_PENDING_REQS);

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
    pub(crate) fn tx_respond(
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
