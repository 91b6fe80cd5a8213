//! The Nix interface, exercised with real `nix-build`s: the webapps example renders to
//! the same trees with the evaluator plugin and with the render tool, its profile orders
//! webapps before nginx, the generated nginx configuration agrees with the script, and
//! mistakes in a processes model are reported at the user's file and line.
//!
//! These tests need `nix-build` (run as root on a machine set up by `scripts/setup.sh`).
//! The plugin is found through `NIXPROC_PLUGIN`, `.nixproc/plugin-path`, or
//! `libnixproc_sysvinit_plugin.so` in the cargo target directory's `release/`.

use crate::common;

use std::collections::BTreeMap;
use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::expected::{check_error_cases, error_case_tests, update_expected};
use common::nixbuild::{build_profile, nix, Via};
use common::repo_root;
use common::{free_port, http_get, run_ok, wait_http, ProcessGuard, TestDir};

fn example(file: &str) -> PathBuf {
    repo_root().join("examples/webapps").join(file)
}

/// One entry of a tree, as a user of the tree sees it.
#[derive(Debug, PartialEq)]
enum Entry {
    Dir,
    /// Contents and whether it is executable, after resolving every link.
    File(Vec<u8>, bool),
    /// The text of the last link of the chain (`../init.d/NAME` for rc.d entries).
    Link(PathBuf),
}

/// Describes every entry under `root`: links are followed until the last one, whose
/// text is recorded, so trees that only differ in store paths compare equal.
fn snapshot(root: &Path) -> BTreeMap<String, Entry> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) {
        for entry in fs::read_dir(dir).expect("read a tree directory") {
            let entry = entry.expect("read a directory entry");
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                out.insert(rel, Entry::Dir);
                walk(root, &path, out);
            } else if meta.is_symlink() {
                // Follow absolute links (profile -> process store path); record the
                // first relative one, which is part of the rendered layout.
                let mut current = path.clone();
                let mut last = fs::read_link(&current).unwrap();
                while last.is_absolute() {
                    current = last.clone();
                    match fs::read_link(&current) {
                        Ok(next) => last = next,
                        Err(_) => break,
                    }
                }
                if last.is_absolute() {
                    let data = fs::read(&current).expect("read a linked file");
                    let exec = fs::metadata(&current).unwrap().permissions().mode() & 0o111 != 0;
                    out.insert(rel, Entry::File(data, exec));
                } else {
                    assert!(
                        current.parent().unwrap().join(&last).exists(),
                        "{} dangles",
                        path.display()
                    );
                    out.insert(rel, Entry::Link(last));
                }
            } else {
                let data = fs::read(&path).unwrap();
                out.insert(
                    rel,
                    Entry::File(data, meta.permissions().mode() & 0o111 != 0),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn assert_same_trees(a: &Path, b: &Path) {
    let (sa, sb) = (snapshot(a), snapshot(b));
    let names_a: Vec<&String> = sa.keys().collect();
    let names_b: Vec<&String> = sb.keys().collect();
    assert_eq!(
        names_a,
        names_b,
        "{} and {} hold different entries",
        a.display(),
        b.display()
    );
    for (name, entry) in &sa {
        assert!(
            entry == &sb[name],
            "{name} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
    let diff = Command::new("diff")
        .arg("-r")
        .arg(a)
        .arg(b)
        .output()
        .expect("run diff");
    assert!(
        diff.status.success(),
        "diff -r {} {}:\n{}",
        a.display(),
        b.display(),
        String::from_utf8_lossy(&diff.stdout)
    );
}

/// The profile (written from the validated descriptions in one build-time render run on
/// both paths) and the trees the plugin renders at evaluation time (each process built on
/// its own) hold the same files.
#[test]
fn examples_give_identical_trees_with_and_without_the_plugin() {
    for model in ["processes.nix", "processes-upgrade.nix"] {
        let with = build_profile(Via::Plugin, &example(model), &[]).unwrap();
        let without = build_profile(Via::RenderTool, &example(model), &[]).unwrap();
        assert_same_trees(&with, &without);
        let profile = snapshot(&with);
        let mut covered = std::collections::BTreeSet::new();
        for tree in process_trees(&example(model), Via::Plugin) {
            for (name, entry) in snapshot(&tree) {
                assert!(
                    profile.get(&name) == Some(&entry),
                    "{model}: {name} of {} differs from the profile's",
                    tree.display()
                );
                covered.insert(name);
            }
        }
        let missing: Vec<&String> = profile
            .iter()
            .filter(|(name, entry)| **entry != Entry::Dir && !covered.contains(*name))
            .map(|(name, _)| name)
            .filter(|name| name.as_str() != "share/nixproc-sysvinit/package-set")
            .collect();
        assert!(
            missing.is_empty(),
            "{model}: only in the profile: {missing:?}"
        );
        let snap = snapshot(&with);
        let expected = if model == "processes.nix" { 3 } else { 5 };
        let scripts = snap
            .keys()
            .filter(|k| k.starts_with("etc/rc.d/init.d/"))
            .count();
        assert_eq!(scripts, expected, "{model}: init.d scripts");
    }
}

/// Every instance of `model` built on its own (with the host-packages shim): the trees
/// the plugin renders at evaluation time with `via` = [`Via::Plugin`].
fn process_trees(model: &Path, via: Via) -> Vec<PathBuf> {
    let expr = format!(
        "let pkgs = import {root}/nix/host-packages.nix {{ }}; \
         m = import {model} {{ inherit pkgs; }}; \
         in map (n: m.${{n}}.pkg or m.${{n}}) (builtins.attrNames m)",
        root = repo_root().display(),
        model = model.display()
    );
    nix("nix-build", via, &["-E", &expr])
        .unwrap()
        .lines()
        .map(PathBuf::from)
        .collect()
}

/// `(number, name)` of the `prefix` links in `profile/etc/rc.d/DIR`.
fn links(profile: &Path, dir: &str, prefix: char) -> Vec<(u32, String)> {
    let mut out: Vec<(u32, String)> = fs::read_dir(profile.join("etc/rc.d").join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(prefix))
        .map(|n| (n[1..3].parse().unwrap(), n[3..].to_string()))
        .collect();
    out.sort();
    out
}

#[test]
fn profile_starts_webapps_before_nginx_and_stops_nginx_first() {
    let profile = build_profile(Via::RenderTool, &example("processes-upgrade.nix"), &[]).unwrap();
    let started = links(&profile, "rc3.d", 'S');
    let names: Vec<&str> = started.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["webapp1", "webapp2", "webapp3", "webapp4", "nginx"]);
    let nginx_start = started.last().unwrap().0;
    assert!(
        started[..4].iter().all(|(s, _)| *s < nginx_start),
        "{started:?}"
    );
    for level in ["rc0.d", "rc6.d"] {
        let stopped = links(&profile, level, 'K');
        assert_eq!(stopped.len(), 5, "{level}: {stopped:?}");
        assert_eq!(
            stopped[0].1, "nginx",
            "{level} stops nginx first: {stopped:?}"
        );
        assert!(
            stopped[1..].iter().all(|(k, _)| *k > stopped[0].0),
            "{stopped:?}"
        );
        assert!(links(&profile, level, 'S').is_empty());
    }
    // Every link reaches its script, and every script is valid shell.
    for (_, name) in &started {
        let script = profile.join("etc/rc.d/init.d").join(name);
        let canonical = fs::canonicalize(profile.join("etc/rc.d/rc3.d").join(format!(
            "S{:02}{name}",
            started.iter().find(|(_, n)| n == name).unwrap().0
        )))
        .unwrap();
        assert_eq!(canonical, fs::canonicalize(&script).unwrap());
        run_ok(
            Command::new("bash").arg("-n").arg(&script),
            &format!("bash -n {}", script.display()),
        );
    }
}

/// Reads a manifest of a profile as JSON.
fn manifest(profile: &Path, name: &str) -> serde_json::Value {
    let text =
        fs::read_to_string(profile.join(format!("share/nixproc-sysvinit/processes/{name}.json")))
            .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The profile of the webapps example built with the render tool for the state directory
/// `state`, with the model's `extraParams` (JSON) and `more` arguments of nix-build.
fn example_profile(state: &Path, extra_params: &str, more: &[&str]) -> PathBuf {
    let mut args = vec![
        "--argstr",
        "stateDir",
        state.to_str().unwrap(),
        "--argstr",
        "extraParams",
        extra_params,
    ];
    args.extend_from_slice(more);
    build_profile(Via::RenderTool, &example("processes.nix"), &args).unwrap()
}

#[test]
fn nginx_configuration_matches_ports_and_pid_file() {
    let dir = TestDir::new("nixproc-nix-conf");
    let state = dir.path().join("state");
    let extra = r#"{"nginxPort":18123,"webappBasePort":17100,"webappInstances":3}"#;
    let profile = example_profile(&state, extra, &[]);
    let nginx = manifest(&profile, "nginx");
    let pid_file = nginx["pidFile"].as_str().unwrap();
    assert_eq!(pid_file, format!("{}/run/nginx.pid", state.display()));
    assert_eq!(
        nginx["dependencies"],
        serde_json::json!(["webapp1", "webapp2", "webapp3"])
    );
    let script = fs::read_to_string(profile.join("etc/rc.d/init.d/nginx")).unwrap();
    let conf_path = script
        .split_whitespace()
        .map(|w| w.trim_matches('\''))
        .find(|w| w.starts_with("/nix/store/") && w.ends_with("-nginx.conf"))
        .expect("the script passes the generated nginx.conf");
    let conf = fs::read_to_string(conf_path).unwrap();
    assert!(conf.contains(&format!("pid {pid_file};")), "{conf}");
    assert!(conf.contains("listen 127.0.0.1:18123;"), "{conf}");
    for port in [17100, 17101, 17102] {
        assert!(
            conf.contains(&format!("server 127.0.0.1:{port};")),
            "{conf}"
        );
    }
    for i in 1..=3 {
        let webapp = manifest(&profile, &format!("webapp{i}"));
        assert_eq!(webapp["user"], format!("webapp{i}"));
        assert_eq!(webapp["processIsDaemon"], false);
        let group =
            fs::read_to_string(profile.join(format!("dysnomia-support/users/webapp{i}"))).unwrap();
        assert!(group.contains(&format!("group='webapp{i}'")), "{group}");
        assert!(profile
            .join(format!("dysnomia-support/groups/webapp{i}"))
            .exists());
    }
}

#[test]
fn process_trees_keep_the_store_paths_they_mention_as_references() {
    for path in [Via::Plugin, Via::RenderTool] {
        let profile = build_profile(path, &example("processes.nix"), &[]).unwrap();
        let script = fs::canonicalize(profile.join("etc/rc.d/init.d/webapp1")).unwrap();
        let tree = script.ancestors().nth(3).unwrap();
        let refs = nix(
            "nix-store",
            path,
            &["-q", "--references", tree.to_str().unwrap()],
        )
        .unwrap();
        // The supervisor of foreground processes is in the project's package.
        for needle in ["-webapp", "-nixproc-sysvinit", "-init-functions", "-bash"] {
            assert!(
                refs.lines().any(|l| l.ends_with(needle)),
                "{path:?}: {} does not reference *{needle}:\n{refs}",
                tree.display()
            );
        }
    }
}

/// A processes model in a temporary file; returns its path.
fn write_model(dir: &TestDir, name: &str, body: &str) -> PathBuf {
    let text = format!(
        "{{ pkgs, stateDir, ... }}:\n\
         let\n\
         \x20 create = import {root}/nix/create-sysvinit-script.nix {{\n\
         \x20   inherit (pkgs) stdenv writeTextFile daemon;\n\
         \x20   runtimeDir = \"${{stateDir}}/run\";\n\
         \x20   maxSequence = 5;\n\
         \x20 }};\n\
         in\n{body}\n",
        root = repo_root().display()
    );
    dir.write(name, &text, 0o644)
}

/// The arguments of a nix-build or nix-instantiate of the profile of `model` with the
/// profile builder `builder`.
fn profile_args<'a>(builder: &'a Path, model: &'a Path) -> [&'a str; 4] {
    [
        builder.to_str().unwrap(),
        "--arg",
        "exprFile",
        model.to_str().unwrap(),
    ]
}

/// `nix-instantiate` of the profile of `model` on render path `via`.
fn instantiate_profile(via: Via, model: &Path) -> Result<String, String> {
    let builder = repo_root().join("nix/build-profile.nix");
    nix("nix-instantiate", via, &profile_args(&builder, model))
}

/// Evaluates a model with both render paths and returns the two error texts.
fn errors_of(model: &Path) -> Vec<String> {
    [Via::Plugin, Via::RenderTool]
        .into_iter()
        .map(|via| instantiate_profile(via, model).expect_err("the model is wrong"))
        .collect()
}

/// Writes `body` as a processes model in a fresh directory and checks that building it
/// fails, on both render paths, with every text `expected` gives for the model's path.
fn assert_model_error(prefix: &str, body: &str, expected: impl Fn(&str) -> Vec<String>) {
    let dir = TestDir::new(prefix);
    let model = write_model(&dir, "processes.nix", body);
    let wanted = expected(model.to_str().unwrap());
    for err in errors_of(&model) {
        for want in &wanted {
            assert!(err.contains(want.as_str()), "want: {want}\ngot: {err}");
        }
    }
}

/// The tests below that read cases from `tests/errors/nix/`.
const MODEL_ERROR_TESTS: [&str; 6] = [
    "a_misspelt_attribute_is_reported_at_its_line_with_a_suggestion",
    "a_process_without_a_name_is_reported_at_the_users_file",
    "a_too_deep_dependency_chain_names_the_chain_and_the_file",
    "two_instances_with_one_process_name_are_refused",
    "wrong_attribute_values_are_reported_at_their_line_on_both_paths",
    "wrong_kinds_of_values_are_reported_at_the_users_file",
];

/// Evaluates every processes model `tests/errors/nix/TEST/NAME.nix` (`@root@` standing
/// for the repository; a case gives its processes to the shared preamble
/// `tests/errors/nix/create.nix`) on both render paths and checks that each error contains every
/// line of `NAME.err`, `MODEL` standing for the model's path. With `UPDATE_EXPECTED=1`, a
/// case whose lines are not all found gets the `error:` lines of its error with the
/// plugin as its new `.err`.
fn check_model_errors(test: &str) {
    let dir = TestDir::new("nixproc-nix-errors");
    let root = repo_root();
    check_error_cases("nix", test, "nix", |case| {
        let text = case
            .input_text()
            .replace("@root@", root.to_str().expect("utf-8 path"));
        let model = dir.write(&format!("{}.nix", case.name), &text, 0o644);
        let errors: Vec<String> = errors_of(&model)
            .iter()
            .map(|e| e.replace(model.to_str().unwrap(), "MODEL"))
            .collect();
        let expected = case.expected_text().unwrap_or_default();
        let missing = |err: &str| -> Vec<String> {
            expected
                .lines()
                .filter(|want| !err.contains(want))
                .map(str::to_string)
                .collect()
        };
        if update_expected()
            && (expected.is_empty() || errors.iter().any(|e| !missing(e).is_empty()))
        {
            let lines: Vec<&str> = errors[0]
                .lines()
                .filter_map(|l| l.split_once("error: ").map(|(_, rest)| rest))
                .collect();
            case.record(&lines.join("\n"));
            return Vec::new();
        }
        let mut wrong = Vec::new();
        if expected.is_empty() {
            wrong.push(format!("{}: missing or empty", case.expected.display()));
        }
        for (via, err) in [Via::Plugin, Via::RenderTool].iter().zip(&errors) {
            for want in missing(err) {
                wrong.push(format!(
                    "{} ({via:?}):\n  want: {want}\n  got: {err}",
                    case.input.display()
                ));
            }
        }
        wrong
    });
}

/// Every directory of model errors is read by a test.
#[test]
fn every_model_error_directory_has_its_test() {
    assert_eq!(error_case_tests("nix"), MODEL_ERROR_TESTS);
}

#[test]
fn a_misspelt_attribute_is_reported_at_its_line_with_a_suggestion() {
    check_model_errors("a_misspelt_attribute_is_reported_at_its_line_with_a_suggestion");
}

#[test]
fn a_process_without_a_name_is_reported_at_the_users_file() {
    check_model_errors("a_process_without_a_name_is_reported_at_the_users_file");
}

#[test]
fn a_too_deep_dependency_chain_names_the_chain_and_the_file() {
    check_model_errors("a_too_deep_dependency_chain_names_the_chain_and_the_file");
}

#[test]
fn two_instances_with_one_process_name_are_refused() {
    check_model_errors("two_instances_with_one_process_name_are_refused");
}

#[test]
fn create_credentials_renders_the_same_files_on_both_paths() {
    let expr = format!(
        "{{ usePlugin }}: let pkgs = import {root}/nix/host-packages.nix {{ }}; in \
         (import {root}/nix/create-credentials.nix {{ inherit (pkgs) stdenv; inherit usePlugin; }}) \
         {{ groups.shop = {{ }}; users.shop = {{ group = \"shop\"; description = \"it's $(x)\"; }}; }}",
        root = repo_root().display()
    );
    let with = nix(
        "nix-build",
        Via::Plugin,
        &["-E", &expr, "--arg", "usePlugin", "true"],
    )
    .unwrap();
    let without = nix(
        "nix-build",
        Via::RenderTool,
        &["-E", &expr, "--arg", "usePlugin", "false"],
    )
    .unwrap();
    assert_same_trees(Path::new(&with), Path::new(&without));
    let user = fs::read_to_string(Path::new(&with).join("dysnomia-support/users/shop")).unwrap();
    assert!(user.contains("group='shop'"), "{user}");
    assert!(Path::new(&with)
        .join("dysnomia-support/groups/shop")
        .is_file());
}

/// The example deployed by hand from its profile: the rc3.d scripts in order, a request
/// through nginx, then the rc0.d scripts in order. (The switch tool has its own tests.)
#[test]
fn example_profile_serves_requests_through_nginx() {
    let dir = TestDir::new("nixproc-nix-run");
    let state = dir.path().join("state");
    let nginx_port = free_port();
    // The webapps take consecutive ports: find a free pair.
    let base = loop {
        let p = free_port();
        if p < u16::MAX && p + 1 != nginx_port && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            break p;
        }
    };
    let extra =
        format!(r#"{{"nginxPort":{nginx_port},"webappBasePort":{base},"webappInstances":2}}"#);
    let profile = example_profile(&state, &extra, &["--arg", "forceDisableUserChange", "true"]);
    for sub in ["run", "log", "tmp"] {
        fs::create_dir_all(state.join(sub)).unwrap();
    }
    let mut guard = ProcessGuard::new();
    guard.marker(state.to_str().unwrap().to_string());
    for name in ["nginx", "webapp1", "webapp2"] {
        guard.pid_file(state.join(format!("run/{name}.pid")));
        guard.pid_file(state.join(format!("tmp/{name}.pid")));
    }
    for (_, name) in links(&profile, "rc3.d", 'S') {
        let script = profile.join("etc/rc.d/init.d").join(&name);
        let run = common::run_script(dir.path(), &script, &["start"], &[]);
        assert_eq!(run.code, 0, "{name} start: {}{}", run.stdout, run.stderr);
    }
    let body = wait_http(nginx_port, Duration::from_secs(10)).expect("nginx answers");
    assert!(body.contains("instance=webapp"), "{body}");
    let (_, second_body) = http_get(nginx_port, "/again").unwrap();
    assert!(second_body.contains("path=/again"), "{second_body}");
    for (_, name) in links(&profile, "rc0.d", 'K') {
        let script = profile.join("etc/rc.d/init.d").join(&name);
        let run = common::run_script(dir.path(), &script, &["stop"], &[]);
        assert_eq!(run.code, 0, "{name} stop: {}{}", run.stdout, run.stderr);
        let status = common::run_script(dir.path(), &script, &["status"], &[]);
        assert_eq!(
            status.code, 3,
            "{name} status after stop: {}",
            status.stdout
        );
    }
    assert!(common::port_closed(nginx_port));
}

/// Scripts longer than one environment entry may be (128 KiB) reach the tree through a
/// file; quotes, `$`, backslashes and newlines survive on both paths.
#[test]
fn long_and_awkward_texts_give_identical_trees() {
    let dir = TestDir::new("nixproc-nix-long");
    let line = "echo 'it'\\''s' \"$HOME\" `date` \\\\ ${x}\n";
    let long: String = line.repeat(200_000 / line.len() + 1);
    dir.write("initialize.sh", &long, 0o644);
    let model = write_model(
        &dir,
        "processes.nix",
        &format!(
            "{{\n  big = create {{\n    name = \"big\";\n    description = \"quotes ' \\\" and \\${{x}}\";\n    \
             initialize = builtins.readFile {init};\n    process = \"/bin/sleep\";\n    \
             args = [ \"1000\" ];\n    credentials.users.big = {{ description = \"a 'b' $c\"; }};\n  }};\n}}",
            init = dir.path().join("initialize.sh").display()
        ),
    );
    let with = build_profile(Via::Plugin, &model, &[]).unwrap();
    let without = build_profile(Via::RenderTool, &model, &[]).unwrap();
    assert_same_trees(&with, &without);
    let script = fs::read_to_string(with.join("etc/rc.d/init.d/big")).unwrap();
    assert!(script.len() > 200_000, "{}", script.len());
    assert!(
        script.contains(line),
        "the initialize text is in the script as written"
    );
}

#[test]
fn wrong_kinds_of_values_are_reported_at_the_users_file() {
    check_model_errors("wrong_kinds_of_values_are_reported_at_the_users_file");
}

/// The Nix side checks attribute names itself (to point at the user's line); its list
/// must be the renderer's, minus `config`, which the composition supplies. Likewise the
/// composition must accept every global setting the renderer knows.
#[test]
fn nix_attribute_lists_match_the_renderer() {
    let names_of = |expr: String| -> Vec<String> {
        let out = nix(
            "nix-instantiate",
            Via::RenderTool,
            &["--eval", "--json", "-E", &expr],
        )
        .unwrap();
        let mut names: Vec<String> = serde_json::from_str(&out).unwrap();
        names.sort();
        names
    };
    let lib = repo_root().join("nix/lib.nix");
    let nix_side = names_of(format!("(import {}).knownAttributes", lib.display()));
    let mut renderer: Vec<String> = nixproc_sysvinit::spec::PROCESS_ATTRIBUTES
        .iter()
        .filter(|a| **a != "config")
        .map(|a| a.to_string())
        .collect();
    renderer.sort();
    assert_eq!(nix_side, renderer);

    // Likewise the keys of nested sets that lib.nix checks.
    for (nix_name, renderer) in [
        ("credentialKinds", nixproc_sysvinit::spec::CREDENTIAL_KINDS),
        ("groupKeys", nixproc_sysvinit::spec::GROUP_KEYS),
        ("userKeys", nixproc_sysvinit::spec::USER_KEYS),
        (
            "readinessKeys",
            nixproc_sysvinit::spec::READINESS_ATTRIBUTES,
        ),
        (
            "instructionKeys",
            nixproc_sysvinit::spec::INSTRUCTION_ATTRIBUTES,
        ),
        (
            "privilegedGroups",
            nixproc_sysvinit::spec::PRIVILEGED_GROUPS,
        ),
        ("respawnKeys", nixproc_sysvinit::spec::RESPAWN_ATTRIBUTES),
        (
            "logRotateKeys",
            nixproc_sysvinit::spec::LOG_ROTATE_ATTRIBUTES,
        ),
        ("limitNames", nixproc_sysvinit::spec::LIMIT_NAMES),
    ] {
        let nix_side = names_of(format!("(import {}).{nix_name}", lib.display()));
        let mut renderer: Vec<String> = renderer.iter().map(|a| a.to_string()).collect();
        renderer.sort();
        assert_eq!(nix_side, renderer, "{nix_name}");
    }

    let composer = repo_root().join("nix/create-sysvinit-script.nix");
    let composer_args = names_of(format!(
        "builtins.attrNames (builtins.functionArgs (import {}))",
        composer.display()
    ));
    for setting in nixproc_sysvinit::spec::CONFIG_ATTRIBUTES {
        assert!(
            composer_args.iter().any(|a| a == setting),
            "create-sysvinit-script.nix does not take the global setting '{setting}'"
        );
    }
}

/// `nix-store -q FLAG PATH`, one path a line.
fn store_query(flag: &str, path: &Path) -> Vec<String> {
    nix(
        "nix-store",
        Via::RenderTool,
        &["-q", flag, path.to_str().unwrap()],
    )
    .unwrap()
    .lines()
    .map(str::to_string)
    .collect()
}

/// The `.drv` of every process of a model (instantiated with the plugin loaded).
fn process_derivations(model: &Path) -> Vec<String> {
    let expr = format!(
        "map (i: (i.pkg or i).drvPath) (builtins.attrValues (import {} {{ }}))",
        model.display()
    );
    let out = nix(
        "nix-instantiate",
        Via::Plugin,
        &[
            "--eval",
            "--read-write-mode",
            "--strict",
            "--json",
            "-E",
            &expr,
        ],
    )
    .unwrap();
    serde_json::from_str(&out).unwrap()
}

/// With the plugin the profile is one derivation that writes every tree itself: it does
/// not depend on the per-process derivations, its scripts are files of its own, and it
/// still references every store path the scripts use. The per-process derivations
/// still build on their own, to the same scripts.
#[test]
fn plugin_profile_is_one_derivation_referencing_what_its_scripts_use() {
    let model = example("processes-upgrade.nix");
    let profile = build_profile(Via::Plugin, &model, &[]).unwrap();
    let drv = store_query("--deriver", &profile).remove(0);
    let inputs = store_query("--references", Path::new(&drv));
    let processes = process_derivations(&model);
    assert_eq!(processes.len(), 5);
    for process in &processes {
        assert!(
            !inputs.contains(process),
            "the profile {drv} depends on the process derivation {process}:\n{inputs:#?}"
        );
    }
    let script = profile.join("etc/rc.d/init.d/webapp1");
    assert!(
        fs::symlink_metadata(&script).unwrap().is_file(),
        "{} is a file of the profile",
        script.display()
    );
    let refs = store_query("--references", &profile);
    for needle in [
        "-webapp",
        "-nixproc-sysvinit",
        "-init-functions",
        "-bash",
        "-nginx.conf",
    ] {
        assert!(
            refs.iter().any(|l| l.ends_with(needle)),
            "{} does not reference *{needle}:\n{refs:#?}",
            profile.display()
        );
    }
    // The profile holds no build-time-only inputs (the renderings); the project's
    // package is there for the supervisor of foreground processes.
    assert!(!refs.iter().any(|l| l.ends_with(".json")), "{refs:#?}");

    // Each process still builds on its own, with the same script.
    for name in ["webapp1", "nginx"] {
        let expr = format!(
            "(import {} {{ }}).{name}.pkg or (import {} {{ }}).{name}",
            model.display(),
            model.display()
        );
        let tree = nix("nix-build", Via::Plugin, &["-E", &expr]).unwrap();
        let own = fs::read(Path::new(&tree).join("etc/rc.d/init.d").join(name)).unwrap();
        let in_profile = fs::read(profile.join("etc/rc.d/init.d").join(name)).unwrap();
        assert_eq!(
            own, in_profile,
            "{name}: the process tree and the profile agree"
        );
        assert!(
            processes
                .iter()
                .any(|p| store_query("--outputs", Path::new(p)).contains(&tree.to_string())),
            "{tree} is the output of one of {processes:?}"
        );
    }
}

/// Large models pass their descriptions in chunks, each written by a small derivation;
/// the profile is the same as with one chunk and as without the plugin.
#[test]
fn plugin_profile_in_several_chunks_is_the_same_profile() {
    let model = example("processes-upgrade.nix");
    let chunked = build_profile(Via::Plugin, &model, &["--arg", "chunkSize", "2"]).unwrap();
    let drv = store_query("--deriver", &chunked).remove(0);
    let chunks = store_query("--references", Path::new(&drv))
        .into_iter()
        .filter(|p| p.ends_with("-nixproc-sysvinit-chunk.json.drv"))
        .count();
    assert_eq!(chunks, 3, "5 processes in chunks of 2");
    let whole = build_profile(Via::Plugin, &model, &[]).unwrap();
    assert_same_trees(&chunked, &whole);
    let without = build_profile(Via::RenderTool, &model, &[]).unwrap();
    assert_same_trees(&chunked, &without);
}

/// Processes may share a credential file (a group they all belong to) when it is the
/// same for all of them, on both paths; different contents under one name fail the
/// build on both.
#[test]
fn processes_share_identical_credential_files_only() {
    let dir = TestDir::new("nixproc-nix-shared");
    let shared = write_model(
        &dir,
        "shared.nix",
        "{\n  a = create { name = \"a\"; process = \"/bin/true\"; credentials.groups.web = { }; };\n  \
         b = { pkg = create { name = \"b\"; process = \"/bin/false\"; credentials.groups.web = { }; }; };\n}",
    );
    let with = build_profile(Via::Plugin, &shared, &[]).unwrap();
    let without = build_profile(Via::RenderTool, &shared, &[]).unwrap();
    assert_same_trees(&with, &without);
    assert!(with.join("dysnomia-support/groups/web").is_file());

    let conflicting = write_model(
        &dir,
        "conflicting.nix",
        "{\n  a = create { name = \"a\"; process = \"/bin/true\"; credentials.users.web = { description = \"one\"; }; };\n  \
         b = create { name = \"b\"; process = \"/bin/false\"; credentials.users.web = { description = \"two\"; }; };\n}",
    );
    for path in [Via::Plugin, Via::RenderTool] {
        assert_profile_refused(path, &conflicting, "dysnomia-support/users/web");
    }
}

/// The error of two processes `web-a` and `web-b` of the program `/bin/sleep` without an
/// instance name.
const WEB_A_AND_B_SHARE_A_PID_FILE: &str =
    "processes 'web-a' and 'web-b' both use /var/run/sleep.pid";

/// Building the profile of `model` on render path `via` fails with an error that contains
/// `want`.
fn assert_profile_refused(via: Via, model: &Path, want: &str) {
    match build_profile(via, model, &[]) {
        Ok(profile) => panic!("{via:?}: built {}, want: {want}", profile.display()),
        Err(err) => assert!(err.contains(want), "{via:?}: want: {want}\ngot: {err}"),
    }
}

/// Processes whose PID or log files would be the same file (here three processes of one
/// program with a `name` but no `instanceName`, and two with one explicit log-less PID
/// file) cannot be built into one profile, with or without the plugin; the error names
/// both processes and the file.
#[test]
fn processes_sharing_a_pid_or_log_file_are_refused_on_both_paths() {
    let dir = TestDir::new("nixproc-nix-collide");
    let same_program = write_model(
        &dir,
        "same-program.nix",
        "{\n  a = create { name = \"web-a\"; process = \"/bin/sleep\"; args = [ \"600\" ]; };\n  \
         b = create { name = \"web-b\"; process = \"/bin/sleep\"; args = [ \"601\" ]; };\n  \
         c = create { name = \"web-c\"; process = \"/bin/sleep\"; args = [ \"602\" ]; };\n}",
    );
    let foreground_user = write_model(
        &dir,
        "foreground-user.nix",
        "{\n  a = create { name = \"fg-a\"; instanceName = \"fg\"; process = \"/bin/sleep\"; processIsDaemon = false; user = \"nobody\"; };\n  \
         b = create { name = \"fg-b\"; pidFile = \"/var/run/fg/fg.pid\"; process = \"/bin/true\"; };\n}",
    );
    let distinct = write_model(
        &dir,
        "distinct.nix",
        "{\n  a = create { name = \"web-a\"; instanceName = \"web-a\"; process = \"/bin/sleep\"; };\n  \
         b = create { name = \"web-b\"; instanceName = \"web-b\"; process = \"/bin/sleep\"; };\n}",
    );
    for path in [Via::Plugin, Via::RenderTool] {
        assert_profile_refused(path, &same_program, WEB_A_AND_B_SHARE_A_PID_FILE);
        assert_profile_refused(
            path,
            &foreground_user,
            "processes 'fg-a' and 'fg-b' both use /var/run/fg/fg.pid",
        );
        let profile = build_profile(path, &distinct, &[]).expect("distinct PID files");
        assert!(profile.join("etc/rc.d/init.d/web-b").is_file());
    }
}

/// A model that tells which package set it got: its process's description says whether
/// `pkgs` is the stand-in nixpkgs. `header` is the model's argument list.
fn package_set_model(dir: &TestDir, name: &str, header: &str) -> PathBuf {
    let text = format!(
        "{header}:\n\
         let\n\
         \x20 create = import {root}/nix/create-sysvinit-script.nix {{\n\
         \x20   inherit (pkgs) stdenv writeTextFile daemon;\n\
         \x20   runtimeDir = \"${{stateDir}}/run\";\n\
         \x20 }};\n\
         in\n\
         {{\n\
         \x20 probe = create {{\n\
         \x20   name = \"probe\";\n\
         \x20   process = \"/bin/sleep\";\n\
         \x20   args = [ \"1000\" ];\n\
         \x20   description = if pkgs.standInNixpkgs or false then \"got the stand-in nixpkgs\" else \"got other packages\";\n\
         \x20 }};\n\
         }}\n",
        root = repo_root().display()
    );
    dir.write(name, &text, 0o644)
}

/// What the profile says about its package set, and what the model got.
fn package_set_of(via: Via, model: &Path, extra: &[&str], nix_path: &str) -> (String, String) {
    let profile =
        common::nixbuild::build_profile_with_env(via, model, extra, &[("NIX_PATH", nix_path)])
            .unwrap();
    let said = fs::read_to_string(profile.join("share/nixproc-sysvinit/package-set")).unwrap();
    let script = fs::read_to_string(profile.join("etc/rc.d/init.d/probe")).unwrap();
    let got = if script.contains("got the stand-in nixpkgs") {
        "stand-in"
    } else if script.contains("got other packages") {
        "other"
    } else {
        panic!("no description in {script}")
    };
    (said.trim().to_string(), got.to_string())
}

/// A model's `pkgs ? import <nixpkgs> { ... }` gets `<nixpkgs>` when it resolves, a model
/// requiring `pkgs` gets `import <nixpkgs> { }`, both fall back to the host-packages shim
/// without it, and `--arg pkgs` wins; the profile says which one in one line.
#[test]
fn models_get_nixpkgs_when_it_resolves_and_the_shim_otherwise() {
    let dir = TestDir::new("nixproc-nix-pkgs");
    let with_default = package_set_model(
        &dir,
        "with-default.nix",
        "{ pkgs ? import <nixpkgs> { inherit system; }, system ? builtins.currentSystem, stateDir, ... }",
    );
    let required = package_set_model(&dir, "required.nix", "{ pkgs, stateDir, ... }");
    let nixpkgs = format!("nixpkgs={}", common::nixbuild::stand_in_nixpkgs().display());
    let given = format!(
        "import {} {{ }}",
        common::nixbuild::stand_in_nixpkgs().display()
    );
    for via in common::nixbuild::BOTH {
        assert_eq!(
            package_set_of(via, &with_default, &[], &nixpkgs),
            ("model default".into(), "stand-in".into()),
            "{via:?}"
        );
    }
    assert_eq!(
        package_set_of(Via::RenderTool, &required, &[], &nixpkgs),
        ("nixpkgs".into(), "stand-in".into())
    );
    for model in [&with_default, &required] {
        assert_eq!(
            package_set_of(Via::RenderTool, model, &[], ""),
            ("host-packages shim".into(), "other".into()),
            "{}",
            model.display()
        );
    }
    assert_eq!(
        package_set_of(Via::RenderTool, &required, &["--arg", "pkgs", &given], ""),
        ("given".into(), "stand-in".into())
    );
    // A model that takes no `pkgs` (a flake's, say, bringing its own) is not told it got one.
    let no_pkgs = dir.write("no-pkgs.nix", "{ stateDir, ... }: { }\n", 0o644);
    let profile = common::nixbuild::build_profile_with_env(
        Via::RenderTool,
        &no_pkgs,
        &[],
        &[("NIX_PATH", &nixpkgs)],
    )
    .unwrap();
    assert_eq!(
        fs::read_to_string(profile.join("share/nixproc-sysvinit/package-set"))
            .unwrap()
            .trim(),
        "none (the model takes no pkgs)"
    );
    // The choice is also an attribute of the profile derivation.
    let builder = repo_root().join("nix/build-profile.nix");
    let attr = common::nixbuild::nix_with_env(
        "nix-instantiate",
        Via::RenderTool,
        &[
            "--eval",
            builder.to_str().unwrap(),
            "--arg",
            "exprFile",
            required.to_str().unwrap(),
            "-A",
            "packageSet",
        ],
        &[("NIX_PATH", &nixpkgs)],
    )
    .unwrap();
    assert_eq!(attr, "\"nixpkgs\"");
}

/// Attributes of the wrong kind or with a wrong simple value are reported at their own
/// line during evaluation, on both render paths (without the plugin the renderer would
/// only see them at build time).
#[test]
fn wrong_attribute_values_are_reported_at_their_line_on_both_paths() {
    check_model_errors("wrong_attribute_values_are_reported_at_their_line_on_both_paths");
}

/// A user in a group that neither the profile's credentials nor the machine have is an
/// evaluation error at the user's line, with the closest group the profile makes; a
/// group made by another process, or one the machine has, is fine.
#[test]
fn a_group_no_one_makes_is_reported_at_the_users_line() {
    assert_model_error(
        "nixproc-nix-group",
        "{\n  web = create {\n    name = \"web\";\n    process = \"/bin/true\";\n    user = \"web\";\n    credentials = {\n      groups.webapps = { };\n      users.web = {\n        group = \"webapp\";\n      };\n    };\n  };\n}",
        |model| {
            vec![format!(
                "process 'web' (at {model}:17): credentials: user 'web' is in group 'webapp' \
                 (did you mean 'webapps'?), which no process of the profile makes and this \
                 machine does not have; define it in credentials.groups"
            )]
        },
    );
    let dir = TestDir::new("nixproc-nix-groups-ok");
    let model = write_model(
        &dir,
        "processes.nix",
        "{\n  a = create { name = \"a\"; process = \"/bin/true\"; credentials.groups.shared = { }; };\n  \
         b = create { name = \"b\"; process = \"/bin/true\"; user = \"b\";\n    \
         credentials.users.b = { group = \"shared\"; extraGroups = \"users, shared\"; }; };\n}",
    );
    for via in common::nixbuild::BOTH {
        let out = instantiate_profile(via, &model);
        assert!(out.is_ok(), "{via:?}: {out:?}");
    }
}

/// A profile mixing processes with store paths that have no rendering (here a
/// createCredentials result) is still written from the renderings with the plugin, so
/// two processes sharing a PID file are refused on both paths there too.
#[test]
fn a_mixed_profile_still_refuses_shared_pid_files() {
    let dir = TestDir::new("nixproc-nix-mixed");
    let body = format!(
        "{{\n  a = create {{ name = \"web-a\"; process = \"/bin/sleep\"; }};\n  \
         b = create {{ name = \"web-b\"; process = \"/bin/sleep\"; }};\n  \
         accounts = (import {root}/nix/create-credentials.nix {{ inherit (pkgs) stdenv; }}) \
         {{ groups.shared = {{ }}; }};\n}}",
        root = repo_root().display()
    );
    let model = write_model(&dir, "mixed.nix", &body);
    let fixed = write_model(
        &dir,
        "mixed-distinct.nix",
        &body.replace(
            "name = \"web-b\";",
            "name = \"web-b\"; instanceName = \"web-b\";",
        ),
    );
    for via in common::nixbuild::BOTH {
        assert_profile_refused(via, &model, WEB_A_AND_B_SHARE_A_PID_FILE);
        let profile = build_profile(via, &fixed, &[]).expect("distinct PID files");
        assert!(profile.join("dysnomia-support/groups/shared").exists());
        assert!(profile
            .join("share/nixproc-sysvinit/processes/web-b.json")
            .exists());
    }
}

/// What only the renderer checks (here: an environment string beyond the kernel's limit)
/// is reported with the plugin at evaluation time, at the description's file and line
/// (the plugin checks every description natively); without it, by the profile's build,
/// naming the process and the attribute.
#[test]
fn a_problem_only_the_renderer_finds_is_reported_on_both_paths() {
    let dir = TestDir::new("nixproc-nix-renderer-only");
    let body = "{\n  web = create {\n    name = \"web\";\n    process = \"/bin/true\";\n    environment.BIG = builtins.concatStringsSep \"\" (builtins.genList (i: \"xxxxxxxxxxxxxxxx\") 9000);\n  };\n}";
    let model = write_model(&dir, "processes.nix", body);
    let builder = repo_root().join("nix/build-profile.nix");
    let args = profile_args(&builder, &model);
    let limit = "beyond the kernel's limit of 131072 bytes for one string";
    let err = nix("nix-instantiate", Via::Plugin, &args).expect_err("the model is wrong");
    let want = format!(
        "process 'web' (at {}:11): attribute 'environment.BIG': the value is 144000 bytes",
        model.display()
    );
    assert!(err.contains(&want) && err.contains(limit), "{err}");
    let err = nix("nix-build", Via::RenderTool, &args).expect_err("the build fails");
    assert!(
        err.contains("process 'web': attribute 'environment.BIG'") && err.contains(limit),
        "{err}"
    );
}
