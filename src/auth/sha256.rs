//! SHA-256 (FIPS 180-4 §6.2) and HMAC-SHA-256 (RFC 2104), written out for
//! digest authentication (RFC 7616, RFC 8760) and sipnat's keyed nonces.

use super::block::{BLOCK, Blocks};

/// Bytes of a SHA-256 digest.
pub const LEN: usize = 32;

/// FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube
/// roots of the first 64 primes (the tests check every entry).
const K: [u32; 64] = [
    0x428a_2f98,
    0x7137_4491,
    0xb5c0_fbcf,
    0xe9b5_dba5,
    0x3956_c25b,
    0x59f1_11f1,
    0x923f_82a4,
    0xab1c_5ed5,
    0xd807_aa98,
    0x1283_5b01,
    0x2431_85be,
    0x550c_7dc3,
    0x72be_5d74,
    0x80de_b1fe,
    0x9bdc_06a7,
    0xc19b_f174,
    0xe49b_69c1,
    0xefbe_4786,
    0x0fc1_9dc6,
    0x240c_a1cc,
    0x2de9_2c6f,
    0x4a74_84aa,
    0x5cb0_a9dc,
    0x76f9_88da,
    0x983e_5152,
    0xa831_c66d,
    0xb003_27c8,
    0xbf59_7fc7,
    0xc6e0_0bf3,
    0xd5a7_9147,
    0x06ca_6351,
    0x1429_2967,
    0x27b7_0a85,
    0x2e1b_2138,
    0x4d2c_6dfc,
    0x5338_0d13,
    0x650a_7354,
    0x766a_0abb,
    0x81c2_c92e,
    0x9272_2c85,
    0xa2bf_e8a1,
    0xa81a_664b,
    0xc24b_8b70,
    0xc76c_51a3,
    0xd192_e819,
    0xd699_0624,
    0xf40e_3585,
    0x106a_a070,
    0x19a4_c116,
    0x1e37_6c08,
    0x2748_774c,
    0x34b0_bcb5,
    0x391c_0cb3,
    0x4ed8_aa4a,
    0x5b9c_ca4f,
    0x682e_6ff3,
    0x748f_82ee,
    0x78a5_636f,
    0x84c8_7814,
    0x8cc7_0208,
    0x90be_fffa,
    0xa450_6ceb,
    0xbef9_a3f7,
    0xc671_78f2,
];

/// FIPS 180-4 §5.3.3: the first 32 bits of the fractional parts of the
/// square roots of the first 8 primes.
const INIT: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// One 512-bit block (FIPS 180-4 §6.2.2: the message schedule, then the 64
/// rounds with the functions of §4.1.2).
fn compress(state: &mut [u32; 8], block: &[u8; BLOCK]) {
    let mut w = [0u32; 64];
    for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    for t in 16..64 {
        let s0 = w[t - 15].rotate_right(7) ^ w[t - 15].rotate_right(18) ^ (w[t - 15] >> 3);
        let s1 = w[t - 2].rotate_right(17) ^ w[t - 2].rotate_right(19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16]
            .wrapping_add(s0)
            .wrapping_add(w[t - 7])
            .wrapping_add(s1);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
    for t in 0..64 {
        let big_s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = h
            .wrapping_add(big_s1)
            .wrapping_add(ch)
            .wrapping_add(K[t])
            .wrapping_add(w[t]);
        let big_s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = big_s0.wrapping_add(maj);
        h = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *s = s.wrapping_add(v);
    }
}

/// A running SHA-256 computation.
pub(crate) struct Sha256 {
    state: [u32; 8],
    blocks: Blocks,
}

impl Sha256 {
    pub(crate) const fn new() -> Self {
        Sha256 {
            state: INIT,
            blocks: Blocks::new(),
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        let state = &mut self.state;
        self.blocks.update(data, &mut |b| compress(state, b));
    }

    /// The digest: the eight words, big-endian (FIPS 180-4 §6.2.2).
    pub(crate) fn finish(mut self) -> [u8; LEN] {
        let state = &mut self.state;
        self.blocks.finish(true, &mut |b| compress(state, b));
        let mut out = [0u8; LEN];
        for (chunk, word) in out.chunks_exact_mut(4).zip(self.state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

/// The SHA-256 digest of the concatenation of `parts`, with no allocation.
pub fn digest(parts: &[&[u8]]) -> [u8; LEN] {
    let mut h = Sha256::new();
    for part in parts {
        h.update(part);
    }
    h.finish()
}

/// HMAC-SHA-256 (RFC 2104 §2) of the concatenation of `parts` under `key`:
/// `H(K ⊕ opad, H(K ⊕ ipad, text))`, a key longer than a block hashed first.
pub fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; LEN] {
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..LEN].copy_from_slice(&digest(&[key]));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut pad = [0u8; BLOCK];
    for (p, b) in pad.iter_mut().zip(k) {
        *p = b ^ 0x36;
    }
    let mut inner = Sha256::new();
    inner.update(&pad);
    for part in parts {
        inner.update(part);
    }
    let inner = inner.finish();
    for (p, b) in pad.iter_mut().zip(k) {
        *p = b ^ 0x5c;
    }
    let mut outer = Sha256::new();
    outer.update(&pad);
    outer.update(&inner);
    k.fill(0);
    pad.fill(0);
    outer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::digest::to_hex;

    fn hex(bytes: &[u8]) -> String {
        to_hex(bytes).as_str().to_owned()
    }

    fn primes(n: usize) -> Vec<u64> {
        let mut found: Vec<u64> = Vec::new();
        let mut c = 2;
        while found.len() < n {
            if found.iter().all(|p| c % p != 0) {
                found.push(c);
            }
            c += 1;
        }
        found
    }

    fn frac32(x: f64) -> u32 {
        ((x - x.floor()) * 4_294_967_296.0) as u32
    }

    #[test]
    fn constants_are_fips_180_4s_definitions() {
        for (i, p) in primes(64).into_iter().enumerate() {
            assert_eq!(K[i], frac32((p as f64).cbrt()), "K[{i}]");
        }
        for (i, p) in primes(8).into_iter().enumerate() {
            assert_eq!(INIT[i], frac32((p as f64).sqrt()), "H0[{i}]");
        }
    }

    /// The NIST examples (FIPS 180-2 appendix B; CAVS short messages).
    #[test]
    fn nist_vectors() {
        let cases: [(&[u8], &str); 3] = [
            (
                b"",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                b"abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(hex(&digest(&[input])), want);
        }
    }

    #[test]
    fn one_million_a() {
        let a = vec![b'a'; 1_000_000];
        let want = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
        assert_eq!(hex(&digest(&[&a])), want);
        // The same fed in uneven pieces.
        let pieces: Vec<&[u8]> = a.chunks(997).collect();
        assert_eq!(hex(&digest(&pieces)), want);
    }

    /// 55 bytes leave room for the length in the last block, 56 do not, 64
    /// fill a block exactly.
    #[test]
    fn padding_boundaries() {
        let cases: [(usize, &str); 9] = [
            (
                55,
                "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318",
            ),
            (
                56,
                "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a",
            ),
            (
                57,
                "f13b2d724659eb3bf47f2dd6af1accc87b81f09f59f2b75e5c0bed6589dfe8c6",
            ),
            (
                63,
                "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34",
            ),
            (
                64,
                "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb",
            ),
            (
                65,
                "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0",
            ),
            (
                119,
                "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb",
            ),
            (
                120,
                "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c",
            ),
            (
                128,
                "6836cf13bac400e9105071cd6af47084dfacad4e5e302c94bfed24e013afb73e",
            ),
        ];
        for (n, want) in cases {
            let a = vec![b'a'; n];
            assert_eq!(hex(&digest(&[&a])), want, "{n} × 'a'");
            for cut in 0..=n {
                let (x, y) = a.split_at(cut);
                assert_eq!(hex(&digest(&[x, y])), want, "{n} × 'a' cut at {cut}");
            }
        }
    }

    /// RFC 4231 §4.2–4.8, test cases 1 to 7 (HMAC-SHA-256 column).
    #[test]
    fn rfc_4231_hmac_vectors() {
        let key_131 = [0xaa; 131];
        let cases: [(&[u8], &[u8], &str); 6] = [
            (
                &[0x0b; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 20],
                &[0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            (
                &[
                    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                    23, 24, 25,
                ],
                &[0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            (
                &key_131,
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                &key_131,
                b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (i, (key, data, want)) in cases.into_iter().enumerate() {
            assert_eq!(hex(&hmac(key, &[data])), want, "test case {i}");
        }
        // Test case 5: the output truncated to 128 bits.
        let mac = hmac(&[0x0c; 20], &[b"Test With ", b"Truncation"]);
        assert_eq!(hex(&mac[..16]), "a3b6167473100ee06e0c796c2955552b");
    }

    /// A key of exactly one block is used as it is, not hashed.
    #[test]
    fn hmac_key_of_one_block() {
        let key = [0x42u8; BLOCK];
        let mut ipad = [0u8; BLOCK];
        let mut opad = [0u8; BLOCK];
        for i in 0..BLOCK {
            ipad[i] = key[i] ^ 0x36;
            opad[i] = key[i] ^ 0x5c;
        }
        let inner = digest(&[&ipad, b"msg"]);
        assert_eq!(hmac(&key, &[b"msg"]), digest(&[&opad, &inner]));
    }
}
