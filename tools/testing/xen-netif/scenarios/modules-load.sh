# SPDX-License-Identifier: GPL-2.0
# The Rust modules load, show their parameters, bind vif devices and unload cleanly,
# in dom0 and in a guest; modprobe prefers them over the C modules.
q=${XNT_BE_QUEUES:-3}

for m in xen_netback xen_netfront; do
	check "$m: modinfo lists max_queues" sh -c "modinfo -p $m | grep -q '^max_queues:'"
	check "$m: modprobe resolves to the Rust module installed in updates/" \
		sh -c "modprobe -n -v $m | tee /dev/stderr | grep -q '/updates/.*$m.ko'"
done
check "xen_netback: modinfo lists separate_tx_rx_irq" \
	sh -c "modinfo -p xen_netback | grep -q '^separate_tx_rx_irq:'"

# dom0: Rust netback.
check "dom0: insmod Rust xen_netback max_queues=$q" load_backend rust "$q"
check "dom0: /sys/module/xen_netback/parameters/max_queues reads $q" \
	test "$(cat /sys/module/xen_netback/parameters/max_queues)" = "$q"
check "dom0: sysfs max_queues is writable like the C driver's" \
	sh -c "echo 2 > /sys/module/xen_netback/parameters/max_queues && test \$(cat /sys/module/xen_netback/parameters/max_queues) = 2 && echo $q > /sys/module/xen_netback/parameters/max_queues"
check "dom0: kernel log echoes max_queues=$q at load" sh -c "dmesg | grep -q 'xen_netback: loaded: max_queues=$q'"

# A guest vif binds to the Rust backend (the guest runs no frontend), then goes away.
cat >/tmp/probe.cfg <<CFG
name = "probe"
type = "pv"
kernel = "/xnt/guest/vmlinux"
ramdisk = "/xnt/guest/initrd.cpio"
extra = "console=hvc0 loglevel=7 xnt_front=none"
memory = 128
vif = [ 'bridge=xenbr0' ]
CFG
timeout 90 xl create /tmp/probe.cfg >/tmp/xl-create.log 2>&1 &
found=0
for _ in $(seq 60); do
	if dmesg | grep -q 'vif vif-[0-9]*-0: probe backend/vif/'; then found=1; break; fi
	nap 1
done
if [ $found = 1 ]; then ok "dom0: Rust netback probed the guest's backend/vif device"; else
	dmesg | tail -n 20 | show; show </tmp/xl-create.log; not_ok "dom0: Rust netback probed the guest's backend/vif device"; fi
wait
timeout 60 xl destroy probe >/dev/null 2>&1
for _ in $(seq 30); do
	dmesg | grep -q 'vif vif-[0-9]*-0: remove backend/vif/' && break
	nap 1
done
check "dom0: Rust netback released the device when the guest went away" \
	sh -c "dmesg | grep -q 'vif vif-[0-9]*-0: remove backend/vif/'"
check "dom0: rmmod Rust xen_netback" unload_backend
check "dom0: xen_netback is gone" test ! -e /sys/module/xen_netback

# dom0: Rust netfront (no vif devices in dom0: it just registers and unregisters).
check "dom0: insmod Rust xen_netfront max_queues=$q" insmod "$(frontend_module_path rust)" max_queues="$q"
check "dom0: /sys/module/xen_netfront/parameters/max_queues reads $q" \
	test "$(cat /sys/module/xen_netfront/parameters/max_queues)" = "$q"
check "dom0: rmmod Rust xen_netfront" rmmod xen_netfront

# Guest: the Rust netfront binds vif/0, is unbound and unloads; the guest reports on its
# console, which xenconsoled logs in dom0.
check "dom0: C netback loads" load_backend c 1
con=/var/log/xen/console/guest-lt.log
if check "loadtest guest created" start_guest lt --frontend loadtest --queues 1 --no-wait; then
	for _ in $(seq 120); do
		grep -q 'XNT-GUEST-END' "$con" 2>/dev/null && break
		nap 1
	done
	res=$(grep -a -o 'XNT-GUEST [a-z-]*=.*' "$con" | tr -d '\r')
	printf '%s\n' "$res" | show
	check "guest: insmod Rust xen_netfront max_queues=1" grep -qx 'XNT-GUEST insmod=0' <<<"$res"
	check "guest: /sys/module/xen_netfront/parameters/max_queues reads 1" grep -qx 'XNT-GUEST param=1' <<<"$res"
	check "guest: Rust netfront probed device/vif/0" grep -q 'vif vif-0: probe device/vif/0' "$con"
	check "guest: kernel log echoes max_queues=1 at load" grep -q 'xen_netfront: loaded: max_queues=1' "$con"
	check "guest: Rust netfront removed device/vif/0 when unbound" grep -q 'vif vif-0: remove device/vif/0' "$con"
	check "guest: rmmod Rust xen_netfront" grep -qx 'XNT-GUEST rmmod=0' <<<"$res"
	check "guest: no xen_netfront left after rmmod" grep -qx 'XNT-GUEST still-loaded=0' <<<"$res"
	# The guest's report must be there to count: its end marker and its dmesg, which must
	# hold no kernel failure report or user-space crash.
	loadtest_log_clean() {
		grep -a -q 'XNT-GUEST-END' "$con" || { echo "no XNT-GUEST-END in $con"; return 1; }
		grep -a -q 'XNT-GUEST-DMESG ' "$con" || { echo "no XNT-GUEST-DMESG line in $con"; return 1; }
		log_clean "$(grep -a 'XNT-GUEST-DMESG ' "$con" | tr -d '\r')"
	}
	check "guest: kernel log clean (the guest's dmesg on its console, report complete)" loadtest_log_clean
	destroy_guest lt
fi

# Guest: the Rust netback loads and unloads in a domU too (next to the C netfront).
if check "guest with the C netfront boots" start_guest g1 --frontend c --queues 1; then
	check "guest: insmod Rust xen_netback" guest g1 insmod "/lib/modules/$XNT_KREL/updates/xen_netback.ko"
	# The unload must succeed: rmmod exits 0 and the module is gone. A rmmod that dies of a
	# signal (exit >= 128) right after our module unloaded is what a driver that corrupted
	# a page it no longer owned looks like: a failure, with the guest's log.
	out=$(XNT_GUEST_TIMEOUT=60 guest g1 rmmod xen_netback 2>&1)
	rc=$?
	if [ $rc -ne 0 ]; then
		printf '%s\n' "$out" | show
		info "guest: rmmod xen_netback exited $rc$([ $rc -ge 128 ] && echo " (killed by a signal)"); guest log:"
		guest g1 'cat /proc/modules; dmesg | tail -n 30' | show
	fi
	if guest g1 test ! -e /sys/module/xen_netback; then gone=1; else gone=0; fi
	if [ $rc -eq 0 ] && [ $gone = 1 ]; then ok "guest: rmmod Rust xen_netback"; else
		not_ok "guest: rmmod Rust xen_netback" "rmmod exit $rc$([ $rc -ge 128 ] && echo " (crashed)"), module $([ $gone = 1 ] && echo gone || echo still loaded)"
	fi
	check "guest: kernel log clean" kernel_log_clean g1
	destroy_guest g1
fi
# dom0's kernel log and kmemleak: checked by the runner after every scenario (dom0-main.sh).
