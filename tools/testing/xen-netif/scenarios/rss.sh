# SPDX-License-Identifier: GPL-2.0
# Receive-side scaling through the netif control ring (issue 15; reference xen-netif.md
# 1.10, 1.11): the Rust netfront (XNT_FRONTEND=rust; the C netfront makes no control ring)
# against the netback of $XNT_BACKEND (C or Rust; both serve the control ring), with
# XNT_FE_QUEUES queues (4 in the suite; 3 at least, for queue 2). One guest, in order:
#  1. the control ring is set up (feature-ctrl-ring, ctrl-ring-ref, event-channel-ctrl)
#     and the netfront set Toeplitz: ethtool -x shows a 40-byte key and a table spread
#     over every queue;
#  2. `ethtool -X weight` with all weight on queue 2: the guest's per-queue RX counters
#     move on queue 2 alone (exactly 0 elsewhere) under 8 TCP flows, UDP, ping and an ARP
#     request, and HASH extras arrive there (q2_rx_hashed), for nearly every packet;
#  3. `ethtool -X equal`: the same 8 flows spread over more than one queue again;
#  4. `ethtool -X hkey` with Microsoft's RSS key: the hash the guest's stack sees on one
#     TCP flow with fixed ports (tracepoint net/napi_gro_receive_entry) is the Toeplitz
#     hash this scenario computes itself (dom0/toeplitz.sh, checked by harness-selftest.sh
#     against Microsoft's vectors), with l4_hash=1; ping gets the addresses-only hash with
#     l4_hash=0; the flow's packets arrive on the queue table[hash % size];
#  5. the Rust netback's own count of HASH extras (q<N>_rx_hash_extras on the vif) moved
#     on queue 2 alone in 2, by what the guest counted (the C netback has no such counter).
# Then the guest's kernel log and kmemleak, and a clean teardown.
# shellcheck source-path=SCRIPTDIR source=../dom0/toeplitz.sh
source /xnt/toeplitz.sh
q=$XNT_FE_QUEUES
tag="rss: rust netfront, $XNT_BACKEND netback"
# Microsoft's RSS verification key (also common/src/protocol/ctrl.rs's MS_KEY).
ms_key=6d:5a:56:da:25:5b:0e:c2:41:67:25:3d:43:a3:8f:b0:d0:ca:2b:cb:ae:7b:30:b4:77:cb:2d:a3:80:30:f2:0c:6a:42:b7:3b:be:ac:01:fa
# The queue that check 2 steers everything to, and the weights that do it (0 0 1 0).
steer=2
weight=()
for ((i = 0; i < q; i++)); do weight+=($((i == steer))); done
weights=${weight[*]}
# The fixed ports of check 4's flow: dom0's iperf3 server port, the guest client's port.
sport=5201 cport=47011

check "[$tag] $XNT_BACKEND netback loads (max_queues=$XNT_BE_QUEUES)" load_backend "$XNT_BACKEND" "$XNT_BE_QUEUES" || exit 1
check "[$tag] guest with the $XNT_FRONTEND netfront (max_queues=$q) answers" start_guest g1 --queues "$q" || exit 1
ip=$(guest_ip g1)
domid=$(guest_domid g1)
fe=$(fe_dir g1)
be=$(be_dir g1)
vif=vif$domid.$(guest_vif_devid g1)
iperf3 -s -D -p $sport >/dev/null 2>&1
check "[$tag] $q queues negotiated (multi-queue-num-queues)" test "$(xs_read "$fe/multi-queue-num-queues")" = "$q"

# gstats FILE: the guest's ethtool -S as sorted "name value" lines; bstats FILE: the same
# for its vif in dom0.
to_pairs() { awk -F': *' 'NF == 2 { gsub(/ /, "", $1); print $1, $2 }' | sort; }
gstats() { guest g1 ethtool -S eth0 | to_pairs >"$1"; }
bstats() { ethtool -S "$vif" 2>/dev/null | to_pairs >"$1"; }
# delta BEFORE AFTER NAME: how much counter NAME grew.
delta() { echo $(($(stat_of "$2" "$3") - $(stat_of "$1" "$3"))); }
# qdeltas BEFORE AFTER STAT: "q0:+N q1:+N ..." for qN_STAT.
qdeltas() {
	join "$1" "$2" | awk -v s="_$3" '$1 ~ "^q[0-9]+" s "$" { n = $1; sub(s "$", "", n); printf "%s:+%d ", n, $3 - $2 }'
}
# only_on_queue BEFORE AFTER STAT Q MIN: qQ_STAT grew by MIN or more, every other queue's
# qN_STAT by exactly 0.
only_on_queue() {
	echo "$3 growth per queue: $(qdeltas "$1" "$2" "$3")"
	join "$1" "$2" | awk -v s="_$3" -v want="q$4" -v min="$5" '
		$1 ~ "^q[0-9]+" s "$" { n++; name = $1; sub(s "$", "", name); d = $3 - $2
			if (name == want) { found = 1; if (d < min) bad = 1 } else if (d != 0) bad = 1 }
		END { exit !(found && n > 1 && !bad) }'
}
# ethtool -x output: rss_key TEXT (the key line), rss_table TEXT (the entries, in order).
rss_key() { awk 'k { print $1; exit } /^RSS hash key:/ { k = 1 }' <<<"$1"; }
rss_table() { awk '/^ *[0-9]+: / { for (i = 2; i <= NF; i++) printf "%s ", $i }' <<<"$1"; }
# table_spread ENTRIES N: every entry a queue below N, each of 0..N-1 in some entry.
table_spread() {
	local e i
	local -A seen=()
	[ -n "$1" ] || { echo "no indirection table"; return 1; }
	for e in $1; do
		if ! [[ $e =~ ^[0-9]+$ ]] || [ "$e" -ge "$2" ]; then echo "entry '$e' is not a queue below $2"; return 1; fi
		seen[$e]=1
	done
	for ((i = 0; i < $2; i++)); do [ -n "${seen[$i]}" ] || { echo "queue $i is in no entry"; return 1; }; done
}
# table_all ENTRIES Q: a table whose every entry is Q.
table_all() {
	[ -n "$1" ] || { echo "no indirection table"; return 1; }
	! tr ' ' '\n' <<<"$1" | grep -vx "$2" | grep -q . || { echo "entries other than $2: $1"; return 1; }
}
# rss_read: the guest's ethtool -x into $x, and shown in the log.
rss_read() {
	x=$(guest g1 ethtool -x eth0 2>&1)
	printf '%s\n' "$x" | show
}

# 1. The control ring and the netfront's initial Toeplitz setup.
xs_dump g1 | grep -E 'ctrl|feature-ctrl-ring' | show
check "[$tag] backend offers feature-ctrl-ring = 1" test "$(xs_read "$be/feature-ctrl-ring")" = 1
ctrl_keys() {
	local k
	for k in ctrl-ring-ref event-channel-ctrl; do
		xs_read "$fe/$k" | grep -qE '^[0-9]+$' || { echo "$fe/$k: '$(xs_read "$fe/$k")'"; return 1; }
	done
}
check "[$tag] frontend published ctrl-ring-ref and event-channel-ctrl" ctrl_keys
rss_read
check "[$tag] ethtool -x: a 40-byte hash key" grep -qxE '([0-9a-f]{2}:){39}[0-9a-f]{2}' <<<"$(rss_key "$x")"
check "[$tag] ethtool -x: hash function toeplitz on" has_lines "$x" '^[[:space:]]*toeplitz: on'
table=$(rss_table "$x")
check "[$tag] ethtool -x: an indirection table of $(wc -w <<<"$table") entries over queues 0-$((q - 1)), each in some entry" \
	table_spread "$table" "$q"

# 2. Everything steered to queue 2. With the table all 2, every packet goes there: the C
# netback picks mapping[hash % size] for every packet once Toeplitz is set
# (xenvif_select_queue), and a packet it does not hash (not IP, or a type not enabled)
# has its hash cleared (xenvif_set_skb_hash: skb_clear_hash), so hash 0 and entry 0,
# which is 2 too. So no slack: every other queue's RX counter must stay put. dom0's
# neighbour entry for the guest is deleted first, so that an ARP request (not IP, hash
# 0) crosses the vif in the window.
check "[$tag] ethtool -X eth0 weight $weights accepted" guest g1 ethtool -X eth0 weight "${weight[@]}"
rss_read
check "[$tag] weight $weights: ethtool -x shows every table entry = $steer" table_all "$(rss_table "$x")" $steer
nap 1
bstats /tmp/be0
gstats /tmp/fe0
ip neigh del "$ip" dev xenbr0 2>/dev/null
out_tcp=$(guest_iperf g1 -t 2 -P 8 -R)
out_udp=$(guest_iperf g1 -u -b 1M -t 1 -R)
ping -c 3 -i 0.2 -W 3 "$ip" >/tmp/ping2.log 2>&1
ping_rc=$?
gstats /tmp/fe1
bstats /tmp/be1
info "[$tag] dom0's neighbour entry for the guest after the traffic: $(ip neigh show "$ip" dev xenbr0)"
iperf_check "[$tag] weight $weights: iperf3 TCP, 8 flows dom0->guest moved data" "$out_tcp"
iperf_check "[$tag] weight $weights: iperf3 UDP dom0->guest moved data" "$out_udp" 32768
check "[$tag] weight $weights: ping dom0 -> guest" test $ping_rc = 0
{ echo "guest ethtool -S before / after (weight $weights):"; join /tmp/fe0 /tmp/fe1 | grep -E '^q[0-9]+_rx_(packets|hashed) '; } | show
check "[$tag] weight $weights: guest RX packets on queue $steer only (every other queue +0): $(qdeltas /tmp/fe0 /tmp/fe1 rx_packets)" \
	only_on_queue /tmp/fe0 /tmp/fe1 rx_packets $steer 100
check "[$tag] weight $weights: HASH extras received on queue $steer only (q${steer}_rx_hashed +$(delta /tmp/fe0 /tmp/fe1 q${steer}_rx_hashed))" \
	only_on_queue /tmp/fe0 /tmp/fe1 rx_hashed $steer 100
# Every packet of that traffic is IPv4 (TCP, UDP, ICMP) but the ARP exchange: at least 90%
# of them carried a HASH extra, and no more than all.
hashed=$(delta /tmp/fe0 /tmp/fe1 q${steer}_rx_hashed)
rxp=$(delta /tmp/fe0 /tmp/fe1 q${steer}_rx_packets)
check "[$tag] weight $weights: HASH extras on nearly every packet of queue $steer ($hashed of $rxp, want >= 90% and <= 100%)" \
	test "$rxp" -gt 0 -a $((hashed * 10)) -ge $((rxp * 9)) -a "$hashed" -le "$rxp"

# 5. The backend's count of the HASH extras it sent (Rust netback only), over the same
# window: the dom0 snapshots enclose the guest's (taken before it at the start, after it
# at the end), so the backend's growth is the guest's plus the few packets of the agent
# commands that read the guest's counters.
if [ "$XNT_BACKEND" = rust ]; then
	{ echo "vif $vif ethtool -S before / after (weight $weights):"; join /tmp/be0 /tmp/be1 | grep -E '^q[0-9]+_rx_(packets|hash_extras) '; } | show
	check "[$tag] weight $weights: backend sent HASH extras on queue $steer only: $(qdeltas /tmp/be0 /tmp/be1 rx_hash_extras)" \
		only_on_queue /tmp/be0 /tmp/be1 rx_hash_extras $steer 100
	be_h=$(delta /tmp/be0 /tmp/be1 q${steer}_rx_hash_extras)
	check "[$tag] weight $weights: backend's q${steer}_rx_hash_extras +$be_h matches the guest's q${steer}_rx_hashed +$hashed (within 5 below, 50 above)" \
		test "$be_h" -gt 0 -a "$be_h" -ge $((hashed - 5)) -a "$be_h" -le $((hashed + 50))
else
	skip "[$tag] weight $weights: backend's own count of HASH extras per queue" \
		"the C netback has no per-queue counters (its vif's ethtool -S has no q<N>_rx_hash_extras)"
fi

# 3. An equal spread again: the same 8 flows reach more than one queue. 8 flows all
# hashing to one of 4 queues: 4 * (1/4)^8, about 1 in 16000; a second round of 8 new
# flows makes a false failure about 1 in 270 million.
check "[$tag] ethtool -X eth0 equal $q accepted" guest g1 ethtool -X eth0 equal "$q"
rss_read
check "[$tag] equal $q: ethtool -x table over queues 0-$((q - 1)) again" table_spread "$(rss_table "$x")" "$q"
for round in 1 2; do
	gstats /tmp/fe2
	out_tcp=$(guest_iperf g1 -t 2 -P 8 -R)
	gstats /tmp/fe3
	[ "$(queues_moved /tmp/fe2 /tmp/fe3 rx_packets)" -ge 2 ] && break
done
{ echo "guest ethtool -S before / after (equal $q, round $round):"; join /tmp/fe2 /tmp/fe3 | grep -E '^q[0-9]+_rx_(packets|hashed) '; } | show
iperf_check "[$tag] equal $q: iperf3 TCP, 8 flows dom0->guest moved data" "$out_tcp"
info "[$tag] equal $q: RX packets $(qdeltas /tmp/fe2 /tmp/fe3 rx_packets); hashed $(qdeltas /tmp/fe2 /tmp/fe3 rx_hashed)"
check "[$tag] equal $q: 8 dom0->guest flows: RX packets on >= 2 queues ($(queues_moved /tmp/fe2 /tmp/fe3 rx_packets) queues moved by >= 100)" \
	test "$(queues_moved /tmp/fe2 /tmp/fe3 rx_packets)" -ge 2

# 4. A known key and one TCP flow with fixed ports: the hash the guest's stack sees
# (skb->hash, from the HASH extra) is the Toeplitz hash of the packet as the guest receives
# it: src = dom0 ($XNT_DOM0_IP:$sport, iperf3's server sending with -R), dst = the guest
# ($ip:$cport, iperf3's --cport). The Rust netfront hands packets to GRO
# (napi_gro_receive, netfront/rx.rs), whose tracepoint net/napi_gro_receive_entry prints
# hash and l4_hash; net/netif_receive_skb_entry (same format) is traced too, for a
# receive path without GRO. The flow's packets are its most frequent IPv4 L4 hash (the
# agent's and iperf3's control connections carry a few packets each). ping's echo
# requests carry the addresses-only (IPv4 type) hash with l4_hash=0.
check "[$tag] ethtool -X eth0 hkey <Microsoft's RSS key> accepted" guest g1 ethtool -X eth0 hkey "$ms_key"
rss_read
check "[$tag] hkey: ethtool -x shows the key set" test "$(rss_key "$x")" = "$ms_key"
read -r -a tab <<<"$(rss_table "$x")"
check "[$tag] hkey: the table of equal $q is kept" table_spread "${tab[*]}" "$q"
want4=$(toeplitz_flow "$ms_key" "$XNT_DOM0_IP" "$ip" "$sport" "$cport")
want3=$(toeplitz_flow "$ms_key" "$XNT_DOM0_IP" "$ip")
wantq=""
[ ${#tab[@]} -gt 0 ] && wantq=${tab[$((want4 % ${#tab[@]}))]}
info "[$tag] hkey: Toeplitz of $XNT_DOM0_IP:$sport -> $ip:$cport = $want4 (entry $(( ${#tab[@]} ? want4 % ${#tab[@]} : -1 )) of ${#tab[@]}: queue ${wantq:-?}); of $XNT_DOM0_IP -> $ip = $want3"
tr_events="napi_gro_receive_entry netif_receive_skb_entry"
# tracefs: the guest's init mounts debugfs, whose tracing/ directory is tracefs (mounted on
# first access); else /sys/kernel/tracing, mounted here. Looked up in each command.
tr_fs="t=/sys/kernel/debug/tracing; [ -e \$t/trace ] || t=/sys/kernel/tracing
[ -e \$t/trace ] || mount -t tracefs nodev \$t
[ -e \$t/trace ] || { echo 'no tracefs in the guest' >&2; exit 1; }"
tr_on="$tr_fs
echo 0 >\$t/tracing_on && echo >\$t/trace || exit 1
for e in $tr_events; do echo 1 >\$t/events/net/\$e/enable || exit 1; done
echo 1 >\$t/tracing_on"
# HASH PROTOCOL L4 per traced eth0 packet, counted: "COUNT HASH PROTOCOL L4_HASH" lines.
tr_off="$tr_fs
echo 0 >\$t/tracing_on
for e in $tr_events; do echo 0 >\$t/events/net/\$e/enable; done
sed -n 's/.* dev=eth0 .* protocol=\\(0x[0-9a-f]*\\) .* hash=\\(0x[0-9a-f]*\\) l4_hash=\\([01]\\) .*/\\2 \\1 \\3/p' \$t/trace | sort | uniq -c; echo >\$t/trace"
# The agent runs one line (it reads the command up to the first newline): one line each.
tr_on=${tr_on//$'\n'/; }
tr_off=${tr_off//$'\n'/; }
check "[$tag] hkey: tracepoints net/{$(tr ' ' , <<<"$tr_events")} enabled in the guest" guest g1 "$tr_on"
gstats /tmp/fe4
out_flow=$(guest_iperf g1 -t 2 -R --cport "$cport" -p "$sport")
ping -c 3 -i 0.2 -W 3 "$ip" >/tmp/ping4.log 2>&1
gstats /tmp/fe5
trace=$(guest g1 "$tr_off")
{ echo "traced eth0 packets (count hash protocol l4_hash):"; printf '%s\n' "$trace" | sort -rn | head -n 20; } | show
printf '%s\n' "$out_flow" | grep -E 'local .* connected|receiver' | show
iperf_check "[$tag] hkey: iperf3 TCP $XNT_DOM0_IP:$sport -> $ip:$cport moved data" "$out_flow"
check "[$tag] hkey: iperf3's data stream ran on guest port $cport to dom0 port $sport" \
	grep -qE "local $ip port $cport connected to $XNT_DOM0_IP port $sport" <<<"$out_flow"
flow_hash_seen() {
	local top
	top=$(awk '$3 == "0x0800" && $4 == 1 { print $1, $2 }' <<<"$trace" | sort -rn | head -n 1)
	printf '%s\n' "$trace"
	echo "most frequent IPv4 hash with l4_hash=1 (count hash): ${top:-none}; want $want4, >= 10 packets"
	[ "${top#* }" = "$want4" ] && [ "${top%% *}" -ge 10 ]
}
check "[$tag] hkey: the flow's packets reach the guest's stack with skb->hash $want4 (our Toeplitz), l4_hash=1" flow_hash_seen
l3_hash_seen() {
	printf '%s\n' "$trace"
	awk -v h="$want3" '$2 == h && $3 == "0x0800" && $4 == 0 { n += $1 }
		END { print n + 0, "packets with hash", h, "and l4_hash=0; want >= 3"; exit !(n >= 3) }' <<<"$trace"
}
check "[$tag] hkey: ping's echo requests reach the guest's stack with skb->hash $want3 (Toeplitz of the addresses), l4_hash=0" l3_hash_seen
# The flow's packets arrive on the queue its hash selects: its queue moved most (the
# agent's and ping's few packets go wherever their own hashes say), and by 50 or more.
flow_queue() {
	echo "rx_packets growth per queue: $(qdeltas /tmp/fe4 /tmp/fe5 rx_packets); want queue ${wantq:-?} first"
	[ -n "$wantq" ] || return 1
	join /tmp/fe4 /tmp/fe5 | awk -v want="q${wantq}_rx_packets" '
		$1 ~ /^q[0-9]+_rx_packets$/ { d = $3 - $2; if ($1 == want) w = d; else if (d > other) other = d }
		END { exit !(w >= 50 && w > other) }'
}
check "[$tag] hkey: the flow's packets arrive on queue ${wantq:-?} = table[hash % ${#tab[@]}]" flow_queue

# The end: the guest's health, then a clean teardown.
check "[$tag] guest kernel log clean" kernel_log_clean g1
check "[$tag] guest kmemleak clean after the control ring's use" guest_kmemleak_check g1
check "[$tag] xl destroy" destroy_guest g1
nap 2
check "[$tag] no vif netdev left in dom0" sh -c "! ip -o link | grep -q 'vif$domid\\.'"
check "[$tag] netback unloads" unload_backend
# dom0's kernel log and kmemleak: checked by the runner after every scenario (dom0-main.sh).
