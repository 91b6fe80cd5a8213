//! The switch with `--target-host` / `--hosts`: models are built here (or on
//! `--build-host`), every host is switched (or acted on) by its own copy of the tool, and
//! a table (or JSON) reports each host (see [`orchestrate`]).

use std::path::PathBuf;

use anyhow::{bail, Result};

use super::{local, Operation, Options, Target};
use crate::deploy::model::{self, ModelSource, Operand};
use crate::remote::transaction::Transaction;
use crate::remote::{orchestrate, Echo, TargetHost};

/// Carries out `options`' operation on the hosts they name.
pub(super) fn run(options: &Options) -> Result<()> {
    let roots = options
        .open_tool_dir(&options.deployment.profile_link())?
        .hosts_dir();
    let operation = options.operation();
    let echo = match (operation.only_reads(), options.json) {
        (true, true) => Echo::Capture,
        (true, false) => Echo::Text,
        (false, true) => Echo::EventsAsJson,
        (false, false) => Echo::Events,
    };
    let hosts = hosts(options)?;
    let build_host: Option<TargetHost> = options
        .remote
        .build_host
        .as_deref()
        .map(str::parse)
        .transpose()?;
    let build_here = || -> std::result::Result<PathBuf, String> {
        let profile = options.deployment.profile_link();
        local::resolve(options, Target::Given, &profile, &roots, true)
            .map(|(built, _)| built)
            .map_err(|e| format!("{e:#}"))
    };
    // A fleet's hosts name their models; one target host gets the one given here.
    let one_host = matches!(hosts, orchestrate::Hosts::One(_));
    let deploys = operation.deploys_given();
    let profile = match (&build_host, deploys && one_host) {
        (_, false) => orchestrate::Profile::None,
        (None, true) => orchestrate::Profile::Here(&build_here),
        (Some(build_host), true) => {
            orchestrate::Profile::OnBuildHost(build_host, model_source(options)?)
        }
    };
    let reports = orchestrate::run(&orchestrate::Request {
        hosts,
        tool: "nixproc-sysvinit-switch",
        args: &host_args(options, &operation, echo != Echo::Text)?,
        echo,
        profile,
        deploys,
        params: &options.build_params()?,
        build_host: build_host.as_ref(),
        roots: &roots,
        max_hosts: options.remote.max_hosts,
        use_substitutes: options.remote.use_substitutes,
        nix_options: &options.run.nix_options(),
        transaction: &transaction(options),
        fleet_lock: (!operation.only_reads()).then(|| options.run.wait()),
        on: options.remote.on.as_deref(),
        access: &options.remote.access()?,
    })?;
    let table_wanted = options.remote.hosts.is_some() || !options.quiet;
    orchestrate::report(&reports, options.json, table_wanted)?;
    Ok(())
}

/// The host (`--target-host`) or the fleet (`--hosts`), whose hosts name their models.
fn hosts(options: &Options) -> Result<orchestrate::Hosts<'_>> {
    match (&options.remote.target_host, &options.remote.hosts) {
        (Some(target), _) => Ok(orchestrate::Hosts::One(target)),
        (None, Some(file)) => {
            if options.path.is_some() || options.model.flake.is_some() {
                bail!("with --hosts, each host's model comes from the fleet file: give no PATH or --flake");
            }
            Ok(orchestrate::Hosts::Fleet(file))
        }
        (None, None) => bail!("neither --target-host nor --hosts"),
    }
}

/// What the run does after the hosts' switches, and the arguments the host's switch and
/// runactivity need for it.
fn transaction(options: &Options) -> Transaction {
    let switch_args = deployment_args(options);
    let mut activity_args = options.deployment.host_args();
    activity_args.extend(options.run.host_args());
    Transaction {
        rollback_on_failure: options.rollback_on_failure,
        confirm_timeout: options.confirm_timeout,
        switch_args,
        activity_args,
        json: options.json,
    }
}

/// The shared options that name the deployment on a host the same way (its profile,
/// directories and Nix options), as the host's switch takes them.
fn deployment_args(options: &Options) -> Vec<String> {
    let mut args = options.deployment.host_args();
    args.extend(options.dirs.host_args());
    args.extend(options.run.host_args());
    args
}

/// The model `--build-host` builds: `--flake`, or PATH (a model file or a flake
/// directory).
fn model_source(options: &Options) -> Result<ModelSource> {
    match model::operand(options.path.as_deref(), options.model.flake_source())? {
        Some(Operand::Model(source)) => Ok(source),
        _ => bail!("--build-host builds a processes model or flake: give one (a prebuilt profile needs no build)"),
    }
}

/// The switch's arguments on a target host: the shared options that mean the same
/// there, `operation`, this run's own settings, and `--json` when its events are read
/// back (`events`).
fn host_args(options: &Options, operation: &Operation, events: bool) -> Result<Vec<String>> {
    let mut args = deployment_args(options);
    args.extend(operation.host_args());
    let flags = [
        (
            options.model.force_disable_user_change()?,
            "--force-disable-user-change",
        ),
        (options.quiet, "--quiet"),
        (events, "--json"),
    ];
    let flags = flags.into_iter().filter(|(on, _)| *on);
    args.extend(flags.map(|(_, flag)| flag.to_string()));
    if let Some(jobs) = options.jobs {
        args.extend(["--jobs".to_string(), jobs.to_string()]);
    }
    if let Some(timeout) = options.timeout {
        args.extend(["--timeout".to_string(), timeout.to_string()]);
    }
    Ok(args)
}
