//! Accounts that stay right over time. Stable ids: the uid and gid the switch gives an
//! account are recorded per name (`uid-map`, `gid-map` next to the account registry)
//! and given to that name again, never to another; ids written in credentials are
//! honoured, and one another account holds is refused before anything stops. Nothing
//! left for a recycled uid: what the switch made for a user it deletes is removed or
//! handed to root.

use crate::common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

use common::account_exists as exists;

/// The id recorded for `name` in the map `file` (`uid-map`, `gid-map`) of `registry`.
fn recorded(registry: &Path, file: &str, name: &str) -> Option<u32> {
    let text = std::fs::read_to_string(registry.join(file)).ok()?;
    let map: serde_json::Value = serde_json::from_str(&text).unwrap();
    map[name].as_u64().map(|id| id as u32)
}

/// The system range of uids `useradd --system` uses here (`SYS_UID_MIN`..`SYS_UID_MAX`
/// of login.defs, by default 100..999).
fn system_uids() -> std::ops::RangeInclusive<u32> {
    let defs = std::fs::read_to_string("/etc/login.defs").unwrap_or_default();
    let value = |key: &str, default: u32| {
        defs.lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some(key)).then(|| w.next()?.parse().ok())?
            })
            .next_back()
            .unwrap_or(default)
    };
    value("SYS_UID_MIN", 100)..=value("SYS_UID_MAX", 999)
}

/// The name of the account with id `id` in the `getent` database `db`, if any.
fn account_of(db: &str, id: u32) -> Option<String> {
    let out = Command::new("getent")
        .args([db, &id.to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let name = text.split(':').next().filter(|n| !n.is_empty())?;
    out.status.success().then(|| name.to_string())
}

/// Checks that an account made again got its recorded `key` (`uid`, `gid`) `old`:
/// `new` is `old`, unless another program's account (`holder`) took it between the
/// switches (other tests run `useradd --system` meanwhile), which the switch's output
/// says.
fn kept_unless_taken(out: &str, key: &str, old: u32, new: u32, holder: Option<String>) {
    match holder {
        Some(other) if new != old => assert!(
            out.contains(&format!("warning: {key} {old}, recorded for"))
                && out.contains(&format!("'{other}' now")),
            "{out}"
        ),
        _ => assert_eq!(new, old, "the account came back with another {key}: {out}"),
    }
}

/// After a switch that printed `out`: `user`, whose recorded `uid` belongs to `other`
/// now, was given another uid, and the switch said so; that uid.
fn assert_given_another_uid(out: &str, user: &str, uid: u32, other: &str) -> u32 {
    let (new_uid, _) = ids_of(user);
    assert_ne!(new_uid, uid);
    let warning = format!(
        "warning: uid {uid}, recorded for user '{user}', belongs to user '{other}' now; user '{user}' gets uid {new_uid}"
    );
    assert!(out.contains(&warning), "{out}");
    new_uid
}

/// Makes the system account `name` with uid `uid` by hand, without a home (as an
/// administrator or another tool would).
fn add_system_user(name: &str, uid: u32) {
    let uid = uid.to_string();
    let out = account_tool(Command::new("useradd").args([
        "--system",
        "--no-create-home",
        "--uid",
        &uid,
        name,
    ]));
    assert!(out.status.success(), "{out:?}");
}

/// A sandbox whose profile `a` has one process, `svca`, with the account `user` (its
/// user file `text`), deployed with the machine's shared id record; the sandbox, the
/// record's directory and the profile.
fn deployed_with_account(user: &str, text: &str) -> (Sandbox, PathBuf, PathBuf) {
    let (sb, registry) = (Sandbox::new(), shared_registry());
    let p = sb.profile(
        "a",
        &[Proc::new("svca", &[]).credential("users", user, text)],
    );
    assert_succeeded(&run_in(&sb, "a", "x", &registry, &[p.to_str().unwrap()]));
    (sb, registry, p)
}

#[test]
fn an_account_gets_its_recorded_ids_again_after_undeploy_and_delete_all_generations() {
    let (user, _guard) = fresh_user("nxk");
    let (sb, registry, p) = deployed_with_account(&user, "description=kept\n");
    let (uid, gid) = ids_of(&user);
    assert!(
        system_uids().contains(&uid),
        "uid {uid} outside the system range"
    );
    assert_eq!(recorded(&registry, "uid-map", &user), Some(uid));
    assert_eq!(recorded(&registry, "gid-map", &user), Some(gid));
    assert_eq!(common::group_of_gid(gid).as_deref(), Some(user.as_str()));

    assert_succeeded(&run_in(&sb, "a", "x", &registry, &["--undeploy"]));
    assert!(!exists("passwd", &user) && !exists("group", &user));
    assert_succeeded(&run_in(
        &sb,
        "a",
        "x",
        &registry,
        &["--delete-all-generations"],
    ));
    // Machine state: neither the undeploy nor the deletion of the generations drops it.
    assert_eq!(recorded(&registry, "uid-map", &user), Some(uid));
    assert_eq!(recorded(&registry, "gid-map", &user), Some(gid));

    let out = assert_succeeded(&run_in(&sb, "a", "x", &registry, &[p.to_str().unwrap()]));
    let (new_uid, new_gid) = ids_of(&user);
    kept_unless_taken(&out, "uid", uid, new_uid, account_of("passwd", uid));
    kept_unless_taken(&out, "gid", gid, new_gid, account_of("group", gid));
    assert_succeeded(&run_in(&sb, "a", "x", &registry, &["--undeploy"]));
    assert!(!exists("passwd", &user));
    assert!(sb.leftovers().is_empty());
}

#[test]
fn a_recorded_uid_another_account_took_meanwhile_is_replaced_with_a_warning() {
    let (user, _guard) = fresh_user("nxw");
    let (other, _other_guard) = fresh_user("nxv");
    let (sb, registry, p) = deployed_with_account(&user, "");
    let (uid, _) = ids_of(&user);
    assert_succeeded(&run_in(&sb, "a", "x", &registry, &["--undeploy"]));
    add_system_user(&other, uid);

    let out = assert_succeeded(&run_in(&sb, "a", "x", &registry, &[p.to_str().unwrap()]));
    let new_uid = assert_given_another_uid(&out, &user, uid, &other);
    assert_eq!(recorded(&registry, "uid-map", &user), Some(new_uid));
    assert_eq!(ids_of(&other).0, uid);
    assert_succeeded(&run_in(&sb, "a", "x", &registry, &["--undeploy"]));
    assert!(!exists("passwd", &user) && exists("passwd", &other));
    assert!(sb.leftovers().is_empty());
}

#[test]
fn a_given_uid_another_account_holds_is_refused_before_anything_stops() {
    let (user, _guard) = fresh_user("nxq");
    let holder = UserGuard::create("nxh");
    let (sb, registry) = sandbox_with_registry();
    let running = sb.profile("run", &[Proc::new("svca", &[])]);
    assert_succeeded(&run_in(
        &sb,
        "a",
        "x",
        &registry,
        &[running.to_str().unwrap()],
    ));
    let pid = sb.pid("svca").expect("svca runs");
    // An upgrade of svca, and a new process whose user would get the holder's uid.
    let bad = |name: &str, uid: u32| {
        sb.profile(
            name,
            &[
                Proc::new("svca", &[]).version(2),
                Proc::new("svcq", &[]).credential("users", &user, &format!("uid={uid}\n")),
            ],
        )
    };
    let taken = bad("taken", holder.uid);
    // The file as the switch reads it: in the profile, or its copy in the store.
    let expected = format!(
        "taken/dysnomia-support/users/{user}: `uid` {} of user '{user}' belongs to user '{}' already; give '{user}' another uid, or none to have one chosen",
        holder.uid, holder.name
    );
    for args in [vec!["--dry-run"], vec![]] {
        let mut args = args.clone();
        args.push(taken.to_str().unwrap());
        let err = assert_failed(&run_in(&sb, "a", "x", &registry, &args));
        assert!(err.contains(&expected), "{args:?}: {err}");
        assert_eq!(sb.pid("svca"), Some(pid), "svca was stopped");
        assert!(sb.pid("svcq").is_none());
        assert!(!exists("passwd", &user));
    }
    assert!(
        !sb.events().iter().any(|e| e.starts_with("stop ")),
        "{:?}",
        sb.events()
    );

    // An id the record holds for another name is refused the same way.
    let free = free_id();
    std::fs::create_dir_all(&registry).unwrap();
    std::fs::write(
        registry.join("uid-map"),
        format!("{{\"nxgone{}\":{free}}}\n", unique()),
    )
    .unwrap();
    let recorded_elsewhere = bad("recorded", free);
    let err = assert_failed(&run_in(
        &sb,
        "a",
        "x",
        &registry,
        &[recorded_elsewhere.to_str().unwrap()],
    ));
    assert!(
        err.contains(&format!(
            "`uid` {free} of user '{user}' is recorded for user 'nxgone"
        )) && err.contains(&format!("in {}", registry.join("uid-map").display())),
        "{err}"
    );
    assert_eq!(sb.pid("svca"), Some(pid));
    assert!(!exists("passwd", &user));
    assert_succeeded(&run_in(&sb, "a", "x", &registry, &["--undeploy"]));
    assert!(sb.leftovers().is_empty());
}

#[test]
fn a_given_uid_and_gid_are_honoured_and_recorded() {
    let (user, _guard) = fresh_user("nxg");
    let group = format!("{user}g");
    let _group_guard = AccountsGuard(vec![("group", group.clone())]);
    let (sb, registry) = (Sandbox::new(), shared_registry());
    let (uid, gid) = (free_id(), free_id());
    let p = sb.profile(
        "a",
        &[Proc::new("svca", &[])
            .credential("groups", &group, &format!("gid={gid}\n"))
            .credential("users", &user, &format!("uid={uid}\ngroup={group}\n"))],
    );
    assert_succeeded(&run_in(&sb, "a", "x", &registry, &[p.to_str().unwrap()]));
    assert_eq!(ids_of(&user), (uid, gid));
    assert_eq!(recorded(&registry, "uid-map", &user), Some(uid));
    assert_eq!(recorded(&registry, "gid-map", &group), Some(gid));
    // The user has its group: no group of its own was made.
    assert!(!exists("group", &user));
    assert_succeeded(&run_in(&sb, "a", "x", &registry, &["--undeploy"]));
    assert!(!exists("passwd", &user) && !exists("group", &group));
    assert!(sb.leftovers().is_empty());
}

#[test]
fn an_account_made_by_hand_or_dysnomia_is_never_deleted_even_with_a_recorded_id() {
    let (user, _guard) = fresh_user("nxy");
    // The switch made the account once: its id is recorded.
    let (sb, registry, p) = deployed_with_account(&user, "");
    assert_succeeded(&run_in(&sb, "a", "x", &registry, &["--undeploy"]));
    assert!(recorded(&registry, "uid-map", &user).is_some());
    // Now Dysnomia (or an administrator) makes it from the same credential file.
    let out = account_tool(Command::new("useradd").args([
        "--system",
        "--user-group",
        "--no-create-home",
        &user,
    ]));
    assert!(out.status.success(), "{out:?}");
    let ids = ids_of(&user);
    for _ in 0..2 {
        assert_succeeded(&run_in(&sb, "a", "x", &registry, &[p.to_str().unwrap()]));
        assert_succeeded(&run_in(&sb, "a", "x", &registry, &["--undeploy"]));
        assert_eq!(
            ids_of(&user),
            ids,
            "an account the switch did not make was touched"
        );
    }
    assert!(!registry_text(&registry).contains(&user));
    assert!(sb.leftovers().is_empty());
}

/// A processes model of one foreground process (`/bin/sleep`, its output logged) run as
/// `user`, whose credentials make that user, with a home directory `STATEDIR/USER-home`.
fn sleeper_model(dir: &Path, user: &str) -> PathBuf {
    let text = format!(
        r#"{{ pkgs, stateDir, runtimeDir, logDir, tmpDir, forceDisableUserChange, ... }}:
let
  nixproc = import {root}/nix {{
    inherit pkgs stateDir runtimeDir logDir tmpDir forceDisableUserChange;
  }};
in
{{
  {user} = {{
    pkg = nixproc.createSystemVInitScript {{
      instanceName = "{user}";
      process = "/bin/sleep";
      args = [ "100000" ];
      processIsDaemon = false;
      runlevels = [ 3 ];
      user = "{user}";
      credentials.users.{user} = {{
        description = "recycled uid test";
        homeDir = "${{stateDir}}/{user}-home";
        createHomeDir = true;
      }};
    }};
  }};
}}
"#,
        root = repo_root().display()
    );
    let path = dir.join("processes.nix");
    std::fs::write(&path, text).unwrap();
    path
}

/// The marker of a directory handed to root.
const RELEASED: &str = ".nixproc-sysvinit-released";

/// The paths under `dir` that `uid` owns (not following symbolic links).
fn owned_by(dir: &Path, uid: u32) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            if meta.uid() == uid {
                found.push(e.path());
            }
            if meta.is_dir() {
                todo.push(e.path());
            }
        }
    }
    found
}

/// The real uid of a running process (`/proc/PID/status`).
fn uid_of_pid(pid: u32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())
        .and_then(|id| id.parse().ok())
        .unwrap()
}

/// Asserts that `dir` is root's, mode 0700, with the marker naming `user`.
fn assert_released(dir: &Path, user: &str) {
    let meta = std::fs::metadata(dir).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (0, 0, 0o700),
        "{}",
        dir.display()
    );
    let marker = std::fs::read_to_string(dir.join(RELEASED)).unwrap();
    assert_eq!(marker, format!("{user}\n"), "{}", dir.display());
}

#[test]
fn a_recycled_uid_gets_nothing_the_deleted_account_had() {
    let (user, _guard) = fresh_user("nxr");
    let (other, _other_guard) = fresh_user("nxo");
    let mut d = ModelDeployment::new("recycled", &[]);
    let registry = shared_registry().display().to_string();
    d.env
        .push(("NIXPROC_SYSVINIT_ACCOUNTS_DIR".into(), registry));
    let model = sleeper_model(d.dir.path(), &user);
    let model = model.to_str().unwrap();
    let state = d.dir.path().join("state");
    let run_dir = state.join("run").join(&user);
    let log_dir = state.join("log").join(&user);
    let home = state.join(format!("{user}-home"));

    assert_succeeded(&d.switch(&[model]));
    let (uid, _) = ids_of(&user);
    assert_eq!(uid_of_pid(d.pid(&user).expect("the service runs")), uid);
    for dir in [&run_dir, &log_dir, &home] {
        let owner = std::fs::metadata(dir).unwrap().uid();
        assert_eq!(owner, uid, "{}", dir.display());
    }
    std::fs::write(home.join("notes"), "kept").unwrap();
    std::os::unix::fs::lchown(home.join("notes"), Some(uid), None).unwrap();

    // Undeploy: the account goes, and its run directory; its log directory and home
    // stay, root's.
    assert_succeeded(&d.switch(&["--undeploy"]));
    assert!(!exists("passwd", &user));
    assert!(
        std::fs::symlink_metadata(&run_dir).is_err(),
        "run directory left"
    );
    assert_released(&log_dir, &user);
    assert_released(&home, &user);
    assert!(log_dir.join(format!("{user}.log")).exists());
    assert_eq!(std::fs::read_to_string(home.join("notes")).unwrap(), "kept");
    assert_eq!(owned_by(&state, uid), Vec::<PathBuf>::new());

    // Another account gets the freed uid; the service comes back with another one.
    add_system_user(&other, uid);
    let out = assert_succeeded(&d.switch(&[model]));
    let new_uid = assert_given_another_uid(&out, &user, uid, &other);
    assert_eq!(
        uid_of_pid(d.pid(&user).expect("the service runs again")),
        new_uid
    );
    assert_eq!(
        owned_by(&state, uid),
        Vec::<PathBuf>::new(),
        "{other} owns some of it"
    );
    // The switch hands the home back to the new account of the name.
    for path in [home.clone(), home.join("notes")] {
        let owner = std::fs::metadata(&path).unwrap().uid();
        assert_eq!(owner, new_uid, "{}", path.display());
    }
    assert!(!home.join(RELEASED).exists());
    // The init-functions hand the log directory to it as they start the service.
    let log_owner = std::fs::metadata(&log_dir).unwrap().uid();
    assert_eq!(log_owner, new_uid);
    assert!(!log_dir.join(RELEASED).exists());
    assert_succeeded(&d.switch(&["--undeploy"]));
    assert!(!exists("passwd", &user) && exists("passwd", &other));
}
