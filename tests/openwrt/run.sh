#!/bin/sh
# run.sh: tests for sipnat's OpenWrt scripts, init.d/sipnat (the procd
# service) and openwrt/files/sipnat.uci-defaults (the siproxd import), run
# on an ordinary Linux machine with stubs written for this project in place
# of OpenWrt's rc.common, functions.sh, network.sh, procd.sh/jshn, uci,
# logger, fw4 and chown (stubs/; OpenWrt's own files are GPL and not
# vendored).
#
# Usage: tests/openwrt/run.sh [--shell CMD]... [GROUP|CASE]...
#   GROUP: init, migrate, shellcheck (default: all three); CASE: a directory
#   name under cases/. --shell runs the scripts with CMD (repeatable); the
#   default is `sh` plus `busybox sh` (OpenWrt's shell) when busybox exists.
#   --bless writes each selected case's actual log as its `expected` file
#   (after a change that is meant; review the diff with git before keeping it).
# Prints one line per check and `N passed, N failed`; exits 1 on a failure.
#
# Each case is a directory under cases/:
#   init-*     sipnat    fixture /etc/config/sipnat
#              steps     one step a line: an rc.common action with its
#                        arguments (start, reload, stop, restart), or
#                        `config FILE` / `network FILE` to swap the config or
#                        the network map for one from the case directory
#              network   network map (NETWORK DEVICE lines; default
#                        fixtures/network), zones: fw4 zone map (default
#                        fixtures/zones), passwd/group: the fake root's
#                        /etc/passwd and /etc/group (default: none), which
#                        are shown after the steps when a case has `users`,
#                        dirs: paths that must exist after; root/:
#                        files copied into the fake root first
#   migrate-*  root/     files copied into a root laid out like a router's
#                        (etc/config/siproxd, etc/config/sipnat,
#                        usr/share/sipnat/sipnat.default, etc/rc.d/S50siproxd
#                        ...). The script is installed as
#                        /etc/uci-defaults/90-sipnat and run in a chroot of
#                        that root, with / as its root and no IPKG_INSTROOT,
#                        by the loop OpenWrt runs at first boot and after a
#                        package install (sourced in a subshell, then `uci
#                        commit`); twice: the second run (an upgrade brings
#                        the script back) must change nothing. busybox is the
#                        router's userland in there; the uci stub keeps
#                        changes in /tmp/.uci and writes /etc/config like uci.
#                        Needs root (chroot, mknod /dev/null) and busybox.
#              uci-fail  optional: a uci command line that fails in the first
#                        run (e.g. `commit sipnat`)
#              image-build  optional: first run the script as an image build
#                        would (IPKG_INSTROOT set): it must change nothing and
#                        fail, so it stays for the first boot
#   expected   the exact log: every procd_*/json_*/logger/chown call the
#              scripts made, `## ...` lines written by this runner, and for
#              migrate cases `uci show sipnat` after each run. The temporary
#              root directory shows as <root>.
#
# Static check: shellcheck -s sh on init.d/sipnat, the uci-defaults script,
# the rpcd plugin, this harness and its stubs, and the packaging scripts
# openwrt/*.sh. That group fails when shellcheck is missing, unless
# SIPNAT_SKIP_SHELLCHECK=1.

set -u

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
STUBS="$HERE/stubs"
CASES="$HERE/cases"
FIXTURES="$HERE/fixtures"
INIT="$REPO/init.d/sipnat"
MIGRATE="$REPO/openwrt/files/sipnat.uci-defaults"

SHELLS=""
SELECT=""
BLESS=0
while [ "$#" -gt 0 ]; do
	case "$1" in
		--shell)
			SHELLS="${SHELLS:+$SHELLS
}$2"
			shift
			;;
		--bless) BLESS=1 ;;
		-h | --help)
			sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'
			exit 0
			;;
		*) SELECT="$SELECT $1" ;;
	esac
	shift
done
if [ -z "$SHELLS" ]; then
	SHELLS="sh"
	if command -v busybox >/dev/null 2>&1; then
		SHELLS="sh
busybox sh"
	fi
fi
[ -n "$SELECT" ] || SELECT="init migrate shellcheck"

PASSED=0
FAILED=0
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sipnat-openwrt.XXXXXX")" || exit 1
trap 'rm -rf "$WORK"' EXIT

pass() {
	PASSED=$((PASSED + 1))
	echo "ok   $1"
}

fail() {
	FAILED=$((FAILED + 1))
	echo "FAIL $1"
	[ -z "${2:-}" ] || sed 's/^/     /' "$2"
}

selected() { # case-name group
	case " $SELECT " in
		*" $1 "* | *" $2 "*) return 0 ;;
	esac
	return 1
}

# A fresh fake root with the stub libraries: prints its path.
new_root() {
	_r="$(mktemp -d "$WORK/root.XXXXXX")" || exit 1
	mkdir -p "$_r/etc/config" "$_r/var/run" "$_r/var/lib"
	cp -R "$STUBS/lib" "$_r/lib"
	printf '%s\n' "$_r"
}

# compare NAME EXPECTED ACTUAL
compare() {
	[ "$BLESS" = 1 ] && cp "$3" "$2"
	if diff -u "$2" "$3" >"$WORK/diff" 2>&1; then
		pass "$1"
	else
		fail "$1" "$WORK/diff"
	fi
}

run_init_case() { # dir shell
	_dir="$1"
	_sh="$2"
	_name="$(basename "$_dir") [$_sh]"
	_root="$(new_root)"
	_log="$WORK/log"
	: >"$_log"
	cp "$_dir/sipnat" "$_root/etc/config/sipnat"
	[ -d "$_dir/root" ] && cp -R "$_dir/root/." "$_root/"
	for _f in passwd group; do
		[ -f "$_dir/$_f" ] && cp "$_dir/$_f" "$_root/etc/$_f"
	done
	_net="$FIXTURES/network"
	[ -f "$_dir/network" ] && _net="$_dir/network"
	_zones="$FIXTURES/zones"
	[ -f "$_dir/zones" ] && _zones="$_dir/zones"
	while read -r _step _args; do
		case "$_step" in
			'' | '#'*) continue ;;
			config)
				cp "$_dir/$_args" "$_root/etc/config/sipnat"
				echo "## config $_args" >>"$_log"
				continue
				;;
			network)
				_net="$_dir/$_args"
				echo "## network $_args" >>"$_log"
				continue
				;;
		esac
		echo "## $_step${_args:+ $_args}" >>"$_log"
		# shellcheck disable=SC2086 # the shell command and the arguments are word lists
		env IPKG_INSTROOT="$_root" SIPNAT_STUBS="$STUBS" SIPNAT_TEST_LOG="$_log" \
			SIPNAT_TEST_UCI_SAVEDIR="$_root/tmp/.uci" \
			SIPNAT_TEST_NETWORK="$_net" SIPNAT_TEST_ZONES="$_zones" \
			PATH="$STUBS/bin:$PATH" \
			$_sh "$STUBS/rc.common" "$INIT" "$_step" $_args \
			</dev/null >"$WORK/out" 2>&1
		_rc=$?
		[ "$_rc" = 0 ] || echo "## exit $_rc" >>"$_log"
		[ -s "$WORK/out" ] && sed 's/^/## output: /' "$WORK/out" >>"$_log"
	done <"$_dir/steps"
	if [ -f "$_dir/users" ]; then
		for _f in passwd group; do
			echo "## /etc/$_f" >>"$_log"
			cat "$_root/etc/$_f" >>"$_log" 2>/dev/null
		done
	fi
	if [ -f "$_dir/dirs" ]; then
		while read -r _d; do
			[ -n "$_d" ] || continue
			if [ -d "$_root/$_d" ]; then
				echo "## directory $_d exists" >>"$_log"
			else
				echo "## directory $_d MISSING" >>"$_log"
			fi
		done <"$_dir/dirs"
	fi
	sed "s|$_root|<root>|g" "$_log" >"$WORK/actual"
	compare "$_name" "$_dir/expected" "$WORK/actual"
}

# Appends the state of the device root's /etc/config/sipnat to the log.
record_sipnat() { # root log original
	if [ -f "$3" ]; then
		if cmp -s "$3" "$1/etc/config/sipnat"; then
			echo "## /etc/config/sipnat unchanged" >>"$2"
		else
			echo "## /etc/config/sipnat changed" >>"$2"
		fi
	fi
	if [ -d "$1/tmp/.uci" ] && [ -n "$(ls -A "$1/tmp/.uci")" ]; then
		echo "## uncommitted uci changes: $(ls -A "$1/tmp/.uci")" >>"$2"
	fi
	echo "## uci show sipnat" >>"$2"
	if [ -f "$1/etc/config/sipnat" ]; then
		env SIPNAT_STUBS="$STUBS" "$STUBS/bin/uci" -c "$1/etc/config" -t "$1/tmp/.uci" \
			show sipnat >>"$2" 2>&1
	else
		echo "(no /etc/config/sipnat)" >>"$2"
	fi
}

# copy_program FILE ROOT DEST: FILE as ROOT/DEST, with the shared libraries
# it loads (ldd) at their own paths under ROOT.
copy_program() {
	mkdir -p "$2/${3%/*}"
	cp -L "$1" "$2/$3" || return 1
	ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
		while read -r _lib; do
			mkdir -p "$2/${_lib%/*}"
			[ -e "$2/$_lib" ] || cp -L "$_lib" "$2/$_lib"
		done
}

# A fresh root laid out like a router's, for chroot: busybox as /bin/sh and
# every tool (OpenWrt's userland), the stubs at OpenWrt's paths
# (/lib/functions.sh, /bin/uci, /usr/bin/logger; the uci model and the log
# helper in /usr/share/sipnat-test), /etc/config, /tmp; shell $1's program
# as /test-shell/<name>. Prints its path.
new_device_root() { # shell-program
	_r="$(mktemp -d "$WORK/device.XXXXXX")" || exit 1
	mkdir -p "$_r/etc/config" "$_r/etc/uci-defaults" "$_r/tmp" "$_r/var/log" \
		"$_r/usr/bin" "$_r/usr/share/sipnat-test" "$_r/lib" "$_r/dev" || exit 1
	mknod -m 666 "$_r/dev/null" c 1 3 || exit 1
	copy_program "$(command -v busybox)" "$_r" bin/busybox || exit 1
	for _a in sh ash awk basename cat cmp cp cut dirname echo env find grep head \
		ls mkdir mv printf rm sed sort tail touch tr wc; do
		ln -s busybox "$_r/bin/$_a"
	done
	copy_program "$(command -v "$1")" "$_r" "test-shell/$1" || exit 1
	cp "$STUBS/lib/functions.sh" "$_r/lib/functions.sh"
	cp "$STUBS/bin/uci" "$_r/bin/uci"
	cp "$STUBS/bin/logger" "$_r/usr/bin/logger"
	cp "$STUBS/uci.awk" "$STUBS/log.sh" "$_r/usr/share/sipnat-test/"
	chmod 0755 "$_r/bin/uci" "$_r/usr/bin/logger"
	printf '%s\n' "$_r"
}

# Runs COMMAND (a shell command line) in the chroot ROOT with shell SHELL
# (a word list whose first word is under /test-shell), with a router's
# environment: no IPKG_INSTROOT, PATH of OpenWrt. Extra NAME=VALUE settings
# come first.
in_device() { # root shell command [NAME=VALUE...]
	_dr="$1"
	_dsh="$2"
	_dcmd="$3"
	shift 3
	# shellcheck disable=SC2086 # the shell is a word list
	chroot "$_dr" /bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
		SIPNAT_STUBS=/usr/share/sipnat-test SIPNAT_TEST_LOG=/var/log/test.log "$@" \
		/test-shell/$_dsh -c "$_dcmd"
}

# What /etc/init.d/boot (uci_apply_defaults) and default_postinst do with
# /etc/uci-defaults: source each script in a subshell, delete it when that
# succeeded, then commit every package.
# shellcheck disable=SC2016 # expanded by the shell in the chroot
APPLY_DEFAULTS='cd /etc/uci-defaults || exit 1
for f in $(find . -type f | sort); do
	( . "./${f##*/}" )
	rc=$?
	echo "## exit $rc" >>/var/log/test.log
	[ "$rc" = 0 ] && rm -f "$f"
done
uci commit'

can_chroot() {
	if [ "$(id -u)" != 0 ]; then
		echo "the migrate tests run the script in a chroot: run them as root" >"$WORK/out"
		return 1
	fi
	if ! command -v busybox >/dev/null 2>&1; then
		echo "the migrate tests need busybox (tests/setup-deps.sh installs it)" >"$WORK/out"
		return 1
	fi
	return 0
}

# A migrate case: the fake root's files are copied into a chroot laid out
# like a router, the script is installed as /etc/uci-defaults/90-sipnat and
# OpenWrt's uci-defaults loop runs it there, twice (the package installed,
# then upgraded: the script comes back and must change nothing). A case
# with a file `image-build` first runs it as an image build would, with
# IPKG_INSTROOT set: it must leave everything alone and fail, so that it
# stays for the first boot.
run_migrate_case() { # dir shell
	_dir="$1"
	_sh="$2"
	_name="$(basename "$_dir") [$_sh]"
	if ! can_chroot; then
		fail "$_name" "$WORK/out"
		return
	fi
	_prog="${_sh%% *}"
	_root="$(new_device_root "$_prog")"
	_shell="$_prog${_sh#"$_prog"}"
	_log="$_root/var/log/test.log"
	: >"$_log"
	[ -d "$_dir/root" ] && cp -R "$_dir/root/." "$_root/"
	_orig="$WORK/original-sipnat"
	rm -f "$_orig"
	[ -f "$_root/etc/config/sipnat" ] && cp "$_root/etc/config/sipnat" "$_orig"
	if [ -f "$_dir/image-build" ]; then
		echo "## image build (IPKG_INSTROOT=/build/root)" >>"$_log"
		cp "$MIGRATE" "$_root/etc/uci-defaults/90-sipnat"
		in_device "$_root" "$_shell" '( . /etc/uci-defaults/90-sipnat )' \
			IPKG_INSTROOT=/build/root </dev/null >"$WORK/out" 2>&1
		echo "## exit $?" >>"$_log"
		[ -s "$WORK/out" ] && sed 's/^/## output: /' "$WORK/out" >>"$_log"
		record_sipnat "$_root" "$_log" "$_orig"
		[ -e "$_root/etc/uci-defaults/90-sipnat" ] &&
			echo "## /etc/uci-defaults/90-sipnat kept for the first boot" >>"$_log"
	fi
	for _run in 1 2; do
		echo "## run $_run" >>"$_log"
		_fail=""
		[ "$_run" = 1 ] && [ -f "$_dir/uci-fail" ] && _fail="$(cat "$_dir/uci-fail")"
		cp "$MIGRATE" "$_root/etc/uci-defaults/90-sipnat"
		chmod 0755 "$_root/etc/uci-defaults/90-sipnat"
		in_device "$_root" "$_shell" "$APPLY_DEFAULTS" SIPNAT_TEST_UCI_FAIL="$_fail" \
			</dev/null >"$WORK/out" 2>&1
		_rc=$?
		[ "$_rc" = 0 ] || echo "## uci-defaults loop exit $_rc" >>"$_log"
		[ ! -e "$_root/etc/uci-defaults/90-sipnat" ] ||
			echo "## /etc/uci-defaults/90-sipnat kept for the next boot" >>"$_log"
		[ -s "$WORK/out" ] && sed 's/^/## output: /' "$WORK/out" >>"$_log"
		record_sipnat "$_root" "$_log" "$_orig"
		# the second run must leave the result of the first alone
		cp "$_root/etc/config/sipnat" "$_orig" 2>/dev/null
	done
	sed "s|$_root|<root>|g" "$_log" >"$WORK/actual"
	compare "$_name" "$_dir/expected" "$WORK/actual"
}

run_shellcheck() {
	if ! command -v shellcheck >/dev/null 2>&1; then
		if [ "${SIPNAT_SKIP_SHELLCHECK:-0}" = 1 ]; then
			echo "skip shellcheck (not installed; SIPNAT_SKIP_SHELLCHECK=1)"
		else
			echo "shellcheck is not installed: install it (tests/setup-deps.sh)" \
				"or set SIPNAT_SKIP_SHELLCHECK=1" >"$WORK/out"
			fail "shellcheck" "$WORK/out"
		fi
		return
	fi
	for _f in "$INIT" "$MIGRATE" "$REPO/openwrt/files/sipnat.rpcd" "$HERE/run.sh" "$STUBS/rc.common" "$STUBS/log.sh" \
		"$STUBS/lib/functions.sh" "$STUBS/lib/functions/network.sh" \
		"$STUBS/lib/functions/procd.sh" "$STUBS"/bin/* "$REPO/openwrt/arch.sh" "$REPO/openwrt/variants.sh" \
		"$REPO/openwrt/mkipk.sh" "$REPO/openwrt/check-ipk.sh" "$REPO/openwrt/release-hash.sh"; do
		# -x: follow the `. arch.sh` of the packaging scripts
		if shellcheck -s sh -x "$_f" >"$WORK/out" 2>&1; then
			pass "shellcheck -s sh ${_f#"$REPO"/}"
		else
			fail "shellcheck -s sh ${_f#"$REPO"/}" "$WORK/out"
		fi
	done
}

for _dir in "$CASES"/init-* "$CASES"/migrate-*; do
	[ -d "$_dir" ] || continue
	_case="$(basename "$_dir")"
	_group="${_case%%-*}"
	selected "$_case" "$_group" || continue
	printf '%s\n' "$SHELLS" >"$WORK/shells"
	while IFS= read -r _sh; do
		"run_${_group}_case" "$_dir" "$_sh"
	done <"$WORK/shells"
done
if selected shellcheck shellcheck; then
	run_shellcheck
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ] && [ "$PASSED" -gt 0 ]
