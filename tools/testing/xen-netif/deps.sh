#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install every host tool the build and the Xen-in-QEMU harness need.
# Idempotent: a second run only checks.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

APT_PKGS=(build-essential bc bison flex libelf-dev libssl-dev cpio xz-utils kmod rsync
	python3 zstd patch "clang$LLVM_SUFFIX" "lld$LLVM_SUFFIX" "llvm$LLVM_SUFFIX"
	"libclang$LLVM_SUFFIX-dev" mmdebstrap e2fsprogs)
# QEMU 10 from bookworm-backports: bookworm's 7.2 would replace the machine's qemu-utils 10.
QEMU_PKGS=(qemu-system-x86)

missing=()
for p in "${APT_PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "apt: installing ${missing[*]}"
	apt-get -q update >/dev/null || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get -q -y install --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
fi

if ! command -v qemu-system-x86_64 >/dev/null; then
	dir="$XNT_CACHE/apt-bookworm-backports"
	mkdir -p "$dir/lists/partial"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) bookworm-backports main" >"$dir/backports.list"
	opts=(-o Dir::Etc::SourceList="$dir/backports.list" -o Dir::State::Lists="$dir/lists")
	log "apt: installing ${QEMU_PKGS[*]} from bookworm-backports"
	apt-get -q "${opts[@]}" update >/dev/null || die "apt-get update (bookworm-backports) failed"
	DEBIAN_FRONTEND=noninteractive apt-get -q -y "${opts[@]}" -t bookworm-backports install \
		--no-install-recommends "${QEMU_PKGS[@]}" >/dev/null || die "installing QEMU from bookworm-backports failed"
fi

# Rust: the machine's rustup toolchain plus rust-src, and bindgen-cli for the kernel.
command -v rustup >/dev/null || die "rustup is missing: the kernel's Rust support needs rustc + rust-src"
if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
	log "rustup: adding rust-src"
	rustup component add rust-src >/dev/null || die "rustup component add rust-src failed"
fi
if ! rustup target list --installed 2>/dev/null | grep -q '^x86_64-unknown-linux-musl'; then
	log "rustup: adding the x86_64-unknown-linux-musl target (static guest agent)"
	rustup target add x86_64-unknown-linux-musl >/dev/null || die "rustup target add x86_64-unknown-linux-musl failed"
fi
if ! bindgen --version 2>/dev/null | grep -q " $BINDGEN_VERSION"; then
	log "cargo: installing bindgen-cli $BINDGEN_VERSION (about 3 minutes)"
	cargo install -q bindgen-cli --version "$BINDGEN_VERSION" --locked ||
		die "cargo install bindgen-cli $BINDGEN_VERSION failed"
fi
# The pinned nightly and cargo-fuzz for the fuzz targets of common/ (fuzz.sh).
fuzz_tools
log "host tools present: $(rustc --version | cut -d' ' -f1-2), $(bindgen --version), $(cargo fuzz --version) on $FUZZ_TOOLCHAIN, clang$LLVM_SUFFIX $(clang$LLVM_SUFFIX -dumpversion), $(qemu-system-x86_64 --version | head -n1)"
