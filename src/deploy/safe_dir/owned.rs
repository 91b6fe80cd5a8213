//! Who owns a file and its mode: files read and replaced with a given owner, group and
//! mode, and an entry or the directory itself given an owner.

use std::ffi::CStr;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;

use super::sys::{c_name, check_os, euid, fstat};
use super::{Result, SafeDir, SafeDirError};

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

impl SafeDir {
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
}
