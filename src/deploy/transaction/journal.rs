//! The lock and the journal that make a switch a transaction.
//!
//! `STATE` is the tool directory of the profile (the `tool_dir` room), next to the
//! profile link. The lock is an exclusive `flock` on `STATE/lock`, taken by the switch and by
//! `runactivity` for activities that change processes. A second comer waits for it with
//! a message naming the holder (written into the file), or with `--no-wait` fails at
//! once. The kernel releases it when the holder dies, even by `kill -9`; the descriptor
//! is close-on-exec so the daemons a switch starts never inherit it.
//!
//! The journal `STATE/journal.jsonl` holds one JSON record per line, each written before
//! the tool goes on: the plan first, then every launched and finished step. Records that
//! decide what the next run does with the profile (the plan, the rollback, the profile's
//! move, the end) are fsynced one by one; step records are written (so they survive the
//! tool being killed at any instant) and fsynced together at the end of each phase
//! ([`Journal::sync`]): after a crash of the whole machine no process they describe
//! survives, and one fsync per step would cost more than starting a trivial process. A journal without an `end` record means a switch was interrupted; the next run
//! reads it back and converges (see [`super::switch`]). A write that fails (a full disk)
//! breaks the journal: the switch rolls back from what it holds in memory, and removes
//! the journal once that is done.
//!
//! The lock and the journal are opened without following a symbolic link (`O_NOFOLLOW`):
//! a link there is an error, never a file elsewhere written to.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::plan::{Action, Plan};
use crate::deploy::{DeployError, Result};

/// File name of the lock inside the state directory.
pub const LOCK_FILE: &str = "lock";

/// Options opening a file of the state directory, never through a symbolic link.
fn no_follow() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.custom_flags(libc::O_NOFOLLOW);
    options
}

/// An exclusive lock on a state directory, released on drop (or when the process dies).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// What to do when another tool holds the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Fail at once with [`DeployError::Locked`].
    No,
    /// Wait for the holder to finish (after calling the `on_wait` callback once).
    Yes,
}

impl Lock {
    /// Takes the lock `lock` of `state_dir`, a directory that must exist (the tools make
    /// it, checked, with the `tool_dir` room). When another process holds it, fails at
    /// once with [`DeployError::Locked`] naming the holder (`Wait::No`), or calls
    /// `on_wait` with the holder's description and waits (`Wait::Yes`).
    pub fn acquire(state_dir: &Path, wait: Wait, on_wait: &mut dyn FnMut(&str)) -> Result<Lock> {
        let path = state_dir.join(LOCK_FILE);
        let mut file = no_follow()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| DeployError::io("opening", &path, e))?;
        let fd = file.as_raw_fd();
        // SAFETY: flock on a descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(DeployError::io("locking", &path, err));
            }
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let mut words = holder.split_whitespace();
            let pid = words.next().unwrap_or("unknown").to_string();
            let program = words
                .next()
                .unwrap_or("nixproc-sysvinit-switch")
                .to_string();
            if wait == Wait::No {
                return Err(DeployError::Locked { pid, program, path });
            }
            on_wait(&format!("{program} (pid {pid})"));
            loop {
                // SAFETY: as above; this call blocks until the holder releases the lock.
                if unsafe { libc::flock(fd, libc::LOCK_EX) } == 0 {
                    break;
                }
                let err = std::io::Error::last_os_error();
                if err.kind() != std::io::ErrorKind::Interrupted {
                    return Err(DeployError::io("locking", &path, err));
                }
            }
        }
        // Who holds it, for the message of the next comer. Best effort: on a full disk
        // the lock itself still works.
        let program = std::env::current_exe()
            .ok()
            .and_then(|e| e.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        let write_holder = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            writeln!(file, "{} {program}", std::process::id())
        };
        let _ = write_holder(&mut file);
        Ok(Lock { _file: file })
    }
}

/// How the profile is moved when a switch commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Commit {
    /// `nix-env -p PROFILE --set PATH` (a new generation).
    Set {
        /// The new profile's store path.
        path: PathBuf,
    },
    /// `nix-env -p PROFILE --switch-generation N`.
    SwitchGeneration {
        /// The generation number.
        generation: u64,
    },
}

/// Which steps a journalled step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// The steps the switch was asked for.
    Forward,
    /// The steps undoing them.
    Rollback,
}

impl Phase {
    /// The name the journal uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Forward => "forward",
            Phase::Rollback => "rollback",
        }
    }
}

/// How a switch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SwitchEnd {
    /// The profile moved: the new deployment runs.
    Committed,
    /// Undone: the previous deployment runs again.
    RolledBack,
    /// Undone, but some rollback steps failed.
    RollbackIncomplete,
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Record {
    /// The switch begins: what it goes from and to, and the plan.
    Begin {
        /// Pid of the switch.
        pid: u32,
        /// The Nix profile link.
        profile: PathBuf,
        /// The old profile's directory (`None`: nothing was deployed).
        old: Option<PathBuf>,
        /// The new profile's directory (`None`: the empty profile).
        new: Option<PathBuf>,
        /// The runlevel both were read for.
        runlevel: u8,
        /// How the profile moves at the end.
        commit: Commit,
        /// The steps.
        plan: Plan,
    },
    /// A step's script was started.
    Launched {
        /// The steps it belongs to.
        phase: Phase,
        /// Start or stop.
        action: Action,
        /// Process name.
        name: String,
        /// The script's pid (absent when it could not be started).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<u32>,
        /// The script's start time (`/proc/PID/stat` field 22), to detect pid reuse.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_time: Option<u64>,
    },
    /// A step's script finished.
    Finished {
        /// The steps it belongs to.
        phase: Phase,
        /// Start or stop.
        action: Action,
        /// Process name.
        name: String,
        /// Whether it exited 0.
        ok: bool,
    },
    /// A failure made the switch roll back.
    RollbackBegin {
        /// Why.
        reason: String,
    },
    /// Every start succeeded and the Nix profile link is about to be pointed to
    /// generation `generation`, whose link points to `target`.
    ProfileMoving {
        /// The generation number.
        generation: u64,
        /// The store path of that generation.
        target: PathBuf,
    },
    /// The Nix profile was moved.
    ProfileMoved,
    /// The switch is over.
    End {
        /// How the switch ended.
        outcome: SwitchEnd,
    },
}

/// An open journal being appended to.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
    records: usize,
    /// The first write that failed; nothing is written after it (a half-written line
    /// followed by good ones would make the journal unreadable).
    broken: Option<String>,
}

/// File name of the journal inside the state directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";

impl Journal {
    /// Starts a new journal in `state_dir` with `begin` as its first record; replaces an
    /// old finished one.
    pub fn create(state_dir: &Path, begin: &Record) -> Result<Journal> {
        let path = state_dir.join(JOURNAL_FILE);
        let file = no_follow()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| DeployError::io("creating", &path, e))?;
        let mut j = Journal {
            file,
            path,
            records: 0,
            broken: None,
        };
        if let Err(e) = j.append(begin) {
            // Nothing ran yet: leave no half-written journal for the next run to read.
            let _ = fs::remove_file(&j.path);
            return Err(e);
        }
        sync_dir(state_dir);
        Ok(j)
    }

    /// Fsyncs the records written so far (the step records of a phase). A failure
    /// breaks the journal like a failed append.
    pub fn sync(&mut self) -> Result<()> {
        if self.broken.is_some() {
            return Ok(());
        }
        self.file.sync_data().map_err(|e| {
            let err = DeployError::io("writing", &self.path, e);
            self.broken = Some(err.to_string());
            err
        })
    }

    /// Reopens an unfinished journal to append to it.
    pub fn reopen(state_dir: &Path) -> Result<Journal> {
        let path = state_dir.join(JOURNAL_FILE);
        let file = no_follow()
            .append(true)
            .open(&path)
            .map_err(|e| DeployError::io("opening", &path, e))?;
        Ok(Journal {
            file,
            path,
            records: 0,
            broken: None,
        })
    }

    /// Appends a record, and fsyncs it unless it is a step record (see the module's
    /// documentation). After a failed write the journal is broken: later appends write
    /// nothing and fail (see [`Journal::broken`]).
    pub fn append(&mut self, record: &Record) -> Result<()> {
        if let Some(first) = &self.broken {
            return Err(DeployError::Journal {
                path: self.path.clone(),
                message: format!("not written after an earlier failure ({first})"),
            });
        }
        let mut line = serde_json::to_string(record).map_err(|e| DeployError::Journal {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        line.push('\n');
        let step = matches!(record, Record::Launched { .. } | Record::Finished { .. });
        if let Err(e) = self.file.write_all(line.as_bytes()).and_then(|_| {
            if step {
                Ok(())
            } else {
                self.file.sync_data()
            }
        }) {
            let err = DeployError::io("writing", &self.path, e);
            self.broken = Some(err.to_string());
            return Err(err);
        }
        self.records += 1;
        test_hook_record(self.records);
        Ok(())
    }

    /// Why the journal stopped being written, if it did.
    pub fn broken(&self) -> Option<&str> {
        self.broken.as_deref()
    }

    /// Reads the journal in `state_dir` if one exists and lacks an `end` record. A
    /// truncated last line (a crash mid-write) is ignored.
    pub fn unfinished(state_dir: &Path) -> Result<Option<Vec<Record>>> {
        let path = state_dir.join(JOURNAL_FILE);
        let file = match no_follow().read(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(DeployError::io("opening", &path, e)),
        };
        let mut records = Vec::new();
        let lines: Vec<String> = BufReader::new(file)
            .lines()
            .collect::<std::io::Result<_>>()
            .map_err(|e| DeployError::io("reading", &path, e))?;
        let count = lines.len();
        for (i, line) in lines.into_iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Record>(&line) {
                Ok(r) => records.push(r),
                Err(_) if i + 1 == count => break,
                Err(e) => {
                    return Err(DeployError::Journal {
                        path,
                        message: format!("line {}: {e}", i + 1),
                    })
                }
            }
        }
        match records.first() {
            None => Ok(None),
            Some(Record::Begin { .. }) => {
                if records.iter().any(|r| matches!(r, Record::End { .. })) {
                    Ok(None)
                } else {
                    Ok(Some(records))
                }
            }
            Some(_) => Err(DeployError::Journal {
                path,
                message: "does not start with a begin record".into(),
            }),
        }
    }

    /// Ends the journal with `outcome` and removes it. A broken journal (the switch went
    /// on from memory) is only removed: what it holds is over.
    pub fn finish(mut self, outcome: SwitchEnd) -> Result<()> {
        if self.broken.is_none() {
            self.append(&Record::End { outcome })?;
        }
        let dir = self.path.parent().map(Path::to_path_buf);
        fs::remove_file(&self.path).map_err(|e| DeployError::io("removing", &self.path, e))?;
        if let Some(d) = dir {
            sync_dir(&d);
        }
        Ok(())
    }
}

/// Makes the creation or removal of entries of `dir` durable (best effort).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Testing hooks, after journal record number `records` (1-based) of one journal:
/// with `NIXPROC_TEST_KILL_AT_RECORD=K`, the tool kills itself with SIGKILL right after
/// record K (to test recovery from an interrupted switch); with
/// `NIXPROC_TEST_STOP_AT_RECORD=K`, it stops itself (SIGSTOP) until a test continues it
/// (to change the world mid-switch, e.g. fill the disk).
fn test_hook_record(records: usize) {
    let at = |var: &str| {
        std::env::var(var)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            == Some(records)
    };
    if at("NIXPROC_TEST_KILL_AT_RECORD") {
        // SAFETY: sending a signal to ourselves.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
    if at("NIXPROC_TEST_STOP_AT_RECORD") {
        // SAFETY: sending a signal to ourselves.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGSTOP);
        }
    }
}
