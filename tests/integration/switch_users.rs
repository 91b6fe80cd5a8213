//! Groups and users from credential files: created before starts, removed after stops
//! only when this tool created them.

use crate::common;

use std::process::Command;

use common::*;

use common::account_exists as exists;

#[test]
fn accounts_are_created_and_only_ours_removed() {
    let id = unique();
    let (group, user, pre) = (format!("nxg{id}"), format!("nxu{id}"), format!("nxp{id}"));
    let _guard = AccountsGuard(vec![
        ("passwd", user.clone()),
        ("passwd", pre.clone()),
        ("group", group.clone()),
        ("group", pre.clone()),
    ]);
    let out = account_tool(Command::new("useradd").args(["--system", "--user-group", &pre]));
    assert!(out.status.success(), "{out:?}");

    let sb = Sandbox::new();
    let home = sb.path().join("home dir");
    let user_file = format!(
        "createHomeDir=true\ndescription='Test user, it'\\''s $(not run)'\ngroup={group}\nhomeDir='{}'\nuid={}\n",
        home.display(),
        free_id()
    );
    let p = sb.profile(
        "with-users",
        &[Proc::new("svc", &[])
            .credential("groups", &group, "")
            .credential("users", &user, &user_file)
            .credential("users", &pre, "description=existing\n")],
    );
    let out = assert_succeeded(&sb.switch(&[p.to_str().unwrap()]));
    assert!(exists("group", &group), "{out}");
    assert!(exists("passwd", &user), "{out}");
    let entry = String::from_utf8(
        Command::new("getent")
            .args(["passwd", &user])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(entry.contains("Test user, it's $(not run)"), "{entry}");
    assert!(entry.contains(&home.display().to_string()), "{entry}");
    assert!(home.is_dir(), "home directory not created");
    assert!(sb.pid("svc").is_some());

    // An upgrade that keeps the credentials keeps the accounts.
    let p2 = sb.profile(
        "with-users-2",
        &[Proc::new("svc", &[])
            .version(2)
            .credential("groups", &group, "")
            .credential("users", &user, &user_file)
            .credential("users", &pre, "description=existing\n")],
    );
    assert_succeeded(&sb.switch(&[p2.to_str().unwrap()]));
    assert!(exists("passwd", &user) && exists("group", &group));

    assert_succeeded(&sb.switch(&["--undeploy"]));
    assert!(!exists("passwd", &user), "created user not removed");
    assert!(!exists("group", &group), "created group not removed");
    assert!(exists("passwd", &pre), "pre-existing user removed");
    assert!(sb.leftovers().is_empty());
}

#[test]
fn force_disable_user_change_only_makes_home_directories() {
    let (user, _guard) = fresh_user("nxf");
    let sb = Sandbox::new();
    let home = sb.path().join("fhome");
    let p = sb.profile(
        "no-user-change",
        &[Proc::new("svc", &[]).credential(
            "users",
            &user,
            &format!("homeDir={}\ncreateHomeDir=1\n", home.display()),
        )],
    );
    assert_succeeded(&sb.switch(&["--force-disable-user-change", p.to_str().unwrap()]));
    assert!(
        !exists("passwd", &user),
        "user created despite --force-disable-user-change"
    );
    assert!(home.is_dir());
    assert_succeeded(&sb.switch(&["--force-disable-user-change", "--undeploy"]));
    assert!(sb.leftovers().is_empty());
}

#[test]
fn malformed_credentials_are_reported_with_file_and_line() {
    let sb = Sandbox::new();
    let p = sb.profile(
        "bad-credentials",
        &[Proc::new("svc", &[]).credential("users", "nxbad", "group=x\ndescription=$(reboot)\n")],
    );
    let err = assert_failed(&sb.switch(&[p.to_str().unwrap()]));
    assert!(
        err.contains("users/nxbad, line 2") && err.contains("`description`"),
        "{err}"
    );
    assert!(sb.pid("svc").is_none());
    assert!(sb.deployed().is_none());
    assert!(!exists("passwd", "nxbad"));
}

#[test]
fn an_account_shared_by_two_state_directories_lives_until_both_drop_it() {
    let (user, _guard) = fresh_user("nxs");
    let (sb, registry) = sandbox_with_registry();
    let file = &format!("description=shared\nuid={}\n", free_id());
    let pa = sb.profile(
        "a",
        &[Proc::new("svca", &[]).credential("users", &user, file)],
    );
    let pb = sb.profile(
        "b",
        &[Proc::new("svcb", &[]).credential("users", &user, file)],
    );
    // Profile a (state directory x) creates the user, profile b (state directory y) uses it.
    assert_succeeded(&run_in(&sb, "a", "x", &registry, &[pa.to_str().unwrap()]));
    assert!(exists("passwd", &user));
    assert_succeeded(&run_in(&sb, "b", "y", &registry, &[pb.to_str().unwrap()]));
    let text = registry_text(&registry);
    for link in ["profiles/a", "profiles/b"] {
        assert!(
            text.contains(&sb.path().join(link).display().to_string()),
            "{text}"
        );
    }
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&registry).unwrap();
        assert_eq!(meta.uid(), 0);
        assert_eq!(
            meta.mode() & 0o022,
            0,
            "registry directory writable by others"
        );
    }
    // No per-state-directory registry any more.
    assert!(!sb
        .path()
        .join("x/lib/nixproc-sysvinit/accounts.json")
        .exists());

    let out = assert_succeeded(&run_in(&sb, "a", "x", &registry, &["--undeploy"]));
    assert!(
        exists("passwd", &user),
        "removed while profile b still uses it: {out}"
    );
    assert!(sb.pid("svcb").is_some());
    assert_succeeded(&run_in(&sb, "b", "y", &registry, &["--undeploy"]));
    assert!(
        !exists("passwd", &user),
        "not removed when the last profile dropped it"
    );
    assert!(!registry_text(&registry).contains(&user));
    assert!(sb.leftovers().is_empty());
}

#[test]
fn a_process_running_as_the_user_puts_its_deletion_off_to_the_next_switch() {
    let (user, _guard) = fresh_user("nxr");
    let mut processes = common::ProcessGuard::new();
    let (sb, registry) = sandbox_with_registry();
    let pa = sb.profile(
        "a",
        &[Proc::new("svca", &[]).credential("users", &user, &format!("uid={}\n", free_id()))],
    );
    let other = sb.profile("other", &[Proc::new("svco", &[])]);
    assert_succeeded(&run_in(&sb, "a", "x", &registry, &[pa.to_str().unwrap()]));
    let (uid, gid) = ids_of(&user);
    let mut sleeper = {
        use std::os::unix::process::CommandExt;
        Command::new("sleep")
            .arg("600")
            .uid(uid)
            .gid(gid)
            .spawn()
            .unwrap()
    };
    processes.pid(sleeper.id() as i32);

    let out = assert_succeeded(&run_in(&sb, "a", "x", &registry, &["--undeploy"]));
    assert!(
        exists("passwd", &user),
        "deleted while a process runs as it"
    );
    assert!(
        out.contains(&format!(
            "warning: user `{user}` is used by no profile any more but was not deleted: still in use by process {} (sleep); the next switch tries again",
            sleeper.id()
        )),
        "{out}"
    );
    assert!(registry_text(&registry).contains("still in use"));

    // Still running: the next switch (of another profile, in another state directory)
    // keeps it and says so again.
    let out = assert_succeeded(&run_in(
        &sb,
        "other",
        "y",
        &registry,
        &[other.to_str().unwrap()],
    ));
    assert!(
        exists("passwd", &user) && out.contains("still in use"),
        "{out}"
    );

    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    let out = assert_succeeded(&run_in(&sb, "other", "y", &registry, &["--undeploy"]));
    assert!(!exists("passwd", &user), "not deleted once unused: {out}");
    assert!(!out.contains("warning"), "{out}");
    assert!(!registry_text(&registry).contains(&user));
    assert!(sb.leftovers().is_empty());
}

#[test]
fn a_failing_userdel_warns_and_is_retried_without_wedging_the_profile() {
    use std::os::unix::fs::PermissionsExt;
    let (user, _guard) = fresh_user("nxd");
    let (sb, registry) = sandbox_with_registry();
    let bin = sb.path().join("failing-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let userdel = bin.join("userdel");
    std::fs::write(
        &userdel,
        "#!/bin/sh\necho 'userdel: injected failure' >&2\nexit 8\n",
    )
    .unwrap();
    std::fs::set_permissions(&userdel, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let pa = sb.profile(
        "a",
        &[Proc::new("svca", &[]).credential("users", &user, &format!("uid={}\n", free_id()))],
    );
    assert_succeeded(&run_in(&sb, "a", "x", &registry, &[pa.to_str().unwrap()]));

    let out = assert_succeeded(
        &switch_in(&sb, "a", "x", &registry)
            .env("PATH", &path)
            .arg("--undeploy")
            .output()
            .unwrap(),
    );
    assert!(
        out.contains(&format!("warning: user `{user}` is used by no profile any more but was not deleted: command `userdel -- {user}` failed")) && out.contains("injected failure"),
        "{out}"
    );
    assert!(exists("passwd", &user));
    assert!(sb.pid("svca").is_none());
    assert!(registry_text(&registry).contains("injected failure"));

    // The profile is not wedged: it deploys and undeploys again, and the deletion is
    // retried (and succeeds) at the next switch.
    assert_succeeded(&run_in(&sb, "a", "x", &registry, &[pa.to_str().unwrap()]));
    assert!(sb.pid("svca").is_some());
    assert!(!registry_text(&registry).contains("injected failure"));
    let out = assert_succeeded(&run_in(&sb, "a", "x", &registry, &["--undeploy"]));
    assert!(!exists("passwd", &user), "{out}");
    assert!(sb.leftovers().is_empty());
}

#[test]
fn a_handmade_profile_cannot_create_privileged_accounts_without_opting_in() {
    let (user, _guard) = fresh_user("nxa");
    let (sb, registry) = sandbox_with_registry();
    // A profile of one process whose user file is `file`.
    let profile = |name: &str, file: &str| {
        sb.profile(
            name,
            &[Proc::new("svc", &[]).credential("users", &user, file)],
        )
    };
    let bad = profile("bad", "extraGroups=adm\n");
    let err = assert_failed(&run_in(&sb, "a", "x", &registry, &[bad.to_str().unwrap()]));
    assert!(
        err.contains(&format!("users/{user}: `extraGroups` puts user '{user}' in the privileged group 'adm'; if that is intended, add the line allowPrivilegedCredentials=1 to the file")),
        "{err}"
    );
    assert!(!exists("passwd", &user));
    assert!(sb.pid("svc").is_none());
    for file in ["uid=0\n", "group=0\n"] {
        let bad = profile("bad", file);
        let err = assert_failed(&run_in(&sb, "a", "x", &registry, &[bad.to_str().unwrap()]));
        assert!(err.contains("allowPrivilegedCredentials=1"), "{err}");
        assert!(!exists("passwd", &user));
    }

    let allowed = profile(
        "allowed",
        &format!(
            "allowPrivilegedCredentials='1'\nextraGroups=adm\nuid={}\n",
            free_id()
        ),
    );
    assert_succeeded(&run_in(
        &sb,
        "a",
        "x",
        &registry,
        &[allowed.to_str().unwrap()],
    ));
    let groups = Command::new("id").args(["-Gn", &user]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&groups.stdout)
            .split_whitespace()
            .any(|g| g == "adm"),
        "{groups:?}"
    );
    assert_succeeded(&run_in(&sb, "a", "x", &registry, &["--undeploy"]));
    assert!(!exists("passwd", &user));
    assert!(sb.leftovers().is_empty());
}

#[test]
fn a_registry_of_a_state_directory_is_merged_into_the_machine_registry() {
    use std::os::unix::fs::PermissionsExt;
    let (user, _guard) = fresh_user("nxm");
    let (sb, registry) = sandbox_with_registry();
    // An earlier version created the user for profile a and recorded it in the
    // registry of a's state directory.
    let out = account_tool(Command::new("useradd").args([
        "--system",
        "--user-group",
        "--uid",
        &free_id().to_string(),
        &user,
    ]));
    assert!(out.status.success(), "{out:?}");
    let old_dir = sb.path().join("x/lib/nixproc-sysvinit");
    std::fs::create_dir_all(&old_dir).unwrap();
    for d in [
        sb.path().join("x"),
        sb.path().join("x/lib"),
        old_dir.clone(),
    ] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let link = sb.path().join("profiles/a");
    std::fs::write(
        old_dir.join("accounts.json"),
        serde_json::json!({"groups": {}, "users": {&user: [link]}}).to_string(),
    )
    .unwrap();

    // Profile a no longer mentions the user: it is released and deleted.
    let pa = sb.profile("a", &[Proc::new("svca", &[])]);
    let out = assert_succeeded(&run_in(&sb, "a", "x", &registry, &[pa.to_str().unwrap()]));
    assert!(!exists("passwd", &user), "{out}");
    assert!(!old_dir.join("accounts.json").exists());
    assert!(old_dir.join("accounts.json.merged").exists());
    assert_succeeded(&run_in(&sb, "a", "x", &registry, &["--undeploy"]));
    assert!(sb.leftovers().is_empty());
}

#[test]
fn concurrent_switches_of_different_profiles_keep_the_registry_whole() {
    let id = unique();
    let shared = format!("nxc{id}");
    let own: Vec<String> = (0..4).map(|i| format!("nxc{i}{id}")).collect();
    let mut names = vec![("passwd", shared.clone()), ("group", shared.clone())];
    for u in &own {
        names.push(("passwd", u.clone()));
        names.push(("group", u.clone()));
    }
    let _guard = AccountsGuard(names);
    let (sb, registry) = sandbox_with_registry();
    let shared_file = format!("description=shared\nuid={}\n", free_id());
    let profiles: Vec<_> = own
        .iter()
        .enumerate()
        .map(|(i, u)| {
            sb.profile(
                &format!("p{i}"),
                &[Proc::new(&format!("svc{i}"), &[])
                    .credential("users", &shared, &shared_file)
                    .credential("users", u, &format!("uid={}\n", free_id()))],
            )
        })
        .collect();
    let all = |args: &dyn Fn(usize) -> Vec<String>| {
        let children: Vec<_> = (0..profiles.len())
            .map(|i| {
                switch_in(&sb, &format!("p{i}"), &format!("s{i}"), &registry)
                    .args(args(i))
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            assert_succeeded(&child.wait_with_output().unwrap());
        }
    };
    all(&|i| vec![profiles[i].display().to_string()]);
    let reg: serde_json::Value = serde_json::from_str(&registry_text(&registry)).unwrap();
    assert_eq!(
        reg["users"][&shared]["claims"].as_array().unwrap().len(),
        4,
        "{reg}"
    );
    for u in own.iter().chain([&shared]) {
        assert!(exists("passwd", u), "{u} missing");
    }
    all(&|_| vec!["--undeploy".to_string()]);
    for u in own.iter().chain([&shared]) {
        assert!(!exists("passwd", u), "{u} left behind");
    }
    let reg: serde_json::Value = serde_json::from_str(&registry_text(&registry)).unwrap();
    assert_eq!(reg, serde_json::json!({"groups": {}, "users": {}}));
    assert!(sb.leftovers().is_empty());
}

#[test]
fn an_unreadable_registry_never_leaves_a_switch_unfinished() {
    let (user, _guard) = fresh_user("nxj");
    let (sb, registry) = sandbox_with_registry();
    let pa = sb.profile(
        "a",
        &[Proc::new("svca", &[]).credential("users", &user, &format!("uid={}\n", free_id()))],
    );
    assert_succeeded(&run_in(&sb, "a", "x", &registry, &[pa.to_str().unwrap()]));
    std::fs::write(registry.join("accounts.json"), "{ not json").unwrap();

    // After the profile moved, the registry's trouble is a warning: the undeploy is done.
    let out = assert_succeeded(&run_in(&sb, "a", "x", &registry, &["--undeploy"]));
    assert!(
        out.contains(
            "warning: accounts no profile uses any more were not all deleted: account registry"
        ),
        "{out}"
    );
    assert!(sb.pid("svca").is_none());
    // Before anything ran, it is an error saying what to do; nothing starts.
    let err = assert_failed(&run_in(&sb, "a", "x", &registry, &[pa.to_str().unwrap()]));
    assert!(err.contains("repair the file or remove it"), "{err}");
    assert!(sb.pid("svca").is_none());
    std::fs::remove_file(registry.join("accounts.json")).unwrap();
    assert_succeeded(&run_in(&sb, "a", "x", &registry, &["--undeploy"]));
    assert!(sb.leftovers().is_empty());
}
