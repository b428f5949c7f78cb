#!/usr/bin/env bash
# cross/build-all.sh: release binaries of sipnat for the OpenWrt boards, and
# optionally their .ipk packages, on a plain Debian machine without docker.
#
#   cross/build-all.sh [--targets "TRIPLE ..."] [--out DIR] [--packages]
#                      [--version VERSION] [--no-install] [--no-immediate-abort]
#                      [--no-default-features] [--features LIST]
#                      [--variant VARIANT]
#
#   --targets   Rust targets to build (default: all six below)
#   --out DIR   where sipnat-<target> binaries and the .ipk files go
#               (default: $CARGO_TARGET_DIR/cross, else target/cross)
#   --packages  also run openwrt/mkipk.sh for every target built, and
#               openwrt/mkipk-luci.sh once (luci-app-sipnat, arch all)
#   --version   package version (default: Cargo.toml's version + "-r1")
#   --no-install          do not install anything; use what is there
#   --no-immediate-abort  keep panic messages in the MIPS binaries (bigger)
#   --no-default-features build without the default cargo features (`ipv6`):
#                         the IPv4-only binary
#   --features LIST       cargo features to build with, passed to cargo as
#                         `--features LIST` (comma-separated), on top of the
#                         variant's
#   --variant VARIANT     which package to build (openwrt/variants.sh):
#                         base (default: the package sipnat) or tls (the
#                         package sipnat-tls: cargo feature tls, SIP over
#                         TLS). The binaries are <package>-<target>
#                         (sipnat-mipsel-unknown-linux-musl,
#                         sipnat-tls-mipsel-unknown-linux-musl), the
#                         packages <package>_<version>_<arch>.ipk; the
#                         variant's cargo features are added to --features
#
# Targets (OpenWrt arch in brackets, see openwrt/arch.sh):
#   mips-unknown-linux-musl         [mips_24kc]    tier 3: build-std + zig
#   mipsel-unknown-linux-musl       [mipsel_24kc]  tier 3: build-std + zig
#   armv7-unknown-linux-musleabihf  [arm_cortex-a7_neon-vfpv4]  hard float
#   armv7-unknown-linux-musleabi    [arm_cortex-a7]  soft float (mt7629, bcm53xx)
#   aarch64-unknown-linux-musl      [aarch64_cortex-a53]  links with rust-lld
#   x86_64-unknown-linux-musl       [x86_64]
# How each is compiled is in cross/env.sh.
#
# What it installs, idempotently (skipping what is there), unless
# --no-install: rust-std of the non-MIPS targets (`rustup target add`; a
# target whose rust-std cannot be had is built with build-std instead), the
# rust-src component of the active toolchain, zig from PyPI (`pip install
# ziglang`) and cargo-zigbuild from crates.io. Versions proven together here
# are pinned (override with SIPNAT_ZIGLANG_VERSION / SIPNAT_ZIGBUILD_VERSION).
# It needs rustup, cargo, python3 with pip; run as the user whose toolchain it
# is (root in CI). It never edits ~/.cargo/config.toml: all settings go
# through the environment of each cargo command.
#
# Prints a table: target, binary size, whether it is stripped, gzip -9 size,
# and with --packages the .ipk and its size.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=../openwrt/arch.sh
. "$ROOT/openwrt/arch.sh"
# shellcheck source-path=SCRIPTDIR source=env.sh
. "$ROOT/cross/env.sh"
# shellcheck source-path=SCRIPTDIR source=../openwrt/variants.sh
. "$ROOT/openwrt/variants.sh"

ALL_TARGETS="mips-unknown-linux-musl mipsel-unknown-linux-musl armv7-unknown-linux-musleabihf armv7-unknown-linux-musleabi aarch64-unknown-linux-musl x86_64-unknown-linux-musl"
ZIGLANG_VERSION="${SIPNAT_ZIGLANG_VERSION:-0.17.1}"
ZIGBUILD_VERSION="${SIPNAT_ZIGBUILD_VERSION:-0.24.1}"

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

TARGETS="$ALL_TARGETS"
OUT=""
PACKAGES=0
VERSION=""
INSTALL=1
NO_DEFAULT=""
FEATURES=""
VARIANT=base
while [ $# -gt 0 ]; do
	case "$1" in
		--targets) TARGETS="${2:?--targets needs a list}"; shift 2 ;;
		--targets=*) TARGETS="${1#*=}"; shift ;;
		--out) OUT="${2:?--out needs a directory}"; shift 2 ;;
		--out=*) OUT="${1#*=}"; shift ;;
		--packages) PACKAGES=1; shift ;;
		--version) VERSION="${2:?--version needs a value}"; shift 2 ;;
		--version=*) VERSION="${1#*=}"; shift ;;
		--no-install) INSTALL=0; shift ;;
		--no-immediate-abort) SIPNAT_IMMEDIATE_ABORT=""; shift ;;
		--no-default-features) NO_DEFAULT="--no-default-features"; shift ;;
		--features) FEATURES="${FEATURES:+$FEATURES,}${2:?--features needs a list}"; shift 2 ;;
		--features=*) FEATURES="${FEATURES:+$FEATURES,}${1#*=}"; shift ;;
		--variant) VARIANT="${2:?--variant needs a name}"; shift 2 ;;
		--variant=*) VARIANT="${1#*=}"; shift ;;
		-h | --help) usage; exit 0 ;;
		*) echo "build-all.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
	esac
done

PACKAGE="$(sipnat_variant_package "$VARIANT")" || {
	echo "build-all.sh: unknown variant '$VARIANT'; known: $SIPNAT_VARIANTS" >&2
	exit 2
}
vf="$(sipnat_variant_features "$VARIANT")"
[ -z "$vf" ] || FEATURES="$vf${FEATURES:+,$FEATURES}"
# One cargo argument list for every target: what --no-default-features,
# --features and the variant asked for.
CARGO_FEATURES=()
[ -z "$NO_DEFAULT" ] || CARGO_FEATURES+=("$NO_DEFAULT")
[ -z "$FEATURES" ] || CARGO_FEATURES+=(--features "$FEATURES")

for t in $TARGETS; do
	sipnat_target_arch "$t" >/dev/null || {
		echo "build-all.sh: unknown target '$t'; known: $ALL_TARGETS" >&2
		exit 2
	}
done

cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="${OUT:-$TARGET_DIR/cross}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
if [ -z "$VERSION" ]; then
	VERSION="$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n1)-r1"
fi

say() { printf '==> %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

# --- tools -------------------------------------------------------------------
zig_ok() {
	have zig || python3 -m ziglang version >/dev/null 2>&1
}

install_tools() {
	local t need_std=0
	have rustup || { echo "build-all.sh: rustup is needed (https://rustup.rs)" >&2; exit 1; }
	for t in $TARGETS; do
		case "$t" in
			mips-* | mipsel-*) need_std=1; continue ;;
		esac
		if ! sipnat_has_prebuilt_std "$t"; then
			say "rustup target add $t"
			if ! rustup target add "$t" >/dev/null 2>&1; then
				say "no rust-std for $t from rustup here: building its std from source instead"
			fi
		fi
		sipnat_has_prebuilt_std "$t" || need_std=1
	done
	# zig and cargo-zigbuild: for build-std, and for the C of a feature's
	# crates on the prebuilt-std targets too (tls: ring; cross/env.sh).
	[ "$need_std" = 1 ] || [ -n "$FEATURES" ] || return 0

	if [ "$need_std" = 1 ] && [ ! -d "$(rustc --print sysroot)/lib/rustlib/src/rust/library/std" ]; then
		say "rustup component add rust-src"
		rustup component add rust-src
	fi
	if ! zig_ok; then
		say "pip install ziglang==$ZIGLANG_VERSION"
		if ! python3 -m pip --version >/dev/null 2>&1 && have apt-get; then
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-pip
		fi
		# Debian's own python3 refuses system-wide pip installs (PEP 668).
		python3 -m pip install -q "ziglang==$ZIGLANG_VERSION" ||
			python3 -m pip install -q --break-system-packages "ziglang==$ZIGLANG_VERSION"
	fi
	if ! have cargo-zigbuild; then
		say "cargo install cargo-zigbuild@$ZIGBUILD_VERSION"
		# Its own target directory: do not disturb the project's.
		CARGO_TARGET_DIR="$TARGET_DIR/cargo-zigbuild-install" \
			cargo install --locked --version "$ZIGBUILD_VERSION" cargo-zigbuild
	fi
}

check_tools() {
	local t
	for t in $TARGETS; do
		if sipnat_needs_build_std "$t"; then
			[ -d "$(rustc --print sysroot)/lib/rustlib/src/rust/library/std" ] ||
				{ echo "build-all.sh: $t needs the rust-src component" >&2; exit 1; }
			zig_ok || { echo "build-all.sh: $t needs zig (pip install ziglang)" >&2; exit 1; }
			have cargo-zigbuild || { echo "build-all.sh: $t needs cargo-zigbuild" >&2; exit 1; }
		fi
	done
}

[ "$INSTALL" = 1 ] && install_tools
check_tools

# --- build -------------------------------------------------------------------
declare -A SECONDS_FOR
for t in $TARGETS; do
	start=$(date +%s)
	how="prebuilt std"
	sipnat_needs_build_std "$t" && how="build-std + zig"
	say "building $PACKAGE for $t ($how${FEATURES:+, features $FEATURES})"
	sipnat_cargo build "$t" --release --locked --bin sipnat ${CARGO_FEATURES[@]+"${CARGO_FEATURES[@]}"}
	install -m 0755 "$TARGET_DIR/$t/release/sipnat" "$OUT/$PACKAGE-$t"
	sipnat_trim "$t" "$OUT/$PACKAGE-$t"
	SECONDS_FOR[$t]=$(($(date +%s) - start))
done

# --- packages ----------------------------------------------------------------
if [ "$PACKAGES" = 1 ]; then
	# One package per OpenWrt arch the target serves (openwrt/arch.sh).
	for t in $TARGETS; do
		for arch in $(sipnat_target_archs "$t"); do
			sh "$ROOT/openwrt/mkipk.sh" --variant "$VARIANT" "$OUT/$PACKAGE-$t" "$arch" "$VERSION" "$OUT" >/dev/null
		done
	done
	# The LuCI app is JavaScript and JSON: one package serves every arch.
	sh "$ROOT/openwrt/mkipk-luci.sh" "$VERSION" "$OUT" >/dev/null
fi

# --- table -------------------------------------------------------------------
stripped() {
	if have readelf; then
		if readelf -S "$1" 2>/dev/null | grep -q '\.symtab'; then echo no; else echo yes; fi
	else
		echo "?"
	fi
}

printf '\n%-32s %10s %9s %10s %6s' target binary stripped gzip-9 time
[ "$PACKAGES" = 1 ] && printf ' %10s  %s' ipk package
printf '\n'
for t in $TARGETS; do
	bin="$OUT/$PACKAGE-$t"
	printf '%-32s %10s %9s %10s %5ss' "$t" "$(stat -c %s "$bin")" "$(stripped "$bin")" \
		"$(gzip -9n <"$bin" | wc -c)" "${SECONDS_FOR[$t]}"
	if [ "$PACKAGES" = 1 ]; then
		ipk="$OUT/${PACKAGE}_${VERSION}_$(sipnat_target_arch "$t").ipk"
		printf ' %10s  %s' "$(stat -c %s "$ipk")" "${ipk##*/}"
	fi
	printf '\n'
done
if [ "$PACKAGES" = 1 ]; then
	ipk="$OUT/luci-app-sipnat_${VERSION}_all.ipk"
	printf '%-32s %10s %9s %10s %6s %10s  %s\n' '(LuCI app, all)' - - - - "$(stat -c %s "$ipk")" "${ipk##*/}"
fi
printf '(sizes in bytes; output in %s)\n' "$OUT"
