//! The one place where strings become shell words.
//!
//! Everything a user wrote that ends up as a value in a generated script (paths, arguments,
//! environment values, messages, user names) goes through [`quote`]. Raw shell code the
//! user wrote on purpose (`activities`, `instructions`, `initialize`) is inserted verbatim.

use std::borrow::Cow;

/// Characters that never need quoting in a POSIX shell word.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c)
}

/// Quotes `s` so that the shell reads it back as exactly one word with exactly this text.
///
/// Plain words stay as they are; anything else is wrapped in single quotes, with each
/// single quote written as `'\''`. Inside single quotes nothing expands: not `$`, not
/// backticks, not `\`, and a newline is just a character.
pub fn quote(s: &str) -> Cow<'_, str> {
    if !s.is_empty() && s.bytes().all(|b| is_plain(b as char)) && !s.starts_with('=') {
        return Cow::Borrowed(s);
    }
    Cow::Owned(single_quote(s))
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

/// Quotes each word and joins them with spaces.
pub fn quote_words<'a>(words: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, word) in words.into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&quote(word));
    }
    out
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

    #[test]
    fn plain_words_stay_plain() {
        assert_eq!(
            quote("/nix/store/abc-nginx/bin/nginx"),
            "/nix/store/abc-nginx/bin/nginx"
        );
        assert_eq!(quote("-HUP"), "-HUP");
    }

    #[test]
    fn everything_else_is_single_quoted() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(quote("a\nb"), "'a\nb'");
    }

    #[test]
    fn comments_stay_on_one_line() {
        assert_eq!(comment_text("Web\napp\t1"), "Web app 1");
    }
}
