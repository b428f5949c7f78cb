//! The registration table: which phone on the LAN answers for which
//! address-of-record (AOR), and where to send its requests.
//!
//! Both of siproxd's modes fill it (RFC 3261 §10):
//! * **forwarded**: the phone's REGISTER goes on to the provider's registrar
//!   with each Contact masqueraded; an entry is created when the REGISTER
//!   passes (unconfirmed, short-lived) and confirmed with the registrar's
//!   expiry when its 2xx comes back;
//! * **local**: the REGISTER is addressed to sipnat itself, which is then the
//!   registrar (entries are confirmed at once).
//!
//! Capacity is [`MAX_REGISTRATIONS`]; a *new* binding that does not fit is
//! refused (the caller answers 503) and no binding is ever evicted. Entries
//! leave only by expiry or de-registration. One source host (an IPv4
//! address, or an IPv6 /64: [`SourceKey`]) may hold at most
//! [`MAX_REGISTRATIONS_PER_HOST`] of them ([`Registry::over_host_quota`]),
//! so no single host can fill the table for the others.
//!
//! The table persists as text ([`Registry::write_text`], [`Registry::read_text`])
//! with absolute Unix expiry times, so the driver can save it atomically and a
//! restart loses no phone. It does not do I/O itself.

use super::Peer;
use crate::limits::{MAX_REGISTRATIONS, MAX_REGISTRATIONS_PER_HOST, MAX_STORED_URI};
use crate::net::{Addr, SourceKey};
use crate::side::Side;
use crate::transport::Transport;
use core::fmt::Write as _;
use heapless::String;
use std::time::{Duration, Instant};

pub type UriString = String<MAX_STORED_URI>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// `user@host` of the To URI (host lower-case, no scheme, port or params).
    pub aor: UriString,
    /// The phone's own Contact URI, as it wrote it (without `<>` or header params).
    pub contact: UriString,
    /// Where requests for this phone are sent: the source address of its
    /// REGISTER (RFC 3581 symmetric response routing, NAT-safe)...
    pub addr: Addr,
    /// ...and the transport it came over (over TCP, its connection).
    pub transport: Transport,
    pub expires_at: Instant,
    /// A registrar (sipnat itself, or the provider with a 2xx) accepted it.
    pub confirmed: bool,
    /// sipnat is the registrar for this binding.
    pub local: bool,
}

/// The table has no room for a new binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

#[derive(Default)]
pub struct Registry {
    slots: heapless::Vec<Registration, MAX_REGISTRATIONS>,
}

/// Build the AOR key `user@host` (host lower-case). `None` if it does not fit.
pub fn aor_key(user: Option<&str>, host: &str) -> Option<UriString> {
    let mut s = UriString::new();
    if let Some(u) = user {
        s.push_str(u).ok()?;
        s.push('@').ok()?;
    }
    for c in host.chars() {
        s.push(c.to_ascii_lowercase()).ok()?;
    }
    Some(s)
}

/// The user part of an AOR key.
pub fn aor_user(aor: &str) -> Option<&str> {
    aor.split_once('@').map(|(u, _)| u)
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Registration> {
        self.slots.iter()
    }

    /// Create or refresh the binding (aor, contact). A refresh keeps the
    /// binding's confirmed state and takes the later expiry of the two, so a
    /// REGISTER retransmission never shortens a confirmed binding.
    pub fn upsert(
        &mut self,
        aor: &str,
        contact: &str,
        from: Peer,
        expires_at: Instant,
        confirmed: bool,
        local: bool,
    ) -> Result<(), Full> {
        let (addr, transport) = (from.addr, from.transport);
        if let Some(r) = self
            .slots
            .iter_mut()
            .find(|r| r.aor == aor && r.contact == contact)
        {
            r.addr = addr;
            r.transport = transport;
            r.local = local;
            if confirmed {
                r.confirmed = true;
                r.expires_at = expires_at;
            } else if expires_at > r.expires_at {
                r.expires_at = expires_at;
            }
            return Ok(());
        }
        let mut a = UriString::new();
        let mut c = UriString::new();
        a.push_str(aor).map_err(|_| Full)?;
        c.push_str(contact).map_err(|_| Full)?;
        self.slots
            .push(Registration {
                aor: a,
                contact: c,
                addr,
                transport,
                expires_at,
                confirmed,
                local,
            })
            .map_err(|_| Full)
    }

    /// Would (aor, contact) need a new slot that the table does not have?
    pub fn would_overflow(&self, aor: &str, contact: &str) -> bool {
        self.slots.is_full()
            && !self
                .slots
                .iter()
                .any(|r| r.aor == aor && r.contact == contact)
    }

    /// Bindings (pending ones included) whose phone sends from `host` (an
    /// IPv4 address, or an IPv6 /64).
    pub fn count_ip(&self, host: SourceKey) -> usize {
        self.slots.iter().filter(|r| held_by(r, host)).count()
    }

    /// Would (aor, contact) be a binding `host` does not hold yet? A refresh
    /// of one it holds is not new; a binding that moves to `host` from
    /// another is.
    pub fn is_new_for(&self, aor: &str, contact: &str, host: SourceKey) -> bool {
        !self
            .slots
            .iter()
            .any(|r| r.aor == aor && r.contact == contact && held_by(r, host))
    }

    /// Would `new` more bindings from `host` take it past its share of the
    /// table ([`MAX_REGISTRATIONS_PER_HOST`])?
    pub fn over_host_quota(&self, host: SourceKey, new: usize) -> bool {
        new > 0 && self.count_ip(host) + new > MAX_REGISTRATIONS_PER_HOST
    }

    /// Confirm (aor, contact) with a registrar's expiry.
    pub fn confirm(&mut self, aor: &str, contact: &str, expires_at: Instant) -> bool {
        match self
            .slots
            .iter_mut()
            .find(|r| r.aor == aor && r.contact == contact)
        {
            Some(r) => {
                r.confirmed = true;
                r.expires_at = expires_at;
                true
            }
            None => false,
        }
    }

    /// Remove the bindings matching `pred`; returns how many were removed
    /// and whether any of them was confirmed (the saved file must change).
    pub fn remove_where(&mut self, mut pred: impl FnMut(&Registration) -> bool) -> (usize, bool) {
        let mut removed = 0;
        let mut confirmed = false;
        let mut i = 0;
        while i < self.slots.len() {
            if pred(&self.slots[i]) {
                confirmed |= self.slots[i].confirmed;
                self.slots.swap_remove(i);
                removed += 1;
            } else {
                i += 1;
            }
        }
        (removed, confirmed)
    }

    /// Drop expired bindings. Returns (removed, any confirmed).
    pub fn expire(&mut self, now: Instant) -> (usize, bool) {
        self.remove_where(|r| r.expires_at <= now)
    }

    /// Live bindings of an AOR.
    pub fn by_aor<'s>(&'s self, aor: &'s str) -> impl Iterator<Item = &'s Registration> + 's {
        self.slots.iter().filter(move |r| r.aor == aor)
    }

    /// The most recently refreshed binding whose AOR has this user part: how
    /// an incoming request for `sip:user@<sipnat>` finds its phone.
    pub fn by_user(&self, user: &str) -> Option<&Registration> {
        self.slots
            .iter()
            .filter(|r| aor_user(&r.aor) == Some(user) || contact_user(&r.contact) == Some(user))
            .max_by_key(|r| (r.confirmed, r.expires_at))
    }

    /// A binding whose phone sends from this address.
    pub fn by_addr(&self, addr: Addr) -> Option<&Registration> {
        self.slots.iter().find(|r| r.addr == addr)
    }

    /// Is some phone of this host (an IPv4 address, or an IPv6 /64)
    /// registered (any port)?
    pub fn has_ip(&self, host: SourceKey) -> bool {
        self.slots.iter().any(|r| held_by(r, host))
    }

    /// Serialise the confirmed bindings. `unix_now` is the wall-clock time
    /// that corresponds to `now` (the driver reads both clocks).
    ///
    /// Format, one binding per line, fields separated by one space:
    /// `reg <aor> <contact> <ip:port> <expires-unix> <local 0|1>`.
    pub fn write_text(&self, now: Instant, unix_now: u64, out: &mut std::string::String) {
        for r in self.slots.iter().filter(|r| r.confirmed) {
            let left = r.expires_at.saturating_duration_since(now).as_secs();
            let _ = writeln!(
                out,
                "reg {} {} {} {} {}{}{}",
                r.aor,
                r.contact,
                r.addr,
                unix_now.saturating_add(left),
                u8::from(r.local),
                if r.transport == Transport::Udp {
                    ""
                } else {
                    " "
                },
                if r.transport == Transport::Udp {
                    ""
                } else {
                    r.transport.param()
                },
            );
        }
    }

    /// Load bindings written by [`Registry::write_text`]; lines of other
    /// kinds are left to the caller (`other` gets them). Returns how many
    /// bindings were restored; expired ones are skipped.
    ///
    /// All or nothing: the whole text is parsed and checked first, and only
    /// when every line is good (and the bindings fit beside the ones already
    /// here) is the table changed. On a bad line the error names it
    /// (`line N: …`) and the table is left exactly as it was. Never panics,
    /// whatever the text: an expiry further away than any registrar can
    /// grant ([`MAX_SAVED_EXPIRY`]) is a bad line, not an overflow.
    pub fn read_text(
        &mut self,
        now: Instant,
        unix_now: u64,
        text: &str,
        mut other: impl FnMut(&str) -> Result<(), std::string::String>,
    ) -> Result<usize, std::string::String> {
        let mut staged: Vec<Staged<'_>> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |e: &str| format!("line {}: {e}", i + 1);
            let mut f = line.split(' ');
            if f.next() != Some("reg") {
                other(line).map_err(|e| at(&e))?;
                continue;
            }
            if let Some(s) = parse_reg(&mut f, now, unix_now).map_err(at)? {
                staged.push(s);
            }
        }
        // Distinct new bindings must fit; duplicates in the file and
        // bindings already here only refresh.
        let mut new = 0;
        for (k, s) in staged.iter().enumerate() {
            let seen = staged[..k]
                .iter()
                .any(|t| t.aor == s.aor && t.contact == s.contact);
            let here = self
                .slots
                .iter()
                .any(|r| r.aor == s.aor && r.contact == s.contact);
            if !seen && !here {
                new += 1;
            }
        }
        if self.slots.len() + new > MAX_REGISTRATIONS {
            return Err(format!(
                "{} bindings, more than the table holds ({MAX_REGISTRATIONS})",
                self.slots.len() + new
            ));
        }
        for s in &staged {
            // fits: every field was checked against its capacity above, and
            // the count just now
            let from = Peer {
                addr: s.addr,
                side: Side::Lan,
                transport: s.transport,
            };
            self.upsert(s.aor, s.contact, from, s.expires_at, true, s.local)
                .map_err(|_| "registration table full".to_string())?;
        }
        Ok(staged.len())
    }
}

/// The furthest expiry a saved binding may have, in seconds from now: every
/// expiry sipnat stores comes from a SIP `expires` value, which is a 32-bit
/// number (RFC 3261 §20.19, §25.1 `delta-seconds`). A file saying more was
/// not written by sipnat.
pub const MAX_SAVED_EXPIRY: u64 = u32::MAX as u64;

/// Does binding `r`'s phone send from `host`?
fn held_by(r: &Registration, host: SourceKey) -> bool {
    SourceKey::of(r.addr.ip()) == host
}

/// One checked line of a registration file, not yet in the table.
struct Staged<'t> {
    aor: &'t str,
    contact: &'t str,
    addr: Addr,
    transport: Transport,
    expires_at: Instant,
    local: bool,
}

/// The fields after `reg`; `Ok(None)` for a binding that has expired or,
/// without the `ipv6` feature, that this build cannot hold (IPv6).
fn parse_reg<'t>(
    f: &mut impl Iterator<Item = &'t str>,
    now: Instant,
    unix_now: u64,
) -> Result<Option<Staged<'t>>, &'static str> {
    const BAD: &str = "malformed registration";
    let aor = stored_field(f.next())?;
    let contact = stored_field(f.next())?;
    let addr = f.next().ok_or(BAD)?;
    // An IPv6 binding (`[v6]:port`), as a release with IPv6 writes it, is
    // skipped by a build without IPv6, not an error: an error would drop
    // the whole file with its key, and every token the providers hold with
    // it (a downgrade). A build with IPv6 reads it (a mapped address as
    // IPv4, one with a scope is malformed).
    #[cfg(not(feature = "ipv6"))]
    if addr.starts_with('[') && addr.parse::<std::net::SocketAddrV6>().is_ok() {
        log::info!("registration file: skipped the IPv6 binding of {aor}");
        return Ok(None);
    }
    #[cfg(feature = "ipv6")]
    let addr: Addr = addr.parse().map_err(|_| BAD)?;
    #[cfg(not(feature = "ipv6"))]
    let addr = Addr::V4(addr.parse().map_err(|_| BAD)?);
    let exp: u64 = crate::num::parse(f.next().ok_or(BAD)?).ok_or(BAD)?;
    let local = match f.next() {
        Some("0") => false,
        Some("1") => true,
        _ => return Err(BAD),
    };
    // Optional: the transport, when not UDP (files before SIP over TCP have
    // no such field).
    let transport = match f.next() {
        None => Transport::Udp,
        Some(t) => Transport::parse(t).ok_or(BAD)?,
    };
    if f.next().is_some() {
        return Err(BAD);
    }
    if exp <= unix_now {
        return Ok(None);
    }
    let left = exp - unix_now;
    if left > MAX_SAVED_EXPIRY {
        return Err("expiry out of range");
    }
    let expires_at = now
        .checked_add(Duration::from_secs(left))
        .ok_or("expiry out of range")?;
    Ok(Some(Staged {
        aor,
        contact,
        addr,
        transport,
        expires_at,
        local,
    }))
}

/// An AOR or contact as the file holds it: present, short enough for the
/// table, and free of control characters (the contact becomes a
/// Request-URI, so a CR or LF in it would split a SIP message).
fn stored_field(v: Option<&str>) -> Result<&str, &'static str> {
    let v = v.ok_or("malformed registration")?;
    if v.is_empty() {
        return Err("malformed registration (empty field)");
    }
    if v.len() > MAX_STORED_URI {
        return Err("malformed registration (field too long)");
    }
    if v.bytes().any(|b| b.is_ascii_control()) {
        return Err("malformed registration (control character)");
    }
    Ok(v)
}

/// The user part of a stored contact URI (`sip:user@host…`).
fn contact_user(contact: &str) -> Option<&str> {
    let rest = contact.split_once(':')?.1;
    let (userinfo, _) = rest.split_once('@')?;
    Some(userinfo.split(':').next().unwrap_or(userinfo))
}

#[cfg(test)]
mod tests;
