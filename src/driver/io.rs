//! The SIP socket and the DNS queries' sockets: reading their datagrams
//! into the core, and sending what the core queued (UDP, TCP and DNS).
//!
//! Every source is canonical before the core sees it
//! ([`sys::sockaddr_to_addr`]: an IPv4 peer of a dual-stack socket is IPv4);
//! a datagram from a link-local IPv6 source (the core has no scope to
//! answer it with) or an IPv6 one from an IPv4-mapped source is dropped
//! and counted ([`sys::Refused`]: `drop.link-local`, `drop.mapped-source`). Every IPv4
//! destination leaves a dual-stack socket as its mapped address
//! ([`sys::std_target`]).
//!
//! What it does not do: name the source address of an IPv6 send (the
//! kernel's routing picks it; a later stage of issue 14 names the address
//! the core put in Via and SDP, which [`crate::output::Transmit`] will
//! carry), or read the relay's sockets (`Daemon::read_relay`).

use super::{Daemon, Source, sys};
use crate::dns::QueryHandle;
use crate::limits::{MAX_READS_PER_WAKEUP, MAX_TRANSMITS};
use crate::net::Addr;
use crate::proxy::Channel;
use crate::transport::Transport;
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::time::Instant;

impl Daemon {
    /// Read up to the per-pass bound; true if the socket may have more.
    pub(super) fn read_socket(&mut self, now: Instant, src: Source, buf: &mut [u8]) -> bool {
        for _ in 0..MAX_READS_PER_WAKEUP {
            let mut query = None;
            let fd = match src {
                Source::Sip => self.sip.as_raw_fd(),
                Source::Dns(slot) => match self.dns.get(slot) {
                    Some((q, sock)) => {
                        query = Some(q);
                        sock.as_raw_fd()
                    }
                    // Closed: its query ended (perhaps by the last datagram).
                    None => return false,
                },
                _ => return false,
            };
            match sys::recv_with_ifindex(fd, buf) {
                Ok(d) => {
                    let from = match d.from {
                        Ok(from) => from,
                        Err(why) => {
                            self.core.stats.bump("drop", why.as_str());
                            continue;
                        }
                    };
                    match src {
                        Source::Sip => {
                            let side = self.ingress.side(d.ifindex, from);
                            // A datagram longer than the buffer could not be
                            // read whole: the core sees its full buffer and
                            // counts it as too large.
                            let n = if d.truncated { buf.len() } else { d.len };
                            self.core.handle_sip(
                                now,
                                from.to_std(),
                                side,
                                Transport::Udp,
                                &mut buf[..n],
                                &mut self.out,
                            );
                        }
                        Source::Dns(_) => {
                            if let Some(query) = query {
                                let data = buf.get(..d.len).unwrap_or(buf);
                                let from = from.to_std();
                                self.core.handle_dns(now, query, from, data, &mut self.out);
                            }
                        }
                        _ => {}
                    }
                    self.flush(now);
                    self.flush_held(now);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // ICMP errors (port unreachable) surface here on Linux.
                    log::debug!("recv: {e}");
                    continue;
                }
            }
        }
        true
    }

    /// Send the outbox; return the DNS queries whose socket could not be
    /// opened (their datagrams are not sent).
    pub(super) fn send_queued(&mut self) -> heapless::Vec<QueryHandle, MAX_TRANSMITS> {
        let mut failed = heapless::Vec::new();
        for (t, bytes) in self.out.iter() {
            let sock = match t.channel {
                Channel::Sip(Transport::Udp) => &self.sip,
                Channel::Sip(transport @ (Transport::Tcp | Transport::Tls)) => {
                    let Some(to) = Addr::from_std(t.to) else {
                        log::debug!("tcp: no connection to a scoped address {}", t.to);
                        continue;
                    };
                    let side = self.ingress.side_of_address(to.ip());
                    let stats = &mut self.core.stats;
                    let (registry, now) = (self.poll.registry(), Instant::now());
                    let how = super::tcp::Stream {
                        transport,
                        name: self.out.name_of(t),
                    };
                    if !self
                        .tcp
                        .send(now, registry, to, t.or_else, side, how, bytes, stats)
                    {
                        log::debug!("tcp: {} bytes to {to} not sent", bytes.len());
                    }
                    continue;
                }
                Channel::Dns(query) => {
                    let token = Source::dns_token(query);
                    match self.dns.socket_for(self.poll.registry(), query, token) {
                        Ok(sock) => sock,
                        Err(e) => {
                            log::debug!("cannot open a socket for a DNS query: {e}");
                            if !failed.contains(&query) {
                                // At most one entry per outbox datagram.
                                let _ = failed.push(query);
                            }
                            continue;
                        }
                    }
                }
            };
            if log::log_enabled!(log::Level::Trace) {
                log::trace!(
                    "send {} bytes to {}:\n{}",
                    bytes.len(),
                    t.to,
                    String::from_utf8_lossy(bytes)
                );
            }
            // Hook for stage 5 of issue 14: an IPv6 send is to name its
            // source (the address the core wrote in Via and SDP; a router
            // has several) with an IPV6_PKTINFO control message, from a
            // source `Transmit` does not carry yet. Until then the kernel's
            // routing picks it, and the core sends no IPv6. IPv4 stays as is.
            if let Err(e) = sock.send_to(bytes, sys::std_target(t.to, self.stack)) {
                log::debug!("send to {}: {e}", t.to);
            }
        }
        self.out.clear();
        failed
    }
}
