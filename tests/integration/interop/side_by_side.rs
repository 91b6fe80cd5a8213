//! Dysnomia and this project's switch on one machine: a process activated by Dysnomia
//! and one deployed by the switch run side by side with PID files of their own, and
//! neither tool deletes an account the other still relies on.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{dysnomia, nix_build, nix_dir, serial, tools, user_entry};
use crate::common::{
    self, assert_succeeded, free_port, fresh_user, http_get, wait_until, ModelDeployment, TestDir,
};

/// A processes model of one web server `instance` on `port`, running as `user`, who
/// is declared in its credentials (with a group of the same name).
fn model(dir: &TestDir, instance: &str, user: &str, port: u16) -> String {
    let text = format!(
        r#"{{ stateDir ? "/var", forceDisableUserChange ? false, ... }}:
let
  nixproc = import {nix} {{ inherit stateDir forceDisableUserChange; }};
in
{{
  {instance}.pkg = nixproc.createSystemVInitScript {{
    instanceName = "{instance}";
    process = "${{nixproc.pkgs.webapp}}/bin/webapp";
    processIsDaemon = false;
    environment.PORT = {port};
    readiness.tcpPort = {port};
    runlevels = [ 3 4 5 ];
    user = "{user}";
    credentials = {{ groups.{user} = {{ }}; users.{user} = {{ group = "{user}"; description = "Side by side"; }}; }};
  }};
}}
"#,
        nix = nix_dir().display()
    );
    dir.write("processes.nix", &text, 0o644)
        .to_string_lossy()
        .into_owned()
}

/// A component activated by Dysnomia, deactivated again when dropped (pass or fail).
struct Activated {
    prefix: PathBuf,
    pkg: PathBuf,
    state: PathBuf,
    active: bool,
}

impl Activated {
    /// Builds `instance` of `model` with state directory `var` and activates it.
    fn new(prefix: &Path, dir: &TestDir, model: &str, instance: &str) -> Activated {
        let expr = format!(
            "(import {model} {{ stateDir = \"{}\"; }}).{instance}.pkg",
            dir.join("var").display()
        );
        let pkg = nix_build(&["-E", &expr], None);
        let state = dir.join("dysnomia-state");
        let mut a = Activated {
            prefix: prefix.to_path_buf(),
            pkg,
            state,
            active: true,
        };
        let out = dysnomia(&a.prefix, "activate", &a.pkg, 3, &a.state);
        a.active = out.status.success();
        assert_succeeded(&out);
        a
    }

    fn deactivate(&mut self) -> std::process::Output {
        self.active = false;
        dysnomia(&self.prefix, "deactivate", &self.pkg, 3, &self.state)
    }
}

impl Drop for Activated {
    fn drop(&mut self) {
        if self.active {
            let _ = self.deactivate();
        }
    }
}

/// The PID files under `dir` (recursively) and the PIDs they hold.
fn pid_files(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            found.extend(pid_files(&path));
        } else if path.extension().is_some_and(|x| x == "pid") {
            if let Some(pid) = fs::read_to_string(&path)
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                found.push((path, pid));
            }
        }
    }
    found
}

fn running(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The switch's deployment of `model` with its own account registry under `dir`.
fn switch(d: &ModelDeployment, dir: &TestDir, args: &[&str]) -> std::process::Output {
    d.switch_cmd()
        .env("NIXPROC_SYSVINIT_ACCOUNTS_DIR", dir.join("registry"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_switch_keeps_an_account_dysnomia_made_and_pid_files_stay_apart() {
    let Some(prefix) = tools("the_switch_keeps_an_account_dysnomia_made_and_pid_files_stay_apart")
    else {
        return;
    };
    let _serial = serial();
    let (user, _guard) = fresh_user("nxsa");
    let (pd, ps) = (free_port(), free_port());
    let dir_d = TestDir::new("nxside");
    let dir_s = TestDir::new("nxside");
    let (inst_d, inst_s) = (format!("{user}d"), format!("{user}s"));

    // Dysnomia first: it makes the account.
    let model_d = model(&dir_d, &inst_d, &user, pd);
    let mut activated = Activated::new(&prefix, &dir_d, &model_d, &inst_d);
    let made = user_entry(&user).expect("Dysnomia made the user");

    // Then the switch, with a process of the same user.
    let model_s = model(&dir_s, &inst_s, &user, ps);
    let d = ModelDeployment::new("side", &[]);
    assert_succeeded(&switch(&d, &dir_s, &[&model_s]));
    assert_eq!(
        user_entry(&user).as_ref(),
        Some(&made),
        "the switch kept the account as it was"
    );
    assert!(
        http_get(pd, "/").is_ok() && http_get(ps, "/").is_ok(),
        "both serve"
    );

    // Distinct PID files, each of its own running process.
    let theirs = pid_files(&dir_d.join("var"));
    let ours = pid_files(&d.dir.path().join("state"));
    assert_eq!(
        theirs.len(),
        1,
        "Dysnomia's process has one PID file: {theirs:?}"
    );
    assert_eq!(
        ours.len(),
        1,
        "the switch's process has one PID file: {ours:?}"
    );
    assert_ne!(theirs[0].0, ours[0].0);
    assert_ne!(theirs[0].1, ours[0].1);
    assert!(
        running(theirs[0].1) && running(ours[0].1),
        "{theirs:?} {ours:?}"
    );
    assert_eq!(d.pid(&inst_s), Some(ours[0].1));

    // The switch undeploys its process; the account Dysnomia made stays, and so does
    // Dysnomia's process.
    assert_succeeded(&switch(&d, &dir_s, &["--undeploy"]));
    assert!(wait_until(Duration::from_secs(10), || common::port_closed(
        ps
    )));
    assert_eq!(
        user_entry(&user).as_ref(),
        Some(&made),
        "the switch left Dysnomia's user"
    );
    assert!(super::group_gid(&user).is_some(), "and its group");
    assert!(http_get(pd, "/").is_ok(), "Dysnomia's process still serves");
    assert!(running(theirs[0].1));

    // Dysnomia deactivates its process and deletes its account.
    assert_succeeded(&activated.deactivate());
    assert!(wait_until(Duration::from_secs(10), || common::port_closed(
        pd
    )));
    assert!(user_entry(&user).is_none(), "Dysnomia deleted its user");
}

#[test]
fn dysnomias_deactivation_keeps_an_account_the_switch_uses() {
    let Some(prefix) = tools("dysnomias_deactivation_keeps_an_account_the_switch_uses") else {
        return;
    };
    let _serial = serial();
    let (user, _guard) = fresh_user("nxsb");
    let (pd, ps) = (free_port(), free_port());
    let dir_d = TestDir::new("nxside");
    let dir_s = TestDir::new("nxside");
    let (inst_d, inst_s) = (format!("{user}d"), format!("{user}s"));

    // The switch first: it makes the account.
    let model_s = model(&dir_s, &inst_s, &user, ps);
    let d = ModelDeployment::new("side", &[]);
    assert_succeeded(&switch(&d, &dir_s, &[&model_s]));
    let made = user_entry(&user).expect("the switch made the user");

    // Dysnomia activates a process of the same user (dysnomia-addusers keeps it).
    let model_d = model(&dir_d, &inst_d, &user, pd);
    let mut activated = Activated::new(&prefix, &dir_d, &model_d, &inst_d);
    assert_eq!(user_entry(&user).as_ref(), Some(&made));
    assert!(
        http_get(pd, "/").is_ok() && http_get(ps, "/").is_ok(),
        "both serve"
    );

    // Dysnomia deactivates: its process stops, the account the switch's running
    // process uses stays. Dysnomia deletes every user of the component's files without
    // asking who else uses it; what keeps the account is userdel, which refuses a user
    // with running processes, and Dysnomia reports the deactivation failed (README,
    // "Deploying with Disnix").
    let out = activated.deactivate();
    let text = common::assert_failed(&out);
    assert!(
        text.contains("userdel") && text.contains(&user),
        "the failure names the user: {text}"
    );
    assert!(wait_until(Duration::from_secs(10), || common::port_closed(
        pd
    )));
    assert_eq!(
        user_entry(&user).as_ref(),
        Some(&made),
        "Dysnomia's deactivation kept the switch's user"
    );
    assert!(
        http_get(ps, "/").is_ok(),
        "the switch's process still serves"
    );

    // The switch undeploys and deletes the account it made.
    assert_succeeded(&switch(&d, &dir_s, &["--undeploy"]));
    assert!(wait_until(Duration::from_secs(10), || common::port_closed(
        ps
    )));
    assert!(user_entry(&user).is_none(), "the switch deleted its user");
}
