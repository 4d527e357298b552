// SPDX-License-Identifier: GPL-2.0

//! Guest TX: packets the frontend sends, from its TX ring into the stack (the TX half of
//! the C driver's `netback.c`).
//!
//! Runs in the queue's NAPI poll: requests are copied out of the ring once, validated by
//! `common/src/protocol/backend.rs`, grant-copied into a new skb and handed to GRO. The
//! `rate` key's credit shaping is applied here too.

use core::sync::atomic::Ordering;

use kernel::prelude::*;

use crate::interface::Queue;
use crate::xen::backend::{now_ms, GrantCopier, LocalDst};
use crate::xen::evtchn::{EoiHandle, Notifier};
use crate::xen::net::{bump, ChecksumState, Gso, NapiPoll, NapiPoller, Page};
use crate::xen::protocol::backend::{parse_tx_packet, Credit, TxPacket, TxParse, TX_COPY_LEN};
use crate::xen::protocol::flags::Checksum;
use crate::xen::protocol::netif::{GsoType, Status, TxResponse, NR_SLOTS_MIN, PAGE_SIZE};
use crate::xen::protocol::ring::{self, unconsumed_requests};
use crate::xen::sync::BhDisabled;
use crate::{TxRing, MAX_PACKET_OPS};

/// Packets up to this length are copied whole into the skb's linear area.
const TX_LINEAR_MAX: u32 = 1600;
/// Pages a guest-TX packet's non-linear part can take (64 KiB).
const MAX_TX_PAGES: usize = 17;

/// One queue's guest-TX side while connected (NAPI context only).
pub(crate) struct TxConn {
    pub(crate) ring: TxRing,
    pub(crate) req_cons: u32,
    pub(crate) rsp_prod_pvt: u32,
    pub(crate) copier: GrantCopier,
    pub(crate) notifier: Notifier,
    pub(crate) eoi: EoiHandle,
    /// The request producer when the last EOI was sent: an event that brought no new
    /// requests is spurious.
    pub(crate) eoi_seen_prod: u32,
    /// Credit shaping (`rate`), per queue as in C.
    pub(crate) credit: Credit,
    pub(crate) credit_gen: u32,
}

impl Queue {
    // ---- guest TX (frontend -> backend), NAPI context ----

    /// Processes up to `budget` packets; returns (packets, more work may be pending).
    pub(crate) fn tx_poll(&self, napi: &NapiPoll<'_>, budget: i32, bh: &BhDisabled) -> i32 {
        let mut guard = self.tx.lock_with(bh);
        let Some(c) = &mut *guard else {
            return 0;
        };
        let mut done = 0i32;
        while done < budget {
            if self.shared.is_disabled() {
                break;
            }
            let req_prod = c.ring.req_prod();
            let avail =
                match unconsumed_requests(req_prod, c.req_cons, c.rsp_prod_pvt, ring::TX_RING_SIZE)
                {
                    Ok(n) => n,
                    Err(e) => {
                        self.fatal(format_args!(
                            "Impossible number of requests: req_prod {} req_cons {}",
                            e.prod, e.cons
                        ));
                        break;
                    }
                };
            if avail == 0 {
                break;
            }
            let cons = c.req_cons;
            let ring_ref = &c.ring;
            let verdict = parse_tx_packet(
                avail,
                |i| ring_ref.read_slot(cons.wrapping_add(i)),
                self.shared.fatal_slots,
            );
            match verdict {
                TxParse::Fatal(f) => {
                    self.fatal(format_args!("bad TX request: {f:?}"));
                    break;
                }
                TxParse::Drop(pkt, why) => {
                    // Charged like a good packet: C's `xenvif_tx_build_gops()` takes the
                    // first request's `size` off the credit before it counts the slots or
                    // checks the length (rows 8, 9, 11 are found after that).
                    if !self.tx_take_credit(c, pkt.len()) {
                        break;
                    }
                    if self.note_problem() {
                        pr_warn!(
                            "{}: queue {}: dropping packet: {:?}\n",
                            self.name(),
                            self.index,
                            why
                        );
                    }
                    c.req_cons = cons.wrapping_add(pkt.consumed);
                    Self::tx_respond(c, &pkt, Status::Error, &[]);
                    bump(&self.stats.rx_errors, 1);
                }
                TxParse::Packet(pkt) => {
                    // Multicast control requests are charged too (their announced size), as
                    // C's `xenvif_tx_build_gops()` checks the credit before it looks at
                    // the extras.
                    if !self.tx_take_credit(c, pkt.len()) {
                        break;
                    }
                    c.req_cons = cons.wrapping_add(pkt.consumed);
                    if pkt.mcast.is_some() {
                        // No multicast filter: the request is acknowledged, nothing else.
                        Self::tx_respond(c, &pkt, Status::Okay, &[]);
                    } else {
                        self.tx_packet(napi, c, &pkt);
                    }
                }
            }
            // Every request (or chain) consumed counts against the budget, packet or not
            // (dropped, multicast control): a frontend that keeps the ring full of requests
            // that make no packet must not keep this softirq polling without end.
            done += 1;
        }
        if c.rsp_prod_pvt != c.ring.shared_rsp_prod() && c.ring.push_responses(c.rsp_prod_pvt) {
            c.notifier.notify();
        }
        done
    }

    /// Charges `size` bytes (the first request's `size`) to the queue's credit. Without
    /// enough credit the packet stays on the ring until the next window (row 24): the
    /// worker is asked to reschedule NAPI then, and `false` is returned.
    fn tx_take_credit(&self, c: &mut TxConn, size: u32) -> bool {
        self.apply_rate(c);
        if let Err(at) = c.credit.charge(size, now_ms()) {
            self.credit_wake_at.store(at.max(1), Ordering::Release);
            self.waker.kick();
            return false;
        }
        // Credit again (a new window, or a new `rate` whose watch scheduled us): the wait
        // is over. A stale wake time would keep `tx_complete` from rescheduling for
        // requests that arrive before it passes (C tests its credit timer only when the
        // credit is short, `tx_credit_exceeded()`).
        if self.credit_wake_at.load(Ordering::Relaxed) != 0 {
            self.credit_wake_at.store(0, Ordering::Release);
        }
        true
    }

    /// Takes a changed `rate` into this queue's credit.
    fn apply_rate(&self, c: &mut TxConn) {
        let gen = self.shared.rate_gen.load(Ordering::Acquire);
        if gen == c.credit_gen {
            return;
        }
        c.credit_gen = gen;
        let bytes = self.shared.rate_bytes.load(Ordering::Relaxed);
        let usec = self.shared.rate_usec.load(Ordering::Relaxed);
        if bytes == u64::MAX {
            c.credit = Credit::unlimited();
        } else if c.credit.is_limited() {
            c.credit.set_rate(bytes, usec);
        } else {
            c.credit = Credit::new(bytes, usec, now_ms());
        }
    }

    /// Writes the responses of one packet: the first request, `RSP_NULL` for each extra,
    /// then each further slot; further slots whose id is in `failed` get `RSP_ERROR`.
    fn tx_respond(c: &mut TxConn, pkt: &TxPacket, first: Status, failed: &[u16]) {
        let mut put = |id: u16, status: Status| {
            let rsp = TxResponse {
                id,
                status: status as i16,
            };
            c.ring.write_slot(c.rsp_prod_pvt, &rsp.to_slot());
            c.rsp_prod_pvt = c.rsp_prod_pvt.wrapping_add(1);
        };
        put(pkt.first.id, first);
        for _ in 0..pkt.extra_slots {
            put(0, Status::Null);
        }
        for &id in pkt.further_ids() {
            let st = if first == Status::Error || failed.contains(&id) {
                Status::Error
            } else {
                Status::Okay
            };
            put(id, st);
        }
    }

    /// Copies one validated packet into a new skb and hands it to the stack.
    fn tx_packet(&self, napi: &NapiPoll<'_>, c: &mut TxConn, pkt: &TxPacket) {
        let total = pkt.len();
        let linear = if total <= TX_LINEAR_MAX {
            total
        } else {
            TX_COPY_LEN as u32
        };
        let Some(mut skb) = napi.alloc_skb(linear) else {
            bump(&self.stats.rx_dropped, 1);
            Self::tx_respond(c, pkt, Status::Error, &[]);
            return;
        };
        // Destinations: the linear area, then whole pages for the rest.
        let mut pages: [Option<Page>; MAX_TX_PAGES] = [const { None }; MAX_TX_PAGES];
        let mut dst: [Option<LocalDst<'_>>; 4 + MAX_TX_PAGES] = [None; 4 + MAX_TX_PAGES];
        let mut ndst = match skb.put_local(linear, &mut dst[..4]) {
            Ok(n) => n,
            Err(_) => {
                bump(&self.stats.rx_dropped, 1);
                Self::tx_respond(c, pkt, Status::Error, &[]);
                return;
            }
        };
        let mut rest = total - linear;
        let mut npages = 0usize;
        while rest > 0 {
            let Some(page) = Page::alloc_atomic() else {
                bump(&self.stats.rx_dropped, 1);
                Self::tx_respond(c, pkt, Status::Error, &[]);
                return;
            };
            let len = rest.min(PAGE_SIZE as u32);
            pages[npages] = Some(page);
            npages += 1;
            rest -= len;
        }
        let mut rest = total - linear;
        for page in pages.iter_mut().take(npages).flatten() {
            let len = rest.min(PAGE_SIZE as u32);
            dst[ndst] = page.local_dst().sub(0, len as u16);
            ndst += 1;
            rest -= len;
        }

        // Sources: the first slot's own data, then each further slot. Each op records
        // which source it reads, so a failed copy answers the right slot.
        let mut batch = c.copier.batch();
        let mut src_id: [u16; MAX_PACKET_OPS] = [0; MAX_PACKET_OPS];
        let first = (
            pkt.first.gref,
            pkt.first.offset,
            pkt.first_len,
            pkt.first.id,
        );
        let frags = pkt.frags();
        let mut di = 0usize;
        let mut doff = 0u16;
        let mut overflow = false;
        for (gref, off, len, id) in Iterator::chain(
            core::iter::once(first),
            frags.iter().map(|f| (f.gref, f.offset, f.len, f.id)),
        ) {
            let mut soff = off;
            let mut left = len;
            while left > 0 && di < ndst {
                let Some(d) = dst[di] else {
                    overflow = true;
                    break;
                };
                let dlen = d.len();
                let n = left.min(dlen - doff);
                if batch.len() >= MAX_PACKET_OPS {
                    overflow = true;
                    break;
                }
                src_id[batch.len()] = id;
                let pushed = match d.sub(doff, n) {
                    Some(local) => batch.copy_from_foreign(local, gref, soff, GFP_ATOMIC),
                    None => Err(EINVAL),
                };
                if pushed.is_err() {
                    overflow = true;
                    break;
                }
                soff += n;
                left -= n;
                doff += n;
                if doff == dlen {
                    di += 1;
                    doff = 0;
                }
            }
        }
        if overflow {
            bump(&self.stats.rx_dropped, 1);
            Self::tx_respond(c, pkt, Status::Error, &[]);
            return;
        }
        let run = batch.run(self.shared.domid);
        self.copies.count_tx(&run);
        // Ids of the further slots whose copy failed, each once: they all carry data, so
        // there are at most as many as `pkt.frags()`, and a packet that parsed has at most
        // `NR_SLOTS_MIN` further slots (more are dropped by `parse_tx_packet`).
        let mut failed: [u16; NR_SLOTS_MIN] = [0; NR_SLOTS_MIN];
        let mut nfailed = 0usize;
        let mut first_failed = false;
        for (status, &id) in run.statuses().zip(src_id.iter()) {
            if status != 0 {
                if id == pkt.first.id {
                    first_failed = true;
                } else if nfailed < failed.len() && !failed[..nfailed].contains(&id) {
                    failed[nfailed] = id;
                    nfailed += 1;
                }
            }
        }
        if first_failed || nfailed > 0 {
            if self.note_problem() {
                pr_warn!(
                    "{}: queue {}: grant copy from the frontend failed\n",
                    self.name(),
                    self.index
                );
            }
            Self::tx_respond(
                c,
                pkt,
                if first_failed {
                    Status::Error
                } else {
                    Status::Okay
                },
                &failed[..nfailed],
            );
            bump(&self.stats.rx_errors, 1);
            return;
        }
        Self::tx_respond(c, pkt, Status::Okay, &[]);

        let mut rest = total - linear;
        for slot in pages.iter_mut().take(npages) {
            let len = rest.min(PAGE_SIZE as u32);
            rest -= len;
            if let Some(page) = slot.take() {
                if skb.add_page_frag(page, 0, len).is_err() {
                    bump(&self.stats.rx_dropped, 1);
                    return;
                }
            }
        }
        let csum = match pkt.first.flags().checksum() {
            Checksum::Partial => ChecksumState::Partial,
            Checksum::Unnecessary => ChecksumState::Unnecessary,
            Checksum::None => ChecksumState::None,
        };
        let gso = pkt.gso.map(|(size, t)| match t {
            GsoType::TcpV4 => Gso::TcpV4(size),
            GsoType::TcpV6 => Gso::TcpV6(size),
        });
        match skb.finish_rx(&self.shared.netdev, csum, gso) {
            Ok(fixup) => {
                if fixup {
                    bump(&self.shared.rx_gso_checksum_fixup, 1);
                }
                if pkt.gso.is_some() {
                    bump(&self.shared.rx_gso_packets, 1);
                }
                // GRO refuses (and frees) only an skb that is not exclusive, which a
                // fresh one always is.
                if napi.gro_receive(skb).is_ok() {
                    bump(&self.stats.rx_packets, 1);
                    bump(&self.stats.rx_bytes, u64::from(total));
                } else {
                    bump(&self.stats.rx_dropped, 1);
                }
            }
            Err(_) => {
                // Rows 13 and 15: no usable transport header / checksum setup failed.
                if self.note_problem() {
                    pr_warn!(
                        "{}: queue {}: dropping packet: bad headers\n",
                        self.name(),
                        self.index
                    );
                }
                bump(&self.stats.rx_errors, 1);
            }
        }
    }

    /// NAPI finished: sends the pending late EOI of the TX (or shared) channel and re-arms
    /// the request event; returns whether requests arrived meanwhile.
    pub(crate) fn tx_complete(&self, bh: &BhDisabled) -> bool {
        let mut guard = self.tx.lock_with(bh);
        let Some(c) = &mut *guard else {
            return false;
        };
        if self.shared.is_disabled() {
            // No EOI: the channel of a disabled vif stays quiet.
            return false;
        }
        let prod = c.ring.request_event_at(c.req_cons.wrapping_add(1));
        // While waiting for credit the worker reschedules NAPI; do not spin here.
        let more = prod != c.req_cons && self.credit_wake_at.load(Ordering::Acquire) == 0;
        if self.tx_eoi_pending.swap(false, Ordering::AcqRel) {
            let spurious = prod == c.eoi_seen_prod && !self.shared_channel.load(Ordering::Relaxed);
            c.eoi_seen_prod = prod;
            c.eoi.eoi(spurious);
        }
        more
    }
}

impl NapiPoller for Queue {
    fn poll(&self, napi: NapiPoll<'_>, budget: i32, bh: &BhDisabled) -> i32 {
        let done = self.tx_poll(&napi, budget, bh);
        if done < budget && napi.complete_done(done) && self.tx_complete(bh) {
            self.napi.schedule();
        }
        done
    }
}
