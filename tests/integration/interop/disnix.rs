//! Disnix end to end: upstream's webapps-sysvinit Disnix models
//! (tests/fixtures/disnix) deployed by the real `disnix-env` to two hosts of
//! `scripts/test-hosts`, over `disnix-ssh-client`, with `disnix-client` talking to a
//! `disnix-service` on each host's own D-Bus system bus; upgrade, rollback, undeploy; and
//! the bad cases (a type Dysnomia lacks, a host without Disnix, a start failing on one
//! host).
//!
//! Each host gets, besides what `test-hosts` gives it: the tools (a copy of their
//! prefix where the host sees it), on its SSH sessions' `PATH`; the SFTP subsystem (`scp`
//! of the closures); a route to the other hosts through the controller; a system bus
//! with Disnix's D-Bus policy and a `disnix-service` whose children see `BIND=0.0.0.0`
//! (the example web server then listens on the host's own address, for the nginx of the
//! other host) and keep Dysnomia's state in the host's private `/var/lib`.
//!
//! The accounts upstream's models declare (`webapp`, `webapp2`, `nginx`) are made in each
//! host's own `/etc`, so they never meet the accounts of same name that other tests make
//! on this machine at the same time; each host's own id range keeps their uids apart
//! too. Dropping the hosts kills every process left in them, pass or fail.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use super::{nix_env, serial, tools};
use crate::common::{self, assert_succeeded};

/// The directories a test host has of its own (`test-hosts` bind-mounts them), as the
/// host sees them and as they are named under the host's directory.
const PRIVATE: &[(&str, &str)] = &[
    ("/var/cache", "cache"),
    ("/var/lib", "lib"),
    ("/var/log", "log"),
    ("/var/spool", "spool"),
    ("/root", "root"),
    ("/tmp", "tmp"),
    ("/run", "run"),
    ("/etc", "etc"),
];

/// Test hosts under a temporary directory, every process killed on drop.
pub(crate) struct Hosts {
    dir: tempfile::TempDir,
    prefix: PathBuf,
}

impl Hosts {
    /// Hosts `names` with Disnix (see the module documentation); `bare` hosts without.
    pub(crate) fn up(prefix: &Path, names: &[&str], bare: &[&str]) -> Hosts {
        let dir = tempfile::Builder::new()
            .prefix("nxdisnix")
            .tempdir()
            .unwrap();
        let hosts = Hosts {
            dir,
            prefix: prefix.to_path_buf(),
        };
        let all: Vec<&str> = names.iter().chain(bare).copied().collect();
        hosts.call("up", &all);
        hosts.call("ctl", &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        for (i, name) in all.iter().enumerate() {
            hosts.prepare(name, i + 1, names.contains(name));
        }
        hosts
    }

    /// `test-hosts COMMAND DIR ARGS...`, which must succeed; its output.
    pub(crate) fn call(&self, command: &str, args: &[&str]) -> String {
        common::test_hosts_call(self.dir.path(), command, args)
    }

    /// Runs `args` inside host `name`.
    pub(crate) fn on(&self, name: &str, args: &[&str]) -> Output {
        common::test_hosts_on(self.dir.path(), name, args)
    }

    /// Host `name` (the `index`th): a route to the others, SFTP, and with `disnix` the
    /// tools, the bus and the service.
    fn prepare(&self, name: &str, index: usize, disnix: bool) {
        let root = self.dir.path().join(name);
        // Hosts share this machine's PIDs, and `userdel` refuses a user while any
        // process of its uid runs: each host makes its accounts with ids of its own.
        let defs = root.join("etc/login.defs");
        let base = 61000 + 400 * index as u32;
        let text: String = fs::read_to_string(&defs)
            .unwrap()
            .lines()
            .filter(|l| !l.contains("ID_MIN") && !l.contains("ID_MAX"))
            .map(|l| format!("{l}\n"))
            .collect();
        let ranges = format!(
            "UID_MIN {u}\nUID_MAX {umax}\nGID_MIN {u}\nGID_MAX {umax}\nSYS_UID_MIN {base}\nSYS_UID_MAX {smax}\nSYS_GID_MIN {base}\nSYS_GID_MAX {smax}\n",
            u = base + 200,
            umax = base + 399,
            smax = base + 199
        );
        fs::write(&defs, text + &ranges).unwrap();
        let mut config = String::from("Subsystem sftp /usr/lib/openssh/sftp-server\n");
        let route = format!("10.77.{index}.1");
        assert_succeeded(&self.on(name, &["ip", "route", "add", "10.77.0.0/16", "via", &route]));
        if disnix {
            // The prefix where the host sees it: copied into the host's own directory
            // when it is below one of them.
            if let Some((seen, own)) = PRIVATE.iter().find(|(p, _)| self.prefix.starts_with(p)) {
                let rest = self.prefix.strip_prefix(seen).unwrap();
                let copy = root.join(own).join(rest);
                fs::create_dir_all(copy.parent().unwrap()).unwrap();
                common::run_ok(
                    Command::new("cp").arg("-a").arg(&self.prefix).arg(&copy),
                    "copy the tools",
                );
            }
            config.push_str(&format!("SetEnv PATH={}\n", self.path()));
            let policy = root.join("etc/dbus-1/system.d");
            fs::create_dir_all(&policy).unwrap();
            fs::copy(
                self.prefix.join("share/dbus-1/system.d/disnix.conf"),
                policy.join("disnix.conf"),
            )
            .unwrap();
        }
        let sshd = root.join("etc/ssh/sshd_config");
        let text = fs::read_to_string(&sshd).unwrap() + &config;
        fs::write(&sshd, text).unwrap();
        self.call("stop-sshd", &[name]);
        self.call("start-sshd", &[name]);
        if disnix {
            assert_succeeded(&self.on(
                name,
                &[
                    "sh",
                    "-c",
                    "mkdir -p /run/dbus && exec dbus-daemon --system --fork",
                ],
            ));
            assert_succeeded(&self.on(
                name,
                &[
                    "env",
                    &format!("PATH={}", self.path()),
                    "BIND=0.0.0.0",
                    "DYSNOMIA_STATEDIR=/var/lib/dysnomia",
                    "disnix-service",
                    "--daemon",
                ],
            ));
        }
    }

    /// `PATH` of a host with Disnix.
    fn path(&self) -> String {
        format!(
            "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            self.prefix.join("bin").display()
        )
    }

    /// The infrastructure model of hosts `names` (their test-host addresses).
    pub(crate) fn infrastructure(&self, names: &[&str]) -> PathBuf {
        let mut text = String::from("{\n");
        for name in names {
            let address = self.call("address", &[name]);
            text.push_str(&format!(
                "  {name} = {{ properties.hostname = \"{address}\"; containers.sysvinit-script.runlevel = 3; }};\n"
            ));
        }
        text.push_str("}\n");
        let path = self.dir.path().join("infrastructure.nix");
        fs::write(&path, text).unwrap();
        path
    }

    /// `disnix-env ARGS` from the controller's network namespace, over SSH.
    pub(crate) fn disnix_env(&self, args: &[&str]) -> Output {
        let fixtures = common::repo_root().join("tests/fixtures/disnix");
        let mut cmd = common::test_hosts_script();
        cmd.arg("ctl")
            .arg(self.dir.path())
            .arg(self.prefix.join("bin/disnix-env"))
            .args(args)
            .arg("--coordinator-profile-path")
            .arg(self.dir.path().join("coordinator"));
        nix_env(&mut cmd)
            .env("PATH", super::tool_path(&self.prefix))
            .env(
                "NIX_PATH",
                format!("nixpkgs={}", fixtures.join("nixpkgs.nix").display()),
            )
            .env("DISNIX_CLIENT_INTERFACE", "disnix-ssh-client")
            .env("DISNIX_REMOTE_CLIENT", "disnix-client")
            .env("SSH_USER", "root")
            .env("SSH_OPTS", self.call("sshopts", &[]));
        cmd.output().unwrap()
    }

    /// The programs the host's processes run (their `comm`), but the host's own
    /// (sshd, the bus, Disnix's service, test-hosts' anchor).
    pub(crate) fn services(&self, name: &str) -> Vec<String> {
        self.call("pids", &[name])
            .split_whitespace()
            .filter_map(|pid| fs::read_to_string(format!("/proc/{pid}/comm")).ok())
            .map(|comm| comm.trim().to_string())
            .filter(|c| !["sshd", "dbus-daemon", "disnix-service", "sleep"].contains(&c.as_str()))
            .collect()
    }

    /// Whether the host has account `name` (passwd or group `db`).
    pub(crate) fn has_account(&self, host: &str, db: &str, name: &str) -> bool {
        self.on(host, &["getent", db, name]).status.success()
    }

    /// A request for `Host: NAME` through the nginx of `host` (port 8080).
    pub(crate) fn request(&self, host: &str, name: &str) -> String {
        let address = self.call("address", &[host]);
        let out = common::test_hosts_script()
            .arg("ctl")
            .arg(self.dir.path())
            .args(["curl", "-fsS", "-m", "5", "-H"])
            .arg(format!("Host: {name}"))
            .arg(format!("http://{address}:8080/"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The PID of the process `comm` on `host`, if one runs.
    pub(crate) fn pid(&self, host: &str, comm: &str) -> Option<String> {
        self.call("pids", &[host])
            .split_whitespace()
            .find(|pid| {
                fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
            })
            .map(str::to_string)
    }

    /// A file in the hosts' directory.
    pub(crate) fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        let _ = common::test_hosts_script()
            .arg("down")
            .arg(self.dir.path())
            .status();
    }
}

fn fixture(name: &str) -> String {
    common::repo_root()
        .join("tests/fixtures/disnix")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

const EXTRA: &str = "{ forceDisableUserChange = false; }";

/// `disnix-env` with services and distribution models `services` and `distribution`.
fn deploy(hosts: &Hosts, infra: &Path, services: &str, distribution: &str) -> Output {
    hosts.disnix_env(&[
        "-s",
        services,
        "-i",
        infra.to_str().unwrap(),
        "-d",
        distribution,
        "--extra-params",
        EXTRA,
    ])
}

/// Nothing of a deployment is left on the hosts: no service runs, no account.
fn assert_clean(hosts: &Hosts) {
    for host in ["test1", "test2"] {
        assert_eq!(
            hosts.services(host),
            Vec::<String>::new(),
            "{host} runs nothing"
        );
        for user in ["webapp", "webapp2", "nginx"] {
            assert!(
                !hosts.has_account(host, "passwd", user),
                "{host} has no user {user}"
            );
            assert!(
                !hosts.has_account(host, "group", user),
                "{host} has no group {user}"
            );
        }
    }
}

#[test]
fn upstreams_models_deploy_upgrade_roll_back_and_undeploy_across_two_hosts() {
    let Some(prefix) =
        tools("upstreams_models_deploy_upgrade_roll_back_and_undeploy_across_two_hosts")
    else {
        return;
    };
    let _serial = serial();
    let hosts = Hosts::up(&prefix, &["test1", "test2"], &[]);
    let infra = hosts.infrastructure(&["test1", "test2"]);

    let started = Instant::now();
    let out = deploy(
        &hosts,
        &infra,
        &fixture("services.nix"),
        &fixture("distribution.nix"),
    );
    let cold = started.elapsed();
    assert_succeeded(&out);
    assert_eq!(hosts.services("test1"), ["webapp"]);
    assert!(hosts.services("test2").iter().all(|c| c == "nginx"));
    assert!(hosts
        .request("test2", "webapp.local")
        .contains("instance=webapp-5000"));
    assert!(hosts.has_account("test1", "passwd", "webapp"));
    assert!(hosts.has_account("test2", "passwd", "nginx"));
    assert!(!hosts.has_account("test2", "passwd", "webapp"));
    let webapp = hosts.pid("test1", "webapp").expect("webapp runs");

    // The same again: nothing to do.
    let started = Instant::now();
    assert_succeeded(&deploy(
        &hosts,
        &infra,
        &fixture("services.nix"),
        &fixture("distribution.nix"),
    ));
    let warm = started.elapsed();
    println!("interop: disnix-env to two hosts: cold {cold:.1?}, warm {warm:.1?}");
    assert_eq!(hosts.pid("test1", "webapp").as_ref(), Some(&webapp));

    // Upgrade: webapp2 starts beside webapp (which keeps running); nginx serves both.
    let out = assert_succeeded(&deploy(
        &hosts,
        &infra,
        &fixture("services-upgrade.nix"),
        &fixture("distribution-upgrade.nix"),
    ));
    assert_eq!(
        hosts.pid("test1", "webapp").as_ref(),
        Some(&webapp),
        "{out}"
    );
    let mut on1 = hosts.services("test1");
    on1.sort();
    assert_eq!(on1, ["webapp", "webapp"], "webapp and webapp2");
    assert!(hosts.has_account("test1", "passwd", "webapp2"));
    assert!(hosts
        .request("test2", "webapp2.local")
        .contains("instance=webapp-5001"));
    assert!(hosts
        .request("test2", "webapp.local")
        .contains("instance=webapp-5000"));

    // Rollback: webapp2 and its account go.
    assert_succeeded(&hosts.disnix_env(&["--rollback"]));
    assert_eq!(hosts.services("test1"), ["webapp"]);
    assert_eq!(hosts.pid("test1", "webapp").as_ref(), Some(&webapp));
    assert!(!hosts.has_account("test1", "passwd", "webapp2"));
    assert!(!hosts.has_account("test1", "group", "webapp2"));
    assert!(hosts
        .request("test2", "webapp.local")
        .contains("instance=webapp-5000"));

    // Undeploy: nothing left.
    let out = hosts.disnix_env(&["--undeploy", "-i", infra.to_str().unwrap()]);
    assert_succeeded(&out);
    assert_clean(&hosts);
}

#[test]
fn bad_input_names_the_service_and_the_host_and_leaves_the_hosts_unchanged() {
    let Some(prefix) =
        tools("bad_input_names_the_service_and_the_host_and_leaves_the_hosts_unchanged")
    else {
        return;
    };
    let _serial = serial();
    let hosts = Hosts::up(&prefix, &["test1", "test2"], &["test3"]);
    let infra = hosts.infrastructure(&["test1", "test2"]);

    // A type Dysnomia does not have.
    let services = hosts.write(
        "services-bad-type.nix",
        &format!(
            "args: let s = import {} args; in s // {{ webapp = s.webapp // {{ type = \"no-such-type\"; }}; }}\n",
            fixture("services.nix")
        ),
    );
    let out = deploy(
        &hosts,
        &infra,
        services.to_str().unwrap(),
        &fixture("distribution.nix"),
    );
    let text = common::assert_failed(&out);
    assert!(
        text.contains("[target: test1]") && text.contains("no-such-type"),
        "{text}"
    );
    assert!(
        text.contains("-webapp"),
        "names the service's package: {text}"
    );
    assert_clean(&hosts);

    // A host without Disnix.
    let infra3 = hosts.infrastructure(&["test1", "test3"]);
    let distribution = hosts.write(
        "distribution-test3.nix",
        "{ infrastructure }: { webapp = [ infrastructure.test1 ]; nginxReverseProxy = [ infrastructure.test3 ]; }\n",
    );
    let out = deploy(
        &hosts,
        &infra3,
        &fixture("services.nix"),
        distribution.to_str().unwrap(),
    );
    let text = common::assert_failed(&out);
    assert!(text.contains("[target: test3]"), "{text}");
    assert!(
        text.contains("disnix-client") || text.contains("not found"),
        "{text}"
    );
    assert_clean(&hosts);
    assert!(hosts.services("test3").is_empty());

    // A start failing on one host: nginx's port is taken on test2. Disnix deactivates
    // what it activated on test1 again.
    let infra = hosts.infrastructure(&["test1", "test2"]);
    let blocker = common::test_hosts_script()
        .arg("on")
        .arg(hosts.dir.path())
        .arg("test2")
        .args(["python3", "-c", "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 8080)); s.listen(); time.sleep(600)"])
        .spawn()
        .unwrap();
    let mut blocker = KillOnDrop(blocker);
    assert!(common::wait_until(
        std::time::Duration::from_secs(10),
        || {
            hosts
                .services("test2")
                .iter()
                .any(|c| c.starts_with("python"))
        }
    ));
    let out = deploy(
        &hosts,
        &infra,
        &fixture("services.nix"),
        &fixture("distribution.nix"),
    );
    let text = common::assert_failed(&out);
    assert!(
        text.contains("[target: test2]") && text.contains("-nginx"),
        "{text}"
    );
    let _ = blocker.0.kill();
    let _ = blocker.0.wait();
    assert!(common::wait_until(
        std::time::Duration::from_secs(10),
        || { hosts.services("test2").is_empty() }
    ));
    assert_clean(&hosts);
}

/// A child killed when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
