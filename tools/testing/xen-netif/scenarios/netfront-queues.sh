# SPDX-License-Identifier: GPL-2.0
# The Rust netfront against the C netback for every queue combination the netfront issue
# names, one guest after the other in one boot. Each runs the baseline checks: XenStore
# keys for the negotiated layout, ping both ways, iperf3 with 1 and 8 streams both ways
# (judged by the bytes moved), interrupts on more than one queue per direction, the
# guest's kernel log and kmemleak (Rust netfront), clean teardown and dom0 leak check.
#   backend max / frontend max_queues: 1/1, 2/2, 4/4 (same on both sides),
#   2/8 (2 negotiated), 4/1 (flat layout against a multi-queue backend).
for cfg in "1 1" "2 2" "4 4" "2 8" "4 1"; do
	read -r XNT_BE_QUEUES XNT_FE_QUEUES <<<"$cfg"
	XNT_BACKEND=c XNT_FRONTEND=rust
	info "netfront-queues: backend max_queues=$XNT_BE_QUEUES, Rust netfront max_queues=$XNT_FE_QUEUES"
	source /xnt/scenarios/baseline.sh
done
