//! A machine without network access wastes no time on binary caches: every derivation this
//! project generates for a processes model (the process trees, the profile, init-functions
//! and the host-packages shim's packages) is built locally and never looked up in a
//! substituter, on both render paths.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs a Nix command and returns its standard output, failing the test with its errors.
fn nix_stdout(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The store derivation of the example profile, evaluated with or without the plugin.
fn example_profile_drv(plugin: Option<&Path>) -> PathBuf {
    let root = common::repo_root();
    let mut cmd = Command::new("nix-instantiate");
    if let Some(p) = plugin {
        cmd.arg("--option").arg("plugin-files").arg(p);
    }
    cmd.arg(root.join("nix/build-profile.nix"))
        .arg("--arg")
        .arg("exprFile")
        .arg(root.join("examples/webapps/processes.nix"))
        .env("NIXPROC_SYSVINIT_BIN", common::bin_dir())
        .env("NIXPROC_SYSVINIT_WEBAPP", common::webapp_binary());
    PathBuf::from(nix_stdout(
        &mut cmd,
        "nix-instantiate of the example profile",
    ))
}

/// The derivations in the closure of `drv` that Nix would look up in a binary cache:
/// those not marked `allowSubstitutes = false` and `preferLocalBuild = true`.
fn substitutable_derivations(drv: &Path) -> (usize, Vec<String>) {
    let closure = nix_stdout(
        Command::new("nix-store").arg("-qR").arg(drv),
        "nix-store -qR",
    );
    let drvs: Vec<&str> = closure.lines().filter(|p| p.ends_with(".drv")).collect();
    let offenders = drvs
        .iter()
        .filter(|path| {
            let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
            !(text.contains(r#"("allowSubstitutes","")"#)
                && text.contains(r#"("preferLocalBuild","1")"#))
        })
        .map(|p| p.to_string())
        .collect();
    (drvs.len(), offenders)
}

#[test]
fn every_derivation_of_the_example_profile_builds_locally() {
    let plugin = common::plugin_path();
    for (label, via) in [
        ("without the plugin", None),
        ("with the plugin", Some(&plugin)),
    ] {
        let drv = example_profile_drv(via.map(PathBuf::as_path));
        let (count, offenders) = substitutable_derivations(&drv);
        // The shim's packages, init-functions, the nginx configuration and the profile at
        // least: an empty closure would prove nothing.
        assert!(count >= 5, "{label}: only {count} derivations in {drv:?}");
        assert!(
            offenders.is_empty(),
            "{label}: these derivations would ask a binary cache: {offenders:#?}"
        );
    }
}
