//! Starting a client. The supervisor has a second thread (the log writer) when it forks,
//! so the child makes only async-signal-safe calls up to its exec: everything it needs
//! (C strings, the argument vector, descriptors) is prepared before the fork. The child
//! reports a failed `chdir` or `exec` through a close-on-exec pipe, which a successful
//! exec closes unread; the supervisor turns that report into the message.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::sys;
use super::SuperviseError;

/// The child's report: the `chdir` failed.
const FAILED_CHDIR: u8 = 1;
/// The child's report: the `exec` failed.
const FAILED_EXEC: u8 = 2;

/// A client's program, arguments, working directory and umask, ready to fork and exec.
#[derive(Debug)]
pub struct ClientCommand {
    /// The program as the command line gave it (for messages).
    program: String,
    path: CString,
    /// Keeps the strings `argv_ptrs` points into alive.
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    chdir: Option<(CString, String)>,
    umask: Option<libc::mode_t>,
}

/// How a start went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spawned {
    /// The client runs its program.
    Running(libc::pid_t),
    /// It did not start: `pid` is the child that exits 127 (`None`: no child was made).
    Failed {
        /// The child, which has exited or is about to.
        pid: Option<libc::pid_t>,
        /// What went wrong, for the log.
        message: String,
    },
}

impl ClientCommand {
    /// Prepares `path` (the program to exec; `program` as the command line gave it, also
    /// its `argv[0]`) with `args`, to run in `chdir` with `umask`.
    pub fn new(
        program: &OsStr,
        path: &Path,
        args: &[OsString],
        chdir: Option<&Path>,
        umask: Option<u32>,
    ) -> Result<ClientCommand, SuperviseError> {
        let nul = |what: &OsStr| SuperviseError::NulByte(what.to_string_lossy().into_owned());
        let c = |s: &OsStr| sys::c_string(s.as_bytes()).ok_or_else(|| nul(s));
        let mut argv = vec![c(program)?];
        for arg in args {
            argv.push(c(arg)?);
        }
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let chdir = match chdir {
            Some(dir) => Some((c(dir.as_os_str())?, dir.display().to_string())),
            None => None,
        };
        Ok(ClientCommand {
            program: program.to_string_lossy().into_owned(),
            path: c(path.as_os_str())?,
            _argv: argv,
            argv_ptrs,
            chdir,
            umask: umask.map(|m| m as libc::mode_t),
        })
    }

    /// Forks and execs the client in a process group of its own, with `stdin` as its
    /// standard input and `output` as its standard output and error.
    pub fn spawn(&self, stdin: RawFd, output: RawFd) -> Spawned {
        let cannot = |e: std::io::Error| Spawned::Failed {
            pid: None,
            message: format!("cannot start {}: {e}", self.program),
        };
        let (report_in, report_out) = match sys::pipe() {
            Ok(pair) => pair,
            Err(e) => return cannot(e),
        };
        // SAFETY: the child runs only `exec_child`, whose calls are async-signal-safe.
        match unsafe { sys::fork() } {
            Err(e) => cannot(e),
            // SAFETY: this is the child of the fork above.
            Ok(None) => unsafe { self.exec_child(stdin, output, report_out.as_raw_fd()) },
            Ok(Some(pid)) => {
                drop(report_out);
                // SAFETY: setpgid takes integers (the child does the same; whichever
                // runs first wins, and one that runs after the exec fails harmlessly).
                unsafe { libc::setpgid(pid, pid) };
                let mut report = [0u8; 5];
                let mut got = 0;
                while got < report.len() {
                    match sys::read(report_in.as_raw_fd(), &mut report[got..]) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got += n,
                    }
                }
                if got < report.len() {
                    return Spawned::Running(pid);
                }
                let errno = i32::from_ne_bytes([report[1], report[2], report[3], report[4]]);
                Spawned::Failed {
                    pid: Some(pid),
                    message: self.failure_message(report[0], errno),
                }
            }
        }
    }

    fn failure_message(&self, step: u8, errno: i32) -> String {
        let error = sys::errno_text(errno);
        match (&self.chdir, step) {
            (Some((_, dir)), FAILED_CHDIR) => {
                format!(
                    "cannot change to the directory {dir} for {}: {error}",
                    self.program
                )
            }
            _ => format!("cannot run {}: {error}", self.program),
        }
    }

    /// The child's side of the fork: its own process group, default signal handling,
    /// the umask, the descriptors, the directory, then the program. Never returns.
    ///
    /// # Safety
    ///
    /// Only in the child of a fork: it makes only async-signal-safe calls and ends the
    /// process.
    unsafe fn exec_child(&self, stdin: RawFd, output: RawFd, report: RawFd) -> ! {
        // SAFETY: async-signal-safe calls on integers and on structs initialised here;
        // the C strings and the argument vector were made before the fork and stay
        // valid (the child's copy of the parent's memory).
        unsafe {
            libc::setpgid(0, 0);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = libc::SIG_DFL;
            for sig in 1..65 {
                if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                    libc::sigaction(sig, &action, std::ptr::null_mut());
                }
            }
            if let Some(mask) = self.umask {
                libc::umask(mask);
            }
            libc::dup2(stdin, 0);
            libc::dup2(output, 1);
            libc::dup2(output, 2);
            if let Some((dir, _)) = &self.chdir {
                if libc::chdir(dir.as_ptr()) != 0 {
                    child_failed(report, FAILED_CHDIR);
                }
            }
            libc::execv(self.path.as_ptr(), self.argv_ptrs.as_ptr());
            child_failed(report, FAILED_EXEC)
        }
    }
}

/// Reports the failed `step` with `errno` to the parent and exits 127.
///
/// # Safety
///
/// Only in the child of a fork (it ends the process without running any destructor).
unsafe fn child_failed(report: RawFd, step: u8) -> ! {
    // SAFETY: reading errno, one write of a local buffer and _exit are async-signal-safe.
    unsafe {
        let errno = *libc::__errno_location();
        let mut msg = [step, 0, 0, 0, 0];
        msg[1..].copy_from_slice(&errno.to_ne_bytes());
        libc::write(report, msg.as_ptr().cast(), msg.len());
        libc::_exit(127)
    }
}

/// Where `program` is: itself when it names a path (has a `/`), else the first
/// executable file of that name in `path_var` (`PATH`), else itself (so that the exec
/// fails with "No such file or directory"). A relative result is taken from `cwd`.
pub fn resolve_program(program: &OsStr, path_var: Option<&OsStr>, cwd: &Path) -> PathBuf {
    if program.as_bytes().contains(&b'/') {
        return cwd.join(program);
    }
    let search = path_var.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin"));
    for dir in search.as_bytes().split(|b| *b == b':') {
        let dir = if dir.is_empty() { b".".as_slice() } else { dir };
        let candidate = cwd.join(OsStr::from_bytes(dir)).join(program);
        if is_executable_file(&candidate) {
            return candidate;
        }
    }
    PathBuf::from(program)
}

fn is_executable_file(path: &Path) -> bool {
    let Some(c) = sys::c_string(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access reads a NUL-terminated path that lives across the call.
    let executable = unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0;
    executable && path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_like_execvp_finds_them() {
        let cwd = Path::new("/srv/app");
        let sh = resolve_program(OsStr::new("sh"), Some(OsStr::new("/nonexistent:/bin")), cwd);
        assert_eq!(sh, Path::new("/bin/sh"));
        let rel = resolve_program(OsStr::new("./run"), Some(OsStr::new("/bin")), cwd);
        assert_eq!(rel, Path::new("/srv/app/./run"));
        let abs = resolve_program(OsStr::new("/bin/true"), None, cwd);
        assert_eq!(abs, Path::new("/bin/true"));
        let none = resolve_program(OsStr::new("no-such-prog"), Some(OsStr::new("/bin")), cwd);
        assert_eq!(none, Path::new("no-such-prog"));
    }

    #[test]
    fn a_nul_byte_in_an_argument_is_refused() {
        let err = ClientCommand::new(
            OsStr::new("sh"),
            Path::new("/bin/sh"),
            &[OsString::from("a\0b")],
            None,
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("NUL"), "{err}");
    }

    #[test]
    fn a_client_runs_and_a_missing_program_or_directory_is_reported() {
        let out = sys::dev_null(true).unwrap();
        let inp = sys::dev_null(false).unwrap();
        let run = |program: &str, dir: Option<&Path>| {
            let cmd = ClientCommand::new(
                OsStr::new(program),
                Path::new(program),
                &[OsString::from("-c"), OsString::from("exit 3")],
                dir,
                Some(0o077),
            )
            .unwrap();
            cmd.spawn(inp.as_raw_fd(), out.as_raw_fd())
        };
        let Spawned::Running(pid) = run("/bin/sh", None) else {
            panic!("/bin/sh did not start");
        };
        let status = sys::wait_for(pid).unwrap();
        assert_eq!(libc::WEXITSTATUS(status), 3);
        let Spawned::Failed {
            pid: Some(pid),
            message,
        } = run("/no/such/program", None)
        else {
            panic!("a missing program started");
        };
        assert_eq!(
            message,
            "cannot run /no/such/program: No such file or directory (os error 2)"
        );
        assert_eq!(libc::WEXITSTATUS(sys::wait_for(pid).unwrap()), 127);
        let missing = Path::new("/no/such/dir");
        let Spawned::Failed {
            pid: Some(pid),
            message,
        } = run("/bin/sh", Some(missing))
        else {
            panic!("a client started in a missing directory");
        };
        assert!(
            message.starts_with("cannot change to the directory /no/such/dir"),
            "{message}"
        );
        assert_eq!(libc::WEXITSTATUS(sys::wait_for(pid).unwrap()), 127);
    }
}
