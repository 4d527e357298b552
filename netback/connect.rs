// SPDX-License-Identifier: GPL-2.0

//! Connecting and disconnecting a vif's data path: reading the frontend's queue count,
//! features and per-queue ring and event-channel keys, mapping the rings, binding the
//! channels, starting each queue's NAPI and guest-RX worker, and tearing all of it down in
//! the order the C driver does (C: `connect()` in `xenbus.c`, `xenvif_connect_data()` /
//! `xenvif_disconnect_data()` in `interface.c`). The state machine that calls these is in
//! `xenbus.rs`.

use core::sync::atomic::Ordering;

use kernel::alloc::kvec::PushError;
use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::Arc;

use crate::fe;
use crate::interface::{ChannelKind, Queue, QueueEvent, QueueRuntime};
use crate::rx::RxConn;
use crate::rx_packet::RxScratch;
use crate::tx::TxConn;
use crate::tx_packet::TxScratch;
use crate::xen::backend::{now_ms, GrantCopier, Watch, WorkerThread};
use crate::xen::evtchn::IrqBinding;
use crate::xen::protocol::backend::Credit;
use crate::xen::protocol::negotiate::{backend_queue_count, QueueCountError};
use crate::xen::protocol::ring::{self, check_attach};
use crate::xen::protocol::xenstore::{parse_mac, parse_unsigned, QueueLayout};
use crate::xen::xenbus;
use crate::xenbus::{BeState, Netback};
use crate::{RxRing, TxRing, COPY_BATCH, RX_COPY_OPS, TX_COPY_OPS};

/// Per-queue XenStore values of the frontend.
struct QueueRefs {
    tx_ring_ref: u32,
    rx_ring_ref: u32,
    /// (TX, RX) ports in split mode, or the shared port.
    split: Option<(u32, u32)>,
    shared_port: u32,
}

pub(crate) fn read_u32(dev: &xenbus::Device, key: &str) -> Option<u32> {
    let path = CString::try_from_fmt(fmt!("{key}")).ok()?;
    let v = dev.read_otherend(&path).ok()?;
    parse_unsigned(&v)
}

impl Netback {
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

    /// Connects to the frontend (reference 3.3, `connect()`). Every error return has
    /// reported `xenbus_dev_fatal` (error node, Closing) first, as C's `connect()` does;
    /// the caller tears down what was set up (`disconnect`).
    pub(crate) fn connect(&self, dev: &xenbus::Device, st: &mut BeState) -> Result {
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
        // C `read_xenbus_vif_flags()`: such a frontend gets IPv4 checksums computed here
        // (`NETIF_F_IP_CSUM` off in `xenvif_fix_features()`, so the stack completes them).
        if flag(crate::xen::protocol::xenstore::frontend_keys::FEATURE_NO_CSUM_OFFLOAD) {
            f |= fe::NO_CSUM_OFFLOAD;
        }
        shared.fe_features.store(f, Ordering::Release);
        shared.disabled.store(false, Ordering::Release);
        shared.disable_reported.store(false, Ordering::Release);
        // No worker runs yet (`disconnect` stopped the previous ones).
        shared.reset_stalled();

        // The rate, read now and watched for live changes (the watch fires once now).
        // Without the watch the limit would not be applied at all: refuse the connection
        // (C goes on unwatched, having read the rate once).
        match Watch::new(dev, dev.nodename(), c"rate", self.vif.clone()) {
            Ok(w) => st.rate_watch = Some(w),
            Err(e) => {
                dev.fatal(e, format_args!("watching rate"));
                return Err(e);
            }
        }

        // The control ring before the queues, as C's `connect()` (its requests check
        // mapping entries against the connection's queue count, known now).
        match crate::hash::connect(dev, shared, num) {
            Ok(ctrl) => st.ctrl = ctrl,
            Err(e) => {
                // C reports twice too: the specific error, then this.
                dev.fatal(e, format_args!("connecting control ring"));
                return Err(e);
            }
        }

        let layout = QueueLayout::for_queues(num);
        // Room for every queue's runtime now, so that a queue whose NAPI `connect_queue`
        // enabled is always in `runtime` (`disconnect` disables NAPI for those only).
        if st.runtime.reserve(num as usize, GFP_KERNEL).is_err() {
            dev.fatal(ENOMEM, format_args!("allocating queues"));
            return Err(ENOMEM);
        }
        for qi in 0..num {
            let refs = self.read_queue_refs(dev, &layout, qi)?;
            let q = &self.vif.queues[qi as usize];
            match self.connect_queue(dev, q, &refs) {
                Ok(rt) => {
                    if let Err(PushError(rt)) = st.runtime.push_within_capacity(rt) {
                        // Cannot happen (room reserved above); if it did, this queue's
                        // NAPI is enabled but not in `runtime`: take it down here, NAPI
                        // before the worker and the channels, as `disconnect` does.
                        q.napi.disable();
                        drop(rt);
                        dev.fatal(ENOMEM, format_args!("connecting queue {qi}"));
                        return Err(ENOMEM);
                    }
                }
                Err(e) => {
                    dev.fatal(e, format_args!("connecting queue {qi}"));
                    return Err(e);
                }
            }
        }
        self.vif.num_queues.store(num, Ordering::Release);
        let netdev = &shared.netdev;
        if let Err(e) = netdev.set_real_queues(num) {
            dev.fatal(e, format_args!("setting {num} real queues"));
            return Err(e);
        }
        netdev.update_features();
        shared.carrier_on_connected();
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
                let b = bind(refs.shared_port, "", ChannelKind::Both)?;
                tx_eoi = b.eoi_handle();
                tx_notifier = b.notifier();
                rx_eoi = None;
                rx_notifier = b.notifier();
                shared_ch = true;
                irqs.push(b, GFP_KERNEL)?;
            }
        }
        q.shared_channel.store(shared_ch, Ordering::Relaxed);
        // Allocate before taking the locks (nothing may sleep under the spinlock).
        // Guest TX copies a batch of packets at a time, in one hypercall as C does.
        let tx_copier = GrantCopier::new(TX_COPY_OPS, TX_COPY_OPS)?;
        let tx_scratch = TxScratch::new()?;
        // Guest RX too, in hypercalls of `COPY_BATCH` copies as C's `rx_copy`.
        let rx_copier = GrantCopier::new(COPY_BATCH, RX_COPY_OPS)?;
        let rx_scratch = RxScratch::new()?;
        *q.tx.lock() = Some(TxConn {
            ring: tx_ring,
            req_cons: tx_start,
            rsp_prod_pvt: tx_start,
            copier: tx_copier,
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
            scratch: tx_scratch,
        });
        *q.rx.lock() = Some(RxConn {
            ring: rx_ring,
            req_cons: rx_start,
            rsp_prod_pvt: rx_start,
            copier: rx_copier,
            notifier: rx_notifier,
            eoi: rx_eoi,
            eoi_seen_prod: rx_start,
            last_progress: now_ms(),
            slots_needed: 1,
            scratch: rx_scratch,
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
            worker: Some(worker),
            _irqs: irqs,
        })
    }

    /// Tears the connection down (reference 3.2, `backend_disconnect()`; the order of C's
    /// `xenvif_disconnect_data()`: `xenvif_carrier_off()` / `xenvif_down()`, then
    /// `xenvif_disconnect_queue()` for each queue). Each step says what it stops before
    /// what, and why.
    pub(crate) fn disconnect(&self, st: &mut BeState) {
        // 1. The watches: the `rate` watch schedules the active queues' NAPI; after this no
        //    watch callback of ours runs (it is unregistered synchronously).
        st.hotplug_watch = None;
        st.rate_watch = None;
        self.gate.armed.store(false, Ordering::Release);
        // 2. The stack stops handing us packets (`ndo_start_xmit`), and the carrier goes
        //    off at once so that it stops queueing them (C: `netif_carrier_off` first in
        //    `xenvif_carrier_off`). Not the final carrier-off: a worker still running may
        //    turn it back on (stall recovery), see step 5.
        let netdev = &self.vif.shared.netdev;
        netdev.set_carrier(false);
        if st.netdev.is_registered() {
            netdev.tx_disable();
        }
        // Only queues in `runtime` had their NAPI enabled (`connect_queue` enables it last,
        // after its last fallible step, and `connect` reserved room for every runtime).
        let connected = st.runtime.len();
        // 3. NAPI before the channels (C: `xenvif_down()`: `disable_irq()` then
        //    `napi_disable()`, and the unbind only later in `xenvif_disconnect_queue()`).
        //    `napi_disable` waits for a running poll, which notifies and EOIs the TX
        //    channel's IRQ: once the IRQ is unbound its number is free and may be reused by
        //    another device. An event arriving from here on only sets flags and calls
        //    `napi_schedule` (a no-op on a disabled NAPI) or kicks a waker (harmless without
        //    a thread), so it needs no `disable_irq`.
        for q in self.vif.queues.iter().take(connected) {
            q.napi.disable();
        }
        // 4. The workers before the channels too (C: `kthread_stop()` first in
        //    `xenvif_disconnect_queue()`): a worker notifies and EOIs the RX channel, and
        //    reschedules NAPI for credit (a no-op now, NAPI is disabled). Stopping waits
        //    for a running pass.
        for rt in st.runtime.iter_mut() {
            rt.worker = None;
        }
        // 5. The final carrier-off, after the workers stopped: before this a worker's
        //    stall check ("Guest Rx ready") could turn the carrier back on. A worker could
        //    also have woken a TX queue (backlog below its limit) after step 2: disable
        //    them again, which also waits for an `ndo_start_xmit` in flight (it takes each
        //    queue's xmit lock), so nothing is queued behind the purge of step 8.
        netdev.set_carrier(false);
        if st.netdev.is_registered() {
            netdev.tx_disable();
        }
        // 6. Now nothing polls or runs a worker that uses the channels: unbind them (C:
        //    `unbind_from_irqhandler()` in `xenvif_disconnect_queue()`). Unbinding waits
        //    for a running handler.
        st.runtime.clear();
        // 7. `ndo_start_xmit` stops picking queues; what it queued meanwhile is dropped
        //    (`rx_ready` false in `drop_connection`, which also purges the backlog).
        self.vif.num_queues.store(0, Ordering::Release);
        // 8. The rings: nothing above touches them any more (C:
        //    `xenvif_unmap_frontend_data_rings()` last in `xenvif_disconnect_queue()`).
        for q in self.vif.queues.iter() {
            q.drop_connection();
        }
        // 9. Last the control ring, as C's `backend_disconnect()` calls
        //    `xenvif_disconnect_ctrl()` after the data path: its worker stops, then its
        //    channel is unbound, then the ring unmapped (`CtrlRuntime`'s drop).
        st.ctrl = None;
        // 10. The hash configuration back to none, so that a reconnecting frontend starts
        //     clean (C keeps it in the vif across connections); the worker that published
        //     it is gone.
        self.vif.shared.hash.reset();
    }
}
