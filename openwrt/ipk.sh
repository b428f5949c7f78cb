# shellcheck shell=sh
# openwrt/ipk.sh: how an opkg package (.ipk) is packed reproducibly, without
# the OpenWrt SDK. Sourced (not run) by openwrt/mkipk.sh (sipnat) and
# openwrt/mkipk-luci.sh (luci-app-sipnat), so both packages are packed by
# one mechanism. POSIX sh; needs GNU tar and find (-printf), sort, and pigz
# (else gzip: see _ipk_gzip).
#
# The caller defines die() (message to stderr, exit 2) and stages the
# package in a work directory: WORK/data holds the files as installed,
# WORK/control the control file and maintainer scripts, each with its
# final mode (ipk_put sets one). ipk_pack then writes, as OpenWrt's own
# ipkg-build lays it out, a gzip'd tar holding in this order
# ./debian-binary ("2.0"), ./data.tar.gz and ./control.tar.gz.
#
# Reproducible: every entry gets the mtime EPOCH (ipk_epoch: the
# environment's SOURCE_DATE_EPOCH, else the time of the repository's last
# commit, else 0), owner 0:0, fixed modes whatever the umask and the source
# files' modes, entries in a fixed order (_ipk_tarball), gzip -n (no name,
# no time).

# ipk_check_version VERSION: opkg's versions are [epoch:]upstream[-release],
# starting with a digit.
ipk_check_version() {
	case "$1" in
		[0-9]*) ;;
		*) die "version '$1' must start with a digit" ;;
	esac
	case "$1" in
		*[!0-9A-Za-z.+~:-]*) die "version '$1' has characters opkg does not allow" ;;
	esac
}

# ipk_epoch ROOT: prints the packages' time (see above) for repository ROOT.
ipk_epoch() {
	if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
		_ipk_epoch="$SOURCE_DATE_EPOCH"
	elif _ipk_epoch="$(git -C "$1" log -1 --format=%ct 2>/dev/null)" && [ -n "$_ipk_epoch" ]; then
		:
	else
		_ipk_epoch=0
	fi
	case "$_ipk_epoch" in
		'' | *[!0-9]*) die "SOURCE_DATE_EPOCH '$_ipk_epoch' is not a number of seconds" ;;
	esac
	printf '%s\n' "$_ipk_epoch"
}

# ipk_put SOURCE MODE DEST: copies one file into the staging tree with a
# fixed mode (the copy's mode does not follow the source's or the umask).
ipk_put() {
	mkdir -p "$(dirname "$3")"
	cat "$1" >"$3"
	chmod "$2" "$3"
}

# ipk_size DIR: prints Installed-Size, the bytes of the files under DIR.
ipk_size() {
	_ipk_size=$(find "$1" -type f -exec cat {} + | wc -c)
	printf '%s\n' "$((_ipk_size + 0))"
}

# _ipk_gzip: stdin gzip'd to stdout, as small as gzip's format allows: pigz
# -11 is zopfli, an exhaustive deflate encoder whose output every gunzip
# (opkg's included) reads; 4 % smaller than gzip -9 (the mipsel package:
# -10.9 KB, measured at issue 12), about 2 s a package. Without pigz, gzip
# -9 (a valid but bigger package; a note says so). -n: no name, no time.
_ipk_gzip() {
	if command -v pigz >/dev/null 2>&1; then
		pigz -11 -n -c
	else
		echo "ipk.sh: pigz not found, packing with gzip -9 (a bigger package)" >&2
		gzip -9n
	fi
}

# _ipk_tarball DIR OUT EPOCH: a reproducible gzip'd tar of DIR's contents as
# ./...: the directories first (by name), then the files, largest first
# (equal sizes by name). Identical files (the configuration and its
# reference copy) have equal sizes, so they lie side by side and gzip
# stores the second as a back-reference (its window is 32 KB; sorted by
# name they were 600 KB apart): 3 KB less for the sipnat package.
_ipk_tarball() {
	(
		cd "$1" || exit 1
		find . -type d | LC_ALL=C sort
		find . ! -type d -printf '%s %p\n' | LC_ALL=C sort -k1,1nr -k2 | cut -d' ' -f2-
	) >"$1.list" || die "cannot list $1"
	LC_ALL=C tar --format=gnu --no-recursion --owner=0 --group=0 --numeric-owner \
		--mtime="@$3" -C "$1" -T "$1.list" -cf - | _ipk_gzip >"$2"
	rm -f "$1.list"
}

# ipk_pack WORK EPOCH IPK: packs WORK/data and WORK/control (see above) into
# IPK, written whole or not at all (through IPK.tmp).
ipk_pack() {
	# Directories get fixed modes too (mkdir follows the umask).
	find "$1/data" "$1/control" -type d -exec chmod 0755 {} +
	mkdir -p "$1/pkg"
	_ipk_tarball "$1/data" "$1/pkg/data.tar.gz" "$2"
	_ipk_tarball "$1/control" "$1/pkg/control.tar.gz" "$2"
	printf '2.0\n' >"$1/pkg/debian-binary"
	chmod 0644 "$1/pkg/debian-binary" "$1/pkg/data.tar.gz" "$1/pkg/control.tar.gz"
	chmod 0755 "$1/pkg"
	# The outer order is opkg's: debian-binary, data, control (no --sort
	# here: the names are given in that order).
	LC_ALL=C tar --format=gnu --owner=0 --group=0 --numeric-owner --mtime="@$2" \
		-C "$1/pkg" -cf - ./debian-binary ./data.tar.gz ./control.tar.gz | _ipk_gzip >"$3.tmp"
	mv "$3.tmp" "$3"
}
