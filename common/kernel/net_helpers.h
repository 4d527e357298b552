/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C side of the Rust net_device / NAPI / skb / page / event-channel abstractions: what
 * must be C or is a static inline / macro of the net, skb and page API. The ops tables and
 * their dispatch are Rust (common/kernel/net/netdev.rs), as are the calls of exported
 * functions and the reads of plain fields.
 */
#ifndef XNT_NET_HELPERS_H
#define XNT_NET_HELPERS_H

#include <linux/types.h>

struct net_device;
struct sk_buff;
struct napi_struct;
struct page;

/* `skb->ip_summed` values, as the Rust side sees them. */
#define XNT_CSUM_NONE		0
#define XNT_CSUM_UNNECESSARY	1
#define XNT_CSUM_COMPLETE	2
#define XNT_CSUM_PARTIAL	3

void xnt_netdev_set_mac_locked(struct net_device *dev, const u8 *mac);
void xnt_netdev_tx_stop(struct net_device *dev, unsigned int queue);
void xnt_netdev_tx_wake(struct net_device *dev, unsigned int queue);
bool xnt_netdev_tx_stopped(struct net_device *dev, unsigned int queue);
void xnt_netdev_tx_start_all(struct net_device *dev);
void xnt_netdev_tx_disable(struct net_device *dev);

u32 xnt_skb_hash(struct sk_buff *skb);
/* Accessors for the per-page chunk walk in common/kernel/net/skb.rs. */
unsigned long xnt_skb_frag_pfn(struct sk_buff *skb, unsigned int i);
unsigned long xnt_virt_to_pfn(const void *p);
unsigned long xnt_pfn_to_gfn(unsigned long pfn);
int xnt_skb_linearize(struct sk_buff *skb);
/* Accessors for SkBuff::bounce_zeroed in common/kernel/net/skb.rs. */
void xnt_skb_reserve(struct sk_buff *skb, unsigned int len);
int xnt_skb_ip_summed(struct sk_buff *skb);
/* Neither another reference to the skb (skb_shared) nor to its data (skb_cloned). */
bool xnt_skb_exclusive(struct sk_buff *skb);
bool xnt_skb_shared(struct sk_buff *skb);
struct sk_buff *xnt_skb_get(struct sk_buff *skb);
void xnt_skb_free(struct sk_buff *skb);
void xnt_skb_consume(struct sk_buff *skb);
void xnt_skb_put_from_page(struct sk_buff *skb, struct page *page, unsigned int offset,
			   unsigned int len);
int xnt_skb_add_page_frag(struct sk_buff *skb, struct page *page, unsigned int offset,
			  unsigned int len);
/* Accessors for SkBuff::finish_rx in common/kernel/net/skb.rs. */
bool xnt_skb_may_pull(struct sk_buff *skb, unsigned int len);
void xnt_skb_reset_network_header(struct sk_buff *skb);
void xnt_skb_set_hash(struct sk_buff *skb, u32 hash, bool l4);
void xnt_skb_set_ip_summed(struct sk_buff *skb, unsigned int ip_summed);

void xnt_netif_napi_add(struct net_device *dev, struct napi_struct *napi,
			int (*poll)(struct napi_struct *napi, int budget));
void xnt_netif_napi_del(struct napi_struct *napi);
void xnt_napi_schedule(struct napi_struct *napi);
void xnt_napi_gro_receive(struct napi_struct *napi, struct sk_buff *skb);

struct page *xnt_page_alloc(void);
struct page *xnt_page_alloc_zeroed(void);
unsigned long xnt_page_gfn(struct page *page);

#endif
