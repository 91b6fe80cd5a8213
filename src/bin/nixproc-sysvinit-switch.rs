//! `nixproc-sysvinit-switch`: deploys a processes model or a prebuilt profile, upgrading
//! the previous deployment as a transaction; manages the profile's generations.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::{ArgGroup, Parser};

use nixproc_sysvinit::deploy::cli::{
    DeploymentArgs, DirArgs, Dirs, ModelArgs, RemoteArgs, RunArgs,
};
use nixproc_sysvinit::deploy::journal::Commit;
use nixproc_sysvinit::deploy::model::{self, BuildParams, ModelSource, Operand};
use nixproc_sysvinit::deploy::secrets::SecretInput;
use nixproc_sysvinit::deploy::switch::{self, Settings};
use nixproc_sysvinit::deploy::tool_dir::{self, StateOptions, ToolDir};
use nixproc_sysvinit::deploy::{self as deploy, generations};
use nixproc_sysvinit::ids::deployment::{self as ids, AssignArgs};
use nixproc_sysvinit::protocol::{Event, SwitchResult, PROTOCOL};
use nixproc_sysvinit::remote::transaction::Transaction;
use nixproc_sysvinit::remote::{self, orchestrate, Echo};

/// Deploy processes with sysvinit scripts: stop obsolete, start new and restart changed
/// processes in dependency order, in parallel, as one transaction.
#[derive(Parser, Debug)]
#[command(name = "nixproc-sysvinit-switch", version)]
#[command(group(ArgGroup::new("operation").args([
    "undeploy", "rollback", "switch_generation", "list_generations",
    "delete_generations", "delete_all_generations"]).conflicts_with("assign_ids")))]
#[command(mut_arg("lib_dir", |a| a.help(LIB_DIR_HELP)))]
struct Cli {
    /// A processes model (processes.nix) to build, a prebuilt profile directory
    /// (anything containing etc/rc.d), or a flake directory (its processes.default).
    #[arg(env = "NIXPROC_PROCESSES")]
    path: Option<PathBuf>,

    #[command(flatten)]
    deployment: DeploymentArgs,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    remote: RemoteArgs,
    /// Compare against this profile directory instead of the deployed one.
    #[arg(short = 'o', long)]
    old_profile: Option<PathBuf>,

    #[command(flatten)]
    dirs: DirArgs,
    /// Pass --show-trace to nix-build.
    #[arg(long)]
    show_trace: bool,
    /// Evaluator plugin to render with at evaluation time, or `none` to render at build
    /// time [default: libnixproc_sysvinit_plugin.so next to this executable, if there].
    #[arg(long, env = "NIXPROC_PLUGIN", value_name = "PATH")]
    plugin: Option<String>,

    #[command(flatten)]
    ids: AssignArgs,

    /// Stop every process and deploy an empty profile.
    #[arg(long)]
    undeploy: bool,
    /// Switch to the previous generation.
    #[arg(long)]
    rollback: bool,
    /// Switch to generation N.
    #[arg(long, value_name = "N")]
    switch_generation: Option<u64>,
    /// List the profile's generations.
    #[arg(long)]
    list_generations: bool,
    /// Delete generations (nix-env syntax: old, +N, Nd, or numbers).
    #[arg(long, value_name = "SPEC")]
    delete_generations: Option<String>,
    /// Undeploy, then delete every generation, the profile link and the tool's
    /// garbage-collector root of the last build (.PROFILE.nixproc-sysvinit/result next
    /// to the profile link).
    #[arg(long)]
    delete_all_generations: bool,

    /// Print the plan and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// With `--dry-run`: print the plan as a Graphviz DOT graph of the processes and
    /// their dependencies, each marked start, stop, restart or unchanged.
    #[arg(long, requires = "dry_run")]
    graph: bool,
    /// Most scripts running at once [default: 8 per CPU, at least 16].
    #[arg(short = 'j', long, env = "NIXPROC_JOBS")]
    jobs: Option<usize>,
    /// Kill a start or stop script running longer than SECONDS (a start that times out
    /// fails the switch) [default: no limit].
    #[arg(long, env = "NIXPROC_TIMEOUT", value_name = "SECONDS")]
    timeout: Option<f64>,
    /// Machine-readable output: JSON lines of progress and a JSON summary on stdout.
    #[arg(long)]
    json: bool,
    /// Print no progress, and Nix's build output only when the build fails.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// With `--hosts`: when any host fails, switch every host of this run that already
    /// switched back to the generation it had before (then exit non-zero).
    #[arg(long)]
    rollback_on_failure: bool,
    /// After every host switched, each must confirm within SECONDS (its processes run,
    /// their TCP ports answer, its `healthChecks` pass), or the whole run is rolled back
    /// (and exits non-zero).
    #[arg(long, value_name = "SECONDS")]
    confirm_timeout: Option<u64>,
    /// Where the contents of the profile's secrets come from: `sources` (each secret's
    /// `source`, read here), `stdin` (the line a deploying machine writes, which is how
    /// --target-host and --hosts send them), `keep` (the files in place stay).
    #[arg(long, value_enum, default_value = "sources", value_name = "FROM")]
    secrets_from: SecretInput,
}

/// `--lib-dir` as the switch has it.
const LIB_DIR_HELP: &str = "Library directory, the model's libDir [default: STATE/lib]. The \
    tool's own lock, journal and logs live next to the profile link, in \
    .PROFILE.nixproc-sysvinit/; what an earlier version kept in LIB/nixproc-sysvinit/PROFILE \
    is moved there.";

/// What the profile is to become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The model or profile given (PATH, `--flake`, `NIXPROC_PROCESSES`).
    Given,
    /// The generation before the current one (`--rollback`).
    Previous,
    /// Generation N (`--switch-generation N`).
    Generation(u64),
    /// An empty profile (`--undeploy`); with `delete_all` (`--delete-all-generations`),
    /// every generation and the profile link go afterwards.
    Empty { delete_all: bool },
}

/// What one invocation does, decided once from the flags (clap's `operation` group
/// makes them exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Operation {
    /// `--list-generations`.
    ListGenerations,
    /// `--delete-generations SPEC`.
    DeleteGenerations(String),
    /// `--dry-run`: print the plan to the target (text, JSON or a DOT graph).
    Plan(Target),
    /// Stop, start and restart processes and move the profile to the target.
    Switch(Target),
}

impl Cli {
    fn operation(&self) -> Operation {
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
            Operation::Plan(target)
        } else {
            Operation::Switch(target)
        }
    }

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A fleet's JSON summary, already printed, is its result.
            if cli.json && e.downcast_ref::<orchestrate::HostsFailed>().is_none() {
                println!(
                    "{}",
                    Event::Result(Box::new(SwitchResult::failed(format!("{e:#}")))).to_line()
                );
            }
            eprintln!("nixproc-sysvinit-switch: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<()> {
    if cli.ids.assign_ids {
        assign_ids(cli)?;
    }
    if cli.remote.is_remote() {
        return run_remote(cli);
    }
    if cli.rollback_on_failure || cli.confirm_timeout.is_some() {
        bail!("--rollback-on-failure and --confirm-timeout go with --target-host or --hosts (a switch here is a transaction by itself)");
    }
    let profile = cli.deployment.profile_link();
    let dirs = cli.dirs.resolve();
    match cli.operation() {
        Operation::ListGenerations => {
            print!(
                "{}",
                generations::list_text(&profile, &cli.run.nix_options())?
            );
        }
        Operation::DeleteGenerations(spec) => {
            generations::delete(&profile, &spec, &cli.run.nix_options())?;
        }
        Operation::Plan(target) => {
            let tool = cli.open_tool_dir(&profile)?;
            let settings = cli.settings(&profile, &dirs, tool.path())?;
            let (new, _) = resolve(cli, target, &profile, tool.path(), false)?;
            show_plan(cli, &settings, &new)?;
        }
        Operation::Switch(target) => {
            let tool = cli.open_tool_dir(&profile)?;
            let settings = cli.settings(&profile, &dirs, tool.path())?;
            cli.move_account_registries(&profile, &settings)?;
            create_dirs(&dirs)?;
            let tool_state = tool.path();
            let (new, commit) = resolve(cli, target, &profile, tool_state, true)?;
            let previous = generations::list(&profile)?
                .into_iter()
                .find(|g| g.current)
                .map(|g| g.number);
            let summary = switch::switch(&settings, cli.old_profile.as_deref(), &new, commit)?;
            if target == (Target::Empty { delete_all: true }) {
                delete_all(&profile, &tool.result_link())?;
            }
            report(cli, &profile, &new, previous, &summary);
        }
    }
    Ok(())
}

impl Cli {
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
        let quiet = self.quiet;
        let opened = tool_dir::open(&self.state_options(profile, &nix_options), &mut |line| {
            if !quiet {
                eprintln!("{line}");
            }
        })?;
        for line in &opened.moved {
            eprintln!("{line}");
        }
        Ok(opened.dir)
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
fn assign_ids(cli: &Cli) -> Result<()> {
    let params = cli.build_params()?;
    let models = match &cli.remote.hosts {
        Some(file) => {
            let mut hosts = remote::read_hosts(file, &cli.run.nix_options())?;
            if let Some(selection) = &cli.remote.on {
                hosts = remote::select(hosts, selection)?;
            }
            ids::models_of_hosts(&hosts, &params)
        }
        None => vec![ids::Model {
            file: cli.path.clone().context(
                "--assign-ids: no processes model given (pass PATH or set NIXPROC_PROCESSES)",
            )?,
            params,
        }],
    };
    for written in cli.ids.assign(&models, !cli.dry_run)? {
        if !cli.quiet {
            eprintln!("{written}");
        }
    }
    Ok(())
}

/// Prints the plan of a switch to `new` (`--dry-run`): as text, JSON or (`--graph`) DOT.
fn show_plan(cli: &Cli, settings: &Settings, new: &Path) -> Result<()> {
    if deploy::journal::Journal::unfinished(&settings.state_dir)?.is_some() {
        eprintln!("note: an interrupted switch will be rolled back before this plan runs");
    }
    let old = cli.old_profile.as_deref();
    if cli.graph {
        print!("{}", switch::plan_graph(settings, old, new)?);
        return Ok(());
    }
    let plan = switch::plan(settings, old, new)?;
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{plan}");
    }
    Ok(())
}

/// Deletes every generation of `profile` and `root`, the garbage-collector root of the
/// last profile built from a model (`--delete-all-generations`, after the undeploy).
fn delete_all(profile: &Path, root: &Path) -> Result<()> {
    generations::delete_all(profile)?;
    match std::fs::remove_file(root) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", root.display()))
        }
        _ => Ok(()),
    }
}

/// Creates the state directories (the temp directory world-writable and sticky).
fn create_dirs(dirs: &Dirs) -> Result<()> {
    // A temp directory we create is world-writable and sticky like /tmp: processes
    // running as their own users keep PID and log files there.
    if !dirs.tmp.exists() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&dirs.tmp)
            .with_context(|| format!("creating {}", dirs.tmp.display()))?;
        std::fs::set_permissions(&dirs.tmp, std::fs::Permissions::from_mode(0o1777))
            .with_context(|| format!("setting the mode of {}", dirs.tmp.display()))?;
    }
    for d in [
        &dirs.state,
        &dirs.runtime,
        &dirs.log,
        &dirs.cache,
        &dirs.spool,
        &dirs.lock,
        &dirs.lib,
    ] {
        ensure_dir(d)?;
    }
    Ok(())
}

/// Makes directory `dir` exist. A dangling symbolic link there that the caller or root
/// owns (Debian's `/var/lock -> /run/lock` before anything made `/run/lock`) gets its
/// target created; a link anyone else made is an error.
fn ensure_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let made = std::fs::create_dir_all(dir);
    let Err(err) = made else { return Ok(()) };
    let meta = std::fs::symlink_metadata(dir);
    let dangling_link = meta.as_ref().is_ok_and(|m| m.file_type().is_symlink()) && !dir.exists();
    // SAFETY: geteuid has no preconditions.
    let trusted_owner = meta.is_ok_and(|m| m.uid() == 0 || m.uid() == unsafe { libc::geteuid() });
    if !(dangling_link && trusted_owner) {
        return Err(err).with_context(|| format!("creating {}", dir.display()));
    }
    let target =
        std::fs::read_link(dir).with_context(|| format!("reading the link {}", dir.display()))?;
    let target = dir.parent().map_or(target.clone(), |p| p.join(&target));
    std::fs::create_dir_all(&target).with_context(|| {
        format!(
            "creating {} (the target of the link {})",
            target.display(),
            dir.display()
        )
    })
}

/// What `target` means: the store path to deploy and how the profile moves there. A
/// generation, the empty profile, or what was given: a prebuilt profile (added to the
/// store when `store_it`, i.e. not for a plan) or a model to build.
fn resolve(
    cli: &Cli,
    target: Target,
    profile: &Path,
    tool_state: &Path,
    store_it: bool,
) -> Result<(PathBuf, Commit)> {
    if let Target::Previous | Target::Generation(_) = target {
        let gens = generations::list(profile)?;
        let current = gens
            .iter()
            .find(|g| g.current)
            .ok_or_else(|| anyhow!("profile {} has no current generation", profile.display()))?;
        let wanted = match target {
            Target::Generation(n) => gens
                .iter()
                .find(|g| g.number == n)
                .ok_or_else(|| anyhow!("profile {} has no generation {n}", profile.display()))?,
            _ => gens
                .iter()
                .rev()
                .find(|g| g.number < current.number)
                .ok_or_else(|| {
                    anyhow!(
                        "profile {} has no generation before {}",
                        profile.display(),
                        current.number
                    )
                })?,
        };
        Ok((
            wanted.path.clone(),
            Commit::SwitchGeneration {
                generation: wanted.number,
            },
        ))
    } else if let Target::Empty { .. } = target {
        let scratch = std::env::temp_dir().join(format!("nixproc-sysvinit-{}", std::process::id()));
        let empty = generations::empty_profile(&scratch, &cli.run.nix_options());
        let _ = std::fs::remove_dir_all(&scratch);
        let empty = empty?;
        Ok((empty.clone(), Commit::Set { path: empty }))
    } else {
        match model::operand(cli.path.as_deref(), cli.model.flake_source())? {
            None => bail!("no processes model or profile given (pass PATH, --flake REF#NAME or set NIXPROC_PROCESSES)"),
            Some(Operand::Model(source)) => build(cli, &source, tool_state),
            Some(Operand::Profile(path)) => {
                let stored = if store_it {
                    generations::add_to_store(&path, &cli.run.nix_options())?
                } else {
                    path
                };
                Ok((stored.clone(), Commit::Set { path: stored }))
            }
        }
    }
}

/// Builds a model into a profile (kept by the root `TOOL_STATE/result`) and says, unless
/// quiet or JSON, which package set the model got.
fn build(cli: &Cli, source: &ModelSource, tool_state: &Path) -> Result<(PathBuf, Commit)> {
    let built = model::build(source, &cli.build_params()?, &tool_state.join("result"))?;
    if !cli.quiet && !cli.json {
        if let Some(set) = model::package_set(&built) {
            eprintln!("package set: {set}");
        }
    }
    Ok((built.clone(), Commit::Set { path: built }))
}

/// Prints what a switch did: a JSON result, or a summary on stderr unless `--quiet`.
fn report(
    cli: &Cli,
    profile: &Path,
    new: &Path,
    previous_generation: Option<u64>,
    summary: &switch::Summary,
) {
    let plan = &summary.plan;
    let restarted = plan
        .starts
        .iter()
        .filter(|s| s.reason == deploy::plan::Reason::Changed)
        .count();
    if cli.json {
        let names = |steps: &[deploy::plan::Step]| steps.iter().map(|s| s.name.clone()).collect();
        let result = SwitchResult {
            protocol: PROTOCOL,
            ok: true,
            error: None,
            profile: Some(profile.to_string_lossy().into_owned()),
            deployed: Some(new.to_string_lossy().into_owned()),
            previous_generation,
            stopped: names(&plan.stops),
            started: names(&plan.starts),
            unchanged: plan.unchanged.clone(),
            failed_stops: summary
                .failed_stops
                .iter()
                .map(|(n, _)| n.clone())
                .collect(),
            created_users: summary.created.users.iter().cloned().collect(),
            created_groups: summary.created.groups.iter().cloned().collect(),
            removed_users: summary.removed.users.iter().cloned().collect(),
            removed_groups: summary.removed.groups.iter().cloned().collect(),
            recovered: summary.recovered.clone(),
        };
        println!("{}", Event::Result(Box::new(result)).to_line());
    } else if !cli.quiet {
        if let Some(r) = &summary.recovered {
            eprintln!("{r}");
        }
        for (n, d) in &summary.failed_stops {
            eprintln!("warning: stop of `{n}` failed: {d}");
        }
        eprintln!(
            "done: {} stopped, {} started, {} restarted, {} unchanged",
            plan.stops.len() - restarted,
            plan.starts.len() - restarted,
            restarted,
            plan.unchanged.len()
        );
    }
}

/// `--target-host` / `--hosts`: models are built here (or on `--build-host`), every
/// host is switched (or acted on) by its own copy of this tool; a table (or JSON)
/// reports each host (see [`orchestrate`]).
fn run_remote(cli: &Cli) -> Result<()> {
    let roots = cli
        .open_tool_dir(&cli.deployment.profile_link())?
        .hosts_dir();
    let operation = cli.operation();
    let echo = match (&operation, cli.json) {
        (Operation::ListGenerations | Operation::Plan(_), true) => Echo::Capture,
        (Operation::ListGenerations | Operation::Plan(_), false) => Echo::Text,
        (_, true) => Echo::EventsAsJson,
        (_, false) => Echo::Events,
    };
    let deploys = matches!(
        operation,
        Operation::Switch(Target::Given) | Operation::Plan(Target::Given)
    );
    let hosts = match (&cli.remote.target_host, &cli.remote.hosts) {
        (Some(target), _) => orchestrate::Hosts::One(target),
        (None, Some(file)) => {
            if cli.path.is_some() || cli.model.flake.is_some() {
                bail!("with --hosts, each host's model comes from the fleet file: give no PATH or --flake");
            }
            orchestrate::Hosts::Fleet(file)
        }
        (None, None) => bail!("neither --target-host nor --hosts"),
    };
    let build_host: Option<remote::TargetHost> = cli
        .remote
        .build_host
        .as_deref()
        .map(str::parse)
        .transpose()?;
    let build_here = || -> std::result::Result<PathBuf, String> {
        let profile = cli.deployment.profile_link();
        resolve(cli, Target::Given, &profile, &roots, true)
            .map(|(built, _)| built)
            .map_err(|e| format!("{e:#}"))
    };
    // A fleet's hosts name their models; one target host gets the one given here.
    let one_host = matches!(hosts, orchestrate::Hosts::One(_));
    let profile = match (&build_host, deploys && one_host) {
        (_, false) => orchestrate::Profile::None,
        (None, true) => orchestrate::Profile::Here(&build_here),
        (Some(build_host), true) => {
            orchestrate::Profile::OnBuildHost(build_host, cli.model_source()?)
        }
    };
    let params = cli.build_params()?;
    let args = remote_args(cli, echo != Echo::Text)?;
    let mut switch_args = cli.deployment.host_args();
    switch_args.extend(cli.dirs.host_args());
    switch_args.extend(cli.run.host_args());
    let mut activity_args = cli.deployment.host_args();
    activity_args.extend(cli.run.host_args());
    let transaction = Transaction {
        rollback_on_failure: cli.rollback_on_failure,
        confirm_timeout: cli.confirm_timeout,
        switch_args,
        activity_args,
        json: cli.json,
    };
    let reports = orchestrate::run(&orchestrate::Request {
        hosts,
        tool: "nixproc-sysvinit-switch",
        args: &args,
        echo,
        profile,
        deploys,
        params: &params,
        build_host: build_host.as_ref(),
        roots: &roots,
        max_hosts: cli.remote.max_hosts,
        use_substitutes: cli.remote.use_substitutes,
        nix_options: &cli.run.nix_options(),
        transaction: &transaction,
        fleet_lock: match operation {
            Operation::ListGenerations | Operation::Plan(_) => None,
            _ => Some(cli.run.wait()),
        },
        on: cli.remote.on.as_deref(),
        access: &remote::Access::from_args(&cli.remote)?,
    })?;
    orchestrate::report(&reports, cli.json, cli.remote.hosts.is_some() || !cli.quiet)?;
    Ok(())
}

impl Cli {
    /// The model `--build-host` builds: `--flake`, or PATH (a model file or a flake
    /// directory).
    fn model_source(&self) -> Result<ModelSource> {
        match model::operand(self.path.as_deref(), self.model.flake_source())? {
            Some(Operand::Model(source)) => Ok(source),
            _ => bail!("--build-host builds a processes model or flake: give one (a prebuilt profile needs no build)"),
        }
    }
}

/// The switch's arguments on a target host: the options given here that mean the same
/// there, the operation, and `--json` when its events are read back.
fn remote_args(cli: &Cli, events: bool) -> Result<Vec<String>> {
    let mut args = cli.deployment.host_args();
    args.extend(cli.dirs.host_args());
    args.extend(cli.run.host_args());
    let flags = [
        (
            cli.model.force_disable_user_change()?,
            "--force-disable-user-change",
        ),
        (cli.quiet, "--quiet"),
        (cli.undeploy, "--undeploy"),
        (cli.rollback, "--rollback"),
        (cli.list_generations, "--list-generations"),
        (cli.delete_all_generations, "--delete-all-generations"),
        (cli.dry_run, "--dry-run"),
        (cli.graph, "--graph"),
        (events, "--json"),
    ];
    args.extend(
        flags
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, f)| f.to_string()),
    );
    let valued = [
        ("--jobs", cli.jobs.map(|j| j.to_string())),
        ("--timeout", cli.timeout.map(|t| t.to_string())),
        (
            "--switch-generation",
            cli.switch_generation.map(|n| n.to_string()),
        ),
        ("--delete-generations", cli.delete_generations.clone()),
    ];
    for (name, value) in valued {
        if let Some(value) = value {
            args.extend([name.to_string(), value]);
        }
    }
    Ok(args)
}
