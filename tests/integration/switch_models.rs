//! The switch's habits shared with nix-processmgmt and nix-build, with real Nix and real
//! processes: `--extra-params` in Nix syntax and in JSON, `--arg`/`--argstr` reaching the
//! model, boolean environment variables, `--dry-run --graph`, and profiles found through
//! `NIX_STATE_DIR` / `NIX_USER_PROFILE_DIR` where nix-processmgmt's tools keep them.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::*;

/// The `--argstr` value of the model below, with characters Nix strings escape.
const LABEL: &str = r#"say "hi" ${x} \ done"#;

/// A model in nix-processmgmt's shape taking arguments of its own (given with
/// `--arg`/`--argstr`/`--extra-params`): the example's webapps and nginx.
fn write_model(dir: &Path) -> std::path::PathBuf {
    let example = common::webapps_example();
    let text = format!(
        r#"{{ pkgs, stateDir, runtimeDir, logDir, tmpDir, forceDisableUserChange
, instances, basePort, label, nginxPort ? 8080 }}:

assert label == "say \"hi\" \${{x}} \\ done";
import {example} {{
  inherit pkgs stateDir runtimeDir logDir tmpDir forceDisableUserChange nginxPort;
  webappInstances = instances;
  webappBasePort = basePort;
}}
"#,
        example = example.display()
    );
    let path = dir.join("processes.nix");
    std::fs::write(&path, text).unwrap();
    path
}

/// Nodes (name → label) and edges of the DOT text printed by `--dry-run --graph`.
type Graph = (BTreeMap<String, String>, Vec<(String, String)>);

fn parse_dot(dot: &str) -> Graph {
    let mut nodes = BTreeMap::new();
    let mut edges = Vec::new();
    let quoted = |s: &str| -> Vec<String> {
        s.split('"')
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, t)| t.to_string())
            .collect()
    };
    assert!(dot.trim_end().ends_with('}'), "{dot}");
    assert!(dot.contains("digraph plan {"), "{dot}");
    for line in dot.lines().map(str::trim).filter(|l| !l.starts_with("//")) {
        let q = quoted(line);
        if line.contains(" -> ") {
            edges.push((q[0].clone(), q[1].clone()));
        } else if line.contains("[label=") {
            nodes.insert(q[0].clone(), q[1].clone());
        }
    }
    (nodes, edges)
}

#[test]
fn model_arguments_extra_params_boolean_variables_and_the_plan_graph() {
    let nginx_port = common::free_port();
    let base = free_ports(2);
    let mut d = ModelDeployment::new("models", &[]);
    let model = write_model(d.dir.path());
    let model = model.to_str().unwrap();
    let base_s = base.to_string();
    let nix_extra = format!("{{ nginxPort = {nginx_port}; }}");
    let json_extra = format!(r#"{{"nginxPort": {nginx_port}}}"#);
    // The arguments every switch of the model ends with.
    let port_label_model = [
        "--arg",
        "basePort",
        base_s.as_str(),
        "--argstr",
        "label",
        LABEL,
        model,
    ];

    // A boolean variable with a value that is none: the error names it.
    d.env = vec![(
        "NIXPROC_FORCE_DISABLE_USER_CHANGE".into(),
        "sometimes".into(),
    )];
    let err = assert_failed(&d.switch(&["--dry-run", model]));
    assert!(
        err.contains("NIXPROC_FORCE_DISABLE_USER_CHANGE") && err.contains("yes or no"),
        "{err}"
    );

    // Deploy: Nix-syntax extra params, --arg and --argstr reach the model; `Yes` turns
    // user changes off, so no account is created.
    d.env = vec![("NIXPROC_FORCE_DISABLE_USER_CHANGE".into(), "Yes".into())];
    let first = [
        "--json",
        "--extra-params",
        nix_extra.as_str(),
        "--arg",
        "instances",
        "1",
    ];
    let out = assert_succeeded(&d.switch(&[&first[..], &port_label_model].concat()));
    let result = out
        .lines()
        .find(|l| l.contains(r#""event":"result""#))
        .unwrap_or_else(|| panic!("no result line:\n{out}"));
    let result: serde_json::Value = serde_json::from_str(result).unwrap();
    assert_eq!(result["createdUsers"], serde_json::json!([]), "{out}");
    assert_eq!(result["createdGroups"], serde_json::json!([]), "{out}");
    assert!(d.pid("webapp1").is_some(), "webapp1 not running:\n{out}");
    assert!(d.pid("webapp2").is_none());
    let page = common::wait_http(nginx_port, Duration::from_secs(10))
        .expect("nginx answers on the port given in Nix syntax");
    assert!(page.contains("instance=webapp1"), "{page}");
    // The plan of an upgrade to two instances as a graph (JSON extra params this time,
    // and `0` is false).
    d.env = vec![("NIXPROC_FORCE_DISABLE_USER_CHANGE".into(), "yes".into())];
    let out = d
        .switch_cmd()
        .args(["--dry-run", "--graph", "--extra-params", &json_extra])
        .args(["--arg", "instances", "2"])
        .args(port_label_model)
        .output()
        .unwrap();
    assert_succeeded(&out);
    let dot = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("package set: host-packages shim"), "{err}");
    let (nodes, edges) = parse_dot(&dot);
    let expected: BTreeMap<String, String> = [
        ("nginx", "nginx\\nrestart"),
        ("webapp1", "webapp1\\nunchanged"),
        ("webapp2", "webapp2\\nstart"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(nodes, expected, "{dot}");
    let mut edges = edges;
    edges.sort();
    assert_eq!(
        edges,
        [
            ("nginx".to_string(), "webapp1".to_string()),
            ("nginx".to_string(), "webapp2".to_string())
        ],
        "{dot}"
    );
    // The dry run changed nothing.
    assert!(d.pid("webapp2").is_none());

    // A plain value for a model argument that wants an integer is Nix's error.
    let plain = [
        "--dry-run",
        "--extra-params",
        nix_extra.as_str(),
        "--argstr",
        "instances",
        "2",
    ];
    let err = assert_failed(&d.switch(&[&plain[..], &port_label_model].concat()));
    assert!(err.contains("error"), "{err}");

    // The graph of undeploying: everything stops, edges from the old profile.
    let out = d
        .switch_cmd()
        .args(["--dry-run", "--graph", "--undeploy"])
        .output()
        .unwrap();
    assert_succeeded(&out);
    let dot = String::from_utf8_lossy(&out.stdout);
    let (nodes, edges) = parse_dot(&dot);
    assert_eq!(nodes.get("nginx").map(String::as_str), Some("nginx\\nstop"));
    assert!(
        dot.contains("\"nginx\" -> \"webapp1\" [style=dashed]"),
        "{dot}"
    );
    assert_eq!(edges.len(), 1, "{dot}");

    assert_succeeded(&d.switch(&["--undeploy"]));
    assert!(d.pid("webapp1").is_none());
}

#[test]
fn nix_state_dir_and_nix_user_profile_dir_find_a_nix_processmgmt_deployment() {
    let sb = Sandbox::new();
    let (v1, v2) = sb.b_to_c_profiles();
    // A deployment where nix-processmgmt keeps it: NIX_STATE_DIR/profiles/processes.
    let nix_state = sb.path().join("nix");
    let upstream = nix_state.join("profiles/processes");
    assert_succeeded(
        &sb.switch_cmd_default_profile(&sb.state(), 3)
            .arg("-p")
            .arg(&upstream)
            .arg(&v1)
            .output()
            .unwrap(),
    );
    let a = sb.pid("a").expect("a runs");
    assert!(sb.pid("b").is_some());

    // Without -p, NIX_STATE_DIR leads to it: the plan is an upgrade of it.
    let dry = assert_succeeded(
        &sb.switch_cmd_default_profile(&sb.state(), 3)
            .env_remove("NIX_USER_PROFILE_DIR")
            .env("NIX_STATE_DIR", &nix_state)
            .arg("--dry-run")
            .arg(&v2)
            .output()
            .unwrap(),
    );
    assert!(
        dry.contains("stop  b (obsolete)") && dry.contains("start c (new)"),
        "{dry}"
    );
    assert!(dry.contains("unchanged: 1"), "{dry}");

    // NIX_USER_PROFILE_DIR names the profiles directory: the switch upgrades the
    // deployment in place, as a new generation of nix-processmgmt's profile link.
    let user_cmd = || {
        let mut c = sb.switch_cmd_default_profile(&sb.state(), 3);
        c.env("NIX_USER_PROFILE_DIR", nix_state.join("profiles"));
        c
    };
    assert_succeeded(&user_cmd().arg(&v2).output().unwrap());
    assert_eq!(sb.pid("a"), Some(a), "a was restarted");
    assert!(sb.pid("b").is_none() && sb.pid("c").is_some());
    assert_eq!(
        std::fs::read_link(&upstream).unwrap(),
        Path::new("processes-2-link")
    );
    assert!(
        !nix_state.join("profiles/nixproc-sysvinit").exists(),
        "a second profile link was made"
    );
    assert_succeeded(&user_cmd().arg("--undeploy").output().unwrap());
    assert!(sb.leftovers().is_empty());
}
