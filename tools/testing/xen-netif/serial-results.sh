#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Turns the serial log of one boot into verdicts (used by run-scenario.sh; tested on
# made-up logs by harness-selftest.sh).
#
# usage: serial-results.sh PLAN SERIAL START CAUSE
#   PLAN    the plan file (lines "LABEL|TIMEOUT|VARS|SCRIPT"), START the first entry this
#           boot ran, CAUSE what the host knows of how QEMU ended ("" if it powered off).
# Prints one line per result, tab-separated: VERDICT SECS IDX NAME[ # REASON]
# (VERDICT ok, not-ok or skip; IDX the plan entry, or - for the boot itself), then
#   "TIME IDX SCENARIO_SECS HEALTH_SECS" per scenario that ended, and last
#   "NEXT K": the entry a new boot should start at, or "NEXT -1" when nothing is left.
#
# A scenario passes only if its process reached its last line (XNT-REACHED-END), printed
# at least one result (exactly its `plan N` count if it declared one), ended before its
# timeout, and dom0 survived it and the health checks after it.
set -uo pipefail
plan=$1 serial=$2 start=$3 cause=${4:-}

# Only what dom0 wrote: from "XNT-" to the end of the line, carriage returns removed.
tr -d '\r' <"$serial" | grep -a -o 'XNT-[A-Z-]*\( .*\)\?$' |
	awk -F'\t' -v start="$start" -v cause="$cause" -v planfile="$plan" '
	BEGIN {
		n = 0
		while ((getline line < planfile) > 0) {
			if (line == "") continue
			split(line, f, "|"); label[n] = f[1]; limit[n] = f[2]; n++
		}
		cur = -1; last = -1; alldone = 0; booted = 0; setup_failed = ""
	}
	function emit(verdict, secs, idx, name) { printf "%s\t%s\t%s\t%s\n", verdict, secs, idx, name }
	{
		split($0, w, " "); tag = w[1]
		if (tag == "XNT-BOOTED") { booted = 1; next }
		if (tag == "XNT-SETUP-FAILED") { setup_failed = substr($0, length(tag) + 2); next }
		if (tag == "XNT-ALL-DONE") { alldone = 1; next }
		if (tag == "XNT-BEGIN") {
			cur = w[2] + 0; last = cur; begun[cur] = 1; phase[cur] = "run"; nres[cur] = 0; next
		}
		if (cur < 0) next
		if (tag == "XNT-PLAN") { planned[cur] = w[2] + 0; next }
		if (tag == "XNT-REACHED-END") { reached[cur] = 1; next }
		if (tag == "XNT-END") {
			ended[cur] = 1; phase[cur] = "health"
			for (i = 3; i <= 4; i++) { split(w[i], kv, "="); endv[cur, kv[1]] = kv[2] }
			next
		}
		if (tag == "XNT-CLOSED") { closed[cur] = 1; split(w[3], kv, "="); hsecs[cur] = kv[2]; next }
		if (tag == "XNT-RESULT") {
			verdict = w[2]; secs = w[3]
			rest = $0; sub(/^XNT-RESULT [^ ]+ [^ ]+ /, "", rest)
			if (phase[cur] == "run") nres[cur]++
			emit(verdict, secs, cur, rest)
		}
	}
	END {
		if (!booted) {
			emit("not-ok", 0, "-", "dom0 boots # " (cause != "" ? cause : "no XNT-BOOTED line"))
			print "NEXT -1"; exit
		}
		if (setup_failed != "") {
			emit("not-ok", 0, "-", "dom0 setup (Xen daemons, bridge) # " setup_failed)
			print "NEXT -1"; exit
		}
		next_start = -1
		for (i = start; i < n; i++) {
			if (!(i in begun)) {
				# dom0 died before this entry began: the death was charged to an earlier one.
				if (next_start < 0) next_start = i
				break
			}
			if (!(i in ended)) {
				emit("not-ok", 0, i, "dom0 survived the scenario # dom0 died or hung during it (" (cause != "" ? cause : "no XNT-END line") ")")
				if (i + 1 < n) next_start = i + 1
				break
			}
			rc = endv[i, "rc"]; secs = endv[i, "secs"]
			print "TIME\t" i "\t" secs "\t" ((i in hsecs) ? hsecs[i] : "")
			if (rc == 124 || rc == 137)
				emit("not-ok", 0, i, "finished within its timeout # killed after " limit[i] " s")
			else if (!(i in reached))
				emit("not-ok", 0, i, "ran to its last line # stopped halfway (exit status " rc ")")
			if (i in planned) {
				if (nres[i] != planned[i])
					emit("not-ok", 0, i, "printed the " planned[i] " results it planned # printed " nres[i])
			} else if (nres[i] == 0)
				emit("not-ok", 0, i, "printed results # none")
			if (!(i in closed)) {
				emit("not-ok", 0, i, "dom0 survived the health checks after the scenario # " (cause != "" ? cause : "no XNT-CLOSED line"))
				if (i + 1 < n) next_start = i + 1
				break
			}
		}
		if (alldone) next_start = -1
		print "NEXT " next_start
	}'
