// SPDX-License-Identifier: GPL-2.0

//! The control-ring scenarios: rows C1-C8 of the reference's backend table (section 5.2)
//! with positive controls in between, and a flood of well-formed requests, all over one
//! control ring; each answer is checked against the C netback's (reference 1.10).

use std::io;
use std::time::{Duration, Instant};

use xen_netif::ctrl::{
    ctrl_type, CtrlRequest, CtrlResponse, CtrlStatus, HASH_TYPES_ALL, MAX_HASH_KEY_SIZE,
    MAX_HASH_MAPPING_SIZE, MAX_MAPPING_ENTRIES_PER_REQUEST,
};
use xen_netif::ring::CTRL_RING_SIZE;
use xen_user::GrantedPages;

use crate::frontend::{Frontend, BOGUS_GREF};

/// How long one control request may go unanswered before the frontend kicks the event
/// channel once more (the backend missed a notification it asked for).
const CTRL_KICK_AFTER: Duration = Duration::from_secs(2);
/// How long after that extra kick a request may still go unanswered.
const CTRL_GIVE_UP_AFTER: Duration = Duration::from_secs(3);
/// Requests of the flood: 32 rings' worth.
pub const FLOOD_REQUESTS: u32 = 32 * CTRL_RING_SIZE;
/// Entries of the mapping table the rows size (`SET_HASH_MAPPING_SIZE`).
const TABLE: u32 = 8;
/// Status codes, as the wire carries them.
const SUCCESS: u32 = CtrlStatus::Success as u32;
const NOT_SUPPORTED: u32 = CtrlStatus::NotSupported as u32;
const INVALID_PARAMETER: u32 = CtrlStatus::InvalidParameter as u32;

/// One checked item: what was asked, what came back, what the C netback answers.
#[derive(Clone, Debug)]
pub struct Item {
    /// Short label (`C4b`, `P3`, `flood`): no spaces, colons or commas.
    pub label: &'static str,
    /// The input, in a few words.
    pub what: String,
    /// The answer: the status, `status/data` for a request that returns data, `-` for
    /// none, `x` for a response whose id or type is not the request's; counts for the
    /// flood's items.
    pub got: String,
    /// The C netback's answer in the same notation.
    pub want: String,
}

/// The control-ring part of a scenario's outcome.
#[derive(Debug, Default)]
pub struct CtrlOutcome {
    /// `answered` (every item as C answers), `wrong` (an answer differs), `unanswered`
    /// (a request got no answer), `offered` (a ring the backend should have refused
    /// connected anyway), or `skipped` (the backend has no `feature-ctrl-ring`).
    pub verdict: &'static str,
    /// The items, in the order sent.
    pub items: Vec<Item>,
}

impl CtrlOutcome {
    /// The outcome of a scenario skipped because the backend has no control ring.
    pub fn skipped() -> Self {
        Self {
            verdict: "skipped",
            items: Vec::new(),
        }
    }

    /// The outcome once a ring that should have been refused got connected.
    pub fn offered() -> Self {
        Self {
            verdict: "offered",
            items: Vec::new(),
        }
    }

    fn judge(items: Vec<Item>) -> Self {
        let unanswered = |i: &Item| i.got == "-" || (i.label == "flood" && i.got != i.want);
        let verdict = if items.iter().any(unanswered) {
            "unanswered"
        } else if items.iter().any(|i| i.got != i.want) {
            "wrong"
        } else {
            "answered"
        };
        Self { verdict, items }
    }

    /// `label:got:want,...` for the report line.
    pub fn items_field(&self) -> String {
        if self.items.is_empty() {
            return "none".into();
        }
        self.items
            .iter()
            .map(|i| format!("{}:{}:{}", i.label, i.got, i.want))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// What a request should be answered, in [`Item::got`]'s notation.
fn answer_word(status: u32, data: Option<u32>) -> String {
    match data {
        Some(d) => format!("{status}/{d}"),
        None => status.to_string(),
    }
}

/// Checks `rsp` against the request it answers; `data`: the request returns data.
fn answer_of(req: &CtrlRequest, rsp: &CtrlResponse, data: bool) -> String {
    if rsp.id != req.id || rsp.type_ != req.type_ {
        return "x".into();
    }
    answer_word(rsp.status, data.then_some(rsp.data))
}

/// Hands out request ids and keeps the requests outstanding on the ring, in order.
struct Sender {
    next_id: u16,
    /// Placed requests not answered yet, oldest first, with whether each returns data
    /// and the answer it should get.
    pending: std::collections::VecDeque<(CtrlRequest, bool, String)>,
    /// Times the frontend had to kick again because nothing was answered.
    lost_kicks: u32,
}

impl Sender {
    fn new() -> Self {
        Self {
            next_id: 0,
            pending: std::collections::VecDeque::new(),
            lost_kicks: 0,
        }
    }

    fn place(
        &mut self,
        fe: &mut Frontend,
        type_: u16,
        data: [u32; 3],
        want: (u32, Option<u32>),
    ) -> io::Result<()> {
        let req = CtrlRequest {
            id: self.next_id,
            type_,
            data,
        };
        self.next_id = self.next_id.wrapping_add(1);
        fe.ctrl_place(&req)?;
        self.pending
            .push_back((req, want.1.is_some(), answer_word(want.0, want.1)));
        Ok(())
    }

    /// Waits until at least one response arrived (kicking once more after
    /// [`CTRL_KICK_AFTER`]); returns each answered request's (got, want), in order. Empty
    /// once [`CTRL_GIVE_UP_AFTER`] passed after that kick.
    fn collect(&mut self, fe: &mut Frontend) -> io::Result<Vec<(String, String)>> {
        let start = Instant::now();
        let mut kicked = false;
        loop {
            let rsps = fe.ctrl_responses()?;
            if !rsps.is_empty() {
                let mut out = Vec::with_capacity(rsps.len());
                for rsp in rsps {
                    let (req, data, want) = self
                        .pending
                        .pop_front()
                        .ok_or_else(|| io::Error::other("response without a request"))?;
                    out.push((answer_of(&req, &rsp, data), want));
                }
                return Ok(out);
            }
            let waited = start.elapsed();
            if !kicked && waited > CTRL_KICK_AFTER {
                self.lost_kicks += 1;
                fe.ctrl_kick()?;
                kicked = true;
            } else if waited > CTRL_KICK_AFTER + CTRL_GIVE_UP_AFTER {
                return Ok(Vec::new());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Sends one request and waits for its answer: `-` if none came.
    fn roundtrip(
        &mut self,
        fe: &mut Frontend,
        type_: u16,
        data: [u32; 3],
        want: (u32, Option<u32>),
    ) -> io::Result<(String, String)> {
        self.place(fe, type_, data, want)?;
        fe.ctrl_push()?;
        let mut got = self.collect(fe)?;
        Ok(match got.pop() {
            Some(answer) => answer,
            None => (
                "-".into(),
                self.pending.pop_back().map(|p| p.2).unwrap_or_default(),
            ),
        })
    }
}

/// One request of the row sequence.
struct Step {
    label: &'static str,
    what: String,
    type_: u16,
    data: [u32; 3],
    want: (u32, Option<u32>),
}

fn step(
    label: &'static str,
    what: impl Into<String>,
    type_: u16,
    data: [u32; 3],
    want: (u32, Option<u32>),
) -> Step {
    Step {
        label,
        what: what.into(),
        type_,
        data,
        want,
    }
}

/// The 40-byte key the requests set.
fn key_bytes() -> [u8; MAX_HASH_KEY_SIZE] {
    let mut key = [0u8; MAX_HASH_KEY_SIZE];
    for (i, b) in key.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37) ^ 0x5a;
    }
    key
}

/// A mapping page's [`TABLE`] entries for `queues` queues: `i % queues`, or, when `bad`,
/// the same with the last entry `queues`, one past the last queue.
fn map_entries(queues: u32, bad: bool) -> [u32; TABLE as usize] {
    let mut table = [0u32; TABLE as usize];
    for (i, e) in table.iter_mut().enumerate() {
        *e = i as u32 % queues;
    }
    if bad {
        table[TABLE as usize - 1] = queues;
    }
    table
}

/// The grants the requests point at.
struct Grefs {
    key: u32,
    good: u32,
    bad: u32,
}

/// The pages behind [`Grefs`]: the key, a valid mapping page and a bad one.
struct Pages {
    pages: GrantedPages,
}

impl Pages {
    fn new(fe: &Frontend, queues: u32) -> io::Result<Self> {
        let pages = GrantedPages::alloc(fe.backend_domid(), 3)?;
        pages.write_bytes(0, 0, &key_bytes());
        for (page, bad) in [(1, false), (2, true)] {
            for (i, e) in map_entries(queues, bad).iter().enumerate() {
                pages.write_bytes(page, 4 * i, &e.to_le_bytes());
            }
        }
        Ok(Self { pages })
    }

    fn grefs(&self) -> Grefs {
        Grefs {
            key: self.pages.gref(0),
            good: self.pages.gref(1),
            bad: self.pages.gref(2),
        }
    }
}

/// The row sequence for a vif of `queues` queues, from the backend's initial state
/// (algorithm NONE, no table). Positive controls (`P`) are interleaved, so that a backend
/// answering INVALID_PARAMETER to everything fails.
fn steps(g: &Grefs, queues: u32) -> Vec<Step> {
    use ctrl_type::*;
    let (key, good, bad) = (g.key, g.good, g.bad);
    let all = HASH_TYPES_ALL;
    let max_key = MAX_HASH_KEY_SIZE as u32;
    let per_req = MAX_MAPPING_ENTRIES_PER_REQUEST;
    vec![
        step(
            "C1a",
            "type 0 (INVALID)",
            ctrl_type::INVALID,
            [0; 3],
            (NOT_SUPPORTED, None),
        ),
        step(
            "C1b",
            "type 8 (past the last)",
            8,
            [0; 3],
            (NOT_SUPPORTED, None),
        ),
        step("C1c", "type 99", 99, [1, 2, 3], (NOT_SUPPORTED, None)),
        step(
            "C3b",
            "SET_HASH_FLAGS 0x1 while the algorithm is NONE",
            SET_HASH_FLAGS,
            [1, 0, 0],
            (INVALID_PARAMETER, None),
        ),
        step(
            "P1",
            "GET_HASH_FLAGS while the algorithm is NONE",
            GET_HASH_FLAGS,
            [0; 3],
            (NOT_SUPPORTED, None),
        ),
        step(
            "C2",
            "SET_HASH_ALGORITHM 2",
            SET_HASH_ALGORITHM,
            [2, 0, 0],
            (INVALID_PARAMETER, None),
        ),
        step(
            "P2",
            "SET_HASH_ALGORITHM 1 (Toeplitz)",
            SET_HASH_ALGORITHM,
            [1, 0, 0],
            (SUCCESS, None),
        ),
        step(
            "P3",
            "GET_HASH_FLAGS",
            GET_HASH_FLAGS,
            [0; 3],
            (SUCCESS, Some(all)),
        ),
        step(
            "C3a",
            "SET_HASH_FLAGS 0x10 (unknown bit)",
            SET_HASH_FLAGS,
            [0x10, 0, 0],
            (INVALID_PARAMETER, None),
        ),
        step(
            "P4",
            "SET_HASH_FLAGS 0xf",
            SET_HASH_FLAGS,
            [all, 0, 0],
            (SUCCESS, None),
        ),
        step(
            "C4a",
            format!("SET_HASH_KEY length {}", max_key + 1),
            SET_HASH_KEY,
            [key, max_key + 1, 0],
            (INVALID_PARAMETER, None),
        ),
        step(
            "C4b",
            "SET_HASH_KEY length 40, grant nobody made",
            SET_HASH_KEY,
            [BOGUS_GREF, max_key, 0],
            (INVALID_PARAMETER, None),
        ),
        step(
            "P5",
            "SET_HASH_KEY length 40",
            SET_HASH_KEY,
            [key, max_key, 0],
            (SUCCESS, None),
        ),
        step(
            "P6",
            "GET_HASH_MAPPING_SIZE",
            GET_HASH_MAPPING_SIZE,
            [0; 3],
            (SUCCESS, Some(MAX_HASH_MAPPING_SIZE)),
        ),
        step(
            "C5",
            format!("SET_HASH_MAPPING_SIZE {}", MAX_HASH_MAPPING_SIZE + 1),
            SET_HASH_MAPPING_SIZE,
            [MAX_HASH_MAPPING_SIZE + 1, 0, 0],
            (INVALID_PARAMETER, None),
        ),
        step(
            "P7",
            format!("SET_HASH_MAPPING_SIZE {TABLE}"),
            SET_HASH_MAPPING_SIZE,
            [TABLE, 0, 0],
            (SUCCESS, None),
        ),
        step(
            "C6a",
            "SET_HASH_MAPPING off 0xffffffff len 2 (off + len wraps)",
            SET_HASH_MAPPING,
            [good, 2, u32::MAX],
            (INVALID_PARAMETER, None),
        ),
        step(
            "C6b",
            format!("SET_HASH_MAPPING off 1 len {TABLE} (past the table of {TABLE})"),
            SET_HASH_MAPPING,
            [good, TABLE, 1],
            (INVALID_PARAMETER, None),
        ),
        step(
            "C6c",
            format!("SET_HASH_MAPPING off 0 len {}", per_req + 1),
            SET_HASH_MAPPING,
            [good, per_req + 1, 0],
            (INVALID_PARAMETER, None),
        ),
        step(
            "C7",
            format!("SET_HASH_MAPPING len {TABLE}, last entry {queues} = num_queues"),
            SET_HASH_MAPPING,
            [bad, TABLE, 0],
            (INVALID_PARAMETER, None),
        ),
        step(
            "P8",
            format!("SET_HASH_MAPPING len {TABLE}, entries below {queues}"),
            SET_HASH_MAPPING,
            [good, TABLE, 0],
            (SUCCESS, None),
        ),
        step(
            "C8",
            format!("SET_HASH_MAPPING len {TABLE}, grant nobody made"),
            SET_HASH_MAPPING,
            [BOGUS_GREF, TABLE, 0],
            (INVALID_PARAMETER, None),
        ),
        step(
            "P9",
            "SET_HASH_MAPPING off 4 len 4 (part of the table)",
            SET_HASH_MAPPING,
            [good, 4, 4],
            (SUCCESS, None),
        ),
    ]
}

/// The flood's requests, in turn: the state the rows left (Toeplitz, a table of
/// [`TABLE`]) gives each a fixed answer; two of them copy grants.
fn flood_step(g: &Grefs, n: u32) -> (u16, [u32; 3], (u32, Option<u32>)) {
    use ctrl_type::*;
    let max_key = MAX_HASH_KEY_SIZE as u32;
    match n % 8 {
        0 => (
            GET_HASH_MAPPING_SIZE,
            [0; 3],
            (SUCCESS, Some(MAX_HASH_MAPPING_SIZE)),
        ),
        1 => (99, [0; 3], (NOT_SUPPORTED, None)),
        2 => (SET_HASH_ALGORITHM, [2, 0, 0], (INVALID_PARAMETER, None)),
        3 => (GET_HASH_FLAGS, [0; 3], (SUCCESS, Some(HASH_TYPES_ALL))),
        4 => (SET_HASH_FLAGS, [0x10, 0, 0], (INVALID_PARAMETER, None)),
        5 => (SET_HASH_KEY, [g.key, max_key, 0], (SUCCESS, None)),
        6 => (SET_HASH_MAPPING, [g.good, TABLE, 0], (SUCCESS, None)),
        _ => (
            SET_HASH_MAPPING,
            [g.bad, TABLE, 0],
            (INVALID_PARAMETER, None),
        ),
    }
}

/// [`FLOOD_REQUESTS`] requests back to back: the ring is filled and every slot answered
/// is refilled at once, so that up to `CTRL_RING_SIZE` requests are outstanding all the
/// time. Every answer must come in order with the C netback's status. Returns the items
/// `flood` (requests answered), `flood-wrong` (answers that differ) and the time taken.
fn flood(fe: &mut Frontend, tx: &mut Sender, g: &Grefs) -> io::Result<(Vec<Item>, Duration)> {
    let start = Instant::now();
    let (mut sent, mut answered, mut wrong) = (0u32, 0u32, 0u32);
    while answered < FLOOD_REQUESTS {
        while sent < FLOOD_REQUESTS && fe.ctrl_outstanding() < CTRL_RING_SIZE {
            let (type_, data, want) = flood_step(g, sent);
            tx.place(fe, type_, data, want)?;
            sent += 1;
        }
        fe.ctrl_push()?;
        let got = tx.collect(fe)?;
        if got.is_empty() {
            break;
        }
        for (g, w) in got {
            answered += 1;
            if g != w {
                if wrong < 5 {
                    println!("XNTH-CTRL flood answer {answered}: got {g}, want {w}");
                }
                wrong += 1;
            }
        }
    }
    let items = vec![
        Item {
            label: "flood",
            what: format!("{FLOOD_REQUESTS} requests, ring kept full: answered"),
            got: answered.to_string(),
            want: FLOOD_REQUESTS.to_string(),
        },
        Item {
            label: "flood-wrong",
            what: "flood answers out of order or with another status".into(),
            got: wrong.to_string(),
            want: "0".into(),
        },
    ];
    Ok((items, start.elapsed()))
}

/// Rows C1-C8 with their positive controls, one request at a time, then the flood; the
/// last item counts the notifications the backend missed (a request published with the
/// notification its `req_event` asked for, yet unanswered for [`CTRL_KICK_AFTER`]).
pub fn rows_and_flood(fe: &mut Frontend) -> io::Result<CtrlOutcome> {
    let queues = fe.queue_count() as u32;
    // Kept granted until the last answer is in.
    let pages = Pages::new(fe, queues)?;
    let g = pages.grefs();
    let mut tx = Sender::new();
    let mut items = Vec::new();
    let mut stuck = false;
    for s in steps(&g, queues) {
        let (got, want) = if stuck {
            ("-".into(), answer_word(s.want.0, s.want.1))
        } else {
            tx.roundtrip(fe, s.type_, s.data, s.want)?
        };
        stuck |= got == "-";
        println!(
            "XNTH-CTRL {:<4} {:<58} got {:<6} want {:<6} {}",
            s.label,
            s.what,
            got,
            want,
            if got == want { "ok" } else { "DIFFERENT" }
        );
        items.push(Item {
            label: s.label,
            what: s.what,
            got,
            want,
        });
    }
    if !stuck {
        let (flood_items, took) = flood(fe, &mut tx, &g)?;
        for i in &flood_items {
            println!(
                "XNTH-CTRL {:<11} {} {} (want {})",
                i.label, i.what, i.got, i.want
            );
        }
        println!("XNTH-CTRL flood took {} ms", took.as_millis());
        items.extend(flood_items);
    }
    items.push(Item {
        label: "lost-kicks",
        what: "requests unanswered until the frontend notified again".into(),
        got: tx.lost_kicks.to_string(),
        want: "0".into(),
    });
    Ok(CtrlOutcome::judge(items))
}

#[cfg(test)]
mod tests {
    use super::*;
    use xen_netif::ctrl::{GrantReader, HashConfig};

    /// The three pages, by grant; any other grant fails to copy.
    struct FakeGrants {
        g: Grefs,
        queues: u32,
    }

    impl GrantReader for FakeGrants {
        fn read(&mut self, gref: u32, out: &mut [u8]) -> bool {
            let mut page = vec![0u8; 4096];
            if gref == self.g.key {
                page[..MAX_HASH_KEY_SIZE].copy_from_slice(&key_bytes());
            } else if gref == self.g.good || gref == self.g.bad {
                for (i, e) in map_entries(self.queues, gref == self.g.bad)
                    .iter()
                    .enumerate()
                {
                    page[4 * i..4 * i + 4].copy_from_slice(&e.to_le_bytes());
                }
            } else {
                return false;
            }
            out.copy_from_slice(&page[..out.len()]);
            true
        }
    }

    fn serve(
        cfg: &mut HashConfig,
        grants: &mut FakeGrants,
        type_: u16,
        data: [u32; 3],
        want: (u32, Option<u32>),
    ) -> (String, String) {
        let req = CtrlRequest { id: 3, type_, data };
        let rsp = cfg.serve(&req, grants.queues, grants);
        (
            answer_of(&req, &rsp, want.1.is_some()),
            answer_word(want.0, want.1),
        )
    }

    /// The answers the tool expects are those of common's model of the C netback
    /// (`HashConfig::serve`, itself tested against hash.c's rules), for the rows and for
    /// two rounds of the flood, with one to four queues.
    #[test]
    fn expected_answers_match_the_c_model() {
        for queues in 1..=4 {
            let g = Grefs {
                key: 8,
                good: 9,
                bad: 10,
            };
            let mut grants = FakeGrants {
                g: Grefs { ..g },
                queues,
            };
            let mut cfg = HashConfig::new();
            for s in steps(&g, queues) {
                let (got, want) = serve(&mut cfg, &mut grants, s.type_, s.data, s.want);
                assert_eq!(got, want, "{} ({}) with {queues} queues", s.label, s.what);
            }
            // P8 wrote the whole table, P9 its second half from the page's first entries.
            let good = map_entries(queues, false);
            let table: Vec<u32> = good[..4].iter().chain(&good[..4]).copied().collect();
            assert_eq!(cfg.mapping(), &table[..], "{queues} queues");
            for n in 0..16 {
                let (type_, data, want) = flood_step(&g, n);
                let (got, want) = serve(&mut cfg, &mut grants, type_, data, want);
                assert_eq!(got, want, "flood request {n} with {queues} queues");
            }
        }
    }

    #[test]
    fn rows_cover_c1_to_c8_with_positive_controls() {
        let g = Grefs {
            key: 1,
            good: 2,
            bad: 3,
        };
        let s = steps(&g, 2);
        for row in 1..=8 {
            assert!(
                s.iter().any(|s| s.label.starts_with(&format!("C{row}"))),
                "row C{row}"
            );
        }
        let successes = s.iter().filter(|s| s.want.0 == SUCCESS).count();
        assert!(successes >= 6, "{successes} positive controls");
        // Labels go into the report: no separators in them.
        assert!(s.iter().all(|s| !s.label.contains([':', ',', ' '])));
    }

    #[test]
    fn verdicts() {
        let item = |label, got: &str, want: &str| Item {
            label,
            what: String::new(),
            got: got.into(),
            want: want.into(),
        };
        let ok = CtrlOutcome::judge(vec![item("C1a", "1", "1"), item("P3", "0/15", "0/15")]);
        assert_eq!(ok.verdict, "answered");
        assert_eq!(ok.items_field(), "C1a:1:1,P3:0/15:0/15");
        // A backend answering INVALID_PARAMETER to everything.
        let all2 = CtrlOutcome::judge(vec![item("C2", "2", "2"), item("P2", "2", "0")]);
        assert_eq!(all2.verdict, "wrong");
        let silent = CtrlOutcome::judge(vec![item("C2", "2", "2"), item("C3a", "-", "2")]);
        assert_eq!(silent.verdict, "unanswered");
        let short = CtrlOutcome::judge(vec![item("flood", "100", "4096")]);
        assert_eq!(short.verdict, "unanswered");
        assert_eq!(CtrlOutcome::skipped().items_field(), "none");
    }
}
