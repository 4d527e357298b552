// SPDX-License-Identifier: GPL-2.0

//! The control ring and receive-side scaling (the C driver's `hash.c`, with the control
//! ring's handler from `netback.c` and its connect/disconnect from `interface.c` and
//! `xenbus.c`).
//!
//! A frontend that wrote `ctrl-ring-ref` gets its control ring mapped at connect
//! ([`connect`]); each request is copied out of its slot once and answered by
//! [`HashConfig::serve`] (`common/src/protocol/ctrl.rs`: the C backend's status codes and
//! checks, XSA-270 included) in arrival order, the key and mapping table read from the
//! frontend's grants by a grant copy ([`CtrlGrants`]). The requests are served by the
//! control ring's worker thread (process context, as C's threaded IRQ
//! `xen-netback-ctrl`), which its event channel's handler wakes and which sends that
//! channel's late EOI.
//!
//! Guest RX reads the configuration per packet ([`VifHash`]): with the Toeplitz algorithm
//! `ndo_select_queue` hashes the packet to pick the queue from the mapping table, and
//! `ndo_start_xmit` hashes it again to store the hash in the skb (which `rx.rs` sends to
//! the frontend as a `HASH` extra: a hash a qdisc computed in between must not reach the
//! guest); with none, `ndo_start_xmit` clears any skb hash, so that no `HASH` extra leaks.
//!
//! # Locks and contexts
//!
//! * [`VifHash::published`]: no lock for readers, which are `ndo_select_queue` and
//!   `ndo_start_xmit` (softirq, or process context with bottom halves off, or netpoll with
//!   hard IRQs off). Written only by [`VifHash::publish`] under [`VifHash::publish_lock`].
//! * [`VifHash::publish_lock`] (`SpinLockIrq`, interrupts off while held): taken by the
//!   control worker thread (process context, holding [`Ctrl::conn`]) and by the
//!   disconnect's reset (process context, the xenwatch thread or remove, holding the
//!   device's state mutex). Interrupts off, so that no reader (softirq, netpoll) can run
//!   on the CPU of a publication in progress and spin on it until its retries run out.
//! * [`Ctrl::conn`] (`Mutex`): the control worker thread, the attach at connect (under the
//!   device's state mutex) and [`CtrlRuntime`]'s drop once that thread stopped (process
//!   context). The event channel handler (hard IRQ) takes no
//!   lock: it sets [`Ctrl::eoi_pending`] and kicks the worker.
//! * The guest-RX worker threads read no configuration: only the skb's hash, set before
//!   the skb was queued.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::{new_mutex, new_spinlock_irq, Arc, Mutex, SpinLockIrq};

use crate::connect::read_u32;
use crate::interface::Shared;
use crate::xen::backend::{GrantCopier, Waker, WorkerFn, WorkerThread};
use crate::xen::evtchn::{Eoi, EoiHandle, EventHandler, IrqBinding, Notifier};
use crate::xen::net::{Page, SkBuff, ETH_P_IP, ETH_P_IPV6};
use crate::xen::protocol::ctrl::{
    ctrl_type, CtrlRequest, CtrlStatus, GrantReader, HashAlgorithm, HashConfig, HashType,
    PublishedHashConfig, Steering, CTRL_REQUEST_SIZE,
};
use crate::xen::protocol::ring::{check_attach, published, CTRL_RING_SIZE, CTRL_SLOT_SIZE};
use crate::xen::xenbus;
use crate::CtrlRing;

// A request fills its slot: the slot copy is the request.
const _: () = assert!(CTRL_REQUEST_SIZE == CTRL_SLOT_SIZE);

/// Requests one pass of the control worker serves before it lets others run (and comes
/// back at once): a ring's worth.
const CTRL_BATCH: u32 = CTRL_RING_SIZE;

/// The IRQ name of the control ring's event channel, C's.
const CTRL_IRQ_NAME: &CStr = c"xen-netback-ctrl";

/// A vif's hash configuration as guest RX reads it: the copy the control ring last
/// published, and the lock that serialises publications.
#[pin_data]
pub(crate) struct VifHash {
    /// What readers see (lock-free for them, see the module documentation).
    published: PublishedHashConfig,
    /// Held, with interrupts off, around every publication (see the module
    /// documentation for who takes it).
    #[pin]
    publish_lock: SpinLockIrq<()>,
}

impl VifHash {
    /// No configuration: no hashing.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            published: PublishedHashConfig::new(),
            publish_lock <- new_spinlock_irq!((), "VifHash::publish_lock"),
        })
    }

    /// Makes `cfg` what guest RX uses. Process context.
    fn publish(&self, cfg: &HashConfig) {
        let _guard = self.publish_lock.lock();
        self.published.publish(cfg);
    }

    /// Back to no hashing, so that the next connection starts clean (at disconnect, once
    /// the control worker stopped). Process context.
    pub(crate) fn reset(&self) {
        self.publish(&HashConfig::new());
    }

    /// With the Toeplitz algorithm: the hash of `skb` (or `None` when no enabled type
    /// covers it) and its queue for a vif with `num_queues` connected queues (C
    /// `xenvif_set_skb_hash()` and the table lookup of `xenvif_select_queue()`), from one
    /// consistent configuration. `None` with no algorithm (or, in theory, when every read
    /// of the configuration overlapped a publication). Writes nothing: `ndo_start_xmit`
    /// stores the hash ([`Self::prepare_xmit`]).
    fn steer(&self, skb: &SkBuff, num_queues: u32) -> Option<Steering> {
        if self.published.algorithm() == HashAlgorithm::None {
            return None;
        }
        // C's quick rejection: a packet that no enabled type could cover is not dissected.
        let family = match skb.protocol() {
            ETH_P_IP => HashType::Ipv4.flag() | HashType::Ipv4Tcp.flag(),
            ETH_P_IPV6 => HashType::Ipv6.flag() | HashType::Ipv6Tcp.flag(),
            _ => 0,
        };
        let flow = if self.published.flags() & family != 0 {
            skb.flow()
        } else {
            None
        };
        self.published.steer(flow.as_ref(), num_queues)
    }

    /// The queue for `skb` under the frontend's configuration (`ndo_select_queue`, for a
    /// vif with `num_queues` connected queues); `None` with no algorithm, for the caller's
    /// own choice.
    pub(crate) fn select_queue(&self, skb: &SkBuff, num_queues: u32) -> Option<u16> {
        self.steer(skb, num_queues).map(|s| s.queue as u16)
    }

    /// Makes the hash `skb` carries to the guest (a `HASH` extra) the frontend's own or
    /// none (`ndo_start_xmit`, for a vif with `num_queues` connected queues): with the
    /// Toeplitz algorithm the packet is hashed here, whatever hash it carries (one that
    /// the stack or a qdisc computed after `ndo_select_queue`, for a packet of a type the
    /// frontend did not enable, would otherwise reach the guest labelled as Toeplitz: C
    /// keeps it, a deliberate difference); with none, or when no enabled type covers the
    /// packet, its hash is cleared (C `xenvif_start_xmit()`'s `skb_clear_hash`), so that
    /// no `HASH` extra leaks. A shared skb (`IFF_TX_SKB_SHARING` is off, so none reaches
    /// here) is left as it is.
    pub(crate) fn prepare_xmit(&self, skb: &mut SkBuff, num_queues: u32) {
        let result = match self.steer(skb, num_queues) {
            Some(Steering { hash: Some(h), .. }) => skb.set_sw_hash(h.value, h.hash_type.is_l4()),
            _ => skb.clear_hash(),
        };
        // Only a shared skb fails (see above).
        let _ = result;
    }
}

/// A queue's hash counter (`ethtool -S`, after its copy counters).
#[derive(Default)]
pub(crate) struct HashCounters {
    /// `HASH` extras sent to the guest with its packets. Written only by the queue's
    /// guest-RX worker (`Relaxed` adds), read by `ethtool -S` without a lock.
    pub(crate) rx_extras: AtomicU64,
}

impl HashCounters {
    /// The counters' `ethtool -S` names (each prefixed with `q<N>_`).
    pub(crate) const NAMES: [&'static str; 1] = ["rx_hash_extras"];

    /// The counters, in the order of [`Self::NAMES`].
    pub(crate) fn values(&self) -> [u64; 1] {
        [self.rx_extras.load(Ordering::Relaxed)]
    }
}

/// The grant copies of a control request: each reads from offset 0 of the frontend's
/// grant into the connection's bounce page, and from there into the request's buffer (C
/// copies straight into the key or the inactive mapping table).
struct CtrlGrants<'a> {
    copier: &'a mut GrantCopier,
    page: &'a mut Page,
    domid: u16,
}

impl GrantReader for CtrlGrants<'_> {
    fn read(&mut self, gref: u32, out: &mut [u8]) -> bool {
        if out.is_empty() {
            return true;
        }
        // At most a page (`HashConfig::serve` asks for 40 or 512 bytes).
        let Some(dst) = u16::try_from(out.len())
            .ok()
            .and_then(|len| self.page.local_dst().sub(0, len))
        else {
            return false;
        };
        let mut batch = self.copier.batch();
        // The copier has room for one op: nothing to allocate.
        if batch.copy_from_foreign(dst, gref, 0, GFP_KERNEL).is_err() {
            return false;
        }
        // C: `gnttab_batch_copy()` with the frontend as the source domain; any status
        // but `GNTST_okay` fails the request.
        let run = batch.run(self.domid);
        if run.ops() != 1 || run.statuses().any(|s| s != 0) {
            return false;
        }
        self.page.read(0, out).is_ok()
    }
}

/// A connected control ring, used by the control worker thread only (under
/// [`Ctrl::conn`]).
struct CtrlConn {
    ring: CtrlRing,
    /// The next request; also the next response, as each request is answered at once
    /// (C's `rsp_prod_pvt` is always `req_cons` after a pass).
    req_cons: u32,
    /// The frontend's configuration as requests change it; [`VifHash`] gets a copy after
    /// each change. Fresh for every connection.
    config: HashConfig,
    /// The connection's queue count, which `SET_HASH_MAPPING` entries must stay below.
    num_queues: u32,
    copier: GrantCopier,
    /// Where grant copies land before they are read out.
    page: Page,
    notifier: Notifier,
    eoi: EoiHandle,
    /// A request was served since the last EOI (else the EOI is spurious).
    served: bool,
    /// The frontend published an impossible request producer: the ring is not served any
    /// more, its channel gets no EOI.
    broken: bool,
}

impl CtrlConn {
    /// Serves the request at `req_cons` and publishes its response (C
    /// `process_ctrl_request()`, `make_ctrl_response()`, `push_ctrl_response()`).
    fn serve_one(&mut self, domid: u16, hash: &VifHash) {
        let idx = self.req_cons;
        // Copied out of the slot once; every field is checked by `serve`.
        let req = CtrlRequest::from_le_bytes(&self.ring.read_slot(idx));
        self.req_cons = idx.wrapping_add(1);
        let mut grants = CtrlGrants {
            copier: &mut self.copier,
            page: &mut self.page,
            domid,
        };
        let rsp = self.config.serve(&req, self.num_queues, &mut grants);
        let sets = matches!(
            req.type_,
            ctrl_type::SET_HASH_ALGORITHM
                | ctrl_type::SET_HASH_FLAGS
                | ctrl_type::SET_HASH_KEY
                | ctrl_type::SET_HASH_MAPPING_SIZE
                | ctrl_type::SET_HASH_MAPPING
        );
        if sets && rsp.status == CtrlStatus::Success as u32 {
            hash.publish(&self.config);
        }
        self.ring.write_slot(idx, &rsp.to_slot());
        if self.ring.push_responses(self.req_cons) {
            self.notifier.notify();
        }
        self.served = true;
    }
}

/// The control ring's shared state: what its event handler and its worker thread use.
#[pin_data]
pub(crate) struct Ctrl {
    shared: Arc<Shared>,
    waker: Waker,
    /// An event waits for the worker's late EOI: set by the handler (hard IRQ), taken by
    /// the worker.
    eoi_pending: AtomicBool,
    /// The connection; `None` once [`CtrlRuntime`] tore it down.
    #[pin]
    conn: Mutex<Option<CtrlConn>>,
}

impl Ctrl {
    fn name(&self) -> &str {
        self.shared.name.to_str().unwrap_or("vif")
    }

    /// One pass of the worker (C `xenvif_ctrl_irq_fn()`): serves the published requests in
    /// order until none is left, then sends the late EOI, flagged spurious when no request
    /// came since the last one.
    fn serve(&self) {
        let mut guard = self.conn.lock();
        let Some(c) = &mut *guard else {
            return;
        };
        let mut budget = CTRL_BATCH;
        while !c.broken {
            let prod = c.ring.req_prod();
            let n = match published(prod, c.req_cons, CTRL_RING_SIZE) {
                Ok(n) => n,
                Err(e) => {
                    // C would walk every index up to the producer; the ring is stopped
                    // instead (the data path goes on).
                    c.broken = true;
                    pr_err!(
                        "{}: impossible number of control requests: req_prod {} req_cons {}; control ring stopped\n",
                        self.name(),
                        e.prod,
                        e.cons
                    );
                    return;
                }
            };
            if n == 0 {
                // Ask for an event at the next request, then look again (C sets
                // `req_event` and loops while `RING_HAS_UNCONSUMED_REQUESTS`).
                if c.ring.request_event_at(c.req_cons.wrapping_add(1)) == c.req_cons {
                    break;
                }
                // Each look costs budget: a producer the frontend moves back and forth
                // must not keep this loop going without a reschedule.
                if budget == 0 {
                    self.waker.kick();
                    return;
                }
                budget -= 1;
                continue;
            }
            if budget == 0 {
                // More to do: come back at once, the EOI waits until then.
                self.waker.kick();
                return;
            }
            for _ in 0..n.min(budget) {
                c.serve_one(self.shared.domid, &self.shared.hash);
                budget -= 1;
            }
        }
        if !c.broken && self.eoi_pending.swap(false, Ordering::AcqRel) {
            c.eoi.eoi(!c.served);
            c.served = false;
        }
    }
}

impl EventHandler for Ctrl {
    fn handle_event(&self) -> Eoi {
        self.eoi_pending.store(true, Ordering::Release);
        self.waker.kick();
        Eoi::Withhold
    }
}

impl WorkerFn for Ctrl {
    fn waker(&self) -> &Waker {
        &self.waker
    }

    fn run(&self) -> u32 {
        self.serve();
        0
    }
}

/// The worker thread and the event channel of a connected control ring. Dropping it tears
/// the ring down in the order of C's `xenvif_disconnect_ctrl()`: the requests stop being
/// served before the channel is unbound, and that before the ring is unmapped.
pub(crate) struct CtrlRuntime {
    worker: Option<WorkerThread<Ctrl>>,
    irq: Option<IrqBinding<Ctrl>>,
    ctrl: Arc<Ctrl>,
}

impl Drop for CtrlRuntime {
    fn drop(&mut self) {
        // 1. The worker, which notifies and EOIs through the channel: stopping it waits
        //    for a running pass. (C frees the threaded IRQ, which also waits for its
        //    thread.) Once the channel is unbound its IRQ number may serve another device.
        self.worker = None;
        // 2. The channel: unbinding waits for a running handler, which only sets a flag
        //    and kicks a waker nobody waits on any more.
        self.irq = None;
        // 3. The ring, the copier and the bounce page: nothing uses them now.
        let conn = self.ctrl.conn.lock().take();
        drop(conn);
    }
}

/// Connects the frontend's control ring if it has one (C `connect_ctrl_ring()`): `None`
/// without `ctrl-ring-ref`. A reference without `event-channel-ctrl`, or a ring that
/// cannot be set up, is the frontend's fatal error (reported here).
pub(crate) fn connect(
    dev: &xenbus::Device,
    shared: &Arc<Shared>,
    num_queues: u32,
) -> Result<Option<CtrlRuntime>> {
    let Some(ring_ref) = read_u32(dev, "ctrl-ring-ref") else {
        return Ok(None);
    };
    let Some(port) = read_u32(dev, "event-channel-ctrl") else {
        // Reference row 28.
        dev.fatal(
            ENOENT,
            format_args!(
                "reading {}/event-channel-ctrl",
                dev.otherend().and_then(|p| p.to_str().ok()).unwrap_or("")
            ),
        );
        return Err(ENOENT);
    };
    match attach(dev, shared, num_queues, ring_ref, port) {
        Ok(rt) => Ok(Some(rt)),
        Err(e) => {
            dev.fatal(
                e,
                format_args!("mapping shared-frame {ring_ref} port {port}"),
            );
            Err(e)
        }
    }
}

/// Maps the ring, binds its channel and starts its worker (C `xenvif_connect_ctrl()`).
fn attach(
    dev: &xenbus::Device,
    shared: &Arc<Shared>,
    num_queues: u32,
    ring_ref: u32,
    port: u32,
) -> Result<CtrlRuntime> {
    let ring = CtrlRing::map(dev, ring_ref)?;
    let rsp_prod = ring.shared_rsp_prod();
    // Row 3: the requests outstanding must fit in the ring.
    if check_attach(ring.req_prod(), rsp_prod, CTRL_RING_SIZE).is_err() {
        return Err(EIO);
    }
    let copier = GrantCopier::new(1, 1)?;
    let page = Page::alloc_zeroed_atomic().ok_or(ENOMEM)?;
    let waker = Waker::new()?;
    let ctrl = Arc::pin_init(
        pin_init!(Ctrl {
            shared: shared.clone(),
            waker,
            eoi_pending: AtomicBool::new(false),
            conn <- new_mutex!(None),
        }),
        GFP_KERNEL,
    )?;
    let irq = IrqBinding::new_interdomain(dev, port, CTRL_IRQ_NAME, ctrl.clone())?;
    *ctrl.conn.lock() = Some(CtrlConn {
        ring,
        req_cons: rsp_prod,
        config: HashConfig::new(),
        num_queues,
        copier,
        page,
        notifier: irq.notifier(),
        eoi: irq.eoi_handle(),
        served: false,
        broken: false,
    });
    // From here a failure drops `rt`: the channel is unbound, then the ring unmapped.
    let mut rt = CtrlRuntime {
        worker: None,
        irq: Some(irq),
        ctrl: ctrl.clone(),
    };
    let name = CString::try_from_fmt(fmt!("{}-ctrl", ctrl.name()))?;
    rt.worker = Some(WorkerThread::start(ctrl.clone(), &name)?);
    // Requests published before the channel was bound would otherwise wait for the next
    // event.
    ctrl.waker.kick();
    Ok(rt)
}
