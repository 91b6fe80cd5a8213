//! `nixproc-sysvinit-supervise`: runs a foreground program as a supervised daemon: PID
//! files, a size-rotating log of its output, respawn after a crash, and a state file.
//!
//! Every option is one argument `--option=value` (the init-functions library finds a
//! supervisor by `--name=NAME` and `--pidfiles=DIR` in its command line). Usage errors
//! exit 2, other failures 1. `--launch --cgroup=DIR -- PROGRAM ARGS` supervises
//! nothing: it runs PROGRAM in the cgroup DIR and exits with its status (how the library
//! starts a self-daemonizing program in its service's cgroup).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::Parser;

use crate::supervise::{self, parse_name, parse_secs, parse_umask};

/// The program's name, the start of each of its messages.
const ME: &str = "nixproc-sysvinit-supervise";

/// Supervise a foreground program: daemonize, keep DIR/NAME.pid (the supervisor) and
/// DIR/NAME.clientpid (the program), log its output, respawn it, and record its state in
/// DIR/NAME.state.
#[derive(Parser, Debug)]
#[command(name = ME, version)]
pub struct Options {
    /// The service's name (-._a-zA-Z0-9): the PID files are DIR/NAME.pid and .clientpid.
    #[arg(long, value_name = "NAME", require_equals = true, value_parser = parse_name,
          required_unless_present = "launch")]
    name: Option<String>,
    /// The directory of the PID and state files.
    #[arg(
        long,
        value_name = "DIR",
        require_equals = true,
        required_unless_present = "launch"
    )]
    pidfiles: Option<PathBuf>,
    /// The cgroup (v2) directory the supervisor, and all it starts, is born in (made when
    /// missing).
    #[arg(long, value_name = "DIR", require_equals = true)]
    cgroup: Option<PathBuf>,
    /// A cgroup v1 directory to join as well (repeatable).
    #[arg(long = "cgroup-v1", value_name = "DIR", require_equals = true)]
    cgroup_v1: Vec<PathBuf>,
    /// Supervise nothing: run the program in the cgroups and exit with its status.
    #[arg(long, conflicts_with_all = ["name", "pidfiles", "output", "user", "respawn", "foreground"])]
    launch: bool,
    /// Log the program's standard output and error to this file.
    #[arg(long, value_name = "LOGFILE", require_equals = true)]
    output: Option<PathBuf>,
    /// Rotate the log before it grows beyond BYTES (0: never).
    #[arg(long, value_name = "BYTES", require_equals = true, default_value_t = 0)]
    log_max_size: u64,
    /// Rotated log files kept: LOGFILE.1 (the newest) to LOGFILE.N; 0 truncates instead.
    #[arg(long, value_name = "N", require_equals = true,
          default_value_t = supervise::DEFAULT_LOG_KEEP)]
    log_keep: u32,
    /// Run as USER (the daemonized supervisor switches to it before it starts the program; only root may name another user).
    #[arg(long, value_name = "USER", require_equals = true)]
    user: Option<String>,
    /// The program's working directory.
    #[arg(long, value_name = "DIR", require_equals = true)]
    chdir: Option<PathBuf>,
    /// The program's umask (octal).
    #[arg(long, value_name = "OCTAL", require_equals = true, value_parser = parse_umask)]
    umask: Option<u32>,
    /// Start the program again when it exits.
    #[arg(long)]
    respawn: bool,
    /// Seconds to wait before starting it again.
    #[arg(long, value_name = "SECS", require_equals = true, value_parser = parse_secs,
          default_value = "1")]
    respawn_delay: Duration,
    /// Restarts allowed within the window before giving up.
    #[arg(long, value_name = "N", require_equals = true,
          default_value_t = supervise::DEFAULT_RESPAWN_ATTEMPTS)]
    respawn_attempts: u32,
    /// Seconds within which exits count against the attempts.
    #[arg(long, value_name = "SECS", require_equals = true, value_parser = parse_secs,
          default_value = "60")]
    respawn_window: Duration,
    /// Seconds the first program must live before the start counts as successful.
    #[arg(long, value_name = "SECS", require_equals = true, value_parser = parse_secs,
          default_value = "0")]
    settle: Duration,
    /// Seconds between SIGTERM and SIGKILL when stopping.
    #[arg(long, value_name = "SECS", require_equals = true, value_parser = parse_secs,
          default_value = "10")]
    kill_delay: Duration,
    /// Do not daemonize.
    #[arg(long)]
    foreground: bool,
    /// The program and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "PROGRAM [ARGS...]")]
    command: Vec<OsString>,
}

impl Options {
    /// The supervisor's settings these options give.
    fn into_options(self) -> supervise::Options {
        let mut command = self.command.into_iter();
        let program = command.next().unwrap_or_default();
        let name = self.name.unwrap_or_default();
        let pid_dir = self.pidfiles.unwrap_or_default();
        let mut options = supervise::Options::new(&name, &pid_dir, program);
        options.cgroup = self.cgroup;
        options.cgroups_v1 = self.cgroup_v1;
        options.args = command.collect();
        options.output = self.output;
        options.log_max_size = Some(self.log_max_size).filter(|m| *m > 0);
        options.log_keep = self.log_keep;
        options.user = self.user;
        options.chdir = self.chdir;
        options.umask = self.umask;
        options.respawn = self.respawn;
        options.respawn_delay = self.respawn_delay;
        options.respawn_attempts = self.respawn_attempts;
        options.respawn_window = self.respawn_window;
        options.settle = self.settle;
        options.kill_delay = self.kill_delay;
        options.foreground = self.foreground;
        options
    }
}

/// Supervises (or launches) as the parsed options say; usage errors exit 2, with clap's
/// message on one line.
pub fn main(parsed: Result<Options, clap::Error>) -> ExitCode {
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.exit()
        }
        Err(e) => {
            eprintln!("{ME}: {}", usage_message(&e));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("{ME}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Launches, or supervises; the exit status.
fn run(cli: Options) -> anyhow::Result<i32> {
    if cli.launch {
        let cgroups = supervise::launch::Cgroups::open(cli.cgroup.as_deref(), &cli.cgroup_v1)?;
        let Some((program, args)) = cli.command.split_first() else {
            anyhow::bail!("--launch needs a program after --");
        };
        return Ok(supervise::launch::run(&cgroups, program, args)?);
    }
    Ok(supervise::run(cli.into_options())?)
}

/// clap's message (its first paragraph) on one line, without its `error: ` prefix.
fn usage_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let paragraph: Vec<&str> = text
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let message = paragraph.join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    format!("{message} (see --help)")
}
