// SPDX-License-Identifier: GPL-2.0

//! The xenbus side of a `vif` backend device (the C driver's `xenbus.c`).
//!
//! [`VifBackend`] is the xenbus driver: probe writes the feature keys and creates the vif;
//! [`Netback::set_state`] walks the backend state machine as the frontend's state changes,
//! connecting (reading the frontend's keys, mapping rings, binding event channels,
//! starting each queue's NAPI and worker) and disconnecting. [`HotplugGate`] holds the
//! published state back until the hotplug script reported. The `rate` watch registered at
//! connect is implemented on [`Vif`] in `interface.rs`.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use kernel::alloc::kvec::PushError;
use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::{new_mutex, Arc, Mutex};

use crate::fe;
use crate::interface::{ChannelKind, Queue, QueueEvent, QueueRuntime, Vif};
use crate::rx::RxConn;
use crate::tx::TxConn;
use crate::xen::backend::{now_ms, GrantCopier, Watch, WatchHandler, WorkerThread};
use crate::xen::evtchn::IrqBinding;
use crate::xen::net::{Napi, NetDevice};
use crate::xen::protocol::backend::Credit;
use crate::xen::protocol::negotiate::{backend_queue_count, QueueCountError};
use crate::xen::protocol::ring::{self, check_attach};
use crate::xen::protocol::xenstore::{parse_mac, parse_unsigned, QueueLayout};
use crate::xen::xenbus;
use crate::{effective_max_queues, RxRing, TxRing, COPY_BATCH, MAX_PACKET_OPS, SEPARATE_TX_RX_IRQ};

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
pub(crate) struct Netback {
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

/// `IFNAMSIZ`: a net device name's size, its NUL included.
const IFNAMSIZ: usize = 16;

/// The vif's name, `vif<domid>.<handle>`, cut to `IFNAMSIZ - 1` bytes as C's
/// `snprintf(name, IFNAMSIZ, "vif%u.%u", domid, handle)` in `xenvif_alloc()` does: a
/// longer name would hit the `BUG_ON` in `alloc_netdev_mqs()`. Truncated like C rather than
/// refused, so that the device gets the same name under either driver (the hotplug script
/// and toolstack look it up by name); two handles that truncate to one name fail the
/// second `register_netdev()` (`-EEXIST`), as in C. Also the uevent's `vif=`, which C takes
/// from the registered device's name. Returns the name and whether it was cut.
fn vif_name(domid: i32, handle: u32) -> Result<(CString, bool)> {
    let full = CString::try_from_fmt(fmt!("vif{domid}.{handle}"))?;
    let bytes = full.to_bytes();
    if bytes.len() < IFNAMSIZ {
        return Ok((full, false));
    }
    // Only ASCII digits, `vif` and `.`: any cut is valid UTF-8.
    let cut = core::str::from_utf8(&bytes[..IFNAMSIZ - 1]).map_err(|_| EINVAL)?;
    Ok((CString::try_from_fmt(fmt!("{cut}"))?, true))
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

    /// Connects to the frontend (reference 3.3, `connect()`). Every error return has
    /// reported `xenbus_dev_fatal` (error node, Closing) first, as C's `connect()` does;
    /// the caller tears down what was set up (`disconnect`).
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
        let netdev = shared.netdev;
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
            last_progress: now_ms(),
            slots_needed: 1,
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
    fn disconnect(&self, st: &mut BeState) {
        // 1. The watches: the `rate` watch schedules the active queues' NAPI; after this no
        //    watch callback of ours runs (it is unregistered synchronously).
        st.hotplug_watch = None;
        st.rate_watch = None;
        self.gate.armed.store(false, Ordering::Release);
        // 2. The stack stops handing us packets (`ndo_start_xmit`), and the carrier goes
        //    off at once so that it stops queueing them (C: `netif_carrier_off` first in
        //    `xenvif_carrier_off`). Not the final carrier-off: a worker still running may
        //    turn it back on (stall recovery), see step 5.
        let netdev = self.vif.shared.netdev;
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
        // 8. Last the rings: nothing above touches them any more (C:
        //    `xenvif_unmap_frontend_data_rings()` last in `xenvif_disconnect_queue()`).
        for q in self.vif.queues.iter() {
            q.drop_connection();
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
pub(crate) struct VifBackend;

impl xenbus::Driver for VifBackend {
    const DEVICE_TYPE: &'static CStr = c"vif";
    const SIDE: xenbus::Side = xenbus::Side::Backend;
    type Data = Netback;

    fn probe(dev: &xenbus::Device) -> Result<KBox<Netback>> {
        let max_queues = effective_max_queues();
        let split = SEPARATE_TX_RX_IRQ.get();

        // Feature keys in one transaction (2.2), then the optional ones. As C's
        // `netback_probe()`: a failure with the mandatory keys is fatal (error node,
        // Closing); the optional ones are only logged.
        loop {
            let t = match xenbus::Transaction::start() {
                Ok(t) => t,
                Err(e) => {
                    dev.fatal(e, format_args!("starting transaction"));
                    return Err(e);
                }
            };
            let dir = dev.nodename();
            for (key, value) in [
                (c"feature-sg", c"1"),
                (c"feature-gso-tcpv4", c"1"),
                (c"feature-gso-tcpv6", c"1"),
                (c"feature-ipv6-csum-offload", c"1"),
                (c"feature-rx-copy", c"1"),
                (c"feature-rx-flip", c"0"),
            ] {
                if let Err(e) = t.write(dir, key, value) {
                    t.abort();
                    dev.fatal(
                        e,
                        format_args!("writing {}", key.to_str().unwrap_or("feature keys")),
                    );
                    return Err(e);
                }
            }
            match t.commit() {
                Ok(()) => break,
                Err(e) if e == EAGAIN => continue,
                Err(e) => {
                    dev.fatal(e, format_args!("writing feature keys"));
                    return Err(e);
                }
            }
        }
        let optional = || -> Result {
            loop {
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
                match t.commit() {
                    Err(e) if e == EAGAIN => continue,
                    r => return r,
                }
            }
        };
        if optional().is_err() {
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
        let (name, cut) = vif_name(i32::from(domid), handle)?;
        if cut {
            pr_warn!(
                "vif{}.{}: name cut to {} (IFNAMSIZ)\n",
                domid,
                handle,
                name.to_str().unwrap_or("vif")
            );
        }
        let (netdev, napis, vif) = match Vif::alloc(dev, max_queues, domid, name) {
            Ok(v) => v,
            Err(e) => {
                // C's `netback_probe()`: "creating interface".
                dev.fatal(e, format_args!("creating interface"));
                return Err(e);
            }
        };
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
            let (name, _) = vif_name(i32::from(dev.otherend_id() as u16), handle)?;
            env.add(&CString::try_from_fmt(fmt!(
                "vif={}",
                name.to_str().map_err(|_| EINVAL)?
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
