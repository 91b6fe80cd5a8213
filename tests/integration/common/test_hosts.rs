//! `scripts/test-hosts`: hosts in network namespaces of their own, each with its own
//! store, /etc and SSH server, made and removed by the tests.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `scripts/test-hosts` (see its header), its standard input closed.
pub fn test_hosts_script() -> Command {
    let mut cmd = Command::new(super::repo_root().join("scripts/test-hosts"));
    cmd.stdin(Stdio::null());
    cmd
}

/// `test-hosts COMMAND DIR ARGS...` on the hosts of `dir`, which must succeed; its
/// output, trimmed.
pub fn test_hosts_call(dir: &Path, command: &str, args: &[&str]) -> String {
    let mut cmd = test_hosts_script();
    cmd.arg(command).arg(dir).args(args);
    super::stdout_of(&mut cmd, &format!("test-hosts {command} {args:?}"))
        .trim()
        .to_string()
}

/// `args` run inside host `name` of the hosts of `dir`.
pub fn test_hosts_on(dir: &Path, name: &str, args: &[&str]) -> Output {
    test_hosts_script()
        .arg("on")
        .arg(dir)
        .arg(name)
        .args(args)
        .output()
        .expect("run test-hosts on")
}
