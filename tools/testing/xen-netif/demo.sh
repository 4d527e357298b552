#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Demo: builds everything (cached after the first run), boots Xen + dom0 + one guest under
# QEMU and shows the negotiated queues, the XenStore tree, per-queue interrupt counters and
# a short iperf3 run in each direction.
#
# usage: demo.sh [--backend rust|c] [--frontend rust|c] [--queues N]
# Default pair: both Rust drivers (the Rust netback in dom0, the Rust netfront in the guest).
set -uo pipefail
here=$(dirname "$0")
exec "$here/run-scenario.sh" --backend rust --frontend rust --queues 4 "$@" "$here/scenarios/demo.sh"
