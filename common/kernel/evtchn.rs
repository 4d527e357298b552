// SPDX-License-Identifier: GPL-2.0

//! Event channels: allocating an unbound port for the peer, binding it to an interrupt
//! handler with late EOI, and notifying the peer.
//!
//! C header: [`include/xen/events.h`](srctree/include/xen/events.h)

use core::ffi::{c_int, c_void};
use core::ptr::NonNull;

use kernel::prelude::*;
use kernel::sync::aref::ARef;
use kernel::sync::Arc;

use super::bindings;

/// What the interrupt handler does with the late EOI after an [`EventHandler`] ran
/// (XSA-332 / XSA-391).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eoi {
    /// The handler found work: send the EOI now.
    Done,
    /// No work: send the EOI flagged spurious, so an event storm gets throttled.
    Spurious,
    /// Send no EOI at all (the device is broken; let its channel go quiet).
    Withhold,
}

/// Receives the events of one bound channel, in hard-interrupt context.
pub trait EventHandler: Send + Sync + 'static {
    /// Handles one event and says how to acknowledge it.
    fn handle_event(&self) -> Eoi;
}

/// An event-channel port number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Port(pub(crate) u32);

impl Port {
    /// The port as XenStore carries it.
    pub const fn raw(self) -> u32 {
        self.0
    }
}

/// A handle for notifying the peer through a bound channel from any context.
///
/// Notifying through an IRQ that was unbound meanwhile does nothing, so the handle may
/// outlive its binding without harm.
#[derive(Clone, Copy, Debug)]
pub struct Notifier {
    irq: i32,
}

impl Notifier {
    /// Sends an event to the peer.
    pub fn notify(self) {
        // SAFETY: `notify_remote_via_irq` looks the IRQ up and ignores one that is not
        // bound to an event channel; it takes no pointers.
        unsafe { bindings::notify_remote_via_irq(self.irq) };
    }
}

/// A handle for sending the late EOI of a bound channel after its handler returned
/// [`Eoi::Withhold`] and the deferred work has run.
///
/// Like [`Notifier`], an EOI for an IRQ that was unbound meanwhile does nothing.
#[derive(Clone, Copy, Debug)]
pub struct EoiHandle {
    irq: i32,
}

impl EoiHandle {
    /// Sends the EOI; `spurious` when the event brought no work.
    pub fn eoi(self, spurious: bool) {
        let flags = if spurious {
            bindings::XEN_EOI_FLAG_SPURIOUS
        } else {
            0
        };
        // SAFETY: `xen_irq_lateeoi` looks the IRQ up and ignores one without event-channel
        // information; it takes no pointers.
        unsafe { bindings::xen_irq_lateeoi(self.irq as u32, flags) };
    }
}

/// What the interrupt handler of an [`IrqBinding`] gets as its `dev_id`: the handler, and
/// the IRQ name, which the IRQ core keeps a pointer to while the IRQ is bound.
struct BindingData<T> {
    ctx: Arc<T>,
    name: [u8; 32],
}

/// A port bound to an interrupt handler; unbinding (on drop) also closes the port.
///
/// # Invariants
///
/// `irq` is bound to `event_interrupt::<T>` with `data` as its `dev_id`, until `drop`
/// unbinds it; `data` came from `KBox::into_raw` and is freed by `drop` after that. For an
/// interdomain binding, `_dev` counts a reference to the xenbus device it was bound with.
pub struct IrqBinding<T: EventHandler> {
    data: NonNull<BindingData<T>>,
    irq: i32,
    /// The xenbus device of an interdomain binding, which the event-channel core keeps a
    /// pointer to until unbinding; dropped after `drop` has unbound.
    _dev: Option<ARef<kernel::device::Device>>,
}

// SAFETY: The binding is owned, its `BindingData` too (an `Arc<T>` of a `Send + Sync` `T`
// and a name); unbinding synchronises with running handlers.
unsafe impl<T: EventHandler> Send for IrqBinding<T> {}
// SAFETY: `&IrqBinding` only allows notifying, which is thread-safe.
unsafe impl<T: EventHandler> Sync for IrqBinding<T> {}

impl<T: EventHandler> IrqBinding<T> {
    /// Binds `port` to `ctx.handle_event()` under the IRQ name `name`. On failure the
    /// port is still open and the caller frees it.
    pub fn new(port: Port, name: &CStr, ctx: Arc<T>) -> Result<Self> {
        // SAFETY: `dev` is null, so `port` is one of ours.
        unsafe { Self::bind(core::ptr::null_mut(), None, port.0, name, ctx) }
    }

    /// `dev` null: `port` is ours; otherwise it is the peer's port of `dev`.
    ///
    /// The backend's `IrqBinding::new_interdomain` (in `backend.rs`, so that this module
    /// does not depend on `xenbus`) passes a device.
    ///
    /// # Safety
    ///
    /// `dev` is null, or a live xenbus device whose embedded `struct device` `dev_ref`
    /// counts a reference to (it keeps the device allocated while the binding exists).
    pub(super) unsafe fn bind(
        dev: *mut bindings::xenbus_device,
        dev_ref: Option<ARef<kernel::device::Device>>,
        port: u32,
        name: &CStr,
        ctx: Arc<T>,
    ) -> Result<Self> {
        // The name as `strscpy` copies it: truncated to 31 bytes, NUL-terminated.
        let mut buf = [0u8; 32];
        for (d, &s) in buf[..31].iter_mut().zip(name.to_bytes()) {
            *d = s;
        }
        let data = KBox::into_raw(KBox::new(BindingData { ctx, name: buf }, GFP_KERNEL)?);
        // SAFETY: `data` was just allocated and is freed only below or by `drop`.
        let name = unsafe { (*data).name.as_ptr() };
        let handler: bindings::irq_handler_t = Some(event_interrupt::<T>);
        // SAFETY: `dev` is null or a live xenbus device (the safety requirement); `name`
        // is NUL-terminated and, with the context, lives in `data`, which stays allocated
        // until after the IRQ is unbound (`drop`, or just below on failure).
        let ret = unsafe {
            if dev.is_null() {
                bindings::bind_evtchn_to_irqhandler_lateeoi(port, handler, 0, name, data.cast())
            } else {
                bindings::bind_interdomain_evtchn_to_irqhandler_lateeoi(
                    dev,
                    port,
                    handler,
                    0,
                    name,
                    data.cast(),
                )
            }
        };
        if ret < 0 {
            // SAFETY: Not bound, so nothing else has `data`: freed once, here.
            drop(unsafe { KBox::from_raw(data) });
            return Err(Error::from_errno(ret));
        }
        // INVARIANT: `ret` is the IRQ bound to `event_interrupt::<T>` with `data`.
        Ok(Self {
            // SAFETY: `KBox::into_raw` does not return null.
            data: unsafe { NonNull::new_unchecked(data) },
            irq: ret,
            _dev: dev_ref,
        })
    }

    /// A notification handle for this channel.
    pub fn notifier(&self) -> Notifier {
        Notifier { irq: self.irq }
    }

    /// A late-EOI handle for this channel.
    pub fn eoi_handle(&self) -> EoiHandle {
        EoiHandle { irq: self.irq }
    }

    /// The Linux IRQ number.
    pub fn irq(&self) -> i32 {
        self.irq
    }
}

impl<T: EventHandler> Drop for IrqBinding<T> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `irq` is bound with `data` as its `dev_id`;
        // unbinding frees the IRQ (waiting for a running handler) and closes the port.
        unsafe { bindings::unbind_from_irqhandler(self.irq as u32, self.data.as_ptr().cast()) };
        // SAFETY: From `KBox::into_raw` (type invariant); no handler can use it any more.
        drop(unsafe { KBox::from_raw(self.data.as_ptr()) });
        // `_dev` is dropped after this.
    }
}

/// The interrupt handler of an [`IrqBinding<T>`]: runs the [`EventHandler`], then sends
/// the late EOI as it asks. Always `IRQ_HANDLED`.
///
/// # Safety
///
/// Called by the IRQ core only, for an IRQ bound by [`IrqBinding::bind`], with its `data`
/// (a live `BindingData<T>`: the binding frees it only after unbinding).
unsafe extern "C" fn event_interrupt<T: EventHandler>(
    irq: c_int,
    data: *mut c_void,
) -> bindings::irqreturn_t {
    // SAFETY: Per the function's safety requirement `data` points to a live
    // `BindingData<T>`, only read while bound.
    let data = unsafe { &*data.cast::<BindingData<T>>() };
    let flags = match data.ctx.handle_event() {
        Eoi::Done => Some(0),
        Eoi::Spurious => Some(bindings::XEN_EOI_FLAG_SPURIOUS),
        Eoi::Withhold => None,
    };
    if let Some(flags) = flags {
        // SAFETY: `irq` is the bound IRQ this handler runs for; no pointers.
        unsafe { bindings::xen_irq_lateeoi(irq as u32, flags) };
    }
    bindings::irqreturn_t::IRQ_HANDLED
}
