//! A generated command line ([`Line`]), built word by word, and how it is written:
//! words quoted, options kept with their arguments, long lines continued after a
//! backslash.

use std::fmt::Write as _;

use super::BODY;
use crate::shell::quote;

/// A generated command line, built word by word.
pub(super) struct Line(Vec<String>);

/// Where a command chained after `&&` on the line before starts.
pub(super) const CHAINED: usize = BODY.len() + 4;

/// The widest a generated command line is written before it continues on the next line.
const LINE_WIDTH: usize = 92;

impl Line {
    /// Starts a line with a command name from the configuration, as written there.
    pub(super) fn new(command: &str) -> Line {
        Line(vec![command.to_string()])
    }

    /// Appends a word already in shell form (a variable, an option, a number).
    pub(super) fn word(mut self, word: &str) -> Line {
        self.0.push(word.to_string());
        self
    }

    /// Appends a text, quoted.
    pub(super) fn text(self, text: &str) -> Line {
        self.word(&quote(text))
    }

    /// Appends `flag` and a word in shell form, when there is one.
    pub(super) fn option(self, flag: &str, word: Option<&str>) -> Line {
        match word {
            Some(word) => self.word(flag).word(word),
            None => self,
        }
    }

    /// Appends `flag` and a text, quoted, when there is one.
    pub(super) fn text_option(self, flag: &str, text: Option<&str>) -> Line {
        match text {
            Some(text) => self.word(flag).text(text),
            None => self,
        }
    }

    /// Appends every text, quoted.
    pub(super) fn texts(self, texts: &[String]) -> Line {
        texts.iter().fold(self, |line, t| line.text(t))
    }

    /// The words joined by blanks, for a line starting at the activity's indentation.
    pub(super) fn written(self) -> String {
        self.written_at(BODY.len())
    }

    /// The words joined by blanks, for a line starting at column `indent`; past
    /// [`LINE_WIDTH`] the line continues after a backslash, indented once more. A word
    /// stays whole (a quoted word spanning lines counts from its last line), and an
    /// option (or `--`) stays with the word after it.
    pub(super) fn written_at(self, indent: usize) -> String {
        let mut out = String::new();
        let mut column = indent;
        let mut words = self.0.into_iter();
        while let Some(word) = words.next() {
            let mut unit = word;
            // An option and its argument go together.
            if unit.starts_with('-') && unit.len() == 2 {
                if let Some(arg) = words.next() {
                    unit = format!("{unit} {arg}");
                }
            }
            let width = unit.lines().next().map_or(0, str::len);
            if !out.is_empty() {
                if column + 1 + width > LINE_WIDTH {
                    let _ = write!(out, " \\\n{:1$}", "", indent + 4);
                    column = indent + 4;
                } else {
                    out.push(' ');
                    column += 1;
                }
            }
            column = match unit.rfind('\n') {
                Some(i) => unit.len() - i - 1,
                None => column + width,
            };
            out.push_str(&unit);
        }
        out
    }
}
