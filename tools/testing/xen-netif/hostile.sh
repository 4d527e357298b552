#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The hostile-peer comparisons (make hostile): builds everything (cached after the first
# run), boots Xen + dom0 under QEMU once, and runs in that boot
#   1. the hostile frontend (issue 5): every xnt-hostile scenario against the upstream C
#      netback and then the Rust netback (scenarios/hostile.sh), and
#   2. the hostile backend (issue 17): every xnt-hostile-be mode against the Rust netfront
#      and then the upstream C netfront (scenarios/hostile-backend.sh).
# Each prints TAP for the Rust driver's run and a table: per scenario the expected
# reaction, the C driver's, the Rust driver's, and whether they are the same.
#
# usage: hostile.sh [--frontend-only | --backend-only] [--only "NAME ..."]
#                   [--backends "c rust"] [--hbe-only "MODE ..."] [--frontends "rust c"]
#   --frontend-only   only the hostile frontend (attacks the netbacks)
#   --backend-only    only the hostile backend (attacks the netfronts)
#   --only            xnt-hostile scenario names;  --backends  netbacks to attack
#   --hbe-only        xnt-hostile-be mode names;   --frontends netfronts to attack
set -uo pipefail
here=$(dirname "$0")
backends="c rust" frontends="rust c" only="" hbe_only="" fe=1 be=1
usage() {
	sed -n '/^# usage:/,/^#   --hbe-only/p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case "$1" in
	--frontend-only) be=0 ;;
	--backend-only) fe=0 ;;
	--only) only=$2; shift ;;
	--backends) backends=$2; shift ;;
	--hbe-only) hbe_only=$2; shift ;;
	--frontends) frontends=$2; shift ;;
	*) usage ;;
	esac
	shift
done
[ $fe = 1 ] || [ $be = 1 ] || usage
# A plan of one or two entries, one boot; plan variables take commas, not spaces.
plan=$(mktemp /tmp/xnt-hostile-plan.XXXXXX)
trap 'rm -f "$plan"' EXIT
csv() { local s=$1; s=${s// /,}; echo "$s"; }
if [ $fe = 1 ]; then
	vars="XNT_HOSTILE_BACKENDS=$(csv "$backends")"
	[ -z "$only" ] || vars+=" XNT_HOSTILE_ONLY=$(csv "$only")"
	echo "Hostile frontend vs netbacks|3000|$vars|hostile.sh" >>"$plan"
fi
if [ $be = 1 ]; then
	vars="XNT_BACKEND=rust XNT_HBE_FRONTENDS=$(csv "$frontends")"
	[ -z "$hbe_only" ] || vars+=" XNT_HBE_ONLY=$(csv "$hbe_only")"
	echo "Hostile backend vs netfronts|3000|$vars|hostile-backend.sh" >>"$plan"
fi
"$here/run-scenario.sh" --plan "$plan"
