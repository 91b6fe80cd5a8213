//! `runactivity confirm`: whether a deployment is healthy, asked again and again until it
//! is or a deadline passes. A fleet run with `--confirm-timeout` asks every host this
//! after they all switched, and rolls the fleet back when a host does not confirm.
//!
//! A deployment is confirmed when every process's `status` says it runs, every TCP port a
//! process is ready on (`readiness.tcpPort`) accepts a connection, and every health check
//! (a shell command, run with `sh -c`) exits 0, all in one round.

use std::net::{TcpStream, ToSocketAddrs};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::deploy::profile::Profile;
use crate::tree::{layout, Manifest};

/// How long a round waits between its tries, and for one TCP connection.
const RETRY: Duration = Duration::from_millis(500);

/// What confirming a deployment found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    /// Whether one round passed every check before the deadline.
    pub confirmed: bool,
    /// Rounds tried.
    pub rounds: u32,
    /// What failed in the last round (empty when confirmed).
    pub failures: Vec<String>,
}

/// Checks `profile` and `health_checks` until one round passes every check or `timeout`
/// has passed (at least one round is always made).
pub fn confirm(profile: &Profile, health_checks: &[String], timeout: Duration) -> Confirmation {
    let deadline = Instant::now() + timeout;
    let mut rounds = 0;
    loop {
        rounds += 1;
        let failures = round(profile, health_checks);
        if failures.is_empty() {
            return Confirmation {
                confirmed: true,
                rounds,
                failures,
            };
        }
        if Instant::now() + RETRY > deadline {
            return Confirmation {
                confirmed: false,
                rounds,
                failures,
            };
        }
        std::thread::sleep(RETRY);
    }
}

/// One round of checks: what failed.
fn round(profile: &Profile, health_checks: &[String]) -> Vec<String> {
    let mut failures = Vec::new();
    let order = profile
        .start_order()
        .unwrap_or_else(|_| profile.processes.keys().cloned().collect());
    for name in order {
        let mut status = Command::new(&profile.processes[&name].script);
        status.arg("status");
        if let Err(why) = succeeds(&mut status) {
            failures.push(format!("{name}: status {why}"));
        }
        if let Some((host, port)) = tcp_readiness(profile, &name) {
            if !accepts(&host, port) {
                failures.push(format!(
                    "{name}: nothing accepts connections on {host}:{port}"
                ));
            }
        }
    }
    for check in health_checks {
        let mut sh = Command::new("sh");
        sh.args(["-c", check]);
        if let Err(why) = succeeds(&mut sh) {
            failures.push(format!("health check `{check}`: {why}"));
        }
    }
    failures
}

/// Runs `command` without input or output; how it failed, if it did.
fn succeeds(command: &mut Command) -> Result<(), String> {
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(crate::deploy::scripts::spawn::describe_status(s)),
        Err(e) => Err(format!("cannot run it: {e}")),
    }
}

/// The TCP port process `name` is ready on, from its manifest.
fn tcp_readiness(profile: &Profile, name: &str) -> Option<(String, u16)> {
    let path = profile.root.as_ref()?.join(layout::manifest_path(name));
    let manifest = Manifest::from_json(&std::fs::read_to_string(path).ok()?).ok()?;
    let readiness = manifest.readiness?;
    let port = readiness.tcp_port?;
    Some((
        readiness.tcp_host.unwrap_or_else(|| "127.0.0.1".into()),
        port,
    ))
}

/// Whether `host:port` accepts a TCP connection.
fn accepts(host: &str, port: u16) -> bool {
    let Ok(addresses) = (host, port).to_socket_addrs() else {
        return false;
    };
    addresses
        .into_iter()
        .any(|a| TcpStream::connect_timeout(&a, RETRY).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_checks_pass_or_say_what_failed() {
        let empty = Profile::empty(3);
        let ok = confirm(&empty, &["true".into()], Duration::ZERO);
        assert_eq!((ok.confirmed, ok.rounds), (true, 1));
        let bad = confirm(
            &empty,
            &["true".into(), "exit 3".into()],
            Duration::from_millis(600),
        );
        assert!(!bad.confirmed);
        assert!(bad.rounds >= 1);
        assert_eq!(bad.failures, ["health check `exit 3`: exit 3"]);
    }

    #[test]
    fn a_check_that_comes_good_is_confirmed_within_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let flag = dir.path().join("flag");
        let check = format!("test -e '{}'", flag.display());
        let writer = {
            let flag = flag.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(700));
                std::fs::write(flag, "").unwrap();
            })
        };
        let result = confirm(&Profile::empty(3), &[check], Duration::from_secs(20));
        writer.join().unwrap();
        assert!(result.confirmed && result.rounds >= 2, "{result:?}");
    }
}
