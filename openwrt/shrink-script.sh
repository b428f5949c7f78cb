#!/bin/sh
# openwrt/shrink-script.sh IN OUT: IN without its comment lines and blank
# lines, for the packages (openwrt/mkipk.sh, openwrt/Makefile). The shell
# scripts explain themselves at length in this repository; on a router with
# a few MB of flash those explanations were 6 KB of the sipnat package
# (gzip'd). The first line (#!) stays; a line is dropped only when it is
# empty or its first non-blank character is `#`, which in these scripts is
# always a comment: tests/package.rs checks that none of them has such a
# line inside a quoted string, and that the result still parses.
set -eu
[ $# -eq 2 ] || {
	echo "usage: $0 IN OUT" >&2
	exit 2
}
sed -e '1!{' -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' -e '}' "$1" >"$2"
