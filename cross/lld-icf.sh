#!/usr/bin/env bash
# cross/lld-icf.sh: the linker of the MIPS release builds (cross/env.sh):
# zig's link, redone by rust-lld with identical code folding (--icf=all).
#
# zig's linker driver (`zig cc`) takes no --icf ("unsupported linker arg"),
# but it links with LLD and, given -v, prints the ld.lld command it ran:
# its crt objects and the musl libc it built for the target, all in zig's
# cache. This script lets cargo-zigbuild's wrapper (named by the variable
# $SIPNAT_ZIG_LINKER_VAR, which cross/env.sh exports: cargo-zigbuild passes
# its wrapper to cargo as CARGO_TARGET_<TRIPLE>_LINKER) link as usual with
# -v, then links the same inputs again with the toolchain's rust-lld and
# --icf=all: functions whose machine code is identical, across types (the
# same `Vec` or `Option` routine for two element types of one size) or
# crates, become one. -2.6 KB of the mipsel binary, -0.4 KB of its .ipk
# (cross/README.md). rustc calls it with the arguments it gives any
# linker; it prints what zig printed only if the link fails.
set -euo pipefail
set -f # zig's line is split on spaces: none of its paths has one

zig_linker="${!SIPNAT_ZIG_LINKER_VAR:?lld-icf.sh: no zig linker (SIPNAT_ZIG_LINKER_VAR)}"
said="$("$zig_linker" -v "$@" 2>&1 >/dev/null)" || {
	printf '%s\n' "$said" >&2
	exit 1
}
line="$(printf '%s\n' "$said" | grep '^ld\.lld ' | tail -n 1)" || {
	printf 'lld-icf.sh: zig cc -v printed no ld.lld line:\n%s\n' "$said" >&2
	exit 1
}
sysroot="$(rustc --print sysroot)"
host="$(rustc -vV | sed -n 's/^host: //p')"
# shellcheck disable=SC2086 # the ld.lld line's words, as zig ran them
exec "$sysroot/lib/rustlib/$host/bin/rust-lld" -flavor gnu ${line#ld.lld } --icf=all
