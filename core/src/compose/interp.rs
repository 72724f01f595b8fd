//! Compose variable interpolation (`$VAR`, `${VAR:-default}`, ...) with compose-go `template` semantics.
//!
//! Supported forms:
//!
//! * `$VAR` and `${VAR}`: the value, or `""` when unset (the name is reported through `unset`);
//! * `${VAR:-word}` / `${VAR-word}`: `word` when VAR is unset or empty / unset;
//! * `${VAR:?word}` / `${VAR?word}`: an error carrying `word` when VAR is unset or empty / unset;
//! * `${VAR:+word}` / `${VAR+word}`: `word` when VAR is set and non-empty / set, else `""`;
//! * `$$`: a literal `$`.
//!
//! `word` is itself interpolated, so references nest (`${A:-${B:-x}}`). Names are
//! `[A-Za-z_][A-Za-z0-9_]*` (compose-go does not accept dots here). A `$` that is not followed by
//! `$`, `{` or a name start is kept literally (`a $ b`, `^re$`, `$1`), while a `${` that does not
//! form a valid reference (`${}`, `${ x}`, `${x!}`, unterminated) is a syntax error.
//!
//! Unlike compose-go, which expands every nested word eagerly, only the branch that is used is
//! evaluated: `${SET:-${X:?boom}}` succeeds when SET is non-empty. Unused branches are still
//! checked for syntax errors.

use std::fmt;

/// Deepest nesting of `${...}` accepted, so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

/// Why interpolating one string failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpError {
    /// `${VAR?msg}` or `${VAR:?msg}` with VAR unset (or, for `:?`, empty).
    Required {
        /// The name of the missing variable.
        var: String,
        /// The interpolated message written after `?` (may be empty).
        message: String,
        /// Byte offset of the `$` that starts the reference in the input.
        offset: usize,
    },
    /// Malformed reference such as an unterminated `${` or an invalid name; `offset` = byte offset in the input.
    Syntax {
        /// What is wrong with the reference.
        message: String,
        /// Byte offset of the `$` that starts the bad reference in the input.
        offset: usize,
    },
}

impl InterpError {
    /// Byte offset in the input of the `$` that starts the offending reference.
    pub fn offset(&self) -> usize {
        match self {
            InterpError::Required { offset, .. } | InterpError::Syntax { offset, .. } => *offset,
        }
    }
}

impl fmt::Display for InterpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterpError::Required { var, message, .. } if message.is_empty() => {
                write!(f, "required variable {var} is missing a value")
            }
            InterpError::Required { var, message, .. } => {
                write!(f, "required variable {var} is missing a value: {message}")
            }
            InterpError::Syntax { message, offset } => {
                write!(f, "invalid interpolation at byte {offset}: {message}")
            }
        }
    }
}

impl std::error::Error for InterpError {}

/// Interpolate `input`. `lookup` returns a variable's value; every variable referenced without a default
/// and found unset is pushed (once) to `unset` so the caller can warn; it is substituted with "".
pub fn interpolate(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<String, InterpError> {
    let mut interp = Interp {
        lookup,
        unset,
        dry: false,
    };
    interp.expand(input, 0, 0)
}

/// The operator of a braced reference with a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `-` / `:-`
    Default,
    /// `?` / `:?`
    Required,
    /// `+` / `:+`
    Alternative,
}

struct Interp<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    unset: &'a mut Vec<String>,
    /// When set, only the syntax is checked: nothing is looked up, reported or required.
    dry: bool,
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// End (exclusive) of the name starting at `start`.
fn name_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    while bytes.get(i).is_some_and(|b| is_name_char(*b)) {
        i += 1;
    }
    i
}

/// Index of the `}` closing a word that starts at `start`, skipping `$$` and nested `${...}`.
fn find_close(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'$' => match bytes.get(i + 1) {
                Some(b'$') => i += 2,
                Some(b'{') => {
                    depth += 1;
                    i += 2;
                }
                _ => i += 1,
            },
            b'}' => {
                if depth == 0 {
                    return Some(i);
                }
                depth -= 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

fn syntax(message: impl Into<String>, offset: usize) -> InterpError {
    InterpError::Syntax {
        message: message.into(),
        offset,
    }
}

impl Interp<'_> {
    /// Expand `s`, whose first byte sits at byte `base` of the original input.
    fn expand(&mut self, s: &str, base: usize, depth: usize) -> Result<String, InterpError> {
        let bytes = s.as_bytes();
        let mut out = String::with_capacity(s.len());
        let mut i = 0;
        while i < bytes.len() {
            let rest = s.get(i..).unwrap_or_default();
            let Some(rel) = rest.find('$') else {
                out.push_str(rest);
                break;
            };
            let p = i + rel;
            out.push_str(s.get(i..p).unwrap_or_default());
            match bytes.get(p + 1) {
                Some(b'$') => {
                    out.push('$');
                    i = p + 2;
                }
                Some(&b) if is_name_start(b) => {
                    let end = name_end(bytes, p + 1);
                    let name = s.get(p + 1..end).unwrap_or_default();
                    out.push_str(&self.plain(name));
                    i = end;
                }
                Some(b'{') => {
                    let (value, next) = self.braced(s, p, base, depth)?;
                    out.push_str(&value);
                    i = next;
                }
                _ => {
                    out.push('$');
                    i = p + 1;
                }
            }
        }
        Ok(out)
    }

    /// Value of a reference without a word, reporting it when unset.
    fn plain(&mut self, name: &str) -> String {
        if self.dry {
            return String::new();
        }
        match (self.lookup)(name) {
            Some(value) => value,
            None => {
                if !self.unset.iter().any(|n| n == name) {
                    self.unset.push(name.to_string());
                }
                String::new()
            }
        }
    }

    /// Check the syntax of a word whose value is not needed.
    fn check(&mut self, word: &str, base: usize, depth: usize) -> Result<(), InterpError> {
        let dry = self.dry;
        self.dry = true;
        let result = self.expand(word, base, depth);
        self.dry = dry;
        result.map(|_| ())
    }

    /// Evaluate the `${...}` starting at `p` (the `$`); returns the value and the index after `}`.
    fn braced(
        &mut self,
        s: &str,
        p: usize,
        base: usize,
        depth: usize,
    ) -> Result<(String, usize), InterpError> {
        let bytes = s.as_bytes();
        let at = base + p;
        if depth >= MAX_DEPTH {
            return Err(syntax("variable references are nested too deeply", at));
        }
        let name_start = p + 2;
        match bytes.get(name_start) {
            Some(&b) if is_name_start(b) => {}
            Some(b'}') => return Err(syntax("missing variable name in `${}`", at)),
            Some(_) => return Err(syntax("invalid variable name after `${`", at)),
            None => return Err(syntax("unterminated variable reference", at)),
        }
        let end = name_end(bytes, name_start);
        let name = s.get(name_start..end).unwrap_or_default();
        let (op, colon, word_start) = match bytes.get(end) {
            Some(b'}') => return Ok((self.plain(name), end + 1)),
            Some(b':') => match bytes.get(end + 1).copied().and_then(op_of) {
                Some(op) => (op, true, end + 2),
                None if end + 1 >= bytes.len() => {
                    return Err(syntax("unterminated variable reference", at));
                }
                None => return Err(unexpected(s, end + 1, at)),
            },
            Some(&b) => match op_of(b) {
                Some(op) => (op, false, end + 1),
                None => return Err(unexpected(s, end, at)),
            },
            None => return Err(syntax("unterminated variable reference", at)),
        };
        let Some(close) = find_close(bytes, word_start) else {
            return Err(syntax("unterminated variable reference", at));
        };
        let word = s.get(word_start..close).unwrap_or_default();
        let word_base = base + word_start;
        let next = close + 1;

        if self.dry {
            self.check(word, word_base, depth + 1)?;
            return Ok((String::new(), next));
        }
        let value = (self.lookup)(name);
        // Whether the variable counts as present for this operator.
        let present = match &value {
            Some(v) => !colon || !v.is_empty(),
            None => false,
        };
        let result = match op {
            Op::Default => {
                if present {
                    self.check(word, word_base, depth + 1)?;
                    value.unwrap_or_default()
                } else {
                    self.expand(word, word_base, depth + 1)?
                }
            }
            Op::Required => {
                if present {
                    self.check(word, word_base, depth + 1)?;
                    value.unwrap_or_default()
                } else {
                    let message = self.expand(word, word_base, depth + 1)?;
                    return Err(InterpError::Required {
                        var: name.to_string(),
                        message,
                        offset: at,
                    });
                }
            }
            Op::Alternative => {
                if present {
                    self.expand(word, word_base, depth + 1)?
                } else {
                    self.check(word, word_base, depth + 1)?;
                    String::new()
                }
            }
        };
        Ok((result, next))
    }
}

fn op_of(b: u8) -> Option<Op> {
    match b {
        b'-' => Some(Op::Default),
        b'?' => Some(Op::Required),
        b'+' => Some(Op::Alternative),
        _ => None,
    }
}

/// Syntax error for the unexpected character at byte `i` of `s`.
fn unexpected(s: &str, i: usize, at: usize) -> InterpError {
    match s.get(i..).and_then(|t| t.chars().next()) {
        Some(c) => syntax(
            format!("unexpected character {c:?} in variable reference"),
            at,
        ),
        None => syntax("unterminated variable reference", at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "FOO" => Some("first".into()),
            "BAR" => Some(String::new()),
            "UNI" => Some("héllo wörld ✓".into()),
            "DOLLAR" => Some("a$b".into()),
            _ => None,
        }
    }

    fn run(input: &str) -> Result<String, InterpError> {
        let mut unset = Vec::new();
        interpolate(input, &env, &mut unset)
    }

    fn run_unset(input: &str) -> (Result<String, InterpError>, Vec<String>) {
        let mut unset = Vec::new();
        let r = interpolate(input, &env, &mut unset);
        (r, unset)
    }

    fn ok(input: &str, expected: &str) {
        assert_eq!(run(input), Ok(expected.to_string()), "input {input:?}");
    }

    fn syntax_at(input: &str, offset: usize) {
        match run(input) {
            Err(InterpError::Syntax { offset: o, .. }) => {
                assert_eq!(o, offset, "input {input:?}");
            }
            other => panic!("expected syntax error for {input:?}, got {other:?}"),
        }
    }

    #[test]
    fn no_references() {
        ok("", "");
        ok("foo bar", "foo bar");
    }

    #[test]
    fn simple_forms() {
        ok("$FOO", "first");
        ok("${FOO}", "first");
        ok("This $FOO var", "This first var");
        ok("This ${FOO} var", "This first var");
        ok("$FOO-bar", "first-bar");
        ok("$FOO.bar", "first.bar");
        ok("${FOO}bar", "firstbar");
        ok("$FOObar", "");
        ok("$FOO$FOO", "firstfirst");
        ok("${FOO}${FOO}", "firstfirst");
    }

    #[test]
    fn lowercase_and_underscore_names() {
        let lookup = |n: &str| match n {
            "_x1" => Some("u".to_string()),
            "lower" => Some("l".to_string()),
            _ => None,
        };
        let mut unset = Vec::new();
        assert_eq!(
            interpolate("$_x1 ${lower}", &lookup, &mut unset),
            Ok("u l".to_string())
        );
        assert!(unset.is_empty());
    }

    #[test]
    fn unset_is_reported_once() {
        let (r, unset) = run_unset("${MISSING} $MISSING ${OTHER} $FOO ${BAR}");
        assert_eq!(r, Ok("   first ".to_string()));
        assert_eq!(unset, vec!["MISSING".to_string(), "OTHER".to_string()]);
    }

    #[test]
    fn unset_is_not_reported_with_default_or_alternative() {
        let (r, unset) = run_unset("${A:-x}${B-y}${C:+z}${D+w}");
        assert_eq!(r, Ok("xy".to_string()));
        assert!(unset.is_empty());
    }

    #[test]
    fn unset_inside_default_is_reported() {
        let (r, unset) = run_unset("${A:-$B}");
        assert_eq!(r, Ok(String::new()));
        assert_eq!(unset, vec!["B".to_string()]);
    }

    #[test]
    fn unset_in_unused_branch_is_not_reported() {
        let (r, unset) = run_unset("${FOO:-$NOPE}");
        assert_eq!(r, Ok("first".to_string()));
        assert!(unset.is_empty());
    }

    #[test]
    fn unset_vec_keeps_existing_entries() {
        let mut unset = vec!["X".to_string()];
        assert_eq!(interpolate("$X $Y", &env, &mut unset), Ok(" ".to_string()));
        assert_eq!(unset, vec!["X".to_string(), "Y".to_string()]);
    }

    #[test]
    fn soft_default() {
        ok("ok ${missing:-def}", "ok def");
        ok("ok ${BAR:-def}", "ok def");
        ok("ok ${FOO:-def}", "ok first");
        ok("ok ${BAR:-}", "ok ");
        ok("ok ${BAR:-/non:-alphanumeric}", "ok /non:-alphanumeric");
    }

    #[test]
    fn hard_default() {
        ok("ok ${missing-def}", "ok def");
        ok("ok ${BAR-def}", "ok ");
        ok("ok ${FOO-def}", "ok first");
        ok("${UNSET_VAR-myerror?msg}", "myerror?msg");
    }

    #[test]
    fn required() {
        ok("ok ${FOO:?err}", "ok first");
        ok("ok ${FOO?err}", "ok first");
        ok("ok ${BAR?err}", "ok ");
        ok("${FOO?bar-baz}", "first");
        assert_eq!(
            run("not ok ${UNSET_VAR:?Mandatory Variable Unset}"),
            Err(InterpError::Required {
                var: "UNSET_VAR".into(),
                message: "Mandatory Variable Unset".into(),
                offset: 7,
            })
        );
        assert_eq!(
            run("${BAR:?empty}"),
            Err(InterpError::Required {
                var: "BAR".into(),
                message: "empty".into(),
                offset: 0,
            })
        );
        assert_eq!(
            run("x${UNSET_VAR?bar-baz}"),
            Err(InterpError::Required {
                var: "UNSET_VAR".into(),
                message: "bar-baz".into(),
                offset: 1,
            })
        );
        assert_eq!(
            run("${UNSET_VAR?}"),
            Err(InterpError::Required {
                var: "UNSET_VAR".into(),
                message: String::new(),
                offset: 0,
            })
        );
    }

    #[test]
    fn required_message_is_interpolated() {
        assert_eq!(
            run("${UNSET:?need ${FOO} and $$}"),
            Err(InterpError::Required {
                var: "UNSET".into(),
                message: "need first and $".into(),
                offset: 0,
            })
        );
    }

    #[test]
    fn required_display() {
        let e = InterpError::Required {
            var: "DB_PASS".into(),
            message: "need it".into(),
            offset: 3,
        };
        assert_eq!(
            e.to_string(),
            "required variable DB_PASS is missing a value: need it"
        );
        assert_eq!(e.offset(), 3);
        let e = InterpError::Required {
            var: "DB_PASS".into(),
            message: String::new(),
            offset: 0,
        };
        assert_eq!(
            e.to_string(),
            "required variable DB_PASS is missing a value"
        );
        let e = InterpError::Syntax {
            message: "unterminated variable reference".into(),
            offset: 4,
        };
        assert_eq!(
            e.to_string(),
            "invalid interpolation at byte 4: unterminated variable reference"
        );
    }

    #[test]
    fn alternative() {
        ok("ok ${UNSET_VAR:+presence_value}", "ok ");
        ok("ok ${UNSET_VAR+presence_value}", "ok ");
        ok("ok ${FOO:+presence_value}", "ok presence_value");
        ok("ok ${FOO+presence_value}", "ok presence_value");
        ok("ok ${BAR+presence_value}", "ok presence_value");
        ok("ok ${BAR:+presence_value}", "ok ");
    }

    #[test]
    fn nested() {
        ok("ok ${UNSET_VAR-$FOO}", "ok first");
        ok("ok ${UNSET_VAR-${FOO}}", "ok first");
        ok("ok ${UNSET_VAR-${FOO} ${FOO}}", "ok first first");
        ok("ok ${BAR:-$FOO}", "ok first");
        ok("ok ${BAR:-${FOO}}", "ok first");
        ok("ok ${BAR+$FOO}", "ok first");
        ok("ok ${BAR+$FOO ${FOO:+second}}", "ok first second");
        ok("${A:-${B:-x}}", "x");
        ok("${A:-${B:-${C:-deep}}}!", "deep!");
        ok("+ok ${UNSET:-${BAR-defaultValue}}", "+ok ");
        ok("${A:-${FOO}}${B:-y}", "firsty");
    }

    #[test]
    fn outer_text_does_not_interfere() {
        ok("-ok ${BAR:-defaultValue}", "-ok defaultValue");
        ok(":-ok ${UNSET-defaultValue}", ":-ok defaultValue");
        ok(":?ok ${BAR-defaultValue}", ":?ok ");
        ok(":+ok ${BAR:-defaultValue}", ":+ok defaultValue");
        ok("?ok ${BAR:-defaultValue}", "?ok defaultValue");
    }

    #[test]
    fn unused_branches_are_lazy_but_checked() {
        ok("${FOO:-${X:?boom}}", "first");
        ok("${A:+${X:?boom}}", "");
        syntax_at("${FOO:-${}}", 7);
        syntax_at("${A:+${ x}}", 5);
        syntax_at("${FOO?${}", 0);
    }

    #[test]
    fn braces_in_words() {
        // a bare `{` does not open a nested reference: the first `}` closes
        ok("${A:-{x}}", "{x}");
        ok("${A:-$${B}}", "${B}");
        ok("${A:-a}b}", "ab}");
    }

    #[test]
    fn escaped_dollar() {
        ok("$$", "$");
        ok("$${foo}", "${foo}");
        ok("$$FOO", "$FOO");
        ok("$$$FOO", "$first");
        ok("$$$$", "$$");
        ok("${A:-$$}", "$");
    }

    #[test]
    fn values_are_not_reinterpolated() {
        ok("$DOLLAR", "a$b");
        ok("${A:-$DOLLAR}", "a$b");
    }

    #[test]
    fn lone_dollar_is_literal() {
        ok("a $ string", "a $ string");
        ok("^REGEX$", "^REGEX$");
        ok("$}", "$}");
        ok("$", "$");
        ok("$1", "$1");
        ok("$-x", "$-x");
        ok("$é", "$é");
        ok("price: 5$", "price: 5$");
    }

    #[test]
    fn syntax_errors() {
        syntax_at("${", 0);
        syntax_at("${}", 0);
        syntax_at("${ }", 0);
        syntax_at("${ foo}", 0);
        syntax_at("${foo }", 0);
        syntax_at("${foo!}", 0);
        syntax_at("${foo:x}", 0);
        syntax_at("${foo:}", 0);
        syntax_at("${foo:", 0);
        syntax_at("${foo", 0);
        syntax_at("${1}", 0);
        syntax_at("${foo.bar}", 0);
        syntax_at("abc ${FOO", 4);
        syntax_at("abc ${FOO:-x", 4);
        syntax_at("ok ${A:-${B}", 3);
        syntax_at("${A:-${B:-${}}}", 10);
        syntax_at("é${", 2);
    }

    #[test]
    fn syntax_error_messages() {
        assert_eq!(
            run("${foo!}"),
            Err(InterpError::Syntax {
                message: "unexpected character '!' in variable reference".into(),
                offset: 0,
            })
        );
        assert_eq!(
            run("x ${}"),
            Err(InterpError::Syntax {
                message: "missing variable name in `${}`".into(),
                offset: 2,
            })
        );
        assert_eq!(
            run("${FOO"),
            Err(InterpError::Syntax {
                message: "unterminated variable reference".into(),
                offset: 0,
            })
        );
        assert_eq!(
            run("${FOOé}"),
            Err(InterpError::Syntax {
                message: "unexpected character 'é' in variable reference".into(),
                offset: 0,
            })
        );
    }

    #[test]
    fn unicode() {
        ok("ünï ${FOO} çødé", "ünï first çødé");
        ok("$UNI", "héllo wörld ✓");
        ok("${A:-日本語}", "日本語");
        ok("${A:-${B:-ⓧ}}ⓨ", "ⓧⓨ");
        ok("→$FOO←", "→first←");
        assert_eq!(
            run("日本 ${A:?ñ}"),
            Err(InterpError::Required {
                var: "A".into(),
                message: "ñ".into(),
                offset: 7,
            })
        );
    }

    #[test]
    fn multiline_words() {
        ok("${A:-line1\nline2}", "line1\nline2");
        ok("a\n$FOO\nb", "a\nfirst\nb");
    }

    #[test]
    fn deep_nesting_is_rejected_not_overflowing() {
        let depth = 10_000;
        let input = format!("{}x{}", "${A:-".repeat(depth), "}".repeat(depth));
        assert!(matches!(run(&input), Err(InterpError::Syntax { .. })));
        let unterminated = "${A:-".repeat(depth);
        assert!(matches!(
            run(&unterminated),
            Err(InterpError::Syntax { .. })
        ));
        // moderate nesting is fine
        let input = format!("{}x{}", "${A:-".repeat(32), "}".repeat(32));
        ok(&input, "x");
    }

    #[test]
    fn never_panics_on_odd_input() {
        let samples = [
            "$",
            "${",
            "${:",
            "${A",
            "${A:",
            "${A:-",
            "${A:-}",
            "$$$",
            "}}}",
            "${A:-${",
            "$\u{0}",
            "${é",
            "${Aé",
            "${A:é}",
            "$ {A}",
            "${A}}",
            "${{A}}",
            "${A:-$}",
            "${A?$}",
            "\u{feff}$A",
        ];
        for s in samples {
            let mut unset = Vec::new();
            let _ = interpolate(s, &env, &mut unset);
        }
        // every prefix of a tricky string, at every char boundary
        let tricky = "a${B:-é${C:?ü}$$}$D ${E+${F-$}}";
        for (i, _) in tricky.char_indices() {
            let mut unset = Vec::new();
            let _ = interpolate(tricky.get(..i).unwrap_or_default(), &env, &mut unset);
        }
    }
}
