//! An activity on this machine: the profile's lock when it changes processes, the
//! profile it acts on (deployed, given or built), then the scripts, the logs or the
//! confirmation, and what failed.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};

use super::{Activity, Options};
use crate::deploy::activity::confirm;
use crate::deploy::activity::{run_activity, status_state, ActivityResult};
use crate::deploy::default_state_dir;
use crate::deploy::logs::{self, ShowError};
use crate::deploy::model::{self, BuildParams, ModelSource, Operand};
use crate::deploy::profile::generations;
use crate::deploy::profile::Profile;
use crate::deploy::transaction::journal::{Journal, Lock};

/// Carries out `activity` on this machine; whether every script (or check) succeeded.
pub(super) fn run(options: &Options, activity: &Activity) -> Result<bool> {
    let scratch = std::env::temp_dir().join(format!("nixproc-runactivity-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let result = run_in(options, activity, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// [`run`] with `scratch` as the directory of what it builds.
fn run_in(options: &Options, activity: &Activity, scratch: &Path) -> Result<bool> {
    let _lock = lock(options, activity)?;
    let root = profile_root(options, activity, scratch)?;
    let profile = Profile::read(&root, options.deployment.runlevel())?;
    match activity {
        Activity::Logs {
            names,
            lines,
            follow,
        } => show_logs(&profile, names, lines.unwrap_or(10), *follow),
        Activity::Confirm { timeout, checks } => {
            Ok(confirm_deployment(options, &profile, *timeout, checks))
        }
        Activity::Script { name, reverse } => {
            let mut on_result = |r: &ActivityResult| {
                if !options.json && !r.ok && name != super::STATUS {
                    eprintln!("{}: {name} {}", r.name, r.status);
                }
            };
            let results = run_activity(
                &profile,
                name,
                *reverse,
                options.json,
                scratch,
                &mut on_result,
            )?;
            report(options, name, &results)
        }
    }
}

/// Takes the switch's lock for an activity that changes processes, refusing to act on a
/// deployment whose interrupted switch is not recovered yet.
fn lock(options: &Options, activity: &Activity) -> Result<Option<Lock>> {
    if !activity.changes_processes() {
        return Ok(None);
    }
    let tool = options.open_tool_dir()?;
    let lock = tool.lock(options.run.wait(), &mut |line| eprintln!("{line}"))?;
    if Journal::unfinished(tool.path())?.is_some() {
        return Err(anyhow!(
            "a switch of this profile was interrupted; run nixproc-sysvinit-switch to recover it before `{}`",
            options.activity
        ));
    }
    Ok(Some(lock))
}

/// The profile to act on: PATH when it is a profile directory, the profile built from a
/// model (PATH, a flake directory or `--flake`) into `scratch`, else the deployed one.
fn profile_root(options: &Options, activity: &Activity, scratch: &Path) -> Result<PathBuf> {
    let path = options.path(activity)?;
    match model::operand(path.as_deref(), options.model.flake_source())? {
        Some(Operand::Profile(dir)) => Ok(dir),
        Some(Operand::Model(source)) => build(options, &source, scratch),
        None => {
            let link = options.deployment.profile_link();
            generations::current(&link)?
                .ok_or_else(|| anyhow!("nothing is deployed in profile {}", link.display()))
        }
    }
}

/// Builds the model `source` into `scratch/result` and says, unless JSON, which package
/// set it got.
fn build(options: &Options, source: &ModelSource, scratch: &Path) -> Result<PathBuf> {
    let state_dir = options.state_dir.clone().unwrap_or_else(default_state_dir);
    let params = BuildParams {
        dirs: vec![("stateDir", state_dir.to_string_lossy().into_owned())],
        force_disable_user_change: options.model.force_disable_user_change()?,
        extra_params: options.model.extra_params.clone(),
        model_args: options.model.model_args(),
        override_inputs: options.model.override_inputs(),
        plugin: model::resolve_plugin(None),
        nix_options: options.run.nix_options(),
        ..BuildParams::default()
    };
    let built = model::build(source, &params, &scratch.join("result"))?;
    if let Some(set) = model::package_set(&built).filter(|_| !options.json) {
        eprintln!("package set: {set}");
    }
    Ok(built)
}

/// `logs`: the last `lines` lines of the named processes' logs (all processes' when none
/// is named), then, when `follow`, what they write next.
fn show_logs(profile: &Profile, names: &[String], lines: usize, follow: bool) -> Result<bool> {
    let sources = logs::sources(profile, names)?;
    if sources.is_empty() {
        eprintln!("no process of the profile has a log file");
        return Ok(true);
    }
    let stdout = std::io::stdout();
    let mut printer = logs::Printer::new(stdout.lock(), &sources);
    let mut followers = match logs::print_last(&sources, lines, &mut printer) {
        Err(ShowError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(true),
        other => other?,
    };
    if follow {
        logs::follow(&mut followers, &mut printer, &logs::stdout_closed)?;
    }
    Ok(true)
}

/// `confirm`: checks the deployment until it is healthy or `timeout` passes; says what
/// failed last. Whether it was confirmed.
fn confirm_deployment(
    options: &Options,
    profile: &Profile,
    timeout: Option<u64>,
    checks: &[String],
) -> bool {
    let timeout = std::time::Duration::from_secs(timeout.unwrap_or(0));
    let result = confirm::confirm(profile, checks, timeout);
    if options.json {
        println!(
            "{}",
            serde_json::json!({"confirmed": result.confirmed, "rounds": result.rounds,
                "failures": result.failures})
        );
    } else if result.confirmed {
        eprintln!(
            "confirmed: {} processes and {} health checks",
            profile.processes.len(),
            checks.len()
        );
    } else {
        eprintln!("not confirmed after {} rounds:", result.rounds);
        for failure in &result.failures {
            eprintln!("  {failure}");
        }
    }
    result.confirmed
}

/// Prints the results of the script activity `name` (JSON) or its failures; whether
/// every script succeeded.
fn report(options: &Options, name: &str, results: &[ActivityResult]) -> Result<bool> {
    let failed: Vec<_> = results.iter().filter(|r| !r.ok).collect();
    if options.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else if !failed.is_empty() {
        eprintln!();
        eprintln!(
            "{} of {} scripts failed `{name}`:",
            failed.len(),
            results.len()
        );
        for r in &failed {
            if name == super::STATUS {
                eprintln!("  {}: {} ({})", r.name, status_state(r.code), r.status);
            } else {
                eprintln!("  {}: {}", r.name, r.status);
            }
        }
    }
    Ok(failed.is_empty())
}
