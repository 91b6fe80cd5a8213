//! Finding the logs: which files are each process's, as its manifest names them, and
//! whose they may be.

use std::io;
use std::path::PathBuf;

use super::LogsError;
use crate::deploy::profile::Profile;
use crate::error::suggestion_suffix;
use crate::tree::{layout, Manifest};

/// The log files of one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSource {
    /// The process.
    pub name: String,
    /// Its current log files (each may have rotated siblings `FILE.1` ...).
    pub files: Vec<PathBuf>,
    /// The uid of the process's user, when it has one that exists.
    pub uid: Option<u32>,
}

/// The log sources of the processes `names` of `profile` (all of them, in start order,
/// when `names` is empty; those without a log file are then left out). An unknown name is
/// an error with a suggestion.
pub fn sources(profile: &Profile, names: &[String]) -> Result<Vec<LogSource>, LogsError> {
    let order = profile
        .start_order()
        .unwrap_or_else(|_| profile.processes.keys().cloned().collect());
    let known: Vec<&str> = order.iter().map(String::as_str).collect();
    for name in names {
        if !profile.processes.contains_key(name) {
            return Err(LogsError::UnknownProcess {
                name: name.clone(),
                suggestion: suggestion_suffix(name, &known),
                known: known.join(", "),
            });
        }
    }
    let wanted: Vec<&String> = if names.is_empty() {
        order.iter().collect()
    } else {
        names.iter().collect()
    };
    let mut out = Vec::new();
    for name in wanted {
        let manifest = manifest_of(profile, name)?;
        let mut files: Vec<PathBuf> = manifest.log_file.iter().map(PathBuf::from).collect();
        files.extend(manifest.log_files.iter().map(PathBuf::from));
        if files.is_empty() {
            if names.is_empty() {
                continue;
            }
            return Err(LogsError::NoLogFile(name.clone()));
        }
        let user = manifest
            .user
            .as_deref()
            .or(profile.processes[name].user.as_deref());
        out.push(LogSource {
            name: name.clone(),
            files,
            uid: user.and_then(uid_of_user),
        });
    }
    Ok(out)
}

/// The manifest of process `name` (an empty one for a profile without manifests).
fn manifest_of(profile: &Profile, name: &str) -> Result<Manifest, LogsError> {
    let Some(root) = &profile.root else {
        return Ok(Manifest::default());
    };
    let path = root.join(layout::manifest_path(name));
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Manifest::default()),
        Err(e) => {
            return Err(LogsError::Manifest {
                name: name.into(),
                why: format!("{}: {e}", path.display()),
            })
        }
    };
    Manifest::from_json(&text).map_err(|e| LogsError::Manifest {
        name: name.into(),
        why: format!("{} {e}", path.display()),
    })
}

/// The uid of account `user`, if it exists.
fn uid_of_user(user: &str) -> Option<u32> {
    let name = std::ffi::CString::new(user).ok()?;
    // SAFETY: getpwnam reads the account database; the uid is copied out at once and
    // this tool calls it from one thread only.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    // SAFETY: a non-null entry points to a valid passwd record.
    (!entry.is_null()).then(|| unsafe { (*entry).pw_uid })
}
