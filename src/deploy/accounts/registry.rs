//! The registry of the accounts this tool created (`accounts.json`), and the locked
//! read-modify-write of it ([`Session`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ids::{map_file, map_text, parse_map, IdRecord};
use super::release::AccountPaths;
use super::{
    AccountError, AccountStore, Kind, Result, ACCOUNTS_DIR_ENV, ACCOUNTS_FILE, MACHINE_ACCOUNTS_DIR,
};
use crate::deploy::safe_dir::{euid, SafeDir};

/// What removing a corrupt registry would mean, for its message.
const CORRUPT_REGISTRY: &str = "the accounts it lists would then never be deleted by this tool";

/// What removing a corrupt map of ids would mean, for its message.
const CORRUPT_MAP: &str = "the ids it records could then be given to other names";

/// File name of the registry's lock, next to it.
const LOCK_FILE: &str = "accounts.lock";

/// One account of the registry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "EntryFormat")]
pub(super) struct Entry {
    /// The profile links whose deployment (or switch in progress) uses the account.
    pub(super) claims: BTreeSet<String>,
    /// Why the last attempt to delete the account, once unclaimed, did not succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) pending: Option<String>,
    /// What the switch made for the account (a user), removed or handed to root once
    /// it is deleted.
    #[serde(skip_serializing_if = "AccountPaths::is_empty")]
    pub(super) paths: AccountPaths,
}

/// The forms of a registry entry on disk.
#[derive(Deserialize)]
#[serde(untagged)]
enum EntryFormat {
    /// Earlier versions recorded the claims alone.
    Claims(BTreeSet<String>),
    /// Claims, the pending deletion and the paths made for the account.
    Full {
        claims: BTreeSet<String>,
        #[serde(default)]
        pending: Option<String>,
        #[serde(default)]
        paths: AccountPaths,
    },
}

impl From<EntryFormat> for Entry {
    fn from(format: EntryFormat) -> Entry {
        match format {
            EntryFormat::Claims(claims) => Entry {
                claims,
                ..Entry::default()
            },
            EntryFormat::Full {
                claims,
                pending,
                paths,
            } => Entry {
                claims,
                pending,
                paths,
            },
        }
    }
}

/// The registry file's content: the accounts this tool created, by name.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Registry {
    /// The groups, by name.
    #[serde(default)]
    pub(super) groups: BTreeMap<String, Entry>,
    /// The users, by name.
    #[serde(default)]
    pub(super) users: BTreeMap<String, Entry>,
}

impl Registry {
    /// The accounts of one kind.
    pub(super) fn of(&mut self, kind: Kind) -> &mut BTreeMap<String, Entry> {
        match kind {
            Kind::Group => &mut self.groups,
            Kind::User => &mut self.users,
        }
    }

    /// Adds the accounts and claims of `other` (an older registry being merged).
    pub(super) fn merge(&mut self, other: Registry) {
        for (kind, accounts) in [(Kind::Group, other.groups), (Kind::User, other.users)] {
            for (name, entry) in accounts {
                let mine = self.of(kind).entry(name).or_default();
                mine.claims.extend(entry.claims);
                mine.paths.extend(entry.paths);
                if mine.pending.is_none() {
                    mine.pending = entry.pending;
                }
            }
        }
    }
}

/// The registry opened and locked: dropped, it releases the lock.
#[derive(Debug)]
pub(super) struct Session {
    dir: SafeDir,
    _lock: fs::File,
}

impl Session {
    /// Reads the registry; a missing file is an empty registry.
    pub(super) fn load(&self) -> Result<Registry> {
        let path = self.dir.path.join(ACCOUNTS_FILE);
        match self.dir.read(ACCOUNTS_FILE)? {
            Some(text) => serde_json::from_str(&text).map_err(|e| AccountError::Corrupt {
                path,
                message: e.to_string(),
                consequence: CORRUPT_REGISTRY,
            }),
            None => Ok(Registry::default()),
        }
    }

    /// Writes the registry atomically.
    pub(super) fn save(&self, reg: &Registry) -> Result<()> {
        let text = serde_json::to_string_pretty(reg)
            .expect("a registry of names and strings always serialises");
        Ok(self.dir.replace(ACCOUNTS_FILE, &text)?)
    }
}

impl Session {
    /// Reads the record of ids ([`UID_MAP`](super::UID_MAP), [`GID_MAP`](super::GID_MAP));
    /// a missing file is an empty map.
    pub(super) fn load_ids(&self) -> Result<IdRecord> {
        read_ids(&self.dir)
    }

    /// Writes the record of ids, each map replaced atomically.
    pub(super) fn save_ids(&self, ids: &IdRecord) -> Result<()> {
        for kind in [Kind::User, Kind::Group] {
            self.dir.replace(map_file(kind), &map_text(ids.of(kind)))?;
        }
        Ok(())
    }
}

/// The record of ids in the registry directory `dir`.
fn read_ids(dir: &SafeDir) -> Result<IdRecord> {
    let mut ids = IdRecord::default();
    for kind in [Kind::User, Kind::Group] {
        let Some(text) = dir.read(map_file(kind))? else {
            continue;
        };
        *ids.of_mut(kind) = parse_map(&text).map_err(|message| AccountError::Corrupt {
            path: dir.path.join(map_file(kind)),
            message,
            consequence: CORRUPT_MAP,
        })?;
    }
    Ok(ids)
}

impl AccountStore {
    /// The directory of the registry: `$NIXPROC_SYSVINIT_ACCOUNTS_DIR` when set, else
    /// [`MACHINE_ACCOUNTS_DIR`] for root and [`dir`](Self::dir) for anybody else.
    pub fn registry_dir(&self) -> PathBuf {
        match std::env::var_os(ACCOUNTS_DIR_ENV).filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None if euid() == 0 => PathBuf::from(MACHINE_ACCOUNTS_DIR),
            None => self.dir.clone(),
        }
    }

    /// How the registry names [`owner`](Self::owner): as an absolute path, so that one
    /// profile link named from two working directories is one claimant.
    pub(super) fn claimant(&self) -> String {
        let owner = Path::new(&self.owner);
        if owner.is_absolute() {
            return self.owner.clone();
        }
        std::env::current_dir()
            .map(|d| d.join(owner).to_string_lossy().into_owned())
            .unwrap_or_else(|_| self.owner.clone())
    }

    /// An older registry in [`dir`](Self::dir) to merge into the machine's, if any.
    fn legacy(&self) -> Option<PathBuf> {
        let registry = self.registry_dir();
        let same = registry == self.dir
            || matches!(
                (fs::canonicalize(&registry), fs::canonicalize(&self.dir)),
                (Ok(a), Ok(b)) if a == b
            );
        let file = self.dir.join(ACCOUNTS_FILE);
        (!same && file.symlink_metadata().is_ok()).then_some(file)
    }

    /// The record of ids as it is now, read without the lock (for the checks before a
    /// switch); empty when there is no registry directory.
    pub(super) fn peek_ids(&self) -> Result<IdRecord> {
        match SafeDir::open(&self.registry_dir(), false)? {
            Some(dir) => read_ids(&dir),
            None => Ok(IdRecord::default()),
        }
    }

    /// Opens and locks the registry (waiting for the lock), making its directory if
    /// need be.
    pub(super) fn session(&self) -> Result<Session> {
        let dir = SafeDir::create(&self.registry_dir())?;
        self.lock(dir)
    }

    /// Opens and locks the registry (waiting for the lock) when there is one: `None`
    /// means nothing to release.
    pub(super) fn existing_session(&self) -> Result<Option<Session>> {
        if self.legacy().is_some() {
            return self.session().map(Some);
        }
        let Some(dir) = SafeDir::open(&self.registry_dir(), false)? else {
            return Ok(None);
        };
        if dir.read(ACCOUNTS_FILE)?.is_none() {
            return Ok(None);
        }
        self.lock(dir).map(Some)
    }

    /// Locks the registry in `dir`, then merges an older registry into it, if any.
    fn lock(&self, dir: SafeDir) -> Result<Session> {
        let lock_path = dir.path.join(LOCK_FILE);
        let lock = dir
            .open_file(LOCK_FILE, libc::O_RDWR | libc::O_CREAT)
            .map_err(|e| AccountError::io("opening", &lock_path, e))?;
        // SAFETY: flock on a descriptor we own; released when the file closes.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(AccountError::io(
                "locking",
                &lock_path,
                std::io::Error::last_os_error(),
            ));
        }
        let session = Session { dir, _lock: lock };
        if self.legacy().is_some() {
            self.merge_legacy(&session)?;
        }
        Ok(session)
    }

    /// Merges the registry an earlier version kept in [`dir`](Self::dir) into the
    /// locked registry, then renames it `accounts.json.merged`. A registry in a
    /// directory others could write is not trusted: it is left alone, with a warning.
    fn merge_legacy(&self, session: &Session) -> Result<()> {
        let old_dir = match SafeDir::open(&self.dir, false) {
            Ok(Some(d)) => d,
            Ok(None) => return Ok(()),
            Err(e) => {
                eprintln!("warning: not merging an older account registry: {e}");
                return Ok(());
            }
        };
        let Some(text) = old_dir.read(ACCOUNTS_FILE)? else {
            return Ok(());
        };
        let old_path = old_dir.path.join(ACCOUNTS_FILE);
        let old: Registry = serde_json::from_str(&text).map_err(|e| AccountError::Corrupt {
            path: old_path.clone(),
            message: e.to_string(),
            consequence: CORRUPT_REGISTRY,
        })?;
        let mut reg = session.load()?;
        reg.merge(old);
        session.save(&reg)?;
        old_dir
            .rename(ACCOUNTS_FILE, &format!("{ACCOUNTS_FILE}.merged"))
            .map_err(|e| AccountError::io("renaming", &old_path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_reads_the_older_format_and_merges() {
        let old: Registry =
            serde_json::from_str(r#"{"groups":{"g":["/p/a"]},"users":{"u":["/p/a","/p/b"]}}"#)
                .unwrap();
        assert_eq!(old.users["u"].claims.len(), 2);
        assert_eq!(old.groups["g"].pending, None);
        let mut reg: Registry = serde_json::from_str(
            r#"{"users":{"u":{"claims":["/p/c"]},"v":{"claims":[],"pending":"busy"}}}"#,
        )
        .unwrap();
        assert_eq!(reg.users["v"].pending.as_deref(), Some("busy"));
        reg.merge(old);
        assert_eq!(
            reg.users["u"].claims,
            BTreeSet::from(["/p/a".into(), "/p/b".into(), "/p/c".into()])
        );
        assert!(reg.groups.contains_key("g"));
        let text = serde_json::to_string(&reg).unwrap();
        assert_eq!(serde_json::from_str::<Registry>(&text).unwrap(), reg);
    }

    #[test]
    fn registry_round_trip_in_a_safe_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = SafeDir::open(&tmp.path().join("a/b"), true)
            .unwrap()
            .unwrap();
        let lock = dir
            .open_file(LOCK_FILE, libc::O_RDWR | libc::O_CREAT)
            .unwrap();
        let session = Session { dir, _lock: lock };
        assert_eq!(session.load().unwrap(), Registry::default());
        let mut reg = Registry::default();
        reg.users.insert("u".into(), Entry::default());
        session.save(&reg).unwrap();
        assert_eq!(session.load().unwrap(), reg);
        assert!(SafeDir::open(&tmp.path().join("missing"), false)
            .unwrap()
            .is_none());
    }
}
