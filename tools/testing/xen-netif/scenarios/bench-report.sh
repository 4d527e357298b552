#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The tables of the deterministic benchmark (scenarios/bench.sh), from its records: sourced
# by that scenario in dom0 (the tables of the serial log) and run by the host's bench.sh
# (Documentation/bench/results.md and the plot's data), so both show the same figures.
#
# usage: bench-report.sh [--text | --markdown | --plot] FILE
#        (or, sourced: bench_report [--text | --markdown | --plot] FILE)
# FILE holds records, one a line, "[XNT-BENCH ]KEY=VALUE ..." (any other line is skipped):
#   round    the round (1..XNT_BENCH_ROUNDS)
#   be fe    the netback in dom0 and the netfront in the guest: c or rust
#   q        the guest's queues (1 or 4; the netback offers 4)
#   wl       tcp-tx, tcp-rx (TCP bulk guest -> dom0, dom0 -> guest: q streams), udp-tx,
#            udp-rx (UDP datagrams of len bytes, q streams, no rate limit)
#   secs     iperf3's -t; len the UDP payload size ("-" for TCP)
#   bytes    what iperf3's receiver counted; rsecs the receiver's interval
#   vrx vtx  the growth of the vif's rx_packets (from the guest) and tx_packets (to it)
#   d0ms gms CPU time (ms, all CPUs, user + nice + system + irq + softirq: no idle, iowait
#            or steal) spent in dom0 and in the guest during the run, from /proc/stat
#   hc       the growth of the netback's *copy_hypercalls* counters (ethtool -S, summed
#            over queues and directions), "-" when it has none
#   ok       1 when the receiver counted at least 64 KiB (else the record is left out)
# Output: one row per workload, queue count and driver pair (C/C, C/Rust, Rust/C,
# Rust/Rust, netback first): throughput min/median/max over the rounds (Mbit/s for TCP,
# thousands of datagrams received per second for UDP) and its spread ((max - min) /
# median); the Rust/C ratios of the median throughput, "R/C be": this pair over the same
# netfront with the C netback, "R/C fe": over the same netback with the C netfront; the
# median CPU cost in dom0 and in the guest (ms per MB of TCP payload, 1 MB = 10^6 bytes;
# microseconds per vif packet, both directions, for UDP); the netback's copy hypercalls per
# vif packet; the rounds counted. --plot prints gnuplot's data instead: two blocks (TCP,
# UDP) of rows "DIRECTION|N queues" then median, min, max for each pair.

bench_report() {
	local mode=text
	case "${1:-}" in
	--text | --markdown | --plot) mode=${1#--}; shift ;;
	esac
	awk -v mode="$mode" '
	function sort(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t } }
	function med(a, n) { sort(a, n); return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
	# cell_stats KEY: fills lo, md, hi (throughput), d0, g, hc (medians) of a cell; 0 rounds: n 0
	function cell_stats(k,   i, a) {
		n = cnt[k]; lo = md = hi = d0 = g = hc = ""
		if (n == 0) return
		for (i = 1; i <= n; i++) a[i] = thr[k, i]
		md = med(a, n); lo = a[1]; hi = a[n]
		for (i = 1; i <= n; i++) a[i] = c0[k, i]; d0 = med(a, n)
		for (i = 1; i <= n; i++) a[i] = cg[k, i]; g = med(a, n)
		if (nhc[k] > 0) { for (i = 1; i <= nhc[k]; i++) a[i] = hcp[k, i]; hc = med(a, nhc[k]) }
	}
	function median_thr(k,   i, a) {
		if (cnt[k] == 0) return ""
		for (i = 1; i <= cnt[k]; i++) a[i] = thr[k, i]
		return med(a, cnt[k])
	}
	function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "-" : sprintf("%.3f", a / b) }
	function num(v, f) { return v == "" ? "-" : sprintf(f, v) }
	function name(d) { return d == "rust" ? "Rust" : "C" }
	BEGIN {
		nw = split("tcp-tx tcp-rx udp-tx udp-rx", wls, " ")
		wname["tcp-tx"] = "TCP guest->dom0"; wname["tcp-rx"] = "TCP dom0->guest"
		wname["udp-tx"] = "UDP guest->dom0"; wname["udp-rx"] = "UDP dom0->guest"
		np = split("c:c c:rust rust:c rust:rust", pairs, " ")
		nq = 0
	}
	{
		sub(/\r$/, ""); sub(/^.*XNT-BENCH /, "")
		delete r
		for (i = 1; i <= NF; i++) { eq = index($i, "="); if (eq > 1) r[substr($i, 1, eq - 1)] = substr($i, eq + 1) }
		bad = 0
		split("round be fe q wl secs len bytes rsecs vrx vtx d0ms gms hc ok", need, " ")
		for (i in need) if (!(need[i] in r)) bad = 1
		if (bad || r["ok"] != 1 || r["rsecs"] <= 0 || r["bytes"] <= 0 || !(r["wl"] in wname)) next
		k = r["wl"] SUBSEP r["q"] SUBSEP r["be"] SUBSEP r["fe"]
		if (!(r["q"] in seenq)) { seenq[r["q"]] = 1; qs[++nq] = r["q"] + 0 }
		n = ++cnt[k]
		pk = r["vrx"] + r["vtx"]
		if (r["wl"] ~ /^tcp/) {
			thr[k, n] = r["bytes"] * 8 / r["rsecs"] / 1e6
			c0[k, n] = r["d0ms"] / (r["bytes"] / 1e6); cg[k, n] = r["gms"] / (r["bytes"] / 1e6)
		} else {
			thr[k, n] = r["bytes"] / r["len"] / r["rsecs"] / 1000
			c0[k, n] = pk > 0 ? r["d0ms"] * 1000 / pk : 0; cg[k, n] = pk > 0 ? r["gms"] * 1000 / pk : 0
		}
		if (r["hc"] != "-" && pk > 0) hcp[k, ++nhc[k]] = r["hc"] / pk
	}
	END {
		sort(qs, nq)
		if (mode == "plot") {
			for (t = 0; t < 2; t++) {
				if (t) printf "\n\n"
				printf "# %s: label, then median min max per pair (%s)\n", t ? "UDP kpkt/s" : "TCP Mbit/s", "C/C C/Rust Rust/C Rust/Rust"
				for (w = 1; w <= nw; w++) {
					wl = wls[w]
					if ((wl ~ /^udp/) != t) continue
					for (j = 1; j <= nq; j++) {
						line = sprintf("\"%s|%d queue%s\"", substr(wname[wl], 5), qs[j], qs[j] == 1 ? "" : "s")
						for (p = 1; p <= np; p++) {
							split(pairs[p], d, ":")
							cell_stats(wl SUBSEP qs[j] SUBSEP d[1] SUBSEP d[2])
							line = line (n ? sprintf(" %.3f %.3f %.3f", md, lo, hi) : " NaN NaN NaN")
						}
						print line
					}
				}
			}
			exit
		}
		if (mode == "markdown") {
			print "| workload | queues | netback | netfront | min | median | max | unit | spread | R/C netback | R/C netfront | dom0 CPU | guest CPU | cost unit | copy hypercalls/pkt | rounds |"
			print "|---|--:|---|---|--:|--:|--:|---|--:|--:|--:|--:|--:|---|--:|--:|"
			fmt = "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n"
		} else {
			fmt = "%-15s %2s %-4s %-4s %9s %9s %9s %-6s %6s %6s %6s %8s %8s %-6s %6s %2s\n"
			printf fmt, "workload", "q", "be", "fe", "min", "median", "max", "unit", "spread", "R/C be", "R/C fe", "dom0", "guest", "cost", "hc/pkt", "n"
		}
		for (w = 1; w <= nw; w++) {
			wl = wls[w]
			unit = wl ~ /^tcp/ ? "Mbit/s" : "kpkt/s"; cunit = wl ~ /^tcp/ ? "ms/MB" : "us/pkt"
			for (j = 1; j <= nq; j++) {
				q = qs[j]
				for (p = 1; p <= np; p++) {
					split(pairs[p], d, ":")
					k = wl SUBSEP q SUBSEP d[1] SUBSEP d[2]
					cell_stats(k)
					rb = d[1] == "rust" ? ratio(md, median_thr(wl SUBSEP q SUBSEP "c" SUBSEP d[2])) : "-"
					rf = d[2] == "rust" ? ratio(md, median_thr(wl SUBSEP q SUBSEP d[1] SUBSEP "c")) : "-"
					sp = (n && md > 0) ? sprintf("%.1f%%", (hi - lo) * 100 / md) : "-"
					f = wl ~ /^tcp/ ? "%.1f" : "%.2f"
					printf fmt, wname[wl], q, name(d[1]), name(d[2]), num(lo, f), num(md, f), num(hi, f), unit, sp,
						rb, rf, num(d0, "%.2f"), num(g, "%.2f"), cunit, num(hc, "%.3f"), n + 0
				}
			}
		}
	}' "$@"
}

# bench_receiver OUTPUT: "BYTES SECONDS" that iperf3's receiver counted, from the
# client's JSON output (-J: end.sum_received, exact where the text output rounds to three
# digits); "0 0" when there is none. Other lines around the JSON are ignored.
bench_receiver() {
	awk '
		/"sum_received"[[:space:]]*:/ { in_r = 1; next }
		in_r && /^[[:space:]]*}/ { in_r = 0 }
		in_r && /"(bytes|seconds)"[[:space:]]*:/ {
			k = $0; sub(/^[^"]*"/, "", k); sub(/".*/, "", k)
			v = $0; sub(/^[^:]*:[[:space:]]*/, "", v); sub(/[,[:space:]]*$/, "", v)
			if (!(k in got)) { got[k] = v + 0 }
		}
		END { printf "%.0f %.6f\n", got["bytes"], got["seconds"] }' <<<"$1"
}

# Run as a program (the host's bench.sh), not sourced (the scenario in dom0).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	bench_report "$@"
fi
