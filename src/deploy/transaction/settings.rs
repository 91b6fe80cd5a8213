//! The settings of one switch invocation and the summary of what a successful one did;
//! the settings' own services: the lock, notes on stderr, the account registry.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::journal::{Lock, Wait};
use super::plan::{Plan, Step};
use crate::deploy::accounts;
use crate::deploy::profile::Profile;
use crate::deploy::secrets;
use crate::deploy::Result;
use crate::protocol::{SwitchResult, PROTOCOL};

/// Settings of one switch invocation.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The Nix profile link.
    pub profile: PathBuf,
    /// The tool's own state directory (lock, journal, account record, step logs).
    pub state_dir: PathBuf,
    /// The runlevel whose start links count.
    pub runlevel: u8,
    /// Most scripts running at once.
    pub jobs: usize,
    /// Leave accounts alone (only create home directories).
    pub force_disable_user_change: bool,
    /// Report progress as JSON lines on stdout.
    pub json: bool,
    /// Report no progress.
    pub quiet: bool,
    /// Directory of the account registry shared by profiles (see [`accounts::AccountStore`]).
    pub accounts_dir: PathBuf,
    /// Longest a script may run before it is killed and counts as failed.
    pub timeout: Option<std::time::Duration>,
    /// Whether to wait for another switch (or runactivity) holding the lock.
    pub wait: Wait,
    /// `--option NAME VALUE` pairs for every Nix command.
    pub nix_options: Vec<(String, String)>,
    /// Where the contents of the profile's secrets come from.
    pub secrets: secrets::SecretInput,
}

/// What a successful switch did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The plan carried out.
    pub plan: Plan,
    /// Stops that failed (reported, not fatal).
    pub failed_stops: Vec<(String, String)>,
    /// Accounts created.
    pub created: accounts::Accounts,
    /// Accounts removed.
    pub removed: accounts::Accounts,
    /// What recovery of an interrupted earlier switch did, if anything.
    pub recovered: Option<String>,
}

impl Summary {
    /// The result the switch reports for this summary: `profile` (the link) now points
    /// to `deployed`; `previous_generation` is where it pointed before.
    pub fn result(
        &self,
        profile: &Path,
        deployed: &Path,
        previous_generation: Option<u64>,
    ) -> SwitchResult {
        let names = |steps: &[Step]| steps.iter().map(|s| s.name.clone()).collect();
        let listed = |names: &BTreeSet<String>| names.iter().cloned().collect();
        SwitchResult {
            protocol: PROTOCOL,
            ok: true,
            error: None,
            profile: Some(profile.to_string_lossy().into_owned()),
            deployed: Some(deployed.to_string_lossy().into_owned()),
            previous_generation,
            stopped: names(&self.plan.stops),
            started: names(&self.plan.starts),
            unchanged: self.plan.unchanged.clone(),
            failed_stops: self.failed_stops.iter().map(|(n, _)| n.clone()).collect(),
            created_users: listed(&self.created.users),
            created_groups: listed(&self.created.groups),
            removed_users: listed(&self.removed.users),
            removed_groups: listed(&self.removed.groups),
            recovered: self.recovered.clone(),
        }
    }
}

impl Settings {
    /// Takes the state directory's lock, waiting for its holder with a message unless
    /// told not to wait.
    pub fn lock(&self) -> Result<Lock> {
        let quiet = self.quiet;
        let state = self.state_dir.clone();
        Lock::acquire(&self.state_dir, self.wait, &mut |holder| {
            if !quiet {
                eprintln!(
                    "waiting for {holder} to finish (lock {}; --no-wait fails instead)",
                    state.join("lock").display()
                );
            }
        })
    }

    /// Shows `message` on stderr, unless the settings ask for silence or JSON.
    pub(super) fn note(&self, message: &str) {
        if !self.quiet && !self.json {
            eprintln!("{message}");
        }
    }

    /// The account registry, with this profile link as the owner.
    pub(super) fn accounts(&self) -> accounts::AccountStore {
        accounts::AccountStore {
            dir: self.accounts_dir.clone(),
            owner: self.profile.to_string_lossy().into_owned(),
        }
    }

    /// Creates the accounts `profile` needs (see [`accounts::ensure`]).
    pub(super) fn ensure_accounts(&self, profile: &Profile) -> Result<accounts::Accounts> {
        Ok(accounts::ensure(
            profile,
            &self.accounts(),
            self.force_disable_user_change,
        )?)
    }

    /// Releases the accounts `keep` no longer mentions (see [`accounts::prune`]); never
    /// fails (troubles are warnings).
    pub(super) fn prune_accounts(&self, keep: &Profile) -> accounts::Accounts {
        accounts::prune(keep, &self.accounts(), self.force_disable_user_change)
    }
}
