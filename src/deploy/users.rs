//! Groups and users from a profile's `dysnomia-support` credential files.
//!
//! A credential file holds `key=value` lines whose values follow POSIX shell quoting
//! (single quotes, backslash escapes, double quotes); the file is parsed, never
//! evaluated. Groups and users missing on the system are created with `groupadd` and
//! `useradd` before processes start. A file that would make its account privileged
//! (uid or gid 0, a group of [`PRIVILEGED_GROUPS`]) is refused unless it carries
//! `allowPrivilegedCredentials=1`, which the renderer writes only for a process that
//! opted in; so a hand-made profile cannot slip a user into `sudo` either.
//!
//! Every account this tool created is recorded in one registry per machine
//! ([`AccountStore`]; for root `/var/lib/nixproc-sysvinit/accounts.json` whatever the
//! state directory) with the profile links whose deployment uses it (its claims). After
//! a switch, the profile releases the accounts its deployment no longer mentions; an
//! account is deleted with `userdel`/`groupdel` only when no claim is left and no
//! running process uses it. A deletion that is put off (a process still runs as the
//! user) or fails is recorded as pending, reported as a warning, and retried by the
//! next switch of any profile; it never fails the switch. An account that existed
//! before is never recorded, hence never removed. With `forceDisableUserChange` no
//! account is touched: only home directories are created.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{CStr, CString, OsStr};
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::profile::Profile;
use super::{run_capture, DeployError, Result};
use crate::spec::{privileged_credential, PRIVILEGED_GROUPS};
use crate::tree::credentials::{self, allows_privileged, says_yes, Fields, ALLOW_PRIVILEGED_KEY};
use crate::tree::layout::{GROUPS, USERS};

/// Runs an account tool, retrying while another tool holds the account database lock.
fn run_account_tool(cmd: &mut Command) -> Result<String> {
    let mut tries = 0;
    loop {
        match run_capture(cmd) {
            Err(DeployError::Command { message, .. })
                if message.contains("cannot lock") && tries < 50 =>
            {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// Reads and parses a credential file (see [`tree::credentials`](crate::tree::credentials)
/// for the format); errors name the file and the line.
pub fn read_credentials(path: &Path) -> Result<Fields> {
    let text = fs::read_to_string(path).map_err(|e| DeployError::io("reading", path, e))?;
    credentials::parse(&text).map_err(|e| DeployError::Credentials {
        path: path.to_path_buf(),
        line: e.line,
        message: e.message,
    })
}

/// A set of group and user names (what a switch created or removed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accounts {
    /// Group names.
    pub groups: BTreeSet<String>,
    /// User names.
    pub users: BTreeSet<String>,
}

/// File name of the account registry.
pub const ACCOUNTS_FILE: &str = "accounts.json";

/// File name of the registry's lock, next to it.
const LOCK_FILE: &str = "accounts.lock";

/// The registry directory of root, whatever the state directory of a switch.
pub const MACHINE_ACCOUNTS_DIR: &str = "/var/lib/nixproc-sysvinit";

/// Environment variable naming another registry directory (for tests, or a machine
/// that keeps `/var/lib` elsewhere). Every switch sharing accounts must see the same.
pub const ACCOUNTS_DIR_ENV: &str = "NIXPROC_SYSVINIT_ACCOUNTS_DIR";

/// The registry of the accounts this tool created, one per machine: for each account,
/// the profiles whose deployment uses it. An account is removed when the last of them
/// stops using it and no process runs as it, so profiles in different state directories
/// can share a user safely.
///
/// The registry lives in [`registry_dir`](Self::registry_dir), a directory that must
/// belong to the caller and be writable by nobody else, reached without following a
/// symlink that anyone but root or the caller could have made. Changes happen under an
/// exclusive `flock` on `accounts.lock` and are written to a temporary file, synced and
/// renamed over `accounts.json`, so concurrent switches of different profiles and a
/// crash leave a whole registry.
#[derive(Debug, Clone)]
pub struct AccountStore {
    /// The directory `LIBDIR/nixproc-sysvinit` of the state directory in use. Callers
    /// other than root keep their registry there; root uses [`MACHINE_ACCOUNTS_DIR`]
    /// and merges a registry an earlier version left here into it.
    pub dir: PathBuf,
    /// Who is asking: the profile link, as a string.
    pub owner: String,
}

/// The kind of an account, and the tools that look it up, create and delete it.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Group,
    User,
}

impl Kind {
    /// The `getent` database holding this kind of account.
    fn database(self) -> &'static str {
        match self {
            Kind::Group => "group",
            Kind::User => "passwd",
        }
    }

    /// The tool deleting an account of this kind.
    fn delete_tool(self) -> &'static str {
        match self {
            Kind::Group => "groupdel",
            Kind::User => "userdel",
        }
    }

    /// The credential files of this kind in `profile`, by account name.
    fn files(self, profile: &Profile) -> &BTreeMap<String, PathBuf> {
        match self {
            Kind::Group => &profile.groups,
            Kind::User => &profile.users,
        }
    }

    /// The directory name of the credential files of this kind (`groups`, `users`).
    fn directory(self) -> &'static str {
        match self {
            Kind::Group => GROUPS,
            Kind::User => USERS,
        }
    }

    /// The word for an account of this kind in messages.
    fn word(self) -> &'static str {
        match self {
            Kind::Group => "group",
            Kind::User => "user",
        }
    }
}

impl Accounts {
    /// The names of one kind.
    fn of(&mut self, kind: Kind) -> &mut BTreeSet<String> {
        match kind {
            Kind::Group => &mut self.groups,
            Kind::User => &mut self.users,
        }
    }
}

/// One account of the registry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "EntryFormat")]
struct Entry {
    /// The profile links whose deployment (or switch in progress) uses the account.
    claims: BTreeSet<String>,
    /// Why the last attempt to delete the account, once unclaimed, did not succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pending: Option<String>,
}

/// The forms of a registry entry on disk.
#[derive(Deserialize)]
#[serde(untagged)]
enum EntryFormat {
    /// Earlier versions recorded the claims alone.
    Claims(BTreeSet<String>),
    /// Claims and the pending deletion.
    Full {
        claims: BTreeSet<String>,
        #[serde(default)]
        pending: Option<String>,
    },
}

impl From<EntryFormat> for Entry {
    fn from(format: EntryFormat) -> Entry {
        match format {
            EntryFormat::Claims(claims) => Entry {
                claims,
                pending: None,
            },
            EntryFormat::Full { claims, pending } => Entry { claims, pending },
        }
    }
}

/// The registry file's content: the accounts this tool created, by name.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Registry {
    #[serde(default)]
    groups: BTreeMap<String, Entry>,
    #[serde(default)]
    users: BTreeMap<String, Entry>,
}

impl Registry {
    /// The accounts of one kind.
    fn of(&mut self, kind: Kind) -> &mut BTreeMap<String, Entry> {
        match kind {
            Kind::Group => &mut self.groups,
            Kind::User => &mut self.users,
        }
    }

    /// Adds the accounts and claims of `other` (an older registry being merged).
    fn merge(&mut self, other: Registry) {
        for (kind, accounts) in [(Kind::Group, other.groups), (Kind::User, other.users)] {
            for (name, entry) in accounts {
                let mine = self.of(kind).entry(name).or_default();
                mine.claims.extend(entry.claims);
                if mine.pending.is_none() {
                    mine.pending = entry.pending;
                }
            }
        }
    }
}

/// The effective user id of this process.
fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// A path component or file name as a C string.
fn c_name(name: &std::ffi::OsStr) -> std::io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "name contains a NUL byte")
    })
}

/// The result of a libc call returning -1 on failure, as an `io::Result`.
fn check_os(ret: libc::c_int) -> std::io::Result<libc::c_int> {
    if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `fstat` of an open descriptor.
fn fstat(fd: &impl AsRawFd) -> std::io::Result<libc::stat> {
    // SAFETY: a zeroed stat is a valid out-buffer; the descriptor is open.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check_os(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

/// A directory opened by descriptor: files in it are reached relative to it, so
/// nothing can redirect them once it was checked.
#[derive(Debug)]
struct SafeDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl SafeDir {
    /// Opens `path` (creating missing directories with mode 0755 when `create`),
    /// component by component from `/`. A symbolic link is followed only when root or
    /// the caller owns it; every directory on the way must belong to root or the caller
    /// and be writable by nobody else (or sticky, like `/tmp`); the directory itself
    /// must belong to the caller and be writable by nobody else. `Ok(None)` when a
    /// component is missing and `create` is false.
    fn open(path: &Path, create: bool) -> Result<Option<SafeDir>> {
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| DeployError::io("resolving", path, e))?
                .join(path)
        };
        let mut walk = Walk::from_root(&absolute)?;
        let names = normal_components(&absolute)
            .ok_or_else(|| walk.refuse("must not contain `..`".into()))?;
        for (i, name) in names.iter().enumerate() {
            walk.check_passable()?;
            let cname = c_name(name).map_err(|e| walk.io_error(e))?;
            let Some(created) = walk.look_up(name, &cname, create)? else {
                return Ok(None);
            };
            walk.descend(name, &cname, created)?;
            if i + 1 == names.len() {
                walk.check_target()?;
            }
        }
        Ok(Some(SafeDir {
            fd: walk.fd,
            path: absolute,
        }))
    }

    /// Opens `name` in this directory with `flags` (never through a symlink).
    fn open_file(&self, name: &str, flags: libc::c_int) -> std::io::Result<fs::File> {
        let cname = c_name(name.as_ref())?;
        // SAFETY: the directory descriptor and cname are valid.
        let fd = check_os(unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                cname.as_ptr(),
                flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                0o600 as libc::c_uint,
            )
        })?;
        // SAFETY: `fd` is a descriptor we just opened and now own.
        Ok(unsafe { fs::File::from_raw_fd(fd) })
    }

    /// Reads file `name`; `Ok(None)` when it does not exist. It must be a regular file
    /// of the caller's.
    fn read(&self, name: &str) -> Result<Option<String>> {
        let path = self.path.join(name);
        let mut file = match self.open_file(name, libc::O_RDONLY) {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
            Err(e) => return Err(DeployError::io("opening", path, e)),
        };
        let st = fstat(&file).map_err(|e| DeployError::io("reading", &path, e))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG || st.st_uid != euid() {
            return Err(DeployError::Other(format!(
                "account registry {}: not a regular file of uid {}",
                path.display(),
                euid()
            )));
        }
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| DeployError::io("reading", &path, e))?;
        Ok(Some(text))
    }

    /// Replaces file `name` with `text`: a temporary file, synced, renamed over it.
    fn replace(&self, name: &str, text: &str) -> Result<()> {
        let path = self.path.join(name);
        let tmp = format!("{name}.tmp");
        (|| -> std::io::Result<()> {
            let mut f = self.open_file(&tmp, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            self.rename(&tmp, name)?;
            // SAFETY: fsync of the directory descriptor, so the rename is durable.
            check_os(unsafe { libc::fsync(self.fd.as_raw_fd()) })?;
            Ok(())
        })()
        .map_err(|e| DeployError::io("writing", path, e))
    }

    /// Renames the file `from` in this directory to `to` in it.
    fn rename(&self, from: &str, to: &str) -> std::io::Result<()> {
        let (from, to) = (c_name(from.as_ref())?, c_name(to.as_ref())?);
        // SAFETY: both names are relative to the same open directory.
        check_os(unsafe {
            libc::renameat(
                self.fd.as_raw_fd(),
                from.as_ptr(),
                self.fd.as_raw_fd(),
                to.as_ptr(),
            )
        })?;
        Ok(())
    }
}

/// The names along an absolute path, or `None` when it has a `..` (or a prefix).
fn normal_components(path: &Path) -> Option<Vec<&OsStr>> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(Some(n)),
            Component::RootDir | Component::CurDir => None,
            Component::ParentDir | Component::Prefix(_) => Some(None),
        })
        .collect()
}

/// The status of `name` in the directory `dir`: of a symbolic link itself, never of
/// what it points to.
fn lstat_at(dir: &impl AsRawFd, name: &CStr) -> std::io::Result<libc::stat> {
    // SAFETY: a zeroed stat is a valid out-buffer; the descriptor and name are valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check_os(unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(st)
}

/// The walk of [`SafeDir::open`] from `/` down to the directory it opens: the
/// directory reached so far, held open, and what the checks on the way need.
struct Walk<'a> {
    /// The whole path being opened, for messages.
    absolute: &'a Path,
    /// The caller's effective uid.
    me: u32,
    /// The directory reached so far.
    fd: OwnedFd,
    /// Its path.
    at: PathBuf,
}

impl<'a> Walk<'a> {
    /// Starts a walk to `absolute` at `/`.
    fn from_root(absolute: &'a Path) -> Result<Walk<'a>> {
        let me = euid();
        // SAFETY: opening "/" with a NUL-terminated literal.
        let root = check_os(unsafe {
            libc::open(
                b"/\0".as_ptr().cast(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        })
        .map_err(|e| DeployError::io("opening", absolute, e))?;
        Ok(Walk {
            absolute,
            me,
            // SAFETY: `root` is a descriptor we just opened and now own.
            fd: unsafe { OwnedFd::from_raw_fd(root) },
            at: PathBuf::from("/"),
        })
    }

    /// The error refusing the whole path, saying why.
    fn refuse(&self, what: String) -> DeployError {
        DeployError::Other(format!(
            "account registry directory {}: {what}",
            self.absolute.display()
        ))
    }

    /// An I/O error, reported as one opening the whole path.
    fn io_error(&self, e: std::io::Error) -> DeployError {
        DeployError::io("opening", self.absolute, e)
    }

    /// Whether `uid` is root or the caller.
    fn trusted(&self, uid: u32) -> bool {
        uid == 0 || uid == self.me
    }

    /// Refuses to go on through the directory reached unless it belongs to root or
    /// the caller and is writable by nobody else (or sticky, like `/tmp`).
    fn check_passable(&self) -> Result<()> {
        let st = fstat(&self.fd).map_err(|e| self.io_error(e))?;
        let sticky = st.st_mode & libc::S_ISVTX != 0;
        if !self.trusted(st.st_uid) || (st.st_mode & 0o022 != 0 && !sticky) {
            return Err(self.refuse(format!(
                "{} belongs to uid {} or is writable by others",
                self.at.display(),
                st.st_uid
            )));
        }
        Ok(())
    }

    /// Looks `name` up in the directory reached without following a symbolic link,
    /// and refuses a link neither root nor the caller made. A missing `name` is made a
    /// directory when `create`. `Some(created)` once it is there (`created`: made by
    /// this walk); `None` when it is missing and not to be created.
    fn look_up(&self, name: &OsStr, cname: &CStr, create: bool) -> Result<Option<bool>> {
        let mut created = false;
        loop {
            match lstat_at(&self.fd, cname) {
                Ok(lst) => {
                    self.check_link(name, &lst)?;
                    return Ok(Some(created));
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) && create => {
                    created |= self.make_dir(name, cname)?;
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
                Err(e) => return Err(DeployError::io("opening", self.at.join(name), e)),
            }
        }
    }

    /// Refuses `name` of the directory reached when `lst`, its own status, shows a
    /// symbolic link made by anyone but root or the caller.
    fn check_link(&self, name: &OsStr, lst: &libc::stat) -> Result<()> {
        if lst.st_mode & libc::S_IFMT == libc::S_IFLNK && !self.trusted(lst.st_uid) {
            return Err(self.refuse(format!(
                "{} is a symbolic link made by uid {}",
                self.at.join(name).display(),
                lst.st_uid
            )));
        }
        Ok(())
    }

    /// Makes the directory `name` (mode 0755 less the umask) in the directory reached:
    /// `true` when made now, `false` when something of that name appeared meanwhile.
    fn make_dir(&self, name: &OsStr, cname: &CStr) -> Result<bool> {
        // SAFETY: fd and cname are valid.
        match check_os(unsafe { libc::mkdirat(self.fd.as_raw_fd(), cname.as_ptr(), 0o755) }) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(false),
            Err(e) => Err(DeployError::io("creating", self.at.join(name), e)),
        }
    }

    /// Opens the directory `name` of the directory reached, once
    /// [`look_up`](Self::look_up) checked it, and goes on from there; one this walk
    /// `created` gets mode 0755 whatever the umask.
    fn descend(&mut self, name: &OsStr, cname: &CStr, created: bool) -> Result<()> {
        // SAFETY: fd and cname are valid; a link here was checked just above, and
        // its parent is writable by nobody else, or sticky, so it stays the same.
        let next = check_os(unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                cname.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        })
        .map_err(|e| DeployError::io("opening", self.at.join(name), e))?;
        // SAFETY: `next` is a descriptor we just opened and now own.
        self.fd = unsafe { OwnedFd::from_raw_fd(next) };
        self.at.push(name);
        if created {
            // The umask may have left it group-writable.
            // SAFETY: fd is an open directory we created.
            check_os(unsafe { libc::fchmod(self.fd.as_raw_fd(), 0o755) })
                .map_err(|e| DeployError::io("setting the mode of", &self.at, e))?;
        }
        Ok(())
    }

    /// Refuses the directory reached, the last of the path, unless it belongs to the
    /// caller and is writable by nobody else.
    fn check_target(&self) -> Result<()> {
        let st = fstat(&self.fd).map_err(|e| self.io_error(e))?;
        if st.st_uid != self.me || st.st_mode & 0o022 != 0 {
            return Err(self.refuse(format!(
                "it must belong to uid {} and be writable by nobody else (it belongs to uid {}, mode {:o}; chown it or chmod go-w it)",
                self.me,
                st.st_uid,
                st.st_mode & 0o7777
            )));
        }
        Ok(())
    }
}

/// The registry opened and locked: dropped, it releases the lock.
#[derive(Debug)]
struct Session {
    dir: SafeDir,
    _lock: fs::File,
}

impl Session {
    /// Reads the registry; a missing file is an empty registry.
    fn load(&self) -> Result<Registry> {
        let path = self.dir.path.join(ACCOUNTS_FILE);
        match self.dir.read(ACCOUNTS_FILE)? {
            Some(text) => serde_json::from_str(&text).map_err(|e| {
                DeployError::Other(format!(
                    "account registry {}: {e}; repair the file or remove it (the accounts it lists would then never be deleted by this tool)",
                    path.display()
                ))
            }),
            None => Ok(Registry::default()),
        }
    }

    /// Writes the registry atomically.
    fn save(&self, reg: &Registry) -> Result<()> {
        let text = serde_json::to_string_pretty(reg).map_err(|e| {
            DeployError::Other(format!(
                "account registry {}: {e}",
                self.dir.path.join(ACCOUNTS_FILE).display()
            ))
        })?;
        self.dir.replace(ACCOUNTS_FILE, &text)
    }
}

impl AccountStore {
    /// The directory of the registry: `$NIXPROC_SYSVINIT_ACCOUNTS_DIR` when set, else
    /// [`MACHINE_ACCOUNTS_DIR`] for root and [`dir`](Self::dir) for anybody else.
    pub fn registry_dir(&self) -> PathBuf {
        match std::env::var_os(ACCOUNTS_DIR_ENV).filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None if euid() == 0 => PathBuf::from(MACHINE_ACCOUNTS_DIR),
            None => self.dir.clone(),
        }
    }

    /// How the registry names [`owner`](Self::owner): as an absolute path, so that one
    /// profile link named from two working directories is one claimant.
    fn claimant(&self) -> String {
        let owner = Path::new(&self.owner);
        if owner.is_absolute() {
            return self.owner.clone();
        }
        std::env::current_dir()
            .map(|d| d.join(owner).to_string_lossy().into_owned())
            .unwrap_or_else(|_| self.owner.clone())
    }

    /// An older registry in [`dir`](Self::dir) to merge into the machine's, if any.
    fn legacy(&self) -> Option<PathBuf> {
        let registry = self.registry_dir();
        let same = registry == self.dir
            || matches!(
                (fs::canonicalize(&registry), fs::canonicalize(&self.dir)),
                (Ok(a), Ok(b)) if a == b
            );
        let file = self.dir.join(ACCOUNTS_FILE);
        (!same && file.symlink_metadata().is_ok()).then_some(file)
    }

    /// Opens and locks the registry (waiting for the lock). Without `create`, returns
    /// `None` when there is no registry yet, which means nothing to release.
    fn session(&self, create: bool) -> Result<Option<Session>> {
        let legacy = self.legacy();
        let create = create || legacy.is_some();
        let Some(dir) = SafeDir::open(&self.registry_dir(), create)? else {
            return Ok(None);
        };
        if !create && dir.read(ACCOUNTS_FILE)?.is_none() {
            return Ok(None);
        }
        let lock_path = dir.path.join(LOCK_FILE);
        let lock = dir
            .open_file(LOCK_FILE, libc::O_RDWR | libc::O_CREAT)
            .map_err(|e| DeployError::io("opening", &lock_path, e))?;
        // SAFETY: flock on a descriptor we own; released when the file closes.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(DeployError::io(
                "locking",
                &lock_path,
                std::io::Error::last_os_error(),
            ));
        }
        let session = Session { dir, _lock: lock };
        if legacy.is_some() {
            self.merge_legacy(&session)?;
        }
        Ok(Some(session))
    }

    /// Merges the registry an earlier version kept in [`dir`](Self::dir) into the
    /// locked registry, then renames it `accounts.json.merged`. A registry in a
    /// directory others could write is not trusted: it is left alone, with a warning.
    fn merge_legacy(&self, session: &Session) -> Result<()> {
        let old_dir = match SafeDir::open(&self.dir, false) {
            Ok(Some(d)) => d,
            Ok(None) => return Ok(()),
            Err(e) => {
                eprintln!("warning: not merging an older account registry: {e}");
                return Ok(());
            }
        };
        let Some(text) = old_dir.read(ACCOUNTS_FILE)? else {
            return Ok(());
        };
        let old_path = old_dir.path.join(ACCOUNTS_FILE);
        let old: Registry = serde_json::from_str(&text).map_err(|e| {
            DeployError::Other(format!("account registry {}: {e}", old_path.display()))
        })?;
        let mut reg = session.load()?;
        reg.merge(old);
        session.save(&reg)?;
        old_dir
            .rename(ACCOUNTS_FILE, &format!("{ACCOUNTS_FILE}.merged"))
            .map_err(|e| DeployError::io("renaming", &old_path, e))
    }
}

/// The numeric id of a group or user (`getent group|passwd NAME`, third field).
fn account_id(kind: Kind, name: &str) -> Option<u32> {
    let out = Command::new("getent")
        .args([kind.database(), name])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()?
        .split(':')
        .nth(2)?
        .parse()
        .ok()
}

/// The name of the group with numeric id `gid` on this system, if there is one.
fn group_name(gid: &str) -> Option<String> {
    let out = Command::new("getent")
        .args(["group", gid])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let name = text.lines().next()?.split(':').next()?;
    (!name.is_empty()).then(|| name.to_string())
}

/// Running processes that use account `id` of `kind`: as their real, effective, saved
/// or filesystem uid (users), or gid or supplementary group (groups); zombies do not
/// count. Each as `PID (COMMAND)`.
fn processes_using(kind: Kind, id: u32) -> Vec<String> {
    let fields: &[&str] = match kind {
        Kind::User => &["Uid:"],
        Kind::Group => &["Gid:", "Groups:"],
    };
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(status) = fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        // A zombie runs nothing any more (and userdel ignores it too).
        let dead = status.lines().any(|l| {
            l.strip_prefix("State:")
                .is_some_and(|st| matches!(st.trim_start().chars().next(), Some('Z' | 'X')))
        });
        if dead {
            continue;
        }
        let uses = status.lines().any(|line| {
            fields.iter().any(|f| {
                line.strip_prefix(f).is_some_and(|ids| {
                    ids.split_whitespace()
                        .any(|v| v.parse::<u32>().ok() == Some(id))
                })
            })
        });
        if uses {
            let command = status
                .lines()
                .find_map(|l| l.strip_prefix("Name:"))
                .map(str::trim)
                .unwrap_or("?");
            found.push(format!("{pid} ({command})"));
        }
    }
    found.sort();
    found
}

/// What an attempt to delete an unclaimed account came to.
#[derive(Debug)]
enum Deletion {
    /// Deleted now.
    Deleted,
    /// It no longer exists (deleted by someone else, or by an interrupted switch).
    Gone,
    /// Not deleted, and why; retried later.
    Kept(String),
}

/// Deletes an account nothing claims any more, unless a process still uses it.
fn delete(kind: Kind, name: &str) -> Deletion {
    let Some(id) = account_id(kind, name) else {
        return Deletion::Gone;
    };
    if id == 0 {
        return Deletion::Kept(format!("it has {} id 0", kind.word()));
    }
    let users = processes_using(kind, id);
    if !users.is_empty() {
        let shown: Vec<&str> = users.iter().take(3).map(String::as_str).collect();
        let more = if users.len() > 3 {
            format!(" and {} more", users.len() - 3)
        } else {
            String::new()
        };
        return Deletion::Kept(format!(
            "still in use by process{} {}{more}",
            if users.len() == 1 { "" } else { "es" },
            shown.join(", ")
        ));
    }
    match run_account_tool(Command::new(kind.delete_tool()).arg("--").arg(name)) {
        Ok(_) => Deletion::Deleted,
        Err(e) => Deletion::Kept(e.to_string()),
    }
}

/// Whether a group or user exists (`getent group|passwd NAME`).
pub fn exists(database: &str, name: &str) -> bool {
    Command::new("getent")
        .args([database, name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Refuses a credential file that would make its account privileged (see
/// [`privileged_credential`]) unless it carries `allowPrivilegedCredentials=1`.
fn check_privileged(kind: Kind, name: &str, fields: &Fields, path: &Path) -> Result<()> {
    if allows_privileged(fields) {
        return Ok(());
    }
    match privileged_credential(kind.directory(), name, fields, &group_name) {
        None => Ok(()),
        Some((key, what)) => Err(DeployError::Profile {
            path: path.to_path_buf(),
            message: format!(
                "{}{what}; if that is intended, add the line {ALLOW_PRIVILEGED_KEY}=1 to the file (the renderer writes it for a process with `{ALLOW_PRIVILEGED_KEY} = true`); privileged groups: {}",
                key.map(|k| format!("`{k}` ")).unwrap_or_default(),
                PRIVILEGED_GROUPS.join(" ")
            ),
        }),
    }
}

/// Creates the groups and users of `profile` that do not exist yet (or, with
/// `force_disable_user_change`, only their home directories), recording each account
/// as soon as it exists. Accounts this tool created earlier are claimed for
/// `store.owner` too (and made again if someone deleted them); accounts that existed
/// otherwise are left alone. Fails before touching anything when a credential file is
/// malformed or privileged without opting in. Returns what was created.
pub fn ensure(
    profile: &Profile,
    store: &AccountStore,
    force_disable_user_change: bool,
) -> Result<Accounts> {
    let users = read_all(profile, Kind::User)?;
    let groups = read_all(profile, Kind::Group)?;
    if force_disable_user_change {
        create_home_dirs(&users)?;
        return Ok(Accounts::default());
    }
    for (kind, accounts) in [(Kind::Group, &groups), (Kind::User, &users)] {
        for (name, fields) in accounts {
            check_privileged(kind, name, fields, &kind.files(profile)[name])?;
        }
    }
    if users.is_empty() && groups.is_empty() {
        return Ok(Accounts::default());
    }
    let session = store
        .session(true)?
        .ok_or_else(|| DeployError::Other("account registry: not created".into()))?;
    let reg = session.load()?;
    let mut claiming = Claiming {
        store,
        session,
        reg,
        created: Accounts::default(),
    };
    for (name, fields) in &groups {
        claiming.ensure_one(Kind::Group, name, groupadd(name, fields))?;
    }
    for (name, fields) in &users {
        claiming.ensure_one(Kind::User, name, useradd(name, fields))?;
    }
    Ok(claiming.created)
}

/// The credential files of one kind in `profile`, read and parsed, by account name.
fn read_all(profile: &Profile, kind: Kind) -> Result<Vec<(String, Fields)>> {
    kind.files(profile)
        .iter()
        .map(|(n, p)| read_credentials(p).map(|f| (n.clone(), f)))
        .collect()
}

/// What [`ensure`] does under `forceDisableUserChange`: it creates the home directories
/// of the `users` whose files say `createHomeDir`, and no account.
fn create_home_dirs(users: &[(String, Fields)]) -> Result<()> {
    for (_, fields) in users {
        if let Some(home) = fields.get("homeDir") {
            if says_yes(fields, "createHomeDir") {
                fs::create_dir_all(home).map_err(|e| DeployError::io("creating", home, e))?;
            }
        }
    }
    Ok(())
}

/// The locked registry while [`ensure`] claims and creates accounts, and what it has
/// created so far.
struct Claiming<'a> {
    /// Whose claims these are.
    store: &'a AccountStore,
    /// The registry's lock.
    session: Session,
    /// The registry as last saved.
    reg: Registry,
    /// The accounts created so far.
    created: Accounts,
}

impl Claiming<'_> {
    /// Makes sure account `name` of `kind` exists, running `add` to create it. An
    /// account of the registry is claimed for the store's owner (and made again if
    /// someone deleted it); one that exists otherwise is left alone; a missing one is
    /// made, recorded and claimed. The registry is saved whenever it changed.
    fn ensure_one(&mut self, kind: Kind, name: &str, mut add: Command) -> Result<()> {
        if let Some(entry) = self.reg.of(kind).get_mut(name) {
            let claimed = entry.claims.insert(self.store.claimant());
            let was_pending = entry.pending.take().is_some();
            let missing = !exists(kind.database(), name);
            if missing {
                run_account_tool(&mut add)?;
                self.created.of(kind).insert(name.to_string());
            }
            if claimed || was_pending || missing {
                self.session.save(&self.reg)?;
            }
            return Ok(());
        }
        if exists(kind.database(), name) {
            return Ok(());
        }
        run_account_tool(&mut add)?;
        self.reg.of(kind).insert(
            name.to_string(),
            Entry {
                claims: BTreeSet::from([self.store.claimant()]),
                pending: None,
            },
        );
        self.created.of(kind).insert(name.to_string());
        self.session.save(&self.reg)
    }
}

/// The `groupadd` command creating group `name` as its credential file asks.
fn groupadd(name: &str, fields: &Fields) -> Command {
    let mut cmd = Command::new("groupadd");
    cmd.arg("--system");
    if let Some(gid) = fields.get("gid") {
        cmd.args(["--gid", gid]);
    }
    cmd.arg("--").arg(name);
    cmd
}

/// The `useradd` command creating user `name` as its credential file asks.
fn useradd(name: &str, fields: &Fields) -> Command {
    let mut cmd = Command::new("useradd");
    cmd.arg("--system");
    match fields.get("group") {
        Some(g) => cmd.args(["--gid", g]),
        None => cmd.arg("--user-group"),
    };
    if let Some(uid) = fields.get("uid") {
        cmd.args(["--uid", uid]);
    }
    if let Some(groups) = fields.get("extraGroups").filter(|g| !g.trim().is_empty()) {
        cmd.args(["--groups", groups]);
    }
    if let Some(d) = fields.get("description") {
        cmd.args(["--comment", d]);
    }
    if let Some(h) = fields.get("homeDir") {
        cmd.args(["--home-dir", h]);
    }
    if says_yes(fields, "createHomeDir") {
        cmd.arg("--create-home");
    } else {
        cmd.arg("--no-create-home");
    }
    if let Some(s) = fields.get("shell") {
        cmd.args(["--shell", s]);
    }
    cmd.arg("--").arg(name);
    cmd
}

/// Releases the accounts `store.owner` used that `keep` (its deployed profile) no longer
/// mentions, then deletes every account of the registry that no profile claims any
/// more, users first, then groups. A deletion put off (a process still uses the
/// account) or failed is recorded as pending, reported on stderr as a warning and
/// retried by the next call, whichever profile makes it. Returns what was deleted.
///
/// It never fails: a switch calls it once its profile has moved, and an error then would
/// leave the switch unfinished for every later one. A registry that cannot be read or
/// written is reported as a warning too; at worst an account stays, and a later call
/// deletes it.
pub fn prune(
    keep: &Profile,
    store: &AccountStore,
    force_disable_user_change: bool,
) -> Result<Accounts> {
    let mut removed = Accounts::default();
    if force_disable_user_change {
        return Ok(removed);
    }
    if let Err(e) = release_and_delete(keep, store, &mut removed) {
        eprintln!("warning: accounts no profile uses any more were not all deleted: {e}");
    }
    Ok(removed)
}

/// The work of [`prune`], adding what it deleted to `removed`.
fn release_and_delete(keep: &Profile, store: &AccountStore, removed: &mut Accounts) -> Result<()> {
    let Some(session) = store.session(false)? else {
        return Ok(());
    };
    let mut reg = session.load()?;
    if reg.release(keep, &store.claimant()) {
        session.save(&reg)?;
    }
    for kind in [Kind::User, Kind::Group] {
        for name in reg.unclaimed(kind) {
            let deletion = delete(kind, &name);
            reg.settle(kind, name, deletion, removed);
            session.save(&reg)?;
        }
    }
    Ok(())
}

/// The steps of [`release_and_delete`].
impl Registry {
    /// Drops the claim of `claimant` on every account `keep` (its deployed profile) no
    /// longer mentions; whether it dropped any.
    fn release(&mut self, keep: &Profile, claimant: &str) -> bool {
        let mut released = false;
        for kind in [Kind::User, Kind::Group] {
            for (name, entry) in self.of(kind).iter_mut() {
                if !kind.files(keep).contains_key(name) && entry.claims.remove(claimant) {
                    released = true;
                }
            }
        }
        released
    }

    /// The accounts of `kind` that no profile claims, by name.
    fn unclaimed(&mut self, kind: Kind) -> Vec<String> {
        self.of(kind)
            .iter()
            .filter(|(_, e)| e.claims.is_empty())
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Records what became of the attempt to delete the unclaimed account `name`: one
    /// deleted (added to `removed`) or already gone leaves the registry; one kept is
    /// marked pending, with a warning on stderr, for the next switch to retry.
    fn settle(&mut self, kind: Kind, name: String, deletion: Deletion, removed: &mut Accounts) {
        match deletion {
            Deletion::Deleted => {
                removed.of(kind).insert(name.clone());
                self.of(kind).remove(&name);
            }
            Deletion::Gone => {
                self.of(kind).remove(&name);
            }
            Deletion::Kept(reason) => {
                eprintln!(
                    "warning: {} `{name}` is used by no profile any more but was not deleted: {reason}; the next switch tries again",
                    kind.word()
                );
                if let Some(entry) = self.of(kind).get_mut(&name) {
                    entry.pending = Some(reason);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_errors_name_the_file_and_line() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("web");
        fs::write(&path, "group='web'\nx=$(rm -rf /)\n").unwrap();
        let e = read_credentials(&path).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "credential file {}, line 2: value of `x` has unquoted '$'",
                path.display()
            )
        );
        fs::write(&path, "group='web'\n").unwrap();
        assert_eq!(read_credentials(&path).unwrap()["group"], "web");
    }

    #[test]
    fn registry_reads_the_older_format_and_merges() {
        let old: Registry =
            serde_json::from_str(r#"{"groups":{"g":["/p/a"]},"users":{"u":["/p/a","/p/b"]}}"#)
                .unwrap();
        assert_eq!(old.users["u"].claims.len(), 2);
        assert_eq!(old.groups["g"].pending, None);
        let mut reg: Registry = serde_json::from_str(
            r#"{"users":{"u":{"claims":["/p/c"]},"v":{"claims":[],"pending":"busy"}}}"#,
        )
        .unwrap();
        assert_eq!(reg.users["v"].pending.as_deref(), Some("busy"));
        reg.merge(old);
        assert_eq!(
            reg.users["u"].claims,
            BTreeSet::from(["/p/a".into(), "/p/b".into(), "/p/c".into()])
        );
        assert!(reg.groups.contains_key("g"));
        let text = serde_json::to_string(&reg).unwrap();
        assert_eq!(serde_json::from_str::<Registry>(&text).unwrap(), reg);
    }

    #[test]
    fn registry_round_trip_in_a_safe_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = SafeDir::open(&tmp.path().join("a/b"), true)
            .unwrap()
            .unwrap();
        let lock = dir
            .open_file(LOCK_FILE, libc::O_RDWR | libc::O_CREAT)
            .unwrap();
        let session = Session { dir, _lock: lock };
        assert_eq!(session.load().unwrap(), Registry::default());
        let mut reg = Registry::default();
        reg.users.insert("u".into(), Entry::default());
        session.save(&reg).unwrap();
        assert_eq!(session.load().unwrap(), reg);
        assert!(SafeDir::open(&tmp.path().join("missing"), false)
            .unwrap()
            .is_none());
    }

    #[test]
    fn unsafe_registry_directories_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let open = fs::create_dir(tmp.path().join("open"));
        open.unwrap();
        fs::set_permissions(tmp.path().join("open"), fs::Permissions::from_mode(0o777)).unwrap();
        let e = SafeDir::open(&tmp.path().join("open"), false).unwrap_err();
        assert!(e.to_string().contains("writable by nobody else"), "{e}");
        let e = SafeDir::open(&tmp.path().join("open/inner"), true).unwrap_err();
        assert!(e.to_string().contains("writable by others"), "{e}");
        assert!(!tmp.path().join("open/inner").exists());
        let e = SafeDir::open(&tmp.path().join("x/../y"), true).unwrap_err();
        assert!(e.to_string().contains(".."), "{e}");
        if euid() == 0 {
            // A link someone else made is not followed.
            fs::create_dir(tmp.path().join("real")).unwrap();
            let link = tmp.path().join("link");
            std::os::unix::fs::symlink(tmp.path().join("real"), &link).unwrap();
            let c = CString::new(link.as_os_str().as_bytes()).unwrap();
            // SAFETY: lchown of a link this test made.
            assert_eq!(unsafe { libc::lchown(c.as_ptr(), 65534, 65534) }, 0);
            let e = SafeDir::open(&link.join("registry"), true).unwrap_err();
            assert!(
                e.to_string().contains("symbolic link made by uid 65534"),
                "{e}"
            );
            assert!(!tmp.path().join("real/registry").exists());
        }
    }

    #[test]
    fn privileged_credential_files_need_the_opt_in() {
        let file = Path::new("users/svc");
        let fields = |text: &str| credentials::parse(text).unwrap();
        let e = check_privileged(Kind::User, "svc", &fields("extraGroups=users,sudo\n"), file)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("profile users/svc: `extraGroups` puts user 'svc' in the privileged group 'sudo'; if that is intended, add the line allowPrivilegedCredentials=1 to the file"),
            "{e}"
        );
        let e = check_privileged(Kind::User, "svc", &fields("group=0\n"), file)
            .unwrap_err()
            .to_string();
        assert!(e.contains("privileged group 'root'"), "{e}");
        let e = check_privileged(Kind::User, "svc", &fields("uid=0\n"), file)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`uid` gives user 'svc' uid 0"), "{e}");
        let e = check_privileged(Kind::Group, "wheel", &fields(""), file)
            .unwrap_err()
            .to_string();
        assert!(e.contains(": creates the privileged group 'wheel'"), "{e}");
        assert!(check_privileged(
            Kind::User,
            "svc",
            &fields("extraGroups=sudo\nallowPrivilegedCredentials='1'\n"),
            file
        )
        .is_ok());
        assert!(check_privileged(Kind::User, "svc", &fields("extraGroups=users\n"), file).is_ok());
    }

    #[test]
    fn processes_using_finds_this_process() {
        let me = std::process::id().to_string();
        assert!(processes_using(Kind::User, euid())
            .iter()
            .any(|p| p.starts_with(&format!("{me} ("))));
        // SAFETY: getegid has no preconditions.
        let gid = unsafe { libc::getegid() };
        assert!(processes_using(Kind::Group, gid)
            .iter()
            .any(|p| p.starts_with(&format!("{me} ("))));
    }

    #[test]
    fn zombies_use_no_account() {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        let zombie = || {
            fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|st| {
                st.lines()
                    .any(|l| l.starts_with("State:") && l.contains('Z'))
            })
        };
        for _ in 0..500 {
            if zombie() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(zombie(), "the child never became a zombie");
        assert!(!processes_using(Kind::User, euid())
            .iter()
            .any(|p| p.starts_with(&format!("{pid} ("))));
        child.wait().unwrap();
    }
}
