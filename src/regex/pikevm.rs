//! The Pike VM: every thread of the NFA advanced together, one input byte
//! at a time, at most one thread per instruction (a later one reaching an
//! instruction already taken is dropped: from there both would do the
//! same). So the work per byte is bounded by the program's size, and the
//! whole search by input length × program size, whatever the pattern
//! (no backtracking: `(a*)*b` on a long run of `a`s is as fast as `a`).
//!
//! Threads are kept in priority order, which is also the order of their
//! start offsets (a new thread is seeded behind the older ones at each
//! byte). When one matches, the threads that started later are cut and no
//! more are seeded; the ones that started at the same place run on for a
//! longer match, the ones that started earlier for a match more to the
//! left. So the result is POSIX's leftmost-longest match.

use super::parse::set_has;
use super::{Captures, Inst, NONE, Regex};

/// The memory a search works in: grown to the largest program run, then
/// reused, so matching allocates nothing.
#[derive(Debug, Default)]
pub struct Scratch {
    cur: Threads,
    next: Threads,
    stack: Vec<Frame>,
    tmp: Vec<u32>,
    /// Input positions looked at since [`super::Regex::replace_all`] began.
    pub(super) steps: usize,
}

#[derive(Debug, Clone, Copy)]
enum Frame {
    Explore(u16),
    Restore(usize, u32),
}

/// The threads at one input position: a sparse set of instruction
/// indexes (insertion order = priority), and each thread's offsets.
#[derive(Debug, Default)]
struct Threads {
    dense: Vec<u16>,
    sparse: Vec<u16>,
    len: usize,
    caps: Vec<u32>,
}

impl Threads {
    fn prepare(&mut self, n: usize, slots: usize) {
        if self.dense.len() < n {
            self.dense.resize(n, 0);
            self.sparse.resize(n, 0);
        }
        if self.caps.len() < n * slots {
            self.caps.resize(n * slots, NONE);
        }
        self.len = 0;
    }

    /// False when `pc` is there already.
    fn insert(&mut self, pc: u16) -> bool {
        let i = usize::from(pc);
        let d = usize::from(self.sparse[i]);
        if d < self.len && self.dense[d] == pc {
            return false;
        }
        // len < n ≤ MAX_PROGRAM: every pc goes in at most once
        self.sparse[i] = self.len as u16;
        self.dense[self.len] = pc;
        self.len += 1;
        true
    }
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch::default()
    }

    fn prepare(&mut self, n: usize, slots: usize) {
        self.cur.prepare(n, slots);
        self.next.prepare(n, slots);
        self.stack.clear();
        self.stack.reserve(n + 1);
        self.tmp.clear();
        self.tmp.resize(slots, NONE);
    }
}

/// The leftmost-longest match of `re` in `hay` starting at `start` or
/// later; its offsets go to `caps`.
pub(super) fn search(
    re: &Regex,
    hay: &[u8],
    start: usize,
    caps: &mut Captures,
    s: &mut Scratch,
) -> bool {
    caps.slots.fill(NONE);
    // offsets are u32 (NONE is u32::MAX); SIP messages are far shorter
    if start > hay.len() || hay.len() >= NONE as usize {
        return false;
    }
    let slots = 2 * (re.groups() + 1);
    s.prepare(re.prog.len(), slots);
    let Scratch {
        cur,
        next,
        stack,
        tmp,
        steps,
    } = s;
    let best = &mut caps.slots[..slots];
    let mut matched = false;
    let mut at = start;
    loop {
        *steps += 1;
        if !matched && (!re.anchored || at == 0) {
            tmp.fill(NONE);
            add(re, cur, stack, tmp, 0, at, hay.len());
        }
        if cur.len == 0 && (matched || re.anchored) {
            break;
        }
        next.len = 0;
        let byte = hay.get(at).copied();
        for i in 0..cur.len {
            let pc = cur.dense[i];
            let base = usize::from(pc) * slots;
            let ok = match re.prog[usize::from(pc)] {
                Inst::Byte(b) => byte.map(|c| c.to_ascii_lowercase()) == Some(b),
                Inst::Set(k) => byte.is_some_and(|c| set_has(&re.sets[usize::from(k)], c)),
                Inst::Any => byte.is_some(),
                Inst::Match => true,
                // instructions that consume nothing were followed in `add`
                _ => continue,
            };
            let thread = &cur.caps[base..base + slots];
            if matched && thread[0] > best[0] {
                // started later than the match: cut, and all after it
                break;
            }
            if re.prog[usize::from(pc)] == Inst::Match {
                if !matched || thread[0] < best[0] || thread[1] > best[1] {
                    best.copy_from_slice(thread);
                }
                matched = true;
                continue;
            }
            if ok {
                tmp.copy_from_slice(thread);
                add(re, next, stack, tmp, pc + 1, at + 1, hay.len());
            }
        }
        std::mem::swap(cur, next);
        if at >= hay.len() {
            break;
        }
        at += 1;
    }
    matched
}

/// Add the thread at `pc` (offsets `caps`, at input offset `at`) to
/// `list`, following every instruction that consumes nothing. The stack
/// replaces recursion: at most one frame per instruction.
fn add(
    re: &Regex,
    list: &mut Threads,
    stack: &mut Vec<Frame>,
    caps: &mut [u32],
    pc: u16,
    at: usize,
    len: usize,
) {
    stack.push(Frame::Explore(pc));
    while let Some(f) = stack.pop() {
        let mut pc = match f {
            Frame::Restore(slot, v) => {
                caps[slot] = v;
                continue;
            }
            Frame::Explore(pc) => pc,
        };
        // every pc is in the program: jumps are patched inside it, and the
        // byte after a consuming instruction is never past the final Match
        while list.insert(pc) {
            match re.prog[usize::from(pc)] {
                Inst::Jmp(x) => pc = x,
                Inst::Split(x, y) => {
                    stack.push(Frame::Explore(y));
                    pc = x;
                }
                Inst::Save(k) => {
                    let k = usize::from(k);
                    if let Some(slot) = caps.get_mut(k) {
                        stack.push(Frame::Restore(k, *slot));
                        // at ≤ len < NONE, checked by `search`
                        *slot = at as u32;
                    }
                    pc += 1;
                }
                Inst::LineStart if at == 0 => pc += 1,
                Inst::LineEnd if at == len => pc += 1,
                Inst::LineStart | Inst::LineEnd => break,
                Inst::Byte(_) | Inst::Set(_) | Inst::Any | Inst::Match => {
                    let base = usize::from(pc) * caps.len();
                    list.caps[base..base + caps.len()].copy_from_slice(caps);
                    break;
                }
            }
        }
    }
}
