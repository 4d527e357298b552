// SPDX-License-Identifier: GPL-2.0
/*
 * C side of the backend abstractions; see backend_helpers.h. Included after
 * net_helpers.c (it shares its includes). What remains: the vif's field set-up (a bit
 * field and macros) and one-line wrappers of static inlines and macros.
 * 76 lines; see Documentation/design.md, "The C that remains, and why".
 */
#include <linux/sched.h>
#include <linux/jiffies.h>
#include <linux/if_vlan.h>
#include "backend_helpers.h"

void xnt_cond_resched(void)
{
	cond_resched();
}

void xnt_skb_queue_head_init(struct sk_buff_head *list)
{
	skb_queue_head_init(list);
}

void xnt_skb_queue_tail(struct sk_buff_head *list, struct sk_buff *skb)
{
	__skb_queue_tail(list, skb);
}

struct sk_buff *xnt_skb_dequeue(struct sk_buff_head *list)
{
	return __skb_dequeue(list);
}

struct sk_buff *xnt_skb_peek(struct sk_buff_head *list)
{
	return skb_peek(list);
}

struct net_device *xnt_netdev_alloc_backend(struct device *parent, unsigned int max_queues,
					    const struct net_device_ops *ops,
					    const struct ethtool_ops *ethtool_ops,
					    unsigned int priv_size, const char *name)
{
	static const u8 dummy_addr[ETH_ALEN] = { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct net_device *dev;

	dev = alloc_netdev_mq(priv_size, name, NET_NAME_UNKNOWN, ether_setup, max_queues);
	if (!dev)
		return NULL;
	dev->netdev_ops = ops;
	dev->ethtool_ops = ethtool_ops;
	dev->hw_features = NETIF_F_SG | NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM | NETIF_F_TSO |
			   NETIF_F_TSO6;
	dev->features = dev->hw_features | NETIF_F_RXCSUM;
	dev->tx_queue_len = 32;
	/*
	 * ndo_start_xmit queues each skb on the guest-RX backlog (list links and skb->cb):
	 * the same skb handed over twice (pktgen clone_skb/burst) would be queued twice.
	 */
	dev->priv_flags &= ~IFF_TX_SKB_SHARING;
	dev->min_mtu = ETH_MIN_MTU;
	dev->max_mtu = ETH_MAX_MTU - VLAN_ETH_HLEN;
	eth_hw_addr_set(dev, dummy_addr);
	SET_NETDEV_DEV(dev, parent);
	netif_carrier_off(dev);
	return dev;
}

unsigned int xnt_skb_tailroom(struct sk_buff *skb)
{
	return skb_tailroom(skb);
}

u64 xnt_jiffies_ms(void)
{
	return jiffies64_to_msecs(get_jiffies_64());
}
