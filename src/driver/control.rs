//! The control socket: a Unix stream socket (`--control PATH`, mode 0660,
//! owned by `user`) where `sipnat status` and `sipnat reload` ask the
//! running daemon, served by the same mio loop as SIP and RTP.
//!
//! Protocol: the client sends one line — `status [json] [registrations|calls]`
//! or `reload` — and reads the answer until the daemon closes the
//! connection. Bounded so it can never hold up the relay: at most
//! [`MAX_CONTROL_CLIENTS`] connections (one more is accepted and closed at
//! once, counted `control.busy`), a request of at most [`MAX_REQUEST`]
//! bytes, [`CLIENT_TIMEOUT`] for the whole exchange, and the answer is
//! written without blocking as the client reads it. The answer itself is
//! made by the daemon ([`super::Daemon`]) from [`crate::status`].
//!
//! It does not authenticate: the socket's mode and owner decide who may
//! ask (root, and `user` and its group).

use crate::limits::MAX_CONTROL_CLIENTS;
use crate::stats::Stats;
use crate::status::Section;
use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry, Token};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Longest request line.
pub const MAX_REQUEST: usize = 128;
/// How long one client may take, from connecting to reading the answer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// What a client asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Status { json: bool, section: Section },
    Reload,
}

impl Request {
    /// Parse a request line (without its newline).
    pub fn parse(line: &str) -> Result<Request, String> {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("status") => {
                let (mut json, mut section) = (false, Section::All);
                for w in words {
                    if w == "json" {
                        json = true;
                    } else if let Some(s) = Section::parse(w) {
                        section = s;
                    } else {
                        return Err(format!("unknown status word '{w}'"));
                    }
                }
                Ok(Request::Status { json, section })
            }
            Some("reload") if words.next().is_none() => Ok(Request::Reload),
            _ => Err(format!(
                "unknown request '{}' (status [json] [registrations|calls], reload)",
                line.trim()
            )),
        }
    }
}

struct Client {
    stream: UnixStream,
    request: heapless::Vec<u8, MAX_REQUEST>,
    /// The answer, once made, and how much of it is written.
    answer: Option<(Vec<u8>, usize)>,
    deadline: Instant,
}

/// The listening socket and its clients.
pub struct Control {
    listener: Option<(UnixListener, PathBuf)>,
    clients: [Option<Client>; MAX_CONTROL_CLIENTS],
    /// Client slot `i` is `Token(base + i)`.
    base: usize,
}

impl Control {
    /// No control socket (no `--control`).
    pub fn none(base: usize) -> Control {
        Control {
            listener: None,
            clients: Default::default(),
            base,
        }
    }

    /// Listen on `path`, give it to `owner` (uid, gid) with mode 0660. A
    /// socket file left by a sipnat that died is replaced; one that a
    /// running sipnat answers on, or a file that is not a socket, is an
    /// error.
    pub fn open(
        path: &Path,
        owner: Option<(u32, u32)>,
        registry: &Registry,
        token: Token,
        base: usize,
    ) -> Result<Control, String> {
        let shown = path.display();
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(format!(
                    "control socket {shown}: exists and is not a socket"
                ));
            }
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(format!(
                    "control socket {shown}: another sipnat answers there (use another --control)"
                ));
            }
            std::fs::remove_file(path)
                .map_err(|e| format!("control socket {shown}: cannot remove the old one: {e}"))?;
        }
        let mut listener =
            UnixListener::bind(path).map_err(|e| format!("control socket {shown}: {e}"))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
            .map_err(|e| format!("control socket {shown}: chmod: {e}"))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::lchown(path, Some(uid), Some(gid))
                .map_err(|e| format!("control socket {shown}: chown: {e}"))?;
        }
        registry
            .register(&mut listener, token, Interest::READABLE)
            .map_err(|e| format!("poll register: {e}"))?;
        let mut c = Control::none(base);
        c.listener = Some((listener, path.to_path_buf()));
        Ok(c)
    }

    /// Accept waiting clients; when every slot is taken a new one is
    /// closed at once.
    pub fn accept(&mut self, now: Instant, registry: &Registry, stats: &mut Stats) {
        let Some((listener, _)) = self.listener.as_ref() else {
            return;
        };
        for _ in 0..2 * MAX_CONTROL_CLIENTS {
            let mut stream = match listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return, // WouldBlock, or out of descriptors
            };
            let Some(slot) = self.clients.iter().position(Option::is_none) else {
                stats.bump("control", "busy");
                continue; // dropped: closed
            };
            let token = Token(self.base + slot);
            if registry
                .register(&mut stream, token, Interest::READABLE)
                .is_err()
            {
                continue;
            }
            self.clients[slot] = Some(Client {
                stream,
                request: heapless::Vec::new(),
                answer: None,
                deadline: now + CLIENT_TIMEOUT,
            });
        }
    }

    /// Client `slot` is readable: read its request. `Some` once the line
    /// is whole (the daemon answers with [`Control::answer`]); a bad or
    /// too long request is answered here.
    pub fn readable(
        &mut self,
        slot: usize,
        registry: &Registry,
        stats: &mut Stats,
    ) -> Option<Request> {
        let c = self.clients.get_mut(slot)?.as_mut()?;
        if c.answer.is_some() {
            return None;
        }
        let mut buf = [0u8; MAX_REQUEST];
        let done = loop {
            match c.stream.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => {
                    let chunk = &buf[..n];
                    let end = chunk.iter().position(|&b| b == b'\n');
                    let take = &chunk[..end.unwrap_or(n)];
                    if c.request.extend_from_slice(take).is_err() {
                        stats.bump("control", "bad-request");
                        self.answer(slot, b"error: request too long\n".to_vec(), registry);
                        return None;
                    }
                    if end.is_some() {
                        break true;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                Err(_) => {
                    self.close(slot, registry);
                    return None;
                }
            }
        };
        if !done {
            return None;
        }
        if c.request.is_empty() {
            self.close(slot, registry);
            return None;
        }
        let parsed = std::str::from_utf8(&c.request)
            .map_err(|_| "request is not text".to_string())
            .and_then(Request::parse);
        match parsed {
            Ok(r) => {
                stats.bump("control", "request");
                Some(r)
            }
            Err(e) => {
                stats.bump("control", "bad-request");
                self.answer(slot, format!("error: {e}\n").into_bytes(), registry);
                None
            }
        }
    }

    /// Send `answer` to client `slot` and close it when written.
    pub fn answer(&mut self, slot: usize, answer: Vec<u8>, registry: &Registry) {
        let token = Token(self.base + slot);
        if let Some(c) = self.clients.get_mut(slot).and_then(Option::as_mut) {
            c.answer = Some((answer, 0));
            let _ = registry.reregister(&mut c.stream, token, Interest::WRITABLE);
        }
        self.writable(slot, registry);
    }

    /// Write what the client can take; close it when all is written or it
    /// went away.
    pub fn writable(&mut self, slot: usize, registry: &Registry) {
        let Some(c) = self.clients.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let Some((answer, sent)) = c.answer.as_mut() else {
            return;
        };
        while *sent < answer.len() {
            match c.stream.write(&answer[*sent..]) {
                Ok(0) => break,
                Ok(n) => *sent += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => break,
            }
        }
        self.close(slot, registry);
    }

    fn close(&mut self, slot: usize, registry: &Registry) {
        if let Some(mut c) = self.clients.get_mut(slot).and_then(Option::take) {
            let _ = registry.deregister(&mut c.stream);
        }
    }

    /// The earliest client deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.clients.iter().flatten().map(|c| c.deadline).min()
    }

    /// Close the clients past their deadline.
    pub fn handle_timeout(&mut self, now: Instant, registry: &Registry, stats: &mut Stats) {
        for slot in 0..MAX_CONTROL_CLIENTS {
            if self.clients[slot]
                .as_ref()
                .is_some_and(|c| crate::due(&now, &c.deadline))
            {
                stats.bump("control", "timeout");
                self.close(slot, registry);
            }
        }
    }
}

impl Drop for Control {
    /// The socket file goes with the daemon.
    fn drop(&mut self) {
        if let Some((_, path)) = self.listener.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        assert_eq!(
            Request::parse("status"),
            Ok(Request::Status {
                json: false,
                section: Section::All
            })
        );
        assert_eq!(
            Request::parse(" status json calls "),
            Ok(Request::Status {
                json: true,
                section: Section::Calls
            })
        );
        assert_eq!(Request::parse("reload"), Ok(Request::Reload));
        assert!(Request::parse("reload now").is_err());
        assert!(Request::parse("status everything").is_err());
        assert!(Request::parse("").is_err());
        assert!(Request::parse("shutdown").is_err());
    }
}
