//! Processes: what the kernel says of a PID, and [`ProcessGuard`], which kills on drop
//! what a test started (PIDs, PID files, the whole session of daemons that made
//! themselves session leaders), pass or fail, and never an unrelated process.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use super::Run;

/// True when `pid` exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => match stat.rfind(')') {
            Some(i) => !matches!(stat[i + 1..].trim_start().chars().next(), Some('Z' | 'X')),
            None => false,
        },
        Err(_) => false,
    }
}

/// Asserts that `pid` is gone after `after` (the run that should have ended it); on
/// failure the message shows that run and what the kernel says of the process.
pub fn assert_gone(pid: i32, after: &Run) {
    if pid_alive(pid) {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        panic!(
            "process {pid} is still alive after {after:?}\nstat: {stat}cmdline: {:?}",
            String::from_utf8_lossy(&cmdline)
        );
    }
}

/// The session id of `pid`, if it exists.
pub fn session_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    // state ppid pgrp session
    rest.split_whitespace().nth(3)?.parse().ok()
}

/// The real uid of `pid`.
pub fn uid_of(pid: i32) -> Option<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The first PID in a PID file.
pub fn read_pid(path: &Path) -> Option<i32> {
    fs::read_to_string(path)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Live (non-zombie) processes whose command line contains `needle`.
pub fn pids_with_cmdline(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    let me = std::process::id() as i32;
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if pid == me || !pid_alive(pid) {
                continue;
            }
            if let Ok(raw) = fs::read(format!("/proc/{pid}/cmdline")) {
                let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
                if cmd.contains(needle) {
                    out.push(pid);
                }
            }
        }
    }
    out
}

pub(super) fn kill(pid: i32, sig: i32) {
    if pid > 1 {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// The variable that marks every process this test binary starts (inherited through
/// scripts, `start_daemon` and `daemon --inherit`; Nix builders get a clean environment).
const TAG_VARIABLE: &str = "NIXPROC_TEST_TAG";

/// This test binary's tag, put into its environment on first use. `set_var` runs once,
/// from whichever test makes the first guard while others may run; that is sound here
/// because the tests read and pass on the environment only through `std` (`Command`,
/// `env::var`), which takes the same lock as `set_var`.
fn test_tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let tag = format!("{}-{nanos}", std::process::id());
        std::env::set_var(TAG_VARIABLE, &tag);
        tag
    })
}

/// Start time of `pid` in clock ticks since boot (field 22 of /proc/PID/stat).
fn start_time_of(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Kills everything a test started when dropped: listed PIDs, the PIDs in listed PID
/// files (and their `.clientpid` companions), every live process in a session led by one
/// of those, and every live process whose command line contains a listed marker (for
/// example the test's temporary directory).
///
/// A PID read from a file at drop time may have been reused by an unrelated process, so
/// it is only killed when the process carries this test binary's tag in its environment
/// or a marker in its command line; an explicit PID only while it has the start time it
/// had when it was listed. Nothing else is ever signalled.
pub struct ProcessGuard {
    pids: Vec<(i32, Option<u64>)>,
    pid_files: Vec<PathBuf>,
    markers: Vec<String>,
}

impl Default for ProcessGuard {
    fn default() -> Self {
        test_tag();
        ProcessGuard {
            pids: Vec::new(),
            pid_files: Vec::new(),
            markers: Vec::new(),
        }
    }
}

impl ProcessGuard {
    /// An empty guard; from now on processes this test binary starts carry its tag.
    pub fn new() -> ProcessGuard {
        ProcessGuard::default()
    }

    /// Kills `pid` (and its session, if it leads one) on drop, if it is still the same
    /// process then.
    pub fn pid(&mut self, pid: i32) -> &mut Self {
        self.pids.push((pid, start_time_of(pid)));
        self
    }

    /// Kills whatever `path` names at drop time (if it is one of this test's processes).
    pub fn pid_file(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.pid_files.push(path.into());
        self
    }

    /// Kills every process whose command line contains `marker` on drop.
    pub fn marker(&mut self, marker: impl Into<String>) -> &mut Self {
        self.markers.push(marker.into());
        self
    }

    /// Whether `pid` is one of this test binary's processes: tagged or marked.
    fn belongs(&self, pid: i32) -> bool {
        let tagged = fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
            let wanted = format!("{TAG_VARIABLE}={}", test_tag());
            env.split(|b| *b == 0).any(|var| var == wanted.as_bytes())
        });
        tagged
            || fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|raw| {
                let cmd = String::from_utf8_lossy(&raw);
                self.markers.iter().any(|m| cmd.contains(m.as_str()))
            })
    }

    /// Kills everything now (also done on drop).
    pub fn cleanup(&mut self) {
        let mut targets: Vec<i32> = self
            .pids
            .iter()
            .filter(|(pid, started)| started.is_some() && start_time_of(*pid) == *started)
            .map(|(pid, _)| *pid)
            .collect();
        for f in &self.pid_files {
            let listed = [read_pid(f), read_pid(&f.with_extension("clientpid"))];
            targets.extend(listed.into_iter().flatten().filter(|p| self.belongs(*p)));
        }
        for m in &self.markers {
            targets.extend(pids_with_cmdline(m));
        }
        // Sessions led by one of ours: every member that started after its leader.
        let leaders: Vec<(i32, Option<u64>)> = targets
            .iter()
            .filter(|p| session_of(**p) == Some(**p))
            .map(|p| (*p, start_time_of(*p)))
            .collect();
        if !leaders.is_empty() {
            if let Ok(entries) = fs::read_dir("/proc") {
                for e in entries.flatten() {
                    let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok())
                    else {
                        continue;
                    };
                    let member_of = session_of(pid)
                        .and_then(|s| leaders.iter().find(|(leader, _)| *leader == s));
                    if let Some((_, Some(leader_start))) = member_of {
                        if start_time_of(pid).is_some_and(|t| t >= *leader_start) {
                            targets.push(pid);
                        }
                    }
                }
            }
        }
        let me = std::process::id() as i32;
        targets.retain(|p| *p > 1 && *p != me);
        targets.sort_unstable();
        targets.dedup();
        for p in &targets {
            if pid_alive(*p) {
                kill(*p, libc::SIGKILL);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while targets.iter().any(|p| pid_alive(*p)) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        for m in &self.markers {
            remove_service_cgroups(m);
        }
    }
}

/// Empties and removes the service cgroups of deployments whose runtime directory lies
/// under `dir` (a test's directory): what a test that failed half-way leaves behind.
pub fn remove_service_cgroups(dir: &str) {
    use nixproc_sysvinit::tree::service::{cgroup_root, cgroup_v1_roots, escape_path, CGROUP_DIR};
    let prefix = escape_path(dir);
    let roots = cgroup_root().into_iter().chain(cgroup_v1_roots());
    for top in roots.map(|r| r.join(CGROUP_DIR)) {
        let Ok(keys) = fs::read_dir(&top) else {
            continue;
        };
        for key in keys
            .flatten()
            .filter(|k| k.file_type().is_ok_and(|t| t.is_dir()))
        {
            if !key.file_name().to_string_lossy().starts_with(&prefix) {
                continue;
            }
            for service in fs::read_dir(key.path()).into_iter().flatten().flatten() {
                let path = service.path();
                if !service.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let _ = fs::write(path.join("cgroup.kill"), "1");
                let deadline = Instant::now() + Duration::from_secs(5);
                while fs::remove_dir(&path).is_err() && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(10));
                }
            }
            let _ = fs::remove_dir(key.path());
        }
        let _ = fs::remove_dir(&top);
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The parent PID of a live process, from `/proc/PID/stat`.
pub fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
