#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build (or reuse from the cache) the Rust-enabled test kernel.
# Prints the kernel build tree's path on stdout.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

FRAGMENT="$XNT_DIR/config/xen-netif.config"
# Fixes the test kernel needs (each patch says why), applied to the unpacked source.
PATCHES=("$XNT_DIR"/config/patches/*.patch)
[ -e "${PATCHES[0]}" ] || PATCHES=()
JOBS=${JOBS:-$(nproc)}

tool_versions() {
	rustc --version
	bindgen --version
	"clang$LLVM_SUFFIX" --version | head -n1
	rustup component list --installed | grep rust-src || true
}

src_dir="$XNT_CACHE/src/linux-$KERNEL_PKG_VERSION"
# Everything that shapes the kernel: the source version, our fragment, this script (the
# base config and the build steps), the toolchain (rustc, bindgen, clang and its suffix).
key=$(key_of "$KERNEL_PKG_VERSION" "$FRAGMENT" "$XNT_DIR/kernel.sh" "${PATCHES[@]}" "LLVM$LLVM_SUFFIX" "$(tool_versions)")
patches_key=$(key_of none "${PATCHES[@]}")
build="$XNT_CACHE/kernel-$key"

if [ -f "$build/.xnt-built" ]; then
	log "kernel: cached build $build (key $key)"
	echo "$build"
	exit 0
fi

# 1. Source: Debian's linux-source package from trixie-backports, with our patches.
if [ -f "$src_dir/.xnt-unpacked" ] && [ "$(cat "$src_dir/.xnt-patches" 2>/dev/null)" != "$patches_key" ]; then
	log "kernel: the patches changed: unpacking the source again"
	rm -f "$src_dir/.xnt-unpacked"
fi
if [ ! -f "$src_dir/.xnt-unpacked" ]; then
	dl="$XNT_CACHE/dl"
	mkdir -p "$dl"
	deb="$dl/${KERNEL_PKG}_${KERNEL_PKG_VERSION//:/%3a}_all.deb"
	if [ ! -f "$deb" ]; then
		opts=$(private_apt "$KERNEL_SUITE")
		# shellcheck disable=SC2086
		avail=$(apt-cache $opts madison "$KERNEL_PKG" 2>/dev/null | awk -F'|' '{gsub(/ /,"",$2); print $2}')
		if ! grep -qxF "$KERNEL_PKG_VERSION" <<<"$avail"; then
			die "$KERNEL_PKG $KERNEL_PKG_VERSION is no longer offered by $KERNEL_SUITE (offered: ${avail:-nothing}); update KERNEL_PKG_VERSION in tools/testing/xen-netif/lib.sh"
		fi
		log "kernel: downloading $KERNEL_PKG $KERNEL_PKG_VERSION"
		# shellcheck disable=SC2086
		(cd "$dl" && apt-get -q $opts download "$KERNEL_PKG=$KERNEL_PKG_VERSION" >/dev/null) ||
			die "apt-get download $KERNEL_PKG=$KERNEL_PKG_VERSION failed"
	fi
	log "kernel: unpacking source"
	rm -rf "$src_dir" "$src_dir.tmp"
	mkdir -p "$src_dir.tmp"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$src_dir.tmp" --wildcards '*.tar.xz'
	tarball=$(find "$src_dir.tmp" -name 'linux-source-*.tar.xz' | head -n1)
	[ -n "$tarball" ] || die "no source tarball inside $deb"
	tar -xJf "$tarball" -C "$src_dir.tmp"
	rm -f "$tarball"
	mv "$(find "$src_dir.tmp" -mindepth 2 -maxdepth 3 -name MAINTAINERS -printf '%h\n' | head -n1)" "$src_dir"
	rm -rf "$src_dir.tmp"
	for p in "${PATCHES[@]}"; do
		log "kernel: applying ${p##*/}"
		patch -s -d "$src_dir" -p1 <"$p" || die "patch ${p##*/} does not apply"
	done
	echo "$patches_key" >"$src_dir/.xnt-patches"
	touch "$src_dir/.xnt-unpacked"
fi

# 2. Toolchain check. A new key on a machine that built another configuration before
# starts from a copy of the newest finished build: Kbuild then rebuilds only what the
# changed options and files touch (a minute or two instead of 20).
kmake() { make -C "$src_dir" O="$build" LLVM="$LLVM_SUFFIX" "$@"; }
if [ ! -e "$build/vmlinux" ]; then
	seed=$(ls -td "$XNT_CACHE"/kernel-*/.xnt-built 2>/dev/null | head -n 1)
	if [ -n "$seed" ]; then
		seed=${seed%/.xnt-built}
		log "kernel: starting from a copy of $seed (incremental build)"
		rm -rf "$build"
		cp -a "$seed" "$build"
		rm -rf "$build/.xnt-built" "$build/mod-root"
	fi
fi
mkdir -p "$build"
if ! kmake rustavailable >"$build/rustavailable.log" 2>&1; then
	cat "$build/rustavailable.log" >&2
	die "the kernel says Rust is not available (see above): run tools/testing/xen-netif/deps.sh"
fi

# 3. Configuration: defconfig + the kernel's Xen fragments + ours.
log "kernel: configuring $build"
kmake x86_64_defconfig >/dev/null
(cd "$build" && "$src_dir/scripts/kconfig/merge_config.sh" -m .config \
	"$src_dir/kernel/configs/xen.config" "$src_dir/arch/x86/configs/xen.config" "$FRAGMENT" >/dev/null)
kmake olddefconfig >/dev/null
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=n) want="# ${line%=n} is not set" ;;
	CONFIG_*) want=$line ;;
	"# CONFIG_"*" is not set") want=$line ;;
	*) continue ;;
	esac
	sym=$(sed -E 's/^# (CONFIG_[A-Za-z0-9_]+).*/\1/; s/=.*//' <<<"$want")
	have=$(grep -E "^(# )?$sym[= ]" "$build/.config" || echo "# $sym is not set")
	if [ "$have" != "$want" ]; then
		log "kernel config: wanted '$want', got '$have'"
		bad=1
	fi
done <"$FRAGMENT"
# Every line of the fragment must hold after olddefconfig: a line that does not stick is
# a wrong belief about the test kernel (and the suite relies on the debug options).
[ "$bad" = 0 ] || die "kernel options of $FRAGMENT did not stick (see above): fix the fragment"
[ "${XNT_KERNEL_CONFIG_ONLY:-0}" = 1 ] && { log "kernel: configured only ($build/.config)"; exit 0; }

# 4. Build.
t0=$(date +%s)
log "kernel: building with -j$JOBS (about 15-30 min cold); log $build/build.log"
if ! kmake -j"$JOBS" vmlinux bzImage modules >"$build/build.log" 2>&1; then
	tail -n 40 "$build/build.log" >&2
	die "kernel build failed (full log: $build/build.log)"
fi
rm -rf "$build/mod-root"
kmake INSTALL_MOD_PATH="$build/mod-root" modules_install >/dev/null
touch "$build/.xnt-built"
# Keep the two newest finished builds (2.7 GB each) and nothing unfinished.
for d in "$XNT_CACHE"/kernel-*/; do [ -f "$d/.xnt-built" ] || [ "${d%/}" = "$build" ] || rm -rf "$d"; done
ls -td "$XNT_CACHE"/kernel-*/.xnt-built | tail -n +3 | xargs -r dirname | xargs -r rm -rf
log "kernel: built $(cat "$build/include/config/kernel.release") in $(($(date +%s) - t0)) s"
echo "$build"
