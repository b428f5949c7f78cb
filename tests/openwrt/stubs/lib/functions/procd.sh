# Stand-in for OpenWrt's /lib/functions/procd.sh (and the jshn functions it
# brings) in sipnat's tests, written for this project: every procd_* and
# json_* call is appended to $SIPNAT_TEST_LOG with its exact arguments
# (../log.sh) instead of being sent to procd. procd_close_service calls
# service_triggers first, as the real one does, so the triggers appear in the
# log between the instances and `procd_close_service set|add`.

# shellcheck source=/dev/null # log.sh, checked on its own
. "$SIPNAT_STUBS/log.sh"

procd_lock() { return 0; }
procd_open_service() { stub_log procd_open_service "$1"; }
procd_close_service() {
	service_triggers
	stub_log procd_close_service "$@"
}

for _fn in procd_open_instance procd_close_instance procd_set_param \
	procd_append_param procd_open_data procd_close_data procd_open_trigger \
	procd_close_trigger procd_add_reload_trigger procd_add_interface_trigger \
	procd_add_reload_interface_trigger procd_add_reload_data_trigger \
	procd_add_config_trigger procd_add_raw_trigger procd_add_jail \
	procd_add_jail_mount procd_add_jail_mount_rw procd_set_config_changed \
	procd_kill procd_send_signal \
	json_init json_add_object json_close_object json_add_array \
	json_close_array json_add_string json_add_int json_add_boolean; do
	eval "$_fn() { stub_log $_fn \"\$@\"; }"
done
unset _fn

procd_running() {
	stub_log procd_running "$@"
	return 1
}
