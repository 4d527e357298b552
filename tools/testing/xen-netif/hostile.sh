#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The hostile-frontend comparison (issue 5): builds everything (cached after the first
# run), boots Xen + dom0 under QEMU once, and runs every xnt-hostile scenario against the
# upstream C netback and then against the Rust netback. Prints TAP for the Rust run and a
# table: per scenario the expected reaction, the C netback's, the Rust netback's, and
# whether they are the same.
#
# usage: hostile.sh [--only "NAME ..."] [--backends "c rust"]
set -uo pipefail
here=$(dirname "$0")
backends="c rust" only=""
while [ $# -gt 0 ]; do
	case "$1" in
	--only) only=$2; shift ;;
	--backends) backends=$2; shift ;;
	*) echo "usage: hostile.sh [--only \"NAME ...\"] [--backends \"c rust\"]" >&2; exit 2 ;;
	esac
	shift
done
export XNT_HOSTILE_BACKENDS=$backends XNT_HOSTILE_ONLY=$only
exec "$here/run-scenario.sh" --timeout 3000 "$here/scenarios/hostile.sh"
