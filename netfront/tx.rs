// SPDX-License-Identifier: GPL-2.0

//! Guest transmit: TX requests, grants and completions (C `xen-netfront.c`: `xennet_start_xmit`,
//! `xennet_make_txreqs` and `xennet_tx_buf_gc`).

use kernel::prelude::*;

use crate::queue::Queue;
use crate::xen::evtchn::Notifier;
use crate::xen::grant::{ClaimedRef, GrantPool, Granted};
use crate::xen::net::{bump, ChecksumState, Chunk, Gso, SkBuff, SkbChunk};
use crate::xen::protocol::flags::TxFlags;
use crate::xen::protocol::frontend::{self, TxCompletion};
use crate::xen::protocol::netif::{
    Extra, ExtraInfo, GsoType, TxRequest, ETH_HLEN, MAX_TX_SIZE, NR_SLOTS_MIN,
};
use crate::xen::protocol::ring::{self, free_requests, TX_RING_SIZE};
use crate::xen::sring::FrontRing;
use crate::xen::sync::BhDisabled;

/// The TX ring as the frontend sees it.
pub(crate) type TxRing = FrontRing<{ ring::TX_SLOT_SIZE }, { TX_RING_SIZE }>;

/// Data slots a TX packet may use before it is linearized.
const MAX_TX_DATA_SLOTS: usize = NR_SLOTS_MIN;
/// Stop a TX queue when fewer free slots remain, wake it when this many are free: C's
/// `netfront_tx_slot_available()` (`req_prod_pvt - rsp_cons < NET_TX_RING_SIZE -
/// XEN_NETIF_NR_SLOTS_MIN - 1`, so more than `NR_SLOTS_MIN + 1` free). One slot more than
/// the largest packet needs (18 data slots and a GSO extra).
const TX_WAKE_THRESHOLD: u32 = NR_SLOTS_MIN as u32 + 2;

/// One TX request id: the grant of one chunk of a packet, owning an skb reference, while
/// the backend works.
#[derive(Default)]
pub(crate) struct TxSlot {
    pub(crate) grant: Option<Granted<SkbChunk>>,
}

/// A queue's TX side while connected.
pub(crate) struct TxRingState {
    pub(crate) ring: TxRing,
    pub(crate) grants: GrantPool,
    pub(crate) notify: Notifier,
    pub(crate) req_prod_pvt: u32,
    pub(crate) rsp_cons: u32,
    pub(crate) slots: KVec<TxSlot>,
    pub(crate) free_ids: KVec<u16>,
}

impl Queue {
    /// Reaps TX completions and wakes the queue when room came back.
    pub(crate) fn tx_reap(&self, bh: &BhDisabled) {
        let mut guard = self.tx.lock_with(bh);
        let Some(c) = &mut *guard else {
            return;
        };
        loop {
            let rp = c.ring.rsp_prod();
            let outstanding = c.req_prod_pvt.wrapping_sub(c.rsp_cons);
            if rp.wrapping_sub(c.rsp_cons) > outstanding {
                self.shared.mark_broken(
                    self.index,
                    format_args!(
                        "Illegal number of responses {} (cons {}, outstanding {})",
                        rp.wrapping_sub(c.rsp_cons),
                        c.rsp_cons,
                        outstanding
                    ),
                );
                return;
            }
            while c.rsp_cons != rp {
                let slot = c.ring.read_slot(c.rsp_cons);
                c.rsp_cons = c.rsp_cons.wrapping_add(1);
                let (id, status) = match frontend::tx_completion(&slot, TX_RING_SIZE) {
                    TxCompletion::Null => continue,
                    TxCompletion::BadId(id) => {
                        self.shared.mark_broken(
                            self.index,
                            format_args!("Response has incorrect id ({id})"),
                        );
                        return;
                    }
                    TxCompletion::Done { id, status } => (id, status),
                };
                let Some(grant) = c.slots[usize::from(id)].grant.take() else {
                    self.shared.mark_broken(
                        self.index,
                        format_args!("Response for inactive request (id {id})"),
                    );
                    return;
                };
                let owner = match c.grants.take_back(grant) {
                    Ok(owner) => owner,
                    Err(grant) => {
                        self.shared.mark_broken(
                            self.index,
                            format_args!("Grant still in use by backend domain (TX id {id})"),
                        );
                        // The page (or a slab head's skb) stays until the backend lets go.
                        grant.end_deferred();
                        return;
                    }
                };
                let chunk = owner.index();
                let skb = owner.into_skb();
                // Capacity for every id was reserved at connect.
                let _ = c.free_ids.push_within_capacity(id);
                if status == 0 {
                    skb.consume();
                } else {
                    // One error per packet, not per slot: a backend that rejects a packet
                    // answers each of its slots with an error; count the first slot's.
                    if chunk == 0 {
                        bump(&self.stats.tx_errors, 1);
                    }
                    drop(skb);
                }
            }
            if !c.ring.final_check_responses(c.rsp_cons) {
                break;
            }
        }
        // Still under the lock (C `xennet_maybe_wake_tx`, called by `xennet_tx_buf_gc` with
        // `tx_lock` held): `xmit` stops the queue under the same lock, so it cannot stop it
        // between this test and the wake.
        self.maybe_wake(c);
    }

    /// Wakes the stopped TX queue if a packet of the most slots now fits and the device is
    /// up, as C's `xennet_maybe_wake_tx()` (`netif_tx_queue_stopped`,
    /// `netfront_tx_slot_available`, `netif_running`; not the carrier: `ndo_start_xmit`
    /// drops packets while it is off). Called with the TX lock held (by `tx_reap` in NAPI,
    /// by `xmit` after it stopped the queue).
    fn maybe_wake(&self, c: &TxRingState) {
        let dev = &self.shared.netdev;
        if dev.tx_stopped(self.index)
            && free_requests(c.req_prod_pvt, c.rsp_cons, TX_RING_SIZE) >= TX_WAKE_THRESHOLD
            && dev.is_running()
        {
            dev.tx_wake(self.index);
        }
    }

    /// Sends one packet on this queue; the packet is always consumed.
    pub(crate) fn xmit(&self, mut skb: SkBuff, backend_sg: bool, bh: &BhDisabled) {
        if self.shared.is_broken() || skb.len() as usize > MAX_TX_SIZE {
            bump(&self.stats.tx_dropped, 1);
            return;
        }
        // An untrusted backend gets each packet in zeroed pages of its own, so that the
        // granted pages carry nothing else (C `bounce_skb`, XSA-403). A failed bounce
        // drops the packet.
        let bounced = self.shared.bounces();
        if bounced {
            let Some(copy) = skb.bounce_zeroed() else {
                bump(&self.stats.tx_dropped, 1);
                return;
            };
            // The original was used, not dropped (C `dev_consume_skb_any`).
            core::mem::replace(&mut skb, copy).consume();
        }
        let len = skb.len();
        let mut chunks = [Chunk::default(); MAX_TX_DATA_SLOTS];
        let mut n = match skb.chunks(&mut chunks) {
            Ok(n) => n,
            // A corrupt skb (warned): not linearized (C would walk the same bad `nr_frags`).
            Err(e) if e == EINVAL => {
                bump(&self.stats.tx_dropped, 1);
                return;
            }
            Err(_) => {
                // An skb with another reference (pktgen `clone_skb`: the netdev keeps
                // `IFF_TX_SKB_SHARING`) is not linearized in place: a private linear copy
                // goes instead (`SkBuff::into_linear`).
                skb = match skb.into_linear() {
                    Some(linear) => linear,
                    None => {
                        bump(&self.stats.tx_dropped, 1);
                        return;
                    }
                };
                match skb.chunks(&mut chunks) {
                    Ok(n) => n,
                    Err(_) => {
                        bump(&self.stats.tx_dropped, 1);
                        return;
                    }
                }
            }
        };
        // The backend needs the Ethernet header in the first slot. A linear copy puts the
        // header in the head (C bounces only a head that starts fewer than `ETH_HLEN`
        // bytes before a page end; this also covers a head shorter than `ETH_HLEN`). A
        // bounced packet is not copied again: its head is page-aligned, so only a headroom
        // that leaves fewer than `ETH_HLEN` bytes of its page gets here, and a copy keeping
        // that headroom would not help (nor be zeroed): it is dropped.
        if n > 0 && usize::from(chunks[0].len) < ETH_HLEN && len as usize >= ETH_HLEN {
            let copy = if bounced { None } else { skb.copy() };
            let Some(copy) = copy else {
                bump(&self.stats.tx_dropped, 1);
                return;
            };
            // The original was used, not dropped (C `bounce_skb` + `dev_consume_skb_any`).
            core::mem::replace(&mut skb, copy).consume();
            n = match skb.chunks(&mut chunks) {
                Ok(n) if usize::from(chunks[0].len) >= ETH_HLEN => n,
                _ => {
                    bump(&self.stats.tx_dropped, 1);
                    return;
                }
            };
        }
        if n == 0 || (n > 1 && !backend_sg) {
            bump(&self.stats.tx_dropped, 1);
            return;
        }
        let gso = match skb.gso() {
            None => None,
            Some(Gso::TcpV4(size)) => Some(Extra::Gso {
                size,
                gso_type: GsoType::TcpV4,
            }),
            Some(Gso::TcpV6(size)) => Some(Extra::Gso {
                size,
                gso_type: GsoType::TcpV6,
            }),
            Some(Gso::Other) => {
                bump(&self.stats.tx_dropped, 1);
                return;
            }
        };
        let mut first_flags = match skb.checksum() {
            ChecksumState::Partial => TxFlags::CSUM_BLANK | TxFlags::DATA_VALIDATED,
            ChecksumState::Unnecessary => TxFlags::DATA_VALIDATED,
            _ => TxFlags::EMPTY,
        };
        if gso.is_some() {
            first_flags = first_flags | TxFlags::EXTRA_INFO;
        }

        let mut guard = self.tx.lock_with(bh);
        let Some(c) = &mut *guard else {
            drop(guard);
            bump(&self.stats.tx_dropped, 1);
            return;
        };
        // Rings of a connection that bounces, met by a packet that read the flag before
        // that connect set it: drop it rather than grant its pages.
        if !bounced && self.shared.bounces() {
            drop(guard);
            bump(&self.stats.tx_dropped, 1);
            return;
        }
        let need = n as u32 + u32::from(gso.is_some());
        if free_requests(c.req_prod_pvt, c.rsp_cons, TX_RING_SIZE) < need || c.free_ids.len() < n {
            // Stop under the lock, so `tx_reap` (which wakes under it) sees the stop.
            self.shared.netdev.tx_stop(self.index);
            self.maybe_wake(c);
            drop(guard);
            bump(&self.stats.tx_dropped, 1);
            return;
        }
        // All or nothing: every id, grant reference and chunk owner is taken before the
        // first slot is written, so a packet either goes whole or not at all (its earlier
        // slots would carry `MORE_DATA` for slots that never come).
        let mut prepared: [Option<(u16, ClaimedRef, SkbChunk)>; MAX_TX_DATA_SLOTS] =
            [const { None }; MAX_TX_DATA_SLOTS];
        let mut complete = true;
        for (i, p) in prepared[..n].iter_mut().enumerate() {
            // Cannot fail: ids and grants are reserved per ring slot, checked above, and
            // `chunks` described `n` chunks of this skb.
            let Some(id) = c.free_ids.pop() else {
                complete = false;
                break;
            };
            let Some(claimed) = c.grants.claim() else {
                let _ = c.free_ids.push_within_capacity(id);
                complete = false;
                break;
            };
            let Ok(owner) = skb.new_ref().into_chunk(i) else {
                c.grants.release(claimed);
                let _ = c.free_ids.push_within_capacity(id);
                complete = false;
                break;
            };
            *p = Some((id, claimed, owner));
        }
        if !complete {
            // Nothing was written: take everything back and drop the packet.
            for (id, claimed, owner) in prepared.iter_mut().filter_map(Option::take) {
                c.grants.release(claimed);
                let _ = c.free_ids.push_within_capacity(id);
                drop(owner);
            }
            drop(guard);
            bump(&self.stats.tx_dropped, 1);
            return;
        }
        for (id, claimed, owner) in prepared.iter_mut().filter_map(Option::take) {
            let i = owner.index();
            let chunk = &chunks[i];
            let grant = c.grants.grant(claimed, owner, true);
            let mut flags = if i == 0 { first_flags } else { TxFlags::EMPTY };
            if i + 1 < n {
                flags = flags | TxFlags::MORE_DATA;
            }
            let req = TxRequest {
                gref: grant.raw(),
                offset: chunk.offset,
                flags: flags.bits(),
                id,
                size: if i == 0 { len as u16 } else { chunk.len },
            };
            c.ring.write_slot(c.req_prod_pvt, &req.to_le_bytes());
            c.req_prod_pvt = c.req_prod_pvt.wrapping_add(1);
            c.slots[usize::from(id)] = TxSlot { grant: Some(grant) };
            if i == 0 {
                if let Some(extra) = &gso {
                    let e = ExtraInfo::encode(extra, false);
                    c.ring.write_slot(c.req_prod_pvt, &e.to_tx_slot());
                    c.req_prod_pvt = c.req_prod_pvt.wrapping_add(1);
                }
            }
        }
        if c.ring.push_requests(c.req_prod_pvt) {
            c.notify.notify();
        }
        // Stop under the lock (C `xennet_start_xmit`: `netif_tx_stop_queue` before dropping
        // `tx_lock`): `tx_reap` reaps and tests "stopped" under the same lock, so a stop
        // cannot land after the reap that freed the ring, leaving the queue stopped with
        // nothing outstanding.
        if free_requests(c.req_prod_pvt, c.rsp_cons, TX_RING_SIZE) < TX_WAKE_THRESHOLD {
            self.shared.netdev.tx_stop(self.index);
        }
        drop(guard);
        bump(&self.stats.tx_packets, 1);
        bump(&self.stats.tx_bytes, u64::from(len));
        if gso.is_some() {
            bump(&self.shared.tx_gso_packets, 1);
        }
        skb.consume();
    }
}
