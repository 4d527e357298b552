// SPDX-License-Identifier: GPL-2.0

//! The control ring (`xen_netif_ctrl_*` of netif.h; reference sections 1.10 and 1.11):
//! its wire format, the Toeplitz hash, and the backend's side of the receive-side
//! scaling configuration a frontend sets through it (C `xen-netback/hash.c`), answering
//! with the C backend's status codes.
//!
//! Requests are frontend-written: each is copied out of its slot once
//! ([`CtrlRequest::from_le_bytes`]), and [`HashConfig::serve`] checks every field before
//! anything changes. The key and the mapping table arrive in granted pages; the kernel
//! side copies them in through a [`GrantReader`].

use core::sync::atomic::{fence, AtomicU32, Ordering};

use super::netif::{Extra, PAGE_SIZE};
use super::ring::CTRL_SLOT_SIZE;

/// Size of a control request on the wire (`struct xen_netif_ctrl_request`).
pub const CTRL_REQUEST_SIZE: usize = 16;
/// Size of a control response on the wire (`struct xen_netif_ctrl_response`).
pub const CTRL_RESPONSE_SIZE: usize = 12;

/// Longest Toeplitz key a backend keeps (`XEN_NETBK_MAX_HASH_KEY_SIZE`): 40 bytes cover
/// the 36-byte IPv6+TCP input plus the 32 bits each input bit reaches into.
pub const MAX_HASH_KEY_SIZE: usize = 40;
/// Most entries of the queue mapping table (`XEN_NETBK_MAX_HASH_MAPPING_SIZE`), the
/// answer to `GET_HASH_MAPPING_SIZE`.
pub const MAX_HASH_MAPPING_SIZE: u32 = 128;
/// Most entries one `SET_HASH_MAPPING` may carry: one granted page of `u32`s.
pub const MAX_MAPPING_ENTRIES_PER_REQUEST: u32 = (PAGE_SIZE / 4) as u32;

/// Control request types (`XEN_NETIF_CTRL_TYPE_*`).
pub mod ctrl_type {
    /// Never valid.
    pub const INVALID: u16 = 0;
    /// Which hash types the backend can compute (needs an algorithm set first).
    pub const GET_HASH_FLAGS: u16 = 1;
    /// Enables hash types: `data[0]` is an OR of [`super::HashType::flag`]s.
    pub const SET_HASH_FLAGS: u16 = 2;
    /// Sets the key: `data[0]` grant of a page with the key at offset 0, `data[1]` length.
    pub const SET_HASH_KEY: u16 = 3;
    /// The largest mapping table the backend takes.
    pub const GET_HASH_MAPPING_SIZE: u16 = 4;
    /// Sizes (and clears) the mapping table: `data[0]` entries, 0 for none.
    pub const SET_HASH_MAPPING_SIZE: u16 = 5;
    /// Writes table entries: `data[0]` grant of a page of `u32` queue numbers at offset
    /// 0, `data[1]` their count, `data[2]` the first entry written.
    pub const SET_HASH_MAPPING: u16 = 6;
    /// Selects the algorithm: `data[0]` 0 (none) or 1 (Toeplitz).
    pub const SET_HASH_ALGORITHM: u16 = 7;
}

/// Control response status (`XEN_NETIF_CTRL_STATUS_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum CtrlStatus {
    /// Done.
    Success = 0,
    /// Unknown request type, or not possible in the current state.
    NotSupported = 1,
    /// A field is out of range, or a grant copy failed.
    InvalidParameter = 2,
    /// A buffer is too small (the C backend never answers this).
    BufferOverflow = 3,
}

/// Hash algorithms (`XEN_NETIF_CTRL_HASH_ALGORITHM_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum HashAlgorithm {
    /// No hashing: the backend steers guest-bound packets as it likes (the default).
    None = 0,
    /// Toeplitz over the fields of the enabled [`HashType`]s.
    Toeplitz = 1,
}

/// Hash types (`_XEN_NETIF_CTRL_HASH_TYPE_*`): the bit number is what a `HASH` extra
/// carries, the flag what `SET_HASH_FLAGS` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum HashType {
    /// IPv4 source and destination addresses (8 bytes of input).
    Ipv4 = 0,
    /// IPv4 addresses and TCP ports (12 bytes).
    Ipv4Tcp = 1,
    /// IPv6 source and destination addresses (32 bytes).
    Ipv6 = 2,
    /// IPv6 addresses and TCP ports (36 bytes).
    Ipv6Tcp = 3,
}

impl HashType {
    /// The type's flag in `SET_HASH_FLAGS` (`XEN_NETIF_CTRL_HASH_TYPE_*`).
    pub const fn flag(self) -> u32 {
        1 << (self as u8)
    }

    /// The type of a bit number from a `HASH` extra; `None` for unknown ones.
    pub const fn from_bit(bit: u8) -> Option<Self> {
        match bit {
            0 => Some(Self::Ipv4),
            1 => Some(Self::Ipv4Tcp),
            2 => Some(Self::Ipv6),
            3 => Some(Self::Ipv6Tcp),
            _ => None,
        }
    }

    /// Whether the hash covers the transport ports (the kernel's `PKT_HASH_TYPE_L4`).
    pub const fn is_l4(self) -> bool {
        matches!(self, Self::Ipv4Tcp | Self::Ipv6Tcp)
    }

    /// The type a `HASH` extra carries for a packet's hash, as C's `rx.c` labels it: from
    /// the packet's protocol (`ipv4`: `skb->protocol` is IPv4, else IPv6) and whether the
    /// hash covered the TCP ports (`l4`: `skb->l4_hash`).
    pub const fn for_packet(ipv4: bool, l4: bool) -> Self {
        match (ipv4, l4) {
            (true, true) => Self::Ipv4Tcp,
            (true, false) => Self::Ipv4,
            (false, true) => Self::Ipv6Tcp,
            (false, false) => Self::Ipv6,
        }
    }
}

/// Every hash type the protocol defines: what `GET_HASH_FLAGS` answers.
pub const HASH_TYPES_ALL: u32 = HashType::Ipv4.flag()
    | HashType::Ipv4Tcp.flag()
    | HashType::Ipv6.flag()
    | HashType::Ipv6Tcp.flag();

/// A control request, copied out of its ring slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtrlRequest {
    /// Echoed in the response.
    pub id: u16,
    /// One of [`ctrl_type`]; anything else is answered [`CtrlStatus::NotSupported`].
    pub type_: u16,
    /// The type's parameters.
    pub data: [u32; 3],
}

impl CtrlRequest {
    /// Decodes a request slot (little-endian, as the C layout on x86).
    pub fn from_le_bytes(b: &[u8; CTRL_REQUEST_SIZE]) -> Self {
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Self {
            id: u16::from_le_bytes([b[0], b[1]]),
            type_: u16::from_le_bytes([b[2], b[3]]),
            data: [word(4), word(8), word(12)],
        }
    }

    /// Encodes the request for a ring slot (the frontend's side).
    pub fn to_le_bytes(&self) -> [u8; CTRL_REQUEST_SIZE] {
        let mut b = [0u8; CTRL_REQUEST_SIZE];
        b[0..2].copy_from_slice(&self.id.to_le_bytes());
        b[2..4].copy_from_slice(&self.type_.to_le_bytes());
        for (i, d) in self.data.iter().enumerate() {
            b[4 + 4 * i..8 + 4 * i].copy_from_slice(&d.to_le_bytes());
        }
        b
    }
}

/// A control response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CtrlResponse {
    /// The request's `id`.
    pub id: u16,
    /// The request's `type`.
    pub type_: u16,
    /// A [`CtrlStatus`] value (raw: a backend may answer anything).
    pub status: u32,
    /// The answer of a `GET_*` request, else 0.
    pub data: u32,
}

impl CtrlResponse {
    /// The response to `req` with `status` and `data`.
    pub const fn to(req: &CtrlRequest, status: CtrlStatus, data: u32) -> Self {
        Self {
            id: req.id,
            type_: req.type_,
            status: status as u32,
            data,
        }
    }

    /// Encodes the response for a ring slot; the slot's last bytes stay zero.
    pub fn to_slot(&self) -> [u8; CTRL_SLOT_SIZE] {
        let mut b = [0u8; CTRL_SLOT_SIZE];
        b[0..2].copy_from_slice(&self.id.to_le_bytes());
        b[2..4].copy_from_slice(&self.type_.to_le_bytes());
        b[4..8].copy_from_slice(&self.status.to_le_bytes());
        b[8..12].copy_from_slice(&self.data.to_le_bytes());
        b
    }

    /// Decodes a response slot (the frontend's side).
    pub fn from_le_bytes(b: &[u8; CTRL_RESPONSE_SIZE]) -> Self {
        Self {
            id: u16::from_le_bytes([b[0], b[1]]),
            type_: u16::from_le_bytes([b[2], b[3]]),
            status: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            data: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
        }
    }
}

/// The Toeplitz hash of `input` under `key` (netif.h's `xen_netif_toeplitz_hash`): for
/// each set bit of the input, MSB of byte 0 first, the 32 key bits starting at that bit's
/// position are XORed into the result; key bytes past the key's end count as zero.
pub fn toeplitz(key: &[u8], input: &[u8]) -> u32 {
    let key_byte = |i: usize| u64::from(key.get(i).copied().unwrap_or(0));
    // The key window: its upper 32 bits are the key bits at the current input bit.
    let mut window = 0u64;
    for i in 0..8 {
        window = (window << 8) | key_byte(i);
    }
    let mut hash = 0u64;
    for (n, &byte) in input.iter().enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                hash ^= window;
            }
            window <<= 1;
        }
        // Eight bits shifted out: the next key byte comes in at the bottom.
        window |= key_byte(n + 8);
    }
    (hash >> 32) as u32
}

/// The grant copies a control request needs, done by the kernel side: copies
/// `out.len()` bytes from offset 0 of the page the frontend granted as `gref`.
pub trait GrantReader {
    /// Fills `out`; `false` if the copy failed (bad grant, or not readable).
    fn read(&mut self, gref: u32, out: &mut [u8]) -> bool;
}

/// The header fields of a packet that its hash covers, as the kernel's flow dissector
/// found them; ports only for TCP that is not an IP fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// An IPv4 packet.
    V4 {
        /// Source address, network order.
        src: [u8; 4],
        /// Destination address, network order.
        dst: [u8; 4],
        /// TCP source and destination ports (host values), for an unfragmented segment.
        tcp_ports: Option<(u16, u16)>,
    },
    /// An IPv6 packet.
    V6 {
        /// Source address, network order.
        src: [u8; 16],
        /// Destination address, network order.
        dst: [u8; 16],
        /// TCP source and destination ports (host values), for an unfragmented segment.
        tcp_ports: Option<(u16, u16)>,
    },
}

/// A packet's hash and the type it was computed as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowHash {
    /// The Toeplitz hash.
    pub value: u32,
    /// The input it covered (the `HASH` extra's type; L4 for the TCP variants).
    pub hash_type: HashType,
}

/// A vif's receive-side scaling configuration, as its frontend set it through the
/// control ring; starts with no algorithm, no types, a zero key and no mapping table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashConfig {
    algorithm: HashAlgorithm,
    flags: u32,
    key: [u8; MAX_HASH_KEY_SIZE],
    size: u32,
    mapping: [u32; MAX_HASH_MAPPING_SIZE as usize],
}

impl Default for HashConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl HashConfig {
    /// The configuration before any request: no hashing.
    pub const fn new() -> Self {
        Self {
            algorithm: HashAlgorithm::None,
            flags: 0,
            key: [0; MAX_HASH_KEY_SIZE],
            size: 0,
            mapping: [0; MAX_HASH_MAPPING_SIZE as usize],
        }
    }

    /// The selected algorithm.
    pub const fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    /// The enabled hash types (OR of [`HashType::flag`]).
    pub const fn flags(&self) -> u32 {
        self.flags
    }

    /// The key (zero past what the frontend set).
    pub const fn key(&self) -> &[u8; MAX_HASH_KEY_SIZE] {
        &self.key
    }

    /// The mapping table: `hash % len` indexes it; empty when the queue is `hash %
    /// queues`.
    pub fn mapping(&self) -> &[u32] {
        &self.mapping[..self.size as usize]
    }

    /// Serves one control request for a vif with `num_queues` connected queues and
    /// returns its response. A request that fails changes nothing (a failed key copy
    /// keeps the old key, where C's copy lands in the key itself; a failed mapping
    /// update leaves the table as it was, as C's).
    pub fn serve(
        &mut self,
        req: &CtrlRequest,
        num_queues: u32,
        grants: &mut impl GrantReader,
    ) -> CtrlResponse {
        let (status, data) = match req.type_ {
            ctrl_type::SET_HASH_ALGORITHM => (self.set_algorithm(req.data[0]), 0),
            ctrl_type::GET_HASH_FLAGS => match self.algorithm {
                HashAlgorithm::None => (CtrlStatus::NotSupported, 0),
                HashAlgorithm::Toeplitz => (CtrlStatus::Success, HASH_TYPES_ALL),
            },
            ctrl_type::SET_HASH_FLAGS => (self.set_flags(req.data[0]), 0),
            ctrl_type::SET_HASH_KEY => (self.set_key(req.data[0], req.data[1], grants), 0),
            ctrl_type::GET_HASH_MAPPING_SIZE => (CtrlStatus::Success, MAX_HASH_MAPPING_SIZE),
            ctrl_type::SET_HASH_MAPPING_SIZE => (self.set_mapping_size(req.data[0]), 0),
            ctrl_type::SET_HASH_MAPPING => (
                self.set_mapping(req.data[0], req.data[1], req.data[2], num_queues, grants),
                0,
            ),
            _ => (CtrlStatus::NotSupported, 0),
        };
        CtrlResponse::to(req, status, data)
    }

    fn set_algorithm(&mut self, alg: u32) -> CtrlStatus {
        self.algorithm = match alg {
            0 => HashAlgorithm::None,
            1 => HashAlgorithm::Toeplitz,
            _ => return CtrlStatus::InvalidParameter,
        };
        CtrlStatus::Success
    }

    fn set_flags(&mut self, flags: u32) -> CtrlStatus {
        if flags & !HASH_TYPES_ALL != 0 || self.algorithm == HashAlgorithm::None {
            return CtrlStatus::InvalidParameter;
        }
        self.flags = flags;
        CtrlStatus::Success
    }

    fn set_key(&mut self, gref: u32, len: u32, grants: &mut impl GrantReader) -> CtrlStatus {
        // Longer than the key: INVALID_PARAMETER as C answers, where the spec suggests
        // BUFFER_OVERFLOW (reference, deliberate differences: Windows frontends expect C).
        let Some(len) = usize::try_from(len)
            .ok()
            .filter(|&l| l <= MAX_HASH_KEY_SIZE)
        else {
            return CtrlStatus::InvalidParameter;
        };
        let mut key = [0u8; MAX_HASH_KEY_SIZE];
        if len != 0 && !grants.read(gref, &mut key[..len]) {
            return CtrlStatus::InvalidParameter;
        }
        self.key = key;
        CtrlStatus::Success
    }

    fn set_mapping_size(&mut self, size: u32) -> CtrlStatus {
        if size > MAX_HASH_MAPPING_SIZE {
            return CtrlStatus::InvalidParameter;
        }
        self.size = size;
        self.mapping = [0; MAX_HASH_MAPPING_SIZE as usize];
        CtrlStatus::Success
    }

    fn set_mapping(
        &mut self,
        gref: u32,
        len: u32,
        off: u32,
        num_queues: u32,
        grants: &mut impl GrantReader,
    ) -> CtrlStatus {
        // XSA-270: the range must not wrap and must lie inside the table.
        let Some(end) = off.checked_add(len) else {
            return CtrlStatus::InvalidParameter;
        };
        if end > self.size || len > MAX_MAPPING_ENTRIES_PER_REQUEST {
            return CtrlStatus::InvalidParameter;
        }
        if len == 0 {
            return CtrlStatus::Success;
        }
        let (off, len) = (off as usize, len as usize);
        let mut raw = [0u8; MAX_HASH_MAPPING_SIZE as usize * 4];
        if !grants.read(gref, &mut raw[..len * 4]) {
            return CtrlStatus::InvalidParameter;
        }
        let mut table = self.mapping;
        for (entry, b) in table[off..off + len]
            .iter_mut()
            .zip(raw[..len * 4].chunks_exact(4))
        {
            let queue = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            if queue >= num_queues {
                return CtrlStatus::InvalidParameter;
            }
            *entry = queue;
        }
        self.mapping = table;
        CtrlStatus::Success
    }

    /// The hash of a guest-bound packet, or `None` when no enabled type covers it (or
    /// the algorithm is none): the TCP variant for unfragmented TCP when enabled, else
    /// the address-only one (C `xenvif_set_skb_hash`).
    pub fn flow_hash(&self, flow: &Flow) -> Option<FlowHash> {
        if self.algorithm != HashAlgorithm::Toeplitz {
            return None;
        }
        flow_hash_with(self.flags, &self.key, flow)
    }

    /// The queue a packet with `hash` goes to: the mapping table's entry at `hash %
    /// size`, or `hash % num_queues` without a table. Always below `num_queues` (a table
    /// written for more queues than are connected now falls back to the modulo).
    pub fn queue_for(&self, hash: u32, num_queues: u32) -> u32 {
        pick_queue(hash, num_queues, self.size, |i| self.mapping[i])
    }
}

/// The Toeplitz hash of `flow` under the enabled hash types `flags` and `key`
/// ([`HashConfig::flow_hash`] without the algorithm check).
fn flow_hash_with(flags: u32, key: &[u8; MAX_HASH_KEY_SIZE], flow: &Flow) -> Option<FlowHash> {
    let mut input = [0u8; 36];
    let (hash_type, len) = match *flow {
        Flow::V4 {
            src,
            dst,
            tcp_ports,
        } => {
            input[0..4].copy_from_slice(&src);
            input[4..8].copy_from_slice(&dst);
            match tcp_ports {
                Some((sport, dport)) if flags & HashType::Ipv4Tcp.flag() != 0 => {
                    input[8..10].copy_from_slice(&sport.to_be_bytes());
                    input[10..12].copy_from_slice(&dport.to_be_bytes());
                    (HashType::Ipv4Tcp, 12)
                }
                _ if flags & HashType::Ipv4.flag() != 0 => (HashType::Ipv4, 8),
                _ => return None,
            }
        }
        Flow::V6 {
            src,
            dst,
            tcp_ports,
        } => {
            input[0..16].copy_from_slice(&src);
            input[16..32].copy_from_slice(&dst);
            match tcp_ports {
                Some((sport, dport)) if flags & HashType::Ipv6Tcp.flag() != 0 => {
                    input[32..34].copy_from_slice(&sport.to_be_bytes());
                    input[34..36].copy_from_slice(&dport.to_be_bytes());
                    (HashType::Ipv6Tcp, 36)
                }
                _ if flags & HashType::Ipv6.flag() != 0 => (HashType::Ipv6, 32),
                _ => return None,
            }
        }
    };
    Some(FlowHash {
        value: toeplitz(key, &input[..len]),
        hash_type,
    })
}

/// [`HashConfig::queue_for`] over a table of `size` entries that `entry` reads (`size` at
/// most [`MAX_HASH_MAPPING_SIZE`]; a larger one counts as no table).
fn pick_queue(hash: u32, num_queues: u32, size: u32, entry: impl FnOnce(usize) -> u32) -> u32 {
    let num_queues = num_queues.max(1);
    if size == 0 || size > MAX_HASH_MAPPING_SIZE {
        return hash % num_queues;
    }
    let q = entry((hash % size) as usize);
    if q < num_queues {
        q
    } else {
        hash % num_queues
    }
}

impl FlowHash {
    /// The `HASH` extra that tells the frontend a packet's hash (C `rx.c`): Toeplitz, the
    /// type for the packet ([`HashType::for_packet`]) and the value.
    pub const fn extra(hash_type: HashType, value: u32) -> Extra {
        Extra::Hash {
            hash_type: hash_type as u8,
            algorithm: HashAlgorithm::Toeplitz as u8,
            value,
        }
    }
}

/// 32-bit words of a key in a [`PublishedHashConfig`].
const KEY_WORDS: usize = MAX_HASH_KEY_SIZE / 4;
const _: () = assert!(KEY_WORDS * 4 == MAX_HASH_KEY_SIZE);

/// How often [`PublishedHashConfig::steer`] retries a read that a publication overlapped
/// before it gives up (the caller then steers as with no algorithm, and the netback clears
/// the packet's hash): a publication takes a few hundred stores, so only a writer that is
/// held up for the whole of the retries (one interrupted on the reader's CPU, which the
/// kernel side rules out, or a preempted vCPU) exhausts this.
const MAX_READ_TRIES: u32 = 1 << 16;

/// What a guest-bound packet gets from a [`PublishedHashConfig`] with the Toeplitz
/// algorithm selected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Steering {
    /// The packet's hash, or `None` when no enabled type covers it (the skb hash is
    /// cleared then).
    pub hash: Option<FlowHash>,
    /// The queue: [`HashConfig::queue_for`] of the hash, or of 0 without one (C
    /// `skb_get_hash_raw` of a cleared hash).
    pub queue: u32,
}

/// A copy of a [`HashConfig`] that per-packet readers consult without a lock: a sequence
/// count around plain words, all atomics (a seqlock whose data are atomics, so a read that
/// overlaps a publication is merely retried, never undefined).
///
/// One writer at a time ([`Self::publish`], serialised by the caller); readers
/// ([`Self::steer`]) from any context. A reader that finds a publication in progress spins
/// until it ends, so no reader may run on a CPU whose writer it interrupted: the kernel
/// side publishes with interrupts off.
pub struct PublishedHashConfig {
    /// Even: stable; odd: a publication is in progress.
    seq: AtomicU32,
    algorithm: AtomicU32,
    flags: AtomicU32,
    size: AtomicU32,
    /// The key, little-endian words.
    key: [AtomicU32; KEY_WORDS],
    mapping: [AtomicU32; MAX_HASH_MAPPING_SIZE as usize],
}

impl Default for PublishedHashConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl PublishedHashConfig {
    /// The copy of [`HashConfig::new`]: no hashing.
    pub const fn new() -> Self {
        Self {
            seq: AtomicU32::new(0),
            algorithm: AtomicU32::new(HashAlgorithm::None as u32),
            flags: AtomicU32::new(0),
            size: AtomicU32::new(0),
            key: [const { AtomicU32::new(0) }; KEY_WORDS],
            mapping: [const { AtomicU32::new(0) }; MAX_HASH_MAPPING_SIZE as usize],
        }
    }

    /// Makes `cfg` what readers see. Callers serialise publications, and no reader may run
    /// on this CPU until it returns (see the type's documentation).
    pub fn publish(&self, cfg: &HashConfig) {
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        // The odd count before any word: a reader that sees a new word sees the odd count
        // (or a later one) when it checks again (its acquire fence pairs with this one).
        fence(Ordering::Release);
        self.algorithm
            .store(cfg.algorithm as u32, Ordering::Relaxed);
        self.flags.store(cfg.flags, Ordering::Relaxed);
        self.size.store(cfg.size, Ordering::Relaxed);
        for (w, b) in self.key.iter().zip(cfg.key.chunks_exact(4)) {
            w.store(
                u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                Ordering::Relaxed,
            );
        }
        for (w, &e) in self.mapping.iter().zip(cfg.mapping.iter()) {
            w.store(e, Ordering::Relaxed);
        }
        // Every word before the even count: a reader that starts with it sees them all.
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// The algorithm last published, for a fast path (one load, not tied to a later
    /// [`Self::steer`], which may see a newer configuration).
    pub fn algorithm(&self) -> HashAlgorithm {
        match self.algorithm.load(Ordering::Relaxed) {
            1 => HashAlgorithm::Toeplitz,
            _ => HashAlgorithm::None,
        }
    }

    /// The hash types last published (one load, as [`Self::algorithm`]).
    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    /// The hash and queue of a packet with the header fields `flow` (`None`: no hash type
    /// applies to it) for a vif with `num_queues` queues, from one consistent
    /// configuration: [`HashConfig::flow_hash`] and [`HashConfig::queue_for`]. `None` when
    /// that configuration selects no algorithm (the caller steers as it likes), or, in
    /// theory, when every read overlapped a publication ([`MAX_READ_TRIES`]).
    pub fn steer(&self, flow: Option<&Flow>, num_queues: u32) -> Option<Steering> {
        for _ in 0..MAX_READ_TRIES {
            let seq = self.seq.load(Ordering::Acquire);
            if seq & 1 != 0 {
                core::hint::spin_loop();
                continue;
            }
            let result = self.steer_unchecked(flow, num_queues);
            // The words read above are ordered before the second look at the count.
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == seq {
                return result;
            }
        }
        None
    }

    /// [`Self::steer`]'s computation on words that may belong to different publications
    /// (the caller checks the count around it): never panics, whatever they hold.
    fn steer_unchecked(&self, flow: Option<&Flow>, num_queues: u32) -> Option<Steering> {
        if self.algorithm.load(Ordering::Relaxed) != HashAlgorithm::Toeplitz as u32 {
            return None;
        }
        let flags = self.flags.load(Ordering::Relaxed);
        let mut key = [0u8; MAX_HASH_KEY_SIZE];
        for (b, w) in key.chunks_exact_mut(4).zip(self.key.iter()) {
            b.copy_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
        }
        let hash = flow.and_then(|f| flow_hash_with(flags, &key, f));
        let size = self.size.load(Ordering::Relaxed);
        let queue = pick_queue(hash.map_or(0, |h| h.value), num_queues, size, |i| {
            self.mapping.get(i).map_or(0, |e| e.load(Ordering::Relaxed))
        });
        Some(Steering { hash, queue })
    }
}

/// Fills `table` with the queues 0..`queues` in turn (ethtool's default indirection
/// table, `ethtool_rxfh_indir_default`): the frontend's starting mapping.
pub fn spread_mapping(table: &mut [u32], queues: u32) {
    let queues = queues.max(1);
    for (i, e) in table.iter_mut().enumerate() {
        *e = i as u32 % queues;
    }
}

/// Why a control request of the frontend did not succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtrlError {
    /// The backend answered with this non-success status (raw).
    Status(u32),
    /// The response's id or type is not the request's: the backend broke the protocol
    /// (only one request is ever outstanding).
    Mismatch {
        /// The id sent.
        id: u16,
        /// The id answered.
        got_id: u16,
    },
}

/// The frontend's side of the control ring: one request at a time, each answered by a
/// response that must echo its id and type (the backend writes the response; nothing
/// in it is trusted).
#[derive(Clone, Copy, Debug, Default)]
pub struct CtrlClient {
    next_id: u16,
    pending: Option<CtrlRequest>,
}

impl CtrlClient {
    /// No request sent yet.
    pub const fn new() -> Self {
        Self {
            next_id: 0,
            pending: None,
        }
    }

    /// Makes the next request of `type_` with `data` (a fresh id) and remembers it as
    /// outstanding; `None` while another is outstanding.
    pub fn request(&mut self, type_: u16, data: [u32; 3]) -> Option<CtrlRequest> {
        if self.pending.is_some() {
            return None;
        }
        let req = CtrlRequest {
            id: self.next_id,
            type_,
            data,
        };
        self.next_id = self.next_id.wrapping_add(1);
        self.pending = Some(req);
        Some(req)
    }

    /// The outstanding request, if any.
    pub const fn pending(&self) -> Option<CtrlRequest> {
        self.pending
    }

    /// Forgets the outstanding request (the ring went away, or it timed out).
    pub fn abandon(&mut self) {
        self.pending = None;
    }

    /// Takes the backend's response to the outstanding request: its `data` on success.
    /// `None` when no request is outstanding (a response nobody asked for).
    pub fn complete(&mut self, rsp: &CtrlResponse) -> Option<Result<u32, CtrlError>> {
        let req = self.pending.take()?;
        Some(if rsp.id != req.id || rsp.type_ != req.type_ {
            Err(CtrlError::Mismatch {
                id: req.id,
                got_id: rsp.id,
            })
        } else if rsp.status != CtrlStatus::Success as u32 {
            Err(CtrlError::Status(rsp.status))
        } else {
            Ok(rsp.data)
        })
    }
}

/// Most entries of the frontend's mapping table: the backend's answer to
/// `GET_HASH_MAPPING_SIZE` is capped at this (128, the C backend's maximum and a common
/// `ethtool -x` indirection table size).
pub const FRONTEND_MAX_MAPPING_SIZE: u32 = MAX_HASH_MAPPING_SIZE;

/// What [`RssSettings::fit`] did with the mapping table for a new connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableFit {
    /// The table the user set (`ethtool -X`) fits the connection and is kept.
    KeptUserTable,
    /// The table was spread over the connected queues (no user table, or it no longer
    /// fits: another size, or an entry at or above the queue count).
    Spread {
        /// A user table was given up.
        dropped_user_table: bool,
    },
}

/// Why a mapping table given through `ethtool -X` is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableError {
    /// Not as many entries as the current table has.
    Size {
        /// Entries given.
        got: usize,
        /// The current table's size.
        size: u32,
    },
    /// An entry names a queue that is not connected.
    Queue {
        /// The entry's index.
        index: usize,
        /// The queue it names.
        queue: u32,
        /// Connected queues.
        queues: u32,
    },
}

/// The frontend's receive-side scaling settings, kept across reconnects: the Toeplitz key
/// and the mapping table, and whether the user set the table (`ethtool -X`); a user's
/// key is simply kept. The table is spread over the queues
/// ([`spread_mapping`]) unless the user set one that still fits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RssSettings {
    key: [u8; MAX_HASH_KEY_SIZE],
    table: [u32; FRONTEND_MAX_MAPPING_SIZE as usize],
    size: u32,
    user_table: bool,
}

impl RssSettings {
    /// Settings with `key` and no table yet.
    pub const fn new(key: [u8; MAX_HASH_KEY_SIZE]) -> Self {
        Self {
            key,
            table: [0; FRONTEND_MAX_MAPPING_SIZE as usize],
            size: 0,
            user_table: false,
        }
    }

    /// The key.
    pub const fn key(&self) -> &[u8; MAX_HASH_KEY_SIZE] {
        &self.key
    }

    /// The mapping table (empty before the first [`Self::fit`], or when the backend has
    /// no table).
    pub fn table(&self) -> &[u32] {
        &self.table[..self.size as usize]
    }

    /// Whether the table is one the user set.
    pub const fn is_user_table(&self) -> bool {
        self.user_table
    }

    /// Fits the table to a connection of `queues` queues whose backend takes tables of
    /// `backend_max` entries (its `GET_HASH_MAPPING_SIZE` answer): the size becomes
    /// `min(backend_max, FRONTEND_MAX_MAPPING_SIZE)`; a user table of that size whose
    /// entries all name connected queues is kept, any other table is spread over the
    /// queues (as the kernel keeps a user-set indirection table while it fits and
    /// `ethtool_rxfh_indir_default` otherwise).
    pub fn fit(&mut self, backend_max: u32, queues: u32) -> TableFit {
        let size = backend_max.min(FRONTEND_MAX_MAPPING_SIZE);
        if self.user_table && size == self.size && self.table().iter().all(|&q| q < queues.max(1)) {
            return TableFit::KeptUserTable;
        }
        let dropped_user_table = self.user_table;
        self.size = size;
        self.user_table = false;
        spread_mapping(&mut self.table[..size as usize], queues);
        TableFit::Spread { dropped_user_table }
    }

    /// Checks a table the user gives for `queues` connected queues: exactly as many
    /// entries as the current table, each below `queues`.
    pub fn check_table(&self, table: &[u32], queues: u32) -> Result<(), TableError> {
        if table.len() != self.size as usize {
            return Err(TableError::Size {
                got: table.len(),
                size: self.size,
            });
        }
        match table.iter().position(|&q| q >= queues) {
            Some(index) => Err(TableError::Queue {
                index,
                queue: table[index],
                queues,
            }),
            None => Ok(()),
        }
    }

    /// Takes a table the user set for `queues` connected queues (after
    /// [`Self::check_table`] and after the backend took it); `Err` (nothing changed) if its
    /// size is not the current one. A table equal to the spread over `queues` (`ethtool -X
    /// <dev> default`, or `equal` with every queue) counts as no user table: it is spread
    /// again when the queue count changes, as the default is.
    pub fn set_table(&mut self, table: &[u32], queues: u32) -> Result<(), TableError> {
        if table.len() != self.size as usize {
            return Err(TableError::Size {
                got: table.len(),
                size: self.size,
            });
        }
        self.table[..table.len()].copy_from_slice(table);
        let queues = queues.max(1);
        self.user_table = table
            .iter()
            .enumerate()
            .any(|(i, &q)| q != i as u32 % queues);
        Ok(())
    }

    /// Takes a key (after the backend took it).
    pub fn set_key(&mut self, key: &[u8; MAX_HASH_KEY_SIZE]) {
        self.key = *key;
    }
}

/// The hash types a frontend enables: those the backend answered to `GET_HASH_FLAGS`
/// that the protocol defines (an answer with unknown bits is trimmed, not trusted).
pub const fn flags_to_enable(backend_flags: u32) -> u32 {
    backend_flags & HASH_TYPES_ALL
}

/// A receive flow as `ethtool -n <dev> rx-flow-hash <flow>` names it, reduced to what
/// the hash types tell apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowKind {
    /// TCP over IPv4 (`tcp4`).
    Tcp4,
    /// Any other IPv4 flow (`udp4`, `sctp4`, `ah4`, `esp4`, `ip4`).
    OtherIpv4,
    /// TCP over IPv6 (`tcp6`).
    Tcp6,
    /// Any other IPv6 flow (`udp6`, `sctp6`, `ah6`, `esp6`, `ip6`).
    OtherIpv6,
}

/// The header fields a backend's hash covers for a flow, with hash types `flags` enabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashedFields {
    /// Not hashed (the backend picks the queue its own way).
    None,
    /// IP source and destination addresses.
    Addresses,
    /// IP addresses and the TCP source and destination ports.
    AddressesAndPorts,
}

/// What the backend hashes for `flow` with the hash types `flags` enabled: the TCP type
/// for TCP when enabled, else the address-only type of the family when enabled
/// (reference section 1.11: "always pick the maximal enabled type").
pub const fn hashed_fields(flags: u32, flow: FlowKind) -> HashedFields {
    let (tcp, ip) = match flow {
        FlowKind::Tcp4 => (Some(HashType::Ipv4Tcp), HashType::Ipv4),
        FlowKind::OtherIpv4 => (None, HashType::Ipv4),
        FlowKind::Tcp6 => (Some(HashType::Ipv6Tcp), HashType::Ipv6),
        FlowKind::OtherIpv6 => (None, HashType::Ipv6),
    };
    if let Some(t) = tcp {
        if flags & t.flag() != 0 {
            return HashedFields::AddressesAndPorts;
        }
    }
    if flags & ip.flag() != 0 {
        HashedFields::Addresses
    } else {
        HashedFields::None
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// Microsoft's RSS verification key ("Verifying the RSS Hash Calculation").
    const MS_KEY: [u8; 40] = [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f,
        0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
        0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    ];

    /// The flow from `src` to `dst` (both IPv4 or both IPv6), TCP ports if given.
    fn flow(src: &str, dst: &str, tcp_ports: Option<(u16, u16)>) -> Flow {
        use std::net::IpAddr;
        match (src.parse().unwrap(), dst.parse().unwrap()) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => Flow::V4 {
                src: src.octets(),
                dst: dst.octets(),
                tcp_ports,
            },
            (IpAddr::V6(src), IpAddr::V6(dst)) => Flow::V6 {
                src: src.octets(),
                dst: dst.octets(),
                tcp_ports,
            },
            _ => panic!("mixed address families"),
        }
    }

    /// A grant table: gref -> page contents; `read` fails for unknown grefs.
    struct Pages(Vec<(u32, Vec<u8>)>);

    impl GrantReader for Pages {
        fn read(&mut self, gref: u32, out: &mut [u8]) -> bool {
            match self.0.iter().find(|(g, _)| *g == gref) {
                Some((_, page)) if page.len() >= out.len() => {
                    out.copy_from_slice(&page[..out.len()]);
                    true
                }
                _ => false,
            }
        }
    }

    fn req(type_: u16, data: [u32; 3]) -> CtrlRequest {
        CtrlRequest { id: 7, type_, data }
    }

    fn status(cfg: &mut HashConfig, type_: u16, data: [u32; 3], queues: u32, p: &mut Pages) -> u32 {
        let rsp = cfg.serve(&req(type_, data), queues, p);
        assert_eq!((rsp.id, rsp.type_), (7, type_), "id and type echoed");
        rsp.status
    }

    fn toeplitz_config(p: &mut Pages) -> HashConfig {
        let mut cfg = HashConfig::new();
        assert_eq!(
            status(&mut cfg, ctrl_type::SET_HASH_ALGORITHM, [1, 0, 0], 4, p),
            0
        );
        assert_eq!(
            status(
                &mut cfg,
                ctrl_type::SET_HASH_FLAGS,
                [HASH_TYPES_ALL, 0, 0],
                4,
                p
            ),
            0
        );
        assert_eq!(
            status(&mut cfg, ctrl_type::SET_HASH_KEY, [1, 40, 0], 4, p),
            0
        );
        cfg
    }

    #[test]
    fn toeplitz_matches_the_microsoft_vectors() {
        // (destination, port, source, port, addresses only, with TCP)
        let vectors = [
            (
                "161.142.100.80",
                1766,
                "66.9.149.187",
                2794,
                0x323e8fc2,
                0x51ccc178,
            ),
            (
                "65.69.140.83",
                4739,
                "199.92.111.2",
                14230,
                0xd718262a,
                0xc626b0ea,
            ),
            (
                "12.22.207.184",
                38024,
                "24.19.198.95",
                12898,
                0xd2d0a5de,
                0x5c2b394a,
            ),
            (
                "209.142.163.6",
                2217,
                "38.27.205.30",
                48228,
                0x82989176,
                0xafc7327f,
            ),
            (
                "202.188.127.2",
                1303,
                "153.39.163.191",
                44251,
                0x5d1809c5,
                0x10e828a2,
            ),
            (
                "3ffe:2501:200:3::1",
                1766,
                "3ffe:2501:200:1fff::7",
                2794,
                0x2cc18cd5,
                0x40207d3d,
            ),
            (
                "ff02::1",
                4739,
                "3ffe:501:8::260:97ff:fe40:efab",
                14230,
                0x0f0c461c,
                0xdde51bbf,
            ),
            (
                "fe80::200:f8ff:fe21:67cf",
                38024,
                "3ffe:1900:4545:3:200:f8ff:fe21:67cf",
                44251,
                0x4b61e985,
                0x02d1feef,
            ),
        ];
        let mut p = Pages(std::vec![(1, MS_KEY.to_vec())]);
        let cfg = toeplitz_config(&mut p);
        for (dst, dport, src, sport, ip, tcp) in vectors {
            let addrs = flow(src, dst, None);
            let (ip_type, tcp_type) = match addrs {
                Flow::V4 { .. } => (HashType::Ipv4, HashType::Ipv4Tcp),
                Flow::V6 { .. } => (HashType::Ipv6, HashType::Ipv6Tcp),
            };
            let h = cfg.flow_hash(&addrs).unwrap();
            assert_eq!((h.value, h.hash_type), (ip, ip_type), "{src} -> {dst}");
            let h = cfg
                .flow_hash(&flow(src, dst, Some((sport, dport))))
                .unwrap();
            assert_eq!(
                (h.value, h.hash_type),
                (tcp, tcp_type),
                "{src} -> {dst}, TCP"
            );
        }
    }

    #[test]
    fn toeplitz_counts_key_bytes_past_the_end_as_zero() {
        let input = [0xffu8; 36];
        let mut padded = [0u8; 40];
        padded[..13].copy_from_slice(&MS_KEY[..13]);
        assert_eq!(toeplitz(&MS_KEY[..13], &input), toeplitz(&padded, &input));
        assert_eq!(toeplitz(&[], &input), 0);
        assert_eq!(toeplitz(&MS_KEY, &[]), 0);
    }

    #[test]
    fn wire_round_trips() {
        let r = CtrlRequest {
            id: 0x1234,
            type_: 6,
            data: [1, 0xdead_beef, 3],
        };
        let b = r.to_le_bytes();
        assert_eq!(&b[0..4], &[0x34, 0x12, 6, 0]);
        assert_eq!(CtrlRequest::from_le_bytes(&b), r);
        let rsp = CtrlResponse::to(&r, CtrlStatus::InvalidParameter, 9);
        let slot = rsp.to_slot();
        assert_eq!(&slot[12..], &[0, 0, 0, 0]);
        assert_eq!(
            CtrlResponse::from_le_bytes(slot[..12].try_into().unwrap()),
            rsp
        );
        assert_eq!(rsp.status, 2);
    }

    #[test]
    fn status_codes_follow_the_c_backend() {
        let mut p = Pages(std::vec![(1, MS_KEY.to_vec())]);
        let mut cfg = HashConfig::new();
        // C1: unknown types (0 and past the last) are not supported; data is 0.
        for t in [ctrl_type::INVALID, 8, 0xffff] {
            let rsp = cfg.serve(&req(t, [1, 2, 3]), 4, &mut p);
            assert_eq!((rsp.status, rsp.data), (CtrlStatus::NotSupported as u32, 0));
        }
        // Without an algorithm: no flags to get, none to set (C3).
        assert_eq!(
            status(&mut cfg, ctrl_type::GET_HASH_FLAGS, [0; 3], 4, &mut p),
            1
        );
        assert_eq!(
            status(&mut cfg, ctrl_type::SET_HASH_FLAGS, [1, 0, 0], 4, &mut p),
            2
        );
        // C2: only 0 and 1 are algorithms.
        assert_eq!(
            status(
                &mut cfg,
                ctrl_type::SET_HASH_ALGORITHM,
                [2, 0, 0],
                4,
                &mut p
            ),
            2
        );
        assert_eq!(cfg.algorithm(), HashAlgorithm::None);
        assert_eq!(
            status(
                &mut cfg,
                ctrl_type::SET_HASH_ALGORITHM,
                [1, 0, 0],
                4,
                &mut p
            ),
            0
        );
        let rsp = cfg.serve(&req(ctrl_type::GET_HASH_FLAGS, [0; 3]), 4, &mut p);
        assert_eq!((rsp.status, rsp.data), (0, 0xf));
        // C3: unknown flag bits.
        assert_eq!(
            status(&mut cfg, ctrl_type::SET_HASH_FLAGS, [0x10, 0, 0], 4, &mut p),
            2
        );
        assert_eq!(
            status(&mut cfg, ctrl_type::SET_HASH_FLAGS, [0x5, 0, 0], 4, &mut p),
            0
        );
        assert_eq!(cfg.flags(), 0x5);
        let rsp = cfg.serve(&req(ctrl_type::GET_HASH_MAPPING_SIZE, [0; 3]), 4, &mut p);
        assert_eq!((rsp.status, rsp.data), (0, MAX_HASH_MAPPING_SIZE));
    }

    #[test]
    fn key_length_and_copy_failures_change_nothing() {
        let mut p = Pages(std::vec![(1, MS_KEY.to_vec())]);
        let mut cfg = HashConfig::new();
        assert_eq!(
            status(&mut cfg, ctrl_type::SET_HASH_KEY, [1, 40, 0], 1, &mut p),
            0
        );
        assert_eq!(cfg.key(), &MS_KEY);
        // C4: too long (INVALID_PARAMETER, as C), or a grant that does not copy.
        for (gref, len) in [(1, 41), (1, u32::MAX), (99, 8)] {
            assert_eq!(
                status(&mut cfg, ctrl_type::SET_HASH_KEY, [gref, len, 0], 1, &mut p),
                2
            );
            assert_eq!(cfg.key(), &MS_KEY, "key kept after ({gref}, {len})");
        }
        // A shorter key zeroes the rest; length 0 clears it without a copy.
        assert_eq!(
            status(&mut cfg, ctrl_type::SET_HASH_KEY, [1, 4, 0], 1, &mut p),
            0
        );
        assert_eq!(&cfg.key()[..4], &MS_KEY[..4]);
        assert!(cfg.key()[4..].iter().all(|&b| b == 0));
        assert_eq!(
            status(&mut cfg, ctrl_type::SET_HASH_KEY, [99, 0, 0], 1, &mut p),
            0
        );
        assert_eq!(cfg.key(), &[0; 40]);
    }

    fn table_page(entries: &[u32]) -> Vec<u8> {
        entries.iter().flat_map(|e| e.to_le_bytes()).collect()
    }

    #[test]
    fn mapping_updates_are_checked_whole_before_they_apply() {
        let mut p = Pages(std::vec![
            (1, table_page(&[3, 2, 1, 0])),
            (2, table_page(&[0, 1, 4, 0])),
            (3, table_page(&[1; 128])),
        ]);
        let mut cfg = HashConfig::new();
        // C5: larger than the table.
        assert_eq!(
            status(
                &mut cfg,
                ctrl_type::SET_HASH_MAPPING_SIZE,
                [129, 0, 0],
                4,
                &mut p
            ),
            2
        );
        assert_eq!(
            status(
                &mut cfg,
                ctrl_type::SET_HASH_MAPPING_SIZE,
                [8, 0, 0],
                4,
                &mut p
            ),
            0
        );
        assert_eq!(cfg.mapping(), &[0; 8]);
        assert_eq!(
            status(&mut cfg, ctrl_type::SET_HASH_MAPPING, [1, 4, 2], 4, &mut p),
            0
        );
        assert_eq!(cfg.mapping(), &[0, 0, 3, 2, 1, 0, 0, 0]);
        let before = cfg.mapping().to_vec();
        // C6: the range wraps, passes the table's end, or is longer than a page.
        for (len, off) in [(2, u32::MAX), (4, 5), (9, 0), (1025, 0)] {
            assert_eq!(
                status(
                    &mut cfg,
                    ctrl_type::SET_HASH_MAPPING,
                    [1, len, off],
                    4,
                    &mut p
                ),
                2
            );
        }
        // C7: an entry past the connected queues (4 here); C8: a grant that does not copy.
        assert_eq!(
            status(&mut cfg, ctrl_type::SET_HASH_MAPPING, [2, 4, 0], 4, &mut p),
            2
        );
        assert_eq!(
            status(&mut cfg, ctrl_type::SET_HASH_MAPPING, [9, 1, 0], 4, &mut p),
            2
        );
        assert_eq!(
            cfg.mapping(),
            &before[..],
            "no failed update applied in part"
        );
        // Zero entries anywhere inside: nothing to do.
        assert_eq!(
            status(&mut cfg, ctrl_type::SET_HASH_MAPPING, [9, 0, 8], 4, &mut p),
            0
        );
        // A full table, then a resize clears it.
        assert_eq!(
            status(
                &mut cfg,
                ctrl_type::SET_HASH_MAPPING_SIZE,
                [128, 0, 0],
                2,
                &mut p
            ),
            0
        );
        assert_eq!(
            status(
                &mut cfg,
                ctrl_type::SET_HASH_MAPPING,
                [3, 128, 0],
                2,
                &mut p
            ),
            0
        );
        assert_eq!(cfg.mapping(), &[1; 128]);
        assert_eq!(
            status(
                &mut cfg,
                ctrl_type::SET_HASH_MAPPING_SIZE,
                [4, 0, 0],
                2,
                &mut p
            ),
            0
        );
        assert_eq!(cfg.mapping(), &[0; 4]);
    }

    #[test]
    fn queues_follow_the_table_or_the_modulo() {
        let mut p = Pages(std::vec![(1, table_page(&[2, 2, 3, 1]))]);
        let mut cfg = HashConfig::new();
        assert_eq!(cfg.queue_for(7, 4), 3);
        assert_eq!(cfg.queue_for(7, 0), 0);
        assert_eq!(
            status(
                &mut cfg,
                ctrl_type::SET_HASH_MAPPING_SIZE,
                [4, 0, 0],
                4,
                &mut p
            ),
            0
        );
        assert_eq!(
            status(&mut cfg, ctrl_type::SET_HASH_MAPPING, [1, 4, 0], 4, &mut p),
            0
        );
        assert_eq!(
            (0..8).map(|h| cfg.queue_for(h, 4)).collect::<Vec<_>>(),
            [2, 2, 3, 1, 2, 2, 3, 1]
        );
        // Fewer queues connected than the table was written for: the modulo.
        assert_eq!(cfg.queue_for(2, 3), 2);
        assert_eq!(cfg.queue_for(3, 2), 1);
    }

    #[test]
    fn only_enabled_types_hash() {
        let mut p = Pages(std::vec![(1, MS_KEY.to_vec())]);
        let mut cfg = toeplitz_config(&mut p);
        let tcp4 = Flow::V4 {
            src: [1, 2, 3, 4],
            dst: [5, 6, 7, 8],
            tcp_ports: Some((1, 2)),
        };
        let tcp6 = Flow::V6 {
            src: [1; 16],
            dst: [2; 16],
            tcp_ports: Some((1, 2)),
        };
        // Addresses only: TCP segments hash as IPv4.
        assert_eq!(
            status(&mut cfg, ctrl_type::SET_HASH_FLAGS, [0x1, 0, 0], 4, &mut p),
            0
        );
        assert_eq!(cfg.flow_hash(&tcp4).unwrap().hash_type, HashType::Ipv4);
        assert_eq!(cfg.flow_hash(&tcp6), None);
        // TCP only: non-TCP IPv6 is not hashed.
        assert_eq!(
            status(&mut cfg, ctrl_type::SET_HASH_FLAGS, [0x8, 0, 0], 4, &mut p),
            0
        );
        assert!(cfg.flow_hash(&tcp6).unwrap().hash_type.is_l4());
        assert_eq!(
            cfg.flow_hash(&Flow::V6 {
                src: [1; 16],
                dst: [2; 16],
                tcp_ports: None
            }),
            None
        );
        // Flags 0, or the algorithm back to none: no hash at all.
        assert_eq!(
            status(&mut cfg, ctrl_type::SET_HASH_FLAGS, [0, 0, 0], 4, &mut p),
            0
        );
        assert_eq!(cfg.flow_hash(&tcp4), None);
        assert_eq!(
            status(&mut cfg, ctrl_type::SET_HASH_FLAGS, [0xf, 0, 0], 4, &mut p),
            0
        );
        assert_eq!(
            status(
                &mut cfg,
                ctrl_type::SET_HASH_ALGORITHM,
                [0, 0, 0],
                4,
                &mut p
            ),
            0
        );
        assert_eq!(cfg.flow_hash(&tcp4), None);
    }

    #[test]
    fn hash_types_and_spread() {
        assert_eq!(HASH_TYPES_ALL, 0xf);
        for bit in 0..4 {
            assert_eq!(HashType::from_bit(bit).unwrap() as u8, bit);
        }
        assert_eq!(HashType::from_bit(4), None);
        let mut t = [9u32; 10];
        spread_mapping(&mut t, 4);
        assert_eq!(t, [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]);
        spread_mapping(&mut t, 0);
        assert_eq!(t, [0; 10]);
    }

    #[test]
    fn client_against_the_backend() {
        let mut p = Pages(std::vec![
            (1, MS_KEY.to_vec()),
            (2, table_page(&[1, 0, 1, 0]))
        ]);
        let mut cfg = HashConfig::new();
        let mut fe = CtrlClient::new();
        let mut ask = |fe: &mut CtrlClient, cfg: &mut HashConfig, t: u16, d: [u32; 3]| {
            let req = fe.request(t, d).unwrap();
            assert!(fe.request(t, d).is_none(), "one request at a time");
            let rsp = cfg.serve(&req, 2, &mut p);
            fe.complete(&rsp).unwrap()
        };
        assert_eq!(
            ask(&mut fe, &mut cfg, ctrl_type::GET_HASH_FLAGS, [0; 3]),
            Err(CtrlError::Status(1))
        );
        assert_eq!(
            ask(&mut fe, &mut cfg, ctrl_type::SET_HASH_ALGORITHM, [1, 0, 0]),
            Ok(0)
        );
        assert_eq!(
            ask(&mut fe, &mut cfg, ctrl_type::GET_HASH_FLAGS, [0; 3]),
            Ok(0xf)
        );
        assert_eq!(
            ask(&mut fe, &mut cfg, ctrl_type::SET_HASH_FLAGS, [0xf, 0, 0]),
            Ok(0)
        );
        assert_eq!(
            ask(&mut fe, &mut cfg, ctrl_type::SET_HASH_KEY, [1, 40, 0]),
            Ok(0)
        );
        assert_eq!(
            ask(&mut fe, &mut cfg, ctrl_type::GET_HASH_MAPPING_SIZE, [0; 3]),
            Ok(128)
        );
        assert_eq!(
            ask(
                &mut fe,
                &mut cfg,
                ctrl_type::SET_HASH_MAPPING_SIZE,
                [4, 0, 0]
            ),
            Ok(0)
        );
        assert_eq!(
            ask(&mut fe, &mut cfg, ctrl_type::SET_HASH_MAPPING, [2, 4, 0]),
            Ok(0)
        );
        assert_eq!(cfg.mapping(), &[1, 0, 1, 0]);
        // A response that is not the request's, or that nobody asked for.
        let req = fe.request(ctrl_type::GET_HASH_FLAGS, [0; 3]).unwrap();
        let mut rsp = cfg.serve(&req, 2, &mut p);
        rsp.id = rsp.id.wrapping_add(1);
        assert_eq!(
            fe.complete(&rsp),
            Some(Err(CtrlError::Mismatch {
                id: req.id,
                got_id: req.id.wrapping_add(1)
            }))
        );
        assert_eq!(fe.complete(&rsp), None);
        // Abandoned: a late answer is one nobody asked for.
        let req = fe.request(ctrl_type::GET_HASH_FLAGS, [0; 3]).unwrap();
        fe.abandon();
        assert_eq!(fe.pending(), None);
        assert_eq!(fe.complete(&cfg.serve(&req, 2, &mut p)), None);
    }

    /// A Toeplitz configuration with `key`, every type enabled and `table` as the mapping.
    fn full_config(key: &[u8], table: &[u32], queues: u32) -> HashConfig {
        let mut p = Pages(std::vec![(1, key.to_vec()), (2, table_page(table))]);
        let mut cfg = HashConfig::new();
        for (t, d) in [
            (ctrl_type::SET_HASH_ALGORITHM, [1, 0, 0]),
            (ctrl_type::SET_HASH_FLAGS, [HASH_TYPES_ALL, 0, 0]),
            (ctrl_type::SET_HASH_KEY, [1, key.len() as u32, 0]),
            (ctrl_type::SET_HASH_MAPPING_SIZE, [table.len() as u32, 0, 0]),
            (ctrl_type::SET_HASH_MAPPING, [2, table.len() as u32, 0]),
        ] {
            assert_eq!(status(&mut cfg, t, d, queues, &mut p), 0, "request {t}");
        }
        cfg
    }

    /// What `steer` must answer for `cfg`: its own hash and queue.
    fn expected(cfg: &HashConfig, f: Option<&Flow>, queues: u32) -> Steering {
        let hash = f.and_then(|f| cfg.flow_hash(f));
        Steering {
            hash,
            queue: cfg.queue_for(hash.map_or(0, |h| h.value), queues),
        }
    }

    fn sample_flows() -> [Flow; 4] {
        [
            flow("66.9.149.187", "161.142.100.80", Some((2794, 1766))),
            flow("199.92.111.2", "65.69.140.83", None),
            flow(
                "3ffe:2501:200:3::1",
                "3ffe:2501:200:1fff::7",
                Some((1766, 2794)),
            ),
            flow("ff02::1", "3ffe:501:8::260:97ff:fe40:efab", None),
        ]
    }

    #[test]
    fn published_config_steers_as_the_config() {
        let published = PublishedHashConfig::new();
        // Nothing published yet: no algorithm, the caller steers.
        assert_eq!(published.algorithm(), HashAlgorithm::None);
        assert_eq!(published.steer(Some(&sample_flows()[0]), 4), None);

        let cfg = full_config(&MS_KEY, &[3, 1, 2, 0, 1], 4);
        published.publish(&cfg);
        assert_eq!(published.algorithm(), HashAlgorithm::Toeplitz);
        assert_eq!(published.flags(), HASH_TYPES_ALL);
        for f in sample_flows() {
            for queues in [1, 2, 3, 4] {
                let s = published.steer(Some(&f), queues).unwrap();
                assert_eq!(
                    s,
                    expected(&cfg, Some(&f), queues),
                    "{f:?}, {queues} queues"
                );
                assert!(s.queue < queues);
                assert!(s.hash.is_some());
            }
        }
        // No hash type applies: hash 0 picks the queue (the table's first entry).
        assert_eq!(
            published.steer(None, 4),
            Some(Steering {
                hash: None,
                queue: 3
            })
        );

        // Only TCP over IPv6 enabled: the rest goes unhashed.
        let mut narrow = cfg.clone();
        let mut p = Pages(std::vec![]);
        assert_eq!(
            status(
                &mut narrow,
                ctrl_type::SET_HASH_FLAGS,
                [HashType::Ipv6Tcp.flag(), 0, 0],
                4,
                &mut p
            ),
            0
        );
        published.publish(&narrow);
        for f in sample_flows() {
            let s = published.steer(Some(&f), 4).unwrap();
            assert_eq!(s, expected(&narrow, Some(&f), 4));
            assert_eq!(
                s.hash.map(|h| h.hash_type),
                match f {
                    Flow::V6 {
                        tcp_ports: Some(_), ..
                    } => Some(HashType::Ipv6Tcp),
                    _ => None,
                }
            );
        }

        // Back to the defaults (a disconnect): no algorithm again.
        published.publish(&HashConfig::new());
        assert_eq!(published.algorithm(), HashAlgorithm::None);
        assert_eq!(published.steer(Some(&sample_flows()[0]), 4), None);
    }

    #[test]
    fn readers_never_see_half_a_publication() {
        // Two configurations that differ in every word a reader uses.
        let mut other_key = MS_KEY;
        other_key.reverse();
        let a = full_config(&MS_KEY, &[0, 1, 2, 3], 4);
        let b = full_config(&other_key, &[3, 3, 2, 2, 1, 1, 0], 4);
        let flows = sample_flows();
        let want: Vec<[Steering; 2]> = flows
            .iter()
            .map(|f| [expected(&a, Some(f), 4), expected(&b, Some(f), 4)])
            .collect();
        for (w, f) in want.iter().zip(flows.iter()) {
            assert_ne!(w[0], w[1], "the configurations must differ for {f:?}");
        }
        let published = PublishedHashConfig::new();
        published.publish(&a);
        let done = core::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    let mut reads = 0u64;
                    while !done.load(Ordering::Relaxed) || reads < 200 {
                        for (f, w) in flows.iter().zip(want.iter()) {
                            // `None` only if every try overlapped a publication, which
                            // this writer, publishing back to back, can cause; a result
                            // is always one whole configuration's.
                            if let Some(got) = published.steer(Some(f), 4) {
                                assert!(w.contains(&got), "torn read for {f:?}: {got:?}");
                                reads += 1;
                            }
                        }
                    }
                });
            }
            for i in 0..5_000 {
                published.publish(if i % 2 == 0 { &b } else { &a });
                if i % 16 == 0 {
                    std::thread::yield_now();
                }
            }
            done.store(true, Ordering::Relaxed);
        });
    }

    #[test]
    fn hash_extra_types_follow_c() {
        assert_eq!(
            FlowHash::extra(HashType::Ipv6Tcp, 0xdead_beef),
            Extra::Hash {
                hash_type: 3,
                algorithm: 1,
                value: 0xdead_beef
            }
        );
        assert_eq!(HashType::for_packet(true, true), HashType::Ipv4Tcp);
        assert_eq!(HashType::for_packet(true, false), HashType::Ipv4);
        assert_eq!(HashType::for_packet(false, true), HashType::Ipv6Tcp);
        assert_eq!(HashType::for_packet(false, false), HashType::Ipv6);
        for ipv4 in [true, false] {
            for l4 in [true, false] {
                assert_eq!(HashType::for_packet(ipv4, l4).is_l4(), l4);
            }
        }
    }

    #[test]
    fn frontend_table_follows_the_queues_and_keeps_a_user_table_that_fits() {
        let mut rss = RssSettings::new(MS_KEY);
        assert_eq!(rss.table(), &[] as &[u32]);
        // The backend's size is capped at 128.
        assert_eq!(
            rss.fit(1000, 4),
            TableFit::Spread {
                dropped_user_table: false
            }
        );
        assert_eq!(rss.table().len(), 128);
        assert!(rss
            .table()
            .iter()
            .enumerate()
            .all(|(i, &q)| q == i as u32 % 4));
        // A backend without a table.
        assert_eq!(
            rss.fit(0, 4),
            TableFit::Spread {
                dropped_user_table: false
            }
        );
        assert!(rss.table().is_empty());
        assert_eq!(
            rss.fit(8, 3),
            TableFit::Spread {
                dropped_user_table: false
            }
        );
        assert_eq!(rss.table(), &[0, 1, 2, 0, 1, 2, 0, 1]);
        // ethtool -X weight 0 0 1: everything on queue 2.
        let user = [2u32; 8];
        assert_eq!(rss.check_table(&user, 3), Ok(()));
        assert_eq!(
            rss.check_table(&user, 2),
            Err(TableError::Queue {
                index: 0,
                queue: 2,
                queues: 2
            })
        );
        assert_eq!(
            rss.check_table(&user[..7], 3),
            Err(TableError::Size { got: 7, size: 8 })
        );
        assert_eq!(
            rss.set_table(&user[..7], 3),
            Err(TableError::Size { got: 7, size: 8 })
        );
        assert!(!rss.is_user_table());
        // The default spread is no user table.
        rss.set_table(&[0, 1, 2, 0, 1, 2, 0, 1], 3).unwrap();
        assert!(!rss.is_user_table());
        rss.set_table(&user, 3).unwrap();
        assert!(rss.is_user_table());
        // Reconnects: kept while the size is the same and queue 2 exists.
        assert_eq!(rss.fit(8, 3), TableFit::KeptUserTable);
        assert_eq!(rss.fit(8, 4), TableFit::KeptUserTable);
        assert_eq!(rss.table(), &user);
        // Queue 2 gone: spread over the 2 left.
        assert_eq!(
            rss.fit(8, 2),
            TableFit::Spread {
                dropped_user_table: true
            }
        );
        assert_eq!(rss.table(), &[0, 1, 0, 1, 0, 1, 0, 1]);
        assert!(!rss.is_user_table());
        // Another size: spread.
        rss.set_table(&[1; 8], 2).unwrap();
        assert!(rss.is_user_table());
        assert_eq!(
            rss.fit(16, 2),
            TableFit::Spread {
                dropped_user_table: true
            }
        );
        assert_eq!(rss.table().len(), 16);
        // The key is kept as set.
        assert_eq!(rss.key(), &MS_KEY);
        rss.set_key(&[7; 40]);
        rss.fit(16, 2);
        assert_eq!(rss.key(), &[7; 40]);
    }

    #[test]
    fn hashed_fields_follow_the_enabled_types() {
        use HashedFields::*;
        let all = flags_to_enable(0xffff_ffff);
        assert_eq!(all, HASH_TYPES_ALL);
        for (flow, with_all) in [
            (FlowKind::Tcp4, AddressesAndPorts),
            (FlowKind::OtherIpv4, Addresses),
            (FlowKind::Tcp6, AddressesAndPorts),
            (FlowKind::OtherIpv6, Addresses),
        ] {
            assert_eq!(hashed_fields(all, flow), with_all, "{flow:?}");
            assert_eq!(hashed_fields(0, flow), None, "{flow:?}");
        }
        let v4 = HashType::Ipv4.flag();
        assert_eq!(hashed_fields(v4, FlowKind::Tcp4), Addresses);
        assert_eq!(hashed_fields(v4, FlowKind::Tcp6), None);
        let tcp4 = HashType::Ipv4Tcp.flag();
        assert_eq!(hashed_fields(tcp4, FlowKind::Tcp4), AddressesAndPorts);
        assert_eq!(hashed_fields(tcp4, FlowKind::OtherIpv4), None);
        let v6 = HashType::Ipv6.flag() | HashType::Ipv6Tcp.flag();
        assert_eq!(hashed_fields(v6, FlowKind::OtherIpv6), Addresses);
        assert_eq!(hashed_fields(v6, FlowKind::OtherIpv4), None);
    }
}
