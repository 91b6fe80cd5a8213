//! The programs the tests run: this build's tools, the init-functions library with its
//! placeholders substituted, the example web server, and the evaluator plugin.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::{repo_root, shell_quote_path};

/// Directory with this build's `nixproc-sysvinit-render` (and the other tools).
pub fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_nixproc-sysvinit-render"))
        .parent()
        .expect("the binary has a directory")
        .to_path_buf()
}

/// The init-functions library as `nix/init-functions.nix` assembles it, placeholders
/// and all: its parts `nix/init-functions/NN-CONCERN.sh` concatenated in the order of
/// their numbers.
pub fn library_text() -> String {
    let dir = repo_root().join("nix/init-functions");
    let mut parts: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("read nix/init-functions")
        .map(|e| e.expect("read nix/init-functions").path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                let b = n.as_bytes();
                n.ends_with(".sh")
                    && b.len() > 6
                    && b[0].is_ascii_digit()
                    && b[1].is_ascii_digit()
                    && b[2] == b'-'
            })
        })
        .collect();
    parts.sort();
    assert!(!parts.is_empty(), "no library parts in {}", dir.display());
    parts
        .iter()
        .map(|p| fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display())))
        .collect()
}

/// Writes the init-functions library to `dest` with its placeholders substituted the
/// way `nix/init-functions.nix` does (the base PATH is left empty: the host's PATH is
/// used). Returns `dest`.
pub fn library_path(dest: &Path, runtime_dir: &Path) -> PathBuf {
    let text = library_text();
    let text = text
        .replace("'@runtimeDir@'", &shell_quote_path(runtime_dir))
        .replace("'@basePath@'", "''")
        .replace("'@daemon@'", "''");
    fs::write(dest, text).expect("write the library");
    fs::set_permissions(dest, fs::Permissions::from_mode(0o644)).expect("chmod the library");
    dest.to_path_buf()
}

/// The example web server (`examples/webapp.rs`), compiled once per test run.
///
/// `NIXPROC_SYSVINIT_WEBAPP` may name an already built binary (for example the result
/// of `cargo build --release --example webapp`); otherwise the example, which uses only
/// the standard library, is compiled with `rustc` into cargo's test scratch directory.
pub fn webapp_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("NIXPROC_SYSVINIT_WEBAPP") {
            let p = PathBuf::from(p);
            assert!(
                p.is_file(),
                "NIXPROC_SYSVINIT_WEBAPP={} is not a file",
                p.display()
            );
            return p;
        }
        let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("webapp-example");
        fs::create_dir_all(&out_dir).expect("create the example build directory");
        let tmp = out_dir.join(format!("webapp.{}.tmp", std::process::id()));
        let out = out_dir.join("webapp");
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        let status = Command::new(rustc)
            .args(["--edition", "2021", "-O", "--crate-name", "webapp", "-o"])
            .arg(&tmp)
            .arg(repo_root().join("examples/webapp.rs"))
            .status()
            .expect("run rustc on examples/webapp.rs");
        assert!(status.success(), "compiling examples/webapp.rs failed");
        fs::rename(&tmp, &out).expect("move the compiled example into place");
        out
    })
    .clone()
}

/// Copies `src` into `dir` (mode 0755) so that any user can run it; returns the copy.
pub fn install_program(src: &Path, dir: &Path, name: &str) -> PathBuf {
    let dest = dir.join(name);
    fs::copy(src, &dest).expect("copy a program into the test dir");
    fs::set_permissions(&dest, fs::Permissions::from_mode(0o755)).expect("chmod a program");
    dest
}

/// The evaluator plugin built by `scripts/setup.sh`: `NIXPROC_PLUGIN`, the path recorded in
/// `.nixproc/plugin-path`, or cargo's release directory.
pub fn plugin_path() -> PathBuf {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("NIXPROC_PLUGIN") {
        candidates.push(PathBuf::from(p));
    }
    if let Ok(text) = fs::read_to_string(repo_root().join(".nixproc/plugin-path")) {
        candidates.push(PathBuf::from(text.trim()));
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(dir).join("release/libnixproc_sysvinit_plugin.so"));
    }
    candidates.push(repo_root().join("target/release/libnixproc_sysvinit_plugin.so"));
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .expect("the Nix plugin is not built: run scripts/setup.sh (or set NIXPROC_PLUGIN)")
}

/// A copy of `plugin` in `dir` whose recorded Nix version is another one of the same
/// length (`0.999`... for `2.8.0`), as if it were built for another Nix: it loads, refuses
/// to register, and says so in one line. Returns the copy and the version it records.
pub fn plugin_for_another_nix(plugin: &Path, dir: &Path) -> (PathBuf, String) {
    const MARKER: &[u8] = b"nixproc-sysvinit-plugin:nix-version=";
    let mut bytes = fs::read(plugin).expect("read the plugin");
    let at = bytes
        .windows(MARKER.len())
        .position(|w| w == MARKER)
        .expect("the plugin records its Nix version")
        + MARKER.len();
    let len = bytes[at..].iter().position(|&b| b == 0).expect("NUL");
    assert!(len >= 3, "recorded version too short to replace");
    let fake = format!("0.{}", "9".repeat(len - 2));
    bytes[at..at + len].copy_from_slice(fake.as_bytes());
    let copy = dir.join("libnixproc_sysvinit_plugin.so");
    fs::write(&copy, &bytes).expect("write the plugin copy");
    (copy, fake)
}
