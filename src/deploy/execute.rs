//! The parallel executor: runs the steps of one phase, each as soon as the steps it comes
//! after are finished, with at most `jobs` scripts at once.
//!
//! A start is "up" when the script's `start` exited 0: scripts wait for their process's
//! readiness themselves. Script output goes to a log file per step (a pipe would be held
//! open by the daemons the script leaves behind); on failure its tail is reported.
//!
//! A script runs only once its launch is recorded: it is forked behind a gate (the child
//! waits on a pipe before it execs the script), its pid is reported with
//! [`Event::Launched`], and only then is the gate opened. When the tool dies before that,
//! the pipe closes and the script never runs, so a journal can never miss a script that
//! ran.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
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
    let mut schedule = Schedule::new(steps);
    let mut outcome = Outcome::default();
    let mut running = 0usize;
    let mut failed = false;
    let mut aborted = false;
    let (tx, rx) = mpsc::channel::<Done>();
    if let Some(dir) = &opts.log_dir {
        let _ = std::fs::create_dir_all(dir);
    }

    loop {
        while running < jobs && !aborted && !(failed && opts.stop_on_failure) {
            let Some(i) = schedule.next() else { break };
            if launch(steps, i, opts, &tx, on_event) {
                outcome.launched.push(steps[i].name.clone());
                running += 1;
            } else {
                aborted = true;
            }
        }
        if running == 0 {
            break;
        }
        let done = match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(done) => done,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                aborted |= !on_event(&Event::Tick);
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        running -= 1;
        let step = &steps[done.index];
        let log = log_path(opts.log_dir.as_deref(), step);
        aborted |= !on_event(&Event::Finished {
            step,
            ok: done.ok,
            status: done.status.clone(),
            elapsed: done.elapsed,
            log: log.clone(),
        });
        if done.ok {
            outcome.succeeded.push(step.name.clone());
        } else {
            failed = true;
            outcome
                .failed
                .push((step.name.clone(), failure_detail(done.status, &log)));
        }
        if done.ok || !opts.stop_on_failure {
            schedule.finished(&step.name);
        }
    }
    outcome
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

/// The write end of a spawned script's gate: [`Gate::open`] lets the script run;
/// dropping it unopened makes the script exit (status 125) without running.
#[derive(Debug)]
pub struct Gate {
    pipe: File,
}

impl Gate {
    /// Lets the script run.
    pub fn open(mut self) {
        let _ = self.pipe.write_all(GATE_WORD);
    }
}

/// What the gate's pipe carries to let a script run.
const GATE_WORD: &[u8] = b"go\n";

/// A script started by [`spawn_script`]: its pid, until it is reaped.
#[derive(Debug)]
pub struct Script {
    pid: libc::pid_t,
}

impl Script {
    /// The script's pid (also its process group id).
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    /// Waits for the script to exit.
    pub fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.wait_flags(0)
            .map(|s| s.expect("waitpid without WNOHANG returns a status"))
    }

    /// The script's status if it has exited, without waiting.
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        self.wait_flags(libc::WNOHANG)
    }

    fn wait_flags(&mut self, flags: libc::c_int) -> std::io::Result<Option<ExitStatus>> {
        loop {
            let mut status = 0;
            // SAFETY: waitpid on our own, not yet reaped child.
            match unsafe { libc::waitpid(self.pid, &mut status, flags) } {
                0 => return Ok(None),
                pid if pid == self.pid => return Ok(Some(ExitStatus::from_raw(status))),
                _ => {
                    let e = std::io::Error::last_os_error();
                    if e.kind() != std::io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
            }
        }
    }
}

/// Starts `SCRIPT ACTION` behind a gate (see [`Gate`]), in a process group of its own
/// (a Ctrl-C at the terminal does not reach the script or the daemons it starts, and a
/// timed-out script can be killed with what it started), with standard input from
/// `/dev/null` and its output going to `log` (a file created for it, or `/dev/null`).
///
/// The child waits for the gate between `fork` and `exec`, so no shell stands in
/// between: one `exec` per script, as when a person runs it.
pub fn spawn_script(script: &Path, action: &str, log: &Path) -> Result<(Script, Gate), String> {
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;

    let cannot_run = |e: &dyn std::fmt::Display| format!("cannot run {}: {e}", script.display());
    let program = CString::new(script.as_os_str().as_bytes()).map_err(|e| cannot_run(&e))?;
    let action = CString::new(action).map_err(|e| cannot_run(&e))?;
    // What exec would refuse, refused here with its reason (the child can only exit).
    // SAFETY: access only reads the NUL-terminated path.
    if unsafe { libc::access(program.as_ptr(), libc::X_OK) } != 0 {
        return Err(cannot_run(&std::io::Error::last_os_error()));
    }
    let out = if log == Path::new("/dev/null") {
        File::options().write(true).open(log)
    } else {
        File::create(log)
    }
    .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let null = dev_null()?;
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the array we pass.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!(
            "cannot create a pipe: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (gate_read, gate_write) = unsafe {
        use std::os::fd::FromRawFd;
        (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1]))
    };
    let argv = [program.as_ptr(), action.as_ptr(), std::ptr::null()];
    let fds = ChildFds {
        null: null.as_raw_fd(),
        out: out.as_raw_fd(),
        gate: gate_read.as_raw_fd(),
        gate_write: gate_write.as_raw_fd(),
    };
    // SAFETY: between fork and exec the child makes only async-signal-safe system calls
    // on values prepared above (no allocation, no lock), then execs or _exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        unsafe { gated_exec(fds, &argv) }
    }
    if pid < 0 {
        return Err(cannot_run(&std::io::Error::last_os_error()));
    }
    // The parent's copies of the child's descriptors close here.
    drop((gate_read, out));
    Ok((Script { pid }, Gate { pipe: gate_write }))
}

/// `/dev/null` for the scripts' standard input, opened once per run of the tool.
fn dev_null() -> Result<&'static File, String> {
    static NULL: std::sync::OnceLock<File> = std::sync::OnceLock::new();
    if let Some(f) = NULL.get() {
        return Ok(f);
    }
    let f = File::open("/dev/null").map_err(|e| format!("cannot open /dev/null: {e}"))?;
    Ok(NULL.get_or_init(|| f))
}

/// The descriptors a forked script child works with (see [`gated_exec`]).
#[derive(Clone, Copy)]
struct ChildFds {
    /// `/dev/null`, for standard input.
    null: libc::c_int,
    /// The log, for standard output and error.
    out: libc::c_int,
    /// The gate's read end.
    gate: libc::c_int,
    /// The gate's write end, which the child must not keep: it would never see the
    /// gate close if the tool died.
    gate_write: libc::c_int,
}

/// The child's side of [`spawn_script`]: its own process group, standard descriptors,
/// default signal handling, then wait for the gate and exec the script. (Every other
/// descriptor the tool holds is close-on-exec.)
///
/// # Safety
/// Only to be called in a child just forked; never returns.
unsafe fn gated_exec(fds: ChildFds, argv: &[*const libc::c_char; 3]) -> ! {
    libc::close(fds.gate_write);
    libc::setpgid(0, 0);
    if libc::dup2(fds.null, 0) < 0 || libc::dup2(fds.out, 1) < 0 || libc::dup2(fds.out, 2) < 0 {
        libc::_exit(126);
    }
    // Rust ignores SIGPIPE in its own process; a script gets the default, as from a shell.
    libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    let mut set: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut set);
    libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    let mut word = [0u8; 3];
    let mut got = 0usize;
    while got < word.len() {
        let n = libc::read(fds.gate, word[got..].as_mut_ptr().cast(), word.len() - got);
        if n > 0 {
            got += n as usize;
        } else if n == 0 || *libc::__errno_location() != libc::EINTR {
            // The gate closed unopened: the tool died or cancelled this step.
            libc::_exit(125);
        }
    }
    if word != *GATE_WORD {
        libc::_exit(125);
    }
    libc::execv(argv[0], argv.as_ptr());
    const FAILED: &[u8] = b"nixproc-sysvinit: cannot execute the script\n";
    libc::write(2, FAILED.as_ptr().cast(), FAILED.len());
    libc::_exit(127)
}

/// Waits for a script, killing it when it outlives `timeout`.
fn wait_script(child: &mut Script, timeout: Option<Duration>) -> (bool, String) {
    let result = |r: std::io::Result<ExitStatus>| match r {
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
pub fn describe_status(s: ExitStatus) -> String {
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
