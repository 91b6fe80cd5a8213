//! Groups and users from a profile's `dysnomia-support` credential files.
//!
//! A credential file holds `key=value` lines whose values follow POSIX shell quoting
//! (single quotes, backslash escapes, double quotes); the file is parsed, never
//! evaluated. Groups and users missing on the system are created with `groupadd` and
//! `useradd` before processes start, and every account this tool created is recorded in
//! a registry ([`AccountStore`]) with the profiles that use it. After a switch, the
//! accounts the deployed profile no longer mentions are released, and removed with
//! `userdel`/`groupdel` once no profile uses them; an account that existed before is
//! never recorded, hence never removed. With `forceDisableUserChange` no account is
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
                    if !single_quoted(&mut chars, &mut value, &mut line) {
                        return Err(err(
                            key_line,
                            format!("value of `{key}` has an unterminated single quote"),
                        ));
                    }
                }
                Some('"') => {
                    chars.next();
                    match double_quoted(&mut chars, &mut value, &mut line) {
                        Ok(true) => {}
                        Ok(false) => {
                            return Err(err(
                                key_line,
                                format!("value of `{key}` has an unterminated double quote"),
                            ))
                        }
                        Err(c) => {
                            return Err(err(
                                line,
                                format!("value of `{key}` uses {c:?}, which would need evaluation"),
                            ))
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

/// The characters of a credential file being parsed.
type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// Appends a quoted character to `value`, counting the lines it spans.
fn push_quoted(value: &mut String, line: &mut usize, c: char) {
    if c == '\n' {
        *line += 1;
    }
    value.push(c);
}

/// Reads the rest of a single-quoted string (after the opening quote) into `value`;
/// false when the text ends before the closing quote.
fn single_quoted(chars: &mut Chars, value: &mut String, line: &mut usize) -> bool {
    loop {
        match chars.next() {
            None => return false,
            Some('\'') => return true,
            Some(c) => push_quoted(value, line, c),
        }
    }
}

/// Reads the rest of a double-quoted string (after the opening quote) into `value`,
/// with the shell's backslash escapes; `Ok(false)` when the text ends before the
/// closing quote, `Err(c)` for a `$` or backquote, which would need evaluation.
fn double_quoted(
    chars: &mut Chars,
    value: &mut String,
    line: &mut usize,
) -> std::result::Result<bool, char> {
    loop {
        match chars.next() {
            None => return Ok(false),
            Some('"') => return Ok(true),
            Some('\\') => match chars.next() {
                Some(c @ ('$' | '`' | '"' | '\\')) => value.push(c),
                Some('\n') => *line += 1,
                Some(c) => {
                    value.push('\\');
                    value.push(c);
                }
                None => {}
            },
            Some(c @ ('$' | '`')) => return Err(c),
            Some(c) => push_quoted(value, line, c),
        }
    }
}

/// Reads and parses a credential file.
pub fn read_credentials(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = fs::read_to_string(path).map_err(|e| DeployError::io("reading", path, e))?;
    parse_credentials(&text, path)
}

/// Whether a credential field says yes (`1`, `true`, `yes`, any case).
fn truthy(v: Option<&String>) -> bool {
    matches!(
        v.map(|s| s.trim().to_ascii_lowercase()).as_deref(),
        Some("1" | "true" | "yes")
    )
}

/// A set of group and user names (what a switch created or removed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accounts {
    /// Group names.
    pub groups: BTreeSet<String>,
    /// User names.
    pub users: BTreeSet<String>,
}

/// File name of the account registry.
pub const ACCOUNTS_FILE: &str = "accounts.json";

/// The registry of the accounts this tool created, shared by every profile that uses the
/// same directory: for each account, the profiles whose deployment mentions it. An
/// account is removed when the last of them stops mentioning it, so two profiles can
/// share a user safely. Changes happen under an exclusive lock on `accounts.lock`.
#[derive(Debug, Clone)]
pub struct AccountStore {
    /// Directory holding `accounts.json` and `accounts.lock`.
    pub dir: PathBuf,
    /// Who is asking: the profile link, as a string.
    pub owner: String,
}

/// The kind of an account, and the tools that look it up, create and delete it.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Group,
    User,
}

impl Kind {
    /// The `getent` database holding this kind of account.
    fn database(self) -> &'static str {
        match self {
            Kind::Group => "group",
            Kind::User => "passwd",
        }
    }

    /// The tool deleting an account of this kind.
    fn delete_tool(self) -> &'static str {
        match self {
            Kind::Group => "groupdel",
            Kind::User => "userdel",
        }
    }

    /// The credential files of this kind in `profile`, by account name.
    fn files(self, profile: &Profile) -> &BTreeMap<String, PathBuf> {
        match self {
            Kind::Group => &profile.groups,
            Kind::User => &profile.users,
        }
    }
}

impl Accounts {
    /// The names of one kind.
    fn of(&mut self, kind: Kind) -> &mut BTreeSet<String> {
        match kind {
            Kind::Group => &mut self.groups,
            Kind::User => &mut self.users,
        }
    }
}

/// The registry file's content: for each account this tool created, the owners (profile
/// links) whose deployment uses it.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Registry {
    groups: BTreeMap<String, BTreeSet<String>>,
    users: BTreeMap<String, BTreeSet<String>>,
}

impl Registry {
    /// The accounts of one kind, with their owners.
    fn of(&mut self, kind: Kind) -> &mut BTreeMap<String, BTreeSet<String>> {
        match kind {
            Kind::Group => &mut self.groups,
            Kind::User => &mut self.users,
        }
    }
}

impl AccountStore {
    /// Takes the registry's exclusive lock (waiting for it), held until the file closes.
    fn lock(&self) -> Result<fs::File> {
        use std::os::unix::io::AsRawFd;
        fs::create_dir_all(&self.dir).map_err(|e| DeployError::io("creating", &self.dir, e))?;
        let path = self.dir.join("accounts.lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| DeployError::io("opening", &path, e))?;
        // SAFETY: flock on a descriptor we own; held briefly, released on close.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(DeployError::io(
                "locking",
                &path,
                std::io::Error::last_os_error(),
            ));
        }
        Ok(file)
    }

    /// Reads the registry; a missing file is an empty registry.
    fn load(&self) -> Result<Registry> {
        let path = self.dir.join(ACCOUNTS_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                DeployError::Other(format!("account registry {}: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Registry::default()),
            Err(e) => Err(DeployError::io("reading", path, e)),
        }
    }

    /// Writes the registry atomically (temporary file, fsync, rename).
    fn save(&self, reg: &Registry) -> Result<()> {
        let path = self.dir.join(ACCOUNTS_FILE);
        let tmp = self.dir.join(format!("{ACCOUNTS_FILE}.tmp"));
        let text = serde_json::to_string_pretty(reg)
            .map_err(|e| DeployError::Other(format!("account registry {}: {e}", path.display())))?;
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
/// as soon as it exists. Accounts this tool created earlier are marked as used by
/// `store.owner` too; accounts that existed otherwise are left alone. Returns what was
/// created.
pub fn ensure(
    profile: &Profile,
    store: &AccountStore,
    force_disable_user_change: bool,
) -> Result<Accounts> {
    let read_all = |kind: Kind| -> Result<Vec<(String, BTreeMap<String, String>)>> {
        kind.files(profile)
            .iter()
            .map(|(n, p)| read_credentials(p).map(|f| (n.clone(), f)))
            .collect()
    };
    let users = read_all(Kind::User)?;
    let groups = read_all(Kind::Group)?;
    if force_disable_user_change {
        for (_, fields) in &users {
            if let Some(home) = fields.get("homeDir") {
                if truthy(fields.get("createHomeDir")) {
                    fs::create_dir_all(home).map_err(|e| DeployError::io("creating", home, e))?;
                }
            }
        }
        return Ok(Accounts::default());
    }
    let _lock = store.lock()?;
    let mut reg = store.load()?;
    let mut created = Accounts::default();
    let mut ensure_one = |kind: Kind, name: &str, mut add: Command| -> Result<()> {
        if let Some(owners) = reg.of(kind).get_mut(name) {
            if owners.insert(store.owner.clone()) {
                store.save(&reg)?;
            }
            return Ok(());
        }
        if exists(kind.database(), name) {
            return Ok(());
        }
        run_account_tool(&mut add)?;
        reg.of(kind)
            .insert(name.to_string(), BTreeSet::from([store.owner.clone()]));
        created.of(kind).insert(name.to_string());
        store.save(&reg)
    };
    for (name, fields) in &groups {
        ensure_one(Kind::Group, name, groupadd(name, fields))?;
    }
    for (name, fields) in &users {
        ensure_one(Kind::User, name, useradd(name, fields))?;
    }
    Ok(created)
}

/// The `groupadd` command creating group `name` as its credential file asks.
fn groupadd(name: &str, fields: &BTreeMap<String, String>) -> Command {
    let mut cmd = Command::new("groupadd");
    cmd.arg("--system");
    if let Some(gid) = fields.get("gid") {
        cmd.args(["--gid", gid]);
    }
    cmd.arg("--").arg(name);
    cmd
}

/// The `useradd` command creating user `name` as its credential file asks.
fn useradd(name: &str, fields: &BTreeMap<String, String>) -> Command {
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
    if truthy(fields.get("createHomeDir")) {
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

/// Releases the accounts `store.owner` used that `keep` (its deployed profile) no longer
/// mentions, and removes those no profile uses any more; users first, then groups.
/// Returns what was removed.
pub fn prune(
    keep: &Profile,
    store: &AccountStore,
    force_disable_user_change: bool,
) -> Result<Accounts> {
    let mut removed = Accounts::default();
    if force_disable_user_change {
        return Ok(removed);
    }
    let _lock = store.lock()?;
    let mut reg = store.load()?;
    for kind in [Kind::User, Kind::Group] {
        let names: Vec<String> = reg.of(kind).keys().cloned().collect();
        for name in names {
            if kind.files(keep).contains_key(&name) {
                continue;
            }
            let owners = reg.of(kind).entry(name.clone()).or_default();
            if !owners.remove(&store.owner) {
                continue;
            }
            if owners.is_empty() {
                if exists(kind.database(), &name) {
                    run_account_tool(Command::new(kind.delete_tool()).arg("--").arg(&name))?;
                    removed.of(kind).insert(name.clone());
                }
                reg.of(kind).remove(&name);
            }
            store.save(&reg)?;
        }
    }
    Ok(removed)
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
    fn quote_errors_name_the_right_line() {
        let e = parse("a=\"x\ny $z\"\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("need evaluation"), "{e}");
        let e = parse("\nb='open\n\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("single quote"), "{e}");
        let e = parse("c=\"open\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("double quote"), "{e}");
    }

    #[test]
    fn truthy_values() {
        assert!(truthy(Some(&"true".to_string())));
        assert!(!truthy(Some(&"false".to_string())));
        assert!(!truthy(None));
    }
}
