//! Shell quoting for the scripts the tests write.

use std::path::Path;

/// `s` single-quoted for the shell.
pub fn shell_quote(s: impl AsRef<str>) -> String {
    format!("'{}'", s.as_ref().replace('\'', "'\\''"))
}

/// `path` single-quoted for the shell.
pub fn shell_quote_path(path: &Path) -> String {
    shell_quote(path.to_str().expect("utf-8 path"))
}
