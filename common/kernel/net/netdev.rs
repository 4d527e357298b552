// SPDX-License-Identifier: GPL-2.0

//! Network devices: [`NetDevice`] and its [`NetDriver`], the [`NetDevRef`] handle, offload
//! [`features`], and the statistics / ethtool helpers.
//!
//! The C glue in `net_helpers.c` owns the `net_device_ops` / `ethtool_ops` tables and
//! dispatches them to a [`NetDriver`] through the callbacks here.
//!
//! C header: [`include/linux/netdevice.h`](srctree/include/linux/netdevice.h)

use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

use kernel::error::to_result;
use kernel::prelude::*;
use kernel::sync::{rcu, Arc};

use super::super::bindings;
use super::super::sync::BhDisabled;
use super::napi::NapiInner;
use super::SkBuff;

/// `NETIF_F_SG` (`netdev_features_t` bits are macros over the `NETIF_F_*_BIT` enum).
const NETIF_F_SG: u64 = 1 << bindings::NETIF_F_SG_BIT;

/// Length of one ethtool statistics name, including its NUL.
pub const STAT_NAME_LEN: usize = bindings::XNT_STAT_NAME_LEN as usize;

/// Offload features a driver can allow (see [`NetDriver::allowed_features`]).
pub mod features {
    /// Scatter-gather.
    pub const SG: u32 = super::bindings::XNT_FEAT_SG;
    /// IPv4 checksum offload (packets may leave with a partial checksum).
    pub const IP_CSUM: u32 = super::bindings::XNT_FEAT_IP_CSUM;
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
/// `ptr` came from `xnt_netdev_alloc` and is freed in `drop` (after deleting every NAPI
/// context in `napis`, unregistering it if `reg` is `Registered`, and killing `shared`, see
/// [`NetDevRef`]); `shared.ptr` is `ptr`. When `ctx` is set,
/// the glue's context pointer is `Arc::as_ptr(ctx)`; it is set (and only changed) by
/// `register` while `reg` is `New`, and is set whenever `reg` is not `New`. `napis` holds
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
    /// `parent` as its parent device. It has no driver context until [`Self::register`].
    pub fn new(
        parent: &super::super::xenbus::Device,
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
        // SAFETY: `p` is null or a device just allocated, never registered, known to
        // nothing else.
        unsafe { Self::from_raw(p) }
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
        // SAFETY: `p` is null or a device just allocated, never registered, known to
        // nothing else.
        unsafe { Self::from_raw(p) }
    }

    /// Takes ownership of a device fresh from `xnt_netdev_alloc*` (`ENOMEM` if null),
    /// freeing it if the shared part of its handles cannot be allocated.
    ///
    /// # Safety
    ///
    /// `p` is null or a device allocated by `xnt_netdev_alloc*`, never registered, that
    /// nothing else uses or frees.
    unsafe fn from_raw(p: *mut bindings::net_device) -> Result<Self> {
        let ptr = NonNull::new(p).ok_or(ENOMEM)?;
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
        // SAFETY: The device is owned and valid, and not registered (`New`): no operation
        // runs or can start on it, a failed earlier `register_netdev` having unwound before
        // it returned, so the previous context (if any) is not in use. The new pointer stays
        // valid because `self` keeps the `Arc` until after the device is unregistered and
        // freed, and is not replaced after this (only `New` allows it).
        unsafe { bindings::xnt_netdev_set_ctx(self.ptr.as_ptr(), Arc::as_ptr(&ctx).cast()) };
        // INVARIANT: `ctx` is the glue's context pointer, set while `New`.
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
        // SAFETY: Allocated device (`LiveDev`); a bit test.
        self.live()
            .is_some_and(|d| unsafe { bindings::xnt_netdev_carrier_ok(d.raw()) })
    }

    /// Whether the device is up (`netif_running`: `__LINK_STATE_START`, which the core sets
    /// before `ndo_open` and clears before `ndo_stop`, under RTNL). A lock-free bit test,
    /// valid in any context, as the C drivers use it (a reader without RTNL sees the state
    /// of that moment, which an open or close in progress may change right after). `false`
    /// once the device is gone.
    pub fn is_running(&self) -> bool {
        // SAFETY: Allocated device (`LiveDev`); a bit test.
        self.live()
            .is_some_and(|d| unsafe { bindings::xnt_netdev_running(d.raw()) })
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

/// # Safety
///
/// `p` is the context pointer set by [`NetDevice::register`], and the `NetDevice` (which
/// keeps the `Arc` alive) is not dropped for `'a`.
unsafe fn ctx<'a, T>(p: *const c_void) -> &'a T {
    // SAFETY: Per the function's safety requirement `p` points to a live `T`.
    unsafe { &*p.cast::<T>() }
}

/// # Safety
///
/// Called by the glue only, with the context pointer set by [`NetDevice::register`] while
/// the device can run operations, and with valid arguments for the operation.
unsafe extern "C" fn cb_open<T: NetDriver>(p: *const c_void) -> i32 {
    // SAFETY: The glue passes the registered context (see the safety section).
    match unsafe { ctx::<T>(p) }.open() {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the glue only, with the context pointer set by [`NetDevice::register`] while
/// the device can run operations, and with valid arguments for the operation.
unsafe extern "C" fn cb_stop<T: NetDriver>(p: *const c_void) -> i32 {
    // SAFETY: The glue passes the registered context (see the safety section).
    match unsafe { ctx::<T>(p) }.stop() {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the glue only, with the context pointer set by [`NetDevice::register`] while
/// the device can run operations, and with valid arguments for the operation.
unsafe extern "C" fn cb_start_xmit<T: NetDriver>(p: *const c_void, skb: *mut bindings::sk_buff) {
    if let Some(skb) = NonNull::new(skb) {
        // SAFETY: The networking core calls `ndo_start_xmit` with bottom halves disabled
        // (`__dev_queue_xmit`'s `rcu_read_lock_bh`, `dev_direct_xmit`, pktgen) or, for
        // netpoll, with hard IRQs off in task or softirq context; the token does not
        // outlive this call.
        let bh = unsafe { BhDisabled::assume() };
        // INVARIANT: `ndo_start_xmit` hands over the caller's reference to the skb.
        // SAFETY: The glue passes the registered context (see the safety section).
        unsafe { ctx::<T>(p) }.start_xmit(SkBuff(skb), bh);
    }
}

/// # Safety
///
/// Called by the glue only, with the context pointer set by [`NetDevice::register`] while
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
    // SAFETY: The glue passes the registered context (see the safety section).
    unsafe { ctx::<T>(p) }.select_queue(&skb)
}

/// # Safety
///
/// Called by the glue only, with the context pointer set by [`NetDevice::register`] while
/// the device can run operations, and with valid arguments for the operation.
unsafe extern "C" fn cb_get_stats64<T: NetDriver>(
    p: *const c_void,
    out: *mut bindings::xnt_link_stats,
) {
    // SAFETY: The glue passes the registered context (see the safety section).
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
/// Called by the glue only, with the context pointer set by [`NetDevice::register`] while
/// the device can run operations, and with valid arguments for the operation.
unsafe extern "C" fn cb_allowed_features<T: NetDriver>(p: *const c_void) -> u32 {
    // SAFETY: The glue passes the registered context (see the safety section).
    unsafe { ctx::<T>(p) }.allowed_features()
}

/// # Safety
///
/// Called by the glue only, with the context pointer set by [`NetDevice::register`] while
/// the device can run operations, and with valid arguments for the operation.
unsafe extern "C" fn cb_max_mtu<T: NetDriver>(p: *const c_void) -> u32 {
    // SAFETY: The glue passes the registered context (see the safety section).
    unsafe { ctx::<T>(p) }.max_mtu()
}

/// # Safety
///
/// Called by the glue only, with the context pointer set by [`NetDevice::register`] while
/// the device can run operations, and with valid arguments for the operation.
unsafe extern "C" fn cb_stats_count<T: NetDriver>(p: *const c_void) -> u32 {
    // SAFETY: The glue passes the registered context (see the safety section).
    unsafe { ctx::<T>(p) }.stats_count()
}

/// # Safety
///
/// Called by the glue only, with the context pointer set by [`NetDevice::register`] while
/// the device can run operations, and with valid arguments for the operation.
unsafe extern "C" fn cb_stats_names<T: NetDriver>(p: *const c_void, names: *mut u8, count: u32) {
    // SAFETY: The glue passes a zeroed buffer of `count` names of `STAT_NAME_LEN` bytes.
    let names = unsafe {
        core::slice::from_raw_parts_mut(names.cast::<[u8; STAT_NAME_LEN]>(), count as usize)
    };
    // SAFETY: The glue passes the registered context (see the safety section).
    unsafe { ctx::<T>(p) }.stats_names(names);
}

/// # Safety
///
/// Called by the glue only, with the context pointer set by [`NetDevice::register`] while
/// the device can run operations, and with valid arguments for the operation.
unsafe extern "C" fn cb_stats_values<T: NetDriver>(p: *const c_void, values: *mut u64, count: u32) {
    // SAFETY: The glue passes a buffer of `count` values.
    let values = unsafe { core::slice::from_raw_parts_mut(values, count as usize) };
    // SAFETY: The glue passes the registered context (see the safety section).
    unsafe { ctx::<T>(p) }.stats_values(values);
}

/// # Safety
///
/// Called by the glue only, with the context pointer set by [`NetDevice::register`] while
/// the device can run operations, and with valid arguments for the operation.
unsafe extern "C" fn cb_channels<T: NetDriver>(p: *const c_void, max: *mut u32, cur: *mut u32) {
    // SAFETY: The glue passes the registered context (see the safety section).
    let (m, c) = unsafe { ctx::<T>(p) }.channels();
    // SAFETY: The glue passes two valid out parameters.
    unsafe {
        *max = m;
        *cur = c;
    }
}
