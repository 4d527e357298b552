// SPDX-License-Identifier: GPL-2.0

//! Event channels: allocating an unbound port for the peer, binding it to an interrupt
//! handler with late EOI, and notifying the peer.
//!
//! C header: [`include/xen/events.h`](srctree/include/xen/events.h)

use core::ffi::c_void;

use kernel::prelude::*;
use kernel::sync::aref::ARef;
use kernel::sync::Arc;

use super::bindings;

/// What the glue does with the late EOI after a handler ran (XSA-332 / XSA-391).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Eoi {
    /// The handler found work: send the EOI now.
    Done = bindings::XNT_EOI_DONE,
    /// No work: send the EOI flagged spurious, so an event storm gets throttled.
    Spurious = bindings::XNT_EOI_SPURIOUS,
    /// Send no EOI at all (the device is broken; let its channel go quiet).
    Withhold = bindings::XNT_EOI_NONE,
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

/// A port bound to an interrupt handler; unbinding (on drop) also closes the port.
///
/// # Invariants
///
/// `raw` is the binding returned by `xnt_evtchn_bind` for a handler whose context is the
/// `T` inside `ctx`; it stays bound until `drop`. For an interdomain binding, `_dev`
/// counts a reference to the xenbus device passed to `xnt_evtchn_bind`.
pub struct IrqBinding<T: EventHandler> {
    raw: *mut c_void,
    irq: i32,
    _ctx: Arc<T>,
    /// The xenbus device of an interdomain binding, which the event-channel core keeps a
    /// pointer to until unbinding; dropped after `drop` has unbound.
    _dev: Option<ARef<kernel::device::Device>>,
}

// SAFETY: The binding is owned; the C side synchronises unbinding with running handlers.
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
        let mut irq: i32 = 0;
        // SAFETY: `dev` is null or a live xenbus device (the safety requirement); `name`
        // is NUL-terminated (copied by the glue); the context stays valid while the
        // binding exists because the binding keeps `ctx` alive.
        let raw = unsafe {
            bindings::xnt_evtchn_bind(
                dev,
                port,
                Some(event_trampoline::<T>),
                Arc::as_ptr(&ctx).cast(),
                name.as_char_ptr(),
                &mut irq,
            )
        };
        if raw.is_null() {
            return Err(Error::from_errno(irq));
        }
        Ok(Self {
            raw,
            irq,
            _ctx: ctx,
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
        // SAFETY: By the type invariant `raw` is bound; unbinding waits for a running
        // handler and frees the glue's allocation. `_ctx` and `_dev` are dropped after this.
        unsafe { bindings::xnt_evtchn_unbind(self.raw) };
    }
}

/// # Safety
///
/// `ctx` is the pointer given to `xnt_evtchn_bind` by [`IrqBinding::new`], which keeps the
/// `T` alive while the handler can run.
unsafe extern "C" fn event_trampoline<T: EventHandler>(ctx: *const c_void) -> u32 {
    // SAFETY: Per the function's safety requirement `ctx` points to a live `T`.
    let handler = unsafe { &*ctx.cast::<T>() };
    handler.handle_event() as u32
}
