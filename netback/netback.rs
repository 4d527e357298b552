// SPDX-License-Identifier: GPL-2.0

//! Xen network backend (`xen_netback`), in Rust.
//!
//! Runs in dom0 or a driver domain and serves the `vif` devices of guests' netfronts: one
//! `vif<domid>.<handle>` Ethernet device per `vif`, with one to `max_queues` queues. Each
//! queue maps the frontend's TX and RX ring pages, binds its event channel (or TX/RX pair),
//! and has one NAPI context for guest TX (requests copied out of the ring once, validated
//! by `common/src/protocol/backend.rs`, grant-copied into skbs) and one kernel thread for
//! guest RX (skbs from a per-queue backlog grant-copied into the frontend's buffers). The
//! wire format, XenStore keys and state machine are those of the upstream C `xen-netback`.
//!
//! A frontend that breaks the protocol in a way the reference calls fatal disables its vif
//! with one log line (from process context); packet-level errors drop the packet and answer
//! `RSP_ERROR`. Either way dom0 keeps running and the vif can be torn down.

/// The shared abstractions and protocol code of `common/`.
#[path = "../common/kernel/mod.rs"]
pub mod xen;

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::{new_mutex, Arc, Mutex};

use xen::backend::{
    now_ms, BackRing, CopyOp, GrantCopier, SkbQueue, Waker, Watch, WatchHandler, WorkerFn,
    WorkerThread,
};
use xen::evtchn::{Eoi, EoiHandle, EventHandler, IrqBinding, Notifier};
use xen::net::{
    bump, features, fill_stat_names, fill_stat_values, ChecksumState, Chunk, Gso, LinkStats, Napi,
    NapiPoller, NapiRef, NetDevRef, NetDevice, NetDriver, Page, QueueCounters, SkBuff,
    STAT_NAME_LEN,
};
use xen::param::module_param;
use xen::protocol::backend::{
    clamp_fatal_skb_slots, parse_tx_packet, rx_slots_needed, Credit, TxPacket, TxParse, TX_COPY_LEN,
};
use xen::protocol::flags::{Checksum, RxFlags};
use xen::protocol::negotiate::{self, backend_queue_count, QueueCountError};
use xen::protocol::netif::{
    Extra, ExtraInfo, GsoType, RxRequest, RxResponse, Status, TxResponse, PAGE_SIZE,
};
use xen::protocol::ring::{self, check_attach, published, unconsumed_requests};
use xen::protocol::xenstore::{parse_mac, parse_rate, parse_unsigned, QueueLayout};
use xen::sync::{new_spinlock_bh, BhDisabled, SpinLockBh};
use xen::xenbus;

module! {
    type: XenNetback,
    name: "xen_netback",
    authors: ["The xen-netif-rust developers"],
    description: "Xen network backend (Rust)",
    license: "GPL",
    alias: ["xen-backend:vif"],
}

module_param!(pub(crate) static MAX_QUEUES: UintParam = 0, module = "xen_netback",
    name = "max_queues", perm = 0o644,
    desc = "Maximum number of queues per virtual interface (0: min(8, online CPUs))");

module_param!(pub(crate) static SEPARATE_TX_RX_IRQ: BoolParam = true, module = "xen_netback",
    name = "separate_tx_rx_irq", perm = 0o644,
    desc = "Allow separate TX and RX event channels");

module_param!(pub(crate) static FATAL_SKB_SLOTS: UintParam = 20, module = "xen_netback",
    name = "fatal_skb_slots", perm = 0o444,
    desc = "Further slots per packet above which the frontend is malicious (18..64)");

module_param!(pub(crate) static RX_DRAIN_TIMEOUT_MSECS: UintParam = 10000,
    module = "xen_netback", name = "rx_drain_timeout_msecs", perm = 0o444,
    desc = "Time a packet may wait for guest RX buffers before it is dropped (ms)");

module_param!(pub(crate) static RX_STALL_TIMEOUT_MSECS: UintParam = 60000,
    module = "xen_netback", name = "rx_stall_timeout_msecs", perm = 0o444,
    desc = "Time without enough guest RX buffers before a queue counts as stalled (ms)");

const DRIVER_NAME: &CStr = c"xen_netback";

type TxRing = BackRing<{ ring::TX_SLOT_SIZE }, { ring::TX_RING_SIZE }>;
type RxRing = BackRing<{ ring::RX_SLOT_SIZE }, { ring::RX_RING_SIZE }>;

/// Guest-RX backlog cap per queue (`XENVIF_RX_QUEUE_BYTES`: half a ring of pages).
const RX_QUEUE_BYTES: u64 = (ring::RX_RING_SIZE as u64 / 2) * PAGE_SIZE as u64;
/// Packets per guest-RX pass (`RX_BATCH_SIZE`).
const RX_BATCH: u32 = 64;
/// Grant copies per hypercall (`COPY_BATCH_SIZE`).
const COPY_BATCH: usize = 64;
/// Packets up to this length are copied whole into the skb's linear area.
const TX_LINEAR_MAX: u32 = 1600;
/// Copy operations one packet can need on either path.
const MAX_PACKET_OPS: usize = 96;
/// Chunks one guest-RX skb may have before it is linearized.
const MAX_RX_CHUNKS: usize = 48;
/// Pages a guest-TX packet's non-linear part can take (64 KiB).
const MAX_TX_PAGES: usize = 17;
/// How often a queue waiting for buffers of a frontend without `feature-rx-notify` looks
/// for new ones (ms).
const RX_POLL_NO_NOTIFY_MS: u32 = 30;
/// Packet problems logged per queue before only counting them.
const PROBLEMS_LOGGED: u32 = 5;

/// Device-wide statistics names, first in `ethtool -S`.
const DEVICE_STATS: [&str; 2] = ["rx_gso_checksum_fixup", "rx_gso_packets"];
/// What the frontend said it accepts (read at connect).
mod fe {
    pub(crate) const SG: u32 = 1 << 0;
    pub(crate) const GSO_V4: u32 = 1 << 1;
    pub(crate) const GSO_V6: u32 = 1 << 2;
    pub(crate) const IPV6_CSUM: u32 = 1 << 3;
    pub(crate) const RX_NOTIFY: u32 = 1 << 4;
}

/// State shared by the vif and all its queues.
struct Shared {
    netdev: NetDevRef,
    /// The frontend's domain.
    domid: u16,
    /// `vif<domid>.<handle>`, for log lines.
    name: CString,
    /// `fe::*` bits of the current connection.
    fe_features: AtomicU32,
    /// Set by a fatal protocol violation; cleared at the next connect.
    disabled: AtomicBool,
    /// The disable was reported (log line, carrier off) from process context.
    disable_reported: AtomicBool,
    fatal_slots: u32,
    rx_gso_checksum_fixup: AtomicU64,
    /// Packets from the guest that carried a GSO extra (TSO at work in the guest).
    rx_gso_packets: AtomicU64,
    /// The `rate` key: bytes per window (`u64::MAX`: unlimited) and window in µs; each
    /// queue's NAPI applies a new value when `rate_gen` moved.
    rate_bytes: AtomicU64,
    rate_usec: AtomicU64,
    rate_gen: AtomicU32,
}

impl Shared {
    fn fe_has(&self, bit: u32) -> bool {
        self.fe_features.load(Ordering::Relaxed) & bit != 0
    }

    fn is_disabled(&self) -> bool {
        self.disabled.load(Ordering::Acquire)
    }
}

/// One queue's guest-TX side while connected (NAPI context only).
struct TxConn {
    ring: TxRing,
    req_cons: u32,
    rsp_prod_pvt: u32,
    copier: GrantCopier,
    ops: KVec<CopyOp>,
    notifier: Notifier,
    eoi: EoiHandle,
    /// The request producer when the last EOI was sent: an event that brought no new
    /// requests is spurious.
    eoi_seen_prod: u32,
    /// Credit shaping (`rate`), per queue as in C.
    credit: Credit,
    credit_gen: u32,
}

/// One queue's guest-RX side while connected (worker thread only).
struct RxConn {
    ring: RxRing,
    req_cons: u32,
    rsp_prod_pvt: u32,
    copier: GrantCopier,
    ops: KVec<CopyOp>,
    notifier: Notifier,
    /// The RX channel's EOI in split mode.
    eoi: Option<EoiHandle>,
    eoi_seen_prod: u32,
    /// When the queue first lacked the buffers its head packet needs (ms), if it does.
    short_since: Option<u64>,
}

/// One queue of a vif.
#[pin_data]
struct Queue {
    index: u32,
    shared: Arc<Shared>,
    napi: NapiRef,
    /// Taken in NAPI poll (softirq) with `lock_with`, and in process context (connect,
    /// release) with `lock` (BH off).
    #[pin]
    tx: SpinLockBh<Option<TxConn>>,
    /// Taken only in process context: the queue's worker thread and connect/release.
    #[pin]
    rx: Mutex<Option<RxConn>>,
    /// Pushed in `ndo_start_xmit` (BH off), drained by the worker thread; its own lock is
    /// taken with IRQs off (`spin_lock_irqsave`).
    backlog: SkbQueue,
    waker: Waker,
    /// Guest TX waits for credit until this time (ms, 0: not waiting); the worker thread
    /// acts as the credit timer and reschedules NAPI then.
    credit_wake_at: AtomicU64,
    /// An event of the TX (or shared) channel waits for NAPI's late EOI.
    tx_eoi_pending: AtomicBool,
    /// An event of the split RX channel waits for the worker's late EOI.
    rx_eoi_pending: AtomicBool,
    /// The queue's channel is shared by TX and RX.
    shared_channel: AtomicBool,
    /// The queue's guest-RX side exists (packets may be queued for it).
    rx_ready: AtomicBool,
    stalled: AtomicBool,
    problems: AtomicU32,
    stats: QueueCounters,
}

impl Queue {
    /// Disables the vif after a fatal protocol violation. Called from NAPI or the worker;
    /// the carrier change and its log line happen in this queue's worker (process
    /// context, XSA-90), which is kicked here.
    fn fatal(&self, what: fmt::Arguments<'_>) {
        if !self.shared.disabled.swap(true, Ordering::AcqRel) {
            pr_err!(
                "{}: queue {}: {}; fatal error; disabling device\n",
                self.shared.name.to_str().unwrap_or("vif"),
                self.index,
                what
            );
        }
        self.waker.kick();
    }

    fn note_problem(&self) -> bool {
        self.problems.fetch_add(1, Ordering::Relaxed) < PROBLEMS_LOGGED
    }

    fn name(&self) -> &str {
        self.shared.name.to_str().unwrap_or("vif")
    }

    // ---- guest TX (frontend -> backend), NAPI context ----

    /// Processes up to `budget` packets; returns (packets, more work may be pending).
    fn tx_poll(&self, napi: NapiRef, budget: i32, bh: &BhDisabled) -> i32 {
        let mut guard = self.tx.lock_with(bh);
        let Some(c) = &mut *guard else {
            return 0;
        };
        let mut done = 0i32;
        while done < budget {
            if self.shared.is_disabled() {
                break;
            }
            let req_prod = c.ring.req_prod();
            let avail =
                match unconsumed_requests(req_prod, c.req_cons, c.rsp_prod_pvt, ring::TX_RING_SIZE)
                {
                    Ok(n) => n,
                    Err(e) => {
                        self.fatal(format_args!(
                            "Impossible number of requests: req_prod {} req_cons {}",
                            e.prod, e.cons
                        ));
                        break;
                    }
                };
            if avail == 0 {
                break;
            }
            let cons = c.req_cons;
            let ring_ref = &c.ring;
            let verdict = parse_tx_packet(
                avail,
                |i| ring_ref.read_slot(cons.wrapping_add(i)),
                self.shared.fatal_slots,
            );
            match verdict {
                TxParse::Fatal(f) => {
                    self.fatal(format_args!("bad TX request: {f:?}"));
                    break;
                }
                TxParse::Drop(pkt, why) => {
                    if self.note_problem() {
                        pr_warn!(
                            "{}: queue {}: dropping packet: {:?}\n",
                            self.name(),
                            self.index,
                            why
                        );
                    }
                    c.req_cons = cons.wrapping_add(pkt.consumed);
                    Self::tx_respond(c, &pkt, Status::Error, &[]);
                    bump(&self.stats.rx_errors, 1);
                }
                TxParse::Packet(pkt) => {
                    if pkt.mcast.is_none() {
                        self.apply_rate(c);
                        if let Err(at) = c.credit.charge(pkt.len(), now_ms()) {
                            // Row 24: the packet stays on the ring until the next window.
                            self.credit_wake_at.store(at.max(1), Ordering::Release);
                            self.waker.kick();
                            break;
                        }
                    }
                    c.req_cons = cons.wrapping_add(pkt.consumed);
                    if pkt.mcast.is_some() {
                        // No multicast filter: the request is acknowledged, nothing else.
                        Self::tx_respond(c, &pkt, Status::Okay, &[]);
                        continue;
                    }
                    self.tx_packet(napi, c, &pkt);
                }
            }
            done += 1;
        }
        if c.rsp_prod_pvt != c.ring.shared_rsp_prod() && c.ring.push_responses(c.rsp_prod_pvt) {
            c.notifier.notify();
        }
        done
    }

    /// Takes a changed `rate` into this queue's credit.
    fn apply_rate(&self, c: &mut TxConn) {
        let gen = self.shared.rate_gen.load(Ordering::Acquire);
        if gen == c.credit_gen {
            return;
        }
        c.credit_gen = gen;
        let bytes = self.shared.rate_bytes.load(Ordering::Relaxed);
        let usec = self.shared.rate_usec.load(Ordering::Relaxed);
        if bytes == u64::MAX {
            c.credit = Credit::unlimited();
        } else if c.credit.is_limited() {
            c.credit.set_rate(bytes, usec);
        } else {
            c.credit = Credit::new(bytes, usec, now_ms());
        }
    }

    /// Writes the responses of one packet: the first request, `RSP_NULL` for each extra,
    /// then each further slot; further slots whose id is in `failed` get `RSP_ERROR`.
    fn tx_respond(c: &mut TxConn, pkt: &TxPacket, first: Status, failed: &[u16]) {
        let mut put = |id: u16, status: Status| {
            let rsp = TxResponse {
                id,
                status: status as i16,
            };
            c.ring.write_slot(c.rsp_prod_pvt, &rsp.to_slot());
            c.rsp_prod_pvt = c.rsp_prod_pvt.wrapping_add(1);
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

    /// Copies one validated packet into a new skb and hands it to the stack.
    fn tx_packet(&self, napi: NapiRef, c: &mut TxConn, pkt: &TxPacket) {
        let total = pkt.len();
        let linear = if total <= TX_LINEAR_MAX {
            total
        } else {
            TX_COPY_LEN as u32
        };
        let Some(mut skb) = napi.alloc_skb(linear) else {
            bump(&self.stats.rx_dropped, 1);
            Self::tx_respond(c, pkt, Status::Error, &[]);
            return;
        };
        // Destinations: the linear area, then whole pages for the rest.
        let mut dst: [(u64, u16, u16); 4 + MAX_TX_PAGES] = [(0, 0, 0); 4 + MAX_TX_PAGES];
        let mut ndst = 0usize;
        let mut lin = [Chunk::default(); 4];
        match skb.put_chunks(linear, &mut lin) {
            Ok(n) => {
                for ch in &lin[..n] {
                    dst[ndst] = (ch.gfn, ch.offset, ch.len);
                    ndst += 1;
                }
            }
            Err(_) => {
                bump(&self.stats.rx_dropped, 1);
                Self::tx_respond(c, pkt, Status::Error, &[]);
                return;
            }
        }
        let mut pages: [Option<Page>; MAX_TX_PAGES] = [const { None }; MAX_TX_PAGES];
        let mut rest = total - linear;
        let mut npages = 0usize;
        while rest > 0 {
            let Some(page) = Page::alloc_atomic() else {
                bump(&self.stats.rx_dropped, 1);
                Self::tx_respond(c, pkt, Status::Error, &[]);
                return;
            };
            let len = rest.min(PAGE_SIZE as u32);
            dst[ndst] = (page.gfn(), 0, len as u16);
            ndst += 1;
            pages[npages] = Some(page);
            npages += 1;
            rest -= len;
        }

        // Sources: the first slot's own data, then each further slot. Each op records
        // which source it reads, so a failed copy answers the right slot.
        c.ops.clear();
        let mut src_id: [u16; MAX_PACKET_OPS] = [0; MAX_PACKET_OPS];
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
                let (gfn, base, dlen) = dst[di];
                let n = left.min(dlen - doff);
                if c.ops.len() >= MAX_PACKET_OPS {
                    overflow = true;
                    break;
                }
                src_id[c.ops.len()] = id;
                let op = CopyOp {
                    local_gfn: gfn,
                    foreign_ref: gref,
                    local_off: base + doff,
                    foreign_off: soff,
                    len: n,
                    to_foreign: 0,
                    status: 0,
                };
                if c.ops.push(op, GFP_ATOMIC).is_err() {
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
            bump(&self.stats.rx_dropped, 1);
            Self::tx_respond(c, pkt, Status::Error, &[]);
            return;
        }
        c.copier.run(self.shared.domid, &mut c.ops);
        let mut failed: [u16; 20] = [0; 20];
        let mut nfailed = 0usize;
        let mut first_failed = false;
        for (op, &id) in c.ops.iter().zip(src_id.iter()) {
            if op.status != 0 {
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
                c,
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
        Self::tx_respond(c, pkt, Status::Okay, &[]);

        let mut rest = total - linear;
        for slot in pages.iter_mut().take(npages) {
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
        match skb.finish_rx(self.shared.netdev, csum, gso) {
            Ok(fixup) => {
                if fixup {
                    bump(&self.shared.rx_gso_checksum_fixup, 1);
                }
                if pkt.gso.is_some() {
                    bump(&self.shared.rx_gso_packets, 1);
                }
                bump(&self.stats.rx_packets, 1);
                bump(&self.stats.rx_bytes, u64::from(total));
                napi.gro_receive(skb);
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
    fn tx_complete(&self, bh: &BhDisabled) -> bool {
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

    // ---- guest RX (backend -> frontend), worker thread ----

    /// Queues `skb` for the guest (from `ndo_start_xmit`).
    fn rx_enqueue(&self, skb: SkBuff) {
        if !self.rx_ready.load(Ordering::Acquire) || self.shared.is_disabled() {
            bump(&self.stats.tx_dropped, 1);
            return;
        }
        let bytes = self.backlog.push(skb, RX_DRAIN_TIMEOUT_MSECS.get());
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
                self.shared.netdev.set_carrier(false);
                pr_info!("{}: Disabled for further use\n", self.name());
            }
            self.backlog.purge();
            return 0;
        }
        let expired = self.backlog.drop_expired();
        if expired > 0 {
            bump(&self.stats.tx_dropped, u64::from(expired));
        }
        let mut guard = self.rx.lock();
        let Some(c) = &mut *guard else {
            self.backlog.purge();
            return 0;
        };
        let mut sent = 0u32;
        let mut short = false;
        while sent < RX_BATCH {
            let Some((len, gso)) = self.backlog.peek() else {
                break;
            };
            let gso_ok = gso && (self.shared.fe_has(fe::GSO_V4) || self.shared.fe_has(fe::GSO_V6));
            let needed = rx_slots_needed(len, gso_ok);
            let prod = c.ring.req_prod();
            let avail = match published(prod, c.req_cons, ring::RX_RING_SIZE) {
                Ok(n) => n,
                Err(e) => {
                    self.fatal(format_args!(
                        "Impossible number of RX requests: req_prod {} req_cons {}",
                        e.prod, e.cons
                    ));
                    return 0;
                }
            };
            if avail < needed {
                // Ask for an event once enough buffers exist, then look again.
                let prod = c.ring.request_event_at(c.req_cons.wrapping_add(needed));
                if prod.wrapping_sub(c.req_cons) < needed {
                    short = true;
                    break;
                }
                continue;
            }
            let Some(skb) = self.backlog.pop() else {
                break;
            };
            self.rx_packet(c, skb);
            sent += 1;
        }
        if c.rsp_prod_pvt != c.ring.shared_rsp_prod() && c.ring.push_responses(c.rsp_prod_pvt) {
            c.notifier.notify();
        }
        if self.backlog.bytes() < RX_QUEUE_BYTES && self.shared.netdev.tx_stopped(self.index) {
            self.shared.netdev.tx_wake(self.index);
        }
        self.rx_stall_check(c, short);
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
            1000
        }
    }

    /// Stall detection (with `feature-rx-notify`): a queue short of buffers for longer than
    /// the stall timeout turns the carrier off; as in C, the carrier returns only once the
    /// frontend posts buffers again (a backlog emptied by the drain timeout is no
    /// recovery: it would only turn the carrier back on for the next packets to pile up).
    fn rx_stall_check(&self, c: &mut RxConn, short: bool) {
        if !self.shared.fe_has(fe::RX_NOTIFY) {
            return;
        }
        let now = now_ms();
        if short {
            let since = *c.short_since.get_or_insert(now);
            if now.saturating_sub(since) >= u64::from(RX_STALL_TIMEOUT_MSECS.get())
                && !self.stalled.swap(true, Ordering::AcqRel)
            {
                pr_warn!("{}: Guest Rx stalled\n", self.name());
                self.shared.netdev.set_carrier(false);
            }
        } else if published(c.ring.req_prod(), c.req_cons, ring::RX_RING_SIZE).is_ok_and(|n| n > 0)
        {
            c.short_since = None;
            if self.stalled.swap(false, Ordering::AcqRel) {
                pr_info!("{}: Guest Rx ready\n", self.name());
                self.shared.netdev.set_carrier(true);
            }
        }
    }

    /// Copies one packet into the frontend's buffers and writes its responses.
    fn rx_packet(&self, c: &mut RxConn, mut skb: SkBuff) {
        let len = skb.len();
        let mut chunks = [Chunk::default(); MAX_RX_CHUNKS];
        let n = match skb.chunks(&mut chunks) {
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
        let gso = skb.gso().and_then(|g| match g {
            Gso::TcpV4(s) if self.shared.fe_has(fe::GSO_V4) => Some((s, GsoType::TcpV4)),
            Gso::TcpV6(s) if self.shared.fe_has(fe::GSO_V6) => Some((s, GsoType::TcpV6)),
            _ => None,
        });
        let csum = match skb.checksum() {
            ChecksumState::Partial => Checksum::Partial,
            ChecksumState::Unnecessary => Checksum::Unnecessary,
            _ => Checksum::None,
        };

        // Data slots: one request (a whole page) per started 4 KiB, filled from offset 0;
        // the GSO extra takes the slot right after the first data slot.
        let first_idx = c.req_cons;
        let data_slots = len.div_ceil(PAGE_SIZE as u32).max(1);
        let slot_of = |k: u32| -> u32 {
            if k == 0 || gso.is_none() {
                first_idx.wrapping_add(k)
            } else {
                first_idx.wrapping_add(k + 1)
            }
        };
        let mut reqs: [RxRequest; 18] = [RxRequest::default(); 18];
        if data_slots as usize > reqs.len() {
            bump(&self.stats.tx_dropped, 1);
            return;
        }
        for k in 0..data_slots {
            reqs[k as usize] = RxRequest::from_le_bytes(&c.ring.read_slot(slot_of(k)));
        }
        let mut fill: [u16; 18] = [0; 18];
        c.ops.clear();
        let mut op_slot: [u8; MAX_PACKET_OPS] = [0; MAX_PACKET_OPS];
        let mut k = 0usize;
        for ch in &chunks[..n] {
            let mut off = ch.offset;
            let mut left = ch.len;
            while left > 0 {
                if fill[k] as usize == PAGE_SIZE {
                    k += 1;
                }
                if k >= data_slots as usize || c.ops.len() >= MAX_PACKET_OPS {
                    bump(&self.stats.tx_dropped, 1);
                    return;
                }
                let room = PAGE_SIZE as u16 - fill[k];
                let l = left.min(room);
                op_slot[c.ops.len()] = k as u8;
                let op = CopyOp {
                    local_gfn: ch.gfn,
                    foreign_ref: reqs[k].gref,
                    local_off: off,
                    foreign_off: fill[k],
                    len: l,
                    to_foreign: 1,
                    status: 0,
                };
                if c.ops.push(op, GFP_KERNEL).is_err() {
                    bump(&self.stats.tx_dropped, 1);
                    return;
                }
                fill[k] += l;
                off += l;
                left -= l;
            }
        }
        c.copier.run(self.shared.domid, &mut c.ops);
        let mut bad: u32 = 0;
        let mut bad_status: i16 = 0;
        for (op, &s) in c.ops.iter().zip(op_slot.iter()) {
            if op.status != 0 {
                bad |= 1 << s;
                bad_status = Status::Error as i16;
            }
        }

        let used = data_slots + u32::from(gso.is_some());
        for k in 0..data_slots {
            let mut flags = if k == 0 {
                RxFlags::from_checksum(csum)
            } else {
                RxFlags::EMPTY
            };
            if k + 1 < data_slots {
                flags = flags | RxFlags::MORE_DATA;
            }
            if k == 0 && gso.is_some() {
                flags = flags | RxFlags::EXTRA_INFO;
            }
            let status = if bad & (1 << k) != 0 {
                bad_status
            } else {
                fill[k as usize] as i16
            };
            let rsp = RxResponse {
                id: reqs[k as usize].id,
                offset: 0,
                flags: flags.bits(),
                status,
            };
            c.ring.write_slot(slot_of(k), &rsp.to_le_bytes());
        }
        if let Some((size, gso_type)) = gso {
            let extra = ExtraInfo::encode(&Extra::Gso { size, gso_type }, false);
            c.ring
                .write_slot(first_idx.wrapping_add(1), &extra.to_le_bytes());
        }
        c.req_cons = c.req_cons.wrapping_add(used);
        c.rsp_prod_pvt = c.rsp_prod_pvt.wrapping_add(used);
        if bad != 0 {
            bump(&self.stats.tx_errors, 1);
        } else {
            bump(&self.stats.tx_packets, 1);
            bump(&self.stats.tx_bytes, u64::from(len));
        }
        skb.consume();
    }

    /// Drops the connection state (rings unmapped, backlog freed).
    fn release(&self) {
        self.rx_ready.store(false, Ordering::Release);
        // Unmapping a ring may sleep: take the state out, drop it outside the locks.
        let tx = self.tx.lock().take();
        let rx = self.rx.lock().take();
        drop(tx);
        drop(rx);
        self.backlog.purge();
        self.tx_eoi_pending.store(false, Ordering::Relaxed);
        self.rx_eoi_pending.store(false, Ordering::Relaxed);
        self.credit_wake_at.store(0, Ordering::Relaxed);
        self.stalled.store(false, Ordering::Relaxed);
        self.problems.store(0, Ordering::Relaxed);
    }
}

impl NapiPoller for Queue {
    fn poll(&self, napi: NapiRef, budget: i32, bh: &BhDisabled) -> i32 {
        let done = self.tx_poll(napi, budget, bh);
        if done < budget && napi.complete_done(done) && self.tx_complete(bh) {
            napi.schedule();
        }
        done
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
                self.credit_wake_at.store(0, Ordering::Release);
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

/// Which events a bound channel carries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ChannelKind {
    Tx,
    Rx,
    Shared,
}

/// Event handler of one channel of a queue.
struct QueueEvent {
    queue: Arc<Queue>,
    kind: ChannelKind,
}

impl EventHandler for QueueEvent {
    fn handle_event(&self) -> Eoi {
        let q = &self.queue;
        if q.shared.is_disabled() {
            return Eoi::Withhold;
        }
        match self.kind {
            ChannelKind::Tx | ChannelKind::Shared => {
                if self.kind == ChannelKind::Shared {
                    q.waker.kick();
                }
                q.tx_eoi_pending.store(true, Ordering::Release);
                q.napi.schedule();
            }
            ChannelKind::Rx => {
                q.rx_eoi_pending.store(true, Ordering::Release);
                q.waker.kick();
            }
        }
        Eoi::Withhold
    }
}

/// The bindings and thread of one connected queue; dropping it stops them.
struct QueueRuntime {
    _worker: WorkerThread<Queue>,
    _irqs: KVec<IrqBinding<QueueEvent>>,
}

/// The vif as the networking core sees it.
struct Vif {
    shared: Arc<Shared>,
    queues: KVec<Arc<Queue>>,
    num_queues: AtomicU32,
    max_queues: u32,
}

impl Vif {
    fn active(&self) -> &[Arc<Queue>] {
        let n = (self.num_queues.load(Ordering::Acquire) as usize).min(self.queues.len());
        &self.queues[..n]
    }
}

impl NetDriver for Vif {
    fn open(&self) -> Result {
        self.shared.netdev.tx_start_all();
        Ok(())
    }

    fn stop(&self) -> Result {
        self.shared.netdev.tx_disable();
        Ok(())
    }

    fn start_xmit(&self, skb: SkBuff, _bh: &BhDisabled) {
        let active = self.active();
        if active.is_empty() {
            return;
        }
        let q = &active[usize::from(skb.queue_mapping()) % active.len()];
        q.rx_enqueue(skb);
    }

    fn select_queue(&self, skb: &SkBuff) -> u16 {
        let n = self.active().len() as u32;
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
        let mut f = 0;
        if self.shared.fe_has(fe::SG) {
            f |= features::SG;
        }
        if self.shared.fe_has(fe::IPV6_CSUM) {
            f |= features::IPV6_CSUM;
        }
        if self.shared.fe_has(fe::GSO_V4) {
            f |= features::TSO;
        }
        if self.shared.fe_has(fe::GSO_V6) {
            f |= features::TSO6;
        }
        f
    }

    fn max_mtu(&self) -> u32 {
        if self.shared.fe_has(fe::SG) {
            65535 - 18
        } else {
            1500
        }
    }

    fn stats_count(&self) -> u32 {
        (DEVICE_STATS.len() + QueueCounters::NAMES.len() * self.max_queues as usize) as u32
    }

    fn stats_names(&self, names: &mut [[u8; STAT_NAME_LEN]]) {
        fill_stat_names(names, &DEVICE_STATS, &QueueCounters::NAMES, self.max_queues);
    }

    fn stats_values(&self, values: &mut [u64]) {
        let device = [
            self.shared.rx_gso_checksum_fixup.load(Ordering::Relaxed),
            self.shared.rx_gso_packets.load(Ordering::Relaxed),
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

/// Reads the `rate` key into the vif's shared state (reference 4.8); absent or
/// malformed means unlimited.
impl WatchHandler for Vif {
    fn changed(&self, dev: &xenbus::Device) {
        let sh = &self.shared;
        let (bytes, usec) = match dev.read_own(c"rate") {
            Ok(v) => match parse_rate(&v) {
                Some(r) => (r.bytes, r.usec),
                None => {
                    pr_warn!(
                        "{}: unparsable rate, no limit\n",
                        sh.name.to_str().unwrap_or("vif")
                    );
                    (u64::MAX, 0)
                }
            },
            Err(_) => (u64::MAX, 0),
        };
        if sh.rate_bytes.load(Ordering::Relaxed) != bytes
            || sh.rate_usec.load(Ordering::Relaxed) != usec
        {
            sh.rate_bytes.store(bytes, Ordering::Relaxed);
            sh.rate_usec.store(usec, Ordering::Relaxed);
            sh.rate_gen.fetch_add(1, Ordering::AcqRel);
            // A queue waiting for credit takes the new rate at once.
            for q in self.active() {
                q.napi.schedule();
            }
            if bytes != u64::MAX {
                pr_info!(
                    "{}: rate {} bytes per {} us per queue\n",
                    sh.name.to_str().unwrap_or("vif"),
                    bytes,
                    usec
                );
            }
        }
    }
}

/// Publishes the backend state, held back while the hotplug script has not reported
/// `connected` (reference 3.4).
struct HotplugGate {
    /// A watch on `hotplug-status` is armed and has not released the state yet.
    armed: AtomicBool,
    /// The state to publish once released.
    target: AtomicU32,
}

impl HotplugGate {
    fn switch(&self, dev: &xenbus::Device, state: xenbus::State) {
        self.target.store(state as u32, Ordering::Release);
        if !self.armed.load(Ordering::Acquire) {
            let _ = dev.switch_state(state);
        }
    }
}

impl WatchHandler for HotplugGate {
    fn changed(&self, dev: &xenbus::Device) {
        if !self.armed.load(Ordering::Acquire) {
            return;
        }
        let Ok(v) = dev.read_own(c"hotplug-status") else {
            return;
        };
        if v.as_slice() == b"connected" {
            self.armed.store(false, Ordering::Release);
            let target = self.target.load(Ordering::Acquire);
            if let Some(state) = xenbus::State::from_raw(target) {
                let _ = dev.switch_state(state);
            }
        }
    }
}

/// Slow-path state of a device, under its mutex.
struct BeState {
    netdev: NetDevice<Vif>,
    /// Our state as walked by `set_state` (the published one may lag behind, see
    /// [`HotplugGate`]).
    state: xenbus::State,
    runtime: KVec<QueueRuntime>,
    hotplug_watch: Option<Watch<HotplugGate>>,
    rate_watch: Option<Watch<Vif>>,
}

/// Watches taken out of [`BeState`], to be dropped (unregistered) once `st` is unlocked.
type RetiredWatches = (Option<Watch<HotplugGate>>, Option<Watch<Vif>>);

impl BeState {
    /// Takes the watches out, for the caller to drop after unlocking `st`:
    /// `unregister_xenbus_watch()` waits for `xenwatch_mutex`, which the xenwatch thread
    /// holds while it runs our callbacks, and they take `st` (lockdep: circular
    /// dependency). Only the xenwatch thread itself may unregister with `st` held (it
    /// skips the mutex), as `disconnect` does from a state-change callback.
    fn take_watches(&mut self) -> RetiredWatches {
        (self.hotplug_watch.take(), self.rate_watch.take())
    }
}

/// Per-device state of a bound `vif` backend device.
struct Netback {
    vif: Arc<Vif>,
    _napis: KVec<Napi<Queue>>,
    gate: Arc<HotplugGate>,
    /// Taken only in process context (probe, remove, xenbus state changes).
    st: Pin<KBox<Mutex<BeState>>>,
    /// The frontend is gone for good: unregister the device after this callback.
    unregister: AtomicBool,
}

/// Per-queue XenStore values of the frontend.
struct QueueRefs {
    tx_ring_ref: u32,
    rx_ring_ref: u32,
    /// (TX, RX) ports in split mode, or the shared port.
    split: Option<(u32, u32)>,
    shared_port: u32,
}

fn read_u32(dev: &xenbus::Device, key: &str) -> Option<u32> {
    let path = CString::try_from_fmt(fmt!("{key}")).ok()?;
    let v = dev.read_otherend(&path).ok()?;
    parse_unsigned(&v)
}

impl Netback {
    fn name(&self) -> &str {
        self.vif.shared.name.to_str().unwrap_or("vif")
    }

    /// Walks the legal backend transitions to `target` (reference 3.2).
    fn set_state(&self, dev: &xenbus::Device, st: &mut BeState, target: xenbus::State) {
        use xenbus::State::*;
        for _ in 0..8 {
            if st.state == target {
                return;
            }
            let next = match (st.state, target) {
                (Initialising, InitWait | Connected | Closing) => InitWait,
                (Initialising, Closed) => Closed,
                (InitWait, Connected) => {
                    if let Err(e) = self.connect(dev, st) {
                        pr_warn!("{}: connect failed: {:?}\n", self.name(), e);
                        self.disconnect(st);
                        // `fatal` published Closing already; stay there.
                        st.state = Closing;
                        return;
                    }
                    Connected
                }
                (InitWait, Closing | Closed) => Closing,
                (Connected, InitWait | Closing | Closed) => {
                    self.disconnect(st);
                    Closing
                }
                (Closing, InitWait | Connected | Closed) => Closed,
                (Closed, InitWait | Connected) => InitWait,
                (Closed, Closing) => Closing,
                _ => return,
            };
            st.state = next;
            self.gate.switch(dev, next);
        }
    }

    fn read_queue_refs(
        &self,
        dev: &xenbus::Device,
        layout: &QueueLayout,
        q: u32,
    ) -> Result<QueueRefs> {
        let key = |k: &str| -> Option<u32> {
            let path = layout.key(q, k).ok()?;
            read_u32(dev, path.as_str())
        };
        let (Some(tx_ring_ref), Some(rx_ring_ref)) = (key("tx-ring-ref"), key("rx-ring-ref"))
        else {
            dev.fatal(EINVAL, format_args!("reading ring references of queue {q}"));
            return Err(EINVAL);
        };
        let split = match (key("event-channel-tx"), key("event-channel-rx")) {
            (Some(t), Some(r)) => Some((t, r)),
            _ => None,
        };
        let shared_port = match (split, key("event-channel")) {
            (Some(_), _) => 0,
            (None, Some(p)) => p,
            (None, None) => {
                dev.fatal(EINVAL, format_args!("reading event channels of queue {q}"));
                return Err(EINVAL);
            }
        };
        Ok(QueueRefs {
            tx_ring_ref,
            rx_ring_ref,
            split,
            shared_port,
        })
    }

    /// Connects to the frontend (reference 3.3, `connect()`).
    fn connect(&self, dev: &xenbus::Device, st: &mut BeState) -> Result {
        let shared = &self.vif.shared;
        let requested = read_u32(dev, "multi-queue-num-queues");
        let num = match backend_queue_count(requested, self.vif.max_queues) {
            Ok(n) => n,
            Err(QueueCountError::Zero) => {
                dev.fatal(EINVAL, format_args!("guest requested 0 queues"));
                return Err(EINVAL);
            }
            Err(QueueCountError::TooMany { requested, max }) => {
                dev.fatal(
                    EINVAL,
                    format_args!(
                        "guest requested {requested} queues, exceeding the maximum of {max}."
                    ),
                );
                return Err(EINVAL);
            }
        };
        match dev.read_own(c"mac").ok().as_deref().and_then(parse_mac) {
            Some(_) => {}
            None => {
                dev.fatal(
                    EINVAL,
                    format_args!("parsing {}/mac", dev.nodename().to_str().unwrap_or("")),
                );
                return Err(EINVAL);
            }
        }
        if read_u32(dev, "request-rx-copy") != Some(1) {
            dev.fatal(
                EOPNOTSUPP,
                format_args!("frontend does not request rx-copy"),
            );
            return Err(EOPNOTSUPP);
        }
        let flag = |k: &str| read_u32(dev, k).is_some_and(|v| v != 0);
        let mut f = 0;
        if flag("feature-sg") {
            f |= fe::SG;
        }
        if flag("feature-gso-tcpv4") {
            f |= fe::GSO_V4;
        }
        if flag("feature-gso-tcpv6") {
            f |= fe::GSO_V6;
        }
        if flag("feature-ipv6-csum-offload") {
            f |= fe::IPV6_CSUM;
        }
        if flag("feature-rx-notify") {
            f |= fe::RX_NOTIFY;
        }
        shared.fe_features.store(f, Ordering::Release);
        shared.disabled.store(false, Ordering::Release);
        shared.disable_reported.store(false, Ordering::Release);

        // The rate, read now and watched for live changes (the watch fires once now).
        st.rate_watch = Some(Watch::new(dev, dev.nodename(), c"rate", self.vif.clone())?);

        let layout = QueueLayout::for_queues(num);
        for qi in 0..num {
            let refs = self.read_queue_refs(dev, &layout, qi)?;
            let q = &self.vif.queues[qi as usize];
            match self.connect_queue(dev, q, &refs) {
                Ok(rt) => st.runtime.push(rt, GFP_KERNEL)?,
                Err(e) => {
                    dev.fatal(e, format_args!("connecting queue {qi}"));
                    return Err(e);
                }
            }
        }
        self.vif.num_queues.store(num, Ordering::Release);
        let netdev = shared.netdev;
        netdev.set_real_queues(num)?;
        netdev.update_features();
        netdev.set_carrier(true);
        netdev.tx_start_all();

        // Hold the Connected state back until the hotplug script reported (3.4). The
        // watch fires once at registration, so a key already `connected` releases it.
        self.gate.armed.store(true, Ordering::Release);
        match Watch::new(dev, dev.nodename(), c"hotplug-status", self.gate.clone()) {
            Ok(w) => st.hotplug_watch = Some(w),
            Err(_) => self.gate.armed.store(false, Ordering::Release),
        }
        pr_info!(
            "{}: connected, {} queue(s), {} event channels\n",
            self.name(),
            num,
            if !st.runtime.is_empty() && self.vif.queues[0].shared_channel.load(Ordering::Relaxed) {
                "shared"
            } else {
                "split"
            }
        );
        Ok(())
    }

    fn connect_queue(
        &self,
        dev: &xenbus::Device,
        q: &Arc<Queue>,
        refs: &QueueRefs,
    ) -> Result<QueueRuntime> {
        let tx_ring = TxRing::map(dev, refs.tx_ring_ref)?;
        let rx_ring = RxRing::map(dev, refs.rx_ring_ref)?;
        // Row 3: requests outstanding must fit in the ring.
        if check_attach(
            tx_ring.req_prod(),
            tx_ring.shared_rsp_prod(),
            ring::TX_RING_SIZE,
        )
        .is_err()
            || check_attach(
                rx_ring.req_prod(),
                rx_ring.shared_rsp_prod(),
                ring::RX_RING_SIZE,
            )
            .is_err()
        {
            return Err(EIO);
        }
        let tx_start = tx_ring.shared_rsp_prod();
        let rx_start = rx_ring.shared_rsp_prod();
        let mut irqs = KVec::new();
        let bind = |port: u32, suffix: &str, kind: ChannelKind| -> Result<IrqBinding<QueueEvent>> {
            let name = CString::try_from_fmt(fmt!("{}-q{}{}", self.name(), q.index, suffix))?;
            let ev = Arc::new(
                QueueEvent {
                    queue: q.clone(),
                    kind,
                },
                GFP_KERNEL,
            )?;
            IrqBinding::new_interdomain(dev, port, &name, ev)
        };
        let (tx_eoi, tx_notifier, rx_eoi, rx_notifier, shared_ch);
        match refs.split {
            Some((tp, rp)) => {
                let t = bind(tp, "-tx", ChannelKind::Tx)?;
                let r = bind(rp, "-rx", ChannelKind::Rx)?;
                tx_eoi = t.eoi_handle();
                tx_notifier = t.notifier();
                rx_eoi = Some(r.eoi_handle());
                rx_notifier = r.notifier();
                shared_ch = false;
                irqs.push(t, GFP_KERNEL)?;
                irqs.push(r, GFP_KERNEL)?;
            }
            None => {
                let b = bind(refs.shared_port, "", ChannelKind::Shared)?;
                tx_eoi = b.eoi_handle();
                tx_notifier = b.notifier();
                rx_eoi = None;
                rx_notifier = b.notifier();
                shared_ch = true;
                irqs.push(b, GFP_KERNEL)?;
            }
        }
        q.shared_channel.store(shared_ch, Ordering::Relaxed);
        let mut tx_ops = KVec::with_capacity(MAX_PACKET_OPS, GFP_KERNEL)?;
        tx_ops.clear();
        let mut rx_ops = KVec::with_capacity(MAX_PACKET_OPS, GFP_KERNEL)?;
        rx_ops.clear();
        // Allocate before taking the locks (nothing may sleep under the spinlock).
        let tx_copier = GrantCopier::new(COPY_BATCH)?;
        let rx_copier = GrantCopier::new(COPY_BATCH)?;
        *q.tx.lock() = Some(TxConn {
            ring: tx_ring,
            req_cons: tx_start,
            rsp_prod_pvt: tx_start,
            copier: tx_copier,
            ops: tx_ops,
            notifier: tx_notifier,
            eoi: tx_eoi,
            eoi_seen_prod: tx_start,
            credit: Credit::unlimited(),
            credit_gen: self
                .vif
                .shared
                .rate_gen
                .load(Ordering::Acquire)
                .wrapping_sub(1),
        });
        *q.rx.lock() = Some(RxConn {
            ring: rx_ring,
            req_cons: rx_start,
            rsp_prod_pvt: rx_start,
            copier: rx_copier,
            ops: rx_ops,
            notifier: rx_notifier,
            eoi: rx_eoi,
            eoi_seen_prod: rx_start,
            short_since: None,
        });
        q.rx_ready.store(true, Ordering::Release);
        let name = CString::try_from_fmt(fmt!("{}-q{}-guest-rx", self.name(), q.index))?;
        let worker = WorkerThread::start(q.clone(), &name)?;
        q.napi.enable();
        // Requests published before we bound the channel would otherwise wait for the
        // next event.
        q.napi.schedule();
        q.waker.kick();
        Ok(QueueRuntime {
            _worker: worker,
            _irqs: irqs,
        })
    }

    /// Tears the connection down: carrier off, threads and IRQs stopped, NAPI disabled,
    /// rings unmapped (reference 3.2, `backend_disconnect()`).
    fn disconnect(&self, st: &mut BeState) {
        st.hotplug_watch = None;
        st.rate_watch = None;
        self.gate.armed.store(false, Ordering::Release);
        let netdev = self.vif.shared.netdev;
        netdev.set_carrier(false);
        if st.netdev.is_registered() {
            netdev.tx_disable();
        }
        let connected = st.runtime.len();
        // Threads and IRQs first, so nothing touches the rings any more.
        st.runtime.clear();
        for q in self.vif.queues.iter().take(connected) {
            q.napi.disable();
        }
        self.vif.num_queues.store(0, Ordering::Release);
        for q in self.vif.queues.iter() {
            q.release();
        }
    }
}

impl Drop for Netback {
    fn drop(&mut self) {
        let watches = self.st.lock().take_watches();
        drop(watches);
        let mut st = self.st.lock();
        self.disconnect(&mut st);
        st.netdev.unregister();
    }
}

/// The `vif` backend driver.
struct VifBackend;

impl xenbus::Driver for VifBackend {
    const DEVICE_TYPE: &'static CStr = c"vif";
    const SIDE: xenbus::Side = xenbus::Side::Backend;
    type Data = Netback;

    fn probe(dev: &xenbus::Device) -> Result<KBox<Netback>> {
        let max_queues = effective_max_queues();
        let split = SEPARATE_TX_RX_IRQ.get();

        // Feature keys in one transaction (2.2), then the optional ones.
        loop {
            let t = xenbus::Transaction::start()?;
            let dir = dev.nodename();
            for key in [
                c"feature-sg",
                c"feature-gso-tcpv4",
                c"feature-gso-tcpv6",
                c"feature-ipv6-csum-offload",
                c"feature-rx-copy",
            ] {
                t.write(dir, key, c"1")?;
            }
            t.write(dir, c"feature-rx-flip", c"0")?;
            match t.commit() {
                Ok(()) => break,
                Err(e) if e == EAGAIN => continue,
                Err(e) => {
                    dev.fatal(e, format_args!("writing feature keys"));
                    return Err(e);
                }
            }
        }
        let t = xenbus::Transaction::start()?;
        t.write(
            dev.nodename(),
            c"feature-split-event-channels",
            if split { c"1" } else { c"0" },
        )?;
        t.write_fmt(
            dev.nodename(),
            c"multi-queue-max-queues",
            format_args!("{max_queues}"),
        )?;
        if t.commit().is_err() {
            pr_warn!("could not write the optional feature keys\n");
        }

        if dev.read_own(c"script").is_err() {
            dev.fatal(EINVAL, format_args!("reading script"));
            return Err(EINVAL);
        }
        let handle = match dev
            .read_own(c"handle")
            .ok()
            .as_deref()
            .and_then(parse_unsigned)
        {
            Some(h) => h,
            None => {
                dev.fatal(EINVAL, format_args!("reading handle"));
                return Err(EINVAL);
            }
        };
        let domid = dev.otherend_id() as u16;
        let name = CString::try_from_fmt(fmt!("vif{domid}.{handle}"))?;
        let mut netdev = NetDevice::new_backend(dev, max_queues, DRIVER_NAME, &name)?;
        let shared = Arc::new(
            Shared {
                netdev: netdev.handle(),
                domid,
                name,
                fe_features: AtomicU32::new(0),
                disabled: AtomicBool::new(false),
                disable_reported: AtomicBool::new(false),
                fatal_slots: clamp_fatal_skb_slots(FATAL_SKB_SLOTS.get()),
                rx_gso_checksum_fixup: AtomicU64::new(0),
                rx_gso_packets: AtomicU64::new(0),
                rate_bytes: AtomicU64::new(u64::MAX),
                rate_usec: AtomicU64::new(0),
                rate_gen: AtomicU32::new(0),
            },
            GFP_KERNEL,
        )?;
        let mut napis = KVec::with_capacity(max_queues as usize, GFP_KERNEL)?;
        let mut queues = KVec::with_capacity(max_queues as usize, GFP_KERNEL)?;
        for index in 0..max_queues {
            let mut napi = Napi::<Queue>::new(&netdev)?;
            let backlog = SkbQueue::new()?;
            let waker = Waker::new()?;
            let napi_ref = napi.handle();
            let queue_shared = shared.clone();
            let q = Arc::pin_init(
                pin_init!(Queue {
                    index,
                    shared: queue_shared,
                    napi: napi_ref,
                    tx <- new_spinlock_bh!(None),
                    rx <- new_mutex!(None),
                    backlog,
                    waker,
                    credit_wake_at: AtomicU64::new(0),
                    tx_eoi_pending: AtomicBool::new(false),
                    rx_eoi_pending: AtomicBool::new(false),
                    shared_channel: AtomicBool::new(false),
                    rx_ready: AtomicBool::new(false),
                    stalled: AtomicBool::new(false),
                    problems: AtomicU32::new(0),
                    stats: QueueCounters::default(),
                }),
                GFP_KERNEL,
            )?;
            napi.attach(q.clone());
            napis.push(napi, GFP_KERNEL)?;
            queues.push(q, GFP_KERNEL)?;
        }
        let vif = Arc::new(
            Vif {
                shared,
                queues,
                num_queues: AtomicU32::new(0),
                max_queues,
            },
            GFP_KERNEL,
        )?;
        netdev.attach(vif.clone());
        netdev.register()?;
        let gate = Arc::new(
            HotplugGate {
                armed: AtomicBool::new(false),
                target: AtomicU32::new(xenbus::State::InitWait as u32),
            },
            GFP_KERNEL,
        )?;
        let nb = KBox::new(
            Netback {
                vif,
                _napis: napis,
                gate,
                st: KBox::pin_init(
                    new_mutex!(BeState {
                        netdev,
                        state: xenbus::State::Initialising,
                        runtime: KVec::new(),
                        hotplug_watch: None,
                        rate_watch: None,
                    }),
                    GFP_KERNEL,
                )?,
                unregister: AtomicBool::new(false),
            },
            GFP_KERNEL,
        )?;
        {
            let mut st = nb.st.lock();
            nb.set_state(dev, &mut st, xenbus::State::InitWait);
        }
        // Starts udev-driven hotplug scripts (with `script=` and `vif=` from `uevent`).
        dev.uevent_online();
        dev_info!(
            dev.as_dev(),
            "probe {} as {} (max_queues {}, split event channels {})\n",
            dev.nodename(),
            nb.name(),
            max_queues,
            split
        );
        Ok(nb)
    }

    fn otherend_changed(dev: &xenbus::Device, nb: &Netback, state: xenbus::State) {
        use xenbus::State::*;
        let mut st = nb.st.lock();
        match state {
            Initialising => nb.set_state(dev, &mut st, InitWait),
            InitWait | Initialised | Reconfiguring | Reconfigured => {}
            Connected => {
                if st.state != Connected {
                    nb.set_state(dev, &mut st, Connected)
                }
            }
            Closing => nb.set_state(dev, &mut st, Closing),
            Closed => {
                nb.set_state(dev, &mut st, Closed);
                let online = dev
                    .read_own(c"online")
                    .ok()
                    .as_deref()
                    .and_then(parse_unsigned);
                if online.unwrap_or(0) == 0 {
                    nb.unregister.store(true, Ordering::Release);
                }
            }
            Unknown => {
                nb.set_state(dev, &mut st, Closed);
                nb.unregister.store(true, Ordering::Release);
            }
        }
    }

    /// As the C driver: a state value outside the protocol is the frontend's fatal error
    /// (error node, Closing), not a removal.
    fn otherend_invalid_state(dev: &xenbus::Device, nb: &Netback, raw: u32) {
        let mut st = nb.st.lock();
        dev.fatal(EINVAL, format_args!("saw state {raw} at frontend"));
        if st.state == xenbus::State::Connected {
            nb.disconnect(&mut st);
        }
        st.state = xenbus::State::Closing;
    }

    /// `script=` and `vif=` for udev-driven hotplug (`xen-backend` rules), as the C driver
    /// adds them; read from XenStore, so it works at any point of the device's life.
    fn uevent(dev: &xenbus::Device, env: &mut xenbus::UeventEnv) -> Result {
        let Ok(script) = dev.read_own(c"script") else {
            return Ok(());
        };
        let script = core::str::from_utf8(&script).map_err(|_| EINVAL)?;
        env.add(&CString::try_from_fmt(fmt!("script={script}"))?)?;
        if let Some(handle) = dev
            .read_own(c"handle")
            .ok()
            .as_deref()
            .and_then(parse_unsigned)
        {
            env.add(&CString::try_from_fmt(fmt!(
                "vif=vif{}.{}",
                dev.otherend_id(),
                handle
            ))?)?;
        }
        Ok(())
    }

    fn unregister_after_change(nb: &Netback) -> bool {
        nb.unregister.swap(false, Ordering::AcqRel)
    }

    fn remove(dev: &xenbus::Device, nb: KBox<Netback>) {
        // Our watches are unregistered outside `st` (`BeState::take_watches`); the xenbus
        // core freed the otherend watch before calling us.
        let watches;
        {
            let mut st = nb.st.lock();
            watches = st.take_watches();
            nb.set_state(dev, &mut st, xenbus::State::Closed);
        }
        drop(watches);
        dev.remove_own(c"hotplug-status");
        dev_info!(dev.as_dev(), "remove {} ({})\n", dev.nodename(), nb.name());
        drop(nb);
    }
}

fn effective_max_queues() -> u32 {
    negotiate::effective_max_queues(MAX_QUEUES.get(), xen::system::num_online_cpus())
}

struct XenNetback {
    _driver: xenbus::Registration<VifBackend>,
}

impl kernel::Module for XenNetback {
    fn init(module: &'static ThisModule) -> Result<Self> {
        if !xen::system::xen_domain() {
            return Err(ENODEV);
        }
        let driver = xenbus::Registration::new(module, c"xen_netback")?;
        pr_info!(
            "loaded: max_queues={} (effective {}), separate_tx_rx_irq={}, fatal_skb_slots={}\n",
            MAX_QUEUES.get(),
            effective_max_queues(),
            SEPARATE_TX_RX_IRQ.get(),
            clamp_fatal_skb_slots(FATAL_SKB_SLOTS.get())
        );
        Ok(XenNetback { _driver: driver })
    }
}

impl Drop for XenNetback {
    fn drop(&mut self) {
        pr_info!("unloading\n");
    }
}
