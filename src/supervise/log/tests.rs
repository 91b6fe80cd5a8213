//! Tests of the rotating log: rotation by lines, limits, `keep`, held partial lines, and
//! failures (a directory, a symbolic link or a FIFO in the log's place; a full tmpfs).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::*;

/// `n` numbered lines of 10 bytes each, from `from`.
fn lines(from: u32, n: u32) -> String {
    (from..from + n).map(|i| format!("line {i:04}\n")).collect()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The contents of LOG.k .. LOG.1, LOG: oldest first.
fn files(log: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for k in (1..100).rev() {
        let p = PathBuf::from(format!("{}.{k}", log.display()));
        if p.exists() {
            out.push(read(&p));
        }
    }
    out.push(read(log));
    out
}

fn ms(base: Instant, ms: u64) -> Instant {
    base + Duration::from_millis(ms)
}

#[test]
fn lines_pass_through_and_a_partial_line_waits_for_its_newline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.log");
    let mut log = RotatingLog::open(&path, None, 5);
    log.write(b"one\ntw");
    assert_eq!(read(&path), "one\n");
    log.write(b"o\nthree");
    assert_eq!(read(&path), "one\ntwo\n");
    log.finish_at(Instant::now());
    assert_eq!(read(&path), "one\ntwo\nthree");
    assert_eq!(log.health(), LogHealth::default());
    let mode = std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o7777 & !0o640, 0, "mode {mode:o}");
}

#[test]
fn files_are_rotated_between_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.log");
    let mut log = RotatingLog::open(&path, Some(100), 5);
    log.write(lines(1, 25).as_bytes());
    assert_eq!(files(&path), [lines(1, 10), lines(11, 10), lines(21, 5)]);
    assert_eq!(log.size(), 50);
}

#[test]
fn how_the_output_is_chunked_does_not_change_the_files() {
    let text = lines(1, 200) + "a line of thirty bytes here..\n" + &lines(201, 50);
    for chunk in [1, 3, 7, 10, 13, 64, 999] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let mut log = RotatingLog::open(&path, Some(95), 100);
        for piece in text.as_bytes().chunks(chunk) {
            log.write(piece);
        }
        let got = files(&path);
        assert_eq!(got.concat(), text, "chunks of {chunk}");
        for f in &got {
            assert!(
                f.len() <= 95,
                "chunks of {chunk}: a file of {} bytes",
                f.len()
            );
            assert!(f.ends_with('\n'), "chunks of {chunk}: {f:?}");
        }
        assert_eq!(got.len(), 1 + (text.len() - 1) / 90, "chunks of {chunk}");
    }
}

#[test]
fn a_line_longer_than_the_maximum_goes_alone_into_a_fresh_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.log");
    let long = format!("{}\n", "x".repeat(49));
    let mut log = RotatingLog::open(&path, Some(20), 5);
    log.write(format!("short\n{long}tail\n").as_bytes());
    assert_eq!(
        files(&path),
        ["short\n".to_string(), long.clone(), "tail\n".into()]
    );
    // Also when it is the first line of an empty file, and in pieces.
    let path = dir.path().join("second.log");
    let mut log = RotatingLog::open(&path, Some(20), 5);
    for piece in long.as_bytes().chunks(7) {
        log.write(piece);
    }
    log.write(b"next\n");
    assert_eq!(files(&path), [long, "next\n".into()]);
}

#[test]
fn keep_limits_the_rotated_files_and_removes_those_beyond() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.log");
    for stale in ["out.log.3", "out.log.4"] {
        fs::write(dir.path().join(stale), "stale\n").unwrap();
    }
    let mut log = RotatingLog::open(&path, Some(20), 2);
    log.write(lines(1, 9).as_bytes());
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["out.log", "out.log.1", "out.log.2"]);
    assert_eq!(files(&path), [lines(5, 2), lines(7, 2), lines(9, 1)]);
}

#[test]
fn keep_zero_truncates_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.log");
    let mut log = RotatingLog::open(&path, Some(30), 0);
    log.write(lines(1, 10).as_bytes());
    assert_eq!(read(&path), lines(10, 1));
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_partial_line_is_written_after_a_pause_and_its_rest_follows_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.log");
    let t = Instant::now();
    let mut log = RotatingLog::open_at(&path, Some(20), 5, t);
    log.write_at(b"0123456789\nprompt> ", t);
    assert_eq!(log.next_deadline(), Some(ms(t, 200)));
    log.tick(ms(t, 199));
    assert_eq!(read(&path), "0123456789\n");
    log.tick(ms(t, 200));
    assert_eq!(read(&path), "0123456789\nprompt> ");
    assert_eq!(log.next_deadline(), None);
    // The rest of the line stays in the same file although it does not fit.
    log.write_at(b"answered\nnext\n", ms(t, 300));
    assert_eq!(files(&path), ["0123456789\nprompt> answered\n", "next\n"]);
}

#[test]
fn a_partial_line_beyond_the_hold_limit_is_written_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.log");
    let mut log = RotatingLog::open(&path, None, 5);
    log.write(&vec![b'a'; HOLD_LIMIT]);
    assert_eq!(fs::metadata(&path).unwrap().len(), 0);
    log.write(b"b");
    assert_eq!(fs::metadata(&path).unwrap().len(), HOLD_LIMIT as u64 + 1);
    log.write(&vec![b'c'; HOLD_LIMIT + 1]);
    assert_eq!(
        fs::metadata(&path).unwrap().len(),
        2 * HOLD_LIMIT as u64 + 2
    );
}

#[test]
fn notes_are_lines_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.log");
    let t = Instant::now();
    let mut log = RotatingLog::open_at(&path, None, 5, t);
    log.write_at(b"half a li", t);
    log.note_at("web exited with status 1\nfor real", t);
    log.note_at("web stopped", t);
    assert_eq!(
        read(&path),
        "half a li\nnixproc-sysvinit-supervise: web exited with status 1 for real\n\
         nixproc-sysvinit-supervise: web stopped\n"
    );
}

#[test]
fn an_open_failure_drops_and_counts_output_until_the_file_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.log");
    fs::create_dir(&path).unwrap();
    let t = Instant::now();
    let mut log = RotatingLog::open_at(&path, None, 5, t);
    let health = log.health();
    assert!(
        health
            .error
            .as_deref()
            .unwrap_or("")
            .contains("cannot open"),
        "{health:?}"
    );
    log.write_at(b"lost one\n", t);
    fs::remove_dir(&path).unwrap();
    // Not tried again before a second has passed.
    log.write_at(b"lost two\n", ms(t, 500));
    assert!(!path.exists());
    assert_eq!(log.health().dropped, 18);
    assert_eq!(log.next_deadline(), Some(ms(t, 1000)));
    log.write_at(b"kept\n", ms(t, 1000));
    let text = read(&path);
    assert!(
        text.starts_with("nixproc-sysvinit-supervise: 18 bytes of output were lost: cannot open"),
        "{text}"
    );
    assert!(
        text.ends_with("Is a directory (os error 21)\nkept\n"),
        "{text}"
    );
    assert_eq!(
        log.health(),
        LogHealth {
            error: None,
            dropped: 18
        }
    );
}

#[test]
fn a_symbolic_link_or_a_fifo_in_the_logs_place_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    fs::write(&target, "precious\n").unwrap();
    let link = dir.path().join("link.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let mut log = RotatingLog::open(&link, None, 5);
    log.write(b"attack\n");
    assert_eq!(read(&target), "precious\n");
    assert!(log.health().error.is_some_and(|e| e.contains("link.log")));
    let fifo = dir.path().join("fifo.log");
    let cpath = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo reads a NUL-terminated path that lives across the call.
    assert_eq!(unsafe { libc::mkfifo(cpath.as_ptr(), 0o644) }, 0);
    let mut log = RotatingLog::open(&fifo, None, 5);
    log.write(b"x\n");
    let health = log.health();
    assert_eq!(health.dropped, 2);
    assert!(health.error.is_some(), "{health:?}");
}

/// A tmpfs of 64 KiB mounted on a temporary directory, unmounted on drop.
struct SmallTmpfs {
    dir: tempfile::TempDir,
}

impl SmallTmpfs {
    fn mount() -> Option<SmallTmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallTmpfs { dir })
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        // Another test's fork may hold a descriptor of ours for a moment: try again,
        // and at last detach the mount (it goes once nothing uses it).
        for _ in 0..50 {
            let status = Command::new("umount")
                .arg(self.dir.path())
                .stderr(std::process::Stdio::null())
                .status();
            if status.is_ok_and(|s| s.success()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_disk_loses_output_that_is_counted_and_reported_once_there_is_room() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: only root can mount the small tmpfs this test fills");
        return;
    }
    let fs = SmallTmpfs::mount().expect("mount a tmpfs (root)");
    let path = fs.dir.path().join("out.log");
    let t = Instant::now();
    let mut log = RotatingLog::open_at(&path, None, 5, t);
    let chunk = lines(0, 1000);
    for i in 0..10 {
        log.write_at(chunk.as_bytes(), ms(t, i));
    }
    let health = log.health();
    let on_disk = fs::metadata(&path).unwrap().len();
    assert_eq!(health.dropped + on_disk, 100_000, "{health:?}");
    assert!(on_disk <= 65_536 && health.dropped >= 30_000, "{health:?}");
    let error = health.error.unwrap_or_default();
    assert!(error.contains("No space left on device"), "{error}");
    // Room again: the next try (a second after the failure) writes what was lost.
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    log.tick(ms(t, 500));
    assert_eq!(fs::metadata(&path).unwrap().len(), 0);
    log.tick(ms(t, 1100));
    // The disk filled in the middle of a line, so the note starts on a line of its own.
    let text = read(&path);
    assert_eq!(
        text,
        format!(
            "\nnixproc-sysvinit-supervise: {} bytes of output were lost: {error}\n",
            health.dropped
        )
    );
    assert_eq!(log.health().error, None);
    log.write_at(b"after\n", ms(t, 1200));
    assert_eq!(read(&path), text + "after\n");
}
