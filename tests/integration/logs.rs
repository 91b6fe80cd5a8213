//! `nixproc-sysvinit-runactivity logs` on processes deployed by the switch: the last lines
//! across rotated files, several processes with a name prefix, a name with a typo, a
//! planted link refused, and following a log through its rotations until the reader goes
//! away. (Logs over SSH: `fleet::one_target_host_is_deployed_and_asked_for_status`.)
//! Run as root.

use crate::common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// Writes an executable shell program.
fn program(path: &Path, body: &str) {
    fs::write(path, format!("#!/bin/bash\n{body}\n")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A foreground process `name` running `program` with its log rotated at `max_size`
/// bytes, `keep` files kept.
fn foreground(name: &str, program: &Path, max_size: u32, keep: u32) -> String {
    format!(
        "{name}.pkg = create {{ name = \"{name}\"; process = \"{}\"; processIsDaemon = false;\n\
           logRotate = {{ maxSize = {max_size}; keep = {keep}; }}; runlevels = [ 3 ]; }};\n",
        program.display()
    )
}

fn stdout_lines(out: &std::process::Output) -> Vec<String> {
    assert_succeeded(out);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_last_lines_of_one_or_all_processes_across_rotated_files() {
    assert!(is_root(), "this test deploys as root");
    let d = ModelDeployment::new("logs", &[]);
    let counter = d.dir.path().join("counter");
    // 2,000 lines of 11 bytes in files of 4 KiB: the last lines span rotated files.
    program(&counter, "seq -f 'count %05.0f' 1 2000\nexec sleep 600");
    let greeter = d.dir.path().join("greeter");
    program(
        &greeter,
        "echo hello; echo 'from $(the) greeter'\nexec sleep 600",
    );
    let processes = write_model(
        d.dir.path(),
        &format!(
            "{{ {}{} }}",
            foreground("counter", &counter, 4096, 5),
            foreground("greeter", &greeter, 4096, 5)
        ),
    );
    assert_succeeded(&d.switch(&[processes.to_str().unwrap()]));
    let log = d.dir.path().join("state/log");
    assert!(
        wait_until(Duration::from_secs(30), || {
            fs::read_to_string(log.join("counter.log")).is_ok_and(|t| t.ends_with("count 02000\n"))
                && fs::read_to_string(log.join("greeter.log")).is_ok_and(|t| t.contains("greeter"))
        }),
        "the programs' output reached their logs"
    );
    let current = fs::read_to_string(log.join("counter.log")).unwrap();
    let in_current = current.lines().count();
    assert!(
        log.join("counter.log.1").exists() && in_current < 400,
        "the counter's log was rotated ({in_current} lines in the current file)"
    );

    // Exactly the last five lines.
    let lines = stdout_lines(&d.runactivity(&["logs", "-n", "5", "counter"]));
    assert_eq!(
        lines,
        [
            "count 01996",
            "count 01997",
            "count 01998",
            "count 01999",
            "count 02000"
        ]
    );
    // More lines than the current file holds: the older ones come from counter.log.1.
    let want = in_current + 10;
    let lines = stdout_lines(&d.runactivity(&["logs", "--lines", &want.to_string(), "counter"]));
    let expected: Vec<String> = (2001 - want..=2000)
        .map(|i| format!("count {i:05}"))
        .collect();
    assert_eq!(lines, expected);

    // All processes, each line prefixed with its name (padded to one width).
    let lines = stdout_lines(&d.runactivity(&["logs", "-n", "2"]));
    assert_eq!(
        lines,
        [
            "counter | count 01999",
            "counter | count 02000",
            "greeter | hello",
            "greeter | from $(the) greeter",
        ]
    );

    // A typo gets a suggestion; nothing is printed.
    let out = d.runactivity(&["logs", "countr"]);
    let err = assert_failed(&out);
    assert!(
        err.contains("no process 'countr'") && err.contains("did you mean 'counter'?"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    // The logs options belong to `logs`.
    let err = assert_failed(&d.runactivity(&["status", "-n", "3"]));
    assert!(err.contains("go with `logs`"), "{err}");

    // Root does not follow a link planted in a log's place.
    let secret = d.dir.path().join("secret");
    fs::write(&secret, "SECRET\n").unwrap();
    fs::remove_file(log.join("greeter.log")).unwrap();
    std::os::unix::fs::symlink(&secret, log.join("greeter.log")).unwrap();
    let out = d.runactivity(&["logs", "greeter"]);
    let err = assert_failed(&out);
    assert!(
        err.contains("refusing log file")
            && err.contains("greeter.log")
            && err.contains("symbolic link"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("SECRET"));
    assert_succeeded(&d.switch(&["--undeploy"]));
}

#[test]
fn following_a_log_goes_on_through_its_rotations_and_ends_with_its_reader() {
    assert!(is_root(), "this test deploys as root");
    let d = ModelDeployment::new("follow", &[]);
    let ticker = d.dir.path().join("ticker");
    // About 100 lines a second into files of 2 KiB (about 180 lines each).
    program(
        &ticker,
        "for i in $(seq -f '%05.0f' 1 60000); do echo \"tick $i\"; sleep 0.01; done\nexec sleep 600",
    );
    let processes = write_model(
        d.dir.path(),
        &format!("{{ {} }}", foreground("ticker", &ticker, 2048, 3)),
    );
    assert_succeeded(&d.switch(&[processes.to_str().unwrap()]));

    let mut follower = Command::new(env!("CARGO_BIN_EXE_nixproc-sysvinit-runactivity"))
        .arg("-p")
        .arg(d.profile_link())
        .arg("--state-dir")
        .arg(d.dir.path().join("state"))
        .args(["--runlevel", "3", "logs", "-f", "-n", "1", "ticker"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = ProcessGuard::new();
    guard.pid(follower.id() as i32);
    let stdout = follower.stdout.take().unwrap();
    let mut numbers = Vec::new();
    for line in BufReader::new(stdout).lines().take(600) {
        let line = line.unwrap();
        let n: u32 = line
            .strip_prefix("tick ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("not a whole line: {line:?}"));
        numbers.push(n);
    }
    // The reader is gone (the pipe dropped above): the follower ends by itself.
    assert!(
        wait_until(Duration::from_secs(10), || follower
            .try_wait()
            .unwrap()
            .is_some()),
        "the follower outlived its reader"
    );
    let first = numbers[0];
    let expected: Vec<u32> = (first..first + 600).collect();
    assert_eq!(numbers, expected, "lines lost or repeated while following");
    let rotated = d.dir.path().join("state/log/ticker.log.1");
    assert!(
        rotated.exists(),
        "the log was rotated while it was followed"
    );
    assert_succeeded(&d.switch(&["--undeploy"]));
}
