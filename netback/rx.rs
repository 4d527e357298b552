// SPDX-License-Identifier: GPL-2.0

//! Guest RX: packets for the frontend, from the stack into its RX ring (the C driver's
//! `rx.c`).
//!
//! `ndo_start_xmit` queues skbs on the queue's backlog; the queue's worker thread
//! grant-copies them into the buffers the frontend posted, drops packets that waited
//! longer than the drain timeout, and turns the carrier off when the guest stalls. The
//! worker also acts as guest TX's credit timer. This file runs the worker's pass and its
//! copy batch; each packet's slots, copies and responses are in `rx_packet.rs`.

use core::sync::atomic::Ordering;

use kernel::prelude::*;

use crate::fe;
use crate::interface::Queue;
use crate::rx_packet::{RxPending, RxScratch};
use crate::xen::backend::{now_ms, GrantCopier, Waker, WorkerFn};
use crate::xen::evtchn::{EoiHandle, Notifier};
use crate::xen::net::{bump, SkBuff};
use crate::xen::protocol::backend::rx_slots_needed;
use crate::xen::protocol::netif::PAGE_SIZE;
use crate::xen::protocol::ring::{self, published};
use crate::{RxRing, MAX_PACKET_OPS, RX_COPY_OPS, RX_DRAIN_TIMEOUT_MSECS, RX_STALL_TIMEOUT_MSECS};

/// Guest-RX backlog cap per queue (`XENVIF_RX_QUEUE_BYTES`: half a ring of pages).
const RX_QUEUE_BYTES: u64 = (ring::RX_RING_SIZE as u64 / 2) * PAGE_SIZE as u64;
/// Packets per guest-RX pass (`RX_BATCH_SIZE`).
pub(crate) const RX_BATCH: u32 = 64;
/// How often a queue waiting for buffers of a frontend without `feature-rx-notify` looks
/// for new ones (ms).
const RX_POLL_NO_NOTIFY_MS: u32 = 30;
/// Drain timeout of a queue whose frontend lacks `feature-rx-notify` (ms), as C.
const RX_DRAIN_NO_NOTIFY_MS: u32 = 30;
/// How often a worker with packets still queued wakes to re-check the drain timeout while
/// the frontend stays silent (ms).
const RX_DRAIN_CHECK_MS: u32 = 1000;
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
            let Some(head) = self.backlog.peek() else {
                // Nothing waits: a stalled queue becomes ready again as soon as the frontend
                // posts one buffer (C sets `rx_slots_needed` to 0 when its queue empties).
                // Keeping the last packet's count could keep the carrier off for good: with
                // the carrier off no packet comes to lower it.
                c.slots_needed = 1;
                break;
            };
            let gso_ok =
                head.gso && (self.shared.fe_has(fe::GSO_V4) || self.shared.fe_has(fe::GSO_V6));
            let needed = rx_slots_needed(head.len, gso_ok, head.hash);
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
