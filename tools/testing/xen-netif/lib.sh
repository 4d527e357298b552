# SPDX-License-Identifier: GPL-2.0
# Shared helpers for the xen-netif build and test harness (sourced, not run).

XNT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
XNT_TOP=$(cd "$XNT_DIR/../../.." && pwd)
# Everything built or downloaded lives outside the repository.
XNT_CACHE=${XNT_CACHE:-/var/cache/xen-netif-rust}
XNT_START=${XNT_START:-$(date +%s)}
# rustup's cargo, rustc and the cargo-installed bindgen.
export PATH="${CARGO_HOME:-${HOME:-/root}/.cargo}/bin:$PATH"
export XNT_START

# The one place that names the kernel we build against.
KERNEL_SERIES=7.3
KERNEL_PKG=linux-source-$KERNEL_SERIES
KERNEL_PKG_VERSION=${KERNEL_PKG_VERSION:-7.3.4-1~bpo13+1}
KERNEL_SUITE=trixie-backports
# The one place that names the Xen hypervisor (from bookworm-security/bookworm); images.sh
# fails with a clear message when the mirror no longer offers this version.
XEN_PKG=xen-hypervisor-4.17-amd64
XEN_PKG_VERSION=${XEN_PKG_VERSION:-4.17.7+13-g2445b30a44-0+deb12u1}
BINDGEN_VERSION=0.72.1
LLVM_SUFFIX=-19
# fuzz.sh: cargo fuzz needs a nightly rustc (SanitizerCoverage); pinned for reproducible runs.
FUZZ_TOOLCHAIN=nightly-2026-05-20
CARGO_FUZZ_VERSION=0.13.2

log() {
	local now
	now=$(date +%s)
	printf '[xnt %4ds] %s\n' "$((now - XNT_START))" "$*" >&2
}

die() {
	printf '[xnt] ERROR: %s\n' "$*" >&2
	exit 1
}

# The mirror URI the machine's own apt sources already use for Debian.
debian_mirror() {
	local uri
	uri=$(grep -h -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '{print $2}' | grep -v -E 'security|nodesource|google' | head -n 1)
	if [ -z "$uri" ]; then
		uri=$(grep -h -E '^deb ' /etc/apt/sources.list 2>/dev/null |
			awk '{print $2}' | grep -v security | head -n 1)
	fi
	[ -n "$uri" ] || die "cannot find the Debian mirror URI in /etc/apt/sources.list{,.d}"
	echo "$uri"
}

# Private apt configuration for one extra suite, leaving the system's apt state untouched.
# Usage: private_apt SUITE -> prints the apt options to use.
private_apt() {
	local suite=$1 dir="$XNT_CACHE/apt-$1"
	if [ ! -f "$dir/updated" ] || [ -n "$(find "$dir/updated" -mmin +1440 2>/dev/null)" ]; then
		mkdir -p "$dir/lists/partial" "$dir/archives/partial"
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) $suite main" >"$dir/sources.list"
		apt-get -q -o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null \
			-o Dir::State::Lists="$dir/lists" update >&2 || die "apt-get update for suite $suite failed"
		touch "$dir/updated"
	fi
	echo "-o Dir::Etc::SourceList=$dir/sources.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$dir/lists"
}

# Installs what fuzz.sh needs, if missing: the pinned nightly (minimal profile) and
# cargo-fuzz. Where the pinned nightly cannot be downloaded, falls back to an installed
# `nightly` toolchain (FUZZ_TOOLCHAIN is changed to it).
fuzz_tools() {
	command -v rustup >/dev/null || die "rustup is missing: cargo fuzz needs a nightly toolchain"
	if ! rustup toolchain list | grep -q "^$FUZZ_TOOLCHAIN-"; then
		log "rustup: installing $FUZZ_TOOLCHAIN (profile minimal) for cargo fuzz"
		local out
		if ! out=$(rustup toolchain install "$FUZZ_TOOLCHAIN" --profile minimal 2>&1); then
			log "rustup: $(grep -m 1 -i 'error' <<<"$out" || tail -n 1 <<<"$out")"
			rustup toolchain list | grep -q '^nightly-x86_64' ||
				die "rustup toolchain install $FUZZ_TOOLCHAIN failed, and no nightly is installed"
			FUZZ_TOOLCHAIN=nightly
			log "rustup: using the installed nightly instead: $(rustup run nightly rustc --version)"
		fi
	fi
	if ! cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
		log "cargo: installing cargo-fuzz $CARGO_FUZZ_VERSION (about 2 minutes)"
		cargo install -q cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked ||
			die "cargo install cargo-fuzz $CARGO_FUZZ_VERSION failed"
	fi
}

# Short, stable hash of a list of strings and files.
key_of() {
	local item
	for item in "$@"; do
		if [ -f "$item" ]; then
			sha256sum "$item" | cut -d' ' -f1
		else
			echo "$item"
		fi
	done | sha256sum | cut -c1-16
}
