//! Deployments of processes models through the tools (`nix-build`, then the switch), each
//! in a temporary directory of its own and undeployed on drop.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A deployment of a processes model through the tools, in a temp dir of its own (the
/// profile link `profiles/NAME`, the state directory `state`), built offline with this
/// build's programs; undeployed when dropped.
pub struct ModelDeployment {
    pub dir: tempfile::TempDir,
    /// Profile link name under `profiles/`.
    pub name: String,
    /// Arguments every switch gets (`--extra-params ...`).
    pub args: Vec<String>,
    /// Environment variables every switch gets.
    pub env: Vec<(String, String)>,
}

impl ModelDeployment {
    pub fn new(name: &str, args: &[&str]) -> ModelDeployment {
        ModelDeployment {
            dir: tempfile::Builder::new()
                .prefix("nixproc-model")
                .tempdir()
                .unwrap(),
            name: name.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
        }
    }
    pub fn profile_link(&self) -> PathBuf {
        self.dir.path().join("profiles").join(&self.name)
    }
    /// A switch command on this deployment, without its arguments.
    pub fn switch_cmd(&self) -> Command {
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_nixproc-sysvinit-switch"));
        let mut c = Command::new(&bin);
        c.arg("-p")
            .arg(self.profile_link())
            .arg("--state-dir")
            .arg(self.dir.path().join("state"))
            .args(["--runlevel", "3"])
            .args(&self.args)
            .env("NIXPROC_SYSVINIT_BIN", bin.parent().unwrap())
            .env("NIXPROC_SYSVINIT_WEBAPP", super::webapp_binary())
            .env("NIXPROC_NIX_DIR", super::repo_root().join("nix"))
            .env("NIX_CONFIG", "substituters =")
            .env_remove("NIX_PATH")
            .env_remove("NIXPROC_PROCESSES")
            .env_remove("NIXPROC_EXTRA_PARAMS")
            .env_remove("NIXPROC_FORCE_DISABLE_USER_CHANGE");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }
    pub fn switch(&self, args: &[&str]) -> Output {
        self.switch_cmd().args(args).output().unwrap()
    }
    pub fn runactivity(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_nixproc-sysvinit-runactivity"))
            .arg("-p")
            .arg(self.profile_link())
            .arg("--state-dir")
            .arg(self.dir.path().join("state"))
            .args(["--runlevel", "3"])
            .args(args)
            .env("NIXPROC_SYSVINIT_WEBAPP", super::webapp_binary())
            .env("NIX_CONFIG", "substituters =")
            .env_remove("NIX_PATH")
            .output()
            .unwrap()
    }
    /// The PID of a running process `name` (its PID file in `state/run/NAME/` for a
    /// process with a user, else in `state/run/`).
    pub fn pid(&self, name: &str) -> Option<u32> {
        let run = self.dir.path().join("state/run");
        [
            run.join(format!("{name}/{name}.pid")),
            run.join(format!("{name}.pid")),
        ]
        .iter()
        .filter_map(|f| fs::read_to_string(f).ok()?.trim().parse::<u32>().ok())
        .find(|pid| Path::new(&format!("/proc/{pid}")).exists())
    }
}

impl Drop for ModelDeployment {
    fn drop(&mut self) {
        // Stop whatever is still deployed, pass or fail.
        let _ = self.switch(&["--undeploy"]);
    }
}

/// A processes model of the test's, composed like examples/webapps (nix/default.nix):
/// `body` is the attribute set of processes, with `create` and `pkgs` in scope.
pub fn write_model(dir: &Path, body: &str) -> PathBuf {
    let text = format!(
        "{{ system ? builtins.currentSystem, pkgs ? import {root}/nix/host-packages.nix {{ inherit system; }}\n\
         , stateDir ? \"/var\", runtimeDir ? \"${{stateDir}}/run\", logDir ? \"${{stateDir}}/log\"\n\
         , tmpDir ? \"${{stateDir}}/tmp\", forceDisableUserChange ? false, port ? 5000 }}:\n\
         let\n  nixproc = import {root}/nix {{ inherit system pkgs stateDir runtimeDir logDir tmpDir forceDisableUserChange; }};\n  \
         create = nixproc.createSystemVInitScript;\nin\n{body}\n",
        root = super::repo_root().display()
    );
    let path = dir.join("processes.nix");
    fs::write(&path, text).unwrap();
    path
}
