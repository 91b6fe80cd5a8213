//! Opening a directory by walking its path from `/`, one component at a time by
//! descriptor, with the checks of owners, modes and symbolic links on the way.

use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use super::sys::{c_name, check_os, euid, fstat, lstat_at};
use super::{Result, SafeDir, SafeDirError};

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

    use std::fs;
    use std::os::unix::ffi::OsStrExt;

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
