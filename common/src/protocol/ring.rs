// SPDX-License-Identifier: GPL-2.0

//! Shared-ring geometry and index arithmetic (`include/xen/interface/io/ring.h`).
//!
//! Ring indices are free-running `u32` values that wrap; every comparison here uses
//! wrapping subtraction. Indices written by the peer are untrusted and checked against
//! the ring size before any count derived from them is used.

/// Size of a shared ring page.
pub const RING_PAGE_SIZE: usize = 4096;
/// Bytes before the first slot: producer/event indices and padding.
pub const RING_HEADER_SIZE: usize = 64;

/// Byte offsets of the shared header fields.
pub mod header {
    /// Request producer index (written by the frontend).
    pub const REQ_PROD: usize = 0;
    /// Request event index (written by the backend).
    pub const REQ_EVENT: usize = 4;
    /// Response producer index (written by the backend).
    pub const RSP_PROD: usize = 8;
    /// Response event index (written by the frontend).
    pub const RSP_EVENT: usize = 12;
}

/// Number of slots of a one-page ring whose slots are `slot_size` bytes: the largest power
/// of two that fits after the header.
pub const fn ring_size(slot_size: usize) -> u32 {
    let fit = (RING_PAGE_SIZE - RING_HEADER_SIZE) / slot_size;
    let mut size = 1u32;
    while (size as usize) * 2 <= fit {
        size *= 2;
    }
    size
}

/// Slot size of the TX ring (union of a 12-byte request and a 4-byte response).
pub const TX_SLOT_SIZE: usize = 12;
/// Slot size of the RX ring.
pub const RX_SLOT_SIZE: usize = 8;
/// Slot size of the control ring.
pub const CTRL_SLOT_SIZE: usize = 16;
/// Entries of a TX ring (`XEN_NETIF_TX_RING_SIZE`).
pub const TX_RING_SIZE: u32 = ring_size(TX_SLOT_SIZE);
/// Entries of an RX ring (`XEN_NETIF_RX_RING_SIZE`).
pub const RX_RING_SIZE: u32 = ring_size(RX_SLOT_SIZE);
/// Entries of a control ring.
pub const CTRL_RING_SIZE: u32 = ring_size(CTRL_SLOT_SIZE);

/// Byte offset, within the ring page, of the slot that index `idx` maps to.
pub const fn slot_offset(idx: u32, size: u32, slot_size: usize) -> usize {
    RING_HEADER_SIZE + ((idx & (size - 1)) as usize) * slot_size
}

/// Whether a producer that moved its index from `old` to `new` must notify a peer that
/// asked to be woken at `event` (`RING_PUSH_*_AND_CHECK_NOTIFY`).
pub const fn need_notify(old: u32, new: u32, event: u32) -> bool {
    new.wrapping_sub(event) < new.wrapping_sub(old)
}

/// A peer-written index that cannot be right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingOverflow {
    /// The producer index the peer published.
    pub prod: u32,
    /// Our consumer index.
    pub cons: u32,
}

/// Entries published by the peer and not consumed yet: `prod - cons`, refused when the
/// peer claims more than a full ring.
pub const fn published(prod: u32, cons: u32, size: u32) -> Result<u32, RingOverflow> {
    let n = prod.wrapping_sub(cons);
    if n > size {
        Err(RingOverflow { prod, cons })
    } else {
        Ok(n)
    }
}

/// Backend side: requests that may be consumed now (`RING_UNCONSUMED_REQUESTS`), bounded
/// both by what the frontend published and by the response slots still free.
pub const fn unconsumed_requests(
    req_prod: u32,
    req_cons: u32,
    rsp_prod_pvt: u32,
    size: u32,
) -> Result<u32, RingOverflow> {
    match published(req_prod, req_cons, size) {
        Ok(reqs) => {
            let room = size - req_cons.wrapping_sub(rsp_prod_pvt);
            Ok(if reqs < room { reqs } else { room })
        }
        Err(e) => Err(e),
    }
}

/// Frontend side: request slots still free (`RING_FREE_REQUESTS`).
pub const fn free_requests(req_prod_pvt: u32, rsp_cons: u32, size: u32) -> u32 {
    size - req_prod_pvt.wrapping_sub(rsp_cons)
}

/// Check made when a backend attaches to a ring the frontend set up: the requests
/// outstanding (`req_prod - rsp_prod`) must fit in the ring.
pub const fn check_attach(req_prod: u32, rsp_prod: u32, size: u32) -> Result<(), RingOverflow> {
    match published(req_prod, rsp_prod, size) {
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_sizes_match_netif_h() {
        assert_eq!(TX_RING_SIZE, 256);
        assert_eq!(RX_RING_SIZE, 256);
        assert_eq!(CTRL_RING_SIZE, 128);
        assert_eq!(ring_size(64), 32);
        assert_eq!(slot_offset(0, 256, 12), 64);
        assert_eq!(slot_offset(257, 256, 12), 76);
        assert_eq!(slot_offset(255, 256, 12) + 12, 64 + 256 * 12);
        assert!(slot_offset(255, 256, 12) + 12 <= RING_PAGE_SIZE);
    }

    #[test]
    fn notify_rule_with_wraparound() {
        // Peer wants to hear about index 5; we moved 3 -> 6.
        assert!(need_notify(3, 6, 5));
        // Peer wants 7; not reached yet.
        assert!(!need_notify(3, 6, 7));
        // Event exactly at the new index.
        assert!(need_notify(3, 6, 6));
        // Event at the old index was already passed before.
        assert!(!need_notify(3, 6, 3));
        // Across the u32 wrap.
        assert!(need_notify(u32::MAX - 1, 2, 0));
        assert!(!need_notify(u32::MAX - 1, 2, 3));
    }

    #[test]
    fn published_counts_across_wrap_and_rejects_overflow() {
        assert_eq!(published(10, 4, 256), Ok(6));
        assert_eq!(published(3, u32::MAX - 2, 256), Ok(6));
        assert_eq!(published(256, 0, 256), Ok(256));
        assert_eq!(
            published(257, 0, 256),
            Err(RingOverflow { prod: 257, cons: 0 })
        );
        // A producer behind the consumer looks like a huge count.
        assert!(published(0, 1, 256).is_err());
    }

    #[test]
    fn unconsumed_requests_is_bounded_by_response_room() {
        // 10 published, 10 free response slots.
        assert_eq!(unconsumed_requests(10, 0, 0, 256), Ok(10));
        // Ring full of unanswered requests: nothing may be consumed.
        assert_eq!(unconsumed_requests(300, 256, 0, 256), Ok(0));
        // Half answered.
        assert_eq!(unconsumed_requests(300, 256, 128, 256), Ok(44));
        assert!(unconsumed_requests(1000, 0, 0, 256).is_err());
    }

    #[test]
    fn free_requests_and_attach() {
        assert_eq!(free_requests(0, 0, 256), 256);
        assert_eq!(free_requests(300, 100, 256), 56);
        assert_eq!(free_requests(2, u32::MAX - 253, 256), 0);
        assert_eq!(check_attach(5, 0, 256), Ok(()));
        assert!(check_attach(300, 0, 256).is_err());
    }
}
