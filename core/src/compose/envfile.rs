//! `.env` / `env_file` parsing with compose-go `dotenv` semantics.
//!
//! Accepted syntax, one statement per line (blank lines and `#` comment lines are skipped):
//!
//! * `KEY=value` or the yaml-ish `KEY: value`, optionally prefixed by `export `;
//! * a bare `KEY` (no `=`): the value is taken from the environment later, so it parses as `None`;
//! * unquoted values run to the end of the line, are trimmed, may end with a ` #` comment (a `#`
//!   preceded by whitespace), and are interpolated;
//! * `'single quoted'` values are literal and may span lines;
//! * `"double quoted"` values may span lines, understand the escapes `\n` `\r` `\t` `\a` `\b` `\f`
//!   `\v` `\"` `\\` `\$` and `\0ooo` (an ASCII octal code), and are interpolated. Other escapes stay
//!   as written;
//! * inside either quote kind, a quote preceded by a backslash does not end the value (as in
//!   compose-go; in single quotes the backslash is kept).
//!
//! Key names are made of letters, digits, `_`, `.`, `-`, `[` and `]` (compose-go's set). CRLF line
//! endings and a leading byte-order mark are accepted. A repeated key keeps its first position and
//! takes the last value.

use std::collections::HashMap;
use std::fmt;

use super::interp::{InterpError, interpolate};

/// A parse error in an env file: 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFileError {
    /// 1-based line of the error.
    pub line: usize,
    /// 1-based column (in characters) of the error.
    pub column: usize,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for EnvFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for EnvFileError {}

/// Parse an env file. `lookup` resolves `${VAR}` references inside unquoted and double-quoted values
/// (earlier keys of the same file take precedence over `lookup`). A bare `KEY` line (no `=`) yields `(KEY, None)`
/// meaning "take it from the environment". Order of the file is kept.
pub fn parse_env_file(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, Option<String>)>, EnvFileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let normalized;
    let src: &str = if text.contains("\r\n") {
        normalized = text.replace("\r\n", "\n");
        &normalized
    } else {
        text
    };
    Parser {
        src,
        pos: 0,
        entries: Vec::new(),
        index: HashMap::new(),
        lookup,
    }
    .run()
}

/// Whitespace that does not end a line.
fn is_space(c: char) -> bool {
    c != '\n' && c.is_whitespace()
}

fn is_key_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']')
}

struct Parser<'a> {
    src: &'a str,
    /// Byte offset of the cursor, always on a char boundary.
    pos: usize,
    entries: Vec<(String, Option<String>)>,
    /// Key -> index in `entries`.
    index: HashMap<String, usize>,
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        self.src.get(self.pos..).unwrap_or_default()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_while(&mut self, f: impl Fn(char) -> bool) {
        while let Some(c) = self.peek() {
            if !f(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    /// Move to the next `\n` (not consuming it) or to the end.
    fn skip_line(&mut self) {
        self.skip_while(|c| c != '\n');
    }

    /// Error at byte offset `at` of the source.
    fn error(&self, at: usize, message: impl Into<String>) -> EnvFileError {
        let before = self.src.get(..at).unwrap_or(self.src);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(0, |l| l.chars().count()) + 1;
        EnvFileError {
            line,
            column,
            message: message.into(),
        }
    }

    fn run(mut self) -> Result<Vec<(String, Option<String>)>, EnvFileError> {
        loop {
            self.skip_while(char::is_whitespace);
            match self.peek() {
                None => break,
                Some('#') => {
                    self.skip_line();
                    continue;
                }
                Some(_) => {}
            }
            self.statement()?;
        }
        Ok(self.entries)
    }

    /// Parse one statement starting at a non-space character.
    fn statement(&mut self) -> Result<(), EnvFileError> {
        if self
            .rest()
            .strip_prefix("export")
            .is_some_and(|after| after.chars().next().is_some_and(is_space))
        {
            self.pos += "export".len();
            self.skip_while(is_space);
        }
        let key_start = self.pos;
        self.skip_while(is_key_char);
        let key_end = self.pos;
        let key = self
            .src
            .get(key_start..key_end)
            .unwrap_or_default()
            .to_string();
        self.skip_while(is_space);
        let spaced = self.pos > key_end;
        let at = self.pos;
        match self.peek() {
            Some('=' | ':') if key.is_empty() => Err(self.error(at, "missing variable name")),
            Some('=' | ':') => {
                self.bump();
                self.skip_while(is_space);
                let value = self.value()?;
                self.insert(key, Some(value));
                Ok(())
            }
            None | Some('\n') if !key.is_empty() => {
                self.insert(key, None);
                Ok(())
            }
            Some('#') if spaced && !key.is_empty() => {
                self.skip_line();
                self.insert(key, None);
                Ok(())
            }
            Some(c) if spaced && is_key_char(c) && !key.is_empty() => {
                Err(self.error(at, "variable name cannot contain a space"))
            }
            Some(c) => Err(self.error(at, format!("unexpected character {c:?} in variable name"))),
            None => Err(self.error(at, "missing variable name")),
        }
    }

    fn insert(&mut self, key: String, value: Option<String>) {
        match self.index.get(&key) {
            Some(&i) => {
                if let Some(entry) = self.entries.get_mut(i) {
                    entry.1 = value;
                }
            }
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push((key, value));
            }
        }
    }

    /// Parse a value; the cursor is on its first non-space character (or end of line).
    fn value(&mut self) -> Result<String, EnvFileError> {
        match self.peek() {
            Some(q @ ('\'' | '"')) => {
                let open = self.pos;
                let body_start = open + 1;
                let Some(close) = find_quote(self.src, body_start, q) else {
                    return Err(self.error(open, "unterminated quoted value"));
                };
                let body = self.src.get(body_start..close).unwrap_or_default();
                let value = if q == '"' {
                    let (escaped, map) = unescape(body);
                    self.interpolate(&escaped, |off| {
                        body_start + map.get(off).copied().unwrap_or(0)
                    })?
                } else {
                    body.to_string()
                };
                self.pos = close + 1;
                self.skip_while(is_space);
                match self.peek() {
                    None | Some('\n') => {}
                    Some('#') => self.skip_line(),
                    Some(c) => {
                        return Err(self.error(
                            self.pos,
                            format!("unexpected character {c:?} after quoted value"),
                        ));
                    }
                }
                Ok(value)
            }
            _ => {
                let start = self.pos;
                let src = self.src;
                let line = src.get(start..).unwrap_or_default();
                let line = line.split('\n').next().unwrap_or_default();
                // a comment starts at a `#` preceded by whitespace (or right after `=` plus space)
                let prev_is_space = self
                    .src
                    .get(..start)
                    .and_then(|b| b.chars().next_back())
                    .is_some_and(is_space);
                let mut end = line.len();
                let mut prev_space = prev_is_space;
                for (i, c) in line.char_indices() {
                    if c == '#' && prev_space {
                        end = i;
                        break;
                    }
                    prev_space = is_space(c);
                }
                self.pos = start + line.len();
                let raw = line.get(..end).unwrap_or_default().trim_end();
                self.interpolate(raw, |off| start + off)
            }
        }
    }

    /// Interpolate `value`; `to_src` maps a byte offset in `value` to one in the source.
    fn interpolate(
        &self,
        value: &str,
        to_src: impl Fn(usize) -> usize,
    ) -> Result<String, EnvFileError> {
        let lookup = |name: &str| -> Option<String> {
            match self.index.get(name).and_then(|&i| self.entries.get(i)) {
                Some((_, Some(v))) => Some(v.clone()),
                _ => (self.lookup)(name),
            }
        };
        let mut unset = Vec::new();
        interpolate(value, &lookup, &mut unset).map_err(|e| {
            let at = to_src(e.offset());
            match e {
                InterpError::Syntax { message, .. } => self.error(at, message),
                required @ InterpError::Required { .. } => self.error(at, required.to_string()),
            }
        })
    }
}

/// Byte index of the quote `q` closing a value whose body starts at `start`; a quote preceded by
/// an unescaped backslash does not count.
fn find_quote(src: &str, start: usize, q: char) -> Option<usize> {
    let body = src.get(start..)?;
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        if c == q && !escaped {
            return Some(start + i);
        }
        escaped = c == '\\' && !escaped;
    }
    None
}

/// Process the escapes of a double-quoted body. `\$` becomes `$$` so interpolation keeps it
/// literal. Returns the text and, for each of its bytes (plus one past the end), the byte offset
/// in `body` it came from.
fn unescape(body: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(body.len());
    let mut map = Vec::with_capacity(body.len() + 1);
    let push = |out: &mut String, map: &mut Vec<usize>, s: &str, from: usize| {
        out.push_str(s);
        map.extend(std::iter::repeat_n(from, s.len()));
    };
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            push(&mut out, &mut map, c.encode_utf8(&mut buf), i);
            continue;
        }
        let Some(&(_, n)) = chars.peek() else {
            push(&mut out, &mut map, "\\", i);
            continue;
        };
        let simple = match n {
            'n' => Some("\n"),
            'r' => Some("\r"),
            't' => Some("\t"),
            'a' => Some("\u{7}"),
            'b' => Some("\u{8}"),
            'f' => Some("\u{c}"),
            'v' => Some("\u{b}"),
            '"' => Some("\""),
            '\\' => Some("\\"),
            '$' => Some("$$"),
            _ => None,
        };
        if let Some(s) = simple {
            chars.next();
            push(&mut out, &mut map, s, i);
            continue;
        }
        if n == '0'
            && let Some(c) = octal(body.get(i + 2..).unwrap_or_default())
        {
            // `\0` plus three octal digits
            for _ in 0..4 {
                chars.next();
            }
            let mut buf = [0u8; 4];
            push(&mut out, &mut map, c.encode_utf8(&mut buf), i);
            continue;
        }
        // unknown escape: keep the backslash, the next char is handled normally
        push(&mut out, &mut map, "\\", i);
    }
    map.push(body.len());
    (out, map)
}

/// The ASCII char written as three octal digits at the start of `s`, if any.
fn octal(s: &str) -> Option<char> {
    let digits = s.as_bytes().get(..3)?;
    let mut v: u32 = 0;
    for &d in digits {
        if !(b'0'..=b'7').contains(&d) {
            return None;
        }
        v = v * 8 + u32::from(d - b'0');
    }
    if v > 0x7f {
        return None;
    }
    char::from_u32(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/me".into()),
            "EMPTY" => Some(String::new()),
            "A" => Some("from-env".into()),
            _ => None,
        }
    }

    type Entries = Vec<(String, Option<String>)>;

    fn parse(text: &str) -> Result<Entries, EnvFileError> {
        parse_env_file(text, &env)
    }

    fn kv(pairs: &[(&str, Option<&str>)]) -> Entries {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    }

    fn ok(text: &str, pairs: &[(&str, Option<&str>)]) {
        assert_eq!(parse(text), Ok(kv(pairs)), "text {text:?}");
    }

    fn one(text: &str, value: &str) {
        ok(text, &[("K", Some(value))]);
    }

    fn err_at(text: &str, line: usize, column: usize) -> String {
        match parse(text) {
            Err(e) => {
                assert_eq!((e.line, e.column), (line, column), "text {text:?}: {e}");
                e.message
            }
            Ok(v) => panic!("expected an error for {text:?}, got {v:?}"),
        }
    }

    #[test]
    fn empty_and_blank() {
        ok("", &[]);
        ok("\n\n  \n\t\n", &[]);
        ok("# only a comment", &[]);
    }

    #[test]
    fn plain_pairs() {
        ok(
            "A=1\nB=two\n\nC=three four\n",
            &[
                ("A", Some("1")),
                ("B", Some("two")),
                ("C", Some("three four")),
            ],
        );
    }

    #[test]
    fn comments() {
        ok(
            "# header\nA=1 # trailing\n  # indented comment\nB=2\t# tab comment\n",
            &[("A", Some("1")), ("B", Some("2"))],
        );
        one("K=a#b", "a#b");
        one("K=#notacomment", "#notacomment");
        one("K= # only comment", "");
        one("K=url#frag # comment", "url#frag");
    }

    #[test]
    fn export_prefix() {
        ok(
            "export A=1\nexport\tB=2\nexport  C",
            &[("A", Some("1")), ("B", Some("2")), ("C", None)],
        );
        ok("export=1", &[("export", Some("1"))]);
        ok("exported=1", &[("exported", Some("1"))]);
        ok("export", &[("export", None)]);
    }

    #[test]
    fn empty_values() {
        ok("A=\nB=", &[("A", Some("")), ("B", Some(""))]);
        one("K=   ", "");
        one("K=''", "");
        one("K=\"\"", "");
    }

    #[test]
    fn bare_keys() {
        ok(
            "A\nB  \nC # comment\nD",
            &[("A", None), ("B", None), ("C", None), ("D", None)],
        );
    }

    #[test]
    fn unquoted_values_are_trimmed() {
        one("K =   spaced value   ", "spaced value");
        one("  K=v", "v");
        one("K=a=b=c", "a=b=c");
        one("K=it's", "it's");
        one("K=say \"hi\"", "say \"hi\"");
    }

    #[test]
    fn yaml_style() {
        ok(
            "A: 1\nB:2\nC : three",
            &[("A", Some("1")), ("B", Some("2")), ("C", Some("three"))],
        );
        one("K: 'quoted'", "quoted");
        one("K=a:b", "a:b");
    }

    #[test]
    fn single_quotes_are_literal() {
        one("K='$HOME ${X:?no} \\n'", "$HOME ${X:?no} \\n");
        one("K='  padded  '", "  padded  ");
        one("K='a # b' # c", "a # b");
        one("K='it\\'s'", "it\\'s");
        one("K='a\"b'", "a\"b");
    }

    #[test]
    fn single_quotes_span_lines() {
        ok(
            "K='line1\nline2'\nN=1",
            &[("K", Some("line1\nline2")), ("N", Some("1"))],
        );
    }

    #[test]
    fn double_quotes() {
        one("K=\"a\\nb\"", "a\nb");
        one("K=\"a\\tb\"", "a\tb");
        one("K=\"say \\\"hi\\\"\"", "say \"hi\"");
        one("K=\"back\\\\slash\"", "back\\slash");
        one("K=\"C:\\\\\"", "C:\\");
        one("K=\"\\r\\a\\b\\f\\v\"", "\r\u{7}\u{8}\u{c}\u{b}");
        one("K=\"keep \\q \\' as is\"", "keep \\q \\' as is");
        one("K=\"\\0101\\0102\"", "AB");
        one("K=\"\\08\\0\"", "\\08\\0");
        one("K=\"  # not a comment  \"", "  # not a comment  ");
        one("K=\"it's\"", "it's");
        one("K=\"v\" # comment", "v");
        one("K=\"trailing\\\\\"", "trailing\\");
    }

    #[test]
    fn double_quotes_span_lines() {
        ok(
            "K=\"line1\nline2\\nline3\"\nN=1",
            &[("K", Some("line1\nline2\nline3")), ("N", Some("1"))],
        );
    }

    #[test]
    fn interpolation() {
        one("K=$HOME/bin", "/home/me/bin");
        one("K=${HOME}/bin", "/home/me/bin");
        one("K=\"${HOME}/bin\"", "/home/me/bin");
        one("K=${NOPE:-fallback}", "fallback");
        one("K=${EMPTY-unused}", "");
        one("K=${NOPE}", "");
        one("K=$$HOME", "$HOME");
        one("K=\"\\$HOME\"", "$HOME");
        one("K=\"$$HOME\"", "$HOME");
        one("K=\"\\\\$HOME\"", "\\/home/me");
        one("K=a $ b", "a $ b");
    }

    #[test]
    fn earlier_keys_take_precedence_over_lookup() {
        ok(
            "A=local\nB=${A}-x\nC=\"$A\"\nD='$A'",
            &[
                ("A", Some("local")),
                ("B", Some("local-x")),
                ("C", Some("local")),
                ("D", Some("$A")),
            ],
        );
        // a later definition does not affect earlier lines
        ok(
            "B=$A\nA=local",
            &[("B", Some("from-env")), ("A", Some("local"))],
        );
        // a bare key defers to the environment
        ok("A\nB=$A", &[("A", None), ("B", Some("from-env"))]);
        // no lookup at all
        assert_eq!(
            parse_env_file("X=1\nY=${X}${Z}", &no_env),
            Ok(kv(&[("X", Some("1")), ("Y", Some("1"))]))
        );
    }

    #[test]
    fn repeated_key_keeps_first_position_last_value() {
        ok(
            "A=1\nB=2\nA=3\nC=$A",
            &[("A", Some("3")), ("B", Some("2")), ("C", Some("3"))],
        );
    }

    #[test]
    fn key_characters() {
        ok(
            "a.b=1\nc-d=2\ne[0]=3\n_x=4\nÄpfel=5\n9lives=6",
            &[
                ("a.b", Some("1")),
                ("c-d", Some("2")),
                ("e[0]", Some("3")),
                ("_x", Some("4")),
                ("Äpfel", Some("5")),
                ("9lives", Some("6")),
            ],
        );
    }

    #[test]
    fn invalid_keys() {
        let m = err_at("A=1\nB$C=2", 2, 2);
        assert_eq!(m, "unexpected character '$' in variable name");
        let m = err_at("FOO BAR=1", 1, 5);
        assert_eq!(m, "variable name cannot contain a space");
        let m = err_at("=value", 1, 1);
        assert_eq!(m, "missing variable name");
        err_at("  :value", 1, 3);
        err_at("A=1\n\n  ke!y=2", 3, 5);
        err_at("ké\"y=1", 1, 3);
        err_at("'quoted'=1", 1, 1);
    }

    #[test]
    fn unterminated_quotes() {
        let m = err_at("A=1\nB='abc\nC=2", 2, 3);
        assert_eq!(m, "unterminated quoted value");
        err_at("B=\"abc", 1, 3);
        err_at("B=\"abc\\\"", 1, 3);
    }

    #[test]
    fn garbage_after_quoted_value() {
        let m = err_at("K=\"a\"b", 1, 6);
        assert_eq!(m, "unexpected character 'b' after quoted value");
        err_at("K='a'  'b'", 1, 8);
        err_at("K='multi\nline'x", 2, 6);
    }

    #[test]
    fn interpolation_errors_have_positions() {
        let m = err_at("A=1\nB=x ${NOPE:?must be set}", 2, 5);
        assert_eq!(m, "required variable NOPE is missing a value: must be set");
        let m = err_at("B=${", 1, 3);
        assert_eq!(m, "unterminated variable reference");
        // inside double quotes, after escapes
        err_at("B=\"\\n\\t${NOPE?}\"", 1, 8);
        err_at("B=\"l1\nl2 ${X:?}\"", 2, 4);
        err_at("B=\"é ${}\"", 1, 6);
    }

    #[test]
    fn crlf_line_endings() {
        ok(
            "A=1\r\nB=\"two\"\r\n# c\r\nC\r\nD='x\r\ny'\r\n",
            &[
                ("A", Some("1")),
                ("B", Some("two")),
                ("C", None),
                ("D", Some("x\ny")),
            ],
        );
        err_at("A=1\r\nB C=2\r\n", 2, 3);
    }

    #[test]
    fn byte_order_mark() {
        ok("\u{feff}A=1\nB=2", &[("A", Some("1")), ("B", Some("2"))]);
        err_at("\u{feff}A B", 1, 3);
    }

    #[test]
    fn unicode_values() {
        one("K=héllo wörld ✓", "héllo wörld ✓");
        one("K=\"日本語\\n\"", "日本語\n");
        one("K='ünï'", "ünï");
        one("K=${NOPE:-ñ}", "ñ");
    }

    #[test]
    fn display() {
        let e = EnvFileError {
            line: 3,
            column: 7,
            message: "unterminated quoted value".into(),
        };
        assert_eq!(e.to_string(), "line 3, column 7: unterminated quoted value");
    }

    #[test]
    fn never_panics_on_odd_input() {
        let samples = [
            "\u{feff}",
            "=",
            ":",
            "\"",
            "'",
            "K=\"\\",
            "K=\"\\0",
            "K=\"\\01",
            "K=\"\\0777\"",
            "K=\"\\",
            "K='\\'",
            "export ",
            "export\n",
            "K=${",
            "K=\"${\"",
            "\r",
            "\r\n\r\n",
            "K=\u{85}v\u{a0}",
            "K\u{2028}=1",
            "é",
            "K=é#",
            "#\u{feff}",
            "K=\"a\"\u{a0}#c",
        ];
        for s in samples {
            let _ = parse(s);
        }
        let tricky = "export A=\"x\\\"y${B:-é}\" # c\nB='q\\'r'\nC=${A}#d\nD\n\u{feff}E: 'ü";
        for (i, _) in tricky.char_indices() {
            let _ = parse(tricky.get(..i).unwrap_or_default());
        }
    }
}
