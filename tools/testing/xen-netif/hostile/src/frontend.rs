// SPDX-License-Identifier: GPL-2.0

//! A netif frontend driven by hand: it connects like a real frontend (or, when a scenario
//! says so, like a broken one) and then places whatever requests a scenario builds on the
//! rings.

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use xen_netif::ctrl::{CtrlRequest, CtrlResponse, CTRL_RESPONSE_SIZE};
use xen_netif::flags::TxFlags;
use xen_netif::netif::{ExtraInfo, RxRequest, Status, TxRequest, TxResponse};
use xen_netif::ring::{
    header as ring_offsets, need_notify, slot_offset, CTRL_RING_SIZE, CTRL_SLOT_SIZE,
    RING_HEADER_SIZE, RX_RING_SIZE, RX_SLOT_SIZE, TX_RING_SIZE, TX_SLOT_SIZE,
};
use xen_netif::xenstore::{backend_keys, frontend_keys};

use xen_user::{EventChannels, GrantedPages, XenStore, PAGE};

/// XenbusState values used here.
pub mod state {
    pub const INIT_WAIT: u32 = 2;
    pub const CONNECTED: u32 = 4;
    pub const CLOSING: u32 = 5;
    pub const CLOSED: u32 = 6;
}

/// The frontend's control-ring keys (`xen_netif_ctrl_*` of netif.h, reference 1.10).
pub mod ctrl_keys {
    /// Grant reference of the control ring page.
    pub const CTRL_RING_REF: &str = "ctrl-ring-ref";
    /// Event channel of the control ring.
    pub const EVENT_CHANNEL_CTRL: &str = "event-channel-ctrl";
}

/// Whether and how the frontend offers a control ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtrlSetup {
    /// No control ring (no `ctrl-ring-ref`).
    None,
    /// A well-formed control ring with its event channel.
    Ring,
    /// `ctrl-ring-ref` written, `event-channel-ctrl` left out (row 28).
    NoEventChannel,
    /// The ring offered with this `req_prod` while `rsp_prod` is 0 (row 3).
    ReqProdAtAttach(u32),
}

/// How the frontend publishes itself; every field has a well-behaved default.
#[derive(Clone, Debug)]
pub struct Setup {
    /// Queues whose rings and event channels are built.
    pub queues: u32,
    /// Value written to `multi-queue-num-queues`; `None`: not written.
    pub num_queues_key: Option<String>,
    /// Write the keys under `queue-N/` (otherwise flat, as for one queue).
    pub per_queue_keys: bool,
    /// A (queue, key) pair left out.
    pub omit: Option<(u32, &'static str)>,
    /// TX ring `req_prod` written before the ring is offered (attach-time overflow).
    pub tx_req_prod_at_attach: Option<u32>,
    /// RX buffers posted per queue once connected.
    pub rx_buffers: u32,
    /// State written after the keys (4 = Connected for a well-behaved frontend).
    pub state_after_keys: u32,
    /// Publish a grant reference nobody granted as queue 0's `tx-ring-ref`.
    pub bogus_tx_ring_ref: bool,
    /// The control ring offered (only to a backend with `feature-ctrl-ring`).
    pub ctrl: CtrlSetup,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            queues: 1,
            num_queues_key: None,
            per_queue_keys: false,
            omit: None,
            tx_req_prod_at_attach: None,
            rx_buffers: 128,
            state_after_keys: state::CONNECTED,
            bogus_tx_ring_ref: false,
            ctrl: CtrlSetup::None,
        }
    }
}

/// One ring slot a scenario places on the TX ring.
#[derive(Clone, Copy, Debug)]
pub enum Slot {
    /// A data request; its `id` is assigned when placed.
    Data(TxRequest),
    /// An extra-info slot.
    Extra(ExtraInfo),
}

struct Queue {
    /// Page 0: TX shared ring, page 1: RX shared ring.
    rings: GrantedPages,
    port: u32,
    tx_prod: u32,
    tx_rsp_cons: u32,
    rx_prod: u32,
}

/// The frontend's end of the control ring.
struct CtrlRing {
    page: GrantedPages,
    port: u32,
    /// Requests placed (`req_prod_pvt`).
    req_prod: u32,
    /// Requests published in `req_prod`.
    published: u32,
    /// Responses consumed.
    rsp_cons: u32,
}

/// Answers seen on a TX ring, by request id (`RSP_NULL` answers of extras are not kept).
pub type Answers = HashMap<u16, i16>;

/// The hand-driven frontend of one vif.
pub struct Frontend {
    /// XenStore connection.
    pub xs: XenStore,
    /// Frontend directory, relative to the domain's home (`device/vif/N`).
    pub fe: String,
    /// Backend directory.
    pub be: String,
    be_domid: u16,
    /// The vif's MAC address, from the toolstack.
    pub mac: [u8; 6],
    /// The backend's `multi-queue-max-queues`, or 1.
    pub backend_max_queues: u32,
    /// The backend's `feature-ctrl-ring`, as read at InitWait (`None`: no such key).
    pub backend_ctrl_ring: Option<String>,
    evtchn: EventChannels,
    queues: Vec<Queue>,
    data: GrantedPages,
    next_data_page: usize,
    rx_buffers: Option<GrantedPages>,
    answers: Vec<Answers>,
    ctrl: Option<CtrlRing>,
}

fn parse_mac(s: &str) -> [u8; 6] {
    let mut mac = [0u8; 6];
    for (b, part) in mac.iter_mut().zip(s.split(':')) {
        *b = u8::from_str_radix(part, 16).unwrap_or(0);
    }
    mac
}

const DATA_PAGES: usize = 96;

/// A grant reference far beyond any guest's grant table.
pub const BOGUS_GREF: u32 = 0x000f_fff0;

impl Frontend {
    /// Finds vif `handle`'s backend and waits until it offers its features (InitWait).
    pub fn attach(handle: u32) -> io::Result<Self> {
        let mut xs = XenStore::open()?;
        let fe = format!("device/vif/{handle}");
        let be = xs
            .read(&format!("{fe}/backend"))?
            .ok_or_else(|| io::Error::other(format!("{fe}/backend missing")))?;
        let be_domid = xs
            .read(&format!("{fe}/backend-id"))?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mac = parse_mac(&xs.read(&format!("{fe}/mac"))?.unwrap_or_default());
        let mut me = Self {
            xs,
            fe,
            be,
            be_domid,
            mac,
            backend_max_queues: 1,
            backend_ctrl_ring: None,
            evtchn: EventChannels::open()?,
            queues: Vec::new(),
            data: GrantedPages::alloc(be_domid, DATA_PAGES)?,
            next_data_page: 0,
            rx_buffers: None,
            answers: Vec::new(),
            ctrl: None,
        };
        let st = me.wait_backend_state(&[state::INIT_WAIT], Duration::from_secs(60))?;
        if st != Some(state::INIT_WAIT) {
            return Err(io::Error::other(format!(
                "backend state {st:?}, not InitWait"
            )));
        }
        me.backend_max_queues = me
            .read_be("multi-queue-max-queues")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        // Written at probe time, before InitWait (C `netback_probe`).
        me.backend_ctrl_ring = me.read_be(backend_keys::FEATURE_CTRL_RING);
        Ok(me)
    }

    /// Whether the backend advertises a control ring (`feature-ctrl-ring` = 1).
    pub fn backend_has_ctrl_ring(&self) -> bool {
        self.backend_ctrl_ring
            .as_deref()
            .and_then(|v| v.trim().parse::<u32>().ok())
            == Some(1)
    }

    /// The domain id of the backend.
    pub fn backend_domid(&self) -> u16 {
        self.be_domid
    }

    fn read_be(&mut self, key: &str) -> Option<String> {
        self.xs.read(&format!("{}/{key}", self.be)).ok().flatten()
    }

    /// The backend's state (`None` once its directory is gone).
    pub fn backend_state(&mut self) -> Option<u32> {
        self.read_be("state").and_then(|v| v.parse().ok())
    }

    /// Polls the backend state until it is one of `wanted`, Closing/Closed, or gone; returns
    /// the last state seen (also on timeout).
    pub fn wait_backend_state(
        &mut self,
        wanted: &[u32],
        timeout: Duration,
    ) -> io::Result<Option<u32>> {
        let end = Instant::now() + timeout;
        loop {
            let st = self.backend_state();
            match st {
                Some(s) if wanted.contains(&s) || s >= state::CLOSING => return Ok(st),
                None => return Ok(None),
                _ => {}
            }
            if Instant::now() > end {
                return Ok(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn write_fe(&mut self, key: &str, value: &str) -> io::Result<()> {
        let path = format!("{}/{key}", self.fe);
        self.xs.write(&path, value)
    }

    /// Sets the frontend's XenbusState.
    pub fn set_state(&mut self, st: u32) -> io::Result<()> {
        self.write_fe("state", &st.to_string())
    }

    /// Builds the rings and event channels, publishes the keys as `setup` says and waits
    /// for the backend's answer: `true` when it connected.
    pub fn connect(&mut self, setup: &Setup) -> io::Result<bool> {
        for _ in 0..setup.queues {
            let rings = GrantedPages::alloc(self.be_domid, 2)?;
            for page in 0..2 {
                rings.write_u32(page, ring_offsets::REQ_EVENT, 1);
                rings.write_u32(page, ring_offsets::RSP_EVENT, 1);
            }
            if let Some(prod) = setup.tx_req_prod_at_attach {
                rings.write_u32(0, ring_offsets::REQ_PROD, prod);
            }
            let port = self.evtchn.alloc_unbound(self.be_domid)?;
            self.queues.push(Queue {
                rings,
                port,
                tx_prod: 0,
                tx_rsp_cons: 0,
                rx_prod: 0,
            });
            self.answers.push(Answers::new());
        }
        for (key, value) in [
            (frontend_keys::REQUEST_RX_COPY, "1"),
            (frontend_keys::FEATURE_RX_NOTIFY, "1"),
            (frontend_keys::FEATURE_SG, "1"),
            (frontend_keys::FEATURE_GSO_TCPV4, "1"),
            (frontend_keys::FEATURE_GSO_TCPV6, "1"),
            (frontend_keys::FEATURE_IPV6_CSUM_OFFLOAD, "1"),
        ] {
            self.write_fe(key, value)?;
        }
        if let Some(n) = &setup.num_queues_key {
            let n = n.clone();
            self.write_fe(frontend_keys::MULTI_QUEUE_NUM_QUEUES, &n)?;
        }
        for q in 0..setup.queues {
            let dir = if setup.per_queue_keys {
                format!("queue-{q}/")
            } else {
                String::new()
            };
            let (mut tx, rx, port) = {
                let queue = &self.queues[q as usize];
                (queue.rings.gref(0), queue.rings.gref(1), queue.port)
            };
            if q == 0 && setup.bogus_tx_ring_ref {
                tx = BOGUS_GREF;
            }
            for (key, value) in [
                ("tx-ring-ref", tx),
                ("rx-ring-ref", rx),
                ("event-channel", port),
            ] {
                if setup.omit == Some((q, key)) {
                    continue;
                }
                self.write_fe(&format!("{dir}{key}"), &value.to_string())?;
            }
        }
        if setup.ctrl != CtrlSetup::None {
            self.offer_ctrl_ring(setup.ctrl)?;
        }
        self.set_state(setup.state_after_keys)?;
        let st = self.wait_backend_state(&[state::CONNECTED], Duration::from_secs(30))?;
        if st != Some(state::CONNECTED) {
            return Ok(false);
        }
        if setup.rx_buffers > 0 {
            let per_queue = setup.rx_buffers.min(RX_RING_SIZE) as usize;
            let pages = GrantedPages::alloc(self.be_domid, per_queue * self.queues.len())?;
            for (qi, queue) in self.queues.iter_mut().enumerate() {
                for i in 0..per_queue {
                    let req = RxRequest {
                        id: i as u16,
                        pad: 0,
                        gref: pages.gref(qi * per_queue + i),
                    };
                    let off =
                        RING_HEADER_SIZE + (queue.rx_prod % RX_RING_SIZE) as usize * RX_SLOT_SIZE;
                    queue.rings.write_bytes(1, off, &req.to_le_bytes());
                    queue.rx_prod += 1;
                }
                queue
                    .rings
                    .write_u32(1, ring_offsets::REQ_PROD, queue.rx_prod);
                self.evtchn.notify(queue.port)?;
            }
            self.rx_buffers = Some(pages);
        }
        Ok(true)
    }

    /// Grants the control ring page, allocates its event channel and writes the keys as
    /// `how` says.
    fn offer_ctrl_ring(&mut self, how: CtrlSetup) -> io::Result<()> {
        let page = GrantedPages::alloc(self.be_domid, 1)?;
        // SHARED_RING_INIT: both producers 0, both event indices 1.
        page.write_u32(0, ring_offsets::REQ_EVENT, 1);
        page.write_u32(0, ring_offsets::RSP_EVENT, 1);
        let mut req_prod = 0;
        if let CtrlSetup::ReqProdAtAttach(prod) = how {
            page.write_u32(0, ring_offsets::REQ_PROD, prod);
            req_prod = prod;
        }
        let port = self.evtchn.alloc_unbound(self.be_domid)?;
        self.write_fe(ctrl_keys::CTRL_RING_REF, &page.gref(0).to_string())?;
        if how != CtrlSetup::NoEventChannel {
            self.write_fe(ctrl_keys::EVENT_CHANNEL_CTRL, &port.to_string())?;
        }
        self.ctrl = Some(CtrlRing {
            page,
            port,
            req_prod,
            published: req_prod,
            rsp_cons: 0,
        });
        Ok(())
    }

    fn ctrl_ring(&mut self) -> io::Result<&mut CtrlRing> {
        self.ctrl
            .as_mut()
            .ok_or_else(|| io::Error::other("no control ring offered"))
    }

    /// Control requests placed and not answered yet.
    pub fn ctrl_outstanding(&self) -> u32 {
        self.ctrl
            .as_ref()
            .map_or(0, |c| c.req_prod.wrapping_sub(c.rsp_cons))
    }

    /// Places `req` in the next control ring slot (not yet published); fails when the
    /// ring holds `CTRL_RING_SIZE` unanswered requests.
    pub fn ctrl_place(&mut self, req: &CtrlRequest) -> io::Result<()> {
        let ring = self.ctrl_ring()?;
        if ring.req_prod.wrapping_sub(ring.rsp_cons) >= CTRL_RING_SIZE {
            return Err(io::Error::other("control ring full"));
        }
        let off = slot_offset(ring.req_prod, CTRL_RING_SIZE, CTRL_SLOT_SIZE);
        ring.page.write_bytes(0, off, &req.to_le_bytes());
        ring.req_prod = ring.req_prod.wrapping_add(1);
        Ok(())
    }

    /// Publishes the placed control requests and notifies the backend when its
    /// `req_event` asks for it (`RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`); returns whether
    /// it notified.
    pub fn ctrl_push(&mut self) -> io::Result<bool> {
        let ring = self.ctrl_ring()?;
        let (old, new) = (ring.published, ring.req_prod);
        // write_u32 orders the slots before the index and the index before what follows.
        ring.page.write_u32(0, ring_offsets::REQ_PROD, new);
        ring.published = new;
        let event = ring.page.read_u32(0, ring_offsets::REQ_EVENT);
        let port = ring.port;
        let notify = need_notify(old, new, event);
        if notify {
            self.evtchn.notify(port)?;
        }
        Ok(notify)
    }

    /// Notifies the control ring's event channel unconditionally.
    pub fn ctrl_kick(&mut self) -> io::Result<()> {
        let port = self.ctrl_ring()?.port;
        self.evtchn.notify(port)
    }

    /// The responses the backend published since the last call, in ring order. A
    /// response producer beyond the requests placed is an error (a backend that answers
    /// what nobody asked).
    pub fn ctrl_responses(&mut self) -> io::Result<Vec<CtrlResponse>> {
        let ring = self.ctrl_ring()?;
        let prod = ring.page.read_u32(0, ring_offsets::RSP_PROD);
        let avail = prod.wrapping_sub(ring.rsp_cons);
        let asked = ring.req_prod.wrapping_sub(ring.rsp_cons);
        if avail > asked {
            return Err(io::Error::other(format!(
                "control rsp_prod {prod}: {avail} responses for {asked} requests"
            )));
        }
        let mut out = Vec::with_capacity(avail as usize);
        for _ in 0..avail {
            let off = slot_offset(ring.rsp_cons, CTRL_RING_SIZE, CTRL_SLOT_SIZE);
            let bytes = ring.page.read_bytes::<CTRL_RESPONSE_SIZE>(0, off);
            out.push(CtrlResponse::from_le_bytes(&bytes));
            ring.rsp_cons = ring.rsp_cons.wrapping_add(1);
        }
        Ok(out)
    }

    /// Copies `bytes` into a fresh data page at `offset` and returns the matching request
    /// (size = `bytes.len()`, no flags); scenarios then adjust it.
    pub fn data(&mut self, bytes: &[u8], offset: u16) -> TxRequest {
        let page = self.next_data_page % DATA_PAGES;
        self.next_data_page += 1;
        let off = offset as usize;
        let fits = PAGE.saturating_sub(off).min(bytes.len());
        self.data.write_bytes(page, off.min(PAGE), &bytes[..fits]);
        TxRequest {
            gref: self.data.gref(page),
            offset,
            flags: 0,
            id: 0,
            size: bytes.len() as u16,
        }
    }

    /// A well-formed packet: `bytes` cut into slots of the given lengths (which must add
    /// up to `bytes.len()`), the first slot carrying the total size, `MORE_DATA` on all
    /// but the last.
    pub fn chain(&mut self, bytes: &[u8], cuts: &[usize]) -> Vec<Slot> {
        let mut slots = Vec::new();
        let mut at = 0;
        for (i, &len) in cuts.iter().enumerate() {
            let mut req = self.data(&bytes[at..at + len], 0);
            at += len;
            if i == 0 {
                req.size = bytes.len() as u16;
            }
            if i + 1 < cuts.len() {
                req.flags |= TxFlags::MORE_DATA.bits();
            }
            slots.push(Slot::Data(req));
        }
        slots
    }

    /// Places `slots` on queue `q`'s TX ring (not yet published); returns the ids given to
    /// the data requests.
    pub fn place(&mut self, q: usize, slots: &[Slot]) -> Vec<u16> {
        let queue = &mut self.queues[q];
        let mut ids = Vec::new();
        for slot in slots {
            let idx = queue.tx_prod;
            let bytes = match *slot {
                Slot::Data(mut req) => {
                    req.id = (idx % TX_RING_SIZE) as u16;
                    ids.push(req.id);
                    req.to_le_bytes()
                }
                Slot::Extra(extra) => extra.to_tx_slot(),
            };
            let off = RING_HEADER_SIZE + (idx % TX_RING_SIZE) as usize * TX_SLOT_SIZE;
            queue.rings.write_bytes(0, off, &bytes);
            queue.tx_prod = idx.wrapping_add(1);
        }
        ids
    }

    /// Publishes every placed request of queue `q` and kicks the backend.
    pub fn publish(&mut self, q: usize) -> io::Result<()> {
        let prod = self.queues[q].tx_prod;
        self.publish_index(q, prod)
    }

    /// Writes `req_prod` = `prod` on queue `q`'s TX ring (whatever was placed) and kicks.
    pub fn publish_index(&mut self, q: usize, prod: u32) -> io::Result<()> {
        let queue = &self.queues[q];
        queue.rings.write_u32(0, ring_offsets::REQ_PROD, prod);
        self.evtchn.notify(queue.port)
    }

    /// Writes `req_prod` = `prod` on queue `q`'s RX ring and kicks.
    pub fn publish_rx_index(&mut self, q: usize, prod: u32) -> io::Result<()> {
        let queue = &self.queues[q];
        queue.rings.write_u32(1, ring_offsets::REQ_PROD, prod);
        self.evtchn.notify(queue.port)
    }

    /// Kicks queue `q`'s event channel `times` times.
    pub fn kick(&mut self, q: usize, times: u32) -> io::Result<()> {
        for _ in 0..times {
            self.evtchn.notify(self.queues[q].port)?;
        }
        Ok(())
    }

    fn reap(&mut self, q: usize) {
        let queue = &mut self.queues[q];
        let prod = queue.rings.read_u32(0, ring_offsets::RSP_PROD);
        // A backend answering more than a ring ahead would be a bug of its own: stop there.
        let avail = prod.wrapping_sub(queue.tx_rsp_cons).min(TX_RING_SIZE);
        for _ in 0..avail {
            let off = RING_HEADER_SIZE + (queue.tx_rsp_cons % TX_RING_SIZE) as usize * TX_SLOT_SIZE;
            let rsp = TxResponse::from_slot(&queue.rings.read_bytes::<12>(0, off));
            if rsp.status != Status::Null as i16 {
                self.answers[q].insert(rsp.id, rsp.status);
            }
            queue.tx_rsp_cons = queue.tx_rsp_cons.wrapping_add(1);
        }
    }

    /// Waits up to `timeout` for answers to all of `ids` on queue `q`; returns each id's
    /// status (`None`: unanswered).
    pub fn answers(&mut self, q: usize, ids: &[u16], timeout: Duration) -> Vec<Option<i16>> {
        let end = Instant::now() + timeout;
        loop {
            self.reap(q);
            let got: Vec<Option<i16>> = ids
                .iter()
                .map(|id| self.answers[q].get(id).copied())
                .collect();
            if got.iter().all(Option::is_some) || Instant::now() > end {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Number of queues built.
    pub fn queue_count(&self) -> usize {
        self.queues.len()
    }

    /// Closes the way the toolstack expects during `xl network-detach`: waits (up to
    /// `timeout`) until the backend is taken offline or removed, then publishes Closed and
    /// waits for the backend to follow. Returns the backend's last state.
    pub fn close_on_detach(&mut self, timeout: Duration) -> io::Result<Option<u32>> {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            match self.read_be("online") {
                Some(v) if v == "0" => break,
                None => break,
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        self.set_state(state::CLOSED)?;
        self.wait_backend_state(&[state::CLOSED], Duration::from_secs(20))
    }
}
