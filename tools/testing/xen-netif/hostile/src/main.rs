// SPDX-License-Identifier: GPL-2.0

//! `xnt-hostile`: a deliberately misbehaving netif frontend for testing backends.
//!
//! Runs in a PV guest whose vif `N` no frontend driver has claimed (the guest turns off
//! xenbus driver autoprobing before dom0 attaches the vif). It connects to the backend by
//! hand — ring pages from `/dev/xen/gntalloc`, an event channel from `/dev/xen/evtchn`,
//! keys through `/dev/xen/xenbus` — then plays one scenario: a well-formed exchange or one
//! bad input from the backend table of the adversarial checklist. It reports what the
//! frontend saw on one line, tells dom0 through XenStore (`data/xnt-hostile`) that the
//! attack is over, and, when dom0 detaches the vif, closes like a frontend does.
//!
//! ```text
//! xnt-hostile list
//! xnt-hostile run SCENARIO [--vif N]
//! ```
//!
//! dom0 judges the backend's reaction (connection refused, packet dropped, vif disabled,
//! ...) from this line and from its own view (carrier, counters, kernel log).

#![forbid(unsafe_code)]

mod ctrl;
mod frontend;
mod packets;
mod scenarios;

use std::time::Duration;

use ctrl::CtrlOutcome;
use frontend::{CtrlSetup, Frontend};

fn status_word(s: Option<i16>) -> String {
    match s {
        None => "-".into(),
        Some(0) => "OKAY".into(),
        Some(-1) => "ERROR".into(),
        Some(-2) => "DROPPED".into(),
        Some(v) => v.to_string(),
    }
}

fn run(name: &str, vif: u32) -> Result<(), String> {
    let sc = scenarios::find(name).ok_or_else(|| format!("unknown scenario {name}"))?;
    let mut fe = Frontend::attach(vif).map_err(|e| format!("attach vif {vif}: {e}"))?;
    let mut setup = (sc.setup)(fe.backend_max_queues);
    // A control-ring scenario needs a backend that serves the ring; against one that
    // does not advertise it, the frontend connects without one (as a real frontend does)
    // and only sends the probe. The backend's key decides, nothing else: once it says 1,
    // the rows are judged.
    let skip = setup.ctrl != CtrlSetup::None && !fe.backend_has_ctrl_ring();
    if skip {
        println!(
            "XNTH-SKIP scenario={name} reason=\"backend has no feature-ctrl-ring\" ({}/{} = {})",
            fe.be,
            xen_netif::xenstore::backend_keys::FEATURE_CTRL_RING,
            fe.backend_ctrl_ring.as_deref().unwrap_or("absent")
        );
        setup.ctrl = CtrlSetup::None;
    }
    let connected = fe.connect(&setup).map_err(|e| format!("connect: {e}"))?;
    let mut outcome = match (connected, skip) {
        (true, true) => scenarios::probe_only(&mut fe).map_err(|e| format!("probe: {e}"))?,
        (true, false) => (sc.attack)(&mut fe).map_err(|e| format!("attack: {e}"))?,
        (false, _) => scenarios::Outcome::default(),
    };
    if skip {
        outcome.ctrl = Some(CtrlOutcome::skipped());
    }
    let be_state = fe.backend_state().map_or("-".into(), |s| s.to_string());
    let bad: Vec<String> = outcome.bad.iter().map(|s| status_word(*s)).collect();
    let report = format!(
        "connected={} bad={} probe={} sent={} be_state={be_state}",
        u8::from(connected),
        if bad.is_empty() {
            "none".into()
        } else {
            bad.join(",")
        },
        if outcome.probed {
            status_word(outcome.probe)
        } else {
            "none".into()
        },
        outcome.sent,
    );
    let report = match &outcome.ctrl {
        Some(c) => format!("{report} ctrl={} ctrl_items={}", c.verdict, c.items_field()),
        None => report,
    };
    println!("XNTH-RESULT scenario={name} {report}");
    // dom0 waits for this: the agent returns the output above only once the tool exits,
    // which is after the detach.
    fe.xs
        .write("data/xnt-hostile", &format!("{name} {vif} done {report}"))
        .map_err(|e| format!("data/xnt-hostile: {e}"))?;
    let last = fe
        .close_on_detach(Duration::from_secs(240))
        .map_err(|e| format!("close: {e}"))?;
    println!(
        "XNTH-CLOSED backend_state={}",
        last.map_or("gone".into(), |s| s.to_string())
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("list") => {
            for sc in scenarios::ALL {
                println!("{:<22} {:<4} {}", sc.name, sc.row, sc.what);
            }
        }
        Some("run") if args.len() >= 3 => {
            let vif = match args.iter().position(|a| a == "--vif") {
                Some(i) => args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(1),
                None => 1,
            };
            if let Err(e) = run(&args[2], vif) {
                println!("XNTH-ERROR {e}");
                std::process::exit(1);
            }
        }
        _ => {
            eprintln!("usage: xnt-hostile list | run SCENARIO [--vif N]");
            std::process::exit(2);
        }
    }
}
