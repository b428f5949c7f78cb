//! sipnat's memory allocator for its static (musl) builds: `malloc` and
//! friends for the whole program, Rust and the C library alike
//! (`src/main.rs` exports them there; elsewhere the system's stays).
//!
//! Why: the C library the static builds link (zig's musl) brings a
//! multi-threaded allocator, 5.3 KB of the MIPS package (measured at issue
//! 12). sipnat is one thread, allocates its tables once at start and after
//! that little and small (configuration text, log lines, the status
//! answer), so a plain design serves it:
//! - sizes up to [`MAX_SMALL`] in classes of powers of two (16 B … 32 KiB),
//!   each block a 16-byte header and the payload, carved from 64 KiB chunks
//!   taken from the kernel and kept; a freed block goes on its class's free
//!   list and is reused for the next of its class;
//! - larger ones mapped by themselves (`mmap`) and given back at `free`
//!   (the big tables: their memory leaves with them);
//! - `calloc` writes no zeroes where the kernel's are still there (a large
//!   block, or a small one never given out before): a zeroed table or
//!   buffer costs no RSS until it is used;
//! - alignment beyond 16 bytes (rare: Rust asks for it only for types that
//!   demand it) by over-allocating and a header that points back.
//!
//! What it does not do: give small blocks back to the kernel (the peak of
//! small allocations stays; sipnat's is a few hundred kilobytes), or scale
//! across threads (one lock; sipnat has one thread).
//!
//! Every header is checked at `free`/`realloc`: a pointer this allocator
//! did not give out is ignored (never a write through it).

use core::ptr;
use core::sync::atomic::{AtomicBool, Ordering};

/// The header before every payload: 16 bytes, so payloads are 16-aligned.
const HEADER: usize = 16;
/// The largest payload served from a class.
pub const MAX_SMALL: usize = 32 * 1024;
const CLASSES: usize = 12; // 16 << 0 ..= 16 << 11 (32 KiB)
const CHUNK: usize = 64 * 1024;
const MAGIC: u32 = 0x5a1f_0000;
/// Header kinds (low byte of the tag).
const LARGE: u32 = 0xfe;
const OFFSET: u32 = 0xff;

/// Where memory comes from: the kernel (`mmap`), or a test's stand-in.
pub trait Pages {
    /// `len` bytes (a multiple of the page size), zeroed, page-aligned; null
    /// when there are none.
    fn map(&mut self, len: usize) -> *mut u8;
    fn unmap(&mut self, p: *mut u8, len: usize);
}

/// The kernel's pages.
pub struct Kernel;

impl Pages for Kernel {
    fn map(&mut self, len: usize) -> *mut u8 {
        // SAFETY: an anonymous private mapping; the result is checked.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            ptr::null_mut()
        } else {
            p.cast()
        }
    }

    fn unmap(&mut self, p: *mut u8, len: usize) {
        // SAFETY: `p`/`len` are a mapping `map` made (the header said so).
        unsafe { libc::munmap(p.cast(), len) };
    }
}

fn page_round(n: usize) -> Option<usize> {
    Some(n.checked_add(4095)? & !4095)
}

/// The class of a payload of `n` bytes (`n <= MAX_SMALL`).
fn class_of(n: usize) -> usize {
    let mut c = 0;
    while (16usize << c) < n {
        c += 1;
    }
    c
}

/// The allocator's state. All of it is reached through raw pointers into
/// memory it owns; `Heap::new` is const so it can be a static.
pub struct Heap<P: Pages> {
    pages: P,
    free: [*mut u8; CLASSES],
    /// The unused rest of the current chunk.
    next: *mut u8,
    end: *mut u8,
}

impl<P: Pages> Heap<P> {
    pub const fn new(pages: P) -> Self {
        Heap {
            pages,
            free: [ptr::null_mut(); CLASSES],
            next: ptr::null_mut(),
            end: ptr::null_mut(),
        }
    }

    /// # Safety
    /// The caller holds the heap alone (see [`Locked`]).
    pub unsafe fn malloc(&mut self, n: usize) -> *mut u8 {
        unsafe { self.block(n).0 }
    }

    /// A block of `n` bytes, and whether it is fresh: never given out
    /// before, so still the zeroes the kernel mapped (a large block, or a
    /// small one carved from the unused rest of a chunk; not one from a
    /// free list).
    ///
    /// # Safety
    /// As [`Heap::malloc`].
    unsafe fn block(&mut self, n: usize) -> (*mut u8, bool) {
        if n > MAX_SMALL {
            let Some(len) = n.checked_add(HEADER).and_then(page_round) else {
                return (ptr::null_mut(), false);
            };
            let p = self.pages.map(len);
            if p.is_null() {
                return (p, false);
            }
            // SAFETY: `p` holds `len` >= HEADER bytes.
            unsafe { set_header(p.add(HEADER), LARGE, len) };
            return (unsafe { p.add(HEADER) }, true);
        }
        let c = class_of(n);
        let head = self.free[c];
        if !head.is_null() {
            // SAFETY: a free block's payload starts with the next free one.
            self.free[c] = unsafe { head.cast::<*mut u8>().read() };
            return (head, false);
        }
        let block = HEADER + (16 << c);
        if (self.end as usize).saturating_sub(self.next as usize) < block {
            let chunk = self.pages.map(CHUNK);
            if chunk.is_null() {
                return (chunk, false);
            }
            self.next = chunk;
            // SAFETY: inside the chunk just mapped.
            self.end = unsafe { chunk.add(CHUNK) };
        }
        // SAFETY: at least `block` bytes are left in the chunk.
        unsafe {
            let p = self.next.add(HEADER);
            self.next = self.next.add(block);
            set_header(p, c as u32, 0);
            (p, true)
        }
    }

    /// `n` zeroed bytes. A fresh block (a large one's own mapping, or a
    /// small one from the untouched rest of a chunk) is zero already and is
    /// not written: its pages stay out of the RSS until used (Rust's zeroed
    /// tables and buffers, `vec![0; n]`, come this way). Only a reused
    /// block is cleared.
    ///
    /// # Safety
    /// As [`Heap::malloc`].
    pub unsafe fn calloc(&mut self, n: usize) -> *mut u8 {
        let (p, fresh) = unsafe { self.block(n) };
        if !p.is_null() && !fresh {
            // SAFETY: `p` holds `n` bytes.
            unsafe { ptr::write_bytes(p, 0, n) };
        }
        p
    }

    /// # Safety
    /// As [`Heap::malloc`]; `p` is null or came from this heap.
    pub unsafe fn free(&mut self, p: *mut u8) {
        let Some((kind, value, p)) = (unsafe { header(p) }) else {
            return;
        };
        match kind {
            LARGE => unsafe { self.pages.unmap(p.sub(HEADER), value) },
            c if (c as usize) < CLASSES => {
                // SAFETY: a class block's payload holds at least a pointer.
                unsafe { p.cast::<*mut u8>().write(self.free[c as usize]) };
                self.free[c as usize] = p;
            }
            _ => {}
        }
    }

    /// How many bytes the block at `p` can hold (0: not one of ours).
    ///
    /// # Safety
    /// As [`Heap::free`].
    pub unsafe fn usable(&self, p: *mut u8) -> usize {
        match unsafe { header(p) } {
            Some((LARGE, len, q)) => (len - HEADER) - (p as usize - q as usize),
            Some((c, _, q)) => (16usize << c) - (p as usize - q as usize),
            None => 0,
        }
    }

    /// # Safety
    /// As [`Heap::free`].
    pub unsafe fn realloc(&mut self, p: *mut u8, n: usize) -> *mut u8 {
        if p.is_null() {
            return unsafe { self.malloc(n) };
        }
        let have = unsafe { self.usable(p) };
        if have >= n && have > 0 {
            return p;
        }
        let q = unsafe { self.malloc(n) };
        if !q.is_null() {
            // SAFETY: both blocks hold at least `have.min(n)` bytes.
            unsafe {
                ptr::copy_nonoverlapping(p, q, have.min(n));
                self.free(p);
            }
        }
        q
    }

    /// A block aligned to `align` (a power of two).
    ///
    /// # Safety
    /// As [`Heap::malloc`].
    pub unsafe fn aligned(&mut self, align: usize, n: usize) -> *mut u8 {
        if align <= HEADER {
            return unsafe { self.malloc(n) };
        }
        let Some(total) = n.checked_add(align).and_then(|t| t.checked_add(HEADER)) else {
            return ptr::null_mut();
        };
        let p = unsafe { self.malloc(total) };
        if p.is_null() {
            return p;
        }
        let at = (p as usize + HEADER + align - 1) & !(align - 1);
        let q = at as *mut u8;
        // SAFETY: `q - HEADER >= p` and `q + n <= p + total`.
        unsafe { set_header(q, OFFSET, q as usize - p as usize) };
        q
    }
}

/// # Safety
/// `p` has HEADER writable bytes before it.
unsafe fn set_header(p: *mut u8, kind: u32, value: usize) {
    unsafe {
        p.sub(HEADER).cast::<u32>().write(MAGIC | kind);
        p.sub(HEADER - 8).cast::<usize>().write(value);
    }
}

/// The header of `p`: its kind, value, and the payload it describes
/// (for an aligned block, the block it was carved from). None for null or
/// a pointer with no header of ours.
///
/// # Safety
/// `p` is null or has HEADER readable bytes before it.
unsafe fn header(p: *mut u8) -> Option<(u32, usize, *mut u8)> {
    if p.is_null() || p as usize % HEADER != 0 {
        return None;
    }
    let (tag, value) = unsafe {
        (
            p.sub(HEADER).cast::<u32>().read(),
            p.sub(HEADER - 8).cast::<usize>().read(),
        )
    };
    if tag & 0xffff_ff00 != MAGIC {
        return None;
    }
    match tag & 0xff {
        OFFSET => {
            let q = unsafe { p.sub(value) };
            let (kind, v, _) = unsafe { header(q) }?;
            (kind != OFFSET).then_some((kind, v, q))
        }
        kind => Some((kind, value, p)),
    }
}

/// A heap behind a lock, for a `static`: sipnat is one thread, the lock
/// only keeps the heap whole if that ever changes.
pub struct Locked<P: Pages> {
    busy: AtomicBool,
    heap: core::cell::UnsafeCell<Heap<P>>,
}

// SAFETY: the heap is reached only with `busy` held.
unsafe impl<P: Pages> Sync for Locked<P> {}

impl<P: Pages> Locked<P> {
    pub const fn new(pages: P) -> Self {
        Locked {
            busy: AtomicBool::new(false),
            heap: core::cell::UnsafeCell::new(Heap::new(pages)),
        }
    }

    /// Run `f` on the heap, alone.
    pub fn with<R>(&self, f: impl FnOnce(&mut Heap<P>) -> R) -> R {
        while self
            .busy
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        // SAFETY: `busy` is ours until released below.
        let r = f(unsafe { &mut *self.heap.get() });
        self.busy.store(false, Ordering::Release);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_every_small_size() {
        assert_eq!(class_of(0), 0);
        assert_eq!(class_of(16), 0);
        assert_eq!(class_of(17), 1);
        assert_eq!(class_of(1024), 6);
        assert_eq!(class_of(MAX_SMALL), CLASSES - 1);
    }

    /// Allocate, write, check and free many blocks of many sizes and
    /// alignments through the real pages; every block keeps its bytes
    /// while the others change, and freed blocks are reused.
    #[test]
    fn blocks_keep_their_bytes_and_are_reused() {
        let heap = Locked::new(Kernel);
        let mut live: Vec<(*mut u8, usize, u8)> = Vec::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..20_000u32 {
            let r = rnd();
            if live.len() > 200 || (r % 3 == 0 && !live.is_empty()) {
                let i = (r as usize / 3) % live.len();
                let (p, n, fill) = live.swap_remove(i);
                for k in 0..n {
                    assert_eq!(unsafe { *p.add(k) }, fill, "round {round}");
                }
                heap.with(|h| unsafe { h.free(p) });
                continue;
            }
            let n = match r % 10 {
                0 => (r >> 8) as usize % 200_000,
                1..=3 => (r >> 8) as usize % 4096,
                _ => (r >> 8) as usize % 64,
            };
            let align = [1, 16, 64, 4096][(r >> 40) as usize % 4];
            let p = heap.with(|h| unsafe {
                if align > 16 {
                    h.aligned(align, n)
                } else {
                    h.malloc(n)
                }
            });
            assert!(!p.is_null());
            assert_eq!(p as usize % align.max(16), 0);
            assert!(heap.with(|h| unsafe { h.usable(p) }) >= n);
            let fill = round as u8;
            unsafe { ptr::write_bytes(p, fill, n) };
            live.push((p, n, fill));
        }
        for (p, _, _) in live {
            heap.with(|h| unsafe { h.free(p) });
        }
        // a freed small block comes back for the next of its class
        let a = heap.with(|h| unsafe { h.malloc(100) });
        heap.with(|h| unsafe { h.free(a) });
        assert_eq!(heap.with(|h| unsafe { h.malloc(120) }), a);
    }

    #[test]
    fn calloc_gives_zeroes_small_and_large() {
        let heap = Locked::new(Kernel);
        heap.with(|h| unsafe {
            for n in [1, 100, 5000, MAX_SMALL, MAX_SMALL + 1, 300_000] {
                let p = h.malloc(n);
                ptr::write_bytes(p, 0xa5, n);
                h.free(p);
                let q = h.calloc(n);
                assert!(
                    core::slice::from_raw_parts(q, n).iter().all(|b| *b == 0),
                    "{n}"
                );
                h.free(q);
            }
        });
    }

    /// Pages marked 0x5a instead of zeroed (a stand-in breaking the
    /// contract on purpose) show which bytes calloc writes: none of a fresh
    /// block, small or large; all of a reused one.
    #[test]
    fn calloc_writes_only_reused_blocks() {
        struct Marked(Vec<Vec<u8>>);
        impl Pages for Marked {
            fn map(&mut self, len: usize) -> *mut u8 {
                let mut v = vec![0x5au8; len + 4096];
                let p = v.as_mut_ptr();
                self.0.push(v);
                ((p as usize + 4095) & !4095) as *mut u8
            }
            fn unmap(&mut self, _: *mut u8, _: usize) {}
        }
        let heap = Locked::new(Marked(Vec::new()));
        heap.with(|h| unsafe {
            for n in [100, 5000, MAX_SMALL, MAX_SMALL + 1] {
                let p = h.calloc(n);
                let fresh = core::slice::from_raw_parts(p, n);
                assert!(fresh.iter().all(|b| *b == 0x5a), "{n}: fresh, not written");
                h.free(p);
                let q = h.calloc(n);
                if n <= MAX_SMALL {
                    assert_eq!(q, p, "{n}: the freed block again");
                    let again = core::slice::from_raw_parts(q, n);
                    assert!(again.iter().all(|b| *b == 0), "{n}: reused, cleared");
                }
                h.free(q);
            }
        });
    }

    #[test]
    fn realloc_keeps_the_content_and_grows_in_place_when_it_can() {
        let heap = Locked::new(Kernel);
        heap.with(|h| unsafe {
            let p = h.realloc(ptr::null_mut(), 10);
            ptr::copy_nonoverlapping(b"0123456789".as_ptr(), p, 10);
            assert_eq!(h.realloc(p, 16), p, "16 bytes fit its class");
            let q = h.realloc(p, 100_000);
            assert_eq!(core::slice::from_raw_parts(q, 10), b"0123456789");
            let r = h.realloc(q, 50);
            assert_eq!(r, q, "a large block holds a smaller size");
            h.free(r);
        });
    }

    #[test]
    fn foreign_pointers_are_ignored() {
        let heap = Locked::new(Kernel);
        let mut stack = [0u8; 64];
        heap.with(|h| unsafe {
            h.free(stack.as_mut_ptr().add(32));
            h.free(ptr::null_mut());
            assert_eq!(h.usable(stack.as_mut_ptr().add(32)), 0);
            assert!(h.malloc(usize::MAX).is_null());
            assert!(h.aligned(64, usize::MAX).is_null());
        });
        assert!(stack.iter().all(|b| *b == 0), "nothing written");
    }
}
