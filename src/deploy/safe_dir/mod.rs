//! Directories reached without following a symbolic link that someone else could
//! have planted: `SafeDir::open` walks a path from `/` component by component, by
//! descriptor, checking who owns and who may write each directory on the way, and the
//! directory it returns is used by descriptor from then on (`openat`, `renameat`), so
//! nothing can redirect a file in it once it was checked.
//!
//! The parts: `walk` (the walk from `/` that opens a directory), `entries` (the entries
//! of an open directory: status, listing, opening, removing), `files` (reading and
//! writing the caller's own files in it), `owned` (files and entries with a given owner
//! and mode) and `sys` (the system calls under them); `error` says what went wrong.

mod entries;
mod error;
mod files;
mod owned;
mod sys;
mod walk;

use std::os::fd::OwnedFd;
use std::path::PathBuf;

pub use error::SafeDirError;
pub(crate) use owned::Ownership;
pub(crate) use sys::euid;

/// Result type of this module.
type Result<T> = std::result::Result<T, SafeDirError>;

/// A directory opened by descriptor: files in it are reached relative to it, so
/// nothing can redirect them once it was checked.
#[derive(Debug)]
pub(crate) struct SafeDir {
    /// The open directory; every use of it goes through this descriptor.
    fd: OwnedFd,
    /// The directory's absolute path, for messages.
    pub(crate) path: PathBuf,
}
