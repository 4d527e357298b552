// SPDX-License-Identifier: GPL-2.0

//! Xen network frontend (`xen_netfront`), in Rust.
//!
//! Runs in a guest and drives the `vif` devices the toolstack gives it: one Ethernet
//! device per `vif`, with one to `max_queues` queues, each made of a TX ring, an RX ring
//! (pages granted to the backend), one event channel or a TX/RX pair, and a NAPI context
//! that reaps TX completions and receives. The wire format and XenStore keys are those of
//! the upstream C `xen-netfront`; the backend may be the C `xen-netback` or ours.
//!
//! Everything the backend writes (ring indices, responses, XenStore values) is copied once
//! and validated by `common/src/protocol/frontend.rs` before use. A backend that breaks the
//! protocol marks the device broken with one log line; the driver keeps running and can be
//! unloaded.

// The driver is safe Rust, and the compiler checks it: `unsafe` code is denied everywhere
// but in `mod xen` (`common/kernel`), where each block carries its safety argument.
#![deny(unsafe_code)]

/// The shared abstractions and protocol code of `common/`.
#[expect(unsafe_code, reason = "the one home of the drivers' unsafe code")]
#[path = "../common/kernel/mod.rs"]
pub mod xen;

// The backend-only parts of `common/kernel` stay out of this module (netback/Kbuild sets
// the cfg for xen_netback alone).
#[cfg(xnt_backend)]
compile_error!("xen_netfront must be built without `--cfg xnt_backend`");

mod connection;
mod ctrl;
mod netdev;
mod queue;
mod rss;
mod rx;
mod tx;
mod xenbus;

use kernel::prelude::*;

use xen::param::module_param;
use xen::protocol::negotiate;

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

module_param!(pub(crate) static TRUSTED: BoolParam = true, module = "xen_netfront",
    name = "trusted", perm = 0o644, desc = "Is the backend trusted");

const DRIVER_NAME: &CStr = c"xen_netfront";

fn effective_max_queues() -> u32 {
    negotiate::effective_max_queues(MAX_QUEUES.get(), xen::system::num_online_cpus())
}

struct XenNetfront {
    /// The driver, with the module's deferred-end list for grants the backend still used
    /// when their buffers were given up (a TX buffer at disconnect): the devices go (and
    /// give up their grants) before the list stops; see [`xen::grant::GrantingDriver`].
    _driver: xen::grant::GrantingDriver<xenbus::VifFrontend>,
}

impl kernel::Module for XenNetfront {
    fn init(module: &'static ThisModule) -> Result<Self> {
        if !xen::system::xen_domain() {
            return Err(ENODEV);
        }
        // An HVM guest whose emulated NICs were not unplugged (C `netif_init`).
        if !xen::system::xen_has_pv_nic_devices() {
            return Err(ENODEV);
        }
        let driver = xen::grant::GrantingDriver::register(module, DRIVER_NAME)?;
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
