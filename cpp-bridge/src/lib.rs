//! Nix evaluator plugin that adds `builtins.sysvinitScript`.
//!
//! The C++ side (`src/plugin.cc`, `src/nix_bridge.cc`) registers the primop with the
//! evaluator, turns its argument into JSON while collecting string context, and calls
//! [`render_spec`] through the cxx bridge below. Rendering takes the same two steps as
//! [`nixproc_sysvinit::render::render_json`] and the `nixproc-sysvinit-render` binary
//! ([`nixproc_sysvinit::spec::parse_json`], then [`nixproc_sysvinit::render::render`]), so
//! all three produce the same bytes. The result crosses the bridge as a struct rather than
//! as JSON text, which spares the evaluator a JSON parse per call.
//!
//! Only `src/nix_bridge.cc` and its per-version adapters `src/compat_*.hh` know Nix's C++
//! API; everything else is version-independent.

use std::panic::{catch_unwind, AssertUnwindSafe};

#[cxx::bridge(namespace = "nixproc::ffi")]
mod ffi {
    /// One rc.d symlink.
    struct Link {
        path: String,
        target: String,
    }

    /// One credential file: a group or user name and the file's text.
    struct NamedText {
        name: String,
        text: String,
    }

    /// The rendering of one process (the renderer's output contract, field by field).
    struct Rendered {
        name: String,
        script: String,
        sequence: u32,
        stop_sequence: u32,
        links: Vec<Link>,
        groups: Vec<NamedText>,
        users: Vec<NamedText>,
        manifest: String,
        /// The claims on run-time files: claim file name and text.
        runtime_files: Vec<NamedText>,
        /// Further files of the tree: path relative to it and text.
        files: Vec<NamedText>,
    }

    extern "Rust" {
        /// Renders one process spec given as JSON bytes; see [`render_spec`].
        fn render_spec(input: &[u8]) -> Result<Rendered>;

        /// Checks one process spec given as JSON bytes; see [`check_spec`].
        fn check_spec(input: &[u8]) -> Result<()>;

        /// Whether a plugin compiled against Nix `compiled` may be used inside Nix `running`.
        fn nix_version_matches(compiled: &str, running: &str) -> bool;

        /// Whether the spec attribute at `path` is a list of other processes; see
        /// [`is_process_list`].
        fn is_process_list(path: &str) -> bool;
    }
}

/// An error reported to the evaluator as the message of a Nix evaluation error.
#[derive(Debug)]
pub struct PluginError(String);

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Renders a process spec (JSON bytes as produced from the Nix value).
///
/// Never unwinds into C++: invalid UTF-8, renderer errors and panics all become a
/// [`PluginError`], which cxx turns into a C++ exception.
fn render_spec(input: &[u8]) -> Result<ffi::Rendered, PluginError> {
    let text = utf8(input)?;
    let r = guard(|| {
        nixproc_sysvinit::spec::parse_json(text)
            .and_then(|spec| nixproc_sysvinit::render::render(&spec))
            .map_err(|e| e.to_string())
    })?;
    let runtime_files = nixproc_sysvinit::render::runtime_claims(&r)
        .into_iter()
        .map(|c| ffi::NamedText {
            name: c.name,
            text: c.text,
        })
        .collect();
    let files = named(r.files.clone());
    Ok(ffi::Rendered {
        runtime_files,
        files,
        name: r.name,
        script: r.script,
        sequence: r.sequence,
        stop_sequence: r.stop_sequence,
        links: r
            .links
            .into_iter()
            .map(|l| ffi::Link {
                path: l.path,
                target: l.target,
            })
            .collect(),
        groups: named(r.credentials.groups),
        users: named(r.credentials.users),
        manifest: r.manifest,
    })
}

/// Whether the spec attribute at `path` (a top-level attribute name) holds a list of
/// other processes, whose derivations the evaluator turns into their names and sequence
/// ([`nixproc_sysvinit::spec::PROCESS_LIST_ATTRIBUTES`]).
fn is_process_list(path: &str) -> bool {
    nixproc_sysvinit::spec::PROCESS_LIST_ATTRIBUTES.contains(&path)
}

/// Checks a process spec (JSON bytes) as [`render_spec`] would, without rendering it:
/// every error `render_spec` reports, this reports too (see
/// [`nixproc_sysvinit::render::check`]).
fn check_spec(input: &[u8]) -> Result<(), PluginError> {
    let text = utf8(input)?;
    guard(|| {
        nixproc_sysvinit::spec::parse_json(text)
            .and_then(|spec| nixproc_sysvinit::render::check(&spec))
            .map_err(|e| e.to_string())
    })
}

/// The spec's JSON text; invalid UTF-8 (from a Nix string) is an error.
fn utf8(input: &[u8]) -> Result<&str, PluginError> {
    std::str::from_utf8(input).map_err(|e| {
        PluginError(format!(
            "the spec contains a string that is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })
}

/// Runs `f`, turning its error message or its panic into a [`PluginError`].
fn guard<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, PluginError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result.map_err(PluginError),
        Err(panic) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            Err(PluginError(format!(
                "internal error in the sysvinit renderer (please report): {detail}"
            )))
        }
    }
}

fn named(files: std::collections::BTreeMap<String, String>) -> Vec<ffi::NamedText> {
    files
        .into_iter()
        .map(|(name, text)| ffi::NamedText { name, text })
        .collect()
}

/// Whether a plugin compiled against Nix version `compiled` may run inside Nix `running`.
///
/// Nix's C++ API and ABI change between releases, so only the exact version is accepted.
/// Both strings are trimmed; an empty `compiled` never matches.
pub fn nix_version_matches(compiled: &str, running: &str) -> bool {
    let compiled = compiled.trim();
    !compiled.is_empty() && compiled == running.trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_must_match_exactly() {
        assert!(nix_version_matches("2.8.0", "2.8.0"));
        assert!(nix_version_matches("2.8.0", "2.8.0\n"));
        assert!(!nix_version_matches("2.8.0", "2.8.1"));
        assert!(!nix_version_matches("2.8.0", "2.26.3"));
        assert!(!nix_version_matches("", ""));
    }

    #[test]
    fn invalid_utf8_is_an_error_not_a_panic() {
        let err = render_spec(b"{\"name\": \"\xff\"}")
            .err()
            .expect("an error");
        assert!(err.to_string().contains("not valid UTF-8"), "{err}");
    }

    /// The struct handed to C++ carries exactly what `render_json` returns as JSON.
    #[test]
    fn bridge_result_equals_render_json_for_every_golden_spec() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("tests/golden") {
            let path = entry.expect("entry").path();
            if path.extension().map_or(true, |e| e != "json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read spec");
            let want: serde_json::Value = serde_json::from_str(
                &nixproc_sysvinit::render::render_json(&text).expect("golden spec renders"),
            )
            .expect("JSON");
            let r = render_spec(text.as_bytes()).expect("golden spec renders");
            let files = |v: &[ffi::NamedText]| -> serde_json::Map<String, serde_json::Value> {
                v.iter()
                    .map(|f| (f.name.clone(), f.text.clone().into()))
                    .collect()
            };
            let got = serde_json::json!({
                "name": r.name,
                "script": r.script,
                "sequence": r.sequence,
                "stopSequence": r.stop_sequence,
                "links": r.links.iter().map(|l| serde_json::json!({"path": l.path, "target": l.target})).collect::<Vec<_>>(),
                "credentials": {"groups": files(&r.groups), "users": files(&r.users)},
                "manifest": r.manifest,
                "files": files(&r.files),
            });
            assert_eq!(got, want, "{}", path.display());
            seen += 1;
        }
        assert!(seen > 0, "no golden specs in {}", dir.display());
    }

    #[test]
    fn panics_become_errors() {
        let err = guard::<()>(|| panic!("boom {}", 42)).expect_err("an error");
        assert_eq!(
            err.to_string(),
            "internal error in the sysvinit renderer (please report): boom 42"
        );
        let err = guard::<()>(|| std::panic::panic_any(7_u8)).expect_err("an error");
        assert!(err.to_string().ends_with("no message"), "{err}");
        assert_eq!(guard(|| Ok::<_, String>(3)).ok(), Some(3));
    }

    #[test]
    fn malformed_json_is_an_error() {
        assert!(render_spec(b"{").is_err());
    }
}
