//! The move of a profile's state from the earlier layout, `LIBDIR/nixproc-sysvinit/NAME/`,
//! into its tool directory (see the parent module for when and how).

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::{
    check_trusted, lock_dir, owned_by_caller, sync_dir, StateOptions, ToolDir, MOVED_FILE,
};
use crate::deploy::model::nix::{nix_command, NixOptions};
use crate::deploy::profile::generations;
use crate::deploy::transaction::journal::{Record, JOURNAL_FILE, LOCK_FILE};
use crate::deploy::{run_capture, DeployError, Result};

impl ToolDir {
    /// Whether the old state directory `old` holds state to move here: the caller's
    /// (root's state is not a user's to move), with something besides its lock, no
    /// `MOVED` file, and taken for this link (see the module's documentation;
    /// `chosen`: the options named its state directory).
    fn takes_over(&self, old: &Path, chosen: bool) -> bool {
        if !owned_by_caller(old) || !old_entries(old).is_some_and(|e| !e.is_empty()) {
            return false;
        }
        match journal_profile(old) {
            Some(link) => self.is_link(&link),
            None => chosen || self.is_default_link(),
        }
    }

    /// Moves the state in the old directory `old` here, holding both locks; a line
    /// saying what moved, `None` when there was nothing to move.
    pub(super) fn migrate_from(
        &self,
        old: &Path,
        chosen: bool,
        options: &StateOptions,
        on_wait: &mut dyn FnMut(&str),
    ) -> Result<Option<String>> {
        if !self.takes_over(old, chosen) {
            return Ok(None);
        }
        check_trusted(old, "old state directory")?;
        let _old_lock = lock_dir(old, options.wait, on_wait)?;
        let _lock = self.lock(options.wait, on_wait)?;
        // Whoever held the locks may have moved or finished it meanwhile.
        if !self.takes_over(old, chosen) {
            return Ok(None);
        }
        let mut moves = Moves::default();
        for name in old_entries(old).unwrap_or_default() {
            let rel = Path::new(&name);
            move_entry(
                &old.join(rel),
                &self.path.join(rel),
                rel,
                options.nix_options,
                &mut moves,
            )?;
        }
        sync_dir(old);
        sync_dir(&self.path);
        self.leave_old(old, &moves)?;
        Ok(Some(self.describe(old, &moves)))
    }

    /// Removes the old directory when only its lock is left, else writes `MOVED` there.
    fn leave_old(&self, old: &Path, moves: &Moves) -> Result<()> {
        if old_entries(old).is_some_and(|e| e.is_empty()) {
            let _ = fs::remove_file(old.join(LOCK_FILE));
            let _ = fs::remove_dir(old);
            return Ok(());
        }
        let text = format!(
            "The state of the profile link {} moved to {}.\n\
             Left here, because that directory had them already: {}\n",
            self.profile.display(),
            self.path.display(),
            moves.left.join(", ")
        );
        let path = old.join(MOVED_FILE);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| DeployError::io("creating", &path, e))?;
        file.write_all(text.as_bytes())
            .map_err(|e| DeployError::io("writing", &path, e))
    }

    /// The line saying what moved from `old`.
    fn describe(&self, old: &Path, moves: &Moves) -> String {
        let mut line = format!(
            "moved the state of profile {} from {} to {} ({})",
            self.profile.display(),
            old.display(),
            self.path.display(),
            if moves.moved.is_empty() {
                "nothing".to_string()
            } else {
                moves.moved.join(", ")
            }
        );
        if !moves.left.is_empty() {
            line.push_str(&format!(
                "; left there because they were here already: {} (see {})",
                moves.left.join(", "),
                old.join(MOVED_FILE).display()
            ));
        }
        line
    }
}

/// The entries of the old state directory `old` to move (all but the lock), the
/// journal first; `None` when it is not a readable directory or has a `MOVED` file.
fn old_entries(old: &Path) -> Option<Vec<OsString>> {
    if !fs::symlink_metadata(old).ok()?.is_dir() {
        return None;
    }
    let mut names: Vec<OsString> = fs::read_dir(old)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .filter(|n| n != LOCK_FILE)
        .collect();
    if names.iter().any(|n| n == MOVED_FILE) {
        return None;
    }
    names.sort_by_key(|n| (n != JOURNAL_FILE, n.clone()));
    Some(names)
}

/// The profile link the journal in `dir` names in its first record, if it has one.
fn journal_profile(dir: &Path) -> Option<PathBuf> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dir.join(JOURNAL_FILE))
        .ok()?;
    let first = BufReader::new(file).lines().next()?.ok()?;
    match serde_json::from_str::<Record>(&first).ok()? {
        Record::Begin { profile, .. } => Some(profile),
        _ => None,
    }
}

/// What a move did: the top entries moved (in part or whole), and the paths left
/// because the new directory had them already.
#[derive(Debug, Default)]
struct Moves {
    moved: Vec<String>,
    left: Vec<String>,
}

impl Moves {
    /// Notes that `rel` moved, under its top entry.
    fn note(&mut self, rel: &Path) {
        let top = rel
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        if !self.moved.contains(&top) {
            self.moved.push(top);
        }
    }
}

/// Moves `from` to `to` (`rel`: the path below the state directories), a directory
/// entry by entry; an entry `to` already has stays where it is.
fn move_entry(
    from: &Path,
    to: &Path,
    rel: &Path,
    options: &NixOptions,
    moves: &mut Moves,
) -> Result<()> {
    let meta = fs::symlink_metadata(from).map_err(|e| DeployError::io("reading", from, e))?;
    let there = fs::symlink_metadata(to).ok();
    if meta.is_dir() {
        return move_dir(from, to, there, rel, options, moves);
    }
    if there.is_some() {
        moves.left.push(rel.display().to_string());
        return Ok(());
    }
    if meta.file_type().is_symlink() {
        move_link(from, to, options)?;
    } else {
        move_file(from, to)?;
    }
    moves.note(rel);
    Ok(())
}

/// Moves the entries of the directory `from` into `to` (made when missing, `there`
/// being what `to` is), then removes `from` if that left it empty.
fn move_dir(
    from: &Path,
    to: &Path,
    there: Option<fs::Metadata>,
    rel: &Path,
    options: &NixOptions,
    moves: &mut Moves,
) -> Result<()> {
    match there {
        Some(m) if !m.is_dir() => {
            moves.left.push(rel.display().to_string());
            return Ok(());
        }
        Some(_) => {}
        None => fs::DirBuilder::new()
            .mode(0o755)
            .create(to)
            .map_err(|e| DeployError::io("creating", to, e))?,
    }
    let names: Vec<OsString> = fs::read_dir(from)
        .map_err(|e| DeployError::io("reading", from, e))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    for name in names {
        move_entry(
            &from.join(&name),
            &to.join(&name),
            &rel.join(&name),
            options,
            moves,
        )?;
    }
    // Not empty: something stayed (and is listed).
    let _ = fs::remove_dir(from);
    Ok(())
}

/// Moves the symbolic link `from` to `to`. A link to a store object is a
/// garbage-collector root: it is made again at `to` by `nix-store --add-root`, which
/// registers it as Nix's own tools do, before `from` goes.
fn move_link(from: &Path, to: &Path, options: &NixOptions) -> Result<()> {
    let target = fs::read_link(from).map_err(|e| DeployError::io("reading", from, e))?;
    let in_store = target.is_absolute()
        && target.parent() == Some(generations::store_dir().as_path())
        && fs::metadata(&target).is_ok();
    if !in_store {
        return match fs::rename(from, to) {
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                std::os::unix::fs::symlink(&target, to)
                    .map_err(|e| DeployError::io("creating", to, e))?;
                fs::remove_file(from).map_err(|e| DeployError::io("removing", from, e))
            }
            other => other.map_err(|e| DeployError::io("moving", from, e)),
        };
    }
    run_capture(
        nix_command("nix-store", options)
            .arg("--realise")
            .arg(&target)
            .arg("--add-root")
            .arg(to)
            .arg("--indirect"),
    )?;
    fs::remove_file(from).map_err(|e| DeployError::io("removing", from, e))
}

/// Moves the regular file `from` to `to`: renamed, or across filesystems copied,
/// synced and removed.
pub(super) fn move_file(from: &Path, to: &Path) -> Result<()> {
    match fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            fs::copy(from, to).map_err(|e| DeployError::io("copying", from, e))?;
            File::open(to)
                .and_then(|f| f.sync_all())
                .map_err(|e| DeployError::io("writing", to, e))?;
            fs::remove_file(from).map_err(|e| DeployError::io("removing", from, e))
        }
        Err(e) => Err(DeployError::io("moving", from, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::open;
    use super::super::tests::scratch;
    use super::*;
    use crate::deploy::transaction::journal::{Lock, Wait};
    use std::os::unix::fs::{symlink, PermissionsExt};

    /// The paths of a test in a scratch directory: the profile link `profiles/web`, the
    /// library directory `lib`, and the old state directory an earlier version kept
    /// there for that link (not created).
    struct Layout {
        /// The scratch directory, removed when dropped.
        tmp: tempfile::TempDir,
        /// The profile link.
        profile: PathBuf,
        /// The library directory.
        lib: PathBuf,
        /// The old state directory.
        old: PathBuf,
    }

    impl Layout {
        /// The layout in a new scratch directory.
        fn new() -> Layout {
            let tmp = scratch();
            let profile = tmp.path().join("profiles/web");
            let lib = tmp.path().join("lib");
            let old = lib.join("nixproc-sysvinit/web");
            Layout {
                tmp,
                profile,
                lib,
                old,
            }
        }

        /// The options of a tool acting on the profile with the library directory.
        fn options(&self) -> StateOptions<'_> {
            StateOptions {
                profile: &self.profile,
                state_dir: None,
                lib_dir: Some(&self.lib),
                wait: Wait::No,
                nix_options: &[],
            }
        }

        /// Asserts that opening the profile's tool directory moves nothing.
        fn assert_nothing_moves(&self) {
            assert!(open(&self.options(), &mut |_| {}).unwrap().moved.is_empty());
        }
    }

    /// A journal whose first record is a switch of `profile`.
    fn journal_of(profile: &Path) -> String {
        let begin = Record::Begin {
            pid: 1,
            profile: profile.to_path_buf(),
            old: None,
            new: None,
            runlevel: 3,
            commit: crate::deploy::transaction::journal::Commit::SwitchGeneration { generation: 1 },
            plan: Default::default(),
        };
        format!("{}\n", serde_json::to_string(&begin).unwrap())
    }

    #[test]
    fn old_state_moves_in_and_the_emptied_old_directory_goes() {
        let t = Layout::new();
        fs::create_dir_all(t.old.join("logs")).unwrap();
        fs::write(t.old.join(LOCK_FILE), "1 nixproc-sysvinit-switch\n").unwrap();
        fs::write(t.old.join(JOURNAL_FILE), journal_of(&t.profile)).unwrap();
        fs::write(t.old.join("logs/a.start.log"), "started a\n").unwrap();
        symlink("../elsewhere", t.old.join("hosts")).unwrap();
        let opened = open(&t.options(), &mut |_| {}).unwrap();
        let new = opened.dir.path().to_path_buf();
        assert_eq!(opened.moved.len(), 1, "{:?}", opened.moved);
        let line = &opened.moved[0];
        assert!(line.contains(&t.old.display().to_string()), "{line}");
        assert!(line.contains("journal.jsonl, hosts, logs"), "{line}");
        assert_eq!(
            fs::read_to_string(new.join(JOURNAL_FILE)).unwrap(),
            journal_of(&t.profile)
        );
        assert_eq!(
            fs::read_to_string(new.join("logs/a.start.log")).unwrap(),
            "started a\n"
        );
        assert_eq!(
            fs::read_link(new.join("hosts")).unwrap(),
            Path::new("../elsewhere")
        );
        assert!(!t.old.exists(), "the emptied old directory is still there");
        // Nothing to move the second time.
        t.assert_nothing_moves();
    }

    #[test]
    fn what_the_new_directory_has_stays_with_a_moved_file() {
        let t = Layout::new();
        fs::create_dir_all(t.old.join("logs")).unwrap();
        fs::write(t.old.join("logs/a.start.log"), "old a\n").unwrap();
        fs::write(t.old.join("logs/b.start.log"), "old b\n").unwrap();
        let dir = ToolDir::locate(&t.profile, &[]).unwrap();
        fs::create_dir_all(dir.path().join("logs")).unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(dir.path().join("logs/a.start.log"), "new a\n").unwrap();
        let opened = open(&t.options(), &mut |_| {}).unwrap();
        assert!(
            opened.moved[0].contains("logs/a.start.log"),
            "{:?}",
            opened.moved
        );
        let logs = dir.path().join("logs");
        assert_eq!(
            fs::read_to_string(logs.join("a.start.log")).unwrap(),
            "new a\n"
        );
        assert_eq!(
            fs::read_to_string(logs.join("b.start.log")).unwrap(),
            "old b\n"
        );
        assert_eq!(
            fs::read_to_string(t.old.join("logs/a.start.log")).unwrap(),
            "old a\n"
        );
        let moved = fs::read_to_string(t.old.join(MOVED_FILE)).unwrap();
        assert!(moved.contains(&dir.path().display().to_string()), "{moved}");
        // A directory with a MOVED file is done with.
        t.assert_nothing_moves();
    }

    #[test]
    fn old_state_of_another_link_of_that_name_stays() {
        let t = Layout::new();
        fs::create_dir_all(&t.old).unwrap();
        // Its journal names another link of the same name.
        let other = t.tmp.path().join("elsewhere/web");
        fs::write(t.old.join(JOURNAL_FILE), journal_of(&other)).unwrap();
        t.assert_nothing_moves();
        assert!(t.old.join(JOURNAL_FILE).exists());
        // Without a journal, and the state directory not named by the options, it stays.
        fs::remove_file(t.old.join(JOURNAL_FILE)).unwrap();
        fs::write(t.old.join("flake-model.nix"), "{}").unwrap();
        let unnamed = StateOptions {
            lib_dir: None,
            ..t.options()
        };
        let dir = ToolDir::locate(&t.profile, &[]).unwrap();
        assert!(!dir.takes_over(&t.old, false));
        assert!(dir.takes_over(&t.old, true));
        assert!(!unnamed.old_lib_dirs().iter().any(|(l, _)| l == &t.lib));
    }

    #[test]
    fn an_old_state_directory_others_can_write_is_refused() {
        let t = Layout::new();
        fs::create_dir_all(&t.old).unwrap();
        fs::write(t.old.join(JOURNAL_FILE), journal_of(&t.profile)).unwrap();
        fs::set_permissions(&t.old, fs::Permissions::from_mode(0o777)).unwrap();
        let e = open(&t.options(), &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains("old state directory"), "{e}");
        assert!(t.old.join(JOURNAL_FILE).exists());
    }

    #[test]
    fn the_old_lock_is_taken_before_anything_moves() {
        let t = Layout::new();
        fs::create_dir_all(&t.old).unwrap();
        fs::write(t.old.join(JOURNAL_FILE), journal_of(&t.profile)).unwrap();
        let _held = Lock::acquire(&t.old, Wait::No, &mut |_| {}).unwrap();
        let e = open(&t.options(), &mut |_| {}).unwrap_err();
        assert!(matches!(e, DeployError::Locked { .. }), "{e}");
        assert!(e
            .to_string()
            .contains(&t.old.join(LOCK_FILE).display().to_string()));
        assert!(t.old.join(JOURNAL_FILE).exists());
    }
}
