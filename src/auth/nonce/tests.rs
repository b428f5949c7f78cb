use super::*;

const KEY: [u8; 32] = [7; 32];
const LIFE: u32 = 300;

fn fresh(n: &Nonces, text: &str, now: u32) -> (u32, u64) {
    match n.check(text, now, LIFE) {
        NonceCheck::Fresh { issued, id } => (issued, id),
        other => panic!("{text}: {other:?}"),
    }
}

#[test]
fn issued_nonces_check_fresh_and_are_unique() {
    let n = Nonces::new(KEY);
    let a = n.issue(1000);
    let b = n.issue(1000);
    assert_eq!(a.len(), NONCE_LEN);
    assert!(a.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
    assert_ne!(a, b);
    let (ia, ida) = fresh(&n, &a, 1000);
    let (ib, idb) = fresh(&n, &b, 1200);
    assert_eq!((ia, ib), (1000, 1000));
    assert_ne!(ida, idb);
    // The last second of the lifetime is still fresh.
    fresh(&n, &a, 1000 + LIFE);
}

#[test]
fn old_and_future_nonces_are_stale() {
    let n = Nonces::new(KEY);
    let a = n.issue(1000);
    assert_eq!(n.check(&a, 1000 + LIFE + 1, LIFE), NonceCheck::Stale);
    assert_eq!(n.check(&a, 999, LIFE), NonceCheck::Stale);
}

#[test]
fn foreign_or_damaged_nonces_are_invalid() {
    let n = Nonces::new(KEY);
    let a = n.issue(1000);
    // Another key (an earlier run of the daemon).
    let other = Nonces::new([8; 32]);
    assert_eq!(other.check(&a, 1000, LIFE), NonceCheck::Invalid);
    // Every single-digit change, uppercase, wrong lengths, garbage.
    for i in 0..a.len() {
        let mut t: std::string::String = a.as_str().into();
        let c = t.as_bytes()[i];
        let repl = if c == b'0' { "1" } else { "0" };
        t.replace_range(i..=i, repl);
        assert_eq!(n.check(&t, 1000, LIFE), NonceCheck::Invalid, "digit {i}");
    }
    let upper = a.to_ascii_uppercase();
    if upper != a.as_str() {
        assert_eq!(n.check(&upper, 1000, LIFE), NonceCheck::Invalid);
    }
    for bad in [
        "",
        "00",
        &a[..47],
        &format!("{a}0"),
        &"z".repeat(48),
        &"é".repeat(24),
    ] {
        assert_eq!(n.check(bad, 1000, LIFE), NonceCheck::Invalid, "{bad:?}");
    }
    // A forged time with the old MAC does not pass.
    let forged = format!("{:08x}{}", 5000u32, &a[8..]);
    assert_eq!(n.check(&forged, 5000, LIFE), NonceCheck::Invalid);
}

#[test]
fn nonce_counts_must_grow() {
    let mut t = NonceCounts::<4>::new();
    assert_eq!(t.accept(1, 100, 1, 100, LIFE), NcVerdict::Ok);
    assert_eq!(t.accept(1, 100, 1, 101, LIFE), NcVerdict::Replay);
    assert_eq!(t.accept(1, 100, 2, 102, LIFE), NcVerdict::Ok);
    assert_eq!(t.accept(1, 100, 5, 103, LIFE), NcVerdict::Ok);
    assert_eq!(t.accept(1, 100, 4, 104, LIFE), NcVerdict::Replay);
    assert_eq!(t.accept(1, 100, 5, 104, LIFE), NcVerdict::Replay);
    assert_eq!(t.accept(1, 100, 0, 104, LIFE), NcVerdict::Replay);
    // Another nonce has its own count.
    assert_eq!(t.accept(2, 100, 1, 104, LIFE), NcVerdict::Ok);
    assert_eq!(t.len(), 2);
}

#[test]
fn a_new_nonce_starts_at_one() {
    let mut t = NonceCounts::<4>::new();
    assert_eq!(t.accept(1, 100, 2, 100, LIFE), NcVerdict::Stale);
    assert_eq!(t.accept(1, 100, 0, 100, LIFE), NcVerdict::Stale);
    assert!(t.is_empty());
    assert_eq!(t.accept(1, 100, 1, 100, LIFE), NcVerdict::Ok);
}

#[test]
fn expired_nonces_are_stale_even_in_the_table() {
    let mut t = NonceCounts::<4>::new();
    assert_eq!(t.accept(1, 100, 1, 100, LIFE), NcVerdict::Ok);
    assert_eq!(t.accept(1, 100, 2, 100 + LIFE + 1, LIFE), NcVerdict::Stale);
    assert_eq!(t.accept(2, 500, 1, 400, LIFE), NcVerdict::Stale, "future");
}

/// Eviction must not reopen a replay: once an entry is gone, its nonce (and
/// any older one not in the table) answers Stale, never Ok at nc=1 again.
#[test]
fn eviction_raises_a_watermark() {
    let mut t = NonceCounts::<3>::new();
    for (id, issued) in [(10, 100), (11, 101), (12, 102)] {
        assert_eq!(t.accept(id, issued, 1, 110, LIFE), NcVerdict::Ok);
    }
    // Full: nonce 13 pushes out the oldest (10, issued at 100).
    assert_eq!(t.accept(13, 103, 1, 110, LIFE), NcVerdict::Ok);
    assert_eq!(t.len(), 3);
    // Replaying nonce 10 from the start is refused...
    assert_eq!(t.accept(10, 100, 1, 111, LIFE), NcVerdict::Stale);
    assert_eq!(t.accept(10, 100, 2, 111, LIFE), NcVerdict::Stale);
    // ...and so is an unused nonce issued as early.
    assert_eq!(t.accept(20, 99, 1, 111, LIFE), NcVerdict::Stale);
    assert_eq!(t.accept(21, 100, 1, 111, LIFE), NcVerdict::Stale);
    // The ones kept still work, and still refuse replays.
    assert_eq!(t.accept(11, 101, 2, 111, LIFE), NcVerdict::Ok);
    assert_eq!(t.accept(11, 101, 2, 111, LIFE), NcVerdict::Replay);
    // A newer nonce evicts 11 (issued 101): the watermark moves up to 101.
    assert_eq!(t.accept(14, 104, 1, 112, LIFE), NcVerdict::Ok);
    assert_eq!(t.accept(11, 101, 3, 112, LIFE), NcVerdict::Stale);
    assert_eq!(t.accept(12, 102, 2, 112, LIFE), NcVerdict::Ok);
}

#[test]
fn expired_entries_make_room_first() {
    let mut t = NonceCounts::<2>::new();
    assert_eq!(t.accept(1, 100, 1, 100, LIFE), NcVerdict::Ok);
    assert_eq!(t.accept(2, 350, 1, 350, LIFE), NcVerdict::Ok);
    // At 450, nonce 1 (issued 100) has expired: it is the one to go.
    assert_eq!(t.accept(3, 440, 1, 450, LIFE), NcVerdict::Ok);
    assert_eq!(t.accept(2, 350, 2, 450, LIFE), NcVerdict::Ok);
    assert_eq!(t.accept(3, 440, 2, 450, LIFE), NcVerdict::Ok);
    assert_eq!(t.len(), 2);
}

/// An old nonce first used when the table is full of newer ones is admitted
/// (it is in the table from then on), and stays replay-proof after it goes.
#[test]
fn an_old_nonce_first_used_late() {
    let mut t = NonceCounts::<2>::new();
    assert_eq!(t.accept(1, 200, 1, 210, LIFE), NcVerdict::Ok);
    assert_eq!(t.accept(2, 201, 1, 210, LIFE), NcVerdict::Ok);
    assert_eq!(t.accept(3, 150, 1, 210, LIFE), NcVerdict::Ok);
    assert_eq!(t.accept(3, 150, 1, 210, LIFE), NcVerdict::Replay);
    // Nonce 1 went (watermark 200): it cannot start over.
    assert_eq!(t.accept(1, 200, 1, 211, LIFE), NcVerdict::Stale);
    // Nonce 4 pushes out 3 (issued 150); 3 cannot start over either.
    assert_eq!(t.accept(4, 202, 1, 211, LIFE), NcVerdict::Ok);
    assert_eq!(t.accept(3, 150, 1, 211, LIFE), NcVerdict::Stale);
}

#[test]
fn a_table_without_room_admits_nothing() {
    let mut t = NonceCounts::<0>::new();
    assert_eq!(t.accept(1, 100, 1, 100, LIFE), NcVerdict::Stale);
}

#[test]
fn issue_then_count_round_trip() {
    let n = Nonces::new(KEY);
    let mut t = NonceCounts::<8>::new();
    let a = n.issue(50);
    let (issued, id) = fresh(&n, &a, 60);
    assert_eq!(t.accept(id, issued, 1, 60, LIFE), NcVerdict::Ok);
    assert_eq!(t.accept(id, issued, 1, 61, LIFE), NcVerdict::Replay);
    assert_eq!(t.accept(id, issued, 2, 61, LIFE), NcVerdict::Ok);
}
