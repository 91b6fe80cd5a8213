//! Deployments to other machines, against real test hosts: each is a network namespace
//! with its own Nix store, its own /etc and its own OpenSSH sshd (made by
//! `scripts/test-hosts`); the switch runs in the controller's namespace, copies closures
//! with `nix-copy-closure` and switches each host over SSH. Only addresses inside the
//! namespaces these tests make are contacted.

use std::fs;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{assert_succeeded, wait_until};
use serde_json::Value;

const SWITCH: &str = env!("CARGO_BIN_EXE_nixproc-sysvinit-switch");
const RUNACTIVITY: &str = env!("CARGO_BIN_EXE_nixproc-sysvinit-runactivity");

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn fixture_model() -> PathBuf {
    repo().join("tests/fixtures/fleet/processes.nix")
}

/// Test hosts under a temporary directory, removed (every process killed) on drop.
pub(crate) struct TestHosts {
    pub(crate) dir: tempfile::TempDir,
}

impl TestHosts {
    pub(crate) fn up(names: &[&str]) -> TestHosts {
        let dir = tempfile::Builder::new()
            .prefix("nxfleet")
            .tempdir()
            .expect("temp dir");
        let hosts = TestHosts { dir };
        hosts.add(names);
        hosts
    }

    pub(crate) fn script(&self) -> Command {
        crate::common::test_hosts_script()
    }

    /// `test-hosts COMMAND DIR ARGS...`, which must succeed.
    pub(crate) fn call(&self, command: &str, args: &[&str]) -> String {
        crate::common::test_hosts_call(self.dir.path(), command, args)
    }

    pub(crate) fn add(&self, args: &[&str]) {
        self.call("up", args);
    }

    pub(crate) fn target(&self, name: &str) -> String {
        format!("root@{}", self.call("address", &[name]))
    }

    /// A command run in the controller's network namespace, with NIX_SSHOPTS set for
    /// the hosts.
    pub(crate) fn ctl(&self, program: &str) -> Command {
        let mut cmd = self.script();
        cmd.arg("ctl")
            .arg(self.dir.path())
            .arg(program)
            .env("NIX_SSHOPTS", self.call("sshopts", &[]))
            .env_remove("NIXPROC_PROFILE");
        cmd
    }

    /// Runs `args` inside host `name`.
    pub(crate) fn on(&self, name: &str, args: &[&str]) -> Output {
        crate::common::test_hosts_on(self.dir.path(), name, args)
    }

    /// The names of the host's processes (their `comm`).
    pub(crate) fn processes(&self, name: &str) -> Vec<String> {
        self.call("pids", &[name])
            .split_whitespace()
            .filter_map(|pid| fs::read_to_string(format!("/proc/{pid}/comm")).ok())
            .map(|comm| comm.trim().to_string())
            .collect()
    }

    /// The programs the host's processes run: the file names of their `argv[0]`.
    pub(crate) fn programs(&self, name: &str) -> Vec<String> {
        self.call("pids", &[name])
            .split_whitespace()
            .filter_map(|pid| fs::read(format!("/proc/{pid}/cmdline")).ok())
            .filter_map(|raw| {
                let argv0 = raw.split(|b| *b == 0).next()?;
                let text = String::from_utf8_lossy(argv0);
                Some(text.rsplit('/').next().unwrap_or_default().to_string())
            })
            .collect()
    }

    /// Writes a fleet file: each host's name, its target and its `extraParams` (Nix).
    pub(crate) fn fleet_file(
        &self,
        file: &str,
        hosts: &[(&str, impl AsRef<str>, &str)],
    ) -> PathBuf {
        let mut text = String::from("{\n");
        for (name, target, extra) in hosts {
            text.push_str(&format!(
                "  {name} = {{ targetHost = \"{}\"; processes = {}; extraParams = {extra}; }};\n",
                target.as_ref(),
                fixture_model().display()
            ));
        }
        text.push_str("}\n");
        let path = self.dir.path().join(file);
        fs::write(&path, text).expect("write the fleet file");
        path
    }

    /// `curl` of the host's nginx from the controller.
    pub(crate) fn request(&self, name: &str) -> String {
        let out = self
            .ctl("curl")
            .args(["-fsS", "-m", "5"])
            .arg(format!("http://{}:8080/", self.call("address", &[name])))
            .output()
            .expect("run curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The switch with `args`, started in the controller's namespace (its output piped).
    fn spawn_switch(&self, args: &[&str]) -> std::process::Child {
        self.ctl(SWITCH)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the switch")
    }

    /// Whether a switch runs on host `name` (found by its program: its `comm` is cut to
    /// the 15 letters it shares with the services' supervisors).
    fn switch_runs_on(&self, name: &str) -> bool {
        self.programs(name)
            .iter()
            .any(|p| p == "nixproc-sysvinit-switch")
    }

    /// Whether the host has a deployment (its profile link exists).
    pub(crate) fn has_profile(&self, name: &str) -> bool {
        self.on(
            name,
            &[
                "test",
                "-e",
                "/nix/var/nix/profiles/nixproc-sysvinit/processes",
            ],
        )
        .status
        .success()
    }
}

impl Drop for TestHosts {
    fn drop(&mut self) {
        let _ = self
            .script()
            .arg("down")
            .arg(self.dir.path())
            .stderr(Stdio::null())
            .status();
    }
}

/// Waits (at most two minutes) for `child` to end, killing it when it does not; whether
/// it ended by itself, and its output.
fn end_of(mut child: std::process::Child) -> (bool, Output) {
    let ended = wait_until(Duration::from_secs(120), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !ended {
        let _ = child.kill();
    }
    (
        ended,
        child.wait_with_output().expect("the switch's output"),
    )
}

/// The fleet summary (the last line of the switch's `--json` output).
pub(crate) fn summary(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    serde_json::from_str(last).unwrap_or_else(|e| {
        panic!(
            "no fleet summary ({e}); stdout:\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The summary's entry for `host`.
pub(crate) fn host<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["hosts"]
        .as_array()
        .and_then(|hosts| hosts.iter().find(|h| h["host"] == name))
        .unwrap_or_else(|| panic!("no host {name} in {summary}"))
}

/// (stopped, started, restarted, unchanged) of `host`.
pub(crate) fn changes(summary: &Value, name: &str) -> (u64, u64, u64, u64) {
    let h = host(summary, name);
    assert_eq!(h["ok"], true, "{name} failed: {h}");
    let n = |key: &str| h[key].as_u64().unwrap_or_else(|| panic!("{key} of {h}"));
    (n("stopped"), n("started"), n("restarted"), n("unchanged"))
}

pub(crate) fn switch(hosts: &TestHosts, args: &[&str]) -> Output {
    hosts
        .ctl(SWITCH)
        .args(args)
        .output()
        .expect("run the switch")
}

#[test]
fn a_fleet_is_deployed_changed_and_rolled_back() {
    let hosts = TestHosts::up(&["web1", "web2", "web3"]);
    let names = ["web1", "web2", "web3"];
    // Every host with the same extraParams.
    let fleet_file = |file: &str, extra: &str| {
        let entries: Vec<_> = names.iter().map(|n| (*n, hosts.target(n), extra)).collect();
        hosts.fleet_file(file, &entries)
    };
    let file = fleet_file("hosts.nix", "{ }");
    let file = file.to_str().unwrap();

    let started = Instant::now();
    let out = switch(&hosts, &["--hosts", file, "--json", "--max-hosts", "3"]);
    let cold = started.elapsed();
    assert_succeeded(&out);
    let first = summary(&out);
    for name in names {
        assert_eq!(changes(&first, name), (0, 3, 0, 0), "{first}");
        assert!(
            hosts.request(name).contains("instance=webapp"),
            "{name}'s nginx"
        );
    }
    // Progress came back as JSON events, each marked with its host.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("\"event\":\"finished\"") && l.contains("\"host\":\"web2\"")),
        "{stdout}"
    );

    // Nothing changed: nothing restarts; only the copy and the plan run.
    let started = Instant::now();
    let again = summary(&switch(&hosts, &["--hosts", file, "--json"]));
    let warm = started.elapsed();
    for name in names {
        assert_eq!(changes(&again, name), (0, 0, 0, 3), "{again}");
    }

    // A third instance: it starts, nginx (its configuration changed) restarts, the
    // other two stay.
    let changed = fleet_file("hosts-3.nix", "{ webappInstances = 3; }");
    let out = switch(&hosts, &["--hosts", changed.to_str().unwrap(), "--json"]);
    let third = summary(&out);
    for name in names {
        assert_eq!(changes(&third, name), (0, 1, 1, 2), "{third}");
    }

    // Back to the first generation everywhere.
    let back = summary(&switch(&hosts, &["--hosts", file, "--rollback", "--json"]));
    for name in names {
        assert_eq!(changes(&back, name), (1, 0, 1, 2), "{back}");
        assert!(hosts.request(name).contains("instance=webapp"));
    }
    let listing = switch(&hosts, &["--hosts", file, "--list-generations"]);
    assert!(listing.status.success());
    let listing = String::from_utf8_lossy(&listing.stdout);
    for name in names {
        let current: Vec<&str> = listing
            .lines()
            .filter(|l| l.starts_with(&format!("{name}: ")) && l.contains("(current)"))
            .collect();
        assert_eq!(current.len(), 1, "{listing}");
        assert!(
            current[0]
                .trim_start_matches(&format!("{name}: "))
                .trim_start()
                .starts_with('1'),
            "{listing}"
        );
    }
    let status = hosts
        .ctl(RUNACTIVITY)
        .args(["--hosts", file, "status", "--json"])
        .output()
        .expect("run runactivity");
    assert_succeeded(&status);
    let status = summary(&status);
    for name in names {
        let output = &host(&status, name)["output"];
        let running = output.as_array().map_or(0, |a| a.len());
        assert_eq!(running, 3, "{name}: {output}");
    }
    eprintln!("fleet of 3: cold deploy {cold:.2?}, warm redeploy {warm:.2?}");
}

#[test]
fn a_host_cut_off_mid_switch_is_reported_and_a_rerun_converges() {
    let hosts = TestHosts::up(&["a1", "a2", "a3"]);
    let (t1, t2, t3) = (hosts.target("a1"), hosts.target("a2"), hosts.target("a3"));
    let file = hosts.fleet_file(
        "hosts.nix",
        &[
            ("a1", &t1, "{ }"),
            ("a2", &t2, "{ gate = true; }"),
            ("a3", &t3, "{ }"),
        ],
    );
    let file = file.to_str().unwrap();
    let deploy = hosts.spawn_switch(&["--hosts", file, "--json"]);
    // a2's switch holds in the start of `gated`; cut its SSH connections there.
    assert!(
        wait_until(Duration::from_secs(120), || hosts.switch_runs_on("a2")),
        "a2's switch never started"
    );
    hosts.call("cut", &["a2"]);
    let (ended, out) = end_of(deploy);
    assert!(ended, "the fleet switch did not end after the cut");
    assert!(!out.status.success(), "a cut host must fail the fleet");
    let cut = summary(&out);
    assert_eq!(changes(&cut, "a1"), (0, 3, 0, 0));
    assert_eq!(changes(&cut, "a3"), (0, 3, 0, 0));
    let a2 = host(&cut, "a2");
    assert_eq!(a2["ok"], false);
    let error = a2["error"].as_str().unwrap_or("");
    assert!(
        error.contains(&t2)
            && error.contains("the SSH connection dropped during the")
            && error.contains("goes on on the host by itself")
            && error.contains("--list-generations"),
        "{a2}"
    );

    // The switch on a2 was not part of the connection: it finishes its transaction.
    fs::write(hosts.dir.path().join("a2/tmp/fleet-gate"), "").expect("open the gate");
    assert!(
        wait_until(Duration::from_secs(90), || !hosts.switch_runs_on("a2")),
        "a2's switch did not finish"
    );
    hosts.call("start-sshd", &["a2"]);
    let rerun = switch(&hosts, &["--hosts", file, "--json"]);
    assert_succeeded(&rerun);
    let rerun = summary(&rerun);
    assert_eq!(changes(&rerun, "a1"), (0, 0, 0, 3));
    assert_eq!(
        changes(&rerun, "a2"),
        (0, 0, 0, 4),
        "a2 converged by itself"
    );
    assert_eq!(changes(&rerun, "a3"), (0, 0, 0, 3));
}

/// A second run of one fleet file waits for the first (or fails at once with
/// `--no-wait`), so the hosts never end split between the two runs' versions.
#[test]
fn two_runs_of_one_fleet_take_turns() {
    let hosts = TestHosts::up(&["l1"]);
    let t1 = hosts.target("l1");
    let file = hosts.fleet_file("hosts.nix", &[("l1", &t1, "{ gate = true; }")]);
    let file = file.to_str().unwrap();
    let mut first = hosts.spawn_switch(&["--hosts", file]);
    let held = wait_until(Duration::from_secs(120), || hosts.switch_runs_on("l1"));
    assert!(held, "the first run never reached the host");
    let busy = switch(&hosts, &["--hosts", file, "--no-wait"]);
    let err = String::from_utf8_lossy(&busy.stderr);
    assert!(!busy.status.success(), "{err}");
    assert!(
        err.contains("fleet file") && err.contains("hosts.nix"),
        "{err}"
    );
    let mut second = hosts.spawn_switch(&["--hosts", file, "--json"]);
    let waiting = |child: &mut std::process::Child| {
        let err = child.stderr.take().expect("stderr");
        let mut lines = std::io::BufReader::new(err).lines();
        let first_line = lines.next().and_then(Result::ok).unwrap_or_default();
        child.stderr = None;
        first_line
    };
    let line = waiting(&mut second);
    assert!(
        line.contains("waiting for") && line.contains("its run of fleet"),
        "{line}"
    );
    assert!(
        matches!(second.try_wait(), Ok(None)),
        "the second run did not wait"
    );
    fs::write(hosts.dir.path().join("l1/tmp/fleet-gate"), "").expect("open the gate");
    let ended = wait_until(Duration::from_secs(120), || {
        matches!(first.try_wait(), Ok(Some(_))) && matches!(second.try_wait(), Ok(Some(_)))
    });
    if !ended {
        let _ = first.kill();
        let _ = second.kill();
    }
    assert!(ended, "the runs did not end");
    assert!(first.wait().expect("first").success());
    let out = second.wait_with_output().expect("second");
    assert_succeeded(&out);
    assert_eq!(
        changes(&summary(&out), "l1"),
        (0, 0, 0, 4),
        "the second run found the first one's deployment"
    );
}

/// `--rollback-on-failure`: one host's failed start sends the host that switched back
/// to its previous generation; the run fails and says where each host ended.
#[test]
fn a_failed_host_rolls_the_others_back_with_rollback_on_failure() {
    let hosts = TestHosts::up(&["r1", "r2"]);
    let (t1, t2) = (hosts.target("r1"), hosts.target("r2"));
    let v1 = hosts.fleet_file("v1.nix", &[("r1", &t1, "{ }"), ("r2", &t2, "{ }")]);
    assert_succeeded(&switch(&hosts, &["--hosts", v1.to_str().unwrap()]));
    let v2 = hosts.fleet_file(
        "v2.nix",
        &[
            ("r1", &t1, "{ webappInstances = 3; }"),
            ("r2", &t2, "{ failing = true; }"),
        ],
    );
    let out = switch(
        &hosts,
        &[
            "--hosts",
            v2.to_str().unwrap(),
            "--rollback-on-failure",
            "--json",
        ],
    );
    assert!(!out.status.success(), "a rolled-back fleet must fail");
    let report = summary(&out);
    let r1 = host(&report, "r1");
    assert_eq!(r1["ok"], true, "{r1}");
    assert_eq!(r1["ended"], "rolled back to generation 1", "{r1}");
    let r2 = host(&report, "r2");
    assert_eq!(r2["ok"], false, "{r2}");
    assert!(r2.get("ended").is_none(), "r2 undid its own switch: {r2}");
    let programs = hosts.programs("r1");
    let webapps = programs.iter().filter(|p| *p == "webapp").count();
    assert_eq!(
        webapps, 2,
        "r1 runs its first generation again: {programs:?}"
    );
    assert!(hosts.request("r1").contains("instance=webapp"));
    // Without the option the same fleet leaves r1 on its new deployment.
    let out = switch(&hosts, &["--hosts", v2.to_str().unwrap(), "--json"]);
    assert!(!out.status.success());
    assert_eq!(changes(&summary(&out), "r1"), (0, 1, 1, 2));
}

/// `--confirm-timeout`: a host whose health check does not pass in time rolls the whole
/// fleet back (a host that had nothing deployed is undeployed); once it passes, the same
/// run is confirmed.
#[test]
fn a_host_that_does_not_confirm_rolls_the_fleet_back() {
    let hosts = TestHosts::up(&["c1", "c2"]);
    let (t1, t2) = (hosts.target("c1"), hosts.target("c2"));
    let file = hosts.dir.path().join("hosts.nix");
    fs::write(
        &file,
        format!(
            "{{\n  c1 = {{ targetHost = \"{t1}\"; processes = {model}; }};\n  \
             c2 = {{ targetHost = \"{t2}\"; processes = {model};\n    \
             healthChecks = [ \"test -e /tmp/healthy\" \"true\" ]; }};\n}}\n",
            model = fixture_model().display()
        ),
    )
    .expect("write the fleet file");
    let file = file.to_str().unwrap();
    let out = switch(
        &hosts,
        &["--hosts", file, "--confirm-timeout", "2", "--json"],
    );
    assert!(!out.status.success(), "an unconfirmed fleet must fail");
    let report = summary(&out);
    let c2 = host(&report, "c2");
    let error = c2["error"].as_str().unwrap_or("");
    assert!(
        error.contains("not confirmed within 2 s") && error.contains("test -e /tmp/healthy"),
        "{c2}"
    );
    for name in ["c1", "c2"] {
        assert_eq!(
            host(&report, name)["ended"],
            "rolled back to nothing deployed",
            "{report}"
        );
        let left = hosts.programs(name);
        assert!(
            !left.iter().any(|p| p == "webapp" || p == "nginx"),
            "{name}: {left:?}"
        );
    }
    fs::write(hosts.dir.path().join("c2/tmp/healthy"), "").expect("make c2 healthy");
    let out = switch(
        &hosts,
        &["--hosts", file, "--confirm-timeout", "30", "--json"],
    );
    assert_succeeded(&out);
    let report = summary(&out);
    for name in ["c1", "c2"] {
        assert_eq!(changes(&report, name), (0, 3, 0, 0), "{report}");
        assert!(host(&report, name).get("ended").is_none());
    }
    assert!(hosts.request("c2").contains("instance=webapp"));
}

/// A host's link down for 4 s in the middle of its switch: the connection survives it
/// and the switch ends as if nothing happened.
#[test]
fn a_link_down_for_four_seconds_mid_switch_is_survived() {
    let hosts = TestHosts::up(&["v1"]);
    let t1 = hosts.target("v1");
    let file = hosts.fleet_file("hosts.nix", &[("v1", &t1, "{ gate = true; }")]);
    let deploy = hosts.spawn_switch(&["--hosts", file.to_str().unwrap(), "--json"]);
    let running = wait_until(Duration::from_secs(120), || hosts.switch_runs_on("v1"));
    assert!(running, "v1's switch never started");
    // The controller's end of v1's veth pair is h1 (v1 is the first host).
    let link = |state: &str| {
        let out = hosts
            .ctl("ip")
            .args(["link", "set", "h1", state])
            .output()
            .expect("run ip");
        assert_succeeded(&out);
    };
    link("down");
    std::thread::sleep(Duration::from_secs(4));
    link("up");
    fs::write(hosts.dir.path().join("v1/tmp/fleet-gate"), "").expect("open the gate");
    let (ended, out) = end_of(deploy);
    assert!(ended, "the switch did not end");
    assert_succeeded(&out);
    assert_eq!(changes(&summary(&out), "v1"), (0, 4, 0, 0));
    assert!(hosts.request("v1").contains("instance=webapp"));
}

/// A host whose log directory is full: its switch ends whole (what it reports is what
/// runs there), and once there is room again a re-run converges.
#[test]
fn a_full_log_directory_on_a_host_leaves_it_whole() {
    let hosts = TestHosts::up(&["f1"]);
    let t1 = hosts.target("f1");
    let file = hosts.fleet_file("hosts.nix", &[("f1", &t1, "{ }")]);
    let file = file.to_str().unwrap();
    let fill = [
        "sh",
        "-c",
        "mount -t tmpfs -o size=256k,mode=0755 nxh-full-log /var/log && \
         head -c 1048576 /dev/zero >/var/log/filler 2>/dev/null; df -k /var/log >/dev/null",
    ];
    assert_succeeded(&hosts.on("f1", &fill));
    let out = switch(&hosts, &["--hosts", file, "--json"]);
    let report = summary(&out);
    let f1 = host(&report, "f1");
    let webapps = || {
        hosts
            .programs("f1")
            .iter()
            .filter(|p| *p == "webapp")
            .count()
    };
    if out.status.success() {
        assert_eq!(changes(&report, "f1"), (0, 3, 0, 0), "{f1}");
        assert_eq!(webapps(), 2, "{f1}");
    } else {
        assert_eq!(f1["ok"], false, "{f1}");
        assert!(f1["error"].as_str().unwrap_or("").contains(&t1), "{f1}");
        assert_eq!(webapps(), 0, "a failed switch left processes: {f1}");
    }
    assert_succeeded(&hosts.on("f1", &["rm", "-f", "/var/log/filler"]));
    let again = switch(&hosts, &["--hosts", file, "--json"]);
    assert_succeeded(&again);
    let (_, started, restarted, unchanged) = changes(&summary(&again), "f1");
    assert_eq!(
        started + restarted + unchanged,
        3,
        "f1 runs the whole model"
    );
    assert_eq!(webapps(), 2);
    assert!(hosts.request("f1").contains("instance=webapp"));
}

#[test]
fn each_bad_host_is_reported_by_name_and_left_unchanged() {
    let hosts = TestHosts::up(&["good", "rekeyed", "typo", "fails"]);
    hosts.add(&["--no-nix", "nonix"]);
    hosts.add(&["--store-size", "1M", "full"]);
    hosts.call("rekey", &["rekeyed"]);
    let mut entries: Vec<(&str, String, &str)> =
        ["good", "rekeyed", "typo", "fails", "nonix", "full"]
            .iter()
            .map(|n| {
                let extra = match *n {
                    "typo" => "{ misspelt = true; }",
                    "fails" => "{ failing = true; }",
                    _ => "{ }",
                };
                (*n, hosts.target(n), extra)
            })
            .collect();
    // No host has this address: the controller has no route to it.
    entries.push(("gone", "root@10.77.250.2".into(), "{ }"));
    let file = hosts.fleet_file("hosts.nix", &entries);
    let out = switch(&hosts, &["--hosts", file.to_str().unwrap(), "--json"]);
    assert!(!out.status.success());
    let report = summary(&out);
    assert_eq!(changes(&report, "good"), (0, 3, 0, 0), "{report}");
    let expected = [
        ("rekeyed", "host key"),
        ("typo", "unknown attribute 'procss'"),
        ("fails", "rolled back"),
        ("nonix", "Nix is not installed"),
        ("full", "disk is full"),
        ("gone", "cannot be reached"),
    ];
    for (name, words) in expected {
        let h = host(&report, name);
        let error = h["error"].as_str().unwrap_or("");
        assert_eq!(h["ok"], false, "{h}");
        assert!(
            error.contains(words),
            "{name}: expected '{words}' in: {error}"
        );
    }
    let typo = host(&report, "typo")["error"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(typo.contains("did you mean 'process'"), "{typo}");
    for name in ["rekeyed", "typo", "fails", "nonix", "full"] {
        assert!(!hosts.has_profile(name), "{name} must have no deployment");
    }
    // The failed start was undone on its host: nothing of that model runs there.
    assert!(
        !hosts
            .processes("fails")
            .iter()
            .any(|c| c == "nginx" || c == "webapp"),
        "{:?}",
        hosts.processes("fails")
    );
    // The table says the same to a person.
    let table = switch(&hosts, &["--hosts", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&table.stderr);
    assert!(
        stderr.lines().any(|l| l.starts_with("gone ")
            && l.contains("FAILED: host root@10.77.250.2: cannot be reached")),
        "{stderr}"
    );
    assert!(stderr.contains("6 of 7 hosts failed"), "{stderr}");
}

#[test]
fn one_target_host_is_deployed_and_asked_for_status() {
    let hosts = TestHosts::up(&["solo"]);
    let target = hosts.target("solo");
    let out = hosts
        .ctl(SWITCH)
        .args(["--target-host", &target])
        .arg(fixture_model())
        .output()
        .expect("run the switch");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(&format!("{target}: start nginx"))),
        "progress is prefixed with the host: {stderr}"
    );
    assert!(hosts.request("solo").contains("instance=webapp"));
    assert!(hosts.processes("solo").iter().any(|c| c == "nginx"));

    let status = hosts
        .ctl(RUNACTIVITY)
        .args(["--target-host", &target, "status"])
        .output()
        .expect("run runactivity");
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert_succeeded(&status);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(&format!("{target}: ")) && l.contains("nginx")),
        "{stdout}"
    );

    // The logs on the host: the webapp's output and the request in nginx's own log, each
    // line prefixed with the host and the process.
    let logs = hosts
        .ctl(RUNACTIVITY)
        .args([
            "--target-host",
            &target,
            "logs",
            "-n",
            "1",
            "webapp1",
            "nginx",
        ])
        .output()
        .expect("run runactivity logs");
    let stdout = String::from_utf8_lossy(&logs.stdout);
    assert_succeeded(&logs);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(&format!("{target}: webapp1 | "))
                && l.contains("webapp webapp1 listening")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(&format!("{target}: nginx   | ")) && l.contains("GET / ")),
        "{stdout}"
    );
    let typo = hosts
        .ctl(RUNACTIVITY)
        .args(["--target-host", &target, "logs", "webap1"])
        .output()
        .expect("run runactivity logs");
    let stderr = String::from_utf8_lossy(&typo.stderr);
    assert!(!typo.status.success(), "{stderr}");
    assert!(stderr.contains("did you mean 'webapp1'?"), "{stderr}");
}

#[test]
fn a_build_host_builds_the_models() {
    let hosts = TestHosts::up(&["builder", "t1", "t2"]);
    let builder = hosts.target("builder");
    let (t1, t2) = (hosts.target("t1"), hosts.target("t2"));
    let file = hosts.fleet_file(
        "hosts.nix",
        &[("t1", &t1, "{ }"), ("t2", &t2, "{ webappInstances = 1; }")],
    );
    let out = switch(
        &hosts,
        &[
            "--hosts",
            file.to_str().unwrap(),
            "--build-host",
            &builder,
            "--json",
        ],
    );
    assert_succeeded(&out);
    let report = summary(&out);
    assert_eq!(changes(&report, "t1"), (0, 3, 0, 0));
    assert_eq!(changes(&report, "t2"), (0, 2, 0, 0));
    // Both profiles were built there: they are in the build host's own store.
    let store = hosts.on("builder", &["ls", "/nix/store"]);
    let built = String::from_utf8_lossy(&store.stdout)
        .lines()
        .filter(|l| l.ends_with("-nixproc-sysvinit-profile"))
        .count();
    assert_eq!(built, 2, "{}", String::from_utf8_lossy(&store.stdout));
    assert!(hosts.request("t2").contains("instance=webapp1"));

    // One target, its model built on the build host too.
    let out = hosts
        .ctl(SWITCH)
        .args([
            "--target-host",
            &t1,
            "--build-host",
            &builder,
            "--extra-params",
            "{\"webappInstances\": 3}",
        ])
        .arg(fixture_model())
        .output()
        .expect("run the switch");
    assert_succeeded(&out);
    assert!(
        hosts
            .processes("t1")
            .iter()
            .filter(|c| *c == "webapp")
            .count()
            >= 3
    );
    // A build host that cannot be reached fails before any target is touched.
    let out = switch(
        &hosts,
        &[
            "--hosts",
            file.to_str().unwrap(),
            "--build-host",
            "root@10.77.250.2",
            "--json",
        ],
    );
    assert!(!out.status.success());
    let report = summary(&out);
    let error = host(&report, "t1")["error"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        error.contains("on the build host") && error.contains("cannot be reached"),
        "{error}"
    );
}

#[test]
fn secrets_reach_a_host_over_ssh_and_nowhere_else() {
    let hosts = TestHosts::up(&["vault"]);
    let marker = format!("nixproc-fleet-secret-{}", std::process::id());
    let source = hosts.dir.path().join("token");
    fs::write(&source, &marker).expect("write the secret");
    let extra = format!("{{ secret = \"{}\"; }}", source.display());
    let file = hosts.fleet_file(
        "hosts.nix",
        &[("vault", hosts.target("vault"), extra.as_str())],
    );
    let file = file.to_str().unwrap();

    let out = switch(&hosts, &["--hosts", file, "--json"]);
    assert_succeeded(&out);
    assert_eq!(changes(&summary(&out), "vault"), (0, 4, 0, 0));
    let placed = "/var/run/nixproc-sysvinit-secrets/keeper/token";
    let on_host = |args: &[&str]| {
        let out = hosts.on("vault", args);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(on_host(&["cat", placed]), marker);
    assert_eq!(on_host(&["stat", "-c", "%a %U", placed]), "400 root");
    // Not in the host's store or logs, on no command line, not in the output.
    assert_eq!(
        on_host(&[
            "grep",
            "-rlF",
            "--no-messages",
            &marker,
            "/nix/store",
            "/var/log"
        ]),
        ""
    );
    let ps = Command::new("ps")
        .args(["-eo", "args"])
        .output()
        .expect("run ps");
    assert!(!String::from_utf8_lossy(&ps.stdout).contains(&marker));
    assert!(!format!("{out:?}").contains(&marker));

    // Unchanged: nothing restarts; changed: only the keeper does, with the new contents.
    let out = switch(&hosts, &["--hosts", file, "--json"]);
    assert_eq!(changes(&summary(&out), "vault"), (0, 0, 0, 4));
    fs::write(&source, format!("{marker}-2")).expect("change the secret");
    let out = switch(&hosts, &["--hosts", file, "--json"]);
    assert_eq!(changes(&summary(&out), "vault"), (0, 0, 1, 3));
    assert_eq!(on_host(&["cat", placed]), format!("{marker}-2"));
    assert!(!format!("{out:?}").contains(&marker));

    // A source that cannot be read stops the run before the host is touched.
    fs::remove_file(&source).expect("remove the secret");
    let out = switch(&hosts, &["--hosts", file, "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("secret 'token': cannot read its source"),
        "{stderr}"
    );
    assert_eq!(on_host(&["cat", placed]), format!("{marker}-2"));
}
