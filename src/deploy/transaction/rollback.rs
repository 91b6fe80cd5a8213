//! The rollback of a failed switch (and of an interrupted one): the forward steps it
//! launched, undone in reverse with the opposite action, and the journal's end.

use std::collections::BTreeSet;

use super::journal::{self, Record};
use super::phases::{Forward, Run, Stage};
use super::plan::{Action, Plan, Step};
use crate::deploy::profile::Profile;
use crate::deploy::scripts::execute::Outcome;
use crate::deploy::{DeployError, Result};

/// The forward steps a switch launched, which its rollback undoes.
#[derive(Debug, Clone, Default)]
pub(super) struct Launched {
    /// Starts launched, in launch order.
    pub(super) starts: Vec<String>,
    /// Stops launched, in launch order.
    pub(super) stops: Vec<String>,
}

impl Run<'_> {
    /// Undoes a switch whose forward phases failed for `reason`: puts back what the
    /// placed secrets replaced, rolls back the steps `forward` launched (see
    /// [`Run::undo`]) and returns the error that says so.
    pub(super) fn undo_forward(
        self,
        plan: &Plan,
        forward: Forward,
        reason: String,
        old_profile: Profile,
    ) -> DeployError {
        if let Ok(placed) = forward.placed {
            placed.restore().iter().for_each(|w| self.settings.note(w));
        }
        let launched = Launched {
            starts: forward.starts.launched,
            stops: forward.stops.launched,
        };
        match self.undo(plan, &launched, &reason, || Ok(old_profile)) {
            Ok(failed) => DeployError::RolledBack { reason, failed },
            Err(e) => e,
        }
    }

    /// Undoes the `launched` steps of `plan` after journalling `reason`: stops what was
    /// started (new scripts), then starts what was stopped (old scripts). It goes on past
    /// failures (journal writes included) and returns the outcome of both phases.
    fn roll_back(&mut self, plan: &Plan, launched: &Launched, reason: &str) -> [Outcome; 2] {
        let _ = self.journal.append(&Record::RollbackBegin {
            reason: reason.to_string(),
        });
        let starts: BTreeSet<String> = launched.starts.iter().cloned().collect();
        let stops: BTreeSet<String> = launched.stops.iter().cloned().collect();
        [
            self.phase(Stage::UndoStarts, &inverse(&plan.starts, &starts)),
            self.phase(Stage::UndoStops, &inverse(&plan.stops, &stops)),
        ]
    }

    /// The end of a failed switch and of the recovery of an interrupted one: rolls back
    /// (see [`Run::roll_back`]), releases the accounts the old profile (read by
    /// `old_profile` once the processes are back) does not use, and ends the journal as
    /// rolled back, or incomplete when a rollback step failed. Returns those steps.
    pub(super) fn undo(
        mut self,
        plan: &Plan,
        launched: &Launched,
        reason: &str,
        old_profile: impl FnOnce() -> Result<Profile>,
    ) -> Result<Vec<(String, String)>> {
        let outcome = self.roll_back(plan, launched, reason);
        self.settings.prune_accounts(&old_profile()?);
        let failed: Vec<(String, String)> = outcome
            .iter()
            .flat_map(|o| o.failed.iter().cloned())
            .collect();
        self.journal.finish(if failed.is_empty() {
            journal::SwitchEnd::RolledBack
        } else {
            journal::SwitchEnd::RollbackIncomplete
        })?;
        Ok(failed)
    }
}

/// Steps undoing `steps` restricted to `names`: the opposite action, the same scripts,
/// and the reverse order.
fn inverse(steps: &[Step], names: &BTreeSet<String>) -> Vec<Step> {
    let chosen: Vec<&Step> = steps.iter().filter(|s| names.contains(&s.name)).collect();
    chosen
        .iter()
        .rev()
        .map(|s| Step {
            name: s.name.clone(),
            action: match s.action {
                Action::Start => Action::Stop,
                Action::Stop => Action::Start,
            },
            script: s.script.clone(),
            after: chosen
                .iter()
                .filter(|t| t.after.contains(&s.name))
                .map(|t| t.name.clone())
                .collect(),
            reason: s.reason,
        })
        .collect()
}
