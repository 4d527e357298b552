// SPDX-License-Identifier: GPL-2.0

//! A netif backend driven by hand in dom0 user space: it offers its features in the vif's
//! backend directory, follows the frontend's state, maps the frontend's rings and buffers
//! through gntdev, binds its event channels, consumes TX requests and writes RX responses
//! for the fake host's replies, correctly or as the mode says.

use std::collections::VecDeque;
use std::io;
use std::ops::Range;
use std::time::{Duration, Instant};

use xen_netif::backend::{parse_tx_packet, TxPacket, TxParse};
use xen_netif::flags::RxFlags;
use xen_netif::netif::{
    extra_type, Extra, ExtraInfo, GsoType, RxRequest, RxResponse, Status, TxResponse,
};
use xen_netif::ring::{
    check_attach, header, need_notify, published, slot_offset, unconsumed_requests, RX_RING_SIZE,
    RX_SLOT_SIZE, TX_RING_SIZE, TX_SLOT_SIZE,
};
use xen_netif::xenstore::{backend_keys, frontend_keys, parse_mac, parse_unsigned, queue_keys};
use xen_user::{EventChannels, ForeignPages, GrantMapper, WritablePages, XenStore, PAGE};

use crate::modes::{Kind, Mode, Trigger};
use crate::packets::{self, Frame};

/// XenbusState values used here.
pub mod state {
    /// Unknown.
    pub const UNKNOWN: u32 = 0;
    /// Initialising.
    pub const INITIALISING: u32 = 1;
    /// InitWait: the backend offers its features.
    pub const INIT_WAIT: u32 = 2;
    /// Connected.
    pub const CONNECTED: u32 = 4;
    /// Closing.
    pub const CLOSING: u32 = 5;
    /// Closed.
    pub const CLOSED: u32 = 6;
}

/// `fatal_skb_slots` of the C netback: more further slots than this is fatal.
const FATAL_SKB_SLOTS: u32 = 20;
/// Notifications an event storm sends (at most, in at most `STORM_MAX`).
const STORM_NOTIFICATIONS: u32 = 50_000;
/// Notifications per burst, between two passes over the rings.
const STORM_BURST: u32 = 200;
/// Longest event storm.
const STORM_MAX: Duration = Duration::from_secs(12);
/// How far ahead a "producer ahead" mode publishes: more than a ring.
const AHEAD: u32 = 300;
/// Data slots of the "too many slots" RX packet (the netfront limit is 18, 19 for a
/// short head).
const TOO_MANY_SLOTS: u32 = 20;
/// RX replies held back while the frontend has posted no buffer for them.
const RX_BACKLOG_MAX: usize = 64;
/// Status of the response the "past requests" mode writes past the last posted request:
/// a plausible length (a minimal Ethernet frame).
const PAST_REQUESTS_STATUS: i16 = 60;

/// What the backend plays and where.
pub struct Config {
    /// The guest's domain id.
    pub domid: u16,
    /// The vif's device id.
    pub devid: u32,
    /// The fake host's IPv4 address.
    pub ip: [u8; 4],
    /// The fake host's MAC address.
    pub mac: [u8; 6],
    /// The mode.
    pub mode: &'static Mode,
    /// `multi-queue-max-queues` to offer (the mode may override it).
    pub max_queues: Option<u32>,
    /// The backend gives up (and closes) after this long.
    pub timeout: Duration,
}

/// What the backend saw and did; printed at the end.
#[derive(Debug, Default)]
pub struct Stats {
    /// TX packets consumed (answered or not).
    pub tx_packets: u32,
    /// TX ring slots consumed.
    pub tx_slots: u32,
    /// TX packets answered `ERROR` (malformed, or a grant that would not map).
    pub tx_errors: u32,
    /// TX requests left unanswered in the ring at the end (`req_prod - rsp_prod`).
    pub tx_unanswered: u32,
    /// ARP requests for the fake host answered.
    pub arp_replies: u32,
    /// Echo requests to the fake host answered.
    pub echo_replies: u32,
    /// RX packets written (hostile ones included).
    pub rx_packets: u32,
    /// RX buffers (pages) mapped and written.
    pub rx_pages: u32,
    /// RX buffers that held non-zero bytes before we wrote them (XSA-403).
    pub rx_pages_stale: u32,
    /// RX replies dropped because the frontend posted no buffer for them.
    pub rx_no_buffer: u32,
    /// Grants that could not be mapped.
    pub map_failures: u32,
    /// The frontend did something a backend must not accept (ring overflow, ...).
    pub frontend_fatal: Option<String>,
    /// The bad answer given, if any.
    pub hostile: Option<String>,
    /// Queues connected.
    pub queues: u32,
    /// Times the frontend connected.
    pub connects: u32,
}

/// One queue: its two rings mapped read-write and its event channel(s).
struct Queue<'m> {
    tx: WritablePages<'m>,
    rx: WritablePages<'m>,
    /// Local port for TX notifications (and everything, when not split).
    port_tx: u32,
    /// Local port for RX notifications (`port_tx` when not split).
    port_rx: u32,
    tx_req_cons: u32,
    tx_rsp_prod_pvt: u32,
    tx_rsp_published: u32,
    rx_req_cons: u32,
    rx_rsp_prod_pvt: u32,
    rx_rsp_published: u32,
}

/// The hand-driven backend of one vif.
pub struct Backend<'m> {
    cfg: Config,
    xs: XenStore,
    evtchn: EventChannels,
    mapper: &'m GrantMapper,
    be: String,
    fe: String,
    state: u32,
    queues: Vec<Queue<'m>>,
    rx_backlog: VecDeque<Vec<u8>>,
    /// The bad answer is still to come.
    armed: bool,
    /// Echo replies sent (the backwards mode needs two).
    echo_sent: u32,
    /// TX processing stopped (a fatal frontend error).
    tx_dead: bool,
    kept_ro: Vec<ForeignPages<'m>>,
    kept_rw: Vec<WritablePages<'m>>,
    /// A port bound before the frontend connected (early-event mode): remote, local.
    early_port: Option<(u32, u32)>,
    /// The state-flap mode's flap is done.
    flapped: bool,
    /// An event storm under way: its start and the notifications sent.
    storm: Option<(Instant, u32)>,
    /// What happened, for the report.
    pub stats: Stats,
}

/// Prints one log line at once (the scenario reads the log while the tool runs).
fn say(line: &str) {
    use std::io::Write;
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn err(msg: String) -> io::Error {
    io::Error::other(msg)
}

impl<'m> Backend<'m> {
    /// Opens the devices and finds the vif's directories (waiting up to 30 s for the
    /// toolstack to write the backend directory).
    pub fn new(cfg: Config, mapper: &'m GrantMapper) -> io::Result<Self> {
        let mut xs = XenStore::open()?;
        let be = format!("/local/domain/0/backend/vif/{}/{}", cfg.domid, cfg.devid);
        let end = Instant::now() + Duration::from_secs(30);
        let fe = loop {
            if let Some(fe) = xs.read(&format!("{be}/frontend"))? {
                break fe;
            }
            if Instant::now() > end {
                return Err(err(format!("{be}/frontend: no such node after 30 s")));
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let armed = cfg.mode.trigger() != Trigger::None;
        Ok(Self {
            cfg,
            xs,
            evtchn: EventChannels::open()?,
            mapper,
            be,
            fe,
            state: state::INITIALISING,
            queues: Vec::new(),
            rx_backlog: VecDeque::new(),
            armed,
            echo_sent: 0,
            tx_dead: false,
            kept_ro: Vec::new(),
            kept_rw: Vec::new(),
            early_port: None,
            flapped: false,
            storm: None,
            stats: Stats::default(),
        })
    }

    fn be_key(&self, key: &str) -> String {
        format!("{}/{key}", self.be)
    }

    fn set_state(&mut self, st: u32) -> io::Result<()> {
        self.xs.write(&self.be_key("state"), &st.to_string())?;
        self.state = st;
        say(&format!("XNTB-STATE backend={st}"));
        Ok(())
    }

    /// Writes the backend's features and moves to InitWait.
    fn offer(&mut self) -> io::Result<()> {
        for (key, value) in [
            (backend_keys::FEATURE_SG, "1"),
            (backend_keys::FEATURE_GSO_TCPV4, "1"),
            (backend_keys::FEATURE_GSO_TCPV6, "1"),
            (backend_keys::FEATURE_IPV6_CSUM_OFFLOAD, "1"),
            (backend_keys::FEATURE_RX_COPY, "1"),
            (backend_keys::FEATURE_RX_FLIP, "0"),
            (backend_keys::FEATURE_SPLIT_EVENT_CHANNELS, "0"),
        ] {
            self.xs.write(&self.be_key(key), value)?;
        }
        if let Some(max) = self.cfg.mode.max_queues_key(self.cfg.max_queues) {
            self.xs
                .write(&self.be_key(backend_keys::MULTI_QUEUE_MAX_QUEUES), &max)?;
        }
        self.set_state(state::INIT_WAIT)
    }

    /// Plays the backend until the toolstack removes the vif (the frontend closed with
    /// `online` 0, or the directories went), or the timeout.
    pub fn run(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + self.cfg.timeout;
        self.xs.watch(&format!("{}/state", self.fe), "fe")?;
        self.xs.watch(&self.be_key("online"), "online")?;
        if matches!(self.cfg.mode.kind, Kind::EarlyEvent | Kind::StateFlap) {
            // Every key the frontend writes, to catch its event channel at once.
            self.xs.watch(&self.fe.clone(), "fe-dir")?;
        }
        self.offer()?;
        let mut last_look = Instant::now();
        loop {
            if Instant::now() > deadline {
                say("XNTB-TIMEOUT");
                self.disconnect();
                let _ = self.set_state(state::CLOSED);
                return Ok(());
            }
            let wait = if self.queues.is_empty() {
                Duration::from_millis(200)
            } else {
                Duration::ZERO
            };
            let mut changed = false;
            if self.xs.next_event(wait)?.is_some() {
                changed = true;
                while self.xs.next_event(Duration::ZERO)?.is_some() {}
            }
            if changed || last_look.elapsed() > Duration::from_secs(1) {
                last_look = Instant::now();
                if self.follow_frontend()? {
                    return Ok(());
                }
            }
            if !self.queues.is_empty() {
                if self.storm.is_some() {
                    self.storm()?;
                    self.evtchn.wait(Duration::ZERO)?;
                } else {
                    self.evtchn.wait(Duration::from_millis(50))?;
                }
                self.service()?;
            }
        }
    }

    /// Reacts to the frontend's state; `true` when the backend is done.
    fn follow_frontend(&mut self) -> io::Result<bool> {
        let fe_state = self
            .xs
            .read(&format!("{}/state", self.fe))?
            .and_then(|v| parse_unsigned(v.as_bytes()));
        let online = self.xs.read(&self.be_key("online"))?;
        if self.xs.read(&self.be_key("state"))?.is_none() {
            say("XNTB-GONE backend directory removed");
            self.disconnect();
            return Ok(true);
        }
        if self.cfg.mode.kind == Kind::EarlyEvent
            && self.early_port.is_none()
            && self.state == state::INIT_WAIT
            && fe_state != Some(state::CONNECTED)
        {
            self.early_events()?;
        }
        if self.cfg.mode.kind == Kind::StateFlap
            && !self.flapped
            && self.state == state::INIT_WAIT
            && fe_state != Some(state::CONNECTED)
        {
            let fe = self.fe.clone();
            if self.read_fe_u32(&fe, queue_keys::EVENT_CHANNEL)?.is_some() {
                self.flapped = true;
                for st in [state::CLOSING, state::CLOSED, state::INIT_WAIT] {
                    self.set_state(st)?;
                    std::thread::sleep(Duration::from_millis(300));
                }
                let note =
                    "Closing, Closed, InitWait (300 ms apart) once the frontend's keys appeared";
                say(&format!("XNTB-HOSTILE state-flap: {note}"));
                self.stats.hostile = Some(note.into());
                return Ok(false);
            }
        }
        match fe_state {
            None | Some(state::UNKNOWN) => {
                say(&format!("XNTB-FRONTEND state={fe_state:?}: gone"));
                self.disconnect();
                self.set_state(state::CLOSED)?;
                return Ok(true);
            }
            Some(state::CONNECTED) if self.queues.is_empty() && self.state == state::INIT_WAIT => {
                if let Err(e) = self.connect() {
                    say(&format!("XNTB-REFUSED {e}"));
                    self.disconnect();
                    self.set_state(state::CLOSING)?;
                }
            }
            Some(state::CLOSING) if self.state != state::CLOSING && self.state != state::CLOSED => {
                self.disconnect();
                self.set_state(state::CLOSING)?;
            }
            Some(state::CLOSED) => {
                self.disconnect();
                if self.state != state::CLOSED {
                    self.set_state(state::CLOSED)?;
                }
                if online.as_deref() != Some("1") {
                    return Ok(true);
                }
            }
            Some(state::INITIALISING) if self.state == state::CLOSED => {
                // A frontend coming back (reconnect): offer again.
                self.set_state(state::INIT_WAIT)?;
            }
            _ => {}
        }
        Ok(false)
    }

    /// Early-event mode: once the frontend's (flat) event channel key is there, binds it
    /// and notifies it without pause until the frontend publishes Connected (at most 10 s).
    fn early_events(&mut self) -> io::Result<()> {
        let fe = self.fe.clone();
        let Some(remote) = self.read_fe_u32(&fe, queue_keys::EVENT_CHANNEL)? else {
            return Ok(());
        };
        let local = match self.evtchn.bind_interdomain(self.cfg.domid, remote) {
            Ok(l) => l,
            Err(e) => {
                say(&format!(
                    "XNTB-EARLY cannot bind event channel {remote} yet: {e}"
                ));
                return Ok(());
            }
        };
        self.early_port = Some((remote, local));
        self.armed = false;
        let t0 = Instant::now();
        let mut sent = 0u32;
        let fe_state = format!("{fe}/state");
        loop {
            for _ in 0..20 {
                self.evtchn.notify(local)?;
                sent += 1;
            }
            let st = self
                .xs
                .read(&fe_state)?
                .and_then(|v| parse_unsigned(v.as_bytes()));
            if st != Some(state::INITIALISING) || t0.elapsed() > Duration::from_secs(10) {
                let note = format!(
                    "{sent} notifications on event channel {remote} in {} ms, from its key until the frontend's state {st:?}",
                    t0.elapsed().as_millis()
                );
                say(&format!("XNTB-HOSTILE early-event: {note}"));
                self.stats.hostile = Some(note);
                return Ok(());
            }
        }
    }

    fn read_fe_u32(&mut self, dir: &str, key: &str) -> io::Result<Option<u32>> {
        Ok(self
            .xs
            .read(&format!("{dir}/{key}"))?
            .and_then(|v| parse_unsigned(v.as_bytes())))
    }

    /// Maps the frontend's rings, binds its event channels and publishes Connected.
    fn connect(&mut self) -> io::Result<()> {
        let fe = self.fe.clone();
        let num_key = self
            .xs
            .read(&format!("{fe}/{}", frontend_keys::MULTI_QUEUE_NUM_QUEUES))?;
        let num = match &num_key {
            None => 1,
            Some(v) => parse_unsigned(v.as_bytes())
                .ok_or_else(|| err(format!("multi-queue-num-queues {v:?} unparsable")))?,
        };
        if num == 0 || num > 64 {
            return Err(err(format!("frontend asked for {num} queues")));
        }
        let mut features = Vec::new();
        for key in [
            frontend_keys::REQUEST_RX_COPY,
            frontend_keys::FEATURE_RX_NOTIFY,
            frontend_keys::FEATURE_SG,
            frontend_keys::FEATURE_GSO_TCPV4,
            frontend_keys::FEATURE_GSO_TCPV6,
            frontend_keys::FEATURE_IPV6_CSUM_OFFLOAD,
        ] {
            let v = self.xs.read(&format!("{fe}/{key}"))?;
            features.push(format!("{key}={}", v.as_deref().unwrap_or("-")));
        }
        let mac = self.xs.read(&format!("{fe}/{}", frontend_keys::MAC))?;
        let mapper = self.mapper;
        let domid = self.cfg.domid;
        for q in 0..num {
            let dir = if num == 1 {
                fe.clone()
            } else {
                format!("{fe}/queue-{q}")
            };
            let need = |v: Option<u32>, key: &str| {
                v.ok_or_else(|| err(format!("{dir}/{key} missing or unparsable")))
            };
            let tx_ref = need(
                self.read_fe_u32(&dir, queue_keys::TX_RING_REF)?,
                queue_keys::TX_RING_REF,
            )?;
            let rx_ref = need(
                self.read_fe_u32(&dir, queue_keys::RX_RING_REF)?,
                queue_keys::RX_RING_REF,
            )?;
            let split = (
                self.read_fe_u32(&dir, queue_keys::EVENT_CHANNEL_TX)?,
                self.read_fe_u32(&dir, queue_keys::EVENT_CHANNEL_RX)?,
            );
            let (remote_tx, remote_rx) = match split {
                (Some(t), Some(r)) => (t, Some(r)),
                _ => (
                    need(
                        self.read_fe_u32(&dir, queue_keys::EVENT_CHANNEL)?,
                        queue_keys::EVENT_CHANNEL,
                    )?,
                    None,
                ),
            };
            let tx = mapper
                .map_writable(domid, &[tx_ref])
                .map_err(|e| err(format!("mapping tx-ring-ref {tx_ref}: {e}")))?;
            let rx = mapper
                .map_writable(domid, &[rx_ref])
                .map_err(|e| err(format!("mapping rx-ring-ref {rx_ref}: {e}")))?;
            let tx_rsp = tx.read_u32(0, header::RSP_PROD);
            let tx_req = tx.read_u32(0, header::REQ_PROD);
            let rx_rsp = rx.read_u32(0, header::RSP_PROD);
            let rx_req = rx.read_u32(0, header::REQ_PROD);
            check_attach(tx_req, tx_rsp, TX_RING_SIZE)
                .map_err(|e| err(format!("queue {q}: TX ring overflow at attach: {e:?}")))?;
            check_attach(rx_req, rx_rsp, RX_RING_SIZE)
                .map_err(|e| err(format!("queue {q}: RX ring overflow at attach: {e:?}")))?;
            let port_tx = match self.early_port {
                Some((remote, local)) if remote == remote_tx && q == 0 => local,
                _ => self.evtchn.bind_interdomain(domid, remote_tx)?,
            };
            let port_rx = match remote_rx {
                Some(r) => self.evtchn.bind_interdomain(domid, r)?,
                None => port_tx,
            };
            say(&format!(
                "XNTB-QUEUE {q} tx-ring-ref={tx_ref} rx-ring-ref={rx_ref} event-channel={remote_tx}{} local-ports={port_tx},{port_rx} tx req/rsp={tx_req}/{tx_rsp} rx req/rsp={rx_req}/{rx_rsp}",
                remote_rx.map_or(String::new(), |r| format!(",{r}"))
            ));
            self.queues.push(Queue {
                tx,
                rx,
                port_tx,
                port_rx,
                tx_req_cons: tx_rsp,
                tx_rsp_prod_pvt: tx_rsp,
                tx_rsp_published: tx_rsp,
                rx_req_cons: rx_rsp,
                rx_rsp_prod_pvt: rx_rsp,
                rx_rsp_published: rx_rsp,
            });
        }
        self.stats.queues = num;
        self.stats.connects += 1;
        self.tx_dead = false;
        self.set_state(state::CONNECTED)?;
        say(&format!(
            "XNTB-CONNECTED queues={num} multi-queue-num-queues={} mac={} {}",
            num_key.as_deref().unwrap_or("-"),
            mac.as_deref().unwrap_or("-"),
            features.join(" ")
        ));
        // Whatever the frontend queued before we mapped the rings.
        for q in 0..self.queues.len() {
            let queue = &self.queues[q];
            self.evtchn.notify(queue.port_tx)?;
            if queue.port_rx != queue.port_tx {
                self.evtchn.notify(queue.port_rx)?;
            }
        }
        Ok(())
    }

    /// Unmaps the rings and unbinds the event channels (mappings a mode keeps stay).
    fn disconnect(&mut self) {
        if self.queues.is_empty() {
            return;
        }
        for queue in &mut self.queues {
            let req = queue.tx.read_u32(0, header::REQ_PROD);
            self.stats.tx_unanswered += req.wrapping_sub(queue.tx_rsp_prod_pvt);
        }
        for queue in self.queues.drain(..) {
            let _ = self.evtchn.unbind(queue.port_tx);
            if queue.port_rx != queue.port_tx {
                let _ = self.evtchn.unbind(queue.port_rx);
            }
        }
        self.rx_backlog.clear();
        self.early_port = None;
        say("XNTB-DISCONNECTED");
    }

    /// Services every queue: TX requests, then RX replies waiting for buffers.
    fn service(&mut self) -> io::Result<()> {
        for q in 0..self.queues.len() {
            if q < self.queues.len() && !self.tx_dead && self.cfg.mode.kind != Kind::TxNeverAnswer {
                self.service_tx(q)?;
            }
        }
        if !self.queues.is_empty() {
            self.service_rx(0)?;
        }
        Ok(())
    }

    fn frontend_fatal(&mut self, what: String) {
        say(&format!("XNTB-FRONTEND-FATAL {what}"));
        self.stats.frontend_fatal.get_or_insert(what);
        self.tx_dead = true;
    }

    /// Consumes the TX requests of queue `q`, answers them, and handles the frames.
    fn service_tx(&mut self, q: usize) -> io::Result<()> {
        loop {
            let queue = &self.queues[q];
            let req_prod = queue.tx.read_u32(0, header::REQ_PROD);
            let n = match unconsumed_requests(
                req_prod,
                queue.tx_req_cons,
                queue.tx_rsp_prod_pvt,
                TX_RING_SIZE,
            ) {
                Ok(n) => n,
                Err(e) => {
                    self.frontend_fatal(format!("queue {q}: impossible TX req_prod {e:?}"));
                    return Ok(());
                }
            };
            if n == 0 {
                // Going idle: ask for a notification at the next request, then look again.
                let cons = queue.tx_req_cons;
                queue
                    .tx
                    .write_u32(0, header::REQ_EVENT, cons.wrapping_add(1));
                if queue.tx.read_u32(0, header::REQ_PROD) == req_prod {
                    return Ok(());
                }
                continue;
            }
            let cons = queue.tx_req_cons;
            let parsed = {
                let tx = &queue.tx;
                parse_tx_packet(
                    n,
                    |i| {
                        tx.read_bytes::<12>(
                            0,
                            slot_offset(cons.wrapping_add(i), TX_RING_SIZE, TX_SLOT_SIZE),
                        )
                    },
                    FATAL_SKB_SLOTS,
                )
            };
            let (pkt, ok) = match parsed {
                TxParse::Packet(pkt) => (pkt, true),
                TxParse::Drop(pkt, why) => {
                    say(&format!("XNTB-TX-DROP {why:?}"));
                    (pkt, false)
                }
                TxParse::Fatal(f) => {
                    self.frontend_fatal(format!("queue {q}: {f:?}"));
                    return Ok(());
                }
            };
            self.queues[q].tx_req_cons = cons.wrapping_add(pkt.consumed);
            self.stats.tx_packets += 1;
            self.stats.tx_slots += pkt.consumed;
            let frame = if ok && pkt.mcast.is_none() {
                self.copy_tx(&pkt)
            } else {
                None
            };
            let ok = ok && (pkt.mcast.is_some() || frame.is_some());
            if !ok {
                self.stats.tx_errors += 1;
            }
            let for_us = frame
                .as_deref()
                .map(|f| packets::classify(f, self.cfg.ip) != Frame::NotForUs)
                .unwrap_or(false);
            let hostile = for_us && self.armed && self.cfg.mode.trigger() == Trigger::FirstTx;
            if hostile {
                self.armed = false;
            }
            self.answer_tx(q, &pkt, ok, hostile)?;
            if hostile && self.cfg.mode.kind == Kind::RingsVanish {
                say("XNTB-HOSTILE rings-vanish: rings unmapped, event channel unbound, still Connected");
                self.stats.hostile =
                    Some("rings unmapped and event channel unbound while Connected".into());
                self.disconnect();
                return Ok(());
            }
            if let Some(f) = frame {
                self.handle_frame(&f)?;
            }
        }
    }

    /// Copies a packet's data out of the frontend's pages (each grant mapped read-only
    /// for the copy); `None` when a grant would not map.
    fn copy_tx(&mut self, pkt: &TxPacket) -> Option<Vec<u8>> {
        let mut frame = Vec::with_capacity(pkt.len() as usize);
        let keep = self.armed && self.cfg.mode.kind == Kind::TxKeepMapped;
        let mut pieces = vec![(pkt.first.gref, pkt.first.offset, pkt.first_len)];
        pieces.extend(pkt.frags().iter().map(|f| (f.gref, f.offset, f.len)));
        let mut kept = Vec::new();
        for (gref, offset, len) in pieces {
            let pages = match self.mapper.map_readonly(self.cfg.domid, &[gref]) {
                Ok(p) => p,
                Err(e) => {
                    say(&format!("XNTB-MAP-FAILED TX gref {gref}: {e}"));
                    self.stats.map_failures += 1;
                    return None;
                }
            };
            let start = frame.len();
            frame.resize(start + usize::from(len), 0);
            pages.read_into(0, usize::from(offset), &mut frame[start..]);
            if keep {
                kept.push(pages);
            }
        }
        // Kept only if the frame turns out to be the one the mode waits for.
        if keep && packets::classify(&frame, self.cfg.ip) != Frame::NotForUs {
            say(&format!(
                "XNTB-HOSTILE tx-keep-mapped: {} grant(s) of the packet stay mapped",
                kept.len()
            ));
            self.stats.hostile = Some("TX grant kept mapped".into());
            self.kept_ro.extend(kept);
        }
        Some(frame)
    }

    /// Writes the responses of one TX packet (and, when `hostile`, the mode's bad ones).
    fn answer_tx(&mut self, q: usize, pkt: &TxPacket, ok: bool, hostile: bool) -> io::Result<()> {
        let status = if ok { Status::Okay } else { Status::Error } as i16;
        let mut rsps = Vec::with_capacity(pkt.consumed as usize);
        rsps.push(TxResponse {
            id: pkt.first.id,
            status,
        });
        for _ in 0..pkt.extra_slots {
            rsps.push(TxResponse {
                id: 0,
                status: Status::Null as i16,
            });
        }
        rsps.extend(
            pkt.further_ids()
                .iter()
                .map(|&id| TxResponse { id, status }),
        );
        let mut ahead = 0;
        if hostile {
            let kind = self.cfg.mode.kind;
            let note = match kind {
                Kind::TxRspAhead => {
                    ahead = AHEAD;
                    format!("TX rsp_prod published {AHEAD} ahead of the responses")
                }
                Kind::TxIdRange => {
                    rsps[0].id = rsps[0].id.wrapping_add(256);
                    format!(
                        "TX response id {} (request id {})",
                        rsps[0].id, pkt.first.id
                    )
                }
                Kind::TxIdInactive => {
                    let pending = self.pending_tx_ids(q);
                    let id = (0..TX_RING_SIZE as u16)
                        .find(|i| !pending.contains(i) && *i != pkt.first.id)
                        .unwrap_or(0);
                    rsps[0].id = id;
                    format!(
                        "TX response id {id} for request id {} (not pending)",
                        pkt.first.id
                    )
                }
                Kind::TxRspNull => {
                    rsps[0].status = Status::Null as i16;
                    format!("TX request id {} answered RSP_NULL", pkt.first.id)
                }
                Kind::TxIdDup => {
                    rsps.push(rsps[0]);
                    format!("TX response for id {} written twice", pkt.first.id)
                }
                _ => String::new(),
            };
            if !note.is_empty() {
                say(&format!("XNTB-HOSTILE {}: {note}", self.cfg.mode.name));
                self.stats.hostile = Some(note);
            }
        }
        let queue = &mut self.queues[q];
        for rsp in &rsps {
            let off = slot_offset(queue.tx_rsp_prod_pvt, TX_RING_SIZE, TX_SLOT_SIZE);
            queue.tx.write_from(0, off, &rsp.to_slot());
            queue.tx_rsp_prod_pvt = queue.tx_rsp_prod_pvt.wrapping_add(1);
        }
        let old = queue.tx_rsp_published;
        let new = queue.tx_rsp_prod_pvt.wrapping_add(ahead);
        queue.tx.write_u32(0, header::RSP_PROD, new);
        queue.tx_rsp_published = new;
        if need_notify(old, new, queue.tx.read_u32(0, header::RSP_EVENT)) || ahead > 0 {
            self.evtchn.notify(queue.port_tx)?;
        }
        Ok(())
    }

    /// Ids of the TX requests published and not answered yet on queue `q`.
    fn pending_tx_ids(&self, q: usize) -> Vec<u16> {
        let queue = &self.queues[q];
        let req_prod = queue.tx.read_u32(0, header::REQ_PROD);
        let n = req_prod
            .wrapping_sub(queue.tx_rsp_prod_pvt)
            .min(TX_RING_SIZE);
        (0..n)
            .map(|i| {
                let idx = queue.tx_rsp_prod_pvt.wrapping_add(i);
                let b = queue
                    .tx
                    .read_bytes::<12>(0, slot_offset(idx, TX_RING_SIZE, TX_SLOT_SIZE));
                u16::from_le_bytes([b[8], b[9]])
            })
            .collect()
    }

    /// The fake host's answer to a frame, if any, queued for RX.
    fn handle_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        match packets::classify(frame, self.cfg.ip) {
            Frame::ArpRequest {
                sender_mac,
                sender_ip,
            } => {
                say(&format!(
                    "XNTB-ARP who-has {} from {}",
                    ip_str(self.cfg.ip),
                    packets::mac_str(&sender_mac)
                ));
                self.stats.arp_replies += 1;
                self.queue_rx(packets::arp_reply(
                    self.cfg.mac,
                    self.cfg.ip,
                    sender_mac,
                    sender_ip,
                ));
            }
            Frame::EchoRequest { seq } => {
                if let Some(reply) = packets::echo_reply(frame, self.cfg.mac) {
                    say(&format!("XNTB-ECHO seq={seq} len={}", frame.len()));
                    self.stats.echo_replies += 1;
                    if self.armed && self.cfg.mode.kind == Kind::EventStorm {
                        // The storm runs from the main loop, between the rings' work.
                        self.armed = false;
                        self.storm = Some((Instant::now(), 0));
                        say("XNTB-STORM started");
                    }
                    self.queue_rx(reply);
                }
            }
            Frame::OtherForUs | Frame::NotForUs => {}
        }
        Ok(())
    }

    fn queue_rx(&mut self, frame: Vec<u8>) {
        if self.rx_backlog.len() >= RX_BACKLOG_MAX {
            self.stats.rx_no_buffer += 1;
            return;
        }
        self.rx_backlog.push_back(frame);
    }

    /// Event storm: notifications with nothing behind them.
    fn storm(&mut self) -> io::Result<()> {
        let Some((t0, sent)) = self.storm else {
            return Ok(());
        };
        let Some(queue) = self.queues.first() else {
            self.storm = None;
            return Ok(());
        };
        let port = queue.port_rx;
        for _ in 0..STORM_BURST {
            self.evtchn.notify(port)?;
        }
        let sent = sent + STORM_BURST;
        if sent < STORM_NOTIFICATIONS && t0.elapsed() < STORM_MAX {
            self.storm = Some((t0, sent));
            return Ok(());
        }
        self.storm = None;
        let note = format!(
            "{sent} notifications in {} ms, in bursts of {STORM_BURST} between the rings' work",
            t0.elapsed().as_millis()
        );
        say(&format!("XNTB-HOSTILE event-storm: {note}"));
        self.stats.hostile = Some(note);
        Ok(())
    }

    /// Writes the waiting replies into queue `q`'s posted RX buffers.
    fn service_rx(&mut self, q: usize) -> io::Result<()> {
        while let Some((len, is_echo)) = self
            .rx_backlog
            .front()
            .map(|f| (f.len(), packets::is_echo_reply(f)))
        {
            let hostile =
                is_echo && self.armed && self.cfg.mode.trigger() == Trigger::FirstEchoReply;
            let slots = self.rx_slots_for(len, hostile);
            let queue = &self.queues[q];
            let req_prod = queue.rx.read_u32(0, header::REQ_PROD);
            let posted = match published(req_prod, queue.rx_req_cons, RX_RING_SIZE) {
                Ok(n) => n,
                Err(e) => {
                    self.frontend_fatal(format!("queue {q}: impossible RX req_prod {e:?}"));
                    self.rx_backlog.clear();
                    return Ok(());
                }
            };
            if posted < slots {
                // Wait for buffers: ask for a notification when more are posted.
                let cons = queue.rx_req_cons;
                queue
                    .rx
                    .write_u32(0, header::REQ_EVENT, cons.wrapping_add(slots));
                if queue.rx.read_u32(0, header::REQ_PROD) == req_prod {
                    return Ok(());
                }
                continue;
            }
            let frame = self.rx_backlog.pop_front().unwrap_or_default();
            self.write_rx(q, &frame, hostile)?;
            if is_echo {
                self.echo_sent += 1;
            }
        }
        Ok(())
    }

    /// RX slots (requests) one reply takes.
    fn rx_slots_for(&self, len: usize, hostile: bool) -> u32 {
        let kind = if hostile {
            self.cfg.mode.kind
        } else {
            Kind::Correct
        };
        RxLayout::new(kind, len).slots()
    }

    /// Takes the posted requests of queue `q` one reply needs, writes `frame` into their
    /// buffers and the responses into their slots, as the mode says when `hostile`.
    fn write_rx(&mut self, q: usize, frame: &[u8], hostile: bool) -> io::Result<()> {
        let kind = if hostile {
            self.armed = false;
            self.cfg.mode.kind
        } else {
            Kind::Correct
        };
        let layout = RxLayout::new(kind, frame.len());
        // The requests, each read once.
        let reqs: Vec<RxRequest> = {
            let queue = &mut self.queues[q];
            (0..layout.slots())
                .map(|_| {
                    let idx = queue.rx_req_cons;
                    queue.rx_req_cons = idx.wrapping_add(1);
                    RxRequest::from_le_bytes(
                        &queue
                            .rx
                            .read_bytes::<8>(0, slot_offset(idx, RX_RING_SIZE, RX_SLOT_SIZE)),
                    )
                })
                .collect()
        };
        // Data into the buffers: each mapped read-write, looked at (XSA-403: a posted
        // buffer should hold no stale data), written, and unmapped unless the mode keeps it.
        let mut written = Vec::with_capacity(layout.chunks.len());
        for (i, range) in layout.chunks.iter().enumerate() {
            let req = reqs[layout.request_of_chunk(i)];
            let page = match self.mapper.map_writable(self.cfg.domid, &[req.gref]) {
                Ok(p) => p,
                Err(e) => {
                    say(&format!("XNTB-MAP-FAILED RX gref {}: {e}", req.gref));
                    self.stats.map_failures += 1;
                    written.push(false);
                    continue;
                }
            };
            let mut old = vec![0u8; PAGE];
            page.read_into(0, 0, &mut old);
            self.stats.rx_pages += 1;
            if let Some(at) = old.iter().position(|&b| b != 0) {
                self.stats.rx_pages_stale += 1;
                if self.stats.rx_pages_stale <= 3 {
                    say(&format!(
                        "XNTB-RX-STALE gref {} holds data from offset {at} before we wrote it",
                        req.gref
                    ));
                }
            }
            page.write_from(0, 0, &frame[range.clone()]);
            if kind == Kind::RxKeepMapped {
                self.kept_rw.push(page);
            }
            written.push(true);
        }
        let slots_out = rx_slots(kind, &layout, &reqs, &written);
        // What the mode does to the producer index.
        let mut ahead = 0u32;
        let mut back = false;
        let mut note = match kind {
            Kind::RxRspAhead => {
                ahead = AHEAD;
                Some(format!("RX rsp_prod published {AHEAD} ahead"))
            }
            Kind::RxRspBackwards if self.echo_sent == 0 => {
                // The backwards step needs a second reply: stay armed for it.
                self.armed = true;
                None
            }
            Kind::RxRspBackwards => {
                back = true;
                Some("RX rsp_prod moved back by one after two replies".to_string())
            }
            other => rx_note(other, &layout, frame.len()),
        };
        let queue = &mut self.queues[q];
        let first = queue.rx_rsp_prod_pvt;
        for bytes in &slots_out {
            let off = slot_offset(queue.rx_rsp_prod_pvt, RX_RING_SIZE, RX_SLOT_SIZE);
            queue.rx.write_from(0, off, bytes);
            queue.rx_rsp_prod_pvt = queue.rx_rsp_prod_pvt.wrapping_add(1);
        }
        let old = queue.rx_rsp_published;
        let mut new = queue.rx_rsp_prod_pvt.wrapping_add(ahead);
        let mut force_notify = ahead > 0;
        if kind == Kind::RxRspPastRequests {
            // The frontend's req_prod now, after this reply's requests were taken.
            let req_prod = queue.rx.read_u32(0, header::REQ_PROD);
            let past = past_requests(req_prod, first, queue.rx_rsp_prod_pvt);
            if let Some(rsp) = past.response {
                let off = slot_offset(req_prod, RX_RING_SIZE, RX_SLOT_SIZE);
                queue.rx.write_from(0, off, &rsp.to_le_bytes());
            }
            new = past.rsp_prod;
            force_notify = true;
            note = Some(past.note(req_prod));
        }
        queue.rx.write_u32(0, header::RSP_PROD, new);
        queue.rx_rsp_published = new;
        let port = queue.port_rx;
        if need_notify(old, new, queue.rx.read_u32(0, header::RSP_EVENT)) || force_notify {
            self.evtchn.notify(port)?;
        }
        if back {
            // Let the frontend take both replies first, then step back.
            std::thread::sleep(Duration::from_millis(200));
            let queue = &mut self.queues[q];
            let back_to = queue.rx_rsp_published.wrapping_sub(1);
            queue.rx.write_u32(0, header::RSP_PROD, back_to);
            queue.rx_rsp_published = back_to;
            self.evtchn.notify(port)?;
        }
        self.stats.rx_packets += 1;
        if let Some(note) = note {
            say(&format!("XNTB-HOSTILE {}: {note}", self.cfg.mode.name));
            self.stats.hostile = Some(note);
        }
        Ok(())
    }

    /// The one-line summary.
    pub fn summary(&self) -> String {
        let s = &self.stats;
        format!(
            "mode={} connects={} queues={} tx_packets={} tx_slots={} tx_errors={} tx_unanswered={} arp_replies={} echo_replies={} rx_packets={} rx_pages={} rx_pages_stale={} rx_no_buffer={} map_failures={} kept_mapped={} frontend_fatal={} hostile={}",
            self.cfg.mode.name,
            s.connects,
            s.queues,
            s.tx_packets,
            s.tx_slots,
            s.tx_errors,
            s.tx_unanswered,
            s.arp_replies,
            s.echo_replies,
            s.rx_packets,
            s.rx_pages,
            s.rx_pages_stale,
            s.rx_no_buffer,
            s.map_failures,
            self.kept_ro.len() + self.kept_rw.len(),
            s.frontend_fatal.as_deref().unwrap_or("none").replace(' ', "_"),
            s.hostile.as_deref().unwrap_or("none").replace(' ', "_"),
        )
    }
}

/// How one RX reply uses the ring: its data cut into chunks (one per data slot) and the
/// extras that follow the first data slot.
#[derive(Debug)]
struct RxLayout {
    chunks: Vec<Range<usize>>,
    extras: Vec<ExtraInfo>,
}

/// Extras of the endless chain.
const ENDLESS_EXTRAS: usize = 8;

impl RxLayout {
    /// The layout of a `len`-byte reply under `kind` (`Kind::Correct` for a good one).
    fn new(kind: Kind, len: usize) -> Self {
        let per = if kind == Kind::RxTooManySlots {
            len.div_ceil(TOO_MANY_SLOTS as usize).max(1)
        } else {
            PAGE
        };
        let n = if kind == Kind::RxTooManySlots {
            TOO_MANY_SLOTS as usize
        } else {
            len.div_ceil(PAGE).max(1)
        };
        let chunks = (0..n)
            .map(|i| (i * per).min(len)..((i + 1) * per).min(len))
            .collect();
        let extras = match kind {
            Kind::RxExtraEndless => (0..ENDLESS_EXTRAS)
                .map(|_| {
                    ExtraInfo::encode(
                        &Extra::Hash {
                            hash_type: 0,
                            algorithm: 1,
                            value: 0,
                        },
                        true,
                    )
                })
                .collect(),
            Kind::RxExtraUnknown => vec![ExtraInfo {
                type_: 7,
                flags: 0,
                payload: [0; 6],
            }],
            Kind::RxGsoUnasked => vec![ExtraInfo::encode(
                &Extra::Gso {
                    size: 1400,
                    gso_type: GsoType::TcpV4,
                },
                false,
            )],
            Kind::RxGsoSize0 => vec![ExtraInfo {
                type_: extra_type::GSO,
                flags: 0,
                // size 0 (u16), type TCPv4, pad, features 0.
                payload: [0, 0, GsoType::TcpV4.to_wire(), 0, 0, 0],
            }],
            _ => Vec::new(),
        };
        Self { chunks, extras }
    }

    /// Ring slots (posted requests) the reply takes.
    fn slots(&self) -> u32 {
        (self.chunks.len() + self.extras.len()) as u32
    }

    /// Which of the reply's requests carries data chunk `i`: the first data slot, then
    /// the extras, then the other data slots.
    fn request_of_chunk(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.extras.len() + i
        }
    }
}

/// The response slots of one reply in ring order, each in its request's slot, bad as
/// `kind` says: `reqs` are the requests taken, `written[i]` whether chunk `i` reached its
/// buffer (a buffer that would not map is answered `ERROR`).
fn rx_slots(kind: Kind, layout: &RxLayout, reqs: &[RxRequest], written: &[bool]) -> Vec<[u8; 8]> {
    let n = layout.chunks.len();
    let mut out = Vec::with_capacity(layout.slots() as usize);
    for (i, range) in layout.chunks.iter().enumerate() {
        let mut flags = RxFlags::EMPTY;
        if i + 1 < n {
            flags = flags.with(RxFlags::MORE_DATA);
        }
        if i == 0 && !layout.extras.is_empty() {
            flags = flags.with(RxFlags::EXTRA_INFO);
        }
        let mut rsp = RxResponse {
            id: reqs[layout.request_of_chunk(i)].id,
            offset: 0,
            flags: flags.bits(),
            status: if written[i] {
                range.len() as i16
            } else {
                Status::Error as i16
            },
        };
        match kind {
            Kind::RxStatusNeg if i == 0 => rsp.status = Status::Error as i16,
            // One byte past the page end.
            Kind::RxOffsetPastPage if i == 0 => rsp.offset = (PAGE + 1 - range.len()) as u16,
            Kind::RxStatusOverPage if i == 0 => rsp.status = 5000,
            Kind::RxMorePastEnd if i + 1 == n => {
                rsp.flags = RxFlags::from_bits(rsp.flags)
                    .with(RxFlags::MORE_DATA)
                    .bits()
            }
            _ => {}
        }
        out.push(rsp.to_le_bytes());
        if i == 0 {
            out.extend(layout.extras.iter().map(ExtraInfo::to_le_bytes));
        }
    }
    out
}

/// What the mode did to a reply, for the log (modes that change slots, not indices).
fn rx_note(kind: Kind, layout: &RxLayout, len: usize) -> Option<String> {
    Some(match kind {
        Kind::RxStatusNeg => "RX status -1".into(),
        Kind::RxOffsetPastPage => format!(
            "RX offset {} + status {len}: one byte past the page",
            PAGE + 1 - len.min(PAGE)
        ),
        Kind::RxStatusOverPage => "RX status 5000".into(),
        Kind::RxExtraEndless => format!(
            "RX extra chain of {} slots, MORE on every one, up to rsp_prod",
            layout.extras.len()
        ),
        Kind::RxExtraUnknown => "RX extra of type 7".into(),
        Kind::RxGsoUnasked => "RX GSO TCPv4 extra (size 1400) on an ICMP packet".into(),
        Kind::RxGsoSize0 => "RX GSO extra with size 0".into(),
        Kind::RxMorePastEnd => "RX more_data on the last published response".into(),
        Kind::RxTooManySlots => format!("RX packet over {} data slots", layout.chunks.len()),
        Kind::RxKeepMapped => "RX buffer kept mapped after the response".into(),
        _ => return None,
    })
}

/// The bad producer of `rx-rsp-past-requests`: one response more than the frontend has
/// posted requests.
#[derive(Debug, PartialEq, Eq)]
struct PastRequests {
    /// The producer published: the frontend's `req_prod` + 1.
    rsp_prod: u32,
    /// The response written into the slot past the last posted request (index
    /// `req_prod`); `None` when that slot is the ring position of the reply's own first
    /// response, which stays as written (the frontend posted a full ring past it).
    response: Option<RxResponse>,
    /// Requests posted and not answered, between the reply and `req_prod`: their slots are
    /// published too, still holding the requests (as `rx-rsp-ahead` leaves its slots).
    unanswered: u32,
    /// Whether the frontend posted a full ring past the reply's first response: its
    /// consumer is then there (a frontend never posts more than a ring past it), and
    /// `rsp_prod` is a full ring plus one ahead of it.
    ring_full: bool,
}

/// The producer one past the last request the frontend posted: `req_prod` is the
/// frontend's request producer after the reply was taken, `first` the index of the reply's
/// first response, `rsp_prod_pvt` the index after its last.
fn past_requests(req_prod: u32, first: u32, rsp_prod_pvt: u32) -> PastRequests {
    let ring_full = req_prod.wrapping_sub(first) >= RX_RING_SIZE;
    PastRequests {
        rsp_prod: req_prod.wrapping_add(1),
        response: (!ring_full).then_some(RxResponse {
            id: (req_prod & (RX_RING_SIZE - 1)) as u16,
            offset: 0,
            flags: 0,
            status: PAST_REQUESTS_STATUS,
        }),
        unanswered: req_prod.wrapping_sub(rsp_prod_pvt),
        ring_full,
    }
}

impl PastRequests {
    /// What was done, for the log.
    fn note(&self, req_prod: u32) -> String {
        let slot = req_prod & (RX_RING_SIZE - 1);
        let what = if self.ring_full {
            format!(
                "the ring is full, slot {slot} is the reply's own (left as written): one past a full ring"
            )
        } else {
            format!("response id {slot}, status {PAST_REQUESTS_STATUS} written in slot {slot}")
        };
        format!(
            "RX rsp_prod {} = req_prod {req_prod} + 1, {} posted requests unanswered; {what}",
            self.rsp_prod, self.unanswered
        )
    }
}

/// Dotted-quad form of an IPv4 address.
pub fn ip_str(ip: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3])
}

/// Parses a MAC address (`xx:xx:xx:xx:xx:xx`).
pub fn mac_from_str(s: &str) -> Option<[u8; 6]> {
    parse_mac(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use xen_netif::frontend::{parse_rx_packet, RxError, RxPacket};
    use xen_netif::netif::ExtraError;

    /// The slots `kind` makes of a `len`-byte reply (every buffer written), parsed by the
    /// netfront's own parser with exactly those slots published.
    fn parsed(kind: Kind, len: usize) -> (RxLayout, RxPacket) {
        let layout = RxLayout::new(kind, len);
        let reqs: Vec<RxRequest> = (0..layout.slots())
            .map(|i| RxRequest {
                id: i as u16,
                pad: 0,
                gref: 100 + i,
            })
            .collect();
        let written = vec![true; layout.chunks.len()];
        let slots = rx_slots(kind, &layout, &reqs, &written);
        assert_eq!(slots.len() as u32, layout.slots());
        let pkt = parse_rx_packet(slots.len() as u32, |k| slots[k as usize]);
        assert_eq!(
            pkt.consumed,
            layout.slots(),
            "{kind:?}: the packet takes every slot"
        );
        (layout, pkt)
    }

    #[test]
    fn a_correct_reply_parses_whole() {
        for len in [60, 98, 1514, 4096, 9000] {
            let (layout, pkt) = parsed(Kind::Correct, len);
            assert_eq!(pkt.error, None, "{len}");
            assert_eq!(pkt.len as usize, len);
            assert_eq!(layout.chunks.len(), len.div_ceil(PAGE));
            assert!(pkt.gso.is_none());
        }
    }

    #[test]
    fn each_bad_reply_breaks_the_rule_it_is_named_after() {
        let bad = |kind| parsed(kind, 98).1.error;
        assert_eq!(
            bad(Kind::RxStatusNeg),
            Some(RxError::BadSlot {
                status: -1,
                offset: 0
            })
        );
        assert_eq!(
            bad(Kind::RxOffsetPastPage),
            Some(RxError::BadSlot {
                status: 98,
                offset: 3999
            })
        );
        assert!(matches!(
            bad(Kind::RxStatusOverPage),
            Some(RxError::BadSlot { status: 5000, .. })
        ));
        assert_eq!(bad(Kind::RxExtraEndless), Some(RxError::MissingExtra));
        assert_eq!(bad(Kind::RxExtraUnknown), Some(RxError::BadExtraType(7)));
        assert_eq!(
            bad(Kind::RxGsoSize0),
            Some(RxError::BadGso(ExtraError::GsoSizeZero))
        );
        assert_eq!(bad(Kind::RxMorePastEnd), Some(RxError::NeedMoreSlots));
        assert_eq!(
            bad(Kind::RxTooManySlots),
            Some(RxError::TooManySlots(TOO_MANY_SLOTS))
        );
    }

    #[test]
    fn the_unasked_gso_extra_is_well_formed() {
        let (_, pkt) = parsed(Kind::RxGsoUnasked, 98);
        assert_eq!(pkt.error, None);
        assert_eq!(pkt.gso, Some((GsoType::TcpV4, 1400)));
    }

    #[test]
    fn twenty_slots_cover_the_frame_in_order() {
        let layout = RxLayout::new(Kind::RxTooManySlots, 98);
        assert_eq!(layout.chunks.len(), TOO_MANY_SLOTS as usize);
        assert_eq!(layout.chunks.first(), Some(&(0..5)));
        assert_eq!(layout.chunks.last(), Some(&(95..98)));
        let mut at = 0;
        for c in &layout.chunks {
            assert_eq!(c.start, at);
            at = c.end;
        }
        assert_eq!(at, 98);
    }

    #[test]
    fn data_chunks_skip_the_extra_slots() {
        let layout = RxLayout::new(Kind::RxExtraUnknown, 5000);
        assert_eq!(layout.slots(), 3);
        assert_eq!(layout.request_of_chunk(0), 0);
        assert_eq!(layout.request_of_chunk(1), 2);
    }

    #[test]
    fn the_past_requests_producer_is_one_past_the_last_posted_request() {
        // The Rust netfront's rule (rx_poll): the responses published past its consumer
        // must fit in the ring and not exceed the requests it has outstanding.
        let accepts = |rp: u32, cons: u32, outstanding: u32| {
            published(rp, cons, RX_RING_SIZE).is_ok_and(|n| n <= outstanding)
        };
        // The reply itself is a correct one.
        assert_eq!(parsed(Kind::RxRspPastRequests, 98).1.error, None);
        // Both netfronts keep their RX ring full: consumer at the reply's first response,
        // a ring of requests posted past it. The slot past the last request is then the
        // reply's own, left as written, and the producer is a full ring plus one ahead.
        for first in [1u32, 1000, u32::MAX - 10] {
            let req_prod = first.wrapping_add(RX_RING_SIZE);
            let p = past_requests(req_prod, first, first.wrapping_add(1));
            assert_eq!(p.rsp_prod, req_prod.wrapping_add(1));
            assert!(p.ring_full);
            assert_eq!(p.response, None);
            assert_eq!(p.unanswered, RX_RING_SIZE - 1);
            assert_eq!(
                slot_offset(req_prod, RX_RING_SIZE, RX_SLOT_SIZE),
                slot_offset(first, RX_RING_SIZE, RX_SLOT_SIZE)
            );
            assert!(published(p.rsp_prod, first, RX_RING_SIZE).is_err());
            assert!(!accepts(p.rsp_prod, first, RX_RING_SIZE));
        }
        // A frontend with 10 requests outstanding (a ring not full, across the u32 wrap):
        // the producer stays within the ring but is one past what it posted, and the
        // slot past the last request holds a plausible response of its own.
        for first in [40u32, u32::MAX - 3] {
            let req_prod = first.wrapping_add(10);
            let p = past_requests(req_prod, first, first.wrapping_add(1));
            assert!(!p.ring_full);
            assert_eq!(p.rsp_prod, first.wrapping_add(11));
            assert_eq!(p.unanswered, 9);
            assert_eq!(published(p.rsp_prod, first, RX_RING_SIZE), Ok(11));
            assert!(!accepts(p.rsp_prod, first, 10));
            assert!(accepts(req_prod, first, 10));
            let rsp = p.response.expect("a response past the requests");
            assert_eq!(u32::from(rsp.id), req_prod & (RX_RING_SIZE - 1));
            let slot = rsp.to_le_bytes();
            let pkt = parse_rx_packet(1, |_| slot);
            assert_eq!(pkt.error, None);
            assert_eq!((pkt.consumed, pkt.len), (1, 60));
        }
    }

    #[test]
    fn a_buffer_that_would_not_map_is_answered_error() {
        let layout = RxLayout::new(Kind::Correct, 98);
        let reqs = [RxRequest::default()];
        let slots = rx_slots(Kind::Correct, &layout, &reqs, &[false]);
        assert_eq!(RxResponse::from_le_bytes(&slots[0]).status, -1);
    }
}
