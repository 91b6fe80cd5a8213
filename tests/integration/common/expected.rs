//! Error cases kept as data, in the manner of Nix's `eval-fail-NAME.nix` and `.err.exp`:
//! `tests/errors/KIND/TEST/NAME.EXT` is one input of the test `TEST` and `NAME.err` the
//! error it must give. What `.err` holds (the exact message, or fragments of it one per
//! line) is up to the test that reads it.
//!
//! With `UPDATE_EXPECTED=1` the tests write the `.err` files from what the programs say
//! now instead of comparing; review the diff before committing.

use std::fs;
use std::path::PathBuf;

use super::repo_root;

/// Whether the tests write the expected errors instead of checking them
/// (`UPDATE_EXPECTED` set to anything but empty or `0`).
pub fn update_expected() -> bool {
    std::env::var_os("UPDATE_EXPECTED").is_some_and(|v| !v.is_empty() && v != "0")
}

/// One error case: an input file and its expected-error file.
pub struct ErrorCase {
    /// The file name without its extension.
    pub name: String,
    /// `NAME.EXT`.
    pub input: PathBuf,
    /// `NAME.err`.
    pub expected: PathBuf,
}

impl ErrorCase {
    /// The input file's text.
    pub fn input_text(&self) -> String {
        fs::read_to_string(&self.input)
            .unwrap_or_else(|e| panic!("read {}: {e}", self.input.display()))
    }

    /// The expected text without the file's final newline; `None` without a file.
    pub fn expected_text(&self) -> Option<String> {
        let text = fs::read_to_string(&self.expected).ok()?;
        Some(text.strip_suffix('\n').unwrap_or(&text).to_string())
    }

    /// Writes `text` and a newline as the expected text.
    pub fn record(&self, text: &str) {
        fs::write(&self.expected, format!("{text}\n"))
            .unwrap_or_else(|e| panic!("write {}: {e}", self.expected.display()));
    }
}

/// The directory of the error cases of `kind`.
pub fn error_cases_dir(kind: &str) -> PathBuf {
    repo_root().join("tests/errors").join(kind)
}

/// The cases of test `test` in `tests/errors/KIND/`: every `NAME.EXT` there, by name.
/// An `.err` file without its input fails the test.
pub fn error_cases(kind: &str, test: &str, ext: &str) -> Vec<ErrorCase> {
    let dir = error_cases_dir(kind).join(test);
    let mut cases = Vec::new();
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a readable directory entry").path();
        let (Some(name), Some(found)) = (path.file_stem(), path.extension()) else {
            continue;
        };
        let name = name.to_string_lossy().into_owned();
        if found == "err" {
            assert!(
                dir.join(format!("{name}.{ext}")).is_file(),
                "{} has no input {name}.{ext}",
                path.display()
            );
        } else if found == ext {
            cases.push(ErrorCase {
                expected: dir.join(format!("{name}.err")),
                input: path,
                name,
            });
        }
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(!cases.is_empty(), "no *.{ext} cases in {}", dir.display());
    cases
}

/// Checks every case of test `test` in `tests/errors/KIND/` (see [`error_cases`]) with
/// `check`, which gives what is wrong with one case (nothing when it passes); fails
/// showing the problems of all cases at once.
pub fn check_error_cases(
    kind: &str,
    test: &str,
    ext: &str,
    check: impl FnMut(&ErrorCase) -> Vec<String>,
) {
    let wrong: Vec<String> = error_cases(kind, test, ext)
        .iter()
        .flat_map(check)
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Every test directory in `tests/errors/KIND/`, by name (to check that a test reads it).
pub fn error_case_tests(kind: &str) -> Vec<String> {
    let dir = error_cases_dir(kind);
    let mut tests: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("a readable directory entry").path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    tests.sort();
    tests
}
