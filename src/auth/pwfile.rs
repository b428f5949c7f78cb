//! The users and passwords sipnat checks digests against: siproxd's
//! `proxy_auth_pwfile`, or its one `proxy_auth_passwd` for every user.
//!
//! The file is siproxd's: one `user password` per line, whitespace
//! separated (siproxd reads each line with `sscanf("%127s %127s")`; further
//! words are ignored as there); blank lines and lines whose first non-blank
//! character is `#` are skipped. sipnat adds one thing: the password may be
//! written as a precomputed HA1 (RFC 7616 §3.4.2, `H(user:realm:password)`
//! with the configured realm), `md5:<32 hex digits>` or
//! `sha-256:<64 hex digits>`, so the file need not hold the password itself.
//! A user may have one line per algorithm; a plaintext line serves both.
//! (So a plaintext password that starts with `md5:` or `sha-256:` cannot be
//! written in this file.)
//!
//! Only HA1s are kept: a plaintext password is hashed for both algorithms
//! at load time and never stored; the caller should [`wipe`] the buffer the
//! file was read into. Error texts name the line and the problem, never the
//! password. What siproxd did silently (cut a word at 127 characters, skip a
//! line without a password) is refused here, with the line.

use heapless::{String, Vec};

use super::digest::{Algorithm, Hex, ha1, to_hex};
use super::{md5, sha256};
use crate::limits::{MAX_AUTH_USERS, MAX_AUTH_VALUE, MAX_AUTH_WORD};

/// HA1 in lowercase hex, as [`super::digest::response`] takes it.
pub type Ha1 = Hex;

/// What is wrong with a password file line (or the single password).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PwProblem {
    /// A user name with no password after it.
    NoPassword,
    /// A user name longer than [`MAX_AUTH_WORD`] characters.
    UserTooLong,
    /// A password longer than [`MAX_AUTH_WORD`] characters.
    PasswordTooLong,
    /// `md5:` or `sha-256:` not followed by exactly 32 or 64 hex digits.
    BadHa1,
    /// The user already has a secret for this algorithm on an earlier line.
    Duplicate,
    /// More than [`MAX_AUTH_USERS`] users.
    TooManyUsers,
    /// A realm longer than [`MAX_AUTH_VALUE`] (the single password keeps it).
    RealmTooLong,
}

impl core::fmt::Display for PwProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            PwProblem::NoPassword => "a user without a password",
            PwProblem::UserTooLong => "user name longer than 127 characters",
            PwProblem::PasswordTooLong => "password longer than 127 characters",
            PwProblem::BadHa1 => "md5: needs 32 hex digits, sha-256: needs 64",
            PwProblem::Duplicate => "the user already has a password for this algorithm",
            PwProblem::TooManyUsers => "more users than sipnat keeps (64)",
            PwProblem::RealmTooLong => "realm longer than 256 characters",
        })
    }
}

/// A problem and the line (from 1) where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PwError {
    pub line: usize,
    pub what: PwProblem,
}

impl core::fmt::Display for PwError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

/// Overwrites a buffer that held passwords with zeros (best effort: the
/// write is kept from being optimised away).
pub fn wipe(buf: &mut [u8]) {
    buf.fill(0);
    std::hint::black_box(buf);
}

struct Entry {
    user: String<MAX_AUTH_WORD>,
    md5: Option<[u8; md5::LEN]>,
    sha256: Option<[u8; sha256::LEN]>,
}

// The table (about 12 KB) is boxed: `Passwords` is passed by value from
// the file's reader to the proxy, and each copy of it on the way would
// take that much stack (every stack page touched once stays resident) and
// leave the hashes behind there, never wiped. The single password (about
// 400 bytes) stays inline.
#[allow(clippy::large_enum_variant)]
enum Store {
    Table(Box<Vec<Entry, MAX_AUTH_USERS>>),
    /// siproxd's `proxy_auth_passwd`: HA1 depends on the user name, so the
    /// password itself is kept (it is in the configuration anyway).
    Single {
        password: [u8; MAX_AUTH_WORD],
        len: usize,
        realm: String<MAX_AUTH_VALUE>,
    },
}

/// The secrets of every user, in a fixed table (at most [`MAX_AUTH_USERS`]).
pub struct Passwords {
    store: Store,
}

/// No users: nobody passes (until the password file is read).
impl Default for Passwords {
    fn default() -> Self {
        Passwords {
            store: Store::Table(Box::default()),
        }
    }
}

impl core::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match &self.store {
            Store::Table(t) => write!(f, "Passwords({} users)", t.len()),
            Store::Single { .. } => f.write_str("Passwords(one for every user)"),
        }
    }
}

impl Drop for Passwords {
    fn drop(&mut self) {
        match &mut self.store {
            Store::Table(t) => {
                for e in t.iter_mut() {
                    if let Some(h) = e.md5.as_mut() {
                        wipe(h);
                    }
                    if let Some(h) = e.sha256.as_mut() {
                        wipe(h);
                    }
                }
            }
            Store::Single { password, .. } => wipe(password),
        }
    }
}

/// Reads `<prefix><hex digits>` into `out` (any case), `None` when the word
/// does not start with the prefix; `Some(Err)` when the digits are wrong.
fn precomputed<const L: usize>(word: &str, prefix: &str) -> Option<Result<[u8; L], PwProblem>> {
    let head = word.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let digits = word.as_bytes().get(prefix.len()..).unwrap_or_default();
    if digits.len() != 2 * L {
        return Some(Err(PwProblem::BadHa1));
    }
    let value = |c: u8| char::from(c).to_digit(16);
    let mut out = [0u8; L];
    for (o, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        match (value(pair[0]), value(pair[1])) {
            // Two hex digits make one byte: the value fits in a u8.
            (Some(hi), Some(lo)) => *o = (hi * 16 + lo) as u8,
            _ => return Some(Err(PwProblem::BadHa1)),
        }
    }
    Some(Ok(out))
}

/// Whitespace as C's `isspace`, which siproxd's `sscanf` uses.
fn is_space(c: char) -> bool {
    c.is_ascii_whitespace() || c == '\x0b'
}

/// Reads a password file (module doc) for `realm`.
pub fn parse(text: &str, realm: &str) -> Result<Passwords, PwError> {
    let mut table: Box<Vec<Entry, MAX_AUTH_USERS>> = Box::default();
    for (i, line) in text.lines().enumerate() {
        let err = |what| PwError { line: i + 1, what };
        let mut words = line.split(is_space).filter(|w| !w.is_empty());
        let Some(user) = words.next() else {
            continue;
        };
        if user.starts_with('#') {
            continue;
        }
        let password = words.next().ok_or(err(PwProblem::NoPassword))?;
        if user.len() > MAX_AUTH_WORD {
            return Err(err(PwProblem::UserTooLong));
        }
        if password.len() > MAX_AUTH_WORD {
            return Err(err(PwProblem::PasswordTooLong));
        }
        let (mut md5_ha1, mut sha_ha1) = (None, None);
        if let Some(h) = precomputed::<{ md5::LEN }>(password, "md5:") {
            md5_ha1 = Some(h.map_err(err)?);
        } else if let Some(h) = precomputed::<{ sha256::LEN }>(password, "sha-256:") {
            sha_ha1 = Some(h.map_err(err)?);
        } else {
            let a1: [&[u8]; 5] = [
                user.as_bytes(),
                b":",
                realm.as_bytes(),
                b":",
                password.as_bytes(),
            ];
            md5_ha1 = Some(md5::digest(&a1));
            sha_ha1 = Some(sha256::digest(&a1));
        }
        let index = match table.iter().position(|e| e.user == user) {
            Some(index) => index,
            None => {
                let mut name = String::new();
                // user.len() <= MAX_AUTH_WORD, checked above.
                let _ = name.push_str(user);
                let entry = Entry {
                    user: name,
                    md5: None,
                    sha256: None,
                };
                table
                    .push(entry)
                    .map_err(|_| err(PwProblem::TooManyUsers))?;
                table.len() - 1
            }
        };
        let entry = &mut table[index];
        if (md5_ha1.is_some() && entry.md5.is_some())
            || (sha_ha1.is_some() && entry.sha256.is_some())
        {
            return Err(err(PwProblem::Duplicate));
        }
        entry.md5 = entry.md5.or(md5_ha1);
        entry.sha256 = entry.sha256.or(sha_ha1);
    }
    Ok(Passwords {
        store: Store::Table(table),
    })
}

impl Passwords {
    /// One password for every user (siproxd's `proxy_auth_passwd`).
    pub fn single(password: &str, realm: &str) -> Result<Passwords, PwProblem> {
        let pw = password.as_bytes();
        if pw.len() > MAX_AUTH_WORD {
            return Err(PwProblem::PasswordTooLong);
        }
        let mut r = String::new();
        r.push_str(realm).map_err(|_| PwProblem::RealmTooLong)?;
        let mut stored = [0u8; MAX_AUTH_WORD];
        stored[..pw.len()].copy_from_slice(pw);
        Ok(Passwords {
            store: Store::Single {
                password: stored,
                len: pw.len(),
                realm: r,
            },
        })
    }

    /// Users in the table (0 for a single password, which serves anyone).
    pub fn len(&self) -> usize {
        match &self.store {
            Store::Table(t) => t.len(),
            Store::Single { .. } => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The HA1 to check `user`'s response with (RFC 7616 §3.4.2), or `None`
    /// when the user is unknown or has no secret for `alg`.
    pub fn secret(&self, user: &str, alg: Algorithm) -> Option<Ha1> {
        match &self.store {
            Store::Table(t) => {
                let e = t.iter().find(|e| e.user == user)?;
                match alg {
                    Algorithm::Md5 => e.md5.as_ref().map(|h| to_hex(h)),
                    Algorithm::Sha256 => e.sha256.as_ref().map(|h| to_hex(h)),
                }
            }
            Store::Single {
                password,
                len,
                realm,
            } => {
                let pw = core::str::from_utf8(password.get(..*len)?).ok()?;
                Some(ha1(alg, user, realm, pw))
            }
        }
    }
}

#[cfg(test)]
mod tests;
