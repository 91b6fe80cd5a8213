//! The account tools: looking accounts up with `getent`, creating them with `groupadd`
//! and `useradd`, and running those tools.

use std::collections::BTreeMap;
use std::path::PathBuf;
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
                code: None,
                message: e.to_string(),
            })?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let message = format!("{}: {}", out.status, stderr.trim());
        if !stderr.contains("cannot lock") {
            return Err(AccountError::Tool {
                command,
                code: out.status.code(),
                message,
            });
        }
        if tries == LOCK_RETRIES {
            return Err(AccountError::DatabaseLocked { command, message });
        }
        tries += 1;
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The fields of the entry `key` (a name or a number) of the `getent` database `db`.
fn getent_entry(db: &str, key: &str) -> Option<Vec<String>> {
    let out = Command::new("getent")
        .args([db, key])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.lines()
            .next()?
            .split(':')
            .map(str::to_string)
            .collect(),
    )
}

/// The numeric id of a group or user (`getent group|passwd NAME`, third field).
pub(super) fn account_id(kind: Kind, name: &str) -> Option<u32> {
    getent_entry(kind.database(), name)?.get(2)?.parse().ok()
}

/// The uid and primary gid of user `name` (`getent passwd NAME`), if it exists.
pub fn user_ids(name: &str) -> Option<(u32, u32)> {
    let entry = getent_entry("passwd", name)?;
    Some((entry.get(2)?.parse().ok()?, entry.get(3)?.parse().ok()?))
}

/// The gid of group `name` (`getent group NAME`), if it exists.
pub fn group_id(name: &str) -> Option<u32> {
    account_id(Kind::Group, name)
}

/// The name of the account of `kind` with id `id`, if there is one.
pub(super) fn account_by_id(kind: Kind, id: u32) -> Option<String> {
    let entry = getent_entry(kind.database(), &id.to_string())?;
    entry.into_iter().next().filter(|n| !n.is_empty())
}

/// The name of the group with numeric id `gid` on this system, if there is one.
pub(super) fn group_name(gid: &str) -> Option<String> {
    let entry = getent_entry("group", gid)?;
    entry.into_iter().next().filter(|n| !n.is_empty())
}

/// The home directory of user `name` (`getent passwd NAME`, sixth field).
pub(super) fn home_of(name: &str) -> Option<PathBuf> {
    let entry = getent_entry("passwd", name)?;
    entry.get(5).filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// The accounts of `kind` the account database lists (`getent passwd|group`), by id
/// (one name per id).
pub(super) fn listing(kind: Kind) -> BTreeMap<u32, String> {
    entries(kind).into_iter().collect()
}

/// The names of every account of `kind` the account database lists with id `id`.
pub(super) fn names_with_id(kind: Kind, id: u32) -> Vec<String> {
    entries(kind)
        .into_iter()
        .filter(|(i, _)| *i == id)
        .map(|(_, n)| n)
        .collect()
}

/// Every account of `kind` the account database lists, as (id, name).
fn entries(kind: Kind) -> Vec<(u32, String)> {
    let Ok(out) = Command::new("getent")
        .arg(kind.database())
        .stderr(Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let id = fields.nth(1)?.parse().ok()?;
            Some((id, name.to_string()))
        })
        .collect()
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

/// The `groupadd` command creating the system group `name` with `gid`.
pub(super) fn groupadd(name: &str, gid: u32) -> Command {
    let mut cmd = Command::new("groupadd");
    cmd.args(["--system", "--gid", &gid.to_string(), "--", name]);
    cmd
}

/// The home directory of a user whose credential file gives none: Dysnomia's.
pub(super) const DEFAULT_HOME: &str = "/dev/null";

/// The `useradd` command creating the system user `name` with `uid` and the primary
/// group `group` (a name or a number), otherwise as its credential file asks.
pub(super) fn useradd(name: &str, fields: &Fields, uid: u32, group: &str) -> Command {
    let mut cmd = Command::new("useradd");
    cmd.args(["--system", "--gid", group, "--uid", &uid.to_string()]);
    if let Some(groups) = fields.get("extraGroups").filter(|g| !g.trim().is_empty()) {
        cmd.args(["--groups", groups]);
    }
    if let Some(d) = fields.get("description") {
        cmd.args(["--comment", d]);
    }
    // Without `homeDir` the home is Dysnomia's default, /dev/null (as `dysnomia-addusers`
    // makes the user from the same file); useradd's own default is kept only for a
    // hand-written file asking for a home to be created without saying where.
    match fields.get("homeDir") {
        Some(h) => {
            cmd.args(["--home-dir", h]);
        }
        None if !says_yes(fields, "createHomeDir") => {
            cmd.args(["--home-dir", DEFAULT_HOME]);
        }
        None => {}
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
        assert!(
            matches!(e, AccountError::Tool { code: Some(6), .. }),
            "{e:?}"
        );
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

#[cfg(test)]
mod lookups {
    use super::*;

    #[test]
    fn root_is_found_by_name_and_by_id() {
        assert_eq!(account_id(Kind::User, "root"), Some(0));
        assert_eq!(account_by_id(Kind::User, 0).as_deref(), Some("root"));
        assert_eq!(group_name("0").as_deref(), Some("root"));
        assert_eq!(home_of("root"), Some(PathBuf::from("/root")));
        assert_eq!(
            listing(Kind::Group).get(&0).map(String::as_str),
            Some("root")
        );
        assert_eq!(account_by_id(Kind::User, 4_000_000_123), None);
    }
}
