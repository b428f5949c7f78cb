//! A small JSON writer (RFC 8259) for the status: objects, arrays, strings,
//! numbers, booleans and null, appended to a `String`, commas placed by the
//! writer. No parser, no allocation beyond the output.

use crate::net::Addr;
use core::fmt::{self, Write as _};

/// Appends one JSON text to `out`. The caller nests `begin_*`/`end_*`
/// correctly; a key goes before each value inside an object.
pub struct Json<'a> {
    out: &'a mut String,
    /// A value was written at this level: the next one needs a comma.
    comma: bool,
}

impl<'a> Json<'a> {
    pub fn new(out: &'a mut String) -> Json<'a> {
        Json { out, comma: false }
    }

    fn sep(&mut self) {
        if self.comma {
            self.out.push(',');
        }
    }

    pub fn begin_object(&mut self) {
        self.sep();
        self.out.push('{');
        self.comma = false;
    }

    pub fn end_object(&mut self) {
        self.out.push('}');
        self.comma = true;
    }

    pub fn begin_array(&mut self) {
        self.sep();
        self.out.push('[');
        self.comma = false;
    }

    pub fn end_array(&mut self) {
        self.out.push(']');
        self.comma = true;
    }

    /// An object member's name; its value follows. Names are sipnat's own
    /// (`snake_case` words, counter names like `drop.acl`): written as they
    /// are, escaped only if one ever needs it.
    pub fn key(&mut self, k: &str) {
        self.sep();
        if k.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        {
            self.out.push('"');
            self.out.push_str(k);
            self.out.push('"');
        } else {
            escape(self.out, k);
        }
        self.out.push(':');
        self.comma = false;
    }

    /// An address as `"a.b.c.d:port"`, written digit by digit (the status
    /// has several per call; `Display` costs about ten times more), or as
    /// `"[v6]:port"` (RFC 5952 §6).
    pub fn addr(&mut self, a: impl Into<Addr>) {
        self.put_addr(a.into());
    }

    fn put_addr(&mut self, a: Addr) {
        self.sep();
        self.out.push('"');
        match a {
            Addr::V4(a) => {
                for (i, o) in a.ip().octets().iter().enumerate() {
                    if i > 0 {
                        self.out.push('.');
                    }
                    push_decimal(self.out, u64::from(*o));
                }
                self.out.push(':');
                push_decimal(self.out, u64::from(a.port()));
            }
            Addr::V6(..) => {
                let _ = write!(self.out, "{a}");
            }
        }
        self.out.push('"');
        self.comma = true;
    }

    /// An address, or null.
    pub fn opt_addr(&mut self, a: Option<impl Into<Addr>>) {
        match a {
            Some(a) => self.put_addr(a.into()),
            None => self.null(),
        }
    }

    pub fn str(&mut self, v: &str) {
        self.sep();
        escape(self.out, v);
        self.comma = true;
    }

    /// A string made by `Display` (an address, a DNS name), escaped as it
    /// is written: no intermediate string.
    pub fn display(&mut self, v: impl fmt::Display) {
        self.display_dyn(&v);
    }

    /// [`Json::display`]'s one copy, whatever the type (it was inlined per
    /// type and call site).
    #[inline(never)]
    fn display_dyn(&mut self, v: &dyn fmt::Display) {
        self.sep();
        self.out.push('"');
        let _ = write!(Escaper(self.out), "{v}");
        self.out.push('"');
        self.comma = true;
    }

    pub fn num(&mut self, v: u64) {
        self.sep();
        push_decimal(self.out, v);
        self.comma = true;
    }

    pub fn bool(&mut self, v: bool) {
        self.sep();
        self.out.push_str(if v { "true" } else { "false" });
        self.comma = true;
    }

    pub fn null(&mut self) {
        self.sep();
        self.out.push_str("null");
        self.comma = true;
    }

    /// A string, or null for `None`.
    pub fn opt_display(&mut self, v: Option<impl fmt::Display>) {
        match v {
            Some(v) => self.display_dyn(&v),
            None => self.null(),
        }
    }

    /// `"k": v` for a number.
    pub fn field_num(&mut self, k: &str, v: u64) {
        self.key(k);
        self.num(v);
    }

    /// `"k": "v"`.
    pub fn field_str(&mut self, k: &str, v: &str) {
        self.key(k);
        self.str(v);
    }

    /// `"k": true|false`.
    pub fn field_bool(&mut self, k: &str, v: bool) {
        self.key(k);
        self.bool(v);
    }
}

/// `v` in decimal, without the formatting machinery.
fn push_decimal(out: &mut String, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut n = digits.len();
    loop {
        n -= 1;
        digits[n] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // ASCII digits only.
    out.push_str(std::str::from_utf8(&digits[n..]).unwrap_or("0"));
}

/// `s` as a JSON string: quotes, backslashes and control characters
/// escaped (RFC 8259 §7); everything else as it is (a Rust string is UTF-8).
fn escape(out: &mut String, s: &str) {
    out.push('"');
    escape_into(out, s);
    out.push('"');
}

fn escape_into(out: &mut String, s: &str) {
    // Every character to escape is ASCII, so a byte scan finds them, and
    // the runs between them (most text is one run) are copied at once.
    let mut rest = s;
    while let Some(i) = rest
        .bytes()
        .position(|b| b == b'"' || b == b'\\' || b < 0x20 || b == 0x7f)
    {
        out.push_str(&rest[..i]);
        match rest.as_bytes()[i] {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            c => {
                let _ = write!(out, "\\u{:04x}", c);
            }
        }
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

/// Escapes what a `Display` writes, straight into the output.
struct Escaper<'a>(&'a mut String);

impl fmt::Write for Escaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape_into(self.0, s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_and_commas() {
        let mut s = String::new();
        let mut j = Json::new(&mut s);
        j.begin_object();
        j.field_num("a", 1);
        j.key("b");
        j.begin_array();
        j.str("x");
        j.null();
        j.begin_object();
        j.end_object();
        j.end_array();
        j.field_bool("c", false);
        j.end_object();
        assert_eq!(s, r#"{"a":1,"b":["x",null,{}],"c":false}"#);
    }

    #[test]
    fn strings_are_escaped() {
        let mut s = String::new();
        Json::new(&mut s).str("a\"b\\c\nd\u{1}é");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
        let mut s = String::new();
        Json::new(&mut s).display(format_args!("x{}y", '"'));
        assert_eq!(s, r#""x\"y""#);
    }

    #[test]
    fn numbers_and_addresses() {
        let mut s = String::new();
        let mut j = Json::new(&mut s);
        j.begin_array();
        for n in [0, 7, 10, 65535, u64::MAX] {
            j.num(n);
        }
        j.addr("10.0.255.1:5060".parse::<Addr>().unwrap());
        j.addr("0.0.0.0:0".parse::<std::net::SocketAddrV4>().unwrap());
        j.opt_addr(None::<Addr>);
        j.addr("[2001:DB8::1]:5060".parse::<Addr>().unwrap());
        j.end_array();
        assert_eq!(
            s,
            r#"[0,7,10,65535,18446744073709551615,"10.0.255.1:5060","0.0.0.0:0",null,"[2001:db8::1]:5060"]"#
        );
    }
}
