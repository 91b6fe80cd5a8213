//! Integration tests of `nixproc-sysvinit-supervise` with real processes: start and stop,
//! respawn, giving up, a stop during the respawn delay, settle, forwarded signals, the
//! kill delay, descendants left behind, a fast producer across log rotations, and
//! `--user` with a user the test creates. Every process is cleaned up by a guard; every
//! wait is bounded.

use crate::common;

use common::*;
use nixproc_sysvinit::supervise::state::{ClientExit, Phase, SupervisorState};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The supervisor binary of this build.
fn supervise_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_nixproc-sysvinit-supervise"))
}

/// How long any one thing may take before a test fails.
const TIMEOUT: Duration = Duration::from_secs(15);

/// A supervisor's directory (PID files, state, log, client scripts) and the guard of its
/// processes (dropped first: fields drop in order).
struct Supervised {
    guard: ProcessGuard,
    name: String,
    dir: TestDir,
}

impl Supervised {
    fn new(name: &str) -> Supervised {
        let dir = TestDir::new(&format!("supervise-{name}-"));
        let mut guard = ProcessGuard::new();
        guard.pid_file(dir.path().join(format!("{name}.pid")));
        guard.marker(dir.path().to_str().expect("utf-8 path").to_string());
        Supervised {
            guard,
            name: name.to_string(),
            dir,
        }
    }

    /// Writes the client script `file` (a /bin/sh script) and returns its path.
    fn script(&self, file: &str, body: &str) -> String {
        let path = self.dir.write(file, &format!("#!/bin/sh\n{body}\n"), 0o755);
        path.to_str().expect("utf-8 path").to_string()
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    fn log_path(&self) -> String {
        self.path(&format!("{}.log", self.name))
            .display()
            .to_string()
    }

    /// Runs the supervisor: `--name`, `--pidfiles`, `--output`, then `options`, then
    /// `-- program`.
    fn run(&self, options: &[&str], program: &[&str]) -> Run {
        let name = format!("--name={}", self.name);
        let pidfiles = format!("--pidfiles={}", self.dir.path().display());
        let output = format!("--output={}", self.log_path());
        let mut args = vec![name.as_str(), pidfiles.as_str(), output.as_str()];
        args.extend_from_slice(options);
        args.push("--");
        args.extend_from_slice(program);
        run_script(self.dir.path(), &supervise_bin(), &args, &[])
    }

    fn start(&self, options: &[&str], program: &[&str]) -> i32 {
        let run = self.run(options, program);
        assert_eq!(
            run.code,
            0,
            "the start failed: {run:?}\nlog:\n{}",
            self.log()
        );
        let pid = self.pid().expect("a PID file after the start");
        assert!(pid_alive(pid), "the supervisor {pid} is not running");
        pid
    }

    fn pid(&self) -> Option<i32> {
        read_pid(&self.path(&format!("{}.pid", self.name)))
    }

    fn client(&self) -> Option<i32> {
        read_pid(&self.path(&format!("{}.clientpid", self.name)))
    }

    fn state_text(&self) -> String {
        fs::read_to_string(self.path(&format!("{}.state", self.name))).unwrap_or_default()
    }

    fn state(&self) -> SupervisorState {
        let text = self.state_text();
        SupervisorState::parse(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"))
    }

    fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Waits until `cond` holds, else fails showing `what`, the state and the log.
    fn wait(&self, what: &str, cond: impl FnMut() -> bool) {
        if !wait_until(TIMEOUT, cond) {
            panic!(
                "timed out waiting for {what}\nstate:\n{}\nlog:\n{}",
                self.state_text(),
                self.log()
            );
        }
    }

    fn wait_phase(&self, phase: Phase) {
        self.wait(phase.as_str(), || {
            SupervisorState::parse(&self.state_text()).is_ok_and(|s| s.phase == phase)
        });
    }

    /// Sends SIGTERM to the supervisor and waits until it and `client` are gone.
    fn stop(&self, supervisor: i32, client: Option<i32>) {
        signal(supervisor, libc::SIGTERM);
        self.wait("the supervisor to exit", || !pid_alive(supervisor));
        if let Some(client) = client {
            self.wait("the client to be gone", || !pid_alive(client));
        }
    }
}

fn signal(pid: i32, sig: i32) {
    assert!(pid > 1);
    // SAFETY: kill(2) has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill {pid}");
}

#[test]
fn starts_daemonized_and_stops_on_term() {
    let s = Supervised::new("basic");
    let client_script = s.script(
        "client",
        "echo \"client $$ up\"\necho oops >&2\nexec sleep 1000",
    );
    let supervisor = s.start(&[], &[&client_script]);
    s.wait("the client", || s.client().is_some_and(pid_alive));
    let client = s.client().unwrap();
    assert_eq!(
        parent_of(client),
        Some(supervisor),
        "the client is the supervisor's child"
    );
    assert_eq!(
        session_of(supervisor),
        Some(supervisor),
        "the supervisor leads a session"
    );
    // The library finds a supervisor by these words of its command line.
    let cmdline = fs::read(format!("/proc/{supervisor}/cmdline")).unwrap();
    let words: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let name = format!("--name={}", s.name);
    let pidfiles = format!("--pidfiles={}", s.dir.path().display());
    assert!(words.contains(&name.as_bytes()) && words.contains(&pidfiles.as_bytes()));
    s.wait("the client's output", || s.log().contains("oops\n"));
    assert_eq!(s.log(), format!("client {client} up\noops\n"));
    let state = s.state();
    assert_eq!(state.phase, Phase::Running);
    assert_eq!(state.supervisor, supervisor as u32);
    assert_eq!(state.client, Some(client as u32));
    assert_eq!(state.log_file.as_deref(), Some(s.log_path().as_str()));
    let mode = fs::metadata(s.path("basic.pid")).unwrap().mode();
    assert_eq!(mode & 0o777, 0o644);

    s.stop(supervisor, Some(client));
    assert!(!s.path("basic.pid").exists() && !s.path("basic.clientpid").exists());
    let state = s.state();
    assert_eq!(state.phase, Phase::Stopped);
    assert_eq!(state.client, None);
    assert_eq!(state.last_exit, Some(ClientExit::Signal(libc::SIGTERM)));
    assert!(
        s.log()
            .ends_with("\nnixproc-sysvinit-supervise: basic stopped\n"),
        "{}",
        s.log()
    );
}

#[test]
fn a_second_supervisor_of_the_same_name_is_refused() {
    let s = Supervised::new("twice");
    let supervisor = s.start(&[], &["/bin/sleep", "1000"]);
    let run = s.run(&[], &["/bin/sleep", "1000"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_contains(
        &run.stderr,
        &format!("twice is already supervised (PID {supervisor})"),
    );
    assert_eq!(s.pid(), Some(supervisor));
    s.stop(supervisor, None);
}

#[test]
fn a_crashed_client_is_started_again() {
    let s = Supervised::new("respawn");
    let client_script = s.script("client", "echo \"run $$\"\nexec sleep 1000");
    let supervisor = s.start(&["--respawn", "--respawn-delay=0.2"], &[&client_script]);
    s.wait("the client", || s.client().is_some_and(pid_alive));
    let first = s.client().unwrap();
    s.wait("the first client's output", || {
        s.log().contains(&format!("run {first}\n"))
    });
    signal(first, libc::SIGKILL);
    s.wait("a new client", || {
        s.client().is_some_and(|c| c != first && pid_alive(c)) && s.state().respawns == 1
    });
    let second = s.client().unwrap();
    assert_eq!(parent_of(second), Some(supervisor));
    let state = s.state();
    assert_eq!(state.phase, Phase::Running);
    assert_eq!(state.last_exit, Some(ClientExit::Signal(libc::SIGKILL)));
    assert!(state.last_exit_time.is_some());
    s.wait("the second client's output", || {
        s.log().contains(&format!("run {second}"))
    });
    assert_eq!(
        s.log(),
        format!(
            "run {first}\nnixproc-sysvinit-supervise: respawn was killed by signal KILL; \
             restarting in 0.2 s (restart 1 of 5 within 60 s)\nrun {second}\n"
        )
    );
    s.stop(supervisor, Some(second));
}

#[test]
fn gives_up_after_the_attempts_and_says_so_in_the_state_file() {
    let s = Supervised::new("giveup");
    let client_script = s.script("client", "echo run\nexit 3");
    let options = [
        "--foreground",
        "--respawn",
        "--respawn-delay=0.05",
        "--respawn-attempts=3",
    ];
    let run = s.run(&options, &[&client_script]);
    assert_eq!(run.code, 1, "{run:?}");
    let state = s.state();
    assert_eq!(state.phase, Phase::Failed);
    assert_eq!(state.reason, "exited 4 times within 60 s");
    assert_eq!(state.respawns, 3);
    assert_eq!(state.last_exit, Some(ClientExit::Status(3)));
    // The PID file stays, so that `status` says "dead, PID file exists".
    assert!(s.path("giveup.pid").exists());
    assert!(!s.path("giveup.clientpid").exists());
    let log = s.log();
    assert_eq!(log.matches("run\n").count(), 4, "{log}");
    assert_contains(&log, "(restart 3 of 3 within 60 s)\nrun\n");
    assert!(
        log.ends_with("giveup exited with status 3; gave up (exited 4 times within 60 s)\n"),
        "{log}"
    );
}

#[test]
fn without_respawn_the_supervisor_exits_with_the_clients_status() {
    let s = Supervised::new("once");
    let run = s.run(&["--foreground"], &["/bin/sh", "-c", "echo done; exit 7"]);
    assert_eq!(run.code, 7, "{run:?}");
    let state = s.state();
    assert_eq!(
        (state.phase, state.reason.as_str()),
        (Phase::Exited, "exited with status 7")
    );
    assert!(!s.path("once.pid").exists());
    assert_eq!(
        s.log(),
        "done\nnixproc-sysvinit-supervise: once exited with status 7\n"
    );
}

#[test]
fn a_stop_during_the_respawn_delay_starts_no_client() {
    let s = Supervised::new("delay");
    let runs = s.path("runs");
    let client_script = s.script("client", &format!("echo $$ >>'{}'\nexit 1", runs.display()));
    let supervisor = s.start(&["--respawn", "--respawn-delay=30"], &[&client_script]);
    s.wait_phase(Phase::Restarting);
    let asked = Instant::now();
    s.stop(supervisor, None);
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "the stop waited for the delay"
    );
    let state = s.state();
    assert_eq!(
        (state.phase, state.respawns, state.client),
        (Phase::Stopped, 0, None)
    );
    assert_eq!(fs::read_to_string(&runs).unwrap().lines().count(), 1);
    assert!(!s.path("delay.pid").exists());
}

#[test]
fn a_client_that_exits_during_settle_fails_the_start() {
    let s = Supervised::new("settle");
    let client_script = s.script("client", "sleep 0.3\necho bye\nexit 4");
    let started = Instant::now();
    let run = s.run(&["--settle=5", "--respawn"], &[&client_script]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "it waited for the whole settle time"
    );
    assert_contains(&run.stderr, "settle exited during start with status 4");
    assert!(!s.path("settle.pid").exists() && !s.path("settle.clientpid").exists());
    let state = s.state();
    assert_eq!((state.phase, state.respawns), (Phase::Failed, 0));
    assert_eq!(state.reason, "exited during start with status 4");
    assert_contains(&s.log(), "bye\n");
}

#[test]
fn a_start_with_settle_returns_once_the_client_lived_that_long() {
    let s = Supervised::new("settled");
    let started = Instant::now();
    let supervisor = s.start(&["--settle=0.5"], &["/bin/sleep", "1000"]);
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert_eq!(s.state().phase, Phase::Running);
    s.stop(supervisor, s.client());
}

#[test]
fn a_program_that_cannot_run_fails_the_start() {
    let s = Supervised::new("missing");
    let run = s.run(&[], &["/nonexistent/program"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_contains(
        &run.stderr,
        "nixproc-sysvinit-supervise: cannot run /nonexistent/program: No such file or directory",
    );
    assert!(!s.path("missing.pid").exists());
    assert_eq!(s.state().phase, Phase::Failed);
    let dir = s.path("nowhere");
    let chdir = format!("--chdir={}", dir.display());
    let run = s.run(&[&chdir], &["/bin/true"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_contains(
        &run.stderr,
        &format!("cannot change to the directory {}", dir.display()),
    );
}

#[test]
fn hup_usr1_and_usr2_reach_the_client() {
    let s = Supervised::new("signals");
    let body = "for sig in HUP USR1 USR2; do trap \"echo got $sig\" $sig; done\n\
                echo ready\nwhile :; do sleep 0.05; done";
    let client_script = s.script("client", body);
    let supervisor = s.start(&[], &[&client_script]);
    s.wait("the client", || s.log().contains("ready\n"));
    for sig in [libc::SIGHUP, libc::SIGUSR1, libc::SIGUSR2] {
        signal(supervisor, sig);
        s.wait("the signal to arrive", || {
            s.log().matches("got ").count() == sig_index(sig)
        });
    }
    // The shell also reports its `sleep` killed by each signal; only its traps count.
    let log = s.log();
    let got: Vec<&str> = log.lines().filter(|l| l.starts_with("got ")).collect();
    assert_eq!(got, ["got HUP", "got USR1", "got USR2"], "{log}");
    assert_eq!(s.state().phase, Phase::Running);
    s.stop(supervisor, s.client());
}

fn sig_index(sig: i32) -> usize {
    match sig {
        libc::SIGHUP => 1,
        libc::SIGUSR1 => 2,
        _ => 3,
    }
}

#[test]
fn a_client_that_ignores_term_is_killed_after_the_kill_delay() {
    let s = Supervised::new("stubborn");
    let client_script = s.script("client", "trap '' TERM\necho ready\nexec sleep 1000");
    let supervisor = s.start(&["--kill-delay=0.5"], &[&client_script]);
    s.wait("the client", || s.log().contains("ready\n"));
    let client = s.client().unwrap();
    let asked = Instant::now();
    s.stop(supervisor, Some(client));
    assert!(asked.elapsed() >= Duration::from_millis(500));
    assert_eq!(s.state().last_exit, Some(ClientExit::Signal(libc::SIGKILL)));
    assert_contains(&s.log(), "stubborn did not stop within 0.5 s; killing it\n");
}

#[test]
fn descendants_the_client_leaves_behind_are_ended_on_stop() {
    let mut s = Supervised::new("family");
    let pids = s.path("descendants");
    // One ignores SIGTERM in the client's process group; one leaves it with setsid.
    let body = format!(
        "(trap '' TERM; exec sleep 1001) &\necho $! >>'{p}'\n\
         setsid sleep 1002 &\necho $! >>'{p}'\necho ready\nexec sleep 1000",
        p = pids.display()
    );
    let client_script = s.script("client", &body);
    let supervisor = s.start(&[], &[&client_script]);
    s.wait("the client", || s.log().contains("ready\n"));
    let descendants: Vec<i32> = fs::read_to_string(&pids)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(descendants.len(), 2);
    for pid in &descendants {
        s.guard.pid(*pid);
    }
    assert!(descendants.iter().all(|p| pid_alive(*p)));
    s.stop(supervisor, s.client());
    for pid in descendants {
        assert!(!pid_alive(pid), "descendant {pid} outlived its supervisor");
    }
    assert_eq!(s.state().phase, Phase::Stopped);
}

#[test]
fn a_log_that_cannot_be_written_is_reported_in_the_state_file_until_it_can() {
    let s = Supervised::new("badlog");
    // A directory where the log should be: the open fails until it goes.
    fs::create_dir(s.log_path()).unwrap();
    let client_script = s.script("client", "while :; do echo tick; sleep 0.05; done");
    let supervisor = s.start(&[], &[&client_script]);
    s.wait("the error in the state file", || {
        let state = s.state();
        state.log_error.contains("cannot open") && state.log_dropped >= 10
    });
    assert_contains(&s.state().log_error, &s.log_path());
    fs::remove_dir(s.log_path()).unwrap();
    s.wait("the log to be written", || s.log().contains("tick\n"));
    s.wait("the error to be cleared", || s.state().log_error.is_empty());
    let log = s.log();
    let first = log.lines().next().unwrap_or("");
    assert!(
        first.starts_with("nixproc-sysvinit-supervise: ")
            && first.contains(" bytes of output were lost: cannot open")
            && first.ends_with("Is a directory (os error 21)"),
        "{log}"
    );
    let lost: u64 = first["nixproc-sysvinit-supervise: ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count of lost bytes");
    assert!(
        s.state().log_dropped >= lost && lost >= 10,
        "{lost}: {:?}",
        s.state()
    );
    s.stop(supervisor, s.client());
}

/// The numbers of numbered lines `NNNNNNNN xxx...`, each checked to be whole.
fn line_numbers(text: &str, pad: &str, file: &str) -> Vec<u64> {
    text.lines()
        .map(|line| {
            let (n, rest) = line.split_once(' ').unwrap_or((line, ""));
            assert_eq!(rest, pad, "{file}: a broken line: {line:?}");
            n.parse()
                .unwrap_or_else(|_| panic!("{file}: a broken line: {line:?}"))
        })
        .collect()
}

/// The numbers of the lines in the log files LOG.20 .. LOG.1, LOG (each file at most
/// 512 KiB and a line, a rotated one full to within a line, all lines whole), and how
/// many files there are.
fn rotated_line_numbers(s: &Supervised, pad: &str) -> (Vec<u64>, usize) {
    const MAX: u64 = 524_288;
    let mut numbers = Vec::new();
    let mut files = 0;
    for k in (0..=20).rev() {
        let file = match k {
            0 => s.log_path(),
            k => format!("{}.{k}", s.log_path()),
        };
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        files += 1;
        let size = text.len() as u64;
        assert!(size <= MAX + 100, "{file} has {size} bytes");
        assert!(k == 0 || size > MAX - 100, "{file} has only {size} bytes");
        assert!(text.ends_with('\n'), "{file} ends inside a line");
        numbers.extend(line_numbers(&text, pad, &file));
    }
    (numbers, files)
}

#[test]
fn a_fast_producer_is_logged_in_whole_lines_across_rotations() {
    const ROUNDS: u64 = 40;
    const PER_ROUND: u64 = 2_000;
    let s = Supervised::new("producer");
    let pad = "x".repeat(90);
    // About 4 MB/s: 2000 lines of 100 bytes every 50 ms, 8 MB in all.
    let body = format!(
        "i=0\nwhile [ $i -lt {ROUNDS} ]; do\n\
         seq -f '%08.0f {pad}' $((i * {PER_ROUND} + 1)) $((i * {PER_ROUND} + {PER_ROUND}))\n\
         sleep 0.05\ni=$((i + 1))\ndone\nexec sleep 1000"
    );
    let client_script = s.script("client", &body);
    let started = Instant::now();
    let supervisor = s.start(
        &["--log-max-size=524288", "--log-keep=20"],
        &[&client_script],
    );
    s.wait("the client", || s.client().is_some());
    let client = s.client().unwrap();
    let last = format!("{:08} {pad}\n", ROUNDS * PER_ROUND);
    let finished = wait_until(Duration::from_secs(60), || {
        assert_eq!(s.client(), Some(client), "the client changed");
        s.log().ends_with(&last)
    });
    assert!(
        finished,
        "the producer's last line never came:\n{}",
        s.state_text()
    );
    let rate = (ROUNDS * PER_ROUND * 100) as f64 / started.elapsed().as_secs_f64();
    assert!(
        rate > 1_048_576.0,
        "the producer wrote only {rate:.0} bytes/s"
    );
    let (numbers, files) = rotated_line_numbers(&s, &pad);
    assert!(files >= 15, "only {files} log files");
    let expected: Vec<u64> = (1..=ROUNDS * PER_ROUND).collect();
    assert!(numbers == expected, "lines are missing or out of order");
    assert!(!s.path("producer.log.21").exists());
    let state = s.state();
    assert_eq!((state.respawns, state.client), (0, Some(client as u32)));
    assert_eq!((state.log_error.as_str(), state.log_dropped), ("", 0));
    s.stop(supervisor, Some(client));
}

#[test]
fn runs_as_the_given_user() {
    if !is_root() {
        eprintln!("skipped: only root can create the user this test runs as");
        return;
    }
    let user = UserGuard::create("nsupv");
    let s = Supervised::new("asuser");
    let chown = |p: &std::path::Path| {
        std::os::unix::fs::chown(p, Some(user.uid), None).expect("chown the test directory")
    };
    chown(s.dir.path());
    let client_script = s.script("client", "id -u\nexec sleep 1000");
    let as_user = format!("--user={}", user.name);
    let supervisor = s.start(&[&as_user], &[&client_script]);
    s.wait("the client", || s.client().is_some_and(pid_alive));
    let client = s.client().unwrap();
    assert_eq!(uid_of(supervisor), Some(user.uid));
    assert_eq!(uid_of(client), Some(user.uid));
    let status = fs::read_to_string(format!("/proc/{supervisor}/status")).unwrap();
    let groups = status.lines().find(|l| l.starts_with("Groups:")).unwrap();
    assert!(!groups.split_whitespace().any(|g| g == "0"), "{groups}");
    for file in [
        "asuser.pid",
        "asuser.clientpid",
        "asuser.state",
        "asuser.log",
    ] {
        assert_eq!(
            fs::metadata(s.path(file)).unwrap().uid(),
            user.uid,
            "{file}"
        );
    }
    s.wait("the client's output", || {
        s.log() == format!("{}\n", user.uid)
    });
    s.stop(supervisor, Some(client));
}

#[test]
fn only_root_may_name_another_user() {
    if !is_root() {
        eprintln!("skipped: only root can create the user this test runs as");
        return;
    }
    let user = UserGuard::create("nsupw");
    let other = Supervised::new("notroot");
    std::os::unix::fs::chown(other.dir.path(), Some(user.uid), None).expect("chown");
    let args = [
        "-u".to_string(),
        user.name.clone(),
        "--".into(),
        supervise_bin().display().to_string(),
        "--name=notroot".into(),
        format!("--pidfiles={}", other.dir.path().display()),
        "--user=root".into(),
        "--".into(),
        "/bin/true".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_script(other.dir.path(), "/usr/sbin/runuser".as_ref(), &args, &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_contains(
        &run.stderr,
        "cannot run as root: only root can change the user",
    );
    assert!(!other.path("notroot.pid").exists());
}

#[test]
fn usage_errors_exit_2_with_the_programs_name() {
    let dir = TestDir::new("supervise-usage-");
    let pidfiles = format!("--pidfiles={}", dir.path().display());
    let cases: [(&[&str], &str); 6] = [
        (
            &["--name=a", &pidfiles, "--bogus", "--", "/bin/true"],
            "--bogus",
        ),
        (&["--name", "a", &pidfiles, "--", "/bin/true"], "equal sign"),
        (
            &["--name=a/b", &pidfiles, "--", "/bin/true"],
            "-._a-zA-Z0-9",
        ),
        (
            &["--name=a", &pidfiles, "--settle=soon", "--", "/bin/true"],
            "'soon'",
        ),
        (
            &["--name=a", &pidfiles, "--umask=999", "--", "/bin/true"],
            "umask",
        ),
        (&["--name=a", &pidfiles], "PROGRAM"),
    ];
    for (args, wanted) in cases {
        let run = run_script(dir.path(), &supervise_bin(), args, &[]);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(
            run.stderr.starts_with("nixproc-sysvinit-supervise: ") && run.stderr.contains(wanted),
            "{args:?}: {}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
    }
    assert!(!dir.path().join("a.pid").exists());
}
