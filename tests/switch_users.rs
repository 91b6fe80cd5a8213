//! Groups and users from credential files: created before starts, removed after stops
//! only when this tool created them.

mod switch_support;

use std::process::Command;

use switch_support::*;

use switch_support::common::account_exists as exists;

/// Removes the test accounts whatever happens.
struct Accounts(Vec<(&'static str, String)>);
impl Drop for Accounts {
    fn drop(&mut self) {
        for (db, name) in &self.0 {
            let tool = if *db == "passwd" {
                "userdel"
            } else {
                "groupdel"
            };
            if exists(db, name) {
                let _ = Command::new(tool).arg(name).output();
            }
        }
    }
}

fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{:x}{:x}", std::process::id() % 0xfff, nanos % 0xfffff)
}

#[test]
fn accounts_are_created_and_only_ours_removed() {
    let id = unique();
    let (group, user, pre) = (format!("nxg{id}"), format!("nxu{id}"), format!("nxp{id}"));
    let _guard = Accounts(vec![
        ("passwd", user.clone()),
        ("passwd", pre.clone()),
        ("group", group.clone()),
        ("group", pre.clone()),
    ]);
    let out = Command::new("useradd")
        .args(["--system", "--user-group", &pre])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    let sb = Sandbox::new();
    let home = sb.path().join("home dir");
    let user_file = format!(
        "createHomeDir=true\ndescription='Test user, it'\\''s $(not run)'\ngroup={group}\nhomeDir='{}'\n",
        home.display()
    );
    let p = sb.profile(
        "with-users",
        &[Proc::new("svc", &[])
            .credential("groups", &group, "")
            .credential("users", &user, &user_file)
            .credential("users", &pre, "description=existing\n")],
    );
    let out = ok(&sb.switch(&[p.to_str().unwrap()]));
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
    ok(&sb.switch(&[p2.to_str().unwrap()]));
    assert!(exists("passwd", &user) && exists("group", &group));

    ok(&sb.switch(&["--undeploy"]));
    assert!(!exists("passwd", &user), "created user not removed");
    assert!(!exists("group", &group), "created group not removed");
    assert!(exists("passwd", &pre), "pre-existing user removed");
    assert!(sb.leftovers().is_empty());
}

#[test]
fn force_disable_user_change_only_makes_home_directories() {
    let id = unique();
    let user = format!("nxf{id}");
    let _guard = Accounts(vec![("passwd", user.clone()), ("group", user.clone())]);
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
    ok(&sb.switch(&["--force-disable-user-change", p.to_str().unwrap()]));
    assert!(
        !exists("passwd", &user),
        "user created despite --force-disable-user-change"
    );
    assert!(home.is_dir());
    ok(&sb.switch(&["--force-disable-user-change", "--undeploy"]));
    assert!(sb.leftovers().is_empty());
}

#[test]
fn malformed_credentials_are_reported_with_file_and_line() {
    let sb = Sandbox::new();
    let p = sb.profile(
        "bad-credentials",
        &[Proc::new("svc", &[]).credential("users", "nxbad", "group=x\ndescription=$(reboot)\n")],
    );
    let err = failed(&sb.switch(&[p.to_str().unwrap()]));
    assert!(
        err.contains("users/nxbad, line 2") && err.contains("`description`"),
        "{err}"
    );
    assert!(sb.pid("svc").is_none());
    assert!(sb.deployed().is_none());
    assert!(!exists("passwd", "nxbad"));
}

#[test]
fn two_profiles_share_an_account_until_both_drop_it() {
    let id = unique();
    let user = format!("nxs{id}");
    let _guard = Accounts(vec![("passwd", user.clone()), ("group", user.clone())]);
    let sb = Sandbox::new();
    let file = "description=shared\n";
    let pa = sb.profile(
        "a",
        &[Proc::new("svca", &[]).credential("users", &user, file)],
    );
    let pb = sb.profile(
        "b",
        &[Proc::new("svcb", &[]).credential("users", &user, file)],
    );
    let switch = |link: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_nixproc-sysvinit-switch"))
            .arg("-p")
            .arg(sb.path().join("profiles").join(link))
            .arg("--state-dir")
            .arg(sb.state())
            .args(["--runlevel", "3"])
            .args(args)
            .output()
            .unwrap()
    };
    ok(&switch("a", &[pa.to_str().unwrap()]));
    assert!(exists("passwd", &user));
    ok(&switch("b", &[pb.to_str().unwrap()]));
    ok(&switch("a", &["--undeploy"]));
    assert!(
        exists("passwd", &user),
        "removed while profile b still uses it"
    );
    assert!(sb.pid("svcb").is_some());
    ok(&switch("b", &["--undeploy"]));
    assert!(
        !exists("passwd", &user),
        "not removed when the last profile dropped it"
    );
    assert!(sb.leftovers().is_empty());
}
