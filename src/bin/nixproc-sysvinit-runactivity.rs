//! `nixproc-sysvinit-runactivity`: runs one activity on every script of the deployed
//! profile (or of a given profile or model), in start order or in reverse.
//!
//! Every activity but `status` changes processes, so it takes the profile's lock, the
//! one the switch takes (in the tool directory next to the profile link, whatever
//! `--state-dir` says): it waits for a running switch (or fails at once with
//! `--no-wait`) and then works on what that switch deployed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use clap::Parser;

use nixproc_sysvinit::deploy::activity::{run_activity, status_state, ActivityResult};
use nixproc_sysvinit::deploy::cli::{DeploymentArgs, ModelArgs, RemoteArgs, RunArgs};
use nixproc_sysvinit::deploy::confirm;
use nixproc_sysvinit::deploy::journal::{Journal, Lock};
use nixproc_sysvinit::deploy::logs::{self, ShowError};
use nixproc_sysvinit::deploy::model::{self, BuildParams, ModelSource, Operand};
use nixproc_sysvinit::deploy::profile::Profile;
use nixproc_sysvinit::deploy::tool_dir::{self, StateOptions, ToolDir};
use nixproc_sysvinit::deploy::{self as deploy, generations};
use nixproc_sysvinit::remote::transaction::Transaction;
use nixproc_sysvinit::remote::{self, orchestrate, Echo};

/// Run an activity (status, stop, reload, ...) on every process of a deployment.
#[derive(Parser, Debug)]
#[command(name = "nixproc-sysvinit-runactivity", version)]
struct Cli {
    /// Go through the scripts in reverse start order (e.g. to stop everything).
    #[arg(short = 'r', long)]
    reverse: bool,
    /// The activity to run, e.g. status, stop, start, reload, restart; or `logs`, which
    /// shows the processes' logs.
    activity: String,
    /// For `logs`: the processes whose logs to show (all when none). For the other
    /// activities: a profile directory, processes model or flake directory instead of the
    /// deployed profile (or `--flake REF#NAME`) [env: NIXPROC_PROCESSES].
    #[arg(value_name = "PATH | NAME")]
    operands: Vec<PathBuf>,
    /// `logs`: the number of last lines shown of each log [default: 10].
    #[arg(short = 'n', long, value_name = "N")]
    lines: Option<usize>,
    /// `logs`: go on showing lines as they are written (across rotations) until
    /// interrupted or until the output's reader goes away.
    #[arg(short = 'f', long)]
    follow: bool,
    /// `confirm`: keep checking for this many seconds until every check passes
    /// [default: one round].
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// `confirm`: a shell command that must exit 0 too (a health check). Repeatable.
    #[arg(long = "check", value_name = "COMMAND")]
    checks: Vec<String>,
    #[command(flatten)]
    deployment: DeploymentArgs,
    #[command(flatten)]
    run: RunArgs,
    /// State directory given to a model this tool builds [default: /var for root,
    /// $HOME/var]. The lock is the profile's own, next to its link, whatever this says.
    #[arg(long, env = "NIXPROC_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Library directory in which an earlier version kept the profile's state
    /// (LIB/nixproc-sysvinit/PROFILE), moved next to the profile link when found
    /// [default: STATE/lib].
    #[arg(long, env = "NIXPROC_LIB_DIR")]
    lib_dir: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    remote: RemoteArgs,
    /// Print a JSON array of results (with LSB states for `status`) instead of the
    /// scripts' output.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("nixproc-sysvinit-runactivity: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The activity that shows logs instead of running the scripts.
const LOGS: &str = "logs";
/// The activity that checks that the deployment is healthy (see [`confirm`]).
const CONFIRM: &str = "confirm";

impl Cli {
    /// The PATH operand (or `NIXPROC_PROCESSES`) of an activity other than `logs`.
    fn path(&self) -> Result<Option<PathBuf>> {
        if self.activity == LOGS {
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

    /// The process names given to `logs`.
    fn log_names(&self) -> Vec<String> {
        self.operands
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect()
    }

    /// Refuses the `logs` options with another activity, and options `logs` does not take.
    fn check_options(&self) -> Result<()> {
        if self.activity != CONFIRM && (self.timeout.is_some() || !self.checks.is_empty()) {
            return Err(anyhow!(
                "--timeout and --check go with `confirm`, not `{}`",
                self.activity
            ));
        }
        if self.activity != LOGS && (self.lines.is_some() || self.follow) {
            return Err(anyhow!(
                "-n/--lines and -f/--follow go with `logs`, not `{}`",
                self.activity
            ));
        }
        if self.activity == LOGS {
            if self.json || self.reverse {
                return Err(anyhow!("`logs` takes neither --json nor --reverse"));
            }
            if self.model.flake.is_some() {
                return Err(anyhow!(
                    "`logs` shows the logs of the deployed profile: give no --flake"
                ));
            }
        }
        Ok(())
    }
}

fn run(cli: &Cli) -> Result<bool> {
    cli.check_options()?;
    if cli.remote.is_remote() {
        return run_remote(cli);
    }
    let runlevel = cli.deployment.runlevel();
    let scratch = std::env::temp_dir().join(format!("nixproc-runactivity-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let result = run_in(cli, runlevel, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// Takes the switch's lock for an activity that changes processes (all but `status`),
/// refusing to act on a deployment whose interrupted switch is not recovered yet.
fn lock(cli: &Cli) -> Result<Option<Lock>> {
    if ["status", LOGS, CONFIRM].contains(&cli.activity.as_str()) {
        return Ok(None);
    }
    let tool = open_tool_dir(cli)?;
    let lock = tool.lock(cli.run.wait(), &mut |line| eprintln!("{line}"))?;
    if Journal::unfinished(tool.path())?.is_some() {
        return Err(anyhow!(
            "a switch of this profile was interrupted; run nixproc-sysvinit-switch to recover it before `{}`",
            cli.activity
        ));
    }
    Ok(Some(lock))
}

/// The tool directory of the profile, opened (see [`tool_dir::open`]); says what state
/// of an earlier version moved in.
fn open_tool_dir(cli: &Cli) -> Result<ToolDir> {
    let profile = cli.deployment.profile_link();
    let nix_options = cli.run.nix_options();
    let options = StateOptions {
        profile: &profile,
        state_dir: cli.state_dir.as_deref(),
        lib_dir: cli.lib_dir.as_deref(),
        wait: cli.run.wait(),
        nix_options: &nix_options,
    };
    let opened = tool_dir::open(&options, &mut |line| eprintln!("{line}"))?;
    for line in &opened.moved {
        eprintln!("{line}");
    }
    Ok(opened.dir)
}

fn run_in(cli: &Cli, runlevel: u8, scratch: &Path) -> Result<bool> {
    let _lock = lock(cli)?;
    let root = profile_root(cli, scratch)?;
    let profile = Profile::read(&root, runlevel)?;
    if cli.activity == LOGS {
        return show_logs(cli, &profile);
    }
    if cli.activity == CONFIRM {
        return Ok(confirm_deployment(cli, &profile));
    }
    let mut on_result = |r: &ActivityResult| {
        if !cli.json && !r.ok && cli.activity != "status" {
            eprintln!("{}: {} {}", r.name, cli.activity, r.status);
        }
    };
    let results = run_activity(
        &profile,
        &cli.activity,
        cli.reverse,
        cli.json,
        scratch,
        &mut on_result,
    )?;
    report(cli, &results)
}

/// The profile to act on: PATH when it is a profile directory, the profile built from a
/// model (PATH, a flake directory or `--flake`) into `scratch`, else the deployed one.
fn profile_root(cli: &Cli, scratch: &Path) -> Result<PathBuf> {
    match model::operand(cli.path()?.as_deref(), cli.model.flake_source())? {
        Some(Operand::Profile(dir)) => Ok(dir),
        Some(Operand::Model(source)) => build(cli, &source, scratch),
        None => {
            let link = cli.deployment.profile_link();
            generations::current(&link)?
                .ok_or_else(|| anyhow!("nothing is deployed in profile {}", link.display()))
        }
    }
}

/// Builds the model `source` into `scratch/result` and says, unless JSON, which package
/// set it got.
fn build(cli: &Cli, source: &ModelSource, scratch: &Path) -> Result<PathBuf> {
    let params = BuildParams {
        dirs: vec![(
            "stateDir",
            cli.state_dir
                .clone()
                .unwrap_or_else(deploy::default_state_dir)
                .to_string_lossy()
                .into_owned(),
        )],
        force_disable_user_change: cli.model.force_disable_user_change()?,
        extra_params: cli.model.extra_params.clone(),
        model_args: cli.model.model_args(),
        override_inputs: cli.model.override_inputs(),
        plugin: model::resolve_plugin(None),
        nix_options: cli.run.nix_options(),
        ..BuildParams::default()
    };
    let built = model::build(source, &params, &scratch.join("result"))?;
    if let Some(set) = model::package_set(&built).filter(|_| !cli.json) {
        eprintln!("package set: {set}");
    }
    Ok(built)
}

/// `logs`: the last lines of the named processes' logs (all processes' when none is
/// named), then, with `--follow`, what they write next.
fn show_logs(cli: &Cli, profile: &Profile) -> Result<bool> {
    let sources = logs::sources(profile, &cli.log_names())?;
    if sources.is_empty() {
        eprintln!("no process of the profile has a log file");
        return Ok(true);
    }
    let stdout = std::io::stdout();
    let mut printer = logs::Printer::new(stdout.lock(), &sources);
    let mut followers = match logs::print_last(&sources, cli.lines.unwrap_or(10), &mut printer) {
        Err(ShowError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(true),
        other => other?,
    };
    if cli.follow {
        logs::follow(&mut followers, &mut printer, &logs::stdout_closed)?;
    }
    Ok(true)
}

/// `confirm`: checks the deployment until it is healthy or `--timeout` passes; says what
/// failed last. Whether it was confirmed.
fn confirm_deployment(cli: &Cli, profile: &Profile) -> bool {
    let timeout = std::time::Duration::from_secs(cli.timeout.unwrap_or(0));
    let result = confirm::confirm(profile, &cli.checks, timeout);
    if cli.json {
        println!(
            "{}",
            serde_json::json!({"confirmed": result.confirmed, "rounds": result.rounds,
                "failures": result.failures})
        );
    } else if result.confirmed {
        eprintln!(
            "confirmed: {} processes and {} health checks",
            profile.processes.len(),
            cli.checks.len()
        );
    } else {
        eprintln!("not confirmed after {} rounds:", result.rounds);
        for failure in &result.failures {
            eprintln!("  {failure}");
        }
    }
    result.confirmed
}

/// Prints the results (JSON) or the failures; whether every script succeeded.
fn report(cli: &Cli, results: &[ActivityResult]) -> Result<bool> {
    let failed: Vec<_> = results.iter().filter(|r| !r.ok).collect();
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else if !failed.is_empty() {
        eprintln!();
        eprintln!(
            "{} of {} scripts failed `{}`:",
            failed.len(),
            results.len(),
            cli.activity
        );
        for r in &failed {
            if cli.activity == "status" {
                eprintln!("  {}: {} ({})", r.name, status_state(r.code), r.status);
            } else {
                eprintln!("  {}: {}", r.name, r.status);
            }
        }
    }
    Ok(failed.is_empty())
}

/// `--target-host` / `--hosts`: the activity runs on each host's deployed profile, by
/// the host's own copy of this tool; its output comes back prefixed with the host.
fn run_remote(cli: &Cli) -> Result<bool> {
    if cli.path()?.is_some() || cli.model.flake.is_some() {
        return Err(anyhow!(
            "with --target-host or --hosts the activity runs on the profile deployed on each host: give no PATH or --flake"
        ));
    }
    let hosts = match (&cli.remote.target_host, &cli.remote.hosts) {
        (Some(target), _) => orchestrate::Hosts::One(target),
        (None, Some(file)) => orchestrate::Hosts::Fleet(file),
        (None, None) => return Err(anyhow!("neither --target-host nor --hosts")),
    };
    let roots = open_tool_dir(cli)?.hosts_dir();
    let reports = orchestrate::run(&orchestrate::Request {
        hosts,
        tool: "nixproc-sysvinit-runactivity",
        args: &remote_args(cli),
        echo: if cli.json { Echo::Capture } else { Echo::Text },
        profile: orchestrate::Profile::None,
        deploys: false,
        params: &BuildParams::default(),
        build_host: None,
        roots: &roots,
        // Following lasts until interrupted: every host at once.
        max_hosts: if cli.follow {
            usize::MAX
        } else {
            cli.remote.max_hosts
        },
        use_substitutes: cli.remote.use_substitutes,
        nix_options: &cli.run.nix_options(),
        transaction: &Transaction::default(),
        fleet_lock: (cli.activity != "status" && cli.activity != LOGS).then(|| cli.run.wait()),
        on: cli.remote.on.as_deref(),
        access: &remote::Access::from_args(&cli.remote)?,
    })?;
    let table_wanted = cli.remote.hosts.is_some() && cli.activity != LOGS;
    match orchestrate::report(&reports, cli.json, table_wanted) {
        Ok(()) => Ok(true),
        Err(why) => {
            eprintln!("nixproc-sysvinit-runactivity: {why}");
            Ok(false)
        }
    }
}

/// The tool's arguments on a host: the activity and the options that mean the same
/// there.
fn remote_args(cli: &Cli) -> Vec<String> {
    let mut args = vec![cli.activity.clone()];
    args.extend(cli.deployment.host_args());
    args.extend(cli.run.host_args());
    let path = |p: &PathBuf| p.to_string_lossy().into_owned();
    if let Some(dir) = &cli.state_dir {
        args.extend(["--state-dir".to_string(), path(dir)]);
    }
    if let Some(dir) = &cli.lib_dir {
        args.extend(["--lib-dir".to_string(), path(dir)]);
    }
    if let Some(n) = cli.lines {
        args.extend(["--lines".to_string(), n.to_string()]);
    }
    if let Some(t) = cli.timeout {
        args.extend(["--timeout".to_string(), t.to_string()]);
    }
    for check in &cli.checks {
        args.extend(["--check".to_string(), check.clone()]);
    }
    for (on, flag) in [
        (cli.reverse, "--reverse"),
        (cli.json, "--json"),
        (cli.follow, "--follow"),
    ] {
        if on {
            args.push(flag.to_string());
        }
    }
    if cli.activity == LOGS {
        // After `--`: a name cannot be taken for an option there.
        args.push("--".to_string());
        args.extend(cli.log_names());
    }
    args
}
