//! Claiming and creating the accounts a profile wants, under the registry's lock.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use super::checks::{check_all, given_id};
use super::ids::{IdRecord, Machine};
use super::registry::{Registry, Session};
use super::release::{adopt_home, AccountPaths};
use super::tool::{
    account_by_id, account_id, exists, groupadd, home_of, names_with_id, run_account_tool, useradd,
};
use super::{AccountError, AccountStore, Accounts, Kind, Result, Wanted};
use crate::deploy::profile::Profile;
use crate::tree::credentials::{says_yes, Fields};

/// How often an account is created again with another chosen id when another program
/// took the chosen one meanwhile.
const ID_RACES: u32 = 5;

/// The exit code of `useradd` and `groupadd` for an id another account has.
const ID_TAKEN: i32 = 4;

/// Claims and creates the accounts `wanted` (the credential files of `profile`) for
/// `store.owner` (see [`ensure`](super::ensure)); returns what was created.
pub(super) fn claim_all(
    profile: &Profile,
    wanted: &Wanted,
    store: &AccountStore,
) -> Result<Accounts> {
    let session = store.session()?;
    let reg = session.load()?;
    let ids = session.load_ids()?;
    // Again under the lock: another switch may have recorded ids since the first check.
    check_all(profile, wanted, store, Some(&ids))?;
    let mut claiming = Claiming {
        store,
        profile,
        session,
        reg,
        ids,
        ids_changed: false,
        machines: BTreeMap::new(),
        created: Accounts::default(),
    };
    for (name, fields) in &wanted.groups {
        claiming.ensure_one(Kind::Group, name, fields)?;
    }
    for (name, fields) in &wanted.users {
        claiming.ensure_one(Kind::User, name, fields)?;
    }
    Ok(claiming.created)
}

/// The locked registry while [`claim_all`] claims and creates accounts, and what it
/// has created so far.
struct Claiming<'a> {
    /// Whose claims these are.
    store: &'a AccountStore,
    /// The profile whose accounts these are.
    profile: &'a Profile,
    /// The registry's lock.
    session: Session,
    /// The registry as last saved.
    reg: Registry,
    /// The record of ids, with what this switch added.
    ids: IdRecord,
    /// Whether `ids` changed since it was last saved.
    ids_changed: bool,
    /// The machine's ids, by kind, read when first needed.
    machines: BTreeMap<&'static str, Machine>,
    /// The accounts created so far.
    created: Accounts,
}

impl Claiming<'_> {
    /// Makes sure account `name` of `kind` exists as `fields` (its credential file)
    /// ask. An account of the registry is claimed for the store's owner (and made again
    /// if someone deleted it); one that exists otherwise is left alone; a missing one is
    /// made, recorded and claimed. The registry is saved whenever it changed.
    fn ensure_one(&mut self, kind: Kind, name: &str, fields: &Fields) -> Result<()> {
        let ours = self.reg.of(kind).contains_key(name);
        let present = exists(kind.database(), name);
        if present && !ours {
            return Ok(());
        }
        if present {
            self.record_present(kind, name);
        } else {
            self.create(kind, name, fields)?;
            self.created.of(kind).insert(name.to_string());
        }
        let paths = match kind {
            Kind::User => AccountPaths::of_user(self.profile, name, home(name, fields)),
            Kind::Group => AccountPaths::default(),
        };
        let entry = self.reg.of(kind).entry(name.to_string()).or_default();
        let claimed = entry.claims.insert(self.store.claimant());
        let was_pending = entry.pending.take().is_some();
        let more_paths = entry.paths.extend(paths);
        if claimed || was_pending || more_paths || !present || self.ids_changed {
            self.save()?;
        }
        Ok(())
    }

    /// Saves the record of ids (when it changed), then the registry.
    fn save(&mut self) -> Result<()> {
        if self.ids_changed {
            self.session.save_ids(&self.ids)?;
            self.ids_changed = false;
        }
        self.session.save(&self.reg)
    }

    /// The machine's ids of `kind`.
    fn machine(&mut self, kind: Kind) -> &mut Machine {
        machine_of(&mut self.machines, kind)
    }

    /// Records the id of account `name`, one of ours that exists, unless it is recorded.
    fn record_present(&mut self, kind: Kind, name: &str) {
        if self.ids.of(kind).contains_key(name) {
            return;
        }
        if let Some(id) = account_id(kind, name) {
            self.ids_changed |= self.ids.set(kind, name, id);
        }
    }

    /// Creates account `name` of `kind` as `fields` ask.
    fn create(&mut self, kind: Kind, name: &str, fields: &Fields) -> Result<()> {
        let file = kind.files(self.profile)[name].clone();
        let given = given_id(kind, name, fields, &file)?;
        match kind {
            Kind::Group => self
                .add(kind, name, given, |gid| groupadd(name, gid))
                .map(drop),
            Kind::User => self.create_user(name, fields, given),
        }
    }

    /// Creates user `name` as `fields` ask, with uid `given` if the file gives one.
    /// Without `group`, the user gets a group of its own, made first (and removed
    /// again when the user cannot be made).
    fn create_user(&mut self, name: &str, fields: &Fields, given: Option<u32>) -> Result<()> {
        let (group, made) = match fields.get("group") {
            Some(g) => (g.clone(), None),
            None => (name.to_string(), self.own_group(name)?),
        };
        let added = self.add(Kind::User, name, given, |uid| {
            useradd(name, fields, uid, &group)
        });
        if let (Err(_), Some(gid)) = (&added, made) {
            let undone = run_account_tool(Command::new("groupdel").arg("--").arg(name));
            match undone {
                Ok(_) => self.machine(Kind::Group).forget(gid),
                Err(e) => eprintln!("warning: the own group of user '{name}' stays: {e}"),
            }
        }
        let uid = added?;
        if let (Some(home), Some(gid)) = (home(name, fields), account_id(Kind::Group, &group)) {
            adopt_home(name, &home, uid, gid);
        }
        Ok(())
    }

    /// Makes the group of user `name`'s own (of the same name) unless this tool made
    /// it earlier (its gid is the one recorded); its gid when made now.
    fn own_group(&mut self, name: &str) -> Result<Option<u32>> {
        if let Some(gid) = account_id(Kind::Group, name) {
            if self.ids.of(Kind::Group).get(name) == Some(&gid) {
                return Ok(None);
            }
            return Err(AccountError::OwnGroupExists {
                user: name.to_string(),
                gid,
            });
        }
        self.add(Kind::Group, name, None, |gid| groupadd(name, gid))
            .map(Some)
    }

    /// Runs `tool(id)`, the tool creating account `name` of `kind`, with the `given` id
    /// or a chosen one (see [`Machine::choose`]), then records the id the account got
    /// and returns it. A chosen id another program took at the same instant (the tool
    /// then fails with [`ID_TAKEN`], or, as the tools check an id before they lock the
    /// account files, both accounts got it) is chosen again, up to [`ID_RACES`] times.
    fn add(
        &mut self,
        kind: Kind,
        name: &str,
        given: Option<u32>,
        tool: impl Fn(u32) -> Command,
    ) -> Result<u32> {
        for _ in 0..=ID_RACES {
            let id = match given {
                Some(id) => id,
                None => machine_of(&mut self.machines, kind).choose(name, &self.ids)?,
            };
            let taken_by = match run_account_tool(&mut tool(id)) {
                Ok(_) if given.is_some() => None,
                Ok(_) => self.undo_if_shared(kind, name, id)?,
                Err(AccountError::Tool {
                    code: Some(ID_TAKEN),
                    ..
                }) if given.is_none() => Some(account_by_id(kind, id).unwrap_or_default()),
                Err(e) => return Err(e),
            };
            match taken_by {
                Some(holder) => self.machine(kind).note(&holder, id),
                None => return Ok(self.record(kind, name, id)),
            }
        }
        Err(AccountError::IdRace {
            kind: kind.word(),
            name: name.to_string(),
            races: ID_RACES,
        })
    }

    /// After account `name` of `kind` was made with the chosen `id`: when another
    /// account has that id too, deletes `name` again and returns the other's name.
    fn undo_if_shared(&mut self, kind: Kind, name: &str, id: u32) -> Result<Option<String>> {
        let Some(other) = names_with_id(kind, id).into_iter().find(|n| n != name) else {
            return Ok(None);
        };
        run_account_tool(Command::new(kind.delete_tool()).arg("--").arg(name))?;
        Ok(Some(other))
    }

    /// Records the id account `name` of `kind` got (`id` asked for) and returns it.
    fn record(&mut self, kind: Kind, name: &str, id: u32) -> u32 {
        let id = account_id(kind, name).unwrap_or(id);
        self.machine(kind).note(name, id);
        self.ids_changed |= self.ids.set(kind, name, id);
        id
    }
}

/// The home directory of user `name` when its file `fields` asks to create one.
fn home(name: &str, fields: &Fields) -> Option<PathBuf> {
    says_yes(fields, "createHomeDir")
        .then(|| home_of(name))
        .flatten()
}

/// The machine's ids of `kind` in `machines`, read when first needed.
fn machine_of<'m>(
    machines: &'m mut BTreeMap<&'static str, Machine>,
    kind: Kind,
) -> &'m mut Machine {
    machines
        .entry(kind.word())
        .or_insert_with(|| Machine::read(kind))
}
