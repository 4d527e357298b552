// SPDX-License-Identifier: GPL-2.0

//! Network devices, NAPI contexts, socket buffers and pages for the netif drivers.
//!
//! `struct net_device`, `struct napi_struct` and `struct sk_buff` stay opaque here: the C
//! glue in `net_helpers.c` owns the `net_device_ops` / `ethtool_ops` tables, dispatches them
//! to a [`NetDriver`], and exposes each operation as a plain function.
//!
//! C headers: [`include/linux/netdevice.h`](srctree/include/linux/netdevice.h),
//! [`include/linux/skbuff.h`](srctree/include/linux/skbuff.h)

use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::error::to_result;
use kernel::prelude::*;
use kernel::sync::Arc;

use super::bindings;
use super::sync::BhDisabled;

/// Length of one ethtool statistics name, including its NUL.
pub const STAT_NAME_LEN: usize = bindings::XNT_STAT_NAME_LEN as usize;

/// Offload features a driver can allow (see [`NetDriver::allowed_features`]).
pub mod features {
    /// Scatter-gather.
    pub const SG: u32 = super::bindings::XNT_FEAT_SG;
    /// IPv6 checksum offload.
    pub const IPV6_CSUM: u32 = super::bindings::XNT_FEAT_IPV6_CSUM;
    /// TCP segmentation offload over IPv4.
    pub const TSO: u32 = super::bindings::XNT_FEAT_TSO;
    /// TCP segmentation offload over IPv6.
    pub const TSO6: u32 = super::bindings::XNT_FEAT_TSO6;
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

/// The state of `skb->ip_summed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumState {
    /// No checksum information.
    None,
    /// The checksum was verified.
    Unnecessary,
    /// A full checksum is in `skb->csum`.
    Complete,
    /// The checksum still has to be filled in (offload).
    Partial,
}

/// GSO kinds as the netif protocol knows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gso {
    /// TCP over IPv4, with the MSS.
    TcpV4(u16),
    /// TCP over IPv6, with the MSS.
    TcpV6(u16),
    /// A GSO type the protocol cannot carry.
    Other,
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
    /// Number of ethtool statistics.
    fn stats_count(&self) -> u32;
    /// Fills the ethtool statistics names (each zeroed on entry, at most 31 bytes used).
    fn stats_names(&self, names: &mut [[u8; STAT_NAME_LEN]]);
    /// Fills the ethtool statistics values, in the order of the names.
    fn stats_values(&self, values: &mut [u64]);
    /// `(max_combined, combined)` for `ethtool -l`.
    fn channels(&self) -> (u32, u32);
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
/// then each queue's [`QueueCounters::values`].
pub fn fill_stat_values<'a>(
    values: &mut [u64],
    device: &[u64],
    queues: impl Iterator<Item = &'a QueueCounters>,
) {
    let mut it = values.iter_mut();
    for &val in device {
        if let Some(v) = it.next() {
            *v = val;
        }
    }
    for q in queues {
        for val in q.values() {
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

/// An owned, allocated network device whose operations go to a `T`.
///
/// # Invariants
///
/// `ptr` came from `xnt_netdev_alloc` and is freed in `drop` (after unregistering it if
/// `registered`). When `ctx` is set, the glue's context pointer is `Arc::as_ptr(ctx)`.
pub struct NetDevice<T: NetDriver> {
    ptr: NonNull<bindings::net_device>,
    ctx: Option<Arc<T>>,
    registered: bool,
}

// SAFETY: The net_device is owned by this value; the networking core synchronises the
// operations on it.
unsafe impl<T: NetDriver> Send for NetDevice<T> {}
// SAFETY: `&NetDevice` only hands out a `NetDevRef`, whose operations are thread-safe.
unsafe impl<T: NetDriver> Sync for NetDevice<T> {}

impl<T: NetDriver> NetDevice<T> {
    const CALLBACKS: bindings::xnt_netdev_callbacks = bindings::xnt_netdev_callbacks {
        open: Some(cb_open::<T>),
        stop: Some(cb_stop::<T>),
        start_xmit: Some(cb_start_xmit::<T>),
        select_queue: Some(cb_select_queue::<T>),
        get_stats64: Some(cb_get_stats64::<T>),
        allowed_features: Some(cb_allowed_features::<T>),
        max_mtu: Some(cb_max_mtu::<T>),
        stats_count: Some(cb_stats_count::<T>),
        stats_names: Some(cb_stats_names::<T>),
        stats_values: Some(cb_stats_values::<T>),
        channels: Some(cb_channels::<T>),
    };

    /// Allocates an Ethernet device with room for `max_queues` queues, carrier off, with
    /// `parent` as its parent device. It has no driver context until [`Self::attach`].
    pub fn new(
        parent: &super::xenbus::Device,
        max_queues: u32,
        driver_name: &'static CStr,
    ) -> Result<Self> {
        // SAFETY: `parent` is a live xenbus device that outlives the netdev (freed in
        // remove); the callback table and `driver_name` are static.
        let p = unsafe {
            bindings::xnt_netdev_alloc(
                parent.as_device_ptr(),
                max_queues,
                &Self::CALLBACKS,
                driver_name.as_char_ptr(),
            )
        };
        let ptr = NonNull::new(p).ok_or(ENOMEM)?;
        Ok(Self {
            ptr,
            ctx: None,
            registered: false,
        })
    }

    /// Allocates a backend `vif` device named `name` (for example `vif5.0`): MAC
    /// `fe:ff:ff:ff:ff:ff`, SG/checksum/TSO offloads that `allowed_features` trims to what
    /// the frontend takes, MTU up to 65517, carrier off, no driver context yet.
    pub fn new_backend(
        parent: &super::xenbus::Device,
        max_queues: u32,
        driver_name: &'static CStr,
        name: &CStr,
    ) -> Result<Self> {
        // SAFETY: As in `new`; `name` is NUL-terminated and copied by `alloc_netdev_mq`.
        let p = unsafe {
            bindings::xnt_netdev_alloc_backend(
                parent.as_device_ptr(),
                max_queues,
                &Self::CALLBACKS,
                driver_name.as_char_ptr(),
                name.as_char_ptr(),
            )
        };
        let ptr = NonNull::new(p).ok_or(ENOMEM)?;
        Ok(Self {
            ptr,
            ctx: None,
            registered: false,
        })
    }

    /// Sets the driver context the operations are dispatched to.
    pub fn attach(&mut self, ctx: Arc<T>) {
        // SAFETY: The device is owned and valid; the pointer stays valid because `self`
        // keeps the `Arc` until after the device is unregistered and freed.
        unsafe { bindings::xnt_netdev_set_ctx(self.ptr.as_ptr(), Arc::as_ptr(&ctx).cast()) };
        self.ctx = Some(ctx);
    }

    /// A handle for the device's runtime operations.
    pub fn handle(&self) -> NetDevRef {
        NetDevRef { ptr: self.ptr }
    }

    /// Whether [`Self::register`] succeeded.
    pub fn is_registered(&self) -> bool {
        self.registered
    }

    /// Registers the device with the networking core (`register_netdev`).
    pub fn register(&mut self) -> Result {
        if self.ctx.is_none() {
            return Err(EINVAL);
        }
        // SAFETY: The device is valid, fully set up and not registered yet.
        to_result(unsafe { bindings::xnt_netdev_register(self.ptr.as_ptr()) })?;
        self.registered = true;
        Ok(())
    }
}

impl<T: NetDriver> NetDevice<T> {
    /// Unregisters the device if it is registered (`unregister_netdev`: runs `ndo_stop`
    /// and waits for all operations). The device stays allocated until dropped.
    pub fn unregister(&mut self) {
        if self.registered {
            // SAFETY: The device is registered; this is its only unregistration.
            unsafe { bindings::xnt_netdev_unregister(self.ptr.as_ptr()) };
            self.registered = false;
        }
    }
}

impl<T: NetDriver> Drop for NetDevice<T> {
    fn drop(&mut self) {
        if self.registered {
            // SAFETY: The device is registered; this is its only unregistration. It runs
            // `ndo_stop` and waits for all operations to finish.
            unsafe { bindings::xnt_netdev_unregister(self.ptr.as_ptr()) };
        }
        // SAFETY: The device is no longer registered and nothing else frees it.
        unsafe { bindings::xnt_netdev_free(self.ptr.as_ptr()) };
        // `self.ctx` is released after this: no operation can run any more.
    }
}

/// A copyable handle for runtime operations on a [`NetDevice`].
///
/// It must not be used after the `NetDevice` it came from was dropped; drivers keep it in
/// structures that the device's owner tears down first.
#[derive(Clone, Copy)]
pub struct NetDevRef {
    ptr: NonNull<bindings::net_device>,
}

// SAFETY: The operations below are callable from any context the networking core allows.
unsafe impl Send for NetDevRef {}
// SAFETY: As above.
unsafe impl Sync for NetDevRef {}

impl NetDevRef {
    fn raw(self) -> *mut bindings::net_device {
        self.ptr.as_ptr()
    }

    /// Sets the MAC address.
    pub fn set_mac(self, mac: &[u8; 6]) {
        // SAFETY: Valid device (type documentation); `mac` holds 6 bytes.
        unsafe { bindings::xnt_netdev_set_mac(self.raw(), mac.as_ptr()) };
    }

    /// Sets the real number of TX and RX queues (takes RTNL).
    pub fn set_real_queues(self, count: u32) -> Result {
        // SAFETY: Valid device.
        to_result(unsafe { bindings::xnt_netdev_set_real_queues(self.raw(), count) })
    }

    /// Re-runs feature negotiation (`netdev_update_features`, takes RTNL).
    pub fn update_features(self) {
        // SAFETY: Valid device.
        unsafe { bindings::xnt_netdev_update_features(self.raw()) };
    }

    /// Carrier on or off.
    pub fn set_carrier(self, on: bool) {
        // SAFETY: Valid device.
        unsafe { bindings::xnt_netdev_carrier(self.raw(), on) };
    }

    /// Whether the carrier is on.
    pub fn carrier_ok(self) -> bool {
        // SAFETY: Valid device.
        unsafe { bindings::xnt_netdev_carrier_ok(self.raw()) }
    }

    /// Stops TX queue `q`.
    pub fn tx_stop(self, q: u32) {
        // SAFETY: Valid device; the glue uses `q` only below the allocated queue count,
        // which callers guarantee.
        unsafe { bindings::xnt_netdev_tx_stop(self.raw(), q) };
    }

    /// Wakes TX queue `q`.
    pub fn tx_wake(self, q: u32) {
        // SAFETY: As in `tx_stop`.
        unsafe { bindings::xnt_netdev_tx_wake(self.raw(), q) };
    }

    /// Whether TX queue `q` is stopped.
    pub fn tx_stopped(self, q: u32) -> bool {
        // SAFETY: As in `tx_stop`.
        unsafe { bindings::xnt_netdev_tx_stopped(self.raw(), q) }
    }

    /// Starts all TX queues.
    pub fn tx_start_all(self) {
        // SAFETY: Valid device.
        unsafe { bindings::xnt_netdev_tx_start_all(self.raw()) };
    }

    /// Stops all TX queues and waits for running transmits (`netif_tx_disable`).
    pub fn tx_disable(self) {
        // SAFETY: Valid device.
        unsafe { bindings::xnt_netdev_tx_disable(self.raw()) };
    }

    /// The real number of TX queues.
    pub fn real_tx_queues(self) -> u32 {
        // SAFETY: Valid device.
        unsafe { bindings::xnt_netdev_real_tx_queues(self.raw()) }
    }

    /// Whether scatter-gather is currently enabled.
    pub fn sg_enabled(self) -> bool {
        // SAFETY: Valid device.
        unsafe { bindings::xnt_netdev_feature_sg(self.raw()) }
    }

    /// Sends gratuitous ARP / unsolicited neighbour advertisements.
    pub fn notify_peers(self) {
        // SAFETY: Valid device.
        unsafe { bindings::xnt_netdev_notify_peers(self.raw()) };
    }

    /// The interface name (for example `eth0`).
    pub fn name(&self) -> &CStr {
        // SAFETY: Valid device; `name` is a NUL-terminated array inside it.
        unsafe { CStr::from_char_ptr(bindings::xnt_netdev_name(self.raw())) }
    }
}

/// # Safety
///
/// `p` is the context pointer set by [`NetDevice::attach`], and the `NetDevice` (which
/// keeps the `Arc` alive) is not dropped for `'a`.
unsafe fn ctx<'a, T>(p: *const c_void) -> &'a T {
    // SAFETY: Per the function's safety requirement `p` points to a live `T`.
    unsafe { &*p.cast::<T>() }
}

/// # Safety
///
/// Called by the glue only, with the context pointer set by [`NetDevice::attach`] while
/// the device can run operations, and with valid arguments for the operation.
unsafe extern "C" fn cb_open<T: NetDriver>(p: *const c_void) -> i32 {
    // SAFETY: The glue passes the attached context (see the safety section).
    match unsafe { ctx::<T>(p) }.open() {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the glue only, with the context pointer set by [`NetDevice::attach`] while
/// the device can run operations, and with valid arguments for the operation.
unsafe extern "C" fn cb_stop<T: NetDriver>(p: *const c_void) -> i32 {
    // SAFETY: The glue passes the attached context (see the safety section).
    match unsafe { ctx::<T>(p) }.stop() {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the glue only, with the context pointer set by [`NetDevice::attach`] while
/// the device can run operations, and with valid arguments for the operation.
unsafe extern "C" fn cb_start_xmit<T: NetDriver>(p: *const c_void, skb: *mut bindings::sk_buff) {
    if let Some(skb) = NonNull::new(skb) {
        // SAFETY: The networking core calls `ndo_start_xmit` with bottom halves disabled
        // (`__dev_queue_xmit`'s `rcu_read_lock_bh`, `dev_direct_xmit`, pktgen) or, for
        // netpoll, with hard IRQs off in task or softirq context; the token does not
        // outlive this call.
        let bh = unsafe { BhDisabled::assume() };
        // INVARIANT: `ndo_start_xmit` hands over the caller's reference to the skb.
        // SAFETY: The glue passes the attached context (see the safety section).
        unsafe { ctx::<T>(p) }.start_xmit(SkBuff(skb), bh);
    }
}

/// # Safety
///
/// Called by the glue only, with the context pointer set by [`NetDevice::attach`] while
/// the device can run operations, and with valid arguments for the operation.
unsafe extern "C" fn cb_select_queue<T: NetDriver>(
    p: *const c_void,
    skb: *mut bindings::sk_buff,
) -> u16 {
    let Some(nn) = NonNull::new(skb) else {
        return 0;
    };
    // The skb stays owned by the caller: wrap it without running the destructor.
    let skb = core::mem::ManuallyDrop::new(SkBuff(nn));
    // SAFETY: The glue passes the attached context (see the safety section).
    unsafe { ctx::<T>(p) }.select_queue(&skb)
}

/// # Safety
///
/// Called by the glue only, with the context pointer set by [`NetDevice::attach`] while
/// the device can run operations, and with valid arguments for the operation.
unsafe extern "C" fn cb_get_stats64<T: NetDriver>(
    p: *const c_void,
    out: *mut bindings::xnt_link_stats,
) {
    // SAFETY: The glue passes the attached context (see the safety section).
    let s = unsafe { ctx::<T>(p) }.stats64();
    // SAFETY: The glue passes a valid, exclusive stats struct.
    let out = unsafe { &mut *out };
    out.rx_packets = s.rx_packets;
    out.tx_packets = s.tx_packets;
    out.rx_bytes = s.rx_bytes;
    out.tx_bytes = s.tx_bytes;
    out.rx_errors = s.rx_errors;
    out.tx_errors = s.tx_errors;
    out.rx_dropped = s.rx_dropped;
    out.tx_dropped = s.tx_dropped;
}

/// # Safety
///
/// Called by the glue only, with the context pointer set by [`NetDevice::attach`] while
/// the device can run operations, and with valid arguments for the operation.
unsafe extern "C" fn cb_allowed_features<T: NetDriver>(p: *const c_void) -> u32 {
    // SAFETY: The glue passes the attached context (see the safety section).
    unsafe { ctx::<T>(p) }.allowed_features()
}

/// # Safety
///
/// Called by the glue only, with the context pointer set by [`NetDevice::attach`] while
/// the device can run operations, and with valid arguments for the operation.
unsafe extern "C" fn cb_max_mtu<T: NetDriver>(p: *const c_void) -> u32 {
    // SAFETY: The glue passes the attached context (see the safety section).
    unsafe { ctx::<T>(p) }.max_mtu()
}

/// # Safety
///
/// Called by the glue only, with the context pointer set by [`NetDevice::attach`] while
/// the device can run operations, and with valid arguments for the operation.
unsafe extern "C" fn cb_stats_count<T: NetDriver>(p: *const c_void) -> u32 {
    // SAFETY: The glue passes the attached context (see the safety section).
    unsafe { ctx::<T>(p) }.stats_count()
}

/// # Safety
///
/// Called by the glue only, with the context pointer set by [`NetDevice::attach`] while
/// the device can run operations, and with valid arguments for the operation.
unsafe extern "C" fn cb_stats_names<T: NetDriver>(p: *const c_void, names: *mut u8, count: u32) {
    // SAFETY: The glue passes a zeroed buffer of `count` names of `STAT_NAME_LEN` bytes.
    let names = unsafe {
        core::slice::from_raw_parts_mut(names.cast::<[u8; STAT_NAME_LEN]>(), count as usize)
    };
    // SAFETY: The glue passes the attached context (see the safety section).
    unsafe { ctx::<T>(p) }.stats_names(names);
}

/// # Safety
///
/// Called by the glue only, with the context pointer set by [`NetDevice::attach`] while
/// the device can run operations, and with valid arguments for the operation.
unsafe extern "C" fn cb_stats_values<T: NetDriver>(p: *const c_void, values: *mut u64, count: u32) {
    // SAFETY: The glue passes a buffer of `count` values.
    let values = unsafe { core::slice::from_raw_parts_mut(values, count as usize) };
    // SAFETY: The glue passes the attached context (see the safety section).
    unsafe { ctx::<T>(p) }.stats_values(values);
}

/// # Safety
///
/// Called by the glue only, with the context pointer set by [`NetDevice::attach`] while
/// the device can run operations, and with valid arguments for the operation.
unsafe extern "C" fn cb_channels<T: NetDriver>(p: *const c_void, max: *mut u32, cur: *mut u32) {
    // SAFETY: The glue passes the attached context (see the safety section).
    let (m, c) = unsafe { ctx::<T>(p) }.channels();
    // SAFETY: The glue passes two valid out parameters.
    unsafe {
        *max = m;
        *cur = c;
    }
}

/// An owned reference to a socket buffer; dropping it frees the skb as a drop
/// (`dev_kfree_skb_any`); [`SkBuff::consume`] frees it as successfully used.
pub struct SkBuff(NonNull<bindings::sk_buff>);

// SAFETY: An skb reference can be passed between contexts; freeing works from any context.
unsafe impl Send for SkBuff {}

/// One Xen page worth of packet data: frame number, offset and length.
#[derive(Clone, Copy, Debug, Default)]
pub struct Chunk {
    /// Guest frame number of the page.
    pub gfn: u64,
    /// Offset of the data inside the page.
    pub offset: u16,
    /// Length of the data (at most the rest of the page).
    pub len: u16,
}

/// Converts the glue's result (`n` chunks in `raw`, or a negative errno) into `out`.
fn copy_chunks(n: i32, raw: &[bindings::xnt_chunk], out: &mut [Chunk]) -> Result<usize> {
    if n < 0 {
        return Err(Error::from_errno(n));
    }
    let n = n as usize;
    for (o, r) in out.iter_mut().zip(&raw[..n]) {
        *o = Chunk {
            gfn: r.gfn as u64,
            offset: r.offset,
            len: r.len,
        };
    }
    Ok(n)
}

impl SkBuff {
    fn raw(&self) -> *mut bindings::sk_buff {
        self.0.as_ptr()
    }

    /// Total packet length.
    pub fn len(&self) -> u32 {
        // SAFETY: By the type invariant the skb is valid.
        unsafe { bindings::xnt_skb_len(self.raw()) }
    }

    /// Whether the packet is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The TX queue the stack picked.
    pub fn queue_mapping(&self) -> u16 {
        // SAFETY: Valid skb.
        unsafe { bindings::xnt_skb_queue_mapping(self.raw()) }
    }

    /// The flow hash (computed on demand, `skb_get_hash`).
    pub fn flow_hash(&self) -> u32 {
        // SAFETY: Valid skb; computing the hash only updates the skb's hash fields.
        unsafe { bindings::xnt_skb_hash(self.raw()) }
    }

    /// Splits the packet data into per-page chunks; `E2BIG` if more than `out.len()`.
    pub fn chunks(&self, out: &mut [Chunk]) -> Result<usize> {
        let mut raw = [const {
            bindings::xnt_chunk {
                gfn: 0,
                offset: 0,
                len: 0,
            }
        }; 24];
        let max = out.len().min(raw.len());
        // SAFETY: Valid skb; `raw` has room for `max` chunks.
        let n = unsafe { bindings::xnt_skb_chunks(self.raw(), raw.as_mut_ptr(), max as u32) };
        copy_chunks(n, &raw, out)
    }

    /// Extends the linear data by `len` bytes (`skb_put`) and describes the new, not yet
    /// written area per Xen page in `out`, for a grant copy to fill; returns the chunks.
    pub fn put_chunks(&mut self, len: u32, out: &mut [Chunk]) -> Result<usize> {
        let mut raw = [const {
            bindings::xnt_chunk {
                gfn: 0,
                offset: 0,
                len: 0,
            }
        }; 4];
        let max = out.len().min(raw.len());
        // SAFETY: Valid skb exclusively ours; `raw` has room for `max` chunks. The glue
        // checks the tailroom before `skb_put`.
        let n =
            unsafe { bindings::xnt_skb_put_chunks(self.raw(), len, raw.as_mut_ptr(), max as u32) };
        copy_chunks(n, &raw, out)
    }

    pub(crate) fn into_raw(self) -> *mut bindings::sk_buff {
        core::mem::ManuallyDrop::new(self).0.as_ptr()
    }

    /// # Safety
    ///
    /// `raw` is a valid skb whose reference the caller hands over.
    pub(crate) unsafe fn from_raw(raw: NonNull<bindings::sk_buff>) -> Self {
        SkBuff(raw)
    }

    /// Pulls all data into the linear area.
    pub fn linearize(&mut self) -> Result {
        // SAFETY: Valid skb, exclusively ours.
        to_result(unsafe { bindings::xnt_skb_linearize(self.raw()) })
    }

    /// A fresh, linear copy of the packet (`skb_copy`), if memory allows.
    pub fn copy(&self) -> Option<SkBuff> {
        // SAFETY: Valid skb.
        NonNull::new(unsafe { bindings::xnt_skb_copy(self.raw()) }).map(SkBuff)
    }

    /// The packet's GSO request, if any.
    pub fn gso(&self) -> Option<Gso> {
        let mut size = 0u16;
        // SAFETY: Valid skb; `size` is a valid out parameter.
        match unsafe { bindings::xnt_skb_gso(self.raw(), &mut size) } as u32 {
            bindings::XNT_GSO_NONE => None,
            bindings::XNT_GSO_TCPV4 => Some(Gso::TcpV4(size)),
            bindings::XNT_GSO_TCPV6 => Some(Gso::TcpV6(size)),
            _ => Some(Gso::Other),
        }
    }

    /// The checksum state.
    pub fn checksum(&self) -> ChecksumState {
        // SAFETY: Valid skb.
        match unsafe { bindings::xnt_skb_ip_summed(self.raw()) } as u32 {
            bindings::XNT_CSUM_UNNECESSARY => ChecksumState::Unnecessary,
            bindings::XNT_CSUM_COMPLETE => ChecksumState::Complete,
            bindings::XNT_CSUM_PARTIAL => ChecksumState::Partial,
            _ => ChecksumState::None,
        }
    }

    /// Another reference to the same skb (`skb_get`).
    pub fn new_ref(&self) -> SkBuff {
        // SAFETY: Valid skb; `skb_get` takes a reference and returns the same pointer.
        SkBuff(unsafe { NonNull::new_unchecked(bindings::xnt_skb_get(self.raw())) })
    }

    /// Frees this reference as successfully transmitted or consumed.
    pub fn consume(self) {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: We own this reference and give it up exactly once.
        unsafe { bindings::xnt_skb_consume(this.raw()) };
    }

    /// Appends `len` bytes from `page` at `offset` to the linear area.
    pub fn put_from_page(&mut self, page: &Page, offset: u32, len: u32) {
        // SAFETY: Valid skb and page; the glue checks bounds and tailroom.
        unsafe { bindings::xnt_skb_put_from_page(self.raw(), page.0.as_ptr(), offset, len) };
    }

    /// Attaches `len` bytes of `page` at `offset` as the next fragment; gives the page
    /// back if the skb has no fragment slot left or the range is outside the page.
    pub fn add_page_frag(&mut self, page: Page, offset: u32, len: u32) -> Result<(), Page> {
        // SAFETY: Valid skb and page; on success the skb takes over our page reference.
        let r =
            unsafe { bindings::xnt_skb_add_page_frag(self.raw(), page.0.as_ptr(), offset, len) };
        if r == 0 {
            core::mem::forget(page);
            Ok(())
        } else {
            Err(page)
        }
    }

    /// Finishes a received packet: GSO metadata (marked dodgy), protocol, checksum state
    /// (`skb_checksum_setup` for a partial checksum). Returns whether a GSO packet without
    /// a partial checksum had to be fixed up.
    pub fn finish_rx(
        &mut self,
        dev: NetDevRef,
        csum: ChecksumState,
        gso: Option<Gso>,
    ) -> Result<bool> {
        let c = match csum {
            ChecksumState::Partial => bindings::XNT_CSUM_PARTIAL,
            ChecksumState::Unnecessary => bindings::XNT_CSUM_UNNECESSARY,
            _ => bindings::XNT_CSUM_NONE,
        };
        let (t, size) = match gso {
            Some(Gso::TcpV4(s)) => (bindings::XNT_GSO_TCPV4, s),
            Some(Gso::TcpV6(s)) => (bindings::XNT_GSO_TCPV6, s),
            _ => (bindings::XNT_GSO_NONE, 0),
        };
        let mut fixup = false;
        // SAFETY: Valid skb exclusively ours; valid device; `fixup` is an out parameter.
        to_result(unsafe {
            bindings::xnt_skb_finish_rx(self.raw(), dev.raw(), c as i32, t as i32, size, &mut fixup)
        })?;
        Ok(fixup)
    }
}

impl Drop for SkBuff {
    fn drop(&mut self) {
        // SAFETY: We own this reference and give it up exactly once.
        unsafe { bindings::xnt_skb_free(self.raw()) };
    }
}

/// An owned page (order 0).
pub struct Page(NonNull<bindings::page>);

// SAFETY: A page reference can be freed from any context.
unsafe impl Send for Page {}

impl Page {
    /// Allocates a page without sleeping; `None` under memory pressure.
    pub fn alloc_atomic() -> Option<Self> {
        // SAFETY: Plain allocation.
        NonNull::new(unsafe { bindings::xnt_page_alloc() }).map(Page)
    }

    /// The page's guest frame number, for granting it.
    pub fn gfn(&self) -> u64 {
        // SAFETY: Valid page.
        unsafe { bindings::xnt_page_gfn(self.0.as_ptr()) as u64 }
    }

    pub(crate) fn into_raw(self) -> *mut bindings::page {
        core::mem::ManuallyDrop::new(self).0.as_ptr()
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        // SAFETY: We own this page reference.
        unsafe { bindings::xnt_page_free(self.0.as_ptr()) };
    }
}

/// Polls for a NAPI context (softirq context).
pub trait NapiPoller: Send + Sync + 'static {
    /// Does up to `budget` units of work and returns how many were done; when less than
    /// the budget, it must have completed the context with [`NapiRef::complete_done`].
    /// Runs with bottom halves off (`bh`): in the `NET_RX` softirq, a threaded or
    /// busy-polling NAPI's `local_bh_disable` section, or netpoll with hard IRQs off.
    fn poll(&self, napi: NapiRef, budget: i32, bh: &BhDisabled) -> i32;
}

/// An owned NAPI context on a [`NetDevice`], deleted on drop.
///
/// # Invariants
///
/// `ptr` came from `xnt_napi_new`; when `ctx` is set the glue's context pointer is
/// `Arc::as_ptr(ctx)`.
pub struct Napi<P: NapiPoller> {
    ptr: NonNull<bindings::napi_struct>,
    ctx: Option<Arc<P>>,
}

// SAFETY: Owned; the NAPI core synchronises polling.
unsafe impl<P: NapiPoller> Send for Napi<P> {}
// SAFETY: `&Napi` only hands out `NapiRef`.
unsafe impl<P: NapiPoller> Sync for Napi<P> {}

impl<P: NapiPoller> Napi<P> {
    /// Adds a NAPI context to `dev`; it polls nothing until [`Self::attach`].
    pub fn new<T: NetDriver>(dev: &NetDevice<T>) -> Result<Self> {
        // SAFETY: `dev` is a valid device that outlives this context (its owner deletes
        // NAPI contexts before freeing it).
        let p = unsafe { bindings::xnt_napi_new(dev.ptr.as_ptr(), Some(napi_trampoline::<P>)) };
        Ok(Self {
            ptr: NonNull::new(p).ok_or(ENOMEM)?,
            ctx: None,
        })
    }

    /// Sets the poller.
    pub fn attach(&mut self, ctx: Arc<P>) {
        // SAFETY: Valid context; the pointer stays valid while `self` holds the `Arc`.
        unsafe { bindings::xnt_napi_set_ctx(self.ptr.as_ptr(), Arc::as_ptr(&ctx).cast()) };
        self.ctx = Some(ctx);
    }

    /// A handle for scheduling and receiving.
    pub fn handle(&self) -> NapiRef {
        NapiRef {
            ptr: self.ptr,
            _p: PhantomData,
        }
    }
}

impl<P: NapiPoller> Drop for Napi<P> {
    fn drop(&mut self) {
        // SAFETY: Valid context, deleted once; `netif_napi_del` waits for a running poll.
        unsafe { bindings::xnt_napi_delete(self.ptr.as_ptr()) };
    }
}

/// A copyable handle for a [`Napi`]; must not be used after the `Napi` was dropped.
#[derive(Clone, Copy)]
pub struct NapiRef {
    ptr: NonNull<bindings::napi_struct>,
    _p: PhantomData<*const ()>,
}

// SAFETY: NAPI operations are callable from any context the NAPI core allows.
unsafe impl Send for NapiRef {}
// SAFETY: As above.
unsafe impl Sync for NapiRef {}

impl NapiRef {
    /// `napi_enable`.
    pub fn enable(self) {
        // SAFETY: Valid context (type documentation).
        unsafe { bindings::xnt_napi_enable(self.ptr.as_ptr()) };
    }

    /// `napi_disable`: waits for a running poll.
    pub fn disable(self) {
        // SAFETY: Valid context.
        unsafe { bindings::xnt_napi_disable(self.ptr.as_ptr()) };
    }

    /// `napi_schedule`.
    pub fn schedule(self) {
        // SAFETY: Valid context.
        unsafe { bindings::xnt_napi_schedule(self.ptr.as_ptr()) };
    }

    /// `napi_complete_done`; `false` if the context must keep polling.
    pub fn complete_done(self, work: i32) -> bool {
        // SAFETY: Valid context, called from its poll function.
        unsafe { bindings::xnt_napi_complete_done(self.ptr.as_ptr(), work) }
    }

    /// Allocates a receive skb with `len` bytes of linear room.
    pub fn alloc_skb(self, len: u32) -> Option<SkBuff> {
        // SAFETY: Valid context, called from its poll function.
        NonNull::new(unsafe { bindings::xnt_napi_alloc_skb(self.ptr.as_ptr(), len) }).map(SkBuff)
    }

    /// Hands a received packet to GRO and the stack.
    pub fn gro_receive(self, skb: SkBuff) {
        let skb = core::mem::ManuallyDrop::new(skb);
        // SAFETY: Valid context; the stack takes over our skb reference.
        unsafe { bindings::xnt_napi_gro_receive(self.ptr.as_ptr(), skb.raw()) };
    }
}

/// # Safety
///
/// `ctx` is the pointer set by [`Napi::attach`]; the `Napi` keeps it alive while polls run.
unsafe extern "C" fn napi_trampoline<P: NapiPoller>(
    ctx: *const c_void,
    napi: *mut bindings::napi_struct,
    budget: i32,
) -> i32 {
    // SAFETY: Per the safety requirement `ctx` points to a live `P`.
    let poller = unsafe { &*ctx.cast::<P>() };
    let Some(ptr) = NonNull::new(napi) else {
        return 0;
    };
    // SAFETY: NAPI polls run in the `NET_RX` softirq, in `local_bh_disable` sections
    // (threaded NAPI, busy polling) or under netpoll with hard IRQs off, never in hard-IRQ
    // context; the token does not outlive this call.
    let bh = unsafe { BhDisabled::assume() };
    poller.poll(
        NapiRef {
            ptr,
            _p: PhantomData,
        },
        budget,
        bh,
    )
}
