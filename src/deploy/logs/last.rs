//! The last lines of logs: read from a file's end in chunks, taken across the rotated
//! files (oldest first), and printed before following begins.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::open::{open_log, rotated};
use super::{Follower, LogSource, LogsError, Printer, ShowError};

/// Rotated files looked at beyond the current one (`LOG.1` .. `LOG.N`).
const MAX_ROTATED: u32 = 1000;
/// Bytes read at a time when looking for the last lines from a file's end.
const CHUNK: u64 = 64 * 1024;

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
pub(super) type OpenLog = (File, u64);

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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::deploy::logs::test_support::{source, write};

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
}
