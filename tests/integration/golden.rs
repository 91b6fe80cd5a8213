//! Golden tests: each `tests/golden/NAME.json` renders to exactly `NAME.expected`.
//!
//! The expected files are reviewed by hand. After an intended change of the output, run
//! `UPDATE_GOLDEN=1 cargo test --release --test integration -- golden::` and review the
//! diff before committing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use nixproc_sysvinit::render::{render_value, Rendered};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// A reviewable text form of everything rendered for one process.
fn dump(r: &Rendered) -> String {
    let mut out = format!(
        "== sequence {} / stop sequence {}\n== etc/rc.d/init.d/{}\n{}",
        r.sequence, r.stop_sequence, r.name, r.script
    );
    out.push_str("== links\n");
    for link in &r.links {
        out.push_str(&format!("{} -> {}\n", link.path, link.target));
    }
    for (kind, files) in [
        ("groups", &r.credentials.groups),
        ("users", &r.credentials.users),
    ] {
        for (name, text) in files {
            out.push_str(&format!("== dysnomia-support/{kind}/{name}\n{text}"));
        }
    }
    out.push_str(&format!(
        "== share/nixproc-sysvinit/processes/{}.json\n{}",
        r.name, r.manifest
    ));
    for (path, text) in &r.files {
        out.push_str(&format!("== {path}\n{text}"));
    }
    out
}

fn specs() -> Vec<PathBuf> {
    let mut specs: Vec<PathBuf> = fs::read_dir(golden_dir())
        .expect("tests/golden exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    specs.sort();
    assert!(specs.len() >= 10, "the golden specs are missing");
    specs
}

fn render_file(path: &Path) -> Rendered {
    let value: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    render_value(&value).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_golden_spec_renders_to_its_reviewed_output() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut mismatches = Vec::new();
    for spec in specs() {
        let actual = dump(&render_file(&spec));
        let expected_path = spec.with_extension("expected");
        if update {
            fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("missing {}", expected_path.display()));
        if actual != expected {
            mismatches.push(format!(
                "{}:\n--- expected\n{expected}\n+++ actual\n{actual}",
                spec.display()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn every_golden_script_passes_bash_syntax_check() {
    for spec in specs() {
        let rendered = render_file(&spec);
        crate::common::stdout_of(
            Command::new("bash").args(["-n", "-c", &rendered.script]),
            &format!("bash -n on the script of {}", spec.display()),
        );
    }
}

#[test]
fn lsb_header_is_well_formed_for_insserv() {
    for spec in specs() {
        let script = render_file(&spec).script;
        let begin = script.find("### BEGIN INIT INFO\n").expect("header start");
        let end = script.find("### END INIT INFO\n").expect("header end");
        let header = &script[begin..end];
        for key in [
            "Provides",
            "Required-Start",
            "Required-Stop",
            "Default-Start",
            "Default-Stop",
            "Short-Description",
            "Description",
        ] {
            assert!(
                header.lines().any(|l| l.starts_with(&format!("# {key}:"))),
                "{}: no {key} in\n{header}",
                spec.display()
            );
        }
        // Every header line is a comment line: nothing a user wrote can break out of it.
        assert!(header.lines().skip(1).all(|l| l.starts_with("# ")));
    }
}

#[test]
fn instances_get_distinct_pid_files_and_the_dependant_starts_later() {
    let one = render_file(&golden_dir().join("webapp-instance1.json"));
    let two = render_file(&golden_dir().join("webapp-instance2.json"));
    assert!(one.script.contains("\nPIDFILE=/var/run/webapp1.pid\n"));
    assert!(two.script.contains("\nPIDFILE=/var/run/webapp2.pid\n"));
    let nginx = render_file(&golden_dir().join("nginx-depends-on-webapp.json"));
    let webapp = render_file(&golden_dir().join("webapp-foreground.json"));
    assert!(nginx.sequence > webapp.sequence);
    assert!(nginx.stop_sequence < webapp.stop_sequence);
    assert!(nginx.script.contains("# Required-Start:    webapp\n"));
}

#[test]
fn the_render_binary_writes_the_same_tree_as_the_library() {
    let dir = tempfile::tempdir().unwrap();
    for spec in specs() {
        let rendered = render_file(&spec);
        let out = dir
            .path()
            .join(&rendered.name)
            .join(spec.file_stem().unwrap());
        let status = Command::new(env!("CARGO_BIN_EXE_nixproc-sysvinit-render"))
            .arg(&spec)
            .arg("--out")
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success());
        let script_path = out.join("etc/rc.d/init.d").join(&rendered.name);
        assert_eq!(fs::read_to_string(&script_path).unwrap(), rendered.script);
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&script_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        for link in &rendered.links {
            let target = fs::read_link(out.join("etc/rc.d").join(&link.path)).unwrap();
            assert_eq!(target.to_str().unwrap(), link.target);
            // The link resolves to the script.
            assert!(out.join("etc/rc.d").join(&link.path).exists());
        }
        for (name, text) in &rendered.credentials.users {
            let path = out.join("dysnomia-support/users").join(name);
            assert_eq!(&fs::read_to_string(path).unwrap(), text);
        }
        let manifest = out
            .join("share/nixproc-sysvinit/processes")
            .join(format!("{}.json", rendered.name));
        assert_eq!(fs::read_to_string(manifest).unwrap(), rendered.manifest);
    }
}

#[test]
fn the_render_binary_prints_the_library_rendering_as_json() {
    let spec = golden_dir().join("webapp-credentials.json");
    let out = Command::new(env!("CARGO_BIN_EXE_nixproc-sysvinit-render"))
        .arg(&spec)
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed: Rendered = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, render_file(&spec));
}

#[test]
fn many_renderings_unpack_into_one_profile_tree() {
    let dir = tempfile::tempdir().unwrap();
    let names = [
        "webapp-instance1.json",
        "webapp-instance2.json",
        "nginx-depends-on-webapp.json",
    ];
    let renderings: Vec<Rendered> = names
        .iter()
        .map(|n| render_file(&golden_dir().join(n)))
        .collect();
    let list = dir.path().join("renderings.json");
    let unpack = |renderings: &[Rendered], out: &Path| {
        fs::write(&list, serde_json::to_string(renderings).unwrap()).unwrap();
        Command::new(env!("CARGO_BIN_EXE_nixproc-sysvinit-render"))
            .arg("--rendered")
            .arg(&list)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap()
    };
    let out = dir.path().join("profile");
    assert!(unpack(&renderings, &out).status.success());
    for r in &renderings {
        let script = out.join("etc/rc.d/init.d").join(&r.name);
        assert_eq!(fs::read_to_string(script).unwrap(), r.script);
    }
    assert!(out.join("etc/rc.d/rc3.d/S01nginx").exists());
    assert!(out.join("etc/rc.d/rc3.d/S00webapp1").exists());

    // The same process twice is refused, and so is a hand-made path outside the tree.
    let again = dir.path().join("again");
    let twice = unpack(&[renderings[0].clone(), renderings[0].clone()], &again);
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("two renderings are named 'webapp1'"));
    let mut evil = renderings[0].clone();
    evil.links[0].path = "../../escape".into();
    let escaped = unpack(&[evil], &again);
    assert!(!escaped.status.success());
    assert!(String::from_utf8_lossy(&escaped.stderr).contains("names a path outside its tree"));
}

/// One `insserv -s` line: `S:NN:LEVELS:NAME` or `K:NN:LEVELS:NAME`.
fn insserv_entry<'a>(out: &'a str, kind: &str, name: &str) -> (u32, &'a str) {
    let line = out
        .lines()
        .find(|l| l.starts_with(kind) && l.ends_with(&format!(":{name}")))
        .unwrap_or_else(|| panic!("no {kind} entry for {name} in:\n{out}"));
    let mut fields = line.split(':');
    let number = fields.nth(1).unwrap().parse().unwrap();
    (number, fields.next().unwrap())
}

#[test]
fn insserv_reads_the_headers_and_orders_the_scripts_like_our_links() {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    for level in 0..=6 {
        fs::create_dir_all(etc.join(format!("rc{level}.d"))).unwrap();
    }
    let init_d = etc.join("init.d");
    fs::create_dir_all(&init_d).unwrap();
    let webapp = render_file(&golden_dir().join("webapp-foreground.json"));
    let nginx = render_file(&golden_dir().join("nginx-depends-on-webapp.json"));
    for r in [&webapp, &nginx] {
        let script = init_d.join(&r.name);
        fs::write(&script, &r.script).unwrap();
        // insserv only looks at executable scripts.
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let stdout = crate::common::stdout_of(
        Command::new("insserv")
            .args(["-s", "-p"])
            .arg(&init_d)
            .arg("-i")
            .arg(dir.path().join("insserv")),
        "insserv (scripts/setup.sh installs it)",
    );
    let (webapp_start, webapp_levels) = insserv_entry(&stdout, "S", "webapp");
    let (nginx_start, nginx_levels) = insserv_entry(&stdout, "S", "nginx");
    assert_eq!(webapp_levels, "3 4 5");
    assert_eq!(nginx_levels, "3 4 5");
    assert!(webapp_start < nginx_start, "{stdout}");
    let (webapp_stop, stop_levels) = insserv_entry(&stdout, "K", "webapp");
    let (nginx_stop, _) = insserv_entry(&stdout, "K", "nginx");
    assert_eq!(stop_levels, "0 1 2 6");
    assert!(nginx_stop < webapp_stop, "{stdout}");
}

/// Stand-ins for init-functions that print what they are asked to do.
const PRINTING_FUNCTIONS: &str = r#"log_info_msg() { echo "MSG $1"; }
start_daemon() { echo "START $*"; }
killproc() { echo "KILL $*"; }
evaluate_retval() { echo EVAL; }"#;

/// Runs `activity` of `script` with bash; returns its output, after checking that it
/// succeeded without a word on standard error.
fn run_activity(script: &str, activity: &str) -> String {
    let out = Command::new("bash")
        .args(["-c", script, "script", activity])
        .output()
        .expect("bash runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "{activity}: {stderr}"
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn here_documents_in_user_code_still_work() {
    let path = golden_dir().join("user-heredocs.json");
    let mut value: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    value["config"]["initialInstructions"] = PRINTING_FUNCTIONS.into();
    let script = render_value(&value).unwrap().script;
    let program = "/nix/store/2b3c4d5e6f7g8h9i0j1k2l3m4n5p6q7r-notes/bin/notes";
    assert_eq!(
        run_activity(&script, "start"),
        format!(
            "MSG Starting Notes server...\ninitialize: about to start {program}\n  indented line\n\
             START -p /var/run/notes.pid -s var-run/notes {program} --config /etc/notes.conf\nEVAL\n"
        )
    );
    assert_eq!(
        run_activity(&script, "reload"),
        format!(
            "MSG Reloading Notes server...\nreload: $PROGRAM stays unexpanded\n\
             KILL -p /var/run/notes.pid {program} -HUP\nEVAL\n"
        )
    );
    assert_eq!(
        run_activity(&script, "notes"),
        "  two spaces\n\ta tab\nleading tabs stripped\n"
    );
}

/// Runs shellcheck on `script` as the project asks of generated scripts; returns its
/// report, empty when clean.
fn shellcheck(script: &str) -> String {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new("shellcheck")
        .args(["-s", "bash", "-e", "SC1091", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("shellcheck runs (scripts/setup.sh installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.success(), report.is_empty(), "{report}");
    report
}

#[test]
fn every_golden_script_is_clean_under_shellcheck() {
    for spec in specs() {
        let report = shellcheck(&render_file(&spec).script);
        assert!(report.is_empty(), "{}:\n{report}", spec.display());
    }
}

#[test]
fn any_value_is_clean_under_shellcheck() {
    let nasty = [
        "it's",
        "$(id)",
        "`id`",
        "${HOME}",
        "$x",
        "~/x",
        "~",
        "a\"b",
        "back\\slash",
        "new\nline",
        "!bang",
        "*",
        "#hash",
        "a b",
        "",
    ];
    let script = render_value(&serde_json::json!({
        "name": "nasty",
        "description": nasty.concat(),
        "process": "/bin/nasty $x",
        "args": nasty,
        "environment": {"VALUE": nasty.concat(), "HOME_DIR": "~/x"},
        "directory": "~/dir $x",
        "user": "nasty",
        "pidFile": "/run/it's $x.pid",
        "readiness": {"command": "test -S \"$SOCKET\"", "timeout": 5},
        "path": ["/nix/store/x-$y"],
        "config": {"initialInstructions": ". /etc/init-functions"}
    }))
    .unwrap()
    .script;
    let report = shellcheck(&script);
    assert!(report.is_empty(), "{script}\n{report}");
}
