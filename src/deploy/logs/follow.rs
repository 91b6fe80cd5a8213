//! Following logs as they grow: what is appended is printed, a file renamed away
//! (rotation) is left for the new one, a truncated one is read again from its start,
//! and following ends when the reader of the output goes away.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::last::OpenLog;
use super::open::open_log;
use super::{LogSource, LogsError, Printer, ShowError};

/// How long following waits between looks at the files.
const FOLLOW_TICK: Duration = Duration::from_millis(100);

/// One log file being followed.
pub struct Follower {
    /// The process whose log it is.
    source: LogSource,
    /// The path followed: the current file, whichever file has that name.
    path: PathBuf,
    /// The file read, the offset read up to, and its device and inode.
    open: Option<(File, u64, (u64, u64))>,
    /// The start of a line whose end has not been written yet.
    partial: Vec<u8>,
}

impl Follower {
    /// Follows `path` of `source` from `current`, the file and offset the last lines
    /// ended at (`None`: from the start of the file that appears at `path`).
    pub(super) fn new(source: &LogSource, path: &Path, current: Option<OpenLog>) -> Follower {
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

    /// An error reading the file followed.
    fn io(&self, error: io::Error) -> ShowError {
        ShowError::Logs(LogsError::Io {
            name: self.source.name.clone(),
            path: self.path.clone(),
            error,
        })
    }

    /// Opens the file now at the path, when there is one, to read it from its start.
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

    /// Prints the unfinished line kept, as a line of its own.
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

    use crate::deploy::logs::open::rotated;
    use crate::deploy::logs::print_last;

    use crate::deploy::logs::test_support::{source, write};

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
}
