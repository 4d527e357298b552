// SPDX-License-Identifier: GPL-2.0

//! Raw bindings: the kernel's `bindings` crate plus the module-private Xen items.
//!
//! `xen_bindings.rs` is generated at build time by `common/kernel/bindgen.mk` with
//! `--no-recursive-allowlist`, so it holds only Xen/netif items; every type they refer to
//! that the kernel's crate already has resolves through the glob import below.

#![allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code,
    unreachable_pub,
    unsafe_op_in_unsafe_fn,
    improper_ctypes,
    missing_docs,
    clippy::all,
    clippy::as_underscore,
    clippy::cast_lossless,
    clippy::ptr_as_ptr,
    clippy::ref_as_ptr,
    clippy::undocumented_unsafe_blocks,
    reason = "bindgen output"
)]

pub(crate) use kernel::bindings::*;
#[allow(
    unused_imports,
    reason = "used by bindgen output depending on the items"
)]
use kernel::ffi;
#[allow(
    unused_imports,
    reason = "used by bindgen output depending on the items"
)]
use pin_init::{MaybeZeroable, Zeroable};

include!(env!("XNT_XEN_BINDINGS"));
