//! Groups and users from a profile's `dysnomia-support` credential files.
//!
//! A credential file holds `key=value` lines whose values follow POSIX shell quoting
//! (single quotes, backslash escapes, double quotes); the file is parsed, never
//! evaluated. Groups and users missing on the system are created with `groupadd` and
//! `useradd` before processes start. A file that would make its account privileged
//! (uid or gid 0, a group of [`PRIVILEGED_GROUPS`]) is refused unless it carries
//! `allowPrivilegedCredentials=1`, which the renderer writes only for a process that
//! opted in; so a hand-made profile cannot slip a user into `sudo` either.
//!
//! Every account this tool created is recorded in one registry per machine
//! ([`AccountStore`]; for root `/var/lib/nixproc-sysvinit/accounts.json` whatever the
//! state directory) with the profile links whose deployment uses it (its claims). After
//! a switch, the profile releases the accounts its deployment no longer mentions; an
//! account is deleted with `userdel`/`groupdel` only when no claim is left and no
//! running process uses it. A deletion that is put off (a process still runs as the
//! user) or fails is recorded as pending, reported as a warning, and retried by the
//! next switch of any profile; it never fails the switch. An account that existed
//! before is never recorded, hence never removed. With `forceDisableUserChange` no
//! account is touched: only home directories are created.

mod error;
mod in_use;
mod prune;
mod registry;
mod tool;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use self::registry::{Entry, Registry, Session};
use self::tool::{group_name, groupadd, run_account_tool, useradd};
use super::profile::Profile;
use crate::spec::privileged_credential;
use crate::tree::credentials::{self, allows_privileged, says_yes, Fields};
use crate::tree::layout::{GROUPS, USERS};

pub use self::error::AccountError;
pub use self::prune::prune;
pub use self::tool::exists;

/// Result type of this module.
type Result<T, E = AccountError> = std::result::Result<T, E>;

/// Reads and parses a credential file (see [`tree::credentials`](crate::tree::credentials)
/// for the format); errors name the file and the line.
pub fn read_credentials(path: &Path) -> Result<Fields> {
    let text = fs::read_to_string(path).map_err(|e| AccountError::io("reading", path, e))?;
    credentials::parse(&text).map_err(|e| AccountError::Credentials {
        path: path.to_path_buf(),
        line: e.line,
        message: e.message,
    })
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

/// The registry directory of root, whatever the state directory of a switch.
pub const MACHINE_ACCOUNTS_DIR: &str = "/var/lib/nixproc-sysvinit";

/// Environment variable naming another registry directory (for tests, or a machine
/// that keeps `/var/lib` elsewhere). Every switch sharing accounts must see the same.
pub const ACCOUNTS_DIR_ENV: &str = "NIXPROC_SYSVINIT_ACCOUNTS_DIR";

/// The registry of the accounts this tool created, one per machine: for each account,
/// the profiles whose deployment uses it. An account is removed when the last of them
/// stops using it and no process runs as it, so profiles in different state directories
/// can share a user safely.
///
/// The registry lives in [`registry_dir`](Self::registry_dir), a directory that must
/// belong to the caller and be writable by nobody else, reached without following a
/// symlink that anyone but root or the caller could have made. Changes happen under an
/// exclusive `flock` on `accounts.lock` and are written to a temporary file, synced and
/// renamed over `accounts.json`, so concurrent switches of different profiles and a
/// crash leave a whole registry.
#[derive(Debug, Clone)]
pub struct AccountStore {
    /// The directory `LIBDIR/nixproc-sysvinit` of the state directory in use. Callers
    /// other than root keep their registry there; root uses [`MACHINE_ACCOUNTS_DIR`]
    /// and merges a registry an earlier version left here into it.
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

    /// The directory name of the credential files of this kind (`groups`, `users`).
    fn directory(self) -> &'static str {
        match self {
            Kind::Group => GROUPS,
            Kind::User => USERS,
        }
    }

    /// The word for an account of this kind in messages.
    fn word(self) -> &'static str {
        match self {
            Kind::Group => "group",
            Kind::User => "user",
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

/// Refuses a credential file that would make its account privileged (see
/// [`privileged_credential`]) unless it carries `allowPrivilegedCredentials=1`.
fn check_privileged(kind: Kind, name: &str, fields: &Fields, path: &Path) -> Result<()> {
    if allows_privileged(fields) {
        return Ok(());
    }
    match privileged_credential(kind.directory(), name, fields, &group_name) {
        None => Ok(()),
        Some((key, what)) => Err(AccountError::Privileged {
            path: path.to_path_buf(),
            key,
            what,
        }),
    }
}

/// Creates the groups and users of `profile` that do not exist yet (or, with
/// `force_disable_user_change`, only their home directories), recording each account
/// as soon as it exists. Accounts this tool created earlier are claimed for
/// `store.owner` too (and made again if someone deleted them); accounts that existed
/// otherwise are left alone. Fails before touching anything when a credential file is
/// malformed or privileged without opting in. Returns what was created.
pub fn ensure(
    profile: &Profile,
    store: &AccountStore,
    force_disable_user_change: bool,
) -> Result<Accounts> {
    let users = read_all(profile, Kind::User)?;
    let groups = read_all(profile, Kind::Group)?;
    if force_disable_user_change {
        create_home_dirs(&users)?;
        return Ok(Accounts::default());
    }
    for (kind, accounts) in [(Kind::Group, &groups), (Kind::User, &users)] {
        for (name, fields) in accounts {
            check_privileged(kind, name, fields, &kind.files(profile)[name])?;
        }
    }
    if users.is_empty() && groups.is_empty() {
        return Ok(Accounts::default());
    }
    let session = store.session()?;
    let reg = session.load()?;
    let mut claiming = Claiming {
        store,
        session,
        reg,
        created: Accounts::default(),
    };
    for (name, fields) in &groups {
        claiming.ensure_one(Kind::Group, name, groupadd(name, fields))?;
    }
    for (name, fields) in &users {
        claiming.ensure_one(Kind::User, name, useradd(name, fields))?;
    }
    Ok(claiming.created)
}

/// The credential files of one kind in `profile`, read and parsed, by account name.
fn read_all(profile: &Profile, kind: Kind) -> Result<Vec<(String, Fields)>> {
    kind.files(profile)
        .iter()
        .map(|(n, p)| read_credentials(p).map(|f| (n.clone(), f)))
        .collect()
}

/// What [`ensure`] does under `forceDisableUserChange`: it creates the home directories
/// of the `users` whose files say `createHomeDir`, and no account.
fn create_home_dirs(users: &[(String, Fields)]) -> Result<()> {
    for (_, fields) in users {
        if let Some(home) = fields.get("homeDir") {
            if says_yes(fields, "createHomeDir") {
                fs::create_dir_all(home).map_err(|e| AccountError::io("creating", home, e))?;
            }
        }
    }
    Ok(())
}

/// The locked registry while [`ensure`] claims and creates accounts, and what it has
/// created so far.
struct Claiming<'a> {
    /// Whose claims these are.
    store: &'a AccountStore,
    /// The registry's lock.
    session: Session,
    /// The registry as last saved.
    reg: Registry,
    /// The accounts created so far.
    created: Accounts,
}

impl Claiming<'_> {
    /// Makes sure account `name` of `kind` exists, running `add` to create it. An
    /// account of the registry is claimed for the store's owner (and made again if
    /// someone deleted it); one that exists otherwise is left alone; a missing one is
    /// made, recorded and claimed. The registry is saved whenever it changed.
    fn ensure_one(&mut self, kind: Kind, name: &str, mut add: Command) -> Result<()> {
        if let Some(entry) = self.reg.of(kind).get_mut(name) {
            let claimed = entry.claims.insert(self.store.claimant());
            let was_pending = entry.pending.take().is_some();
            let missing = !exists(kind.database(), name);
            if missing {
                run_account_tool(&mut add)?;
                self.created.of(kind).insert(name.to_string());
            }
            if claimed || was_pending || missing {
                self.session.save(&self.reg)?;
            }
            return Ok(());
        }
        if exists(kind.database(), name) {
            return Ok(());
        }
        run_account_tool(&mut add)?;
        self.reg.of(kind).insert(
            name.to_string(),
            Entry {
                claims: BTreeSet::from([self.store.claimant()]),
                pending: None,
            },
        );
        self.created.of(kind).insert(name.to_string());
        self.session.save(&self.reg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_errors_name_the_file_and_line() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("web");
        fs::write(&path, "group='web'\nx=$(rm -rf /)\n").unwrap();
        let e = read_credentials(&path).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "credential file {}, line 2: value of `x` has unquoted '$'",
                path.display()
            )
        );
        fs::write(&path, "group='web'\n").unwrap();
        assert_eq!(read_credentials(&path).unwrap()["group"], "web");
    }
    #[test]
    fn privileged_credential_files_need_the_opt_in() {
        let file = Path::new("users/svc");
        let fields = |text: &str| credentials::parse(text).unwrap();
        let e = check_privileged(Kind::User, "svc", &fields("extraGroups=users,sudo\n"), file)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("profile users/svc: `extraGroups` puts user 'svc' in the privileged group 'sudo'; if that is intended, add the line allowPrivilegedCredentials=1 to the file"),
            "{e}"
        );
        let e = check_privileged(Kind::User, "svc", &fields("group=0\n"), file)
            .unwrap_err()
            .to_string();
        assert!(e.contains("privileged group 'root'"), "{e}");
        let e = check_privileged(Kind::User, "svc", &fields("uid=0\n"), file)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`uid` gives user 'svc' uid 0"), "{e}");
        let e = check_privileged(Kind::Group, "wheel", &fields(""), file)
            .unwrap_err()
            .to_string();
        assert!(e.contains(": creates the privileged group 'wheel'"), "{e}");
        assert!(check_privileged(
            Kind::User,
            "svc",
            &fields("extraGroups=sudo\nallowPrivilegedCredentials='1'\n"),
            file
        )
        .is_ok());
        assert!(check_privileged(Kind::User, "svc", &fields("extraGroups=users\n"), file).is_ok());
    }
}
