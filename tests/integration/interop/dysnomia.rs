//! Dysnomia's `sysvinit-script` module on packages made by `createSystemVInitScript`:
//! a package is a valid component, `activate` starts it in the container's `runlevel`
//! and `deactivate` stops it, and the accounts `dysnomia-addusers`/`-addgroups` make
//! from the package's `dysnomia-support` files are the ones this project's switch makes
//! from the same files (group, description, home, shell, uid and gid when given).

use std::fs;
use std::path::Path;
use std::time::Duration;

use super::{dysnomia, group_gid, nix_build, nix_dir, serial, tools, user_entry, UserEntry};
use crate::common::{
    self, assert_succeeded, free_id, free_port, fresh_user, http_get, wait_until, ModelDeployment,
    TestDir,
};

/// A processes model of one web server `name` on `port` in `runlevels`, running as
/// `name` with the given `credentials` (Nix text), written in the seed's style.
fn model(dir: &TestDir, name: &str, port: u16, runlevels: &str, credentials: &str) -> String {
    let text = format!(
        r#"{{ stateDir ? "/var", forceDisableUserChange ? false, ... }}:
let
  nixproc = import {nix} {{ inherit stateDir forceDisableUserChange; }};
in
{{
  {name}.pkg = nixproc.createSystemVInitScript {{
    instanceName = "{name}";
    process = "${{nixproc.pkgs.webapp}}/bin/webapp";
    processIsDaemon = false;
    environment.PORT = {port};
    readiness.tcpPort = {port};
    runlevels = {runlevels};
    user = "{name}";
    credentials = {credentials};
  }};
}}
"#,
        nix = nix_dir().display()
    );
    dir.write("processes.nix", &text, 0o644)
        .to_string_lossy()
        .into_owned()
}

/// The package of `name` in `model`, built with the state directory `state`.
fn component(model: &str, name: &str, state: &Path) -> std::path::PathBuf {
    let expr = format!(
        "(import {model} {{ stateDir = \"{}\"; }}).{name}.pkg",
        state.display()
    );
    nix_build(&["-E", &expr], None)
}

/// What a tool made of user `name` and its group `group`: the user's entry (its uid
/// only when `uid_given`) and the group's gid when `gid_given`.
fn accounts(name: &str, group: &str, uid_given: bool, gid_given: bool) -> (UserEntry, Option<u32>) {
    let mut user = user_entry(name).unwrap_or_else(|| panic!("user {name} exists"));
    if !uid_given {
        user.uid = 0;
    }
    let gid = group_gid(group).unwrap_or_else(|| panic!("group {group} exists"));
    (user, gid_given.then_some(gid))
}

/// One credentials case: Nix text for `credentials` (NAME, GROUP, UID, GID and HOME
/// replaced), whether it gives the uid and the gid.
struct Case {
    what: &'static str,
    credentials: &'static str,
    uid: bool,
    gid: bool,
}

const CASES: &[Case] = &[
    // The seed's example (sysvinit-framework.md, "Managing user credentials").
    Case {
        what: "the seed's webapp",
        credentials: r#"{ groups.NAME = { }; users.NAME = { group = "NAME"; description = "Webapp"; }; }"#,
        uid: false,
        gid: false,
    },
    // Every key, with a description needing quotes.
    Case {
        what: "every key",
        credentials: r#"{ groups.NAME = { gid = GID; }; users.NAME = { group = "NAME"; uid = UID; description = "It's \"quoted\" $HOME `x`"; homeDir = "HOME"; createHomeDir = true; shell = "/bin/bash"; }; }"#,
        uid: true,
        gid: true,
    },
    // A user without a group: useradd's own group of the same name, both ways.
    Case {
        what: "a user of no group",
        credentials: r#"{ users.NAME = { description = "No group"; }; }"#,
        uid: false,
        gid: false,
    },
];

#[test]
fn each_credentials_example_gets_the_same_accounts_from_dysnomia_and_the_switch() {
    let Some(prefix) =
        tools("each_credentials_example_gets_the_same_accounts_from_dysnomia_and_the_switch")
    else {
        return;
    };
    let _serial = serial();
    for case in CASES {
        let (name, _guard) = fresh_user("nxd");
        let dir = TestDir::new("nxdys");
        let home = dir.join("home");
        let id = free_id();
        let creds = case
            .credentials
            .replace("NAME", &name)
            .replace("UID", &id.to_string())
            .replace("GID", &id.to_string())
            .replace("HOME", &home.to_string_lossy());
        let port = free_port();
        let model = model(&dir, &name, port, "[ 3 4 5 ]", &creds);

        // This project's switch.
        let d = ModelDeployment::new("dys", &[]);
        let switch = |args: &[&str]| {
            d.switch_cmd()
                .env("NIXPROC_SYSVINIT_ACCOUNTS_DIR", dir.join("registry"))
                .args(args)
                .output()
                .unwrap()
        };
        assert_succeeded(&switch(&[&model]));
        let ours = accounts(&name, &name, case.uid, case.gid);
        assert!(
            http_get(port, "/").is_ok(),
            "{}: the switch started it",
            case.what
        );
        assert_succeeded(&switch(&["--undeploy"]));
        assert!(
            user_entry(&name).is_none(),
            "{}: the switch deleted the user",
            case.what
        );
        let _ = fs::remove_dir_all(&home);

        // Dysnomia, from the package's own dysnomia-support files.
        let state = dir.join("dysnomia-state");
        let pkg = component(&model, &name, &dir.join("var"));
        assert_succeeded(&dysnomia(&prefix, "activate", &pkg, 3, &state));
        let theirs = accounts(&name, &name, case.uid, case.gid);
        assert_eq!(
            ours, theirs,
            "{}: the switch's accounts, then Dysnomia's",
            case.what
        );
        if case.uid {
            assert_eq!(ours.0.uid, id);
            assert_eq!(ours.1, Some(id));
            assert!(home.is_dir(), "{}: the home directory was made", case.what);
        } else {
            assert_eq!(
                ours.0.home, "/dev/null",
                "{}: Dysnomia's default home",
                case.what
            );
        }
        let page = http_get(port, "/").expect("Dysnomia started the web server");
        assert!(page.1.contains(&format!("webapp-{port}")), "{page:?}");
        assert_succeeded(&dysnomia(&prefix, "deactivate", &pkg, 3, &state));
        assert!(
            wait_until(Duration::from_secs(10), || common::port_closed(port)),
            "{}: deactivate stopped it",
            case.what
        );
        assert!(
            user_entry(&name).is_none(),
            "{}: Dysnomia deleted the user",
            case.what
        );
        assert!(group_gid(&name).is_none(), "{}: and the group", case.what);
    }
}

#[test]
fn activation_follows_the_containers_runlevel() {
    let Some(prefix) = tools("activation_follows_the_containers_runlevel") else {
        return;
    };
    let _serial = serial();
    let (name, _guard) = fresh_user("nxr");
    let dir = TestDir::new("nxdys");
    let port = free_port();
    let creds = format!(r#"{{ groups.{name} = {{ }}; users.{name}.group = "{name}"; }}"#);
    let model = model(&dir, &name, port, "[ 2 ]", &creds);
    let pkg = component(&model, &name, &dir.join("var"));
    let state = dir.join("dysnomia-state");
    // In runlevel 2, its only one, it starts and stops.
    assert!(pkg.join(format!("etc/rc.d/rc2.d/S00{name}")).exists());
    assert_succeeded(&dysnomia(&prefix, "activate", &pkg, 2, &state));
    assert!(http_get(port, "/").is_ok(), "started in runlevel 2");
    assert!(user_entry(&name).is_some());
    assert_succeeded(&dysnomia(&prefix, "deactivate", &pkg, 2, &state));
    assert!(wait_until(Duration::from_secs(10), || common::port_closed(
        port
    )));
    assert!(user_entry(&name).is_none());
}

#[test]
fn a_profile_with_dependencies_is_one_component_started_in_order() {
    let Some(prefix) = tools("a_profile_with_dependencies_is_one_component_started_in_order")
    else {
        return;
    };
    let _serial = serial();
    let (a, _guard_a) = fresh_user("nxa");
    let (b, _guard_b) = fresh_user("nxb");
    let dir = TestDir::new("nxdys");
    let (pa, pb) = (free_port(), free_port());
    let process = |name: &str, port: u16, deps: &str| {
        format!(
            r#"{name}.pkg = nixproc.createSystemVInitScript {{
    instanceName = "{name}";
    process = "${{nixproc.pkgs.webapp}}/bin/webapp";
    processIsDaemon = false;
    environment.PORT = {port};
    readiness.tcpPort = {port};
    runlevels = [ 3 4 5 ];
    dependencies = {deps};
    user = "{name}";
    credentials = {{ groups.{name} = {{ }}; users.{name} = {{ group = "{name}"; description = "{name}"; }}; }};
  }};"#
        )
    };
    let text = format!(
        "{{ stateDir ? \"/var\", forceDisableUserChange ? false, ... }}:\nlet\n  nixproc = import {nix} {{ inherit stateDir forceDisableUserChange; }};\nin\nrec {{\n  {}\n  {}\n}}\n",
        process(&a, pa, "[ ]"),
        process(&b, pb, &format!("[ {a}.pkg ]")),
        nix = nix_dir().display()
    );
    let model = dir.write("processes.nix", &text, 0o644);
    let profile = nix_build(
        &[
            nix_dir().join("build-profile.nix").to_str().unwrap(),
            "--arg",
            "exprFile",
            model.to_str().unwrap(),
            "--argstr",
            "stateDir",
            dir.join("var").to_str().unwrap(),
        ],
        None,
    );
    // Dysnomia starts the entries of rc3.d in `ls` order, stops them in reverse: the
    // dependency first, its dependant last.
    let mut entries: Vec<String> = fs::read_dir(profile.join("etc/rc.d/rc3.d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, [format!("S00{a}"), format!("S01{b}")]);
    let state = dir.join("dysnomia-state");
    let out = assert_succeeded(&dysnomia(&prefix, "activate", &profile, 3, &state));
    let (sa, sb) = (
        out.find(&format!("Starting {a}")).expect("a started"),
        out.find(&format!("Starting {b}")).expect("b started"),
    );
    assert!(sa < sb, "{out}");
    for (user, port) in [(&a, pa), (&b, pb)] {
        assert!(user_entry(user).is_some(), "{user} was made");
        assert!(http_get(port, "/").is_ok(), "{user} on {port}");
    }
    let out = assert_succeeded(&dysnomia(&prefix, "deactivate", &profile, 3, &state));
    let (sa, sb) = (
        out.find(&format!("Stopping {a}")).expect("a stopped"),
        out.find(&format!("Stopping {b}")).expect("b stopped"),
    );
    assert!(sb < sa, "{out}");
    for (user, port) in [(&a, pa), (&b, pb)] {
        assert!(common::port_closed(port), "{user} stopped");
        assert!(user_entry(user).is_none(), "{user} was deleted");
    }
}
