# SPDX-License-Identifier: GPL-2.0
# Guest TX rate limiting of the netback of $XNT_BACKEND (sourced by netback.sh with its
# netback loaded; runs alone too, then it loads the netback itself).
[ -e /sys/module/xen_netback ] || check "netback loads for the rate-limit checks" load_backend "$XNT_BACKEND" 1 || exit 1
tag=${tag:-$XNT_BACKEND netback, $XNT_FRONTEND netfront}
iperf3 -s -D >/dev/null 2>&1
nap 1
# Credit-based rate limiting of guest TX: xl's rate= becomes the backend's `rate` key
# ("BYTES,MICROSECONDS" per credit window), read at connect; a live change of the key
# applies without reconnecting. One queue, so the per-queue credit is the vif's. The
# limits are set relative to what this guest does unlimited in this boot (under TCG with
# lockdep a guest may send at 2 Mbit/s, without it at 100+): xl's rate=400Kb/s at boot,
# then the key removed (unlimited), a live limit of a fifth of the unlimited figure,
# the key removed again; 3 s runs, each after an unmeasured 1 s warm-up, with no TCP
# metrics carried from one run to the next. A limit is a cap: upper
# bounds on the limited runs (one run each), and ratios showing each limit took effect;
# the unlimited runs are the best of up to 3 (rate_best).
rate_run() { # rate_run LABEL: prints r1's guest->dom0 Mbit/s, 0 if it moved < 32 KiB
	local out
	guest_iperf r1 -t 1 >/dev/null
	out=$(guest_iperf r1 -t 3)
	printf '%s\n' "$out" >"/tmp/rate-$1.log"
	if iperf_moved "$out" 32768 >/dev/null; then iperf_mbits "$out"; else echo 0; fi
}
# rate_best LABEL BOUND: up to 3 rate_runs, stopping at the first above BOUND; prints the
# highest. For the checks that a run is fast enough ("the limit is lifted"): under
# multi-threaded TCG a guest's throughput moves several-fold from one run to the next,
# and only downwards from what the path allows, so one slow run says little, while a
# limit that still applied would hold every run under it. The figures of every run go
# to an info line.
rate_best() {
	local i r best=0 all=""
	for i in 1 2 3; do
		r=$(rate_run "$1-$i")
		all="$all $r"
		best=$(awk -v a="$best" -v b="$r" 'BEGIN { print (b > a) ? b : a }')
		awk "BEGIN { exit !($best > $2) }" && break
	done
	info "[$tag] $1: Mbit/s per run:$all (best $best, wanted > $2)" >&2
	echo "$best"
}
rate_verdict() { # rate_verdict NAME AWK-CONDITION REASON
	if awk "BEGIN { exit !($2) }"; then ok "$1"; else
		for f in /tmp/rate-*.log; do echo "${f#/tmp/}:"; tail -n 3 "$f"; done | show
		not_ok "$1" "$3"
	fi
}
if start_guest r1 --queues 1 --vif-extra "rate=400Kb/s" >/tmp/start.log 2>&1; then
	rdom=$(guest_domid r1)
	rbe=/local/domain/0/backend/vif/$rdom/0
	rm -f /tmp/rate-*.log
	key0=$(xs_read "$rbe/rate")
	info "[$tag] rate key written by xl for rate=400Kb/s: $key0"
	# Each run starts from the same TCP state: no ssthresh or RTT cached from a limited
	# run slows the start of the next one (tcp_metrics, per destination).
	guest r1 sysctl -qw net.ipv4.tcp_no_metrics_save=1 || info "[$tag] guest: tcp_no_metrics_save not set"
	r_boot=$(rate_run boot)
	xenstore-rm "$rbe/rate"
	nap 1
	r_unl=$(rate_best unlimited "2 * $r_boot")
	# A fifth of the unlimited figure, as bytes per 50 ms window.
	live=$(awk -v r="$r_unl" 'BEGIN { printf "%.3f", r / 5 }')
	bytes=$(awk -v r="$live" 'BEGIN { printf "%d", r * 1000000 / 8 * 0.05 }')
	xenstore-write "$rbe/rate" "$bytes,50000"
	nap 1
	r_live=$(rate_run live)
	xenstore-rm "$rbe/rate"
	nap 1
	r_lift=$(rate_best lifted "2 * $r_live")
	info "[$tag] guest->dom0 Mbit/s (0: no data moved): rate=400Kb/s at connect $r_boot, key removed $r_unl, live $bytes,50000 ($live Mbit/s) $r_live, key removed again $r_lift"
	rate_verdict "[$tag] xl's rate=400Kb/s (key $key0) caps guest TX from the connection on: <= 0.6 Mbit/s, data moving (measured $r_boot)" \
		"$r_boot > 0 && $r_boot <= 0.6" "$r_boot Mbit/s"
	rate_verdict "[$tag] the limit cuts: the same guest without the key runs >= 2x faster (unlimited $r_unl, limited $r_boot)" \
		"$r_boot > 0 && $r_unl >= 2 * $r_boot" "unlimited $r_unl Mbit/s is less than 2 x $r_boot (or nothing moved)"
	rate_verdict "[$tag] a live change of the key to $live Mbit/s applies: <= 1.3x that and <= half the unlimited run (measured $r_live)" \
		"$r_live > 0 && $r_live <= 1.3 * $live + 0.05 && $r_live <= $r_unl / 2" "$r_live Mbit/s at a $live Mbit/s limit, $r_unl unlimited"
	rate_verdict "[$tag] removing the rate key lifts the limit: > 2x the limited run (measured $r_lift, limited $r_live)" \
		"$r_live > 0 && $r_lift > 2 * $r_live" "$r_lift Mbit/s without the key, $r_live limited"
	destroy_guest r1
	nap 2
else
	show </tmp/start.log
	not_ok "[$tag] guest with rate=400Kb/s starts"
fi

