//! nixproc-sysvinit-runactivity on a deployed profile and on a profile directory.

mod switch_support;

use std::process::Command;

use switch_support::*;

fn runactivity(sb: &Sandbox, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nixproc-sysvinit-runactivity"))
        .arg("-p")
        .arg(sb.profile_link())
        .args(["--runlevel", "3"])
        .args(args)
        .env_remove("NIXPROC_PROCESSES")
        .output()
        .unwrap()
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

    ok(&sb.switch(&[p.to_str().unwrap()]));
    let out = runactivity(&sb, &["status"]);
    let text = ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        ["db is running", "app is running", "proxy is running"],
        "{text}"
    );

    // Stop one process by hand: status reports it and fails with a summary.
    let app_pid = sb.pid("app").unwrap();
    ok(&Command::new(p.join("etc/rc.d/init.d/app"))
        .arg("stop")
        .output()
        .unwrap());
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
    ok(&runactivity(&sb, &["-r", "stop"]));
    assert_eq!(sb.events(), ["stop proxy", "stop app", "stop db"]);
    assert!(sb.leftovers().is_empty());

    // A profile directory given as PATH is used instead of the deployed one.
    let other = sb.profile("other", &[Proc::new("solo", &[])]);
    sb.clear_events();
    ok(&runactivity(&sb, &["start", other.to_str().unwrap()]));
    assert!(sb.pid("solo").is_some());
    ok(&runactivity(&sb, &["stop", other.to_str().unwrap()]));
    ok(&sb.switch(&["--undeploy"]));
    assert!(sb.leftovers().is_empty());
}
