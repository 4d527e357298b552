# SPDX-License-Identifier: GPL-2.0
#
# Module-private bindings for the Xen and netif C APIs the kernel's `bindings` crate lacks.
# Included by netback/Kbuild and netfront/Kbuild; generates $(obj)/xen_bindings.rs against
# the same kernel headers, with the kernel's own bindgen options and C flags.

xnt_common := $(src)/../common/kernel

# Types `struct net_device` and `struct net_device_ops` embed or point to that the kernel's
# `bindings` crate lacks; generated as opaque blobs of the right size and alignment.
xnt_netdev_opaque := Qdisc bpf_xdp_entity cpu_rmap dev_ifalias devlink_port dim_irq_moder \
	header_ops ifla_vf_guid ifla_vf_info ifla_vf_stats in_device inet6_dev ip_tunnel_parm_kern \
	napi_config ndisc_ops ndmsg neigh_parms net_device_core_stats net_device_path \
	net_device_path_ctx net_device_stats netdev_bpf netdev_config netdev_hw_addr_list \
	netdev_name_node netdev_phys_item_id netdev_queue netdev_queue_mgmt_ops netdev_rx_queue \
	netdev_stat_ops netdev_tc_txq netpoll_info netprio_map pcpu_dstats pcpu_lstats \
	pcpu_sw_netstats phy_link_topology rtnl_hw_stats64 rtnl_link_ops udp_tunnel_nic \
	udp_tunnel_nic_info xdp_buff xdp_dev_bulk_queue xdp_metadata_ops xps_dev_maps \
	xsk_tx_metadata_ops xsk_buff_pool
# `struct napi_struct`, embedded in common/kernel/net/napi.rs's NapiRaw (the kernel's
# crate has it incomplete): an opaque blob of its size and alignment too.
xnt_netdev_opaque += napi_struct
xnt_empty :=
xnt_space := $(xnt_empty) $(xnt_empty)
xnt_netdev_opaque_re := $(subst $(xnt_space),|,$(strip $(xnt_netdev_opaque)))

# `struct flow_keys` and the keys of it that net/skb.rs reads (`SkBuff::flow`) are generated
# here too although the kernel's crate has them: here they get bindgen's layout tests, and
# the generated items shadow the kernel crate's in `bindings.rs`.
xnt_bindgen_allow := \
	--no-recursive-allowlist \
	--allowlist-function 'xnt_.*' \
	--allowlist-function 'xenbus_.*' \
	--allowlist-function '__xenbus_.*' \
	--allowlist-function 'unregister_xenbus_watch' \
	--allowlist-function 'gnttab_.*' \
	--allowlist-function 'bind_interdomain_evtchn_to_irq.*' \
	--allowlist-function 'bind_evtchn_to_irqhandler_lateeoi' \
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
	--allowlist-function 'alloc_netdev_mqs|alloc_etherdev_mqs|ether_setup|netif_set_tso_max_size' \
	--allowlist-function 'napi_(enable|disable|complete_done|alloc_skb)' \
	--allowlist-function 'eth_type_trans|eth_mac_addr|eth_validate_addr|netdev_info|netdev_rss_key_fill' \
	--allowlist-type 'net_device' \
	--allowlist-type 'net_device_ops' \
	--allowlist-type 'rtnl_link_stats64' \
	--allowlist-type 'netdev_reg_state' \
	--allowlist-type 'netdev_priv_flags|netdev_state_t' \
	--allowlist-var 'NET_NAME_UNKNOWN|VLAN_ETH_HLEN|NETDEV_RSS_KEY_LEN' \
	--allowlist-type 'netdev_tx_t|netdev_tx|rx_handler_func_t|rx_handler_result_t|rx_handler_result|xdp_features_t|netdev_ml_priv_type|netdev_stat_type|tc_setup_type' \
	--allowlist-type '$(xnt_netdev_opaque_re)' \
	--opaque-type '$(xnt_netdev_opaque_re)' \
	--allowlist-type 'flow_keys|flow_dissector_key_(control|basic|ports|addrs|ipv4_addrs|ipv6_addrs)' \
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
# Layout tests stay on: bindgen (>= 0.69) emits them as `const _: () = { ... }` items that
# compare each generated struct's Rust size, alignment and field offsets (its member types
# resolved through the kernel crate's glob import in bindings.rs) with clang's, so a member
# type that differs between the two runs, or a forward-declared one missing from
# xnt_netdev_opaque, fails the build.
xnt_bindgen_params = $(shell grep -Ev '^\#|^$$|custom-enum' $(srctree)/rust/bindgen_parameters)

quiet_cmd_xnt_bindgen = BINDGEN $@
      cmd_xnt_bindgen = \
	$(BINDGEN) $< $(xnt_bindgen_params) $(xnt_bindgen_allow) --rust-target 1.85 \
		--use-core --with-derive-default --ctypes-prefix ffi \
		--no-debug '.*' --enable-function-attribute-detection \
		-o $@ -- $(c_flags) -fno-builtin -D__BINDGEN__ -DMODULE -I$(xnt_common)

$(obj)/xen_bindings.rs: $(xnt_common)/bindings_helper.h $(xnt_common)/helpers.h $(xnt_common)/net_helpers.h $(xnt_common)/backend_helpers.h \
		$(xnt_common)/bindgen.mk FORCE
	$(call if_changed_dep,xnt_bindgen)

targets += xen_bindings.rs
