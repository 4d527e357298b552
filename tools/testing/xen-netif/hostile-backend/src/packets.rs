// SPDX-License-Identifier: GPL-2.0

//! The two protocols the backend answers for its one fake host: ARP requests for its
//! address and ICMP echo requests to it. Everything else the guest sends is consumed and
//! counted, never answered.

/// EtherType of ARP.
const ETH_P_ARP: u16 = 0x0806;
/// EtherType of IPv4.
const ETH_P_IP: u16 = 0x0800;
/// Ethernet header length.
const ETH_HLEN: usize = 14;
/// IP protocol number of ICMP.
const IPPROTO_ICMP: u8 = 1;

/// What a frame the guest sent is, as far as the fake host cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// "Who has `ip`?" for the fake host's address, from `sender_mac`/`sender_ip`.
    ArpRequest {
        /// The asker's hardware address.
        sender_mac: [u8; 6],
        /// The asker's protocol address.
        sender_ip: [u8; 4],
    },
    /// An ICMP echo request to the fake host.
    EchoRequest {
        /// The echo's sequence number (for the log).
        seq: u16,
    },
    /// Addressed to the fake host, but nothing it answers.
    OtherForUs,
    /// Not addressed to the fake host (IPv6 neighbour discovery, other ARP, ...).
    NotForUs,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// The one's-complement sum of `data` (odd length padded with a zero byte), folded.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for w in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Classifies `frame` for the fake host at `ip`.
pub fn classify(frame: &[u8], ip: [u8; 4]) -> Frame {
    if frame.len() < ETH_HLEN {
        return Frame::NotForUs;
    }
    let body = &frame[ETH_HLEN..];
    match be16(frame, 12) {
        ETH_P_ARP if body.len() >= 28 => {
            // htype 1 (Ethernet), ptype IPv4, hlen 6, plen 4, and the target address.
            let is_eth_ipv4 =
                be16(body, 0) == 1 && be16(body, 2) == ETH_P_IP && body[4] == 6 && body[5] == 4;
            if !is_eth_ipv4 || body[24..28] != ip {
                return Frame::NotForUs;
            }
            if be16(body, 6) != 1 {
                return Frame::OtherForUs;
            }
            let mut sender_mac = [0u8; 6];
            sender_mac.copy_from_slice(&body[8..14]);
            let mut sender_ip = [0u8; 4];
            sender_ip.copy_from_slice(&body[14..18]);
            Frame::ArpRequest {
                sender_mac,
                sender_ip,
            }
        }
        ETH_P_IP if body.len() >= 20 => {
            if body[16..20] != ip {
                return Frame::NotForUs;
            }
            let ihl = usize::from(body[0] & 0x0f) * 4;
            let total = usize::from(be16(body, 2));
            let is_v4 = body[0] >> 4 == 4 && ihl >= 20;
            // Not a fragment (MF clear, offset 0), ICMP, lengths consistent.
            let whole = be16(body, 6) & 0x3fff == 0;
            if !is_v4 || !whole || body[9] != IPPROTO_ICMP || total < ihl + 8 || total > body.len()
            {
                return Frame::OtherForUs;
            }
            let icmp = &body[ihl..total];
            if icmp[0] == 8 && icmp[1] == 0 {
                Frame::EchoRequest { seq: be16(icmp, 6) }
            } else {
                Frame::OtherForUs
            }
        }
        _ => Frame::NotForUs,
    }
}

/// The ARP reply of the fake host (`our_mac`, `our_ip`) to a request from
/// `to_mac`/`to_ip`, padded to the 60-byte Ethernet minimum.
pub fn arp_reply(our_mac: [u8; 6], our_ip: [u8; 4], to_mac: [u8; 6], to_ip: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&to_mac);
    f.extend_from_slice(&our_mac);
    f.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    f.extend_from_slice(&1u16.to_be_bytes());
    f.extend_from_slice(&ETH_P_IP.to_be_bytes());
    f.extend_from_slice(&[6, 4]);
    f.extend_from_slice(&2u16.to_be_bytes());
    f.extend_from_slice(&our_mac);
    f.extend_from_slice(&our_ip);
    f.extend_from_slice(&to_mac);
    f.extend_from_slice(&to_ip);
    f.resize(60, 0);
    f
}

/// The echo reply to `request` (a frame [`classify`] called an echo request), from the
/// fake host's `our_mac`: addresses swapped, a fresh IPv4 header without options, type 0,
/// both checksums recomputed. `None` when the frame is not an echo request after all.
pub fn echo_reply(request: &[u8], our_mac: [u8; 6]) -> Option<Vec<u8>> {
    let body = request.get(ETH_HLEN..)?;
    if body.len() < 20 {
        return None;
    }
    let ihl = usize::from(body[0] & 0x0f) * 4;
    let total = usize::from(be16(body, 2));
    let icmp_in = body.get(ihl..total)?;
    if icmp_in.len() < 8 || icmp_in[0] != 8 {
        return None;
    }
    let mut f = Vec::with_capacity(ETH_HLEN + 20 + icmp_in.len());
    f.extend_from_slice(&request[6..12]);
    f.extend_from_slice(&our_mac);
    f.extend_from_slice(&ETH_P_IP.to_be_bytes());
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + icmp_in.len()) as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&body[4..6]);
    ip[8] = 64;
    ip[9] = IPPROTO_ICMP;
    ip[12..16].copy_from_slice(&body[16..20]);
    ip[16..20].copy_from_slice(&body[12..16]);
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let mut icmp = icmp_in.to_vec();
    icmp[0] = 0;
    icmp[2] = 0;
    icmp[3] = 0;
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&icmp);
    if f.len() < 60 {
        f.resize(60, 0);
    }
    Some(f)
}

/// Whether `frame` (one of the fake host's replies) is an ICMP echo reply.
pub fn is_echo_reply(frame: &[u8]) -> bool {
    frame.len() >= ETH_HLEN + 20
        && be16(frame, 12) == ETH_P_IP
        && frame[ETH_HLEN + 9] == IPPROTO_ICMP
        && frame
            .get(ETH_HLEN + usize::from(frame[ETH_HLEN] & 0x0f) * 4)
            .is_some_and(|&t| t == 0)
}

/// Formats a MAC address the usual way.
pub fn mac_str(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: [u8; 4] = [10, 98, 0, 1];
    const GUEST: [u8; 4] = [10, 99, 0, 11];
    const GUEST_MAC: [u8; 6] = [0x00, 0x16, 0x3e, 0x58, 0x4e, 0x01];
    const OUR_MAC: [u8; 6] = [0x02, 0x58, 0x4e, 0x54, 0x00, 0x01];

    fn arp_request(target: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&GUEST_MAC);
        f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&GUEST_MAC);
        f.extend_from_slice(&GUEST);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&target);
        f
    }

    fn echo_request(payload: usize) -> Vec<u8> {
        let mut f = OUR_MAC.to_vec();
        f.extend_from_slice(&GUEST_MAC);
        f.extend_from_slice(&[0x08, 0x00]);
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&((20 + 8 + payload) as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&[0x12, 0x34]);
        ip[6] = 0x40;
        ip[8] = 64;
        ip[9] = 1;
        ip[12..16].copy_from_slice(&GUEST);
        ip[16..20].copy_from_slice(&US);
        let c = checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&ip);
        let mut icmp = vec![8, 0, 0, 0, 0xab, 0xcd, 0, 7];
        icmp.extend((0..payload).map(|i| i as u8));
        let c = checksum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&icmp);
        f
    }

    #[test]
    fn arp_requests_for_us_only() {
        assert_eq!(
            classify(&arp_request(US), US),
            Frame::ArpRequest {
                sender_mac: GUEST_MAC,
                sender_ip: GUEST
            }
        );
        assert_eq!(classify(&arp_request([10, 98, 0, 2]), US), Frame::NotForUs);
        assert_eq!(classify(&arp_request(US)[..30], US), Frame::NotForUs);
    }

    #[test]
    fn arp_reply_answers_the_asker() {
        let r = arp_reply(OUR_MAC, US, GUEST_MAC, GUEST);
        assert_eq!(r.len(), 60);
        assert_eq!(&r[0..6], &GUEST_MAC);
        assert_eq!(be16(&r, 20), 2);
        assert_eq!(&r[22..28], &OUR_MAC);
        assert_eq!(&r[28..32], &US);
        assert_eq!(&r[38..42], &GUEST);
    }

    #[test]
    fn echo_reply_swaps_and_checksums() {
        let req = echo_request(56);
        assert_eq!(classify(&req, US), Frame::EchoRequest { seq: 7 });
        let r = echo_reply(&req, OUR_MAC).unwrap();
        assert_eq!(r.len(), 14 + 20 + 64);
        assert_eq!(&r[0..6], &GUEST_MAC);
        assert_eq!(&r[6..12], &OUR_MAC);
        assert_eq!(&r[26..30], &US);
        assert_eq!(&r[30..34], &GUEST);
        // Both checksums verify (a correct one's complement sum folds to zero).
        assert_eq!(checksum(&r[14..34]), 0);
        assert_eq!(checksum(&r[34..]), 0);
        assert_eq!(r[34], 0);
        assert_eq!(&r[38..], &req[38..]);
        assert!(is_echo_reply(&r));
        assert!(!is_echo_reply(&req));
        assert!(!is_echo_reply(&arp_reply(OUR_MAC, US, GUEST_MAC, GUEST)));
    }

    #[test]
    fn short_echo_reply_is_padded() {
        let r = echo_reply(&echo_request(0), OUR_MAC).unwrap();
        assert_eq!(r.len(), 60);
        assert_eq!(checksum(&r[34..42]), 0);
    }

    #[test]
    fn truncated_or_foreign_ip_is_not_an_echo() {
        let req = echo_request(56);
        assert_eq!(classify(&req[..40], US), Frame::OtherForUs);
        assert_eq!(classify(&req, [10, 98, 0, 9]), Frame::NotForUs);
        assert_eq!(echo_reply(&req[..40], OUR_MAC), None);
    }
}
