# SPDX-License-Identifier: GPL-2.0
# One guest over the chosen netback/netfront pair: reachability both ways, the XenStore keys
# the spec prescribes for the negotiated queue count, TCP both ways (judged by the bytes
# iperf3's receiver counted), per-queue interrupts with 8 flows, the guest's kernel log
# (and its kmemleak with the Rust netfront), clean teardown, dom0's log and kmemleak.
beq=$XNT_BE_QUEUES feq=$XNT_FE_QUEUES
want=$((beq < feq ? beq : feq))
tag="$XNT_BACKEND netback, $XNT_FRONTEND netfront, $want queue(s)"

check "[$tag] netback loads (max_queues=$beq)" load_backend "$XNT_BACKEND" "$beq" || exit 1
check "[$tag] guest boots and answers over its vif" start_guest g1 || exit 1
source /xnt/scenarios/pair-checks.sh

# The Rust netfront's own leaks, while it is still connected.
if [ "$XNT_FRONTEND" = rust ]; then
	check "[$tag] guest kmemleak clean (Rust netfront)" guest_kmemleak_check g1
fi
check "[$tag] xl destroy" destroy_guest g1
nap 2
check "[$tag] no vif netdev left in dom0" sh -c "! ip -o link | grep -q 'vif$domid\\.'"
check "[$tag] no backend XenStore node left" sh -c "! xenstore-exists $be"
check "[$tag] netback unloads" unload_backend
# dom0's kernel log and kmemleak: checked by the runner after every scenario (dom0-main.sh).
