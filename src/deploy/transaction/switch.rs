//! A switch as a transaction: lock, recover, plan, journal, accounts, stops, starts,
//! profile move; a failed start rolls back.
//!
//! Rollback of a failed switch stops (with the new scripts) every process whose start
//! was launched, in reverse order, then starts (with the old scripts) every process
//! that was stopped, in dependency order, and leaves the Nix profile where it was.
//! Because LSB scripts make `start` of a running and `stop` of a stopped process
//! succeed, the same rollback can be replayed after a crash: the next switch finds the
//! unfinished journal and rolls it back (or, when the profile had already moved, only
//! finishes the bookkeeping) before doing what it was asked.
//!
//! The profile move is part of the transaction: once every start succeeded, the switch
//! makes the new generation link, journals `profile-moving`, then renames the profile
//! link into place (see [`generations::point_to`]). Recovery reads where the link really
//! points: at the new generation, the switch is finished; with `profile-moving` but the
//! link still at the old one, the move is completed; otherwise the switch is undone.
//!
//! A journal that cannot be written (a full disk) stops the switch: nothing more is
//! launched, the launched steps are undone from what the switch holds in memory, and
//! the error names the full disk.
//!
//! The switch's parts: its [`Settings`] and [`Summary`] (`settings`), the checks and
//! plan before it changes anything (`preflight`), the forward run (`phases`), the
//! profile move (`profile_move`), the rollback (`rollback`) and the recovery of an
//! interrupted switch (`recovery`).
//!
//! [`generations::point_to`]: crate::deploy::profile::generations::point_to

use std::path::Path;

use super::journal::{self, Commit, Journal, Record};
use super::phases::Run;
use super::plan::Plan;
use super::preflight::{planned, Planned};
use super::rollback::Launched;
use crate::deploy::profile::Profile;
use crate::deploy::secrets;
use crate::deploy::Result;

pub use super::preflight::{check_runlevel, plan, plan_graph, read_profile};
pub use super::recovery::recover;
pub use super::settings::{Settings, Summary};

/// Switches from the deployed profile (or `old`) to the profile directory `new` and
/// moves the Nix profile with `commit`. Fails, after rolling back, when a start fails.
pub fn switch(
    settings: &Settings,
    old: Option<&Path>,
    new: &Path,
    commit: Commit,
) -> Result<Summary> {
    let _lock = settings.lock()?;
    let recovered = recover(settings)?;
    let Planned {
        old: old_profile,
        new: new_profile,
        plan,
        secrets: wanted,
    } = planned(settings, old, new)?;
    let begin = begin_record(settings, &old_profile, new, &commit, &plan);
    let journal = Journal::create(&settings.state_dir, &begin)?;
    let mut run = Run::new(settings, journal);
    let mut summary = Summary {
        plan: plan.clone(),
        recovered,
        ..Summary::default()
    };

    summary.created = match settings.ensure_accounts(&new_profile) {
        Ok(c) => c,
        Err(e) => {
            let nothing = Launched::default();
            run.undo(&plan, &nothing, &e.to_string(), || Ok(old_profile))?;
            return Err(e);
        }
    };

    let forward = run.forward(&plan, &wanted);
    if let Some(reason) = run.forward_failure_or_commit(&forward, &commit) {
        return Err(run.undo_forward(&plan, forward, reason, old_profile));
    }
    summary.failed_stops = forward.stops.failed;

    // The profile has moved: the switch is committed even if the journal cannot say so
    // (recovery sees where the link points).
    let _ = run.journal.append(&Record::ProfileMoved);
    for warning in secrets::remove_obsolete(&old_profile, &new_profile) {
        settings.note(&format!("warning: {warning}"));
    }
    summary.removed = settings.prune_accounts(&new_profile);
    run.journal.finish(journal::SwitchEnd::Committed)?;
    Ok(summary)
}

/// The first journal record of a switch of the settings' profile from `old` to the
/// profile directory `new`, carrying out `plan` and moving the profile with `commit`.
fn begin_record(
    settings: &Settings,
    old: &Profile,
    new: &Path,
    commit: &Commit,
    plan: &Plan,
) -> Record {
    Record::Begin {
        pid: std::process::id(),
        profile: settings.profile.clone(),
        old: old.root.clone(),
        new: Some(new.to_path_buf()),
        runlevel: settings.runlevel,
        commit: commit.clone(),
        plan: plan.clone(),
    }
}
