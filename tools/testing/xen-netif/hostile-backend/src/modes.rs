// SPDX-License-Identifier: GPL-2.0

//! The modes: a correct backend, or one bad answer each, named after the rows of the
//! frontend table (section 5.3) of the adversarial checklist in the netif reference.

/// What the backend does differently from a correct one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A correct backend.
    Correct,
    /// Answers the first TX packet for the fake host, then publishes a TX `rsp_prod` 300
    /// responses ahead.
    TxRspAhead,
    /// Answers the first TX packet for the fake host with an id of 256 or more.
    TxIdRange,
    /// Answers the first TX packet for the fake host with an id no request holds.
    TxIdInactive,
    /// Answers the first TX packet for the fake host twice (same id, two responses).
    TxIdDup,
    /// Keeps the grant of the first TX packet for the fake host mapped after answering.
    TxKeepMapped,
    /// Answers the first TX packet for the fake host with `RSP_NULL` (1) instead of
    /// `OKAY`: the frontend skips it, and the request stays pending for good.
    TxRspNull,
    /// Never answers (nor reads) a TX request: the ring fills up.
    TxNeverAnswer,
    /// First echo reply: data slot status -1.
    RxStatusNeg,
    /// First echo reply: offset + status one byte past the page end.
    RxOffsetPastPage,
    /// First echo reply: status 5000, larger than the page.
    RxStatusOverPage,
    /// First echo reply: an extra chain with `MORE` on every extra up to `rsp_prod`.
    RxExtraEndless,
    /// First echo reply: one extra of type 7 (unknown).
    RxExtraUnknown,
    /// First echo reply (ICMP): a GSO TCPv4 extra, size 1400.
    RxGsoUnasked,
    /// First echo reply: a GSO extra of size 0.
    RxGsoSize0,
    /// First echo reply: `more_data` on the last published response.
    RxMorePastEnd,
    /// First echo reply: spread over 20 data slots.
    RxTooManySlots,
    /// First echo reply, then RX `rsp_prod` published 300 ahead.
    RxRspAhead,
    /// First two echo replies published, then RX `rsp_prod` moved back by one.
    RxRspBackwards,
    /// First echo reply, then RX `rsp_prod` published as the frontend's `req_prod` + 1:
    /// one response for the slot past the last request it posted.
    RxRspPastRequests,
    /// Keeps the RX buffer of the first echo reply mapped after answering.
    RxKeepMapped,
    /// From the first echo request on, up to 50000 notifications on the frontend's event
    /// channel (at most 12 s, in bursts between the rings' work, which goes on).
    EventStorm,
    /// Binds the frontend's event channel as soon as its key appears and notifies it
    /// without pause until the frontend says Connected (events during its setup).
    EarlyEvent,
    /// Once the frontend's keys appear: Closing, Closed, InitWait again, then correct.
    StateFlap,
    /// Answers the first TX packet for the fake host, then unmaps the rings and unbinds
    /// the event channel while staying Connected.
    RingsVanish,
    /// Writes `multi-queue-max-queues` = 0.
    MaxQueuesZero,
    /// Writes `multi-queue-max-queues` = 4294967295.
    MaxQueuesHuge,
}

/// When a mode's bad answer is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Never: the backend is correct, or it misbehaves from the start.
    None,
    /// At the first TX packet for the fake host (normally the ARP request).
    FirstTx,
    /// At the first echo reply the backend sends.
    FirstEchoReply,
}

/// One mode.
pub struct Mode {
    /// Name on the command line and in the tables.
    pub name: &'static str,
    /// Row of the reference's frontend table (section 5.3), or "-".
    pub row: &'static str,
    /// The reaction the reference asks of the frontend, in the scenario's words.
    pub expect: &'static str,
    /// The bad answer, in a few words.
    pub what: &'static str,
    /// What the backend does.
    pub kind: Kind,
}

impl Mode {
    /// When the bad answer is given.
    pub fn trigger(&self) -> Trigger {
        match self.kind {
            Kind::Correct
            | Kind::TxNeverAnswer
            | Kind::MaxQueuesZero
            | Kind::MaxQueuesHuge
            | Kind::EarlyEvent
            | Kind::StateFlap => Trigger::None,
            Kind::TxRspAhead
            | Kind::TxIdRange
            | Kind::TxIdInactive
            | Kind::TxIdDup
            | Kind::TxKeepMapped
            | Kind::TxRspNull
            | Kind::RingsVanish => Trigger::FirstTx,
            _ => Trigger::FirstEchoReply,
        }
    }

    /// The `multi-queue-max-queues` value the backend writes (`None`: not written).
    pub fn max_queues_key(&self, option: Option<u32>) -> Option<String> {
        match self.kind {
            Kind::MaxQueuesZero => Some("0".into()),
            Kind::MaxQueuesHuge => Some(u32::MAX.to_string()),
            _ => option.map(|n| n.to_string()),
        }
    }
}

const fn mode(
    name: &'static str,
    row: &'static str,
    expect: &'static str,
    what: &'static str,
    kind: Kind,
) -> Mode {
    Mode {
        name,
        row,
        expect,
        what,
        kind,
    }
}

/// Every mode, in the order the scenario runs them (early-event last: an event during the
/// frontend's setup is the one most likely to take a guest down).
///
/// Expected reactions (the scenario's vocabulary): `works` (every echo answered, no
/// error), `dropped` (the bad packet counted in `rx_errors` and dropped, later echoes
/// answered), `broken` (the device disabled with a log line, nothing answered after),
/// `stalled` (nothing moves, the device stays, no error), `refused` (no connection);
/// `a|b`: either is right. A GSO extra on an ICMP packet is well-formed (F14 accepts it,
/// marked `SKB_GSO_DODGY`), but the checksum setup of a GSO packet needs TCP: dropping it
/// there is right too. `multi-queue-max-queues` 0 is below the spec's minimum of 1: a
/// frontend may take it as 1 or refuse to connect.
pub static ALL: &[Mode] = &[
    mode(
        "correct",
        "-",
        "works",
        "a correct backend: ARP and echo replies",
        Kind::Correct,
    ),
    mode(
        "tx-rsp-ahead",
        "F2",
        "broken",
        "TX rsp_prod 300 ahead of the requests",
        Kind::TxRspAhead,
    ),
    mode(
        "tx-id-range",
        "F3",
        "broken",
        "TX response id 256 + id",
        Kind::TxIdRange,
    ),
    mode(
        "tx-id-inactive",
        "F4",
        "broken",
        "TX response for an id that is not pending",
        Kind::TxIdInactive,
    ),
    mode(
        "tx-id-dup",
        "F4",
        "broken",
        "TX response sent twice for one id",
        Kind::TxIdDup,
    ),
    mode(
        "tx-keep-mapped",
        "F6",
        "broken",
        "TX grant still mapped when the response arrives",
        Kind::TxKeepMapped,
    ),
    mode(
        "tx-rsp-null",
        "F5",
        "works",
        "TX request answered RSP_NULL (skipped by the frontend, pending for good)",
        Kind::TxRspNull,
    ),
    mode(
        "tx-never-answer",
        "-",
        "stalled",
        "TX requests never answered (ring full)",
        Kind::TxNeverAnswer,
    ),
    mode(
        "rx-status-neg",
        "F11",
        "dropped",
        "RX status -1",
        Kind::RxStatusNeg,
    ),
    mode(
        "rx-offset-past-page",
        "F11",
        "dropped",
        "RX offset + status one byte past the page",
        Kind::RxOffsetPastPage,
    ),
    mode(
        "rx-status-over-page",
        "F11",
        "dropped",
        "RX status 5000, larger than the buffer",
        Kind::RxStatusOverPage,
    ),
    mode(
        "rx-extra-endless",
        "F9",
        "dropped",
        "RX extra chain with MORE up to rsp_prod",
        Kind::RxExtraEndless,
    ),
    mode(
        "rx-extra-unknown",
        "F9",
        "dropped",
        "RX extra of type 7",
        Kind::RxExtraUnknown,
    ),
    mode(
        "rx-gso-unasked",
        "F14",
        "dropped|works",
        "RX GSO TCPv4 extra on an ICMP packet",
        Kind::RxGsoUnasked,
    ),
    mode(
        "rx-gso-size-0",
        "F14",
        "dropped",
        "RX GSO extra with size 0",
        Kind::RxGsoSize0,
    ),
    mode(
        "rx-more-past-end",
        "F12",
        "dropped",
        "RX more_data on the last published response",
        Kind::RxMorePastEnd,
    ),
    mode(
        "rx-slots-20",
        "F13",
        "dropped",
        "RX packet over 20 data slots",
        Kind::RxTooManySlots,
    ),
    mode(
        "rx-rsp-ahead",
        "F7",
        "broken",
        "RX rsp_prod 300 ahead",
        Kind::RxRspAhead,
    ),
    mode(
        "rx-rsp-backwards",
        "F8",
        "broken",
        "RX rsp_prod moved back by one",
        Kind::RxRspBackwards,
    ),
    mode(
        "rx-rsp-past-requests",
        "F10",
        "broken",
        "RX rsp_prod = req_prod + 1: a response past the last posted request",
        Kind::RxRspPastRequests,
    ),
    mode(
        "rx-keep-mapped",
        "F6",
        "broken",
        "RX buffer still mapped when the response arrives",
        Kind::RxKeepMapped,
    ),
    mode(
        "event-storm",
        "F17",
        "works",
        "up to 50000 notifications in 12 s while the echoes are answered",
        Kind::EventStorm,
    ),
    mode(
        "state-flap",
        "F21",
        "refused|works",
        "backend Closing, Closed, InitWait while the frontend sets up",
        Kind::StateFlap,
    ),
    mode(
        "rings-vanish",
        "-",
        "stalled",
        "rings unmapped and event channel unbound while Connected",
        Kind::RingsVanish,
    ),
    mode(
        "max-queues-0",
        "-",
        "works|refused",
        "multi-queue-max-queues = 0",
        Kind::MaxQueuesZero,
    ),
    mode(
        "max-queues-huge",
        "-",
        "works",
        "multi-queue-max-queues = 4294967295",
        Kind::MaxQueuesHuge,
    ),
    mode(
        "early-event",
        "F21",
        "works",
        "event channel notified from the moment its key appears until Connected",
        Kind::EarlyEvent,
    ),
];

/// The mode called `name`.
pub fn find(name: &str) -> Option<&'static Mode> {
    ALL.iter().find(|m| m.name == name)
}
