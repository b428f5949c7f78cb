//! From pattern text to a program: a recursive-descent parser of POSIX
//! extended regular expressions (IEEE 1003.1 §9.4) into a small tree, then
//! the tree compiled into [`Inst`]s for the Pike VM (Thompson's
//! construction). Every limit is checked here, once, so matching cannot
//! fail: nesting depth, counted repetitions, program size.
//!
//! Case is ignored, as siproxd's `regcomp(REG_ICASE)`: letters are stored
//! lower-case and compared with the input lower-cased; bracket expressions
//! hold both cases of every letter they name (before `^` negates them, so
//! `[^a]` matches neither `a` nor `A`).

use super::{Error, ErrorKind, Inst, MAX_DEPTH, MAX_GROUPS, MAX_PROGRAM, MAX_REPEAT};

/// A set of bytes, one bit each.
pub(super) type ByteSet = [u64; 4];

pub(super) fn set_has(s: &ByteSet, b: u8) -> bool {
    s[usize::from(b >> 6)] & (1 << (b & 63)) != 0
}

fn set_add(s: &mut ByteSet, b: u8) {
    s[usize::from(b >> 6)] |= 1 << (b & 63);
}

/// The parsed pattern, before compilation.
enum Node {
    Empty,
    /// A byte, lower-case.
    Byte(u8),
    Set(usize),
    Any,
    LineStart,
    LineEnd,
    /// A parenthesised group; `Some(n)`: its text is captured as group n
    /// (only groups 1 to [`MAX_GROUPS`] are; later ones only group).
    Group(Option<u8>, Box<Node>),
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
    },
}

/// What compiling yields: the program, its byte sets, how many groups
/// capture, and whether every match must start at the beginning.
pub(super) struct Compiled {
    pub prog: Vec<Inst>,
    pub sets: Vec<ByteSet>,
    pub groups: u8,
    pub anchored: bool,
}

pub(super) fn compile(pattern: &str) -> Result<Compiled, Error> {
    let mut p = Parser {
        pat: pattern.as_bytes(),
        pos: 0,
        sets: Vec::new(),
        groups: 0,
    };
    let node = p.alternation(0)?;
    if p.pos < p.pat.len() {
        // only a ')' stops the top level early
        return Err(p.err(ErrorKind::UnmatchedClose));
    }
    let anchored = starts_anchored(&node);
    let mut c = Emitter { prog: Vec::new() };
    c.push(Inst::Save(0))?;
    c.emit(&node)?;
    c.push(Inst::Save(1))?;
    c.push(Inst::Match)?;
    Ok(Compiled {
        prog: c.prog,
        sets: p.sets,
        // at most MAX_GROUPS (9)
        groups: p.groups.min(MAX_GROUPS as u32) as u8,
        anchored,
    })
}

/// True when every match must begin with `^`.
fn starts_anchored(n: &Node) -> bool {
    match n {
        Node::LineStart => true,
        Node::Group(_, inner) => starts_anchored(inner),
        Node::Concat(v) => v.first().is_some_and(starts_anchored),
        Node::Alt(v) => !v.is_empty() && v.iter().all(starts_anchored),
        _ => false,
    }
}

struct Parser<'p> {
    pat: &'p [u8],
    pos: usize,
    sets: Vec<ByteSet>,
    /// Groups opened so far (all of them, captured or not).
    groups: u32,
}

impl Parser<'_> {
    fn err(&self, kind: ErrorKind) -> Error {
        Error { kind, at: self.pos }
    }

    fn peek(&self) -> Option<u8> {
        self.pat.get(self.pos).copied()
    }

    /// `a|b|…` up to a `)` or the end.
    fn alternation(&mut self, depth: usize) -> Result<Node, Error> {
        let mut alts = vec![self.concat(depth)?];
        while self.peek() == Some(b'|') {
            self.pos += 1;
            alts.push(self.concat(depth)?);
        }
        Ok(if alts.len() == 1 {
            alts.pop().unwrap_or(Node::Empty)
        } else {
            Node::Alt(alts)
        })
    }

    /// Atoms, each with its repetitions, up to a `|`, a `)` or the end.
    fn concat(&mut self, depth: usize) -> Result<Node, Error> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == b'|' || c == b')' {
                break;
            }
            let mut atom = self.atom(depth)?;
            let mut stacked = depth;
            while let Some(q) = self.peek() {
                if matches!(atom, Node::LineStart | Node::LineEnd) && b"*+?{".contains(&q) {
                    // as glibc: an anchor is no atom to repeat
                    return Err(self.err(ErrorKind::NothingToRepeat));
                }
                let (min, max) = match q {
                    b'*' => (0, None),
                    b'+' => (1, None),
                    b'?' => (0, Some(1)),
                    b'{' => self.interval()?,
                    _ => break,
                };
                if q != b'{' {
                    self.pos += 1;
                }
                // `a**…`: each repetition nests, so it counts as depth
                stacked += 1;
                if stacked > MAX_DEPTH {
                    self.pos -= 1;
                    return Err(self.err(ErrorKind::TooDeep));
                }
                atom = Node::Repeat {
                    node: Box::new(atom),
                    min,
                    max,
                };
            }
            items.push(atom);
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.pop().unwrap_or(Node::Empty),
            _ => Node::Concat(items),
        })
    }

    fn atom(&mut self, depth: usize) -> Result<Node, Error> {
        let Some(c) = self.peek() else {
            return Err(self.err(ErrorKind::NothingToRepeat));
        };
        let start = self.pos;
        self.pos += 1;
        Ok(match c {
            b'(' => {
                if depth + 1 > MAX_DEPTH {
                    self.pos = start;
                    return Err(self.err(ErrorKind::TooDeep));
                }
                self.groups += 1;
                let index = u8::try_from(self.groups)
                    .ok()
                    .filter(|&g| usize::from(g) <= MAX_GROUPS);
                let inner = self.alternation(depth + 1)?;
                if self.peek() != Some(b')') {
                    self.pos = start;
                    return Err(self.err(ErrorKind::UnmatchedOpen));
                }
                self.pos += 1;
                Node::Group(index, Box::new(inner))
            }
            b'^' => Node::LineStart,
            b'$' => Node::LineEnd,
            b'.' => Node::Any,
            b'[' => self.bracket(start)?,
            b'*' | b'+' | b'?' | b'{' => {
                self.pos = start;
                return Err(self.err(ErrorKind::NothingToRepeat));
            }
            b'\\' => {
                let Some(e) = self.peek() else {
                    self.pos = start;
                    return Err(self.err(ErrorKind::TrailingBackslash));
                };
                if e.is_ascii_digit() {
                    self.pos = start;
                    return Err(self.err(ErrorKind::BackReference));
                }
                if e.is_ascii_alphabetic() {
                    self.pos = start;
                    return Err(self.err(ErrorKind::UnknownEscape));
                }
                self.literal_char()
            }
            _ => {
                self.pos = start;
                self.literal_char()
            }
        })
    }

    /// The character at `pos` as literal bytes: one byte, or the whole
    /// UTF-8 sequence of a non-ASCII character (so a repetition after it
    /// repeats the character).
    fn literal_char(&mut self) -> Node {
        let first = self.peek().unwrap_or(0);
        let len = match first {
            0xf0..=0xff => 4,
            0xe0..=0xef => 3,
            0xc0..=0xdf => 2,
            _ => 1,
        };
        let end = (self.pos + len).min(self.pat.len());
        let bytes = &self.pat[self.pos..end];
        self.pos = end;
        if let [b] = bytes {
            return Node::Byte(b.to_ascii_lowercase());
        }
        Node::Concat(bytes.iter().map(|&b| Node::Byte(b)).collect())
    }

    /// `{m}`, `{m,}`, `{m,n}` (and `{,n}`, read as `{0,n}`), at `pos`.
    fn interval(&mut self) -> Result<(u32, Option<u32>), Error> {
        let start = self.pos;
        self.pos += 1;
        let bad = |p: &mut Self| {
            p.pos = start;
            Err(p.err(ErrorKind::BadInterval))
        };
        let min = self.number();
        let max = if self.peek() == Some(b',') {
            self.pos += 1;
            self.number()
        } else {
            match min {
                Some(m) => Some(m),
                None => return bad(self),
            }
        };
        if self.peek() != Some(b'}') {
            return bad(self);
        }
        self.pos += 1;
        let min = min.unwrap_or(0);
        if max.is_some_and(|x| x < min) {
            return bad(self);
        }
        if min > MAX_REPEAT || max.is_some_and(|x| x > MAX_REPEAT) {
            self.pos = start;
            return Err(self.err(ErrorKind::RepeatTooLarge));
        }
        Ok((min, max))
    }

    /// Decimal digits at `pos` (saturating far above [`MAX_REPEAT`]).
    fn number(&mut self) -> Option<u32> {
        let mut v: Option<u32> = None;
        while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
            self.pos += 1;
            v = Some(
                v.unwrap_or(0)
                    .saturating_mul(10)
                    .saturating_add(u32::from(d - b'0')),
            );
        }
        v
    }

    /// A bracket expression; `pos` is just past its `[` at `start`.
    fn bracket(&mut self, start: usize) -> Result<Node, Error> {
        let mut set: ByteSet = [0; 4];
        let negate = self.peek() == Some(b'^');
        if negate {
            self.pos += 1;
        }
        let unmatched = |p: &mut Self| {
            p.pos = start;
            Err(p.err(ErrorKind::UnmatchedBracket))
        };
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                return unmatched(self);
            };
            if c == b']' && !first {
                self.pos += 1;
                break;
            }
            first = false;
            if c == b'[' && matches!(self.pat.get(self.pos + 1), Some(b':' | b'=' | b'.')) {
                self.class(&mut set)?;
                continue;
            }
            if !c.is_ascii() {
                return Err(self.err(ErrorKind::NonAsciiInBracket));
            }
            self.pos += 1;
            // a range, unless the '-' is the last character before ']'
            let range_end = match (self.peek(), self.pat.get(self.pos + 1)) {
                (Some(b'-'), Some(&e)) if e != b']' => Some(e),
                _ => None,
            };
            let Some(hi) = range_end else {
                set_add(&mut set, c);
                continue;
            };
            if !hi.is_ascii() {
                self.pos += 1;
                return Err(self.err(ErrorKind::NonAsciiInBracket));
            }
            if hi == b'[' && self.pat.get(self.pos + 2).is_some_and(|&x| x == b'.') {
                return Err(self.err(ErrorKind::UnsupportedBracket));
            }
            if hi < c {
                self.pos -= 1;
                return Err(self.err(ErrorKind::BadRange));
            }
            self.pos += 2;
            for b in c..=hi {
                set_add(&mut set, b);
            }
        }
        for b in b'a'..=b'z' {
            let upper = b.to_ascii_uppercase();
            if set_has(&set, b) || set_has(&set, upper) {
                set_add(&mut set, b);
                set_add(&mut set, upper);
            }
        }
        if negate {
            for w in &mut set {
                *w = !*w;
            }
        }
        self.sets.push(set);
        Ok(Node::Set(self.sets.len() - 1))
    }

    /// `[:name:]` inside a bracket, at `pos`; `[=x=]` and `[.x.]` are refused.
    fn class(&mut self, set: &mut ByteSet) -> Result<(), Error> {
        if self.pat.get(self.pos + 1) != Some(&b':') {
            return Err(self.err(ErrorKind::UnsupportedBracket));
        }
        let rest = &self.pat[self.pos + 2..];
        let Some(len) = rest.windows(2).position(|w| w == b":]") else {
            return Err(self.err(ErrorKind::UnmatchedBracket));
        };
        let Some(&(_, test)) = CLASSES.iter().find(|(n, _)| n.as_bytes() == &rest[..len]) else {
            return Err(self.err(ErrorKind::UnknownClass));
        };
        for b in (0..=127u8).filter(test) {
            set_add(set, b);
        }
        self.pos += 2 + len + 2;
        Ok(())
    }
}

/// Whether a byte is in a class.
type ClassTest = fn(&u8) -> bool;

/// POSIX's character classes, ASCII.
const CLASSES: [(&str, ClassTest); 12] = [
    ("alnum", u8::is_ascii_alphanumeric),
    ("alpha", u8::is_ascii_alphabetic),
    ("blank", |b| *b == b' ' || *b == b'\t'),
    ("cntrl", u8::is_ascii_control),
    ("digit", u8::is_ascii_digit),
    ("graph", u8::is_ascii_graphic),
    ("lower", u8::is_ascii_lowercase),
    ("print", |b| b.is_ascii_graphic() || *b == b' '),
    ("punct", u8::is_ascii_punctuation),
    ("space", |b| b.is_ascii_whitespace() || *b == 0x0b),
    ("upper", u8::is_ascii_uppercase),
    ("xdigit", u8::is_ascii_hexdigit),
];

/// Writes the program, never longer than [`MAX_PROGRAM`].
struct Emitter {
    prog: Vec<Inst>,
}

impl Emitter {
    fn push(&mut self, i: Inst) -> Result<u16, Error> {
        let at = self.prog.len();
        if at >= MAX_PROGRAM {
            return Err(Error {
                kind: ErrorKind::TooLarge,
                at: 0,
            });
        }
        self.prog.push(i);
        // below MAX_PROGRAM, which fits a u16 (checked in mod.rs)
        Ok(at as u16)
    }

    fn here(&self) -> u16 {
        // below MAX_PROGRAM, as `push` keeps it
        self.prog.len() as u16
    }

    fn patch(&mut self, at: u16, i: Inst) {
        if let Some(slot) = self.prog.get_mut(usize::from(at)) {
            *slot = i;
        }
    }

    fn emit(&mut self, n: &Node) -> Result<(), Error> {
        match n {
            Node::Empty => {}
            Node::Byte(b) => {
                self.push(Inst::Byte(*b))?;
            }
            Node::Set(i) => {
                // sets are at most one per pattern byte, far below u16::MAX
                self.push(Inst::Set(*i as u16))?;
            }
            Node::Any => {
                self.push(Inst::Any)?;
            }
            Node::LineStart => {
                self.push(Inst::LineStart)?;
            }
            Node::LineEnd => {
                self.push(Inst::LineEnd)?;
            }
            Node::Group(index, inner) => {
                if let Some(g) = index {
                    self.push(Inst::Save(2 * g))?;
                }
                self.emit(inner)?;
                if let Some(g) = index {
                    self.push(Inst::Save(2 * g + 1))?;
                }
            }
            Node::Concat(v) => {
                for x in v {
                    self.emit(x)?;
                }
            }
            Node::Alt(v) => {
                // split L1, next; L1: a; jmp end; next: split L2, next2; …
                let mut jumps = Vec::new();
                for (i, a) in v.iter().enumerate() {
                    if i + 1 < v.len() {
                        let split = self.push(Inst::Split(0, 0))?;
                        self.emit(a)?;
                        jumps.push(self.push(Inst::Jmp(0))?);
                        let next = self.here();
                        self.patch(split, Inst::Split(split + 1, next));
                    } else {
                        self.emit(a)?;
                    }
                }
                let end = self.here();
                for j in jumps {
                    self.patch(j, Inst::Jmp(end));
                }
            }
            Node::Repeat { node, min, max } => {
                for _ in 0..*min {
                    self.emit(node)?;
                }
                match max {
                    // L: split body, end; body; jmp L; end:
                    None => {
                        let split = self.push(Inst::Split(0, 0))?;
                        self.emit(node)?;
                        self.push(Inst::Jmp(split))?;
                        let end = self.here();
                        self.patch(split, Inst::Split(split + 1, end));
                    }
                    // (x(x(x)?)?)?: each optional copy may end the lot
                    Some(max) => {
                        let mut splits = Vec::new();
                        for _ in *min..*max {
                            splits.push(self.push(Inst::Split(0, 0))?);
                            self.emit(node)?;
                        }
                        let end = self.here();
                        for s in splits {
                            self.patch(s, Inst::Split(s + 1, end));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
