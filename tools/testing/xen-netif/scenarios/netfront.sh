# SPDX-License-Identifier: GPL-2.0
# The Rust netfront against the netback of $XNT_BACKEND (C or Rust): parameters, ethtool, per-queue counters, jumbo
# frames and fragments, TSO, zeroed RX buffers (XSA-403, xnt-rxpeek), bouncing for an
# untrusted backend (XSA-403, a second guest), reconnects (detach/attach, backend reloads
# with another queue count), the guest's kernel log and kmemleak, and a clean unload at
# the end.
q=$XNT_FE_QUEUES
tag="rust netfront, $XNT_BACKEND netback"

check "[$tag] $XNT_BACKEND netback loads (max_queues=$q)" load_backend "$XNT_BACKEND" "$q" || exit 1
check "[$tag] guest with the $XNT_FRONTEND netfront (max_queues=$q) answers" start_guest g1 --queues "$q" || exit 1
ip=$(guest_ip g1)
domid=$(guest_domid g1)
mac=00:16:3e:58:4e:01

# Module parameter, as with the C driver.
check "[$tag] /sys/module/xen_netfront/parameters/max_queues reads $q" \
	test "$(guest g1 cat /sys/module/xen_netfront/parameters/max_queues)" = "$q"

# ethtool.
drvinfo=$(guest g1 ethtool -i eth0)
printf '%s\n' "$drvinfo" | show
check "[$tag] ethtool -i: driver xen_netfront, bus vif-0" has_lines "$drvinfo" '^driver: xen_netfront$' '^bus-info: vif-0$'
check "[$tag] ethtool: link detected" has_lines "$(guest g1 ethtool eth0)" 'Link detected: yes'

channels=$(guest g1 ethtool -l eth0)
printf '%s\n' "$channels" | show
check "[$tag] ethtool -l: $q combined channels, maximum $q" \
	test "$(awk '/^Combined:/ { printf "%s ", $2 }' <<<"$channels")" = "$q $q "
features=$(guest g1 ethtool -k eth0)
check "[$tag] ethtool -k: scatter-gather, TSO and IPv6 TSO on" has_lines "$features" \
	'^scatter-gather: on' '^tcp-segmentation-offload: on' 'tx-tcp6-segmentation: on' 

# ethtool -S: per-queue counters, read as "name value" lines, and in the same guest command
# (no agent traffic in between) the device's own counters (what ip -s link shows) as
# dev_rx_packets/dev_tx_packets.
stats() {
	guest g1 'ethtool -S eth0; echo "dev_rx_packets: $(cat /sys/class/net/eth0/statistics/rx_packets)"; echo "dev_tx_packets: $(cat /sys/class/net/eth0/statistics/tx_packets)"' |
		awk -F': *' 'NF == 2 { gsub(/ /, "", $1); print $1, $2 }' | sort
}
iperf3 -s -D >/dev/null 2>&1
nap 1
stats >/tmp/st0
check "[$tag] ethtool -S lists per-queue packets, bytes and drops for $q queues" \
	sh -c "grep -c '^q[0-9]*_\\(tx\\|rx\\)_\\(packets\\|bytes\\|dropped\\) ' /tmp/st0 | grep -qx $((q * 6))"
# 8 flows per direction, a second round of 8 new flows when they did not spread: with 2
# queues all 8 hash to one queue with probability 2 * (1/2)^8 = 1/128 per round, so a
# false failure is 1 in 16384.
for round in 1 2; do
	out_tx=$(guest_iperf g1 -t 2 -P 8)
	stats >/tmp/st1
	[ "$(queues_moved /tmp/st0 /tmp/st1 tx_packets)" -ge 2 ] && break
done
printf '%s\n' "$out_tx" | tail -n 3 | show
for round in 1 2; do
	out_rx=$(guest_iperf g1 -t 2 -P 8 -R)
	stats >/tmp/st2
	[ "$(queues_moved /tmp/st1 /tmp/st2 rx_packets)" -ge 2 ] && break
done
printf '%s\n' "$out_rx" | tail -n 3 | show
iperf_check "[$tag] iperf3 8 flows guest->dom0 moved data" "$out_tx"
iperf_check "[$tag] iperf3 8 flows dom0->guest moved data" "$out_rx"
{ echo "ethtool -S before / after guest->dom0 / after dom0->guest:"; join /tmp/st0 /tmp/st1 | join - /tmp/st2 | grep -E '^(q[0-9]+_(tx|rx)_packets|dev_)'; } | show
txq=$(queues_moved /tmp/st0 /tmp/st1 tx_packets)
rxq=$(queues_moved /tmp/st1 /tmp/st2 rx_packets)
info "[$tag] 8 flows each way: TX packets on $txq queue(s), RX packets on $rxq"
if [ "$q" -ge 2 ]; then
	check "[$tag] 8 guest->dom0 flows: ethtool -S shows TX on >= 2 queues" test "$txq" -ge 2
	check "[$tag] 8 dom0->guest flows: ethtool -S shows RX on >= 2 queues" test "$rxq" -ge 2
fi
# With TSO, the stack hands the driver super-packets, sent with a GSO extra; the backend
# accepted them if TCP kept going (the iperf3 above moved data).
txp=$(( $(stat_sum /tmp/st1 tx_packets) - $(stat_sum /tmp/st0 tx_packets) ))
txb=$(( $(stat_sum /tmp/st1 tx_bytes) - $(stat_sum /tmp/st0 tx_bytes) ))
gso=$(( $(stat_of /tmp/st1 tx_gso_packets) - $(stat_of /tmp/st0 tx_gso_packets) ))
info "[$tag] guest TX during 8 flows: $txp packets, $txb bytes, $gso of the packets with a GSO extra"
check "[$tag] TSO: large sends went out as GSO packets (tx_gso_packets moved)" test "$gso" -gt 0
# The device counters (ip -s link) are the sums of the queues' counters: over each run both
# grew by the same number of packets (a few of slack), and by more than nothing.
dev_txp=$(( $(stat_of /tmp/st1 dev_tx_packets) - $(stat_of /tmp/st0 dev_tx_packets) ))
rxp=$(( $(stat_sum /tmp/st2 rx_packets) - $(stat_sum /tmp/st1 rx_packets) ))
dev_rxp=$(( $(stat_of /tmp/st2 dev_rx_packets) - $(stat_of /tmp/st1 dev_rx_packets) ))
info "[$tag] device counters: TX +$dev_txp (queues +$txp) over the guest->dom0 run, RX +$dev_rxp (queues +$rxp) over the dom0->guest run"
check "[$tag] device counter (ip -s link) tx_packets grew with the sum of the per-queue TX packets over 8 flows" \
	grew_alike "$dev_txp" "$txp"
check "[$tag] device counter (ip -s link) rx_packets grew with the sum of the per-queue RX packets over 8 flows" \
	grew_alike "$dev_rxp" "$rxp"

# XSA-403, RX side: after that traffic, the RX buffers g1 has posted and the backend has not
# written yet must be all-zero pages (dom0 maps them read-only: xnt-rxpeek).
check "[$tag] XSA-403: the RX buffers the guest posted hold no stale data (xnt-rxpeek)" \
	rx_buffers_zeroed "$domid" "$(guest_vif_devid g1)"
info "[$tag] XSA-403 RX buffers: $(rx_buffers_summary)"

# XSA-403: a backend that is not trusted gets every transmitted packet bounced into zeroed
# pages. g2's vif is configured `untrusted` (xl's vif option), so libxl writes `trusted` = 0
# in its frontend directory before the guest boots (it writes 1 otherwise); then the
# module parameter alone: trusted=N and a reconnect, the key being 1 again.
bounce_lines() { guest "$1" dmesg | grep -c 'bouncing transmitted data to zeroed pages'; }
check "[$tag] trusted guest g1: parameter trusted reads Y, no bouncing" \
	test "$(guest g1 cat /sys/module/xen_netfront/parameters/trusted)/$(bounce_lines g1)" = Y/0
# Frontend behaviour: the suite runs it against one backend (XNT_BOUNCE_CHECKS=0 skips it,
# as the Rust pair's entry does).
if [ "${XNT_BOUNCE_CHECKS:-1}" = 1 ]; then
check "[$tag] guest g2 with an untrusted backend (vif option untrusted) answers" \
	start_guest g2 --queues "$q" --vif-extra untrusted
g2_up=$?
if [ $g2_up = 0 ]; then
	ip2=$(guest_ip g2)
	check "[$tag] untrusted: frontend key trusted reads 0, parameter trusted reads Y" \
		test "$(xs_read "$(fe_dir g2)/trusted")/$(guest g2 cat /sys/module/xen_netfront/parameters/trusted)" = 0/Y
	check "[$tag] untrusted: one 'bouncing transmitted data to zeroed pages' line in the kernel log" \
		test "$(bounce_lines g2)" = 1
	iperf_check "[$tag] untrusted: iperf3 guest->dom0 moves data" "$(guest_iperf g2 -t 2 -P 2)"
	iperf_check "[$tag] untrusted: iperf3 dom0->guest moves data" "$(guest_iperf g2 -t 2 -P 2 -R)"
	check "[$tag] untrusted: ping -s 60000 guest -> dom0 (IP fragments)" guest g2 ping -c 2 -W 5 -s 60000 "$XNT_DOM0_IP"
	check "[$tag] untrusted: ping -s 60000 dom0 -> guest (IP fragments)" ping -c 2 -W 5 -s 60000 "$ip2"
	guest g2 ethtool -S eth0 | awk -F': *' 'NF == 2 { gsub(/ /, "", $1); print $1, $2 }' | sort >/tmp/st-g2
	info "[$tag] untrusted: after the runs tx_packets $(stat_sum /tmp/st-g2 tx_packets), tx_dropped $(stat_sum /tmp/st-g2 tx_dropped), tx_gso_packets $(stat_of /tmp/st-g2 tx_gso_packets)"
	check "[$tag] untrusted: TSO still used (bounced GSO packets keep their GSO extra)" \
		test "$(stat_of /tmp/st-g2 tx_gso_packets)" -gt 0
	mac2=$(xs_read "$(fe_dir g2)/mac")
	guest g2 'echo N >/sys/module/xen_netfront/parameters/trusted'
	if timeout 60 xl network-detach g2 "$(guest_vif_devid g2)" >/tmp/detach.log 2>&1 &&
		timeout 60 xl network-attach g2 bridge=xenbr0 mac="$mac2" script="$XNT_VIF_SCRIPT" >>/tmp/detach.log 2>&1 &&
		xnt-agent wait "$ip2" --timeout 60 >/dev/null; then
		fe2=/local/domain/$(guest_domid g2)/device/vif/$(guest_vif_devid g2)
		check "[$tag] trusted=N: after a reconnect the key reads 1, the parameter N, and a second bouncing line" \
			test "$(xs_read "$fe2/trusted")/$(guest g2 cat /sys/module/xen_netfront/parameters/trusted)/$(bounce_lines g2)" = 1/N/2
		iperf_check "[$tag] trusted=N: iperf3 guest->dom0 moves data" "$(guest_iperf g2 -t 2)"
	else
		show </tmp/detach.log
		not_ok "[$tag] trusted=N: reconnect of g2" "$(tail -n 1 /tmp/detach.log)"
	fi
	check "[$tag] untrusted guest g2: kernel log clean" kernel_log_clean g2
fi
check "[$tag] xl destroy g2" destroy_guest g2
fi

# Fragments and jumbo frames.
check "[$tag] ping -s 60000 dom0 -> guest (IP fragments)" ping -c 2 -W 5 -s 60000 "$ip"
check "[$tag] ping -s 60000 guest -> dom0 (IP fragments)" guest g1 ping -c 2 -W 5 -s 60000 "$XNT_DOM0_IP"
ip link set xenbr0 mtu 9000 2>/dev/null
ip link set "vif$domid.0" mtu 9000
ip link set xenbr0 mtu 9000
check "[$tag] guest MTU 9000 accepted (scatter-gather)" guest g1 ip link set eth0 mtu 9000
check "[$tag] guest MTU reads 9000" test "$(guest g1 cat /sys/class/net/eth0/mtu)" = 9000
check "[$tag] ping 8972-byte payload dom0 -> guest at MTU 9000" ping -c 3 -W 5 -s 8972 "$ip"
check "[$tag] ping 8972-byte payload guest -> dom0 at MTU 9000" guest g1 ping -c 3 -W 5 -s 8972 "$XNT_DOM0_IP"
iperf_check "[$tag] iperf3 at MTU 9000 moves data" "$(guest_iperf g1 -t 2)"
guest g1 ip link set eth0 mtu 1500
ip link set "vif$domid.0" mtu 1500
ip link set xenbr0 mtu 1500

# Reconnect 1: detach/attach cycles under traffic: dom0 pings the guest, and the guest runs
# iperf3 in a loop (2 streams, the direction alternating, against a dom0 server that gives
# up on a stalled test after 3 s) so that each detach finds TX buffers granted and in
# flight, and RX buffers posted (with the C netback, grant-mapped TX pages still in use at
# the disconnect). Each run that moved data is logged in the guest.
cycles=${XNT_DETACH_CYCLES:-20}
ping -i 0.3 -q "$ip" >/tmp/bg-ping.log 2>&1 &
bgping=$!
iperf3 -s -D -p 5203 --rcv-timeout 3000 >/dev/null 2>&1
guest g1 "rm -f /tmp/bg-stop /tmp/bg-iperf.log; (n=0; while [ ! -e /tmp/bg-stop ]; do n=\$((n + 1)); r=; [ \$((n % 2)) = 0 ] && r=-R; timeout 10 iperf3 -c $XNT_DOM0_IP -p 5203 --connect-timeout 2000 -t 3 -P 2 \$r 2>&1 | grep -E '^.SUM.*receiver' >>/tmp/bg-iperf.log; sleep 0.3; done) </dev/null >/dev/null 2>&1 &"
failed_cycle=""
info "[$tag] detach/attach cycles start at $(date +%s)"
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
	[ $((i % 5)) = 0 ] && info "[$tag] detach/attach cycle $i done at $(date +%s)"
done
kill $bgping 2>/dev/null
guest g1 touch /tmp/bg-stop
nap 5
bg_runs=$(guest g1 cat /tmp/bg-iperf.log 2>/dev/null | awk '$0 ~ /[0-9.]+ [KMG]Bytes/ { for (i = 2; i <= NF; i++) if ($i ~ /^[KMG]Bytes$/ && $(i - 1) + 0 > 0) { n++; break } } END { print n + 0 }')
info "[$tag] iperf3 runs in the guest that moved data during the $cycles cycles: $bg_runs"
# A run that spans a detach fails (that is the point); a cycle with the Rust netback takes
# about 10 s, so about one run in two cycles completes: at least one per four cycles (and
# two) shows the loop kept running across them.
bg_want=$(( cycles / 4 > 2 ? cycles / 4 : 2 ))
check "[$tag] traffic ran across the cycles: >= $bg_want guest iperf3 runs moved data (got $bg_runs)" test "$bg_runs" -ge "$bg_want"
if [ -z "$failed_cycle" ]; then ok "[$tag] $cycles network-detach/attach cycles under iperf3, guest reachable after each"; else
	tail -n 30 "/var/log/xen/console/guest-g1.log" | show
	show </tmp/attach.log
	guest g1 dmesg | tail -n 30 | show
	not_ok "[$tag] $cycles network-detach/attach cycles under iperf3, guest reachable after each" "cycle $failed_cycle"
fi
iperf_check "[$tag] guest works after the cycles (iperf3 moves data)" "$(guest_iperf g1 -t 2)"

# Reconnect 2: the backend driver goes away and comes back, with another queue count.
reload_backend() { # reload_backend MAX_QUEUES
	local d dev vif
	for d in /sys/bus/xen-backend/drivers/vif/vif-*; do
		[ -e "$d" ] && echo "${d##*/}" >/sys/bus/xen-backend/drivers/vif/unbind
	done
	rmmod xen_netback || return 1
	load_backend "$XNT_BACKEND" "$1" || return 1
	# Act as the hotplug script would on a new backend device: put the new vif on the
	# bridge and report it connected.
	for _ in $(seq 50); do
		vif=$(ls /sys/class/net | grep "^vif$domid\\.") && break
		nap 0.2
	done
	[ -n "$vif" ] || return 1
	ip link set "$vif" master xenbr0 up
	dev=$(xenstore-list "/local/domain/0/backend/vif/$domid" | head -n 1)
	xenstore-write "/local/domain/0/backend/vif/$domid/$dev/hotplug-status" connected
}
nq_of() { xs_read "$(xenstore-read "/local/domain/0/backend/vif/$domid/$(xenstore-list /local/domain/0/backend/vif/$domid | head -n 1)/frontend")/multi-queue-num-queues"; }
reload_failed=""
ping -i 0.3 -q "$ip" >/tmp/bg-ping2.log 2>&1 &
bgping=$!
for i in 1 2 3 4 5; do
	want=$((i % 2 ? 2 : q))
	if ! reload_backend "$want" >/tmp/reload.log 2>&1; then reload_failed="$i (reload: $(tail -n 2 /tmp/reload.log | tr '\n' ' '))"; break; fi
	if ! xnt-agent wait "$ip" --timeout 60 >/dev/null || ! ping -c 2 -W 3 "$ip" >/dev/null; then
		reload_failed="$i (guest unreachable)"
		break
	fi
	got=$(nq_of)
	[ "$want" -le 1 ] && want_nq="" || want_nq=$want
	if [ "$got" != "$want_nq" ]; then reload_failed="$i (multi-queue-num-queues '$got', want '$want_nq')"; break; fi
	ch=$(guest g1 ethtool -l eth0 | awk '/^Combined:/ { v = $2 } END { print v }')
	if [ "$ch" != "$want" ]; then reload_failed="$i (ethtool -l combined $ch, want $want)"; break; fi
done
kill $bgping 2>/dev/null
if [ -z "$reload_failed" ]; then ok "[$tag] 5 backend reloads (max_queues 2/$q alternating): renegotiated, reachable"; else
	dmesg | tail -n 15 | show
	tail -n 30 "/var/log/xen/console/guest-g1.log" | show
	guest g1 dmesg | tail -n 30 | show
	not_ok "[$tag] 5 backend reloads (max_queues 2/$q alternating): renegotiated, reachable" "reload $reload_failed"
fi
iperf_check "[$tag] guest works after the reloads (iperf3 guest->dom0 moves data)" "$(guest_iperf g1 -t 2)"
# feature-no-csum-offload=1 in the frontend's directory (our netfront never writes the key,
# and leaves it alone): the backend reads it at the next connect (here after a reload) and
# keeps IPv4 checksum offload off on the vif, so dom0 completes checksums (C netback:
# read_xenbus_vif_flags / xenvif_fix_features); without the key it is on again.
fedir=$(xs_read "/local/domain/0/backend/vif/$domid/$(xenstore-list "/local/domain/0/backend/vif/$domid" | head -n 1)/frontend")
csum_v4() { ethtool -k "$(ls /sys/class/net | grep "^vif$domid\\." | head -n 1)" 2>/dev/null | awk '$1 == "tx-checksum-ipv4:" { print $2 }'; }
csum_before=$(csum_v4)
xenstore-write "$fedir/feature-no-csum-offload" 1
if reload_backend "$q" >/tmp/reload.log 2>&1 && xnt-agent wait "$ip" --timeout 60 >/dev/null; then
	csum_with=$(csum_v4)
	check "[$tag] feature-no-csum-offload=1: the vif's tx-checksum-ipv4 goes from '$csum_before' to off" \
		test "$csum_before" = on -a "$csum_with" = off
	iperf_check "[$tag] ... and dom0->guest TCP moves data (checksums computed in dom0)" "$(guest_iperf g1 -t 2 -R)"
else
	not_ok "[$tag] feature-no-csum-offload=1: backend reload" "$(tail -n 2 /tmp/reload.log | tr '\n' ' ')"
fi
xenstore-rm "$fedir/feature-no-csum-offload"
if reload_backend "$q" >/tmp/reload.log 2>&1 && xnt-agent wait "$ip" --timeout 60 >/dev/null; then
	check "[$tag] ... key removed: tx-checksum-ipv4 on again after a reload" test "$(csum_v4)" = on
else
	not_ok "[$tag] ... key removed: backend reload" "$(tail -n 2 /tmp/reload.log | tr '\n' ' ')"
fi
iperf_check "[$tag] guest works after the reloads (iperf3 dom0->guest moves data)" "$(guest_iperf g1 -t 2 -R)"
# One IRQ per event channel the frontend published for its queues now (2 per queue with
# split event-channel-tx/-rx, 1 with a shared event-channel), none left from the earlier
# connections.
bedir=/local/domain/0/backend/vif/$domid/$(xenstore-list "/local/domain/0/backend/vif/$domid" | head -n 1)
fenow=$(xs_read "$bedir/frontend")
want_irqs=$(fe_event_channels "$fenow" 2>&1)
guest g1 cat /proc/interrupts >/tmp/irq-guest-end
have_irqs=$(grep -cE 'vif[0-9]+-q[0-9]+' /tmp/irq-guest-end)
grep -E 'vif[0-9]+-q[0-9]+' /tmp/irq-guest-end | show
info "[$tag] frontend $fenow: $(xs_read "$fenow/multi-queue-num-queues") queue(s), $want_irqs event channel(s); guest vif IRQs: $have_irqs"
irqs_match() { [ -n "$fenow" ] && [ "$want_irqs" -gt 0 ] 2>/dev/null && [ "$have_irqs" -eq "$want_irqs" ]; }
check "[$tag] guest has exactly one vif IRQ per published event channel, none left over" irqs_match

# The end: leak check while connected, then unbind and unload. The vif goes away with the
# module, so the guest reports the unload and the final checks on its console.
check "[$tag] guest kernel log clean" kernel_log_clean g1
check "[$tag] guest kmemleak clean after the reconnects" guest_kmemleak_check g1
con=/var/log/xen/console/guest-g1.log
guest g1 touch /run/xnt-unload
for _ in $(seq 60); do grep -q XNT-UNLOAD-END "$con" && break; nap 1; done
grep XNT-UNLOAD "$con" | show
check "[$tag] guest: rmmod xen_netfront succeeds after unbinding" grep -q 'XNT-UNLOAD rmmod=0 loaded=0' "$con"
check "[$tag] guest: kmemleak clean after the unload" grep -q 'XNT-UNLOAD leaks=0' "$con"
# The guest's kernel messages reach its console (loglevel=7): from the unload on, no
# failure report or crash there, and none in the dmesg the guest printed.
# The guest reports every WARN/BUG/Call Trace line of its whole kernel log after the
# unload (XNT-UNLOAD-BAD); they are judged like any log, the known upstream reports
# (XNT_KNOWN_UPSTREAM_RE) left out and every other one failing.
unload_console_clean() {
	grep -q XNT-UNLOAD-END "$con" &&
		log_clean "$(sed -n '/XNT-UNLOAD rmmod=/,$p' "$con" | tr -d '\r' | sed 's/^XNT-UNLOAD-BAD //')"
}
check "[$tag] guest: no WARN/BUG/oops/lockdep report or crash after the unload" unload_console_clean
check "[$tag] xl destroy" destroy_guest g1
nap 2
check "[$tag] no vif netdev left in dom0" sh -c "! ip -o link | grep -q 'vif$domid\\.'"
check "[$tag] netback unloads" unload_backend
# dom0's kernel log and kmemleak: checked by the runner after every scenario (dom0-main.sh).
