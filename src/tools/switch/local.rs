//! The switch on this machine: an operation resolved to the profile it deploys, then
//! planned, carried out and reported.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use super::{Operation, Options, Target};
use crate::deploy::model::{self, ModelSource, Operand};
use crate::deploy::profile::generations;
use crate::deploy::transaction::journal::{Commit, Journal};
use crate::deploy::transaction::switch::{self, Settings};

/// Carries out `options`' operation on this machine.
pub(super) fn run(options: &Options) -> Result<()> {
    if options.rollback_on_failure || options.confirm_timeout.is_some() {
        bail!("--rollback-on-failure and --confirm-timeout go with --target-host or --hosts (a switch here is a transaction by itself)");
    }
    let profile = options.deployment.profile_link();
    let nix_options = options.run.nix_options();
    match options.operation() {
        Operation::ListGenerations => {
            print!("{}", generations::list_text(&profile, &nix_options)?);
        }
        Operation::DeleteGenerations(spec) => {
            generations::delete(&profile, &spec, &nix_options)?;
        }
        Operation::Plan { target, graph } => {
            let dirs = options.dirs.resolve();
            let tool = options.open_tool_dir(&profile)?;
            let settings = options.settings(&profile, &dirs, tool.path())?;
            let (new, _) = resolve(options, target, &profile, tool.path(), false)?;
            show_plan(options, &settings, &new, graph)?;
        }
        Operation::Switch(target) => switch_to(options, target, &profile)?,
    }
    Ok(())
}

/// Switches the profile link `profile` to `target` and reports what happened.
fn switch_to(options: &Options, target: Target, profile: &Path) -> Result<()> {
    let dirs = options.dirs.resolve();
    let tool = options.open_tool_dir(profile)?;
    let settings = options.settings(profile, &dirs, tool.path())?;
    options.move_account_registries(profile, &settings)?;
    dirs.create()?;
    let (new, commit) = resolve(options, target, profile, tool.path(), true)?;
    let previous = generations::list(profile)?
        .into_iter()
        .find(|g| g.current)
        .map(|g| g.number);
    let old = options.old_profile.as_deref();
    let summary = switch::switch(&settings, old, &new, commit)?;
    if target == (Target::Empty { delete_all: true }) {
        delete_all(profile, &tool.result_link())?;
    }
    let result = summary.result(profile, &new, previous);
    if options.json {
        println!(
            "{}",
            crate::protocol::Event::Result(Box::new(result)).to_line()
        );
    } else if !options.quiet {
        if let Some(r) = &summary.recovered {
            eprintln!("{r}");
        }
        for (name, why) in &summary.failed_stops {
            eprintln!("warning: stop of `{name}` failed: {why}");
        }
        eprintln!("done: {}", result.changes());
    }
    Ok(())
}

/// Prints the plan of a switch to `new` (`--dry-run`): as text, JSON or (`graph`) DOT.
fn show_plan(options: &Options, settings: &Settings, new: &Path, graph: bool) -> Result<()> {
    if Journal::unfinished(&settings.state_dir)?.is_some() {
        eprintln!("note: an interrupted switch will be rolled back before this plan runs");
    }
    let old = options.old_profile.as_deref();
    if graph {
        print!("{}", switch::plan_graph(settings, old, new)?);
        return Ok(());
    }
    let plan = switch::plan(settings, old, new)?;
    if options.json {
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

/// What `target` means: the store path to deploy and how the profile moves there. A
/// generation, the empty profile, or what was given: a prebuilt profile (added to the
/// store when `store_it`, i.e. not for a plan) or a model to build.
pub(super) fn resolve(
    options: &Options,
    target: Target,
    profile: &Path,
    tool_state: &Path,
    store_it: bool,
) -> Result<(PathBuf, Commit)> {
    let nix_options = options.run.nix_options();
    match target {
        Target::Previous | Target::Generation(_) => {
            let generation = generation_of(target, profile)?;
            Ok((
                generation.path,
                Commit::SwitchGeneration {
                    generation: generation.number,
                },
            ))
        }
        Target::Empty { .. } => {
            let scratch =
                std::env::temp_dir().join(format!("nixproc-sysvinit-{}", std::process::id()));
            let empty = generations::empty_profile(&scratch, &nix_options);
            let _ = std::fs::remove_dir_all(&scratch);
            let empty = empty?;
            Ok((empty.clone(), Commit::Set { path: empty }))
        }
        Target::Given => given(options, tool_state, store_it),
    }
}

/// [`resolve`] of [`Target::Given`]: the model built, or the prebuilt profile (added to
/// the store when `store_it`).
fn given(options: &Options, tool_state: &Path, store_it: bool) -> Result<(PathBuf, Commit)> {
    match model::operand(options.path.as_deref(), options.model.flake_source())? {
        None => bail!("no processes model or profile given (pass PATH, --flake REF#NAME or set NIXPROC_PROCESSES)"),
        Some(Operand::Model(source)) => build(options, &source, tool_state),
        Some(Operand::Profile(path)) => {
            let stored = if store_it {
                generations::add_to_store(&path, &options.run.nix_options())?
            } else {
                path
            };
            Ok((stored.clone(), Commit::Set { path: stored }))
        }
    }
}

/// The generation of `profile` that `target` (`Previous` or `Generation`) names.
fn generation_of(target: Target, profile: &Path) -> Result<generations::Generation> {
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
    Ok(wanted.clone())
}

/// Builds a model into a profile (kept by the root `TOOL_STATE/result`) and says, unless
/// quiet or JSON, which package set the model got.
fn build(options: &Options, source: &ModelSource, tool_state: &Path) -> Result<(PathBuf, Commit)> {
    let built = model::build(source, &options.build_params()?, &tool_state.join("result"))?;
    if !options.quiet && !options.json {
        if let Some(set) = model::package_set(&built) {
            eprintln!("package set: {set}");
        }
    }
    Ok((built.clone(), Commit::Set { path: built }))
}
