//! The target host a deployment goes to and the SSH commands that reach it (store paths
//! travel over the same connection: see `copy`).
//!
//! SSH options come from the user's SSH configuration and from `NIX_SSHOPTS`, split on
//! whitespace as Nix splits it, so `ssh`, Nix's own tools and this module agree on
//! how a host is reached. Every command runs with `BatchMode=yes`: a deployment never
//! stops to ask for a password or to accept an unknown host key.
//!
//! Failures are sorted by what the user must do about them ([`RemoteError`]): a host
//! that cannot be reached, a host key that does not match `known_hosts`, refused
//! credentials, a host without Nix, a full disk; each names the host.

use std::cell::Cell;
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::str::FromStr;
use std::sync::Arc;

use super::password::SudoPassword;
use super::{HostSpec, RemoteError};
use crate::shell::quote;

/// Where a deployment goes: `[USER@]HOST`, as `ssh` takes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetHost {
    user: Option<String>,
    host: String,
}

impl TargetHost {
    /// The host part (a name or an address).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The user part, when one was given.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }
}

impl fmt::Display for TargetHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.user {
            Some(user) => write!(f, "{user}@{}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

impl FromStr for TargetHost {
    type Err = RemoteError;

    /// Parses `[USER@]HOST`. Refused: an empty part, whitespace or control characters,
    /// and a leading `-` (which `ssh` would read as an option).
    fn from_str(given: &str) -> Result<Self, RemoteError> {
        let bad = |why: &str| RemoteError::BadTarget {
            given: given.to_string(),
            why: why.to_string(),
        };
        if given.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it contains whitespace or a control character"));
        }
        let (user, host) = match given.rsplit_once('@') {
            Some((user, host)) => (Some(user), host),
            None => (None, given),
        };
        if host.is_empty() {
            return Err(bad("the host name is empty"));
        }
        if host.starts_with('-') || user.is_some_and(|u| u.starts_with('-')) {
            return Err(bad("it starts with '-', which ssh would read as an option"));
        }
        if user.is_some_and(|u| u.is_empty() || u.contains('@')) {
            return Err(bad("write it as USER@HOST, with one '@' and a user name"));
        }
        Ok(TargetHost {
            user: user.map(str::to_string),
            host: host.to_string(),
        })
    }
}

/// The SSH options of `NIX_SSHOPTS`, split on whitespace (as Nix does).
pub fn nix_ssh_options() -> Vec<String> {
    std::env::var("NIX_SSHOPTS")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// How commands run on a host once logged in.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// Run them as root with `sudo` (`--sudo`, a host's `sudo = true;`).
    pub sudo: bool,
    /// The password `sudo -S` reads on its standard input, when the login needs one
    /// (`--ask-sudo-password`); without it sudo runs with `-n` and never asks.
    pub password: Option<Arc<SudoPassword>>,
    /// The directory of Nix's programs there, put first on the PATH of every command
    /// (`nixStorePath`).
    pub nix_bin_dir: Option<String>,
}

impl Access {
    /// The access of `--sudo` (`sudo`), `--ask-sudo-password` (`ask_password`: the
    /// password is read from the terminal now; implies sudo) and `--nix-store-path`.
    pub fn from_options(
        sudo: bool,
        ask_password: bool,
        nix_bin_dir: Option<String>,
    ) -> Result<Access, super::password::PasswordError> {
        let password = if ask_password {
            Some(Arc::new(super::password::ask(
                "sudo password for the hosts: ",
            )?))
        } else {
            None
        };
        Ok(Access {
            sudo: sudo || ask_password,
            password,
            nix_bin_dir,
        })
    }

    /// This run's access (`--sudo`, the password, `--nix-store-path`) with `host`'s own
    /// settings: its `sudo = true;` and its `nixStorePath`.
    pub fn for_host(&self, host: &HostSpec) -> Access {
        Access {
            sudo: self.sudo || self.password.is_some() || host.sudo,
            password: self.password.clone(),
            nix_bin_dir: host
                .nix_bin_dir
                .clone()
                .or_else(|| self.nix_bin_dir.clone()),
        }
    }
}

/// One job's way to a host: its commands (the probe, the closure copies, the tool's
/// run) share one SSH connection (OpenSSH's `ControlMaster`), so the host's
/// handshake is paid once. The shared connection ends when this is dropped.
pub struct Connection {
    target: TargetHost,
    /// A directory only this process can enter, holding the control socket; `None`
    /// when it could not be made (then every command connects on its own).
    control_dir: Option<PathBuf>,
    /// How commands run there.
    access: Access,
    /// Whether sudo there asks for the password (found by [`Connection::probe`]).
    sudo_asks: Cell<bool>,
}

impl Connection {
    /// A connection to `target`; nothing is contacted until a command runs.
    pub fn new(target: &TargetHost) -> Connection {
        Connection::with_access(target, Access::default())
    }

    /// A connection to `target` whose commands run as `access` says.
    pub fn with_access(target: &TargetHost, access: Access) -> Connection {
        Connection {
            target: target.clone(),
            control_dir: private_dir(),
            access,
            sudo_asks: Cell::new(false),
        }
    }

    /// The target.
    pub fn target(&self) -> &TargetHost {
        &self.target
    }

    /// The SSH options of every command: the user's (`NIX_SSHOPTS`, which win: `ssh`
    /// keeps the first value of an option), then connection sharing.
    fn options(&self) -> Vec<String> {
        let mut options = nix_ssh_options();
        if let Some(dir) = &self.control_dir {
            options.extend(
                [
                    "ControlMaster=auto".to_string(),
                    format!("ControlPath={}/%C", dir.display()),
                    "ControlPersist=60".to_string(),
                ]
                .into_iter()
                .flat_map(|o| ["-o".to_string(), o]),
            );
        }
        options
    }

    /// An `ssh` command running `argv` on the host as one remote shell command line,
    /// each word quoted so the remote shell reads it back unchanged; with `nixStorePath`
    /// that directory comes first on its PATH, with sudo it runs as root (keeping the
    /// login's PATH, the system's `sbin` directories added). Its standard input must start with [`Connection::stdin_prefix`].
    pub fn command(&self, argv: &[&str]) -> Command {
        let mut line = String::new();
        if let Some(dir) = &self.access.nix_bin_dir {
            line.push_str(&format!("PATH={}:\"$PATH\"; export PATH; ", quote(dir)));
        }
        if self.access.sudo {
            line.push_str(if self.sudo_asks.get() {
                "sudo -S -p '' -k -- "
            } else {
                "sudo -n -- "
            });
            // The login's PATH (where it finds Nix), then the system's administration
            // directories, which a login other than root often lacks.
            line.push_str("env \"PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin\" ");
        }
        line.push_str(&remote_command_line(argv));
        self.raw_command(&line)
    }

    /// An `ssh` command running the shell command line `line` on the host as it is.
    fn raw_command(&self, line: &str) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(self.options())
            .args(["-o", "BatchMode=yes", "-T", "--"])
            .arg(self.target.to_string())
            .arg(line);
        cmd
    }

    /// What every command's standard input must start with: the sudo password line when
    /// sudo asks for one there.
    pub fn stdin_prefix(&self) -> Option<Vec<u8>> {
        match &self.access.password {
            Some(password) if self.access.sudo && self.sudo_asks.get() => Some(password.line()),
            _ => None,
        }
    }

    /// Runs `cmd` (one of [`Connection::command`]'s) to completion, its output captured
    /// and `input` after the [`Connection::stdin_prefix`] on its standard input.
    pub(super) fn run_with_input(
        &self,
        cmd: &mut Command,
        input: &[u8],
    ) -> Result<Output, RemoteError> {
        let mut text = self.stdin_prefix().unwrap_or_default();
        if text.is_empty() && input.is_empty() {
            return run(&self.target, "ssh", cmd);
        }
        text.extend_from_slice(input);
        let spawn_error = |error| RemoteError::Spawn {
            host: self.target.to_string(),
            program: "ssh".into(),
            error,
        };
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        let mut stdin = child.stdin.take().expect("stdin was piped");
        // A host that went away shows in ssh's status and messages.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&text);
            text.iter_mut().for_each(|b| *b = 0);
        });
        let output = child.wait_with_output().map_err(spawn_error)?;
        let _ = writer.join();
        Ok(output)
    }

    /// Checks that the host can be reached and has Nix: runs `nix-store --version`
    /// there (with sudo as root, finding first whether sudo asks for the password, and
    /// so whether the login may use it). Nothing on the host changes.
    pub fn probe(&self) -> Result<String, RemoteError> {
        self.prepare()?;
        let output = self.output(&["nix-store", "--version"], "checking for Nix")?;
        Ok(output.trim().to_string())
    }

    /// What must run before the host's first command: with sudo and a password, whether
    /// sudo there asks for it (then every command feeds it; else none does). Nothing on
    /// the host changes.
    pub fn prepare(&self) -> Result<(), RemoteError> {
        if self.access.sudo && self.access.password.is_some() {
            let output = run(&self.target, "ssh", &mut self.raw_command("sudo -n true"))?;
            if !output.status.success() {
                let stderr = String::from_utf8_lossy(&output.stderr);
                if !stderr.contains("password is required") {
                    check(&self.target, "checking sudo", &output)?;
                }
                self.sudo_asks.set(true);
            }
        }
        Ok(())
    }

    /// Runs `argv` on the host (as [`Connection::command`]) for its standard output;
    /// a failure is classified (see [`classify`]) as a failure of `step`.
    pub fn output(&self, argv: &[&str], step: &str) -> Result<String, RemoteError> {
        let output = self.run_with_input(&mut self.command(argv), &[])?;
        check(&self.target, step, &output)?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

impl Drop for Connection {
    /// Ends the shared connection (if one was opened) and removes its directory.
    fn drop(&mut self) {
        let Some(dir) = self.control_dir.take() else {
            return;
        };
        if std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some()) {
            let _ = Command::new("ssh")
                .args(["-o", &format!("ControlPath={}/%C", dir.display())])
                .args(["-O", "exit", "--"])
                .arg(self.target.to_string())
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A new directory of mode 0700 under the temporary directory, made here (creation fails
/// rather than reuse what someone else made), for control sockets.
fn private_dir() -> Option<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "nixproc-ssh-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .ok()
        .map(|()| dir)
}

/// `argv` as one shell command line for the remote login shell.
pub fn remote_command_line(argv: &[&str]) -> String {
    argv.iter()
        .map(|word| quote(word).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` to completion, its output captured.
pub(super) fn run(
    target: &TargetHost,
    program: &str,
    cmd: &mut Command,
) -> Result<Output, RemoteError> {
    cmd.stdin(std::process::Stdio::null())
        .output()
        .map_err(|error| RemoteError::Spawn {
            host: target.to_string(),
            program: program.to_string(),
            error,
        })
}

/// Ok when `output` is a success, else the error its standard error describes.
pub(super) fn check(target: &TargetHost, step: &str, output: &Output) -> Result<(), RemoteError> {
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(classify(
        target,
        step,
        &output.status.to_string(),
        stderr.trim(),
    ))
}

/// Sorts a failed step by what its tool printed (SSH's and Nix's messages are stable
/// across their releases; anything unrecognised is [`RemoteError::Failed`]).
pub fn classify(target: &TargetHost, step: &str, status: &str, stderr: &str) -> RemoteError {
    let host = target.to_string();
    let detail = last_meaningful_line(stderr).to_string();
    let has_any = |needles: &[&str]| needles.iter().any(|needle| stderr.contains(needle));
    let sudo_refusal = SUDO_REFUSALS.iter().find(|(needles, _)| has_any(needles));
    if let Some((_, why)) = sudo_refusal {
        RemoteError::Sudo {
            host,
            why: why.to_string(),
            detail,
        }
    } else if has_any(&[
        "Host key verification failed",
        "REMOTE HOST IDENTIFICATION HAS CHANGED",
    ]) {
        RemoteError::HostKey { host, detail }
    } else if has_any(&["Permission denied (", "Too many authentication failures"]) {
        RemoteError::LoginRefused { host, detail }
    } else if has_any(UNREACHABLE) {
        RemoteError::Unreachable { host, detail }
    } else if has_any(DISK_FULL) {
        RemoteError::DiskFull { host, detail }
    } else if has_any(&["nix-store", "nix-daemon"])
        && has_any(&["not found", "No such file or directory"])
    {
        RemoteError::NoNix { host, detail }
    } else {
        RemoteError::Failed {
            host,
            step: step.to_string(),
            detail: format!("{status}: {detail}"),
        }
    }
}

/// What sudo prints when it does not run the tool, and what that means for the user.
const SUDO_REFUSALS: &[(&[&str], &str)] = &[
    (
        &["sudo: a password is required"],
        "the login needs a password for sudo (use --ask-sudo-password, or give it a \
         NOPASSWD rule there)",
    ),
    (
        &[
            "is not in the sudoers file",
            "is not allowed to execute",
            "may not run sudo",
        ],
        "the login has no right to run the tool as root with sudo there",
    ),
    (
        &[
            "incorrect password attempt",
            "no password was provided",
            "Sorry, try again",
        ],
        "sudo refused the password",
    ),
    (
        &[
            "sudo: a terminal is required",
            "sudo: sorry, you must have a tty",
        ],
        "sudo there wants a terminal (a requiretty rule or no password read on standard input)",
    ),
    (
        &["sudo: command not found", "sudo: not found"],
        "sudo is not installed there",
    ),
];

/// What SSH prints when it cannot reach the host.
const UNREACHABLE: &[&str] = &[
    "Connection refused",
    "No route to host",
    "Connection timed out",
    "Could not resolve hostname",
    "Network is unreachable",
    "Connection closed by",
    "Connection reset by",
    "port 22: Operation timed out",
];

/// What the host's tools print when its disk is full.
const DISK_FULL: &[&str] = &[
    "No space left on device",
    "Disk quota exceeded",
    // SQLite's words when Nix cannot write its store database on a full disk.
    "database or disk is full",
    "disk I/O error",
];

/// The last line of `text` that says something (SSH's banner warnings come first).
fn last_meaningful_line(text: &str) -> &str {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.chars().all(|c| c == '@'))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(text: &str) -> TargetHost {
        text.parse().expect("a valid target")
    }

    #[test]
    fn targets_parse_with_and_without_a_user() {
        let t = target("deploy@web1.example");
        assert_eq!((t.user(), t.host()), (Some("deploy"), "web1.example"));
        assert_eq!(t.to_string(), "deploy@web1.example");
        let t = target("10.0.0.2");
        assert_eq!((t.user(), t.host()), (None, "10.0.0.2"));
    }

    #[test]
    fn targets_that_ssh_would_misread_are_refused() {
        for bad in [
            "",
            "@host",
            "user@",
            "-oProxyCommand=x",
            "a@-b",
            "a b",
            "a@b@c",
            "h\n",
        ] {
            let err = bad.parse::<TargetHost>().expect_err(bad);
            assert!(
                err.to_string().starts_with("invalid target host"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn the_remote_command_line_keeps_every_word() {
        let words = ["it's $(echo no)\nz", "a b", "`id`", "\\", "\"", "~/x", "*"];
        let mut argv = vec!["printf", "[%s]"];
        argv.extend(words);
        let line = remote_command_line(&argv);
        let out = Command::new("sh").arg("-c").arg(&line).output().unwrap();
        let expected: String = words.iter().map(|w| format!("[{w}]")).collect();
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "{line}");
    }

    /// The remote shell command line of `argv` over `connection`.
    fn line_of(connection: &Connection, argv: &[&str]) -> String {
        let cmd = connection.command(argv);
        let last = cmd.get_args().last().expect("a command line");
        last.to_string_lossy().into_owned()
    }

    #[test]
    fn sudo_and_the_nix_directory_shape_the_remote_command_line() {
        let t = target("deploy@h");
        let plain = Connection::new(&t);
        assert_eq!(
            line_of(&plain, &["nix-store", "--version"]),
            "nix-store --version"
        );
        let access = Access {
            sudo: true,
            password: None,
            nix_bin_dir: Some("/opt/my nix/bin".into()),
        };
        let sudo = Connection::with_access(&t, access);
        let line = line_of(&sudo, &["nix-store", "--import"]);
        assert_eq!(
            line,
            "PATH='/opt/my nix/bin':\"$PATH\"; export PATH; sudo -n -- \
             env \"PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin\" nix-store --import"
        );
        assert_eq!(sudo.stdin_prefix(), None, "no password without one");
        // The remote shell runs it as root would see it: the directory first.
        let shown = line.replace("sudo -n -- ", "");
        let out = Command::new("sh")
            .arg("-c")
            .arg(shown.replace("nix-store --import", "printf %s \"$PATH\""))
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("/opt/my nix/bin:"));
    }

    #[test]
    fn a_host_s_settings_add_to_the_run_s() {
        let run = Access {
            sudo: false,
            password: None,
            nix_bin_dir: Some("/run/nix".into()),
        };
        let mut host = HostSpec::new("web1", target("deploy@h"));
        assert!(!run.for_host(&host).sudo);
        assert_eq!(run.for_host(&host).nix_bin_dir.as_deref(), Some("/run/nix"));
        host.sudo = true;
        host.nix_bin_dir = Some("/nix/var/nix/profiles/default/bin".into());
        let access = run.for_host(&host);
        assert!(access.sudo);
        assert_eq!(
            access.nix_bin_dir.as_deref(),
            Some("/nix/var/nix/profiles/default/bin")
        );
    }

    #[test]
    fn failures_are_sorted_by_what_the_user_must_do() {
        let t = target("root@h");
        let kind = |stderr: &str| match classify(&t, "step", "exit status: 1", stderr) {
            RemoteError::HostKey { .. } => "host key",
            RemoteError::LoginRefused { .. } => "login",
            RemoteError::Unreachable { .. } => "unreachable",
            RemoteError::DiskFull { .. } => "disk",
            RemoteError::NoNix { .. } => "no nix",
            RemoteError::Sudo { why, .. } if why.contains("password for") => "sudo password",
            RemoteError::Sudo { why, .. } if why.contains("no right") => "sudo right",
            RemoteError::Sudo { why, .. } if why.contains("refused") => "sudo refused",
            RemoteError::Failed { .. } => "other",
            e => panic!("unexpected {e}"),
        };
        assert_eq!(
            kind("@@@@\n@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @\nHost key verification failed."),
            "host key"
        );
        assert_eq!(kind("root@h: Permission denied (publickey)."), "login");
        assert_eq!(
            kind("ssh: connect to host h port 22: Connection refused"),
            "unreachable"
        );
        assert_eq!(
            kind("error: writing to file: No space left on device"),
            "disk"
        );
        // Nix 2.8's nix-store --version opens the store database on a full disk.
        assert_eq!(
            kind("error: executing SQLite statement 'pragma synchronous = normal': disk I/O error"),
            "disk"
        );
        assert_eq!(
            kind("error: SQLite database is full: database or disk is full"),
            "disk"
        );
        assert_eq!(kind("bash: line 1: nix-store: command not found"), "no nix");
        assert_eq!(kind("error: something else"), "other");
        assert_eq!(kind("sudo: a password is required"), "sudo password");
        assert_eq!(
            kind("deploy is not in the sudoers file.  This incident will be reported."),
            "sudo right"
        );
        assert_eq!(
            kind("Sorry, user deploy is not allowed to execute '/usr/bin/env nix-store' as root on h."),
            "sudo right"
        );
        assert_eq!(kind("sudo: 1 incorrect password attempt"), "sudo refused");
        assert_eq!(
            kind("env: 'nix-store': No such file or directory"),
            "no nix"
        );
    }

    #[test]
    fn messages_name_the_host_and_ssh_s_last_words() {
        let err = classify(
            &target("root@h"),
            "copying",
            "exit status: 255",
            "Warning: x\nssh: connect to host h port 22: No route to host\n",
        );
        assert_eq!(
            err.to_string(),
            "host root@h: cannot be reached: ssh: connect to host h port 22: No route to host"
        );
    }
}
