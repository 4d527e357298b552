// SPDX-License-Identifier: GPL-2.0

//! Facts about the running system the drivers ask for.

use super::bindings;

/// Number of online CPUs (`num_online_cpus()`).
pub fn num_online_cpus() -> u32 {
    // SAFETY: `xnt_num_online_cpus` only reads the online CPU mask; no preconditions.
    unsafe { bindings::xnt_num_online_cpus() }
}

/// Whether the kernel runs as a Xen domain of any kind (`xen_domain()`).
pub fn xen_domain() -> bool {
    // SAFETY: Reads a variable set once at boot; no preconditions.
    unsafe { bindings::xnt_xen_domain() }
}

/// Whether the kernel runs as the Xen initial domain, dom0 (`xen_initial_domain()`).
pub fn xen_initial_domain() -> bool {
    // SAFETY: Reads a variable set once at boot; no preconditions.
    unsafe { bindings::xnt_xen_initial_domain() }
}

/// Whether this domain has PV network devices to drive (`xen_has_pv_nic_devices()`): false
/// outside Xen, and in an HVM guest whose emulated NICs were not unplugged (the guest
/// would see each NIC twice).
pub fn xen_has_pv_nic_devices() -> bool {
    // SAFETY: Reads variables set once at boot; no preconditions.
    unsafe { bindings::xnt_xen_has_pv_nic_devices() }
}

/// Sleeps for at least `ms` milliseconds (process context only).
pub fn msleep(ms: u32) {
    // SAFETY: `msleep` has no preconditions beyond being allowed to sleep, which callers
    // in process context are.
    unsafe { bindings::msleep(ms) };
}
