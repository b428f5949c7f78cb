#!/bin/sh
# openwrt/check-ipk.sh: checks a sipnat .ipk by unpacking it, the way opkg
# will read it. Used by tests/cross-check.sh on the packages that
# openwrt/mkipk.sh built from the cross-compiled binaries.
#
#   openwrt/check-ipk.sh IPK [ARCH [VERSION]]
#
# ARCH and VERSION default to what the file name <package>_<VERSION>_<ARCH>.ipk
# says; the package name (sipnat, sipnat-tls: openwrt/variants.sh) says
# which variant the package must be. Checks:
# - the outer gzip'd tar holds exactly ./debian-binary, ./data.tar.gz,
#   ./control.tar.gz in that order, and debian-binary is "2.0";
# - control: Package (the file name's), Version, Architecture,
#   Installed-Size (the bytes of the data files), the other fields OpenWrt
#   writes, Require-User sipnat:sipnat (the package's own user); Depends,
#   Conflicts and Provides exactly the variant's (the base sipnat: none,
#   its binary is static; sipnat-tls: Depends ca-bundle, Conflicts and
#   Provides sipnat); conffiles is /etc/config/sipnat; postinst and prerm
#   are executable, parse with `sh -n` and call default_postinst/
#   default_prerm;
# - data: exactly the eight files with their modes, every entry owned 0:0
#   (the same for every variant);
#   /usr/sbin/sipnat is an ELF executable for ARCH (class, byte order,
#   machine and, for ARM, the float ABI in e_flags: a hard-float binary is
#   never right for arm_cortex-a7, a soft-float one never for
#   arm_cortex-a7_neon-vfpv4; see openwrt/arch.sh); the uci-defaults script,
#   the init script and the rpcd plugin parse with `sh -n`.
# Prints one "ok" line, or every problem found and exits 1.
set -eu

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=arch.sh
. "$ROOT/openwrt/arch.sh"
# shellcheck source-path=SCRIPTDIR source=variants.sh
. "$ROOT/openwrt/variants.sh"

if [ "$#" -lt 1 ] || [ "$#" -gt 3 ]; then
	echo "usage: check-ipk.sh IPK [ARCH [VERSION]]" >&2
	exit 2
fi
IPK="$1"
base="${IPK##*/}"
base="${base%.ipk}"
PACKAGE="${base%%_*}"
rest="${base#*_}"
ARCH="${2:-${rest#*_}}"
VERSION="${3:-${rest%%_*}}"

FAILS=0
fail() {
	echo "check-ipk.sh: $base: $*" >&2
	FAILS=$((FAILS + 1))
}

if ! VARIANT="$(sipnat_package_variant "$PACKAGE")"; then
	echo "check-ipk.sh: $base: '$PACKAGE' is no sipnat package; known: $SIPNAT_VARIANTS (openwrt/variants.sh)" >&2
	exit 2
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/check-ipk.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT INT TERM

[ -f "$IPK" ] || { echo "check-ipk.sh: no such file: $IPK" >&2; exit 2; }
gzip -t "$IPK" 2>/dev/null || { echo "check-ipk.sh: $base: not gzip data" >&2; exit 1; }

outer="$(tar -tzf "$IPK" | tr '\n' ' ')"
[ "$outer" = "./debian-binary ./data.tar.gz ./control.tar.gz " ] ||
	fail "outer members are '$outer', want ./debian-binary ./data.tar.gz ./control.tar.gz"
mkdir "$WORK/outer" "$WORK/control" "$WORK/data"
tar -xzf "$IPK" -C "$WORK/outer"
[ "$(cat "$WORK/outer/debian-binary" 2>/dev/null)" = "2.0" ] || fail "debian-binary is not 2.0"
tar -xzf "$WORK/outer/control.tar.gz" -C "$WORK/control" || fail "control.tar.gz does not unpack"
tar -xzf "$WORK/outer/data.tar.gz" -C "$WORK/data" || fail "data.tar.gz does not unpack"

# --- control -----------------------------------------------------------------
C="$WORK/control/control"
field() {
	sed -n "s/^$1: //p" "$C" 2>/dev/null | head -n1
}
[ -f "$C" ] || fail "no control file"
[ "$(field Package)" = "$PACKAGE" ] || fail "Package is '$(field Package)', want '$PACKAGE'"
[ "$(field Version)" = "$VERSION" ] || fail "Version is '$(field Version)', want '$VERSION'"
[ "$(field Architecture)" = "$ARCH" ] || fail "Architecture is '$(field Architecture)', want '$ARCH'"
for f in Source SourceName License Section Maintainer Description; do
	[ -n "$(field "$f")" ] || fail "control has no $f"
done
[ "$(field Section)" = net ] || fail "Section is '$(field Section)', want net"
[ "$(field Require-User)" = "sipnat:sipnat" ] ||
	fail "Require-User is '$(field Require-User)', want sipnat:sipnat (the user the configuration switches to)"
# The variant's relations (openwrt/variants.sh), each on one line or none.
want_provides="$(sipnat_variant_provides "$VARIANT")"
for r in Depends:"$(sipnat_variant_depends "$VARIANT")" Conflicts:"$want_provides" Provides:"$want_provides"; do
	name="${r%%:*}"
	want="${r#*:}"
	lines="$(grep -c "^$name:" "$C" 2>/dev/null || true)"
	if [ -z "$want" ]; then
		[ "$lines" = 0 ] || fail "control has a $name line; $PACKAGE has none (the static binary needs nothing)"
	else
		if [ "$lines" != 1 ] || [ "$(field "$name")" != "$want" ]; then
			fail "$name is '$(field "$name")' ($lines line(s)), want '$want'"
		fi
	fi
done
data_bytes=$(find "$WORK/data" -type f -exec cat {} + | wc -c)
[ "$(field Installed-Size)" = "$((data_bytes + 0))" ] ||
	fail "Installed-Size is '$(field Installed-Size)', the data files hold $((data_bytes + 0)) bytes"
[ "$(cat "$WORK/control/conffiles" 2>/dev/null)" = /etc/config/sipnat ] ||
	fail "conffiles is not exactly /etc/config/sipnat"
for s in postinst:default_postinst prerm:default_prerm; do
	script="$WORK/control/${s%%:*}"
	[ -x "$script" ] || fail "${s%%:*} is missing or not executable"
	sh -n "$script" 2>/dev/null || fail "${s%%:*} does not parse"
	grep -q "${s#*:} \"\$0\" \"\$@\"" "$script" 2>/dev/null || fail "${s%%:*} does not call ${s#*:}"
done
ctl_list="$(tar -tzf "$WORK/outer/control.tar.gz" | grep -v '/$' | LC_ALL=C sort | tr '\n' ' ')"
[ "$ctl_list" = "./conffiles ./control ./postinst ./prerm " ] ||
	fail "control.tar.gz holds '$ctl_list'"

# --- data --------------------------------------------------------------------
# "mode path" of every regular file, from the archive itself.
files="$(tar --numeric-owner -tvzf "$WORK/outer/data.tar.gz" | awk '$1 !~ /^d/ { print $1, $6 }' | LC_ALL=C sort | tr '\n' ';')"
want="-rw-r--r-- ./etc/config/sipnat;-rw-r--r-- ./usr/share/nftables.d/chain-pre/forward/30-sipnat.nft;-rw-r--r-- ./usr/share/rpcd/acl.d/sipnat.json;-rw-r--r-- ./usr/share/sipnat/sipnat.default;-rwxr-xr-x ./etc/init.d/sipnat;-rwxr-xr-x ./etc/uci-defaults/90-sipnat;-rwxr-xr-x ./usr/libexec/rpcd/sipnat;-rwxr-xr-x ./usr/sbin/sipnat;"
[ "$files" = "$want" ] || fail "data files are '$files', want '$want'"
owners="$( (tar --numeric-owner -tvzf "$WORK/outer/data.tar.gz"; tar --numeric-owner -tvzf "$WORK/outer/control.tar.gz") |
	awk '{ print $2 }' | sort -u | tr '\n' ' ')"
[ "$owners" = "0/0 " ] || fail "entries are owned by '$owners', want 0/0"
bin="$WORK/data/usr/sbin/sipnat"
if [ -f "$bin" ]; then
	if ! sipnat_elf_matches "$bin" "$ARCH"; then
		have="$(sipnat_elf_ident "$bin" || echo 'not ELF')"
		want="$(sipnat_arch_elf "$ARCH" || echo '?')"
		fail "usr/sbin/sipnat is not an ELF executable for $ARCH (class/data/machine/float: $have; want $want)"
		if [ "${have% *}" = "${want% *}" ]; then
			fail "usr/sbin/sipnat has the ${have##* } float ABI, $ARCH needs ${want##* } (ARM e_flags EF_ARM_ABI_FLOAT_HARD/SOFT)"
		fi
	fi
fi
for s in etc/init.d/sipnat etc/uci-defaults/90-sipnat usr/libexec/rpcd/sipnat; do
	if [ -f "$WORK/data/$s" ] && ! sh -n "$WORK/data/$s" 2>/dev/null; then
		fail "$s does not parse"
	fi
done
cmp -s "$WORK/data/etc/config/sipnat" "$WORK/data/usr/share/sipnat/sipnat.default" ||
	fail "usr/share/sipnat/sipnat.default differs from etc/config/sipnat"

if [ "$FAILS" -gt 0 ]; then
	echo "check-ipk.sh: $base: $FAILS problem(s)" >&2
	exit 1
fi
echo "ok: $base ($(wc -c <"$IPK") bytes; Installed-Size $(field Installed-Size))"
