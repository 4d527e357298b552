# SPDX-License-Identifier: GPL-2.0
# Hostile frontend against the backends (issue 5): a guest runs xnt-hostile on a vif that
# no frontend driver claims, one scenario per freshly attached vif, against each backend
# of $XNT_HOSTILE_BACKENDS (default "rust"; "c rust" for the comparison table) in this
# one boot. For each scenario dom0 judges the backend's reaction from the frontend's
# report and its own view, then detaches the vif and checks that nothing is left and the
# kernel log holds no failure report (XNT_BAD_KERNEL_RE) or user-space crash. Every
# selected scenario must be judged: the list must hold every scenario of the table below
# (or of XNT_HOSTILE_ONLY), and each backend's run must judge that many. After each
# backend's run: the hostile guest is destroyed (no backend node or vif left), the leak
# check runs, and a fresh well-behaved guest connects and passes traffic.
#
# Reactions: accepted (answered OKAY and delivered; "+fixup" when the checksum fixup
# counter moved), dropped (answered ERROR, the vif keeps working), dropped-silently
# (answered OKAY, not delivered), disabled (vif turned off: carrier off, no more answers),
# refused (no connection: the backend did not reach Connected or wrote a xenbus error
# node; refused-but-Connected: error node written, yet the state published is Connected),
# stalled (RX: "Guest Rx stalled" logged, carrier turned off), tolerated (RX: the backend carries on), stuck (the vif still
# has its carrier but answers nothing: always a failure).
# Control ring (ctrl-*): answered (every control request answered in order with the C
# netback's status and data, the flood too, then the probe answered OKAY and delivered),
# wrong-answers, unanswered, connected (a ring that should have been refused was taken),
# skipped (the backend does not advertise feature-ctrl-ring, as dom0 reads it too: the
# frontend connects without a control ring and sends the probe; a TAP skip for the Rust
# netback, judged as soon as it advertises the feature).
#
# XNT_HOSTILE_ONLY="name ..." (or "name,name") limits the run to those scenarios.

# The reaction the reference (section 5.2) asks for; the Rust netback is held to it.
declare -A expect=(
	[good]=accepted [good-2q]=accepted [tx-ring-overrun]=disabled [attach-overflow]=refused
	[ring-ref-invalid]=refused [extra-past-end]=disabled [extra-type-0]=disabled
	[extra-type-7]=disabled [extras-chained]=accepted [more-data-past-end]=disabled
	[slots-19]=dropped [slots-20]=dropped [slots-21]=disabled [frag-over-total]=dropped
	[offset-past-page]=disabled [frag-past-page]=disabled [runt-packet]=dropped
	[short-first-slot]=dropped [header-split]=accepted [tiny-slots]=accepted
	[gso-size-0]=disabled [gso-type-unknown]=disabled [gso-no-transport]=dropped-silently
	[gso-no-csum-blank]=accepted+fixup [zero-length-frag]=accepted [bad-gref-first]=dropped
	[bad-gref-frag]=dropped [queues-over-max]=refused [queues-zero]=refused
	[queue-key-missing]=refused [queue-keys-flat]=refused [unknown-state]=refused
	[event-storm]=accepted [rx-never-posted]=stalled [rx-ring-overrun]=disabled
	[ctrl-rows]=answered [ctrl-evtchn-missing]=refused [ctrl-attach-overflow]=refused
)

# Short RX timeouts so that the RX scenarios finish in seconds (same for both backends).
RX_PARAMS="rx_stall_timeout_msecs=3000 rx_drain_timeout_msecs=1000"
HOSTILE_IP=10.99.0.250

# Run in the tool's own order (its list), keeping only the selected names. The selection
# must hold every name asked for: a list that failed to build (or lost scenarios) must not
# pass as fewer scenarios.
# (XNT_HOSTILE_ONLY and XNT_HOSTILE_BACKENDS take spaces or commas between names.)
XNT_HOSTILE_ONLY=${XNT_HOSTILE_ONLY//,/ }
XNT_HOSTILE_BACKENDS=${XNT_HOSTILE_BACKENDS//,/ }
names=${XNT_HOSTILE_ONLY:-${!expect[*]}}
sel=""
for n in $(awk '{print $1}' /xnt/hostile-list.txt 2>/dev/null); do
	case " $names " in *" $n "*) sel="$sel $n" ;; esac
done
nsel=$(wc -w <<<"$sel")
nwant=$(wc -w <<<"$names")
missing=""
for n in $names; do
	case " $sel " in *" $n "*) ;; *) missing="$missing $n" ;; esac
done
info "hostile: ${#expect[@]} scenarios in the expect table; asked for $nwant, the tool's list ($(wc -l 2>/dev/null </xnt/hostile-list.txt || echo no) lines) gives $nsel"
if [ -z "$XNT_HOSTILE_ONLY" ]; then
	check "hostile: the tool's list holds all ${#expect[@]} scenarios of the expect table (selected $nsel)" \
		test "$nsel" -eq "${#expect[@]}" -a -z "$missing"
else
	check "hostile: every scenario of XNT_HOSTILE_ONLY is in the tool's list (selected $nsel of $nwant)" \
		test "$nsel" -eq "$nwant" -a -z "$missing"
fi
[ -z "$missing" ] || info "hostile: not in the tool's list:$missing"
unknown=""
for n in $names; do [ -n "${expect[$n]+x}" ] || unknown="$unknown $n"; done
[ -z "$unknown" ] || not_ok "hostile: every selected scenario has an expected reaction" "none for:$unknown"

# The vifs of the rows are made and removed by writing XenStore as libxl does (vif_add and
# vif_remove of xnt-lib.sh), not with xl network-attach/-detach: under TCG with lockdep each
# xl call costs 8-15 s, which was two thirds of a row. backend/vif/DOMID is made readable
# by the guest once per run (hostile_run).

# hostile_one DRIVER NAME DEVID: one scenario on a fresh vif; writes
# "NAME REACTION CLEAN(0|1) NOTE" to /tmp/h-result and the control-ring items of the
# report (label:got:want,...) to /tmp/h-ctrl, details through show.
hostile_one() {
	local drv=$1 name=$2 devid=$3 domid vif be mac out pid log0 i r carrier rxp fix1=0 rc res
	domid=$(guest_domid hg)
	vif=vif$domid.$devid
	be=/local/domain/0/backend/vif/$domid/$devid
	mac=$(printf '00:16:3e:48:%02x:%02x' "$((devid / 256))" "$((devid % 256))")
	log0=$(dmesg | wc -l)
	local t0=$SECONDS ta tr td tc
	xenstore-rm "/local/domain/$domid/data/xnt-hostile" 2>/dev/null
	: >/tmp/h-ctrl
	if ! vif_add "$domid" "$devid" "$mac" >/tmp/h-attach 2>&1; then
		show </tmp/h-attach
		echo "$name attach-failed 0 vif-add" >/tmp/h-result
		return
	fi
	ta=$((SECONDS - t0))
	out=/tmp/h-$drv-$name.out
	XNT_GUEST_TIMEOUT=400 guest hg "xnt-hostile run $name --vif $devid" >"$out" 2>&1 &
	pid=$!
	res=""
	for i in $(seq 600); do
		res=$(xs_read "/local/domain/$domid/data/xnt-hostile")
		case "$res" in "$name $devid done "*) break ;; esac
		res=""
		kill -0 $pid 2>/dev/null || break
		nap 0.2
	done
	tr=$((SECONDS - t0))
	local connected bad probe sent
	connected=$(sed -n 's/.* connected=\([^ ]*\).*/\1/p' <<<"$res")
	bad=$(sed -n 's/.* bad=\([^ ]*\).*/\1/p' <<<"$res")
	probe=$(sed -n 's/.* probe=\([^ ]*\).*/\1/p' <<<"$res")
	sent=$(sed -n 's/.* sent=\([^ ]*\).*/\1/p' <<<"$res")
	local ctrl items
	ctrl=$(sed -n 's/.* ctrl=\([^ ]*\).*/\1/p' <<<"$res")
	items=$(sed -n 's/.* ctrl_items=\([^ ]*\).*/\1/p' <<<"$res")
	[ "$items" = none ] || printf '%s\n' "$items" >/tmp/h-ctrl
	case $name in
	rx-*)
		# Traffic for the hostile vif, which has no RX buffer: ~6 s of pings to an address
		# whose neighbour entry points at its MAC, then past the stall timeout.
		ip neigh replace $HOSTILE_IP lladdr "$mac" dev xenbr0 nud permanent
		ping -q -c 120 -i 0.05 -s 1000 -W 1 $HOSTILE_IP >/dev/null 2>&1
		nap 4
		ip neigh del $HOSTILE_IP dev xenbr0 2>/dev/null
		;;
	esac
	# The carrier goes off from a kthread, after the fatal error is seen: when the probe
	# went unanswered, give it time.
	local waits=20
	[ "$probe" = OKAY ] && waits=1
	for i in $(seq $waits); do
		read -r carrier 2>/dev/null <"/sys/class/net/$vif/carrier" || carrier=none
		[ "$carrier" = 0 ] && break
		nap 0.25
	done
	read -r rxp 2>/dev/null <"/sys/class/net/$vif/statistics/rx_packets" || rxp=0
	fix1=$(ethtool -S "$vif" 2>/dev/null | awk '$1 == "rx_gso_checksum_fixup:" { print $2 }')
	local bestate err txdrop feat
	bestate=$(xs_read "$be/state")
	# The backend's own advertisement, read by dom0: a skip must agree with it.
	feat=$(xs_read "$be/feature-ctrl-ring")
	err=$(xs_read "/local/domain/0/error/backend/vif/$domid/$devid/error")
	read -r txdrop 2>/dev/null <"/sys/class/net/$vif/statistics/tx_dropped" || txdrop=0
	# Tear down as the toolstack's detach does (vif_remove); the tool answers by closing.
	local closed
	closed=$(vif_remove "$domid" "$devid" 2>&1)
	rc=$?
	for i in $(seq 50); do
		[ -e "/sys/class/net/$vif" ] || break
		nap 0.2
	done
	td=$((SECONDS - t0))
	for i in $(seq 100); do kill -0 $pid 2>/dev/null || break; nap 0.2; done
	tc=$((SECONDS - t0))
	kill $pid 2>/dev/null
	wait $pid 2>/dev/null
	local newlog
	newlog=$(dmesg | tail -n +$((log0 + 1)))
	if [ -z "$res" ]; then
		r=no-report
	elif [ "$ctrl" = skipped ]; then
		# No control ring offered: the plain connection and the probe must still work.
		if [ "$feat" = 1 ]; then r=skipped-wrongly
		elif [ "$connected" != 1 ] || [ -n "$err" ]; then r=skipped-not-connected
		elif [ "$carrier" = 0 ] || [ "$probe" != OKAY ] || [ "${rxp:-0}" -lt "${sent:-0}" ]; then r=skipped-probe-failed
		else r=skipped; fi
	elif [ "$connected" = 0 ] || [ -n "$err" ]; then
		# No connection, or a xenbus error node. C may still publish Connected after its
		# connect failed (reference 5.6): that shows as refused-but-Connected.
		r=refused
		[ "$bestate" = 4 ] && r=refused-but-Connected
	else
		case $name in
		rx-*)
			# By the log: C turns the carrier back on whenever its backlog has drained
			# (nothing queued needs a slot), so a carrier sample alone would be luck.
			if grep -q 'Guest Rx stalled' <<<"$newlog"; then r=stalled
			elif [ "$carrier" = 0 ]; then r=disabled
			else r=tolerated; fi
			;;
		ctrl-*)
			if [ "$ctrl" = offered ]; then r=connected
			elif [ "$carrier" = 0 ]; then r=disabled
			elif [ "$ctrl" = unanswered ]; then r=unanswered
			elif [ "$ctrl" != answered ]; then r=wrong-answers
			elif [ "$probe" != OKAY ]; then r=stuck
			elif [ "${rxp:-0}" -lt "${sent:-0}" ]; then r=dropped-silently
			else r=answered; fi
			;;
		*)
			if [ "$carrier" = 0 ]; then r=disabled
			elif [ "$probe" != OKAY ] && [ "$probe" != none ]; then r=stuck
			elif grep -q ERROR <<<"$bad"; then r=dropped
			elif [ "${rxp:-0}" -lt "${sent:-0}" ]; then r=dropped-silently
			else r=accepted; fi
			[ "$r" = accepted ] && [ "${fix1:-0}" -gt 0 ] && r=accepted+fixup
			;;
		esac
	fi
	# Teardown and health.
	local clean=1 why=""
	[ $rc -eq 0 ] || { clean=0; why="$why backend-not-closed"; }
	[ -e "/sys/class/net/$vif" ] && { clean=0; why="$why $vif-left"; }
	xenstore-exists "$be" 2>/dev/null && { clean=0; why="$why backend-node-left"; }
	local found
	if ! found=$(log_clean "$newlog"); then
		printf '%s\n' "$found" | show
		clean=0
		why="$why kernel-log"
	fi
	{
		echo "[$drv] $name: ${res:-no report}"
		echo "[$drv] $name: carrier=$carrier rx_packets=$rxp tx_dropped=$txdrop fixup=${fix1:-0} be_state=$bestate error=${err:-none} feature-ctrl-ring=${feat:-absent} removal: $closed; seconds: attached $ta, report $tr, detached $td, tool done $tc"
		grep -a -E 'XNTH-(ERROR|CLOSED|SKIP|CTRL)' "$out"
		grep -E "$vif|vif-$domid-$devid|xen_netback|xen-netback" <<<"$newlog" |
			grep -vE 'xenbr0: port|allmulticast|promiscuous|entered .* state' | head -n 6
	} | show
	echo "$name $r $clean ${why:- -}" >/tmp/h-result
}

fresh_ping() {
	ping -c 3 -W 5 "$(guest_ip good)" >/dev/null && guest good "ping -c 3 -W 5 $XNT_DOM0_IP" >/dev/null
}

fresh_iperf() {
	local out
	iperf3 -s -D -1 >/dev/null 2>&1
	nap 1
	out=$(guest_iperf good -t 2)
	printf '%s\n' "$out" | tail -n 4
	iperf_moved "$out"
}

# hostile_run DRIVER: every selected scenario against DRIVER; fills /tmp/hostile-DRIVER.
hostile_run() {
	local drv=$1 devid=0 name r clean why judged=0 want no_ctrl=""
	: >"/tmp/hostile-$drv"
	: >"/tmp/hostile-$drv-ctrl"
	xnt_kmemleak_reset
	# shellcheck disable=SC2086
	check "[$drv] $drv netback loads ($RX_PARAMS)" insmod "$(backend_module_path "$drv")" $RX_PARAMS || return 1
	check "[$drv] hostile guest (C netfront on vif 0) answers" start_guest hg --frontend c --queues 2 || return 1
	check "[$drv] hostile guest: xenbus autoprobe off, xnt-hostile present" \
		guest hg 'echo 0 >/sys/bus/xen/drivers_autoprobe && xnt-hostile list >/dev/null'
	check "[$drv] hostile guest may read its backend directory (vif_add)" \
		xenstore-chmod "/local/domain/0/backend/vif/$(guest_domid hg)" n0 "r$(guest_domid hg)"
	for want in $sel; do
		devid=$((devid + 1))
		rm -f /tmp/h-result
		: >/tmp/h-ctrl
		case $want in
		ctrl-*)
			if [ -n "$no_ctrl" ]; then
				# The advertisement is the module's: once a vif of this backend showed no
				# feature-ctrl-ring (to the tool and to dom0), the other control-ring
				# scenarios would be skipped too; they save their vif (~12 s each).
				info "[$drv] $want: no vif attached: the backend advertised no feature-ctrl-ring on $no_ctrl"
				echo "$want skipped 1 not-attached" >/tmp/h-result
			else
				hostile_one "$drv" "$want" "$devid"
			fi
			;;
		*) hostile_one "$drv" "$want" "$devid" ;;
		esac
		name="" r=""
		read -r name r clean why 2>/dev/null </tmp/h-result
		if [ "$name" != "$want" ] || [ -z "$r" ]; then
			not_ok "[$drv] hostile $want: judged" "no verdict from hostile_one (got '$name $r')"
			continue
		fi
		judged=$((judged + 1))
		echo "$name $r $clean $why" >>"/tmp/hostile-$drv"
		[ -s /tmp/h-ctrl ] && echo "$name $(cat /tmp/h-ctrl)" >>"/tmp/hostile-$drv-ctrl"
		[ "$r" = skipped ] && [ -z "$no_ctrl" ] && no_ctrl="vif $devid ($name)"
		info "[$drv] $name: $r${why:+ ($why)}"
		if [ "$drv" = rust ]; then
			if [ "$r" = skipped ]; then
				# Decided by the backend's feature-ctrl-ring (the tool's and dom0's reads
				# agree): judged as soon as the Rust netback advertises it.
				skip "[rust] hostile $name: ${expect[$name]}" "backend has no feature-ctrl-ring"
			elif [ "$r" = "${expect[$name]}" ]; then
				ok "[rust] hostile $name: $r"
			else
				not_ok "[rust] hostile $name: $r" "expected ${expect[$name]}"
			fi
			if [ "$why" = not-attached ]; then
				skip "[rust] hostile $name: vif torn down, nothing left, kernel log clean" "no vif attached (backend has no feature-ctrl-ring)"
			elif [ "$clean" = 1 ]; then
				ok "[rust] hostile $name: vif torn down, nothing left, kernel log clean"
			else
				not_ok "[rust] hostile $name: vif torn down, nothing left, kernel log clean" "$why"
			fi
		fi
	done
	check "[$drv] hostile: judged all $nsel selected scenarios (judged $judged)" test "$judged" -eq "$nsel" -a "$nsel" -gt 0
	local domid
	domid=$(guest_domid hg)
	check "[$drv] hostile guest destroyed" destroy_guest hg
	nap 2
	check "[$drv] no backend node or vif netdev left for the hostile guest" \
		sh -c "! xenstore-exists /local/domain/0/backend/vif/$domid && ! ls /sys/class/net | grep -q '^vif$domid\\.'"
	if [ "$drv" = rust ]; then
		check "[$drv] kmemleak: no leaks after the hostile run" xnt_kmemleak_check
	else
		xnt_kmemleak_check >/dev/null 2>&1 && info "[c] kmemleak clean" || info "[c] kmemleak reports leaks"
	fi
	check "[$drv] a fresh well-behaved guest connects" start_guest good --frontend c --queues 2 || return 1
	check "[$drv] fresh guest: ping both ways" fresh_ping
	check "[$drv] fresh guest: iperf3 2 s to dom0 moves data (>= 64 KiB)" fresh_iperf
	destroy_guest good
	nap 2
	check "[$drv] kernel log clean after the $drv run" kernel_log_clean dom0
	check "[$drv] $drv netback unloads" rmmod xen_netback
}

for drv in $XNT_HOSTILE_BACKENDS; do
	hostile_run "$drv"
done

# The table: one row per scenario, C and Rust reactions side by side.
if [ -s /tmp/hostile-c ] && [ -s /tmp/hostile-rust ]; then
	same=0 diff=0 pending=0
	{
		printf '%-20s %-5s %-17s %-22s %-17s %s\n' scenario row expected "C netback" "Rust netback" same
		for name in $sel; do
			c=$(awk -v n="$name" '$1 == n { print $2 }' /tmp/hostile-c)
			r=$(awk -v n="$name" '$1 == n { print $2 }' /tmp/hostile-rust)
			row=$(awk -v n="$name" '$1 == n { print $2 }' /xnt/hostile-list.txt)
			if [ "$r" = skipped ]; then s=pending; pending=$((pending + 1))
			elif [ "$c" = "$r" ]; then s=same; same=$((same + 1))
			else s=DIFFERENT; diff=$((diff + 1)); fi
			printf '%-20s %-5s %-17s %-22s %-17s %s\n' "$name" "$row" "${expect[$name]}" "$c" "$r" "$s"
		done
		note=""
		[ "$pending" -eq 0 ] || note=", pending (Rust netback without feature-ctrl-ring): $pending"
		echo "scenarios: $((same + diff + pending)), same reaction: $same, different: $diff$note"
	} | sed 's/^/XNT-TABLE /'
fi

# The control-ring items (ctrl-rows), request by request: the C netback's answer, the
# Rust netback's ("pending" while it has no feature-ctrl-ring), and the C model's
# (reference 1.10) the tool expects. Status, or status/data; "-": no answer.
ctrl_item() { # FILE LABEL FIELD(2 got, 3 want)
	awk -v l="$2" -v f="$3" '$1 == "ctrl-rows" { n = split($2, it, ","); for (i = 1; i <= n; i++) { split(it[i], p, ":"); if (p[1] == l) print p[f] } }' "$1" 2>/dev/null
}
if [ -s /tmp/hostile-c-ctrl ] || [ -s /tmp/hostile-rust-ctrl ]; then
	labels=$(cat /tmp/hostile-c-ctrl /tmp/hostile-rust-ctrl 2>/dev/null | awk '$1 == "ctrl-rows" { n = split($2, it, ","); for (i = 1; i <= n; i++) { split(it[i], p, ":"); if (!seen[p[1]]++) print p[1] } }')
	{
		printf '%-12s %-10s %-10s %-12s %s\n' item expected "C netback" "Rust netback" same
		for l in $labels; do
			want=$(ctrl_item /tmp/hostile-c-ctrl "$l" 3)
			[ -n "$want" ] || want=$(ctrl_item /tmp/hostile-rust-ctrl "$l" 3)
			c=$(ctrl_item /tmp/hostile-c-ctrl "$l" 2)
			r=$(ctrl_item /tmp/hostile-rust-ctrl "$l" 2)
			if grep -q '^ctrl-rows skipped' /tmp/hostile-rust 2>/dev/null; then r=pending; fi
			s=-
			[ -n "$c" ] && [ -n "$r" ] && [ "$r" != pending ] && { if [ "$c" = "$r" ]; then s=same; else s=DIFFERENT; fi; }
			printf '%-12s %-10s %-10s %-12s %s\n' "$l" "$want" "${c:--}" "${r:--}" "$s"
		done
	} | sed 's/^/XNT-TABLE /'
fi
