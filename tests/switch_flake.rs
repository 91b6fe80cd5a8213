//! `--flake REF#NAME`: a user flake's processes model deployed through the switch, with a
//! local stand-in nixpkgs flake as its `nixpkgs` input (offline), swapped with
//! `--override-input`; runactivity builds the same flake output.

mod switch_support;

use std::path::Path;
use std::time::Duration;

use switch_support::common;
use switch_support::*;

/// A stand-in nixpkgs flake in `dir`: `legacyPackages` from the tests' stand-in nixpkgs
/// (the host-packages shim with nixpkgs' names), with `flavour` to tell two apart.
fn stand_in_flake(dir: &Path, flavour: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let nixpkgs = common::repo_root().join("tests/fixtures/nixpkgs");
    let text = format!(
        r#"{{
  description = "stand-in nixpkgs ({flavour})";
  outputs = {{ self }}: {{
    legacyPackages = builtins.listToAttrs (map (system: {{
      name = system;
      value = import {nixpkgs} {{ inherit system; }} // {{ flavour = "{flavour}"; }};
    }}) [ "x86_64-linux" "aarch64-linux" ]);
  }};
}}
"#,
        nixpkgs = nixpkgs.display()
    );
    std::fs::write(dir.join("flake.nix"), text).unwrap();
}

/// A user flake in `dir` whose `processes.web` is the example model with one webapp
/// instance, on its nixpkgs input's package set; the instance's name tells which
/// stand-in it got.
fn user_flake(dir: &Path, nixpkgs: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let example = common::repo_root().join("examples/webapps/processes.nix");
    let text = format!(
        r#"{{
  description = "my processes";
  inputs.nixpkgs.url = "path:{nixpkgs}";
  outputs = {{ self, nixpkgs }}: {{
    processes.web =
      {{ system, stateDir, runtimeDir, logDir, tmpDir, forceDisableUserChange
      , webappBasePort ? 5000, nginxPort ? 8080 }}:
      let pkgs = nixpkgs.legacyPackages.${{system}}; in
      builtins.mapAttrs (_: p: p // {{ flavour = pkgs.flavour; }})
        (import {example} {{
          inherit pkgs system stateDir runtimeDir logDir tmpDir forceDisableUserChange
            webappBasePort nginxPort;
          webappInstances = if pkgs.flavour == "first" then 1 else 2;
        }});
  }};
}}
"#,
        nixpkgs = nixpkgs.display(),
        example = example.display()
    );
    std::fs::write(dir.join("flake.nix"), text).unwrap();
}

#[test]
fn a_flake_output_deploys_with_a_stand_in_nixpkgs_offline() {
    let nginx_port = common::free_port();
    let base = free_ports(2);
    let extra = format!("{{ nginxPort = {nginx_port}; webappBasePort = {base}; }}");
    let d = ModelDeployment::new("flake", &["--extra-params", &extra]);
    let first = d.dir.path().join("nixpkgs-first");
    let second = d.dir.path().join("nixpkgs-second");
    stand_in_flake(&first, "first");
    stand_in_flake(&second, "second");
    let flake = d.dir.path().join("my-flake");
    user_flake(&flake, &first);
    let reference = format!("{}#web", flake.display());

    // A model name the flake does not have: the error lists those it has.
    let err = failed(&d.switch(&["--dry-run", "--flake", &format!("{}#nope", flake.display())]));
    assert!(
        err.contains("no processes model `nope`") && err.contains("web"),
        "{err}"
    );

    // Deploy processes.web: one instance (the first stand-in), nginx answers.
    let out = ok(&d.switch(&["--flake", &reference]));
    assert!(d.pid("webapp1").is_some(), "{out}");
    assert!(d.pid("webapp2").is_none(), "{out}");
    assert!(
        flake.join("flake.lock").is_file(),
        "the flake was not locked"
    );
    let page = common::wait_http(nginx_port, Duration::from_secs(10)).expect("nginx answers");
    assert!(page.contains("instance=webapp1"), "{page}");

    // runactivity builds the same flake output: every process of it is running.
    let out = d.runactivity(&["--flake", &reference, "--extra-params", &extra, "status"]);
    let text = ok(&out);
    assert!(
        text.contains("webapp1 is running") && text.contains("nginx is running"),
        "{text}"
    );

    // --override-input swaps the nixpkgs input: two instances now.
    let out = ok(&d.switch(&[
        "--flake",
        &reference,
        "--override-input",
        "nixpkgs",
        &format!("path:{}", second.display()),
    ]));
    assert!(d.pid("webapp2").is_some(), "{out}");

    // A flake directory given as PATH means its processes.default; this one has none.
    let err = failed(&d.switch(&["--dry-run", flake.to_str().unwrap()]));
    assert!(err.contains("no processes model `default`"), "{err}");

    ok(&d.switch(&["--undeploy"]));
    assert!(d.pid("webapp1").is_none() && d.pid("webapp2").is_none());
}
