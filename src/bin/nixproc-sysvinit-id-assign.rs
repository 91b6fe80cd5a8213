//! `nixproc-sysvinit-id-assign`: assigns unique numeric ids (ports, uids, gids) to the
//! instances of a processes model from an id resources file, as nix-processmgmt's
//! `nixproc-id-assign` does (with its option names), without Dynamic Disnix.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;

use nixproc_sysvinit::deploy::cli::{ModelArgs, RunArgs};
use nixproc_sysvinit::deploy::model::{BuildParams, ModelSource};
use nixproc_sysvinit::deploy::{self as deploy};
use nixproc_sysvinit::ids::{self, Inputs, ServiceProperty};

/// Assign unique ids to the process instances of a processes model, from their
/// requirements (the instance attribute requireUniqueIdsFor or requiresUniqueIdsFor) and
/// an id resources file; write them as an ids.nix the model reads.
#[derive(Parser, Debug)]
#[command(name = "nixproc-sysvinit-id-assign", version)]
struct Cli {
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

/// The directory arguments of the model, as the switch takes them.
#[derive(clap::Args, Debug)]
struct DirArgs {
    /// State directory [default: /var for root, $HOME/var otherwise].
    #[arg(long, env = "NIXPROC_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Runtime directory (PID files) [default: STATE/run].
    #[arg(long, env = "NIXPROC_RUNTIME_DIR")]
    runtime_dir: Option<PathBuf>,
    /// Log directory [default: STATE/log].
    #[arg(long, env = "NIXPROC_LOG_DIR")]
    log_dir: Option<PathBuf>,
    /// Temp directory [default: /tmp for STATE=/var, else STATE/tmp].
    #[arg(long, env = "NIXPROC_TMP_DIR")]
    tmp_dir: Option<PathBuf>,
    /// Cache directory [default: STATE/cache].
    #[arg(long, env = "NIXPROC_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Spool directory [default: STATE/spool].
    #[arg(long, env = "NIXPROC_SPOOL_DIR")]
    spool_dir: Option<PathBuf>,
    /// Lock directory [default: STATE/lock].
    #[arg(long, env = "NIXPROC_LOCK_DIR")]
    lock_dir: Option<PathBuf>,
    /// Library directory [default: STATE/lib].
    #[arg(long, env = "NIXPROC_LIB_DIR")]
    lib_dir: Option<PathBuf>,
}

impl DirArgs {
    /// The directories as the model's argument names and values; those not given keep
    /// the model's defaults, except the state directory, defaulted as the switch does.
    fn params(&self) -> Vec<(&'static str, String)> {
        let text = |p: &Path| p.to_string_lossy().into_owned();
        let state = self
            .state_dir
            .clone()
            .unwrap_or_else(deploy::default_state_dir);
        let mut out = vec![("stateDir", text(&state))];
        for (name, dir) in [
            ("runtimeDir", &self.runtime_dir),
            ("logDir", &self.log_dir),
            ("tmpDir", &self.tmp_dir),
            ("cacheDir", &self.cache_dir),
            ("spoolDir", &self.spool_dir),
            ("lockDir", &self.lock_dir),
            ("libDir", &self.lib_dir),
        ] {
            if let Some(dir) = dir {
                out.push((name, text(dir)));
            }
        }
        out
    }
}

impl Cli {
    fn build_params(&self) -> Result<BuildParams> {
        Ok(BuildParams {
            dirs: self.dirs.params(),
            force_disable_user_change: self.model.force_disable_user_change()?,
            extra_params: self.model.extra_params.clone(),
            model_args: self.model.model_args(),
            show_trace: self.show_trace,
            nix_options: self.run.nix_options(),
            ..BuildParams::default()
        })
    }

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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nixproc-sysvinit-id-assign: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<()> {
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
