//! Running programs: scripts with their output captured in files (a daemon that keeps an
//! inherited pipe open can never make a test hang), and assertions on how a command
//! ended that show its output when it did not end as expected.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The result of a script run.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `program args` with extra environment `env`, capturing output through files in
/// `dir` so that daemons that inherit the descriptors cannot block the test.
pub fn run_script(dir: &Path, program: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let out_path = dir.join(format!(".run-{n}.out"));
    let err_path = dir.join(format!(".run-{n}.err"));
    let out = fs::File::create(&out_path).expect("create the output file");
    let err = fs::File::create(&err_path).expect("create the error file");
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    let stdout = fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = fs::read_to_string(&err_path).unwrap_or_default();
    let _ = fs::remove_file(&out_path);
    let _ = fs::remove_file(&err_path);
    Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

/// Asserts a command succeeded, showing its output otherwise; returns its status and
/// output as one text.
pub fn assert_succeeded(out: &Output) -> String {
    let text = format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "command failed: {text}");
    text
}

/// Runs `cmd`, which must succeed (else the failure names `what` and shows its stderr),
/// and returns its standard output, which must be UTF-8.
pub fn stdout_of(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what} does not run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap_or_else(|e| panic!("{what}: output not UTF-8: {e}"))
}

/// Runs `cmd`, which must succeed (else the failure names `what` and shows its stderr).
pub fn run_ok(cmd: &mut Command, what: &str) {
    stdout_of(cmd, what);
}

/// Asserts that `text` (a command's output) contains `wanted`, showing both otherwise.
pub fn assert_contains(text: &str, wanted: &str) {
    assert!(text.contains(wanted), "want: {wanted}\ngot: {text}");
}

/// Asserts a command failed; returns its stderr.
pub fn assert_failed(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "command unexpectedly succeeded:\n{}\n{err}",
        String::from_utf8_lossy(&out.stdout)
    );
    err
}
