# SPDX-License-Identifier: GPL-2.0
# Benchmark (not a test; `make bench`, tools/testing/xen-netif/bench.sh): the four driver
# pairs in one boot, C netback + C netfront, C + Rust, Rust + C, Rust + Rust. Meant to run
# under QEMU's instruction counter (-icount, single-threaded TCG), where guest-visible time
# advances by instructions executed, so that the figures repeat from run to run; it runs
# anywhere, but under the default multi-threaded TCG its figures move several-fold.
#
# The two netbacks share a module name, so each round loads one backend (max_queues 4),
# boots per frontend (C, Rust) a 1-queue and a 4-queue guest, one at a time, runs every
# workload on each and destroys it, unloads the backend, then does the same with the other
# backend; the order of the backends and of the frontends alternates per round. Workloads
# (iperf3, XNT_BENCH_SECONDS each, default 3; q streams on a q-queue guest): TCP bulk
# guest -> dom0 and dom0 -> guest (-R); 64-byte UDP datagrams without a rate limit, each
# way. Around each run: CPU time of dom0 and of the guest from /proc/stat (read in the same
# guest command as iperf3), the vif's packet counters, and with a netback that has them the
# copy-hypercall counters of `ethtool -S`. Each run prints one record line
# "XNT-BENCH KEY=VALUE ..." (bench-report.sh lists the keys), which the host turns into
# Documentation/bench/; the same tables are printed here. XNT_BENCH_ROUNDS rounds
# (default 3).
#
# Never a pass/fail test on figures: its one result fails only when something did not run
# (a backend that does not load, a guest that does not boot, a run that moved nothing).
# shellcheck source-path=SCRIPTDIR source=bench-report.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-report.sh"
plan 1
rounds=${XNT_BENCH_ROUNDS:-3}
secs=${XNT_BENCH_SECONDS:-3}
udp_len=64
data=/tmp/bench.dat
: >"$data"
problems=()
runs=0
hz=$(getconf CLK_TCK 2>/dev/null) || hz=100
info "bench: $rounds round(s), $secs s per run: 4 driver pairs x 4 workloads x 1 and 4 queues"
iperf3 -s -D >/dev/null 2>&1
nap 1

# dom0_busy_ms VAR: dom0's non-idle CPU time so far (ms, all CPUs), read without a process.
dom0_busy_ms() {
	local user nice sys irq softirq
	read -r _ user nice sys _ _ irq softirq _ </proc/stat
	printf -v "$1" '%d' $(((user + nice + sys + irq + softirq) * 1000 / hz))
}

# vif_packets VIF VAR_RX VAR_TX: the vif's packet counters, read without a process.
vif_packets() {
	local rx=0 tx=0
	read -r rx 2>/dev/null <"/sys/class/net/$1/statistics/rx_packets"
	read -r tx 2>/dev/null <"/sys/class/net/$1/statistics/tx_packets"
	printf -v "$2" '%d' "${rx:-0}"
	printf -v "$3" '%d' "${tx:-0}"
}

# copy_hypercalls VIF: the sum of the netback's counters whose name holds copy_hypercalls
# (all queues, both directions), or "-" when it has none.
copy_hypercalls() {
	ethtool -S "$1" 2>/dev/null | awk -F: '$1 ~ /copy_hypercalls/ { t += $2; n++ } END { print n ? t : "-" }'
}

# bench_run GUEST ROUND BE FE Q WORKLOAD: one iperf3 run with its counters; prints the
# record and an info line. Returns non-zero when the receiver counted less than 64 KiB.
bench_run() {
	local g=$1 round=$2 be=$3 fe=$4 q=$5 wl=$6 vif args len=- hc0=- hc1=- hc=- out
	local d0a d0b rx0 tx0 rx1 tx1 bytes rsecs ga gb ok=0 try
	vif=vif$(guest_domid "$g").$(guest_vif_devid "$g")
	case "$wl" in
	tcp-tx) args="-P $q" ;;
	tcp-rx) args="-P $q -R" ;;
	udp-tx) args="-u -b 0 -l $udp_len -P $q"; len=$udp_len ;;
	udp-rx) args="-u -b 0 -l $udp_len -P $q -R"; len=$udp_len ;;
	esac
	for try in 1 2; do
		[ "$be" = rust ] && hc0=$(copy_hypercalls "$vif")
		vif_packets "$vif" rx0 tx0
		dom0_busy_ms d0a
		# The guest's /proc/stat is read by the shell itself right before and after iperf3,
		# in the same command: no process start of the agent's inside the window.
		out=$(XNT_GUEST_TIMEOUT=$((secs + 90)) guest "$g" "read -r l </proc/stat; echo \"XSTAT0 \$l\"; iperf3 -J -c $XNT_DOM0_IP -t $secs $args 2>&1; read -r l </proc/stat; echo \"XSTAT1 \$l\"")
		dom0_busy_ms d0b
		vif_packets "$vif" rx1 tx1
		[ "$be" = rust ] && hc1=$(copy_hypercalls "$vif")
		read -r bytes rsecs <<<"$(bench_receiver "$out")"
		[ "${bytes:-0}" -ge 65536 ] && { ok=1; break; }
		info "bench: $g $wl: the receiver counted ${bytes:-0} bytes (try $try); iperf3 said:"
		{ grep -m 1 '"error"' <<<"$out" || grep -v '^XSTAT' <<<"$out" | tail -n 6; } | show
		# A server left busy or gone: start a fresh one.
		pkill -x iperf3
		nap 1
		iperf3 -s -D >/dev/null 2>&1
		nap 1
	done
	read -r ga gb <<<"$(awk -v hz="$hz" '
		$1 ~ /^XSTAT[01]$/ && $2 == "cpu" { t[substr($1, 6)] = ($3 + $4 + $5 + $8 + $9) * 1000 / hz }
		END { printf "%d %d\n", t[0], t[1] }' <<<"$out")"
	[ "$hc0" != - ] && [ "$hc1" != - ] && hc=$((hc1 - hc0))
	echo "XNT-BENCH round=$round be=$be fe=$fe q=$q wl=$wl secs=$secs len=$len bytes=${bytes:-0} rsecs=${rsecs:-0} vrx=$((rx1 - rx0)) vtx=$((tx1 - tx0)) d0ms=$((d0b - d0a)) gms=$((gb - ga)) hc=$hc ok=$ok" |
		tee -a "$data"
	info "bench round $round: $be netback, $fe netfront, $q queue(s), $wl: ${bytes:-0} bytes in ${rsecs:-0} s, vif packets $((rx1 - rx0)) in / $((tx1 - tx0)) out, CPU ms dom0 $((d0b - d0a)) guest $((gb - ga)), copy hypercalls $hc"
	[ $ok = 1 ]
}

for round in $(seq "$rounds"); do
	bes="c rust" fes="c rust"
	[ $((round % 2)) = 0 ] && bes="rust c" fes="rust c"
	for be in $bes; do
		if ! load_backend "$be" 4; then
			problems+=("round $round: the $be netback did not load")
			continue
		fi
		for fe in $fes; do
			for q in 1 4; do
				g=b$round-$be-$fe-q$q
				t0=$SECONDS
				if ! start_guest "$g" --frontend "$fe" --queues "$q"; then
					problems+=("round $round: guest $g did not boot")
					destroy_guest "$g" >/dev/null 2>&1
					continue
				fi
				info "bench round $round: guest $g ($be netback, $fe netfront, $q queue(s)) answered after $((SECONDS - t0)) s"
				nap 1
				for wl in tcp-tx tcp-rx udp-tx udp-rx; do
					runs=$((runs + 1))
					bench_run "$g" "$round" "$be" "$fe" "$q" "$wl" || problems+=("round $round: $g $wl moved less than 64 KiB")
					nap 1
				done
				destroy_guest "$g" >/dev/null 2>&1
			done
		done
		# The vifs of destroyed guests go away asynchronously: retry the unload for 30 s.
		for _ in $(seq 15); do
			nap 2
			unload_backend 2>/dev/null && break
		done
		[ -e /sys/module/xen_netback ] && problems+=("round $round: the $be netback did not unload")
	done
done

info "bench: throughput min/median/max over $rounds round(s) (TCP Mbit/s, UDP thousand $udp_len-byte datagrams received per second);"
info "R/C be = this pair / the same netfront over the C netback, R/C fe = / the same netback with the C netfront;"
info "CPU cost medians (dom0, guest: TCP ms per MB of payload, UDP us per vif packet both ways); hc/pkt = netback copy hypercalls per vif packet"
bench_report --text "$data" | show
if [ ${#problems[@]} -eq 0 ]; then
	ok "bench: $rounds round(s), every guest booted, all $runs runs moved data"
else
	printf '%s\n' "${problems[@]}" | show
	not_ok "bench: $rounds round(s), every guest booted, all $runs runs moved data" "${#problems[@]} problem(s): ${problems[0]}"
fi
