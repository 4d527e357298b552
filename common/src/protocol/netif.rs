// SPDX-License-Identifier: GPL-2.0

//! Wire structures of `include/xen/interface/io/netif.h`, as plain `Copy` values.
//!
//! Each ring slot is copied out of shared memory once into one of these structs and
//! validated afterwards; nothing here ever points into a granted page. Layouts are
//! `#[repr(C)]` and checked at compile time against the sizes and offsets of the C header.

use super::flags::{RxFlags, TxFlags};

/// Minimum number of slots per packet every backend must accept (`XEN_NETIF_NR_SLOTS_MIN`).
pub const NR_SLOTS_MIN: usize = 18;
/// Largest packet length: the first TX slot carries it in a `u16` (`XEN_NETIF_MAX_TX_SIZE`).
pub const MAX_TX_SIZE: usize = 0xffff;
/// Largest XDP headroom a frontend may request (`XEN_NETIF_MAX_XDP_HEADROOM`).
pub const MAX_XDP_HEADROOM: u16 = 0x7fff;
/// Size of a granted data page.
pub const PAGE_SIZE: usize = 4096;
/// Ethernet header length: the minimum data a first TX slot must carry.
pub const ETH_HLEN: usize = 14;

/// Response status values (`XEN_NETIF_RSP_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i16)]
pub enum Status {
    /// The packet was dropped.
    Dropped = -2,
    /// The request was rejected or its copy/map failed.
    Error = -1,
    /// Success.
    Okay = 0,
    /// Placeholder response for a slot that held an extra.
    Null = 1,
}

/// A guest TX request (`struct xen_netif_tx_request`), frontend to backend.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxRequest {
    /// Grant reference of the page holding the data.
    pub gref: u32,
    /// Offset of the data inside the page.
    pub offset: u16,
    /// Raw `XEN_NETTXF_*` bits; see [`TxRequest::flags`].
    pub flags: u16,
    /// Request id, echoed in the response.
    pub id: u16,
    /// First slot: whole packet length; later slots: this fragment's length.
    pub size: u16,
}

impl TxRequest {
    /// The request's flags as the TX flag type.
    pub const fn flags(&self) -> TxFlags {
        TxFlags::from_bits(self.flags)
    }

    /// Decodes a request from the 12 little-endian bytes of a ring slot.
    pub fn from_le_bytes(b: &[u8; 12]) -> Self {
        Self {
            gref: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            offset: u16::from_le_bytes([b[4], b[5]]),
            flags: u16::from_le_bytes([b[6], b[7]]),
            id: u16::from_le_bytes([b[8], b[9]]),
            size: u16::from_le_bytes([b[10], b[11]]),
        }
    }

    /// Encodes the request as the 12 bytes of a ring slot.
    pub fn to_le_bytes(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[0..4].copy_from_slice(&self.gref.to_le_bytes());
        b[4..6].copy_from_slice(&self.offset.to_le_bytes());
        b[6..8].copy_from_slice(&self.flags.to_le_bytes());
        b[8..10].copy_from_slice(&self.id.to_le_bytes());
        b[10..12].copy_from_slice(&self.size.to_le_bytes());
        b
    }
}

/// A guest TX response (`struct xen_netif_tx_response`), backend to frontend.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxResponse {
    /// Id of the request being answered.
    pub id: u16,
    /// A `XEN_NETIF_RSP_*` value.
    pub status: i16,
}

/// A guest RX request (`struct xen_netif_rx_request`): one writable page for the backend.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxRequest {
    /// Id echoed in the response.
    pub id: u16,
    /// Padding.
    pub pad: u16,
    /// Grant of a whole writable page.
    pub gref: u32,
}

/// A guest RX response (`struct xen_netif_rx_response`), backend to frontend.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxResponse {
    /// Id of the request.
    pub id: u16,
    /// Where the data starts in the page.
    pub offset: u16,
    /// Raw `XEN_NETRXF_*` bits; see [`RxResponse::flags`].
    pub flags: u16,
    /// Negative: a `XEN_NETIF_RSP_*` error; otherwise the bytes in this slot.
    pub status: i16,
}

impl RxResponse {
    /// The response's flags as the RX flag type.
    pub const fn flags(&self) -> RxFlags {
        RxFlags::from_bits(self.flags)
    }

    /// Decodes a response from the 8 little-endian bytes of a ring slot.
    pub fn from_le_bytes(b: &[u8; 8]) -> Self {
        Self {
            id: u16::from_le_bytes([b[0], b[1]]),
            offset: u16::from_le_bytes([b[2], b[3]]),
            flags: u16::from_le_bytes([b[4], b[5]]),
            status: i16::from_le_bytes([b[6], b[7]]),
        }
    }
}

/// Extra-info slot types (`XEN_NETIF_EXTRA_TYPE_*`).
pub mod extra_type {
    /// Invalid, never sent.
    pub const NONE: u8 = 0;
    /// GSO parameters.
    pub const GSO: u8 = 1;
    /// Add a multicast filter address.
    pub const MCAST_ADD: u8 = 2;
    /// Remove a multicast filter address.
    pub const MCAST_DEL: u8 = 3;
    /// Packet hash.
    pub const HASH: u8 = 4;
    /// XDP headroom.
    pub const XDP: u8 = 5;
    /// First invalid value.
    pub const MAX: u8 = 6;
}

/// `XEN_NETIF_EXTRA_FLAG_MORE`: another extra follows.
pub const EXTRA_FLAG_MORE: u8 = 1 << 0;

/// GSO types (`XEN_NETIF_GSO_TYPE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GsoType {
    /// TCP over IPv4.
    TcpV4,
    /// TCP over IPv6.
    TcpV6,
}

impl GsoType {
    /// The wire value.
    pub const fn to_wire(self) -> u8 {
        match self {
            GsoType::TcpV4 => 1,
            GsoType::TcpV6 => 2,
        }
    }
}

/// An extra-info slot (`struct xen_netif_extra_info`) as raw bytes: 8 bytes, a union in C.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExtraInfo {
    /// `XEN_NETIF_EXTRA_TYPE_*`.
    pub type_: u8,
    /// `XEN_NETIF_EXTRA_FLAG_*`.
    pub flags: u8,
    /// Type-specific payload.
    pub payload: [u8; 6],
}

/// A validated extra-info slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extra {
    /// GSO parameters: segment size and type.
    Gso {
        /// Maximum segment size, never 0.
        size: u16,
        /// Segmentation type.
        gso_type: GsoType,
    },
    /// Add a multicast address to the backend's filter.
    McastAdd([u8; 6]),
    /// Remove a multicast address from the backend's filter.
    McastDel([u8; 6]),
    /// A packet hash computed by the sender.
    Hash {
        /// Hash type bit number (`_XEN_NETIF_CTRL_HASH_TYPE_*`); unknown values are kept.
        hash_type: u8,
        /// Hash algorithm (1 = Toeplitz).
        algorithm: u8,
        /// The hash value.
        value: u32,
    },
    /// XDP headroom the backend left in front of the data.
    Xdp {
        /// Headroom in bytes.
        headroom: u16,
    },
}

/// Why an extra-info slot was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtraError {
    /// Type 0 or a type beyond the last defined one.
    BadType(u8),
    /// GSO extra with size 0.
    GsoSizeZero,
    /// GSO extra of an unknown type.
    BadGsoType(u8),
}

impl ExtraInfo {
    /// Whether another extra follows this one.
    pub const fn more(&self) -> bool {
        self.flags & EXTRA_FLAG_MORE != 0
    }

    /// Validates the slot and decodes its payload.
    pub fn parse(&self) -> Result<Extra, ExtraError> {
        let p = &self.payload;
        let mut addr = [0u8; 6];
        addr.copy_from_slice(p);
        match self.type_ {
            extra_type::GSO => {
                let size = u16::from_le_bytes([p[0], p[1]]);
                let gso_type = match p[2] {
                    1 => GsoType::TcpV4,
                    2 => GsoType::TcpV6,
                    t => return Err(ExtraError::BadGsoType(t)),
                };
                if size == 0 {
                    return Err(ExtraError::GsoSizeZero);
                }
                Ok(Extra::Gso { size, gso_type })
            }
            extra_type::MCAST_ADD => Ok(Extra::McastAdd(addr)),
            extra_type::MCAST_DEL => Ok(Extra::McastDel(addr)),
            extra_type::HASH => Ok(Extra::Hash {
                hash_type: p[0],
                algorithm: p[1],
                value: u32::from_le_bytes([p[2], p[3], p[4], p[5]]),
            }),
            extra_type::XDP => Ok(Extra::Xdp {
                headroom: u16::from_le_bytes([p[0], p[1]]),
            }),
            t => Err(ExtraError::BadType(t)),
        }
    }

    /// Encodes `extra` into a slot, with `more` set when another extra follows.
    pub fn encode(extra: &Extra, more: bool) -> Self {
        let mut payload = [0u8; 6];
        let type_ = match *extra {
            Extra::Gso { size, gso_type } => {
                payload[0..2].copy_from_slice(&size.to_le_bytes());
                payload[2] = gso_type.to_wire();
                extra_type::GSO
            }
            Extra::McastAdd(a) => {
                payload = a;
                extra_type::MCAST_ADD
            }
            Extra::McastDel(a) => {
                payload = a;
                extra_type::MCAST_DEL
            }
            Extra::Hash {
                hash_type,
                algorithm,
                value,
            } => {
                payload[0] = hash_type;
                payload[1] = algorithm;
                payload[2..6].copy_from_slice(&value.to_le_bytes());
                extra_type::HASH
            }
            Extra::Xdp { headroom } => {
                payload[0..2].copy_from_slice(&headroom.to_le_bytes());
                extra_type::XDP
            }
        };
        Self {
            type_,
            flags: if more { EXTRA_FLAG_MORE } else { 0 },
            payload,
        }
    }
}

// Layout checks against netif.h.
const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<TxRequest>() == 12);
    assert!(offset_of!(TxRequest, gref) == 0);
    assert!(offset_of!(TxRequest, offset) == 4);
    assert!(offset_of!(TxRequest, flags) == 6);
    assert!(offset_of!(TxRequest, id) == 8);
    assert!(offset_of!(TxRequest, size) == 10);
    assert!(size_of::<TxResponse>() == 4);
    assert!(offset_of!(TxResponse, status) == 2);
    assert!(size_of::<RxRequest>() == 8);
    assert!(offset_of!(RxRequest, gref) == 4);
    assert!(size_of::<RxResponse>() == 8);
    assert!(offset_of!(RxResponse, offset) == 2);
    assert!(offset_of!(RxResponse, flags) == 4);
    assert!(offset_of!(RxResponse, status) == 6);
    assert!(size_of::<ExtraInfo>() == 8);
    assert!(offset_of!(ExtraInfo, payload) == 2);
};

impl TxResponse {
    /// Decodes the response from the first 4 bytes of a (12-byte) TX slot.
    pub fn from_slot(b: &[u8; 12]) -> Self {
        Self {
            id: u16::from_le_bytes([b[0], b[1]]),
            status: i16::from_le_bytes([b[2], b[3]]),
        }
    }

    /// Encodes the response into a TX slot (the last 8 bytes stay zero).
    pub fn to_slot(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[0..2].copy_from_slice(&self.id.to_le_bytes());
        b[2..4].copy_from_slice(&self.status.to_le_bytes());
        b
    }
}

impl RxRequest {
    /// Decodes a request from an RX slot.
    pub fn from_le_bytes(b: &[u8; 8]) -> Self {
        Self {
            id: u16::from_le_bytes([b[0], b[1]]),
            pad: u16::from_le_bytes([b[2], b[3]]),
            gref: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Encodes the request into an RX slot.
    pub fn to_le_bytes(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0..2].copy_from_slice(&self.id.to_le_bytes());
        b[2..4].copy_from_slice(&self.pad.to_le_bytes());
        b[4..8].copy_from_slice(&self.gref.to_le_bytes());
        b
    }
}

impl RxResponse {
    /// Encodes the response into an RX slot.
    pub fn to_le_bytes(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0..2].copy_from_slice(&self.id.to_le_bytes());
        b[2..4].copy_from_slice(&self.offset.to_le_bytes());
        b[4..6].copy_from_slice(&self.flags.to_le_bytes());
        b[6..8].copy_from_slice(&self.status.to_le_bytes());
        b
    }
}

impl ExtraInfo {
    /// Decodes an extra from the first 8 bytes of a slot.
    pub fn from_le_bytes(b: &[u8; 8]) -> Self {
        let mut payload = [0u8; 6];
        payload.copy_from_slice(&b[2..8]);
        Self {
            type_: b[0],
            flags: b[1],
            payload,
        }
    }

    /// Encodes the extra into 8 bytes.
    pub fn to_le_bytes(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.type_;
        b[1] = self.flags;
        b[2..8].copy_from_slice(&self.payload);
        b
    }

    /// Encodes the extra into a 12-byte TX slot (the last 4 bytes stay zero).
    pub fn to_tx_slot(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&self.to_le_bytes());
        b
    }

    /// Decodes an extra from a 12-byte TX slot.
    pub fn from_tx_slot(b: &[u8; 12]) -> Self {
        let mut e = [0u8; 8];
        e.copy_from_slice(&b[..8]);
        Self::from_le_bytes(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tx_request_round_trips_through_bytes() {
        let r = TxRequest {
            gref: 0x1234_5678,
            offset: 0x0abc,
            flags: (TxFlags::MORE_DATA | TxFlags::CSUM_BLANK).bits(),
            id: 7,
            size: 1514,
        };
        let b = r.to_le_bytes();
        assert_eq!(&b[0..4], &[0x78, 0x56, 0x34, 0x12]);
        assert_eq!(TxRequest::from_le_bytes(&b), r);
        assert!(r.flags().contains(TxFlags::MORE_DATA));
    }

    #[test]
    fn rx_response_decodes_negative_status() {
        let b = [3, 0, 0, 0, 0x04, 0, 0xff, 0xff];
        let r = RxResponse::from_le_bytes(&b);
        assert_eq!(r.id, 3);
        assert_eq!(r.status, Status::Error as i16);
        assert!(r.flags().contains(RxFlags::MORE_DATA));
    }

    #[test]
    fn extras_round_trip() {
        let cases = [
            Extra::Gso {
                size: 1448,
                gso_type: GsoType::TcpV6,
            },
            Extra::McastAdd([1, 0, 0x5e, 0, 0, 1]),
            Extra::McastDel([0x33, 0x33, 0, 0, 0, 1]),
            Extra::Hash {
                hash_type: 1,
                algorithm: 1,
                value: 0xdead_beef,
            },
            Extra::Xdp { headroom: 256 },
        ];
        for (i, e) in cases.iter().enumerate() {
            let more = i % 2 == 0;
            let slot = ExtraInfo::encode(e, more);
            assert_eq!(slot.more(), more);
            assert_eq!(slot.parse(), Ok(*e));
        }
    }

    #[test]
    fn hash_extra_bytes_follow_netif_h() {
        // `struct xen_netif_extra_info`: type, flags, then `u.hash`: type (the hash type's
        // bit number), algorithm, `value[4]` (the hash, least significant byte first).
        let e = ExtraInfo::encode(
            &Extra::Hash {
                hash_type: 3,
                algorithm: 1,
                value: 0x1234_5678,
            },
            true,
        );
        assert_eq!(
            e.to_le_bytes(),
            [
                extra_type::HASH,
                EXTRA_FLAG_MORE,
                3,
                1,
                0x78,
                0x56,
                0x34,
                0x12
            ]
        );
        assert_eq!(
            ExtraInfo::from_le_bytes(&e.to_le_bytes()).parse(),
            Ok(Extra::Hash {
                hash_type: 3,
                algorithm: 1,
                value: 0x1234_5678
            })
        );
        let g = ExtraInfo::encode(
            &Extra::Gso {
                size: 1448,
                gso_type: GsoType::TcpV4,
            },
            false,
        );
        assert_eq!(
            g.to_le_bytes(),
            [extra_type::GSO, 0, 0xa8, 0x05, 1, 0, 0, 0]
        );
    }

    #[test]
    fn bad_extras_are_rejected() {
        let mut e = ExtraInfo::default();
        assert_eq!(e.parse(), Err(ExtraError::BadType(0)));
        e.type_ = extra_type::MAX;
        assert_eq!(e.parse(), Err(ExtraError::BadType(6)));
        e.type_ = 0xff;
        assert_eq!(e.parse(), Err(ExtraError::BadType(0xff)));
        e = ExtraInfo::encode(
            &Extra::Gso {
                size: 1,
                gso_type: GsoType::TcpV4,
            },
            false,
        );
        e.payload[0] = 0;
        assert_eq!(e.parse(), Err(ExtraError::GsoSizeZero));
        e.payload[0] = 1;
        e.payload[2] = 3;
        assert_eq!(e.parse(), Err(ExtraError::BadGsoType(3)));
        e.payload[2] = 0;
        assert_eq!(e.parse(), Err(ExtraError::BadGsoType(0)));
    }
}
