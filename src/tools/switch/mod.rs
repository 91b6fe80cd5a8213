//! `nixproc-sysvinit-switch`: deploys a processes model or a prebuilt profile, upgrading
//! the previous deployment as a transaction, and manages the profile's generations.
//!
//! [`Options`] are the command line; [`Options::operation`] decides once what the
//! invocation does. `local` carries it out on this machine, `remote` on a target
//! host or a fleet (through [`crate::remote::orchestrate`]).

mod local;
mod remote;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{ArgGroup, Parser};

use crate::deploy::model::{self, BuildParams};
use crate::deploy::secrets::SecretInput;
use crate::deploy::tool_dir::{self, StateOptions, ToolDir};
use crate::deploy::transaction::switch::Settings;
use crate::ids::deployment::{self as ids, AssignArgs};
use crate::protocol::{Event, SwitchResult};
use crate::remote::orchestrate;
use crate::tools::options::{DeploymentArgs, DirArgs, Dirs, ModelArgs, RemoteArgs, RunArgs};

/// Deploy processes with sysvinit scripts: stop obsolete, start new and restart changed
/// processes in dependency order, in parallel, as one transaction.
#[derive(Parser, Debug)]
#[command(name = "nixproc-sysvinit-switch", version)]
#[command(group(ArgGroup::new("operation").args([
    "undeploy", "rollback", "switch_generation", "list_generations",
    "delete_generations", "delete_all_generations"]).conflicts_with("assign_ids")))]
#[command(mut_arg("lib_dir", |a| a.help(LIB_DIR_HELP)))]
pub struct Options {
    /// A processes model (processes.nix) to build, a prebuilt profile directory
    /// (anything containing etc/rc.d), or a flake directory (its processes.default).
    #[arg(env = "NIXPROC_PROCESSES")]
    pub path: Option<PathBuf>,

    #[command(flatten)]
    pub deployment: DeploymentArgs,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Compare against this profile directory instead of the deployed one.
    #[arg(short = 'o', long)]
    pub old_profile: Option<PathBuf>,

    #[command(flatten)]
    pub dirs: DirArgs,
    /// Pass --show-trace to nix-build.
    #[arg(long)]
    pub show_trace: bool,
    /// Evaluator plugin to render with at evaluation time, or `none` to render at build
    /// time [default: libnixproc_sysvinit_plugin.so next to this executable, if there].
    #[arg(long, env = "NIXPROC_PLUGIN", value_name = "PATH")]
    pub plugin: Option<String>,

    #[command(flatten)]
    pub ids: AssignArgs,

    /// Stop every process and deploy an empty profile.
    #[arg(long)]
    pub undeploy: bool,
    /// Switch to the previous generation.
    #[arg(long)]
    pub rollback: bool,
    /// Switch to generation N.
    #[arg(long, value_name = "N")]
    pub switch_generation: Option<u64>,
    /// List the profile's generations.
    #[arg(long)]
    pub list_generations: bool,
    /// Delete generations (nix-env syntax: old, +N, Nd, or numbers).
    #[arg(long, value_name = "SPEC")]
    pub delete_generations: Option<String>,
    /// Undeploy, then delete every generation, the profile link and the tool's
    /// garbage-collector root of the last build (.PROFILE.nixproc-sysvinit/result next
    /// to the profile link).
    #[arg(long)]
    pub delete_all_generations: bool,

    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// With `--dry-run`: print the plan as a Graphviz DOT graph of the processes and
    /// their dependencies, each marked start, stop, restart or unchanged.
    #[arg(long, requires = "dry_run")]
    pub graph: bool,
    /// Most scripts running at once [default: 8 per CPU, at least 16].
    #[arg(short = 'j', long, env = "NIXPROC_JOBS")]
    pub jobs: Option<usize>,
    /// Kill a start or stop script running longer than SECONDS (a start that times out
    /// fails the switch) [default: no limit].
    #[arg(long, env = "NIXPROC_TIMEOUT", value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// Machine-readable output: JSON lines of progress and a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print no progress, and Nix's build output only when the build fails.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// With `--hosts`: when any host fails, switch every host of this run that already
    /// switched back to the generation it had before (then exit non-zero).
    #[arg(long)]
    pub rollback_on_failure: bool,
    /// After every host switched, each must confirm within SECONDS (its processes run,
    /// their TCP ports answer, its `healthChecks` pass), or the whole run is rolled back
    /// (and exits non-zero).
    #[arg(long, value_name = "SECONDS")]
    pub confirm_timeout: Option<u64>,
    /// Where the contents of the profile's secrets come from: `sources` (each secret's
    /// `source`, read here), `stdin` (the line a deploying machine writes, which is how
    /// --target-host and --hosts send them), `keep` (the files in place stay).
    #[arg(long, value_enum, default_value = "sources", value_name = "FROM")]
    pub secrets_from: SecretInput,
}

/// `--lib-dir` as the switch has it.
const LIB_DIR_HELP: &str = "Library directory, the model's libDir [default: STATE/lib]. The \
    tool's own lock, journal and logs live next to the profile link, in \
    .PROFILE.nixproc-sysvinit/; what an earlier version kept in LIB/nixproc-sysvinit/PROFILE \
    is moved there.";

/// What the profile is to become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The model or profile given (PATH, `--flake`, `NIXPROC_PROCESSES`).
    Given,
    /// The generation before the current one (`--rollback`).
    Previous,
    /// Generation N (`--switch-generation N`).
    Generation(u64),
    /// An empty profile (`--undeploy`); with `delete_all` (`--delete-all-generations`),
    /// every generation and the profile link go afterwards.
    Empty {
        /// Whether every generation and the profile link go too.
        delete_all: bool,
    },
}

/// What one invocation does, decided once from the flags (clap's `operation` group
/// makes them exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// `--list-generations`.
    ListGenerations,
    /// `--delete-generations SPEC`.
    DeleteGenerations(String),
    /// `--dry-run`: print the plan to the target (text, JSON or, with `graph`, DOT).
    Plan {
        /// What the plan leads to.
        target: Target,
        /// `--graph`: the plan as a Graphviz graph.
        graph: bool,
    },
    /// Stop, start and restart processes and move the profile to the target.
    Switch(Target),
}

impl Operation {
    /// Whether it builds and deploys the model given (here, or each host's own).
    pub fn deploys_given(&self) -> bool {
        matches!(
            self,
            Operation::Switch(Target::Given)
                | Operation::Plan {
                    target: Target::Given,
                    ..
                }
        )
    }

    /// Whether it changes nothing (a listing or a plan).
    pub fn only_reads(&self) -> bool {
        matches!(self, Operation::ListGenerations | Operation::Plan { .. })
    }

    /// The flags that ask for it, as the switch takes them on a target host.
    pub fn host_args(&self) -> Vec<String> {
        let target_args = |target: &Target| match target {
            Target::Given => vec![],
            Target::Previous => vec!["--rollback".to_string()],
            Target::Generation(n) => vec!["--switch-generation".to_string(), n.to_string()],
            Target::Empty { delete_all: false } => vec!["--undeploy".to_string()],
            Target::Empty { delete_all: true } => vec!["--delete-all-generations".to_string()],
        };
        match self {
            Operation::ListGenerations => vec!["--list-generations".to_string()],
            Operation::DeleteGenerations(spec) => {
                vec!["--delete-generations".to_string(), spec.clone()]
            }
            Operation::Plan { target, graph } => {
                let mut args = target_args(target);
                args.push("--dry-run".to_string());
                if *graph {
                    args.push("--graph".to_string());
                }
                args
            }
            Operation::Switch(target) => target_args(target),
        }
    }
}

/// Runs the switch as `options` say; the process's exit code. An error is printed (and,
/// with `--json`, given as a failed result).
pub fn main(options: &Options) -> ExitCode {
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A fleet's JSON summary, already printed, is its result.
            if options.json && e.downcast_ref::<orchestrate::HostsFailed>().is_none() {
                let failed = SwitchResult::failed(format!("{e:#}"));
                println!("{}", Event::Result(Box::new(failed)).to_line());
            }
            eprintln!("nixproc-sysvinit-switch: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The ids first (`--assign-ids`), then the operation, here or on other hosts.
fn run(options: &Options) -> Result<()> {
    if options.ids.assign_ids {
        assign_ids(options)?;
    }
    if options.remote.is_remote() {
        remote::run(options)
    } else {
        local::run(options)
    }
}

impl Options {
    /// What this invocation does.
    pub fn operation(&self) -> Operation {
        if self.list_generations {
            return Operation::ListGenerations;
        }
        if let Some(spec) = &self.delete_generations {
            return Operation::DeleteGenerations(spec.clone());
        }
        let target = if self.rollback {
            Target::Previous
        } else if let Some(n) = self.switch_generation {
            Target::Generation(n)
        } else if self.undeploy || self.delete_all_generations {
            Target::Empty {
                delete_all: self.delete_all_generations,
            }
        } else {
            Target::Given
        };
        if self.dry_run {
            Operation::Plan {
                target,
                graph: self.graph,
            }
        } else {
            Operation::Switch(target)
        }
    }

    /// How models are built: the directories they get, their arguments, the plugin.
    fn build_params(&self) -> Result<BuildParams> {
        // A model for another machine gets that machine's system directories unless
        // told otherwise, whoever builds it here.
        let state_dir = match (&self.dirs.state_dir, self.remote.is_remote()) {
            (None, true) => PathBuf::from("/var"),
            _ => self.dirs.state(),
        };
        Ok(BuildParams {
            dirs: self.dirs.builder_dirs(&state_dir),
            force_disable_user_change: self.model.force_disable_user_change()?,
            extra_params: self.model.extra_params.clone(),
            model_args: self.model.model_args(),
            override_inputs: self.model.override_inputs(),
            show_trace: self.show_trace,
            plugin: model::resolve_plugin(self.plugin.as_deref()),
            nix_options: self.run.nix_options(),
            quiet: self.quiet,
        })
    }

    /// How the tool directory of `profile` is found, with these options.
    fn state_options<'a>(
        &'a self,
        profile: &'a Path,
        nix_options: &'a [(String, String)],
    ) -> StateOptions<'a> {
        StateOptions {
            profile,
            state_dir: self.dirs.state_dir.as_deref(),
            lib_dir: self.dirs.lib_dir.as_deref(),
            wait: self.run.wait(),
            nix_options,
        }
    }

    /// The tool directory of `profile`, opened (see [`tool_dir::open`]); says what state
    /// of an earlier version moved in.
    fn open_tool_dir(&self, profile: &Path) -> Result<ToolDir> {
        let nix_options = self.run.nix_options();
        super::open_tool_dir(&self.state_options(profile, &nix_options), self.quiet)
    }

    /// For a user other than root: moves the account registries of an earlier version
    /// into the one `settings` use.
    fn move_account_registries(&self, profile: &Path, settings: &Settings) -> Result<()> {
        let nix_options = self.run.nix_options();
        let options = self.state_options(profile, &nix_options);
        for line in tool_dir::move_account_registries(&options, &settings.accounts_dir)? {
            eprintln!("{line}");
        }
        Ok(())
    }

    /// The switch's settings for the profile link `profile`.
    fn settings(&self, profile: &Path, dirs: &Dirs, tool_state: &Path) -> Result<Settings> {
        Ok(Settings {
            profile: profile.to_path_buf(),
            state_dir: tool_state.to_path_buf(),
            accounts_dir: tool_dir::accounts_dir(&dirs.lib),
            runlevel: self.deployment.runlevel(),
            // Start scripts mostly wait (for PID files, ports), so many run well per core.
            jobs: self.jobs.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get() * 8)
                    .unwrap_or(16)
                    .max(16)
            }),
            force_disable_user_change: self.model.force_disable_user_change()?,
            json: self.json,
            quiet: self.quiet,
            timeout: self
                .timeout
                .filter(|t| *t > 0.0 && t.is_finite())
                .map(std::time::Duration::from_secs_f64),
            wait: self.run.wait(),
            nix_options: self.run.nix_options(),
            secrets: self.secrets_from,
        })
    }
}

/// `--assign-ids`: the ids of every model this run builds (the fleet's, or the one given)
/// assigned and written before anything else happens; one line per ids file changed.
fn assign_ids(options: &Options) -> Result<()> {
    use anyhow::Context;
    let params = options.build_params()?;
    let models = match &options.remote.hosts {
        Some(file) => {
            let mut hosts = crate::remote::read_hosts(file, &options.run.nix_options())?;
            if let Some(selection) = &options.remote.on {
                hosts = crate::remote::select(hosts, selection)?;
            }
            ids::models_of_hosts(&hosts, &params)
        }
        None => vec![ids::Model {
            file: options.path.clone().context(
                "--assign-ids: no processes model given (pass PATH or set NIXPROC_PROCESSES)",
            )?,
            params,
        }],
    };
    for written in options.ids.assign(&models, !options.dry_run)? {
        if !options.quiet {
            eprintln!("{written}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operation_of(args: &[&str]) -> Operation {
        let argv = std::iter::once("nixproc-sysvinit-switch").chain(args.iter().copied());
        Options::try_parse_from(argv)
            .expect("valid options")
            .operation()
    }

    #[test]
    fn each_operation_is_asked_for_on_a_host_by_the_flags_that_ask_for_it_here() {
        for args in [
            &[][..],
            &["--rollback"],
            &["--switch-generation", "7"],
            &["--undeploy"],
            &["--delete-all-generations"],
            &["--list-generations"],
            &["--delete-generations", "+3"],
            &["--dry-run"],
            &["--dry-run", "--graph"],
            &["--rollback", "--dry-run"],
        ] {
            let operation = operation_of(args);
            let again = operation.host_args();
            let again: Vec<&str> = again.iter().map(String::as_str).collect();
            assert_eq!(operation_of(&again), operation, "{args:?}");
        }
    }

    #[test]
    fn only_a_switch_or_plan_of_the_given_model_deploys_it() {
        assert!(operation_of(&[]).deploys_given());
        assert!(operation_of(&["--dry-run"]).deploys_given());
        assert!(!operation_of(&["--rollback"]).deploys_given());
        assert!(!operation_of(&["--undeploy"]).deploys_given());
        assert!(operation_of(&["--list-generations"]).only_reads());
        assert!(!operation_of(&["--undeploy"]).only_reads());
    }
}
