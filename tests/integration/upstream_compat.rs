//! nix-processmgmt models as their users write them: a model in the shape of upstream's
//! `examples/webapps-sysvinit` (tests/fixtures/upstream-webapps, with `<nixpkgs>` the
//! stand-in of tests/fixtures/nixpkgs) builds on both render paths and deploys through
//! the switch tool, and upstream's arguments and spellings (tests/fixtures/
//! upstream-spellings) mean what they mean upstream.
//!
//! Like `nix_profiles`, these tests need `nix-build` and the plugin (`scripts/setup.sh`).

use crate::common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::nixbuild::{build_profile_with_env, nix_with_env, stand_in_nixpkgs, Via, BOTH};
use common::repo_root;
use common::{assert_succeeded, http_get_host, TestDir};

fn fixture(rel: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(rel)
}

fn nix_path() -> String {
    format!("nixpkgs={}", stand_in_nixpkgs().display())
}

/// Builds `model` with the stand-in nixpkgs as `<nixpkgs>`.
fn build(via: Via, model: &Path) -> PathBuf {
    build_profile_with_env(via, model, &[], &[("NIX_PATH", &nix_path())])
        .unwrap_or_else(|e| panic!("{} ({via:?}):\n{e}", model.display()))
}

fn read(profile: &Path, rel: &str) -> String {
    fs::read_to_string(profile.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The `S`/`K` entries of `etc/rc.d/rcN.d`, sorted; empty when the directory is absent.
fn links(profile: &Path, runlevel: u8) -> Vec<String> {
    let dir = profile.join(format!("etc/rc.d/rc{runlevel}.d"));
    let mut names: Vec<String> = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

fn scripts(profile: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = fs::read_dir(profile.join("etc/rc.d/init.d"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Upstream's example, both models, both render paths: the same scripts, webapps
/// before the nginx that proxies them, every account, and `<nixpkgs>` as the package set.
#[test]
fn upstream_webapps_example_builds_on_both_render_paths() {
    for (model, webapps, proxies) in [
        ("processes.nix", vec!["webapp"], vec!["nginx"]),
        (
            "processes-advanced.nix",
            vec![
                "webapp1", "webapp2", "webapp3", "webapp4", "webapp5", "webapp6",
            ],
            vec!["nginx", "nginx2"],
        ),
    ] {
        let model = fixture("upstream-webapps").join(model);
        let profiles: Vec<PathBuf> = BOTH.iter().map(|via| build(*via, &model)).collect();
        assert_eq!(
            scripts(&profiles[0]),
            scripts(&profiles[1]),
            "{}: the two render paths differ",
            model.display()
        );
        for profile in &profiles {
            assert_eq!(
                read(profile, "share/nixproc-sysvinit/package-set").trim(),
                "model default"
            );
            let rc3 = links(profile, 3);
            for w in &webapps {
                assert!(rc3.contains(&format!("S00{w}")), "{rc3:?}");
                assert!(
                    profile
                        .join(format!("dysnomia-support/users/{w}"))
                        .is_file(),
                    "{w}'s account"
                );
                let script = read(profile, &format!("etc/rc.d/init.d/{w}"));
                assert!(
                    script.contains(&format!("\nRUN_AS={w}\n"))
                        && script.contains("-u \"$RUN_AS\""),
                    "{w} runs as its user:\n{script}"
                );
            }
            for n in &proxies {
                assert!(rc3.contains(&format!("S01{n}")), "{rc3:?}");
                assert!(links(profile, 0).contains(&format!("K98{n}")));
                let group = read(profile, &format!("dysnomia-support/groups/{n}"));
                assert!(group.is_empty() || group.contains('='), "{group}");
            }
        }
    }
}

/// The script `etc/rc.d/init.d/NAME` of profile `p` contains every one of `parts`
/// (`why` says what they show).
fn assert_script_has(p: &Path, name: &str, parts: &[&str], why: &str) {
    let script = read(p, &format!("etc/rc.d/init.d/{name}"));
    for part in parts {
        assert!(script.contains(part), "{why}: no {part:?} in:\n{script}");
    }
}

/// `supportedRunlevels`, `nice = "5"`, `postInstall`, createCredentials' `ids` and
/// `lib`, and generate-sysvinit-script.nix's createManagedProcess arguments (a daemon,
/// a foreground process, overrides as a set and as a function), on both paths.
#[test]
fn upstream_spellings_mean_what_they_mean_upstream() {
    let model = fixture("upstream-spellings/processes.nix");
    for via in BOTH {
        let p = build(via, &model);
        // supportedRunlevels = [ 2 3 4 5 ]: no links in other runlevels.
        for level in [0, 1, 6] {
            assert!(links(&p, level).is_empty(), "{via:?} rc{level}.d");
        }
        assert_eq!(links(&p, 2), ["K98cron", "K99echo", "K99worker"], "{via:?}");
        assert_eq!(links(&p, 3), ["K99echo", "S00worker", "S01cron"], "{via:?}");
        assert_eq!(links(&p, 4), ["K98cron", "S00echo", "S00worker"], "{via:?}");

        // A daemon with a user: nix-processmgmt's PID file in tmpDir.
        let worker = [
            "start_daemon -n 5 -p \"$PIDFILE\" -u \"$RUN_AS\" -s \"$SERVICE\" \"$PROGRAM\" 1000",
            "\nPROGRAM=/bin/sleep\n",
            "\nRUN_AS=worker\n",
            "\nPIDFILE=/tmp/sleep.pid\n",
        ];
        assert_script_has(
            &p,
            "worker",
            &worker,
            &format!("{via:?}: nice = \"5\" is 5"),
        );
        let doc = read(&p, "share/doc/worker");
        assert!(
            doc.starts_with("installed from /"),
            "{via:?}: postInstall ran: {doc}"
        );
        let user = read(&p, "dysnomia-support/users/worker");
        assert!(user.contains("uid='2345'"), "{via:?}: ids.uids: {user}");
        let group = read(&p, "dysnomia-support/groups/worker");
        assert!(group.contains("gid='2346'"), "{via:?}: ids.gids: {group}");

        let cron = [
            "start_daemon -p \"$PIDFILE\" -s \"$SERVICE\" \"$PROGRAM\" 2000",
            "\nPIDFILE=/var/run/sleep.pid\n",
            "\nPROGRAM=/bin/sleep\n",
        ];
        assert_script_has(
            &p,
            "cron",
            &cron,
            &format!("{via:?}: daemon and daemonArgs"),
        );
        let echo = [
            "start_foreground ",
            "-n -2 ",
            "-- \"$PROGRAM\" 3000",
            "\nPROGRAM=/bin/sleep\n",
            "export GREETING=hello",
        ];
        let why = format!("{via:?}: foregroundProcess, overrides as a function");
        assert_script_has(&p, "echo", &echo, &why);
    }
}

/// An upstream-style model whose text is `body`, in a fresh file (imports pointed at
/// this repository); returns the error of evaluating its profile on both paths.
fn errors_of(name: &str, body: &str) -> Vec<String> {
    let dir = TestDir::new(name);
    let text = format!(
        "{{ pkgs ? import <nixpkgs> {{ }}, ... }}:\nlet\n  root = {root};\nin\n{body}\n",
        root = repo_root().display()
    );
    let model = dir.write("processes.nix", &text, 0o644);
    let builder = repo_root().join("nix/build-profile.nix");
    BOTH.iter()
        .map(|via| {
            nix_with_env(
                "nix-instantiate",
                *via,
                &[
                    builder.to_str().unwrap(),
                    "--arg",
                    "exprFile",
                    model.to_str().unwrap(),
                ],
                &[("NIX_PATH", &nix_path())],
            )
            .expect_err("the model is wrong")
            .replace(model.to_str().unwrap(), "MODEL")
        })
        .collect()
}

#[test]
fn upstream_input_mistakes_are_named() {
    // Both spellings of one setting.
    for err in errors_of(
        "nixproc-upstream-both",
        "let create = import (root + \"/nix/create-sysvinit-script.nix\") {\n  \
         supportedRunLevels = [ 3 ];\n  supportedRunlevels = [ 3 ];\n};\n\
         in { a = create { name = \"a\"; process = \"/bin/true\"; }; }",
    ) {
        assert!(
            err.contains("give either supportedRunLevels or supportedRunlevels"),
            "{err}"
        );
    }
    // A misspelt createManagedProcess argument, at its line, with a suggestion.
    for err in errors_of(
        "nixproc-upstream-typo",
        "let\n  create = import (root + \"/nix/create-sysvinit-script.nix\") { };\n  \
         generate = import (root + \"/nix/generate-sysvinit-script.nix\") { createSystemVInitScript = create; };\n\
         in {\n  a = generate {\n    name = \"a\";\n    foregroundProces = \"/bin/true\";\n  };\n}",
    ) {
        assert!(
            err.contains(
                "generate-sysvinit-script (at MODEL:11): unknown argument 'foregroundProces' \
                 (did you mean 'foregroundProcess'?)"
            ),
            "{err}"
        );
    }
}

/// createCredentials with upstream's `forceDisableUserChange = true` makes no accounts.
#[test]
fn create_credentials_without_user_changes_makes_no_accounts() {
    for via in BOTH {
        let expr = format!(
            "let pkgs = import {root}/nix/host-packages.nix {{ }}; in \
             (import {root}/nix/create-credentials.nix {{ inherit (pkgs) stdenv; lib = {{ }}; \
             ids = {{ uids.shop = 4000; }}; forceDisableUserChange = true; usePlugin = {plugin}; }}) \
             {{ groups.shop = {{ }}; users.shop = {{ group = \"shop\"; }}; }}",
            root = repo_root().display(),
            plugin = via == Via::Plugin,
        );
        let out = nix_with_env("nix-build", via, &["-E", &expr], &[]).unwrap();
        assert!(
            !Path::new(&out).join("dysnomia-support").exists(),
            "{via:?}: {out} has accounts"
        );
    }
}

/// A copy of the upstream-style example next to a link to this repository's `nix/`
/// (its imports are relative), with an `ids.nix` giving its ports, as nix-processmgmt's
/// id assigner would.
fn example_copy(dir: &TestDir, webapp_port: u16, nginx_port: u16) -> PathBuf {
    let copy = dir.path().join("tests/fixtures/upstream-webapps");
    fs::create_dir_all(copy.parent().unwrap()).unwrap();
    symlink(repo_root().join("nix"), dir.path().join("nix")).unwrap();
    let status = Command::new("cp")
        .arg("-R")
        .arg(fixture("upstream-webapps"))
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    fs::write(
        copy.join("ids.nix"),
        format!(
            "{{\n  ids = {{\n    webappPorts = {{ webapp = {webapp_port}; }};\n    \
             nginxPorts = {{ nginx = {nginx_port}; }};\n  }};\n}}\n"
        ),
    )
    .unwrap();
    copy.join("processes.nix")
}

/// The advanced model's ids: six webapp ports and two nginx ports, all distinct.
fn advanced_ids(copy: &Path) -> (Vec<u16>, [u16; 2]) {
    let mut ports: Vec<u16> = Vec::new();
    while ports.len() < 8 {
        let p = common::free_port();
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    let webapps: Vec<u16> = ports[..6].to_vec();
    let nginx = [ports[6], ports[7]];
    let entries: String = webapps
        .iter()
        .enumerate()
        .map(|(i, p)| format!("webapp{} = {p}; ", i + 1))
        .collect();
    fs::write(
        copy.join("ids-advanced.nix"),
        format!(
            "{{\n  ids = {{\n    webappPorts = {{ {entries}}};\n    \
             nginxPorts = {{ nginx = {}; nginx2 = {}; }};\n  }};\n}}\n",
            nginx[0], nginx[1]
        ),
    )
    .unwrap();
    (webapps, nginx)
}

struct Deployment {
    dir: TestDir,
}

impl Deployment {
    fn switch(&self, args: &[&str]) -> Output {
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_nixproc-sysvinit-switch"));
        Command::new(&bin)
            .arg("-p")
            .arg(self.dir.path().join("profiles/upstream"))
            .arg("--state-dir")
            .arg(self.dir.path().join("state"))
            .args(["--runlevel", "3"])
            .args(args)
            .env("NIX_PATH", nix_path())
            .env("NIXPROC_SYSVINIT_BIN", bin.parent().unwrap())
            .env("NIXPROC_SYSVINIT_WEBAPP", common::webapp_binary())
            .env("NIXPROC_NIX_DIR", repo_root().join("nix"))
            .env("NIX_CONFIG", "substituters =")
            .env_remove("NIXPROC_PROCESSES")
            .output()
            .unwrap()
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        // Stop whatever is still deployed, pass or fail.
        let _ = self.switch(&["--undeploy"]);
    }
}

/// The upstream-style example deploys through the switch tool with `<nixpkgs>` from
/// NIX_PATH: nginx proxies webapp.local to the webapp (running as its own user), serves
/// the error page for other names, and everything stops on undeploy.
#[test]
fn upstream_webapps_example_deploys_through_the_switch() {
    // It makes the account nginx, as switch_assign_ids does.
    let _names = common::AccountNamesLock::take("upstream-webapps");
    let webapp_port = common::free_port();
    let nginx_port = loop {
        let p = common::free_port();
        if p != webapp_port {
            break p;
        }
    };
    let d = Deployment {
        dir: TestDir::new("nixproc-upstream-deploy"),
    };
    let model = example_copy(&d.dir, webapp_port, nginx_port);
    assert_succeeded(&d.switch(&[model.to_str().unwrap()]));

    let mut page = None;
    common::wait_until(Duration::from_secs(15), || {
        page = http_get_host(nginx_port, "webapp.local").filter(|p| p.contains("path=/"));
        page.is_some()
    });
    let page = page.expect("nginx proxies webapp.local to the webapp");
    assert!(page.contains(&format!("webapp-{webapp_port}")), "{page}");
    let other = http_get_host(nginx_port, "elsewhere.local").expect("nginx answers other names");
    assert!(other.contains("No web application is deployed"), "{other}");
    // The web application daemonized itself as its own user and wrote its PID file
    // where nix-processmgmt's convention puts it: tmpDir (sticky, world-writable).
    let pid_file = d.dir.path().join("state/tmp/webapp.pid");
    let pid = common::read_pid(&pid_file).expect("the webapp's PID file");
    assert!(common::pid_alive(pid));
    assert_eq!(
        common::uid_of(pid),
        nix_uid("webapp"),
        "the webapp runs as its user"
    );

    assert_succeeded(&d.switch(&["--undeploy"]));
    assert!(common::port_closed(nginx_port), "nginx still answers");
    assert!(
        common::wait_until(Duration::from_secs(5), || !common::pid_alive(pid)),
        "the webapp outlived its undeploy"
    );
}

/// A process with `postInstall` keeps the plugin's one-derivation profile: the profile
/// builder runs the commands (with $out the profile), and the run-time file claims that
/// catch two processes sharing a PID file are still written; likewise without the plugin.
#[test]
fn post_install_runs_in_either_kind_of_profile() {
    let dir = TestDir::new("nixproc-upstream-postinstall");
    let model = dir.write(
        "processes.nix",
        &format!(
            "{{ pkgs, ... }}:\nlet create = import {root}/nix/create-sysvinit-script.nix {{ \
             inherit (pkgs) stdenv writeTextFile daemon; }};\nin {{\n  \
             a = create {{ name = \"a\"; process = \"/bin/true\"; \
             postInstall = \"mkdir -p $out/share/doc; echo done > $out/share/doc/a\"; }};\n  \
             b = create {{ name = \"b\"; process = \"/bin/false\"; }};\n}}\n",
            root = repo_root().display()
        ),
        0o644,
    );
    for via in BOTH {
        let p = build(via, &model);
        assert_eq!(read(&p, "share/doc/a"), "done\n", "{via:?}");
        let claims = fs::read_dir(p.join("share/nixproc-sysvinit/runtime-files"))
            .unwrap()
            .count();
        assert_eq!(claims, 2, "{via:?}: the PID file claims");
    }
}

/// processes-advanced.nix (six webapps behind two nginx instances) deploys with user
/// changes disabled, as an unprivileged user would deploy it: upstream's
/// forceDisableUserChange reaches createCredentials and the nginx configuration, no
/// account is made, and each nginx proxies its own webapps by name.
#[test]
fn upstream_advanced_example_deploys_without_user_changes() {
    let d = Deployment {
        dir: TestDir::new("nixproc-upstream-advanced"),
    };
    let model = example_copy(&d.dir, 0, 0).with_file_name("processes-advanced.nix");
    let (webapps, nginx) = advanced_ids(model.parent().unwrap());
    assert_succeeded(&d.switch(&["--force-disable-user-change", model.to_str().unwrap()]));
    let profile = d.dir.path().join("profiles/upstream");
    assert!(
        !profile.join("dysnomia-support/users").exists(),
        "accounts in a profile without user changes"
    );
    // nginx serves webapp1..4, nginx2 webapp5 and webapp6.
    for (i, port) in webapps.iter().enumerate() {
        let proxy = if i < 4 { nginx[0] } else { nginx[1] };
        let host = format!("webapp{}.local", i + 1);
        let mut page = None;
        common::wait_until(Duration::from_secs(15), || {
            page = http_get_host(proxy, &host).filter(|p| p.contains("path=/"));
            page.is_some()
        });
        let page = page.unwrap_or_else(|| panic!("{host} through port {proxy}"));
        assert!(page.contains(&format!("webapp-{port}")), "{host}: {page}");
    }
    assert_succeeded(&d.switch(&["--undeploy"]));
    for port in nginx.iter().chain(&webapps) {
        assert!(common::port_closed(*port), "port {port} still answers");
    }
}

/// The uid of account `name`, if it exists.
fn nix_uid(name: &str) -> Option<u32> {
    let out = Command::new("id").args(["-u", "--", name]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}
