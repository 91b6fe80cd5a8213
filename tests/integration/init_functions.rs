//! Integration tests of the init-functions library (`nix/init-functions/*.sh`) with real
//! processes: Debian's nginx, the example web server under libslack `daemon`, user
//! switches, PID reuse and processes that ignore TERM. They run as root (they create a
//! throwaway user and manage daemons) and leave no process behind.
//!
//! The first group drives hand-written scripts in the shape of generated init.d scripts;
//! the second renders real specs with `render_json` and runs the resulting scripts.

use crate::common;

use common::*;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const NGINX: &str = "/usr/sbin/nginx";

/// A test's state: processes are killed (guard) before the directory goes.
struct Fixture {
    guard: ProcessGuard,
    run: PathBuf,
    lib: PathBuf,
    dir: TestDir,
}

fn fixture(prefix: &str) -> Fixture {
    assert!(
        nix_unistd_is_root(),
        "these tests manage daemons and users and must run as root"
    );
    let dir = TestDir::new(prefix);
    let run = dir.mkdir("run", 0o755);
    let lib = library_path(&dir.join("init-functions"), &run);
    let mut guard = ProcessGuard::new();
    guard.marker(dir.path().to_str().expect("utf-8 path").to_string());
    Fixture {
        guard,
        run,
        lib,
        dir,
    }
}

fn nix_unistd_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

impl Fixture {
    /// Writes an init.d-style script: source the library, the preamble, then a case
    /// over the activities.
    fn script(&self, name: &str, preamble: &str, cases: &[(&str, String)]) -> PathBuf {
        let mut text = format!(
            "#!/bin/bash\n. {}\n\n{preamble}\n\ncase \"$1\" in\n",
            shell_quote_path(&self.lib)
        );
        for (activity, code) in cases {
            text.push_str(&format!("{activity})\n{code}\n;;\n"));
        }
        text.push_str("*)\necho \"Usage: $0 {start|stop|status}\" >&2\nexit 2\n;;\nesac\n");
        self.dir.write(&format!("init.d/{name}"), &text, 0o755)
    }

    /// A script `init.d/NAME` without a preamble: start and stop run `start` and `stop`
    /// and report with `evaluate_retval`; status runs `status`.
    fn start_stop_status(&self, name: &str, start: &str, stop: &str, status: &str) -> PathBuf {
        self.script(
            name,
            "",
            &[
                ("start", format!("{start}\nevaluate_retval")),
                ("stop", format!("{stop}\nevaluate_retval")),
                ("status", status.to_string()),
            ],
        )
    }

    /// The PID file `RUN/path`; the guard kills its process when the test ends.
    fn pid_file(&mut self, path: impl AsRef<Path>) -> PathBuf {
        let pid_file = self.run.join(path);
        self.guard.pid_file(&pid_file);
        pid_file
    }

    fn run(&self, script: &Path, activity: &str) -> Run {
        run_script(self.dir.path(), script, &[activity], &[])
    }

    fn run_env(&self, script: &Path, activity: &str, env: &[(&str, &str)]) -> Run {
        run_script(self.dir.path(), script, &[activity], env)
    }

    /// Runs a piece of shell with the library sourced.
    fn shell(&self, code: &str) -> Run {
        let path = self.dir.write(
            "snippet.sh",
            &format!("#!/bin/bash\n. {}\n{code}\n", shell_quote_path(&self.lib)),
            0o755,
        );
        run_script(self.dir.path(), &path, &[], &[])
    }

    /// A helper program that daemonizes itself and writes its PID file:
    /// `daemonize PIDFILE [ignore-term]`. It stays a bash process running the script,
    /// so it is recognised through argv[1] (the interpreted-program rule).
    fn daemonize_program(&self) -> PathBuf {
        self.dir.write(
            "bin/daemonize",
            "#!/bin/bash\n\
             if [ \"${DAEMONIZED:-}\" != 1 ]; then\n\
             \x20   DAEMONIZED=1 setsid \"$0\" \"$@\" </dev/null >/dev/null 2>&1 &\n\
             \x20   exit 0\n\
             fi\n\
             [ \"${2:-}\" = ignore-term ] && trap '' TERM\n\
             echo $$ > \"$1\"\n\
             while :; do sleep 0.05; done\n",
            0o755,
        )
    }
}

fn assert_ok(r: &Run, what: &str) {
    assert_eq!(r.code, 0, "{what} failed: {r:?}");
}

fn client_file(pid_file: &Path) -> PathBuf {
    pid_file.with_extension("clientpid")
}

/// Master processes of this test's nginx: processes carrying the config path on their
/// command line whose parent is not one of them (a freshly forked worker still shows
/// the master's command line for a moment).
fn nginx_masters(conf: &Path) -> Vec<i32> {
    let all = pids_with_cmdline(conf.to_str().expect("utf-8 path"));
    all.iter()
        .copied()
        .filter(|pid| parent_of(*pid).is_some_and(|pp| !all.contains(&pp)))
        .collect()
}

fn nginx_config(prefix: &Path, pid_file: &Path, port: u16, body: &str) -> String {
    let pre = prefix.to_str().expect("utf-8 path");
    format!(
        "daemon on;\n\
         pid {pid};\n\
         error_log {pre}/logs/error.log;\n\
         worker_processes 1;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n\
         \x20 access_log off;\n\
         \x20 client_body_temp_path {pre}/tmp/body;\n\
         \x20 proxy_temp_path {pre}/tmp/proxy;\n\
         \x20 fastcgi_temp_path {pre}/tmp/fastcgi;\n\
         \x20 uwsgi_temp_path {pre}/tmp/uwsgi;\n\
         \x20 scgi_temp_path {pre}/tmp/scgi;\n\
         \x20 server {{ listen 127.0.0.1:{port}; location / {{ return 200 \"{body}\\n\"; }} }}\n\
         }}\n",
        pid = pid_file.display(),
    )
}

fn require_nginx() {
    assert!(
        Path::new(NGINX).is_file(),
        "{NGINX} is missing: install Debian's nginx package to run this test"
    );
}

#[test]
fn nginx_start_status_reload_stop() {
    require_nginx();
    let mut f = fixture("initfn-nginx-");
    let port = free_port();
    let prefix = f.dir.mkdir("nginx", 0o755);
    fs::create_dir_all(prefix.join("logs")).unwrap();
    fs::create_dir_all(prefix.join("tmp")).unwrap();
    let pid_file = f.run.join("nginx.pid");
    let conf = f.dir.write(
        "nginx/nginx.conf",
        &nginx_config(&prefix, &pid_file, port, "first"),
        0o644,
    );
    f.guard.pid_file(&pid_file);
    let (pf, cf, pre) = (
        shell_quote_path(&pid_file),
        shell_quote_path(&conf),
        shell_quote_path(&prefix),
    );
    let script = f.script(
        "nginx",
        "",
        &[
            (
                "start",
                format!("log_info_msg 'Starting nginx...'\nstart_daemon -p {pf} {NGINX} -c {cf} -p {pre}\nevaluate_retval"),
            ),
            (
                "stop",
                format!("log_info_msg 'Stopping nginx...'\nkillproc -p {pf} {NGINX}\nevaluate_retval"),
            ),
            (
                "reload",
                format!("log_info_msg 'Reloading nginx...'\nkillproc -p {pf} {NGINX} -HUP\nevaluate_retval"),
            ),
            ("status", format!("statusproc -p {pf} {NGINX}")),
        ],
    );

    let r = f.run(&script, "start");
    assert_ok(&r, "start");
    assert!(
        r.stdout.contains("Starting nginx...") && r.stdout.contains("OK"),
        "{r:?}"
    );
    let master = read_pid(&pid_file).expect("nginx wrote its PID file");
    assert!(pid_alive(master));
    assert_eq!(
        wait_http(port, Duration::from_secs(10)).as_deref(),
        Some("first\n")
    );

    let r = f.run(&script, "status");
    assert_eq!(r.code, 0, "status of a running nginx: {r:?}");
    assert!(r.stdout.contains(&master.to_string()), "{r:?}");

    // A second start succeeds without a second copy.
    assert_ok(&f.run(&script, "start"), "second start");
    assert_eq!(read_pid(&pid_file), Some(master));
    assert_eq!(nginx_masters(&conf), vec![master]);

    // Reload (HUP) applies the new configuration and nginx keeps serving.
    fs::write(&conf, nginx_config(&prefix, &pid_file, port, "second")).unwrap();
    assert_ok(&f.run(&script, "reload"), "reload");
    assert!(
        wait_until(Duration::from_secs(10), || {
            matches!(http_get(port, "/"), Ok((_, b)) if b == "second\n")
        }),
        "nginx did not serve the reloaded configuration"
    );
    assert_eq!(
        read_pid(&pid_file),
        Some(master),
        "reload must not restart nginx"
    );
    assert!(pid_alive(master));

    let r = f.run(&script, "stop");
    assert_ok(&r, "stop");
    // killproc returns only once nginx is gone: no waiting here.
    assert!(!pid_alive(master), "nginx master still alive after stop");
    assert!(nginx_masters(&conf).is_empty());
    assert!(
        pids_with_cmdline(conf.to_str().unwrap()).is_empty(),
        "nginx workers left"
    );
    assert!(port_closed(port));
    assert!(!pid_file.exists(), "the PID file must be removed");

    let r = f.run(&script, "status");
    assert_eq!(r.code, 3, "status of a stopped nginx: {r:?}");
    assert_ok(&f.run(&script, "stop"), "stopping a stopped nginx");
    let r = f.run(&script, "reload");
    assert_ne!(r.code, 0, "reloading a stopped nginx must fail: {r:?}");
    assert!(r.stdout.contains("FAIL"), "{r:?}");
}

/// Scripts for one webapp instance under daemon, in the shape the renderer generates.
fn webapp_script(
    f: &Fixture,
    name: &str,
    webapp: &Path,
    port: u16,
    pid_file: &Path,
    log: &Path,
    user: Option<&str>,
) -> PathBuf {
    let (pf, lf, wa) = (
        shell_quote_path(pid_file),
        shell_quote_path(log),
        shell_quote_path(webapp),
    );
    let user_opt = user
        .map(|u| format!(" -u {}", shell_quote(u)))
        .unwrap_or_default();
    f.script(
        name,
        &format!("export PORT={port}\nexport INSTANCE={}", shell_quote(name)),
        &[
            (
                "start",
                format!(
                    "log_info_msg {}\nstart_foreground -D daemon -p {pf}{user_opt} -o {lf} -- {wa} && wait_ready -p {pf}{user_opt} -t 20 -H 127.0.0.1 -P {port}\nevaluate_retval",
                    shell_quote(format!("Starting {name}..."))
                ),
            ),
            ("stop", format!("killproc -p {pf}{user_opt} daemon\nevaluate_retval")),
            ("status", format!("statusproc -p {pf}{user_opt} daemon")),
        ],
    )
}

#[test]
fn webapp_instances_under_daemon_stop_independently() {
    let mut f = fixture("initfn-webapp-");
    let webapp = install_program(&webapp_binary(), f.dir.path(), "webapp");
    let log_dir = f.dir.mkdir("log", 0o755);
    let mut instances = Vec::new();
    for name in ["webapp1", "webapp2"] {
        let port = free_port();
        let pid_file = f.pid_file(format!("{name}.pid"));
        let log = log_dir.join(format!("{name}.log"));
        let script = webapp_script(&f, name, &webapp, port, &pid_file, &log, None);
        instances.push((name, port, pid_file, log, script));
    }

    for (name, port, pid_file, _, script) in &instances {
        let r = f.run(script, "start");
        assert_ok(&r, &format!("start {name}"));
        // start returned after the readiness check: the port answers at once.
        let (status, body) = http_get(*port, "/").expect("webapp answers after start");
        assert!(status.contains("200"), "{status}");
        assert!(body.contains(&format!("instance={name}")), "{body}");
        assert!(pid_file.exists() && client_file(pid_file).exists());
    }
    for (name, _, _, _, script) in &instances {
        let r = f.run(script, "status");
        assert_eq!(r.code, 0, "status {name}: {r:?}");
    }

    // A second start is a no-op.
    let (_, _, pid1, _, script1) = &instances[0];
    let wrapper1 = read_pid(pid1).unwrap();
    let client1 = read_pid(&client_file(pid1)).unwrap();
    assert_ok(&f.run(script1, "start"), "second start");
    assert_eq!(read_pid(pid1), Some(wrapper1));
    // This test's webapp1 wrappers (other tests may run a webapp1 of their own).
    let ours = pids_with_cmdline(&format!("--pidfiles={}", f.run.display()));
    let named = pids_with_cmdline("--name=webapp1");
    assert_eq!(ours.iter().filter(|p| named.contains(p)).count(), 1);

    // Stop the first: the second keeps serving.
    let r = f.run(script1, "stop");
    assert_ok(&r, "stop webapp1");
    assert!(
        !pid_alive(wrapper1) && !pid_alive(client1),
        "webapp1 left running"
    );
    assert!(port_closed(instances[0].1));
    assert!(!pid1.exists() && !client_file(pid1).exists());
    assert_eq!(f.run(script1, "status").code, 3);

    let (_, port2, pid2, _, script2) = &instances[1];
    assert_eq!(f.run(script2, "status").code, 0);
    let (_, body) = http_get(*port2, "/").expect("webapp2 still serves");
    assert!(body.contains("instance=webapp2"));

    let wrapper2 = read_pid(pid2).unwrap();
    assert_ok(&f.run(script2, "stop"), "stop webapp2");
    assert!(!pid_alive(wrapper2));
    assert!(port_closed(*port2));
    assert_eq!(f.run(script2, "status").code, 3);
    assert_ok(&f.run(script2, "stop"), "stopping a stopped webapp");

    // daemon captured the output in the log file.
    let log = fs::read_to_string(&instances[0].3).unwrap_or_default();
    assert!(log.contains("webapp1 listening"), "log: {log:?}");
}

#[test]
fn user_switch_and_forced_caller() {
    let mut f = fixture("initfn-user-");
    let user = UserGuard::create("nxpinit");
    let webapp = install_program(&webapp_binary(), f.dir.path(), "webapp");

    // Foreground process with `user`: its PID and log files go to directories of its
    // own, which start_foreground creates for the user.
    let port = free_port();
    let pid_file = f.pid_file("webapp-user/webapp-user.pid");
    let log = f.dir.path().join("log/webapp-user/webapp-user.log");
    let script = webapp_script(
        &f,
        "webapp-user",
        &webapp,
        port,
        &pid_file,
        &log,
        Some(&user.name),
    );
    assert_ok(&f.run(&script, "start"), "start as user");
    let client = read_pid(&client_file(&pid_file)).expect("client PID");
    let wrapper = read_pid(&pid_file).expect("wrapper PID");
    assert_eq!(
        uid_of(client),
        Some(user.uid),
        "the program must run as the user"
    );
    assert_eq!(uid_of(wrapper), Some(user.uid));
    for dir in [pid_file.parent().unwrap(), log.parent().unwrap()] {
        let meta = fs::symlink_metadata(dir).unwrap();
        assert!(meta.is_dir(), "{}", dir.display());
        assert_eq!(meta.uid(), user.uid, "{} is the user's", dir.display());
        assert_eq!(meta.mode() & 0o7777, 0o755, "{}", dir.display());
    }
    assert_eq!(f.run(&script, "status").code, 0);
    assert_ok(&f.run(&script, "stop"), "stop user process");
    assert!(!pid_alive(client) && !pid_alive(wrapper));
    assert_eq!(f.run(&script, "status").code, 3);

    // Directories left by a deleted account (the user re-created with another uid) are
    // handed over; another existing account's are refused.
    let piddir = pid_file.parent().unwrap();
    let chown = |uid: u32| {
        run_ok(
            Command::new("chown")
                .args(["-R", &uid.to_string()])
                .arg(piddir),
            "chown",
        );
    };
    chown(3_999_999);
    assert_ok(&f.run(&script, "start"), "start after the account changed");
    assert_eq!(fs::metadata(piddir).unwrap().uid(), user.uid);
    assert_ok(&f.run(&script, "stop"), "stop again");
    let other = UserGuard::create("nxpoth");
    chown(other.uid);
    let r = f.run(&script, "start");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("neither root nor"), "{r:?}");
    chown(user.uid);
    drop(other);

    // forceDisableUserChange: the renderer leaves out -u; the process runs as the caller.
    let pid_file = f.pid_file("webapp-caller.pid");
    let log = f.dir.path().join("log/webapp-caller.log");
    let script = webapp_script(&f, "webapp-caller", &webapp, port, &pid_file, &log, None);
    assert_ok(&f.run(&script, "start"), "start as caller");
    let client = read_pid(&client_file(&pid_file)).expect("client PID");
    // SAFETY: getuid has no preconditions.
    let me = unsafe { libc::getuid() };
    assert_eq!(uid_of(client), Some(me));
    let stop = f.run(&script, "stop");
    assert_ok(&stop, "stop caller process");
    assert_gone(client, &stop);

    // A daemonizing program started with start_daemon -u.
    let daemonize = f.daemonize_program();
    let dpid = f.pid_file("daemonize/daemonize.pid");
    let (dp, dz, un) = (
        shell_quote_path(&dpid),
        shell_quote_path(&daemonize),
        shell_quote(&user.name),
    );
    let script = f.start_stop_status(
        "daemonize",
        &format!("start_daemon -p {dp} -u {un} -n 5 {dz} {dp}"),
        &format!("killproc -p {dp} -u {un} {dz}"),
        &format!("statusproc -p {dp} -u {un} {dz}"),
    );
    assert_ok(&f.run(&script, "start"), "start_daemon -u");
    let pid = read_pid(&dpid).expect("daemon PID");
    assert_eq!(uid_of(pid), Some(user.uid));
    let nice_of = |pid: i32| -> i32 {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        stat[stat.rfind(')').unwrap() + 1..]
            .split_whitespace()
            .nth(16)
            .unwrap()
            .parse()
            .unwrap()
    };
    // `nice -n 5` adds to the niceness the test itself runs with (CI may run it niced).
    let own = nice_of(std::process::id() as i32);
    assert_eq!(nice_of(pid), (own + 5).min(19), "start_daemon -n 5");
    assert_eq!(f.run(&script, "status").code, 0);
    let stop = f.run(&script, "stop");
    assert_ok(&stop, "stop start_daemon -u");
    assert_gone(pid, &stop);
    drop(f);
}

fn spawn_sleep() -> Child {
    Command::new("sleep")
        .arg("600")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn sleep")
}

#[test]
fn reused_pid_is_not_running_and_never_signalled() {
    let mut f = fixture("initfn-reuse-");
    let webapp = install_program(&webapp_binary(), f.dir.path(), "webapp");
    let mut sleeper = spawn_sleep();
    let victim = sleeper.id() as i32;
    f.guard.pid(victim);

    let pid_file = f.run.join("webapp.pid");
    let (pf, wa) = (shell_quote_path(&pid_file), shell_quote_path(&webapp));
    let script = f.script(
        "webapp",
        "",
        &[
            ("stop", format!("killproc -p {pf} {wa}\nevaluate_retval")),
            (
                "reload",
                format!("killproc -p {pf} {wa} -HUP\nevaluate_retval"),
            ),
            ("status", format!("statusproc -p {pf} {wa}")),
            ("wrapperstatus", format!("statusproc -p {pf} daemon")),
            ("wrapperstop", format!("killproc -p {pf} daemon")),
        ],
    );
    let write_pid = || fs::write(&pid_file, format!("{victim}\n")).unwrap();

    write_pid();
    let r = f.run(&script, "status");
    assert_eq!(r.code, 3, "a PID file naming an unrelated process: {r:?}");
    assert_eq!(f.run(&script, "wrapperstatus").code, 3);
    let r = f.run(&script, "reload");
    assert_ne!(r.code, 0, "{r:?}");
    assert!(pid_alive(victim), "reload signalled an unrelated process");
    let r = f.run(&script, "stop");
    assert_ok(&r, "stop with a reused PID");
    assert!(pid_alive(victim), "stop signalled an unrelated process");
    assert!(!pid_file.exists(), "the foreign PID file is removed");
    write_pid();
    assert_eq!(f.run(&script, "wrapperstop").code, 0);
    assert!(pid_alive(victim));

    // As root, a PID file others could write is refused even for the right program.
    write_pid();
    let sleep = shell_quote("sleep");
    let r = f.shell(&format!("chmod 666 {pf}; statusproc -p {pf} {sleep}"));
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stderr.contains("refusing"), "{r:?}");
    let r = f.shell(&format!("killproc -p {pf} {sleep}"));
    assert_ne!(r.code, 0, "{r:?}");
    assert!(pid_alive(victim), "an untrusted PID file led to a signal");
    // The same file with safe permissions is trusted: the PID does run sleep.
    let r = f.shell(&format!("chmod 644 {pf}; pidofproc -p {pf} {sleep}"));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.trim(), victim.to_string());

    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    // A PID file whose process is gone: LSB status 1.
    let r = f.shell(&format!("statusproc -p {pf} {sleep}"));
    assert_eq!(r.code, 1, "{r:?}");
}

#[test]
fn term_ignoring_processes_are_killed_after_the_delay() {
    let mut f = fixture("initfn-term-");
    let stubborn = f.dir.write(
        "bin/stubborn",
        "#!/bin/bash\ntrap '' TERM\necho ignoring TERM\nwhile :; do sleep 0.05; done\n",
        0o755,
    );

    // A foreground process under daemon: the wrapper forwards TERM, the client ignores it.
    let pid_file = f.pid_file("stubborn.pid");
    let (pf, st) = (shell_quote_path(&pid_file), shell_quote_path(&stubborn));
    let script = f.start_stop_status(
        "stubborn",
        &format!("start_foreground -D daemon -p {pf} -- {st}"),
        &format!("killproc -d 0.3 -p {pf} daemon"),
        &format!("statusproc -p {pf} daemon"),
    );
    assert_ok(&f.run(&script, "start"), "start stubborn");
    let wrapper = read_pid(&pid_file).unwrap();
    let client = read_pid(&client_file(&pid_file)).unwrap();
    assert_ok(&f.run(&script, "stop"), "stop stubborn");
    assert!(!pid_alive(client), "the TERM-ignoring client survived");
    assert!(!pid_alive(wrapper));
    assert_eq!(f.run(&script, "status").code, 3);

    // A daemonizing program that ignores TERM; the delay comes from $KILLDELAY.
    let daemonize = f.daemonize_program();
    let dpid = f.pid_file("daemonize.pid");
    let (dp, dz) = (shell_quote_path(&dpid), shell_quote_path(&daemonize));
    let script = f.start_stop_status(
        "daemonize",
        &format!("start_daemon -p {dp} {dz} {dp} ignore-term"),
        &format!("killproc -p {dp} {dz}"),
        &format!("statusproc -p {dp} {dz}"),
    );
    assert_ok(&f.run(&script, "start"), "start daemonize");
    let pid = read_pid(&dpid).unwrap();
    assert_eq!(f.run(&script, "status").code, 0);
    let r = f.run_env(&script, "stop", &[("KILLDELAY", "0.3")]);
    assert_ok(&r, "stop daemonize");
    assert!(!pid_alive(pid), "the TERM-ignoring daemon survived");
    assert!(!dpid.exists());
}

#[test]
fn lsb_exit_codes_messages_and_failures() {
    let mut f = fixture("initfn-lsb-");
    // evaluate_retval prints OK/FAIL and returns the status it evaluated.
    let r =
        f.shell("(exit 3); evaluate_retval; echo \"rc=$?\"; true; evaluate_retval; echo \"rc=$?\"");
    assert_eq!(r.stdout, "FAIL\nrc=3\nOK\nrc=0\n");
    let r = f.shell(
        "log_info_msg 'a b'; log_success_msg ok; log_failure_msg bad; log_warning_msg careful",
    );
    assert_eq!(
        r.stdout, "a b\nok\nbad\ncareful\n",
        "plain text when not on a terminal"
    );

    // A start whose program fails makes the activity fail.
    let failing = f.dir.write(
        "bin/failing",
        "#!/bin/bash\necho failing >&2\nexit 3\n",
        0o755,
    );
    let pid_file = f.run.join("failing.pid");
    let script = f.script(
        "failing",
        "",
        &[(
            "start",
            format!(
                "start_daemon -p {} {}\nevaluate_retval",
                shell_quote_path(&pid_file),
                shell_quote_path(&failing)
            ),
        )],
    );
    let r = f.run(&script, "start");
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("FAIL"), "{r:?}");

    // A foreground program that dies right away: start or readiness fails early with
    // the "not running" diagnosis (not the timeout).
    let dying = f
        .dir
        .write("bin/dying", "#!/bin/bash\nsleep 0.2\nexit 1\n", 0o755);
    let dpid = f.pid_file("dying.pid");
    let port = free_port();
    let r = f.shell(&format!(
        "start_foreground -D daemon -p {pf} -- {dy} && wait_ready -p {pf} -t 60 -P {port}",
        pf = shell_quote_path(&dpid),
        dy = shell_quote_path(&dying)
    ));
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("not running") || r.stderr.contains("exited"),
        "{r:?}"
    );

    // A missing program is a clear error, not a hang.
    let r = f.shell("start_daemon /nonexistent/program");
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("/nonexistent/program"), "{r:?}");

    // Bad arguments: each public function names itself, the option and what is wrong,
    // and returns 2 (4, "status unknown", for the status functions); one option parser
    // serves them all.
    for (call, code, message) in [
        ("killproc -x foo", 2, "killproc: unknown option -x"),
        (
            "start_daemon -p",
            2,
            "start_daemon: option -p needs an argument",
        ),
        ("start_daemon -f -n 5", 2, "usage: start_daemon [-f]"),
        (
            "start_foreground -q -- x",
            2,
            "start_foreground: unknown option -q",
        ),
        ("wait_ready -z", 2, "wait_ready: unknown option -z"),
        ("pidofproc -p", 4, "pidofproc: option -p needs an argument"),
        ("statusproc -x foo", 4, "statusproc: unknown option -x"),
    ] {
        let r = f.shell(call);
        assert_eq!(r.code, code, "{call}: {r:?}");
        assert!(r.stderr.contains(message), "{call}: {r:?}");
    }
    let r = f.shell("start_daemon -f -p /nonexistent/x.pid -- /nonexistent/program a b");
    assert!(
        r.stderr.contains("/nonexistent/program"),
        "options, --, PROGRAM: {r:?}"
    );
    assert_eq!(f.shell("killproc -d soon foo").code, 2);
    assert_eq!(f.shell("killproc foo -NOSUCHSIGNAL").code, 2);
    // Nothing runs as a user that does not exist (any more): stopping succeeds.
    let gone = "-p /nonexistent/x.pid -u no-such-user-here foo";
    assert_eq!(f.shell(&format!("killproc {gone}")).code, 0);
    assert_eq!(f.shell(&format!("killproc {gone} HUP")).code, 7);
    assert_eq!(f.shell(&format!("statusproc {gone}")).code, 3);
    assert_eq!(f.shell(&format!("pidofproc {gone}")).code, 3);
    // Only the account database's "not found" counts: a look-up that fails for a user
    // who exists (here `id` fails for everyone) never makes killproc claim success, nor
    // does a missing getent.
    let fake = f.dir.mkdir("fakebin", 0o755);
    f.dir.write("fakebin/id", "#!/bin/sh\nexit 1\n", 0o755);
    let failing_id = format!("PATH={}:\"$PATH\"", shell_quote_path(&fake));
    for call in [
        "killproc -p /nonexistent/x.pid -u root foo",
        "killproc -u root foo HUP",
    ] {
        let r = f.shell(&format!("{failing_id} {call}"));
        assert_eq!(r.code, 1, "{call}: {r:?}");
        assert!(r.stderr.contains("could not be looked up"), "{r:?}");
    }
    let r = f.shell(&format!("PATH={} killproc {gone}", shell_quote_path(&fake)));
    assert_eq!(r.code, 1, "without getent: {r:?}");

    // Without -p: the default PID file in the runtime directory, then a scan by
    // executable (stopping the program that has no PID file).
    let mut sleeper = spawn_sleep();
    f.guard.pid(sleeper.id() as i32);
    let r = f.shell(&format!(
        "cp /usr/bin/sleep {d}/mysleep; {d}/mysleep 600 & echo $! > {d}/mysleep.bgpid",
        d = shell_quote_path(f.dir.path())
    ));
    assert_ok(&r, "spawn a private sleep");
    let own = read_pid(&f.dir.path().join("mysleep.bgpid")).unwrap();
    f.guard.pid(own);
    let prog = shell_quote_path(&f.dir.path().join("mysleep"));
    let r = f.shell(&format!("pidofproc {prog}"));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.trim(), own.to_string());
    let r = f.shell(&format!("killproc {prog}"));
    assert_ok(&r, "killproc without PID file");
    assert!(!pid_alive(own));
    assert!(
        pid_alive(sleeper.id() as i32),
        "another program's process was touched"
    );
    assert_eq!(f.shell(&format!("statusproc {prog}")).code, 3);

    // start_daemon is idempotent; -f starts another copy anyway.
    let daemonize = f.daemonize_program();
    let fpid = f.pid_file("forced.pid");
    let start = format!(
        "start_daemon -p {fp} {dz} {fp}",
        fp = shell_quote_path(&fpid),
        dz = shell_quote_path(&daemonize)
    );
    assert_ok(&f.shell(&start), "first start_daemon");
    let first = read_pid(&fpid).unwrap();
    assert_ok(&f.shell(&start), "second start_daemon");
    assert_eq!(read_pid(&fpid), Some(first), "no second copy without -f");
    let forced = start.replacen("start_daemon", "start_daemon -f", 1);
    assert_ok(&f.shell(&forced), "start_daemon -f");
    let second = read_pid(&fpid).unwrap();
    assert_ne!(second, first);
    assert!(pid_alive(first) && pid_alive(second));
    f.guard.pid(first);

    // wait_ready with a command: passes when the command does, times out otherwise.
    let spid = f.run.join("sleeper.pid");
    fs::write(&spid, format!("{}\n", sleeper.id())).unwrap();
    let sp = shell_quote_path(&spid);
    assert_eq!(
        f.shell(&format!("wait_ready -p {sp} -t 5 -c 'test -e {sp}'"))
            .code,
        0
    );
    let r = f.shell(&format!("wait_ready -p {sp} -t 0.2 -c false"));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("not ready"), "{r:?}");

    // The library behaves the same under set -eu and an odd IFS in the caller.
    let r = f.shell(&format!(
        "set -eu\nIFS=:\nstatusproc -p {sp} sleep\nkillproc -p {pf} sleep\n\
         statusproc -p {pf} sleep || echo \"status=$?\"\necho done",
        pf = shell_quote_path(&f.run.join("nothing.pid"))
    ));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.ends_with("status=3\ndone\n"), "{r:?}");

    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
}

// ---------------------------------------------------------------------------------------
// Scripts rendered from real specs by the project's renderer.

/// Renders `spec` (with `config` merged in), writes its script to init.d/NAME and
/// returns the script and the PID file named by the manifest.
fn render_script(
    f: &Fixture,
    mut spec: serde_json::Value,
    config: serde_json::Value,
) -> (PathBuf, PathBuf) {
    let tmp = f.dir.mkdir("tmp", 0o1777);
    let log = f.dir.mkdir("log", 0o755);
    let mut cfg = serde_json::json!({
        "runtimeDir": f.run.to_str().unwrap(),
        "tmpDir": tmp.to_str().unwrap(),
        "logDir": log.to_str().unwrap(),
        "initialInstructions": format!(". {}", shell_quote_path(&f.lib)),
        "startProcessAsDaemon": "daemon",
    });
    for (k, v) in config.as_object().expect("config object") {
        cfg[k] = v.clone();
    }
    spec["config"] = cfg;
    let out = nixproc_sysvinit::render::render_json(&spec.to_string())
        .unwrap_or_else(|e| panic!("rendering {spec}: {e}"));
    let rendered: serde_json::Value = serde_json::from_str(&out).expect("render output is JSON");
    let name = rendered["name"].as_str().expect("rendered name");
    let script = rendered["script"].as_str().expect("rendered script");
    let manifest: serde_json::Value =
        serde_json::from_str(rendered["manifest"].as_str().expect("manifest text"))
            .expect("manifest is JSON");
    let pid_file = PathBuf::from(manifest["pidFile"].as_str().expect("manifest pidFile"));
    (
        f.dir.write(&format!("init.d/{name}"), script, 0o755),
        pid_file,
    )
}

#[test]
fn rendered_nginx_script_lifecycle() {
    require_nginx();
    let mut f = fixture("initfn-rnginx-");
    let port = free_port();
    let prefix = f.dir.mkdir("nginx", 0o755);
    fs::create_dir_all(prefix.join("tmp")).unwrap();
    // The renderer derives the PID file: runtimeDir/nginx.pid.
    let pid_file = f.pid_file("nginx.pid");
    let conf = f.dir.write(
        "nginx/nginx.conf",
        &nginx_config(&prefix, &pid_file, port, "rendered"),
        0o644,
    );
    let (script, manifest_pid) = render_script(
        &f,
        serde_json::json!({
            "name": "nginx",
            "description": "Nginx test server",
            "initialize": format!("mkdir -p {}/logs", shell_quote_path(&prefix)),
            "process": NGINX,
            "args": ["-c", conf.to_str().unwrap(), "-p", prefix.to_str().unwrap()],
            "runlevels": [3, 4, 5],
            "readiness": { "tcpPort": port, "timeout": 20 },
        }),
        serde_json::json!({}),
    );
    assert_eq!(manifest_pid, pid_file);

    let r = f.run(&script, "start");
    assert_ok(&r, "rendered start");
    assert!(r.stdout.contains("OK"), "{r:?}");
    let (_, body) = http_get(port, "/").expect("nginx is ready when start returns");
    assert_eq!(body, "rendered\n");
    let master = read_pid(&pid_file).unwrap();
    assert_eq!(f.run(&script, "status").code, 0);
    assert_ok(&f.run(&script, "start"), "second rendered start");
    assert_eq!(nginx_masters(&conf), vec![master]);

    fs::write(&conf, nginx_config(&prefix, &pid_file, port, "reloaded")).unwrap();
    assert_ok(&f.run(&script, "reload"), "rendered reload");
    assert!(wait_until(Duration::from_secs(10), || {
        matches!(http_get(port, "/"), Ok((_, b)) if b == "reloaded\n")
    }));
    assert_eq!(read_pid(&pid_file), Some(master));

    // restart: stop returns when nginx is gone, start when it is ready again.
    assert_ok(&f.run(&script, "restart"), "rendered restart");
    let new_master = read_pid(&pid_file).expect("PID file after restart");
    assert_ne!(new_master, master);
    assert!(!pid_alive(master));
    assert_eq!(nginx_masters(&conf), vec![new_master]);
    assert!(http_get(port, "/").is_ok());

    assert_ok(&f.run(&script, "stop"), "rendered stop");
    assert!(!pid_alive(new_master));
    assert!(pids_with_cmdline(conf.to_str().unwrap()).is_empty());
    assert_eq!(f.run(&script, "status").code, 3);
    assert_ok(&f.run(&script, "stop"), "second rendered stop");
    assert_eq!(f.run(&script, "bogus").code, 2, "unknown activity");
}

#[test]
fn rendered_webapp_instances_and_users() {
    let mut f = fixture("initfn-rwebapp-");
    let webapp = install_program(&webapp_binary(), f.dir.path(), "webapp");
    let user = UserGuard::create("nxprend");
    let webapp_spec = |instance: &str, port: u16, user: Option<&str>| {
        let mut spec = serde_json::json!({
            "instanceName": instance,
            "process": webapp.to_str().unwrap(),
            "processIsDaemon": false,
            "runlevels": [3, 4, 5],
            "environment": { "PORT": port, "INSTANCE": instance },
            "readiness": { "tcpPort": port, "timeout": 20 },
        });
        if let Some(u) = user {
            spec["user"] = serde_json::json!(u);
        }
        spec
    };

    // Two instances, one of them as a user.
    let (port1, port2) = (free_port(), free_port());
    let (s1, pid1) = render_script(
        &f,
        webapp_spec("webapp1", port1, None),
        serde_json::json!({}),
    );
    let (s2, pid2) = render_script(
        &f,
        webapp_spec("webapp2", port2, Some(&user.name)),
        serde_json::json!({}),
    );
    assert_eq!(pid1, f.run.join("webapp1.pid"));
    assert_eq!(
        pid2,
        f.run.join("webapp2/webapp2.pid"),
        "user processes keep PID files in a directory of their own"
    );
    f.guard.pid_file(&pid1).pid_file(&pid2);

    assert_ok(&f.run(&s1, "start"), "start webapp1");
    assert_ok(&f.run(&s2, "start"), "start webapp2");
    let (_, b1) = http_get(port1, "/").expect("webapp1 is ready when start returns");
    let (_, b2) = http_get(port2, "/").expect("webapp2 is ready when start returns");
    assert!(b1.contains("instance=webapp1") && b2.contains("instance=webapp2"));
    let c1 = read_pid(&client_file(&pid1)).unwrap();
    let c2 = read_pid(&client_file(&pid2)).unwrap();
    assert_eq!(uid_of(c1), Some(0));
    assert_eq!(uid_of(c2), Some(user.uid), "webapp2 runs as its user");
    assert_eq!(f.run(&s1, "status").code, 0);
    assert_eq!(f.run(&s2, "status").code, 0);

    assert_ok(&f.run(&s1, "stop"), "stop webapp1");
    assert!(!pid_alive(c1) && port_closed(port1));
    assert_eq!(f.run(&s1, "status").code, 3);
    assert_eq!(
        f.run(&s2, "status").code,
        0,
        "webapp2 is independent of webapp1"
    );
    assert!(http_get(port2, "/").is_ok());

    // restart of webapp2: a new client, serving again when restart returns.
    assert_ok(&f.run(&s2, "restart"), "restart webapp2");
    let c2b = read_pid(&client_file(&pid2)).unwrap();
    assert_ne!(c2, c2b);
    assert!(!pid_alive(c2));
    assert!(http_get(port2, "/").is_ok());
    assert_ok(&f.run(&s2, "stop"), "stop webapp2");
    assert!(!pid_alive(c2b) && port_closed(port2));

    // forceDisableUserChange: the same spec with a user runs as the caller.
    let port3 = free_port();
    let (s3, pid3) = render_script(
        &f,
        webapp_spec("webapp3", port3, Some(&user.name)),
        serde_json::json!({ "forceDisableUserChange": true }),
    );
    f.guard.pid_file(&pid3);
    assert_ok(&f.run(&s3, "start"), "start webapp3");
    let c3 = read_pid(&client_file(&pid3)).unwrap();
    assert_eq!(
        uid_of(c3),
        Some(0),
        "forceDisableUserChange keeps the caller's uid"
    );
    assert_ok(&f.run(&s3, "stop"), "stop webapp3");
    assert!(!pid_alive(c3));
}

// ---------------------------------------------------------------------------------------
// The Nix package of the library.

#[test]
fn nix_package_substitutes_runtime_dir_path_and_daemon() {
    let mut f = fixture("initfn-nix-");
    let build = |run: &Path| -> PathBuf {
        let expr = format!(
            "let hp = import {repo}/nix/host-packages.nix {{ }}; in \
             import {repo}/nix/init-functions.nix {{ \
               basePackages = [ hp.coreutils hp.util-linux ]; \
               inherit (hp) stdenv daemon; \
               runtimeDir = {run}; }}",
            repo = repo_root().display(),
            run = nix_string(run.to_str().unwrap()),
        );
        let out = Command::new("nix-build")
            .args(["--no-out-link", "-E", &expr])
            .stderr(Stdio::inherit())
            .output()
            .expect("run nix-build");
        assert!(
            out.status.success(),
            "nix-build of init-functions.nix failed"
        );
        let store = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
        assert!(
            store.is_file(),
            "the package is the library file itself: {store:?}"
        );
        let text = fs::read_to_string(&store).unwrap();
        assert!(!text.contains("'@runtimeDir@'") && !text.contains("'@basePath@'"));
        store
    };

    // Values are shell-quoted: a runtime directory with a quote and a space survives.
    let odd = f.dir.mkdir("run it's", 0o755);
    let lib = build(&odd);
    let r = f.shell(&format!(
        ". {}\nprintf '%s' \"$_initfn_runtime_dir\"",
        shell_quote_path(&lib)
    ));
    assert_eq!(r.stdout, odd.to_str().unwrap(), "{r:?}");
    // daemon cannot use such a directory; start_foreground says so instead of failing
    // inside daemon.
    let r = f.shell(&format!(
        ". {}\nstart_foreground -- /bin/true",
        shell_quote_path(&lib)
    ));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("PID file paths"), "{r:?}");

    // A script sourcing the packaged library: PATH starts with the base packages, the
    // default PID file lives in runtimeDir, and the default wrapper is the packaged one.
    let run = f.dir.mkdir("pkgrun", 0o755);
    let lib = build(&run);
    let webapp = install_program(&webapp_binary(), f.dir.path(), "webapp");
    let port = free_port();
    let pid_file = run.join("webapp.pid");
    f.guard.pid_file(&pid_file);
    let script = f.dir.write(
        "packaged.sh",
        &format!(
            "#!/bin/bash\n. {lib}\nexport PORT={port}\n\
             case \"$1\" in\n\
             path) printf '%s\\n' \"$PATH\" ;;\n\
             start) start_foreground -- {wa} && wait_ready -p {pf} -P {port} ;;\n\
             status) statusproc -p {pf} daemon ;;\n\
             stop) killproc -p {pf} daemon ;;\n\
             esac\n",
            lib = shell_quote_path(&lib),
            wa = shell_quote_path(&webapp),
            pf = shell_quote_path(&pid_file),
        ),
        0o755,
    );
    let r = f.run(&script, "path");
    let first = r.stdout.split(':').next().unwrap_or_default().to_string();
    assert!(
        first.starts_with("/nix/store/") && first.ends_with("-coreutils/bin"),
        "{r:?}"
    );
    assert_ok(&f.run(&script, "start"), "start with the packaged library");
    let wrapper = read_pid(&pid_file).expect("PID file in the substituted runtimeDir");
    let argv0 = fs::read(format!("/proc/{wrapper}/cmdline")).unwrap();
    let argv0 = String::from_utf8_lossy(argv0.split(|b| *b == 0).next().unwrap()).to_string();
    assert!(
        argv0.starts_with("/nix/store/") && argv0.ends_with("-daemon/bin/daemon"),
        "the wrapper is the packaged daemon: {argv0}"
    );
    assert!(http_get(port, "/").is_ok());
    assert_eq!(f.run(&script, "status").code, 0);
    assert_ok(&f.run(&script, "stop"), "stop with the packaged library");
    assert!(!pid_alive(wrapper));
    assert_eq!(f.run(&script, "status").code, 3);
}

/// A Nix string literal holding `s`.
fn nix_string(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace("${", "\\${");
    format!("\"{escaped}\"")
}

// ---------------------------------------------------------------------------------------
// Foreground processes that cannot start fail at once, with the reason.

#[test]
fn a_foreground_program_that_exits_or_lacks_its_directory_fails_at_once() {
    let mut f = fixture("initfn-fgfail-");
    let env = [("STARTTIMEOUT", "30")];
    let failing = f.dir.write(
        "bin/failing",
        "#!/bin/bash\necho 'cannot open the configuration' >&2\nexit 1\n",
        0o755,
    );
    let falsy = install_program(Path::new("/bin/false"), f.dir.path(), "falsy");
    let sleeper = install_program(Path::new("/bin/sleep"), f.dir.path(), "sleeper");
    let log = f.dir.path().join("log/fg.log");
    let cases = [
        (falsy, String::new(), "exited during start"),
        (failing, String::new(), "cannot open the configuration"),
        (
            sleeper,
            format!(
                "-C {} ",
                shell_quote_path(&f.dir.path().join("no/such/dir"))
            ),
            "no/such/dir of sleeper does not exist",
        ),
    ];
    for (i, (program, extra, reason)) in cases.iter().enumerate() {
        let pid_file = f.pid_file(format!("fg{i}.pid"));
        let script = f.script(
            &format!("fg{i}"),
            "",
            &[(
                "start",
                format!(
                    "start_foreground -D daemon -p {} -o {} {extra}-- {} 600\nevaluate_retval",
                    shell_quote_path(&pid_file),
                    shell_quote_path(&log),
                    shell_quote_path(program)
                ),
            )],
        );
        let started = std::time::Instant::now();
        let r = f.run_env(&script, "start", &env);
        let took = started.elapsed();
        assert_eq!(r.code, 1, "{}: {r:?}", program.display());
        assert!(r.stdout.contains("FAIL"), "{r:?}");
        assert!(r.stderr.contains(reason), "want {reason:?}: {r:?}");
        assert!(
            took < Duration::from_secs(10),
            "{} failed only after {took:?} (STARTTIMEOUT=30)",
            program.display()
        );
        assert!(!pid_file.exists(), "no PID file is left: {r:?}");
    }
}
