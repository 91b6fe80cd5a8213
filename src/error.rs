//! The one error type of the library's spec and render stages.

use thiserror::Error;

/// Why a process description could not be turned into files.
///
/// Every variant names the process and, where there is one, the attribute path
/// (`environment.PORT`, `config.maxSequence`), so a user can find the line to fix.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SpecError {
    /// The input is not an attribute set at all.
    #[error("a process description must be an attribute set, got {found}")]
    NotAnAttributeSet {
        /// The kind of value that was given instead.
        found: &'static str,
    },
    /// Neither `name` nor `instanceName` was given.
    #[error("process description has no name: set 'name' or 'instanceName'")]
    MissingName,
    /// An attribute that the framework does not know.
    #[error("process '{process}': unknown attribute '{attribute}'{suggestion}")]
    UnknownAttribute {
        /// The process being described.
        process: String,
        /// The full path of the unknown attribute.
        attribute: String,
        /// `" (did you mean 'x'?)"` or empty.
        suggestion: String,
    },
    /// A known attribute with a value of the wrong type.
    #[error("process '{process}': attribute '{attribute}' must be {expected}, got {found}")]
    WrongType {
        /// The process being described.
        process: String,
        /// The full path of the attribute.
        attribute: String,
        /// What was expected, in Nix terms ("a string", "a list of integers").
        expected: &'static str,
        /// What was found, in Nix terms.
        found: &'static str,
    },
    /// A value of the right type that is not allowed.
    #[error("process '{process}': attribute '{attribute}': {message}")]
    InvalidValue {
        /// The process being described.
        process: String,
        /// The full path of the attribute.
        attribute: String,
        /// What is wrong and what would be right.
        message: String,
    },
    /// A credential that would give an account root-equivalent rights (uid or gid 0, a
    /// group of [`PRIVILEGED_GROUPS`](crate::spec::PRIVILEGED_GROUPS)) without the
    /// process's opt-in.
    #[error("process '{process}': attribute '{attribute}' {what}; if that is intended, set 'allowPrivilegedCredentials = true' on the process")]
    PrivilegedCredentials {
        /// The process being described.
        process: String,
        /// The full path of the attribute (`credentials.users.NAME.extraGroups`).
        attribute: String,
        /// What the credential would do ("puts user 'x' in the privileged group 'sudo'").
        what: String,
    },
    /// The input is not JSON (only from the text entry points).
    #[error("the process description is not valid JSON: {0}")]
    Json(String),
}

/// Result type of the spec and render stages.
pub type Result<T> = std::result::Result<T, SpecError>;

/// The name of a JSON value's kind, in the words a Nix user knows.
pub fn kind_of(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an attribute set",
    }
}

/// The closest candidate to `word` by edit distance, if it is close enough to be a typo.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_lowercase();
    let limit = (word.chars().count() / 3).max(2);
    let close = candidates
        .iter()
        .map(|c| (edit_distance(&word, &c.to_lowercase()), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c);
    // A longer or shorter spelling of a known name ("runtimeDirectory" for "runtimeDir").
    close.or_else(|| {
        candidates
            .iter()
            .filter(|c| c.len() >= 4 && word.len() >= 4)
            .find(|c| {
                let c = c.to_lowercase();
                word.starts_with(&c) || c.starts_with(&word)
            })
            .copied()
    })
}

/// The `" (did you mean 'x'?)"` suffix for an unknown word, or an empty string.
pub fn suggestion_suffix(word: &str, candidates: &[&str]) -> String {
    match did_you_mean(word, candidates) {
        Some(c) => format!(" (did you mean '{c}'?)"),
        None => String::new(),
    }
}

/// Levenshtein distance between two strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let known = ["process", "processIsDaemon", "pidFile"];
        assert_eq!(did_you_mean("proces", &known), Some("process"));
        assert_eq!(did_you_mean("pidfile", &known), Some("pidFile"));
        assert_eq!(did_you_mean("completelyDifferent", &known), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
