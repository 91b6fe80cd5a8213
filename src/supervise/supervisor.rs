//! The supervisor's main loop: signals arrive through a signalfd (no work happens in a
//! signal handler), timers are the poll's timeout. Every transition is written to the
//! state file; the notes go through the log writer, after the client's output.
//!
//! It is one concern and reads best whole: every handler changes the one `Supervisor`
//! state that the loop, the respawn timer and the stop share, so its transitions are
//! kept side by side (about 530 lines).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::daemon::Verdict;
use super::files::{PidFiles, StateFile};
use super::log::{LogHealth, RotatingLog, NOTE_PREFIX};
use super::policy::{Decision, ExitHistory, RespawnPolicy};
use super::spawn::{ClientCommand, Spawned};
use super::state::{ClientExit, Phase, SupervisorState};
use super::sys::{self, SignalFd};
use super::writer::LogWriter;
use super::{Options, SuperviseError};

/// How long descendants left behind by the client have after SIGTERM.
const DESCENDANTS_GRACE: Duration = Duration::from_secs(2);
/// How often the descendants are looked at while they end.
const DESCENDANTS_POLL: Duration = Duration::from_millis(20);
/// The signals the supervisor handles.
const SIGNALS: [libc::c_int; 7] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGCHLD,
];

/// Supervises `options.program` (found at `program`) until it is stopped, exits or
/// fails too often; `verdict` is how the start is reported. The PID directory and the
/// log directory already belong to the user the process runs as.
pub(super) fn supervise(
    options: &Options,
    program: &Path,
    verdict: Verdict,
) -> Result<i32, SuperviseError> {
    let started = sys::chdir_root()
        .map_err(|e| SuperviseError::System("cannot change to /", e))
        .and_then(|()| Supervisor::start(options, program));
    match started {
        Ok(supervisor) => supervisor.run(verdict),
        Err(e) => verdict.failed(e).map(|()| 1),
    }
}

/// How the supervisor ends.
enum Exit {
    /// With this status.
    Code(i32),
    /// Before the verdict: the start failed, for this reason.
    StartFailed(String),
}

/// Where the clients' output goes.
enum Output {
    /// Through one pipe (this is its write end) to the log writer.
    Log { writer: LogWriter, pipe: OwnedFd },
    /// To /dev/null; notes to the standard error when `notes` (in the foreground).
    Null { null: OwnedFd, notes: bool },
}

impl Output {
    fn open(options: &Options, state: &StateFile) -> Result<Output, SuperviseError> {
        let system = |what| move |e| SuperviseError::System(what, e);
        let Some(path) = &options.output else {
            let null = sys::dev_null(true).map_err(system("cannot open /dev/null"))?;
            let notes = options.foreground;
            return Ok(Output::Null { null, notes });
        };
        let (input, pipe) = sys::pipe().map_err(system("cannot make the output pipe"))?;
        sys::grow_pipe(&pipe, 1 << 20);
        let log = RotatingLog::open(path, options.log_max_size, options.log_keep);
        let state = state.clone();
        let report = Box::new(move |health: &LogHealth| {
            let _ = state.update(|s| {
                s.log_error = health.error.clone().unwrap_or_default();
                s.log_dropped = health.dropped;
            });
        });
        let writer =
            LogWriter::start(log, input, report).map_err(system("cannot start the log writer"))?;
        Ok(Output::Log { writer, pipe })
    }

    /// The descriptor that becomes the client's standard output and error.
    fn client_fd(&self) -> RawFd {
        match self {
            Output::Log { pipe, .. } => pipe.as_raw_fd(),
            Output::Null { null, .. } => null.as_raw_fd(),
        }
    }

    fn note(&self, text: &str) {
        match self {
            Output::Log { writer, .. } => writer.note(text),
            Output::Null { notes: true, .. } => eprintln!("{NOTE_PREFIX}{text}"),
            Output::Null { .. } => {}
        }
    }

    fn finish(self) {
        if let Output::Log { writer, .. } = self {
            writer.finish();
        }
    }
}

/// A supervisor that has its PID file.
struct Supervisor<'o> {
    options: &'o Options,
    files: PidFiles,
    state: StateFile,
    signals: SignalFd,
    output: Output,
    stdin: OwnedFd,
    command: ClientCommand,
    history: ExitHistory,
    phase: Phase,
    client: Option<libc::pid_t>,
    respawns: u32,
    last_exit: Option<ClientExit>,
    last_exit_time: Option<u64>,
    /// Set until the verdict is sent.
    verdict: Option<Verdict>,
    settle_until: Option<Instant>,
    restart_at: Option<Instant>,
    kill_at: Option<Instant>,
}

impl<'o> Supervisor<'o> {
    /// Takes the PID file, then opens everything else; on failure the PID file goes.
    fn start(options: &'o Options, program: &Path) -> Result<Supervisor<'o>, SuperviseError> {
        let files = PidFiles::acquire(&options.pid_dir, &options.name)?;
        let system = |what| move |e| SuperviseError::System(what, e);
        let opened = (|| {
            sys::set_child_subreaper().map_err(system("cannot become a subreaper"))?;
            // Before the log writer thread starts, which inherits the blocked signals.
            let signals = SignalFd::new(&SIGNALS).map_err(system("cannot receive signals"))?;
            let log_file = options.output.as_ref().map(|p| p.display().to_string());
            let initial = SupervisorState::new(sys::getpid() as u32, log_file);
            let state = StateFile::new(files.state_path(), initial);
            state
                .update(|_| {})
                .map_err(|e| SuperviseError::File("cannot write", files.state_path(), e))?;
            let stdin = sys::dev_null(false).map_err(system("cannot open /dev/null"))?;
            let command = ClientCommand::new(
                &options.program,
                program,
                &options.args,
                options.chdir.as_deref(),
                options.umask,
            )?;
            let output = Output::open(options, &state)?;
            Ok((signals, state, stdin, command, output))
        })();
        let (signals, state, stdin, command, output) = match opened {
            Ok(parts) => parts,
            Err(e) => {
                files.remove_all();
                return Err(e);
            }
        };
        let policy = RespawnPolicy {
            attempts: options.respawn_attempts,
            window: options.respawn_window,
        };
        Ok(Supervisor {
            options,
            files,
            state,
            signals,
            output,
            stdin,
            command,
            history: ExitHistory::new(policy),
            phase: Phase::Starting,
            client: None,
            respawns: 0,
            last_exit: None,
            last_exit_time: None,
            verdict: None,
            settle_until: None,
            restart_at: None,
            kill_at: None,
        })
    }

    /// The life after the PID file: the first client, then events until the end.
    fn run(mut self, verdict: Verdict) -> Result<i32, SuperviseError> {
        self.verdict = Some(verdict);
        let mut exit = self.first_spawn(Instant::now());
        while exit.is_none() {
            let timeout = sys::until(self.next_deadline(), Instant::now());
            exit = match self.signals.wait(timeout) {
                Ok(Some(sig)) => self.on_signal(sig, Instant::now()),
                Ok(None) => None,
                Err(e) => {
                    self.note(&format!("cannot read signals: {e}; stopping"));
                    self.begin_stop(Instant::now())
                }
            };
            if exit.is_none() {
                exit = self.on_time(Instant::now());
            }
        }
        self.finish(exit.unwrap_or(Exit::Code(1)))
    }

    /// Flushes the log, then tells a waiting starter how the start went.
    fn finish(self, exit: Exit) -> Result<i32, SuperviseError> {
        self.output.finish();
        let reason = match exit {
            Exit::Code(code) if self.verdict.is_none() => return Ok(code),
            Exit::StartFailed(_) if self.verdict.is_none() => return Ok(1),
            Exit::Code(_) => format!("{} exited during start", self.options.name),
            Exit::StartFailed(reason) => reason,
        };
        match self.verdict {
            Some(verdict) => verdict
                .failed(SuperviseError::StartFailed(reason))
                .map(|()| 1),
            None => Ok(1),
        }
    }

    /// Starts the first client; a failure to start fails the start at once.
    fn first_spawn(&mut self, now: Instant) -> Option<Exit> {
        match self.spawn_client() {
            Ok(()) => {
                if self.options.settle.is_zero() {
                    self.send_verdict();
                } else {
                    self.settle_until = Some(now + self.options.settle);
                    self.set_state(|_| {});
                }
                None
            }
            Err(message) => {
                self.end_descendants();
                self.phase = Phase::Failed;
                self.set_state(|s| s.reason = message.clone());
                self.files.remove_all();
                Some(Exit::StartFailed(message))
            }
        }
    }

    /// Starts a client and records it (see [`Supervisor::client_started`]); when it
    /// cannot start, reaps what was made of it, notes why and returns that.
    fn spawn_client(&mut self) -> Result<(), String> {
        match self
            .command
            .spawn(self.stdin.as_raw_fd(), self.output.client_fd())
        {
            Spawned::Running(pid) => {
                self.client_started(pid);
                Ok(())
            }
            Spawned::Failed { pid, message } => {
                if let Some(pid) = pid {
                    let _ = sys::wait_for(pid);
                }
                self.note(&message);
                Err(message)
            }
        }
    }

    /// Records a running client (the state is written by the caller).
    fn client_started(&mut self, pid: libc::pid_t) {
        self.client = Some(pid);
        if let Err(e) = self.files.write_client(pid) {
            let path = self.files.client_path();
            self.note(&format!("cannot write {}: {e}", path.display()));
        }
    }

    /// The start succeeded: the client is running (and, with --settle, lived long
    /// enough).
    fn send_verdict(&mut self) {
        self.phase = Phase::Running;
        self.set_state(|_| {});
        if let Some(verdict) = self.verdict.take() {
            if let Err(e) = verdict.started() {
                self.note(&format!("cannot detach from the terminal: {e}"));
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        [self.settle_until, self.restart_at, self.kill_at]
            .into_iter()
            .flatten()
            .min()
    }

    fn on_signal(&mut self, sig: libc::c_int, now: Instant) -> Option<Exit> {
        match sig {
            libc::SIGTERM | libc::SIGINT | libc::SIGQUIT => self.begin_stop(now),
            libc::SIGHUP | libc::SIGUSR1 | libc::SIGUSR2 => {
                if let Some(pid) = self.client {
                    let _ = sys::signal_client(pid, sig);
                }
                None
            }
            libc::SIGCHLD => self.reap(now),
            _ => None,
        }
    }

    /// Reaps every child that ended; acts on the client's end.
    fn reap(&mut self, now: Instant) -> Option<Exit> {
        let mut client_exit = None;
        while let Some((pid, status)) = sys::reap_any() {
            if Some(pid) == self.client {
                client_exit = ClientExit::from_wait_status(status);
            }
        }
        client_exit.and_then(|exit| self.client_exited(exit, now))
    }

    fn on_time(&mut self, now: Instant) -> Option<Exit> {
        if self.settle_until.is_some_and(|t| now >= t) {
            self.settle_until = None;
            self.send_verdict();
        }
        if self.restart_at.is_some_and(|t| now >= t) {
            self.restart_at = None;
            return self.respawn(now);
        }
        if self.kill_at.is_some_and(|t| now >= t) {
            self.kill_at = None;
            if let Some(pid) = self.client {
                let delay = secs_text(self.options.kill_delay);
                let name = &self.options.name;
                self.note(&format!("{name} did not stop within {delay} s; killing it"));
                let _ = sys::signal_client(pid, libc::SIGKILL);
            }
        }
        None
    }

    /// A client started after the respawn delay.
    fn respawn(&mut self, now: Instant) -> Option<Exit> {
        self.respawns += 1;
        match self.spawn_client() {
            Ok(()) => {
                self.phase = Phase::Running;
                self.set_state(|_| {});
                None
            }
            Err(_) => self.client_exited(ClientExit::Status(127), now),
        }
    }

    /// The client ended: stop, exit, give up or start it again.
    fn client_exited(&mut self, exit: ClientExit, now: Instant) -> Option<Exit> {
        self.client = None;
        self.kill_at = None;
        self.files.remove_client();
        self.last_exit = Some(exit);
        let time = SystemTime::now().duration_since(UNIX_EPOCH);
        self.last_exit_time = time.ok().map(|d| d.as_secs());
        let name = self.options.name.clone();
        if self.phase == Phase::Stopping {
            return Some(self.stopped());
        }
        if self.verdict.is_some() {
            let how = match exit {
                ClientExit::Status(_) => format!("exited during start with {}", exit.state_text()),
                ClientExit::Signal(_) => format!("{} during start", exit.describe()),
            };
            let message = format!("{name} {how}");
            self.end(Phase::Failed, &how, &message, true);
            return Some(Exit::StartFailed(message));
        }
        let what = format!("{name} {}", exit.describe());
        if !self.options.respawn {
            let code = exit.exit_code();
            self.end(Phase::Exited, &exit.describe(), &what, true);
            return Some(Exit::Code(code));
        }
        match self.history.record(now) {
            Decision::GiveUp { exits } => {
                let window = secs_text(self.options.respawn_window);
                let reason = format!("exited {exits} times within {window} s");
                self.end(
                    Phase::Failed,
                    &reason,
                    &format!("{what}; gave up ({reason})"),
                    false,
                );
                Some(Exit::Code(1))
            }
            Decision::Restart { nth } => {
                self.schedule_restart(&what, nth, now);
                None
            }
        }
    }

    fn schedule_restart(&mut self, what: &str, nth: u32, now: Instant) {
        let o = self.options;
        self.note(&format!(
            "{what}; restarting in {} s (restart {nth} of {} within {} s)",
            secs_text(o.respawn_delay),
            o.respawn_attempts,
            secs_text(o.respawn_window)
        ));
        self.phase = Phase::Restarting;
        self.restart_at = Some(now + o.respawn_delay);
        self.set_state(|_| {});
    }

    /// The end without a stop: notes `note`, ends the descendants, records `phase`
    /// with `reason`, removes the PID files (the supervisor's only if `remove_pid`).
    fn end(&mut self, phase: Phase, reason: &str, note: &str, remove_pid: bool) {
        self.note(note);
        self.end_descendants();
        self.phase = phase;
        self.set_state(|s| s.reason = reason.to_string());
        if remove_pid {
            self.files.remove_all();
        } else {
            self.files.remove_client();
        }
    }

    /// A stop: no restart from now on; the client gets SIGTERM, and SIGKILL after the
    /// kill delay.
    fn begin_stop(&mut self, now: Instant) -> Option<Exit> {
        if self.phase == Phase::Stopping {
            return None;
        }
        self.phase = Phase::Stopping;
        self.restart_at = None;
        self.settle_until = None;
        let Some(pid) = self.client else {
            return Some(self.stopped());
        };
        let _ = sys::signal_client(pid, libc::SIGTERM);
        self.kill_at = Some(now + self.options.kill_delay);
        self.set_state(|_| {});
        None
    }

    /// The client of a stop is gone: the rest ends too, and the supervisor exits.
    fn stopped(&mut self) -> Exit {
        self.end_descendants();
        self.phase = Phase::Stopped;
        self.set_state(|s| s.reason.clear());
        self.note(&format!("{} stopped", self.options.name));
        self.files.remove_all();
        match self.verdict {
            Some(_) => Exit::StartFailed(format!("{} was stopped during start", self.options.name)),
            None => Exit::Code(0),
        }
    }

    /// Ends every process left below the supervisor: its children (the orphans of the
    /// client's tree come back to it, as its subreaper, as their parents end) get
    /// SIGTERM, and SIGKILL after [`DESCENDANTS_GRACE`]; all are reaped.
    fn end_descendants(&mut self) {
        let me = sys::getpid();
        let mut signalled: Vec<libc::pid_t> = Vec::new();
        let deadline = Instant::now() + DESCENDANTS_GRACE;
        loop {
            // Without a child left (the common case) there is no need to read /proc.
            if !sys::has_children() {
                return;
            }
            let left = sys::children(me);
            if left.is_empty() {
                return;
            }
            let now = Instant::now();
            if now >= deadline + DESCENDANTS_GRACE {
                let n = left.len();
                self.note(&format!("{n} processes left by the client did not end"));
                return;
            }
            for pid in left {
                if now >= deadline {
                    let _ = sys::kill(pid, libc::SIGKILL);
                } else if !signalled.contains(&pid) {
                    let _ = sys::kill(pid, libc::SIGTERM);
                    signalled.push(pid);
                }
            }
            std::thread::sleep(DESCENDANTS_POLL);
        }
    }

    fn note(&self, text: &str) {
        self.output.note(text);
    }

    /// Writes the state file: the supervisor's phase, client, respawns and last exit,
    /// and what `change` sets.
    fn set_state(&mut self, change: impl FnOnce(&mut SupervisorState)) {
        let result = self.state.update(|s| {
            s.phase = self.phase;
            s.client = self.client.map(|p| p as u32);
            s.respawns = self.respawns;
            s.last_exit = self.last_exit;
            s.last_exit_time = self.last_exit_time;
            change(s);
        });
        if let Err(e) = result {
            let path = self.files.state_path();
            self.note(&format!("cannot write {}: {e}", path.display()));
        }
    }
}

/// Seconds for messages: `10`, `0.5`.
fn secs_text(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        return d.as_secs().to_string();
    }
    let text = format!("{:.3}", d.as_secs_f64());
    text.trim_end_matches('0').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_shown_without_needless_digits() {
        assert_eq!(secs_text(Duration::from_secs(60)), "60");
        assert_eq!(secs_text(Duration::from_millis(500)), "0.5");
        assert_eq!(secs_text(Duration::from_millis(1250)), "1.25");
    }
}
