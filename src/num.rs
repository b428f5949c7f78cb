//! Integer parsing for every reader in sipnat: one copy of std's digit loop.
//!
//! `str::parse` and `from_str_radix` are generic: each integer type (`u8`,
//! `u16`, `u32`, `u64`, `usize`, `i64`) brought its own copy of the loop,
//! and several were inlined where they were called (about 3 KB of MIPS
//! code). Here they all go through `u64::from_str_radix`, then narrow:
//! what is accepted is exactly what `s.parse::<T>()` accepts for an
//! unsigned `T` (an optional `+`, then digits; nothing that does not fit).

/// `s` as an unsigned number in `radix` (10 or 16), as
/// `u64::from_str_radix` reads it; `None` when it is not one.
#[inline(never)]
pub fn parse_u64(s: &str, radix: u32) -> Option<u64> {
    u64::from_str_radix(s, radix).ok()
}

/// `s` in decimal as the unsigned `T`: what `s.parse::<T>().ok()` gives.
pub fn parse<T: TryFrom<u64>>(s: &str) -> Option<T> {
    parse_u64(s, 10).and_then(|v| T::try_from(v).ok())
}

/// Digits (no sign) in `radix` as a non-negative `i64`, as
/// `i64::from_str_radix` reads them.
pub fn parse_i64_digits(s: &str, radix: u32) -> Option<i64> {
    parse_u64(s, radix).and_then(|v| i64::try_from(v).ok())
}

/// A decimal `i64`, signed: what `s.parse::<i64>().ok()` gives.
pub fn parse_i64(s: &str) -> Option<i64> {
    match s.strip_prefix('-') {
        // down to i64::MIN, whose magnitude no i64 holds
        Some(d) if !d.starts_with('+') => 0i64.checked_sub_unsigned(parse_u64(d, 10)?),
        Some(_) => None,
        None => parse_i64_digits(s, 10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_as_std() {
        for s in [
            "",
            "+",
            "-",
            "0",
            "+7",
            "-0",
            "-7",
            "255",
            "256",
            "65535",
            "65536",
            "4294967295",
            "4294967296",
            "9223372036854775807",
            "9223372036854775808",
            "18446744073709551615",
            "18446744073709551616",
            " 1",
            "1 ",
            "1a",
            "0x10",
            "ff",
            "-9223372036854775808",
            "-9223372036854775809",
            "--1",
            "-+1",
            "+-1",
        ] {
            assert_eq!(parse::<u8>(s), s.parse::<u8>().ok(), "{s:?}");
            assert_eq!(parse::<u16>(s), s.parse::<u16>().ok(), "{s:?}");
            assert_eq!(parse::<u32>(s), s.parse::<u32>().ok(), "{s:?}");
            assert_eq!(parse::<u64>(s), s.parse::<u64>().ok(), "{s:?}");
            assert_eq!(parse::<usize>(s), s.parse::<usize>().ok(), "{s:?}");
            assert_eq!(parse_i64(s), s.parse::<i64>().ok(), "{s:?}");
            if !s.starts_with(['-', '+']) {
                for radix in [10, 16] {
                    assert_eq!(
                        parse_i64_digits(s, radix),
                        i64::from_str_radix(s, radix).ok(),
                        "{s:?}"
                    );
                }
                assert_eq!(
                    parse_u64(s, 16).and_then(|v| u32::try_from(v).ok()),
                    u32::from_str_radix(s, 16).ok(),
                    "{s:?}"
                );
            }
        }
    }
}
