//! The parallel executor: runs the steps of one phase, each as soon as the steps it comes
//! after are finished, with at most `jobs` scripts at once.
//!
//! A start is "up" when the script's `start` exited 0: scripts wait for their process's
//! readiness themselves. Script output goes to a log file per step (a pipe would be held
//! open by the daemons the script leaves behind); on failure its tail is reported.
//!
//! A script runs only once its launch is recorded: [`spawn`](super::spawn) starts it behind a gate
//! (the child waits before it execs the script), its pid is reported with
//! [`Event::Launched`], and only then is the gate opened. When the tool dies before that,
//! the gate closes and the script never runs, so a journal can never miss a script that
//! ran.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::spawn::{spawn_script, wait_script};
use super::step::Step;

/// Something that happened while running a phase, reported in order on the calling thread.
#[derive(Debug)]
pub enum Event<'a> {
    /// The step's script is about to run.
    Launched {
        /// The step.
        step: &'a Step,
        /// The script's pid, `None` when it could not be started.
        pid: Option<u32>,
    },
    /// The step's script finished.
    Finished {
        /// The step.
        step: &'a Step,
        /// Whether it exited 0.
        ok: bool,
        /// Exit status description ("exit 1", "signal 9", or the spawn error).
        status: String,
        /// How long it ran.
        elapsed: Duration,
        /// Its output file.
        log: PathBuf,
    },
    /// Nothing finished for a while (lets a display refresh its clocks).
    Tick,
}

/// What happened to the steps of a phase.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// Steps whose script was run (finished or not), in launch order.
    pub launched: Vec<String>,
    /// Steps that exited 0.
    pub succeeded: Vec<String>,
    /// Steps that failed, with the status and the tail of their output.
    pub failed: Vec<(String, String)>,
}

impl Outcome {
    /// Whether every step succeeded.
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
    }
}

/// How to run a phase.
#[derive(Debug, Clone)]
pub struct Options {
    /// Most scripts running at once (at least 1).
    pub jobs: usize,
    /// Where the per-step output files go; `None` discards the output (when the disk
    /// that holds the logs is full).
    pub log_dir: Option<PathBuf>,
    /// Stop launching new steps after the first failure (starts); otherwise go on,
    /// treating a failed step as finished (stops, rollbacks).
    pub stop_on_failure: bool,
    /// Kill a script (TERM, then KILL after 5 s) that runs longer than this; it then
    /// counts as failed. `None`: wait as long as it takes.
    pub timeout: Option<Duration>,
}

/// Runs `steps` (one phase) and reports every launch and finish to `on_event`. When
/// `on_event` returns false, nothing more is launched; for a [`Event::Launched`], the
/// step it reports is cancelled before its script runs (it then counts as neither
/// launched nor failed).
pub fn run(steps: &[Step], opts: &Options, on_event: &mut dyn FnMut(&Event) -> bool) -> Outcome {
    let mut phase = PhaseRun::new(steps, opts);
    let (tx, rx) = mpsc::channel::<Done>();
    if let Some(dir) = &opts.log_dir {
        let _ = std::fs::create_dir_all(dir);
    }

    loop {
        phase.launch_ready(&tx, on_event);
        if phase.running == 0 {
            break;
        }
        let done = match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(done) => done,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                phase.aborted |= !on_event(&Event::Tick);
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        phase.finished(done, on_event);
    }
    phase.outcome
}

/// A phase under way (see [`run`]): its steps, what became of them so far, and
/// whether more may be launched.
struct PhaseRun<'a> {
    /// The phase's steps.
    steps: &'a [Step],
    /// How to run them.
    opts: &'a Options,
    /// Which steps may run next.
    schedule: Schedule<'a>,
    /// What happened to the steps so far.
    outcome: Outcome,
    /// How many scripts are running now.
    running: usize,
    /// Whether a step failed.
    failed: bool,
    /// Whether `on_event` said to launch nothing more.
    aborted: bool,
}

impl<'a> PhaseRun<'a> {
    /// A phase of `steps` with nothing launched yet.
    fn new(steps: &'a [Step], opts: &'a Options) -> PhaseRun<'a> {
        PhaseRun {
            steps,
            opts,
            schedule: Schedule::new(steps),
            outcome: Outcome::default(),
            running: 0,
            failed: false,
            aborted: false,
        }
    }

    /// Launches ready steps while fewer than `jobs` scripts run, unless the phase was
    /// aborted or stops after the failure it had.
    fn launch_ready(&mut self, tx: &mpsc::Sender<Done>, on_event: &mut dyn FnMut(&Event) -> bool) {
        let jobs = self.opts.jobs.max(1);
        while self.running < jobs && !self.aborted && !(self.failed && self.opts.stop_on_failure) {
            let Some(i) = self.schedule.next() else { break };
            if launch(self.steps, i, self.opts, tx, on_event) {
                self.outcome.launched.push(self.steps[i].name.clone());
                self.running += 1;
            } else {
                self.aborted = true;
            }
        }
    }

    /// Records a finished script: reports it to `on_event`, counts it as succeeded or
    /// failed (with the tail of its output) and, unless it failed in a phase that stops
    /// on failure, lets the steps after it run.
    fn finished(&mut self, done: Done, on_event: &mut dyn FnMut(&Event) -> bool) {
        self.running -= 1;
        let steps = self.steps;
        let step = &steps[done.index];
        let log = log_path(self.opts.log_dir.as_deref(), step);
        self.aborted |= !on_event(&Event::Finished {
            step,
            ok: done.ok,
            status: done.status.clone(),
            elapsed: done.elapsed,
            log: log.clone(),
        });
        if done.ok {
            self.outcome.succeeded.push(step.name.clone());
        } else {
            self.failed = true;
            self.outcome
                .failed
                .push((step.name.clone(), failure_detail(done.status, &log)));
        }
        if done.ok || !self.opts.stop_on_failure {
            self.schedule.finished(&step.name);
        }
    }
}

/// A finished script, as its waiting thread reports it.
struct Done {
    /// The step's index in the phase.
    index: usize,
    /// Whether it exited 0.
    ok: bool,
    /// Its status description.
    status: String,
    /// How long it ran.
    elapsed: Duration,
}

/// Which steps of a phase may run: each once the steps it comes after (those of the
/// same phase) are finished, in plan order among those ready.
struct Schedule<'a> {
    /// Remaining prerequisites per step.
    waiting: Vec<usize>,
    /// The steps that come after each step, by name.
    dependants: BTreeMap<&'a str, Vec<usize>>,
    /// Steps ready to run, the next one last.
    ready: Vec<usize>,
}

impl<'a> Schedule<'a> {
    /// The schedule of `steps`; the steps without prerequisites are ready.
    fn new(steps: &'a [Step]) -> Schedule<'a> {
        let names: BTreeSet<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        let mut waiting = Vec::with_capacity(steps.len());
        let mut dependants: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, s) in steps.iter().enumerate() {
            let pre = s
                .after
                .iter()
                .map(String::as_str)
                .filter(|a| names.contains(a));
            let mut count = 0;
            for a in pre {
                dependants.entry(a).or_default().push(i);
                count += 1;
            }
            waiting.push(count);
        }
        // pop() takes them in plan order
        let ready = (0..steps.len())
            .rev()
            .filter(|&i| waiting[i] == 0)
            .collect();
        Schedule {
            waiting,
            dependants,
            ready,
        }
    }

    /// The next step to run, if one is ready.
    fn next(&mut self) -> Option<usize> {
        self.ready.pop()
    }

    /// Counts step `name` as finished: the steps that waited only for it become ready.
    fn finished(&mut self, name: &str) {
        for &d in self.dependants.get(name).map(Vec::as_slice).unwrap_or(&[]) {
            self.waiting[d] -= 1;
            if self.waiting[d] == 0 {
                // Keep plan order among the ready steps.
                let pos = self
                    .ready
                    .iter()
                    .position(|&r| r < d)
                    .unwrap_or(self.ready.len());
                self.ready.insert(pos, d);
            }
        }
    }
}

/// Launches step `i` of `steps`: spawns its script behind the gate, reports the launch,
/// and opens the gate unless `on_event` says no (then the script exits without running
/// and this returns false). The script's end is sent to `tx`.
fn launch(
    steps: &[Step],
    i: usize,
    opts: &Options,
    tx: &mpsc::Sender<Done>,
    on_event: &mut dyn FnMut(&Event) -> bool,
) -> bool {
    let step = &steps[i];
    let log = log_path(opts.log_dir.as_deref(), step);
    let started = Instant::now();
    let spawned = spawn_script(&step.script, step.action.as_str(), &log);
    let go = on_event(&Event::Launched {
        step,
        pid: spawned.as_ref().ok().map(|(c, _)| c.id()),
    });
    let tx = tx.clone();
    let done = move |ok, status| Done {
        index: i,
        ok,
        status,
        elapsed: started.elapsed(),
    };
    match spawned {
        Ok((mut child, gate)) if !go => {
            // Closing the gate unopened: the script exits without running.
            drop(gate);
            let _ = child.wait();
        }
        Ok((mut child, gate)) => {
            gate.open();
            let timeout = opts.timeout;
            std::thread::spawn(move || {
                let (ok, status) = wait_script(&mut child, timeout);
                let _ = tx.send(done(ok, status));
            });
        }
        Err(message) if go => {
            let _ = tx.send(done(false, message));
        }
        Err(_) => {}
    }
    go
}

/// What a failed step reports: its status, and the tail of its output if there is any.
fn failure_detail(status: String, log: &Path) -> String {
    let tail = tail_of(log, 2000);
    if tail.trim().is_empty() {
        status
    } else {
        format!("{status}; output:\n{}", tail.trim_end())
    }
}

/// The output file of a step: `DIR/NAME.ACTION.log`, or `/dev/null` without a log
/// directory.
fn log_path(dir: Option<&Path>, step: &Step) -> PathBuf {
    match dir {
        Some(dir) => dir.join(format!("{}.{}.log", step.name, step.action.as_str())),
        None => PathBuf::from("/dev/null"),
    }
}

/// The last `max` bytes of a file (empty when it cannot be read).
fn tail_of(path: &Path, max: u64) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(max)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}
