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
//! without following links ([`super::journal`]).
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

use std::collections::BTreeSet;
use std::ffi::{CStr, OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::journal::{Lock, Record, Wait, JOURNAL_FILE, LOCK_FILE};
use super::nix::{nix_command, NixOptions};
use super::users::ACCOUNTS_FILE;
use super::{default_state_dir, generations, run_capture, DeployError, Result};

/// What the tool directory's name ends with: `.NAME.nixproc-sysvinit`.
pub const TOOL_DIR_SUFFIX: &str = "nixproc-sysvinit";

/// The file left in an old state directory whose state moved, naming the new place.
pub const MOVED_FILE: &str = "MOVED";

/// The garbage-collector root of the last profile built from a model.
pub const RESULT_LINK: &str = "result";

/// The directory of the roots of what went to other machines.
pub const HOSTS_DIR: &str = "hosts";

/// The lock of the account registry, next to it (the one [`super::users`] takes).
const REGISTRY_LOCK: &str = "accounts.lock";

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

    /// Whether the old state directory `old` holds state to move here: something
    /// besides its lock, no `MOVED` file, and taken for this link (see the module's
    /// documentation; `chosen`: the options named its state directory).
    fn takes_over(&self, old: &Path, chosen: bool) -> bool {
        if !old_entries(old).is_some_and(|e| !e.is_empty()) {
            return false;
        }
        match journal_profile(old) {
            Some(link) => self.is_link(&link),
            None => chosen || self.is_default_link(),
        }
    }

    /// Moves the state in the old directory `old` here, holding both locks; a line
    /// saying what moved, `None` when there was nothing to move.
    fn migrate_from(
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
    /// The profile link (see [`super::cli::DeploymentArgs::profile_link`]).
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
        let old = old_registry_dir(&lib).join(&dir.name);
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

/// `LIBDIR/nixproc-sysvinit`: where earlier versions kept the account registry and,
/// in a directory per profile name, the tool's state.
fn old_registry_dir(lib: &Path) -> PathBuf {
    lib.join(TOOL_DIR_SUFFIX)
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
fn move_file(from: &Path, to: &Path) -> Result<()> {
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

/// Makes the creation or removal of entries of `dir` durable (best effort).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The directory of the account registry a switch uses
/// ([`super::switch::Settings::accounts_dir`]): for root `LIBDIR/nixproc-sysvinit`, in
/// which [`super::users`] finds a registry an earlier version left there to merge into
/// the machine's; for anybody else their own [`user_state_dir`], whatever the options.
pub fn accounts_dir(lib_dir: &Path) -> PathBuf {
    let old = old_registry_dir(lib_dir);
    if euid() == 0 {
        return old;
    }
    user_state_dir().unwrap_or(old)
}

/// A user's own state directory of the tools: `$XDG_STATE_HOME/nixproc-sysvinit` (for
/// an absolute `XDG_STATE_HOME`), else `$HOME/.local/state/nixproc-sysvinit`; `None`
/// without either.
pub fn user_state_dir() -> Option<PathBuf> {
    state_dir_from(std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME"))
}

/// [`user_state_dir`] for these values of `XDG_STATE_HOME` and `HOME`.
fn state_dir_from(xdg: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let absolute = |v: Option<OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
    absolute(xdg)
        .or_else(|| absolute(home).map(|h| h.join(".local/state")))
        .map(|d| d.join(TOOL_DIR_SUFFIX))
}

/// For users other than root: merges into `accounts_dir` (moves, when it has none) the
/// account registries earlier versions kept in the old library directories of
/// `options`. One line for each registry merged or moved.
pub fn move_account_registries(options: &StateOptions, accounts_dir: &Path) -> Result<Vec<String>> {
    if euid() == 0 {
        return Ok(Vec::new());
    }
    let mut lines = Vec::new();
    for (lib, _) in options.old_lib_dirs() {
        let old = old_registry_dir(&lib);
        let same = fs::canonicalize(&old).ok() == fs::canonicalize(accounts_dir).ok();
        if old == accounts_dir || same || fs::symlink_metadata(old.join(ACCOUNTS_FILE)).is_err() {
            continue;
        }
        check_trusted(&old, "old account registry directory")?;
        lines.extend(move_registry(&old, accounts_dir)?);
    }
    Ok(lines)
}

/// Moves or merges the registry of `old` into `new` under both registries' locks; the
/// merged old file is kept as `accounts.json.merged`, as [`super::users`] does.
fn move_registry(old: &Path, new: &Path) -> Result<Option<String>> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(new)
        .map_err(|e| DeployError::io("creating", new, e))?;
    check_trusted(new, "account registry directory")?;
    let _old_lock = lock_file(&old.join(REGISTRY_LOCK))?;
    let _new_lock = lock_file(&new.join(REGISTRY_LOCK))?;
    let (from, to) = (old.join(ACCOUNTS_FILE), new.join(ACCOUNTS_FILE));
    let Some(theirs) = read_registry(&from)? else {
        return Ok(None);
    };
    let Some(mut ours) = read_registry(&to)? else {
        move_file(&from, &to)?;
        sync_dir(new);
        return Ok(Some(format!(
            "moved the account registry {} to {}",
            from.display(),
            to.display()
        )));
    };
    merge_registry(&mut ours, theirs).map_err(|message| DeployError::Registry {
        path: to.clone(),
        message,
    })?;
    write_registry(&to, &ours)?;
    let merged = old.join(format!("{ACCOUNTS_FILE}.merged"));
    fs::rename(&from, &merged).map_err(|e| DeployError::io("renaming", &from, e))?;
    Ok(Some(format!(
        "merged the account registry {} into {} (the old one is now {})",
        from.display(),
        to.display(),
        merged.display()
    )))
}

/// Opens (creating, never through a link) and `flock`s the file `path`, waiting.
fn lock_file(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| DeployError::io("opening", path, e))?;
    loop {
        // SAFETY: flock on a descriptor we own; released when the file closes.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(file);
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(DeployError::io("locking", path, err));
        }
    }
}

/// Reads the registry file `path` (a regular file, not through a link); `None` when
/// there is none.
fn read_registry(path: &Path) -> Result<Option<Value>> {
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DeployError::io("opening", path, e)),
    };
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| DeployError::io("reading", path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| DeployError::Registry {
            path: path.to_path_buf(),
            message: format!("{e}; repair the file or remove it"),
        })
}

/// Replaces the registry file `path` with `registry`: a temporary file, synced,
/// renamed over it.
fn write_registry(path: &Path, registry: &Value) -> Result<()> {
    let tmp = path.with_file_name(format!("{ACCOUNTS_FILE}.tmp"));
    let text = serde_json::to_string_pretty(registry).map_err(|e| DeployError::Registry {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })()
    .map_err(|e| DeployError::io("writing", path, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir);
    }
    Ok(())
}

/// Adds the accounts and claims of the registry `theirs` to `ours` (the format of
/// [`super::users`]: `groups` and `users`, each account's entry a list of claims or
/// `{claims, pending}`); `ours` keeps its pending deletion when both have one.
fn merge_registry(ours: &mut Value, theirs: Value) -> std::result::Result<(), String> {
    let ours = ours
        .as_object_mut()
        .ok_or("the registry is not a JSON object")?;
    for kind in ["groups", "users"] {
        let Some(accounts) = theirs.get(kind).and_then(Value::as_object) else {
            continue;
        };
        let mine = ours
            .entry(kind)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or(format!("`{kind}` is not a JSON object"))?;
        for (name, entry) in accounts {
            let merged = match mine.get(name) {
                Some(own) => merge_entry(own, entry),
                None => merge_entry(entry, &json!([])),
            };
            mine.insert(name.clone(), merged);
        }
    }
    Ok(())
}

/// One account's entry with the claims of `a` and `b`, and `a`'s pending deletion
/// (else `b`'s).
fn merge_entry(a: &Value, b: &Value) -> Value {
    let claims = |v: &Value| -> BTreeSet<String> {
        let list = if v.is_array() { v } else { &v["claims"] };
        list.as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut all = claims(a);
    all.extend(claims(b));
    let pending = [a, b]
        .into_iter()
        .find_map(|v| v.get("pending").filter(|p| p.is_string()).cloned());
    match pending {
        Some(p) => json!({"claims": all, "pending": p}),
        None => json!({"claims": all}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A temporary directory of root's or the caller's, mode 0755.
    fn scratch() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    /// The options of a tool acting on `profile` with the library directory `lib`.
    fn options<'a>(profile: &'a Path, lib: &'a Path) -> StateOptions<'a> {
        StateOptions {
            profile,
            state_dir: None,
            lib_dir: Some(lib),
            wait: Wait::No,
            nix_options: &[],
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
            commit: super::super::journal::Commit::SwitchGeneration { generation: 1 },
            plan: Default::default(),
        };
        format!("{}\n", serde_json::to_string(&begin).unwrap())
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
        let e = super::super::journal::Journal::unfinished(dir.path()).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(fs::read_to_string(&target).unwrap(), "");
    }

    #[test]
    fn old_state_moves_in_and_the_emptied_old_directory_goes() {
        let tmp = scratch();
        let profile = tmp.path().join("profiles/web");
        let lib = tmp.path().join("lib");
        let old = lib.join("nixproc-sysvinit/web");
        fs::create_dir_all(old.join("logs")).unwrap();
        fs::write(old.join(LOCK_FILE), "1 nixproc-sysvinit-switch\n").unwrap();
        fs::write(old.join(JOURNAL_FILE), journal_of(&profile)).unwrap();
        fs::write(old.join("logs/a.start.log"), "started a\n").unwrap();
        symlink("../elsewhere", old.join("hosts")).unwrap();
        let opened = open(&options(&profile, &lib), &mut |_| {}).unwrap();
        let new = opened.dir.path().to_path_buf();
        assert_eq!(opened.moved.len(), 1, "{:?}", opened.moved);
        let line = &opened.moved[0];
        assert!(line.contains(&old.display().to_string()), "{line}");
        assert!(line.contains("journal.jsonl, hosts, logs"), "{line}");
        assert_eq!(
            fs::read_to_string(new.join(JOURNAL_FILE)).unwrap(),
            journal_of(&profile)
        );
        assert_eq!(
            fs::read_to_string(new.join("logs/a.start.log")).unwrap(),
            "started a\n"
        );
        assert_eq!(
            fs::read_link(new.join("hosts")).unwrap(),
            Path::new("../elsewhere")
        );
        assert!(!old.exists(), "the emptied old directory is still there");
        // Nothing to move the second time.
        assert!(open(&options(&profile, &lib), &mut |_| {})
            .unwrap()
            .moved
            .is_empty());
    }

    #[test]
    fn what_the_new_directory_has_stays_with_a_moved_file() {
        let tmp = scratch();
        let profile = tmp.path().join("profiles/web");
        let lib = tmp.path().join("lib");
        let old = lib.join("nixproc-sysvinit/web");
        fs::create_dir_all(old.join("logs")).unwrap();
        fs::write(old.join("logs/a.start.log"), "old a\n").unwrap();
        fs::write(old.join("logs/b.start.log"), "old b\n").unwrap();
        let dir = ToolDir::locate(&profile, &[]).unwrap();
        fs::create_dir_all(dir.path().join("logs")).unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(dir.path().join("logs/a.start.log"), "new a\n").unwrap();
        let opened = open(&options(&profile, &lib), &mut |_| {}).unwrap();
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
            fs::read_to_string(old.join("logs/a.start.log")).unwrap(),
            "old a\n"
        );
        let moved = fs::read_to_string(old.join(MOVED_FILE)).unwrap();
        assert!(moved.contains(&dir.path().display().to_string()), "{moved}");
        // A directory with a MOVED file is done with.
        assert!(open(&options(&profile, &lib), &mut |_| {})
            .unwrap()
            .moved
            .is_empty());
    }

    #[test]
    fn old_state_of_another_link_of_that_name_stays() {
        let tmp = scratch();
        let profile = tmp.path().join("profiles/web");
        let lib = tmp.path().join("lib");
        let old = lib.join("nixproc-sysvinit/web");
        fs::create_dir_all(&old).unwrap();
        // Its journal names another link of the same name.
        let other = tmp.path().join("elsewhere/web");
        fs::write(old.join(JOURNAL_FILE), journal_of(&other)).unwrap();
        assert!(open(&options(&profile, &lib), &mut |_| {})
            .unwrap()
            .moved
            .is_empty());
        assert!(old.join(JOURNAL_FILE).exists());
        // Without a journal, and the state directory not named by the options, it stays.
        fs::remove_file(old.join(JOURNAL_FILE)).unwrap();
        fs::write(old.join("flake-model.nix"), "{}").unwrap();
        let unnamed = StateOptions {
            lib_dir: None,
            ..options(&profile, &lib)
        };
        let dir = ToolDir::locate(&profile, &[]).unwrap();
        assert!(!dir.takes_over(&old, false));
        assert!(dir.takes_over(&old, true));
        assert!(!unnamed.old_lib_dirs().iter().any(|(l, _)| l == &lib));
    }

    #[test]
    fn an_old_state_directory_others_can_write_is_refused() {
        let tmp = scratch();
        let profile = tmp.path().join("profiles/web");
        let lib = tmp.path().join("lib");
        let old = lib.join("nixproc-sysvinit/web");
        fs::create_dir_all(&old).unwrap();
        fs::write(old.join(JOURNAL_FILE), journal_of(&profile)).unwrap();
        fs::set_permissions(&old, fs::Permissions::from_mode(0o777)).unwrap();
        let e = open(&options(&profile, &lib), &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains("old state directory"), "{e}");
        assert!(old.join(JOURNAL_FILE).exists());
    }

    #[test]
    fn the_old_lock_is_taken_before_anything_moves() {
        let tmp = scratch();
        let profile = tmp.path().join("profiles/web");
        let lib = tmp.path().join("lib");
        let old = lib.join("nixproc-sysvinit/web");
        fs::create_dir_all(&old).unwrap();
        fs::write(old.join(JOURNAL_FILE), journal_of(&profile)).unwrap();
        let _held = Lock::acquire(&old, Wait::No, &mut |_| {}).unwrap();
        let e = open(&options(&profile, &lib), &mut |_| {}).unwrap_err();
        assert!(matches!(e, DeployError::Locked { .. }), "{e}");
        assert!(e
            .to_string()
            .contains(&old.join(LOCK_FILE).display().to_string()));
        assert!(old.join(JOURNAL_FILE).exists());
    }

    #[test]
    fn registries_merge_claims_of_both_formats() {
        let mut ours =
            json!({"users": {"u": {"claims": ["/p/a"]}, "v": {"claims": [], "pending": "busy"}}});
        let theirs = json!({"groups": {"g": ["/p/b"]}, "users": {"u": ["/p/b"], "v": {"claims": ["/p/c"], "pending": "old"}}});
        merge_registry(&mut ours, theirs).unwrap();
        assert_eq!(ours["users"]["u"], json!({"claims": ["/p/a", "/p/b"]}));
        assert_eq!(
            ours["users"]["v"],
            json!({"claims": ["/p/c"], "pending": "busy"})
        );
        assert_eq!(ours["groups"]["g"], json!({"claims": ["/p/b"]}));
        assert!(merge_registry(&mut json!([]), json!({})).is_err());
    }

    #[test]
    fn a_users_state_directory_follows_xdg() {
        let d =
            |x: Option<&str>, h: Option<&str>| state_dir_from(x.map(Into::into), h.map(Into::into));
        assert_eq!(
            d(Some("/x/state"), Some("/home/u")),
            Some(PathBuf::from("/x/state/nixproc-sysvinit"))
        );
        assert_eq!(
            d(Some("relative"), Some("/home/u")),
            Some(PathBuf::from("/home/u/.local/state/nixproc-sysvinit"))
        );
        assert_eq!(d(None, None), None);
    }
}
