//! Builds the C++ half of the plugin against the headers of a Nix installation.
//!
//! Nix discovery, first match wins:
//! 1. `NIXPROC_NIX_INCLUDE`: a flat header directory containing `eval.hh` and a `config.h`
//!    that defines `PACKAGE_VERSION` (the layout `scripts/setup.sh` prepares for Nix 2.8);
//! 2. `pkg-config nix-expr`, when its include directories really hold the headers: flat
//!    `eval.hh` (Nix 2.26) or `nix/expr/eval.hh` (Nix ≥ 2.28). Debian ships the `.pc` files
//!    but no headers, so on Debian this finds nothing. The version is
//!    `pkg-config --modversion nix-expr`, and every compiler flag of `--cflags` is used;
//! 3. `.nixproc/nix-headers/VERSION/include/nix` in the workspace, prepared by
//!    `scripts/setup.sh` for VERSION = the running `nix --version` from Debian's source
//!    package; the version is the `PACKAGE_VERSION` of its `config.h`.
//!
//! The version picks the API adapter of `src/nix_bridge.cc` through `NIXPROC_NIX_MINOR`:
//! `compat_2_8.hh` for 2.8, `compat_2_26.hh` for 2.26 and later (which itself tells the
//! 2.28 header layout, 2.31 list views and 2.34 `PrimOp::impl` apart). The version is also
//! recorded in the plugin, which registers nothing inside any other Nix version. Libraries
//! are linked from `pkg-config --libs-only-L nix-expr`, or `/usr/lib/nix` (Debian).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The oldest minor version of Nix 2 that each adapter of `src/nix_bridge.cc` supports
/// (2.8's adapter supports exactly 2.8).
const ADAPTERS: &[(u32, &str)] = &[(26, "compat_2_26.hh"), (8, "compat_2_8.hh")];

/// How the Nix headers were found.
struct Nix {
    /// The Nix version the headers belong to, e.g. `2.26.3`.
    version: String,
    /// Include directories.
    include: Vec<PathBuf>,
    /// Further compiler flags (pkg-config's `-D`, `-include`, `-std`, ...).
    flags: Vec<String>,
    /// Files whose change must rebuild the plugin.
    watch: Vec<PathBuf>,
}

fn main() {
    watch_inputs();
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets this"));
    let workspace = manifest_dir.parent().expect("crate lives in the workspace");
    let pkg_config = pkg_config_runner();
    let running = running_nix_version();
    let nix = find_nix(workspace, &running, &pkg_config);
    for file in &nix.watch {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let minor = checked_minor(&nix.version, running.as_deref());
    compile_bridge(&nix, minor);
    link_nix(&pkg_config);
    println!("cargo:rustc-env=NIXPROC_NIX_VERSION={}", nix.version);
}

/// Tells cargo what the build reads besides the Nix headers.
fn watch_inputs() {
    for var in ["NIXPROC_NIX_INCLUDE", "PKG_CONFIG_PATH"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    for file in [
        "src/lib.rs",
        "src/bridge.hh",
        "src/plugin.cc",
        "src/nix_bridge.cc",
        "src/compat_2_8.hh",
        "src/compat_2_26.hh",
    ] {
        println!("cargo:rerun-if-changed={file}");
    }
}

/// `pkg-config ARGS` with Debian's Nix `.pc` directory after `PKG_CONFIG_PATH`: its
/// output when it succeeds.
fn pkg_config_runner() -> impl Fn(&[&str]) -> Option<String> {
    let mut path = env::var("PKG_CONFIG_PATH").unwrap_or_default();
    if !path.is_empty() {
        path.push(':');
    }
    path.push_str("/usr/lib/nix/pkgconfig");
    move |args: &[&str]| {
        let out = Command::new("pkg-config")
            .args(args)
            .env("PKG_CONFIG_PATH", &path)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

/// The minor version of the headers' Nix, refused (with a message rather than a wall of
/// C++ errors) when no adapter of `nix_bridge.cc` covers it; a warning when it is not the
/// running Nix's.
fn checked_minor(compiled: &str, running: Option<&str>) -> u32 {
    if running != Some(compiled) {
        println!(
            "cargo:warning=building the plugin for Nix {compiled}, but `nix --version` says {}; \
             the plugin will refuse to load into another version",
            running.unwrap_or("nothing (nix not found)")
        );
    }
    let minor = nix_minor(compiled);
    if !ADAPTERS
        .iter()
        .any(|&(oldest, _)| minor >= oldest && (oldest != 8 || minor == 8))
    {
        panic!(
            "no Nix API adapter for Nix {compiled}: supported are Nix 2.8 and 2.26 or later \
             (install one of those with its headers, or extend src/compat_*.hh)"
        );
    }
    minor
}

/// The C++ standard Nix's own pkg-config file asks for, else the one of its generation.
fn std_flag(nix: &Nix, minor: u32) -> String {
    nix.flags
        .iter()
        .rfind(|f| f.starts_with("-std="))
        .cloned()
        .unwrap_or_else(|| {
            match minor {
                8 => "-std=c++17",
                26..=30 => "-std=c++20",
                _ => "-std=c++23",
            }
            .to_owned()
        })
}

/// Compiles the cxx bridge and the plugin's C++ against `nix`'s headers.
fn compile_bridge(nix: &Nix, minor: u32) {
    let mut build = cxx_build::bridge("src/lib.rs");
    build
        .file("src/plugin.cc")
        .file("src/nix_bridge.cc")
        .include("src")
        .includes(&nix.include)
        .flag(std_flag(nix, minor));
    for flag in nix.flags.iter().filter(|f| !f.starts_with("-std=")) {
        build.flag(flag);
    }
    build
        .flag_if_supported("-Wno-missing-field-initializers")
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-deprecated-declarations")
        // Nix 2.35's headers align counters to the cache line size, which GCC warns may
        // change between compilers; the plugin is built by the same compiler as its Nix.
        .flag_if_supported("-Wno-interference-size")
        .define("NIXPROC_NIX_MINOR", Some(minor.to_string().as_str()))
        .define(
            "NIXPROC_NIX_VERSION",
            Some(format!("\"{}\"", nix.version).as_str()),
        )
        // Without +whole-archive the linker drops the object holding the static
        // registration, and the primop silently never appears.
        .link_lib_modifier("+whole-archive")
        .compile("nixproc_sysvinit_plugin_cc");
}

/// Links Nix's libraries, from `pkg-config --libs-only-L nix-expr` or `/usr/lib/nix`.
fn link_nix(pkg_config: &dyn Fn(&[&str]) -> Option<String>) {
    let mut lib_dirs: Vec<PathBuf> = pkg_config(&["--libs-only-L", "nix-expr"])
        .map(|libs| {
            libs.split_whitespace()
                .filter_map(|f| f.strip_prefix("-L"))
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default();
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
}

/// The version printed by `nix --version`, if nix is installed.
fn running_nix_version() -> Option<String> {
    let out = Command::new("nix").arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().last().map(str::to_owned)
}

/// The minor version of a Nix 2 version string (`2.26.3` → 26).
fn nix_minor(version: &str) -> u32 {
    let mut parts = version.split(['.', 'p', '-', '+']);
    match (parts.next(), parts.next().and_then(|m| m.parse().ok())) {
        (Some("2"), Some(minor)) => minor,
        _ => panic!("cannot read Nix version {version:?}: expected 2.MINOR[.PATCH]"),
    }
}

/// Finds the headers, their version and the flags to compile against them.
fn find_nix(
    workspace: &Path,
    running: &Option<String>,
    pkg_config: &dyn Fn(&[&str]) -> Option<String>,
) -> Nix {
    let flat = |dir: &Path| dir.join("eval.hh").is_file() && dir.join("config.h").is_file();
    let from_config_h = |dir: PathBuf| Nix {
        version: config_version(&dir.join("config.h")),
        flags: vec!["-include".into(), "config.h".into()],
        watch: vec![dir.join("config.h")],
        include: vec![dir],
    };
    if let Ok(dir) = env::var("NIXPROC_NIX_INCLUDE") {
        let dir = PathBuf::from(dir);
        if flat(&dir) {
            return from_config_h(dir);
        }
        panic!(
            "NIXPROC_NIX_INCLUDE={} holds no eval.hh and config.h",
            dir.display()
        );
    }
    if let Some(nix) = from_pkg_config(pkg_config) {
        return nix;
    }
    let Some(version) = running else {
        panic!(
            "no Nix headers found: `pkg-config nix-expr` has none and `nix` is not on PATH; \
             install Nix with its headers (a nix-expr.pc whose include directory holds them, \
             e.g. set PKG_CONFIG_PATH), or run scripts/setup.sh (as root) on Debian"
        );
    };
    let dir = workspace
        .join(".nixproc/nix-headers")
        .join(version)
        .join("include/nix");
    if flat(&dir) {
        return from_config_h(dir);
    }
    panic!(
        "no headers for Nix {version}: neither `pkg-config nix-expr` (PKG_CONFIG_PATH) nor {} \
         has them; run scripts/setup.sh (as root) to prepare them from Debian's source \
         package, or point PKG_CONFIG_PATH at a Nix installed with its headers",
        dir.display()
    );
}

/// Nix as described by its installed `nix-expr.pc`, if that names real headers.
fn from_pkg_config(pkg_config: &dyn Fn(&[&str]) -> Option<String>) -> Option<Nix> {
    let version = pkg_config(&["--modversion", "nix-expr"])?;
    let Some(cflags) = pkg_config(&["--cflags", "nix-expr"]) else {
        // Only an error when the headers are there: Debian's .pc files come without them.
        let includedir = PathBuf::from(pkg_config(&["--variable=includedir", "nix-expr"])?);
        if includedir.join("nix/eval.hh").is_file() || includedir.join("nix/expr/eval.hh").is_file()
        {
            panic!(
                "Nix {version} with headers in {} was found, but `pkg-config --cflags nix-expr` \
                 fails: install the development files of the packages its .pc file requires \
                 (boost, bdw-gc, nlohmann_json)",
                includedir.display()
            );
        }
        return None;
    };
    let mut include = Vec::new();
    let mut flags = Vec::new();
    let mut words = cflags.split_whitespace();
    while let Some(word) = words.next() {
        if let Some(dir) = word.strip_prefix("-I") {
            include.push(PathBuf::from(dir));
        } else if word == "-include" || word == "-isystem" {
            // Keep the pair together.
            flags.push(word.to_owned());
            flags.extend(words.next().map(str::to_owned));
        } else {
            flags.push(word.to_owned());
        }
    }
    // 2.26 installs flat headers under include/nix; from 2.28 they are nix/expr/*.hh.
    let eval_hh = include.iter().find_map(|dir| {
        [dir.join("eval.hh"), dir.join("nix/expr/eval.hh")]
            .into_iter()
            .find(|f| f.is_file())
    })?;
    Some(Nix {
        version,
        include,
        flags,
        watch: vec![eval_hh],
    })
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
