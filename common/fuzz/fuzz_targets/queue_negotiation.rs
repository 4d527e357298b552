// SPDX-License-Identifier: GPL-2.0

//! Fuzz target `queue_negotiation`: the queue-count rules applied to numbers the peer
//! writes, `negotiate::{backend_queue_count, frontend_queue_count,
//! frontend_writes_queue_count, effective_max_queues}`, and the per-queue XenStore paths
//! built from the result (`xenstore::QueueLayout`).
//!
//! Input: `u8` presence flags, `u32` frontend's `multi-queue-num-queues`, `u32` backend's
//! advertised maximum, `u32` backend's `multi-queue-max-queues` as the frontend reads it,
//! `u32` frontend `max_queues` parameter, `u32` online CPUs; the rest of the input is
//! also read as the raw `multi-queue-num-queues` text (`parse_unsigned`, as netback does).
//!
//! Asserted for every input:
//! * the backend accepts an absent request as 1 queue, refuses 0 and anything above what
//!   it advertised (naming both numbers), and otherwise takes the request as is;
//! * the frontend asks for at least 1 queue, never more than its own maximum or than a
//!   non-zero backend maximum, and writes the key exactly when the backend advertised;
//! * what a frontend asks of a backend advertising `m >= 1` queues that backend accepts;
//! * for any accepted count, every per-queue key path of queues `0..n` can be built
//!   (`queue-N/...`, or flat for one queue) and none for queue `n`.

#![no_main]

use fuzz_input::Input;
use libfuzzer_sys::fuzz_target;
use xen_netif::negotiate::{
    backend_queue_count, default_max_queues, effective_max_queues, frontend_queue_count,
    frontend_writes_queue_count, QueueCountError,
};
use xen_netif::xenstore::{parse_unsigned, queue_keys, QueueLayout};

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let present = input.u8();
    let requested = input.u32();
    let requested = (present & 1 != 0).then_some(requested);
    let advertised = input.u32();
    let be_max = input.u32();
    let be_max = (present & 2 != 0).then_some(be_max);
    let param = input.u32();
    let cpus = input.u32();
    let text = parse_unsigned(input.rest());

    let dflt = default_max_queues(cpus);
    assert!((1..=8).contains(&dflt) && (cpus == 0 || dflt <= cpus));
    let fe_max = effective_max_queues(param, cpus);
    assert_eq!(fe_max, if param == 0 { dflt } else { param });

    for req in [requested, text] {
        check_backend(req, advertised);
        check_backend(req, fe_max);
    }

    let asked = frontend_queue_count(be_max, fe_max);
    assert!(asked >= 1 && asked <= fe_max.max(1));
    if let Some(m @ 1..) = be_max {
        assert!(asked <= m);
        assert_eq!(backend_queue_count(Some(asked), m), Ok(asked));
    }
    assert_eq!(frontend_writes_queue_count(be_max), be_max.is_some());
    check_layout(asked);
});

fn check_backend(requested: Option<u32>, advertised: u32) {
    match (backend_queue_count(requested, advertised), requested) {
        (Ok(n), None) => assert_eq!(n, 1),
        (Ok(n), Some(r)) => assert!(n == r && n >= 1 && n <= advertised),
        (Err(QueueCountError::Zero), r) => assert_eq!(r, Some(0)),
        (Err(QueueCountError::TooMany { requested: r, max }), req) => {
            assert_eq!((Some(r), max), (req, advertised));
            assert!(r > max);
        }
    }
    if let Ok(n) = backend_queue_count(requested, advertised) {
        check_layout(n);
    }
}

fn check_layout(n: u32) {
    let layout = QueueLayout::for_queues(n);
    for key in [
        queue_keys::TX_RING_REF,
        queue_keys::RX_RING_REF,
        queue_keys::EVENT_CHANNEL,
        queue_keys::EVENT_CHANNEL_TX,
        queue_keys::EVENT_CHANNEL_RX,
    ] {
        for q in [0, n / 2, n - 1] {
            let path = layout.key(q, key).expect("key path of a negotiated queue");
            if n == 1 {
                assert_eq!(path, key);
                assert!(layout.dir(q).is_none());
            } else {
                assert_eq!(path.as_str(), format!("queue-{q}/{key}"));
                assert_eq!(layout.dir(q).unwrap().as_str(), format!("queue-{q}"));
            }
        }
        assert!(layout.key(n, key).is_err());
        assert!(layout.dir(n).is_none());
    }
}
