#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The whole test suite: host unit tests, module build checks, and the Xen-in-QEMU
# scenarios. Prints TAP and a final "N passed, N failed"; exits non-zero on any failure.
#
# usage: run_tests.sh [--quick]   (--quick: host-side tests only, no kernel or VM)
set -uo pipefail
source "$(dirname "$0")/lib.sh"

quick=0
[ "${1:-}" = --quick ] && quick=1
n=0 passed=0 failed=0
results="$XNT_CACHE/results"
mkdir -p "$results"

tap() { # tap ok|not-ok|skip NAME [REASON]
	n=$((n + 1))
	case "$1" in
	ok) passed=$((passed + 1)); echo "ok $n - $2" ;;
	skip) echo "ok $n - $2 # SKIP ${3:-}" ;;
	*) failed=$((failed + 1)); echo "not ok $n - $2${3:+ # $3}" ;;
	esac
}

finish() {
	echo "1..$n"
	log "suite finished"
	echo "$passed passed, $failed failed"
	[ $failed -eq 0 ]
	exit $?
}

# Host-side tests.
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
if (for m in "$XNT_TOP/common/user" "$XNT_DIR/hostile"; do
	CARGO_TARGET_DIR="$XNT_CACHE/hostile-host-target" cargo clippy -q --manifest-path "$m/Cargo.toml" -- -D warnings || exit 1
done) >"$results/hostile-clippy.log" 2>&1; then
	tap ok "host: xnt-hostile (the hostile frontend) and common/user build, clippy clean"
else
	tail -n 30 "$results/hostile-clippy.log" | sed 's/^/# /'
	tap not-ok "host: xnt-hostile (the hostile frontend) and common/user build, clippy clean"
fi
unformatted=$(cd "$XNT_TOP" && git ls-files --cached --others --exclude-standard '*.rs' | xargs rustfmt --edition 2021 --check -l 2>&1)
if [ -z "$unformatted" ]; then tap ok "host: rustfmt clean"; else
	echo "$unformatted" | sed 's/^/# /'
	tap not-ok "host: rustfmt clean"
fi
[ $quick = 1 ] && finish

# Coverage-guided fuzzing of the parsers of peer-written memory in common/ (fuzz.sh), a
# short run: the corpora are kept in the cache and grow from run to run; longer runs are
# `fuzz.sh SECONDS` (Documentation/testing.md). XNT_FUZZ_SECONDS overrides the 30 s.
fuzz_secs=${XNT_FUZZ_SECONDS:-30}
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

# Build everything the VM needs.
if ! "$XNT_DIR/prepare.sh"; then
	tap not-ok "prepare: host tools, kernel, modules and images" "see the messages above"
	finish
fi
tap ok "prepare: host tools, kernel, modules and images"
source "$XNT_CACHE/env.sh"

# Module builds from scratch: no warnings (Rust warnings are errors; C and modpost
# warnings are checked here), and clippy-clean.
make -C "$XNT_TOP" KDIR="$KBUILD" clean >/dev/null 2>&1
if make -C "$XNT_TOP" KDIR="$KBUILD" clippy >"$results/clippy.log" 2>&1 &&
	! grep -qi 'warning' "$results/clippy.log"; then
	tap ok "modules: clippy clean (CLIPPY=1)"
else
	grep -i -A 6 'warning\|error' "$results/clippy.log" | head -n 40 | sed 's/^/# /'
	tap not-ok "modules: clippy clean (CLIPPY=1)"
fi
make -C "$XNT_TOP" KDIR="$KBUILD" clean >/dev/null 2>&1
if make -C "$XNT_TOP" KDIR="$KBUILD" modules >"$results/modules.log" 2>&1 &&
	! grep -qi 'warning' "$results/modules.log" &&
	[ -f "$XNT_TOP/netback/xen_netback.ko" ] && [ -f "$XNT_TOP/netfront/xen_netfront.ko" ]; then
	tap ok "modules: xen_netback.ko and xen_netfront.ko build with no warnings"
else
	grep -i -A 6 'warning\|error' "$results/modules.log" | head -n 40 | sed 's/^/# /'
	tap not-ok "modules: xen_netback.ko and xen_netfront.ko build with no warnings"
fi

# Xen scenarios: each boot's results become TAP lines here.
scenario() { # scenario LABEL run-scenario-args...
	local label=$1 res verdict rest
	shift
	res="$results/$(echo "$label" | tr -c 'a-zA-Z0-9\n' '-').txt"
	log "scenario: $label"
	"$XNT_DIR/run-scenario.sh" --no-prepare --results "$res" "$@" >"$res.tap" 2>&1
	grep '^#' "$res.tap" | grep -v '^# \[' | head -n 60
	while IFS= read -r line; do
		verdict=${line%% *}
		rest=${line#* }
		case "$verdict" in
		ok) tap ok "$label: $rest" ;;
		skip) tap skip "$label: ${rest%% # *}" "${rest#* # }" ;;
		*) tap not-ok "$label: ${rest%% # *}" "${rest#* # }" ;;
		esac
	done <"$res"
	if [ ! -s "$res" ]; then
		tail -n 45 "$res.tap" | sed 's/^/# /'
		tap not-ok "$label: produced results"
	fi
}

S="$XNT_DIR/scenarios"
scenario "Rust modules load/unload" --queues 3 "$S/modules-load.sh"
scenario "C baseline, 4 queues" --backend c --frontend c --queues 4 "$S/baseline.sh"
scenario "Rust netfront vs C netback, queue matrix" "$S/netfront-queues.sh"
scenario "Rust netfront vs C netback, features and reconnects" --backend c --frontend rust --queues 4 "$S/netfront.sh"
scenario "Rust netback vs C and Rust netfront, queue matrix" --timeout 1500 "$S/netback-queues.sh"
scenario "Rust netback vs C netfront, features and teardown" --backend rust --frontend c --queues 4 "$S/netback.sh"
# The 20 detach/attach cycles run against the Rust netback above (C netfront) and against
# the Rust netfront in the netfront scenario; 5 here keep the suite within its budget.
XNT_DETACH_CYCLES=5 scenario "Rust netback vs Rust netfront, features and teardown" --backend rust --frontend rust --queues 4 "$S/netback.sh"
scenario "Hostile frontend vs Rust netback" --timeout 1800 "$S/hostile.sh"
finish
