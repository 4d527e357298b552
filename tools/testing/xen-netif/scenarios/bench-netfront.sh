# SPDX-License-Identifier: GPL-2.0
# Benchmark (not a test): C netfront vs Rust netfront against the same C netback in one
# boot. Throughput: iperf3 per direction with 1 queue (1 stream) and 4 queues (4 streams),
# the two drivers interleaved with alternating order, several rounds; the ratio is taken
# per round. Memory: kernel memory held per connected 4-queue vif (see guest/init memtest).
rounds=${XNT_BENCH_ROUNDS:-3}
secs=${XNT_BENCH_SECONDS:-5}
load_backend c 4 || { not_ok "bench: C netback loads"; exit 1; }
for g in c1:c:1 r1:rust:1 c4:c:4 r4:rust:4; do
	IFS=: read -r name drv q <<<"$g"
	start_guest "$name" --frontend "$drv" --queues "$q" || { not_ok "bench: guest $name boots"; exit 1; }
done
iperf3 -s -D >/dev/null 2>&1
nap 1
mbps() { awk '/receiver/ { for (i = 1; i <= NF; i++) if ($i ~ /bits\/sec$/) { v = $(i-1); u = $i } }
	END { if (u ~ /^G/) v *= 1000; else if (u ~ /^K/) v /= 1000; else if (u !~ /^M/) v /= 1000000; print v + 0 }'; }
: >/tmp/bench.txt
for round in $(seq "$rounds"); do
	order="c rust"
	[ $((round % 2)) = 0 ] && order="rust c"
	for q in 1 4; do
		for dir in tx rx; do
			flag=""; [ $dir = rx ] && flag=-R
			for drv in $order; do
				g=${drv:0:1}$q
				v=$(guest "$g" iperf3 -c "$XNT_DOM0_IP" -t "$secs" -P "$q" $flag 2>&1 | mbps)
				echo "$round $q $dir $drv $v" >>/tmp/bench.txt
				info "bench round $round: $q queue(s) $dir $drv netfront: $v Mbit/s"
			done
		done
	done
done
info "throughput, Mbit/s (tx = guest->dom0, rx = dom0->guest); ratio = Rust/C per round:"
bench_table /tmp/bench.txt | show
for g in c1 r1 c4 r4; do destroy_guest "$g"; done

# Memory: one guest alternates the C and the Rust netfront on one 4-queue vif.
start_guest mem --frontend memtest --queues 4 --no-wait || { not_ok "bench: memtest guest boots"; exit 1; }
con=/var/log/xen/console/guest-mem.log
for _ in $(seq 600); do grep -q XNT-MEM-END "$con" 2>/dev/null && break; nap 1; done
grep 'XNT-MEM ' "$con" | show
info "kernel memory held per connected 4-queue vif (guest kB: free-memory delta, slab delta; median of rounds):"
grep 'XNT-MEM ' "$con" | tr -d '\r' | sed 's/=/ /g' | awk '
	function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
	# fields: XNT-MEM round R drv D connected_free_slab_kb FREE SLAB unbound_free_slab_kb FREE SLAB
	{ d = $5; n = ++cnt[d]; mem[d, n] = $10 - $7; slab[d, n] = $8 - $11 }
	END { for (d in cnt) { n = cnt[d]; for (i = 1; i <= n; i++) { a[i] = mem[d, i]; b[i] = slab[d, i] }
			m[d] = med(a, n); s[d] = med(b, n) }
		printf "%-6s %12s %12s\n", "driver", "held kB", "of it slab"
		printf "%-6s %12d %12d\n", "C", m["c"], s["c"]
		printf "%-6s %12d %12d\n", "Rust", m["rust"], s["rust"]
		if (m["c"] > 0) printf "Rust/C held-memory ratio: %.2f\n", m["rust"] / m["c"] }' | show
destroy_guest mem
ok "benchmark finished ($rounds rounds)"
