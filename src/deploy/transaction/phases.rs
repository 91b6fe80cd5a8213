//! The forward run of a switch: the phases that run steps (journalled, with progress),
//! the stops, the secrets, the starts, and the profile move that commits it.

use super::journal::{Commit, Journal, Phase, Record};
use super::plan::{Plan, Step};
use super::profile_move::{commit_generation, move_profile};
use super::progress::Progress;
use super::settings::Settings;
use crate::deploy::scripts::execute::{self, Event, Outcome};
use crate::deploy::scripts::spawn;
use crate::deploy::secrets;
use crate::deploy::DeployError;

/// One of the phases a switch runs: how progress shows it, the journal's phase, and
/// whether a failure launches nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// The plan's stops (a failure is reported, not fatal).
    Stops,
    /// The plan's starts: after a failure nothing more is launched.
    Starts,
    /// Rollback: stopping, with the new scripts, what the switch started.
    UndoStarts,
    /// Rollback: starting again, with the old scripts, what the switch stopped.
    UndoStops,
}

impl Stage {
    /// The progress display's name for it.
    fn label(self) -> &'static str {
        match self {
            Stage::Stops => "stopping",
            Stage::Starts => "starting",
            Stage::UndoStarts => "rollback: stopping",
            Stage::UndoStops => "rollback: restarting",
        }
    }

    /// Which steps of the journal it runs.
    fn phase(self) -> Phase {
        match self {
            Stage::Stops | Stage::Starts => Phase::Forward,
            Stage::UndoStarts | Stage::UndoStops => Phase::Rollback,
        }
    }
}

/// A switch (or recovery) under way: its settings, its journal and its progress display.
pub(super) struct Run<'a> {
    /// The switch's settings.
    pub(super) settings: &'a Settings,
    /// The switch's journal.
    pub(super) journal: Journal,
    /// The progress display.
    pub(super) progress: Progress,
}

impl<'a> Run<'a> {
    /// A run writing to `journal`, showing progress as `settings` say.
    pub(super) fn new(settings: &'a Settings, journal: Journal) -> Run<'a> {
        Run {
            settings,
            journal,
            progress: Progress::new(settings.json, settings.quiet),
        }
    }

    /// Runs the steps of `stage`, journalling every launch and finish and showing
    /// progress. In a forward stage a journal write that fails launches nothing more
    /// (the step whose launch could not be recorded never runs); a rollback goes on
    /// regardless. Once the journal is broken the steps' output is discarded: the disk
    /// that holds the logs is likely full too.
    pub(super) fn phase(&mut self, stage: Stage, steps: &[Step]) -> Outcome {
        let Run {
            settings,
            journal,
            progress,
        } = self;
        progress.phase(stage.label(), steps.len());
        // What a rollback's stops found (and killed) is shown: nothing is left unsaid.
        progress.echo_output(stage == Stage::UndoStarts);
        let opts = execute::Options {
            jobs: settings.jobs,
            log_dir: journal
                .broken()
                .is_none()
                .then(|| settings.state_dir.join("logs")),
            stop_on_failure: stage == Stage::Starts,
            timeout: settings.timeout,
        };
        let phase = stage.phase();
        let outcome = execute::run(steps, &opts, &mut |ev: &Event| {
            let Some(record) = step_record(ev, phase) else {
                progress.event(ev);
                return true;
            };
            let written = journal.append(&record).is_ok();
            let go_on = written || phase == Phase::Rollback;
            if go_on {
                progress.event(ev);
            }
            go_on
        });
        // The phase's step records, in one fsync (see journal.rs).
        let _ = journal.sync();
        progress.finish();
        outcome
    }

    /// Runs the forward phases of `plan`: the stops; then, unless the journal broke, the
    /// secrets `wanted` go in place (once their processes stopped, before any start);
    /// then, unless the journal broke or the secrets could not be placed, the starts.
    pub(super) fn forward(&mut self, plan: &Plan, wanted: &[secrets::Wanted]) -> Forward {
        let stops = self.phase(Stage::Stops, &plan.stops);
        let placed = match self.journal.broken() {
            None => secrets::place(wanted).map_err(|e| e.to_string()),
            Some(_) => Ok(secrets::Placed::default()),
        };
        let starts = match &placed {
            Ok(_) if self.journal.broken().is_none() => self.phase(Stage::Starts, &plan.starts),
            _ => Outcome::default(),
        };
        Forward {
            stops,
            placed,
            starts,
        }
    }

    /// Why `forward` calls for a rollback: secrets not placed, a broken journal or a
    /// failed start (see [`Run::forward_failure`]). Without any, the profile moves as
    /// `commit` says (the move journalled first), and a move that fails is the reason.
    pub(super) fn forward_failure_or_commit(
        &mut self,
        forward: &Forward,
        commit: &Commit,
    ) -> Option<String> {
        match &forward.placed {
            Err(why) => Some(format!("the secrets could not be placed: {why}")),
            Ok(_) => self
                .forward_failure(&forward.starts)
                .or_else(|| self.commit(commit)),
        }
    }

    /// Why the forward phases call for a rollback, given the starts' outcome: a journal
    /// that could not be written, or the first start that failed.
    fn forward_failure(&self, starts: &Outcome) -> Option<String> {
        match self.journal.broken() {
            Some(why) => Some(journal_failure(why)),
            None => starts
                .failed
                .first()
                .map(|(name, detail)| format!("start of `{name}` failed: {detail}")),
        }
    }

    /// Moves the profile as `commit` says: makes the generation, journals
    /// `profile-moving`, then renames the link. Returns why it failed, if it did.
    fn commit(&mut self, commit: &Commit) -> Option<String> {
        let not_moved = |e: DeployError| format!("the profile could not be moved: {e}");
        let (generation, target) = match commit_generation(self.settings, commit) {
            Ok(found) => found,
            Err(e) => return Some(not_moved(e)),
        };
        let moving = Record::ProfileMoving {
            generation,
            target: target.clone(),
        };
        if let Err(e) = self.journal.append(&moving) {
            return Some(journal_failure(&e.to_string()));
        }
        move_profile(self.settings, generation, &target)
            .err()
            .map(not_moved)
    }
}

/// What the forward phases of a switch did (see [`Run::forward`]).
pub(super) struct Forward {
    /// The stops' outcome.
    pub(super) stops: Outcome,
    /// The secrets placed (with what they replaced), or why they could not be.
    pub(super) placed: std::result::Result<secrets::Placed, String>,
    /// The starts' outcome: nothing launched when the secrets could not be placed or
    /// the journal broke.
    pub(super) starts: Outcome,
}

/// The reason of a rollback caused by a journal write that failed with `why`.
fn journal_failure(why: &str) -> String {
    format!("the switch journal could not be written ({why}); nothing more was started")
}

/// The journal record of an executor event in `phase` (`None` for a tick).
fn step_record(ev: &Event, phase: Phase) -> Option<Record> {
    match ev {
        Event::Tick => None,
        Event::Launched { step, pid } => Some(Record::Launched {
            phase,
            action: step.action,
            name: step.name.clone(),
            pid: *pid,
            start_time: pid.and_then(spawn::process_start_time),
        }),
        Event::Finished { step, ok, .. } => Some(Record::Finished {
            phase,
            action: step.action,
            name: step.name.clone(),
            ok: *ok,
        }),
    }
}
