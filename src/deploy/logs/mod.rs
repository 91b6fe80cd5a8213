//! `runactivity logs`: the last lines of processes' logs, and following them as they grow.
//!
//! A process's logs are the files its manifest names: `logFile` (the output of a
//! foreground process, rotated by the supervisor as `NAME.log`, `NAME.log.1`, ...) and
//! `logFiles` (what a program writes itself, rotated by logrotate with the same names).
//! The last lines are taken across the rotated files, newest last. Following reads what
//! is appended, goes on in the new file when the old one is renamed away (rotation) and
//! from its start when it is truncated (logrotate's `copytruncate`), and ends when the
//! reader of its output goes away.
//!
//! Run by root, a file is opened without following a symbolic link and read only when it
//! is a regular file owned by root or by the process's user, with no other name: a
//! service's user cannot make root print a file of someone else's through its log.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::profile::Profile;
use crate::error::suggestion_suffix;
use crate::tree::{layout, Manifest};

/// Rotated files looked at beyond the current one (`LOG.1` .. `LOG.N`).
const MAX_ROTATED: u32 = 1000;
/// How long following waits between looks at the files.
const FOLLOW_TICK: Duration = Duration::from_millis(100);
/// Bytes read at a time when looking for the last lines from a file's end.
const CHUNK: u64 = 64 * 1024;

/// Why the logs could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    /// A name that is not a process of the profile.
    #[error("no process '{name}' in the profile{suggestion}; its processes: {known}")]
    UnknownProcess {
        /// The name given.
        name: String,
        /// `" (did you mean 'x'?)"` or empty.
        suggestion: String,
        /// The profile's process names, comma-separated.
        known: String,
    },
    /// A process that was asked for by name has no log file.
    #[error("process '{0}' has no log file: its program writes no output file the profile knows of (give it `logFiles`, or run it in the foreground)")]
    NoLogFile(String),
    /// A log file that must not be read (see the module documentation).
    #[error("refusing log file {path} of process '{name}': {why}")]
    Refused {
        /// The process.
        name: String,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// A log file could not be read.
    #[error("cannot read log file {path} of process '{name}': {error}")]
    Io {
        /// The process.
        name: String,
        /// The file.
        path: PathBuf,
        /// The error.
        error: io::Error,
    },
    /// The profile's manifest of a process could not be read.
    #[error("cannot read the manifest of process '{name}': {why}")]
    Manifest {
        /// The process.
        name: String,
        /// What went wrong.
        why: String,
    },
}

/// The log files of one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSource {
    /// The process.
    pub name: String,
    /// Its current log files (each may have rotated siblings `FILE.1` ...).
    pub files: Vec<PathBuf>,
    /// The uid of the process's user, when it has one that exists.
    pub uid: Option<u32>,
}

/// The log sources of the processes `names` of `profile` (all of them, in start order,
/// when `names` is empty; those without a log file are then left out). An unknown name is
/// an error with a suggestion.
pub fn sources(profile: &Profile, names: &[String]) -> Result<Vec<LogSource>, LogsError> {
    let order = profile
        .start_order()
        .unwrap_or_else(|_| profile.processes.keys().cloned().collect());
    let known: Vec<&str> = order.iter().map(String::as_str).collect();
    for name in names {
        if !profile.processes.contains_key(name) {
            return Err(LogsError::UnknownProcess {
                name: name.clone(),
                suggestion: suggestion_suffix(name, &known),
                known: known.join(", "),
            });
        }
    }
    let wanted: Vec<&String> = if names.is_empty() {
        order.iter().collect()
    } else {
        names.iter().collect()
    };
    let mut out = Vec::new();
    for name in wanted {
        let manifest = manifest_of(profile, name)?;
        let mut files: Vec<PathBuf> = manifest.log_file.iter().map(PathBuf::from).collect();
        files.extend(manifest.log_files.iter().map(PathBuf::from));
        if files.is_empty() {
            if names.is_empty() {
                continue;
            }
            return Err(LogsError::NoLogFile(name.clone()));
        }
        let user = manifest
            .user
            .as_deref()
            .or(profile.processes[name].user.as_deref());
        out.push(LogSource {
            name: name.clone(),
            files,
            uid: user.and_then(uid_of_user),
        });
    }
    Ok(out)
}

/// The manifest of process `name` (an empty one for a profile without manifests).
fn manifest_of(profile: &Profile, name: &str) -> Result<Manifest, LogsError> {
    let Some(root) = &profile.root else {
        return Ok(Manifest::default());
    };
    let path = root.join(layout::manifest_path(name));
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Manifest::default()),
        Err(e) => {
            return Err(LogsError::Manifest {
                name: name.into(),
                why: format!("{}: {e}", path.display()),
            })
        }
    };
    Manifest::from_json(&text).map_err(|e| LogsError::Manifest {
        name: name.into(),
        why: format!("{} {e}", path.display()),
    })
}

/// The uid of account `user`, if it exists.
fn uid_of_user(user: &str) -> Option<u32> {
    let name = std::ffi::CString::new(user).ok()?;
    // SAFETY: getpwnam reads the account database; the uid is copied out at once and
    // this tool calls it from one thread only.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    // SAFETY: a non-null entry points to a valid passwd record.
    (!entry.is_null()).then(|| unsafe { (*entry).pw_uid })
}

/// How lines are written: with a `NAME | ` prefix (names padded to one width) when more
/// than one process is shown.
pub struct Printer<W: Write> {
    out: W,
    width: Option<usize>,
}

impl<W: Write> Printer<W> {
    /// A printer for `sources` into `out`.
    pub fn new(out: W, sources: &[LogSource]) -> Printer<W> {
        let width =
            (sources.len() > 1).then(|| sources.iter().map(|s| s.name.len()).max().unwrap_or(0));
        Printer { out, width }
    }

    /// Writes one line (without its newline) of process `name`.
    pub fn line(&mut self, name: &str, line: &[u8]) -> io::Result<()> {
        if let Some(width) = self.width {
            write!(self.out, "{name:<width$} | ")?;
        }
        self.out.write_all(line)?;
        self.out.write_all(b"\n")
    }

    /// Flushes what was written.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Opens log file `path` of `source` for reading (see the module documentation for what
/// root refuses); `None` when it does not exist.
fn open_log(source: &LogSource, path: &Path) -> Result<Option<File>, LogsError> {
    let io_error = |error| LogsError::Io {
        name: source.name.clone(),
        path: path.to_path_buf(),
        error,
    };
    let refused = |why: String| LogsError::Refused {
        name: source.name.clone(),
        path: path.to_path_buf(),
        why,
    };
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(refused("it is a symbolic link".into()))
        }
        Err(e) => return Err(io_error(e)),
    };
    let meta = file.metadata().map_err(io_error)?;
    if !meta.file_type().is_file() {
        return Err(refused("it is not a regular file".into()));
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let owner = meta.uid();
        if owner != 0 && Some(owner) != source.uid {
            return Err(refused(format!(
                "it is owned by uid {owner}, neither root nor the process's user"
            )));
        }
        if meta.nlink() > 1 {
            return Err(refused(format!(
                "it has {} names (a hard link)",
                meta.nlink()
            )));
        }
    }
    Ok(Some(file))
}

/// `FILE.k`: the k-th rotated sibling of `path` (`path` itself for 0).
fn rotated(path: &Path, k: u32) -> PathBuf {
    if k == 0 {
        return path.to_path_buf();
    }
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{k}"));
    PathBuf::from(name)
}

/// The last `n` lines of the bytes `file` holds before offset `end`, read from the end
/// in chunks; an unterminated last line counts as a line.
fn last_lines_of(file: &mut File, end: u64, n: usize) -> io::Result<Vec<Vec<u8>>> {
    if n == 0 || end == 0 {
        return Ok(Vec::new());
    }
    let mut tail: Vec<u8> = Vec::new();
    let mut start = end;
    loop {
        // Newlines in `tail`, not counting one that ends it.
        let body = tail.strip_suffix(b"\n").unwrap_or(&tail);
        let newlines = body.iter().filter(|&&b| b == b'\n').count();
        if newlines >= n || start == 0 {
            break;
        }
        let read_from = start.saturating_sub(CHUNK);
        let mut chunk = vec![0; (start - read_from) as usize];
        file.seek(SeekFrom::Start(read_from))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&tail);
        tail = chunk;
        start = read_from;
    }
    let body = tail.strip_suffix(b"\n").unwrap_or(&tail);
    let lines: Vec<Vec<u8>> = body.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    let skip = lines.len().saturating_sub(n);
    Ok(lines.into_iter().skip(skip).collect())
}

/// A current log file, open, with the offset read up to.
type OpenLog = (File, u64);

/// The last `n` lines of log file `path` across its rotated files (oldest first), and
/// the current file opened with the offset they end at, for following.
fn last_lines(
    source: &LogSource,
    path: &Path,
    n: usize,
) -> Result<(Vec<Vec<u8>>, Option<OpenLog>), LogsError> {
    let io_error = |p: &Path, error| LogsError::Io {
        name: source.name.clone(),
        path: p.to_path_buf(),
        error,
    };
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut current = None;
    for k in 0..=MAX_ROTATED {
        if lines.len() >= n && k > 0 {
            break;
        }
        let file_path = rotated(path, k);
        let Some(mut file) = open_log(source, &file_path)? else {
            if k == 0 {
                continue;
            }
            break;
        };
        let end = file.metadata().map_err(|e| io_error(&file_path, e))?.len();
        let mut older = last_lines_of(&mut file, end, n - lines.len().min(n))
            .map_err(|e| io_error(&file_path, e))?;
        older.append(&mut lines);
        lines = older;
        if k == 0 {
            current = Some((file, end));
        }
    }
    Ok((lines, current))
}

/// Prints the last `n` lines of every source (one process after the other, in the order
/// given). A source's files are shown one after the other too.
pub fn print_last<W: Write>(
    sources: &[LogSource],
    n: usize,
    printer: &mut Printer<W>,
) -> Result<Vec<Follower>, ShowError> {
    let mut followers = Vec::new();
    for source in sources {
        for path in &source.files {
            let (lines, current) = last_lines(source, path, n)?;
            for line in &lines {
                printer
                    .line(&source.name, line)
                    .map_err(ShowError::Output)?;
            }
            followers.push(Follower::new(source, path, current));
        }
    }
    printer.flush().map_err(ShowError::Output)?;
    Ok(followers)
}

/// Why showing logs stopped.
#[derive(Debug, thiserror::Error)]
pub enum ShowError {
    /// A log could not be read.
    #[error(transparent)]
    Logs(#[from] LogsError),
    /// The output could not be written (its reader went away: the end of following).
    #[error("cannot write the logs: {0}")]
    Output(io::Error),
}

/// One log file being followed.
pub struct Follower {
    source: LogSource,
    path: PathBuf,
    /// The file read, the offset read up to, and its device and inode.
    open: Option<(File, u64, (u64, u64))>,
    /// The start of a line whose end has not been written yet.
    partial: Vec<u8>,
}

impl Follower {
    fn new(source: &LogSource, path: &Path, current: Option<OpenLog>) -> Follower {
        let open = current.and_then(|(file, offset)| {
            let meta = file.metadata().ok()?;
            Some((file, offset, (meta.dev(), meta.ino())))
        });
        Follower {
            source: source.clone(),
            path: path.to_path_buf(),
            open,
            partial: Vec::new(),
        }
    }

    /// Prints what was appended since the last look, and moves to a new file at the path
    /// (rotation) or back to the start (truncation).
    fn poll<W: Write>(&mut self, printer: &mut Printer<W>) -> Result<(), ShowError> {
        self.read_new(printer)?;
        let on_disk = std::fs::symlink_metadata(&self.path)
            .ok()
            .map(|m| ((m.dev(), m.ino()), m.len()));
        match (&mut self.open, on_disk) {
            (Some((_, _, id)), Some((disk_id, _))) if *id != disk_id => {
                // Renamed away: read what the old file got before the rename, then go on
                // in the new one.
                self.read_new(printer)?;
                self.flush_partial(printer)?;
                self.open = None;
                self.reopen()?;
                self.read_new(printer)?;
            }
            (Some((file, offset, _)), Some((_, len))) if len < *offset => {
                *offset = 0;
                file.seek(SeekFrom::Start(0)).map_err(|e| self.io(e))?;
                self.read_new(printer)?;
            }
            (None, Some(_)) => {
                self.reopen()?;
                self.read_new(printer)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn io(&self, error: io::Error) -> ShowError {
        ShowError::Logs(LogsError::Io {
            name: self.source.name.clone(),
            path: self.path.clone(),
            error,
        })
    }

    fn reopen(&mut self) -> Result<(), ShowError> {
        if let Some(file) = open_log(&self.source, &self.path)? {
            let meta = file.metadata().map_err(|e| self.io(e))?;
            self.open = Some((file, 0, (meta.dev(), meta.ino())));
        }
        Ok(())
    }

    /// Prints the whole lines appended to the open file; keeps an unfinished one.
    fn read_new<W: Write>(&mut self, printer: &mut Printer<W>) -> Result<(), ShowError> {
        let Some((file, offset, _)) = &mut self.open else {
            return Ok(());
        };
        let mut buf = Vec::new();
        file.seek(SeekFrom::Start(*offset))
            .and_then(|_| file.read_to_end(&mut buf))
            .map_err(|error| {
                ShowError::Logs(LogsError::Io {
                    name: self.source.name.clone(),
                    path: self.path.clone(),
                    error,
                })
            })?;
        *offset += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        if let Some(last) = self.partial.iter().rposition(|&b| b == b'\n') {
            let rest = self.partial.split_off(last + 1);
            let done = std::mem::replace(&mut self.partial, rest);
            for line in done[..done.len() - 1].split(|&b| b == b'\n') {
                printer
                    .line(&self.source.name, line)
                    .map_err(ShowError::Output)?;
            }
        }
        Ok(())
    }

    fn flush_partial<W: Write>(&mut self, printer: &mut Printer<W>) -> Result<(), ShowError> {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            printer
                .line(&self.source.name, &line)
                .map_err(ShowError::Output)?;
        }
        Ok(())
    }
}

/// Follows `followers` until the output's reader goes away (a closed pipe ends it with
/// `Ok`) or a signal ends the tool. `output_gone` tells whether the reader went away
/// while nothing was written (see [`stdout_closed`]).
pub fn follow<W: Write>(
    followers: &mut [Follower],
    printer: &mut Printer<W>,
    output_gone: &dyn Fn() -> bool,
) -> Result<(), ShowError> {
    loop {
        for follower in followers.iter_mut() {
            match follower.poll(printer) {
                Err(ShowError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
                other => other?,
            }
        }
        match printer.flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
            other => other.map_err(ShowError::Output)?,
        }
        if output_gone() {
            return Ok(());
        }
        std::thread::sleep(FOLLOW_TICK);
    }
}

/// Whether standard output is a pipe or socket whose reader has gone away.
pub fn stdout_closed() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no waiting.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    n > 0 && fd.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(dir: &Path) -> LogSource {
        LogSource {
            name: "web".into(),
            files: vec![dir.join("web.log")],
            uid: None,
        }
    }

    fn write(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
    }

    fn last(source: &LogSource, n: usize) -> Vec<String> {
        let (lines, _) = last_lines(source, &source.files[0], n).unwrap();
        lines
            .into_iter()
            .map(|l| String::from_utf8(l).unwrap())
            .collect()
    }

    #[test]
    fn last_lines_span_the_rotated_files_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let s = source(dir.path());
        write(&dir.path().join("web.log.2"), "1\n2\n");
        write(&dir.path().join("web.log.1"), "3\n4\n");
        write(&dir.path().join("web.log"), "5\n6");
        assert_eq!(last(&s, 3), ["4", "5", "6"]);
        assert_eq!(last(&s, 5), ["2", "3", "4", "5", "6"]);
        assert_eq!(last(&s, 50), ["1", "2", "3", "4", "5", "6"]);
        assert!(last(&s, 0).is_empty());
    }

    #[test]
    fn last_lines_of_a_file_larger_than_a_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let s = source(dir.path());
        let text: String = (0..50_000).map(|i| format!("line {i:06}\n")).collect();
        write(&dir.path().join("web.log"), &text);
        let lines = last(&s, 20_000);
        assert_eq!(lines.len(), 20_000);
        assert_eq!(lines[0], "line 030000");
        assert_eq!(lines[19_999], "line 049999");
    }

    #[test]
    fn a_missing_current_file_reads_the_rotated_ones() {
        let dir = tempfile::tempdir().unwrap();
        let s = source(dir.path());
        assert!(last(&s, 5).is_empty());
        write(&dir.path().join("web.log.1"), "a\nb\n");
        assert_eq!(last(&s, 5), ["a", "b"]);
    }

    #[test]
    fn a_symbolic_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = source(dir.path());
        write(&dir.path().join("secret"), "x\n");
        std::os::unix::fs::symlink(dir.path().join("secret"), &s.files[0]).unwrap();
        let e = last_lines(&s, &s.files[0], 1).unwrap_err().to_string();
        assert!(e.contains("symbolic link") && e.contains("'web'"), "{e}");
    }

    #[test]
    fn following_goes_on_through_rotation_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let s = source(dir.path());
        let log = &s.files[0];
        write(log, "old\n");
        let mut out = Vec::new();
        let mut printer = Printer::new(&mut out, std::slice::from_ref(&s));
        let mut followers = print_last(std::slice::from_ref(&s), 1, &mut printer).unwrap();
        let f = &mut followers[0];
        let mut file = std::fs::OpenOptions::new().append(true).open(log).unwrap();
        file.write_all(b"one\ntw").unwrap();
        f.poll(&mut printer).unwrap();
        file.write_all(b"o\n").unwrap();
        std::fs::rename(log, rotated(log, 1)).unwrap();
        write(log, "three\n");
        f.poll(&mut printer).unwrap();
        write(log, "");
        f.poll(&mut printer).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(log)
            .unwrap()
            .write_all(b"four\n")
            .unwrap();
        f.poll(&mut printer).unwrap();

        assert_eq!(
            String::from_utf8(out).unwrap(),
            "old\none\ntwo\nthree\nfour\n"
        );
    }

    #[test]
    fn several_processes_get_a_padded_prefix() {
        let sources = [
            LogSource {
                name: "a".into(),
                files: vec![],
                uid: None,
            },
            LogSource {
                name: "web".into(),
                files: vec![],
                uid: None,
            },
        ];
        let mut out = Vec::new();
        let mut printer = Printer::new(&mut out, &sources);
        printer.line("a", b"x").unwrap();

        assert_eq!(String::from_utf8(out).unwrap(), "a   | x\n");
    }
}
