// SPDX-License-Identifier: GPL-2.0

//! Xen network frontend (`xen_netfront`), in Rust.
//!
//! Runs in a guest and drives the `vif` devices the toolstack gives it. This is the
//! foundation version: it registers the xenbus frontend driver for `vif` devices and reports
//! the devices it is offered; the data path arrives with the netfront issue.

/// The shared abstractions and protocol code of `common/`.
#[path = "../common/kernel/mod.rs"]
pub mod xen;

use kernel::prelude::*;
use xen::param::module_param;
use xen::protocol::negotiate;
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

/// The `vif` frontend driver.
struct VifFrontend;

/// Per-device state of a bound `vif` frontend device.
struct Netfront {
    max_queues: u32,
}

impl xenbus::Driver for VifFrontend {
    const DEVICE_TYPE: &'static CStr = c"vif";
    const SIDE: xenbus::Side = xenbus::Side::Frontend;
    type Data = Netfront;

    fn probe(dev: &xenbus::Device) -> Result<KBox<Netfront>> {
        let max_queues = effective_max_queues();
        dev_info!(
            dev.as_dev(),
            "probe {} (backend {}), max_queues {}\n",
            dev.nodename(),
            dev.otherend().unwrap_or(c"?"),
            max_queues
        );
        let nf = KBox::new(Netfront { max_queues }, GFP_KERNEL)?;
        // The data path is not there yet: say so to the backend instead of leaving it (and
        // the xenbus core, which waits for frontends to connect) waiting.
        dev_info!(
            dev.as_dev(),
            "data path not implemented yet; leaving the device Closed\n"
        );
        dev.switch_state(xenbus::State::Closed)?;
        Ok(nf)
    }

    fn otherend_changed(dev: &xenbus::Device, nf: &Netfront, state: xenbus::State) {
        dev_info!(
            dev.as_dev(),
            "backend state {:?} (max_queues {})\n",
            state,
            nf.max_queues
        );
    }

    fn remove(dev: &xenbus::Device, _nf: KBox<Netfront>) {
        dev_info!(dev.as_dev(), "remove {}\n", dev.nodename());
    }
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
        let driver = xenbus::Registration::new(module, c"xen_netfront")?;
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
