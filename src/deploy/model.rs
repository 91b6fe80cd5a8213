//! Building a processes model (`processes.nix`) into a profile with `nix-build` and the
//! profile builder `build-profile.nix`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::nix::{nix_command, PLUGIN_FILES};
use super::{output_of, DeployError, Result};

/// The settings passed to the profile builder.
#[derive(Debug, Clone, Default)]
pub struct BuildParams {
    /// `stateDir`.
    pub state_dir: Option<String>,
    /// `runtimeDir`.
    pub runtime_dir: Option<String>,
    /// `logDir`.
    pub log_dir: Option<String>,
    /// `tmpDir`.
    pub tmp_dir: Option<String>,
    /// `cacheDir` (passed to builders that declare it).
    pub cache_dir: Option<String>,
    /// `spoolDir` (passed to builders that declare it).
    pub spool_dir: Option<String>,
    /// `lockDir` (passed to builders that declare it).
    pub lock_dir: Option<String>,
    /// `libDir` (passed to builders that declare it).
    pub lib_dir: Option<String>,
    /// `forceDisableUserChange`.
    pub force_disable_user_change: bool,
    /// `extraParams`, a JSON object text.
    pub extra_params: Option<String>,
    /// Pass `--show-trace`.
    pub show_trace: bool,
    /// The evaluator plugin to load (`--option plugin-files`), so scripts are rendered
    /// during evaluation; `None` renders at build time with `nixproc-sysvinit-render`.
    pub plugin: Option<PathBuf>,
    /// `--option NAME VALUE` pairs for `nix-build`.
    pub nix_options: Vec<(String, String)>,
    /// Keep Nix's build output (its stderr) to show only when the build fails.
    pub quiet: bool,
}

/// File name of the evaluator plugin, as cargo builds it.
pub const PLUGIN_FILE_NAME: &str = "libnixproc_sysvinit_plugin.so";

/// Chooses the evaluator plugin: `setting` is the `--plugin` value (or
/// `NIXPROC_PLUGIN`): a path, or `none` to render at build time. Without a setting, the
/// plugin next to the running executable is used when it is there (as in a cargo build
/// or an installed package's `bin/` and `lib/`).
pub fn resolve_plugin(setting: Option<&str>) -> Option<PathBuf> {
    match setting {
        Some("none") | Some("") => None,
        Some(path) => Some(PathBuf::from(path)),
        None => {
            let exe = std::env::current_exe().ok()?;
            let bin = exe.parent()?;
            [
                bin.join(PLUGIN_FILE_NAME),
                bin.join("../lib").join(PLUGIN_FILE_NAME),
            ]
            .into_iter()
            .find(|p| p.is_file())
        }
    }
}

/// Whether `path` names a prebuilt profile (a directory with `etc/rc.d`) rather than a
/// model to build.
pub fn is_profile_dir(path: &Path) -> bool {
    path.join("etc/rc.d").is_dir()
}

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
        .ok_or_else(|| {
            DeployError::Other(
                "cannot find build-profile.nix; set NIXPROC_NIX_DIR to the directory holding it"
                    .into(),
            )
        })
}

/// Builds the model `expr` with `nix-build`, keeping the result alive through the
/// garbage-collector root `out_link`; returns the profile's store path.
pub fn build(expr: &Path, params: &BuildParams, out_link: &Path) -> Result<PathBuf> {
    let builder = find_builder()?;
    let expr = std::fs::canonicalize(expr).map_err(|e| DeployError::io("resolving", expr, e))?;
    if let Some(dir) = out_link.parent() {
        std::fs::create_dir_all(dir).map_err(|e| DeployError::io("creating", dir, e))?;
    }
    let mut options = Vec::new();
    // nix_command puts the option loading plugins before the others, or Nix would have
    // loaded its plugins when it reads it.
    if let Some(plugin) = &params.plugin {
        if !plugin.is_file() {
            return Err(DeployError::Other(format!(
                "the evaluator plugin {} does not exist (give --plugin none to render without it)",
                plugin.display()
            )));
        }
        options.push((
            PLUGIN_FILES.to_string(),
            plugin.to_string_lossy().into_owned(),
        ));
    }
    options.extend(params.nix_options.iter().cloned());
    let mut cmd = nix_command("nix-build", &options);
    cmd.arg(&builder).arg("-o").arg(out_link);
    // The host-packages shim takes this project's programs from NIXPROC_SYSVINIT_BIN;
    // by default, from where this tool itself runs.
    if std::env::var_os("NIXPROC_SYSVINIT_BIN").is_none() {
        if let Some(bin) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf))
        {
            if bin.join("nixproc-sysvinit-render").is_file() {
                cmd.env("NIXPROC_SYSVINIT_BIN", bin);
            }
        }
    }
    cmd.arg("--arg").arg("exprFile").arg(&expr);
    let strings = [
        ("stateDir", &params.state_dir),
        ("runtimeDir", &params.runtime_dir),
        ("logDir", &params.log_dir),
        ("tmpDir", &params.tmp_dir),
        ("cacheDir", &params.cache_dir),
        ("spoolDir", &params.spool_dir),
        ("lockDir", &params.lock_dir),
        ("libDir", &params.lib_dir),
        ("extraParams", &params.extra_params),
    ];
    for (name, value) in strings {
        if let Some(v) = value {
            cmd.arg("--argstr").arg(name).arg(v);
        }
    }
    cmd.arg("--arg")
        .arg("forceDisableUserChange")
        .arg(if params.force_disable_user_change {
            "true"
        } else {
            "false"
        });
    if params.show_trace {
        cmd.arg("--show-trace");
    }
    let shown = format!(
        "nix-build {} --arg exprFile {}",
        builder.display(),
        expr.display()
    );
    let stderr = if params.quiet {
        Stdio::piped()
    } else {
        Stdio::inherit()
    };
    let out = output_of(cmd.stderr(stderr), &shown)?;
    if !out.status.success() {
        let message = if params.quiet {
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
