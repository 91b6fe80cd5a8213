//! Name rules: which characters process, user/group, activity and environment variable
//! names may hold, and how user-given names are shown in error messages.

use super::parse::Attrs;
use crate::error::Result;

#[derive(Debug, Clone, Copy)]
pub(super) enum NameKind {
    /// A process or instance name: it becomes a file name and an rc.d link name.
    Process,
    /// A user or group name as `useradd`/`groupadd` accept it.
    Account,
    /// An activity: a `case` label and a command-line word.
    Activity,
    /// An environment variable name.
    Variable,
    /// A secret's name: a file name and part of its variable's name.
    Secret,
}

/// A rule for one kind of name: its longest length, and which characters may come first
/// and after.
type NameRule = (usize, fn(char) -> bool, fn(char) -> bool);

impl NameKind {
    fn allows(self, name: &str) -> bool {
        let (max_len, first, rest): NameRule = match self {
            NameKind::Process => (
                200,
                |c| c.is_ascii_alphanumeric() || "_@+:".contains(c),
                |c| c.is_ascii_alphanumeric() || "._-@+:".contains(c),
            ),
            NameKind::Account => (
                32,
                |c| c.is_ascii_alphabetic() || c == '_',
                |c| c.is_ascii_alphanumeric() || "_.-".contains(c),
            ),
            NameKind::Activity => (
                100,
                |c| c.is_ascii_alphanumeric(),
                |c| c.is_ascii_alphanumeric() || "_.-".contains(c),
            ),
            NameKind::Secret => (
                100,
                |c| c.is_ascii_alphanumeric(),
                |c| c.is_ascii_alphanumeric() || "_.-".contains(c),
            ),
            NameKind::Variable => (
                200,
                |c| c.is_ascii_alphabetic() || c == '_',
                |c| c.is_ascii_alphanumeric() || c == '_',
            ),
        };
        let mut chars = name.chars();
        name.len() <= max_len && chars.next().is_some_and(first) && chars.all(rest)
    }

    fn rule(self) -> &'static str {
        match self {
            NameKind::Process => {
                "process name (use letters, digits and . _ - @ + :, not starting with . or -)"
            }
            NameKind::Account => {
                "user or group name (a letter or _ first, then letters, digits, _ . -; at most 32)"
            }
            NameKind::Activity => "activity name (letters, digits, _ . -)",
            NameKind::Secret => {
                "secret name (a letter or digit first, then letters, digits, _ . -)"
            }
            NameKind::Variable => {
                "environment variable name (a letter or _ first, then letters, digits, _)"
            }
        }
    }
}

/// Checks `name` against the rules of its kind; the error names attribute `key`.
pub(super) fn check_name(attrs: &Attrs, key: &str, name: &str, kind: NameKind) -> Result<()> {
    if kind.allows(name) {
        Ok(())
    } else {
        Err(attrs.invalid(
            key,
            format!("{} is not a valid {}", debug_quote(name), kind.rule()),
        ))
    }
}

/// A process name as error messages show it: cut after 60 characters, so a huge bad
/// name does not make a huge message.
pub(super) fn shown_name(name: &str) -> String {
    if name.chars().count() > 60 {
        format!("{}...", name.chars().take(60).collect::<String>())
    } else {
        name.to_string()
    }
}

/// Quotes a user string for an error message so control characters stay visible.
pub(super) fn debug_quote(s: &str) -> String {
    let shown: String = s.chars().take(60).collect();
    let mut quoted = format!("{shown:?}");
    if s.chars().count() > 60 {
        quoted.push_str("...");
    }
    quoted
}

#[cfg(test)]
mod tests {
    use crate::spec::parse;
    use serde_json::json;

    #[test]
    fn a_huge_bad_name_gives_a_short_message() {
        let name = "x y".repeat(100_000);
        let err = parse(&json!({"name": name, "process": "/bin/x"})).unwrap_err();
        assert!(err.to_string().len() < 400, "{err}");
    }
}
