//! Running the profile builder `build-profile.nix`: finding it, the file it imports as
//! the model (a flake's written out), and the `nix-build` or `nix-instantiate` call.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::nix::{nix_command, PLUGIN_FILES};
use super::params::{add_builder_args, nix_string, BuildParams};
use super::plugin::usable_plugin;
use super::source::ModelSource;
use crate::deploy::{output_of, DeployError, Result};

/// Finds `build-profile.nix`: `$NIXPROC_NIX_DIR`, then `share/nixproc-sysvinit/nix`
/// next to the executable's prefix, then the source tree the tool was built from.
pub fn find_builder() -> Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(d) = std::env::var_os("NIXPROC_NIX_DIR") {
        candidates.push(PathBuf::from(d));
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(prefix) = exe.parent().and_then(Path::parent) {
            candidates.push(prefix.join("share/nixproc-sysvinit/nix"));
        }
    }
    candidates.push(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/nix")));
    candidates
        .iter()
        .map(|d| d.join("build-profile.nix"))
        .find(|f| f.is_file())
        .ok_or(DeployError::BuilderNotFound)
}

/// The Nix option enabling flakes for the commands evaluating a flake model.
const FLAKE_FEATURES: (&str, &str) = ("extra-experimental-features", "nix-command flakes");

/// The file `nix-build` imports as the model: the model file itself, or for a flake a
/// small expression written next to `out_link` that selects `processes.NAME` from
/// `builtins.getFlake`. A flake in a local directory is locked first (`nix flake lock`,
/// which writes its `flake.lock` as `nix build` would), since `builtins.getFlake` only
/// reads a complete lock file.
fn model_file(
    source: &ModelSource,
    params: &BuildParams,
    out_link: &Path,
    options: &mut Vec<(String, String)>,
) -> Result<PathBuf> {
    let (reference, name) = match source {
        ModelSource::File(path) => {
            return std::fs::canonicalize(path).map_err(|e| DeployError::io("resolving", path, e))
        }
        ModelSource::Flake { reference, name } => (reference, name),
    };
    options.push((FLAKE_FEATURES.0.into(), FLAKE_FEATURES.1.into()));
    let local = Path::new(reference);
    let reference = if !reference.contains(':') || reference.starts_with("path:") {
        let dir = reference.strip_prefix("path:").unwrap_or(reference);
        let dir = std::fs::canonicalize(dir)
            .map_err(|e| DeployError::io("resolving the flake", local, e))?;
        let mut lock = nix_command("nix", options);
        lock.args(["flake", "lock"]).arg(&dir);
        for (input, to) in &params.override_inputs {
            lock.arg("--override-input").arg(input).arg(to);
        }
        crate::deploy::run_capture(&mut lock)?;
        dir.to_string_lossy().into_owned()
    } else {
        reference.clone()
    };
    let file = out_link.with_file_name("flake-model.nix");
    let shown = format!("{reference}#{name}");
    let text = format!(
        r#"# The processes model {shown} (written by nixproc-sysvinit for --flake).
let
  flake = builtins.getFlake {reference};
  system = builtins.currentSystem;
  models = flake.processes or (throw "flake {shown_nix}: it has no output `processes`");
  name = {name};
in
if models ? ${{name}} then models.${{name}}
else if models ? ${{system}} && models.${{system}} ? ${{name}} then models.${{system}}.${{name}}
else throw "flake {shown_nix}: no processes model `${{name}}`; processes has: ${{toString (builtins.attrNames models)}}"
"#,
        reference = nix_string(&reference),
        name = nix_string(name),
        shown_nix = nix_string(&shown).trim_matches('"'),
    );
    std::fs::write(&file, text).map_err(|e| DeployError::io("writing", &file, e))?;
    Ok(file)
}

/// Builds the model `source` with `nix-build`, keeping the result alive through the
/// garbage-collector root `out_link`; returns the profile's store path.
pub fn build(source: &ModelSource, params: &BuildParams, out_link: &Path) -> Result<PathBuf> {
    run_builder(Builder::Build { out_link }, source, params)
}

/// Evaluates a model into the profile's derivation (`nix-instantiate`) without building
/// it, for a build elsewhere (`--build-host`); `scratch` is a directory for the files a
/// flake model needs. Returns the `.drv` path.
pub fn instantiate(source: &ModelSource, params: &BuildParams, scratch: &Path) -> Result<PathBuf> {
    run_builder(Builder::Instantiate { scratch }, source, params)
}

/// What `run_builder` asks of Nix.
enum Builder<'a> {
    /// `nix-build`, its result kept by `out_link`.
    Build { out_link: &'a Path },
    /// `nix-instantiate`; `scratch` holds the model's helper files.
    Instantiate { scratch: &'a Path },
}

/// Runs the profile builder on `source`: `nix-build` or `nix-instantiate` with the
/// plugin when there is one, the project's programs and the builder's arguments.
fn run_builder(how: Builder, source: &ModelSource, params: &BuildParams) -> Result<PathBuf> {
    let builder = find_builder()?;
    let (program, anchor) = match how {
        Builder::Build { out_link } => ("nix-build", out_link.to_path_buf()),
        Builder::Instantiate { scratch } => ("nix-instantiate", scratch.join("result")),
    };
    if let Some(dir) = anchor.parent() {
        std::fs::create_dir_all(dir).map_err(|e| DeployError::io("creating", dir, e))?;
    }
    let mut flake_options = params.nix_options.clone();
    let expr = model_file(source, params, &anchor, &mut flake_options)?;
    let mut options = Vec::new();
    // nix_command puts the option loading plugins before the others, or Nix would have
    // loaded its plugins when it reads it.
    if let Some(plugin) = usable_plugin(&params.plugin)? {
        options.push((
            PLUGIN_FILES.to_string(),
            plugin.to_string_lossy().into_owned(),
        ));
    }
    options.extend(flake_options);
    let mut cmd = nix_command(program, &options);
    cmd.arg(&builder);
    if let Builder::Build { out_link } = how {
        cmd.arg("-o").arg(out_link);
    }
    pass_own_programs(&mut cmd);
    cmd.arg("--arg").arg("exprFile").arg(&expr);
    add_builder_args(&mut cmd, params);
    let shown = format!(
        "{program} {} --arg exprFile {}",
        builder.display(),
        expr.display()
    );
    run_nix_build(&mut cmd, shown, params.quiet)
}

/// The host-packages shim takes this project's programs from NIXPROC_SYSVINIT_BIN; by
/// default, from where this tool itself runs.
fn pass_own_programs(cmd: &mut Command) {
    if std::env::var_os("NIXPROC_SYSVINIT_BIN").is_some() {
        return;
    }
    let bin = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
        .filter(|bin| bin.join("nixproc-sysvinit-render").is_file());
    if let Some(bin) = bin {
        cmd.env("NIXPROC_SYSVINIT_BIN", bin);
    }
}

/// Runs the `nix-build` (or `nix-instantiate`) command `cmd` (named `shown` in errors)
/// and returns the store path it printed last. With `quiet`, its messages are kept for the error.
fn run_nix_build(cmd: &mut Command, shown: String, quiet: bool) -> Result<PathBuf> {
    let stderr = if quiet {
        Stdio::piped()
    } else {
        Stdio::inherit()
    };
    let out = output_of(cmd.stderr(stderr), &shown)?;
    if !out.status.success() {
        let message = if quiet {
            format!(
                "{}:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end()
            )
        } else {
            format!("{} (see the messages above)", out.status)
        };
        return Err(DeployError::Command {
            command: shown,
            message,
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let path = text
        .lines()
        .last()
        .map(|l| PathBuf::from(l.trim()))
        .ok_or_else(|| DeployError::Command {
            command: shown,
            message: "printed no store path".into(),
        })?;
    Ok(path)
}
