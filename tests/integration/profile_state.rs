//! The profile owns its state: the lock, the journal and the roots live next to the
//! profile link (`.NAME.nixproc-sysvinit`), so every tool acting on one profile takes the
//! same lock whatever its `--state-dir`; state in the earlier layout
//! (`LIBDIR/nixproc-sysvinit/NAME`) is moved there and recovered; a profile directory
//! others could change is refused before anything happens.

use crate::common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;

const RUNACTIVITY: &str = env!("CARGO_BIN_EXE_nixproc-sysvinit-runactivity");
const SWITCH: &str = env!("CARGO_BIN_EXE_nixproc-sysvinit-switch");

/// runactivity on the sandbox's profile link with no state or library directory at all:
/// the tool's defaults.
fn runactivity_without_state_dir(sb: &Sandbox, args: &[&str]) -> Command {
    let mut c = Command::new(RUNACTIVITY);
    c.arg("-p")
        .arg(sb.profile_link())
        .args(["--runlevel", "3"])
        .args(args)
        .env_remove("NIXPROC_STATE_DIR")
        .env_remove("NIXPROC_LIB_DIR")
        .env_remove("NIXPROC_PROCESSES");
    c
}

/// A switch removes `b` and slowly starts `c`, with the sandbox's `--state-dir`;
/// `runactivity start` without one meets its lock: `--no-wait` fails naming the switch,
/// and without it runactivity waits, then starts what the switch deployed.
#[test]
fn runactivity_without_a_state_dir_waits_for_a_switch_with_one() {
    let sb = Sandbox::new();
    let (v1, v2) = sb.b_to_c_profiles();
    assert_succeeded(&sb.switch(&[v1.to_str().unwrap()]));
    fs::write(sb.run().join("slow-c"), "2").unwrap();
    let mut switch = sb.spawn_switch(&v2);
    assert!(sb.wait_for_step("c", "start"), "the switch never started c");

    let out = runactivity_without_state_dir(&sb, &["--no-wait", "start"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_contains(
        &err,
        &format!("nixproc-sysvinit-switch (pid {}) is running", switch.id()),
    );
    assert_contains(&err, &sb.tool_state().join("lock").display().to_string());
    assert!(switch.try_wait().unwrap().is_none(), "switch already over");

    let out = runactivity_without_state_dir(&sb, &["start"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    sb.assert_waited_for(&mut switch, &out);
    sb.undeploy_leaving_nothing();
}

/// Two switches of one profile with different state directories exclude each other.
#[test]
fn switches_with_different_state_dirs_take_one_lock() {
    let sb = Sandbox::new();
    let p = sb.profile(
        "v1",
        &[Proc::new("slow", &[]), Proc::new("after", &["slow"])],
    );
    fs::write(sb.run().join("slow-slow"), "2").unwrap();
    let mut first = sb.spawn_switch(&p);
    assert!(sb.wait_for_step("slow", "start"));
    let other = sb.path().join("other-state");

    let err = assert_failed(
        &sb.switch_cmd_in(&other, 3)
            .args(["--no-wait", p.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    assert_contains(
        &err,
        &format!(
            "another nixproc-sysvinit-switch (pid {}) is running",
            first.id()
        ),
    );
    assert!(
        first.try_wait().unwrap().is_none(),
        "first switch already over"
    );

    let second = sb.switch_cmd_in(&other, 3).arg(&p).output().unwrap();
    assert!(first.wait().unwrap().success());
    let text = assert_succeeded(&second);
    assert_contains(
        &text,
        &format!(
            "waiting for nixproc-sysvinit-switch (pid {}) to finish",
            first.id()
        ),
    );
    // The second found the first's deployment in place: nothing to do.
    assert_contains(&text, "0 stopped, 0 started, 0 restarted, 2 unchanged");
    sb.undeploy_leaving_nothing();
}

/// `nix-store ARGS`, which must succeed; its standard output.
fn nix_store(args: &[&str]) -> String {
    stdout_of(
        Command::new("nix-store").args(args),
        &format!("nix-store {args:?}"),
    )
}

/// The store path the sandbox's profile directory `dir` has in the store (adding it
/// again gives the same path).
fn store_path_of(dir: &Path) -> String {
    nix_store(&["--add", dir.to_str().unwrap()])
        .trim()
        .to_string()
}

/// A switch to v2 killed right after it journalled the launch of `c`, its state then put
/// where an earlier version kept it, with a garbage-collector root `result` of v2 (the
/// registration `nix-build --out-link` makes): the next switch moves it all next to the
/// profile link, rolls the interrupted switch back, and the root still keeps v2.
#[test]
fn an_interrupted_switch_in_the_old_layout_is_moved_and_recovered() {
    let sb = Sandbox::new();
    let (v1, v2) = sb.b_to_c_profiles();
    assert_succeeded(&sb.switch(&[v1.to_str().unwrap()]));
    let gen1 = sb.deployed().unwrap();
    // Records: 1 begin, 2-3 the stop of b, 4 the launch of c.
    let out = sb
        .switch_cmd()
        .env("NIXPROC_TEST_KILL_AT_RECORD", "4")
        .arg(&v2)
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(9), "{out:?}");
    assert!(sb.pid("b").is_none(), "b was not stopped before the kill");

    let old = sb.state().join("lib/nixproc-sysvinit/processes");
    fs::create_dir_all(old.parent().unwrap()).unwrap();
    fs::rename(sb.tool_state(), &old).unwrap();
    assert!(old.join("journal.jsonl").exists());
    let v2_store = store_path_of(&v2);
    let old_root = old.join("result");
    nix_store(&[
        "--realise",
        &v2_store,
        "--add-root",
        old_root.to_str().unwrap(),
        "--indirect",
    ]);

    let out = sb.switch(&[v1.to_str().unwrap()]);
    let text = assert_succeeded(&out);
    assert_contains(
        &text,
        &format!(
            "moved the state of profile {} from {} to {} (journal.jsonl, logs, result)",
            sb.profile_link().display(),
            old.display(),
            sb.tool_state().display()
        ),
    );
    assert_contains(&text, "interrupted");
    assert!(!old.exists(), "the emptied old directory is still there");
    assert!(!sb.tool_state().join("journal.jsonl").exists());
    assert_eq!(sb.deployed().unwrap(), gen1);
    assert!(sb.pid("a").is_some() && sb.pid("b").is_some());
    assert!(sb.pid("c").is_none(), "the interrupted start of c survived");

    // The moved root is the one Nix knows, and it keeps v2 alive.
    let new_root = sb.tool_state().join("result");
    assert_eq!(fs::read_link(&new_root).unwrap(), PathBuf::from(&v2_store));
    let roots = nix_store(&["--query", "--roots", &v2_store]);
    assert_contains(&roots, &new_root.display().to_string());
    let del = Command::new("nix-store")
        .args(["--delete", &v2_store])
        .output()
        .unwrap();
    assert_contains(&assert_failed(&del), "still alive");
    sb.undeploy_leaving_nothing();
}

/// Runs the switch to undeploy profile link `link`, with the state directory `state`.
fn undeploy(link: &Path, state: &Path) -> Output {
    Command::new(SWITCH)
        .arg("-p")
        .arg(link)
        .arg("--state-dir")
        .arg(state)
        .args(["--runlevel", "3", "--undeploy"])
        .env_remove("NIXPROC_PROCESSES")
        .output()
        .unwrap()
}

/// A profile directory writable by others (or not root's) is refused by both tools with
/// a message naming it, its owner and its mode, before anything is made.
#[test]
fn a_profile_directory_others_can_change_is_refused() {
    let dir = TestDir::new("nixproc-profstate-");
    let state = dir.path().join("state");
    for (mode, owner, problem) in [
        (0o777, "root", "is writable by group or others"),
        (0o1777, "root", "is writable by group or others"),
        (0o775, "root", "is writable by group or others"),
        (0o755, "nobody", "does not belong to root"),
    ] {
        let profiles = dir.mkdir(&format!("profiles-{mode:o}-{owner}"), mode);
        run_ok(
            Command::new("chown").arg(owner).arg(&profiles),
            "chown the profile directory",
        );
        let uid = fs::metadata(&profiles).unwrap().uid();
        let link = profiles.join("web");
        let expected = format!(
            "profile directory {} {problem} (owner uid {uid} ({owner}), mode {mode:04o})",
            profiles.display()
        );
        let err = assert_failed(&undeploy(&link, &state));
        assert_contains(&err, &expected);
        let out = Command::new(RUNACTIVITY)
            .arg("-p")
            .arg(&link)
            .arg("--state-dir")
            .arg(&state)
            .args(["--runlevel", "3", "stop"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert_contains(&String::from_utf8_lossy(&out.stderr), &expected);
        assert!(!profiles.join(".web.nixproc-sysvinit").exists());
        assert!(!link.exists());
    }
    assert!(!state.exists(), "the state directory was made");
}

/// Runs `program args` as `user` with HOME `home`, `XDG_STATE_HOME` `xdg` and nothing
/// else of this environment.
fn as_user(user: &UserGuard, home: &Path, xdg: &Path, program: &Path, args: &[&str]) -> Output {
    let gid = fs::metadata(home).unwrap().gid();
    Command::new("setpriv")
        .arg(format!("--reuid={}", user.uid))
        .arg(format!("--regid={gid}"))
        .arg("--init-groups")
        .args(["--", "env", "-i"])
        .arg(format!("HOME={}", home.display()))
        .arg(format!("USER={}", user.name))
        .arg(format!("XDG_STATE_HOME={}", xdg.display()))
        .arg("PATH=/usr/local/bin:/usr/bin:/bin")
        .arg(program)
        .args(args)
        .current_dir(home)
        .output()
        .unwrap()
}

/// Removes the per-user directories the Nix daemon made for a user.
struct PerUserDirs(String);

impl Drop for PerUserDirs {
    fn drop(&mut self) {
        for kind in ["profiles", "gcroots"] {
            let _ = fs::remove_dir_all(
                Path::new("/nix/var/nix")
                    .join(kind)
                    .join("per-user")
                    .join(&self.0),
            );
        }
    }
}

/// A user other than root keeps the account registry in its own state directory
/// (`$XDG_STATE_HOME/nixproc-sysvinit`): the registry of the state directory given is
/// moved there, the one of the default state directory merged in.
#[test]
fn a_users_old_account_registries_move_to_its_state_directory() {
    let dir = TestDir::new("nixproc-profstate-");
    let bin = dir.mkdir("bin", 0o755);
    let switch = install_program(Path::new(SWITCH), &bin, "nixproc-sysvinit-switch");
    let home = dir.mkdir("home", 0o755);
    let user = UserGuard::create_with_home("nxps", &home);
    let _per_user = PerUserDirs(user.name.clone());
    let registry = |lib: &str, claims: serde_json::Value| {
        let d = home.join(lib).join("nixproc-sysvinit");
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("accounts.json"), claims.to_string()).unwrap();
        d.join("accounts.json")
    };
    let given = registry(
        "x/lib",
        serde_json::json!({"users": {"nxpsghost": ["/elsewhere/a"]}}),
    );
    let default = registry(
        "var/lib",
        serde_json::json!({"users": {"nxpsghost": {"claims": ["/elsewhere/b"]}}, "groups": {"nxpsgone": ["/elsewhere/b"]}}),
    );
    run_ok(
        Command::new("chown")
            .arg("-R")
            .arg(format!("{}:", user.name))
            .arg(&home),
        "chown the home",
    );
    let xdg = home.join("xdg");
    let out = as_user(
        &user,
        &home,
        &xdg,
        &switch,
        &[
            "-p",
            home.join("profiles/p").to_str().unwrap(),
            "--state-dir",
            home.join("x").to_str().unwrap(),
            "--runlevel",
            "3",
            "--undeploy",
        ],
    );
    let text = assert_succeeded(&out);
    let new = xdg.join("nixproc-sysvinit/accounts.json");
    assert_contains(
        &text,
        &format!(
            "moved the account registry {} to {}",
            given.display(),
            new.display()
        ),
    );
    assert_contains(
        &text,
        &format!(
            "merged the account registry {} into {}",
            default.display(),
            new.display()
        ),
    );
    let merged: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&new).unwrap()).unwrap();
    assert_eq!(
        merged["users"]["nxpsghost"]["claims"],
        serde_json::json!(["/elsewhere/a", "/elsewhere/b"])
    );
    assert_eq!(
        merged["groups"]["nxpsgone"]["claims"],
        serde_json::json!(["/elsewhere/b"])
    );
    assert!(!given.exists() && !default.exists());
    assert!(default.with_file_name("accounts.json.merged").exists());
    let meta = fs::metadata(new.parent().unwrap()).unwrap();
    assert_eq!(meta.uid(), user.uid);
    assert_eq!(
        meta.mode() & 0o077,
        0,
        "the registry directory is open to others"
    );
    // The tool directory is the user's, next to the profile link.
    let tool = home.join("profiles/.p.nixproc-sysvinit");
    assert_eq!(fs::metadata(&tool).unwrap().uid(), user.uid);
}
