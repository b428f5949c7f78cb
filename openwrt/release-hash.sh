#!/bin/sh
# openwrt/release-hash.sh: the source tarball of a sipnat release and the
# PKG_HASH that openwrt/Makefile (feed layout) checks it with.
#
#   openwrt/release-hash.sh [--repo DIR] [--out DIR] [--write URL] TAG
#
#   TAG          the release tag, v<version>; <version> must be Cargo.toml's
#                version and openwrt/Makefile's PKG_VERSION at that tag
#   --repo DIR   the git repository (default: the one this script is in)
#   --out DIR    where sipnat-<version>.tar.gz is written (default: the
#                current directory)
#   --write URL  also set PKG_SOURCE_URL:=URL and PKG_HASH in the feed block
#                of DIR's openwrt/Makefile (the working tree's file; it must
#                have PKG_VERSION:=<version>). URL is the directory the
#                tarball is downloaded from, e.g.
#                https://github.com/OWNER/sipnat/releases/download/v0.1.0
#
# The tarball is `git archive` of the tag with every file under
# sipnat-<version>/ (the directory OpenWrt unpacks a package's source
# into, $(PKG_NAME)-$(PKG_VERSION)), gzip'd with -9n: the same tag gives
# the same bytes with the same git and gzip, but the hash is only the
# download's if the maintainer uploads THIS file as the release asset (a
# forge's on-the-fly archive of the tag may be compressed differently).
# Prints the tarball's path, then `PKG_HASH:=<sha256>`.
# Needs git, gzip and sha256sum.
set -eu

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
REPO="$ROOT"
OUT=.
URL=""

die() {
	echo "release-hash.sh: $*" >&2
	exit 2
}

while [ "$#" -gt 0 ]; do
	case "$1" in
		--repo) REPO="${2:?--repo needs a directory}"; shift 2 ;;
		--out) OUT="${2:?--out needs a directory}"; shift 2 ;;
		--write) URL="${2:?--write needs the download URL}"; shift 2 ;;
		-h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
		-*) die "unknown option '$1' (try --help)" ;;
		*) break ;;
	esac
done
[ "$#" -eq 1 ] || die "usage: release-hash.sh [--repo DIR] [--out DIR] [--write URL] TAG"
TAG="$1"
case "$TAG" in
	v[0-9]*) VERSION="${TAG#v}" ;;
	*) die "tag '$TAG' is not v<version>" ;;
esac

git -C "$REPO" rev-parse -q --verify "refs/tags/$TAG^{commit}" >/dev/null ||
	die "no tag $TAG in $REPO"
cargo_version="$(git -C "$REPO" show "$TAG:Cargo.toml" |
	sed -n 's/^version *= *"\([^"]*\)".*/\1/p' | head -n1)"
[ "$cargo_version" = "$VERSION" ] ||
	die "$TAG: Cargo.toml says version $cargo_version, the tag $VERSION"
mk_version="$(git -C "$REPO" show "$TAG:openwrt/Makefile" | sed -n 's/^PKG_VERSION:=//p')"
[ "$mk_version" = "$VERSION" ] ||
	die "$TAG: openwrt/Makefile says PKG_VERSION:=$mk_version, the tag $VERSION"

mkdir -p "$OUT"
TARBALL="$(cd "$OUT" && pwd)/sipnat-$VERSION.tar.gz"
git -C "$REPO" archive --format=tar --prefix="sipnat-$VERSION/" "$TAG" | gzip -9n >"$TARBALL.tmp"
mv "$TARBALL.tmp" "$TARBALL"
HASH="$(sha256sum "$TARBALL" | cut -d' ' -f1)"

if [ -n "$URL" ]; then
	MK="$REPO/openwrt/Makefile"
	[ "$(sed -n 's/^PKG_VERSION:=//p' "$MK")" = "$VERSION" ] ||
		die "$MK: PKG_VERSION is not $VERSION"
	if ! grep -q '^  PKG_SOURCE_URL:=' "$MK" || ! grep -q '^  PKG_HASH:=' "$MK"; then
		die "$MK has no feed block (PKG_SOURCE_URL, PKG_HASH) to fill in"
	fi
	case "$URL" in
		*[\|\&\\]*) die "URL '$URL' has characters this script does not write" ;;
	esac
	sed -e "s|^  PKG_SOURCE_URL:=.*|  PKG_SOURCE_URL:=$URL|" \
		-e "s|^  PKG_HASH:=.*|  PKG_HASH:=$HASH|" "$MK" >"$MK.tmp"
	mv "$MK.tmp" "$MK"
fi

echo "$TARBALL"
echo "PKG_HASH:=$HASH"
