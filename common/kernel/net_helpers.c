// SPDX-License-Identifier: GPL-2.0
/*
 * C side of the Rust net_device / NAPI / skb / page abstractions; see net_helpers.h.
 * Every function here only adapts a kernel API to plain types; the Rust side
 * (common/kernel/net/) documents the safety contracts. What remains: NAPI scheduling
 * with bottom halves off from a thread, and one-line wrappers of static inlines. The
 * device set-up, the ops tables, the event-channel binding, the NAPI context with its
 * timer, the CFI and page-size checks and the exported functions are Rust.
 * 208 lines; see Documentation/design.md, "The C that remains, and why".
 */
#include <linux/etherdevice.h>
#include <linux/interrupt.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <net/gro.h>
#include <net/tcp.h>
#include <xen/page.h>
#include <xen/xenbus.h>
#include <xen/interface/io/netif.h>
#include "net_helpers.h"

/* Under RTNL (rtnl_lock()), or on a device not registered yet. */
void xnt_netdev_set_mac_locked(struct net_device *dev, const u8 *mac)
{
	eth_hw_addr_set(dev, mac);
}

void xnt_netdev_tx_stop(struct net_device *dev, unsigned int queue)
{
	netif_tx_stop_queue(netdev_get_tx_queue(dev, queue));
}

void xnt_netdev_tx_wake(struct net_device *dev, unsigned int queue)
{
	netif_tx_wake_queue(netdev_get_tx_queue(dev, queue));
}

bool xnt_netdev_tx_stopped(struct net_device *dev, unsigned int queue)
{
	return netif_tx_queue_stopped(netdev_get_tx_queue(dev, queue));
}

void xnt_netdev_tx_start_all(struct net_device *dev)
{
	netif_tx_start_all_queues(dev);
}

void xnt_netdev_tx_disable(struct net_device *dev)
{
	netif_tx_disable(dev);
}

u32 xnt_skb_hash(struct sk_buff *skb)
{
	return skb_get_hash(skb);
}

unsigned long xnt_skb_frag_pfn(struct sk_buff *skb, unsigned int i)
{
	return page_to_pfn(skb_frag_page(&skb_shinfo(skb)->frags[i]));
}

unsigned long xnt_virt_to_pfn(const void *p)
{
	return page_to_pfn(virt_to_page(p));
}

unsigned long xnt_pfn_to_gfn(unsigned long pfn)
{
	return xen_page_to_gfn(pfn_to_page(pfn));
}

int xnt_skb_linearize(struct sk_buff *skb)
{
	return skb_linearize(skb);
}

/* Accessors for SkBuff::bounce_zeroed in common/kernel/net/skb.rs. */
void xnt_skb_reserve(struct sk_buff *skb, unsigned int len)
{
	skb_reserve(skb, len);
}

int xnt_skb_ip_summed(struct sk_buff *skb)
{
	switch (skb->ip_summed) {
	case CHECKSUM_UNNECESSARY:
		return XNT_CSUM_UNNECESSARY;
	case CHECKSUM_COMPLETE:
		return XNT_CSUM_COMPLETE;
	case CHECKSUM_PARTIAL:
		return XNT_CSUM_PARTIAL;
	default:
		return XNT_CSUM_NONE;
	}
}

bool xnt_skb_exclusive(struct sk_buff *skb)
{
	return !skb_shared(skb) && !skb_cloned(skb);
}

bool xnt_skb_shared(struct sk_buff *skb)
{
	return skb_shared(skb);
}

struct sk_buff *xnt_skb_get(struct sk_buff *skb)
{
	return skb_get(skb);
}

void xnt_skb_free(struct sk_buff *skb)
{
	dev_kfree_skb_any(skb);
}

void xnt_skb_consume(struct sk_buff *skb)
{
	dev_consume_skb_any(skb);
}

void xnt_skb_put_from_page(struct sk_buff *skb, struct page *page, unsigned int offset,
			   unsigned int len)
{
	/* Written so that no sum can wrap: offset and len come from safe Rust callers. */
	if (WARN_ON_ONCE(len > PAGE_SIZE || offset > PAGE_SIZE - len || len > skb_tailroom(skb)))
		return;
	skb_put_data(skb, page_address(page) + offset, len);
}

int xnt_skb_add_page_frag(struct sk_buff *skb, struct page *page, unsigned int offset,
			  unsigned int len)
{
	unsigned int nr = skb_shinfo(skb)->nr_frags;

	if (nr >= MAX_SKB_FRAGS)
		return -E2BIG;
	if (len > PAGE_SIZE || offset > PAGE_SIZE - len)
		return -EINVAL;
	skb_add_rx_frag(skb, nr, page, offset, len, PAGE_SIZE);
	return 0;
}

bool xnt_skb_may_pull(struct sk_buff *skb, unsigned int len)
{
	return pskb_may_pull(skb, len);
}

void xnt_skb_set_hash(struct sk_buff *skb, u32 hash, bool l4)
{
	skb_set_hash(skb, hash, l4 ? PKT_HASH_TYPE_L4 : PKT_HASH_TYPE_L3);
}

void xnt_skb_reset_network_header(struct sk_buff *skb)
{
	skb_reset_network_header(skb);
}

void xnt_skb_set_ip_summed(struct sk_buff *skb, unsigned int ip_summed)
{
	skb->ip_summed = ip_summed;
}

void xnt_netif_napi_add(struct net_device *dev, struct napi_struct *napi,
			int (*poll)(struct napi_struct *napi, int budget))
{
	netif_napi_add(dev, napi, poll);
}

void xnt_netif_napi_del(struct napi_struct *napi)
{
	netif_napi_del(napi);
}

void xnt_napi_schedule(struct napi_struct *napi)
{
	if (in_task()) {
		/* From a thread: run the softirq when bottom halves are enabled again. */
		local_bh_disable();
		napi_schedule(napi);
		local_bh_enable();
	} else {
		napi_schedule(napi);
	}
}

void xnt_napi_gro_receive(struct napi_struct *napi, struct sk_buff *skb)
{
	napi_gro_receive(napi, skb);
}

struct page *xnt_page_alloc(void)
{
	return alloc_page(GFP_ATOMIC | __GFP_NOWARN);
}

struct page *xnt_page_alloc_zeroed(void)
{
	return alloc_page(GFP_ATOMIC | __GFP_NOWARN | __GFP_ZERO);
}

unsigned long xnt_page_gfn(struct page *page)
{
	return xen_page_to_gfn(page);
}

