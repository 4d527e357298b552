#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The whole test suite: host unit tests, harness self-tests, fuzzing, one module build
# (clippy and warnings), and every Xen-in-QEMU scenario of plans/suite.txt in one VM boot.
# Prints TAP (each line with the seconds its step took) and a time table, then
# "N passed, N failed"; exits non-zero on any failure.
#
# usage: run_tests.sh [--quick | --host]
#   --host    host-side checks only (no kernel, no VM)
#   --quick   host checks without fuzzing, the module build, and one boot running
#             plans/quick.txt (one scenario per capability): the inner loop
set -uo pipefail
source "$(dirname "$0")/lib.sh"

mode=full
case "${1:-}" in
--quick) mode=quick ;;
--host) mode=host ;;
"") ;;
*) die "usage: run_tests.sh [--quick | --host]" ;;
esac
n=0 passed=0 failed=0
# This run's own results directory: nothing from an earlier run can be reported.
results="$XNT_CACHE/results/$(date +%Y%m%d-%H%M%S)-$$"
mkdir -p "$results" || die "cannot create $results"
ln -sfn "$results" "$XNT_CACHE/results/latest"
find "$XNT_CACHE/results" -mindepth 1 -maxdepth 1 -type d -mtime +7 -exec rm -rf {} + 2>/dev/null
suite_t0=$(date +%s)
step_t0=$suite_t0
timetable="$results/times.txt"
: >"$timetable"

tap() { # tap ok|not-ok|skip NAME [REASON]: the step's seconds since the previous line
	local now dt
	now=$(date +%s)
	dt=$((now - step_t0))
	step_t0=$now
	n=$((n + 1))
	case "$1" in
	ok) passed=$((passed + 1)); echo "ok $n - $2 ($dt s)" ;;
	skip) echo "ok $n - $2 ($dt s) # SKIP ${3:-}" ;;
	*) failed=$((failed + 1)); echo "not ok $n - $2 ($dt s)${3:+ # $3}" ;;
	esac
}
phase() { # phase NAME START_EPOCH: one line of the time table
	printf '%-58s %6d\n' "$1" "$(($(date +%s) - $2))" >>"$timetable"
}

finish() {
	echo "1..$n"
	echo "# time table (seconds):"
	sed 's/^/#   /' "$timetable"
	printf '#   %-58s %6d\n' "total" "$(($(date +%s) - suite_t0))"
	log "suite finished in $(($(date +%s) - suite_t0)) s; results in $results"
	echo "$passed passed, $failed failed"
	[ $failed -eq 0 ]
	exit $?
}

# Host-side tests.
t=$(date +%s)
log "host: cargo test of common/"
if cargo test -q --manifest-path "$XNT_TOP/common/Cargo.toml" >"$results/cargo-test.log" 2>&1; then
	tap ok "host: cargo test of common/ ($(grep -oE '[0-9]+ passed' "$results/cargo-test.log" | head -n1))"
else
	tail -n 30 "$results/cargo-test.log" | sed 's/^/# /'
	tap not-ok "host: cargo test of common/"
fi
if cargo clippy -q --manifest-path "$XNT_TOP/common/Cargo.toml" --all-targets -- -D warnings >"$results/cargo-clippy.log" 2>&1; then
	tap ok "host: clippy clean on common/"
else
	tail -n 30 "$results/cargo-clippy.log" | sed 's/^/# /'
	tap not-ok "host: clippy clean on common/"
fi
if (for m in "$XNT_TOP/common/user" "$XNT_DIR/hostile" "$XNT_DIR/rxpeek" "$XNT_DIR/hostile-backend"; do
	CARGO_TARGET_DIR="$XNT_CACHE/hostile-host-target" cargo clippy -q --manifest-path "$m/Cargo.toml" --all-targets -- -D warnings || exit 1
done && for m in "$XNT_DIR/hostile" "$XNT_DIR/rxpeek" "$XNT_DIR/hostile-backend"; do
	CARGO_TARGET_DIR="$XNT_CACHE/hostile-host-target" cargo test -q --manifest-path "$m/Cargo.toml" || exit 1
done) >"$results/hostile-clippy.log" 2>&1; then
	tap ok "host: xnt-hostile, xnt-rxpeek, xnt-hostile-be and common/user build, clippy clean, their tests pass"
else
	tail -n 30 "$results/hostile-clippy.log" | sed 's/^/# /'
	tap not-ok "host: xnt-hostile, xnt-rxpeek, xnt-hostile-be and common/user build, clippy clean, their tests pass"
fi
unformatted=$(cd "$XNT_TOP" && git ls-files --cached --others --exclude-standard '*.rs' | xargs rustfmt --edition 2021 --check -l 2>&1)
if [ -z "$unformatted" ]; then tap ok "host: rustfmt clean"; else
	echo "$unformatted" | sed 's/^/# /'
	tap not-ok "host: rustfmt clean"
fi
# selftest_taps [ARGS]: harness-selftest.sh's checks as TAP lines.
selftest_taps() {
	local line
	while IFS= read -r line; do
		case "$line" in
		'ok '* | 'not-ok '*) tap "${line%% *}" "harness: ${line#* }" ;;
		'exit 0') ;;
		'exit '*) tap not-ok "harness: harness-selftest.sh $* ran to its end" "$line" ;;
		*) echo "# $line" ;;
		esac
	done < <("$XNT_DIR/harness-selftest.sh" "$@" 2>&1; echo "exit $?")
}
# The harness's own verdict logic, on made-up serial logs and a stale results file.
selftest_taps
phase "host checks (cargo test, clippy, rustfmt, harness)" "$t"
[ $mode = host ] && finish

# Coverage-guided fuzzing of the parsers of peer-written memory in common/ (fuzz.sh), a
# short run: the corpora are kept in the cache and grow from run to run; longer runs are
# `fuzz.sh SECONDS` (Documentation/testing.md). XNT_FUZZ_SECONDS overrides the 20 s.
if [ $mode = full ]; then
	t=$(date +%s)
	fuzz_secs=${XNT_FUZZ_SECONDS:-20}
	log "host: fuzzing common/, $fuzz_secs s per target"
	"$XNT_DIR/fuzz.sh" "$fuzz_secs" >"$results/fuzz.txt" 2>"$results/fuzz.log"
	fuzz_rc=$?
	while IFS= read -r line; do
		case "$line" in
		'ok '* | 'not-ok '*) tap "${line%% *}" "host: fuzz ${line#* }" ;;
		'#'*) echo "$line" ;;
		esac
	done <"$results/fuzz.txt"
	if [ $fuzz_rc -ne 0 ] && ! grep -q '^not-ok ' "$results/fuzz.txt"; then
		tail -n 20 "$results/fuzz.log" | sed 's/^/# /'
		tap not-ok "host: fuzz targets of common/ built and ran"
	fi
	phase "fuzzing (fuzz.sh $fuzz_secs s per target)" "$t"
fi

# Build everything the VM needs (the modules are built below, once).
t=$(date +%s)
if ! XNT_PREPARE_MODULES=0 "$XNT_DIR/prepare.sh"; then
	tap not-ok "prepare: host tools, kernel, modules and images" "see the messages above"
	finish
fi
tap ok "prepare: host tools, kernel and images"
phase "prepare (tools, kernel, images; cached when warm)" "$t"
source "$XNT_CACHE/env.sh"

# One module build from scratch with CLIPPY=1 serves both checks: clippy-clean, and no
# warnings at all (Rust warnings are errors; C and modpost warnings are looked for here).
# The scenarios then run these modules.
t=$(date +%s)
make -C "$XNT_TOP" KDIR="$KBUILD" clean >/dev/null 2>&1
make -C "$XNT_TOP" KDIR="$KBUILD" clippy >"$results/clippy.log" 2>&1
build_rc=$?
if [ $build_rc -eq 0 ] && ! grep -qi 'warning' "$results/clippy.log"; then
	tap ok "modules: clippy clean (CLIPPY=1)"
else
	grep -i -A 6 'warning\|error' "$results/clippy.log" | head -n 40 | sed 's/^/# /'
	tap not-ok "modules: clippy clean (CLIPPY=1)"
fi
if [ $build_rc -eq 0 ] && ! grep -qi 'warning' "$results/clippy.log" &&
	[ -f "$XNT_TOP/netback/xen_netback.ko" ] && [ -f "$XNT_TOP/netfront/xen_netfront.ko" ]; then
	tap ok "modules: xen_netback.ko and xen_netfront.ko build with no warnings"
else
	tap not-ok "modules: xen_netback.ko and xen_netfront.ko build with no warnings"
	finish
fi
phase "module build (CLIPPY=1, from scratch)" "$t"
# The runner's boot loop over this prepared tree, with a fake QEMU (dom0 dies, a second
# boot resumes at the next entry).
selftest_taps --prepared

# Every scenario of the plan in one boot (a reboot only if dom0 dies).
planfile="$XNT_DIR/plans/suite.txt"
[ $mode = quick ] && planfile="$XNT_DIR/plans/quick.txt"
t=$(date +%s)
log "scenarios: $(grep -c -v -e '^#' -e '^$' "$planfile") entries of $planfile in one boot"
"$XNT_DIR/run-scenario.sh" --no-prepare --plan "$planfile" --results "$results/scenarios.txt" \
	--times "$results/scenario-times.txt" >"$results/scenarios.tap" 2>"$results/scenarios.log"
run_rc=$?
grep '^#' "$results/scenarios.tap" | grep -v '^# \[' | head -n 200
step_t0=$t
reported=0
while IFS=$'\t' read -r verdict secs rest; do
	reported=$((reported + 1))
	step_t0=$(($(date +%s) - secs))
	case "$verdict" in
	ok) tap ok "$rest" ;;
	skip) tap skip "${rest%% # *}" "${rest#* # }" ;;
	*) if [[ $rest == *" # "* ]]; then tap not-ok "${rest%% # *}" "${rest#* # }"; else tap not-ok "$rest"; fi ;;
	esac
done <"$results/scenarios.txt"
# The runner's own verdict must agree: it fails when a result failed, a scenario stopped
# early, or it died before booting (then there are no results of this run to report).
if [ $run_rc -ne 0 ] && ! grep -q '^not-ok' "$results/scenarios.txt"; then
	tail -n 30 "$results/scenarios.log" | sed 's/^/# /'
	tail -n 30 "$results/scenarios.tap" | sed 's/^/# /'
	tap not-ok "scenarios: the runner finished cleanly" "run-scenario.sh exited $run_rc"
elif [ $reported -eq 0 ]; then
	tap not-ok "scenarios: results reported" "none"
fi
while IFS=$'\t' read -r label secs hsecs; do
	printf '%-58s %6d   (+%s s health checks)\n' "scenario: $label" "$secs" "${hsecs:-?}" >>"$timetable"
done <"$results/scenario-times.txt"
phase "all scenarios ($(grep -c 'boot [0-9]*: .* from entry' "$results/scenarios.log") boot(s))" "$t"
finish
