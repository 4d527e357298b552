# SPDX-License-Identifier: GPL-2.0
# Helpers for scenario scripts; sourced in dom0 before the scenario.
#
# Results:     ok NAME | not_ok NAME [REASON] | check NAME CMD... | skip NAME REASON
# Drivers:     load_backend [rust|c] [MAX_QUEUES] | unload_backend | backend_module_path rust|c
# Guests:      start_guest NAME [--frontend rust|c] [--queues N] [--ip IP] [--mac MAC]
#              guest NAME CMD...   (runs CMD in the guest's sh, like ssh: the words are joined
#                                   with spaces, so quote a pipeline as one word; returns
#                                   its exit status)
#              guest_ip NAME | guest_domid NAME | destroy_guest NAME
# XenStore:    fe_dir NAME | be_dir NAME | xs_read PATH | xs_dump NAME
# Health:      kernel_log_clean [dom0|NAME] | xnt_kmemleak_check | guest_kmemleak_check NAME
# Counters:    irq_counts PATTERN [FILE] | irq_queues_moved BEFORE AFTER SUFFIX

XNT_PASSED=0
XNT_FAILED=0
XNT_KREL=$(uname -r)

ok() {
	XNT_PASSED=$((XNT_PASSED + 1))
	echo "XNT-RESULT ok $*"
}

not_ok() {
	local name=$1
	shift
	XNT_FAILED=$((XNT_FAILED + 1))
	echo "XNT-RESULT not-ok $name${*:+ # $*}"
}

skip() {
	local name=$1
	shift
	echo "XNT-RESULT skip $name # $*"
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
		printf '%s\n' "$out" | tail -n 20 | sed 's/^/XNT-LOG /'
		not_ok "$name" "exit $rc: $*"
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

guest_ip() {
	local n
	n=$(cat "/run/xnt-guest-$1.id" 2>/dev/null) || return 1
	echo "${XNT_DOM0_IP%.*}.$((10 + n))"
}

guest_domid() {
	xl domid "$1" 2>/dev/null
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

XNT_GUEST_SEQ=0
# The vif hotplug script guests get (Xen's own vif-bridge is slow under TCG; see vif-fast).
XNT_VIF_SCRIPT=${XNT_VIF_SCRIPT:-/xnt/vif-fast}

# start_guest NAME [--frontend rust|c|none|loadtest] [--queues N] [--mac MAC]
#             [--vif-extra K=V,...] [--no-wait]
# Creates a PV guest whose init loads the chosen netfront, configures eth0 and starts the
# command agent; returns once the agent answers over the vif (or fails after 180 s).
start_guest() {
	local name=$1 fe=$XNT_FRONTEND q=$XNT_FE_QUEUES mac="" extra="" ip n wait=1
	shift
	while [ $# -gt 0 ]; do
		case "$1" in
		--frontend) fe=$2 ;;
		--queues) q=$2 ;;
		--mac) mac=$2 ;;
		--vif-extra) extra=",$2" ;;
		--no-wait) wait=0; shift; continue ;;
		*) echo "start_guest: unknown option $1" >&2; return 2 ;;
		esac
		shift 2
	done
	XNT_GUEST_SEQ=$((XNT_GUEST_SEQ + 1))
	n=$XNT_GUEST_SEQ
	echo "$n" >"/run/xnt-guest-$name.id"
	ip=$(guest_ip "$name")
	[ -n "$mac" ] || mac=$(printf '00:16:3e:58:4e:%02x' "$n")
	cat >"/run/xnt-guest-$name.cfg" <<CFG
name = "$name"
type = "pv"
kernel = "/xnt/guest/vmlinux"
ramdisk = "/xnt/guest/initrd.cpio"
extra = "console=hvc0 loglevel=4 xnt_front=$fe xnt_queues=$q xnt_ip=$ip"
memory = 256
vcpus = 2
vif = [ 'bridge=xenbr0,mac=$mac,script=$XNT_VIF_SCRIPT$extra' ]
on_poweroff = "destroy"
on_crash = "preserve"
CFG
	if ! xl create "/run/xnt-guest-$name.cfg" >"/run/xnt-guest-$name.create.log" 2>&1; then
		show <"/run/xnt-guest-$name.create.log"
		return 1
	fi
	[ $wait = 1 ] || return 0
	if ! xnt-agent wait "$ip" --timeout 180 >/dev/null; then
		info "guest $name did not answer at $ip; its console:"
		tail -n 40 "/var/log/xen/console/guest-$name.log" 2>/dev/null | show
		return 1
	fi
}

# guest NAME CMD...: runs CMD (joined with spaces) in the guest's sh, output to stdout,
# returns its status.
guest() {
	local name=$1
	shift
	xnt-agent exec "$(guest_ip "$name")" --timeout "${XNT_GUEST_TIMEOUT:-120}" -- "$@"
}

destroy_guest() {
	xl destroy "$1"
}

# kernel_log_clean [dom0|GUEST]: no WARNING/BUG/Oops/panic in that kernel's log.
kernel_log_clean() {
	local who=${1:-dom0} log
	if [ "$who" = dom0 ]; then
		log=$(dmesg)
	else
		# A dmesg that dies of a signal says nothing about the kernel's log: say so, read
		# it again (rare in TCG guests; see the closing notes of the foundation issue).
		local try rc
		for try in 1 2 3; do
			log=$(guest "$who" dmesg)
			rc=$?
			[ $rc -lt 128 ] && break
			info "$who: dmesg exited $rc (signal $((rc - 128))); reading the log again"
		done
		[ $rc -eq 0 ] || return 1
		grep -E 'segfault at|traps:' <<<"$log" | sed 's/^/user-space crash: /' | show
	fi
	if grep -qE 'WARNING:|BUG:|Oops|Kernel panic|general protection|Call Trace' <<<"$log"; then
		grep -E -A 12 'WARNING:|BUG:|Oops|Kernel panic|general protection' <<<"$log" | head -n 40 | show
		return 1
	fi
	return 0
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
