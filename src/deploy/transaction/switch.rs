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

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::journal::{self, Commit, Journal, Lock, Phase, Record, Wait};
use super::plan::{Action, Plan, Step};
use super::progress::Progress;
use crate::deploy::accounts;
use crate::deploy::model::nix::NixOptions;
use crate::deploy::profile::generations;
use crate::deploy::profile::Profile;
use crate::deploy::scripts::execute::{self, Event, Outcome};
use crate::deploy::scripts::spawn;
use crate::deploy::secrets;
use crate::deploy::{DeployError, Result};
use crate::protocol::{SwitchResult, PROTOCOL};
use crate::tree::layout;

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

/// Refuses a profile that has init.d scripts but no start links for the runlevel:
/// deploying it would silently stop every process.
pub fn check_runlevel(path: &Path, profile: &Profile) -> Result<()> {
    if !profile.processes.is_empty() {
        return Ok(());
    }
    let scripts = std::fs::read_dir(path.join(layout::INIT_D_DIR))
        .map(|d| d.flatten().count())
        .unwrap_or(0);
    if scripts == 0 {
        return Ok(());
    }
    let with_links: Vec<String> = (0..=6u8)
        .filter(|r| {
            std::fs::read_dir(path.join(layout::runlevel_path(*r)))
                .map(|d| {
                    d.flatten().any(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .starts_with(layout::START_LINK)
                    })
                })
                .unwrap_or(false)
        })
        .map(|r| r.to_string())
        .collect();
    let found = if with_links.is_empty() {
        "no runlevel has any".to_string()
    } else {
        format!("runlevel(s) {} have some", with_links.join(", "))
    };
    Err(DeployError::Profile {
        path: path.to_path_buf(),
        message: format!(
            "{scripts} init.d script(s) but no start links for runlevel {} ({found}); \
             deploying it would stop every process. Give --runlevel N for the runlevel its \
             links are for, or --undeploy to stop everything on purpose",
            profile.runlevel
        ),
    })
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
    Ok(planned(settings, old, new)?.plan)
}

/// The plan of [`plan`] as a Graphviz DOT graph (see [`Plan::to_dot`]).
pub fn plan_graph(settings: &Settings, old: Option<&Path>, new: &Path) -> Result<String> {
    let planned = planned(settings, old, new)?;
    Ok(planned.plan.to_dot(&planned.old, &planned.new))
}

/// What a switch knows before it changes anything.
struct Planned {
    /// The profile deployed now (or the one given as old).
    old: Profile,
    /// The profile switched to.
    new: Profile,
    /// The steps between them.
    plan: Plan,
    /// The secrets of `new`, with their contents.
    secrets: Vec<secrets::Wanted>,
}

/// The old profile (`old`, else the deployed one), the new one, the plan between and
/// the new one's secrets. Every check that can fail a switch before it changes anything
/// is here: the runlevel, the users, the accounts, the secrets.
fn planned(settings: &Settings, old: Option<&Path>, new: &Path) -> Result<Planned> {
    let current = generations::current(&settings.profile)?;
    let old = old.map(Path::to_path_buf).or(current);
    let old = read_profile(old.as_deref(), settings.runlevel)?;
    let new_profile = Profile::read(new, settings.runlevel)?;
    check_runlevel(new, &new_profile)?;
    new_profile.check_users(|user| accounts::exists("passwd", user))?;
    accounts::check(
        &new_profile,
        &settings.accounts(),
        settings.force_disable_user_change,
    )?;
    let wanted = secrets::gather(&new_profile, settings.secrets)?;
    secrets::check_accounts(&wanted, &new_profile)?;
    let restart = secrets::needing_restart(&wanted);
    let plan = Plan::diff_restarting(&old, &new_profile, &restart)?;
    Ok(Planned {
        old,
        new: new_profile,
        plan,
        secrets: wanted,
    })
}

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

/// What the forward phases of a switch did (see [`Run::forward`]).
struct Forward {
    /// The stops' outcome.
    stops: Outcome,
    /// The secrets placed (with what they replaced), or why they could not be.
    placed: std::result::Result<secrets::Placed, String>,
    /// The starts' outcome: nothing launched when the secrets could not be placed or
    /// the journal broke.
    starts: Outcome,
}

/// The reason of a rollback caused by a journal write that failed with `why`.
fn journal_failure(why: &str) -> String {
    format!("the switch journal could not be written ({why}); nothing more was started")
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
    fn note(&self, message: &str) {
        if !self.quiet && !self.json {
            eprintln!("{message}");
        }
    }

    /// The account registry, with this profile link as the owner.
    fn accounts(&self) -> accounts::AccountStore {
        accounts::AccountStore {
            dir: self.accounts_dir.clone(),
            owner: self.profile.to_string_lossy().into_owned(),
        }
    }

    /// Creates the accounts `profile` needs (see [`accounts::ensure`]).
    fn ensure_accounts(&self, profile: &Profile) -> Result<accounts::Accounts> {
        Ok(accounts::ensure(
            profile,
            &self.accounts(),
            self.force_disable_user_change,
        )?)
    }

    /// Releases the accounts `keep` no longer mentions (see [`accounts::prune`]); never
    /// fails (troubles are warnings).
    fn prune_accounts(&self, keep: &Profile) -> accounts::Accounts {
        accounts::prune(keep, &self.accounts(), self.force_disable_user_change)
    }
}

/// The generation `commit` moves the profile to, and its store path; changes nothing.
fn commit_generation(settings: &Settings, commit: &Commit) -> Result<(u64, PathBuf)> {
    match commit {
        Commit::Set { path } => Ok((
            generations::generation_for(&settings.profile, path)?,
            path.clone(),
        )),
        Commit::SwitchGeneration { generation } => {
            let link = generations::generation_link(&settings.profile, *generation);
            let target =
                std::fs::canonicalize(&link).map_err(|e| DeployError::io("resolving", &link, e))?;
            Ok((*generation, target))
        }
    }
}

/// Makes generation `n` hold `target` (if it does not yet) and points the profile to it.
fn move_profile(settings: &Settings, n: u64, target: &Path) -> Result<()> {
    let options: &NixOptions = &settings.nix_options;
    generations::make_generation(&settings.profile, n, target, options)?;
    generations::point_to(&settings.profile, n)
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

/// One of the phases a switch runs: how progress shows it, the journal's phase, and
/// whether a failure launches nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
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

/// The forward steps a switch launched, which its rollback undoes.
#[derive(Debug, Clone, Default)]
struct Launched {
    /// Starts launched, in launch order.
    starts: Vec<String>,
    /// Stops launched, in launch order.
    stops: Vec<String>,
}

/// A switch (or recovery) under way: its settings, its journal and its progress display.
struct Run<'a> {
    settings: &'a Settings,
    journal: Journal,
    progress: Progress,
}

impl<'a> Run<'a> {
    /// A run writing to `journal`, showing progress as `settings` say.
    fn new(settings: &'a Settings, journal: Journal) -> Run<'a> {
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
    fn phase(&mut self, stage: Stage, steps: &[Step]) -> Outcome {
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
    fn forward(&mut self, plan: &Plan, wanted: &[secrets::Wanted]) -> Forward {
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
    fn forward_failure_or_commit(&mut self, forward: &Forward, commit: &Commit) -> Option<String> {
        match &forward.placed {
            Err(why) => Some(format!("the secrets could not be placed: {why}")),
            Ok(_) => self
                .forward_failure(&forward.starts)
                .or_else(|| self.commit(commit)),
        }
    }

    /// Undoes a switch whose forward phases failed for `reason`: puts back what the
    /// placed secrets replaced, rolls back the steps `forward` launched (see
    /// [`Run::undo`]) and returns the error that says so.
    fn undo_forward(
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
    fn undo(
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
    name: String,
    action: Action,
    phase: Phase,
    pid: u32,
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
