//! The parallel executor: runs the steps of one phase, each as soon as the steps it comes
//! after are finished, with at most `jobs` scripts at once.
//!
//! A start is "up" when the script's `start` exited 0: scripts wait for their process's
//! readiness themselves. Script output goes to a log file per step (a pipe would be held
//! open by the daemons the script leaves behind); on failure its tail is reported.
//!
//! A script runs only once its launch is recorded: it is spawned behind a gate (a
//! `/bin/sh` waiting on a pipe), its pid is reported with [`Event::Launched`], and only
//! then is the gate opened. When the tool dies before that, the pipe closes and the
//! script never runs, so a journal can never miss a script that ran.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::plan::Step;

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
    let jobs = opts.jobs.max(1);
    let names: BTreeSet<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    // Remaining prerequisites per step (only those in this phase count).
    let mut waiting: BTreeMap<usize, usize> = BTreeMap::new();
    let mut dependants: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, s) in steps.iter().enumerate() {
        let pre: Vec<&str> = s
            .after
            .iter()
            .map(String::as_str)
            .filter(|a| names.contains(a))
            .collect();
        waiting.insert(i, pre.len());
        for a in pre {
            dependants.entry(a).or_default().push(i);
        }
    }
    let mut ready: Vec<usize> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(i, _)| *i)
        .collect();
    ready.reverse(); // pop() takes them in plan order
    let mut outcome = Outcome::default();
    let mut running = 0usize;
    let mut failed = false;
    let mut aborted = false;
    let (tx, rx) = mpsc::channel::<(usize, bool, String, Duration)>();
    if let Some(dir) = &opts.log_dir {
        let _ = std::fs::create_dir_all(dir);
    }

    loop {
        while running < jobs && !aborted && !(failed && opts.stop_on_failure) {
            let Some(i) = ready.pop() else { break };
            let step = &steps[i];
            let log = log_path(opts.log_dir.as_deref(), step);
            let started = Instant::now();
            let spawned = spawn_script(&step.script, step.action.as_str(), &log);
            let go = on_event(&Event::Launched {
                step,
                pid: spawned.as_ref().ok().map(|(c, _)| c.id()),
            });
            if !go {
                aborted = true;
                if let Ok((mut child, gate)) = spawned {
                    // Closing the gate unopened: the script exits without running.
                    drop(gate);
                    let _ = child.wait();
                }
                continue;
            }
            outcome.launched.push(step.name.clone());
            running += 1;
            let tx = tx.clone();
            match spawned {
                Ok((mut child, gate)) => {
                    gate.open();
                    let timeout = opts.timeout;
                    std::thread::spawn(move || {
                        let (ok, status) = wait_script(&mut child, timeout);
                        let _ = tx.send((i, ok, status, started.elapsed()));
                    });
                }
                Err(message) => {
                    let _ = tx.send((i, false, message, started.elapsed()));
                }
            }
        }
        if running == 0 {
            break;
        }
        let (i, ok, status, elapsed) = match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(m) => m,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if !on_event(&Event::Tick) {
                    aborted = true;
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        running -= 1;
        let step = &steps[i];
        let log = log_path(opts.log_dir.as_deref(), step);
        if !on_event(&Event::Finished {
            step,
            ok,
            status: status.clone(),
            elapsed,
            log: log.clone(),
        }) {
            aborted = true;
        }
        if ok {
            outcome.succeeded.push(step.name.clone());
        } else {
            failed = true;
            let tail = tail_of(&log, 2000);
            let detail = if tail.trim().is_empty() {
                status
            } else {
                format!("{status}; output:\n{}", tail.trim_end())
            };
            outcome.failed.push((step.name.clone(), detail));
        }
        if ok || !opts.stop_on_failure {
            for &d in dependants
                .get(step.name.as_str())
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                if let Some(n) = waiting.get_mut(&d) {
                    *n -= 1;
                    if *n == 0 {
                        // Keep plan order among the ready steps.
                        let pos = ready.iter().position(|&r| r < d).unwrap_or(ready.len());
                        ready.insert(pos, d);
                    }
                }
            }
        }
    }
    outcome
}

/// The output file of a step: `DIR/NAME.ACTION.log`, or `/dev/null` without a log
/// directory.
fn log_path(dir: Option<&Path>, step: &Step) -> PathBuf {
    match dir {
        Some(dir) => dir.join(format!("{}.{}.log", step.name, step.action.as_str())),
        None => PathBuf::from("/dev/null"),
    }
}

/// The write end of a spawned script's gate: [`Gate::open`] lets the script run;
/// dropping it unopened makes the script exit (status 125) without running.
#[derive(Debug)]
pub struct Gate {
    pipe: File,
}

impl Gate {
    /// Lets the script run.
    pub fn open(mut self) {
        let _ = self.pipe.write_all(b"go\n");
    }
}

/// What the gate's shell runs: wait for `go` on descriptor 3, close it, run the script.
const GATE_SCRIPT: &str =
    r#"read -r go <&3 && [ "$go" = go ] || exit 125; exec 3<&-; exec "$0" "$@""#;

/// Starts `SCRIPT ACTION` behind a gate (see [`Gate`]), with its output going to `log`
/// (a file created for it, or `/dev/null`).
pub fn spawn_script(script: &Path, action: &str, log: &Path) -> Result<(Child, Gate), String> {
    let out = if log == Path::new("/dev/null") {
        File::options().write(true).open(log)
    } else {
        File::create(log)
    }
    .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("cannot reopen {}: {e}", log.display()))?;
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the array we pass.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!(
            "cannot create a pipe: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (read_end, write_end) = unsafe {
        use std::os::fd::FromRawFd;
        (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1]))
    };
    let gate_fd = fds[0];
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(GATE_SCRIPT)
        .arg(script)
        .arg(action)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        // Its own process group: a Ctrl-C at the terminal does not reach the script or
        // the daemons it starts, and a timed-out script can be killed with what it
        // started.
        .process_group(0);
    // SAFETY: dup2 and fcntl are async-signal-safe and only touch descriptors.
    unsafe {
        cmd.pre_exec(move || {
            if gate_fd == 3 {
                let flags = libc::fcntl(3, libc::F_GETFD);
                if flags < 0 || libc::fcntl(3, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(gate_fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    drop(read_end);
    Ok((child, Gate { pipe: write_end }))
}

/// Waits for a script, killing it when it outlives `timeout`.
fn wait_script(child: &mut Child, timeout: Option<Duration>) -> (bool, String) {
    let result = |r: std::io::Result<std::process::ExitStatus>| match r {
        Ok(s) if s.success() => (true, "exit 0".to_string()),
        Ok(s) => (false, describe_status(s)),
        Err(e) => (false, format!("waiting for the script: {e}")),
    };
    let Some(limit) = timeout else {
        return result(child.wait());
    };
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return result(Ok(s)),
            Ok(None) => {}
            Err(e) => return result(Err(e)),
        }
        if started.elapsed() >= limit {
            // SAFETY: signalling the process group of our own child, which has not been
            // reaped yet (so its pid, the group id, cannot have been reused).
            unsafe {
                libc::kill(-(child.id() as i32), libc::SIGTERM);
            }
            let grace = Instant::now();
            while grace.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = child.try_wait() {
                    return (false, format!("timed out after {}s", limit.as_secs_f64()));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // SAFETY: as above.
            unsafe {
                libc::kill(-(child.id() as i32), libc::SIGKILL);
            }
            let _ = child.wait();
            return (
                false,
                format!("timed out after {}s (killed)", limit.as_secs_f64()),
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The start time of process `pid` (field 22 of `/proc/PID/stat`), to tell it apart
/// from a later process that reuses its pid.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether process `pid`, started at `start_time`, still runs (a zombie counts as gone).
pub fn process_alive(pid: u32, start_time: Option<u64>) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(close) = stat.rfind(')') else {
        return false;
    };
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    if fields.first() == Some(&"Z") {
        return false;
    }
    match start_time {
        Some(t) => fields.get(19).and_then(|f| f.parse::<u64>().ok()) == Some(t),
        None => true,
    }
}

/// "exit N" or "signal N".
pub fn describe_status(s: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "unknown status".into(),
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

/// Shows progress: on a terminal, one finished line per process plus a redrawn status
/// line of what is running; otherwise plain lines. With `json`, one JSON object per
/// event on stdout instead.
pub struct Progress {
    tty: bool,
    json: bool,
    quiet: bool,
    running: BTreeMap<String, Instant>,
    status_shown: bool,
    done: usize,
    total: usize,
}

impl Progress {
    /// A progress display writing to stderr (or JSON to stdout).
    pub fn new(json: bool, quiet: bool) -> Progress {
        Progress {
            tty: std::io::stderr().is_terminal() && !json,
            json,
            quiet,
            running: BTreeMap::new(),
            status_shown: false,
            done: 0,
            total: 0,
        }
    }

    /// Announces a phase of `total` steps.
    pub fn phase(&mut self, label: &str, total: usize) {
        self.done = 0;
        self.total = total;
        if total == 0 || self.quiet {
            return;
        }
        if self.json {
            println!(
                "{}",
                serde_json::json!({"event": "phase", "phase": label, "steps": total})
            );
        } else {
            self.clear_status();
            eprintln!("{label}: {total} step(s)");
        }
    }

    /// Reports one executor event.
    pub fn event(&mut self, ev: &Event) {
        if self.quiet {
            return;
        }
        match ev {
            Event::Launched { step, .. } => {
                self.running.insert(step.name.clone(), Instant::now());
                if self.json {
                    println!(
                        "{}",
                        serde_json::json!({"event": "launched", "name": step.name,
                            "action": step.action.as_str()})
                    );
                }
            }
            Event::Finished {
                step,
                ok,
                status,
                elapsed,
                ..
            } => {
                self.running.remove(&step.name);
                self.done += 1;
                if self.json {
                    println!(
                        "{}",
                        serde_json::json!({"event": "finished", "name": step.name,
                            "action": step.action.as_str(), "ok": ok, "status": status,
                            "seconds": elapsed.as_secs_f64()})
                    );
                    return;
                }
                self.clear_status();
                let state = if *ok {
                    "ok".to_string()
                } else {
                    format!("FAILED ({status})")
                };
                eprintln!(
                    "[{}/{}] {:<5} {:<30} {state} {:.2}s",
                    self.done,
                    self.total,
                    step.action.as_str(),
                    step.name,
                    elapsed.as_secs_f64()
                );
            }
            Event::Tick => {}
        }
        if self.tty {
            self.draw_status();
        }
    }

    /// Redraws the status line: what runs and for how long.
    fn draw_status(&mut self) {
        self.clear_status();
        if self.running.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut line = format!("  running ({}):", self.running.len());
        for (name, since) in &self.running {
            line.push_str(&format!(" {name} {:.1}s", (now - *since).as_secs_f64()));
            if line.len() > 150 {
                line.push_str(" …");
                break;
            }
        }
        let mut err = std::io::stderr();
        let _ = write!(err, "{line}");
        let _ = err.flush();
        self.status_shown = true;
    }

    /// Erases the status line, if one is shown.
    fn clear_status(&mut self) {
        if self.status_shown {
            let mut err = std::io::stderr();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.status_shown = false;
        }
    }

    /// Removes the status line (end of a phase).
    pub fn finish(&mut self) {
        self.clear_status();
    }
}
