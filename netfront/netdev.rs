// SPDX-License-Identifier: GPL-2.0

//! The network device and its ethtool view (C `xen-netfront.c`: `xennet_netdev_ops`
//! (`xennet_open`, `xennet_close`, `xennet_start_xmit`, `xennet_select_queue`,
//! `xennet_get_stats64`, `xennet_fix_features`, `xennet_change_mtu`) and `xennet_ethtool_ops`).

use core::sync::atomic::{AtomicU32, Ordering};

use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

use crate::queue::{Queue, Shared};
use crate::rss::Rss;
use crate::xen::net::{
    bump, features, fill_stat_names, fill_stat_values, ChannelCounts, LinkStats, NetDriver,
    QueueCounters, SkBuff, STAT_NAME_LEN,
};
use crate::xen::protocol::ctrl::{FlowKind, HashedFields};
use crate::xen::protocol::negotiate;
use crate::xen::protocol::netif::MAX_TX_SIZE;
use crate::xen::sync::BhDisabled;
use crate::xen::xenbus::DeferredWork;

/// Largest MTU without scatter-gather: a standard Ethernet payload (`ETH_DATA_LEN`, as in C).
const ETH_DATA_LEN: u32 = 1500;

/// Device-wide statistics names, first in `ethtool -S`.
const DEVICE_STATS: [&str; 2] = ["rx_gso_checksum_fixup", "tx_gso_packets"];

/// The frontend's own per-queue counters, after the shared [`QueueCounters`] of each queue:
/// `rx_hashed`, packets received with a valid `HASH` extra (their skb got the backend's
/// hash).
const FRONTEND_QUEUE_STATS: [&str; 1] = ["rx_hashed"];

/// Every per-queue statistics name, `q<N>_` prefixed in `ethtool -S`: the shared counters,
/// then the frontend's.
const QUEUE_STATS: [&str; QueueCounters::NAMES.len() + FRONTEND_QUEUE_STATS.len()] = {
    let mut names = [""; QueueCounters::NAMES.len() + FRONTEND_QUEUE_STATS.len()];
    let mut i = 0;
    while i < QueueCounters::NAMES.len() {
        names[i] = QueueCounters::NAMES[i];
        i += 1;
    }
    let mut j = 0;
    while j < FRONTEND_QUEUE_STATS.len() {
        names[i + j] = FRONTEND_QUEUE_STATS[j];
        j += 1;
    }
    names
};

/// The device as the networking core sees it.
pub(crate) struct Info {
    pub(crate) shared: Arc<Shared>,
    pub(crate) queues: KVec<Arc<Queue>>,
    /// The queues allocated (the net device's TX and RX queues, NAPI contexts).
    pub(crate) max_queues: u32,
    /// The queues of the current connection (0 while disconnected).
    pub(crate) num_queues: AtomicU32,
    /// The most queues this backend and we allow, set at each connect: min(the backend's
    /// `multi-queue-max-queues`, 1 if absent, and `max_queues`). The `ethtool -l` maximum.
    pub(crate) queue_limit: AtomicU32,
    /// The queue count `ethtool -L` chose (0: none, the limit is used). Kept across
    /// reconnects; each connect uses it, capped at the limit.
    pub(crate) requested_queues: AtomicU32,
    /// Asks for `Netfront::apply_channels` (the xenbus deferred work) after `ethtool -L`.
    pub(crate) reconnect: DeferredWork,
    pub(crate) allowed_features: AtomicU32,
    /// Receive-side scaling through the control ring (see [`Rss`] for the lock).
    pub(crate) rss: Pin<KBox<Mutex<Rss>>>,
}

impl Info {
    pub(crate) fn active_queues(&self) -> &[Arc<Queue>] {
        let n = (self.num_queues.load(Ordering::Acquire) as usize).min(self.queues.len());
        &self.queues[..n]
    }

    /// The queue count a connect uses now: the `ethtool -L` choice capped at the limit, or
    /// the limit.
    pub(crate) fn wanted_queues(&self) -> u32 {
        negotiate::frontend_requested_count(
            self.requested_queues.load(Ordering::Acquire),
            self.queue_limit.load(Ordering::Acquire),
        )
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
        // Not connected (no active queue): queue 0 counts the drop (its `xmit` finds no
        // rings and drops the packet).
        let Some(queue) = queues.get(q).or(queues.first()).or(self.queues.first()) else {
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
        // During a reconnect `num_queues` is set before `netif_set_real_num_tx_queues`, and
        // the core refuses (with a warning) a queue at or above the real count: stay below
        // both (C `xennet_select_queue` uses `real_num_tx_queues`).
        let n = self
            .num_queues
            .load(Ordering::Acquire)
            .min(self.shared.netdev.real_tx_queues());
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
            ETH_DATA_LEN
        }
    }

    fn stats_count(&self) -> u32 {
        DEVICE_STATS.len() as u32 + self.max_queues * QUEUE_STATS.len() as u32
    }

    fn stats_names(&self, names: &mut [[u8; STAT_NAME_LEN]]) {
        fill_stat_names(names, &DEVICE_STATS, &QUEUE_STATS, self.max_queues);
    }

    fn stats_values(&self, values: &mut [u64]) {
        let device = [
            self.shared.rx_gso_checksum_fixup.load(Ordering::Relaxed),
            self.shared.tx_gso_packets.load(Ordering::Relaxed),
        ];
        fill_stat_values(
            values,
            &device,
            self.queues.iter().map(|q| {
                let ours = [q.rx_hashed.load(Ordering::Relaxed)];
                Iterator::chain(q.stats.values().into_iter(), ours)
            }),
        );
    }

    /// The limit, and the queue count in effect, or the one being switched to while a
    /// change is pending (the reconnect takes a moment): the ethtool netlink core passes
    /// on only a request that differs from this count, so a request back to the count
    /// still in effect must see the pending one, or it would be dropped and the pending
    /// one applied.
    fn channels(&self) -> (u32, u32) {
        (
            self.queue_limit.load(Ordering::Acquire).max(1),
            self.wanted_queues(),
        )
    }

    /// The queues connected now, which a new indirection table's entries must stay below
    /// (not a pending `ethtool -L` count, which `channels` reports).
    fn rx_rings(&self) -> u32 {
        (self.active_queues().len() as u32).max(1)
    }

    // Receive-side scaling (`rss.rs`): the operations are always in the table; they answer
    // `EOPNOTSUPP` (and sizes 0) while the connection has no control ring or RSS is off.
    const RSS: bool = true;

    fn rss_key_size(&self) -> u32 {
        self.rss_key_size_now()
    }

    fn rss_indir_size(&self) -> u32 {
        self.rss_indir_size_now()
    }

    fn rss_get(&self, key: Option<&mut [u8]>, indir: Option<&mut [u32]>) -> Result {
        self.rss_read(key, indir)
    }

    fn rss_set(&self, key: Option<&[u8]>, indir: Option<&[u32]>) -> Result {
        self.rss_write(key, indir)
    }

    fn rss_fields(&self, flow: FlowKind) -> Result<HashedFields> {
        self.rss_hashed_fields(flow)
    }

    const SETS_CHANNELS: bool = true;

    /// `ethtool -L combined N`: records N and starts the reconnect that applies it (the
    /// deferred work, `Netfront::apply_channels`); returns without waiting for it. Under
    /// RTNL: the connect path takes RTNL while holding the connection mutex
    /// (`netif_set_real_num_*_queues`), so neither is waited for here.
    fn set_channels(&self, req: ChannelCounts) -> Result {
        let limit = self.queue_limit.load(Ordering::Acquire).max(1);
        let n = match negotiate::check_channel_request(
            req.combined,
            req.rx,
            req.tx,
            req.other,
            limit,
        ) {
            Ok(n) => n,
            Err(e) => {
                // `e`'s `Display` is `core`'s (protocol code): through `Arguments`.
                pr_warn!(
                    "{}: ethtool -L refused: {}\n",
                    self.shared.netdev.name(),
                    format_args!("{e}")
                );
                return Err(EINVAL);
            }
        };
        self.requested_queues.store(n, Ordering::Release);
        self.reconnect.schedule();
        Ok(())
    }
}
