# SPDX-License-Identifier: GPL-2.0
# The Rust netback against the frontend chosen with --frontend (the C netfront by default;
# the Rust one for both-Rust runs): parameters, ethtool on the vif, per-queue counters,
# jumbo frames and TSO, the control ring's advertisement and HASH extra counters, the
# frontend's zeroed RX buffers (XSA-403, xnt-rxpeek),
# detach/attach cycles, the guest's kernel log (and kmemleak with the Rust netfront), TX
# rate limiting measured against the same guest unlimited, guests destroyed during iperf3,
# and the unload once every guest is gone.
q=$XNT_BE_QUEUES
tag="rust netback, $XNT_FRONTEND netfront"

check "[$tag] Rust netback loads (max_queues=$q)" load_backend rust "$q" || exit 1
for p in max_queues separate_tx_rx_irq fatal_skb_slots rx_drain_timeout_msecs rx_stall_timeout_msecs; do
	check "[$tag] modinfo and /sys/module/xen_netback/parameters list $p" \
		sh -c "modinfo -p \$(modinfo -n xen_netback 2>/dev/null || echo /lib/modules/$XNT_KREL/updates/xen_netback.ko) | grep -q '^$p:' && test -r /sys/module/xen_netback/parameters/$p"
done
check "[$tag] parameter defaults: fatal_skb_slots 20, drain 10000 ms, stall 60000 ms" \
	test "$(cat /sys/module/xen_netback/parameters/fatal_skb_slots)/$(cat /sys/module/xen_netback/parameters/rx_drain_timeout_msecs)/$(cat /sys/module/xen_netback/parameters/rx_stall_timeout_msecs)" = "20/10000/60000"
check "[$tag] guest ($XNT_FRONTEND netfront, max_queues=$q) answers" start_guest g1 --queues "$q" || exit 1
ip=$(guest_ip g1)
domid=$(guest_domid g1)
vif=vif$domid.0
mac=00:16:3e:58:4e:01

drvinfo=$(ethtool -i "$vif")
printf '%s\n' "$drvinfo" | show
check "[$tag] ethtool -i $vif: driver xen_netback" has_lines "$drvinfo" '^driver: xen_netback$'
check "[$tag] ethtool $vif: link detected" has_lines "$(ethtool "$vif")" 'Link detected: yes'
check "[$tag] $vif MAC is fe:ff:ff:ff:ff:ff" test "$(cat /sys/class/net/$vif/address)" = fe:ff:ff:ff:ff:ff
uev=$(cat /sys/bus/xen-backend/devices/vif-$domid-0/uevent 2>&1)
printf '%s\n' "$uev" | show
check "[$tag] backend uevent carries script= and vif=$vif (udev hotplug)" \
	has_lines "$uev" "^script=$XNT_VIF_SCRIPT\$" "^vif=$vif\$"
features=$(ethtool -k "$vif")
check "[$tag] ethtool -k $vif: scatter-gather, TSO and IPv6 TSO on (frontend offers them)" has_lines "$features" \
	'^scatter-gather: on' '^tcp-segmentation-offload: on' 'tx-tcp6-segmentation: on'

# Per-queue counters on the vif (rx = from the guest, tx = to the guest), and right after
# them the device's own counters (what ip -s link shows) as dev_rx_packets/dev_tx_packets.
stats() {
	{ ethtool -S "$vif"
	  echo "dev_rx_packets: $(cat "/sys/class/net/$vif/statistics/rx_packets")"
	  echo "dev_tx_packets: $(cat "/sys/class/net/$vif/statistics/tx_packets")"
	} | awk -F': *' 'NF == 2 { gsub(/ /, "", $1); print $1, $2 }' | sort
}
iperf3 -s -D >/dev/null 2>&1
nap 1
stats >/tmp/st0
check "[$tag] ethtool -S $vif lists per-queue packets, bytes and drops for $q queues" \
	sh -c "grep -c '^q[0-9]*_\\(tx\\|rx\\)_\\(packets\\|bytes\\|dropped\\) ' /tmp/st0 | grep -qx $((q * 6))"
# 8 flows per direction, a second round of 8 new flows when they did not spread: with 2
# queues all 8 hash to one queue with probability 2 * (1/2)^8 = 1/128 per round, so a
# false failure is 1 in 16384.
for round in 1 2; do
	out_tx=$(guest_iperf g1 -t 2 -P 8)
	stats >/tmp/st1
	[ "$(queues_moved /tmp/st0 /tmp/st1 rx_packets)" -ge 2 ] && break
done
printf '%s\n' "$out_tx" | tail -n 3 | show
for round in 1 2; do
	out_rx=$(guest_iperf g1 -t 2 -P 8 -R)
	stats >/tmp/st2
	[ "$(queues_moved /tmp/st1 /tmp/st2 tx_packets)" -ge 2 ] && break
done
printf '%s\n' "$out_rx" | tail -n 3 | show
iperf_check "[$tag] iperf3 8 flows guest->dom0 moved data" "$out_tx"
iperf_check "[$tag] iperf3 8 flows dom0->guest moved data" "$out_rx"
{ echo "ethtool -S $vif before / after guest->dom0 / after dom0->guest:"; join /tmp/st0 /tmp/st1 | join - /tmp/st2 | grep -E '^(q[0-9]+_(tx|rx)_packets|dev_)'; } | show
rxq=$(queues_moved /tmp/st0 /tmp/st1 rx_packets)
txq=$(queues_moved /tmp/st1 /tmp/st2 tx_packets)
info "[$tag] 8 flows each way: packets from the guest on $rxq queue(s), to the guest on $txq"
if [ "$q" -ge 2 ]; then
	check "[$tag] 8 guest->dom0 flows: vif counters show traffic on >= 2 queues" test "$rxq" -ge 2
	check "[$tag] 8 dom0->guest flows: vif counters show traffic on >= 2 queues" test "$txq" -ge 2
fi
# The device counters (ip -s link) are the sums of the queues' counters: over each run
# both grew by the same number of packets (a few of slack for stray packets between the
# two reads), and by more than nothing.
rxp=$(( $(stat_sum /tmp/st1 rx_packets) - $(stat_sum /tmp/st0 rx_packets) ))
rxb=$(( $(stat_sum /tmp/st1 rx_bytes) - $(stat_sum /tmp/st0 rx_bytes) ))
dev_rxp=$(( $(stat_of /tmp/st1 dev_rx_packets) - $(stat_of /tmp/st0 dev_rx_packets) ))
txp=$(( $(stat_sum /tmp/st2 tx_packets) - $(stat_sum /tmp/st1 tx_packets) ))
dev_txp=$(( $(stat_of /tmp/st2 dev_tx_packets) - $(stat_of /tmp/st1 dev_tx_packets) ))
info "[$tag] from the guest during 8 flows: $rxp packets, $rxb bytes in the per-queue counters; $dev_rxp packets in the device counter"
info "[$tag] to the guest during 8 flows: $txp packets in the per-queue counters; $dev_txp in the device counter"
check "[$tag] ip -s link rx_packets of $vif grew with the sum of the per-queue rx_packets over 8 flows" \
	grew_alike "$dev_rxp" "$rxp"
check "[$tag] ip -s link tx_packets of $vif grew with the sum of the per-queue tx_packets over 8 flows" \
	grew_alike "$dev_txp" "$txp"
gso=$(( $(stat_of /tmp/st1 rx_gso_packets) - $(stat_of /tmp/st0 rx_gso_packets) ))
info "[$tag] of them with a GSO extra: $gso"
check "[$tag] TSO: the guest's large sends arrived as GSO packets (rx_gso_packets moved)" test "$gso" -gt 0
# Grant copies, named from the guest's side (tx_copy_* = guest TX, the packets counted in
# qN_rx_packets). One copy moves at most a page, so each direction's copies must be enough
# for the bytes it carried (rx_bytes from the guest, tx_bytes to it; a page per queue of
# slack): the TCP ACKs going the other way take far fewer copies, so counters of the two
# directions mixed up fail, and so do ops counted like hypercalls. A 64 KiB GSO packet
# needs several copies in one hypercall: more ops than hypercalls.
check "[$tag] ethtool -S $vif lists per-queue grant-copy counters for $q queues" \
	sh -c "grep -c '^q[0-9]*_\\(tx\\|rx\\)_copy_\\(hypercalls\\|ops\\) ' /tmp/st0 | grep -qx $((q * 4))"
txb=$(( $(stat_sum /tmp/st2 tx_bytes) - $(stat_sum /tmp/st1 tx_bytes) ))
txh=$(( $(stat_sum /tmp/st1 tx_copy_hypercalls) - $(stat_sum /tmp/st0 tx_copy_hypercalls) ))
txo=$(( $(stat_sum /tmp/st1 tx_copy_ops) - $(stat_sum /tmp/st0 tx_copy_ops) ))
rxh=$(( $(stat_sum /tmp/st2 rx_copy_hypercalls) - $(stat_sum /tmp/st1 rx_copy_hypercalls) ))
rxo=$(( $(stat_sum /tmp/st2 rx_copy_ops) - $(stat_sum /tmp/st1 rx_copy_ops) ))
info "[$tag] grant copies guest->dom0: $txo in $txh hypercalls for $rxb bytes; dom0->guest: $rxo in $rxh hypercalls for $txb bytes"
check "[$tag] guest->dom0 flows: tx_copy_hypercalls moved, more copies than hypercalls, enough copies for the bytes (tx_copy_ops x 4096 >= rx_bytes)" \
	test "$txh" -gt 0 -a "$txo" -gt "$txh" -a $((txo * 4096 + q * 4096)) -ge "$rxb"
check "[$tag] dom0->guest flows: rx_copy_hypercalls moved, more copies than hypercalls, enough copies for the bytes (rx_copy_ops x 4096 >= tx_bytes)" \
	test "$rxh" -gt 0 -a "$rxo" -gt "$rxh" -a $((rxo * 4096 + q * 4096)) -ge "$txb"

# The control ring (netback/hash.rs): advertised at probe, and each queue counts the HASH
# extras it sent (checked after the pings below).
check "[$tag] backend advertises feature-ctrl-ring = 1" \
	test "$(xs_read "$(be_dir g1)/feature-ctrl-ring")" = 1
check "[$tag] ethtool -S $vif lists per-queue rx_hash_extras for $q queues" \
	sh -c "grep -c '^q[0-9]*_rx_hash_extras ' /tmp/st2 | grep -qx $q"

# XSA-403, RX side: after that traffic, the RX buffers the guest's netfront has posted and
# the backend has not written yet must be all-zero pages (dom0 maps them read-only:
# xnt-rxpeek). A check for ours; for the upstream C netfront a measurement: 7.3.4 takes
# RX pages from a page_pool with __GFP_ZERO, which zeroes fresh pages only, and recycles
# received pages into the ring with the earlier packets still in them (measured: most
# posted buffers start with an Ethernet header the backend wrote before; see
# Documentation/hostile.md, F-XSA-403).
if [ "$XNT_FRONTEND" = rust ]; then
	check "[$tag] XSA-403: the RX buffers the guest posted hold no stale data (xnt-rxpeek)" \
		rx_buffers_zeroed "$domid" "$(guest_vif_devid g1)"
else
	rx_buffers_zeroed "$domid" "$(guest_vif_devid g1)" | grep -m 3 'NOT ZERO' | show
fi
info "[$tag] XSA-403 RX buffers ($XNT_FRONTEND netfront): $(rx_buffers_summary)"

# Fragments and jumbo frames.
check "[$tag] ping -s 60000 dom0 -> guest (IP fragments)" ping -c 2 -W 5 -s 60000 "$ip"
check "[$tag] ping -s 60000 guest -> dom0 (IP fragments)" guest g1 ping -c 2 -W 5 -s 60000 "$XNT_DOM0_IP"
check "[$tag] $vif accepts MTU 9000 (frontend has SG)" ip link set "$vif" mtu 9000
ip link set xenbr0 mtu 9000
check "[$tag] guest MTU 9000" guest g1 ip link set eth0 mtu 9000
check "[$tag] ping 8972-byte payload dom0 -> guest at MTU 9000" ping -c 3 -W 5 -s 8972 "$ip"
check "[$tag] ping 8972-byte payload guest -> dom0 at MTU 9000" guest g1 ping -c 3 -W 5 -s 8972 "$XNT_DOM0_IP"
iperf_check "[$tag] iperf3 at MTU 9000 moves data" "$(guest_iperf g1 -t 2)"
# A frontend without a control ring never selects a hash algorithm, so no HASH extra may
# reach it: with several queues ndo_select_queue takes the skb's flow hash, which the
# stack computes as a software hash for the pings above (their sockets set none), and
# ndo_start_xmit must clear it (as C's xenvif_start_xmit).
if [ -z "$(xs_read "$(fe_dir g1)/ctrl-ring-ref")" ]; then
	stats >/tmp/st3
	check "[$tag] no control ring: no HASH extra reached the guest (rx_hash_extras 0 after iperf3 and pings)" \
		test "$(stat_sum /tmp/st3 rx_hash_extras)" = 0
fi
guest g1 ip link set eth0 mtu 1500
ip link set "$vif" mtu 1500
ip link set xenbr0 mtu 1500

# Detach/attach cycles under light traffic.
cycles=${XNT_DETACH_CYCLES:-20}
ping -i 0.3 -q "$ip" >/tmp/bg-ping.log 2>&1 &
bgping=$!
failed_cycle=""
for i in $(seq "$cycles"); do
	devid=$(guest_vif_devid g1)
	if ! timeout 60 xl network-detach g1 "$devid" >/tmp/detach.log 2>&1; then
		failed_cycle="$i (detach: $(tail -n 1 /tmp/detach.log))"
		break
	fi
	if ! timeout 60 xl network-attach g1 bridge=xenbr0 mac=$mac script=$XNT_VIF_SCRIPT >/tmp/attach.log 2>&1; then
		failed_cycle="$i (attach: $(tail -n 1 /tmp/attach.log))"
		break
	fi
	if ! xnt-agent wait "$ip" --timeout 60 >/dev/null || ! ping -c 1 -W 3 "$ip" >/dev/null; then
		failed_cycle="$i (guest unreachable after attach)"
		break
	fi
	[ $((i % 5)) = 0 ] && info "[$tag] detach/attach cycle $i done"
done
kill $bgping 2>/dev/null
if [ -z "$failed_cycle" ]; then ok "[$tag] $cycles network-detach/attach cycles, guest reachable after each"; else
	dmesg | tail -n 20 | show
	tail -n 20 "/var/log/xen/console/guest-g1.log" | show
	not_ok "[$tag] $cycles network-detach/attach cycles, guest reachable after each" "cycle $failed_cycle"
fi
check "[$tag] only one vif netdev for the guest after the cycles" \
	test "$(ip -o link | grep -c "vif$domid\\.")" = 1
iperf_check "[$tag] guest works after the cycles (iperf3 moves data)" "$(guest_iperf g1 -t 2)"
# The guest's side of all that, while it still runs: its kernel log, and with the Rust
# netfront (netback.sh's both-Rust run) its leaks.
check "[$tag] guest kernel log clean" kernel_log_clean g1
if [ "$XNT_FRONTEND" = rust ]; then
	check "[$tag] guest kmemleak clean (Rust netfront)" guest_kmemleak_check g1
fi
check "[$tag] xl destroy g1" destroy_guest g1
nap 2

source /xnt/scenarios/rate-limit.sh

# Guests destroyed in the middle of iperf3, both directions. Each gets its own one-off
# iperf3 server (a server whose client vanished stays busy until its own timeouts), and its
# vif's packet counters must be moving right before xl destroy: the guest dies with
# traffic in flight, not after iperf3 gave up.
vif_packets() { # vif_packets VIF: rx + tx packets
	echo $(( $(cat "/sys/class/net/$1/statistics/rx_packets" 2>/dev/null || echo 0) + $(cat "/sys/class/net/$1/statistics/tx_packets" 2>/dev/null || echo 0) ))
}
# One guest at a time: booted side by side, the three took 87-143 s to answer instead of
# about 13 s each (six guest vCPUs and dom0's two on the VM's two CPUs).
for i in 1 2 3; do
	name=d$i
	if ! start_guest "$name" --queues "$q" >/tmp/start.log 2>&1; then
		show </tmp/start.log
		not_ok "[$tag] guest $name destroyed during iperf3 (#$i)" "guest did not start"
		continue
	fi
	d=$(guest_domid "$name")
	dvif=vif$d.0
	dir=$([ $((i % 2)) = 0 ] && echo -R)
	port=$((5300 + i))
	iperf3 -s -D -1 -p $port -I "/run/xnt-iperf-$name.pid" >/dev/null 2>&1
	nap 1
	(XNT_IPERF_TIMEOUT=60 guest_iperf "$name" -t 30 -P 2 -p $port $dir >/dev/null 2>&1 &)
	nap 2
	grew=0
	for _ in 1 2 3; do
		p0=$(vif_packets "$dvif")
		nap 1.5
		p1=$(vif_packets "$dvif")
		grew=$((p1 - p0))
		[ "$grew" -ge 20 ] && break
	done
	info "[$tag] $dvif: +$grew packets in the 1.5 s before xl destroy $name"
	destroy_guest "$name" >/tmp/destroy.log 2>&1
	drc=$?
	gone=0
	for _ in $(seq 30); do
		if ! ip -o link | grep -q "vif$d\\." && ! xenstore-exists "/local/domain/0/backend/vif/$d" 2>/dev/null; then
			gone=1
			break
		fi
		nap 1
	done
	kill "$(cat "/run/xnt-iperf-$name.pid" 2>/dev/null)" 2>/dev/null
	cname="[$tag] guest $name destroyed during iperf3 $dir: traffic moving on its vif right before, then vif and backend node gone"
	if [ "$grew" -ge 20 ] && [ $gone = 1 ]; then ok "$cname"; else
		dmesg | tail -n 20 | show
		show </tmp/destroy.log
		not_ok "$cname" "vif packets +$grew in 1.5 s before the destroy (want >= 20), xl destroy exit $drc, gone=$gone"
	fi
done
check "[$tag] no vif netdev left in dom0" sh -c "! ip -o link | grep -q '^[0-9]*: vif'"
check "[$tag] no backend vif node left" sh -c "test -z \"\$(xenstore-list /local/domain/0/backend/vif 2>/dev/null)\""
check "[$tag] rmmod xen_netback after all guests are gone" unload_backend

# A slow receiver is not a stalled one: with rx_stall_timeout_msecs=3000, a guest taking a
# bulk stream for 8 s (its RX ring runs short again and again under TCG, but it keeps
# taking packets) must keep its carrier: no carrier change on the vif, no "Guest Rx
# stalled" line (C: a queue stalls only with no slots AND no progress for the timeout).
if check "[$tag] Rust netback loads with rx_stall_timeout_msecs=3000" \
	insmod "$(backend_module_path rust)" max_queues="$q" rx_stall_timeout_msecs=3000 &&
	check "[$tag] slow-receiver guest answers" start_guest g5 --queues "$q"; then
	svif=vif$(guest_domid g5).0
	read -r cc0 <"/sys/class/net/$svif/carrier_changes"
	stalls0=$(dmesg | grep -c "$svif: Guest Rx stalled")
	iperf_check "[$tag] slow receiver: 8 s of dom0->guest bulk TCP moved data" "$(guest_iperf g5 -t 8 -P 4 -R)"
	read -r cc1 <"/sys/class/net/$svif/carrier_changes"
	stalls1=$(dmesg | grep -c "$svif: Guest Rx stalled")
	check "[$tag] slow receiver: carrier kept (carrier_changes $cc0 -> $cc1), no 'Guest Rx stalled' ($stalls0 -> $stalls1)" \
		test "$cc1" = "$cc0" -a "$stalls1" = "$stalls0"
fi
check "[$tag] slow receiver: xl destroy" destroy_guest g5
check "[$tag] rmmod xen_netback after the slow receiver" unload_backend
# dom0's kernel log and kmemleak: checked by the runner after every scenario (dom0-main.sh).
