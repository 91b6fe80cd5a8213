//! Placing the files: which processes' files would change, each file written beside
//! the old one and renamed over it, and the old ones put back when the switch fails.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::remove::remove_file;
use super::{Contents, SecretError, Wanted};
use crate::deploy::accounts;
use crate::deploy::safe_dir::{Ownership, SafeDir, SafeDirError};

/// The uid, gid and mode the file of `w` gets; `None` when its owner or group does not
/// exist yet (the switch creates it).
fn file_owner(w: &Wanted) -> Option<Ownership> {
    let (uid, primary) = match &w.secret.owner {
        Some(owner) => accounts::user_ids(owner)?,
        // SAFETY: geteuid and getegid have no preconditions.
        None => unsafe { (libc::geteuid(), libc::getegid()) },
    };
    let gid = match &w.secret.group {
        Some(group) => accounts::group_id(group)?,
        None => primary,
    };
    let mode = u32::from_str_radix(&w.secret.mode, 8).unwrap_or(0o400) & 0o770;
    Some(Ownership { uid, gid, mode })
}

/// The directory of `w`'s file and the file's name.
fn split(w: &Wanted) -> (PathBuf, &str) {
    let path = Path::new(&w.secret.path);
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    (dir, w.secret.name.as_str())
}

/// The file of `w` as it is now, with its ownership; `None` when it (or its directory)
/// is missing or cannot be read safely.
fn current(w: &Wanted) -> Option<(Vec<u8>, Ownership)> {
    let (dir, name) = split(w);
    let dir = SafeDir::open(&dir, false).ok()??;
    dir.read_with_owner(name).ok()?
}

/// The processes whose secret files would change (or be created): they restart even
/// when their script stays the same.
pub fn needing_restart(wanted: &[Wanted]) -> BTreeSet<String> {
    wanted
        .iter()
        .filter(|w| {
            let Some(contents) = &w.contents else {
                return false;
            };
            match (current(w), file_owner(w)) {
                (Some((bytes, now)), Some(owner)) => {
                    let same = bytes == contents.bytes() && now == owner;
                    let mut bytes = bytes;
                    bytes.iter_mut().for_each(|b| *b = 0);
                    !same
                }
                _ => true,
            }
        })
        .map(|w| w.process.clone())
        .collect()
}

/// A secret file [`place`] wrote: its directory, its name, and what it held before
/// (`None`: it did not exist).
type Overwritten = (PathBuf, String, Option<(Contents, Ownership)>);

/// What [`place`] changed, to put back when the switch fails.
#[derive(Debug, Default)]
pub struct Placed {
    /// Each file written, in order.
    previous: Vec<Overwritten>,
}

/// The secrets' directory of a process under `dir`'s parent: made when missing, mode
/// 0711, the caller's; its parent `nixproc-sysvinit-secrets` mode 0755.
fn process_dir(dir: &Path) -> Result<SafeDir, SafeDirError> {
    // SAFETY: geteuid and getegid have no preconditions.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if let Some(top) = dir.parent() {
        SafeDir::create(top)?.set_owner_and_mode(uid, gid, 0o755)?;
    }
    let own = SafeDir::create(dir)?;
    own.set_owner_and_mode(uid, gid, 0o711)?;
    Ok(own)
}

/// Writes every wanted secret that has contents and differs from its file, with its
/// owner and mode (owners exist by now: the switch made the profile's accounts). On an
/// error the files already written are put back before it returns.
pub fn place(wanted: &[Wanted]) -> Result<Placed, SecretError> {
    let mut placed = Placed::default();
    for w in wanted {
        let Some(contents) = &w.contents else {
            continue;
        };
        if let Err(error) = place_one(w, contents, &mut placed) {
            placed.restore();
            return Err(error);
        }
    }
    Ok(placed)
}

/// Writes the file of `w` unless it already holds `contents` with its owner and mode.
fn place_one(w: &Wanted, contents: &Contents, placed: &mut Placed) -> Result<(), SecretError> {
    let file_error = |error| SecretError::File {
        process: w.process.clone(),
        name: w.secret.name.clone(),
        error,
    };
    let owner = file_owner(w).ok_or_else(|| SecretError::Account {
        process: w.process.clone(),
        name: w.secret.name.clone(),
        kind: "owner or group",
        account: format!(
            "{}:{}",
            w.secret.owner.as_deref().unwrap_or("-"),
            w.secret.group.as_deref().unwrap_or("-")
        ),
    })?;
    let (dir_path, name) = split(w);
    let dir = process_dir(&dir_path).map_err(file_error)?;
    let before = dir.read_with_owner(name).map_err(file_error)?;
    if let Some((bytes, now)) = &before {
        if bytes == contents.bytes() && *now == owner {
            return Ok(());
        }
    }
    dir.replace_owned(name, contents.bytes(), owner)
        .map_err(file_error)?;
    let before = before.map(|(bytes, now)| (Contents::new(bytes), now));
    placed.previous.push((dir_path, name.to_string(), before));
    Ok(())
}

impl Placed {
    /// Puts back what the files held before [`place`] (removing those it created);
    /// returns a warning for each that could not be.
    pub fn restore(self) -> Vec<String> {
        let mut warnings = Vec::new();
        for (dir_path, name, before) in self.previous.into_iter().rev() {
            let result = SafeDir::open(&dir_path, false).and_then(|dir| {
                let Some(dir) = dir else { return Ok(()) };
                match &before {
                    Some((contents, owner)) => dir.replace_owned(&name, contents.bytes(), *owner),
                    None => remove_file(&dir, &name),
                }
            });
            if let Err(e) = result {
                warnings.push(format!(
                    "secret {}/{name} not put back: {e}",
                    dir_path.display()
                ));
            }
        }
        warnings
    }
}
