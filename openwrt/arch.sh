# shellcheck shell=sh
# openwrt/arch.sh: the five OpenWrt package architectures sipnat is built
# for, and what each means for Rust and for the ELF file. Sourced (not run) by
# openwrt/mkipk.sh, openwrt/check-ipk.sh, cross/build-all.sh and
# tests/cross-check.sh, so the mapping lives in one place. POSIX sh.
#
#   OpenWrt arch (opkg)        Rust target                        boards
#   mips_24kc                  mips-unknown-linux-musl            ath79 (big-endian)
#   mipsel_24kc                mipsel-unknown-linux-musl          ramips MT7621/MT76x8
#   arm_cortex-a7_neon-vfpv4   armv7-unknown-linux-musleabihf     ipq40xx, mt7629, sunxi
#   aarch64_cortex-a53         aarch64-unknown-linux-musl         mediatek filogic, ipq807x, rpi3
#   x86_64                     x86_64-unknown-linux-musl          x86/64 (PCs, VMs)
#
# The Rust targets are the generic ISA levels (MIPS32r2 soft-float, ARMv7-A
# with VFPv3-D16, ARMv8-A, x86-64): they run on the CPUs the OpenWrt names
# promise, without tuning for them.

# shellcheck disable=SC2034 # used by the scripts that source this file
SIPNAT_ARCHS="mips_24kc mipsel_24kc arm_cortex-a7_neon-vfpv4 aarch64_cortex-a53 x86_64"

# Prints the Rust target for OpenWrt arch $1; fails for an unknown arch.
sipnat_arch_target() {
	case "$1" in
		mips_24kc) echo mips-unknown-linux-musl ;;
		mipsel_24kc) echo mipsel-unknown-linux-musl ;;
		arm_cortex-a7_neon-vfpv4) echo armv7-unknown-linux-musleabihf ;;
		aarch64_cortex-a53) echo aarch64-unknown-linux-musl ;;
		x86_64) echo x86_64-unknown-linux-musl ;;
		*) return 1 ;;
	esac
}

# Prints the OpenWrt arch for Rust target $1; fails for an unknown target.
sipnat_target_arch() {
	case "$1" in
		mips-unknown-linux-musl) echo mips_24kc ;;
		mipsel-unknown-linux-musl) echo mipsel_24kc ;;
		armv7-unknown-linux-musleabihf) echo arm_cortex-a7_neon-vfpv4 ;;
		aarch64-unknown-linux-musl) echo aarch64_cortex-a53 ;;
		x86_64-unknown-linux-musl) echo x86_64 ;;
		*) return 1 ;;
	esac
}

# Prints the qemu-user binary that runs programs of OpenWrt arch $1
# (empty for x86_64, which runs natively on the build machine).
sipnat_arch_qemu() {
	case "$1" in
		mips_24kc) echo qemu-mips-static ;;
		mipsel_24kc) echo qemu-mipsel-static ;;
		arm_cortex-a7_neon-vfpv4) echo qemu-arm-static ;;
		aarch64_cortex-a53) echo qemu-aarch64-static ;;
		x86_64) echo "" ;;
		*) return 1 ;;
	esac
}

# Prints "CLASS DATA MACHINE" as an ELF header of arch $1 has them:
# e_ident[EI_CLASS] (1 = 32-bit, 2 = 64-bit), e_ident[EI_DATA] (1 = little,
# 2 = big-endian) and e_machine (8 MIPS, 40 ARM, 183 AArch64, 62 x86-64).
sipnat_arch_elf() {
	case "$1" in
		mips_24kc) echo "1 2 8" ;;
		mipsel_24kc) echo "1 1 8" ;;
		arm_cortex-a7_neon-vfpv4) echo "1 1 40" ;;
		aarch64_cortex-a53) echo "2 1 183" ;;
		x86_64) echo "2 1 62" ;;
		*) return 1 ;;
	esac
}

# Prints "CLASS DATA MACHINE" read from the ELF header of file $1; fails when
# the file is not ELF. Reads 20 bytes with od, so it needs no binutils.
sipnat_elf_ident() {
	# shellcheck disable=SC2046 # the byte values are split into $1.. on purpose
	set -- $(od -An -v -tu1 -N20 "$1" 2>/dev/null)
	[ "$#" -eq 20 ] || return 1
	[ "$1" = 127 ] && [ "$2" = 69 ] && [ "$3" = 76 ] && [ "$4" = 70 ] || return 1
	# $5 = class, $6 = data; e_machine is bytes 18-19 (${19}, ${20}) in the
	# file's own byte order.
	if [ "$6" = 2 ]; then
		echo "$5 $6 $((${19} * 256 + ${20}))"
	else
		echo "$5 $6 $((${20} * 256 + ${19}))"
	fi
}

# True when file $1 is an ELF executable for OpenWrt arch $2.
sipnat_elf_matches() {
	_sipnat_want="$(sipnat_arch_elf "$2")" || return 1
	_sipnat_have="$(sipnat_elf_ident "$1")" || return 1
	[ "$_sipnat_want" = "$_sipnat_have" ]
}
