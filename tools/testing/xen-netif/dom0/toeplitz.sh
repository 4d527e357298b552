# SPDX-License-Identifier: GPL-2.0
# The Toeplitz hash of the netif control ring (reference xen-netif.md 1.11; netif.h's
# xen_netif_toeplitz_hash; common/src/protocol/ctrl.rs `toeplitz`) in bash arithmetic, for
# scenarios to compute the hash a packet must carry (scenarios/rss.sh) and for the host's
# harness-selftest.sh, which checks it against Microsoft's RSS verification vectors.
# Sourced: in dom0 from /xnt/toeplitz.sh, on the host from dom0/toeplitz.sh.
#
#   toeplitz KEY INPUT           the hash of INPUT under KEY, printed as 0x%08x; both are
#                                hex bytes, ':'-separated (as ethtool -x prints a key) or not
#   toeplitz_input SRC DST [SPORT DPORT]
#                                the hash input of a packet from SRC to DST (IPv4 or IPv6
#                                addresses; with the ports: the TCP variant), hex bytes in
#                                network order: src addr | dst addr [| src port | dst port]
#   toeplitz_flow KEY SRC DST [SPORT DPORT]
#                                toeplitz KEY "$(toeplitz_input SRC DST [SPORT DPORT])"

# toeplitz KEY INPUT: for each set bit of INPUT, MSB of byte 0 first, XOR in the 32 key
# bits starting at that bit's position; key bytes past the key's end count as zero.
# The window holds the 40 key bits at the current input byte (bits 8n .. 8n+39): the 32
# bits starting at bit b of the byte are window >> (8 - b). Everything stays below 2^40,
# clear of bash's signed 64-bit arithmetic.
toeplitz() {
	local key=${1//:/} in=${2//:/} i b byte hash=0 window=0
	local -a k
	if [[ ! $key =~ ^([0-9a-fA-F]{2})*$ || ! $in =~ ^([0-9a-fA-F]{2})*$ ]]; then
		echo "toeplitz: KEY and INPUT must be hex bytes" >&2
		return 2
	fi
	for ((i = 0; i < ${#key} / 2; i++)); do k[i]=$((16#${key:2*i:2})); done
	for ((i = 0; i < 5; i++)); do window=$(((window << 8) | ${k[i]:-0})); done
	for ((i = 0; i < ${#in} / 2; i++)); do
		byte=$((16#${in:2*i:2}))
		for ((b = 0; b < 8; b++)); do
			((byte & (0x80 >> b))) && hash=$((hash ^ ((window >> (8 - b)) & 0xffffffff)))
		done
		window=$((((window << 8) | ${k[i + 5]:-0}) & 0xffffffffff))
	done
	printf '0x%08x\n' "$hash"
}

# toeplitz_addr ADDR: an IPv4 or IPv6 address as hex bytes (4 or 16).
toeplitz_addr() {
	local a=$1 head tail g n out="" i
	local -a o hg tg
	if [[ $a =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
		IFS=. read -r -a o <<<"$a"
		for i in 0 1 2 3; do
			((10#${o[i]} <= 255)) || { echo "toeplitz_addr: bad IPv4 address $a" >&2; return 2; }
			out+=$(printf '%02x' "$((10#${o[i]}))")
		done
		echo "$out"
		return 0
	fi
	[[ $a =~ ^[0-9a-fA-F:]+$ && $a == *:* ]] || { echo "toeplitz_addr: bad address $a" >&2; return 2; }
	# IPv6: the groups before and after "::", zeros in between.
	if [[ $a == *::* ]]; then head=${a%%::*} tail=${a#*::}; else head=$a tail=""; fi
	[[ $tail != *::* ]] || { echo "toeplitz_addr: bad IPv6 address $a" >&2; return 2; }
	IFS=: read -r -a hg <<<"$head"
	IFS=: read -r -a tg <<<"$tail"
	n=$((8 - ${#hg[@]} - ${#tg[@]}))
	if [[ $a == *::* ]]; then ((n >= 1)) || { echo "toeplitz_addr: bad IPv6 address $a" >&2; return 2; }
	else ((n == 0)) || { echo "toeplitz_addr: bad IPv6 address $a" >&2; return 2; }; fi
	for g in "${hg[@]}"; do out+=$(printf '%04x' "$((16#$g))"); done
	for ((i = 0; i < n; i++)); do out+=0000; done
	for g in "${tg[@]}"; do out+=$(printf '%04x' "$((16#$g))"); done
	echo "$out"
}

# toeplitz_input SRC DST [SPORT DPORT]: reference 1.11's input buffer.
toeplitz_input() {
	local s d
	s=$(toeplitz_addr "$1") && d=$(toeplitz_addr "$2") || return 2
	[ ${#s} = ${#d} ] || { echo "toeplitz_input: $1 and $2 are not the same family" >&2; return 2; }
	if [ $# -ge 4 ]; then
		printf '%s%s%04x%04x\n' "$s" "$d" "$3" "$4"
	else
		echo "$s$d"
	fi
}

# toeplitz_flow KEY SRC DST [SPORT DPORT]
toeplitz_flow() {
	local key=$1 in
	shift
	in=$(toeplitz_input "$@") || return 2
	toeplitz "$key" "$in"
}
