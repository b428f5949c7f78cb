//! SIP message parsing: the layer every datagram goes through first.
//!
//! * [`message`]: start line, header lines, body framing, and the semantic
//!   checks a proxy makes before acting ([`Message::check_request`],
//!   [`Message::check_response`]); header folding ([`unfold_headers`]).
//! * [`header`]: typed views of Via, From/To/Contact/Route (name-addr), CSeq,
//!   `;param` lists and comma-separated lists.
//! * [`uri`]: SIP and other URIs, hosts (IPv4, IPv6 references, names).
//!
//! Everything borrows the datagram: no allocation, no copies, a single pass
//! over the header section (the typed views parse a value when asked).
//! This module does NOT write messages: rewriting is the proxy's job, using
//! the byte ranges recorded here ([`Header::line`], `uri_span`).
//!
//! Typical use:
//! ```
//! use sipnat::sip::{HeaderName, Message, unfold_headers};
//! let mut buf = *b"OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP\r\n h;branch=z9hG4bK1\r\n\
//! To: <sip:a@example.com>\r\nFrom: <sip:b@example.com>;tag=1\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n";
//! unfold_headers(&mut buf);
//! let msg = Message::parse(&buf).unwrap();
//! assert!(msg.check_request().is_ok());
//! assert_eq!(msg.top_via().unwrap().branch(), Some("z9hG4bK1"));
//! assert_eq!(msg.header(HeaderName::CallId).unwrap().value, "c");
//! ```

pub mod header;
pub mod message;
pub mod uri;

pub use header::{CSeq, ContactValue, NameAddr, SplitComma, Via, param_get, split_comma};
pub use message::{
    Header, HeaderName, Message, Method, ParseError, Reject, StartLine, unfold_headers,
};
pub use uri::{Host, Uri};
