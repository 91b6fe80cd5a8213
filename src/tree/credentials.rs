//! The credential file format: one `key='value'` line per property of a group or user
//! (`dysnomia-support/{groups,users}/NAME`), written by [`write()`] and read by [`parse`].
//!
//! [`write()`] single-quotes every value with
//! [`shell::single_quote`](crate::shell::single_quote), so a consumer that
//! sources the file expands nothing. [`parse`] reads the file without evaluating it, by
//! POSIX shell rules restricted to what needs no evaluation, so that hand-written files
//! (and those of other generators, e.g. `key=value` without quotes) are read too:
//!
//! - blank lines, leading blanks and `#` comments (at the start of a line or after a
//!   value and a blank) are skipped;
//! - a key is `[A-Za-z0-9_]+`, directly followed by `=`;
//! - a value is a sequence of unquoted characters, `'single-quoted'` text (taken as it
//!   is, newlines included), `"double-quoted"` text (with the backslash escapes `\$`,
//!   `` \` ``, `\"`, `\\` and line continuations) and backslash-escaped characters (a
//!   backslash before a newline continues the line); it ends at a newline or a blank;
//! - anything that would need evaluation is refused: unquoted `` $ ` ; & | < > ( ) ``,
//!   `$` or `` ` `` inside double quotes, text after a blank that is not a comment;
//! - a key given twice keeps its last value.
//!
//! A file whose account would be privileged exists only when its process opted in, and
//! then carries the line `allowPrivilegedCredentials='1'` ([`ALLOW_PRIVILEGED_KEY`],
//! read by [`allows_privileged`]).

use std::collections::BTreeMap;
use std::iter::Peekable;
use std::str::Chars;

use crate::shell::single_quote;

/// The properties of one group or user, by key.
pub type Fields = BTreeMap<String, String>;

/// The key of a credential file saying its process opted in to a privileged account.
pub const ALLOW_PRIVILEGED_KEY: &str = "allowPrivilegedCredentials";

/// The value the renderer gives [`ALLOW_PRIVILEGED_KEY`] (any value [`allows_privileged`]
/// accepts would do).
pub const ALLOW_PRIVILEGED_VALUE: &str = "1";

/// Whether the field `key` says yes: `1`, `true` or `yes` (any case, blanks around it
/// ignored); a missing field says no.
pub fn says_yes(fields: &Fields, key: &str) -> bool {
    let value = fields.get(key).map(|s| s.trim().to_ascii_lowercase());
    matches!(value.as_deref(), Some("1" | "true" | "yes"))
}

/// Whether `fields` opt in to a privileged account ([`ALLOW_PRIVILEGED_KEY`] says yes).
pub fn allows_privileged(fields: &Fields) -> bool {
    says_yes(fields, ALLOW_PRIVILEGED_KEY)
}

/// Whether `key` can be a key of a credential file (`[A-Za-z0-9_]+`); [`write()`] expects
/// nothing else.
pub fn is_key(key: &str) -> bool {
    !key.is_empty() && key.chars().all(is_key_char)
}

/// Whether `c` may appear in a key.
fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The text of a credential file with `fields`, in key order: `key='value'` lines.
/// Every key must satisfy [`is_key`]; any value is fine, and [`parse`] gives it back.
pub fn write(fields: &Fields) -> String {
    let mut text = String::new();
    for (key, value) in fields {
        debug_assert!(is_key(key), "credential key {key:?}");
        text.push_str(key);
        text.push('=');
        text.push_str(&single_quote(value));
        text.push('\n');
    }
    text
}

/// Why a credential file could not be parsed, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses the text of a credential file (see the module documentation for the rules).
pub fn parse(text: &str) -> Result<Fields, ParseError> {
    let mut cursor = Cursor {
        chars: text.chars().peekable(),
        line: 1,
    };
    let mut fields = Fields::new();
    while cursor.skip_blank_lines() {
        let key_line = cursor.line;
        let key = cursor.key()?;
        let value = cursor.value(&key, key_line)?;
        fields.insert(key, value);
    }
    Ok(fields)
}

/// The characters of a credential file still to read, and the line they start on.
struct Cursor<'a> {
    /// The characters left.
    chars: Peekable<Chars<'a>>,
    /// The 1-based line of the next character.
    line: usize,
}

impl Cursor<'_> {
    /// The next character, without taking it.
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    /// Takes the next character, counting lines.
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next();
        if c == Some('\n') {
            self.line += 1;
        }
        c
    }

    /// An error on the current line.
    fn error(&self, message: String) -> ParseError {
        self.error_at(self.line, message)
    }

    /// An error on `line`.
    fn error_at(&self, line: usize, message: String) -> ParseError {
        ParseError { line, message }
    }

    /// Skips the rest of the line, leaving its newline.
    fn skip_comment(&mut self) {
        while !matches!(self.peek(), None | Some('\n')) {
            self.bump();
        }
    }

    /// Skips blanks, newlines and comment lines; false at the end of the text.
    fn skip_blank_lines(&mut self) -> bool {
        loop {
            match self.peek() {
                None => return false,
                Some(' ' | '\t' | '\n') => {}
                Some('#') => self.skip_comment(),
                Some(_) => return true,
            }
            self.bump();
        }
    }

    /// Reads a key and the `=` after it.
    fn key(&mut self) -> Result<String, ParseError> {
        let mut key = String::new();
        while let Some(c) = self.peek().filter(|&c| c != '=') {
            if !is_key_char(c) {
                return Err(self.error(format!("expected key=value, found character {c:?}")));
            }
            key.push(c);
            self.bump();
        }
        if key.is_empty() || self.bump() != Some('=') {
            return Err(self.error("expected key=value".into()));
        }
        Ok(key)
    }

    /// Reads the value of `key` (on `key_line`) up to the end of its line.
    fn value(&mut self, key: &str, key_line: usize) -> Result<String, ParseError> {
        let mut value = String::new();
        while let Some(c) = self.peek() {
            match c {
                '\n' => break,
                ' ' | '\t' => return self.end_of_value(key).map(|()| value),
                '\'' | '"' => self.quoted(&mut value, key, key_line, c)?,
                '\\' => self.escaped(&mut value),
                '$' | '`' | ';' | '&' | '|' | '<' | '>' | '(' | ')' => {
                    return Err(self.error(format!("value of `{key}` has unquoted {c:?}")));
                }
                _ => {
                    value.push(c);
                    self.bump();
                }
            }
        }
        Ok(value)
    }

    /// After a value and a blank, only blanks and a comment may follow on the line.
    fn end_of_value(&mut self, key: &str) -> Result<(), ParseError> {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
        match self.peek() {
            None | Some('\n') => Ok(()),
            Some('#') => {
                self.skip_comment();
                Ok(())
            }
            Some(_) => Err(self.error(format!("value of `{key}` has unquoted whitespace"))),
        }
    }

    /// A backslash outside quotes: the next character as it is, or nothing for a newline
    /// (a line continuation) or the end of the text.
    fn escaped(&mut self, value: &mut String) {
        self.bump();
        match self.bump() {
            Some('\n') | None => {}
            Some(c) => value.push(c),
        }
    }

    /// Quoted text, from the opening `quote` to the closing one. In single quotes every
    /// character stands for itself; in double quotes the shell's backslash escapes apply,
    /// and `$` and backquotes are refused (they would need evaluation).
    fn quoted(
        &mut self,
        value: &mut String,
        key: &str,
        key_line: usize,
        quote: char,
    ) -> Result<(), ParseError> {
        let double = quote == '"';
        self.bump();
        loop {
            match self.bump() {
                Some(c) if c == quote => return Ok(()),
                Some('\\') if double => self.double_quoted_escape(value),
                Some(c @ ('$' | '`')) if double => {
                    let message =
                        format!("value of `{key}` uses {c:?}, which would need evaluation");
                    return Err(self.error(message));
                }
                Some(c) => value.push(c),
                None => {
                    let kind = if double { "double" } else { "single" };
                    let message = format!("value of `{key}` has an unterminated {kind} quote");
                    return Err(self.error_at(key_line, message));
                }
            }
        }
    }

    /// A backslash inside double quotes: it escapes `$`, `` ` ``, `"`, `\` and a newline
    /// (a line continuation) and stands for itself before anything else.
    fn double_quoted_escape(&mut self, value: &mut String) {
        match self.peek() {
            Some(c @ ('$' | '`' | '"' | '\\')) => value.push(c),
            Some('\n') => {}
            Some(c) => {
                value.push('\\');
                value.push(c);
            }
            None => return,
        }
        self.bump();
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn quoting_rules() {
        let m =
            parse("group=webapp\ndescription='it'\\''s a $(test)'\nhomeDir='/var/a b'\n").unwrap();
        assert_eq!(m["group"], "webapp");
        assert_eq!(m["description"], "it's a $(test)");
        assert_eq!(m["homeDir"], "/var/a b");
        let m = parse("d='line1\nline2'\nx=\"q\\\"\"\n").unwrap();
        assert_eq!(m["d"], "line1\nline2");
        assert_eq!(m["x"], "q\"");
    }

    #[test]
    fn comments_blanks_escapes_and_continuations() {
        let text = "# a comment\n\n  uid=1000 # trailing\nshell=/bin/sh#not-a-comment\n\
                    a=b\\ c\\\nd\ne=\"x\\n\\\\\\$\"\ne=last\n";
        let m = parse(text).unwrap();
        assert_eq!(m["uid"], "1000");
        assert_eq!(m["shell"], "/bin/sh#not-a-comment");
        assert_eq!(m["a"], "b cd");
        assert_eq!(m["e"], "last");
        assert_eq!(parse("e=\"x\\n\\\\\\$\"").unwrap()["e"], "x\\n\\$");
        assert_eq!(parse("empty=\nz=''").unwrap()["empty"], "");
    }

    #[test]
    fn rejects_what_would_need_evaluation() {
        let e = parse("a=b\nx=$(rm -rf /)\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.message, "value of `x` has unquoted '$'");
        assert!(parse("x='open\n").is_err());
        assert!(parse("x=a b\n").is_err());
        assert!(parse("x=a;b\n").is_err());
        assert!(parse("x=\"`id`\"\n").is_err());
        let e = parse("not a line\n").unwrap_err();
        assert_eq!(e.message, "expected key=value, found character ' '");
        assert_eq!(parse("=x").unwrap_err().message, "expected key=value");
        assert_eq!(
            parse("\n\nkey").unwrap_err().to_string(),
            "line 3: expected key=value"
        );
    }

    #[test]
    fn quote_errors_name_the_right_line() {
        let e = parse("a=\"x\ny $z\"\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("need evaluation"), "{e}");
        let e = parse("\nb='open\n\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("single quote"), "{e}");
        let e = parse("c=\"open\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("double quote"), "{e}");
        let e = parse("d='a\nb'\ne=x y\n").unwrap_err();
        assert_eq!(
            (e.line, e.message.as_str()),
            (3, "value of `e` has unquoted whitespace")
        );
    }

    #[test]
    fn opt_in() {
        let with = |v: &str| Fields::from([(ALLOW_PRIVILEGED_KEY.to_string(), v.to_string())]);
        assert!(allows_privileged(&with(ALLOW_PRIVILEGED_VALUE)));
        assert!(allows_privileged(&with(" Yes ")));
        assert!(!allows_privileged(&with("0")));
        assert!(!allows_privileged(&Fields::new()));
        assert!(says_yes(&with("true"), ALLOW_PRIVILEGED_KEY));
        assert!(!says_yes(&with("false"), ALLOW_PRIVILEGED_KEY));
    }

    #[test]
    fn every_key_the_renderer_writes_is_a_key() {
        let keys = crate::spec::GROUP_KEYS.iter().chain(crate::spec::USER_KEYS);
        for key in keys.chain(&[ALLOW_PRIVILEGED_KEY]) {
            assert!(is_key(key), "{key}");
        }
    }

    proptest! {
        #[test]
        fn what_is_written_parses_back(
            fields in prop::collection::btree_map("[A-Za-z0-9_]{1,12}", any::<String>(), 0..6),
            quotes in prop::collection::btree_map("[a-z]{1,3}", "['\"\\\\$` \t\n#=]{0,8}", 0..4),
        ) {
            for fields in [fields, quotes] {
                prop_assert_eq!(parse(&write(&fields)), Ok(fields));
            }
        }
    }
}
