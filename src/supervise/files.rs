//! The supervisor's files in its PID directory: `NAME.pid` (its own PID, locked for its
//! whole life), `NAME.clientpid` (the running client) and `NAME.state` (see `state`), the
//! last two replaced atomically (a temporary file renamed over them).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::state::SupervisorState;
use super::sys;
use super::SuperviseError;

/// The PID files of one supervisor; holds the lock of `NAME.pid` while it lives.
#[derive(Debug)]
pub struct PidFiles {
    dir: PathBuf,
    name: String,
    /// `NAME.pid`, open and locked: the lock says a supervisor of NAME runs.
    _lock: File,
}

impl PidFiles {
    /// Opens and locks `DIR/NAME.pid` (never through a symbolic link) and writes this
    /// process's PID into it. Fails when another supervisor holds the lock.
    pub fn acquire(dir: &Path, name: &str) -> Result<PidFiles, SuperviseError> {
        let path = dir.join(format!("{name}.pid"));
        let io_error = |what| {
            let path = path.clone();
            move |e| SuperviseError::File(what, path, e)
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&path)
            .map_err(io_error("cannot open the PID file"))?;
        let meta = file
            .metadata()
            .map_err(io_error("cannot stat the PID file"))?;
        if !meta.file_type().is_file() {
            let e = io::Error::other("not a regular file");
            return Err(io_error("cannot use the PID file")(e));
        }
        if !sys::try_lock(&file).map_err(io_error("cannot lock the PID file"))? {
            let text = fs::read_to_string(&path).unwrap_or_default();
            let pid = text
                .split_whitespace()
                .next()
                .unwrap_or("unknown")
                .to_string();
            return Err(SuperviseError::AlreadySupervised(name.to_string(), pid));
        }
        let write = |file: &mut File| -> io::Result<()> {
            file.set_permissions(fs::Permissions::from_mode(0o644))?;
            file.set_len(0)?;
            file.write_all_at(format!("{}\n", sys::getpid()).as_bytes(), 0)
        };
        write(&mut file).map_err(io_error("cannot write the PID file"))?;
        Ok(PidFiles {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            _lock: file,
        })
    }

    /// `DIR/NAME.pid`.
    pub fn pid_path(&self) -> PathBuf {
        self.dir.join(format!("{}.pid", self.name))
    }

    /// `DIR/NAME.clientpid`.
    pub fn client_path(&self) -> PathBuf {
        self.dir.join(format!("{}.clientpid", self.name))
    }

    /// `DIR/NAME.state`.
    pub fn state_path(&self) -> PathBuf {
        self.dir.join(format!("{}.state", self.name))
    }

    /// Writes the client's PID into `NAME.clientpid`.
    pub fn write_client(&self, pid: libc::pid_t) -> io::Result<()> {
        write_atomically(&self.client_path(), format!("{pid}\n").as_bytes())
    }

    /// Removes `NAME.clientpid` (no client runs).
    pub fn remove_client(&self) {
        let _ = fs::remove_file(self.client_path());
    }

    /// Removes `NAME.clientpid` and `NAME.pid` (the supervisor is about to exit; the
    /// lock goes with the process).
    pub fn remove_all(&self) {
        self.remove_client();
        let _ = fs::remove_file(self.pid_path());
    }
}

/// Replaces `path` with a file (mode 0644) holding `text`: written as `PATH.tmp`, then
/// renamed over it, so a reader sees the old or the new text, never a part.
pub fn write_atomically(path: &Path, text: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    file.set_permissions(fs::Permissions::from_mode(0o644))?;
    file.write_all(text)?;
    drop(file);
    fs::rename(&tmp, path)
}

/// The state file of a running supervisor, shared by its threads: every change is
/// written at once.
#[derive(Debug, Clone)]
pub struct StateFile {
    inner: Arc<Mutex<(PathBuf, SupervisorState)>>,
}

impl StateFile {
    /// The state file `path`, holding `state` once first written.
    pub fn new(path: PathBuf, state: SupervisorState) -> StateFile {
        StateFile {
            inner: Arc::new(Mutex::new((path, state))),
        }
    }

    /// Changes the state with `change` and writes the file.
    pub fn update(&self, change: impl FnOnce(&mut SupervisorState)) -> io::Result<()> {
        let mut guard = self.lock();
        change(&mut guard.1);
        let text = guard.1.to_text();
        write_atomically(&guard.0, text.as_bytes())
    }

    fn lock(&self) -> MutexGuard<'_, (PathBuf, SupervisorState)> {
        // A panic of the other thread while it held the lock leaves a usable state.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervise::state::Phase;

    #[test]
    fn the_pid_file_is_locked_while_its_holder_lives() {
        let dir = tempfile::tempdir().unwrap();
        let files = PidFiles::acquire(dir.path(), "web").unwrap();
        let text = fs::read_to_string(files.pid_path()).unwrap();
        assert_eq!(text, format!("{}\n", std::process::id()));
        let mode = fs::metadata(files.pid_path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o644);
        // flock locks belong to the open file, so a second open in this process is
        // refused as another supervisor's would be.
        let err = PidFiles::acquire(dir.path(), "web")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!("web is already supervised (PID {})", std::process::id())
        );
        drop(files);
        // Free again once closed; a fork of another test may hold a copy of the
        // descriptor for a moment (until its exec closes it), so try for a while.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while PidFiles::acquire(dir.path(), "web").is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the lock was not released"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    #[test]
    fn a_symbolic_link_as_pid_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, "precious\n").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("web.pid")).unwrap();
        let err = PidFiles::acquire(dir.path(), "web")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot open the PID file"), "{err}");
        assert_eq!(fs::read_to_string(&target).unwrap(), "precious\n");
    }

    #[test]
    fn client_pid_and_state_are_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let files = PidFiles::acquire(dir.path(), "web").unwrap();
        files.write_client(4321).unwrap();
        assert_eq!(fs::read_to_string(files.client_path()).unwrap(), "4321\n");
        let state = StateFile::new(files.state_path(), SupervisorState::new(1, None));
        state.update(|s| s.phase = Phase::Running).unwrap();
        let text = fs::read_to_string(files.state_path()).unwrap();
        assert_eq!(SupervisorState::parse(&text).unwrap().phase, Phase::Running);
        files.remove_all();
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "only the state file stays: {left:?}");
    }
}
