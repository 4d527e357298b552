// SPDX-License-Identifier: GPL-2.0

//! `xnt-rxpeek`: a dom0 check that the RX buffers a guest's netfront posted to its backend
//! hold no stale data (XSA-403, CVE-2022-33740: "RX pages are granted to the backend
//! without being zeroed").
//!
//! ```text
//! xnt-rxpeek DOMID DEVID [--settle-ms MS]
//! ```
//!
//! For each queue of vif `DEVID` of domain `DOMID` it reads the frontend's `rx-ring-ref`
//! from XenStore (`/local/domain/DOMID/device/vif/DEVID/rx-ring-ref`, or
//! `queue-N/rx-ring-ref` when `multi-queue-num-queues` is 2 or more), maps that ring page
//! read-only through `/dev/xen/gntdev` (the frontend granted it to its backend, dom0), and
//! reads `rsp_prod` and then `req_prod`. The requests between them are posted and not
//! answered yet: the backend has not written their buffers. Their grants are mapped
//! read-only (all at once; one by one when one of them cannot be mapped) and each whole
//! 4 KiB page must be zero.
//!
//! Race: the backend may take a request and write its buffer between our reading the
//! indices and looking at the page (it publishes the response only after the copy). So
//! `rsp_prod` is read again after the pages were looked at, and only the requests still
//! beyond it are judged; the others are counted as answered and skipped. A page that
//! showed data, or could not be mapped, is judged only after `--settle-ms` (default 1000)
//! more, with `rsp_prod` and the request's slot read again: a backend that wrote a buffer
//! publishes its response within microseconds, so one still unanswered then, with the
//! same request in its slot, was not written by the backend.
//!
//! Pause the guest while the tool runs (`xl pause`, as the scenarios' `rx_buffers_zeroed`
//! does): while dom0 maps one of its grants the guest cannot end it, and both netfronts
//! disable themselves ("Grant still in use by backend domain") when that happens to an RX
//! buffer whose response they are taking. A paused guest takes no response; its backend
//! may still answer requests, which the re-reads above allow for.
//!
//! Prints one line per queue (posted requests, examined, all-zero, with non-zero bytes,
//! answered meanwhile, not mappable), a line per page with data (its slot, id, gref, the
//! first non-zero offset and 16 bytes from there; at most 8 per queue), and a summary line
//! last. Exit status: 0 when every examined page is zero and at least one page was
//! examined; 1 when a page holds non-zero bytes; 2 on a usage error; 3 when a queue could
//! not be read (XenStore, ring mapping, ring indices) or no page could be examined.

#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Duration;

use xen_netif::netif::RxRequest;
use xen_netif::ring::{header, published, slot_offset, RX_RING_SIZE, RX_SLOT_SIZE};
use xen_netif::xenstore::{frontend_keys, parse_unsigned, queue_keys, QueueLayout};
use xen_user::{ForeignPages, GrantMapper, XenStore, PAGE};

/// Pages with data printed per queue.
const MAX_DATA_LINES: usize = 8;

/// What a posted request's page held when it was looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    /// Every byte zero.
    Zero,
    /// A non-zero byte at `offset`; `bytes` from there (zero-padded at the page's end).
    Data { offset: usize, bytes: [u8; 16] },
    /// The grant could not be mapped.
    Unmapped(String),
}

/// One posted request and its page.
#[derive(Clone, Debug)]
struct Look {
    /// Ring index of the request.
    idx: u32,
    req: RxRequest,
    seen: Seen,
    /// The backend answered it (or took its slot) before the verdict.
    answered: bool,
}

/// Per-queue counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    /// Requests posted and unanswered when the indices were read.
    posted: u32,
    /// Judged: mapped, looked at, still unanswered at the end (`zero + data`).
    examined: u32,
    zero: u32,
    data: u32,
    /// Answered by the backend while we looked: skipped.
    answered: u32,
    /// Still unanswered, but the grant could not be mapped: not judged.
    unmapped: u32,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.posted += other.posted;
        self.examined += other.examined;
        self.zero += other.zero;
        self.data += other.data;
        self.answered += other.answered;
        self.unmapped += other.unmapped;
    }

    fn counts(&self) -> String {
        format!(
            "{} posted requests, {} examined: {} all-zero, {} with non-zero bytes; {} answered meanwhile (skipped), {} not mappable",
            self.posted, self.examined, self.zero, self.data, self.answered, self.unmapped
        )
    }
}

/// Whether ring index `idx` is answered by a response producer at `now`, both counted
/// from `start` (the `rsp_prod` the requests were read at): free-running indices.
fn answered_by(idx: u32, start: u32, now: u32) -> bool {
    idx.wrapping_sub(start) < now.wrapping_sub(start)
}

/// What a page's bytes show.
fn seen_in(page: &[u8]) -> Seen {
    match page.iter().position(|&b| b != 0) {
        None => Seen::Zero,
        Some(offset) => {
            let mut bytes = [0u8; 16];
            let end = page.len().min(offset + bytes.len());
            bytes[..end - offset].copy_from_slice(&page[offset..end]);
            Seen::Data { offset, bytes }
        }
    }
}

/// The counts of a queue's looks.
fn tally(looks: &[Look]) -> Tally {
    let mut t = Tally {
        posted: looks.len() as u32,
        ..Tally::default()
    };
    for l in looks {
        if l.answered {
            t.answered += 1;
            continue;
        }
        match l.seen {
            Seen::Zero => t.zero += 1,
            Seen::Data { .. } => t.data += 1,
            Seen::Unmapped(_) => t.unmapped += 1,
        }
    }
    t.examined = t.zero + t.data;
    t
}

/// A posted request's slot, read out of the ring page.
fn read_request(ring: &ForeignPages<'_>, idx: u32) -> RxRequest {
    let mut b = [0u8; RX_SLOT_SIZE];
    ring.read_into(0, slot_offset(idx, RX_RING_SIZE, RX_SLOT_SIZE), &mut b);
    RxRequest::from_le_bytes(&b)
}

/// Maps request `req`'s page and looks at it.
fn look_at(gnt: &GrantMapper, domid: u16, req: &RxRequest) -> Seen {
    match gnt.map_readonly(domid, &[req.gref]) {
        Ok(page) => look_in(&page, 0),
        Err(e) => Seen::Unmapped(e.to_string()),
    }
}

/// Looks at page `i` of a mapping.
fn look_in(pages: &ForeignPages<'_>, i: usize) -> Seen {
    let mut buf = [0u8; PAGE];
    pages.read_into(i, 0, &mut buf);
    seen_in(&buf)
}

/// Looks at the pages of `reqs`: all mapped at once (one map call instead of one per page,
/// which counts under emulation), or, when one of them cannot be mapped, one by one.
fn look_at_all(gnt: &GrantMapper, domid: u16, reqs: &[RxRequest]) -> Vec<Seen> {
    if reqs.is_empty() {
        return Vec::new();
    }
    let grefs: Vec<u32> = reqs.iter().map(|r| r.gref).collect();
    match gnt.map_readonly(domid, &grefs) {
        Ok(pages) => (0..reqs.len()).map(|i| look_in(&pages, i)).collect(),
        Err(_) => reqs.iter().map(|r| look_at(gnt, domid, r)).collect(),
    }
}

/// Checks one queue: its looks, or why it could not be read.
fn check_queue(
    xs: &mut XenStore,
    gnt: &GrantMapper,
    domid: u16,
    fe: &str,
    layout: QueueLayout,
    queue: u32,
    settle: Duration,
) -> Result<(u32, u32, u32, Vec<Look>), String> {
    let key = layout
        .key(queue, queue_keys::RX_RING_REF)
        .map_err(|_| format!("no key path for queue {queue}"))?;
    let path = format!("{fe}/{}", key.as_str());
    let value = xs
        .read(&path)
        .map_err(|e| format!("{path}: {e}"))?
        .ok_or_else(|| format!("{path} does not exist (frontend not connected?)"))?;
    let ring_ref = parse_unsigned(value.as_bytes())
        .ok_or_else(|| format!("{path} = '{value}': not a grant reference"))?;
    let ring = gnt
        .map_readonly(domid, &[ring_ref])
        .map_err(|e| format!("mapping the RX ring (gref {ring_ref}): {e}"))?;
    // rsp_prod first: req_prod, read after it, is at least as far (a response follows its
    // request), so every index in between is a request the frontend posted.
    let rsp0 = ring.read_u32(0, header::RSP_PROD);
    let req = ring.read_u32(0, header::REQ_PROD);
    let n = published(req, rsp0, RX_RING_SIZE)
        .map_err(|_| format!("ring indices req_prod {req} rsp_prod {rsp0}: more than a ring"))?;
    let reqs: Vec<RxRequest> = (0..n)
        .map(|k| read_request(&ring, rsp0.wrapping_add(k)))
        .collect();
    let mut looks: Vec<Look> = look_at_all(gnt, domid, &reqs)
        .into_iter()
        .zip(reqs)
        .zip(0..n)
        .map(|((seen, req), k)| Look {
            idx: rsp0.wrapping_add(k),
            req,
            seen,
            answered: false,
        })
        .collect();
    let reread = |looks: &mut [Look]| -> Result<u32, String> {
        let now = ring.read_u32(0, header::RSP_PROD);
        published(now, rsp0, RX_RING_SIZE)
            .map_err(|_| format!("rsp_prod went from {rsp0} to {now}: more than a ring"))?;
        for l in looks.iter_mut() {
            l.answered = l.answered || answered_by(l.idx, rsp0, now);
        }
        Ok(now)
    };
    let mut rsp1 = reread(&mut looks)?;
    if looks.iter().any(|l| !l.answered && l.seen != Seen::Zero) {
        std::thread::sleep(settle);
        rsp1 = reread(&mut looks)?;
        // A slot that no longer holds the request was answered (its response written,
        // perhaps not published yet): skipped as well.
        for l in looks.iter_mut().filter(|l| !l.answered) {
            if read_request(&ring, l.idx) != l.req {
                l.answered = true;
            }
        }
    }
    Ok((ring_ref, req, rsp1, looks))
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn run(domid: u16, devid: u32, settle: Duration) -> Result<Tally, String> {
    let mut xs = XenStore::open().map_err(|e| format!("/dev/xen/xenbus: {e}"))?;
    let gnt = GrantMapper::open().map_err(|e| format!("/dev/xen/gntdev: {e}"))?;
    let fe = format!("/local/domain/{domid}/device/vif/{devid}");
    let read = |xs: &mut XenStore, key: &str| {
        xs.read(&format!("{fe}/{key}"))
            .map_err(|e| format!("{fe}/{key}: {e}"))
    };
    let state = read(&mut xs, "state")?.ok_or_else(|| format!("{fe}: no such frontend"))?;
    let backend_id = read(&mut xs, "backend-id")?.unwrap_or_else(|| "?".into());
    let queues = match read(&mut xs, frontend_keys::MULTI_QUEUE_NUM_QUEUES)? {
        Some(v) => parse_unsigned(v.as_bytes())
            .filter(|&n| n >= 1)
            .ok_or_else(|| format!("multi-queue-num-queues '{v}'"))?,
        None => 1,
    };
    let layout = QueueLayout::for_queues(queues);
    println!("{fe}: state {state}, backend-id {backend_id}, {queues} queue(s)");
    let mut total = Tally::default();
    let mut errors = 0;
    for q in 0..queues {
        match check_queue(&mut xs, &gnt, domid, &fe, layout, q, settle) {
            Ok((ring_ref, req, rsp, looks)) => {
                let t = tally(&looks);
                println!(
                    "queue {q}: rx-ring-ref {ring_ref}, req_prod {req}, rsp_prod {}..{rsp}: {}",
                    req.wrapping_sub(t.posted),
                    t.counts()
                );
                let mut shown = 0;
                for l in looks.iter().filter(|l| !l.answered) {
                    match &l.seen {
                        Seen::Data { offset, bytes } if shown < MAX_DATA_LINES => {
                            shown += 1;
                            println!(
                                "queue {q}: NOT ZERO: request {} (id {}, gref {}): first non-zero byte at offset {offset}: {}",
                                l.idx,
                                l.req.id,
                                l.req.gref,
                                hex(bytes)
                            );
                        }
                        Seen::Unmapped(e) if shown < MAX_DATA_LINES => {
                            shown += 1;
                            println!(
                                "queue {q}: request {} (id {}, gref {}) not mappable: {e}",
                                l.idx, l.req.id, l.req.gref
                            );
                        }
                        _ => {}
                    }
                }
                total.add(&t);
            }
            Err(e) => {
                errors += 1;
                println!("queue {q}: ERROR: {e}");
            }
        }
    }
    println!(
        "XSA-403 RX buffers of domain {domid} vif {devid}: {queues} queue(s){}, {}",
        if errors > 0 {
            format!(" ({errors} unreadable)")
        } else {
            String::new()
        },
        total.counts()
    );
    if errors > 0 {
        Err(format!("{errors} queue(s) could not be read"))
    } else {
        Ok(total)
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: xnt-rxpeek DOMID DEVID [--settle-ms MS]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut settle_ms = 1000u64;
    let mut pos = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--settle-ms" {
            match it.next().and_then(|v| v.parse().ok()) {
                Some(v) => settle_ms = v,
                None => return usage(),
            }
        } else {
            pos.push(a);
        }
    }
    let (Some(domid), Some(devid), 2) = (
        pos.first().and_then(|v| v.parse::<u16>().ok()),
        pos.get(1).and_then(|v| v.parse::<u32>().ok()),
        pos.len(),
    ) else {
        return usage();
    };
    match run(domid, devid, Duration::from_millis(settle_ms)) {
        Ok(t) if t.data > 0 => {
            println!("FAIL: {} posted RX buffer(s) hold non-zero bytes", t.data);
            ExitCode::from(1)
        }
        Ok(t) if t.examined == 0 => {
            println!("FAIL: no posted RX buffer could be examined");
            ExitCode::from(3)
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            println!("FAIL: {e}");
            ExitCode::from(3)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(idx: u32, seen: Seen, answered: bool) -> Look {
        Look {
            idx,
            req: RxRequest {
                id: (idx % RX_RING_SIZE) as u16,
                pad: 0,
                gref: 100 + idx,
            },
            seen,
            answered,
        }
    }

    #[test]
    fn answered_counts_from_the_first_rsp_prod_across_the_wrap() {
        assert!(!answered_by(10, 10, 10));
        assert!(answered_by(10, 10, 11));
        assert!(!answered_by(11, 10, 11));
        // Indices wrap at u32::MAX.
        let start = u32::MAX - 1;
        assert!(answered_by(u32::MAX, start, 0));
        assert!(!answered_by(0, start, 0));
        assert!(answered_by(0, start, 1));
    }

    #[test]
    fn a_page_is_zero_or_shows_its_first_non_zero_byte() {
        let mut page = [0u8; PAGE];
        assert_eq!(seen_in(&page), Seen::Zero);
        page[14] = 0x08;
        page[15] = 0x00;
        page[16] = 0x45;
        let Seen::Data { offset, bytes } = seen_in(&page) else {
            panic!("data not seen");
        };
        assert_eq!(offset, 14);
        assert_eq!(bytes[..3], [0x08, 0x00, 0x45]);
        // The last byte alone: the excerpt is padded, not read past the page.
        let mut page = [0u8; PAGE];
        page[PAGE - 1] = 0xff;
        assert_eq!(
            seen_in(&page),
            Seen::Data {
                offset: PAGE - 1,
                bytes: {
                    let mut b = [0u8; 16];
                    b[0] = 0xff;
                    b
                }
            }
        );
    }

    #[test]
    fn answered_requests_are_skipped_and_the_rest_judged() {
        let looks = [
            look(5, Seen::Zero, true),
            look(
                6,
                Seen::Data {
                    offset: 0,
                    bytes: [1; 16],
                },
                true,
            ),
            look(7, Seen::Zero, false),
            look(
                8,
                Seen::Data {
                    offset: 3,
                    bytes: [2; 16],
                },
                false,
            ),
            look(9, Seen::Unmapped("EINVAL".into()), false),
        ];
        assert_eq!(
            tally(&looks),
            Tally {
                posted: 5,
                examined: 2,
                zero: 1,
                data: 1,
                answered: 2,
                unmapped: 1,
            }
        );
        let mut total = Tally::default();
        total.add(&tally(&looks));
        total.add(&tally(&looks[..1]));
        assert_eq!((total.posted, total.answered, total.examined), (6, 3, 2));
        assert!(total.counts().starts_with("6 posted requests, 2 examined: 1 all-zero, 1 with non-zero bytes; 3 answered meanwhile"));
    }
}
