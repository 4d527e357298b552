// SPDX-License-Identifier: GPL-2.0

//! Backend checks on frontend-written ring memory: guest TX request chains and the slot
//! budget of guest RX packets.
//!
//! [`parse_tx_packet`] works on request slots the caller copies out of the shared page
//! exactly once each (through the `read` closure, called at most once per index) and
//! decides, without side effects, what the driver does with them: build a packet, drop it
//! (answer every slot `RSP_ERROR`), answer a control-only request, or disable the vif.
//! The rules and their order follow the reference's section 5.2 (rows 2–16) and Linux
//! netback's `xenvif_tx_build_gops` / `xenvif_count_requests`.

use super::flags::TxFlags;
use super::netif::{
    Extra, ExtraError, ExtraInfo, GsoType, Status, TxRequest, ETH_HLEN, NR_SLOTS_MIN, PAGE_SIZE,
};

/// Header bytes copied into the linear area of a guest-TX skb (`XEN_NETBACK_TX_COPY_LEN`).
pub const TX_COPY_LEN: usize = 128;

/// Default of the `fatal_skb_slots` parameter: more further slots than this disable the vif.
pub const DEFAULT_FATAL_SKB_SLOTS: u32 = 20;

/// Largest `fatal_skb_slots` we accept; the parameter is clamped into
/// `NR_SLOTS_MIN..=MAX_FATAL_SKB_SLOTS` so a dropped packet's ids fit in [`TxPacket`].
pub const MAX_FATAL_SKB_SLOTS: u32 = 64;

/// Clamps the `fatal_skb_slots` parameter into the range the parser supports.
pub const fn clamp_fatal_skb_slots(param: u32) -> u32 {
    if param < NR_SLOTS_MIN as u32 {
        NR_SLOTS_MIN as u32
    } else if param > MAX_FATAL_SKB_SLOTS {
        MAX_FATAL_SKB_SLOTS
    } else {
        param
    }
}

/// Why a packet is dropped (every slot answered `RSP_ERROR`; the vif keeps running).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxDrop {
    /// More than 18 further slots, but no more than `fatal_skb_slots` (row 8).
    TooManySlots(u32),
    /// A further slot is larger than what remains of the packet (row 9).
    FragLargerThanRemaining {
        /// The slot's size.
        size: u16,
        /// Bytes of the packet not yet accounted for.
        remaining: u16,
    },
    /// The first slot's own data is shorter than an Ethernet header (row 11).
    FirstSlotTooShort(u16),
}

/// Why the vif must be disabled (`xenvif_fatal_tx_err`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxFatal {
    /// The extra chain runs past the published requests (row 4).
    MissingExtra,
    /// An extra of type 0 or beyond the last defined one (row 5).
    BadExtraType(u8),
    /// The `more_data` chain runs past the published requests (row 6).
    MissingSlots(u32),
    /// More further slots than `fatal_skb_slots` (row 7).
    MaliciousSlots(u32),
    /// A slot's `offset + size` crosses the end of its page (row 10).
    CrossesPage {
        /// The slot's offset.
        offset: u16,
        /// The slot's size.
        size: u16,
    },
    /// GSO extra with size 0 (row 12).
    GsoSizeZero,
    /// GSO extra of an unknown type (row 12).
    BadGsoType(u8),
}

/// One further data slot of a packet (never zero-length: those are answered at once).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxFrag {
    /// Grant of the page holding the data.
    pub gref: u32,
    /// Offset of the data in the page.
    pub offset: u16,
    /// Bytes in this slot.
    pub len: u16,
    /// The request's id.
    pub id: u16,
}

/// A parsed TX packet: what to copy and how to answer its slots.
#[derive(Clone, Copy, Debug)]
pub struct TxPacket {
    /// The first request as the frontend wrote it (`size` = whole packet length).
    pub first: TxRequest,
    /// Bytes of data in the first slot (the total minus the further slots).
    pub first_len: u16,
    /// Extra slots that followed the first request (each answered `RSP_NULL`).
    pub extra_slots: u32,
    /// The GSO extra, if any.
    pub gso: Option<(u16, GsoType)>,
    /// The sender's hash extra, if any: (hash type bit, value).
    pub hash: Option<(u8, u32)>,
    /// A multicast add/delete extra, if any: such a request carries no packet.
    pub mcast: Option<Extra>,
    /// Ring slots the packet used: first + extras + further slots.
    pub consumed: u32,
    frags: [TxFrag; NR_SLOTS_MIN],
    nr_frags: usize,
    ids: [u16; MAX_FATAL_SKB_SLOTS as usize],
    nr_ids: usize,
}

impl TxPacket {
    fn new(first: TxRequest) -> Self {
        Self {
            first,
            first_len: first.size,
            extra_slots: 0,
            gso: None,
            hash: None,
            mcast: None,
            consumed: 1,
            frags: [TxFrag::default(); NR_SLOTS_MIN],
            nr_frags: 0,
            ids: [0; MAX_FATAL_SKB_SLOTS as usize],
            nr_ids: 0,
        }
    }

    /// The further slots holding data, in order (zero-length slots are left out).
    pub fn frags(&self) -> &[TxFrag] {
        &self.frags[..self.nr_frags]
    }

    /// Ids of the further slots, zero-length ones included, in ring order: each gets one
    /// response after the first request's response and its extras' `RSP_NULL`s.
    pub fn further_ids(&self) -> &[u16] {
        &self.ids[..self.nr_ids]
    }

    /// The packet length the frontend announced in the first slot.
    pub fn len(&self) -> u32 {
        u32::from(self.first.size)
    }

    /// Whether the announced length is zero.
    pub fn is_empty(&self) -> bool {
        self.first.size == 0
    }
}

/// The decision for the requests at the ring's consumer index.
#[derive(Clone, Copy, Debug)]
pub enum TxParse {
    /// A valid packet (or, with `mcast` set, a control-only request).
    Packet(TxPacket),
    /// Drop the packet: answer every slot `RSP_ERROR` and go on.
    Drop(TxPacket, TxDrop),
    /// Disable the vif; nothing is answered.
    Fatal(TxFatal),
}

/// Parses the packet starting at the consumer index.
///
/// `available` is the number of published, unconsumed requests (already checked against
/// the ring size, row 2) and at least 1. `read(i)` copies the `i`-th of them (0-based from
/// the consumer index) out of the ring; it is called at most once per index, in order.
/// `fatal_slots` is the clamped `fatal_skb_slots`.
pub fn parse_tx_packet(
    available: u32,
    mut read: impl FnMut(u32) -> [u8; 12],
    fatal_slots: u32,
) -> TxParse {
    let first = TxRequest::from_le_bytes(&read(0));
    let mut pkt = TxPacket::new(first);
    let mut idx = 1u32;

    // Extras (rows 4, 5); the GSO extra's contents are judged after the slot count, as C
    // does, so a packet that is dropped for its size is not also fatal.
    let mut gso_raw: Option<ExtraInfo> = None;
    if first.flags().contains(TxFlags::EXTRA_INFO) {
        loop {
            if idx >= available {
                return TxParse::Fatal(TxFatal::MissingExtra);
            }
            let extra = ExtraInfo::from_tx_slot(&read(idx));
            idx += 1;
            pkt.extra_slots += 1;
            match extra.parse() {
                Ok(Extra::Hash {
                    hash_type, value, ..
                }) => pkt.hash = Some((hash_type, value)),
                Ok(m @ (Extra::McastAdd(_) | Extra::McastDel(_))) => pkt.mcast = Some(m),
                Ok(Extra::Gso { .. })
                | Err(ExtraError::GsoSizeZero)
                | Err(ExtraError::BadGsoType(_)) => gso_raw = Some(extra),
                Ok(Extra::Xdp { .. }) => {}
                Err(ExtraError::BadType(t)) => return TxParse::Fatal(TxFatal::BadExtraType(t)),
            }
            if !extra.more() {
                break;
            }
        }
    }
    pkt.consumed = idx;
    if pkt.mcast.is_some() {
        // A multicast control request: answered on its own, no data slots are read.
        return TxParse::Packet(pkt);
    }

    // Further slots (rows 6-10, 16).
    let mut drop: Option<TxDrop> = None;
    let mut remaining = first.size;
    let mut more = first.flags().contains(TxFlags::MORE_DATA);
    let mut further = 0u32;
    while more {
        if idx >= available {
            return TxParse::Fatal(TxFatal::MissingSlots(further + 1));
        }
        if further >= fatal_slots {
            return TxParse::Fatal(TxFatal::MaliciousSlots(further + 1));
        }
        if drop.is_none() && further >= NR_SLOTS_MIN as u32 {
            drop = Some(TxDrop::TooManySlots(further + 1));
        }
        let req = TxRequest::from_le_bytes(&read(idx));
        idx += 1;
        further += 1;
        if drop.is_none() && req.size > remaining {
            drop = Some(TxDrop::FragLargerThanRemaining {
                size: req.size,
                remaining,
            });
        }
        remaining = remaining.wrapping_sub(req.size);
        if usize::from(req.offset) + usize::from(req.size) > PAGE_SIZE {
            return TxParse::Fatal(TxFatal::CrossesPage {
                offset: req.offset,
                size: req.size,
            });
        }
        more = req.flags().contains(TxFlags::MORE_DATA);
        pkt.ids[pkt.nr_ids] = req.id;
        pkt.nr_ids += 1;
        if drop.is_none() && req.size > 0 {
            pkt.frags[pkt.nr_frags] = TxFrag {
                gref: req.gref,
                offset: req.offset,
                len: req.size,
                id: req.id,
            };
            pkt.nr_frags += 1;
        }
    }
    pkt.consumed = idx;
    pkt.first_len = remaining;
    if let Some(reason) = drop {
        return TxParse::Drop(pkt, reason);
    }

    // The first slot (rows 10, 11).
    if usize::from(remaining) < ETH_HLEN {
        return TxParse::Drop(pkt, TxDrop::FirstSlotTooShort(remaining));
    }
    if usize::from(first.offset) + usize::from(remaining) > PAGE_SIZE {
        return TxParse::Fatal(TxFatal::CrossesPage {
            offset: first.offset,
            size: remaining,
        });
    }

    // GSO (row 12).
    if let Some(raw) = gso_raw {
        match raw.parse() {
            Ok(Extra::Gso { size, gso_type }) => pkt.gso = Some((size, gso_type)),
            Err(ExtraError::GsoSizeZero) => return TxParse::Fatal(TxFatal::GsoSizeZero),
            Err(ExtraError::BadGsoType(t)) => return TxParse::Fatal(TxFatal::BadGsoType(t)),
            _ => {}
        }
    }
    TxParse::Packet(pkt)
}

/// The status the frontend gets for every slot of a packet.
pub const fn tx_status(ok: bool) -> Status {
    if ok {
        Status::Okay
    } else {
        Status::Error
    }
}

/// Guest-RX slots a packet of `len` bytes needs: one per started page, plus one for a GSO
/// extra and one for a hash extra (the reference's rule 6: count every extra the backend
/// will write; C's `xenvif_update_needed_slots()` counts both).
pub const fn rx_slots_needed(len: u32, gso: bool, hash: bool) -> u32 {
    let data = len.div_ceil(PAGE_SIZE as u32);
    let data = if data == 0 { 1 } else { data };
    data + gso as u32 + hash as u32
}

/// Credit floor (bytes) so that a maximum-size GSO packet can always pass the shaper.
pub const CREDIT_BURST_FLOOR: u64 = 131072;

/// Credit-based shaping of guest TX from the `rate` key (reference 4.8), per queue as in C.
///
/// Time is in milliseconds; the window is `usec / 1000`, truncated like C (a window under
/// 1 ms refills at every packet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credit {
    bytes: u64,
    window_ms: u64,
    remaining: u64,
    window_start: u64,
}

impl Credit {
    /// No limit (no `rate` key, or an unparsable one).
    pub const fn unlimited() -> Self {
        Self {
            bytes: u64::MAX,
            window_ms: 0,
            remaining: u64::MAX,
            window_start: 0,
        }
    }

    /// `bytes` per `usec` microseconds, starting a window at `now`.
    pub const fn new(bytes: u64, usec: u64, now: u64) -> Self {
        Self {
            bytes,
            window_ms: usec / 1000,
            remaining: bytes,
            window_start: now,
        }
    }

    /// Whether a limit applies.
    pub const fn is_limited(&self) -> bool {
        self.bytes != u64::MAX
    }

    /// A live change of the rate: the remaining credit is clamped to the new budget (C
    /// does this only when no credit timer is pending; ours never is when this runs).
    pub fn set_rate(&mut self, bytes: u64, usec: u64) {
        self.bytes = bytes;
        self.window_ms = usec / 1000;
        if self.remaining > bytes {
            self.remaining = bytes;
        }
    }

    fn refill(&mut self) {
        let max_burst = if self.bytes > CREDIT_BURST_FLOOR {
            self.bytes
        } else {
            CREDIT_BURST_FLOOR
        };
        let max_credit = self.remaining.saturating_add(self.bytes);
        self.remaining = if max_credit < max_burst {
            max_credit
        } else {
            max_burst
        };
    }

    /// Charges a packet of `size` bytes at time `now`. `Err(t)`: not enough credit; the
    /// packet stays on the ring until time `t`, when the next window starts.
    pub fn charge(&mut self, size: u32, now: u64) -> Result<(), u64> {
        if !self.is_limited() {
            return Ok(());
        }
        let next = self.window_start.saturating_add(self.window_ms);
        if now >= next {
            // Windows follow their schedule: a packet that waited for this window and is
            // looked at late (the wake-up, a poll, ran after `next`) starts the window at
            // `next`, as C's credit timer does (`credit_window_start = next_credit`), so
            // the lateness does not stretch every window and shape below the rate. After
            // a whole idle window the window starts now.
            self.window_start = if now - next < self.window_ms {
                next
            } else {
                now
            };
            self.refill();
        }
        let size = u64::from(size);
        if size > self.remaining {
            return Err(self.window_start.saturating_add(self.window_ms));
        }
        self.remaining -= size;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::protocol::netif::extra_type;
    use std::{vec, vec::Vec};

    fn req(gref: u32, offset: u16, flags: TxFlags, id: u16, size: u16) -> [u8; 12] {
        TxRequest {
            gref,
            offset,
            flags: flags.bits(),
            id,
            size,
        }
        .to_le_bytes()
    }

    fn extra(type_: u8, more: bool, payload: [u8; 6]) -> [u8; 12] {
        ExtraInfo {
            type_,
            flags: u8::from(more),
            payload,
        }
        .to_tx_slot()
    }

    /// Runs the parser over `slots` and checks every index is read at most once, in order.
    fn parse(slots: &[[u8; 12]]) -> TxParse {
        let mut next = 0u32;
        parse_tx_packet(
            slots.len() as u32,
            |i| {
                assert_eq!(i, next, "slot read out of order or twice");
                next += 1;
                slots[i as usize]
            },
            DEFAULT_FATAL_SKB_SLOTS,
        )
    }

    fn chain(further: usize, first_size: u16, frag_size: u16) -> Vec<[u8; 12]> {
        let mut v = vec![req(1, 0, TxFlags::MORE_DATA, 0, first_size)];
        for i in 0..further {
            let more = if i + 1 < further {
                TxFlags::MORE_DATA
            } else {
                TxFlags::EMPTY
            };
            v.push(req(2, 0, more, i as u16 + 1, frag_size));
        }
        v
    }

    #[test]
    fn single_slot_packet() {
        match parse(&[req(7, 100, TxFlags::CSUM_BLANK, 3, 60)]) {
            TxParse::Packet(p) => {
                assert_eq!((p.first_len, p.consumed, p.frags().len()), (60, 1, 0));
                assert_eq!(p.first.id, 3);
                assert!(p.gso.is_none());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn multi_slot_packet_with_gso() {
        let slots = [
            req(1, 0, TxFlags::MORE_DATA | TxFlags::EXTRA_INFO, 0, 3000),
            extra(extra_type::GSO, false, [0xa8, 0x05, 1, 0, 0, 0]),
            req(2, 0, TxFlags::EMPTY, 1, 1000),
        ];
        match parse(&slots) {
            TxParse::Packet(p) => {
                assert_eq!((p.first_len, p.consumed, p.extra_slots), (2000, 3, 1));
                assert_eq!(p.gso, Some((1448, GsoType::TcpV4)));
                assert_eq!(p.frags()[0].len, 1000);
                assert_eq!(p.further_ids(), &[1]);
            }
            other => panic!("{other:?}"),
        }
    }

    // Row 4.
    #[test]
    fn extra_chain_past_producer_is_fatal() {
        let slots = [
            req(1, 0, TxFlags::EXTRA_INFO, 0, 100),
            extra(extra_type::HASH, true, [0; 6]),
        ];
        assert!(matches!(
            parse(&slots),
            TxParse::Fatal(TxFatal::MissingExtra)
        ));
    }

    // Row 5.
    #[test]
    fn bad_extra_type_is_fatal() {
        for t in [0u8, 6, 200] {
            let slots = [
                req(1, 0, TxFlags::EXTRA_INFO, 0, 100),
                extra(t, false, [0; 6]),
            ];
            assert!(matches!(
                parse(&slots),
                TxParse::Fatal(TxFatal::BadExtraType(x)) if x == t
            ));
        }
    }

    // Row 6.
    #[test]
    fn data_chain_past_producer_is_fatal() {
        let mut slots = chain(3, 3000, 100);
        slots.pop();
        assert!(matches!(
            parse(&slots),
            TxParse::Fatal(TxFatal::MissingSlots(3))
        ));
    }

    // Row 7.
    #[test]
    fn more_than_fatal_skb_slots_is_fatal() {
        let slots = chain(21, 60000, 100);
        assert!(matches!(
            parse(&slots),
            TxParse::Fatal(TxFatal::MaliciousSlots(21))
        ));
    }

    // Row 8.
    #[test]
    fn nineteen_or_twenty_further_slots_are_dropped() {
        for n in [19usize, 20] {
            let slots = chain(n, 60000, 100);
            match parse(&slots) {
                TxParse::Drop(p, TxDrop::TooManySlots(19)) => {
                    assert_eq!(p.consumed as usize, n + 1);
                    assert_eq!(p.further_ids().len(), n);
                }
                other => panic!("{n}: {other:?}"),
            }
        }
        // 18 further slots are the spec's minimum and pass.
        assert!(matches!(parse(&chain(18, 2000, 100)), TxParse::Packet(_)));
    }

    // Row 9.
    #[test]
    fn frag_larger_than_remaining_is_dropped() {
        let slots = chain(2, 1000, 600);
        match parse(&slots) {
            TxParse::Drop(
                p,
                TxDrop::FragLargerThanRemaining {
                    size: 600,
                    remaining: 400,
                },
            ) => {
                assert_eq!(p.consumed, 3)
            }
            other => panic!("{other:?}"),
        }
    }

    // Row 10.
    #[test]
    fn slot_crossing_page_is_fatal() {
        let slots = [
            req(1, 0, TxFlags::MORE_DATA, 0, 200),
            req(2, 4000, TxFlags::EMPTY, 1, 100),
        ];
        assert!(matches!(
            parse(&slots),
            TxParse::Fatal(TxFatal::CrossesPage {
                offset: 4000,
                size: 100
            })
        ));
        assert!(matches!(
            parse(&[req(1, 4090, TxFlags::EMPTY, 0, 60)]),
            TxParse::Fatal(TxFatal::CrossesPage { .. })
        ));
    }

    // Row 11.
    #[test]
    fn short_first_slot_is_dropped() {
        assert!(matches!(
            parse(&[req(1, 0, TxFlags::EMPTY, 0, 13)]),
            TxParse::Drop(_, TxDrop::FirstSlotTooShort(13))
        ));
        // 10 bytes in the first slot, the header continues in the second: still dropped.
        assert!(matches!(
            parse(&chain(1, 110, 100)),
            TxParse::Drop(_, TxDrop::FirstSlotTooShort(10))
        ));
    }

    // Row 12.
    #[test]
    fn bad_gso_is_fatal() {
        let zero = [
            req(1, 0, TxFlags::EXTRA_INFO, 0, 100),
            extra(extra_type::GSO, false, [0, 0, 1, 0, 0, 0]),
        ];
        assert!(matches!(parse(&zero), TxParse::Fatal(TxFatal::GsoSizeZero)));
        let bad_type = [
            req(1, 0, TxFlags::EXTRA_INFO, 0, 100),
            extra(extra_type::GSO, false, [0xa8, 5, 9, 0, 0, 0]),
        ];
        assert!(matches!(
            parse(&bad_type),
            TxParse::Fatal(TxFatal::BadGsoType(9))
        ));
    }

    // Row 16.
    #[test]
    fn zero_length_slots_get_no_fragment() {
        let slots = [
            req(1, 0, TxFlags::MORE_DATA, 0, 100),
            req(2, 0, TxFlags::MORE_DATA, 1, 0),
            req(3, 0, TxFlags::EMPTY, 2, 40),
        ];
        match parse(&slots) {
            TxParse::Packet(p) => {
                assert_eq!(p.frags().len(), 1);
                assert_eq!(p.further_ids(), &[1, 2]);
                assert_eq!(p.first_len, 60);
            }
            other => panic!("{other:?}"),
        }
    }

    // Row 22 (we have no multicast filter; the request is answered, no packet built).
    #[test]
    fn multicast_request_carries_no_packet() {
        let slots = [
            req(1, 0, TxFlags::EXTRA_INFO | TxFlags::MORE_DATA, 0, 0),
            extra(extra_type::MCAST_ADD, false, [1, 0, 0x5e, 0, 0, 1]),
        ];
        match parse(&slots) {
            TxParse::Packet(p) => {
                assert!(p.mcast.is_some());
                assert_eq!(p.consumed, 2);
            }
            other => panic!("{other:?}"),
        }
    }

    // Row 31: stall detection counts the slots really needed, extras included.
    #[test]
    fn rx_slots_needed_counts_extras() {
        assert_eq!(rx_slots_needed(0, false, false), 1);
        assert_eq!(rx_slots_needed(1500, false, false), 1);
        assert_eq!(rx_slots_needed(4097, false, false), 2);
        assert_eq!(rx_slots_needed(65535, true, false), 17);
        assert_eq!(rx_slots_needed(1500, false, true), 2);
        assert_eq!(rx_slots_needed(65535, true, true), 18);
    }

    // Row 24: a packet larger than the remaining credit waits for the next window.
    #[test]
    fn credit_holds_packets_until_the_next_window() {
        // 10 KB per 50 ms.
        let mut c = Credit::new(10_000, 50_000, 1000);
        assert_eq!(c.charge(6000, 1000), Ok(()));
        assert_eq!(c.charge(6000, 1010), Err(1050));
        // Next window: refilled (capped by the 128 KiB floor), the packet passes.
        assert_eq!(c.charge(6000, 1050), Ok(()));
        let mut u = Credit::unlimited();
        assert_eq!(u.charge(65535, 0), Ok(()));
        // Credit accumulates window by window (the cap is at least 128 KiB), so a 64 KiB
        // GSO packet gets through even at a tiny rate.
        let mut tiny = Credit::new(1000, 100_000, 0);
        let mut t = 0;
        while let Err(next) = tiny.charge(65535, t) {
            assert_eq!(next, t + 100);
            t = next;
        }
        assert_eq!(t, 6500);
        // A lower live rate clamps what is left.
        let mut l = Credit::new(100_000, 50_000, 0);
        l.set_rate(1000, 50_000);
        assert_eq!(l.charge(2000, 10), Err(50));
    }

    // A late wake-up (a busy worker thread, TCG) must not stretch the windows: over many
    // windows each looked at `late` ms after its start, the bytes let through stay those
    // of the rate.
    #[test]
    fn credit_windows_do_not_drift_with_late_wakeups() {
        // 50,500 bytes per 50 ms (8.08 Mbit/s), 1,500-byte packets, wake-ups 30 ms late.
        let mut c = Credit::new(50_500, 50_000, 0);
        let late = 30;
        let (mut t, mut sent) = (0u64, 0u64);
        while t < 10_000 {
            match c.charge(1500, t) {
                Ok(()) => sent += 1500,
                Err(at) => t = at + late,
            }
        }
        // 200 windows in 10 s: the rate's 10.1 MB, less one window at most.
        assert!(sent >= 200 * 50_500 - 50_500, "sent {sent}");
        assert!(sent <= 201 * 50_500 + CREDIT_BURST_FLOOR, "sent {sent}");
        // After an idle gap longer than a window the window restarts at the packet.
        let mut i = Credit::new(10_000, 50_000, 0);
        assert_eq!(i.charge(10_000, 0), Ok(()));
        assert_eq!(i.charge(10_000, 500), Ok(()));
        assert_eq!(i.charge(10_000, 520), Err(550));
    }

    #[test]
    fn fatal_skb_slots_is_clamped() {
        assert_eq!(clamp_fatal_skb_slots(0), 18);
        assert_eq!(clamp_fatal_skb_slots(20), 20);
        assert_eq!(clamp_fatal_skb_slots(1000), MAX_FATAL_SKB_SLOTS);
    }
}
