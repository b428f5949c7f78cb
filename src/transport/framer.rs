//! Finding SIP messages in a byte stream (TCP; later TLS): RFC 3261 §18.3.
//!
//! On a stream, a message ends where its Content-Length says: the header
//! block ends at the first empty line, and the body is exactly Content-Length
//! bytes after it. A message without Content-Length cannot be delimited, so
//! on a stream it is an error (§18.3, §20.14: the header MUST be used with
//! stream transports) and the connection is closed.
//!
//! Between messages, CRLFs are ignored (§7.5). RFC 5626 §3.5.1's keep-alive
//! is a double CRLF ("ping"), answered with one CRLF ("pong"): [`Next::Ping`]
//! asks the caller to send the pong; a single CRLF (a pong, or siproxd's
//! `tcp_keepalive`) is skipped.
//!
//! # Bounds
//! One message at most [`MAX_SIP_MESSAGE`] bytes, headers and body: a
//! sender whose header block does not end within that (endless headers) or
//! whose Content-Length asks for more is refused ([`FrameError`]). A message
//! must arrive whole within [`MESSAGE_DEADLINE`] of its first byte
//! ([`Framer::deadline`]): a sender that trickles bytes (slowloris) is cut
//! off by the caller's timer however active it looks.
//!
//! # What it does not do
//! No sockets and no clock: the caller reads into [`Framer::spare`], says how
//! much with [`Framer::filled`] (with `now`), and takes messages out with
//! [`Framer::next`], [`Framer::message`] and [`Framer::consume`]. It does not
//! parse SIP beyond finding Content-Length; the message goes to the same
//! parser as a UDP datagram.

use crate::limits::MAX_SIP_MESSAGE;
use std::time::{Duration, Instant};

/// How long a message may take to arrive whole once its first byte came.
/// A real sender writes a message in one go (a few segments, milliseconds);
/// 10 s leaves room for a slow mobile link and cuts off a byte-a-second
/// sender long before it could matter.
pub const MESSAGE_DEADLINE: Duration = Duration::from_secs(10);

/// Why a stream cannot go on: the caller closes the connection and counts
/// the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// No empty line within [`MAX_SIP_MESSAGE`] bytes.
    HeadersTooLong,
    /// A message without Content-Length (RFC 3261 §18.3).
    NoContentLength,
    /// A Content-Length that is not a number, or two that differ.
    BadContentLength,
    /// Headers and body together would exceed [`MAX_SIP_MESSAGE`].
    TooLarge,
}

impl FrameError {
    pub fn as_str(self) -> &'static str {
        match self {
            FrameError::HeadersTooLong => "headers-too-long",
            FrameError::NoContentLength => "no-content-length",
            FrameError::BadContentLength => "bad-content-length",
            FrameError::TooLarge => "too-large",
        }
    }
}

/// What the buffered bytes hold next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// A whole message of this many bytes at the start of the buffer: take
    /// it with [`Framer::message`], then [`Framer::consume`] it.
    Message(usize),
    /// An RFC 5626 ping (CRLF CRLF), already consumed: send a CRLF back.
    Ping,
    /// Nothing whole yet: read more.
    Incomplete,
}

/// The receive buffer of one stream connection. See the module doc.
pub struct Framer {
    buf: Box<[u8]>,
    len: usize,
    /// When the first byte of the message being assembled arrived.
    started: Option<Instant>,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new()
    }
}

impl Framer {
    /// An empty framer. Its buffer is allocated zeroed, so the kernel maps
    /// its pages only when bytes are written to them.
    pub fn new() -> Framer {
        Framer {
            buf: vec![0u8; MAX_SIP_MESSAGE].into_boxed_slice(),
            len: 0,
            started: None,
        }
    }

    /// Forget everything (the connection slot is reused).
    pub fn clear(&mut self) {
        self.len = 0;
        self.started = None;
    }

    /// Bytes buffered and not yet taken.
    pub fn buffered(&self) -> usize {
        self.len
    }

    /// Where to read into (empty when the buffer is full: then
    /// [`Framer::next`] reports the error).
    pub fn spare(&mut self) -> &mut [u8] {
        let len = self.len;
        self.buf.get_mut(len..).unwrap_or_default()
    }

    /// `n` bytes were read into [`Framer::spare`] at `now`.
    pub fn filled(&mut self, n: usize, now: Instant) {
        self.len = (self.len + n).min(self.buf.len());
        if self.started.is_none() && self.has_content() {
            self.started = Some(now);
        }
    }

    /// When the message being assembled must be whole, if one is.
    pub fn deadline(&self) -> Option<Instant> {
        self.started.and_then(|t| t.checked_add(MESSAGE_DEADLINE))
    }

    /// Anything other than the CRLFs that may sit between messages?
    fn has_content(&self) -> bool {
        self.buf[..self.len]
            .iter()
            .any(|&b| b != b'\r' && b != b'\n')
    }

    /// What comes next. Consumes CRLFs between messages (and a ping).
    pub fn next(&mut self, now: Instant) -> Result<Next, FrameError> {
        loop {
            let data = &self.buf[..self.len];
            match data {
                [] => return Ok(Next::Incomplete),
                [b'\r', b'\n', b'\r', b'\n', ..] => {
                    self.consume_at(4, now);
                    return Ok(Next::Ping);
                }
                // Could still become a ping.
                [b'\r'] | [b'\r', b'\n'] | [b'\r', b'\n', b'\r'] => {
                    return Ok(Next::Incomplete);
                }
                [b'\r', b'\n', ..] => self.consume_at(2, now),
                [b'\r' | b'\n', ..] => self.consume_at(1, now),
                _ => break,
            }
        }
        let data = &self.buf[..self.len];
        let Some(h) = find(data, b"\r\n\r\n") else {
            return if self.len >= self.buf.len() {
                Err(FrameError::HeadersTooLong)
            } else {
                Ok(Next::Incomplete)
            };
        };
        let head_len = h + 4;
        let body = content_length(&data[..h + 2])?;
        let total = head_len
            .checked_add(body)
            .filter(|&t| t <= self.buf.len())
            .ok_or(FrameError::TooLarge)?;
        if self.len >= total {
            Ok(Next::Message(total))
        } else {
            Ok(Next::Incomplete)
        }
    }

    /// The message [`Framer::next`] found, `len` bytes, to parse in place.
    pub fn message(&mut self, len: usize) -> &mut [u8] {
        let end = len.min(self.len);
        &mut self.buf[..end]
    }

    /// Drop the first `len` bytes (a message taken) at `now`.
    pub fn consume(&mut self, len: usize, now: Instant) {
        self.consume_at(len, now);
    }

    fn consume_at(&mut self, len: usize, now: Instant) {
        let len = len.min(self.len);
        self.buf.copy_within(len..self.len, 0);
        self.len -= len;
        // What is left is the start of the next message, which started
        // arriving now at the latest.
        self.started = self.has_content().then_some(now);
    }
}

/// The whole messages in `stream`, in order, skipping CRLFs between them;
/// it ends at the first that is not whole or not framed (for bytes sipnat
/// framed itself, such as a send backlog).
pub fn messages(mut stream: &[u8]) -> impl Iterator<Item = &[u8]> {
    core::iter::from_fn(move || {
        let lead = stream.iter().position(|&b| b != b'\r' && b != b'\n')?;
        stream = &stream[lead..];
        let h = find(stream, b"\r\n\r\n")?;
        let total = (h + 4).checked_add(content_length(&stream[..h + 2]).ok()?)?;
        let msg = stream.get(..total)?;
        stream = &stream[total..];
        Some(msg)
    })
}

/// The Content-Length of a header block (the lines up to and including the
/// last CRLF before the empty line; the start line is skipped). Header names
/// are case-insensitive and `l` is its compact form (RFC 3261 §7.3.1, §20.14).
fn content_length(head: &[u8]) -> Result<usize, FrameError> {
    let mut found: Option<usize> = None;
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = trim(&line[..colon]);
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let value = trim(&line[colon + 1..]);
        if value.is_empty() || value.len() > 9 || !value.iter().all(u8::is_ascii_digit) {
            return Err(FrameError::BadContentLength);
        }
        let n = value
            .iter()
            .fold(0usize, |n, &d| n * 10 + usize::from(d - b'0'));
        if found.is_some_and(|f| f != n) {
            return Err(FrameError::BadContentLength);
        }
        found = Some(n);
    }
    found.ok_or(FrameError::NoContentLength)
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !matches!(b, b' ' | b'\t'));
    let Some(start) = start else { return &[] };
    let end = s
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |e| e + 1);
    &s[start..end]
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &str = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\
                       Content-Length: 5\r\n\r\nhello";

    #[test]
    fn messages_splits_a_backlog() {
        let two = format!("{MSG}\r\n\r\n{MSG}\r\n{}", &MSG[..20]);
        let got: Vec<&[u8]> = messages(two.as_bytes()).collect();
        assert_eq!(got, [MSG.as_bytes(), MSG.as_bytes()]);
        assert_eq!(messages(b"\r\n").count(), 0);
        let unframed = "OPTIONS sip:a@b SIP/2.0\r\n\r\n";
        assert_eq!(messages(format!("{unframed}{MSG}").as_bytes()).count(), 0);
    }

    fn feed(f: &mut Framer, bytes: &[u8], now: Instant) {
        let spare = f.spare();
        let n = bytes.len().min(spare.len());
        spare[..n].copy_from_slice(&bytes[..n]);
        f.filled(n, now);
    }

    /// Everything whole in the buffer, in order.
    fn drain(f: &mut Framer, now: Instant) -> Result<Vec<String>, FrameError> {
        let mut out = Vec::new();
        loop {
            match f.next(now)? {
                Next::Message(n) => {
                    out.push(String::from_utf8_lossy(f.message(n)).into_owned());
                    f.consume(n, now);
                }
                Next::Ping => out.push("PING".into()),
                Next::Incomplete => return Ok(out),
            }
        }
    }

    #[test]
    fn messages_are_cut_by_content_length_whatever_the_segments() {
        let now = Instant::now();
        let stream = format!("{MSG}\r\n{MSG}{}", MSG.replace("hello", "world"));
        // Every split point of the stream into two reads.
        for cut in 0..stream.len() {
            let mut f = Framer::new();
            feed(&mut f, &stream.as_bytes()[..cut], now);
            let mut got = drain(&mut f, now).unwrap();
            feed(&mut f, &stream.as_bytes()[cut..], now);
            got.extend(drain(&mut f, now).unwrap());
            assert_eq!(
                got,
                [MSG.to_string(), MSG.into(), MSG.replace("hello", "world")],
                "cut at {cut}"
            );
            assert_eq!(f.buffered(), 0);
            assert_eq!(f.deadline(), None);
        }
    }

    #[test]
    fn byte_by_byte_and_compact_content_length() {
        let now = Instant::now();
        let m = "BYE sip:a@b SIP/2.0\r\nl : 2\r\n\r\nok";
        let mut f = Framer::new();
        let mut got = Vec::new();
        for b in m.bytes() {
            feed(&mut f, &[b], now);
            got.extend(drain(&mut f, now).unwrap());
        }
        assert_eq!(got, [m]);
    }

    #[test]
    fn ping_is_reported_and_pongs_are_skipped() {
        let now = Instant::now();
        let mut f = Framer::new();
        feed(&mut f, b"\r\n", now);
        assert_eq!(f.next(now), Ok(Next::Incomplete), "maybe a ping");
        assert_eq!(f.deadline(), None, "CRLFs start no message");
        feed(&mut f, b"\r\n", now);
        assert_eq!(f.next(now), Ok(Next::Ping));
        assert_eq!(f.buffered(), 0);
        // A pong (single CRLF) before a message is skipped.
        feed(&mut f, format!("\r\n{MSG}").as_bytes(), now);
        assert_eq!(drain(&mut f, now).unwrap(), [MSG]);
        // Two pings in a row.
        feed(&mut f, b"\r\n\r\n\r\n\r\n", now);
        assert_eq!(drain(&mut f, now).unwrap(), ["PING", "PING"]);
    }

    #[test]
    fn missing_bad_or_huge_content_length_is_an_error() {
        let now = Instant::now();
        for (text, err) in [
            (
                "INVITE sip:a@b SIP/2.0\r\nVia: x\r\n\r\n",
                FrameError::NoContentLength,
            ),
            (
                "INVITE sip:a@b SIP/2.0\r\nContent-Length: 1x\r\n\r\n",
                FrameError::BadContentLength,
            ),
            (
                "INVITE sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n",
                FrameError::BadContentLength,
            ),
            (
                "INVITE sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\n",
                FrameError::BadContentLength,
            ),
            (
                "INVITE sip:a@b SIP/2.0\r\nContent-Length: 99999999\r\n\r\n",
                FrameError::TooLarge,
            ),
            (
                "INVITE sip:a@b SIP/2.0\r\nContent-Length: 8190\r\n\r\n",
                FrameError::TooLarge,
            ),
        ] {
            let mut f = Framer::new();
            feed(&mut f, text.as_bytes(), now);
            assert_eq!(f.next(now), Err(err), "{text:?}");
        }
        // The start line is not a header, even when it looks like one.
        let mut f = Framer::new();
        feed(&mut f, b"l: 3 SIP/2.0\r\nContent-Length: 0\r\n\r\n", now);
        assert_eq!(f.next(now), Ok(Next::Message(35)));
    }

    #[test]
    fn endless_headers_are_refused_at_the_buffer_size() {
        let now = Instant::now();
        let mut f = Framer::new();
        feed(&mut f, b"INVITE sip:a@b SIP/2.0\r\n", now);
        let mut lines = 0;
        loop {
            feed(&mut f, b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", now);
            lines += 1;
            assert!(lines < 10_000);
            match f.next(now) {
                Ok(Next::Incomplete) => assert!(!f.spare().is_empty()),
                Err(e) => {
                    assert_eq!(e, FrameError::HeadersTooLong);
                    assert!(f.spare().is_empty(), "refused only when full");
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_message_has_a_deadline_from_its_first_byte() {
        let t0 = Instant::now();
        let mut f = Framer::new();
        feed(&mut f, b"INV", t0);
        assert_eq!(f.deadline(), Some(t0 + MESSAGE_DEADLINE));
        // Trickling more bytes does not move it.
        let t1 = t0 + Duration::from_secs(5);
        feed(&mut f, b"ITE", t1);
        assert_eq!(f.deadline(), Some(t0 + MESSAGE_DEADLINE));
        // The rest of a message and the start of the next: the next one's
        // clock starts when the first is taken.
        let rest = format!("{}OPT", &MSG["INVITE".len()..]);
        feed(&mut f, rest.as_bytes(), t1);
        let t2 = t1 + Duration::from_millis(1);
        let Ok(Next::Message(n)) = f.next(t2) else {
            panic!("whole message expected")
        };
        f.consume(n, t2);
        assert_eq!(f.deadline(), Some(t2 + MESSAGE_DEADLINE));
        f.clear();
        assert_eq!((f.deadline(), f.buffered()), (None, 0));
    }

    #[test]
    fn a_message_may_fill_the_buffer_exactly() {
        let now = Instant::now();
        let head = "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: ";
        // Find the body length that makes the message exactly full size.
        let mut body_len = MAX_SIP_MESSAGE - head.len() - 4 - 4;
        let text = loop {
            let t = format!("{head}{body_len}\r\n\r\n{}", "b".repeat(body_len));
            match t.len().cmp(&MAX_SIP_MESSAGE) {
                std::cmp::Ordering::Equal => break t,
                std::cmp::Ordering::Greater => body_len -= 1,
                std::cmp::Ordering::Less => body_len += 1,
            }
        };
        let mut f = Framer::new();
        feed(&mut f, text.as_bytes(), now);
        assert_eq!(f.next(now), Ok(Next::Message(MAX_SIP_MESSAGE)));
        assert!(f.spare().is_empty());
    }
}
