// SPDX-License-Identifier: GPL-2.0

//! Fuzz target `xenstore_values`: the parsers of XenStore values a peer or the toolstack
//! writes, `xenstore::{parse_unsigned, parse_feature, parse_mac, parse_rate}`.
//!
//! Input: the raw value, any bytes (XenStore values may carry a trailing NUL or newline).
//!
//! Each parser is checked against a plain restatement of its rule built on the standard
//! library (the value trimmed of trailing NUL/whitespace and leading blanks), and its
//! results against re-parsing their canonical text:
//! * `parse_unsigned` is `kstrtouint(.., 0)`: decimal, `0x`/`0X` hex, `0`-prefixed octal,
//!   no sign, `None` on overflow; its result parses back from decimal, hex and octal;
//! * `parse_feature` is "non-zero number", with the default when absent or malformed;
//! * `parse_mac` takes exactly `xx:xx:xx:xx:xx:xx` in hex of either case;
//! * `parse_rate` takes `<bytes>,<usec>`, two non-empty unsigned decimal `u64`s.

#![no_main]

use libfuzzer_sys::fuzz_target;
use xen_netif::xenstore::{parse_feature, parse_mac, parse_rate, parse_unsigned, Rate};

fuzz_target!(|value: &[u8]| {
    let t = trim(value);

    let n = parse_unsigned(value);
    assert_eq!(n, unsigned_model(t), "parse_unsigned({value:?})");
    if let Some(n) = n {
        for text in [
            format!("{n}"),
            format!("{n:#x}"),
            format!("{n:#X}"),
            format!("0{n:o}"),
        ] {
            assert_eq!(parse_unsigned(text.as_bytes()), Some(n), "{text}");
        }
    }
    for default in [false, true] {
        assert_eq!(
            parse_feature(Some(value), default),
            n.map_or(default, |n| n != 0)
        );
        assert_eq!(parse_feature(None, default), default);
    }

    let mac = parse_mac(value);
    assert_eq!(mac, mac_model(t), "parse_mac({value:?})");
    if let Some(m) = mac {
        let text = m.map(|b| format!("{b:02x}")).join(":");
        assert_eq!(parse_mac(text.as_bytes()), mac);
        assert_eq!(parse_mac(text.to_uppercase().as_bytes()), mac);
    }

    let rate = parse_rate(value);
    assert_eq!(rate, rate_model(t), "parse_rate({value:?})");
    if let Some(Rate { bytes, usec }) = rate {
        assert_eq!(parse_rate(format!("{bytes},{usec}\0").as_bytes()), rate);
    }
});

/// Trailing NUL, newline, space and tab, then leading space and tab, removed.
fn trim(v: &[u8]) -> &[u8] {
    let v = match v
        .iter()
        .rposition(|c| !matches!(c, 0 | b'\n' | b' ' | b'\t'))
    {
        Some(end) => &v[..=end],
        None => &[],
    };
    let start = v.iter().position(|c| !matches!(c, b' ' | b'\t'));
    &v[start.unwrap_or(v.len())..]
}

/// Digits only, for the radix: `from_str_radix` would also take a leading `+`.
fn digits(s: &[u8], radix: u32) -> Option<&str> {
    let s = core::str::from_utf8(s).ok()?;
    (!s.is_empty() && s.chars().all(|c| c.is_digit(radix))).then_some(s)
}

fn unsigned_model(t: &[u8]) -> Option<u32> {
    let (s, radix) = if let Some(hex) = t.strip_prefix(b"0x").or(t.strip_prefix(b"0X")) {
        (hex, 16)
    } else if t.len() > 1 && t[0] == b'0' {
        (&t[1..], 8)
    } else {
        (t, 10)
    };
    u32::from_str_radix(digits(s, radix)?, radix).ok()
}

fn mac_model(t: &[u8]) -> Option<[u8; 6]> {
    let s = core::str::from_utf8(t).ok()?;
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
        return None;
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(parts) {
        *b = u8::from_str_radix(digits(p.as_bytes(), 16)?, 16).ok()?;
    }
    Some(mac)
}

fn rate_model(t: &[u8]) -> Option<Rate> {
    let comma = t.iter().position(|&c| c == b',')?;
    let num = |s: &[u8]| digits(s, 10)?.parse::<u64>().ok();
    Some(Rate {
        bytes: num(&t[..comma])?,
        usec: num(&t[comma + 1..])?,
    })
}
