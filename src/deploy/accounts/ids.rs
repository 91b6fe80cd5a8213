//! Stable account ids: the record of the uid and the gid this tool gave each name
//! (`uid-map` and `gid-map` next to the registry, JSON objects `{ "name": id }` as
//! NixOS keeps them in `/var/lib/nixos`), and the choice of an id for an account to
//! create.
//!
//! An account created without an id in its credential file gets the id recorded for
//! its name when no account has it and no process runs with it; otherwise (or when none
//! is recorded) the highest id of the system range (`SYS_UID_MIN`..`SYS_UID_MAX`,
//! `SYS_GID_MIN`..`SYS_GID_MAX` of `/etc/login.defs`, as `useradd --system` reads them)
//! that no account has, no running process uses, and no name holds in the record or in
//! NixOS's maps. So a name keeps its id from one deployment to the next, and an id the
//! record holds is never handed to another name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::in_use::{ids_in_use, processes_using};
use super::tool::{account_by_id, listing};
use super::{AccountError, Kind, Result};

/// File name of the record of the uids this tool gave users, by name.
pub const UID_MAP: &str = "uid-map";

/// File name of the record of the gids this tool gave groups, by name.
pub const GID_MAP: &str = "gid-map";

/// Where NixOS records the ids it gave; ids held there are not chosen either.
const NIXOS_DIR: &str = "/var/lib/nixos";

/// The file with the system ranges of ids.
const LOGIN_DEFS: &str = "/etc/login.defs";

/// The ids this tool gave accounts, by name: the content of `uid-map` and `gid-map`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct IdRecord {
    /// Uids by user name (`uid-map`).
    pub(super) users: BTreeMap<String, u32>,
    /// Gids by group name (`gid-map`).
    pub(super) groups: BTreeMap<String, u32>,
}

impl IdRecord {
    /// The ids of one kind, by name.
    pub(super) fn of(&self, kind: Kind) -> &BTreeMap<String, u32> {
        match kind {
            Kind::Group => &self.groups,
            Kind::User => &self.users,
        }
    }

    /// The ids of one kind, by name, to change.
    pub(super) fn of_mut(&mut self, kind: Kind) -> &mut BTreeMap<String, u32> {
        match kind {
            Kind::Group => &mut self.groups,
            Kind::User => &mut self.users,
        }
    }

    /// The name other than `name` that holds `id` of `kind`, if one does.
    pub(super) fn other_holder(&self, kind: Kind, id: u32, name: &str) -> Option<&str> {
        self.of(kind)
            .iter()
            .find(|(n, i)| **i == id && n.as_str() != name)
            .map(|(n, _)| n.as_str())
    }

    /// Records `id` for `name`; whether that changed the record.
    pub(super) fn set(&mut self, kind: Kind, name: &str, id: u32) -> bool {
        self.of_mut(kind).insert(name.to_string(), id) != Some(id)
    }
}

/// Which map file holds the ids of `kind`.
pub(super) fn map_file(kind: Kind) -> &'static str {
    match kind {
        Kind::Group => GID_MAP,
        Kind::User => UID_MAP,
    }
}

/// The key of a credential file that gives an account of `kind` its id.
pub(super) fn id_key(kind: Kind) -> &'static str {
    match kind {
        Kind::Group => "gid",
        Kind::User => "uid",
    }
}

/// Parses a map file's text (`{ "name": id, ... }`).
pub(super) fn parse_map(text: &str) -> std::result::Result<BTreeMap<String, u32>, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// A map file's text.
pub(super) fn map_text(map: &BTreeMap<String, u32>) -> String {
    let mut text = serde_json::to_string(map).expect("a map of names to numbers serialises");
    text.push('\n');
    text
}

/// The system range of `kind` in the text of `login.defs`: `SYS_UID_MIN`..`SYS_UID_MAX`
/// (or the `GID` pair), each 100 and 999 when not set.
fn range_in(text: &str, kind: Kind) -> (u32, u32) {
    let prefix = match kind {
        Kind::Group => "SYS_GID_",
        Kind::User => "SYS_UID_",
    };
    let value = |key: &str, default: u32| {
        text.lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                (words.next()? == format!("{prefix}{key}")).then(|| words.next())?
            })
            .filter_map(|v| v.parse().ok())
            .next_back()
            .unwrap_or(default)
    };
    (value("MIN", 100), value("MAX", 999))
}

/// The ids NixOS's map of `kind` in `dir` holds (none when there is no such file; a
/// file that is not a map is reported and ignored).
fn nixos_ids(dir: &Path, kind: Kind) -> BTreeSet<u32> {
    let path = dir.join(map_file(kind));
    let Ok(text) = std::fs::read_to_string(&path) else {
        return BTreeSet::new();
    };
    match parse_map(&text) {
        Ok(map) => map.into_values().collect(),
        Err(e) => {
            eprintln!("warning: ignoring {}: {e}", path.display());
            BTreeSet::new()
        }
    }
}

/// What the machine holds of the ids of one kind, read once per switch and kept up to
/// date as the switch creates accounts.
#[derive(Debug)]
pub(super) struct Machine {
    /// The kind.
    kind: Kind,
    /// The accounts the account database lists, by id.
    accounts: BTreeMap<u32, String>,
    /// The ids running processes use.
    in_use: BTreeSet<u32>,
    /// The ids NixOS's map holds.
    nixos: BTreeSet<u32>,
    /// The system range, from `login.defs`.
    range: (u32, u32),
}

impl Machine {
    /// Reads the accounts, the processes, NixOS's map and the system range of `kind`.
    pub(super) fn read(kind: Kind) -> Machine {
        let defs = std::fs::read_to_string(LOGIN_DEFS).unwrap_or_default();
        Machine {
            kind,
            accounts: listing(kind),
            in_use: ids_in_use(kind),
            nixos: nixos_ids(Path::new(NIXOS_DIR), kind),
            range: range_in(&defs, kind),
        }
    }

    /// Who has `id` now: the account of another name, or a running process. `None`
    /// when it is free (for `name`).
    fn taken(&self, id: u32, name: &str) -> Option<String> {
        let account = self
            .accounts
            .get(&id)
            .cloned()
            .or_else(|| account_by_id(self.kind, id));
        if let Some(holder) = account.filter(|a| a != name) {
            return Some(format!("{} '{holder}'", self.kind.word()));
        }
        if !self.in_use.contains(&id) {
            return None;
        }
        let users = processes_using(self.kind, id);
        (!users.is_empty()).then(|| format!("running process {}", users.join(", ")))
    }

    /// Notes that account `name` has `id` now (the switch just created it).
    pub(super) fn note(&mut self, name: &str, id: u32) {
        self.accounts.insert(id, name.to_string());
    }

    /// Forgets that an id is taken: an account that was removed again.
    pub(super) fn forget(&mut self, id: u32) {
        self.accounts.remove(&id);
    }

    /// The id to give account `name`, which its credential file does not give one:
    /// the recorded one when it is free, else the highest free id of the system range
    /// that no name holds in `record` (see the module documentation). A recorded id
    /// that is taken is said on stderr.
    pub(super) fn choose(&self, name: &str, record: &IdRecord) -> Result<u32> {
        if let Some(&id) = record.of(self.kind).get(name) {
            let Some(holder) = self.taken(id, name) else {
                return Ok(id);
            };
            let id_word = id_key(self.kind);
            let chosen = self.highest_free(name, record)?;
            eprintln!(
                "warning: {id_word} {id}, recorded for {} '{name}', belongs to {holder} now; {} '{name}' gets {id_word} {chosen}",
                self.kind.word(),
                self.kind.word()
            );
            return Ok(chosen);
        }
        self.highest_free(name, record)
    }

    /// The highest id of the system range that is free for `name` and that no name
    /// holds in `record` or in NixOS's map.
    fn highest_free(&self, name: &str, record: &IdRecord) -> Result<u32> {
        let recorded: BTreeSet<u32> = record.of(self.kind).values().copied().collect();
        let (min, max) = self.range;
        (min..=max)
            .rev()
            .filter(|id| !recorded.contains(id) && !self.nixos.contains(id))
            .filter(|id| !self.accounts.contains_key(id) && !self.in_use.contains(id))
            .find(|id| self.taken(*id, name).is_none())
            .ok_or_else(|| AccountError::NoFreeId {
                kind: self.kind.word(),
                key: id_key(self.kind),
                name: name.to_string(),
                min,
                max,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_range_comes_from_login_defs_or_the_defaults() {
        let text =
            "# SYS_UID_MIN 1\nUID_MIN 1000\nSYS_UID_MIN\t\t200\nSYS_UID_MAX 499\nSYS_GID_MAX x\n";
        assert_eq!(range_in(text, Kind::User), (200, 499));
        assert_eq!(range_in(text, Kind::Group), (100, 999));
        assert_eq!(range_in("", Kind::User), (100, 999));
    }

    #[test]
    fn nixos_maps_are_read_and_a_broken_one_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(UID_MAP), r#"{"nginx":60,"web":998}"#).unwrap();
        std::fs::write(tmp.path().join(GID_MAP), "{ not json").unwrap();
        assert_eq!(nixos_ids(tmp.path(), Kind::User), BTreeSet::from([60, 998]));
        assert!(nixos_ids(tmp.path(), Kind::Group).is_empty());
        assert!(nixos_ids(&tmp.path().join("none"), Kind::User).is_empty());
    }

    /// A machine whose accounts, processes and NixOS map are given.
    fn machine(accounts: &[(u32, &str)], in_use: &[u32], nixos: &[u32]) -> Machine {
        Machine {
            kind: Kind::User,
            accounts: accounts.iter().map(|(i, n)| (*i, n.to_string())).collect(),
            in_use: in_use.iter().copied().collect(),
            nixos: nixos.iter().copied().collect(),
            // Far above what real accounts use, so `account_by_id` finds nothing.
            range: (4_000_000_000, 4_000_000_009),
        }
    }

    #[test]
    fn a_recorded_id_is_kept_and_never_given_to_another_name() {
        let top = 4_000_000_009;
        let mut record = IdRecord::default();
        record.set(Kind::User, "web", top - 3);
        record.set(Kind::User, "old", top);
        let m = machine(&[(top - 1, "someone")], &[top - 2], &[top - 4]);
        assert_eq!(m.choose("web", &record).unwrap(), top - 3);
        // Not the record's, not an account's, not a process's, not NixOS's.
        assert_eq!(m.choose("new", &record).unwrap(), top - 5);
        // The recorded id is taken by an account: another one, outside the record.
        let m = machine(&[(top - 3, "other")], &[], &[]);
        assert_eq!(m.choose("web", &record).unwrap(), top - 1);
        assert_eq!(record.other_holder(Kind::User, top, "web"), Some("old"));
        assert_eq!(record.other_holder(Kind::User, top, "old"), None);
    }

    #[test]
    fn a_full_range_is_an_error_naming_it() {
        let record = IdRecord::default();
        let mut m = machine(&[], &[], &[]);
        m.range = (4_000_000_000, 4_000_000_001);
        m.note("a", 4_000_000_000);
        m.note("b", 4_000_000_001);
        let e = m.choose("c", &record).unwrap_err().to_string();
        assert!(
            e.starts_with("no uid left for user 'c' in 4000000000..4000000001"),
            "{e}"
        );
        m.forget(4_000_000_001);
        assert_eq!(m.choose("c", &record).unwrap(), 4_000_000_001);
    }

    #[test]
    fn maps_are_json_objects_of_names_and_ids() {
        let mut record = IdRecord::default();
        assert!(record.set(Kind::Group, "web", 990));
        assert!(!record.set(Kind::Group, "web", 990));
        let text = map_text(record.of(Kind::Group));
        assert_eq!(text, "{\"web\":990}\n");
        assert_eq!(parse_map(&text).unwrap(), record.groups);
        assert!(parse_map("[1]").is_err());
    }
}
