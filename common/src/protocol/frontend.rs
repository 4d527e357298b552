// SPDX-License-Identifier: GPL-2.0

//! Frontend checks on backend-written ring memory: TX completions and RX packet chains.
//!
//! Both functions work on slot bytes the caller has already copied out of the shared page
//! (once per slot) and decide, without side effects, what the driver does: which request a
//! completion releases, which RX slots carry data, and whether a packet is dropped. They
//! follow the Linux netfront rules in the reference's section 5.3 (rows F2–F15).

use super::ctrl::{HashAlgorithm, HashType};
use super::flags::Checksum;
use super::netif::{
    extra_type, Extra, ExtraError, ExtraInfo, GsoType, RxResponse, TxResponse, NR_SLOTS_MIN,
    PAGE_SIZE,
};

/// Bytes of the first RX slot copied into the skb's linear area (`RX_COPY_THRESHOLD`).
pub const RX_COPY_THRESHOLD: u16 = 256;

/// Most data slots one RX packet may use: 18, or 19 when the first holds at most
/// [`RX_COPY_THRESHOLD`] bytes (its page is then not kept as a fragment).
pub const MAX_RX_DATA_SLOTS: usize = NR_SLOTS_MIN + 1;

/// The outcome of one TX response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxCompletion {
    /// `RSP_NULL`: the slot answered an extra; nothing to release.
    Null,
    /// Request `id` finished with `status` (`RSP_OKAY`, `RSP_ERROR`, ...).
    Done {
        /// The request id, below the ring size.
        id: u16,
        /// The backend's status.
        status: i16,
    },
    /// The id cannot name a request: the device must be marked broken.
    BadId(u16),
}

/// Classifies a copied TX response slot; `ring_size` bounds the ids.
pub fn tx_completion(slot: &[u8; 12], ring_size: u32) -> TxCompletion {
    let rsp = TxResponse::from_slot(slot);
    if rsp.status == 1 {
        return TxCompletion::Null;
    }
    if u32::from(rsp.id) >= ring_size {
        return TxCompletion::BadId(rsp.id);
    }
    TxCompletion::Done {
        id: rsp.id,
        status: rsp.status,
    }
}

/// Why an RX packet is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxError {
    /// An extra chain runs past the published responses.
    MissingExtra,
    /// An extra of type 0 or beyond the known types.
    BadExtraType(u8),
    /// A GSO extra with size 0 or an unknown GSO type.
    BadGso(ExtraError),
    /// A data slot with a negative status or `offset + status` beyond the page.
    BadSlot {
        /// The slot's status.
        status: i16,
        /// The slot's offset.
        offset: u16,
    },
    /// A `more_data` chain runs past the published responses.
    NeedMoreSlots,
    /// More data slots than the limit.
    TooManySlots(u32),
    /// Shorter than an Ethernet header.
    TooShort(u32),
}

/// One data slot of an RX packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DataSlot {
    /// Position in the packet's chain (0 = the packet's first slot).
    pub position: u32,
    /// Data offset in the page.
    pub offset: u16,
    /// Data length.
    pub len: u16,
}

/// A parsed RX packet: the slots it used, the data slots, and the metadata.
#[derive(Clone, Copy, Debug)]
pub struct RxPacket {
    /// Slots consumed (data and extras), always at least 1; all of them are released.
    pub consumed: u32,
    data: [DataSlot; MAX_RX_DATA_SLOTS],
    data_count: usize,
    /// Total data length.
    pub len: u32,
    /// Checksum state from the first slot's flags.
    pub checksum: Checksum,
    /// The accepted GSO extra, if any.
    pub gso: Option<(GsoType, u16)>,
    /// The backend's hash of the packet, from the chain's last `HASH` extra if that one
    /// names a known hash type and the Toeplitz algorithm; any other `HASH` extra is
    /// ignored (the packet is not dropped for it).
    pub hash: Option<RxHash>,
    /// Set when the packet must be dropped.
    pub error: Option<RxError>,
}

impl RxPacket {
    /// The data slots in order (empty when [`RxPacket::error`] is set).
    pub fn data_slots(&self) -> &[DataSlot] {
        if self.error.is_some() {
            &[]
        } else {
            &self.data[..self.data_count]
        }
    }
}

/// A packet hash the backend sent in a `HASH` extra (reference section 1.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxHash {
    /// The hash value.
    pub value: u32,
    /// The input it covered: the kernel's `PKT_HASH_TYPE_L4` for the TCP types
    /// ([`HashType::is_l4`]), `PKT_HASH_TYPE_L3` for the others.
    pub hash_type: HashType,
}

impl RxHash {
    /// The hash of a `HASH` extra's fields, if they are valid: a known hash type bit
    /// number and the Toeplitz algorithm (the only one the protocol defines besides none,
    /// which never comes with a hash).
    pub fn from_extra(hash_type: u8, algorithm: u8, value: u32) -> Option<Self> {
        if u32::from(algorithm) != HashAlgorithm::Toeplitz as u32 {
            return None;
        }
        Some(Self {
            value,
            hash_type: HashType::from_bit(hash_type)?,
        })
    }
}

/// Walks one RX packet starting at the first unconsumed response.
///
/// `available` is the number of published, unconsumed responses (at least 1); `read(k)`
/// returns the copy of the response `k` slots after the first. Each slot is read at most
/// once. The first error is kept; the walk still follows the chain so that every slot the
/// packet covers is consumed, as netfront does.
pub fn parse_rx_packet(available: u32, mut read: impl FnMut(u32) -> [u8; 8]) -> RxPacket {
    let mut pkt = RxPacket {
        consumed: 1,
        data: [DataSlot::default(); MAX_RX_DATA_SLOTS],
        data_count: 0,
        len: 0,
        checksum: Checksum::None,
        gso: None,
        hash: None,
        error: None,
    };
    let first = RxResponse::from_le_bytes(&read(0));
    let first_flags = first.flags();
    pkt.checksum = first_flags.checksum();
    let set_err = |pkt: &mut RxPacket, e: RxError| {
        if pkt.error.is_none() {
            pkt.error = Some(e);
        }
    };

    if first_flags.contains(super::flags::RxFlags::EXTRA_INFO) {
        loop {
            if pkt.consumed == available {
                set_err(&mut pkt, RxError::MissingExtra);
                return pkt;
            }
            let extra = ExtraInfo::from_le_bytes(&read(pkt.consumed));
            pkt.consumed += 1;
            if extra.type_ == extra_type::NONE || extra.type_ >= extra_type::MAX {
                set_err(&mut pkt, RxError::BadExtraType(extra.type_));
            } else if extra.type_ == extra_type::GSO {
                match extra.parse() {
                    Ok(Extra::Gso { size, gso_type }) => pkt.gso = Some((gso_type, size)),
                    Ok(_) => {}
                    Err(e) => set_err(&mut pkt, RxError::BadGso(e)),
                }
            } else if extra.type_ == extra_type::HASH {
                // The last `HASH` extra decides, as C keeps the last extra of each type; an
                // invalid one leaves the packet without a hash.
                pkt.hash = match extra.parse() {
                    Ok(Extra::Hash {
                        hash_type,
                        algorithm,
                        value,
                    }) => RxHash::from_extra(hash_type, algorithm, value),
                    _ => None,
                };
            }
            if !extra.more() {
                break;
            }
        }
    }

    let max_slots = if first.status >= 0 && first.status as u16 <= RX_COPY_THRESHOLD {
        MAX_RX_DATA_SLOTS
    } else {
        NR_SLOTS_MIN
    } as u32;
    let mut rsp = first;
    let mut position = 0u32;
    let mut data_slots = 0u32;
    loop {
        data_slots += 1;
        if rsp.status < 0 || usize::from(rsp.offset) + rsp.status as usize > PAGE_SIZE {
            set_err(
                &mut pkt,
                RxError::BadSlot {
                    status: rsp.status,
                    offset: rsp.offset,
                },
            );
        } else {
            if pkt.data_count < MAX_RX_DATA_SLOTS {
                pkt.data[pkt.data_count] = DataSlot {
                    position,
                    offset: rsp.offset,
                    len: rsp.status as u16,
                };
                pkt.data_count += 1;
            }
            pkt.len += rsp.status as u32;
        }
        if !rsp.flags().contains(super::flags::RxFlags::MORE_DATA) {
            break;
        }
        if pkt.consumed == available {
            set_err(&mut pkt, RxError::NeedMoreSlots);
            break;
        }
        position = pkt.consumed;
        rsp = RxResponse::from_le_bytes(&read(pkt.consumed));
        pkt.consumed += 1;
    }
    if data_slots > max_slots {
        set_err(&mut pkt, RxError::TooManySlots(data_slots));
    }
    if pkt.error.is_none() && (pkt.len as usize) < super::netif::ETH_HLEN {
        let len = pkt.len;
        set_err(&mut pkt, RxError::TooShort(len));
    }
    pkt
}

#[cfg(test)]
mod tests {
    use super::super::flags::RxFlags;
    use super::*;

    fn data(offset: u16, status: i16, flags: RxFlags) -> [u8; 8] {
        RxResponse {
            id: 0,
            offset,
            flags: flags.bits(),
            status,
        }
        .to_le_bytes()
    }

    fn gso(size: u16, ty: u8, more: bool) -> [u8; 8] {
        let mut e = ExtraInfo::encode(
            &Extra::Gso {
                size: 1,
                gso_type: GsoType::TcpV4,
            },
            more,
        );
        e.payload[0..2].copy_from_slice(&size.to_le_bytes());
        e.payload[2] = ty;
        e.to_le_bytes()
    }

    /// Runs the parser over `slots` (all published) and checks row F1 on the way: every
    /// slot is read at most once, in order, never past the producer, and the packet
    /// consumes exactly the slots that were read.
    fn parse(slots: &[[u8; 8]]) -> RxPacket {
        let mut next = 0u32;
        let p = parse_rx_packet(slots.len() as u32, |k| {
            assert_eq!(k, next, "slot {k} read out of order or twice");
            assert!(
                (k as usize) < slots.len(),
                "slot {k} read past the producer"
            );
            next += 1;
            slots[k as usize]
        });
        assert_eq!(
            p.consumed, next,
            "consumed slots differ from the slots read"
        );
        p
    }

    #[test]
    fn tx_completion_rules() {
        let ok = TxResponse { id: 7, status: 0 }.to_slot();
        assert_eq!(
            tx_completion(&ok, 256),
            TxCompletion::Done { id: 7, status: 0 }
        );
        let null = TxResponse { id: 999, status: 1 }.to_slot();
        assert_eq!(tx_completion(&null, 256), TxCompletion::Null);
        let bad = TxResponse { id: 256, status: 0 }.to_slot();
        assert_eq!(tx_completion(&bad, 256), TxCompletion::BadId(256));
        let err = TxResponse { id: 3, status: -1 }.to_slot();
        assert_eq!(
            tx_completion(&err, 256),
            TxCompletion::Done { id: 3, status: -1 }
        );
    }

    #[test]
    fn single_slot_packet() {
        let p = parse(&[data(0, 60, RxFlags::DATA_VALIDATED)]);
        assert_eq!(p.error, None);
        assert_eq!(p.consumed, 1);
        assert_eq!(p.len, 60);
        assert_eq!(p.checksum, Checksum::Unnecessary);
        assert_eq!(p.data_slots().len(), 1);
    }

    #[test]
    fn multi_slot_with_gso_extra() {
        let first = RxFlags::CSUM_BLANK | RxFlags::MORE_DATA | RxFlags::EXTRA_INFO;
        let p = parse(&[
            data(0, 4096, first),
            gso(1448, 1, false),
            data(0, 4096, RxFlags::MORE_DATA),
            data(0, 100, RxFlags::EMPTY),
        ]);
        assert_eq!(p.error, None);
        assert_eq!(p.consumed, 4);
        assert_eq!(p.len, 8292);
        assert_eq!(p.gso, Some((GsoType::TcpV4, 1448)));
        assert_eq!(p.checksum, Checksum::Partial);
        let pos: [u32; 3] = [0, 2, 3];
        for (d, want) in p.data_slots().iter().zip(pos) {
            assert_eq!(d.position, want);
        }
    }

    #[test]
    fn bad_status_and_offset_drop() {
        let p = parse(&[data(0, -1, RxFlags::EMPTY)]);
        assert_eq!(
            p.error,
            Some(RxError::BadSlot {
                status: -1,
                offset: 0
            })
        );
        let p = parse(&[data(4000, 200, RxFlags::EMPTY)]);
        assert_eq!(
            p.error,
            Some(RxError::BadSlot {
                status: 200,
                offset: 4000
            })
        );
        assert!(p.data_slots().is_empty());
        // A bad slot in the middle still consumes the whole chain.
        let p = parse(&[
            data(0, 100, RxFlags::MORE_DATA),
            data(0, -2, RxFlags::MORE_DATA),
            data(0, 10, RxFlags::EMPTY),
        ]);
        assert_eq!(p.consumed, 3);
        assert!(matches!(p.error, Some(RxError::BadSlot { .. })));
    }

    #[test]
    fn chains_past_producer_drop() {
        let p = parse(&[data(0, 100, RxFlags::MORE_DATA)]);
        assert_eq!(p.error, Some(RxError::NeedMoreSlots));
        assert_eq!(p.consumed, 1);
        let p = parse(&[data(0, 100, RxFlags::EXTRA_INFO)]);
        assert_eq!(p.error, Some(RxError::MissingExtra));
        let p = parse(&[data(0, 100, RxFlags::EXTRA_INFO), gso(1448, 1, true)]);
        assert_eq!(p.error, Some(RxError::MissingExtra));
        assert_eq!(p.consumed, 2);
    }

    #[test]
    fn bad_extras_drop() {
        let mut e = [0u8; 8];
        e[0] = 0;
        let p = parse(&[data(0, 100, RxFlags::EXTRA_INFO), e]);
        assert_eq!(p.error, Some(RxError::BadExtraType(0)));
        e[0] = 6;
        let p = parse(&[data(0, 100, RxFlags::EXTRA_INFO), e]);
        assert_eq!(p.error, Some(RxError::BadExtraType(6)));
        let p = parse(&[data(0, 100, RxFlags::EXTRA_INFO), gso(0, 1, false)]);
        assert_eq!(p.error, Some(RxError::BadGso(ExtraError::GsoSizeZero)));
        let p = parse(&[data(0, 100, RxFlags::EXTRA_INFO), gso(1448, 9, false)]);
        assert_eq!(p.error, Some(RxError::BadGso(ExtraError::BadGsoType(9))));
    }

    #[test]
    fn slot_limits() {
        let mut slots = [data(0, 4096, RxFlags::MORE_DATA); 20];
        slots[18] = data(0, 4096, RxFlags::EMPTY);
        // 19 data slots with a large first slot: too many.
        let p = parse(&slots[..19]);
        assert_eq!(p.error, Some(RxError::TooManySlots(19)));
        // 18 is fine.
        let mut s18 = [data(0, 4096, RxFlags::MORE_DATA); 18];
        s18[17] = data(0, 4096, RxFlags::EMPTY);
        assert_eq!(parse(&s18).error, None);
        // 19 with a short first slot is fine; 20 is not.
        let mut s19 = [data(0, 4096, RxFlags::MORE_DATA); 19];
        s19[0] = data(0, 200, RxFlags::MORE_DATA);
        s19[18] = data(0, 4096, RxFlags::EMPTY);
        assert_eq!(parse(&s19).error, None);
        let mut s20 = [data(0, 4096, RxFlags::MORE_DATA); 20];
        s20[0] = data(0, 200, RxFlags::MORE_DATA);
        s20[19] = data(0, 4096, RxFlags::EMPTY);
        assert_eq!(parse(&s20).error, Some(RxError::TooManySlots(20)));
        assert_eq!(parse(&s20).consumed, 20);
    }

    // F1: each response is copied out once, and a packet ends where its chain ends, so
    // the next packet is parsed from its own first slot.
    #[test]
    fn slots_are_read_once_and_packets_follow_each_other() {
        let ring = [
            data(0, 1000, RxFlags::MORE_DATA | RxFlags::EXTRA_INFO),
            gso(1448, 2, false),
            data(0, 500, RxFlags::EMPTY),
            data(64, 80, RxFlags::DATA_VALIDATED),
        ];
        let mut reads = [0u8; 4];
        let mut cons = 0usize;
        let mut lens = [0u32; 2];
        for len in lens.iter_mut() {
            let p = parse_rx_packet((ring.len() - cons) as u32, |k| {
                reads[cons + k as usize] += 1;
                ring[cons + k as usize]
            });
            assert_eq!(p.error, None);
            *len = p.len;
            cons += p.consumed as usize;
        }
        assert_eq!(cons, ring.len());
        assert_eq!(reads, [1; 4]);
        assert_eq!(lens, [1500, 80]);
    }

    // F9, F11, F12: a dropped packet still consumes its whole chain (extras and data
    // slots), so the packet after it is not parsed from the middle of this one.
    #[test]
    fn dropped_packets_consume_their_whole_chain() {
        let mut bad_type = [0u8; 8];
        bad_type[0] = 0xff;
        bad_type[1] = 1; // `more`: another extra follows.
        let p = parse(&[
            data(0, 100, RxFlags::MORE_DATA | RxFlags::EXTRA_INFO),
            bad_type,
            gso(1448, 1, false),
            data(0, 100, RxFlags::MORE_DATA),
            data(0, 100, RxFlags::EMPTY),
            data(0, 60, RxFlags::EMPTY),
        ]);
        assert_eq!(p.error, Some(RxError::BadExtraType(0xff)));
        assert_eq!(p.consumed, 5);
        assert!(p.data_slots().is_empty());
        let p = parse(&[
            data(0, 100, RxFlags::MORE_DATA),
            data(4000, 200, RxFlags::MORE_DATA),
            data(0, 100, RxFlags::EMPTY),
            data(0, 60, RxFlags::EMPTY),
        ]);
        assert!(matches!(
            p.error,
            Some(RxError::BadSlot { offset: 4000, .. })
        ));
        assert_eq!(p.consumed, 3);
    }

    // F11 at its edges: a slot may end exactly at the end of its page, and an empty data
    // slot is not an error; one byte further, or any negative status, is.
    #[test]
    fn slot_bounds_at_the_page_end() {
        let p = parse(&[
            data(4036, 60, RxFlags::MORE_DATA),
            data(0, 0, RxFlags::MORE_DATA),
            data(4095, 1, RxFlags::EMPTY),
        ]);
        assert_eq!(p.error, None);
        assert_eq!(p.len, 61);
        assert_eq!(p.data_slots().len(), 3);
        assert_eq!(p.data_slots()[1].len, 0);
        let p = parse(&[data(4037, 60, RxFlags::EMPTY)]);
        assert!(matches!(p.error, Some(RxError::BadSlot { .. })));
        let p = parse(&[
            data(0, 100, RxFlags::MORE_DATA),
            data(4096, 1, RxFlags::EMPTY),
        ]);
        assert!(matches!(p.error, Some(RxError::BadSlot { .. })));
        let p = parse(&[data(0, i16::MIN, RxFlags::EMPTY)]);
        assert!(matches!(p.error, Some(RxError::BadSlot { .. })));
    }

    // F13 at its edge: the 19th data slot is allowed only when the first slot holds at
    // most RX_COPY_THRESHOLD bytes.
    #[test]
    fn nineteenth_slot_depends_on_the_copy_threshold() {
        for (first, ok) in [(RX_COPY_THRESHOLD, true), (RX_COPY_THRESHOLD + 1, false)] {
            let mut slots = [data(0, 4096, RxFlags::MORE_DATA); 19];
            slots[0] = data(0, first as i16, RxFlags::MORE_DATA);
            slots[18] = data(0, 4096, RxFlags::EMPTY);
            let p = parse(&slots);
            let want = if ok {
                None
            } else {
                Some(RxError::TooManySlots(19))
            };
            assert_eq!(p.error, want, "first slot {first} bytes");
            assert_eq!(p.data_slots().len(), if ok { 19 } else { 0 });
        }
    }

    #[test]
    fn runt_packet_drop() {
        let p = parse(&[data(0, 10, RxFlags::EMPTY)]);
        assert_eq!(p.error, Some(RxError::TooShort(10)));
    }

    fn hash(hash_type: u8, algorithm: u8, value: u32, more: bool) -> [u8; 8] {
        ExtraInfo::encode(
            &Extra::Hash {
                hash_type,
                algorithm,
                value,
            },
            more,
        )
        .to_le_bytes()
    }

    #[test]
    fn hash_extra_gives_the_packet_its_hash() {
        let p = parse(&[data(0, 100, RxFlags::EXTRA_INFO), hash(1, 1, 5, false)]);
        assert_eq!(p.error, None);
        assert_eq!(p.gso, None);
        assert_eq!(p.consumed, 2);
        assert_eq!(
            p.hash,
            Some(RxHash {
                value: 5,
                hash_type: HashType::Ipv4Tcp
            })
        );
        assert!(p.hash.unwrap().hash_type.is_l4());
        for (bit, t, l4) in [
            (0, HashType::Ipv4, false),
            (2, HashType::Ipv6, false),
            (3, HashType::Ipv6Tcp, true),
        ] {
            let p = parse(&[
                data(0, 100, RxFlags::EXTRA_INFO),
                hash(bit, 1, 0xdead_beef, false),
            ]);
            assert_eq!(
                p.hash.map(|h| (h.value, h.hash_type)),
                Some((0xdead_beef, t))
            );
            assert_eq!(p.hash.unwrap().hash_type.is_l4(), l4);
        }
        // After a GSO extra, as Linux netback sends them (GSO, then HASH).
        let p = parse(&[
            data(0, 100, RxFlags::EXTRA_INFO),
            gso(1448, 1, true),
            hash(1, 1, 7, false),
        ]);
        assert_eq!(p.error, None);
        assert_eq!(p.gso, Some((GsoType::TcpV4, 1448)));
        assert_eq!(p.hash.map(|h| h.value), Some(7));
    }

    #[test]
    fn unknown_hash_type_or_algorithm_is_ignored_not_the_packet() {
        for (t, alg) in [(4, 1), (0xff, 1), (1, 0), (1, 2), (0, 0xff)] {
            let p = parse(&[data(0, 100, RxFlags::EXTRA_INFO), hash(t, alg, 9, false)]);
            assert_eq!(p.error, None, "type {t} algorithm {alg}");
            assert_eq!(p.hash, None, "type {t} algorithm {alg}");
            assert_eq!(p.data_slots().len(), 1);
        }
        // The last HASH extra decides.
        let p = parse(&[
            data(0, 100, RxFlags::EXTRA_INFO),
            hash(1, 1, 9, true),
            hash(9, 1, 10, false),
        ]);
        assert_eq!((p.error, p.hash, p.consumed), (None, None, 3));
        let p = parse(&[
            data(0, 100, RxFlags::EXTRA_INFO),
            hash(9, 1, 9, true),
            hash(2, 1, 10, false),
        ]);
        assert_eq!(p.hash.map(|h| h.value), Some(10));
    }
}
