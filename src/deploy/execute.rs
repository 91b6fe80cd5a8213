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

/// The tool's side of a spawned script's gate: [`Gate::open`] lets the script run;
/// dropping it unopened makes the script exit (status 125) without running.
///
/// The gated child shares the tool's memory until it execs (see [`spawn_script`]), so
/// the gate also owns what the child reads there (its stack, its arguments) and frees
/// them only once the child has exec'd or exited.
#[derive(Debug)]
pub struct Gate {
    /// The gate's write end.
    pipe: Option<File>,
    /// The read end of a close-on-exec pipe whose write end only the child holds: it
    /// reads end-of-file once the child has exec'd or exited.
    exec_report: File,
    /// What the child reads until it execs.
    _child: Box<ChildArgs>,
    /// The child's stack.
    _stack: ChildStack,
}

impl Gate {
    /// Lets the script run.
    pub fn open(mut self) {
        if let Some(mut pipe) = self.pipe.take() {
            let _ = pipe.write_all(GATE_WORD);
        }
    }
}

impl Drop for Gate {
    /// Closes the gate (a child still waiting exits) and waits until the child no
    /// longer uses the tool's memory: it has exec'd the script or exited.
    fn drop(&mut self) {
        drop(self.pipe.take());
        let mut buf = [0u8; 16];
        loop {
            match self.exec_report.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
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
/// The child is made with `clone(CLONE_VM)`, as `posix_spawn` makes its children: it
/// shares the tool's memory on a stack of its own instead of copying the tool's page
/// tables (a `fork` of a tool holding a large profile costs more than the trivial
/// script it starts). It waits for the gate and execs the script: one `exec` per
/// script, as when a person runs it.
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
    let (gate_read, gate_write) = cloexec_pipe()?;
    let (report_read, report_write) = cloexec_pipe()?;
    let stack = ChildStack::new().map_err(|e| cannot_run(&e))?;
    let mut child = Box::new(ChildArgs {
        argv: [std::ptr::null(); 3],
        null: null.as_raw_fd(),
        out: out.as_raw_fd(),
        gate: gate_read.as_raw_fd(),
        gate_write: gate_write.as_raw_fd(),
        _program: program,
        _action: action,
    });
    child.argv = [
        child._program.as_ptr(),
        child._action.as_ptr(),
        std::ptr::null(),
    ];
    let arg: *mut ChildArgs = &mut *child;
    // SAFETY: the child runs `gated_exec` on its own stack and reads only `child`, both
    // kept alive by the Gate until the child has exec'd or exited (see Gate's drop).
    // Every signal is blocked in this thread around the clone, so the child starts with
    // no handler of the tool able to run before it resets them.
    let pid = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let pid = libc::clone(
            gated_exec,
            stack.top(),
            libc::CLONE_VM | libc::SIGCHLD,
            arg.cast(),
        );
        let error = std::io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if pid < 0 {
            return Err(cannot_run(&error));
        }
        pid
    };
    // The tool's copies of the child's descriptors close here; the child has its own.
    drop((gate_read, out, report_write));
    let gate = Gate {
        pipe: Some(gate_write),
        exec_report: report_read,
        _child: child,
        _stack: stack,
    };
    Ok((Script { pid }, gate))
}

/// A pipe whose two ends are close-on-exec: (read, write).
fn cloexec_pipe() -> Result<(File, File), String> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the array we pass.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!(
            "cannot create a pipe: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    unsafe {
        use std::os::fd::FromRawFd;
        Ok((File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])))
    }
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

/// The stack a gated child runs on until it execs: a private mapping with a guard page
/// below it.
#[derive(Debug)]
struct ChildStack {
    base: *mut libc::c_void,
}

impl ChildStack {
    /// Size of the mapping, guard page included; `gated_exec` needs a few hundred bytes.
    const SIZE: usize = 64 * 1024;
    /// The guard page's size (the smallest page size Linux has).
    const GUARD: usize = 4096;

    fn new() -> std::io::Result<ChildStack> {
        // SAFETY: a fresh anonymous mapping, owned by the returned value.
        unsafe {
            let base = libc::mmap(
                std::ptr::null_mut(),
                Self::SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            );
            if base == libc::MAP_FAILED {
                return Err(std::io::Error::last_os_error());
            }
            let stack = ChildStack { base };
            if libc::mprotect(base, Self::GUARD, libc::PROT_NONE) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(stack)
        }
    }

    /// The top of the stack (stacks grow down), 16-byte aligned.
    fn top(&self) -> *mut libc::c_void {
        // SAFETY: one past the end of the mapping, which is page-aligned.
        unsafe { self.base.cast::<u8>().add(Self::SIZE).cast() }
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: the mapping made in new(), no longer used by any child (the Gate
        // drops it only after its child exec'd or exited).
        unsafe {
            libc::munmap(self.base, Self::SIZE);
        }
    }
}

/// What a gated child reads from the tool's memory (see [`gated_exec`]).
#[derive(Debug)]
struct ChildArgs {
    /// The script, its action, and the terminating null pointer.
    argv: [*const libc::c_char; 3],
    /// `/dev/null`, for standard input.
    null: libc::c_int,
    /// The log, for standard output and error.
    out: libc::c_int,
    /// The gate's read end.
    gate: libc::c_int,
    /// The gate's write end, which the child must not keep: it would never see the
    /// gate close if the tool died.
    gate_write: libc::c_int,
    /// The storage `argv` points into.
    _program: std::ffi::CString,
    _action: std::ffi::CString,
}

/// The child's side of [`spawn_script`]: its own process group, standard descriptors,
/// default signal handling, then wait for the gate and exec the script. (Every other
/// descriptor the tool holds is close-on-exec.)
///
/// It shares the tool's memory, so it only makes system calls on the values in `arg`
/// (no allocation, no lock, nothing that could fail in a way the tool could observe),
/// then execs or exits.
extern "C" fn gated_exec(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the ChildArgs that spawn_script keeps alive until this child has
    // exec'd or exited; everything below is a plain system call.
    unsafe {
        let args = &*arg.cast::<ChildArgs>();
        libc::close(args.gate_write);
        libc::setpgid(0, 0);
        if libc::dup2(args.null, 0) < 0
            || libc::dup2(args.out, 1) < 0
            || libc::dup2(args.out, 2) < 0
        {
            libc::_exit(126);
        }
        // Rust ignores SIGPIPE in its own process and may handle SIGSEGV/SIGBUS; a script
        // gets the defaults, as from a shell. Then nothing is blocked any more.
        for signal in [libc::SIGPIPE, libc::SIGSEGV, libc::SIGBUS] {
            libc::signal(signal, libc::SIG_DFL);
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        let mut word = [0u8; 3];
        let mut got = 0usize;
        while got < word.len() {
            let n = libc::read(args.gate, word[got..].as_mut_ptr().cast(), word.len() - got);
            if n <= 0 {
                // The gate closed unopened: the tool died or cancelled this step. (No
                // handler is installed any more, so a read is never interrupted.)
                libc::_exit(125);
            }
            got += n as usize;
        }
        if word != *GATE_WORD {
            libc::_exit(125);
        }
        libc::execv(args.argv[0], args.argv.as_ptr());
        const FAILED: &[u8] = b"nixproc-sysvinit: cannot execute the script\n";
        libc::write(2, FAILED.as_ptr().cast(), FAILED.len());
        libc::_exit(127)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Writes an executable script `name` with `body` into `dir`.
    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn an_opened_gate_runs_the_script_in_its_own_group_with_its_output_in_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let s = script(
            dir.path(),
            "s",
            "#!/bin/sh\necho \"out $1 $(awk '{print $5}' /proc/$$/stat)\"\necho err >&2\nread x || echo \"no input\"\nexit 3\n",
        );
        let log = dir.path().join("s.log");
        let (mut child, gate) = spawn_script(&s, "start", &log).unwrap();
        gate.open();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(3));
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            text,
            format!("out start {}\nerr\nno input\n", child.id()),
            "argument, own process group, stderr in the log, stdin from /dev/null"
        );
    }

    #[test]
    fn a_gate_closed_unopened_never_runs_the_script() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let s = script(
            dir.path(),
            "s",
            &format!("#!/bin/sh\ntouch '{}'\n", marker.display()),
        );
        let (mut child, gate) = spawn_script(&s, "start", Path::new("/dev/null")).unwrap();
        drop(gate);
        assert_eq!(child.wait().unwrap().code(), Some(125));
        assert!(!marker.exists());
    }

    #[test]
    fn a_script_that_cannot_be_executed_exits_127_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let s = script(dir.path(), "s", "#!/nonexistent/interpreter\n");
        let log = dir.path().join("s.log");
        let (mut child, gate) = spawn_script(&s, "start", &log).unwrap();
        gate.open();
        assert_eq!(child.wait().unwrap().code(), Some(127));
        assert!(std::fs::read_to_string(&log)
            .unwrap()
            .contains("cannot execute the script"));
        let not_executable = dir.path().join("plain");
        std::fs::write(&not_executable, "").unwrap();
        let err = spawn_script(&not_executable, "start", &log).unwrap_err();
        assert!(err.starts_with("cannot run "), "{err}");
    }

    #[test]
    fn many_scripts_in_a_row_each_get_their_own_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let s = script(dir.path(), "s", "#!/bin/sh\necho \"$1\"\n");
        let mut children = Vec::new();
        for i in 0..200 {
            let log = dir.path().join(format!("{i}.log"));
            let (child, gate) = spawn_script(&s, &format!("action{i}"), &log).unwrap();
            gate.open();
            children.push((i, child, log));
        }
        for (i, mut child, log) in children {
            assert!(child.wait().unwrap().success());
            assert_eq!(
                std::fs::read_to_string(log).unwrap(),
                format!("action{i}\n")
            );
        }
    }
}
