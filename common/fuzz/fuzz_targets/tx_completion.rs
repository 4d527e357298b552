// SPDX-License-Identifier: GPL-2.0

//! Fuzz target `tx_completion`: netfront's classification of TX response slots written by
//! the backend, `frontend::tx_completion`, and the `TxResponse` decoder under it.
//!
//! Input: `u32` id bound (any value; the driver passes the TX ring size, 256), then
//! 12-byte response slots.
//!
//! Asserted for every slot, with the fuzzed bound and with the driver's 256:
//! * `RSP_NULL` (status 1) releases nothing, whatever its id;
//! * any other status names the slot's id and status when the id is below the bound
//!   (with 256: an index into netfront's per-id table that cannot be out of range), and
//!   is `BadId` (the device is marked broken) otherwise;
//! * only the response's 4 bytes count: the other 8 bytes of the slot (what is left of
//!   the request there) change nothing.

#![no_main]

use fuzz_input::Input;
use libfuzzer_sys::fuzz_target;
use xen_netif::frontend::{tx_completion, TxCompletion};
use xen_netif::netif::{Status, TxResponse};
use xen_netif::ring::TX_RING_SIZE;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let bound = input.u32();
    // netfront's per-id table: one entry per ring slot.
    let mut table = [0u8; TX_RING_SIZE as usize];
    while !input.is_empty() {
        let slot = &input.bytes::<12>();
        let rsp = TxResponse::from_slot(slot);
        assert_eq!(rsp.id, u16::from_le_bytes([slot[0], slot[1]]));
        assert_eq!(rsp.status, i16::from_le_bytes([slot[2], slot[3]]));
        assert_eq!(rsp.to_slot()[..4], slot[..4]);
        let mut stale = *slot;
        stale[4..].fill(!slot[4]);

        for bound in [bound, TX_RING_SIZE] {
            let c = tx_completion(slot, bound);
            assert_eq!(
                c,
                tx_completion(&stale, bound),
                "request bytes changed the answer"
            );
            match c {
                TxCompletion::Null => assert_eq!(rsp.status, Status::Null as i16),
                TxCompletion::Done { id, status } => {
                    assert_eq!((id, status), (rsp.id, rsp.status));
                    assert!(status != Status::Null as i16);
                    assert!(u32::from(id) < bound);
                    if bound == TX_RING_SIZE {
                        table[usize::from(id)] ^= 1;
                    }
                }
                TxCompletion::BadId(id) => {
                    assert_eq!(id, rsp.id);
                    assert!(rsp.status != Status::Null as i16);
                    assert!(u32::from(id) >= bound);
                }
            }
        }
    }
    core::hint::black_box(table);
});
