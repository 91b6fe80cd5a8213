//! The log writer thread: reads the clients' output pipe into a [`RotatingLog`], puts the
//! supervisor's notes between the lines, and reports the log's health.
//!
//! The supervisor keeps the pipe's write end (every client gets it), so the pipe never
//! ends; notes come through a pipe of their own, and closing that one tells the thread
//! to write what is left and finish. Before a note is written, the output pipe is
//! drained, so a note about an exit comes after everything the client wrote.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::log::{LogHealth, RotatingLog, RETRY_INTERVAL};
use super::sys;

/// The size of the buffer the output is read into.
pub const READ_BUFFER: usize = 256 * 1024;
/// The most reads in a row without a poll (a note waits at most that long).
const BURST_READS: usize = 16;
/// The longest note (notes are written to their pipe in one write, atomically).
const NOTE_MAX: usize = 3000;
/// The most reads of one drain, so that a writer that never pauses cannot hold a note
/// back for ever.
const DRAIN_READS: usize = 256;

/// Called with the log's health whenever it changed, at most once a second (and once
/// more when the writer finishes).
pub type HealthReport = Box<dyn FnMut(&LogHealth) + Send>;

/// The running log writer thread.
#[derive(Debug)]
pub struct LogWriter {
    notes: Option<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

impl LogWriter {
    /// Starts the thread reading `input` (the read end of the output pipe) into `log`.
    pub fn start(log: RotatingLog, input: OwnedFd, report: HealthReport) -> io::Result<LogWriter> {
        sys::set_nonblocking(&input)?;
        let (notes_in, notes) = sys::pipe()?;
        // A writer stuck on a hung disk must not stop the supervisor: notes it cannot
        // take are dropped.
        sys::set_nonblocking(&notes)?;
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || Pump::new(log, input, notes_in, report).run())?;
        Ok(LogWriter {
            notes: Some(notes),
            thread: Some(thread),
        })
    }

    /// Has `text` written as a line of the supervisor's own (after the output read so
    /// far).
    pub fn note(&self, text: &str) {
        let Some(notes) = &self.notes else {
            return;
        };
        let mut line: String = text
            .chars()
            .map(|c| if c == '\n' { ' ' } else { c })
            .collect();
        if line.len() > NOTE_MAX {
            let mut end = NOTE_MAX;
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            line.truncate(end);
        }
        line.push('\n');
        let _ = sys::write_all(notes.as_raw_fd(), line.as_bytes());
    }

    /// Writes what is left (the output in the pipe, a held partial line) and ends the
    /// thread.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.notes = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The thread's side.
struct Pump {
    log: RotatingLog,
    input: Option<OwnedFd>,
    notes: OwnedFd,
    pending_notes: Vec<u8>,
    buf: Vec<u8>,
    report: HealthReport,
    reported: LogHealth,
    reported_at: Option<Instant>,
}

impl Pump {
    fn new(log: RotatingLog, input: OwnedFd, notes: OwnedFd, report: HealthReport) -> Pump {
        Pump {
            log,
            input: Some(input),
            notes,
            pending_notes: Vec::new(),
            buf: vec![0; READ_BUFFER],
            report,
            reported: LogHealth::default(),
            reported_at: None,
        }
    }

    fn run(mut self) {
        self.report_health(Instant::now(), false);
        loop {
            let now = Instant::now();
            let timeout = sys::until(self.next_deadline(), now);
            let mut fds = [sys::poll_in(self.notes.as_raw_fd()), sys::poll_in(-1)];
            if let Some(input) = &self.input {
                fds[1] = sys::poll_in(input.as_raw_fd());
            }
            if sys::poll(&mut fds, timeout).is_err() {
                // Nothing sensible is left to wait on; do not spin.
                std::thread::sleep(Duration::from_millis(100));
            }
            if fds[1].revents != 0 {
                // While output keeps coming, read on without polling in between.
                for _ in 0..BURST_READS {
                    if !self.read_input() {
                        break;
                    }
                }
            }
            if fds[0].revents != 0 && !self.read_notes() {
                break;
            }
            let now = Instant::now();
            self.log.tick(now);
            self.report_health(now, false);
        }
        self.drain();
        let now = Instant::now();
        self.log.finish_at(now);
        self.report_health(now, true);
    }

    /// When something is due: a held line, a retry, a health report put off.
    fn next_deadline(&self) -> Option<Instant> {
        let report = match self.reported_at {
            Some(at) if self.log.health() != self.reported => Some(at + RETRY_INTERVAL),
            _ => None,
        };
        match (self.log.next_deadline(), report) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// One read of the output; returns whether it got any.
    fn read_input(&mut self) -> bool {
        let Some(input) = &self.input else {
            return false;
        };
        match sys::read(input.as_raw_fd(), &mut self.buf) {
            Ok(0) => {
                self.input = None;
                false
            }
            Ok(n) => {
                self.log.write_at(&self.buf[..n], Instant::now());
                true
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(_) => {
                self.input = None;
                false
            }
        }
    }

    /// Reads what the output pipe holds now.
    fn drain(&mut self) {
        for _ in 0..DRAIN_READS {
            if !self.read_input() {
                return;
            }
        }
    }

    /// Reads notes and writes the complete ones, after the output read so far; returns
    /// false once the notes pipe is closed.
    fn read_notes(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        let n = match sys::read(self.notes.as_raw_fd(), &mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(_) => 0,
        };
        self.pending_notes.extend_from_slice(&chunk[..n]);
        if self.pending_notes.contains(&b'\n') {
            self.drain();
            let now = Instant::now();
            while let Some(i) = memchr::memchr(b'\n', &self.pending_notes) {
                let line: Vec<u8> = self.pending_notes.drain(..=i).collect();
                let text = String::from_utf8_lossy(&line[..i]);
                self.log.note_at(&text, now);
            }
        }
        n > 0
    }

    /// Reports the health when it changed and the last report is a second old (or
    /// `force`).
    fn report_health(&mut self, now: Instant, force: bool) {
        let health = self.log.health();
        let due = self
            .reported_at
            .map_or(true, |at| now >= at + RETRY_INTERVAL);
        if health != self.reported && (due || force) {
            (self.report)(&health);
            self.reported = health;
            self.reported_at = Some(now);
        }
    }
}
