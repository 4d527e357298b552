// SPDX-License-Identifier: GPL-2.0

//! `xnt-hostile-be`: a netif backend in dom0 user space, correct or deliberately
//! misbehaving, for testing frontends.
//!
//! It plays the backend of one vif of a guest by hand, where no kernel netback claims the
//! vif's backend directory (none loaded, or dom0's `xen-backend` bus with driver
//! autoprobing off): it offers its features and walks the backend states (InitWait,
//! Connected, Closing, Closed) in XenStore, maps the frontend's rings and buffers through
//! `/dev/xen/gntdev`, binds the frontend's event channels through `/dev/xen/evtchn`, and
//! answers the guest as one fake host (an IPv4 address and a MAC): ARP requests for that
//! address and ICMP echo requests to it get their replies, written into the buffers the
//! frontend posted. Everything else the guest sends is consumed and answered `OKAY`.
//! A mode (`--mode`) turns one answer into a bad one, from the frontend table of the
//! adversarial checklist in the netif reference (section 5.3).
//!
//! ```text
//! xnt-hostile-be list
//! xnt-hostile-be run --domid D --devid N [--mode MODE] [--ip A.B.C.D] [--mac MAC]
//!                    [--max-queues N] [--timeout SECS]
//! ```
//!
//! It logs one `XNTB-...` line per event on stdout (connection, ARP and echo answers, the
//! bad answer given, stale data found in a posted RX buffer) and ends with an
//! `XNTB-SUMMARY` line once the toolstack has removed the vif (the frontend closed while
//! `online` was 0, or the directories went) or the timeout passed.

#![forbid(unsafe_code)]

mod backend;
mod modes;
mod packets;

use std::process::ExitCode;
use std::time::Duration;

use backend::{ip_str, mac_from_str, Backend, Config};
use xen_user::GrantMapper;

/// The fake host's default address: outside the harness's 10.99.0.0/24.
const DEFAULT_IP: [u8; 4] = [10, 98, 0, 1];
/// The fake host's default MAC (locally administered).
const DEFAULT_MAC: [u8; 6] = [0x02, 0x58, 0x4e, 0x54, 0x00, 0x01];

fn usage() -> ExitCode {
    eprintln!(
        "usage: xnt-hostile-be list\n       xnt-hostile-be run --domid D --devid N [--mode MODE] [--ip A.B.C.D] [--mac MAC] [--max-queues N] [--timeout SECS]"
    );
    ExitCode::from(2)
}

fn parse_ip(s: &str) -> Option<[u8; 4]> {
    let parts: Vec<u8> = s
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    parts.try_into().ok()
}

fn run(args: &[String]) -> Result<(), String> {
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(String::as_str)
    };
    let num = |name: &str| -> Result<Option<u64>, String> {
        opt(name)
            .map(|v| v.parse().map_err(|_| format!("{name} {v}: not a number")))
            .transpose()
    };
    let domid = num("--domid")?.ok_or("--domid missing")?;
    let devid = num("--devid")?.ok_or("--devid missing")?;
    let mode_name = opt("--mode").unwrap_or("correct");
    let mode = modes::find(mode_name).ok_or_else(|| format!("unknown mode {mode_name}"))?;
    let ip = match opt("--ip") {
        Some(v) => parse_ip(v).ok_or_else(|| format!("--ip {v}: not an IPv4 address"))?,
        None => DEFAULT_IP,
    };
    let mac = match opt("--mac") {
        Some(v) => mac_from_str(v).ok_or_else(|| format!("--mac {v}: not a MAC address"))?,
        None => DEFAULT_MAC,
    };
    let cfg = Config {
        domid: u16::try_from(domid).map_err(|_| "--domid out of range")?,
        devid: u32::try_from(devid).map_err(|_| "--devid out of range")?,
        ip,
        mac,
        mode,
        max_queues: num("--max-queues")?
            .map(|n| u32::try_from(n).map_err(|_| "--max-queues out of range"))
            .transpose()?,
        timeout: Duration::from_secs(num("--timeout")?.unwrap_or(600)),
    };
    println!(
        "XNTB-START mode={} row={} expect={} domid={} devid={} ip={} mac={} what={:?}",
        mode.name,
        mode.row,
        mode.expect,
        cfg.domid,
        cfg.devid,
        ip_str(ip),
        packets::mac_str(&mac),
        mode.what
    );
    let mapper = GrantMapper::open().map_err(|e| format!("/dev/xen/gntdev: {e}"))?;
    let mut be = Backend::new(cfg, &mapper).map_err(|e| format!("setup: {e}"))?;
    let res = be.run();
    println!("XNTB-SUMMARY {}", be.summary());
    res.map_err(|e| format!("run: {e}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("list") => {
            for m in modes::ALL {
                println!("{:<20} {:<4} {:<14} {}", m.name, m.row, m.expect, m.what);
            }
            ExitCode::SUCCESS
        }
        Some("run") => match run(&args[2..]) {
            Ok(()) => {
                println!("XNTB-END ok");
                ExitCode::SUCCESS
            }
            Err(e) => {
                println!("XNTB-ERROR {e}");
                ExitCode::FAILURE
            }
        },
        _ => usage(),
    }
}
