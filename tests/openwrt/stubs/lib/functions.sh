# Stand-in for OpenWrt's /lib/functions.sh in sipnat's tests (written for this
# project; OpenWrt's own file is GPL and not vendored). It offers the part of
# the configuration API the init and uci-defaults scripts use, with the same
# calling conventions:
#   config_load PACKAGE          evaluates `uci -S -n export PACKAGE` (with
#                                -c $UCI_CONFIG_DIR when that is set), as
#                                OpenWrt's uci_load does: the file with the
#                                changes saved but not committed, calling
#                                config_cb(type, name), option_cb(name, value),
#                                list_cb(name, value)
#   config_get VAR SECTION OPTION [DEFAULT]   or   config_get SECTION OPTION
#   config_get_bool VAR SECTION OPTION [DEFAULT]
#   config_set SECTION OPTION VALUE
#   config_foreach FUNCTION [TYPE [ARGS...]]
#   config_list_foreach SECTION OPTION FUNCTION [ARGS...]
#   reset_cb
# Values live in CONFIG_<section>_<option> variables, list items also in
# CONFIG_<section>_<option>_ITEM<n> and _LENGTH, as in OpenWrt.

# shellcheck disable=SC3043 # busybox ash and dash have `local`

: "${SIPNAT_STUBS:?SIPNAT_STUBS (the tests/openwrt/stubs directory) is not set}"

reset_cb() {
	config_cb() { return 0; }
	option_cb() { return 0; }
	list_cb() { return 0; }
}
reset_cb

config_set() {
	eval "CONFIG_${1}_${2}=\$3"
}

config_get() {
	case "$#" in
		2) eval "printf '%s\n' \"\${CONFIG_${1}_${2}:-}\"" ;;
		*) eval "$1=\${CONFIG_${2}_${3}:-\$4}" ;;
	esac
}

config_get_bool() {
	local _cgb
	config_get _cgb "$2" "$3" "$4"
	case "$_cgb" in
		1 | on | true | yes | enabled) _cgb=1 ;;
		0 | off | false | no | disabled) _cgb=0 ;;
		*) _cgb="$4" ;;
	esac
	eval "$1=\$_cgb"
}

config() {
	CONFIG_NUM_SECTIONS=$((CONFIG_NUM_SECTIONS + 1))
	CONFIG_SECTION="$2"
	CONFIG_SECTIONS="${CONFIG_SECTIONS:+$CONFIG_SECTIONS }$2"
	config_set "$2" TYPE "$1"
	config_cb "$1" "$2"
}

option() {
	config_set "$CONFIG_SECTION" "$1" "$2"
	option_cb "$1" "$2"
}

list() {
	local _len _old
	config_get _len "$CONFIG_SECTION" "${1}_LENGTH" 0
	_len=$((_len + 1))
	config_set "$CONFIG_SECTION" "${1}_ITEM$_len" "$2"
	config_set "$CONFIG_SECTION" "${1}_LENGTH" "$_len"
	config_get _old "$CONFIG_SECTION" "$1"
	config_set "$CONFIG_SECTION" "$1" "${_old:+$_old }$2"
	list_cb "$1" "$2"
}

package() {
	return 0
}

config_load() {
	local _data
	CONFIG_SECTIONS=""
	CONFIG_NUM_SECTIONS=0
	CONFIG_SECTION=""
	# shellcheck disable=SC2086 # the -c option is two words or none
	_data="$(uci -q ${UCI_CONFIG_DIR:+-c "$UCI_CONFIG_DIR"} -S -n export "$1")" || return 1
	eval "$_data"
}

config_foreach() {
	local _function="$1" _type="$2" _section _t
	[ "$#" -ge 1 ] && shift
	[ "$#" -ge 1 ] && shift
	for _section in $CONFIG_SECTIONS; do
		config_get _t "$_section" TYPE
		[ -z "$_type" ] || [ "$_t" = "$_type" ] || continue
		"$_function" "$_section" "$@"
	done
}

config_list_foreach() {
	local _section="$1" _option="$2" _function="$3" _len _i=1 _item
	shift 3
	config_get _len "$_section" "${_option}_LENGTH" 0
	while [ "$_i" -le "$_len" ]; do
		config_get _item "$_section" "${_option}_ITEM$_i"
		"$_function" "$_item" "$@"
		_i=$((_i + 1))
	done
}

# OpenWrt's account helpers, with the same arguments, on the fake root's
# $IPKG_INSTROOT/etc/passwd and /etc/group (which a case may provide); what
# they add is logged:
#   user_exists NAME             true when NAME is in /etc/passwd
#   group_add_next NAME          prints NAME's gid, adding the group with the
#                                first free gid from 32768 when it is missing
#   user_add NAME [UID] [GID]    adds the user (an empty UID: the first free
#                                uid from 32768)

# shellcheck source=/dev/null # log.sh, checked on its own
. "$SIPNAT_STUBS/log.sh"

user_exists() {
	grep -qs "^$1:" "$IPKG_INSTROOT/etc/passwd"
}

# The first number from 32768 not in field 3 of file $1.
stub_next_id() {
	_sni=32768
	while cut -d: -f3 "$1" 2>/dev/null | grep -qx "$_sni"; do
		_sni=$((_sni + 1))
	done
	printf '%s\n' "$_sni"
}

group_add_next() {
	local _gid
	_gid="$(grep -s "^$1:" "$IPKG_INSTROOT/etc/group" | cut -d: -f3)"
	if [ -z "$_gid" ]; then
		_gid="$(stub_next_id "$IPKG_INSTROOT/etc/group")"
		printf '%s:x:%s:\n' "$1" "$_gid" >>"$IPKG_INSTROOT/etc/group"
		stub_log group_add "$1" "$_gid"
	fi
	printf '%s\n' "$_gid"
}

user_add() {
	local _uid="${2:-}"
	[ -n "$_uid" ] || _uid="$(stub_next_id "$IPKG_INSTROOT/etc/passwd")"
	stub_log user_add "$@"
	printf '%s:x:%s:%s:%s:/var/run/%s:/bin/false\n' "$1" "$_uid" "${3:-$_uid}" "$1" "$1" \
		>>"$IPKG_INSTROOT/etc/passwd"
}
