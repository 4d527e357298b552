/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C headers behind the drivers' module-private bindings. Only the items the allowlist in
 * common/kernel/bindgen.mk names are generated; every other type comes from the kernel's
 * own `bindings` crate (a separate bindgen run), which the layout constants at the end
 * cross-check.
 */
#include <linux/moduleparam.h>
#include <linux/cpumask.h>
#include <linux/etherdevice.h>
#include <linux/netdevice.h>
#include <linux/rtnetlink.h>
#include <xen/xen.h>
#include <xen/xenbus.h>
#include <xen/grant_table.h>
#include <xen/events.h>
#include <xen/interface/io/netif.h>
#include "helpers.h"
#include "net_helpers.h"
#include "backend_helpers.h"

/*
 * The C layout of every struct the generated bindings above define and Rust reads or
 * writes, or whose size Rust allocates: checked against the generated structs at compile
 * time (common/kernel/layout.rs). The generated structs take their member types from the
 * kernel's `bindings` crate, a separate bindgen run; a member type that differs there
 * (or one missing from the opaque list in bindgen.mk) would shift later fields.
 */
enum {
	XNT_SIZE_NETDEV = sizeof(struct net_device),
	XNT_OFF_NETDEV_NETDEV_OPS = offsetof(struct net_device, netdev_ops),
	XNT_OFF_NETDEV_ETHTOOL_OPS = offsetof(struct net_device, ethtool_ops),
	XNT_OFF_NETDEV_REAL_NUM_TX_QUEUES = offsetof(struct net_device, real_num_tx_queues),
	XNT_OFF_NETDEV_NUM_TX_QUEUES = offsetof(struct net_device, num_tx_queues),
	XNT_OFF_NETDEV_MTU = offsetof(struct net_device, mtu),
	XNT_OFF_NETDEV_FEATURES = offsetof(struct net_device, features),
	XNT_OFF_NETDEV_NAME = offsetof(struct net_device, name),
	XNT_OFF_NETDEV_REG_STATE = offsetof(struct net_device, reg_state),
	XNT_OFF_NETDEV_DEV = offsetof(struct net_device, dev),
	XNT_OFF_NETDEV_DEV_PARENT = offsetof(struct net_device, dev.parent),
	XNT_OFF_NETDEV_PRIV = offsetof(struct net_device, priv),
	XNT_SIZE_NETDEV_OPS = sizeof(struct net_device_ops),
	XNT_OFF_NDO_OPEN = offsetof(struct net_device_ops, ndo_open),
	XNT_OFF_NDO_STOP = offsetof(struct net_device_ops, ndo_stop),
	XNT_OFF_NDO_START_XMIT = offsetof(struct net_device_ops, ndo_start_xmit),
	XNT_OFF_NDO_SELECT_QUEUE = offsetof(struct net_device_ops, ndo_select_queue),
	XNT_OFF_NDO_GET_STATS64 = offsetof(struct net_device_ops, ndo_get_stats64),
	XNT_OFF_NDO_FIX_FEATURES = offsetof(struct net_device_ops, ndo_fix_features),
	XNT_OFF_NDO_SET_FEATURES = offsetof(struct net_device_ops, ndo_set_features),
	XNT_OFF_NDO_CHANGE_MTU = offsetof(struct net_device_ops, ndo_change_mtu),
	XNT_OFF_NDO_SET_MAC_ADDRESS = offsetof(struct net_device_ops, ndo_set_mac_address),
	XNT_OFF_NDO_VALIDATE_ADDR = offsetof(struct net_device_ops, ndo_validate_addr),
	XNT_SIZE_RTNL_LINK_STATS64 = sizeof(struct rtnl_link_stats64),
	XNT_SIZE_SKB = sizeof(struct sk_buff),
	XNT_OFF_SKB_LEN = offsetof(struct sk_buff, len),
	XNT_OFF_SKB_QUEUE_MAPPING = offsetof(struct sk_buff, queue_mapping),
	XNT_OFF_SKB_DATA = offsetof(struct sk_buff, data),
	XNT_OFF_SKB_HEAD = offsetof(struct sk_buff, head),
	XNT_OFF_SKB_PROTOCOL = offsetof(struct sk_buff, protocol),
	XNT_OFF_SKB_CB = offsetof(struct sk_buff, cb),
	XNT_SIZE_XENBUS_DEVICE = sizeof(struct xenbus_device),
	XNT_OFF_XENBUS_DEVICE_NODENAME = offsetof(struct xenbus_device, nodename),
	XNT_OFF_XENBUS_DEVICE_OTHEREND = offsetof(struct xenbus_device, otherend),
	XNT_OFF_XENBUS_DEVICE_OTHEREND_ID = offsetof(struct xenbus_device, otherend_id),
	XNT_OFF_XENBUS_DEVICE_DEV = offsetof(struct xenbus_device, dev),
	XNT_OFF_XENBUS_DEVICE_STATE = offsetof(struct xenbus_device, state),
	XNT_SIZE_XENBUS_DRIVER = sizeof(struct xenbus_driver),
	XNT_OFF_XENBUS_DRIVER_IDS = offsetof(struct xenbus_driver, ids),
	XNT_OFF_XENBUS_DRIVER_ALLOW_REBIND = offsetof(struct xenbus_driver, allow_rebind),
	XNT_OFF_XENBUS_DRIVER_PROBE = offsetof(struct xenbus_driver, probe),
	XNT_OFF_XENBUS_DRIVER_OTHEREND_CHANGED = offsetof(struct xenbus_driver, otherend_changed),
	XNT_OFF_XENBUS_DRIVER_REMOVE = offsetof(struct xenbus_driver, remove),
	XNT_OFF_XENBUS_DRIVER_UEVENT = offsetof(struct xenbus_driver, uevent),
	XNT_OFF_XENBUS_DRIVER_DRIVER = offsetof(struct xenbus_driver, driver),
};
