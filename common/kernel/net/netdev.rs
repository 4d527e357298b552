// SPDX-License-Identifier: GPL-2.0

//! Network devices: [`NetDevice`] and its [`NetDriver`], the [`NetDevRef`] handle, offload
//! [`features`], and the statistics / ethtool helpers.
//!
//! The `net_device_ops` / `ethtool_ops` tables of a [`NetDevice<T>`] are constants of
//! `NetDevice<T>`, their entries the `ndo_*` / `eth_*` adapters at the end of this file,
//! which find the driver context in the device's private area ([`NetDevPriv`]).
//!
//! C header: [`include/linux/netdevice.h`](srctree/include/linux/netdevice.h)

use core::ffi::{c_int, c_void};
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};

use kernel::error::to_result;
use kernel::prelude::*;
use kernel::sync::{rcu, Arc};

use super::super::bindings;
use super::super::protocol::ctrl::{FlowKind, HashedFields};
use super::super::sync::BhDisabled;
use super::napi::NapiInner;
use super::SkBuff;

// `netdev_features_t` bits (macros over the `NETIF_F_*_BIT` enum).
const NETIF_F_SG: u64 = 1 << bindings::NETIF_F_SG_BIT;
const NETIF_F_IP_CSUM: u64 = 1 << bindings::NETIF_F_IP_CSUM_BIT;
const NETIF_F_IPV6_CSUM: u64 = 1 << bindings::NETIF_F_IPV6_CSUM_BIT;
const NETIF_F_TSO: u64 = 1 << bindings::NETIF_F_TSO_BIT;
const NETIF_F_TSO6: u64 = 1 << bindings::NETIF_F_TSO6_BIT;
const NETIF_F_GSO_ROBUST: u64 = 1 << bindings::NETIF_F_GSO_ROBUST_BIT;
const NETIF_F_RXCSUM: u64 = 1 << bindings::NETIF_F_RXCSUM_BIT;

/// `test_bit(bit, &dev->state)`, as `netif_running` and `netif_carrier_ok` do: one
/// volatile read of the word the core changes with atomic bit operations.
///
/// # Safety
///
/// `dev` is an allocated device.
unsafe fn state_bit(dev: *mut bindings::net_device, bit: u32) -> bool {
    // SAFETY: An allocated device (the caller's requirement); `state` is read once,
    // volatile, as `test_bit` reads it while other CPUs change it atomically.
    let state = unsafe { (&raw const (*dev).state).read_volatile() };
    state & (1 << bit) != 0
}

/// Length of one ethtool statistics name, including its NUL.
pub const STAT_NAME_LEN: usize = bindings::ETH_GSTRING_LEN as usize;

/// Offload features a driver can allow (see [`NetDriver::allowed_features`]).
pub mod features {
    /// Scatter-gather.
    pub const SG: u32 = 1 << 0;
    /// IPv6 checksum offload.
    pub const IPV6_CSUM: u32 = 1 << 1;
    /// TCP segmentation offload over IPv4.
    pub const TSO: u32 = 1 << 2;
    /// TCP segmentation offload over IPv6.
    pub const TSO6: u32 = 1 << 3;
    /// IPv4 checksum offload (packets may leave with a partial checksum).
    pub const IP_CSUM: u32 = 1 << 4;
}

/// The counters `ndo_get_stats64` reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinkStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Packets dropped before sending.
    pub tx_dropped: u64,
}

/// A driver's side of a network device. All callbacks run in the contexts the networking
/// core documents for the matching `ndo_*` / ethtool operation.
pub trait NetDriver: Send + Sync + 'static {
    /// `ndo_open`.
    fn open(&self) -> Result;
    /// `ndo_stop`.
    fn stop(&self) -> Result;
    /// `ndo_start_xmit`: the driver takes the packet, sending or dropping it. Runs with
    /// bottom halves off (`bh`), or hard IRQs off for netpoll.
    fn start_xmit(&self, skb: SkBuff, bh: &BhDisabled);
    /// `ndo_select_queue`.
    fn select_queue(&self, skb: &SkBuff) -> u16;
    /// `ndo_get_stats64`.
    fn stats64(&self) -> LinkStats;
    /// The [`features`] bits `ndo_fix_features` may leave on.
    fn allowed_features(&self) -> u32;
    /// The largest MTU `ndo_change_mtu` accepts now.
    fn max_mtu(&self) -> u32;
    /// Number of ethtool statistics. Read once, by [`NetDevice::register`]: that value is
    /// the statistics set's count (`get_sset_count`) and the number of names and values
    /// [`Self::stats_names`] and [`Self::stats_values`] are asked for, for the lifetime of
    /// the device, whatever this would return later.
    fn stats_count(&self) -> u32;
    /// Fills the ethtool statistics names (each zeroed on entry, at most 31 bytes used).
    fn stats_names(&self, names: &mut [[u8; STAT_NAME_LEN]]);
    /// Fills the ethtool statistics values, in the order of the names.
    fn stats_values(&self, values: &mut [u64]);
    /// `(max_combined, combined)` for `ethtool -l`. The ethtool core also compares an
    /// `ethtool -L` request with these (it refuses counts above the maximum, and passes
    /// on only a request that differs from `combined`).
    fn channels(&self) -> (u32, u32);

    /// Whether the device offers receive-side scaling through ethtool (`ethtool -x/-X`,
    /// `ethtool -n <dev> rx-flow-hash`): only then does its `ethtool_ops` table carry the
    /// RSS operations, which call the methods below (the table is a constant, so this is
    /// one too). Whether RSS is available at a given moment is the methods' answer.
    const RSS: bool = false;

    /// `get_rx_ring_count` (`ETHTOOL_GRXRINGS`): the receive queues in use, which
    /// indirection table entries must stay below (the core checks that before
    /// [`Self::rss_set`]).
    fn rx_rings(&self) -> u32 {
        self.channels().1
    }

    /// `get_rxfh_key_size`: the hash key's length in bytes; 0 while RSS is not available.
    fn rss_key_size(&self) -> u32 {
        0
    }

    /// `get_rxfh_indir_size`: the indirection table's entries; 0 while RSS is not
    /// available (the core then answers `EOPNOTSUPP` to table requests itself).
    fn rss_indir_size(&self) -> u32 {
        0
    }

    /// `get_rxfh`: fills `key` and `indir` (each present if the caller asked for it, sized
    /// by what [`Self::rss_key_size`] / [`Self::rss_indir_size`] returned before; a
    /// driver whose sizes changed since answers `EAGAIN`). The hash function reported is
    /// Toeplitz. `EOPNOTSUPP` while RSS is not available. Process context, RTNL held.
    fn rss_get(&self, _key: Option<&mut [u8]>, _indir: Option<&mut [u32]>) -> Result {
        Err(EOPNOTSUPP)
    }

    /// `set_rxfh`: a new key and/or indirection table (absent: unchanged; sized as for
    /// [`Self::rss_get`], the table's entries below [`Self::rx_rings`] as the core
    /// checked), the hash function staying Toeplitz (the adapter refuses another one). On
    /// an error nothing may have changed. Process context, RTNL held.
    fn rss_set(&self, _key: Option<&[u8]>, _indir: Option<&[u32]>) -> Result {
        Err(EOPNOTSUPP)
    }

    /// `get_rxfh_fields`: the header fields the hash covers for `flow`. `EOPNOTSUPP`
    /// while RSS is not available. Process context, RTNL held.
    fn rss_fields(&self, _flow: FlowKind) -> Result<HashedFields> {
        Err(EOPNOTSUPP)
    }
    /// Whether the device takes `ethtool -L` ([`Self::set_channels`]): the `ethtool_ops`
    /// entry exists only then (without it the core answers `EOPNOTSUPP`).
    const SETS_CHANNELS: bool = false;
    /// `ethtool -L`, when [`Self::SETS_CHANNELS`]. Runs under RTNL (and, for a device
    /// that uses the instance lock, that lock), after the core checked the counts
    /// against [`Self::channels`]: it must neither take a lock that is held while RTNL is
    /// taken nor wait for anything that takes RTNL; a change that needs either is to be
    /// started here and done elsewhere.
    fn set_channels(&self, _req: ChannelCounts) -> Result {
        Err(EOPNOTSUPP)
    }
}

/// The channel counts of an `ethtool -L` request (`struct ethtool_channels`), for
/// [`NetDriver::set_channels`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelCounts {
    /// Combined (RX and TX) channels.
    pub combined: u32,
    /// RX-only channels.
    pub rx: u32,
    /// TX-only channels.
    pub tx: u32,
    /// Other channels (link interrupts and the like).
    pub other: u32,
}

/// Per-queue packet counters of a driver (`ethtool -S` and `ndo_get_stats64`), named by
/// [`QueueCounters::NAMES`] in the order of [`QueueCounters::values`].
#[derive(Default)]
pub struct QueueCounters {
    /// Packets sent by this device.
    pub tx_packets: core::sync::atomic::AtomicU64,
    /// Bytes sent by this device.
    pub tx_bytes: core::sync::atomic::AtomicU64,
    /// Packets dropped on the way out.
    pub tx_dropped: core::sync::atomic::AtomicU64,
    /// Packets that failed on the way out.
    pub tx_errors: core::sync::atomic::AtomicU64,
    /// Packets received by this device.
    pub rx_packets: core::sync::atomic::AtomicU64,
    /// Bytes received by this device.
    pub rx_bytes: core::sync::atomic::AtomicU64,
    /// Packets dropped on the way in.
    pub rx_dropped: core::sync::atomic::AtomicU64,
    /// Packets that failed on the way in.
    pub rx_errors: core::sync::atomic::AtomicU64,
}

impl QueueCounters {
    /// The counters' `ethtool -S` names (each prefixed with `q<N>_`).
    pub const NAMES: [&'static str; 8] = [
        "tx_packets",
        "tx_bytes",
        "tx_dropped",
        "tx_errors",
        "rx_packets",
        "rx_bytes",
        "rx_dropped",
        "rx_errors",
    ];

    /// The counters, in the order of [`Self::NAMES`].
    pub fn values(&self) -> [u64; 8] {
        use core::sync::atomic::Ordering::Relaxed;
        [
            self.tx_packets.load(Relaxed),
            self.tx_bytes.load(Relaxed),
            self.tx_dropped.load(Relaxed),
            self.tx_errors.load(Relaxed),
            self.rx_packets.load(Relaxed),
            self.rx_bytes.load(Relaxed),
            self.rx_dropped.load(Relaxed),
            self.rx_errors.load(Relaxed),
        ]
    }

    /// Adds the counters to a device total.
    pub fn add_to(&self, s: &mut LinkStats) {
        let [txp, txb, txd, txe, rxp, rxb, rxd, rxe] = self.values();
        s.tx_packets += txp;
        s.tx_bytes += txb;
        s.tx_dropped += txd;
        s.tx_errors += txe;
        s.rx_packets += rxp;
        s.rx_bytes += rxb;
        s.rx_dropped += rxd;
        s.rx_errors += rxe;
    }
}

/// Adds `by` to a statistics counter.
pub fn bump(counter: &core::sync::atomic::AtomicU64, by: u64) {
    counter.fetch_add(by, core::sync::atomic::Ordering::Relaxed);
}

/// Fills `ethtool -S` names: the `device` names first, then `q<N>_<name>` for each of
/// `queues` queues and each of the `per_queue` names. Names are truncated to fit, NUL kept.
pub fn fill_stat_names(
    names: &mut [[u8; STAT_NAME_LEN]],
    device: &[&str],
    per_queue: &[&str],
    queues: u32,
) {
    let mut it = names.iter_mut();
    for stat in device {
        if let Some(n) = it.next() {
            write_stat_name(n, format_args!("{stat}"));
        }
    }
    for q in 0..queues {
        for stat in per_queue {
            if let Some(n) = it.next() {
                write_stat_name(n, format_args!("q{q}_{stat}"));
            }
        }
    }
}

/// Fills `ethtool -S` values in the order of [`fill_stat_names`]: the `device` values,
/// then each queue's values, in the order of its `per_queue` names (for a driver with no
/// counters of its own, its [`QueueCounters::values`]).
pub fn fill_stat_values<Q: IntoIterator<Item = u64>>(
    values: &mut [u64],
    device: &[u64],
    queues: impl Iterator<Item = Q>,
) {
    let mut it = values.iter_mut();
    for &val in device {
        if let Some(v) = it.next() {
            *v = val;
        }
    }
    for q in queues {
        for val in q {
            if let Some(v) = it.next() {
                *v = val;
            }
        }
    }
}

/// Writes a statistics name into a zeroed, fixed-size buffer (truncating, NUL kept).
fn write_stat_name(buf: &mut [u8; STAT_NAME_LEN], args: core::fmt::Arguments<'_>) {
    struct W<'a>(&'a mut [u8; STAT_NAME_LEN], usize);
    impl core::fmt::Write for W<'_> {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            for &b in s.as_bytes() {
                if self.1 + 1 >= STAT_NAME_LEN {
                    break;
                }
                self.0[self.1] = b;
                self.1 += 1;
            }
            Ok(())
        }
    }
    let _ = core::fmt::write(&mut W(buf, 0), args);
}

/// Where a [`NetDevice`] is in its one registration.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Registration {
    /// Never registered (or its registration failed early): no operation can run.
    New,
    /// Registered: operations may run, on the context given to [`NetDevice::register`].
    Registered,
    /// Unregistered (or its registration failed late): no operation runs any more, and
    /// the device cannot be registered again (`register_netdevice` requires a
    /// never-registered device).
    Unregistered,
}

/// An owned, allocated network device whose operations go to a `T`.
///
/// The driver context is given to [`NetDevice::register`] and fixed from then on: there is
/// no way to replace it while the networking core can call the operations on it.
///
/// # Invariants
///
/// `ptr` came from [`NetDevice::new`] or [`NetDevice::new_backend`] with `NetDevice<T>`'s ops tables and a [`NetDevPriv`]
/// private area, and is freed in `drop` (after deleting every NAPI context in `napis`,
/// unregistering it if `reg` is `Registered`, and killing `shared`, see [`NetDevRef`]);
/// `shared.ptr` is `ptr`. When `ctx` is set, the private area's context pointer is
/// `Arc::as_ptr(ctx)`; it is set (and only changed) by `register` while `reg` is `New`, and
/// is set whenever `reg` is not `New`. `napis` holds
/// every NAPI context added to the device ([`NapiBuilder::new`](super::NapiBuilder::new)
/// pushes it).
pub struct NetDevice<T: NetDriver> {
    pub(super) ptr: NonNull<bindings::net_device>,
    shared: Arc<NetDevShared>,
    ctx: Option<Arc<T>>,
    reg: Registration,
    pub(super) napis: KVec<Arc<NapiInner>>,
}

// SAFETY: The net_device is owned by this value; the networking core synchronises the
// operations on it.
unsafe impl<T: NetDriver> Send for NetDevice<T> {}
// SAFETY: `&NetDevice` only hands out a `NetDevRef`, which is `Send + Sync`.
unsafe impl<T: NetDriver> Sync for NetDevice<T> {}

impl<T: NetDriver> NetDevice<T> {
    /// The device's `net_device_ops`, dispatching to `T` (see [`driver`]).
    const NETDEV_OPS: bindings::net_device_ops = bindings::net_device_ops {
        ndo_open: Some(ndo_open::<T>),
        ndo_stop: Some(ndo_stop::<T>),
        ndo_start_xmit: Some(ndo_start_xmit::<T>),
        ndo_select_queue: Some(ndo_select_queue::<T>),
        ndo_get_stats64: Some(ndo_get_stats64::<T>),
        ndo_fix_features: Some(ndo_fix_features::<T>),
        ndo_set_features: Some(ndo_set_features),
        ndo_change_mtu: Some(ndo_change_mtu::<T>),
        ndo_set_mac_address: Some(bindings::eth_mac_addr),
        ndo_validate_addr: Some(bindings::eth_validate_addr),
        ..pin_init::zeroed()
    };

    /// The device's `ethtool_ops`, dispatching to `T` (see [`driver`]).
    const ETHTOOL_OPS: bindings::ethtool_ops = bindings::ethtool_ops {
        get_drvinfo: Some(eth_get_drvinfo),
        get_link: Some(bindings::ethtool_op_get_link),
        get_sset_count: Some(eth_get_sset_count::<T>),
        get_strings: Some(eth_get_strings::<T>),
        get_ethtool_stats: Some(eth_get_ethtool_stats::<T>),
        get_channels: Some(eth_get_channels::<T>),
        get_rx_ring_count: if T::RSS {
            Some(eth_get_rx_ring_count::<T>)
        } else {
            None
        },
        get_rxfh_key_size: if T::RSS {
            Some(eth_get_rxfh_key_size::<T>)
        } else {
            None
        },
        get_rxfh_indir_size: if T::RSS {
            Some(eth_get_rxfh_indir_size::<T>)
        } else {
            None
        },
        get_rxfh: if T::RSS {
            Some(eth_get_rxfh::<T>)
        } else {
            None
        },
        set_rxfh: if T::RSS {
            Some(eth_set_rxfh::<T>)
        } else {
            None
        },
        get_rxfh_fields: if T::RSS {
            Some(eth_get_rxfh_fields::<T>)
        } else {
            None
        },
        set_channels: if T::SETS_CHANNELS {
            Some(eth_set_channels::<T>)
        } else {
            None
        },
        ..pin_init::zeroed()
    };

    /// The size of the private area [`Self::new`] and [`Self::new_backend`] allocate.
    const PRIV_SIZE: c_int = core::mem::size_of::<NetDevPriv>() as c_int;

    /// The ops tables, `'static` (the constants are promoted: the annotation makes the
    /// compiler check it, where a coercion to a raw pointer would take a temporary's
    /// address).
    fn ops() -> (
        &'static bindings::net_device_ops,
        &'static bindings::ethtool_ops,
    ) {
        (&Self::NETDEV_OPS, &Self::ETHTOOL_OPS)
    }

    /// Allocates an Ethernet device with room for `max_queues` queues, carrier off, with
    /// `parent` as its parent device. It has no driver context until [`Self::register`].
    pub fn new(
        parent: &super::super::xenbus::Device,
        max_queues: u32,
        driver_name: &'static CStr,
    ) -> Result<Self> {
        // SAFETY: Exported, process context; `alloc_etherdev_mq` expands to this call.
        let p = unsafe { bindings::alloc_etherdev_mqs(Self::PRIV_SIZE, max_queues, max_queues) };
        if p.is_null() {
            return Err(ENOMEM);
        }
        let hw = NETIF_F_IP_CSUM | NETIF_F_SG | NETIF_F_IPV6_CSUM | NETIF_F_TSO | NETIF_F_TSO6;
        let max_mtu = bindings::XEN_NETIF_MAX_TX_SIZE;
        // SAFETY: `p` is a device just allocated with this type's private area size, never
        // registered, known to nothing else; `parent` is a live device that outlives the
        // netdev (freed in remove).
        unsafe {
            Self::set_up(p, hw, NETIF_F_RXCSUM | NETIF_F_GSO_ROBUST | hw, max_mtu);
            bindings::netif_set_tso_max_size(p, max_mtu - bindings::XNT_MAX_TCP_HEADER);
            Self::set_parent(p, parent);
            Self::from_raw(p, driver_name)
        }
    }

    /// Allocates a backend `vif` device named `name` (for example `vif5.0`): MAC
    /// `fe:ff:ff:ff:ff:ff`, SG/checksum/TSO offloads that `allowed_features` trims to what
    /// the frontend takes, MTU up to 65517, carrier off, no driver context yet.
    #[cfg(xnt_backend)]
    pub fn new_backend(
        parent: &super::super::xenbus::Device,
        max_queues: u32,
        driver_name: &'static CStr,
        name: &CStr,
    ) -> Result<Self> {
        const DUMMY_ADDR: [u8; 6] = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff];
        // SAFETY: Exported, process context; `name` is NUL-terminated and copied.
        // `alloc_netdev_mq` expands to this call.
        let p = unsafe {
            bindings::alloc_netdev_mqs(
                Self::PRIV_SIZE,
                name.as_char_ptr(),
                bindings::NET_NAME_UNKNOWN as u8,
                Some(bindings::ether_setup),
                max_queues,
                max_queues,
            )
        };
        if p.is_null() {
            return Err(ENOMEM);
        }
        let hw = NETIF_F_SG | NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM | NETIF_F_TSO | NETIF_F_TSO6;
        let max_mtu = bindings::ETH_MAX_MTU - bindings::VLAN_ETH_HLEN;
        let sharing = bindings::netdev_priv_flags_IFF_TX_SKB_SHARING as kernel::ffi::c_ulong;
        type PrivFlags = bindings::net_device__bindgen_ty_1__bindgen_ty_1;
        // SAFETY: As in `new`. `priv_flags` is a bit field of the anonymous half of a
        // `struct_group` union, read and written with bindgen's raw accessors. Cleared
        // `IFF_TX_SKB_SHARING`: `ndo_start_xmit` queues each skb on the guest-RX backlog
        // (list links and `skb->cb`), so the same skb handed over twice (pktgen
        // `clone_skb`/burst) would be queued twice. `DUMMY_ADDR` holds the 6 bytes
        // `eth_hw_addr_set` copies; nothing else reaches the device, as RTNL would ensure.
        unsafe {
            Self::set_up(p, hw, hw | NETIF_F_RXCSUM, max_mtu);
            (*p).tx_queue_len = 32;
            let flags = &raw mut (*p).__bindgen_anon_1.__bindgen_anon_1;
            PrivFlags::set_priv_flags_raw(flags, PrivFlags::priv_flags_raw(flags) & !sharing);
            bindings::xnt_netdev_set_mac_locked(p, DUMMY_ADDR.as_ptr());
            Self::set_parent(p, parent);
            Self::from_raw(p, driver_name)
        }
    }

    /// Sets the fields both kinds of device share: the ops tables, the offloads, the MTU
    /// range.
    ///
    /// # Safety
    ///
    /// `p` is a device fresh from `alloc_*_mqs`, never registered, that nothing else uses.
    unsafe fn set_up(p: *mut bindings::net_device, hw_features: u64, features: u64, max_mtu: u32) {
        let (ops, ethtool_ops) = Self::ops();
        // SAFETY: `p` is a fresh device nothing else uses (the safety requirement); plain
        // fields. The ops tables are static.
        unsafe {
            (*p).netdev_ops = ops;
            (*p).ethtool_ops = ethtool_ops;
            (*p).hw_features = hw_features;
            (*p).features = features;
            (*p).min_mtu = bindings::ETH_MIN_MTU;
            (*p).max_mtu = max_mtu;
        }
    }

    /// `SET_NETDEV_DEV(p, parent)` and carrier off, the last steps of the set-up.
    ///
    /// # Safety
    ///
    /// As for [`Self::set_up`]; `parent` outlives the device (freed in remove).
    unsafe fn set_parent(p: *mut bindings::net_device, parent: &super::super::xenbus::Device) {
        // SAFETY: `p` is a fresh device nothing else uses (the safety requirement);
        // `dev.parent` is a plain field (its offset is checked in `layout.rs`).
        unsafe {
            (*p).dev.parent = parent.as_device_ptr();
            bindings::netif_carrier_off(p);
        }
    }

    /// Takes ownership of a device fresh from [`Self::new`] / [`Self::new_backend`] and
    /// sets up its private area, freeing it if the shared part of its handles cannot be
    /// allocated.
    ///
    /// # Safety
    ///
    /// `p` is null or a device allocated by `alloc_*_mqs` with [`Self::NETDEV_OPS`],
    /// [`Self::ETHTOOL_OPS`] and [`Self::PRIV_SIZE`], never registered, that nothing else
    /// uses or frees.
    unsafe fn from_raw(p: *mut bindings::net_device, driver_name: &'static CStr) -> Result<Self> {
        let ptr = NonNull::new(p).ok_or(ENOMEM)?;
        // SAFETY: The device is valid and its private area `PRIV_SIZE` bytes (the safety
        // requirement), cache-line aligned (`netdev_priv`); nothing reads it before the
        // device is registered.
        unsafe {
            priv_of(p).write(NetDevPriv {
                ctx: AtomicPtr::new(core::ptr::null_mut()),
                stats_count: AtomicU32::new(0),
                driver_name: driver_name.as_char_ptr(),
                rss_indir_size: AtomicU32::new(0),
            })
        };
        // SAFETY: The device is valid (safety requirement); `num_tx_queues` is a plain
        // field set by `alloc_netdev_mqs` and never changed.
        let tx_queues = unsafe { (*p).num_tx_queues };
        let shared = match Arc::new(
            NetDevShared {
                ptr,
                tx_queues,
                alive: AtomicBool::new(true),
            },
            GFP_KERNEL,
        ) {
            Ok(shared) => shared,
            Err(e) => {
                // SAFETY: Never registered, no NAPI context, known to nothing else.
                unsafe { bindings::free_netdev(p) };
                return Err(e.into());
            }
        };
        // INVARIANT: `shared.ptr` is `ptr`, alive until `drop` kills it.
        Ok(Self {
            ptr,
            shared,
            ctx: None,
            reg: Registration::New,
            napis: KVec::new(),
        })
    }

    /// A handle for the device's runtime operations.
    pub fn handle(&self) -> NetDevRef {
        NetDevRef(self.shared.clone())
    }

    /// Whether [`Self::register`] succeeded and the device was not unregistered since.
    pub fn is_registered(&self) -> bool {
        self.reg == Registration::Registered
    }

    /// Registers the device with the networking core (`register_netdev`), its operations
    /// dispatched to `ctx` from now on. `EINVAL` if the device was registered before (a
    /// net device is registered at most once: `register_netdevice` hits a `BUG_ON`
    /// otherwise). After a failed registration a new one may be tried (with a new context)
    /// if the core left the device unregistered; a failure late in `register_netdevice`
    /// leaves it `NETREG_UNREGISTERED`, and then later attempts get `EINVAL` as well.
    pub fn register(&mut self, ctx: Arc<T>) -> Result {
        if self.reg != Registration::New {
            return Err(EINVAL);
        }
        // SAFETY: The device is owned and valid, its private area set up by `from_raw`.
        let p = unsafe { &*priv_of(self.ptr.as_ptr()) };
        // The device is not registered (`New`): no operation runs or can start on it, a
        // failed earlier `register_netdev` having unwound before it returned, so the
        // previous context (if any) is not in use. The new pointer stays valid because
        // `self` keeps the `Arc` until after the device is unregistered and freed, and is
        // not replaced after this (only `New` allows it). Stored once each (`WRITE_ONCE`);
        // `register_netdevice` publishes them to the operations.
        p.stats_count.store(ctx.stats_count(), Ordering::Relaxed);
        p.ctx
            .store(Arc::as_ptr(&ctx).cast_mut().cast(), Ordering::Relaxed);
        // INVARIANT: `ctx` is the private area's context pointer, set while `New`.
        self.ctx = Some(ctx);
        // `register_netdev`, split so that a late failure can end the handles before the
        // core's unregistration finishes (in `rtnl_unlock`).
        let rtnl = Rtnl::lock();
        // SAFETY: The device is valid, fully set up (its context too) and never registered;
        // RTNL is held.
        let ret = to_result(unsafe { bindings::register_netdevice(self.ptr.as_ptr()) });
        if ret.is_err() {
            // SAFETY: The device is valid; its failed registration has returned, and RTNL
            // is held, so the core no longer changes `reg_state` (a plain `u8`, read as the
            // core does, with `READ_ONCE`).
            let reg_state = unsafe { (&raw const (*self.ptr.as_ptr()).reg_state).read_volatile() };
            if u32::from(reg_state) != bindings::netdev_reg_state_NETREG_UNINITIALIZED {
                // Unregistered by the failure path (completed by `rtnl_unlock`, as for
                // `unregister`); never registered again. The handles end here, before that.
                self.shared.kill_locked(&rtnl);
                self.reg = Registration::Unregistered;
            }
        } else {
            self.reg = Registration::Registered;
        }
        drop(rtnl);
        ret
    }
}

impl<T: NetDriver> NetDevice<T> {
    /// Unregisters the device if it is registered (`unregister_netdev`: runs `ndo_stop`
    /// and waits for all operations). The device stays allocated until dropped, but its
    /// [`NetDevRef`]s do nothing from now on. Process context, RTNL not held.
    ///
    /// Done as `unregister_netdev` does, with RTNL held throughout, but in three steps:
    /// `dev_close` (`ndo_stop`, which may use the handles), then the handles end
    /// ([`NetDevShared::kill_locked`]: no handle operation runs or starts after it), then
    /// `unregister_netdevice`, whose completion in `rtnl_unlock` (`netdev_run_todo`) waits
    /// for every reference to the device, including a link-watch event a carrier change
    /// through a handle queued. So no handle can act on the device after the core's last
    /// wait for it (a carrier change then would queue a link-watch event holding a
    /// reference past `free_netdev`).
    pub fn unregister(&mut self) {
        if self.reg == Registration::Registered {
            let rtnl = Rtnl::lock();
            // SAFETY: The device is registered, RTNL is held. `dev_close` of a device that
            // is down does nothing.
            unsafe { bindings::dev_close(self.ptr.as_ptr()) };
            // Nobody can open the device again while we hold RTNL.
            self.shared.kill_locked(&rtnl);
            // SAFETY: The device is registered (and down), RTNL is held; this is its only
            // unregistration. It is completed (operations waited for) by `rtnl_unlock`.
            // (`unregister_netdevice(dev)` is this call with no list.)
            unsafe {
                bindings::unregister_netdevice_queue(self.ptr.as_ptr(), core::ptr::null_mut())
            };
            drop(rtnl);
            self.reg = Registration::Unregistered;
        }
    }
}

impl<T: NetDriver> Drop for NetDevice<T> {
    fn drop(&mut self) {
        // First the NAPI contexts whose `Napi` still lives: disabled (C disables NAPI before
        // unregistering: `ndo_stop`, netback's `xenvif_disconnect_data()`), timers shut
        // down, deleted, so no poll runs once unregistering starts, their handles do
        // nothing from now on and the `Napi`s' drops do not reach the freed device. A no-op
        // for those already deleted (both drivers delete theirs before this).
        for napi in &self.napis {
            napi.delete();
        }
        // Runs `ndo_stop` and waits for all operations to finish; ends the handles.
        self.unregister();
        // A device never registered (or whose registration failed early) still has live
        // handles: end them. A no-op if `unregister` or a failed `register` did.
        if self.shared.alive.load(Ordering::Acquire) {
            let rtnl = Rtnl::lock();
            self.shared.kill_locked(&rtnl);
        }
        // SAFETY: The device is no longer registered, has no NAPI context left, no handle
        // operation runs on it or can start (`alive` is false, see `kill_locked`), and
        // nothing else frees it.
        unsafe { bindings::free_netdev(self.ptr.as_ptr()) };
        // `self.ctx` is released after this: no operation can run any more.
    }
}

/// The part of a [`NetDevice`] its [`NetDevRef`]s share.
///
/// # Invariants
///
/// `ptr` is the device's `net_device`, `tx_queues` its allocated TX queue count
/// (`num_tx_queues`). While `alive` is true the device is allocated, and not past its
/// unregistration's `dev_close`. `alive` becomes false once, in
/// [`NetDevShared::kill_locked`], under RTNL and followed there by an RCU grace period; the
/// owning [`NetDevice`] calls it before it unregisters the device (after closing it) or
/// frees it, and before the core's unregistration after a failed registration completes.
/// So RTNL held, or an RCU read-side section running, in which `alive` was seen true keeps
/// the device allocated and its unregistration from completing.
struct NetDevShared {
    ptr: NonNull<bindings::net_device>,
    tx_queues: u32,
    alive: AtomicBool,
}

// SAFETY: The record itself is immutable but for the atomic `alive`; the device is reached
// only through `NetDevRef`'s operations, each valid in the contexts it documents.
unsafe impl Send for NetDevShared {}
// SAFETY: As above.
unsafe impl Sync for NetDevShared {}

impl NetDevShared {
    /// Ends the handles' access to the device: `alive` false, then waits for the handle
    /// operations that saw it true. The sleeping ones did under RTNL, which the caller
    /// holds (`_rtnl`), so they are done; the atomic ones did in an RCU read-side
    /// section, which the grace period waits for. Process context.
    fn kill_locked(&self, _rtnl: &Rtnl) {
        self.alive.store(false, Ordering::Release);
        // SAFETY: Process context, no RCU read-side section held by the caller (it holds
        // RTNL, a mutex). Expedited, as `synchronize_net` does under RTNL.
        unsafe { bindings::synchronize_rcu_expedited() };
    }
}

/// RTNL, held (`rtnl_lock`) until dropped.
struct Rtnl(PhantomData<*const ()>);

impl Rtnl {
    /// Takes RTNL. Process context, not atomic, RTNL not held by the caller.
    #[track_caller]
    fn lock() -> Self {
        kernel::task::might_sleep();
        // SAFETY: Process context (the caller's requirement); released by `drop`.
        unsafe { bindings::rtnl_lock() };
        Self(PhantomData)
    }
}

impl Drop for Rtnl {
    fn drop(&mut self) {
        // SAFETY: Taken by `lock`, on this thread (not `Send`).
        unsafe { bindings::rtnl_unlock() };
    }
}

/// The device of a [`NetDevRef`], alive and kept so while this exists: it holds either an
/// RCU read-side section ([`NetDevRef::live`]) or RTNL ([`NetDevRef::live_rtnl`]) in which
/// `alive` was seen true.
///
/// # Invariants
///
/// `ptr` is an allocated device (not yet freed) for the life of this value.
pub(super) struct LiveDev<'a, G> {
    ptr: NonNull<bindings::net_device>,
    _guard: G,
    _p: PhantomData<&'a NetDevRef>,
}

impl<G> LiveDev<'_, G> {
    /// The device, valid while `self` lives.
    pub(super) fn raw(&self) -> *mut bindings::net_device {
        self.ptr.as_ptr()
    }
}

/// A copy of an interface name ([`NetDevRef::name`]), printable with `{}`.
#[derive(Clone, Copy)]
pub struct IfName([u8; bindings::IFNAMSIZ as usize]);

impl IfName {
    /// The name's bytes, up to its NUL (empty if the device is gone).
    pub fn as_bytes(&self) -> &[u8] {
        let len = self.0.iter().position(|&b| b == 0).unwrap_or(self.0.len());
        &self.0[..len]
    }
}

impl kernel::fmt::Display for IfName {
    /// As the kernel's `CStr` prints: printable ASCII as is, other bytes as `\xNN`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use core::fmt::Write as _;
        for &b in self.as_bytes() {
            if (0x20..0x7f).contains(&b) {
                f.write_char(b as char)?;
            } else {
                f.write_fmt(format_args!("\\x{b:02x}"))?;
            }
        }
        Ok(())
    }
}

impl core::fmt::Debug for IfName {
    /// The name in double quotes, escaped as by [`Display`](kernel::fmt::Display).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use core::fmt::Write as _;
        f.write_char('"')?;
        kernel::fmt::Display::fmt(self, f)?;
        f.write_char('"')
    }
}

/// A shared handle for runtime operations on a [`NetDevice`].
///
/// Every operation is sound at any time, also after the `NetDevice` was dropped: the
/// handle keeps a small shared record of the device alive (not the device), and each
/// operation checks, in an RCU read-side section (the atomic ones, any context) or under
/// RTNL (the sleeping ones, which take it), that the handles were not ended. They are
/// ended once: when the device is unregistered ([`NetDevice::unregister`], or its drop),
/// after `ndo_stop` (which may still use them) and before the core's unregistration waits
/// for the device's last references; or, for a device never registered, when it is
/// dropped; each time waiting for the operations running. From then on the operations do
/// nothing and the queries return a neutral value (documented on each).
#[derive(Clone)]
pub struct NetDevRef(Arc<NetDevShared>);

impl NetDevRef {
    /// The device, if still alive, held in an RCU read-side section (any context, does not
    /// sleep). The section lasts while the result lives: nothing may sleep meanwhile.
    pub(super) fn live(&self) -> Option<LiveDev<'_, rcu::Guard>> {
        let guard = rcu::read_lock();
        if !self.0.alive.load(Ordering::Acquire) {
            return None;
        }
        // INVARIANT: `alive` was seen true inside `guard`'s read-side section, so the
        // device is freed only after that section ends (`NetDevShared` invariant).
        Some(LiveDev {
            ptr: self.0.ptr,
            _guard: guard,
            _p: PhantomData,
        })
    }

    /// The device, if still alive, with RTNL held. Process context, not atomic, RTNL not
    /// held by the caller (it takes RTNL and may sleep).
    #[track_caller]
    fn live_rtnl(&self) -> Option<LiveDev<'_, Rtnl>> {
        let rtnl = Rtnl::lock();
        if !self.0.alive.load(Ordering::Acquire) {
            return None;
        }
        // INVARIANT: `alive` was seen true under RTNL, which `kill_locked` needs to clear it, so
        // the device is freed only after RTNL is released (`NetDevShared` invariant).
        Some(LiveDev {
            ptr: self.0.ptr,
            _guard: rtnl,
            _p: PhantomData,
        })
    }

    /// Sets the MAC address (takes RTNL: process context, not atomic, not under RTNL).
    /// Does nothing once the device is gone.
    #[track_caller]
    pub fn set_mac(&self, mac: &[u8; 6]) {
        if let Some(d) = self.live_rtnl() {
            // SAFETY: Allocated device (`LiveDev`), RTNL held; `mac` holds 6 bytes.
            unsafe { bindings::xnt_netdev_set_mac_locked(d.raw(), mac.as_ptr()) };
        }
    }

    /// Sets the real number of TX and RX queues (takes RTNL: process context, not atomic,
    /// not under RTNL). `ENODEV` once the device is gone.
    #[track_caller]
    pub fn set_real_queues(&self, count: u32) -> Result {
        let d = self.live_rtnl().ok_or(ENODEV)?;
        // SAFETY: Allocated device (`LiveDev`), RTNL held.
        to_result(unsafe { bindings::netif_set_real_num_tx_queues(d.raw(), count) })?;
        // SAFETY: As above.
        to_result(unsafe { bindings::netif_set_real_num_rx_queues(d.raw(), count) })
    }

    /// Re-runs feature negotiation (`netdev_update_features`; takes RTNL: process context,
    /// not atomic, not under RTNL). Does nothing once the device is gone.
    #[track_caller]
    pub fn update_features(&self) {
        if let Some(d) = self.live_rtnl() {
            // SAFETY: Allocated device (`LiveDev`), RTNL held.
            unsafe { bindings::netdev_update_features(d.raw()) };
        }
    }

    /// Carrier on or off. Any context; does nothing once the device is gone.
    pub fn set_carrier(&self, on: bool) {
        if let Some(d) = self.live() {
            // SAFETY: Allocated device (`LiveDev`). `netif_carrier_on/off` do not sleep.
            unsafe {
                if on {
                    bindings::netif_carrier_on(d.raw())
                } else {
                    bindings::netif_carrier_off(d.raw())
                }
            };
        }
    }

    /// Whether the carrier is on (`false` once the device is gone). Any context.
    pub fn carrier_ok(&self) -> bool {
        // SAFETY: Allocated device (`LiveDev`).
        self.live().is_some_and(|d| !unsafe {
            state_bit(d.raw(), bindings::netdev_state_t___LINK_STATE_NOCARRIER)
        })
    }

    /// Whether the device is up (`netif_running`: `__LINK_STATE_START`, which the core sets
    /// before `ndo_open` and clears before `ndo_stop`, under RTNL). A lock-free bit test,
    /// valid in any context, as the C drivers use it (a reader without RTNL sees the state
    /// of that moment, which an open or close in progress may change right after). `false`
    /// once the device is gone.
    pub fn is_running(&self) -> bool {
        // SAFETY: Allocated device (`LiveDev`).
        self.live().is_some_and(|d| unsafe {
            state_bit(d.raw(), bindings::netdev_state_t___LINK_STATE_START)
        })
    }

    /// Stops TX queue `q`; does nothing if the device has no queue `q` or is gone. Any
    /// context.
    pub fn tx_stop(&self, q: u32) {
        if q < self.0.tx_queues {
            if let Some(d) = self.live() {
                // SAFETY: Allocated device (`LiveDev`); `q` is below the allocated queue
                // count (`NetDevShared` invariant), so `netdev_get_tx_queue` stays inside
                // `dev->_tx`, which is freed only with the device.
                unsafe { bindings::xnt_netdev_tx_stop(d.raw(), q) };
            }
        }
    }

    /// Wakes TX queue `q`; does nothing if the device has no queue `q` or is gone. Any
    /// context.
    pub fn tx_wake(&self, q: u32) {
        if q < self.0.tx_queues {
            if let Some(d) = self.live() {
                // SAFETY: As in `tx_stop`; `netif_tx_wake_queue` does not sleep.
                unsafe { bindings::xnt_netdev_tx_wake(d.raw(), q) };
            }
        }
    }

    /// Whether TX queue `q` is stopped (`true` if the device has no queue `q` or is gone:
    /// nothing can be sent on it). Any context.
    pub fn tx_stopped(&self, q: u32) -> bool {
        if q >= self.0.tx_queues {
            return true;
        }
        match self.live() {
            // SAFETY: As in `tx_stop`.
            Some(d) => unsafe { bindings::xnt_netdev_tx_stopped(d.raw(), q) },
            None => true,
        }
    }

    /// Starts all TX queues; does nothing once the device is gone. Any context.
    pub fn tx_start_all(&self) {
        if let Some(d) = self.live() {
            // SAFETY: Allocated device (`LiveDev`); sets bits of its `dev->_tx` queues.
            unsafe { bindings::xnt_netdev_tx_start_all(d.raw()) };
        }
    }

    /// Stops all TX queues and waits for running transmits (`netif_tx_disable`, which
    /// spins on the queues' transmit locks with bottom halves off; it does not sleep).
    /// Does nothing once the device is gone.
    pub fn tx_disable(&self) {
        if let Some(d) = self.live() {
            // SAFETY: Allocated device (`LiveDev`); spinlocks only, allowed in the RCU
            // read-side section.
            unsafe { bindings::xnt_netdev_tx_disable(d.raw()) };
        }
    }

    /// The real number of TX queues (0 once the device is gone). Any context.
    pub fn real_tx_queues(&self) -> u32 {
        // SAFETY: Allocated device (`LiveDev`). The field changes under RTNL, which this
        // does not hold: read once, as `READ_ONCE` would (C reads it unlocked too).
        self.live().map_or(0, |d| unsafe {
            (&raw const (*d.raw()).real_num_tx_queues).read_volatile()
        })
    }

    /// Whether scatter-gather is currently enabled (`false` once the device is gone). Any
    /// context.
    pub fn sg_enabled(&self) -> bool {
        self.live().is_some_and(|d| {
            // SAFETY: Allocated device (`LiveDev`). `features` changes under RTNL, which
            // this does not hold: read once, as `READ_ONCE` would (C reads it unlocked too).
            let features = unsafe { (&raw const (*d.raw()).features).read_volatile() };
            features & NETIF_F_SG != 0
        })
    }

    /// Sends gratuitous ARP / unsolicited neighbour advertisements (takes RTNL: process
    /// context, not atomic, not under RTNL). Does nothing once the device is gone.
    #[track_caller]
    pub fn notify_peers(&self) {
        if let Some(d) = self.live_rtnl() {
            // SAFETY: Allocated device (`LiveDev`), RTNL held (`__netdev_notify_peers`
            // asserts it).
            unsafe { bindings::__netdev_notify_peers(d.raw()) };
        }
    }

    /// A copy of the interface name (for example `eth0`; empty once the device is gone).
    /// Any context.
    pub fn name(&self) -> IfName {
        let mut name = IfName([0; bindings::IFNAMSIZ as usize]);
        if let Some(d) = self.live() {
            // SAFETY: Allocated device (`LiveDev`); `name` is an `IFNAMSIZ`-byte array in
            // it. (A rename under RTNL may change it meanwhile, as for the C drivers'
            // `netdev_*` messages; the copy stops at the first NUL and keeps the last byte
            // NUL.)
            unsafe {
                core::ptr::copy_nonoverlapping(
                    (&raw const (*d.raw()).name).cast::<u8>(),
                    name.0.as_mut_ptr(),
                    name.0.len() - 1,
                )
            };
        }
        name
    }
}

/// The private area of a [`NetDevice`]'s `net_device` (`netdev_priv`), set up by
/// `NetDevice::from_raw` before the device can be registered.
///
/// `ctx` is null until [`NetDevice::register`] stores the driver context in it
/// (`Arc::as_ptr`); each operation reads it once and uses a context-less default while it
/// is null. `stats_count` is the context's [`NetDriver::stats_count`], stored by `register`
/// before the context: the ethtool core sizes its statistics buffers by the count one
/// operation returns and hands them to the next, so all three use this one value, whatever
/// the driver's method would return later. `driver_name` is static and never changes.
/// `rss_indir_size` is what `get_rxfh_indir_size` returned last, which sized the table
/// buffer the next `get_rxfh` gets (see `eth_get_rxfh`).
#[repr(C)]
struct NetDevPriv {
    ctx: AtomicPtr<c_void>,
    stats_count: AtomicU32,
    driver_name: *const kernel::ffi::c_char,
    rss_indir_size: AtomicU32,
}

/// `netdev_priv(dev)`: the address of the device's private area (`dev->priv`).
///
/// # Safety
///
/// `dev` is an allocated device.
unsafe fn priv_of(dev: *mut bindings::net_device) -> *mut NetDevPriv {
    // SAFETY: `dev` is allocated (the caller's requirement); this only computes the address
    // of its trailing private area.
    unsafe { (&raw mut (*dev).priv_).cast() }
}

// The adapters below are the entries of `NetDevice<T>::NETDEV_OPS` / `ETHTOOL_OPS`, so only
// the networking core calls them, on a device `NetDevice::<T>::new*` allocated (its private
// area a `NetDevPriv`, see `from_raw`), in the contexts it documents for each operation,
// with valid arguments. They behave as the C glue they replace: the same context-less
// defaults, the same feature and MTU rules, the same message.

/// The driver context of `dev`, if one was registered (`None` before [`NetDevice::register`]),
/// with the device's private area.
///
/// # Safety
///
/// `dev` is a device `NetDevice::<T>::new*` allocated, in one of its operations. The
/// context, once set, is the `Arc<T>` its `NetDevice` keeps until the device is
/// unregistered (which waits for running operations) and freed, so it outlives `'a`, the
/// operation.
unsafe fn driver<'a, T: NetDriver>(
    dev: *mut bindings::net_device,
) -> Option<(&'a T, &'a NetDevPriv)> {
    // SAFETY: The private area is a `NetDevPriv` (the caller's requirement), allocated with
    // the device; only its atomics are written after set-up.
    let p = unsafe { &*priv_of(dev) };
    // Read once (`READ_ONCE`).
    let ctx = p.ctx.load(Ordering::Relaxed);
    // SAFETY: A set context is a live `T` for the operation (the caller's requirement).
    (!ctx.is_null()).then(|| (unsafe { &*ctx.cast::<T>() }, p))
}

/// `ndo_open`: `ENODEV` without a context.
///
/// # Safety
///
/// Called by the networking core only, as the entry of `NetDevice<T>::NETDEV_OPS`.
unsafe extern "C" fn ndo_open<T: NetDriver>(dev: *mut bindings::net_device) -> c_int {
    // SAFETY: One of `NetDevice<T>`'s devices, in an operation (the safety requirement).
    match unsafe { driver::<T>(dev) } {
        Some((d, _)) => match d.open() {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        },
        None => ENODEV.to_errno(),
    }
}

/// `ndo_stop`: nothing to do without a context.
///
/// # Safety
///
/// Called by the networking core only, as the entry of `NetDevice<T>::NETDEV_OPS`.
unsafe extern "C" fn ndo_stop<T: NetDriver>(dev: *mut bindings::net_device) -> c_int {
    // SAFETY: One of `NetDevice<T>`'s devices, in an operation (the safety requirement).
    match unsafe { driver::<T>(dev) } {
        Some((d, _)) => match d.stop() {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        },
        None => 0,
    }
}

/// `ndo_start_xmit`: the driver takes the skb; without a context it is dropped. Always
/// `NETDEV_TX_OK`.
///
/// # Safety
///
/// Called by the networking core only, as the entry of `NetDevice<T>::NETDEV_OPS`.
unsafe extern "C" fn ndo_start_xmit<T: NetDriver>(
    skb: *mut bindings::sk_buff,
    dev: *mut bindings::net_device,
) -> bindings::netdev_tx_t {
    if let Some(skb) = NonNull::new(skb) {
        // INVARIANT: `ndo_start_xmit` hands over the caller's reference to the skb.
        let skb = SkBuff(skb);
        // SAFETY: One of `NetDevice<T>`'s devices, in an operation (the safety requirement).
        match unsafe { driver::<T>(dev) } {
            Some((d, _)) => {
                // SAFETY: The networking core calls `ndo_start_xmit` with bottom halves
                // disabled (`__dev_queue_xmit`'s `rcu_read_lock_bh`, `dev_direct_xmit`,
                // pktgen) or, for netpoll, with hard IRQs off in task or softirq context;
                // the token does not outlive this call.
                let bh = unsafe { BhDisabled::assume() };
                d.start_xmit(skb, bh);
            }
            // Freed as a drop (`dev_kfree_skb_any`).
            None => drop(skb),
        }
    }
    bindings::netdev_tx_NETDEV_TX_OK
}

/// `ndo_select_queue`: queue 0 without a context.
///
/// # Safety
///
/// Called by the networking core only, as the entry of `NetDevice<T>::NETDEV_OPS`.
unsafe extern "C" fn ndo_select_queue<T: NetDriver>(
    dev: *mut bindings::net_device,
    skb: *mut bindings::sk_buff,
    _sb_dev: *mut bindings::net_device,
) -> u16 {
    // SAFETY: One of `NetDevice<T>`'s devices, in an operation (the safety requirement).
    let (Some((d, _)), Some(nn)) = (unsafe { driver::<T>(dev) }, NonNull::new(skb)) else {
        return 0;
    };
    // The skb stays owned by the caller: wrap it without running the destructor.
    let skb = core::mem::ManuallyDrop::new(SkBuff(nn));
    d.select_queue(&skb)
}

/// `ndo_get_stats64`: the driver's counters (zero without a context) in the eight fields
/// it keeps; the others are left as the core passed them.
///
/// # Safety
///
/// Called by the networking core only, as the entry of `NetDevice<T>::NETDEV_OPS`.
unsafe extern "C" fn ndo_get_stats64<T: NetDriver>(
    dev: *mut bindings::net_device,
    tot: *mut bindings::rtnl_link_stats64,
) {
    // SAFETY: One of `NetDevice<T>`'s devices, in an operation (the safety requirement).
    let s = unsafe { driver::<T>(dev) }.map_or_else(LinkStats::default, |(d, _)| d.stats64());
    // SAFETY: The core passes a valid stats struct, ours for the call.
    let tot = unsafe { &mut *tot };
    tot.rx_packets = s.rx_packets;
    tot.tx_packets = s.tx_packets;
    tot.rx_bytes = s.rx_bytes;
    tot.tx_bytes = s.tx_bytes;
    tot.rx_errors = s.rx_errors;
    tot.tx_errors = s.tx_errors;
    tot.rx_dropped = s.rx_dropped;
    tot.tx_dropped = s.tx_dropped;
}

/// `ndo_fix_features`: clears the offloads the driver does not allow now (without a
/// context, all but IPv4 checksum offload).
///
/// # Safety
///
/// Called by the networking core only, as the entry of `NetDevice<T>::NETDEV_OPS`.
unsafe extern "C" fn ndo_fix_features<T: NetDriver>(
    dev: *mut bindings::net_device,
    features: bindings::netdev_features_t,
) -> bindings::netdev_features_t {
    // SAFETY: One of `NetDevice<T>`'s devices, in an operation (the safety requirement).
    let allowed =
        unsafe { driver::<T>(dev) }.map_or(features::IP_CSUM, |(d, _)| d.allowed_features());
    let mut features = features;
    for (bit, feature) in [
        (features::IP_CSUM, NETIF_F_IP_CSUM),
        (features::SG, NETIF_F_SG),
        (features::IPV6_CSUM, NETIF_F_IPV6_CSUM),
        (features::TSO, NETIF_F_TSO),
        (features::TSO6, NETIF_F_TSO6),
    ] {
        if allowed & bit == 0 {
            features &= !feature;
        }
    }
    features
}

/// `ndo_set_features`: without scatter-gather, an MTU above 1500 comes down to 1500.
///
/// # Safety
///
/// Called by the networking core only (under RTNL), as the entry of a [`NetDevice`]'s
/// `NETDEV_OPS`.
unsafe extern "C" fn ndo_set_features(
    dev: *mut bindings::net_device,
    features: bindings::netdev_features_t,
) -> c_int {
    // SAFETY: `dev` is a live device (the safety requirement); RTNL is held, under which
    // all MTU changes are made, so the plain read races with no write.
    let mtu = unsafe { (*dev).mtu };
    if features & NETIF_F_SG == 0 && mtu > bindings::ETH_DATA_LEN {
        // SAFETY: A live device; the format takes one `unsigned int`, which is passed.
        unsafe {
            bindings::netdev_info(
                dev,
                c"reducing MTU to %u: no scatter-gather\n".as_char_ptr(),
                bindings::ETH_DATA_LEN,
            );
        }
        // SAFETY: A live device, RTNL held; stored once (`WRITE_ONCE`), as lockless readers
        // read it with `READ_ONCE`.
        unsafe { (&raw mut (*dev).mtu).write_volatile(bindings::ETH_DATA_LEN) };
    }
    0
}

/// `ndo_change_mtu`: `EINVAL` above the driver's limit (1500 without a context).
///
/// # Safety
///
/// Called by the networking core only (under RTNL), as the entry of
/// `NetDevice<T>::NETDEV_OPS`.
unsafe extern "C" fn ndo_change_mtu<T: NetDriver>(
    dev: *mut bindings::net_device,
    mtu: c_int,
) -> c_int {
    // SAFETY: One of `NetDevice<T>`'s devices, in an operation (the safety requirement).
    let max = unsafe { driver::<T>(dev) }.map_or(bindings::ETH_DATA_LEN, |(d, _)| d.max_mtu());
    // Compared as unsigned, as C's `int > u32` does (the core checked `min_mtu` already).
    let mtu = mtu as u32;
    if mtu > max {
        return EINVAL.to_errno();
    }
    // SAFETY: A live device, RTNL held; stored once (`WRITE_ONCE`), as lockless readers
    // read it with `READ_ONCE`.
    unsafe { (&raw mut (*dev).mtu).write_volatile(mtu) };
    0
}

/// `ethtool -i`: the driver name and, if the device has a parent, its name as the bus
/// address.
///
/// # Safety
///
/// Called by the ethtool core only, as the entry of a [`NetDevice`]'s `ETHTOOL_OPS`.
unsafe extern "C" fn eth_get_drvinfo(
    dev: *mut kernel::bindings::net_device,
    info: *mut bindings::ethtool_drvinfo,
) {
    let dev = dev.cast::<bindings::net_device>();
    // SAFETY: One of `NetDevice`'s devices (the safety requirement), so its private area is
    // a `NetDevPriv` whose `driver_name` is a static C string; `info` is valid and ours for
    // the call. `strscpy` truncates to the buffer and NUL-terminates.
    unsafe {
        let info = &mut *info;
        bindings::sized_strscpy(
            info.driver.as_mut_ptr(),
            (*priv_of(dev)).driver_name,
            info.driver.len(),
        );
        let parent = (*dev).dev.parent;
        if !parent.is_null() {
            bindings::sized_strscpy(
                info.bus_info.as_mut_ptr(),
                bindings::dev_name(parent),
                info.bus_info.len(),
            );
        }
    }
}

/// `ethtool` string-set sizes: the driver's statistics count (0 without a context);
/// `EOPNOTSUPP` for other sets.
///
/// # Safety
///
/// Called by the ethtool core only, as the entry of `NetDevice<T>::ETHTOOL_OPS`.
unsafe extern "C" fn eth_get_sset_count<T: NetDriver>(
    dev: *mut kernel::bindings::net_device,
    sset: c_int,
) -> c_int {
    if sset != bindings::ethtool_stringset_ETH_SS_STATS as c_int {
        return EOPNOTSUPP.to_errno();
    }
    // SAFETY: One of `NetDevice<T>`'s devices, in an operation (the safety requirement).
    unsafe { driver::<T>(dev.cast()) }
        .map_or(0, |(_, p)| p.stats_count.load(Ordering::Relaxed) as c_int)
}

/// `ethtool -S` names: zeroed, then filled by the driver (nothing without a context).
///
/// # Safety
///
/// Called by the ethtool core only, as the entry of `NetDevice<T>::ETHTOOL_OPS`.
unsafe extern "C" fn eth_get_strings<T: NetDriver>(
    dev: *mut kernel::bindings::net_device,
    sset: u32,
    data: *mut u8,
) {
    if sset != bindings::ethtool_stringset_ETH_SS_STATS {
        return;
    }
    // SAFETY: One of `NetDevice<T>`'s devices, in an operation (the safety requirement).
    let Some((d, p)) = (unsafe { driver::<T>(dev.cast()) }) else {
        return;
    };
    let n = p.stats_count.load(Ordering::Relaxed) as usize;
    // SAFETY: The ethtool core sized `data` for the count `eth_get_sset_count` returned:
    // `n` (fixed before the context was set, see `NetDevPriv`) names of `STAT_NAME_LEN`
    // bytes.
    let names = unsafe {
        core::ptr::write_bytes(data, 0, n * STAT_NAME_LEN);
        core::slice::from_raw_parts_mut(data.cast::<[u8; STAT_NAME_LEN]>(), n)
    };
    d.stats_names(names);
}

/// `ethtool -S` values, in the order of the names (nothing without a context).
///
/// # Safety
///
/// Called by the ethtool core only, as the entry of `NetDevice<T>::ETHTOOL_OPS`.
unsafe extern "C" fn eth_get_ethtool_stats<T: NetDriver>(
    dev: *mut kernel::bindings::net_device,
    _stats: *mut bindings::ethtool_stats,
    data: *mut u64,
) {
    // SAFETY: One of `NetDevice<T>`'s devices, in an operation (the safety requirement).
    if let Some((d, p)) = unsafe { driver::<T>(dev.cast()) } {
        let n = p.stats_count.load(Ordering::Relaxed) as usize;
        // SAFETY: As in `eth_get_strings`: `data` has room for the count
        // `eth_get_sset_count` returned, `n`.
        let values = unsafe { core::slice::from_raw_parts_mut(data, n) };
        d.stats_values(values);
    }
}

/// `ethtool -l`: the driver's combined channels (1 of 1 without a context).
///
/// # Safety
///
/// Called by the ethtool core only, as the entry of `NetDevice<T>::ETHTOOL_OPS`.
unsafe extern "C" fn eth_get_channels<T: NetDriver>(
    dev: *mut kernel::bindings::net_device,
    ch: *mut bindings::ethtool_channels,
) {
    // SAFETY: One of `NetDevice<T>`'s devices, in an operation (the safety requirement).
    let (max, cur) = unsafe { driver::<T>(dev.cast()) }.map_or((1, 1), |(d, _)| d.channels());
    // SAFETY: The core passes a valid channels struct, ours for the call.
    let ch = unsafe { &mut *ch };
    ch.max_combined = max;
    ch.combined_count = cur;
}

/// `ETH_RSS_HASH_TOP`: the Toeplitz hash function, the only one the RSS operations offer.
const ETH_RSS_HASH_TOP: u8 = 1 << bindings::ETH_RSS_HASH_TOP_BIT;

/// `ETHTOOL_GRXRINGS`: the driver's receive queues in use (1 without a context).
///
/// # Safety
///
/// Called by the ethtool core only, as the entry of `NetDevice<T>::ETHTOOL_OPS`.
unsafe extern "C" fn eth_get_rx_ring_count<T: NetDriver>(
    dev: *mut kernel::bindings::net_device,
) -> u32 {
    // SAFETY: One of `NetDevice<T>`'s devices, in an operation (the safety requirement).
    unsafe { driver::<T>(dev.cast()) }.map_or(1, |(d, _)| d.rx_rings().max(1))
}

/// `get_rxfh_key_size`: the driver's key length (0 without a context).
///
/// # Safety
///
/// Called by the ethtool core only, as the entry of `NetDevice<T>::ETHTOOL_OPS`.
unsafe extern "C" fn eth_get_rxfh_key_size<T: NetDriver>(
    dev: *mut kernel::bindings::net_device,
) -> u32 {
    // SAFETY: One of `NetDevice<T>`'s devices, in an operation (the safety requirement).
    unsafe { driver::<T>(dev.cast()) }.map_or(0, |(d, _)| d.rss_key_size())
}

/// `get_rxfh_indir_size`: the driver's table size (0 without a context), also kept in the
/// private area for the `get_rxfh` that follows (see `eth_get_rxfh`).
///
/// # Safety
///
/// Called by the ethtool core only, as the entry of `NetDevice<T>::ETHTOOL_OPS`.
unsafe extern "C" fn eth_get_rxfh_indir_size<T: NetDriver>(
    dev: *mut kernel::bindings::net_device,
) -> u32 {
    // SAFETY: One of `NetDevice<T>`'s devices, in an operation (the safety requirement).
    let Some((d, p)) = (unsafe { driver::<T>(dev.cast()) }) else {
        return 0;
    };
    let n = d.rss_indir_size();
    p.rss_indir_size.store(n, Ordering::Relaxed);
    n
}

/// The key and table buffers of an `ethtool_rxfh_param`, as slices of `key_len` bytes and
/// `indir_len` entries.
///
/// # Safety
///
/// `p` is the parameter block the ethtool core passes to `get_rxfh` / `set_rxfh`, ours for
/// the call: `key`, when not null, points to `key_len` bytes and `indir`, when not null,
/// to `indir_len` entries, which nothing else accesses during the call and which outlive
/// `'a`.
unsafe fn rxfh_buffers<'a>(
    p: &bindings::ethtool_rxfh_param,
    key_len: u32,
    indir_len: u32,
) -> (Option<&'a mut [u8]>, Option<&'a mut [u32]>) {
    let key = (!p.key.is_null()).then(|| {
        // SAFETY: Non-null, `key_len` bytes ours for the call (the safety requirement).
        unsafe { core::slice::from_raw_parts_mut(p.key, key_len as usize) }
    });
    let indir = (!p.indir.is_null()).then(|| {
        // SAFETY: Non-null, `indir_len` `u32`s ours for the call (as above).
        unsafe { core::slice::from_raw_parts_mut(p.indir, indir_len as usize) }
    });
    (key, indir)
}

/// `get_rxfh` (`ethtool -x`): the driver's key and table, the Toeplitz function;
/// `EOPNOTSUPP` without a context.
///
/// # Safety
///
/// Called by the ethtool core only (RTNL held), as the entry of
/// `NetDevice<T>::ETHTOOL_OPS`.
unsafe extern "C" fn eth_get_rxfh<T: NetDriver>(
    dev: *mut kernel::bindings::net_device,
    rxfh: *mut bindings::ethtool_rxfh_param,
) -> c_int {
    // SAFETY: One of `NetDevice<T>`'s devices, in an operation (the safety requirement).
    let Some((d, pr)) = (unsafe { driver::<T>(dev.cast()) }) else {
        return EOPNOTSUPP.to_errno();
    };
    // SAFETY: The core passes a valid parameter block, ours for the call.
    let p = unsafe { &mut *rxfh };
    // The table buffer has as many entries as `get_rxfh_indir_size` returned: every caller
    // (`ioctl.c`'s `ethtool_get_rxfh` and `ethtool_get_rxfh_indir`, `rss.c`'s
    // `rss_prepare_get`, `common.c`'s `ethtool_get_max_rxfh_channel`) asks for the size
    // and then calls `get_rxfh` with a buffer of that many entries, both under RTNL (our
    // device is not ops-locked), which every caller of the two operations holds, so the
    // size kept by the last `get_rxfh_indir_size` is that caller's. (`indir_size` of the
    // block is an output on GET: `ethtool_get_max_rxfh_channel` leaves it 0.) The key
    // buffer, when there is one, has `key_size` bytes (`get_rxfh_key_size`'s answer,
    // stored there by every caller that passes a key).
    let indir_len = pr.rss_indir_size.load(Ordering::Relaxed);
    // SAFETY: `p` is the core's `get_rxfh` parameter block, its buffers sized as above.
    let (key, indir) = unsafe { rxfh_buffers(p, p.key_size, indir_len) };
    match d.rss_get(key, indir) {
        Ok(()) => {
            p.hfunc = ETH_RSS_HASH_TOP;
            p.input_xfrm = 0;
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// `set_rxfh` (`ethtool -X`): a new key and/or table for the driver. Only the Toeplitz
/// function (or no change), the default context and no input transformation:
/// `EOPNOTSUPP` for anything else, and without a context.
///
/// # Safety
///
/// Called by the ethtool core only (RTNL held), as the entry of
/// `NetDevice<T>::ETHTOOL_OPS`.
unsafe extern "C" fn eth_set_rxfh<T: NetDriver>(
    dev: *mut kernel::bindings::net_device,
    rxfh: *mut bindings::ethtool_rxfh_param,
    _extack: *mut bindings::netlink_ext_ack,
) -> c_int {
    // SAFETY: One of `NetDevice<T>`'s devices, in an operation (the safety requirement).
    let Some((d, _)) = (unsafe { driver::<T>(dev.cast()) }) else {
        return EOPNOTSUPP.to_errno();
    };
    // SAFETY: The core passes a valid parameter block, ours for the call.
    let p = unsafe { &*rxfh };
    let hfunc_ok = p.hfunc == bindings::ETH_RSS_HASH_NO_CHANGE as u8 || p.hfunc == ETH_RSS_HASH_TOP;
    let xfrm_ok = p.input_xfrm == 0 || p.input_xfrm == bindings::RXH_XFRM_NO_CHANGE as u8;
    if !hfunc_ok || !xfrm_ok || p.rss_context != 0 || p.rss_delete != 0 {
        return EOPNOTSUPP.to_errno();
    }
    // SAFETY: `p` is the core's `set_rxfh` parameter block: a key, when there is one, of
    // `key_size` bytes and a table, when there is one, of `indir_size` entries (every
    // caller sets both sizes with the buffers: `ioctl.c`'s `ethtool_set_rxfh` and
    // `ethtool_set_rxfh_indir`, `rss.c`'s `ethnl_rss_set`).
    let (key, indir) = unsafe { rxfh_buffers(p, p.key_size, p.indir_size) };
    match d.rss_set(key.as_deref(), indir.as_deref()) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `ethtool -L`: the request, handed to the driver (`ENODEV` without a context). Only in
/// the table when `T::SETS_CHANNELS`.
///
/// # Safety
///
/// Called by the ethtool core only (under RTNL), as the entry of
/// `NetDevice<T>::ETHTOOL_OPS`.
unsafe extern "C" fn eth_set_channels<T: NetDriver>(
    dev: *mut kernel::bindings::net_device,
    ch: *mut bindings::ethtool_channels,
) -> c_int {
    // SAFETY: One of `NetDevice<T>`'s devices, in an operation (the safety requirement).
    let Some((d, _)) = (unsafe { driver::<T>(dev.cast()) }) else {
        return ENODEV.to_errno();
    };
    // SAFETY: The core passes a valid channels struct, ours for the call; only read.
    let ch = unsafe { &*ch };
    let req = ChannelCounts {
        combined: ch.combined_count,
        rx: ch.rx_count,
        tx: ch.tx_count,
        other: ch.other_count,
    };
    match d.set_channels(req) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `get_rxfh_fields` (`ethtool -n <dev> rx-flow-hash <flow>`): the `RXH_*` fields the
/// driver's hash covers for an IPv4 or IPv6 flow type; `EINVAL` for other flow types,
/// `EOPNOTSUPP` without a context.
///
/// # Safety
///
/// Called by the ethtool core only (RTNL held), as the entry of
/// `NetDevice<T>::ETHTOOL_OPS`.
unsafe extern "C" fn eth_get_rxfh_fields<T: NetDriver>(
    dev: *mut kernel::bindings::net_device,
    fields: *mut bindings::ethtool_rxfh_fields,
) -> c_int {
    // SAFETY: One of `NetDevice<T>`'s devices, in an operation (the safety requirement).
    let Some((d, _)) = (unsafe { driver::<T>(dev.cast()) }) else {
        return EOPNOTSUPP.to_errno();
    };
    // SAFETY: The core passes a valid fields block, ours for the call.
    let f = unsafe { &mut *fields };
    if f.rss_context != 0 {
        return EINVAL.to_errno();
    }
    let flow = match f.flow_type {
        bindings::TCP_V4_FLOW => FlowKind::Tcp4,
        bindings::UDP_V4_FLOW
        | bindings::SCTP_V4_FLOW
        | bindings::AH_ESP_V4_FLOW
        | bindings::AH_V4_FLOW
        | bindings::ESP_V4_FLOW
        | bindings::IPV4_FLOW => FlowKind::OtherIpv4,
        bindings::TCP_V6_FLOW => FlowKind::Tcp6,
        bindings::UDP_V6_FLOW
        | bindings::SCTP_V6_FLOW
        | bindings::AH_ESP_V6_FLOW
        | bindings::AH_V6_FLOW
        | bindings::ESP_V6_FLOW
        | bindings::IPV6_FLOW => FlowKind::OtherIpv6,
        _ => return EINVAL.to_errno(),
    };
    let addresses = bindings::RXH_IP_SRC | bindings::RXH_IP_DST;
    f.data = match d.rss_fields(flow) {
        Ok(HashedFields::None) => 0,
        Ok(HashedFields::Addresses) => addresses,
        Ok(HashedFields::AddressesAndPorts) => {
            addresses | bindings::RXH_L4_B_0_1 | bindings::RXH_L4_B_2_3
        }
        Err(e) => return e.to_errno(),
    };
    0
}

/// Fills `key` from the kernel's RSS key (`netdev_rss_key_fill`: random, made once per
/// boot and the same for every device, as hardware drivers seed their Toeplitz keys).
pub fn rss_key_fill<const N: usize>(key: &mut [u8; N]) {
    const { assert!(N <= bindings::NETDEV_RSS_KEY_LEN as usize) };
    // SAFETY: `key` is `N` writable bytes, at most the kernel key's length (which
    // `netdev_rss_key_fill` would otherwise `BUG_ON`).
    unsafe { bindings::netdev_rss_key_fill(key.as_mut_ptr().cast(), N) };
}
