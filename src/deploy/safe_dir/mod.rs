//! Directories reached without following a symbolic link that someone else could
//! have planted: `SafeDir::open` walks a path from `/` component by component, by
//! descriptor, checking who owns and who may write each directory on the way, and the
//! directory it returns is used by descriptor from then on (`openat`, `renameat`), so
//! nothing can redirect a file in it once it was checked.

use std::ffi::{CStr, CString, OsStr};
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::describe_io;

/// Why a directory, or a file in it, was refused or could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SafeDirError {
    /// A system call failed (the OS error is part of the message, not a `source`).
    #[error("{action} {}: {}", path.display(), describe_io(error, path))]
    Io {
        /// What was being done, e.g. "opening".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// The path leads through, or to, a directory others could change, or through a
    /// symbolic link someone else made.
    #[error("directory {}: {reason}", path.display())]
    Refused {
        /// The whole path being opened.
        path: PathBuf,
        /// Why, naming the component.
        reason: String,
    },
    /// A file in the directory is not a regular file of the expected owner.
    #[error("{}: not a regular file of uid {uid}", path.display())]
    NotOwnFile {
        /// The file.
        path: PathBuf,
        /// The owner it should have.
        uid: u32,
    },
}

impl SafeDirError {
    /// Wraps an I/O error with the action and the path it concerned.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        error: std::io::Error,
    ) -> Self {
        SafeDirError::Io {
            action,
            path: path.into(),
            error,
        }
    }

    /// Whether this is a write that failed because the disk is full (or over quota).
    pub(crate) fn is_disk_full(&self) -> bool {
        matches!(self, SafeDirError::Io { error, .. } if super::is_disk_full(error))
    }
}

/// Result type of this module.
type Result<T> = std::result::Result<T, SafeDirError>;

/// The effective user id of this process.
pub(crate) fn euid() -> u32 {
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
    // SAFETY: an all-zero `stat` is a valid value of this plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is open and `st` is a writable buffer of the right type.
    check_os(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

/// Who owns a file, and its permission bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ownership {
    /// The owner's uid.
    pub(crate) uid: u32,
    /// The group's gid.
    pub(crate) gid: u32,
    /// The permission bits.
    pub(crate) mode: u32,
}

/// A directory opened by descriptor: files in it are reached relative to it, so
/// nothing can redirect them once it was checked.
#[derive(Debug)]
pub(crate) struct SafeDir {
    fd: OwnedFd,
    /// The directory's absolute path, for messages.
    pub(crate) path: PathBuf,
}

impl SafeDir {
    /// Opens `path` (creating missing directories with mode 0755 when `create`),
    /// component by component from `/`. A symbolic link is followed only when root or
    /// the caller owns it; every directory on the way must belong to root or the caller
    /// and be writable by nobody else (or sticky, like `/tmp`); the directory itself
    /// must belong to the caller and be writable by nobody else. `Ok(None)` when a
    /// component is missing and `create` is false.
    pub(crate) fn open(path: &Path, create: bool) -> Result<Option<SafeDir>> {
        let absolute = absolute(path)?;
        let mut walk = Walk::from_root(&absolute)?;
        let names = normal_components(&absolute)
            .ok_or_else(|| walk.refuse("must not contain `..`".into()))?;
        if !walk.walk(&names, create)? {
            return Ok(None);
        }
        if !names.is_empty() {
            walk.check_target()?;
        }
        Ok(Some(SafeDir {
            fd: walk.fd,
            path: absolute,
        }))
    }

    /// Opens the directory holding `path`, as [`open`](Self::open) does except that
    /// directories of `also` may be passed too (its symbolic links are not followed)
    /// and the directory need not be the caller's: it must belong to root, the caller
    /// or `also` and be writable by nobody else (or be sticky). Returns it with the
    /// last name of `path`, or `None` when a directory on the way is missing.
    pub(crate) fn open_parent(path: &Path, also: u32) -> Result<Option<(SafeDir, CString)>> {
        let absolute = absolute(path)?;
        let mut walk = Walk::from_root(&absolute)?;
        walk.also = Some(also);
        let mut names = normal_components(&absolute)
            .ok_or_else(|| walk.refuse("must not contain `..`".into()))?;
        let Some(last) = names.pop() else {
            return Err(walk.refuse("has no last name".into()));
        };
        if !walk.walk(&names, false)? {
            return Ok(None);
        }
        walk.check_passable()?;
        let leaf = c_name(last).map_err(|e| walk.io_error(e))?;
        let parent = absolute.parent().unwrap_or(Path::new("/")).to_path_buf();
        Ok(Some((
            SafeDir {
                fd: walk.fd,
                path: parent,
            },
            leaf,
        )))
    }

    /// [`open`](Self::open) `path`, making the directories that are missing.
    pub(crate) fn create(path: &Path) -> Result<SafeDir> {
        // `open` makes every missing component, so it finds them all.
        SafeDir::open(path, true)?
            .ok_or_else(|| SafeDirError::io("creating", path, std::io::ErrorKind::NotFound.into()))
    }

    /// Opens `name` in this directory with `flags` (never through a symlink).
    pub(crate) fn open_file(&self, name: &str, flags: libc::c_int) -> std::io::Result<fs::File> {
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
    pub(crate) fn read(&self, name: &str) -> Result<Option<String>> {
        let path = self.path.join(name);
        let mut file = match self.open_file(name, libc::O_RDONLY) {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
            Err(e) => return Err(SafeDirError::io("opening", path, e)),
        };
        let st = fstat(&file).map_err(|e| SafeDirError::io("reading", &path, e))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG || st.st_uid != euid() {
            return Err(SafeDirError::NotOwnFile { path, uid: euid() });
        }
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| SafeDirError::io("reading", &path, e))?;
        Ok(Some(text))
    }

    /// Replaces file `name` with `text`: a temporary file, synced, renamed over it.
    pub(crate) fn replace(&self, name: &str, text: &str) -> Result<()> {
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
        .map_err(|e| SafeDirError::io("writing", path, e))
    }

    /// The path of `name` in this directory, for messages.
    pub(crate) fn path_of(&self, name: &CStr) -> PathBuf {
        self.path.join(OsStr::from_bytes(name.to_bytes()))
    }

    /// The status of `name` in this directory (of a symbolic link itself, never of
    /// what it points to); `None` when there is no such entry.
    pub(crate) fn lstat(&self, name: &CStr) -> Result<Option<libc::stat>> {
        match lstat_at(&self.fd, name) {
            Ok(st) => Ok(Some(st)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(SafeDirError::io(
                "reading the status of",
                self.path_of(name),
                e,
            )),
        }
    }

    /// Opens the directory `name` of this one (never through a symbolic link) and
    /// refuses it unless it belongs to `uid`.
    pub(crate) fn open_dir(&self, name: &CStr, uid: u32) -> Result<SafeDir> {
        let path = self.path_of(name);
        // SAFETY: the directory descriptor is open and `name` is NUL-terminated;
        // O_NOFOLLOW refuses a symbolic link, O_DIRECTORY anything but a directory.
        let fd = check_os(unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                name.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        })
        .map_err(|e| SafeDirError::io("opening", &path, e))?;
        // SAFETY: `fd` is a descriptor we just opened and now own.
        let dir = SafeDir {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            path,
        };
        let st = fstat(&dir.fd).map_err(|e| SafeDirError::io("opening", &dir.path, e))?;
        if st.st_uid != uid {
            return Err(SafeDirError::Refused {
                path: dir.path,
                reason: format!("it belongs to uid {}, not uid {uid}", st.st_uid),
            });
        }
        Ok(dir)
    }

    /// The names of the entries of this directory, but `.` and `..`.
    pub(crate) fn names(&self) -> Result<Vec<CString>> {
        let error = |e| SafeDirError::io("listing", &self.path, e);
        // SAFETY: duplicating a descriptor we hold open; the copy is handed to
        // fdopendir below, or closed here when that fails.
        let copy = check_os(unsafe { libc::fcntl(self.fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) })
            .map_err(error)?;
        // SAFETY: `copy` is an open directory descriptor nobody else uses; on success
        // the stream owns it (closedir closes it).
        let stream = unsafe { libc::fdopendir(copy) };
        if stream.is_null() {
            let e = std::io::Error::last_os_error();
            // SAFETY: fdopendir failed, so `copy` is still ours to close.
            unsafe { libc::close(copy) };
            return Err(error(e));
        }
        // SAFETY: `stream` is a valid directory stream; the copy shares the offset of
        // our descriptor, which may have been read before.
        unsafe { libc::rewinddir(stream) };
        let mut names = Vec::new();
        loop {
            // SAFETY: `stream` is valid; the entry returned lives until the next call.
            let entry = unsafe { libc::readdir(stream) };
            if entry.is_null() {
                break;
            }
            // SAFETY: `d_name` of an entry readdir returned is a NUL-terminated name.
            let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
            if name.to_bytes() != b"." && name.to_bytes() != b".." {
                names.push(name.to_owned());
            }
        }
        // SAFETY: `stream` is valid and not used after this.
        unsafe { libc::closedir(stream) };
        Ok(names)
    }

    /// Removes the entry `name` of this directory: an (empty) directory when `dir`,
    /// else a file or symbolic link (the link itself).
    pub(crate) fn remove(&self, name: &CStr, dir: bool) -> std::io::Result<()> {
        let flags = if dir { libc::AT_REMOVEDIR } else { 0 };
        // SAFETY: the directory descriptor is open and `name` is NUL-terminated.
        check_os(unsafe { libc::unlinkat(self.fd.as_raw_fd(), name.as_ptr(), flags) })?;
        Ok(())
    }

    /// Gives the entry `name` of this directory the owner `uid` and group `gid`, of a
    /// symbolic link itself, never of what it points to.
    pub(crate) fn lchown(&self, name: &CStr, uid: u32, gid: u32) -> Result<()> {
        // SAFETY: the directory descriptor is open and `name` is NUL-terminated;
        // AT_SYMLINK_NOFOLLOW changes a link itself.
        check_os(unsafe {
            libc::fchownat(
                self.fd.as_raw_fd(),
                name.as_ptr(),
                uid,
                gid,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })
        .map_err(|e| SafeDirError::io("changing the owner of", self.path_of(name), e))?;
        Ok(())
    }

    /// Gives this directory itself the owner `uid`, group `gid` and `mode`.
    pub(crate) fn set_owner_and_mode(&self, uid: u32, gid: u32, mode: libc::mode_t) -> Result<()> {
        let error = |e| SafeDirError::io("changing the owner and mode of", &self.path, e);
        // SAFETY: fchown of a descriptor we hold open.
        check_os(unsafe { libc::fchown(self.fd.as_raw_fd(), uid, gid) }).map_err(error)?;
        // SAFETY: fchmod of a descriptor we hold open.
        check_os(unsafe { libc::fchmod(self.fd.as_raw_fd(), mode) }).map_err(error)?;
        Ok(())
    }

    /// Writes `text` to the new file `name` of this directory (mode 0600, never through
    /// a symbolic link; it must not exist).
    pub(crate) fn write_new(&self, name: &str, text: &str) -> Result<()> {
        let path = self.path.join(name);
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL;
        let mut file = self
            .open_file(name, flags)
            .map_err(|e| SafeDirError::io("creating", &path, e))?;
        file.write_all(text.as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(|e| SafeDirError::io("writing", &path, e))
    }

    /// Reads the regular file `name` of this directory (never through a symbolic link)
    /// with its owner, group and permission bits; `Ok(None)` when it does not exist.
    pub(crate) fn read_with_owner(&self, name: &str) -> Result<Option<(Vec<u8>, Ownership)>> {
        let path = self.path.join(name);
        let mut file = match self.open_file(name, libc::O_RDONLY | libc::O_NONBLOCK) {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
            Err(e) => return Err(SafeDirError::io("opening", path, e)),
        };
        let st = fstat(&file).map_err(|e| SafeDirError::io("reading", &path, e))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(SafeDirError::NotOwnFile { path, uid: euid() });
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| SafeDirError::io("reading", &path, e))?;
        let ownership = Ownership {
            uid: st.st_uid,
            gid: st.st_gid,
            mode: st.st_mode & 0o7777,
        };
        Ok(Some((bytes, ownership)))
    }

    /// Replaces file `name` with `bytes`, owned by `uid`:`gid` with `mode`: a new file
    /// (mode 0600 of the caller's while it is written), synced, given its owner and mode,
    /// then renamed over the old one.
    pub(crate) fn replace_owned(
        &self,
        name: &str,
        bytes: &[u8],
        Ownership { uid, gid, mode }: Ownership,
    ) -> Result<()> {
        let path = self.path.join(name);
        let tmp = format!(".{name}.new");
        (|| -> std::io::Result<()> {
            match self.remove(&c_name(tmp.as_ref())?, false) {
                Err(e) if e.raw_os_error() != Some(libc::ENOENT) => return Err(e),
                _ => {}
            }
            let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL;
            let mut f = self.open_file(&tmp, flags)?;
            f.write_all(bytes)?;
            // SAFETY: fchown and fchmod of a descriptor we hold open.
            check_os(unsafe { libc::fchown(f.as_raw_fd(), uid, gid) })?;
            // SAFETY: as above.
            check_os(unsafe { libc::fchmod(f.as_raw_fd(), mode as libc::mode_t) })?;
            f.sync_all()?;
            self.rename(&tmp, name)?;
            // SAFETY: fsync of the directory descriptor, so the rename is durable.
            check_os(unsafe { libc::fsync(self.fd.as_raw_fd()) })?;
            Ok(())
        })()
        .map_err(|e| SafeDirError::io("writing", path, e))
    }

    /// Renames the file `from` in this directory to `to` in it.
    pub(crate) fn rename(&self, from: &str, to: &str) -> std::io::Result<()> {
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

/// `path`, made absolute against the working directory.
fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(|e| SafeDirError::io("resolving", path, e))?;
    Ok(cwd.join(path))
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
    // SAFETY: an all-zero `stat` is a valid value of this plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is open, `name` is NUL-terminated and `st` is a writable
    // buffer of the right type.
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
    /// Another uid whose directories may be passed (never its symbolic links).
    also: Option<u32>,
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
        .map_err(|e| SafeDirError::io("opening", absolute, e))?;
        Ok(Walk {
            absolute,
            me,
            also: None,
            // SAFETY: `root` is a descriptor we just opened and now own.
            fd: unsafe { OwnedFd::from_raw_fd(root) },
            at: PathBuf::from("/"),
        })
    }

    /// Goes down through `names` (see [`SafeDir::open`]); `false` when one is missing
    /// and not to be created.
    fn walk(&mut self, names: &[&OsStr], create: bool) -> Result<bool> {
        for name in names {
            self.check_passable()?;
            let cname = c_name(name).map_err(|e| self.io_error(e))?;
            let Some(created) = self.look_up(name, &cname, create)? else {
                return Ok(false);
            };
            self.descend(name, &cname, created)?;
        }
        Ok(true)
    }

    /// The error refusing the whole path, saying why.
    fn refuse(&self, reason: String) -> SafeDirError {
        SafeDirError::Refused {
            path: self.absolute.to_path_buf(),
            reason,
        }
    }

    /// An I/O error, reported as one opening the whole path.
    fn io_error(&self, e: std::io::Error) -> SafeDirError {
        SafeDirError::io("opening", self.absolute, e)
    }

    /// Whether `uid` is root or the caller.
    fn trusted(&self, uid: u32) -> bool {
        uid == 0 || uid == self.me
    }

    /// Refuses to go on through the directory reached unless it belongs to root or
    /// the caller (or [`also`](Self::also)) and is writable by nobody else (or sticky,
    /// like `/tmp`).
    fn check_passable(&self) -> Result<()> {
        let st = fstat(&self.fd).map_err(|e| self.io_error(e))?;
        let sticky = st.st_mode & libc::S_ISVTX != 0;
        let owner_ok = self.trusted(st.st_uid) || self.also == Some(st.st_uid);
        if !owner_ok || (st.st_mode & 0o022 != 0 && !sticky) {
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
                Err(e) => return Err(SafeDirError::io("opening", self.at.join(name), e)),
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
            Err(e) => Err(SafeDirError::io("creating", self.at.join(name), e)),
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
        .map_err(|e| SafeDirError::io("opening", self.at.join(name), e))?;
        // SAFETY: `next` is a descriptor we just opened and now own.
        self.fd = unsafe { OwnedFd::from_raw_fd(next) };
        self.at.push(name);
        if created {
            // The umask may have left it group-writable.
            // SAFETY: fd is an open directory we created.
            check_os(unsafe { libc::fchmod(self.fd.as_raw_fd(), 0o755) })
                .map_err(|e| SafeDirError::io("setting the mode of", &self.at, e))?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
