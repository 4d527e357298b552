// SPDX-License-Identifier: GPL-2.0

//! The control ring (netif.h `xen_netif_ctrl_*`, reference section 1.10), which the C
//! netfront does not have: one granted ring page of 16-byte slots, an event channel, and a
//! read-only granted data page that carries a request's key or mapping table. Requests go
//! one at a time, from process context, each waiting (bounded) for its response; the
//! response is copied out of the ring once and checked ([`CtrlClient::complete`]) before
//! its data is used. A backend that does not answer in time, or answers out of turn, breaks
//! the ring for the rest of the connection: later requests fail at once.
//!
//! What the requests configure (receive-side scaling) is in `rss.rs`.

use core::sync::atomic::{AtomicBool, Ordering};

use kernel::prelude::*;
use kernel::sync::Arc;

use crate::xen::evtchn::{Eoi, EventHandler, IrqBinding, Notifier, Port};
use crate::xen::grant::{GrantPool, Granted};
use crate::xen::net::Page;
use crate::xen::protocol::ctrl::{CtrlClient, CtrlError, CtrlResponse, CTRL_RESPONSE_SIZE};
use crate::xen::protocol::ring::{published, CTRL_RING_SIZE, CTRL_SLOT_SIZE};
use crate::xen::sring::FrontRing;
use crate::xen::wait::{WaitBudget, WaitQueue};
use crate::xen::xenbus;

/// The control ring as the frontend sees it.
type CtrlRing = FrontRing<{ CTRL_SLOT_SIZE }, { CTRL_RING_SIZE }>;

/// How long one series of requests (the configuration after a connect, or one `ethtool`
/// operation: [`CtrlChannel::start_series`]) waits for its responses in all, in
/// milliseconds: a backend that has not answered by then (dead, slow or hostile) does not
/// hold xenwatch or RTNL any longer, however it spaces its answers.
pub(crate) const CTRL_TIMEOUT_MS: u32 = 5000;

/// What the control channel's interrupt handler and the requesting task share. Kept alive
/// by the channel's [`IrqBinding`] and [`CtrlChannel`], and by the connection, which
/// cancels through it ([`CtrlEvent::cancel`]) without taking the RSS mutex a waiting
/// request holds.
#[pin_data]
pub(crate) struct CtrlEvent {
    /// The requesting task sleeps here until the response producer moves.
    #[pin]
    wait: WaitQueue,
    /// Set once, at teardown: a waiting request gives up at once, and no request starts.
    cancelled: AtomicBool,
    /// A request is waiting for its response (an event then is not spurious).
    waiting: AtomicBool,
}

impl CtrlEvent {
    /// Wakes a waiting request, which then fails, and fails every later one: the first step
    /// of the channel's teardown (`disconnect`), before it takes the RSS mutex. Process
    /// context or any other (it only sets a flag and wakes).
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        self.wait.wake_all();
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}

impl EventHandler for CtrlEvent {
    /// Hard-IRQ context: only wakes the waiting task, which reads the ring itself.
    fn handle_event(&self) -> Eoi {
        // Read before the wake-up: the woken task may clear it at once on another CPU.
        let waiting = self.waiting.load(Ordering::Acquire);
        self.wait.wake_all();
        // Events while no request waits brought nothing: a backend that fires them gets
        // throttled by the late-EOI logic.
        if waiting {
            Eoi::Done
        } else {
            Eoi::Spurious
        }
    }
}

/// Why a control request did not succeed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum CtrlFail {
    /// The backend answered with this (non-success) status; the ring stays usable.
    Status(u32),
    /// No usable answer: `ETIMEDOUT` (none in time), `EIO` (a response out of turn,
    /// or responses nobody asked for) or `ENODEV` (cancelled by teardown). The ring is not
    /// used again on this connection.
    Broken(Error),
}

impl CtrlFail {
    /// The error an ethtool operation returns for it: `EIO` for a status.
    pub(crate) fn to_error(self) -> Error {
        match self {
            CtrlFail::Status(_) => EIO,
            CtrlFail::Broken(e) => e,
        }
    }
}

impl kernel::fmt::Display for CtrlFail {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            CtrlFail::Status(s) => write!(f, "status {s}"),
            CtrlFail::Broken(e) if e == ETIMEDOUT => {
                write!(
                    f,
                    "no response within the {} ms of the series",
                    CTRL_TIMEOUT_MS
                )
            }
            CtrlFail::Broken(e) if e == ENODEV => f.write_str("cancelled (disconnect)"),
            CtrlFail::Broken(_) => f.write_str("response out of turn (protocol violation)"),
        }
    }
}

/// A connected control ring, owned by the RSS state under its mutex (`rss.rs`).
///
/// Dropping it tears it down in the order the fields are declared: the channel is unbound
/// first (no handler runs after that), then the ring's grant ends, then the data page's
/// (each deferred while the backend still maps the page: the ring's by
/// `xenbus_teardown_ring`, the data page's by the module's deferred-end list, so no page
/// is freed under the backend, which may still read them after a timeout).
pub(crate) struct CtrlChannel {
    _binding: IrqBinding<CtrlEvent>,
    ring: CtrlRing,
    /// The data page, granted read-only to the backend from set-up to teardown.
    data: Granted<Page>,
    _grants: GrantPool,
    event: Arc<CtrlEvent>,
    notify: Notifier,
    client: CtrlClient,
    req_prod_pvt: u32,
    rsp_cons: u32,
    /// Why the ring is not used any more, once it is not.
    broken: Option<Error>,
    /// What the current series of requests may still wait ([`Self::start_series`]).
    budget: WaitBudget,
}

/// What the connection keeps of a control channel it set up: the XenStore values and the
/// cancel handle.
pub(crate) struct CtrlSetup {
    pub(crate) ring_ref: u32,
    pub(crate) port: Port,
    pub(crate) event: Arc<CtrlEvent>,
}

impl CtrlChannel {
    /// Grants a ring page and a data page to the backend of `dev` and binds a new event
    /// channel to the handler, under the IRQ name `name`. Process context (xenwatch).
    pub(crate) fn new(dev: &xenbus::Device, name: &CStr) -> Result<(Self, CtrlSetup)> {
        let ring = CtrlRing::new(dev)?;
        let mut grants = GrantPool::new(1, dev.otherend_id() as u16)?;
        // Zeroed: the backend may read the whole page (XSA-403).
        let page = Page::alloc_zeroed_atomic().ok_or(ENOMEM)?;
        let claimed = grants.claim().ok_or(ENOSPC)?;
        let data = grants.grant(claimed, page, true);
        let event = Arc::pin_init(
            pin_init!(CtrlEvent {
                wait <- WaitQueue::new(),
                cancelled: AtomicBool::new(false),
                waiting: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        )?;
        let port = dev.alloc_evtchn()?;
        // A failed bind leaves the port open: free it. (The pages go with `ring` and
        // `data`: the backend has not heard of them.)
        let binding =
            IrqBinding::new(port, name, event.clone()).inspect_err(|_| dev.free_evtchn(port))?;
        let notify = binding.notifier();
        let setup = CtrlSetup {
            ring_ref: ring.gref(),
            port,
            event: event.clone(),
        };
        Ok((
            Self {
                _binding: binding,
                ring,
                data,
                _grants: grants,
                event,
                notify,
                client: CtrlClient::new(),
                req_prod_pvt: 0,
                rsp_cons: 0,
                broken: None,
                budget: WaitBudget::from_ms(CTRL_TIMEOUT_MS),
            },
            setup,
        ))
    }

    /// Why the ring is not used any more, if it is not.
    pub(crate) fn broken(&self) -> Option<Error> {
        self.broken
    }

    /// The grant reference of the data page, for `data[0]` of a request that carries it.
    pub(crate) fn data_gref(&self) -> u32 {
        self.data.raw()
    }

    /// Copies `bytes` to the start of the data page, for the next request. Only between
    /// requests (`&mut self`): a request's data stays as it was until its response came,
    /// and after a timeout no request (and so no write) follows.
    pub(crate) fn write_data(&mut self, bytes: &[u8]) -> Result {
        if self.broken.is_some() {
            return Err(EIO);
        }
        self.data.write(0, bytes)
    }

    /// Starts a series of requests that may wait [`CTRL_TIMEOUT_MS`] for their responses
    /// in all (the caller holds the RSS mutex from here to the series' last request).
    pub(crate) fn start_series(&mut self) {
        self.budget = WaitBudget::from_ms(CTRL_TIMEOUT_MS);
    }

    /// Sends one request of `type_` with `data` and waits (at most what is left of the
    /// series' [`CTRL_TIMEOUT_MS`], see [`Self::start_series`]) for its response: the response's `data` on success. Process context, may sleep;
    /// the caller holds the RSS mutex, which is what makes it one request at a time.
    pub(crate) fn request(&mut self, type_: u16, data: [u32; 3]) -> Result<u32, CtrlFail> {
        if let Some(e) = self.broken {
            return Err(CtrlFail::Broken(e));
        }
        let r = self.exchange(type_, data);
        if let Err(CtrlFail::Broken(e)) = r {
            // The backend may still answer (or read the data page) later: nothing is sent
            // or written any more, and the pages stay granted until teardown.
            self.broken = Some(e);
            self.client.abandon();
        }
        r
    }

    fn exchange(&mut self, type_: u16, data: [u32; 3]) -> Result<u32, CtrlFail> {
        if self.event.is_cancelled() {
            return Err(CtrlFail::Broken(ENODEV));
        }
        // Every earlier request was answered (`rsp_cons` caught up with `req_prod_pvt`).
        // Ask for an event at the next response, and check that none arrived unasked.
        if self.ring.final_check_responses(self.rsp_cons) {
            return Err(CtrlFail::Broken(EIO));
        }
        let req = self
            .client
            .request(type_, data)
            .ok_or(CtrlFail::Broken(EIO))?;
        self.ring.write_slot(self.req_prod_pvt, &req.to_le_bytes());
        self.req_prod_pvt = self.req_prod_pvt.wrapping_add(1);
        self.event.waiting.store(true, Ordering::Release);
        if self.ring.push_requests(self.req_prod_pvt) {
            self.notify.notify();
        }
        let cons = self.rsp_cons;
        let (ring, event) = (&self.ring, &self.event);
        let moved = event.wait.wait_timeout(&mut self.budget, || {
            event.is_cancelled() || ring.rsp_prod() != cons
        });
        self.event.waiting.store(false, Ordering::Release);
        if self.event.is_cancelled() {
            return Err(CtrlFail::Broken(ENODEV));
        }
        if !moved {
            return Err(CtrlFail::Broken(ETIMEDOUT));
        }
        // Exactly the one response outstanding, no more (the index is the backend's).
        let rp = self.ring.rsp_prod();
        if published(rp, cons, CTRL_RING_SIZE) != Ok(1) {
            return Err(CtrlFail::Broken(EIO));
        }
        // Copied out once, then decoded from the copy.
        let slot = self.ring.read_slot(cons);
        let mut bytes = [0u8; CTRL_RESPONSE_SIZE];
        bytes.copy_from_slice(&slot[..CTRL_RESPONSE_SIZE]);
        self.rsp_cons = cons.wrapping_add(1);
        match self.client.complete(&CtrlResponse::from_le_bytes(&bytes)) {
            Some(Ok(d)) => Ok(d),
            Some(Err(CtrlError::Status(s))) => Err(CtrlFail::Status(s)),
            Some(Err(CtrlError::Mismatch { .. })) | None => Err(CtrlFail::Broken(EIO)),
        }
    }
}
