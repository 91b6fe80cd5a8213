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

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::execute::{self, Event, Outcome, Progress};
use super::generations;
use super::journal::{Commit, Journal, Lock, Record};
use super::plan::{Action, Plan, Step};
use super::profile::Profile;
use super::users;
use super::{DeployError, Result};

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
    /// Directory of the account registry shared by profiles (see [`users::AccountStore`]).
    pub accounts_dir: PathBuf,
    /// Longest a script may run before it is killed and counts as failed.
    pub timeout: Option<std::time::Duration>,
}

/// What a successful switch did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The plan carried out.
    pub plan: Plan,
    /// Stops that failed (reported, not fatal).
    pub failed_stops: Vec<(String, String)>,
    /// Accounts created.
    pub created: users::Accounts,
    /// Accounts removed.
    pub removed: users::Accounts,
    /// What recovery of an interrupted earlier switch did, if anything.
    pub recovered: Option<String>,
}

/// Reads a profile directory, or the empty profile for `None`.
pub fn read_profile(path: Option<&Path>, runlevel: u8) -> Result<Profile> {
    match path {
        Some(p) => Profile::read(p, runlevel),
        None => Ok(Profile::empty(runlevel)),
    }
}

/// The plan a switch from the deployed profile (or `old`) to `new` would carry out.
pub fn plan(settings: &Settings, old: Option<&Path>, new: &Path) -> Result<Plan> {
    let current = generations::current(&settings.profile)?;
    let old = old.map(Path::to_path_buf).or(current);
    let old = read_profile(old.as_deref(), settings.runlevel)?;
    let new = Profile::read(new, settings.runlevel)?;
    Plan::diff(&old, &new)
}

/// Switches from the deployed profile (or `old`) to the profile directory `new` and
/// moves the Nix profile with `commit`. Fails, after rolling back, when a start fails.
pub fn switch(
    settings: &Settings,
    old: Option<&Path>,
    new: &Path,
    commit: Commit,
) -> Result<Summary> {
    let _lock = Lock::acquire(&settings.state_dir)?;
    let recovered = recover(settings)?;
    let current = generations::current(&settings.profile)?;
    let old_path = old.map(Path::to_path_buf).or(current);
    let old_profile = read_profile(old_path.as_deref(), settings.runlevel)?;
    let new_profile = Profile::read(new, settings.runlevel)?;
    let plan = Plan::diff(&old_profile, &new_profile)?;
    let mut journal = Journal::create(
        &settings.state_dir,
        &Record::Begin {
            pid: std::process::id(),
            profile: settings.profile.clone(),
            old: old_path.clone(),
            new: Some(new.to_path_buf()),
            runlevel: settings.runlevel,
            commit: commit.clone(),
            plan: plan.clone(),
        },
    )?;
    let mut progress = Progress::new(settings.json, settings.quiet);
    let mut summary = Summary {
        plan: plan.clone(),
        recovered,
        ..Summary::default()
    };

    summary.created = match settings.ensure_accounts(&new_profile) {
        Ok(c) => c,
        Err(e) => {
            journal.append(&Record::RollbackBegin {
                reason: e.to_string(),
            })?;
            let _ = settings.prune_accounts(&old_profile);
            journal.finish("rolled-back")?;
            return Err(e);
        }
    };

    let stops = run_phase(
        settings,
        &mut journal,
        &mut progress,
        "stopping",
        FORWARD,
        &plan.stops,
        false,
    )?;
    summary.failed_stops = stops.failed.clone();
    let starts = run_phase(
        settings,
        &mut journal,
        &mut progress,
        "starting",
        FORWARD,
        &plan.starts,
        true,
    )?;
    if !starts.ok() {
        let (name, detail) = starts.failed[0].clone();
        let reason = format!("start of `{name}` failed: {detail}");
        journal.append(&Record::RollbackBegin {
            reason: reason.clone(),
        })?;
        let outcome = rollback(
            settings,
            &mut journal,
            &mut progress,
            &plan,
            &starts.launched,
            &stops.launched,
        )?;
        let _ = settings.prune_accounts(&old_profile);
        let clean = finish_rollback(journal, &outcome)?;
        let mut msg = format!("{reason}\nrolled back: the previous deployment is running again and the profile is unchanged");
        if !clean {
            msg.push_str("\nwarning: some rollback steps failed:");
            for (n, d) in outcome.iter().flat_map(|o| o.failed.iter()) {
                msg.push_str(&format!("\n  {n}: {d}"));
            }
        }
        return Err(DeployError::Other(msg));
    }

    apply_commit(&settings.profile, &commit)?;
    journal.append(&Record::ProfileMoved)?;
    summary.removed = settings.prune_accounts(&new_profile)?;
    journal.finish("committed")?;
    Ok(summary)
}

impl Settings {
    /// The account registry, with this profile link as the owner.
    fn accounts(&self) -> users::AccountStore {
        users::AccountStore {
            dir: self.accounts_dir.clone(),
            owner: self.profile.to_string_lossy().into_owned(),
        }
    }

    /// Creates the accounts `profile` needs (see [`users::ensure`]).
    fn ensure_accounts(&self, profile: &Profile) -> Result<users::Accounts> {
        users::ensure(profile, &self.accounts(), self.force_disable_user_change)
    }

    /// Releases the accounts `keep` no longer mentions (see [`users::prune`]).
    fn prune_accounts(&self, keep: &Profile) -> Result<users::Accounts> {
        users::prune(keep, &self.accounts(), self.force_disable_user_change)
    }
}

/// The journal phase of the steps a switch was asked for.
const FORWARD: &str = "forward";
/// The journal phase of the steps undoing them.
const ROLLBACK: &str = "rollback";

/// Ends the journal of a rollback whose phases had `outcome`; returns whether every
/// step of it succeeded.
fn finish_rollback(journal: Journal, outcome: &[Outcome]) -> Result<bool> {
    let clean = outcome.iter().all(Outcome::ok);
    journal.finish(if clean {
        "rolled-back"
    } else {
        "rollback-incomplete"
    })?;
    Ok(clean)
}

/// Moves the Nix profile as `commit` says.
fn apply_commit(profile: &Path, commit: &Commit) -> Result<()> {
    match commit {
        Commit::Set { path } => generations::set(profile, path),
        Commit::SwitchGeneration { generation } => {
            generations::switch_generation(profile, *generation)
        }
    }
}

/// The store path `commit` moves the profile to (`None` for a generation whose link is
/// gone).
fn commit_target(profile: &Path, commit: &Commit) -> Result<Option<PathBuf>> {
    match commit {
        Commit::Set { path } => Ok(Some(path.clone())),
        Commit::SwitchGeneration { generation } => {
            Ok(std::fs::canonicalize(generations::generation_link(profile, *generation)).ok())
        }
    }
}

/// Runs one phase of steps, journalling every launch and finish under `phase`
/// (`forward` or `rollback`) and showing progress under `label`.
fn run_phase(
    settings: &Settings,
    journal: &mut Journal,
    progress: &mut Progress,
    label: &str,
    phase: &str,
    steps: &[Step],
    stop_on_failure: bool,
) -> Result<Outcome> {
    progress.phase(label, steps.len());
    let mut journal_error: Option<DeployError> = None;
    let opts = execute::Options {
        jobs: settings.jobs,
        log_dir: settings.state_dir.join("logs"),
        stop_on_failure,
        timeout: settings.timeout,
    };
    let outcome = execute::run(steps, &opts, &mut |ev: &Event| {
        let record = match ev {
            Event::Tick => {
                progress.event(ev);
                return;
            }
            Event::Launched { step, pid } => Record::Launched {
                phase: phase.to_string(),
                action: step.action,
                name: step.name.clone(),
                pid: *pid,
                start_time: pid.and_then(execute::process_start_time),
            },
            Event::Finished { step, ok, .. } => Record::Finished {
                phase: phase.to_string(),
                action: step.action,
                name: step.name.clone(),
                ok: *ok,
            },
        };
        if let Err(e) = journal.append(&record) {
            journal_error.get_or_insert(e);
        }
        progress.event(ev);
    });
    progress.finish();
    match journal_error {
        Some(e) => Err(e),
        None => Ok(outcome),
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

/// Undoes the launched steps of `plan`: stops what was started (new scripts), then
/// starts what was stopped (old scripts).
fn rollback(
    settings: &Settings,
    journal: &mut Journal,
    progress: &mut Progress,
    plan: &Plan,
    launched_starts: &[String],
    launched_stops: &[String],
) -> Result<Vec<Outcome>> {
    let starts: BTreeSet<String> = launched_starts.iter().cloned().collect();
    let stops: BTreeSet<String> = launched_stops.iter().cloned().collect();
    let undo_starts = inverse(&plan.starts, &starts);
    let undo_stops = inverse(&plan.stops, &stops);
    let a = run_phase(
        settings,
        journal,
        progress,
        "rollback: stopping",
        ROLLBACK,
        &undo_starts,
        false,
    )?;
    let b = run_phase(
        settings,
        journal,
        progress,
        "rollback: restarting",
        ROLLBACK,
        &undo_stops,
        false,
    )?;
    Ok(vec![a, b])
}

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
    let mut launched_starts = Vec::new();
    let mut launched_stops = Vec::new();
    let mut moved = false;
    // Scripts of the dead switch may still run: wait for them before undoing anything.
    let mut in_flight: Vec<(String, u32, Option<u64>)> = Vec::new();
    for r in &records {
        match r {
            Record::Launched {
                phase,
                action,
                name,
                pid,
                start_time,
            } => {
                if phase == FORWARD {
                    match action {
                        Action::Start => launched_starts.push(name.clone()),
                        Action::Stop => launched_stops.push(name.clone()),
                    }
                }
                if let Some(pid) = pid {
                    in_flight.push((step_label(name, *action, phase), *pid, *start_time));
                }
            }
            Record::Finished {
                name,
                action,
                phase,
                ..
            } => {
                let label = step_label(name, *action, phase);
                in_flight.retain(|(l, _, _)| *l != label);
            }
            Record::ProfileMoved => moved = true,
            _ => {}
        }
    }
    for (label, pid, start_time) in &in_flight {
        if execute::process_alive(*pid, *start_time) {
            if !settings.quiet && !settings.json {
                eprintln!(
                    "recovering: waiting for `{label}` (pid {pid}) of the interrupted switch"
                );
            }
            while execute::process_alive(*pid, *start_time) {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
    let target = commit_target(&profile, &commit)?;
    let current = generations::current(&profile)?;
    if !moved && current.is_some() && current == target && current != old {
        moved = true;
    }
    let mut journal = Journal::reopen(&settings.state_dir)?;
    let mut progress = Progress::new(settings.json, settings.quiet);
    if moved {
        let new_profile = read_profile(new.as_deref(), runlevel)?;
        settings.prune_accounts(&new_profile)?;
        journal.finish("committed")?;
        return Ok(Some(format!(
            "an interrupted switch (pid {pid}) had already moved the profile; finished it"
        )));
    }
    if !settings.quiet && !settings.json {
        eprintln!("recovering: a switch (pid {pid}) was interrupted; rolling it back");
    }
    let rs = Settings {
        runlevel,
        ..settings.clone()
    };
    journal.append(&Record::RollbackBegin {
        reason: format!("recovery of interrupted switch (pid {pid})"),
    })?;
    let outcome = rollback(
        &rs,
        &mut journal,
        &mut progress,
        &plan,
        &launched_starts,
        &launched_stops,
    )?;
    let old_profile = read_profile(old.as_deref(), runlevel)?;
    settings.prune_accounts(&old_profile)?;
    finish_rollback(journal, &outcome)?;
    let mut msg = format!(
        "rolled back an interrupted switch (pid {pid}): {} start(s) undone, {} stop(s) undone",
        launched_starts.len(),
        launched_stops.len()
    );
    for (n, d) in outcome.iter().flat_map(|o| o.failed.iter()) {
        msg.push_str(&format!("\n  warning: {n}: {d}"));
    }
    Ok(Some(msg))
}

/// How recovery names a journalled step: `NAME ACTION (PHASE)`.
fn step_label(name: &str, action: Action, phase: &str) -> String {
    format!("{name} {} ({phase})", action.as_str())
}
