//! The 64-byte block buffering that MD5 (RFC 1321 §3.1–3.2) and SHA-256
//! (FIPS 180-4 §5.1.1) share: both pad a message with one `1` bit, zeros, and
//! the message length in bits as a 64-bit number, so that the total is a
//! multiple of 512 bits. They differ only in the byte order of that length,
//! and in the compression function, which the caller passes in.

/// Bytes of one block.
pub(crate) const BLOCK: usize = 64;

/// The bytes not yet compressed, and how many bytes were fed in all.
pub(crate) struct Blocks {
    buf: [u8; BLOCK],
    filled: usize,
    total: u64,
}

impl Blocks {
    pub(crate) const fn new() -> Self {
        Blocks {
            buf: [0; BLOCK],
            filled: 0,
            total: 0,
        }
    }

    /// Feeds `data`, calling `compress` once for every block completed.
    pub(crate) fn update(&mut self, mut data: &[u8], compress: &mut impl FnMut(&[u8; BLOCK])) {
        self.total = self.total.wrapping_add(data.len() as u64);
        if self.filled > 0 {
            let take = (BLOCK - self.filled).min(data.len());
            let (head, rest) = data.split_at(take);
            self.buf[self.filled..self.filled + take].copy_from_slice(head);
            self.filled += take;
            data = rest;
            if self.filled < BLOCK {
                return;
            }
            compress(&self.buf);
            self.filled = 0;
        }
        let mut chunks = data.chunks_exact(BLOCK);
        for chunk in &mut chunks {
            // chunks_exact yields slices of exactly BLOCK bytes.
            if let Ok(block) = <&[u8; BLOCK]>::try_from(chunk) {
                compress(block);
            }
        }
        let rest = chunks.remainder();
        self.buf[..rest.len()].copy_from_slice(rest);
        self.filled = rest.len();
    }

    /// Pads (RFC 1321 §3.1–3.2, FIPS 180-4 §5.1.1) and compresses the last
    /// one or two blocks; the bit length goes little-endian for MD5,
    /// big-endian for SHA-256.
    pub(crate) fn finish(mut self, big_endian: bool, compress: &mut impl FnMut(&[u8; BLOCK])) {
        let bits = self.total.wrapping_mul(8);
        let len = if big_endian {
            bits.to_be_bytes()
        } else {
            bits.to_le_bytes()
        };
        self.buf[self.filled] = 0x80;
        self.buf[self.filled + 1..].fill(0);
        if self.filled + 1 > BLOCK - 8 {
            // No room left for the length: it goes in one more block.
            compress(&self.buf);
            self.buf.fill(0);
        }
        self.buf[BLOCK - 8..].copy_from_slice(&len);
        compress(&self.buf);
        self.buf.fill(0);
    }
}
