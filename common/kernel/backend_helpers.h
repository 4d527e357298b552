/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C side of the backend abstractions (common/kernel/backend.rs): XenStore watches, the
 * per-queue skb backlog and the backend's vif net_device.
 * Like net_helpers.h, it keeps kernel structs opaque to Rust and adapts each operation to
 * plain types. (Grant copies are built in Rust and call gnttab_batch_copy directly.)
 */
#ifndef XNT_BACKEND_HELPERS_H
#define XNT_BACKEND_HELPERS_H

#include <linux/types.h>

struct device;
struct net_device;
struct sk_buff;
struct xenbus_device;
struct xnt_netdev_callbacks;

/* The guest-RX worker thread (backend.rs) yields the CPU between passes. */
void xnt_cond_resched(void);

/* A XenStore watch on `<dir>/<node>` calling `cb(ctx, dev)` from the xenwatch thread. */
struct xnt_watch;
struct xnt_watch *xnt_watch_new(struct xenbus_device *dev, const char *dir, const char *node,
				void (*cb)(const void *ctx, struct xenbus_device *dev),
				const void *ctx, int *err);
void xnt_watch_free(struct xnt_watch *w);

/* The guest-RX backlog of one queue: skbs with an expiry time and a byte count. */
struct xnt_skbq;
struct xnt_skbq *xnt_skbq_new(void);
void xnt_skbq_free(struct xnt_skbq *q);
/* Appends `skb` expiring in `drain_ms`; returns the backlog bytes after it. */
u64 xnt_skbq_push(struct xnt_skbq *q, struct sk_buff *skb, u32 drain_ms);
struct sk_buff *xnt_skbq_pop(struct xnt_skbq *q);
/* Length and GSO-ness of the head packet; false when empty. */
bool xnt_skbq_peek(struct xnt_skbq *q, u32 *len, bool *gso);
/* Frees head packets whose expiry passed; returns how many. */
u32 xnt_skbq_drop_expired(struct xnt_skbq *q);
u64 xnt_skbq_bytes(struct xnt_skbq *q);
void xnt_skbq_purge(struct xnt_skbq *q);

struct net_device *xnt_netdev_alloc_backend(struct device *parent, unsigned int max_queues,
					    const struct xnt_netdev_callbacks *cb,
					    const char *driver_name, const char *name);
unsigned int xnt_skb_tailroom(struct sk_buff *skb);
u64 xnt_jiffies_ms(void);

#endif
