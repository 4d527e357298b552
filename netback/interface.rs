// SPDX-License-Identifier: GPL-2.0

//! The `vif` net device and its queues (the C driver's `interface.c`).
//!
//! [`Vif`] is what the networking core calls (`ndo_*`, ethtool); each [`Queue`] holds the
//! state of one queue's two halves (guest TX in `tx.rs`, guest RX in `rx.rs`) and the
//! per-queue flags its event channel handlers ([`QueueEvent`]) set. The `rate` watch is
//! implemented here, on [`Vif`], because it only updates the vif's shared state; `xenbus.rs`
//! registers it at connect.

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::{new_mutex, Arc, Mutex};

use crate::fe;
use crate::hash::{HashCounters, VifHash};
use crate::rx::RxConn;
use crate::tx::TxConn;
use crate::xen::backend::{CopyRun, SkbQueue, Waker, WatchHandler, WorkerThread};
use crate::xen::evtchn::{Eoi, EventHandler, IrqBinding};
use crate::xen::net::{
    bump, features, fill_stat_names, fill_stat_values, LinkStats, Napi, NapiBuilder, NapiHandle,
    NetDevRef, NetDevice, NetDriver, QueueCounters, SkBuff, STAT_NAME_LEN,
};
use crate::xen::protocol::backend::clamp_fatal_skb_slots;
use crate::xen::protocol::netif::{ETH_HLEN, MAX_TX_SIZE};
use crate::xen::protocol::xenstore::parse_rate;
use crate::xen::sync::{new_spinlock_bh, BhDisabled, SpinLockBh};
use crate::xen::xenbus;
use crate::{DRIVER_NAME, FATAL_SKB_SLOTS};

/// Packet problems logged per queue before only counting them.
const PROBLEMS_LOGGED: u32 = 5;

/// An Ethernet header with one 802.1Q tag (`VLAN_ETH_HLEN`).
const VLAN_ETH_HLEN: u32 = ETH_HLEN as u32 + 4;
/// Largest MTU with `feature-sg`, as C's `ETH_MAX_MTU - VLAN_ETH_HLEN`: 65535 (equal to
/// `XEN_NETIF_MAX_TX_SIZE`, the largest packet a TX request's 16-bit `size` can announce)
/// less a VLAN-tagged Ethernet header.
const MAX_MTU_SG: u32 = MAX_TX_SIZE as u32 - VLAN_ETH_HLEN;
/// Largest MTU without `feature-sg` (`ETH_DATA_LEN`).
const MAX_MTU_NO_SG: u32 = 1500;

/// Device-wide statistics names, first in `ethtool -S`.
const DEVICE_STATS: [&str; 2] = ["rx_gso_checksum_fixup", "rx_gso_packets"];

/// Per-queue statistics names (`ethtool -S` shows them as `q<N>_<name>`): the counters
/// both drivers keep ([`QueueCounters::NAMES`]), then the netback's own
/// ([`CopyCounters::NAMES`], [`HashCounters::NAMES`]); [`Vif::stats_values`] gives the
/// values in this order.
const QUEUE_STATS: [&str; QUEUE_STAT_COUNT] = {
    let parts: [&[&str]; 3] = [
        &QueueCounters::NAMES,
        &CopyCounters::NAMES,
        &HashCounters::NAMES,
    ];
    let mut names = [""; QUEUE_STAT_COUNT];
    let mut n = 0;
    let mut p = 0;
    while p < parts.len() {
        let mut i = 0;
        while i < parts[p].len() {
            names[n] = parts[p][i];
            n += 1;
            i += 1;
        }
        p += 1;
    }
    names
};
const QUEUE_STAT_COUNT: usize =
    QueueCounters::NAMES.len() + CopyCounters::NAMES.len() + HashCounters::NAMES.len();

/// A queue's grant-copy counters (`ethtool -S`, after its [`QueueCounters`]): the
/// `GNTTABOP_copy` hypercalls each direction issued and the copies they carried, whose
/// ratio shows how well copies are batched. The netfront makes no grant copies, so these
/// are not in the shared [`QueueCounters`].
///
/// Named from the guest's side, as the C driver's `tx_zerocopy_*`: `tx_copy_*` is guest
/// TX (frontend to backend, `tx.rs`: the packets in `q<N>_rx_packets`), `rx_copy_*` guest
/// RX (backend to frontend, `rx.rs`: the packets in `q<N>_tx_packets`).
///
/// Each pair has one writer, so `Relaxed` adds suffice: the `tx_*` pair is written only by
/// the queue's NAPI poll (softirq, under `Queue::tx`), the `rx_*` pair only by the queue's
/// worker thread (process context, under `Queue::rx`). `ethtool -S` reads them in process
/// context without either lock, each value on its own: a reader may see a batch's
/// hypercalls counted and its copies not yet, never a torn value.
#[derive(Default)]
pub(crate) struct CopyCounters {
    /// `GNTTABOP_copy` hypercalls of guest TX.
    pub(crate) tx_hypercalls: AtomicU64,
    /// Grant copies those hypercalls carried.
    pub(crate) tx_ops: AtomicU64,
    /// `GNTTABOP_copy` hypercalls of guest RX.
    pub(crate) rx_hypercalls: AtomicU64,
    /// Grant copies those hypercalls carried.
    pub(crate) rx_ops: AtomicU64,
}

impl CopyCounters {
    /// The counters' `ethtool -S` names (each prefixed with `q<N>_`).
    pub(crate) const NAMES: [&'static str; 4] = [
        "tx_copy_hypercalls",
        "tx_copy_ops",
        "rx_copy_hypercalls",
        "rx_copy_ops",
    ];

    /// The counters, in the order of [`Self::NAMES`].
    pub(crate) fn values(&self) -> [u64; 4] {
        [
            self.tx_hypercalls.load(Ordering::Relaxed),
            self.tx_ops.load(Ordering::Relaxed),
            self.rx_hypercalls.load(Ordering::Relaxed),
            self.rx_ops.load(Ordering::Relaxed),
        ]
    }

    /// Counts a guest-TX batch that ran. The queue's NAPI poll only.
    pub(crate) fn count_tx(&self, run: &CopyRun<'_>) {
        bump(&self.tx_hypercalls, u64::from(run.hypercalls()));
        bump(&self.tx_ops, run.ops() as u64);
    }

    /// Counts a guest-RX batch that ran. The queue's worker thread only.
    pub(crate) fn count_rx(&self, run: &CopyRun<'_>) {
        bump(&self.rx_hypercalls, u64::from(run.hypercalls()));
        bump(&self.rx_ops, run.ops() as u64);
    }
}

/// State shared by the vif and all its queues.
#[pin_data]
pub(crate) struct Shared {
    pub(crate) netdev: NetDevRef,
    /// The frontend's domain.
    pub(crate) domid: u16,
    /// `vif<domid>.<handle>`, for log lines.
    pub(crate) name: CString,
    /// `fe::*` bits of the current connection.
    pub(crate) fe_features: AtomicU32,
    /// Set by a fatal protocol violation; cleared at the next connect.
    pub(crate) disabled: AtomicBool,
    /// The disable was reported (log line, carrier off) from process context.
    pub(crate) disable_reported: AtomicBool,
    /// Queues whose guest RX is stalled (C: `stalled_queues`); the carrier is off while it
    /// is not 0. The count and every carrier change that depends on it or on `disabled`
    /// happen under this lock (C: `vif->lock`), so that one queue's "ready" cannot turn
    /// the carrier back on over another queue's "stalled" or a fatal disable. Taken in
    /// process context only: the queues' workers, connect and disconnect.
    #[pin]
    stalled_queues: Mutex<u32>,
    pub(crate) fatal_slots: u32,
    pub(crate) rx_gso_checksum_fixup: AtomicU64,
    /// Packets from the guest that carried a GSO extra (TSO at work in the guest).
    pub(crate) rx_gso_packets: AtomicU64,
    /// The `rate` key: bytes per window (`u64::MAX`: unlimited) and window in µs; each
    /// queue's NAPI applies a new value when `rate_gen` moved.
    pub(crate) rate_bytes: AtomicU64,
    pub(crate) rate_usec: AtomicU64,
    pub(crate) rate_gen: AtomicU32,
    /// The frontend's hash configuration as guest RX reads it (`hash.rs`: its contexts).
    #[pin]
    pub(crate) hash: VifHash,
}

impl Shared {
    pub(crate) fn fe_has(&self, bit: u32) -> bool {
        self.fe_features.load(Ordering::Relaxed) & bit != 0
    }

    pub(crate) fn is_disabled(&self) -> bool {
        self.disabled.load(Ordering::Acquire)
    }

    /// A queue's guest RX stalled (C `xenvif_queue_carrier_off()`): the carrier goes off
    /// with the first stalled queue. Returns whether this was the first.
    pub(crate) fn rx_stalled(&self) -> bool {
        let mut n = self.stalled_queues.lock();
        *n += 1;
        if *n == 1 {
            self.netdev.set_carrier(false);
        }
        *n == 1
    }

    /// A stalled queue is ready again (C `xenvif_queue_carrier_on()`): the carrier comes
    /// back once no queue is stalled, unless the vif was disabled. Returns whether it did.
    pub(crate) fn rx_ready(&self) -> bool {
        let mut n = self.stalled_queues.lock();
        *n = n.saturating_sub(1);
        let on = *n == 0 && !self.is_disabled();
        if on {
            self.netdev.set_carrier(true);
        }
        on
    }

    /// The carrier of a disabled vif goes off, and stays off: a queue that becomes ready
    /// later sees `disabled` under the same lock.
    pub(crate) fn carrier_off_disabled(&self) {
        let _stalled = self.stalled_queues.lock();
        self.netdev.set_carrier(false);
    }

    /// At connect, once every queue's NAPI and worker started: the carrier comes on unless
    /// a fatal error was flagged already (a NAPI poll scheduled by the connect may have
    /// disabled the vif, and its worker turned the carrier off before this) or a worker
    /// already found its queue stalled.
    pub(crate) fn carrier_on_connected(&self) {
        let stalled = self.stalled_queues.lock();
        if *stalled == 0 && !self.is_disabled() {
            self.netdev.set_carrier(true);
        }
    }

    /// At connect, before the workers start (`disconnect` stopped the previous ones).
    pub(crate) fn reset_stalled(&self) {
        *self.stalled_queues.lock() = 0;
    }
}

/// One queue of a vif.
#[pin_data]
pub(crate) struct Queue {
    pub(crate) index: u32,
    pub(crate) shared: Arc<Shared>,
    pub(crate) napi: NapiHandle,
    /// Taken in NAPI poll (softirq) with `lock_with`, and in process context (connect,
    /// `drop_connection`) with `lock` (BH off).
    #[pin]
    pub(crate) tx: SpinLockBh<Option<TxConn>>,
    /// Taken only in process context: the queue's worker thread and
    /// connect/`drop_connection`.
    #[pin]
    pub(crate) rx: Mutex<Option<RxConn>>,
    /// Pushed in `ndo_start_xmit` (BH off), drained by the worker thread; its own lock is
    /// taken with IRQs off (`spin_lock_irqsave`).
    pub(crate) backlog: SkbQueue,
    pub(crate) waker: Waker,
    /// Guest TX waits for credit until this time (ms, 0: not waiting); the worker thread
    /// acts as the credit timer and reschedules NAPI then.
    pub(crate) credit_wake_at: AtomicU64,
    /// An event of the TX (or shared) channel waits for NAPI's late EOI.
    pub(crate) tx_eoi_pending: AtomicBool,
    /// An event of the split RX channel waits for the worker's late EOI.
    pub(crate) rx_eoi_pending: AtomicBool,
    /// The queue's channel is shared by TX and RX.
    pub(crate) shared_channel: AtomicBool,
    /// The queue's guest-RX side exists (packets may be queued for it).
    pub(crate) rx_ready: AtomicBool,
    /// Guest RX is stalled (counted in `Shared::stalled_queues`); written by the queue's
    /// worker only, and by `drop_connection` once the worker stopped.
    pub(crate) stalled: AtomicBool,
    pub(crate) problems: AtomicU32,
    pub(crate) stats: QueueCounters,
    /// Grant-copy counters; cumulative like `stats` (a reconnect keeps them).
    pub(crate) copies: CopyCounters,
    /// Hash counters; cumulative like `stats`.
    pub(crate) hashes: HashCounters,
}

impl Queue {
    /// Disables the vif after a fatal protocol violation. Called from NAPI or the worker;
    /// the carrier change and its log line happen in this queue's worker (process
    /// context, XSA-90), which is kicked here.
    pub(crate) fn fatal(&self, what: fmt::Arguments<'_>) {
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

    pub(crate) fn note_problem(&self) -> bool {
        self.problems.fetch_add(1, Ordering::Relaxed) < PROBLEMS_LOGGED
    }

    pub(crate) fn name(&self) -> &str {
        self.shared.name.to_str().unwrap_or("vif")
    }

    /// Drops the connection state (rings unmapped, backlog freed).
    pub(crate) fn drop_connection(&self) {
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

/// Which events a bound channel carries.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChannelKind {
    /// The TX channel of a split pair: guest TX requests.
    Tx,
    /// The RX channel of a split pair: guest RX buffers.
    Rx,
    /// The queue's only channel, carrying both (no `feature-split-event-channels`).
    Both,
}

/// Event handler of one channel of a queue.
pub(crate) struct QueueEvent {
    pub(crate) queue: Arc<Queue>,
    pub(crate) kind: ChannelKind,
}

impl EventHandler for QueueEvent {
    fn handle_event(&self) -> Eoi {
        let q = &self.queue;
        if q.shared.is_disabled() {
            return Eoi::Withhold;
        }
        match self.kind {
            ChannelKind::Tx | ChannelKind::Both => {
                if self.kind == ChannelKind::Both {
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

/// The bindings and thread of one connected queue; dropping it stops them (the worker
/// first, then the channels). `disconnect` stops the workers of all queues explicitly, after
/// NAPI is disabled and before any channel is unbound (see there).
pub(crate) struct QueueRuntime {
    pub(crate) worker: Option<WorkerThread<Queue>>,
    pub(crate) _irqs: KVec<IrqBinding<QueueEvent>>,
}

/// What [`Vif::alloc`] hands to probe: the net device, the queues' NAPI contexts, the vif.
pub(crate) type NewVif = (NetDevice<Vif>, KVec<Napi<Queue>>, Arc<Vif>);

/// The vif as the networking core sees it.
pub(crate) struct Vif {
    pub(crate) shared: Arc<Shared>,
    pub(crate) queues: KVec<Arc<Queue>>,
    pub(crate) num_queues: AtomicU32,
    pub(crate) max_queues: u32,
}

impl Vif {
    pub(crate) fn active(&self) -> &[Arc<Queue>] {
        let n = (self.num_queues.load(Ordering::Acquire) as usize).min(self.queues.len());
        &self.queues[..n]
    }

    /// Creates the vif: its net device (registered), its queues and their NAPI contexts
    /// (C: `xenvif_alloc()`, called from probe). The caller binds the tuple as
    /// `(netdev, napis, vif)` so that an early return drops the vif first, then the NAPI
    /// contexts, then the net device.
    pub(crate) fn alloc(
        dev: &xenbus::Device,
        max_queues: u32,
        domid: u16,
        name: CString,
    ) -> Result<NewVif> {
        let mut netdev = NetDevice::new_backend(dev, max_queues, DRIVER_NAME, &name)?;
        let netdev_ref = netdev.handle();
        let shared = Arc::pin_init(
            try_pin_init!(Shared {
                netdev: netdev_ref,
                domid,
                name,
                fe_features: AtomicU32::new(0),
                disabled: AtomicBool::new(false),
                disable_reported: AtomicBool::new(false),
                stalled_queues <- new_mutex!(0),
                fatal_slots: clamp_fatal_skb_slots(FATAL_SKB_SLOTS.get()),
                rx_gso_checksum_fixup: AtomicU64::new(0),
                rx_gso_packets: AtomicU64::new(0),
                rate_bytes: AtomicU64::new(u64::MAX),
                rate_usec: AtomicU64::new(0),
                rate_gen: AtomicU32::new(0),
                hash <- VifHash::new(),
            }? Error),
            GFP_KERNEL,
        )?;
        let mut napis = KVec::with_capacity(max_queues as usize, GFP_KERNEL)?;
        let mut queues = KVec::with_capacity(max_queues as usize, GFP_KERNEL)?;
        for index in 0..max_queues {
            let napi = NapiBuilder::<Queue>::new(&mut netdev)?;
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
                    copies: CopyCounters::default(),
                    hashes: HashCounters::default(),
                }),
                GFP_KERNEL,
            )?;
            napis.push(napi.attach(q.clone()), GFP_KERNEL)?;
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
        netdev.register(vif.clone())?;
        Ok((netdev, napis, vif))
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

    fn start_xmit(&self, mut skb: SkBuff, _bh: &BhDisabled) {
        let active = self.active();
        if active.is_empty() {
            // Not connected: the packet is dropped (freed with `skb`) and counted, as C's
            // `xenvif_start_xmit()` does (`goto drop`: `tx_dropped`). There is no device-wide
            // counter here; queue 0's always exists and is summed by `stats64`.
            if let Some(q) = self.queues.first() {
                bump(&q.stats.tx_dropped, 1);
            }
            return;
        }
        let q = &active[usize::from(skb.queue_mapping()) % active.len()];
        // C `xenvif_start_xmit()`: without a hash algorithm no skb hash reaches the guest
        // (see `VifHash::prepare_xmit` for the rest).
        self.shared.hash.prepare_xmit(&mut skb, active.len() as u32);
        q.rx_enqueue(skb);
    }

    /// C `xenvif_select_queue()`: queue 0 while not connected; with the frontend's
    /// Toeplitz configuration the queue its mapping gives (`VifHash::select_queue`);
    /// without, the flow hash modulo the connected queues.
    fn select_queue(&self, skb: &SkBuff) -> u16 {
        let n = self.active().len() as u32;
        if n == 0 {
            return 0;
        }
        if let Some(q) = self.shared.hash.select_queue(skb, n) {
            return q;
        }
        if n == 1 {
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
        if !self.shared.fe_has(fe::NO_CSUM_OFFLOAD) {
            f |= features::IP_CSUM;
        }
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
            MAX_MTU_SG
        } else {
            MAX_MTU_NO_SG
        }
    }

    fn stats_count(&self) -> u32 {
        (DEVICE_STATS.len() + QUEUE_STATS.len() * self.max_queues as usize) as u32
    }

    fn stats_names(&self, names: &mut [[u8; STAT_NAME_LEN]]) {
        fill_stat_names(names, &DEVICE_STATS, &QUEUE_STATS, self.max_queues);
    }

    fn stats_values(&self, values: &mut [u64]) {
        let device = [
            self.shared.rx_gso_checksum_fixup.load(Ordering::Relaxed),
            self.shared.rx_gso_packets.load(Ordering::Relaxed),
        ];
        let queues = self.queues.iter().map(|q| {
            // The order of `QUEUE_STATS`.
            let copies = Iterator::chain(q.stats.values().into_iter(), q.copies.values());
            Iterator::chain(copies, q.hashes.values())
        });
        fill_stat_values(values, &device, queues);
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
    fn changed(&self, dev: &xenbus::DeviceRef) {
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
