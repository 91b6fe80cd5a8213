//! The service's cgroups, and `--launch`: how the init-functions library starts a
//! self-daemonizing program (or another wrapper) inside its service's cgroup.
//!
//! A process born in a cgroup (`clone3` with `CLONE_INTO_CGROUP`) costs the kernel about
//! 0.1 ms; moving a running one there through `cgroup.procs` costs a grace period, about
//! 16 ms, on every start. So the supervisor is born in the service's cgroup, and for any
//! other program `--launch` makes a child there that execs it and waits for it.

use std::ffi::{CString, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{sys, SuperviseError};

/// The open directories of a service's cgroups.
#[derive(Debug, Default)]
pub struct Cgroups {
    /// Its cgroup v2, where processes are born.
    v2: Option<(PathBuf, OwnedFd)>,
    /// Its cgroup v1 directories (limits on a hybrid system), which they join.
    v1: Vec<(PathBuf, OwnedFd)>,
}

impl Cgroups {
    /// Opens the directories (none: nothing to do); the cgroup v2 directory is made
    /// first when it is missing (with its parents, as the library would).
    pub fn open(v2: Option<&Path>, v1: &[PathBuf]) -> Result<Cgroups, SuperviseError> {
        if let Some(dir) = v2 {
            std::fs::create_dir_all(dir)
                .map_err(|e| SuperviseError::Cgroup("make", dir.to_path_buf(), e))?;
        }
        let open = |p: &Path| {
            sys::open_dir(p)
                .map(|fd| (p.to_path_buf(), fd))
                .map_err(|e| SuperviseError::Cgroup("open", p.to_path_buf(), e))
        };
        Ok(Cgroups {
            v2: v2.map(open).transpose()?,
            v1: v1.iter().map(|p| open(p)).collect::<Result<_, _>>()?,
        })
    }

    /// Forks, the child born in the cgroup v2 (a plain fork without one).
    ///
    /// # Safety
    ///
    /// As for `sys::fork`: with more than one thread, the child makes only
    /// async-signal-safe calls until it execs or exits.
    pub unsafe fn fork(&self) -> Result<Option<libc::pid_t>, SuperviseError> {
        // SAFETY: the caller upholds fork's rule.
        let forked = unsafe {
            match &self.v2 {
                Some((_, fd)) => sys::fork_into_cgroup(fd),
                None => sys::fork(),
            }
        };
        forked.map_err(|e| SuperviseError::System("cannot fork", e))
    }

    /// Moves this process into the cgroup v1 directories.
    pub fn join_v1(&self) -> Result<(), SuperviseError> {
        for (path, fd) in &self.v1 {
            sys::join_cgroup_fd(fd).map_err(|e| SuperviseError::Cgroup("join", path.clone(), e))?;
        }
        Ok(())
    }

    /// Moves this process into every cgroup (v2 included): for `--foreground`.
    pub fn join(&self) -> Result<(), SuperviseError> {
        if let Some((path, fd)) = &self.v2 {
            sys::join_cgroup_fd(fd).map_err(|e| SuperviseError::Cgroup("join", path.clone(), e))?;
        }
        self.join_v1()
    }
}

/// `--launch`: runs `program` (found in `PATH`) with `args` in a child born in the cgroups
/// and waits for it. Returns its exit status (128 + the signal that killed it), or 127
/// after a message when it could not be run.
pub fn run(
    cgroups: &Cgroups,
    program: &OsString,
    args: &[OsString],
) -> Result<i32, SuperviseError> {
    let nul = |s: &OsString| {
        CString::new(s.as_bytes()).map_err(|_| SuperviseError::NulByte(s.to_string_lossy().into()))
    };
    let argv: Vec<CString> = std::iter::once(program)
        .chain(args)
        .map(nul)
        .collect::<Result<_, _>>()?;
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: `--launch` runs before any thread is started.
    match unsafe { cgroups.fork() }? {
        Some(pid) => {
            let status = sys::wait_for(pid)
                .map_err(|e| SuperviseError::System("cannot wait for the program", e))?;
            Ok(exit_code(status))
        }
        None => {
            if let Err(e) = cgroups.join_v1() {
                eprintln!("nixproc-sysvinit-supervise: {e}");
                std::process::exit(127);
            }
            // SAFETY: execvp with a NUL-terminated argument vector of live C strings.
            unsafe { libc::execvp(ptrs[0], ptrs.as_ptr()) };
            let error = std::io::Error::last_os_error();
            eprintln!(
                "nixproc-sysvinit-supervise: cannot run {}: {error}",
                program.to_string_lossy()
            );
            std::process::exit(127)
        }
    }
}

/// The status a shell would report for a wait status.
fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}
