//! Nothing left for a recycled uid: what the switch made for a user it later deletes is
//! removed or handed to root.
//!
//! When the switch claims a user, it records in the user's registry entry the paths it
//! makes for it ([`AccountPaths`]): for each process of the profile running as the user
//! (its manifest's `pidFile` and `logFile`), the PID file, the supervisor's files next
//! to it (`STEM.clientpid`, `STEM.state`), the PID file's directory when it is the
//! per-user one (named like the PID file's stem), the log file's directory likewise,
//! and the home directory when the credentials ask to create one. Once `userdel`
//! deleted the user (perhaps in a later switch of another profile), [`release`] acts on
//! what of those the deleted uid still owns, never following a symbolic link: PID
//! files and run directories are removed; log directories and homes are kept, handed
//! to root (owner root:root recursively, the directory itself mode 0700) with a marker
//! file [`RELEASED_MARKER`] (root's, mode 0600, the account's name and a newline), from
//! which the init-functions hand the directory to the service's new account.
//! Anything else (another account's file inside, a directory others can write on the
//! way) is left as it is, with a warning; nothing here fails a switch.

use std::collections::BTreeSet;
use std::ffi::CStr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::deploy::profile::Profile;
use crate::deploy::safe_dir::{SafeDir, SafeDirError};
use crate::tree::layout;
use crate::tree::Manifest;

/// The marker file put in a directory handed to root: its content names the account.
pub const RELEASED_MARKER: &str = ".nixproc-sysvinit-released";

/// How deep [`release`] goes into a directory; deeper entries are left as they are.
const MAX_DEPTH: usize = 64;

/// The paths the switch made for a user, recorded with its registry entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct AccountPaths {
    /// Removed when the user is deleted: PID files, the supervisor's files, run
    /// directories.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub(super) remove: BTreeSet<PathBuf>,
    /// Handed to root when the user is deleted: log directories, the home directory.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub(super) release: BTreeSet<PathBuf>,
}

impl AccountPaths {
    /// Whether no path is recorded.
    pub(super) fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.release.is_empty()
    }

    /// Adds the paths of `other`; whether any was new.
    pub(super) fn extend(&mut self, other: AccountPaths) -> bool {
        let before = (self.remove.len(), self.release.len());
        self.remove.extend(other.remove);
        self.release.extend(other.release);
        before != (self.remove.len(), self.release.len())
    }

    /// The paths the processes of `profile` that run as `user` have (see the module
    /// documentation), and `home` when the user's home directory was asked for.
    pub(super) fn of_user(profile: &Profile, user: &str, home: Option<PathBuf>) -> AccountPaths {
        let mut paths = AccountPaths::default();
        let processes = profile.processes.values();
        for p in processes.filter(|p| p.user.as_deref() == Some(user)) {
            let Some(manifest) = runtime_files(profile, &p.name) else {
                continue;
            };
            if let Some(pid_file) = manifest.pid_file.as_deref().map(Path::new) {
                paths.add_pid_file(pid_file);
            }
            if let Some(dir) = manifest
                .log_file
                .as_deref()
                .map(Path::new)
                .and_then(own_dir)
            {
                paths.release.insert(dir.to_path_buf());
            }
        }
        paths.release.extend(home.filter(|h| h.is_absolute()));
        paths
    }

    /// Adds the PID file `pid_file`, the supervisor's files next to it, and its
    /// directory when that is the process's own.
    fn add_pid_file(&mut self, pid_file: &Path) {
        if !pid_file.is_absolute() {
            return;
        }
        self.remove.insert(pid_file.to_path_buf());
        let (Some(dir), Some(stem)) = (pid_file.parent(), pid_file.file_stem()) else {
            return;
        };
        let stem = stem.to_string_lossy();
        for extension in ["clientpid", "state"] {
            self.remove.insert(dir.join(format!("{stem}.{extension}")));
        }
        if let Some(own) = own_dir(pid_file) {
            self.remove.insert(own.to_path_buf());
        }
    }
}

/// The manifest of process `name` of `profile` (its `pidFile` and `logFile` matter
/// here), if it has one that reads; the profile's reading checked it already.
fn runtime_files(profile: &Profile, name: &str) -> Option<Manifest> {
    let path = profile.root.as_ref()?.join(layout::manifest_path(name));
    let text = std::fs::read_to_string(path).ok()?;
    Manifest::from_json(&text).ok()
}

/// The directory of `file` when it is named like the file's stem (`DIR/STEM/STEM.pid`:
/// the per-user directory of a process with `user`).
fn own_dir(file: &Path) -> Option<&Path> {
    let dir = file.parent()?;
    (file.is_absolute() && dir.file_name()? == file.file_stem()?).then_some(dir)
}

/// Acts on what `paths` names that `uid` owns now: the user `name` with that uid was
/// just deleted (see the module documentation). Problems are warnings on stderr.
pub(super) fn release(name: &str, uid: u32, paths: &AccountPaths) {
    if uid == 0 {
        return;
    }
    let warn = |path: &Path, what: &str, e: SafeDirError| {
        eprintln!(
            "warning: {} of the deleted user '{name}' was not {what}: {e}",
            path.display()
        );
    };
    for path in &paths.remove {
        if let Err(e) = remove_owned(path, uid, name) {
            warn(path, "removed", e);
        }
    }
    for path in &paths.release {
        if let Err(e) = release_owned(path, uid, name) {
            warn(path, "handed to root", e);
        }
    }
}

/// Removes `path` (a directory with what `uid` owns in it) when `uid` owns it. A
/// directory that still holds entries of others afterwards is handed to root instead.
fn remove_owned(path: &Path, uid: u32, name: &str) -> Result<(), SafeDirError> {
    let Some((parent, leaf)) = SafeDir::open_parent(path, uid)? else {
        return Ok(());
    };
    let Some(st) = parent.lstat(&leaf)? else {
        return Ok(());
    };
    if st.st_uid != uid {
        return Ok(());
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return remove_entry(&parent, &leaf, false);
    }
    let dir = parent.open_dir(&leaf, uid)?;
    remove_contents(&dir, uid, 0)?;
    match parent.remove(&leaf, true) {
        Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => {
            eprintln!(
                "warning: {} of the deleted user '{name}' holds files of other accounts: handed to root instead of removed",
                path.display()
            );
            hand_to_root(&dir, uid, name)
        }
        other => other.map_err(|e| SafeDirError::io("removing", path, e)),
    }
}

/// Removes the entry `leaf` of `dir` (a directory when `is_dir`); one gone meanwhile is
/// fine.
fn remove_entry(dir: &SafeDir, leaf: &CStr, is_dir: bool) -> Result<(), SafeDirError> {
    match dir.remove(leaf, is_dir) {
        Err(e) if e.raw_os_error() != Some(libc::ENOENT) => {
            Err(SafeDirError::io("removing", dir.path_of(leaf), e))
        }
        _ => Ok(()),
    }
}

/// Removes what `uid` owns in `dir`, subdirectories first emptied (up to
/// [`MAX_DEPTH`]); entries of others stay.
fn remove_contents(dir: &SafeDir, uid: u32, depth: usize) -> Result<(), SafeDirError> {
    for entry in dir.names()? {
        let Some(st) = dir.lstat(&entry)? else {
            continue;
        };
        if st.st_uid != uid {
            continue;
        }
        let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        if is_dir && depth < MAX_DEPTH {
            remove_contents(&dir.open_dir(&entry, uid)?, uid, depth + 1)?;
        }
        // A directory still holding entries of others stays (the parent too, then).
        match dir.remove(&entry, is_dir) {
            Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => {}
            other => other.map_err(|e| SafeDirError::io("removing", dir.path_of(&entry), e))?,
        }
    }
    Ok(())
}

/// Hands the directory `path` to root when `uid` owns it (see [`hand_to_root`]).
fn release_owned(path: &Path, uid: u32, name: &str) -> Result<(), SafeDirError> {
    let Some((parent, leaf)) = SafeDir::open_parent(path, uid)? else {
        return Ok(());
    };
    let Some(st) = parent.lstat(&leaf)? else {
        return Ok(());
    };
    if st.st_uid != uid || st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Ok(());
    }
    hand_to_root(&parent.open_dir(&leaf, uid)?, uid, name)
}

/// Makes `dir` (of `uid`) root's with mode 0700 first, so that nobody else can change
/// it any more, then gives root what `uid` owns in it and puts the marker naming
/// account `name` in it.
fn hand_to_root(dir: &SafeDir, uid: u32, name: &str) -> Result<(), SafeDirError> {
    dir.set_owner_and_mode(0, 0, 0o700)?;
    chown_contents(dir, uid, 0)?;
    let marker = marker_name();
    if let Some(st) = dir.lstat(&marker)? {
        if st.st_uid != 0 {
            return Err(SafeDirError::NotOwnFile {
                path: dir.path_of(&marker),
                uid: 0,
            });
        }
        remove_entry(dir, &marker, st.st_mode & libc::S_IFMT == libc::S_IFDIR)?;
    }
    dir.write_new(RELEASED_MARKER, &format!("{name}\n"))
}

/// Gives root (root:root) every entry of `dir` that `uid` owns, the entries of its
/// subdirectories too (up to [`MAX_DEPTH`]); symbolic links are changed themselves.
fn chown_contents(dir: &SafeDir, uid: u32, depth: usize) -> Result<(), SafeDirError> {
    for entry in dir.names()? {
        let Some(st) = dir.lstat(&entry)? else {
            continue;
        };
        if st.st_uid != uid {
            continue;
        }
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR && depth < MAX_DEPTH {
            chown_contents(&dir.open_dir(&entry, uid)?, uid, depth + 1)?;
        }
        dir.lchown(&entry, 0, 0)?;
    }
    Ok(())
}

/// Hands the home directory `home` of the user `name`, just made again (with `uid` and
/// primary group `gid`), back to it when it is a directory handed to root for an
/// account of that name (its marker says so): the directory, and what root owns in it
/// (but files with other hard links), become the user's; the marker goes. Problems are
/// warnings on stderr.
pub(super) fn adopt_home(name: &str, home: &Path, uid: u32, gid: u32) {
    if let Err(e) = adopt(name, home, uid, gid) {
        eprintln!(
            "warning: the home directory {} of user '{name}' was not handed back to it: {e}",
            home.display()
        );
    }
}

/// The work of [`adopt_home`].
fn adopt(name: &str, home: &Path, uid: u32, gid: u32) -> Result<(), SafeDirError> {
    let Some((parent, leaf)) = SafeDir::open_parent(home, 0)? else {
        return Ok(());
    };
    match parent.lstat(&leaf)? {
        Some(st) if st.st_uid == 0 && st.st_mode & libc::S_IFMT == libc::S_IFDIR => {}
        _ => return Ok(()),
    }
    let dir = parent.open_dir(&leaf, 0)?;
    if dir.read(RELEASED_MARKER)?.as_deref() != Some(&format!("{name}\n")) {
        return Ok(());
    }
    give_contents(&dir, uid, gid, 0)?;
    dir.set_owner_and_mode(uid, gid, 0o700)?;
    remove_entry(&dir, &marker_name(), false)
}

/// Gives `uid`:`gid` every entry of `dir` that root owns (but regular files with other
/// hard links, which may be files elsewhere), those of its subdirectories too (up to
/// [`MAX_DEPTH`]); symbolic links are changed themselves.
fn give_contents(dir: &SafeDir, uid: u32, gid: u32, depth: usize) -> Result<(), SafeDirError> {
    let marker = marker_name();
    for entry in dir.names()? {
        let Some(st) = dir.lstat(&entry)? else {
            continue;
        };
        let kind = st.st_mode & libc::S_IFMT;
        let linked = kind == libc::S_IFREG && st.st_nlink > 1;
        if st.st_uid != 0 || linked || entry == marker {
            continue;
        }
        if kind == libc::S_IFDIR && depth < MAX_DEPTH {
            give_contents(&dir.open_dir(&entry, 0)?, uid, gid, depth + 1)?;
        }
        dir.lchown(&entry, uid, gid)?;
    }
    Ok(())
}

/// [`RELEASED_MARKER`] as a C string.
fn marker_name() -> std::ffi::CString {
    std::ffi::CString::new(RELEASED_MARKER).expect("the marker name has no NUL")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::profile::Process;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    /// A profile in `root` whose processes (name, user, PID file, log file) are given,
    /// their manifests written.
    fn profile(root: &Path, processes: &[(&str, &str, Option<&str>, Option<&str>)]) -> Profile {
        let mut profile = Profile {
            root: Some(root.to_path_buf()),
            ..Profile::default()
        };
        std::fs::create_dir_all(root.join(layout::MANIFEST_DIR)).unwrap();
        for (name, user, pid_file, log_file) in processes {
            let manifest = Manifest {
                name: name.to_string(),
                user: Some(user.to_string()),
                pid_file: pid_file.map(str::to_string),
                log_file: log_file.map(str::to_string),
                ..Manifest::default()
            };
            std::fs::write(root.join(layout::manifest_path(name)), manifest.to_json()).unwrap();
            profile.processes.insert(
                name.to_string(),
                Process {
                    name: name.to_string(),
                    user: Some(user.to_string()),
                    ..Default::default()
                },
            );
        }
        profile
    }

    #[test]
    fn the_paths_of_a_user_are_its_processes_files_and_home() {
        let tmp = tempfile::tempdir().unwrap();
        let p = profile(
            tmp.path(),
            &[
                (
                    "web",
                    "svc",
                    Some("/run/web/web.pid"),
                    Some("/var/log/web/web.log"),
                ),
                ("db", "svc", Some("/run/db.pid"), Some("/var/log/db.log")),
                ("other", "x", Some("/run/other/other.pid"), None),
                ("relative", "svc", Some("run/rel/rel.pid"), None),
            ],
        );
        let paths = AccountPaths::of_user(&p, "svc", Some("/home/svc".into()));
        let set = |items: &[&str]| items.iter().map(PathBuf::from).collect::<BTreeSet<_>>();
        assert_eq!(
            paths.remove,
            set(&[
                "/run/db.clientpid",
                "/run/db.pid",
                "/run/db.state",
                "/run/web",
                "/run/web/web.clientpid",
                "/run/web/web.pid",
                "/run/web/web.state",
            ])
        );
        assert_eq!(paths.release, set(&["/home/svc", "/var/log/web"]));
        let mut all = AccountPaths::default();
        assert!(all.extend(paths.clone()));
        assert!(!all.extend(paths));
        let text = serde_json::to_string(&AccountPaths::default()).unwrap();
        assert_eq!(text, "{}");
    }

    /// Whether `path` is owned by `uid` (without following a link).
    fn owned_by(path: &Path, uid: u32) -> bool {
        std::fs::symlink_metadata(path).unwrap().uid() == uid
    }

    #[test]
    fn what_the_deleted_uid_owns_is_removed_or_handed_to_root_and_nothing_else() {
        if crate::deploy::safe_dir::euid() != 0 {
            return; // changing owners needs root
        }
        let uid = 4_000_000_321; // no account has it
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let chown = |p: &Path, u: u32| std::os::unix::fs::lchown(p, Some(u), Some(u)).unwrap();
        let outside = root.join("outside");
        std::fs::write(&outside, "root's").unwrap();
        let run = root.join("run/web");
        let log = root.join("log/web");
        for d in [&run, &log, &log.join("old")] {
            std::fs::create_dir_all(d).unwrap();
        }
        for (file, text) in [
            (run.join("web.pid"), "1"),
            (log.join("web.log"), "x"),
            (log.join("old/1.log"), "y"),
        ] {
            std::fs::write(&file, text).unwrap();
            chown(&file, uid);
        }
        // Links the service could have planted: never followed.
        symlink(&outside, log.join("evil")).unwrap();
        chown(&log.join("evil"), uid);
        symlink(&outside, run.join("evil")).unwrap();
        chown(&run.join("evil"), uid);
        for d in [&run, &log, &log.join("old")] {
            chown(d, uid);
        }
        let not_ours = root.join("run/other.pid");
        std::fs::write(&not_ours, "2").unwrap();
        let paths = AccountPaths {
            remove: [run.join("web.pid"), run.clone(), not_ours.clone()].into(),
            release: [log.clone(), root.join("missing/home")].into(),
        };
        release("svc", uid, &paths);
        assert!(!run.exists() && std::fs::symlink_metadata(&run).is_err());
        assert!(not_ours.exists(), "a file the uid does not own was removed");
        let meta = std::fs::metadata(&log).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (0, 0));
        assert_eq!(meta.permissions().mode() & 0o7777, 0o700);
        for p in [log.join("web.log"), log.join("old/1.log"), log.join("evil")] {
            assert!(owned_by(&p, 0), "{} not root's", p.display());
        }
        assert!(owned_by(&outside, 0));
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "root's");
        let marker = log.join(RELEASED_MARKER);
        assert_eq!(std::fs::read_to_string(&marker).unwrap(), "svc\n");
        let meta = std::fs::symlink_metadata(&marker).unwrap();
        assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o600));
        // Released again (a later deletion of a new account of that name): the marker
        // is replaced.
        chown(&log, uid);
        release("svc2", uid, &paths);
        assert_eq!(std::fs::read_to_string(&marker).unwrap(), "svc2\n");
    }

    #[test]
    fn a_released_home_is_handed_back_to_a_new_account_of_its_name_only() {
        if crate::deploy::safe_dir::euid() != 0 {
            return;
        }
        let (old, new) = (4_000_000_323, 4_000_000_324);
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        std::fs::create_dir_all(home.join("sub")).unwrap();
        std::fs::write(home.join("sub/notes"), "n").unwrap();
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::write(&elsewhere, "root's").unwrap();
        std::fs::hard_link(&elsewhere, home.join("linked")).unwrap();
        for p in [home.join("sub/notes"), home.join("sub"), home.clone()] {
            std::os::unix::fs::lchown(&p, Some(old), Some(old)).unwrap();
        }
        let paths = AccountPaths {
            remove: BTreeSet::new(),
            release: [home.clone()].into(),
        };
        release("svc", old, &paths);
        assert!(owned_by(&home.join("sub/notes"), 0));
        adopt_home("other", &home, new, new);
        assert!(owned_by(&home, 0), "handed to an account of another name");
        adopt_home("svc", &home, new, new);
        let meta = std::fs::metadata(&home).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (new, new, 0o700)
        );
        assert!(owned_by(&home.join("sub/notes"), new) && owned_by(&home.join("sub"), new));
        assert!(
            owned_by(&elsewhere, 0),
            "a hard-linked file was handed over"
        );
        assert!(!home.join(RELEASED_MARKER).exists());
    }

    #[test]
    fn a_run_directory_with_files_of_others_is_handed_to_root() {
        if crate::deploy::safe_dir::euid() != 0 {
            return;
        }
        let uid = 4_000_000_322;
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("web");
        std::fs::create_dir(&run).unwrap();
        std::fs::write(run.join("web.pid"), "1").unwrap();
        std::os::unix::fs::lchown(run.join("web.pid"), Some(uid), Some(uid)).unwrap();
        std::fs::write(run.join("root.txt"), "root's").unwrap();
        std::os::unix::fs::lchown(&run, Some(uid), Some(uid)).unwrap();
        let paths = AccountPaths {
            remove: [run.clone()].into(),
            release: BTreeSet::new(),
        };
        release("svc", uid, &paths);
        assert!(!run.join("web.pid").exists());
        assert!(run.join("root.txt").exists());
        assert!(owned_by(&run, 0));
        assert!(run.join(RELEASED_MARKER).exists());
    }
}
