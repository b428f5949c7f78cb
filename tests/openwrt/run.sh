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
#                        dirs: paths that must exist after
#   migrate-*  root/     files copied into the fake root (etc/config/siproxd,
#                        etc/config/sipnat, usr/share/sipnat/sipnat.default,
#                        etc/rc.d/S50siproxd ...); the script is sourced in a
#                        subshell, as OpenWrt does, twice (the second run
#                        must change nothing)
#              uci-fail  optional: a uci command that fails in the first run
#   expected   the exact log: every procd_*/json_*/logger/chown call the
#              scripts made, `## ...` lines written by this runner, and for
#              migrate cases `uci show sipnat` after each run. The temporary
#              root directory shows as <root>.
#
# Static check: shellcheck -s sh on init.d/sipnat, the uci-defaults script,
# the rpcd plugin and this harness. A missing shellcheck fails that group unless
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

# Appends the state of the fake root's /etc/config/sipnat to the log.
record_sipnat() { # root log original
	if [ -f "$3" ]; then
		if cmp -s "$3" "$1/etc/config/sipnat"; then
			echo "## /etc/config/sipnat unchanged" >>"$2"
		else
			echo "## /etc/config/sipnat changed" >>"$2"
		fi
	fi
	if [ -d "$1/etc/config/.uci" ] && [ -n "$(ls -A "$1/etc/config/.uci")" ]; then
		echo "## uncommitted uci changes: $(ls -A "$1/etc/config/.uci")" >>"$2"
	fi
	echo "## uci show sipnat" >>"$2"
	if [ -f "$1/etc/config/sipnat" ]; then
		env SIPNAT_STUBS="$STUBS" "$STUBS/bin/uci" -c "$1/etc/config" show sipnat >>"$2" 2>&1
	else
		echo "(no /etc/config/sipnat)" >>"$2"
	fi
}

run_migrate_case() { # dir shell
	_dir="$1"
	_sh="$2"
	_name="$(basename "$_dir") [$_sh]"
	_root="$(new_root)"
	_log="$WORK/log"
	: >"$_log"
	[ -d "$_dir/root" ] && cp -R "$_dir/root/." "$_root/"
	_orig="$WORK/original-sipnat"
	rm -f "$_orig"
	[ -f "$_root/etc/config/sipnat" ] && cp "$_root/etc/config/sipnat" "$_orig"
	for _run in 1 2; do
		echo "## run $_run" >>"$_log"
		_fail=""
		[ "$_run" = 1 ] && [ -f "$_dir/uci-fail" ] && _fail="$(cat "$_dir/uci-fail")"
		# shellcheck disable=SC2086,SC2016 # the shell command is a word list; $1 is the inner shell's
		env IPKG_INSTROOT="$_root" SIPNAT_STUBS="$STUBS" SIPNAT_TEST_LOG="$_log" \
			SIPNAT_TEST_UCI_FAIL="$_fail" PATH="$STUBS/bin:$PATH" \
			$_sh -c '( . "$1" )' sh "$MIGRATE" </dev/null >"$WORK/out" 2>&1
		echo "## exit $?" >>"$_log"
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
		"$STUBS/lib/functions/procd.sh" "$STUBS"/bin/*; do
		if shellcheck -s sh "$_f" >"$WORK/out" 2>&1; then
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
