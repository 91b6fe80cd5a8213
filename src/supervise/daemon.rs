//! Becoming a daemon, and the verdict: the starting process waits (on a close-on-exec
//! pipe) until the supervisor says its client started, or why it did not.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use super::launch::Cgroups;
use super::sys;
use super::SuperviseError;

/// Who the caller is after [`daemonize`].
#[derive(Debug)]
pub enum Role {
    /// The starting process: wait for the verdict ([`wait_verdict`]), then exit.
    Parent(OwnedFd),
    /// The supervisor, in a session of its own: it sends the verdict.
    Supervisor(Verdict),
}

/// Forks (the child born in `cgroups`): the child becomes a session leader (the
/// supervisor), the parent waits.
pub fn daemonize(cgroups: &Cgroups) -> Result<Role, SuperviseError> {
    let io_error = |e| SuperviseError::System("cannot make the verdict pipe", e);
    let (verdict_in, verdict_out) = sys::pipe().map_err(io_error)?;
    // SAFETY: the process has one thread here (the log writer starts later), so the
    // child may call anything.
    match unsafe { cgroups.fork() } {
        Err(e) => Err(e),
        Ok(Some(_)) => {
            drop(verdict_out);
            Ok(Role::Parent(verdict_in))
        }
        Ok(None) => {
            drop(verdict_in);
            let verdict = Verdict::Pipe(verdict_out);
            let setup = cgroups.join_v1().and_then(|()| {
                sys::setsid().map_err(|e| SuperviseError::System("cannot start a session", e))
            });
            if let Err(e) = setup {
                verdict.failed(e)?;
                std::process::exit(1);
            }
            Ok(Role::Supervisor(verdict))
        }
    }
}

/// Reads the supervisor's verdict: `Ok` when it started, else why not.
pub fn wait_verdict(verdict: OwnedFd) -> Result<(), SuperviseError> {
    let mut text = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match sys::read(verdict.as_raw_fd(), &mut buf) {
            Ok(0) => break,
            Ok(n) => text.extend_from_slice(&buf[..n]),
            Err(e) => return Err(SuperviseError::System("cannot read the verdict", e)),
        }
    }
    let text = String::from_utf8_lossy(&text);
    let text = text.trim_end();
    if text == "started" {
        return Ok(());
    }
    let reason = match text.strip_prefix("failed: ") {
        Some(reason) => reason.to_string(),
        None => "the supervisor exited before its client started".to_string(),
    };
    Err(SuperviseError::StartFailed(reason))
}

/// The supervisor's side of the verdict.
#[derive(Debug)]
pub enum Verdict {
    /// To the starting process, through this pipe.
    Pipe(OwnedFd),
    /// In the foreground there is nobody waiting.
    Foreground,
}

impl Verdict {
    /// Tells the starting process the client started; from now on the standard input,
    /// output and error are /dev/null.
    pub fn started(self) -> io::Result<()> {
        if let Verdict::Pipe(fd) = self {
            // The waiting process may be gone; the supervisor goes on.
            let _ = sys::write_all(fd.as_raw_fd(), b"started\n");
            drop(fd);
            sys::std_fds_to_null()?;
        }
        Ok(())
    }

    /// Tells the starting process why the start failed: `Ok` once told through the
    /// pipe, the error itself in the foreground (for the caller to report).
    pub fn failed(self, error: SuperviseError) -> Result<(), SuperviseError> {
        match self {
            Verdict::Pipe(fd) => {
                let text = format!("failed: {}\n", error.to_string().replace('\n', " "));
                let _ = sys::write_all(fd.as_raw_fd(), text.as_bytes());
                Ok(())
            }
            Verdict::Foreground => Err(error),
        }
    }
}
