//! `nixproc-sysvinit-supervise`: the supervisor of a foreground process (one per
//! service). It daemonizes, keeps the PID files the init-functions library reads
//! (`DIR/NAME.pid`: the supervisor, `DIR/NAME.clientpid`: the running client), writes
//! the client's output through a size-rotating log writer, starts the client again
//! after a crash, and records what happened in `DIR/NAME.state`.
//!
//! - [`Options`] and [`run`]: the command line's meaning and the whole life;
//! - [`state`]: the state file's format (read by `status` and by runactivity);
//! - [`log`]: the rotating log file; `writer`: the thread that feeds it;
//! - [`policy`]: when to respawn and when to give up (pure);
//! - `spawn`: starting a client; `files`: the PID and state files; `daemon`: the fork
//!   and the verdict the starting process waits for; `user`: `--user`; `sys`: the
//!   system calls; `supervisor`: the main loop.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

mod daemon;
mod files;
pub mod launch;
pub mod log;
pub mod policy;
mod spawn;
pub mod state;
mod supervisor;
mod sys;
mod user;
mod writer;

/// The default of `--log-keep`: rotated log files kept.
pub const DEFAULT_LOG_KEEP: u32 = 5;
/// The default of `--respawn-delay`.
pub const DEFAULT_RESPAWN_DELAY: Duration = Duration::from_secs(1);
/// The default of `--respawn-attempts`.
pub const DEFAULT_RESPAWN_ATTEMPTS: u32 = 5;
/// The default of `--respawn-window`.
pub const DEFAULT_RESPAWN_WINDOW: Duration = Duration::from_secs(60);
/// The default of `--kill-delay`.
pub const DEFAULT_KILL_DELAY: Duration = Duration::from_secs(10);

/// What the supervisor is to do: the command line's options, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The service's name: the PID files are `DIR/NAME.pid` and `DIR/NAME.clientpid`.
    pub name: String,
    /// The PID directory `DIR`.
    pub pid_dir: PathBuf,
    /// The log file of the client's output (none: the output goes to /dev/null).
    pub output: Option<PathBuf>,
    /// Rotate the log once it would grow beyond this many bytes (none: never).
    pub log_max_size: Option<u64>,
    /// Rotated log files kept (`LOG.1` .. `LOG.N`); 0 truncates the log instead.
    pub log_keep: u32,
    /// The user to run as (root switches to it at once).
    pub user: Option<String>,
    /// The client's working directory.
    pub chdir: Option<PathBuf>,
    /// The client's umask.
    pub umask: Option<u32>,
    /// Start the client again when it exits.
    pub respawn: bool,
    /// How long to wait before starting it again.
    pub respawn_delay: Duration,
    /// Restarts allowed within `respawn_window` before giving up.
    pub respawn_attempts: u32,
    /// How far back exits count against `respawn_attempts`.
    pub respawn_window: Duration,
    /// How long the first client must live before the start counts as successful.
    pub settle: Duration,
    /// How long a client has after SIGTERM before it gets SIGKILL.
    pub kill_delay: Duration,
    /// Do not daemonize: stay in the caller's session, with its standard descriptors.
    pub foreground: bool,
    /// The cgroup (v2) the supervisor is born in, and so everything it starts: the
    /// service's (the init-functions library makes it).
    pub cgroup: Option<PathBuf>,
    /// Cgroup v1 directories (of a hybrid system's memory, pids or cpu controllers) the
    /// supervisor joins as well, for the service's limits.
    pub cgroups_v1: Vec<PathBuf>,
    /// The client's program.
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
}

impl Options {
    /// The options for running `program` as `name` with PID files in `pid_dir`, every
    /// other option at its default.
    pub fn new(name: &str, pid_dir: &Path, program: impl Into<OsString>) -> Options {
        Options {
            name: name.to_string(),
            pid_dir: pid_dir.to_path_buf(),
            output: None,
            log_max_size: None,
            log_keep: DEFAULT_LOG_KEEP,
            user: None,
            chdir: None,
            umask: None,
            respawn: false,
            respawn_delay: DEFAULT_RESPAWN_DELAY,
            respawn_attempts: DEFAULT_RESPAWN_ATTEMPTS,
            respawn_window: DEFAULT_RESPAWN_WINDOW,
            settle: Duration::ZERO,
            kill_delay: DEFAULT_KILL_DELAY,
            foreground: false,
            cgroup: None,
            cgroups_v1: Vec::new(),
            program: program.into(),
            args: Vec::new(),
        }
    }

    /// The same options with every relative path taken from `cwd` (the supervisor
    /// works from `/`).
    fn absolute(mut self, cwd: &Path) -> Options {
        self.pid_dir = cwd.join(&self.pid_dir);
        self.output = self.output.map(|p| cwd.join(p));
        self.chdir = self.chdir.map(|p| cwd.join(p));
        self
    }
}

/// A value an option does not accept, and what it accepts.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct BadValue(pub &'static str);

/// Reads a NAME: one or more of `-._a-zA-Z0-9`.
pub fn parse_name(text: &str) -> Result<String, BadValue> {
    let ok = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    if ok && !text.is_empty() && text != "." && text != ".." {
        Ok(text.to_string())
    } else {
        Err(BadValue("a name is made of the characters -._a-zA-Z0-9"))
    }
}

/// Reads SECS: seconds, whole or with decimals (`1`, `0.5`).
pub fn parse_secs(text: &str) -> Result<Duration, BadValue> {
    let bad = BadValue("seconds are digits with an optional fraction, e.g. 10 or 0.5");
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || text.ends_with('.') {
        return Err(bad);
    }
    let secs: f64 = text.parse().map_err(|_| bad.clone())?;
    Duration::try_from_secs_f64(secs).map_err(|_| BadValue("too many seconds"))
}

/// Reads an OCTAL umask (`022`, `0077`).
pub fn parse_umask(text: &str) -> Result<u32, BadValue> {
    let bad = BadValue("a umask is an octal number from 0 to 777");
    if text.is_empty() || !text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(bad);
    }
    match u32::from_str_radix(text, 8) {
        Ok(mask) if mask <= 0o777 => Ok(mask),
        _ => Err(bad),
    }
}

/// Why the supervisor could not do its work. Every message names what failed.
#[derive(Debug, Error)]
pub enum SuperviseError {
    /// `--user` names no user.
    #[error("the user {0} does not exist")]
    UnknownUser(String),
    /// The password database could not be read.
    #[error("cannot look up the user {0}: {1}")]
    UserLookup(String, #[source] io::Error),
    /// Only root may run a client as another user.
    #[error("cannot run as {user}: only root can change the user (running as uid {uid})")]
    NotPermitted {
        /// The user asked for.
        user: String,
        /// The caller's uid.
        uid: u32,
    },
    /// A step of switching to the user failed.
    #[error("cannot become the user {0}: {1} failed: {2}")]
    Privileges(String, &'static str, #[source] io::Error),
    /// The switch seemed to succeed but the process still has other ids or can go back.
    #[error("root's privileges were not dropped for {0}")]
    PrivilegesKept(String),
    /// A file of the supervisor: what was done, the file, the error.
    #[error("{0} {}: {2}", .1.display())]
    File(&'static str, PathBuf, #[source] io::Error),
    /// Another supervisor of this name holds the PID file's lock.
    #[error("{0} is already supervised (PID {1})")]
    AlreadySupervised(String, String),
    /// The program, an argument or a path holds a NUL byte.
    #[error("a NUL byte in '{0}'")]
    NulByte(String),
    /// A system call failed: what for, and how.
    #[error("{0}: {1}")]
    System(&'static str, #[source] io::Error),
    /// The client did not start (the reason names it).
    #[error("{0}")]
    StartFailed(String),
    /// A cgroup could not be opened or joined.
    #[error("cannot {0} the cgroup {}: {2}", .1.display())]
    Cgroup(&'static str, PathBuf, #[source] io::Error),
}

/// Runs the supervisor: switches to the user, daemonizes (unless `foreground`), starts
/// and supervises the client. Returns the status the process exits with: in the
/// starting process 0 once the supervisor reports its client started (a failure is
/// the error [`SuperviseError::StartFailed`]); in the supervisor 0 after a stop, the
/// client's status when it exited without `respawn`, 1 when it gave up.
pub fn run(options: Options) -> Result<i32, SuperviseError> {
    sys::close_inherited_fds();
    sys::ensure_std_fds();
    let cwd = std::env::current_dir()
        .map_err(|e| SuperviseError::System("cannot read the working directory", e))?;
    let options = options.absolute(&cwd);
    let account = options.user.as_deref().map(user::lookup).transpose()?;
    let cgroups = launch::Cgroups::open(options.cgroup.as_deref(), &options.cgroups_v1)?;
    let path_var = std::env::var_os("PATH");
    let program = spawn::resolve_program(&options.program, path_var.as_deref(), &cwd);
    // Born in the service's cgroups while root: a user could not join them.
    let verdict = if options.foreground {
        cgroups.join()?;
        daemon::Verdict::Foreground
    } else {
        match daemon::daemonize(&cgroups)? {
            daemon::Role::Parent(verdict) => return daemon::wait_verdict(verdict).map(|()| 0),
            daemon::Role::Supervisor(verdict) => verdict,
        }
    };
    if let Some(account) = &account {
        if let Err(e) = user::become_user(account) {
            verdict.failed(e)?;
            return Ok(1);
        }
    }
    supervisor::supervise(&options, &program, verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_seconds_and_umasks() {
        assert_eq!(parse_name("web-1.a_b"), Ok("web-1.a_b".into()));
        for bad in ["", "a/b", "a b", "..", "é"] {
            assert!(parse_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_secs("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_secs("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_secs("0"), Ok(Duration::ZERO));
        for bad in ["", "-1", "1.", ".5", "1e3", "inf", "1.2.3", " 1", "1s"] {
            assert!(parse_secs(bad).is_err(), "{bad:?}");
        }
        assert!(parse_secs(&"9".repeat(40)).is_err());
        assert_eq!(parse_umask("022"), Ok(0o22));
        assert_eq!(parse_umask("0777"), Ok(0o777));
        for bad in ["", "8", "1000", "-1", "0x1"] {
            assert!(parse_umask(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn relative_paths_are_taken_from_the_working_directory() {
        let mut options = Options::new("web", Path::new("run"), "web");
        options.output = Some("log/web.log".into());
        options.chdir = Some("/srv".into());
        let options = options.absolute(Path::new("/home/u"));
        assert_eq!(options.pid_dir, Path::new("/home/u/run"));
        assert_eq!(
            options.output.as_deref(),
            Some(Path::new("/home/u/log/web.log"))
        );
        assert_eq!(options.chdir.as_deref(), Some(Path::new("/srv")));
    }
}
