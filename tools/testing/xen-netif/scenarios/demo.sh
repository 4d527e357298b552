# SPDX-License-Identifier: GPL-2.0
# Demo: one guest, the negotiated queues, its XenStore tree, traffic over every queue.
q=$XNT_FE_QUEUES
load_backend || { not_ok "demo: netback loads"; exit 1; }
start_guest demo || { not_ok "demo: guest boots"; exit 1; }
ip=$(guest_ip demo)
domid=$(guest_domid demo)
fe=$(fe_dir demo)
be=$(be_dir demo)
info "drivers: $XNT_BACKEND netback in dom0, $XNT_FRONTEND netfront in the guest (domid $domid, $ip)"
info "backend offers multi-queue-max-queues=$(xs_read "$be/multi-queue-max-queues"), frontend chose multi-queue-num-queues=$(xs_read "$fe/multi-queue-num-queues")"
info "XenStore:"
xs_dump demo | show
info "guest eth0 queues: $(guest demo 'cd /sys/class/net/eth0/queues && echo *')"
iperf3 -s -D >/dev/null 2>&1
nap 1
pat="^vif$domid\\.0-q[0-9]+"
irq_counts "$pat" >/tmp/demo-irq-before
info "iperf3, 4 TCP streams, guest -> dom0:"
guest demo iperf3 -c "$XNT_DOM0_IP" -t 4 -P 4 | grep -E 'SUM.*(sender|receiver)' | show
info "iperf3, 4 TCP streams, dom0 -> guest:"
guest demo iperf3 -c "$XNT_DOM0_IP" -t 4 -P 4 -R | grep -E 'SUM.*(sender|receiver)' | show
irq_counts "$pat" >/tmp/demo-irq-after
info "per-queue event-channel interrupts in dom0 during the run (name: count):"
join /tmp/demo-irq-before /tmp/demo-irq-after | awk '{ printf "%-22s %8d\n", $1, $3 - $2 }' | show
info "per-queue interrupts in the guest (name: total since boot):"
guest demo cat /proc/interrupts | awk '$NF ~ /^(vif|eth)/ { t = 0; for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) t += $i; else break; printf "%-22s %8d\n", $NF, t }' | show
info "dom0 ethtool -S vif$domid.0 (non-zero counters):"
ethtool -S "vif$domid.0" | grep -v ': 0$' | show
info "guest ethtool -S eth0:"
guest demo ethtool -S eth0 | show
ok "demo ran with $(xs_read "$fe/multi-queue-num-queues") queue(s)"
