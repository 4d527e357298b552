# SPDX-License-Identifier: GPL-2.0
# The Rust netback with guests of both frontends connected at once: a C-netfront guest
# (max_queues 2) and a Rust-netfront guest (max_queues 4), the second started while the
# first carries traffic, in both orders; each negotiates its own queue count and both move
# data at the same time. Then the netback module is reloaded under ping with both guests
# connected (its devices unbound, then rmmod): the old backend leaves the states alone and
# sends the offline uevent, the new one picks both guests up again without a
# detach/attach (C's allow_rebind).
q=4
tag="rust netback, c + rust netfronts"
check "[$tag] Rust netback loads (max_queues=$q)" load_backend rust "$q" || exit 1
iperf3 -s -D -p 5201 >/dev/null 2>&1
iperf3 -s -D -p 5202 >/dev/null 2>&1
nap 1

# vif_tx_queues NAME: the TX queues the guest's vif has in dom0 (real_num_tx_queues).
vif_tx_queues() {
	ls -d "/sys/class/net/vif$(guest_domid "$1").0/queues/tx-"* 2>/dev/null | wc -l
}

# queues_agree NAME FRONTEND WANT: the guest's frontend published WANT queues (the flat
# layout for 1), and its vif in dom0 has WANT TX queues.
queues_agree() {
	local n fe
	fe=$(fe_dir "$1")
	n=$(xs_read "$fe/multi-queue-num-queues")
	info "[$tag] $1 ($2 netfront): multi-queue-num-queues '${n}', vif TX queues $(vif_tx_queues "$1")"
	[ "${n:-1}" = "$3" ] && [ "$(vif_tx_queues "$1")" = "$3" ]
}

# both_at_once A B: iperf3 from both guests to dom0 at the same time (guest A on port
# 5201, B on 5202), then each checked for bytes moved.
both_at_once() {
	guest_iperf "$1" -p 5201 -t 4 >"/tmp/mix-$1.out" &
	local pa=$!
	guest_iperf "$2" -p 5202 -t 4 >"/tmp/mix-$2.out" &
	wait "$pa" $!
	iperf_check "[$tag] $1 and $2 at once: $1 moved data" "$(cat "/tmp/mix-$1.out")"
	iperf_check "[$tag] $1 and $2 at once: $2 moved data" "$(cat "/tmp/mix-$2.out")"
}

# mixed_order FIRST FIRST_FE FIRST_Q SECOND SECOND_FE SECOND_Q: starts FIRST, then SECOND
# while FIRST sends to dom0 (a 40 s iperf3 that must end with data moved), checks both
# queue counts and both at once, and destroys both.
mixed_order() {
	local a=$1 afe=$2 aq=$3 b=$4 bfe=$5 bq=$6 pid
	check "[$tag] $a ($afe netfront, max_queues $aq) answers" start_guest "$a" --frontend "$afe" --queues "$aq" || return 1
	XNT_IPERF_TIMEOUT=120 guest_iperf "$a" -p 5201 -t 40 >"/tmp/mix-$a-long.out" &
	pid=$!
	nap 2
	check "[$tag] $b ($bfe netfront, max_queues $bq) answers, started while $a sends" start_guest "$b" --frontend "$bfe" --queues "$bq"
	wait "$pid"
	iperf_check "[$tag] $a's 40 s iperf3 across $b's start moved data" "$(cat "/tmp/mix-$a-long.out")"
	check "[$tag] $a negotiated $aq queue(s), on both sides" queues_agree "$a" "$afe" "$aq"
	check "[$tag] $b negotiated $bq queue(s), on both sides" queues_agree "$b" "$bfe" "$bq"
	both_at_once "$a" "$b"
}

mixed_order m1 c 2 m2 rust 4
destroy_guest m1
destroy_guest m2
nap 2
mixed_order m3 rust 4 m4 c 2

# The reload, with m3 (Rust netfront) and m4 (C netfront) connected and pinged from dom0.
# udev, when the toolstack leaves the hotplug scripts to it (run_hotplug_scripts=0), runs
# the vif script on the backend devices' uevents: offline when a backend is removed,
# online when one is probed. No udevd runs here: udevadm shows the uevents, and the
# scenario runs the script for the online step as the xen-backend rule would.
uev=/tmp/mix-uevents.log
udevadm monitor --kernel --subsystem-match=xen-backend >"$uev" 2>&1 &
upid=$!
d3=$(guest_domid m3)
d4=$(guest_domid m4)
ping -i 0.5 "$(guest_ip m3)" >/tmp/mix-ping-m3.log 2>&1 &
p3=$!
ping -i 0.5 "$(guest_ip m4)" >/tmp/mix-ping-m4.log 2>&1 &
p4=$!
nap 2
# A bound xenbus device holds a reference on its driver's module (with the C netback
# too): unbinding the devices is what removes the backends; rmmod follows.
check "[$tag] unbind both backend devices from the netback" \
	sh -c "echo vif-$d3-0 >/sys/bus/xen-backend/drivers/vif/unbind && echo vif-$d4-0 >/sys/bus/xen-backend/drivers/vif/unbind"
check "[$tag] rmmod xen_netback with both guests connected" unload_backend
nap 2
for g in m3 m4; do
	d=$(guest_domid "$g")
	check "[$tag] after the unload: $g's backend and frontend states stay Connected (4)" \
		test "$(xs_read "$(be_dir "$g")/state")/$(xs_read "$(fe_dir "$g")/state")" = 4/4
	check "[$tag] after the unload: the offline uevent of vif-$d-0 was sent" \
		grep -qE "offline +/devices/vif-$d-0 \(xen-backend\)" "$uev"
	check "[$tag] after the unload: no vif$d.0 in dom0" test ! -e "/sys/class/net/vif$d.0"
done
check "[$tag] the Rust netback loads again" load_backend rust "$q"
for g in m3 m4; do
	d=$(guest_domid "$g")
	check "[$tag] reload: vif$d.0 is back" sh -c "for i in \$(seq 60); do [ -e /sys/class/net/vif$d.0 ] && exit 0; sleep 0.5; done; exit 1"
	check "[$tag] reload: the online uevent of vif-$d-0 was sent" \
		sh -c "for i in \$(seq 20); do grep -qE 'online +/devices/vif-$d-0 \(xen-backend\)' $uev && exit 0; sleep 0.5; done; exit 1"
	check "[$tag] reload: the vif script's online step for vif$d.0" \
		env vif="vif$d.0" XENBUS_PATH="$(be_dir "$g")" "$XNT_VIF_SCRIPT" online
done
for g in m3 m4; do
	check "[$tag] reload: $g's backend reaches Connected again" \
		sh -c "for i in \$(seq 120); do [ \"\$(xenstore-read $(be_dir "$g")/state 2>/dev/null)\" = 4 ] && exit 0; sleep 0.5; done; exit 1"
	check "[$tag] reload: $g answers ping again" sh -c "ping -c 1 -W 1 -w 60 $(guest_ip "$g") >/dev/null"
done
kill -INT "$p3" "$p4" 2>/dev/null
kill "$upid" 2>/dev/null
wait "$p3" "$p4" "$upid" 2>/dev/null
for g in m3 m4; do
	info "[$tag] ping to $g across the reload: $(grep -E 'packets transmitted' "/tmp/mix-ping-$g.log")"
done
show <"$uev"
check "[$tag] reload: no detach/attach: $d3 and $d4 still have vif 0 only" \
	test "$(xenstore-list "/local/domain/$d3/device/vif" 2>/dev/null | tr '\n' ' ')/$(xenstore-list "/local/domain/$d4/device/vif" 2>/dev/null | tr '\n' ' ')" = "0 /0 "
check "[$tag] after the reload: m3 negotiated 4 queues, on both sides" queues_agree m3 rust 4
check "[$tag] after the reload: m4 negotiated 2 queues, on both sides" queues_agree m4 c 2
both_at_once m3 m4
for g in m3 m4; do
	check "[$tag] $g's kernel log clean" kernel_log_clean "$g"
done
check "[$tag] m3 kmemleak clean (Rust netfront, reconnected by the reload)" guest_kmemleak_check m3
destroy_guest m3
destroy_guest m4
nap 2
check "[$tag] rmmod xen_netback after the guests are gone" unload_backend
