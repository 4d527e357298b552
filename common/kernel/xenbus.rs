// SPDX-License-Identifier: GPL-2.0

//! Xenbus drivers: registration of a frontend or backend driver for one device type, and
//! the device handle its callbacks receive.
//!
//! C header: [`include/xen/xenbus.h`](srctree/include/xen/xenbus.h)

use core::marker::PhantomData;

use kernel::error::{from_result, to_result};
use kernel::prelude::*;
#[cfg(xnt_backend)]
use kernel::sync::aref::ARef;
use kernel::sync::Arc;
use kernel::types::Opaque;

use super::bindings;

/// A XenBus state (`enum xenbus_state`), as each end publishes it under `state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum State {
    /// 0: not known.
    Unknown = 0,
    /// 1: setting up.
    Initialising = 1,
    /// 2: waiting for the peer's details (backends publish this after probe).
    InitWait = 2,
    /// 3: details published, waiting for the peer to connect.
    Initialised = 3,
    /// 4: connected.
    Connected = 4,
    /// 5: shutting down.
    Closing = 5,
    /// 6: closed.
    Closed = 6,
    /// 7: reconfiguration requested.
    Reconfiguring = 7,
    /// 8: reconfiguration done.
    Reconfigured = 8,
}

impl State {
    /// Converts a raw state; `None` for values outside the protocol.
    pub const fn from_raw(raw: u32) -> Option<Self> {
        Some(match raw {
            0 => State::Unknown,
            1 => State::Initialising,
            2 => State::InitWait,
            3 => State::Initialised,
            4 => State::Connected,
            5 => State::Closing,
            6 => State::Closed,
            7 => State::Reconfiguring,
            8 => State::Reconfigured,
            _ => return None,
        })
    }
}

/// Which end of the split driver a [`Driver`] implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Guest side, bound to `device/<type>/<id>` nodes.
    Frontend,
    /// Driver-domain side, bound to `backend/<type>/<domid>/<id>` nodes.
    Backend,
}

/// A xenbus device (`struct xenbus_device`), valid for the duration of a driver callback.
///
/// # Invariants
///
/// `self.0` is a `struct xenbus_device` the xenbus core keeps alive while the callback that
/// received a `&Device` runs.
#[repr(transparent)]
pub struct Device(Opaque<bindings::xenbus_device>);

impl Device {
    /// Borrows the C device for the duration of a callback.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a live `struct xenbus_device` that stays valid for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::xenbus_device) -> &'a Self {
        // SAFETY: `Device` is a transparent wrapper of the C struct; validity for `'a` is
        // the caller's guarantee.
        unsafe { &*ptr.cast() }
    }

    pub(crate) fn as_raw(&self) -> *mut bindings::xenbus_device {
        self.0.get()
    }

    /// The generic device embedded in the xenbus device, for `dev_*!` logging.
    pub fn as_dev(&self) -> &kernel::device::Device {
        // SAFETY: By the type invariant the xenbus device is alive, and with it its embedded
        // `struct device`, whose reference count the xenbus core holds while it is bound.
        unsafe { kernel::device::Device::from_raw(&raw mut (*self.as_raw()).dev) }
    }

    /// The embedded `struct device`, for C APIs that take it.
    pub(crate) fn as_device_ptr(&self) -> *mut bindings::device {
        // SAFETY: By the type invariant the device is alive; this only computes the address
        // of a field.
        unsafe { &raw mut (*self.as_raw()).dev }
    }

    /// This end's XenStore directory (for example `device/vif/0`).
    pub fn nodename(&self) -> &CStr {
        // SAFETY: By the type invariant the device is alive; the xenbus core sets `nodename`
        // to a NUL-terminated string before probing and frees it only with the device.
        unsafe { CStr::from_char_ptr((*self.as_raw()).nodename) }
    }

    /// The other end's XenStore directory, if the xenbus core has read it.
    pub fn otherend(&self) -> Option<&CStr> {
        // SAFETY: By the type invariant the device is alive.
        let p = unsafe { (*self.as_raw()).otherend };
        if p.is_null() {
            None
        } else {
            // SAFETY: A non-null `otherend` is a NUL-terminated string owned by the device.
            Some(unsafe { CStr::from_char_ptr(p) })
        }
    }

    /// Domain id of the other end.
    pub fn otherend_id(&self) -> i32 {
        // SAFETY: By the type invariant the device is alive; the field is plain data.
        unsafe { (*self.as_raw()).otherend_id }
    }

    /// Publishes `state` as this end's XenBus state (`xenbus_switch_state()`).
    pub fn switch_state(&self, state: State) -> Result {
        // SAFETY: By the type invariant the device is alive; any `State` is a valid
        // `enum xenbus_state` value.
        to_result(unsafe { bindings::xenbus_switch_state(self.as_raw(), state as u32) })
    }
}

/// A counted reference to a xenbus device, for objects that outlive the callback that
/// created them (a backend's mapped rings, XenStore watches): it keeps the `struct
/// xenbus_device` allocated, not bound to its driver.
///
/// Hence it offers only what is sound on a device that may have been removed meanwhile:
/// the XenStore accesses by the device's own `nodename` and its state switch, which touch
/// only memory freed with the device (`xenbus_dev_release`). The other end's details
/// (`otherend`, freed and re-read by the xenbus core on remove and probe) stay with
/// [`Device`], which exists only during the core's callbacks.
///
/// Backend only (`cfg(xnt_backend)`), like its users.
///
/// # Invariants
///
/// `raw` is a `struct xenbus_device` whose embedded `struct device` is `_dev`; the
/// reference `_dev` counts keeps the allocation, and the `nodename` in it, alive.
#[cfg(xnt_backend)]
pub struct DeviceRef {
    raw: *mut bindings::xenbus_device,
    _dev: ARef<kernel::device::Device>,
}

// SAFETY: `raw` is only passed to xenbus functions, which may be called from any thread;
// `ARef<Device>` is `Send`.
#[cfg(xnt_backend)]
unsafe impl Send for DeviceRef {}
// SAFETY: As above: `&DeviceRef` allows only those calls.
#[cfg(xnt_backend)]
unsafe impl Sync for DeviceRef {}

#[cfg(xnt_backend)]
impl DeviceRef {
    /// Takes a reference to `dev`.
    pub(crate) fn new(dev: &Device) -> Self {
        // INVARIANT: `as_dev` is the `struct device` embedded in `dev`; `ARef::from` takes
        // a reference on it (`get_device`), which `xenbus_dev_release` waits for.
        Self {
            raw: dev.as_raw(),
            _dev: ARef::from(dev.as_dev()),
        }
    }

    pub(crate) fn as_raw(&self) -> *mut bindings::xenbus_device {
        self.raw
    }

    /// This end's XenStore directory (for example `backend/vif/1/0`).
    pub fn nodename(&self) -> &CStr {
        // SAFETY: By the type invariant the device is allocated; the xenbus core sets
        // `nodename` before registering the device, inside the same allocation, and never
        // changes it.
        unsafe { CStr::from_char_ptr((*self.raw).nodename) }
    }

    /// Reads `key` from this device's own directory.
    pub fn read_own(&self, key: &CStr) -> Result<KVec<u8>> {
        read(self.nodename(), key)
    }

    /// Publishes `state` as this end's XenBus state (`xenbus_switch_state()`).
    pub fn switch_state(&self, state: State) -> Result {
        // SAFETY: By the type invariant the device is allocated; `xenbus_switch_state` uses
        // its `state`, `nodename` and embedded `struct device` (for `dev_err` and the error
        // node on failure), all of which live as long as the allocation. Any `State` is a
        // valid `enum xenbus_state` value.
        to_result(unsafe { bindings::xenbus_switch_state(self.raw, state as u32) })
    }
}

/// A xenbus driver for one device type.
pub trait Driver: Sized + 'static {
    /// The device type, the directory name under `device/` or `backend/` (e.g. `vif`).
    const DEVICE_TYPE: &'static CStr;
    /// Frontend or backend.
    const SIDE: Side;
    /// Per-device state, created by [`Driver::probe`] and handed back to [`Driver::remove`].
    type Data: Send + Sync + 'static;

    /// A device of [`Driver::DEVICE_TYPE`] appeared. `work` asks for
    /// [`Driver::deferred_work`] on this device; the driver keeps clones of it where it
    /// needs them (requests made before probe returns are dropped).
    fn probe(dev: &Device, work: &DeferredWork) -> Result<KBox<Self::Data>>;

    /// The other end's state changed.
    fn otherend_changed(dev: &Device, data: &Self::Data, state: State);

    /// The other end published a state value outside the protocol (above 8). By default
    /// this is handled as [`State::Unknown`]; the C netback reports it as a fatal error
    /// instead, and a driver may do the same.
    fn otherend_invalid_state(dev: &Device, data: &Self::Data, raw: u32) {
        let _ = raw;
        Self::otherend_changed(dev, data, State::Unknown);
    }

    /// Asked right after [`Driver::otherend_changed`] returned: whether the device should
    /// now be unregistered (which removes it). A backend does this when its frontend is
    /// gone for good.
    fn unregister_after_change(_data: &Self::Data) -> bool {
        false
    }

    /// The device is going away or the driver is being unloaded. No
    /// [`Driver::deferred_work`] runs any more, nor will (its [`DeferredWork`] is
    /// disabled, a running one waited for, before this is called).
    fn remove(dev: &Device, data: KBox<Self::Data>);

    /// Work asked for with the device's [`DeferredWork`], run on a system workqueue:
    /// process context, no lock held. It runs only while the device is bound (after
    /// [`Driver::probe`] returned, never once [`Driver::remove`] is about to be called),
    /// never twice at once, but concurrently with the other callbacks
    /// ([`Driver::otherend_changed`] in the xenwatch thread, the net device's operations):
    /// the driver locks what they share. It must not unregister its own device (remove
    /// waits for it to return).
    fn deferred_work(_dev: &Device, _data: &Self::Data) {}

    /// Whether the xenbus core leaves the device's state alone when the driver is unbound
    /// or unloaded (`allow_rebind`), so that a driver bound again (a reloaded module)
    /// takes the connection over: the netback sets it, as C's does. Otherwise the core
    /// switches the state to Closed after [`Driver::remove`].
    const ALLOW_REBIND: bool = false;

    /// Adds environment variables to the device's uevents (and to its sysfs `uevent`
    /// file), as the C backends do for their hotplug scripts. Called with the device only:
    /// it may run while the device is being probed or removed.
    fn uevent(_dev: &Device, _env: &mut UeventEnv) -> Result {
        Ok(())
    }
}

/// A handle that asks for [`Driver::deferred_work`] to run for one device, on the system
/// unbound workqueue (`system_dfl_wq`). Given to [`Driver::probe`]; its clones may be kept
/// anywhere (in a net device's context, for example) and used from any context, atomic
/// included, also after the device is gone.
///
/// A request counts only while the device is bound: from the end of a successful probe
/// until its removal begins; before and after, [`DeferredWork::schedule`] does nothing. A
/// request made while the work is pending is merged with it; one made while it runs makes
/// it run once more afterwards.
#[derive(Clone)]
pub struct DeferredWork(Arc<WorkShared>);

/// The work item behind a [`DeferredWork`].
///
/// # Invariants
///
/// `work` was initialised by [`DeferredWork::new`] with `deferred_work_fn::<T>`, for the
/// driver `T` whose `probe_callback` created it for the device `xdev`. It is disabled
/// (`disable_work`) but between the end of that successful probe, once the device's
/// `driver_data` points to the [`Bound<T>`] holding this record, and the start of the
/// device's `remove_callback`, which disables it again, waiting for a running work
/// (`disable_work_sync`), before it frees the `Bound<T>`. So the work function runs only
/// while `xdev` is bound to `T` with that `driver_data`.
#[repr(C)]
#[pin_data]
struct WorkShared {
    /// First, so that the `work_struct` address is the record's.
    #[pin]
    work: Opaque<bindings::work_struct>,
    xdev: *mut bindings::xenbus_device,
}

// SAFETY: `xdev` is dereferenced only by the work function, which runs only while the
// device is bound (type invariant); `work` is used only through the workqueue API, which
// synchronises itself and may be called from any thread.
unsafe impl Send for WorkShared {}
// SAFETY: As above; `&WorkShared` only allows queueing and disabling the work.
unsafe impl Sync for WorkShared {}

impl DeferredWork {
    /// A new, disabled work item for `T` on device `xdev`.
    fn new<T: Driver>(xdev: *mut bindings::xenbus_device) -> Result<Self> {
        let shared = Arc::pin_init(
            pin_init!(WorkShared {
                work <- Opaque::ffi_init(|slot: *mut bindings::work_struct| {
                    // SAFETY: `slot` is the uninitialised `work_struct` of the new record,
                    // which stays at this address (an `Arc` never moves its contents); the
                    // name and lock class key are static.
                    unsafe {
                        bindings::init_work_with_key(
                            slot,
                            Some(deferred_work_fn::<T>),
                            false,
                            c"xenbus_deferred_work".as_char_ptr(),
                            kernel::static_lock_class!().as_ptr(),
                        )
                    }
                }),
                xdev,
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: The work item was initialised above and was never queued; disabling it
        // only counts (`disable_work` does not sleep). INVARIANT: disabled until
        // `probe_callback` enables it.
        unsafe { bindings::disable_work(shared.work.get()) };
        Ok(Self(shared))
    }

    /// Asks for [`Driver::deferred_work`] to run (see the type's rules). Returns whether
    /// this request queued the work (false: pending already, or the device is not
    /// bound). Any context.
    pub fn schedule(&self) -> bool {
        // SAFETY: `work` is an initialised work item kept alive by `self.0`;
        // `system_dfl_wq` is set at boot and never changes. A disabled work item is not
        // queued (`queue_work_on` returns false).
        unsafe {
            bindings::queue_work_on(
                bindings::wq_misc_consts_WORK_CPU_UNBOUND as kernel::ffi::c_int,
                bindings::system_dfl_wq,
                self.0.work.get(),
            )
        }
    }

    /// Starts accepting requests: the device is bound, its `driver_data` set.
    ///
    /// # Safety
    ///
    /// Called once, by `probe_callback`, after `xdev`'s `driver_data` was set to the
    /// `Bound<T>` that holds this work item (see [`WorkShared`]'s invariants).
    unsafe fn enable(&self) {
        // SAFETY: An initialised work item, disabled once by `new`.
        unsafe { bindings::enable_work(self.0.work.get()) };
    }

    /// Stops for good: a pending work is cancelled, a running one waited for, and later
    /// requests do nothing. Process context; the caller holds no lock the work function
    /// takes.
    fn disable_sync(&self) {
        // SAFETY: An initialised work item; process context (the caller's requirement).
        unsafe { bindings::disable_work_sync(self.0.work.get()) };
    }
}

/// The work function of a [`DeferredWork`] created for driver `T`.
///
/// # Safety
///
/// Called by the workqueue only, with the `work_struct` of a [`WorkShared`] whose work
/// function this is.
unsafe extern "C" fn deferred_work_fn<T: Driver>(work: *mut bindings::work_struct) {
    // SAFETY: `work` is the first field of a `repr(C)` `WorkShared` (the safety
    // requirement), alive while its work function runs: the `Bound<T>` of the device holds
    // a reference until `remove_callback` has waited for this function to return.
    let shared = unsafe { &*work.cast::<WorkShared>() };
    // SAFETY: The work runs only while `xdev` is bound to `T` (`WorkShared` invariant), so
    // the device is alive and its `driver_data` is the `Bound<T>` probe stored, which is
    // freed only after `remove_callback` waited for this function.
    let (dev, bound) = unsafe {
        let xdev = shared.xdev;
        (
            Device::from_raw(xdev),
            &*(*xdev).dev.driver_data.cast::<Bound<T>>(),
        )
    };
    T::deferred_work(dev, &bound.data);
}

/// What a bound device's `driver_data` points to: the driver's data and the device's
/// [`DeferredWork`].
struct Bound<T: Driver> {
    work: DeferredWork,
    data: KBox<T::Data>,
}

/// The environment of a uevent being built (`struct kobj_uevent_env`).
pub struct UeventEnv(*mut bindings::kobj_uevent_env);

impl UeventEnv {
    /// Adds one `KEY=value` variable.
    pub fn add(&mut self, var: &CStr) -> Result {
        // SAFETY: `self.0` is the environment the driver core passed to the callback that
        // created this value, valid for its duration; `var` is NUL-terminated.
        to_result(unsafe {
            bindings::add_uevent_var(self.0, c"%s".as_char_ptr(), var.as_char_ptr())
        })
    }
}

/// Owned memory behind a registration: the C driver struct and its id table.
struct RegistrationData {
    driver: Opaque<bindings::xenbus_driver>,
    ids: [bindings::xenbus_device_id; 2],
}

/// A registered xenbus driver; dropping it unregisters the driver, which removes every
/// device still bound to it.
///
/// # Invariants
///
/// `data.driver` is registered with the xenbus core for as long as `self` exists.
pub struct Registration<T: Driver> {
    data: KBox<RegistrationData>,
    _driver: PhantomData<T>,
}

// SAFETY: The registration only holds C memory that the xenbus core synchronises; it can be
// dropped from any thread.
unsafe impl<T: Driver> Send for Registration<T> {}
// SAFETY: `&Registration` exposes nothing.
unsafe impl<T: Driver> Sync for Registration<T> {}

impl<T: Driver> Registration<T> {
    /// Registers `T` with the xenbus core under the module's name.
    pub fn new(module: &'static kernel::ThisModule, module_name: &'static CStr) -> Result<Self> {
        let mut ids: [bindings::xenbus_device_id; 2] = pin_init::zeroed();
        let ty = T::DEVICE_TYPE.to_bytes();
        if ty.len() >= ids[0].devicetype.len() {
            return Err(EINVAL);
        }
        for (dst, &src) in ids[0].devicetype.iter_mut().zip(ty) {
            *dst = src;
        }
        let data = KBox::new(
            RegistrationData {
                driver: Opaque::new(pin_init::zeroed()),
                ids,
            },
            GFP_KERNEL,
        )?;
        let drv = data.driver.get();
        // SAFETY: `drv` points to the zeroed driver struct in the new, not yet registered
        // allocation, which nothing else references.
        unsafe {
            (*drv).ids = data.ids.as_ptr();
            (*drv).allow_rebind = T::ALLOW_REBIND;
            (*drv).probe = Some(probe_callback::<T>);
            (*drv).remove = Some(remove_callback::<T>);
            (*drv).otherend_changed = Some(otherend_changed_callback::<T>);
            (*drv).uevent = Some(uevent_callback::<T>);
        }
        let ret = match T::SIDE {
            // SAFETY: `drv` is a fully initialised driver struct whose id table lives in the
            // same allocation; both stay at a fixed address until `drop` unregisters the
            // driver. `module` and `module_name` are valid for the module's lifetime.
            Side::Frontend => unsafe {
                bindings::__xenbus_register_frontend(
                    drv,
                    module.as_ptr(),
                    module_name.as_char_ptr(),
                )
            },
            // SAFETY: As for the frontend.
            #[cfg(xnt_backend)]
            Side::Backend => unsafe {
                bindings::__xenbus_register_backend(drv, module.as_ptr(), module_name.as_char_ptr())
            },
            // `xen_netfront` registers no backend driver, and must not reference the backend
            // bus: a guest kernel without `CONFIG_XEN_BACKEND` does not export it.
            #[cfg(not(xnt_backend))]
            Side::Backend => ENODEV.to_errno(),
        };
        to_result(ret)?;
        // INVARIANT: the driver was registered above.
        Ok(Self {
            data,
            _driver: PhantomData,
        })
    }
}

impl<T: Driver> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the driver is registered; unregistering it removes
        // all bound devices (calling `remove_callback`) before the memory is freed.
        unsafe { bindings::xenbus_unregister_driver(self.data.driver.get()) };
    }
}

/// The xenbus core's `probe` callback for driver `T`.
///
/// # Safety
///
/// Only the xenbus core calls this, with a live device that is being bound to `T`.
unsafe extern "C" fn probe_callback<T: Driver>(
    xdev: *mut bindings::xenbus_device,
    _id: *const bindings::xenbus_device_id,
) -> kernel::ffi::c_int {
    from_result(|| {
        // SAFETY: The xenbus core passes a live device for the duration of the call.
        let dev = unsafe { Device::from_raw(xdev) };
        let work = DeferredWork::new::<T>(xdev)?;
        // Allocated before the probe, so that nothing can fail once it succeeded (a probed
        // device's data is given up only through `remove`).
        let bound = KBox::<Bound<T>>::new_uninit(GFP_KERNEL)?;
        let data = T::probe(dev, &work)?;
        let bound = KBox::write(
            bound,
            Bound {
                work: work.clone(),
                data,
            },
        );
        // SAFETY: `xdev` is live; the pointer stored is reclaimed exactly once, by
        // `remove_callback`. (`dev_set_drvdata` is this store of a plain field.)
        unsafe { (*xdev).dev.driver_data = KBox::into_raw(bound).cast() };
        // SAFETY: Once, here: `driver_data` is the `Bound<T>` holding `work`.
        unsafe { work.enable() };
        Ok(0)
    })
}

/// The xenbus core's `remove` callback for driver `T`.
///
/// # Safety
///
/// Only the xenbus core calls this, with a live device bound to `T` by a successful probe.
unsafe extern "C" fn remove_callback<T: Driver>(xdev: *mut bindings::xenbus_device) {
    // SAFETY: The xenbus core passes a live device for the duration of the call.
    let dev = unsafe { Device::from_raw(xdev) };
    // SAFETY: `xdev` is live; remove is only called for devices whose probe succeeded.
    // (`dev_get_drvdata` is this read of a plain field.)
    let raw = unsafe { (*xdev).dev.driver_data }.cast::<Bound<T>>();
    if raw.is_null() {
        return;
    }
    // First no deferred work: a running one is waited for (it reads `driver_data` and
    // uses the driver data), later requests do nothing. The driver core holds the device
    // lock; the work function does not take it.
    // SAFETY: `raw` came from `KBox::into_raw` in `probe_callback` and is still owned by
    // the device; only shared references to it exist (the work function's).
    unsafe { &*raw }.work.disable_sync();
    // SAFETY: `xdev` is live; clear the stale pointer.
    unsafe { (*xdev).dev.driver_data = core::ptr::null_mut() };
    // SAFETY: `raw` came from `KBox::into_raw` in `probe_callback` and is reclaimed once;
    // no work function uses it any more (above).
    let bound = unsafe { KBox::from_raw(raw) };
    let Bound { work, data } = KBox::into_inner(bound);
    T::remove(dev, data);
    drop(work);
}

/// The xenbus core's `otherend_changed` callback for driver `T`.
///
/// # Safety
///
/// Only the xenbus core calls this, with a live device bound to `T`, never concurrently with
/// its removal.
unsafe extern "C" fn otherend_changed_callback<T: Driver>(
    xdev: *mut bindings::xenbus_device,
    state: bindings::xenbus_state,
) {
    // SAFETY: The xenbus core passes a live device for the duration of the call.
    let dev = unsafe { Device::from_raw(xdev) };
    // SAFETY: `xdev` is live (`dev_get_drvdata`, as in `remove_callback`).
    let raw = unsafe { (*xdev).dev.driver_data };
    if raw.is_null() {
        return;
    }
    // SAFETY: The pointer set in probe stays valid until remove, and the xenbus core does
    // not run `otherend_changed` concurrently with `remove` for the same device.
    let data = &*unsafe { &*raw.cast::<Bound<T>>() }.data;
    match State::from_raw(state) {
        Some(state) => T::otherend_changed(dev, data, state),
        None => T::otherend_invalid_state(dev, data, state),
    }
    if T::unregister_after_change(data) {
        // SAFETY: `xdev` is live and registered; `data` is not used after this point, since
        // unregistering runs `remove_callback`, which frees it.
        unsafe { bindings::device_unregister(&raw mut (*xdev).dev) };
    }
}

/// The xenbus core's `uevent` callback for driver `T`.
///
/// # Safety
///
/// Only the xenbus core calls this, with a live device and a valid environment.
unsafe extern "C" fn uevent_callback<T: Driver>(
    xdev: *const bindings::xenbus_device,
    env: *mut bindings::kobj_uevent_env,
) -> kernel::ffi::c_int {
    // SAFETY: The xenbus core passes a live device for the duration of the call; `Device`
    // only reads through the pointer.
    let dev = unsafe { Device::from_raw(xdev.cast_mut()) };
    let mut env = UeventEnv(env);
    from_result(|| {
        T::uevent(dev, &mut env)?;
        Ok(0)
    })
}

/// The "no transaction" handle for single XenStore operations.
const XBT_NIL: bindings::xenbus_transaction = bindings::xenbus_transaction { id: 0 };

/// Converts an `ERR_PTR`-style return into a result.
fn check_ptr<T>(p: *mut T) -> Result<*mut T> {
    let v = p as isize;
    if (-4095..0).contains(&v) {
        Err(Error::from_errno(v as i32))
    } else if p.is_null() {
        Err(ENOMEM)
    } else {
        Ok(p)
    }
}

/// Reads `dir/key` from XenStore into a byte vector (without the terminating NUL).
pub fn read(dir: &CStr, key: &CStr) -> Result<KVec<u8>> {
    let mut len: kernel::ffi::c_uint = 0;
    // SAFETY: Both strings are NUL-terminated; `len` is a valid out parameter.
    let p = check_ptr(unsafe {
        bindings::xenbus_read(XBT_NIL, dir.as_char_ptr(), key.as_char_ptr(), &mut len)
    })?;
    let mut out = KVec::new();
    // SAFETY: On success `xenbus_read` returns a kmalloc'ed buffer of `len` bytes plus a
    // NUL, which we own.
    let bytes = unsafe { core::slice::from_raw_parts(p.cast::<u8>(), len as usize) };
    let res = out.extend_from_slice(bytes, GFP_KERNEL);
    // SAFETY: `p` is the buffer returned above, freed exactly once.
    unsafe { bindings::kfree(p) };
    res?;
    Ok(out)
}

/// Reads an unsigned value with `xenbus_read_unsigned()`: absent or unparsable gives
/// `default`.
pub fn read_unsigned(dir: &CStr, key: &CStr, default: u32) -> u32 {
    // SAFETY: Both strings are NUL-terminated.
    unsafe { bindings::xenbus_read_unsigned(dir.as_char_ptr(), key.as_char_ptr(), default) }
}

/// A XenStore transaction; end it with [`Transaction::commit`] or [`Transaction::abort`].
pub struct Transaction {
    t: bindings::xenbus_transaction,
    done: bool,
}

impl Transaction {
    fn raw(&self) -> bindings::xenbus_transaction {
        bindings::xenbus_transaction { id: self.t.id }
    }

    /// Starts a transaction.
    pub fn start() -> Result<Self> {
        let mut t = XBT_NIL;
        // SAFETY: `t` is a valid out parameter.
        to_result(unsafe { bindings::xenbus_transaction_start(&mut t) })?;
        Ok(Self { t, done: false })
    }

    /// Writes `value` to `dir/key` inside the transaction.
    pub fn write(&self, dir: &CStr, key: &CStr, value: &CStr) -> Result {
        // SAFETY: All three strings are NUL-terminated; `self.t` is an open transaction.
        to_result(unsafe {
            bindings::xenbus_write(
                self.raw(),
                dir.as_char_ptr(),
                key.as_char_ptr(),
                value.as_char_ptr(),
            )
        })
    }

    /// Writes a formatted value to `dir/key` inside the transaction.
    pub fn write_fmt(&self, dir: &CStr, key: &CStr, value: core::fmt::Arguments<'_>) -> Result {
        let v = kernel::str::CString::try_from_fmt(value)?;
        self.write(dir, key, &v)
    }

    /// Removes `dir/key` (and anything below it) inside the transaction; a missing node is
    /// not an error.
    pub fn remove(&self, dir: &CStr, key: &CStr) {
        // SAFETY: Both strings are NUL-terminated; `self.t` is an open transaction.
        unsafe { bindings::xenbus_rm(self.raw(), dir.as_char_ptr(), key.as_char_ptr()) };
    }

    /// Commits; `EAGAIN` means the transaction raced and should be redone.
    pub fn commit(mut self) -> Result {
        self.done = true;
        // SAFETY: `self.t` is an open transaction, ended exactly once.
        to_result(unsafe { bindings::xenbus_transaction_end(self.raw(), false) })
    }

    /// Abandons the transaction.
    pub fn abort(mut self) {
        self.done = true;
        // SAFETY: `self.t` is an open transaction, ended exactly once.
        unsafe { bindings::xenbus_transaction_end(self.raw(), true) };
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if !self.done {
            // SAFETY: `self.t` is still open; ending it here is the only end.
            unsafe { bindings::xenbus_transaction_end(self.raw(), true) };
        }
    }
}

impl Device {
    /// Reads `key` from the peer's directory as an unsigned number.
    pub fn read_otherend_unsigned(&self, key: &CStr, default: u32) -> u32 {
        match self.otherend() {
            Some(dir) => read_unsigned(dir, key, default),
            None => default,
        }
    }

    /// The peer's current XenbusState, read from XenStore.
    pub fn otherend_state(&self) -> State {
        State::from_raw(self.read_otherend_unsigned(c"state", 0)).unwrap_or(State::Unknown)
    }

    /// This device's own current XenbusState, as last published.
    pub fn state(&self) -> State {
        // SAFETY: By the type invariant the device is alive; `state` is plain data the
        // xenbus core updates in `xenbus_switch_state`.
        let raw = unsafe { (*self.as_raw()).state };
        State::from_raw(raw).unwrap_or(State::Unknown)
    }

    /// Reads `key` from this device's own directory.
    pub fn read_own(&self, key: &CStr) -> Result<KVec<u8>> {
        read(self.nodename(), key)
    }

    /// Reads `key` (it may contain `/`, e.g. `queue-1/tx-ring-ref`) from the other end's
    /// directory.
    pub fn read_otherend(&self, key: &CStr) -> Result<KVec<u8>> {
        read(self.otherend().ok_or(ENODEV)?, key)
    }

    /// Sends the `online` uevent that starts udev-driven hotplug scripts.
    pub fn uevent_online(&self) {
        // SAFETY: The device is alive; the action is one of `enum kobject_action`.
        unsafe {
            bindings::kobject_uevent(
                &raw mut (*self.as_device_ptr()).kobj,
                bindings::kobject_action_KOBJ_ONLINE,
            )
        };
    }

    /// Sends the `offline` uevent that runs the hotplug scripts' offline step.
    pub fn uevent_offline(&self) {
        // SAFETY: The device is alive; the action is one of `enum kobject_action`.
        unsafe {
            bindings::kobject_uevent(
                &raw mut (*self.as_device_ptr()).kobj,
                bindings::kobject_action_KOBJ_OFFLINE,
            )
        };
    }

    /// Removes `key` from this device's own directory, ignoring a missing key.
    pub fn remove_own(&self, key: &CStr) {
        if let Ok(t) = Transaction::start() {
            t.remove(self.nodename(), key);
            let _ = t.commit();
        }
    }

    /// Allocates an unbound event-channel port for the peer domain.
    pub fn alloc_evtchn(&self) -> Result<super::evtchn::Port> {
        let mut port: bindings::evtchn_port_t = 0;
        // SAFETY: The device is alive; `port` is a valid out parameter.
        to_result(unsafe { bindings::xenbus_alloc_evtchn(self.as_raw(), &mut port) })?;
        Ok(super::evtchn::Port(port))
    }

    /// Closes a port from [`Device::alloc_evtchn`] that was never bound.
    pub fn free_evtchn(&self, port: super::evtchn::Port) {
        // SAFETY: The device is alive; `port` is an open, unbound port of ours.
        unsafe { bindings::xenbus_free_evtchn(self.as_raw(), port.0) };
    }

    /// Reports a fatal error: logs it, writes the `error` node and switches to Closing.
    pub fn fatal(&self, err: Error, msg: core::fmt::Arguments<'_>) {
        let text = kernel::str::CString::try_from_fmt(msg);
        let text: &CStr = match &text {
            Ok(t) => t,
            Err(_) => c"fatal error",
        };
        // SAFETY: The device is alive; `text` is NUL-terminated and passed as a `%s` argument.
        unsafe {
            bindings::xenbus_dev_fatal(
                self.as_raw(),
                err.to_errno(),
                c"%s".as_char_ptr(),
                text.as_char_ptr(),
            )
        };
    }

    /// The frontend's orderly close: Closing, then Closed (`xenbus_frontend_closed`).
    pub fn frontend_closed(&self) {
        // SAFETY: The device is alive.
        unsafe { bindings::xenbus_frontend_closed(self.as_raw()) };
    }
}
