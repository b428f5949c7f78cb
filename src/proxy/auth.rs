//! Proxy authentication and the blacklist at the proxy's door (siproxd's
//! `proxy_auth_*` and `plugin_blacklist`): which requests are asked for
//! credentials, the 407 challenge, and what a verdict leads to. The digest
//! arithmetic, the nonces and the password file are [`crate::auth`]'s.
//!
//! With `proxy_auth_realm` set, every request from the LAN outside a
//! dialog (REGISTER, INVITE, MESSAGE, SUBSCRIBE, OPTIONS to others, …),
//! whether it goes to the WAN, to another phone or to sipnat's own
//! registrar, must carry a `Proxy-Authorization` for the realm that
//! passes (RFC 3261 §22.3). Not asked: ACK and CANCEL, which cannot be
//! resubmitted and so must not be challenged (§22.1); requests inside a
//! dialog (the dialog was authenticated when it began); an OPTIONS to
//! sipnat itself (a keep-alive); anything from the WAN (sipnat
//! authenticates its own phones, the provider authenticates sipnat's).
//! siproxd asked for REGISTER only, so a phone that was never registered
//! could call out through it; sipnat closes that.
//!
//! A request without our credentials gets `407 Proxy Authentication
//! Required` with one challenge per algorithm offered, sharing one nonce:
//! SHA-256 first, then MD5, by default (RFC 8760 §2.4: the client takes the
//! first it supports; `proxy_auth_algorithms` changes the list for phones
//! that give up on SHA-256 instead), `qop=auth`. The credentials must name
//! the request's URI (RFC 2617 §3.2.2.5) and an algorithm offered.
//! Credentials that pass are removed before the request goes on (they are
//! sipnat's, [`super::write`]); credentials for another realm (the
//! provider's) pass untouched. Stale or replayed nonces are challenged
//! again with `stale=true` (RFC 7616 §3.3), wrong passwords and unknown
//! users again without, and counted for the blacklist.
//!
//! What it does not do: authenticate responses (`Authentication-Info`),
//! `auth-int`, or TLS client certificates.

use super::blacklist::{Blacklist, Policy, Standing};
use super::*;
use crate::auth::{NonceCounts, Nonces, Passwords, Verdict};
use crate::limits::MAX_AUTH_NONCES;

/// Seconds a nonce is good for (RFC 7616 §3.3 leaves it to the server).
/// The nonce-count table stops replays within it; the lifetime bounds
/// that table's work and how long a captured nonce is worth anything.
pub const NONCE_LIFETIME: u32 = 300;

/// The proxy's authentication state: the realm, the passwords, and the
/// keys and table of the nonces.
pub(super) struct AuthState {
    realm: String,
    passwords: Passwords,
    nonces: Nonces,
    counts: NonceCounts<MAX_AUTH_NONCES>,
    /// Nonce times are seconds since this instant (the core has no clock
    /// of its own; a nonce from an earlier run fails its MAC: stale).
    epoch: Instant,
}

impl AuthState {
    fn secs(&self, now: Instant) -> u32 {
        u32::try_from(now.saturating_duration_since(self.epoch).as_secs()).unwrap_or(u32::MAX)
    }
}

/// The key of the nonces, derived from the installation's secret.
fn nonce_key(key: &Key) -> [u8; 32] {
    let mut k = [0u8; 32];
    for (i, chunk) in k.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&key.hash(&[b"auth-nonce", &[i as u8]]).to_be_bytes());
    }
    k
}

impl Proxy {
    /// Authentication and blacklist for `cfg` (at start and on reload; the
    /// nonce table survives a reload with the same realm).
    pub(super) fn configure_auth(&mut self, now: Instant) {
        let cfg = &self.cfg;
        self.auth = match cfg.proxy_auth_realm.clone() {
            None => None,
            Some(realm) => {
                let passwords = match (&cfg.proxy_auth_passwd, &cfg.proxy_auth_pwfile) {
                    // The driver reads the file and hands it over
                    // ([`Proxy::set_passwords`]); until then nobody passes.
                    (_, Some(_)) => Passwords::default(),
                    // Its length is checked with the configuration.
                    (Some(pw), None) => Passwords::single(&pw.0, &realm).unwrap_or_default(),
                    (None, None) => Passwords::default(),
                };
                match self.auth.take() {
                    Some(mut a) if a.realm == realm => {
                        a.passwords = passwords;
                        Some(a)
                    }
                    _ => Some(Box::new(AuthState {
                        realm,
                        passwords,
                        nonces: Nonces::new(nonce_key(&self.key)),
                        counts: NonceCounts::new(),
                        epoch: now,
                    })),
                }
            }
        };
        let policy = Policy {
            hitcount: cfg.blacklist_hitcount,
            duration: (cfg.blacklist_duration > 0)
                .then(|| Duration::from_secs(u64::from(cfg.blacklist_duration))),
            simulate: cfg.blacklist_simulate,
        };
        match (&mut self.blacklist, cfg.blacklist) {
            (Some(b), true) => b.set_policy(policy),
            (b, true) => *b = Some(Blacklist::new(policy)),
            (b, false) => *b = None,
        }
    }

    /// The password file's entries (read by the driver from
    /// `proxy_auth_pwfile`, parsed with the realm).
    pub fn set_passwords(&mut self, passwords: Passwords) {
        if let Some(a) = self.auth.as_mut() {
            a.passwords = passwords;
        }
    }

    /// A `Proxy-Authorization` value with sipnat's realm: sipnat's own, and
    /// never forwarded.
    pub(super) fn is_our_credential(&self, value: &str) -> bool {
        self.auth.as_ref().is_some_and(|a| {
            crate::auth::parse_credentials(value).is_ok_and(|c| c.realm == a.realm)
        })
    }

    /// Clients with failed authentications on record, for the status line.
    pub fn blacklist_len(&self) -> Option<usize> {
        self.blacklist.as_ref().map(|b| b.len())
    }
}

/// The client a message is about, for the blacklist: the user of its From
/// URI, keyed (its host may be a LAN address, masked on the WAN side, so
/// the request and the provider's response would not agree on it).
fn client_key(key: &Key, msg: &Message<'_>) -> u64 {
    let user = msg
        .header(HeaderName::From)
        .and_then(|h| NameAddr::parse(h.value).ok())
        .and_then(|na| na.uri.user);
    key.hash(&[b"client", user.unwrap_or("").as_bytes()])
}

impl Sip<'_> {
    /// The door for a request from the LAN (module doc): true when it may
    /// go on; otherwise it has been answered (407, or 403 for a blocked
    /// client).
    pub(super) fn admit_lan(
        &mut self,
        now: Instant,
        src: Peer,
        req: &Request<'_>,
        to_us: bool,
        out: &mut Outbox,
    ) -> bool {
        let msg = req.msg;
        // A request retried after DNS passed the door when it came: its
        // nonce count must not be taken twice (it would look replayed).
        if self.retrying_since.is_some()
            || src.side != Side::Lan
            || req.to_tag.is_some()
            || matches!(req.method, Method::Ack | Method::Cancel)
            || (to_us && req.method == Method::Options && req.ruri.user.is_none())
        {
            return true;
        }
        if self.p.auth.is_none() && self.p.blacklist.is_none() {
            return true;
        }
        let ip = src.source();
        let client = client_key(&self.key, msg);
        if let Some(b) = self.p.blacklist.as_mut() {
            if b.check(now, ip, client) == Standing::Blocked {
                if !b.policy().simulate {
                    self.stats.bump("blacklist", "refused");
                    self.answer(src, msg, ans(403, "Forbidden (blacklisted)"), out);
                    return false;
                }
                self.stats.bump("blacklist", "would-refuse");
                log::info!("{src}: would be refused (plugin_blacklist_simulate)");
            }
        }
        let Some(a) = self.p.auth.as_mut() else {
            return true;
        };
        let now_secs = a.secs(now);
        let ours = msg
            .headers()
            .iter()
            .filter(|h| h.name == HeaderName::ProxyAuthorization)
            .filter_map(|h| crate::auth::parse_credentials(h.value).ok())
            .find(|c| c.realm == a.realm);
        let verdict = match ours {
            None => None,
            // The credentials must be for this request's URI (RFC 2617
            // §3.2.2.5): a response computed for another cannot be moved.
            Some(c) if c.uri != req.uri => Some(Verdict::Malformed),
            // Only an algorithm sipnat offers (a downgrade is not taken).
            Some(c) if !self.p.cfg.proxy_auth_algorithms.contains(&c.algorithm) => {
                Some(Verdict::Malformed)
            }
            Some(c) => Some(crate::auth::verify(
                &c,
                req.method.as_str(),
                &a.realm,
                &a.passwords,
                &a.nonces,
                &mut a.counts,
                now_secs,
                NONCE_LIFETIME,
            )),
        };
        let stale = match verdict {
            Some(Verdict::Ok) => {
                self.stats.bump("auth", "passed");
                if let Some(b) = self.p.blacklist.as_mut() {
                    b.succeeded(ip, client);
                }
                return true;
            }
            None => {
                self.stats.bump("auth", "challenged");
                false
            }
            Some(Verdict::Stale) => {
                self.stats.bump("auth", "stale");
                true
            }
            Some(Verdict::Replay) => {
                self.stats.bump("auth", "replay");
                true
            }
            Some(v @ (Verdict::WrongPassword | Verdict::UnknownUser)) => {
                self.stats.bump(
                    "auth",
                    if v == Verdict::WrongPassword {
                        "wrong-password"
                    } else {
                        "unknown-user"
                    },
                );
                log::info!("{src}: authentication failed");
                if let Some(b) = self.p.blacklist.as_mut() {
                    if b.failed(now, ip, client) {
                        self.stats.bump("blacklist", "blocked");
                        log::warn!(
                            "{src}: blocked after {} failed authentications (plugin_blacklist)",
                            b.policy().hitcount
                        );
                    }
                }
                false
            }
            Some(_) => {
                self.stats.bump("auth", "malformed");
                false
            }
        };
        self.challenge(src, msg, now_secs, stale, out);
        false
    }

    /// The provider's answer to a REGISTER, for the blacklist (siproxd's
    /// rule): a 4xx to one that carried credentials is a failed
    /// authentication, a 2xx clears the client's count.
    pub(super) fn register_outcome(
        &mut self,
        now: Instant,
        ip: IpAddr,
        msg: &Message<'_>,
        code: u16,
        flags: u8,
    ) {
        if self.p.blacklist.is_none() {
            return;
        }
        let client = client_key(&self.key, msg);
        let Some(b) = self.p.blacklist.as_mut() else {
            return;
        };
        let host = SourceKey::of(ip);
        if (200..300).contains(&code) {
            b.succeeded(host, client);
        } else if (400..500).contains(&code) && flags & branch::FLAG_CREDENTIALS != 0 {
            self.stats.bump("blacklist", "provider-refused");
            if b.failed(now, host, client) {
                self.stats.bump("blacklist", "blocked");
                log::warn!(
                    "{ip}: blocked after {} failed registrations (plugin_blacklist)",
                    b.policy().hitcount
                );
            }
        }
    }

    /// `407 Proxy Authentication Required` with a fresh nonce, one
    /// challenge per algorithm offered, in order (`proxy_auth_algorithms`;
    /// SHA-256, then MD5 by default: RFC 8760 §2.4).
    fn challenge(
        &mut self,
        src: Peer,
        msg: &Message<'_>,
        now_secs: u32,
        stale: bool,
        out: &mut Outbox,
    ) {
        let Some(a) = self.p.auth.as_ref() else {
            return;
        };
        let nonce = a.nonces.issue(now_secs);
        let realm = a.realm.as_str();
        let algorithms = &self.cfg.proxy_auth_algorithms;
        let extra = |w: &mut Buf<'_>| {
            for &alg in algorithms {
                w.put_str("Proxy-Authenticate: ");
                let _ = crate::auth::write_challenge(w, realm, &nonce, alg, stale);
                w.put(b"\r\n");
            }
        };
        let ok = write_answer(
            out,
            &self.key,
            src,
            msg,
            407,
            "Proxy Authentication Required",
            &extra,
        );
        self.count_answer(407, ok);
    }
}
