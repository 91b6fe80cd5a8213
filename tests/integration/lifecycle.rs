//! The life of a service after its start, with real processes and real cgroups: every
//! process a start launched is found and stopped (also forks that left the session, and
//! a daemon that writes no PID file), a crashing foreground process is respawned until it
//! gives up, limits are in force, and no cgroup is left behind. Scripts are rendered by
//! the library renderer and run with the init-functions library and the supervisor of
//! this build; the fall-back without cgroups (`NIXPROC_CGROUPS=0`) is tested beside.
//! Run as root.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use nixproc_sysvinit::tree::service::{cgroup_root, cgroup_v1_roots, services_dir};

/// A rendered service in a directory of its own.
struct Service {
    dir: TestDir,
    script: PathBuf,
    manifest: serde_json::Value,
    guard: ProcessGuard,
}

impl Service {
    /// Renders `spec` (without `config`) with the test's directories, the library and the
    /// supervisor; the program files it names are written by the caller.
    fn new(dir: TestDir, mut spec: serde_json::Value) -> Service {
        let run = dir.mkdir("run", 0o755);
        dir.mkdir("log", 0o755);
        dir.mkdir("tmp", 0o1777);
        let lib = library_path(&dir.join("init-functions"), &run);
        spec["config"] = serde_json::json!({
            "runtimeDir": run.to_str().unwrap(),
            "tmpDir": dir.join("tmp").to_str().unwrap(),
            "logDir": dir.join("log").to_str().unwrap(),
            "initialInstructions": format!(". {}", shell_quote_path(&lib)),
            "startProcessAsDaemon": bin_dir().join("nixproc-sysvinit-supervise").to_str().unwrap(),
        });
        let rendered = nixproc_sysvinit::render::render_value(&spec).expect("the spec renders");
        let manifest = serde_json::from_str(&rendered.manifest).expect("the manifest is JSON");
        let script = dir.write(
            &format!("init.d/{}", rendered.name),
            &rendered.script,
            0o755,
        );
        let mut guard = ProcessGuard::new();
        guard.marker(dir.path().to_str().unwrap().to_string());
        Service {
            dir,
            script,
            manifest,
            guard,
        }
    }

    /// Runs the script's `activity` with extra environment `env`.
    fn run(&self, activity: &str, env: &[(&str, &str)]) -> Run {
        run_script(self.dir.path(), &self.script, &[activity], env)
    }

    /// The live processes whose command line names the service's directory.
    fn processes(&self) -> Vec<i32> {
        pids_with_cmdline(self.dir.path().to_str().unwrap())
            .into_iter()
            .filter(|p| pid_alive(*p))
            .collect()
    }

    /// Whether none of its processes is left, within a few seconds.
    fn all_gone(&self) -> bool {
        wait_until(Duration::from_secs(5), || self.processes().is_empty())
    }

    /// The service's cgroup directories that exist now (cgroup v2 and v1).
    fn cgroups(&self) -> Vec<PathBuf> {
        let service = self.manifest["service"].as_str().unwrap();
        let key = service.split('/').next().unwrap();
        cgroup_root()
            .into_iter()
            .chain(cgroup_v1_roots())
            .map(|root| root.join(services_dir()).join(key))
            .filter(|d| d.exists())
            .collect()
    }

    /// Stops the service: the stop succeeds and leaves no process and no cgroup.
    fn stop_leaves_nothing(&self) {
        let r = self.run("stop", &[]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(self.all_gone(), "left running: {:?}", self.processes());
        let cgroups = self.cgroups();
        assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
    }

    /// A file of the PID file's directory: `NAME.EXT` next to the PID file.
    fn beside_pid_file(&self, ext: &str) -> PathBuf {
        let pid_file = PathBuf::from(self.manifest["pidFile"].as_str().unwrap());
        pid_file.with_extension(ext)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.run("stop", &[]);
        self.guard.cleanup();
    }
}

/// Whether this machine gives root a writable cgroup v2 hierarchy (the library's
/// condition for cgroups).
fn cgroups_here() -> bool {
    cgroup_root().is_some_and(|r| fs::metadata(r.join("cgroup.procs")).is_ok())
}

/// A foreground program that starts a grandchild in a session of its own (`setsid`),
/// and a plain child, then waits: what a stop must still find. Each process names the
/// test's directory in its `argv[0]`, so the test finds them all.
fn forking_program(dir: &TestDir) -> PathBuf {
    dir.write(
        "bin/forker",
        "#!/bin/bash\n\
         me=$0\n\
         echo \"forker $$ started\"\n\
         setsid bash -c 'exec -a \"$0-grandchild\" sleep 600' \"$me\" </dev/null >/dev/null 2>&1 &\n\
         (exec -a \"$me-child\" sleep 601) &\n\
         exec -a \"$me-main\" sleep 602\n",
        0o755,
    )
}

#[test]
fn a_setsid_grandchild_is_stopped_with_its_service() {
    assert!(is_root(), "this test uses cgroups and must run as root");
    for cgroups in ["1", "0"] {
        let dir = TestDir::new("nixproc-life-fork-");
        let program = forking_program(&dir);
        let svc = Service::new(
            dir,
            serde_json::json!({
                "name": "forker",
                "process": program.to_str().unwrap(),
                "processIsDaemon": false,
            }),
        );
        let env = [("NIXPROC_CGROUPS", cgroups)];
        let r = svc.run("start", &env);
        assert_eq!(r.code, 0, "start (cgroups {cgroups}): {r:?}");
        assert!(
            wait_until(Duration::from_secs(5), || svc.processes().len() >= 4),
            "the supervisor, the program, its child and its grandchild: {:?}",
            svc.processes()
        );
        if cgroups == "1" && cgroups_here() {
            assert!(!svc.cgroups().is_empty(), "the service has its cgroup");
        }
        let r = svc.run("stop", &env);
        assert_eq!(r.code, 0, "stop (cgroups {cgroups}): {r:?}");
        assert!(
            svc.all_gone(),
            "after stop (cgroups {cgroups}) still: {:?}",
            svc.processes()
        );
        assert!(
            svc.cgroups().is_empty(),
            "cgroups left: {:?}",
            svc.cgroups()
        );
        let r = svc.run("status", &env);
        assert_eq!(r.code, 3, "{r:?}");
    }
}

/// A daemon that forks away and never writes the PID file its script waits for.
#[test]
fn a_daemon_without_its_pid_file_fails_to_start_and_leaves_nothing() {
    assert!(is_root(), "this test uses cgroups and must run as root");
    for cgroups in ["1", "0"] {
        let dir = TestDir::new("nixproc-life-nopid-");
        let program = dir.write(
            "bin/silent",
            "#!/bin/bash\n\
             if [ \"${1:-}\" != child ]; then\n\
             \x20   setsid \"$0\" child </dev/null >/dev/null 2>&1 &\n\
             \x20   exit 0\n\
             fi\n\
             sleep 600 &\n\
             while :; do sleep 0.1; done\n",
            0o755,
        );
        let svc = Service::new(
            dir,
            serde_json::json!({
                "name": "silent",
                "instanceName": "silent",
                "process": program.to_str().unwrap(),
            }),
        );
        let env = [("NIXPROC_CGROUPS", cgroups), ("STARTTIMEOUT", "1")];
        let r = svc.run("start", &env);
        assert_ne!(r.code, 0, "start (cgroups {cgroups}): {r:?}");
        assert!(
            r.stderr.contains("is not running after 1 s")
                && r.stderr
                    .contains("processes that the failed start of silent left"),
            "the start says it timed out and what it stopped: {r:?}"
        );
        assert!(svc.all_gone(), "left running: {:?}", svc.processes());
        assert!(
            svc.cgroups().is_empty(),
            "cgroups left: {:?}",
            svc.cgroups()
        );
    }
}

/// A daemon whose main process died while a child it forked runs on: with a stale PID
/// file the service still counts as running, and stop finds the child.
#[test]
fn status_tells_live_processes_from_a_dead_service_despite_a_stale_pid_file() {
    assert!(is_root(), "this test uses cgroups and must run as root");
    if !cgroups_here() {
        eprintln!("no writable cgroup v2 hierarchy here: skipped");
        return;
    }
    let dir = TestDir::new("nixproc-life-stale-");
    let pid_file = dir.join("run/stale.pid");
    let program = dir.write(
        "bin/stale",
        &format!(
            "#!/bin/bash\n\
             if [ \"${{1:-}}\" != child ]; then\n\
             \x20   setsid \"$0\" child </dev/null >/dev/null 2>&1 &\n\
             \x20   exit 0\n\
             fi\n\
             echo $$ > {}\n\
             setsid sleep 600 </dev/null >/dev/null 2>&1 &\n\
             while :; do sleep 0.1; done\n",
            shell_quote_path(&pid_file)
        ),
        0o755,
    );
    let svc = Service::new(
        dir,
        serde_json::json!({
            "name": "stale",
            "process": program.to_str().unwrap(),
            "pidFile": pid_file.to_str().unwrap(),
        }),
    );
    let r = svc.run("start", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let main = read_pid(&pid_file).expect("the daemon's PID file");
    // SAFETY: kill sends a signal; no memory is involved.
    unsafe { libc::kill(main, libc::SIGKILL) };
    assert!(wait_until(Duration::from_secs(5), || !pid_alive(main)));
    let r = svc.run("status", &[]);
    assert_eq!(r.code, 0, "live processes of the service: {r:?}");
    assert!(!r.stdout.contains(&main.to_string()), "{r:?}");
    let r = svc.run("stop", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("that its PID file did not name"), "{r:?}");
    assert!(svc.all_gone(), "left running: {:?}", svc.processes());
    // The stop removed the stale PID file too.
    let r = svc.run("status", &[]);
    assert_eq!(r.code, 3, "{r:?}");
}

#[test]
fn a_crash_loop_is_respawned_then_given_up_and_status_says_why() {
    assert!(
        is_root(),
        "this test renders with the supervisor and must run as root"
    );
    let dir = TestDir::new("nixproc-life-crash-");
    let counter = dir.join("runs");
    let program = dir.write(
        "bin/crasher",
        &format!(
            "#!/bin/bash\necho run >> {}\nsleep 0.3\nexit 3\n",
            shell_quote_path(&counter)
        ),
        0o755,
    );
    let svc = Service::new(
        dir,
        serde_json::json!({
            "name": "crasher",
            "process": program.to_str().unwrap(),
            "processIsDaemon": false,
            "respawn": { "delay": 0.1, "attempts": 2, "window": 30, "settle": 0 },
        }),
    );
    let r = svc.run("start", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let state = svc.beside_pid_file("state");
    let gave_up = wait_until(Duration::from_secs(20), || {
        fs::read_to_string(&state).is_ok_and(|s| s.contains("\nstate=failed\n"))
    });
    let text = fs::read_to_string(&state).unwrap_or_default();
    assert!(gave_up, "the supervisor gave up: {text}");
    assert!(
        text.contains("\nrespawns=2\n"),
        "two restarts, then it gave up: {text}"
    );
    assert!(text.contains("\nlast_exit=status 3\n"), "{text}");
    let runs = fs::read_to_string(&counter).unwrap().lines().count();
    assert_eq!(runs, 3, "the first run and two restarts");
    let r = svc.run("status", &[]);
    assert_eq!(r.code, 1, "a failed service is not running: {r:?}");
    assert!(
        r.stdout.contains("failed: exited 3 times within 30 s")
            && r.stdout.contains("after 2 restarts"),
        "status says it failed and why: {r:?}"
    );
    // Stopping a given-up service succeeds and leaves nothing.
    svc.stop_leaves_nothing();
}

/// A process that crashes at once, with respawn: the start fails (it never settled)
/// instead of reporting success and looping.
#[test]
fn a_crash_right_after_the_start_fails_the_start() {
    assert!(
        is_root(),
        "this test renders with the supervisor and must run as root"
    );
    let dir = TestDir::new("nixproc-life-settle-");
    let program = dir.write("bin/dies", "#!/bin/bash\necho dying\nexit 4\n", 0o755);
    let svc = Service::new(
        dir,
        serde_json::json!({
            "name": "dies",
            "process": program.to_str().unwrap(),
            "processIsDaemon": false,
            "respawn": { "delay": 0.1, "attempts": 5, "window": 60, "settle": 0.5 },
        }),
    );
    let r = svc.run("start", &[]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("exited during start with status 4"),
        "{r:?}"
    );
    assert!(svc.all_gone(), "left running: {:?}", svc.processes());
}

#[test]
fn limits_are_in_force_in_the_processes_and_their_cgroups() {
    assert!(is_root(), "this test uses cgroups and must run as root");
    let dir = TestDir::new("nixproc-life-limits-");
    let report = dir.join("forks");
    // Starts children one after another until a fork fails (or 20 run), then waits.
    let program = dir.write(
        "bin/limited",
        &format!(
            "#!/usr/bin/perl\n\
             my $n = 0;\n\
             for (1..20) {{ my $p = fork(); last unless defined $p; if ($p == 0) {{ sleep 600; exit 0 }} $n++ }}\n\
             open(my $f, '>', '{}') or die; print $f \"$n\\n\"; close($f);\n\
             sleep 603;\n",
            report.display()
        ),
        0o755,
    );
    let svc = Service::new(
        dir,
        serde_json::json!({
            "name": "limited",
            "process": program.to_str().unwrap(),
            "processIsDaemon": false,
            "limits": { "nofile": { "soft": 123, "hard": 456 }, "core": 0, "pids": 8, "memory": "64M" },
        }),
    );
    let r = svc.run("start", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let client = read_pid(&svc.beside_pid_file("clientpid")).expect("the client");
    let limits = fs::read_to_string(format!("/proc/{client}/limits")).unwrap();
    let row = |name: &str| {
        limits
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| {
                l[name.len()..]
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    };
    assert_eq!(row("Max open files"), "123 456", "{limits}");
    assert_eq!(row("Max core file size"), "0 0", "{limits}");
    if cgroups_here() {
        let cgroup_has = |file: &str, want: &str| {
            svc.cgroups()
                .iter()
                .map(|key| key.join("limited").join(file))
                .filter_map(|f| fs::read_to_string(f).ok())
                .any(|v| v.trim() == want)
        };
        assert!(
            cgroup_has("pids.max", "8"),
            "pids.max in a cgroup of the service"
        );
        assert!(
            cgroup_has("memory.max", "67108864") || cgroup_has("memory.limit_in_bytes", "67108864"),
            "the memory limit in a cgroup of the service"
        );
        assert!(wait_until(Duration::from_secs(10), || report.exists()));
        let forks: u32 = fs::read_to_string(&report).unwrap().trim().parse().unwrap();
        assert!(forks < 20, "pids.max stopped the forks at {forks}");
    } else {
        assert!(
            r.stderr.contains("not applied"),
            "one warning names them: {r:?}"
        );
    }
    svc.stop_leaves_nothing();
}

/// Without cgroups the cgroup limits cannot apply: the start says which, once.
#[test]
fn limits_without_a_controller_are_named_in_one_warning() {
    let dir = TestDir::new("nixproc-life-nolimit-");
    let program = dir.write("bin/plain", "#!/bin/bash\nexec sleep 604\n", 0o755);
    let svc = Service::new(
        dir,
        serde_json::json!({
            "name": "plain",
            "process": program.to_str().unwrap(),
            "processIsDaemon": false,
            "limits": { "nofile": 99, "memory": "32M", "cpuWeight": 50 },
        }),
    );
    let r = svc.run("start", &[("NIXPROC_CGROUPS", "0")]);
    assert_eq!(r.code, 0, "{r:?}");
    let warnings: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("not applied"))
        .collect();
    assert_eq!(warnings.len(), 1, "{r:?}");
    assert!(
        warnings[0].contains("memory=33554432") && warnings[0].contains("cpuWeight=50"),
        "{r:?}"
    );
    let r = svc.run("stop", &[("NIXPROC_CGROUPS", "0")]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(svc.all_gone(), "left running: {:?}", svc.processes());
}

/// The library's status and the supervisor's state file as a program reads them: the
/// service's PIDs, respawns, last exit and the limits in force, for runactivity's JSON.
#[test]
fn service_status_reports_pids_supervisor_and_limits() {
    assert!(
        is_root(),
        "this test renders with the supervisor and must run as root"
    );
    let dir = TestDir::new("nixproc-life-json-");
    let program = forking_program(&dir);
    let svc = Service::new(
        dir,
        serde_json::json!({
            "name": "reported",
            "process": program.to_str().unwrap(),
            "processIsDaemon": false,
            "respawn": { "settle": 0 },
            "limits": { "nofile": 2048 },
        }),
    );
    let r = svc.run("start", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(wait_until(Duration::from_secs(5), || svc.processes().len() >= 4));
    let manifest = nixproc_sysvinit::tree::Manifest::from_json(&svc.manifest.to_string()).unwrap();
    // The program forks as it runs: the processes seen and the status are taken again
    // until one status holds every process seen just before it.
    let inspect = || {
        nixproc_sysvinit::deploy::activity::service_status::inspect(&manifest).expect("a service")
    };
    let mut status = inspect();
    let mut seen = Vec::new();
    wait_until(Duration::from_secs(5), || {
        seen = svc.processes();
        status = inspect();
        seen.iter()
            .all(|pid| status.pids.iter().any(|p| *p as i32 == *pid))
    });
    let pids: Vec<i32> = status.pids.iter().map(|p| *p as i32).collect();
    for pid in seen {
        assert!(pids.contains(&pid), "{pid} in {status:?}");
    }
    let supervisor = status.supervisor.as_ref().expect("the supervisor's state");
    assert_eq!(
        (supervisor.state.as_str(), supervisor.respawns),
        ("running", 0)
    );
    assert_eq!(status.limits["nofile"].configured, "2048");
    assert_eq!(status.limits["nofile"].in_force.as_deref(), Some("2048"));
    if cgroups_here() {
        assert_eq!(status.tracked_by, "cgroup");
    }
}

/// Files the supervisor keeps next to the PID file are read as the PID file is: a
/// planted link is no state at all.
#[test]
fn a_state_file_that_is_a_link_is_not_read() {
    let dir = TestDir::new("nixproc-life-statelink-");
    let secret = dir.write("secret", "state=failed\nreason=SECRET\n", 0o600);
    let run = dir.mkdir("run", 0o755);
    std::os::unix::fs::symlink(&secret, run.join("x.state")).unwrap();
    let lib = library_path(&dir.join("init-functions"), &run);
    let snippet = dir.write(
        "snippet.sh",
        &format!(
            "#!/bin/bash\n. {}\nstatusproc -p {} /bin/sleep\n",
            shell_quote_path(&lib),
            shell_quote_path(&run.join("x.pid"))
        ),
        0o755,
    );
    let r = run_script(dir.path(), &snippet, &[], &[]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        !r.stdout.contains("SECRET") && !r.stderr.contains("SECRET"),
        "{r:?}"
    );
    let _ = Path::new(&secret);
}

/// Through the switch: a respawned service that crashes at once fails its start (the
/// switch rolls back and nothing of it remains); one that runs is respawned after a
/// crash, `status --json` says so, and undeploy leaves no process and no cgroup.
#[test]
fn the_switch_and_runactivity_with_a_respawned_service() {
    assert!(is_root(), "this test deploys as root");
    let port = free_port();
    let d = ModelDeployment::new("respawned", &["--arg", "port", &port.to_string()]);
    let crashing = write_model(
        d.dir.path(),
        "{ dies.pkg = create { name = \"dies\"; process = \"/bin/false\"; processIsDaemon = false; respawn = true; runlevels = [ 3 ]; }; }",
    );
    let out = d.switch(&[crashing.to_str().unwrap()]);
    let text = assert_failed(&out);
    assert!(text.contains("exited during start with status 1"), "{text}");
    assert!(text.contains("rolled back"), "{text}");

    let serving = write_model(
        d.dir.path(),
        "{ web.pkg = create {\n\
           name = \"web\"; process = \"${pkgs.webapp}/bin/webapp\"; processIsDaemon = false;\n\
           environment.PORT = port; readiness.tcpPort = port;\n\
           respawn = { delay = 0.2; settle = 0; }; limits.nofile = 1024; runlevels = [ 3 ];\n\
         }; }",
    );
    assert_succeeded(&d.switch(&[serving.to_str().unwrap()]));
    let status = |d: &ModelDeployment| -> serde_json::Value {
        let out = d.runactivity(&["--json", "status"]);
        assert_succeeded(&out);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v[0]["service"].clone()
    };
    let first = status(&d);
    assert_eq!(first["supervisor"]["respawns"], 0, "{first}");
    assert_eq!(first["limits"]["nofile"]["inForce"], "1024", "{first}");
    let client = first["pids"].as_array().unwrap().len();
    assert!(client >= 2, "the supervisor and the web server: {first}");

    // The web server crashes: it is respawned, and answers again.
    let client_file = d.dir.path().join("state/run/webapp.clientpid");
    let old = read_pid(&client_file).expect("the client's PID file");
    // SAFETY: kill sends a signal; no memory is involved.
    unsafe { libc::kill(old, libc::SIGKILL) };
    assert!(
        wait_until(Duration::from_secs(10), || read_pid(&client_file)
            .is_some_and(|p| p != old && pid_alive(p))),
        "respawned"
    );
    assert!(
        wait_http(port, Duration::from_secs(10)).is_some(),
        "it answers again"
    );
    let again = status(&d);
    assert_eq!(again["supervisor"]["respawns"], 1, "{again}");
    assert_eq!(again["supervisor"]["lastExit"], "signal KILL", "{again}");

    assert_succeeded(&d.switch(&["--undeploy"]));
    assert!(port_closed(port), "the web server outlived the undeploy");
    let key = nixproc_sysvinit::tree::service::escape_path(
        d.dir.path().join("state/run").to_str().unwrap(),
    );
    let left: Vec<PathBuf> = cgroup_root()
        .into_iter()
        .chain(cgroup_v1_roots())
        .map(|r| r.join(services_dir()).join(&key))
        .filter(|p| p.exists())
        .collect();
    assert!(left.is_empty(), "cgroups left after undeploy: {left:?}");
}

/// A log that cannot be written (here its place is taken by a directory) neither stops
/// nor blocks the service; status says so in one more line.
#[test]
fn a_log_that_cannot_be_written_shows_in_the_status_and_the_service_runs() {
    assert!(
        is_root(),
        "this test renders with the supervisor and must run as root"
    );
    let dir = TestDir::new("nixproc-life-badlog-");
    let program = dir.write(
        "bin/chatty",
        "#!/bin/bash\nwhile :; do echo line; sleep 0.05; done\n",
        0o755,
    );
    let svc = Service::new(
        dir,
        serde_json::json!({
            "name": "chatty",
            "process": program.to_str().unwrap(),
            "processIsDaemon": false,
        }),
    );
    let log = PathBuf::from(svc.manifest["logFile"].as_str().unwrap());
    fs::create_dir_all(&log).unwrap();
    let r = svc.run("start", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let mut status = svc.run("status", &[]);
    wait_until(Duration::from_secs(10), || {
        status = svc.run("status", &[]);
        status.stdout.contains("warning: its log cannot be written")
    });
    assert_eq!(status.code, 0, "{status:?}");
    assert!(
        status.stdout.contains("warning: its log cannot be written"),
        "{status:?}"
    );
    assert!(
        status
            .stdout
            .lines()
            .next()
            .unwrap_or("")
            .contains("is running"),
        "{status:?}"
    );
}

/// Through the switch: a process printing numbered lines far faster than 1 MiB/s with
/// `logRotate = { maxSize = 524288; keep = 20; }`: no file passes maxSize by more than
/// one line, the kept files hold whole lines in order with none missing between the
/// oldest kept and the last, and the process was never restarted for it.
#[test]
fn a_fast_producer_deployed_by_the_switch_is_rotated_whole_and_in_order() {
    assert!(is_root(), "this test deploys as root");
    const MAX_SIZE: u64 = 524_288;
    const KEEP: usize = 20;
    const LINES: u64 = 1_500_000; // "line %09d\n": 15 bytes, about 21 MiB in all
    let d = ModelDeployment::new("rotated", &[]);
    let program = d.dir.path().join("producer");
    fs::write(
        &program,
        format!("#!/bin/bash\nseq -f 'line %09.0f' 1 {LINES}\nexec sleep 600\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
    let processes = write_model(
        d.dir.path(),
        &format!(
            "{{ producer.pkg = create {{ name = \"producer\"; process = \"{}\"; processIsDaemon = false;\n\
               logRotate = {{ maxSize = {MAX_SIZE}; keep = {KEEP}; }}; runlevels = [ 3 ]; }}; }}",
            program.display()
        ),
    );
    let started = std::time::Instant::now();
    assert_succeeded(&d.switch(&[processes.to_str().unwrap()]));
    let client_file = d.dir.path().join("state/run/producer.clientpid");
    let client = read_pid(&client_file).expect("the client's PID file");
    let log = d.dir.path().join("state/log/producer.log");
    let last = format!("line {LINES:09}\n");
    assert!(
        wait_until(Duration::from_secs(120), || fs::read_to_string(&log)
            .is_ok_and(|t| t.ends_with(&last))),
        "the last line reached {}",
        log.display()
    );
    let took = started.elapsed().as_secs_f64();
    assert_eq!(
        read_pid(&client_file),
        Some(client),
        "the client was restarted"
    );
    assert!(pid_alive(client), "the client lives");

    let mut files = vec![log.clone()];
    files.extend((1..=KEEP + 1).map(|n| d.dir.path().join(format!("state/log/producer.log.{n}"))));
    assert!(
        !files[KEEP + 1].exists(),
        "more than {KEEP} rotated files are kept"
    );
    let mut expected: Option<u64> = None;
    let mut bytes = 0u64;
    for file in files[..=KEEP].iter().rev().filter(|f| f.exists()) {
        let text = fs::read_to_string(file).unwrap();
        assert!(
            (text.len() as u64) <= MAX_SIZE + 15,
            "{} holds {} bytes",
            file.display(),
            text.len()
        );
        assert!(
            text.ends_with('\n'),
            "{} ends in a partial line",
            file.display()
        );
        bytes += text.len() as u64;
        for line in text.lines() {
            let n: u64 = line
                .strip_prefix("line ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("not a whole line in {}: {line:?}", file.display()));
            if let Some(want) = expected {
                assert_eq!(
                    n,
                    want,
                    "a line is missing or out of order in {}",
                    file.display()
                );
            }
            expected = Some(n + 1);
        }
    }
    assert_eq!(expected, Some(LINES + 1), "the last line is {LINES}");
    assert!(
        bytes >= (KEEP as u64) * (MAX_SIZE - 15),
        "the kept files are full: {bytes} bytes"
    );
    eprintln!(
        "{} MiB through the log writer in {took:.1} s (with the switch)",
        LINES * 15 / (1 << 20)
    );
    assert_succeeded(&d.switch(&["--undeploy"]));
    assert!(!pid_alive(client), "the producer outlived the undeploy");
}
