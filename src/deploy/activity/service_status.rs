//! What `runactivity status --json` says of a service beyond its LSB status: every live
//! process it has, its supervisor's account (respawns, last exit, log writer) and the
//! limits in force.
//!
//! The script's own `status` decides whether the service runs (the PID-trust rules are
//! the library's); this module only reports. It reads what a service leaves on the
//! machine the way the library finds it (see [`crate::tree::service`]): the members of
//! its cgroup, else the processes of its user whose environment carries
//! `NIXPROC_SERVICE=SERVICE`, else the PIDs its PID files name. Files it reads are opened
//! without following symbolic links and only when they are regular files of root or the
//! service's user.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::supervise::state::SupervisorState;
use crate::tree::service::{cgroup_dir, cgroup_root, cgroup_v1_roots};
use crate::tree::Manifest;

/// A service as it runs now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    /// The service id (`KEY/NAME`).
    pub service: String,
    /// How its processes were found: `cgroup`, `environment` or `pid-file`.
    pub tracked_by: &'static str,
    /// Every live process of the service, in PID order.
    pub pids: Vec<u32>,
    /// The supervisor's account, for a foreground process under the supervisor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supervisor: Option<SupervisorReport>,
    /// Each limit of the description: what it asks for and what is in force.
    pub limits: BTreeMap<String, LimitReport>,
}

/// What the supervisor's state file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SupervisorReport {
    /// `starting`, `running`, `restarting`, `failed`, `exited`, `stopping`, `stopped`.
    pub state: String,
    /// Restarts since the supervisor started.
    pub respawns: u32,
    /// How the last run ended (`status 1`, `signal SEGV`), if one did.
    pub last_exit: Option<String>,
    /// When (seconds since the epoch).
    pub last_exit_time: Option<u64>,
    /// Why it failed or exited, if it did.
    pub reason: Option<String>,
    /// The log writer's last error, if writes fail now.
    pub log_error: Option<String>,
    /// Bytes of output lost to write errors.
    pub log_dropped: u64,
}

/// One limit: as configured and as the kernel has it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitReport {
    /// The value the description gives (`1024:4096`, `max`).
    pub configured: String,
    /// The value in force (same notation), when it could be read.
    pub in_force: Option<String>,
}

/// The status of the service of `manifest` (`None` for a process without a service: no
/// `process`, or a manifest of an older version).
pub fn inspect(manifest: &Manifest) -> Option<ServiceStatus> {
    let service = manifest.service.clone()?;
    let uid = expected_uid(manifest.user.as_deref())?;
    let cgroup = cgroup_root()
        .map(|root| cgroup_dir(&root, &service))
        .filter(|dir| dir.is_dir());
    let pid_files = pid_files(manifest);
    let (tracked_by, mut pids) = match &cgroup {
        Some(dir) => ("cgroup", cgroup_members(dir)),
        None => match environment_members(&service, uid) {
            found if !found.is_empty() => ("environment", found),
            _ => ("pid-file", pid_file_members(&pid_files, uid)),
        },
    };
    pids.sort_unstable();
    pids.dedup();
    let supervisor = (!manifest.process_is_daemon)
        .then(|| supervisor_report(manifest.pid_file.as_deref()?, uid))
        .flatten();
    let main = main_pid(&pid_files, uid, &pids);
    let limits = manifest
        .limits
        .iter()
        .map(|(name, configured)| {
            let in_force = limit_in_force(name, main, cgroup.as_deref(), &service);
            let configured = configured.clone();
            (
                name.clone(),
                LimitReport {
                    configured,
                    in_force,
                },
            )
        })
        .collect();
    Some(ServiceStatus {
        service,
        tracked_by,
        pids,
        supervisor,
        limits,
    })
}

/// The uid the service runs as: its user's, else this tool's (the caller's).
fn expected_uid(user: Option<&str>) -> Option<u32> {
    let Some(user) = user else {
        // SAFETY: geteuid has no preconditions.
        return Some(unsafe { libc::geteuid() });
    };
    let name = std::ffi::CString::new(user).ok()?;
    // SAFETY: getpwnam reads the account database; the result is copied out at once
    // (no other thread of this tool calls it concurrently).
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    // SAFETY: a non-null entry points to a valid passwd record.
    (!entry.is_null()).then(|| unsafe { (*entry).pw_uid })
}

/// The PID file and, for a wrapped foreground process, its client's.
fn pid_files(manifest: &Manifest) -> Vec<PathBuf> {
    let Some(pid_file) = manifest.pid_file.as_deref() else {
        return Vec::new();
    };
    let mut files = vec![PathBuf::from(pid_file)];
    if !manifest.process_is_daemon {
        if let Some(stem) = pid_file.strip_suffix(".pid") {
            files.push(PathBuf::from(format!("{stem}.clientpid")));
        }
    }
    files
}

/// Whether PID is a live process (not a zombie).
fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .is_some_and(|state| !matches!(state, 'Z' | 'X' | 'x'))
    })
}

/// The live members of the cgroup `dir`.
fn cgroup_members(dir: &Path) -> Vec<u32> {
    let text = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.trim().parse().ok())
        .filter(|pid| alive(*pid))
        .collect()
}

/// The real uid of PID.
fn uid_of(pid: u32) -> Option<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The live processes of uid `uid` whose environment holds `NIXPROC_SERVICE=service`.
fn environment_members(service: &str, uid: u32) -> Vec<u32> {
    let marker = format!("NIXPROC_SERVICE={service}");
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| uid_of(*pid) == Some(uid))
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == marker.as_bytes()))
        })
        .filter(|pid| alive(*pid))
        .collect()
}

/// The text of `path` when it is a regular file (not followed if a link) of root or
/// `uid`, of at most 64 KiB: what root may read of a file its service's user can write.
fn trusted_text(path: &Path, uid: u32) -> Option<String> {
    let mut file = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    let owner_ok = meta.uid() == 0 || meta.uid() == uid;
    if !meta.is_file() || !owner_ok || meta.len() > 64 * 1024 {
        return None;
    }
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    Some(text)
}

/// The PIDs on the first line of a trusted PID file.
fn pids_in(path: &Path, uid: u32) -> Vec<u32> {
    let text = trusted_text(path, uid).unwrap_or_default();
    let first = text.lines().next().unwrap_or_default();
    first
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .filter(|pid| *pid > 1)
        .collect()
}

/// The live PIDs the PID files name, of processes of `uid`.
fn pid_file_members(files: &[PathBuf], uid: u32) -> Vec<u32> {
    files
        .iter()
        .flat_map(|f| pids_in(f, uid))
        .filter(|pid| alive(*pid) && uid_of(*pid) == Some(uid))
        .collect()
}

/// The process whose resource limits are shown: the client of a wrapper, else the
/// process of the PID file, else the service's first process.
fn main_pid(files: &[PathBuf], uid: u32, members: &[u32]) -> Option<u32> {
    files
        .iter()
        .rev()
        .flat_map(|f| pids_in(f, uid))
        .find(|pid| alive(*pid))
        .or_else(|| members.first().copied())
}

/// The supervisor's state file next to `pid_file` (`NAME.state`), when trusted.
fn supervisor_report(pid_file: &str, uid: u32) -> Option<SupervisorReport> {
    let path = format!("{}.state", pid_file.strip_suffix(".pid")?);
    let state = SupervisorState::parse(&trusted_text(Path::new(&path), uid)?).ok()?;
    let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Some(SupervisorReport {
        state: state.phase.as_str().to_string(),
        respawns: state.respawns,
        last_exit: state.last_exit.map(|e| e.state_text()),
        last_exit_time: state.last_exit_time,
        reason: text(&state.reason),
        log_error: text(&state.log_error),
        log_dropped: state.log_dropped,
    })
}

/// The line of `/proc/PID/limits` that holds resource limit `name` (prlimit's names).
fn limits_line(name: &str) -> Option<&'static str> {
    Some(match name {
        "as" => "Max address space",
        "core" => "Max core file size",
        "cpu" => "Max cpu time",
        "data" => "Max data size",
        "fsize" => "Max file size",
        "locks" => "Max file locks",
        "memlock" => "Max locked memory",
        "msgqueue" => "Max msgqueue size",
        "nice" => "Max nice priority",
        "nofile" => "Max open files",
        "nproc" => "Max processes",
        "rss" => "Max resident set",
        "rtprio" => "Max realtime priority",
        "rttime" => "Max realtime timeout",
        "sigpending" => "Max pending signals",
        "stack" => "Max stack size",
        _ => return None,
    })
}

/// `SOFT:HARD`, or one value when both are the same.
fn ends(soft: &str, hard: &str) -> String {
    if soft == hard {
        soft.to_string()
    } else {
        format!("{soft}:{hard}")
    }
}

/// Limit `name` as the kernel has it now for process `main` or the service's cgroups.
fn limit_in_force(
    name: &str,
    main: Option<u32>,
    cgroup: Option<&Path>,
    service: &str,
) -> Option<String> {
    if let Some(line) = limits_line(name) {
        let limits = fs::read_to_string(format!("/proc/{}/limits", main?)).ok()?;
        let row = limits.lines().find(|l| l.starts_with(line))?;
        let mut values = row[line.len()..].split_whitespace();
        return Some(ends(values.next()?, values.next()?));
    }
    let (v2_file, controller, v1_file) = match name {
        "memory" => ("memory.max", "memory", "memory.limit_in_bytes"),
        "pids" => ("pids.max", "pids", "pids.max"),
        "cpuWeight" => ("cpu.weight", "cpu", "cpu.shares"),
        _ => return None,
    };
    if let Some(text) = cgroup.and_then(|dir| fs::read_to_string(dir.join(v2_file)).ok()) {
        return Some(text.trim().to_string());
    }
    let root = cgroup_v1_roots()
        .into_iter()
        .find(|r| r.ends_with(controller))?;
    let text = fs::read_to_string(cgroup_dir(&root, service).join(v1_file)).ok()?;
    let value = text.trim();
    Some(match (name, value.parse::<u64>()) {
        // cgroup v1 writes "no limit" as the largest page-aligned number.
        ("memory", Ok(n)) if n >= (1 << 62) => "max".into(),
        ("cpuWeight", Ok(shares)) => (shares * 100 / 1024).max(1).to_string(),
        _ => value.to_string(),
    })
}
