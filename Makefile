# SPDX-License-Identifier: GPL-2.0
#
# Out-of-tree build of the Rust Xen network drivers, plus the project's own targets.
#
#   make KDIR=<Rust-enabled kernel build tree>          build both modules
#   make KDIR=... modules_install [INSTALL_MOD_PATH=]    install to .../updates/
#   make check                                          host unit tests of common/
#   make demo / make test / make test-quick / make hostile / make bench   see README.md
#
# Inside a kernel tree Kbuild reads ./Kbuild and ./Kconfig instead of this file's rules.

ifneq ($(KERNELRELEASE),)
include $(src)/Kbuild
else

KDIR ?= /lib/modules/$(shell uname -r)/build
LLVM ?= -19
PWD := $(shell pwd)
KMAKE = $(MAKE) -C $(KDIR) M=$(PWD) LLVM=$(LLVM) \
	CONFIG_XEN_NETDEV_BACKEND_RUST=m CONFIG_XEN_NETDEV_FRONTEND_RUST=m

.PHONY: all modules modules_install clean check clippy demo test test-quick hostile bench
all: modules

modules:
	$(KMAKE) modules

# `updates/` comes before the kernel's own directories in depmod's default search order,
# so `modprobe xen_netback` / `modprobe xen_netfront` pick these over the C modules.
modules_install:
	$(KMAKE) INSTALL_MOD_DIR=updates modules_install

clippy:
	$(KMAKE) CLIPPY=1 modules

clean:
	$(KMAKE) clean

check:
	cargo test --manifest-path common/Cargo.toml

demo:
	tools/testing/xen-netif/demo.sh

test:
	tools/testing/xen-netif/run_tests.sh

# The inner loop: host checks, one module build, one boot with one scenario per capability.
test-quick:
	tools/testing/xen-netif/run_tests.sh --quick

hostile:
	tools/testing/xen-netif/hostile.sh

# The deterministic benchmark (QEMU -icount): writes Documentation/bench/results.md and
# throughput.png. Not part of `make test`.
bench:
	tools/testing/xen-netif/bench.sh

endif
