//! The state file `DIR/NAME.state` of a supervisor: what it is doing, its client, how
//! the last client ended and how its log writer fares.
//!
//! The format is lines of `key=value` (the value runs to the end of the line; a newline
//! in a value is written as a space). Readers go line by line and never evaluate the
//! text; keys they do not know are skipped, so later versions may add lines.
//!
//! ```
//! use nixproc_sysvinit::supervise::state::{ClientExit, Phase, SupervisorState};
//!
//! let mut state = SupervisorState::new(41, None);
//! state.phase = Phase::Restarting;
//! state.last_exit = Some(ClientExit::Signal(libc::SIGSEGV));
//! let text = state.to_text();
//! assert!(text.contains("\nstate=restarting\n"));
//! assert!(text.contains("\nlast_exit=signal SEGV\n"));
//! assert_eq!(SupervisorState::parse(&text).unwrap(), state);
//! ```

use std::fmt::Write as _;

use thiserror::Error;

/// The version of the format this module writes (the `version=` line).
pub const STATE_VERSION: u32 = 1;

/// Where a supervisor is in its life (the `state=` line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Started; its first client is not yet settled.
    Starting,
    /// A client runs.
    Running,
    /// The client exited; another is started after the respawn delay.
    Restarting,
    /// The client exited too often; the supervisor gave up (its PID file stays).
    Failed,
    /// The client exited and is not respawned; the supervisor exited too.
    Exited,
    /// Asked to stop; the client is being terminated.
    Stopping,
    /// Stopped on request.
    Stopped,
}

impl Phase {
    /// Every phase, in the order of the life of a supervisor.
    pub const ALL: [Phase; 7] = [
        Phase::Starting,
        Phase::Running,
        Phase::Restarting,
        Phase::Failed,
        Phase::Exited,
        Phase::Stopping,
        Phase::Stopped,
    ];

    /// The word the state file uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Running => "running",
            Phase::Restarting => "restarting",
            Phase::Failed => "failed",
            Phase::Exited => "exited",
            Phase::Stopping => "stopping",
            Phase::Stopped => "stopped",
        }
    }

    /// The phase a state file word names.
    pub fn from_word(word: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.as_str() == word)
    }
}

/// How a client ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientExit {
    /// It exited with this status.
    Status(i32),
    /// A signal (this number) killed it.
    Signal(i32),
}

impl ClientExit {
    /// The exit of a process as `waitpid` reports it; `None` for a stopped or continued
    /// process.
    pub fn from_wait_status(status: libc::c_int) -> Option<ClientExit> {
        if libc::WIFEXITED(status) {
            Some(ClientExit::Status(libc::WEXITSTATUS(status)))
        } else if libc::WIFSIGNALED(status) {
            Some(ClientExit::Signal(libc::WTERMSIG(status)))
        } else {
            None
        }
    }

    /// The status a shell would report: the exit status, or 128 + the signal.
    pub fn exit_code(self) -> i32 {
        match self {
            ClientExit::Status(code) => code,
            ClientExit::Signal(sig) => 128 + sig,
        }
    }

    /// The `last_exit=` value: `status 1` or `signal SEGV`.
    pub fn state_text(self) -> String {
        match self {
            ClientExit::Status(code) => format!("status {code}"),
            ClientExit::Signal(sig) => format!("signal {}", signal_text(sig)),
        }
    }

    /// Reads a `last_exit=` value (a signal by name or by number).
    pub fn parse_state_text(text: &str) -> Option<ClientExit> {
        let (kind, value) = text.split_once(' ')?;
        match kind {
            "status" => value.parse().ok().map(ClientExit::Status),
            "signal" => signal_number(value)
                .or_else(|| value.parse().ok())
                .map(ClientExit::Signal),
            _ => None,
        }
    }

    /// For messages: `exited with status 1`, `was killed by signal SEGV`.
    pub fn describe(self) -> String {
        match self {
            ClientExit::Status(code) => format!("exited with status {code}"),
            ClientExit::Signal(sig) => format!("was killed by signal {}", signal_text(sig)),
        }
    }
}

/// The signals known by name, without their `SIG` prefix.
const SIGNAL_NAMES: [(libc::c_int, &str); 31] = [
    (libc::SIGHUP, "HUP"),
    (libc::SIGINT, "INT"),
    (libc::SIGQUIT, "QUIT"),
    (libc::SIGILL, "ILL"),
    (libc::SIGTRAP, "TRAP"),
    (libc::SIGABRT, "ABRT"),
    (libc::SIGBUS, "BUS"),
    (libc::SIGFPE, "FPE"),
    (libc::SIGKILL, "KILL"),
    (libc::SIGUSR1, "USR1"),
    (libc::SIGSEGV, "SEGV"),
    (libc::SIGUSR2, "USR2"),
    (libc::SIGPIPE, "PIPE"),
    (libc::SIGALRM, "ALRM"),
    (libc::SIGTERM, "TERM"),
    (libc::SIGSTKFLT, "STKFLT"),
    (libc::SIGCHLD, "CHLD"),
    (libc::SIGCONT, "CONT"),
    (libc::SIGSTOP, "STOP"),
    (libc::SIGTSTP, "TSTP"),
    (libc::SIGTTIN, "TTIN"),
    (libc::SIGTTOU, "TTOU"),
    (libc::SIGURG, "URG"),
    (libc::SIGXCPU, "XCPU"),
    (libc::SIGXFSZ, "XFSZ"),
    (libc::SIGVTALRM, "VTALRM"),
    (libc::SIGPROF, "PROF"),
    (libc::SIGWINCH, "WINCH"),
    (libc::SIGIO, "IO"),
    (libc::SIGPWR, "PWR"),
    (libc::SIGSYS, "SYS"),
];

/// The name of a signal without `SIG` (`SEGV`), if it has one.
pub fn signal_name(sig: libc::c_int) -> Option<&'static str> {
    SIGNAL_NAMES
        .iter()
        .find(|(n, _)| *n == sig)
        .map(|(_, name)| *name)
}

/// The number of a signal named without `SIG` (`SEGV`).
pub fn signal_number(name: &str) -> Option<libc::c_int> {
    SIGNAL_NAMES
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(sig, _)| *sig)
}

/// A signal's name, or its number when it has none (real-time signals).
fn signal_text(sig: libc::c_int) -> String {
    signal_name(sig).map_or_else(|| sig.to_string(), str::to_string)
}

/// Why a state file could not be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StateParseError {
    /// A line without `=`.
    #[error("state file line {line}: not a key=value line")]
    NotKeyValue {
        /// The line number, from 1.
        line: usize,
    },
    /// A line the format needs is missing.
    #[error("state file has no '{key}=' line")]
    Missing {
        /// The key.
        key: &'static str,
    },
    /// A file written by a later, incompatible version.
    #[error("state file version '{version}' is not supported (only {STATE_VERSION})")]
    Version {
        /// The version found.
        version: String,
    },
    /// A value that is not what its key allows.
    #[error("state file line {line}: '{key}' cannot be '{value}'")]
    BadValue {
        /// The line number, from 1.
        line: usize,
        /// The key.
        key: String,
        /// The value found.
        value: String,
    },
}

/// Everything a state file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisorState {
    /// The supervisor's PID.
    pub supervisor: u32,
    /// What it is doing.
    pub phase: Phase,
    /// The running client's PID, if one runs.
    pub client: Option<u32>,
    /// How often a client was started again since the supervisor started.
    pub respawns: u32,
    /// How the last client ended (none before the first exit).
    pub last_exit: Option<ClientExit>,
    /// When the last client ended, in seconds since the epoch.
    pub last_exit_time: Option<u64>,
    /// Why the supervisor failed or exited; empty otherwise.
    pub reason: String,
    /// The log file, when the output is logged.
    pub log_file: Option<String>,
    /// The last write error of the log writer; empty while it writes.
    pub log_error: String,
    /// Bytes of output lost to write errors, in all.
    pub log_dropped: u64,
}

impl SupervisorState {
    /// The state of a supervisor that has just started.
    pub fn new(supervisor: u32, log_file: Option<String>) -> SupervisorState {
        SupervisorState {
            supervisor,
            phase: Phase::Starting,
            client: None,
            respawns: 0,
            last_exit: None,
            last_exit_time: None,
            reason: String::new(),
            log_file,
            log_error: String::new(),
            log_dropped: 0,
        }
    }

    /// The file's text: every key on a line of its own, in a fixed order.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(256);
        let mut line = |key: &str, value: &str| {
            let _ = writeln!(out, "{key}={}", one_line(value));
        };
        line("version", &STATE_VERSION.to_string());
        line("supervisor", &self.supervisor.to_string());
        line("state", self.phase.as_str());
        line(
            "client",
            &self.client.map(|p| p.to_string()).unwrap_or_default(),
        );
        line("respawns", &self.respawns.to_string());
        let exit = self.last_exit.map(ClientExit::state_text);
        line("last_exit", exit.as_deref().unwrap_or(""));
        let time = self.last_exit_time.map(|t| t.to_string());
        line("last_exit_time", time.as_deref().unwrap_or(""));
        line("reason", &self.reason);
        line("log_file", self.log_file.as_deref().unwrap_or(""));
        line("log_error", &self.log_error);
        line("log_dropped", &self.log_dropped.to_string());
        out
    }

    /// Reads a state file's text. `version`, `supervisor` and `state` must be there;
    /// the other keys default to empty; unknown keys are skipped; a repeated key's last
    /// line counts.
    pub fn parse(text: &str) -> Result<SupervisorState, StateParseError> {
        let mut version = None;
        let mut supervisor = None;
        let mut phase = None;
        let mut state = SupervisorState::new(0, None);
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            if raw.is_empty() {
                continue;
            }
            let (key, value) = raw
                .split_once('=')
                .ok_or(StateParseError::NotKeyValue { line })?;
            let bad = || StateParseError::BadValue {
                line,
                key: key.to_string(),
                value: value.to_string(),
            };
            match key {
                "version" => version = Some(value.to_string()),
                "supervisor" => supervisor = Some(value.parse().map_err(|_| bad())?),
                "state" => phase = Some(Phase::from_word(value).ok_or_else(bad)?),
                _ => state.set_optional(key, value).ok_or_else(bad)?,
            }
        }
        match version {
            None => return Err(StateParseError::Missing { key: "version" }),
            Some(v) if v != STATE_VERSION.to_string() => {
                return Err(StateParseError::Version { version: v })
            }
            Some(_) => {}
        }
        state.supervisor = supervisor.ok_or(StateParseError::Missing { key: "supervisor" })?;
        state.phase = phase.ok_or(StateParseError::Missing { key: "state" })?;
        Ok(state)
    }

    /// Sets the field of a key other than version, supervisor and state; `None` when
    /// the value does not fit the key (unknown keys are accepted and skipped).
    fn set_optional(&mut self, key: &str, value: &str) -> Option<()> {
        fn opt<T: std::str::FromStr>(value: &str) -> Option<Option<T>> {
            if value.is_empty() {
                Some(None)
            } else {
                value.parse().ok().map(Some)
            }
        }
        let text = || (!value.is_empty()).then(|| value.to_string());
        match key {
            "client" => self.client = opt(value)?,
            "respawns" => self.respawns = value.parse().ok()?,
            "last_exit" if value.is_empty() => self.last_exit = None,
            "last_exit" => self.last_exit = Some(ClientExit::parse_state_text(value)?),
            "last_exit_time" => self.last_exit_time = opt(value)?,
            "reason" => self.reason = value.to_string(),
            "log_file" => self.log_file = text(),
            "log_error" => self.log_error = value.to_string(),
            "log_dropped" => self.log_dropped = value.parse().ok()?,
            _ => {}
        }
        Some(())
    }
}

/// `value` on one line: line breaks become spaces.
fn one_line(value: &str) -> String {
    value.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> SupervisorState {
        SupervisorState {
            supervisor: 1234,
            phase: Phase::Failed,
            client: None,
            respawns: 5,
            last_exit: Some(ClientExit::Status(3)),
            last_exit_time: Some(1_700_000_000),
            reason: "exited 6 times within 60 s".into(),
            log_file: Some("/var/log/web/web.log".into()),
            log_error: "No space left on device (os error 28)".into(),
            log_dropped: 4096,
        }
    }

    #[test]
    fn round_trip_of_every_phase_and_exit() {
        for phase in Phase::ALL {
            for exit in [
                None,
                Some(ClientExit::Status(0)),
                Some(ClientExit::Status(255)),
                Some(ClientExit::Signal(libc::SIGKILL)),
                Some(ClientExit::Signal(40)),
            ] {
                let mut state = full();
                state.phase = phase;
                state.last_exit = exit;
                state.client = Some(99);
                let text = state.to_text();
                assert_eq!(SupervisorState::parse(&text), Ok(state), "{text}");
            }
        }
    }

    #[test]
    fn fresh_state_has_empty_values() {
        let text = SupervisorState::new(7, None).to_text();
        assert_eq!(
            text,
            "version=1\nsupervisor=7\nstate=starting\nclient=\nrespawns=0\nlast_exit=\n\
             last_exit_time=\nreason=\nlog_file=\nlog_error=\nlog_dropped=0\n"
        );
        assert_eq!(
            SupervisorState::parse(&text),
            Ok(SupervisorState::new(7, None))
        );
    }

    #[test]
    fn newlines_in_values_become_spaces() {
        let mut state = full();
        state.reason = "first\nsecond\r\nthird".into();
        let text = state.to_text();
        assert_eq!(text.lines().count(), 11);
        assert!(text.contains("\nreason=first second  third\n"), "{text}");
        let back = SupervisorState::parse(&text).unwrap();
        assert_eq!(back.reason, "first second  third");
    }

    #[test]
    fn values_may_contain_equals_signs_and_unknown_keys_are_skipped() {
        let text = "version=1\nsupervisor=3\nstate=running\nreason=a=b\nfuture=x\n";
        let state = SupervisorState::parse(text).unwrap();
        assert_eq!(state.reason, "a=b");
        assert_eq!(state.phase, Phase::Running);
    }

    #[test]
    fn broken_files_are_refused_with_the_line() {
        let cases = [
            ("supervisor=3\nstate=running\n", "no 'version=' line"),
            ("version=2\nsupervisor=3\nstate=running\n", "version '2'"),
            ("version=1\nstate=running\n", "no 'supervisor=' line"),
            ("version=1\nsupervisor=3\n", "no 'state=' line"),
            (
                "version=1\nsupervisor=x\nstate=running\n",
                "line 2: 'supervisor'",
            ),
            ("version=1\nsupervisor=3\nstate=asleep\n", "line 3: 'state'"),
            (
                "version=1\nsupervisor=3\nstate=running\nclient",
                "line 4: not a key",
            ),
            (
                "version=1\nsupervisor=3\nstate=running\nlast_exit=crashed",
                "'last_exit'",
            ),
            (
                "version=1\nsupervisor=3\nstate=running\nlog_dropped=-1",
                "'log_dropped'",
            ),
        ];
        for (text, wanted) in cases {
            let err = SupervisorState::parse(text).unwrap_err().to_string();
            assert!(err.contains(wanted), "{text:?}: {err}");
        }
    }

    #[test]
    fn exits_read_and_described() {
        assert_eq!(
            ClientExit::parse_state_text("signal 9"),
            Some(ClientExit::Signal(9))
        );
        assert_eq!(
            ClientExit::parse_state_text("signal TERM"),
            Some(ClientExit::Signal(libc::SIGTERM))
        );
        assert_eq!(ClientExit::parse_state_text("status x"), None);
        assert_eq!(ClientExit::Signal(libc::SIGTERM).exit_code(), 143);
        assert_eq!(ClientExit::Status(4).describe(), "exited with status 4");
        assert_eq!(
            ClientExit::Signal(libc::SIGSEGV).describe(),
            "was killed by signal SEGV"
        );
        for (sig, name) in SIGNAL_NAMES {
            assert_eq!(signal_number(name), Some(sig));
        }
    }
}
