//! The one place that builds the Nix commands the tools run (`nix-build`, `nix-env`,
//! `nix-store`, `nix-instantiate`).
//!
//! Every command gets the user's `--option NAME VALUE` pairs (as `nixos-rebuild`
//! passes them), with `plugin-files` first: Nix loads its plugins before it reads the
//! options that follow. And no Nix command outlives the tool: each one is killed when
//! the tool dies (a parent-death signal), so a `kill -9` of a switch never leaves a Nix
//! child behind that goes on changing things.

use std::os::unix::fs::FileTypeExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

/// `NAME VALUE` pairs given with `--option`, passed to every Nix command.
pub type NixOptions = [(String, String)];

/// The Nix option naming plugins to load; it must come before every other option.
pub const PLUGIN_FILES: &str = "plugin-files";

/// A command running `program` (a Nix tool) with `options`, `plugin-files` first, then
/// the others in the order given. The caller adds the operation and its arguments.
pub fn nix_command(program: &str, options: &NixOptions) -> Command {
    let mut cmd = Command::new(program);
    let (plugins, others): (Vec<_>, Vec<_>) =
        options.iter().partition(|(name, _)| name == PLUGIN_FILES);
    for (name, value) in plugins.into_iter().chain(others) {
        cmd.arg("--option").arg(name).arg(value);
    }
    if daemon_store_for_this_user() {
        cmd.env("NIX_REMOTE", "daemon");
    }
    die_with_parent(&mut cmd);
    cmd
}

/// Whether Nix commands must go through the Nix daemon without being told so: the
/// caller is not root (only root can write the store), set no `NIX_REMOTE` of its own,
/// and a daemon socket exists (`NIX_DAEMON_SOCKET_PATH`, else
/// `NIX_STATE_DIR/daemon-socket/socket`, by default under `/nix/var/nix`).
fn daemon_store_for_this_user() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 || std::env::var_os("NIX_REMOTE").is_some() {
        return false;
    }
    let socket = std::env::var_os("NIX_DAEMON_SOCKET_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(
                std::env::var_os("NIX_STATE_DIR").unwrap_or_else(|| "/nix/var/nix".into()),
            )
            .join("daemon-socket/socket")
        });
    std::fs::metadata(socket).is_ok_and(|m| m.file_type().is_socket())
}

/// Makes `cmd`'s process receive SIGKILL when the tool dies (by any signal, `kill -9`
/// included), so that no child of the tool outlives it. The signal follows the thread
/// that spawned the child: spawn from the main thread (as the tools do), not from a
/// short-lived worker.
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure only calls prctl, getppid and _exit, which are
    // async-signal-safe, and touches no memory shared with the parent.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before the signal was armed.
            if libc::getppid() != parent {
                libc::_exit(127);
            }
            Ok(())
        });
    }
}

/// Parses `--option` values given as a flat list `NAME VALUE NAME VALUE...` (how clap
/// collects a two-value option) into pairs.
pub fn pairs(flat: &[String]) -> Vec<(String, String)> {
    flat.chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_files_come_first_and_the_rest_keep_their_order() {
        let opts = pairs(&[
            "substituters".into(),
            "".into(),
            "plugin-files".into(),
            "/p.so".into(),
            "cores".into(),
            "2".into(),
        ]);
        let cmd = nix_command("nix-build", &opts);
        let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy()).collect();
        assert_eq!(
            args,
            [
                "--option",
                "plugin-files",
                "/p.so",
                "--option",
                "substituters",
                "",
                "--option",
                "cores",
                "2"
            ]
        );
    }
}
