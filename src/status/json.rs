//! A small JSON writer (RFC 8259) for the status: objects, arrays, strings,
//! numbers, booleans and null, appended to a `String`, commas placed by the
//! writer. No parser, no allocation beyond the output.

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

    /// An object member's name; its value follows.
    pub fn key(&mut self, k: &str) {
        self.sep();
        escape(self.out, k);
        self.out.push(':');
        self.comma = false;
    }

    pub fn str(&mut self, v: &str) {
        self.sep();
        escape(self.out, v);
        self.comma = true;
    }

    /// A string made by `Display` (an address, a DNS name).
    pub fn display(&mut self, v: impl fmt::Display) {
        let mut s = String::new();
        let _ = write!(s, "{v}");
        self.str(&s);
    }

    pub fn num(&mut self, v: u64) {
        self.sep();
        let _ = write!(self.out, "{v}");
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
            Some(v) => self.display(v),
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

/// `s` as a JSON string: quotes, backslashes and control characters
/// escaped (RFC 8259 §7); everything else as it is (a Rust string is UTF-8).
fn escape(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
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
    }
}
