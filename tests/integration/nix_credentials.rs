//! Privileged credentials through Nix: `createSystemVInitScript` and
//! `createCredentials` refuse them without `allowPrivilegedCredentials = true`, and
//! with it write the line the switch tool requires; on both render paths (the evaluator
//! plugin at evaluation time, `nixproc-sysvinit-render` at build time).

use std::path::PathBuf;
use std::process::Command;

use crate::common;

/// `nix-build -E EXPR` with this build's render tool, and the plugin when `use_plugin`;
/// the output path, or stderr.
fn build(use_plugin: bool, expr: &str) -> Result<PathBuf, String> {
    let mut cmd = Command::new("nix-build");
    if use_plugin {
        cmd.arg("--option")
            .arg("plugin-files")
            .arg(common::plugin_path());
    }
    let out = cmd
        .args(["--option", "substituters", "", "--no-out-link", "-E", expr])
        .args([
            "--arg",
            "usePlugin",
            if use_plugin { "true" } else { "false" },
        ])
        .env("NIXPROC_SYSVINIT_BIN", common::bin_dir())
        .output()
        .expect("run nix-build");
    if out.status.success() {
        Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// A function of `usePlugin` calling `createSystemVInitScript` (`script`) or
/// `createCredentials` (`credentials`) on `args`.
fn expr(function: &str, args: &str) -> String {
    format!(
        "{{ usePlugin }}: let pkgs = import {root}/nix/host-packages.nix {{ }}; \
         script = import {root}/nix/create-sysvinit-script.nix {{ inherit (pkgs) stdenv writeTextFile daemon; inherit usePlugin; }}; \
         credentials = import {root}/nix/create-credentials.nix {{ inherit (pkgs) stdenv; inherit usePlugin; }}; \
         in {function} {args}",
        root = env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn privileged_credentials_are_refused_without_the_opt_in_and_marked_with_it() {
    for use_plugin in [true, false] {
        check_both_functions(use_plugin);
    }
}

/// The checks of the test above on one render path.
fn check_both_functions(use_plugin: bool) {
    check_opt_in(
        use_plugin,
        |opt_in| {
            expr(
                "script",
                &format!(
                    "{{ name = \"nxpriv\"; process = \"/bin/true\"; {opt_in} \
                     credentials.users.nxpriv = {{ extraGroups = [ \"sudo\" ]; }}; }}"
                ),
            )
        },
        "process 'nxpriv' (at «string»:1): attribute 'credentials.users.nxpriv.extraGroups' puts user 'nxpriv' in the privileged group 'sudo'; if that is intended, set 'allowPrivilegedCredentials = true' on the process",
        ("dysnomia-support/users/nxpriv", "allowPrivilegedCredentials='1'\nextraGroups='sudo'\n"),
    );
    check_opt_in(
        use_plugin,
        |opt_in| {
            expr(
                "credentials",
                &format!("{{ {opt_in} groups.nxpriv = {{ gid = 0; }}; }}"),
            )
        },
        "attribute 'credentials.groups.nxpriv.gid' gives group 'nxpriv' gid 0 (root's group); if that is intended, set 'allowPrivilegedCredentials = true'",
        ("dysnomia-support/groups/nxpriv", "allowPrivilegedCredentials='1'\ngid='0'\n"),
    );
}

/// The expression `with_opt_in("")` (privileged credentials without the opt-in) fails to
/// build with an error containing `refusal`; `with_opt_in` of the opt-in builds, and the
/// built file `file.0` holds exactly `file.1`.
fn check_opt_in(
    use_plugin: bool,
    with_opt_in: impl Fn(&str) -> String,
    refusal: &str,
    file: (&str, &str),
) {
    let err =
        build(use_plugin, &with_opt_in("")).expect_err("privileged credentials were accepted");
    assert!(err.contains(refusal), "want: {refusal}\ngot: {err}");
    let out = build(
        use_plugin,
        &with_opt_in("allowPrivilegedCredentials = true;"),
    )
    .unwrap();
    assert_eq!(std::fs::read_to_string(out.join(file.0)).unwrap(), file.1);
}
