# SPDX-License-Identifier: GPL-2.0
# A queue-count matrix over one netback/netfront pair with one guest: for each entry of
# XNT_MATRIX ("BE/FE" max_queues pairs, comma-separated, e.g. "1/1,2/2,4/4,2/8,4/1"), the backend's and the
# guest's max_queues parameters are written in sysfs (both drivers read them at each
# connection, as the C drivers do) and the vif is detached and attached again, so the pair
# negotiates afresh without a guest boot; then the checks of pair-checks.sh (XenStore
# layout, ping, TCP both ways, interrupts on more than one queue with 8 flows, guest log).
# At the end: the guest's kmemleak (Rust netfront), clean teardown, dom0 log and kmemleak.
matrix=${XNT_MATRIX:-1/1,2/2,4/4,2/8,4/1}
matrix=${matrix//,/ }
first=${matrix%% *}
beq=${first%/*} feq=${first#*/}
pair="$XNT_BACKEND netback, $XNT_FRONTEND netfront"

check "[$pair] netback loads (max_queues=$beq)" load_backend "$XNT_BACKEND" "$beq" || exit 1
check "[$pair] guest boots (netfront max_queues=$feq) and answers over its vif" start_guest g1 --queues "$feq" || exit 1
ip=$(guest_ip g1)
domid=$(guest_domid g1)
mac=$(xs_read "$(be_dir g1)/mac")

# reconnect BEQ FEQ: new max_queues on both sides, then a fresh vif.
reconnect() {
	local devid s
	echo "$1" >/sys/module/xen_netback/parameters/max_queues || return 1
	guest g1 "echo $2 >/sys/module/xen_netfront/parameters/max_queues" || return 1
	devid=$(guest_vif_devid g1)
	[ -n "$devid" ] || { echo "no vif under the guest's device/vif in XenStore"; return 1; }
	timeout 60 xl network-detach g1 "$devid" || return 1
	timeout 60 xl network-attach g1 bridge=xenbr0 mac="$mac" script="$XNT_VIF_SCRIPT" || return 1
	xnt-agent wait "$ip" --timeout 60 >/dev/null || { echo "guest unreachable after the attach"; return 1; }
	for _ in $(seq 50); do
		s="$(xs_read "$(be_dir g1)/state")/$(xs_read "$(fe_dir g1)/state")"
		[ "$s" = 4/4 ] && return 0
		nap 0.2
	done
	echo "states $s after the attach"
	return 1
}

for cfg in $matrix; do
	beq=${cfg%/*} feq=${cfg#*/}
	want=$((beq < feq ? beq : feq))
	tag="$pair, max_queues $beq/$feq, $want queue(s)"
	if [ "$cfg" != "$first" ]; then
		if ! check "[$tag] reconnected with the new max_queues (detach, attach)" reconnect "$beq" "$feq"; then
			tail -n 20 "/var/log/xen/console/guest-g1.log" | show
			break
		fi
	fi
	info "queue-matrix: $tag"
	source /xnt/scenarios/pair-checks.sh
	first=""
done

if [ "$XNT_FRONTEND" = rust ]; then
	check "[$pair] guest kmemleak clean after the matrix (Rust netfront)" guest_kmemleak_check g1
fi
check "[$pair] xl destroy" destroy_guest g1
nap 2
check "[$pair] no vif netdev left in dom0" sh -c "! ip -o link | grep -q 'vif$domid\\.'"
check "[$pair] no backend XenStore node left" sh -c "! xenstore-exists /local/domain/0/backend/vif/$domid"
check "[$pair] netback unloads" unload_backend
# dom0's kernel log and kmemleak: checked by the runner after every scenario (dom0-main.sh).
