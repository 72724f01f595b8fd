//! POSIX-ish shell word splitting (for compose's string `command:`/`entrypoint:`) and quoting.
//!
//! [`split`] follows the go-shellwords rules compose relies on for plain words and quotes, with
//! POSIX double-quote escapes. It deliberately differs from go-shellwords where that library is
//! surprising: an unquoted `;`, `&`, `|`, `<` or `>` is an ordinary character (go-shellwords stops
//! parsing there and drops the rest), `\n` and `\t` outside quotes are plain `n` and `t`, and
//! parentheses are ordinary characters.

use std::fmt;

/// Why a command string could not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitError {
    /// What went wrong.
    pub message: String,
    /// Byte offset in the input of the unterminated quote or dangling backslash.
    pub offset: usize,
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

impl std::error::Error for SplitError {}

/// Whitespace that separates words (go-shellwords' set).
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Split a command string into words as compose does for `command: "a b 'c d'"` (go-shellwords rules: single
/// quotes literal, double quotes with backslash escapes for `"` `\` `$` and backtick, backslash outside quotes escapes the next char,
/// whitespace separates; an unterminated quote is an error). No variable expansion, no globbing.
pub fn split(s: &str) -> Result<Vec<String>, SplitError> {
    #[derive(PartialEq, Eq)]
    enum State {
        Plain,
        Single,
        Double,
    }
    let mut words = Vec::new();
    let mut word = String::new();
    // whether a word has been started (so `''` yields an empty word)
    let mut in_word = false;
    let mut state = State::Plain;
    let mut quote_at = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match state {
            State::Plain => match c {
                c if is_separator(c) => {
                    if in_word {
                        words.push(std::mem::take(&mut word));
                        in_word = false;
                    }
                }
                '\\' => match chars.next() {
                    Some((_, n)) => {
                        word.push(n);
                        in_word = true;
                    }
                    None => {
                        return Err(SplitError {
                            message: "backslash at end of input".into(),
                            offset: i,
                        });
                    }
                },
                '\'' => {
                    state = State::Single;
                    quote_at = i;
                    in_word = true;
                }
                '"' => {
                    state = State::Double;
                    quote_at = i;
                    in_word = true;
                }
                c => {
                    word.push(c);
                    in_word = true;
                }
            },
            State::Single => match c {
                '\'' => state = State::Plain,
                c => word.push(c),
            },
            State::Double => match c {
                '"' => state = State::Plain,
                '\\' => match chars.peek() {
                    Some(&(_, n @ ('"' | '\\' | '$' | '`'))) => {
                        word.push(n);
                        chars.next();
                    }
                    _ => word.push('\\'),
                },
                c => word.push(c),
            },
        }
    }
    match state {
        State::Plain => {}
        State::Single => {
            return Err(SplitError {
                message: "unterminated single quote".into(),
                offset: quote_at,
            });
        }
        State::Double => {
            return Err(SplitError {
                message: "unterminated double quote".into(),
                offset: quote_at,
            });
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

fn is_safe(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, '_' | '@' | '%' | '+' | '=' | ':' | ',' | '.' | '/' | '-')
}

/// Quote one word for a POSIX `sh` command line so that it is always read back as exactly this word and
/// never expanded: words made only of `[A-Za-z0-9_@%+=:,./-]` are returned as-is (non-empty), everything
/// else is wrapped in single quotes with each `'` written as `'\''`. The empty string becomes `''`.
///
/// A bare `NAME=value` word is an assignment, not a command name, when it comes first on a `sh`
/// command line; it is still read back unchanged as an argument.
pub fn quote(word: &str) -> String {
    if !word.is_empty() && word.chars().all(is_safe) {
        return word.to_string();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('\'');
    for c in word.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Join words with single spaces, each quoted with `quote`.
pub fn join<S: AsRef<str>>(words: &[S]) -> String {
    let mut out = String::new();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&quote(w.as_ref()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn words(s: &str) -> Result<Vec<String>, SplitError> {
        split(s)
    }

    fn ok(s: &str, expected: &[&str]) {
        let expected: Vec<String> = expected.iter().map(|w| w.to_string()).collect();
        assert_eq!(words(s), Ok(expected), "input {s:?}");
    }

    fn err(s: &str, offset: usize) -> String {
        match split(s) {
            Err(e) => {
                assert_eq!(e.offset, offset, "input {s:?}");
                e.message
            }
            Ok(w) => panic!("expected an error for {s:?}, got {w:?}"),
        }
    }

    /// Words that are hard to get through a shell unchanged.
    fn nasty() -> Vec<String> {
        let marker = std::env::temp_dir().join(format!("hx-shell-quote-{}", std::process::id()));
        let marker = marker.to_string_lossy().into_owned();
        vec![
            format!("$(touch {marker})"),
            format!("`touch {marker}`"),
            "$HOME".into(),
            "${HOME:-x}".into(),
            "it's".into(),
            "say \"hi\"".into(),
            "'".into(),
            "\"".into(),
            "''".into(),
            "'\\''".into(),
            "back\\slash".into(),
            "\\".into(),
            "line1\nline2".into(),
            "\n".into(),
            "tab\there".into(),
            "%s %d 100%".into(),
            "*".into(),
            "*.rs".into(),
            "?".into(),
            "[a-z]".into(),
            "~".into(),
            "~root".into(),
            "#".into(),
            "# comment".into(),
            "a#b".into(),
            "; rm -rf /".into(),
            "a && b || c | d & e".into(),
            "<in >out 2>&1".into(),
            "(sub)".into(),
            "{a,b}".into(),
            "!".into(),
            "!!".into(),
            "héllo wörld".into(),
            "日本語".into(),
            "emoji 🎉".into(),
            String::new(),
            " ".into(),
            "  leading and trailing  ".into(),
            "-n".into(),
            "-e".into(),
            "--flag=value".into(),
            "A=b".into(),
            "plain".into(),
            "user@host:/path,x.y+z".into(),
            "\u{7f}\u{1}\u{1b}[31m".into(),
        ]
    }

    #[test]
    fn split_plain_words() {
        ok("", &[]);
        ok("   ", &[]);
        ok("a", &["a"]);
        ok("a b  c", &["a", "b", "c"]);
        ok("  a\tb\nc\r\nd  ", &["a", "b", "c", "d"]);
        ok("echo hello world", &["echo", "hello", "world"]);
    }

    #[test]
    fn split_single_quotes() {
        ok("a 'c d'", &["a", "c d"]);
        ok("'$HOME \\n \" `x`'", &["$HOME \\n \" `x`"]);
        ok("''", &[""]);
        ok("a '' b", &["a", "", "b"]);
        ok("a''b", &["ab"]);
        ok("'a'\"b\"c", &["abc"]);
        ok("'it'\\''s'", &["it's"]);
        ok("'line1\nline2'", &["line1\nline2"]);
    }

    #[test]
    fn split_double_quotes() {
        ok("\"a b\"", &["a b"]);
        ok("\"\"", &[""]);
        ok("\"say \\\"hi\\\"\"", &["say \"hi\""]);
        ok("\"\\\\ \\$ \\`\"", &["\\ $ `"]);
        ok("\"\\n \\a \\'\"", &["\\n \\a \\'"]);
        ok("\"$HOME\"", &["$HOME"]);
        ok("\"it's\"", &["it's"]);
        ok("\"a\"'b'", &["ab"]);
        ok("\"trailing\\\\\"", &["trailing\\"]);
    }

    #[test]
    fn split_backslash_outside_quotes() {
        ok("a\\ b", &["a b"]);
        ok("\\'", &["'"]);
        ok("\\\"", &["\""]);
        ok("\\\\", &["\\"]);
        ok("\\n", &["n"]);
        ok("\\$HOME", &["$HOME"]);
        ok("a\\\nb", &["a\nb"]);
        ok("\\ ", &[" "]);
    }

    #[test]
    fn split_keeps_shell_operators_and_dollars() {
        ok("echo a; echo b", &["echo", "a;", "echo", "b"]);
        ok("a|b && c > d", &["a|b", "&&", "c", ">", "d"]);
        ok(
            "$HOME ${X:-y} $(x) `y` *.rs ~",
            &["$HOME", "${X:-y}", "$(x)", "`y`", "*.rs", "~"],
        );
        ok("(a)", &["(a)"]);
    }

    #[test]
    fn split_unicode() {
        ok(
            "héllo 'wörld ✓' \"日本\"語",
            &["héllo", "wörld ✓", "日本語"],
        );
        ok("é\\é", &["éé"]);
    }

    #[test]
    fn split_errors() {
        assert_eq!(err("a 'b", 2), "unterminated single quote");
        assert_eq!(err("a \"b", 2), "unterminated double quote");
        assert_eq!(err("abc\\", 3), "backslash at end of input");
        err("é'", 2);
        err("\"a\\\"", 0);
        err("'a'\"", 3);
        assert_eq!(
            SplitError {
                message: "unterminated single quote".into(),
                offset: 2
            }
            .to_string(),
            "unterminated single quote at byte 2"
        );
    }

    #[test]
    fn quote_safe_words_unchanged() {
        for w in [
            "a",
            "abc-DEF_123",
            "user@host:/p,a.t+h=%",
            "--flag=value",
            "/usr/bin/env",
            "-",
        ] {
            assert_eq!(quote(w), w);
        }
    }

    #[test]
    fn quote_unsafe_words() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("'"), "''\\'''");
        assert_eq!(quote("$HOME"), "'$HOME'");
        assert_eq!(quote("~"), "'~'");
        assert_eq!(quote("*"), "'*'");
        assert_eq!(quote("é"), "'é'");
        assert_eq!(quote("a\nb"), "'a\nb'");
    }

    #[test]
    fn join_words() {
        assert_eq!(join::<&str>(&[]), "");
        assert_eq!(join(&["echo", "a b", ""]), "echo 'a b' ''");
        assert_eq!(join(&[String::from("x"), String::from("$y")]), "x '$y'");
    }

    #[test]
    fn split_join_round_trip() {
        let ws = nasty();
        assert_eq!(split(&join(&ws)), Ok(ws.clone()));
        for w in &ws {
            assert_eq!(split(&quote(w)), Ok(vec![w.clone()]), "word {w:?}");
        }
    }

    #[test]
    fn quote_survives_real_sh() {
        let ws = nasty();
        let marker = std::env::temp_dir().join(format!("hx-shell-quote-{}", std::process::id()));
        let script = format!("printf '%s\\000' {}", join(&ws));
        let out = match Command::new("sh").arg("-c").arg(&script).output() {
            Ok(out) => out,
            Err(e) => panic!("cannot run sh: {e}"),
        };
        assert!(
            out.status.success(),
            "sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut got: Vec<String> = out
            .stdout
            .split(|b| *b == 0)
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        // the output ends with a NUL, leaving one empty trailing piece
        assert_eq!(got.pop(), Some(String::new()));
        assert_eq!(got, ws);
        assert!(!marker.exists(), "command substitution was executed");
    }

    #[test]
    fn never_panics_on_odd_input() {
        let tricky = "a 'b\\' \"c\\\"d\\é\" \\é e\\";
        for (i, _) in tricky.char_indices() {
            let _ = split(tricky.get(..i).unwrap_or_default());
        }
        for s in ["\\", "'", "\"", "\"\\", "\u{0}", "\u{feff}'é"] {
            let _ = split(s);
            let _ = quote(s);
        }
    }
}
