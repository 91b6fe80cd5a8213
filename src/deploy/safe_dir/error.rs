//! Why a directory, or a file in it, was refused or could not be used.

use std::path::PathBuf;

use crate::deploy::describe_io;

/// Why a directory, or a file in it, was refused or could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SafeDirError {
    /// A system call failed (the OS error is part of the message, not a `source`).
    #[error("{action} {}: {}", path.display(), describe_io(error, path))]
    Io {
        /// What was being done, e.g. "opening".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// The path leads through, or to, a directory others could change, or through a
    /// symbolic link someone else made.
    #[error("directory {}: {reason}", path.display())]
    Refused {
        /// The whole path being opened.
        path: PathBuf,
        /// Why, naming the component.
        reason: String,
    },
    /// A file in the directory is not a regular file of the expected owner.
    #[error("{}: not a regular file of uid {uid}", path.display())]
    NotOwnFile {
        /// The file.
        path: PathBuf,
        /// The owner it should have.
        uid: u32,
    },
}

impl SafeDirError {
    /// Wraps an I/O error with the action and the path it concerned.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        error: std::io::Error,
    ) -> Self {
        SafeDirError::Io {
            action,
            path: path.into(),
            error,
        }
    }

    /// Whether this is a write that failed because the disk is full (or over quota).
    pub(crate) fn is_disk_full(&self) -> bool {
        matches!(self, SafeDirError::Io { error, .. } if crate::deploy::is_disk_full(error))
    }
}
