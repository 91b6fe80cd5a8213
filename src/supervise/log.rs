//! The size-rotating log file of a supervisor: whole lines, logrotate's naming, and
//! write errors that lose output but never stop the reading.
//!
//! Of each chunk of output the complete lines that fit into the file are written with
//! one `write`; when the next line does not fit and the file is not empty, the files are
//! rotated (`LOG.(k-1)` -> `LOG.k`, `LOG` -> `LOG.1`, a fresh `LOG`; with `keep` 0 the
//! file is truncated instead). A line longer than the maximum goes alone into a fresh
//! file, so no file exceeds the maximum by more than one line. A partial last line is
//! held until its newline comes ([`HOLD_LIMIT`] bytes at most), or [`HOLD_TIME`] passes
//! without output, or the writer finishes.
//!
//! A failed open or write drops the data and counts it ([`LogHealth`]); the file is tried
//! again at most once every [`RETRY_INTERVAL`], and once a write succeeds a line saying
//! how much was lost is written first.
//!
//! Time is passed in (`*_at` methods) so that the timing rules are tested without
//! waiting; [`RotatingLog::write`] uses the clock.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use memchr::{memchr, memrchr};

/// The most bytes of a partial line held back waiting for its newline.
pub const HOLD_LIMIT: usize = 64 * 1024;
/// How long a partial line is held back while no output comes.
pub const HOLD_TIME: Duration = Duration::from_millis(200);
/// How often a failed log file is tried again, at most.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// The start of every line the supervisor writes itself.
pub const NOTE_PREFIX: &str = "nixproc-sysvinit-supervise: ";

/// How the log writer fares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogHealth {
    /// The error that currently keeps it from writing or rotating, if any.
    pub error: Option<String>,
    /// Bytes of output lost to write errors, in all.
    pub dropped: u64,
}

/// An error and when it happened.
#[derive(Debug, Clone)]
struct Failure {
    error: String,
    at: Instant,
}

/// A log file rotated by size, written line by line.
#[derive(Debug)]
pub struct RotatingLog {
    path: PathBuf,
    max_size: Option<u64>,
    keep: u32,
    file: Option<File>,
    size: u64,
    /// The file ends inside a line (its last byte is not a newline).
    mid_line: bool,
    held: Vec<u8>,
    last_input: Option<Instant>,
    /// The open or write error that makes output be dropped.
    failure: Option<Failure>,
    /// Bytes dropped since `failure` began.
    lost: u64,
    dropped: u64,
    rotate_error: Option<Failure>,
}

impl RotatingLog {
    /// Opens (creates, mode 0640) `path` for appending. `max_size` `None` or 0: never
    /// rotate. `keep`: rotated files kept, `LOG.1` (the newest) to `LOG.keep`. A file
    /// that cannot be opened is recorded as the error of [`RotatingLog::health`] and
    /// tried again later, so this never fails.
    pub fn open(path: &Path, max_size: Option<u64>, keep: u32) -> RotatingLog {
        RotatingLog::open_at(path, max_size, keep, Instant::now())
    }

    /// As [`RotatingLog::open`], at time `now`.
    pub fn open_at(path: &Path, max_size: Option<u64>, keep: u32, now: Instant) -> RotatingLog {
        let mut log = RotatingLog {
            path: path.to_path_buf(),
            max_size: max_size.filter(|m| *m > 0),
            keep,
            file: None,
            size: 0,
            mid_line: false,
            held: Vec::new(),
            last_input: None,
            failure: None,
            lost: 0,
            dropped: 0,
            rotate_error: None,
        };
        log.reopen(now);
        log
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The size of the current file as this writer counts it.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The current error and the bytes lost so far.
    pub fn health(&self) -> LogHealth {
        let error = self.failure.as_ref().or(self.rotate_error.as_ref());
        LogHealth {
            error: error.map(|f| f.error.clone()),
            dropped: self.dropped,
        }
    }

    /// Writes a chunk of output (see the module's rules), now.
    pub fn write(&mut self, data: &[u8]) {
        self.write_at(data, Instant::now());
    }

    /// Writes a chunk of output that arrived at `now`.
    pub fn write_at(&mut self, data: &[u8], now: Instant) {
        if data.is_empty() {
            return;
        }
        self.last_input = Some(now);
        let Some(rest) = self.complete_held(data, now) else {
            return;
        };
        let tail = match memrchr(b'\n', rest) {
            Some(i) => {
                self.emit_lines(&rest[..=i], now);
                &rest[i + 1..]
            }
            None => rest,
        };
        if tail.len() > HOLD_LIMIT {
            self.emit_partial(tail, now);
        } else {
            self.held.extend_from_slice(tail);
        }
    }

    /// Writes one line of the supervisor's own, [`NOTE_PREFIX`] and `text` (a newline in
    /// it becomes a space), on a line of its own: a partial line before it is ended.
    pub fn note_at(&mut self, text: &str, now: Instant) {
        if !self.held.is_empty() || self.mid_line {
            self.held.push(b'\n');
            self.write_held(now);
        }
        let mut line = Vec::with_capacity(NOTE_PREFIX.len() + text.len() + 1);
        line.extend_from_slice(NOTE_PREFIX.as_bytes());
        line.extend(text.bytes().map(|b| if b == b'\n' { b' ' } else { b }));
        line.push(b'\n');
        self.emit_lines(&line, now);
    }

    /// Time passing: writes a partial line held for [`HOLD_TIME`] without output, and
    /// tries a failed file again once [`RETRY_INTERVAL`] has passed.
    pub fn tick(&mut self, now: Instant) {
        let idle = self.last_input.is_some_and(|t| now >= t + HOLD_TIME);
        if !self.held.is_empty() && idle {
            self.write_held(now);
        }
        if self.failure.is_some() {
            self.ready(now);
        }
    }

    /// When [`RotatingLog::tick`] has something to do next, if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        let hold = match self.last_input {
            Some(t) if !self.held.is_empty() => Some(t + HOLD_TIME),
            _ => None,
        };
        let retry = self.failure.as_ref().map(|f| f.at + RETRY_INTERVAL);
        match (hold, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Writes the held partial line, as it is (at exit).
    pub fn finish_at(&mut self, now: Instant) {
        self.write_held(now);
    }

    /// With a partial line held: adds to it what of `data` belongs to it, and writes it
    /// once it is complete (or too long). Returns the rest of `data`, if any.
    fn complete_held<'d>(&mut self, data: &'d [u8], now: Instant) -> Option<&'d [u8]> {
        if self.held.is_empty() {
            return Some(data);
        }
        match memchr(b'\n', data) {
            None => {
                self.held.extend_from_slice(data);
                if self.held.len() > HOLD_LIMIT {
                    self.write_held(now);
                }
                None
            }
            Some(i) => {
                self.held.extend_from_slice(&data[..=i]);
                self.write_held(now);
                Some(&data[i + 1..])
            }
        }
    }

    /// Writes what is held (complete lines or not) and empties the buffer.
    fn write_held(&mut self, now: Instant) {
        if self.held.is_empty() {
            return;
        }
        let held = std::mem::take(&mut self.held);
        if held.last() == Some(&b'\n') {
            self.emit_lines(&held, now);
        } else {
            self.emit_partial(&held, now);
        }
        self.held = held;
        self.held.clear();
    }

    /// Writes complete lines (`buf` ends with a newline), rotating between lines.
    fn emit_lines(&mut self, mut buf: &[u8], now: Instant) {
        if self.mid_line {
            // The rest of a line the file already holds the start of stays with it.
            let end = memchr(b'\n', buf).map_or(buf.len(), |i| i + 1);
            self.put(&buf[..end], now);
            buf = &buf[end..];
        }
        let Some(max) = self.max_size else {
            self.put(buf, now);
            return;
        };
        while !buf.is_empty() {
            let room = usize::try_from(max.saturating_sub(self.size)).unwrap_or(usize::MAX);
            if buf.len() <= room {
                self.put(buf, now);
                return;
            }
            let first_line = || memchr(b'\n', buf).map_or(buf.len(), |i| i + 1);
            let end = match memrchr(b'\n', &buf[..room]) {
                Some(i) => i + 1,
                None if self.size > 0 && self.rotate(now) => continue,
                // An empty file takes a line longer than the maximum; a file that could
                // not be rotated takes the line anyway.
                None => first_line(),
            };
            self.put(&buf[..end], now);
            buf = &buf[end..];
        }
    }

    /// Writes the start of a line (no newline at its end): rotating first when it does
    /// not fit, unless it continues a line the file already holds.
    fn emit_partial(&mut self, buf: &[u8], now: Instant) {
        if let Some(max) = self.max_size {
            let too_big = self.size > 0 && self.size.saturating_add(buf.len() as u64) > max;
            if !self.mid_line && too_big {
                self.rotate(now);
            }
        }
        self.put(buf, now);
    }

    /// One write of `buf` into the file, or its loss when the file fails.
    fn put(&mut self, buf: &[u8], now: Instant) {
        if buf.is_empty() {
            return;
        }
        if !self.ready(now) {
            self.drop_bytes(buf.len());
            return;
        }
        let Some(file) = self.file.as_mut() else {
            self.drop_bytes(buf.len());
            return;
        };
        let (written, result) = write_all(file, buf);
        self.size += written as u64;
        if written > 0 {
            self.mid_line = buf[written - 1] != b'\n';
        }
        if let Err(e) = result {
            self.drop_bytes(buf.len() - written);
            self.fail(format!("cannot write {}: {e}", self.path.display()), now);
        }
    }

    /// Whether the file can be written: no failure, or one that is a retry interval old
    /// and is over now (the file opens, and the line saying what was lost is written).
    fn ready(&mut self, now: Instant) -> bool {
        let Some(failure) = &self.failure else {
            return self.file.is_some();
        };
        if now < failure.at + RETRY_INTERVAL {
            return false;
        }
        let error = failure.error.clone();
        if self.file.is_none() && !self.reopen(now) {
            return false;
        }
        let Some(file) = self.file.as_mut() else {
            return false;
        };
        let start = if self.mid_line { "\n" } else { "" };
        let lost = self.lost;
        let line = format!("{start}{NOTE_PREFIX}{lost} bytes of output were lost: {error}\n");
        let (written, result) = write_all(file, line.as_bytes());
        self.size += written as u64;
        if written > 0 {
            self.mid_line = line.as_bytes()[written - 1] != b'\n';
        }
        match result {
            Ok(()) => {
                self.failure = None;
                self.lost = 0;
                true
            }
            Err(e) => {
                self.fail(format!("cannot write {}: {e}", self.path.display()), now);
                false
            }
        }
    }

    /// Opens the file anew; on failure records it and returns false.
    fn reopen(&mut self, now: Instant) -> bool {
        self.file = None;
        self.size = 0;
        self.mid_line = false;
        match open_log_file(&self.path) {
            Ok((file, size)) => {
                self.file = Some(file);
                self.size = size;
                true
            }
            Err(e) => {
                self.fail(format!("cannot open {}: {e}", self.path.display()), now);
                false
            }
        }
    }

    /// Rotates now, unless the file is failing or a rotation failed less than a retry
    /// interval ago. Returns whether the current file is a fresh one now.
    fn rotate(&mut self, now: Instant) -> bool {
        if self.file.is_none() || self.failure.is_some() {
            return false;
        }
        if let Some(f) = &self.rotate_error {
            if now < f.at + RETRY_INTERVAL {
                return false;
            }
        }
        match self.shift_files() {
            Ok(()) => {
                self.rotate_error = None;
                if self.keep > 0 {
                    self.reopen(now);
                }
                true
            }
            Err(e) => {
                let error = format!("cannot rotate {}: {e}", self.path.display());
                self.rotate_error = Some(Failure { error, at: now });
                false
            }
        }
    }

    /// The renames of a rotation (or the truncation, with `keep` 0).
    fn shift_files(&mut self) -> io::Result<()> {
        if self.keep == 0 {
            if let Some(file) = &self.file {
                file.set_len(0)?;
            }
            self.size = 0;
            self.mid_line = false;
            return Ok(());
        }
        // The oldest file goes first, so no rename replaces a file: ext4 writes out the
        // data of a file renamed over another at once, which would make each rotation
        // wait for the disk. Files beyond `keep` (left by a run that kept more) go too.
        let _ = fs::remove_file(self.numbered(self.keep));
        for k in self.keep + 1..self.keep.saturating_add(100) {
            if fs::remove_file(self.numbered(k)).is_err() {
                break;
            }
        }
        for k in (2..=self.keep).rev() {
            rename_if_there(&self.numbered(k - 1), &self.numbered(k))?;
        }
        rename_if_there(&self.path, &self.numbered(1))
    }

    /// `LOG.k`.
    fn numbered(&self, k: u32) -> PathBuf {
        let mut name = OsString::from(self.path.as_os_str());
        name.push(format!(".{k}"));
        PathBuf::from(name)
    }

    fn drop_bytes(&mut self, n: usize) {
        self.dropped += n as u64;
        self.lost += n as u64;
    }

    fn fail(&mut self, error: String, now: Instant) {
        self.failure = Some(Failure { error, at: now });
    }
}

/// Opens a log file for appending: never through a symbolic link, only a regular file
/// (a FIFO planted there neither blocks the open nor is written; a terminal does not
/// become the supervisor's). Returns it and its size.
fn open_log_file(path: &Path) -> io::Result<(File, u64)> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor this function owns; F_GETFL/F_SETFL take no pointers.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    Ok((file, meta.len()))
}

/// Writes all of `buf` unless an error stops it; returns what was written and how it
/// ended.
fn write_all(file: &mut File, buf: &[u8]) -> (usize, io::Result<()>) {
    let mut done = 0;
    while done < buf.len() {
        match file.write(&buf[done..]) {
            Ok(0) => return (done, Err(io::ErrorKind::WriteZero.into())),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (done, Err(e)),
        }
    }
    (done, Ok(()))
}

/// `rename(from, to)`, where a missing `from` is not an error.
fn rename_if_there(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
