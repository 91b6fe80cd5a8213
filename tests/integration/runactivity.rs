//! nixproc-sysvinit-runactivity on a deployed profile and on a profile directory, and
//! alongside a switch (it takes the switch's lock for everything but `status`).

use crate::common;

use std::process::Command;

use common::*;

/// runactivity on the sandbox's profile link and state directory (hence its lock).
fn runactivity_cmd(sb: &Sandbox, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nixproc-sysvinit-runactivity"));
    c.arg("-p")
        .arg(sb.profile_link())
        .arg("--state-dir")
        .arg(sb.state())
        .args(["--runlevel", "3"])
        .args(args)
        .env_remove("NIXPROC_PROCESSES");
    c
}

fn runactivity(sb: &Sandbox, args: &[&str]) -> std::process::Output {
    runactivity_cmd(sb, args).output().unwrap()
}

#[test]
fn status_json_order_reverse_and_failures() {
    let sb = Sandbox::new();
    let procs = vec![
        Proc::new("db", &[]),
        Proc::new("app", &["db"]),
        Proc::new("proxy", &["app"]),
    ];
    let p = sb.profile("v1", &procs);

    // Nothing deployed yet: a clear error.
    let out = runactivity(&sb, &["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing is deployed"));

    assert_succeeded(&sb.switch(&[p.to_str().unwrap()]));
    let out = runactivity(&sb, &["status"]);
    let text = assert_succeeded(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        ["db is running", "app is running", "proxy is running"],
        "{text}"
    );

    // Stop one process by hand: status reports it and fails with a summary.
    let app_pid = sb.pid("app").unwrap();
    assert_succeeded(
        &Command::new(p.join("etc/rc.d/init.d/app"))
            .arg("stop")
            .output()
            .unwrap(),
    );
    assert!(sb.pid("app").is_none());
    let _ = app_pid;
    let out = runactivity(&sb, &["--json", "status"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let states: Vec<(&str, &str)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [("db", "running"), ("app", "stopped"), ("proxy", "running")]
    );
    assert_eq!(v[1]["code"], 3);

    let out = runactivity(&sb, &["status"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 of 3 scripts failed `status`") && err.contains("app: stopped"),
        "{err}"
    );

    // reload goes on past the failing one.
    sb.clear_events();
    let out = runactivity(&sb, &["reload"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(sb.events(), ["reload db", "reload proxy"]);

    // Reverse order stops everything dependants first.
    sb.clear_events();
    assert_succeeded(&runactivity(&sb, &["-r", "stop"]));
    assert_eq!(sb.events(), ["stop proxy", "stop app", "stop db"]);
    assert!(sb.leftovers().is_empty());

    // A profile directory given as PATH is used instead of the deployed one.
    let other = sb.profile("other", &[Proc::new("solo", &[])]);
    sb.clear_events();
    assert_succeeded(&runactivity(&sb, &["start", other.to_str().unwrap()]));
    assert!(sb.pid("solo").is_some());
    assert_succeeded(&runactivity(&sb, &["stop", other.to_str().unwrap()]));
    sb.undeploy_leaving_nothing();
}

/// A switch removes `b` and slowly starts `c`; `runactivity start` issued meanwhile
/// waits for the switch and then starts what it deployed, never the removed `b`;
/// `--no-wait` fails at once; `status` does not wait.
#[test]
fn runactivity_waits_for_a_running_switch() {
    let sb = Sandbox::new();
    let (v1, v2) = sb.b_to_c_profiles();
    assert_succeeded(&sb.switch(&[v1.to_str().unwrap()]));
    std::fs::write(sb.run().join("slow-c"), "2").unwrap();
    let mut switch = sb.spawn_switch(&v2);
    assert!(sb.wait_for_step("c", "start"), "the switch never started c");
    // b is stopped by now; c's start is still running.
    assert!(sb.pid("b").is_none());

    let out = runactivity(&sb, &["--no-wait", "start"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_contains(&err, &format!("(pid {}) is running", switch.id()));
    assert!(switch.try_wait().unwrap().is_none(), "switch already over");

    // status needs no lock: it answers while the switch runs.
    let out = runactivity(&sb, &["status"]);
    assert!(
        switch.try_wait().unwrap().is_none(),
        "status waited for the switch"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("a is running"));

    let waiting = runactivity_cmd(&sb, &["start"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = waiting.wait_with_output().unwrap();
    sb.assert_waited_for(&mut switch, &out);

    // The other way round: a switch meets runactivity's lock and names it.
    assert_succeeded(&runactivity(&sb, &["stop"]));
    let mut activity = runactivity_cmd(&sb, &["start"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lock = sb.tool_state().join("lock");
    assert!(common::wait_until(
        std::time::Duration::from_secs(5),
        || std::fs::read_to_string(&lock)
            .unwrap_or_default()
            .starts_with(&format!("{} nixproc-sysvinit-runactivity", activity.id()))
    ));
    let err = assert_failed(&sb.switch(&["--no-wait", v1.to_str().unwrap()]));
    assert_contains(
        &err,
        &format!(
            "another nixproc-sysvinit-runactivity (pid {}) is running",
            activity.id()
        ),
    );
    assert!(activity.wait().unwrap().success());
    assert!(sb.pid("c").is_some());
    sb.undeploy_leaving_nothing();
}

/// `--option` reaches the nix-build of a model: restrict-eval makes it fail visibly.
#[test]
fn nix_options_reach_the_model_build() {
    let sb = Sandbox::new();
    let model = common::webapps_example();
    let out = runactivity(
        &sb,
        &[
            "--option",
            "restrict-eval",
            "true",
            "status",
            model.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("forbidden in restricted mode"), "{err}");
}
