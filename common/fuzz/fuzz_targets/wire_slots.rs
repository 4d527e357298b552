// SPDX-License-Identifier: GPL-2.0

//! Fuzz target `wire_slots`: the decoders of single ring slots written by the peer,
//! `ExtraInfo::{from_le_bytes, from_tx_slot, parse}`, `TxRequest::from_le_bytes`,
//! `RxRequest::from_le_bytes`, `RxResponse::from_le_bytes` and the flag words.
//!
//! Input: one 12-byte slot (zero-padded); the 8-byte structures use its first 8 bytes.
//!
//! Asserted for every slot:
//! * every decoder is total and loses nothing: encoding the decoded value gives the same
//!   bytes back, and an extra read from a TX slot equals one read from its first 8 bytes;
//! * `ExtraInfo::parse` follows `netif.h`: types 1 to 5 only (`BadType` otherwise); GSO
//!   with type 1 or 2 (`BadGsoType` otherwise, judged first) and a non-zero size
//!   (`GsoSizeZero`); multicast carries the 6 payload bytes, hash its type, algorithm and
//!   little-endian value, XDP its little-endian headroom; what it accepts encodes back to
//!   the same type, `more` flag and value;
//! * the checksum state read from TX or RX flags follows "`csum_blank` wins".

#![no_main]

use fuzz_input::Input;
use libfuzzer_sys::fuzz_target;
use xen_netif::flags::{Checksum, RxFlags, TxFlags};
use xen_netif::netif::{
    extra_type, Extra, ExtraError, ExtraInfo, RxRequest, RxResponse, TxRequest, EXTRA_FLAG_MORE,
};

fuzz_target!(|data: &[u8]| {
    let slot: [u8; 12] = Input::new(data).bytes();
    let mut b8 = [0u8; 8];
    b8.copy_from_slice(&slot[..8]);

    let tx = TxRequest::from_le_bytes(&slot);
    assert_eq!(tx.to_le_bytes(), slot);
    assert_eq!(RxRequest::from_le_bytes(&b8).to_le_bytes(), b8);
    let rx = RxResponse::from_le_bytes(&b8);
    assert_eq!(rx.to_le_bytes(), b8);

    check_flags(
        tx.flags().contains(TxFlags::CSUM_BLANK),
        tx.flags().contains(TxFlags::DATA_VALIDATED),
        tx.flags().checksum(),
    );
    check_flags(
        rx.flags().contains(RxFlags::CSUM_BLANK),
        rx.flags().contains(RxFlags::DATA_VALIDATED),
        rx.flags().checksum(),
    );
    assert_eq!(TxFlags::from_bits(tx.flags).bits(), tx.flags);
    assert_eq!(RxFlags::from_bits(rx.flags).bits(), rx.flags);

    let x = ExtraInfo::from_le_bytes(&b8);
    assert_eq!(ExtraInfo::from_tx_slot(&slot), x);
    assert_eq!(x.to_le_bytes(), b8);
    assert_eq!(x.to_tx_slot()[..8], slot[..8]);
    assert_eq!(x.more(), x.flags & EXTRA_FLAG_MORE != 0);
    check_extra(&x);
});

fn check_flags(blank: bool, validated: bool, csum: Checksum) {
    let want = match (blank, validated) {
        (true, _) => Checksum::Partial,
        (false, true) => Checksum::Unnecessary,
        (false, false) => Checksum::None,
    };
    assert_eq!(csum, want);
}

fn check_extra(x: &ExtraInfo) {
    let p = x.payload;
    let le16 = u16::from_le_bytes([p[0], p[1]]);
    match x.parse() {
        Ok(e) => {
            let back = ExtraInfo::encode(&e, x.more());
            assert_eq!((back.type_, back.more()), (x.type_, x.more()));
            assert_eq!(back.parse(), Ok(e));
            match e {
                Extra::Gso { size, gso_type } => {
                    assert_eq!(x.type_, extra_type::GSO);
                    assert!(size != 0 && size == le16);
                    assert_eq!(gso_type.to_wire(), p[2]);
                }
                Extra::McastAdd(a) => assert_eq!((x.type_, a), (extra_type::MCAST_ADD, p)),
                Extra::McastDel(a) => assert_eq!((x.type_, a), (extra_type::MCAST_DEL, p)),
                Extra::Hash {
                    hash_type,
                    algorithm,
                    value,
                } => {
                    assert_eq!(x.type_, extra_type::HASH);
                    assert_eq!((hash_type, algorithm), (p[0], p[1]));
                    assert_eq!(value, u32::from_le_bytes([p[2], p[3], p[4], p[5]]));
                }
                Extra::Xdp { headroom } => {
                    assert_eq!((x.type_, headroom), (extra_type::XDP, le16));
                }
            }
        }
        Err(ExtraError::BadType(t)) => {
            assert_eq!(t, x.type_);
            assert!(t == extra_type::NONE || t >= extra_type::MAX);
        }
        Err(ExtraError::BadGsoType(t)) => {
            assert_eq!((x.type_, t), (extra_type::GSO, p[2]));
            assert!(t != 1 && t != 2);
        }
        Err(ExtraError::GsoSizeZero) => {
            assert_eq!(x.type_, extra_type::GSO);
            assert!(le16 == 0 && (p[2] == 1 || p[2] == 2));
        }
    }
}
