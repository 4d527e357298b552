// SPDX-License-Identifier: GPL-2.0

//! Compile-time checks that the generated structs Rust reads, writes or allocates have the
//! C layout.
//!
//! The module-private bindgen run (`common/kernel/bindgen.mk`) generates `struct
//! net_device`, `struct net_device_ops`, `struct rtnl_link_stats64` and the xenbus structs,
//! but takes their member types from the kernel's `bindings` crate (a separate bindgen run,
//! through the glob import in `bindings.rs`) or makes them opaque blobs (`xnt_netdev_opaque`).
//! A member type that differs between the two runs, or a forward-declared one missing from
//! the opaque list, would shift every later field. `bindings_helper.h` exports the C
//! compiler's `sizeof` / `offsetof` of each struct and field used as `XNT_SIZE_*` /
//! `XNT_OFF_*` constants; a mismatch here fails the build. (`skb->protocol`, inside an
//! anonymous bindgen type, is checked in `net/skb.rs`.)

use core::mem::{offset_of, size_of};

use super::bindings;

/// `layout!(T: size == XNT_SIZE_T, field.path == XNT_OFF_T_FIELD, ...)`: asserts at compile
/// time that `bindings::T` has the size and field offsets the C compiler gives `struct T`.
macro_rules! layout {
    ($ty:ident: size == $size:ident $(, $($field:ident).+ == $off:ident)* $(,)?) => {
        const _: () = assert!(
            size_of::<bindings::$ty>() == bindings::$size as usize,
            concat!("generated `", stringify!($ty), "` differs in size from C's"),
        );
        $(
            const _: () = assert!(
                offset_of!(bindings::$ty, $($field).+) == bindings::$off as usize,
                concat!(
                    "generated `", stringify!($ty), ".", stringify!($($field).+),
                    "` is not at C's offset",
                ),
            );
        )*
    };
}

layout!(net_device: size == XNT_SIZE_NETDEV,
    netdev_ops == XNT_OFF_NETDEV_NETDEV_OPS,
    ethtool_ops == XNT_OFF_NETDEV_ETHTOOL_OPS,
    real_num_tx_queues == XNT_OFF_NETDEV_REAL_NUM_TX_QUEUES,
    num_tx_queues == XNT_OFF_NETDEV_NUM_TX_QUEUES,
    mtu == XNT_OFF_NETDEV_MTU,
    features == XNT_OFF_NETDEV_FEATURES,
    name == XNT_OFF_NETDEV_NAME,
    reg_state == XNT_OFF_NETDEV_REG_STATE,
    dev == XNT_OFF_NETDEV_DEV,
    dev.parent == XNT_OFF_NETDEV_DEV_PARENT,
    priv_ == XNT_OFF_NETDEV_PRIV,
);

layout!(net_device_ops: size == XNT_SIZE_NETDEV_OPS,
    ndo_open == XNT_OFF_NDO_OPEN,
    ndo_stop == XNT_OFF_NDO_STOP,
    ndo_start_xmit == XNT_OFF_NDO_START_XMIT,
    ndo_select_queue == XNT_OFF_NDO_SELECT_QUEUE,
    ndo_get_stats64 == XNT_OFF_NDO_GET_STATS64,
    ndo_fix_features == XNT_OFF_NDO_FIX_FEATURES,
    ndo_set_features == XNT_OFF_NDO_SET_FEATURES,
    ndo_change_mtu == XNT_OFF_NDO_CHANGE_MTU,
    ndo_set_mac_address == XNT_OFF_NDO_SET_MAC_ADDRESS,
    ndo_validate_addr == XNT_OFF_NDO_VALIDATE_ADDR,
);

layout!(rtnl_link_stats64: size == XNT_SIZE_RTNL_LINK_STATS64);

// From the kernel's `bindings` crate, but the fields are read here directly.
layout!(sk_buff: size == XNT_SIZE_SKB,
    len == XNT_OFF_SKB_LEN,
    queue_mapping == XNT_OFF_SKB_QUEUE_MAPPING,
    data == XNT_OFF_SKB_DATA,
    head == XNT_OFF_SKB_HEAD,
    cb == XNT_OFF_SKB_CB,
);

layout!(xenbus_device: size == XNT_SIZE_XENBUS_DEVICE,
    nodename == XNT_OFF_XENBUS_DEVICE_NODENAME,
    otherend == XNT_OFF_XENBUS_DEVICE_OTHEREND,
    otherend_id == XNT_OFF_XENBUS_DEVICE_OTHEREND_ID,
    dev == XNT_OFF_XENBUS_DEVICE_DEV,
    state == XNT_OFF_XENBUS_DEVICE_STATE,
);

layout!(xenbus_driver: size == XNT_SIZE_XENBUS_DRIVER,
    ids == XNT_OFF_XENBUS_DRIVER_IDS,
    allow_rebind == XNT_OFF_XENBUS_DRIVER_ALLOW_REBIND,
    probe == XNT_OFF_XENBUS_DRIVER_PROBE,
    otherend_changed == XNT_OFF_XENBUS_DRIVER_OTHEREND_CHANGED,
    remove == XNT_OFF_XENBUS_DRIVER_REMOVE,
    uevent == XNT_OFF_XENBUS_DRIVER_UEVENT,
    driver == XNT_OFF_XENBUS_DRIVER_DRIVER,
);
