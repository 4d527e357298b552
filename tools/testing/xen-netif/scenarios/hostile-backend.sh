# SPDX-License-Identifier: GPL-2.0
# Hostile backend against the netfronts (issue 17): dom0 runs xnt-hostile-be as the
# backend of a fresh vif of a guest, one mode per vif, against each netfront of
# $XNT_HBE_FRONTENDS (default "rust c") in this one boot, and prints the comparison table.
#
# Each guest boots with one queue and the netfront under test; its vif 0 is served by the
# kernel netback ($XNT_BACKEND): it carries the agent that runs the guest's side of the
# checks. Then dom0's xen-backend bus stops autoprobing, so the vifs added next (by
# writing XenStore as libxl does, vif_add --user-backend) stay unclaimed by the netback
# and xnt-hostile-be plays their backend: it offers its features, connects the guest's
# netfront, consumes its TX requests and answers ARP and ICMP echo requests for a fake
# host (10.98.0.1, routed to that vif in the guest) by writing into the RX buffers the
# netfront posted, correctly ("correct": `ping` from the guest works, both directions over
# real rings) or with the mode's one bad answer (a frontend row of the reference's table,
# section 5.3). For each mode the guest pings the fake host (3 echoes), and the scenario
# judges the netfront's reaction from the guest's side: its console since the vif came
# (kernel messages at loglevel 7), the echoes answered, the device's rx_errors. Then the
# vif is removed as libxl does (vif_remove): the backend must reach Closed, the guest's
# device must go, the tool must end, and the console must hold no failure report.
#
# Reactions: works (every echo answered, no rx_errors), dropped (the bad packet dropped
# and counted in rx_errors, later echoes answered), broken (the device disabled: one of
# the netfronts' "disabled" lines in the console), stalled (no echo answered, no error:
# the TX ring filled up), refused (the frontend never connected), lossy (echoes lost, no
# error counted: always a finding), crashed (the guest's kernel died: a BUG, an oops, a
# panic, or an agent that no longer answers). A guest that crashed, or whose device
# removal hung (the device still there 40 s after the vif went: the guest's xenwatch
# thread is stuck with it, and no later vif would be probed), is replaced by a fresh one
# for the next modes. The Rust netfront is held to the expected reaction of
# each mode (xnt-hostile-be list); the C netfront's is shown next to it.
#
# After the modes of a frontend: autoprobing on again, a fresh vif served by the netback
# must pass traffic (a separate subnet, so the echoes must come through that device), the
# netfront must unload (the guest unbinds every vif and rmmods it: the agent goes with
# it, the report comes on the console), and the whole console must be clean.
#
# XNT_HBE_ONLY="mode ..." (or "mode,mode") limits the run to those modes;
# XNT_HBE_FRONTENDS="rust c" (or "rust,c") chooses the netfronts; XNT_HBE_DEBUG=1 shows
# the tool's whole log, the guest's probe output and its console for every mode.

XNT_HBE_ONLY=${XNT_HBE_ONLY//,/ }
XNT_HBE_FRONTENDS=${XNT_HBE_FRONTENDS:-rust c}
XNT_HBE_FRONTENDS=${XNT_HBE_FRONTENDS//,/ }
HBE_IP=10.98.0.1
HBE_MAC=02:58:4e:54:00:01
HBE_LIST=/xnt/hostile-be-list.txt
AUTOPROBE=/sys/bus/xen-backend/drivers_autoprobe
# The fresh vif's own subnet: only that device has an address in it.
FRESH_GUEST_IP=10.97.0.2
FRESH_DOM0_IP=10.97.0.1
# The one-line message the grant table prints when a grant is still mapped at the end of
# access (the keep-mapped modes do that on purpose): a pr_warn, not a failure report.
GNT_IN_USE_RE='xen:grant_table: WARNING: g\.e\. 0x[0-9a-f]+ still in use!'
# The lines that say a netfront disabled its device (C: "Disabled for further use", and
# "Illegal number of responses" alone on RX; Rust: "...; device disabled").
BROKEN_RE='Disabled for further use|device disabled|Illegal number of responses|RX producer index going backwards'

declare -A expect row
sel=""
while read -r n r e _; do
	[ -n "$n" ] || continue
	expect[$n]=$e
	row[$n]=$r
	case " ${XNT_HBE_ONLY:-$n} " in *" $n "*) sel="$sel $n" ;; esac
done <"$HBE_LIST"
nsel=$(wc -w <<<"$sel")
missing=""
for n in $XNT_HBE_ONLY; do [ -n "${expect[$n]+x}" ] || missing="$missing $n"; done
nfe=$(wc -w <<<"$XNT_HBE_FRONTENDS")
nrust=0
case " $XNT_HBE_FRONTENDS " in *" rust "*) nrust=1 ;; esac
# Per frontend: the guest, the fresh vif, the unload; for Rust per mode a reaction and a
# clean-removal check, the XSA-403 check and the last guest's console (the C netfront's
# reactions, removals and consoles are info lines); plus the selection check.
plan $((1 + nfe * 3 + nrust * (2 * nsel + 2)))
info "hostile backend: modes selected:$sel; frontends: $XNT_HBE_FRONTENDS; netback for vif 0: $XNT_BACKEND"
check "hostile backend: the tool's list holds every mode asked for (selected $nsel)" \
	test "$nsel" -gt 0 -a -z "$missing"

# has TEXT FILE: FILE holds TEXT (no process).
has() { [[ $(<"$2") == *"$1"* ]]; }

# field NAME TEXT: the value of NAME=VALUE in TEXT.
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2" | head -n 1; }

# guest_script NAME SCRIPT: runs a multi-line sh SCRIPT in the guest (the agent takes one
# line: the script travels base64-encoded).
guest_script() {
	guest "$1" "echo $(base64 -w0 <<<"$2") | base64 -d | sh"
}

# The guest's lines that find the device of vif $1 (in $e), waiting up to 15 s.
find_dev() {
	cat <<EOF
e=""; i=0
while [ -z "\$e" ] && [ \$i -lt 60 ]; do
	for d in /sys/class/net/eth*; do
		l=\$(readlink "\$d/device" 2>/dev/null)
		[ "\${l##*/}" = vif-$1 ] && e=\${d##*/}
	done
	[ -n "\$e" ] || { sleep 0.25; i=\$((i + 1)); }
done
EOF
}

# The guest's part of a mode: find the device of vif DEVID, route the fake host to it, ping
# it, and print what happened (one guest call: each costs a process or two there).
guest_probe() {
	local devid=$1 mode=$2 pingcmd
	case $mode in
	tx-never-answer)
		# Enough packets to fill the TX ring (256 slots), with the neighbour known, as
		# the backend answers no ARP either.
		pingcmd="arp -i \$e -s $HBE_IP $HBE_MAC; ping -q -c 400 -i 0.01 -s 64 -w 15 $HBE_IP"
		;;
	*) pingcmd="ping -c 3 -W 2 -w 9 $HBE_IP" ;;
	esac
	find_dev "$devid"
	cat <<EOF
[ -n "\$e" ] || { echo "eth=none"; exit 0; }
s=/sys/class/net/\$e/statistics
ip link set "\$e" up
ip route replace $HBE_IP/32 dev "\$e"
echo "eth=\$e before rx_errors=\$(cat \$s/rx_errors) rx_packets=\$(cat \$s/rx_packets) tx_packets=\$(cat \$s/tx_packets)"
$pingcmd
echo "ping_rc=\$?"
echo "after rx_errors=\$(cat \$s/rx_errors) rx_packets=\$(cat \$s/rx_packets) tx_packets=\$(cat \$s/tx_packets) tx_dropped=\$(cat \$s/tx_dropped) carrier=\$(cat /sys/class/net/\$e/carrier 2>/dev/null)"
grep -E "\$e|vif$devid|vif-$devid" /proc/interrupts | sed 's/^/irq /'
EOF
}

# hbe_one FE MODE DEVID NAME: one mode on a fresh vif of guest NAME (running the FE
# netfront); writes "MODE REACTION CLEAN(0|1) NOTE" to /tmp/hbe-result, the details through
# show, and, when the mode left the guest unusable (crashed, or its device's removal
# hung), the reason to /tmp/hbe-dead.
hbe_one() {
	local fe=$1 mode=$2 devid=$3 name=$4 domid mac con off log pid out r clean=1 why=""
	domid=$(guest_domid "$name")
	mac=$(printf '00:16:3e:42:%02x:%02x' "$((devid / 256))" "$((devid % 256))")
	con=/var/log/xen/console/guest-$name.log
	off=$(stat -c %s "$con" 2>/dev/null || echo 0)
	log=/tmp/hbe-$fe-$mode.log
	local t0=$SECONDS tc tp tr
	case $mode in *keep-mapped) expect_message "$GNT_IN_USE_RE" ;; esac
	if ! vif_add "$domid" "$devid" "$mac" --user-backend >/tmp/hbe-attach 2>&1; then
		show </tmp/hbe-attach
		echo "$mode attach-failed 0 vif_add" >/tmp/hbe-result
		return
	fi
	xnt-hostile-be run --domid "$domid" --devid "$devid" --mode "$mode" --ip "$HBE_IP" \
		--mac "$HBE_MAC" --timeout 240 >"$log" 2>&1 &
	pid=$!
	# Connected, refused by either side (the backend follows a frontend that closes), or
	# the tool gone. state-flap closes on purpose and may connect later: 20 s for that.
	local waits=120 closing="XNTB-STATE backend=5"
	[ "$mode" = state-flap ] && waits=40 closing=XNTB-NEVER
	for _ in $(seq $waits); do
		has XNTB-CONNECTED "$log" || has XNTB-REFUSED "$log" || has XNTB-ERROR "$log" ||
			has "$closing" "$log" || {
			kill -0 $pid 2>/dev/null && { nap 0.5; continue; }
		}
		break
	done
	tc=$((SECONDS - t0))
	out="eth=none (no connection)"
	if has XNTB-CONNECTED "$log"; then
		out=$(XNT_GUEST_TIMEOUT=60 guest_script "$name" "$(guest_probe "$devid" "$mode")" 2>&1)
	fi
	tp=$((SECONDS - t0))
	local eth tx rx rxerr0 rxerr1 carrier
	eth=$(field eth "$out")
	tx=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' <<<"$out")
	rx=$(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' <<<"$out")
	rxerr0=$(field rx_errors "$(grep '^eth=' <<<"$out")")
	rxerr1=$(field rx_errors "$(grep '^after ' <<<"$out")")
	carrier=$(field carrier "$out")
	# Removal as the toolstack does it; the tool ends when the frontend closed.
	local closed rc gone
	closed=$(vif_remove "$domid" "$devid" 2>&1)
	rc=$?
	for _ in $(seq 60); do kill -0 $pid 2>/dev/null || break; nap 0.5; done
	if kill -0 $pid 2>/dev/null; then
		kill $pid
		clean=0
		why="$why tool-still-running"
	fi
	wait $pid
	tr=$((SECONDS - t0))
	# Is the guest still there (its agent answers)?
	local alive=1
	xnt-agent exec "$(guest_ip "$name")" --timeout 15 -- true >/dev/null 2>&1 || alive=0
	if [ "${eth:-none}" != none ] && [ $alive = 1 ]; then
		# 10 s for the device to go; 30 s more before calling its removal hung (the
		# guest's xenwatch thread, which removes devices, is then stuck with it).
		gone=$(XNT_GUEST_TIMEOUT=60 guest "$name" "i=0; while [ -e /sys/class/net/$eth ] && [ \$i -lt 40 ]; do sleep 0.25; i=\$((i + 1)); done; [ -e /sys/class/net/$eth ] && echo left || echo gone")
		if [ "$gone" = left ]; then
			gone=$(XNT_GUEST_TIMEOUT=60 guest "$name" "i=0; while [ -e /sys/class/net/$eth ] && [ \$i -lt 30 ]; do sleep 1; i=\$((i + 1)); done; [ -e /sys/class/net/$eth ] && echo hung || echo late")
		fi
		case "$gone" in
		gone) ;;
		late) clean=0; why="$why $eth-removed-late" ;;
		hung)
			clean=0
			why="$why $eth-removal-hung"
			echo "the removal of its device hung in $mode" >/tmp/hbe-dead
			# Where the guest's xenwatch thread (which removes devices) is stuck.
			# shellcheck disable=SC2016 # expanded in the guest
			XNT_GUEST_TIMEOUT=30 guest "$name" 'for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = xenwatch ] && { echo "xenwatch $(cat $p/wchan 2>/dev/null):"; cat $p/stack; }; done' 2>&1 |
				head -n 30 | sed 's/^/guest: /' | show
			;;
		*) clean=0; why="$why $eth-${gone:-unknown}" ;;
		esac
	fi
	if [ $rc -ne 0 ] || [ "$closed" != closed ]; then
		clean=0
		why="$why removal:${closed// /-}"
	fi
	has "XNTB-END ok" "$log" || { clean=0; why="$why tool-error"; }
	local new found
	new=$(tail -c +"$((off + 1))" "$con" 2>/dev/null)
	if ! found=$(log_clean "$new"); then
		printf '%s\n' "$found" | show
		clean=0
		why="$why console"
	fi
	# The reaction. A guest that died (a kernel BUG, oops or panic on its console, or its
	# agent silent) crashed, whatever else it showed.
	if [ $alive = 0 ] || grep -qaE 'Kernel panic|kernel BUG at|Oops|general protection fault' <<<"$new"; then
		r=crashed
		[ $alive = 1 ] || why="$why guest-dead"
		echo "it crashed in $mode" >/tmp/hbe-dead
	elif ! has XNTB-CONNECTED "$log"; then
		r=refused
	elif grep -qaE "$BROKEN_RE" <<<"$new"; then
		r=broken
	elif [ "${rx:-0}" -eq 0 ]; then
		r=stalled
	elif [ "${rxerr1:-0}" -gt "${rxerr0:-0}" ]; then
		r=dropped
	elif [ "${rx:-0}" -lt "${tx:-0}" ]; then
		r=lossy
	else
		r=works
	fi
	{
		local sum
		sum=$(grep -a '^XNTB-SUMMARY' "$log")
		echo "[$fe] $mode: reaction $r; guest: eth=${eth:-none} echoes ${rx:-?}/${tx:-?} rx_errors ${rxerr0:-?}->${rxerr1:-?} carrier=${carrier:-?}; tool: tx requests left unanswered $(field tx_unanswered "$sum"), echo replies $(field echo_replies "$sum"), grants kept mapped $(field kept_mapped "$sum"); removal: $closed; seconds: connected $tc, probed $tp, removed $tr"
		grep -aE '^XNTB-(START|CONNECTED|REFUSED|HOSTILE|FRONTEND|TX-DROP|MAP-FAILED|RX-STALE|SUMMARY|ERROR|TIMEOUT)' "$log" | head -n 12
		grep -aE '^irq ' <<<"$out"
		grep -aE "$BROKEN_RE|rx->offset|Missing extra|Invalid extra|extra info|Need more slots|Too many slots|GSO|Bad rx|dropping RX|still in use|queues|xen-netfront|xen_netfront|netfront" <<<"$new" | head -n 8
	} | show
	if [ -n "$XNT_HBE_DEBUG" ]; then
		{
			echo "--- tool log:"
			cat "$log"
			echo "--- guest probe:"
			printf '%s\n' "$out"
			echo "--- guest console since the vif came:"
			printf '%s\n' "$new" | tail -n 60
		} | show
	fi
	# XSA-403: every RX buffer the tool wrote, it read first (zeroed, or stale data).
	local summary
	summary=$(grep -a '^XNTB-SUMMARY' "$log")
	echo "$(field rx_pages "$summary") $(field rx_pages_stale "$summary")" >>"/tmp/hbe-xsa403-$fe"
	echo "$mode $r $clean ${why:- -}" >/tmp/hbe-result
}

# xsa403_total FE: "PAGES STALE" summed over the modes run against FE.
xsa403_total() {
	awk '{ p += $1; s += $2 } END { print p + 0, s + 0 }' "/tmp/hbe-xsa403-$1" 2>/dev/null
}

# The fresh vif at the end: served by the netback (autoprobe on again), given an address
# of its own subnet in the guest (arp_ignore 1: only that device answers for it), it must
# carry 3 echoes both ways through that very device (its packet counters move).
hbe_fresh() {
	local name=$1 devid=$2 domid out rc
	domid=$(guest_domid "$name")
	echo 1 >"$AUTOPROBE"
	vif_add "$domid" "$devid" 00:16:3e:42:ff:ff || return 1
	ip addr add "$FRESH_DOM0_IP/24" dev xenbr0
	out=$(XNT_GUEST_TIMEOUT=60 guest_script "$name" "$(find_dev "$devid")
[ -n \"\$e\" ] || { echo 'no device for vif-$devid'; exit 1; }
# The guest's init gives every new device the guest's address (10.99.0.x): wait until it
# did, then take it away, so that only the fresh subnet's address is on this device.
idx=\$(cat /sys/class/net/\$e/ifindex); i=0
while [ ! -e /run/xnt-configured-\$idx ] && [ \$i -lt 20 ]; do sleep 0.25; i=\$((i + 1)); done
ip addr flush dev \"\$e\"
echo 1 >/proc/sys/net/ipv4/conf/all/arp_ignore
ip link set \"\$e\" up
ip addr add $FRESH_GUEST_IP/24 dev \"\$e\"
s=/sys/class/net/\$e/statistics
r0=\$(cat \$s/rx_packets); t0=\$(cat \$s/tx_packets)
ping -c 3 -W 2 -w 15 $FRESH_DOM0_IP; rc=\$?
r=\$((\$(cat \$s/rx_packets) - r0)); t=\$((\$(cat \$s/tx_packets) - t0))
echo \"\$e rx_packets +\$r tx_packets +\$t\"
[ \$rc -eq 0 ] && [ \$r -ge 3 ] && [ \$t -ge 3 ]")
	rc=$?
	printf '%s\n' "$out" | tail -n 5
	ip addr del "$FRESH_DOM0_IP/24" dev xenbr0
	vif_remove "$domid" "$devid" >/dev/null
	return $rc
}

# hbe_unload NAME: the guest unbinds every vif and unloads its netfront (the agent goes
# with the network), and reports on its console: rmmod's status, whether the module is
# still there, kmemleak.
hbe_unload() {
	local name=$1 con=/var/log/xen/console/guest-$1.log
	guest "$name" 'touch /run/xnt-unload' >/dev/null
	for _ in $(seq 120); do
		has XNT-UNLOAD-END "$con" && break
		nap 0.5
	done
	grep -a 'XNT-UNLOAD' "$con"
	grep -aq 'XNT-UNLOAD rmmod=0 loaded=0' "$con"
}

# hbe_guest NAME FE: a guest with the FE netfront (1 queue), its vif 0 on the netback
# (autoprobe on while it is created: a replacement guest comes after hostile modes turned
# it off), ready for hostile vifs (dom0's autoprobe off, its backend directory readable by
# it).
hbe_guest() {
	local name=$1 fe=$2 domid
	echo 1 >"$AUTOPROBE"
	start_guest "$name" --frontend "$fe" --queues 1 || return 1
	domid=$(guest_domid "$name")
	echo 0 >"$AUTOPROBE" && xenstore-chmod "/local/domain/0/backend/vif/$domid" n0 "r$domid"
}

# hbe_retire FE NAME: destroys the guest NAME. The console of a guest with the upstream C
# netfront is measured, not judged (its known crashes and warnings under hostile answers
# are the comparison's findings, Documentation/hostile.md): what it holds is shown as info
# lines and the file is renamed out of the scenario's console check (guest-*.log).
hbe_retire() {
	local fe=$1 name=$2 con=/var/log/xen/console/guest-$2.log found
	destroy_guest "$name" >/dev/null
	[ "$fe" = rust ] && return 0
	if [ -e "$con" ]; then
		if ! found=$(log_clean "$(cat "$con")"); then
			info "[$fe] console of $name not clean (upstream C netfront: measured, not judged):"
			printf '%s\n' "$found" | head -n 20 | show
		fi
		mv "$con" "/var/log/xen/console/unjudged-$name.log"
	fi
}

# hbe_run FE: every selected mode against the FE netfront; fills /tmp/hbe-FE. A mode that
# leaves the guest unusable (crashed, or a removal that hung) is recorded as such, and the
# next modes run in a fresh guest with the same netfront.
hbe_run() {
	local fe=$1 name=hb-$1 gen=1 devid=0 mode r clean why pages stale dead=""
	: >"/tmp/hbe-$fe"
	: >"/tmp/hbe-xsa403-$fe"
	rm -f /tmp/hbe-dead
	check "[$fe] guest with the $fe netfront (1 queue; vif 0 on the $XNT_BACKEND netback) answers, autoprobe off" \
		hbe_guest "$name" "$fe" || return 1
	for mode in $sel; do
		if [ -n "$dead" ] && [ "$dead" != none ]; then
			info "[$fe] the guest $name is unusable ($dead): destroyed, the next modes run in a fresh one"
			hbe_retire "$fe" "$name"
			gen=$((gen + 1))
			name=hb-$fe-$gen
			devid=0
			rm -f /tmp/hbe-dead
			if ! hbe_guest "$name" "$fe" >/tmp/hbe-guest.out 2>&1; then
				show </tmp/hbe-guest.out
				dead=none
			else
				dead=""
			fi
		fi
		if [ "$dead" = none ]; then
			echo "$mode not-run 0 no-guest" >>"/tmp/hbe-$fe"
			if [ "$fe" = rust ]; then
				skip "[rust] hostile backend $mode (${row[$mode]})" "no fresh guest came up"
				skip "[rust] hostile backend $mode: vif removed, device gone, tool done, console clean" "no fresh guest came up"
			fi
			continue
		fi
		devid=$((devid + 1))
		rm -f /tmp/hbe-result
		hbe_one "$fe" "$mode" "$devid" "$name"
		read -r _ r clean why 2>/dev/null </tmp/hbe-result
		[ -s /tmp/hbe-dead ] && read -r dead </tmp/hbe-dead
		echo "$mode ${r:-none} ${clean:-0} $why" >>"/tmp/hbe-$fe"
		info "[$fe] $mode: ${r:-none}${why:+ ($why)}"
		if [ "$fe" = rust ]; then
			case "|${expect[$mode]}|" in
			*"|$r|"*) ok "[rust] hostile backend $mode (${row[$mode]}): $r" ;;
			*) not_ok "[rust] hostile backend $mode (${row[$mode]}): $r" "expected ${expect[$mode]}" ;;
			esac
		fi
		# The upstream C netfront is measured, not judged: its removal after a mode is an
		# info line (Documentation/hostile.md lists what it does), ours a check.
		if [ "$fe" != rust ]; then
			if [ "${clean:-0}" = 1 ]; then
				info "[$fe] $mode: vif removed, device gone, tool done, console clean"
			else
				info "[$fe] $mode: removal NOT clean: $why"
			fi
		elif [ "${clean:-0}" = 1 ]; then
			ok "[$fe] hostile backend $mode: vif removed, device gone, tool done, console clean"
		else
			not_ok "[$fe] hostile backend $mode: vif removed, device gone, tool done, console clean" "$why"
		fi
	done
	# (no process substitution: dom0 has no /dev/fd)
	read -r pages stale <<<"$(xsa403_total "$fe")"
	if [ "$fe" = rust ]; then
		check "[rust] XSA-403: the RX buffers the tool wrote ($pages) held no stale data before ($stale did)" \
			test "${pages:-0}" -gt 0 -a "${stale:-1}" -eq 0
	else
		info "[$fe] XSA-403: of the $pages RX buffers the tool wrote, $stale held data before"
	fi
	if [ -n "$dead" ]; then
		skip "[$fe] a fresh vif on the $XNT_BACKEND netback passes 3 echoes both ways through its own device" "the last guest is unusable: $dead"
		skip "[$fe] the $fe netfront unbinds and unloads (console report)" "the last guest is unusable: $dead"
	else
		check "[$fe] a fresh vif on the $XNT_BACKEND netback passes 3 echoes both ways through its own device" \
			hbe_fresh "$name" $((devid + 1))
		check "[$fe] the $fe netfront unbinds and unloads (console report, guest $name)" hbe_unload "$name"
	fi
	if [ "$fe" = rust ]; then
		check "[$fe] the console of the last guest ($name) is clean" log_clean "$(cat "/var/log/xen/console/guest-$name.log")"
	fi
	hbe_retire "$fe" "$name"
	echo 1 >"$AUTOPROBE"
}

if [ -z "$(lsmod | awk '$1 == "xen_netback"')" ]; then
	load_backend "$XNT_BACKEND" 1 || info "netback $XNT_BACKEND did not load"
fi
for fe in $XNT_HBE_FRONTENDS; do
	hbe_run "$fe"
done

# The table: one row per mode, the C and Rust reactions side by side.
if [ -s /tmp/hbe-c ] && [ -s /tmp/hbe-rust ]; then
	same=0 diff=0
	{
		printf '%-20s %-4s %-14s %-14s %-14s %s\n' mode row expected "C netfront" "Rust netfront" same
		for mode in $sel; do
			c=$(awk -v n="$mode" '$1 == n { print $2 }' /tmp/hbe-c)
			r=$(awk -v n="$mode" '$1 == n { print $2 }' /tmp/hbe-rust)
			if [ "$c" = "$r" ]; then s=same; same=$((same + 1)); else s=DIFFERENT; diff=$((diff + 1)); fi
			printf '%-20s %-4s %-14s %-14s %-14s %s\n' "$mode" "${row[$mode]}" "${expect[$mode]}" "$c" "$r" "$s"
		done
		echo "modes: $((same + diff)), same reaction: $same, different: $diff"
	} | sed 's/^/XNT-TABLE /'
fi
