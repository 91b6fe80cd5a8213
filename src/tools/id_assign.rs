//! `nixproc-sysvinit-id-assign`: assigns unique numeric ids (ports, uids, gids) to the
//! instances of a processes model from an id resources file, as nix-processmgmt's
//! `nixproc-id-assign` does (with its option names), without Dynamic Disnix.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;

use crate::deploy::model::{BuildParams, ModelSource};
use crate::ids::{self, Inputs, ServiceProperty};
use crate::tools::options::{DirArgs, ModelArgs, RunArgs};

/// Assign unique ids to the process instances of a processes model, from their
/// requirements (the instance attribute requireUniqueIdsFor or requiresUniqueIdsFor) and
/// an id resources file; write them as an ids.nix the model reads.
#[derive(Parser, Debug)]
#[command(name = "nixproc-sysvinit-id-assign", version)]
pub struct Options {
    /// The processes model (processes.nix).
    #[arg(env = "NIXPROC_PROCESSES")]
    path: Option<PathBuf>,
    /// The id resources: an attribute set of resource names to { min; max; }.
    #[arg(long, value_name = "FILE")]
    id_resources: PathBuf,
    /// The previous ids (an ids.nix this tool or nix-processmgmt's wrote): instances keep
    /// the ids they hold. A file that does not exist counts as none.
    #[arg(long, value_name = "FILE")]
    ids: Option<PathBuf>,
    /// The instance attribute listing the resources an instance needs ids of [default:
    /// requireUniqueIdsFor and requiresUniqueIdsFor].
    #[arg(long, value_name = "NAME")]
    service_property: Option<String>,
    /// Write the ids to FILE (replaced atomically, untouched when unchanged) instead of
    /// standard output.
    #[arg(long, value_name = "FILE")]
    output_file: Option<PathBuf>,

    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    dirs: DirArgs,
    /// Pass --show-trace to nix-instantiate.
    #[arg(long)]
    show_trace: bool,
}

impl Options {
    /// How the model is evaluated.
    fn build_params(&self) -> Result<BuildParams> {
        Ok(BuildParams {
            dirs: self.dirs.builder_dirs(&self.dirs.state()),
            force_disable_user_change: self.model.force_disable_user_change()?,
            extra_params: self.model.extra_params.clone(),
            model_args: self.model.model_args(),
            show_trace: self.show_trace,
            nix_options: self.run.nix_options(),
            ..BuildParams::default()
        })
    }

    /// The model named.
    fn source(&self) -> Result<ModelSource> {
        if let Some(flake) = self.model.flake_source() {
            return Ok(flake);
        }
        match &self.path {
            Some(path) => Ok(ModelSource::File(path.clone())),
            None => {
                bail!("no processes model given: name a processes.nix (or set NIXPROC_PROCESSES)")
            }
        }
    }
}

/// Assigns the ids as `cli` says; errors are printed.
pub fn main(cli: &Options) -> ExitCode {
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nixproc-sysvinit-id-assign: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Evaluates, assigns and writes the ids.
fn run(cli: &Options) -> Result<()> {
    let model = cli.source()?;
    let params = cli.build_params()?;
    let property = match &cli.service_property {
        Some(name) => ServiceProperty::Named(name.clone()),
        None => ServiceProperty::Default,
    };
    let assignment = ids::run(&Inputs {
        model: &model,
        resources_file: &cli.id_resources,
        ids_file: cli.ids.as_deref(),
        property,
        params: &params,
    })?;
    let text = ids::nixfile::render(&assignment);
    match &cli.output_file {
        Some(file) => {
            ids::nixfile::write_if_changed(file, &text)?;
        }
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .context("writing the ids to standard output")?,
    }
    Ok(())
}
