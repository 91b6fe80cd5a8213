//! Removing secret files: those no process of the new profile declares, and one file
//! by name (also what puts back a file that a failed switch created).

use std::collections::BTreeSet;
use std::ffi::CString;
use std::path::Path;

use super::declared;
use super::gather::check_path;
use crate::deploy::profile::Profile;
use crate::deploy::safe_dir::{SafeDir, SafeDirError};

/// Removes file `name` of `dir`; a missing one is no error.
pub(super) fn remove_file(dir: &SafeDir, name: &str) -> Result<(), SafeDirError> {
    let cname = CString::new(name).map_err(|_| {
        SafeDirError::io(
            "removing",
            dir.path.join(name),
            std::io::ErrorKind::InvalidInput.into(),
        )
    })?;
    match dir.remove(&cname, false) {
        Err(e) if e.raw_os_error() != Some(libc::ENOENT) => {
            Err(SafeDirError::io("removing", dir.path.join(name), e))
        }
        _ => Ok(()),
    }
}

/// Removes the files of the secrets `old` declares and `new` does not (an undeploy
/// removes them all), and the directories of processes left without any; returns a
/// warning for each that could not be removed (nothing fails the switch now).
pub fn remove_obsolete(old: &Profile, new: &Profile) -> Vec<String> {
    let keep: BTreeSet<&str> = declared(new).map(|(_, s)| s.path.as_str()).collect();
    let mut warnings = Vec::new();
    let mut dirs = BTreeSet::new();
    for (process, secret) in declared(old) {
        if keep.contains(secret.path.as_str()) || check_path(process, secret).is_err() {
            continue;
        }
        let path = Path::new(&secret.path);
        let Some(dir_path) = path.parent() else {
            continue;
        };
        let result = match SafeDir::open(dir_path, false) {
            Ok(Some(dir)) => remove_file(&dir, &secret.name),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                dirs.insert(dir_path.to_path_buf());
            }
            Err(e) => warnings.push(format!(
                "process '{process}': secret '{}' not removed: {e}",
                secret.name
            )),
        }
    }
    for dir in dirs {
        // Only an empty directory goes; one another profile still uses stays.
        let _ = std::fs::remove_dir(&dir);
    }
    warnings
}
