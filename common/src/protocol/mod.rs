// SPDX-License-Identifier: GPL-2.0

//! The netif protocol modules; `lib.rs` (host) and the kernel modules both include this file.

pub mod backend;
pub mod ctrl;
pub mod flags;
pub mod frontend;
pub mod negotiate;
pub mod netif;
pub mod pages;
pub mod ring;
pub mod xenstore;
