// SPDX-License-Identifier: GPL-2.0

//! Xen network frontend (`xen_netfront`), in Rust.
//!
//! Runs in a guest and drives the `vif` devices the toolstack gives it: one Ethernet
//! device per `vif`, with one to `max_queues` queues, each made of a TX ring, an RX ring
//! (pages granted to the backend), one event channel or a TX/RX pair, and a NAPI context
//! that reaps TX completions and receives. The wire format and XenStore keys are those of
//! the upstream C `xen-netfront`; the backend may be the C `xen-netback` or ours.
//!
//! Everything the backend writes (ring indices, responses, XenStore values) is copied once
//! and validated by `common/src/protocol/frontend.rs` before use. A backend that breaks the
//! protocol marks the device broken with one log line; the driver keeps running and can be
//! unloaded.

/// The shared abstractions and protocol code of `common/`.
#[path = "../common/kernel/mod.rs"]
pub mod xen;

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::{new_mutex, Arc, Mutex};

use xen::evtchn::{Eoi, EoiHandle, EventHandler, IrqBinding, Notifier, Port};
use xen::grant::{GrantPool, GrantRef};
use xen::net::{
    bump, features, fill_stat_names, fill_stat_values, ChecksumState, Chunk, Gso, LinkStats, Napi,
    NapiPoller, NapiRef, NetDevRef, NetDevice, NetDriver, Page, QueueCounters, SkBuff,
    STAT_NAME_LEN,
};
use xen::param::module_param;
use xen::protocol::flags::{Checksum, TxFlags};
use xen::protocol::frontend::{self, TxCompletion, RX_COPY_THRESHOLD};
use xen::protocol::negotiate;
use xen::protocol::netif::{
    Extra, ExtraInfo, GsoType, RxRequest, TxRequest, ETH_HLEN, MAX_TX_SIZE, NR_SLOTS_MIN,
};
use xen::protocol::ring::{self, free_requests, published, RX_RING_SIZE, TX_RING_SIZE};
use xen::protocol::xenstore::{
    backend_keys, frontend_keys, parse_mac, parse_unsigned, queue_keys, QueueLayout,
};
use xen::sring::FrontRing;
use xen::sync::{new_spinlock_bh, BhDisabled, SpinLockBh};
use xen::xenbus;

module! {
    type: XenNetfront,
    name: "xen_netfront",
    authors: ["The xen-netif-rust developers"],
    description: "Xen virtual network device frontend (Rust)",
    license: "GPL",
    alias: ["xen:vif", "xennet"],
}

module_param!(pub(crate) static MAX_QUEUES: UintParam = 0, module = "xen_netfront",
    name = "max_queues", perm = 0o644,
    desc = "Maximum number of queues per virtual interface (0: min(8, online CPUs))");

const DRIVER_NAME: &CStr = c"xen_netfront";

type TxRing = FrontRing<{ ring::TX_SLOT_SIZE }, { TX_RING_SIZE }>;
type RxRing = FrontRing<{ ring::RX_SLOT_SIZE }, { RX_RING_SIZE }>;

/// Data slots a TX packet may use before it is linearized.
const MAX_TX_DATA_SLOTS: usize = NR_SLOTS_MIN;
/// Stop a TX queue when fewer free slots remain (`NR_SLOTS_MIN + 1`, as in C).
const TX_WAKE_THRESHOLD: u32 = NR_SLOTS_MIN as u32 + 1;
/// RX problems logged per queue before only counting them.
const RX_PROBLEMS_LOGGED: u32 = 5;
/// How long remove waits for each backend state, in 100 ms steps (5 s).
const STATE_WAIT_STEPS: u32 = 50;

/// Device-wide statistics names, first in `ethtool -S`.
const DEVICE_STATS: [&str; 2] = ["rx_gso_checksum_fixup", "tx_gso_packets"];

/// State shared by the device and all its queues.
struct Shared {
    netdev: NetDevRef,
    broken: AtomicBool,
    /// GSO packets received without a partial checksum and fixed up (ethtool
    /// `rx_gso_checksum_fixup`, as in C).
    rx_gso_checksum_fixup: AtomicU64,
    /// Packets sent with a GSO extra (ethtool `tx_gso_packets`).
    tx_gso_packets: AtomicU64,
}

impl Shared {
    /// Marks the device broken after a protocol violation by the backend: one log line,
    /// carrier off, and from now on the data path ignores the rings.
    fn mark_broken(&self, queue: u32, what: fmt::Arguments<'_>) {
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

    fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }
}

/// One TX request id: the skb reference and grant it holds while the backend works.
#[derive(Default)]
struct TxSlot {
    skb: Option<SkBuff>,
    gref: Option<GrantRef>,
}

/// A queue's TX side while connected.
struct TxConn {
    ring: TxRing,
    grants: GrantPool,
    notify: Notifier,
    req_prod_pvt: u32,
    rsp_cons: u32,
    slots: KVec<TxSlot>,
    free_ids: KVec<u16>,
}

/// One posted RX buffer: the page and its writable grant.
#[derive(Default)]
struct RxSlot {
    page: Option<Page>,
    gref: Option<GrantRef>,
}

/// A queue's RX side while connected.
struct RxConn {
    ring: RxRing,
    grants: GrantPool,
    notify: Notifier,
    req_prod_pvt: u32,
    rsp_cons: u32,
    slots: KVec<RxSlot>,
}

/// One queue: rings, NAPI context and counters.
#[pin_data]
struct Queue {
    index: u32,
    shared: Arc<Shared>,
    napi: NapiRef,
    /// Taken in NAPI poll (softirq) and `ndo_start_xmit` (bottom halves off) with
    /// `lock_with`, and in process context (connect, setup, release) with `lock` (BH off).
    #[pin]
    tx: SpinLockBh<Option<TxConn>>,
    /// Taken in NAPI poll (softirq) with `lock_with`, and in process context (connect,
    /// setup, release) with `lock` (BH off).
    #[pin]
    rx: SpinLockBh<Option<RxConn>>,
    /// Late-EOI handles of the bound channels (TX or shared, RX) and whether an event is
    /// waiting for its EOI until NAPI has looked at the rings. Taken in NAPI poll
    /// (softirq) with `lock_with`, and in process context (setup, release) with `lock`.
    #[pin]
    eoi: SpinLockBh<[Option<EoiHandle>; 2]>,
    eoi_pending: [AtomicBool; 2],
    eoi_seen_prod: [AtomicU32; 2],
    rx_problems_logged: AtomicU32,
    stats: QueueCounters,
}

/// What a bound channel of a queue stands for.
struct QueueEvent {
    queue: Arc<Queue>,
    slot: usize,
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
    /// Whether an RX problem should still be logged: the first few per queue are, the
    /// rest only counted (`rx_errors`), so a hostile backend cannot flood the log.
    fn note_rx_problem(&self) -> bool {
        self.rx_problems_logged.fetch_add(1, Ordering::Relaxed) < RX_PROBLEMS_LOGGED
    }

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
        let handles = *self.eoi.lock_with(bh);
        let split = handles[1].is_some();
        for (slot, handle) in handles.iter().enumerate() {
            if !self.eoi_pending[slot].swap(false, Ordering::AcqRel) {
                continue;
            }
            let seen = match (split, slot) {
                (true, 0) => tx_prod,
                (true, _) => rx_prod,
                (false, _) => tx_prod.wrapping_add(rx_prod),
            };
            let before = self.eoi_seen_prod[slot].swap(seen, Ordering::AcqRel);
            if let Some(h) = handle {
                h.eoi(before == seen);
            }
        }
    }

    /// Reaps TX completions and wakes the queue when room came back.
    fn tx_reap(&self, bh: &BhDisabled) {
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
                let entry = &mut c.slots[usize::from(id)];
                let (Some(skb), Some(gref)) = (entry.skb.take(), entry.gref.take()) else {
                    self.shared.mark_broken(
                        self.index,
                        format_args!("Response for inactive request (id {id})"),
                    );
                    return;
                };
                if !c.grants.take_back(gref) {
                    self.shared.mark_broken(
                        self.index,
                        format_args!("Grant still in use by backend domain (TX id {id})"),
                    );
                    c.grants.end_access_deferred(gref, None);
                    // The backend may still read the data: keep the buffer allocated.
                    core::mem::forget(skb);
                    return;
                }
                // Capacity for every id was reserved at connect.
                let _ = c.free_ids.push_within_capacity(id);
                if status == 0 {
                    skb.consume();
                } else {
                    bump(&self.stats.tx_errors, 1);
                    drop(skb);
                }
            }
            if !c.ring.final_check_responses(c.rsp_cons) {
                break;
            }
        }
        let free = free_requests(c.req_prod_pvt, c.rsp_cons, TX_RING_SIZE);
        drop(guard);
        let dev = self.shared.netdev;
        if free >= TX_WAKE_THRESHOLD && dev.tx_stopped(self.index) && dev.carrier_ok() {
            dev.tx_wake(self.index);
        }
    }

    /// Posts RX buffers until the ring is full or memory runs short; notifies the backend
    /// when it asked for it. Returns how many buffers are outstanding.
    fn rx_refill(c: &mut RxConn) -> u32 {
        let mut pushed = false;
        while c.req_prod_pvt.wrapping_sub(c.rsp_cons) < RX_RING_SIZE {
            let idx = (c.req_prod_pvt & (RX_RING_SIZE - 1)) as usize;
            if c.slots[idx].page.is_some() {
                break;
            }
            let Some(page) = Page::alloc_atomic() else {
                break;
            };
            let Some(gref) = c.grants.claim() else {
                break;
            };
            c.grants.grant(gref, page.gfn(), false);
            let req = RxRequest {
                id: idx as u16,
                pad: 0,
                gref: gref.raw(),
            };
            c.ring.write_slot(c.req_prod_pvt, &req.to_le_bytes());
            c.slots[idx] = RxSlot {
                page: Some(page),
                gref: Some(gref),
            };
            c.req_prod_pvt = c.req_prod_pvt.wrapping_add(1);
            pushed = true;
        }
        if pushed && c.ring.push_requests(c.req_prod_pvt) {
            c.notify.notify();
        }
        c.req_prod_pvt.wrapping_sub(c.rsp_cons)
    }

    /// Receives up to `budget` packets. Returns the packets handled and whether the RX
    /// ring is short of buffers.
    fn rx_poll(&self, napi: NapiRef, budget: i32, bh: &BhDisabled) -> (i32, bool) {
        let mut guard = self.rx.lock_with(bh);
        let Some(c) = &mut *guard else {
            return (0, false);
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
                return (0, false);
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
                let slot = core::mem::take(&mut c.slots[idx]);
                let (Some(page), Some(gref)) = (slot.page, slot.gref) else {
                    missing = true;
                    continue;
                };
                if !c.grants.take_back(gref) {
                    self.shared.mark_broken(
                        self.index,
                        format_args!("Grant still in use by backend domain (RX slot {idx})"),
                    );
                    c.grants.end_access_deferred(gref, Some(page));
                    return (work, false);
                }
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
                Some(skb) => {
                    bump(&self.stats.rx_packets, 1);
                    bump(&self.stats.rx_bytes, u64::from(pkt.len));
                    napi.gro_receive(skb);
                }
                None => bump(&self.stats.rx_dropped, 1),
            }
        }
        let posted = Self::rx_refill(c);
        (work, posted < TX_WAKE_THRESHOLD)
    }

    fn build_skb(
        &self,
        napi: NapiRef,
        pkt: &frontend::RxPacket,
        data: &[frontend::DataSlot],
        pages: &mut [Option<Page>],
    ) -> Option<SkBuff> {
        let first = data.first()?;
        let pull = first.len.min(RX_COPY_THRESHOLD);
        let mut skb = napi.alloc_skb(u32::from(pull))?;
        let page0 = pages[0].take()?;
        skb.put_from_page(&page0, u32::from(first.offset), u32::from(pull));
        if first.len > pull {
            skb.add_page_frag(
                page0,
                u32::from(first.offset) + u32::from(pull),
                u32::from(first.len - pull),
            )
            .ok()?;
        }
        for (d, page) in data.iter().zip(pages.iter_mut()).skip(1) {
            let page = page.take()?;
            if d.len == 0 {
                continue;
            }
            skb.add_page_frag(page, u32::from(d.offset), u32::from(d.len))
                .ok()?;
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
        match skb.finish_rx(self.shared.netdev, csum, gso) {
            Ok(fixed) => {
                if fixed {
                    bump(&self.shared.rx_gso_checksum_fixup, 1);
                }
                Some(skb)
            }
            Err(_) => None,
        }
    }

    /// Sends one packet on this queue; the packet is always consumed.
    fn xmit(&self, mut skb: SkBuff, backend_sg: bool, bh: &BhDisabled) {
        let len = skb.len();
        if self.shared.is_broken() || len as usize > MAX_TX_SIZE {
            bump(&self.stats.tx_dropped, 1);
            return;
        }
        let mut chunks = [Chunk::default(); MAX_TX_DATA_SLOTS];
        let mut n = match skb.chunks(&mut chunks) {
            Ok(n) => n,
            Err(_) => {
                if skb.linearize().is_err() {
                    bump(&self.stats.tx_dropped, 1);
                    return;
                }
                match skb.chunks(&mut chunks) {
                    Ok(n) => n,
                    Err(_) => {
                        bump(&self.stats.tx_dropped, 1);
                        return;
                    }
                }
            }
        };
        // The backend needs the Ethernet header in the first slot.
        if n > 0 && usize::from(chunks[0].len) < ETH_HLEN && len as usize >= ETH_HLEN {
            let Some(copy) = skb.copy() else {
                bump(&self.stats.tx_dropped, 1);
                return;
            };
            skb = copy;
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
        let need = n as u32 + u32::from(gso.is_some());
        if free_requests(c.req_prod_pvt, c.rsp_cons, TX_RING_SIZE) < need || c.free_ids.len() < n {
            drop(guard);
            self.shared.netdev.tx_stop(self.index);
            bump(&self.stats.tx_dropped, 1);
            return;
        }
        for (i, chunk) in chunks[..n].iter().enumerate() {
            let (Some(id), Some(gref)) = (c.free_ids.pop(), c.grants.claim()) else {
                // Cannot happen: ids and grants are reserved per ring slot.
                break;
            };
            c.grants.grant(gref, chunk.gfn, true);
            let mut flags = if i == 0 { first_flags } else { TxFlags::EMPTY };
            if i + 1 < n {
                flags = flags | TxFlags::MORE_DATA;
            }
            let req = TxRequest {
                gref: gref.raw(),
                offset: chunk.offset,
                flags: flags.bits(),
                id,
                size: if i == 0 { len as u16 } else { chunk.len },
            };
            c.ring.write_slot(c.req_prod_pvt, &req.to_le_bytes());
            c.req_prod_pvt = c.req_prod_pvt.wrapping_add(1);
            c.slots[usize::from(id)] = TxSlot {
                skb: Some(skb.new_ref()),
                gref: Some(gref),
            };
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
        let free = free_requests(c.req_prod_pvt, c.rsp_cons, TX_RING_SIZE);
        drop(guard);
        bump(&self.stats.tx_packets, 1);
        bump(&self.stats.tx_bytes, u64::from(len));
        if gso.is_some() {
            bump(&self.shared.tx_gso_packets, 1);
        }
        if free < TX_WAKE_THRESHOLD {
            self.shared.netdev.tx_stop(self.index);
        }
        skb.consume();
    }

    /// Takes the queue's rings out of the data path and gives every buffer back. Buffers
    /// the backend still maps are handed to the grant-table code to free later.
    fn release(&self) {
        *self.eoi.lock() = [None, None];
        let tx = self.tx.lock().take();
        if let Some(mut c) = tx {
            for slot in c.slots.iter_mut() {
                if let (Some(skb), Some(gref)) = (slot.skb.take(), slot.gref.take()) {
                    if c.grants.take_back(gref) {
                        drop(skb);
                    } else {
                        // The backend may still read the data: keep the buffer allocated.
                        c.grants.end_access_deferred(gref, None);
                        core::mem::forget(skb);
                    }
                }
            }
        }
        let rx = self.rx.lock().take();
        if let Some(mut c) = rx {
            for slot in c.slots.iter_mut() {
                if let (Some(page), Some(gref)) = (slot.page.take(), slot.gref.take()) {
                    if !c.grants.take_back(gref) {
                        c.grants.end_access_deferred(gref, Some(page));
                    }
                }
            }
        }
    }
}

impl NapiPoller for Queue {
    fn poll(&self, napi: NapiRef, budget: i32, bh: &BhDisabled) -> i32 {
        if self.shared.is_broken() {
            napi.complete_done(0);
            return 0;
        }
        self.tx_reap(bh);
        let (work, starving) = self.rx_poll(napi, budget, bh);
        self.send_pending_eois(bh);
        if work < budget && !starving && napi.complete_done(work) {
            let more = match self.rx.lock_with(bh).as_ref() {
                Some(c) => c.ring.final_check_responses(c.rsp_cons),
                None => false,
            };
            if more {
                napi.schedule();
            }
        }
        if starving {
            budget
        } else {
            work
        }
    }
}

/// The device as the networking core sees it.
struct Info {
    shared: Arc<Shared>,
    queues: KVec<Arc<Queue>>,
    max_queues: u32,
    num_queues: AtomicU32,
    allowed_features: AtomicU32,
}

impl Info {
    fn active_queues(&self) -> &[Arc<Queue>] {
        let n = (self.num_queues.load(Ordering::Acquire) as usize).min(self.queues.len());
        &self.queues[..n]
    }
}

impl NetDriver for Info {
    fn open(&self) -> Result {
        for q in self.queues.iter() {
            q.napi.enable();
        }
        self.shared.netdev.tx_start_all();
        for q in self.active_queues() {
            q.napi.schedule();
        }
        Ok(())
    }

    fn stop(&self) -> Result {
        self.shared.netdev.tx_disable();
        for q in self.queues.iter() {
            q.napi.disable();
        }
        Ok(())
    }

    fn start_xmit(&self, skb: SkBuff, bh: &BhDisabled) {
        let queues = self.active_queues();
        let q = usize::from(skb.queue_mapping());
        let Some(queue) = queues.get(q).or(queues.first()) else {
            return;
        };
        if !self.shared.netdev.carrier_ok() {
            bump(&queue.stats.tx_dropped, 1);
            return;
        }
        let sg = self.allowed_features.load(Ordering::Relaxed) & features::SG != 0;
        queue.xmit(skb, sg, bh);
    }

    fn select_queue(&self, skb: &SkBuff) -> u16 {
        let n = self.num_queues.load(Ordering::Acquire);
        if n <= 1 {
            0
        } else {
            (skb.flow_hash() % n) as u16
        }
    }

    fn stats64(&self) -> LinkStats {
        let mut s = LinkStats::default();
        for q in self.queues.iter() {
            q.stats.add_to(&mut s);
        }
        s
    }

    fn allowed_features(&self) -> u32 {
        self.allowed_features.load(Ordering::Relaxed)
    }

    fn max_mtu(&self) -> u32 {
        if self.shared.netdev.sg_enabled() {
            MAX_TX_SIZE as u32
        } else {
            1500
        }
    }

    fn stats_count(&self) -> u32 {
        DEVICE_STATS.len() as u32 + self.max_queues * QueueCounters::NAMES.len() as u32
    }

    fn stats_names(&self, names: &mut [[u8; STAT_NAME_LEN]]) {
        fill_stat_names(names, &DEVICE_STATS, &QueueCounters::NAMES, self.max_queues);
    }

    fn stats_values(&self, values: &mut [u64]) {
        let device = [
            self.shared.rx_gso_checksum_fixup.load(Ordering::Relaxed),
            self.shared.tx_gso_packets.load(Ordering::Relaxed),
        ];
        fill_stat_values(values, &device, self.queues.iter().map(|q| &q.stats));
    }

    fn channels(&self) -> (u32, u32) {
        (
            self.max_queues,
            self.num_queues.load(Ordering::Acquire).max(1),
        )
    }
}

/// The event-channel bindings of one connected queue.
struct QueueIrqs {
    _tx: IrqBinding<QueueEvent>,
    _rx: Option<IrqBinding<QueueEvent>>,
}

/// What a queue's setup produced, for the XenStore keys.
struct QueueKeys {
    tx_ring_ref: u32,
    rx_ring_ref: u32,
    tx_port: Port,
    rx_port: Option<Port>,
}

/// Slow-path state, under the device mutex.
struct Conn {
    netdev: NetDevice<Info>,
    irqs: KVec<QueueIrqs>,
    connected: bool,
    /// The backend reached Connected with our current connection: an InitWait seen
    /// afterwards is a backend that restarted, not a late duplicate event.
    backend_was_connected: bool,
}

/// Per-device state of a bound `vif` frontend device.
struct Netfront {
    info: Arc<Info>,
    napis: KVec<Napi<Queue>>,
    /// Taken only in process context (xenbus state changes, remove).
    conn: Pin<KBox<Mutex<Conn>>>,
    handle: u32,
}

impl Netfront {
    /// Tears the queues down (IRQs first, then rings and buffers).
    fn disconnect(&self, conn: &mut Conn) {
        let dev = self.info.shared.netdev;
        dev.set_carrier(false);
        if conn.netdev.is_registered() {
            dev.tx_disable();
        }
        conn.irqs.clear();
        for q in self.info.queues.iter() {
            q.release();
            for p in &q.eoi_pending {
                p.store(false, Ordering::Relaxed);
            }
            for p in &q.eoi_seen_prod {
                p.store(0, Ordering::Relaxed);
            }
        }
        self.info.num_queues.store(0, Ordering::Release);
        conn.connected = false;
        conn.backend_was_connected = false;
    }

    fn setup_queue(
        &self,
        dev: &xenbus::Device,
        conn: &mut Conn,
        q: &Arc<Queue>,
        split: bool,
    ) -> Result<QueueKeys> {
        let backend = dev.otherend_id() as u16;
        let tx_ring = TxRing::new(dev)?;
        let rx_ring = RxRing::new(dev)?;
        let tx_grants = GrantPool::new(TX_RING_SIZE as u16, backend)?;
        let rx_grants = GrantPool::new(RX_RING_SIZE as u16, backend)?;
        let mut slots_tx = KVec::with_capacity(TX_RING_SIZE as usize, GFP_KERNEL)?;
        let mut free_ids = KVec::with_capacity(TX_RING_SIZE as usize, GFP_KERNEL)?;
        for id in (0..TX_RING_SIZE as u16).rev() {
            slots_tx.push(TxSlot::default(), GFP_KERNEL)?;
            free_ids.push(id, GFP_KERNEL)?;
        }
        let mut slots_rx = KVec::with_capacity(RX_RING_SIZE as usize, GFP_KERNEL)?;
        for _ in 0..RX_RING_SIZE {
            slots_rx.push(RxSlot::default(), GFP_KERNEL)?;
        }

        let bind = |port: Port, suffix: &str, slot: usize| -> Result<IrqBinding<QueueEvent>> {
            let name = CString::try_from_fmt(fmt!("vif{}-q{}{}", self.handle, q.index, suffix))?;
            let ev = Arc::new(
                QueueEvent {
                    queue: q.clone(),
                    slot,
                },
                GFP_KERNEL,
            )?;
            IrqBinding::new(port, &name, ev).inspect_err(|_| dev.free_evtchn(port))
        };
        let mut split_pair = None;
        if split {
            let tx_port = dev.alloc_evtchn()?;
            // A failed bind has freed its port; a dropped binding closes its port.
            if let Ok(tx) = bind(tx_port, "-tx", 0) {
                if let Ok(rx_port) = dev.alloc_evtchn() {
                    if let Ok(rx) = bind(rx_port, "-rx", 1) {
                        split_pair = Some((tx, tx_port, rx, rx_port));
                    }
                }
            }
            if split_pair.is_none() {
                pr_info!(
                    "vif{} queue {}: split event channels failed, using one\n",
                    self.handle,
                    q.index
                );
            }
        }
        let (tx_bind, tx_port, rx_bind, rx_port) = match split_pair {
            Some((tx, tp, rx, rp)) => (tx, tp, Some(rx), Some(rp)),
            None => {
                let port = dev.alloc_evtchn()?;
                (bind(port, "", 0)?, port, None, None)
            }
        };
        let tx_notify = tx_bind.notifier();
        let rx_notify = rx_bind.as_ref().map_or(tx_notify, |b| b.notifier());
        *q.eoi.lock() = [
            Some(tx_bind.eoi_handle()),
            rx_bind.as_ref().map(|b| b.eoi_handle()),
        ];
        let keys = QueueKeys {
            tx_ring_ref: tx_ring.gref().raw(),
            rx_ring_ref: rx_ring.gref().raw(),
            tx_port,
            rx_port,
        };
        *q.tx.lock() = Some(TxConn {
            ring: tx_ring,
            grants: tx_grants,
            notify: tx_notify,
            req_prod_pvt: 0,
            rsp_cons: 0,
            slots: slots_tx,
            free_ids,
        });
        *q.rx.lock() = Some(RxConn {
            ring: rx_ring,
            grants: rx_grants,
            notify: rx_notify,
            req_prod_pvt: 0,
            rsp_cons: 0,
            slots: slots_rx,
        });
        conn.irqs.push(
            QueueIrqs {
                _tx: tx_bind,
                _rx: rx_bind,
            },
            GFP_KERNEL,
        )?;
        Ok(keys)
    }

    /// Writes the frontend's keys for `keys.len()` queues in one transaction, retried on
    /// `EAGAIN`.
    fn write_keys(&self, dev: &xenbus::Device, keys: &[QueueKeys], write_count: bool) -> Result {
        let dir = dev.nodename();
        let layout = QueueLayout::for_queues(keys.len() as u32);
        loop {
            let t = xenbus::Transaction::start()?;
            let r = (|| -> Result {
                for (i, k) in keys.iter().enumerate() {
                    let i = i as u32;
                    let key = |name: &str| -> Result<CString> {
                        let p = layout.key(i, name).map_err(|_| EINVAL)?;
                        CString::try_from_fmt(fmt!("{}", p.as_str()))
                    };
                    t.write_fmt(
                        dir,
                        &key(queue_keys::TX_RING_REF)?,
                        fmt!("{}", k.tx_ring_ref),
                    )?;
                    t.write_fmt(
                        dir,
                        &key(queue_keys::RX_RING_REF)?,
                        fmt!("{}", k.rx_ring_ref),
                    )?;
                    match k.rx_port {
                        Some(rx) => {
                            t.write_fmt(
                                dir,
                                &key(queue_keys::EVENT_CHANNEL_TX)?,
                                fmt!("{}", k.tx_port.raw()),
                            )?;
                            t.write_fmt(
                                dir,
                                &key(queue_keys::EVENT_CHANNEL_RX)?,
                                fmt!("{}", rx.raw()),
                            )?;
                            t.remove(dir, &key(queue_keys::EVENT_CHANNEL)?);
                        }
                        None => {
                            t.write_fmt(
                                dir,
                                &key(queue_keys::EVENT_CHANNEL)?,
                                fmt!("{}", k.tx_port.raw()),
                            )?;
                            t.remove(dir, &key(queue_keys::EVENT_CHANNEL_TX)?);
                            t.remove(dir, &key(queue_keys::EVENT_CHANNEL_RX)?);
                        }
                    }
                }
                // Leftovers of an earlier connection with another layout.
                if keys.len() > 1 {
                    for name in [
                        queue_keys::TX_RING_REF,
                        queue_keys::RX_RING_REF,
                        queue_keys::EVENT_CHANNEL,
                        queue_keys::EVENT_CHANNEL_TX,
                        queue_keys::EVENT_CHANNEL_RX,
                    ] {
                        t.remove(dir, &CString::try_from_fmt(fmt!("{}", name))?);
                    }
                }
                let first_stale = if keys.len() > 1 { keys.len() as u32 } else { 0 };
                for i in first_stale..self.info.max_queues.max(negotiate::DEFAULT_MAX_QUEUES_CAP) {
                    t.remove(dir, &CString::try_from_fmt(fmt!("queue-{}", i))?);
                }
                if write_count {
                    t.write_fmt(
                        dir,
                        &CString::try_from_fmt(fmt!("{}", frontend_keys::MULTI_QUEUE_NUM_QUEUES))?,
                        fmt!("{}", keys.len()),
                    )?;
                } else {
                    t.remove(
                        dir,
                        &CString::try_from_fmt(fmt!("{}", frontend_keys::MULTI_QUEUE_NUM_QUEUES))?,
                    );
                }
                for name in [
                    frontend_keys::REQUEST_RX_COPY,
                    frontend_keys::FEATURE_RX_NOTIFY,
                    frontend_keys::FEATURE_SG,
                    frontend_keys::FEATURE_GSO_TCPV4,
                    frontend_keys::FEATURE_GSO_TCPV6,
                    frontend_keys::FEATURE_IPV6_CSUM_OFFLOAD,
                ] {
                    t.write(dir, &CString::try_from_fmt(fmt!("{}", name))?, c"1")?;
                }
                Ok(())
            })();
            match r {
                Ok(()) => match t.commit() {
                    Ok(()) => return Ok(()),
                    Err(e) if e == EAGAIN => continue,
                    Err(e) => return Err(e),
                },
                Err(e) => {
                    t.abort();
                    return Err(e);
                }
            }
        }
    }

    /// Negotiates with the backend (which is in InitWait), sets up the queues, publishes
    /// the keys and goes Connected.
    fn connect(&self, dev: &xenbus::Device) -> Result {
        let be = dev.otherend().ok_or(ENODEV)?;
        let be_key = |k: &str| CString::try_from_fmt(fmt!("{}", k));
        if xenbus::read_unsigned(be, &be_key(backend_keys::FEATURE_RX_COPY)?, 0) == 0 {
            dev.fatal(ENODEV, fmt!("backend does not support copying receive"));
            return Err(ENODEV);
        }
        let be_max = xenbus::read(be, &be_key(backend_keys::MULTI_QUEUE_MAX_QUEUES)?)
            .ok()
            .and_then(|v| parse_unsigned(&v));
        let num = negotiate::frontend_queue_count(be_max, self.info.max_queues);
        let split =
            xenbus::read_unsigned(be, &be_key(backend_keys::FEATURE_SPLIT_EVENT_CHANNELS)?, 0) != 0;
        let mac = dev
            .read_own(&be_key(frontend_keys::MAC)?)
            .ok()
            .and_then(|v| parse_mac(&v));
        let Some(mac) = mac else {
            dev.fatal(EINVAL, fmt!("reading {}/mac", dev.nodename()));
            return Err(EINVAL);
        };
        let feature =
            |k: &str| -> Result<bool> { Ok(xenbus::read_unsigned(be, &be_key(k)?, 0) != 0) };
        let sg = feature(backend_keys::FEATURE_SG)?;
        let mut allowed = 0;
        if sg {
            allowed |= features::SG;
            if feature(backend_keys::FEATURE_GSO_TCPV4)? {
                allowed |= features::TSO;
            }
            if feature(backend_keys::FEATURE_GSO_TCPV6)? {
                allowed |= features::TSO6;
            }
        }
        if feature(backend_keys::FEATURE_IPV6_CSUM_OFFLOAD)? {
            allowed |= features::IPV6_CSUM;
        }

        let mut conn = self.conn.lock();
        if conn.connected || !conn.irqs.is_empty() {
            self.disconnect(&mut conn);
        }
        self.info.shared.broken.store(false, Ordering::Release);
        self.info.allowed_features.store(allowed, Ordering::Relaxed);

        let mut keys = KVec::with_capacity(num as usize, GFP_KERNEL)?;
        let setup = (|| -> Result {
            for q in self.info.queues.iter().take(num as usize) {
                keys.push(self.setup_queue(dev, &mut conn, q, split)?, GFP_KERNEL)?;
            }
            self.write_keys(dev, &keys, negotiate::frontend_writes_queue_count(be_max))
        })();
        if let Err(e) = setup {
            self.disconnect(&mut conn);
            dev.fatal(e, fmt!("setting up {} queue(s)", num));
            return Err(e);
        }

        let netdev = self.info.shared.netdev;
        netdev.set_mac(&mac);
        self.info.num_queues.store(num, Ordering::Release);
        if !conn.netdev.is_registered() {
            // Register only now that the queues exist.
            if let Err(e) = conn.netdev.register() {
                self.disconnect(&mut conn);
                dev.fatal(e, fmt!("registering the network device"));
                return Err(e);
            }
        }
        if let Err(e) = netdev.set_real_queues(num) {
            self.disconnect(&mut conn);
            dev.fatal(e, fmt!("setting {} real queues", num));
            return Err(e);
        }
        netdev.update_features();
        dev.switch_state(xenbus::State::Connected)?;
        conn.connected = true;
        netdev.set_carrier(true);
        netdev.tx_start_all();
        for q in self.info.active_queues() {
            if let Some(c) = &mut *q.rx.lock() {
                Queue::rx_refill(c);
                c.notify.notify();
            }
            if let Some(c) = q.tx.lock().as_ref() {
                c.notify.notify();
            }
            q.napi.schedule();
        }
        pr_info!(
            "{}: connected to backend {} with {} queue(s), {} event channels, MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\n",
            netdev.name(),
            be,
            num,
            if conn.irqs.iter().any(|i| i._rx.is_some()) { "split" } else { "shared" },
            mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
        );
        Ok(())
    }

    /// Orderly teardown after the backend closed.
    fn backend_closed(&self, dev: &xenbus::Device) {
        {
            let mut conn = self.conn.lock();
            self.disconnect(&mut conn);
        }
        dev.frontend_closed();
    }
}

impl Drop for Netfront {
    fn drop(&mut self) {
        {
            let mut conn = self.conn.lock();
            self.disconnect(&mut conn);
            // Unregistering stops the device (NAPI disabled) while the contexts exist.
            conn.netdev.unregister();
        }
        self.napis.clear();
        // The netdev itself is freed with `conn`.
    }
}

/// The `vif` frontend driver.
struct VifFrontend;

impl xenbus::Driver for VifFrontend {
    const DEVICE_TYPE: &'static CStr = c"vif";
    const SIDE: xenbus::Side = xenbus::Side::Frontend;
    type Data = Netfront;

    fn probe(dev: &xenbus::Device) -> Result<KBox<Netfront>> {
        let max_queues = effective_max_queues();
        let handle = dev
            .nodename()
            .to_bytes()
            .rsplit(|&b| b == b'/')
            .next()
            .and_then(parse_unsigned)
            .unwrap_or(0);
        let mut netdev = NetDevice::<Info>::new(dev, max_queues, DRIVER_NAME)?;
        let shared = Arc::new(
            Shared {
                netdev: netdev.handle(),
                broken: AtomicBool::new(false),
                rx_gso_checksum_fixup: AtomicU64::new(0),
                tx_gso_packets: AtomicU64::new(0),
            },
            GFP_KERNEL,
        )?;
        let mut napis = KVec::with_capacity(max_queues as usize, GFP_KERNEL)?;
        let mut queues = KVec::with_capacity(max_queues as usize, GFP_KERNEL)?;
        for index in 0..max_queues {
            let mut napi = Napi::<Queue>::new(&netdev)?;
            let napi_ref = napi.handle();
            let queue_shared = shared.clone();
            let q = Arc::pin_init(
                pin_init!(Queue {
                    index,
                    shared: queue_shared,
                    napi: napi_ref,
                    tx <- new_spinlock_bh!(None),
                    rx <- new_spinlock_bh!(None),
                    eoi <- new_spinlock_bh!([None, None]),
                    eoi_pending: [AtomicBool::new(false), AtomicBool::new(false)],
                    eoi_seen_prod: [AtomicU32::new(0), AtomicU32::new(0)],
                    rx_problems_logged: AtomicU32::new(0),
                    stats: QueueCounters::default(),
                }),
                GFP_KERNEL,
            )?;
            napi.attach(q.clone());
            napis.push(napi, GFP_KERNEL)?;
            queues.push(q, GFP_KERNEL)?;
        }
        let info = Arc::new(
            Info {
                shared,
                queues,
                max_queues,
                num_queues: AtomicU32::new(0),
                allowed_features: AtomicU32::new(0),
            },
            GFP_KERNEL,
        )?;
        netdev.attach(info.clone());
        let conn = KBox::pin_init(
            new_mutex!(Conn {
                netdev,
                irqs: KVec::new(),
                connected: false,
                backend_was_connected: false,
            }),
            GFP_KERNEL,
        )?;
        let nf = KBox::new(
            Netfront {
                info,
                napis,
                conn,
                handle,
            },
            GFP_KERNEL,
        )?;
        dev.switch_state(xenbus::State::Initialising)?;
        dev_info!(
            dev.as_dev(),
            "probe {} (backend {}), max_queues {}\n",
            dev.nodename(),
            dev.otherend().unwrap_or(c"?"),
            max_queues
        );
        Ok(nf)
    }

    fn otherend_changed(dev: &xenbus::Device, nf: &Netfront, state: xenbus::State) {
        use xenbus::State::*;
        let ours = dev.state();
        match state {
            InitWait => {
                if ours == Connected && nf.conn.lock().backend_was_connected {
                    // The backend went away and came back before we saw it close (its
                    // Closing/Closed were overwritten before our watch fired): close, so
                    // that it closes too, and reconnect from scratch when it is back.
                    dev_info!(dev.as_dev(), "backend restarted; reconnecting\n");
                    nf.backend_closed(dev);
                } else if matches!(ours, Initialising | Closed) {
                    if ours == Closed {
                        let _ = dev.switch_state(Initialising);
                    }
                    if let Err(e) = nf.connect(dev) {
                        dev_err!(dev.as_dev(), "connecting failed: {:?}\n", e);
                    }
                }
            }
            Connected => {
                if ours == Connected {
                    nf.conn.lock().backend_was_connected = true;
                    nf.info.shared.netdev.notify_peers();
                }
            }
            Closing => {
                if ours != Closed {
                    nf.backend_closed(dev);
                }
            }
            Closed => {
                if ours != Closed {
                    nf.backend_closed(dev);
                } else {
                    // The backend went away (for example its driver was unloaded) but the
                    // device stays: be ready to connect again when it returns.
                    let online = dev.read_otherend_unsigned(c"online", 0);
                    if online != 0 {
                        let _ = dev.switch_state(Initialising);
                    }
                }
            }
            Unknown => {
                if matches!(ours, Connected | Initialising) {
                    nf.backend_closed(dev);
                }
            }
            _ => {}
        }
    }

    fn remove(dev: &xenbus::Device, nf: KBox<Netfront>) {
        use xenbus::State::*;
        dev_info!(dev.as_dev(), "remove {}\n", dev.nodename());
        if dev.state() != Closed {
            let _ = dev.switch_state(Closing);
            wait_backend(dev, &[Closing, Closed, Unknown]);
            let _ = dev.switch_state(Closed);
            wait_backend(dev, &[Closed, Unknown]);
        }
        drop(nf);
    }
}

/// Waits (bounded) until the backend reaches one of `states`.
fn wait_backend(dev: &xenbus::Device, states: &[xenbus::State]) {
    for _ in 0..STATE_WAIT_STEPS {
        if states.contains(&dev.otherend_state()) {
            return;
        }
        xen::system::msleep(100);
    }
    dev_warn!(
        dev.as_dev(),
        "backend still in state {:?}; going on\n",
        dev.otherend_state()
    );
}

fn effective_max_queues() -> u32 {
    negotiate::effective_max_queues(MAX_QUEUES.get(), xen::system::num_online_cpus())
}

struct XenNetfront {
    _driver: xenbus::Registration<VifFrontend>,
}

impl kernel::Module for XenNetfront {
    fn init(module: &'static ThisModule) -> Result<Self> {
        if !xen::system::xen_domain() {
            return Err(ENODEV);
        }
        let driver = xenbus::Registration::new(module, DRIVER_NAME)?;
        pr_info!(
            "loaded: max_queues={} (effective {})\n",
            MAX_QUEUES.get(),
            effective_max_queues()
        );
        Ok(XenNetfront { _driver: driver })
    }
}

impl Drop for XenNetfront {
    fn drop(&mut self) {
        pr_info!("unloading\n");
    }
}
