//! Local users against PID files: a user who may not touch a service must not be able
//! to make root's `stop` signal another process, nor make `start` report success
//! without starting the service; the service's own user can at most point its PID
//! file at its own processes. Real processes, real throwaway users; run as root.

use crate::common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

/// Runs shell code as `user` (with its groups), from a directory everyone can enter.
fn as_user(user: &str, code: &str) -> Output {
    Command::new("runuser")
        .args(["-u", user, "--", "sh", "-c", code])
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .expect("run runuser")
}

/// Renders `spec` with the test's directories as the global settings and writes the
/// script to `dir/init.d/NAME`; returns the script and the manifest's PID file.
fn render(dir: &TestDir, lib: &Path, mut spec: serde_json::Value) -> (PathBuf, PathBuf) {
    spec["config"] = serde_json::json!({
        "runtimeDir": dir.path().join("run").to_str().unwrap(),
        "tmpDir": dir.path().join("tmp").to_str().unwrap(),
        "logDir": dir.path().join("log").to_str().unwrap(),
        "initialInstructions": format!(". {}", shell_quote_path(lib)),
        "startProcessAsDaemon": "daemon",
    });
    let rendered = nixproc_sysvinit::render::render_value(&spec).expect("the spec renders");
    let manifest: serde_json::Value =
        serde_json::from_str(&rendered.manifest).expect("the manifest is JSON");
    let pid_file = PathBuf::from(manifest["pidFile"].as_str().expect("a PID file"));
    let script = dir.write(
        &format!("init.d/{}", rendered.name),
        &rendered.script,
        0o755,
    );
    (script, pid_file)
}

/// The first PID in a file, waiting a little for it to appear.
fn wait_pid(path: &Path) -> i32 {
    let mut pid = None;
    wait_until(Duration::from_secs(10), || {
        pid = read_pid(path);
        pid.is_some()
    });
    pid.unwrap_or_else(|| panic!("no PID in {}", path.display()))
}

#[test]
fn local_users_cannot_steer_stop_or_fake_a_start() {
    assert!(is_root(), "this test creates users and must run as root");
    let dir = TestDir::new("nixproc-attack-");
    let mut guard = ProcessGuard::new();
    guard.marker(dir.path().to_str().unwrap().to_string());
    let run = dir.mkdir("run", 0o755);
    dir.mkdir("log", 0o755);
    // Like /tmp: where user processes kept their PID files before.
    let tmp = dir.mkdir("tmp", 0o1777);
    let lib = library_path(&dir.join("init-functions"), &run);
    let webapp = install_program(&webapp_binary(), dir.path(), "webapp");
    let svc = UserGuard::create("nxpsvc");
    let attacker = UserGuard::create("nxpatk");

    // Another service of root's, with a root-owned PID file: what an attacker would like
    // root's stop to kill.
    let victim_program = install_program(Path::new("/bin/sleep"), dir.path(), "victim");
    let mut victim = Command::new(&victim_program)
        .arg("600")
        .spawn()
        .expect("start the victim");
    let victim_pid = victim.id() as i32;
    guard.pid(victim_pid);
    let victim_pid_file = dir.write("run/victim.pid", &format!("{victim_pid}\n"), 0o644);

    // The attacker's decoy: the same program under its own daemon wrapper, as itself.
    let decoy_port = free_port();
    let decoy = as_user(
        &attacker.name,
        &format!(
            "PORT={decoy_port} INSTANCE=decoy daemon --unsafe --inherit --name=decoy \
             --pidfiles={} -- {}",
            shell_quote_path(&tmp),
            shell_quote_path(&webapp)
        ),
    );
    assert!(decoy.status.success(), "decoy: {decoy:?}");
    let decoy_pid = wait_pid(&tmp.join("decoy.pid"));
    assert_eq!(uid_of(decoy_pid), Some(attacker.uid));

    // The service: a foreground program run as its user.
    let port = free_port();
    let (script, pid_file) = render(
        &dir,
        &lib,
        serde_json::json!({
            "instanceName": "webapp",
            "process": webapp.to_str().unwrap(),
            "processIsDaemon": false,
            "user": svc.name,
            "environment": { "PORT": port, "INSTANCE": "webapp" },
            "readiness": { "tcpPort": port, "timeout": 20 },
        }),
    );
    guard.pid_file(&pid_file);
    assert!(
        !pid_file.starts_with(&tmp),
        "a user process's PID file is not in a world-writable directory"
    );

    // The attacker can neither plant a symbolic link to the victim's PID file nor a PID
    // file naming its decoy where the service's PID file goes.
    let plant_link = as_user(
        &attacker.name,
        &format!(
            "mkdir -p {d} 2>/dev/null; ln -s {} {}",
            shell_quote_path(&victim_pid_file),
            shell_quote_path(&pid_file),
            d = shell_quote_path(pid_file.parent().unwrap())
        ),
    );
    assert!(
        !plant_link.status.success(),
        "planted a link: {plant_link:?}"
    );
    let plant_file = as_user(
        &attacker.name,
        &format!("echo {decoy_pid} > {}", shell_quote_path(&pid_file)),
    );
    assert!(
        !plant_file.status.success(),
        "planted a PID file: {plant_file:?}"
    );
    // Files planted where such PID files used to be are irrelevant.
    let old = as_user(
        &attacker.name,
        &format!(
            "ln -s {} {}",
            shell_quote_path(&victim_pid_file),
            shell_quote_path(&tmp.join("webapp.pid"))
        ),
    );
    assert!(old.status.success(), "{old:?}");

    // start really starts the service, as its user, in directories of its user's.
    let r = run_script(dir.path(), &script, &["start"], &[]);
    assert_eq!(r.code, 0, "start: {r:?}");
    let wrapper = read_pid(&pid_file).expect("the service's PID file");
    let client = read_pid(&pid_file.with_extension("clientpid")).expect("its client");
    guard.pid(wrapper).pid(client);
    assert_eq!(
        uid_of(client),
        Some(svc.uid),
        "the service runs as its user"
    );
    let (_, body) = http_get(port, "/").expect("the service answers");
    assert!(body.contains("instance=webapp"), "{body}");
    let piddir = fs::symlink_metadata(pid_file.parent().unwrap()).unwrap();
    assert!(piddir.is_dir() && piddir.uid() == svc.uid && piddir.mode() & 0o022 == 0);
    assert_eq!(run_script(dir.path(), &script, &["status"], &[]).code, 0);

    // The service's own user points its PID file at the victim's through a link:
    // root's stop refuses it, status says it cannot tell.
    let relink = as_user(
        &svc.name,
        &format!(
            "rm -f {pf} && ln -s {} {pf}",
            shell_quote_path(&victim_pid_file),
            pf = shell_quote_path(&pid_file)
        ),
    );
    assert!(relink.status.success(), "{relink:?}");
    let r = run_script(dir.path(), &script, &["stop"], &[]);
    assert_ne!(r.code, 0, "stop through a link: {r:?}");
    assert!(r.stderr.contains("symbolic link"), "{r:?}");
    assert!(pid_alive(victim_pid), "root's stop killed another service");
    assert!(pid_alive(decoy_pid));
    let r = run_script(dir.path(), &script, &["status"], &[]);
    assert_eq!(r.code, 4, "status of a linked PID file: {r:?}");

    // A regular PID file of the user's naming root's victim or the attacker's decoy
    // (which even runs the same wrapper and program): neither runs as the service's
    // user, so neither is signalled nor counted as the service. The service itself is
    // still found, through its cgroup (or its processes' environment): status names its
    // own processes, and stop stops them.
    let mut running = Some((wrapper, client));
    for foreign in [victim_pid, decoy_pid] {
        let (wrapper, client) = running.take().unwrap_or_else(|| {
            let r = run_script(dir.path(), &script, &["start"], &[]);
            assert_eq!(r.code, 0, "start: {r:?}");
            let wrapper = read_pid(&pid_file).expect("the service's PID file");
            let client = read_pid(&pid_file.with_extension("clientpid")).expect("its client");
            guard.pid(wrapper).pid(client);
            (wrapper, client)
        });
        let rewrite = as_user(
            &svc.name,
            &format!(
                "rm -f {pf} && echo {foreign} > {pf}",
                pf = shell_quote_path(&pid_file)
            ),
        );
        assert!(rewrite.status.success(), "{rewrite:?}");
        let r = run_script(dir.path(), &script, &["status"], &[]);
        assert_eq!(r.code, 0, "status with PID {foreign}: {r:?}");
        let pids: Vec<&str> = r.stdout.split_whitespace().collect();
        assert!(
            !pids.contains(&foreign.to_string().as_str())
                && pids.contains(&client.to_string().as_str()),
            "status names the service's own processes, not {foreign}: {r:?}"
        );
        let r = run_script(dir.path(), &script, &["stop"], &[]);
        assert_eq!(r.code, 0, "stop with PID {foreign}: {r:?}");
        assert!(pid_alive(victim_pid) && pid_alive(decoy_pid), "{r:?}");
        assert!(
            !pid_alive(wrapper) && !pid_alive(client),
            "the hidden service was stopped: {r:?}"
        );
    }
    assert!(pid_alive(victim_pid) && pid_alive(decoy_pid));

    // A PID file only root can write but naming a process of another user that runs the
    // same program (a PID reused by the decoy): not the service, and never signalled.
    let stale = dir.write("run/stale.pid", &format!("{decoy_pid}\n"), 0o644);
    let check = |code: &str| {
        let snippet = dir.write(
            "snippet.sh",
            &format!("#!/bin/bash\n. {}\n{code}\n", shell_quote_path(&lib)),
            0o755,
        );
        run_script(dir.path(), &snippet, &[], &[])
    };
    let r = check(&format!(
        "statusproc -p {} daemon",
        shell_quote_path(&stale)
    ));
    assert_eq!(r.code, 3, "{r:?}");
    let r = check(&format!("killproc -p {} daemon", shell_quote_path(&stale)));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        pid_alive(decoy_pid),
        "a process of another user was signalled"
    );
    // In a sticky directory (like /tmp: nix-processmgmt's place for the PID files of
    // processes with a user) root's own PID file is trusted, a second name of it (a hard
    // link, where the kernel lets a user link others' files) is not; in a world-writable
    // directory without the sticky bit even a root-owned PID file is refused.
    let r = check(&format!(
        "cp {} {t}/victim.pid && statusproc -p {t}/victim.pid {v}",
        shell_quote_path(&victim_pid_file),
        t = shell_quote_path(&tmp),
        v = shell_quote_path(&victim_program)
    ));
    assert_eq!(r.code, 0, "{r:?}");
    let r = check(&format!(
        "ln {t}/victim.pid {t}/linked.pid && statusproc -p {t}/linked.pid {v}",
        t = shell_quote_path(&tmp),
        v = shell_quote_path(&victim_program)
    ));
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stderr.contains("hard link"), "{r:?}");
    let open = dir.mkdir("open", 0o777);
    let r = check(&format!(
        "cp {} {o}/victim.pid && statusproc -p {o}/victim.pid victim",
        shell_quote_path(&victim_pid_file),
        o = shell_quote_path(&open)
    ));
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stderr.contains("writable by group or others"), "{r:?}");
    // A PID file another user squatted in the sticky directory is refused, naming the
    // file and its owner.
    let squat = as_user(
        &attacker.name,
        &format!("echo {decoy_pid} > {t}/svc.pid", t = shell_quote_path(&tmp)),
    );
    assert!(squat.status.success(), "{squat:?}");
    let r = check(&format!(
        "statusproc -p {t}/svc.pid -u {u} {w}",
        t = shell_quote_path(&tmp),
        u = shell_quote(&svc.name),
        w = shell_quote_path(&webapp)
    ));
    assert_eq!(r.code, 4, "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "{t}/svc.pid: owned by uid {} ({})",
            attacker.uid,
            attacker.name,
            t = tmp.display()
        )),
        "{r:?}"
    );

    // A user process's directories are never made in a world-writable directory.
    let r = check(&format!(
        "start_foreground -D daemon -p {t}/svc/svc.pid -u {u} -- {w}",
        t = shell_quote_path(&tmp),
        u = shell_quote(&svc.name),
        w = shell_quote_path(&webapp)
    ));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("writable by others"), "{r:?}");
    assert!(!tmp.join("svc").exists());

    victim.kill().unwrap();
    victim.wait().unwrap();
    guard.cleanup();
    drop(attacker);
    drop(svc);
}
