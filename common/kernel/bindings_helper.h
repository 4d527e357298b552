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
 * or that Rust embeds, checked at compile time (common/kernel/layout.rs). That crate is
 * generated without layout tests; the structs generated here carry bindgen's own.
 */
enum {
	XNT_SIZE_SKB = sizeof(struct sk_buff),
	XNT_OFF_SKB_LEN = offsetof(struct sk_buff, len),
	XNT_OFF_SKB_DATA_LEN = offsetof(struct sk_buff, data_len),
	XNT_OFF_SKB_END = offsetof(struct sk_buff, end),
	XNT_OFF_SKB_TAIL = offsetof(struct sk_buff, tail),
	XNT_OFF_SKB_QUEUE_MAPPING = offsetof(struct sk_buff, queue_mapping),
	XNT_OFF_SKB_DATA = offsetof(struct sk_buff, data),
	XNT_OFF_SKB_HEAD = offsetof(struct sk_buff, head),
	XNT_OFF_SKB_PROTOCOL = offsetof(struct sk_buff, protocol),
	XNT_OFF_SKB_HASH = offsetof(struct sk_buff, hash),
	XNT_OFF_SKB_CB = offsetof(struct sk_buff, cb),
	XNT_OFF_SKB_HEAD_NEXT = offsetof(struct sk_buff_head, next),
	XNT_SIZE_SKB_HEAD = sizeof(struct sk_buff_head),
	XNT_SIZE_WAIT_QUEUE_HEAD = sizeof(struct wait_queue_head),
	XNT_SIZE_DELAYED_WORK = sizeof(struct delayed_work),
	XNT_OFF_DEVICE_PARENT = offsetof(struct device, parent),
	XNT_OFF_DEVICE_DRIVER_DATA = offsetof(struct device, driver_data),
	XNT_OFF_DEVICE_KOBJ = offsetof(struct device, kobj),
	XNT_OFF_SHINFO_NR_FRAGS = offsetof(struct skb_shared_info, nr_frags),
	XNT_OFF_SHINFO_GSO_SIZE = offsetof(struct skb_shared_info, gso_size),
	XNT_OFF_SHINFO_GSO_SEGS = offsetof(struct skb_shared_info, gso_segs),
	XNT_OFF_SHINFO_GSO_TYPE = offsetof(struct skb_shared_info, gso_type),
	XNT_OFF_SHINFO_FRAGS = offsetof(struct skb_shared_info, frags),
	XNT_SIZE_SKB_FRAG = sizeof(skb_frag_t),
	XNT_OFF_SKB_FRAG_LEN = offsetof(skb_frag_t, len),
	XNT_OFF_SKB_FRAG_OFFSET = offsetof(skb_frag_t, offset),
	XNT_SIZE_TIMER_LIST = sizeof(struct timer_list),
	XNT_ALIGN_TIMER_LIST = _Alignof(struct timer_list),
};

/* A macro chain bindgen cannot evaluate (NetDevice::new's TSO limit). */
enum { XNT_MAX_TCP_HEADER = MAX_TCP_HEADER };
