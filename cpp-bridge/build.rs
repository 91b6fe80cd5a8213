//! Builds the C++ half of the plugin against the headers of the installed Nix.
//!
//! Header discovery, first match wins:
//! 1. `NIXPROC_NIX_INCLUDE`: a directory containing `eval.hh` and `config.h`;
//! 2. `pkg-config nix-expr`, when its include directory really holds `eval.hh` (Nix from
//!    nixpkgs; Debian ships the .pc files but no headers);
//! 3. `.nixproc/nix-headers/VERSION/include/nix` in the workspace, prepared by
//!    `scripts/setup.sh` for VERSION = the running `nix --version`.
//!
//! The Nix version recorded in the plugin is the `PACKAGE_VERSION` of that `config.h`.
//! The libraries are linked from `pkg-config --libs nix-expr` or `/usr/lib/nix`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    for var in ["NIXPROC_NIX_INCLUDE", "PKG_CONFIG_PATH"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    for file in [
        "src/lib.rs",
        "src/bridge.hh",
        "src/plugin.cc",
        "src/nix_api_2_8.cc",
        "src/nix_api_2_26.cc",
    ] {
        println!("cargo:rerun-if-changed={file}");
    }

    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets this"));
    let workspace = manifest_dir.parent().expect("crate lives in the workspace");
    let pkg_config_path = {
        let mut p = env::var("PKG_CONFIG_PATH").unwrap_or_default();
        if !p.is_empty() {
            p.push(':');
        }
        p.push_str("/usr/lib/nix/pkgconfig");
        p
    };
    let pkg_config = |args: &[&str]| -> Option<String> {
        let out = Command::new("pkg-config")
            .args(args)
            .env("PKG_CONFIG_PATH", &pkg_config_path)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };

    let running = running_nix_version();
    let include = find_headers(workspace, &running, &pkg_config);
    println!(
        "cargo:rerun-if-changed={}",
        include.join("config.h").display()
    );
    let compiled = config_version(&include.join("config.h"));
    if running.as_deref() != Some(compiled.as_str()) {
        println!(
            "cargo:warning=building the plugin for Nix {compiled}, but `nix --version` says {}; \
             the plugin will refuse to load into another version",
            running.as_deref().unwrap_or("nothing (nix not found)")
        );
    }

    let (shim, std) = match compiled.split('.').take(2).collect::<Vec<_>>()[..] {
        ["2", "8"] => ("src/nix_api_2_8.cc", "c++17"),
        _ => panic!(
            "no Nix API shim for Nix {compiled}: supported is 2.8 \
             (add src/nix_api_X_Y.cc; see src/nix_api_2_26.cc for a newer API)"
        ),
    };

    let mut build = cxx_build::bridge("src/lib.rs");
    build
        .file("src/plugin.cc")
        .file(shim)
        .include("src")
        .include(&include)
        .std(std)
        .flag("-include")
        .flag("config.h")
        .flag_if_supported("-Wno-missing-field-initializers")
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-deprecated-declarations")
        .define(
            "NIXPROC_NIX_VERSION",
            Some(format!("\"{compiled}\"").as_str()),
        )
        // Without +whole-archive the linker drops the object holding the static
        // registration, and the primop silently never appears.
        .link_lib_modifier("+whole-archive")
        .compile("nixproc_sysvinit_plugin_cc");

    let mut lib_dirs = Vec::new();
    if let Some(libs) = pkg_config(&["--libs-only-L", "nix-expr"]) {
        lib_dirs.extend(
            libs.split_whitespace()
                .filter_map(|f| f.strip_prefix("-L"))
                .map(PathBuf::from),
        );
    }
    if lib_dirs.is_empty() {
        lib_dirs.push(PathBuf::from("/usr/lib/nix"));
    }
    for dir in &lib_dirs {
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    }
    for lib in ["nixexpr", "nixstore", "nixutil", "gc"] {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
    // Bind Nix's functions lazily, so that inside a different Nix the version check runs
    // (and refuses) before a missing function could stop the plugin from loading.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,lazy");
    println!("cargo:rustc-env=NIXPROC_NIX_VERSION={compiled}");
}

/// The version printed by `nix --version`, if nix is installed.
fn running_nix_version() -> Option<String> {
    let out = Command::new("nix").arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().last().map(str::to_owned)
}

/// The directory holding `eval.hh` and `config.h`.
fn find_headers(
    workspace: &Path,
    running: &Option<String>,
    pkg_config: &dyn Fn(&[&str]) -> Option<String>,
) -> PathBuf {
    let usable = |dir: &Path| dir.join("eval.hh").is_file() && dir.join("config.h").is_file();
    if let Ok(dir) = env::var("NIXPROC_NIX_INCLUDE") {
        let dir = PathBuf::from(dir);
        if usable(&dir) {
            return dir;
        }
        panic!(
            "NIXPROC_NIX_INCLUDE={} holds no eval.hh and config.h",
            dir.display()
        );
    }
    if let Some(flags) = pkg_config(&["--cflags-only-I", "nix-expr"]) {
        for flag in flags.split_whitespace() {
            if let Some(dir) = flag.strip_prefix("-I") {
                if usable(Path::new(dir)) {
                    return PathBuf::from(dir);
                }
            }
        }
    }
    let Some(version) = running else {
        panic!("`nix` was not found on PATH: install Nix (scripts/setup.sh) to build the plugin");
    };
    let dir = workspace
        .join(".nixproc/nix-headers")
        .join(version)
        .join("include/nix");
    if usable(&dir) {
        return dir;
    }
    panic!(
        "no headers for Nix {version}: neither pkg-config nix-expr nor {} has them; \
         run scripts/setup.sh (as root) to prepare them",
        dir.display()
    );
}

/// The `PACKAGE_VERSION` defined in Nix's `config.h`.
fn config_version(config: &Path) -> String {
    let text = std::fs::read_to_string(config)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", config.display()));
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("#define PACKAGE_VERSION"))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .next()
        .unwrap_or_else(|| panic!("{} defines no PACKAGE_VERSION", config.display()))
}
