//! Real `nix-build` / `nix-instantiate` runs on either render path, for the tests of the
//! Nix interface (`nix_profiles`, `upstream_compat`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// How a model is evaluated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Via {
    /// `builtins.sysvinitScript` at evaluation time.
    Plugin,
    /// `nixproc-sysvinit-render` inside the derivation.
    RenderTool,
}

/// Both render paths.
pub const BOTH: [Via; 2] = [Via::Plugin, Via::RenderTool];

/// Runs `nix-build` (or `nix-instantiate`) and returns stdout or stderr.
pub fn nix(tool: &str, path: Via, args: &[&str]) -> Result<String, String> {
    nix_with_env(tool, path, args, &[])
}

/// [`nix`] with extra environment variables (`NIX_PATH`, ...).
pub fn nix_with_env(
    tool: &str,
    path: Via,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<String, String> {
    let mut cmd = Command::new(tool);
    if path == Via::Plugin {
        cmd.arg("--option")
            .arg("plugin-files")
            .arg(super::plugin_path());
    }
    cmd.args(["--option", "substituters", ""]);
    if tool == "nix-build" {
        cmd.arg("--no-out-link");
    }
    cmd.args(args)
        .env("NIXPROC_SYSVINIT_BIN", super::bin_dir())
        .env("NIXPROC_SYSVINIT_WEBAPP", super::webapp_binary());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("run {tool}: {e}"));
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

/// Builds the profile of a processes model.
pub fn build_profile(path: Via, model: &Path, extra: &[&str]) -> Result<PathBuf, String> {
    build_profile_with_env(path, model, extra, &[])
}

/// [`build_profile`] with extra environment variables.
pub fn build_profile_with_env(
    path: Via,
    model: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Result<PathBuf, String> {
    let builder = super::repo_root().join("nix/build-profile.nix");
    let mut args = vec![
        builder.to_str().unwrap().to_string(),
        "--arg".into(),
        "exprFile".into(),
        model.to_str().unwrap().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    nix_with_env("nix-build", path, &refs, env).map(PathBuf::from)
}

/// The stand-in nixpkgs of the tests (a directory for `NIX_PATH=nixpkgs=...`).
pub fn stand_in_nixpkgs() -> PathBuf {
    super::repo_root().join("tests/fixtures/nixpkgs")
}
