# SPDX-License-Identifier: GPL-2.0
# Benchmark (not a test): C netback vs Rust netback against the same C netfront, in one
# boot. The two backends cannot be loaded at once (same module name), so each round loads
# one, boots a 1-queue and a 4-queue guest, runs iperf3 per direction (1 stream on the
# 1-queue guest, 4 on the 4-queue one), and measures dom0 memory held by the connected
# 4-queue vif (MemFree and Slab from /proc/meminfo with the guest's vif detached and
# again once it is attached and connected); then the other backend; the order alternates
# per round and ratios are taken per round.
rounds=${XNT_BENCH_ROUNDS:-3}
secs=${XNT_BENCH_SECONDS:-5}
iperf3 -s -D >/dev/null 2>&1
mbps() { awk '/receiver/ { for (i = 1; i <= NF; i++) if ($i ~ /bits\/sec$/) { v = $(i-1); u = $i } }
	END { if (u ~ /^G/) v *= 1000; else if (u ~ /^K/) v /= 1000; else if (u !~ /^M/) v /= 1000000; print v + 0 }'; }
meminfo() { awk '/^MemFree:/ { f = $2 } /^Slab:/ { s = $2 } END { print f, s }' /proc/meminfo; }
settle() { sync; echo 3 >/proc/sys/vm/drop_caches; nap 2; }
: >/tmp/bench.txt
: >/tmp/benchmem.txt
for round in $(seq "$rounds"); do
	order="c rust"
	[ $((round % 2)) = 0 ] && order="rust c"
	for drv in $order; do
		load_backend "$drv" 4 || { not_ok "bench: $drv netback loads"; exit 1; }
		start_guest m4 --frontend c --queues 4 || { not_ok "bench: guest boots on the $drv netback"; exit 1; }
		mac=$(timeout 30 xl network-list m4 | awk 'NR == 2 { print $3 }')
		timeout 60 xl network-detach m4 "$(timeout 30 xl network-list m4 | awk 'NR == 2 { print $1 }')"
		nap 3
		settle
		read -r free0 slab0 <<<"$(meminfo)"
		timeout 60 xl network-attach m4 bridge=xenbr0 mac="$mac" script=$XNT_VIF_SCRIPT
		xnt-agent wait "$(guest_ip m4)" --timeout 60 >/dev/null
		nap 3
		settle
		read -r free1 slab1 <<<"$(meminfo)"
		echo "$round $drv $((free0 - free1)) $((slab1 - slab0))" >>/tmp/benchmem.txt
		start_guest m1 --frontend c --queues 1 || { not_ok "bench: guest boots on the $drv netback"; exit 1; }
		for q in 1 4; do
			for dir in tx rx; do
				flag=""; [ $dir = rx ] && flag=-R
				v=$(guest "m$q" iperf3 -c "$XNT_DOM0_IP" -t "$secs" -P "$q" $flag 2>&1 | mbps)
				echo "$round $q $dir $drv $v" >>/tmp/bench.txt
				info "bench round $round: $q queue(s) $dir $drv netback: $v Mbit/s"
			done
		done
		destroy_guest m1
		destroy_guest m4
		nap 3
		unload_backend || { not_ok "bench: $drv netback unloads"; exit 1; }
	done
done
info "throughput, Mbit/s (tx = guest->dom0, rx = dom0->guest); ratio = Rust/C per round:"
bench_table /tmp/bench.txt | show
show </tmp/benchmem.txt
info "dom0 memory held per connected 4-queue vif (kB: MemFree delta, Slab delta; median of rounds):"
awk '
	function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
	{ d = $2; n = ++cnt[d]; mem[d, n] = $3; slab[d, n] = $4 }
	END { for (d in cnt) { n = cnt[d]; for (i = 1; i <= n; i++) { a[i] = mem[d, i]; b[i] = slab[d, i] }
			m[d] = med(a, n); s[d] = med(b, n) }
		printf "%-6s %12s %12s\n", "driver", "held kB", "slab kB"
		printf "%-6s %12d %12d\n", "C", m["c"], s["c"]
		printf "%-6s %12d %12d\n", "Rust", m["rust"], s["rust"]
		if (m["c"] > 0) printf "Rust/C held-memory ratio: %.2f\n", m["rust"] / m["c"] }' /tmp/benchmem.txt | show
ok "benchmark finished ($rounds rounds)"
