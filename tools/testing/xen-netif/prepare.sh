#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Installs the host tools and builds (or takes from the cache) everything a Xen boot needs:
# kernel, both Rust modules, the guest agent, the hostile frontend, the RX-buffer check
# (xnt-rxpeek), the hostile backend (xnt-hostile-be), Xen and the dom0 image.
# Writes their locations to $XNT_CACHE/env.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
mkdir -p "$XNT_CACHE"

t_start=$(date +%s)
"$XNT_DIR/deps.sh"
log "prepare: host tools ready after $(($(date +%s) - t_start)) s"
# Xen and the dom0 root filesystem (mostly downloads) while the kernel builds.
"$XNT_DIR/images.sh" >"$XNT_CACHE/images-early.log" 2>&1 &
images_pid=$!
KBUILD=$("$XNT_DIR/kernel.sh")
KREL=$(cat "$KBUILD/include/config/kernel.release")
log "prepare: kernel ready after $(($(date +%s) - t_start)) s"
if ! wait $images_pid; then
	tail -n 20 "$XNT_CACHE/images-early.log" >&2
	die "images.sh (Xen, dom0 root filesystem) failed"
fi

# XNT_PREPARE_MODULES=0: the caller builds the modules itself (run_tests.sh: one CLIPPY=1
# build from scratch).
if [ "${XNT_PREPARE_MODULES:-1}" = 1 ]; then
	t0=$(date +%s)
	if ! make -C "$XNT_TOP" KDIR="$KBUILD" modules >"$XNT_CACHE/modules.log" 2>&1; then
		tail -n 40 "$XNT_CACHE/modules.log" >&2
		die "building the Rust modules failed (log: $XNT_CACHE/modules.log)"
	fi
	log "modules: built in $(($(date +%s) - t0)) s"
fi

AGENT_TARGET="$XNT_CACHE/agent-target"
if ! CARGO_TARGET_DIR="$AGENT_TARGET" cargo build -q --release --target x86_64-unknown-linux-musl \
	--manifest-path "$XNT_DIR/agent/Cargo.toml" >"$XNT_CACHE/agent.log" 2>&1; then
	cat "$XNT_CACHE/agent.log" >&2
	die "building xnt-agent failed"
fi
AGENT="$AGENT_TARGET/x86_64-unknown-linux-musl/release/xnt-agent"

# The hostile frontend (issue 5) the guests run against a backend; reuses common/.
if ! CARGO_TARGET_DIR="$AGENT_TARGET" cargo build -q --release --target x86_64-unknown-linux-musl \
	--manifest-path "$XNT_DIR/hostile/Cargo.toml" >"$XNT_CACHE/hostile.log" 2>&1; then
	cat "$XNT_CACHE/hostile.log" >&2
	die "building xnt-hostile failed"
fi
HOSTILE="$AGENT_TARGET/x86_64-unknown-linux-musl/release/xnt-hostile"

# The dom0 check of a guest's posted RX buffers (XSA-403); reuses common/.
if ! CARGO_TARGET_DIR="$AGENT_TARGET" cargo build -q --release --target x86_64-unknown-linux-musl \
	--manifest-path "$XNT_DIR/rxpeek/Cargo.toml" >"$XNT_CACHE/rxpeek.log" 2>&1; then
	cat "$XNT_CACHE/rxpeek.log" >&2
	die "building xnt-rxpeek failed"
fi
RXPEEK="$AGENT_TARGET/x86_64-unknown-linux-musl/release/xnt-rxpeek"

# The hostile backend (issue 17) dom0 runs against a guest's netfront; reuses common/.
if ! CARGO_TARGET_DIR="$AGENT_TARGET" cargo build -q --release --target x86_64-unknown-linux-musl \
	--manifest-path "$XNT_DIR/hostile-backend/Cargo.toml" >"$XNT_CACHE/hostile-be.log" 2>&1; then
	cat "$XNT_CACHE/hostile-be.log" >&2
	die "building xnt-hostile-be failed"
fi
HOSTILE_BE="$AGENT_TARGET/x86_64-unknown-linux-musl/release/xnt-hostile-be"

eval "$("$XNT_DIR/images.sh" "$KBUILD")"
cat >"$XNT_CACHE/env.sh" <<ENV
KBUILD=$KBUILD
KREL=$KREL
AGENT=$AGENT
HOSTILE=$HOSTILE
RXPEEK=$RXPEEK
HOSTILE_BE=$HOSTILE_BE
XEN_ELF=$XEN_ELF
DOM0_BASE_CPIO=$DOM0_BASE_CPIO
ROOTFS=$ROOTFS
ENV
log "prepare: ready (kernel $KREL) after $(($(date +%s) - t_start)) s"
