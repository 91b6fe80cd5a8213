//! [`AccountError`]: what went wrong with the accounts of a profile, each variant saying
//! which file, account or command.

use std::path::PathBuf;

use crate::deploy::describe_io;
use crate::deploy::safe_dir::SafeDirError;
use crate::spec::PRIVILEGED_GROUPS;
use crate::tree::credentials::ALLOW_PRIVILEGED_KEY;

/// Errors of creating, recording and deleting accounts. OS errors and the errors of the
/// registry's directory are part of the message, not a `source`, so that an error chain
/// printed with `{:#}` shows them once.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// A file (a credential file, the registry's lock) could not be read or used.
    #[error("{action} {}: {}", path.display(), describe_io(error, path))]
    Io {
        /// What was being done, e.g. "reading".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A credential file could not be parsed.
    #[error("credential file {}, line {line}: {message}", path.display())]
    Credentials {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A credential file would make its account privileged without the opt-in line.
    #[error(
        "profile {}: {}{what}; if that is intended, add the line {ALLOW_PRIVILEGED_KEY}=1 to the file (the renderer writes it for a process with `{ALLOW_PRIVILEGED_KEY} = true`); privileged groups: {}",
        path.display(),
        key.map(|k| format!("`{k}` ")).unwrap_or_default(),
        PRIVILEGED_GROUPS.join(" ")
    )]
    Privileged {
        /// The credential file.
        path: PathBuf,
        /// The key that makes it privileged, if one does (a group's name can, too).
        key: Option<&'static str>,
        /// What it would do, e.g. "puts user 'svc' in the privileged group 'sudo'".
        what: String,
    },
    /// An account tool (`useradd`, `groupdel`...) failed or could not be started.
    #[error("command `{command}` failed: {message}")]
    Tool {
        /// The command line.
        command: String,
        /// Its exit status and stderr, or why it did not start.
        message: String,
    },
    /// An account tool found the account database locked by another program, again and
    /// again.
    #[error("command `{command}` failed: the account database stayed locked by another program: {message}")]
    DatabaseLocked {
        /// The command line.
        command: String,
        /// The tool's last exit status and stderr.
        message: String,
    },
    /// The registry's directory, or a file in it, is not one to trust or could not be
    /// used.
    #[error("account registry: {0}")]
    Registry(SafeDirError),
    /// A file of the registry is not what this tool writes.
    #[error("account registry {}: {message}; repair the file or remove it ({consequence})", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the parser says.
        message: String,
        /// What removing it would mean.
        consequence: &'static str,
    },
}

impl From<SafeDirError> for AccountError {
    fn from(e: SafeDirError) -> Self {
        AccountError::Registry(e)
    }
}

impl AccountError {
    /// Wraps an I/O error with the action and the path it concerned.
    pub(super) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        error: std::io::Error,
    ) -> Self {
        AccountError::Io {
            action,
            path: path.into(),
            error,
        }
    }

    /// Whether this is a write that failed because the disk is full (or over quota).
    pub fn is_disk_full(&self) -> bool {
        match self {
            AccountError::Io { error, .. } => crate::deploy::is_disk_full(error),
            AccountError::Registry(e) => e.is_disk_full(),
            _ => false,
        }
    }
}
