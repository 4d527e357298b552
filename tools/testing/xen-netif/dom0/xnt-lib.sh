# SPDX-License-Identifier: GPL-2.0
# Helpers for scenario scripts; sourced in dom0 before the scenario.
#
# Results:     ok NAME | not_ok NAME [REASON] | check NAME CMD... | skip NAME REASON
#              plan N (optional: the number of results the scenario prints)
# Drivers:     load_backend [rust|c] [MAX_QUEUES] | unload_backend | backend_module_path rust|c
# Guests:      start_guest NAME [--frontend rust|c] [--queues N] [--ip IP] [--mac MAC]
#              wait_guest NAME (after start_guest --no-wait)
#              guest NAME CMD...   (runs CMD in the guest's sh, like ssh: the words are joined
#                                   with spaces, so quote a pipeline as one word; returns
#                                   its exit status)
#              guest_ip NAME | guest_domid NAME | guest_vif_devid NAME | destroy_guest NAME
# XSA-403:     rx_buffers_zeroed DOMID DEVID (xnt-rxpeek) | rx_buffers_summary
# XenStore:    fe_dir NAME | be_dir NAME | xs_read PATH | xs_dump NAME
# Vifs:        vif_add DOMID DEVID MAC [--user-backend] | vif_remove DOMID DEVID (as libxl)
# Health:      kernel_log_clean [dom0|NAME] | xnt_kmemleak_check | guest_kmemleak_check NAME
#              expect_message REGEX (a one-line message this scenario provokes on purpose)
# Traffic:     guest_iperf NAME ARGS... | iperf_check NAME OUTPUT [MIN] | iperf_bytes OUTPUT |
#              iperf_mbits OUTPUT | iperf_streams_moved OUTPUT
# Counters:    irq_counts PATTERN [FILE] | irq_queues_moved BEFORE AFTER SUFFIX
# Waiting:     nap SECONDS (sleep without a process: use it in polling loops)

XNT_PASSED=0
XNT_FAILED=0
# nap SECONDS: waits like sleep without starting a process. Under TCG with lockdep a fork +
# exec costs ~0.2 s of CPU, so a polling loop with `sleep 0.2` spends most of its time
# starting sleep; read's timeout on a FIFO nobody writes costs nothing.
[ -p /run/xnt-nap ] || mkfifo /run/xnt-nap
exec {XNT_NAP_FD}<>/run/xnt-nap
nap() { read -r -t "$1" -u "$XNT_NAP_FD" _; return 0; }
XNT_KREL=$(uname -r)
# Seconds since the previous result (or the scenario's start): printed with each result,
# so the host's TAP shows what each step cost.
XNT_LAST_RESULT_AT=$SECONDS

# result VERDICT NAME [REASON]: one "XNT-RESULT VERDICT SECS NAME[ # REASON]" line.
xnt_result() {
	local verdict=$1 name=$2 dt=$((SECONDS - XNT_LAST_RESULT_AT))
	shift 2
	XNT_LAST_RESULT_AT=$SECONDS
	echo "XNT-RESULT $verdict $dt $name${*:+ # $*}"
}

ok() {
	XNT_PASSED=$((XNT_PASSED + 1))
	xnt_result ok "$*"
}

not_ok() {
	local name=$1
	shift
	XNT_FAILED=$((XNT_FAILED + 1))
	xnt_result not-ok "$name" "$@"
}

skip() {
	local name=$1
	shift
	xnt_result skip "$name" "${*:-skipped}"
}

# plan N: this scenario will print exactly N results when it reaches its end; the host
# fails the scenario if the count differs (a scenario without a plan is held to reaching
# its end and printing at least one result).
plan() {
	echo "XNT-PLAN $1"
}

# check NAME CMD...: ok if CMD exits 0; otherwise not_ok, with CMD's output.
check() {
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then
		ok "$name"
	else
		printf '%s\n' "$out" | tail -n 150 | sed 's/^/XNT-LOG /'
		# The reason stays on one line (arguments may hold command output).
		local cmd="$*"
		cmd=${cmd//$'\n'/ }
		not_ok "$name" "exit $rc: ${cmd:0:160}"
	fi
	return $rc
}

info() {
	echo "XNT-INFO $*"
}

# Prints its input with a prefix the host shows in reports.
show() {
	sed 's/^/XNT-LOG /'
}

# Failure reports in a kernel log or console log (grep -E; the runner reuses both):
# XNT_BAD_KERNEL_RE: WARN/BUG/oops/panic, lockdep, RCU, sleep-in-atomic, debugobjects, list
# corruption, hung tasks, any stack dump.
XNT_BAD_KERNEL_RE='WARNING:|BUG:|kernel BUG at|Oops|Kernel panic|general protection|Call Trace'
XNT_BAD_KERNEL_RE+='|possible circular locking|inconsistent lock state|possible recursive locking'
XNT_BAD_KERNEL_RE+='|suspicious RCU usage|BUG: sleeping function called from invalid context'
XNT_BAD_KERNEL_RE+='|ODEBUG:|list_add corruption|list_del corruption|INFO: task .* blocked for more than'
# XNT_USER_CRASH_RE: a user-space process died of a fault (the kernel's segfault/traps lines)
# or glibc aborted on a corrupted heap (its messages reach a console, not the kernel log).
XNT_USER_CRASH_RE='segfault at|traps:|corrupted|double free|malloc\(\):|free\(\): invalid|munmap_chunk\(\)|stack smashing detected'
#
# Helpers of this section not listed at the top of the file:
#   iperf_bytes OUTPUT | iperf_mbits OUTPUT | iperf_moved OUTPUT [MIN_BYTES]
#   iperf_check NAME OUTPUT [MIN_BYTES] | guest_iperf NAME IPERF3-ARGS...
#   log_clean TEXT | fe_event_channels FE_DIR | stat_of FILE NAME | near A B TOLERANCE
#   grew_alike DEVICE_DELTA QUEUES_DELTA [SLACK]

backend_module_path() {
	case "$1" in
	rust) find "/lib/modules/$XNT_KREL/updates" -name xen_netback.ko | head -n1 ;;
	c) echo "/lib/modules/$XNT_KREL/kernel/drivers/net/xen-netback/xen-netback.ko" ;;
	*) return 1 ;;
	esac
}

frontend_module_path() {
	case "$1" in
	rust) find "/lib/modules/$XNT_KREL/updates" -name xen_netfront.ko | head -n1 ;;
	c) echo "/lib/modules/$XNT_KREL/kernel/drivers/net/xen-netfront.ko" ;;
	*) return 1 ;;
	esac
}

# load_backend [DRIVER] [MAX_QUEUES]: loads the C or Rust netback by path.
load_backend() {
	local drv=${1:-$XNT_BACKEND} q=${2:-$XNT_BE_QUEUES} path
	path=$(backend_module_path "$drv") || return 1
	insmod "$path" ${q:+max_queues=$q}
}

unload_backend() {
	rmmod xen_netback
}

# guest_ip NAME: the address start_guest gave NAME (--ip, or the next of 10.99.0.11, .12, ...).
guest_ip() {
	local n
	local ip
	if [ -s "/run/xnt-guest-$1.ip" ]; then
		read -r ip <"/run/xnt-guest-$1.ip"
		echo "$ip"
		return
	fi
	read -r n 2>/dev/null <"/run/xnt-guest-$1.id" || return 1
	echo "${XNT_DOM0_IP%.*}.$((10 + n))"
}

# guest_domid NAME: the guest's domain id. start_guest records it (an `xl domid` costs ~1 s
# under TCG with lockdep, and fe_dir/be_dir ask for it often); destroy_guest forgets it.
guest_domid() {
	local d
	if read -r d 2>/dev/null <"/run/xnt-guest-$1.domid" && [ -n "$d" ]; then
		echo "$d"
		return
	fi
	timeout 30 xl domid "$1" 2>/dev/null
}

# guest_vif_devid NAME: the device id of NAME's (first) vif, from XenStore (after xl
# network-detach/attach it is not always 0); empty when it has none.
guest_vif_devid() {
	xenstore-list "/local/domain/$(guest_domid "$1")/device/vif" 2>/dev/null | head -n 1
}

# rx_buffers_zeroed DOMID DEVID: xnt-rxpeek, the XSA-403 check of the RX buffers the guest's
# netfront posted on vif DEVID and its backend has not written yet: every such page must
# be all-zero (rxpeek/src/main.rs). The guest is paused meanwhile: while dom0 maps a grant
# the frontend cannot end it, and both netfronts disable themselves ("Grant still in use by
# backend domain") when that happens to an RX buffer whose response they take. The
# backend keeps answering, which the tool allows for. Prints the tool's report and keeps it
# in /tmp/rxpeek.out; rx_buffers_summary prints its summary line (the counts) for an info.
rx_buffers_zeroed() {
	local rc
	if ! timeout 60 xl pause "$1"; then
		echo "xl pause $1 failed" | tee /tmp/rxpeek.out
		return 1
	fi
	timeout 120 xnt-rxpeek "$@" >/tmp/rxpeek.out 2>&1
	rc=$?
	if ! timeout 60 xl unpause "$1"; then
		echo "xl unpause $1 failed" >>/tmp/rxpeek.out
		rc=1
	fi
	cat /tmp/rxpeek.out
	return $rc
}

rx_buffers_summary() {
	grep -m 1 '^XSA-403 ' /tmp/rxpeek.out 2>/dev/null || tail -n 1 /tmp/rxpeek.out 2>/dev/null
}

fe_dir() {
	echo "/local/domain/$(guest_domid "$1")/device/vif/0"
}

be_dir() {
	echo "/local/domain/0/backend/vif/$(guest_domid "$1")/0"
}

xs_read() {
	xenstore-read "$1" 2>/dev/null
}

xs_dump() {
	echo "frontend $(fe_dir "$1"):"
	xenstore-ls -f "$(fe_dir "$1")" 2>&1 | sed "s|^$(fe_dir "$1")/||"
	echo "backend $(be_dir "$1"):"
	xenstore-ls -f "$(be_dir "$1")" 2>&1 | sed "s|^$(be_dir "$1")/||"
}

# Guests are numbered in start order from 1 in each scenario (run-one.sh resets the
# count): the number gives the default IP and MAC. The count lives in a file, so a guest
# started inside `check` (a subshell) counts too.
XNT_GUEST_SEQ_FILE=/run/xnt-guest-seq
# The vif hotplug script guests get (Xen's own vif-bridge is slow under TCG; see vif-fast).
XNT_VIF_SCRIPT=${XNT_VIF_SCRIPT:-/xnt/vif-fast}

# start_guest NAME [--frontend rust|c|none|loadtest|memtest] [--queues N] [--ip IP]
#             [--mac MAC] [--vif-extra K=V,...] [--no-wait]
# Creates a PV guest whose init loads the chosen netfront, configures eth0 (with IP, by
# default the next address of guest_ip's scheme; guest_ip NAME returns it) and starts the
# command agent; returns once the agent answers over the vif (or fails after 180 s; with
# --no-wait right after xl create, and wait_guest NAME waits for the agent). The
# guest logs every kernel message (loglevel=7) to its console, which xenconsoled writes to
# /var/log/xen/console/guest-NAME.log.
start_guest() {
	local name=$1 fe=$XNT_FRONTEND q=$XNT_FE_QUEUES mac="" extra="" ip="" n wait=1
	shift
	while [ $# -gt 0 ]; do
		case "$1" in
		--frontend) fe=$2 ;;
		--queues) q=$2 ;;
		--ip) ip=$2 ;;
		--mac) mac=$2 ;;
		--vif-extra) extra=",$2" ;;
		--no-wait) wait=0; shift; continue ;;
		*) echo "start_guest: unknown option $1" >&2; return 2 ;;
		esac
		shift 2
	done
	read -r n 2>/dev/null <"$XNT_GUEST_SEQ_FILE" || n=0
	n=$((n + 1))
	echo "$n" >"$XNT_GUEST_SEQ_FILE"
	echo "$n" >"/run/xnt-guest-$name.id"
	rm -f "/run/xnt-guest-$name.ip"
	if [ -n "$ip" ]; then
		case "$ip" in
		*[!0-9.]* | *..* | .* | *.) echo "start_guest: bad --ip $ip" >&2; return 2 ;;
		esac
		echo "$ip" >"/run/xnt-guest-$name.ip"
	fi
	ip=$(guest_ip "$name")
	[ -n "$mac" ] || mac=$(printf '00:16:3e:58:4e:%02x' "$n")
	cat >"/run/xnt-guest-$name.cfg" <<CFG
name = "$name"
type = "pv"
kernel = "/xnt/guest/vmlinux"
ramdisk = "/xnt/guest/initrd.cpio"
extra = "console=hvc0 loglevel=7 xnt_front=$fe xnt_queues=$q xnt_ip=$ip${XNT_GUEST_ARGS:+ $XNT_GUEST_ARGS}"
memory = 256
vcpus = 2
vif = [ 'bridge=xenbr0,mac=$mac,script=$XNT_VIF_SCRIPT$extra' ]
on_poweroff = "destroy"
on_crash = "preserve"
CFG
	rm -f "/run/xnt-guest-$name.domid"
	if ! timeout 120 xl create "/run/xnt-guest-$name.cfg" >"/run/xnt-guest-$name.create.log" 2>&1; then
		show <"/run/xnt-guest-$name.create.log"
		return 1
	fi
	timeout 30 xl domid "$name" >"/run/xnt-guest-$name.domid" 2>/dev/null || rm -f "/run/xnt-guest-$name.domid"
	[ $wait = 1 ] || return 0
	wait_guest "$name"
}

# wait_guest NAME: waits (up to 180 s) until the agent of a guest started with
# `start_guest --no-wait` answers; on failure shows the guest's console. (Several guests
# booting at once are slower in total than one after the other under TCG: see
# Documentation/testing.md.)
wait_guest() {
	local ip
	ip=$(guest_ip "$1") || return 1
	if ! xnt-agent wait "$ip" --timeout 180 >/dev/null; then
		info "guest $1 did not answer at $ip; its console:"
		tail -n 40 "/var/log/xen/console/guest-$1.log" 2>/dev/null | show
		return 1
	fi
}

# guest NAME CMD...: runs CMD (joined with spaces) in the guest's sh, output to stdout,
# returns its status; gives up after XNT_GUEST_TIMEOUT seconds (default 120, status 124;
# 125: no agent answering).
guest() {
	local name=$1
	shift
	xnt-agent exec "$(guest_ip "$name")" --timeout "${XNT_GUEST_TIMEOUT:-120}" -- "$@"
}

destroy_guest() {
	rm -f "/run/xnt-guest-$1.domid"
	timeout 60 xl destroy "$1"
}

# A vif made and removed by writing XenStore as libxl does (same keys, same order of
# states), without xl network-attach/-detach, which cost 8-15 s each under TCG with
# lockdep (scenarios/hostile.sh, scenarios/hostile-backend.sh); the backend sees the same
# nodes with the same permissions. A node takes its parent's permissions when created: the
# frontend directory is made first and given to the guest (dom0 may read), as libxl does;
# the caller makes backend/vif/DOMID readable by the guest once
# (xenstore-chmod /local/domain/0/backend/vif/DOMID n0 rDOMID). The backend directory is
# written whole in one transaction, with the frontend's keys, as libxl does: a backend
# directory that appears without its "frontend" keys is probed by xenbus and left
# unbound.
#
# vif_add DOMID DEVID MAC [--user-backend]: the frontend directory, then the keys of both
# in one transaction (xenstore-write), then, once the backend made the vif netdev, the
# hotplug script's part: bridge port, hotplug-status. With --user-backend the vif is for a
# backend in user space (xnt-hostile-be), which makes no netdev: the XenStore part only.
vif_add() {
	local domid=$1 devid=$2 mac=$3 be fe vif=vif$1.$2 i
	be=/local/domain/0/backend/vif/$domid/$devid
	fe=/local/domain/$domid/device/vif/$devid
	xenstore-write "$fe" "" && xenstore-chmod "$fe" "n$domid" r0 ||
		{ echo "cannot make $fe"; return 1; }
	xenstore-write "$fe/backend" "$be" "$fe/backend-id" 0 "$fe/handle" "$devid" "$fe/mac" "$mac" \
		"$fe/mtu" 1500 "$fe/state" 1 \
		"$be/frontend" "$fe" "$be/frontend-id" "$domid" "$be/online" 1 "$be/state" 1 \
		"$be/script" "$XNT_VIF_SCRIPT" "$be/mac" "$mac" "$be/bridge" xenbr0 "$be/handle" "$devid" \
		"$be/type" vif || { echo "xenstore-write failed"; return 1; }
	[ "$4" = --user-backend ] && return 0
	for i in $(seq 150); do
		[ -e "/sys/class/net/$vif" ] && break
		nap 0.2
	done
	[ -e "/sys/class/net/$vif" ] || { echo "no $vif netdev 30 s after the backend node appeared"; return 1; }
	ip link set dev "$vif" master xenbr0 up && xenstore-write "$be/hotplug-status" connected
}

# vif_remove DOMID DEVID: libxl's removal (libxl__initiate_device_generic_remove): online 0
# and state Closing (unless already Closed), up to 10 s (LIBXL_DESTROY_TIMEOUT) for the
# backend to reach Closed; if it did not, a forced pass that also removes the frontend
# directory and waits 10 s more; then the directories go. Prints "closed" or "closed
# (forced)" and succeeds, or prints "not-closed STATE" and fails, where xl network-detach
# fails ("unable to remove device").
vif_remove() {
	local be=/local/domain/0/backend/vif/$1/$2 fe=/local/domain/$1/device/vif/$2 st pass t0
	for pass in normal forced; do
		st=$(xs_read "$be/state")
		[ -n "$st" ] || break
		[ "$st" = 6 ] || xenstore-write "$be/online" 0 "$be/state" 5
		[ $pass = forced ] && xenstore-rm "$fe" 2>/dev/null
		t0=$SECONDS
		while [ "$st" != 6 ] && [ $((SECONDS - t0)) -lt 10 ]; do
			nap 0.2
			st=$(xs_read "$be/state")
		done
		[ "$st" = 6 ] && break
	done
	xenstore-rm "$be" 2>/dev/null
	xenstore-rm "$fe" 2>/dev/null
	case "$st:$pass" in
	6:normal) echo closed ;;
	6:forced) echo "closed (forced)" ;;
	*) echo "not-closed ${st:-none}"; return 1 ;;
	esac
}

# Known reports of upstream C code (not ours) that a scenario cannot avoid, each matched by
# the first line of its report (the function is the C driver's own symbol; our Rust
# drivers' symbols are mangled Rust names):
# - the C netfront, at device removal, takes a page reference on each TX buffer the
#   backend never answered (xennet_release_tx_bufs -> get_page); 7.3's get_page() warns
#   when that buffer is an skb head from the slab (include/linux/mm.h). It happens when a
#   packet was queued between the frontend's Closed and its removal, which detach/attach
#   under traffic does with either netback (Documentation/testing.md, "Known quirks").
# - the scheduler's deadline server: dl_task_timer() forwards its hrtimer while it is
#   still queued (kernel/time/hrtimer.c, WARN_ON(timer->is_queued) in hrtimer_forward),
#   seen in guests with the C and with the Rust netfront alike when the host was
#   overloaded (TCG time skew). Neither driver uses an hrtimer.
XNT_KNOWN_UPSTREAM_RE='WARNING: include/linux/mm\.h:[0-9]+ at xennet_disconnect_backend\+|WARNING: kernel/time/hrtimer\.c:[0-9]+ at hrtimer_forward\+'
# Each one dropped from a log is noted in this file (dom0-main.sh reports it per scenario).
XNT_KNOWN_UPSTREAM_LOG=/run/xnt-known-upstream.log
# One-line kernel messages a scenario provokes on purpose and expects, which
# XNT_BAD_KERNEL_RE would otherwise take for a failure report (the grant table's
# "WARNING: g.e. ... still in use!" when a hostile backend keeps a grant mapped): one
# extended regex per line, added with expect_message. Only the matching line is left out
# (a report around it still fails) and it is noted like the known upstream reports.
# dom0-main.sh empties the list before each scenario and after its health checks.
XNT_EXPECTED_MESSAGES=/run/xnt-expected-messages

# expect_message REGEX: lines matching REGEX are expected in this scenario's logs.
expect_message() {
	printf '%s\n' "$1" >>"$XNT_EXPECTED_MESSAGES"
}

# xnt_drop_known_upstream: stdin without the known upstream reports (XNT_KNOWN_UPSTREAM_RE:
# from that line to its "---[ end trace" line, at most 80 lines, and never past the first
# line of another report) and without the lines this scenario expects
# (XNT_EXPECTED_MESSAGES), noting each one.
xnt_drop_known_upstream() {
	awk -v re="$XNT_KNOWN_UPSTREAM_RE" -v note="$XNT_KNOWN_UPSTREAM_LOG" -v other="$XNT_BAD_KERNEL_RE" \
		-v expfile="${XNT_EXPECTED_MESSAGES:-/run/xnt-expected-messages}" '
		BEGIN { while ((getline l <expfile) > 0) if (l != "") expected[nexp++] = l }
		{ for (i = 0; i < nexp; i++) if ($0 ~ expected[i]) { print "expected message, not counted: " $0 >>note; next } }
		$0 ~ re { skip = 1; n = 0; print "known upstream report, not counted: " $0 >>note; next }
		skip && $0 !~ /Call Trace/ && $0 ~ other { skip = 0 }
		skip { if (/---\[ end trace/ || ++n >= 80) skip = 0; next }
		{ print }'
}

# log_clean TEXT: TEXT (a kernel or console log) holds no kernel failure report
# (XNT_BAD_KERNEL_RE; the known upstream ones of XNT_KNOWN_UPSTREAM_RE aside) and no
# user-space crash (XNT_USER_CRASH_RE); prints what it found (whole reports: a lockdep
# report needs its dependency chains), for `check` to show.
log_clean() {
	local rc=0 text
	text=$(xnt_drop_known_upstream <<<"$1")
	if grep -a -qE "$XNT_BAD_KERNEL_RE" <<<"$text"; then
		grep -a -E -A 60 "$XNT_BAD_KERNEL_RE" <<<"$text" | head -n 150
		rc=1
	fi
	if grep -a -qE "$XNT_USER_CRASH_RE" <<<"$text"; then
		grep -a -E "$XNT_USER_CRASH_RE" <<<"$text" | head -n 20 | sed 's/^/user-space crash: /'
		rc=1
	fi
	return $rc
}

# kernel_log_clean [dom0|GUEST]: that kernel's log holds no kernel failure report and no
# user-space crash (log_clean).
kernel_log_clean() {
	local who=${1:-dom0} log
	if [ "$who" = dom0 ]; then
		log=$(dmesg) || return 1
	else
		# A dmesg that dies of a signal says nothing about the kernel's log: say so, read
		# it again (rare in TCG guests). Its crash is itself in the log read next (the
		# kernel's segfault line), so it fails the check.
		local try rc
		for try in 1 2 3; do
			log=$(XNT_GUEST_TIMEOUT=60 guest "$who" dmesg)
			rc=$?
			[ $rc -lt 128 ] && break
			info "$who: dmesg exited $rc (signal $((rc - 128))); reading the log again"
		done
		[ $rc -eq 0 ] || { echo "$who: dmesg exited $rc"; return 1; }
	fi
	log_clean "$log"
}

xnt_kmemleak_reset() {
	[ -w /sys/kernel/debug/kmemleak ] && echo clear >/sys/kernel/debug/kmemleak
	return 0
}

# xnt_kmemleak_check: scans, prints what kmemleak reports; fails on any leak.
xnt_kmemleak_check() {
	local f=/sys/kernel/debug/kmemleak
	[ -w $f ] || { echo "kmemleak not available"; return 1; }
	echo scan >$f
	sleep 6
	echo scan >$f
	if grep -q unreferenced $f; then
		head -n 40 $f | show
		return 1
	fi
	return 0
}

# guest_kmemleak_check NAME: the same inside a guest (same kernel, debugfs mounted).
guest_kmemleak_check() {
	local out
	out=$(guest "$1" 'f=/sys/kernel/debug/kmemleak; [ -w $f ] || { echo "kmemleak not available"; exit 2; }; echo scan >$f; sleep 6; echo scan >$f; cat $f') || {
		printf '%s\n' "$out" | show
		return 1
	}
	if grep -q unreferenced <<<"$out"; then
		head -n 40 <<<"$out" | show
		return 1
	fi
	return 0
}

# irq_counts PATTERN [FILE]: "name total" for each line of FILE (default /proc/interrupts)
# whose IRQ name matches PATTERN, sorted by name.
irq_counts() {
	awk -v pat="$1" '$NF ~ pat { t = 0; for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) t += $i; else break; print $NF, t }' \
		"${2:-/proc/interrupts}" | sort
}

# irq_queues_moved BEFORE AFTER SUFFIX: how many queues have an IRQ named ...-qN<SUFFIX>
# (or a shared ...-qN) whose count grew by 5 or more between two irq_counts snapshots
# (a single agent command moves a queue's count by one or two, real traffic by more).
irq_queues_moved() {
	join "$1" "$2" | awk -v s="$3" '
		{ n = $1; q = n; sub(/.*-q/, "", q); sub(/-.*/, "", q)
		  if ((n ~ s "$" || n ~ /-q[0-9]+$/) && $3 - $2 >= 5) seen[q] = 1 }
		END { c = 0; for (k in seen) c++; print c }'
}

# has_lines TEXT REGEX...: every REGEX matches a line of TEXT.
has_lines() {
	local text=$1 re
	shift
	for re in "$@"; do grep -qE "$re" <<<"$text" || { echo "no line matches $re"; return 1; }; done
}

# Files of "name value" lines from `ethtool -S` (sorted):
# queues_moved BEFORE AFTER STAT: queues whose qN_STAT grew by 100 or more.
queues_moved() {
	join "$1" "$2" | awk -v s="_$3" '$1 ~ "^q[0-9]+" s "$" && $3 - $2 >= 100 { c++ } END { print c + 0 }'
}
# stat_sum FILE STAT: the sum of qN_STAT over all queues.
stat_sum() { awk -v s="_$2" '$1 ~ "^q[0-9]+" s "$" { t += $2 } END { print t + 0 }' "$1"; }
# stat_of FILE NAME: the value of counter NAME (0 when absent).
stat_of() { awk -v n="$2" '$1 == n { v = $2 } END { print v + 0 }' "$1"; }
# near A B TOLERANCE: |A - B| <= TOLERANCE (integers).
near() { local d=$(($1 - $2)); [ "${d#-}" -le "$3" ]; }
# grew_alike DEVICE_DELTA QUEUES_DELTA [SLACK]: a device counter grew by the same amount
# as the sum of its per-queue counters (within SLACK, default 5), and that is above 0.
grew_alike() { [ "$2" -gt 0 ] && near "$1" "$2" "${3:-5}"; }

# bench_table FILE: throughput table of a C-vs-Rust benchmark. FILE has lines
# "ROUND QUEUES DIR DRIVER MBITS" (DRIVER c or rust); prints per queue count and direction
# the medians and the min/median/max of the per-round Rust/C ratio.
bench_table() {
	printf '%-8s %-3s %9s %9s %7s %7s %7s\n' queues dir "C med" "Rust med" "r.min" "r.med" "r.max"
	local q dir
	for q in 1 4; do
		for dir in tx rx; do
			awk -v q=$q -v d=$dir '
				function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
					return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
				$2 == q && $3 == d { v[$1, $4] = $5; r[$1] = 1 }
				END { n = 0; for (k in r) { n++; c[n] = v[k, "c"]; s[n] = v[k, "rust"]; x[n] = (v[k, "c"] > 0) ? v[k, "rust"] / v[k, "c"] : 0 }
					mc = med(c, n); ms = med(s, n); mx = med(x, n); lo = x[1]; hi = x[n]
					printf "%-8s %-3s %9.1f %9.1f %7.2f %7.2f %7.2f\n", q, d, mc, ms, lo, mx, hi }' "$1"
		done
	done
}

# iperf_bytes OUTPUT: the bytes iperf3's receiver counted, from the client's OUTPUT: the
# [SUM] receiver line with several streams, else the sum of the per-stream receiver lines
# (one with one stream); 0 when there is none (the run failed). Units: Bytes, KBytes,
# MBytes, GBytes, TBytes (iperf3's are powers of 1024).
iperf_bytes() {
	awk '
		function amount(   i, v, u) {
			for (i = 2; i <= NF; i++)
				if ($i ~ /^[KMGT]?Bytes$/) {
					v = $(i - 1) + 0; u = substr($i, 1, 1)
					if (u == "K") v *= 1024; else if (u == "M") v *= 1048576
					else if (u == "G") v *= 1073741824; else if (u == "T") v *= 1099511627776
					return v
				}
			return 0
		}
		/[[:space:]]receiver[[:space:]]*$/ { if ($1 == "[SUM]") { sum = amount(); has_sum = 1 } else each += amount() }
		END { printf "%.0f\n", has_sum ? sum : each }' <<<"$1"
}

# iperf_streams_moved OUTPUT: "STREAMS MOVED": how many per-stream receiver lines the
# client's OUTPUT has, and how many of them counted more than 0 bytes (with -P 8, a stream
# that moved nothing is a flow stuck on its queue, which the [SUM] line hides).
iperf_streams_moved() {
	awk '
		/[[:space:]]receiver[[:space:]]*$/ && $1 != "[SUM]" {
			n++
			for (i = 2; i <= NF; i++)
				if ($i ~ /^[KMGT]?Bytes$/) { if ($(i - 1) + 0 > 0) m++; break }
		}
		END { print n + 0, m + 0 }' <<<"$1"
}

# iperf_mbits OUTPUT: the receiver's bitrate in Mbit/s (same line as iperf_bytes; 0 when
# there is none).
iperf_mbits() {
	awk '
		function rate(   i, v, u) {
			for (i = 2; i <= NF; i++)
				if ($i ~ /^[KMG]?bits\/sec$/) {
					v = $(i - 1) + 0; u = substr($i, 1, 1)
					if (u == "K") v /= 1000; else if (u == "G") v *= 1000; else if (u != "M") v /= 1000000
					return v
				}
			return 0
		}
		/[[:space:]]receiver[[:space:]]*$/ { if ($1 == "[SUM]") { sum = rate(); has_sum = 1 } else each += rate() }
		END { printf "%.2f\n", has_sum ? sum : each }' <<<"$1"
}

# iperf_moved OUTPUT [MIN_BYTES]: true when iperf3's receiver counted at least MIN_BYTES
# (default 64 KiB). iperf3 prints its receiver line, with 0 bytes, even when only its
# control connection worked: the line alone proves nothing. Prints what it counted.
iperf_moved() {
	local b min=${2:-65536}
	b=$(iperf_bytes "$1")
	echo "iperf3 receiver counted $b bytes at $(iperf_mbits "$1") Mbit/s (want >= $min bytes)"
	[ "$b" -ge "$min" ]
}

# iperf_check NAME OUTPUT [MIN_BYTES]: ok NAME when iperf3's receiver counted at least
# MIN_BYTES (iperf_moved); the amount goes to an info line, the output's end to the log
# on failure.
iperf_check() {
	local name=$1 out=$2 min=${3:-65536} b
	b=$(iperf_bytes "$out")
	info "$name: receiver counted $b bytes ($((b / 1024)) KiB) at $(iperf_mbits "$out") Mbit/s"
	if iperf_moved "$out" "$min" >/dev/null; then
		ok "$name"
	else
		printf '%s\n' "$out" | tail -n 12 | show
		not_ok "$name" "iperf3 receiver counted $b bytes, want >= $min"
	fi
}

# guest_iperf NAME IPERF3-ARGS...: iperf3 client in guest NAME against dom0's server
# (-c XNT_DOM0_IP), output and errors to stdout; gives up after XNT_IPERF_TIMEOUT seconds
# (default 90; longer runs set it).
guest_iperf() {
	local name=$1
	shift
	XNT_GUEST_TIMEOUT=${XNT_IPERF_TIMEOUT:-90} guest "$name" iperf3 -c "$XNT_DOM0_IP" "$@" 2>&1
}

# fe_event_channels FE_DIR: how many event channels the frontend at FE_DIR published:
# per queue (queue-N/ with multi-queue-num-queues above 1, else the flat keys) 2 for split
# event-channel-tx/-rx, 1 for a shared event-channel. Fails when a queue has neither.
fe_event_channels() {
	local d=$1 n q p c=0
	n=$(xs_read "$d/multi-queue-num-queues")
	if [ -z "$n" ] || [ "$n" = 1 ]; then
		set -- "$d"
	else
		set --
		for q in $(seq 0 $((n - 1))); do set -- "$@" "$d/queue-$q"; done
	fi
	for p in "$@"; do
		if xs_read "$p/event-channel-tx" | grep -qE '^[0-9]+$' && xs_read "$p/event-channel-rx" | grep -qE '^[0-9]+$'; then
			c=$((c + 2))
		elif xs_read "$p/event-channel" | grep -qE '^[0-9]+$'; then
			c=$((c + 1))
		else
			echo "fe_event_channels: no event channel under $p" >&2
			return 1
		fi
	done
	echo "$c"
}
