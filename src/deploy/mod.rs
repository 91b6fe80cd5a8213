//! Deployment: building and reading profiles, planning and carrying out switches.
//!
//! Its rooms, each a concern:
//! - [`model`]: from a processes model (`processes.nix`, a flake) to a profile in the
//!   store with `nix-build` and `build-profile.nix`, the evaluator plugin chosen;
//!   [`model::nix`] the one constructor of the Nix commands the tools run;
//! - [`profile`]: a profile as the tools read it (start links, manifests, credential
//!   files, the dependency check and the start order); [`profile::generations`] the Nix
//!   profile link and its generations (in `nix-env`'s layout, moved by an atomic rename);
//! - [`transaction`]: a switch as one transaction: [`transaction::plan`] the difference
//!   of two profiles as dependency-ordered steps, [`transaction::journal`] the lock and
//!   the journal, [`transaction::progress`] how the steps are shown, and
//!   [`transaction::switch`] tying them together, with the rollback of a failed switch
//!   and the recovery of an interrupted one;
//! - [`scripts`]: running init.d scripts: [`scripts::execute`] the steps of one phase in
//!   parallel where the graph allows, [`scripts::spawn`] each script's child behind its
//!   gate;
//! - [`accounts`]: the groups and users a profile needs, created, recorded and removed
//!   when no deployment uses them any more;
//! - [`secrets`]: files placed outside the store before the processes that read them
//!   start;
//! - [`activity`]: what runactivity does with a deployment: one activity on every
//!   script, [`activity::confirm`] its health, [`activity::service_status`] what
//!   `status --json` says of a service; [`logs`] the processes' logs;
//! - [`tool_dir`]: the tool's own directory of a profile, next to its link (checked
//!   before use), and the move of the state an earlier version kept elsewhere;
//! - [`safe_dir`]: directories reached without following a symbolic link someone else
//!   could have planted (the registry's, the secrets', the logs').
//!
//! A switch goes through them in this order: [`profile`] reads the old and the new
//! profile, [`transaction::plan`] diffs them, [`transaction::journal`] takes the lock and
//! records the plan, [`accounts`] creates the accounts the new processes need,
//! [`secrets`] are placed, [`scripts`] runs the stops and then the starts, and
//! [`profile::generations`] moves the Nix profile once every start succeeded;
//! [`transaction::switch`] drives it.
//!
//! Where things live:
//! - the Nix profile link: `--profile NAME` under `/nix/var/nix/profiles/nixproc-sysvinit`
//!   (root) or `/nix/var/nix/profiles/per-user/USER/nixproc-sysvinit` (others), or
//!   `--profile PATH` for any path; its generations are the deployments. As for Nix and
//!   nix-processmgmt, `NIX_STATE_DIR` moves `/nix/var/nix` and `NIX_USER_PROFILE_DIR`
//!   names the profiles directory; a nix-processmgmt deployment (`NAME` right in that
//!   directory, e.g. `/nix/var/nix/profiles/processes`) is used when this tool has no
//!   link `NAME` (see [`profile::generations::default_profile_link`]);
//! - the tool's own state of a profile link `DIR/NAME`, found from the link alone (so
//!   every tool acting on one profile takes the same lock, whatever `--state-dir` and
//!   `--lib-dir` say): `DIR/.NAME.nixproc-sysvinit/` with `lock`, `journal.jsonl` (only
//!   while a switch runs or after one was interrupted), `logs/NAME.ACTION.log` (the
//!   output of the last run of each script), `result` (the garbage-collector root of
//!   the last profile built from a model) and `hosts/` (the roots of what went to other
//!   machines); see [`tool_dir`], which also moves what an earlier version kept in
//!   `LIBDIR/nixproc-sysvinit/NAME/`;
//! - the registry of the groups and users this tool created, one per machine and shared
//!   by every profile of every state directory: `/var/lib/nixproc-sysvinit/accounts.json`
//!   for root whatever `--state-dir` says (the environment variable
//!   `NIXPROC_SYSVINIT_ACCOUNTS_DIR` names another directory); for others
//!   `$XDG_STATE_HOME/nixproc-sysvinit/accounts.json`, by default
//!   `$HOME/.local/state/nixproc-sysvinit/accounts.json` ([`tool_dir::accounts_dir`]); next to it `uid-map` and
//!   `gid-map`, the ids it gave each name (machine state, never pruned);
//! - the directories the processes use, given to the model: `STATEDIR` is
//!   `--state-dir`, by default `/var` for root and `$HOME/var` for others, and `LIBDIR`
//!   (the model's `libDir`) is `--lib-dir`, by default `STATEDIR/lib`.

pub mod accounts;
pub mod activity;
pub mod logs;
pub mod model;
pub mod profile;
pub mod safe_dir;
pub mod scripts;
pub mod secrets;
pub mod tool_dir;
pub mod transaction;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Errors of the deployment modules.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// A file or directory could not be read or written.
    /// The OS error is part of the message and deliberately not a `source`: an error
    /// chain printed with `{:#}` would show it twice.
    #[error("{action} {}: {}", path.display(), describe_io(error, path))]
    Io {
        /// What was being done, e.g. "reading".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A profile is malformed (bad manifest, bad link name...).
    #[error("profile {path}: {message}")]
    Profile {
        /// The profile or file concerned.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The dependency graph of a profile contains a cycle.
    #[error("dependency cycle: {0}")]
    Cycle(String),
    /// A process depends on a process that is not in the profile.
    #[error("process `{process}` depends on `{dependency}`, which is not in the profile")]
    MissingDependency {
        /// The process declaring the dependency.
        process: String,
        /// The missing dependency.
        dependency: String,
    },
    /// Another switch (or runactivity) holds the lock and the caller would not wait.
    #[error(
        "another {program} (pid {pid}) is running on this profile; lock file {}",
        path.display()
    )]
    Locked {
        /// The pid written by the holder, or "unknown".
        pid: String,
        /// The holder's program, as it wrote it.
        program: String,
        /// The lock file.
        path: PathBuf,
    },
    /// Creating, recording or deleting the accounts of a profile failed.
    #[error(transparent)]
    Accounts(#[from] accounts::AccountError),
    /// An external command (nix-env, nix-build...) failed.
    #[error("command `{command}` failed: {message}")]
    Command {
        /// The command line, for the message.
        command: String,
        /// Exit status and stderr.
        message: String,
    },
    /// The journal could not be parsed.
    #[error("journal {path}: {message}")]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A switch failed and was undone.
    #[error("{}", rolled_back_message(reason, failed))]
    RolledBack {
        /// Why it was undone.
        reason: String,
        /// Rollback steps that failed (process name, status and output).
        failed: Vec<(String, String)>,
    },
    /// A directory the tools would keep a profile's state in (the profile link's
    /// directory, the tool directory in it, an old state directory) is not one only
    /// root or the caller can change.
    #[error(
        "{what} {} {problem} (owner {owner}, mode {mode:04o}); the tools keep a profile's \
         lock, journal and logs there, so it must be a directory that belongs to root or \
         to the user running them and that nobody else can write: chown it or chmod go-w \
         it, or keep the profile elsewhere",
        path.display()
    )]
    UntrustedDirectory {
        /// Which directory, e.g. "profile directory".
        what: &'static str,
        /// The directory.
        path: PathBuf,
        /// What is wrong, e.g. "is writable by group or others".
        problem: &'static str,
        /// Its owner, as `uid N (NAME)`.
        owner: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The account registry an earlier version left could not be merged into the
    /// current one.
    #[error("account registry {}: {message}", path.display())]
    Registry {
        /// The registry file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A PATH operand that names no model, flake or profile, or one given with `--flake`.
    #[error("{}", operand_message(path.as_deref()))]
    Operand {
        /// The operand (`None`: a PATH and `--flake` were both given).
        path: Option<PathBuf>,
    },
    /// The secrets of a profile could not be gathered or placed.
    #[error(transparent)]
    Secret(#[from] secrets::SecretError),
    /// The evaluator plugin named on the command line cannot render in the Nix at hand.
    #[error("{0} (give --plugin none to render at build time)")]
    NamedPluginUnusable(model::PluginUnusable),
    /// `build-profile.nix` is in none of the places the tools look for it.
    #[error("cannot find build-profile.nix; set NIXPROC_NIX_DIR to the directory holding it")]
    BuilderNotFound,
    /// A file of the tools' Nix code is missing next to `build-profile.nix`: that
    /// directory belongs to an older version.
    #[error(
        "{} does not exist: the directory of build-profile.nix is older than this tool \
         (set NIXPROC_NIX_DIR to this version's nix directory)",
        path.display()
    )]
    OutdatedNixDir {
        /// The missing file.
        path: PathBuf,
    },
    /// Ids were to be assigned for a flake model, which only a model file can have.
    #[error(
        "assigning ids for the flake model {reference}#{name}: only a processes model file \
         can be given (the model reads ids.nix from its own directory)"
    )]
    IdsForFlake {
        /// The flake reference.
        reference: String,
        /// The name of its `processes` attribute.
        name: String,
    },
    /// A boolean environment variable has a value that is no boolean.
    #[error(
        "environment variable {var}={value:?} is not a boolean: use 1, 0, true, false, yes or no"
    )]
    NotABoolean {
        /// The variable.
        var: String,
        /// Its value.
        value: String,
    },
}

/// The message of [`DeployError::Operand`].
fn operand_message(path: Option<&Path>) -> String {
    match path {
        None => "give either --flake or a PATH, not both".into(),
        Some(p) => format!(
            "{} is neither a processes model file, a flake nor a profile directory (no etc/rc.d)",
            p.display()
        ),
    }
}

impl From<crate::graph::GraphError> for DeployError {
    fn from(e: crate::graph::GraphError) -> Self {
        match e {
            crate::graph::GraphError::MissingDependency {
                process,
                dependency,
            } => DeployError::MissingDependency {
                process,
                dependency,
            },
            crate::graph::GraphError::Cycle(path) => DeployError::Cycle(path.to_string()),
        }
    }
}

/// The message of [`DeployError::RolledBack`].
fn rolled_back_message(reason: &str, failed: &[(String, String)]) -> String {
    let mut msg = format!(
        "{reason}\nrolled back: the previous deployment is running again and the profile is unchanged"
    );
    if !failed.is_empty() {
        msg.push_str("\nwarning: some rollback steps failed:");
        for (name, detail) in failed {
            msg.push_str(&format!("\n  {name}: {detail}"));
        }
    }
    msg
}

impl DeployError {
    /// Wraps an I/O error with the action and the path it concerned.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        DeployError::Io {
            action,
            path: path.into(),
            error,
        }
    }

    /// Whether this is a write that failed because the disk is full (or over quota).
    pub fn is_disk_full(&self) -> bool {
        match self {
            DeployError::Io { error, .. } => is_disk_full(error),
            DeployError::Accounts(e) => e.is_disk_full(),
            _ => false,
        }
    }
}

/// Whether an I/O error means the filesystem has no space left (ENOSPC, EDQUOT).
pub(crate) fn is_disk_full(error: &std::io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::ENOSPC) | Some(libc::EDQUOT)
    )
}

/// An I/O error as the messages show it: the OS's text, and for a full disk, which
/// filesystem (the directory holding `path`).
pub(crate) fn describe_io(error: &std::io::Error, path: &Path) -> String {
    if is_disk_full(error) {
        let dir = path.parent().unwrap_or(path);
        format!(
            "{error}: the disk holding {} is full; free some space there and run again",
            dir.display()
        )
    } else if error.raw_os_error() == Some(libc::ELOOP) {
        format!("{error}: it is a symbolic link, which the tool does not follow")
    } else {
        error.to_string()
    }
}

/// Result type of the deployment modules.
pub type Result<T> = std::result::Result<T, DeployError>;

/// Runs a command with no input and waits for its output; `shown` names it in the
/// error when it cannot be started. Its exit status is for the caller to judge.
pub(crate) fn output_of(cmd: &mut Command, shown: &str) -> Result<Output> {
    cmd.stdin(Stdio::null())
        .output()
        .map_err(|e| DeployError::Command {
            command: shown.to_string(),
            message: e.to_string(),
        })
}

/// Runs a command, capturing its output; fails with its stderr when it exits non-zero.
pub(crate) fn run_capture(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}").replace('"', "");
    let out = output_of(cmd, &shown)?;
    if !out.status.success() {
        return Err(DeployError::Command {
            command: shown,
            message: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The runlevel to deploy for: the system's current one (from `runlevel`), else 3.
pub fn detect_runlevel() -> u8 {
    Command::new("runlevel")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .last()
                .and_then(|w| w.parse::<u8>().ok())
        })
        .filter(|r| *r <= 6)
        .unwrap_or(3)
}

/// The default state directory: `/var` for root, `$HOME/var` for anybody else.
pub fn default_state_dir() -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        PathBuf::from("/var")
    } else {
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join("var"))
            .unwrap_or_else(|| PathBuf::from("/var"))
    }
}

/// Testing hook: with `NIXPROC_TEST_KILL_AT=POINT`, the tool kills itself with SIGKILL
/// when it reaches the named point (e.g. `profile-renamed`, between the profile move
/// and its journal record).
pub(crate) fn test_hook_point(point: &str) {
    if std::env::var("NIXPROC_TEST_KILL_AT").ok().as_deref() == Some(point) {
        // SAFETY: sending a signal to ourselves.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
