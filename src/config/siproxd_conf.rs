//! The siproxd.conf reader: `key = value` lines, `#` comments and blank
//! lines (the syntax rules of the [module doc](super)), each pair handed to
//! the shared option builder.
//!
//! It does not know what an option means or check its value (the builder
//! does), and reads no file ([`super::load_layered`] does).

use super::builder::{Builder, Syntax};
use super::{Config, Diagnostic, options};

/// Split one line into `(key, value)`. `Ok(None)` for blank and comment lines.
pub(super) fn split_line(raw: &str) -> Result<Option<(&str, &str)>, String> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let Some((key, rest)) = line.split_once('=') else {
        let word = line.split_whitespace().next().unwrap_or(line);
        return Err(if options::lookup(word).is_some() {
            format!("option '{word}' has no value: expected '{word} = value'")
        } else {
            format!("expected 'key = value', found '{}'", truncate(line, 60))
        });
    };
    let key = key.trim();
    if key.is_empty() {
        return Err("missing option name before '='".to_string());
    }
    if key.contains(char::is_whitespace) {
        return Err(format!("option name '{key}' contains blanks"));
    }
    Ok(Some((key, strip_comment(rest).trim())))
}

/// Cut a trailing comment: `#` at the start of the value or after a blank.
fn strip_comment(v: &str) -> &str {
    let mut prev_blank = true;
    for (i, c) in v.char_indices() {
        if c == '#' && prev_blank {
            return &v[..i];
        }
        prev_blank = c.is_whitespace();
    }
    v
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// Parse siproxd.conf text. Never panics. Returns the config built from the
/// defaults plus the file, and every diagnostic (errors for unknown keys, bad
/// values and missing `=`; warnings for recognised options sipnat does not
/// implement, repeated single-value options and adjusted values), each with
/// its line number. Cross-field problems are left to [`Config::check`].
pub fn parse_siproxd_conf(text: &str, file: &str) -> (Config, Vec<Diagnostic>) {
    let mut b = Builder::new(file, Syntax::SiproxdConf);
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);

    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        match split_line(raw) {
            Ok(None) => {}
            Ok(Some((key, value))) => b.apply_option(key, value, line),
            Err(m) => b.error(line, m),
        }
    }
    b.finish()
}
