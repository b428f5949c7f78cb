//! The regular expressions of siproxd's regex, regex_body and siptrunk
//! plugins: POSIX extended regular expressions (IEEE 1003.1 §9.4), case
//! ignored as siproxd's `regcomp(REG_ICASE|REG_EXTENDED)` compiles them,
//! matched by a Pike VM (Thompson's NFA simulation with captures): time
//! linear in the input, whatever the pattern, because WAN messages reach
//! siptrunk and regex_body.
//!
//! # What it does
//! - Literals, `.`, bracket expressions (`[0-9]`, `[^@;]`, `[]a-]`,
//!   `[[:digit:]]` and the other eleven POSIX classes), anchors `^` `$`,
//!   groups `( )` (the first [`MAX_GROUPS`] capture), alternation `|`,
//!   repetition `*` `+` `?` `{m}` `{m,}` `{m,n}` (and `{,n}`).
//! - POSIX's match: the leftmost, and of those the longest (so
//!   `sip|sips` finds `sips`). Groups take the text of the first way
//!   through the pattern that gives that match (POSIX's rules for groups
//!   are subtler; no siproxd pattern we know can tell).
//! - Replacement text with `\1` … `\9` ([`Replacement`]), applied to every
//!   non-overlapping match ([`Regex::replace_all`]).
//!
//! # What it does not do
//! - No back-references in a pattern (`(a)\1`: they need backtracking),
//!   no `[=a=]`/`[.a.]`, no GNU escapes (`\d`, `\w`, `\<`): each is a
//!   compile error saying so, never a pattern that silently means
//!   something else.
//! - Bytes, not characters: `.` matches one byte (SIP and SDP are ASCII);
//!   a non-ASCII character in the pattern is matched as its UTF-8 bytes,
//!   and brackets take ASCII only. `^` and `$` match only at the start and
//!   the end of the text, also in a body of many lines (siproxd compiles
//!   without `REG_NEWLINE`), and `.` matches a line end too.
//!
//! # Bounds (checked once, at compile time: a configuration error)
//! A pattern of at most [`MAX_PATTERN`] bytes compiles to at most
//! [`MAX_PROGRAM`] instructions (counted repetitions written out), nested
//! at most [`MAX_DEPTH`] deep, counts at most [`MAX_REPEAT`] (POSIX's
//! `RE_DUP_MAX`). Matching takes time proportional to input length ×
//! program size and allocates nothing once its [`Scratch`] has grown to
//! the largest program it ran (at most [`MAX_PROGRAM`] threads of at most
//! 20 offsets each: 2 × 512 × 84 bytes). Replacing every match bounds its
//! total work too ([`ReplaceError::TooMuchWork`]).

mod parse;
mod pikevm;
#[cfg(test)]
mod tests;

use crate::output::Buf;
use parse::ByteSet;
pub use pikevm::Scratch;
use std::ops::Range;

/// Longest pattern, in bytes.
pub const MAX_PATTERN: usize = 512;
/// Most instructions a pattern compiles to.
pub const MAX_PROGRAM: usize = 512;
/// Largest count in `{m,n}` (POSIX's `RE_DUP_MAX` is at least 255).
pub const MAX_REPEAT: u32 = 255;
/// Groups whose text is kept (`\1` … `\9`).
pub const MAX_GROUPS: usize = 9;
/// Deepest nesting of groups and stacked repetitions.
pub const MAX_DEPTH: usize = 16;
/// [`Regex::replace_all`] stops after looking at this many bytes per byte
/// of input (each search may look past its match for a longer one, and
/// the next search looks there again).
pub const WORK_FACTOR: usize = 8;

// program counters are u16
const _: () = assert!(MAX_PROGRAM <= u16::MAX as usize);

/// No offset (a group that took no part in the match).
const NONE: u32 = u32::MAX;
const SLOTS: usize = 2 * (MAX_GROUPS + 1);

/// One instruction of the Pike VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inst {
    /// This byte (lower-case), either case.
    Byte(u8),
    /// A byte of this set (both cases already in it).
    Set(u16),
    /// Any byte.
    Any,
    /// `^`: at the start of the text.
    LineStart,
    /// `$`: at the end of the text.
    LineEnd,
    /// Note the offset here in this slot (group n: slots 2n and 2n + 1).
    Save(u8),
    /// Go on at both, the first preferred.
    Split(u16, u16),
    Jmp(u16),
    Match,
}

/// Why a pattern (or a replacement) does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    /// Byte offset in the pattern where it went wrong.
    pub at: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Empty,
    PatternTooLong,
    NothingToRepeat,
    UnmatchedOpen,
    UnmatchedClose,
    UnmatchedBracket,
    BadInterval,
    RepeatTooLarge,
    BadRange,
    UnknownClass,
    UnsupportedBracket,
    NonAsciiInBracket,
    TrailingBackslash,
    BackReference,
    UnknownEscape,
    TooDeep,
    TooLarge,
    /// A replacement's `\N` names a group the pattern does not have.
    NoSuchGroup,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use ErrorKind as K;
        let what = match self.kind {
            K::Empty => "empty pattern",
            K::PatternTooLong => "longer than 512 characters",
            K::NothingToRepeat => "*, +, ? or { with nothing before it to repeat",
            K::UnmatchedOpen => "'(' without its ')'",
            K::UnmatchedClose => "')' without its '('",
            K::UnmatchedBracket => "'[' without its ']'",
            K::BadInterval => "not a count {m}, {m,} or {m,n} (write \\{ for a brace)",
            K::RepeatTooLarge => "a count above 255",
            K::BadRange => "a range that ends before it starts",
            K::UnknownClass => {
                "not a class (alnum, alpha, blank, cntrl, digit, graph, lower, print, punct, space, upper, xdigit)"
            }
            K::UnsupportedBracket => "[=x=] and [.x.] are not supported",
            K::NonAsciiInBracket => "only ASCII characters in [ ]",
            K::TrailingBackslash => "'\\' at the end",
            K::BackReference => {
                "a back-reference in a pattern is not supported (\\1 … \\9 work in the replacement)"
            }
            K::UnknownEscape => {
                "'\\' before a letter is not POSIX (write [0-9] for \\d, [[:space:]] for \\s)"
            }
            K::TooDeep => "nested more than 16 deep",
            K::TooLarge => "too large: over 512 steps with the counted repetitions written out",
            K::NoSuchGroup => "names a group ( ) the pattern does not have",
        };
        match self.kind {
            K::Empty | K::PatternTooLong | K::TooLarge => f.write_str(what),
            _ => write!(f, "{what} (at character {})", self.at + 1),
        }
    }
}

/// A compiled pattern.
#[derive(Clone, PartialEq, Eq)]
pub struct Regex {
    prog: Box<[Inst]>,
    sets: Box<[ByteSet]>,
    groups: u8,
    /// Every match starts at the start of the text (`^…`).
    anchored: bool,
    pattern: Box<str>,
}

impl std::fmt::Debug for Regex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Regex({:?})", self.pattern)
    }
}

impl Regex {
    /// Compile `pattern`, case ignored.
    pub fn new(pattern: &str) -> Result<Regex, Error> {
        if pattern.is_empty() {
            return Err(Error {
                kind: ErrorKind::Empty,
                at: 0,
            });
        }
        if pattern.len() > MAX_PATTERN {
            return Err(Error {
                kind: ErrorKind::PatternTooLong,
                at: 0,
            });
        }
        let c = parse::compile(pattern)?;
        Ok(Regex {
            prog: c.prog.into_boxed_slice(),
            sets: c.sets.into_boxed_slice(),
            groups: c.groups,
            anchored: c.anchored,
            pattern: pattern.into(),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// How many groups capture (at most [`MAX_GROUPS`]).
    pub fn groups(&self) -> usize {
        usize::from(self.groups)
    }

    /// Does the pattern match somewhere in `hay`?
    pub fn is_match(&self, hay: &[u8], s: &mut Scratch) -> bool {
        self.find_at(hay, 0, &mut Captures::new(), s)
    }

    /// The leftmost-longest match that starts at `start` or later, its
    /// groups in `caps`. `^` still means offset 0 of `hay`.
    pub fn find_at(&self, hay: &[u8], start: usize, caps: &mut Captures, s: &mut Scratch) -> bool {
        pikevm::search(self, hay, start, caps, s)
    }

    /// `hay` with every non-overlapping match replaced by `rep`, written
    /// to `out`; the number of matches replaced (0: `out` holds a copy).
    /// An empty match next to the one before is skipped, as sed does.
    pub fn replace_all(
        &self,
        rep: &Replacement,
        hay: &[u8],
        out: &mut Buf<'_>,
        s: &mut Scratch,
    ) -> Result<usize, ReplaceError> {
        let budget = WORK_FACTOR.saturating_mul(hay.len() + 1);
        s.steps = 0;
        let mut caps = Captures::new();
        let (mut pos, mut count, mut last_end) = (0, 0, None);
        while pos <= hay.len() && self.find_at(hay, pos, &mut caps, s) {
            if s.steps > budget {
                return Err(ReplaceError::TooMuchWork);
            }
            if out.overflowed() {
                return Err(ReplaceError::TooLong);
            }
            let Some(m) = caps.get(0) else { break };
            let next = m.end + usize::from(m.is_empty());
            if m.is_empty() && last_end == Some(m.start) {
                // right after the last match: step over one byte
                out.put(hay.get(m.start..next).unwrap_or_default());
                pos = next;
                continue;
            }
            out.put(hay.get(pos..m.start).unwrap_or_default());
            rep.expand(hay, &caps, out);
            out.put(hay.get(m.end..next).unwrap_or_default());
            count += 1;
            last_end = Some(m.end);
            pos = next;
        }
        if s.steps > budget {
            return Err(ReplaceError::TooMuchWork);
        }
        out.put(hay.get(pos..).unwrap_or_default());
        if out.overflowed() {
            return Err(ReplaceError::TooLong);
        }
        Ok(count)
    }
}

/// Why [`Regex::replace_all`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaceError {
    /// The result does not fit the buffer.
    TooLong,
    /// More than [`WORK_FACTOR`] × the input's length looked at (only a
    /// pattern whose matches can always grow, like `x|x.*y`, gets there).
    TooMuchWork,
}

/// Where a match and its groups are: group 0 the whole match.
#[derive(Debug, Clone)]
pub struct Captures {
    slots: [u32; SLOTS],
}

impl Default for Captures {
    fn default() -> Self {
        Captures::new()
    }
}

impl Captures {
    pub fn new() -> Captures {
        Captures {
            slots: [NONE; SLOTS],
        }
    }

    /// The byte range of group `i`, if it took part in the match.
    pub fn get(&self, i: usize) -> Option<Range<usize>> {
        let s = *self.slots.get(2 * i)?;
        let e = *self.slots.get(2 * i + 1)?;
        (s != NONE && e != NONE && s <= e).then_some(s as usize..e as usize)
    }
}

/// Replacement text: `\1` … `\9` stand for the text of a group (empty if
/// it took no part); every other character, a backslash before anything
/// else included, stands for itself (siproxd's rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement(Box<str>);

impl Replacement {
    /// Checked against `re`: every `\N` must name one of its groups.
    pub fn new(text: &str, re: &Regex) -> Result<Replacement, Error> {
        let b = text.as_bytes();
        for (i, w) in b.windows(2).enumerate() {
            if w[0] == b'\\'
                && (b'1'..=b'9').contains(&w[1])
                && usize::from(w[1] - b'0') > re.groups()
            {
                return Err(Error {
                    kind: ErrorKind::NoSuchGroup,
                    at: i,
                });
            }
        }
        Ok(Replacement(text.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn expand(&self, hay: &[u8], caps: &Captures, out: &mut Buf<'_>) {
        let t = self.0.as_bytes();
        let mut i = 0;
        while i < t.len() {
            match t.get(i + 1) {
                Some(&d) if t[i] == b'\\' && (b'1'..=b'9').contains(&d) => {
                    if let Some(r) = caps.get(usize::from(d - b'0')) {
                        out.put(hay.get(r).unwrap_or_default());
                    }
                    i += 2;
                }
                _ => {
                    let end = t[i + 1..]
                        .iter()
                        .position(|&b| b == b'\\')
                        .map_or(t.len(), |p| i + 1 + p);
                    out.put(&t[i..end]);
                    i = end;
                }
            }
        }
    }
}
