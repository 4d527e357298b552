/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C headers behind the drivers' module-private bindings. Only the items the allowlist in
 * common/kernel/bindgen.mk names are generated; every other type comes from the kernel's
 * own `bindings` crate (a separate bindgen run). bindgen's compile-time layout tests
 * check each generated struct, and so the member types it takes from that crate.
 */
#include <linux/moduleparam.h>
#include <linux/cpumask.h>
#include <linux/etherdevice.h>
#include <linux/netdevice.h>
#include <linux/rtnetlink.h>
#include <linux/if_vlan.h>
#include <net/tcp.h>
#include <xen/xen.h>
#include <xen/xenbus.h>
#include <xen/grant_table.h>
#include <xen/events.h>
#include <xen/interface/io/netif.h>
#include "helpers.h"
#include "net_helpers.h"
#include "backend_helpers.h"

/*
 * The C layout of the kernel `bindings` crate's structs whose fields Rust reads directly
 * or that Rust embeds, checked at compile time (common/kernel/layout.rs). That crate is generated without
 * layout tests; the structs generated here carry bindgen's own (see bindgen.mk).
 */
enum {
	XNT_SIZE_SKB = sizeof(struct sk_buff),
	XNT_OFF_SKB_LEN = offsetof(struct sk_buff, len),
	XNT_OFF_SKB_QUEUE_MAPPING = offsetof(struct sk_buff, queue_mapping),
	XNT_OFF_SKB_DATA = offsetof(struct sk_buff, data),
	XNT_OFF_SKB_HEAD = offsetof(struct sk_buff, head),
	XNT_OFF_SKB_PROTOCOL = offsetof(struct sk_buff, protocol),
	XNT_OFF_SKB_CB = offsetof(struct sk_buff, cb),
	XNT_OFF_DEVICE_PARENT = offsetof(struct device, parent),
	XNT_SIZE_TIMER_LIST = sizeof(struct timer_list),
};

/* A macro chain bindgen cannot evaluate (NetDevice::new's TSO limit). */
enum { XNT_MAX_TCP_HEADER = MAX_TCP_HEADER };
