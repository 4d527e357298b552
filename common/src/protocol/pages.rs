// SPDX-License-Identifier: GPL-2.0

//! Packet data per page, the unit of a grant and of one grant copy.
//!
//! Bytes that start `offset` bytes into a page and run on over contiguous pages are granted
//! or copied in one piece, a *chunk*, per page they touch: the skb walk `SkBuff::chunks`
//! (`common/kernel/net/skb.rs`) splits an skb's head and each of its fragments so. These
//! functions count the chunks of one range, and bound the count over a whole packet, so
//! that a driver can size its chunk array from the limits the packet is known to obey.

use super::netif::PAGE_SIZE;

/// Chunks (pages touched) of `len` bytes that start `offset` bytes into a run of contiguous
/// pages (only `offset % PAGE_SIZE` matters); 0 when `len` is 0.
pub const fn page_chunks(offset: u32, len: u32) -> u32 {
    chunks_in(offset, len, PAGE_SIZE as u32)
}

/// The most chunks `len` bytes can take when they come in at most `pieces` ranges (an skb's
/// head and fragments), each starting anywhere in a page; 0 when either is 0.
///
/// A range of `s` bytes (`s >= 1`) touches at most `(s + 2 * PAGE_SIZE - 2) / PAGE_SIZE`
/// pages (it starts in the last byte of a page: 1 page for one byte, 2 for 2 up to
/// `PAGE_SIZE + 1` bytes, ...). Summed over `k` non-empty ranges that is at most
/// `(len + k * (2 * PAGE_SIZE - 2)) / PAGE_SIZE`, growing with `k`, and never more than
/// `len` (a chunk holds at least one byte); `k` is at most `min(pieces, len)`. The bound is
/// reached (the host tests check both against every split for small page sizes).
///
/// Example: a packet below 64 KiB (`len` 65535) in a head and 17 fragments (`pieces` 18)
/// takes at most `max_chunks(65535, 18)` = 51 chunks, where the pages its data fills
/// alone would be 16.
pub const fn max_chunks(len: u32, pieces: u32) -> u32 {
    max_chunks_in(len, pieces, PAGE_SIZE as u32)
}

// The two below take the page size as a parameter for the host tests, which try small
// ones. They divide only through `checked_*` (0 for `page` 0): no division-by-zero panic
// path in the kernel, where objtool does not know that panic as `noreturn`.

/// [`page_chunks`] for pages of `page` bytes.
const fn chunks_in(offset: u32, len: u32, page: u32) -> u32 {
    let Some(start) = offset.checked_rem(page) else {
        return 0;
    };
    if len == 0 {
        return 0;
    }
    // `page` >= 1 here; at most (page - 1 + u32::MAX) / page + 1 pages: fits in a u32.
    let end = start as u64 + len as u64;
    match (end + page as u64 - 1).checked_div(page as u64) {
        Some(n) => n as u32,
        None => 0,
    }
}

/// [`max_chunks`] for pages of `page` bytes.
const fn max_chunks_in(len: u32, pieces: u32, page: u32) -> u32 {
    if len == 0 || pieces == 0 || page == 0 {
        return 0;
    }
    let k = if pieces < len { pieces } else { len } as u64;
    let page = page as u64;
    let Some(bound) = (len as u64 + k * (2 * page - 2)).checked_div(page) else {
        return 0;
    };
    // Below `len` (a u32) whenever it is the smaller one.
    if bound < len as u64 {
        bound as u32
    } else {
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_chunks_counts_pages_touched() {
        assert_eq!(page_chunks(0, 0), 0);
        assert_eq!(page_chunks(4095, 0), 0);
        assert_eq!(page_chunks(0, 1), 1);
        assert_eq!(page_chunks(0, 4096), 1);
        assert_eq!(page_chunks(0, 4097), 2);
        assert_eq!(page_chunks(4095, 1), 1);
        assert_eq!(page_chunks(4095, 2), 2);
        assert_eq!(page_chunks(4095, 4097), 2);
        assert_eq!(page_chunks(4095, 4098), 3);
        // Only the offset within its page counts (a fragment of a compound page).
        assert_eq!(page_chunks(3 * 4096 + 100, 3900), 1);
        assert_eq!(page_chunks(3 * 4096 + 100, 4000), page_chunks(100, 4000));
        assert_eq!(page_chunks(100, 4000), 2);
        // A 64 KiB linear head, page-aligned or not.
        assert_eq!(page_chunks(0, 65535), 16);
        assert_eq!(page_chunks(64, 65535), 17);
        // No overflow at the extremes.
        assert_eq!(page_chunks(u32::MAX, u32::MAX), 1_048_577);
        assert_eq!(page_chunks(0, u32::MAX), 1_048_576);
    }

    /// `page_chunks` is the number of pieces the skb walk (`add_chunks` in
    /// `common/kernel/net/skb.rs`) makes of a range: one per page, each at most the rest
    /// of its page.
    #[test]
    fn page_chunks_matches_the_walk() {
        fn walk(offset: u32, len: u32, page: u32) -> u32 {
            let mut offset = offset % page;
            let mut len = len;
            let mut n = 0;
            while len != 0 {
                let l = len.min(page - offset);
                n += 1;
                len -= l;
                offset = 0;
            }
            n
        }
        for page in [1, 2, 3, 4, 7, 4096] {
            for offset in 0..3 * page.min(64) {
                for len in 0..300 {
                    assert_eq!(
                        chunks_in(offset, len, page),
                        walk(offset, len, page),
                        "page {page} offset {offset} len {len}"
                    );
                }
            }
        }
        for (offset, len) in [(0, 65535), (4095, 65535), (100, 32768), (4000, 12000)] {
            assert_eq!(page_chunks(offset, len), walk(offset, len, 4096));
        }
    }

    /// The most chunks of any split of `len` bytes into at most `pieces` ranges, each at
    /// any offset, by trying them all.
    fn max_by_search(len: u32, pieces: u32, page: u32) -> u32 {
        if len == 0 || pieces == 0 {
            return 0;
        }
        // The first range takes `s` bytes at its best offset; the rest go to the others.
        let mut best = 0;
        for s in 1..=len {
            let first = (0..page).map(|o| chunks_in(o, s, page)).max().unwrap_or(0);
            let rest = len - s;
            if rest > 0 && pieces == 1 {
                continue;
            }
            best = best.max(first + max_by_search(rest, pieces - 1, page));
        }
        best
    }

    #[test]
    fn max_chunks_is_the_exact_maximum() {
        for page in 1..=6 {
            for len in 0..=16 {
                for pieces in 0..=5 {
                    assert_eq!(
                        max_chunks_in(len, pieces, page),
                        max_by_search(len, pieces, page),
                        "page {page} len {len} pieces {pieces}"
                    );
                }
            }
        }
    }

    #[test]
    fn max_chunks_of_a_64k_packet() {
        // Head plus 17 fragments (`MAX_SKB_FRAGS` by default), below 64 KiB.
        assert_eq!(max_chunks(65535, 18), 51);
        // One reaching it: 15 ranges of 4098 bytes from the last byte of a page (3 pages
        // each), the remaining 4065 bytes in 3 ranges of at least 2 bytes (2 pages each).
        let mut n = 15 * page_chunks(4095, 4098);
        let rest = 65535 - 15 * 4098;
        n += page_chunks(4095, 2) + page_chunks(4095, 2) + page_chunks(4095, rest - 4);
        assert_eq!(n, 51);
        // Fully linear: bounded by the pages touched.
        assert_eq!(max_chunks(65535, 1), 17);
        // More pieces than bytes: one byte per chunk.
        assert_eq!(max_chunks(3, 18), 3);
        assert_eq!(max_chunks(0, 18), 0);
        assert_eq!(max_chunks(100, 0), 0);
        // No overflow at the extremes.
        assert_eq!(max_chunks(u32::MAX, u32::MAX), u32::MAX);
    }
}
