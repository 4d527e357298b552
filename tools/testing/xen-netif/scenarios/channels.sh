# SPDX-License-Identifier: GPL-2.0
# ethtool -L on the Rust netfront against the netback of $XNT_BACKEND (C or Rust): the queue
# count changes at run time by a reconnect the frontend starts (Documentation/netfront.md,
# "Changing the queue count"). Under a ping from dom0 every 0.2 s: combined 1, then the
# maximum ($XNT_FE_QUEUES, 4 in the suite), then 2; after each, the frontend's XenStore
# directory (dom0's view) holds multi-queue-num-queues = N with queue-K/ keys for N > 1 or
# the flat keys for N = 1, both ends are Connected, the guest's ethtool -l and its real
# queue counts show N, iperf3 moves data, and the time until dom0's ping is answered again
# is measured (and bounded). Refused: 0, more than the maximum, rx/tx counts (EINVAL, no
# reconnect). Two requests at once (the second back to the count in effect) end at the
# second. Then the guest's kernel log and kmemleak, and a request followed at once by the
# vif's unbind and rmmod (remove while the change is pending or running): rmmod succeeds,
# no leak, no report; dom0's log and kmemleak are checked by the runner.
q=$XNT_FE_QUEUES
beq=$XNT_BE_QUEUES
max=$((beq < q ? beq : q))
tag="ethtool -L, $XNT_FRONTEND netfront, $XNT_BACKEND netback"
# The most a reconnect may take before the check fails (TCG with lockdep: a reconnect
# takes a few seconds; an xl network-detach/attach cycle 10-30 s).
bound=${XNT_CHANNELS_BOUND:-30}

check "[$tag] $XNT_BACKEND netback loads (max_queues=$beq)" load_backend "$XNT_BACKEND" "$beq" || exit 1
check "[$tag] guest with the $XNT_FRONTEND netfront (max_queues=$q) answers" start_guest g1 --queues "$q" || exit 1
ip=$(guest_ip g1)
fe=$(fe_dir g1)
be=$(be_dir g1)

# "MAX CUR" of the guest's ethtool -l (its "Combined:" lines: maximum, then current).
channels() { guest g1 ethtool -l eth0 | awk '/^Combined:/ { printf "%s ", $2 }'; }
switch_lines() { guest g1 dmesg | grep -c 'switching from [0-9]* to [0-9]* queue(s): reconnecting'; }
check "[$tag] ethtool -l before: maximum $max, current $max" test "$(channels)" = "$max $max "

# The XenStore layout for N queues, as pair-checks.sh checks it.
layout_ok() { # layout_ok N
	local n=$1 k i
	if [ "$n" = 1 ]; then
		for k in tx-ring-ref rx-ring-ref; do xs_read "$fe/$k" | grep -qE '^[0-9]+$' || { echo "no $k"; return 1; }; done
		xs_read "$fe/event-channel" | grep -qE '^[0-9]+$' ||
			{ xs_read "$fe/event-channel-tx" | grep -qE '^[0-9]+$' && xs_read "$fe/event-channel-rx" | grep -qE '^[0-9]+$'; } ||
			{ echo "no event channel key"; return 1; }
		! xenstore-exists "$fe/queue-0" 2>/dev/null || { echo "queue-0/ left"; return 1; }
	else
		for i in $(seq 0 $((n - 1))); do
			for k in tx-ring-ref rx-ring-ref; do xs_read "$fe/queue-$i/$k" | grep -qE '^[0-9]+$' || { echo "no queue-$i/$k"; return 1; }; done
			xs_read "$fe/queue-$i/event-channel" | grep -qE '^[0-9]+$' ||
				{ xs_read "$fe/queue-$i/event-channel-tx" | grep -qE '^[0-9]+$' &&
					xs_read "$fe/queue-$i/event-channel-rx" | grep -qE '^[0-9]+$'; } ||
				{ echo "no queue-$i event channel key"; return 1; }
		done
		! xenstore-exists "$fe/queue-$n" 2>/dev/null || { echo "queue-$n/ left"; return 1; }
		for k in tx-ring-ref rx-ring-ref event-channel event-channel-tx; do
			! xenstore-exists "$fe/$k" 2>/dev/null || { echo "flat $k left"; return 1; }
		done
	fi
}

: >/tmp/ch-times
iperf3 -s -D >/dev/null 2>&1
ping -D -i 0.2 -W 1 "$ip" >/tmp/ch-ping.log 2>&1 &
bgping=$!
nap 2

# switch N: ethtool -L combined N in the guest, then wait (up to $bound s) until XenStore
# shows N queues with both ends Connected and a ping from dom0 is answered. Writes
# "T0 T1 SECS" to /tmp/ch-sw (`check` runs it in a subshell): the epoch times before the
# ethtool call and at the answered ping, and the seconds between them.
switch() {
	local n=$1 out nq s sw_t0 sw_t1
	rm -f /tmp/ch-sw
	sw_t0=$(date +%s.%N)
	out=$(guest g1 ethtool -L eth0 combined "$n" 2>&1) || { echo "ethtool -L eth0 combined $n: $out"; return 1; }
	for _ in $(seq $((bound * 5))); do
		nq=$(xs_read "$fe/multi-queue-num-queues")
		s="$(xs_read "$be/state")/$(xs_read "$fe/state")"
		if [ "$nq" = "$n" ] && [ "$s" = 4/4 ] && ping -c 1 -W 1 "$ip" >/dev/null 2>&1; then
			sw_t1=$(date +%s.%N)
			awk -v a="$sw_t0" -v b="$sw_t1" 'BEGIN { printf "%s %s %.1f\n", a, b, b - a }' >/tmp/ch-sw
			return 0
		fi
		nap 0.2
	done
	echo "after ${bound} s: multi-queue-num-queues '$nq', states (be/fe) $s"
	return 1
}

# The longest silence of the background ping around a switch: the largest gap between two
# consecutive replies, the later one after t0, the earlier one before t1.
# rss_spread_over N: the guest's indirection table names exactly the queues 0..N-1 (both
# backends of the suite serve the control ring; the netfront configures RSS again once
# the backend is Connected, in xenwatch, so allow it 10 s).
rss_spread_over() {
	local want got i
	want=$(seq 0 $(($1 - 1)) | tr '\n' ' ')
	for ((i = 0; i < 20; i++)); do
		got=$(guest g1 ethtool -x eth0 2>&1 | awk '/^ *[0-9]+: / { for (k = 2; k <= NF; k++) print $k }' | sort -un | tr '\n' ' ')
		[ "$got" = "$want" ] && return 0
		sleep 0.5
	done
	echo "queues in the table: '$got', want '$want'"
	return 1
}
ping_gap() { # ping_gap T0 T1
	awk -v t0="$1" -v t1="$2" -F'[][]' '/bytes from/ { t = $2 + 0; if (p && t > t0 && p < t1 && t - p > g) g = t - p; p = t }
		END { printf "%.1f", g + 0 }' /tmp/ch-ping.log
}

prev=$max
switches=0
for n in 1 "$max" 2; do
	if [ "$n" = "$prev" ]; then continue; fi
	if ! check "[$tag] combined $prev -> $n: multi-queue-num-queues = $n, both Connected, ping answered within $bound s" switch "$n"; then
		xs_dump g1 | show
		guest g1 dmesg | tail -n 20 | show
		break
	fi
	switches=$((switches + 1))
	read -r sw_t0 sw_t1 sw_secs </tmp/ch-sw
	gap=$(ping_gap "$sw_t0" "$sw_t1")
	info "[$tag] combined $prev -> $n: reconnected and ping answered ${sw_secs} s after the ethtool call; longest gap between ping replies ${gap} s"
	echo "$prev->$n $sw_secs $gap" >>/tmp/ch-times
	xs_dump g1 | show
	if [ "$n" = 1 ]; then
		check "[$tag] $n queue: flat tx-ring-ref/rx-ring-ref/event-channel keys, no queue-N/" layout_ok "$n"
	else
		check "[$tag] $n queues: queue-0..$((n - 1))/ keys, none flat, no queue-$n/" layout_ok "$n"
	fi
	check "[$tag] $n queue(s): ethtool -l shows maximum $max, current $n" test "$(channels)" = "$max $n "
	check "[$tag] $n queue(s): the guest's eth0 has $n TX and $n RX queues" \
		test "$(guest g1 'ls /sys/class/net/eth0/queues | grep -c ^tx-; ls /sys/class/net/eth0/queues | grep -c ^rx-' | tr '\n' ' ')" = "$n $n "
	check "[$tag] $n queue(s): the RSS table (ethtool -x) is spread again over queues 0..$((n - 1))" rss_spread_over "$n"
	iperf_check "[$tag] $n queue(s): iperf3 guest->dom0 moves data" "$(guest_iperf g1 -t 2 -P 4)"
	iperf_check "[$tag] $n queue(s): iperf3 dom0->guest moves data" "$(guest_iperf g1 -t 2 -P 4 -R)"
	prev=$n
done
check "[$tag] one 'switching from A to B queue(s)' line in the guest log per switch ($switches)" \
	test "$(switch_lines)" = "$switches"
check "[$tag] ethtool -S still lists the counters of all $q queues" \
	test "$(guest g1 ethtool -S eth0 | grep -cE '^ *q[0-9]+_tx_packets:')" = "$q"

# Refusals: EINVAL from the ethtool core (checked against ethtool -l) or the driver, no
# reconnect, the count unchanged.
refused() { # refused ETHTOOL-ARGS...: fails, with EINVAL's message or the core's extack
	local out
	out=$(guest g1 ethtool -L eth0 "$@" 2>&1) && { echo "ethtool -L eth0 $* succeeded: $out"; return 1; }
	echo "$out"
	grep -qE 'Invalid argument|exceeds maximum|would result in no' <<<"$out"
}
before=$(switch_lines)
check "[$tag] combined $((max + 1)) (above the maximum $max) refused with EINVAL" refused combined $((max + 1))
check "[$tag] combined 0 refused with EINVAL" refused combined 0
check "[$tag] rx 1 (not combined) refused with EINVAL" refused rx 1
check "[$tag] tx 1 (not combined) refused with EINVAL" refused tx 1
nap 2
check "[$tag] after the refusals: no reconnect, still $prev queue(s) (XenStore, ethtool -l)" \
	test "$(switch_lines)/$(xs_read "$fe/multi-queue-num-queues")/$(channels)" = "$before/$prev/$max $prev "

# Two requests in one guest command, the second back to the count in effect: the pending
# one is replaced (ethtool -l shows it, so the second is not dropped as "no change"), and
# the device ends at the second count, connected.
other=$((prev == max ? 1 : max))
both() {
	guest g1 "ethtool -L eth0 combined $other && ethtool -L eth0 combined $prev" || return 1
	for _ in $(seq $((bound * 5))); do
		[ "$(xs_read "$fe/multi-queue-num-queues")/$(xs_read "$be/state")/$(xs_read "$fe/state")" = "$prev/4/4" ] &&
			[ "$(channels)" = "$max $prev " ] && ping -c 1 -W 1 "$ip" >/dev/null 2>&1 && return 0
		nap 0.2
	done
	echo "multi-queue-num-queues $(xs_read "$fe/multi-queue-num-queues"), ethtool -l $(channels)"
	return 1
}
check "[$tag] combined $other then $prev at once: ends with $prev queue(s), connected, ping answered" both
iperf_check "[$tag] after the double request: iperf3 guest->dom0 moves data" "$(guest_iperf g1 -t 2 -P 4)"

kill $bgping 2>/dev/null
wait $bgping 2>/dev/null
tail -n 3 /tmp/ch-ping.log | show
info "[$tag] reconnect times (switch, seconds to answered ping, longest ping gap): $(tr '\n' ';' </tmp/ch-times 2>/dev/null)"
rm -f /tmp/ch-times

check "[$tag] guest kernel log clean" kernel_log_clean g1
check "[$tag] guest kmemleak clean after the switches" guest_kmemleak_check g1

# Remove during a change: a request, then at once the unbind of the vif and rmmod (the
# guest's init does both when /run/xnt-unload appears, within a second, and reports on its
# console: the network, and the agent with it, is gone by then). Remove disables the
# deferred work (cancelled if pending, waited for if running) and closes from whatever
# state the reconnect reached.
# The agent's answer may never get out (the reconnect, then the unbind, take the network
# away): the command is judged by the console report, which `&&` makes depend on the
# ethtool call's success.
con=/var/log/xen/console/guest-g1.log
XNT_GUEST_TIMEOUT=15 guest g1 "ethtool -L eth0 combined $other && touch /run/xnt-unload" >/dev/null 2>&1
for _ in $(seq 90); do grep -q XNT-UNLOAD-END "$con" && break; nap 1; done
grep -aE 'switching from|connected to backend|remove device|XNT-UNLOAD' "$con" | tail -n 8 | show
check "[$tag] guest: combined $other, then at once unbind: rmmod xen_netfront succeeds" grep -q 'XNT-UNLOAD rmmod=0 loaded=0' "$con"
check "[$tag] guest: kmemleak clean after the unload" grep -q 'XNT-UNLOAD leaks=0' "$con"
unload_console_clean() {
	grep -q XNT-UNLOAD-END "$con" &&
		log_clean "$(sed -n '/XNT-UNLOAD rmmod=/,$p' "$con" | tr -d '\r' | sed 's/^XNT-UNLOAD-BAD //')"
}
check "[$tag] guest: no WARN/BUG/oops/lockdep report or crash after the unload" unload_console_clean
check "[$tag] xl destroy" destroy_guest g1
nap 2
check "[$tag] netback unloads" unload_backend
# dom0's kernel log and kmemleak: checked by the runner after every scenario (dom0-main.sh).
