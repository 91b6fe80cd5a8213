//! The directories the switch makes under its state directory, on a machine as new as a
//! fresh Debian root filesystem: `/var/lock` is a link to `/run/lock`, which nothing has
//! made yet. A dangling link that root (or the caller) owns gets its target made; one that
//! another user planted is refused.

use crate::common;

use std::os::unix::fs::symlink;
use std::process::{Command, Output};

use common::TestDir;

fn undeploy_in(state: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nixproc-sysvinit-switch"))
        .arg("--state-dir")
        .arg(state)
        .arg("--profile")
        .arg(state.join("profile"))
        .args(["--runlevel", "3", "--undeploy", "--quiet"])
        .output()
        .expect("run the switch")
}

#[test]
fn a_dangling_lock_link_of_roots_gets_its_target_made() {
    let dir = TestDir::new("nixproc-statedirs-");
    let state = dir.mkdir("var", 0o755);
    symlink("../run/lock", state.join("lock")).expect("make the link");
    let out = undeploy_in(&state);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dir.path().join("run/lock").is_dir(),
        "the link's target was not made"
    );
}

#[test]
fn a_dangling_link_planted_by_another_user_is_refused() {
    let dir = TestDir::new("nixproc-statedirs-");
    let state = dir.mkdir("var", 0o755);
    let link = state.join("lock");
    symlink("../elsewhere", &link).expect("make the link");
    common::run_ok(
        Command::new("chown").args(["-h", "nobody"]).arg(&link),
        "chown -h nobody",
    );
    let out = undeploy_in(&state);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the switch followed another user's link"
    );
    assert!(stderr.contains("creating"), "{stderr}");
    assert!(!dir.path().join("elsewhere").exists());
}
