#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boots Xen + dom0 under QEMU (TCG) and runs scenario scripts in dom0: one SCRIPT, or every
# entry of a plan in one boot.
#
# usage: run-scenario.sh [options] SCRIPT
#        run-scenario.sh [options] --plan FILE
#   --backend rust|c      netback the scenario's load_backend uses by default (default: c)
#   --frontend rust|c     netfront start_guest uses by default (default: c)
#   --queues N            max_queues for both sides (default: 4)
#   --be-queues N         max_queues for the backend only
#   --fe-queues N         max_queues for the frontend only
#   --timeout SEC         limit for SCRIPT (default: 900)
#   --plan FILE           lines "LABEL|TIMEOUT|VARS|SCRIPT": SCRIPT (a file name in
#                         scenarios/) runs with the space-separated VAR=VALUE words of VARS
#                         in its environment (XNT_BACKEND, XNT_FRONTEND, XNT_BE_QUEUES,
#                         XNT_FE_QUEUES, XNT_DETACH_CYCLES, ...) and is killed after TIMEOUT s
#   --results FILE        also write the results there, one per line, tab-separated:
#                         "VERDICT SECS LABEL: NAME[ # REASON]" (emptied first)
#   --times FILE          write "LABEL SCENARIO_SECS HEALTH_SECS" per scenario there
#   --log FILE            keep the serial log of the (first) boot there
#   --no-prepare          do not (re)build; use what prepare.sh last produced
#
# Environment (for experiments; the defaults are in the QEMU line below): XNT_QEMU_CPU,
# XNT_QEMU_ACCEL (-accel, default tcg,thread=multi), XNT_QEMU_EXTRA (words appended to
# the QEMU command line, split at spaces: e.g. "-icount shift=1,sleep=off" with
# XNT_QEMU_ACCEL=tcg,thread=single, the deterministic clock bench.sh uses), XNT_DOM0_MEM,
# XNT_XEN_ARGS, XNT_DOM0_ARGS, XNT_GUEST_ARGS, XNT_QEMU (the QEMU binary);
# XNT_BENCH_ROUNDS and XNT_BENCH_SECONDS reach the benchmark scenarios.
#
# Each scenario runs in its own process with its own timeout (dom0/dom0-main.sh); after
# it, dom0 is reset (no guests, no netback) and its health checked (kernel log window with
# lockdep/WARN/BUG/crash reports, guest consoles, kmemleak). If dom0 dies or hangs, the
# scenario it was running fails, the VM is booted again and the plan resumes at the next
# entry. Prints TAP, then "N passed, N failed"; exits 0 only if every result passed and
# every scenario ran to its end.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

backend=c frontend=c queues=4 be_queues="" fe_queues="" timeout=900 results="" times="" serial="" prep=1 planfile=""
while [ $# -gt 0 ]; do
	case "$1" in
	--backend) backend=$2; shift ;;
	--frontend) frontend=$2; shift ;;
	--queues) queues=$2; shift ;;
	--be-queues) be_queues=$2; shift ;;
	--fe-queues) fe_queues=$2; shift ;;
	--timeout) timeout=$2; shift ;;
	--plan) planfile=$2; shift ;;
	--results) results=$2; shift ;;
	--times) times=$2; shift ;;
	--log) serial=$2; shift ;;
	--no-prepare) prep=0 ;;
	-h | --help) sed -n '3,36p' "$0"; exit 0 ;;
	-*) die "unknown option $1 (see --help)" ;;
	*) break ;;
	esac
	shift
done
# Every result reported comes from this run: the files are emptied before anything else.
if [ -n "$results" ]; then : >"$results" || die "cannot write $results"; fi
if [ -n "$times" ]; then : >"$times" || die "cannot write $times"; fi
case "$backend$frontend" in rustrust | rustc | crust | cc) ;; *) die "--backend/--frontend take rust or c" ;; esac
be_queues=${be_queues:-$queues}
fe_queues=${fe_queues:-$queues}
if [ -n "$planfile" ]; then
	[ -f "$planfile" ] || die "no plan file $planfile"
	name=$(basename "$planfile" .txt)
else
	script=${1:?usage: run-scenario.sh [options] SCRIPT|--plan FILE (see --help)}
	[ -f "$script" ] || die "no scenario script $script"
	name=$(basename "$script" .sh)
fi

if [ $prep = 1 ]; then
	"$XNT_DIR/prepare.sh" || exit 1
fi
[ -f "$XNT_CACHE/env.sh" ] || die "nothing prepared yet: run tools/testing/xen-netif/prepare.sh"
source "$XNT_CACHE/env.sh"

run="$XNT_CACHE/runs/$name-$backend-$frontend-$be_queues-$fe_queues-$$"
rm -rf "$run" && mkdir -p "$run"
# The plan dom0 runs: the given one, or SCRIPT alone with the command line's settings.
plan="$run/plan.txt"
if [ -n "$planfile" ]; then
	grep -v -e '^#' -e '^$' "$planfile" >"$plan"
	while IFS='|' read -r _ _ _ f; do
		[ -f "$XNT_DIR/scenarios/$f" ] || die "plan $planfile names $f, which is not in scenarios/"
	done <"$plan"
else
	if [ "$(cd "$(dirname "$script")" && pwd)" != "$XNT_DIR/scenarios" ]; then
		mkdir -p "$run/extra"
		cp "$script" "$run/extra/"
	fi
	echo "$name|$timeout|XNT_BACKEND=$backend XNT_FRONTEND=$frontend XNT_BE_QUEUES=$be_queues XNT_FE_QUEUES=$fe_queues|$(basename "$script")" >"$plan"
fi
ov="$run/overlay"
mkdir -p "$ov/xnt/guest" "$ov/usr/local/bin" "$ov/usr/lib/modules/$KREL"

# Modules: installed by the project's own `make modules_install` (to updates/) next to the
# kernel's modules, and depmod run over the merged tree.
dm="$run/depmod"
mkdir -p "$dm/lib/modules"
cp -al "$KBUILD/mod-root/lib/modules/$KREL" "$dm/lib/modules/"
rm -f "$dm/lib/modules/$KREL/build" "$dm/lib/modules/$KREL/source"
make -s -C "$XNT_TOP" KDIR="$KBUILD" INSTALL_MOD_PATH="$dm" modules_install >"$run/modules_install.log" 2>&1 ||
	{ cat "$run/modules_install.log" >&2; die "make modules_install failed"; }
depmod -b "$dm" "$KREL" || die "depmod failed"
cp -a "$dm/lib/modules/$KREL/updates" "$ov/usr/lib/modules/$KREL/"
cp "$dm/lib/modules/$KREL"/modules.* "$ov/usr/lib/modules/$KREL/"
rm -rf "$dm"

# dom0 side.
cp "$XNT_DIR/dom0/init" "$ov/init"
cp "$XNT_DIR/dom0/dom0-main.sh" "$XNT_DIR/dom0/run-one.sh" "$XNT_DIR/dom0/xnt-lib.sh" "$XNT_DIR/dom0/vif-fast" \
	"$XNT_DIR/dom0/toeplitz.sh" "$ov/xnt/"
cp "$plan" "$ov/xnt/plan.txt"
# Every scenario, so that one can run others in the same boot (source /xnt/scenarios/X.sh).
mkdir -p "$ov/xnt/scenarios"
cp "$XNT_DIR"/scenarios/*.sh "$ov/xnt/scenarios/"
[ -d "$run/extra" ] && cp "$run"/extra/* "$ov/xnt/scenarios/"
cp "$AGENT" "$ov/usr/local/bin/xnt-agent"
# dom0's check of the RX buffers a guest posted (XSA-403), next to the agent.
cp "${RXPEEK:-$(dirname "$AGENT")/xnt-rxpeek}" "$ov/usr/local/bin/xnt-rxpeek" || die "no xnt-rxpeek: run prepare.sh"
# dom0's hostile backend (scenarios/hostile-backend.sh), and its list of modes.
hostile_be=${HOSTILE_BE:-$(dirname "$AGENT")/xnt-hostile-be}
cp "$hostile_be" "$ov/usr/local/bin/xnt-hostile-be" || die "no xnt-hostile-be: run prepare.sh"
"$hostile_be" list >"$ov/xnt/hostile-be-list.txt"
# Defaults for every scenario; a plan entry's variables (in the environment) win.
cat >"$ov/xnt/params.sh" <<PARAMS
: "\${XNT_BACKEND:=$backend}" "\${XNT_FRONTEND:=$frontend}"
: "\${XNT_BE_QUEUES:=$be_queues}" "\${XNT_FE_QUEUES:=$fe_queues}"
: "\${XNT_DETACH_CYCLES:=${XNT_DETACH_CYCLES:-20}}"
: "\${XNT_HOSTILE_BACKENDS:=${XNT_HOSTILE_BACKENDS:-rust}}"
: "\${XNT_HOSTILE_ONLY:=${XNT_HOSTILE_ONLY:-}}"
: "\${XNT_GUEST_ARGS:=${XNT_GUEST_ARGS:-}}"
: "\${XNT_BENCH_ROUNDS:=${XNT_BENCH_ROUNDS:-}}" "\${XNT_BENCH_SECONDS:=${XNT_BENCH_SECONDS:-}}"
XNT_DOM0_IP=10.99.0.1
PARAMS

# Guest initramfs: busybox, iperf3, ethtool (with their libraries), both netfronts, agent,
# hostile frontend.
g="$run/guest"
mkdir -p "$g/bin" "$g/lib/modules/$KREL/updates" "$g/lib/modules/$KREL/kernel/drivers/net"
cp "$XNT_DIR/guest/init" "$g/init"
cp "$ROOTFS/bin/busybox" "$g/bin/busybox"
cp "$AGENT" "$g/bin/xnt-agent"
hostile=${HOSTILE:-$(dirname "$AGENT")/xnt-hostile}
cp "$hostile" "$g/bin/xnt-hostile"
"$hostile" list >"$ov/xnt/hostile-list.txt"
for exe in /usr/bin/iperf3 /usr/sbin/ethtool; do
	cp "$ROOTFS$exe" "$g/bin/"
	for lib in $(chroot "$ROOTFS" ldd "$exe" | grep -oE '/[^ ]+\.so[^ ]*'); do
		mkdir -p "$g$(dirname "$lib")"
		cp -L "$ROOTFS$lib" "$g$lib"
	done
done
cp "$KBUILD/mod-root/lib/modules/$KREL/kernel/drivers/net/xen-netfront.ko" "$g/lib/modules/$KREL/kernel/drivers/net/"
mkdir -p "$g/lib/modules/$KREL/kernel/drivers/net/xen-netback"
cp "$KBUILD/mod-root/lib/modules/$KREL/kernel/drivers/net/xen-netback/xen-netback.ko" "$g/lib/modules/$KREL/kernel/drivers/net/xen-netback/"
cp "$XNT_TOP/netfront/xen_netfront.ko" "$XNT_TOP/netback/xen_netback.ko" "$g/lib/modules/$KREL/updates/"
(cd "$g" && find . -print0 | cpio --null -o -H newc --quiet) >"$ov/xnt/guest/initrd.cpio"
rm -rf "$g"

base_ov="$run/overlay.cpio"
(cd "$ov" && find . -print0 | cpio --null -o -H newc --quiet) >"$base_ov"
rm -rf "$ov"

# One boot runs the plan from entry START; if dom0 dies, the next boot resumes after the
# entry it died in.
n_entries=$(wc -l <"$plan")
label_of() { sed -n "$(($1 + 1))p" "$plan" | cut -d'|' -f1; }
n=0 passed=0 failed=0
tap_line() { # tap_line VERDICT SECS NAME
	local name=$3
	n=$((n + 1))
	case "$1" in
	ok) echo "ok $n - $name ($2 s)"; passed=$((passed + 1)) ;;
	skip) echo "ok $n - ${name%% # *} ($2 s) # SKIP ${name#* # }" ;;
	*)
		if [[ $name == *" # "* ]]; then echo "not ok $n - ${name%% # *} ($2 s) # ${name#* # }"
		else echo "not ok $n - $name ($2 s)"; fi
		failed=$((failed + 1))
		;;
	esac
	[ -z "$results" ] || printf '%s\t%s\t%s\n' "$1" "$2" "$name" >>"$results"
}
start=0 boot=0
while [ "$start" -ge 0 ] && [ "$start" -lt "$n_entries" ]; do
	boot=$((boot + 1))
	bserial=${serial:-$run/serial.log}
	[ $boot -gt 1 ] && bserial="$run/serial-boot$boot.log"
	# The whole boot's limit: every remaining scenario's own plus 3 minutes each for its
	# health checks and 5 for the boot.
	limit=300
	while IFS='|' read -r _ t _ _; do limit=$((limit + t + 180)); done < <(tail -n +"$((start + 1))" "$plan")
	initrd="$run/dom0.cpio"
	cp "$DOM0_BASE_CPIO" "$initrd"
	cat "$base_ov" >>"$initrd"
	printf 'XNT_PLAN_START=%s\n' "$start" >"$run/start.sh"
	(mkdir -p "$run/st/xnt" && cp "$run/start.sh" "$run/st/xnt/start.sh" &&
		cd "$run/st" && find . -print0 | cpio --null -o -H newc --quiet) >>"$initrd"
	rm -rf "$run/st"
	log "boot $boot: $name from entry $start of $n_entries ($(label_of "$start")), limit ${limit}s, serial log $bserial"
	t0=$(date +%s)
	# CPU model: with TCG's "max" model, user-space processes in dom0 and in guests crashed at
	# random (glibc heap corruption, segfaults) with the C drivers as with ours; the plain
	# Nehalem model (no XSAVE/AVX) runs clean. Nehalem has no PCID, so Xen's XPTI (the
	# Meltdown mitigation for PV guests) flushes the whole TLB on every guest kernel entry,
	# which under TCG cost 3-30x in throughput and doubled the boot-to-result time; the test
	# VM has no secrets to keep from its own guests, so xpti=false. XNT_QEMU_CPU /
	# XNT_QEMU_ACCEL / XNT_DOM0_MEM / XNT_XEN_ARGS override the defaults for experiments;
	# XNT_DOM0_ARGS adds to dom0's kernel command line, XNT_GUEST_ARGS to the guests'.
	# XNT_QEMU_EXTRA appends words to QEMU's command line (bench.sh: "-icount
	# shift=1,sleep=off" with XNT_QEMU_ACCEL=tcg,thread=single, so that guest-visible time
	# advances by instructions executed and throughput figures repeat from boot to boot).
	# XNT_QEMU replaces the QEMU binary (harness-selftest.sh --prepared runs a fake one).
	read -r -a qemu_extra <<<"${XNT_QEMU_EXTRA:-}"
	[ ${#qemu_extra[@]} -eq 0 ] || log "boot $boot: extra QEMU options: ${qemu_extra[*]}"
	timeout -k 10 "$limit" "${XNT_QEMU:-qemu-system-x86_64}" -accel "${XNT_QEMU_ACCEL:-tcg,thread=multi}" -cpu "${XNT_QEMU_CPU:-Nehalem}" -m 3G -smp 2 \
		-display none -monitor none -serial "file:$bserial" -no-reboot -net none \
		-kernel "$XEN_ELF" \
		-append "${XNT_DOM0_MEM:-dom0_mem=1G,max:1G} dom0_max_vcpus=2 console=com1 com1=115200,8n1 loglvl=warning guest_loglvl=warning ${XNT_XEN_ARGS:-xpti=false}" \
		-initrd "$KBUILD/vmlinux console=hvc0 earlyprintk=xen loglevel=4 clocksource=xen rdinit=/init ${XNT_DOM0_ARGS:-},$initrd" \
		"${qemu_extra[@]}" </dev/null
	qrc=$?
	elapsed=$(($(date +%s) - t0))
	rm -f "$initrd"
	cause=""
	if [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then cause="QEMU killed at the boot's limit of ${limit}s"
	elif [ $qrc -ne 0 ]; then cause="QEMU exit $qrc"; fi
	# serial-results.sh ends with "NEXT K" (K = -1: nothing left); without that line it
	# died halfway, and what it did not report must not pass silently.
	next=none
	while IFS=$'\t' read -r verdict secs idx rest; do
		case "$verdict" in
		"NEXT "*) next=${verdict#NEXT } ;;
		TIME) [ -z "$times" ] || printf '%s\t%s\t%s\n' "$(label_of "$secs")" "$idx" "$rest" >>"$times" ;;
		*)
			if [ "$idx" = - ]; then tap_line "$verdict" "$secs" "boot $boot: $rest"
			else tap_line "$verdict" "$secs" "$(label_of "$idx"): $rest"; fi
			;;
		esac
	done < <("$XNT_DIR/serial-results.sh" "$plan" "$bserial" "$start" "$cause")
	grep -a -o 'XNT-\(LOG\|INFO\|TABLE\) .*' "$bserial" | tr -d '\r' | sed 's/^XNT-[A-Z]* /# /'
	log "boot $boot: finished in ${elapsed}s"
	if [ "$next" = none ]; then
		tap_line not-ok 0 "boot $boot: serial-results.sh reported the boot # it printed no NEXT line"
		next=-1
	fi
	if [ "$next" != -1 ] || ! grep -a -q 'XNT-ALL-DONE' "$bserial"; then
		echo "# last 40 lines of the serial log $bserial:"
		tail -n 40 "$bserial" | tr -d '\r' | sed 's/^/#   /'
	fi
	[ "$next" = -1 ] && break
	[ $boot -ge 4 ] && { tap_line not-ok 0 "boots: at most 4 per run # dom0 died too often"; break; }
	start=$next
done
rm -f "$base_ov"
echo "1..$n"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ] && [ $n -gt 0 ]
