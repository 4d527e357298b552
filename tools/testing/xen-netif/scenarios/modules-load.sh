# SPDX-License-Identifier: GPL-2.0
# The Rust modules load, show their parameters, bind vif devices and unload cleanly,
# in dom0 and in a guest; modprobe prefers them over the C modules.
q=${XNT_BE_QUEUES:-3}

for m in xen_netback xen_netfront; do
	check "$m: modinfo lists max_queues" sh -c "modinfo -p /usr/lib/modules/$XNT_KREL/updates/$m.ko | grep -q '^max_queues:'"
	check "$m: modprobe resolves to the Rust module in updates/" \
		sh -c "modprobe -n -v $m | tee /dev/stderr | grep -q '/updates/$m.ko'"
done
check "xen_netback: modinfo lists separate_tx_rx_irq" \
	sh -c "modinfo -p /usr/lib/modules/$XNT_KREL/updates/xen_netback.ko | grep -q '^separate_tx_rx_irq:'"

# dom0: Rust netback.
check "dom0: insmod Rust xen_netback max_queues=$q" load_backend rust "$q"
check "dom0: /sys/module/xen_netback/parameters/max_queues reads $q" \
	test "$(cat /sys/module/xen_netback/parameters/max_queues)" = "$q"
check "dom0: sysfs max_queues is writable like the C driver's" \
	sh -c "echo 2 > /sys/module/xen_netback/parameters/max_queues && test \$(cat /sys/module/xen_netback/parameters/max_queues) = 2 && echo $q > /sys/module/xen_netback/parameters/max_queues"
check "dom0: kernel log echoes max_queues=$q at load" sh -c "dmesg | grep -q 'xen_netback: loaded: max_queues=$q'"

# A guest vif binds to the Rust backend (which does not connect yet), then goes away.
timeout 90 xl create /dev/stdin >/tmp/xl-create.log 2>&1 <<CFG &
name = "probe"
type = "pv"
kernel = "/xnt/guest/vmlinux"
ramdisk = "/xnt/guest/initrd.cpio"
extra = "console=hvc0 xnt_front=none"
memory = 128
vif = [ 'bridge=xenbr0' ]
CFG
found=0
for _ in $(seq 60); do
	if dmesg | grep -q 'vif vif-[0-9]*-0: probe backend/vif/'; then found=1; break; fi
	sleep 1
done
if [ $found = 1 ]; then ok "dom0: Rust netback probed the guest's backend/vif device"; else
	dmesg | tail -n 20 | show; show </tmp/xl-create.log; not_ok "dom0: Rust netback probed the guest's backend/vif device"; fi
wait
xl destroy probe >/dev/null 2>&1
for _ in $(seq 30); do
	dmesg | grep -q 'vif vif-[0-9]*-0: remove backend/vif/' && break
	sleep 1
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

# Guest: the Rust netfront binds vif/0 and lets it go, then the C netfront takes over so
# dom0 can reach the guest and read what happened.
check "dom0: C netback loads" load_backend c 1
if check "guest boots with the C netfront after the Rust one was loaded and unloaded" \
	start_guest g1 --frontend c --queues 1 --preload rust; then
	pre=$(guest g1 cat /tmp/preload.txt)
	printf '%s\n' "$pre" | show
	check "guest: insmod Rust xen_netfront max_queues=1" grep -qx 'insmod=0' <<<"$pre"
	check "guest: /sys/module/xen_netfront/parameters/max_queues reads 1" grep -qx 'param=1' <<<"$pre"
	check "guest: Rust netfront probed device/vif/0" \
		sh -c "xnt-agent exec $(guest_ip g1) -- dmesg | grep -q 'vif vif-0: probe device/vif/0'"
	check "guest: Rust netfront removed device/vif/0 at rmmod" \
		sh -c "xnt-agent exec $(guest_ip g1) -- dmesg | grep -q 'vif vif-0: remove device/vif/0'"
	check "guest: rmmod Rust xen_netfront" grep -qx 'rmmod=0' <<<"$pre"
	check "guest: no xen_netfront left after rmmod" grep -qx 'still-loaded=0' <<<"$pre"
	check "guest: insmod Rust xen_netback" guest g1 insmod "/lib/modules/$XNT_KREL/updates/xen_netback.ko"
	check "guest: rmmod Rust xen_netback" guest g1 rmmod xen_netback
	check "guest: kernel log clean" kernel_log_clean g1
	destroy_guest g1
fi
check "dom0: kernel log clean" kernel_log_clean dom0
check "dom0: kmemleak clean" xnt_kmemleak_check
