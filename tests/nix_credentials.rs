//! Privileged credentials through Nix: `createSystemVInitScript` and
//! `createCredentials` refuse them without `allowPrivilegedCredentials = true`, and
//! with it write the line the switch tool requires. (Build-time render path; the plugin
//! runs the same `spec::parse`, see the plugin tests.)

use std::path::{Path, PathBuf};
use std::process::Command;

/// `nix-build -E EXPR` with this build's render tool; stdout or stderr.
fn build(expr: &str) -> Result<PathBuf, String> {
    let bin = Path::new(env!("CARGO_BIN_EXE_nixproc-sysvinit-render"))
        .parent()
        .expect("the binary has a directory");
    let out = Command::new("nix-build")
        .args(["--option", "substituters", "", "--no-out-link", "-E", expr])
        .env("NIXPROC_SYSVINIT_BIN", bin)
        .output()
        .expect("run nix-build");
    if out.status.success() {
        Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// An expression calling `createSystemVInitScript` (`script`) or `createCredentials`
/// (`credentials`) on `args`, without the plugin.
fn expr(function: &str, args: &str) -> String {
    format!(
        "let pkgs = import {root}/nix/host-packages.nix {{ }}; \
         script = import {root}/nix/create-sysvinit-script.nix {{ inherit (pkgs) stdenv writeTextFile daemon; usePlugin = false; }}; \
         credentials = import {root}/nix/create-credentials.nix {{ inherit (pkgs) stdenv; usePlugin = false; }}; \
         in {function} {args}",
        root = env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn privileged_credentials_are_refused_without_the_opt_in_and_marked_with_it() {
    let process = |opt_in: &str| {
        expr(
            "script",
            &format!(
                "{{ name = \"nxpriv\"; process = \"/bin/true\"; {opt_in} \
                 credentials.users.nxpriv = {{ extraGroups = [ \"sudo\" ]; }}; }}"
            ),
        )
    };
    let err = build(&process("")).expect_err("privileged credentials were accepted");
    assert!(
        err.contains("process 'nxpriv': attribute 'credentials.users.nxpriv.extraGroups' puts user 'nxpriv' in the privileged group 'sudo'; if that is intended, set 'allowPrivilegedCredentials = true' on the process"),
        "{err}"
    );
    let out = build(&process("allowPrivilegedCredentials = true;")).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("dysnomia-support/users/nxpriv")).unwrap(),
        "allowPrivilegedCredentials='1'\nextraGroups='sudo'\n"
    );

    let accounts = |opt_in: &str| {
        expr(
            "credentials",
            &format!("{{ {opt_in} groups.nxpriv = {{ gid = 0; }}; }}"),
        )
    };
    let err = build(&accounts("")).expect_err("gid 0 was accepted");
    assert!(
        err.contains("attribute 'credentials.groups.nxpriv.gid' gives group 'nxpriv' gid 0 (root's group); if that is intended, set 'allowPrivilegedCredentials = true'"),
        "{err}"
    );
    let out = build(&accounts("allowPrivilegedCredentials = true;")).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("dysnomia-support/groups/nxpriv")).unwrap(),
        "allowPrivilegedCredentials='1'\ngid='0'\n"
    );
}
