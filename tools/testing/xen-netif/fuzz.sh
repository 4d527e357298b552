#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Coverage-guided fuzzing (cargo fuzz, libFuzzer) of the parsers of peer-written memory in
# common/: builds every target of common/fuzz/, runs each one for SECONDS, one process,
# and prints one line per target:
#   ok TARGET SECONDS s, N runs, cov C, corpus K, no crash
#   not-ok TARGET SECONDS s, crashed after N runs   (then '#' lines: message, artifact,
#                                                     the command that reproduces it)
# Exits non-zero when a target crashed or could not run.
#
# usage: fuzz.sh [SECONDS_PER_TARGET]   (default 60)
#   XNT_FUZZ_TARGETS="tx_packet rx_packet" fuzz.sh 3600   fuzzes only those targets
#
# Build outputs, corpora (they grow run after run) and crash artifacts live under
# $XNT_CACHE/fuzz.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

secs=${1:-60}
[[ $secs =~ ^[1-9][0-9]*$ ]] || die "usage: fuzz.sh [SECONDS_PER_TARGET]"
fuzz_tools

fuzz_dir="$XNT_TOP/common/fuzz"
work="$XNT_CACHE/fuzz"
export CARGO_TARGET_DIR="$work/target"
# common/ forbids unsafe code: no sanitizer, which would only slow the runs down; overflow
# checks and debug assertions stay on (cargo fuzz's default).
fuzz=(cargo "+$FUZZ_TOOLCHAIN" fuzz)
opts=(--fuzz-dir "$fuzz_dir" --sanitizer none)
mkdir -p "$work/logs"

log "fuzz: building the targets of common/fuzz with $FUZZ_TOOLCHAIN"
"${fuzz[@]}" build "${opts[@]}" >"$work/logs/build.log" 2>&1 || {
	tail -n 30 "$work/logs/build.log" >&2
	die "cargo fuzz build failed (log: $work/logs/build.log)"
}
targets=${XNT_FUZZ_TARGETS:-$("${fuzz[@]}" list --fuzz-dir "$fuzz_dir")}

failed=0
for t in $targets; do
	corpus="$work/corpus/$t" artifacts="$work/artifacts/$t" out="$work/logs/$t.log"
	mkdir -p "$corpus" "$artifacts"
	log "fuzz: $t for $secs s"
	rc=0
	"${fuzz[@]}" run "${opts[@]}" "$t" "$corpus" -- \
		-max_total_time="$secs" -max_len=4096 -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$artifacts/" >"$out" 2>&1 || rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -n 1)
	cov=$(grep -oE 'cov: [0-9]+' "$out" | tail -n 1 | cut -d' ' -f2)
	size=$(find "$corpus" -type f | wc -l)
	artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$out" | tail -n 1)
	if [ $rc -eq 0 ] && [ -z "$artifact" ] && [ -n "$runs" ]; then
		echo "ok $t $secs s, $runs runs, cov ${cov:-?}, corpus $size, no crash"
		continue
	fi
	failed=1
	if [ -n "$artifact" ]; then
		echo "not-ok $t $secs s, crashed after ${runs:-?} runs"
		{ grep -m 1 -A 1 'panicked at' "$out" || grep -m 1 'ERROR: libFuzzer' "$out"; } | sed 's/^/#   /'
		echo "#   artifact: $artifact"
		echo "#   reproduce: CARGO_TARGET_DIR=$CARGO_TARGET_DIR ${fuzz[*]} run ${opts[*]} $t $artifact"
	else
		echo "not-ok $t $secs s, did not run to the end (exit $rc)"
		tail -n 15 "$out" | sed 's/^/#   /'
	fi
	echo "#   log: $out"
done
exit $failed
