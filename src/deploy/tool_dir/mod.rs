//! The tool's own directory of a profile. Everything the tools keep for the profile link
//! `DIR/NAME` lives next to it, in `DIR/.NAME.nixproc-sysvinit/`: the `lock`, the
//! `journal.jsonl` of a switch, the scripts' `logs/`, the garbage-collector root `result`
//! of the last build and the roots in `hosts/` of what went to other machines. It is
//! found from the link alone, so every tool acting on one profile takes the same lock,
//! whatever its `--state-dir` or `--lib-dir` say.
//!
//! `DIR` is the canonical path of the link's parent (symbolic links in it resolved, the
//! profile link itself not followed). Root acts only on what others cannot steer: `DIR`
//! must belong to root or to the caller (for root: to root) and be writable by nobody
//! else, and the tool directory must be a directory (not a link) of the same kind. Both
//! are checked before anything else happens; the lock and the journal in it are opened
//! without following links ([`super::transaction::journal`]).
//!
//! Earlier versions kept this state in `LIBDIR/nixproc-sysvinit/NAME/`. [`open`] moves it
//! here, holding the old lock and then the new one: the journal of an interrupted switch
//! (the next switch recovers it as before), the logs, and the roots `result` and
//! `hosts/*`, each registered again at its new place (`nix-store --add-root`) before the
//! old link goes, so the garbage collector always sees one of them. The old layout was
//! keyed by the link's name alone, so an old directory is taken for this link when its
//! journal names this link or, without a journal, when the options named its state
//! directory or this link is where the tools put a profile of that name by default.
//! What cannot move (the new directory has it already) stays, with a file `MOVED`
//! naming the new directory; an old directory left empty is removed.
//!
//! For users other than root, the account registry moves too: from
//! `LIBDIR/nixproc-sysvinit/` to [`accounts_dir`] ([`move_account_registries`]).

mod migrate;
mod registry;

pub use registry::{accounts_dir, move_account_registries, user_state_dir};

use std::ffi::{CStr, OsStr, OsString};
use std::fs::{self, File};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::model::nix::{nix_command, NixOptions};
use super::profile::generations;
use super::transaction::journal::{Lock, Wait, LOCK_FILE};
use super::{default_state_dir, run_capture, DeployError, Result};

/// What the tool directory's name ends with: `.NAME.nixproc-sysvinit`.
pub const TOOL_DIR_SUFFIX: &str = "nixproc-sysvinit";

/// The file left in an old state directory whose state moved, naming the new place.
pub const MOVED_FILE: &str = "MOVED";

/// The garbage-collector root of the last profile built from a model.
pub const RESULT_LINK: &str = "result";

/// The directory of the roots of what went to other machines.
pub const HOSTS_DIR: &str = "hosts";

/// The tool directory of one profile link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolDir {
    /// The profile link as given.
    profile: PathBuf,
    /// The canonical directory of the link.
    dir: PathBuf,
    /// The link's file name.
    name: OsString,
    /// `dir/.name.nixproc-sysvinit`.
    path: PathBuf,
}

impl ToolDir {
    /// Finds the tool directory of the profile link `profile` and checks the link's
    /// directory (made, mode 0755, when missing; for a user other than root the Nix
    /// daemon makes the user's per-user profile directory, so it is asked to when that
    /// is missing). Creates nothing else.
    pub fn locate(profile: &Path, options: &NixOptions) -> Result<ToolDir> {
        let name = profile
            .file_name()
            .ok_or_else(|| DeployError::Profile {
                path: profile.to_path_buf(),
                message: "a profile link needs a file name".into(),
            })?
            .to_os_string();
        let parent = link_parent(profile);
        if fs::symlink_metadata(parent).is_err() {
            make_profile_dir(parent, options)?;
        }
        let dir = fs::canonicalize(parent).map_err(|e| DeployError::io("resolving", parent, e))?;
        check_trusted(&dir, "profile directory")?;
        let path = dir.join(tool_dir_name(&name));
        Ok(ToolDir {
            profile: profile.to_path_buf(),
            dir,
            name,
            path,
        })
    }

    /// The tool directory, `DIR/.NAME.nixproc-sysvinit`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The garbage-collector root of the last profile built from a model.
    pub fn result_link(&self) -> PathBuf {
        self.path.join(RESULT_LINK)
    }

    /// The directory of the roots of what went to other machines.
    pub fn hosts_dir(&self) -> PathBuf {
        self.path.join(HOSTS_DIR)
    }

    /// Makes the tool directory (mode 0755) unless it exists, and checks it: a
    /// directory, not a link, of root's or the caller's, writable by nobody else.
    pub fn ensure(&self) -> Result<()> {
        match fs::DirBuilder::new().mode(0o755).create(&self.path) {
            Ok(()) => fs::set_permissions(&self.path, fs::Permissions::from_mode(0o755))
                .map_err(|e| DeployError::io("setting the mode of", &self.path, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(DeployError::io("creating", &self.path, e)),
        }
        check_trusted(&self.path, "tool directory")
    }

    /// Takes the profile's lock (see [`Lock::acquire`]); `on_wait` gets the line to show
    /// while waiting for its holder.
    pub fn lock(&self, wait: Wait, on_wait: &mut dyn FnMut(&str)) -> Result<Lock> {
        lock_dir(&self.path, wait, on_wait)
    }

    /// Whether `link` names this profile link (its directory resolved).
    fn is_link(&self, link: &Path) -> bool {
        link.file_name() == Some(self.name.as_os_str())
            && fs::canonicalize(link_parent(link)).is_ok_and(|d| d == self.dir)
    }

    /// Whether this link is where the tools put, or find, a profile of its name by
    /// default (see [`generations::default_profile_link`]).
    fn is_default_link(&self) -> bool {
        [
            generations::default_profiles_dir(),
            generations::nix_profiles_dir(),
        ]
        .iter()
        .any(|d| self.is_link(&d.join(&self.name)))
    }
}

/// The name of the tool directory of a profile link named `name`.
pub fn tool_dir_name(name: &OsStr) -> OsString {
    let mut out = OsString::from(".");
    out.push(name);
    out.push(".");
    out.push(TOOL_DIR_SUFFIX);
    out
}

/// What locates a profile's state, as the tools' options give it.
#[derive(Debug, Clone, Copy)]
pub struct StateOptions<'a> {
    /// The profile link (see [`crate::tools::options::DeploymentArgs::profile_link`]).
    pub profile: &'a Path,
    /// `--state-dir`, when given.
    pub state_dir: Option<&'a Path>,
    /// `--lib-dir`, when given.
    pub lib_dir: Option<&'a Path>,
    /// Whether to wait for the locks or fail at once.
    pub wait: Wait,
    /// `--option` pairs for the Nix commands (registering moved roots).
    pub nix_options: &'a NixOptions,
}

impl StateOptions<'_> {
    /// The library directories in which earlier versions kept state: the one of the
    /// options (`--lib-dir`, else `STATEDIR/lib`), then the default one, each with
    /// whether the options named it.
    pub fn old_lib_dirs(&self) -> Vec<(PathBuf, bool)> {
        let default = default_state_dir().join("lib");
        let given = match (self.lib_dir, self.state_dir) {
            (Some(lib), _) => lib.to_path_buf(),
            (None, Some(state)) => state.join("lib"),
            (None, None) => default.clone(),
        };
        let chosen = self.lib_dir.is_some() || self.state_dir.is_some();
        let same = given == default
            || matches!(
                (fs::canonicalize(&given), fs::canonicalize(&default)),
                (Ok(a), Ok(b)) if a == b
            );
        let mut dirs = vec![(given, chosen)];
        if !same {
            dirs.push((default, false));
        }
        dirs
    }
}

/// The tool directory opened by [`open`].
#[derive(Debug)]
pub struct Opened {
    /// The tool directory, there and checked.
    pub dir: ToolDir,
    /// One line for each old directory whose state moved in, for the caller to show.
    pub moved: Vec<String>,
}

/// Opens the tool directory of `options.profile`: checks the profile's directory, makes
/// the tool directory when missing, and moves in what an earlier version left in the
/// old layout. `on_wait` gets the line to show while waiting for a lock.
pub fn open(options: &StateOptions, on_wait: &mut dyn FnMut(&str)) -> Result<Opened> {
    let dir = ToolDir::locate(options.profile, options.nix_options)?;
    dir.ensure()?;
    let mut moved = Vec::new();
    for (lib, chosen) in options.old_lib_dirs() {
        let old = old_layout_dir(&lib).join(&dir.name);
        if let Some(line) = dir.migrate_from(&old, chosen, options, on_wait)? {
            moved.push(line);
        }
    }
    Ok(Opened { dir, moved })
}

/// The parent of a profile link, `.` for a bare name.
fn link_parent(link: &Path) -> &Path {
    link.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Makes the missing directory `dir` of a profile link (mode 0755 less the umask).
/// A user's per-user profile directory is the Nix daemon's to make (as it does when the
/// user first connects): when that is what is missing, the daemon is asked, then the
/// rest is made.
fn make_profile_dir(dir: &Path, options: &NixOptions) -> Result<()> {
    let make = || {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
    };
    match make() {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && euid() != 0 => {
            let _ = run_capture(nix_command("nix-store", options).args(["--realise", "--dry-run"]));
            make().map_err(|e| DeployError::io("creating", dir, e))
        }
        Err(e) => Err(DeployError::io("creating", dir, e)),
    }
}

/// Whether `path` itself (not what a link there points to) belongs to the caller.
fn owned_by_caller(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.uid() == euid())
}

/// The effective user id of this process.
fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// Refuses `path` (`what` names it in the message) unless it is a directory, not a
/// symbolic link, of root's or the caller's (for root: of root's), writable by nobody
/// else.
fn check_trusted(path: &Path, what: &'static str) -> Result<()> {
    let meta = fs::symlink_metadata(path).map_err(|e| DeployError::io("reading", path, e))?;
    let problem = if meta.file_type().is_symlink() {
        Some("is a symbolic link")
    } else if !meta.is_dir() {
        Some("is not a directory")
    } else if meta.uid() != 0 && meta.uid() != euid() {
        Some(if euid() == 0 {
            "does not belong to root"
        } else {
            "belongs neither to root nor to you"
        })
    } else if meta.mode() & 0o022 != 0 {
        Some("is writable by group or others")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(DeployError::UntrustedDirectory {
            what,
            path: path.to_path_buf(),
            problem,
            owner: describe_owner(meta.uid()),
            mode: meta.mode() & 0o7777,
        }),
    }
}

/// `uid N (NAME)`, or `uid N` for a uid without an account.
fn describe_owner(uid: u32) -> String {
    let mut buf = vec![0u8; 16384];
    // SAFETY: a zeroed passwd is a valid out-buffer.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and `buf` its length; the strings
    // it sets point into `buf`, which outlives their use below.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut entry,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() || entry.pw_name.is_null() {
        return format!("uid {uid}");
    }
    // SAFETY: getpwuid_r succeeded: pw_name is a NUL-terminated string in `buf`.
    let name = unsafe { CStr::from_ptr(entry.pw_name) };
    format!("uid {uid} ({})", name.to_string_lossy())
}

/// Takes the lock of the state directory `dir`, composing the line shown while waiting.
fn lock_dir(dir: &Path, wait: Wait, on_wait: &mut dyn FnMut(&str)) -> Result<Lock> {
    let lock = dir.join(LOCK_FILE);
    Lock::acquire(dir, wait, &mut |holder| {
        on_wait(&format!(
            "waiting for {holder} to finish (lock {}; --no-wait fails instead)",
            lock.display()
        ));
    })
}

/// Takes the lock of the fleet file `fleet_file` on this machine (see [`Lock::acquire`]),
/// so that two runs of one fleet never interleave on its hosts. Its directory is
/// `fleets/NAME-HASH` (the file's name and a hash of its canonical path) in the
/// machine's state directory of the tools: `/var/lib/nixproc-sysvinit` for root, the
/// caller's [`user_state_dir`] otherwise; each directory on the way made when missing
/// and checked as the tool directory is.
pub fn fleet_lock(fleet_file: &Path, wait: Wait, on_wait: &mut dyn FnMut(&str)) -> Result<Lock> {
    let canonical =
        fs::canonicalize(fleet_file).map_err(|e| DeployError::io("reading", fleet_file, e))?;
    let machine = match user_state_dir().filter(|_| euid() != 0) {
        Some(dir) => dir,
        None => old_layout_dir(&super::default_state_dir().join("lib")),
    };
    let name = canonical
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let hash = {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        BuildHasherDefault::<DefaultHasher>::default().hash_one(canonical.as_os_str())
    };
    let fleets = machine.join("fleets");
    let dir = fleets.join(format!("{name}-{hash:016x}"));
    for step in [&machine, &fleets, &dir] {
        match fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(step)
        {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(DeployError::io("creating", step, e)),
        }
        check_trusted(step, "fleet lock directory")?;
    }
    let file = canonical.display().to_string();
    Lock::acquire(&dir, wait, &mut |holder| {
        on_wait(&format!(
            "waiting for {holder} to finish its run of fleet {file} (--no-wait fails instead)"
        ));
    })
}

/// `LIBDIR/nixproc-sysvinit`: where earlier versions kept the account registry and,
/// in a directory per profile name, the tool's state.
fn old_layout_dir(lib: &Path) -> PathBuf {
    lib.join(TOOL_DIR_SUFFIX)
}

/// Makes the creation or removal of entries of `dir` durable (best effort).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::transaction::journal::JOURNAL_FILE;
    use std::os::unix::fs::symlink;

    /// A temporary directory of root's or the caller's, mode 0755.
    pub(super) fn scratch() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    #[test]
    fn the_tool_directory_is_next_to_the_link_in_its_resolved_directory() {
        let tmp = scratch();
        let real = tmp.path().join("real");
        fs::create_dir(&real).unwrap();
        symlink(&real, tmp.path().join("via")).unwrap();
        let dir = ToolDir::locate(&tmp.path().join("via/web"), &[]).unwrap();
        let real = fs::canonicalize(&real).unwrap();
        assert_eq!(dir.path(), real.join(".web.nixproc-sysvinit"));
        assert_eq!(dir.result_link(), real.join(".web.nixproc-sysvinit/result"));
        // A missing directory of the link is made; nothing else is.
        let made = ToolDir::locate(&tmp.path().join("a/b/web"), &[]).unwrap();
        assert!(tmp.path().join("a/b").is_dir());
        assert!(!made.path().exists());
        made.ensure().unwrap();
        let mode = fs::metadata(made.path()).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o755);
    }

    #[test]
    fn a_profile_directory_others_can_write_is_refused_naming_owner_and_mode() {
        let tmp = scratch();
        let open = tmp.path().join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        let e = ToolDir::locate(&open.join("web"), &[]).unwrap_err();
        let text = e.to_string();
        let canonical = fs::canonicalize(&open).unwrap();
        assert!(text.contains(&format!("profile directory {}", canonical.display())));
        assert!(text.contains("writable by group or others"), "{text}");
        assert!(text.contains("mode 0777"), "{text}");
        assert!(text.contains(&format!("owner uid {}", euid())), "{text}");
        assert!(!open.join(".web.nixproc-sysvinit").exists());
    }

    #[test]
    fn a_tool_directory_that_is_a_link_or_open_to_others_is_refused() {
        let tmp = scratch();
        let elsewhere = tmp.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        symlink(&elsewhere, tmp.path().join(".web.nixproc-sysvinit")).unwrap();
        let dir = ToolDir::locate(&tmp.path().join("web"), &[]).unwrap();
        let e = dir.ensure().unwrap_err().to_string();
        assert!(
            e.contains("tool directory") && e.contains("symbolic link"),
            "{e}"
        );
        let other = ToolDir::locate(&tmp.path().join("db"), &[]).unwrap();
        fs::create_dir(other.path()).unwrap();
        fs::set_permissions(other.path(), fs::Permissions::from_mode(0o775)).unwrap();
        let e = other.ensure().unwrap_err().to_string();
        assert!(e.contains("mode 0775"), "{e}");
    }

    #[test]
    fn a_lock_or_journal_that_is_a_link_is_not_followed() {
        let tmp = scratch();
        let dir = ToolDir::locate(&tmp.path().join("web"), &[]).unwrap();
        dir.ensure().unwrap();
        let target = tmp.path().join("target");
        fs::write(&target, "").unwrap();
        symlink(&target, dir.path().join(LOCK_FILE)).unwrap();
        let e = dir.lock(Wait::No, &mut |_| {}).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        symlink(&target, dir.path().join(JOURNAL_FILE)).unwrap();
        let e = crate::deploy::transaction::journal::Journal::unfinished(dir.path()).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(fs::read_to_string(&target).unwrap(), "");
    }
}
