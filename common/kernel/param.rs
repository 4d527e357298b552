// SPDX-License-Identifier: GPL-2.0

//! Module parameters that behave like C `module_param()`: listed by `modinfo`, settable at
//! load time and, with a non-zero permission, readable (and writable) under
//! `/sys/module/<module>/parameters/`.
//!
//! The kernel's `module!` macro only offers parameters that are invisible in sysfs; these
//! use the C parameter operations (`param_ops_uint`, `param_ops_bool`), so parsing and sysfs
//! formatting are exactly the C drivers'.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::bindings;

/// Storage of a `uint` parameter; C writes it (under the kernel's parameter lock) when the
/// module is loaded or the sysfs file is written, Rust reads it with [`UintParam::get`].
#[repr(transparent)]
pub struct UintParam(AtomicU32);

impl UintParam {
    /// A parameter with its default value.
    pub const fn new(default: u32) -> Self {
        Self(AtomicU32::new(default))
    }

    /// The current value.
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    #[doc(hidden)]
    pub const fn as_arg(&self) -> *mut kernel::ffi::c_void {
        self.0.as_ptr().cast()
    }
}

/// Storage of a `bool` parameter (C `bool`, one byte).
#[repr(transparent)]
pub struct BoolParam(AtomicBool);

impl BoolParam {
    /// A parameter with its default value.
    pub const fn new(default: bool) -> Self {
        Self(AtomicBool::new(default))
    }

    /// The current value.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    #[doc(hidden)]
    pub const fn as_arg(&self) -> *mut kernel::ffi::c_void {
        self.0.as_ptr().cast()
    }
}

/// One `struct kernel_param` entry of the module's `__param` section.
#[doc(hidden)]
#[repr(transparent)]
pub struct ParamEntry(bindings::kernel_param);

impl ParamEntry {
    /// Wraps an entry built by [`module_param!`].
    pub const fn new(p: bindings::kernel_param) -> Self {
        Self(p)
    }
}

// SAFETY: The entry is only read, by the C module loader and sysfs code, which serialise
// access to the value it points to with the kernel's parameter lock; Rust reads that value
// only through atomics.
unsafe impl Sync for ParamEntry {}

/// Copies a `&str` into a byte array of its exact length, for `.modinfo` strings.
#[doc(hidden)]
pub const fn modinfo_bytes<const N: usize>(s: &str) -> [u8; N] {
    let b = s.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = b[i];
        i += 1;
    }
    out
}

/// The `mod_` field of a parameter entry: this module, or none when built in.
#[doc(hidden)]
pub const fn this_module() -> *mut bindings::module {
    #[cfg(MODULE)]
    {
        (&raw const bindings::__this_module).cast_mut()
    }
    #[cfg(not(MODULE))]
    {
        core::ptr::null_mut()
    }
}

/// Declares a module parameter like C's `module_param_named()` plus `MODULE_PARM_DESC()`.
///
/// ```ignore
/// module_param!(pub(crate) static MAX_QUEUES: UintParam = 0, module = "xen_netback",
///     name = "max_queues", perm = 0o644, desc = "Maximum number of queues per vif");
/// ```
macro_rules! module_param {
    ($vis:vis static $ident:ident: $kind:ident = $default:expr, module = $module:literal,
     name = $name:literal, perm = $perm:expr, desc = $desc:literal) => {
        $vis static $ident: $crate::xen::param::$kind = $crate::xen::param::$kind::new($default);

        // The `#[link_section]` statics below count as `unsafe_code` (a wrong section
        // could corrupt what the loader reads). This macro is part of `common/kernel`, so
        // the drivers' `#![deny(unsafe_code)]` is lifted for its expansion only: the
        // entries are the C `module_param()` layout, built from the generated
        // `struct kernel_param` and checked by the kernel's loader like C's.
        #[expect(unsafe_code, reason = "module_param! emits `#[link_section]` statics")]
        const _: () = {
            #[cfg(MODULE)]
            const PREFIX: &str = "";
            #[cfg(not(MODULE))]
            const PREFIX: &str = concat!($module, ".");
            const NAME: &str = $crate::xen::param::__param_name!(PREFIX, $name);
            const PARM: &str = $crate::xen::param::__concat_const!(PREFIX, "parm=", $name, ":", $desc, "\0");
            const PARMTYPE: &str = $crate::xen::param::__concat_const!(
                PREFIX, "parmtype=", $name, ":", $crate::xen::param::__param_type!($kind), "\0"
            );

            #[link_section = "__param"]
            #[used(compiler)]
            static ENTRY: $crate::xen::param::ParamEntry =
                $crate::xen::param::ParamEntry::new($crate::xen::bindings::kernel_param {
                    name: NAME.as_ptr().cast(),
                    mod_: $crate::xen::param::this_module(),
                    ops: $crate::xen::param::__param_ops!($kind),
                    perm: $perm,
                    level: -1,
                    flags: 0,
                    __bindgen_anon_1: $crate::xen::bindings::kernel_param__bindgen_ty_1 {
                        arg: $ident.as_arg(),
                    },
                });

            #[link_section = ".modinfo"]
            #[used(compiler)]
            static PARM_INFO: [u8; PARM.len()] = $crate::xen::param::modinfo_bytes(PARM);

            #[link_section = ".modinfo"]
            #[used(compiler)]
            static PARMTYPE_INFO: [u8; PARMTYPE.len()] =
                $crate::xen::param::modinfo_bytes(PARMTYPE);
        };
    };
}
pub(crate) use module_param;

/// Concatenates `&str` constants (not only literals) at compile time.
macro_rules! __concat_const {
    ($($s:expr),+ $(,)?) => {{
        const LEN: usize = 0 $(+ $s.len())+;
        const BYTES: [u8; LEN] = {
            let mut out = [0u8; LEN];
            let mut at = 0;
            $(
                let b = $s.as_bytes();
                let mut i = 0;
                while i < b.len() {
                    out[at] = b[i];
                    at += 1;
                    i += 1;
                }
            )+
            out
        };
        match core::str::from_utf8(&BYTES) {
            Ok(s) => s,
            Err(_) => panic!("module parameter strings are UTF-8"),
        }
    }};
}
pub(crate) use __concat_const;

macro_rules! __param_name {
    ($prefix:expr, $name:literal) => {
        $crate::xen::param::__concat_const!($prefix, $name, "\0")
    };
}
pub(crate) use __param_name;

macro_rules! __param_type {
    (UintParam) => {
        "uint"
    };
    (BoolParam) => {
        "bool"
    };
}
pub(crate) use __param_type;

macro_rules! __param_ops {
    (UintParam) => {
        &raw const $crate::xen::bindings::param_ops_uint
    };
    (BoolParam) => {
        &raw const $crate::xen::bindings::param_ops_bool
    };
}
pub(crate) use __param_ops;
