//! The account tools: looking accounts up with `getent`, creating them with `groupadd`
//! and `useradd`, and running those tools.

use std::process::{Command, Stdio};

use super::{AccountError, Kind, Result};
use crate::tree::credentials::{says_yes, Fields};

/// How often an account tool that finds the account database locked is run again.
const LOCK_RETRIES: u32 = 50;

/// Runs an account tool with no input and returns its output; retries (every 100 ms,
/// [`LOCK_RETRIES`] times) while another program holds the account database's lock.
pub(super) fn run_account_tool(cmd: &mut Command) -> Result<String> {
    let command = format!("{cmd:?}").replace('"', "");
    let mut tries = 0;
    loop {
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| AccountError::Tool {
                command: command.clone(),
                message: e.to_string(),
            })?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let message = format!("{}: {}", out.status, stderr.trim());
        if !stderr.contains("cannot lock") {
            return Err(AccountError::Tool { command, message });
        }
        if tries == LOCK_RETRIES {
            return Err(AccountError::DatabaseLocked { command, message });
        }
        tries += 1;
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The numeric id of a group or user (`getent group|passwd NAME`, third field).
pub(super) fn account_id(kind: Kind, name: &str) -> Option<u32> {
    let out = Command::new("getent")
        .args([kind.database(), name])
        .stderr(Stdio::null())
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
        .stderr(Stdio::null())
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
        .stdout(Stdio::null())
        .stderr(Stdio::null())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_tool_is_named_with_its_status_and_stderr() {
        let e =
            run_account_tool(Command::new("sh").args(["-c", "echo 'no such user' >&2; exit 6"]))
                .unwrap_err();
        assert!(matches!(e, AccountError::Tool { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "command `sh -c echo 'no such user' >&2; exit 6` failed: exit status: 6: no such user"
        );
        let e = run_account_tool(&mut Command::new("/nonexistent/useradd")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("command `/nonexistent/useradd` failed: "),
            "{e}"
        );
        assert_eq!(
            run_account_tool(Command::new("echo").arg("done")).unwrap(),
            "done\n"
        );
    }
}
