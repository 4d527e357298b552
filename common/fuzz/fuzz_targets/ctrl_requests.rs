// SPDX-License-Identifier: GPL-2.0

//! Fuzz target `ctrl_requests`: the backend's control-ring service
//! (`ctrl::HashConfig::serve`) fed a sequence of frontend-written request slots, with
//! the key and mapping pages the frontend granted, and its queue choice and hashing
//! afterwards.
//!
//! Input: `u8` connected queues (1..=8) and page mode, a 512-byte page (in "small" mode
//! each of its `u32` entries is one input byte modulo 10, so entries at and around the
//! queue count are common), then until the input ends: a 16-byte request slot, a `u8`
//! that in half the cases brings the request's data words into 0..160 (where sizes,
//! offsets and lengths sit at the table's bounds), and a `u32` hash to steer. Grants:
//! gref % 3 == 1 is the page, == 2 its first half (a too-short page fails to copy), 0
//! fails. Request types are taken modulo 9, so every known type and the unknown answer
//! come up often.
//!
//! Asserted for every request:
//! * the response echoes the request's id and type, with status SUCCESS,
//!   NOT_SUPPORTED or INVALID_PARAMETER (never BUFFER_OVERFLOW, as C), and `data` 0
//!   except for the two `GET_*` answers;
//! * a request that did not succeed left the configuration exactly as it was;
//! * the mapping table never exceeds 128 entries, every entry names a connected queue
//!   (XSA-270), and `queue_for` is always a connected queue;
//! * without the Toeplitz algorithm nothing is hashed, and a hash computed has a type
//!   the frontend enabled.

#![no_main]

use fuzz_input::Input;
use libfuzzer_sys::fuzz_target;
use xen_netif::ctrl::{
    ctrl_type, CtrlRequest, CtrlStatus, Flow, GrantReader, HashAlgorithm, HashConfig,
    MAX_HASH_MAPPING_SIZE,
};

struct Pages<'a>(&'a [u8; 512]);

impl GrantReader for Pages<'_> {
    fn read(&mut self, gref: u32, out: &mut [u8]) -> bool {
        let page: &[u8] = match gref % 3 {
            1 => &self.0[..],
            2 => &self.0[..256],
            _ => return false,
        };
        if out.len() > page.len() {
            return false;
        }
        out.copy_from_slice(&page[..out.len()]);
        true
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mode = input.u8();
    let queues = u32::from(mode % 8) + 1;
    let mut page = [0u8; 512];
    if mode & 0x80 != 0 {
        let small: [u8; 128] = input.bytes();
        for (entry, b) in page.chunks_exact_mut(4).zip(small) {
            entry.copy_from_slice(&u32::from(b % 10).to_le_bytes());
        }
    } else {
        page = input.bytes();
    }
    let mut cfg = HashConfig::new();
    while !input.is_empty() {
        let mut slot: [u8; 16] = input.bytes();
        slot[2] %= 9;
        slot[3] = 0;
        let mut req = CtrlRequest::from_le_bytes(&slot);
        if input.bool() {
            for d in &mut req.data {
                *d %= 160;
            }
        }
        let before = cfg.clone();
        let rsp = cfg.serve(&req, queues, &mut Pages(&page));
        assert_eq!((rsp.id, rsp.type_), (req.id, req.type_));
        assert!(
            rsp.status == CtrlStatus::Success as u32
                || rsp.status == CtrlStatus::NotSupported as u32
                || rsp.status == CtrlStatus::InvalidParameter as u32
        );
        match req.type_ {
            ctrl_type::GET_HASH_FLAGS | ctrl_type::GET_HASH_MAPPING_SIZE => {}
            _ => assert_eq!(rsp.data, 0),
        }
        if rsp.status != CtrlStatus::Success as u32 {
            assert_eq!(cfg, before, "a failed request changed the configuration");
        }
        assert!(cfg.mapping().len() <= MAX_HASH_MAPPING_SIZE as usize);
        assert!(cfg.mapping().iter().all(|&q| q < queues));
        let hash = input.u32();
        assert!(cfg.queue_for(hash, queues) < queues);
        let flow = Flow::V4 {
            src: hash.to_be_bytes(),
            dst: [10, 0, 0, 1],
            tcp_ports: (hash & 1 != 0).then_some((hash as u16, 80)),
        };
        match cfg.flow_hash(&flow) {
            None => assert!(
                cfg.algorithm() == HashAlgorithm::None || cfg.flags() & 0x3 == 0 || {
                    // TCP enabled alone, and this packet is not TCP.
                    cfg.flags() & 0x3 == 0x2 && hash & 1 == 0
                }
            ),
            Some(h) => {
                assert_eq!(cfg.algorithm(), HashAlgorithm::Toeplitz);
                assert_ne!(cfg.flags() & h.hash_type.flag(), 0);
            }
        }
    }
});
