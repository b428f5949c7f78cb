#!/bin/sh
# openwrt/mkipk.sh: builds an opkg package (.ipk) of sipnat without the
# OpenWrt SDK, from a cross-built binary and this repository's files.
#
#   openwrt/mkipk.sh [--variant VARIANT] BINARY ARCH VERSION OUTDIR
#
#   VARIANT  a row of openwrt/variants.sh: base (the default: the package
#            sipnat) or tls (the package sipnat-tls, from a binary built
#            with the cargo feature tls); the package's name and its
#            Depends, Provides and Conflicts fields come from that table,
#            everything else is the same for every variant
#   BINARY   the stripped sipnat executable for ARCH (checked: ELF class,
#            byte order, machine and the ARM float ABI must match ARCH)
#   ARCH     one of openwrt/arch.sh's table: mips_24kc, mipsel_24kc,
#            arm_cortex-a7_neon-vfpv4, arm_cortex-a7 (soft float), ...,
#            aarch64_cortex-a53, x86_64
#   VERSION  package version, e.g. 0.1.0-r1
#   OUTDIR   where <package>_<VERSION>_<ARCH>.ipk is written, e.g.
#            sipnat_0.1.0-r1_mipsel_24kc.ipk (its path is printed)
#
# The package, as OpenWrt's own ipkg-build lays it out: a gzip'd tar holding,
# in this order, ./debian-binary ("2.0"), ./data.tar.gz and ./control.tar.gz.
#   data:    /usr/sbin/sipnat                 0755  (BINARY)
#            /etc/init.d/sipnat               0755  (init.d/sipnat; this and the
#                                                    other scripts without their
#                                                    comments: shrink-script.sh)
#            /etc/config/sipnat               0644  (uci-config/sipnat; conffile)
#            /etc/uci-defaults/90-sipnat      0755  (openwrt/files/sipnat.uci-defaults)
#            /usr/share/sipnat/sipnat.default 0644  (uci-config/sipnat again: the
#                                                    untouched default the
#                                                    uci-defaults script compares with)
#            /usr/libexec/rpcd/sipnat         0755  (openwrt/files/sipnat.rpcd: the
#                                                    status on ubus)
#            /usr/share/rpcd/acl.d/sipnat.json 0644 (openwrt/files/sipnat.acl.json)
#            /usr/share/nftables.d/chain-pre/forward/30-sipnat.nft 0644
#                                                   (openwrt/files/sipnat.nft, without
#                                                    its comments: fw4 accepts the
#                                                    streams sipnat hands to the kernel)
#   control: control (with Require-User: sipnat:sipnat, the package's own
#            user and group; a variant's Depends, Conflicts and Provides),
#            conffiles, postinst, prerm.
# /etc/config/sipnat is 0644, not 0600, because sipnat re-reads it on SIGHUP
# after it has dropped root (option `user`); it holds no secrets today.
# The binary is static (musl), so the base package depends on nothing; the
# tls variant depends on ca-bundle, the CA certificates rustls checks the
# provider's certificate against.
# postinst and prerm hand over to OpenWrt's default_postinst/default_prerm
# (/lib/functions.sh), like every SDK-built package: on install they create
# the user and group Require-User names, run the uci-defaults script once
# and enable and start /etc/init.d/sipnat; on removal they stop and disable
# it (the user stays, as OpenWrt leaves every package's user).
#
# Reproducible: the same inputs give byte-identical packages. Every entry
# gets the mtime SOURCE_DATE_EPOCH (default: the time of the repository's
# last commit, else 0), owner 0:0, fixed modes whatever the umask and the
# source files' modes, entries in ipk.sh's order, pigz/gzip -n (no name, no
# time).
# The packing is openwrt/ipk.sh's, shared with openwrt/mkipk-luci.sh.
# Needs GNU tar and find, sort, and pigz (else gzip).
set -eu

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=arch.sh
. "$ROOT/openwrt/arch.sh"
# shellcheck source-path=SCRIPTDIR source=ipk.sh
. "$ROOT/openwrt/ipk.sh"
# shellcheck source-path=SCRIPTDIR source=variants.sh
. "$ROOT/openwrt/variants.sh"

die() {
	echo "mkipk.sh: $*" >&2
	exit 2
}

VARIANT=base
case "${1:-}" in
	--variant) [ "$#" -ge 2 ] || die "--variant needs a value"; VARIANT="$2"; shift 2 ;;
	--variant=*) VARIANT="${1#*=}"; shift ;;
esac
[ "$#" -eq 4 ] || die "usage: mkipk.sh [--variant VARIANT] BINARY ARCH VERSION OUTDIR"
PACKAGE="$(sipnat_variant_package "$VARIANT")" || die "unknown variant '$VARIANT'; known: $SIPNAT_VARIANTS"
BINARY="$1"
ARCH="$2"
VERSION="$3"
OUTDIR="$4"

[ -f "$BINARY" ] || die "no such file: $BINARY"
sipnat_arch_target "$ARCH" >/dev/null || die "unknown architecture '$ARCH'; known: $SIPNAT_ARCHS"
if ! sipnat_elf_matches "$BINARY" "$ARCH"; then
	die "$BINARY is not an ELF executable for $ARCH (ELF class/data/machine/float ABI: $(sipnat_elf_ident "$BINARY" || echo 'not ELF'); expected $(sipnat_arch_elf "$ARCH"))"
fi
ipk_check_version "$VERSION"

for f in init.d/sipnat uci-config/sipnat openwrt/files/sipnat.uci-defaults \
	openwrt/files/sipnat.rpcd openwrt/files/sipnat.acl.json openwrt/files/sipnat.nft; do
	[ -f "$ROOT/$f" ] || die "missing $f in $ROOT"
done

EPOCH="$(ipk_epoch "$ROOT")"

mkdir -p "$OUTDIR"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/mkipk.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT INT TERM
DATA="$WORK/data"
CTRL="$WORK/control"

ipk_put "$BINARY" 0755 "$DATA/usr/sbin/sipnat"
# The shell scripts without their comments (openwrt/shrink-script.sh).
for s in init.d/sipnat:etc/init.d/sipnat openwrt/files/sipnat.uci-defaults:etc/uci-defaults/90-sipnat \
	openwrt/files/sipnat.rpcd:usr/libexec/rpcd/sipnat; do
	sh "$ROOT/openwrt/shrink-script.sh" "$ROOT/${s%%:*}" "$WORK/script" || die "cannot shrink ${s%%:*}"
	ipk_put "$WORK/script" 0755 "$DATA/${s#*:}"
done
rm -f "$WORK/script"
ipk_put "$ROOT/uci-config/sipnat" 0644 "$DATA/etc/config/sipnat"
ipk_put "$ROOT/uci-config/sipnat" 0644 "$DATA/usr/share/sipnat/sipnat.default"
ipk_put "$ROOT/openwrt/files/sipnat.acl.json" 0644 "$DATA/usr/share/rpcd/acl.d/sipnat.json"
sh "$ROOT/openwrt/shrink-script.sh" "$ROOT/openwrt/files/sipnat.nft" "$WORK/nft" || die "cannot shrink sipnat.nft"
ipk_put "$WORK/nft" 0644 "$DATA/usr/share/nftables.d/chain-pre/forward/30-sipnat.nft"
rm -f "$WORK/nft"

# Installed-Size: the bytes of the files the package installs.
SIZE="$(ipk_size "$DATA")"

# The package's own unprivileged user and group, sipnat, which the shipped
# configuration switches to (`option user 'sipnat'`). OpenWrt's
# default_postinst (add_group_and_user in /lib/functions.sh) creates them
# from this field before it starts the service; with no number given it
# takes the first free uid and gid from 32768, so no fixed id can collide
# with another package's. openwrt/Makefile says the same with USERID.
REQUIRE_USER="sipnat:sipnat"

# The variant's relations, in the order OpenWrt's package-pack.mk writes
# them (after Version): Depends, Conflicts, Provides.
RELATIONS=""
DEPENDS="$(sipnat_variant_depends "$VARIANT")"
PROVIDES="$(sipnat_variant_provides "$VARIANT")"
[ -z "$DEPENDS" ] || RELATIONS="${RELATIONS}Depends: $DEPENDS
"
[ -z "$PROVIDES" ] || RELATIONS="${RELATIONS}Conflicts: $PROVIDES
Provides: $PROVIDES
"
TITLE="SIP/RTP NAT traversal proxy (a siproxd replacement)"
EXTRA="$(sipnat_variant_title "$VARIANT")"
[ -z "$EXTRA" ] || TITLE="$TITLE $EXTRA"

mkdir -p "$CTRL"
{
	printf 'Package: %s\nVersion: %s\n%s' "$PACKAGE" "$VERSION" "$RELATIONS"
	cat <<EOF
Source: package/sipnat
SourceName: sipnat
License: GPL-2.0-or-later
Section: net
Require-User: $REQUIRE_USER
SourceDateEpoch: $EPOCH
Maintainer: sipnat developers
Architecture: $ARCH
Installed-Size: $SIZE
Description: $TITLE
 sipnat lets SIP phones on the LAN register and call through the router's
 NAT: it rewrites SIP for the public address and relays the RTP media.
 Configured in /etc/config/sipnat with siproxd's option names; an existing
 /etc/config/siproxd is imported on first install.
EOF
} >"$CTRL/control"
printf '/etc/config/sipnat\n' >"$CTRL/conffiles"

# Both scripts get their own path as $0; default_postinst/default_prerm take
# the package name from it (sipnat.postinst -> sipnat, sipnat-tls.postinst
# -> sipnat-tls) and find the files to act on in that package's file list.
cat >"$CTRL/postinst" <<'EOF'
#!/bin/sh
# opkg runs this after unpacking; OpenWrt's default_postinst runs the
# package's uci-defaults script and enables and starts its init script.
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
. "${IPKG_INSTROOT}/lib/functions.sh"
default_postinst "$0" "$@"
EOF
cat >"$CTRL/prerm" <<'EOF'
#!/bin/sh
# opkg runs this before removing files; OpenWrt's default_prerm stops and
# disables the package's init script.
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
. "${IPKG_INSTROOT}/lib/functions.sh"
default_prerm "$0" "$@"
EOF
chmod 0644 "$CTRL/control" "$CTRL/conffiles"
chmod 0755 "$CTRL/postinst" "$CTRL/prerm"

IPK="$OUTDIR/${PACKAGE}_${VERSION}_${ARCH}.ipk"
ipk_pack "$WORK" "$EPOCH" "$IPK"
echo "$IPK"
