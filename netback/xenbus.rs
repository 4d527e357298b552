// SPDX-License-Identifier: GPL-2.0

//! The xenbus side of a `vif` backend device (the C driver's `xenbus.c`).
//!
//! [`VifBackend`] is the xenbus driver: probe writes the feature keys and creates the vif;
//! [`Netback::set_state`] walks the backend state machine as the frontend's state changes,
//! connecting and disconnecting the data path (`connect.rs`). [`HotplugGate`] holds the
//! published state back until the hotplug script reported. The `rate` watch registered at
//! connect is implemented on [`Vif`] in `interface.rs`.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::{new_mutex, Arc, Mutex};

use crate::hash::CtrlRuntime;
use crate::interface::{Queue, QueueRuntime, Vif};
use crate::xen::backend::{Watch, WatchHandler};
use crate::xen::net::{Napi, NetDevice};
use crate::xen::protocol::xenstore::parse_unsigned;
use crate::xen::xenbus;
use crate::{effective_max_queues, SEPARATE_TX_RX_IRQ};

/// Publishes the backend state, held back while the hotplug script has not reported
/// `connected` (reference 3.4).
pub(crate) struct HotplugGate {
    /// A watch on `hotplug-status` is armed and has not released the state yet.
    pub(crate) armed: AtomicBool,
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
    fn changed(&self, dev: &xenbus::DeviceRef) {
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
pub(crate) struct BeState {
    pub(crate) netdev: NetDevice<Vif>,
    /// Our state as walked by `set_state` (the published one may lag behind, see
    /// [`HotplugGate`]).
    state: xenbus::State,
    pub(crate) runtime: KVec<QueueRuntime>,
    pub(crate) hotplug_watch: Option<Watch<HotplugGate>>,
    pub(crate) rate_watch: Option<Watch<Vif>>,
    /// The control ring while connected (`hash.rs`).
    pub(crate) ctrl: Option<CtrlRuntime>,
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
    pub(crate) vif: Arc<Vif>,
    _napis: KVec<Napi<Queue>>,
    pub(crate) gate: Arc<HotplugGate>,
    /// Taken only in process context (probe, remove, xenbus state changes).
    st: Pin<KBox<Mutex<BeState>>>,
    /// The frontend is gone for good: unregister the device after this callback.
    unregister: AtomicBool,
}

/// `IFNAMSIZ`: a net device name's size, its NUL included.
const IFNAMSIZ: usize = 16;

/// The longest vif name C's `xenvif_alloc()` makes: `snprintf(name, IFNAMSIZ - 1, ...)`
/// keeps `IFNAMSIZ - 2` characters (a byte short of what a name may have).
const VIF_NAME_MAX: usize = IFNAMSIZ - 2;

/// The vif's name, `vif<domid>.<handle>`, cut to [`VIF_NAME_MAX`] characters as C's
/// `snprintf(name, IFNAMSIZ - 1, "vif%u.%u", domid, handle)` in `xenvif_alloc()` does (a
/// name of `IFNAMSIZ` or more bytes would hit the `BUG_ON` in `alloc_netdev_mqs()`; a
/// 15-character one would fit, but C cuts it to 14). Truncated like C rather than
/// refused, so that the device gets the same name under either driver (the hotplug script
/// and toolstack look it up by name); two handles that truncate to one name fail the
/// second `register_netdev()` (`-EEXIST`), as in C. Also the uevent's `vif=`, which C takes
/// from the registered device's name. Returns the name and whether it was cut.
fn vif_name(domid: i32, handle: u32) -> Result<(CString, bool)> {
    let full = CString::try_from_fmt(fmt!("vif{domid}.{handle}"))?;
    let bytes = full.to_bytes();
    if bytes.len() <= VIF_NAME_MAX {
        return Ok((full, false));
    }
    // Only ASCII digits, `vif` and `.`: any cut is valid UTF-8.
    let cut = core::str::from_utf8(&bytes[..VIF_NAME_MAX]).map_err(|_| EINVAL)?;
    Ok((CString::try_from_fmt(fmt!("{cut}"))?, true))
}

impl Netback {
    pub(crate) fn name(&self) -> &str {
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
    const ALLOW_REBIND: bool = true;
    type Data = Netback;

    // The backend asks for no deferred work (`_work` unused).
    fn probe(dev: &xenbus::Device, _work: &xenbus::DeferredWork) -> Result<KBox<Netback>> {
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
                // C writes it last of the optional keys, likewise only logging a failure.
                t.write(dev.nodename(), c"feature-ctrl-ring", c"1")?;
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
        // The state's memory comes before the net device moves into it, so that no failure
        // can free the net device while the NAPI contexts exist (`netif_napi_del` locks
        // the device they belong to): `KBox::pin_init` drops its initializer, net device
        // included, when the allocation fails, and the NAPI contexts would be dropped
        // after it. Failing here drops `napis` before `netdev` (declaration order), and
        // the write below cannot fail.
        let st = KBox::new_uninit(GFP_KERNEL)?;
        let Ok(st) = st.write_pin_init(new_mutex!(BeState {
            netdev,
            state: xenbus::State::Initialising,
            runtime: KVec::new(),
            hotplug_watch: None,
            rate_watch: None,
            ctrl: None,
        }));
        // From here the net device is in `st`, which is dropped after `napis` only inside
        // `Netback` (field order, and `Drop for Netback` if `KBox::new` fails).
        let nb = KBox::new(
            Netback {
                vif,
                _napis: napis,
                gate,
                st,
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

    /// As C's `netback_remove()`: the state is left as it is (`ALLOW_REBIND`; the xenbus
    /// core closes it unless the frontend is closing), so that after an unbind or a module
    /// reload a newly probed backend picks the frontend's connection up again; the
    /// hotplug script's offline step runs (`KOBJ_OFFLINE`), and the data path goes down.
    fn remove(dev: &xenbus::Device, nb: KBox<Netback>) {
        // Our watches are unregistered outside `st` (`BeState::take_watches`); the xenbus
        // core freed the otherend watch before calling us.
        let watches = nb.st.lock().take_watches();
        drop(watches);
        dev.remove_own(c"hotplug-status");
        dev.uevent_offline();
        nb.disconnect(&mut nb.st.lock());
        dev_info!(dev.as_dev(), "remove {} ({})\n", dev.nodename(), nb.name());
        drop(nb);
    }
}
