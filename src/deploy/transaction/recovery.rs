//! The recovery of an interrupted switch: what its journal says it did, the scripts it
//! left running, and either finishing its profile move or rolling it back.

use std::path::{Path, PathBuf};

use super::journal::{self, Journal, Phase, Record};
use super::phases::Run;
use super::plan::Action;
use super::preflight::read_profile;
use super::profile_move::{commit_target, move_profile};
use super::rollback::Launched;
use super::settings::Settings;
use crate::deploy::profile::generations;
use crate::deploy::scripts::spawn;
use crate::deploy::Result;

/// Finishes an interrupted switch found in the state directory. The caller holds the
/// lock. Returns a description of what was done, `None` when there was nothing to do.
pub fn recover(settings: &Settings) -> Result<Option<String>> {
    let Some(records) = Journal::unfinished(&settings.state_dir)? else {
        return Ok(None);
    };
    let Some(Record::Begin {
        pid,
        profile,
        old,
        new,
        runlevel,
        commit,
        plan,
    }) = records.first().cloned()
    else {
        return Ok(None);
    };
    let found = Interrupted::read(&records);
    // Scripts of the dead switch may still run: wait for them before undoing anything.
    wait_for_scripts(settings, &found.in_flight);
    let target = commit_target(&profile, &commit)?;
    let current = generations::current(&profile)?;
    let mut moved = found.moved || (current.is_some() && current == target && current != old);
    // Every start had succeeded and the move was recorded but not made: make it.
    let mut completed_move = false;
    if let (false, Some((n, moving_target))) = (moved, &found.moving) {
        completed_move = finish_move(settings, &profile, *n, moving_target);
        moved = completed_move;
    }
    let run = Run::new(settings, Journal::reopen(&settings.state_dir)?);
    if moved {
        let new_profile = read_profile(new.as_deref(), runlevel)?;
        settings.prune_accounts(&new_profile);
        run.journal.finish(journal::SwitchEnd::Committed)?;
        return Ok(Some(if completed_move {
            format!("an interrupted switch (pid {pid}) had started everything; moved the profile and finished it")
        } else {
            format!("an interrupted switch (pid {pid}) had already moved the profile; finished it")
        }));
    }
    settings.note(&format!(
        "recovering: a switch (pid {pid}) was interrupted; rolling it back"
    ));
    let reason = format!("recovery of interrupted switch (pid {pid})");
    let failed = run.undo(&plan, &found.launched, &reason, || {
        read_profile(old.as_deref(), runlevel)
    })?;
    let mut msg = format!(
        "rolled back an interrupted switch (pid {pid}): {} start(s) undone, {} stop(s) undone",
        found.launched.starts.len(),
        found.launched.stops.len()
    );
    for (n, d) in failed {
        msg.push_str(&format!("\n  warning: {n}: {d}"));
    }
    Ok(Some(msg))
}

/// What the journal of an interrupted switch says it did.
#[derive(Debug, Default)]
struct Interrupted {
    /// The forward steps it launched.
    launched: Launched,
    /// Steps launched and not finished.
    in_flight: Vec<InFlight>,
    /// The profile move it journalled (generation and store path), unless a rollback
    /// followed: a move that failed is not to be finished.
    moving: Option<(u64, PathBuf)>,
    /// Whether it journalled the move as made.
    moved: bool,
}

impl Interrupted {
    /// Reads the journal's `records` in order.
    fn read(records: &[Record]) -> Interrupted {
        let mut found = Interrupted::default();
        for record in records {
            found.note(record);
        }
        found
    }

    /// Takes one record into account.
    fn note(&mut self, record: &Record) {
        match record {
            Record::Launched {
                phase,
                action,
                name,
                pid,
                start_time,
            } => {
                if *phase == Phase::Forward {
                    match action {
                        Action::Start => self.launched.starts.push(name.clone()),
                        Action::Stop => self.launched.stops.push(name.clone()),
                    }
                }
                if let Some(pid) = pid {
                    self.in_flight.push(InFlight {
                        name: name.clone(),
                        action: *action,
                        phase: *phase,
                        pid: *pid,
                        start_time: *start_time,
                    });
                }
            }
            Record::Finished {
                name,
                action,
                phase,
                ..
            } => {
                self.in_flight
                    .retain(|s| !(s.name == *name && s.action == *action && s.phase == *phase));
            }
            Record::ProfileMoving { generation, target } => {
                self.moving = Some((*generation, target.clone()));
            }
            Record::RollbackBegin { .. } => self.moving = None,
            Record::ProfileMoved => self.moved = true,
            _ => {}
        }
    }
}

/// A step's script that an interrupted switch launched and did not see finish.
#[derive(Debug)]
struct InFlight {
    /// The step's process name.
    name: String,
    /// The step's action.
    action: Action,
    /// The journal phase it ran in.
    phase: Phase,
    /// The script's process id.
    pid: u32,
    /// The process's start time, telling it from a later one with the same id.
    start_time: Option<u64>,
}

/// Waits for the scripts an interrupted switch left running.
fn wait_for_scripts(settings: &Settings, in_flight: &[InFlight]) {
    for step in in_flight {
        let (pid, start_time) = (step.pid, step.start_time);
        if !spawn::process_alive(pid, start_time) {
            continue;
        }
        settings.note(&format!(
            "recovering: waiting for `{} {} ({})` (pid {pid}) of the interrupted switch",
            step.name,
            step.action.as_str(),
            step.phase.as_str()
        ));
        while spawn::process_alive(pid, start_time) {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// Makes the move of `profile` to generation `n` (`target`) that an interrupted switch
/// journalled but did not make; whether it was made. When it cannot be, the switch is
/// undone instead, which converges as well.
fn finish_move(settings: &Settings, profile: &Path, n: u64, target: &Path) -> bool {
    let settings_here = Settings {
        profile: profile.to_path_buf(),
        ..settings.clone()
    };
    match move_profile(&settings_here, n, target) {
        Ok(()) => true,
        Err(e) => {
            settings.note(&format!(
                "recovering: cannot finish the profile move ({e}); rolling back"
            ));
            false
        }
    }
}
