//! The Nix plugin end to end: a real `nix-instantiate` loads the plugin and evaluates
//! `builtins.sysvinitScript`.
//!
//! The plugin is built by these tests through cargo (into the same target directory and
//! profile as the tests), unless `NIXPROC_PLUGIN` names an already built one. Nix must be
//! installed (`scripts/setup.sh`); without it the tests fail rather than skip.

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

const RENDER: &str = env!("CARGO_BIN_EXE_nixproc-sysvinit-render");

/// The target directory and profile directory (`debug`/`release`) this test runs from.
fn target_and_profile() -> (PathBuf, String) {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/plugin-HASH
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/PROFILE/deps");
    let profile = profile_dir
        .file_name()
        .expect("profile directory name")
        .to_string_lossy()
        .into_owned();
    let target = profile_dir
        .parent()
        .expect("target directory")
        .to_path_buf();
    (target, profile)
}

/// The plugin shared object, built once per test run.
fn plugin() -> &'static Path {
    static PLUGIN: OnceLock<PathBuf> = OnceLock::new();
    PLUGIN.get_or_init(|| {
        require_nix();
        if let Some(p) = std::env::var_os("NIXPROC_PLUGIN") {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "NIXPROC_PLUGIN={} does not exist", p.display());
            return p;
        }
        let (target, profile) = target_and_profile();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["build", "--quiet", "-p", "nixproc-sysvinit-plugin"])
            .env("CARGO_TARGET_DIR", &target);
        match profile.as_str() {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        let status = cmd.status().expect("cargo runs");
        assert!(
            status.success(),
            "building the plugin failed (are Nix headers prepared? run scripts/setup.sh)"
        );
        let so = target.join(&profile).join("libnixproc_sysvinit_plugin.so");
        assert!(so.is_file(), "plugin missing at {}", so.display());
        so
    })
}

fn require_nix() {
    let found = Command::new("nix-instantiate").arg("--version").output();
    assert!(
        matches!(found, Ok(ref o) if o.status.success()),
        "nix-instantiate is not installed: run scripts/setup.sh (as root) before these tests"
    );
}

/// Runs `nix-instantiate --eval --strict --json` on `expr` with the plugin loaded.
fn eval_with(plugin: &Path, expr: &str) -> Output {
    Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json", "--option", "plugin-files"])
        .arg(plugin)
        .args(["-E", expr])
        .output()
        .expect("nix-instantiate runs")
}

fn eval(expr: &str) -> Output {
    eval_with(plugin(), expr)
}

/// Evaluates `expr` and parses its JSON value; panics with Nix's message on failure.
fn eval_json(expr: &str) -> Value {
    json_of(&eval(expr), &format!("evaluation of {expr}"))
}

/// The JSON a successful command printed; panics with its error output otherwise.
fn json_of(out: &std::process::Output, what: &str) -> Value {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

/// The reference rendering: `nixproc-sysvinit-render --json` of a JSON spec text.
fn render_reference(spec_json: &str) -> Value {
    let mut child = Command::new(RENDER)
        .args(["--json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("render binary runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(spec_json.as_bytes())
        .expect("write spec");
    json_of(
        &child.wait_with_output().expect("render finishes"),
        "nixproc-sysvinit-render",
    )
}

/// Nix string literal for `s`.
fn nix_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn golden_specs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut specs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/golden exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    specs.sort();
    assert!(!specs.is_empty(), "no golden specs in {}", dir.display());
    specs
}

fn assert_same_rendering(got: &Value, want: &Value, what: &str) {
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(got),
        vec![
            "credentials",
            "files",
            "links",
            "manifest",
            "name",
            "runtimeFiles",
            "script",
            "sequence",
            "stopSequence"
        ],
        "{what}: attribute names"
    );
    for key in keys(want) {
        // Strings compare byte for byte; print the first differing field for diagnosis.
        assert_eq!(got[&key], want[&key], "{what}: attribute '{key}' differs");
    }
    assert_eq!(keys(got), keys(want), "{what}");
}

#[test]
fn golden_specs_render_byte_identically_to_the_render_binary() {
    for spec in golden_specs() {
        let text = std::fs::read_to_string(&spec).expect("read spec");
        let expr = format!(
            "builtins.sysvinitScript (builtins.fromJSON (builtins.readFile {}))",
            nix_str(&spec.display().to_string())
        );
        let got = eval_json(&expr);
        let want = render_reference(&text);
        assert_same_rendering(&got, &want, &spec.display().to_string());
    }
}

#[test]
fn nix_values_convert_like_builtins_to_json() {
    // A spec written in Nix (integers, booleans, nested sets, lists, multi-line strings,
    // shell metacharacters) must render exactly as its builtins.toJSON does in the binary.
    let spec = r#"{
      name = "worker";
      description = "Queue worker\nwith \"quotes\" and $(dollars) and 'single'";
      process = "/nix/store/7x1y2z3a4b5c6d7e8f9g0h1j2k3l4m5n-webapp/bin/worker";
      args = [ "--queue" "jobs and more" "it's $(rm -rf /)" "tab\there" ];
      processIsDaemon = false;
      umask = "027";
      nice = -5;
      environment = { PORT = 5001; GREETING = "héllo wörld ✓"; EMPTY = ""; };
      runlevels = [ 2 3 4 5 ];
      dependencies = [ { name = "db"; sequence = 3; } { name = "cache"; sequence = 7; } ];
      readiness = { tcpPort = 5001; timeout = 5; };
      user = "worker";
      credentials = {
        groups.worker = { };
        users.worker = { group = "worker"; description = "Worker"; };
      };
      config = { runtimeDir = "/run"; minSequence = 1; maxSequence = 99; };
    }"#;
    let got = eval_json(&format!("builtins.sysvinitScript {spec}"));
    let spec_json = eval_json(&format!("builtins.toJSON {spec}"));
    let want = render_reference(spec_json.as_str().expect("toJSON gives a string"));
    assert_same_rendering(&got, &want, "worker");
    assert_eq!(got["sequence"], 8, "after the dependency with sequence 7");
}

/// Runs `nix-build --no-out-link` on `expr` with the plugin and returns the output path.
fn nix_build(expr: &str) -> String {
    common::stdout_of(
        Command::new("nix-build")
            .args(["--no-out-link", "--option", "plugin-files"])
            .arg(plugin())
            .args(["-E", expr]),
        &format!("nix-build of {expr}"),
    )
    .trim()
    .to_owned()
}

fn references(path: &str) -> Vec<String> {
    let out = Command::new("nix-store")
        .args(["-q", "--references", path])
        .output()
        .expect("nix-store runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .expect("paths")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_derivation_writing_the_script_depends_on_the_store_paths_in_the_spec() {
    let dir = tempfile::tempdir().expect("temp dir");
    let helper = dir.path().join("helper.sh");
    std::fs::write(&helper, "#!/bin/sh\necho helper\n").expect("write helper");
    // `unique` keeps the store paths of this run apart from earlier runs.
    let unique = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos()
    );
    let prelude = format!(
        r#"let
          sys = builtins.currentSystem;
          daemon = derivation {{
            name = "fake-daemon"; system = sys; builder = "/bin/sh";
            args = [ "-c" "echo {unique} > $out" ];
          }};
          db = derivation {{
            name = "db"; system = sys; builder = "/bin/sh";
            args = [ "-c" "echo db {unique} > $out" ];
          }} // {{ sequence = 4; }};
          r = builtins.sysvinitScript {{
            name = "webapp";
            process = "${{daemon}}/bin/webapp";
            initialize = {helper};
            dependencies = [ db ];
          }};
          write = script: derivation {{
            name = "webapp-script"; system = sys; builder = "/bin/sh";
            args = [ "-c" "printf '%s' \"$script\" > $out" ];
            inherit script;
          }};
        in"#,
        helper = helper.display()
    );
    let daemon = nix_build(&format!("{prelude} daemon"));
    let out = nix_build(&format!("{prelude} write r.script"));
    let refs = references(&out);
    assert!(
        refs.contains(&daemon),
        "{out} should reference {daemon}: {refs:?}"
    );
    let copied: Vec<&String> = refs.iter().filter(|r| r.ends_with("-helper.sh")).collect();
    assert_eq!(
        copied.len(),
        1,
        "the path literal is copied to the store and referenced: {refs:?}"
    );
    // The derivation passed as a dependency counts through its name and sequence.
    let r = eval_json(&format!("{prelude} {{ inherit (r) sequence links; }}"));
    assert_eq!(r["sequence"], 5);
    // The file holds exactly the returned script.
    let script = eval_json(&format!("{prelude} r.script"));
    assert_eq!(
        std::fs::read_to_string(&out).expect("read script"),
        script.as_str().expect("string")
    );
    // Without the context nothing is referenced: the dependency comes from the context.
    let bare = nix_build(&format!(
        "{prelude} write (builtins.unsafeDiscardStringContext r.script)"
    ));
    assert!(
        references(&bare).is_empty(),
        "{bare}: {:?}",
        references(&bare)
    );
}

/// Evaluates a failing call and returns its error output; asserts exit status 1.
fn error_of(expr: &str) -> String {
    let out = eval(expr);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected exit 1 for {expr}\nstdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

const WEB: &str = r#"name = "webapp"; process = "/bin/webapp";"#;

#[test]
fn bad_input_is_an_evaluation_error_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let binary = dir.path().join("binary");
    std::fs::write(&binary, b"ok \xff\xfe bytes").expect("write binary file");
    // A one-megabyte name, built by Nix (too long for a command line).
    let huge_name =
        r#"("web app" + builtins.concatStringsSep "" (builtins.genList (i: "x") 1048576))"#;

    let cases: Vec<(String, String)> =
        vec![
        (
            format!("{{ {WEB} proces = 1; }}"),
            "process 'webapp': unknown attribute 'proces' (did you mean 'process'?)".into(),
        ),
        (
            format!("{{ {WEB} config.runtimeDirectory = \"/run\"; }}"),
            "unknown attribute 'config.runtimeDirectory' (did you mean 'runtimeDir'?)".into(),
        ),
        (
            format!("{{ {WEB} nice = \"high\"; }}"),
            "process 'webapp': attribute 'nice' must be an integer, got a string".into(),
        ),
        (
            format!("{{ {WEB} nice = 1.5; }}"),
            "process 'webapp': attribute 'nice' must be an integer, got a float".into(),
        ),
        (
            format!("{{ {WEB} nice = 2.0; }}"),
            "process 'webapp': attribute 'nice' must be an integer, got a float".into(),
        ),
        (
            format!("{{ {WEB} args = [ \"-c\" (x: x) ]; }}"),
            "process 'webapp', attribute 'args[1]': a function cannot be used in a process spec"
                .into(),
        ),
        (
            format!("{{ {WEB} environment.F = builtins.map; }}"),
            "process 'webapp', attribute 'environment.F': a function cannot be used".into(),
        ),
        (
            "x: x".into(),
            "expected an attribute set describing a process, but got a function".into(),
        ),
        (
            "[ 1 2 ]".into(),
            "expected an attribute set describing a process, but got a list".into(),
        ),
        (
            format!("{{ {WEB} dependencies = [ {{ name = \"db\"; sequence = 99; }} ]; }}"),
            "start sequence 100 exceeds maxSequence 99".into(),
        ),
        (
            "{ name = \"web app\"; process = \"/bin/x\"; }".into(),
            "attribute 'name': \"web app\" is not a valid process name".into(),
        ),
        (
            format!("{{ name = {huge_name}; process = \"/bin/x\"; }}"),
            "is not a valid process name".into(),
        ),
        (
            format!("{{ {WEB} runlevels = [ 3 7 ]; }}"),
            "runlevel 7 is not one of the supported runlevels".into(),
        ),
        (
            format!("{{ {WEB} environment.\"MY-VAR\" = \"x\"; }}"),
            "\"MY-VAR\" is not a valid environment variable name".into(),
        ),
        (
            format!("{{ {WEB} user = \"root;rm\"; }}"),
            "\"root;rm\" is not a valid user or group name".into(),
        ),
        (
            "{ process = \"/bin/x\"; }".into(),
            "process description has no name: set 'name' or 'instanceName'".into(),
        ),
        (
            format!("{{ {WEB} dependencies = [ {{ name = \"db\"; }} ]; }}"),
            "attribute 'dependencies[0].sequence': missing".into(),
        ),
        (
            format!("{{ {WEB} description = builtins.readFile {}; }}", binary.display()),
            "process 'webapp': the spec contains a string that is not valid UTF-8".into(),
        ),
        (
            format!("{{ {WEB} description = throw \"no description today\"; }}"),
            "no description today".into(),
        ),
        (
            format!("let s = {{ inner = s; }}; in {{ {WEB} activities = s; }}"),
            "process 'webapp', attribute 'activities.inner.inner".into(),
        ),
        (
            format!("{{ {WEB} readiness.tcpPort = 70000; }}"),
            "attribute 'readiness.tcpPort': 70000 is not a TCP port".into(),
        ),
        (
            format!("{{ {WEB} nice = 9223372036854775807; }}"),
            "process 'webapp': attribute 'nice'".into(),
        ),
    ];
    assert!(cases.len() >= 15);
    for (spec, expected) in &cases {
        let expr = format!("builtins.sysvinitScript ({spec})");
        let stderr = error_of(&expr);
        let shown = if stderr.len() > 600 {
            &stderr[..600]
        } else {
            &stderr
        };
        assert!(
            stderr.contains(expected.as_str()),
            "for {}: expected {expected:?} in:\n{shown}",
            if spec.len() > 200 { &spec[..200] } else { spec }
        );
        // Errors raised by the plugin carry the call position.
        if !expected.contains("no description today") {
            assert!(
                stderr.contains("builtins.sysvinitScript") && stderr.contains("«string»:1:"),
                "position missing in:\n{shown}"
            );
        }
    }
}

#[test]
fn errors_thrown_inside_the_spec_stay_catchable() {
    // The conversion forces the spec with the evaluator's own machinery, so a `throw`
    // inside it keeps its kind and `tryEval` still catches it.
    let v = eval_json(&format!(
        "(builtins.tryEval (builtins.sysvinitScript {{ {WEB} description = throw \"later\"; }}).script).success"
    ));
    assert_eq!(v, Value::Bool(false));
}

#[test]
fn huge_valid_strings_render() {
    let v = eval_json(&format!(
        "builtins.stringLength (builtins.sysvinitScript {{ {WEB} initialize = builtins.concatStringsSep \"\" (builtins.genList (i: \"echo line\\n\") 200000); }}).script"
    ));
    assert!(v.as_u64().expect("a number") > 2_000_000, "{v}");
}

/// Replaces the recorded Nix version in a copy of the plugin, as if it were built for
/// another Nix, and checks that it refuses to register with one clear line.
/// The version of the Nix on the PATH: the last word of `nix --version`.
fn installed_nix_version() -> String {
    let out = String::from_utf8(
        Command::new("nix")
            .arg("--version")
            .output()
            .expect("nix runs")
            .stdout,
    )
    .expect("utf-8");
    out.split_whitespace()
        .last()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_plugin_built_for_another_nix_registers_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (copy, fake) = common::plugin_for_another_nix(plugin(), dir.path());
    let this_nix = installed_nix_version();
    let out = eval_with(&copy, "builtins ? sysvinitScript");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "false");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains(&format!("built for Nix {fake}"))
            && lines[0].contains(&format!("this is Nix {this_nix}")),
        "{stderr}"
    );
    // The real plugin registers the primop.
    let out = eval("builtins ? sysvinitScript");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "true");
}

/// The Nix bridge compiled with the 2.26 adapter must compile against Nix 2.26.3's headers (a
/// syntax check), and with the 2.8 adapter it must not: this keeps the adapter layer honest.
/// Runs when scripts/setup.sh could prepare the 2.26.3 sources.
#[test]
fn the_nix_2_26_adapter_compiles_against_nix_2_26_headers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bridge = root.join("cpp-bridge/src");
    let src = root.join(".nixproc/src/nix-2.26.3+dfsg-1/src");
    if !src.join("libexpr/eval.hh").is_file() {
        eprintln!(
            "skipped: Nix 2.26.3 sources not prepared at {} (scripts/setup.sh fetches them when Debian trixie is reachable)",
            src.display()
        );
        return;
    }
    // `g++ -fsyntax-only` of the bridge for one adapter generation (NIXPROC_NIX_MINOR).
    let syntax_check = |minor: u32| -> Command {
        let mut cmd = Command::new("g++");
        cmd.args(["-std=c++2a", "-fsyntax-only", "-w"])
            .arg(format!("-DNIXPROC_NIX_MINOR={minor}"))
            .arg("-I")
            .arg(&bridge);
        cmd
    };
    let check = |minor: u32| -> Output {
        let mut cmd = syntax_check(minor);
        // globals.hh wants the SYSTEM a generated config would define.
        cmd.arg("-DSYSTEM=\"x86_64-linux\"");
        for lib in ["libutil", "libstore", "libexpr", "libfetchers", "libmain"] {
            for sub in ["", "linux", "unix"] {
                let dir = src.join(lib).join(sub);
                if dir.is_dir() {
                    cmd.arg("-I").arg(dir);
                }
            }
        }
        cmd.arg(bridge.join("nix_bridge.cc"));
        cmd.output().expect("g++ runs")
    };
    let ok = check(26);
    assert!(
        ok.status.success(),
        "nix_bridge.cc with compat_2_26.hh does not compile against 2.26.3:\n{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let old = check(8);
    assert!(
        !old.status.success(),
        "the 2.8 adapter unexpectedly compiles against 2.26.3: the check would prove nothing"
    );
    // And the other way round, against the 2.8 headers the plugin is built with.
    let installed = installed_nix_version();
    let headers = root
        .join(".nixproc/nix-headers")
        .join(installed)
        .join("include/nix");
    if headers.join("eval.hh").is_file() {
        let newer = syntax_check(26)
            .args(["-include", "config.h"])
            .arg("-I")
            .arg(&headers)
            .arg(bridge.join("nix_bridge.cc"))
            .output()
            .expect("g++ runs");
        assert!(
            !newer.status.success(),
            "the 2.26 adapter unexpectedly compiles against 2.8 headers"
        );
    }
}

/// `builtins.sysvinitCheck` accepts what `builtins.sysvinitScript` renders (null) and
/// returns, without throwing, the message `builtins.sysvinitScript` throws for what it
/// refuses: renderer errors and values without a JSON form alike.
#[test]
fn the_check_primop_agrees_with_the_render_primop() {
    for spec in golden_specs() {
        let expr = format!(
            "builtins.sysvinitCheck (builtins.fromJSON (builtins.readFile {}))",
            nix_str(&spec.display().to_string())
        );
        assert_eq!(eval_json(&expr), Value::Null, "{}", spec.display());
    }
    let bad = [
        r#"{ name = "c"; process = "/bin/c"; nice = 99; }"#,
        r#"{ name = "d"; process = "/bin/d"; environment.X = x: x; }"#,
        r#"{ name = "e"; process = "/bin/e"; dependencies = [ { name = "x"; sequence = 99; } ]; }"#,
        r#"{ name = "f"; process = "/bin/f"; colour = "blue"; }"#,
    ];
    for spec in bad {
        let message = eval_json(&format!("builtins.sysvinitCheck {spec}"));
        let message = message.as_str().expect("a message");
        let thrown = eval(&format!("builtins.sysvinitScript {spec}"));
        assert!(!thrown.status.success(), "{spec} renders");
        let stderr = String::from_utf8_lossy(&thrown.stderr);
        assert!(
            message.starts_with("process '") && stderr.contains(message),
            "{spec}:\ncheck: {message}\nrender: {stderr}"
        );
    }
}
