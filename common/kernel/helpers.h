/* SPDX-License-Identifier: GPL-2.0 */
/* C wrappers for static inline functions and macros the Rust code calls. */
#ifndef XNT_HELPERS_H
#define XNT_HELPERS_H

#include <linux/types.h>
#include <linux/spinlock_types.h>


unsigned int xnt_num_online_cpus(void);
bool xnt_xen_domain(void);
bool xnt_xen_initial_domain(void);
bool xnt_xen_has_pv_nic_devices(void);
struct sk_buff;
void xnt_skb_orphan(struct sk_buff *skb);
void xnt_spin_lock_bh(spinlock_t *lock);
void xnt_spin_unlock_bh(spinlock_t *lock);
int xnt_spin_trylock_bh(spinlock_t *lock);
struct page;
struct page *xnt_pfn_to_page(unsigned long pfn);
bool xnt_page_refcounted(struct page *page);
void xnt_get_page(struct page *page);
void xnt_put_page(struct page *page);
struct delayed_work;
struct work_struct;
void xnt_init_delayed_work(struct delayed_work *dwork, void (*func)(struct work_struct *));
bool xnt_schedule_delayed_work(struct delayed_work *dwork, unsigned long delay);

#endif
