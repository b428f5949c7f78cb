//! One UDP socket per DNS query in flight (RFC 5452 §9.2: a random source
//! port per query, so a forged reply must guess the port as well as the
//! 16-bit id).
//!
//! The resolver names each query with a [`QueryHandle`]. The first time the
//! driver sends for a handle it opens a socket bound to port 0 — the kernel
//! picks a free ephemeral port, at random on Linux — and registers it under
//! the slot's token; retransmissions of that query leave from the same
//! socket. Every datagram read from the socket goes to the core with the
//! socket's handle, so a reply is only taken on the socket of the query it
//! answers (RFC 5452 §9.1). When the query is over (answered, failed, timed
//! out) the socket is deregistered and closed. At most
//! [`MAX_DNS_PENDING`] sockets, in a fixed array indexed by slot.
//!
//! The sockets are opened while the daemon runs, long after the relay bound
//! its configured ports at start: an ephemeral port can only be a free one,
//! so a relay range overlapping the ephemeral range never loses a port.
//!
//! The sockets are dual-stack where the driver's are ([`Stack`]): a
//! query goes to an IPv4 or an IPv6 nameserver from the same kind of
//! socket. On AF_INET sockets (no IPv6 in the kernel, or no `ipv6`
//! feature) a query to an IPv6 nameserver fails to send and is retried at
//! the next server in the list.
//!
//! What it does not do: reach a link-local nameserver (its answer has a
//! scope id, which the driver drops: [`super::sys::sockaddr_to_addr`]).

use super::sys::{self, Stack};
use crate::dns::QueryHandle;
use crate::limits::MAX_DNS_PENDING;
use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};
use std::io;

/// A query's socket.
#[derive(Debug)]
struct Open {
    query: QueryHandle,
    sock: UdpSocket,
}

#[derive(Debug)]
pub struct DnsSockets {
    /// The socket of the query in each slot of the resolver's table.
    slots: [Option<Open>; MAX_DNS_PENDING],
    /// Sockets that may have datagrams to read (readable event not yet
    /// served, or the per-pass read bound reached).
    ready: [bool; MAX_DNS_PENDING],
    /// The kind of socket to open.
    stack: Stack,
}

impl DnsSockets {
    pub fn new(stack: Stack) -> DnsSockets {
        DnsSockets {
            slots: Default::default(),
            ready: [false; MAX_DNS_PENDING],
            stack,
        }
    }

    /// The socket to send `query` from. The first time it is asked for, a
    /// socket is opened and registered under `token` (a socket left in the
    /// slot by an earlier query is closed first). An error leaves the slot
    /// empty: the caller fails that lookup.
    pub fn socket_for(
        &mut self,
        registry: &Registry,
        query: QueryHandle,
        token: Token,
    ) -> io::Result<&UdpSocket> {
        let slot = query.slot();
        if self.get(slot).is_some_and(|(q, _)| q != query) {
            self.close(registry, slot);
        }
        let entry = self
            .slots
            .get_mut(slot)
            .ok_or_else(|| io::Error::other("DNS query slot out of range"))?;
        let open = match entry.take() {
            Some(open) => open,
            None => {
                // With the arrival of each answer: an IPv6 one from a mapped
                // source is refused (`sys::Refused`).
                let mut sock = UdpSocket::from_std(sys::udp_socket(self.stack, 0, true)?);
                // On error the socket is dropped here, which closes it.
                registry.register(&mut sock, token, Interest::READABLE)?;
                Open { query, sock }
            }
        };
        Ok(&entry.insert(open).sock)
    }

    /// The query whose socket holds `slot`, and the socket.
    pub fn get(&self, slot: usize) -> Option<(QueryHandle, &UdpSocket)> {
        self.slots
            .get(slot)
            .and_then(Option::as_ref)
            .map(|o| (o.query, &o.sock))
    }

    /// Deregister and close the socket in `slot`, if any.
    pub fn close(&mut self, registry: &Registry, slot: usize) {
        if let Some(mut o) = self.slots.get_mut(slot).and_then(Option::take) {
            // Closing the descriptor would drop the registration too; doing
            // it first keeps mio's view and the kernel's the same.
            let _ = registry.deregister(&mut o.sock);
        }
        if let Some(r) = self.ready.get_mut(slot) {
            *r = false;
        }
    }

    /// Close the sockets of the queries that are over.
    pub fn reap(&mut self, registry: &Registry, in_flight: impl Fn(QueryHandle) -> bool) {
        for slot in 0..MAX_DNS_PENDING {
            if self.get(slot).is_some_and(|(q, _)| !in_flight(q)) {
                self.close(registry, slot);
            }
        }
    }

    /// Note a readable event for `slot` (ignored if no socket is open there:
    /// a spurious or late event for a closed socket).
    pub fn mark_ready(&mut self, slot: usize) {
        let open = self.get(slot).is_some();
        if let Some(r) = self.ready.get_mut(slot) {
            *r = open;
        }
    }

    /// Set whether `slot` still has datagrams to read after a pass.
    pub fn set_ready(&mut self, slot: usize, more: bool) {
        if let Some(r) = self.ready.get_mut(slot) {
            *r = more && self.slots.get(slot).is_some_and(Option::is_some);
        }
    }

    pub fn is_ready(&self, slot: usize) -> bool {
        self.ready.get(slot).copied().unwrap_or(false)
    }

    pub fn any_ready(&self) -> bool {
        self.ready.iter().any(|r| *r)
    }

    /// Sockets open now.
    pub fn open(&self) -> usize {
        self.slots.iter().flatten().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::{Lookup, Resolver};
    use crate::side::Side;
    use mio::Poll;
    use std::net::SocketAddr;
    use std::time::Instant;

    /// Handles of real queries, from a resolver.
    fn handles(n: usize) -> (Resolver, Vec<QueryHandle>) {
        let ns: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut r = Resolver::new(&[ns], 7);
        let now = Instant::now();
        for i in 0..n {
            let name = format!("h{i}.test");
            assert_eq!(
                r.resolve(
                    now,
                    &name,
                    Some(1),
                    crate::transport::Transport::Udp,
                    Side::Lan,
                    crate::dns::Families::V4
                ),
                Lookup::Pending
            );
        }
        let mut buf = [0u8; 512];
        let mut out = Vec::new();
        while let Some((q, _, _)) = r.poll_transmit(now, &mut buf) {
            out.push(q);
        }
        (r, out)
    }

    fn port(s: &UdpSocket) -> u16 {
        s.local_addr().unwrap().port()
    }

    #[test]
    fn one_socket_per_query_closed_when_it_ends() {
        let poll = Poll::new().unwrap();
        let reg = poll.registry();
        let mut socks = DnsSockets::new(Stack::wanted());
        let (mut r, qs) = handles(3);
        let mut ports = Vec::new();
        for q in &qs {
            let p = port(socks.socket_for(reg, *q, Token(100 + q.slot())).unwrap());
            assert_ne!(p, 0);
            // The same query keeps its socket.
            assert_eq!(
                port(socks.socket_for(reg, *q, Token(100 + q.slot())).unwrap()),
                p
            );
            ports.push(p);
        }
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 3, "three queries, three ports");
        assert_eq!(socks.open(), 3);
        // Nothing ended: nothing closed.
        socks.reap(reg, |q| r.in_flight(q));
        assert_eq!(socks.open(), 3);
        // The first query fails (no socket, as if): its socket is closed.
        assert!(r.socket_failed(Instant::now(), qs[0]));
        socks.mark_ready(qs[0].slot());
        socks.reap(reg, |q| r.in_flight(q));
        assert_eq!(socks.open(), 2);
        assert!(socks.get(qs[0].slot()).is_none());
        assert!(!socks.is_ready(qs[0].slot()));
        // A late event for the closed slot is ignored.
        socks.mark_ready(qs[0].slot());
        assert!(!socks.any_ready());
    }

    #[test]
    fn a_new_query_in_a_used_slot_gets_a_new_socket() {
        let poll = Poll::new().unwrap();
        let reg = poll.registry();
        let mut socks = DnsSockets::new(Stack::wanted());
        let (mut r, qs) = handles(1);
        let first = qs[0];
        let old = socks
            .socket_for(reg, first, Token(1))
            .unwrap()
            .local_addr()
            .unwrap();
        // The query ends and a new one takes the same slot before the driver
        // reaped: the handle differs, so the old socket is not reused.
        assert!(r.socket_failed(Instant::now(), first));
        let (_, qs2) = {
            let now = Instant::now();
            assert_eq!(
                r.resolve(
                    now,
                    "next.test",
                    Some(1),
                    crate::transport::Transport::Udp,
                    Side::Lan,
                    crate::dns::Families::V4
                ),
                Lookup::Pending
            );
            let mut buf = [0u8; 512];
            let q = r.poll_transmit(now, &mut buf).unwrap().0;
            ((), vec![q])
        };
        let second = qs2[0];
        assert_eq!(second.slot(), first.slot());
        assert_ne!(second, first);
        socks.socket_for(reg, second, Token(1)).unwrap();
        assert_eq!(socks.open(), 1);
        assert_eq!(socks.get(first.slot()).map(|(q, _)| q), Some(second));
        // The old port was released (closed), whatever port the new one got.
        let again = std::net::UdpSocket::bind(old);
        assert!(again.is_ok(), "old socket {old} still open");
    }
}
