//! Why logs could not be found or read, and why showing them stopped.

use std::io;
use std::path::PathBuf;

/// Why the logs could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    /// A name that is not a process of the profile.
    #[error("no process '{name}' in the profile{suggestion}; its processes: {known}")]
    UnknownProcess {
        /// The name given.
        name: String,
        /// `" (did you mean 'x'?)"` or empty.
        suggestion: String,
        /// The profile's process names, comma-separated.
        known: String,
    },
    /// A process that was asked for by name has no log file.
    #[error("process '{0}' has no log file: its program writes no output file the profile knows of (give it `logFiles`, or run it in the foreground)")]
    NoLogFile(String),
    /// A log file that must not be read (see the documentation of [`logs`](super)).
    #[error("refusing log file {path} of process '{name}': {why}")]
    Refused {
        /// The process.
        name: String,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// A log file could not be read.
    #[error("cannot read log file {path} of process '{name}': {error}")]
    Io {
        /// The process.
        name: String,
        /// The file.
        path: PathBuf,
        /// The error.
        error: io::Error,
    },
    /// The profile's manifest of a process could not be read.
    #[error("cannot read the manifest of process '{name}': {why}")]
    Manifest {
        /// The process.
        name: String,
        /// What went wrong.
        why: String,
    },
}

/// Why showing logs stopped.
#[derive(Debug, thiserror::Error)]
pub enum ShowError {
    /// A log could not be read.
    #[error(transparent)]
    Logs(#[from] LogsError),
    /// The output could not be written (its reader went away: the end of following).
    #[error("cannot write the logs: {0}")]
    Output(io::Error),
}
