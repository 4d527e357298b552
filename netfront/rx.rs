// SPDX-License-Identifier: GPL-2.0

//! Receive: posting RX buffers, taking packets off the RX ring and building skbs (C
//! `xen-netfront.c`: `xennet_alloc_rx_buffers`, `xennet_poll`'s RX part, `xennet_get_responses`
//! and `xennet_fill_frags`).

use core::sync::atomic::Ordering;

use kernel::prelude::*;

use crate::queue::Queue;
use crate::xen::evtchn::Notifier;
use crate::xen::grant::{GrantPool, Granted};
use crate::xen::net::{bump, ChecksumState, Gso, NapiHandle, NapiPoll, Page, SkBuff};
use crate::xen::protocol::flags::Checksum;
use crate::xen::protocol::frontend::{self, RX_COPY_THRESHOLD};
use crate::xen::protocol::netif::{GsoType, RxRequest, NR_SLOTS_MIN};
use crate::xen::protocol::ring::{self, published, RX_RING_SIZE};
use crate::xen::sring::FrontRing;
use crate::xen::sync::BhDisabled;

/// The RX ring as the frontend sees it.
pub(crate) type RxRing = FrontRing<{ ring::RX_SLOT_SIZE }, { RX_RING_SIZE }>;

/// Retry the refill from a timer while fewer RX buffers than this are posted
/// (`NET_RX_SLOTS_MIN` in C: `XEN_NETIF_NR_SLOTS_MIN + 1`), so that a full packet always
/// finds buffers.
const NET_RX_SLOTS_MIN: u32 = NR_SLOTS_MIN as u32 + 1;
/// When to retry a refill that fell short (C `rx_refill_timer`: `jiffies + HZ/10`).
const RX_REFILL_RETRY_MS: u32 = 100;
/// RX problems logged per queue before only counting them.
const RX_PROBLEMS_LOGGED: u32 = 5;

/// Why a packet whose slots were good did not become an skb.
enum RxDrop {
    /// No skb, or a fragment could not be attached, or the netdev is going away
    /// (`rx_dropped`). (A missing first data slot or page cannot happen for a packet that
    /// parsed; it is counted here too.)
    NoMemory,
    /// No Ethernet header, or the partial checksum could not be set up (`rx_errors`, as
    /// C).
    BadHeaders,
}

/// One posted RX buffer: the writable grant of its page.
#[derive(Default)]
pub(crate) struct RxSlot {
    pub(crate) grant: Option<Granted<Page>>,
}

/// A queue's RX side while connected.
pub(crate) struct RxRingState {
    pub(crate) ring: RxRing,
    pub(crate) grants: GrantPool,
    pub(crate) notify: Notifier,
    pub(crate) req_prod_pvt: u32,
    pub(crate) rsp_cons: u32,
    pub(crate) slots: KVec<RxSlot>,
    /// The queue's NAPI context, whose timer ([`NapiHandle::schedule_after`]) polls again
    /// when a refill fell short (C `rx_refill_timer`). Only code holding this state arms
    /// it, so nothing re-arms it once teardown took the state out (and stopped it).
    pub(crate) napi: NapiHandle,
}

impl Queue {
    /// Whether an RX problem should still be logged: the first few per queue are, the
    /// rest only counted (`rx_errors`), so a hostile backend cannot flood the log.
    fn note_rx_problem(&self) -> bool {
        self.rx_problems_logged.fetch_add(1, Ordering::Relaxed) < RX_PROBLEMS_LOGGED
    }

    /// Posts RX buffers until the ring is full or memory runs short; notifies the backend
    /// when it asked for it. When memory ran short or fewer than [`NET_RX_SLOTS_MIN`]
    /// buffers are outstanding, arms the refill timer, which schedules NAPI to try again
    /// (C `xennet_alloc_rx_buffers`: `mod_timer(&queue->rx_refill_timer, jiffies + HZ/10)`),
    /// instead of NAPI polling on in softirq until memory comes back.
    pub(crate) fn rx_refill(c: &mut RxRingState) {
        let mut pushed = false;
        let mut short = false;
        while c.req_prod_pvt.wrapping_sub(c.rsp_cons) < RX_RING_SIZE {
            let idx = (c.req_prod_pvt & (RX_RING_SIZE - 1)) as usize;
            if c.slots[idx].grant.is_some() {
                break;
            }
            // Zeroed: the backend may read the whole granted page (XSA-403).
            let Some(page) = Page::alloc_zeroed_atomic() else {
                short = true;
                break;
            };
            let Some(claimed) = c.grants.claim() else {
                short = true;
                break;
            };
            let grant = c.grants.grant(claimed, page, false);
            let req = RxRequest {
                id: idx as u16,
                pad: 0,
                gref: grant.raw(),
            };
            c.ring.write_slot(c.req_prod_pvt, &req.to_le_bytes());
            c.slots[idx] = RxSlot { grant: Some(grant) };
            c.req_prod_pvt = c.req_prod_pvt.wrapping_add(1);
            pushed = true;
        }
        if pushed && c.ring.push_requests(c.req_prod_pvt) {
            c.notify.notify();
        }
        if short || c.req_prod_pvt.wrapping_sub(c.rsp_cons) < NET_RX_SLOTS_MIN {
            c.napi.schedule_after(RX_REFILL_RETRY_MS);
        }
    }

    /// Receives up to `budget` packets. Returns the packets handled.
    pub(crate) fn rx_poll(&self, napi: &NapiPoll<'_>, budget: i32, bh: &BhDisabled) -> i32 {
        let mut guard = self.rx.lock_with(bh);
        let Some(c) = &mut *guard else {
            return 0;
        };
        let rp = c.ring.rsp_prod();
        let outstanding = c.req_prod_pvt.wrapping_sub(c.rsp_cons);
        match published(rp, c.rsp_cons, RX_RING_SIZE) {
            Ok(n) if n <= outstanding => {}
            _ => {
                self.shared.mark_broken(
                    self.index,
                    format_args!(
                        "Illegal number of RX responses (prod {}, cons {}, outstanding {})",
                        rp, c.rsp_cons, outstanding
                    ),
                );
                return 0;
            }
        }
        let mut work = 0;
        while work < budget && c.rsp_cons != rp {
            let cons = c.rsp_cons;
            let available = rp.wrapping_sub(cons);
            let pkt = {
                let ring = &c.ring;
                frontend::parse_rx_packet(available, |k| ring.read_slot(cons.wrapping_add(k)))
            };
            c.rsp_cons = cons.wrapping_add(pkt.consumed);
            work += 1;

            // Take every buffer the packet covered back from the backend.
            let data = pkt.data_slots();
            let mut pages: [Option<Page>; frontend::MAX_RX_DATA_SLOTS] = Default::default();
            let mut missing = false;
            let mut next_data = 0;
            for k in 0..pkt.consumed {
                let idx = (cons.wrapping_add(k) & (RX_RING_SIZE - 1)) as usize;
                let Some(grant) = c.slots[idx].grant.take() else {
                    missing = true;
                    continue;
                };
                let page = match c.grants.take_back(grant) {
                    Ok(page) => page,
                    Err(grant) => {
                        self.shared.mark_broken(
                            self.index,
                            format_args!("Grant still in use by backend domain (RX slot {idx})"),
                        );
                        // The page stays allocated until the backend lets go.
                        grant.end_deferred();
                        return work;
                    }
                };
                if next_data < data.len() && data[next_data].position == k {
                    pages[next_data] = Some(page);
                    next_data += 1;
                }
            }
            if let Some(err) = pkt.error {
                bump(&self.stats.rx_errors, 1);
                if self.note_rx_problem() {
                    pr_warn!(
                        "{} queue {}: dropping RX packet: {:?}\n",
                        self.shared.netdev.name(),
                        self.index,
                        err
                    );
                }
                continue;
            }
            if missing {
                bump(&self.stats.rx_errors, 1);
                if self.note_rx_problem() {
                    pr_warn!(
                        "{} queue {}: Bad rx response (slot without buffer)\n",
                        self.shared.netdev.name(),
                        self.index
                    );
                }
                continue;
            }
            match self.build_skb(napi, &pkt, data, &mut pages) {
                Ok(mut skb) => {
                    // The backend's hash (a valid `HASH` extra; the parser ignored any
                    // other), for RPS/RFS. A fresh skb is never shared, so it is set.
                    let hashed = pkt
                        .hash
                        .is_some_and(|h| skb.set_hash(h.value, h.hash_type.is_l4()).is_ok());
                    // GRO refuses (and frees) only an skb that is not exclusive, which a
                    // fresh one always is.
                    match napi.gro_receive(skb) {
                        Ok(()) => {
                            bump(&self.stats.rx_packets, 1);
                            bump(&self.stats.rx_bytes, u64::from(pkt.len));
                            if hashed {
                                bump(&self.rx_hashed, 1);
                            }
                        }
                        Err(_) => bump(&self.stats.rx_dropped, 1),
                    }
                }
                Err(RxDrop::NoMemory) => bump(&self.stats.rx_dropped, 1),
                Err(RxDrop::BadHeaders) => {
                    // C `handle_incoming_queue()`: a failed `pskb_may_pull` (no Ethernet
                    // header) or `checksum_setup` counts in `rx_errors`.
                    bump(&self.stats.rx_errors, 1);
                    if self.note_rx_problem() {
                        pr_warn!(
                            "{} queue {}: dropping RX packet: bad headers\n",
                            self.shared.netdev.name(),
                            self.index
                        );
                    }
                }
            }
        }
        Self::rx_refill(c);
        work
    }

    fn build_skb(
        &self,
        napi: &NapiPoll<'_>,
        pkt: &frontend::RxPacket,
        data: &[frontend::DataSlot],
        pages: &mut [Option<Page>],
    ) -> Result<SkBuff, RxDrop> {
        use RxDrop::NoMemory;
        let first = data.first().ok_or(NoMemory)?;
        let pull = first.len.min(RX_COPY_THRESHOLD);
        let mut skb = napi.alloc_skb(u32::from(pull)).ok_or(NoMemory)?;
        let page0 = pages[0].take().ok_or(NoMemory)?;
        // Fails only for a shared skb, which a fresh one is not.
        skb.put_from_page(&page0, u32::from(first.offset), u32::from(pull))
            .map_err(|_| NoMemory)?;
        if first.len > pull {
            skb.add_page_frag(
                page0,
                u32::from(first.offset) + u32::from(pull),
                u32::from(first.len - pull),
            )
            .map_err(|_| NoMemory)?;
        }
        for (d, page) in data.iter().zip(pages.iter_mut()).skip(1) {
            let page = page.take().ok_or(NoMemory)?;
            if d.len == 0 {
                continue;
            }
            skb.add_page_frag(page, u32::from(d.offset), u32::from(d.len))
                .map_err(|_| NoMemory)?;
        }
        let csum = match pkt.checksum {
            Checksum::Partial => ChecksumState::Partial,
            Checksum::Unnecessary => ChecksumState::Unnecessary,
            Checksum::None => ChecksumState::None,
        };
        let gso = pkt.gso.map(|(t, size)| match t {
            GsoType::TcpV4 => Gso::TcpV4(size),
            GsoType::TcpV6 => Gso::TcpV6(size),
        });
        match skb.finish_rx(&self.shared.netdev, csum, gso) {
            Ok(fixed) => {
                if fixed {
                    bump(&self.shared.rx_gso_checksum_fixup, 1);
                }
                Ok(skb)
            }
            // The netdev is being unregistered: no packet is delivered any more, and
            // this one is not malformed (`rx_dropped`, not `rx_errors`).
            Err(e) if e == ENODEV => Err(RxDrop::NoMemory),
            Err(_) => Err(RxDrop::BadHeaders),
        }
    }
}
