// SPDX-License-Identifier: GPL-2.0

//! Fuzz target `rx_packet`: netfront's parser of guest RX response chains,
//! `frontend::parse_rx_packet`, on an RX ring page written by the fuzzer (the backend).
//!
//! Input: `u16` published responses (modulo the ring size, plus 1, as the driver calls it
//! only after checking the producer index), then the 8-byte response slots from the
//! consumer index on (zero past the end of the input).
//!
//! Asserted for every input:
//! * slots are read in order, each at most once, never at or past the producer, and the
//!   packet consumes exactly the slots read (at least one): the driver takes back the
//!   buffer of every one of them;
//! * when fewer slots are consumed than were published, the last one ends the chain (a
//!   data slot without `more_data`), so the next packet starts on a packet's first slot;
//!   a chain cut by the producer ends the walk with every published slot consumed;
//! * an accepted packet has data slots at positions 0 then right after the extras, one per
//!   non-extra slot consumed, each inside its page, at most 18 (19 when the first slot
//!   holds no more than `RX_COPY_THRESHOLD` bytes), lengths adding up to `len`, at least
//!   14 bytes, only known extra types, the chain's last GSO extra with a non-zero size,
//!   and the last HASH extra's hash if it names Toeplitz and a known type (none otherwise);
//! * a dropped packet reports no data slot, and its reason holds for the input (bad
//!   status or offset, unknown extra type or bad GSO, too many slots, too short);
//! * the checksum state is the first slot's.

#![no_main]

use fuzz_input::{Input, SlotReader, RING_SLOTS};
use libfuzzer_sys::fuzz_target;
use xen_netif::flags::RxFlags;
use xen_netif::frontend::{
    parse_rx_packet, RxError, RxPacket, MAX_RX_DATA_SLOTS, RX_COPY_THRESHOLD,
};
use xen_netif::netif::{
    extra_type, Extra, ExtraError, ExtraInfo, RxResponse, ETH_HLEN, NR_SLOTS_MIN, PAGE_SIZE,
};

type Ring = [[u8; 8]; RING_SLOTS];

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let available = 1 + u32::from(input.u16()) % RING_SLOTS as u32;
    let ring: Ring = input.ring();

    let mut reader = SlotReader::new(&ring, available);
    let pkt = parse_rx_packet(available, |k| reader.read(k));
    check(&ring, &pkt, reader.reads, available);
});

fn check(ring: &Ring, pkt: &RxPacket, reads: u32, available: u32) {
    assert!(reads >= 1, "the first response was not read");
    assert_eq!(pkt.consumed, reads, "consumed slots are not the slots read");
    let first = RxResponse::from_le_bytes(&ring[0]);
    assert_eq!(pkt.checksum, first.flags().checksum());

    // The extra chain claimed by the first slot, and where it ends.
    let mut extras = 0usize;
    if first.flags().contains(RxFlags::EXTRA_INFO) {
        extras = ring[1..]
            .iter()
            .position(|s| !ExtraInfo::from_le_bytes(s).more())
            .map_or(RING_SLOTS - 1, |p| p + 1);
    }
    let consumed = pkt.consumed as usize;
    if consumed <= extras {
        // Only the producer stops a walk inside the extra chain.
        assert_eq!(pkt.consumed, available, "stopped inside the extra chain");
        assert!(
            pkt.error.is_some(),
            "a packet cut in its extras was accepted"
        );
    } else {
        // The data chain is slot 0, then the slots after the extras: every slot but the
        // last has `more_data`, and the last has none unless the producer cut the chain.
        let chain = core::iter::once(0).chain(extras + 1..consumed);
        let n = consumed - extras;
        for (j, k) in chain.enumerate() {
            let more = RxResponse::from_le_bytes(&ring[k])
                .flags()
                .contains(RxFlags::MORE_DATA);
            if j + 1 < n {
                assert!(more, "walked past the end of the chain");
            } else if more {
                assert_eq!(
                    pkt.consumed, available,
                    "stopped before the end of the chain"
                );
                assert!(
                    pkt.error.is_some(),
                    "a packet cut by the producer was accepted"
                );
            }
        }
    }
    if let Some((_, size)) = pkt.gso {
        assert!(size != 0);
        assert!(extras >= 1);
    }

    let Some(err) = pkt.error else {
        return check_accepted(ring, pkt, extras);
    };
    assert!(
        pkt.data_slots().is_empty(),
        "a dropped packet has data slots"
    );
    match err {
        RxError::MissingExtra | RxError::NeedMoreSlots => assert_eq!(pkt.consumed, available),
        RxError::BadExtraType(t) => assert!(t == extra_type::NONE || t >= extra_type::MAX),
        RxError::BadGso(e) => assert!(matches!(
            e,
            ExtraError::GsoSizeZero | ExtraError::BadGsoType(0 | 3..)
        )),
        RxError::BadSlot { status, offset } => {
            assert!(status < 0 || usize::from(offset) + status as usize > PAGE_SIZE)
        }
        RxError::TooManySlots(n) => assert!(n as usize > NR_SLOTS_MIN),
        RxError::TooShort(n) => assert!((n as usize) < ETH_HLEN),
    }
}

fn check_accepted(ring: &Ring, pkt: &RxPacket, extras: usize) {
    let consumed = pkt.consumed as usize;
    assert!(consumed > extras);
    let mut gso = None;
    let mut hash = None;
    for slot in &ring[1..=extras] {
        let x = ExtraInfo::from_le_bytes(slot);
        match x.parse() {
            Ok(Extra::Gso { size, gso_type }) => gso = Some((gso_type, size)),
            Ok(Extra::Hash {
                hash_type,
                algorithm,
                value,
            }) => {
                hash = (algorithm == 1 && hash_type <= 3).then_some((hash_type, value));
            }
            Ok(_) => {}
            Err(e) => panic!("bad extra accepted: {e:?}"),
        }
    }
    assert_eq!(pkt.gso, gso);
    // The last HASH extra's hash if it is Toeplitz of a known type; none otherwise.
    assert_eq!(
        pkt.hash.map(|h| (h.hash_type as u8, h.value)),
        hash,
        "hash not the last valid HASH extra's"
    );

    let data = pkt.data_slots();
    assert_eq!(
        data.len(),
        consumed - extras,
        "one data slot per data response"
    );
    let first = RxResponse::from_le_bytes(&ring[0]);
    let max = if first.status >= 0 && first.status as u16 <= RX_COPY_THRESHOLD {
        MAX_RX_DATA_SLOTS
    } else {
        NR_SLOTS_MIN
    };
    assert!(data.len() <= max, "{} data slots accepted", data.len());
    let mut total = 0u32;
    for (i, d) in data.iter().enumerate() {
        let want = if i == 0 { 0 } else { extras + i };
        assert_eq!(d.position as usize, want, "data slot position");
        let r = RxResponse::from_le_bytes(&ring[want]);
        assert_eq!(
            (i32::from(d.len), d.offset),
            (i32::from(r.status), r.offset)
        );
        assert!(usize::from(d.offset) + usize::from(d.len) <= PAGE_SIZE);
        total += u32::from(d.len);
    }
    assert_eq!(total, pkt.len, "lengths do not add up");
    assert!(pkt.len as usize >= ETH_HLEN);
}
