//! Groups and users from a profile's `dysnomia-support` credential files.
//!
//! A credential file holds `key=value` lines whose values follow POSIX shell quoting
//! (single quotes, backslash escapes, double quotes); the file is parsed, never
//! evaluated. Groups and users missing on the system are created with `groupadd` and
//! `useradd` before processes start, and every account this tool created is recorded in
//! `STATE/accounts.json`. After a switch, recorded accounts that the deployed profile no
//! longer mentions are removed with `userdel`/`groupdel`; an account that existed before
//! is never recorded, hence never removed. With `forceDisableUserChange` no account is
//! touched: only home directories are created.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::profile::Profile;
use super::{run_capture, DeployError, Result};

/// Runs an account tool, retrying while another tool holds the account database lock.
fn run_account_tool(cmd: &mut Command) -> Result<String> {
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

/// Parses the `key=value` text of a credential file. `path` is only used in errors.
pub fn parse_credentials(text: &str, path: &Path) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut chars = text.chars().peekable();
    let mut line = 1usize;
    let err = |line: usize, message: String| DeployError::Credentials {
        path: path.to_path_buf(),
        line,
        message,
    };
    loop {
        // Skip blank lines, whitespace and comments.
        while let Some(&c) = chars.peek() {
            if c == '\n' {
                line += 1;
                chars.next();
            } else if c == ' ' || c == '\t' {
                chars.next();
            } else if c == '#' {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            } else {
                break;
            }
        }
        if chars.peek().is_none() {
            break;
        }
        let key_line = line;
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            if !(c.is_ascii_alphanumeric() || c == '_') {
                return Err(err(
                    key_line,
                    format!("expected key=value, found character {c:?}"),
                ));
            }
            key.push(c);
            chars.next();
        }
        if chars.next() != Some('=') || key.is_empty() {
            return Err(err(key_line, "expected key=value".into()));
        }
        let mut value = String::new();
        loop {
            match chars.peek().copied() {
                None | Some('\n') => break,
                Some(' ') | Some('\t') => {
                    // Only trailing whitespace (or a comment) may follow a value.
                    while matches!(chars.peek(), Some(' ') | Some('\t')) {
                        chars.next();
                    }
                    match chars.peek() {
                        None | Some('\n') => break,
                        Some('#') => {
                            while !matches!(chars.peek(), None | Some('\n')) {
                                chars.next();
                            }
                            break;
                        }
                        Some(_) => {
                            return Err(err(
                                line,
                                format!("value of `{key}` has unquoted whitespace"),
                            ))
                        }
                    }
                }
                Some('\'') => {
                    chars.next();
                    loop {
                        match chars.next() {
                            None => {
                                return Err(err(
                                    key_line,
                                    format!("value of `{key}` has an unterminated single quote"),
                                ))
                            }
                            Some('\'') => break,
                            Some(c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                value.push(c);
                            }
                        }
                    }
                }
                Some('"') => {
                    chars.next();
                    loop {
                        match chars.next() {
                            None => {
                                return Err(err(
                                    key_line,
                                    format!("value of `{key}` has an unterminated double quote"),
                                ))
                            }
                            Some('"') => break,
                            Some('\\') => match chars.next() {
                                Some(c @ ('$' | '`' | '"' | '\\')) => value.push(c),
                                Some('\n') => line += 1,
                                Some(c) => {
                                    value.push('\\');
                                    value.push(c);
                                }
                                None => {}
                            },
                            Some(c @ ('$' | '`')) => {
                                return Err(err(
                                    line,
                                    format!(
                                        "value of `{key}` uses {c:?}, which would need evaluation"
                                    ),
                                ))
                            }
                            Some(c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                value.push(c);
                            }
                        }
                    }
                }
                Some('\\') => {
                    chars.next();
                    match chars.next() {
                        Some('\n') => line += 1,
                        Some(c) => value.push(c),
                        None => {}
                    }
                }
                Some(c @ ('$' | '`' | ';' | '&' | '|' | '<' | '>' | '(' | ')')) => {
                    return Err(err(line, format!("value of `{key}` has unquoted {c:?}")));
                }
                Some(c) => {
                    value.push(c);
                    chars.next();
                }
            }
        }
        out.insert(key, value);
    }
    Ok(out)
}

/// Reads and parses a credential file.
pub fn read_credentials(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = fs::read_to_string(path).map_err(|e| DeployError::io("reading", path, e))?;
    parse_credentials(&text, path)
}

fn truthy(v: Option<&String>) -> bool {
    matches!(
        v.map(|s| s.trim().to_ascii_lowercase()).as_deref(),
        Some("1" | "true" | "yes")
    )
}

/// The accounts this tool created, persisted in the state directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accounts {
    /// Groups created by this tool.
    pub groups: BTreeSet<String>,
    /// Users created by this tool.
    pub users: BTreeSet<String>,
}

/// File name of the account record inside the state directory.
pub const ACCOUNTS_FILE: &str = "accounts.json";

impl Accounts {
    /// Loads the record (empty when missing).
    pub fn load(state_dir: &Path) -> Result<Accounts> {
        let path = state_dir.join(ACCOUNTS_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| DeployError::Journal {
                path,
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Accounts::default()),
            Err(e) => Err(DeployError::io("reading", path, e)),
        }
    }

    /// Writes the record atomically (temporary file, fsync, rename).
    pub fn save(&self, state_dir: &Path) -> Result<()> {
        let path = state_dir.join(ACCOUNTS_FILE);
        let tmp = state_dir.join(format!("{ACCOUNTS_FILE}.tmp"));
        let text =
            serde_json::to_string_pretty(self).map_err(|e| DeployError::Other(e.to_string()))?;
        (|| -> std::io::Result<()> {
            use std::io::Write;
            let mut f = fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &path)
        })()
        .map_err(|e| DeployError::io("writing", &path, e))
    }
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

/// Creates the groups and users of `profile` that do not exist yet (or, with
/// `force_disable_user_change`, only their home directories), recording each account
/// created in `state_dir` as soon as it exists. Returns what was created.
pub fn ensure(
    profile: &Profile,
    state_dir: &Path,
    force_disable_user_change: bool,
) -> Result<Accounts> {
    let mut created = Accounts::default();
    let users: Vec<(String, BTreeMap<String, String>)> = profile
        .users
        .iter()
        .map(|(n, p)| read_credentials(p).map(|f| (n.clone(), f)))
        .collect::<Result<_>>()?;
    if force_disable_user_change {
        for (_, fields) in &users {
            if let Some(home) = fields.get("homeDir") {
                if truthy(fields.get("createHomeDir")) {
                    fs::create_dir_all(home).map_err(|e| DeployError::io("creating", home, e))?;
                }
            }
        }
        return Ok(created);
    }
    let mut record = Accounts::load(state_dir)?;
    for (name, path) in &profile.groups {
        if exists("group", name) {
            continue;
        }
        let fields = read_credentials(path)?;
        let mut cmd = Command::new("groupadd");
        cmd.arg("--system");
        if let Some(gid) = fields.get("gid") {
            cmd.args(["--gid", gid]);
        }
        cmd.arg("--").arg(name);
        run_account_tool(&mut cmd)?;
        record.groups.insert(name.clone());
        created.groups.insert(name.clone());
        record.save(state_dir)?;
    }
    for (name, fields) in &users {
        if exists("passwd", name) {
            continue;
        }
        let mut cmd = Command::new("useradd");
        cmd.arg("--system");
        match fields.get("group") {
            Some(g) => {
                cmd.args(["--gid", g]);
            }
            None => {
                cmd.arg("--user-group");
            }
        }
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
        if truthy(fields.get("createHomeDir")) {
            cmd.arg("--create-home");
        } else {
            cmd.arg("--no-create-home");
        }
        if let Some(s) = fields.get("shell") {
            cmd.args(["--shell", s]);
        }
        cmd.arg("--").arg(name);
        run_account_tool(&mut cmd)?;
        record.users.insert(name.clone());
        created.users.insert(name.clone());
        record.save(state_dir)?;
    }
    Ok(created)
}

/// Removes the accounts this tool created that `keep` (the deployed profile) does not
/// mention; users first, then groups. Returns what was removed.
pub fn prune(
    keep: &Profile,
    state_dir: &Path,
    force_disable_user_change: bool,
) -> Result<Accounts> {
    let mut removed = Accounts::default();
    if force_disable_user_change {
        return Ok(removed);
    }
    let mut record = Accounts::load(state_dir)?;
    for name in record.users.clone() {
        if keep.users.contains_key(&name) {
            continue;
        }
        if exists("passwd", &name) {
            run_account_tool(Command::new("userdel").arg("--").arg(&name))?;
            removed.users.insert(name.clone());
        }
        record.users.remove(&name);
        record.save(state_dir)?;
    }
    for name in record.groups.clone() {
        if keep.groups.contains_key(&name) {
            continue;
        }
        if exists("group", &name) {
            run_account_tool(Command::new("groupdel").arg("--").arg(&name))?;
            removed.groups.insert(name.clone());
        }
        record.groups.remove(&name);
        record.save(state_dir)?;
    }
    Ok(removed)
}

/// The credential files of a profile, for display.
pub fn credential_files(profile: &Profile) -> Vec<PathBuf> {
    profile
        .groups
        .values()
        .chain(profile.users.values())
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<BTreeMap<String, String>> {
        parse_credentials(s, Path::new("f"))
    }

    #[test]
    fn quoting_rules() {
        let m =
            parse("group=webapp\ndescription='it'\\''s a $(test)'\nhomeDir='/var/a b'\n").unwrap();
        assert_eq!(m["group"], "webapp");
        assert_eq!(m["description"], "it's a $(test)");
        assert_eq!(m["homeDir"], "/var/a b");
        let m = parse("d='line1\nline2'\nx=\"q\\\"\"\n").unwrap();
        assert_eq!(m["d"], "line1\nline2");
        assert_eq!(m["x"], "q\"");
    }

    #[test]
    fn rejects_what_would_need_evaluation() {
        let e = parse("a=b\nx=$(rm -rf /)\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("`x`"), "{e}");
        assert!(parse("x='open\n").is_err());
        assert!(parse("x=a b\n").is_err());
        assert!(parse("not a line\n").is_err());
    }

    #[test]
    fn user_group_when_no_group() {
        assert!(truthy(Some(&"true".to_string())));
        assert!(!truthy(Some(&"false".to_string())));
        assert!(!truthy(None));
    }
}
