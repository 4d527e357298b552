#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boots Xen + dom0 under QEMU (TCG) and runs one scenario script in dom0.
#
# usage: run-scenario.sh [options] SCRIPT
#   --backend rust|c      netback the scenario's load_backend uses by default (default: c)
#   --frontend rust|c     netfront start_guest uses by default (default: c)
#   --queues N            max_queues for both sides (default: 4)
#   --be-queues N         max_queues for the backend only
#   --fe-queues N         max_queues for the frontend only
#   --timeout SEC         hard limit for the whole boot (default: 900)
#   --results FILE        also write "ok|not-ok|skip NAME # REASON" lines there
#   --log FILE            keep the serial log there (default: under $XNT_CACHE/runs/)
#   --no-prepare          do not (re)build; use what prepare.sh last produced
#
# SCRIPT runs in dom0 with the helpers of dom0/xnt-lib.sh. Prints TAP, then
# "N passed, N failed"; exits 0 only if every result passed and dom0 reached the end.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

backend=c frontend=c queues=4 be_queues="" fe_queues="" timeout=900 results="" serial="" prep=1
while [ $# -gt 0 ]; do
	case "$1" in
	--backend) backend=$2; shift ;;
	--frontend) frontend=$2; shift ;;
	--queues) queues=$2; shift ;;
	--be-queues) be_queues=$2; shift ;;
	--fe-queues) fe_queues=$2; shift ;;
	--timeout) timeout=$2; shift ;;
	--results) results=$2; shift ;;
	--log) serial=$2; shift ;;
	--no-prepare) prep=0 ;;
	-h | --help) sed -n '3,19p' "$0"; exit 0 ;;
	-*) die "unknown option $1 (see --help)" ;;
	*) break ;;
	esac
	shift
done
script=${1:?usage: run-scenario.sh [options] SCRIPT (see --help)}
[ -f "$script" ] || die "no scenario script $script"
case "$backend$frontend" in rustrust | rustc | crust | cc) ;; *) die "--backend/--frontend take rust or c" ;; esac
be_queues=${be_queues:-$queues}
fe_queues=${fe_queues:-$queues}

if [ $prep = 1 ]; then
	"$XNT_DIR/prepare.sh" || exit 1
fi
[ -f "$XNT_CACHE/env.sh" ] || die "nothing prepared yet: run tools/testing/xen-netif/prepare.sh"
source "$XNT_CACHE/env.sh"

name=$(basename "$script" .sh)
run="$XNT_CACHE/runs/$name-$backend-$frontend-$be_queues-$fe_queues-$$"
rm -rf "$run" && mkdir -p "$run"
serial=${serial:-$run/serial.log}
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
cp "$XNT_DIR/dom0/dom0-main.sh" "$XNT_DIR/dom0/xnt-lib.sh" "$XNT_DIR/dom0/vif-fast" "$ov/xnt/"
cp "$script" "$ov/xnt/scenario.sh"
# Every scenario, so that one can run others in the same boot (source /xnt/scenarios/X.sh).
mkdir -p "$ov/xnt/scenarios"
cp "$XNT_DIR"/scenarios/*.sh "$ov/xnt/scenarios/"
cp "$AGENT" "$ov/usr/local/bin/xnt-agent"
cat >"$ov/xnt/params.sh" <<PARAMS
XNT_BACKEND=$backend
XNT_FRONTEND=$frontend
XNT_BE_QUEUES=$be_queues
XNT_FE_QUEUES=$fe_queues
XNT_DOM0_IP=10.99.0.1
XNT_DETACH_CYCLES=${XNT_DETACH_CYCLES:-20}
XNT_HOSTILE_BACKENDS="${XNT_HOSTILE_BACKENDS:-rust}"
XNT_HOSTILE_ONLY="${XNT_HOSTILE_ONLY:-}"
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

initrd="$run/dom0.cpio"
cp "$DOM0_BASE_CPIO" "$initrd"
(cd "$ov" && find . -print0 | cpio --null -o -H newc --quiet) >>"$initrd"
rm -rf "$ov"

log "boot: $name (backend=$backend frontend=$frontend queues be=$be_queues fe=$fe_queues), timeout ${timeout}s, serial log $serial"
t0=$(date +%s)
# CPU model: with TCG's "max" model, user-space processes in dom0 and in guests crashed at
# random (glibc heap corruption, segfaults) with the C drivers as with ours; the plain
# Nehalem model (no XSAVE/AVX) runs clean. Nehalem has no PCID, so Xen's XPTI (the
# Meltdown mitigation for PV guests) flushes the whole TLB on every guest kernel entry,
# which under TCG cost 3-30x in throughput and doubled the boot-to-result time; the test
# VM has no secrets to keep from its own guests, so xpti=false. XNT_QEMU_CPU /
# XNT_QEMU_ACCEL / XNT_DOM0_MEM / XNT_XEN_ARGS override the defaults for experiments.
timeout -k 10 "$timeout" qemu-system-x86_64 -accel "${XNT_QEMU_ACCEL:-tcg,thread=multi}" -cpu "${XNT_QEMU_CPU:-Nehalem}" -m 3G -smp 2 \
	-display none -monitor none -serial "file:$serial" -no-reboot -net none \
	-kernel "$XEN_ELF" \
	-append "${XNT_DOM0_MEM:-dom0_mem=1G,max:1G} dom0_max_vcpus=2 console=com1 com1=115200,8n1 loglvl=warning guest_loglvl=warning ${XNT_XEN_ARGS:-xpti=false}" \
	-initrd "$KBUILD/vmlinux console=hvc0 earlyprintk=xen loglevel=4 clocksource=xen rdinit=/init,$initrd" </dev/null
qrc=$?
elapsed=$(($(date +%s) - t0))
rm -f "$initrd"

# Results: lines the scenario printed, wherever a kernel message may have split them.
mapfile -t lines < <(grep -a -o 'XNT-RESULT .*' "$serial" | tr -d '\r')
passed=0 failed=0 n=0
[ -n "$results" ] && : >"$results"
for l in "${lines[@]}"; do
	set -- $l
	verdict=$2
	rest=${l#XNT-RESULT $verdict }
	n=$((n + 1))
	case "$verdict" in
	ok) echo "ok $n - $rest"; passed=$((passed + 1)) ;;
	skip) echo "ok $n - ${rest%% # *} # SKIP ${rest#* # }" ;;
	*) echo "not ok $n - $rest"; failed=$((failed + 1)) ;;
	esac
	[ -n "$results" ] && echo "$verdict $rest" >>"$results"
done
grep -a -o 'XNT-\(LOG\|INFO\|TABLE\) .*' "$serial" | tr -d '\r' | sed 's/^XNT-[A-Z]* /# /'
if ! grep -a -q 'XNT-DONE' "$serial"; then
	if [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then
		cause="QEMU timed out after ${timeout}s"
	elif ! grep -a -q 'XNT-BOOTED' "$serial"; then
		cause="dom0 never reached its init (QEMU exit $qrc)"
	else
		cause="dom0 stopped before the scenario finished (QEMU exit $qrc)"
	fi
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $name completed # $cause"
	[ -n "$results" ] && echo "not-ok $name completed # $cause" >>"$results"
	echo "# last 40 lines of the serial log $serial:"
	tail -n 40 "$serial" | tr -d '\r' | sed 's/^/#   /'
fi
echo "1..$n"
log "boot: $name finished in ${elapsed}s"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ] && [ $n -gt 0 ]
