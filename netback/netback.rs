// SPDX-License-Identifier: GPL-2.0

//! Xen network backend (`xen_netback`), in Rust.
//!
//! Runs in dom0 or a driver domain and serves the `vif` devices of guests' netfronts: one
//! `vif<domid>.<handle>` Ethernet device per `vif`, with one to `max_queues` queues. Each
//! queue maps the frontend's TX and RX ring pages, binds its event channel (or TX/RX pair),
//! and has one NAPI context for guest TX (requests copied out of the ring once, validated
//! by `common/src/protocol/backend.rs`, grant-copied into skbs) and one kernel thread for
//! guest RX (skbs from a per-queue backlog grant-copied into the frontend's buffers). The
//! wire format, XenStore keys and state machine are those of the upstream C `xen-netback`.
//!
//! A frontend that breaks the protocol in a way the reference calls fatal disables its vif
//! with one log line (from process context); packet-level errors drop the packet and answer
//! `RSP_ERROR`. Either way dom0 keeps running and the vif can be torn down.
//!
//! The driver is split by role like the C driver (`drivers/net/xen-netback`):
//!
//! - this file: module parameters, constants shared by several files, module init/exit;
//! - [`xenbus`] (`xenbus.c`): the backend state machine, connect/disconnect, the hotplug
//!   gate;
//! - [`interface`] (`interface.c`): the `vif` net device, its queues, their event channel
//!   handlers and the `rate` watch;
//! - [`tx`] (`netback.c`): guest TX, frontend to backend, in NAPI;
//! - [`rx`] (`rx.c`): guest RX, backend to frontend, in each queue's worker thread;
//! - [`hash`] (`hash.c`): the control ring and the receive-side scaling it configures.

// The driver is safe Rust, and the compiler checks it: `unsafe` code is denied everywhere
// but in `mod xen` (`common/kernel`), where each block carries its safety argument.
#![deny(unsafe_code)]

/// The shared abstractions and protocol code of `common/`.
#[expect(unsafe_code, reason = "the one home of the drivers' unsafe code")]
#[path = "../common/kernel/mod.rs"]
pub mod xen;

// The backend-only parts of `common/kernel` are compiled under this cfg (netback/Kbuild);
// rustc does not check cfg names here, so a build without it must fail loudly.
#[cfg(not(xnt_backend))]
compile_error!("xen_netback needs `--cfg xnt_backend` (netback/Kbuild)");

mod connect;
mod hash;
mod interface;
mod rx;
mod rx_packet;
mod tx;
mod tx_packet;
mod xenbus;

use kernel::prelude::*;

use xen::backend::BackRing;
use xen::param::module_param;
use xen::protocol::backend::clamp_fatal_skb_slots;
use xen::protocol::negotiate;
use xen::protocol::ring;

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

module_param!(pub(crate) static FATAL_SKB_SLOTS: UintParam = 20, module = "xen_netback",
    name = "fatal_skb_slots", perm = 0o444,
    desc = "Further slots per packet above which the frontend is malicious (18..64)");

module_param!(pub(crate) static RX_DRAIN_TIMEOUT_MSECS: UintParam = 10000,
    module = "xen_netback", name = "rx_drain_timeout_msecs", perm = 0o444,
    desc = "Time a packet may wait for guest RX buffers before it is dropped (ms)");

module_param!(pub(crate) static RX_STALL_TIMEOUT_MSECS: UintParam = 60000,
    module = "xen_netback", name = "rx_stall_timeout_msecs", perm = 0o444,
    desc = "Time without enough guest RX buffers before a queue counts as stalled (ms)");

const DRIVER_NAME: &CStr = c"xen_netback";

type TxRing = BackRing<{ ring::TX_SLOT_SIZE }, { ring::TX_RING_SIZE }>;
type RxRing = BackRing<{ ring::RX_SLOT_SIZE }, { ring::RX_RING_SIZE }>;
type CtrlRing = BackRing<{ ring::CTRL_SLOT_SIZE }, { ring::CTRL_RING_SIZE }>;

/// Guest-RX grant copies per hypercall (C's `COPY_BATCH_SIZE`); guest TX runs up to
/// `TX_COPY_OPS` per hypercall.
const COPY_BATCH: usize = 64;
/// Copy operations one packet can need on either path.
const MAX_PACKET_OPS: usize = 96;
/// Guest-TX grant copies per batch and per hypercall: the copies of several packets of a
/// poll go in one batch, as C's `tx_copy_ops[2 * MAX_PENDING_REQS]` (one
/// `gnttab_batch_copy` per `xenvif_tx_action`).
const TX_COPY_OPS: usize = 2 * ring::TX_RING_SIZE as usize;
/// Guest-TX packets gathered per batch: a NAPI poll's usual budget (`NAPI_POLL_WEIGHT`); a
/// poll with a larger budget runs more batches.
const TX_BATCH_PACKETS: usize = 64;
/// Guest-RX grant copies per batch (run in hypercalls of `COPY_BATCH`, as C's
/// `xenvif_rx_copy_flush()` whenever its 64-entry `rx_copy` fills): the copies of several
/// packets go in one batch.
const RX_COPY_OPS: usize = 2 * ring::RX_RING_SIZE as usize;
// A batch always has room for one more packet's worst case.
const _: () = assert!(MAX_PACKET_OPS <= TX_COPY_OPS && MAX_PACKET_OPS <= RX_COPY_OPS);

/// What the frontend said it accepts (read at connect).
mod fe {
    pub(crate) const SG: u32 = 1 << 0;
    pub(crate) const GSO_V4: u32 = 1 << 1;
    pub(crate) const GSO_V6: u32 = 1 << 2;
    pub(crate) const IPV6_CSUM: u32 = 1 << 3;
    pub(crate) const RX_NOTIFY: u32 = 1 << 4;
    /// `feature-no-csum-offload`: the frontend cannot take IPv4 packets with a partial
    /// checksum (`csum_blank`).
    pub(crate) const NO_CSUM_OFFLOAD: u32 = 1 << 5;
}

fn effective_max_queues() -> u32 {
    negotiate::effective_max_queues(MAX_QUEUES.get(), xen::system::num_online_cpus())
}

struct XenNetback {
    _driver: xen::xenbus::Registration<xenbus::VifBackend>,
}

impl kernel::Module for XenNetback {
    fn init(module: &'static ThisModule) -> Result<Self> {
        if !xen::system::xen_domain() {
            return Err(ENODEV);
        }
        let driver = xen::xenbus::Registration::new(module, c"xen_netback")?;
        pr_info!(
            "loaded: max_queues={} (effective {}), separate_tx_rx_irq={}, fatal_skb_slots={}\n",
            MAX_QUEUES.get(),
            effective_max_queues(),
            SEPARATE_TX_RX_IRQ.get(),
            clamp_fatal_skb_slots(FATAL_SKB_SLOTS.get())
        );
        Ok(XenNetback { _driver: driver })
    }
}

impl Drop for XenNetback {
    fn drop(&mut self) {
        pr_info!("unloading\n");
    }
}
