//! The packaged form of the shell scripts (openwrt/shrink-script.sh: no
//! comment lines, no blank lines, the #! line kept), written here from the
//! rule, not by running the script, so the tests check the script too.

/// `text` as the packages carry it.
pub fn shrunk(text: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(text);
    let mut out = String::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let t = line.trim_start();
        if i > 0 && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        out.push_str(line);
    }
    out.into_bytes()
}

/// Err naming the first line that starts with `#` (after blanks) inside a
/// quoted string: dropping it would change what the script does.
pub fn comment_lines_are_comments(text: &str) -> Result<(), String> {
    #[derive(PartialEq, Clone, Copy)]
    enum In {
        Code,
        Single,
        Double,
        Comment,
    }
    let mut state = In::Code;
    let mut prev = '\n';
    let mut escaped = false;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') && !matches!(state, In::Code | In::Comment) {
            return Err(format!(
                "line {} starts with # inside a quoted string",
                n + 1
            ));
        }
        for c in line.chars() {
            state = match (state, c) {
                (In::Comment, '\n') => In::Code,
                (In::Comment, _) => In::Comment,
                _ if escaped => {
                    escaped = false;
                    state
                }
                (In::Code | In::Double, '\\') => {
                    escaped = true;
                    state
                }
                (In::Code, '\'') => In::Single,
                (In::Single, '\'') => In::Code,
                (In::Code, '"') => In::Double,
                (In::Double, '"') => In::Code,
                (In::Code, '#') if prev.is_whitespace() || matches!(prev, ';' | '&' | '|') => {
                    In::Comment
                }
                _ => state,
            };
            prev = c;
        }
    }
    match state {
        In::Code | In::Comment => Ok(()),
        _ => Err("a quoted string is not closed".into()),
    }
}

#[test]
fn the_rule_and_its_guard() {
    let s = "#!/bin/sh\n# c\n\n  echo 'a # b'\n\tx=\"\n# not a comment\n\"\n";
    assert_eq!(
        String::from_utf8(shrunk(s.as_bytes())).unwrap(),
        "#!/bin/sh\n  echo 'a # b'\n\tx=\"\n\"\n"
    );
    assert!(comment_lines_are_comments(s).is_err());
    assert!(comment_lines_are_comments("a # it's fine\n# \"x\nb\n").is_ok());
}
