//! The UCI reader: sipnat's configuration from an OpenWrt `/etc/config/sipnat`.
//!
//! # What this module does
//! - Reads UCI text with uci's own syntax and semantics ([`parse_uci`]):
//!   - `config <type> ['<name>']` starts a section. A section without a name
//!     is anonymous; uci (and `-s`) calls it `@type[N]`, N counting the
//!     sections of that type from 0 (negative N counts from the end, `-1`
//!     being the last). Naming a section that already exists continues it.
//!   - `option <name> <value>` sets an option; a repeated `option` replaces
//!     the earlier value (uci semantics; sipnat warns, as it is usually a
//!     slip). An empty value (`option name ''`) unsets the option, as
//!     `uci set` does, so the built-in default applies.
//!   - `list <name> <value>` appends to a list; a `list` after an `option` of
//!     the same name turns it into a list holding both values, an `option`
//!     after a `list` replaces the whole list (uci semantics). An empty list
//!     value adds nothing.
//!   - `package <name>` (as `uci export` writes it) is accepted and ignored.
//!     The keywords may be abbreviated to their first letter, as uci allows.
//!   - Words are separated by blanks. A word may be unquoted, `'single'` or
//!     `"double"` quoted, and adjacent parts are joined (`'a'"b"c` is `abc`).
//!     A backslash takes the next character literally in unquoted and double
//!     quoted parts (`\"`, `\\`, `\ `), none in single quotes (uci writes a
//!     quote inside a value as `'it'\''s'`). A backslash at the end of a line
//!     joins the next line. Quoted values may span lines.
//!   - `#` outside quotes starts a comment to the end of the line (also
//!     inside a word: `a#b` is `a`, as in uci); `;` outside quotes ends a
//!     command, so one line may hold several.
//!   - Section and option names are letters, digits and `_`; a section type
//!     is printable ASCII without blanks (uci's rules).
//! - Picks one section of type `sipnat` ([`UciFile::select`]): the one `-s`
//!   names (by name, or `@sipnat[N]`), else the first. Sections of other
//!   types are skipped, as the init script skips them.
//! - Feeds the chosen section's options, with the line each value is on,
//!   through the same `Builder` as the siproxd.conf reader
//!   ([`parse_uci_config`]): option names are siproxd's, and values mean
//!   what they mean in siproxd.conf. A `list` value is one siproxd line, so
//!   `list hosts_allow_reg '192.168.1.0/24'` lines accumulate and
//!   `list load_plugin` names one plugin each. Five options exist only in
//!   UCI ([`UCI_ONLY_OPTIONS`]): `enabled`, `interface_inbound`,
//!   `interface_outbound`, and the firewall switches `wan_sip_open` and
//!   `wan_sip_allow`, which the init script reads (sipnat checks them).
//!
//! Errors carry the line the user edited: an unterminated quote (the line it
//! opens on), an option outside a section, a missing value, a bad keyword or
//! name, too many words (an unquoted value with blanks), unknown options and
//! bad values (from the shared builder).
//!
//! # What it does NOT do
//! - It never writes UCI (no `uci set`/`commit`), keeps no delta files
//!   (`/tmp/.uci`), and does not merge several packages.
//! - It does not resolve `interface_inbound 'lan'` to a device: that needs
//!   netifd (`network_get_device`), so the init script does it and passes
//!   `--if-inbound DEV` (see `cli`).
//! - It checks the options of the selected section only; other sections are
//!   checked for syntax alone.
//! - It never panics on any input.

use super::options::{OptionInfo, Status, edit_distance};
use super::{Builder, Config, Diagnostic, Syntax};

/// The section type sipnat reads (`config sipnat 'general'`).
pub const SECTION_TYPE: &str = "sipnat";

/// OpenWrt siproxd's section type, recognised only to give a migration hint.
const SIPROXD_SECTION_TYPE: &str = "siproxd";

/// Options that exist only in UCI files, beside siproxd's own names.
pub const UCI_ONLY_OPTIONS: &[OptionInfo] = &[
    // 1: the init script starts this section; 0: it does not (and sipnat exits when asked to run it).
    OptionInfo {
        name: "enabled",
        status: Status::Implemented,
        list: false,
    },
    // OpenWrt network name of the LAN side (e.g. lan); the init script resolves it to if_inbound.
    OptionInfo {
        name: "interface_inbound",
        status: Status::Implemented,
        list: false,
    },
    // OpenWrt network name of the WAN side (e.g. wan); the init script resolves it to if_outbound.
    OptionInfo {
        name: "interface_outbound",
        status: Status::Implemented,
        list: false,
    },
    // 1: the init script opens the SIP port to the WAN zone for unsolicited requests; 0 (default): closed, replies to what sipnat sent still pass (conntrack).
    OptionInfo {
        name: "wan_sip_open",
        status: Status::Implemented,
        list: false,
    },
    // With wan_sip_open 1: only these IPv4 addresses or networks (e.g. the provider's) may reach the SIP port; none: the whole WAN.
    OptionInfo {
        name: "wan_sip_allow",
        status: Status::Implemented,
        list: true,
    },
    // Digest algorithms sipnat offers the phones, in order of preference (default 'SHA-256 MD5', RFC 8760); 'MD5' for phones that give up on a SHA-256 challenge instead of skipping it.
    OptionInfo {
        name: "proxy_auth_algorithms",
        status: Status::Implemented,
        list: false,
    },
];

/// Look a UCI-only option up by its exact name.
pub fn lookup(name: &str) -> Option<&'static OptionInfo> {
    UCI_ONLY_OPTIONS.iter().find(|o| o.name == name)
}

/// The UCI-only option a misspelt `name` probably meant (at most two edits,
/// ignoring letter case), for "did you mean" hints.
pub fn suggest(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    UCI_ONLY_OPTIONS
        .iter()
        .map(|o| (edit_distance(&lower, o.name), o.name))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// A UCI boolean as OpenWrt's `config_get_bool` reads it:
/// `1 yes on true enabled` and `0 no off false disabled` (any case).
pub fn boolean(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "yes" | "on" | "true" | "enabled" => Some(true),
        "0" | "no" | "off" | "false" | "disabled" => Some(false),
        _ => None,
    }
}

// ------------------------------------------------------------------ the file

/// The value of one option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Set by `option`.
    Single(String),
    /// Built by `list` lines: each value with the line it is on.
    List(Vec<(String, usize)>),
}

/// One option of a section, after uci's replace/append rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UciOption {
    pub name: String,
    /// Line of the `option` (or first `list`) that gave the current value.
    pub line: usize,
    pub value: Value,
    /// Line of an earlier value that this one replaced, if any.
    pub replaced: Option<usize>,
}

/// One `config` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The section type (`sipnat`).
    pub section_type: String,
    /// The name; `None` for an anonymous section.
    pub name: Option<String>,
    /// Line of its `config` statement.
    pub line: usize,
    /// Options in the order they first appeared.
    pub options: Vec<UciOption>,
}

impl Section {
    /// The option called `name`, if set.
    pub fn option(&self, name: &str) -> Option<&UciOption> {
        self.options.iter().find(|o| o.name == name)
    }
}

/// A parsed UCI file: its sections in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UciFile {
    pub sections: Vec<Section>,
}

impl UciFile {
    /// How uci names section `idx`: `'name'`, or `@type[N]` when anonymous.
    pub fn label(&self, idx: usize) -> String {
        let Some(s) = self.sections.get(idx) else {
            return String::new();
        };
        match &s.name {
            Some(n) => format!("'{n}'"),
            None => {
                let n = self
                    .sections
                    .iter()
                    .take(idx)
                    .filter(|o| o.section_type == s.section_type)
                    .count();
                format!("@{}[{n}]", s.section_type)
            }
        }
    }

    /// Indices of the sections of type `ty`, in file order.
    fn of_type<'a>(&'a self, ty: &'a str) -> impl Iterator<Item = usize> + 'a {
        self.sections
            .iter()
            .enumerate()
            .filter(move |(_, s)| s.section_type == ty)
            .map(|(i, _)| i)
    }

    /// The `sipnat` section to read: the one `selector` names (a section
    /// name, or `@sipnat[N]`), or the first `sipnat` section without one.
    /// `Err((line, message))` explains why none fits (line 0: not tied to a
    /// line).
    pub fn select(&self, selector: Option<&str>) -> Result<usize, (usize, String)> {
        let Some(sel) = selector else {
            return self.of_type(SECTION_TYPE).next().ok_or_else(|| {
                match self.of_type(SIPROXD_SECTION_TYPE).next() {
                    Some(i) => (
                        self.sections.get(i).map_or(0, |s| s.line),
                        format!(
                            "no '{SECTION_TYPE}' section in this file, but a '{SIPROXD_SECTION_TYPE}' section {}: this looks like OpenWrt's siproxd configuration; change 'config {SIPROXD_SECTION_TYPE}' to 'config {SECTION_TYPE}' (the package's migration script does this)",
                            self.label(i)
                        ),
                    ),
                    None => (
                        0,
                        format!(
                            "no '{SECTION_TYPE}' section in this file: start one with \"config {SECTION_TYPE} 'general'\""
                        ),
                    ),
                }
            });
        };
        let idx = if let Some(rest) = sel.strip_prefix('@') {
            let Some((ty, n)) = parse_index_selector(rest) else {
                return Err((
                    0,
                    format!("-s '{sel}': expected a section name or @{SECTION_TYPE}[N]"),
                ));
            };
            let all: Vec<usize> = self.of_type(ty).collect();
            let count = all.len();
            let pos = if n < 0 {
                usize::try_from(n.unsigned_abs())
                    .ok()
                    .and_then(|back| count.checked_sub(back))
            } else {
                usize::try_from(n).ok()
            };
            match pos.and_then(|p| all.get(p)) {
                Some(&i) => i,
                None => {
                    return Err((
                        0,
                        format!(
                            "-s '{sel}': there {} {count} '{ty}' section{} in this file",
                            if count == 1 { "is" } else { "are" },
                            if count == 1 { "" } else { "s" }
                        ),
                    ));
                }
            }
        } else {
            match self
                .sections
                .iter()
                .position(|s| s.name.as_deref() == Some(sel))
            {
                Some(i) => i,
                None => {
                    let known: Vec<String> =
                        self.of_type(SECTION_TYPE).map(|i| self.label(i)).collect();
                    let known = if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    };
                    return Err((
                        0,
                        format!(
                            "-s '{sel}': no section of that name; the '{SECTION_TYPE}' sections here are: {known}"
                        ),
                    ));
                }
            }
        };
        match self.sections.get(idx) {
            Some(s) if s.section_type == SECTION_TYPE => Ok(idx),
            Some(s) => Err((
                s.line,
                format!(
                    "-s '{sel}': section {} is of type '{}'; sipnat reads '{SECTION_TYPE}' sections{}",
                    self.label(idx),
                    s.section_type,
                    if s.section_type == SIPROXD_SECTION_TYPE {
                        " (change 'config siproxd' to 'config sipnat' to migrate it)"
                    } else {
                        ""
                    }
                ),
            )),
            // position()/get() above returned an index into sections
            None => Err((0, format!("-s '{sel}': no such section"))),
        }
    }
}

/// `type[N]` (after the `@`) → `(type, N)`.
fn parse_index_selector(s: &str) -> Option<(&str, i64)> {
    let (ty, rest) = s.split_once('[')?;
    let n = rest.strip_suffix(']')?;
    if ty.is_empty() || !valid_type(ty) {
        return None;
    }
    let digits = n.strip_prefix('-').unwrap_or(n);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((ty, crate::num::parse_i64(n)?))
}

/// uci's rule for section and option names: letters, digits, `_`.
fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// uci's rule for section types: printable ASCII, no blanks.
fn valid_type(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (33..=126).contains(&b))
}

/// uci's rule for package names: letters, digits, `_` and `-`.
fn valid_package(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

// ------------------------------------------------------------------ lexer

/// One word of a command, quotes and escapes already resolved.
#[derive(Debug)]
struct Word {
    text: String,
    /// Line the word starts on.
    line: usize,
}

/// One command: the words up to the end of the line or a `;`.
type Command = Vec<Word>;

/// Blanks between words (a newline ends the command instead).
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\u{b}' | '\u{c}')
}

struct Lexer<'t> {
    chars: std::iter::Peekable<std::str::Chars<'t>>,
    line: usize,
}

impl Lexer<'_> {
    fn next(&mut self) -> Option<char> {
        let c = self.chars.next();
        if c == Some('\n') {
            self.line += 1;
        }
        c
    }

    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    /// After a backslash: `true` (and the line break consumed) when it ends
    /// the line, which joins the next line on.
    fn line_continues(&mut self) -> bool {
        match self.peek() {
            Some('\n') => {
                self.next();
                true
            }
            Some('\r') => {
                let mut ahead = self.chars.clone();
                ahead.next();
                if ahead.peek() == Some(&'\n') {
                    self.next();
                    self.next();
                    true
                } else {
                    false
                }
            }
            _ => false,
        }
    }

    /// Read one word starting at the current (non-blank) character.
    /// `Err(line)`: a quote opened on `line` is never closed.
    fn word(&mut self) -> Result<Option<Word>, (usize, char)> {
        let line = self.line;
        let mut text = String::new();
        let mut quoted = false;
        while let Some(c) = self.peek() {
            match c {
                '\n' | ';' | '#' => break,
                c if is_blank(c) => break,
                '\'' => {
                    quoted = true;
                    let open = self.line;
                    self.next();
                    loop {
                        match self.next() {
                            None => return Err((open, '\'')),
                            Some('\'') => break,
                            Some(c) => text.push(c),
                        }
                    }
                }
                '"' => {
                    quoted = true;
                    let open = self.line;
                    self.next();
                    loop {
                        match self.next() {
                            None => return Err((open, '"')),
                            Some('"') => break,
                            Some('\\') => {
                                if self.line_continues() {
                                    continue;
                                }
                                match self.next() {
                                    None => return Err((open, '"')),
                                    Some(c) => text.push(c),
                                }
                            }
                            Some(c) => text.push(c),
                        }
                    }
                }
                '\\' => {
                    self.next();
                    if self.line_continues() {
                        continue;
                    }
                    // a lone backslash at the very end of the file is dropped
                    if let Some(c) = self.next() {
                        text.push(c);
                    }
                }
                c => {
                    self.next();
                    text.push(c);
                }
            }
        }
        // a quoted part makes a word even when empty (`''`); a bare line
        // continuation makes none
        Ok((quoted || !text.is_empty()).then_some(Word { text, line }))
    }
}

/// Split the text into commands. Stops at an unterminated quote, which is
/// reported at the line it opens on.
fn lex(text: &str, file: &str, diags: &mut Vec<Diagnostic>) -> Vec<Command> {
    let mut lx = Lexer {
        chars: text.chars().peekable(),
        line: 1,
    };
    let mut cmds = Vec::new();
    let mut cur: Command = Vec::new();
    loop {
        match lx.peek() {
            None => break,
            Some('\n' | ';') => {
                lx.next();
                if !cur.is_empty() {
                    cmds.push(std::mem::take(&mut cur));
                }
            }
            Some('#') => {
                while lx.peek().is_some_and(|c| c != '\n') {
                    lx.next();
                }
            }
            Some(c) if is_blank(c) => {
                lx.next();
            }
            Some(_) => match lx.word() {
                Ok(Some(w)) => cur.push(w),
                Ok(None) => {}
                Err((line, q)) => {
                    diags.push(Diagnostic::error(
                        file,
                        line,
                        format!(
                            "unterminated {q} quote: the value that starts here runs to the end of the file"
                        ),
                    ));
                    return cmds;
                }
            },
        }
    }
    if !cur.is_empty() {
        cmds.push(cur);
    }
    cmds
}

// ------------------------------------------------------------------ parser

/// Parse UCI text into its sections, with uci's semantics. Never panics.
/// Syntax errors are returned as diagnostics with their lines; parsing goes
/// on after each one, so every mistake is reported.
pub fn parse_uci(text: &str, file: &str) -> (UciFile, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let cmds = lex(text, file, &mut diags);
    let mut uci = UciFile::default();
    // index of the section options go to
    let mut current: Option<usize> = None;
    for cmd in &cmds {
        let Some(kw) = cmd.first() else { continue };
        let line = kw.line;
        let mut err = |m: String| diags.push(Diagnostic::error(file, line, m));
        let too_many = |what: &str, max: usize| -> Option<String> {
            cmd.get(max).map(|w| {
                format!(
                    "too many words in this '{what}' line (from '{}' on): quote a value that contains blanks",
                    w.text
                )
            })
        };
        match kw.text.as_str() {
            "package" | "p" => {
                match cmd.get(1) {
                    None => err("'package' needs a name".to_string()),
                    Some(w) if !valid_package(&w.text) => err(format!(
                        "invalid package name '{}': use letters, digits, _ and -",
                        w.text
                    )),
                    Some(_) => {}
                }
                if let Some(m) = too_many("package", 2) {
                    err(m);
                }
            }
            "config" | "c" => {
                current = None;
                let Some(ty) = cmd.get(1) else {
                    err("'config' needs a section type: config <type> ['<name>']".to_string());
                    continue;
                };
                if !valid_type(&ty.text) {
                    err(format!(
                        "invalid section type '{}': use printable characters without blanks",
                        ty.text
                    ));
                    continue;
                }
                let name = cmd
                    .get(2)
                    .map(|w| w.text.as_str())
                    .filter(|n| !n.is_empty());
                if let Some(n) = name {
                    if !valid_name(n) {
                        err(format!(
                            "invalid section name '{n}': uci names use only letters, digits and _"
                        ));
                        continue;
                    }
                }
                if let Some(m) = too_many("config", 3) {
                    err(m);
                }
                // a named section that exists already is continued
                let existing = name.and_then(|n| {
                    uci.sections
                        .iter()
                        .position(|s| s.name.as_deref() == Some(n))
                });
                if let Some(i) = existing {
                    if let Some(s) = uci.sections.get(i) {
                        if s.section_type != ty.text {
                            err(format!(
                                "section '{}' was declared with type '{}' on line {}; a section of another type cannot reuse its name",
                                name.unwrap_or_default(),
                                s.section_type,
                                s.line
                            ));
                            continue;
                        }
                    }
                    current = Some(i);
                } else {
                    uci.sections.push(Section {
                        section_type: ty.text.clone(),
                        name: name.map(str::to_string),
                        line,
                        options: Vec::new(),
                    });
                    current = Some(uci.sections.len() - 1);
                }
            }
            "option" | "o" | "list" | "l" => {
                let list = kw.text.starts_with('l');
                let what = if list { "list" } else { "option" };
                let Some(sec) = current.and_then(|i| uci.sections.get_mut(i)) else {
                    err(format!(
                        "'{what}' outside a section: it must follow a \"config {SECTION_TYPE} 'general'\" line"
                    ));
                    continue;
                };
                let Some(name) = cmd.get(1) else {
                    err(format!(
                        "'{what}' needs a name and a value: {what} <name> '<value>'"
                    ));
                    continue;
                };
                if !valid_name(&name.text) {
                    err(format!(
                        "invalid option name '{}': uci names use only letters, digits and _",
                        name.text
                    ));
                    continue;
                }
                let Some(value) = cmd.get(2) else {
                    err(format!(
                        "{what} '{}' has no value: write {what} {} '<value>' ('' unsets it)",
                        name.text, name.text
                    ));
                    continue;
                };
                if let Some(m) = too_many(what, 3) {
                    err(m);
                    continue;
                }
                set_option(sec, &name.text, &value.text, value.line, list);
            }
            other => {
                let hint = if other.contains('=') || super::options::lookup(other).is_some() {
                    format!(
                        ": UCI lines look like \"option {} '<value>'\" inside a 'config' section",
                        other.split('=').next().unwrap_or(other).trim()
                    )
                } else {
                    ["option", "list", "config", "package"]
                        .into_iter()
                        .find(|k| edit_distance(&other.to_ascii_lowercase(), k) <= 2)
                        .map(|k| format!(" (did you mean '{k}'?)"))
                        .unwrap_or_default()
                };
                err(format!(
                    "unknown keyword '{other}': expected config, option, list or package{hint}"
                ));
            }
        }
    }
    (uci, diags)
}

/// uci's `set` (`option`) and `add_list` (`list`) on one section.
fn set_option(sec: &mut Section, name: &str, value: &str, line: usize, list: bool) {
    let pos = sec.options.iter().position(|o| o.name == name);
    if list {
        if value.is_empty() {
            return;
        }
        match pos.and_then(|i| sec.options.get_mut(i)) {
            Some(o) => match &mut o.value {
                Value::List(items) => items.push((value.to_string(), line)),
                Value::Single(old) => {
                    // uci turns the option into a list that keeps its value
                    let old = std::mem::take(old);
                    o.value = Value::List(vec![(old, o.line), (value.to_string(), line)]);
                }
            },
            None => sec.options.push(UciOption {
                name: name.to_string(),
                line,
                value: Value::List(vec![(value.to_string(), line)]),
                replaced: None,
            }),
        }
        return;
    }
    match pos {
        // `option name ''` deletes the option, as uci's set does
        Some(i) if value.is_empty() => {
            sec.options.remove(i);
        }
        None if value.is_empty() => {}
        Some(i) => {
            if let Some(o) = sec.options.get_mut(i) {
                o.replaced = Some(o.line);
                o.line = line;
                o.value = Value::Single(value.to_string());
            }
        }
        None => sec.options.push(UciOption {
            name: name.to_string(),
            line,
            value: Value::Single(value.to_string()),
            replaced: None,
        }),
    }
}

/// Parse UCI text and build the [`Config`] of one `sipnat` section
/// (`section`: a name or `@sipnat[N]`; `None`: the first). Never panics.
///
/// `Ok` carries the config and every diagnostic (syntax errors anywhere in
/// the file, and the section's unknown options, bad values and warnings,
/// each with its line); `Err` carries the diagnostics when no section could
/// be chosen. Cross-field problems are left to [`Config::check`].
pub fn parse_uci_config(
    text: &str,
    file: &str,
    section: Option<&str>,
) -> Result<(Config, Vec<Diagnostic>), Vec<Diagnostic>> {
    let (uci, mut diags) = parse_uci(text, file);
    let idx = match uci.select(section) {
        Ok(i) => i,
        Err((line, m)) => {
            diags.push(Diagnostic::error(file, line, m));
            return Err(diags);
        }
    };
    let Some(sec) = uci.sections.get(idx) else {
        // select() returns an index into sections
        return Err(diags);
    };
    let label = uci.label(idx);
    let mut b = Builder::new(file, Syntax::Uci);
    for o in &sec.options {
        if let Some(first) = o.replaced {
            b.warning(
                o.line,
                format!(
                    "option '{}' is set again in section {label} (first on line {first}); the last value wins",
                    o.name
                ),
            );
        }
        match &o.value {
            Value::Single(v) => b.apply_option(&o.name, v, o.line),
            Value::List(items) => {
                for (v, line) in items {
                    b.apply_option(&o.name, v, *line);
                }
            }
        }
    }
    let (cfg, more) = b.finish();
    diags.extend(more);
    if !cfg.enabled {
        let line = sec.option("enabled").map_or(sec.line, |o| o.line);
        diags.push(Diagnostic::warning(
            file,
            line,
            format!(
                "section {label} is disabled (enabled = 0): the init script does not start it, and sipnat exits when asked to run it"
            ),
        ));
    }
    diags.sort_by_key(|d| d.line);
    Ok((cfg, diags))
}

#[cfg(test)]
mod tests;
