# shellcheck shell=sh
# openwrt/variants.sh: the package variants of sipnat, in one place.
# Sourced (not run) by openwrt/mkipk.sh, openwrt/check-ipk.sh,
# cross/build-all.sh and tests/cross-check.sh. POSIX sh.
#
# A variant is the same program built with other cargo features and
# shipped as its own package, the way OpenWrt ships wpad-basic-mbedtls,
# wpad-openssl ... from one hostapd source: the same files (binary at
# /usr/sbin/sipnat, init script, /etc/config/sipnat, ...), another package
# name. Every variant but the base
# - Provides the base package's name, so what depends on sipnat
#   (luci-app-sipnat) is satisfied by either;
# - Conflicts with the base package, so the two are never installed
#   together (they install the same files).
# The base declares no conflict back: as in OpenWrt's hostapd Makefile,
# each variant conflicts with the packages defined before it, never the
# other way round (CONFLICTS becomes `depends on m || PACKAGE_x != y` in
# Kconfig, and a conflict declared both ways would be a dependency loop
# there). opkg reads only the Conflicts of the package it installs:
# sipnat-tls over sipnat stops at that ("The following packages conflict
# with sipnat-tls: sipnat"); sipnat over sipnat-tls stops at opkg's check
# that no file of the new package belongs to another (/usr/sbin/sipnat
# ...). Either way: remove the one, then install the other.
# openwrt/Makefile declares the same variants for the SDK
# (tests/openwrt_makefile.rs checks that they agree with this table).
#
# One line per variant: name, package name, cargo features ("-": none),
# package dependencies ("-": none; comma-separated), then the words added
# to the package's one-line description (none for the base).
#   tls  SIP over TLS toward the provider (cargo feature `tls`: rustls with
#        ring). rustls checks the provider's certificate against the
#        router's CA bundle, /etc/ssl/certs/ca-certificates.crt, which the
#        OpenWrt package ca-bundle installs.
SIPNAT_VARIANT_TABLE='
base  sipnat      -    -
tls   sipnat-tls  tls  ca-bundle  with SIP over TLS
'

# The base variant's package: the name every other variant provides.
# shellcheck disable=SC2034 # used by the scripts that source this file
SIPNAT_BASE_PACKAGE=sipnat

# shellcheck disable=SC2034 # used by the scripts that source this file
SIPNAT_VARIANTS="$(printf '%s\n' "$SIPNAT_VARIANT_TABLE" | awk 'NF >= 4 { printf "%s%s", s, $1; s = " " }')"

# Prints field $2 of the row whose field $3 is $1 ("-" printed as empty);
# fails when no row matches.
_sipnat_variant_field() {
	printf '%s\n' "$SIPNAT_VARIANT_TABLE" | awk -v k="$1" -v f="$2" -v c="$3" '
		NF >= 4 && $c == k {
			found = 1
			if (f == "title") {
				t = ""
				for (i = 5; i <= NF; i++) t = t (i > 5 ? " " : "") $i
				print t
			} else if ($f != "-") {
				print $f
			}
			exit
		}
		END { exit !found }'
}

# Prints the package name of variant $1; fails for an unknown variant.
sipnat_variant_package() {
	_sipnat_variant_field "$1" 2 1
}

# Prints the cargo features of variant $1 (empty for none).
sipnat_variant_features() {
	_sipnat_variant_field "$1" 3 1
}

# Prints the package dependencies of variant $1 (empty for none).
sipnat_variant_depends() {
	_sipnat_variant_field "$1" 4 1
}

# Prints what variant $1 adds to the package's one-line description.
sipnat_variant_title() {
	_sipnat_variant_field "$1" title 1
}

# Prints what variant $1 provides and conflicts with: the base package's
# name, or nothing for the base itself.
sipnat_variant_provides() {
	_sipnat_variant_field "$1" 1 1 >/dev/null || return 1
	[ "$1" = base ] || echo "$SIPNAT_BASE_PACKAGE"
}

# Prints the variant whose package is $1; fails for an unknown package.
sipnat_package_variant() {
	_sipnat_variant_field "$1" 1 2
}
