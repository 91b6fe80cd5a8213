//! Unprivileged deployment: a user other than root deploys, queries, upgrades, rolls back
//! and undeploys the example processes in its own state directory, through the Nix daemon
//! that `scripts/setup.sh` runs, without setting `NIX_REMOTE` and without touching
//! anything of root's.
//!
//! Everything the user runs is copied into a directory it can traverse (the checkout may
//! live somewhere only root can enter): the tools, the plugin, `nix/`, the example model
//! and the example web server.
//!
//! A binary of its own, not a module of `tests/integration`: it checks that root's
//! profiles and the machine's account registry are the same after the user's deployment
//! as before, which holds only while no other test deploys as root at the same time (the
//! tests of one binary run concurrently, binaries one after another).

// The integration tests' helpers, of which this test uses a few.
#[path = "integration/common/mod.rs"]
#[allow(dead_code, unused_imports)]
mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{http_get, port_closed, wait_http, TestDir, UserGuard};

const NIX_STATE: &str = "/nix/var/nix";

/// The tools, the plugin, `nix/`, the example and the web server, laid out as in the
/// repository, in `dir`.
struct Install {
    bin: PathBuf,
    repo: PathBuf,
    webapp: PathBuf,
}

fn install(dir: &TestDir) -> Install {
    let built = common::bin_dir();
    let bin = dir.mkdir("bin", 0o755);
    for tool in [
        "nixproc-sysvinit-switch",
        "nixproc-sysvinit-runactivity",
        "nixproc-sysvinit-render",
        "nixproc-sysvinit-supervise",
    ] {
        common::install_program(&built.join(tool), &bin, tool);
    }
    common::install_program(
        &common::plugin_path(),
        &bin,
        "libnixproc_sysvinit_plugin.so",
    );
    let webapp = common::install_program(&common::webapp_binary(), &bin, "webapp");
    let repo = dir.mkdir("repo", 0o755);
    // nix/ and examples/webapps/ at the same relative places (the model imports ../../nix).
    common::run_ok(
        Command::new("cp")
            .args(["-R", "--parents", "nix", "examples/webapps"])
            .arg(&repo)
            .current_dir(common::repo_root()),
        "copy nix/ and examples/webapps/",
    );
    common::run_ok(
        Command::new("chmod").args(["-R", "a+rX"]).arg(&repo),
        "chmod the copy",
    );
    Install { bin, repo, webapp }
}

/// Runs `program args` as `user` with a login-like environment: HOME, USER, a plain
/// PATH, and nothing of root's Nix settings (no `NIX_REMOTE`).
fn as_user(user: &UserGuard, home: &Path, inst: &Install, program: &str, args: &[&str]) -> Output {
    let gid = fs::metadata(home).expect("stat the home").gid();
    Command::new("setpriv")
        .arg(format!("--reuid={}", user.uid))
        .arg(format!("--regid={gid}"))
        .arg("--init-groups")
        .arg("--")
        .arg("env")
        .arg("-i")
        .arg(format!("HOME={}", home.display()))
        .arg(format!("USER={}", user.name))
        .arg(format!("LOGNAME={}", user.name))
        .arg("PATH=/usr/local/bin:/usr/bin:/bin")
        .arg(format!("NIXPROC_SYSVINIT_BIN={}", inst.bin.display()))
        .arg(format!("NIXPROC_SYSVINIT_WEBAPP={}", inst.webapp.display()))
        .arg(format!(
            "NIXPROC_NIX_DIR={}",
            inst.repo.join("nix").display()
        ))
        .arg(inst.bin.join(program))
        .args(args)
        .current_dir(home)
        .output()
        .unwrap_or_else(|e| panic!("run {program} as {}: {e}", user.name))
}

fn assert_ok(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// What root has that the user's deployment must leave alone: root's profile links and
/// their targets, and the machine's account registry.
fn roots_things() -> BTreeMap<String, String> {
    let mut seen = BTreeMap::new();
    let profiles = Path::new(NIX_STATE).join("profiles/nixproc-sysvinit");
    if let Ok(entries) = fs::read_dir(&profiles) {
        for e in entries.flatten() {
            let target = fs::read_link(e.path())
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            seen.insert(e.path().display().to_string(), target);
        }
    }
    let registry = Path::new("/var/lib/nixproc-sysvinit/accounts.json");
    seen.insert(
        registry.display().to_string(),
        fs::read_to_string(registry).unwrap_or_default(),
    );
    seen
}

/// Removes the per-user profile and GC-root directories the daemon made for the user.
struct PerUserDirs(String);

impl Drop for PerUserDirs {
    fn drop(&mut self) {
        for kind in ["profiles", "gcroots"] {
            let _ = fs::remove_dir_all(
                Path::new(NIX_STATE)
                    .join(kind)
                    .join("per-user")
                    .join(&self.0),
            );
        }
    }
}

#[test]
fn a_user_deploys_upgrades_rolls_back_and_undeploys_through_the_nix_daemon() {
    let socket = Path::new(NIX_STATE).join("daemon-socket/socket");
    assert!(
        socket.exists(),
        "no Nix daemon socket at {}: scripts/setup.sh runs the daemon",
        socket.display()
    );
    let dir = TestDir::new("nixproc-unpriv-");
    let inst = install(&dir);
    let home = dir.mkdir("home", 0o755);
    let user = UserGuard::create_with_home("nxpu", &home);
    let _per_user = PerUserDirs(user.name.clone());
    common::run_ok(
        Command::new("chown")
            .arg(format!("{}:", user.name))
            .arg(&home),
        "chown the home",
    );
    let before = roots_things();

    let nginx_port = common::free_port();
    let base = common::free_ports(4);
    let params = format!(r#"{{"nginxPort": {nginx_port}, "webappBasePort": {base}}}"#);
    let model = |file: &str| inst.repo.join("examples/webapps").join(file);
    let switch = |extra: &[&str]| {
        let mut args = vec![
            "--force-disable-user-change",
            "--runlevel",
            "3",
            "--extra-params",
            &params,
        ];
        args.extend_from_slice(extra);
        as_user(&user, &home, &inst, "nixproc-sysvinit-switch", &args)
    };
    // With user changes disabled the instance keeps its PID file in the run directory
    // itself; a process with a user has a directory of its own there.
    let webapp_running = |instance: &str| {
        let run = home.join("var/run");
        [
            run.join(format!("{instance}.pid")),
            run.join(instance).join(format!("{instance}.pid")),
        ]
        .iter()
        .filter_map(|f| common::read_pid(f))
        .any(|pid| common::pid_alive(pid) && common::uid_of(pid) == Some(user.uid))
    };

    // Deploy: through the daemon (the user cannot write the store), as the user.
    let first = model("processes.nix");
    assert_ok(&switch(&[first.to_str().unwrap()]), "the first deployment");
    let page = wait_http(nginx_port, Duration::from_secs(20)).expect("nginx answers");
    assert!(page.contains("instance=webapp"), "unexpected page: {page}");
    for pid in common::pids_with_cmdline(home.to_str().unwrap()) {
        assert_eq!(
            common::uid_of(pid),
            Some(user.uid),
            "process {pid} of the deployment does not run as the user"
        );
    }
    assert!(webapp_running("webapp1") && webapp_running("webapp2"));

    // Query.
    let out = as_user(
        &user,
        &home,
        &inst,
        "nixproc-sysvinit-runactivity",
        &["status"],
    );
    let status = assert_ok(&out, "runactivity status");
    for name in ["webapp1", "webapp2", "nginx"] {
        assert!(
            status.contains(&format!("{name} is running")),
            "status misses {name}:\n{status}"
        );
    }

    // The profile is the user's own, in its per-user directory the daemon made.
    let profiles = Path::new(NIX_STATE)
        .join("profiles/per-user")
        .join(&user.name)
        .join("nixproc-sysvinit");
    let link = profiles.join("processes");
    assert!(link.exists(), "no profile at {}", link.display());
    assert_eq!(fs::symlink_metadata(&profiles).unwrap().uid(), user.uid);

    // Upgrade: four instances.
    let upgrade = model("processes-upgrade.nix");
    assert_ok(&switch(&[upgrade.to_str().unwrap()]), "the upgrade");
    assert!(webapp_running("webapp3") && webapp_running("webapp4"));
    assert!(http_get(base + 3, "/").is_ok(), "webapp4 answers");

    // Roll back: two instances again.
    assert_ok(&switch(&["--rollback"]), "the rollback");
    assert!(!webapp_running("webapp3") && !webapp_running("webapp4"));
    assert!(webapp_running("webapp1"));
    assert!(
        http_get(nginx_port, "/").is_ok(),
        "nginx answers after the rollback"
    );

    // Undeploy: nothing of the deployment runs.
    assert_ok(&switch(&["--undeploy"]), "the undeployment");
    assert!(port_closed(nginx_port), "nginx still answers");
    assert!(!webapp_running("webapp1") && !webapp_running("webapp2"));

    assert_eq!(
        before,
        roots_things(),
        "the user's deployment changed root's things"
    );
}
