#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build (or reuse from the cache) the Xen hypervisor image and the dom0 userspace.
# Usage: images.sh [KERNEL_BUILD_TREE]  -> prints "XEN_ELF=... DOM0_BASE_CPIO=... ROOTFS=..."
set -euo pipefail
source "$(dirname "$0")/lib.sh"

kbuild=${1:-}

DOM0_PKGS=(xen-utils-4.17 xenstore-utils iproute2 bridge-utils busybox-static kmod iperf3
	procps iputils-ping ethtool psmisc)

security_mirror() {
	grep -h -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' |
		grep security | head -n1
}

# 1. Xen hypervisor, from Debian, as a multiboot ELF for QEMU's -kernel.
# The version is pinned in lib.sh (XEN_PKG_VERSION); the dom0's xen-utils must match it.
xen_ver=$XEN_PKG_VERSION
xen_dir="$XNT_CACHE/xen-$xen_ver"
if [ ! -f "$xen_dir/xen.elf" ]; then
	offered() { apt-cache madison "$XEN_PKG" 2>/dev/null | awk -F'|' '{gsub(/ /,"",$2); print $2}'; }
	if ! offered | grep -qxF "$xen_ver"; then
		apt-get -q update >/dev/null
		offered | grep -qxF "$xen_ver" ||
			die "$XEN_PKG $xen_ver is no longer offered by apt (offered: $(offered | tr '\n' ' ')); update XEN_PKG_VERSION in tools/testing/xen-netif/lib.sh"
	fi
	log "images: fetching $XEN_PKG $xen_ver"
	rm -rf "$xen_dir" && mkdir -p "$xen_dir/deb"
	(cd "$xen_dir/deb" && apt-get -q download "$XEN_PKG=$xen_ver" >/dev/null) || die "apt-get download $XEN_PKG failed"
	dpkg-deb -x "$xen_dir"/deb/*.deb "$xen_dir/x"
	gz=$(find "$xen_dir/x/boot" -name 'xen-4.17*-amd64.gz' | head -n1)
	[ -n "$gz" ] || die "no xen-*.gz in $XEN_PKG"
	zcat "$gz" >"$xen_dir/xen.elf.tmp" && mv "$xen_dir/xen.elf.tmp" "$xen_dir/xen.elf"
	rm -rf "$xen_dir/x" "$xen_dir/deb"
fi

# 2. dom0 userspace: Debian bookworm minbase with the Xen tools, by mmdebstrap.
root_key=$(key_of "${DOM0_PKGS[*]}" "$xen_ver" "$XNT_DIR/images.sh")
rootfs="$XNT_CACHE/dom0-rootfs-$root_key"
if [ ! -f "$rootfs/.xnt-done" ]; then
	log "images: building the dom0 root filesystem with mmdebstrap (about 1-3 min)"
	rm -rf "$rootfs"
	mirror=$(debian_mirror)
	secmirror=$(security_mirror)
	mirrors=("deb $mirror bookworm main" "deb $mirror bookworm-updates main")
	[ -n "$secmirror" ] && mirrors+=("deb $secmirror bookworm-security main")
	inc=$(
		IFS=,
		echo "${DOM0_PKGS[*]}"
	)
	if ! mmdebstrap --variant=minbase --include="$inc" \
		--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
		bookworm "$rootfs.tmp" "${mirrors[@]}" >"$XNT_CACHE/mmdebstrap.log" 2>&1; then
		tail -n 40 "$XNT_CACHE/mmdebstrap.log" >&2
		die "mmdebstrap failed (log: $XNT_CACHE/mmdebstrap.log)"
	fi
	utils_ver=$(chroot "$rootfs.tmp" dpkg-query -W -f='${Version}' xen-utils-4.17)
	[ "$utils_ver" = "$xen_ver" ] || die "images: dom0's xen-utils-4.17 is $utils_ver, the hypervisor $xen_ver: update XEN_PKG_VERSION in lib.sh"
	rm -rf "$rootfs.tmp"/var/cache/apt/archives/*.deb "$rootfs.tmp"/var/lib/apt/lists/*
	mv "$rootfs.tmp" "$rootfs"
	touch "$rootfs/.xnt-done"
fi

# 3. dom0 base initramfs: root filesystem + the kernel's modules + the guest kernel.
if [ -z "$kbuild" ]; then
	echo "XEN_ELF=$xen_dir/xen.elf ROOTFS=$rootfs"
	exit 0
fi
krel=$(cat "$kbuild/include/config/kernel.release")
base_key=$(key_of "$root_key" "$kbuild" "$(stat -c %Y "$kbuild/.xnt-built")")
base="$XNT_CACHE/dom0-base-$base_key.cpio"
if [ ! -f "$base" ]; then
	log "images: packing the dom0 base initramfs"
	rm -f "$XNT_CACHE"/dom0-base-*.cpio
	stage="$XNT_CACHE/dom0-stage"
	rm -rf "$stage" && mkdir -p "$stage/usr/lib/modules" "$stage/xnt/guest"
	# usr/lib, not lib: the root filesystem is merged-/usr, and an initramfs directory entry
	# "lib" would replace its /lib symlink.
	cp -a "$kbuild/mod-root/lib/modules/$krel" "$stage/usr/lib/modules/"
	rm -f "$stage/usr/lib/modules/$krel/build" "$stage/usr/lib/modules/$krel/source"
	cp "$kbuild/vmlinux" "$stage/xnt/guest/vmlinux"
	(cd "$rootfs" && find . -path ./.xnt-done -prune -o -print0 | cpio --null -o -H newc --quiet) >"$base.tmp"
	(cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet) >>"$base.tmp"
	mv "$base.tmp" "$base"
	rm -rf "$stage"
fi
echo "XEN_ELF=$xen_dir/xen.elf DOM0_BASE_CPIO=$base ROOTFS=$rootfs KREL=$krel"
