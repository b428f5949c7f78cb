# Stand-in for OpenWrt's /lib/functions/network.sh in sipnat's tests (written
# for this project). network_get_device VAR NETWORK sets VAR to the layer-3
# device of a logical network from the map in $SIPNAT_TEST_NETWORK (lines
# "NETWORK DEVICE"), or to "" and fails for a network that is not there,
# the way netifd answers for a network that is down.

network_get_device() {
	eval "$1=''"
	[ -f "${SIPNAT_TEST_NETWORK:-}" ] || return 1
	_ngd_dev="$(awk -v net="$2" '$1 == net { print $2; exit }' "$SIPNAT_TEST_NETWORK")"
	[ -n "$_ngd_dev" ] || return 1
	eval "$1=\$_ngd_dev"
}
