/* SPDX-License-Identifier: GPL-2.0 */
/* C wrappers for static inline functions and macros the Rust code calls. */
#ifndef XNT_HELPERS_H
#define XNT_HELPERS_H

#include <linux/types.h>
#include <linux/spinlock_types.h>

struct xenbus_driver;
struct xenbus_device;
struct module;

unsigned int xnt_num_online_cpus(void);
bool xnt_xen_domain(void);
bool xnt_xen_initial_domain(void);
bool xnt_xen_has_pv_nic_devices(void);
struct sk_buff;
void xnt_skb_orphan(struct sk_buff *skb);
int xnt_xenbus_register_frontend(struct xenbus_driver *drv, struct module *owner,
				 const char *mod_name);
int xnt_xenbus_register_backend(struct xenbus_driver *drv, struct module *owner,
				const char *mod_name);
void *xnt_xenbus_get_drvdata(struct xenbus_device *dev);
void xnt_xenbus_set_drvdata(struct xenbus_device *dev, void *data);
struct kobj_uevent_env;
int xnt_uevent_add(struct kobj_uevent_env *env, const char *var);
void xnt_xenbus_uevent(struct xenbus_device *dev, int action);
void xnt_xenbus_device_unregister(struct xenbus_device *dev);
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
