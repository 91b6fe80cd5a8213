//! Groups and users from a profile's `dysnomia-support` credential files.
//!
//! A credential file holds `key=value` lines whose values follow POSIX shell quoting
//! (single quotes, backslash escapes, double quotes); the file is parsed, never
//! evaluated. Groups and users missing on the system are created with `groupadd` and
//! `useradd` before processes start. A file that would make its account privileged
//! (uid or gid 0, a group of [`PRIVILEGED_GROUPS`](crate::spec::PRIVILEGED_GROUPS)) is refused unless it carries
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
//!
//! The uid of every user and the gid of every group the tool creates are recorded per
//! name next to the registry ([`UID_MAP`], [`GID_MAP`]), and never pruned: an account
//! made again gets its ids back, and a recorded id is never given to another name (see
//! the `ids` module). A user without `group` gets a group of its own, made first with a
//! gid chosen the same way. Ids a credential file gives are honoured, and refused
//! before anything stops ([`check`]) when another account holds them.
//!
//! When a user the tool made is deleted, what the switch made for it (PID files and run
//! directories, log directories, the home it asked for; recorded with its registry
//! entry) and its uid still owns is removed or handed to root with the marker
//! [`RELEASED_MARKER`], so that an account given the uid later gets none of it (see the
//! `release` module); a home so released is handed back when the switch makes an
//! account of that name again.
//!
//! The parts: `checks` (what is refused before anything stops), `claim` (creating and
//! claiming under the registry's lock), `ids` (the record of ids and the choice of an
//! id), `registry` (the files and their lock), `prune` (deleting what no profile
//! uses), `release` (what a deleted user leaves), `tool` (getent, useradd and kin),
//! `in_use` (the `/proc` scan), `error`.

mod checks;
mod claim;
mod error;
mod ids;
mod in_use;
mod prune;
mod registry;
mod release;
mod tool;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::profile::Profile;
use crate::tree::credentials::{self, says_yes, Fields};
use crate::tree::layout::{GROUPS, USERS};

pub use self::error::{AccountError, IdConflict, IdHolder};
pub use self::ids::{GID_MAP, UID_MAP};
pub use self::prune::prune;
pub use self::release::RELEASED_MARKER;
pub use self::tool::{exists, group_id, user_ids};

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

/// The credential files of a profile, read and parsed: the accounts it wants.
#[derive(Debug, Default)]
struct Wanted {
    /// The groups, by name, with their files' fields.
    groups: Vec<(String, Fields)>,
    /// The users, by name, with their files' fields.
    users: Vec<(String, Fields)>,
}

impl Wanted {
    /// Reads every credential file of `profile`; errors name the file and the line.
    fn read(profile: &Profile) -> Result<Wanted> {
        let read_all = |kind: Kind| -> Result<Vec<(String, Fields)>> {
            kind.files(profile)
                .iter()
                .map(|(n, p)| read_credentials(p).map(|f| (n.clone(), f)))
                .collect()
        };
        Ok(Wanted {
            groups: read_all(Kind::Group)?,
            users: read_all(Kind::User)?,
        })
    }

    /// The accounts of one kind.
    fn of(&self, kind: Kind) -> &[(String, Fields)] {
        match kind {
            Kind::Group => &self.groups,
            Kind::User => &self.users,
        }
    }
}

/// Checks, before anything stops, what [`ensure`] would refuse: a credential file of
/// `profile` that is malformed or privileged without opting in, or one giving an id
/// (`uid`, `gid`) that is not a number or that is held by another account, by another
/// file of the profile or, in the record of the ids this tool gave
/// ([`UID_MAP`], [`GID_MAP`] next to the registry), by another name. With
/// `force_disable_user_change` only the files' syntax is checked.
pub fn check(
    profile: &Profile,
    store: &AccountStore,
    force_disable_user_change: bool,
) -> Result<()> {
    let wanted = Wanted::read(profile)?;
    if force_disable_user_change {
        return Ok(());
    }
    checks::check_all(profile, &wanted, store, None)
}

/// Creates the groups and users of `profile` that do not exist yet (or, with
/// `force_disable_user_change`, only their home directories), recording each account
/// as soon as it exists, and the id it got (see [`check`] for what is refused first,
/// and the `ids` module for how an id is chosen when the file gives none). Accounts
/// this tool created earlier are claimed for `store.owner` too (and made again if
/// someone deleted them); accounts that existed otherwise are left alone. Returns what
/// was created.
pub fn ensure(
    profile: &Profile,
    store: &AccountStore,
    force_disable_user_change: bool,
) -> Result<Accounts> {
    let wanted = Wanted::read(profile)?;
    if force_disable_user_change {
        create_home_dirs(&wanted.users)?;
        return Ok(Accounts::default());
    }
    for kind in [Kind::Group, Kind::User] {
        for (name, fields) in wanted.of(kind) {
            checks::check_privileged(kind, name, fields, &kind.files(profile)[name])?;
        }
    }
    if wanted.users.is_empty() && wanted.groups.is_empty() {
        return Ok(Accounts::default());
    }
    claim::claim_all(profile, &wanted, store)
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
}
