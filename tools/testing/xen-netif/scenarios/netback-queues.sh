# SPDX-License-Identifier: GPL-2.0
# The Rust netback against the C netfront, then against the Rust netfront, for the queue
# counts the netback issue names, one guest after the other in one boot. Each runs the
# baseline checks: XenStore keys for the negotiated layout, ping both ways, iperf3 with 1
# and 8 streams both ways (judged by the bytes moved), interrupts on more than one queue
# per direction, the guest's kernel log (and kmemleak with the Rust netfront), clean
# teardown (no vif netdev, no backend node), netback unload and leak check.
#   C netfront:    1/1, 2/2, 4/4 (same max_queues on both sides), 2/8 (2 negotiated)
#   Rust netfront: 1/1 (4/4 with the Rust netfront is netback.sh's second run)
for cfg in "c 1 1" "c 2 2" "c 4 4" "c 2 8" "rust 1 1"; do
	read -r XNT_FRONTEND XNT_BE_QUEUES XNT_FE_QUEUES <<<"$cfg"
	XNT_BACKEND=rust
	info "netback-queues: Rust netback max_queues=$XNT_BE_QUEUES, $XNT_FRONTEND netfront max_queues=$XNT_FE_QUEUES"
	source /xnt/scenarios/baseline.sh
done
