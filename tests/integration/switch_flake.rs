//! `--flake REF#NAME`: a user flake's processes model deployed through the switch, with a
//! local stand-in nixpkgs flake as its `nixpkgs` input (offline), swapped with
//! `--override-input`; runactivity builds the same flake output; and `nix run` of this
//! project's flake (its nixpkgs input a stand-in too) installs tools that work.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::*;

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

/// A deployment named `name` for the webapps example with nginx on a free port and
/// `instances` free consecutive ports for the webapps; returns it, nginx's port and the
/// extra parameters that give the ports.
fn webapps_deployment(name: &str, instances: u16) -> (ModelDeployment, u16, String) {
    let nginx_port = common::free_port();
    let base = free_ports(instances);
    let extra = format!("{{ nginxPort = {nginx_port}; webappBasePort = {base}; }}");
    (
        ModelDeployment::new(name, &["--extra-params", &extra]),
        nginx_port,
        extra,
    )
}

/// A user flake in `dir` whose `processes.web` is the example model with one webapp
/// instance, on its nixpkgs input's package set; the instance's name tells which
/// stand-in it got.
fn user_flake(dir: &Path, nixpkgs: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let example = common::webapps_example();
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
    let (d, nginx_port, extra) = webapps_deployment("flake", 2);
    let first = d.dir.path().join("nixpkgs-first");
    let second = d.dir.path().join("nixpkgs-second");
    stand_in_flake(&first, "first");
    stand_in_flake(&second, "second");
    let flake = d.dir.path().join("my-flake");
    user_flake(&flake, &first);
    let reference = format!("{}#web", flake.display());

    // A model name the flake does not have: the error lists those it has.
    let err =
        assert_failed(&d.switch(&["--dry-run", "--flake", &format!("{}#nope", flake.display())]));
    assert!(
        err.contains("no processes model `nope`") && err.contains("web"),
        "{err}"
    );

    // Deploy processes.web: one instance (the first stand-in), nginx answers.
    let out = assert_succeeded(&d.switch(&["--flake", &reference]));
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
    let text = assert_succeeded(&out);
    assert!(
        text.contains("webapp1 is running") && text.contains("nginx is running"),
        "{text}"
    );
    assert!(text.contains("package set: "), "{text}");

    // --override-input swaps the nixpkgs input: two instances now.
    let out = assert_succeeded(&d.switch(&[
        "--flake",
        &reference,
        "--override-input",
        "nixpkgs",
        &format!("path:{}", second.display()),
    ]));
    assert!(d.pid("webapp2").is_some(), "{out}");

    // A flake directory given as PATH means its processes.default; this one has none.
    let err = assert_failed(&d.switch(&["--dry-run", flake.to_str().unwrap()]));
    assert!(err.contains("no processes model `default`"), "{err}");

    assert_succeeded(&d.switch(&["--undeploy"]));
    assert!(d.pid("webapp1").is_none() && d.pid("webapp2").is_none());
}

/// A stand-in nixpkgs flake in `dir` for this project's own flake: `lib` with the few
/// functions flake.nix calls, and `import`able (default.nix) with a `rustPlatform`
/// whose `buildRustPackage` installs this build's programs (copied into the flake)
/// instead of compiling, then runs the package's `postInstall` in its source.
fn stand_in_for_the_project(dir: &Path) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for (name, path) in [
        (
            "nixproc-sysvinit-switch",
            env!("CARGO_BIN_EXE_nixproc-sysvinit-switch"),
        ),
        (
            "nixproc-sysvinit-runactivity",
            env!("CARGO_BIN_EXE_nixproc-sysvinit-runactivity"),
        ),
        (
            "nixproc-sysvinit-render",
            env!("CARGO_BIN_EXE_nixproc-sysvinit-render"),
        ),
        (
            "nixproc-sysvinit-supervise",
            env!("CARGO_BIN_EXE_nixproc-sysvinit-supervise"),
        ),
    ] {
        std::fs::copy(path, bin.join(name)).unwrap();
    }
    let files = [
        (
            "lib.nix",
            r#"{
  genAttrs = names: f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);
  fileset = { unions = paths: paths; toSource = { root, fileset }: root; };
  platforms.linux = [ "x86_64-linux" "aarch64-linux" "i686-linux" "armv7l-linux" ];
}
"#,
        ),
        (
            "default.nix",
            r#"{ system ? builtins.currentSystem, overlays ? [ ], ... }:
let
  base = {
    inherit system;
    lib = import ./lib.nix;
    rustPlatform.buildRustPackage = args: derivation {
      name = "${args.pname}-${args.version}";
      inherit system;
      builder = "/bin/sh";
      PATH = "/usr/bin:/bin";
      inherit (args) src;
      programs = ./bin;
      postInstall = args.postInstall or "";
      args = [ "-c" ''
        set -e
        mkdir -p "$out/bin"
        cp "$programs"/* "$out/bin/"
        cd "$src"
        eval "$postInstall"
      '' ];
    } // { meta = args.meta or { }; };
  };
  pkgs = builtins.foldl' (acc: overlay: acc // overlay pkgs acc) base overlays;
in
pkgs
"#,
        ),
        (
            "flake.nix",
            r#"{
  description = "stand-in nixpkgs for nixproc-sysvinit's flake";
  outputs = { self }: {
    lib = import ./lib.nix;
    legacyPackages.x86_64-linux = import ./. { system = "x86_64-linux"; };
  };
}
"#,
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// The flake's `nixproc-sysvinit-switch` app, with the project's nixpkgs input replaced by
/// a stand-in, deploys a user flake: the flake alone installs tools that find their Nix
/// files.
#[test]
fn nix_run_of_the_project_flake_deploys_a_user_flake() {
    let (d, nginx_port, extra) = webapps_deployment("flake-app", 1);
    let tools_nixpkgs = d.dir.path().join("tools-nixpkgs");
    stand_in_for_the_project(&tools_nixpkgs);
    let model_nixpkgs = d.dir.path().join("model-nixpkgs");
    stand_in_flake(&model_nixpkgs, "first");
    let flake = d.dir.path().join("my-flake");
    user_flake(&flake, &model_nixpkgs);

    // The project's tracked files as a `path:` flake (no git fetcher: a checkout's git
    // tree need not be readable where Nix runs git, and target/ stays out).
    let repo = d.dir.path().join("project");
    let listed = std::process::Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(common::repo_root())
        .output()
        .unwrap();
    assert!(listed.status.success(), "git ls-files");
    for file in listed.stdout.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let rel = Path::new(std::str::from_utf8(file).unwrap());
        let from = common::repo_root().join(rel);
        if !from.is_file() {
            continue; // deleted in the work tree
        }
        std::fs::create_dir_all(repo.join(rel).parent().unwrap()).unwrap();
        std::fs::copy(&from, repo.join(rel)).unwrap();
    }
    let repo = format!("path:{}", repo.display());
    let override_ref = format!("path:{}", tools_nixpkgs.display());
    // The nix subcommand, then the stand-in, then its arguments.
    let nix = |args: &[&str]| {
        std::process::Command::new("nix")
            .args(["--option", "substituters", ""])
            .args(["--extra-experimental-features", "nix-command flakes"])
            .arg(args[0])
            .args(["--no-write-lock-file", "--override-input", "nixpkgs"])
            .arg(&override_ref)
            .args(&args[1..])
            .env_remove("NIXPROC_NIX_DIR")
            .env_remove("NIXPROC_SYSVINIT_BIN")
            .env_remove("NIX_PATH")
            .env("NIXPROC_SYSVINIT_WEBAPP", common::webapp_binary())
            .output()
            .unwrap()
    };
    // `nix eval --raw INSTALLABLE`, which must succeed: its output.
    let nix_eval_raw = |installable: &str| {
        let out = nix(&["eval", "--raw", installable]);
        assert_succeeded(&out);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let link = d.profile_link();
    let state = d.dir.path().join("state");
    // What `nix run` does, in its two steps: build the app's package, then run the app's
    // program. (Nix 2.8's `nix run` re-enters the mount namespace it started in right
    // before it executes the program, which leaves any chroot, such as a fresh test root
    // filesystem's, and then finds no such program.)
    assert_succeeded(&nix(&[
        "build",
        "--no-link",
        &format!("{repo}#packages.x86_64-linux.nixproc-sysvinit"),
    ]));
    let program = nix_eval_raw(&format!(
        "{repo}#apps.x86_64-linux.nixproc-sysvinit-switch.program"
    ));
    let out = std::process::Command::new(&program)
        .arg("-p")
        .arg(&link)
        .arg("--state-dir")
        .arg(&state)
        .args(["--runlevel", "3", "--extra-params", &extra, "--flake"])
        .arg(format!("{}#web", flake.display()))
        .env_remove("NIXPROC_NIX_DIR")
        .env_remove("NIXPROC_SYSVINIT_BIN")
        .env_remove("NIX_PATH")
        .env("NIXPROC_SYSVINIT_WEBAPP", common::webapp_binary())
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    let text = assert_succeeded(&out);
    assert!(d.pid("webapp1").is_some(), "{text}");
    let page = common::wait_http(nginx_port, Duration::from_secs(10)).expect("nginx answers");
    assert!(page.contains("instance=webapp1"), "{page}");

    // The package holds the Nix files where the installed tools look for them.
    let package = nix_eval_raw(&format!(
        "{repo}#packages.x86_64-linux.nixproc-sysvinit.outPath"
    ));
    assert!(
        Path::new(&package)
            .join("share/nixproc-sysvinit/nix/build-profile.nix")
            .is_file(),
        "{package}"
    );
    assert_succeeded(&d.switch(&["--undeploy"]));
}
