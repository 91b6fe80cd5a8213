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
        /// Its exit code, if it exited (useradd and groupadd exit with 4 for an id
        /// another account has).
        code: Option<i32>,
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
    /// An id a credential file gives is not a number.
    #[error("profile {}: `{key}` of {kind} '{account}' is '{value}', not a number", file.display())]
    BadId {
        /// The credential file.
        file: PathBuf,
        /// The kind of account ("user", "group").
        kind: &'static str,
        /// "uid" or "gid".
        key: &'static str,
        /// The account.
        account: String,
        /// What the file says.
        value: String,
    },
    /// An id a credential file gives belongs to another account, is given to another
    /// account of the profile too, or is recorded for another name.
    #[error("{0}")]
    IdConflict(Box<IdConflict>),
    /// A user without `group` is to get a group of its own, but a group of its name
    /// exists that this tool did not make for it.
    #[error("cannot give user '{user}' a group of its own: group '{user}' (gid {gid}) exists already and this tool did not make it; name the group in the user's `group` to use it")]
    OwnGroupExists {
        /// The user.
        user: String,
        /// The existing group's gid.
        gid: u32,
    },
    /// No id of the system range is free for an account to create.
    #[error("no {key} left for {kind} '{name}' in {min}..{max} (the system range of /etc/login.defs): each belongs to an account, is used by a running process or is recorded for a name (in uid-map, gid-map or NixOS's maps); give the account a {key} in its credentials")]
    NoFreeId {
        /// The kind of account ("user", "group").
        kind: &'static str,
        /// "uid" or "gid".
        key: &'static str,
        /// The account to create.
        name: String,
        /// The lowest id of the range.
        min: u32,
        /// The highest id of the range.
        max: u32,
    },
    /// Other programs took every id chosen for an account, one after the other.
    #[error("{kind} '{name}' was not created: another program took the id chosen for it {races} times in a row, at the same instant; run the switch again")]
    IdRace {
        /// The kind of account ("user", "group").
        kind: &'static str,
        /// The account.
        name: String,
        /// How often.
        races: u32,
    },
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

/// Where another account holds an id (see [`AccountError::IdConflict`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdHolder {
    /// An account of the machine has it.
    Account,
    /// Another credential file of the profile gives it (this file).
    Profile(PathBuf),
    /// The record of the ids this tool gave holds it for another name (this map file).
    Record(PathBuf),
}

/// An id a credential file gives that another account holds (see
/// [`AccountError::IdConflict`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdConflict {
    /// The credential file.
    pub file: PathBuf,
    /// The kind of account ("user", "group").
    pub kind: &'static str,
    /// "uid" or "gid".
    pub key: &'static str,
    /// The id.
    pub id: u32,
    /// The account the file would create.
    pub account: String,
    /// The processes of the profile that run as it.
    pub processes: Vec<String>,
    /// The account that holds the id.
    pub other: String,
    /// Where `other` holds it.
    pub holder: IdHolder,
}

impl std::fmt::Display for IdConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let IdConflict {
            file,
            kind,
            key,
            id,
            account,
            processes,
            other,
            holder,
        } = self;
        write!(
            f,
            "profile {}: `{key}` {id} of {kind} '{account}'",
            file.display()
        )?;
        match processes.as_slice() {
            [] => {}
            [one] => write!(f, " (the account of process `{one}`)")?,
            many => write!(f, " (the account of processes `{}`)", many.join("`, `"))?,
        }
        match holder {
            IdHolder::Account => write!(f, " belongs to {kind} '{other}' already")?,
            IdHolder::Profile(by) => {
                write!(f, " is given to {kind} '{other}' by {} too", by.display())?
            }
            IdHolder::Record(map) => write!(
                f,
                " is recorded for {kind} '{other}' in {}, and this tool never gives an id it recorded for one name to another (remove '{other}' from that file if it is gone for good)",
                map.display()
            )?,
        }
        write!(
            f,
            "; give '{account}' another {key}, or none to have one chosen"
        )
    }
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
