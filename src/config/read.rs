//! Reading a whole file into memory: the one reading loop of the binary.
//!
//! std's `read_to_end` is generic: one copy of its loop for each reader type
//! (`File` in `fs::read`, `Take<File>`, a Unix socket), and `fs::read_to_string`
//! brings another. Every file and stream sipnat reads whole goes through
//! [`read_all`] (a `Take<File>`), so the MIPS binary carries the loop once.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Everything `f` holds, but at most `limit` bytes (a caller that bounds
/// what it reads asks for one byte more than it accepts, to see a longer
/// one). A socket is read as a file (`File::from(OwnedFd::from(socket))`).
pub fn read_all(f: File, limit: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    f.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The file at `path`, whole, as text: `std::fs::read_to_string`, with
/// its error for a file that is not UTF-8.
pub fn read_text(path: &Path) -> io::Result<String> {
    let bytes = read_all(File::open(path)?, u64::MAX)?;
    String::from_utf8(bytes).map_err(|_| not_utf8())
}

/// std's error for text that is not UTF-8, word for word.
pub fn not_utf8() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "stream did not contain valid UTF-8",
    )
}
