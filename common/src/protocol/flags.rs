// SPDX-License-Identifier: GPL-2.0

//! Per-slot flag words of guest TX requests and guest RX responses.
//!
//! The checksum bits sit at different positions in the two directions, so each direction
//! has its own type and the two cannot be mixed up.

/// Checksum state of a packet, as the Linux drivers map it to and from the flag bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checksum {
    /// Nothing is known about the checksum (`CHECKSUM_NONE`).
    None,
    /// The checksum was verified (`CHECKSUM_UNNECESSARY`).
    Unnecessary,
    /// The checksum field still has to be filled in (`CHECKSUM_PARTIAL`).
    Partial,
}

macro_rules! flag_type {
    ($(#[$doc:meta])* $name:ident, csum_blank = $blank:expr, data_validated = $valid:expr,
     known = $known:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name(u16);

        impl $name {
            /// No flag set.
            pub const EMPTY: Self = Self(0);
            /// The checksum field is blank and must be computed by the receiver.
            pub const CSUM_BLANK: Self = Self($blank);
            /// The data has been validated (checksum correct or not needed).
            pub const DATA_VALIDATED: Self = Self($valid);
            /// Another data slot of the same packet follows.
            pub const MORE_DATA: Self = Self(1 << 2);
            /// One or more extra-info slots follow this slot.
            pub const EXTRA_INFO: Self = Self(1 << 3);
            /// Every bit this direction defines.
            pub const KNOWN: Self = Self($known);

            /// Wraps a raw flag word as read from the ring.
            pub const fn from_bits(bits: u16) -> Self {
                Self(bits)
            }

            /// The raw flag word as written to the ring.
            pub const fn bits(self) -> u16 {
                self.0
            }

            /// Whether every bit of `other` is set in `self`.
            pub const fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }

            /// `self` with the bits of `other` added.
            #[must_use]
            pub const fn with(self, other: Self) -> Self {
                Self(self.0 | other.0)
            }

            /// `self` with the bits of `other` removed.
            #[must_use]
            pub const fn without(self, other: Self) -> Self {
                Self(self.0 & !other.0)
            }

            /// Bits set that this direction does not define.
            pub const fn unknown_bits(self) -> u16 {
                self.0 & !$known
            }

            /// The flag bits the Linux drivers set for a packet in checksum state `csum`.
            pub const fn from_checksum(csum: Checksum) -> Self {
                match csum {
                    Checksum::None => Self::EMPTY,
                    Checksum::Unnecessary => Self::DATA_VALIDATED,
                    Checksum::Partial => Self($blank | $valid),
                }
            }

            /// The checksum state a receiver derives from these bits (`csum_blank` wins).
            pub const fn checksum(self) -> Checksum {
                if self.contains(Self::CSUM_BLANK) {
                    Checksum::Partial
                } else if self.contains(Self::DATA_VALIDATED) {
                    Checksum::Unnecessary
                } else {
                    Checksum::None
                }
            }
        }

        impl core::ops::BitOr for $name {
            type Output = Self;
            fn bitor(self, rhs: Self) -> Self {
                self.with(rhs)
            }
        }
    };
}

flag_type!(
    /// Flags of a guest TX request (`XEN_NETTXF_*`): bit 0 `csum_blank`, bit 1 `data_validated`.
    TxFlags,
    csum_blank = 1 << 0,
    data_validated = 1 << 1,
    known = 0x0f
);

flag_type!(
    /// Flags of a guest RX response (`XEN_NETRXF_*`): bit 0 `data_validated`, bit 1 `csum_blank`.
    RxFlags,
    csum_blank = 1 << 1,
    data_validated = 1 << 0,
    known = 0x1f
);

impl RxFlags {
    /// Deprecated GSO-prefix format marker (`XEN_NETRXF_gso_prefix`).
    pub const GSO_PREFIX: Self = Self(1 << 4);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_bits_are_swapped_between_directions() {
        assert_eq!(TxFlags::CSUM_BLANK.bits(), 0x01);
        assert_eq!(TxFlags::DATA_VALIDATED.bits(), 0x02);
        assert_eq!(RxFlags::CSUM_BLANK.bits(), 0x02);
        assert_eq!(RxFlags::DATA_VALIDATED.bits(), 0x01);
        assert_eq!(TxFlags::MORE_DATA.bits(), RxFlags::MORE_DATA.bits());
        assert_eq!(TxFlags::EXTRA_INFO.bits(), 0x08);
        assert_eq!(RxFlags::GSO_PREFIX.bits(), 0x10);
    }

    #[test]
    fn checksum_mapping_round_trips() {
        for csum in [Checksum::None, Checksum::Unnecessary, Checksum::Partial] {
            assert_eq!(TxFlags::from_checksum(csum).checksum(), csum);
            assert_eq!(RxFlags::from_checksum(csum).checksum(), csum);
        }
        assert_eq!(TxFlags::from_checksum(Checksum::Partial).bits(), 0x03);
        // A lone csum_blank still means "partial".
        assert_eq!(TxFlags::CSUM_BLANK.checksum(), Checksum::Partial);
        assert_eq!(RxFlags::from_bits(0x02).checksum(), Checksum::Partial);
        assert_eq!(RxFlags::from_bits(0x01).checksum(), Checksum::Unnecessary);
    }

    #[test]
    fn set_operations_and_unknown_bits() {
        let f = TxFlags::MORE_DATA | TxFlags::EXTRA_INFO;
        assert!(f.contains(TxFlags::MORE_DATA));
        assert!(!f.contains(TxFlags::CSUM_BLANK));
        assert_eq!(f.without(TxFlags::MORE_DATA), TxFlags::EXTRA_INFO);
        assert_eq!(TxFlags::from_bits(0x10).unknown_bits(), 0x10);
        assert_eq!(RxFlags::from_bits(0x10).unknown_bits(), 0);
        assert_eq!(RxFlags::from_bits(0xffe0).unknown_bits(), 0xffe0);
    }
}
