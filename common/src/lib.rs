// SPDX-License-Identifier: GPL-2.0

//! Pure Xen netif protocol code shared by `xen_netback` and `xen_netfront`.
//!
//! Everything here is `no_std`, allocation-free and free of `unsafe`: it builds inside the
//! kernel modules (included by path from `common/kernel/`) and on the host, where
//! `cargo test` covers it.

#![no_std]
#![forbid(unsafe_code)]

mod protocol;
pub use protocol::*;
