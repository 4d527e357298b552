#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Self-tests of the harness's verdict logic, on the host, without a VM: serial-results.sh
# on made-up serial logs (a scenario that exits halfway, one killed at its timeout, one
# that prints fewer results than it planned, one during which dom0 died, a clean run), and
# run-scenario.sh with a stale results file and nothing to boot. Prints "ok NAME" or
# "not-ok NAME # WHY" per check; exits non-zero if one failed.
#
# usage: harness-selftest.sh [--prepared]
#   --prepared  instead: run-scenario.sh's boot loop over a prepared tree (prepare.sh and
#               the module build done), with a fake QEMU whose dom0 dies in the second of
#               three entries: that entry fails, a second boot resumes at the third.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
verdict() { # verdict NAME CMD...: ok if CMD succeeds
	local name=$1
	shift
	if "$@" >/dev/null 2>&1; then echo "ok $name"; else echo "not-ok $name"; failed=1; fi
}

if [ "${1:-}" = --prepared ]; then
	# The fake QEMU writes what dom0-main.sh would to the serial log, from the entry the
	# boot starts at (xnt/start.sh next to the initrd), and "dies" (no XNT-END, exit 1) in
	# entry XNT_FAKE_DIE_AT the first time it gets there.
	cat >"$tmp/fake-qemu" <<'FAKE'
#!/usr/bin/env bash
serial="" initrd=""
while [ $# -gt 0 ]; do
	case "$1" in
	-serial) serial=${2#file:}; shift ;;
	-initrd) initrd=${2##*,}; shift ;;
	esac
	shift
done
run=$(dirname "$initrd")
source "$run/start.sh"
n=$(wc -l <"$run/plan.txt")
{
	echo "XNT-BOOTED dom0 (fake QEMU)"
	for ((i = XNT_PLAN_START; i < n; i++)); do
		echo "XNT-BEGIN $i"
		echo "XNT-RESULT ok 1 entry $i in a boot from entry $XNT_PLAN_START"
		if [ "$i" = "$XNT_FAKE_DIE_AT" ] && [ ! -e "$run/fake-died" ]; then
			touch "$run/fake-died"
			echo "(XEN) fake panic"
			exit 1
		fi
		echo "XNT-REACHED-END"
		echo "XNT-END $i rc=0 secs=1"
		echo "XNT-CLOSED $i secs=1"
	done
	echo "XNT-ALL-DONE"
} >"$serial"
FAKE
	chmod +x "$tmp/fake-qemu"
	plan="$tmp/resume-selftest.txt"
	printf '%s\n' "first|60||baseline.sh" "second|60||baseline.sh" "third|60||baseline.sh" >"$plan"
	XNT_QEMU="$tmp/fake-qemu" XNT_FAKE_DIE_AT=1 "$XNT_DIR/run-scenario.sh" --no-prepare --plan "$plan" \
		>"$tmp/tap" 2>"$tmp/log"
	rc=$?
	rm -rf "$XNT_CACHE"/runs/resume-selftest-*
	verdict "run-scenario.sh: dom0 dying in an entry -> non-zero exit" test $rc -ne 0
	verdict "run-scenario.sh: ... the entry dom0 died in fails" \
		grep -q '^not ok [0-9]* - second: dom0 survived the scenario' "$tmp/tap"
	verdict "run-scenario.sh: ... a second boot starts at the next entry" \
		grep -q 'boot 2: resume-selftest from entry 2 of 3' "$tmp/log"
	verdict "run-scenario.sh: ... whose results are reported" \
		grep -q '^ok [0-9]* - third: entry 2 in a boot from entry 2' "$tmp/tap"
	verdict "run-scenario.sh: ... and nothing else is lost or added" grep -qx '3 passed, 1 failed' "$tmp/tap"
	[ $failed = 0 ] && [ -z "${XNT_SELFTEST_SHOW:-}" ] || sed 's/^/# /' "$tmp/tap" "$tmp/log" | tail -n 40
	exit $failed
fi

cat >"$tmp/plan" <<'EOF'
first|600|XNT_BACKEND=c|a.sh
second|300||b.sh
third|300||c.sh
EOF
# results LOG [START] [CAUSE]: serial-results.sh's output for a made-up serial log.
results() { "$XNT_DIR/serial-results.sh" "$tmp/plan" "$1" "${2:-0}" "${3:-}"; }
# has OUTPUT VERDICT IDX TEXT: a result line with that verdict, entry and text.
has() { grep -qP "^$2\t[0-9]+\t$3\t.*\Q$4\E" <<<"$1"; }
no_failure() { ! grep -q '^not-ok' <<<"$1"; }

# A clean boot: every entry ran to its end and was closed.
{
	echo "XNT-BOOTED dom0"
	for i in 0 1 2; do
		echo "XNT-BEGIN $i"
		echo "[   12.000000] a kernel line XNT-RESULT ok 3 check $i"
		echo "XNT-REACHED-END"
		echo "XNT-END $i rc=0 secs=10"
		echo "XNT-RESULT ok 2 after the scenario: dom0 kernel log clean"
		echo "XNT-CLOSED $i secs=4"
	done
	echo "XNT-ALL-DONE"
} >"$tmp/clean.log"
out=$(results "$tmp/clean.log")
verdict "serial-results: a clean boot has no failure and nothing left to run" \
	eval 'no_failure "$out" && grep -qx "NEXT -1" <<<"$out" && [ "$(grep -c "^ok" <<<"$out")" = 6 ]'
verdict "serial-results: a result split off by a kernel message still counts" has "$out" ok 1 "check 1"

# A scenario that passes one check and then calls exit halfway.
{ echo "XNT-BOOTED dom0"; echo "XNT-BEGIN 0"; echo "XNT-RESULT ok 1 one check"
  echo "XNT-END 0 rc=1 secs=3"; echo "XNT-CLOSED 0 secs=1"
  for i in 1 2; do echo "XNT-BEGIN $i"; echo "XNT-RESULT ok 1 c$i"; echo "XNT-REACHED-END"
	echo "XNT-END $i rc=0 secs=3"; echo "XNT-CLOSED $i secs=1"; done
  echo "XNT-ALL-DONE"; } >"$tmp/exit.log"
out=$(results "$tmp/exit.log")
verdict "serial-results: a scenario that exits after one passed check fails" \
	has "$out" not-ok 0 "ran to its last line"
verdict "serial-results: ... and the others are judged on their own" \
	eval '! grep -qP "^not-ok\t[0-9]+\t[12]\t" <<<"$out"'

# Killed at its timeout; fewer results than planned; no results at all.
{ echo "XNT-BOOTED dom0"
  echo "XNT-BEGIN 0"; echo "XNT-RESULT ok 1 a"; echo "XNT-END 0 rc=124 secs=600"; echo "XNT-CLOSED 0 secs=1"
  echo "XNT-BEGIN 1"; echo "XNT-PLAN 3"; echo "XNT-RESULT ok 1 a"; echo "XNT-RESULT ok 1 b"; echo "XNT-REACHED-END"
  echo "XNT-END 1 rc=0 secs=9"; echo "XNT-CLOSED 1 secs=1"
  echo "XNT-BEGIN 2"; echo "XNT-REACHED-END"; echo "XNT-END 2 rc=0 secs=9"; echo "XNT-CLOSED 2 secs=1"
  echo "XNT-ALL-DONE"; } >"$tmp/counts.log"
out=$(results "$tmp/counts.log")
verdict "serial-results: a scenario killed at its timeout fails" has "$out" not-ok 0 "finished within its timeout"
verdict "serial-results: a scenario printing 2 of its 3 planned results fails" has "$out" not-ok 1 "printed the 3 results it planned"
verdict "serial-results: a scenario printing no result fails" has "$out" not-ok 2 "printed results"

# dom0 dies in the second entry: it fails, and the next boot resumes at the third.
{ echo "XNT-BOOTED dom0"
  echo "XNT-BEGIN 0"; echo "XNT-RESULT ok 1 a"; echo "XNT-REACHED-END"; echo "XNT-END 0 rc=0 secs=9"; echo "XNT-CLOSED 0 secs=1"
  echo "XNT-BEGIN 1"; echo "XNT-RESULT ok 1 a"; echo "(XEN) Xen panic"; } >"$tmp/death.log"
out=$(results "$tmp/death.log" 0 "QEMU exit 1")
verdict "serial-results: dom0 dying in a scenario fails that scenario" has "$out" not-ok 1 "dom0 survived the scenario"
verdict "serial-results: ... and the next boot starts at the entry after it" grep -qx "NEXT 2" <<<"$out"
out=$(results "$tmp/death.log" 2 "QEMU exit 1")
verdict "serial-results: a boot that never reaches dom0's init fails" has "$(results /dev/null 0 'QEMU exit 1')" not-ok - "dom0 boots"

# A stale results file is emptied even when run-scenario.sh dies before booting.
mkdir -p "$tmp/cache"
printf 'ok\t1\tstale result of an earlier run\n' >"$tmp/stale.txt"
echo 'ok "x"' >"$tmp/s.sh"
XNT_CACHE="$tmp/cache" "$XNT_DIR/run-scenario.sh" --no-prepare --results "$tmp/stale.txt" "$tmp/s.sh" >"$tmp/rs.out" 2>&1
rc=$?
verdict "run-scenario.sh: nothing prepared -> non-zero exit" test $rc -ne 0
verdict "run-scenario.sh: ... and the stale results file is empty" test ! -s "$tmp/stale.txt"

# log_clean (dom0/xnt-lib.sh): a known upstream report is left out, and only that one.
(
	XNT_KNOWN_UPSTREAM_LOG="$tmp/known.log"
	XNT_EXPECTED_MESSAGES="$tmp/expected"
	# shellcheck disable=SC1090
	source <(sed -n -e '/^XNT_BAD_KERNEL_RE=/,/^XNT_USER_CRASH_RE=/p' -e '/^XNT_KNOWN_UPSTREAM_RE=/p' \
		-e '/^xnt_drop_known_upstream()/,/^}/p' -e '/^log_clean()/,/^}/p' \
		-e '/^expect_message()/,/^}/p' "$XNT_DIR/dom0/xnt-lib.sh")
	passes_noted() { log_clean "$1" && grep -q 'not counted' "$XNT_KNOWN_UPSTREAM_LOG"; }
	fails() { ! log_clean "$1"; }
	known='[   45.2] WARNING: include/linux/mm.h:2128 at xennet_disconnect_backend+0x164/0x3b0 [xen_netfront], CPU#0: xenwatch/30
[   45.2] Modules linked in: xen_netfront
[   45.3] Call Trace:
[   45.3]  xennet_remove+0x1d5/0x3a0 [xen_netfront]
[   45.3] ---[ end trace 0000000000000000 ]---'
	verdict "log_clean: the C netfront's known get_page warning alone passes, and is noted" passes_noted "$known"
	verdict "log_clean: ... but a report after it fails" fails "$known
[   46.0] WARNING: drivers/net/foo.c:12 at foo_bar+0x1/0x2 [xen_netfront]
[   46.0] ---[ end trace 0000000000000000 ]---"
	verdict "log_clean: ... and so does one inside its lines (no end-of-trace line)" \
		fails "${known%---*}[   46.1] BUG: sleeping function called from invalid context at net/core/dev.c:1"
	verdict "log_clean: the same warning from another function fails" \
		fails "${known/xennet_disconnect_backend/_RNvNtCs1_12xen_netfront2tx7release}"
	gntwarn='[   50.0] xen:grant_table: WARNING: g.e. 0x2f1 still in use!'
	verdict "log_clean: the grant table's still-in-use line fails when not expected" fails "$gntwarn"
	expect_message 'xen:grant_table: WARNING: g\.e\. 0x[0-9a-f]+ still in use!$'
	noted_expected() { log_clean "$1" && grep -q 'expected message, not counted' "$XNT_KNOWN_UPSTREAM_LOG"; }
	verdict "log_clean: ... passes, and is noted, once the scenario expects it" noted_expected "$gntwarn"
	verdict "log_clean: ... but a report right after it still fails" fails "$gntwarn
[   50.1] BUG: kernel NULL pointer dereference, address: 0000000000000008"
	exit $failed
) || failed=1

# The benchmark's parsing and tables (scenarios/bench-report.sh, shared by the scenario in
# dom0 and the host's bench.sh), on made-up iperf3 output and records.
(
	# shellcheck source-path=SCRIPTDIR source=scenarios/bench-report.sh
	source "$XNT_DIR/scenarios/bench-report.sh"
	json=$(printf '%s\n' 'XSTAT0 cpu  10 0 20 900 0 1 2 0 0 0' '{' '	"end":	{' '		"sum_sent":	{' \
		'			"seconds":	3.000305,' '			"bytes":	41943040,' '		},' '		"sum_received":	{' \
		'			"start":	0,' '			"seconds":	3.000112,' '			"bytes":	41746432,' '			"sender":	true' \
		'		},' '	}' '}' 'XSTAT1 cpu  20 0 40 950 0 2 4 0 0 0')
	verdict "bench_receiver: bytes and seconds of iperf3's sum_received, not sum_sent" \
		test "$(bench_receiver "$json")" = "41746432 3.000112"
	verdict "bench_receiver: iperf3's error output gives 0 bytes" \
		test "$(bench_receiver '{ "end": {}, "error": "unable to connect to server" }')" = "0 0.000000"
	{
		for r in 1 2 3; do
			echo "XNT-BENCH round=$r be=c fe=c q=1 wl=tcp-tx secs=3 len=- bytes=$((27000000 + r * 3000000)) rsecs=3 vrx=900 vtx=1100 d0ms=$((270 + r * 30)) gms=$((135 + r * 15)) hc=- ok=1"
			printf '[ 9.1] XNT-BENCH round=%s be=rust fe=c q=1 wl=tcp-tx secs=3 len=- bytes=39600000 rsecs=3 vrx=900 vtx=1100 d0ms=396 gms=198 hc=1000 ok=1\r\n' "$r"
		done
		echo "XNT-BENCH round=4 be=c fe=c q=1 wl=tcp-tx secs=3 len=- bytes=900000000 rsecs=3 vrx=1 vtx=1 d0ms=1 gms=1 hc=- ok=0"
		echo "XNT-BENCH round=4 be=c fe=c q=1 wl=tcp-tx secs=3 len=- bytes=900000000"
		echo "XNT-BENCH round=1 be=c fe=c q=4 wl=udp-rx secs=3 len=64 bytes=3840000 rsecs=3 vrx=10 vtx=60000 d0ms=600 gms=1200 hc=- ok=1"
	} >"$tmp/bench.dat"
	md=$(bench_report --markdown "$tmp/bench.dat")
	verdict "bench_report: min/median/max over the rounds, costs per MB; records that moved nothing or lack keys left out" \
		grep -qxF '| TCP guest->dom0 | 1 | C | C | 80.0 | 88.0 | 96.0 | Mbit/s | 18.2% | - | - | 10.00 | 5.00 | ms/MB | - | 3 |' <<<"$md"
	verdict "bench_report: the Rust netback's ratio over the C netback with the same netfront, hypercalls per packet" \
		grep -qxF '| TCP guest->dom0 | 1 | Rust | C | 105.6 | 105.6 | 105.6 | Mbit/s | 0.0% | 1.200 | - | 10.00 | 5.00 | ms/MB | 0.500 | 3 |' <<<"$md"
	verdict "bench_report: UDP in thousands of datagrams per second, costs per vif packet" \
		grep -qxF '| UDP dom0->guest | 4 | C | C | 20.00 | 20.00 | 20.00 | kpkt/s | 0.0% | - | - | 10.00 | 20.00 | us/pkt | - | 1 |' <<<"$md"
	verdict "bench_report: a pair without records has an empty row, no ratio" \
		grep -qxF '| TCP guest->dom0 | 1 | Rust | Rust | - | - | - | Mbit/s | - | - | - | - | - | ms/MB | - | 0 |' <<<"$md"
	verdict "bench_report --plot: median, min, max per pair, NaN where none" \
		grep -qxF '"guest->dom0|1 queue" 88.000 80.000 96.000 NaN NaN NaN 105.600 105.600 105.600 NaN NaN NaN' \
		<<<"$(bench_report --plot "$tmp/bench.dat")"
	exit $failed
) || failed=1

# The Toeplitz hash of dom0/toeplitz.sh (scenarios/rss.sh compares it with the hash the
# guest's kernel saw) against Microsoft's RSS verification vectors ("Verifying the RSS
# Hash Calculation"; the same as common/src/protocol/ctrl.rs's
# toeplitz_matches_the_microsoft_vectors): each flow's IPv4/IPv6 hash and its TCP hash.
(
	# shellcheck source-path=SCRIPTDIR source=dom0/toeplitz.sh
	source "$XNT_DIR/dom0/toeplitz.sh"
	ms_key=6d:5a:56:da:25:5b:0e:c2:41:67:25:3d:43:a3:8f:b0:d0:ca:2b:cb:ae:7b:30:b4:77:cb:2d:a3:80:30:f2:0c:6a:42:b7:3b:be:ac:01:fa
	bad=""
	# destination port source port IP-hash TCP-hash
	while read -r dst dport src sport ip tcp; do
		got=$(toeplitz_flow "$ms_key" "$src" "$dst")
		[ "$got" = "$ip" ] || bad+=" $src->$dst: $got, want $ip;"
		got=$(toeplitz_flow "$ms_key" "$src" "$dst" "$sport" "$dport")
		[ "$got" = "$tcp" ] || bad+=" $src:$sport->$dst:$dport: $got, want $tcp;"
	done <<'VECTORS'
161.142.100.80 1766 66.9.149.187 2794 0x323e8fc2 0x51ccc178
65.69.140.83 4739 199.92.111.2 14230 0xd718262a 0xc626b0ea
12.22.207.184 38024 24.19.198.95 12898 0xd2d0a5de 0x5c2b394a
209.142.163.6 2217 38.27.205.30 48228 0x82989176 0xafc7327f
202.188.127.2 1303 153.39.163.191 44251 0x5d1809c5 0x10e828a2
3ffe:2501:200:3::1 1766 3ffe:2501:200:1fff::7 2794 0x2cc18cd5 0x40207d3d
ff02::1 4739 3ffe:501:8::260:97ff:fe40:efab 14230 0x0f0c461c 0xdde51bbf
fe80::200:f8ff:fe21:67cf 38024 3ffe:1900:4545:3:200:f8ff:fe21:67cf 44251 0x4b61e985 0x02d1feef
VECTORS
	[ -z "$bad" ] || echo "toeplitz:$bad"
	verdict "toeplitz.sh: Microsoft's RSS vectors, 5 IPv4 and 3 IPv6 flows, addresses only and with TCP ports" test -z "$bad"
	verdict "toeplitz.sh: the IPv4 TCP input is src addr, dst addr, src port, dst port in network order" \
		test "$(toeplitz_input 66.9.149.187 161.142.100.80 2794 1766)" = 420995bba18e64500aea06e6
	# As ctrl.rs's toeplitz_counts_key_bytes_past_the_end_as_zero: a 13-byte key hashes
	# like that key padded with zeros; no key or no input hashes to 0.
	ones=$(printf 'ff%.0s' $(seq 36))
	verdict "toeplitz.sh: key bytes past the key's end count as zero" \
		test "$(toeplitz "${ms_key:0:38}" "$ones")" = "$(toeplitz "${ms_key:0:38}$(printf ':00%.0s' $(seq 27))" "$ones")"
	verdict "toeplitz.sh: ... and a 13-byte key differs from the whole key there" \
		test "$(toeplitz "${ms_key:0:38}" "$ones")" != "$(toeplitz "$ms_key" "$ones")"
	verdict "toeplitz.sh: no key or no input hashes to 0" \
		test "$(toeplitz "" "$ones")/$(toeplitz "$ms_key" "")" = 0x00000000/0x00000000
	verdict "toeplitz.sh: a key that is not hex bytes is refused" eval '! toeplitz 6d:5 0a'
	exit $failed
) || failed=1

exit $failed
