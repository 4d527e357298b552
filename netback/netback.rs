// SPDX-License-Identifier: GPL-2.0

//! Xen network backend (`xen_netback`), in Rust.
//!
//! Runs in dom0 or a driver domain and serves the `vif` devices of guests' netfronts.
//! This is the foundation version: it registers the xenbus backend driver for `vif`
//! devices and reports the devices it is offered; the data path arrives with the netback
//! issue.

/// The shared abstractions and protocol code of `common/`.
#[path = "../common/kernel/mod.rs"]
pub mod xen;

use kernel::prelude::*;
use xen::param::module_param;
use xen::protocol::negotiate;
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

/// The `vif` backend driver.
struct VifBackend;

/// Per-device state of a bound `vif` backend device.
struct Vif {
    max_queues: u32,
}

impl xenbus::Driver for VifBackend {
    const DEVICE_TYPE: &'static CStr = c"vif";
    const SIDE: xenbus::Side = xenbus::Side::Backend;
    type Data = Vif;

    fn probe(dev: &xenbus::Device) -> Result<KBox<Vif>> {
        let max_queues = effective_max_queues();
        dev_info!(
            dev.as_dev(),
            "probe {} (frontend domain {}), max_queues {}\n",
            dev.nodename(),
            dev.otherend_id(),
            max_queues
        );
        Ok(KBox::new(Vif { max_queues }, GFP_KERNEL)?)
    }

    fn otherend_changed(dev: &xenbus::Device, vif: &Vif, state: xenbus::State) {
        dev_info!(
            dev.as_dev(),
            "frontend state {:?} (max_queues {})\n",
            state,
            vif.max_queues
        );
    }

    fn remove(dev: &xenbus::Device, _vif: KBox<Vif>) {
        dev_info!(dev.as_dev(), "remove {}\n", dev.nodename());
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
            "loaded: max_queues={} (effective {}), separate_tx_rx_irq={}\n",
            MAX_QUEUES.get(),
            effective_max_queues(),
            SEPARATE_TX_RX_IRQ.get()
        );
        Ok(XenNetback { _driver: driver })
    }
}

impl Drop for XenNetback {
    fn drop(&mut self) {
        pr_info!("unloading\n");
    }
}
