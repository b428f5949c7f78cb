//! A deterministic mutation fuzzer over the whole SIP core: every RFC 4475
//! and RFC 5118 message and the simulation's own messages, mutated (bytes
//! flipped, spliced, cut, duplicated) and fed from both sides. The property:
//! no panic, and everything the core sends is bounded and goes somewhere
//! sensible. It runs in the normal test suite with a fixed seed (so a failure
//! reproduces); `SIPNAT_FUZZ_ITERS` runs it longer.

mod common;
use common::*;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for dir in ["tests/data/rfc4475", "tests/data/rfc5118"] {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "dat") {
                v.push(std::fs::read(p).unwrap());
            }
        }
    }
    v.push(register("100", "198.51.100.2", PHONE, "c@10.77.1.2", 1, "r", 60).into_bytes());
    v.push(register("200", "10.77.1.1", PHONE2, "c2", 1, "l", 60).into_bytes());
    v.push(
        invite(
            "sip:bob@198.51.100.3",
            "100",
            "198.51.100.2",
            "10.77.1.2:5060",
            "i@10.77.1.2",
            "i1",
            "sip:100@10.77.1.2",
        )
        .into_bytes(),
    );
    v.push(
        invite(
            "sip:100@198.51.100.1",
            "a",
            "198.51.100.3",
            "198.51.100.3:5060",
            "w",
            "w1",
            "sip:a@198.51.100.3",
        )
        .into_bytes(),
    );
    v.push(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKsn0011223344556677\r\nVia: SIP/2.0/UDP 10.77.1.2\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n".to_vec());
    v
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&seeds[rng.below(seeds.len())]);
    for _ in 0..1 + rng.below(6) {
        let len = out.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] = rng.next() as u8;
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out.truncate(i);
            }
            2 => {
                let other = &seeds[rng.below(seeds.len())];
                let a = rng.below(other.len());
                let b = a + rng.below(other.len() - a + 1);
                let at = rng.below(len + 1);
                let tail = out.split_off(at);
                out.extend_from_slice(&other[a..b]);
                out.extend_from_slice(&tail);
            }
            3 if len > 0 => {
                // Insert a separator that matters to parsers.
                let seps: [&[u8]; 8] = [b"\r\n", b",", b";", b"<", b">", b"\"", b"\r\n ", b":"];
                let at = rng.below(len + 1);
                let s = seps[rng.below(seps.len())];
                let tail = out.split_off(at);
                out.extend_from_slice(s);
                out.extend_from_slice(&tail);
            }
            4 if len > 0 => {
                let a = rng.below(len);
                let b = a + rng.below(len - a);
                out.drain(a..b);
            }
            5 if len > 0 => {
                // Replace a digit with a huge number.
                if let Some(i) = out.iter().position(|c| c.is_ascii_digit()) {
                    let tail = out.split_off(i);
                    out.extend_from_slice(b"99999999999999999999");
                    out.extend_from_slice(&tail);
                }
            }
            6 => out.extend_from_slice(&[0u8; 3]),
            _ => {
                if len > 1 {
                    let i = rng.below(len - 1);
                    out.swap(i, i + 1);
                }
            }
        }
    }
}

#[test]
fn the_core_survives_mutated_sip_from_both_sides() {
    let iters: usize = std::env::var("SIPNAT_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let seeds = seeds();
    let mut rng = Rng(0x5eed_5eed_1234_5678);
    let mut sim = Sim::new();
    let senders = [
        PHONE,
        PHONE2,
        REGISTRAR,
        PEER,
        "127.0.0.1:5060",
        "10.77.1.1:5060",
        "198.51.100.1:5060",
    ];
    let mut buf = Vec::new();
    let mut sent = 0usize;
    for i in 0..iters {
        mutate(&mut rng, &seeds, &mut buf);
        let from = senders[rng.below(senders.len())];
        let out = sim.sip_bytes(from, &buf);
        for s in &out {
            assert!(s.bytes.len() <= sipnat::limits::OUTBOX_BYTES);
            let ip = match s.to {
                std::net::SocketAddr::V4(a) => *a.ip(),
                _ => panic!("IPv6 destination"),
            };
            assert!(
                !ip.is_broadcast() && !ip.is_unspecified() && !ip.is_multicast(),
                "iteration {i}: sent to {ip}"
            );
        }
        sent += out.len();
        if i % 1000 == 0 {
            sim.advance(std::time::Duration::from_secs(5));
        }
    }
    // The fuzzer reached the core's logic, not only the parser's rejections.
    let st = sim.core.stats();
    assert!(st.class_total("forward") > 0, "{st}");
    assert!(st.class_total("answer") > 0, "{st}");
    assert!(sent > 0);
}
