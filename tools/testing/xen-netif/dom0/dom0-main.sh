#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs in dom0: starts the Xen daemons and the bridge, runs the scenario, reports, powers off.
# Every line the host reads starts with "XNT-".
source /xnt/params.sh
source /xnt/xnt-lib.sh

finish() {
	echo "XNT-DONE passed=$XNT_PASSED failed=$XNT_FAILED"
	sync
	echo o >/proc/sysrq-trigger
	sleep 30
}
trap finish EXIT

echo "XNT-BOOTED dom0 $(uname -r) after ${SECONDS}s; $(nproc) vCPUs"
dmesg -n 1
echo 'XENCONSOLED_ARGS="--log=guest --log-dir=/var/log/xen/console"' >>/etc/default/xen
if ! /etc/init.d/xen start >/tmp/xen-init.log 2>&1; then
	cat /tmp/xen-init.log
	not_ok "xen daemons start"
	exit 1
fi
ip link add xenbr0 type bridge
ip link set xenbr0 type bridge stp_state 0 forward_delay 0
ip addr add "$XNT_DOM0_IP/24" dev xenbr0
ip link set xenbr0 up
xnt_kmemleak_reset
echo "XNT-INFO setup done after ${SECONDS}s: backend=$XNT_BACKEND frontend=$XNT_FRONTEND be_queues=$XNT_BE_QUEUES fe_queues=$XNT_FE_QUEUES"

set +e
source /xnt/scenario.sh
