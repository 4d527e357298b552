// SPDX-License-Identifier: GPL-2.0

//! The xenbus side: the `vif` frontend driver and its state machine (probe, backend state
//! changes, remove) (C `xen-netfront.c`: `netfront_probe`, `netback_changed`,
//! `xennet_remove` and `xennet_create_dev`).

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};

use kernel::prelude::*;
use kernel::sync::{new_mutex, Arc, Mutex};

use crate::connection::Connection;
use crate::netdev::Info;
use crate::queue::{Queue, Shared};
use crate::rss::Rss;
use crate::xen::net::{Napi, NapiBuilder, NetDevice, QueueCounters};
use crate::xen::protocol::xenstore::parse_unsigned;
use crate::xen::sync::new_spinlock_bh;
use crate::xen::xenbus;
use crate::{effective_max_queues, DRIVER_NAME};

/// How long remove waits for each backend state, in [`STATE_WAIT_STEP_MS`] steps (5 s).
const STATE_WAIT_STEPS: u32 = 50;
/// One step of that wait, in milliseconds.
const STATE_WAIT_STEP_MS: u32 = 100;

/// Per-device state of a bound `vif` frontend device.
pub(crate) struct Netfront {
    pub(crate) info: Arc<Info>,
    napis: KVec<Napi<Queue>>,
    /// Taken only in process context (xenbus state changes, remove).
    pub(crate) conn: Pin<KBox<Mutex<Connection>>>,
    pub(crate) handle: u32,
}

impl Netfront {
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
pub(crate) struct VifFrontend;

impl xenbus::Driver for VifFrontend {
    const DEVICE_TYPE: &'static CStr = c"vif";
    const SIDE: xenbus::Side = xenbus::Side::Frontend;
    type Data = Netfront;

    fn probe(dev: &xenbus::Device, work: &xenbus::DeferredWork) -> Result<KBox<Netfront>> {
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
                bounce: AtomicBool::new(false),
                rx_gso_checksum_fixup: AtomicU64::new(0),
                tx_gso_packets: AtomicU64::new(0),
            },
            GFP_KERNEL,
        )?;
        let mut napis = KVec::with_capacity(max_queues as usize, GFP_KERNEL)?;
        let mut queues = KVec::with_capacity(max_queues as usize, GFP_KERNEL)?;
        for index in 0..max_queues {
            let napi = NapiBuilder::<Queue>::new(&mut netdev)?;
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
                    rx_hashed: AtomicU64::new(0),
                }),
                GFP_KERNEL,
            )?;
            napis.push(napi.attach(q.clone()), GFP_KERNEL)?;
            queues.push(q, GFP_KERNEL)?;
        }
        let rss = KBox::pin_init(new_mutex!(Rss::new()), GFP_KERNEL)?;
        let info = Arc::new(
            Info {
                shared,
                queues,
                max_queues,
                num_queues: AtomicU32::new(0),
                queue_limit: AtomicU32::new(max_queues),
                requested_queues: AtomicU32::new(0),
                reconnect: work.clone(),
                allowed_features: AtomicU32::new(0),
                rss,
            },
            GFP_KERNEL,
        )?;
        // The connection's memory comes before the net device moves into it, so that no
        // failure can free the net device while the NAPI contexts exist (`netif_napi_del`
        // locks the device they belong to): `KBox::pin_init` drops its initializer, net
        // device included, when the allocation fails, and `napis` would be dropped after
        // it. Failing here drops `napis` before `netdev` (declaration order), and the
        // write below cannot fail.
        let conn = KBox::new_uninit(GFP_KERNEL)?;
        let Ok(conn) = conn.write_pin_init(new_mutex!(Connection {
            netdev,
            irqs: KVec::new(),
            connected: false,
            backend_was_connected: false,
            connect_failed: false,
            ctrl_event: None,
        }));
        // From here the net device is in `conn`, which is dropped after `napis` only inside
        // `Netfront` (`Drop for Netfront` clears them first, also if `KBox::new` fails).
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
                    let r = nf.connect(dev);
                    nf.conn.lock().connect_failed = r.is_err();
                    if let Err(e) = r {
                        dev_err!(dev.as_dev(), "connecting failed: {:?}\n", e);
                    }
                }
            }
            Connected => {
                if ours == Connected {
                    let first =
                        !core::mem::replace(&mut nf.conn.lock().backend_was_connected, true);
                    if first {
                        // The backend serves the control ring from now on. Without the
                        // connection mutex, so that `ethtool -L`'s deferred work is not
                        // held behind it; the series of requests waits at most
                        // `CTRL_TIMEOUT_MS` in all (`Rss`), which bounds how long a slow
                        // backend holds xenwatch.
                        nf.rss_apply_after_connect();
                    }
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
                    // device stays: be ready to connect again when it returns. Not after a
                    // failed connect: that would retry at once, in a loop, as long as the
                    // failure lasts; the backend's next InitWait retries instead.
                    let online = dev.read_otherend_unsigned(c"online", 0);
                    if online != 0 && !nf.conn.lock().connect_failed {
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

    /// A queue count change from `ethtool -L` ([`Netfront::apply_channels`]).
    fn deferred_work(dev: &xenbus::Device, nf: &Netfront) {
        nf.apply_channels(dev);
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
        crate::xen::system::msleep(STATE_WAIT_STEP_MS);
    }
    dev_warn!(
        dev.as_dev(),
        "backend still in state {:?}; going on\n",
        dev.otherend_state()
    );
}
