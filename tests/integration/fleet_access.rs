//! Which hosts a fleet run reaches and how it gets in, against real test hosts (see
//! `fleet`): `tags` and `--on`, non-root logins running the tool with sudo (without a
//! password, and with `--ask-sudo-password` typed on a pseudo-terminal), a login
//! without sudo rights, and `nixStorePath` for a host whose SSH sessions find no Nix.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::assert_succeeded;
use crate::fleet::{changes, fixture_model, host, summary, switch, TestHosts};

const SWITCH: &str = env!("CARGO_BIN_EXE_nixproc-sysvinit-switch");
const RUNACTIVITY: &str = env!("CARGO_BIN_EXE_nixproc-sysvinit-runactivity");

/// Writes a fleet file of `(name, targetHost, other attributes in Nix)` entries, each
/// deploying the fleet fixture.
fn fleet_file(hosts: &TestHosts, file: &str, entries: &[(&str, String, &str)]) -> PathBuf {
    let mut text = String::from("{\n");
    for (name, target, attributes) in entries {
        text.push_str(&format!(
            "  {name} = {{ targetHost = \"{target}\"; processes = {}; {attributes} }};\n",
            fixture_model().display()
        ));
    }
    text.push_str("}\n");
    let path = hosts.dir.path().join(file);
    std::fs::write(&path, text).expect("write the fleet file");
    path
}

/// `USER@` the host's address.
fn login(hosts: &TestHosts, user: &str, name: &str) -> String {
    format!("{user}@{}", hosts.call("address", &[name]))
}

/// The host names in a fleet summary, in order.
fn summary_hosts(summary: &serde_json::Value) -> Vec<String> {
    summary["hosts"]
        .as_array()
        .map(|hosts| {
            hosts
                .iter()
                .filter_map(|h| h["host"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The uids of the host's processes named `comm`.
fn uids_of(hosts: &TestHosts, name: &str, comm: &str) -> Vec<u32> {
    hosts
        .call("pids", &[name])
        .split_whitespace()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        })
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().next()?.parse().ok())
        })
        .collect()
}

#[test]
fn tags_and_on_select_the_hosts_of_a_run() {
    let hosts = TestHosts::up(&["web1", "web2", "db1"]);
    let file = fleet_file(
        &hosts,
        "hosts.nix",
        &[
            ("web1", hosts.target("web1"), r#"tags = [ "web" "eu" ];"#),
            ("web2", hosts.target("web2"), r#"tags = [ "web" "us" ];"#),
            ("db1", hosts.target("db1"), r#"tags = [ "db" "eu" ];"#),
        ],
    );
    let file = file.to_str().unwrap();

    let out = switch(&hosts, &["--hosts", file, "--on", "@eu", "--json"]);
    assert_succeeded(&out);
    let eu = summary(&out);
    assert_eq!(summary_hosts(&eu), ["db1", "web1"], "{eu}");
    assert_eq!(changes(&eu, "web1"), (0, 3, 0, 0), "{eu}");
    assert!(hosts.has_profile("web1") && hosts.has_profile("db1"));
    assert!(!hosts.has_profile("web2"), "web2 is not in @eu");

    // Globs, names and tags together; an activity and a listing are limited too.
    let out = hosts
        .ctl(RUNACTIVITY)
        .args(["--hosts", file, "--on", "w*2,@db", "--json", "status"])
        .output()
        .expect("run runactivity");
    let status = summary(&out);
    assert_eq!(summary_hosts(&status), ["db1", "web2"], "{status}");
    assert_eq!(host(&status, "db1")["ok"], true, "{status}");
    let out = switch(
        &hosts,
        &[
            "--hosts",
            file,
            "--on",
            "web?",
            "--list-generations",
            "--json",
        ],
    );
    assert_eq!(summary_hosts(&summary(&out)), ["web1", "web2"]);

    let out = hosts
        .ctl(RUNACTIVITY)
        .args(["--hosts", file, "--on", "@db", "logs", "-n", "1"])
        .output()
        .expect("run runactivity logs");
    assert_succeeded(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().all(|l| l.starts_with("db1: ")) && !text.is_empty(),
        "{text}"
    );
    let out = switch(&hosts, &["--hosts", file, "--on", "web2", "--json"]);
    assert_eq!(summary_hosts(&summary(&out)), ["web2"]);
    assert!(hosts.has_profile("web2"));

    // A selection matching nothing is an error naming what there is; nothing runs.
    let out = switch(&hosts, &["--hosts", file, "--on", "web1,@asia,mail*"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("@asia, mail* matches no host")
            && stderr.contains("the hosts are db1, web1, web2")
            && stderr.contains("@db, @eu, @us, @web"),
        "{stderr}"
    );
}

#[test]
fn a_non_root_login_deploys_with_sudo_and_one_without_rights_is_refused() {
    let hosts = TestHosts::up(&["viasudo", "norights"]);
    hosts.call("user", &["viasudo", "deploy", "--sudo", "nopasswd"]);
    hosts.call("user", &["norights", "deploy"]);
    let file = fleet_file(
        &hosts,
        "hosts.nix",
        &[
            (
                "viasudo",
                login(&hosts, "deploy", "viasudo"),
                "sudo = true;",
            ),
            (
                "norights",
                login(&hosts, "deploy", "norights"),
                "sudo = true;",
            ),
        ],
    );
    let out = switch(&hosts, &["--hosts", file.to_str().unwrap(), "--json"]);
    assert!(!out.status.success(), "norights must fail");
    let report = summary(&out);
    assert_eq!(changes(&report, "viasudo"), (0, 3, 0, 0), "{report}");
    // Root's deployment on the host: its profile, and nginx's master process as root.
    assert!(hosts.has_profile("viasudo"));
    assert!(hosts.request("viasudo").contains("instance=webapp"));
    assert!(
        uids_of(&hosts, "viasudo", "nginx").contains(&0),
        "{:?}",
        uids_of(&hosts, "viasudo", "nginx")
    );
    let refused = host(&report, "norights");
    let error = refused["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with(&format!(
            "host {}: sudo: the login needs a password for sudo",
            login(&hosts, "deploy", "norights")
        )),
        "{error}"
    );
    assert!(!hosts.has_profile("norights"));
    let store = hosts.on("norights", &["sh", "-c", "ls /nix/store | wc -l"]);
    assert_eq!(
        String::from_utf8_lossy(&store.stdout).trim(),
        "0",
        "nothing was copied to norights"
    );

    // --sudo on the command line does the same for --target-host.
    let out = hosts
        .ctl(RUNACTIVITY)
        .args(["--target-host", &login(&hosts, "deploy", "viasudo")])
        .args(["--sudo", "status"])
        .output()
        .expect("run runactivity");
    assert_succeeded(&out);
}

/// Runs `command` (one shell word line) in the controller's namespace on a new
/// pseudo-terminal (util-linux `script`), typing `password` once `prompt` shows; returns
/// the terminal's output and the command's status.
fn on_terminal(hosts: &TestHosts, command: &str, prompt: &str, password: &str) -> (String, bool) {
    let mut child = hosts
        .ctl("script")
        .args(["-qec", command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run script");
    let mut stdout = child.stdout.take().expect("piped");
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buffer) {
            if n == 0 || send.send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut stdin = child.stdin.take().expect("piped");
    let mut seen = Vec::new();
    let mut typed = false;
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut status = None;
    loop {
        match receive.recv_timeout(Duration::from_millis(200)) {
            Ok(chunk) => seen.extend(chunk),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(exited) = child.try_wait().expect("wait for script") {
                    status = Some(exited);
                    // What is left in the pipe.
                    while let Ok(chunk) = receive.recv_timeout(Duration::from_millis(500)) {
                        seen.extend(chunk);
                    }
                    break;
                }
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running: {}", String::from_utf8_lossy(&seen));
        }
        if !typed && String::from_utf8_lossy(&seen).contains(prompt) {
            stdin
                .write_all(format!("{password}\n").as_bytes())
                .expect("type the password");
            typed = true;
        }
    }
    assert!(typed, "no prompt: {}", String::from_utf8_lossy(&seen));
    drop(stdin);
    let status = match status {
        Some(status) => status,
        None => child.wait().expect("wait for script"),
    };
    drop(receive);
    (
        String::from_utf8_lossy(&seen).into_owned(),
        status.success(),
    )
}

#[test]
fn ask_sudo_password_reads_the_terminal_and_feeds_sudo_without_one() {
    let hosts = TestHosts::up(&["withpw", "nosudo"]);
    let password = "open sesame 7";
    hosts.call(
        "user",
        &[
            "withpw",
            "ops",
            "--password",
            password,
            "--sudo",
            "password",
        ],
    );
    hosts.call("user", &["nosudo", "ops", "--password", password]);
    let file = fleet_file(
        &hosts,
        "hosts.nix",
        &[
            ("withpw", login(&hosts, "ops", "withpw"), ""),
            ("nosudo", login(&hosts, "ops", "nosudo"), ""),
        ],
    );
    // Without the password sudo -n refuses at once, before anything is copied.
    let out = switch(
        &hosts,
        &["--hosts", file.to_str().unwrap(), "--sudo", "--json"],
    );
    let report = summary(&out);
    let error = host(&report, "withpw")["error"]
        .as_str()
        .unwrap_or_default();
    assert!(error.contains("needs a password for sudo"), "{error}");

    let wrong = format!(
        "{SWITCH} --hosts {} --json --on withpw --ask-sudo-password </dev/null",
        file.display()
    );
    let (screen, ok) = on_terminal(&hosts, &wrong, "sudo password for the hosts:", "wrong");
    assert!(
        !ok && screen.contains("sudo refused the password"),
        "{screen}"
    );
    assert!(!hosts.has_profile("withpw"));

    let command = format!(
        "{SWITCH} --hosts {} --json --ask-sudo-password </dev/null",
        file.display()
    );
    let (screen, ok) = on_terminal(&hosts, &command, "sudo password for the hosts:", password);
    assert!(!ok, "nosudo has no sudo right: {screen}");
    assert!(
        !screen.contains(password),
        "the password was shown: {screen}"
    );
    let last = screen
        .lines()
        .map(str::trim)
        .rfind(|l| l.starts_with("{\"event\":\"fleet\""))
        .unwrap_or_else(|| panic!("no summary: {screen}"));
    let report: serde_json::Value = serde_json::from_str(last).expect("a summary");
    assert_eq!(changes(&report, "withpw"), (0, 3, 0, 0), "{report}");
    assert!(hosts.request("withpw").contains("instance=webapp"));
    let error = host(&report, "nosudo")["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.contains("sudo: the login has no right to run the tool as root"),
        "{error}"
    );
    assert!(!hosts.has_profile("nosudo"));
    // The password was on no command line and in no file of the host.
    for name in ["withpw", "nosudo"] {
        let found = hosts.on(
            name,
            &["grep", "-rlF", password, "/var/log", "/tmp", "/var/lib"],
        );
        assert!(
            found.stdout.is_empty(),
            "{name}: {}",
            String::from_utf8_lossy(&found.stdout)
        );
    }

    // Without a terminal it is never read from standard input.
    // (In a session of its own: no controlling terminal.)
    let mut child = hosts
        .ctl("setsid")
        .args(["-w", SWITCH, "--hosts", file.to_str().unwrap()])
        .args(["--ask-sudo-password", "--list-generations"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the switch");
    let _ = child
        .stdin
        .take()
        .expect("piped")
        .write_all(format!("{password}\n").as_bytes());
    let out = child.wait_with_output().expect("wait");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no terminal to read the password from"),
        "{stderr}"
    );
}

#[test]
fn nix_store_path_reaches_nix_missing_from_the_ssh_path() {
    let hosts = TestHosts::up(&[]);
    hosts.add(&["--no-nix", "bare"]);
    let nix_dir = nix_bin_dir();
    let without = fleet_file(&hosts, "without.nix", &[("bare", hosts.target("bare"), "")]);
    let out = switch(&hosts, &["--hosts", without.to_str().unwrap(), "--json"]);
    let error = host(&summary(&out), "bare")["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("Nix is not installed") && error.contains("nixStorePath"),
        "{error}"
    );
    let with = fleet_file(
        &hosts,
        "with.nix",
        &[(
            "bare",
            hosts.target("bare"),
            &format!("nixStorePath = \"{}\";", nix_dir.display()),
        )],
    );
    let out = switch(&hosts, &["--hosts", with.to_str().unwrap(), "--json"]);
    assert_succeeded(&out);
    assert_eq!(changes(&summary(&out), "bare"), (0, 3, 0, 0));
    assert!(hosts.request("bare").contains("instance=webapp"));
    let out = hosts
        .ctl(RUNACTIVITY)
        .args(["--hosts", with.to_str().unwrap(), "status"])
        .output()
        .expect("run runactivity");
    assert_succeeded(&out);
    // The same directory on the command line, for --target-host.
    let out = hosts
        .ctl(RUNACTIVITY)
        .args(["--target-host", &hosts.target("bare"), "--nix-store-path"])
        .arg(&nix_dir)
        .arg("status")
        .output()
        .expect("run runactivity");
    assert_succeeded(&out);
}

/// The directory of the `nix-store` this machine runs (the hosts share its programs).
fn nix_bin_dir() -> PathBuf {
    let out: Output = Command::new("sh")
        .args(["-c", "command -v nix-store"])
        .output()
        .expect("run sh");
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    path.parent()
        .filter(|dir| dir.is_absolute())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| panic!("no nix-store on PATH ({})", path.display()))
}
