// SPDX-License-Identifier: GPL-2.0

//! XenStore key schema of the netif protocol and parsers for the values peers write.
//!
//! Values read from XenStore come from the peer or the toolstack and are untrusted: every
//! parser here takes raw bytes and returns `None` on anything malformed.

use core::fmt::{self, Write};

/// Keys the backend writes in its own directory.
pub mod backend_keys {
    /// Frontend may send multi-slot packets.
    pub const FEATURE_SG: &str = "feature-sg";
    /// Frontend may send TCPv4 GSO extras.
    pub const FEATURE_GSO_TCPV4: &str = "feature-gso-tcpv4";
    /// Frontend may send TCPv6 GSO extras.
    pub const FEATURE_GSO_TCPV6: &str = "feature-gso-tcpv6";
    /// Frontend may send IPv6 packets with a blank checksum.
    pub const FEATURE_IPV6_CSUM_OFFLOAD: &str = "feature-ipv6-csum-offload";
    /// Backend supports copying receive.
    pub const FEATURE_RX_COPY: &str = "feature-rx-copy";
    /// Obsolete page-flipping receive (always 0).
    pub const FEATURE_RX_FLIP: &str = "feature-rx-flip";
    /// Frontend may use separate TX and RX event channels.
    pub const FEATURE_SPLIT_EVENT_CHANNELS: &str = "feature-split-event-channels";
    /// Most queues the backend accepts.
    pub const MULTI_QUEUE_MAX_QUEUES: &str = "multi-queue-max-queues";
    /// Backend serves a control ring.
    pub const FEATURE_CTRL_RING: &str = "feature-ctrl-ring";
    /// Toolstack: interface number, names the netdev `vif<domid>.<handle>`.
    pub const HANDLE: &str = "handle";
    /// Toolstack: hotplug script path.
    pub const SCRIPT: &str = "script";
    /// Hotplug script: `connected` once the vif is plugged.
    pub const HOTPLUG_STATUS: &str = "hotplug-status";
    /// Toolstack: credit shaping, `<bytes>,<usec>`.
    pub const RATE: &str = "rate";
    /// Toolstack: whether the device survives a frontend close.
    pub const ONLINE: &str = "online";
}

/// Keys the frontend writes in its own directory.
pub mod frontend_keys {
    /// Number of queues the frontend set up.
    pub const MULTI_QUEUE_NUM_QUEUES: &str = "multi-queue-num-queues";
    /// Frontend wants copying receive (always 1).
    pub const REQUEST_RX_COPY: &str = "request-rx-copy";
    /// Frontend notifies the backend of new RX requests.
    pub const FEATURE_RX_NOTIFY: &str = "feature-rx-notify";
    /// Frontend accepts multi-slot RX packets.
    pub const FEATURE_SG: &str = "feature-sg";
    /// Frontend accepts TCPv4 GSO on RX.
    pub const FEATURE_GSO_TCPV4: &str = "feature-gso-tcpv4";
    /// Frontend accepts TCPv6 GSO on RX.
    pub const FEATURE_GSO_TCPV6: &str = "feature-gso-tcpv6";
    /// Frontend accepts IPv6 blank checksums on RX.
    pub const FEATURE_IPV6_CSUM_OFFLOAD: &str = "feature-ipv6-csum-offload";
    /// Frontend cannot take IPv4 blank checksums.
    pub const FEATURE_NO_CSUM_OFFLOAD: &str = "feature-no-csum-offload";
    /// Grant reference of the control ring page (with `feature-ctrl-ring`).
    pub const CTRL_RING_REF: &str = "ctrl-ring-ref";
    /// Event channel of the control ring (with `feature-ctrl-ring`).
    pub const EVENT_CHANNEL_CTRL: &str = "event-channel-ctrl";
    /// Toolstack: the interface's MAC address.
    pub const MAC: &str = "mac";
    /// Toolstack: 0 when the backend is not trusted, so the frontend bounces transmitted
    /// data into zeroed pages (XSA-403); absent means trusted.
    pub const TRUSTED: &str = "trusted";
}

/// Per-queue keys, under `queue-N/` with two or more queues, flat with one.
pub mod queue_keys {
    /// Grant reference of the TX ring page.
    pub const TX_RING_REF: &str = "tx-ring-ref";
    /// Grant reference of the RX ring page.
    pub const RX_RING_REF: &str = "rx-ring-ref";
    /// Shared event channel.
    pub const EVENT_CHANNEL: &str = "event-channel";
    /// TX event channel of a split pair.
    pub const EVENT_CHANNEL_TX: &str = "event-channel-tx";
    /// RX event channel of a split pair.
    pub const EVENT_CHANNEL_RX: &str = "event-channel-rx";
}

/// Longest relative key path this module builds (`queue-4294967295/event-channel-tx`).
pub const MAX_KEY_LEN: usize = 40;

/// A relative XenStore key path built without allocation.
#[derive(Clone, Copy)]
pub struct KeyPath {
    buf: [u8; MAX_KEY_LEN],
    len: usize,
}

impl KeyPath {
    /// The path as text.
    pub fn as_str(&self) -> &str {
        // Only `&str` pieces are ever appended, always whole, so the buffer is valid UTF-8.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl Write for KeyPath {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        if end > MAX_KEY_LEN {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl fmt::Debug for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for KeyPath {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Where a queue's keys live for a given negotiated queue count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueLayout {
    /// One queue: keys flat in the frontend directory (pre-multi-queue layout).
    Flat,
    /// Two or more queues: keys under `queue-0/` ... `queue-(N-1)/`.
    PerQueue(u32),
}

impl QueueLayout {
    /// The layout the spec prescribes for `num_queues` queues.
    pub const fn for_queues(num_queues: u32) -> Self {
        if num_queues <= 1 {
            QueueLayout::Flat
        } else {
            QueueLayout::PerQueue(num_queues)
        }
    }

    /// Path of `key` for queue `queue`, relative to the frontend directory.
    pub fn key(&self, queue: u32, key: &str) -> Result<KeyPath, fmt::Error> {
        let mut p = KeyPath {
            buf: [0; MAX_KEY_LEN],
            len: 0,
        };
        match *self {
            QueueLayout::Flat if queue == 0 => p.write_str(key)?,
            QueueLayout::PerQueue(n) if queue < n => write!(p, "queue-{queue}/{key}")?,
            _ => return Err(fmt::Error),
        }
        Ok(p)
    }

    /// Directory of queue `queue` (`None` for the flat layout).
    pub fn dir(&self, queue: u32) -> Option<KeyPath> {
        match *self {
            QueueLayout::PerQueue(n) if queue < n => {
                let mut p = KeyPath {
                    buf: [0; MAX_KEY_LEN],
                    len: 0,
                };
                write!(p, "queue-{queue}").ok()?;
                Some(p)
            }
            _ => None,
        }
    }
}

/// Trims the trailing NUL and whitespace a XenStore value may carry.
fn trim(v: &[u8]) -> &[u8] {
    let mut end = v.len();
    while end > 0 && matches!(v[end - 1], 0 | b'\n' | b' ' | b'\t') {
        end -= 1;
    }
    let mut start = 0;
    while start < end && matches!(v[start], b' ' | b'\t') {
        start += 1;
    }
    &v[start..end]
}

/// Parses an unsigned value: decimal, `0x` hex or leading-`0` octal (`kstrtouint` with
/// base 0), surrounding whitespace allowed. `None` on anything else or overflow. Stricter
/// than the 7.3 kernel's `xenbus_read_unsigned()` (`sscanf("%u")`: decimal, trailing text
/// ignored), a deliberate difference (`Documentation/xenstore-parity.md`).
pub fn parse_unsigned(value: &[u8]) -> Option<u32> {
    let v = trim(value);
    let (digits, radix) = if v.len() > 2 && (v.starts_with(b"0x") || v.starts_with(b"0X")) {
        (&v[2..], 16)
    } else if v.len() > 1 && v[0] == b'0' {
        (&v[1..], 8)
    } else {
        (v, 10)
    };
    if digits.is_empty() {
        return None;
    }
    let mut acc: u32 = 0;
    for &c in digits {
        let d = (c as char).to_digit(radix)?;
        acc = acc.checked_mul(radix)?.checked_add(d)?;
    }
    Some(acc)
}

/// Reads a boolean feature key: absent or malformed means `default`, any non-zero is true.
pub fn parse_feature(value: Option<&[u8]>, default: bool) -> bool {
    match value.and_then(parse_unsigned) {
        Some(v) => v != 0,
        None => default,
    }
}

/// Parses a MAC address written as `xx:xx:xx:xx:xx:xx` (hex, either case).
pub fn parse_mac(value: &[u8]) -> Option<[u8; 6]> {
    let v = trim(value);
    if v.len() != 17 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (i, byte) in mac.iter_mut().enumerate() {
        let hi = (v[i * 3] as char).to_digit(16)?;
        let lo = (v[i * 3 + 1] as char).to_digit(16)?;
        if i < 5 && v[i * 3 + 2] != b':' {
            return None;
        }
        *byte = (hi * 16 + lo) as u8;
    }
    Some(mac)
}

/// A credit-shaping rate from the backend `rate` key (`<bytes>,<usec>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Bytes allowed per window.
    pub bytes: u64,
    /// Window length in microseconds.
    pub usec: u64,
}

/// Parses `<bytes>,<usec>`; `None` (meaning unlimited) when malformed.
pub fn parse_rate(value: &[u8]) -> Option<Rate> {
    let v = trim(value);
    let comma = v.iter().position(|&c| c == b',')?;
    let num = |s: &[u8]| -> Option<u64> {
        if s.is_empty() {
            return None;
        }
        s.iter().try_fold(0u64, |acc, &c| {
            let d = (c as char).to_digit(10)?;
            acc.checked_mul(10)?.checked_add(u64::from(d))
        })
    };
    Some(Rate {
        bytes: num(&v[..comma])?,
        usec: num(&v[comma + 1..])?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_layout_for_one_queue() {
        let l = QueueLayout::for_queues(1);
        assert_eq!(l, QueueLayout::Flat);
        assert_eq!(l.key(0, queue_keys::TX_RING_REF).unwrap(), "tx-ring-ref");
        assert!(l.key(1, queue_keys::TX_RING_REF).is_err());
        assert!(l.dir(0).is_none());
    }

    #[test]
    fn per_queue_layout_matches_the_spec_example() {
        let l = QueueLayout::for_queues(2);
        assert_eq!(
            l.key(0, queue_keys::TX_RING_REF).unwrap(),
            "queue-0/tx-ring-ref"
        );
        assert_eq!(
            l.key(1, queue_keys::EVENT_CHANNEL_RX).unwrap(),
            "queue-1/event-channel-rx"
        );
        assert_eq!(l.dir(1).unwrap(), "queue-1");
        assert!(l.key(2, queue_keys::RX_RING_REF).is_err());
        let big = QueueLayout::PerQueue(u32::MAX);
        assert_eq!(
            big.key(u32::MAX - 1, queue_keys::EVENT_CHANNEL_TX).unwrap(),
            "queue-4294967294/event-channel-tx"
        );
    }

    #[test]
    fn unsigned_values_parse_like_kstrtouint_base_0() {
        assert_eq!(parse_unsigned(b"4"), Some(4));
        assert_eq!(parse_unsigned(b"4\0"), Some(4));
        assert_eq!(parse_unsigned(b"0"), Some(0));
        assert_eq!(parse_unsigned(b"0x10"), Some(16));
        assert_eq!(parse_unsigned(b"010"), Some(8));
        assert_eq!(parse_unsigned(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_unsigned(b"4294967296"), None);
        assert_eq!(parse_unsigned(b""), None);
        assert_eq!(parse_unsigned(b"-1"), None);
        assert_eq!(parse_unsigned(b"12abc"), None);
        assert_eq!(parse_unsigned(b"09"), None);
        assert_eq!(parse_unsigned(b"0x"), None);
    }

    #[test]
    fn features_default_when_absent_or_malformed() {
        assert!(parse_feature(Some(b"1"), false));
        assert!(parse_feature(Some(b"2"), false));
        assert!(!parse_feature(Some(b"0"), true));
        assert!(parse_feature(None, true));
        assert!(!parse_feature(Some(b"yes"), false));
    }

    #[test]
    fn mac_addresses() {
        assert_eq!(
            parse_mac(b"00:16:3e:0A:bc:ff"),
            Some([0x00, 0x16, 0x3e, 0x0a, 0xbc, 0xff])
        );
        assert_eq!(parse_mac(b"00:16:3e:0a:bc"), None);
        assert_eq!(parse_mac(b"00-16-3e-0a-bc-ff"), None);
        assert_eq!(parse_mac(b"00:16:3e:0a:bc:fg"), None);
    }

    #[test]
    fn rates() {
        assert_eq!(
            parse_rate(b"125000,20000"),
            Some(Rate {
                bytes: 125000,
                usec: 20000
            })
        );
        assert_eq!(parse_rate(b"125000"), None);
        assert_eq!(parse_rate(b",5"), None);
        assert_eq!(parse_rate(b"1,x"), None);
        assert_eq!(parse_rate(b"99999999999999999999,1"), None);
    }
}
