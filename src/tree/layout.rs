//! Where everything lives in a process tree and in a profile (the union of such trees).
//!
//! ```text
//! etc/rc.d/init.d/NAME                                  the script
//! etc/rc.d/rcN.d/{S,K}NNNAME -> ../init.d/NAME          start and stop links
//! dysnomia-support/{groups,users}/NAME                  credential files
//! share/nixproc-sysvinit/processes/NAME.json            the manifest
//! share/nixproc-sysvinit/runtime-files/CLAIM            claims on run-time files
//! share/nixproc-sysvinit/package-set                    the profile's package set
//! ```
//!
//! Paths here are relative to the root of the tree and use `/`; the Nix side
//! (`nix/lib.nix`, `nix/build-profile.nix`) spells the same paths, and a test checks that
//! the two agree.

/// The rc.d directory: scripts and runlevel directories.
pub const RC_DIR: &str = "etc/rc.d";

/// The directory of the scripts, relative to [`RC_DIR`].
pub const INIT_D: &str = "init.d";

/// The directory of the scripts, relative to the root.
pub const INIT_D_DIR: &str = "etc/rc.d/init.d";

/// The first letter of a start link's name.
pub const START_LINK: char = 'S';

/// The first letter of a stop link's name.
pub const STOP_LINK: char = 'K';

/// The directory of the credential files.
pub const CREDENTIALS_DIR: &str = "dysnomia-support";

/// The directory of the group credential files, relative to [`CREDENTIALS_DIR`].
pub const GROUPS: &str = "groups";

/// The directory of the user credential files, relative to [`CREDENTIALS_DIR`].
pub const USERS: &str = "users";

/// The project's own directory in a tree.
pub const SHARE_DIR: &str = "share/nixproc-sysvinit";

/// The directory of the manifests.
pub const MANIFEST_DIR: &str = "share/nixproc-sysvinit/processes";

/// The file name extension of a manifest.
pub const MANIFEST_EXTENSION: &str = "json";

/// The directory of the claims on run-time files (PID and log files).
pub const CLAIMS_DIR: &str = "share/nixproc-sysvinit/runtime-files";

/// The profile's record of the package set its model got (one line).
pub const PACKAGE_SET_FILE: &str = "share/nixproc-sysvinit/package-set";

/// The script of process `name`, relative to the root: `etc/rc.d/init.d/NAME`.
pub fn script_path(name: &str) -> String {
    format!("{INIT_D_DIR}/{name}")
}

/// The directory of the links of `runlevel`, relative to [`RC_DIR`]: `rcN.d`.
pub fn runlevel_dir(runlevel: u8) -> String {
    format!("rc{runlevel}.d")
}

/// The directory of the links of `runlevel`, relative to the root: `etc/rc.d/rcN.d`.
pub fn runlevel_path(runlevel: u8) -> String {
    format!("{RC_DIR}/{}", runlevel_dir(runlevel))
}

/// A start or stop link of process `name`, relative to [`RC_DIR`]: `rcN.d/KNNNAME`
/// with `kind` [`START_LINK`] or [`STOP_LINK`] and `number` its two-digit sequence.
///
/// `runlevel` is one digit and `number` below 100 (the renderer checks both); this is
/// called once per link of every process, so it builds the string by hand.
pub fn link_path(runlevel: u8, kind: char, number: u32, name: &str) -> String {
    debug_assert!(runlevel < 10 && number < 100);
    let mut path = String::with_capacity(8 + name.len());
    path.push_str("rc");
    path.push(char::from(b'0' + runlevel));
    path.push_str(".d/");
    path.push(kind);
    path.push(char::from(b'0' + (number / 10) as u8));
    path.push(char::from(b'0' + (number % 10) as u8));
    path.push_str(name);
    path
}

/// What every link of process `name` points to: `../init.d/NAME`.
pub fn link_target(name: &str) -> String {
    format!("../{INIT_D}/{name}")
}

/// The directory of the credential files of `kind` ([`GROUPS`] or [`USERS`]), relative
/// to the root: `dysnomia-support/KIND`.
pub fn credentials_dir(kind: &str) -> String {
    format!("{CREDENTIALS_DIR}/{kind}")
}

/// The manifest of process `name`, relative to the root:
/// `share/nixproc-sysvinit/processes/NAME.json`.
pub fn manifest_path(name: &str) -> String {
    format!("{MANIFEST_DIR}/{name}.{MANIFEST_EXTENSION}")
}

/// The directory of the logrotate configurations of the tree's processes.
pub const LOGROTATE_DIR: &str = "etc/logrotate.d";

/// The logrotate configuration of process `name`, for the log files it writes itself.
pub fn logrotate_path(name: &str) -> String {
    format!("{LOGROTATE_DIR}/{name}")
}

/// The directory of the runtime directory that holds the placed secrets, one
/// directory per process.
pub const SECRETS_DIR: &str = "nixproc-sysvinit-secrets";

/// Where the switch places secret `name` of `process`:
/// `RUNTIME_DIR/nixproc-sysvinit-secrets/PROCESS/NAME`.
pub fn secret_path(runtime_dir: &str, process: &str, name: &str) -> String {
    format!(
        "{}/{SECRETS_DIR}/{process}/{name}",
        runtime_dir.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_compose() {
        assert_eq!(script_path("web"), "etc/rc.d/init.d/web");
        assert_eq!(INIT_D_DIR, format!("{RC_DIR}/{INIT_D}"));
        assert_eq!(runlevel_path(3), "etc/rc.d/rc3.d");
        assert_eq!(link_path(3, START_LINK, 7, "web"), "rc3.d/S07web");
        assert_eq!(link_path(0, STOP_LINK, 92, "web"), "rc0.d/K92web");
        assert!(link_path(5, START_LINK, 1, "x").starts_with(&runlevel_dir(5)));
        assert_eq!(link_target("web"), "../init.d/web");
        assert_eq!(credentials_dir(USERS), "dysnomia-support/users");
        assert_eq!(
            manifest_path("web"),
            "share/nixproc-sysvinit/processes/web.json"
        );
        for dir in [MANIFEST_DIR, CLAIMS_DIR, PACKAGE_SET_FILE] {
            assert!(dir.starts_with(&format!("{SHARE_DIR}/")), "{dir}");
        }
    }
}
