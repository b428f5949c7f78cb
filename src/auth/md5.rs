//! MD5 (RFC 1321), written out for digest authentication only.
//!
//! MD5 is broken for collision resistance; SIP digest (RFC 3261 §22.4,
//! RFC 2617) still uses it as its default algorithm, and a phone that knows
//! nothing newer answers with it. That use (a keyed challenge-response with
//! a server-chosen nonce) is what this module is for; nothing else in sipnat
//! should pick MD5.

use super::block::{BLOCK, Blocks};

/// Bytes of an MD5 digest.
pub const LEN: usize = 16;

/// The sine table of RFC 1321 §3.4: `T[i]` is the integer part of
/// `4294967296 × |sin(i + 1)|` (the tests check every entry).
const T: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// The left-rotation amounts of each round's four steps (RFC 1321 §3.4).
const S: [[u32; 4]; 4] = [
    [7, 12, 17, 22],
    [5, 9, 14, 20],
    [4, 11, 16, 23],
    [6, 10, 15, 21],
];

/// The buffer A, B, C, D as RFC 1321 §3.3 initialises it.
const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// One 512-bit block through the four rounds (RFC 1321 §3.4).
fn compress(state: &mut [u32; 4], block: &[u8; BLOCK]) {
    let mut x = [0u32; 16];
    for (word, bytes) in x.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    let [mut a, mut b, mut c, mut d] = *state;
    for i in 0..64 {
        let round = i / 16;
        // The round function and which word of the block the step reads.
        let (f, k) = match round {
            0 => ((b & c) | (!b & d), i),
            1 => ((b & d) | (c & !d), (5 * i + 1) % 16),
            2 => (b ^ c ^ d, (3 * i + 5) % 16),
            _ => (c ^ (b | !d), (7 * i) % 16),
        };
        let sum = a.wrapping_add(f).wrapping_add(x[k]).wrapping_add(T[i]);
        let next = b.wrapping_add(sum.rotate_left(S[round][i % 4]));
        a = d;
        d = c;
        c = b;
        b = next;
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d]) {
        *s = s.wrapping_add(v);
    }
}

/// A running MD5 computation.
pub(crate) struct Md5 {
    state: [u32; 4],
    blocks: Blocks,
}

impl Md5 {
    pub(crate) const fn new() -> Self {
        Md5 {
            state: INIT,
            blocks: Blocks::new(),
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        let state = &mut self.state;
        self.blocks.update(data, &mut |b| compress(state, b));
    }

    /// The digest: A, B, C, D, each low-order byte first (RFC 1321 §3.5).
    pub(crate) fn finish(mut self) -> [u8; LEN] {
        let state = &mut self.state;
        self.blocks.finish(false, &mut |b| compress(state, b));
        let mut out = [0u8; LEN];
        for (chunk, word) in out.chunks_exact_mut(4).zip(self.state) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        out
    }
}

/// The MD5 digest of the concatenation of `parts`, with no allocation.
pub fn digest(parts: &[&[u8]]) -> [u8; LEN] {
    let mut h = Md5::new();
    for part in parts {
        h.update(part);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::digest::to_hex;

    fn hex(parts: &[&[u8]]) -> String {
        to_hex(&digest(parts)).as_str().to_owned()
    }

    #[test]
    fn sine_table_is_rfc_1321s_definition() {
        for (i, t) in T.iter().enumerate() {
            let want = (((i + 1) as f64).sin().abs() * 4_294_967_296.0) as u32;
            assert_eq!(*t, want, "T[{}]", i + 1);
        }
    }

    /// RFC 1321 §A.5, the test suite.
    #[test]
    fn rfc_1321_test_suite() {
        let suite: [(&str, &str); 7] = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, want) in suite {
            assert_eq!(hex(&[input.as_bytes()]), want, "MD5({input:?})");
        }
    }

    /// Around the padding boundaries: 55 bytes leave room for the length in
    /// the last block, 56 do not, 64 fill a block exactly.
    #[test]
    fn padding_boundaries() {
        let cases: [(usize, &str); 6] = [
            (55, "ef1772b6dff9a122358552954ad0df65"),
            (56, "3b0c8ac703f828b04c6c197006d17218"),
            (57, "652b906d60af96844ebd21b674f35e93"),
            (63, "b06521f39153d618550606be297466d5"),
            (64, "014842d480b571495a4a0363793f7367"),
            (65, "c743a45e0d2e6a95cb859adae0248435"),
        ];
        for (n, want) in cases {
            assert_eq!(hex(&[&vec![b'a'; n]]), want, "{n} × 'a'");
        }
    }

    #[test]
    fn parts_hash_as_their_concatenation() {
        let whole =
            b"12345678901234567890123456789012345678901234567890123456789012345678901234567890";
        for cut in 0..whole.len() {
            let (x, y) = whole.split_at(cut);
            assert_eq!(digest(&[x, b"", y]), digest(&[whole]), "cut at {cut}");
        }
        assert_eq!(
            hex(&[&vec![b'a'; 1_000_000]]),
            "7707d6ae4e027c70eea2a935c2296f21"
        );
    }
}
