# SPDX-License-Identifier: GPL-2.0
#
# Module-private bindings for the Xen and netif C APIs the kernel's `bindings` crate lacks.
# Included by netback/Kbuild and netfront/Kbuild; generates $(obj)/xen_bindings.rs against
# the same kernel headers, with the kernel's own bindgen options and C flags.

xnt_common := $(src)/../common/kernel

xnt_bindgen_allow := \
	--no-recursive-allowlist \
	--allowlist-function 'xnt_.*' \
	--allowlist-function 'xenbus_.*' \
	--allowlist-function '__xenbus_.*' \
	--allowlist-function 'gnttab_.*' \
	--allowlist-function 'bind_interdomain_evtchn_to_irq.*' \
	--allowlist-function 'unbind_from_irqhandler' \
	--allowlist-function 'notify_remote_via_irq' \
	--allowlist-function 'xen_irq_lateeoi' \
	--allowlist-function 'rtnl_(un)?lock' \
	--allowlist-function 'register_netdevice' \
	--allowlist-function 'unregister_netdevice_queue' \
	--allowlist-function 'dev_close' \
	--allowlist-function 'free_netdev' \
	--allowlist-function 'netif_carrier_(on|off)' \
	--allowlist-function '__netdev_notify_peers' \
	--allowlist-function 'netif_set_real_num_[rt]x_queues' \
	--allowlist-function 'netdev_update_features' \
	--allowlist-function 'napi_(enable|disable|complete_done|alloc_skb)' \
	--allowlist-function 'eth_type_trans' \
	--allowlist-type 'xenbus_.*' \
	--allowlist-type 'xnt_.*' \
	--allowlist-var 'XNT_.*' \
	--allowlist-var 'XEN_EOI_FLAG_.*' \
	--allowlist-type 'xenbus_state' \
	--allowlist-type 'grant_ref_t' \
	--allowlist-type 'gnttab_.*' \
	--allowlist-type 'gntab_.*' \
	--allowlist-type 'grant_handle_t' \
	--allowlist-type 'xen_pfn_t' \
	--allowlist-type 'grant_status_t' \
	--allowlist-type 'xen_grant_fn_t' \
	--allowlist-type 'domid_t' \
	--allowlist-type 'evtchn_port_t' \
	--allowlist-var 'param_ops_uint' \
	--allowlist-var 'param_ops_bool' \
	--allowlist-var 'XenbusState.*' \
	--allowlist-var 'XEN_NETIF_.*' \
	--allowlist-var 'XEN_NET[RT]XF_.*' \
	--allowlist-var 'GNTCOPY_.*' \
	--allowlist-var 'DOMID_SELF' \
	--constified-enum 'xenbus_state'

# The kernel's option file minus its CFI enum attributes, which a module crate may not use.
xnt_bindgen_params = $(shell grep -Ev '^\#|^$$|custom-enum' $(srctree)/rust/bindgen_parameters)

quiet_cmd_xnt_bindgen = BINDGEN $@
      cmd_xnt_bindgen = \
	$(BINDGEN) $< $(xnt_bindgen_params) $(xnt_bindgen_allow) --rust-target 1.85 \
		--use-core --with-derive-default --ctypes-prefix ffi --no-layout-tests \
		--no-debug '.*' --enable-function-attribute-detection \
		-o $@ -- $(c_flags) -fno-builtin -D__BINDGEN__ -DMODULE -I$(xnt_common)

$(obj)/xen_bindings.rs: $(xnt_common)/bindings_helper.h $(xnt_common)/helpers.h $(xnt_common)/net_helpers.h $(xnt_common)/backend_helpers.h \
		$(xnt_common)/bindgen.mk FORCE
	$(call if_changed_dep,xnt_bindgen)

targets += xen_bindings.rs
