// SPDX-License-Identifier: GPL-2.0

//! Fuzz target `tx_packet`: netback's parser of guest TX request chains,
//! `backend::parse_tx_packet`, on a TX ring page written by the fuzzer (the frontend).
//!
//! Input: `u16` published requests (modulo the ring size, plus 1: the caller has checked
//! the count against the ring size and calls only when there is one), `u8`
//! `fatal_skb_slots` module parameter (clamped as the driver clamps it), then the 12-byte
//! request slots from the consumer index on (zero past the end of the input).
//!
//! Asserted for every input:
//! * slots are read in order, each at most once, and never at or past the producer;
//! * a packet or a drop consumes exactly the slots it read: the first request, its whole
//!   extra chain (up to the extra without `more`), and its whole `more_data` chain, so the
//!   next packet starts on a request, never in the middle of a chain;
//! * a packet has no zero-length fragment, every fragment inside its page, at most 18
//!   further slots, a first slot with at least 14 bytes inside its page, and first-slot
//!   bytes plus fragment bytes equal to the announced length; its fragments are exactly
//!   the non-empty further requests and its response ids exactly the further requests,
//!   in ring order; its GSO, hash and multicast values are the chain's last extra of that
//!   type; a multicast request reads no data slot;
//! * a drop names the first rule the chain breaks (reference 5.2: row 8 before row 9,
//!   both before row 11), answers every further slot, and only ever for a chain that is
//!   otherwise not fatal;
//! * a fatal verdict names a real violation: an extra type 0 or >= 6, a chain running
//!   past the producer, `fatal_skb_slots + 1` further slots, a slot crossing its page, a
//!   bad GSO extra on a packet that would not have been dropped (row 12 is judged after
//!   the slot count, as in C).

#![no_main]

use fuzz_input::{Input, SlotReader, RING_SLOTS};
use libfuzzer_sys::fuzz_target;
use xen_netif::backend::{
    clamp_fatal_skb_slots, parse_tx_packet, TxDrop, TxFatal, TxFrag, TxPacket, TxParse,
};
use xen_netif::flags::TxFlags;
use xen_netif::netif::{
    extra_type, Extra, ExtraError, ExtraInfo, TxRequest, ETH_HLEN, NR_SLOTS_MIN, PAGE_SIZE,
};

type Ring = [[u8; 12]; RING_SLOTS];

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let available = 1 + u32::from(input.u16()) % RING_SLOTS as u32;
    let fatal_slots = clamp_fatal_skb_slots(u32::from(input.u8()));
    let ring: Ring = input.ring();

    let mut reader = SlotReader::new(&ring, available);
    let verdict = parse_tx_packet(available, |i| reader.read(i), fatal_slots);
    let reads = reader.reads;
    assert!(reads >= 1, "the first request was not read");
    match verdict {
        TxParse::Packet(pkt) => check_packet(&ring, &pkt, reads, fatal_slots, None),
        TxParse::Drop(pkt, why) => check_packet(&ring, &pkt, reads, fatal_slots, Some(why)),
        TxParse::Fatal(f) => check_fatal(&ring, f, reads, available, fatal_slots),
    }
});

/// The extra chain after the first request: how many slots it claims (up to the first
/// extra without `more`, or the end of the ring).
fn extra_chain_len(ring: &Ring) -> usize {
    let first = TxRequest::from_le_bytes(&ring[0]);
    if !first.flags().contains(TxFlags::EXTRA_INFO) {
        return 0;
    }
    ring[1..]
        .iter()
        .position(|s| !ExtraInfo::from_tx_slot(s).more())
        .map_or(RING_SLOTS - 1, |p| p + 1)
}

/// The drop rules in the reference's order, applied to the further requests: the reason
/// (if any), how many further slots were looked at before it was decided (fragments are
/// only kept before that), and the bytes left for the first slot.
fn expected_drop(first: &TxRequest, further: &[[u8; 12]]) -> (Option<TxDrop>, usize, u16) {
    let mut why = None;
    let mut cut = further.len();
    let mut rem = first.size;
    for (j, slot) in further.iter().enumerate() {
        let r = TxRequest::from_le_bytes(slot);
        if why.is_none() && j >= NR_SLOTS_MIN {
            why = Some(TxDrop::TooManySlots(j as u32 + 1));
            cut = j;
        }
        if why.is_none() && r.size > rem {
            why = Some(TxDrop::FragLargerThanRemaining {
                size: r.size,
                remaining: rem,
            });
            cut = j;
        }
        rem = rem.wrapping_sub(r.size);
    }
    if why.is_none() && usize::from(rem) < ETH_HLEN {
        why = Some(TxDrop::FirstSlotTooShort(rem));
    }
    (why, cut, rem)
}

fn check_packet(ring: &Ring, pkt: &TxPacket, reads: u32, fatal_slots: u32, drop: Option<TxDrop>) {
    let first = TxRequest::from_le_bytes(&ring[0]);
    assert_eq!(pkt.first, first);
    assert_eq!(pkt.len(), u32::from(first.size));
    assert_eq!(pkt.consumed, reads, "consumed slots are not the slots read");

    // The extra chain: all of it, valid types only, the last extra of each kind kept.
    let e = pkt.extra_slots as usize;
    assert_eq!(e, extra_chain_len(ring), "extra chain not consumed exactly");
    let (mut gso, mut hash, mut mcast) = (None, None, None);
    for slot in &ring[1..=e] {
        let x = ExtraInfo::from_tx_slot(slot);
        match x.parse() {
            Err(ExtraError::BadType(t)) => panic!("extra type {t} accepted"),
            Ok(Extra::Hash {
                hash_type, value, ..
            }) => hash = Some((hash_type, value)),
            Ok(m @ (Extra::McastAdd(_) | Extra::McastDel(_))) => mcast = Some(m),
            _ if x.type_ == extra_type::GSO => gso = Some(x),
            _ => {}
        }
    }
    assert_eq!(pkt.hash, hash);
    assert_eq!(pkt.mcast, mcast);

    let further = &ring[1 + e..reads as usize];
    let ids = further.iter().map(|s| TxRequest::from_le_bytes(s).id);
    assert!(pkt.further_ids().iter().copied().eq(ids), "response ids");
    if mcast.is_some() {
        // A multicast control request is answered alone: no data slot is read.
        assert!(drop.is_none() && further.is_empty() && pkt.frags().is_empty());
        assert!(pkt.gso.is_none());
        return;
    }

    // The data chain: all of it, never past its end, every slot inside its page.
    let mut more = first.flags().contains(TxFlags::MORE_DATA);
    for slot in further {
        assert!(more, "read past the end of the data chain");
        let r = TxRequest::from_le_bytes(slot);
        assert!(usize::from(r.offset) + usize::from(r.size) <= PAGE_SIZE);
        more = r.flags().contains(TxFlags::MORE_DATA);
    }
    assert!(!more, "data chain not consumed to its end");
    assert!(further.len() as u32 <= fatal_slots);

    let (want, cut, rem) = expected_drop(&first, further);
    assert_eq!(drop, want, "wrong drop decision");
    for f in pkt.frags() {
        assert!(f.len > 0, "zero-length fragment (XSA-448)");
        assert!(usize::from(f.offset) + usize::from(f.len) <= PAGE_SIZE);
    }
    let frags = further[..cut]
        .iter()
        .map(TxRequest::from_le_bytes)
        .filter(|r| r.size > 0)
        .map(|r| TxFrag {
            gref: r.gref,
            offset: r.offset,
            len: r.size,
            id: r.id,
        });
    assert!(pkt.frags().iter().copied().eq(frags), "fragments");
    if drop.is_some() {
        assert!(pkt.gso.is_none());
        return;
    }

    assert!(further.len() <= NR_SLOTS_MIN);
    assert_eq!(pkt.first_len, rem);
    assert!(usize::from(pkt.first_len) >= ETH_HLEN);
    assert!(usize::from(first.offset) + usize::from(pkt.first_len) <= PAGE_SIZE);
    let total: u32 =
        u32::from(pkt.first_len) + pkt.frags().iter().map(|f| u32::from(f.len)).sum::<u32>();
    assert_eq!(total, pkt.len(), "lengths do not add up");
    let gso = gso.map(|x| match x.parse() {
        Ok(Extra::Gso { size, gso_type }) => (size, gso_type),
        other => panic!("bad GSO extra accepted: {other:?}"),
    });
    assert_eq!(pkt.gso, gso);
}

fn check_fatal(ring: &Ring, f: TxFatal, reads: u32, available: u32, fatal_slots: u32) {
    let first = TxRequest::from_le_bytes(&ring[0]);
    let last = &ring[reads as usize - 1];
    match f {
        TxFatal::MissingExtra => {
            assert_eq!(reads, available);
            assert!(first.flags().contains(TxFlags::EXTRA_INFO));
            assert!(reads == 1 || ExtraInfo::from_tx_slot(last).more());
        }
        TxFatal::BadExtraType(t) => {
            assert!(t == extra_type::NONE || t >= extra_type::MAX);
            assert!(reads >= 2);
            assert_eq!(ExtraInfo::from_tx_slot(last).type_, t);
        }
        TxFatal::MissingSlots(n) => {
            assert_eq!(reads, available);
            assert!(n >= 1);
        }
        TxFatal::MaliciousSlots(n) => {
            assert_eq!(n, fatal_slots + 1);
            assert_eq!(
                reads as usize,
                1 + extra_chain_len(ring) + fatal_slots as usize
            );
        }
        TxFatal::CrossesPage { offset, size } => {
            assert!(usize::from(offset) + usize::from(size) > PAGE_SIZE);
        }
        TxFatal::GsoSizeZero | TxFatal::BadGsoType(_) => {
            if let TxFatal::BadGsoType(t) = f {
                assert!(t != 1 && t != 2);
            }
            let e = extra_chain_len(ring);
            assert!(ring[1..=e]
                .iter()
                .any(|s| ExtraInfo::from_tx_slot(s).type_ == extra_type::GSO));
            let (why, _, _) = expected_drop(&first, &ring[1 + e..reads as usize]);
            assert_eq!(why, None, "bad GSO judged before the drop rules");
        }
    }
}
