// SPDX-License-Identifier: GPL-2.0

//! A spinlock for data shared with bottom halves (softirq: NAPI, `ndo_start_xmit`).
//!
//! `kernel::sync::SpinLock` is a plain `spin_lock`: if process context holds it and a
//! softirq on the same CPU takes it, the CPU deadlocks (lockdep: "inconsistent
//! {IN-SOFTIRQ-W} -> {SOFTIRQ-ON-W} usage"). As the C drivers do, process context takes
//! such a lock with `spin_lock_bh` ([`SpinLockBh::lock`]) and code already running with
//! bottom halves off takes it with a plain `spin_lock` ([`SpinLockBh::lock_with`], which
//! needs a [`BhDisabled`] token; the NAPI and `ndo_start_xmit` glue in [`super::net`]
//! hands one out).
//!
//! A `SpinLockBh` must not be taken in hard-IRQ context.
//!
//! C header: [`include/linux/spinlock.h`](srctree/include/linux/spinlock.h); glue in
//! `helpers.c`.

use core::marker::PhantomData;

use kernel::prelude::*;
use kernel::sync::lock::{spinlock::SpinLockBackend, Backend, Guard, Lock};
use kernel::sync::{LockClassKey, SpinLock, SpinLockGuard};

use super::bindings;

/// Creates a [`SpinLockBh`] initialiser with the given name (or one made of the file name
/// and line) and a lock class of its own for this call site.
macro_rules! new_spinlock_bh {
    ($inner:expr $(, $name:literal)? $(,)?) => {
        $crate::xen::sync::SpinLockBh::new(
            $inner,
            ::kernel::optional_name!($($name)?),
            ::kernel::static_lock_class!(),
        )
    };
}
pub(crate) use new_spinlock_bh;

/// A `spinlock_t` for data that softirq context uses too: [`lock`](Self::lock) disables
/// bottom halves (`spin_lock_bh`, for process context), [`lock_with`](Self::lock_with)
/// takes it plainly where bottom halves are off already.
///
/// Create it with [`new_spinlock_bh!`].
#[pin_data]
pub struct SpinLockBh<T> {
    #[pin]
    inner: Lock<T, SpinLockBhBackend>,
}

/// A guard of [`SpinLockBh::lock`]; unlocking enables bottom halves again.
pub type SpinLockBhGuard<'a, T> = Guard<'a, T, SpinLockBhBackend>;

impl<T> SpinLockBh<T> {
    /// The initialiser of a lock holding `t`; see [`new_spinlock_bh!`].
    pub fn new(
        t: impl PinInit<T>,
        name: &'static CStr,
        key: Pin<&'static LockClassKey>,
    ) -> impl PinInit<Self> {
        pin_init!(Self {
            inner <- Lock::new(t, name, key),
        })
    }

    /// Takes the lock with bottom halves disabled (`spin_lock_bh`), as process context must
    /// for a lock softirqs take too.
    pub fn lock(&self) -> SpinLockBhGuard<'_, T> {
        self.inner.lock()
    }

    /// Takes the lock with a plain `spin_lock`, bottom halves being off already.
    ///
    /// The returned guard must not be used to sleep (for example with a `CondVar`).
    pub fn lock_with<'a>(&'a self, _bh: &'a BhDisabled) -> SpinLockGuard<'a, T> {
        let this: *const Lock<T, SpinLockBhBackend> = &self.inner;
        // SAFETY: `Lock<T, B>` is `#[repr(C)]` and `B` only selects the type of its state,
        // which is `spinlock_t` for both backends, so the layouts are identical and the
        // lock was initialised by the same `__spin_lock_init`. `spin_lock` and
        // `spin_lock_bh` exclude each other on the same `spinlock_t`, so the data stays
        // owned by one CPU at a time. (That no softirq can then spin on the lock under
        // this holder, the deadlock `spin_lock_bh` avoids, is what the token proves.)
        let lock: &'a SpinLock<T> = unsafe { &*this.cast::<SpinLock<T>>() };
        lock.lock()
    }
}

/// The [`SpinLockBh`] backend: `spin_lock_bh` / `spin_unlock_bh`.
pub struct SpinLockBhBackend;

// SAFETY: `spin_lock_bh` gives the same mutual exclusion as `spin_lock` on the same
// `spinlock_t` (it only disables bottom halves first), so one CPU at a time owns the data
// between `lock` and `unlock`. `relock` is the default, which calls `lock` again.
unsafe impl Backend for SpinLockBhBackend {
    type State = bindings::spinlock_t;
    type GuardState = ();

    unsafe fn init(
        ptr: *mut Self::State,
        name: *const kernel::ffi::c_char,
        key: *mut bindings::lock_class_key,
    ) {
        // SAFETY: Same state type and the caller's guarantees for it (`ptr` valid for
        // writes, `name` and `key` valid indefinitely) are those this function requires.
        unsafe { SpinLockBackend::init(ptr, name, key) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: The caller guarantees `init` was called on `ptr`, which stays valid.
        unsafe { bindings::xnt_spin_lock_bh(ptr) }
    }

    unsafe fn try_lock(ptr: *mut Self::State) -> Option<Self::GuardState> {
        // SAFETY: As in `lock`.
        (unsafe { bindings::xnt_spin_trylock_bh(ptr) } != 0).then_some(())
    }

    unsafe fn unlock(ptr: *mut Self::State, _guard_state: &Self::GuardState) {
        // SAFETY: The caller owns the lock, taken by `lock`/`try_lock` above with bottom
        // halves disabled on this CPU; the guard is not `Send`, so this is the same CPU.
        unsafe { bindings::xnt_spin_unlock_bh(ptr) }
    }

    unsafe fn assert_is_held(ptr: *mut Self::State) {
        // SAFETY: Same state type; the caller guarantees `init` was called.
        unsafe { SpinLockBackend::assert_is_held(ptr) }
    }
}

/// Proof that softirqs cannot run on this CPU for its lifetime: bottom halves are disabled
/// (softirq context, `local_bh_disable`) or hard IRQs are off (netpoll). Only the adapters of
/// callbacks that the kernel runs so makes one ([`super::net`]).
///
/// # Invariants
///
/// While a `&BhDisabled` is live, no softirq runs on the current CPU before the code
/// holding it returns.
pub struct BhDisabled(PhantomData<*mut ()>);

impl BhDisabled {
    /// Asserts that the caller runs with bottom halves off.
    ///
    /// # Safety
    ///
    /// For all of `'a`, softirqs must not be able to run on the current CPU (the invariant
    /// of [`BhDisabled`]): for example inside a NAPI poll or an `ndo_start_xmit` call.
    pub(crate) unsafe fn assume<'a>() -> &'a BhDisabled {
        const TOKEN: &BhDisabled = &BhDisabled(PhantomData);
        // INVARIANT: Guaranteed by the caller.
        TOKEN
    }
}
