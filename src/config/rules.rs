//! The options of siproxd's regex, regex_body and siptrunk plugins: three
//! lists each, paired by position as siproxd pairs them (the n-th
//! `plugin_regex_desc` with the n-th `plugin_regex_pattern` and the n-th
//! `plugin_regex_replace`). They are collected with their lines while the
//! file is read, and checked when it is done: every pattern compiles
//! ([`crate::regex`]), every account is `sip:user@host`, the counts
//! match, every `\N` of a replacement names a group of its pattern; each
//! mistake is an error at its line.

use super::Diagnostic;
use crate::regex::{Regex, Replacement};

/// One rule of plugin_regex or plugin_regex_body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegexRule {
    /// `plugin_regex_desc`: named in the log when the rule is applied.
    pub desc: String,
    pub re: Regex,
    pub replace: Replacement,
}

/// One trunk of plugin_siptrunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunk {
    /// `plugin_siptrunk_name`, for the log.
    pub name: String,
    /// `plugin_siptrunk_account` (`sip:user@host`) as the AOR of the
    /// registration it names: `user@host`, the host lower-case.
    pub account: String,
    /// `plugin_siptrunk_numbers_regex`, matched against the dialled user.
    pub numbers: Regex,
}

/// Each plugin's option prefix and its three lists: name, pattern, and
/// the replacement or account.
const PLUGINS: [(&str, [&str; 3]); 3] = [
    ("plugin_regex", ["desc", "pattern", "replace"]),
    ("plugin_regex_body", ["desc", "pattern", "replace"]),
    ("plugin_siptrunk", ["name", "numbers_regex", "account"]),
];
const TRUNK: usize = 2;

type Lines = Vec<(String, usize)>;

/// The three plugins' lists as read: (value, line).
#[derive(Default)]
pub(super) struct RuleParts {
    lists: [[Lines; 3]; 3],
}

/// Apply one of the three plugins' options; `None`: not one of them.
pub(super) fn apply(
    parts: &mut RuleParts,
    key: &str,
    value: &str,
    line: usize,
) -> Option<Result<(), String>> {
    for (lists, (plugin, names)) in parts.lists.iter_mut().zip(PLUGINS) {
        let Some(word) = key.strip_prefix(plugin).and_then(|r| r.strip_prefix('_')) else {
            continue;
        };
        let Some(list) = names.iter().position(|n| *n == word) else {
            continue;
        };
        // text for the log, a URI or a body: no control characters
        if value.chars().any(char::is_control) || value.len() > crate::regex::MAX_PATTERN {
            return Some(Err(format!(
                "{key} = '{value}': at most 512 characters, no control characters"
            )));
        }
        lists[list].push((value.to_string(), line));
        return Some(Ok(()));
    }
    None
}

/// `sip:user@host` as a registration's AOR key: `user@host`, host
/// lower-case (as [`crate::proxy`] keeps registrations).
fn account_aor(value: &str) -> Option<String> {
    let uri = crate::sip::Uri::parse(value).ok()?;
    let user = uri.user.filter(|u| !u.is_empty())?;
    let sip = uri.scheme.eq_ignore_ascii_case("sip") || uri.scheme.eq_ignore_ascii_case("sips");
    (sip && !value.contains(['<', '>', '"', ' ']))
        .then(|| format!("{user}@{}", uri.host_str.to_ascii_lowercase()))
}

/// The rules of plugin_regex and plugin_regex_body and the trunks, each
/// mistake an error at its line.
pub(super) fn pair(
    parts: RuleParts,
    file: &str,
    diags: &mut Vec<Diagnostic>,
) -> [(Vec<RegexRule>, Vec<Trunk>); 3] {
    let mut out: [(Vec<RegexRule>, Vec<Trunk>); 3] = Default::default();
    for (p, [names, patterns, thirds]) in parts.lists.iter().enumerate() {
        let (plugin, words) = PLUGINS[p];
        let (n, m, r) = (names.len(), patterns.len(), thirds.len());
        let paired = n == m && n == r;
        // every pattern and account is checked, paired or not
        for i in 0..m.max(r) {
            let pattern = patterns
                .get(i)
                .map(|(pat, line)| (Regex::new(pat), pat, *line));
            let third = thirds.get(i).map(|(t, line)| (t, *line));
            let (why, list, value, line) = match (pattern, third) {
                (Some((Err(e), pat, line)), _) => (e.to_string(), 1, pat, line),
                (_, Some((t, line))) if p == TRUNK && account_aor(t).is_none() => (
                    "not a SIP account sip:user@host (the AOR its phone registers)".into(),
                    2,
                    t,
                    line,
                ),
                (Some((Ok(re), _, _)), Some((t, line))) if paired => {
                    // paired: the i-th name is there
                    let name = names.get(i).map(|x| x.0.clone()).unwrap_or_default();
                    if p == TRUNK {
                        // Some: the arm above took the accounts that are not
                        if let Some(account) = account_aor(t) {
                            out[p].1.push(Trunk {
                                name,
                                account,
                                numbers: re,
                            });
                        }
                        continue;
                    }
                    match Replacement::new(t, &re) {
                        Ok(replace) => {
                            out[p].0.push(RegexRule {
                                desc: name,
                                re,
                                replace,
                            });
                            continue;
                        }
                        Err(e) => (
                            format!("{e}: '{}' has {} group(s)", re.as_str(), re.groups()),
                            2,
                            t,
                            line,
                        ),
                    }
                }
                _ => continue,
            };
            diags.push(Diagnostic::error(
                file,
                line,
                format!("{plugin}_{} = '{value}': {why}", words[list]),
            ));
        }
        if !paired {
            // the first line past the end of the shortest list
            let short = n.min(m).min(r);
            let line = [names, patterns, thirds]
                .iter()
                .filter_map(|l| l.get(short).map(|x| x.1))
                .min()
                .unwrap_or(0);
            diags.push(Diagnostic::error(
                file,
                line,
                format!(
                    "{n} {plugin}_{}, {m} {plugin}_{}, {r} {plugin}_{} lines: they pair up by position, so give as many of each",
                    words[0], words[1], words[2]
                ),
            ));
        }
    }
    out
}
