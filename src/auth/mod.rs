//! Digest authentication of the phones that use sipnat as their proxy
//! (siproxd's `proxy_auth_realm`, `proxy_auth_passwd`, `proxy_auth_pwfile`):
//! the pure building blocks, with no socket, clock or allocation.
//!
//! What it does:
//! - reads a `Proxy-Authorization` value ([`digest::parse_credentials`],
//!   RFC 3261 §22.4 and §25.1, RFC 7616 §3.4);
//! - checks it ([`verify`]): realm, `qop=auth`, our nonce and its age, the
//!   user's HA1, the response (RFC 2617 §3.2.2, RFC 7616 §3.4.1, compared in
//!   constant time), and the nonce-count against replays (RFC 7616 §3.4.5);
//! - MD5 (the default, RFC 3261 §22.4) and SHA-256 (RFC 8760 §2), written
//!   out in [`md5`] and [`sha256`] (no dependency);
//! - issues and checks stateless keyed nonces and keeps the nonce-count
//!   table ([`nonce`]);
//! - reads siproxd's password file, or its single password ([`pwfile`]);
//! - writes the `Proxy-Authenticate` challenge ([`write_challenge`]).
//!
//! What it does not do: decide which requests to challenge (ACK and CANCEL
//! cannot be, RFC 3261 §22.1), build the 407 response, or decide what
//! becomes of the header when the request is forwarded (RFC 3261 §22.3):
//! that is the proxy's. It does not check that the `uri` parameter matches
//! the Request-URI (RFC 2617 §3.2.2.5), which the caller can compare. It
//! does not support `auth-int`, the `-sess` algorithms, `userhash`,
//! SHA-512-256, or `Authentication-Info`.
//!
//! Times are seconds on the caller's clock (house rule 1).

mod block;
pub mod digest;
pub mod md5;
pub mod nonce;
pub mod pwfile;
pub mod sha256;

pub use digest::{Algorithm, CredError, Credentials, Hex, ct_eq, parse_credentials};
pub use nonce::{NcVerdict, NonceCheck, NonceCounts, NonceText, Nonces};
pub use pwfile::{Ha1, Passwords, PwError, PwProblem};

/// The outcome of checking one set of credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The user is who they claim; the request may go on.
    Ok,
    /// The nonce is not one we can vouch for now: too old, of an earlier
    /// run, made up, or forgotten by the nonce-count table. Answer 407 with
    /// a fresh nonce and `stale=true` (RFC 7616 §3.3).
    Stale,
    /// A right response with a nonce-count already seen: a replayed (or
    /// reordered) request (RFC 7616 §3.4.5). Answer 407 with `stale=true`.
    Replay,
    /// The response does not match the user's password.
    WrongPassword,
    /// No secret for this user (for this algorithm). A response is computed
    /// anyway, so that the time taken does not tell which users exist.
    UnknownUser,
    /// Credentials for another realm (RFC 3261 §22.3: for a proxy further
    /// on); the caller leaves them untouched.
    OtherRealm,
    /// Not what we ask for: `qop` missing or other than `auth`, no `cnonce`
    /// or `nc`, or a nonce-count of zero (RFC 7616 §3.4: with a qop, cnonce
    /// and nc are required).
    Malformed,
}

/// Stands in for the HA1 of a user who does not exist.
const DUMMY_HA1: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Checks `creds` for a request of `method` against our `realm`, in this
/// order: realm, qop, nonce (both "not ours" and "too old" give
/// [`Verdict::Stale`]: the client is simply challenged anew, RFC 7616 §3.3),
/// user, response (constant time), and only then the nonce-count, so that a
/// wrong guess never consumes one.
#[allow(clippy::too_many_arguments)]
pub fn verify<const N: usize>(
    creds: &Credentials<'_>,
    method: &str,
    realm: &str,
    pw: &Passwords,
    nonces: &Nonces,
    counts: &mut NonceCounts<N>,
    now_secs: u32,
    lifetime_secs: u32,
) -> Verdict {
    if creds.realm != realm {
        return Verdict::OtherRealm;
    }
    let (Some(qop), Some(cnonce), Some(nc_text), Some(nc)) =
        (creds.qop, creds.cnonce, creds.nc, creds.nc_value())
    else {
        return Verdict::Malformed;
    };
    if !qop.eq_ignore_ascii_case("auth") || nc == 0 {
        return Verdict::Malformed;
    }
    let (issued, id) = match nonces.check(creds.nonce, now_secs, lifetime_secs) {
        NonceCheck::Fresh { issued, id } => (issued, id),
        NonceCheck::Stale | NonceCheck::Invalid => return Verdict::Stale,
    };
    let secret = pw.secret(creds.username, creds.algorithm);
    let ha1 = secret.as_deref().unwrap_or(match creds.algorithm {
        Algorithm::Md5 => &DUMMY_HA1[..32],
        Algorithm::Sha256 => DUMMY_HA1,
    });
    let expected = digest::response(
        creds.algorithm,
        ha1,
        creds.nonce,
        nc_text,
        cnonce,
        qop,
        method,
        creds.uri,
    );
    // RFC 7616 §3.4.1 sends lowercase hex; a client that sends uppercase
    // means the same digest.
    let mut given = Hex::new();
    let fits = given.push_str(creds.response).is_ok();
    given.make_ascii_lowercase();
    let right = ct_eq(given.as_bytes(), expected.as_bytes()) && fits;
    if secret.is_none() {
        return Verdict::UnknownUser;
    }
    if !right {
        return Verdict::WrongPassword;
    }
    match counts.accept(id, issued, nc, now_secs, lifetime_secs) {
        NcVerdict::Ok => Verdict::Ok,
        NcVerdict::Replay => Verdict::Replay,
        NcVerdict::Stale => Verdict::Stale,
    }
}

/// Writes `s` as the inside of a quoted-string, escaping `"` and `\`
/// (RFC 3261 §25.1 `quoted-pair`).
fn write_quoted(out: &mut impl core::fmt::Write, s: &str) -> core::fmt::Result {
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.write_char('\\')?;
        }
        out.write_char(c)?;
    }
    Ok(())
}

/// Writes one `Proxy-Authenticate` value (RFC 3261 §22.3, RFC 7616 §3.3):
/// `Digest realm="…", nonce="…", algorithm=…, qop="auth"`, and
/// `, stale=true` when the client's nonce was only too old. A 407 carries
/// one such header per algorithm, SHA-256 first, then MD5 (RFC 8760 §2.4),
/// both with the same nonce.
pub fn write_challenge(
    out: &mut impl core::fmt::Write,
    realm: &str,
    nonce: &str,
    alg: Algorithm,
    stale: bool,
) -> core::fmt::Result {
    out.write_str("Digest realm=\"")?;
    write_quoted(out, realm)?;
    out.write_str("\", nonce=\"")?;
    write_quoted(out, nonce)?;
    write!(out, "\", algorithm={}, qop=\"auth\"", alg.name())?;
    if stale {
        out.write_str(", stale=true")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
