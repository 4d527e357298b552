// SPDX-License-Identifier: GPL-2.0

//! Rust abstractions over the Xen C APIs, shared by `xen_netback` and `xen_netfront`.
//!
//! Each driver includes this directory as a module of its own crate. Every `unsafe` line of
//! the drivers lives here, next to the `// SAFETY:` argument for it; the drivers themselves
//! are safe Rust. The pure protocol code (`common/src/protocol/`) is included as
//! [`protocol`] and is the same code the host `cargo test` covers.

// Backend-only code is compiled only into `xen_netback.ko`: `netback/Kbuild` sets
// `--cfg xnt_backend`, and only `netback/xen_helpers.c` includes `backend_helpers.c`.
#[cfg(xnt_backend)]
pub mod backend;
pub(crate) mod bindings;
pub mod evtchn;
pub mod grant;
mod layout;
pub mod net;
pub mod param;
#[path = "../src/protocol/mod.rs"]
pub mod protocol;
pub mod sring;
pub mod sync;
pub mod system;
pub mod wait;
pub mod xenbus;

// kCFI hashes an enum by its name, but a module crate cannot mark its Rust callbacks with
// `#[cfi_encoding]`: `ndo_start_xmit` (returns `netdev_tx_t`) and the xenbus
// `otherend_changed` (takes `enum xenbus_state`) would fail every CFI check. See
// Documentation/design.md, "CFI". (`CONFIG_CFI_CLANG`: its name in older kernels.)
#[cfg(any(CONFIG_CFI, CONFIG_CFI_CLANG))]
compile_error!(
    "xen-netif-rust cannot be built with CONFIG_CFI (kCFI): see Documentation/design.md"
);

// The grant and ring code assumes one Xen page per kernel page.
const _: () = assert!(kernel::page::PAGE_SIZE == protocol::netif::PAGE_SIZE);
