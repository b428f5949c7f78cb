# shellcheck shell=bash
# cross/env.sh: how sipnat is compiled for each cross target, in one place.
# Sourced (not run) by cross/build-all.sh and tests/cross-check.sh. Bash.
#
# Two ways to get a standard library for a target:
# - prebuilt: `rustup target add` installed rust-std for it. aarch64 and
#   armv7 link with rust-lld (rustc's own linker, shipped with the toolchain)
#   and the musl crt objects that rust-std carries ("self-contained"); x86_64
#   links with the host's cc, which works for x86-64 objects.
# - build-std: no rust-std exists (MIPS is a tier 3 target since Rust 1.72,
#   and a rustup mirror may lack others). The stable toolchain builds std
#   from the rust-src component: RUSTC_BOOTSTRAP=1 lets stable cargo accept
#   -Zbuild-std. zig (PyPI `ziglang`) links through cargo-zigbuild and brings
#   musl's crt objects and libc for the target, so rustc's own self-contained
#   objects, which only rust-std has, are turned off: -C link-self-contained=no.
#
# Everything is passed through the environment of one cargo command, never
# through ~/.cargo/config.toml, so normal host builds are not affected.
# (With --target, RUSTFLAGS reach only the target's crates and std, not build
# scripts.)
#
# MIPS executables are non-PIE (-C relocation-model=static). The default,
# static-pie, links (zig's lld) and runs, but optimized code reading a
# thread-local variable crashes (SIGSEGV at the first TLS access: std's
# thread-locals, the panic path). A non-PIE MIPS executable works and is
# smaller; it costs address randomization of the executable image only
# (stack, heap and mmap are still randomized). Found with a thread_local!
# test program under qemu-mips(el): crashes at opt-level 1 and above with
# static-pie, works at opt-level 0 and with relocation-model=static; ARM,
# AArch64 and x86_64 static-pie binaries are fine.
#
# Size: for the targets in SIPNAT_IMMEDIATE_ABORT (the MIPS ones by default)
# release builds add `-Zunstable-options -Cpanic=immediate-abort`: a panic
# becomes a bare trap (SIGTRAP) instead of printing its message and
# aborting, which drops the panic formatting machinery from std: about
# 320 KB of the 800 KB mipsel binary, and the mipsel .ipk goes from 354 KB
# to 211 KB (see cross/README.md). sipnat must not panic on input anyway,
# and procd restarts it if it ever does. Tests never use it. With nothing
# to unwind, those builds carry no unwind tables either (-C
# force-unwind-tables=no: .eh_frame 35 KB -> 7 KB, the rest is musl's C;
# -14 KB of the mipsel .ipk, measured at issue 12) nor the source locations
# a panic message would name (-Zlocation-detail=none: -1 KB).

SIPNAT_IMMEDIATE_ABORT="${SIPNAT_IMMEDIATE_ABORT-mips-unknown-linux-musl mipsel-unknown-linux-musl}"

# Size, continued: the targets in SIPNAT_OPT_SIZE (the MIPS ones by
# default) are built at opt-level z instead of Cargo.toml's s. Measured on
# x86_64 with the benchmark (cross/README.md): RTP relaying costs the same
# (it is bound by system calls), a call setup about 20% more CPU (152 ->
# 180 µs); the mipsel .ipk shrinks by 23 KB, which keeps it within its
# 250 KB budget on routers whose flash is counted in megabytes. An explicit
# CARGO_PROFILE_RELEASE_OPT_LEVEL wins. Their std is built with its
# `optimize_for_size` feature too (smaller sort and formatting code: the
# mipsel .ipk 6.4 KB smaller, measured at issue 12); SIPNAT_STD_FEATURES
# set in the environment replaces that list for every build-std target.
SIPNAT_OPT_SIZE="${SIPNAT_OPT_SIZE-mips-unknown-linux-musl mipsel-unknown-linux-musl}"

# RSS: release builds of the other targets (their std prints panics, so it
# brings a backtrace symbolizer and an unwinder, about 190 KB of x86_64 code
# never run) are linked with cross/cold-code.ld, which puts that code after
# all the rest. The kernel maps code in chunks of 64 KiB or more, and spread
# among the code that runs it was mapped all the same: an idle sipnat's code
# RSS on x86_64 708 -> about 530 kB (the file says how). The MIPS builds
# have no such code (immediate-abort) and are linked as before. The path
# must not contain spaces (it goes through RUSTFLAGS).
SIPNAT_COLD_CODE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cold-code.ld"

# Size, last: the release builds of the SIPNAT_IMMEDIATE_ABORT targets,
# where nothing unwinds, are linked with cross/no-eh-frame.ld, which leaves
# out the unwind tables still there (musl's C functions': .eh_frame and its
# index .eh_frame_hdr, 7.8 KB; -3 KB of the mipsel .ipk). Same path rule.
SIPNAT_NO_EH_FRAME="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/no-eh-frame.ld"

# C for the prebuilt-std targets. A crate with C or assembly in it (ring,
# the crypto of rustls: the `tls` feature, package sipnat-tls) is compiled
# by its build script with the target's C compiler (the cc crate). The
# build-std builds get zig's from cargo-zigbuild (CC_<target>); the
# prebuilt-std ones link with rust-lld or the host's cc, and the cc crate
# looked for aarch64-linux-musl-gcc, x86_64-linux-musl-gcc ..., which
# Debian does not have: ring failed there ("failed to find tool"). So their
# CC_<target> is zig's C compiler too, through cargo-zigbuild's `zig cc`
# (which drops the --target=<rust triple> the cc crate gives a clang), with
# the zig target and CPU cargo-zigbuild's own wrappers give the build-std
# builds. Only when cargo-zigbuild is installed and neither CC_<target> nor
# TARGET_CC is set; a build without C never reads it (the base package's
# binaries are as before). The archiver is the host's `ar`, as in the
# build-std builds (GNU ar indexes ELF objects of any machine).
# Prints that compiler command for target $1; fails for a target without.
sipnat_zig_cc() {
	local zt mcpu=""
	case "$1" in
		aarch64-unknown-linux-musl) zt=aarch64-linux-musl ;;
		x86_64-unknown-linux-musl) zt=x86_64-linux-musl ;;
		# ARMv7-A with VFPv3-D16, no NEON (zig: -d32 removes the 32-register
		# VFP); the soft-float ABI comes from the target's abi, musleabi.
		armv7-unknown-linux-musleabihf) zt=arm-linux-musleabihf mcpu=generic+v7a+vfp3-d32+thumb2-neon ;;
		armv7-unknown-linux-musleabi) zt=arm-linux-musleabi mcpu=generic+v7a+vfp3-d32+thumb2-neon ;;
		*) return 1 ;;
	esac
	echo "cargo-zigbuild zig cc -- -fno-sanitize=all ${mcpu:+-mcpu=$mcpu }-target $zt"
}

# And: the release builds of the SIPNAT_IMMEDIATE_ABORT targets are linked
# by cross/lld-icf.sh, zig's link redone by rust-lld with identical code
# folding (--icf=all, which zig's linker driver does not take): -0.4 KB of
# the mipsel .ipk. Same path rule.
SIPNAT_LLD_ICF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lld-icf.sh"

# True when rust-std for target $1 is installed in the active toolchain.
sipnat_has_prebuilt_std() {
	local sysroot
	sysroot="$(rustc --print sysroot)" || return 1
	compgen -G "$sysroot/lib/rustlib/$1/lib/libstd-*.rlib" >/dev/null
}

# True when target $1 has to be built with -Zbuild-std here.
sipnat_needs_build_std() {
	case "$1" in
		mips-* | mipsel-*) return 0 ;;
	esac
	! sipnat_has_prebuilt_std "$1"
}

# The CARGO_TARGET_<TRIPLE>_* prefix of target $1.
sipnat_env_prefix() {
	local t="${1^^}"
	echo "CARGO_TARGET_${t//-/_}"
}

# sipnat_cargo build|test TARGET [cargo arguments...]
# Runs cargo for TARGET with the environment described above: `build` builds
# what the arguments say (pass --release), `test` builds and runs tests (the
# caller sets CARGO_TARGET_<TRIPLE>_RUNNER). With `test --release` the tests
# are optimized like the shipped binary but keep overflow checks and debug
# assertions, and unwind (the harness reports a failed test and goes on).
# Keep test builds in their own CARGO_TARGET_DIR: two differently built
# copies of std in one target/<triple>/release/deps make rustc fail with
# "duplicate lang item" (E0152).
sipnat_cargo() (
	# A subshell: the exports below stay in this call.
	local mode="$1" target="$2" prefix rf
	shift 2
	if [ "$mode" = test ]; then
		export CARGO_PROFILE_RELEASE_PANIC=unwind
		export CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true
		export CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true
	fi
	prefix="$(sipnat_env_prefix "$target")"
	# cross/cold-code.ld for release builds that carry std's panic printing.
	local cold=
	if [ "$mode" = build ] && [[ " $SIPNAT_IMMEDIATE_ABORT " != *" $target "* ]]; then
		cold="$SIPNAT_COLD_CODE"
	fi
	if [ -n "${CARGO_ENCODED_RUSTFLAGS:-}" ]; then
		echo "sipnat_cargo: CARGO_ENCODED_RUSTFLAGS is set and would override the cross flags; unset it" >&2
		return 2
	fi
	if sipnat_needs_build_std "$target"; then
		rf="-C link-self-contained=no"
		# MIPS: a plain static executable, not static-pie (see above).
		case "$target" in
			mips-* | mipsel-*) rf="$rf -C relocation-model=static" ;;
		esac
		if [ "$mode" = build ] && [[ " $SIPNAT_IMMEDIATE_ABORT " == *" $target "* ]]; then
			# Nothing unwinds: no unwind tables either (-14 KB of .ipk); a
			# panic prints nothing: no source locations for it (-1 KB).
			rf="$rf -Zunstable-options -Cpanic=immediate-abort -C force-unwind-tables=no"
			rf="$rf -Zlocation-detail=none"
			# And smaller still (-1.4 KB of the mipsel .ipk together): `{:?}`
			# prints nothing (-Zfmt-debug=none: sipnat's messages use Display;
			# Debug is for tests), and LLVM inlines nothing it need not.
			rf="$rf -Zfmt-debug=none -Cllvm-args=-inline-threshold=0"
			# MIR optimized once, not twice: LLVM still optimizes, the binary
			# is 7 KB smaller (-1.2 KB of .ipk).
			rf="$rf -Zmir-opt-level=1"
			# No unwind tables left at all (cross/no-eh-frame.ld).
			rf="$rf -C link-arg=-Wl,-T,$SIPNAT_NO_EH_FRAME"
			# Identical functions folded at link time (cross/lld-icf.sh,
			# which finds cargo-zigbuild's linker in this variable).
			rf="$rf -C linker=$SIPNAT_LLD_ICF"
			export SIPNAT_ZIG_LINKER_VAR="${prefix}_LINKER"
		fi
		# zig cc links: the linker's own options go through -Wl.
		[ -n "$cold" ] && rf="$rf -C link-arg=-Wl,-T,$cold"
		local opt="${CARGO_PROFILE_RELEASE_OPT_LEVEL:-}"
		if [ -z "$opt" ] && [ "$mode" = build ] && [[ " $SIPNAT_OPT_SIZE " == *" $target "* ]]; then
			opt=z
		fi
		local std="-Zbuild-std=std,panic_abort"
		# Tests unwind (the test harness catches panics): build all of std.
		[ "$mode" = test ] && std="-Zbuild-std"
		local feats="${SIPNAT_STD_FEATURES-}"
		if [ -z "${SIPNAT_STD_FEATURES+set}" ] && [ "$mode" = build ] &&
			[[ " $SIPNAT_OPT_SIZE " == *" $target "* ]]; then
			feats=optimize_for_size
		fi
		env ${opt:+CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt} \
			RUSTC_BOOTSTRAP=1 RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }$rf" \
			cargo-zigbuild "$([ "$mode" = build ] && echo zigbuild || echo test)" \
			--target "$target" "$std" ${feats:+"-Zbuild-std-features=$feats"} "$@"
	else
		local cc_var="CC_${target//-/_}" zcc
		if [ -z "${!cc_var:-}" ] && [ -z "${TARGET_CC:-}" ] &&
			command -v cargo-zigbuild >/dev/null 2>&1 && zcc="$(sipnat_zig_cc "$target")"; then
			export "$cc_var=$zcc"
		fi
		case "$target" in
			aarch64-* | armv7-*)
				# rust-lld is the linker itself: -T as it is.
				[ -n "$cold" ] && export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C link-arg=-T$cold"
				env "${prefix}_LINKER=rust-lld" cargo "$mode" --target "$target" "$@"
				;;
			*)
				# the host's cc links: through -Wl.
				[ -n "$cold" ] && export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C link-arg=-Wl,-T,$cold"
				cargo "$mode" --target "$target" "$@"
				;;
		esac
	fi
)

# sipnat_trim TARGET BINARY: take out of a linked MIPS executable a section
# nothing reads. LLVM's MIPS backend writes `.pdr` (procedure descriptors
# for old MIPS debuggers: 87 KB in sipnat, never loaded, no SHF_ALLOC),
# which the linker's --strip-all keeps; without it the mipsel .ipk is 8 KB
# smaller (measured at issue 12). rust-objcopy comes with every Rust
# toolchain (it is llvm-objcopy, linked to the toolchain's libLLVM). Other
# targets have no such section and are left as they are.
sipnat_trim() {
	local target="$1" bin="$2" sysroot host
	case "$target" in
		mips-* | mipsel-*) ;;
		*) return 0 ;;
	esac
	sysroot="$(rustc --print sysroot)" || return 1
	host="$(rustc -vV | sed -n 's/^host: //p')"
	LD_LIBRARY_PATH="$sysroot/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
		"$sysroot/lib/rustlib/$host/bin/rust-objcopy" --remove-section=.pdr "$bin"
}
