//! `runactivity logs`: the last lines of processes' logs, and following them as they grow.
//!
//! A process's logs are the files its manifest names: `logFile` (the output of a
//! foreground process, rotated by the supervisor as `NAME.log`, `NAME.log.1`, ...) and
//! `logFiles` (what a program writes itself, rotated by logrotate with the same names).
//! The last lines are taken across the rotated files, newest last. Following reads what
//! is appended, goes on in the new file when the old one is renamed away (rotation) and
//! from its start when it is truncated (logrotate's `copytruncate`), and ends when the
//! reader of its output goes away.
//!
//! Run by root, a file is opened without following a symbolic link and read only when it
//! is a regular file owned by root or by the process's user, with no other name: a
//! service's user cannot make root print a file of someone else's through its log.
//!
//! The parts: `sources` (which files are a process's logs), `open` (opening one as the
//! rules above say), `last` (the last lines across the rotated files), `follow`
//! (following them as they grow), `print` (how lines are written) and `error`.

mod error;
mod follow;
mod last;
mod open;
mod print;
mod sources;

pub use error::{LogsError, ShowError};
pub use follow::{follow, stdout_closed, Follower};
pub use last::print_last;
pub use print::Printer;
pub use sources::{sources, LogSource};

/// What the tests of the parts share: a source and writing its files.
#[cfg(test)]
mod test_support {
    use std::path::Path;

    use super::LogSource;

    /// The process `web` whose one log is `DIR/web.log`.
    pub(super) fn source(dir: &Path) -> LogSource {
        LogSource {
            name: "web".into(),
            files: vec![dir.join("web.log")],
            uid: None,
        }
    }

    /// Writes `text` to `path`.
    pub(super) fn write(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
    }
}
