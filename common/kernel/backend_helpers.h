/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C side of the backend abstractions (common/kernel/backend.rs): the per-queue skb
 * backlog and the worker thread's yield.
 * Like net_helpers.h, it keeps kernel structs opaque to Rust and adapts each operation to
 * plain types. (Grant copies are built in Rust and call gnttab_batch_copy directly.)
 */
#ifndef XNT_BACKEND_HELPERS_H
#define XNT_BACKEND_HELPERS_H

#include <linux/types.h>

struct sk_buff;

/* The guest-RX worker thread (backend.rs) yields the CPU between passes. */
void xnt_cond_resched(void);

/*
 * The guest-RX backlog (backend.rs): an sk_buff_head serialised by a Rust lock, so the
 * unlocked list operations; skb_queue_head_init also sets up the (unused) list lock.
 */
struct sk_buff_head;
void xnt_skb_queue_head_init(struct sk_buff_head *list);
void xnt_skb_queue_tail(struct sk_buff_head *list, struct sk_buff *skb);
struct sk_buff *xnt_skb_dequeue(struct sk_buff_head *list);

#endif
