//! The caller's own files in an open directory: opening one, reading it, writing a new
//! one, replacing one (a temporary file renamed over it) and renaming.

use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};

use super::sys::{c_name, check_os, euid, fstat};
use super::{Result, SafeDir, SafeDirError};

impl SafeDir {
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
