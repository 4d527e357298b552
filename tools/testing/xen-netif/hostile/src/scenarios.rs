// SPDX-License-Identifier: GPL-2.0

//! The scenarios: one well-formed exchange or one bad input each, named after the rows
//! of the backend table (section 5.2) of the adversarial checklist in the netif reference.

use std::io;
use std::time::Duration;

use xen_netif::flags::TxFlags;
use xen_netif::netif::{extra_type, Extra, ExtraInfo, GsoType, EXTRA_FLAG_MORE};

use xen_netif::ring::CTRL_RING_SIZE;

use crate::ctrl::{self, CtrlOutcome};
use crate::frontend::{CtrlSetup, Frontend, Setup, Slot, BOGUS_GREF};
use crate::packets;

/// What the frontend saw.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Answers to the data requests of the scenario's packet under test (`None`: none).
    pub bad: Vec<Option<i16>>,
    /// Whether a well-formed probe packet followed it.
    pub probed: bool,
    /// The probe's answer.
    pub probe: Option<i16>,
    /// Packets sent (each would raise the vif's `rx_packets` once if delivered).
    pub sent: u32,
    /// What the control ring answered, for the control-ring scenarios.
    pub ctrl: Option<CtrlOutcome>,
}

/// One scenario.
pub struct Scenario {
    /// Name on the command line and in the tables.
    pub name: &'static str,
    /// Row of the reference's backend table (section 5.2), or "-".
    pub row: &'static str,
    /// The input, in a few words.
    pub what: &'static str,
    /// How the frontend connects, given the backend's `multi-queue-max-queues`.
    pub setup: fn(u32) -> Setup,
    /// What it does once connected.
    pub attack: fn(&mut Frontend) -> io::Result<Outcome>,
}

/// How long to wait for the answers to one packet (they take milliseconds; a backend
/// that disabled the vif never answers).
const ANSWER_WAIT: Duration = Duration::from_secs(3);
/// How long to wait for the probe's answer once the packet before it got none at all:
/// the vif is most likely disabled, and dom0 tells by the carrier.
const PROBE_WAIT_AFTER_SILENCE: Duration = Duration::from_secs(2);

fn plain(_max: u32) -> Setup {
    Setup::default()
}

fn send(fe: &mut Frontend, q: usize, slots: &[Slot]) -> io::Result<Vec<u16>> {
    let ids = fe.place(q, slots);
    fe.publish(q)?;
    Ok(ids)
}

/// Sends `slots` as the packet under test, then a well-formed probe on the same queue.
fn bad_then_probe(fe: &mut Frontend, q: usize, slots: &[Slot]) -> io::Result<Outcome> {
    let ids = send(fe, q, slots)?;
    let bad = fe.answers(q, &ids, ANSWER_WAIT);
    let mut out = Outcome {
        bad,
        sent: 1,
        ..Outcome::default()
    };
    probe(fe, q, &mut out)?;
    Ok(out)
}

/// Only a well-formed probe packet: the attack of a scenario that was skipped.
pub fn probe_only(fe: &mut Frontend) -> io::Result<Outcome> {
    let mut out = Outcome::default();
    probe(fe, 0, &mut out)?;
    Ok(out)
}

fn probe(fe: &mut Frontend, q: usize, out: &mut Outcome) -> io::Result<()> {
    let frame = packets::broadcast(fe.mac, 60);
    let slots = fe.chain(&frame, &[60]);
    let ids = send(fe, q, &slots)?;
    let silent = !out.bad.is_empty() && out.bad.iter().all(Option::is_none);
    let wait = if silent {
        PROBE_WAIT_AFTER_SILENCE
    } else {
        ANSWER_WAIT
    };
    out.probe = fe.answers(q, &ids, wait)[0];
    out.probed = true;
    out.sent += 1;
    Ok(())
}

/// Marks the first slot as followed by extras and puts `extras` right after it.
fn with_extras(mut slots: Vec<Slot>, extras: &[ExtraInfo]) -> Vec<Slot> {
    if let Some(Slot::Data(first)) = slots.first_mut() {
        first.flags |= TxFlags::EXTRA_INFO.bits();
    }
    for (i, e) in extras.iter().enumerate() {
        slots.insert(1 + i, Slot::Extra(*e));
    }
    slots
}

fn set_first(slots: &mut [Slot], f: impl FnOnce(&mut xen_netif::netif::TxRequest)) {
    if let Some(Slot::Data(first)) = slots.first_mut() {
        f(first);
    }
}

fn gso(size: u16) -> ExtraInfo {
    ExtraInfo::encode(
        &Extra::Gso {
            size,
            gso_type: GsoType::TcpV4,
        },
        false,
    )
}

fn raw_extra(type_: u8, flags: u8, payload: [u8; 6]) -> ExtraInfo {
    ExtraInfo {
        type_,
        flags,
        payload,
    }
}

fn csum_partial(slots: &mut [Slot]) {
    set_first(slots, |r| {
        r.flags |= (TxFlags::CSUM_BLANK | TxFlags::DATA_VALIDATED).bits();
    });
}

fn good(fe: &mut Frontend) -> io::Result<Outcome> {
    let frame = packets::tcp4(fe.mac, 3000);
    let slots = fe.chain(&frame, &[1000, 1000, 1000]);
    bad_then_probe(fe, 0, &slots)
}

fn good_two_queues(fe: &mut Frontend) -> io::Result<Outcome> {
    let mut out = Outcome::default();
    for q in 0..fe.queue_count() {
        let frame = packets::tcp4(fe.mac, 1500);
        let slots = fe.chain(&frame, &[700, 800]);
        let ids = send(fe, q, &slots)?;
        out.bad.extend(fe.answers(q, &ids, ANSWER_WAIT));
        out.sent += 1;
    }
    let last = fe.queue_count() - 1;
    probe(fe, last, &mut out)?;
    Ok(out)
}

fn tx_ring_overrun(fe: &mut Frontend) -> io::Result<Outcome> {
    let frame = packets::broadcast(fe.mac, 60);
    let slots = fe.chain(&frame, &[60]);
    let ids = fe.place(0, &slots);
    // One request placed, 301 claimed: more than the 256-slot ring can hold.
    fe.publish_index(0, 301)?;
    Ok(Outcome {
        bad: fe.answers(0, &ids, ANSWER_WAIT),
        sent: 1,
        ..Outcome::default()
    })
}

fn extra_past_end(fe: &mut Frontend) -> io::Result<Outcome> {
    let frame = packets::broadcast(fe.mac, 60);
    let mut slots = fe.chain(&frame, &[60]);
    set_first(&mut slots, |r| r.flags |= TxFlags::EXTRA_INFO.bits());
    bad_then_probe(fe, 0, &slots)
}

fn extra_bad_type(fe: &mut Frontend, type_: u8) -> io::Result<Outcome> {
    let frame = packets::broadcast(fe.mac, 60);
    let slots = fe.chain(&frame, &[60]);
    let slots = with_extras(slots, &[raw_extra(type_, 0, [0; 6])]);
    bad_then_probe(fe, 0, &slots)
}

fn extras_chained(fe: &mut Frontend) -> io::Result<Outcome> {
    let frame = packets::broadcast(fe.mac, 60);
    let slots = fe.chain(&frame, &[60]);
    // Two hash extras, the first chained to the second, with a hash type nobody knows.
    let slots = with_extras(
        slots,
        &[
            raw_extra(extra_type::HASH, EXTRA_FLAG_MORE, [99, 0, 1, 2, 3, 4]),
            raw_extra(extra_type::HASH, 0, [99, 0, 5, 6, 7, 8]),
        ],
    );
    bad_then_probe(fe, 0, &slots)
}

fn more_data_past_end(fe: &mut Frontend) -> io::Result<Outcome> {
    let frame = packets::broadcast(fe.mac, 120);
    let mut slots = fe.chain(&frame, &[120]);
    set_first(&mut slots, |r| r.flags |= TxFlags::MORE_DATA.bits());
    bad_then_probe(fe, 0, &slots)
}

fn many_slots(fe: &mut Frontend, further: usize) -> io::Result<Outcome> {
    let frame = packets::broadcast(fe.mac, 60 * (further + 1));
    let slots = fe.chain(&frame, &vec![60; further + 1]);
    bad_then_probe(fe, 0, &slots)
}

fn frag_over_total(fe: &mut Frontend) -> io::Result<Outcome> {
    let frame = packets::broadcast(fe.mac, 180);
    let mut slots = fe.chain(&frame, &[60, 120]);
    // The packet claims 100 bytes in all; the second slot alone says 120.
    set_first(&mut slots, |r| r.size = 100);
    bad_then_probe(fe, 0, &slots)
}

fn offset_past_page(fe: &mut Frontend, in_frag: bool) -> io::Result<Outcome> {
    let frame = packets::broadcast(fe.mac, 260);
    let mut slots = fe.chain(&frame, &[60, 200]);
    let which = usize::from(in_frag);
    if !in_frag {
        slots.truncate(1);
        set_first(&mut slots, |r| {
            r.size = 200;
            r.flags = 0;
        });
    }
    if let Slot::Data(r) = &mut slots[which] {
        r.offset = 4000;
    }
    bad_then_probe(fe, 0, &slots)
}

fn short_first_slot(fe: &mut Frontend, split: bool) -> io::Result<Outcome> {
    let slots = if split {
        let frame = packets::broadcast(fe.mac, 60);
        fe.chain(&frame, &[10, 50])
    } else {
        let frame = packets::broadcast(fe.mac, 10);
        fe.chain(&frame, &[10])
    };
    bad_then_probe(fe, 0, &slots)
}

fn header_split(fe: &mut Frontend) -> io::Result<Outcome> {
    let frame = packets::tcp4(fe.mac, 200);
    let slots = fe.chain(&frame, &[14, 4, 4, 4, 4, 4, 20, 146]);
    bad_then_probe(fe, 0, &slots)
}

fn tiny_slots(fe: &mut Frontend) -> io::Result<Outcome> {
    let frame = packets::tcp4(fe.mac, 14 + 17 * 8);
    let mut cuts = vec![14];
    cuts.extend([8; 17]);
    let slots = fe.chain(&frame, &cuts);
    bad_then_probe(fe, 0, &slots)
}

fn gso_packet(
    fe: &mut Frontend,
    extra: ExtraInfo,
    csum_blank: bool,
    len: usize,
) -> io::Result<Outcome> {
    let frame = packets::tcp4(fe.mac, len);
    let cuts: Vec<usize> = if len > 1000 {
        let mut c = vec![1000; len / 1000];
        if !len.is_multiple_of(1000) {
            c.push(len % 1000);
        }
        c
    } else {
        vec![len]
    };
    let mut slots = fe.chain(&frame, &cuts);
    if csum_blank {
        csum_partial(&mut slots);
    }
    let slots = with_extras(slots, &[extra]);
    bad_then_probe(fe, 0, &slots)
}

fn zero_length_frag(fe: &mut Frontend) -> io::Result<Outcome> {
    let frame = packets::broadcast(fe.mac, 100);
    let slots = fe.chain(&frame, &[60, 0, 40]);
    bad_then_probe(fe, 0, &slots)
}

fn bad_gref(fe: &mut Frontend, in_frag: bool) -> io::Result<Outcome> {
    let frame = packets::broadcast(fe.mac, 300);
    let mut slots = fe.chain(&frame, &[100, 100, 100]);
    if let Slot::Data(r) = &mut slots[usize::from(in_frag)] {
        r.gref = BOGUS_GREF;
    }
    bad_then_probe(fe, 0, &slots)
}

fn event_storm(fe: &mut Frontend) -> io::Result<Outcome> {
    fe.kick(0, 50_000)?;
    let frame = packets::broadcast(fe.mac, 60);
    let slots = fe.chain(&frame, &[60]);
    bad_then_probe(fe, 0, &slots)
}

fn nothing(_fe: &mut Frontend) -> io::Result<Outcome> {
    Ok(Outcome::default())
}

fn rx_ring_overrun(fe: &mut Frontend) -> io::Result<Outcome> {
    // No RX buffer was posted; claim 1000.
    fe.publish_rx_index(0, 1000)?;
    Ok(Outcome::default())
}

/// Rows C1-C8 and the flood on one control ring, then a probe on the TX ring.
fn ctrl_rows(fe: &mut Frontend) -> io::Result<Outcome> {
    let answers = ctrl::rows_and_flood(fe)?;
    let mut out = Outcome {
        ctrl: Some(answers),
        ..Outcome::default()
    };
    probe(fe, 0, &mut out)?;
    Ok(out)
}

/// The backend connected with a control ring it should have refused.
fn ctrl_connected(_fe: &mut Frontend) -> io::Result<Outcome> {
    Ok(Outcome {
        ctrl: Some(CtrlOutcome::offered()),
        ..Outcome::default()
    })
}

/// Every scenario, in the order the harness runs them.
pub const ALL: &[Scenario] = &[
    Scenario {
        name: "good",
        row: "-",
        what: "well-formed 3-slot TCP packet, then a probe",
        setup: plain,
        attack: good,
    },
    Scenario {
        name: "good-2q",
        row: "-",
        what: "two queues (queue-N keys), a packet on each",
        setup: |max| Setup {
            queues: max.min(2),
            num_queues_key: Some(max.min(2).to_string()),
            per_queue_keys: max >= 2,
            ..Setup::default()
        },
        attack: good_two_queues,
    },
    Scenario {
        name: "tx-ring-overrun",
        row: "2",
        what: "TX req_prod 301 ahead of req_cons",
        setup: plain,
        attack: tx_ring_overrun,
    },
    Scenario {
        name: "attach-overflow",
        row: "3",
        what: "TX ring offered with req_prod 1000 > rsp_prod + 256",
        setup: |_| Setup {
            tx_req_prod_at_attach: Some(1000),
            ..Setup::default()
        },
        attack: nothing,
    },
    Scenario {
        name: "ring-ref-invalid",
        row: "27",
        what: "tx-ring-ref is a grant nobody made",
        setup: |_| Setup {
            bogus_tx_ring_ref: true,
            ..Setup::default()
        },
        attack: nothing,
    },
    Scenario {
        name: "extra-past-end",
        row: "4",
        what: "EXTRA_INFO on the last published slot",
        setup: plain,
        attack: extra_past_end,
    },
    Scenario {
        name: "extra-type-0",
        row: "5",
        what: "extra slot of type 0",
        setup: plain,
        attack: |fe| extra_bad_type(fe, 0),
    },
    Scenario {
        name: "extra-type-7",
        row: "5",
        what: "extra slot of type 7",
        setup: plain,
        attack: |fe| extra_bad_type(fe, 7),
    },
    Scenario {
        name: "extras-chained",
        row: "23",
        what: "two chained HASH extras, unknown hash type",
        setup: plain,
        attack: extras_chained,
    },
    Scenario {
        name: "more-data-past-end",
        row: "6",
        what: "MORE_DATA on the last published slot",
        setup: plain,
        attack: more_data_past_end,
    },
    Scenario {
        name: "slots-19",
        row: "8",
        what: "1 + 19 slots",
        setup: plain,
        attack: |fe| many_slots(fe, 19),
    },
    Scenario {
        name: "slots-20",
        row: "8",
        what: "1 + 20 slots (= fatal_skb_slots)",
        setup: plain,
        attack: |fe| many_slots(fe, 20),
    },
    Scenario {
        name: "slots-21",
        row: "7",
        what: "1 + 21 slots (> fatal_skb_slots)",
        setup: plain,
        attack: |fe| many_slots(fe, 21),
    },
    Scenario {
        name: "frag-over-total",
        row: "9",
        what: "second slot (120 B) larger than the packet (100 B)",
        setup: plain,
        attack: frag_over_total,
    },
    Scenario {
        name: "offset-past-page",
        row: "10",
        what: "first slot offset 4000 + size 200",
        setup: plain,
        attack: |fe| offset_past_page(fe, false),
    },
    Scenario {
        name: "frag-past-page",
        row: "10",
        what: "second slot offset 4000 + size 200",
        setup: plain,
        attack: |fe| offset_past_page(fe, true),
    },
    Scenario {
        name: "runt-packet",
        row: "11",
        what: "10-byte packet",
        setup: plain,
        attack: |fe| short_first_slot(fe, false),
    },
    Scenario {
        name: "short-first-slot",
        row: "11",
        what: "first slot 10 bytes of a 60-byte packet",
        setup: plain,
        attack: |fe| short_first_slot(fe, true),
    },
    Scenario {
        name: "header-split",
        row: "17",
        what: "IPv4/TCP headers over 7 slots of 4-20 bytes",
        setup: plain,
        attack: header_split,
    },
    Scenario {
        name: "tiny-slots",
        row: "18",
        what: "14-byte first slot + 17 slots of 8 bytes",
        setup: plain,
        attack: tiny_slots,
    },
    Scenario {
        name: "gso-size-0",
        row: "12",
        what: "GSO extra with size 0",
        setup: plain,
        attack: |fe| {
            gso_packet(
                fe,
                raw_extra(extra_type::GSO, 0, [0, 0, 1, 0, 0, 0]),
                true,
                3000,
            )
        },
    },
    Scenario {
        name: "gso-type-unknown",
        row: "12",
        what: "GSO extra of type 3",
        setup: plain,
        attack: |fe| {
            gso_packet(
                fe,
                raw_extra(extra_type::GSO, 0, [0x78, 0x05, 3, 0, 0, 0]),
                true,
                3000,
            )
        },
    },
    Scenario {
        name: "gso-no-transport",
        row: "13",
        what: "GSO TCPv4 packet with no TCP header",
        setup: plain,
        attack: |fe| gso_packet(fe, gso(1400), true, 40),
    },
    Scenario {
        name: "gso-no-csum-blank",
        row: "14",
        what: "GSO TCPv4 packet without csum_blank",
        setup: plain,
        attack: |fe| gso_packet(fe, gso(1400), false, 3000),
    },
    Scenario {
        name: "zero-length-frag",
        row: "16",
        what: "slot of 0 bytes between two data slots",
        setup: plain,
        attack: zero_length_frag,
    },
    Scenario {
        name: "bad-gref-first",
        row: "19",
        what: "first slot's grant nobody made",
        setup: plain,
        attack: |fe| bad_gref(fe, false),
    },
    Scenario {
        name: "bad-gref-frag",
        row: "19",
        what: "second slot's grant nobody made",
        setup: plain,
        attack: |fe| bad_gref(fe, true),
    },
    Scenario {
        name: "queues-over-max",
        row: "25",
        what: "multi-queue-num-queues = max + 1",
        setup: |max| Setup {
            queues: max + 1,
            num_queues_key: Some((max + 1).to_string()),
            per_queue_keys: true,
            ..Setup::default()
        },
        attack: nothing,
    },
    Scenario {
        name: "queues-zero",
        row: "26",
        what: "multi-queue-num-queues = 0",
        setup: |_| Setup {
            num_queues_key: Some("0".into()),
            ..Setup::default()
        },
        attack: nothing,
    },
    Scenario {
        name: "queue-key-missing",
        row: "27",
        what: "2 queues, queue-1/tx-ring-ref missing",
        setup: |_| Setup {
            queues: 2,
            num_queues_key: Some("2".into()),
            per_queue_keys: true,
            omit: Some((1, "tx-ring-ref")),
            ..Setup::default()
        },
        attack: nothing,
    },
    Scenario {
        name: "queue-keys-flat",
        row: "27",
        what: "2 queues requested, keys written flat",
        setup: |_| Setup {
            num_queues_key: Some("2".into()),
            ..Setup::default()
        },
        attack: nothing,
    },
    Scenario {
        name: "unknown-state",
        row: "30",
        what: "frontend state 9 instead of Connected",
        setup: |_| Setup {
            state_after_keys: 9,
            ..Setup::default()
        },
        attack: nothing,
    },
    Scenario {
        name: "event-storm",
        row: "34",
        what: "50000 notifications, then a packet",
        setup: plain,
        attack: event_storm,
    },
    Scenario {
        name: "rx-never-posted",
        row: "31",
        what: "no RX buffer ever posted while dom0 sends to the vif",
        setup: |_| Setup {
            rx_buffers: 0,
            ..Setup::default()
        },
        attack: nothing,
    },
    Scenario {
        name: "rx-ring-overrun",
        row: "-",
        what: "RX req_prod 1000 with no buffer posted while dom0 sends",
        setup: |_| Setup {
            rx_buffers: 0,
            ..Setup::default()
        },
        attack: rx_ring_overrun,
    },
    Scenario {
        name: "ctrl-rows",
        row: "C1-8",
        what: "control ring: C1-C8 with positive controls, then a flood of 4096 requests",
        setup: |max| Setup {
            queues: max.min(2),
            num_queues_key: Some(max.min(2).to_string()),
            per_queue_keys: max >= 2,
            ctrl: CtrlSetup::Ring,
            ..Setup::default()
        },
        attack: ctrl_rows,
    },
    Scenario {
        name: "ctrl-evtchn-missing",
        row: "28",
        what: "ctrl-ring-ref written, event-channel-ctrl missing",
        setup: |_| Setup {
            ctrl: CtrlSetup::NoEventChannel,
            ..Setup::default()
        },
        attack: ctrl_connected,
    },
    Scenario {
        name: "ctrl-attach-overflow",
        row: "3",
        what: "control ring offered with req_prod 129 > rsp_prod + 128",
        setup: |_| Setup {
            ctrl: CtrlSetup::ReqProdAtAttach(CTRL_RING_SIZE + 1),
            ..Setup::default()
        },
        attack: ctrl_connected,
    },
];

/// The scenario called `name`.
pub fn find(name: &str) -> Option<&'static Scenario> {
    ALL.iter().find(|s| s.name == name)
}
