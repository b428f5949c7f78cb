//! Where the core writes what it wants sent: the [`Outbox`], owned by the
//! driver and drained after every call into the core, and the [`Buf`] writer
//! messages are composed with.
//!
//! Nothing here allocates after construction: the outbox is one fixed byte
//! arena plus a fixed list of datagram descriptors. When either is full, the
//! message is not queued and the caller counts it (`Outbox::push` returns
//! `false`).

use crate::dns::QueryHandle;
use crate::limits::{MAX_TRANSMITS, OUTBOX_BYTES};
use crate::net::Addr;
use crate::transport::Transport;
use std::net::{IpAddr, SocketAddr};

/// Which of the driver's sockets a datagram leaves from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// SIP over this transport: the UDP socket (`sip_listen_port`), or the
    /// TCP connection to the destination (reused, or opened by the driver).
    Sip(Transport),
    /// The socket of this DNS query (each query has its own, RFC 5452 §9.2).
    Dns(QueryHandle),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    pub channel: Channel,
    pub to: SocketAddr,
    /// Over TCP: where to open a connection when none to `to` is open (a
    /// phone's Contact, when the connection it registered on is gone).
    pub or_else: Option<Addr>,
    start: usize,
    len: usize,
    /// Over TLS: the length of the name the peer's certificate must match
    /// ([`Outbox::name_of`]), kept in the arena after the message.
    name_len: u8,
}

/// Datagrams the core asks the driver to send, in order.
pub struct Outbox {
    /// [`OUTBOX_BYTES`], allocated zeroed: the kernel's untouched pages,
    /// resident only as far as messages have filled it (each batch is
    /// written from the start, so an idle proxy holds a page or two).
    data: Box<[u8]>,
    list: heapless::Vec<Transmit, MAX_TRANSMITS>,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            data: vec![0; OUTBOX_BYTES].into_boxed_slice(),
            list: heapless::Vec::new(),
        }
    }
}

impl Outbox {
    /// A boxed outbox.
    pub fn new() -> Box<Outbox> {
        Box::default()
    }

    /// A writer over the free space of the arena. Call [`Outbox::commit`]
    /// with its length when the message is complete.
    pub fn writer(&mut self) -> Buf<'_> {
        let start = self.used();
        Buf {
            data: &mut self.data[start..],
            len: 0,
            overflow: false,
        }
    }

    /// Queue the `len` bytes just written by [`Outbox::writer`]. Returns
    /// false (and queues nothing) if the descriptor list is full.
    pub fn commit(&mut self, channel: Channel, to: SocketAddr, len: usize) -> bool {
        self.commit_or(channel, to, None, "", len)
    }

    /// [`Outbox::commit`], with where a TCP message goes when no
    /// connection to `to` is open ([`Transmit::or_else`]), and the name a
    /// TLS peer's certificate must match when a connection to it is opened
    /// (RFC 5922 §4: the domain the hop was found by; empty: none known).
    pub fn commit_or(
        &mut self,
        channel: Channel,
        to: SocketAddr,
        or_else: Option<Addr>,
        name: &str,
        len: usize,
    ) -> bool {
        let start = self.used();
        let end = start + len + name.len();
        let Ok(name_len) = u8::try_from(name.len()) else {
            return false;
        };
        if end > OUTBOX_BYTES {
            return false;
        }
        self.data[start + len..end].copy_from_slice(name.as_bytes());
        self.list
            .push(Transmit {
                channel,
                to,
                or_else,
                start,
                len,
                name_len,
            })
            .is_ok()
    }

    /// The name given with a queued message ([`Outbox::commit_or`]); empty
    /// when none was.
    pub fn name_of(&self, t: &Transmit) -> &str {
        let at = t.start + t.len;
        std::str::from_utf8(&self.data[at..at + usize::from(t.name_len)]).unwrap_or("")
    }

    /// Give back the space a [`Buf`] took when its message is abandoned.
    pub fn abandon(&mut self) {
        // Nothing to undo: the space after the last committed message is free.
    }

    /// Copy `bytes` and queue them.
    pub fn push(&mut self, channel: Channel, to: SocketAddr, bytes: &[u8]) -> bool {
        let mut w = self.writer();
        w.put(bytes);
        if w.overflowed() {
            self.abandon();
            return false;
        }
        let len = w.len();
        self.commit(channel, to, len)
    }

    fn used(&self) -> usize {
        self.list
            .last()
            .map(|t| t.start + t.len + usize::from(t.name_len))
            .unwrap_or(0)
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The queued datagrams with their bytes.
    pub fn iter(&self) -> impl Iterator<Item = (&Transmit, &[u8])> {
        self.list
            .iter()
            .map(move |t| (t, &self.data[t.start..t.start + t.len]))
    }

    /// Forget everything queued (the driver calls this after sending).
    pub fn clear(&mut self) {
        self.list.clear();
    }
}

/// A bounded writer into a caller-owned byte slice. Writing past the end sets
/// a flag instead of panicking; the caller checks [`Buf::overflowed`] once at
/// the end.
pub struct Buf<'a> {
    data: &'a mut [u8],
    len: usize,
    overflow: bool,
}

impl<'a> Buf<'a> {
    pub fn new(data: &'a mut [u8]) -> Buf<'a> {
        Buf {
            data,
            len: 0,
            overflow: false,
        }
    }

    // Not inlined: one copy instead of 2.4 KB of them in the writers of
    // the MIPS build (its inliner takes anything this small).
    #[inline(never)]
    pub fn put(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if end > self.data.len() {
            self.overflow = true;
            return;
        }
        self.data[self.len..end].copy_from_slice(bytes);
        self.len = end;
    }

    pub fn put_str(&mut self, s: &str) {
        self.put(s.as_bytes());
    }

    pub fn put_u32(&mut self, mut v: u32) {
        let mut tmp = [0u8; 10];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.put(&tmp[i..]);
    }

    /// An address as text: IPv4 dotted-quad, IPv6 as RFC 5952 §4 writes
    /// it (std's `Display`), without brackets (a `received` value).
    pub fn put_ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(v4) => {
                for (i, b) in v4.octets().iter().enumerate() {
                    if i > 0 {
                        self.put(b".");
                    }
                    self.put_u32(u32::from(*b));
                }
            }
            IpAddr::V6(v6) => {
                let _ = core::fmt::Write::write_fmt(self, format_args!("{v6}"));
            }
        }
    }

    /// An address as the host of a URI or a Via sent-by: IPv6 in brackets
    /// (RFC 3261 §25.1 `IPv6reference`), IPv4 as [`Buf::put_ip`].
    pub fn put_host(&mut self, ip: IpAddr) {
        if ip.is_ipv6() {
            self.put(b"[");
            self.put_ip(ip);
            self.put(b"]");
        } else {
            self.put_ip(ip);
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.data[..self.len]
    }

    /// Drop everything written after `len`.
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
        }
    }
}

impl core::fmt::Write for Buf<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.put_str(s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_as_text_and_as_hosts() {
        let mut mem = [0u8; 64];
        let mut b = Buf::new(&mut mem);
        let v4: IpAddr = "10.0.255.1".parse().unwrap();
        let v6: IpAddr = "2001:DB8:0::1".parse().unwrap();
        b.put_ip(v4);
        b.put(b" ");
        b.put_host(v4);
        b.put(b" ");
        b.put_ip(v6);
        b.put(b" ");
        b.put_host(v6);
        assert_eq!(
            b.as_bytes(),
            b"10.0.255.1 10.0.255.1 2001:db8::1 [2001:db8::1]"
        );
    }

    #[test]
    fn buf_stops_at_capacity() {
        let mut mem = [0u8; 8];
        let mut b = Buf::new(&mut mem);
        b.put(b"12345");
        b.put_u32(678);
        assert!(!b.overflowed());
        assert_eq!(b.as_bytes(), b"12345678");
        b.put(b"9");
        assert!(b.overflowed());
        assert_eq!(b.len(), 8);
        b.truncate(2);
        assert_eq!(b.as_bytes(), b"12");
    }

    /// The handle of a real query (only the resolver makes them).
    fn query_handle(ns: SocketAddr) -> QueryHandle {
        use crate::dns::Resolver;
        use crate::side::Side;
        let now = std::time::Instant::now();
        let mut r = Resolver::new(&[ns], 1);
        let _ = r.resolve(
            now,
            "a.test",
            Some(1),
            crate::transport::Transport::Udp,
            Side::Lan,
            crate::dns::Families::V4,
        );
        let mut buf = [0u8; 512];
        r.poll_transmit(now, &mut buf).expect("a query").0
    }

    #[test]
    fn outbox_queues_in_order_and_clears() {
        let mut o = Outbox::new();
        let a: SocketAddr = "10.0.0.1:5060".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:53".parse().unwrap();
        let q = query_handle(b);
        assert!(o.push(Channel::Sip(Transport::Udp), a, b"one"));
        let mut w = o.writer();
        w.put(b"two!");
        let n = w.len();
        assert!(o.commit(Channel::Dns(q), b, n));
        let got: Vec<_> = o
            .iter()
            .map(|(t, d)| (t.channel, t.to, d.to_vec()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Channel::Sip(Transport::Udp), a, b"one".to_vec()),
                (Channel::Dns(q), b, b"two!".to_vec())
            ]
        );
        // An abandoned message leaves nothing behind.
        let mut w = o.writer();
        w.put(b"garbage");
        o.abandon();
        assert!(o.push(Channel::Sip(Transport::Udp), a, b"three"));
        assert_eq!(o.iter().nth(2).map(|(_, d)| d), Some(&b"three"[..]));
        o.clear();
        assert!(o.is_empty());
    }

    #[test]
    fn outbox_full_of_descriptors_refuses() {
        let mut o = Outbox::new();
        let a: SocketAddr = "10.0.0.1:5060".parse().unwrap();
        for _ in 0..MAX_TRANSMITS {
            assert!(o.push(Channel::Sip(Transport::Udp), a, b"x"));
        }
        assert!(!o.push(Channel::Sip(Transport::Udp), a, b"y"));
        assert_eq!(o.len(), MAX_TRANSMITS);
    }

    #[test]
    fn outbox_full_of_bytes_refuses() {
        let mut o = Outbox::new();
        let a: SocketAddr = "10.0.0.1:5060".parse().unwrap();
        let big = vec![0u8; OUTBOX_BYTES - 10];
        assert!(o.push(Channel::Sip(Transport::Udp), a, &big));
        assert!(!o.push(Channel::Sip(Transport::Udp), a, &[0u8; 11]));
        assert!(o.push(Channel::Sip(Transport::Udp), a, &[0u8; 10]));
    }
}
