//! siproxd's shortdial and prefix plugins, built in: the number a LAN
//! phone dials for a new call (an INVITE out of a dialog, going on to the
//! next hop) is changed before the call goes out.
//!
//! - shortdial (`load_plugin = plugin_shortdial`): a Request-URI user as
//!   long as `plugin_shortdial_akey` that starts with its first character
//!   (akey `*00`: `*01` … `*99`) is short dial N, and becomes the N-th
//!   `plugin_shortdial_entry` (a number, or `user@host` for another host);
//! - prefix (`load_plugin = plugin_prefix`): `plugin_prefix_akey` goes
//!   before the number (not after a short dial, as in siproxd).
//!
//! siproxd answers the phone `302 Moved` with the new target, and the
//! phone calls again (a round trip, and an ACK to swallow). sipnat
//! retargets the request itself, as a proxy may (RFC 3261 §16.5): the
//! call goes straight to the new number; the To header stays what the
//! phone dialled.

use super::*;

impl Sip<'_> {
    /// The Request-URI a LAN phone's new call goes to instead, if the dial
    /// plan changes it.
    pub(super) fn dial_plan(&self, src: Peer, req: &Request<'_>, next: &Next) -> Option<String> {
        let cfg = &self.p.cfg;
        if !(cfg.shortdial || cfg.prefix) || !new_call_out(src, req, next) {
            return None;
        }
        let user = req.ruri.user.filter(|u| !u.is_empty())?;
        let scheme = req.uri.get(..req.uri.find(':')? + 1)?;
        let after_user = req.uri.get(req.uri.find('@')?..)?;
        if cfg.shortdial {
            if let Some(entry) =
                short_dial(cfg.shortdial_akey.as_deref(), &cfg.shortdial_entries, user)
            {
                return Some(if entry.contains('@') {
                    format!("{scheme}{entry}")
                } else {
                    format!("{scheme}{entry}{after_user}")
                });
            }
        }
        let prefix = cfg.prefix_akey.as_deref().filter(|_| cfg.prefix)?;
        Some(format!("{scheme}{prefix}{user}{after_user}"))
    }
}

/// The entry short dial `user` names (siproxd: same length as the access
/// key, same first character, then the entry's number from 1).
fn short_dial<'e>(akey: Option<&str>, entries: &'e [String], user: &str) -> Option<&'e str> {
    let akey = akey?;
    let first = akey.chars().next()?;
    let rest = user.strip_prefix(first)?;
    if user.len() != akey.len() || rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: usize = crate::num::parse(rest)?;
    entries.get(n.checked_sub(1)?).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::short_dial;

    #[test]
    fn short_dials_as_siproxd_reads_them() {
        let e = vec!["17474743246".to_string(), "bob@pbx.example".to_string()];
        assert_eq!(short_dial(Some("*00"), &e, "*01"), Some("17474743246"));
        assert_eq!(short_dial(Some("*00"), &e, "*02"), Some("bob@pbx.example"));
        assert_eq!(short_dial(Some("*00"), &e, "*03"), None, "no third entry");
        assert_eq!(
            short_dial(Some("*00"), &e, "*00"),
            None,
            "entries count from 1"
        );
        assert_eq!(short_dial(Some("*00"), &e, "*1"), None, "length differs");
        assert_eq!(
            short_dial(Some("*00"), &e, "#01"),
            None,
            "first character differs"
        );
        assert_eq!(short_dial(Some("*00"), &e, "*0x"), None);
        assert_eq!(short_dial(None, &e, "*01"), None);
    }
}
