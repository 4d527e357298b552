// SPDX-License-Identifier: GPL-2.0

//! Network devices, NAPI contexts, socket buffers and pages for the netif drivers.
//!
//! The `net_device_ops` / `ethtool_ops` tables are Rust constants that dispatch to a
//! [`NetDriver`]; the static inline parts of the net, skb and page API are one-line C
//! wrappers in `net_helpers.c`, and `struct napi_struct` stays opaque (the C NAPI wrapper
//! embeds it).
//!
//! The items live in one module per role and are re-exported here, so `xen::net::X` names
//! each of them:
//!
//! * [`netdev`] has [`NetDevice`], [`NetDriver`], [`ChannelCounts`], [`NetDevRef`], [`IfName`],
//!   [`features`], statistics;
//! * [`skb`] has [`SkBuff`], [`Chunk`], [`SkbChunk`], [`Gso`], [`ChecksumState`];
//! * [`napi`] has [`Napi`], [`NapiBuilder`], [`NapiPoller`], [`NapiPoll`], [`NapiHandle`];
//! * [`page`] has [`Page`] and [`PageRef`].
//!
//! C headers: [`include/linux/netdevice.h`](srctree/include/linux/netdevice.h),
//! [`include/linux/skbuff.h`](srctree/include/linux/skbuff.h)

pub mod napi;
pub mod netdev;
pub mod page;
pub mod skb;

pub use napi::{Napi, NapiBuilder, NapiHandle, NapiPoll, NapiPoller};
pub use netdev::{
    bump, features, fill_stat_names, fill_stat_values, rss_key_fill, ChannelCounts, IfName,
    LinkStats, NetDevRef, NetDevice, NetDriver, QueueCounters, STAT_NAME_LEN,
};
pub use page::{Page, PageRef};
pub use skb::{ChecksumState, Chunk, Gso, SkBuff, SkbChunk, ETH_P_IP, ETH_P_IPV6};
