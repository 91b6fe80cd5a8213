//! The one place where strings become shell words.
//!
//! Everything a user wrote that ends up as a value in a generated script (paths, arguments,
//! environment values, messages, user names) goes through [`quote`]; the script's own
//! variables are used through [`variable`]. Raw shell code the user wrote on purpose
//! (`activities`, `instructions`, `initialize`) is inserted verbatim.

use std::borrow::Cow;

/// Characters that never need quoting in a POSIX shell word.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c)
}

/// Quotes `s` so that the shell reads it back as exactly one word with exactly this text.
///
/// Plain words stay as they are. Anything else is wrapped in single quotes, inside which
/// nothing expands: not `$`, not backticks, not `\`, and a newline is just a character.
/// A text holding `'`, `$` or a backtick goes in double quotes instead, with `\`, `$`,
/// `` ` `` and `"` escaped by a backslash (the only characters special there, as history
/// expansion is off in scripts): `"it's \$(date)"` reads better than `'it'\''s $(date)'`,
/// and shellcheck does not take a literal `$` in single quotes for a mistake (SC2016).
/// A leading `~/` is written `\~/`, so it is neither expanded nor reported (SC2088).
pub fn quote(s: &str) -> Cow<'_, str> {
    if !s.is_empty() && s.bytes().all(|b| is_plain(b as char)) && !s.starts_with('=') {
        return Cow::Borrowed(s);
    }
    if s.starts_with("~/") {
        return Cow::Owned(format!("\\~{}", quote(&s[1..])));
    }
    if s.contains(['\'', '$', '`']) {
        return Cow::Owned(double_quote(s));
    }
    Cow::Owned(single_quote(s))
}

/// Wraps `s` in double quotes, escaping the characters special inside them.
fn double_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '\\' | '$' | '`' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Wraps `s` in single quotes, always (for files parsed by other tools, where one
/// uniform form is simpler to read back).
pub fn single_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// A use of the script's own variable `name` as one word: `"$NAME"`.
///
/// `name` is one of the names the renderer itself chooses, never a user string.
pub fn variable(name: &str) -> String {
    debug_assert!(
        name.starts_with(|c: char| c.is_ascii_uppercase())
            && name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
        "{name} is not one of the renderer's variable names"
    );
    format!("\"${name}\"")
}

/// Makes a one-line comment text: control characters (newlines included) become spaces.
pub fn comment_text(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `quote(word)` is `quoted` for every `(word, quoted)` of `cases`.
    fn assert_quotes(cases: &[(&str, &str)]) {
        for (word, quoted) in cases {
            assert_eq!(quote(word), *quoted, "{word:?}");
        }
    }

    #[test]
    fn plain_words_stay_plain() {
        let store_path = "/nix/store/abc-nginx/bin/nginx";
        assert_quotes(&[(store_path, store_path), ("-HUP", "-HUP")]);
    }

    #[test]
    fn everything_else_is_single_quoted() {
        assert_quotes(&[
            ("", "''"),
            ("a b", "'a b'"),
            ("a\nb", "'a\nb'"),
            ("a\\b", "'a\\b'"),
        ]);
    }

    #[test]
    fn quotes_and_dollars_go_in_double_quotes() {
        assert_quotes(&[
            ("it's", "\"it's\""),
            ("$(rm -rf /)", "\"\\$(rm -rf /)\""),
            ("`id` \"x\" \\", "\"\\`id\\` \\\"x\\\" \\\\\""),
            ("$a\nb", "\"\\$a\nb\""),
        ]);
    }

    #[test]
    fn a_leading_home_tilde_is_escaped() {
        assert_quotes(&[
            ("~/x", "\\~/x"),
            ("~/a b", "\\~'/a b'"),
            ("~", "'~'"),
            ("a~/", "'a~/'"),
        ]);
    }

    #[test]
    fn variables_are_double_quoted() {
        assert_eq!(variable("PIDFILE"), "\"$PIDFILE\"");
    }

    #[test]
    fn comments_stay_on_one_line() {
        assert_eq!(comment_text("Web\napp\t1"), "Web app 1");
    }
}
