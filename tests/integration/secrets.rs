//! `secrets`: files read on the deploying machine and placed, with their owner and mode,
//! under the runtime directory before the process starts; never in the store, the logs,
//! a command line or the plan. A changed secret restarts its process, an unchanged one
//! does not; an undeploy removes them; a missing source fails the switch before anything
//! stops. (Secrets sent over SSH: `fleet::secrets_reach_a_host_over_ssh_and_nowhere_else`.)
//! Run as root.

use crate::common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

/// Writes an executable shell program.
fn program(path: &Path, body: &str) {
    fs::write(path, format!("#!/bin/bash\n{body}\n")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A marker unique to this run, for finding leaked copies of a secret.
fn marker(what: &str) -> String {
    format!(
        "nixproc-secret-{what}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// The paths under `dir` whose contents hold `needle` (`grep -rlF`).
fn files_holding(dir: &Path, needle: &str) -> Vec<String> {
    let out = Command::new("grep")
        .args(["-rlF", "--no-messages", needle])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Every command line of the machine (`ps -eo args`).
fn command_lines() -> String {
    String::from_utf8_lossy(
        &Command::new("ps")
            .args(["-eo", "args"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned()
}

/// The combined output of a run.
fn both(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A deployment whose process `keeper` runs as a user its credentials make, with two
/// secrets: `api-token` (a Nix path source, the defaults) and `db` (a string source,
/// mode 0440, the credentials' group, variable `DB_PASSWORD_FILE`). The process writes
/// what it read through both variables to `out/seen`.
struct KeeperDeployment {
    d: ModelDeployment,
    user: String,
    group: String,
    api_source: std::path::PathBuf,
    db_source: std::path::PathBuf,
    seen: std::path::PathBuf,
    processes: std::path::PathBuf,
}

impl KeeperDeployment {
    fn new(profile: &str, db_source: Option<&str>) -> KeeperDeployment {
        let d = ModelDeployment::new(profile, &[]);
        let dir = d.dir.path().to_path_buf();
        // The process's user walks to its program and writes to `out`.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let out = dir.join("out");
        fs::create_dir(&out).unwrap();
        fs::set_permissions(&out, fs::Permissions::from_mode(0o777)).unwrap();
        let keys = dir.join("keys");
        fs::create_dir(&keys).unwrap();
        fs::set_permissions(&keys, fs::Permissions::from_mode(0o700)).unwrap();
        let id = std::process::id() % 100_000;
        let user = format!("nxsec{id}");
        let group = format!("nxsecg{id}");
        let api_source = keys.join(format!("api-{id}"));
        let db_source = db_source
            .map(Into::into)
            .unwrap_or_else(|| keys.join(format!("db-{id}")));
        let seen = out.join("seen");
        let keeper = dir.join("keeper");
        program(
            &keeper,
            &format!(
                "{{ cat \"$SECRET_API_TOKEN\"; echo; cat \"$DB_PASSWORD_FILE\"; }} > {seen}.new && mv {seen}.new {seen}\necho started\nexec sleep 600",
                seen = seen.display()
            ),
        );
        let processes = write_model(
            &dir,
            &format!(
                r#"{{
  keeper.pkg = create {{
    name = "keeper";
    process = "{keeper}";
    processIsDaemon = false;
    runlevels = [ 3 ];
    user = "{user}";
    credentials = {{
      groups.{group} = {{ }};
      users.{user} = {{ group = "{group}"; }};
    }};
    secrets = {{
      api-token.source = ./keys/api-{id};
      db = {{ source = "{db}"; mode = "0440"; group = "{group}"; variable = "DB_PASSWORD_FILE"; }};
    }};
  }};
}}"#,
                keeper = keeper.display(),
                db = db_source.display()
            ),
        );
        KeeperDeployment {
            d,
            user,
            group,
            api_source,
            db_source,
            seen,
            processes,
        }
    }

    fn state(&self) -> std::path::PathBuf {
        self.d.dir.path().join("state")
    }

    fn secret(&self, name: &str) -> std::path::PathBuf {
        self.state()
            .join("run/nixproc-sysvinit-secrets/keeper")
            .join(name)
    }

    fn switch(&self, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.push(self.processes.to_str().unwrap());
        self.d.switch(&all)
    }

    /// Waits for `out/seen` to hold exactly `text`.
    fn wait_seen(&self, text: &str) -> bool {
        wait_until(Duration::from_secs(30), || {
            fs::read_to_string(&self.seen).is_ok_and(|t| t == text)
        })
    }
}

fn uid_of_user(name: &str) -> u32 {
    let out = Command::new("id").args(["-u", name]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn gid_of_group(name: &str) -> u32 {
    let out = Command::new("getent")
        .args(["group", name])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    line.split(':').nth(2).unwrap().trim().parse().unwrap()
}

#[test]
fn secrets_are_placed_with_owner_and_mode_and_never_copied_elsewhere() {
    assert!(is_root(), "this test deploys as root and makes accounts");
    let k = KeeperDeployment::new("secrets", None);
    let api = marker("api");
    let db = marker("db");
    fs::write(&k.api_source, &api).unwrap();
    fs::write(&k.db_source, &db).unwrap();

    // The plan names the secrets it places, never their contents.
    let plan = k.switch(&["--dry-run"]);
    let plan_text = assert_succeeded(&plan);
    assert!(!both(&plan).contains(&api) && !both(&plan).contains(&db));
    assert!(
        !k.secret("api-token").exists(),
        "a dry run places nothing: {plan_text}"
    );

    let first = k.switch(&[]);
    assert_succeeded(&first);
    assert!(
        k.wait_seen(&format!("{api}\n{db}")),
        "the process read both secrets"
    );
    let pid = k.d.pid("keeper").expect("keeper runs");

    // Owners, groups, modes, and the directories a user can only pass through.
    let uid = uid_of_user(&k.user);
    let gid = gid_of_group(&k.group);
    let api_meta = fs::metadata(k.secret("api-token")).unwrap();
    assert_eq!(
        (api_meta.uid(), api_meta.mode() & 0o7777),
        (uid, 0o400),
        "api-token: the process's user, mode 0400 by default"
    );
    let db_meta = fs::metadata(k.secret("db")).unwrap();
    assert_eq!(
        (db_meta.uid(), db_meta.gid(), db_meta.mode() & 0o7777),
        (uid, gid, 0o440)
    );
    assert_eq!(fs::read_to_string(k.secret("db")).unwrap(), db);
    let top = fs::symlink_metadata(k.state().join("run/nixproc-sysvinit-secrets")).unwrap();
    let own = fs::symlink_metadata(k.state().join("run/nixproc-sysvinit-secrets/keeper")).unwrap();
    assert_eq!(
        (
            top.uid(),
            top.mode() & 0o7777,
            own.uid(),
            own.mode() & 0o7777
        ),
        (0, 0o755, 0, 0o711),
        "root's directories, which nobody can list"
    );

    // Nowhere else: not in the store (as a file or a store path named like the source),
    // the logs, the state directory's other files, a command line or the output.
    for needle in [&api, &db] {
        assert_eq!(
            files_holding(Path::new("/nix/store"), needle),
            Vec::<String>::new()
        );
        assert_eq!(
            files_holding(&k.state().join("log"), needle),
            Vec::<String>::new()
        );
        let elsewhere: Vec<String> = files_holding(&k.state(), needle)
            .into_iter()
            .filter(|f| !f.contains("/run/nixproc-sysvinit-secrets/keeper/"))
            .collect();
        assert_eq!(elsewhere, Vec::<String>::new());
        assert!(!command_lines().contains(needle.as_str()));
        assert!(!both(&first).contains(needle.as_str()));
    }
    let api_name = k
        .api_source
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let in_store: Vec<String> = fs::read_dir("/nix/store")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(&api_name))
        .collect();
    assert_eq!(
        in_store,
        Vec::<String>::new(),
        "the Nix path source was not copied"
    );

    // Unchanged: the process keeps running.
    assert_succeeded(&k.switch(&[]));
    assert_eq!(
        k.d.pid("keeper"),
        Some(pid),
        "an unchanged secret restarts nothing"
    );

    // Changed: the process restarts and reads the new contents.
    let api2 = marker("api2");
    fs::write(&k.api_source, &api2).unwrap();
    let plan = k.switch(&["--dry-run"]);
    assert_succeeded(&plan);
    assert!(!both(&plan).contains(&api2));
    let changed = k.switch(&[]);
    assert_succeeded(&changed);
    assert!(
        k.wait_seen(&format!("{api2}\n{db}")),
        "the restarted process read the new secret"
    );
    let restarted = k.d.pid("keeper").expect("keeper runs again");
    assert_ne!(restarted, pid, "a changed secret restarts its process");
    assert!(!both(&changed).contains(&api2));
    assert_eq!(fs::read_to_string(k.secret("api-token")).unwrap(), api2);

    // Undeployed: the files and the process's directory are gone.
    assert_succeeded(&k.d.switch(&["--undeploy"]));
    assert!(!k.secret("api-token").exists() && !k.secret("db").exists());
    assert!(!k
        .state()
        .join("run/nixproc-sysvinit-secrets/keeper")
        .exists());
}

#[test]
fn a_missing_source_fails_the_switch_before_anything_stops() {
    assert!(is_root(), "this test deploys as root and makes accounts");
    let k = KeeperDeployment::new("secrets-missing", None);
    let api = marker("api");
    fs::write(&k.api_source, &api).unwrap();
    fs::write(&k.db_source, "first").unwrap();
    assert_succeeded(&k.switch(&[]));
    assert!(k.wait_seen(&format!("{api}\nfirst")));
    let pid = k.d.pid("keeper").expect("keeper runs");
    let profile = fs::read_link(k.d.profile_link()).unwrap();

    // The source of `db` disappears, and the model changes (so the process would
    // restart): the switch stops at reading the sources.
    fs::remove_file(&k.db_source).unwrap();
    fs::write(&k.api_source, marker("api-changed")).unwrap();
    let failed = k.switch(&[]);
    let text = assert_failed(&failed);
    assert_contains(
        &text,
        &format!(
            "process 'keeper': secret 'db': cannot read its source {}",
            k.db_source.display()
        ),
    );
    assert_eq!(
        k.d.pid("keeper"),
        Some(pid),
        "the running process was not stopped"
    );
    assert_eq!(fs::read_link(k.d.profile_link()).unwrap(), profile);
    assert_eq!(
        fs::read_to_string(k.secret("api-token")).unwrap(),
        api,
        "nothing was placed"
    );

    // A directory is not a source either.
    fs::create_dir(&k.db_source).unwrap();
    let text = assert_failed(&k.switch(&[]));
    assert_contains(&text, "secret 'db': cannot read its source");
    assert_eq!(k.d.pid("keeper"), Some(pid));
}
