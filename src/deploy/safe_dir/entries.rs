//! The entries of an open directory: the status of one, opening one as a directory,
//! listing them and removing one.

use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::sys::{check_os, fstat, lstat_at};
use super::{Result, SafeDir, SafeDirError};

impl SafeDir {
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
}
