// SPDX-License-Identifier: GPL-2.0
/*
 * C wrappers linked into each Rust xen-netif module: static inline functions and macros
 * that bindgen cannot see. Each wrapper only forwards; the Rust side documents safety.
 * Exported functions (the xenbus registration, uevents, device_unregister, ...) are
 * called from Rust directly, and plain fields (drvdata) read there.
 * 86 lines; see Documentation/design.md, "The C that remains, and why".
 */
#include <linux/cpumask.h>
#include <linux/mm.h>
#include <linux/skbuff.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <xen/platform_pci.h>
#include <xen/xen.h>
#include "helpers.h"

unsigned int xnt_num_online_cpus(void)
{
	return num_online_cpus();
}

bool xnt_xen_domain(void)
{
	return xen_domain();
}

bool xnt_xen_initial_domain(void)
{
	return xen_initial_domain();
}

void xnt_spin_lock_bh(spinlock_t *lock)
{
	spin_lock_bh(lock);
}

void xnt_spin_unlock_bh(spinlock_t *lock)
{
	spin_unlock_bh(lock);
}

int xnt_spin_trylock_bh(spinlock_t *lock)
{
	return spin_trylock_bh(lock);
}

struct page *xnt_pfn_to_page(unsigned long pfn)
{
	return pfn_to_page(pfn);
}

bool xnt_page_refcounted(struct page *page)
{
	return !folio_test_slab(page_folio(page)) && !folio_test_large_kmalloc(page_folio(page));
}

void xnt_get_page(struct page *page)
{
	get_page(page);
}

void xnt_put_page(struct page *page)
{
	put_page(page);
}

void xnt_init_delayed_work(struct delayed_work *dwork, work_func_t func)
{
	INIT_DELAYED_WORK(dwork, func);
}

bool xnt_schedule_delayed_work(struct delayed_work *dwork, unsigned long delay)
{
	return schedule_delayed_work(dwork, delay);
}

bool xnt_xen_has_pv_nic_devices(void)
{
	return xen_has_pv_nic_devices();
}

void xnt_skb_orphan(struct sk_buff *skb)
{
	skb_orphan(skb);
}
