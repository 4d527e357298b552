// SPDX-License-Identifier: GPL-2.0

//! Helpers shared by the fuzz targets: a reader that turns libFuzzer's byte string into
//! the numbers and ring pages a target needs.
//!
//! Reading never fails: past the end of the input every value is zero, so any byte string
//! is a valid test case and short inputs describe "mostly zero" rings.

#![forbid(unsafe_code)]

/// Ring slots of a one-page TX or RX ring (`XEN_NETIF_{TX,RX}_RING_SIZE`).
pub const RING_SLOTS: usize = 256;

/// A cursor over the fuzzer's input.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Starts reading `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// Takes `N` bytes, zero-padded past the end of the input.
    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        let n = N.min(self.data.len());
        b[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        b
    }

    /// Takes one byte.
    pub fn u8(&mut self) -> u8 {
        self.bytes::<1>()[0]
    }

    /// Takes a little-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.bytes())
    }

    /// Takes a little-endian `u32`.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.bytes())
    }

    /// Takes one byte as a flag (its lowest bit).
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 != 0
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The bytes not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.data)
    }

    /// The rest of the input as the slots of a shared ring page: slot `k` holds bytes
    /// `k * N ..`, zero-padded; slots past the end of the input are all zero.
    pub fn ring<const N: usize>(&mut self) -> [[u8; N]; RING_SLOTS] {
        let mut ring = [[0u8; N]; RING_SLOTS];
        for slot in ring.iter_mut() {
            if self.data.is_empty() {
                break;
            }
            *slot = self.bytes();
        }
        ring
    }
}

/// The parsers' view of a fuzzed ring: hands out slot `k` as the parser asks for it and
/// asserts the reading rule every chain parser promises (slots in order, each at most
/// once, never at or past the producer).
pub struct SlotReader<'r, const N: usize> {
    ring: &'r [[u8; N]; RING_SLOTS],
    available: u32,
    /// Slots read so far.
    pub reads: u32,
}

impl<'r, const N: usize> SlotReader<'r, N> {
    /// A reader of `ring` with `available` published slots.
    pub fn new(ring: &'r [[u8; N]; RING_SLOTS], available: u32) -> Self {
        Self {
            ring,
            available,
            reads: 0,
        }
    }

    /// Slot `k`, checked against the reading rule.
    pub fn read(&mut self, k: u32) -> [u8; N] {
        assert_eq!(k, self.reads, "slot {k} read out of order or twice");
        assert!(
            k < self.available,
            "slot {k} read past the producer ({})",
            self.available
        );
        self.reads += 1;
        self.ring[k as usize]
    }
}
