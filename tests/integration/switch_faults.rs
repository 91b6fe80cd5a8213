//! Fault injection: failed starts roll back, killed switches are recovered, concurrent
//! switches are refused.

use crate::common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use common::*;

/// v1: 12 processes in 4 layers of 3. v2: 20 processes: layer 0 unchanged, layer 1
/// changed, layers 2-3 dropped, 14 new ones (in 2 layers of 7) on top of layer 1.
fn versions(sb: &Sandbox) -> (PathBuf, Vec<Proc>, PathBuf, Vec<Proc>) {
    let v1 = layered("p", 4, 3);
    let mut v2 = first_layer_kept_second_changed(&v1);
    let layer1: Vec<&str> = vec!["p1x0", "p1x1", "p1x2"];
    for w in 0..7 {
        v2.push(Proc::new(&format!("n0x{w}"), &layer1));
    }
    let layer_n0: Vec<String> = (0..7).map(|w| format!("n0x{w}")).collect();
    let layer_n0: Vec<&str> = layer_n0.iter().map(String::as_str).collect();
    for w in 0..7 {
        v2.push(Proc::new(&format!("n1x{w}"), &layer_n0));
    }
    assert_eq!(v2.len(), 20);
    let p1 = sb.profile("v1", &v1);
    let p2 = sb.profile("v2", &v2);
    (p1, v1, p2, v2)
}

fn pids(sb: &Sandbox, procs: &[Proc]) -> BTreeMap<String, Option<u32>> {
    procs
        .iter()
        .map(|p| (p.name.clone(), sb.pid(&p.name)))
        .collect()
}

/// Asserts that every process of `wanted` runs and none of `others` that is not in
/// `wanted`; `label` names `wanted` and `stray` the others in the messages.
fn assert_only_running(sb: &Sandbox, wanted: &[Proc], others: &[Proc], label: &str, stray: &str) {
    let all = names(wanted);
    assert_eq!(
        sb.running(&all),
        all,
        "{label} not fully running; events {:?}",
        sb.events()
    );
    let rest: Vec<String> = names(others)
        .into_iter()
        .filter(|n| !all.contains(n))
        .collect();
    assert!(
        sb.running(&rest).is_empty(),
        "{stray} processes running: {:?}",
        sb.running(&rest)
    );
}

fn assert_v1_running(sb: &Sandbox, v1: &[Proc], v2: &[Proc]) {
    assert_only_running(sb, v1, v2, "v1", "new");
}

fn assert_v2_running(sb: &Sandbox, v1: &[Proc], v2: &[Proc]) {
    assert_only_running(sb, v2, v1, "v2", "obsolete");
}

#[test]
fn failed_start_in_the_middle_rolls_back() {
    let sb = Sandbox::new();
    let (p1, v1, p2, v2) = versions(&sb);
    assert_succeeded(&sb.switch(&["--jobs", "4", p1.to_str().unwrap()]));
    let gen1 = sb.deployed().unwrap();
    let before = pids(&sb, &v1);
    // n0x3 sits in the middle of v2's start order.
    std::fs::write(sb.run().join("fail-n0x3"), "").unwrap();
    sb.clear_events();
    let err = assert_failed(&sb.switch(&["--jobs", "4", p2.to_str().unwrap()]));
    assert!(err.contains("start of `n0x3` failed"), "{err}");
    assert!(
        err.contains("injected failure of n0x3"),
        "script output missing: {err}"
    );
    assert!(err.contains("rolled back"), "{err}");
    assert_eq!(sb.deployed().unwrap(), gen1, "profile moved");
    assert_v1_running(&sb, &v1, &v2);
    let after = pids(&sb, &v1);
    // Unchanged processes were never touched.
    for n in ["p0x0", "p0x1", "p0x2"] {
        assert_eq!(before[n], after[n], "{n} restarted");
    }
    let ev = sb.events();
    // Some new processes had started before the failure and were stopped again.
    assert!(ev.iter().any(|e| e.starts_with("start n0x")), "{ev:?}");
    assert!(
        ev.iter().any(|e| e == "start p1x0 1"),
        "changed process not restored to v1: {ev:?}"
    );
    // The journal is closed: the next switch has nothing to recover and succeeds.
    std::fs::remove_file(sb.run().join("fail-n0x3")).unwrap();
    let out = assert_succeeded(&sb.switch(&[p2.to_str().unwrap()]));
    assert!(!out.contains("recover"), "{out}");
    assert_v2_running(&sb, &v1, &v2);
    sb.undeploy_leaving_nothing();
}

/// Journal records of the v1 → v2 switch: 1 begin, 2 per step, then profile-moved, end.
#[test]
fn killed_switch_is_recovered_by_the_next_run() {
    let steps = 9 /* stops: 3 changed + 6 obsolete */ + 17 /* starts: 3 changed + 14 new */;
    let moved = 1 + 2 * steps + 1;
    for kill_at in [1, 2, 10, 2 * 9 + 1, 2 * 9 + 8, moved - 1, moved] {
        let sb = Sandbox::new();
        let (p1, v1, p2, v2) = versions(&sb);
        assert_succeeded(&sb.switch(&["--jobs", "3", p1.to_str().unwrap()]));
        let gen1 = sb.deployed().unwrap();
        let out = sb
            .switch_cmd()
            .env("NIXPROC_TEST_KILL_AT_RECORD", kill_at.to_string())
            .args(["--jobs", "3", p2.to_str().unwrap()])
            .output()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(9), "kill at {kill_at}: {out:?}");
        let journal = sb.tool_state().join("journal.jsonl");
        assert!(journal.exists(), "kill at {kill_at}: no journal");
        if kill_at < moved {
            assert_eq!(
                sb.deployed().unwrap(),
                gen1,
                "kill at {kill_at}: profile moved early"
            );
        }
        // A dry run does not touch the journal.
        assert_succeeded(&sb.switch(&["--dry-run", p1.to_str().unwrap()]));
        assert!(journal.exists());
        // The next switch (back to v1: a plain "make it so") recovers, then switches.
        let out = assert_succeeded(&sb.switch(&["--jobs", "3", p1.to_str().unwrap()]));
        assert!(out.contains("interrupted"), "kill at {kill_at}: {out}");
        assert!(!journal.exists());
        assert_eq!(sb.deployed().unwrap(), gen1);
        assert_v1_running(&sb, &v1, &v2);
        assert_succeeded(&sb.switch(&["--undeploy"]));
        assert!(sb.leftovers().is_empty(), "kill at {kill_at}");
    }
}

#[test]
fn kill_9_during_a_slow_start_converges_to_the_requested_profile() {
    let sb = Sandbox::new();
    let (p1, v1, p2, v2) = versions(&sb);
    assert_succeeded(&sb.switch(&[p1.to_str().unwrap()]));
    std::fs::write(sb.run().join("slow-n0x2"), "1.5").unwrap();
    let mut child = sb.spawn_switch(&p2);
    // Wait until the slow start runs, then kill the switch.
    assert!(sb.wait_for_step("n0x2", "start"), "slow start never began");
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_file(sb.run().join("slow-n0x2")).unwrap();
    // The next run asks for v2 again: it waits for the orphaned script, rolls back,
    // then switches to v2.
    let out = assert_succeeded(&sb.switch(&[p2.to_str().unwrap()]));
    assert!(out.contains("interrupted"), "{out}");
    assert_v2_running(&sb, &v1, &v2);
    assert!(sb.deployed().unwrap().to_string_lossy().ends_with("-v2"));
    sb.undeploy_leaving_nothing();
}

#[test]
fn a_second_switch_fails_at_once_with_no_wait_and_waits_without() {
    let sb = Sandbox::new();
    let p = sb.profile(
        "v1",
        &[Proc::new("slow", &[]), Proc::new("after", &["slow"])],
    );
    let p2 = sb.profile("v2", &[Proc::new("slow", &[])]);
    std::fs::write(sb.run().join("slow-slow"), "2").unwrap();
    let mut first = sb.spawn_switch(&p);
    assert!(sb.wait_for_step("slow", "start"));
    let second = sb.switch(&["--no-wait", p.to_str().unwrap()]);
    // The second one returned while the first is still busy with its slow start.
    assert!(
        first.try_wait().unwrap().is_none(),
        "first switch already over"
    );
    let err = assert_failed(&second);
    assert_contains(
        &err,
        &format!(
            "another nixproc-sysvinit-switch (pid {}) is running",
            first.id()
        ),
    );
    // Without --no-wait, a switch says whom it waits for, then runs after the first.
    std::fs::write(sb.run().join("slow-slow"), "1").unwrap();
    let _ = std::fs::remove_file(sb.tool_state().join("logs/slow.start.log"));
    let mut first = {
        assert!(first.wait().unwrap().success());
        assert_succeeded(&sb.switch(&["--undeploy"]));
        sb.spawn_switch(&p)
    };
    assert!(sb.wait_for_step("slow", "start"));
    let out = sb.switch(&[p2.to_str().unwrap()]);
    let text = assert_succeeded(&out);
    assert_contains(
        &text,
        &format!(
            "waiting for nixproc-sysvinit-switch (pid {}) to finish",
            first.id()
        ),
    );
    assert!(first.wait().unwrap().success());
    // The waiting switch planned from what the first one deployed: `after` stopped.
    assert!(text.contains("1 stopped"), "{text}");
    assert!(sb.pid("slow").is_some() && sb.pid("after").is_none());
    sb.undeploy_leaving_nothing();
}

#[test]
fn a_recovery_killed_in_turn_is_recovered_again() {
    let sb = Sandbox::new();
    let (p1, v1, p2, v2) = versions(&sb);
    assert_succeeded(&sb.switch(&[p1.to_str().unwrap()]));
    let gen1 = sb.deployed().unwrap();
    // Kill the switch in the middle of its starts...
    let out = sb
        .switch_cmd()
        .env("NIXPROC_TEST_KILL_AT_RECORD", "26")
        .arg(&p2)
        .output()
        .unwrap();
    assert!(!out.status.success());
    // ...then kill the next run in the middle of its rollback (its 3rd appended record).
    let out = sb
        .switch_cmd()
        .env("NIXPROC_TEST_KILL_AT_RECORD", "3")
        .arg(&p2)
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(9), "{out:?}");
    assert_eq!(sb.deployed().unwrap(), gen1);
    // A dry run mentions the pending recovery and changes nothing.
    let dry = assert_succeeded(&sb.switch(&["--dry-run", p2.to_str().unwrap()]));
    assert!(dry.contains("interrupted switch"), "{dry}");
    // The third run converges to what it is asked for.
    let out = assert_succeeded(&sb.switch(&[p2.to_str().unwrap()]));
    assert!(out.contains("interrupted"), "{out}");
    assert_v2_running(&sb, &v1, &v2);
    sb.undeploy_leaving_nothing();
}

#[test]
fn a_start_that_hangs_times_out_and_rolls_back() {
    let sb = Sandbox::new();
    let p1 = sb.profile("v1", &[Proc::new("a", &[])]);
    let p2 = sb.profile("v2", &[Proc::new("a", &[]), Proc::new("hang", &["a"])]);
    assert_succeeded(&sb.switch(&[p1.to_str().unwrap()]));
    let gen1 = sb.deployed().unwrap();
    std::fs::write(sb.run().join("slow-hang"), "60").unwrap();
    let started = std::time::Instant::now();
    let err = assert_failed(&sb.switch(&["--timeout", "0.5", p2.to_str().unwrap()]));
    assert!(
        err.contains("start of `hang` failed: timed out after 0.5s"),
        "{err}"
    );
    // The hung script and its `sleep` were killed with their process group: no wait for
    // the 60 s (a generous bound, not a timing measurement).
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(sb.deployed().unwrap(), gen1);
    assert!(sb.pid("a").is_some() && sb.pid("hang").is_none());
    sb.undeploy_leaving_nothing();
}

/// Killed while the profile moves (its journal record written, the generation link
/// made, or the link renamed): every start had succeeded, so the next run finishes the
/// move, leaving no stray generation.
#[test]
fn a_kill_during_the_profile_move_is_finished_by_the_next_run() {
    let steps = 9 + 17;
    let moving = (1 + 2 * steps + 1).to_string();
    for (var, value) in [
        ("NIXPROC_TEST_KILL_AT_RECORD", moving.as_str()),
        ("NIXPROC_TEST_KILL_AT", "generation-linked"),
        ("NIXPROC_TEST_KILL_AT", "profile-renamed"),
    ] {
        let sb = Sandbox::new();
        let (p1, v1, p2, v2) = versions(&sb);
        assert_succeeded(&sb.switch(&["--jobs", "3", p1.to_str().unwrap()]));
        let out = sb
            .switch_cmd()
            .env(var, value)
            .args(["--jobs", "3", p2.to_str().unwrap()])
            .output()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(9), "{var}={value}: {out:?}");
        let out = assert_succeeded(&sb.switch(&["--jobs", "3", p2.to_str().unwrap()]));
        assert!(out.contains("interrupted switch"), "{var}={value}: {out}");
        assert!(out.contains("0 stopped, 0 started"), "{var}={value}: {out}");
        assert_v2_running(&sb, &v1, &v2);
        let link = sb.profile_link();
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            PathBuf::from("processes-2-link"),
            "{var}={value}"
        );
        assert!(sb.deployed().unwrap().to_string_lossy().ends_with("-v2"));
        assert!(std::fs::symlink_metadata(link.with_file_name("processes-3-link")).is_err());
        assert_succeeded(&sb.switch(&["--undeploy"]));
        assert!(sb.leftovers().is_empty(), "{var}={value}");
    }
}
