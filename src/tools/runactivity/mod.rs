//! `nixproc-sysvinit-runactivity`: runs one activity on every script of the deployed
//! profile (or of a given profile or model), in start order or in reverse; shows the
//! processes' logs; confirms that a deployment is healthy.
//!
//! [`Options`] are the command line; [`Options::activity`] decides once, and checks,
//! what the invocation does. `local` carries it out here, `remote` on a target host
//! or a fleet.
//!
//! Every activity but `status` changes processes, so it takes the profile's lock, the
//! one the switch takes (in the tool directory next to the profile link, whatever
//! `--state-dir` says): it waits for a running switch (or fails at once with
//! `--no-wait`) and then works on what that switch deployed.

mod local;
mod remote;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Result};
use clap::Parser;

use crate::deploy::tool_dir::{StateOptions, ToolDir};
use crate::tools::options::{DeploymentArgs, ModelArgs, RemoteArgs, RunArgs};

/// Run an activity (status, stop, reload, ...) on every process of a deployment.
#[derive(Parser, Debug)]
#[command(name = "nixproc-sysvinit-runactivity", version)]
pub struct Options {
    /// Go through the scripts in reverse start order (e.g. to stop everything).
    #[arg(short = 'r', long)]
    pub reverse: bool,
    /// The activity to run, e.g. status, stop, start, reload, restart; or `logs`, which
    /// shows the processes' logs.
    pub activity: String,
    /// For `logs`: the processes whose logs to show (all when none). For the other
    /// activities: a profile directory, processes model or flake directory instead of the
    /// deployed profile (or `--flake REF#NAME`) [env: NIXPROC_PROCESSES].
    #[arg(value_name = "PATH | NAME")]
    pub operands: Vec<PathBuf>,
    /// `logs`: the number of last lines shown of each log [default: 10].
    #[arg(short = 'n', long, value_name = "N")]
    pub lines: Option<usize>,
    /// `logs`: go on showing lines as they are written (across rotations) until
    /// interrupted or until the output's reader goes away.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// `confirm`: keep checking for this many seconds until every check passes
    /// [default: one round].
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// `confirm`: a shell command that must exit 0 too (a health check). Repeatable.
    #[arg(long = "check", value_name = "COMMAND")]
    pub checks: Vec<String>,
    #[command(flatten)]
    pub deployment: DeploymentArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// State directory given to a model this tool builds [default: /var for root,
    /// $HOME/var]. The lock is the profile's own, next to its link, whatever this says.
    #[arg(long, env = "NIXPROC_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Library directory in which an earlier version kept the profile's state
    /// (LIB/nixproc-sysvinit/PROFILE), moved next to the profile link when found
    /// [default: STATE/lib].
    #[arg(long, env = "NIXPROC_LIB_DIR")]
    pub lib_dir: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Print a JSON array of results (with LSB states for `status`) instead of the
    /// scripts' output.
    #[arg(long)]
    pub json: bool,
}

/// The activity that shows logs instead of running the scripts.
const LOGS: &str = "logs";
/// The activity that checks that the deployment is healthy (see [`crate::deploy::activity::confirm`]).
const CONFIRM: &str = "confirm";
/// The script activity that changes nothing.
const STATUS: &str = "status";

/// What one invocation does, decided once from the operands and options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activity {
    /// `logs [NAME...]`: the last lines of these processes' logs (all when none).
    Logs {
        /// The processes named.
        names: Vec<String>,
        /// `-n N`: how many last lines of each log [default: 10].
        lines: Option<usize>,
        /// `-f`: go on with what they write next.
        follow: bool,
    },
    /// `confirm`: the deployment is checked until it is healthy or the time is up.
    Confirm {
        /// `--timeout SECONDS` [default: one round].
        timeout: Option<u64>,
        /// `--check COMMAND`: health checks that must pass too.
        checks: Vec<String>,
    },
    /// Any other activity, run by every process's script.
    Script {
        /// The script's argument: `status`, `start`, `stop`, `reload`, ...
        name: String,
        /// `--reverse`: in reverse start order.
        reverse: bool,
    },
}

impl Activity {
    /// Whether it runs scripts that change processes, which takes the profile's lock.
    pub fn changes_processes(&self) -> bool {
        matches!(self, Activity::Script { name, .. } if name != STATUS)
    }

    /// Whether a fleet run of it takes the fleet's lock on the deploying machine, so
    /// that it waits for a running deployment of the fleet (`status` and `logs` only
    /// look).
    pub fn waits_for_the_fleet(&self) -> bool {
        !matches!(self, Activity::Logs { .. })
            && !matches!(self, Activity::Script { name, .. } if name == STATUS)
    }

    /// The activity and its own options, as the tool takes them on a target host.
    pub fn host_args(&self) -> Vec<String> {
        match self {
            Activity::Logs {
                names,
                lines,
                follow,
            } => {
                let mut args = vec![LOGS.to_string()];
                if let Some(n) = lines {
                    args.extend(["--lines".to_string(), n.to_string()]);
                }
                if *follow {
                    args.push("--follow".to_string());
                }
                // After `--`: a name cannot be taken for an option there.
                args.push("--".to_string());
                args.extend(names.iter().cloned());
                args
            }
            Activity::Confirm { timeout, checks } => {
                let mut args = vec![CONFIRM.to_string()];
                if let Some(t) = timeout {
                    args.extend(["--timeout".to_string(), t.to_string()]);
                }
                for check in checks {
                    args.extend(["--check".to_string(), check.clone()]);
                }
                args
            }
            Activity::Script { name, reverse } => {
                let mut args = vec![name.clone()];
                if *reverse {
                    args.push("--reverse".to_string());
                }
                args
            }
        }
    }
}

/// Runs the activity as `options` say; the process's exit code: 0 when every script
/// (or check) succeeded, 1 when one failed, 2 for an error before any ran.
pub fn main(options: &Options) -> ExitCode {
    let run = options.activity().and_then(|activity| {
        if options.remote.is_remote() {
            remote::run(options, &activity)
        } else {
            local::run(options, &activity)
        }
    });
    match run {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("nixproc-sysvinit-runactivity: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

impl Options {
    /// What this invocation does; options that go with another activity are refused.
    pub fn activity(&self) -> Result<Activity> {
        let name = self.activity.as_str();
        if name != CONFIRM && (self.timeout.is_some() || !self.checks.is_empty()) {
            return Err(anyhow!(
                "--timeout and --check go with `confirm`, not `{name}`"
            ));
        }
        if name != LOGS && (self.lines.is_some() || self.follow) {
            return Err(anyhow!(
                "-n/--lines and -f/--follow go with `logs`, not `{name}`"
            ));
        }
        Ok(match name {
            LOGS => {
                if self.json || self.reverse {
                    return Err(anyhow!("`logs` takes neither --json nor --reverse"));
                }
                if self.model.flake.is_some() {
                    return Err(anyhow!(
                        "`logs` shows the logs of the deployed profile: give no --flake"
                    ));
                }
                let names = self.operands.iter();
                Activity::Logs {
                    names: names.map(|p| p.to_string_lossy().into_owned()).collect(),
                    lines: self.lines,
                    follow: self.follow,
                }
            }
            CONFIRM => Activity::Confirm {
                timeout: self.timeout,
                checks: self.checks.clone(),
            },
            _ => Activity::Script {
                name: name.to_string(),
                reverse: self.reverse,
            },
        })
    }

    /// The PATH operand (or `NIXPROC_PROCESSES`) of an activity other than `logs`.
    fn path(&self, activity: &Activity) -> Result<Option<PathBuf>> {
        if let Activity::Logs { .. } = activity {
            return Ok(None);
        }
        match self.operands.as_slice() {
            [] => Ok(std::env::var_os("NIXPROC_PROCESSES")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)),
            [path] => Ok(Some(path.clone())),
            [_, extra, ..] => Err(anyhow!(
                "`{}` takes one PATH; {} is one too many (names of processes go with `logs`)",
                self.activity,
                extra.display()
            )),
        }
    }

    /// The tool directory of the profile, opened (see [`crate::deploy::tool_dir::open`]); says what
    /// state of an earlier version moved in.
    fn open_tool_dir(&self) -> Result<ToolDir> {
        let profile = self.deployment.profile_link();
        let nix_options = self.run.nix_options();
        let options = StateOptions {
            profile: &profile,
            state_dir: self.state_dir.as_deref(),
            lib_dir: self.lib_dir.as_deref(),
            wait: self.run.wait(),
            nix_options: &nix_options,
        };
        super::open_tool_dir(&options, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity_of(args: &[&str]) -> Result<Activity> {
        let argv = std::iter::once("nixproc-sysvinit-runactivity").chain(args.iter().copied());
        Options::try_parse_from(argv)
            .expect("valid options")
            .activity()
    }

    #[test]
    fn each_activity_is_asked_for_on_a_host_as_it_was_here() {
        for args in [
            &["status"][..],
            &["stop", "--reverse"],
            &["logs"],
            &["logs", "-n", "5", "-f", "--", "web", "--db"],
            &[
                "confirm",
                "--timeout",
                "30",
                "--check",
                "true",
                "--check",
                "test -e /x",
            ],
        ] {
            let activity = activity_of(args).expect("a valid activity");
            let again = activity.host_args();
            let again: Vec<&str> = again.iter().map(String::as_str).collect();
            assert_eq!(
                activity_of(&again).expect("valid again"),
                activity,
                "{args:?}"
            );
        }
    }

    #[test]
    fn options_of_another_activity_are_refused_by_name() {
        let err = activity_of(&["status", "-n", "3"]).expect_err("-n is for logs");
        assert!(
            err.to_string().contains("go with `logs`, not `status`"),
            "{err}"
        );
        let err = activity_of(&["logs", "--json"]).expect_err("logs has no JSON");
        assert!(err.to_string().contains("neither --json"), "{err}");
        let err = activity_of(&["stop", "--check", "true"]).expect_err("--check is for confirm");
        assert!(err.to_string().contains("go with `confirm`"), "{err}");
    }

    #[test]
    fn only_scripts_other_than_status_take_the_profile_lock() {
        let changes = |args: &[&str]| activity_of(args).unwrap().changes_processes();
        assert!(changes(&["stop"]));
        assert!(!changes(&["status"]));
        assert!(!changes(&["logs"]));
        assert!(!changes(&["confirm"]));
        let waits = |args: &[&str]| activity_of(args).unwrap().waits_for_the_fleet();
        assert!(waits(&["confirm"]) && waits(&["restart"]));
        assert!(!waits(&["status"]) && !waits(&["logs"]));
    }
}
