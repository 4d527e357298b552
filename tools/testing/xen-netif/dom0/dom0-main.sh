#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs in dom0: starts the Xen daemons and the bridge, then runs the scenarios of
# /xnt/plan.txt from entry $XNT_PLAN_START on, one after the other, each in its own bash
# process (dom0/run-one.sh) with its own timeout, kernel-log and kmemleak window; after
# each, puts dom0 back into a known state (no guests, no netback, no stray processes) and
# checks its health. Powers off at the end. Every line the host reads starts with "XNT-":
#   XNT-BEGIN IDX              a scenario starts
#   XNT-RESULT ...             its results (ok/not_ok/skip/check in xnt-lib.sh)
#   XNT-END IDX rc=RC secs=S   its process ended (RC 124/137: killed at its timeout)
#   XNT-CLOSED IDX secs=S      health checks done (in S s); the next scenario may start
#   XNT-ALL-DONE               every scenario ran
# The host (run-scenario.sh) decides each scenario's verdict from these lines.
source /xnt/params.sh
source /xnt/start.sh
source /xnt/xnt-lib.sh

poweroff_now() {
	sync
	echo o >/proc/sysrq-trigger
	sleep 30
}
trap poweroff_now EXIT

echo "XNT-BOOTED dom0 $(uname -r) after ${SECONDS}s; $(nproc) vCPUs"
# Kernel messages stay off the serial console (results travel there); each scenario's
# window of the kernel log is checked below.
dmesg -n 1
echo 'XENCONSOLED_ARGS="--log=guest --log-dir=/var/log/xen/console"' >>/etc/default/xen
if ! /etc/init.d/xen start >/tmp/xen-init.log 2>&1; then
	show </tmp/xen-init.log
	echo "XNT-SETUP-FAILED xen daemons did not start"
	exit 1
fi
ip link add xenbr0 type bridge
ip link set xenbr0 type bridge stp_state 0 forward_delay 0
ip addr add "$XNT_DOM0_IP/24" dev xenbr0
ip link set xenbr0 up
echo "XNT-INFO setup done after ${SECONDS}s"

CONSOLE_DIR=/var/log/xen/console

# reset_dom0: no guests, no stray helpers, no netback or netfront module, bridge at MTU
# 1500. Prints what it had to clean up; fails if something could not be removed.
reset_dom0() {
	local d rc=0
	for d in $(xl list 2>/dev/null | awk 'NR > 2 { print $1 }'); do
		echo "guest $d still running: destroyed"
		timeout 60 xl destroy "$d" || rc=1
	done
	rm -f /run/xnt-guest-*.domid
	pkill -x iperf3
	pkill -x ping
	pkill -f 'xnt-agent (exec|wait)'
	for _ in $(seq 30); do
		[ -z "$(xenstore-list /local/domain/0/backend/vif 2>/dev/null)" ] &&
			! ip -o link | grep -q ': vif' && break
		sleep 1
	done
	if [ -n "$(xenstore-list /local/domain/0/backend/vif 2>/dev/null)" ]; then
		echo "backend vif nodes left: $(xenstore-list /local/domain/0/backend/vif | tr '\n' ' ')"
		xenstore-rm /local/domain/0/backend/vif
		rc=1
	fi
	for m in xen_netback xen_netfront; do
		if [ -e /sys/module/$m ]; then
			echo "$m still loaded: removed"
			rmmod $m || rc=1
		fi
	done
	ip link set xenbr0 mtu 1500 2>/dev/null
	return $rc
}

# guest_consoles_clean: the consoles of the scenario's guests (every kernel message, as
# start_guest boots them with loglevel=7) hold no kernel or user-space failure report.
guest_consoles_clean() {
	local f bad=0 found
	for f in "$CONSOLE_DIR"/guest-*.log; do
		[ -e "$f" ] || continue
		if ! found=$(log_clean "$(cat "$f")"); then
			echo "${f##*/}:"
			printf '%s\n' "$found" | head -n 40
			bad=1
		fi
	done
	return $bad
}

# dom0's kernel log from its boot to here (the xen daemons' start included), checked with
# the first scenario's health: each scenario's window starts with `dmesg -C`, and a
# lockdep report in this part would otherwise go unseen while switching lockdep off for
# the rest of the boot.
dmesg >/run/xnt-boot-dmesg.log
mapfile -t plan_lines </xnt/plan.txt
for ((idx = XNT_PLAN_START; idx < ${#plan_lines[@]}; idx++)); do
	IFS='|' read -r label limit vars script <<<"${plan_lines[idx]}"
	echo "XNT-BEGIN $idx"
	# This scenario's windows: kernel log, kmemleak, guest consoles.
	dmesg -C
	rm -f "$XNT_KNOWN_UPSTREAM_LOG" "$XNT_EXPECTED_MESSAGES"
	xnt_kmemleak_reset
	mkdir -p "$CONSOLE_DIR/before-$idx"
	mv "$CONSOLE_DIR"/guest-*.log "$CONSOLE_DIR/before-$idx/" 2>/dev/null
	t0=$SECONDS
	# shellcheck disable=SC2086
	timeout -k 20 "$limit" env $vars bash /xnt/run-one.sh "/xnt/scenarios/$script" </dev/null
	rc=$?
	echo "XNT-END $idx rc=$rc secs=$((SECONDS - t0))"
	t1=$SECONDS
	# Health of the whole scenario, whatever it checked itself.
	XNT_LAST_RESULT_AT=$SECONDS
	out=$(reset_dom0 2>&1)
	if [ $? -eq 0 ]; then
		[ -n "$out" ] && printf '%s\n' "$out" | show
		ok "after the scenario: no guest, vif or netback left behind that could not be removed"
	else
		printf '%s\n' "$out" | show
		not_ok "after the scenario: no guest, vif or netback left behind that could not be removed"
	fi
	check "after the scenario: dom0 kernel log of the whole scenario clean (WARN, BUG, lockdep, crashes)" kernel_log_clean dom0
	check "after the scenario: guest consoles of the whole scenario clean (WARN, BUG, lockdep, crashes)" guest_consoles_clean
	check "after the scenario: dom0 kmemleak clean" xnt_kmemleak_check
	# Lockdep switches itself off at its first report (debug_locks 0): later scenarios
	# would run unchecked, and faster.
	check "after the scenario: lockdep still on in dom0 (debug_locks 1)" \
		grep -qE '^ *debug_locks: +1$' /proc/lockdep_stats
	if [ -e /run/xnt-boot-dmesg.log ]; then
		check "after the scenario: dom0 kernel log from boot to the first scenario clean" \
			log_clean "$(cat /run/xnt-boot-dmesg.log)"
		rm -f /run/xnt-boot-dmesg.log
	fi
	if [ -s "$XNT_KNOWN_UPSTREAM_LOG" ]; then
		info "known upstream reports and expected messages in this scenario's logs (Documentation/testing.md, \"Known quirks\"):"
		sort -u "$XNT_KNOWN_UPSTREAM_LOG" | show
	fi
	rm -f "$XNT_KNOWN_UPSTREAM_LOG" "$XNT_EXPECTED_MESSAGES"
	echo "XNT-CLOSED $idx secs=$((SECONDS - t1))"
done
echo "XNT-ALL-DONE"
