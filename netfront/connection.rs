// SPDX-License-Identifier: GPL-2.0

//! Connection setup and teardown: negotiation with the backend, per-queue rings and event
//! channels, the XenStore keys, and disconnect (C `xen-netfront.c`: `talk_to_netback`,
//! `setup_netfront`, `setup_netfront_split`/`setup_netfront_single`, `write_queue_xenstore_keys`,
//! `xennet_connect` and `xennet_disconnect_backend`).

use core::sync::atomic::Ordering;

use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::Arc;

use crate::ctrl::{CtrlChannel, CtrlEvent, CtrlSetup};
use crate::netdev::Info;
use crate::queue::{Queue, QueueEvent, EOI_SLOT_RX, EOI_SLOT_TX};
use crate::rx::{RxRing, RxRingState, RxSlot};
use crate::tx::{TxRing, TxRingState, TxSlot};
use crate::xen::evtchn::{IrqBinding, Port};
use crate::xen::grant::GrantPool;
use crate::xen::net::{features, NetDevice};
use crate::xen::protocol::negotiate;
use crate::xen::protocol::ring::{RX_RING_SIZE, TX_RING_SIZE};
use crate::xen::protocol::xenstore::{
    backend_keys, frontend_keys, parse_mac, parse_unsigned, queue_keys, QueueLayout,
};
use crate::xen::xenbus;
use crate::xenbus::Netfront;
use crate::TRUSTED;

/// The event-channel bindings of one connected queue.
pub(crate) struct QueueIrqs {
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
pub(crate) struct Connection {
    pub(crate) netdev: NetDevice<Info>,
    pub(crate) irqs: KVec<QueueIrqs>,
    pub(crate) connected: bool,
    /// The backend reached Connected with our current connection: an InitWait seen
    /// afterwards is a backend that restarted, not a late duplicate event.
    pub(crate) backend_was_connected: bool,
    /// The last connect failed (and, in most cases, reported a fatal error, which took us
    /// to Closing and then Closed): do not go back to Initialising on our own when the
    /// backend closes, or a persistent failure (no `feature-rx-copy`, a bad MAC, setup
    /// or registration failing) would cycle fatal, Closing, Closed, Initialising, InitWait
    /// forever. Only a backend that comes (back) through InitWait makes us try again (C
    /// `netback_changed`: reconnects only on InitWait while Initialising; stays Closed).
    pub(crate) connect_failed: bool,
    /// The cancel handle of this connection's control channel, if it has one (the channel
    /// itself is in the RSS state): `disconnect` cancels a waiting request through it
    /// before it takes the RSS mutex that request holds.
    pub(crate) ctrl_event: Option<Arc<CtrlEvent>>,
}

/// A control ring's XenStore values.
struct CtrlKeys {
    ring_ref: u32,
    port: Port,
}

impl Netfront {
    /// Tears the queues down (IRQs first, then rings and buffers).
    pub(crate) fn disconnect(&self, conn: &mut Connection) {
        let dev = &self.info.shared.netdev;
        dev.set_carrier(false);
        if conn.netdev.is_registered() {
            dev.tx_disable();
        }
        // The control channel first: its waiting request (ethtool under RTNL, or the RSS
        // configuration in xenwatch) is woken and fails, which releases the RSS mutex;
        // then the channel goes (unbound, then its ring and data page's grants end).
        if let Some(ev) = conn.ctrl_event.take() {
            ev.cancel();
        }
        let ctrl = self.info.rss.lock().take_channel();
        drop(ctrl);
        // The queues' EOI handles and rings go before their channels are unbound: a NAPI
        // poll notifies under the `tx`/`rx` lock and EOIs under the `eoi` lock, so once
        // `teardown` has taken those out no poll uses an IRQ number that the unbind below
        // frees (and another device may get). An event in between only schedules NAPI,
        // which finds nothing to do.
        for q in self.info.queues.iter() {
            q.teardown();
        }
        conn.irqs.clear();
        // The late-EOI flags after the unbind (which waits for a running handler): an event
        // between the teardown and the unbind would otherwise leave a flag set for the next
        // connection's first poll.
        for q in self.info.queues.iter() {
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
        conn: &mut Connection,
        q: &Arc<Queue>,
        split: bool,
    ) -> Result<QueueKeys> {
        let backend = dev.otherend_id() as u16;
        // Room for this queue's bindings first: once its rings hold notifiers and its EOI
        // handles are set, the bindings must not be dropped (unbound) by a failed push.
        conn.irqs.reserve(1, GFP_KERNEL)?;
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
            if let Ok(tx) = bind(tx_port, "-tx", EOI_SLOT_TX) {
                if let Ok(rx_port) = dev.alloc_evtchn() {
                    if let Ok(rx) = bind(rx_port, "-rx", EOI_SLOT_RX) {
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
                (bind(port, "", EOI_SLOT_TX)?, port, None, None)
            }
        };
        let tx_notify = tx_bind.notifier();
        let rx_notify = rx_bind.as_ref().map_or(tx_notify, |b| b.notifier());
        *q.eoi.lock() = [
            Some(tx_bind.eoi_handle()),
            rx_bind.as_ref().map(|b| b.eoi_handle()),
        ];
        let keys = QueueKeys {
            tx_ring_ref: tx_ring.gref(),
            rx_ring_ref: rx_ring.gref(),
            tx_port,
            rx_port,
        };
        *q.tx.lock() = Some(TxRingState {
            ring: tx_ring,
            grants: tx_grants,
            notify: tx_notify,
            req_prod_pvt: 0,
            rsp_cons: 0,
            slots: slots_tx,
            free_ids,
        });
        *q.rx.lock() = Some(RxRingState {
            ring: rx_ring,
            grants: rx_grants,
            notify: rx_notify,
            req_prod_pvt: 0,
            rsp_cons: 0,
            slots: slots_rx,
            napi: q.napi.clone(),
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
    fn write_keys(
        &self,
        dev: &xenbus::Device,
        keys: &[QueueKeys],
        write_count: bool,
        ctrl: Option<&CtrlKeys>,
    ) -> Result {
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
                // Both control-ring keys or neither (the C backend fails a connection with
                // a ring reference and no channel); none left from an earlier connection.
                match ctrl {
                    Some(c) => {
                        t.write_fmt(
                            dir,
                            &CString::try_from_fmt(fmt!("{}", frontend_keys::CTRL_RING_REF))?,
                            fmt!("{}", c.ring_ref),
                        )?;
                        t.write_fmt(
                            dir,
                            &CString::try_from_fmt(fmt!("{}", frontend_keys::EVENT_CHANNEL_CTRL))?,
                            fmt!("{}", c.port.raw()),
                        )?;
                    }
                    None => {
                        for name in [
                            frontend_keys::CTRL_RING_REF,
                            frontend_keys::EVENT_CHANNEL_CTRL,
                        ] {
                            t.remove(dir, &CString::try_from_fmt(fmt!("{}", name))?);
                        }
                    }
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
    pub(crate) fn connect(&self, dev: &xenbus::Device) -> Result {
        let be = dev.otherend().ok_or(ENODEV)?;
        let mut offer = read_backend(dev, be, self.info.max_queues)?;
        // An `ethtool -L` from here on is checked against this backend's limit.
        self.info
            .queue_limit
            .store(offer.queue_limit, Ordering::Release);

        let mut conn = self.conn.lock();
        // The `ethtool -L` choice, read under the mutex: a later one schedules the
        // deferred work after storing it, which takes the mutex after this connect and
        // reconnects if the count differs (`apply_channels`); an earlier one is read here.
        let requested = self.info.requested_queues.load(Ordering::Acquire);
        offer.num_queues = negotiate::frontend_requested_count(requested, offer.queue_limit);
        if requested > offer.num_queues {
            // A choice above this backend's limit is capped for good: `ethtool -l` shows
            // the capped count, and the core passes on only a request that differs from
            // it, so a later `-L` to that count would otherwise be dropped and the old
            // choice come back with a backend that allows it. Unless a newer `-L` came in
            // meanwhile (it wins).
            let _ = self.info.requested_queues.compare_exchange(
                requested,
                offer.num_queues,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
        if conn.connected || !conn.irqs.is_empty() {
            self.disconnect(&mut conn);
        }
        self.info.shared.broken.store(false, Ordering::Release);
        // Before the queues get their rings: an `xmit` that finds them (under their lock)
        // sees the new value.
        self.info
            .shared
            .bounce
            .store(offer.bounce, Ordering::Relaxed);
        self.info
            .allowed_features
            .store(offer.allowed_features, Ordering::Relaxed);

        self.setup_queues(dev, &mut conn, &offer)?;
        if offer.bounce {
            dev_info!(dev.as_dev(), "bouncing transmitted data to zeroed pages\n");
        }
        self.attach_netdev(dev, &mut conn, &offer)?;
        dev.switch_state(xenbus::State::Connected)?;
        conn.connected = true;
        self.start_data_path();
        // RSS re-spread happens in connect: the hash configuration (control ring, branch
        // ctrl-fe) is (re-)applied here, once per connection, for `offer.num_queues`
        // queues; after an `ethtool -L` this is the connect that applies the new count.

        let mac = offer.mac;
        pr_info!(
            "{}: connected to backend {} with {} queue(s), {} event channels, MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\n",
            self.info.shared.netdev.name(),
            be,
            offer.num_queues,
            if conn.irqs.iter().any(|i| i._rx.is_some()) { "split" } else { "shared" },
            mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
        );
        Ok(())
    }

    /// Connect step 2: sets up `offer.num_queues` queues and writes their keys; on failure
    /// tears down what was set up and reports it to the toolstack.
    fn setup_queues(
        &self,
        dev: &xenbus::Device,
        conn: &mut Connection,
        offer: &BackendOffer,
    ) -> Result {
        let num = offer.num_queues;
        let mut keys = KVec::with_capacity(num as usize, GFP_KERNEL)?;
        let setup = (|| -> Result {
            for q in self.info.queues.iter().take(num as usize) {
                keys.push(self.setup_queue(dev, conn, q, offer.split)?, GFP_KERNEL)?;
            }
            let ctrl = if offer.ctrl_ring {
                self.setup_ctrl(dev, conn)
            } else {
                None
            };
            self.write_keys(
                dev,
                &keys,
                negotiate::frontend_writes_queue_count(offer.backend_max_queues),
                ctrl.as_ref(),
            )
        })();
        if let Err(e) = setup {
            self.disconnect(conn);
            dev.fatal(e, fmt!("setting up {} queue(s)", num));
            return Err(e);
        }
        Ok(())
    }

    /// Sets up the control ring the backend offers (`feature-ctrl-ring`) and installs it in
    /// the RSS state, whose configuration follows once the backend is Connected
    /// ([`Netfront::rss_apply_after_connect`]). On any failure the connection goes on
    /// without one: one log line, `None`. Connection mutex held (connection -> RSS).
    fn setup_ctrl(&self, dev: &xenbus::Device, conn: &mut Connection) -> Option<CtrlKeys> {
        let r = (|| -> Result<(CtrlChannel, CtrlSetup)> {
            let name = CString::try_from_fmt(fmt!("vif{}-ctrl", self.handle))?;
            CtrlChannel::new(dev, &name)
        })();
        match r {
            Ok((
                ch,
                CtrlSetup {
                    ring_ref,
                    port,
                    event,
                },
            )) => {
                // A channel left over would be the previous connection's (`disconnect`
                // takes it, so there is none): cancelled and torn down first all the same.
                if let Some(old) = conn.ctrl_event.replace(event) {
                    old.cancel();
                }
                let old = self.info.rss.lock().install(ch);
                drop(old);
                Some(CtrlKeys { ring_ref, port })
            }
            Err(e) => {
                dev_warn!(
                    dev.as_dev(),
                    "setting up the control ring failed ({:?}); going on without it (no RSS)\n",
                    e
                );
                None
            }
        }
    }

    /// Connect step 3: gives the net device its MAC and queue count, registering it on the
    /// first connection; on failure disconnects and reports it to the toolstack.
    fn attach_netdev(
        &self,
        dev: &xenbus::Device,
        conn: &mut Connection,
        offer: &BackendOffer,
    ) -> Result {
        let num = offer.num_queues;
        let netdev = &self.info.shared.netdev;
        netdev.set_mac(&offer.mac);
        self.info.num_queues.store(num, Ordering::Release);
        if !conn.netdev.is_registered() {
            // Register only now that the queues exist.
            if let Err(e) = conn.netdev.register(self.info.clone()) {
                self.disconnect(conn);
                dev.fatal(e, fmt!("registering the network device"));
                return Err(e);
            }
        }
        if let Err(e) = netdev.set_real_queues(num) {
            self.disconnect(conn);
            dev.fatal(e, fmt!("setting {} real queues", num));
            return Err(e);
        }
        netdev.update_features();
        Ok(())
    }

    /// Connect step 4, once Connected: carrier on, TX queues woken, RX buffers posted
    /// and every active queue kicked.
    fn start_data_path(&self) {
        let netdev = &self.info.shared.netdev;
        netdev.set_carrier(true);
        // Wake, not start (C `xennet_connect`: `netif_device_attach`, which wakes all
        // queues): a start only clears the stopped bit, and packets the qdisc queued while
        // we were disconnected would wait for the next transmit to be sent.
        // Only while the device is up (`netif_running`, a bit the core flips under RTNL
        // and anyone may test, as `netif_device_attach` does here without RTNL): `ndo_open`
        // starts the queues itself, and a close in progress has cleared the bit before
        // its `ndo_stop` stops them.
        if netdev.is_running() {
            for q in 0..self.info.max_queues {
                netdev.tx_wake(q);
            }
        }
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
    }
}

impl Netfront {
    /// Applies the queue count `ethtool -L` chose (the xenbus deferred work, process
    /// context, no lock held): when connected with another count, TX stops (carrier off,
    /// queues disabled) and we publish Closing. The backend (C or ours) disconnects and
    /// answers Closing; `otherend_changed` then tears our queues down and publishes
    /// Closed; the backend goes Closed (its `online` stays 1), we publish Initialising,
    /// it InitWait, and the connect reads the new count: the path a backend restart takes.
    /// Not connected (connecting, closed, broken by a failed connect): nothing to do, the
    /// next connect uses the count.
    ///
    /// Under the connection mutex, as `otherend_changed` (xenwatch thread) makes its state
    /// changes: that orders the two. Remove disables this work (waiting for it) first.
    pub(crate) fn apply_channels(&self, dev: &xenbus::Device) {
        let conn = self.conn.lock();
        if !conn.connected || dev.state() != xenbus::State::Connected {
            return;
        }
        let have = self.info.num_queues.load(Ordering::Acquire);
        let want = self.info.wanted_queues();
        if want == have {
            return;
        }
        let netdev = &self.info.shared.netdev;
        pr_info!(
            "{}: switching from {} to {} queue(s): reconnecting to the backend\n",
            netdev.name(),
            have,
            want
        );
        // No transmit from here on: the queues it would pick go away with the
        // connection (`disconnect` stops them again and takes the rings out).
        netdev.set_carrier(false);
        if conn.netdev.is_registered() {
            netdev.tx_disable();
        }
        if let Err(e) = dev.switch_state(xenbus::State::Closing) {
            // `xenbus_switch_state` reported it (error node); keep the connection.
            dev_err!(
                dev.as_dev(),
                "reconnecting for {} queue(s) failed: {:?}\n",
                want,
                e
            );
            self.start_data_path();
        }
    }
}

/// What the backend offers and what the frontend chose from it, read before connecting.
struct BackendOffer {
    /// The backend's `multi-queue-max-queues`, if it wrote a valid one.
    backend_max_queues: Option<u32>,
    /// The most queues this backend and we allow (see `Info::queue_limit`).
    queue_limit: u32,
    num_queues: u32,
    split: bool,
    mac: [u8; 6],
    /// `features::*` bits the backend's feature keys allow.
    allowed_features: u32,
    /// The backend is not trusted (the `trusted` parameter off, or our own `trusted` key
    /// 0): bounce transmitted data into zeroed pages (XSA-403).
    bounce: bool,
    /// The backend serves a control ring (`feature-ctrl-ring`).
    ctrl_ring: bool,
}

/// Connect step 1: reads the backend's features, and our MAC and `trusted` key from
/// XenStore; a missing `feature-rx-copy` or an unreadable MAC is fatal. The queue count is
/// the limit, min(the backend's maximum, `max_queues`), until `connect` applies the
/// `ethtool -L` choice.
fn read_backend(dev: &xenbus::Device, be: &CStr, max_queues: u32) -> Result<BackendOffer> {
    let be_key = |k: &str| CString::try_from_fmt(fmt!("{}", k));
    if xenbus::read_unsigned(be, &be_key(backend_keys::FEATURE_RX_COPY)?, 0) == 0 {
        dev.fatal(ENODEV, fmt!("backend does not support copying receive"));
        return Err(ENODEV);
    }
    let be_max = xenbus::read(be, &be_key(backend_keys::MULTI_QUEUE_MAX_QUEUES)?)
        .ok()
        .and_then(|v| parse_unsigned(&v));
    let limit = negotiate::frontend_queue_count(be_max, max_queues);
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
    let feature = |k: &str| -> Result<bool> { Ok(xenbus::read_unsigned(be, &be_key(k)?, 0) != 0) };
    let sg = feature(backend_keys::FEATURE_SG)?;
    // IPv4 checksum offload needs nothing from the backend: every backend takes
    // `csum_blank` requests (C netfront keeps `NETIF_F_IP_CSUM` on).
    let mut allowed = features::IP_CSUM;
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
    let ctrl_ring = feature(backend_keys::FEATURE_CTRL_RING)?;
    // C `talk_to_netback`: `!xennet_trusted || !xenbus_read_unsigned(dev->nodename,
    // "trusted", 1)`; the key is the toolstack's, in our own directory.
    let bounce = !TRUSTED.get()
        || xenbus::read_unsigned(dev.nodename(), &be_key(frontend_keys::TRUSTED)?, 1) == 0;
    Ok(BackendOffer {
        backend_max_queues: be_max,
        queue_limit: limit,
        num_queues: limit,
        split,
        mac,
        allowed_features: allowed,
        bounce,
        ctrl_ring,
    })
}
