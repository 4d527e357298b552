// SPDX-License-Identifier: GPL-2.0

//! One queue of the device: its state, the event-channel handler, late EOIs, teardown and
//! the NAPI poll that drives TX reaping and RX (C `xen-netfront.c`: `struct
//! netfront_queue`, `xennet_interrupt`/`xennet_handle_tx`/`xennet_handle_rx`,
//! `xennet_poll` and `xennet_release_tx_bufs`/`xennet_release_rx_bufs`).

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use kernel::prelude::*;
use kernel::sync::Arc;

use crate::rx::RxRingState;
use crate::tx::TxRingState;
use crate::xen::evtchn::{Eoi, EoiHandle, EventHandler};
use crate::xen::net::{NapiHandle, NapiPoll, NapiPoller, NetDevRef, QueueCounters};
use crate::xen::sync::{BhDisabled, SpinLockBh};

/// EOI slot of the TX event channel, or of the only one when TX and RX share a channel.
pub(crate) const EOI_SLOT_TX: usize = 0;
/// EOI slot of the RX event channel (split event channels only).
pub(crate) const EOI_SLOT_RX: usize = 1;
/// Event channels a queue binds at most: TX and RX when split.
pub(crate) const EOI_SLOTS: usize = 2;

/// State shared by the device and all its queues.
pub(crate) struct Shared {
    pub(crate) netdev: NetDevRef,
    pub(crate) broken: AtomicBool,
    /// The backend is not trusted: every transmitted packet is first copied into zeroed
    /// pages of its own ([`SkBuff::bounce_zeroed`], XSA-403). Set at each connect, before
    /// the data path starts.
    ///
    /// [`SkBuff::bounce_zeroed`]: crate::xen::net::SkBuff::bounce_zeroed
    pub(crate) bounce: AtomicBool,
    /// GSO packets received without a partial checksum and fixed up (ethtool
    /// `rx_gso_checksum_fixup`, as in C).
    pub(crate) rx_gso_checksum_fixup: AtomicU64,
    /// Packets sent with a GSO extra (ethtool `tx_gso_packets`).
    pub(crate) tx_gso_packets: AtomicU64,
}

impl Shared {
    /// Marks the device broken after a protocol violation by the backend: one log line,
    /// carrier off, and from now on the data path ignores the rings.
    pub(crate) fn mark_broken(&self, queue: u32, what: fmt::Arguments<'_>) {
        if !self.broken.swap(true, Ordering::AcqRel) {
            pr_alert!(
                "{} queue {}: {}; device disabled\n",
                self.netdev.name(),
                queue,
                what
            );
            self.netdev.set_carrier(false);
        }
    }

    pub(crate) fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }

    /// Whether transmitted packets are bounced into zeroed pages (see [`Shared::bounce`]).
    pub(crate) fn bounces(&self) -> bool {
        self.bounce.load(Ordering::Relaxed)
    }
}

/// One queue: rings, NAPI context and counters.
#[pin_data]
pub(crate) struct Queue {
    pub(crate) index: u32,
    pub(crate) shared: Arc<Shared>,
    pub(crate) napi: NapiHandle,
    /// Taken in NAPI poll (softirq) and `ndo_start_xmit` (bottom halves off) with
    /// `lock_with`, and in process context (connect, setup, teardown) with `lock` (BH off).
    /// The netdev TX queue of this queue is stopped and woken only under it (`xmit`,
    /// `tx_reap`), so a stop and the reap that frees the ring cannot interleave.
    #[pin]
    pub(crate) tx: SpinLockBh<Option<TxRingState>>,
    /// Taken in NAPI poll (softirq) with `lock_with`, and in process context (connect,
    /// setup, teardown) with `lock` (BH off).
    #[pin]
    pub(crate) rx: SpinLockBh<Option<RxRingState>>,
    /// Late-EOI handles of the bound channels (TX or shared, RX) and whether an event is
    /// waiting for its EOI until NAPI has looked at the rings. Taken in NAPI poll
    /// (softirq) with `lock_with`, and in process context (setup, teardown) with `lock`.
    #[pin]
    pub(crate) eoi: SpinLockBh<[Option<EoiHandle>; EOI_SLOTS]>,
    pub(crate) eoi_pending: [AtomicBool; EOI_SLOTS],
    pub(crate) eoi_seen_prod: [AtomicU32; EOI_SLOTS],
    pub(crate) rx_problems_logged: AtomicU32,
    pub(crate) stats: QueueCounters,
    /// Packets received with a valid `HASH` extra (`ethtool -S` `q<N>_rx_hashed`).
    pub(crate) rx_hashed: AtomicU64,
}

/// What a bound channel of a queue stands for.
pub(crate) struct QueueEvent {
    pub(crate) queue: Arc<Queue>,
    /// [`EOI_SLOT_TX`] or [`EOI_SLOT_RX`].
    pub(crate) slot: usize,
}

impl EventHandler for QueueEvent {
    fn handle_event(&self) -> Eoi {
        if self.queue.shared.is_broken() {
            // Let a misbehaving backend's channel go quiet.
            return Eoi::Withhold;
        }
        // NAPI sends the EOI once it has looked at the rings (spurious if it found
        // nothing), so an event storm gets throttled by the late-EOI logic.
        self.queue.eoi_pending[self.slot].store(true, Ordering::Release);
        self.queue.napi.schedule();
        Eoi::Withhold
    }
}

impl Queue {
    /// Sends the late EOIs NAPI owes. An event counts as spurious only if the producer
    /// indices it could announce have not moved since the channel's previous EOI: a TX
    /// event whose completions an earlier RX poll already reaped is not spurious, a
    /// backend that fires events without producing anything is (XSA-391).
    fn send_pending_eois(&self, bh: &BhDisabled) {
        let tx_prod = self
            .tx
            .lock_with(bh)
            .as_ref()
            .map_or(0, |c| c.ring.rsp_prod());
        let rx_prod = self
            .rx
            .lock_with(bh)
            .as_ref()
            .map_or(0, |c| c.ring.rsp_prod());
        // The EOIs are sent with the lock held: once `teardown` cleared the handles, no
        // poll still holds a copy of an IRQ number about to be unbound.
        let handles = self.eoi.lock_with(bh);
        let split = handles[EOI_SLOT_RX].is_some();
        for (slot, handle) in handles.iter().enumerate() {
            if !self.eoi_pending[slot].swap(false, Ordering::AcqRel) {
                continue;
            }
            // Torn down (`teardown` cleared the handles): no EOI to send, and no producer
            // index to remember, which would outlive the clearing in `disconnect` and
            // mislead the next connection's first EOI.
            let Some(h) = handle else {
                continue;
            };
            let seen = match (split, slot) {
                (true, EOI_SLOT_TX) => tx_prod,
                (true, _) => rx_prod,
                (false, _) => tx_prod.wrapping_add(rx_prod),
            };
            let before = self.eoi_seen_prod[slot].swap(seen, Ordering::AcqRel);
            h.eoi(before == seen);
        }
    }

    /// Takes the queue's rings out of the data path and gives every buffer back. Buffers
    /// the backend still maps go to the deferred-end list ([`crate::xen::grant`]), which
    /// frees them once it lets go.
    ///
    /// Process context, before the queue's channels are unbound (`disconnect`): after this
    /// no poll notifies or EOIs them. NAPI may still run, before or after: it takes the
    /// same locks and finds the rings and EOI handles gone. The RX
    /// refill timer is stopped synchronously with the RX state and cannot be re-armed
    /// without it; the `Napi` it schedules is deleted only later (on remove).
    pub(crate) fn teardown(&self) {
        *self.eoi.lock() = [None, None];
        let tx = self.tx.lock().take();
        if let Some(mut c) = tx {
            for slot in c.slots.iter_mut() {
                if let Some(grant) = slot.grant.take() {
                    match c.grants.take_back(grant) {
                        Ok(owner) => drop(owner.into_skb()),
                        // The backend may still read the data (the C netback grant-maps TX
                        // pages): the deferred-end list keeps the page (or a slab head's
                        // skb) until it lets go; a page-backed chunk's skb goes now.
                        Err(grant) => grant.end_deferred(),
                    }
                }
            }
        }
        let rx = self.rx.lock().take();
        if let Some(mut c) = rx {
            // Outside the lock, in process context: stop the refill timer and wait for its
            // expiry (it only schedules NAPI, which finds no rings any more).
            c.napi.cancel_timer();
            for slot in c.slots.iter_mut() {
                if let Some(grant) = slot.grant.take() {
                    if let Err(grant) = c.grants.take_back(grant) {
                        // The page stays allocated until the backend lets go.
                        grant.end_deferred();
                    }
                }
            }
        }
    }
}

impl NapiPoller for Queue {
    fn poll(&self, napi: NapiPoll<'_>, budget: i32, bh: &BhDisabled) -> i32 {
        if self.shared.is_broken() {
            napi.complete_done(0);
            return 0;
        }
        self.tx_reap(bh);
        // Short of RX buffers, `rx_poll` armed the refill timer, which polls again later.
        let work = self.rx_poll(&napi, budget, bh);
        self.send_pending_eois(bh);
        if work < budget && napi.complete_done(work) {
            let more = match self.rx.lock_with(bh).as_ref() {
                Some(c) => c.ring.final_check_responses(c.rsp_cons),
                None => false,
            };
            if more {
                self.napi.schedule();
            }
        }
        work
    }
}
