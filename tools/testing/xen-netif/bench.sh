#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The deterministic benchmark (`make bench`): builds everything (cached after the first
# run), boots Xen + dom0 under QEMU with its instruction counter as the clock (-icount
# shift=1,sleep=off, single-threaded TCG: guest-visible time advances by instructions
# executed, so the figures repeat from run to run), runs scenarios/bench.sh (the four
# netback/netfront pairs, C and Rust, in one boot: TCP bulk and 64-byte UDP each way on 1
# and 4 queues, CPU cost per MB and per packet) and writes Documentation/bench/results.md
# (the table, date, commit, command) and Documentation/bench/throughput.png (gnuplot,
# installed with apt-get when missing). A benchmark, not a test: it fails only when
# something did not run.
#
# usage: bench.sh [--rounds N] [--seconds S] [--out DIR] [--no-prepare]
#        bench.sh --report SERIAL_LOG [--out DIR]   (only the files, from a kept serial log)
#   --rounds N     rounds (default XNT_BENCH_ROUNDS or 3)
#   --seconds S    seconds per iperf3 run (default XNT_BENCH_SECONDS or 3)
#   --out DIR      where results.md and throughput.png go (default Documentation/bench)
#   --no-prepare   do not (re)build; use what prepare.sh last produced
# XNT_BENCH_TIMEOUT overrides the scenario's limit (rounds x 3600 s + 1800 s of guest
# time; see Documentation/testing.md, "Benchmark"); XNT_QEMU_ACCEL and
# XNT_QEMU_EXTRA override the clock (default tcg,thread=single and -icount
# shift=1,sleep=off). The serial log, TAP and records are kept in $XNT_CACHE/bench/.
set -uo pipefail
# The command as given, for results.md (the environment that changes the run, then make's
# target or this script's path), before lib.sh sets defaults.
given=""
for v in XNT_BENCH_ROUNDS XNT_BENCH_SECONDS XNT_BENCH_TIMEOUT XNT_QEMU_ACCEL XNT_QEMU_EXTRA XNT_CACHE; do
	[ -n "${!v:-}" ] && given+="$v=$(printf '%q' "${!v}") "
done
if [ -n "${MAKELEVEL:-}" ] && [ $# -eq 0 ]; then given+="make bench"
else given+="tools/testing/xen-netif/bench.sh${*:+ $*}"; fi
source "$(dirname "$0")/lib.sh"

rounds=${XNT_BENCH_ROUNDS:-3} secs=${XNT_BENCH_SECONDS:-3} out="$XNT_TOP/Documentation/bench" prep=1 report=""
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=$2; shift ;;
	--seconds) secs=$2; shift ;;
	--out) out=$2; shift ;;
	--no-prepare) prep=0 ;;
	--report) report=$2; shift ;;
	-h | --help) sed -n '3,22p' "$0"; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
	shift
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds takes a positive number"
[[ $secs =~ ^[1-9][0-9]*$ ]] || die "--seconds takes a positive number"
accel=${XNT_QEMU_ACCEL:-tcg,thread=single}
extra=${XNT_QEMU_EXTRA:--icount shift=1,sleep=off}
limit=${XNT_BENCH_TIMEOUT:-$((rounds * 3600 + 1800))}
commit=$(git -C "$XNT_TOP" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
[ -n "$(git -C "$XNT_TOP" status --porcelain --untracked-files=no -- . ':!Documentation/bench' 2>/dev/null)" ] &&
	commit+=" (with uncommitted changes)"
t_all=$(date +%s)

# took T0: "N min S s" since T0.
took() { local s=$(($(date +%s) - $1)); printf '%d min %d s' $((s / 60)) $((s % 60)); }

# gnuplot for the plot, only here (make test does not need it): Debian's gnuplot-nox.
ensure_gnuplot() {
	command -v gnuplot >/dev/null && return 0
	local t0
	t0=$(date +%s)
	log "bench: installing gnuplot-nox (apt-get) for the plot"
	if ! DEBIAN_FRONTEND=noninteractive apt-get -q -y install --no-install-recommends gnuplot-nox >/dev/null 2>&1; then
		apt-get -q update >/dev/null 2>&1
		DEBIAN_FRONTEND=noninteractive apt-get -q -y install --no-install-recommends gnuplot-nox >/dev/null 2>&1
	fi
	if command -v gnuplot >/dev/null; then
		log "bench: gnuplot installed in $(took "$t0")"
	else
		log "bench: WARNING: gnuplot-nox could not be installed; no plot (results.md is written all the same)"
		return 1
	fi
}

# plot DATA PNG: throughput per driver pair and queue count, two panels (TCP, UDP); a pair
# without any figure in a panel is left out of it (gnuplot refuses an all-NaN column).
plot() {
	local term=png b p panel=() cmd titles=("C / C" "C / Rust" "Rust / C" "Rust / Rust")
	gnuplot -e 'set terminal' 2>&1 | grep -q pngcairo && term="pngcairo font ',10'"
	for b in 0 1; do
		cmd=""
		for p in 0 1 2 3; do
			# Block b of DATA (blocks are separated by two blank lines), fields counted
			# from the end: the label may hold spaces.
			awk -v b=$b -v p=$p '/^$/ { blank++; next } { if (blank >= 2) blk++; blank = 0 }
				!/^#/ && blk == b && $(NF - 11 + 3 * p) != "NaN" { found = 1 } END { exit !found }' "$1" || continue
			cmd+="${cmd:+, }'$1' index $b using $((2 + 3 * p)):$((3 + 3 * p)):$((4 + 3 * p))"
			[ -z "${cmd%%*xtic*}" ] || cmd+=":xtic(lab(strcol(1)))"
			cmd+=" title \"${titles[$p]}\" lc $((p + 1))"
		done
		# A panel without any figure: an empty frame saying so.
		[ -n "$cmd" ] || cmd="[0:1] [0:1] -1 notitle"
		panel[b]=$cmd
	done
	gnuplot <<GNUPLOT
set terminal $term size 1400,560
set output '$2'
set multiplot layout 1,2 title "Driver pairs (netback / netfront): median of $rounds round(s), bars min-max; QEMU $accel $extra"
set style data histograms
set style histogram errorbars gap 2 lw 1
set style fill solid 0.85 border -1
set key below horizontal
set bmargin 7
set grid ytics
set yrange [0:*]
lab(s) = s[1:strstrt(s, "|") - 1] . "\n" . s[strstrt(s, "|") + 1:]
set title "TCP bulk (1 stream on 1 queue, 4 on 4 queues)"
set ylabel "Mbit/s (receiver)"
$([[ ${panel[0]} == "[0:1]"* ]] && echo 'set label 1 "no data" at graph 0.5, 0.5 center')
plot ${panel[0]}
unset label 1
set title "UDP, 64-byte datagrams, no rate limit"
set ylabel "thousand datagrams received per second"
$([[ ${panel[1]} == "[0:1]"* ]] && echo 'set label 1 "no data" at graph 0.5, 0.5 center')
plot ${panel[1]}
unset multiplot
GNUPLOT
}

work="$XNT_CACHE/bench/$(date +%Y%m%d-%H%M%S)-$$"
mkdir -p "$work" || die "cannot create $work"
ensure_gnuplot
have_plot=$?
rc=0
if [ -n "$report" ]; then
	[ -f "$report" ] || die "no serial log $report"
	serial=$report
	# The rounds and seconds of that run, from its records.
	rounds=$(grep -a -o 'XNT-BENCH .*' "$report" | grep -o ' round=[0-9]*' | cut -d= -f2 | sort -n | tail -n 1)
	secs=$(grep -a -o 'XNT-BENCH .*' "$report" | grep -o -m 1 ' secs=[0-9]*' | cut -d= -f2)
	ran="(files made again from the serial log $report)"
	: >"$work/tap.txt"
else
	if [ $prep = 1 ]; then
		t0=$(date +%s)
		log "bench: prepare (host tools, kernel, modules, images; cached after the first run)"
		"$XNT_DIR/prepare.sh" || die "prepare.sh failed"
		log "bench: prepare done in $(took "$t0")"
	fi
	serial="$work/serial.log"
	ran="XNT_QEMU_ACCEL=$accel XNT_QEMU_EXTRA='$extra' XNT_BENCH_ROUNDS=$rounds XNT_BENCH_SECONDS=$secs"
	ran+=" tools/testing/xen-netif/run-scenario.sh --no-prepare --timeout $limit --log SERIAL.LOG"
	ran+=" tools/testing/xen-netif/scenarios/bench.sh"
	t0=$(date +%s)
	log "bench: one boot under QEMU $accel $extra: $rounds round(s) x 4 driver pairs x 2 guests x 4 runs of $secs s (limit $limit s of guest time); serial log $serial"
	XNT_QEMU_ACCEL=$accel XNT_QEMU_EXTRA=$extra XNT_BENCH_ROUNDS=$rounds XNT_BENCH_SECONDS=$secs \
		"$XNT_DIR/run-scenario.sh" --no-prepare --timeout "$limit" --log "$serial" \
		"$XNT_DIR/scenarios/bench.sh" | tee "$work/tap.txt"
	rc=${PIPESTATUS[0]}
	log "bench: the boot ended after $(took "$t0") (run-scenario.sh exit $rc)"
fi

# The records, found in the serial log as run-scenario.sh finds XNT-INFO lines.
grep -a -o 'XNT-BENCH .*' "$serial" | tr -d '\r' >"$work/records.txt"
nrec=$(grep -c ' ok=1$' "$work/records.txt")
[ "$nrec" -gt 0 ] || die "no benchmark record in $serial (serial log and TAP in $work)"
"$XNT_DIR/scenarios/bench-report.sh" --markdown "$work/records.txt" >"$work/table.md"
"$XNT_DIR/scenarios/bench-report.sh" --plot "$work/records.txt" >"$work/plot.dat"
mkdir -p "$out" || die "cannot create $out"
if [ $have_plot = 0 ]; then
	if plot "$work/plot.dat" "$out/throughput.png" 2>"$work/gnuplot.log"; then
		log "bench: wrote $out/throughput.png"
	else
		sed 's/^/  /' "$work/gnuplot.log" >&2
		log "bench: WARNING: gnuplot failed; no plot"
		have_plot=1
	fi
fi

icount_note="QEMU ran with \`-accel $accel $extra\`."
if [[ $extra == *icount* ]]; then
	icount_note+=" These are instruction-count figures, not wall-clock speed: with \`-icount\` the
guests' clock advances by the instructions executed, so every instruction of Xen, dom0
and the guest costs the same time whatever it does (a cache miss, a TLB flush or a
hypercall costs what its instructions cost), and the host's speed and load do not enter.
The figures compare the drivers' instruction cost per byte and per packet, repeatably; they
do not predict throughput on hardware."
else
	icount_note+=" Without \`-icount\` these are wall-clock figures of an emulated machine,
which move several-fold from run to run: do not compare them."
fi
{
	echo "# Benchmark: netback/netfront driver pairs"
	echo
	echo "Made by \`make bench\` (\`tools/testing/xen-netif/bench.sh\`, scenario"
	echo "\`scenarios/bench.sh\`); see Documentation/testing.md, \"Benchmark\"."
	echo
	echo "$icount_note"
	echo
	echo "* date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "* commit: $commit"
	echo "* command: \`$given\`, which ran \`$ran\`"
	echo "* $rounds round(s), iperf3 runs of $secs s of guest time; Linux $KERNEL_PKG_VERSION (Debian's linux-source; dom0 and guests), Xen $XEN_PKG_VERSION, $(qemu-system-x86_64 --version 2>/dev/null | head -n 1)"
	[ -z "$report" ] && echo "* wall-clock time (prepare and the boot): $(took "$t_all")"
	echo "* records: $nrec runs that moved data"
	echo
	echo "Each round loads one netback (max_queues 4), boots one guest at a time per netfront"
	echo "(C, Rust) and queue count (1, 4), runs the four workloads on it (iperf3, 1 stream on 1"
	echo "queue, 4 on 4; UDP: 64-byte datagrams, no rate limit) and destroys it, then does the"
	echo "same with the other netback; the order of the netbacks and of the netfronts alternates"
	echo "per round. Throughput is what iperf3's receiver counted (Mbit/s for TCP, thousands of"
	echo "datagrams received per second for UDP), min / median / max over the rounds, spread ="
	echo "(max - min) / median. **R/C netback**: this pair's median over the pair with the C"
	echo "netback and the same netfront; **R/C netfront**: over the pair with the C netfront and"
	echo "the same netback; above 1, the Rust driver moves more in the same guest time. CPU cost"
	echo "(medians): non-idle CPU time (user, nice, system, irq, softirq; no idle, iowait or"
	echo "steal) of dom0 and of the guest from /proc/stat before and after each run, per MB"
	echo "(10^6 bytes) of TCP payload, per vif packet (both directions, from the vif's"
	echo "statistics in dom0) for UDP. Copy hypercalls per packet: the growth of the netback's"
	echo "\`*copy_hypercalls\` counters (\`ethtool -S\`, all queues) per vif packet, where it has them."
	echo
	[ $have_plot = 0 ] && { echo "![throughput per driver pair and queue count](throughput.png)"; echo; }
	cat "$work/table.md"
	if grep -q '^not ok' "$work/tap.txt"; then
		echo
		echo "Problems reported by the run:"
		echo
		grep '^not ok' "$work/tap.txt" | sed 's/^/    /'
	fi
	echo
	echo "Records (one per run; keys in \`scenarios/bench-report.sh\`):"
	echo
	sed 's/^/    /' "$work/records.txt"
} >"$out/results.md"
log "bench: wrote $out/results.md ($nrec runs; serial log, TAP and records in $work)"
"$XNT_DIR/scenarios/bench-report.sh" --text "$work/records.txt"
log "bench: finished in $(took "$t_all")"
exit "$rc"
