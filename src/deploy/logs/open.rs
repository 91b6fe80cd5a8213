//! Opening a log file, and the names of its rotated siblings. Run by root, a file is
//! opened without following a symbolic link and read only when it is a regular file
//! owned by root or by the process's user, with no other name.

use std::fs::File;
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::{LogSource, LogsError};

/// Opens log file `path` of `source` for reading (see the module documentation for what
/// root refuses); `None` when it does not exist.
pub(super) fn open_log(source: &LogSource, path: &Path) -> Result<Option<File>, LogsError> {
    let io_error = |error| LogsError::Io {
        name: source.name.clone(),
        path: path.to_path_buf(),
        error,
    };
    let refused = |why: String| LogsError::Refused {
        name: source.name.clone(),
        path: path.to_path_buf(),
        why,
    };
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(refused("it is a symbolic link".into()))
        }
        Err(e) => return Err(io_error(e)),
    };
    let meta = file.metadata().map_err(io_error)?;
    if !meta.file_type().is_file() {
        return Err(refused("it is not a regular file".into()));
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let owner = meta.uid();
        if owner != 0 && Some(owner) != source.uid {
            return Err(refused(format!(
                "it is owned by uid {owner}, neither root nor the process's user"
            )));
        }
        if meta.nlink() > 1 {
            return Err(refused(format!(
                "it has {} names (a hard link)",
                meta.nlink()
            )));
        }
    }
    Ok(Some(file))
}

/// `FILE.k`: the k-th rotated sibling of `path` (`path` itself for 0).
pub(super) fn rotated(path: &Path, k: u32) -> PathBuf {
    if k == 0 {
        return path.to_path_buf();
    }
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{k}"));
    PathBuf::from(name)
}
