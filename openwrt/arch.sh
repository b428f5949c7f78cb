# shellcheck shell=sh
# openwrt/arch.sh: the OpenWrt package architectures sipnat is built for
# (six Rust targets, eleven package architectures), and what each means for
# Rust and for the ELF file. Sourced (not run) by
# openwrt/mkipk.sh, openwrt/check-ipk.sh, cross/build-all.sh and
# tests/cross-check.sh, so the mapping lives in one place. POSIX sh.
#
#   The table below. One Rust target serves several OpenWrt architectures
#   when their CPUs share its ISA level and float ABI: the armv7 hard-float
#   build (ARMv7-A, VFPv3-D16, EABI hard float) is packaged for
#   arm_cortex-a7_neon-vfpv4, arm_cortex-a9_vfpv3-d16 and
#   arm_cortex-a15_neon-vfpv4; the armv7 soft-float build (ARMv7-A, no FPU
#   instructions, EABI soft float) for arm_cortex-a7 and arm_cortex-a9; the
#   aarch64 build (ARMv8-A) for aarch64_cortex-a53 and aarch64_generic. opkg
#   installs a package only when its Architecture is one the router lists
#   (`opkg print-architecture`), so each needs a package of its own name.
#
# The Rust targets are the generic ISA levels (MIPS32r2 soft-float, ARMv7-A
# with VFPv3-D16 or without an FPU, ARMv8-A, x86-64): they run on the CPUs
# the OpenWrt names promise, without tuning for them.
#
# ARM float ABI. OpenWrt names an ARM arch $(ARCH)_$(CPU_TYPE) plus
# _$(CPU_SUBTYPE) when the target has an FPU (neon, vfpv3-d16, neon-vfpv4 ...).
# A name without that suffix (arm_cortex-a7: mediatek/mt7629; arm_cortex-a9:
# bcm53xx) is a target without the fpu feature in its target.mk, so
# CONFIG_SOFT_FLOAT is set, the toolchain is built
# --with-float=soft and every library uses the soft-float procedure call
# standard (lang/rust's rust-values.mk picks musleabi rather than musleabihf
# for the same reason). The hard-float build executes VFP instructions,
# which such an arch does not promise (a CPU without an FPU traps on the
# first one), so those archs get the soft-float build, and the float column
# says which ABI the binary's ELF header must declare: e_flags
# EF_ARM_ABI_FLOAT_HARD (0x400) or EF_ARM_ABI_FLOAT_SOFT (0x200); "-" for
# the other machines.

# One line per OpenWrt arch: arch, Rust target, qemu-user binary ("-": runs
# natively), ELF class, ELF data, e_machine, float ABI, boards. The first
# line of a target names its primary arch (the one its table row and tests
# show).
SIPNAT_ARCH_TABLE='
mips_24kc                 mips-unknown-linux-musl         qemu-mips-static    1 2 8   -    ath79 (big-endian)
mipsel_24kc               mipsel-unknown-linux-musl       qemu-mipsel-static  1 1 8   -    ramips MT7621, MT76x8
arm_cortex-a7_neon-vfpv4  armv7-unknown-linux-musleabihf  qemu-arm-static     1 1 40  hard ipq40xx, sunxi (A7)
arm_cortex-a9_vfpv3-d16   armv7-unknown-linux-musleabihf  qemu-arm-static     1 1 40  hard mvebu (Armada 370/XP/38x)
arm_cortex-a15_neon-vfpv4 armv7-unknown-linux-musleabihf  qemu-arm-static     1 1 40  hard ipq806x
arm_cortex-a7             armv7-unknown-linux-musleabi    qemu-arm-static     1 1 40  soft mediatek mt7629 (no FPU)
arm_cortex-a9             armv7-unknown-linux-musleabi    qemu-arm-static     1 1 40  soft bcm53xx (Northstar)
aarch64_cortex-a53        aarch64-unknown-linux-musl      qemu-aarch64-static 2 1 183 -    mediatek filogic, ipq807x, bcm27xx
aarch64_generic           aarch64-unknown-linux-musl      qemu-aarch64-static 2 1 183 -    rockchip armv8, layerscape
x86_64                    x86_64-unknown-linux-musl       -                   2 1 62  -    x86/64 (PCs, VMs)
'

# Prints field $2 (1-based) of the table row whose field $3 is $1; with $4
# = all, every matching row, else the first; fails when none matches.
_sipnat_arch_field() {
	_sipnat_out="$(printf '%s\n' "$SIPNAT_ARCH_TABLE" | awk -v k="$1" -v f="$2" -v c="$3" -v all="${4:-}" \
		'NF >= 8 && $c == k { print $f; if (all != "all") exit }')"
	[ -n "$_sipnat_out" ] || return 1
	printf '%s\n' "$_sipnat_out"
}

# shellcheck disable=SC2034 # used by the scripts that source this file
SIPNAT_ARCHS="$(printf '%s\n' "$SIPNAT_ARCH_TABLE" | awk 'NF >= 8 { printf "%s%s", s, $1; s = " " }')"

# Prints the Rust target for OpenWrt arch $1; fails for an unknown arch.
sipnat_arch_target() {
	_sipnat_arch_field "$1" 2 1
}

# Prints the primary OpenWrt arch for Rust target $1; fails for an unknown
# target.
sipnat_target_arch() {
	_sipnat_arch_field "$1" 1 2
}

# Prints every OpenWrt arch packaged from Rust target $1, one per line.
sipnat_target_archs() {
	_sipnat_arch_field "$1" 1 2 all
}

# Prints the qemu-user binary that runs programs of OpenWrt arch $1
# (empty for one that runs natively on the build machine).
sipnat_arch_qemu() {
	_sipnat_q="$(_sipnat_arch_field "$1" 3 1)" || return 1
	[ "$_sipnat_q" = - ] || echo "$_sipnat_q"
}

# Prints "CLASS DATA MACHINE FLOAT" as an ELF header of arch $1 has them:
# e_ident[EI_CLASS] (1 = 32-bit, 2 = 64-bit), e_ident[EI_DATA] (1 = little,
# 2 = big-endian), e_machine (8 MIPS, 40 ARM, 183 AArch64, 62 x86-64) and,
# for ARM, the float ABI e_flags declares (hard, soft; "-" elsewhere).
sipnat_arch_elf() {
	printf '%s\n' "$SIPNAT_ARCH_TABLE" | awk -v k="$1" 'NF >= 8 && $1 == k { print $4, $5, $6, $7; found = 1; exit } END { exit !found }'
}

# Prints "CLASS DATA MACHINE FLOAT" read from the ELF header of file $1;
# fails when the file is not ELF. FLOAT, for ARM (e_machine 40) only, comes
# from e_flags (bytes 36-39 of a 32-bit header): "hard" with
# EF_ARM_ABI_FLOAT_HARD (0x400), "soft" with EF_ARM_ABI_FLOAT_SOFT (0x200),
# "none" with neither (an old or unusual linker: not packaged); "-" for
# other machines. Reads 40 bytes with od, so it needs no binutils.
sipnat_elf_ident() {
	# shellcheck disable=SC2046 # the byte values are split into $1.. on purpose
	set -- $(od -An -v -tu1 -N40 "$1" 2>/dev/null)
	[ "$#" -ge 20 ] || return 1
	[ "$1" = 127 ] && [ "$2" = 69 ] && [ "$3" = 76 ] && [ "$4" = 70 ] || return 1
	# $5 = class, $6 = data; e_machine is bytes 18-19 (${19}, ${20}) in the
	# file's own byte order.
	if [ "$6" = 2 ]; then
		_sipnat_m=$((${19} * 256 + ${20}))
	else
		_sipnat_m=$((${20} * 256 + ${19}))
	fi
	_sipnat_f=-
	if [ "$_sipnat_m" = 40 ]; then
		# e_flags' second byte holds both float bits (0x400 = 4 << 8,
		# 0x200 = 2 << 8): byte 37 little-endian, byte 38 big-endian.
		[ "$#" -eq 40 ] || return 1
		if [ "$6" = 2 ]; then _sipnat_b=${39}; else _sipnat_b=${38}; fi
		if [ $((_sipnat_b & 4)) -ne 0 ] && [ $((_sipnat_b & 2)) -eq 0 ]; then
			_sipnat_f=hard
		elif [ $((_sipnat_b & 2)) -ne 0 ] && [ $((_sipnat_b & 4)) -eq 0 ]; then
			_sipnat_f=soft
		else
			_sipnat_f=none
		fi
	fi
	echo "$5 $6 $_sipnat_m $_sipnat_f"
}

# True when file $1 is an ELF executable for OpenWrt arch $2.
sipnat_elf_matches() {
	_sipnat_want="$(sipnat_arch_elf "$2")" || return 1
	_sipnat_have="$(sipnat_elf_ident "$1")" || return 1
	[ "$_sipnat_want" = "$_sipnat_have" ]
}
