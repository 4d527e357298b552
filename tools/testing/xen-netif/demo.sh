#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Demo: builds everything (cached after the first run), boots Xen + dom0 + one guest under
# QEMU and shows the negotiated queues, the XenStore tree, per-queue interrupt counters and
# a short iperf3 run in each direction.
#
# usage: demo.sh [--backend rust|c] [--frontend rust|c] [--queues N]
# The Rust drivers do not carry traffic yet, so the default pair is the upstream C one.
set -uo pipefail
here=$(dirname "$0")
exec "$here/run-scenario.sh" --backend c --frontend c --queues 4 "$@" "$here/scenarios/demo.sh"
