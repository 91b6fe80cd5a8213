//! Interop with nix-processmgmt's own deployment tools, real ones built by
//! `scripts/lanes/interop`: Dysnomia's `sysvinit-script` module activating our packages
//! (`dysnomia`), Disnix deploying upstream's webapps-sysvinit models to two test hosts
//! (`disnix`), and both beside this project's switch on one machine (`side_by_side`).
//!
//! The tools' installation prefix comes from `NIXPROC_DISNIX_PREFIX` (the lane sets it);
//! without it every test here prints one line and passes, so `scripts/test` stays green
//! on machines without the tools. The tests of this module run one at a time
//! ([`serial`]): they create accounts of the same names and run account tools that lock
//! the account files.

mod disnix;
mod dysnomia;
mod side_by_side;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

use crate::common::{self, repo_root};

/// The installation prefix of Dysnomia and Disnix, or `None` (printing why the test is
/// skipped) without `NIXPROC_DISNIX_PREFIX`.
pub(crate) fn tools(test: &str) -> Option<PathBuf> {
    match std::env::var_os("NIXPROC_DISNIX_PREFIX") {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(
                p.join("bin/dysnomia").is_file() && p.join("bin/disnix-env").is_file(),
                "NIXPROC_DISNIX_PREFIX={} holds no dysnomia and disnix-env",
                p.display()
            );
            Some(p)
        }
        None => {
            println!("interop::{test}: skipped: NIXPROC_DISNIX_PREFIX is unset (scripts/lanes/interop sets it)");
            None
        }
    }
}

/// Held by each test of this module: they run one at a time.
pub(crate) fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The environment every Nix build of these tests gets: this build's programs, the
/// example web server, no binary cache.
pub(crate) fn nix_env(cmd: &mut Command) -> &mut Command {
    cmd.env("NIXPROC_SYSVINIT_BIN", common::bin_dir())
        .env("NIXPROC_SYSVINIT_WEBAPP", common::webapp_binary())
        .env("NIX_CONFIG", "substituters =")
}

/// `nix-build` of `args` (with [`nix_env`] and `NIX_PATH` as given); the store path.
pub(crate) fn nix_build(args: &[&str], nix_path: Option<&Path>) -> PathBuf {
    let mut cmd = Command::new("nix-build");
    nix_env(&mut cmd).arg("--no-out-link").args(args);
    match nix_path {
        Some(p) => cmd.env("NIX_PATH", format!("nixpkgs={}", p.display())),
        None => cmd.env_remove("NIX_PATH"),
    };
    PathBuf::from(common::stdout_of(&mut cmd, &format!("nix-build {args:?}")).trim())
}

/// Runs `dysnomia --type sysvinit-script --operation OPERATION --component COMPONENT
/// --environment` with `runlevel` (the container's property) and Dysnomia's state in
/// `state`, through [`common::account_tool`] (it runs useradd and kin).
pub(crate) fn dysnomia(
    prefix: &Path,
    operation: &str,
    component: &Path,
    runlevel: u8,
    state: &Path,
) -> Output {
    common::account_tool(
        Command::new(prefix.join("bin/dysnomia"))
            .args([
                "--type",
                "sysvinit-script",
                "--operation",
                operation,
                "--component",
            ])
            .arg(component)
            .arg("--environment")
            .env("runlevel", runlevel.to_string())
            .env("DYSNOMIA_STATEDIR", state)
            .env("PATH", tool_path(prefix)),
    )
}

/// `PATH` with the tools' `bin` first.
pub(crate) fn tool_path(prefix: &Path) -> String {
    format!(
        "{}:{}",
        prefix.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A user's entry as `/etc/passwd` has it, the uid and group by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserEntry {
    pub uid: u32,
    pub group: String,
    pub description: String,
    pub home: String,
    pub shell: String,
}

/// The entry of user `name`, if there is one.
pub(crate) fn user_entry(name: &str) -> Option<UserEntry> {
    let out = Command::new("getent")
        .args(["passwd", name])
        .output()
        .ok()?;
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let f: Vec<&str> = line.split(':').collect();
    if !out.status.success() || f.len() < 7 {
        return None;
    }
    let gid: u32 = f[3].parse().ok()?;
    Some(UserEntry {
        uid: f[2].parse().ok()?,
        group: common::group_of_gid(gid).unwrap_or_else(|| gid.to_string()),
        description: f[4].into(),
        home: f[5].into(),
        shell: f[6].into(),
    })
}

/// The gid of group `name`, if it exists.
pub(crate) fn group_gid(name: &str) -> Option<u32> {
    let out = Command::new("getent").args(["group", name]).output().ok()?;
    let line = String::from_utf8_lossy(&out.stdout);
    out.status
        .success()
        .then(|| line.split(':').nth(2)?.trim().parse().ok())
        .flatten()
}

/// The repository's `nix/` directory, for models written by the tests.
pub(crate) fn nix_dir() -> PathBuf {
    repo_root().join("nix")
}
