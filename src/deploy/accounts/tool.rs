//! The account tools: looking accounts up with `getent`, creating them with `groupadd`
//! and `useradd`, and running those tools.

use std::process::Command;

use super::Kind;
use crate::deploy::{run_capture, DeployError, Result};
use crate::tree::credentials::{says_yes, Fields};

/// Runs an account tool, retrying while another tool holds the account database lock.
pub(super) fn run_account_tool(cmd: &mut Command) -> Result<String> {
    let mut tries = 0;
    loop {
        match run_capture(cmd) {
            Err(DeployError::Command { message, .. })
                if message.contains("cannot lock") && tries < 50 =>
            {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// The numeric id of a group or user (`getent group|passwd NAME`, third field).
pub(super) fn account_id(kind: Kind, name: &str) -> Option<u32> {
    let out = Command::new("getent")
        .args([kind.database(), name])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()?
        .split(':')
        .nth(2)?
        .parse()
        .ok()
}

/// The name of the group with numeric id `gid` on this system, if there is one.
pub(super) fn group_name(gid: &str) -> Option<String> {
    let out = Command::new("getent")
        .args(["group", gid])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let name = text.lines().next()?.split(':').next()?;
    (!name.is_empty()).then(|| name.to_string())
}

/// Whether a group or user exists (`getent group|passwd NAME`).
pub fn exists(database: &str, name: &str) -> bool {
    Command::new("getent")
        .args([database, name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The `groupadd` command creating group `name` as its credential file asks.
pub(super) fn groupadd(name: &str, fields: &Fields) -> Command {
    let mut cmd = Command::new("groupadd");
    cmd.arg("--system");
    if let Some(gid) = fields.get("gid") {
        cmd.args(["--gid", gid]);
    }
    cmd.arg("--").arg(name);
    cmd
}

/// The `useradd` command creating user `name` as its credential file asks.
pub(super) fn useradd(name: &str, fields: &Fields) -> Command {
    let mut cmd = Command::new("useradd");
    cmd.arg("--system");
    match fields.get("group") {
        Some(g) => cmd.args(["--gid", g]),
        None => cmd.arg("--user-group"),
    };
    if let Some(uid) = fields.get("uid") {
        cmd.args(["--uid", uid]);
    }
    if let Some(groups) = fields.get("extraGroups").filter(|g| !g.trim().is_empty()) {
        cmd.args(["--groups", groups]);
    }
    if let Some(d) = fields.get("description") {
        cmd.args(["--comment", d]);
    }
    if let Some(h) = fields.get("homeDir") {
        cmd.args(["--home-dir", h]);
    }
    if says_yes(fields, "createHomeDir") {
        cmd.arg("--create-home");
    } else {
        cmd.arg("--no-create-home");
    }
    if let Some(s) = fields.get("shell") {
        cmd.args(["--shell", s]);
    }
    cmd.arg("--").arg(name);
    cmd
}
