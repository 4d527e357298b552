/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C headers behind the drivers' module-private bindings. Only the items the allowlist in
 * common/kernel/bindgen.mk names are generated; every other type comes from the kernel's
 * own `bindings` crate, so the two never disagree.
 */
#include <linux/moduleparam.h>
#include <linux/cpumask.h>
#include <linux/etherdevice.h>
#include <linux/netdevice.h>
#include <linux/rtnetlink.h>
#include <xen/xen.h>
#include <xen/xenbus.h>
#include <xen/grant_table.h>
#include <xen/events.h>
#include <xen/interface/io/netif.h>
#include "helpers.h"
#include "net_helpers.h"
#include "backend_helpers.h"
