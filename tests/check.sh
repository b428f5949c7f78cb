#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this script).
# Run as root on Debian: it installs what the tests need (idempotently),
# then checks formatting and lints and runs every test, including the
# network-namespace tests with the real binary, sipp and a real NAT, and the
# cross-built OpenWrt binaries and packages.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/setup-deps.sh
# The lint tools come with rustup; make sure they are there (idempotent).
if command -v rustup >/dev/null 2>&1; then
    rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi

export CARGO_TERM_COLOR=never
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets
# The IPv4-only build (the `ipv6` feature off, issue 14): one code path with
# the same types, so its library tests run too.
cargo clippy --lib --bins --no-default-features -- -D warnings
cargo test --lib --no-default-features
# SIP over TLS (the `tls` feature, the sipnat-tls package, issue 17): its
# lints, the library's tests with it (the record layer against a rustls
# server on loopback), the core's TLS plan, and the real TLS provider
# (kamailio's TLS module) of tests/netns_tls.rs, and the benchmark's TLS smoke run.
cargo clippy --all-targets --features tls -- -D warnings
cargo test --features tls --lib --test sim_tls --test netns_tls --test bench
# The OpenWrt targets: release binaries for MIPS (BE/LE), ARMv7, AArch64 and
# x86_64 (musl), the library and simulation tests under qemu for MIPS BE and
# ARMv7, and the .ipk packages, unpacked and checked.
bash tests/cross-check.sh
