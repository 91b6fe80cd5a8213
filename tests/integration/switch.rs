//! nixproc-sysvinit-switch with real processes and real Nix profiles: deployment order,
//! upgrades, rollback, undeploy, generations, plans and graph errors.

use crate::common;

use std::path::Path;

use common::*;

fn web_v1() -> Vec<Proc> {
    vec![
        Proc::new("db", &[]),
        Proc::new("webapp1", &["db"]),
        Proc::new("webapp2", &["db"]),
        Proc::new("nginx", &["webapp1", "webapp2"]),
        Proc::new("cron", &[]),
    ]
}

#[test]
fn fresh_deploy_starts_in_dependency_order() {
    let sb = Sandbox::new();
    let procs = web_v1();
    let v1 = sb.profile("v1", &procs);
    assert_succeeded(&sb.switch(&[v1.to_str().unwrap()]));
    assert_eq!(sb.running(&names(&procs)), names(&procs));
    let ev = sb.events();
    assert!(!ev.iter().any(|e| e.starts_with("start-without")), "{ev:?}");
    assert!(event_index(&ev, "start db") < event_index(&ev, "start webapp1"));
    assert!(event_index(&ev, "start db") < event_index(&ev, "start webapp2"));
    assert!(event_index(&ev, "start webapp1") < event_index(&ev, "start nginx"));
    assert!(event_index(&ev, "start webapp2") < event_index(&ev, "start nginx"));
    // The profile link points into the store at a copy of v1.
    let deployed = sb.deployed().expect("profile link");
    assert!(deployed.starts_with("/nix/store"), "{deployed:?}");
    assert!(deployed.join("etc/rc.d/init.d/nginx").exists());
    // Switching again to the same profile does nothing.
    sb.clear_events();
    let pids: Vec<_> = names(&procs).iter().map(|n| sb.pid(n)).collect();
    assert_succeeded(&sb.switch(&[v1.to_str().unwrap()]));
    assert!(sb.events().is_empty(), "{:?}", sb.events());
    let again: Vec<_> = names(&procs).iter().map(|n| sb.pid(n)).collect();
    assert_eq!(pids, again);
    sb.undeploy_leaving_nothing();
}

#[test]
fn upgrade_stops_obsolete_starts_new_restarts_changed_and_keeps_unchanged() {
    let sb = Sandbox::new();
    let v1 = sb.profile("v1", &web_v1());
    assert_succeeded(&sb.switch(&[v1.to_str().unwrap()]));
    let before: std::collections::BTreeMap<_, _> = ["db", "webapp1", "webapp2", "nginx", "cron"]
        .iter()
        .map(|n| (*n, sb.pid(n).unwrap()))
        .collect();
    // v2: cron is gone, webapp3 is new, webapp1 changed, the rest unchanged.
    let v2 = sb.profile(
        "v2",
        &[
            Proc::new("db", &[]),
            Proc::new("webapp1", &["db"]).version(2),
            Proc::new("webapp2", &["db"]),
            Proc::new("webapp3", &["db"]),
            Proc::new("nginx", &["webapp1", "webapp2"]),
        ],
    );
    sb.clear_events();
    let dry = assert_succeeded(&sb.switch(&["--dry-run", v2.to_str().unwrap()]));
    assert!(dry.contains("stop  cron (obsolete)"), "{dry}");
    assert!(dry.contains("stop  webapp1 (changed)"), "{dry}");
    assert!(dry.contains("start webapp3 (new)"), "{dry}");
    assert!(sb.events().is_empty(), "dry run ran scripts");
    let out = assert_succeeded(&sb.switch(&[v2.to_str().unwrap()]));
    let ev = sb.events();
    assert_eq!(sb.pid("cron"), None, "{out}");
    assert!(sb.pid("webapp3").is_some());
    assert_ne!(
        sb.pid("webapp1"),
        Some(before["webapp1"]),
        "changed process kept its PID"
    );
    assert!(ev.contains(&"start webapp1 2".to_string()), "{ev:?}");
    assert_eq!(sb.pid("db"), Some(before["db"]));
    assert_eq!(sb.pid("webapp2"), Some(before["webapp2"]));
    // nginx depends on the restarted webapp1 but is itself unchanged: untouched.
    assert_eq!(sb.pid("nginx"), Some(before["nginx"]));
    assert!(
        !ev.iter()
            .any(|e| e.contains("db") || e.contains("webapp2") || e.contains("nginx")),
        "{ev:?}"
    );
    assert_succeeded(&sb.switch(&["--undeploy"]));
}

#[test]
fn rollback_switch_generation_list_delete_and_undeploy() {
    let sb = Sandbox::new();
    let (v1, v2) = sb.b_to_c_profiles();
    assert_succeeded(&sb.switch(&[v1.to_str().unwrap()]));
    let gen1 = sb.deployed().unwrap();
    assert_succeeded(&sb.switch(&[v2.to_str().unwrap()]));
    let gen2 = sb.deployed().unwrap();
    assert_ne!(gen1, gen2);
    assert!(sb.pid("c").is_some() && sb.pid("b").is_none());
    let a_pid = sb.pid("a");

    let list = assert_succeeded(&sb.switch(&["--list-generations"]));
    assert!(
        list.contains("   1   ") && list.contains("   2   ") && list.contains("(current)"),
        "{list}"
    );

    assert_succeeded(&sb.switch(&["--rollback"]));
    assert_eq!(sb.deployed().unwrap(), gen1);
    assert!(sb.pid("b").is_some() && sb.pid("c").is_none());
    assert_eq!(
        sb.pid("a"),
        a_pid,
        "unchanged process restarted by rollback"
    );

    assert_succeeded(&sb.switch(&["--switch-generation", "2"]));
    assert_eq!(sb.deployed().unwrap(), gen2);
    assert!(sb.pid("c").is_some() && sb.pid("b").is_none());

    let err = assert_failed(&sb.switch(&["--switch-generation", "9"]));
    assert!(err.contains("no generation 9"), "{err}");

    assert_succeeded(&sb.switch(&["--delete-generations", "1"]));
    let list = assert_succeeded(&sb.switch(&["--list-generations"]));
    assert!(
        !list.contains("   1   ") && list.contains("   2   "),
        "{list}"
    );

    assert_succeeded(&sb.switch(&["--undeploy"]));
    assert!(sb.running(&["a".into(), "b".into(), "c".into()]).is_empty());
    assert!(sb.leftovers().is_empty());
    // Undeploy is a generation too: rolling back brings the processes back.
    assert_succeeded(&sb.switch(&["--rollback"]));
    assert!(sb.pid("a").is_some() && sb.pid("c").is_some());

    assert_succeeded(&sb.switch(&["--delete-all-generations"]));
    assert!(sb.leftovers().is_empty());
    assert!(
        std::fs::symlink_metadata(sb.profile_link()).is_err(),
        "profile link left"
    );
    let list = assert_succeeded(&sb.switch(&["--list-generations"]));
    assert!(!list.contains("current"), "{list}");
}

#[test]
fn profiles_without_manifests_are_ordered_by_sequence() {
    let sb = Sandbox::new();
    let procs = vec![
        Proc::new("base", &[]).no_manifest(),
        Proc::new("mid", &["base"]).no_manifest(),
        Proc::new("top", &["mid"]).no_manifest(),
        Proc::new("side", &[]).no_manifest(),
    ];
    let p = sb.profile("old-style", &procs);
    assert_succeeded(&sb.switch(&["--jobs", "8", p.to_str().unwrap()]));
    let ev = sb.events();
    assert!(event_index(&ev, "start base") < event_index(&ev, "start mid"));
    assert!(
        event_index(&ev, "start side") < event_index(&ev, "start mid"),
        "S01 layer before S02: {ev:?}"
    );
    assert!(event_index(&ev, "start mid") < event_index(&ev, "start top"));
    sb.clear_events();
    assert_succeeded(&sb.switch(&["--undeploy"]));
    let ev = sb.events();
    assert!(event_index(&ev, "stop top") < event_index(&ev, "stop mid"));
    assert!(event_index(&ev, "stop mid") < event_index(&ev, "stop base"));
    assert!(sb.leftovers().is_empty());
}

#[test]
fn cycles_and_missing_dependencies_are_named() {
    let sb = Sandbox::new();
    let p = sb.profile(
        "cyclic",
        &[
            Proc::new("a", &["c"]),
            Proc::new("b", &["a"]),
            Proc::new("c", &["b"]),
            Proc::new("d", &[]),
        ],
    );
    let err = assert_failed(&sb.switch(&[p.to_str().unwrap()]));
    assert!(err.contains("dependency cycle: a -> c -> b -> a"), "{err}");
    let p = sb.profile("missing", &[Proc::new("a", &["ghost"])]);
    let err = assert_failed(&sb.switch(&["--dry-run", p.to_str().unwrap()]));
    assert!(err.contains("`a` depends on `ghost`"), "{err}");
    assert!(sb.events().is_empty());
    assert!(sb.deployed().is_none());
}

#[test]
fn json_output_and_plain_progress() {
    let sb = Sandbox::new();
    let p = sb.profile("v1", &[Proc::new("a", &[]), Proc::new("b", &["a"])]);
    let out = sb.switch(&["--json", p.to_str().unwrap()]);
    let text = assert_succeeded(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["ok"], true, "{text}");
    assert_eq!(last["started"], serde_json::json!(["a", "b"]));
    let finished = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "finished")
        .count();
    assert_eq!(finished, 2);
    let out = sb.switch(&["--undeploy"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stop  b") && err.contains("ok"), "{err}");
}

#[test]
fn old_profile_option_and_environment_variables() {
    let sb = Sandbox::new();
    let (v1, v2) = sb.b_to_c_profiles();
    // Settings from NIXPROC_* variables.
    let out = sb
        .switch_cmd()
        .env("NIXPROC_PROCESSES", &v1)
        .env("NIXPROC_JOBS", "1")
        .output()
        .unwrap();
    assert_succeeded(&out);
    assert!(sb.pid("a").is_some() && sb.pid("b").is_some());
    // --old-profile compares with the given directory instead of the deployed one.
    let dry = assert_succeeded(&sb.switch(&[
        "--dry-run",
        "-o",
        v2.to_str().unwrap(),
        v1.to_str().unwrap(),
    ]));
    assert!(
        dry.contains("stop  c (obsolete)") && dry.contains("start b (new)"),
        "{dry}"
    );
    let dry = assert_succeeded(&sb.switch(&["--dry-run", v2.to_str().unwrap()]));
    assert!(
        dry.contains("stop  b (obsolete)") && dry.contains("start c (new)"),
        "{dry}"
    );
    // A path that is neither a model nor a profile.
    let err = assert_failed(&sb.switch(&[sb.path().join("nowhere").to_str().unwrap()]));
    assert!(
        err.contains("neither a processes model file, a flake nor a profile directory"),
        "{err}"
    );
    let err = assert_failed(&sb.switch(&[]));
    assert!(err.contains("NIXPROC_PROCESSES"), "{err}");
    sb.undeploy_leaving_nothing();
}

/// Switches to `profile` with `--dry-run` and without; both must fail. Their errors.
fn refusals_with_and_without_dry_run(sb: &Sandbox, profile: &Path) -> Vec<String> {
    let profile = profile.to_str().unwrap();
    [vec!["--dry-run", profile], vec![profile]]
        .iter()
        .map(|args| assert_failed(&sb.switch(args)))
        .collect()
}

#[test]
fn a_profile_without_start_links_for_the_runlevel_is_refused_with_a_hint() {
    let sb = Sandbox::new();
    let v1 = sb.profile("v1", &[Proc::new("a", &[])]);
    assert_succeeded(&sb.switch(&[v1.to_str().unwrap()]));
    // Its links are for runlevel 5 only: deploying it for runlevel 3 would stop `a`.
    let v2 = sb.profile("v2", &[Proc::new("a", &[]), Proc::new("b", &["a"])]);
    std::fs::rename(v2.join("etc/rc.d/rc3.d"), v2.join("etc/rc.d/rc5.d")).unwrap();
    for err in refusals_with_and_without_dry_run(&sb, &v2) {
        assert!(
            err.contains("2 init.d script(s) but no start links for runlevel 3")
                && err.contains("runlevel(s) 5 have some")
                && err.contains("--runlevel")
                && err.contains("--undeploy"),
            "{err}"
        );
    }
    assert!(sb.pid("a").is_some(), "a was stopped");
    // The runlevel its links are for deploys it.
    let at_5 = |arg: &std::path::Path| sb.switch_cmd_in(&sb.state(), 5).arg(arg).output().unwrap();
    assert_succeeded(&at_5(&v2));
    assert!(sb.pid("b").is_some());
    assert_succeeded(&at_5(std::path::Path::new("--undeploy")));
    assert!(sb.leftovers().is_empty());
}

/// `-q` keeps Nix's build output for a failure; `--option` reaches nix-build and
/// nix-store (an option with a visible effect each); `--delete-all-generations` removes
/// the garbage-collector root of the last build too.
#[test]
fn quiet_builds_nix_options_and_delete_all_removes_the_build_root() {
    let sb = Sandbox::new();
    let model = common::webapps_example();
    let model = model.to_str().unwrap();
    let offline = ["--option", "substituters", ""];
    let build = |extra: &[&str]| {
        let mut args = vec!["--dry-run", "--force-disable-user-change"];
        args.extend_from_slice(&offline);
        args.extend_from_slice(extra);
        args.push(model);
        sb.switch(&args)
    };
    // This sandbox's state directory makes new derivations: they are built, silently.
    let out = build(&["-q"]);
    let text = assert_succeeded(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("building"), "{text}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("start nginx (new)"));
    let root = sb.tool_state().join("result");
    assert!(std::fs::read_link(&root).is_ok(), "no build root");
    // Without -q the same kind of build shows Nix's output.
    let out = sb
        .switch_cmd_in(&sb.path().join("other-state"), 3)
        .args(["--dry-run", "--force-disable-user-change"])
        .args(offline)
        .args(["--extra-params", r#"{"nginxPort": 8123}"#])
        .arg(model)
        .output()
        .unwrap();
    assert_succeeded(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("building"));

    // restrict-eval makes the evaluation fail; with -q Nix's error is still shown.
    let err = assert_failed(&build(&["-q", "--option", "restrict-eval", "true"]));
    assert!(err.contains("forbidden in restricted mode"), "{err}");
    // A store that cannot take paths makes nix-store --add fail.
    let v1 = sb.profile("v1", &[Proc::new("a", &[])]);
    let err = assert_failed(&sb.switch(&["--option", "store", "dummy://", v1.to_str().unwrap()]));
    assert!(err.contains("not supported by store 'dummy'"), "{err}");
    assert!(sb.pid("a").is_none());

    assert_succeeded(
        &sb.switch(
            &offline
                .iter()
                .copied()
                .chain([v1.to_str().unwrap()])
                .collect::<Vec<_>>(),
        ),
    );
    assert!(sb.pid("a").is_some());
    assert_succeeded(&sb.switch(&["--delete-all-generations"]));
    assert!(sb.pid("a").is_none());
    assert!(std::fs::symlink_metadata(sb.profile_link()).is_err());
    assert!(std::fs::symlink_metadata(&root).is_err(), "build root left");
    // Only the tool's own directory (its lock, the scripts' logs) stays next to the link.
    let generations: Vec<_> = std::fs::read_dir(sb.profile_link().parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| sb.tool_state().file_name() != Some(n.as_os_str()))
        .collect();
    assert!(generations.is_empty(), "{generations:?}");
    assert!(sb.leftovers().is_empty());
}

/// The profile link keeps nix-env's layout (`NAME -> NAME-N-link -> /nix/store/...`),
/// each generation link is a garbage-collector root, and nix-env reads and edits them.
#[test]
fn generations_keep_nix_envs_layout_and_are_gc_roots() {
    let sb = Sandbox::new();
    let v1 = sb.profile("v1", &[Proc::new("a", &[])]);
    let v2 = sb.profile("v2", &[Proc::new("a", &[]).version(2)]);
    assert_succeeded(&sb.switch(&[v1.to_str().unwrap()]));
    let gen1 = sb.deployed().unwrap();
    assert_succeeded(&sb.switch(&[v2.to_str().unwrap()]));
    let link = sb.profile_link();
    let gen_link = |n: u32| link.with_file_name(format!("processes-{n}-link"));
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        std::path::PathBuf::from("processes-2-link")
    );
    assert_eq!(std::fs::read_link(gen_link(1)).unwrap(), gen1);
    let roots = std::process::Command::new("nix-store")
        .args(["--query", "--roots"])
        .arg(&gen1)
        .output()
        .unwrap();
    let roots = assert_succeeded(&roots);
    assert!(
        roots.contains(&gen_link(1).display().to_string()),
        "{roots}"
    );
    // The same profile again reuses its generation, as nix-env --set does.
    assert_succeeded(&sb.switch(&[v2.to_str().unwrap()]));
    assert!(std::fs::symlink_metadata(gen_link(3)).is_err());
    let nix_env = |args: &[&str]| {
        std::process::Command::new("nix-env")
            .arg("-p")
            .arg(&link)
            .args(args)
            .output()
            .unwrap()
    };
    let list = assert_succeeded(&nix_env(&["--list-generations"]));
    assert!(
        list.contains("   2   ") && list.contains("(current)"),
        "{list}"
    );
    assert_succeeded(&nix_env(&["--delete-generations", "1"]));
    assert!(std::fs::symlink_metadata(gen_link(1)).is_err());
    sb.undeploy_leaving_nothing();
}

/// A process whose `user` neither exists nor is created by the profile's credentials is
/// refused before anything stops (and by `--dry-run`), naming the process and the user,
/// with a suggestion when a credential's name is close.
#[test]
fn a_process_running_as_an_account_nothing_creates_is_refused_before_any_stop() {
    let sb = Sandbox::new();
    let v1 = sb.profile("v1", &[Proc::new("a", &[]), Proc::new("b", &[])]);
    assert_succeeded(&sb.switch(&[v1.to_str().unwrap()]));
    let (a, b) = (sb.pid("a"), sb.pid("b"));
    // v2 changes `a` (a restart: its stop would come first) and runs it as `nxpsvc2`,
    // while the credentials create `nxpsvc1`.
    let user_credentials = "createHomeDir='0'\n";
    let v2 = sb.profile(
        "v2",
        &[
            Proc::new("a", &[])
                .version(2)
                .credential("users", "nxpsvc1", user_credentials),
            Proc::new("b", &[]),
        ],
    );
    let manifest = v2.join("share/nixproc-sysvinit/processes/a.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    json["user"] = serde_json::json!("nxpsvc2");
    std::fs::write(&manifest, json.to_string()).unwrap();
    for err in refusals_with_and_without_dry_run(&sb, &v2) {
        assert!(
            err.contains("process `a` runs as user `nxpsvc2`, which does not exist")
                && err.contains("did you mean 'nxpsvc1'?"),
            "{err}"
        );
    }
    assert_eq!((sb.pid("a"), sb.pid("b")), (a, b), "something was stopped");
    sb.undeploy_leaving_nothing();
}

/// A plugin that loads but cannot register `builtins.sysvinitScript` (here: one built for
/// another Nix) is noticed before the build: when it is the plugin installed next to the
/// switch, one line says so and the model is rendered at build time; when the user named
/// it with `--plugin`, the switch fails before building or stopping anything.
#[test]
fn a_plugin_that_cannot_register_is_noticed() {
    let sb = Sandbox::new();
    let model = common::webapps_example();
    let model = model.to_str().unwrap();
    let bin = sb.path().join("installed/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let (other, fake) = common::plugin_for_another_nix(&common::plugin_path(), &bin);
    let dry_run = |cmd: &mut std::process::Command| {
        cmd.args(["--dry-run", "--force-disable-user-change"])
            .args(["--option", "substituters", ""])
            .arg(model)
            .output()
            .unwrap()
    };

    // Named: an error naming the plugin and what it said, and nothing deployed.
    let out = dry_run(sb.switch_cmd().arg("--plugin").arg(&other));
    let err = assert_failed(&out);
    assert!(
        err.contains(&other.display().to_string())
            && err.contains(&format!("built for Nix {fake}"))
            && err.contains("--plugin none"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("start nginx"));

    // Found next to the tool: one notice, then the same plan as without a plugin.
    let switch = common::install_program(
        Path::new(env!("CARGO_BIN_EXE_nixproc-sysvinit-switch")),
        &bin,
        "nixproc-sysvinit-switch",
    );
    let mut cmd = std::process::Command::new(&switch);
    cmd.arg("-p")
        .arg(sb.profile_link())
        .arg("--state-dir")
        .arg(sb.state())
        .args(["--runlevel", "3"])
        .env_remove("NIXPROC_PLUGIN")
        .env(
            "NIXPROC_SYSVINIT_BIN",
            Path::new(env!("CARGO_BIN_EXE_nixproc-sysvinit-switch"))
                .parent()
                .unwrap(),
        );
    let out = dry_run(&mut cmd);
    let text = assert_succeeded(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let notices: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("cannot be used"))
        .collect();
    assert_eq!(notices.len(), 1, "{text}");
    assert!(
        notices[0].contains(&format!("built for Nix {fake}"))
            && notices[0].contains("rendering at build time"),
        "{text}"
    );
    let plan = String::from_utf8_lossy(&out.stdout).into_owned();
    let plain = dry_run(sb.switch_cmd().args(["--plugin", "none"]));
    assert_succeeded(&plain);
    assert_eq!(plan, String::from_utf8_lossy(&plain.stdout));
    assert!(plan.contains("start nginx (new)"), "{plan}");
}
