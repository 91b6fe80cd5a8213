//! Releasing the accounts a profile no longer uses and deleting those no profile uses.

use std::process::Command;

use super::ids::IdRecord;
use super::in_use::processes_using;
use super::registry::Registry;
use super::release::release;
use super::tool::{account_by_id, account_id, run_account_tool};
use super::{AccountStore, Accounts, Kind, Result};
use crate::deploy::profile::Profile;

/// What an attempt to delete an unclaimed account came to.
#[derive(Debug)]
enum Deletion {
    /// Deleted now; it had this id.
    Deleted(u32),
    /// It no longer exists (deleted by someone else, or by an interrupted switch); the
    /// id recorded for it when that is now nobody's (no account, no process).
    Gone(Option<u32>),
    /// Not deleted, and why; retried later.
    Kept(String),
}

/// Deletes an account nothing claims any more, unless a process still uses it;
/// `recorded` is the id recorded for it.
fn delete(kind: Kind, name: &str, recorded: Option<u32>) -> Deletion {
    let Some(id) = account_id(kind, name) else {
        let orphan = recorded.filter(|id| {
            account_by_id(kind, *id).is_none() && processes_using(kind, *id).is_empty()
        });
        return Deletion::Gone(orphan);
    };
    if id == 0 {
        return Deletion::Kept(format!("it has {} id 0", kind.word()));
    }
    let users = processes_using(kind, id);
    if !users.is_empty() {
        let shown: Vec<&str> = users.iter().take(3).map(String::as_str).collect();
        let more = if users.len() > 3 {
            format!(" and {} more", users.len() - 3)
        } else {
            String::new()
        };
        return Deletion::Kept(format!(
            "still in use by process{} {}{more}",
            if users.len() == 1 { "" } else { "es" },
            shown.join(", ")
        ));
    }
    match run_account_tool(Command::new(kind.delete_tool()).arg("--").arg(name)) {
        Ok(_) => Deletion::Deleted(id),
        Err(e) => Deletion::Kept(e.to_string()),
    }
}

/// Releases the accounts `store.owner` used that `keep` (its deployed profile) no longer
/// mentions, then deletes every account of the registry that no profile claims any
/// more, users first, then groups. A deletion put off (a process still uses the
/// account) or failed is recorded as pending, reported on stderr as a warning and
/// retried by the next call, whichever profile makes it. Returns what was deleted.
///
/// It never fails: a switch calls it once its profile has moved, and an error then would
/// leave the switch unfinished for every later one. A registry that cannot be read or
/// written is reported as a warning too; at worst an account stays, and a later call
/// deletes it.
pub fn prune(keep: &Profile, store: &AccountStore, force_disable_user_change: bool) -> Accounts {
    let mut removed = Accounts::default();
    if force_disable_user_change {
        return removed;
    }
    if let Err(e) = release_and_delete(keep, store, &mut removed) {
        eprintln!("warning: accounts no profile uses any more were not all deleted: {e}");
    }
    removed
}

/// The work of [`prune`], adding what it deleted to `removed`.
fn release_and_delete(keep: &Profile, store: &AccountStore, removed: &mut Accounts) -> Result<()> {
    let Some(session) = store.existing_session()? else {
        return Ok(());
    };
    let mut reg = session.load()?;
    if reg.release(keep, &store.claimant()) {
        session.save(&reg)?;
    }
    let ids = session.load_ids().unwrap_or_else(|e| {
        eprintln!("warning: {e}");
        IdRecord::default()
    });
    for kind in [Kind::User, Kind::Group] {
        for name in reg.unclaimed(kind) {
            let deletion = delete(kind, &name, ids.of(kind).get(&name).copied());
            reg.settle(kind, name, deletion, removed);
            session.save(&reg)?;
        }
    }
    Ok(())
}

/// The steps of [`release_and_delete`].
impl Registry {
    /// Drops the claim of `claimant` on every account `keep` (its deployed profile) no
    /// longer mentions; whether it dropped any.
    fn release(&mut self, keep: &Profile, claimant: &str) -> bool {
        let mut released = false;
        for kind in [Kind::User, Kind::Group] {
            for (name, entry) in self.of(kind).iter_mut() {
                if !kind.files(keep).contains_key(name) && entry.claims.remove(claimant) {
                    released = true;
                }
            }
        }
        released
    }

    /// The accounts of `kind` that no profile claims, by name.
    fn unclaimed(&mut self, kind: Kind) -> Vec<String> {
        self.of(kind)
            .iter()
            .filter(|(_, e)| e.claims.is_empty())
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Records what became of the attempt to delete the unclaimed account `name`: one
    /// deleted (added to `removed`) or already gone leaves the registry, and what the
    /// switch made for it that its uid still owns is removed or handed to root (see
    /// [`release`]); one kept is marked pending, with a warning on stderr, for the next
    /// switch to retry.
    fn settle(&mut self, kind: Kind, name: String, deletion: Deletion, removed: &mut Accounts) {
        match deletion {
            Deletion::Deleted(id) => {
                removed.of(kind).insert(name.clone());
                if let Some(entry) = self.of(kind).remove(&name) {
                    release(&name, id, &entry.paths);
                }
            }
            Deletion::Gone(orphan) => {
                let entry = self.of(kind).remove(&name);
                if let (Some(entry), Some(id)) = (entry, orphan) {
                    release(&name, id, &entry.paths);
                }
            }
            Deletion::Kept(reason) => {
                eprintln!(
                    "warning: {} `{name}` is used by no profile any more but was not deleted: {reason}; the next switch tries again",
                    kind.word()
                );
                if let Some(entry) = self.of(kind).get_mut(&name) {
                    entry.pending = Some(reason);
                }
            }
        }
    }
}
