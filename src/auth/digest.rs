//! The digest computations (RFC 2617 §3.2.2.1–3.2.2.3, RFC 7616 §3.4.1–3.4.3)
//! and the reader of a `Proxy-Authorization` / `Authorization` value (RFC
//! 3261 §22.4 and §25.1, RFC 7616 §3.4).
//!
//! Only `qop=auth` responses are computed (A2 = `method:digest-uri`); the
//! `-sess` algorithms, `auth-int` and `userhash` are not supported.

use heapless::String;

use super::{md5, sha256};
use crate::limits::{MAX_AUTH_PARAMS, MAX_AUTH_VALUE};

/// Lowercase hex of a digest: 32 characters for MD5, 64 for SHA-256.
pub type Hex = String<64>;

/// The hash a digest uses (RFC 7616 §3.4.1 and §6.1, RFC 8760 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// The default when a challenge or a response names none (RFC 3261
    /// §22.4, RFC 2617 §3.2.1).
    Md5,
    /// RFC 8760 §2.1, offered first (RFC 8760 §2.4).
    Sha256,
}

impl Algorithm {
    /// The token as written in `algorithm=` (RFC 7616 §6.1 registry).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Reads an `algorithm` token, ignoring case (RFC 7616 §3.3: "a string
    /// indicating an algorithm", tokens compared case-insensitively); the
    /// `-sess` variants and others are not supported (`None`).
    pub fn parse(token: &str) -> Option<Algorithm> {
        if token.eq_ignore_ascii_case("MD5") {
            Some(Algorithm::Md5)
        } else if token.eq_ignore_ascii_case("SHA-256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }

    /// `H(parts joined)` in lowercase hex (RFC 7616 §3.4.1: "the data
    /// presented as ... lowercase hexadecimal").
    pub fn hash_hex(self, parts: &[&[u8]]) -> Hex {
        match self {
            Algorithm::Md5 => to_hex(&md5::digest(parts)),
            Algorithm::Sha256 => to_hex(&sha256::digest(parts)),
        }
    }
}

/// Lowercase hex of up to 32 bytes (longer input is cut at 32 bytes).
pub fn to_hex(bytes: &[u8]) -> Hex {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Hex::new();
    for b in bytes.iter().take(32) {
        // 32 bytes make 64 characters: the capacity of Hex.
        let _ = out.push(char::from(DIGITS[usize::from(b >> 4)]));
        let _ = out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Compares two byte strings in time that depends on their length only, not
/// on where they differ (RFC 7616 §5.1 discusses why a response check must
/// not leak). Strings of different lengths compare unequal at once.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
        // Keeps the compiler from turning the loop into an early exit.
        diff = std::hint::black_box(diff);
    }
    diff == 0
}

/// HA1 = `H(username ":" realm ":" password)` (RFC 2617 §3.2.2.2, RFC 7616
/// §3.4.2), in lowercase hex.
pub fn ha1(alg: Algorithm, user: &str, realm: &str, password: &str) -> Hex {
    alg.hash_hex(&[
        user.as_bytes(),
        b":",
        realm.as_bytes(),
        b":",
        password.as_bytes(),
    ])
}

/// The request-digest for `qop=auth` (RFC 2617 §3.2.2.1, RFC 7616 §3.4.1):
/// `KD(HA1, nonce:nc:cnonce:qop:H(A2))` with A2 = `method:digest-uri`
/// (RFC 7616 §3.4.3), where `KD(s, d) = H(s:d)`. `ha1_hex` is HA1 in
/// lowercase hex; `nc` the eight hex digits as the client sent them.
#[allow(clippy::too_many_arguments)]
pub fn response(
    alg: Algorithm,
    ha1_hex: &str,
    nonce: &str,
    nc: &str,
    cnonce: &str,
    qop: &str,
    method: &str,
    digest_uri: &str,
) -> Hex {
    let ha2 = alg.hash_hex(&[method.as_bytes(), b":", digest_uri.as_bytes()]);
    alg.hash_hex(&[
        ha1_hex.as_bytes(),
        b":",
        nonce.as_bytes(),
        b":",
        nc.as_bytes(),
        b":",
        cnonce.as_bytes(),
        b":",
        qop.as_bytes(),
        b":",
        ha2.as_bytes(),
    ])
}

/// The parameters of one `Digest` credentials value (RFC 3261 §25.1
/// `digest-response`, RFC 7616 §3.4), borrowed from the header value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credentials<'a> {
    pub username: &'a str,
    pub realm: &'a str,
    pub nonce: &'a str,
    /// `digest-uri`: the Request-URI the client signed.
    pub uri: &'a str,
    /// `request-digest`, as sent.
    pub response: &'a str,
    /// [`Algorithm::Md5`] when the client named none (RFC 3261 §22.4).
    pub algorithm: Algorithm,
    pub cnonce: Option<&'a str>,
    pub qop: Option<&'a str>,
    /// `nonce-count`: eight hex digits, as sent (checked at parse).
    pub nc: Option<&'a str>,
    pub opaque: Option<&'a str>,
}

impl Credentials<'_> {
    /// The nonce-count as a number (`nc` is checked to be eight hex digits
    /// when parsed).
    pub fn nc_value(&self) -> Option<u32> {
        self.nc
            .and_then(|nc| crate::num::parse_u64(nc, 16))
            .and_then(|v| u32::try_from(v).ok())
    }
}

/// Why a credentials value was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredError {
    /// Another scheme than `Digest` (e.g. `Basic`, forbidden by RFC 3261
    /// §22.1), or none.
    NotDigest,
    /// Not `name=value` pairs separated by commas (RFC 3261 §25.1); the
    /// byte offset where reading stopped.
    Syntax(usize),
    /// A quoted-string with a backslash escape (RFC 3261 §25.1
    /// `quoted-pair`): legal, but no honest client needs one in digest
    /// parameters, and unescaping would need a copy.
    Escape,
    /// A value longer than [`MAX_AUTH_VALUE`] or more than
    /// [`MAX_AUTH_PARAMS`] parameters.
    TooLong,
    /// A parameter given twice (RFC 7616 §3.4: each at most once).
    Duplicate(&'static str),
    /// A parameter RFC 3261 §22.4 requires is missing.
    Missing(&'static str),
    /// An `algorithm` other than MD5 and SHA-256.
    Algorithm,
    /// An `nc` that is not eight hex digits (RFC 2617 §3.2.2 `nc-value`).
    BadNc,
}

impl core::fmt::Display for CredError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CredError::NotDigest => f.write_str("not Digest credentials"),
            CredError::Syntax(at) => write!(f, "malformed credentials at byte {at}"),
            CredError::Escape => f.write_str("escaped character in a quoted value"),
            CredError::TooLong => f.write_str("credentials too long"),
            CredError::Duplicate(p) => write!(f, "parameter {p} given twice"),
            CredError::Missing(p) => write!(f, "parameter {p} missing"),
            CredError::Algorithm => f.write_str("unsupported algorithm"),
            CredError::BadNc => f.write_str("nc is not eight hex digits"),
        }
    }
}

/// RFC 3261 §25.1 `token` characters.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Linear white space, folding included (RFC 3261 §25.1 `LWS`).
fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// A cursor over the value; every slice it hands out starts and ends at an
/// ASCII byte, so it is a valid `str` slice.
struct Reader<'a> {
    s: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.at).copied()
    }

    fn skip_lws(&mut self) {
        while self.peek().is_some_and(is_lws) {
            self.at += 1;
        }
    }

    fn token(&mut self) -> &'a str {
        let start = self.at;
        while self.peek().is_some_and(is_token) {
            self.at += 1;
        }
        self.s.get(start..self.at).unwrap_or("")
    }

    /// A quoted-string's content, the reader being on its opening quote.
    fn quoted(&mut self) -> Result<&'a str, CredError> {
        self.at += 1;
        let start = self.at;
        loop {
            match self.peek() {
                None => return Err(CredError::Syntax(self.at)),
                Some(b'"') => break,
                Some(b'\\') => return Err(CredError::Escape),
                // qdtext: no control characters but LWS (RFC 3261 §25.1).
                Some(b) if (b < 0x20 && !is_lws(b)) || b == 0x7f => {
                    return Err(CredError::Syntax(self.at));
                }
                Some(_) => self.at += 1,
            }
            if self.at - start > MAX_AUTH_VALUE {
                return Err(CredError::TooLong);
            }
        }
        let value = self.s.get(start..self.at).ok_or(CredError::Syntax(start))?;
        self.at += 1;
        Ok(value)
    }
}

/// Reads the value of a `Proxy-Authorization` or `Authorization` header
/// (RFC 3261 §22.4, §25.1 `credentials`): `Digest` (any case), then
/// comma-separated `name=value` pairs with optional LWS, each value a
/// token or a quoted-string (both accepted for every parameter, since
/// clients differ on `qop` and `algorithm`). Unknown parameters are
/// ignored (RFC 3261 §25.1 `auth-param`); a repeated one is refused.
/// `username`, `realm`, `nonce`, `uri` and `response` are required.
/// Borrows from `value`; allocates nothing; never panics.
pub fn parse_credentials(value: &str) -> Result<Credentials<'_>, CredError> {
    let mut r = Reader { s: value, at: 0 };
    r.skip_lws();
    if !r.token().eq_ignore_ascii_case("Digest") {
        return Err(CredError::NotDigest);
    }
    let after_scheme = r.at;
    r.skip_lws();
    if r.at == after_scheme {
        return Err(CredError::NotDigest);
    }
    let mut found: [Option<&str>; 10] = [None; 10];
    const NAMES: [&str; 10] = [
        "username",
        "realm",
        "nonce",
        "uri",
        "response",
        "algorithm",
        "cnonce",
        "qop",
        "nc",
        "opaque",
    ];
    let mut count = 0;
    loop {
        count += 1;
        if count > MAX_AUTH_PARAMS {
            return Err(CredError::TooLong);
        }
        let name = r.token();
        if name.is_empty() || name.len() > MAX_AUTH_VALUE {
            return Err(CredError::Syntax(r.at));
        }
        r.skip_lws();
        if r.peek() != Some(b'=') {
            return Err(CredError::Syntax(r.at));
        }
        r.at += 1;
        r.skip_lws();
        let v = if r.peek() == Some(b'"') {
            r.quoted()?
        } else {
            let t = r.token();
            if t.is_empty() {
                return Err(CredError::Syntax(r.at));
            }
            if t.len() > MAX_AUTH_VALUE {
                return Err(CredError::TooLong);
            }
            t
        };
        if let Some(i) = NAMES.iter().position(|n| n.eq_ignore_ascii_case(name)) {
            if found[i].replace(v).is_some() {
                return Err(CredError::Duplicate(NAMES[i]));
            }
        }
        r.skip_lws();
        match r.peek() {
            None => break,
            Some(b',') => {
                r.at += 1;
                r.skip_lws();
            }
            Some(_) => return Err(CredError::Syntax(r.at)),
        }
    }
    let [
        username,
        realm,
        nonce,
        uri,
        response,
        algorithm,
        cnonce,
        qop,
        nc,
        opaque,
    ] = found;
    let algorithm = match algorithm {
        None => Algorithm::Md5,
        Some(a) => Algorithm::parse(a).ok_or(CredError::Algorithm)?,
    };
    if let Some(nc) = nc {
        if nc.len() != 8 || !nc.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CredError::BadNc);
        }
    }
    Ok(Credentials {
        username: username.ok_or(CredError::Missing("username"))?,
        realm: realm.ok_or(CredError::Missing("realm"))?,
        nonce: nonce.ok_or(CredError::Missing("nonce"))?,
        uri: uri.ok_or(CredError::Missing("uri"))?,
        response: response.ok_or(CredError::Missing("response"))?,
        algorithm,
        cnonce,
        qop,
        nc,
        opaque,
    })
}

#[cfg(test)]
mod tests;
