// SPDX-License-Identifier: GPL-2.0

//! Compile-time checks that the kernel `bindings` crate's structs whose fields Rust reads
//! directly, or that Rust embeds, have the C layout.
//!
//! The structs the module-private bindgen run (`common/kernel/bindgen.mk`) generates carry
//! bindgen's own compile-time layout tests. The kernel's crate is generated without them, so
//! `bindings_helper.h` exports the C compiler's `sizeof` / `offsetof` of the few of its
//! structs and fields used here as `XNT_SIZE_*` / `XNT_OFF_*` constants; a mismatch fails
//! the build. (`skb->protocol`, inside an anonymous bindgen type, is checked in
//! `net/skb.rs`.)

use core::mem::{align_of, offset_of, size_of};

use super::bindings;

/// `size!(T == XNT_SIZE_T, ...)`: asserts at compile time that `bindings::T` has the size
/// the C compiler gives it.
macro_rules! size {
    ($($ty:ident == $size:ident),* $(,)?) => {
        $(
            const _: () = assert!(
                size_of::<bindings::$ty>() == bindings::$size as usize,
                concat!("`", stringify!($ty), "` differs in size from C's"),
            );
        )*
    };
}

size!(
    sk_buff == XNT_SIZE_SKB,
    skb_frag == XNT_SIZE_SKB_FRAG,
    // Embedded in `backend.rs`'s `SkbList`.
    sk_buff_head == XNT_SIZE_SKB_HEAD,
    // Embedded in `backend.rs`'s `WaitPoint`.
    wait_queue_head == XNT_SIZE_WAIT_QUEUE_HEAD,
    // The static `RetryWork` of `grant.rs`.
    delayed_work == XNT_SIZE_DELAYED_WORK,
    // Embedded in `net/napi.rs`'s `NapiRaw`.
    timer_list == XNT_SIZE_TIMER_LIST,
);

// `NapiRaw` is `repr(C)` and embeds the timer: its alignment must be C's too.
const _: () = assert!(
    align_of::<bindings::timer_list>() == bindings::XNT_ALIGN_TIMER_LIST as usize,
    "`timer_list` differs in alignment from C's"
);

/// `offset!(T.field.path == XNT_OFF_T_FIELD, ...)`: asserts at compile time that the field
/// of `bindings::T` is at the offset the C compiler gives it.
macro_rules! offset {
    ($($ty:ident.$($field:ident).+ == $off:ident),* $(,)?) => {
        $(
            const _: () = assert!(
                offset_of!(bindings::$ty, $($field).+) == bindings::$off as usize,
                concat!("`", stringify!($ty), ".", stringify!($($field).+), "` is not at C's offset"),
            );
        )*
    };
}

offset!(
    sk_buff.len == XNT_OFF_SKB_LEN,
    sk_buff.data_len == XNT_OFF_SKB_DATA_LEN,
    sk_buff.end == XNT_OFF_SKB_END,
    sk_buff.tail == XNT_OFF_SKB_TAIL,
    sk_buff.queue_mapping == XNT_OFF_SKB_QUEUE_MAPPING,
    sk_buff.data == XNT_OFF_SKB_DATA,
    sk_buff.head == XNT_OFF_SKB_HEAD,
    sk_buff.cb == XNT_OFF_SKB_CB,
    sk_buff_head.__bindgen_anon_1.__bindgen_anon_1.next == XNT_OFF_SKB_HEAD_NEXT,
    device.parent == XNT_OFF_DEVICE_PARENT,
    // `xenbus.rs`: the driver data and the uevents' kobject.
    device.driver_data == XNT_OFF_DEVICE_DRIVER_DATA,
    device.kobj == XNT_OFF_DEVICE_KOBJ,
    skb_shared_info.nr_frags == XNT_OFF_SHINFO_NR_FRAGS,
    skb_shared_info.gso_size == XNT_OFF_SHINFO_GSO_SIZE,
    skb_shared_info.gso_segs == XNT_OFF_SHINFO_GSO_SEGS,
    skb_shared_info.gso_type == XNT_OFF_SHINFO_GSO_TYPE,
    skb_shared_info.frags == XNT_OFF_SHINFO_FRAGS,
    skb_frag.len == XNT_OFF_SKB_FRAG_LEN,
    skb_frag.offset == XNT_OFF_SKB_FRAG_OFFSET,
);
