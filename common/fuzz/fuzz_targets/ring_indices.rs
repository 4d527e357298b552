// SPDX-License-Identifier: GPL-2.0

//! Fuzz target `ring_indices`: the checks on the free-running indices a peer writes in the
//! shared ring header, `ring::{published, unconsumed_requests, check_attach, need_notify,
//! slot_offset}`.
//!
//! Input: `u8` ring choice (TX, RX or control ring geometry) and mode, `u32` our consumer
//! index, `u32` distance to the producer index the peer wrote, `u16` our requests in flight
//! (kept within the ring, as the driver's own state always is), `u32` distance from our
//! previous producer index to the new one, `u32` distance to the event index the peer
//! wrote. In "near" mode (half the inputs) the distances are reduced to about a ring, so
//! that the edges (a full ring, one more) are hit as often as the far-off values.
//!
//! Asserted for every input, across the `u32` wrap:
//! * `published` accepts a producer at most one ring ahead of the consumer and returns
//!   exactly that distance; anything else (a producer behind us included) is refused with
//!   the indices that were read;
//! * `unconsumed_requests` refuses what `published` refuses, and otherwise never lets
//!   the backend take more requests than were published or than it has free response
//!   slots (`RING_UNCONSUMED_REQUESTS`);
//! * `check_attach` refuses exactly the outstanding counts `published` refuses;
//! * `need_notify` wakes the peer exactly when its event index lies in `(old, new]`;
//! * whatever index the peer makes us use, `slot_offset` stays on a slot boundary inside
//!   the ring page.

#![no_main]

use fuzz_input::Input;
use libfuzzer_sys::fuzz_target;
use xen_netif::ring::{
    check_attach, need_notify, published, slot_offset, unconsumed_requests, RingOverflow,
    CTRL_RING_SIZE, CTRL_SLOT_SIZE, RING_HEADER_SIZE, RING_PAGE_SIZE, RX_RING_SIZE, RX_SLOT_SIZE,
    TX_RING_SIZE, TX_SLOT_SIZE,
};

const GEOMETRIES: [(u32, usize); 3] = [
    (TX_RING_SIZE, TX_SLOT_SIZE),
    (RX_RING_SIZE, RX_SLOT_SIZE),
    (CTRL_RING_SIZE, CTRL_SLOT_SIZE),
];

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mode = input.u8();
    let (size, _) = GEOMETRIES[usize::from(mode >> 1) % GEOMETRIES.len()];
    let near = |d: u32| if mode & 1 != 0 { d % (size + 2) } else { d };
    let cons = input.u32();
    let prod = cons.wrapping_add(near(input.u32()));
    let in_flight = u32::from(input.u16()) % (size + 1);
    let old = prod.wrapping_sub(near(input.u32()));
    let event = old.wrapping_add(near(input.u32()));

    let distance = prod.wrapping_sub(cons);
    let pubd = published(prod, cons, size);
    match pubd {
        Ok(n) => assert!(n == distance && n <= size),
        Err(e) => {
            assert!(distance > size);
            assert_eq!(e, RingOverflow { prod, cons });
        }
    }

    // Backend: our response producer is `in_flight` requests behind our consumer.
    let rsp_prod_pvt = cons.wrapping_sub(in_flight);
    match (unconsumed_requests(prod, cons, rsp_prod_pvt, size), pubd) {
        (Ok(n), Ok(p)) => {
            assert!(n <= p, "more requests than published");
            assert!(
                n + in_flight <= size,
                "more requests than free response slots"
            );
            assert_eq!(n, p.min(size - in_flight));
        }
        (Err(e), Err(f)) => assert_eq!(e, f),
        (u, p) => panic!("unconsumed_requests {u:?} but published {p:?}"),
    }
    assert_eq!(check_attach(prod, cons, size).is_ok(), pubd.is_ok());

    // Producer moved `old` -> `prod`; the peer asked to be woken at `event`.
    let woken = event.wrapping_sub(old).wrapping_sub(1) < prod.wrapping_sub(old);
    assert_eq!(need_notify(old, prod, event), woken);

    for idx in [prod, event, cons.wrapping_add(distance)] {
        for (size, slot_size) in GEOMETRIES {
            let off = slot_offset(idx, size, slot_size);
            assert!(off >= RING_HEADER_SIZE && off + slot_size <= RING_PAGE_SIZE);
            assert_eq!((off - RING_HEADER_SIZE) % slot_size, 0);
        }
    }
});
