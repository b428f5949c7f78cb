#!/bin/sh
# openwrt/mkipk-luci.sh: builds the opkg package of luci-app-sipnat, the
# LuCI web interface of sipnat, without the OpenWrt SDK.
#
#   openwrt/mkipk-luci.sh VERSION OUTDIR
#
#   VERSION  package version, e.g. 0.1.0-r1 (cross/build-all.sh gives the
#            sipnat package's)
#   OUTDIR   where luci-app-sipnat_<VERSION>_all.ipk is written (its path
#            is printed)
#
# The package holds what LuCI's luci.mk installs from
# openwrt/luci-app-sipnat/ (whose Makefile builds the same package in the
# SDK): htdocs/* under /www and root/* under /, every file 0644 except
# those under root/etc/init.d, root/etc/uci-defaults and root/usr/libexec
# (0755; none today). Today:
#   /www/luci-static/resources/view/sipnat/settings.js  the Settings page
#   /www/luci-static/resources/view/sipnat/status.js    the Status page
#   /usr/share/luci/menu.d/luci-app-sipnat.json         Services > SIP NAT proxy
#   /usr/share/rpcd/acl.d/luci-app-sipnat.json          uci sipnat, ubus sipnat
# Translations (po/<lang>/sipnat.po) are not packed here: LuCI reads them
# compiled (.lmo, by luci-base's po2lmo), which the SDK build does as
# luci-i18n-sipnat-<lang> packages.
# control: Architecture all (JavaScript and JSON only), Depends sipnat,
# luci-base; postinst as luci.mk's: on the router (not in an image build)
# it clears LuCI's menu and module caches, so the new pages show, and
# reloads rpcd, so it reads the new ACL file.
#
# Reproducible, packed by openwrt/ipk.sh like the sipnat package (see there).
set -eu

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
APP="$ROOT/openwrt/luci-app-sipnat"
# shellcheck source-path=SCRIPTDIR source=ipk.sh
. "$ROOT/openwrt/ipk.sh"

die() {
	echo "mkipk-luci.sh: $*" >&2
	exit 2
}

[ "$#" -eq 2 ] || die "usage: mkipk-luci.sh VERSION OUTDIR"
VERSION="$1"
OUTDIR="$2"
ipk_check_version "$VERSION"
if [ ! -d "$APP/htdocs" ] || [ ! -d "$APP/root" ]; then
	die "missing $APP/htdocs or $APP/root"
fi
EPOCH="$(ipk_epoch "$ROOT")"

mkdir -p "$OUTDIR"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/mkipk-luci.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT INT TERM
DATA="$WORK/data"
CTRL="$WORK/control"

# stage SRCDIR DESTDIR: every file under SRCDIR, at the same path under DESTDIR.
stage() {
	(cd "$1" && find . -type f | LC_ALL=C sort) | while IFS= read -r f; do
		f="${f#./}"
		case "$f" in
			etc/init.d/* | etc/uci-defaults/* | usr/libexec/*) mode=0755 ;;
			*) mode=0644 ;;
		esac
		ipk_put "$1/$f" "$mode" "$2/$f"
	done
}
stage "$APP/htdocs" "$DATA/www"
stage "$APP/root" "$DATA"

SIZE="$(ipk_size "$DATA")"
MAINTAINER="$(sed -n 's/^PKG_MAINTAINER:=//p' "$APP/Makefile")"
[ -n "$MAINTAINER" ] || die "no PKG_MAINTAINER in $APP/Makefile"

mkdir -p "$CTRL"
cat >"$CTRL/control" <<EOF
Package: luci-app-sipnat
Version: $VERSION
Depends: sipnat, luci-base
Source: feeds/luci/applications/luci-app-sipnat
SourceName: luci-app-sipnat
License: GPL-2.0-or-later
Section: luci
SourceDateEpoch: $EPOCH
Maintainer: $MAINTAINER
Architecture: all
Installed-Size: $SIZE
Description: LuCI support for sipnat, the SIP/RTP NAT proxy
 Settings (every option of /etc/config/sipnat, one section per instance)
 and live status (registrations, calls, relay counters, DNS cache) of
 sipnat, under Services > SIP NAT proxy.
EOF
cat >"$CTRL/postinst" <<'EOF'
#!/bin/sh
# opkg runs this after unpacking. On the router itself (IPKG_INSTROOT is
# empty; it names the image's root while an image is built) LuCI must
# forget its cached menu and modules to show the new pages, and rpcd must
# read its ACL files again to grant them.
[ -n "${IPKG_INSTROOT}" ] || {
	rm -f /tmp/luci-indexcache*
	rm -rf /tmp/luci-modulecache/
	/etc/init.d/rpcd reload 2>/dev/null
	exit 0
}
EOF
chmod 0644 "$CTRL/control"
chmod 0755 "$CTRL/postinst"

IPK="$OUTDIR/luci-app-sipnat_${VERSION}_all.ipk"
ipk_pack "$WORK" "$EPOCH" "$IPK"
echo "$IPK"
