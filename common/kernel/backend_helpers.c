// SPDX-License-Identifier: GPL-2.0
/*
 * C side of the backend abstractions; see backend_helpers.h. Included after
 * net_helpers.c (it shares its includes). What remains: one-line wrappers of static
 * inlines and macros.
 * 29 lines; see Documentation/design.md, "The C that remains, and why".
 */
#include <linux/sched.h>
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
